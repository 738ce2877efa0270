/*
 * kernels.h - the hot loops of libcnn: GEMM, im2col, convolution, pooling,
 * activations, dropout masks and batch normalisation. Private to the
 * library: the layers in layers/ (and the optimiser) call these. Nothing here
 * knows the model, allocates, prints or exits; the header includes only the
 * counter hash (rng.h) and the standard headers.
 *
 * Invariants
 *  - Row-major float buffers; activations batch-major, each sample CHW.
 *  - Serial: the callers (the chunks of a batch, see graph.c) bring the
 *    threads. Every output element is computed in an order of operations
 *    fixed by the code, the variant in use and the shapes, never by timing.
 *  - Gradients of parameters are accumulated (+=); gradients of inputs are
 *    overwritten.
 */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H

#include "rng.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* GEMM and im2col                                                          */

/* C[M x N] = beta * C + A' * B' where A' is A (M x K, lda) or, if ta, A^T
 * with A stored K x M; likewise B' is B (K x N, ldb) or, if tb, B^T with B
 * stored N x K. beta is 0 (overwrite, C need not be initialised) or 1. */
void cnn_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* C (M x N) = (add ? C : 0) + the products A' * B (B not transposed) of
 * the chunks of depth chunk along k ([0, chunk), [chunk, 2 chunk), ..., the
 * last shorter; chunk <= 0 or >= K: one chunk), in chunk order: each
 * chunk's product summed apart, from zero, with the bits cnn_gemm(ta, 0,
 * ..., beta 0) gives it, then added (the first stored without add). So the
 * result equals adding the chunks' separate arenas one by one; each tile of
 * C takes every chunk while it is in the cache. (With beta 1, cnn_gemm adds
 * the products into C one by one: other bits.) */
void cnn_gemm_chunks(int ta, int M, int N, int K, int chunk, int add,
                     const float *A, int lda, const float *B, int ldb, float *C,
                     int ldc);
/* Unfolds one CHW image into columns: col[(c*kh + i)*kw + j][oy*ow + ox]. */
void cnn_im2col(const float *x, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *col);
/* The adjoint of im2col: adds columns back into dx (which it first zeroes). */
void cnn_col2im(const float *col, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *dx);

/* ------------------------------------------------------------------------ */
/* Instruction sets                                                         */

/* The kernels exist in several variants: "avx512" (AVX-512F/VL/BW/DQ with
 * FMA), "avx2" (AVX2 with FMA) and "portable" (C with 16-byte vectors where
 * the compiler has them, no fused multiply-add). The best one the CPU has is
 * chosen at the first kernel call, unless the environment variable
 * CNN_KERNELS names another available one (read once; unknown or
 * unavailable names are ignored). The choice never depends on timing.
 *
 * The variants agree up to rounding, not bit for bit: products and sums
 * along k (GEMM with B not transposed, convolution forward and input
 * gradient) run in the same order in every variant but fused or not; dot
 * products (GEMM with B transposed, weight gradients of the convolution)
 * are summed in vector lanes whose number differs. Max pooling, ReLU and
 * softmax give the same bits everywhere. */

/* Switches every later kernel call to the variant called name ("avx512",
 * "avx2" or "portable"). Returns 1, or 0 (changing nothing) when the name is
 * unknown or the CPU lacks the instructions. Not to be called while another
 * thread runs a kernel (tests and benchmarks only). */
int cnn_kernels_use(const char *name);
/* The name of the variant in use. */
const char *cnn_kernels_name(void);
/* The time of a 16-float FMA in thousandths of an 8-float one's, measured
 * (about 0.2 ms of FMAs) when the avx512 variant is first chosen:
 * about 2000 where 512-bit operations run as two halves or on one unit,
 * less with two 512-bit FMA units. That variant runs the direct
 * convolution's forward and input gradient in 8-float vectors only when
 * they cost less by it (the bits are the same either way; the weight
 * gradient's lanes never depend on it). set > 0 overrides the measurement
 * (tests, benchmarks); returns the value in use. */
int cnn_kernels_wide_cost(int set);

/* ------------------------------------------------------------------------ */
/* Matrix products                                                          */

/* y[r][c] = b[c] for rows x cols (b != NULL), else 0. */
void cnn_fill_rows(float *y, const float *b, int rows, int cols);
/* db[c] += sum over r of dy[r][c], rows x cols, r in order. */
void cnn_add_col_sums(const float *dy, int rows, int cols, float *db);

/* ------------------------------------------------------------------------ */
/* Convolution                                                              */
/*
 * A direct convolution, vectorised over output columns, on a zero-padded
 * copy of each input plane in the workspace (at a larger stride, of its
 * stride phases). Kernels with at most one tap per phase (1 x 1 at stride
 * 2): im2col + GEMM per sample. See kernels.c.
 */

typedef struct cnn_conv_geom {
	int c, h, w; /* input channels, height, width */
	int f;       /* filters (output channels) */
	int kh, kw;  /* kernel */
	int sh, sw;  /* stride */
	int ph, pw;  /* zero padding on each side */
	int oh, ow;  /* output height, width */
} cnn_conv_geom;

/* Scratch floats cnn_conv_forward/backward need for n samples (the same
 * whatever the variant in use). */
size_t cnn_conv_workspace(const cnn_conv_geom *g, int n);
/* Floats per vector of the direct convolution's forward and input
 * gradient of g in the variant in use (see cnn_kernels_wide_cost). */
int cnn_conv_sums_width(const cnn_conv_geom *g);
/* y = conv(x, w) + b for n samples. x (n, C, H, W), w (F, C, KH, KW),
 * b (F) or NULL, y (n, F, OH, OW); ws has cnn_conv_workspace(g, n) floats. */
void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w,
                      const float *b, float *y, int n, float *ws);
/* Given dy (n, F, OH, OW): dw += dL/dw (if dw != NULL: a frozen layer
 * passes NULL and skips that work), db += dL/db (if db != NULL) and, if
 * dx != NULL, dx = dL/dx (n, C, H, W). */
void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w,
                       const float *dy, float *dw, float *db, float *dx, int n,
                       float *ws);

/* ------------------------------------------------------------------------ */
/* Element-wise and pooling                                                 */

/* y[i] = x[i] * scale over count bytes (a sample's pixels, scaled). */
void cnn_scale_bytes(const uint8_t *x, float scale, float *y, size_t count);

/* Asks the cache for the bytes [p, p + bytes), soon to be read: a hint
 * that changes no result, for data the hardware cannot see coming (the
 * samples of a shuffled batch). Nothing where the compiler has no
 * prefetch. */
void cnn_prefetch(const void *p, size_t bytes);
/* The same for bytes soon to be written, where the CPU can take them for
 * writing ahead (x86's PREFETCHW, which also takes the lines from the other
 * cores' caches: a weight that both threads read and one updates); nothing
 * elsewhere. A hint that changes no result. */
void cnn_prefetch_write(void *p, size_t bytes);

/* y = max(x, 0) over count floats: x where x > 0, else +0 (NaN too). */
void cnn_relu_forward(const float *x, float *y, size_t count);
/* dx = dy where x > 0, else 0. */
void cnn_relu_backward(const float *x, const float *dy, float *dx,
                       size_t count);

typedef struct cnn_pool_geom {
	int h, w;   /* input plane */
	int kh, kw; /* window */
	int sh, sw; /* stride */
	int oh, ow; /* output plane */
	/* max pooling only: 1 when a relu before the pool is fused into it
	 * (x is then the relu's input) */
	int relu;
} cnn_pool_geom;

/* Max over each window, for planes planes (n * channels) of h x w. With
 * g->relu, the windows are of cnn_relu_forward(x): the bits of the relu's
 * pass followed by this one, without the relu's output in memory. */
void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes);
/* dx = 0, then each dy goes to the first (row-major) maximum of its window
 * in x, accumulating where windows overlap. With g->relu, the windows are
 * of relu(x) as above and dx is then passed back through the relu
 * (cnn_relu_backward's dx = x > 0 ? dx : +0): the bits of the two
 * backward passes, in one. */
void cnn_maxpool_backward(const cnn_pool_geom *g, const float *x,
                          const float *dy, float *dx, size_t planes);

/* Per row of k values: y = exp(x - max) / sum, for n rows. */
void cnn_softmax_forward(const float *x, float *y, int n, int k);
/* Per row: dx = y * (dy - sum(dy * y)). */
void cnn_softmax_backward(const float *y, const float *dy, float *dx, int n,
                          int k);

/* y = x[0] + x[1] + ... + x[n_x - 1] over count floats, summed in that
 * order. */
void cnn_add_forward(const float *const *x, int n_x, float *y, size_t count);

/* ------------------------------------------------------------------------ */
/* Optimiser update                                                         */

/* The update rules (optim.c explains each). */
typedef enum cnn_rule {
	CNN_RULE_SGD,         /* v = mu v + g; w -= lr v */
	CNN_RULE_NESTEROV,    /* v = mu v + g; w -= lr (g + mu v) */
	CNN_RULE_ADAM,        /* w -= lr m1 c1 / (sqrt(m2 c2) + eps) */
	CNN_RULE_ADAM_INSIDE, /* w -= lr m1 c1 / sqrt(m2 c2 + eps) */
	CNN_RULE_RMSPROP,     /* w -= lr g / (sqrt(m2) + eps) */
	CNN_RULE_RMSPROP_MOM /* m1 = mu m1 + g / (sqrt(m2) + eps); w -= lr m1 */
} cnn_rule;

/* What one optimiser step does to every parameter. */
typedef struct cnn_update {
	cnn_rule rule;
	float lr;
	float clip;    /* g *= clip first, unless clip is 1 */
	float decay;   /* then, unless 0: g += decay w, or w -= decay w when */
	int decoupled; /* decoupled (AdamW) */
	float mu;      /* momentum (sgd, rmsprop) */
	float b1, b2;  /* Adam's betas; rmsprop's alpha is b2 */
	float c1, c2;  /* Adam's bias corrections, or 1 */
	float eps;
	int keep_g; /* write the gradient as the rule used it back into g */
} cnn_update;

/* One step of rule u over n parameters: w the weights, g their gradient
 * (with u->keep_g, overwritten with the gradient as the rule used it:
 * clipped, decayed; else left as it was: a store less per vector where g
 * is scratch, 0.95-0.98x mlp's epoch at 2 threads),
 * m1 and m2 the rule's state (m2 unused by sgd, m1 by plain rmsprop: NULL
 * allowed there). Element-wise, every element by the same float operations
 * in the same order (those of the formulas in optim.c), so the bits do not
 * depend on how the arrays are cut, nor on the variant. Returns nonzero if
 * a weight it wrote is NaN or infinite. */
int cnn_update_apply(const cnn_update *u, float *w, float *g, float *m1,
                     float *m2, size_t n);

/* ------------------------------------------------------------------------ */
/* Activations and average pooling                                          */
/*
 * Plain C, shared by every variant (they give the same bits everywhere).
 * The element-wise kernels work on count floats and may run in place.
 * sigmoid, tanh and elu use the library's own float exp and expm1 (see
 * kernels.c; libm with compilers other than GCC and Clang): within 2.5 ulp
 * of the exact value, finite for every finite x, NaN for NaN.
 */

/* y = 1 / (1 + exp(-x)), evaluated without overflow for any x. */
void cnn_sigmoid_forward(const float *x, float *y, size_t count);
/* dx = dy * y * (1 - y), from the forward output y. */
void cnn_sigmoid_backward(const float *y, const float *dy, float *dx,
                          size_t count);
/* y = tanh(x). */
void cnn_tanh_forward(const float *x, float *y, size_t count);
/* dx = dy * (1 - y^2), from the forward output y. */
void cnn_tanh_backward(const float *y, const float *dy, float *dx,
                       size_t count);
/* y = x where x > 0, else slope * x. */
void cnn_leaky_relu_forward(const float *x, float *y, size_t count,
                            float slope);
/* dx = dy where x > 0, else slope * dy (the kink at 0 gets slope). */
void cnn_leaky_relu_backward(const float *x, const float *dy, float *dx,
                             size_t count, float slope);
/* y = x where x > 0, else alpha * (exp(x) - 1) (computed with expm1). */
void cnn_elu_forward(const float *x, float *y, size_t count, float alpha);
/* dx = dy where x > 0, else dy * alpha * exp(x). */
void cnn_elu_backward(const float *x, const float *dy, float *dx, size_t count,
                      float alpha);

/* The mean over each window (no padding), for planes planes of h x w. */
void cnn_avgpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes);
/* dx = 0, then each dy / (kh * kw) is added to every cell of its window
 * (accumulating where windows overlap). */
void cnn_avgpool_backward(const cnn_pool_geom *g, const float *dy, float *dx,
                          size_t planes);
/* y[p] = the mean of plane p's size floats (summed in double, in order). */
void cnn_global_avgpool_forward(const float *x, float *y, size_t planes,
                                size_t size);
/* Every float of plane p of dx = dy[p] / size. */
void cnn_global_avgpool_backward(const float *dy, float *dx, size_t planes,
                                 size_t size);

/* Inverted dropout's mask applied to n samples of size floats: value e of
 * sample j is kept, times 1 / (1 - rate), when the top 53 bits of
 * cnn_hash64(seed, (sample0 + j) * size + e), as a number in [0, 1), are at
 * least rate; otherwise it becomes 0. So the mask depends on the seed and
 * the sample's index in the batch only, never on how the batch is cut into
 * chunks. Forward (x -> y) and backward (dy -> dx) are the same call.
 * 0 <= rate < 1; rate 0 keeps everything. in and out may be the same. */
void cnn_dropout_apply(const float *in, float *out, size_t n, size_t size,
                       uint64_t seed, size_t sample0, double rate);

/* ------------------------------------------------------------------------ */
/* Batch normalisation                                                      */
/*
 * x, y, dy, dx are (n, C, HW): channel ch of sample s is the hw floats at
 * (s * c + ch) * hw. Per-channel arrays have c entries. Sums run channel by
 * channel in double, in 8 lanes: element i of a plane goes to lane i % 8,
 * the samples in order, and the lanes are then added first to last (the
 * same bits in every variant: each product is exact in double).
 */

/* sum[ch] += sum of x, sumsq[ch] += sum of x * x over channel ch. */
void cnn_bn_sums(const float *x, int n, int c, size_t hw, double *sum,
                 double *sumsq);
/* With a relu fused after the layer, the calls below take its output y
 * (the relu's output) and read dy as relu's backward passes it on: dy
 * where y > 0, else +0; y NULL: dy as it is. */

/* Over channel ch, each from 0: out[0] = the sum of dy, out[1] of dy * x,
 * out[2] of dy * (x - mean) (the difference in float): the batch's sums
 * and this chunk's for the parameters' gradient (cnn_bn_param_grads's
 * sums, the same bits), in one pass. */
void cnn_bn_dy_sums(const float *x, const float *y, const float *dy, int n,
                    int c, size_t hw, int ch, float mean, double out[3]);
/* y = (x - mean[ch]) * scale[ch] + beta[ch], then, with relu, relu's
 * (cnn_relu_forward) of it; per element the same operations in the same
 * order in every variant. */
void cnn_bn_forward(const float *x, float *y, int n, int c, size_t hw,
                    const float *mean, const float *scale, const float *beta,
                    int relu);
/* dgamma[ch] += sum of dy * (x - mean[ch]) * invstd[ch], dbeta[ch] += sum
 * of dy over channel ch (either may be NULL). */
void cnn_bn_param_grads(const float *x, const float *y, const float *dy, int n,
                        int c, size_t hw, const float *mean,
                        const float *invstd, float *dgamma, float *dbeta);
/* dx = scale[ch] * (dy - mdy[ch] - (x - mean[ch]) * (invstd[ch] *
 * mdyxhat[ch])) (overwriting); mdy and mdyxhat NULL mean 0 (statistics
 * held constant). Per element the same operations in the same order in
 * every variant. */
void cnn_bn_backward(const float *x, const float *y, const float *dy, float *dx,
                     int n, int c, size_t hw, const float *mean,
                     const float *invstd, const float *scale, const float *mdy,
                     const float *mdyxhat);

#endif /* CNN_KERNELS_H */

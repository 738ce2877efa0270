/*
 * kernels.h - the hot loops of libcnn beyond the three declared in
 * internal.h (cnn_gemm, cnn_im2col, cnn_col2im). Private to the library: the
 * layers in layers/ call these, and nothing here allocates, prints or exits.
 *
 * Invariants
 *  - Row-major float buffers; activations batch-major, each sample CHW.
 *  - Deterministic: every output element is computed by one thread in a fixed
 *    order of operations, so results are bit-identical whatever the number of
 *    OpenMP threads. Where a sum over the batch is shared between threads
 *    (the convolution's weight gradients), it is split into cnn_slots(n)
 *    fixed groups of consecutive samples, summed group by group and then
 *    combined in group order: the grouping depends only on n.
 *  - Gradients of parameters are accumulated (+=); gradients of inputs are
 *    overwritten.
 */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H

#include "internal.h"

#include <limits.h>
#include <stddef.h>

/* The largest tensor (per sample, per parameter tensor, per scratch matrix)
 * the layers accept, in floats: 2^31 - 1, so that every matrix dimension and
 * leading dimension fits an int. */
#define CNN_MAX_FLOATS ((size_t)INT_MAX)

/* *acc *= v unless the product would exceed CNN_MAX_FLOATS (then *acc is
 * left alone and 0 is returned). For shape checks in the layers' infer. */
static inline int cnn_size_mul(size_t *acc, size_t v)
{
	if (v != 0 && *acc > CNN_MAX_FLOATS / v)
		return 0;
	*acc *= v;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Shape helpers for the layers' infer (layers/registry.c)                  */

/* Sets l->in_size from l->in_shape; CNN_ERR_CONFIG (at l->node, path) if a
 * dimension is not positive or the sample has more than CNN_MAX_FLOATS. */
cnn_status cnn_layer_input_size(cnn_layer *l, const char *path, cnn_error *err);
/* Sets l->out_shape to (c, h, w) and l->out_size, with the same checks. */
cnn_status cnn_layer_output_shape(cnn_layer *l, const char *path, long long c,
                                  long long h, long long w, cnn_error *err);
/* Reads bias, weight_init and bias_init, the keys of layers with weights. */
cnn_status cnn_layer_configure_params(cnn_layer *l, const char *path,
                                      cnn_error *err);
/* Sets the parameter fields of a layer without parameters. */
void cnn_layer_no_params(cnn_layer *l);

/* ------------------------------------------------------------------------ */
/* Batch slots                                                              */

/* The most groups a batch is split into for parallel work with a reduction
 * over samples (and so the most threads such a loop can use). */
#define CNN_SLOTS 16

/* The number of groups for a batch of n samples: min(n, CNN_SLOTS), >= 1. */
int cnn_slots(int n);
/* Samples [*s0, *s1) of group j out of slots for a batch of n. */
void cnn_slot_range(int n, int slots, int j, int *s0, int *s1);

/* ------------------------------------------------------------------------ */
/* Matrix products                                                          */

/* cnn_gemm (see internal.h) without threads: for callers already inside a
 * parallel region. Same results, bit for bit, as cnn_gemm. */
void cnn_gemm_serial(int ta, int tb, int M, int N, int K, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C,
                     int ldc);

/* y[r][c] = b[c] for rows x cols (b != NULL), else 0. */
void cnn_fill_rows(float *y, const float *b, int rows, int cols);
/* db[c] += sum over r of dy[r][c], rows x cols, r in order. */
void cnn_add_col_sums(const float *dy, int rows, int cols, float *db);

/* ------------------------------------------------------------------------ */
/* Convolution as im2col + GEMM                                             */

typedef struct cnn_conv_geom {
	int c, h, w; /* input channels, height, width */
	int f;       /* filters (output channels) */
	int kh, kw;  /* kernel */
	int sh, sw;  /* stride */
	int ph, pw;  /* zero padding on each side */
	int oh, ow;  /* output height, width */
} cnn_conv_geom;

/* Scratch floats cnn_conv_forward/backward need for n samples. */
size_t cnn_conv_workspace(const cnn_conv_geom *g, int n);
/* y = conv(x, w) + b for n samples. x (n, C, H, W), w (F, C, KH, KW),
 * b (F) or NULL, y (n, F, OH, OW); ws has cnn_conv_workspace(g, n) floats. */
void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w,
                      const float *b, float *y, int n, float *ws);
/* Given dy (n, F, OH, OW): dw += dL/dw, db += dL/db (if db != NULL) and, if
 * dx != NULL, dx = dL/dx (n, C, H, W). */
void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w,
                       const float *dy, float *dw, float *db, float *dx, int n,
                       float *ws);

/* ------------------------------------------------------------------------ */
/* Element-wise and pooling                                                 */

/* y = max(x, 0) over count floats. */
void cnn_relu_forward(const float *x, float *y, size_t count);
/* dx = dy where x > 0, else 0. */
void cnn_relu_backward(const float *x, const float *dy, float *dx,
                       size_t count);

typedef struct cnn_pool_geom {
	int h, w;   /* input plane */
	int kh, kw; /* window */
	int sh, sw; /* stride */
	int oh, ow; /* output plane */
} cnn_pool_geom;

/* Max over each window, for planes planes (n * channels) of h x w. */
void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes);
/* dx = 0, then each dy goes to the first (row-major) maximum of its window
 * in x, accumulating where windows overlap. */
void cnn_maxpool_backward(const cnn_pool_geom *g, const float *x,
                          const float *dy, float *dx, size_t planes);

/* Per row of k values: y = exp(x - max) / sum, for n rows. */
void cnn_softmax_forward(const float *x, float *y, int n, int k);
/* Per row: dx = y * (dy - sum(dy * y)). */
void cnn_softmax_backward(const float *y, const float *dy, float *dx, int n,
                          int k);

#endif /* CNN_KERNELS_H */

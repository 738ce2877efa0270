/*
 * test_layers.c - the numerical core: random numbers, GEMM, im2col/col2im,
 * and every layer's forward, backward (against central finite differences),
 * shape inference and configuration.
 *
 * Gradients are checked on L = sum(y * r) for a random r: the analytic dx,
 * dw, db from backward (with dy = r) against (L(p + h) - L(p - h)) / 2h per
 * parameter p, compared as whole vectors by relative error. Inputs of ReLU
 * and max pooling are chosen away from their kinks (zero, ties).
 */
#include "gradcheck.h"
#include "model.h"
#include "tap.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Random numbers                                                           */

static void test_rng(void)
{
	cnn_rng a, b;
	uint64_t first[3] = {UINT64_C(0xb3f2af6d0fc710c5),
	                     UINT64_C(0x853b559647364cea),
	                     UINT64_C(0x92f89756082a4514)};
	int same = 1, differ = 0, in_range = 1, below_ok = 1, known = 1;
	double sum = 0, sum2 = 0, usum = 0;
	int counts[7] = {0};
	const int draws = 100000;

	cnn_rng_seed(&a, 1);
	for (int i = 0; i < 3; i++)
		known &= cnn_rng_next(&a) == first[i];
	ok(known, "rng: xoshiro256** from splitmix64(1) gives the reference "
	          "sequence");

	cnn_rng_seed(&a, 42);
	cnn_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		same &= cnn_rng_next(&a) == cnn_rng_next(&b);
	ok(same, "rng: same seed, same sequence");

	cnn_rng_seed(&a, 42);
	cnn_rng_seed(&b, 43);
	for (int i = 0; i < 100; i++)
		differ += cnn_rng_next(&a) != cnn_rng_next(&b);
	ok(differ >= 99, "rng: different seeds differ (%d of 100)", differ);

	cnn_rng_seed(&a, 7);
	for (int i = 0; i < draws; i++) {
		double u = cnn_rng_uniform(&a);

		in_range &= u >= 0.0 && u < 1.0;
		usum += u;
	}
	ok(in_range && fabs(usum / draws - 0.5) < 0.01,
	   "rng: uniform in [0, 1), mean %.4f", usum / draws);

	for (int i = 0; i < draws; i++) {
		double z = cnn_rng_normal(&a);

		sum += z;
		sum2 += z * z;
	}
	{
		double mean = sum / draws;
		double sd = sqrt(sum2 / draws - mean * mean);

		ok(fabs(mean) < 0.02 && fabs(sd - 1.0) < 0.02,
		   "rng: normal mean %.4f std %.4f", mean, sd);
	}

	for (int i = 0; i < 70000; i++) {
		uint64_t v = cnn_rng_below(&a, 7);

		if (v >= 7)
			below_ok = 0;
		else
			counts[v]++;
	}
	for (int i = 0; i < 7; i++)
		below_ok &= abs(counts[i] - 10000) < 500;
	below_ok &= cnn_rng_below(&a, 1) == 0;
	for (int i = 0; i < 1000; i++)
		below_ok &=
		    cnn_rng_below(&a, UINT64_C(3) << 62) < (UINT64_C(3) << 62);
	ok(below_ok, "rng: below(n) in range and evenly spread");
}

/* ======================================================================== */
/* GEMM                                                                     */

/* C = beta * C + A' B' in double, for reference; also the sum of |terms|
 * per element into mag, for the tolerance. */
static void naive_gemm(int ta, int tb, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta,
                       const float *C0, int ldc, double *ref, double *mag)
{
	for (int i = 0; i < M; i++) {
		for (int j = 0; j < N; j++) {
			double s = 0, m = 0;

			for (int k = 0; k < K; k++) {
				double a = ta ? A[k * lda + i] : A[i * lda + k];
				double b = tb ? B[j * ldb + k] : B[k * ldb + j];

				s += a * b;
				m += fabs(a * b);
			}
			if (beta != 0.0f) {
				s += (double)beta * C0[i * ldc + j];
				m += fabs((double)beta * C0[i * ldc + j]);
			}
			ref[i * N + j] = s;
			mag[i * N + j] = m;
		}
	}
}

/* One product with padded leading dimensions; returns 1 if it matches the
 * naive one. */
static int gemm_case(int ta, int tb, int M, int N, int K, float beta)
{
	int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
	size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
	float *A = falloc(na), *B = falloc(nb);
	float *C = falloc((size_t)M * ldc), *C0 = falloc((size_t)M * ldc);
	double *ref = malloc(sizeof(double) * M * N);
	double *mag = malloc(sizeof(double) * M * N);
	int good = 1;

	fill(A, na, -1, 1);
	fill(B, nb, -1, 1);
	fill(C0, (size_t)M * ldc, -1, 1);
	if (beta == 0.0f) /* C need not be initialised */
		for (size_t i = 0; i < (size_t)M * ldc; i++)
			C[i] = NAN;
	else
		memcpy(C, C0, sizeof(float) * M * ldc);
	naive_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C0, ldc, ref, mag);
	cnn_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
	for (int i = 0; i < M; i++) {
		for (int j = 0; j < N; j++) {
			double d = fabs(C[i * ldc + j] - ref[i * N + j]);

			if (!(d <= 1e-5 * mag[i * N + j] + 1e-30))
				good = 0;
		}
		/* the padding column is never touched */
		if (beta == 0.0f ? !isnan(C[i * ldc + N])
		                 : C[i * ldc + N] != C0[i * ldc + N])
			good = 0;
	}
	free(A);
	free(B);
	free(C);
	free(C0);
	free(ref);
	free(mag);
	return good;
}

static void test_gemm(void)
{
	static const int sizes[] = {1, 2, 7, 8, 9, 33};
	const int ns = (int)(sizeof sizes / sizeof sizes[0]);

	for (int ta = 0; ta < 2; ta++) {
		for (int tb = 0; tb < 2; tb++) {
			for (int bi = 0; bi < 2; bi++) {
				float beta = (float)bi;
				int good = 1;

				for (int a = 0; a < ns; a++)
					for (int b = 0; b < ns; b++)
						for (int c = 0; c < ns; c++)
							good &= gemm_case(
							    ta, tb, sizes[a],
							    sizes[b], sizes[c],
							    beta);
				/* tiles and depth blocks, parallel path */
				good &= gemm_case(ta, tb, 70, 300, 600, beta);
				good &= gemm_case(ta, tb, 3, 517, 29, beta);
				vok(good,
				    "gemm ta=%d tb=%d beta=%d against the "
				    "naive product",
				    ta, tb, bi);
			}
		}
	}

	{
		/* K == 0: C = beta * C */
		float A[1] = {0}, B[1] = {0}, C[6] = {1, 2, 3, 4, 5, 6};
		int good = 1;

		cnn_gemm(0, 0, 2, 3, 0, A, 1, B, 3, 1.0f, C, 3);
		good &= C[0] == 1 && C[5] == 6;
		cnn_gemm(0, 1, 2, 3, 0, A, 1, B, 1, 0.0f, C, 3);
		for (int i = 0; i < 6; i++)
			good &= C[i] == 0;
		vok(good, "gemm with K = 0 scales C by beta");
	}
}

/* cnn_gemm_chunks(ta, ..., chunk, add) gives (add ? C : 0) plus, chunk by
 * chunk in order, the product cnn_gemm(ta, 0, ..., beta 0) computes of the
 * chunk's depth, added after: with rows that repeat in the last tile,
 * masked columns, a short last chunk and a depth beyond one block. */
static int chunks_case(int ta, int M, int N, int K, int chunk, int add)
{
	const int lda = ta ? M : K;
	float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N);
	float *C = falloc((size_t)M * N), *P = falloc((size_t)M * N);
	float *Q = falloc((size_t)M * N);
	int same = 1, step = chunk > 0 && chunk < K ? chunk : K;

	for (size_t i = 0; i < (size_t)M * K; i++)
		A[i] = (float)cnn_rng_uniform(&rng) - 0.5f;
	for (size_t i = 0; i < (size_t)K * N; i++)
		B[i] = (float)cnn_rng_uniform(&rng) - 0.5f;
	for (size_t i = 0; i < (size_t)M * N; i++)
		C[i] = (float)cnn_rng_uniform(&rng);
	for (size_t i = 0; i < (size_t)M * N; i++)
		P[i] = add ? C[i] : 0.0f;
	for (int k0 = 0; k0 < K; k0 += step) {
		int kc = K - k0 < step ? K - k0 : step;
		const float *a = A + (ta ? (size_t)k0 * M : (size_t)k0);

		cnn_gemm(ta, 0, M, N, kc, a, lda, B + (size_t)k0 * N, N, 0.0f,
		         Q, N);
		for (size_t i = 0; i < (size_t)M * N; i++)
			P[i] = k0 == 0 && !add ? Q[i] : P[i] + Q[i];
	}
	cnn_gemm_chunks(ta, M, N, K, chunk, add, A, lda, B, N, C, N);
	same = !memcmp(C, P, (size_t)M * N * sizeof *C);
	free(A);
	free(B);
	free(C);
	free(P);
	free(Q);
	return same;
}

static void test_gemm_chunks(void)
{
	int good = 1;

	for (int ta = 0; ta < 2; ta++)
		for (int add = 0; add < 2; add++) {
			good &= chunks_case(ta, 1, 1, 1, 0, add);
			good &= chunks_case(ta, 7, 33, 16, 16, add);
			good &= chunks_case(ta, 29, 784, 16, 0, add);
			good &= chunks_case(ta, 13, 70, 600, 0, add);
			good &= chunks_case(ta, 12, 784, 64, 16, add);
			good &= chunks_case(ta, 9, 37, 50, 16, add);
			good &= chunks_case(ta, 6, 64, 3, 1, add);
		}
	float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, B[3] = {0};
	cnn_gemm_chunks(0, 2, 3, 0, 16, 1, A, 1, B, 3, C, 3);
	good &= C[0] == 1 && C[5] == 6;
	cnn_gemm_chunks(1, 2, 3, 0, 16, 0, A, 2, B, 3, C, 3);
	for (int i = 0; i < 6; i++)
		good &= C[i] == 0;
	vok(good, "gemm_chunks: each chunk's product summed apart and added "
	          "in order, bit for bit; K = 0 keeps C or zeroes it");
}

/* cnn_dropout_apply against its contract's formula in doubles, for rates
 * from 0 to nearly 1, odd lengths (vector tails), in place and not. */
static void test_dropout_kernel(void)
{
	static const double rates[] = {0.0, 1e-17, 0.2, 0.5, 0.9, 0.999999};
	enum { N = 3, SIZE = 37 };
	float in[N * SIZE], out[N * SIZE + 1], want[N * SIZE];
	int bad = 0, dropped = 0;

	for (int i = 0; i < N * SIZE; i++)
		in[i] = (float)cnn_rng_uniform(&rng) - 0.25f;
	for (int r = 0; r < 6; r++) {
		const double rate = rates[r];
		const float scale = (float)(1.0 / (1.0 - rate));
		for (size_t s0 = 0; s0 < 3; s0++) {
			for (size_t i = 0; i < N * SIZE; i++) {
				uint64_t c = s0 * SIZE + i;
				double u = (double)(cnn_hash64(77, c) >> 11) *
				           0x1.0p-53;
				want[i] = u >= rate ? in[i] * scale : 0.0f;
				dropped += u < rate;
			}
			out[N * SIZE] = -1.0f;
			cnn_dropout_apply(in, out, N, SIZE, 77, s0, rate);
			bad += memcmp(out, want, sizeof want) != 0 ||
			       out[N * SIZE] != -1.0f;
			memcpy(out, in, sizeof in);
			cnn_dropout_apply(out, out, N, SIZE, 77, s0, rate);
			bad += memcmp(out, want, sizeof want) != 0;
		}
	}
	vok(!bad && dropped > 0,
	    "dropout: the mask and scale of the formula, bit for bit");
}

/* ======================================================================== */
/* im2col / col2im                                                          */

typedef struct geom {
	int c, h, w, kh, kw, sh, sw, ph, pw;
} geom;

static void test_im2col(void)
{
	static const geom cases[] = {
	    {1, 5, 5, 3, 3, 1, 1, 0, 0}, {3, 7, 8, 3, 2, 2, 2, 1, 1},
	    {2, 6, 9, 2, 3, 1, 2, 1, 0}, {1, 4, 4, 5, 5, 1, 1, 2, 2},
	    {2, 9, 7, 4, 4, 3, 2, 2, 3}, {1, 3, 3, 1, 1, 1, 1, 0, 0},
	};
	int adj = 1, def = 1;

	for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
		const geom *g = &cases[q];
		int oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
		int ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
		size_t nx = (size_t)g->c * g->h * g->w;
		size_t nc = (size_t)g->c * g->kh * g->kw * oh * ow;
		float *x = falloc(nx), *col = falloc(nc), *c2 = falloc(nc);
		float *dx = falloc(nx);
		double lhs = 0, rhs = 0, mag = 0;

		fill(x, nx, -1, 1);
		fill(c2, nc, -1, 1);
		for (size_t i = 0; i < nc; i++)
			col[i] = NAN; /* every entry must be written */
		cnn_im2col(x, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
		           g->ph, g->pw, oh, ow, col);
		/* the definition */
		for (int ch = 0; ch < g->c; ch++)
			for (int i = 0; i < g->kh; i++)
				for (int j = 0; j < g->kw; j++)
					for (int oy = 0; oy < oh; oy++)
						for (int ox = 0; ox < ow;
						     ox++) {
							int iy = oy * g->sh +
							         i - g->ph;
							int ix = ox * g->sw +
							         j - g->pw;
							float want =
							    iy < 0 ||
							            iy >=
							                g->h ||
							            ix < 0 ||
							            ix >= g->w
							        ? 0.0f
							        : x[(ch * g->h +
							             iy) *
							                g->w +
							            ix];
							size_t at =
							    (((size_t)ch *
							          g->kh +
							      i) *
							         g->kw +
							     j) *
							        oh * ow +
							    (size_t)oy * ow +
							    ox;

							def &= col[at] == want;
						}
		for (size_t i = 0; i < nx; i++)
			dx[i] = NAN; /* col2im zeroes first */
		cnn_col2im(c2, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
		           g->ph, g->pw, oh, ow, dx);
		for (size_t i = 0; i < nc; i++) {
			lhs += (double)col[i] * c2[i];
			mag += fabs((double)col[i] * c2[i]);
		}
		for (size_t i = 0; i < nx; i++)
			rhs += (double)x[i] * dx[i];
		adj &= fabs(lhs - rhs) <= 1e-5 * (mag + 1);
		free(x);
		free(col);
		free(c2);
		free(dx);
	}
	ok(def, "im2col matches its definition (stride, padding, non-square)");
	ok(adj, "col2im is the adjoint of im2col: <im2col(x), c> == "
	        "<x, col2im(c)>");
}

/* ======================================================================== */
/* Layers                                                                   */

static void conv_case(const char *name, int c, int h, int w, cnn_layer l, int n)
{
	float *x;

	if (!vok(layer_setup(&l, &cnn_layer_conv2d, c, h, w), "%s: infer",
	         name))
		return;
	x = input(&l, n);
	grad_check(name, &l, x, n, 1e-2);
	free(x);
	layer_free(&l);
}

/* The forward pass of a conv layer against a direct convolution in double,
 * and, bit for bit, against im2col followed by cnn_gemm onto the bias (the
 * order of operations every path of the layer keeps). */
static void conv_reference(const char *name, int c, int h, int w, cnn_layer l)
{
	int n = 2, f_n = l.filters, kh = l.kernel[0], kw = l.kernel[1];
	int oh, ow, ckk = c * kh * kw;
	float *x, *y, *ws, *col, *y2;
	double worst = 0;
	int same = 1;

	if (!vok(layer_setup(&l, &cnn_layer_conv2d, c, h, w), "%s: infer",
	         name))
		return;
	oh = l.out_shape[1];
	ow = l.out_shape[2];
	x = input(&l, n);
	y = falloc((size_t)n * l.out_size);
	y2 = falloc(l.out_size);
	ws = falloc(workspace_of(&l, n));
	col = falloc((size_t)ckk * oh * ow);
	l.ops->forward(&l, x, y, n, ws);
	for (int s = 0; s < n; s++) {
		const float *xs = x + (size_t)s * l.in_size;
		const float *ys = y + (size_t)s * l.out_size;

		for (int f = 0; f < f_n; f++)
			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++) {
					double v = l.bias ? l.b[f] : 0;

					for (int ch = 0; ch < c; ch++)
						for (int i = 0; i < kh; i++)
							for (int j = 0; j < kw;
							     j++) {
								int iy =
								    oy *
								        l.stride
								            [0] +
								    i -
								    l.pad[0];
								int ix =
								    ox *
								        l.stride
								            [1] +
								    j -
								    l.pad[1];

								if (iy < 0 ||
								    iy >= h ||
								    ix < 0 ||
								    ix >= w)
									continue;
								v +=
								    (double)l.w
								        [((f * c +
								           ch) *
								              kh +
								          i) *
								             kw +
								         j] *
								    xs[(ch * h +
								        iy) *
								           w +
								       ix];
							}
					v -= ys[(f * oh + oy) * ow + ox];
					if (fabs(v) > worst)
						worst = fabs(v);
				}
		cnn_im2col(xs, c, h, w, kh, kw, l.stride[0], l.stride[1],
		           l.pad[0], l.pad[1], oh, ow, col);
		cnn_fill_rows(y2, NULL, f_n, oh * ow);
		if (l.bias)
			for (int f = 0; f < f_n; f++)
				for (int p = 0; p < oh * ow; p++)
					y2[f * oh * ow + p] = l.b[f];
		cnn_gemm(0, 0, f_n, oh * ow, ckk, l.w, ckk, col, oh * ow,
		         l.bias ? 1.0f : 0.0f, y2, oh * ow);
		same &= !memcmp(y2, ys, sizeof(float) * l.out_size);
	}
	vok(worst < 1e-5 && same,
	    "%s: forward equals a direct convolution (max diff %.2g) and, "
	    "bit for bit, im2col + gemm",
	    name, worst);
	free(x);
	free(y);
	free(y2);
	free(ws);
	free(col);
	layer_free(&l);
}

static void test_conv(void)
{
	cnn_layer l;

	conv_case("conv2d C=1 3x3 s1 p0 bias", 1, 6, 7,
	          conv_layer(2, 3, 3, 1, 1, 0, 0, 1), 3);
	conv_case("conv2d C=3 3x2 s2 p1 bias", 3, 7, 8,
	          conv_layer(4, 3, 2, 2, 2, 1, 1, 1), 3);
	conv_case("conv2d C=3 2x3 s1 p1 no bias", 3, 5, 6,
	          conv_layer(2, 2, 3, 1, 1, 1, 1, 0), 3);
	conv_case("conv2d C=2 3x3 stride 2x1 padding 0x1", 2, 7, 6,
	          conv_layer(3, 3, 3, 2, 1, 0, 1, 1), 3);
	conv_case("conv2d C=2 1x1 pointwise", 2, 4, 5,
	          conv_layer(3, 1, 1, 1, 1, 0, 0, 1), 3);
	conv_case("conv2d C=3 3x3 stride 2 padding 1 (phases)", 3, 9, 10,
	          conv_layer(4, 3, 3, 2, 2, 1, 1, 0), 3);
	conv_case("conv2d C=2 5x4 stride 2x3 padding 2x1 (phases)", 2, 11, 13,
	          conv_layer(3, 5, 4, 2, 3, 2, 1, 1), 2);
	conv_case("conv2d C=2 2x5 stride 3x2 padding 1x2 (a phase without "
	          "taps)",
	          2, 10, 12, conv_layer(3, 2, 5, 3, 2, 1, 2, 1), 2);
	conv_case("conv2d C=3 1x1 stride 2 (columns)", 3, 7, 8,
	          conv_layer(4, 1, 1, 2, 2, 0, 0, 0), 3);

	/* a larger batch, weights only */
	l = conv_layer(2, 3, 3, 1, 1, 1, 1, 1);
	if (layer_setup(&l, &cnn_layer_conv2d, 1, 5, 5)) {
		int n = 21;
		float *x = input(&l, n), *r = falloc((size_t)n * l.out_size);
		float *y = falloc((size_t)n * l.out_size);
		float *ws = falloc(workspace_of(&l, n));
		double fd[18], e;

		fill(r, (size_t)n * l.out_size, -1, 1);
		memset(l.dw, 0, sizeof(float) * l.n_weight);
		memset(l.db, 0, sizeof(float) * l.n_bias);
		l.ops->forward(&l, x, y, n, ws);
		l.ops->backward(&l, x, y, r, NULL, n, ws);
		finite_diff(&l, x, r, y, n, ws, l.w, l.n_weight, 1e-2, fd);
		e = rel_err(l.dw, fd, l.n_weight);
		finite_diff(&l, x, r, y, n, ws, l.b, l.n_bias, 1e-2, fd);
		e += rel_err(l.db, fd, l.n_bias);
		vok(e < GRAD_TOL,
		    "conv2d batch of %d: dw, db match finite differences "
		    "(%.2g)",
		    n, e);
		free(x);
		free(r);
		free(y);
		free(ws);
		layer_free(&l);
	}

	conv_reference("conv2d 3x2 stride 2x1 padding 1x0 (phases)", 2, 6, 5,
	               conv_layer(3, 3, 2, 2, 1, 1, 0, 1));
	conv_reference("conv2d 3x3 stride 2 padding 1 (phases)", 4, 14, 14,
	               conv_layer(5, 3, 3, 2, 2, 1, 1, 0));
	conv_reference("conv2d 1x1 stride 2 (columns)", 3, 7, 8,
	               conv_layer(4, 1, 1, 2, 2, 0, 0, 1));
	conv_reference("conv2d 3x3 stride 1 padding 1 (shifted path)", 3, 7, 6,
	               conv_layer(5, 3, 3, 1, 1, 1, 1, 1));
	conv_reference("conv2d 1x5 stride 1 on width 6", 2, 4, 6,
	               conv_layer(2, 1, 5, 1, 1, 0, 0, 0));
	conv_case("conv2d C=2 1x5 s1 on width 6", 2, 4, 6,
	          conv_layer(3, 1, 5, 1, 1, 0, 0, 1), 3);
}

static void test_dense(void)
{
	for (int bias = 1; bias >= 0; bias--) {
		cnn_layer l;
		float *x;
		char name[64];

		layer_defaults(&l);
		l.units = 5;
		l.bias = bias;
		snprintf(name, sizeof name, "dense %s bias (input 2x3x2)",
		         bias ? "with" : "without");
		if (!vok(layer_setup(&l, &cnn_layer_dense, 2, 3, 2),
		         "%s: infer", name))
			continue;
		vok(l.out_shape[0] == 5 && l.out_shape[1] == 1 &&
		        l.out_shape[2] == 1 && l.n_weight == 60 &&
		        l.weight_shape[0] == 5 && l.weight_shape[1] == 12 &&
		        l.n_bias == (size_t)(bias ? 5 : 0) && l.fan_in == 12 &&
		        l.fan_out == 5,
		    "%s: shapes (5,1,1), weights 5x12, fans 12/5", name);
		x = input(&l, 3);
		grad_check(name, &l, x, 3, 1e-2);
		free(x);
		layer_free(&l);
	}
}

/* cnn_add_col_sums against db[c] += dy[r][c] one row at a time, bit for
 * bit, for every width from 1 to 70 and 256 (vector body, tail, both) and
 * 1 to 4, 10 and 16 rows, values of mixed magnitudes (so the order of the
 * additions shows); the float after the last column is left alone. */
static void test_col_sums(void)
{
	enum { ROWS = 17, COLS = 256 };
	static float dy[ROWS * COLS];
	float db[COLS + 1], want[COLS];
	int bad = 0;

	for (int i = 0; i < ROWS * COLS; i++)
		dy[i] = (float)(cnn_rng_normal(&rng) *
		                pow(2.0, (double)cnn_rng_below(&rng, 24) - 12));
	for (int cols = 1; cols <= 71; cols++) {
		const int nc = cols < 71 ? cols : COLS;
		for (int rows = 1; rows <= ROWS; rows += rows < 4 ? 1 : 6) {
			for (int c = 0; c < nc; c++)
				want[c] = db[c] = (float)c * 0.37f - 3.0f;
			db[nc] = -1.0f;
			for (int r = 0; r < rows; r++)
				for (int c = 0; c < nc; c++)
					want[c] += dy[r * nc + c];
			cnn_add_col_sums(dy, rows, nc, db);
			bad += memcmp(db, want, (size_t)nc * sizeof *db) != 0 ||
			       db[nc] != -1.0f;
		}
	}
	vok(!bad, "dense: the bias gradient's column sums add the rows in "
	          "order, bit for bit, every width");
}

/* cnn_scale_bytes (the pixels as the first layer reads them): every count
 * from 0 to 70 (the vector body and every tail) and a whole MNIST image,
 * equal bit for bit to the scalar product, at offsets that misalign the
 * bytes and the floats. */
static void test_scale_bytes(void)
{
	uint8_t x[800];
	float y[800], want[800];
	int bad = 0;
	for (int i = 0; i < 800; i++)
		x[i] = (uint8_t)(cnn_rng_below(&rng, 256));
	const float scales[2] = {1.0f / 255.0f, 0.3f};
	for (int k = 0; k < 2; k++)
		for (int t = 0; t <= 71; t++) {
			const int n = t < 71 ? t : 784;
			for (int off = 0; off < 3; off++) {
				for (int i = 0; i < n; i++)
					want[i] = (float)x[off + i] * scales[k];
				y[n] = -1.0f;
				cnn_scale_bytes(x + off, scales[k], y,
				                (size_t)n);
				if (memcmp(y, want, (size_t)n * sizeof *y) ||
				    y[n] != -1.0f)
					bad++;
			}
		}
	ok(!bad, "%s: bytes scaled to floats exactly, every length", variant);
}

/* n samples of distinct values spaced 0.01 apart, in random order. */
static float *distinct_input(const cnn_layer *l, int n)
{
	size_t count = (size_t)n * l->in_size;
	float *x = falloc(count);

	for (size_t i = 0; i < count; i++)
		x[i] = (float)(0.01 * (double)i - 0.005 * (double)count);
	for (size_t i = count; i > 1; i--) {
		size_t j = (size_t)cnn_rng_below(&rng, i);
		float t = x[i - 1];

		x[i - 1] = x[j];
		x[j] = t;
	}
	return x;
}

static void pool_case(const char *name, int c, int h, int w, int k, int s,
                      int oh_want)
{
	cnn_layer l;
	float *x;

	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = k;
	l.stride[0] = l.stride[1] = s;
	if (!vok(layer_setup(&l, &cnn_layer_maxpool, c, h, w), "%s: infer",
	         name))
		return;
	vok(l.out_shape[0] == c && l.out_shape[1] == oh_want &&
	        l.out_shape[2] == (w - k) / s + 1,
	    "%s: output %dx%dx%d", name, l.out_shape[0], l.out_shape[1],
	    l.out_shape[2]);
	x = distinct_input(&l, 3);
	grad_check(name, &l, x, 3, 1e-3);
	free(x);
	layer_free(&l);
}

/* A relu fused into max pooling (cnn_pool_geom's relu) against the two
 * passes it replaces, on the variant in use: relu then pool forward; pool
 * backward on relu's output, then relu backward; bit for bit, with ties,
 * zeros of both signs, NaNs and windows all below zero, on 2x2/2 windows
 * (even, odd, 2..65 wide) and overlapping ones. */
static void test_pool_relu(void)
{
	static const int pools[][5] = {/* h, w, size, stride, planes */
	                               {24, 24, 2, 2, 4}, {7, 9, 2, 2, 3},
	                               {3, 65, 2, 2, 2},  {2, 2, 2, 2, 5},
	                               {9, 8, 3, 2, 2},   {5, 6, 3, 1, 2},
	                               {4, 4, 2, 1, 2}};
	int same = 1, masked = 1;

	for (size_t q = 0; q < sizeof pools / sizeof pools[0]; q++) {
		cnn_pool_geom g = {pools[q][0], pools[q][1], pools[q][2],
		                   pools[q][2], pools[q][3], pools[q][3],
		                   0,           0,           0};
		size_t planes = (size_t)pools[q][4], in, out;

		g.oh = (g.h - g.kh) / g.sh + 1;
		g.ow = (g.w - g.kw) / g.sw + 1;
		in = planes * g.h * g.w;
		out = planes * g.oh * g.ow;
		float *x = falloc(in), *r = falloc(in), *dy = falloc(out);
		float *y2 = falloc(out), *y1 = falloc(out);
		float *dr = falloc(in), *dx2 = falloc(in), *dx1 = falloc(in);
		/* quarters in [-3, 1]: ties, and windows with no positive */
		for (size_t i = 0; i < in; i++)
			x[i] = (float)floor(cnn_rng_uniform(&rng) * 16) / 4 - 3;
		x[0] = NAN;
		x[in - 1] = NAN;
		x[in / 2] = -0.0f;
		fill(dy, out, -1, 1);
		for (size_t i = 0; i < in; i++)
			dx1[i] = NAN; /* overwritten */
		cnn_relu_forward(x, r, in);
		cnn_maxpool_forward(&g, r, y2, planes);
		cnn_maxpool_backward(&g, r, dy, dr, planes);
		cnn_relu_backward(x, dr, dx2, in);
		g.relu = 1;
		cnn_maxpool_forward(&g, x, y1, planes);
		cnn_maxpool_backward(&g, x, dy, dx1, planes);
		same &= !memcmp(y1, y2, sizeof(float) * out) &&
		        !memcmp(dx1, dx2, sizeof(float) * in);
		for (size_t i = 0; i < in; i++)
			masked &= x[i] > 0 || (dx1[i] == 0 && !signbit(dx1[i]));
		free(x);
		free(r);
		free(dy);
		free(y1);
		free(y2);
		free(dr);
		free(dx1);
		free(dx2);
	}
	vok(same, "relu fused into max pooling: the bits of relu then pool, "
	          "both ways (2x2/2 even, odd, 2..65 wide; 3x3/2, 3x3/1, "
	          "2x2/1)");
	vok(masked, "relu fused into max pooling: +0 gradient wherever the "
	            "input is not positive");
}

static void test_maxpool(void)
{
	cnn_layer l;

	pool_case("maxpool 2x2/2", 2, 6, 7, 2, 2, 3);
	pool_case("maxpool 3x3/2 overlapping", 2, 9, 8, 3, 2, 4);
	pool_case("maxpool 3x3/1 overlapping", 1, 5, 6, 3, 1, 3);

	/* ties: each window's dy goes to its first maximum, row-major */
	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = 3;
	l.stride[0] = l.stride[1] = 2;
	if (layer_setup(&l, &cnn_layer_maxpool, 1, 5, 5)) {
		float x[25], y[4], dy[4] = {1, 2, 4, 8}, dx[25];
		float want[25] = {0};

		for (int i = 0; i < 25; i++)
			x[i] = 1.0f;
		/* windows start at (0,0), (0,2), (2,0), (2,2) */
		want[0] = 1;
		want[2] = 2;
		want[10] = 4;
		want[12] = 8;
		l.ops->forward(&l, x, y, 1, NULL);
		l.ops->backward(&l, x, y, dy, dx, 1, NULL);
		vok(!memcmp(dx, want, sizeof want) && y[0] == 1.0f,
		    "maxpool ties: gradient to the first maximum of each "
		    "window");

		/* overlapping windows sharing their maximum accumulate */
		for (int i = 0; i < 25; i++)
			x[i] = 0.0f;
		x[12] = 5.0f; /* centre, in all four windows */
		memset(want, 0, sizeof want);
		want[12] = 15;
		l.ops->forward(&l, x, y, 1, NULL);
		l.ops->backward(&l, x, y, dy, dx, 1, NULL);
		vok(!memcmp(dx, want, sizeof want) && y[0] == 5 && y[3] == 5,
		    "maxpool overlap: a shared maximum collects every window's "
		    "gradient");
		layer_free(&l);
	}

	/* ties in the 2x2 fast path */
	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = 2;
	l.stride[0] = l.stride[1] = 2;
	if (layer_setup(&l, &cnn_layer_maxpool, 1, 4, 4)) {
		float x[16], y[4], dy[4] = {1, 2, 4, 8}, dx[16];
		float want[16] = {0};

		for (int i = 0; i < 16; i++)
			x[i] = -1.0f;
		x[5] = x[6] = 3.0f; /* a tie inside the second window (5 is not
		                      in it: window 1 is cells 2, 3, 6, 7) */
		want[5] = 1;        /* window 0: cells 0, 1, 4, 5 -> 5 */
		want[6] = 2;        /* window 1 -> 6 */
		want[8] = 4;        /* all -1: the first cell */
		want[10] = 8;
		l.ops->forward(&l, x, y, 1, NULL);
		l.ops->backward(&l, x, y, dy, dx, 1, NULL);
		vok(!memcmp(dx, want, sizeof want) && y[0] == 3 && y[1] == 3 &&
		        y[2] == -1,
		    "maxpool 2x2 ties: gradient to the first maximum");
		layer_free(&l);
	}
}

static void test_relu_flatten_softmax(void)
{
	cnn_layer l;
	float *x;

	layer_defaults(&l);
	if (vok(layer_setup(&l, &cnn_layer_relu, 2, 3, 4), "relu: infer")) {
		size_t count = 3 * l.in_size;

		x = input(&l, 3);
		for (size_t i = 0; i < count; i++) /* away from the kink */
			x[i] = x[i] < 0 ? x[i] - 0.1f : x[i] + 0.1f;
		grad_check("relu", &l, x, 3, 1e-3);
		{
			float *y = falloc(count);
			int good = 1;

			l.ops->forward(&l, x, y, 3, NULL);
			for (size_t i = 0; i < count; i++)
				good &= y[i] == (x[i] > 0 ? x[i] : 0.0f);
			vok(good, "relu: y = max(x, 0)");
			free(y);
		}
		free(x);
		layer_free(&l);
	}

	layer_defaults(&l);
	if (vok(layer_setup(&l, &cnn_layer_flatten, 2, 3, 4),
	        "flatten: infer")) {
		vok(l.out_shape[0] == 24 && l.out_shape[1] == 1 &&
		        l.out_shape[2] == 1 && l.out_size == 24 &&
		        l.n_weight == 0,
		    "flatten: 2x3x4 -> 24x1x1");
		x = input(&l, 3);
		grad_check("flatten", &l, x, 3, 1e-2);
		free(x);
		layer_free(&l);
	}

	layer_defaults(&l);
	if (vok(layer_setup(&l, &cnn_layer_softmax, 7, 1, 1),
	        "softmax: infer")) {
		float big[14], y[14];
		int good = 1;
		double s0 = 0, s1 = 0;

		x = input(&l, 3);
		for (size_t i = 0; i < 21; i++)
			x[i] *= 3;
		grad_check("softmax", &l, x, 3, 1e-3);
		for (int i = 0; i < 14; i++)
			big[i] =
			    i < 7 ? 1000.0f + (float)i : -1000.0f - (float)i;
		l.ops->forward(&l, big, y, 2, NULL);
		for (int i = 0; i < 14; i++) {
			good &= isfinite(y[i]) && y[i] >= 0;
			*(i < 7 ? &s0 : &s1) += y[i];
		}
		vok(good && fabs(s0 - 1) < 1e-6 && fabs(s1 - 1) < 1e-6 &&
		        y[6] > y[5],
		    "softmax: stable for inputs of +-1000, rows sum to 1");
		free(x);
		layer_free(&l);
	}
}

/* ======================================================================== */
/* Kernel variants                                                          */

static const char *const variants[] = {"avx512", "avx2", "portable"};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

/* Run first, before any kernel: CNN_KERNELS picks the variant when it names
 * an available one; cnn_kernels_use refuses unknown names. */
static void test_kernel_choice(void)
{
	const char *env = getenv("CNN_KERNELS");
	const char *first = cnn_kernels_name();
	int known = 0, any = 0;

	for (int v = 0; v < N_VARIANTS; v++)
		known |= !strcmp(first, variants[v]);
	ok(known, "kernels: the variant in use is a known one (%s)", first);
	if (env && (!strcmp(env, "portable") || cnn_kernels_use(env)))
		ok(!strcmp(first, env),
		   "kernels: CNN_KERNELS=%s is honoured "
		   "(in use: %s)",
		   env, first);
	else
		ok(1, "kernels: CNN_KERNELS honoured # SKIP not set to an "
		      "available variant");
	ok(!cnn_kernels_use("sse9") && !cnn_kernels_use(NULL) &&
	       !cnn_kernels_use(""),
	   "kernels: unknown variant names are refused");
	ok(cnn_kernels_use("portable") &&
	       !strcmp(cnn_kernels_name(), "portable"),
	   "kernels: the portable variant is always available");
	for (int v = 0; v < N_VARIANTS; v++)
		if (cnn_kernels_use(variants[v])) {
			diag("kernel variant available: %s", variants[v]);
			any |= strcmp(variants[v], "portable") != 0;
		}
	if (!any)
		diag("no fast kernel variant on this CPU");
	cnn_kernels_use(first);
}

/* A geometry for the comparisons: input (c, h, w), f filters kh x kw,
 * stride, padding, bias, with or without dx, n samples. */
typedef struct conv_cmp {
	int c, h, w, f, kh, kw, sh, sw, ph, pw, bias, dx, n;
} conv_cmp;

static const conv_cmp conv_cmps[] = {
    /* the reference model's first layer, one chunk */
    {1, 28, 28, 2, 5, 5, 1, 1, 0, 0, 0, 0, 16},
    {3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 3},
    {2, 17, 33, 5, 3, 5, 1, 1, 2, 1, 1, 1, 2},
    {1, 7, 7, 3, 7, 7, 1, 1, 3, 3, 1, 1, 1},
    {3, 9, 8, 6, 3, 2, 2, 2, 1, 0, 1, 1, 3},     /* stride 2: phases */
    {16, 14, 14, 32, 3, 3, 2, 2, 1, 1, 0, 1, 3}, /* resnet_tiny's */
    {16, 14, 14, 32, 1, 1, 2, 2, 0, 0, 0, 1, 2}, /* 1x1 stride 2: columns */
    {3, 9, 40, 5, 3, 3, 2, 2, 1, 1, 1, 1, 2},    /* rows of whole vectors */
    {2, 10, 12, 3, 2, 5, 3, 2, 1, 2, 1, 1, 2},   /* a phase without taps */
    {2, 33, 17, 7, 1, 1, 1, 1, 0, 0, 0, 1, 2},   /* pointwise */
    {4, 12, 12, 8, 3, 3, 1, 1, 0, 0, 1, 1, 4},
    {5, 6, 40, 17, 2, 4, 1, 1, 0, 2, 1, 1, 2},
    {3, 11, 13, 3, 5, 1, 2, 1, 2, 0, 0, 1, 3}, /* stride 2x1 */
    {16, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {1, 5, 3, 2, 5, 3, 1, 1, 0, 0, 1, 1, 3}, /* output 1x1 */
    {2, 4, 6, 3, 1, 5, 1, 1, 0, 0, 1, 1, 3}, /* output 4x2 */
    {1, 4, 4, 2, 2, 2, 1, 1, 3, 3, 1, 1, 2}, /* padding > kernel - 1 */
    {1, 28, 28, 2, 5, 5, 1, 1, 0, 0, 1, 1, 1},
};

/* Sums of |terms| of every output of the convolution g (double), for the
 * tolerance: ymag (n, F, OH, OW) with the bias, dwmag (F, C*KH*KW) and
 * dbmag (F) with the initial values dw0, db0, dxmag (n, C, H, W). */
static void conv_magnitudes(const cnn_conv_geom *g, int n, const float *x,
                            const float *w, const float *b, const float *dy,
                            const float *dw0, const float *db0, double *ymag,
                            double *dwmag, double *dbmag, double *dxmag)
{
	int ckk = g->c * g->kh * g->kw;
	size_t in = (size_t)g->c * g->h * g->w;
	size_t out = (size_t)g->f * g->oh * g->ow;

	for (size_t i = 0; i < (size_t)n * out; i++)
		ymag[i] = 0;
	for (size_t i = 0; i < (size_t)n * in; i++)
		dxmag[i] = 0;
	for (int f = 0; f < g->f; f++) {
		dbmag[f] = b ? fabs(db0[f]) : 0;
		for (int k = 0; k < ckk; k++)
			dwmag[f * ckk + k] = fabs(dw0[f * ckk + k]);
	}
	for (int s = 0; s < n; s++)
		for (int f = 0; f < g->f; f++)
			for (int oy = 0; oy < g->oh; oy++)
				for (int ox = 0; ox < g->ow; ox++) {
					size_t o =
					    s * out +
					    ((size_t)f * g->oh + oy) * g->ow +
					    ox;
					double d = fabs(dy[o]);

					ymag[o] += b ? fabs(b[f]) : 0;
					dbmag[f] += d;
					for (int k = 0; k < ckk; k++) {
						int c = k / (g->kh * g->kw);
						int i = k / g->kw % g->kh;
						int j = k % g->kw;
						int iy = oy * g->sh + i - g->ph;
						int ix = ox * g->sw + j - g->pw;
						size_t at;
						double wk =
						    fabs(w[f * ckk + k]);

						if (iy < 0 || iy >= g->h ||
						    ix < 0 || ix >= g->w)
							continue;
						at = s * in +
						     ((size_t)c * g->h + iy) *
						         g->w +
						     ix;
						ymag[o] += wk * fabs(x[at]);
						dwmag[f * ckk + k] +=
						    d * fabs(x[at]);
						dxmag[at] += wk * d;
					}
				}
}

/* Whether the count floats at p are all finite: from finite inputs, a
 * convolution's outputs are, unless it read a workspace float it never
 * wrote (compare_conv fills the workspace with NaN first). */
static int all_finite(const float *p, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isfinite(p[i]))
			return 0;
	return 1;
}

/* The largest |a - b| / (mag + tiny) over count elements; infinite when
 * only one of a pair is NaN. */
static double worst_rel(const float *a, const float *b, const double *mag,
                        size_t count)
{
	double worst = 0;

	for (size_t i = 0; i < count; i++) {
		double r;

		if (isnan(a[i]) || isnan(b[i])) {
			if (isnan(a[i]) != isnan(b[i]))
				return INFINITY;
			continue;
		}
		r = fabs((double)a[i] - b[i]) / (mag[i] + 1e-30);
		if (r > worst)
			worst = r;
	}
	return worst;
}

/* Tolerance of a fast variant against the portable one, relative to the
 * sum of |terms| of each output (FMA and lane order change the rounding). */
#define VARIANT_TOL 1e-5

/* gemm of the fast variant fast against portable: every (ta, tb, beta) on
 * M, N, K in {1, 3, 7, 17, 33} and a few larger shapes (the reference
 * model's products among them), leading dimensions padded, C NaN for
 * beta 0. */
static void compare_gemm(const char *fast)
{
	static const int sizes[] = {1, 3, 7, 17, 33};
	static const int big[][3] = {{16, 60, 288},  {60, 288, 16},
	                             {16, 288, 60},  {16, 10, 60},
	                             {70, 300, 600}, {5, 517, 29}};
	const int ns = (int)(sizeof sizes / sizeof sizes[0]);
	const int nb = (int)(sizeof big / sizeof big[0]);

	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (int bi = 0; bi < 2; bi++) {
				double worst = 0;
				int total = ns * ns * ns + nb;

				for (int q = 0; q < total; q++) {
					int M, N, K, lda, ldb, ldc;
					size_t na, nbb, nc;
					float *A, *B, *C1, *C2, *C0;
					double *ref, *mag, e;

					if (q < ns * ns * ns) {
						M = sizes[q % ns];
						N = sizes[q / ns % ns];
						K = sizes[q / ns / ns];
					} else {
						M = big[q - ns * ns * ns][0];
						N = big[q - ns * ns * ns][1];
						K = big[q - ns * ns * ns][2];
					}
					lda = (ta ? M : K) + 3;
					ldb = (tb ? K : N) + 2;
					ldc = N + 1;
					na = (size_t)(ta ? K : M) * lda;
					nbb = (size_t)(tb ? N : K) * ldb;
					nc = (size_t)M * ldc;
					A = falloc(na);
					B = falloc(nbb);
					C0 = falloc(nc);
					C1 = falloc(nc);
					C2 = falloc(nc);
					ref = malloc(sizeof(double) * M * N);
					mag = malloc(sizeof(double) * M * N);
					fill(A, na, -1, 1);
					fill(B, nbb, -1, 1);
					fill(C0, nc, -1, 1);
					for (size_t i = 0; i < nc; i++)
						C1[i] = C2[i] =
						    bi ? C0[i] : NAN;
					naive_gemm(ta, tb, M, N, K, A, lda, B,
					           ldb, (float)bi, C0, ldc, ref,
					           mag);
					cnn_kernels_use("portable");
					cnn_gemm(ta, tb, M, N, K, A, lda, B,
					         ldb, (float)bi, C1, ldc);
					cnn_kernels_use(fast);
					cnn_gemm(ta, tb, M, N, K, A, lda, B,
					         ldb, (float)bi, C2, ldc);
					for (int i = 0; i < M; i++) {
						e = worst_rel(
						    C1 + (size_t)i * ldc,
						    C2 + (size_t)i * ldc,
						    mag + (size_t)i * N, N);
						if (e > worst)
							worst = e;
						/* the padding column untouched
						 */
						if (memcmp(
						        C1 + (size_t)i * ldc +
						            N,
						        C2 + (size_t)i * ldc +
						            N,
						        sizeof(float)) ||
						    (bi &&
						     C2[(size_t)i * ldc + N] !=
						         C0[(size_t)i * ldc +
						            N]))
							worst = INFINITY;
					}
					free(A);
					free(B);
					free(C0);
					free(C1);
					free(C2);
					free(ref);
					free(mag);
				}
				ok(worst <= VARIANT_TOL,
				   "%s vs portable: gemm ta=%d tb=%d beta=%d "
				   "on "
				   "%d shapes (sizes 1..33 and larger), worst "
				   "relative difference %.2g",
				   fast, ta, tb, bi, total, worst);
			}
}

/* The convolution of the fast variant against portable, forward and
 * backward, on every geometry of conv_cmps. */
static void compare_conv(const char *fast)
{
	for (size_t q = 0; q < sizeof conv_cmps / sizeof conv_cmps[0]; q++) {
		const conv_cmp *t = &conv_cmps[q];
		cnn_conv_geom g = {t->c,  t->h,  t->w,  t->f,  t->kh, t->kw,
		                   t->sh, t->sw, t->ph, t->pw, 0,     0};
		int n = t->n, ckk = t->c * t->kh * t->kw;
		size_t in, out, nw = (size_t)t->f * ckk;
		float *x, *w, *b, *dy, *ws, *y[2], *dw[2], *db[2], *dx[2];
		float *dw0, *db0;
		double *ymag, *dwmag, *dbmag, *dxmag, ey, ew, eb = 0, ex = 0;
		int finite = 1;

		g.oh = (t->h + 2 * t->ph - t->kh) / t->sh + 1;
		g.ow = (t->w + 2 * t->pw - t->kw) / t->sw + 1;
		in = (size_t)t->c * t->h * t->w;
		out = (size_t)t->f * g.oh * g.ow;
		x = falloc(n * in);
		w = falloc(nw);
		b = falloc(t->f);
		dy = falloc(n * out);
		dw0 = falloc(nw);
		db0 = falloc(t->f);
		ws = falloc(cnn_conv_workspace(&g, n));
		ymag = malloc(sizeof(double) * n * out);
		dxmag = malloc(sizeof(double) * n * in);
		dwmag = malloc(sizeof(double) * nw);
		dbmag = malloc(sizeof(double) * t->f);
		fill(x, n * in, -1, 1);
		fill(w, nw, -1, 1);
		fill(b, t->f, -1, 1);
		fill(dy, n * out, -1, 1);
		fill(dw0, nw, -1, 1);
		fill(db0, t->f, -1, 1);
		for (int v = 0; v < 2; v++) {
			y[v] = falloc(n * out);
			dw[v] = falloc(nw);
			db[v] = falloc(t->f);
			dx[v] = falloc(n * in);
			memcpy(dw[v], dw0, sizeof(float) * nw);
			memcpy(db[v], db0, sizeof(float) * t->f);
			for (size_t i = 0; i < n * in; i++)
				dx[v][i] = NAN; /* overwritten */
			cnn_kernels_use(v ? fast : "portable");
			/* a dirty workspace must not matter */
			for (size_t i = 0; i < cnn_conv_workspace(&g, n); i++)
				ws[i] = NAN;
			cnn_conv_forward(&g, x, w, t->bias ? b : NULL, y[v], n,
			                 ws);
			cnn_conv_backward(&g, x, w, dy, dw[v],
			                  t->bias ? db[v] : NULL,
			                  t->dx ? dx[v] : NULL, n, ws);
		}
		conv_magnitudes(&g, n, x, w, t->bias ? b : NULL, dy, dw0, db0,
		                ymag, dwmag, dbmag, dxmag);
		ey = worst_rel(y[0], y[1], ymag, n * out);
		ew = worst_rel(dw[0], dw[1], dwmag, nw);
		if (t->bias)
			eb = worst_rel(db[0], db[1], dbmag, t->f);
		if (t->dx)
			ex = worst_rel(dx[0], dx[1], dxmag, n * in);
		for (int v = 0; v < 2; v++)
			finite &= all_finite(y[v], n * out) &&
			          all_finite(dw[v], nw) &&
			          (!t->dx || all_finite(dx[v], n * in));
		ok(finite && ey <= VARIANT_TOL && ew <= VARIANT_TOL &&
		       eb <= VARIANT_TOL && ex <= VARIANT_TOL,
		   "%s vs portable: conv %dx%dx%d, %d filters %dx%d, stride "
		   "%dx%d, padding %dx%d, %s bias, %s, n %d: %s, y %.2g, dw "
		   "%.2g, db %.2g, dx %.2g",
		   fast, t->c, t->h, t->w, t->f, t->kh, t->kw, t->sh, t->sw,
		   t->ph, t->pw, t->bias ? "with" : "no",
		   t->dx ? "dx" : "dx NULL", n,
		   finite ? "all finite" : "NOT all finite", ey, ew, eb, ex);
		for (int v = 0; v < 2; v++) {
			free(y[v]);
			free(dw[v]);
			free(db[v]);
			free(dx[v]);
		}
		free(x);
		free(w);
		free(b);
		free(dy);
		free(dw0);
		free(db0);
		free(ws);
		free(ymag);
		free(dxmag);
		free(dwmag);
		free(dbmag);
	}
}

/* Max pooling, ReLU and softmax of the fast variant against portable: no
 * arithmetic (or shared code), so the bits must match, with ties, zeros of
 * both signs and NaNs in the inputs. */
static void compare_elementwise(const char *fast)
{
	static const int pools[][5] = {/* h, w, size, stride, planes */
	                               {24, 24, 2, 2, 32}, {7, 9, 2, 2, 3},
	                               {5, 33, 2, 2, 2},   {2, 2, 2, 2, 5},
	                               {9, 8, 3, 2, 2},    {6, 35, 2, 2, 3},
	                               {3, 65, 2, 2, 1},   {4, 4, 2, 1, 2}};
	static const size_t counts[] = {1, 3, 7, 17, 33, 100, 1000};
	int same_pool = 1, same_relu = 1, same_soft = 1;

	for (size_t q = 0; q < sizeof pools / sizeof pools[0]; q++) {
		cnn_pool_geom g = {pools[q][0], pools[q][1], pools[q][2],
		                   pools[q][2], pools[q][3], pools[q][3],
		                   0,           0,           0};
		size_t planes = (size_t)pools[q][4], in, out;
		float *x, *dy, *y[2], *dx[2];

		g.oh = (g.h - g.kh) / g.sh + 1;
		g.ow = (g.w - g.kw) / g.sw + 1;
		in = planes * g.h * g.w;
		out = planes * g.oh * g.ow;
		x = falloc(in);
		dy = falloc(out);
		/* quarters in [-2, 2]: many ties */
		for (size_t i = 0; i < in; i++)
			x[i] = (float)floor(cnn_rng_uniform(&rng) * 16) / 4 - 2;
		x[0] = NAN;
		if (in > 5)
			x[5] = NAN;
		if (in > 7)
			x[7] = -0.0f;
		fill(dy, out, -1, 1);
		for (int v = 0; v < 2; v++) {
			y[v] = falloc(out);
			dx[v] = falloc(in);
			for (size_t i = 0; i < in; i++)
				dx[v][i] = NAN; /* overwritten */
			cnn_kernels_use(v ? fast : "portable");
			cnn_maxpool_forward(&g, x, y[v], planes);
			cnn_maxpool_backward(&g, x, dy, dx[v], planes);
		}
		same_pool &= !memcmp(y[0], y[1], sizeof(float) * out) &&
		             !memcmp(dx[0], dx[1], sizeof(float) * in);
		for (int v = 0; v < 2; v++) {
			free(y[v]);
			free(dx[v]);
		}
		free(x);
		free(dy);
	}
	ok(same_pool,
	   "%s vs portable: max pooling 2x2/2 (even, odd, 2..65 wide), "
	   "3x3/2 and 2x2/1 forward and backward, bit for bit",
	   fast);

	for (size_t q = 0; q < sizeof counts / sizeof counts[0]; q++) {
		size_t count = counts[q];
		float *x = falloc(count), *dy = falloc(count);
		float *y[2], *dx[2];

		fill(x, count, -1, 1);
		fill(dy, count, -1, 1);
		for (size_t i = 0; i < count; i += 5)
			x[i] = i % 2 ? -0.0f : 0.0f;
		if (count > 3)
			x[3] = NAN;
		for (int v = 0; v < 2; v++) {
			y[v] = falloc(count + 1);
			dx[v] = falloc(count + 1);
			y[v][count] = dx[v][count] = 7.0f; /* past the end */
			cnn_kernels_use(v ? fast : "portable");
			cnn_relu_forward(x, y[v], count);
			cnn_relu_backward(x, dy, dx[v], count);
		}
		same_relu &=
		    !memcmp(y[0], y[1], sizeof(float) * (count + 1)) &&
		    !memcmp(dx[0], dx[1], sizeof(float) * (count + 1)) &&
		    y[1][count] == 7.0f && dx[1][count] == 7.0f;
		for (int v = 0; v < 2; v++) {
			free(y[v]);
			free(dx[v]);
		}
		free(x);
		free(dy);
	}
	ok(same_relu,
	   "%s vs portable: ReLU forward and backward on 1..1000 floats "
	   "(zeros, -0, NaN), bit for bit, nothing written past the end",
	   fast);

	{
		int n = 7, k = 10;
		float x[70], dy[70], y[2][70], dx[2][70];

		fill(x, 70, -5, 5);
		fill(dy, 70, -1, 1);
		for (int v = 0; v < 2; v++) {
			cnn_kernels_use(v ? fast : "portable");
			cnn_softmax_forward(x, y[v], n, k);
			cnn_softmax_backward(y[v], dy, dx[v], n, k);
		}
		same_soft = !memcmp(y[0], y[1], sizeof y[0]) &&
		            !memcmp(dx[0], dx[1], sizeof dx[0]);
	}
	ok(same_soft,
	   "%s vs portable: softmax forward and backward, bit for "
	   "bit",
	   fast);
}

/* One convolution's forward and backward (dw, db, dx) on the variant in
 * use, into out: y, dw, db, dx one after the other (sizes in the caller). */
static void conv_run_all(const cnn_conv_geom *g, const conv_cmp *t,
                         const float *x, const float *w, const float *b,
                         const float *dy, float *ws, float *out)
{
	size_t in = (size_t)t->n * t->c * t->h * t->w,
	       y = (size_t)t->n * t->f * g->oh * g->ow,
	       nw = (size_t)t->f * t->c * t->kh * t->kw;

	memset(out, 0, (y + nw + t->f + in) * sizeof *out);
	cnn_conv_forward(g, x, w, t->bias ? b : NULL, out, t->n, ws);
	cnn_conv_backward(g, x, w, dy, out + y, t->bias ? out + y + nw : NULL,
	                  t->dx ? out + y + nw + t->f : NULL, t->n, ws);
}

/* avx512: the forward convolution and the input gradient in 16-float
 * vectors (16-float FMAs as cheap as 8-float ones) against the choice by
 * wasted lanes (twice as dear), on every comparison shape and resnet_tiny's
 * and lenet5's: the same bits of y, dw, db and dx, and the width differs
 * where it should. */
static void test_conv_wide_cost(void)
{
	static const conv_cmp more[] = {
	    {1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 0, 1, 2},
	    {32, 7, 7, 32, 3, 3, 1, 1, 1, 1, 0, 1, 2},
	    {1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 0, 3},
	    {6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 2},
	};
	const int nc = (int)(sizeof conv_cmps / sizeof conv_cmps[0]);
	const int keep = cnn_kernels_wide_cost(-1);
	int same = 1, narrowed = 0, wide = 1;

	if (!cnn_kernels_use("avx512")) {
		ok(1, "avx512: convolution widths # SKIP no AVX-512 here");
		return;
	}
	for (int q = 0; q < nc + 4; q++) {
		const conv_cmp *t = q < nc ? &conv_cmps[q] : &more[q - nc];
		cnn_conv_geom g = {t->c,  t->h,  t->w,  t->f,  t->kh, t->kw,
		                   t->sh, t->sw, t->ph, t->pw, 0,     0};
		g.oh = (t->h + 2 * t->ph - t->kh) / t->sh + 1;
		g.ow = (t->w + 2 * t->pw - t->kw) / t->sw + 1;
		size_t in = (size_t)t->n * t->c * t->h * t->w,
		       y = (size_t)t->n * t->f * g.oh * g.ow,
		       nw = (size_t)t->f * t->c * t->kh * t->kw,
		       all = y + nw + t->f + in;
		float *x = falloc(in), *w = falloc(nw), *b = falloc(t->f);
		float *dy = falloc(y),
		      *ws = falloc(cnn_conv_workspace(&g, t->n));
		float *r[2] = {falloc(all), falloc(all)};

		fill(x, in, -1, 1);
		fill(w, nw, -1, 1);
		fill(b, t->f, -1, 1);
		fill(dy, y, -1, 1);
		for (int v = 0; v < 2; v++) {
			cnn_kernels_wide_cost(v ? 1000 : 2000);
			if (t->sh == 1 && t->sw == 1) {
				int width = cnn_conv_sums_width(&g);
				narrowed |= !v && width == 8;
				wide &= !v || width == 16;
			}
			conv_run_all(&g, t, x, w, b, dy, ws, r[v]);
		}
		same &= !memcmp(r[0], r[1], all * sizeof(float));
		free(x);
		free(w);
		free(b);
		free(dy);
		free(ws);
		free(r[0]);
		free(r[1]);
	}
	cnn_kernels_wide_cost(keep);
	ok(same && narrowed && wide,
	   "avx512: convolutions in 16-float vectors where 8-float ones waste "
	   "fewer lanes: the same bits (y, dw, db, dx; narrowed %d, all wide "
	   "%d)",
	   narrowed, wide);
}

/* Batch normalisation's sums as kernels.h defines them, written out: lane
 * i % 8 of each plane (samples in order) in double, the lanes then added
 * first to last; with y, dy counts only where y > 0. out: per channel,
 * sum x, sum x^2, sum dy, sum dy * x, sum dy * (x - mean[ch]). */
static void bn_sums_ref(const float *x, const float *y, const float *dy, int n,
                        int c, size_t hw, const float *mean, double (*out)[5])
{
	for (int ch = 0; ch < c; ch++) {
		double lane[5][8] = {{0}};

		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < hw; i++) {
				size_t at = ((size_t)j * c + ch) * hw + i;
				float g = y && !(y[at] > 0.0f) ? 0.0f : dy[at];
				double v = x[at];

				lane[0][i % 8] += v;
				lane[1][i % 8] += v * v;
				lane[2][i % 8] += g;
				lane[3][i % 8] += (double)g * v;
				lane[4][i % 8] +=
				    (double)g * (x[at] - mean[ch]);
			}
		for (int t = 0; t < 5; t++) {
			out[ch][t] = lane[t][0];
			for (int k = 1; k < 8; k++)
				out[ch][t] += lane[t][k];
		}
	}
}

/* cnn_bn_sums and cnn_bn_dy_sums (with and without a relu's output) of 3
 * channels against bn_sums_ref, bit for bit, over planes of 1 to 50
 * floats: every tail of the eight lanes. */
static void test_bn_lanes(void)
{
	static const int hws[] = {1, 3, 7, 8, 9, 16, 17, 49, 50};
	int same = 1;

	for (size_t q = 0; q < sizeof hws / sizeof hws[0]; q++) {
		const int n = 3, c = 3;
		const size_t hw = (size_t)hws[q], all = (size_t)n * c * hw;
		float *x = falloc(all), *y = falloc(all), *dy = falloc(all);
		float mean[3];
		double want[3][5], got[3][5], dys[3];

		/* magnitudes far apart, so that the order of the sums shows */
		for (size_t i = 0; i < all; i++)
			x[i] = (float)ldexp(cnn_rng_uniform(&rng) - 0.3,
			                    (int)(i % 61) - 30);
		fill(y, all, -1, 1);
		fill(dy, all, -1, 1);
		fill(mean, 3, -0.5, 0.5);
		for (int with_y = 0; with_y < 2; with_y++) {
			const float *yy = with_y ? y : NULL;
			double sum[3] = {0}, sq[3] = {0};

			bn_sums_ref(x, yy, dy, n, c, hw, mean, want);
			cnn_bn_sums(x, n, c, hw, sum, sq);
			for (int ch = 0; ch < c; ch++) {
				cnn_bn_dy_sums(x, yy, dy, n, c, hw, ch,
				               mean[ch], dys);
				got[ch][0] = sum[ch];
				got[ch][1] = sq[ch];
				memcpy(got[ch] + 2, dys, sizeof dys);
			}
			same &= !memcmp(want, got, sizeof want);
		}
		free(x);
		free(y);
		free(dy);
	}
	ok(same,
	   "%s: batchnorm's sums in eight double lanes, as written out, on "
	   "planes of 1 to 50 floats, with and without a relu's mask",
	   variant);
}

/* The sums of dy and the parameters' gradients of 5 channels, from dy
 * through a fused relu's mask (its output yr) and from the masked dr:
 * whether they have the same bits. */
static int bn_sums_same(const float *x, const float *yr, const float *dy,
                        const float *dr, int n, size_t hw, const float *mean,
                        const float *invstd)
{
	const int c = 5;
	double s1[5][3], s2[5][3];
	float g1[5] = {0}, b1[5] = {0}, g2[5] = {0}, b2[5] = {0};

	for (int ch = 0; ch < c; ch++) {
		cnn_bn_dy_sums(x, yr, dy, n, c, hw, ch, mean[ch], s1[ch]);
		cnn_bn_dy_sums(x, NULL, dr, n, c, hw, ch, mean[ch], s2[ch]);
	}
	cnn_bn_param_grads(x, yr, dy, n, c, hw, mean, invstd, g1, b1);
	cnn_bn_param_grads(x, NULL, dr, n, c, hw, mean, invstd, g2, b2);
	return !memcmp(s1, s2, sizeof s1) && !memcmp(g1, g2, sizeof g1) &&
	       !memcmp(b1, b2, sizeof b1);
}

/* Batch normalisation's element-wise passes: the fast variant against
 * portable (per element the same operations, so the same bits), over
 * planes of 1 to 50 floats (every tail), with and without the statistics
 * held constant; and a relu fused into them against the two passes it
 * replaces (relu forward after bn, relu backward before bn's). */
static void compare_bn(const char *fast)
{
	static const int hws[] = {1, 3, 7, 16, 17, 49, 50};
	int same = 1, fused = 1;

	for (size_t q = 0; q < sizeof hws / sizeof hws[0]; q++) {
		const int n = 3, c = 5;
		const size_t hw = (size_t)hws[q], all = (size_t)n * c * hw;
		float mean[5], scale[5], beta[5], invstd[5], mdy[5], mdx[5];
		float *x = falloc(all), *dy = falloc(all), *r = falloc(all);
		float *y[2], *dx[2], *dc[2], *yr = falloc(all),
		                             *dr = falloc(all);
		float *dxr = falloc(all);

		fill(x, all, -2, 2);
		fill(dy, all, -1, 1);
		fill(mean, 5, -0.5, 0.5);
		fill(scale, 5, 0.5, 2);
		fill(beta, 5, -1, 1);
		fill(invstd, 5, 0.5, 2);
		fill(mdy, 5, -0.1, 0.1);
		fill(mdx, 5, -0.1, 0.1);
		x[0] = NAN;
		x[all - 1] = -0.0f;
		for (int v = 0; v < 2; v++) {
			y[v] = falloc(all);
			dx[v] = falloc(all);
			dc[v] = falloc(all);
			cnn_kernels_use(v ? fast : "portable");
			cnn_bn_forward(x, y[v], n, c, hw, mean, scale, beta, 0);
			cnn_bn_backward(x, NULL, dy, dx[v], n, c, hw, mean,
			                invstd, scale, mdy, mdx);
			cnn_bn_backward(x, NULL, dy, dc[v], n, c, hw, mean,
			                invstd, scale, NULL, NULL);
		}
		same &= !memcmp(y[0], y[1], all * sizeof(float)) &&
		        !memcmp(dx[0], dx[1], all * sizeof(float)) &&
		        !memcmp(dc[0], dc[1], all * sizeof(float));
		/* fused, on the fast variant: forward, then backward through
		 * the relu from its output */
		cnn_kernels_use(fast);
		cnn_bn_forward(x, yr, n, c, hw, mean, scale, beta, 1);
		cnn_relu_forward(y[1], r, all);
		cnn_relu_backward(y[1], dy, dr, all);
		cnn_bn_backward(x, NULL, dr, dx[1], n, c, hw, mean, invstd,
		                scale, mdy, mdx);
		cnn_bn_backward(x, yr, dy, dxr, n, c, hw, mean, invstd, scale,
		                mdy, mdx);
		fused &= !memcmp(yr, r, all * sizeof(float)) &&
		         !memcmp(dxr, dx[1], all * sizeof(float));
		fused &= bn_sums_same(x, yr, dy, dr, n, hw, mean, invstd);
		for (int v = 0; v < 2; v++) {
			free(y[v]);
			free(dx[v]);
			free(dc[v]);
		}
		free(x);
		free(dy);
		free(r);
		free(yr);
		free(dr);
		free(dxr);
	}
	ok(same,
	   "%s vs portable: batchnorm forward and backward on planes of 1 to "
	   "50 floats, bit for bit",
	   fast);
	ok(fused,
	   "%s: a relu fused into batchnorm gives the bits of the two layers "
	   "(forward, backward, the sums of dy)",
	   fast);
}

/* Every fast variant the CPU has against the portable one. */
/* sigmoid, tanh and ELU, forward and backward, on the fast variant
 * give the portable variant's bits: a dense grid over [-120, 120], the
 * edges of the clamps, -0, subnormals, infinities and NaN, at lengths that
 * leave every tail. */
static void compare_activations(const char *fast)
{
	enum { N = 2411 };
	static const float special[] = {0.0f,    -0.0f,    1e-40f,    -1e-40f,
	                                10.0f,   -87.3f,   88.0f,     88.72f,
	                                -104.0f, INFINITY, -INFINITY, NAN};
	float *x = falloc(N), *dy = falloc(N), *y[2][6];
	int same = 1;

	for (int i = 0; i < N; i++)
		x[i] = (float)(-120.0 + 240.0 * i / (N - 1));
	memcpy(x, special, sizeof special);
	fill(dy, N, -1, 1);
	for (int v = 0; v < 2; v++)
		for (int f = 0; f < 6; f++)
			y[v][f] = falloc(N);
	for (size_t n = N - 16; n <= N; n++) {
		for (int v = 0; v < 2; v++) {
			cnn_kernels_use(v ? fast : "portable");
			cnn_sigmoid_forward(x, y[v][0], n);
			cnn_tanh_forward(x, y[v][1], n);
			cnn_elu_forward(x, y[v][2], n, 0.7f);
			cnn_elu_backward(x, dy, y[v][3], n, 0.7f);
			cnn_tanh_backward(x, dy, y[v][4], n);
			cnn_sigmoid_backward(x, dy, y[v][5], n);
		}
		for (int f = 0; f < 6; f++)
			same &= !memcmp(y[0][f], y[1][f], n * sizeof(float));
	}
	for (int f = 0; f < 6; f++) {
		free(y[0][f]);
		free(y[1][f]);
	}
	ok(same,
	   "[%s] sigmoid, tanh, elu, both ways: the portable variant's bits",
	   fast);
	free(x);
	free(dy);
}

static void test_variants(void)
{
	const char *keep = cnn_kernels_name();
	int any = 0;

	for (int v = 0; v < N_VARIANTS; v++) {
		const char *fast = variants[v];

		if (!strcmp(fast, "portable") || !cnn_kernels_use(fast))
			continue;
		any = 1;
		compare_gemm(fast);
		compare_conv(fast);
		compare_elementwise(fast);
		compare_activations(fast);
		compare_bn(fast);
	}
	if (!any)
		ok(1, "fast variants vs portable # SKIP no fast variant on "
		      "this CPU");
	cnn_kernels_use(keep);
}

/* The same call twice gives the same bits (on the variant in use). */
static void test_repeat(void)
{
	int M = 37, N = 29, K = 301, same = 1;
	float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N);
	float *C1 = falloc((size_t)M * N), *C2 = falloc((size_t)M * N);
	cnn_conv_geom g = {3, 14, 15, 5, 3, 3, 1, 1, 1, 1, 14, 15};
	int n = 17;
	size_t in = (size_t)3 * 14 * 15, out = (size_t)5 * 14 * 15;
	float *x = falloc(n * in), *w = falloc(135), *b = falloc(5);
	float *dy = falloc(n * out), *ws = falloc(cnn_conv_workspace(&g, n));
	float *y[2], *dw[2], *db[2], *dx[2];

	fill(A, (size_t)M * K, -1, 1);
	fill(B, (size_t)K * N, -1, 1);
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			cnn_gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N,
			         0.0f, C1, N);
			cnn_gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N,
			         0.0f, C2, N);
			same &= !memcmp(C1, C2, sizeof(float) * M * N);
		}
	vok(same, "gemm: the same product twice gives the same bits "
	          "(all four transposes)");

	fill(x, n * in, -1, 1);
	fill(w, 135, -1, 1);
	fill(b, 5, -1, 1);
	fill(dy, n * out, -1, 1);
	for (int t = 0; t < 2; t++) {
		y[t] = falloc(n * out);
		dx[t] = falloc(n * in);
		dw[t] = falloc(135);
		db[t] = falloc(5);
		cnn_conv_forward(&g, x, w, b, y[t], n, ws);
		cnn_conv_backward(&g, x, w, dy, dw[t], db[t], dx[t], n, ws);
	}
	same = !memcmp(y[0], y[1], sizeof(float) * n * out) &&
	       !memcmp(dx[0], dx[1], sizeof(float) * n * in) &&
	       !memcmp(dw[0], dw[1], sizeof(float) * 135) &&
	       !memcmp(db[0], db[1], sizeof(float) * 5);
	vok(same, "conv2d: forward and backward twice give the same bits");
	for (int t = 0; t < 2; t++) {
		free(y[t]);
		free(dx[t]);
		free(dw[t]);
		free(db[t]);
	}
	free(A);
	free(B);
	free(C1);
	free(C2);
	free(x);
	free(w);
	free(b);
	free(dy);
	free(ws);
}

/* ======================================================================== */
/* Shape errors and configuration                                           */

/* Runs infer on a fresh layer and returns its status; message in err. */
static cnn_status infer_error(cnn_layer *l, const cnn_layer_ops *ops, int c,
                              int h, int w, cnn_error *err)
{
	static cnn_node node = {
	    .type = CNN_NODE_MAP, .file = "model.yaml", .line = 12, .col = 5};

	cnn_err_clear(err);
	l->ops = ops;
	l->node = &node;
	l->in_shape[0] = c;
	l->in_shape[1] = h;
	l->in_shape[2] = w;
	return ops->infer(l, "layers.2", err);
}

static void test_infer_errors(void)
{
	cnn_layer l;
	cnn_error err;
	cnn_status st;

	l = conv_layer(4, 5, 5, 1, 1, 0, 0, 1);
	st = infer_error(&l, &cnn_layer_conv2d, 1, 3, 3, &err);
	ok(st == CNN_ERR_CONFIG && err.line == 12 &&
	       strstr(err.message, "kernel 5x5 does not fit the input "
	                           "3x3 (with padding 0x0)"),
	   "conv2d: kernel larger than the input: \"%s\"", err.message);

	l = conv_layer(4, 5, 5, 1, 1, 1, 1, 1);
	st = infer_error(&l, &cnn_layer_conv2d, 1, 3, 3, &err);
	ok(st == CNN_OK && l.out_shape[1] == 1 && l.out_shape[2] == 1,
	   "conv2d: kernel 5x5 fits 3x3 padded by 1 (output 1x1)");

	l = conv_layer(8, 5, 5, 1, 1, 0, 0, 1);
	st = infer_error(&l, &cnn_layer_conv2d, 1, 28, 28, &err);
	ok(st == CNN_OK && l.out_shape[0] == 8 && l.out_shape[1] == 24 &&
	       l.n_weight == 200 && l.n_bias == 8 && l.fan_in == 25 &&
	       l.fan_out == 200 && l.weight_ndim == 4 &&
	       l.weight_shape[3] == 5 && l.in_size == 784 &&
	       l.out_size == 8 * 24 * 24,
	   "conv2d: 1x28x28, 8 filters 5x5 -> 8x24x24, weights 8x1x5x5");

	layer_defaults(&l);
	st = infer_error(&l, &cnn_layer_softmax, 10, 2, 2, &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "vector") &&
	       strstr(err.message, "10x2x2"),
	   "softmax: refuses a non-vector input: \"%s\"", err.message);

	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = 3;
	l.stride[0] = l.stride[1] = 3;
	st = infer_error(&l, &cnn_layer_maxpool, 2, 2, 5, &err);
	ok(st == CNN_ERR_CONFIG &&
	       strstr(err.message, "window 3x3 does not fit the input 2x5"),
	   "maxpool: window larger than the input: \"%s\"", err.message);

	layer_defaults(&l);
	l.units = 1 << 24;
	st = infer_error(&l, &cnn_layer_dense, 256, 1, 1, &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "2^31"),
	   "dense: refuses weights over 2^31 floats: \"%s\"", err.message);

	l = conv_layer(1, 1, 1, 1, 1, 0, 0, 1);
	st = infer_error(&l, &cnn_layer_conv2d, 65536, 65536, 2, &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "2^31"),
	   "conv2d: refuses an input over 2^31 floats: \"%s\"", err.message);
}

static void test_configure(void)
{
	cnn_layer l;
	cnn_error err;
	cnn_status st;
	int good = 1;

	st = configure_yaml(&l,
	                    "type: conv2d\nfilters: 6\nkernel: [5, 3]\n"
	                    "stride: 2\npadding: [1, 0]\nbias: false\n"
	                    "weight_init: xavier\n",
	                    &err);
	ok(st == CNN_OK && l.filters == 6 && l.kernel[0] == 5 &&
	       l.kernel[1] == 3 && l.stride[0] == 2 && l.stride[1] == 2 &&
	       l.pad[0] == 1 && l.pad[1] == 0 && l.bias == 0 &&
	       l.weight_init.type == CNN_INIT_XAVIER,
	   "configure conv2d: filters, kernel [h, w], stride, padding, bias, "
	   "init (%s)",
	   st ? err.message : "ok");

	st = configure_yaml(&l, "type: conv2d\nkernel: 3\n", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.path, "filters"),
	   "configure conv2d: filters is required: \"%s: %s\"", err.path,
	   err.message);

	st = configure_yaml(
	    &l, "type: conv2d\nfilters: 2\nkernel: 3\nunits: 4\n", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "units") &&
	       err.line == 4,
	   "configure conv2d: unknown key at its line: \"%s\"", err.message);

	st = configure_yaml(&l, "type: maxpool\nsize: [3, 2]\nname: p\n", &err);
	good = st == CNN_OK && l.kernel[0] == 3 && l.kernel[1] == 2 &&
	       l.stride[0] == 3 && l.stride[1] == 2;
	st = configure_yaml(&l, "type: maxpool\nsize: 2\nstride: 1\n", &err);
	good &= st == CNN_OK && l.kernel[0] == 2 && l.stride[0] == 1;
	ok(good, "configure maxpool: stride defaults to size");

	st = configure_yaml(&l, "type: dense\nunits: 10\n", &err);
	good = st == CNN_OK && l.units == 10 && l.bias == 1;
	st = configure_yaml(&l, "type: dense\nunits: 0\n", &err);
	good &= st == CNN_ERR_CONFIG;
	st = configure_yaml(&l, "type: dense\n", &err);
	good &= st == CNN_ERR_CONFIG && strstr(err.path, "units");
	ok(good, "configure dense: units required and positive");

	st = configure_yaml(&l, "type: relu\nname: r1\n", &err);
	good = st == CNN_OK;
	st = configure_yaml(&l, "type: softmax\nunits: 3\n", &err);
	good &= st == CNN_ERR_CONFIG;
	st = configure_yaml(&l, "type: flatten\n", &err);
	good &= st == CNN_OK;
	ok(good, "configure relu, softmax, flatten: no keys but type and "
	         "name");
}

static void test_registry(void)
{
	static const char *const names[] = {
	    "conv2d",     "relu",      "maxpool", "flatten",
	    "dense",      "softmax",   "sigmoid", "tanh",
	    "leaky_relu", "elu",       "avgpool", "global_avgpool",
	    "dropout",    "batchnorm", "add",     "concat"};
	int good = 1;

	/* every kind has its own keys, and one forward/backward pair: single
	 * input, or merge */
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const cnn_layer_ops *ops = cnn_layer_find(names[i]);

		good &= ops && !strcmp(ops->type, names[i]) && ops->configure &&
		        ops->infer &&
		        (ops->max_inputs > 1
		             ? ops->forward_n && ops->backward_n &&
		                   !ops->forward && !ops->backward
		             : ops->forward && ops->backward &&
		                   !ops->forward_n && !ops->backward_n);
	}
	good &= cnn_layer_find("conv") == NULL && cnn_layer_find(NULL) == NULL;
	ok(good, "registry: every kind found under its own type");
	ok(!strcmp(cnn_layer_types(),
	           "conv2d, relu, maxpool, flatten, dense, softmax, sigmoid, "
	           "tanh, leaky_relu, elu, avgpool, global_avgpool, dropout, "
	           "batchnorm, add, concat"),
	   "registry: types listed \"%s\"", cnn_layer_types());
}

int main(void)
{
	const char *keep;

	plan_no_plan();
	cnn_rng_seed(&rng, 2024);
	test_kernel_choice();
	keep = cnn_kernels_name();
	test_rng();
	test_im2col();
	for (int v = 0; v < N_VARIANTS; v++) {
		if (!cnn_kernels_use(variants[v]))
			continue;
		variant = variants[v];
		test_gemm();
		test_repeat();
		test_conv();
		test_dense();
		test_maxpool();
		test_pool_relu();
		test_relu_flatten_softmax();
		test_scale_bytes();
		test_col_sums();
		test_gemm_chunks();
		test_dropout_kernel();
		test_bn_lanes();
	}
	test_conv_wide_cost();
	cnn_kernels_use(keep);
	test_variants();
	test_infer_errors();
	test_configure();
	test_registry();
	return done();
}

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
#include "internal.h"
#include "kernels.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static cnn_rng rng;

/* libgomp's pooled threads keep their TLS blocks until exit, which valgrind
 * reports as "possibly lost". Under valgrind (seen from its preloaded
 * library) the tests therefore run on one thread and skip the thread-count
 * comparisons; every code path but the OpenMP runtime is still exercised. */
static int threads_ok;

static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

static float *falloc(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof(float));

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(99);
	}
	return p;
}

static void fill(float *a, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(lo + (hi - lo) * cnn_rng_uniform(&rng));
}

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
				ok(good,
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
		ok(good, "gemm with K = 0 scales C by beta");
	}
}

/* cnn_gemm bit-identical whatever the thread count, and to the serial one. */
static void test_gemm_threads(void)
{
	int M = 130, N = 70, K = 301;
	float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N);
	float *C1 = falloc((size_t)M * N), *C2 = falloc((size_t)M * N);
	int same = 1;

	fill(A, (size_t)M * K, -1, 1);
	fill(B, (size_t)K * N, -1, 1);
	for (int tb = 0; tb < 2; tb++) {
		int ldb = tb ? K : N;

		cnn_gemm_serial(0, tb, M, N, K, A, K, B, ldb, 0.0f, C1, N);
#ifdef _OPENMP
		for (int t = 1; t <= (threads_ok ? 3 : 1); t++) {
			omp_set_num_threads(t);
			cnn_gemm(0, tb, M, N, K, A, K, B, ldb, 0.0f, C2, N);
			same &= !memcmp(C1, C2, sizeof(float) * M * N);
		}
		omp_set_num_threads(threads_ok ? 2 : 1);
#else
		cnn_gemm(0, tb, M, N, K, A, K, B, ldb, 0.0f, C2, N);
		same &= !memcmp(C1, C2, sizeof(float) * M * N);
#endif
	}
	ok(same, "gemm: bit-identical with 1, 2, 3 threads and serial%s",
	   threads_ok ? "" : " # SKIP threads under valgrind");
	free(A);
	free(B);
	free(C1);
	free(C2);
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
/* Layer harness                                                            */

/* Shape inference, then parameters allocated and filled in [-0.5, 0.5]. */
static int layer_setup(cnn_layer *l, const cnn_layer_ops *ops, int c, int h,
                       int w)
{
	cnn_error err;

	cnn_err_clear(&err);
	l->ops = ops;
	l->in_shape[0] = c;
	l->in_shape[1] = h;
	l->in_shape[2] = w;
	if (ops->infer(l, ops->type, &err) != CNN_OK) {
		diag("infer failed: %s", err.message);
		return 0;
	}
	l->w = falloc(l->n_weight);
	l->b = falloc(l->n_bias);
	l->dw = falloc(l->n_weight);
	l->db = falloc(l->n_bias);
	fill(l->w, l->n_weight, -0.5, 0.5);
	fill(l->b, l->n_bias, -0.5, 0.5);
	return 1;
}

static void layer_free(cnn_layer *l)
{
	free(l->w);
	free(l->b);
	free(l->dw);
	free(l->db);
	l->w = l->b = l->dw = l->db = NULL;
}

/* A zeroed layer with the caller's defaults (bias, stride 1, no padding). */
static void layer_defaults(cnn_layer *l)
{
	memset(l, 0, sizeof *l);
	l->bias = 1;
	l->stride[0] = l->stride[1] = 1;
}

static cnn_layer conv_layer(int filters, int kh, int kw, int sh, int sw, int ph,
                            int pw, int bias)
{
	cnn_layer l;

	layer_defaults(&l);
	l.filters = filters;
	l.kernel[0] = kh;
	l.kernel[1] = kw;
	l.stride[0] = sh;
	l.stride[1] = sw;
	l.pad[0] = ph;
	l.pad[1] = pw;
	l.bias = bias;
	return l;
}

static size_t workspace_of(const cnn_layer *l, int n)
{
	return l->ops->workspace ? l->ops->workspace(l, n) : 0;
}

/* L = sum(y * r), y = forward(x). */
static double loss(cnn_layer *l, const float *x, const float *r, float *y,
                   int n, float *ws)
{
	double s = 0;

	l->ops->forward(l, x, y, n, ws);
	for (size_t i = 0; i < (size_t)n * l->out_size; i++)
		s += (double)y[i] * r[i];
	return s;
}

/* Central differences of L with respect to p[0..count). */
static void finite_diff(cnn_layer *l, const float *x, const float *r, float *y,
                        int n, float *ws, float *p, size_t count, double h,
                        double *fd)
{
	for (size_t i = 0; i < count; i++) {
		float keep = p[i];
		double lp, lm;

		p[i] = (float)(keep + h);
		lp = loss(l, x, r, y, n, ws);
		p[i] = (float)(keep - h);
		lm = loss(l, x, r, y, n, ws);
		p[i] = keep;
		fd[i] = (lp - lm) / (2 * h);
	}
}

/* ||a - b|| / max(||a||, ||b||), 0 for two zero vectors. */
static double rel_err(const float *a, const double *b, size_t n)
{
	double d = 0, na = 0, nb = 0;

	for (size_t i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		na += (double)a[i] * a[i];
		nb += b[i] * b[i];
	}
	if (na == 0 && nb == 0)
		return 0;
	return sqrt(d) / sqrt(na > nb ? na : nb);
}

#define GRAD_TOL 1e-2

/* Checks backward (dx, dw, db) of a set-up layer against finite differences
 * at input x (n samples). For layers with weights also checks that dx ==
 * NULL gives the same dw and db, and that gradients accumulate. */
static void grad_check(const char *name, cnn_layer *l, float *x, int n,
                       double h)
{
	size_t nin = (size_t)n * l->in_size, nout = (size_t)n * l->out_size;
	size_t nws = workspace_of(l, n);
	float *y = falloc(nout), *y2 = falloc(nout), *r = falloc(nout);
	float *dx = falloc(nin), *ws = falloc(nws);
	float *dw1 = falloc(l->n_weight), *db1 = falloc(l->n_bias);
	size_t most = nin > l->n_weight ? nin : l->n_weight;
	double *fd = malloc(sizeof(double) * (most ? most : 1));
	double e;

	fill(r, nout, -1, 1);
	memset(l->dw, 0, sizeof(float) * l->n_weight);
	memset(l->db, 0, sizeof(float) * l->n_bias);
	for (size_t i = 0; i < nin; i++)
		dx[i] = NAN; /* backward overwrites dx */
	l->ops->forward(l, x, y, n, ws);
	l->ops->backward(l, x, y, r, dx, n, ws);

	finite_diff(l, x, r, y2, n, ws, x, nin, h, fd);
	e = rel_err(dx, fd, nin);
	ok(e < GRAD_TOL, "%s: dx matches finite differences (rel err %.2g)",
	   name, e);
	if (l->n_weight) {
		finite_diff(l, x, r, y2, n, ws, l->w, l->n_weight, h, fd);
		e = rel_err(l->dw, fd, l->n_weight);
		ok(e < GRAD_TOL,
		   "%s: dw matches finite differences (rel err %.2g)", name, e);
	}
	if (l->n_bias) {
		finite_diff(l, x, r, y2, n, ws, l->b, l->n_bias, h, fd);
		e = rel_err(l->db, fd, l->n_bias);
		ok(e < GRAD_TOL,
		   "%s: db matches finite differences (rel err %.2g)", name, e);
	}
	if (l->n_weight) {
		int same, acc = 1;

		memcpy(dw1, l->dw, sizeof(float) * l->n_weight);
		memcpy(db1, l->db, sizeof(float) * l->n_bias);
		memset(l->dw, 0, sizeof(float) * l->n_weight);
		memset(l->db, 0, sizeof(float) * l->n_bias);
		l->ops->backward(l, x, y, r, NULL, n, ws);
		same = !memcmp(dw1, l->dw, sizeof(float) * l->n_weight) &&
		       !memcmp(db1, l->db, sizeof(float) * l->n_bias);
		l->ops->backward(l, x, y, r, NULL, n, ws);
		/* twice the gradient, up to rounding relative to its size */
		for (size_t i = 0; i < l->n_weight; i++) {
			fd[i] = 2.0 * dw1[i];
			acc &=
			    fabs(l->dw[i] - fd[i]) <= 1e-4 * (fabs(fd[i]) + 1);
		}
		acc &= rel_err(l->dw, fd, l->n_weight) < 1e-5;
		for (size_t i = 0; i < l->n_bias; i++) {
			fd[i] = 2.0 * db1[i];
			acc &=
			    fabs(l->db[i] - fd[i]) <= 1e-4 * (fabs(fd[i]) + 1);
		}
		acc &= rel_err(l->db, fd, l->n_bias) < 1e-5;
		ok(same && acc,
		   "%s: dx == NULL gives the same dw, db; they "
		   "accumulate",
		   name);
	}
	free(y);
	free(y2);
	free(r);
	free(dx);
	free(ws);
	free(dw1);
	free(db1);
	free(fd);
}

/* A random input of n samples for l. */
static float *input(const cnn_layer *l, int n)
{
	float *x = falloc((size_t)n * l->in_size);

	fill(x, (size_t)n * l->in_size, -1, 1);
	return x;
}

/* ======================================================================== */
/* Layers                                                                   */

static void conv_case(const char *name, int c, int h, int w, cnn_layer l, int n)
{
	float *x;

	if (!ok(layer_setup(&l, &cnn_layer_conv2d, c, h, w), "%s: infer", name))
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

	if (!ok(layer_setup(&l, &cnn_layer_conv2d, c, h, w), "%s: infer", name))
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
		cnn_gemm_serial(0, 0, f_n, oh * ow, ckk, l.w, ckk, col, oh * ow,
		                l.bias ? 1.0f : 0.0f, y2, oh * ow);
		same &= !memcmp(y2, ys, sizeof(float) * l.out_size);
	}
	ok(worst < 1e-5 && same,
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

	/* a batch larger than the number of groups, weights only */
	l = conv_layer(2, 3, 3, 1, 1, 1, 1, 1);
	if (layer_setup(&l, &cnn_layer_conv2d, 1, 5, 5)) {
		int n = CNN_SLOTS + 5;
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
		ok(e < GRAD_TOL,
		   "conv2d batch of %d (groups of samples): dw, "
		   "db match finite differences (%.2g)",
		   n, e);
		free(x);
		free(r);
		free(y);
		free(ws);
		layer_free(&l);
	}

	conv_reference("conv2d 3x2 stride 2x1 padding 1x0 (columns path)", 2, 6,
	               5, conv_layer(3, 3, 2, 2, 1, 1, 0, 1));
	conv_reference("conv2d 3x3 stride 1 padding 1 (shifted path)", 3, 7, 6,
	               conv_layer(5, 3, 3, 1, 1, 1, 1, 1));
	conv_reference("conv2d 1x5 stride 1 on width 6 (columns path)", 2, 4, 6,
	               conv_layer(2, 1, 5, 1, 1, 0, 0, 0));
	conv_case("conv2d C=2 1x5 s1 on width 6 (columns path)", 2, 4, 6,
	          conv_layer(3, 1, 5, 1, 1, 0, 0, 1), 3);
}

/* Conv forward and backward are bit-identical with 1, 2 and 3 threads. */
static void test_conv_threads(void)
{
#ifdef _OPENMP
	cnn_layer l = conv_layer(4, 3, 3, 1, 1, 1, 1, 1);
	int n = 37, same = 1;
	float *x, *y[3], *dx[3], *dw[3], *db[3], *dy, *ws;

	if (!threads_ok) {
		ok(1,
		   "conv2d thread determinism # SKIP threads under valgrind");
		return;
	}
	if (!layer_setup(&l, &cnn_layer_conv2d, 3, 14, 14))
		return;
	x = input(&l, n);
	dy = falloc((size_t)n * l.out_size);
	fill(dy, (size_t)n * l.out_size, -1, 1);
	ws = falloc(workspace_of(&l, n));
	free(l.dw);
	free(l.db);
	for (int t = 0; t < 3; t++) {
		omp_set_num_threads(t + 1);
		y[t] = falloc((size_t)n * l.out_size);
		dx[t] = falloc((size_t)n * l.in_size);
		dw[t] = falloc(l.n_weight);
		db[t] = falloc(l.n_bias);
		l.dw = dw[t];
		l.db = db[t];
		l.ops->forward(&l, x, y[t], n, ws);
		l.ops->backward(&l, x, y[t], dy, dx[t], n, ws);
	}
	omp_set_num_threads(2);
	for (int t = 1; t < 3; t++) {
		same &= !memcmp(y[0], y[t], sizeof(float) * n * l.out_size);
		same &= !memcmp(dx[0], dx[t], sizeof(float) * n * l.in_size);
		same &= !memcmp(dw[0], dw[t], sizeof(float) * l.n_weight);
		same &= !memcmp(db[0], db[t], sizeof(float) * l.n_bias);
	}
	ok(same, "conv2d forward/backward bit-identical with 1, 2, 3 threads");
	for (int t = 0; t < 3; t++) {
		free(y[t]);
		free(dx[t]);
		free(dw[t]);
		free(db[t]);
	}
	l.dw = l.db = NULL;
	layer_free(&l);
	free(x);
	free(dy);
	free(ws);
#else
	ok(1, "conv2d thread determinism # SKIP built without OpenMP");
#endif
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
		if (!ok(layer_setup(&l, &cnn_layer_dense, 2, 3, 2), "%s: infer",
		        name))
			continue;
		ok(l.out_shape[0] == 5 && l.out_shape[1] == 1 &&
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
	if (!ok(layer_setup(&l, &cnn_layer_maxpool, c, h, w), "%s: infer",
	        name))
		return;
	ok(l.out_shape[0] == c && l.out_shape[1] == oh_want &&
	       l.out_shape[2] == (w - k) / s + 1,
	   "%s: output %dx%dx%d", name, l.out_shape[0], l.out_shape[1],
	   l.out_shape[2]);
	x = distinct_input(&l, 3);
	grad_check(name, &l, x, 3, 1e-3);
	free(x);
	layer_free(&l);
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
		ok(!memcmp(dx, want, sizeof want) && y[0] == 1.0f,
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
		ok(!memcmp(dx, want, sizeof want) && y[0] == 5 && y[3] == 5,
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
		ok(!memcmp(dx, want, sizeof want) && y[0] == 3 && y[1] == 3 &&
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
	if (ok(layer_setup(&l, &cnn_layer_relu, 2, 3, 4), "relu: infer")) {
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
			ok(good, "relu: y = max(x, 0)");
			free(y);
		}
		free(x);
		layer_free(&l);
	}

	layer_defaults(&l);
	if (ok(layer_setup(&l, &cnn_layer_flatten, 2, 3, 4),
	       "flatten: infer")) {
		ok(l.out_shape[0] == 24 && l.out_shape[1] == 1 &&
		       l.out_shape[2] == 1 && l.out_size == 24 &&
		       l.n_weight == 0,
		   "flatten: 2x3x4 -> 24x1x1");
		x = input(&l, 3);
		grad_check("flatten", &l, x, 3, 1e-2);
		free(x);
		layer_free(&l);
	}

	layer_defaults(&l);
	if (ok(layer_setup(&l, &cnn_layer_softmax, 7, 1, 1),
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
		ok(good && fabs(s0 - 1) < 1e-6 && fabs(s1 - 1) < 1e-6 &&
		       y[6] > y[5],
		   "softmax: stable for inputs of +-1000, rows sum to 1");
		free(x);
		layer_free(&l);
	}
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

/* configure() on a layer parsed from YAML text; returns its status. */
static cnn_status configure_yaml(cnn_layer *l, const char *yaml, cnn_error *err)
{
	cnn_tree tree;
	const cnn_layer_ops *ops;
	cnn_status st;
	cnn_node *type;

	layer_defaults(l);
	cnn_err_clear(err);
	if ((st = cnn_tree_parse(&tree, yaml, strlen(yaml), "layer.yaml", err)))
		return st;
	type = cnn_map_get(tree.root, "type");
	ops = type ? cnn_layer_find(type->value) : NULL;
	if (!ops) {
		cnn_tree_free(&tree);
		return CNN_ERR_USAGE;
	}
	l->ops = ops;
	l->node = tree.root;
	st = ops->configure(l, ops->type, err);
	l->node = NULL;
	cnn_tree_free(&tree);
	return st;
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
	static const char *const names[] = {"conv2d",  "relu",  "maxpool",
	                                    "flatten", "dense", "softmax"};
	int good = 1;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const cnn_layer_ops *ops = cnn_layer_find(names[i]);

		good &= ops && !strcmp(ops->type, names[i]) && ops->configure &&
		        ops->infer && ops->forward && ops->backward;
	}
	good &= cnn_layer_find("conv") == NULL && cnn_layer_find(NULL) == NULL;
	ok(good, "registry: every kind found under its own type");
	ok(!strcmp(cnn_layer_types(),
	           "conv2d, relu, maxpool, flatten, dense, softmax"),
	   "registry: types listed \"%s\"", cnn_layer_types());
}

int main(void)
{
	plan_no_plan();
	cnn_rng_seed(&rng, 2024);
	threads_ok = !under_valgrind();
#ifdef _OPENMP
	omp_set_num_threads(threads_ok ? 2 : 1);
#endif
	test_rng();
	test_gemm();
	test_gemm_threads();
	test_im2col();
	test_conv();
	test_conv_threads();
	test_dense();
	test_maxpool();
	test_relu_flatten_softmax();
	test_infer_errors();
	test_configure();
	test_registry();
	return done();
}

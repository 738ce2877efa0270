/*
 * kernels.c - all the hot loops of libcnn: matrix products, im2col and its
 * adjoint, the convolution built from them, ReLU, max pooling and softmax.
 *
 * Invariants
 *  - Row-major float buffers; nothing here allocates: scratch comes from the
 *    caller (the layer workspace).
 *  - Deterministic whatever the number of OpenMP threads: threads only ever
 *    split the *outputs* (tiles of C, samples, planes, weight entries), never
 *    a sum, and every output element is computed in an order of operations
 *    fixed by the code and the sizes alone. Batch reductions go through the
 *    fixed sample groups of cnn_slots() (see kernels.h).
 *  - Portable C11 plus, with GCC or Clang, 16-byte vector extensions (plain
 *    structs otherwise); the two paths round identically, lane by lane.
 */
#include "kernels.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ======================================================================== */
/* Four-float vectors                                                       */

#if defined(__GNUC__)
typedef float v4 __attribute__((vector_size(16)));

static inline v4 v4_load(const float *p)
{
	v4 v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline void v4_store(float *p, v4 v)
{
	memcpy(p, &v, sizeof v);
}

static inline v4 v4_splat(float a)
{
	v4 v = {a, a, a, a};

	return v;
}

static inline v4 v4_zero(void)
{
	v4 v = {0, 0, 0, 0};

	return v;
}

/* acc + a * b, rounded after the product and after the sum. */
static inline v4 v4_madd(v4 acc, v4 a, v4 b)
{
	return acc + a * b;
}

static inline v4 v4_add(v4 a, v4 b)
{
	return a + b;
}

static inline float v4_get(v4 v, int i)
{
	return v[i];
}

/* v where x > 0, else +0 (NaN in x gives 0, as x > 0 is false). */
static inline v4 v4_where_positive(v4 x, v4 v)
{
	typedef int v4i __attribute__((vector_size(16)));
	v4i keep = x > v4_zero();

	return (v4)((v4i)v & keep);
}
#else
typedef struct v4 {
	float f[4];
} v4;

static inline v4 v4_load(const float *p)
{
	v4 v;

	memcpy(v.f, p, sizeof v.f);
	return v;
}

static inline void v4_store(float *p, v4 v)
{
	memcpy(p, v.f, sizeof v.f);
}

static inline v4 v4_splat(float a)
{
	v4 v = {{a, a, a, a}};

	return v;
}

static inline v4 v4_zero(void)
{
	return v4_splat(0.0f);
}

static inline v4 v4_madd(v4 acc, v4 a, v4 b)
{
	for (int i = 0; i < 4; i++) {
		float p = a.f[i] * b.f[i];

		acc.f[i] = acc.f[i] + p;
	}
	return acc;
}

static inline v4 v4_add(v4 a, v4 b)
{
	for (int i = 0; i < 4; i++)
		a.f[i] = a.f[i] + b.f[i];
	return a;
}

static inline float v4_get(v4 v, int i)
{
	return v.f[i];
}

static inline v4 v4_where_positive(v4 x, v4 v)
{
	for (int i = 0; i < 4; i++)
		v.f[i] = x.f[i] > 0.0f ? v.f[i] : 0.0f;
	return v;
}
#endif

/* The sum of eight lanes held as lo (lanes 0-3) and hi (lanes 4-7), in a
 * fixed tree: ((l0 + h0) + (l1 + h1)) + ((l2 + h2) + (l3 + h3)). */
static inline float hsum8(v4 lo, v4 hi)
{
	v4 s = v4_add(lo, hi);

	return (v4_get(s, 0) + v4_get(s, 1)) + (v4_get(s, 2) + v4_get(s, 3));
}

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* Full unrolling of the short constant loops of the register blocks (over
 * rows r < mr and vectors v < nv), which GCC -O2 would otherwise leave as
 * loops over accumulators in memory. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 8")
#else
#define UNROLL
#endif

/* An OpenMP parallel loop over independent outputs when cond holds; nothing
 * without OpenMP. */
#ifdef _OPENMP
#define CNN_PRAGMA(x) _Pragma(#x)
#define PARALLEL_FOR_IF(cond)                                                  \
	CNN_PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define PARALLEL_FOR_IF(cond)
#endif

static inline int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* ======================================================================== */
/* Batch slots                                                              */

int cnn_slots(int n)
{
	if (n < 1)
		return 1;
	return n < CNN_SLOTS ? n : CNN_SLOTS;
}

void cnn_slot_range(int n, int slots, int j, int *s0, int *s1)
{
	*s0 = (int)((long long)n * j / slots);
	*s1 = (int)((long long)n * (j + 1) / slots);
}

/* ======================================================================== */
/* GEMM                                                                     */
/*
 * C (M x N) = beta * C + A' B'. Two shapes of inner loop:
 *  - tb == 0 ("axpy"): B' rows are contiguous, so a register block of mr
 *    rows x 32 / mr columns of C (mr = 4, 2, 1) accumulates over k with
 *    vector loads of B. Every C element receives its products one k at a
 *    time, in increasing k, onto beta * C (or 0): the same order as the
 *    naive triple loop, whatever the blocking.
 *  - tb == 1, ta == 0 ("dot"): both A rows and B rows are contiguous along
 *    k, so each element is a dot product accumulated in eight lanes
 *    (k mod 8), summed by hsum8, then the k tail in order, then added onto
 *    beta * C.
 *  - ta == 1, tb == 1: rare; a plain strided dot in increasing k.
 * The work is cut into tiles of C (rows x columns), the unit of threading.
 */

typedef struct gemm_args {
	int M, N, K;
	const float *A;
	size_t ars, acs; /* A'(i, k) = A[i * ars + k * acs] */
	const float *B;
	size_t ldb; /* B row stride (tb == 0: B'(k, j); tb == 1: B'(j, k)) */
	int ta, tb;
	float beta;
	float *C;
	size_t ldc;
} gemm_args;

#define GEMM_MC       32         /* rows of C per tile */
#define GEMM_NC       256        /* columns of C per tile (axpy kernel) */
#define GEMM_KC       256        /* depth per pass over a tile (axpy kernel) */
#define GEMM_PAR_WORK (1L << 18) /* multiply-adds worth a parallel region */

/* Rows [i, i + mr) x columns [j, j + 4 * nv) of C over k in [k0, k1), axpy
 * form, in mr x nv vector accumulators. zero: start from 0 instead of the
 * current C. mr and nv are constants at every call (mr * nv <= 8), so the
 * accumulators stay in registers, and eight of them hide the adder latency. */
ALWAYS_INLINE void axpy_block(const gemm_args *g, int mr, int nv, int i, int j,
                              int k0, int k1, int zero)
{
	const float *A = g->A;
	const float *B = g->B;
	size_t ars = g->ars, acs = g->acs, ldb = g->ldb, ldc = g->ldc;
	v4 c[4][8];

	UNROLL
	for (int r = 0; r < mr; r++) {
		const float *cr = g->C + (size_t)(i + r) * ldc + j;

		UNROLL
		for (int v = 0; v < nv; v++)
			c[r][v] = zero ? v4_zero() : v4_load(cr + 4 * v);
	}
	for (int k = k0; k < k1; k++) {
		const float *b = B + (size_t)k * ldb + j;
		v4 bv[8];

		UNROLL
		for (int v = 0; v < nv; v++)
			bv[v] = v4_load(b + 4 * v);
		UNROLL
		for (int r = 0; r < mr; r++) {
			v4 a = v4_splat(
			    A[(size_t)(i + r) * ars + (size_t)k * acs]);

			UNROLL
			for (int v = 0; v < nv; v++)
				c[r][v] = v4_madd(c[r][v], a, bv[v]);
		}
	}
	UNROLL
	for (int r = 0; r < mr; r++) {
		float *cr = g->C + (size_t)(i + r) * ldc + j;

		UNROLL
		for (int v = 0; v < nv; v++)
			v4_store(cr + 4 * v, c[r][v]);
	}
}

/* Rows [i, i + mr) x columns [j0, j1): blocks of 32 / mr columns, then of 4,
 * then single columns, each element summed over k in increasing order. */
ALWAYS_INLINE void axpy_rows(const gemm_args *g, int mr, int i, int j0, int j1,
                             int k0, int k1, int zero)
{
	const int nv = 8 / mr;
	int j = j0;

	for (; j + 4 * nv <= j1; j += 4 * nv)
		axpy_block(g, mr, nv, i, j, k0, k1, zero);
	for (; j + 4 <= j1; j += 4)
		axpy_block(g, mr, 1, i, j, k0, k1, zero);
	for (; j < j1; j++) {
		for (int r = 0; r < mr; r++) {
			float *cr = g->C + (size_t)(i + r) * g->ldc + j;
			float s = zero ? 0.0f : *cr;

			for (int k = k0; k < k1; k++) {
				float p = g->A[(size_t)(i + r) * g->ars +
				               (size_t)k * g->acs] *
				          g->B[(size_t)k * g->ldb + j];

				s = s + p;
			}
			*cr = s;
		}
	}
}

/* One tile of C, rows [i0, i1) x columns [j0, j1), for tb == 0. */
static void axpy_tile(const gemm_args *g, int i0, int i1, int j0, int j1)
{
	int K = g->K;

	if (g->beta != 0.0f && g->beta != 1.0f) {
		for (int i = i0; i < i1; i++)
			for (int j = j0; j < j1; j++)
				g->C[(size_t)i * g->ldc + j] *= g->beta;
	}
	if (K == 0 && g->beta == 0.0f) {
		for (int i = i0; i < i1; i++)
			memset(g->C + (size_t)i * g->ldc + j0, 0,
			       (size_t)(j1 - j0) * sizeof(float));
		return;
	}
	for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
		int k1 = min_int(K, k0 + GEMM_KC);
		int zero = k0 == 0 && g->beta == 0.0f;
		int i = i0;

		for (; i + 4 <= i1; i += 4)
			axpy_rows(g, 4, i, j0, j1, k0, k1, zero);
		if (i + 2 <= i1) {
			axpy_rows(g, 2, i, j0, j1, k0, k1, zero);
			i += 2;
		}
		if (i < i1)
			axpy_rows(g, 1, i, j0, j1, k0, k1, zero);
	}
}

/* beta * c + s, with beta 0 meaning "ignore c" (even if it is NaN). */
static inline float with_beta(float beta, float c, float s)
{
	if (beta == 0.0f)
		return s;
	if (beta == 1.0f)
		return c + s;
	return beta * c + s;
}

/* Dot products of rows a0, a1 with rows b0, b1 (length K), eight lanes each:
 * out = {a0.b0, a0.b1, a1.b0, a1.b1}. With rows == 1 or cols == 1 the missing
 * rows are not read. */
ALWAYS_INLINE void dot_block(int rows, int cols, int K, const float *a0,
                             const float *a1, const float *b0, const float *b1,
                             float out[4])
{
	v4 acc[4][2];
	int k = 0;

	for (int t = 0; t < 4; t++)
		acc[t][0] = acc[t][1] = v4_zero();
	for (; k + 8 <= K; k += 8) {
		v4 x0l = v4_load(a0 + k), x0h = v4_load(a0 + k + 4);
		v4 y0l = v4_load(b0 + k), y0h = v4_load(b0 + k + 4);

		acc[0][0] = v4_madd(acc[0][0], x0l, y0l);
		acc[0][1] = v4_madd(acc[0][1], x0h, y0h);
		if (cols == 2) {
			v4 y1l = v4_load(b1 + k), y1h = v4_load(b1 + k + 4);

			acc[1][0] = v4_madd(acc[1][0], x0l, y1l);
			acc[1][1] = v4_madd(acc[1][1], x0h, y1h);
			if (rows == 2) {
				v4 x1l = v4_load(a1 + k);
				v4 x1h = v4_load(a1 + k + 4);

				acc[2][0] = v4_madd(acc[2][0], x1l, y0l);
				acc[2][1] = v4_madd(acc[2][1], x1h, y0h);
				acc[3][0] = v4_madd(acc[3][0], x1l, y1l);
				acc[3][1] = v4_madd(acc[3][1], x1h, y1h);
			}
		} else if (rows == 2) {
			v4 x1l = v4_load(a1 + k), x1h = v4_load(a1 + k + 4);

			acc[2][0] = v4_madd(acc[2][0], x1l, y0l);
			acc[2][1] = v4_madd(acc[2][1], x1h, y0h);
		}
	}
	for (int t = 0; t < 4; t++) {
		const float *a = t < 2 ? a0 : a1;
		const float *b = (t & 1) ? b1 : b0;
		float s;

		if ((t >= 2 && rows < 2) || ((t & 1) && cols < 2)) {
			out[t] = 0.0f;
			continue;
		}
		s = hsum8(acc[t][0], acc[t][1]);
		for (int kk = k; kk < K; kk++) {
			float p = a[kk] * b[kk];

			s = s + p;
		}
		out[t] = s;
	}
}

/* One tile of C for ta == 0, tb == 1 (dot products along contiguous k). */
static void dot_tile(const gemm_args *g, int i0, int i1, int j0, int j1)
{
	const float *A = g->A, *B = g->B;
	size_t lda = g->ars, ldb = g->ldb, ldc = g->ldc;
	int K = g->K;
	float out[4];

	for (int i = i0; i < i1; i += 2) {
		int rows = min_int(2, i1 - i);
		const float *a0 = A + (size_t)i * lda;
		const float *a1 = rows == 2 ? a0 + lda : a0;
		float *c0 = g->C + (size_t)i * ldc;
		float *c1 = c0 + ldc;

		for (int j = j0; j < j1; j += 2) {
			const float *b0 = B + (size_t)j * ldb;

			if (rows == 2 && j + 2 <= j1)
				dot_block(2, 2, K, a0, a1, b0, b0 + ldb, out);
			else if (rows == 2)
				dot_block(2, 1, K, a0, a1, b0, b0, out);
			else if (j + 2 <= j1)
				dot_block(1, 2, K, a0, a0, b0, b0 + ldb, out);
			else
				dot_block(1, 1, K, a0, a0, b0, b0, out);
			c0[j] = with_beta(g->beta, c0[j], out[0]);
			if (j + 1 < j1)
				c0[j + 1] =
				    with_beta(g->beta, c0[j + 1], out[1]);
			if (rows == 2) {
				c1[j] = with_beta(g->beta, c1[j], out[2]);
				if (j + 1 < j1)
					c1[j + 1] = with_beta(
					    g->beta, c1[j + 1], out[3]);
			}
		}
	}
}

/* One tile of C for ta == 1, tb == 1: C[i][j] = sum_k A[k][i] B[j][k]. */
static void tt_tile(const gemm_args *g, int i0, int i1, int j0, int j1)
{
	for (int i = i0; i < i1; i++) {
		for (int j = j0; j < j1; j++) {
			const float *b = g->B + (size_t)j * g->ldb;
			float *c = g->C + (size_t)i * g->ldc + j;
			float s = 0.0f;

			for (int k = 0; k < g->K; k++) {
				float p = g->A[(size_t)k * g->acs + i] * b[k];

				s = s + p;
			}
			*c = with_beta(g->beta, *c, s);
		}
	}
}

/* Columns of C per tile for the dot kernels: keeps a tile's rows of B within
 * about 128 KiB. */
static int dot_tile_cols(int K)
{
	int nc = 32768 / (K > 0 ? K : 1);

	if (nc < 4)
		nc = 4;
	if (nc > GEMM_NC)
		nc = GEMM_NC;
	return nc;
}

/* Runs tile t (of mt row tiles x nt column tiles, row tile fastest). */
static void gemm_tile(const gemm_args *g, int mt, int nc, int t)
{
	int ti = t % mt, tj = t / mt;
	int i0 = ti * GEMM_MC, i1 = min_int(g->M, i0 + GEMM_MC);
	int j0 = tj * nc, j1 = min_int(g->N, j0 + nc);

	if (!g->tb)
		axpy_tile(g, i0, i1, j0, j1);
	else if (!g->ta)
		dot_tile(g, i0, i1, j0, j1);
	else
		tt_tile(g, i0, i1, j0, j1);
}

/* Contract: see cnn_gemm in internal.h; parallel != 0 lets it use threads
 * (over tiles of C) when the product is large enough and no parallel region
 * is active. */
static void gemm(int parallel, int ta, int tb, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc)
{
	gemm_args g;
	int nc, mt, nt, tiles;

	if (M <= 0 || N <= 0)
		return;
	g.M = M;
	g.N = N;
	g.K = K < 0 ? 0 : K;
	g.A = A;
	g.ars = ta ? 1 : (size_t)lda;
	g.acs = ta ? (size_t)lda : 1;
	g.B = B;
	g.ldb = (size_t)ldb;
	g.ta = ta != 0;
	g.tb = tb != 0;
	g.beta = beta;
	g.C = C;
	g.ldc = (size_t)ldc;

	nc = g.tb ? dot_tile_cols(g.K) : GEMM_NC;
	mt = (M + GEMM_MC - 1) / GEMM_MC;
	nt = (N + nc - 1) / nc;
	tiles = mt * nt;
#ifdef _OPENMP
	if (parallel && tiles > 1 && omp_get_max_threads() > 1 &&
	    !omp_in_parallel() &&
	    (double)M * N * g.K >= (double)GEMM_PAR_WORK) {
#pragma omp parallel for schedule(static)
		for (int t = 0; t < tiles; t++)
			gemm_tile(&g, mt, nc, t);
		return;
	}
#else
	(void)parallel;
#endif
	for (int t = 0; t < tiles; t++)
		gemm_tile(&g, mt, nc, t);
}

void cnn_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
	gemm(1, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void cnn_gemm_serial(int ta, int tb, int M, int N, int K, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C,
                     int ldc)
{
	gemm(0, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void cnn_fill_rows(float *y, const float *b, int rows, int cols)
{
	for (int r = 0; r < rows; r++) {
		float *yr = y + (size_t)r * cols;

		if (b)
			memcpy(yr, b, (size_t)cols * sizeof(float));
		else
			memset(yr, 0, (size_t)cols * sizeof(float));
	}
}

void cnn_add_col_sums(const float *dy, int rows, int cols, float *db)
{
	for (int r = 0; r < rows; r++) {
		const float *d = dy + (size_t)r * cols;

		for (int c = 0; c < cols; c++)
			db[c] += d[c];
	}
}

/* ======================================================================== */
/* im2col / col2im                                                          */

/* Short copies and fills inline (rows of a feature map are tens of floats:
 * a libc call per row would cost more than the copy). */
static inline void copy_floats(float *dst, const float *src, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		v4_store(dst + i, v4_load(src + i));
	for (; i < n; i++)
		dst[i] = src[i];
}

static inline void zero_floats(float *dst, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		v4_store(dst + i, v4_zero());
	for (; i < n; i++)
		dst[i] = 0.0f;
}

/* dst[i] += src[i], i in increasing order (each element independent). */
static inline void add_floats(float *dst, const float *src, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		v4_store(dst + i, v4_add(v4_load(dst + i), v4_load(src + i)));
	for (; i < n; i++)
		dst[i] += src[i];
}

/* For kernel column j: the output columns [*lo, *hi) whose input column
 * ox * sw + j - pw lies inside [0, w). */
static void valid_cols(int w, int j, int sw, int pw, int ow, int *lo, int *hi)
{
	int d = j - pw; /* input column of output column 0 */
	int l = d >= 0 ? 0 : (-d + sw - 1) / sw;
	int h = w - d <= 0 ? 0 : (w - d + sw - 1) / sw;

	if (h > ow)
		h = ow;
	if (l > h)
		l = h;
	*lo = l;
	*hi = h;
}

/* col (C*KH*KW, OH*OW): col[(c*kh + i)*kw + j][oy*ow + ox] =
 * x[c][oy*sh + i - ph][ox*sw + j - pw], 0 outside the image. */
void cnn_im2col(const float *x, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *col)
{
	size_t p = (size_t)oh * ow;

	for (int ch = 0; ch < c; ch++) {
		const float *xc = x + (size_t)ch * h * w;

		for (int i = 0; i < kh; i++) {
			for (int j = 0; j < kw; j++) {
				float *row =
				    col + ((size_t)(ch * kh + i) * kw + j) * p;
				int lo, hi, d = j - pw;

				valid_cols(w, j, sw, pw, ow, &lo, &hi);
				for (int oy = 0; oy < oh; oy++) {
					float *r = row + (size_t)oy * ow;
					int iy = oy * sh + i - ph;
					const float *xr;

					if (iy < 0 || iy >= h) {
						zero_floats(r, ow);
						continue;
					}
					xr = xc + (size_t)iy * w;
					zero_floats(r, lo);
					if (sw == 1) {
						copy_floats(r + lo, xr + lo + d,
						            hi - lo);
					} else {
						for (int ox = lo; ox < hi; ox++)
							r[ox] = xr[ox * sw + d];
					}
					zero_floats(r + hi, ow - hi);
				}
			}
		}
	}
}

/* dx (C, H, W) = 0, then every column entry is added back where im2col took
 * it from (entries in the padding are dropped). Serial, fixed order. */
void cnn_col2im(const float *col, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *dx)
{
	size_t p = (size_t)oh * ow;

	memset(dx, 0, (size_t)c * h * w * sizeof(float));
	for (int ch = 0; ch < c; ch++) {
		float *xc = dx + (size_t)ch * h * w;

		for (int i = 0; i < kh; i++) {
			for (int j = 0; j < kw; j++) {
				const float *row =
				    col + ((size_t)(ch * kh + i) * kw + j) * p;
				int lo, hi, d = j - pw;

				valid_cols(w, j, sw, pw, ow, &lo, &hi);
				for (int oy = 0; oy < oh; oy++) {
					const float *r = row + (size_t)oy * ow;
					int iy = oy * sh + i - ph;
					float *xr;

					if (iy < 0 || iy >= h)
						continue;
					xr = xc + (size_t)iy * w;
					if (sw == 1) {
						add_floats(xr + lo + d, r + lo,
						           hi - lo);
					} else {
						for (int ox = lo; ox < hi; ox++)
							xr[ox * sw + d] +=
							    r[ox];
					}
				}
			}
		}
	}
}

/* ======================================================================== */
/* Convolution                                                              */
/*
 * Two ways to the same GEMM, Y (F, P) = W (F, C*KH*KW) X (C*KH*KW, P), per
 * sample, both summing over k = (c, i, j) in increasing order onto the bias:
 *
 *  - "columns": X is materialised by im2col in the slot's buffer and the
 *    products are cnn_gemm_serial calls. Any stride.
 *  - "shifted" (stride 1): with the input zero-padded to (C, HP, WP) and the
 *    output positions numbered p' = oy * WP + ox, row k of X is the
 *    contiguous run xpad[c][i][j + p'], read in place: no im2col. The
 *    positions with ox >= OW wrap into the next row; they are computed into
 *    a scratch (F, N'), N' = (OH - 1) * WP + OW, and dropped. Used when
 *    they are at most half the work.
 *
 * Both give bit-identical forward results. The weight gradient of each
 * sample is a set of dot products (lanes over positions) added into the
 * slot's partial sums; the input gradient W^T dY is scattered back in
 * increasing k, like col2im.
 */

static size_t round16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

/* The stride-1 in-place path applies (see above). */
static int conv_shifted(const cnn_conv_geom *g)
{
	long long wp = g->w + 2LL * g->pw;

	return g->sh == 1 && g->sw == 1 && 2LL * g->ow >= wp &&
	       (long long)g->oh * wp <= INT_MAX;
}

static int conv_padded(const cnn_conv_geom *g)
{
	return g->ph > 0 || g->pw > 0;
}

/* Floats of the parts of one slot's buffer. */
typedef struct conv_layout {
	size_t cols;  /* columns: im2col (C*KH*KW, P) */
	size_t xpad;  /* shifted: padded input (C, HP, WP), 0 if no padding */
	size_t dxpad; /* shifted: padded input gradient, 0 if no padding */
	size_t wide;  /* shifted: outputs or output gradients (F, N') */
	size_t part;  /* partial weight (F, C*KH*KW) and bias (F) gradients */
	size_t slot;  /* the sum */
} conv_layout;

static void conv_layout_of(const cnn_conv_geom *g, conv_layout *lay)
{
	size_t ckk = (size_t)g->c * g->kh * g->kw;
	size_t hp = (size_t)g->h + 2 * (size_t)g->ph;
	size_t wp = (size_t)g->w + 2 * (size_t)g->pw;

	memset(lay, 0, sizeof *lay);
	if (conv_shifted(g)) {
		if (conv_padded(g))
			lay->xpad = lay->dxpad =
			    round16((size_t)g->c * hp * wp);
		lay->wide = round16((size_t)g->f *
		                    ((size_t)(g->oh - 1) * wp + (size_t)g->ow));
	} else {
		lay->cols = round16(ckk * g->oh * g->ow);
	}
	lay->part = round16((size_t)g->f * ckk + g->f);
	lay->slot = lay->cols + lay->xpad + lay->dxpad + lay->wide + lay->part;
}

size_t cnn_conv_workspace(const cnn_conv_geom *g, int n)
{
	conv_layout lay;

	conv_layout_of(g, &lay);
	return (size_t)cnn_slots(n) * lay.slot;
}

/* Worth a parallel region: at least two groups and some real work. */
static inline int conv_parallel(const cnn_conv_geom *g, int n)
{
	double work = (double)n * g->f * g->c * g->kh * g->kw * g->oh * g->ow;

	return n > 1 && work >= (double)GEMM_PAR_WORK;
}

/* ------------------------------------------------------------------------ */
/* The columns path                                                         */

/* One sample: y (F, P) = W (F, CKK) col (CKK, P) + b. */
static void cols_forward(const cnn_conv_geom *g, const float *x, const float *w,
                         const float *b, float *y, float *col)
{
	int ckk = g->c * g->kh * g->kw, p = g->oh * g->ow;

	cnn_im2col(x, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph,
	           g->pw, g->oh, g->ow, col);
	if (b) {
		for (int f = 0; f < g->f; f++) {
			float *yf = y + (size_t)f * p;

			for (int i = 0; i < p; i++)
				yf[i] = b[f];
		}
	}
	cnn_gemm_serial(0, 0, g->f, p, ckk, w, ckk, col, p, b ? 1.0f : 0.0f, y,
	                p);
}

/* One sample: pdw (F, CKK) += dy (F, P) col^T; dx (C, H, W) = col2im(W^T dy)
 * if dx != NULL. */
static void cols_backward(const cnn_conv_geom *g, const float *x,
                          const float *w, const float *dy, float *pdw,
                          float *dx, float *col)
{
	int ckk = g->c * g->kh * g->kw, p = g->oh * g->ow;

	cnn_im2col(x, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph,
	           g->pw, g->oh, g->ow, col);
	/* col stored (CKK, P): the product with its transpose is tb = 1 */
	cnn_gemm_serial(0, 1, g->f, ckk, p, dy, p, col, p, 1.0f, pdw, ckk);
	if (!dx)
		return;
	/* dcol (CKK, P) = W^T (CKK, F) dy (F, P), W stored (F, CKK) */
	cnn_gemm_serial(1, 0, ckk, p, g->f, w, ckk, dy, p, 0.0f, col, p);
	cnn_col2im(col, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph,
	           g->pw, g->oh, g->ow, dx);
}

/* ------------------------------------------------------------------------ */
/* The shifted path (stride 1)                                              */

/* xp (C, HP, WP) = x (C, H, W) surrounded by zeros. */
static void pad_copy(const cnn_conv_geom *g, const float *x, float *xp)
{
	int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;

	for (int c = 0; c < g->c; c++) {
		float *pc = xp + (size_t)c * hp * wp;
		const float *xc = x + (size_t)c * g->h * g->w;

		zero_floats(pc, (size_t)g->ph * wp);
		for (int r = 0; r < g->h; r++) {
			float *pr = pc + (size_t)(r + g->ph) * wp;

			zero_floats(pr, g->pw);
			copy_floats(pr + g->pw, xc + (size_t)r * g->w, g->w);
			zero_floats(pr + g->pw + g->w, g->pw);
		}
		zero_floats(pc + (size_t)(g->ph + g->h) * wp,
		            (size_t)g->ph * wp);
	}
}

/* Filters [f, f + mr) x wide positions [p, p + 4 * nv): yw[f][p'] = b[f]
 * (or 0) + sum over (c, i, j) in order of w[f][c][i][j] * xp[c][i][j + p'].
 * mr and nv are constants at every call (mr * nv <= 8). */
ALWAYS_INLINE void shifted_block(const cnn_conv_geom *g, int mr, int nv, int f,
                                 int p, const float *xp, const float *w,
                                 const float *b, float *yw, size_t nw)
{
	int wp = g->w + 2 * g->pw, hp = g->h + 2 * g->ph;
	size_t plane = (size_t)hp * wp, ckk = (size_t)g->c * g->kh * g->kw;
	v4 acc[4][8];

	UNROLL
	for (int r = 0; r < mr; r++)
		UNROLL
	for (int v = 0; v < nv; v++)
		acc[r][v] = b ? v4_splat(b[f + r]) : v4_zero();
	for (int c = 0; c < g->c; c++) {
		for (int i = 0; i < g->kh; i++) {
			const float *xr = xp + c * plane + (size_t)i * wp + p;
			const float *wr = w + (size_t)f * ckk +
			                  ((size_t)c * g->kh + i) * g->kw;

			for (int j = 0; j < g->kw; j++) {
				v4 bv[8];

				UNROLL
				for (int v = 0; v < nv; v++)
					bv[v] = v4_load(xr + j + 4 * v);
				UNROLL
				for (int r = 0; r < mr; r++) {
					v4 a = v4_splat(wr[r * ckk + j]);

					UNROLL
					for (int v = 0; v < nv; v++)
						acc[r][v] = v4_madd(acc[r][v],
						                    a, bv[v]);
				}
			}
		}
	}
	UNROLL
	for (int r = 0; r < mr; r++)
		UNROLL
	for (int v = 0; v < nv; v++)
		v4_store(yw + (f + r) * nw + p + 4 * v, acc[r][v]);
}

/* Filters [f, f + mr) x wide positions [p0, p1), as shifted_block, with the
 * positions left over done one at a time in the same order. */
ALWAYS_INLINE void shifted_rows(const cnn_conv_geom *g, int mr, int f, int p0,
                                int p1, const float *xp, const float *w,
                                const float *b, float *yw, size_t nw)
{
	int wp = g->w + 2 * g->pw, hp = g->h + 2 * g->ph;
	size_t plane = (size_t)hp * wp, ckk = (size_t)g->c * g->kh * g->kw;
	const int nv = 8 / mr;
	int p = p0;

	for (; p + 4 * nv <= p1; p += 4 * nv)
		shifted_block(g, mr, nv, f, p, xp, w, b, yw, nw);
	for (; p + 4 <= p1; p += 4)
		shifted_block(g, mr, 1, f, p, xp, w, b, yw, nw);
	for (; p < p1; p++) {
		for (int r = 0; r < mr; r++) {
			const float *wf = w + (size_t)(f + r) * ckk;
			float s = b ? b[f + r] : 0.0f;

			for (int c = 0; c < g->c; c++)
				for (int i = 0; i < g->kh; i++)
					for (int j = 0; j < g->kw; j++) {
						float q =
						    wf[((size_t)c * g->kh + i) *
						           g->kw +
						       j] *
						    xp[c * plane +
						       (size_t)i * wp + j + p];

						s = s + q;
					}
			yw[(f + r) * nw + p] = s;
		}
	}
}

/* One sample: y (F, OH, OW) = conv(x) + b, through yw (F, N'). */
static void shifted_forward(const cnn_conv_geom *g, const float *x,
                            const float *w, const float *b, float *y,
                            float *xpad, float *yw)
{
	int wp = g->w + 2 * g->pw;
	int nw = (g->oh - 1) * wp + g->ow;
	const float *xp = x;
	int f = 0;

	if (conv_padded(g)) {
		pad_copy(g, x, xpad);
		xp = xpad;
	}
	/* position blocks of 256 keep the rows of xp in use within L1 */
	for (int p0 = 0; p0 < nw; p0 += 256) {
		int p1 = min_int(nw, p0 + 256);

		for (f = 0; f + 4 <= g->f; f += 4)
			shifted_rows(g, 4, f, p0, p1, xp, w, b, yw, nw);
		if (f + 2 <= g->f) {
			shifted_rows(g, 2, f, p0, p1, xp, w, b, yw, nw);
			f += 2;
		}
		if (f < g->f)
			shifted_rows(g, 1, f, p0, p1, xp, w, b, yw, nw);
	}
	for (f = 0; f < g->f; f++)
		for (int oy = 0; oy < g->oh; oy++)
			copy_floats(y + ((size_t)f * g->oh + oy) * g->ow,
			            yw + (size_t)f * nw + (size_t)oy * wp,
			            g->ow);
}

/* One sample: pdw (F, CKK) += dL/dw; dx (C, H, W) = dL/dx if not NULL.
 * yw receives dy widened to (F, N') with zeros at the wrapped positions. */
static void shifted_backward(const cnn_conv_geom *g, const float *x,
                             const float *w, const float *dy, float *pdw,
                             float *dx, float *xpad, float *dxpad, float *yw)
{
	int wp = g->w + 2 * g->pw, hp = g->h + 2 * g->ph;
	int nw = (g->oh - 1) * wp + g->ow;
	int khw = g->kh * g->kw, ckk = g->c * khw;
	size_t plane = (size_t)hp * wp;
	const float *xp = x;
	float *dxp;
	float out[4];

	if (conv_padded(g)) {
		pad_copy(g, x, xpad);
		xp = xpad;
	}
	for (int f = 0; f < g->f; f++) {
		float *yf = yw + (size_t)f * nw;

		for (int oy = 0; oy < g->oh; oy++) {
			copy_floats(yf + (size_t)oy * wp,
			            dy + ((size_t)f * g->oh + oy) * g->ow,
			            g->ow);
			if (oy + 1 < g->oh)
				zero_floats(yf + (size_t)oy * wp + g->ow,
				            wp - g->ow);
		}
	}

	/* pdw[f][k] += dot(yw[f], xp + offset(k)), in blocks of 2 x 2 */
	for (int f = 0; f < g->f; f += 2) {
		int rows = min_int(2, g->f - f);
		const float *a0 = yw + (size_t)f * nw;
		const float *a1 = rows == 2 ? a0 + nw : a0;

		for (int k = 0; k < ckk; k += 2) {
			int cols = min_int(2, ckk - k);
			const float *b0, *b1;
			int c0 = k / khw, i0 = k % khw / g->kw, j0 = k % g->kw;
			int k1 = k + cols - 1;
			int c1 = k1 / khw, i1 = k1 % khw / g->kw,
			    j1 = k1 % g->kw;

			b0 = xp + c0 * plane + (size_t)i0 * wp + j0;
			b1 = xp + c1 * plane + (size_t)i1 * wp + j1;
			if (rows == 2 && cols == 2)
				dot_block(2, 2, nw, a0, a1, b0, b1, out);
			else if (rows == 2)
				dot_block(2, 1, nw, a0, a1, b0, b0, out);
			else if (cols == 2)
				dot_block(1, 2, nw, a0, a0, b0, b1, out);
			else
				dot_block(1, 1, nw, a0, a0, b0, b0, out);
			pdw[(size_t)f * ckk + k] += out[0];
			if (cols == 2)
				pdw[(size_t)f * ckk + k + 1] += out[1];
			if (rows == 2) {
				pdw[(size_t)(f + 1) * ckk + k] += out[2];
				if (cols == 2)
					pdw[(size_t)(f + 1) * ckk + k + 1] +=
					    out[3];
			}
		}
	}
	if (!dx)
		return;

	/* dxp[c][i][j + p'] += sum_f w[f][k] yw[f][p'], k in order */
	dxp = conv_padded(g) ? dxpad : dx;
	zero_floats(dxp, (size_t)g->c * plane);
	for (int k = 0; k < ckk; k++) {
		int c = k / khw, i = k % khw / g->kw, j = k % g->kw;
		float *d = dxp + c * plane + (size_t)i * wp + j;
		int p = 0;

		for (; p + 8 <= nw; p += 8) {
			v4 lo = v4_zero(), hi = v4_zero();

			for (int f = 0; f < g->f; f++) {
				const float *yf = yw + (size_t)f * nw + p;
				v4 a = v4_splat(w[(size_t)f * ckk + k]);

				lo = v4_madd(lo, a, v4_load(yf));
				hi = v4_madd(hi, a, v4_load(yf + 4));
			}
			v4_store(d + p, v4_add(v4_load(d + p), lo));
			v4_store(d + p + 4, v4_add(v4_load(d + p + 4), hi));
		}
		for (; p < nw; p++) {
			float s = 0.0f;

			for (int f = 0; f < g->f; f++) {
				float q = w[(size_t)f * ckk + k] *
				          yw[(size_t)f * nw + p];

				s = s + q;
			}
			d[p] += s;
		}
	}
	if (dxp != dx) {
		for (int c = 0; c < g->c; c++)
			for (int r = 0; r < g->h; r++)
				copy_floats(dx + ((size_t)c * g->h + r) * g->w,
				            dxp + c * plane +
				                (size_t)(r + g->ph) * wp +
				                g->pw,
				            g->w);
	}
}

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */

void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w,
                      const float *b, float *y, int n, float *ws)
{
	size_t in = (size_t)g->c * g->h * g->w;
	size_t out = (size_t)g->f * g->oh * g->ow;
	int slots = cnn_slots(n), shifted = conv_shifted(g);
	conv_layout lay;

	conv_layout_of(g, &lay);
	PARALLEL_FOR_IF(conv_parallel(g, n))
	for (int j = 0; j < slots; j++) {
		float *slot = ws + (size_t)j * lay.slot;
		float *xpad = slot + lay.cols,
		      *yw = xpad + lay.xpad + lay.dxpad;
		int s0, s1;

		cnn_slot_range(n, slots, j, &s0, &s1);
		for (int s = s0; s < s1; s++) {
			if (shifted)
				shifted_forward(g, x + s * in, w, b,
				                y + s * out, xpad, yw);
			else
				cols_forward(g, x + s * in, w, b, y + s * out,
				             slot);
		}
	}
}

void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w,
                       const float *dy, float *dw, float *db, float *dx, int n,
                       float *ws)
{
	size_t in = (size_t)g->c * g->h * g->w;
	size_t out = (size_t)g->f * g->oh * g->ow;
	size_t nw = (size_t)g->f * g->c * g->kh * g->kw;
	size_t p = (size_t)g->oh * g->ow;
	int slots = cnn_slots(n), shifted = conv_shifted(g);
	conv_layout lay;

	conv_layout_of(g, &lay);
	PARALLEL_FOR_IF(conv_parallel(g, n))
	for (int j = 0; j < slots; j++) {
		float *slot = ws + (size_t)j * lay.slot;
		float *xpad = slot + lay.cols, *dxpad = xpad + lay.xpad;
		float *yw = dxpad + lay.dxpad, *pdw = yw + lay.wide;
		float *pdb = pdw + nw;
		int s0, s1;

		memset(pdw, 0, (nw + g->f) * sizeof(float));
		cnn_slot_range(n, slots, j, &s0, &s1);
		for (int s = s0; s < s1; s++) {
			const float *dys = dy + s * out;
			float *dxs = dx ? dx + s * in : NULL;

			if (shifted)
				shifted_backward(g, x + s * in, w, dys, pdw,
				                 dxs, xpad, dxpad, yw);
			else
				cols_backward(g, x + s * in, w, dys, pdw, dxs,
				              slot);
			if (db) {
				for (int f = 0; f < g->f; f++) {
					const float *d = dys + f * p;
					float sum = 0.0f;

					for (size_t i = 0; i < p; i++)
						sum += d[i];
					pdb[f] += sum;
				}
			}
		}
	}

	/* Combine the groups' partial sums in group order. */
	for (int j = 0; j < slots; j++) {
		const float *pdw =
		    ws + (size_t)j * lay.slot + lay.slot - lay.part;

		for (size_t e = 0; e < nw; e++)
			dw[e] += pdw[e];
		if (db)
			for (int f = 0; f < g->f; f++)
				db[f] += pdw[nw + f];
	}
}

/* ======================================================================== */
/* ReLU                                                                     */

#define ELEM_PAR_COUNT (1L << 17) /* floats worth a parallel region */
#define ELEM_BLOCK     4096       /* floats per unit of parallel work */

/* y = v where x > 0, else 0, for floats [i0, i1): with v = x it is the ReLU,
 * with v = dy its gradient. */
static void where_positive(const float *x, const float *v, float *y, size_t i0,
                           size_t i1)
{
	size_t i = i0;

	for (; i + 4 <= i1; i += 4)
		v4_store(y + i,
		         v4_where_positive(v4_load(x + i), v4_load(v + i)));
	for (; i < i1; i++)
		y[i] = x[i] > 0.0f ? v[i] : 0.0f;
}

/* where_positive over count floats, in parallel blocks when large. */
static void where_positive_all(const float *x, const float *v, float *y,
                               size_t count)
{
	long blocks = (long)((count + ELEM_BLOCK - 1) / ELEM_BLOCK);

	PARALLEL_FOR_IF(count >= ELEM_PAR_COUNT)
	for (long q = 0; q < blocks; q++) {
		size_t i0 = (size_t)q * ELEM_BLOCK;
		size_t i1 = i0 + ELEM_BLOCK < count ? i0 + ELEM_BLOCK : count;

		where_positive(x, v, y, i0, i1);
	}
}

void cnn_relu_forward(const float *x, float *y, size_t count)
{
	where_positive_all(x, x, y, count);
}

void cnn_relu_backward(const float *x, const float *dy, float *dx, size_t count)
{
	where_positive_all(x, dy, dx, count);
}

/* ======================================================================== */
/* Max pooling                                                              */

/* Offset (i * w + j) of the first maximum, row-major, of the window whose
 * top-left cell is p. Strict > keeps the first of equal values. */
static inline size_t window_argmax(const float *p, int w, int kh, int kw)
{
	size_t best = 0;
	float m = p[0];

	for (int i = 0; i < kh; i++) {
		const float *r = p + (size_t)i * w;

		for (int j = 0; j < kw; j++) {
			if (r[j] > m) {
				m = r[j];
				best = (size_t)i * w + j;
			}
		}
	}
	return best;
}

static void pool_plane_forward(const cnn_pool_geom *g, const float *x, float *y)
{
	for (int oy = 0; oy < g->oh; oy++) {
		const float *xr = x + (size_t)oy * g->sh * g->w;
		float *yr = y + (size_t)oy * g->ow;

		if (g->kh == 2 && g->kw == 2) {
			const float *x1 = xr + g->w;

			for (int ox = 0; ox < g->ow; ox++) {
				const float *p0 = xr + (size_t)ox * g->sw;
				const float *p1 = x1 + (size_t)ox * g->sw;
				float m = p0[0];

				if (p0[1] > m)
					m = p0[1];
				if (p1[0] > m)
					m = p1[0];
				if (p1[1] > m)
					m = p1[1];
				yr[ox] = m;
			}
			continue;
		}
		for (int ox = 0; ox < g->ow; ox++) {
			const float *p = xr + (size_t)ox * g->sw;

			yr[ox] = p[window_argmax(p, g->w, g->kh, g->kw)];
		}
	}
}

static void pool_plane_backward(const cnn_pool_geom *g, const float *x,
                                const float *dy, float *dx)
{
	zero_floats(dx, (size_t)g->h * g->w);
	for (int oy = 0; oy < g->oh; oy++) {
		size_t row = (size_t)oy * g->sh * g->w;
		const float *dyr = dy + (size_t)oy * g->ow;

		if (g->kh == 2 && g->kw == 2) {
			/* the general scan, unrolled and without branches
			 * (conditional moves): the first maximum wins */
			for (int ox = 0; ox < g->ow; ox++) {
				size_t at = row + (size_t)ox * g->sw;
				const float *p = x + at;
				size_t w = (size_t)g->w, best = 0;
				float m = p[0];
				int gt;

				gt = p[1] > m;
				m = gt ? p[1] : m;
				best = gt ? 1 : best;
				gt = p[w] > m;
				m = gt ? p[w] : m;
				best = gt ? w : best;
				gt = p[w + 1] > m;
				best = gt ? w + 1 : best;
				dx[at + best] += dyr[ox];
			}
			continue;
		}
		for (int ox = 0; ox < g->ow; ox++) {
			size_t at = row + (size_t)ox * g->sw;

			at += window_argmax(x + at, g->w, g->kh, g->kw);
			dx[at] += dyr[ox];
		}
	}
}

static inline int pool_parallel(const cnn_pool_geom *g, size_t planes)
{
	return (double)planes * g->h * g->w >= (double)ELEM_PAR_COUNT;
}

void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
	long np = (long)planes;

	PARALLEL_FOR_IF(pool_parallel(g, planes))
	for (long q = 0; q < np; q++)
		pool_plane_forward(g, x + q * in, y + q * out);
}

void cnn_maxpool_backward(const cnn_pool_geom *g, const float *x,
                          const float *dy, float *dx, size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
	long np = (long)planes;

	PARALLEL_FOR_IF(pool_parallel(g, planes))
	for (long q = 0; q < np; q++)
		pool_plane_backward(g, x + q * in, dy + q * out, dx + q * in);
}

/* ======================================================================== */
/* Softmax                                                                  */

void cnn_softmax_forward(const float *x, float *y, int n, int k)
{
	for (int s = 0; s < n; s++) {
		const float *xs = x + (size_t)s * k;
		float *ys = y + (size_t)s * k;
		float m = xs[0];
		double sum = 0.0;

		for (int i = 1; i < k; i++)
			if (xs[i] > m)
				m = xs[i];
		for (int i = 0; i < k; i++) {
			ys[i] = expf(xs[i] - m);
			sum += ys[i];
		}
		/* sum >= 1: the maximum contributes exp(0) */
		for (int i = 0; i < k; i++)
			ys[i] = (float)(ys[i] / sum);
	}
}

void cnn_softmax_backward(const float *y, const float *dy, float *dx, int n,
                          int k)
{
	for (int s = 0; s < n; s++) {
		const float *ys = y + (size_t)s * k, *ds = dy + (size_t)s * k;
		float *xs = dx + (size_t)s * k;
		double dot = 0.0;

		for (int i = 0; i < k; i++)
			dot += (double)ds[i] * ys[i];
		for (int i = 0; i < k; i++)
			xs[i] = (float)(ys[i] * (ds[i] - dot));
	}
}

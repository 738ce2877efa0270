/*
 * kernels.c - all the hot loops of libcnn: matrix products, im2col and its
 * adjoint, the convolution, ReLU, max pooling and softmax.
 *
 * Variants. The kernels that matter for speed (GEMM, convolution, ReLU, max
 * pooling) are written once, in kernels_impl.h, over a small vector layer,
 * and compiled here three times: "portable" (plain C11 with 16-byte GCC/
 * Clang vector extensions, or structs of four floats elsewhere), and, on x86
 * with GCC or Clang, "avx2" (AVX2 + FMA) and "avx512" (AVX-512 F/VL/BW/DQ),
 * each under a target pragma so that the rest of the library keeps the
 * baseline instruction set. The avx512 variant also holds an eight-float
 * instantiation of the direct convolution ("avx512y"), used for the shapes
 * whose rows fit eight-float vectors with fewer wasted lanes: by the shapes
 * alone for the weight gradient, whose bits depend on it; for the forward
 * pass and the input gradient, also by what a 512-bit FMA costs on this
 * CPU, timed once (wide_cost). A table of function pointers per variant; the
 * public functions below go through the one chosen at first use (the best
 * the CPU has, or CNN_KERNELS; see kernels.h). im2col, col2im, softmax and
 * the generic pooling windows are shared by all variants.
 *
 * Invariants
 *  - Row-major float buffers; nothing here allocates: scratch comes from the
 *    caller (the layer workspace).
 *  - Serial and deterministic: a result depends on the inputs, the shapes
 *    and the variant only.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The x86 variants need GCC or Clang (target pragmas, __builtin_cpu_*);
 * defining CNN_NO_X86_KERNELS builds the portable one only, as on other
 * CPUs. */
#if (defined(__x86_64__) || defined(__i386__)) &&                              \
    (defined(__GNUC__) || defined(__clang__)) && !defined(CNN_NO_X86_KERNELS)
#define CNN_X86 1
#include <immintrin.h>
#else
#define CNN_X86 0
#endif

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define CNN_ATOMIC 1
#else
#define CNN_ATOMIC 0
#endif

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define MAYBE_UNUSED  __attribute__((unused))
#else
#define ALWAYS_INLINE static inline
#define MAYBE_UNUSED
#endif

/* CNN_FAST_ACT: the activations on the library's own exp (kernels_impl.h),
 * which needs GCC/Clang vectors; other compilers keep the libm loops. */
#if defined(__GNUC__)
#define CNN_FAST_ACT 1
#else
#define CNN_FAST_ACT 0
#endif

/* a * b + c stays two roundings everywhere (the variants' bits agree): GCC
 * contracts nothing under -std=c11, Clang would within an expression. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The functions of kernels_impl.h and the vector helpers: a variant may
 * leave some unused. */
#define KSTATIC static MAYBE_UNUSED
#define VINLINE static inline MAYBE_UNUSED

/* ======================================================================== */
/* Four-float vectors (the portable variant)                                */

#if defined(__GNUC__)
typedef float v4 __attribute__((vector_size(16)));
typedef int v4c __attribute__((vector_size(16)));

VINLINE v4 v4_load(const float *p)
{
	v4 v;

	memcpy(&v, p, sizeof v);
	return v;
}

VINLINE void v4_store(float *p, v4 v)
{
	memcpy(p, &v, sizeof v);
}

VINLINE v4 v4_splat(float a)
{
	v4 v = {a, a, a, a};

	return v;
}

/* acc + a * b, rounded after the product and after the sum. */
VINLINE v4 v4_madd(v4 acc, v4 a, v4 b)
{
	return acc + a * b;
}

VINLINE v4 v4_add(v4 a, v4 b)
{
	return a + b;
}

VINLINE float v4_get(v4 v, int i)
{
	return v[i];
}

VINLINE v4c v4_gt(v4 a, v4 b)
{
	return a > b;
}

VINLINE v4 v4_sel(v4c c, v4 a, v4 b)
{
	return (v4)(((v4c)a & c) | ((v4c)b & ~c));
}

VINLINE v4 v4_selz(v4c c, v4 v)
{
	return (v4)((v4c)v & c);
}

/* Correctly rounded, as sqrtf (the optimiser's update, kernels_impl.h). */
VINLINE v4 v4_sqrt(v4 v)
{
#if CNN_X86 && defined(__SSE__)
	return (v4)_mm_sqrt_ps((__m128)v);
#else
	for (int i = 0; i < 4; i++)
		v[i] = sqrtf(v[i]);
	return v;
#endif
}
#else
typedef struct v4 {
	float f[4];
} v4;
typedef struct v4c {
	int f[4];
} v4c;

VINLINE v4 v4_load(const float *p)
{
	v4 v;

	memcpy(v.f, p, sizeof v.f);
	return v;
}

VINLINE void v4_store(float *p, v4 v)
{
	memcpy(p, v.f, sizeof v.f);
}

VINLINE v4 v4_splat(float a)
{
	v4 v = {{a, a, a, a}};

	return v;
}

VINLINE v4 v4_madd(v4 acc, v4 a, v4 b)
{
	for (int i = 0; i < 4; i++) {
		float p = a.f[i] * b.f[i];

		acc.f[i] = acc.f[i] + p;
	}
	return acc;
}

VINLINE v4 v4_add(v4 a, v4 b)
{
	for (int i = 0; i < 4; i++)
		a.f[i] = a.f[i] + b.f[i];
	return a;
}

VINLINE float v4_get(v4 v, int i)
{
	return v.f[i];
}

VINLINE v4c v4_gt(v4 a, v4 b)
{
	v4c c;

	for (int i = 0; i < 4; i++)
		c.f[i] = a.f[i] > b.f[i] ? -1 : 0;
	return c;
}

VINLINE v4 v4_sel(v4c c, v4 a, v4 b)
{
	for (int i = 0; i < 4; i++)
		a.f[i] = c.f[i] ? a.f[i] : b.f[i];
	return a;
}

VINLINE v4 v4_selz(v4c c, v4 v)
{
	return v4_sel(c, v, v4_splat(0.0f));
}
#endif

VINLINE v4 v4_zero(void)
{
	return v4_splat(0.0f);
}

/* The first n (0..4) floats at p, the other lanes 0. */
VINLINE v4 v4_loadn(const float *p, int n)
{
	float t[4] = {0, 0, 0, 0};

	memcpy(t, p, (size_t)n * sizeof(float));
	return v4_load(t);
}

/* Stores the first n (0..4) lanes of v at p. */
VINLINE void v4_storen(float *p, v4 v, int n)
{
	float t[4];

	v4_store(t, v);
	memcpy(p, t, (size_t)n * sizeof(float));
}

/* Lane i of the result is lane (i + lo) % 4 of v. */
VINLINE v4 v4_rotate(v4 v, int lo)
{
	float t[8];

	v4_store(t, v);
	v4_store(t + 4, v);
	return v4_load(t + lo);
}

/* The lanes' sum in a fixed tree: (l0 + l1) + (l2 + l3). */
VINLINE float v4_hsum(v4 v)
{
	return (v4_get(v, 0) + v4_get(v, 1)) + (v4_get(v, 2) + v4_get(v, 3));
}

/* Full unrolling of the short constant loops of the register blocks, which
 * GCC -O2 would otherwise leave as loops over accumulators in memory. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 16")
#else
#define UNROLL
#endif

/* Keeps v in a register: stops the compiler from folding a vector load or
 * broadcast into each of the several FMAs that use it (loading it once per
 * use). Each variant defines REG_BARRIER as this or as nothing. */
#if defined(__GNUC__) && CNN_X86
#define VREG_BARRIER(v) __asm__("" : "+v"(v))
#else
#define VREG_BARRIER(v) ((void)0)
#endif

/* Floats of slack after every buffer the vector loops read past their end
 * (the widest vector); kept zero. */
#define SLACK 16

static size_t round16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

/* ======================================================================== */
/* GEMM, shared parts                                                       */

typedef struct gemm_args {
	int M, N, K;
	const float *A;
	size_t ars, acs; /* A'(i, k) = A[i * ars + k * acs] */
	const float *B;
	size_t ldb; /* B row stride (tb == 0: B'(k, j); tb == 1: B'(j, k)) */
	int ta, tb;
	float beta; /* 0 or 1 once set up */
	float *C;
	size_t ldc;
	int chunk; /* cnn_gemm_chunks: the chunks' depth, else 0 */
	int fold;  /* cnn_gemm_chunks: the first chunk added onto C */
} gemm_args;

/* Fills g for the product of cnn_gemm's contract. Handles what needs no
 * product: an empty C (returns 0), K == 0 (C = beta * C, returns 0) and a
 * beta other than 0 and 1 (C scaled first, then beta = 1). */
static int gemm_setup(gemm_args *g, int ta, int tb, int M, int N, int K,
                      const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return 0;
	if (K <= 0 || (beta != 0.0f && beta != 1.0f)) {
		for (int i = 0; i < M; i++) {
			float *c = C + (size_t)i * ldc;

			for (int j = 0; j < N; j++)
				c[j] = beta == 0.0f ? 0.0f : beta * c[j];
		}
		if (K <= 0)
			return 0;
		beta = 1.0f;
	}
	g->M = M;
	g->N = N;
	g->K = K;
	g->A = A;
	g->ars = ta ? 1 : (size_t)lda;
	g->acs = ta ? (size_t)lda : 1;
	g->B = B;
	g->ldb = (size_t)ldb;
	g->ta = ta != 0;
	g->tb = tb != 0;
	g->beta = beta;
	g->C = C;
	g->ldc = (size_t)ldc;
	g->chunk = 0;
	g->fold = 0;
	return 1;
}

/* ta == 1, tb == 1 (used by no layer): C[i][j] = beta * C + sum_k A[k][i]
 * B[j][k], k in increasing order. Shared by the variants. */
static void gemm_tt(const gemm_args *g)
{
	for (int i = 0; i < g->M; i++) {
		for (int j = 0; j < g->N; j++) {
			const float *b = g->B + (size_t)j * g->ldb;
			float *c = g->C + (size_t)i * g->ldc + j;
			float s = 0.0f;

			for (int k = 0; k < g->K; k++) {
				float p = g->A[(size_t)k * g->acs + i] * b[k];

				s = s + p;
			}
			*c = g->beta == 0.0f ? s : *c + s;
		}
	}
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
/* Convolution, shared parts                                                */
/*
 * Direct: each sample's input is copied into a zero-padded plane set (C,
 * HP, WP) followed by SLACK zeros, and every output is
 *   y[f][oy][ox] = b[f] + sum over (c, i, j) in order of
 *                  w[f][c][i][j] * xpad[c][oy + i][ox + j]
 * computed in vectors of VL output columns. The vectors run either along
 * each output row (OW columns, the last vector partial, stored masked), or,
 * "wide", along the flattened padded rows: position p = oy * WP + ox for p
 * in [0, N'), N' = (OH - 1) * WP + OW, of which the columns ox >= OW
 * (which wrapped into the next row) are dropped: each vector is stored
 * piece by piece into the output rows it touches, its lanes rotated down
 * to a row's start (dseg_of), or, when a vector may touch more than
 * DSEG_MAX rows, into a scratch that wide_compact then copies. Whichever
 * needs fewer vectors is used (so the choice depends on VL).
 *
 * At a stride SH x SW above 1 the padded input is split into its SH * SW
 * phases, phase (a, b) holding xpad[c][SH * u + a][SW * v + b] at (u, v)
 * (HQ = ceil(HP / SH) rows of WQ = ceil(WP / SW)): tap (i, j) of output
 * (oy, ox) is then phase (i % SH, j % SW) at (oy + i / SH, ox + j / SW), a
 * stride-1 read, and the taps still go in (c, i, j) order. WQ takes WP's
 * place in the wide positions.
 *
 * The weight gradient is, per (f, c, i, j), a dot product of dy[f] with the
 * input shifted by (i, j), over the same positions: dy is first copied into
 * a scratch in the chosen layout with zeros at the positions that are not
 * outputs, so that whole vectors can be used; it is accumulated over all
 * the samples of the call in vector lanes before the lanes are summed.
 *
 * The input gradient is the forward convolution of dy, bordered with
 * KH - 1 - PH rows and KW - 1 - PW columns of zeros (or cropped when the
 * padding is larger), with the weights flipped and transposed: (C, F, KH,
 * KW) read in place through strides. At larger strides it is computed
 * phase by phase of dxpad: phase (a, b) is the full stride-1 convolution
 * of dy with the taps (SH * di + a, SW * dj + b), flipped, each phase's
 * positions that fall inside dx are computed, and the phases are then
 * interleaved into dx.
 *
 * Kernels with at most one tap per phase (KH <= SH and KW <= SW: a 1 x 1
 * kernel at stride 2) would read each phase once; they go through
 * "columns" instead: im2col into the workspace and GEMMs per sample.
 */

/* One direct convolution: for samples s < n, rows r < rows and columns
 * q < cols,
 *   y[s * yss + f * yfs + r * yrs + q] = (b ? b[f] : 0) + sum over (c, i, j)
 *       of w[f * wfs + c * wcs + i * wis + j * wjs] *
 *          x[s * xss + ((i % sh) * sw + j % sw) * xph + c * xcs +
 *            (r + i / sh) * xrs + q + j / sw]
 * for f < f, c < c, i < kh, j < kw: x holds sh x sw phases of xph floats
 * each (phase_planes; one, sh = sw = 1, but for strided forward passes). */
typedef struct dconv {
	const float *x;
	size_t xss;
	ptrdiff_t xcs, xrs, xph;
	int sh, sw;
	const float *w;
	ptrdiff_t wfs, wcs, wis, wjs;
	const float *xlast; /* the last sample (not at x + (n - 1) * xss) */
	int n, c, f, kh, kw;
	int rows, cols;
	const float *b;
	float *y;
	size_t yss;
	ptrdiff_t yfs, yrs;
	/* wide outputs stored straight into y, rows of orow floats: of wide
	 * position p = oy * wrow + ox, only ox < orow, at oy * orow + ox
	 * (wrow 0: y as above) */
	int wrow, orow;
} dconv;

/* The most rows a vector of wide positions may touch for dconv to store it
 * straight into its rows (dconv_target). */
#define DSEG_MAX 4

/* Where a vector of wide positions goes in the output rows: lanes
 * [lo[k], lo[k] + len[k]) at at[k], for k < n. */
typedef struct dseg {
	ptrdiff_t at[DSEG_MAX];
	unsigned char lo[DSEG_MAX], len[DSEG_MAX];
	int n;
} dseg;

/* Points d's output at out, planes planes of rows x cols per sample. When
 * wide (nw positions in rows of wrow), its vectors of vl positions are
 * stored straight into out's rows when none touches more than DSEG_MAX
 * rows, else into the wide scratch wbuf (planes of wplane floats, one row
 * of nw columns each); returns 1 in that case, when wide_compact must
 * copy the scratch into out afterwards. */
static int dconv_target(dconv *d, int wide, int nw, int wrow, int vl,
                        float *wbuf, size_t wplane, int planes, int rows,
                        int cols, float *out)
{
	int direct = wide && (vl - 1) / wrow + 2 <= DSEG_MAX;
	size_t plane = wide && !direct ? wplane : (size_t)rows * cols;

	d->rows = wide ? 1 : rows;
	d->cols = wide ? nw : cols;
	d->y = wide && !direct ? wbuf : out;
	d->yfs = (ptrdiff_t)plane;
	d->yrs = wide ? 0 : cols;
	d->yss = (size_t)planes * plane;
	d->wrow = direct ? wrow : 0;
	d->orow = direct ? cols : 0;
	return wide && !direct;
}

/* The rows of the output that the vector of cnt wide positions from p0
 * (dconv's wrow, orow) goes to. */
static void dseg_of(const dconv *d, long p0, int cnt, dseg *sg)
{
	sg->n = 0;
	for (long oy = p0 / d->wrow; oy * d->wrow < p0 + cnt; oy++) {
		long lo = oy * d->wrow - p0, hi = lo + d->orow;

		lo = lo > 0 ? lo : 0;
		hi = hi < cnt ? hi : cnt;
		if (lo >= hi)
			continue;
		sg->at[sg->n] =
		    (ptrdiff_t)(oy * d->orow + (p0 + lo - oy * d->wrow));
		sg->lo[sg->n] = (unsigned char)lo;
		sg->len[sg->n] = (unsigned char)(hi - lo);
		sg->n++;
	}
}

/* One weight gradient: for the n samples s, f filters and taps t = (c, i,
 * j) (taps = C * KH * KW),
 *   dw[f][t] += sum over rows r < rows, columns q < cols (rounded up to
 *       whole vectors, dy being 0 past cols) of
 *       dy[s * dss + f * dfs + r * drs + q] *
 *       x[s * xss + conv_tap_offset(t) + r * xrs + q],
 * the tap's offset being ((i % sh) * sw + j % sw) * xph + c * xcs +
 * (i / sh) * wp + j / sw. */
typedef struct conv_dw {
	const float *x, *xlast; /* as in dconv, phases included */
	size_t xss;
	ptrdiff_t xcs, xrs, wp, xph;
	int sh, sw;
	const float *dy;
	size_t dss, dfs;
	ptrdiff_t drs;
	int n, f, taps, kh, kw;
	int rows, cols;
} conv_dw;

/* The workspace of the direct path, in floats from ws (each part rounded to
 * 16 floats): the forward uses xs and wide; the backward xs and dys for dw,
 * then dypad and dx_wide (over them) for dx. */
typedef struct conv_direct_layout {
	int hp, wp;           /* padded input */
	int hq, wq;           /* a stride phase of it: ceil(HP / SH) rows of
	                         ceil(WP / SW) (HP x WP at stride 1) */
	size_t xcs;           /* HQ * WQ: a channel's phase plane */
	size_t xph;           /* C * HQ * WQ: a phase */
	size_t xplane;        /* SH * SW phases: a sample's input */
	int nw;               /* wide positions (OH - 1) * WQ + OW */
	size_t xs;            /* n samples' inputs + SLACK */
	size_t wide;          /* forward: wide outputs (n, F, wide_plane) */
	size_t wide_plane;    /* round16(nw) */
	size_t dys;           /* n output gradients (n, F, dy_plane) */
	size_t dy_plane;      /* enough for either layout */
	int hpd, wpd;         /* dx: bordered dy planes (F, HPD, WPD) */
	int bh, bw;           /* their border before the first row, column */
	int oh0, ow0;         /* stride 1: where dx (0, 0) reads them */
	int hr, wr;           /* larger strides: the most rows, columns of dx
	                         in a phase, ceil(H / SH) x ceil(W / SW) */
	size_t dyplane;       /* F * HPD * WPD */
	size_t dypad;         /* n bordered dy + SLACK */
	int dx_nw, dx_wpd;    /* dx wide positions, their row stride */
	size_t dx_wide;       /* dx outputs, wide or by rows: stride 1
	                         (n, C, dx_wide_plane), else by phases
	                         (n, SH * SW, C, dx_wide_plane) */
	size_t dx_wide_plane; /* round16(dx_nw) */
	size_t total;
} conv_direct_layout;

/* The input gradient's part of l. At stride 1, dy is bordered by KH - 1 -
 * PH rows and KW - 1 - PW columns (none where the padding is larger: the
 * reads then start inside, at oh0, ow0) and convolved into H x W. At
 * larger strides, by ceil(KH / SH) - 1 rows and ceil(KW / SW) - 1 columns
 * before it and enough zeros after it for any phase of dxpad (HQ x WQ), of
 * which dx takes at most HR x WR. */
static void conv_dx_layout(const cnn_conv_geom *g, int n, conv_direct_layout *l)
{
	int rows = g->h, cols = g->w;

	if (g->sh == 1 && g->sw == 1) {
		l->bh = g->kh - 1 - g->ph > 0 ? g->kh - 1 - g->ph : 0;
		l->bw = g->kw - 1 - g->pw > 0 ? g->kw - 1 - g->pw : 0;
		l->oh0 = g->ph - (g->kh - 1) + l->bh;
		l->ow0 = g->pw - (g->kw - 1) + l->bw;
		l->hpd = g->oh + 2 * l->bh;
		l->wpd = g->ow + 2 * l->bw;
	} else {
		l->bh = (g->kh + g->sh - 1) / g->sh - 1;
		l->bw = (g->kw + g->sw - 1) / g->sw - 1;
		l->hpd = l->hq + l->bh;
		l->wpd = l->wq + l->bw;
		l->hr = rows = (g->h + g->sh - 1) / g->sh;
		l->wr = cols = (g->w + g->sw - 1) / g->sw;
	}
	l->dyplane = (size_t)g->f * l->hpd * l->wpd;
	/* dx comes after dw, whose scratch (xs, dys) it reuses */
	l->dypad = 0;
	l->dx_wpd = l->wpd;
	l->dx_nw = (rows - 1) * l->wpd + cols;
	l->dx_wide_plane = round16((size_t)l->dx_nw);
	l->dx_wide = l->dypad + round16((size_t)n * l->dyplane + SLACK);
}

static void conv_direct_layout_of(const cnn_conv_geom *g, int n,
                                  conv_direct_layout *l)
{
	size_t fwd, bwd;
	size_t rows16 = round16((size_t)g->ow);

	memset(l, 0, sizeof *l);
	l->hp = g->h + 2 * g->ph;
	l->wp = g->w + 2 * g->pw;
	l->hq = (l->hp + g->sh - 1) / g->sh;
	l->wq = (l->wp + g->sw - 1) / g->sw;
	l->xcs = (size_t)l->hq * l->wq;
	l->xph = (size_t)g->c * l->xcs;
	l->xplane = (size_t)g->sh * g->sw * l->xph;
	l->nw = (g->oh - 1) * l->wq + g->ow;
	l->xs = 0;
	l->wide_plane = round16((size_t)l->nw);
	l->wide = round16((size_t)n * l->xplane + SLACK);
	fwd = l->wide + (size_t)n * g->f * l->wide_plane;

	/* rows of round_up(OW, VL) <= rows16, or wide rows of WQ */
	l->dy_plane = (size_t)g->oh * rows16;
	if (round16((size_t)g->oh * l->wq) > l->dy_plane)
		l->dy_plane = round16((size_t)g->oh * l->wq);
	l->dys = l->wide;
	conv_dx_layout(g, n, l);
	bwd = l->dx_wide + (size_t)n * g->sh * g->sw * g->c * l->dx_wide_plane;
	if (l->dys + (size_t)n * g->f * l->dy_plane > bwd)
		bwd = l->dys + (size_t)n * g->f * l->dy_plane;
	l->total = fwd > bwd ? fwd : bwd;
}

/* Whether g takes the direct path: at stride 1, and at larger strides
 * where some phase of the kernel has several taps (KH > SH or KW > SW), so
 * that the phase planes are read more than once. Others (a 1 x 1 kernel
 * at stride 2) take one column of im2col per tap and a GEMM. */
static int conv_direct(const cnn_conv_geom *g)
{
	return (g->sh == 1 && g->sw == 1) || g->kh > g->sh || g->kw > g->sw;
}

/* Wide beats row by row when it needs fewer vectors. */
static int conv_use_wide(int rows, int cols, int nw, int vl)
{
	long by_row = (long)rows * ((cols + vl - 1) / vl);

	return (nw + vl - 1) / vl < by_row;
}

/* Vectors of vl floats per output plane of the direct path (rows or wide,
 * whichever is fewer). */
static long conv_vectors(const cnn_conv_geom *g, int vl)
{
	long wq = (g->w + 2L * g->pw + g->sw - 1) / g->sw;
	long by_row = (long)g->oh * ((g->ow + vl - 1) / vl);
	long wide = ((g->oh - 1) * wq + g->ow + vl - 1) / vl;

	return wide < by_row ? wide : by_row;
}

/* Whether the weight gradient of g takes vectors of narrow floats instead
 * of vl = 2 * narrow. Its bits depend on the lanes, so the choice is the
 * geometry's alone, never measured: the narrow vectors only where they
 * run along whole output rows with no lane to spare while vl's would
 * waste some (OW a multiple of narrow, not of vl; dy then read in
 * place). Elsewhere the wide vectors, which take half the instructions
 * for at most a few lanes more. Measured on this project's Xeon (two
 * 512-bit FMA units), one chunk of 16: the reference's 24 columns 12.5
 * us narrow against 16.0 wide; the 7x7 outputs of resnet_tiny's second
 * block 265 and 157 us narrow against 196 and 132 wide, LeNet-5's 10x10
 * 144 against 95, resnet_tiny's first convolution 113 against 99. Where
 * 512-bit operations are split into halves (so cost two of 256), the
 * wide vectors cost what their lanes do: at most 1.14x the narrow ones'
 * on these models (64 lanes against 56 for a 7x7 plane). */
MAYBE_UNUSED static int conv_dw_narrow(const cnn_conv_geom *g, int vl,
                                       int narrow)
{
	return g->ow % narrow == 0 && g->ow % vl != 0;
}

/* The time of a 16-float FMA, in thousandths of an 8-float one's, as the
 * avx512 variant measured it when first chosen (avx512_wide_cost): about
 * 2000 where 512-bit operations run as two 256-bit halves or on a single
 * FMA unit, less with two 512-bit units (1000-1180 on the Xeon we develop
 * on). The forward convolution and the input gradient take the wide
 * vectors when they cost less by it (their bits do not depend on the
 * width); the weight gradient takes conv_dw_narrow's choice, fixed by the
 * geometry, as its bits depend on the lanes. See cnn_kernels_wide_cost. */
#if CNN_ATOMIC
static _Atomic int wide_cost = 2000;
#define LOAD_WIDE_COST() atomic_load_explicit(&wide_cost, memory_order_relaxed)
#define STORE_WIDE_COST(v)                                                     \
	atomic_store_explicit(&wide_cost, v, memory_order_relaxed)
#else
static volatile int wide_cost = 2000;
#define LOAD_WIDE_COST()   (wide_cost)
#define STORE_WIDE_COST(v) (wide_cost = (v))
#endif

/* Whether the forward convolution or input gradient of g costs less in
 * vectors of narrow floats than of vl = 2 * narrow, by wide_cost. */
MAYBE_UNUSED static int conv_sums_narrow(const cnn_conv_geom *g, int vl,
                                         int narrow)
{
	return conv_vectors(g, narrow) * 1000 <
	       conv_vectors(g, vl) * LOAD_WIDE_COST();
}

size_t cnn_conv_workspace(const cnn_conv_geom *g, int n)
{
	conv_direct_layout l;

	if (n < 1)
		n = 1;
	if (!conv_direct(g))
		return round16((size_t)g->c * g->kh * g->kw * g->oh * g->ow);
	conv_direct_layout_of(g, n, &l);
	return l.total;
}

/* Copies the planes planes of h x w floats at src into dst, planes of
 * hp x wp with the copy at row top, column left, the borders and the SLACK
 * after the last plane zero. */
static void pad_planes(const float *src, size_t planes, int h, int w,
                       float *dst, int hp, int wp, int top, int left)
{
	memset(dst, 0, (planes * hp * wp + SLACK) * sizeof(float));
	for (size_t q = 0; q < planes; q++) {
		const float *sp = src + q * h * w;
		float *dp = dst + q * hp * wp + (size_t)top * wp + left;

		for (int r = 0; r < h; r++)
			copy_floats(dp + (size_t)r * wp, sp + (size_t)r * w, w);
	}
}

/* Where the direct path reads the n samples of x (n, C, H, W): at stride
 * 1, padded copies (n, C, HP, WP) in the workspace at xs, borders and the
 * SLACK after them zero; without padding, x itself, but for the last
 * sample, copied to xs with the SLACK after it (so that no vector reads
 * past the end of x). At larger strides, their phases, by phase (the
 * variant's phase_planes).
 * Sample s starts at *base + s * *stride, the last at *last. */
static void conv_input(const cnn_conv_geom *g, const conv_direct_layout *l,
                       const float *x, int n, float *xs, const float **base,
                       size_t *stride, const float **last,
                       void (*phase)(const cnn_conv_geom *,
                                     const conv_direct_layout *, const float *,
                                     int, float *))
{
	size_t in = (size_t)g->c * g->h * g->w;

	*stride = l->xplane;
	*base = xs;
	*last = xs + (n - 1) * l->xplane;
	if (g->sh > 1 || g->sw > 1) {
		phase(g, l, x, n, xs);
		return;
	}
	if (!g->ph && !g->pw) {
		memcpy(xs, x + (n - 1) * in, in * sizeof(float));
		memset(xs + in, 0, SLACK * sizeof(float));
		*base = x;
		*last = xs;
		return;
	}
	pad_planes(x, (size_t)n * g->c, g->h, g->w, xs, l->hp, l->wp, g->ph,
	           g->pw);
}

/* d for the forward convolution of the n samples found by conv_input. */
static void conv_forward_setup(const cnn_conv_geom *g,
                               const conv_direct_layout *l, const float *w,
                               const float *b, const float *xs, size_t xss,
                               const float *xlast, int n, dconv *d)
{
	memset(d, 0, sizeof *d);
	d->x = xs;
	d->xss = xss;
	d->xlast = xlast;
	d->xcs = (ptrdiff_t)l->xcs;
	d->xrs = l->wq;
	d->xph = (ptrdiff_t)l->xph;
	d->sh = g->sh;
	d->sw = g->sw;
	d->w = w;
	d->wfs = (ptrdiff_t)g->c * g->kh * g->kw;
	d->wcs = (ptrdiff_t)g->kh * g->kw;
	d->wis = g->kw;
	d->wjs = 1;
	d->n = n;
	d->c = g->c;
	d->f = g->f;
	d->kh = g->kh;
	d->kw = g->kw;
	d->b = b;
}

/* d for the input gradient: the n bordered dy (F channels) in the
 * workspace convolved with w flipped and transposed, into C outputs. */
static void conv_dx_setup(const cnn_conv_geom *g, const conv_direct_layout *l,
                          const float *w, float *ws, int n, dconv *d)
{
	memset(d, 0, sizeof *d);
	d->x = ws + l->dypad + (size_t)l->oh0 * l->wpd + l->ow0;
	d->xss = l->dyplane;
	d->xlast = d->x + (n - 1) * l->dyplane;
	d->xcs = (ptrdiff_t)l->hpd * l->wpd;
	d->xrs = l->wpd;
	d->sh = d->sw = 1;
	d->w = w + (ptrdiff_t)(g->kh - 1) * g->kw + (g->kw - 1);
	d->wfs = (ptrdiff_t)g->kh * g->kw;
	d->wcs = (ptrdiff_t)g->c * g->kh * g->kw;
	d->wis = -g->kw;
	d->wjs = -1;
	d->n = n;
	d->c = g->f;
	d->f = g->c;
	d->kh = g->kh;
	d->kw = g->kw;
	d->b = NULL;
}

/* The taps of phase a of a kernel dimension of k taps at stride st: those
 * i < k with i % st == a. */
static inline int phase_taps(int k, int st, int a)
{
	return a < k ? (k - a + st - 1) / st : 0;
}

/* How many of the n positions of a dimension fall in phase a of stride st
 * after pad positions of padding; *at is the first one's index in the
 * phase. */
static inline int phase_span(int n, int st, int pad, int a, int *at)
{
	int first = ((a - pad) % st + st) % st;

	*at = (first + pad) / st;
	return first < n ? (n - 1 - first) / st + 1 : 0;
}

/* d for phase (a, b) of the input gradient at a stride above 1: dx at the
 * positions y, x with (y + PH) % SH = a, (x + PW) % SW = b, into row y /
 * SH, column x / SW of the phase's planes in the dx scratch (by rows of
 * WR, or wide), as the full convolution of the bordered dy (F channels)
 * with the taps (SH * di + a, SW * dj + b) of w, flipped and transposed.
 * Returns 0 when the phase has no taps or no positions (d unset). */
static int conv_dx_phase_setup(const cnn_conv_geom *g,
                               const conv_direct_layout *l, const float *w,
                               float *ws, int n, int a, int b, int wide,
                               dconv *d)
{
	int kha = phase_taps(g->kh, g->sh, a),
	    kwb = phase_taps(g->kw, g->sw, b);
	int u0, v0, ru, rv;
	size_t plane = l->dx_wide_plane;

	ru = phase_span(g->h, g->sh, g->ph, a, &u0);
	rv = phase_span(g->w, g->sw, g->pw, b, &v0);
	if (!kha || !kwb || !ru || !rv)
		return 0;
	memset(d, 0, sizeof *d);
	d->x = ws + l->dypad + (size_t)(u0 + l->bh - (kha - 1)) * l->wpd +
	       (v0 + l->bw - (kwb - 1));
	d->xss = l->dyplane;
	d->xlast = d->x + (n - 1) * l->dyplane;
	d->xcs = (ptrdiff_t)l->hpd * l->wpd;
	d->xrs = l->wpd;
	d->sh = d->sw = 1;
	d->w = w + (ptrdiff_t)(g->sh * (kha - 1) + a) * g->kw +
	       (g->sw * (kwb - 1) + b);
	d->wfs = (ptrdiff_t)g->kh * g->kw;
	d->wcs = (ptrdiff_t)g->c * g->kh * g->kw;
	d->wis = -(ptrdiff_t)g->sh * g->kw;
	d->wjs = -g->sw;
	d->n = n;
	d->c = g->f;
	d->f = g->c;
	d->kh = kha;
	d->kw = kwb;
	d->rows = wide ? 1 : ru;
	d->cols = wide ? (ru - 1) * l->wpd + rv : rv;
	d->y = ws + l->dx_wide + (size_t)(a * g->sw + b) * g->c * plane;
	d->yfs = (ptrdiff_t)plane;
	d->yrs = wide ? 0 : l->wr;
	d->yss = (size_t)g->sh * g->sw * g->c * plane;
	return 1;
}

/* Copies the n samples' output gradients into the workspace in the layout
 * (wide, or by rows of round_up(OW, vl)), zero where no output is, unless
 * the rows are whole vectors (then dy is read in place), and describes the
 * weight gradient in p, the inputs being where conv_input put them. The
 * rows are copied by the variant's rows (rows of w floats into rows of a
 * multiple of vl, zero after them). */
static void
conv_dw_setup(const cnn_conv_geom *g, int n, const float *dy, float *ws,
              const conv_direct_layout *l, int wide, int vl, const float *xs,
              size_t xss, const float *xlast, conv_dw *p,
              void (*rows)(const float *, size_t, int, float *, int))
{
	size_t out = (size_t)g->f * g->oh * g->ow;
	float *dys = ws + l->dys;
	int drs = wide ? l->wq : (g->ow + vl - 1) / vl * vl;
	int in_place = !wide && drs == g->ow;

	for (int s = 0; s < n && !wide && !in_place; s++) {
		for (int f = 0; f < g->f; f++) {
			float *d = dys + ((size_t)s * g->f + f) * l->dy_plane;

			rows(dy + s * out + (size_t)f * g->oh * g->ow,
			     (size_t)g->oh, g->ow, d, drs);
		}
	}
	for (int s = 0; s < n && wide; s++) {
		for (int f = 0; f < g->f; f++) {
			float *d = dys + ((size_t)s * g->f + f) * l->dy_plane;
			const float *src =
			    dy + s * out + (size_t)f * g->oh * g->ow;

			for (int r = 0; r < g->oh; r++) {
				copy_floats(d + (size_t)r * drs,
				            src + (size_t)r * g->ow, g->ow);
				zero_floats(d + (size_t)r * drs + g->ow,
				            (size_t)(drs - g->ow));
			}
			zero_floats(d + (size_t)g->oh * drs,
			            l->dy_plane - (size_t)g->oh * drs);
		}
	}
	memset(p, 0, sizeof *p);
	p->x = xs;
	p->xss = xss;
	p->xlast = xlast;
	p->xcs = (ptrdiff_t)l->xcs;
	p->wp = l->wq;
	p->xph = (ptrdiff_t)l->xph;
	p->sh = g->sh;
	p->sw = g->sw;
	p->dy = in_place ? dy : dys;
	p->dfs = in_place ? (size_t)g->oh * g->ow : l->dy_plane;
	p->dss = (size_t)g->f * p->dfs;
	p->n = n;
	p->f = g->f;
	p->taps = g->c * g->kh * g->kw;
	p->kh = g->kh;
	p->kw = g->kw;
	p->rows = wide ? 1 : g->oh;
	p->cols = wide ? l->nw : g->ow;
	p->xrs = wide ? 0 : l->wq;
	p->drs = wide ? 0 : drs;
}

/* Offset of tap t = (c, i, j) in a sample's (phases of the) padded
 * input. */
static inline ptrdiff_t conv_tap_offset(const conv_dw *p, int t)
{
	int khw = p->kh * p->kw;
	int c = t / khw, i = t % khw / p->kw, j = t % p->kw;

	return (ptrdiff_t)(i % p->sh * p->sw + j % p->sw) * p->xph +
	       (ptrdiff_t)c * p->xcs + (ptrdiff_t)(i / p->sh) * p->wp +
	       j / p->sw;
}

/* ======================================================================== */
/* Max pooling, shared parts                                                */

/* The 2x2 windows of stride 2, which max pooling (in the vector variants)
 * and average pooling take apart. */
MAYBE_UNUSED static int pool_is_22(const cnn_pool_geom *g)
{
	return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2;
}

/* The value a window's scan sees: x, or relu(x) as cnn_relu_forward
 * gives it (x > 0 ? x : +0) when relu. */
static inline float pool_cell(float x, int relu)
{
	return relu && !(x > 0.0f) ? 0.0f : x;
}

/* Offset (i * w + j) of the first maximum, row-major, of the window whose
 * top-left cell is p, over pool_cell's values. Strict > keeps the first
 * of equal values. */
static inline size_t window_argmax(const float *p, int w, int kh, int kw,
                                   int relu)
{
	size_t best = 0;
	float m = pool_cell(p[0], relu);

	for (int i = 0; i < kh; i++) {
		const float *r = p + (size_t)i * w;

		for (int j = 0; j < kw; j++) {
			float v = pool_cell(r[j], relu);

			if (v > m) {
				m = v;
				best = (size_t)i * w + j;
			}
		}
	}
	return best;
}

/* One plane, any window: y = the first maximum of each window. */
static void pool_plane_forward(const cnn_pool_geom *g, const float *x, float *y)
{
	for (int oy = 0; oy < g->oh; oy++) {
		const float *xr = x + (size_t)oy * g->sh * g->w;
		float *yr = y + (size_t)oy * g->ow;

		for (int ox = 0; ox < g->ow; ox++) {
			const float *p = xr + (size_t)ox * g->sw;
			size_t at =
			    window_argmax(p, g->w, g->kh, g->kw, g->relu);

			yr[ox] = pool_cell(p[at], g->relu);
		}
	}
}

/* One plane, any window: dx = 0, then each dy added at its window's first
 * maximum; with g->relu, only where x > 0 (relu's backward: a cell with
 * x <= 0 keeps the +0 whatever its windows sent it). */
static void pool_plane_backward(const cnn_pool_geom *g, const float *x,
                                const float *dy, float *dx)
{
	zero_floats(dx, (size_t)g->h * g->w);
	for (int oy = 0; oy < g->oh; oy++) {
		size_t row = (size_t)oy * g->sh * g->w;
		const float *dyr = dy + (size_t)oy * g->ow;

		for (int ox = 0; ox < g->ow; ox++) {
			size_t at = row + (size_t)ox * g->sw;

			at +=
			    window_argmax(x + at, g->w, g->kh, g->kw, g->relu);
			if (!g->relu || x[at] > 0.0f)
				dx[at] += dyr[ox];
		}
	}
}

/* ======================================================================== */
/* Batch normalisation's sums, shared parts                                 */

/* The sums of cnn_bn_sums and cnn_bn_dy_sums run in BN_LANES double lanes,
 * so that an addition need not wait for the one before it: element i of a
 * channel's plane goes to lane i % BN_LANES, the planes (samples) in order,
 * and the lanes are then added from the first to the last. Each product is
 * exact in double, so the bits depend neither on the compiler nor on the
 * variant. With GCC 9 or later, or Clang, the variants hold the lanes in
 * one vector of doubles (kernels_impl.h); otherwise plain C does. */
#define BN_LANES 8
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9)
#define BN_VECTORS 1
typedef double bn_dvec __attribute__((vector_size(BN_LANES * 8)));
typedef float bn_fvec __attribute__((vector_size(BN_LANES * 4)));
typedef int bn_ivec __attribute__((vector_size(BN_LANES * 4)));
#else
#define BN_VECTORS 0
#endif

/* The sum of the lanes, first to last. */
static double bn_lanes_total(const double *lane)
{
	double t = lane[0];

	for (int k = 1; k < BN_LANES; k++)
		t += lane[k];
	return t;
}

/* dy as the layer's backward sees it: with a relu fused after the layer
 * (y its output, not NULL), relu's backward of it (dy where y > 0, else
 * +0), else dy itself. */
static inline float bn_dy(const float *y, const float *dy, size_t at)
{
	return y && !(y[at] > 0.0f) ? 0.0f : dy[at];
}

/* ======================================================================== */
/* The variants                                                             */

/* Four bytes as four floats (the portable variant's V_FROM_U8). */
VINLINE v4 v4_from_u8(const uint8_t *p)
{
	float t[4] = {(float)p[0], (float)p[1], (float)p[2], (float)p[3]};
	return v4_load(t);
}

typedef struct kernel_table {
	const char *name;
	void (*gemm)(int ta, int tb, int M, int N, int K, const float *A,
	             int lda, const float *B, int ldb, float beta, float *C,
	             int ldc);
	void (*gemm_chunks)(int ta, int M, int N, int K, int chunk, int add,
	                    const float *A, int lda, const float *B, int ldb,
	                    float *C, int ldc);
	void (*dropout)(const float *in, float *out, size_t count, uint64_t mix,
	                uint64_t first, uint64_t keep, float scale);
	int (*update_apply)(const cnn_update *u, float *w, float *g, float *m1,
	                    float *m2, size_t n);
	void (*add_forward)(const float *const *x, int n_x, float *y,
	                    size_t count);
	void (*bn_forward)(const float *x, float *y, int n, int c, size_t hw,
	                   const float *mean, const float *scale,
	                   const float *beta, int relu);
	void (*bn_backward)(const float *x, const float *y, const float *dy,
	                    float *dx, int n, int c, size_t hw,
	                    const float *mean, const float *invstd,
	                    const float *scale, const float *mdy,
	                    const float *mdyxhat);
#if BN_VECTORS
	void (*bn_sums)(const float *x, int n, int c, size_t hw, double *sum,
	                double *sumsq);
	void (*bn_dy_sums)(const float *x, const float *y, const float *dy,
	                   int n, int c, size_t hw, int ch, float mean,
	                   double out[3]);
#endif
#if CNN_FAST_ACT
	void (*sigmoid_forward)(const float *x, float *y, size_t count);
	void (*tanh_forward)(const float *x, float *y, size_t count);
	void (*tanh_backward)(const float *y, const float *dy, float *dx,
	                      size_t count);
	void (*sigmoid_backward)(const float *y, const float *dy, float *dx,
	                         size_t count);
	void (*elu_forward)(const float *x, float *y, size_t count,
	                    float alpha);
	void (*elu_backward)(const float *x, const float *dy, float *dx,
	                     size_t count, float alpha);
#endif
	void (*conv_forward)(const cnn_conv_geom *g, const float *x,
	                     const float *w, const float *b, float *y, int n,
	                     float *ws);
	void (*conv_backward)(const cnn_conv_geom *g, const float *x,
	                      const float *w, const float *dy, float *dw,
	                      float *db, float *dx, int n, float *ws);
	void (*where_positive)(const float *x, const float *v, float *y,
	                       size_t count);
	void (*col_sums)(const float *dy, int rows, int cols, float *db);
	void (*scale_bytes)(const uint8_t *x, float scale, float *y,
	                    size_t count);
	void (*maxpool_forward)(const cnn_pool_geom *g, const float *x,
	                        float *y, size_t planes);
	void (*maxpool_backward)(const cnn_pool_geom *g, const float *x,
	                         const float *dy, float *dx, size_t planes);
} kernel_table;

/* ------------------------------------------------------------------------ */
/* portable: four-float vectors, no FMA                                     */

#define KSUF              portable
#define KNAME             "portable"
#define VL                4
#define REGS              16
#define vf                v4
#define V_SQRT(v)         v4_sqrt(v)
#define vmask             int
#define vcond             v4c
#define V_LOAD(p)         v4_load(p)
#define V_FROM_U8(p)      v4_from_u8(p)
#define V_STORE(p, v)     v4_store(p, v)
#define V_MASK(n)         (n)
#define V_LOADM(p, m)     v4_loadn(p, m)
#define V_STOREM(p, v, m) v4_storen(p, v, m)
#define V_ROTATE(v, lo)   v4_rotate(v, lo)
#define V_SET1(a)         v4_splat(a)
#define V_ZERO()          v4_zero()
#define V_ADD(a, b)       v4_add(a, b)
#define V_FMA(a, b, c)    v4_madd(c, a, b)
#define V_HSUM(v)         v4_hsum(v)
#define V_REDUCE(acc, out)                                                     \
	do {                                                                   \
		for (int red_ = 0; red_ < 4; red_++)                           \
			(out)[red_] = v4_hsum((acc)[red_]);                    \
	} while (0)
#define V_GT(a, b)     v4_gt(a, b)
#define V_SEL(c, a, b) v4_sel(c, a, b)
#define V_SELZ(c, v)   v4_selz(c, v)
#define V_SELNZ(c, v)  v4_sel(c, v4_zero(), v)
#define V_MAX(a, b)    v4_sel(v4_gt(a, b), a, b)
#define V_HAS_PAIRS    0
#if defined(__SSE2__)
#define REG_BARRIER(v) VREG_BARRIER(v)
#else
#define REG_BARRIER(v) ((void)0)
#endif
#include "kernels_impl.h"

#if CNN_X86
/* The target pragmas around an x86 variant: TARGET_PUSH("features") before,
 * TARGET_POP() after. */
#define PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define TARGET_PUSH(t)                                                         \
	PRAGMA(clang attribute push(__attribute__((target(t))),                \
	                            apply_to = function))
#define TARGET_POP() PRAGMA(clang attribute pop)
#else
#define TARGET_PUSH(t) PRAGMA(GCC push_options) PRAGMA(GCC target(t))
#define TARGET_POP()   PRAGMA(GCC pop_options)
#endif

/* Pairs of 8-float vectors (the avx2 and avx512y variants): of the 16
 * floats a then b, the even ones into ev and the odd into od, and back;
 * and the lanes of one rotated down by lo (V_ROTATE). */
#define M256_DEINTERLEAVE(a, b, ev, od)                                        \
	do {                                                                   \
		__m256 e_ = _mm256_shuffle_ps(a, b, 0x88);                     \
		__m256 o_ = _mm256_shuffle_ps(a, b, 0xDD);                     \
		ev = _mm256_castpd_ps(                                         \
		    _mm256_permute4x64_pd(_mm256_castps_pd(e_), 0xD8));        \
		od = _mm256_castpd_ps(                                         \
		    _mm256_permute4x64_pd(_mm256_castps_pd(o_), 0xD8));        \
	} while (0)
#define M256_ROTATE(v, lo)                                                     \
	_mm256_permutevar8x32_ps(                                              \
	    v, _mm256_add_epi32(_mm256_set1_epi32(lo),                         \
	                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define M256_INTERLEAVE(ev, od, lo, hi)                                        \
	do {                                                                   \
		__m256 l_ = _mm256_unpacklo_ps(ev, od);                        \
		__m256 h_ = _mm256_unpackhi_ps(ev, od);                        \
		lo = _mm256_permute2f128_ps(l_, h_, 0x20);                     \
		hi = _mm256_permute2f128_ps(l_, h_, 0x31);                     \
	} while (0)

/* ------------------------------------------------------------------------ */
/* avx2: eight-float vectors, FMA                                           */

TARGET_PUSH("avx2,fma")

/* 8 -1 then 8 0: the mask of the first n lanes starts at 8 - n. */
static const int avx2_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                        0,  0,  0,  0,  0,  0,  0,  0};

static inline __m256i avx2_mask(int n)
{
	return _mm256_loadu_si256((const __m256i *)(avx2_mask_table + 8 - n));
}

/* (l0 + l4) + (l2 + l6) + ... in the tree of the adds below. */
static inline float avx2_hsum(__m256 v)
{
	__m128 s =
	    _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* out[i] = the sum of the lanes of a[i], i < 8: halves, then pairs. */
ALWAYS_INLINE void avx2_reduce8(const __m256 *a, float *out)
{
	__m256 s[4], t0, t1;

	UNROLL
	for (int i = 0; i < 4; i++)
		s[i] =
		    _mm256_add_ps(_mm256_permute2f128_ps(a[i], a[i + 4], 0x20),
		                  _mm256_permute2f128_ps(a[i], a[i + 4], 0x31));
	t0 = _mm256_hadd_ps(s[0], s[1]);
	t1 = _mm256_hadd_ps(s[2], s[3]);
	_mm256_storeu_ps(out, _mm256_hadd_ps(t0, t1));
}

#define KSUF              avx2
#define KNAME             "avx2"
#define REGS              16
#define vmask             __m256i
#define vcond             __m256
#define V_MASK(n)         avx2_mask(n)
#define V_LOADM(p, m)     _mm256_maskload_ps(p, m)
#define V_STOREM(p, v, m) _mm256_maskstore_ps(p, m, v)
#define V_GT(a, b)        _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define V_SEL(c, a, b)    _mm256_blendv_ps(b, a, c)
#define V_SELZ(c, v)      _mm256_and_ps(c, v)
#define V_SELNZ(c, v)     _mm256_andnot_ps(c, v)
#include "kernels_v8.h"

#include "kernels_impl.h"

TARGET_POP()

/* ------------------------------------------------------------------------ */
/* avx512: sixteen-float vectors, FMA, mask registers                       */

TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")

/* Lane i of the last step of avx512_reduce16 holds the sum of vector
 * reduce16_lane[i]: the inverse permutation puts them in order. */
static const int avx512_reduce_order[16] = {0, 2, 1, 3, 8,  10, 9,  11,
                                            4, 6, 5, 7, 12, 14, 13, 15};

/* out[i] = the sum of the lanes of a[i], i < 16: 512-bit halves, 128-bit
 * quarters, then pairs and single lanes within each quarter. */
ALWAYS_INLINE void avx512_reduce16(const __m512 *a, float *out)
{
	__m512 s[8], t[4], u[2], v;

	UNROLL
	for (int i = 0; i < 8; i++)
		s[i] =
		    _mm512_add_ps(_mm512_shuffle_f32x4(a[i], a[i + 8], 0x44),
		                  _mm512_shuffle_f32x4(a[i], a[i + 8], 0xEE));
	UNROLL
	for (int i = 0; i < 4; i++)
		t[i] =
		    _mm512_add_ps(_mm512_shuffle_f32x4(s[i], s[i + 4], 0x88),
		                  _mm512_shuffle_f32x4(s[i], s[i + 4], 0xDD));
	UNROLL
	for (int i = 0; i < 2; i++)
		u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[i], t[i + 2], 0x44),
		                     _mm512_shuffle_ps(t[i], t[i + 2], 0xEE));
	v = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x88),
	                  _mm512_shuffle_ps(u[0], u[1], 0xDD));
	v = _mm512_permutexvar_ps(
	    _mm512_loadu_si512((const void *)avx512_reduce_order), v);
	_mm512_storeu_ps(out, v);
}

/* The sum of the lanes: 256-bit halves, then as avx2_hsum. */
static inline float avx512_hsum(__m512 v)
{
	__m256 lo = _mm512_castps512_ps256(v);
	__m256 hi =
	    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));

	return avx2_hsum(_mm256_add_ps(lo, hi));
}

/* Lane indexes for _mm512_permutex2var_ps (16 + i: lane i of the second
 * vector): the even and odd lanes of a pair of vectors, and the two halves
 * of the interleaving of two vectors. */
static const int avx512_even[16] = {0,  2,  4,  6,  8,  10, 12, 14,
                                    16, 18, 20, 22, 24, 26, 28, 30};
static const int avx512_odd[16] = {1,  3,  5,  7,  9,  11, 13, 15,
                                   17, 19, 21, 23, 25, 27, 29, 31};
static const int avx512_zip_lo[16] = {0, 16, 1, 17, 2, 18, 3, 19,
                                      4, 20, 5, 21, 6, 22, 7, 23};
static const int avx512_zip_hi[16] = {8,  24, 9,  25, 10, 26, 11, 27,
                                      12, 28, 13, 29, 14, 30, 15, 31};

static inline __m512i avx512_index(const int *idx)
{
	return _mm512_loadu_si512((const void *)idx);
}

/* TSC ticks of reps rounds of FMA_CHAINS independent FMA chains, 16 floats
 * wide when wide, else 8 (enough chains to keep two FMA units busy). */
#define FMA_CHAINS 12
static uint64_t avx512_fma_ticks(int wide, int reps)
{
	uint64_t t0, t1;
	float s = 0.0f;

	if (wide) {
		__m512 a[FMA_CHAINS];
		const __m512 m = _mm512_set1_ps(0.999f);

		for (int k = 0; k < FMA_CHAINS; k++)
			a[k] = _mm512_set1_ps((float)k);
		t0 = __builtin_ia32_rdtsc();
		for (int r = 0; r < reps; r++)
			UNROLL
		for (int k = 0; k < FMA_CHAINS; k++)
			a[k] = _mm512_fmadd_ps(a[k], m, m);
		t1 = __builtin_ia32_rdtsc();
		for (int k = 0; k < FMA_CHAINS; k++)
			s += _mm512_reduce_add_ps(a[k]);
	} else {
		__m256 a[FMA_CHAINS];
		const __m256 m = _mm256_set1_ps(0.999f);

		for (int k = 0; k < FMA_CHAINS; k++)
			a[k] = _mm256_set1_ps((float)k);
		t0 = __builtin_ia32_rdtsc();
		for (int r = 0; r < reps; r++)
			UNROLL
		for (int k = 0; k < FMA_CHAINS; k++)
			a[k] = _mm256_fmadd_ps(a[k], m, m);
		t1 = __builtin_ia32_rdtsc();
		for (int k = 0; k < FMA_CHAINS; k++)
			s += avx2_hsum(a[k]);
	}
	__asm__ volatile("" : : "m"(s)); /* the chains' results are used */
	return t1 - t0;
}

/* The time of a 16-float FMA in thousandths of an 8-float one's: the
 * median of 5 rounds that time 98,304 FMAs of each width one after the
 * other, after as many 16-float ones again to let the clock settle (it may
 * change for 512-bit work); about 0.2 ms in all. On the Xeon we develop on
 * it reads 1000-1180, quiet or beside two busy processes. */
static int avx512_wide_cost(void)
{
	int ratio[5];

	avx512_fma_ticks(1, 16384);
	for (int r = 0; r < 5; r++) {
		uint64_t narrow = avx512_fma_ticks(0, 8192);
		uint64_t wide = avx512_fma_ticks(1, 8192);

		ratio[r] = narrow ? (int)(wide * 1000 / narrow) : 2000;
	}
	for (int i = 1; i < 5; i++) /* sorted, for the median */
		for (int j = i; j > 0 && ratio[j] < ratio[j - 1]; j--) {
			int t = ratio[j];

			ratio[j] = ratio[j - 1];
			ratio[j - 1] = t;
		}
	return ratio[2];
}

/* avx512y: the same target with eight-float vectors (32 registers and mask
 * registers), for the convolutions whose rows fit eight-float vectors
 * better; no table of its own. */
#define KSUF  avx512y
#define KNAME "avx512y"
#define KNO_TABLE
#define REGS              32
#define vmask             __mmask8
#define vcond             __mmask8
#define V_MASK(n)         ((__mmask8)((1u << (n)) - 1u))
#define V_LOADM(p, m)     _mm256_maskz_loadu_ps(m, p)
#define V_STOREM(p, v, m) _mm256_mask_storeu_ps(p, m, v)
#define V_GT(a, b)        _mm256_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define V_SEL(c, a, b)    _mm256_mask_blend_ps(c, b, a)
#define V_SELZ(c, v)      _mm256_maskz_mov_ps(c, v)
#define V_SELNZ(c, v)     _mm256_maskz_mov_ps((__mmask8) ~(c), v)
#include "kernels_v8.h"

#include "kernels_impl.h"

#define KNARROW(name) name##_avx512y
#define KNARROW_VL    8
#define KSUF          avx512
#define KNAME         "avx512"
#define VL            16
#define REGS          32
#define vf            __m512
#define V_SQRT(v)     _mm512_sqrt_ps(v)
#define vmask         __mmask16
#define vcond         __mmask16
#define V_LOAD(p)     _mm512_loadu_ps(p)
#define V_FROM_U8(p)                                                           \
	_mm512_cvtepi32_ps(                                                    \
	    _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define V_STORE(p, v)     _mm512_storeu_ps(p, v)
#define V_MASK(n)         ((__mmask16)((1u << (n)) - 1u))
#define V_LOADM(p, m)     _mm512_maskz_loadu_ps(m, p)
#define V_STOREM(p, v, m) _mm512_mask_storeu_ps(p, m, v)
#define V_ROTATE(v, lo)                                                        \
	_mm512_permutexvar_ps(                                                 \
	    _mm512_add_epi32(_mm512_set1_epi32(lo),                            \
	                     _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,   \
	                                       10, 11, 12, 13, 14, 15)),       \
	    v)
#define V_SET1(a)          _mm512_set1_ps(a)
#define V_ZERO()           _mm512_setzero_ps()
#define V_ADD(a, b)        _mm512_add_ps(a, b)
#define V_FMA(a, b, c)     _mm512_fmadd_ps(a, b, c)
#define V_HSUM(v)          avx512_hsum(v)
#define V_REDUCE(acc, out) avx512_reduce16(acc, out)
#define V_GT(a, b)         _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define V_SEL(c, a, b)     _mm512_mask_blend_ps(c, b, a)
#define V_SELZ(c, v)       _mm512_maskz_mov_ps(c, v)
#define V_SELNZ(c, v)      _mm512_maskz_mov_ps((__mmask16) ~(c), v)
#define V_MAX(a, b)        _mm512_max_ps(a, b)
#define BN_CVT(f)          ((bn_dvec)_mm512_cvtps_pd((__m256)(f)))
#define V_HAS_PAIRS        1
#define V_DEINTERLEAVE(a, b, ev, od)                                           \
	do {                                                                   \
		ev = _mm512_permutex2var_ps(a, avx512_index(avx512_even), b);  \
		od = _mm512_permutex2var_ps(a, avx512_index(avx512_odd), b);   \
	} while (0)
#define V_INTERLEAVE(ev, od, lo, hi)                                           \
	do {                                                                   \
		lo = _mm512_permutex2var_ps(ev, avx512_index(avx512_zip_lo),   \
		                            od);                               \
		hi = _mm512_permutex2var_ps(ev, avx512_index(avx512_zip_hi),   \
		                            od);                               \
	} while (0)
#define REG_BARRIER(v) VREG_BARRIER(v)
#include "kernels_impl.h"

TARGET_POP()
#endif /* CNN_X86 */

/* ------------------------------------------------------------------------ */
/* Choosing one                                                             */

/* Whether the CPU (and the OS, which must save the wider registers) runs
 * the variant t. */
static int table_available(const kernel_table *t)
{
	if (t == &table_portable)
		return 1;
#if CNN_X86
	__builtin_cpu_init();
	if (t == &table_avx2)
		return __builtin_cpu_supports("avx2") &&
		       __builtin_cpu_supports("fma");
	if (t == &table_avx512)
		return __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512dq") &&
		       __builtin_cpu_supports("avx2") &&
		       __builtin_cpu_supports("fma");
#endif
	return 0;
}

/* The variants, best first. */
static const kernel_table *const tables[] = {
#if CNN_X86
    &table_avx512,
    &table_avx2,
#endif
    &table_portable,
};
#define N_TABLES (sizeof tables / sizeof tables[0])

static const kernel_table *table_named(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_TABLES; i++)
		if (!strcmp(tables[i]->name, name))
			return tables[i];
	return NULL;
}

#if CNN_ATOMIC
static _Atomic(const kernel_table *) current;
#define LOAD_CURRENT() atomic_load_explicit(&current, memory_order_acquire)
#define STORE_CURRENT(t)                                                       \
	atomic_store_explicit(&current, t, memory_order_release)
#else
static const kernel_table *volatile current;
#define LOAD_CURRENT()   (current)
#define STORE_CURRENT(t) (current = (t))
#endif

/* Makes t the variant in use; the first time it is avx512, measures
 * wide_cost first (a thread racing past meanwhile keeps the choice by
 * lanes for a while: the same bits). */
static void use_table(const kernel_table *t)
{
#if CNN_X86 && CNN_ATOMIC
	static atomic_int measured;

	if (t == &table_avx512 && !atomic_exchange(&measured, 1))
		STORE_WIDE_COST(avx512_wide_cost());
#elif CNN_X86
	static volatile int measured;

	if (t == &table_avx512 && !measured) {
		measured = 1;
		STORE_WIDE_COST(avx512_wide_cost());
	}
#endif
	STORE_CURRENT(t);
}

/* The variant in use; the first call picks CNN_KERNELS if available, else
 * the best. Threads racing here all pick the same one. */
static const kernel_table *kernels(void)
{
	const kernel_table *t = LOAD_CURRENT();

	if (t)
		return t;
	t = table_named(getenv("CNN_KERNELS"));
	if (!t || !table_available(t)) {
		t = &table_portable;
		for (size_t i = 0; i < N_TABLES; i++) {
			if (table_available(tables[i])) {
				t = tables[i];
				break;
			}
		}
	}
	use_table(t);
	return t;
}

int cnn_kernels_use(const char *name)
{
	const kernel_table *t = table_named(name);

	if (!t || !table_available(t))
		return 0;
	use_table(t);
	return 1;
}

int cnn_kernels_wide_cost(int set)
{
	kernels();
	if (set > 0)
		STORE_WIDE_COST(set);
	return LOAD_WIDE_COST();
}

int cnn_conv_sums_width(const cnn_conv_geom *g)
{
	const kernel_table *t = kernels();

#if CNN_X86
	if (t == &table_avx512)
		return conv_sums_narrow(g, 16, 8) ? 8 : 16;
	if (t == &table_avx2)
		return 8;
#endif
	(void)g;
	(void)t;
	return 4;
}

const char *cnn_kernels_name(void)
{
	return kernels()->name;
}

/* ======================================================================== */
/* The entry points                                                         */

void cnn_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
	kernels()->gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void cnn_gemm_chunks(int ta, int M, int N, int K, int chunk, int add,
                     const float *A, int lda, const float *B, int ldb, float *C,
                     int ldc)
{
	kernels()->gemm_chunks(ta, M, N, K, chunk, add, A, lda, B, ldb, C, ldc);
}

void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w,
                      const float *b, float *y, int n, float *ws)
{
	if (n > 0)
		kernels()->conv_forward(g, x, w, b, y, n, ws);
}

void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w,
                       const float *dy, float *dw, float *db, float *dx, int n,
                       float *ws)
{
	if (n > 0)
		kernels()->conv_backward(g, x, w, dy, dw, db, dx, n, ws);
}

void cnn_add_col_sums(const float *dy, int rows, int cols, float *db)
{
	kernels()->col_sums(dy, rows, cols, db);
}

void cnn_relu_forward(const float *x, float *y, size_t count)
{
	kernels()->where_positive(x, x, y, count);
}

void cnn_relu_backward(const float *x, const float *dy, float *dx, size_t count)
{
	kernels()->where_positive(x, dy, dx, count);
}

void cnn_scale_bytes(const uint8_t *x, float scale, float *y, size_t count)
{
	kernels()->scale_bytes(x, scale, y, count);
}

#if CNN_X86
#include <cpuid.h>

/* PREFETCHW (CPUID 0x80000001, ECX bit 8): 1 when the CPU has it. */
static int have_prefetchw(void)
{
	static atomic_int known; /* 0: not asked yet, 1: no, 2: yes */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	unsigned a, b, c, d;

	if (!k) {
		k = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & bit_PRFCHW)
		        ? 2
		        : 1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 2;
}

/* The instruction itself: compilers emit it for __builtin_prefetch only
 * where the whole build targets it. */
static void prefetchw(const char *p, size_t bytes)
{
	for (size_t b = 0; b < bytes; b += 64)
		__asm__ volatile("prefetchw %0" : : "m"(p[b]));
}
#endif

void cnn_prefetch_write(void *p, size_t bytes)
{
#if CNN_X86
	if (have_prefetchw())
		prefetchw((const char *)p, bytes);
#else
	(void)p;
	(void)bytes;
#endif
}

void cnn_prefetch(const void *p, size_t bytes)
{
#if defined(__GNUC__) || defined(__clang__)
	/* a line of 64 bytes at a time; level 2: every cache but L1 */
	for (size_t b = 0; b < bytes; b += 64)
		__builtin_prefetch((const char *)p + b, 0, 2);
#else
	(void)p;
	(void)bytes;
#endif
}

void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes)
{
	kernels()->maxpool_forward(g, x, y, planes);
}

void cnn_maxpool_backward(const cnn_pool_geom *g, const float *x,
                          const float *dy, float *dx, size_t planes)
{
	kernels()->maxpool_backward(g, x, dy, dx, planes);
}

/* ======================================================================== */
/* Softmax (shared: ten floats a row, dominated by expf)                    */

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

/* ======================================================================== */
/* Sums of arrays and the optimiser's update (per variant, kernels_impl.h) */

void cnn_add_forward(const float *const *x, int n_x, float *y, size_t count)
{
	kernels()->add_forward(x, n_x, y, count);
}

int cnn_update_apply(const cnn_update *u, float *w, float *g, float *m1,
                     float *m2, size_t n)
{
	return kernels()->update_apply(u, w, g, m1, m2, n);
}

/* ======================================================================== */
/* Activations and average pooling (shared: plain C, see kernels.h; those  */
/* on exp run per variant, kernels_impl.h, where the compiler has vectors)  */

void cnn_sigmoid_forward(const float *x, float *y, size_t count)
{
#if CNN_FAST_ACT
	kernels()->sigmoid_forward(x, y, count);
#else
	for (size_t i = 0; i < count; i++) {
		/* exp of a non-positive number only: no overflow */
		if (x[i] >= 0.0f) {
			y[i] = 1.0f / (1.0f + expf(-x[i]));
		} else {
			float e = expf(x[i]);

			y[i] = e / (1.0f + e);
		}
	}
#endif
}

void cnn_sigmoid_backward(const float *y, const float *dy, float *dx,
                          size_t count)
{
#if CNN_FAST_ACT
	kernels()->sigmoid_backward(y, dy, dx, count);
#else
	for (size_t i = 0; i < count; i++)
		dx[i] = dy[i] * y[i] * (1.0f - y[i]);
#endif
}

void cnn_tanh_forward(const float *x, float *y, size_t count)
{
#if CNN_FAST_ACT
	kernels()->tanh_forward(x, y, count);
#else
	for (size_t i = 0; i < count; i++)
		y[i] = tanhf(x[i]);
#endif
}

void cnn_tanh_backward(const float *y, const float *dy, float *dx, size_t count)
{
#if CNN_FAST_ACT
	kernels()->tanh_backward(y, dy, dx, count);
#else
	for (size_t i = 0; i < count; i++)
		dx[i] = dy[i] * (1.0f - y[i] * y[i]);
#endif
}

void cnn_leaky_relu_forward(const float *x, float *y, size_t count, float slope)
{
	for (size_t i = 0; i < count; i++)
		y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void cnn_leaky_relu_backward(const float *x, const float *dy, float *dx,
                             size_t count, float slope)
{
	for (size_t i = 0; i < count; i++)
		dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void cnn_elu_forward(const float *x, float *y, size_t count, float alpha)
{
#if CNN_FAST_ACT
	kernels()->elu_forward(x, y, count, alpha);
#else
	for (size_t i = 0; i < count; i++)
		y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
#endif
}

void cnn_elu_backward(const float *x, const float *dy, float *dx, size_t count,
                      float alpha)
{
#if CNN_FAST_ACT
	kernels()->elu_backward(x, dy, dx, count, alpha);
#else
	for (size_t i = 0; i < count; i++)
		dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(x[i]);
#endif
}

/* cnn_avgpool_forward for 2x2 windows, stride 2: the general loop's sum
 * (from 0, in row-major order) and its division by 4 (the product with
 * 0.25, the same correctly rounded quotient), without its index arithmetic
 * and run-time divisor. */
static void avgpool22_forward(const cnn_pool_geom *g, const float *x, float *y,
                              size_t planes)
{
	for (size_t p = 0; p < planes; p++)
		for (int oy = 0; oy < g->oh; oy++) {
			const float *r0 =
			    x + (p * g->h + 2 * (size_t)oy) * g->w;
			const float *r1 = r0 + g->w;
			float *yr = y + (p * g->oh + (size_t)oy) * g->ow;

			for (int ox = 0; ox < g->ow; ox++) {
				float s = 0.0f + r0[2 * ox];

				s = s + r0[2 * ox + 1];
				s = s + r1[2 * ox];
				yr[ox] = (s + r1[2 * ox + 1]) * 0.25f;
			}
		}
}

void cnn_avgpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                         size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
	float count = (float)(g->kh * g->kw);

	if (pool_is_22(g)) {
		avgpool22_forward(g, x, y, planes);
		return;
	}
	for (size_t p = 0; p < planes; p++) {
		const float *xp = x + p * in;
		float *yp = y + p * out;

		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				const float *win = xp +
				                   (size_t)oy * g->sh * g->w +
				                   (size_t)ox * g->sw;
				float s = 0.0f;

				for (int i = 0; i < g->kh; i++)
					for (int j = 0; j < g->kw; j++)
						s += win[(size_t)i * g->w + j];
				yp[(size_t)oy * g->ow + ox] = s / count;
			}
		}
	}
}

/* cnn_avgpool_backward's windows for 2x2, stride 2, after dx is zeroed:
 * each cell of a window gets 0 + dy / 4 (the windows do not overlap). */
static void avgpool22_backward(const cnn_pool_geom *g, const float *dy,
                               float *dx, size_t planes)
{
	for (size_t p = 0; p < planes; p++)
		for (int oy = 0; oy < g->oh; oy++) {
			float *r0 = dx + (p * g->h + 2 * (size_t)oy) * g->w;
			float *r1 = r0 + g->w;
			const float *dr = dy + (p * g->oh + (size_t)oy) * g->ow;

			for (int ox = 0; ox < g->ow; ox++) {
				float d = 0.0f + dr[ox] * 0.25f;

				r0[2 * ox] = r0[2 * ox + 1] = d;
				r1[2 * ox] = r1[2 * ox + 1] = d;
			}
		}
}

void cnn_avgpool_backward(const cnn_pool_geom *g, const float *dy, float *dx,
                          size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
	float count = (float)(g->kh * g->kw);

	memset(dx, 0, sizeof(float) * in * planes);
	if (pool_is_22(g)) {
		avgpool22_backward(g, dy, dx, planes);
		return;
	}
	for (size_t p = 0; p < planes; p++) {
		const float *dp = dy + p * out;
		float *xp = dx + p * in;

		for (int oy = 0; oy < g->oh; oy++) {
			for (int ox = 0; ox < g->ow; ox++) {
				float *win = xp + (size_t)oy * g->sh * g->w +
				             (size_t)ox * g->sw;
				float d = dp[(size_t)oy * g->ow + ox] / count;

				for (int i = 0; i < g->kh; i++)
					for (int j = 0; j < g->kw; j++)
						win[(size_t)i * g->w + j] += d;
			}
		}
	}
}

void cnn_global_avgpool_forward(const float *x, float *y, size_t planes,
                                size_t size)
{
	for (size_t p = 0; p < planes; p++) {
		const float *xp = x + p * size;
		double s = 0.0;

		for (size_t i = 0; i < size; i++)
			s += xp[i];
		y[p] = (float)(s / (double)size);
	}
}

void cnn_global_avgpool_backward(const float *dy, float *dx, size_t planes,
                                 size_t size)
{
	for (size_t p = 0; p < planes; p++) {
		float d = (float)((double)dy[p] / (double)size);
		float *xp = dx + p * size;

		for (size_t i = 0; i < size; i++)
			xp[i] = d;
	}
}

void cnn_dropout_apply(const float *in, float *out, size_t n, size_t size,
                       uint64_t seed, size_t sample0, double rate)
{
	uint64_t keep = (uint64_t)ceil(rate * 0x1p53);

	kernels()->dropout(in, out, n * size, cnn_mix64(seed),
	                   (uint64_t)sample0 * size, keep,
	                   (float)(1.0 / (1.0 - rate)));
}

/* ======================================================================== */
/* Batch normalisation (the sums per variant where the compiler has        */
/* vectors, else plain C; one pass over memory per call)                    */

#if !BN_VECTORS
/* The lanes' sums of cnn_bn_sums: s[k] += x[k], q[k] += x[k]^2, k < count. */
static void sq_lanes(double *s, double *q, const float *x, int count)
{
	for (int k = 0; k < count; k++) {
		double v = x[k];

		s[k] += v;
		q[k] += v * v;
	}
}

/* The lanes' sums of cnn_bn_dy_sums over the count elements from o: lane
 * (s, q, r) + k += (g, g * x, g * (x - mean)) with g = bn_dy. */
static void dy_lanes(double *s, double *q, double *r, const float *x,
                     const float *y, const float *dy, size_t o, int count,
                     float mean)
{
	for (int k = 0; k < count; k++) {
		float g = bn_dy(y, dy, o + k), v = x[o + k];

		s[k] += g;
		q[k] += (double)g * v;
		r[k] += (double)g * (v - mean);
	}
}
#endif

void cnn_bn_sums(const float *x, int n, int c, size_t hw, double *sum,
                 double *sumsq)
{
#if BN_VECTORS
	kernels()->bn_sums(x, n, c, hw, sum, sumsq);
#else
	for (int ch = 0; ch < c; ch++) {
		double s[BN_LANES] = {0}, q[BN_LANES] = {0};

		for (int j = 0; j < n; j++) {
			const float *xp = x + ((size_t)j * c + ch) * hw;

			for (size_t i = 0; i < hw; i += BN_LANES)
				sq_lanes(s, q, xp + i,
				         hw - i < BN_LANES ? (int)(hw - i)
				                           : BN_LANES);
		}
		sum[ch] += bn_lanes_total(s);
		sumsq[ch] += bn_lanes_total(q);
	}
#endif
}

void cnn_bn_dy_sums(const float *x, const float *y, const float *dy, int n,
                    int c, size_t hw, int ch, float mean, double out[3])
{
#if BN_VECTORS
	kernels()->bn_dy_sums(x, y, dy, n, c, hw, ch, mean, out);
#else
	double s[BN_LANES] = {0}, q[BN_LANES] = {0}, r[BN_LANES] = {0};

	for (int j = 0; j < n; j++) {
		size_t o = ((size_t)j * c + ch) * hw;

		for (size_t i = 0; i < hw; i += BN_LANES)
			dy_lanes(s, q, r, x, y, dy, o + i,
			         hw - i < BN_LANES ? (int)(hw - i) : BN_LANES,
			         mean);
	}
	out[0] = bn_lanes_total(s);
	out[1] = bn_lanes_total(q);
	out[2] = bn_lanes_total(r);
#endif
}

void cnn_bn_forward(const float *x, float *y, int n, int c, size_t hw,
                    const float *mean, const float *scale, const float *beta,
                    int relu)
{
	kernels()->bn_forward(x, y, n, c, hw, mean, scale, beta, relu);
}

void cnn_bn_param_grads(const float *x, const float *y, const float *dy, int n,
                        int c, size_t hw, const float *mean,
                        const float *invstd, float *dgamma, float *dbeta)
{
	for (int ch = 0; ch < c; ch++) {
		double sums[3];

		cnn_bn_dy_sums(x, y, dy, n, c, hw, ch, mean[ch], sums);
		if (dgamma)
			dgamma[ch] += (float)(sums[2] * invstd[ch]);
		if (dbeta)
			dbeta[ch] += (float)sums[0];
	}
}

void cnn_bn_backward(const float *x, const float *y, const float *dy, float *dx,
                     int n, int c, size_t hw, const float *mean,
                     const float *invstd, const float *scale, const float *mdy,
                     const float *mdyxhat)
{
	kernels()->bn_backward(x, y, dy, dx, n, c, hw, mean, invstd, scale, mdy,
	                       mdyxhat);
}

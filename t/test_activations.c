/*
 * test_activations.c - the layer kinds sigmoid, tanh, leaky_relu, elu,
 * avgpool, global_avgpool and dropout: forward against the formula computed
 * directly in double, backward against central finite differences (see
 * gradcheck.h), shape inference, configuration and its error messages, the
 * accuracy of sigmoid, tanh and elu (own float exp) against libm in double
 * over a dense grid on [-20, 20] and a sample of every binade, and
 * dropout's mask (evaluation is the identity; the kept fraction and scale;
 * the same mask whatever the chunking; another seed, another mask).
 *
 * Inputs of leaky_relu and elu are kept away from their kink at 0.
 */
#include "gradcheck.h"
#include "model.h"
#include "tap.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Moves every value at least gap away from 0 (keeping its sign). */
static void away_from_zero(float *x, size_t n, float gap)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] < 0 ? x[i] - gap : x[i] + gap;
}

/* |a - b| <= tol * (|b| + 1) for every element. */
static int close_to(const float *a, const double *b, size_t n, double tol)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= tol * (fabs(b[i]) + 1)))
			return 0;
	return 1;
}

/* ======================================================================== */
/* Element-wise activations                                                 */

typedef double (*scalar_fn)(double x, double a);

static double f_sigmoid(double x, double a)
{
	(void)a;
	return 1.0 / (1.0 + exp(-x));
}

static double f_tanh(double x, double a)
{
	(void)a;
	return tanh(x);
}

static double f_leaky(double x, double a)
{
	return x > 0 ? x : a * x;
}

static double f_elu(double x, double a)
{
	return x > 0 ? x : a * (exp(x) - 1);
}

/* One element-wise kind with l->alpha = a: shape kept, forward equal to f
 * on inputs in [-3, 3] (at least 0.1 from 0), gradient check. */
static void elementwise_case(const char *name, const cnn_layer_ops *ops,
                             scalar_fn f, double a)
{
	const int n = 3;
	cnn_layer l;
	float *x, *y;
	double *want;
	size_t count;

	layer_defaults(&l);
	l.alpha = a;
	if (!vok(layer_setup(&l, ops, 2, 3, 5) && l.out_shape[0] == 2 &&
	             l.out_shape[1] == 3 && l.out_shape[2] == 5 &&
	             l.out_size == 30 && l.n_weight == 0 && l.n_bias == 0,
	         "%s: 2x3x5 -> 2x3x5, no parameters", name))
		return;
	count = (size_t)n * l.in_size;
	x = falloc(count);
	y = falloc(count);
	want = malloc(sizeof(double) * count);
	fill(x, count, -2.9, 2.9);
	away_from_zero(x, count, 0.1f);
	for (size_t i = 0; i < count; i++)
		want[i] = f(x[i], a);
	l.ops->forward(&l, x, y, n, NULL);
	vok(close_to(y, want, count, 1e-6), "%s: forward equals the formula",
	    name);
	grad_check(name, &l, x, n, 1e-3);
	free(x);
	free(y);
	free(want);
	layer_free(&l);
}

static void test_elementwise(void)
{
	cnn_layer l;
	float x[6] = {-1000, -100, -20, 20, 100, 1000}, y[6];
	int good = 1;

	elementwise_case("sigmoid", &cnn_layer_sigmoid, f_sigmoid, 0);
	elementwise_case("tanh", &cnn_layer_tanh, f_tanh, 0);
	elementwise_case("leaky_relu slope 0.01", &cnn_layer_leaky_relu,
	                 f_leaky, 0.01);
	elementwise_case("leaky_relu slope 0.3", &cnn_layer_leaky_relu, f_leaky,
	                 0.3);
	elementwise_case("leaky_relu slope 0", &cnn_layer_leaky_relu, f_leaky,
	                 0.0);
	elementwise_case("elu alpha 1", &cnn_layer_elu, f_elu, 1.0);
	elementwise_case("elu alpha 0.5", &cnn_layer_elu, f_elu, 0.5);
	elementwise_case("elu alpha 2.5", &cnn_layer_elu, f_elu, 2.5);

	/* sigmoid and elu saturate without overflow or NaN */
	layer_defaults(&l);
	if (layer_setup(&l, &cnn_layer_sigmoid, 6, 1, 1)) {
		l.ops->forward(&l, x, y, 1, NULL);
		for (int i = 0; i < 6; i++)
			good &= isfinite(y[i]) && y[i] >= 0 && y[i] <= 1;
		good &= y[0] == 0.0f && y[5] == 1.0f && y[2] > 0 && y[2] < 1e-8;
		layer_free(&l);
	}
	layer_defaults(&l);
	l.alpha = 1.5;
	if (layer_setup(&l, &cnn_layer_elu, 6, 1, 1)) {
		l.ops->forward(&l, x, y, 1, NULL);
		good &= y[0] == -1.5f && y[1] == -1.5f && y[5] == 1000.0f;
		layer_free(&l);
	}
	vok(good, "sigmoid and elu: finite and saturated for inputs of "
	          "+-1000");
}

/* ======================================================================== */
/* Accuracy of the exp-based kernels over the whole float range             */

/* One float ulp at the magnitude of v (2^-149 below the smallest normal). */
static double float_ulp(double v)
{
	int e;

	if (fabs(v) < FLT_MIN)
		return ldexp(1.0, -149);
	frexp(fabs(v), &e);
	return ldexp(1.0, e - 1 - 23);
}

/* A kernel on n floats with parameter a, and its exact value in double. */
typedef void (*kernel_fn)(const float *x, float *y, size_t n, float a);

static void k_sigmoid(const float *x, float *y, size_t n, float a)
{
	(void)a;
	cnn_sigmoid_forward(x, y, n);
}

static void k_tanh(const float *x, float *y, size_t n, float a)
{
	(void)a;
	cnn_tanh_forward(x, y, n);
}

static void k_elu(const float *x, float *y, size_t n, float a)
{
	cnn_elu_forward(x, y, n, a);
}

/* The ELU gradient for dy = 1. */
static void k_elu_grad(const float *x, float *y, size_t n, float a)
{
	float *one = falloc(n);

	for (size_t i = 0; i < n; i++)
		one[i] = 1.0f;
	cnn_elu_backward(x, one, y, n, a);
	free(one);
}

static double r_sigmoid(double x, double a)
{
	(void)a;
	return 1.0 / (1.0 + exp(-x));
}

static double r_elu(double x, double a)
{
	return x > 0 ? x : a * expm1(x);
}

static double r_elu_grad(double x, double a)
{
	return x > 0 ? 1.0 : a * exp(x);
}

/* The sample of the sweep: a grid of 2^21 + 1 points over [-20, 20], then
 * every finite float whose bits are a multiple of 4093 (about 2^20 spread
 * evenly over every binade, subnormals included). Fills up to cap floats
 * from position *pos on and returns how many; 0 at the end. */
static size_t sweep_next(uint64_t *pos, float *x, size_t cap)
{
	const uint64_t grid = (1u << 21) + 1, bits = (1ull << 32) / 4093 + 1;
	size_t m = 0;

	for (; m < cap && *pos < grid + bits; ++*pos) {
		if (*pos < grid) {
			x[m++] =
			    (float)(-20.0 + 40.0 * (double)*pos / (grid - 1));
		} else {
			uint32_t b = (uint32_t)((*pos - grid) * 4093);
			float v;

			memcpy(&v, &b, sizeof v);
			if (isfinite(v))
				x[m++] = v;
		}
	}
	return m;
}

/* The kernel against its exact value over the sweep: at most bound float
 * ulps (of the exact value) anywhere, every result finite and in
 * [lo, hi]. Chunks of 4093 floats, so that the vector loops' tails run. */
static void accuracy_case(const char *name, kernel_fn k, scalar_fn f, float a,
                          double bound, double lo, double hi)
{
	const size_t chunk = 4093;
	float *x = falloc(chunk), *y = falloc(chunk), worst = 0;
	double max_ulp = 0, max_rel = 0;
	size_t total = 0, bad = 0, m;
	uint64_t pos = 0;

	while ((m = sweep_next(&pos, x, chunk)) > 0) {
		k(x, y, m, a);
		for (size_t i = 0; i < m; i++) {
			double want = f(x[i], a), err = fabs(y[i] - want);

			if (!isfinite(y[i]) || y[i] < lo || y[i] > hi) {
				bad++;
				continue;
			}
			if (err / float_ulp(want) > max_ulp) {
				max_ulp = err / float_ulp(want);
				worst = x[i];
			}
			if (fabs(want) >= FLT_MIN && err / fabs(want) > max_rel)
				max_rel = err / fabs(want);
		}
		total += m;
	}
	vok(bad == 0,
	    "%s: finite and in [%g, %g] for %zu finite inputs "
	    "(%zu not)",
	    name, lo, hi, total, bad);
	vok(max_ulp <= bound,
	    "%s: max error %.2f ulp (bound %g; at x = %.9g), max relative "
	    "error %.3g",
	    name, max_ulp, bound, worst, max_rel);
	free(x);
	free(y);
}

/* Special inputs: infinities give the limits, NaN gives NaN, +-0 keep
 * tanh's sign, and huge finite inputs saturate. */
static void special_case(void)
{
	float x[9] = {INFINITY, -INFINITY, NAN,     0.0f,    -0.0f,
	              1e30f,    -1e30f,    FLT_MAX, -FLT_MAX};
	float s[9], t[9], e[9], g[9];
	int good;

	k_sigmoid(x, s, 9, 0);
	k_tanh(x, t, 9, 0);
	k_elu(x, e, 9, 2.0f);
	k_elu_grad(x, g, 9, 2.0f);
	good = s[0] == 1 && s[1] == 0 && isnan(s[2]) && s[3] == 0.5f &&
	       s[4] == 0.5f && s[5] == 1 && s[6] == 0 && s[7] == 1 && s[8] == 0;
	vok(good, "sigmoid: 1, 0, NaN, 0.5, 0.5, 1, 0, 1, 0 at +-inf, NaN, "
	          "+-0, +-1e30, +-FLT_MAX");
	good = t[0] == 1 && t[1] == -1 && isnan(t[2]) && t[3] == 0 &&
	       !signbit(t[3]) && t[4] == 0 && signbit(t[4]) && t[5] == 1 &&
	       t[6] == -1 && t[7] == 1 && t[8] == -1;
	vok(good, "tanh: 1, -1, NaN, +0, -0, 1, -1, 1, -1 at +-inf, NaN, +-0, "
	          "+-1e30, +-FLT_MAX");
	good = e[0] == INFINITY && e[1] == -2 && isnan(e[2]) && e[3] == 0 &&
	       e[4] == 0 && e[5] == 1e30f && e[6] == -2 && e[7] == FLT_MAX &&
	       e[8] == -2;
	good &= g[0] == 1 && g[1] == 0 && isnan(g[2]) && g[3] == 2 &&
	        g[4] == 2 && g[5] == 1 && g[6] == 0 && g[7] == 1 && g[8] == 0;
	vok(good, "elu alpha 2: limits, NaN and +-0 in forward and backward");
}

static void test_accuracy(void)
{
	accuracy_case("sigmoid", k_sigmoid, r_sigmoid, 0, 3, 0, 1);
	accuracy_case("tanh", k_tanh, f_tanh, 0, 3, -1, 1);
	accuracy_case("elu alpha 1", k_elu, r_elu, 1.0f, 2, -1, FLT_MAX);
	accuracy_case("elu alpha 1.7", k_elu, r_elu, 1.7f, 3, -1.7f, FLT_MAX);
	accuracy_case("elu gradient alpha 1", k_elu_grad, r_elu_grad, 1.0f, 1.5,
	              0, 1);
	special_case();
}

/* ======================================================================== */
/* Average pooling                                                          */

/* The mean of each window, computed directly. */
static void avgpool_ref(const cnn_layer *l, const float *x, int n, double *want)
{
	int c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
	int oh = l->out_shape[1], ow = l->out_shape[2];

	for (int p = 0; p < n * c; p++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				double s = 0;

				for (int i = 0; i < l->kernel[0]; i++)
					for (int j = 0; j < l->kernel[1]; j++)
						s += x[((size_t)p * h +
						        oy * l->stride[0] + i) *
						           w +
						       ox * l->stride[1] + j];
				want[((size_t)p * oh + oy) * ow + ox] =
				    s / (l->kernel[0] * l->kernel[1]);
			}
}

/* avgpool (kh x kw)/(sh, sw) on c x h x w: the expected output shape,
 * forward against the direct mean, gradient check. */
static void avgpool_case(const char *name, int c, int h, int w, int kh, int kw,
                         int sh, int sw, int oh, int ow)
{
	const int n = 2;
	cnn_layer l;
	float *x, *y;
	double *want;
	int set;

	layer_defaults(&l);
	l.kernel[0] = kh;
	l.kernel[1] = kw;
	l.stride[0] = sh;
	l.stride[1] = sw;
	set = layer_setup(&l, &cnn_layer_avgpool, c, h, w);
	if (!vok(set && l.out_shape[0] == c && l.out_shape[1] == oh &&
	             l.out_shape[2] == ow && l.n_weight == 0,
	         "%s: %dx%dx%d -> %dx%dx%d (got %dx%dx%d)", name, c, h, w, c,
	         oh, ow, l.out_shape[0], l.out_shape[1], l.out_shape[2]))
		return;
	x = input(&l, n);
	y = falloc((size_t)n * l.out_size);
	want = malloc(sizeof(double) * n * l.out_size);
	avgpool_ref(&l, x, n, want);
	l.ops->forward(&l, x, y, n, NULL);
	vok(close_to(y, want, (size_t)n * l.out_size, 1e-6),
	    "%s: forward is the mean of each window", name);
	grad_check(name, &l, x, n, 1e-2);
	free(x);
	free(y);
	free(want);
	layer_free(&l);
}

/* 2x2 windows of stride 2 on an odd plane (7x5: the last row and column in
 * no window), with -0 among the values: the bits of the general loop's
 * float arithmetic, the sum from +0 in row-major order over 4, and dx = 0 +
 * dy / 4 in the windows, +0 outside. */
static void avgpool22_bits(void)
{
	cnn_pool_geom g = {7, 5, 2, 2, 2, 2, 3, 2, 0};
	float x[2 * 35], y[2 * 6], want[2 * 35], dy[2 * 6], dx[2 * 35];
	int same = 1;

	for (int i = 0; i < 70; i++)
		x[i] = i % 7 == 3 ? -0.0f : (float)cnn_rng_uniform(&rng) - 0.5f;
	x[0] = x[1] = x[5] = x[6] = -0.0f; /* a window of -0 only */
	for (int i = 0; i < 12; i++)
		dy[i] = i == 4 ? -0.0f : (float)cnn_rng_uniform(&rng) - 0.5f;
	cnn_avgpool_forward(&g, x, y, 2);
	for (int p = 0; p < 2; p++)
		for (int o = 0; o < 6; o++) {
			const float *w =
			    x + p * 35 + (o / 2) * 10 + (o % 2) * 2;
			float s = 0.0f;
			s += w[0];
			s += w[1];
			s += w[5];
			s += w[6];
			want[p * 6 + o] = s / 4.0f;
		}
	same &= !memcmp(y, want, sizeof y);
	cnn_avgpool_backward(&g, dy, dx, 2);
	for (int i = 0; i < 70; i++) {
		int p = i / 35, r = i % 35 / 5, c = i % 5;
		float d = 0.0f;
		if (r < 6 && c < 4)
			d += dy[p * 6 + (r / 2) * 2 + c / 2] / 4.0f;
		want[i] = d;
	}
	same &= !memcmp(dx, want, sizeof dx);
	ok(same, "avgpool 2x2/2: the general loop's bits, -0 and the uncovered "
	         "cells included");
}

static void test_avgpool(void)
{
	cnn_layer l;

	avgpool_case("avgpool 2x2/2", 3, 6, 8, 2, 2, 2, 2, 3, 4);
	avgpool_case("avgpool 2x2/2 odd input", 2, 7, 5, 2, 2, 2, 2, 3, 2);
	avgpool22_bits();
	avgpool_case("avgpool 3x3/2 overlapping", 2, 9, 8, 3, 3, 2, 2, 4, 3);
	avgpool_case("avgpool 3x2/(1,2) overlapping rows", 1, 5, 7, 3, 2, 1, 2,
	             3, 3);
	avgpool_case("avgpool 3x3/1", 2, 5, 5, 3, 3, 1, 1, 3, 3);
	avgpool_case("avgpool window = input", 2, 4, 3, 4, 3, 4, 3, 1, 1);

	/* overlapping windows: dy = 1 everywhere gives each cell the number
	 * of windows covering it, over 9 */
	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = 3;
	l.stride[0] = l.stride[1] = 2;
	if (layer_setup(&l, &cnn_layer_avgpool, 1, 5, 5)) {
		float x[25] = {0}, y[4], dy[4] = {1, 1, 1, 1}, dx[25];
		int good = 1;

		l.ops->forward(&l, x, y, 1, NULL);
		l.ops->backward(&l, x, y, dy, dx, 1, NULL);
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 5; j++) {
				int ci = i == 2 ? 2 : 1, cj = j == 2 ? 2 : 1;

				good &= dx[i * 5 + j] == (float)(ci * cj) / 9;
			}
		vok(good, "avgpool overlap: gradients accumulate where windows "
		          "overlap");
		layer_free(&l);
	}

	/* cells no window covers get 0 */
	layer_defaults(&l);
	l.kernel[0] = l.kernel[1] = 2;
	l.stride[0] = l.stride[1] = 2;
	if (layer_setup(&l, &cnn_layer_avgpool, 1, 3, 3)) {
		float x[9] = {0}, y[1], dy[1] = {4}, dx[9];
		float want[9] = {1, 1, 0, 1, 1, 0, 0, 0, 0};

		for (int i = 0; i < 9; i++)
			dx[i] = NAN;
		l.ops->forward(&l, x, y, 1, NULL);
		l.ops->backward(&l, x, y, dy, dx, 1, NULL);
		vok(!memcmp(dx, want, sizeof want),
		    "avgpool: cells outside every window get gradient 0");
		layer_free(&l);
	}
}

static void test_global_avgpool(void)
{
	const int n = 3;
	cnn_layer l;
	float *x, *y;
	double *want;

	layer_defaults(&l);
	if (!vok(layer_setup(&l, &cnn_layer_global_avgpool, 4, 5, 7) &&
	             l.out_shape[0] == 4 && l.out_shape[1] == 1 &&
	             l.out_shape[2] == 1 && l.out_size == 4 && l.n_weight == 0,
	         "global_avgpool: 4x5x7 -> 4x1x1"))
		return;
	x = input(&l, n);
	y = falloc((size_t)n * 4);
	want = malloc(sizeof(double) * n * 4);
	for (int p = 0; p < n * 4; p++) {
		double s = 0;

		for (int i = 0; i < 35; i++)
			s += x[p * 35 + i];
		want[p] = s / 35;
	}
	l.ops->forward(&l, x, y, n, NULL);
	vok(close_to(y, want, (size_t)n * 4, 1e-6),
	    "global_avgpool: forward is the mean of each plane");
	grad_check("global_avgpool", &l, x, n, 1e-2);
	free(x);
	free(y);
	free(want);
	layer_free(&l);

	layer_defaults(&l);
	if (vok(layer_setup(&l, &cnn_layer_global_avgpool, 3, 1, 1),
	        "global_avgpool: 3x1x1 -> 3x1x1")) {
		x = input(&l, 2);
		grad_check("global_avgpool 1x1", &l, x, 2, 1e-2);
		free(x);
		layer_free(&l);
	}
}

/* ======================================================================== */
/* Dropout                                                                  */

/* A dropout layer with the given rate on c x h x w, set up for pass p. */
static int dropout_setup(cnn_layer *l, double rate, const cnn_pass *p, int c,
                         int h, int w)
{
	layer_defaults(l);
	l->rate = rate;
	l->pass = p;
	return layer_setup(l, &cnn_layer_dropout, c, h, w);
}

/* Forward and backward leave x (and dy) unchanged. */
static int is_identity(cnn_layer *l, const float *x, int n)
{
	size_t count = (size_t)n * l->in_size;
	float *y = falloc(count), *dx = falloc(count);
	int same;

	l->ops->forward(l, x, y, n, NULL);
	l->ops->backward(l, x, y, x, dx, n, NULL);
	same = !memcmp(y, x, sizeof(float) * count) &&
	       !memcmp(dx, x, sizeof(float) * count);
	free(y);
	free(dx);
	return same;
}

static void test_dropout_eval(void)
{
	cnn_pass eval = {.training = 0, .seed = 99, .sample0 = 0, .batch = 4};
	cnn_pass train0 = {.training = 1, .seed = 99, .sample0 = 0, .batch = 4};
	cnn_layer l;
	float *x;

	if (!vok(dropout_setup(&l, 0.5, NULL, 3, 4, 5) && l.out_shape[0] == 3 &&
	             l.out_shape[1] == 4 && l.out_shape[2] == 5 &&
	             l.n_weight == 0,
	         "dropout: 3x4x5 -> 3x4x5, no parameters"))
		return;
	x = input(&l, 4);
	vok(is_identity(&l, x, 4), "dropout: identity without a pass");
	l.pass = &eval;
	vok(is_identity(&l, x, 4), "dropout: identity in evaluation");
	l.rate = 0.0;
	l.pass = &train0;
	vok(is_identity(&l, x, 4), "dropout: rate 0 is the identity in "
	                           "training");
	free(x);
	layer_free(&l);
}

/* The kept fraction and scale for one rate on n samples of 64x32x32. */
static void dropout_stats(double rate)
{
	const int n = 4;
	cnn_pass pass = {
	    .training = 1, .seed = 12345, .sample0 = 0, .batch = n};
	cnn_layer l;
	float *x, *y, scale = (float)(1.0 / (1.0 - rate));
	size_t count, kept = 0;
	int scaled = 1;
	double frac, sd;

	if (!dropout_setup(&l, rate, &pass, 64, 32, 32))
		return;
	count = (size_t)n * l.in_size;
	x = input(&l, n);
	away_from_zero(x, count, 0.01f);
	y = falloc(count);
	l.ops->forward(&l, x, y, n, NULL);
	for (size_t i = 0; i < count; i++) {
		if (y[i] != 0.0f) {
			kept++;
			scaled &= y[i] == x[i] * scale;
		}
	}
	frac = (double)kept / count;
	/* 6 standard deviations of the binomial fraction */
	sd = sqrt(rate * (1 - rate) / count);
	vok(fabs(frac - (1 - rate)) < 6 * sd,
	    "dropout rate %g: kept %.4f of %zu values (expected %.4f +- %.4f)",
	    rate, frac, count, 1 - rate, 6 * sd);
	vok(scaled, "dropout rate %g: kept values are scaled by 1/(1-rate)",
	    rate);
	free(x);
	free(y);
	layer_free(&l);
}

/* The mask of 8 samples at once equals that of two 4-sample chunks with
 * sample0 0 and 4; another seed or another layer index gives another. */
static void test_dropout_mask(void)
{
	cnn_pass whole = {.training = 1, .seed = 777, .sample0 = 0, .batch = 8};
	cnn_pass first = whole, second = whole, other = whole;
	cnn_layer l;
	float *x, *y, *y2, *dy, *dx;
	size_t half, count, differ = 0, zeros = 0;
	int good = 1;

	second.sample0 = 4;
	other.seed = 778;
	if (!dropout_setup(&l, 0.4, &whole, 2, 8, 8))
		return;
	half = 4 * l.in_size;
	count = 2 * half;
	x = input(&l, 8);
	away_from_zero(x, count, 0.01f);
	y = falloc(count);
	y2 = falloc(count);
	dy = falloc(count);
	dx = falloc(count);

	l.ops->forward(&l, x, y, 8, NULL);
	l.pass = &first;
	l.ops->forward(&l, x, y2, 4, NULL);
	l.pass = &second;
	l.ops->forward(&l, x + half, y2 + half, 4, NULL);
	vok(!memcmp(y, y2, sizeof(float) * count),
	    "dropout: 8 samples at once give the same mask as chunks of 4 "
	    "with sample0 0 and 4");

	/* only the last sample, alone */
	second.sample0 = 7;
	l.ops->forward(&l, x + 7 * l.in_size, y2, 1, NULL);
	vok(!memcmp(y + 7 * l.in_size, y2, sizeof(float) * l.in_size),
	    "dropout: a sample's mask depends on its index, not on the chunk");

	/* backward applies the same mask: dy = 1 gives scale where kept */
	l.pass = &whole;
	for (size_t i = 0; i < count; i++)
		dy[i] = 1.0f;
	l.ops->backward(&l, x, y, dy, dx, 8, NULL);
	for (size_t i = 0; i < count; i++) {
		good &= (y[i] != 0.0f) == (dx[i] != 0.0f);
		good &= dx[i] == 0.0f || dx[i] == (float)(1.0 / 0.6);
		zeros += dx[i] == 0.0f;
	}
	vok(good && zeros > 0 && zeros < count,
	    "dropout: backward recomputes the forward mask (%zu of %zu "
	    "dropped)",
	    zeros, count);

	/* the same seed again: the same mask */
	l.ops->forward(&l, x, y2, 8, NULL);
	vok(!memcmp(y, y2, sizeof(float) * count),
	    "dropout: the same seed gives the same mask");

	l.pass = &other;
	l.ops->forward(&l, x, y2, 8, NULL);
	for (size_t i = 0; i < count; i++)
		differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
	/* two independent masks disagree on 2 * 0.4 * 0.6 = 48% */
	vok(differ > count / 3,
	    "dropout: another seed gives another mask (%zu of %zu differ)",
	    differ, count);

	l.pass = &whole;
	l.index = 5;
	l.ops->forward(&l, x, y2, 8, NULL);
	differ = 0;
	for (size_t i = 0; i < count; i++)
		differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
	vok(differ > count / 3,
	    "dropout: another layer position gives another mask (%zu of %zu "
	    "differ)",
	    differ, count);

	free(x);
	free(y);
	free(y2);
	free(dy);
	free(dx);
	layer_free(&l);
}

static void test_dropout_grad(void)
{
	cnn_pass pass = {.training = 1, .seed = 4242, .sample0 = 3, .batch = 9};
	cnn_layer l;
	float *x;

	if (dropout_setup(&l, 0.3, &pass, 3, 4, 4)) {
		x = input(&l, 3);
		grad_check("dropout training", &l, x, 3, 1e-2);
		free(x);
		layer_free(&l);
	}
	if (dropout_setup(&l, 0.3, NULL, 3, 4, 4)) {
		x = input(&l, 3);
		grad_check("dropout evaluation", &l, x, 3, 1e-2);
		free(x);
		layer_free(&l);
	}
}

/* ======================================================================== */
/* Configuration                                                            */

/* configure fails with exactly the message want ("file:line:col: path:
 * message"). */
static void config_error(const char *yaml, const char *want)
{
	cnn_layer l;
	cnn_error err;
	cnn_status st = configure_yaml(&l, yaml, &err);
	char buf[1024];

	cnn_error_string(&err, buf, sizeof buf);
	ok(st == CNN_ERR_CONFIG && !strcmp(buf, want), "configure error: %s",
	   st == CNN_ERR_CONFIG ? buf : "(no error)");
	if (st == CNN_ERR_CONFIG && strcmp(buf, want))
		diag("expected: %s", want);
}

static void test_configure(void)
{
	static const char *const kinds[] = {
	    "sigmoid", "tanh",           "leaky_relu", "elu",
	    "avgpool", "global_avgpool", "dropout"};
	static const char *const old_kinds[] = {
	    "type: conv2d\nfilters: 2\nkernel: 3\n",
	    "type: relu\n",
	    "type: maxpool\nsize: 2\n",
	    "type: flatten\n",
	    "type: dense\nunits: 3\n",
	    "type: softmax\n"};
	cnn_layer l;
	cnn_error err;
	cnn_status st;
	char yaml[256];
	int good = 1;

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const cnn_layer_ops *ops = cnn_layer_find(kinds[i]);

		good &= ops && !strcmp(ops->type, kinds[i]) && ops->configure &&
		        ops->infer && ops->forward && ops->backward;
	}
	ok(good, "registry: the seven new kinds are found under their type");

	/* the defaults */
	st = configure_yaml(&l, "type: leaky_relu\n", &err);
	good = st == CNN_OK && l.alpha == 0.01;
	st = configure_yaml(&l, "type: elu\n", &err);
	good &= st == CNN_OK && l.alpha == 1.0;
	st = configure_yaml(&l, "type: dropout\n", &err);
	good &= st == CNN_OK && l.rate == 0.5;
	ok(good, "configure: slope 0.01, alpha 1 and rate 0.5 by default");

	/* explicit values, including the ends of the ranges */
	st = configure_yaml(&l, "type: leaky_relu\nslope: 0.2\n", &err);
	good = st == CNN_OK && l.alpha == 0.2;
	st = configure_yaml(&l, "type: leaky_relu\nslope: 0\n", &err);
	good &= st == CNN_OK && l.alpha == 0.0;
	st = configure_yaml(&l, "type: leaky_relu\nslope: 1\n", &err);
	good &= st == CNN_OK && l.alpha == 1.0;
	st = configure_yaml(&l, "type: elu\nalpha: 0.25\n", &err);
	good &= st == CNN_OK && l.alpha == 0.25;
	st = configure_yaml(&l, "type: elu\nalpha: 1e6\n", &err);
	good &= st == CNN_OK && l.alpha == 1e6;
	st = configure_yaml(&l, "type: dropout\nrate: 0\n", &err);
	good &= st == CNN_OK && l.rate == 0.0;
	st = configure_yaml(&l, "type: dropout\nrate: 0.999\n", &err);
	good &= st == CNN_OK && l.rate == 0.999;
	ok(good, "configure: slope, alpha and rate read, the ends of their "
	         "ranges accepted");

	st = configure_yaml(&l, "type: avgpool\nsize: [3, 2]\nname: p\n", &err);
	good = st == CNN_OK && l.kernel[0] == 3 && l.kernel[1] == 2 &&
	       l.stride[0] == 3 && l.stride[1] == 2;
	st = configure_yaml(&l, "type: avgpool\nsize: 3\nstride: [1, 2]\n",
	                    &err);
	good &= st == CNN_OK && l.kernel[0] == 3 && l.kernel[1] == 3 &&
	        l.stride[0] == 1 && l.stride[1] == 2;
	ok(good, "configure avgpool: size and stride, stride defaults to size");

	/* every kind, old and new, accepts "input" */
	good = 1;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(yaml, sizeof yaml, "type: %s\nname: a\ninput: b\n%s",
		         kinds[i],
		         strcmp(kinds[i], "avgpool") ? "" : "size: 2\n");
		st = configure_yaml(&l, yaml, &err);
		if (st)
			diag("%s: %s", kinds[i], err.message);
		good &= st == CNN_OK;
	}
	for (size_t i = 0; i < sizeof old_kinds / sizeof old_kinds[0]; i++) {
		snprintf(yaml, sizeof yaml, "%sinput: b\n", old_kinds[i]);
		st = configure_yaml(&l, yaml, &err);
		if (st)
			diag("%s", err.message);
		good &= st == CNN_OK;
	}
	ok(good, "configure: every kind accepts the keys type, name and input");

	config_error("type: leaky_relu\nslope: 1.5\n",
	             "layer.yaml:2:8: leaky_relu.slope: expected a number from "
	             "0 to 1, got \"1.5\"");
	config_error("type: leaky_relu\nslope: -0.1\n",
	             "layer.yaml:2:8: leaky_relu.slope: expected a number from "
	             "0 to 1, got \"-0.1\"");
	config_error("type: leaky_relu\nslope: steep\n",
	             "layer.yaml:2:8: leaky_relu.slope: expected a number from "
	             "0 to 1, got \"steep\"");
	config_error("type: elu\nalpha: 0\n",
	             "layer.yaml:2:8: elu.alpha: expected a number in (0, "
	             "1e+06], got \"0\"");
	config_error("type: elu\nalpha: -1\n",
	             "layer.yaml:2:8: elu.alpha: expected a number in (0, "
	             "1e+06], got \"-1\"");
	config_error("type: elu\nalpha: 2e6\n",
	             "layer.yaml:2:8: elu.alpha: expected a number in (0, "
	             "1e+06], got \"2e6\"");
	config_error("type: elu\nalpha: [1]\n",
	             "layer.yaml:2:8: elu.alpha: expected a number in (0, "
	             "1e+06], got a sequence");
	config_error(
	    "type: dropout\nrate: 1\n",
	    "layer.yaml:2:7: dropout.rate: expected a number in [0, 1), "
	    "got \"1\"");
	config_error(
	    "type: dropout\nrate: -0.5\n",
	    "layer.yaml:2:7: dropout.rate: expected a number in [0, 1), "
	    "got \"-0.5\"");
	config_error("type: dropout\nrate: \"0.5\"\n",
	             "layer.yaml:2:7: dropout.rate: expected a number in [0, "
	             "1), got a quoted string \"0.5\"");
	config_error("type: avgpool\nstride: 2\n",
	             "layer.yaml:1:1: avgpool.size: missing (expected a "
	             "positive integer or a list [height, width] of two)");
	config_error("type: avgpool\nsize: 0\n",
	             "layer.yaml:2:7: avgpool.size: expected a positive "
	             "integer or a list [height, width] of two, got \"0\"");

	/* unknown keys, at their own position */
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(yaml, sizeof yaml, "type: %s\n%sunits: 3\n", kinds[i],
		         strcmp(kinds[i], "avgpool") ? "" : "size: 2\n");
		st = configure_yaml(&l, yaml, &err);
		ok(st == CNN_ERR_CONFIG && strstr(err.message, "unknown key") &&
		       strstr(err.message, "\"units\"") &&
		       strstr(err.message, "input") &&
		       err.line == (strcmp(kinds[i], "avgpool") ? 2 : 3) &&
		       err.column == 1,
		   "configure %s: unknown key refused: \"%d:%d: %s\"", kinds[i],
		   err.line, err.column, err.message);
	}
}

/* ======================================================================== */
/* Shape errors                                                             */

static void test_infer_errors(void)
{
	static cnn_node node = {
	    .type = CNN_NODE_MAP, .file = "model.yaml", .line = 7, .col = 5};
	cnn_layer l;
	cnn_error err;
	cnn_status st;

	layer_defaults(&l);
	l.kernel[0] = 3;
	l.kernel[1] = 3;
	l.stride[0] = l.stride[1] = 3;
	l.node = &node;
	l.in_shape[0] = 1;
	l.in_shape[1] = 2;
	l.in_shape[2] = 5;
	cnn_err_clear(&err);
	st = cnn_layer_avgpool.infer(&l, "layers.3", &err);
	ok(st == CNN_ERR_CONFIG && err.line == 7 &&
	       !strcmp(err.message, "window 3x3 does not fit the input 2x5"),
	   "avgpool: window larger than the input: \"%s\"", err.message);

	layer_defaults(&l);
	l.node = &node;
	l.in_shape[0] = 0;
	l.in_shape[1] = 2;
	l.in_shape[2] = 2;
	cnn_err_clear(&err);
	st = cnn_layer_global_avgpool.infer(&l, "layers.3", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "empty"),
	   "global_avgpool: refuses an empty input: \"%s\"", err.message);
}

int main(void)
{
	plan_no_plan();
	cnn_rng_seed(&rng, 2025);
	variant = cnn_kernels_name();
	test_elementwise();
	test_accuracy();
	test_avgpool();
	test_global_avgpool();
	test_dropout_eval();
	dropout_stats(0.5);
	dropout_stats(0.1);
	dropout_stats(0.9);
	test_dropout_mask();
	test_dropout_grad();
	test_configure();
	test_infer_errors();
	return done();
}

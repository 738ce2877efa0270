/*
 * test_batchnorm.c - the batchnorm layer: its gradients against central
 * finite differences in training and in evaluation, independence from how
 * the batch is cut into chunks, the normalised output, the running
 * statistics, shape inference and configuration.
 *
 * In training the layer needs the graph's phases (see internal.h); a small
 * driver here runs them as the graph does: forward_stats on each chunk
 * into its own accumulator, the accumulators summed in chunk order into
 * l->stats, stats_ready, forward on each chunk; then backward_stats the
 * same way into the second half of l->stats, and backward on each chunk.
 */
#include "gradcheck.h"
#include "model.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A batchnorm layer with its state, statistics and workspace. */
typedef struct rig {
	cnn_layer l;
	cnn_pass pass;
	float *ws;
	double *acc; /* one chunk's accumulator, stats_size doubles */
	size_t ss;   /* stats_size */
	int n;       /* largest batch */
} rig;

/* Sets up a batchnorm layer for input (c, h, w) and batches of up to n:
 * gamma in [0.5, 1.5], beta in [-0.5, 0.5], running statistics reset. */
static int rig_setup(rig *r, int c, int h, int w, int n, int training)
{
	memset(r, 0, sizeof *r);
	layer_defaults(&r->l);
	r->l.momentum = 0.1;
	r->l.epsilon = 1e-5;
	if (!layer_setup(&r->l, &cnn_layer_batchnorm, c, h, w))
		return 0;
	fill(r->l.w, r->l.n_weight, 0.5, 1.5);
	r->l.state = falloc(r->l.n_state);
	r->l.ops->reset_state(&r->l);
	r->ss = r->l.ops->stats_size(&r->l);
	r->l.stats = calloc(2 * r->ss, sizeof(double));
	r->acc = calloc(r->ss, sizeof(double));
	r->ws = falloc(workspace_of(&r->l, n));
	r->n = n;
	r->pass.training = training;
	r->pass.batch = n;
	r->l.pass = &r->pass;
	return r->l.stats && r->acc;
}

static void rig_free(rig *r)
{
	layer_free(&r->l);
	free(r->l.state);
	free(r->l.stats);
	free(r->acc);
	free(r->ws);
}

/* Runs forward on n samples cut into chunks of the given sizes (which sum
 * to n), running the statistics phases in training. */
static void run_forward(rig *r, const float *x, float *y, int n,
                        const int *chunks, int n_chunks)
{
	cnn_layer *l = &r->l;
	size_t in = l->in_size, out = l->out_size;
	int s0 = 0;

	if (r->pass.training) {
		memset(l->stats, 0, sizeof(double) * r->ss);
		for (int k = 0; k < n_chunks; k++) {
			memset(r->acc, 0, sizeof(double) * r->ss);
			l->ops->forward_stats(l, x + (size_t)s0 * in, chunks[k],
			                      r->acc);
			for (size_t i = 0; i < r->ss; i++)
				l->stats[i] += r->acc[i];
			s0 += chunks[k];
		}
		l->ops->stats_ready(l);
	}
	s0 = 0;
	for (int k = 0; k < n_chunks; k++) {
		l->ops->forward(l, x + (size_t)s0 * in, y + (size_t)s0 * out,
		                chunks[k], r->ws);
		s0 += chunks[k];
	}
	(void)n;
}

/* Backward after run_forward, same chunks; dx may be NULL. */
static void run_backward(rig *r, const float *x, const float *y,
                         const float *dy, float *dx, const int *chunks,
                         int n_chunks)
{
	cnn_layer *l = &r->l;
	size_t in = l->in_size, out = l->out_size;
	double *second = l->stats + r->ss;
	int s0 = 0;

	if (r->pass.training) {
		memset(second, 0, sizeof(double) * r->ss);
		for (int k = 0; k < n_chunks; k++) {
			size_t o = (size_t)s0 * out;

			memset(r->acc, 0, sizeof(double) * r->ss);
			l->ops->backward_stats(l, x + (size_t)s0 * in, y + o,
			                       dy + o, chunks[k], r->acc);
			for (size_t i = 0; i < r->ss; i++)
				second[i] += r->acc[i];
			s0 += chunks[k];
		}
	}
	s0 = 0;
	for (int k = 0; k < n_chunks; k++) {
		size_t o = (size_t)s0 * out;

		l->ops->backward(l, x + (size_t)s0 * in, y + o, dy + o,
		                 dx ? dx + (size_t)s0 * in : NULL, chunks[k],
		                 r->ws);
		s0 += chunks[k];
	}
}

/* L = sum(y * rr) through the phased forward, one chunk. */
static double phased_loss(rig *r, const float *x, const float *rr, float *y,
                          int n)
{
	double s = 0;

	run_forward(r, x, y, n, &n, 1);
	for (size_t i = 0; i < (size_t)n * r->l.out_size; i++)
		s += (double)y[i] * rr[i];
	return s;
}

/* Central differences of the phased loss with respect to p[0..count). */
static void phased_fd(rig *r, const float *x, const float *rr, float *y, int n,
                      float *p, size_t count, double h, double *fd)
{
	for (size_t i = 0; i < count; i++) {
		float keep = p[i];
		double lp, lm;

		p[i] = (float)(keep + h);
		lp = phased_loss(r, x, rr, y, n);
		p[i] = (float)(keep - h);
		lm = phased_loss(r, x, rr, y, n);
		p[i] = keep;
		fd[i] = (lp - lm) / (2 * h);
	}
}

/* Training-mode gradients (dx, dgamma, dbeta) of a (c, h, w) input of n
 * samples against finite differences; then dx == NULL gives the same
 * dgamma, dbeta. */
static void check_training_grads(const char *name, int c, int h, int w, int n)
{
	rig r;
	size_t nin, nout;
	float *x, *y, *rr, *dx, *dw1, *db1;
	double *fd, e;
	int same;

	if (!rig_setup(&r, c, h, w, n, 1)) {
		ok(0, "%s: setup", name);
		return;
	}
	nin = (size_t)n * r.l.in_size;
	nout = (size_t)n * r.l.out_size;
	x = input(&r.l, n);
	y = falloc(nout);
	rr = falloc(nout);
	dx = falloc(nin);
	dw1 = falloc(r.l.n_weight);
	db1 = falloc(r.l.n_bias);
	fd = malloc(sizeof(double) * nin);
	fill(rr, nout, -1, 1);
	for (size_t i = 0; i < nin; i++)
		dx[i] = NAN; /* backward overwrites dx */

	run_forward(&r, x, y, n, &n, 1);
	run_backward(&r, x, y, rr, dx, &n, 1);
	phased_fd(&r, x, rr, y, n, x, nin, 5e-3, fd);
	e = rel_err(dx, fd, nin);
	ok(e < GRAD_TOL,
	   "%s training: dx matches finite differences (rel err "
	   "%.2g)",
	   name, e);
	phased_fd(&r, x, rr, y, n, r.l.w, r.l.n_weight, 5e-3, fd);
	e = rel_err(r.l.dw, fd, r.l.n_weight);
	ok(e < GRAD_TOL,
	   "%s training: dgamma matches finite differences (rel err %.2g)",
	   name, e);
	phased_fd(&r, x, rr, y, n, r.l.b, r.l.n_bias, 5e-3, fd);
	e = rel_err(r.l.db, fd, r.l.n_bias);
	ok(e < GRAD_TOL,
	   "%s training: dbeta matches finite differences (rel err %.2g)", name,
	   e);

	memcpy(dw1, r.l.dw, sizeof(float) * r.l.n_weight);
	memcpy(db1, r.l.db, sizeof(float) * r.l.n_bias);
	memset(r.l.dw, 0, sizeof(float) * r.l.n_weight);
	memset(r.l.db, 0, sizeof(float) * r.l.n_bias);
	run_forward(&r, x, y, n, &n, 1);
	run_backward(&r, x, y, rr, NULL, &n, 1);
	same = !memcmp(dw1, r.l.dw, sizeof(float) * r.l.n_weight) &&
	       !memcmp(db1, r.l.db, sizeof(float) * r.l.n_bias);
	ok(same, "%s training: dx == NULL gives the same dgamma, dbeta", name);

	free(x);
	free(y);
	free(rr);
	free(dx);
	free(dw1);
	free(db1);
	free(fd);
	rig_free(&r);
}

/* Largest |a - b| / (1 + |b|) over n. */
static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]) / (1 + fabs(b[i]));

		if (!(d <= m)) /* NaN counts as worst */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

/* One chunk of 6 against chunks of 2 and 4 (and 1+2+3): same y, dx, and
 * dgamma, dbeta (summed over chunks). */
static void test_chunks(void)
{
	static const int one[] = {6}, two[] = {2, 4}, three[] = {1, 2, 3};
	const int *cuts[] = {two, three};
	const int n_cuts[] = {2, 3};
	rig r;
	size_t nin, nout;
	float *x, *y1, *y2, *rr, *dx1, *dx2, *dw1, *db1;
	int n = 6;

	if (!rig_setup(&r, 3, 4, 5, n, 1)) {
		ok(0, "chunks: setup");
		return;
	}
	nin = (size_t)n * r.l.in_size;
	nout = (size_t)n * r.l.out_size;
	x = input(&r.l, n);
	for (size_t i = 0; i < nin; i++)
		x[i] += 3.0f; /* an offset, so that the mean matters */
	y1 = falloc(nout);
	y2 = falloc(nout);
	rr = falloc(nout);
	dx1 = falloc(nin);
	dx2 = falloc(nin);
	dw1 = falloc(r.l.n_weight);
	db1 = falloc(r.l.n_bias);
	fill(rr, nout, -1, 1);

	run_forward(&r, x, y1, n, one, 1);
	run_backward(&r, x, y1, rr, dx1, one, 1);
	memcpy(dw1, r.l.dw, sizeof(float) * r.l.n_weight);
	memcpy(db1, r.l.db, sizeof(float) * r.l.n_bias);
	for (int k = 0; k < 2; k++) {
		double ey, edx, ew, eb;

		memset(r.l.dw, 0, sizeof(float) * r.l.n_weight);
		memset(r.l.db, 0, sizeof(float) * r.l.n_bias);
		run_forward(&r, x, y2, n, cuts[k], n_cuts[k]);
		run_backward(&r, x, y2, rr, dx2, cuts[k], n_cuts[k]);
		ey = max_diff(y2, y1, nout);
		edx = max_diff(dx2, dx1, nin);
		ew = max_diff(r.l.dw, dw1, r.l.n_weight);
		eb = max_diff(r.l.db, db1, r.l.n_bias);
		ok(ey < 1e-6 && edx < 1e-6 && ew < 1e-5 && eb < 1e-5,
		   "chunks of %d: y, dx, dgamma, dbeta as with one chunk "
		   "(diffs %.2g %.2g %.2g %.2g)",
		   n_cuts[k], ey, edx, ew, eb);
	}
	free(x);
	free(y1);
	free(y2);
	free(rr);
	free(dx1);
	free(dx2);
	free(dw1);
	free(db1);
	rig_free(&r);
}

/* With gamma 1 and beta 0 the training output of every channel has mean 0
 * and (biased) variance 1, whatever the input's offset and scale. */
static void test_normalised(void)
{
	rig r;
	int n = 6, c = 3;
	size_t hw = 20, nout;
	float *x, *y;
	double worst_m = 0, worst_v = 0;

	if (!rig_setup(&r, c, 4, 5, n, 1)) {
		ok(0, "normalised: setup");
		return;
	}
	nout = (size_t)n * r.l.out_size;
	x = input(&r.l, n);
	y = falloc(nout);
	for (int s = 0; s < n; s++)
		for (int ch = 0; ch < c; ch++)
			for (size_t i = 0; i < hw; i++) {
				float *v = &x[((size_t)s * c + ch) * hw + i];

				*v = *v * (float)(ch + 1) * 3.0f +
				     (float)(ch * 5 - 4);
			}
	for (int ch = 0; ch < c; ch++) {
		r.l.w[ch] = 1.0f;
		r.l.b[ch] = 0.0f;
	}
	run_forward(&r, x, y, n, &n, 1);
	for (int ch = 0; ch < c; ch++) {
		double s = 0, q = 0, m, v;

		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < hw; i++)
				s += y[((size_t)j * c + ch) * hw + i];
		m = s / (n * (double)hw);
		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < hw; i++) {
				double d = y[((size_t)j * c + ch) * hw + i] - m;

				q += d * d;
			}
		v = q / (n * (double)hw);
		if (fabs(m) > worst_m)
			worst_m = fabs(m);
		if (fabs(v - 1) > worst_v)
			worst_v = fabs(v - 1);
	}
	ok(worst_m < 1e-5 && worst_v < 1e-3,
	   "training output per channel: mean 0 (off by %.2g), variance 1 "
	   "(off by %.2g)",
	   worst_m, worst_v);
	free(x);
	free(y);
	rig_free(&r);
}

/* Running statistics after one stats_ready, computed here in double with
 * two passes; then evaluation uses them; then its gradients. */
static void test_running(void)
{
	rig r;
	int n = 5, c = 4;
	size_t hw = 6, nin;
	float *x, *y, *y2, *init;
	double m = 0.3, worst = 0, worst_y = 0;
	int reset_ok = 1;

	if (!rig_setup(&r, c, 2, 3, n, 1)) {
		ok(0, "running: setup");
		return;
	}
	for (int ch = 0; ch < c; ch++)
		reset_ok &= r.l.state[ch] == 0.0f && r.l.state[c + ch] == 1.0f;
	ok(reset_ok && r.l.n_state == 2 * (size_t)c && r.l.state_parts == 2 &&
	       !strcmp(r.l.state_suffix[0], "running_mean") &&
	       !strcmp(r.l.state_suffix[1], "running_var"),
	   "state: running_mean 0 and running_var 1 after reset_state");

	r.l.momentum = m;
	nin = (size_t)n * r.l.in_size;
	x = input(&r.l, n);
	y = falloc(nin);
	y2 = falloc(nin);
	init = falloc(r.l.n_state);
	for (size_t i = 0; i < nin; i++)
		x[i] = x[i] * 2.0f + 1.5f;
	fill(init, (size_t)c, -1, 1);
	fill(init + c, (size_t)c, 0.5, 2);
	memcpy(r.l.state, init, sizeof(float) * r.l.n_state);
	run_forward(&r, x, y, n, &n, 1);
	for (int ch = 0; ch < c; ch++) {
		double s = 0, q = 0, mean, var, N = n * (double)hw;
		double want_m, want_v;

		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < hw; i++)
				s += x[((size_t)j * c + ch) * hw + i];
		mean = s / N;
		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < hw; i++) {
				double d =
				    x[((size_t)j * c + ch) * hw + i] - mean;

				q += d * d;
			}
		var = q / (N - 1);
		want_m = (1 - m) * init[ch] + m * mean;
		want_v = (1 - m) * init[c + ch] + m * var;
		worst = fmax(worst,
		             fabs(r.l.state[ch] - want_m) / (1 + fabs(want_m)));
		worst = fmax(worst, fabs(r.l.state[c + ch] - want_v) / want_v);
	}
	ok(worst < 1e-6,
	   "running = (1 - momentum) * running + momentum * batch, unbiased "
	   "variance (off by %.2g)",
	   worst);

	/* evaluation: the running statistics, nothing of the batch */
	r.pass.training = 0;
	memcpy(init, r.l.state, sizeof(float) * r.l.n_state);
	memset(r.l.stats, 0, sizeof(double) * 2 * r.ss);
	r.l.ops->forward(&r.l, x, y, n, r.ws);
	for (int j = 0; j < n; j++)
		for (int ch = 0; ch < c; ch++)
			for (size_t i = 0; i < hw; i++) {
				size_t o = ((size_t)j * c + ch) * hw + i;
				double want = r.l.w[ch] * (x[o] - init[ch]) /
				                  sqrt(init[c + ch] + 1e-5) +
				              r.l.b[ch];

				worst_y = fmax(worst_y, fabs(y[o] - want));
			}
	ok(worst_y < 1e-5 &&
	       !memcmp(init, r.l.state, sizeof(float) * r.l.n_state),
	   "evaluation normalises with the running statistics (max diff "
	   "%.2g) and leaves them alone",
	   worst_y);
	r.l.pass = NULL;
	r.l.ops->forward(&r.l, x, y2, n, r.ws);
	ok(!memcmp(y2, y, sizeof(float) * nin),
	   "a layer without a pass is in evaluation mode");

	variant = "eval";
	grad_check("batchnorm 4x2x3 evaluation", &r.l, x, n, 1e-2);
	r.l.pass = &r.pass;
	grad_check("batchnorm 4x2x3 evaluation (training 0)", &r.l, x, n, 1e-2);

	free(x);
	free(y);
	free(y2);
	free(init);
	rig_free(&r);
}

/* A batch of one value per channel: the output is beta, the running mean
 * moves, the running variance (undefined unbiased) stays. */
static void test_single(void)
{
	rig r;
	int n = 1;
	float x[3] = {0.7f, -2.0f, 5.0f}, y[3];
	int good = 1;

	if (!rig_setup(&r, 3, 1, 1, n, 1)) {
		ok(0, "single: setup");
		return;
	}
	run_forward(&r, x, y, n, &n, 1);
	for (int ch = 0; ch < 3; ch++) {
		good &= fabsf(y[ch] - r.l.b[ch]) < 1e-6f;
		good &= fabs(r.l.state[ch] - 0.1 * x[ch]) < 1e-6;
		good &= r.l.state[3 + ch] == 1.0f;
		good &= isfinite(y[ch]);
	}
	ok(good, "a batch of one value per channel: y = beta, running_var "
	         "unchanged");
	rig_free(&r);
}

/* ======================================================================== */
/* Configuration and shapes                                                 */

static cnn_tree tree;

/* configure() of batchnorm on a layer parsed from YAML text, with the
 * initialisers spec.c sets first; returns its status. */
static cnn_status configure_bn(cnn_layer *l, const char *yaml, cnn_error *err)
{
	cnn_status st;

	layer_defaults(l);
	/* what spec.c sets before configure */
	l->weight_init.type = CNN_INIT_HE;
	l->bias_init.type = CNN_INIT_ZEROS;
	cnn_err_clear(err);
	if ((st = cnn_tree_parse(&tree, yaml, strlen(yaml), "layer.yaml", err)))
		return st;
	l->ops = cnn_layer_find("batchnorm");
	if (!l->ops) {
		cnn_tree_free(&tree);
		return CNN_ERR_USAGE;
	}
	l->node = tree.root;
	st = l->ops->configure(l, "batchnorm", err);
	l->node = NULL;
	cnn_tree_free(&tree);
	return st;
}

static void test_configure(void)
{
	cnn_layer l;
	cnn_error err;
	cnn_status st;

	ok(cnn_layer_find("batchnorm") == &cnn_layer_batchnorm &&
	       strstr(cnn_layer_types(), "batchnorm"),
	   "batchnorm is registered");

	st = configure_bn(&l, "type: batchnorm\nname: bn1\ninput: conv1\n",
	                  &err);
	ok(st == CNN_OK && l.momentum == 0.1 && l.epsilon == 1e-5 &&
	       l.weight_init.type == CNN_INIT_CONSTANT &&
	       l.weight_init.a == 1.0 && l.bias_init.type == CNN_INIT_ZEROS,
	   "configure: defaults momentum 0.1, epsilon 1e-5, gamma 1, beta 0 "
	   "(%s)",
	   st ? err.message : "ok");

	st = configure_bn(&l,
	                  "type: batchnorm\nmomentum: 0.01\nepsilon: 0.001\n"
	                  "weight_init: {type: uniform, low: 0.5}\n"
	                  "bias_init: {type: constant, value: 0.25}\n",
	                  &err);
	ok(st == CNN_OK && l.momentum == 0.01 && l.epsilon == 0.001 &&
	       l.weight_init.type == CNN_INIT_UNIFORM &&
	       l.weight_init.a == 0.5 &&
	       l.bias_init.type == CNN_INIT_CONSTANT && l.bias_init.a == 0.25,
	   "configure: momentum, epsilon, weight_init, bias_init (%s)",
	   st ? err.message : "ok");

	st = configure_bn(&l, "type: batchnorm\nmomentum: 1.5\n", &err);
	ok(st == CNN_ERR_CONFIG && !strcmp(err.path, "batchnorm.momentum") &&
	       !strcmp(err.message,
	               "expected a number from 0 to 1, got \"1.5\"") &&
	       err.line == 2,
	   "configure: momentum out of [0, 1]: \"%s: %s\" at line %d", err.path,
	   err.message, err.line);

	st = configure_bn(&l, "type: batchnorm\nepsilon: 0\n", &err);
	ok(st == CNN_ERR_CONFIG && !strcmp(err.path, "batchnorm.epsilon") &&
	       !strcmp(err.message,
	               "expected a number greater than 0, got \"0\"") &&
	       err.line == 2,
	   "configure: epsilon 0: \"%s: %s\"", err.path, err.message);

	st = configure_bn(&l, "type: batchnorm\nepsilon: -1e-3\n", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "greater than 0"),
	   "configure: negative epsilon: \"%s\"", err.message);

	st = configure_bn(&l, "type: batchnorm\nepsilon: small\n", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "expected a number") &&
	       strstr(err.message, "small"),
	   "configure: epsilon not a number: \"%s\"", err.message);

	st =
	    configure_bn(&l, "type: batchnorm\nname: b\nmomentun: 0.1\n", &err);
	ok(st == CNN_ERR_CONFIG &&
	       strstr(err.message, "unknown key \"momentun\"") &&
	       strstr(err.message, "momentum") && err.line == 3,
	   "configure: unknown key at its line: \"%s\"", err.message);

	st = configure_bn(&l, "type: batchnorm\nunits: 3\n", &err);
	ok(st == CNN_ERR_CONFIG && strstr(err.message, "unknown key"),
	   "configure: units is not a batchnorm key: \"%s\"", err.message);
}

static void test_infer(void)
{
	cnn_layer l;
	int good;

	layer_defaults(&l);
	good = layer_setup(&l, &cnn_layer_batchnorm, 8, 5, 3);
	good = good && l.out_shape[0] == 8 && l.out_shape[1] == 5 &&
	       l.out_shape[2] == 3 && l.out_size == 120 && l.n_weight == 8 &&
	       l.n_bias == 8 && l.weight_ndim == 1 && l.weight_shape[0] == 8 &&
	       l.n_state == 16 && l.ops->stats_size(&l) >= 16;
	ok(good, "infer: output = input, gamma and beta of C, state 2C");
	layer_free(&l);
}

int main(void)
{
	plan_no_plan();
	cnn_rng_seed(&rng, 2024);
	variant = "train";

	test_configure();
	test_infer();
	check_training_grads("batchnorm 3x4x5 n=6", 3, 4, 5, 6);
	check_training_grads("batchnorm 7x1x1 n=5", 7, 1, 1, 5);
	test_chunks();
	test_normalised();
	test_running();
	test_single();
	return done();
}

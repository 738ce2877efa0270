/*
 * test_model.c - the model as a whole: every parameter's gradient through
 * the full network (conv, relu, maxpool, flatten, dense, softmax with the
 * fused cross-entropy) against central finite differences, for both loss
 * reductions; Adam and SGD steps against the update rules written out
 * independently here in double precision; and the softmax cross-entropy on
 * logits of +-1e4.
 */
#include "model.h"
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *small_model =
    "input: {channels: 2, height: 7, width: 7}\n"
    "layers:\n"
    "  - {type: conv2d, filters: 3, kernel: 3, padding: 1,\n"
    "     weight_init: {type: normal, std: 0.5},\n"
    "     bias_init: {type: uniform, low: -0.1, high: 0.1}}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool, size: 2}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 8, bias_init: {type: uniform, low: -0.1, "
    "high: 0.1}}\n"
    "  - {type: relu}\n"
    "  - {type: dense, units: 4}\n"
    "  - {type: softmax}\n";

/* Builds the small model with the given extra top-level YAML. */
static cnn_model *build(const char *extra)
{
	char text[2048];
	cnn_model *m;
	cnn_error err;
	snprintf(text, sizeof text, "%s%s", small_model, extra);
	if (!(m = model_from_text(text, "test.yaml", &err))) {
		char buf[1200];
		diag("build: %s", cnn_error_string(&err, buf, sizeof buf));
		return NULL;
	}
	return m;
}

/* Random inputs in [0, 1) and labels for n samples. */
static void random_batch(cnn_model *m, int n, cnn_rng *r)
{
	size_t sz = m->layers[0].in_size;
	for (size_t i = 0; i < (size_t)n * sz; i++)
		m->act[0][i] = (float)cnn_rng_uniform(r);
	for (int s = 0; s < n; s++)
		m->labels[s] = (uint8_t)cnn_rng_below(r, (uint64_t)m->classes);
}

/* Compares every parameter's analytic gradient with a central difference
 * of the batch loss (the sum, or the mean for reduction mean). Returns the
 * fraction of parameters within tolerance; *worst gets the largest error. */
static double check_gradients(cnn_model *m, int n, double *worst)
{
	size_t correct = 0, good = 0;
	const double h = 1e-3; /* 1e-2 is too coarse for these curvatures */
	const int mean = m->spec.reduction == CNN_REDUCE_MEAN;
	float *analytic = malloc(m->n_params * sizeof *analytic);

	cnn_graph_gradient(m, n, &correct);
	memcpy(analytic, m->grads, m->n_params * sizeof *analytic);
	*worst = 0.0;
	for (size_t i = 0; i < m->n_params; i++) {
		float w0 = m->params[i];
		m->params[i] = (float)(w0 + h);
		double lp = cnn_graph_gradient(m, n, &correct);
		m->params[i] = (float)(w0 - h);
		double lm = cnn_graph_gradient(m, n, &correct);
		m->params[i] = w0;
		double num = (lp - lm) / (2 * h) / (mean ? n : 1);
		double a = analytic[i];
		double e = fabs(a - num) / fmax(1e-2, fabs(a) + fabs(num));
		if (e > *worst)
			*worst = e;
		good += e < 2e-2;
	}
	free(analytic);
	return (double)good / (double)m->n_params;
}

static void test_gradients(const char *reduction)
{
	char extra[128];
	double worst;
	cnn_rng r;
	cnn_error err;
	snprintf(extra, sizeof extra, "loss: {reduction: %s}\n", reduction);
	cnn_model *m = build(extra);
	if (!ok(m != NULL, "%s: the small model builds", reduction))
		return;
	cnn_err_clear(&err);
	cnn_graph_reserve(m, 5, &err);
	cnn_rng_seed(&r, 42);
	random_batch(m, 5, &r);
	double frac = check_gradients(m, 5, &worst);
	ok(frac >= 0.99,
	   "%s: %zu parameter gradients through the whole network match "
	   "finite differences (%.1f%% within 2%%, worst %.3g)",
	   reduction, m->n_params, 100 * frac, worst);
	cnn_model_free(m);
}

/* The gradient of a reduction-sum loss is n times that of reduction mean. */
static void test_reduction_scale(void)
{
	cnn_model *a = build("loss: {reduction: sum}\n");
	cnn_model *b = build("loss: {reduction: mean}\n");
	cnn_rng r;
	cnn_error err;
	size_t correct = 0;
	double worst = 0.0;
	if (!ok(a && b, "reduction: both models build"))
		goto out;
	cnn_err_clear(&err);
	cnn_graph_reserve(a, 6, &err);
	cnn_graph_reserve(b, 6, &err);
	cnn_rng_seed(&r, 7);
	random_batch(a, 6, &r);
	memcpy(b->act[0], a->act[0], 6 * a->layers[0].in_size * sizeof(float));
	memcpy(b->labels, a->labels, 6);
	double la = cnn_graph_gradient(a, 6, &correct);
	double lb = cnn_graph_gradient(b, 6, &correct);
	/* errors relative to the largest gradient: a gradient that nearly
	 * cancels out differs in its last bits between the two reductions */
	double scale = 1e-30;
	for (size_t i = 0; i < a->n_params; i++)
		scale = fmax(scale, fabs(a->grads[i]));
	for (size_t i = 0; i < a->n_params; i++) {
		double e = fabs(a->grads[i] - 6.0 * b->grads[i]) / scale;
		if (e > worst)
			worst = e;
	}
	ok(la == lb, "reduction: the reported (summed) loss is the same");
	ok(worst < 1e-5,
	   "reduction: sum gradients are 6x mean gradients for "
	   "a batch of 6 (worst %.3g)",
	   worst);
out:
	cnn_model_free(a);
	cnn_model_free(b);
}

/* Runs three optimiser steps with fixed gradients on the first k
 * parameters and compares with want(), computed here in double. */
typedef void (*rule_fn)(const cnn_spec *s, int t, double g, double *w,
                        double *m1, double *m2);

static void adam_rule(const cnn_spec *s, int t, double g, double *w, double *m1,
                      double *m2)
{
	*m1 = s->beta1 * *m1 + (1 - s->beta1) * g;
	*m2 = s->beta2 * *m2 + (1 - s->beta2) * g * g;
	double mh = *m1, vh = *m2;
	if (s->bias_correction) {
		mh /= 1 - pow(s->beta1, t);
		vh /= 1 - pow(s->beta2, t);
	}
	if (s->epsilon_inside_sqrt)
		*w -= s->learning_rate * mh / sqrt(vh + s->epsilon);
	else
		*w -= s->learning_rate * mh / (sqrt(vh) + s->epsilon);
}

static void sgd_rule(const cnn_spec *s, int t, double g, double *w, double *m1,
                     double *m2)
{
	(void)t;
	(void)m2;
	*m1 = s->momentum * *m1 + g;
	*w -= s->learning_rate * *m1;
}

static void test_rule(const char *name, const char *yaml, rule_fn rule)
{
	cnn_model *m = build(yaml);
	const int k = 6;
	double w[6], m1[6] = {0}, m2[6] = {0}, worst = 0.0;
	if (!ok(m != NULL, "%s: builds", name))
		return;
	for (int i = 0; i < k; i++)
		w[i] = m->params[i];
	for (int t = 1; t <= 3; t++) {
		memset(m->grads, 0, m->n_params * sizeof *m->grads);
		for (int i = 0; i < k; i++) {
			double g =
			    0.1 * (i + 1) * (t % 2 ? 1 : -0.5) + 0.01 * t;
			m->grads[i] = (float)g;
			rule(&m->spec, t, g, &w[i], &m1[i], &m2[i]);
		}
		cnn_optim_step(m);
	}
	for (int i = 0; i < k; i++) {
		double e = fabs(m->params[i] - w[i]) / fmax(1e-3, fabs(w[i]));
		if (e > worst)
			worst = e;
	}
	ok(m->step == 3 && worst < 1e-5,
	   "%s: three steps match the rule computed in double (worst %.3g)",
	   name, worst);
	cnn_model_free(m);
}

/* Softmax with cross-entropy on logits of +1e4 and -1e4: a naive
 * exp(1e4) overflows to infinity and exp(-1e4) underflows to 0 (log 0 is
 * -inf), so only a stable formulation (subtract the maximum, log-sum-exp)
 * gives the finite loss and gradient. A dense 2 -> 3 layer whose weights
 * put the logits (1e4, -1e4, 0) on the input (1, 0). */
static void test_stable_softmax(void)
{
	static const char *text =
	    "input: {channels: 1, height: 1, width: 2}\n"
	    "layers:\n"
	    "  - {type: dense, units: 3}\n"
	    "  - {type: softmax}\n"
	    "loss: {type: cross_entropy, reduction: sum}\n";
	static const float z[3] = {1e4f, -1e4f, 0.0f};
	cnn_model *m;
	cnn_error err;
	size_t correct = 0;

	if (!(m = model_from_text(text, "softmax.yaml", &err)) ||
	    cnn_graph_reserve(m, 2, &err) != CNN_OK) {
		ok(0, "the softmax model builds");
		cnn_model_free(m);
		return;
	}
	cnn_layer *d = &m->layers[0];
	for (int k = 0; k < 3; k++) {
		d->w[k * 2] = z[k]; /* weight (unit k, input 0) */
		d->w[k * 2 + 1] = 0.0f;
		d->b[k] = 0.0f;
	}
	/* sample 0 has the label of the largest logit, sample 1 the
	 * smallest's */
	for (int s = 0; s < 2; s++) {
		m->act[0][s * 2] = 1.0f;
		m->act[0][s * 2 + 1] = 0.0f;
	}
	m->labels[0] = 0;
	m->labels[1] = 1;
	double loss = cnn_graph_gradient(m, 2, &correct);
	const float *p = m->act[2], *g = m->dact[1];
	/* loss 0: log(1 + e^-1e4 + e^-2e4) = 0 in double; loss 1:
	 * 2e4 + log(1 + ...) = 2e4 */
	ok(isfinite(loss) && fabs(loss - 2e4) < 1e-6,
	   "cross-entropy of logits +-1e4 is finite and exact: %.17g (want "
	   "20000)",
	   loss);
	ok(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f && p[3] == 1.0f &&
	       p[4] == 0.0f && p[5] == 0.0f,
	   "the probabilities are (1, 0, 0): %g %g %g", p[0], p[1], p[2]);
	ok(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f && g[3] == 1.0f &&
	       g[4] == -1.0f && g[5] == 0.0f,
	   "dL/dlogits = p - onehot: (0, 0, 0) and (1, -1, 0): got (%g, %g, "
	   "%g) and (%g, %g, %g)",
	   g[0], g[1], g[2], g[3], g[4], g[5]);
	int finite = 1;
	for (size_t i = 0; i < m->n_params; i++)
		finite &= isfinite(m->grads[i]);
	ok(finite && correct == 1,
	   "every weight gradient is finite; one of two samples correct");
	cnn_model_free(m);
}

int main(void)
{
	plan_no_plan();
	test_stable_softmax();
	test_gradients("sum");
	test_gradients("mean");
	test_reduction_scale();
	test_rule("adam (paper)",
	          "optimizer: {type: adam, learning_rate: 0.01}\n", adam_rule);
	test_rule("adam (reference notebook)",
	          "optimizer: {type: adam, learning_rate: 0.001, beta1: 0.9, "
	          "beta2: 0.995, epsilon: 1.0e-7, epsilon_inside_sqrt: true, "
	          "bias_correction: false}\n",
	          adam_rule);
	test_rule("sgd", "optimizer: {type: sgd, learning_rate: 0.1}\n",
	          sgd_rule);
	test_rule(
	    "sgd with momentum",
	    "optimizer: {type: sgd, learning_rate: 0.05, momentum: 0.9}\n",
	    sgd_rule);
	return done();
}

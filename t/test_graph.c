/*
 * test_graph.c - layer graphs that are not chains: named layers, "input:",
 * the merges add and concat, and batch-statistics layers (batchnorm) in the
 * middle of a graph.
 *
 *  - Every parameter's gradient through whole graphs (a residual block, a
 *    branching block, and one net with every layer kind, an activation read
 *    by three layers and an input given twice to one merge) against central
 *    finite differences of the batch loss, for both losses.
 *  - The same gradients with 1 and 2 threads, bit for bit, on a batch cut
 *    into several chunks (batchnorm's statistics are over the whole batch).
 *  - Weights, activations and workspaces on 64-byte lines.
 *  - A residual and a branching net train on a small generated image set,
 *    learn it, and round-trip through a checkpoint: same tensors (running
 *    statistics included), same evaluation.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "model.h"
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A residual block: conv, batchnorm, relu twice, the block's input added. */
static const char *residual =
    "input: {channels: 1, height: 8, width: 8}\n"
    "layers:\n"
    "  - {type: conv2d, name: stem, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu, name: r0}\n"
    "  - {type: conv2d, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: conv2d, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: bn_b}\n"
    "  - {type: add, input: [bn_b, r0]}\n"
    "  - {type: relu}\n"
    "  - {type: global_avgpool}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 3}\n"
    "  - {type: softmax}\n";

/* Three branches from the input, joined along the channels. */
static const char *branching =
    "input: {channels: 1, height: 8, width: 8}\n"
    "layers:\n"
    "  - {type: conv2d, name: a, filters: 3, kernel: 1}\n"
    "  - {type: conv2d, name: b, filters: 2, kernel: 3, padding: 1,\n"
    "     input: input}\n"
    "  - {type: tanh, name: c, input: input}\n"
    "  - {type: concat, input: [a, b, c]}\n"
    "  - {type: leaky_relu, slope: 0.1}\n"
    "  - {type: avgpool, size: 2}\n"
    "  - {type: flatten}\n"
    "  - {type: dropout, rate: 0.2}\n"
    "  - {type: dense, units: 3}\n"
    "  - {type: softmax}\n";

/* Every kind at once; c1's output feeds bn1 and t0, e1 goes twice into
 * the add. */
static const char *everything =
    "input: {channels: 2, height: 6, width: 6}\n"
    "layers:\n"
    "  - {type: conv2d, name: c1, filters: 3, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: bn1}\n"
    "  - {type: elu, name: e1}\n"
    "  - {type: conv2d, name: c2, filters: 3, kernel: 3, padding: 1}\n"
    "  - {type: sigmoid, name: s2}\n"
    "  - {type: add, name: sum, input: [s2, e1, e1]}\n"
    "  - {type: tanh, name: t0, input: c1}\n"
    "  - {type: concat, input: [sum, t0]}\n"
    "  - {type: avgpool, size: 2}\n"
    "  - {type: maxpool, size: 1}\n"
    "  - {type: leaky_relu, slope: 0.2}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 5}\n"
    "  - {type: batchnorm}\n"
    "  - {type: dropout, rate: 0.3}\n"
    "  - {type: relu}\n"
    "  - {type: dense, units: 4}\n"
    "  - {type: softmax}\n";

/* Builds a model from YAML text plus extra top-level lines. */
static cnn_model *build(const char *yaml, const char *extra)
{
	char text[4096];
	cnn_model *m;
	cnn_error err;

	snprintf(text, sizeof text, "%s%s", yaml, extra);
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
	size_t sz = m->layers[0].in_sizes[0];
	for (size_t i = 0; i < (size_t)n * sz; i++)
		m->act[0][i] = (float)cnn_rng_uniform(r);
	for (int s = 0; s < n; s++)
		m->labels[s] = (uint8_t)cnn_rng_below(r, (uint64_t)m->classes);
}

/* The same random batch of n for models a and b (of the same input). */
static void same_batch(cnn_model *a, cnn_model *b, int n, cnn_rng *r)
{
	random_batch(a, n, r);
	memcpy(b->act[0], a->act[0],
	       (size_t)n * a->layers[0].in_size * sizeof(float));
	memcpy(b->labels, a->labels, (size_t)n);
}

/* Compares every trainable parameter's (or every every-th one's) analytic
 * gradient with a central difference of the batch loss (summed). Returns the
 * fraction within 2%; *worst gets the largest error. */
static double check_gradients(cnn_model *m, int n, size_t every, double *worst)
{
	size_t correct = 0, good = 0, checked = 0;
	const double h = 1e-3;
	float *analytic = malloc(m->n_params * sizeof *analytic);

	cnn_graph_gradient(m, n, &correct);
	memcpy(analytic, m->grads, m->n_params * sizeof *analytic);
	*worst = 0.0;
	for (size_t i = 0; i < m->n_trainable; i += every) {
		float w0 = m->params[i];
		m->params[i] = (float)(w0 + h);
		double lp = cnn_graph_gradient(m, n, &correct);
		m->params[i] = (float)(w0 - h);
		double lm = cnn_graph_gradient(m, n, &correct);
		m->params[i] = w0;
		double num = (lp - lm) / (2 * h);
		double a = analytic[i];
		double e = fabs(a - num) / fmax(1e-2, fabs(a) + fabs(num));
		if (e > *worst)
			*worst = e;
		good += e < 2e-2;
		checked++;
	}
	free(analytic);
	return (double)good / (double)checked;
}

static void gradient_case(const char *name, const char *yaml, const char *extra,
                          int n, size_t every)
{
	cnn_error err;
	cnn_rng r;
	double worst;
	cnn_model *m = build(yaml, extra);

	if (!ok(m != NULL, "%s: builds", name))
		return;
	cnn_err_clear(&err);
	cnn_graph_reserve(m, n, &err);
	cnn_rng_seed(&r, 11);
	random_batch(m, n, &r);
	double frac = check_gradients(m, n, every, &worst);
	/* float central differences through batchnorm and ReLU kinks are
	 * off by a few percent for some parameters; a wrong gradient path
	 * (a missing sum at a merge, statistics of one chunk only) is off by
	 * a third or more for most of them */
	ok(frac >= 0.95 && worst < 0.3,
	   "%s: %zu gradients through the graph match finite differences "
	   "(%.1f%% within 2%%, worst %.3g)",
	   name, (m->n_trainable + every - 1) / every, 100 * frac, worst);
	cnn_model_free(m);
}

static void test_gradients(void)
{
	const char *sum = "loss: {reduction: sum}\n";
	gradient_case("residual", residual, sum, 5, 1);
	gradient_case("branching", branching, sum, 5, 1);
	gradient_case("every kind", everything, sum, 6, 1);
	gradient_case("every kind, mse", everything,
	              "loss: {type: mse, reduction: sum}\n", 6, 1);
	/* 40 samples are 3 chunks: batch statistics across chunks (every
	 * third parameter: the whole set takes long under the sanitizers) */
	gradient_case("every kind, 3 chunks", everything, sum, 40, 3);
}

/* Sets the number of threads of the library's loops. */
static void threads(int n)
{
	cnn_pool_set_threads(n);
}

/* The gradient and the running statistics of a batch of 40 (3 chunks) are
 * the same bits with 1 and 2 threads. */
static void test_threads(void)
{
	cnn_model *a = build(everything, ""), *b = build(everything, "");
	cnn_error err;
	cnn_rng r;
	size_t ca = 0, cb = 0;

	if (!ok(a && b, "threads: models build"))
		goto out;
	cnn_err_clear(&err);
	cnn_graph_reserve(a, 40, &err);
	cnn_graph_reserve(b, 40, &err);
	cnn_rng_seed(&r, 5);
	same_batch(a, b, 40, &r);
	threads(1);
	double la = cnn_graph_gradient(a, 40, &ca);
	threads(2);
	double lb = cnn_graph_gradient(b, 40, &cb);
	ok(la == lb && ca == cb &&
	       !memcmp(a->grads, b->grads, a->n_params * sizeof(float)) &&
	       !memcmp(a->params, b->params, a->n_params * sizeof(float)),
	   "threads: loss, gradients and running statistics identical with 1 "
	   "and 2 threads");
out:
	cnn_model_free(a);
	cnn_model_free(b);
}

/* Dense layers whose weight gradient the fused step computes: one of 40
 * rows of 784 (several segments), one of 29 rows (a GEMM tile repeating its
 * last row), one of 4100 rows of 29, and one (in 4100) too wide to be
 * deferred. */
static const char *dense_mix = "input: {channels: 1, height: 28, width: 28}\n"
                               "layers:\n"
                               "  - {type: flatten}\n"
                               "  - {type: dense, units: 40}\n"
                               "  - {type: relu}\n"
                               "  - {type: dropout, rate: 0.2}\n"
                               "  - {type: dense, units: 29}\n"
                               "  - {type: tanh}\n"
                               "  - {type: dense, units: 4100}\n"
                               "  - {type: relu}\n"
                               "  - {type: dense, units: 4}\n"
                               "  - {type: softmax}\n";

/* A small network for large batches: 32 chunks of 19 samples in a batch of
 * 600; chunks of 513 (more than one GEMM depth block) in one of 16416. */
static const char *dense_deep = "input: {channels: 1, height: 2, width: 4}\n"
                                "layers:\n"
                                "  - {type: dense, units: 24}\n"
                                "  - {type: relu}\n"
                                "  - {type: dense, units: 3}\n"
                                "  - {type: softmax}\n";

/* A first dense layer that could run by rows, but the input is read again
 * by a later layer. */
static const char *input_twice = "input: {channels: 8, height: 1, width: 1}\n"
                                 "layers:\n"
                                 "  - {type: dense, units: 8}\n"
                                 "  - {type: add, input: [dense1, input]}\n"
                                 "  - {type: dense, units: 3}\n"
                                 "  - {type: softmax}\n";

/* Three steps on batches of n: the fused step, with the dense layers'
 * weight gradients deferred to it, gives the bits of the fold into
 * m->grads and the plain step. */
/* What from_batch fills from: a batch's inputs (per floats a sample) and
 * labels. */
typedef struct batch_src {
	const float *x;
	const uint8_t *labels;
	size_t per;
} batch_src;

/* A model's fill (see cnn_model) from a batch_src. */
static void from_batch(void *ctx, long a, long b, float *x, uint8_t *labels)
{
	const batch_src *s = ctx;

	if (x)
		memcpy(x, s->x + (size_t)a * s->per,
		       (size_t)(b - a) * s->per * sizeof *x);
	if (labels)
		memcpy(labels, s->labels + a, (size_t)(b - a));
}

static void deferred_case(const char *name, const char *yaml, int n, int fill)
{
	const char *opt = "optimizer: {type: sgd, learning_rate: 0.1, "
	                  "momentum: 0.9}\n";
	cnn_model *a = build(yaml, opt), *b = build(yaml, opt);
	cnn_error err;
	cnn_rng r;
	int deferred = 0;

	cnn_err_clear(&err);
	if (!ok(a && b && cnn_graph_reserve(a, n, &err) == CNN_OK &&
	            cnn_graph_reserve(b, n, &err) == CNN_OK,
	        "deferred, %s: the models build", name))
		goto out;
	for (int i = 0; i < b->n_segs; i++)
		deferred += b->segs[i].layer >= 0;
	b->split_always = 1; /* whatever the load beside the test */
	cnn_rng_seed(&r, 11);
	for (int t = 0; t < 3; t++) {
		size_t ca = 0, cb = 0;
		cnn_grad_parts gp;
		batch_src src = {a->act[0], a->labels, a->layers[0].in_size};
		same_batch(a, b, n, &r);
		if (fill) { /* b's batch comes from its fill alone */
			for (size_t i = 0; i < (size_t)n * src.per; i++)
				b->act[0][i] = NAN;
			memset(b->labels, 0, (size_t)n);
			b->fill = from_batch;
			b->fill_ctx = &src;
		}
		cnn_graph_gradient(a, n, &ca);
		cnn_optim_step(a);
		cnn_graph_backprop(b, n, &cb, 1);
		b->fill = NULL;
		cnn_graph_parts(b, n, 1, &gp);
		cnn_optim_step_sum(b, &gp);
	}
	/* with threads, a first dense layer runs by rows (split) */
	int by_rows = b->pass_from > 0;
	ok(deferred > 0 &&
	       by_rows == (b->split >= 0 && cnn_pool_threads() > 1) &&
	       !memcmp(a->params, b->params, a->n_params * sizeof(float)) &&
	       !memcmp(a->m1, b->m1, a->n_trainable * sizeof(float)),
	   "deferred, %s (batch %d, %d deferred segments, %s%s): the same "
	   "bits",
	   name, n, deferred, by_rows ? "the first layer by rows" : "by chunks",
	   fill ? ", filled by the pass" : "");
out:
	cnn_model_free(a);
	cnn_model_free(b);
}

static void test_deferred(void)
{
	threads(2);
	deferred_case("everything", everything, 40, 0);
	deferred_case("dense mix", dense_mix, 40, 0);
	deferred_case("dense mix", dense_mix, 1, 0);
	deferred_case("small", dense_deep, 600, 0);
	deferred_case("small", dense_deep, 16416, 0);
	/* the split layer on each thread's own copy of the inputs */
	deferred_case("dense mix", dense_mix, 40, 1);
	deferred_case("small", dense_deep, 600, 1);
	deferred_case("the input read twice", input_twice, 40, 1);
	threads(3);
	deferred_case("small", dense_deep, 600, 1);
	threads(1);
	deferred_case("dense mix", dense_mix, 40, 0);
	deferred_case("dense mix", dense_mix, 40, 1);
}

/* The residual block with its stem (a prefix: conv, batchnorm) frozen,
 * and a middle convolution frozen too (its input gradient is wanted). */
static const char *residual_frozen =
    "input: {channels: 1, height: 8, width: 8}\n"
    "layers:\n"
    "  - {type: conv2d, name: stem, filters: 4, kernel: 3, padding: 1,\n"
    "     trainable: false}\n"
    "  - {type: batchnorm, trainable: false}\n"
    "  - {type: relu, name: r0}\n"
    "  - {type: conv2d, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: conv2d, filters: 4, kernel: 3, padding: 1,\n"
    "     trainable: false}\n"
    "  - {type: batchnorm, name: bn_b}\n"
    "  - {type: add, input: [bn_b, r0]}\n"
    "  - {type: relu}\n"
    "  - {type: global_avgpool}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 3}\n"
    "  - {type: softmax}\n";

/* dense_mix with its first dense layer (a prefix) and its widest (in the
 * middle, not deferred when frozen) frozen. */
static const char *dense_mix_frozen =
    "input: {channels: 1, height: 28, width: 28}\n"
    "layers:\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 40, trainable: false}\n"
    "  - {type: relu}\n"
    "  - {type: dropout, rate: 0.2}\n"
    "  - {type: dense, units: 29}\n"
    "  - {type: tanh}\n"
    "  - {type: dense, units: 4100, trainable: false}\n"
    "  - {type: relu}\n"
    "  - {type: dense, units: 4}\n"
    "  - {type: softmax}\n";

/* Copies the frozen layers' weights and biases of f (the frozen model)
 * into m (the same model, all trainable) and zeroes m's moments there:
 * what m's step changed in them is thrown away. */
static void unfreeze_undo(const cnn_model *f, cnn_model *m)
{
	for (int i = 0; i < f->n_layers; i++) {
		const cnn_layer *l = &f->layers[i];
		size_t n = l->n_weight + l->n_bias;
		if (!l->frozen || !n)
			continue;
		memcpy(m->params + l->w_off, f->params + l->w_off,
		       n * sizeof(float));
		memset(m->m1 + l->w_off, 0, n * sizeof(float));
		memset(m->m2 + l->w_off, 0, n * sizeof(float));
	}
}

/* Three steps of batches of n on model a (frozen layers, the fused step
 * with deferred weight gradients) and on b (the same layers all trainable,
 * the plain step, whose changes to a's frozen layers are undone after
 * each step): a's frozen parameters keep every bit and their moments stay
 * zero, and every other parameter, running statistic and moment is the
 * same bits in both. */
static void frozen_case(const char *name, const char *frozen, const char *plain,
                        int n)
{
	const char *opt = "optimizer: {type: adam, learning_rate: 0.01, "
	                  "weight_decay: 0.01}\n";
	cnn_model *a = build(frozen, opt), *b = build(plain, opt);
	cnn_error err;
	cnn_rng r;
	float *start = NULL;
	int kept = 1, zero = 1, skipped = 0;

	cnn_err_clear(&err);
	if (!ok(a && b && a->n_params == b->n_params &&
	            cnn_graph_reserve(a, n, &err) == CNN_OK &&
	            cnn_graph_reserve(b, n, &err) == CNN_OK &&
	            (start = malloc(a->n_params * sizeof(float))),
	        "frozen, %s: the models build", name))
		goto out;
	memcpy(start, a->params, a->n_params * sizeof(float));
	for (int i = 0; i < a->n_layers; i++)
		skipped +=
		    !a->layers[i].backward_needed && a->layers[i].n_weight;
	cnn_rng_seed(&r, 7);
	for (int t = 0; t < 3; t++) {
		size_t ca = 0, cb = 0;
		cnn_grad_parts gp;
		same_batch(a, b, n, &r);
		cnn_graph_backprop(a, n, &ca, 1);
		cnn_graph_parts(a, n, 1, &gp);
		cnn_optim_step_sum(a, &gp);
		cnn_graph_gradient(b, n, &cb);
		cnn_optim_step(b);
		unfreeze_undo(a, b);
	}
	for (int i = 0; i < a->n_layers; i++) {
		const cnn_layer *l = &a->layers[i];
		size_t k = l->n_weight + l->n_bias;
		for (size_t j = l->w_off; l->frozen && j < l->w_off + k; j++) {
			kept &= a->params[j] == start[j];
			zero &= a->m1[j] == 0.0f && a->m2[j] == 0.0f;
		}
	}
	ok(kept && zero, "frozen, %s: frozen parameters unchanged, moments 0",
	   name);
	ok(skipped > 0 &&
	       !memcmp(a->params, b->params, a->n_params * sizeof(float)) &&
	       !memcmp(a->m1, b->m1, a->n_params * sizeof(float)) &&
	       !memcmp(a->m2, b->m2, a->n_params * sizeof(float)),
	   "frozen, %s (batch %d, %d backward skipped): the bits of computing "
	   "the frozen gradients and throwing them away",
	   name, n, skipped);
out:
	free(start);
	cnn_model_free(a);
	cnn_model_free(b);
}

static void test_frozen(void)
{
	threads(2);
	frozen_case("residual", residual_frozen, residual, 40);
	frozen_case("dense mix", dense_mix_frozen, dense_mix, 40);
	threads(1);
	frozen_case("dense mix", dense_mix_frozen, dense_mix, 17);
}

/* The tensors: trainable ones first, then the running statistics, named
 * after their layers, and the optimiser leaves the statistics alone. */
static void test_tensors(void)
{
	cnn_model *m = build(residual, "");
	cnn_tensor_info t;
	int n, state = 0, order = 1, seen_state = 0;

	if (!ok(m != NULL, "tensors: residual builds"))
		return;
	n = cnn_model_tensor_count(m);
	for (int i = 0; i < n; i++) {
		cnn_model_tensor(m, i, &t);
		if (!t.trainable) {
			state++;
			seen_state = 1;
		} else if (seen_state) {
			order = 0;
		}
	}
	cnn_model_tensor(m, n - 1, &t);
	ok(state == 6 && order && !strcmp(t.name, "bn_b.running_var") &&
	       t.size == 4 && t.data[0] == 1.0f,
	   "tensors: 3 batchnorms have 6 state tensors after the trainable "
	   "ones, the last \"%s\" starts at 1",
	   t.name);
	cnn_model_free(m);
}

/* 1 if p is on a 64-byte line. */
static int on_line(const void *p)
{
	return ((uintptr_t)p & 63) == 0;
}

/* Every weight starts on a 64-byte line in every arena (the model's and
 * each chunk's), as do the activations and the workspaces, and the floats
 * skipped before a weight are in no tensor and stay zero through steps. */
static void test_aligned(void)
{
	cnn_model *m = build(everything, "optimizer: {type: adam}\n");
	cnn_error err;
	cnn_rng r;
	int bad = 0, gaps = 0, gap_zero = 1;
	size_t correct = 0, end = 0;

	if (!ok(m && cnn_graph_reserve(m, 40, &err) == CNN_OK,
	        "aligned: the model with every kind builds"))
		goto out;
	cnn_rng_seed(&r, 7);
	for (int step = 0; step < 3; step++) {
		random_batch(m, 40, &r);
		cnn_graph_gradient(m, 40, &correct);
		cnn_optim_step(m);
	}
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		size_t o = l->w_off;
		bad += !on_line(m->act[i]) + !on_line(m->dact[i]);
		if (!l->n_weight)
			continue;
		bad += !on_line(m->params + o) + !on_line(m->grads + o) +
		       !on_line(m->m1 + o) + !on_line(m->m2 + o) +
		       !on_line(m->best + o);
		for (int c = 0; c < m->n_chunks; c++)
			bad += !on_line(m->chunks[c].grads + o) +
			       !on_line(m->chunks[c].ws);
	}
	for (int t = 0; t < m->n_tensors; t++) {
		for (size_t k = end; k < m->tensors[t].off; k++, gaps++)
			gap_zero &= m->params[k] == 0.0f && m->m1[k] == 0.0f &&
			            m->m2[k] == 0.0f;
		end = m->tensors[t].off + m->tensors[t].n;
	}
	ok(bad == 0,
	   "aligned: every weight, activation and workspace on a "
	   "64-byte line (%d not)",
	   bad);
	ok(gaps > 0 && gap_zero,
	   "aligned: the %d floats before aligned weights stay zero after "
	   "3 Adam steps",
	   gaps);
out:
	cnn_model_free(m);
}

/* ======================================================================== */
/* Training on a generated image set                                        */

/* Writes n 1x8x8 images of 3 classes (a horizontal, vertical or diagonal
 * bar at a random place, on noise) as CSV rows "label,p0,...,p63". */
static int write_images(const char *path, int n, uint64_t seed)
{
	FILE *f = fopen(path, "w");
	cnn_rng r;

	if (!f)
		return 0;
	cnn_rng_seed(&r, seed);
	for (int s = 0; s < n; s++) {
		int label = (int)cnn_rng_below(&r, 3);
		int at = 1 + (int)cnn_rng_below(&r, 6);
		fprintf(f, "%d", label);
		for (int y = 0; y < 8; y++)
			for (int x = 0; x < 8; x++) {
				int on = label == 0   ? y == at
				         : label == 1 ? x == at
				                      : x == y;
				int v =
				    (int)cnn_rng_below(&r, 90) + (on ? 150 : 0);
				fprintf(f, ",%d", v > 255 ? 255 : v);
			}
		fprintf(f, "\n");
	}
	return fclose(f) == 0;
}

/* Trains yaml (plus data and training settings) for a few epochs, checks
 * that it learned, then that the checkpoint loads with the same tensors
 * and evaluates the same. */
static void train_case(const char *name, const char *yaml)
{
	char pname[64], cname[64], extra[1024];
	const char *path, *ckpt;
	cnn_model *m = NULL, *back = NULL;
	cnn_error err;
	cnn_eval_result ea, eb;
	FILE *f;
	int same = 1;

	memset(&ea, 0, sizeof ea);
	memset(&eb, 0, sizeof eb);
	snprintf(pname, sizeof pname, "%s.yaml", name);
	snprintf(cname, sizeof cname, "%s.ckpt.gz", name);
	path = P(pname);
	ckpt = P(cname);
	snprintf(extra, sizeof extra,
	         "optimizer: {type: adam, learning_rate: 0.01}\n"
	         "training: {epochs: 6, batch_size: 20, seed: 4}\n"
	         "data:\n"
	         "  train: {format: csv, path: train.csv}\n"
	         "  test: {format: csv, path: test.csv}\n"
	         "checkpoint: {path: %s.ckpt.gz}\n",
	         name);
	f = fopen(path, "w");
	if (!f || fputs(yaml, f) < 0 || fputs(extra, f) < 0 || fclose(f)) {
		ok(0, "%s: write %s", name, path);
		return;
	}
	cnn_err_clear(&err);
	cnn_train_options o = {.threads = 2};
	if (!ok(cnn_model_from_yaml(&m, path, NULL, 0, &err) == CNN_OK &&
	            cnn_model_train(m, &o, &err) == CNN_OK,
	        "%s: trains (%s)", name, err.message))
		goto out;
	cnn_model_evaluate(m, 2, &ea, &err);
	ok(ea.accuracy >= 0.8, "%s: learns the bars: %.1f%% of %zu test images",
	   name, 100 * ea.accuracy, ea.n);
	if (!ok(cnn_model_load(&back, ckpt, NULL, 0, &err) == CNN_OK,
	        "%s: the checkpoint loads (%s)", name, err.message))
		goto out;
	same = cnn_model_tensor_count(m) == cnn_model_tensor_count(back);
	for (int i = 0; same && i < cnn_model_tensor_count(m); i++) {
		cnn_tensor_info a, b;
		cnn_model_tensor(m, i, &a);
		cnn_model_tensor(back, i, &b);
		same = !strcmp(a.name, b.name) && a.size == b.size &&
		       !memcmp(a.data, b.data, a.size * sizeof(float)) &&
		       (a.best == NULL) == (b.best == NULL) &&
		       (!a.best ||
		        !memcmp(a.best, b.best, a.size * sizeof(float)));
	}
	ok(same, "%s: every tensor round-trips bit for bit", name);
	cnn_model_evaluate(back, 1, &eb, &err);
	ok(eb.accuracy == ea.accuracy && eb.loss == ea.loss,
	   "%s: the loaded model evaluates the same (%.4f, %.4f)", name,
	   eb.accuracy, eb.loss);
out:
	cnn_eval_result_free(&ea);
	cnn_eval_result_free(&eb);
	cnn_model_free(m);
	cnn_model_free(back);
	unlink(path);
	unlink(ckpt);
}

static void test_training(void)
{
	char train[700], test[700];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/cnn-graph-XXXXXX",
	         tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!ok(mkdtemp(dir) != NULL, "a temporary folder"))
		return;
	snprintf(train, sizeof train, "%s", P("train.csv"));
	snprintf(test, sizeof test, "%s", P("test.csv"));
	if (ok(write_images(train, 300, 1) && write_images(test, 100, 2),
	       "the generated images")) {
		train_case("residual", residual);
		train_case("branching", branching);
	}
	unlink(train);
	unlink(test);
	rmdir(dir);
}

/* Relus fused into the max pooling after them (graph.c's plan_fusion): r_in
 * on the network's input (no gradient wanted) before overlapping windows,
 * r1 after a convolution; r2 has a second reader, so it stays a layer. */
static const char *pooled =
    "input: {channels: 2, height: 9, width: 9}\n"
    "layers:\n"
    "  - {type: relu, name: r_in}\n"
    "  - {type: maxpool, size: 2, stride: 1}\n"
    "  - {type: conv2d, filters: 3, kernel: 3, padding: 1}\n"
    "  - {type: relu, name: r1}\n"
    "  - {type: maxpool, size: 2}\n"
    "  - {type: conv2d, filters: 3, kernel: 3, padding: 1}\n"
    "  - {type: relu, name: r2}\n"
    "  - {type: maxpool, name: p2, size: 2}\n"
    "  - {type: avgpool, name: a2, size: 2, input: r2}\n"
    "  - {type: concat, input: [p2, a2]}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 3}\n"
    "  - {type: softmax}\n";

/* Two relus in a row between a batchnorm and a max pooling: the first
 * goes into the batchnorm, the second into the pooling, which then reads
 * the batchnorm's output; the dense layer reads the pooling's output, the
 * flatten left out. */
static const char *chained =
    "input: {channels: 1, height: 8, width: 8}\n"
    "layers:\n"
    "  - {type: conv2d, filters: 3, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool, size: 2}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, units: 3}\n"
    "  - {type: softmax}\n";

/* Three Adam steps on batches of 40 (3 chunks) at 2 threads give the
 * gradients, weights and moments of the same model built with CNN_FUSE=0;
 * *fa gets the fused model's layers' flags: per layer, 1 when fused away,
 * 2 when a pooling takes a relu in, 4 when a layer takes one out. */
static void fusion_case(const char *name, const char *yaml, int *fa)
{
	const char *opt = "optimizer: {type: adam, learning_rate: 0.01}\n";
	cnn_model *a = build(yaml, opt), *b;
	cnn_error err;
	cnn_rng r;
	int same = 1;

	setenv("CNN_FUSE", "0", 1);
	b = build(yaml, opt);
	unsetenv("CNN_FUSE");
	cnn_err_clear(&err);
	if (!ok(a && b && cnn_graph_reserve(a, 40, &err) == CNN_OK &&
	            cnn_graph_reserve(b, 40, &err) == CNN_OK,
	        "fusion, %s: the models build", name))
		goto out;
	for (int i = 0; i < a->n_layers; i++) {
		const cnn_layer *l = &a->layers[i], *u = &b->layers[i];
		fa[i] = l->fused_away | l->relu_in << 1 | l->relu_out << 2;
		same &= !u->fused_away && !u->relu_in && !u->relu_out;
	}
	threads(2);
	cnn_rng_seed(&r, 3);
	for (int t = 0; t < 3; t++) {
		size_t ca = 0, cb = 0;
		same_batch(a, b, 40, &r);
		same &= cnn_graph_gradient(a, 40, &ca) ==
		        cnn_graph_gradient(b, 40, &cb);
		same &=
		    !memcmp(a->grads, b->grads, a->n_params * sizeof(float));
		cnn_optim_step(a);
		cnn_optim_step(b);
	}
	threads(1);
	ok(same && !memcmp(a->params, b->params, a->n_params * sizeof(float)) &&
	       !memcmp(a->m2, b->m2, a->n_trainable * sizeof(float)),
	   "fusion, %s: 3 steps give the bits of the unfused graph (running "
	   "statistics included)",
	   name);
out:
	cnn_model_free(a);
	cnn_model_free(b);
}

/* Which relus are fused, and that the passes keep their bits. */
static void test_fusion(void)
{
	int f[CNN_MAX_LAYERS] = {0};
	static const int want_pooled[] = {1, 2, 0, 1, 2, 0, 0, 0};
	/* stem, batchnorm + r0 (whose two readers then read the
	 * batchnorm), conv, batchnorm + relu, conv, batchnorm, add + relu */
	static const int want_residual[] = {0, 4, 1, 0, 4, 1, 0, 0, 4, 1};

	fusion_case("relu and max pooling", pooled, f);
	ok(!memcmp(f, want_pooled, sizeof want_pooled),
	   "fusion: relus before max pooling fused, one read twice kept");
	fusion_case("batchnorm, add and relu", residual, f);
	ok(!memcmp(f, want_residual, sizeof want_residual),
	   "fusion: relus after batchnorm and add fused");
	static const int want_chained[] = {0, 4, 1, 1, 2, 1};
	fusion_case("two relus in a row", chained, f);
	ok(!memcmp(f, want_chained, sizeof want_chained),
	   "fusion: two relus in a row, into the batchnorm and the pooling; "
	   "the flatten left out");
	gradient_case("relus fused into pooling", pooled,
	              "loss: {reduction: sum}\n", 5, 1);
}

int main(void)
{
	plan_no_plan();
	test_gradients();
	test_threads();
	test_deferred();
	test_fusion();
	test_frozen();
	test_tensors();
	test_aligned();
	test_training();
	return done();
}

/*
 * test_optim.c - the optimisers (sgd, with momentum and Nesterov; adam with
 * both switches; adamw; rmsprop, with and without momentum), L2 and
 * decoupled weight decay and gradient clipping, against the update rules
 * written out independently here in double precision; the float arithmetic
 * of the reference model's Adam and of SGD with momentum, bit for bit; the
 * step on the chunks' gradient arenas summed as it reads them against the
 * step on their sum; the learning-rate schedules and their warm-up; the
 * early-stopping decision from a hand-made history; and the configuration
 * errors, by message and position.
 */
#include "model.h"
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A dense 5 -> 3 layer: 18 parameters, not a multiple of the vector width
 * (4, 8 or 16), so that the rules run their tails too. The YAML given to
 * build() follows from line 5. */
static const char *tiny_model = "input: {channels: 1, height: 1, width: 5}\n"
                                "layers:\n"
                                "  - {type: dense, units: 3}\n"
                                "  - {type: softmax}\n";

#define MAXP 64

static char msgbuf[1024];

/* Builds the tiny model with extra top-level YAML. */
static cnn_model *build_err(const char *extra, cnn_error *err)
{
	char text[2048];

	snprintf(text, sizeof text, "%s%s", tiny_model, extra);
	return model_from_text(text, "test.yaml", err);
}

static cnn_model *build(const char *extra)
{
	cnn_error err;
	cnn_model *m = build_err(extra, &err);

	if (!m)
		diag("build: %s",
		     cnn_error_string(&err, msgbuf, sizeof msgbuf));
	return m;
}

/* The parameters the optimiser updates. */
static size_t trainable(const cnn_model *m)
{
	return m->n_trainable;
}

/* ======================================================================== */
/* Update rules in double                                                   */

/* The state of the reference computation: weights and two buffers. */
typedef struct ref {
	size_t n;
	double w[MAXP], m1[MAXP], m2[MAXP];
} ref;

/* The gradient of parameter i at step t: varied in sign and size. */
static double grad_at(size_t i, int t)
{
	return 0.3 * sin(1.7 * (double)i + 0.9 * t) + 0.05 * (double)(i % 3);
}

/* Clipping, then L2 decay, as documented: g scaled to norm clip_norm if
 * above it; g += wd*w for every type but adamw. */
static void ref_prepare(const cnn_spec *s, ref *r, double *g)
{
	if (s->clip_norm > 0) {
		double sum = 0.0;
		for (size_t i = 0; i < r->n; i++)
			sum += g[i] * g[i];
		if (sqrt(sum) > s->clip_norm)
			for (size_t i = 0; i < r->n; i++)
				g[i] *= s->clip_norm / sqrt(sum);
	}
	if (s->optimizer != CNN_OPT_ADAMW)
		for (size_t i = 0; i < r->n; i++)
			g[i] += s->weight_decay * r->w[i];
}

/* x as the optimiser holds it: a float. The hyperparameters are used in
 * single precision (1 - 0.999f differs from 0.001 by 1e-5 relative), so
 * the reference starts from the same values. */
static double f32(double x)
{
	return (double)(float)x;
}

/* One step t (1-based) of the rule of s->optimizer at rate lr, in double
 * from the hyperparameters rounded to float. */
static void ref_step(const cnn_spec *spec, ref *r, double *g, int t, double lr)
{
	cnn_spec q = *spec;
	const cnn_spec *s = &q;
	q.beta1 = f32(q.beta1);
	q.beta2 = f32(q.beta2);
	q.epsilon = f32(q.epsilon);
	q.momentum = f32(q.momentum);
	q.alpha = f32(q.alpha);
	q.weight_decay = f32(q.weight_decay);
	lr = f32(lr);
	ref_prepare(s, r, g);
	for (size_t i = 0; i < r->n; i++) {
		double *w = &r->w[i], *m1 = &r->m1[i], *m2 = &r->m2[i];
		switch (s->optimizer) {
		case CNN_OPT_SGD:
			*m1 = s->momentum * *m1 + g[i];
			*w -=
			    lr * (s->nesterov ? g[i] + s->momentum * *m1 : *m1);
			break;
		case CNN_OPT_ADAMW:
			*w *= 1.0 - lr * s->weight_decay;
			/* fall through */
		case CNN_OPT_ADAM: {
			*m1 = s->beta1 * *m1 + (1 - s->beta1) * g[i];
			*m2 = s->beta2 * *m2 + (1 - s->beta2) * g[i] * g[i];
			double mh = *m1, vh = *m2;
			if (s->bias_correction) {
				/* in double from the double betas, as the
				 * optimiser does (1 - 0.999f^t would cancel) */
				mh /= 1 - pow(spec->beta1, t);
				vh /= 1 - pow(spec->beta2, t);
			}
			if (s->epsilon_inside_sqrt)
				*w -= lr * mh / sqrt(vh + s->epsilon);
			else
				*w -= lr * mh / (sqrt(vh) + s->epsilon);
			break;
		}
		case CNN_OPT_RMSPROP: {
			*m2 = s->alpha * *m2 + (1 - s->alpha) * g[i] * g[i];
			double d = g[i] / (sqrt(*m2) + s->epsilon);
			if (s->momentum > 0) {
				*m1 = s->momentum * *m1 + d;
				*w -= lr * *m1;
			} else {
				*w -= lr * d;
			}
			break;
		}
		}
	}
}

/* Sets the model's weights to fixed values and the reference's to the
 * same floats. */
static void start(cnn_model *m, ref *r)
{
	memset(r, 0, sizeof *r);
	r->n = trainable(m);
	for (size_t i = 0; i < r->n; i++) {
		m->params[i] = (float)(0.8 - 0.23 * (double)i);
		r->w[i] = m->params[i];
	}
}

/* Largest error of the model's weights against the reference, relative to
 * the weight (at least 0.1 in size). */
static double worst_error(const cnn_model *m, const ref *r)
{
	double worst = 0.0;
	for (size_t i = 0; i < r->n; i++) {
		double e =
		    fabs(m->params[i] - r->w[i]) / fmax(0.1, fabs(r->w[i]));
		if (e > worst)
			worst = e;
	}
	return worst;
}

/* Runs `steps` steps of the optimiser described by yaml on the tiny model
 * and on the reference, and compares the weights. */
static void test_rule(const char *name, const char *yaml, int steps)
{
	cnn_model *m = build(yaml);
	double g[MAXP];
	ref r;

	if (!ok(m != NULL, "%s: builds", name))
		return;
	if (!ok(trainable(m) <= MAXP, "%s: %zu parameters", name, trainable(m)))
		goto out;
	start(m, &r);
	for (int t = 1; t <= steps; t++) {
		for (size_t i = 0; i < r.n; i++) {
			g[i] = grad_at(i, t);
			m->grads[i] = (float)g[i];
			g[i] = m->grads[i]; /* the same input in double */
		}
		ref_step(&m->spec, &r, g, t, m->spec.learning_rate);
		cnn_optim_step(m);
	}
	double worst = worst_error(m, &r);
	ok(m->step == (uint64_t)steps &&
	           worst<1e-6,
	                 "%s: %d step%s match the rule in double (worst "
	                 "relative error "
	                 "%.3g)",
	                 name, steps, steps> 1
	       ? "s"
	       : "",
	   worst);
out:
	cnn_model_free(m);
}

/* ======================================================================== */
/* The reference arithmetic, bit for bit                                   */

/* The float loops of Adam (both switches) and SGD with momentum exactly as
 * they were before schedules, decay and clipping existed: with those off
 * the optimiser must give the same bits (the reference run depends on
 * it). */
static void old_float_step(const cnn_spec *s, uint64_t step, float *w,
                           const float *g, float *m1, float *m2, long n)
{
	if (s->optimizer == CNN_OPT_SGD) {
		const float mu = (float)s->momentum;
		const float lr = (float)s->learning_rate;
		for (long i = 0; i < n; i++) {
			m1[i] = mu * m1[i] + g[i];
			w[i] -= lr * m1[i];
		}
		return;
	}
	const float b1 = (float)s->beta1, b2 = (float)s->beta2;
	const float eps = (float)s->epsilon;
	float c1 = 1.0f, c2 = 1.0f;
	if (s->bias_correction) {
		c1 = (float)(1.0 / (1.0 - pow(s->beta1, (double)step)));
		c2 = (float)(1.0 / (1.0 - pow(s->beta2, (double)step)));
	}
	const float lr = (float)s->learning_rate;
	for (long i = 0; i < n; i++) {
		m1[i] = b1 * m1[i] + (1.0f - b1) * g[i];
		m2[i] = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
		if (s->epsilon_inside_sqrt)
			w[i] -= lr * (m1[i] * c1) / sqrtf(m2[i] * c2 + eps);
		else
			w[i] -= lr * (m1[i] * c1) / (sqrtf(m2[i] * c2) + eps);
	}
}

static void test_bits(const char *name, const char *yaml)
{
	cnn_model *m = build(yaml);
	float w[MAXP], m1[MAXP] = {0}, m2[MAXP] = {0};
	ref r;

	if (!ok(m != NULL, "%s: builds", name))
		return;
	start(m, &r);
	long n = (long)trainable(m);
	memcpy(w, m->params, (size_t)n * sizeof *w);
	for (int t = 1; t <= 5; t++) {
		for (long i = 0; i < n; i++)
			m->grads[i] = (float)grad_at((size_t)i, t);
		old_float_step(&m->spec, (uint64_t)t, w, m->grads, m1, m2, n);
		cnn_optim_step(m);
	}
	ok(!memcmp(w, m->params, (size_t)n * sizeof *w) &&
	       !memcmp(m1, m->m1, (size_t)n * sizeof *m1) &&
	       !memcmp(m2, m->m2, (size_t)n * sizeof *m2),
	   "%s: five steps give the same bits as the original float loop",
	   name);
	cnn_model_free(m);
}

/* The step on a sum of gradient arenas, as training makes it
 * (cnn_optim_step_sum), gives the bits of the step on m->grads holding the
 * same sum added in the same order, for every rule, over a parameter count
 * (21) that is not a multiple of the vector width; it leaves m->grads as
 * it was. */
static void test_parts(const char *name, const char *opt)
{
	char text[1024];
	cnn_error err;
	float part[3][MAXP], sentinel[MAXP];
	const cnn_grad_parts parts = {{part[0], part[1], part[2]}, 3, 3, 0};

	snprintf(text, sizeof text,
	         "input: {channels: 1, height: 1, width: 6}\n"
	         "layers:\n"
	         "  - {type: dense, units: 3}\n"
	         "  - {type: softmax}\n"
	         "optimizer: %s\n",
	         opt);
	cnn_model *a = model_from_text(text, "test.yaml", &err);
	cnn_model *b = model_from_text(text, "test.yaml", &err);
	if (!ok(a && b, "parts, %s: the models build", name))
		goto out;
	size_t n = trainable(a);
	memcpy(b->params, a->params, n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		b->grads[i] = sentinel[i] = (float)i - 0.5f;
	for (int t = 1; t <= 4; t++) {
		for (size_t i = 0; i < n; i++) {
			for (int k = 0; k < 3; k++)
				part[k][i] =
				    (float)grad_at(i + 7 * (size_t)k, t + k);
			a->grads[i] = (part[0][i] + part[1][i]) + part[2][i];
		}
		cnn_optim_step(a);
		cnn_optim_step_sum(b, &parts);
	}
	ok(n % 4 != 0 && !memcmp(a->params, b->params, n * sizeof(float)) &&
	       !memcmp(a->m1, b->m1, n * sizeof(float)) &&
	       !memcmp(a->m2, b->m2, n * sizeof(float)),
	   "parts, %s: the same bits as the step on the summed gradient", name);
	ok(!memcmp(b->grads, sentinel, n * sizeof(float)),
	   "parts, %s: m->grads untouched", name);
out:
	cnn_model_free(a);
	cnn_model_free(b);
}

/* The step says whether it wrote a NaN or infinite weight, wherever that
 * weight is: the first, one in the vector tail (the last of 18), or none.
 * Training stops on it (t/tools.sh checks the message). */
static void test_wild(void)
{
	static const size_t where[] = {0, 17};
	cnn_model *m = build("optimizer: {type: sgd, learning_rate: 0.1}\n");

	if (!ok(m && trainable(m) == 18, "wild: the model builds"))
		goto out;
	for (size_t i = 0; i < 18; i++)
		m->grads[i] = 0.25f;
	ok(cnn_optim_step(m) == 0, "wild: a finite step says so");
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < 18; i++)
			m->params[i] = m->m1[i] = m->grads[i] = 0.0f;
		m->grads[where[k]] = k ? INFINITY : NAN;
		ok(cnn_optim_step(m) != 0 && !isfinite(m->params[where[k]]),
		   "wild: %s weight at %zu is reported",
		   k ? "an infinite" : "a NaN", where[k]);
	}
out:
	cnn_model_free(m);
}

/* ======================================================================== */
/* Layer state                                                              */

/* Layer state stored after the trainable parameters (batchnorm's running
 * statistics) never changes in a step, whatever the optimiser, decay and
 * clipping, even with a non-zero value in its part of the gradient arena;
 * the trainable parameters do change. */
static void test_state_untouched(void)
{
	static const char *const opts[] = {
	    "{type: sgd, learning_rate: 0.1, momentum: 0.9, nesterov: true, "
	    "weight_decay: 0.1, clip_norm: 0.1}",
	    "{type: adam, weight_decay: 0.1}",
	    "{type: adamw, weight_decay: 0.5}",
	    "{type: rmsprop, momentum: 0.5, weight_decay: 0.1}"};

	for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
		char text[1024];
		float before[3][MAXP];
		cnn_error err;

		snprintf(text, sizeof text,
		         "input: {channels: 1, height: 1, width: 3}\n"
		         "layers:\n"
		         "  - {type: dense, units: 4}\n"
		         "  - {type: batchnorm}\n"
		         "  - {type: dense, units: 3}\n"
		         "  - {type: softmax}\n"
		         "optimizer: %s\n",
		         opts[k]);
		cnn_model *m = model_from_text(text, "test.yaml", &err);
		if (!ok(m && m->n_trainable < m->n_params &&
		            m->n_params <= MAXP,
		        "state, %s: builds with %zu trainable parameters and "
		        "state after them",
		        opts[k], m ? m->n_trainable : 0)) {
			if (!m)
				diag("%s", cnn_error_string(&err, msgbuf,
				                            sizeof msgbuf));
			cnn_model_free(m);
			continue;
		}
		const size_t n0 = m->n_trainable, ns = m->n_params - n0;
		float w0 = m->params[0];
		memcpy(before[0], m->params + n0, ns * sizeof(float));
		memcpy(before[1], m->m1 + n0, ns * sizeof(float));
		memcpy(before[2], m->m2 + n0, ns * sizeof(float));
		for (int t = 1; t <= 3; t++) {
			for (size_t i = 0; i < m->n_params; i++)
				m->grads[i] = (float)grad_at(i, t) + 0.5f;
			cnn_optim_step(m);
		}
		ok(!memcmp(before[0], m->params + n0, ns * sizeof(float)) &&
		       !memcmp(before[1], m->m1 + n0, ns * sizeof(float)) &&
		       !memcmp(before[2], m->m2 + n0, ns * sizeof(float)) &&
		       m->params[0] != w0,
		   "state, %s: the %zu state values and their moments are "
		   "unchanged after 3 steps; the weights moved",
		   opts[k], ns);
		cnn_model_free(m);
	}
}

/* ======================================================================== */
/* Gradient clipping                                                        */

/* With the gradient's norm above clip_norm, the gradient is scaled to norm
 * clip_norm (checked on m->grads, which the step scales in place, and on
 * the weights); below it, the step is bit-identical to one without
 * clipping. */
static void test_clip(void)
{
	cnn_model *a = build("optimizer: {type: sgd, learning_rate: 0.1, "
	                     "clip_norm: 0.25}\n");
	cnn_model *b = build("optimizer: {type: sgd, learning_rate: 0.1, "
	                     "clip_norm: 100}\n");
	cnn_model *c = build("optimizer: {type: sgd, learning_rate: 0.1}\n");
	double g[MAXP], sum = 0.0;
	ref r;

	if (!ok(a && b && c, "clip_norm: the models build"))
		goto out;
	start(a, &r);
	start(b, &r);
	start(c, &r);
	for (size_t i = 0; i < r.n; i++) {
		a->grads[i] = b->grads[i] = c->grads[i] = (float)grad_at(i, 1);
		g[i] = a->grads[i];
		sum += g[i] * g[i];
	}
	ok(sqrt(sum) > 0.25 && sqrt(sum) < 100,
	   "clip_norm: the gradient's norm %.4f is between the limits",
	   sqrt(sum));
	ref_step(&a->spec, &r, g, 1, 0.1);
	cnn_optim_step(a);
	cnn_optim_step(b);
	cnn_optim_step(c);
	double after = 0.0;
	for (size_t i = 0; i < r.n; i++)
		after += (double)a->grads[i] * a->grads[i];
	ok(fabs(sqrt(after) - 0.25) < 1e-6 * 0.25,
	   "clip_norm 0.25: the gradient is scaled to norm %.9f", sqrt(after));
	double worst = worst_error(a, &r);
	ok(worst < 1e-6,
	   "clip_norm 0.25: the step matches the rule in double (worst %.3g)",
	   worst);
	ok(!memcmp(b->params, c->params, r.n * sizeof(float)) &&
	       !memcmp(b->grads, c->grads, r.n * sizeof(float)),
	   "clip_norm 100, above the norm: the same bits as no clipping");
out:
	cnn_model_free(a);
	cnn_model_free(b);
	cnn_model_free(c);
}

/* ======================================================================== */
/* Learning-rate schedules                                                  */

/* The documented rate in double: e = (t-1)/B epochs done, with its floor;
 * the schedule's value times the warm-up factor min(1, t/(W*B)). */
static double want_rate(const char *type, double lr0, double gamma, int k,
                        double min_lr, double warm, int epochs, int B, int t)
{
	double e = (double)(t - 1) / B, lr = lr0;
	if (!strcmp(type, "step"))
		lr = lr0 * pow(gamma, floor(floor(e) / k));
	else if (!strcmp(type, "exponential"))
		lr = lr0 * pow(gamma, floor(e));
	else if (!strcmp(type, "cosine")) {
		double p = (e - warm) / (epochs - warm);
		p = fmin(1.0, fmax(0.0, p));
		lr = min_lr + (lr0 - min_lr) * (1 + cos(acos(-1.0) * p)) / 2;
	}
	return lr * fmin(1.0, t / (warm * B > 0 ? warm * B : 1.0));
}

/* The rate at chosen steps (B = 10 batches per epoch) against want_rate. */
static void test_schedule(const char *name, const char *type, const char *yaml,
                          double lr0, double gamma, int k, double min_lr,
                          double warm, int epochs)
{
	static const int steps[] = {1,  2,  5,  10, 11, 15,  20,  21,
	                            31, 45, 50, 51, 99, 100, 101, 150};
	const int B = 10;
	cnn_model *m = build(yaml);
	double worst = 0.0;
	int worst_t = 0;

	if (!ok(m != NULL, "schedule %s: builds", name))
		return;
	m->batches_per_epoch = (size_t)B;
	for (size_t j = 0; j < sizeof steps / sizeof *steps; j++) {
		m->step = (uint64_t)steps[j];
		double got = cnn_optim_rate(m);
		double want = want_rate(type, lr0, gamma, k, min_lr, warm,
		                        epochs, B, steps[j]);
		double e = fabs(got - want) / fmax(want, 1e-12);
		if (e >= worst) {
			worst = e;
			worst_t = steps[j];
		}
	}
	ok(worst < 1e-12,
	   "schedule %s: the rate at 16 steps from 1 to 150 (10 batches per "
	   "epoch) is as documented (worst %.3g at step %d)",
	   name, worst, worst_t);
	cnn_model_free(m);
}

/* Whether m's rate at each step t[j] is want[j] (within 1e-15); says which
 * is not. */
static int rates_are(cnn_model *m, const uint64_t *t, const double *want, int n)
{
	int good = 1;
	for (int j = 0; j < n; j++) {
		m->step = t[j];
		double r = cnn_optim_rate(m);
		if (fabs(r - want[j]) > 1e-15) {
			diag("step %d: rate %.17g, want %g", (int)t[j], r,
			     want[j]);
			good = 0;
		}
	}
	return good;
}

/* A cosine warm-up as long as the run or longer (a run shortened with
 * --set training.epochs=1): not refused; the warm-up takes the whole run,
 * the rate rising linearly to learning_rate at its end, and a note says
 * so. A warm-up shorter than the run leaves no note. */
static void test_warmup_covers_run(void)
{
	cnn_model *m = build("optimizer: {type: sgd, learning_rate: 0.1, "
	                     "schedule: {type: cosine, warmup_epochs: 5}}\n"
	                     "training: {epochs: 2}\n");
	if (!ok(m != NULL, "cosine warm-up 5 in a run of 2 epochs: builds"))
		return;
	const char *want_note =
	    "test.yaml:5:69: optimizer.schedule.warmup_epochs: 5 is not less "
	    "than training.epochs (2): the warm-up takes the whole run, with "
	    "no cosine decay";
	if (!ok(strcmp(cnn_model_notes(m), want_note) == 0,
	        "the note says where, what and why"))
		diag("got: %s", cnn_model_notes(m));
	m->batches_per_epoch = 4;
	const uint64_t t[] = {1, 4, 7, 8};
	const double want[] = {0.0125, 0.05, 0.0875, 0.1};
	ok(rates_are(m, t, want, 4),
	   "the rate rises linearly over the 8 steps of the run: "
	   "0.0125 0.05 0.0875 0.1 at steps 1 4 7 8");
	cnn_model_free(m);
	m = build("optimizer: {type: sgd, learning_rate: 0.1, "
	          "schedule: {type: cosine, warmup_epochs: 1}}\n"
	          "training: {epochs: 2}\n");
	ok(m && !*cnn_model_notes(m),
	   "a warm-up shorter than the run: no note");
	cnn_model_free(m);
}

/* Spot values worked out by hand, and the step using the scheduled rate. */
static void test_schedule_values(void)
{
	cnn_model *m = build("optimizer: {type: sgd, learning_rate: 0.1, "
	                     "schedule: {type: step, step_epochs: 2, gamma: "
	                     "0.5, warmup_epochs: 0.5}}\n");
	if (!ok(m != NULL, "schedule values: builds"))
		return;
	m->batches_per_epoch = 4;
	/* warm-up over 2 steps: 0.05 then 0.1; epochs 0-1 0.1, 2-3 0.05 */
	const uint64_t t[] = {1, 2, 3, 8, 9, 16, 17};
	const double want[] = {0.05, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025};
	ok(rates_are(m, t, want, 7),
	   "schedule step 2 epochs, gamma 0.5, warm-up 0.5 epoch: "
	   "0.05 0.1 0.1 0.1 0.05 0.05 0.025 at steps 1 2 3 8 9 16 17");
	/* the step takes step 9 (the first of epoch 3): rate 0.05 */
	ref r;
	start(m, &r);
	m->step = 8;
	for (size_t i = 0; i < r.n; i++)
		m->grads[i] = (float)grad_at(i, 1);
	cnn_optim_step(m);
	double worst = 0.0;
	for (size_t i = 0; i < r.n; i++) {
		double w = r.w[i] - 0.05 * (double)m->grads[i];
		worst =
		    fmax(worst, fabs(m->params[i] - w) / fmax(0.1, fabs(w)));
	}
	ok(m->step == 9 && worst < 1e-6,
	   "the optimiser steps with the scheduled rate (worst %.3g)", worst);
	cnn_model_free(m);

	/* no schedule: exactly the learning rate, at any step */
	m = build("optimizer: {learning_rate: 0.003}\n");
	if (m) {
		m->batches_per_epoch = 7;
		m->step = 12345;
		ok(cnn_optim_rate(m) == 0.003,
		   "no schedule: the rate is the learning rate exactly");
		cnn_model_free(m);
	}
}

/* ======================================================================== */
/* Early stopping                                                           */

/* Sets the history to n epochs whose selection accuracies are acc[] on the
 * set named (validation, test or training). */
static void set_history(cnn_model *m, const double *acc, int n, const char *set)
{
	free(m->history);
	m->history = calloc((size_t)n, sizeof *m->history);
	m->n_history = n;
	for (int i = 0; i < n; i++) {
		cnn_epoch_metrics *e = &m->history[i];
		e->epoch = i + 1;
		e->loss = 1.0;
		e->train_accuracy = 0.99; /* never the selection unless told */
		e->val_accuracy = -1;
		e->test_accuracy = -1;
		if (!strcmp(set, "validation")) {
			e->val_accuracy = acc[i];
			e->test_accuracy = 0.3;
		} else if (!strcmp(set, "test")) {
			e->test_accuracy = acc[i];
		} else {
			e->train_accuracy = acc[i];
		}
	}
	m->epoch = n;
	m->epoch_pos = 0;
}

static void test_early_stopping(void)
{
	/* min_delta 0.01: improvements at epochs 2 (0.60 > 0.51) and 4
	 * (0.62 > 0.61); 0.605 is not one (not above 0.61). */
	static const double acc[] = {0.50,  0.60,  0.605, 0.62,
	                             0.615, 0.612, 0.60};
	cnn_model *m = build("training: {epochs: 20, early_stopping: "
	                     "{patience: 3, min_delta: 0.01}}\n");
	cnn_model *z = build("training: {epochs: 20, early_stopping: "
	                     "{patience: 3}}\n");
	cnn_model *off = build("training: {epochs: 20}\n");
	int best = 0, stops[8];
	double bacc = 0;
	const char *set = NULL;
	cnn_train_state st;

	if (!ok(m && z && off, "early stopping: the models build"))
		goto out;
	ok(m->spec.patience == 3 && m->spec.min_delta == 0.01 &&
	       z->spec.min_delta == 0 && off->spec.patience == 0,
	   "early stopping: patience and min_delta read, defaults 0");
	for (int n = 1; n <= 7; n++) {
		set_history(m, acc, n, "validation");
		stops[n] = cnn_early_stop(m, NULL, NULL, NULL);
	}
	ok(!stops[1] && !stops[2] && !stops[3] && !stops[4] && !stops[5] &&
	       !stops[6] && stops[7],
	   "patience 3, min_delta 0.01: stops after epoch 7 only");
	cnn_early_stop(m, &best, &bacc, &set);
	ok(best == 4 && bacc == 0.62 && set && !strcmp(set, "validation"),
	   "the reference is epoch 4 (0.62) on the validation split: %d "
	   "%g %s",
	   best, bacc, set ? set : "(null)");
	cnn_model_train_state(m, &st);
	ok(st.stopped_early && st.stop_best_epoch == 4 &&
	       st.stop_best_accuracy == 0.62 &&
	       !strcmp(st.monitored, "validation"),
	   "cnn_model_train_state: stopped early, best epoch 4, validation");
	m->epoch = 20;
	m->spec.epochs = 20;
	cnn_model_train_state(m, &st);
	ok(!st.stopped_early,
	   "not 'stopped early' when the last epoch was the scheduled last");

	/* min_delta 0: 0.605 is an improvement, then 0.62 at 4: after 7,
	 * three epochs since 4 */
	for (int n = 1; n <= 7; n++) {
		set_history(z, acc, n, "test");
		stops[n] = cnn_early_stop(z, &best, &bacc, &set);
	}
	ok(!stops[6] && stops[7] && best == 4 && !strcmp(set, "test"),
	   "min_delta 0, on the test set: stops after epoch 7, best 4");
	{
		static const double flat[] = {0.5, 0.6, 0.6, 0.6, 0.6};
		set_history(z, flat, 4, "training");
		int s4 = cnn_early_stop(z, &best, NULL, &set);
		set_history(z, flat, 5, "training");
		int s5 = cnn_early_stop(z, &best, NULL, &set);
		ok(!s4 && s5 && best == 2 && !strcmp(set, "training"),
		   "an equal accuracy is no improvement; the training "
		   "accuracy when there is no other");
	}
	set_history(off, acc, 7, "validation");
	ok(!cnn_early_stop(off, NULL, NULL, NULL),
	   "without training.early_stopping training never stops early");
out:
	cnn_model_free(m);
	cnn_model_free(z);
	cnn_model_free(off);
}

/* ======================================================================== */
/* Configuration                                                            */

/* Building with extra must fail with exactly want. */
static void config_error(const char *extra, const char *want)
{
	cnn_error err;
	cnn_model *m = build_err(extra, &err);
	const char *got = cnn_error_string(&err, msgbuf, sizeof msgbuf);
	int r = !m && err.status == CNN_ERR_CONFIG && !strcmp(got, want);

	if (!ok(r, "error: %s", want)) {
		diag("got:  %s", m ? "(built)" : got);
		diag("want: %s", want);
	}
	cnn_model_free(m);
}

static void test_config(void)
{
	cnn_model *m;

	m = build("optimizer: {type: adamw}\n");
	ok(m && m->spec.optimizer == CNN_OPT_ADAMW &&
	       m->spec.weight_decay == 0.01,
	   "adamw: weight_decay defaults to 0.01");
	cnn_model_free(m);
	m = build("optimizer: {type: rmsprop}\n");
	ok(m && m->spec.optimizer == CNN_OPT_RMSPROP && m->spec.alpha == 0.99 &&
	       m->spec.epsilon == 1e-8 && m->spec.momentum == 0 &&
	       m->spec.weight_decay == 0 && m->spec.clip_norm == 0 &&
	       m->spec.schedule == CNN_SCHED_CONSTANT,
	   "rmsprop: alpha 0.99, epsilon 1e-8, momentum 0, no decay, no "
	   "clipping, constant rate");
	cnn_model_free(m);
	m = build("optimizer: {schedule: {type: exponential}}\n");
	ok(m && m->spec.schedule == CNN_SCHED_EXPONENTIAL &&
	       m->spec.sched_gamma == 0.95 && m->spec.warmup_epochs == 0,
	   "exponential: gamma defaults to 0.95");
	cnn_model_free(m);
	m = build("optimizer: {schedule: {type: step, step_epochs: 3}}\n");
	ok(m && m->spec.sched_gamma == 0.1 && m->spec.sched_step_epochs == 3,
	   "step: gamma defaults to 0.1");
	cnn_model_free(m);

	config_error("optimizer:\n"
	             "  type: adamw\n"
	             "  momentum: 0.9\n",
	             "test.yaml:7:3: optimizer.momentum: only valid with "
	             "type sgd or rmsprop (this optimizer is adamw)");
	config_error("optimizer:\n"
	             "  type: sgd\n"
	             "  learning_rate: 0.1\n"
	             "  epsilon: 1.0e-7\n",
	             "test.yaml:8:3: optimizer.epsilon: only valid with type "
	             "adam, adamw or rmsprop (this optimizer is sgd)");
	config_error("optimizer:\n"
	             "  alpha: 0.9\n",
	             "test.yaml:6:3: optimizer.alpha: only valid with type "
	             "rmsprop (this optimizer is adam)");
	config_error("optimizer:\n"
	             "  type: rmsprop\n"
	             "  nesterov: false\n",
	             "test.yaml:7:3: optimizer.nesterov: only valid with type "
	             "sgd (this optimizer is rmsprop)");
	config_error("optimizer:\n"
	             "  type: sgd\n"
	             "  nesterov: true\n",
	             "test.yaml:7:3: optimizer.nesterov: needs a momentum "
	             "greater than 0 (momentum is 0)");
	config_error("optimizer:\n"
	             "  weight_decay: -0.1\n",
	             "test.yaml:6:17: optimizer.weight_decay: expected a "
	             "number of at least 0, got \"-0.1\"");
	config_error("optimizer:\n"
	             "  clip_norm: -1\n",
	             "test.yaml:6:14: optimizer.clip_norm: expected a number "
	             "of at least 0, got \"-1\"");
	config_error("optimizer:\n"
	             "  type: lion\n",
	             "test.yaml:6:9: optimizer.type: expected one of adam, "
	             "adamw, sgd, rmsprop, got \"lion\"");
	config_error("optimizer:\n"
	             "  schedule:\n"
	             "    type: linear\n",
	             "test.yaml:7:11: optimizer.schedule.type: expected one "
	             "of constant, step, exponential, cosine, got \"linear\"");
	config_error("optimizer:\n"
	             "  schedule: cosine\n",
	             "test.yaml:6:13: optimizer.schedule: expected a mapping, "
	             "got \"cosine\"");
	config_error("optimizer:\n"
	             "  schedule:\n"
	             "    type: cosine\n"
	             "    gamma: 0.5\n",
	             "test.yaml:8:5: optimizer.schedule.gamma: only valid "
	             "with type step or exponential (this schedule is "
	             "cosine)");
	config_error("optimizer:\n"
	             "  schedule: {type: step}\n",
	             "test.yaml:6:13: optimizer.schedule.step_epochs: missing "
	             "(expected a positive integer)");
	config_error("optimizer:\n"
	             "  schedule: {type: exponential, gamma: 0}\n",
	             "test.yaml:6:40: optimizer.schedule.gamma: expected a "
	             "number in (0, 1], got \"0\"");
	config_error("optimizer:\n"
	             "  learning_rate: 0.01\n"
	             "  schedule: {type: cosine, min_lr: 0.1}\n",
	             "test.yaml:7:28: optimizer.schedule.min_lr: must not "
	             "exceed optimizer.learning_rate (0.01)");
	config_error("training:\n"
	             "  early_stopping: {min_delta: 0.1}\n",
	             "test.yaml:6:19: training.early_stopping.patience: "
	             "missing (expected a positive integer)");
	config_error("training:\n"
	             "  early_stopping: {patience: 2, delta: 0.1}\n",
	             "test.yaml:6:33: training.early_stopping: unknown key "
	             "\"delta\" (expected one of: patience, min_delta)");
}

int main(void)
{
	plan_no_plan();

	test_wild();
	test_parts("sgd", "{type: sgd, learning_rate: 0.1}");
	test_parts("nesterov, L2", "{type: sgd, learning_rate: 0.1, momentum: "
	                           "0.9, nesterov: true, weight_decay: 0.1}");
	test_parts("adam", "{type: adam, learning_rate: 0.01}");
	test_parts(
	    "adam (notebook)",
	    "{type: adam, learning_rate: 0.001, beta2: 0.995, epsilon: "
	    "1.0e-7, epsilon_inside_sqrt: true, bias_correction: false}");
	test_parts("adamw", "{type: adamw, learning_rate: 0.01, weight_decay: "
	                    "0.5}");
	test_parts("rmsprop", "{type: rmsprop, learning_rate: 0.01}");
	test_parts("rmsprop momentum, L2",
	           "{type: rmsprop, learning_rate: 0.01, momentum: 0.5, "
	           "weight_decay: 0.1}");

	test_rule("sgd", "optimizer: {type: sgd, learning_rate: 0.1}\n", 1);
	test_rule("sgd", "optimizer: {type: sgd, learning_rate: 0.1}\n", 3);
	test_rule("sgd momentum",
	          "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}\n",
	          1);
	test_rule("sgd momentum",
	          "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}\n",
	          3);
	test_rule("sgd nesterov",
	          "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9, "
	          "nesterov: true}\n",
	          1);
	test_rule("sgd nesterov",
	          "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9, "
	          "nesterov: true}\n",
	          3);
	test_rule("sgd weight_decay (L2)",
	          "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.5, "
	          "weight_decay: 0.2}\n",
	          3);
	test_rule("adam (paper)",
	          "optimizer: {type: adam, learning_rate: 0.01}\n", 3);
	test_rule("adam (notebook)",
	          "optimizer: {type: adam, learning_rate: 0.001, beta2: 0.995, "
	          "epsilon: 1.0e-7, epsilon_inside_sqrt: true, "
	          "bias_correction: false}\n",
	          3);
	test_rule("adam eps inside, bias correction",
	          "optimizer: {type: adam, learning_rate: 0.01, "
	          "epsilon_inside_sqrt: true}\n",
	          3);
	test_rule("adam weight_decay (L2)",
	          "optimizer: {type: adam, learning_rate: 0.01, weight_decay: "
	          "0.1}\n",
	          3);
	test_rule("adamw (default decay 0.01)",
	          "optimizer: {type: adamw, learning_rate: 0.01}\n", 3);
	test_rule("adamw decay 0.5",
	          "optimizer: {type: adamw, learning_rate: 0.05, weight_decay: "
	          "0.5}\n",
	          3);
	test_rule("rmsprop",
	          "optimizer: {type: rmsprop, learning_rate: 0.01}\n", 1);
	test_rule("rmsprop",
	          "optimizer: {type: rmsprop, learning_rate: 0.01}\n", 3);
	test_rule("rmsprop momentum",
	          "optimizer: {type: rmsprop, learning_rate: 0.01, alpha: 0.9, "
	          "momentum: 0.8}\n",
	          3);
	test_rule("rmsprop weight_decay (L2)",
	          "optimizer: {type: rmsprop, learning_rate: 0.01, "
	          "weight_decay: 0.3}\n",
	          3);
	test_rule(
	    "adam clip_norm 0.2 and L2",
	    "optimizer: {type: adam, learning_rate: 0.01, clip_norm: 0.2, "
	    "weight_decay: 0.1}\n",
	    3);

	test_bits("adam (reference notebook)",
	          "optimizer: {type: adam, learning_rate: 0.001, beta2: 0.995, "
	          "epsilon: 1.0e-7, epsilon_inside_sqrt: true, "
	          "bias_correction: false}\n");
	test_bits("adam (paper)",
	          "optimizer: {type: adam, learning_rate: 0.01}\n");
	test_bits(
	    "sgd momentum",
	    "optimizer: {type: sgd, learning_rate: 0.05, momentum: 0.9}\n");

	test_clip();
	test_state_untouched();

	test_schedule("constant with warm-up 2", "constant",
	              "optimizer: {learning_rate: 0.01, schedule: {type: "
	              "constant, warmup_epochs: 2}}",
	              0.01, 1, 1, 0, 2, 10);
	test_schedule("step 3 epochs", "step",
	              "optimizer: {learning_rate: 0.01, schedule: {type: step, "
	              "step_epochs: 3}}",
	              0.01, 0.1, 3, 0, 0, 10);
	test_schedule("step 2 epochs gamma 0.5 warm-up 1.5", "step",
	              "optimizer: {learning_rate: 0.02, schedule: {type: step, "
	              "step_epochs: 2, gamma: 0.5, warmup_epochs: 1.5}}",
	              0.02, 0.5, 2, 0, 1.5, 10);
	test_schedule("exponential", "exponential",
	              "optimizer: {learning_rate: 0.01, schedule: {type: "
	              "exponential}}",
	              0.01, 0.95, 1, 0, 0, 10);
	test_schedule("exponential gamma 0.7 warm-up 3", "exponential",
	              "optimizer: {learning_rate: 0.01, schedule: {type: "
	              "exponential, gamma: 0.7, warmup_epochs: 3}}",
	              0.01, 0.7, 1, 0, 3, 10);
	test_schedule("cosine over 12 epochs", "cosine",
	              "optimizer: {learning_rate: 0.01, schedule: {type: "
	              "cosine}}\ntraining: {epochs: 12}",
	              0.01, 1, 1, 0, 0, 12);
	test_schedule("cosine min_lr 0.001 warm-up 2.5 of 10", "cosine",
	              "optimizer: {learning_rate: 0.01, schedule: {type: "
	              "cosine, min_lr: 0.001, warmup_epochs: 2.5}}\ntraining: "
	              "{epochs: 10}",
	              0.01, 1, 1, 0.001, 2.5, 10);
	test_schedule_values();
	test_warmup_covers_run();

	test_early_stopping();
	test_config();
	return done();
}

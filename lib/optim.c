/*
 * optim.c - the optimisers, each one flat loop over the parameter arena;
 * gradient clipping and weight decay before them; the learning-rate
 * schedule. (Early stopping is training policy: train.c.)
 *
 * m->grads holds the gradient of the batch loss (summed or averaged over
 * the batch according to loss.reduction, see train.c); m->m1 and m->m2 are
 * the optimiser's state in the same order as the parameters:
 *   adam, adamw  m1 first moment, m2 second moment
 *   sgd          m1 momentum buffer (m2 unused)
 *   rmsprop      m1 momentum buffer, m2 mean square of the gradient
 * Only the trainable parameters (the first n of the arenas) are updated:
 * layer state stored after them (batchnorm's running statistics) never
 * changes in a step.
 *
 * Invariants: every update is elementwise, so a parallel loop gives the same
 * bits whatever the thread count; the one sum (the gradient norm for
 * clip_norm) is taken in double in index order. The learning rate is a
 * function of m->step and m->batches_per_epoch alone, so a resumed run
 * uses exactly the rates of one that never stopped. With no weight decay,
 * no clipping and a constant rate, Adam and SGD run the same float
 * operations in the same order as they always have (the reference run is
 * reproduced bit for bit).
 */
#include "model.h"

#include <math.h>

#define PI 3.14159265358979323846

/* The number of trainable parameters: the prefix of the arenas the
 * optimiser updates. */
static long trainable(const cnn_model *m)
{
	return (long)m->n_trainable;
}

/* What one step does to each parameter, set once per step and read by
 * every block of the update. */
typedef struct step_plan {
	cnn_model *m;
	float lr;
	float clip;   /* the gradient's scale (clip_norm), or 1 */
	float decay;  /* L2: wd; adamw: lr * wd; 0: none */
	float c1, c2; /* Adam's bias corrections, or 1 */
} step_plan;

/* ======================================================================== */
/* Before the update                                                        */

/* Gradient clipping by the global norm (as PyTorch's clip_grad_norm_, but
 * scaling by clip_norm/norm exactly): if the L2 norm of the whole gradient
 * exceeds clip_norm, every component is to be multiplied by clip_norm/norm;
 * returns that factor, or 1. The norm is summed in double in index order,
 * so it does not depend on the thread count. A non-finite norm scales by 0
 * or not at all, and the non-finite values reach the weights, where
 * train.c reports them. */
static float clip_scale(const cnn_model *m)
{
	const long n = trainable(m);
	const float *restrict g = m->grads;
	double sum = 0.0;

	for (long i = 0; i < n; i++)
		sum += (double)g[i] * (double)g[i];
	const double norm = sqrt(sum);
	if (!(norm > m->spec.clip_norm))
		return 1.0f;
	return (float)(m->spec.clip_norm / norm);
}

/* Parameters [lo, hi): the clipping scale, then L2 weight decay (as
 * PyTorch's weight_decay for SGD, Adam and RMSprop: g += wd*w, so the decay
 * goes through the optimiser's own scaling) or decoupled weight decay
 * (Loshchilov & Hutter, 2019, "AdamW"; PyTorch's AdamW: w -= lr*wd*w,
 * before the Adam update and apart from it). */
static void prepare_block(const step_plan *p, long lo, long hi)
{
	float *restrict w = p->m->params, *restrict g = p->m->grads;
	if (p->clip != 1.0f)
		for (long i = lo; i < hi; i++)
			g[i] *= p->clip;
	if (p->decay == 0.0f)
		return;
	if (p->m->spec.optimizer == CNN_OPT_ADAMW) {
		for (long i = lo; i < hi; i++)
			w[i] -= p->decay * w[i];
	} else {
		for (long i = lo; i < hi; i++)
			g[i] += p->decay * w[i];
	}
}

/* ======================================================================== */
/* The update rules, each over the parameters [lo, hi)                      */

/* Adam (Kingma & Ba, 2015, Algorithm 1), with two switches:
 *   bias_correction      m/(1-beta1^t) and v/(1-beta2^t), as in the paper
 *                        (off: the raw moments, as the reference notebook)
 *   epsilon_inside_sqrt  w -= lr*m/sqrt(v+eps)   (the notebook)
 *                        instead of w -= lr*m/(sqrt(v)+eps)   (the paper) */
static void adam_block(const step_plan *p, long lo, long hi)
{
	const cnn_spec *s = &p->m->spec;
	const float b1 = (float)s->beta1, b2 = (float)s->beta2;
	const float eps = (float)s->epsilon, lr = p->lr;
	const float c1 = p->c1, c2 = p->c2;
	float *restrict w = p->m->params, *restrict g = p->m->grads;
	float *restrict m1 = p->m->m1, *restrict m2 = p->m->m2;

	if (s->epsilon_inside_sqrt) {
		for (long i = lo; i < hi; i++) {
			m1[i] = b1 * m1[i] + (1.0f - b1) * g[i];
			m2[i] = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
			w[i] -= lr * (m1[i] * c1) / sqrtf(m2[i] * c2 + eps);
		}
	} else {
		for (long i = lo; i < hi; i++) {
			m1[i] = b1 * m1[i] + (1.0f - b1) * g[i];
			m2[i] = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
			w[i] -= lr * (m1[i] * c1) / (sqrtf(m2[i] * c2) + eps);
		}
	}
}

/* SGD with (heavy-ball) momentum, as PyTorch: v = momentum*v + g; w -= lr*v.
 * With momentum 0 this is plain gradient descent. Nesterov (PyTorch's
 * nesterov=True, Sutskever et al. 2013): the same v, but the step is
 * g + momentum*v. */
static void sgd_block(const step_plan *p, long lo, long hi)
{
	const float mu = (float)p->m->spec.momentum, lr = p->lr;
	float *restrict w = p->m->params, *restrict g = p->m->grads;
	float *restrict v = p->m->m1;
	if (p->m->spec.nesterov) {
		for (long i = lo; i < hi; i++) {
			v[i] = mu * v[i] + g[i];
			w[i] -= lr * (g[i] + mu * v[i]);
		}
		return;
	}
	for (long i = lo; i < hi; i++) {
		v[i] = mu * v[i] + g[i];
		w[i] -= lr * v[i];
	}
}

/* RMSprop (Hinton's lecture 6e; PyTorch's RMSprop, not centered):
 *   v = alpha*v + (1-alpha)*g^2
 *   momentum 0:  w -= lr*g/(sqrt(v)+eps)
 *   momentum mu: buf = mu*buf + g/(sqrt(v)+eps); w -= lr*buf
 * v is m2, buf is m1. */
static void rmsprop_block(const step_plan *p, long lo, long hi)
{
	const cnn_spec *s = &p->m->spec;
	const float a = (float)s->alpha, eps = (float)s->epsilon;
	const float mu = (float)s->momentum, lr = p->lr;
	float *restrict w = p->m->params, *restrict g = p->m->grads;
	float *restrict buf = p->m->m1, *restrict v = p->m->m2;
	if (s->momentum > 0) {
		for (long i = lo; i < hi; i++) {
			v[i] = a * v[i] + (1.0f - a) * g[i] * g[i];
			buf[i] = mu * buf[i] + g[i] / (sqrtf(v[i]) + eps);
			w[i] -= lr * buf[i];
		}
		return;
	}
	for (long i = lo; i < hi; i++) {
		v[i] = a * v[i] + (1.0f - a) * g[i] * g[i];
		w[i] -= lr * g[i] / (sqrtf(v[i]) + eps);
	}
}

/* One block of the step: its parameters prepared, then updated (while
 * they are still in the cache). */
static void step_block(void *ctx, long lo, long hi)
{
	const step_plan *p = ctx;
	prepare_block(p, lo, hi);
	switch (p->m->spec.optimizer) {
	case CNN_OPT_ADAM:
	case CNN_OPT_ADAMW:
		adam_block(p, lo, hi);
		break;
	case CNN_OPT_SGD:
		sgd_block(p, lo, hi);
		break;
	case CNN_OPT_RMSPROP:
		rmsprop_block(p, lo, hi);
		break;
	}
}

/* ======================================================================== */
/* Learning-rate schedule                                                   */

/* The rate of step t = m->step (t >= 1; 0 is taken as 1), with B =
 * m->batches_per_epoch (0 is taken as 1) and lr0 = optimizer.learning_rate:
 *   k = floor((t-1)/B), the epochs completed before the step, and
 *   e = (t-1)/B, the same with the fraction of the epoch in progress;
 *   constant     lr0
 *   step         lr0 * gamma^floor(k/step_epochs)
 *   exponential  lr0 * gamma^k
 *   cosine       min_lr + (lr0-min_lr) * (1+cos(pi*p))/2 with
 *                p = (e-warmup)/(epochs-warmup) clamped to [0, 1]
 *                (0 when the warm-up takes the whole run)
 * then, while t < warmup*B, times t/(warmup*B) (a linear warm-up from 0).
 * With no schedule and no warm-up it is exactly lr0. */
double cnn_optim_rate(const cnn_model *m)
{
	const cnn_spec *s = &m->spec;
	const uint64_t B = m->batches_per_epoch ? m->batches_per_epoch : 1;
	const uint64_t t = m->step ? m->step : 1;
	const uint64_t k = (t - 1) / B;
	const double lr0 = s->learning_rate;
	double lr = lr0;

	switch (s->schedule) {
	case CNN_SCHED_CONSTANT:
		break;
	case CNN_SCHED_STEP:
		lr = lr0 * pow(s->sched_gamma,
		               (double)(k / (uint64_t)s->sched_step_epochs));
		break;
	case CNN_SCHED_EXPONENTIAL:
		lr = lr0 * pow(s->sched_gamma, (double)k);
		break;
	case CNN_SCHED_COSINE: {
		const double e = (double)(t - 1) / (double)B;
		const double span = (double)s->epochs - s->warmup_epochs;
		double p = span > 0 ? (e - s->warmup_epochs) / span : 0.0;
		p = p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
		lr = s->sched_min_lr +
		     (lr0 - s->sched_min_lr) * (1.0 + cos(PI * p)) / 2.0;
		break;
	}
	}
	const double warm = s->warmup_epochs * (double)B;
	if ((double)t < warm)
		lr *= (double)t / warm;
	return lr;
}

/* ======================================================================== */

/* Counts the step, then clips the gradient (clip_norm), adds L2 weight
 * decay to it (all but adamw) or decays the weights (adamw), and updates
 * every trainable parameter with the rate of this step: one pass over the
 * parameters, in blocks spread over the threads. */
void cnn_optim_step(cnn_model *m)
{
	const cnn_spec *s = &m->spec;
	step_plan p = {m, 0.0f, 1.0f, 0.0f, 1.0f, 1.0f};

	m->step++;
	const double rate = cnn_optim_rate(m);
	p.lr = (float)rate;
	if (s->clip_norm > 0)
		p.clip = clip_scale(m);
	if (s->weight_decay > 0)
		p.decay = s->optimizer == CNN_OPT_ADAMW
		              ? (float)(rate * s->weight_decay)
		              : (float)s->weight_decay;
	if (s->bias_correction) {
		p.c1 = (float)(1.0 / (1.0 - pow(s->beta1, (double)m->step)));
		p.c2 = (float)(1.0 / (1.0 - pow(s->beta2, (double)m->step)));
	}
	cnn_pool_run(trainable(m), CNN_POOL_GRAIN, step_block, &p);
}

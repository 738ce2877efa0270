/*
 * optim.c - the optimisers, each one flat loop over the parameter arena
 * (cnn_update_apply in kernels.c), gradient clipping and weight decay
 * before them; the learning-rate schedule. (Early stopping is training
 * policy: train.c.)
 *
 * The gradient of the batch loss (summed or averaged over the batch
 * according to loss.reduction, see train.c) is m->grads, or the chunks'
 * gradient arenas, summed in chunk order as the step reads them. m->m1 and
 * m->m2 are the optimiser's state in the same order as the parameters:
 *   adam, adamw  m1 first moment, m2 second moment
 *   sgd          m1 momentum buffer (m2 unused)
 *   rmsprop      m1 momentum buffer, m2 mean square of the gradient
 * Only the trainable parameters (the first n of the arenas, less the
 * frozen layers': the segments m->segs cover exactly those that train)
 * are updated: layer state stored after them (batchnorm's running
 * statistics) and frozen layers' weights never change in a step, and
 * their moments stay zero.
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
#include <stdatomic.h>

#define PI 3.14159265358979323846

/* One step: the update of every parameter, and where its gradient is. */
typedef struct step_plan {
	cnn_model *m;
	cnn_update u;
	const cnn_grad_parts *gp; /* NULL: m->grads */
	int claim;                /* several threads: see claim() */
	atomic_int wild; /* set when a block wrote a non-finite weight */
	/* loop index i is segment first + i, or, from skip on, first + i +
	 * skip_n (the loop around the split layer's segments) */
	int first, skip, skip_n;
} step_plan;

/* ======================================================================== */
/* Before the update                                                        */

/* Gradient clipping by the global norm (as PyTorch's clip_grad_norm_, but
 * scaling by clip_norm/norm exactly): if the L2 norm of the gradient of the
 * parameters that train (frozen layers' are left out)
 * exceeds clip_norm, every component is to be multiplied by clip_norm/norm;
 * returns that factor, or 1. The norm is summed in double in index order,
 * so it does not depend on the thread count. A non-finite norm scales by 0
 * or not at all, and the non-finite values reach the weights, where
 * train.c reports them. */
static float clip_scale(const cnn_model *m)
{
	const float *restrict g = m->grads;
	double sum = 0.0;

	/* the segments cover the parameters that train, in index order */
	for (int k = 0; k < m->n_segs; k++)
		for (size_t i = m->segs[k].off;
		     i < m->segs[k].off + m->segs[k].n; i++)
			sum += (double)g[i] * (double)g[i];
	const double norm = sqrt(sum);
	if (!(norm > m->spec.clip_norm))
		return 1.0f;
	return (float)(m->spec.clip_norm / norm);
}

/* ======================================================================== */
/* The update rules                                                         */

/* Each parameter's update is cnn_update_apply's (kernels.c), with the rule
 * and its constants chosen here from the spec. Before the rule, the
 * gradient is multiplied by the clipping scale, then L2 weight decay is
 * added to it (as PyTorch's weight_decay for SGD, Adam and RMSprop: g +=
 * wd*w, so the decay goes through the optimiser's own scaling), or, for
 * adamw, the weight is decayed (Loshchilov & Hutter, 2019, "AdamW";
 * PyTorch's AdamW: w -= lr*wd*w, before the Adam update and apart from
 * it). The rules:
 *
 * Adam (Kingma & Ba, 2015, Algorithm 1), with two switches:
 *   m1 = b1*m1 + (1-b1)*g;  m2 = b2*m2 + (1-b2)*g*g
 *   bias_correction      m/(1-beta1^t) and v/(1-beta2^t), as in the paper
 *                        (off: the raw moments, as the reference notebook)
 *   epsilon_inside_sqrt  w -= lr*m/sqrt(v+eps)   (the notebook)
 *                        instead of w -= lr*m/(sqrt(v)+eps)   (the paper)
 * SGD with (heavy-ball) momentum, as PyTorch: v = momentum*v + g; w -= lr*v
 *   (momentum 0: plain gradient descent). Nesterov (PyTorch's
 *   nesterov=True, Sutskever et al. 2013): the same v, but the step is
 *   g + momentum*v.
 * RMSprop (Hinton's lecture 6e; PyTorch's RMSprop, not centered):
 *   v = alpha*v + (1-alpha)*g^2
 *   momentum 0:  w -= lr*g/(sqrt(v)+eps)
 *   momentum mu: buf = mu*buf + g/(sqrt(v)+eps); w -= lr*buf
 *   (v is m2, buf is m1). */
static cnn_rule rule_of(const cnn_spec *s)
{
	switch (s->optimizer) {
	case CNN_OPT_ADAM:
	case CNN_OPT_ADAMW:
		return s->epsilon_inside_sqrt ? CNN_RULE_ADAM_INSIDE
		                              : CNN_RULE_ADAM;
	case CNN_OPT_SGD:
		return s->nesterov ? CNN_RULE_NESTEROV : CNN_RULE_SGD;
	case CNN_OPT_RMSPROP:
		break;
	}
	return s->momentum > 0 ? CNN_RULE_RMSPROP_MOM : CNN_RULE_RMSPROP;
}

/* Floats of gradient summed at a time from the parts: a few KB, so that
 * they stay in the L1 cache until the update reads them. */
#define STEP_SLICE 1024

/* The update of the n parameters from off with their gradient g (which it
 * overwrites when p->u.keep_g, see cnn_update_apply); notes a non-finite
 * weight in p->wild. */
static void update(step_plan *p, size_t off, float *g, size_t n)
{
	cnn_model *m = p->m;

	if (cnn_update_apply(&p->u, m->params + off, g, m->m1 + off,
	                     m->m2 + off, n))
		atomic_store_explicit(&p->wild, 1, memory_order_relaxed);
}

/* Asks for segment s's weights and the state its rule updates, for
 * writing, before its gradient is computed: with several threads, every
 * thread's forward read the weights, so each line the update writes is
 * first taken from the other cores' caches; asked for ahead, those
 * transfers overlap the gradient's arithmetic instead of stalling the
 * update (mlp at 2 threads: 0.92-0.94x the wall time). With one thread the
 * lines are already this core's, and asking cost 3%. */
static void claim(const step_plan *p, const cnn_seg *s)
{
	const cnn_rule r = p->u.rule;
	const size_t bytes = s->n * sizeof(float);

	cnn_prefetch_write(p->m->params + s->off, bytes);
	if (r != CNN_RULE_RMSPROP)
		cnn_prefetch_write(p->m->m1 + s->off, bytes);
	if (r != CNN_RULE_SGD && r != CNN_RULE_NESTEROV)
		cnn_prefetch_write(p->m->m2 + s->off, bytes);
}

/* The step over segments [lo, hi) of m->segs: the gradient read from
 * m->grads, or summed from the arenas slice by slice, or, for a deferred
 * segment, computed whole; then the update. */
static void step_segs(void *ctx, long lo, long hi)
{
	step_plan *p = ctx;
	const cnn_grad_parts *gp = p->gp;
	/* on cache lines, as the arenas are: a vector load or store that
	 * straddles two lines costs two (the weight gradients: 0.85x) */
	_Alignas(64) float sum[STEP_SLICE];
	const float *at[CNN_MAX_CHUNKS];

	for (long i = p->first + lo; i < p->first + hi; i++) {
		const cnn_seg *s = &p->m->segs[i < p->skip ? i : i + p->skip_n];
		if (gp && gp->deferred && s->layer >= 0) {
			_Alignas(64) float out[CNN_SEG_MAX];
			if (p->claim)
				claim(p, s);
			cnn_graph_seg_grad(p->m, gp, s, out);
			update(p, s->off, out, s->n);
			continue;
		}
		for (size_t a = s->off; a < s->off + s->n; a += STEP_SLICE) {
			size_t n = s->off + s->n - a;
			if (n > STEP_SLICE)
				n = STEP_SLICE;
			if (!gp) {
				update(p, a, p->m->grads + a, n);
				continue;
			}
			for (int k = 0; k < gp->count; k++)
				at[k] = gp->part[k] + a;
			cnn_add_forward(at, gp->count, sum, n);
			update(p, a, sum, n);
		}
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
 * parameters, segment by segment (m->segs) spread over the threads. The
 * gradient is m->grads when gp is NULL, else the sum of gp's arenas in
 * their order, made slice by slice as the update reads it, and, for the
 * deferred segments, computed by cnn_graph_seg_grad (no clip_norm then: it
 * needs the whole gradient first). Returns nonzero if a trainable parameter
 * is now NaN or infinite. */
int cnn_optim_step_sum(cnn_model *m, const cnn_grad_parts *gp)
{
	const cnn_spec *s = &m->spec;
	step_plan p = {m,
	               {rule_of(s), 0.0f, 1.0f, 0.0f, 0, 0.0f, 0.0f, 0.0f, 1.0f,
	                1.0f, 0.0f, !gp},
	               gp,
	               cnn_pool_threads() > 1,
	               0,
	               0,
	               m->n_segs,
	               0};
	cnn_update *u = &p.u; /* keep_g: not for the arenas' sums and the
	                         deferred gradients, the step's scratch */

	m->step++;
	const double rate = cnn_optim_rate(m);
	u->lr = (float)rate;
	if (s->clip_norm > 0 && !gp)
		u->clip = clip_scale(m);
	if (s->weight_decay > 0) {
		u->decoupled = s->optimizer == CNN_OPT_ADAMW;
		u->decay = u->decoupled ? (float)(rate * s->weight_decay)
		                        : (float)s->weight_decay;
	}
	u->mu = (float)s->momentum;
	u->b1 = (float)s->beta1;
	u->b2 = (float)(s->optimizer == CNN_OPT_RMSPROP ? s->alpha : s->beta2);
	u->eps = (float)s->epsilon;
	if (s->bias_correction) {
		u->c1 = (float)(1.0 / (1.0 - pow(s->beta1, (double)m->step)));
		u->c2 = (float)(1.0 / (1.0 - pow(s->beta2, (double)m->step)));
	}
	if (m->pass_from && gp && gp->deferred) {
		/* the pass ran the split layer by rows: each thread updates
		 * the rows it computed (a loop of the same count), then the
		 * rest */
		const int lo = m->split_lo, hi = m->split_hi, claim = p.claim;
		p.first = lo;
		p.claim = 0; /* their lines are this core's already */
		cnn_pool_run(hi - lo, 1, step_segs, &p);
		p.claim = claim;
		p.first = 0;
		p.skip = lo;
		p.skip_n = hi - lo;
		cnn_pool_run(m->n_segs - (hi - lo), 1, step_segs, &p);
	} else {
		cnn_pool_run(m->n_segs, 1, step_segs, &p);
	}
	return atomic_load_explicit(&p.wild, memory_order_relaxed);
}

int cnn_optim_step(cnn_model *m)
{
	return cnn_optim_step_sum(m, NULL);
}

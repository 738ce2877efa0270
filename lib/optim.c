/*
 * optim.c - the optimisers, each one flat loop over the parameter arena.
 *
 * m->grads holds the gradient of the batch loss (summed or averaged over
 * the batch according to loss.reduction, see train.c); m->m1 and m->m2 are
 * the optimiser's state in the same order as the parameters.
 */
#include "internal.h"

#include <math.h>

/* Adam (Kingma & Ba, 2015, Algorithm 1), with two switches:
 *   bias_correction      m/(1-beta1^t) and v/(1-beta2^t), as in the paper
 *                        (off: the raw moments, as the reference notebook)
 *   epsilon_inside_sqrt  w -= lr*m/sqrt(v+eps)   (the notebook)
 *                        instead of w -= lr*m/(sqrt(v)+eps)   (the paper) */
static void adam_step(cnn_model *m)
{
	const cnn_spec *s = &m->spec;
	const float b1 = (float)s->beta1, b2 = (float)s->beta2;
	const float eps = (float)s->epsilon;
	float c1 = 1.0f, c2 = 1.0f;
	if (s->bias_correction) {
		c1 = (float)(1.0 / (1.0 - pow(s->beta1, (double)m->step)));
		c2 = (float)(1.0 / (1.0 - pow(s->beta2, (double)m->step)));
	}
	const float lr = (float)s->learning_rate;
	float *restrict w = m->params, *restrict g = m->grads;
	float *restrict m1 = m->m1, *restrict m2 = m->m2;
	const long n = (long)m->n_params;

	/* the same static split as the gradient reduction in train.c, so each
	 * thread updates the parameters whose gradients it just summed */
	if (s->epsilon_inside_sqrt) {
		CNN_PARALLEL_FOR
		for (long i = 0; i < n; i++) {
			m1[i] = b1 * m1[i] + (1.0f - b1) * g[i];
			m2[i] = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
			w[i] -= lr * (m1[i] * c1) / sqrtf(m2[i] * c2 + eps);
		}
	} else {
		CNN_PARALLEL_FOR
		for (long i = 0; i < n; i++) {
			m1[i] = b1 * m1[i] + (1.0f - b1) * g[i];
			m2[i] = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
			w[i] -= lr * (m1[i] * c1) / (sqrtf(m2[i] * c2) + eps);
		}
	}
}

/* SGD with (heavy-ball) momentum, as PyTorch: v = momentum*v + g; w -= lr*v.
 * With momentum 0 this is plain gradient descent. */
static void sgd_step(cnn_model *m)
{
	const float mu = (float)m->spec.momentum;
	const float lr = (float)m->spec.learning_rate;
	float *restrict w = m->params, *restrict g = m->grads;
	float *restrict v = m->m1;
	const long n = (long)m->n_params;
	CNN_PARALLEL_FOR
	for (long i = 0; i < n; i++) {
		v[i] = mu * v[i] + g[i];
		w[i] -= lr * v[i];
	}
}

/* Counts the step, then updates every parameter from its gradient. */
void cnn_optim_step(cnn_model *m)
{
	m->step++;
	if (m->spec.optimizer == CNN_OPT_ADAM)
		adam_step(m);
	else
		sgd_step(m);
}

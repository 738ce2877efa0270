/*
 * loss.c - the losses: cross-entropy on a softmax output, and mean squared
 * error against one-hot targets.
 *
 * Both read the graph's activations for a range of the batch's samples, so
 * that each chunk computes its own part (see graph.c); both count correct
 * argmax predictions, which is what accuracy means for a classifier.
 */
#include "model.h"

#include <math.h>

cnn_status cnn_loss_check(cnn_model *m, cnn_error *err)
{
	const int L = m->n_layers;
	cnn_layer *last = &m->layers[L - 1];

	if (m->spec.loss == CNN_LOSS_MSE) {
		m->grad_act = L;
		return CNN_OK;
	}
	if (last->ops != &cnn_layer_softmax)
		return cnn_node_error(err, last->node, "layers",
		                      "the cross_entropy loss needs a softmax "
		                      "as the last layer, got %s",
		                      last->ops->type);
	m->grad_act = last->inputs[0];
	return CNN_OK;
}

/* Index of the largest of the k values in p (the first on ties). */
static int argmax(const float *p, int k)
{
	int arg = 0;
	for (int c = 1; c < k; c++)
		if (p[c] > p[arg])
			arg = c;
	return arg;
}

/* Cross-entropy of the softmax output, computed from the logits (the
 * softmax's input) with the log-sum-exp trick so that it stays finite for
 * any logits; the gradient with respect to the logits is (p - onehot) * g. */
static double softmax_xent(const cnn_model *m, int s0, int n, float g,
                           float *grad, size_t *correct, uint64_t *confusion)
{
	const int C = m->classes;
	const float *z = m->act[m->grad_act];
	const float *p = m->act[m->n_layers];
	double loss = 0.0;
	for (int s = s0; s < s0 + n; s++) {
		int y = m->labels[s];
		const float *zs = z + (size_t)s * C, *ps = p + (size_t)s * C;
		double mx = zs[0], sum = 0.0;
		int arg = argmax(ps, C);
		for (int c = 1; c < C; c++)
			if (zs[c] > mx)
				mx = zs[c];
		for (int c = 0; c < C; c++)
			sum += exp((double)zs[c] - mx);
		loss += log(sum) + mx - (double)zs[y];
		*correct += arg == y;
		if (confusion)
			confusion[(size_t)y * C + arg]++;
		if (grad) {
			float *gs = grad + (size_t)s * C;
			for (int c = 0; c < C; c++)
				gs[c] = (ps[c] - (c == y ? 1.0f : 0.0f)) * g;
		}
	}
	return loss;
}

/* Mean squared error per sample: (1/C) * sum over the C outputs of
 * (y - onehot)^2; its gradient is 2 (y - onehot) / C, times g. */
static double mse(const cnn_model *m, int s0, int n, float g, float *grad,
                  size_t *correct, uint64_t *confusion)
{
	const int C = m->classes;
	const float *out = m->act[m->n_layers];
	double loss = 0.0;
	for (int s = s0; s < s0 + n; s++) {
		int y = m->labels[s];
		const float *ys = out + (size_t)s * C;
		int arg = argmax(ys, C);
		double sum = 0.0;
		for (int c = 0; c < C; c++) {
			double d = (double)ys[c] - (c == y ? 1.0 : 0.0);
			sum += d * d;
			if (grad)
				grad[(size_t)s * C + c] =
				    (float)(2.0 * d / C) * g;
		}
		loss += sum / C;
		*correct += arg == y;
		if (confusion)
			confusion[(size_t)y * C + arg]++;
	}
	return loss;
}

double cnn_loss_chunk(const cnn_model *m, int s0, int n, float g, float *grad,
                      size_t *correct, uint64_t *confusion)
{
	if (m->spec.loss == CNN_LOSS_MSE)
		return mse(m, s0, n, g, grad, correct, confusion);
	return softmax_xent(m, s0, n, g, grad, correct, confusion);
}

/*
 * layers/batchnorm.c - batch normalisation per channel:
 *   y = gamma * (x - mean) / sqrt(var + epsilon) + beta.
 *
 * Shapes: x (n, C, H, W) -> y (n, C, H, W). The statistics of channel c are
 * over the n*H*W values of that channel (per feature for a dense output
 * (K, 1, 1)). Weight = gamma (C), bias = beta (C); state = running_mean (C)
 * then running_var (C), initially 0 and 1.
 *
 * Training (l->pass && l->pass->training): the graph runs the phases of
 * internal.h, so the statistics are those of the whole batch however it is
 * cut into chunks. l->stats holds two halves of stats_size = 2C + 1 doubles:
 *   first:  sum x (C), sum x*x (C), count N = n*H*W of the batch;
 *   second: sum dy (C), sum dy*x (C), unused.
 * mean = sum/N, var = sumsq/N - mean^2 (biased, computed in double; fine
 * unless |mean| / std approaches 1e6). The running statistics follow
 * PyTorch: running = (1 - momentum) * running + momentum * batch, with the
 * unbiased variance var * N / (N - 1) (left unchanged when N = 1).
 * Evaluation: the running statistics stand in for the batch's, and backward
 * treats them as constants.
 *
 * Workspace (5C floats, recomputed by forward and backward): mean, 1/std,
 * gamma/std, mean of dy, mean of dy*xhat.
 *
 * A relu fused after the layer (relu_out, see layer.h): forward writes
 * relu(y), and every use of dy reads relu's backward of it (dy where the
 * output is positive, else +0), so the bits are those of the two layers.
 */
#include "layer.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const bn_keys[] = {"type",      "name",      "input",
                                      "momentum",  "epsilon",   "weight_init",
                                      "bias_init", "trainable", NULL};

static const char *const bn_state_suffix[2] = {"running_mean", "running_var"};

/* Reads momentum [0.1] in [0, 1], epsilon [1e-5] > 0, weight_init
 * [constant 1] and bias_init [zeros]; the defaults are set here. */
static cnn_status bn_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	const cnn_node *node = l->node;
	cnn_status st;

	l->momentum = 0.1;
	l->epsilon = 1e-5;
	l->bias = 1;
	l->weight_init.type = CNN_INIT_CONSTANT;
	l->weight_init.a = 1.0;
	l->weight_init.b = 0.0;
	l->weight_init.divide_by_sqrt = CNN_FAN_NONE;
	l->bias_init.type = CNN_INIT_ZEROS;
	l->bias_init.a = l->bias_init.b = 0.0;
	l->bias_init.divide_by_sqrt = CNN_FAN_NONE;
	if ((st = cnn_map_check_keys(node, path, bn_keys, err)) ||
	    (st = cnn_get_real(node, path, "momentum", 0,
	                       (cnn_range){.lo = 0, .hi = 1}, &l->momentum,
	                       err)) ||
	    (st =
	         cnn_get_real(node, path, "epsilon", 0,
	                      (cnn_range){.lo = 0, .lo_open = 1, .hi = DBL_MAX},
	                      &l->epsilon, err)))
		return st;
	if ((st = cnn_init_parse(node, path, "weight_init", &l->weight_init,
	                         err)))
		return st;
	return cnn_init_parse(node, path, "bias_init", &l->bias_init, err);
}

/* Output = input shape; gamma and beta of C each, 2C floats of state. */
static cnn_status bn_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	int c = l->in_shape[0];
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, c, l->in_shape[1],
	                                 l->in_shape[2], err)))
		return st;
	l->n_weight = (size_t)c;
	l->n_bias = (size_t)c;
	l->weight_ndim = 1;
	memset(l->weight_shape, 0, sizeof l->weight_shape);
	l->weight_shape[0] = c;
	l->fan_in = 1;
	l->fan_out = 1;
	l->n_state = 2 * (size_t)c;
	l->state_parts = 2;
	l->state_suffix[0] = bn_state_suffix[0];
	l->state_suffix[1] = bn_state_suffix[1];
	return CNN_OK;
}

static size_t bn_workspace(const cnn_layer *l, int n)
{
	(void)n;
	return 5 * (size_t)l->in_shape[0];
}

static int bn_training(const cnn_layer *l)
{
	return l->pass && l->pass->training;
}

static size_t bn_stats_size(const cnn_layer *l)
{
	return 2 * (size_t)l->in_shape[0] + 1;
}

/* 1 / sqrt(var + epsilon), kept finite in single precision. */
static float bn_invstd(double var, double epsilon)
{
	double v = 1.0 / sqrt(var + epsilon);

	return (float)(v < FLT_MAX ? v : FLT_MAX);
}

/* The batch mean and biased variance of channel ch from l->stats. */
static void bn_batch_moments(const cnn_layer *l, int ch, double *mean,
                             double *var)
{
	int c = l->in_shape[0];
	double count = l->stats[2 * c];
	double m = count > 0 ? l->stats[ch] / count : 0.0;
	double v = count > 0 ? l->stats[c + ch] / count - m * m : 0.0;

	*mean = m;
	*var = v > 0 ? v : 0.0; /* rounding can make it slightly negative */
}

/* Fills the workspace's mean, 1/std and gamma/std (ws[0..3C)) from the
 * batch statistics in training, the running ones otherwise. */
static void bn_moments(const cnn_layer *l, float *ws)
{
	int c = l->in_shape[0];
	int train = bn_training(l);

	for (int ch = 0; ch < c; ch++) {
		double mean, var;

		if (train) {
			bn_batch_moments(l, ch, &mean, &var);
		} else {
			mean = l->state[ch];
			var = l->state[c + ch];
		}
		ws[ch] = (float)mean;
		ws[c + ch] = bn_invstd(var, l->epsilon);
		ws[2 * c + ch] = l->w[ch] * ws[c + ch];
	}
}

static void bn_forward(cnn_layer *l, const float *x, float *y, int n, float *ws)
{
	int c = l->in_shape[0];
	size_t hw = (size_t)l->in_shape[1] * l->in_shape[2];

	bn_moments(l, ws);
	cnn_bn_forward(x, y, n, c, hw, ws, ws + 2 * c, l->b, l->relu_out);
}

/* dx from the batch totals of dy and dy * xhat in training (the statistics
 * depend on x), or as for constant statistics in evaluation, where it also
 * adds dgamma += sum dy * xhat and dbeta += sum dy over this chunk
 * (bn_backward_stats does in training). */
static void bn_backward(cnn_layer *l, const float *x, const float *y,
                        const float *dy, float *dx, int n, float *ws)
{
	int c = l->in_shape[0];
	size_t hw = (size_t)l->in_shape[1] * l->in_shape[2];
	float *mdy = ws + 3 * c, *mdyxhat = ws + 4 * c;

	bn_moments(l, ws);
	y = l->relu_out ? y : NULL; /* the mask of a fused relu */
	if (!bn_training(l))        /* in training, backward_stats added them */
		cnn_bn_param_grads(x, y, dy, n, c, hw, ws, ws + c, l->dw,
		                   l->db);
	if (!dx)
		return;
	if (!bn_training(l)) {
		cnn_bn_backward(x, y, dy, dx, n, c, hw, ws, ws + c, ws + 2 * c,
		                NULL, NULL);
		return;
	}
	{
		const double *g = l->stats + bn_stats_size(l);
		double count = l->stats[2 * c];

		for (int ch = 0; ch < c; ch++) {
			double mean, var, sdy = g[ch], sdyx = g[c + ch];

			bn_batch_moments(l, ch, &mean, &var);
			mdy[ch] = count > 0 ? (float)(sdy / count) : 0.0f;
			/* sum dy * xhat = (sum dy * x - mean * sum dy) / std */
			mdyxhat[ch] = count > 0 ? (float)((sdyx - mean * sdy) *
			                                  ws[c + ch] / count)
			                        : 0.0f;
		}
	}
	cnn_bn_backward(x, y, dy, dx, n, c, hw, ws, ws + c, ws + 2 * c, mdy,
	                mdyxhat);
}

/* Phase 1: adds this chunk's sums of x and x*x per channel and its count. */
static void bn_forward_stats(const cnn_layer *l, const float *x, int n,
                             double *acc)
{
	int c = l->in_shape[0];
	size_t hw = (size_t)l->in_shape[1] * l->in_shape[2];

	cnn_bn_sums(x, n, c, hw, acc, acc + c);
	acc[2 * c] += (double)n * (double)hw;
}

/* Phase 2: moves the running statistics towards the batch's (once per
 * training batch). */
static void bn_stats_ready(cnn_layer *l)
{
	int c = l->in_shape[0];
	double count = l->stats[2 * c], m = l->momentum;

	if (!(count > 0))
		return;
	for (int ch = 0; ch < c; ch++) {
		double mean, var;
		float *rm = &l->state[ch], *rv = &l->state[c + ch];

		bn_batch_moments(l, ch, &mean, &var);
		*rm = (float)((1.0 - m) * *rm + m * mean);
		if (count > 1)
			*rv = (float)((1.0 - m) * *rv +
			              m * var * count / (count - 1.0));
	}
}

/* Phase 4: adds this chunk's sums of dy and dy*x per channel, and, from
 * the same pass, its dgamma and dbeta (which backward in training then
 * leaves alone): what cnn_bn_param_grads would add there, the same bits. */
static void bn_backward_stats(const cnn_layer *l, const float *x,
                              const float *y, const float *dy, int n,
                              double *acc)
{
	int c = l->in_shape[0];
	size_t hw = (size_t)l->in_shape[1] * l->in_shape[2];

	for (int ch = 0; ch < c; ch++) {
		double mean, var, sums[3];

		bn_batch_moments(l, ch, &mean, &var);
		cnn_bn_dy_sums(x, l->relu_out ? y : NULL, dy, n, c, hw, ch,
		               (float)mean, sums);
		acc[ch] += sums[0];
		acc[c + ch] += sums[1];
		l->dw[ch] += (float)(sums[2] * bn_invstd(var, l->epsilon));
		l->db[ch] += (float)sums[0];
	}
}

/* Running mean 0, running variance 1. */
static void bn_reset_state(cnn_layer *l)
{
	int c = l->in_shape[0];

	for (int ch = 0; ch < c; ch++) {
		l->state[ch] = 0.0f;
		l->state[c + ch] = 1.0f;
	}
}

const cnn_layer_ops cnn_layer_batchnorm = {
    .type = "batchnorm",
    .has_params = 1,
    .configure = bn_configure,
    .infer = bn_infer,
    .workspace = bn_workspace,
    .forward = bn_forward,
    .backward = bn_backward,
    .stats_size = bn_stats_size,
    .forward_stats = bn_forward_stats,
    .stats_ready = bn_stats_ready,
    .backward_stats = bn_backward_stats,
    .reset_state = bn_reset_state,
    .fuse_relu = 1,
};

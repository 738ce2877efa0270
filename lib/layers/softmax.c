/*
 * layers/softmax.c - softmax over a vector per sample, numerically stable
 * (the maximum is subtracted before exp).
 *
 * Shapes: (K, 1, 1) -> (K, 1, 1); anything else is refused (put a flatten
 * or dense layer before it). Backward is the general Jacobian-vector product
 * dx = y * (dy - sum(dy * y)); the trainer fuses softmax with cross-entropy
 * separately and need not call it.
 */
#include "layer.h"

static cnn_status softmax_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	const int *s = l->in_shape;
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)))
		return st;
	if (s[1] != 1 || s[2] != 1)
		return cnn_node_error(
		    err, l->node, path,
		    "softmax needs a vector input (Kx1x1), got "
		    "%dx%dx%d: put a flatten or dense layer "
		    "before it",
		    s[0], s[1], s[2]);
	if ((st = cnn_layer_output_shape(l, path, s[0], 1, 1, err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void softmax_forward(cnn_layer *l, const float *x, float *y, int n,
                            float *ws)
{
	(void)ws;
	cnn_softmax_forward(x, y, n, (int)l->in_size);
}

static void softmax_backward(cnn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)ws;
	if (dx)
		cnn_softmax_backward(y, dy, dx, n, (int)l->in_size);
}

const cnn_layer_ops cnn_layer_softmax = {
    .type = "softmax",
    .configure = cnn_layer_configure_plain,
    .infer = softmax_infer,
    .forward = softmax_forward,
    .backward = softmax_backward,
};

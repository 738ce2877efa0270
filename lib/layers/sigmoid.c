/*
 * layers/sigmoid.c - logistic sigmoid, element-wise: y = 1 / (1 + exp(-x)).
 *
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy * y * (1 - y), from the
 * output y.
 */
#include "kernels.h"

static const char *const sigmoid_keys[] = {"type", "name", "input", NULL};

static cnn_status sigmoid_configure(cnn_layer *l, const char *path,
                                    cnn_error *err)
{
	return cnn_map_check_keys(l->node, path, sigmoid_keys, err);
}

static cnn_status sigmoid_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, l->in_shape[0],
	                                 l->in_shape[1], l->in_shape[2], err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void sigmoid_forward(cnn_layer *l, const float *x, float *y, int n,
                            float *ws)
{
	(void)ws;
	cnn_sigmoid_forward(x, y, (size_t)n * l->in_size);
}

static void sigmoid_backward(cnn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)ws;
	if (dx)
		cnn_sigmoid_backward(y, dy, dx, (size_t)n * l->in_size);
}

const cnn_layer_ops cnn_layer_sigmoid = {
    .type = "sigmoid",
    .configure = sigmoid_configure,
    .infer = sigmoid_infer,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

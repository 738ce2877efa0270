/*
 * layers/relu.c - rectified linear unit, element-wise: y = max(x, 0).
 *
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy where x > 0, else 0
 * (the kink at 0 gets gradient 0).
 */
#include "kernels.h"

static const char *const relu_keys[] = {"type", "name", "input", NULL};

static cnn_status relu_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	return cnn_map_check_keys(l->node, path, relu_keys, err);
}

static cnn_status relu_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, l->in_shape[0],
	                                 l->in_shape[1], l->in_shape[2], err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void relu_forward(cnn_layer *l, const float *x, float *y, int n,
                         float *ws)
{
	(void)ws;
	cnn_relu_forward(x, y, (size_t)n * l->in_size);
}

static void relu_backward(cnn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, int n, float *ws)
{
	(void)y;
	(void)ws;
	if (dx)
		cnn_relu_backward(x, dy, dx, (size_t)n * l->in_size);
}

const cnn_layer_ops cnn_layer_relu = {
    .type = "relu",
    .configure = relu_configure,
    .infer = relu_infer,
    .forward = relu_forward,
    .backward = relu_backward,
};

/*
 * layers/flatten.c - reshapes (C, H, W) into a vector (C*H*W, 1, 1). The
 * data of a sample is already contiguous in CHW order, so forward and
 * backward are plain copies.
 */
#include "layer.h"

#include <string.h>

static cnn_status flatten_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, (long long)l->in_size, 1, 1,
	                                 err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void flatten_forward(cnn_layer *l, const float *x, float *y, int n,
                            float *ws)
{
	(void)ws;
	if (y != x)
		memcpy(y, x, (size_t)n * l->in_size * sizeof(float));
}

static void flatten_backward(cnn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)y;
	(void)ws;
	if (dx && dx != dy)
		memcpy(dx, dy, (size_t)n * l->in_size * sizeof(float));
}

const cnn_layer_ops cnn_layer_flatten = {
    .type = "flatten",
    .configure = cnn_layer_configure_plain,
    .infer = flatten_infer,
    .forward = flatten_forward,
    .backward = flatten_backward,
};

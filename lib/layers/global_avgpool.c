/*
 * layers/global_avgpool.c - global average pooling: the mean of each
 * channel's plane.
 *
 * Shapes: x (n, C, H, W) -> y (n, C, 1, 1). Backward: every cell of plane
 * c gets dy[c] / (H * W).
 */
#include "layer.h"

/* Output (C, 1, 1). */
static cnn_status gap_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, l->in_shape[0], 1, 1, err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void gap_forward(cnn_layer *l, const float *x, float *y, int n,
                        float *ws)
{
	(void)ws;
	cnn_global_avgpool_forward(x, y, (size_t)n * l->in_shape[0],
	                           (size_t)l->in_shape[1] * l->in_shape[2]);
}

static void gap_backward(cnn_layer *l, const float *x, const float *y,
                         const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)y;
	(void)ws;
	if (dx)
		cnn_global_avgpool_backward(dy, dx, (size_t)n * l->in_shape[0],
		                            (size_t)l->in_shape[1] *
		                                l->in_shape[2]);
}

const cnn_layer_ops cnn_layer_global_avgpool = {
    .type = "global_avgpool",
    .configure = cnn_layer_configure_plain,
    .infer = gap_infer,
    .forward = gap_forward,
    .backward = gap_backward,
};

/*
 * layers/avgpool.c - average pooling over KH x KW windows with stride
 * (SH, SW), no padding; windows may overlap (stride < size).
 *
 * Keys and shapes as maxpool's: x (n, C, H, W) -> y (n, C, OH, OW),
 * OH = (H - KH) / SH + 1 (floor). y is the mean of each window; backward
 * spreads dy / (KH * KW) over the window, accumulating where windows
 * overlap.
 */
#include "layer.h"

static void avgpool_forward(cnn_layer *l, const float *x, float *y, int n,
                            float *ws)
{
	cnn_pool_geom g;

	(void)ws;
	cnn_layer_pool_geom(l, &g);
	cnn_avgpool_forward(&g, x, y, (size_t)n * l->in_shape[0]);
}

static void avgpool_backward(cnn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, int n, float *ws)
{
	cnn_pool_geom g;

	(void)x;
	(void)y;
	(void)ws;
	if (!dx)
		return;
	cnn_layer_pool_geom(l, &g);
	cnn_avgpool_backward(&g, dy, dx, (size_t)n * l->in_shape[0]);
}

const cnn_layer_ops cnn_layer_avgpool = {
    .type = "avgpool",
    .configure = cnn_layer_pool_configure,
    .infer = cnn_layer_pool_infer,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

/*
 * layers/maxpool.c - max pooling over KH x KW windows with stride (SH, SW),
 * no padding; windows may overlap (stride < size).
 *
 * Shapes: x (n, C, H, W) -> y (n, C, OH, OW), OH = (H - KH) / SH + 1 (floor).
 * Backward sends each dy to the first maximum (row-major) of its window,
 * recomputed from x (no stored indices), accumulating where windows overlap.
 */
#include "layer.h"

static void pool_forward(cnn_layer *l, const float *x, float *y, int n,
                         float *ws)
{
	cnn_pool_geom g;

	(void)ws;
	cnn_layer_pool_geom(l, &g);
	cnn_maxpool_forward(&g, x, y, (size_t)n * l->in_shape[0]);
}

static void pool_backward(cnn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, int n, float *ws)
{
	cnn_pool_geom g;

	(void)y;
	(void)ws;
	if (!dx)
		return;
	cnn_layer_pool_geom(l, &g);
	cnn_maxpool_backward(&g, x, dy, dx, (size_t)n * l->in_shape[0]);
}

const cnn_layer_ops cnn_layer_maxpool = {
    .type = "maxpool",
    .configure = cnn_layer_pool_configure,
    .infer = cnn_layer_pool_infer,
    .forward = pool_forward,
    .backward = pool_backward,
};

/*
 * layers/tanh.c - hyperbolic tangent, element-wise: y = tanh(x).
 *
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy * (1 - y^2), from the
 * output y.
 */
#include "layer.h"

static void tanh_forward(cnn_layer *l, const float *x, float *y, int n,
                         float *ws)
{
	(void)ws;
	cnn_tanh_forward(x, y, (size_t)n * l->in_size);
}

static void tanh_backward(cnn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)ws;
	if (dx)
		cnn_tanh_backward(y, dy, dx, (size_t)n * l->in_size);
}

const cnn_layer_ops cnn_layer_tanh = {
    .type = "tanh",
    .configure = cnn_layer_configure_plain,
    .infer = cnn_layer_infer_same,
    .forward = tanh_forward,
    .backward = tanh_backward,
};

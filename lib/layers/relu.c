/*
 * layers/relu.c - rectified linear unit, element-wise: y = max(x, 0).
 *
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy where x > 0, else 0
 * (the kink at 0 gets gradient 0).
 */
#include "layer.h"

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
    .configure = cnn_layer_configure_plain,
    .infer = cnn_layer_infer_same,
    .forward = relu_forward,
    .backward = relu_backward,
};

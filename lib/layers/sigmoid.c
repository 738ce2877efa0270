/*
 * layers/sigmoid.c - logistic sigmoid, element-wise: y = 1 / (1 + exp(-x)).
 *
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy * y * (1 - y), from the
 * output y.
 */
#include "layer.h"

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
    .configure = cnn_layer_configure_plain,
    .infer = cnn_layer_infer_same,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

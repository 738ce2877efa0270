/*
 * layers/leaky_relu.c - leaky rectified linear unit, element-wise:
 * y = x where x > 0, else slope * x.
 *
 * Key: slope, a number in [0, 1], default 0.01 (kept in l->alpha).
 * Shapes: any (C, H, W), unchanged. Backward: dx = dy where x > 0, else
 * slope * dy (the kink at 0 gets the slope).
 */
#include "layer.h"

static const char *const leaky_keys[] = {"type", "name", "input", "slope",
                                         NULL};

/* Reads slope into l->alpha (0.01 when absent). */
static cnn_status leaky_configure(cnn_layer *l, const char *path,
                                  cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_map_check_keys(l->node, path, leaky_keys, err)))
		return st;
	l->alpha = 0.01;
	return cnn_get_real(l->node, path, "slope", 0,
	                    (cnn_range){.lo = 0, .hi = 1}, &l->alpha, err);
}

static void leaky_forward(cnn_layer *l, const float *x, float *y, int n,
                          float *ws)
{
	(void)ws;
	cnn_leaky_relu_forward(x, y, (size_t)n * l->in_size, (float)l->alpha);
}

static void leaky_backward(cnn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, int n, float *ws)
{
	(void)y;
	(void)ws;
	if (dx)
		cnn_leaky_relu_backward(x, dy, dx, (size_t)n * l->in_size,
		                        (float)l->alpha);
}

const cnn_layer_ops cnn_layer_leaky_relu = {
    .type = "leaky_relu",
    .configure = leaky_configure,
    .infer = cnn_layer_infer_same,
    .forward = leaky_forward,
    .backward = leaky_backward,
};

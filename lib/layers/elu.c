/*
 * layers/elu.c - exponential linear unit, element-wise:
 * y = x where x > 0, else alpha * (exp(x) - 1).
 *
 * Key: alpha, a number above 0 and at most 1e6, default 1 (kept in
 * l->alpha). Shapes: any (C, H, W), unchanged. Backward: dx = dy where
 * x > 0, else dy * alpha * exp(x) (the kink at 0 takes the left side).
 */
#include "layer.h"

#define ELU_ALPHA_MAX 1e6

static const char *const elu_keys[] = {"type", "name", "input", "alpha", NULL};

/* Reads alpha (1 when absent); it must be a number in (0, ELU_ALPHA_MAX]. */
static cnn_status elu_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_map_check_keys(l->node, path, elu_keys, err)))
		return st;
	l->alpha = 1.0;
	return cnn_get_real(
	    l->node, path, "alpha", 0,
	    (cnn_range){.lo = 0, .lo_open = 1, .hi = ELU_ALPHA_MAX}, &l->alpha,
	    err);
}

static void elu_forward(cnn_layer *l, const float *x, float *y, int n,
                        float *ws)
{
	(void)ws;
	cnn_elu_forward(x, y, (size_t)n * l->in_size, (float)l->alpha);
}

static void elu_backward(cnn_layer *l, const float *x, const float *y,
                         const float *dy, float *dx, int n, float *ws)
{
	(void)y;
	(void)ws;
	if (dx)
		cnn_elu_backward(x, dy, dx, (size_t)n * l->in_size,
		                 (float)l->alpha);
}

const cnn_layer_ops cnn_layer_elu = {
    .type = "elu",
    .configure = elu_configure,
    .infer = cnn_layer_infer_same,
    .forward = elu_forward,
    .backward = elu_backward,
};

/*
 * layers/elu.c - exponential linear unit, element-wise:
 * y = x where x > 0, else alpha * (exp(x) - 1).
 *
 * Key: alpha, a number above 0 and at most 1e6, default 1 (kept in
 * l->alpha). Shapes: any (C, H, W), unchanged. Backward: dx = dy where
 * x > 0, else dy * alpha * exp(x) (the kink at 0 takes the left side).
 */
#include "layer.h"

#include <float.h>

#define ELU_ALPHA_MAX 1e6

static const char *const elu_keys[] = {"type", "name", "input", "alpha", NULL};

/* Reads alpha (1 when absent); it must be a number in (0, ELU_ALPHA_MAX]. */
static cnn_status elu_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	const cnn_node *n;
	char full[128];
	cnn_status st;

	if ((st = cnn_map_check_keys(l->node, path, elu_keys, err)))
		return st;
	l->alpha = 1.0;
	/* the getter checks that it is a number, then the open range here */
	if ((st = cnn_get_double(l->node, path, "alpha", 0, -DBL_MAX, DBL_MAX,
	                         &l->alpha, err)))
		return st;
	if (l->alpha > 0.0 && l->alpha <= ELU_ALPHA_MAX)
		return CNN_OK;
	n = cnn_map_get(l->node, "alpha");
	snprintf(full, sizeof full, "%s.alpha", path);
	return cnn_node_error(err, n, full,
	                      "expected a number above 0 and at most %g, "
	                      "got \"%.40s\"",
	                      ELU_ALPHA_MAX, n->value);
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

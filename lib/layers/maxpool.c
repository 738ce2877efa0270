/*
 * layers/maxpool.c - max pooling over KH x KW windows with stride (SH, SW),
 * no padding; windows may overlap (stride < size).
 *
 * Shapes: x (n, C, H, W) -> y (n, C, OH, OW), OH = (H - KH) / SH + 1 (floor).
 * Backward sends each dy to the first maximum (row-major) of its window,
 * recomputed from x (no stored indices), accumulating where windows overlap.
 */
#include "kernels.h"

static const char *const pool_keys[] = {"type", "name",   "input",
                                        "size", "stride", NULL};

/* Reads size (into l->kernel) and stride, which defaults to size. */
static cnn_status pool_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	const cnn_node *node = l->node;
	cnn_status st;

	if ((st = cnn_map_check_keys(node, path, pool_keys, err)) ||
	    (st = cnn_get_int2(node, path, "size", 1, 1, 4096, l->kernel, err)))
		return st;
	l->stride[0] = l->kernel[0];
	l->stride[1] = l->kernel[1];
	return cnn_get_int2(node, path, "stride", 0, 1, 4096, l->stride, err);
}

static void pool_geom(const cnn_layer *l, cnn_pool_geom *g)
{
	g->h = l->in_shape[1];
	g->w = l->in_shape[2];
	g->kh = l->kernel[0];
	g->kw = l->kernel[1];
	g->sh = l->stride[0];
	g->sw = l->stride[1];
	g->oh = l->out_shape[1];
	g->ow = l->out_shape[2];
}

/* Output (C, OH, OW); the window must fit the input. */
static cnn_status pool_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	int h = l->in_shape[1], w = l->in_shape[2];
	int kh = l->kernel[0], kw = l->kernel[1];
	int sh = l->stride[0], sw = l->stride[1];
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)))
		return st;
	if (kh < 1 || kw < 1 || sh < 1 || sw < 1)
		return cnn_node_error(err, l->node, path,
		                      "invalid size %dx%d or stride %dx%d", kh,
		                      kw, sh, sw);
	if (kh > h || kw > w)
		return cnn_node_error(
		    err, l->node, path,
		    "window %dx%d does not fit the input %dx%d", kh, kw, h, w);
	if ((st = cnn_layer_output_shape(l, path, l->in_shape[0],
	                                 (h - kh) / sh + 1, (w - kw) / sw + 1,
	                                 err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void pool_forward(cnn_layer *l, const float *x, float *y, int n,
                         float *ws)
{
	cnn_pool_geom g;

	(void)ws;
	pool_geom(l, &g);
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
	pool_geom(l, &g);
	cnn_maxpool_backward(&g, x, dy, dx, (size_t)n * l->in_shape[0]);
}

const cnn_layer_ops cnn_layer_maxpool = {
    .type = "maxpool",
    .configure = pool_configure,
    .infer = pool_infer,
    .forward = pool_forward,
    .backward = pool_backward,
};

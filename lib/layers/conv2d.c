/*
 * layers/conv2d.c - 2-D convolution (cross-correlation, as in every
 * framework) with zero padding, stride and an optional bias per filter.
 *
 * Shapes: x (n, C, H, W) -> y (n, F, OH, OW), OH = (H + 2*PH - KH) / SH + 1
 * (floor), likewise OW. Weights (F, C, KH, KW), bias (F).
 * The work is Y (F, P) = W (F, C*KH*KW) X (C*KH*KW, P) per sample
 * (kernels.c): a direct convolution vectorised over output columns,
 * reading the input in place or zero-padded into the workspace (at a
 * larger stride, split into its stride phases); for kernels with at most
 * one tap per phase (1 x 1 at stride 2), X unfolded by im2col into the
 * workspace and a GEMM. The workspace is the kernels' scratch for the
 * whole call (n samples); nothing is allocated.
 */
#include "layer.h"

static const char *const conv_keys[] = {
    "type",    "name", "input",       "filters",   "kernel",    "stride",
    "padding", "bias", "weight_init", "bias_init", "trainable", NULL};

/* Reads filters, kernel, stride, padding, bias and the initialisers. */
static cnn_status conv_configure(cnn_layer *l, const char *path, cnn_error *err)
{
	const cnn_node *node = l->node;
	long filters = 0;
	cnn_status st;

	if ((st = cnn_map_check_keys(node, path, conv_keys, err)) ||
	    (st = cnn_get_int(node, path, "filters", 1, 1, 65536, &filters,
	                      err)) ||
	    (st = cnn_get_int2(node, path, "kernel", 1, 1, 4096, l->kernel,
	                       err)) ||
	    (st = cnn_get_int2(node, path, "stride", 0, 1, 4096, l->stride,
	                       err)) ||
	    (st = cnn_get_int2(node, path, "padding", 0, 0, 4096, l->pad,
	                       err)) ||
	    (st = cnn_layer_configure_params(l, path, err)))
		return st;
	l->filters = (int)filters;
	return CNN_OK;
}

static void conv_geom(const cnn_layer *l, cnn_conv_geom *g)
{
	g->c = l->in_shape[0];
	g->h = l->in_shape[1];
	g->w = l->in_shape[2];
	g->f = l->filters;
	g->kh = l->kernel[0];
	g->kw = l->kernel[1];
	g->sh = l->stride[0];
	g->sw = l->stride[1];
	g->ph = l->pad[0];
	g->pw = l->pad[1];
	g->oh = l->out_shape[1];
	g->ow = l->out_shape[2];
}

/* Output shape (F, OH, OW) and parameter shapes; refuses a kernel larger
 * than the padded input and sizes beyond 2^31 floats (the output, the
 * weights and the unfolded columns of one sample). */
static cnn_status conv_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	int c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
	int kh = l->kernel[0], kw = l->kernel[1];
	int sh = l->stride[0], sw = l->stride[1];
	int ph = l->pad[0], pw = l->pad[1];
	long long hp = (long long)h + 2LL * ph, wp = (long long)w + 2LL * pw;
	size_t nw = 1, ncol = 1;
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)))
		return st;
	if (l->filters < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 ||
	    pw < 0)
		return cnn_node_error(
		    err, l->node, path,
		    "invalid filters %d, kernel %dx%d, stride "
		    "%dx%d or padding %dx%d",
		    l->filters, kh, kw, sh, sw, ph, pw);
	if (kh > hp || kw > wp)
		return cnn_node_error(
		    err, l->node, path,
		    "kernel %dx%d does not fit the input %dx%d "
		    "(with padding %dx%d)",
		    kh, kw, h, w, ph, pw);
	if ((st =
	         cnn_layer_output_shape(l, path, l->filters, (hp - kh) / sh + 1,
	                                (wp - kw) / sw + 1, err)))
		return st;
	if (!cnn_size_mul(&nw, (size_t)l->filters) ||
	    !cnn_size_mul(&nw, (size_t)c) || !cnn_size_mul(&nw, (size_t)kh) ||
	    !cnn_size_mul(&nw, (size_t)kw))
		return cnn_node_error(
		    err, l->node, path,
		    "the weights %dx%dx%dx%d have more than 2^31 "
		    "floats",
		    l->filters, c, kh, kw);
	/* the unfolded columns (C*KH*KW, OH*OW) of one sample */
	if (!cnn_size_mul(&ncol, (size_t)c * kh * kw) ||
	    !cnn_size_mul(&ncol, (size_t)l->out_shape[1]) ||
	    !cnn_size_mul(&ncol, (size_t)l->out_shape[2]))
		return cnn_node_error(
		    err, l->node, path,
		    "the unfolded input (%d*%d*%d rows x %dx%d "
		    "positions) has more than 2^31 floats",
		    c, kh, kw, l->out_shape[1], l->out_shape[2]);
	l->n_weight = nw;
	l->n_bias = l->bias ? (size_t)l->filters : 0;
	l->weight_ndim = 4;
	l->weight_shape[0] = l->filters;
	l->weight_shape[1] = c;
	l->weight_shape[2] = kh;
	l->weight_shape[3] = kw;
	l->fan_in = (size_t)c * kh * kw;
	l->fan_out = (size_t)l->filters * kh * kw;
	return CNN_OK;
}

static size_t conv_workspace(const cnn_layer *l, int n)
{
	cnn_conv_geom g;

	conv_geom(l, &g);
	return cnn_conv_workspace(&g, n);
}

static void conv_forward(cnn_layer *l, const float *x, float *y, int n,
                         float *ws)
{
	cnn_conv_geom g;

	conv_geom(l, &g);
	cnn_conv_forward(&g, x, l->w, l->bias ? l->b : NULL, y, n, ws);
}

static void conv_backward(cnn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, int n, float *ws)
{
	cnn_conv_geom g;

	(void)y;
	conv_geom(l, &g);
	/* frozen: only the input's gradient is wanted */
	cnn_conv_backward(&g, x, l->w, dy, l->frozen ? NULL : l->dw,
	                  l->bias && !l->frozen ? l->db : NULL, dx, n, ws);
}

const cnn_layer_ops cnn_layer_conv2d = {
    .type = "conv2d",
    .has_params = 1,
    .configure = conv_configure,
    .infer = conv_infer,
    .workspace = conv_workspace,
    .forward = conv_forward,
    .backward = conv_backward,
};

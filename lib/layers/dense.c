/*
 * layers/dense.c - fully connected layer: y = x W^T + b.
 *
 * Shapes: x (n, in) with in = C*H*W of any input shape (it is read as
 * flattened), y (n, units) i.e. (units, 1, 1) per sample. Weights
 * (units, in), bias (units). Everything is a GEMM (kernels.c); no workspace.
 */
#include "layer.h"

#include <string.h>

static const char *const dense_keys[] = {
    "type",        "name",      "input",     "units", "bias",
    "weight_init", "bias_init", "trainable", NULL};

/* Reads units, bias and the initialisers. */
static cnn_status dense_configure(cnn_layer *l, const char *path,
                                  cnn_error *err)
{
	const cnn_node *node = l->node;
	long units = 0;
	cnn_status st;

	if ((st = cnn_map_check_keys(node, path, dense_keys, err)) ||
	    (st = cnn_get_int(node, path, "units", 1, 1, 1L << 24, &units,
	                      err)) ||
	    (st = cnn_layer_configure_params(l, path, err)))
		return st;
	l->units = (int)units;
	return CNN_OK;
}

/* Output (units, 1, 1); weights (units, in) must stay within 2^31 floats. */
static cnn_status dense_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	size_t nw = 1;
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)))
		return st;
	if (l->units < 1)
		return cnn_node_error(err, l->node, path, "invalid units %d",
		                      l->units);
	if ((st = cnn_layer_output_shape(l, path, l->units, 1, 1, err)))
		return st;
	if (!cnn_size_mul(&nw, (size_t)l->units) ||
	    !cnn_size_mul(&nw, l->in_size))
		return cnn_node_error(err, l->node, path,
		                      "the weights %d x %zu (units x inputs "
		                      "%dx%dx%d) have more than 2^31 floats",
		                      l->units, l->in_size, l->in_shape[0],
		                      l->in_shape[1], l->in_shape[2]);
	l->n_weight = nw;
	l->n_bias = l->bias ? (size_t)l->units : 0;
	l->weight_ndim = 2;
	l->weight_shape[0] = l->units;
	l->weight_shape[1] = (int)l->in_size;
	l->weight_shape[2] = 0;
	l->weight_shape[3] = 0;
	l->fan_in = l->in_size;
	l->fan_out = (size_t)l->units;
	return CNN_OK;
}

/* y (n, units) = x (n, in) * W^T (W stored (units, in)) + b */
static void dense_forward(cnn_layer *l, const float *x, float *y, int n,
                          float *ws)
{
	int in = (int)l->in_size, units = l->units;

	(void)ws;
	if (l->bias)
		cnn_fill_rows(y, l->b, n, units);
	cnn_gemm(0, 1, n, units, in, x, in, l->w, in, l->bias ? 1.0f : 0.0f, y,
	         units);
}

/* Columns [r0, r0 + rows) of y (n, units) = x W^T + b: the same dot
 * products as dense_forward's, each made alone (cnn_gemm), so the same
 * bits. */
static void dense_forward_rows(const cnn_layer *l, const float *x, float *y,
                               int n, int r0, int rows)
{
	int in = (int)l->in_size, units = l->units;

	if (l->bias)
		for (int s = 0; s < n; s++)
			memcpy(y + (size_t)s * units + r0, l->b + r0,
			       (size_t)rows * sizeof *y);
	cnn_gemm(0, 1, n, rows, in, x, in, l->w + (size_t)r0 * in, in,
	         l->bias ? 1.0f : 0.0f, y + r0, units);
}

/* dW (units, in) += dy^T (units, n) * x (n, in), unless deferred to
 * dense_weight_grad; db += column sums of dy (neither when frozen); dx (n, in)
 * = dy (n, units) * W (units, in). */
static void dense_backward(cnn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, int n, float *ws)
{
	int in = (int)l->in_size, units = l->units;

	(void)y;
	(void)ws;
	if (!l->frozen && (!l->weight_deferred || !l->pass || !l->pass->defer))
		cnn_gemm(1, 0, units, in, n, dy, units, x, in, 1.0f, l->dw, in);
	if (l->bias && !l->frozen)
		cnn_add_col_sums(dy, n, units, l->db);
	if (dx)
		cnn_gemm(0, 0, n, in, units, dy, units, l->w, in, 0.0f, dx, in);
}

/* Rows [r0, r0 + rows) of dW = dy^T x by chunks of size samples, written
 * to dw: the same products in the same order as backward's, from zero, the
 * chunks added in order. */
static void dense_weight_grad(const cnn_layer *l, const float *x,
                              const float *dy, int n, int size, int r0,
                              int rows, float *dw)
{
	int in = (int)l->in_size;

	cnn_gemm_chunks(1, rows, in, n, size, 0, dy + r0, l->units, x, in, dw,
	                in);
}

const cnn_layer_ops cnn_layer_dense = {
    .type = "dense",
    .has_params = 1,
    .configure = dense_configure,
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
    .weight_grad = dense_weight_grad,
    .forward_rows = dense_forward_rows,
};

/*
 * layers/registry.c - the table of layer kinds, and the shape helpers the
 * kinds share in their infer.
 *
 * Invariants
 *  - The table is appended to only: a kind's position never changes, and the
 *    list of names given in messages follows the table's order.
 *  - A kind's ops->type equals the name it is registered under.
 */
#include "layer.h"

#include <string.h>

/* The kinds, in registration order. FIRST names the first kind, NEXT each
 * following one; add new kinds at the end. */
#define CNN_LAYER_KINDS(FIRST, NEXT)                                           \
	FIRST(conv2d)                                                          \
	NEXT(relu)                                                             \
	NEXT(maxpool)                                                          \
	NEXT(flatten)                                                          \
	NEXT(dense)                                                            \
	NEXT(softmax)                                                          \
	NEXT(sigmoid)                                                          \
	NEXT(tanh)                                                             \
	NEXT(leaky_relu)                                                       \
	NEXT(elu)                                                              \
	NEXT(avgpool)                                                          \
	NEXT(global_avgpool)                                                   \
	NEXT(dropout)                                                          \
	NEXT(batchnorm)                                                        \
	NEXT(add)                                                              \
	NEXT(concat)

#define KIND_OPS(k)        &cnn_layer_##k,
#define KIND_FIRST_NAME(k) #k
#define KIND_NEXT_NAME(k)  ", " #k

static const cnn_layer_ops *const kinds[] = {
    CNN_LAYER_KINDS(KIND_OPS, KIND_OPS)};

static const char kind_names[] =
    CNN_LAYER_KINDS(KIND_FIRST_NAME, KIND_NEXT_NAME);

const cnn_layer_ops *cnn_layer_find(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i]->type, type) == 0)
			return kinds[i];
	return NULL;
}

const char *cnn_layer_types(void)
{
	return kind_names;
}

cnn_status cnn_layer_input_size(cnn_layer *l, const char *path, cnn_error *err)
{
	const int *s = l->in_shape;
	size_t n = 1;

	if (s[0] < 1 || s[1] < 1 || s[2] < 1)
		return cnn_node_error(err, l->node, path,
		                      "the input shape %dx%dx%d is empty", s[0],
		                      s[1], s[2]);
	if (!cnn_size_mul(&n, (size_t)s[0]) ||
	    !cnn_size_mul(&n, (size_t)s[1]) || !cnn_size_mul(&n, (size_t)s[2]))
		return cnn_node_error(err, l->node, path,
		                      "the input %dx%dx%d has more than 2^31 "
		                      "floats per sample",
		                      s[0], s[1], s[2]);
	l->in_size = n;
	return CNN_OK;
}

cnn_status cnn_layer_output_shape(cnn_layer *l, const char *path, long long c,
                                  long long h, long long w, cnn_error *err)
{
	size_t n = 1;

	if (c < 1 || h < 1 || w < 1)
		return cnn_node_error(
		    err, l->node, path,
		    "the output shape %lldx%lldx%lld is empty", c, h, w);
	if (c > INT_MAX || h > INT_MAX || w > INT_MAX ||
	    !cnn_size_mul(&n, (size_t)c) || !cnn_size_mul(&n, (size_t)h) ||
	    !cnn_size_mul(&n, (size_t)w))
		return cnn_node_error(err, l->node, path,
		                      "the output %lldx%lldx%lld has more than "
		                      "2^31 floats per sample",
		                      c, h, w);
	l->out_shape[0] = (int)c;
	l->out_shape[1] = (int)h;
	l->out_shape[2] = (int)w;
	l->out_size = n;
	return CNN_OK;
}

/* Reads the keys every layer with weights shares: bias, weight_init and
 * bias_init (absent keys keep the defaults already in l). */
cnn_status cnn_layer_configure_params(cnn_layer *l, const char *path,
                                      cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_get_bool(l->node, path, "bias", 0, &l->bias, err)) ||
	    (st = cnn_init_parse(l->node, path, "weight_init", &l->weight_init,
	                         err)))
		return st;
	return cnn_init_parse(l->node, path, "bias_init", &l->bias_init, err);
}

void cnn_layer_no_params(cnn_layer *l)
{
	l->n_weight = 0;
	l->n_bias = 0;
	l->weight_ndim = 0;
	memset(l->weight_shape, 0, sizeof l->weight_shape);
	l->fan_in = 0;
	l->fan_out = 0;
}

static const char *const plain_keys[] = {"type", "name", "input", NULL};

cnn_status cnn_layer_configure_plain(cnn_layer *l, const char *path,
                                     cnn_error *err)
{
	return cnn_map_check_keys(l->node, path, plain_keys, err);
}

cnn_status cnn_layer_infer_same(cnn_layer *l, const char *path, cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, l->in_shape[0],
	                                 l->in_shape[1], l->in_shape[2], err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static const char *const pool_keys[] = {"type", "name",   "input",
                                        "size", "stride", NULL};

/* Reads size (into l->kernel) and stride, which defaults to size. */
cnn_status cnn_layer_pool_configure(cnn_layer *l, const char *path,
                                    cnn_error *err)
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

/* Output (C, OH, OW), OH = (H - KH) / SH + 1; the window must fit. */
cnn_status cnn_layer_pool_infer(cnn_layer *l, const char *path, cnn_error *err)
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

void cnn_layer_pool_geom(const cnn_layer *l, cnn_pool_geom *g)
{
	g->h = l->in_shape[1];
	g->w = l->in_shape[2];
	g->kh = l->kernel[0];
	g->kw = l->kernel[1];
	g->sh = l->stride[0];
	g->sw = l->stride[1];
	g->oh = l->out_shape[1];
	g->ow = l->out_shape[2];
	g->relu = l->relu_in;
}

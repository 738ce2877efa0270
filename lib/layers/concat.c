/*
 * layers/concat.c - concatenation of two or more inputs along the channels:
 * the merge of branches (an Inception-style block).
 *
 * Shapes: inputs (C_k, H, W) with the same H and W; output (sum C_k, H, W),
 * input 0's channels first. Backward: each input's gradient is its slice of
 * dy.
 */
#include "layer.h"

#include <string.h>

/* The inputs' planes must match input 0's; the channels add up. */
static cnn_status concat_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	const int *a = l->in_shapes[0];
	long long channels = a[0];
	cnn_status st;

	for (int k = 1; k < l->n_inputs; k++) {
		const int *b = l->in_shapes[k];
		if (a[1] != b[1] || a[2] != b[2])
			return cnn_node_error(
			    err, l->input_node ? l->input_node : l->node, path,
			    "the inputs' planes differ: %dx%dx%d (%s) and "
			    "%dx%dx%d (%s); concat joins channels of the same "
			    "height and width",
			    a[0], a[1], a[2], l->input_names[0], b[0], b[1],
			    b[2], l->input_names[k]);
		channels += b[0];
	}
	if ((st = cnn_layer_input_size(l, path, err)) ||
	    (st = cnn_layer_output_shape(l, path, channels, a[1], a[2], err)))
		return st;
	cnn_layer_no_params(l);
	return CNN_OK;
}

static void concat_forward(cnn_layer *l, const float *const *x, float *y, int n,
                           float *ws)
{
	(void)ws;
	for (int s = 0; s < n; s++) {
		float *dst = y + (size_t)s * l->out_size;
		for (int k = 0; k < l->n_inputs; k++) {
			size_t size = l->in_sizes[k];
			memcpy(dst, x[k] + (size_t)s * size,
			       size * sizeof *dst);
			dst += size;
		}
	}
}

static void concat_backward(cnn_layer *l, const float *const *x, const float *y,
                            const float *dy, float *const *dx, int n, float *ws)
{
	(void)x;
	(void)y;
	(void)ws;
	for (int s = 0; s < n; s++) {
		const float *src = dy + (size_t)s * l->out_size;
		for (int k = 0; k < l->n_inputs; k++) {
			size_t size = l->in_sizes[k];
			if (dx[k])
				memcpy(dx[k] + (size_t)s * size, src,
				       size * sizeof *src);
			src += size;
		}
	}
}

const cnn_layer_ops cnn_layer_concat = {
    .type = "concat",
    .configure = cnn_layer_configure_plain,
    .infer = concat_infer,
    .max_inputs = CNN_MAX_INPUTS,
    .forward_n = concat_forward,
    .backward_n = concat_backward,
};

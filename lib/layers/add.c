/*
 * layers/add.c - element-wise sum of two or more inputs of the same shape:
 * the merge of a residual connection.
 *
 * Shapes: every input (C, H, W), the same; the output too. Backward: each
 * input's gradient is dy. With a relu fused after it (relu_out, see
 * layer.h): the sum's relu, and each input's gradient relu's backward of
 * dy, from the output (relu(s) > 0 exactly where s > 0).
 */
#include "layer.h"

#include <string.h>

/* Every input must have input 0's shape; the message names both. */
static cnn_status add_infer(cnn_layer *l, const char *path, cnn_error *err)
{
	const int *a = l->in_shapes[0];

	for (int k = 1; k < l->n_inputs; k++) {
		const int *b = l->in_shapes[k];
		if (memcmp(a, b, sizeof l->in_shapes[k]) != 0)
			return cnn_node_error(
			    err, l->input_node ? l->input_node : l->node, path,
			    "the inputs' shapes differ: %dx%dx%d (%s) and "
			    "%dx%dx%d (%s); add needs the same shape",
			    a[0], a[1], a[2], l->input_names[0], b[0], b[1],
			    b[2], l->input_names[k]);
	}
	return cnn_layer_infer_same(l, path, err);
}

static void add_forward(cnn_layer *l, const float *const *x, float *y, int n,
                        float *ws)
{
	(void)ws;
	cnn_add_forward(x, l->n_inputs, y, (size_t)n * l->out_size);
	if (l->relu_out)
		cnn_relu_forward(y, y, (size_t)n * l->out_size);
}

static void add_backward(cnn_layer *l, const float *const *x, const float *y,
                         const float *dy, float *const *dx, int n, float *ws)
{
	(void)x;
	(void)ws;
	for (int k = 0; k < l->n_inputs; k++) {
		if (!dx[k])
			continue;
		if (l->relu_out) /* relu's backward, from its output */
			cnn_relu_backward(y, dy, dx[k],
			                  (size_t)n * l->out_size);
		else
			memcpy(dx[k], dy, (size_t)n * l->out_size * sizeof *dy);
	}
}

const cnn_layer_ops cnn_layer_add = {
    .type = "add",
    .configure = cnn_layer_configure_plain,
    .infer = add_infer,
    .max_inputs = CNN_MAX_INPUTS,
    .forward_n = add_forward,
    .backward_n = add_backward,
    .fuse_relu = 1,
};

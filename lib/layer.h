/*
 * layer.h - the layer interface: what one layer kind provides (cnn_layer_ops),
 * the layer record, the registry (layers/registry.c) and the toolkit that
 * the kinds share for configuring and shape inference. One file per kind
 * in layers/; each computes through kernels.h.
 */
#ifndef CNN_LAYER_H
#define CNN_LAYER_H

#include "init.h"
#include "kernels.h"

#include <limits.h>
#include <stddef.h>

typedef struct cnn_layer cnn_layer;

/* What one pass through the graph is for, shared by the layers of a chunk
 * (see graph.c). Layers that behave differently in training (dropout,
 * batchnorm) read it; a layer with pass == NULL is in evaluation mode. */
typedef struct cnn_pass {
	int training;   /* 1 in a training step, 0 in evaluation/prediction */
	uint64_t seed;  /* per training step: dropout masks derive from it */
	size_t sample0; /* the chunk's first sample within the batch */
	int batch;      /* samples in the whole batch */
	int defer;      /* 1: a layer whose weight_deferred is set leaves its
	                   weight's gradient to weight_grad (the fused
	                   optimiser step) */
} cnn_pass;

/* The behaviour of one layer kind. Shapes are (channels, height, width); a
 * dense layer's output is (units, 1, 1). */
typedef struct cnn_layer_ops {
	const char *type; /* the YAML "type", e.g. "conv2d" */
	/* 1 when the kind has parameters (weights, biases): it then accepts
	 * the key "trainable" (spec.c reads it; the kind lists it among its
	 * keys), and a frozen copy leaves its parameters' gradients alone
	 * where that saves time. */
	int has_params;
	/* Reads the kind's own keys from the layer's YAML mapping (l->node)
	 * into l, which already holds the defaults, and rejects unknown keys
	 * ("type" and "name" are handled by the caller but must be in the
	 * allowed list). path is the layer's path for messages, e.g. "dense".
	 */
	cnn_status (*configure)(cnn_layer *l, const char *path, cnn_error *err);
	/* From l->in_shape: sets l->out_shape, l->n_weight, l->n_bias,
	 * l->weight_shape/ndim, l->fan_in, l->fan_out. Explains any misfit
	 * ("kernel 5x5 is larger than the padded input 3x3"). */
	cnn_status (*infer)(cnn_layer *l, const char *path, cnn_error *err);
	/* Scratch floats the layer needs for a batch of n samples (forward and
	 * backward share the same buffer; NULL means none). */
	size_t (*workspace)(const cnn_layer *l, int n);
	/* y = f(x) for n samples. ws has workspace(l, n) floats. */
	void (*forward)(cnn_layer *l, const float *x, float *y, int n,
	                float *ws);
	/* Given x, y (from forward) and dy = dL/dy: adds dL/dw, dL/db to l->dw,
	 * l->db, and, if dx is not NULL, writes dx = dL/dx (overwriting). */
	void (*backward)(cnn_layer *l, const float *x, const float *y,
	                 const float *dy, float *dx, int n, float *ws);
	/* Optional: rows [r0, r0 + rows) of the weight's gradient over the n
	 * samples x, dy (weight_shape[0] rows of n_weight / weight_shape[0]
	 * floats) taken in chunks of size samples (the last shorter), written
	 * to dw: each chunk's with the bits backward would add into zeros,
	 * the chunks added in order (the sum of their arenas). When the graph
	 * defers the weight (weight_deferred) and pass->defer is set, backward
	 * leaves l->dw alone: the optimiser step computes the weight's
	 * gradient a few rows at a time, while they are in the cache. */
	void (*weight_grad)(const cnn_layer *l, const float *x, const float *dy,
	                    int n, int size, int r0, int rows, float *dw);
	/* Optional, with weight_grad: outputs [r0, r0 + rows) (the weight's
	 * rows) of all n samples x into y, with the bits forward gives them.
	 * A training pass may run such a layer by rows, the threads taking
	 * the rows whose update they make (cnn_graph_backprop). */
	void (*forward_rows)(const cnn_layer *l, const float *x, float *y,
	                     int n, int r0, int rows);

	/* Merge layers (add, concat) take 1 to max_inputs inputs (0 means
	 * exactly one) and use forward_n/backward_n instead: x[k] is input k
	 * (l->in_sizes[k] floats per sample), dx[k] its gradient to write
	 * (overwriting), or NULL when not wanted. infer reads
	 * l->in_shapes[0..n_inputs). */
	int max_inputs;
	void (*forward_n)(cnn_layer *l, const float *const *x, float *y, int n,
	                  float *ws);
	void (*backward_n)(cnn_layer *l, const float *const *x, const float *y,
	                   const float *dy, float *const *dx, int n, float *ws);

	/* Layers whose training pass needs sums over the whole batch
	 * (batchnorm). A batch is cut into chunks that threads run
	 * separately, so in training the graph runs such a layer in phases:
	 *  1. forward_stats on every chunk's x adds that chunk's sums to acc
	 *     (stats_size(l) doubles, zeroed by the graph);
	 *  2. the graph adds the chunks' acc in chunk order into l->stats
	 *     (so the result does not depend on the thread count) and calls
	 *     stats_ready(l) once (batchnorm updates its running statistics);
	 *  3. forward on every chunk, reading l->stats;
	 *  4. backward_stats on every chunk adds its sums (of dy, ...) to acc;
	 *  5. the graph adds them into l->stats + stats_size(l);
	 *  6. backward on every chunk, reading both halves of l->stats.
	 * In evaluation (pass == NULL or !pass->training) none of this runs:
	 * forward alone must work. stats_size NULL or 0: an ordinary layer. */
	size_t (*stats_size)(const cnn_layer *l);
	void (*forward_stats)(const cnn_layer *l, const float *x, int n,
	                      double *acc);
	void (*stats_ready)(cnn_layer *l);
	void (*backward_stats)(const cnn_layer *l, const float *x,
	                       const float *y, const float *dy, int n,
	                       double *acc);
	/* Sets the layer's state (l->state, n_state floats) to its initial
	 * value, when the model is built. NULL: zeros. */
	void (*reset_state)(cnn_layer *l);
	/* 1 when the kind can do the work of a relu after it (the graph then
	 * sets relu_out): forward writes the relu of its output, and backward
	 * (and backward_stats) take dy as relu's backward passes it on: dy
	 * where the output y is positive, else +0. */
	int fuse_relu;
} cnn_layer_ops;

struct cnn_layer {
	const cnn_layer_ops *ops;
	char name[CNN_NAME_MAX]; /* unique; default TYPE + ordinal, "dense2" */
	int index;               /* position in the layer list */
	const cnn_node *node;    /* its YAML mapping (for error positions) */

	/* Where the inputs come from: inputs[k] indexes the model's
	 * activations, 0 being the network's input and j + 1 the output of
	 * layer j < index. Ordinary layers have one input; in_shape and
	 * in_size are those of input 0. */
	int n_inputs;
	int inputs[CNN_MAX_INPUTS];
	int in_shapes[CNN_MAX_INPUTS][3];
	size_t in_sizes[CNN_MAX_INPUTS];
	const cnn_node *input_node; /* its "input" key, NULL if absent */
	const char *input_names[CNN_MAX_INPUTS]; /* "input" or a layer's */
	/* Set by the graph: whether input k's gradient is added to what an
	 * earlier backward (a later layer) wrote there, rather than written. */
	unsigned char grad_add[CNN_MAX_INPUTS];

	int in_shape[3];
	int out_shape[3];
	size_t in_size, out_size; /* floats per sample */

	/* Hyperparameters (those that apply to the kind). */
	int units;     /* dense */
	int filters;   /* conv2d */
	int kernel[2]; /* conv2d, maxpool: h, w */
	int stride[2]; /* conv2d, maxpool */
	int pad[2];    /* conv2d */
	int bias;      /* conv2d, dense: has a bias */
	double alpha;  /* leaky_relu: negative slope; elu: alpha */
	double rate;   /* dropout: the probability of dropping a value */
	double momentum, epsilon; /* batchnorm */
	cnn_init_spec weight_init, bias_init;

	/* Parameters: slices of the model's arenas, weight then bias. */
	size_t n_weight, n_bias;
	int weight_ndim;
	int weight_shape[CNN_MAX_DIMS]; /* conv: F, C, KH, KW; dense: units, in
	                                 */
	size_t fan_in, fan_out;
	char
	    weight_name[CNN_NAME_MAX + 8]; /* "NAME.weight", set by the graph */
	char bias_name[CNN_NAME_MAX + 8];  /* "NAME.bias" */
	float *w, *b;                      /* parameters */
	float *dw, *db;                    /* gradients */
	size_t w_off, b_off, state_off;    /* in the arenas, set by the graph */
	/* Set by the graph when the weight is cut into deferred segments
	 * (cnn_seg): then, with pass->defer, backward leaves l->dw alone. */
	int weight_deferred;
	/* "trainable: false" (spec.c): the optimiser never updates the
	 * layer's weight and bias, and backward need not compute their
	 * gradients (what it leaves in dw, db is never read). */
	int frozen;
	/* Set by the graph: whether backward runs at all (the layer has
	 * parameters that train, or an earlier such layer needs the gradient
	 * of its output), and, for each input, whether its gradient is
	 * wanted (never for the network's input, nor for an activation no
	 * trainable parameter lies before). */
	int backward_needed;
	unsigned char grad_wanted[CNN_MAX_INPUTS];
	/* Set by the graph (graph.c's plan_fusion) for the passes alone: the
	 * model as described (export, inspect, the layer list) keeps every
	 * layer. fused_away: a relu done by a neighbour, or a flatten whose
	 * readers read its input; no pass runs it, and its activation and
	 * gradient are never written. relu_in: a max
	 * pooling fused with the relu before it, which reads the relu's input
	 * through the relu itself (cnn_pool_geom's relu) and writes that
	 * input's gradient. relu_out: a layer of a kind with fuse_relu fused
	 * with the relu after it. run_in: the activations the passes read as
	 * the inputs (inputs, but where a fused relu's input or output
	 * stands in). */
	int fused_away, relu_in, relu_out;
	int run_in[CNN_MAX_INPUTS];

	/* State that is not trained but saved (batchnorm's running
	 * statistics): n_state floats, stored after all the trainable
	 * parameters of the model in its arenas, and shown as state_parts
	 * tensors "NAME.SUFFIX" of n_state / state_parts floats each. The
	 * optimiser never touches it. Set by infer; 0 for most kinds. */
	size_t n_state;
	int state_parts; /* 1 or 2 */
	const char *state_suffix[2];
	char state_name[2][CNN_NAME_MAX + 16]; /* set by the graph */
	float *state;

	/* Set by the graph: the pass this copy of the layer runs in, and the
	 * batch totals of a layer with stats_size (2 * stats_size doubles,
	 * shared by every chunk's copy). */
	const cnn_pass *pass;
	double *stats;
};

/* The registry: NULL if type is unknown. */
const cnn_layer_ops *cnn_layer_find(const char *type);
/* A comma-separated list of the known types, for messages. */
const char *cnn_layer_types(void);

extern const cnn_layer_ops cnn_layer_conv2d;
extern const cnn_layer_ops cnn_layer_relu;
extern const cnn_layer_ops cnn_layer_maxpool;
extern const cnn_layer_ops cnn_layer_flatten;
extern const cnn_layer_ops cnn_layer_dense;
extern const cnn_layer_ops cnn_layer_softmax;
extern const cnn_layer_ops cnn_layer_sigmoid;
extern const cnn_layer_ops cnn_layer_tanh;
extern const cnn_layer_ops cnn_layer_leaky_relu;
extern const cnn_layer_ops cnn_layer_elu;
extern const cnn_layer_ops cnn_layer_avgpool;
extern const cnn_layer_ops cnn_layer_global_avgpool;
extern const cnn_layer_ops cnn_layer_dropout;
extern const cnn_layer_ops cnn_layer_batchnorm;
extern const cnn_layer_ops cnn_layer_add;
extern const cnn_layer_ops cnn_layer_concat;

/* The largest tensor (per sample, per parameter tensor, per scratch matrix)
 * the layers accept, in floats: 2^31 - 1, so that every matrix dimension and
 * leading dimension fits an int. */
#define CNN_MAX_FLOATS ((size_t)INT_MAX)

/* *acc *= v unless the product would exceed CNN_MAX_FLOATS (then *acc is
 * left alone and 0 is returned). For shape checks in the layers' infer. */
static inline int cnn_size_mul(size_t *acc, size_t v)
{
	if (v != 0 && *acc > CNN_MAX_FLOATS / v)
		return 0;
	*acc *= v;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Shape helpers for the layers' infer (layers/registry.c)                  */

/* Sets l->in_size from l->in_shape; CNN_ERR_CONFIG (at l->node, path) if a
 * dimension is not positive or the sample has more than CNN_MAX_FLOATS. */
cnn_status cnn_layer_input_size(cnn_layer *l, const char *path, cnn_error *err);
/* Sets l->out_shape to (c, h, w) and l->out_size, with the same checks. */
cnn_status cnn_layer_output_shape(cnn_layer *l, const char *path, long long c,
                                  long long h, long long w, cnn_error *err);
/* Reads bias, weight_init and bias_init, the keys of layers with weights. */
cnn_status cnn_layer_configure_params(cnn_layer *l, const char *path,
                                      cnn_error *err);
/* Sets the parameter fields of a layer without parameters. */
void cnn_layer_no_params(cnn_layer *l);
/* configure of kinds with no keys of their own (type, name, input). */
cnn_status cnn_layer_configure_plain(cnn_layer *l, const char *path,
                                     cnn_error *err);
/* infer of element-wise kinds: output shape = input shape, no parameters. */
cnn_status cnn_layer_infer_same(cnn_layer *l, const char *path, cnn_error *err);
/* configure and infer of the pooling kinds (maxpool, avgpool): keys size
 * and stride (default: size), no padding, the window must fit the input. */
cnn_status cnn_layer_pool_configure(cnn_layer *l, const char *path,
                                    cnn_error *err);
cnn_status cnn_layer_pool_infer(cnn_layer *l, const char *path, cnn_error *err);
/* The geometry of a pooling layer whose shapes are inferred. */
void cnn_layer_pool_geom(const cnn_layer *l, cnn_pool_geom *g);

#endif /* CNN_LAYER_H */

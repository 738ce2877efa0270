/*
 * export_onnx.c - the ONNX model of a libcnn model (cnn_export_onnx):
 * IR version 7, opset 13 of the default domain, written as protobuf bytes
 * by protobuf.c (no protobuf library).
 *
 * The graph: input "input" float32 [N, C, H, W] with the symbolic batch
 * "N"; one node per layer, named after it, whose output tensor is named
 * after it too; the layer's parameters as initializers named as libcnn
 * names its tensors ("conv2d1.weight", "batchnorm1.running_var"), floats
 * as little-endian raw_data. Outputs: "probabilities" [N, K], the last
 * layer's output, and "logits" [N, K], the softmax's input, when the model
 * ends in softmax. Dropout (identity at inference) is left out: its
 * consumers read its input.
 *
 * Invariants
 *  - Every activation is a tensor of rank 4 [N, C, H, W] or rank 2 [N, K].
 *    libcnn's (K, 1, 1) of dense, flatten and softmax is rank 2; the
 *    convolutions and poolings make rank 4; the element-wise kinds keep
 *    their input's rank; a merge (add, concat) of mixed ranks flattens its
 *    rank-4 inputs (they are then K x 1 x 1, so Concat on axis 1 still
 *    joins channels). A kind that needs the other rank converts its input
 *    first: Flatten(axis 1) to rank 2, Unsqueeze(axes 2, 3) to rank 4,
 *    each made once per tensor (tensors "NAME.flat", "NAME.4d", nodes
 *    "NAME.flatten", "NAME.unsqueeze").
 *  - Names cannot collide: libcnn's layer names are [A-Za-z0-9_]+ and not
 *    "input", and every name made here has a '.'; a layer called "logits"
 *    or "probabilities" that is not that output has its tensor called
 *    "NAME.out".
 *  - Nodes are written in layer order, each after the nodes it reads.
 */
#include "export.h"

#include "protobuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The field numbers of onnx.proto that are written here. */
enum {
	MODEL_IR_VERSION = 1,
	MODEL_PRODUCER_NAME = 2,
	MODEL_PRODUCER_VERSION = 3,
	MODEL_DOC = 6,
	MODEL_GRAPH = 7,
	MODEL_OPSET = 8,
	MODEL_METADATA = 14,
	OPSET_VERSION = 2,
	ENTRY_KEY = 1,
	ENTRY_VALUE = 2,
	GRAPH_NODE = 1,
	GRAPH_NAME = 2,
	GRAPH_INITIALIZER = 5,
	GRAPH_INPUT = 11,
	GRAPH_OUTPUT = 12,
	NODE_INPUT = 1,
	NODE_OUTPUT = 2,
	NODE_NAME = 3,
	NODE_OP = 4,
	NODE_ATTRIBUTE = 5,
	ATTR_NAME = 1,
	ATTR_F = 2,
	ATTR_I = 3,
	ATTR_INTS = 8,
	ATTR_TYPE = 20,
	TENSOR_DIMS = 1,
	TENSOR_DATA_TYPE = 2,
	TENSOR_INT64_DATA = 7,
	TENSOR_NAME = 8,
	TENSOR_RAW_DATA = 9,
	VALUE_NAME = 1,
	VALUE_TYPE = 2,
	TYPE_TENSOR = 1,
	TENSOR_TYPE_ELEM = 1,
	TENSOR_TYPE_SHAPE = 2,
	SHAPE_DIM = 1,
	DIM_VALUE = 1,
	DIM_PARAM = 2
};
/* AttributeProto.AttributeType and TensorProto.DataType values. */
enum { AT_FLOAT = 1, AT_INT = 2, AT_INTS = 7 };
enum { DT_FLOAT = 1, DT_INT64 = 7 };

#define ONNX_IR_VERSION 7
#define ONNX_OPSET      13
#define BATCH           (-1) /* a dimension that is the symbolic batch */
#define NAME_SIZE       (CNN_NAME_MAX + 24)

typedef char onnx_name[NAME_SIZE];

/* The graph being written: per activation a (0 the input, i + 1 layer i's
 * output), arrays of n_layers + 1. */
typedef struct onnx_ctx {
	const cnn_model *m;
	const float *w; /* the weights arena, laid out as m->params */
	cnn_wbuf *g;    /* the GraphProto's contents */
	int *src;  /* the activation holding a's values (dropout skipped) */
	int *rank; /* 4 or 2 */
	unsigned char *flat_done, *as4d_done;
	onnx_name *name, *flat, *as4d; /* a's tensor and its converted forms */
	int axes_done;                 /* the Unsqueeze axes initializer */
	int final, logits;             /* activations; logits -1 if none */
} onnx_ctx;

typedef struct onnx_kind onnx_kind;
typedef void (*emit_fn)(onnx_ctx *c, const cnn_layer *l, int a,
                        const onnx_kind *k);

/* How a layer kind is written: its operator, the rank of its output
 * (RANK_SAME: its input's; RANK_MERGE: 4 when every input has rank 4, else
 * 2; RANK_SKIP: left out, an alias of its input) and its writer. A kind
 * whose rank is 4 reads a rank-4 input. */
enum { RANK_SAME = 0, RANK_MERGE = -1, RANK_SKIP = -2 };
struct onnx_kind {
	const cnn_layer_ops *ops;
	const char *op;
	int rank;
	emit_fn emit;
};

/* ------------------------------------------------------------------------ */
/* Protobuf pieces of ONNX                                                  */

/* An attribute of the node being written (int, ints, float). */
static void attr_int(cnn_wbuf *g, const char *name, int64_t v)
{
	size_t s = cnn_pb_begin(g);
	cnn_pb_string(g, ATTR_NAME, name);
	cnn_pb_int(g, ATTR_TYPE, AT_INT);
	cnn_pb_int(g, ATTR_I, v);
	cnn_pb_end(g, NODE_ATTRIBUTE, s);
}

static void attr_ints(cnn_wbuf *g, const char *name, const int64_t *v, size_t n)
{
	size_t s = cnn_pb_begin(g);
	cnn_pb_string(g, ATTR_NAME, name);
	cnn_pb_int(g, ATTR_TYPE, AT_INTS);
	cnn_pb_packed_int64(g, ATTR_INTS, v, n);
	cnn_pb_end(g, NODE_ATTRIBUTE, s);
}

static void attr_float(cnn_wbuf *g, const char *name, double v)
{
	size_t s = cnn_pb_begin(g);
	cnn_pb_string(g, ATTR_NAME, name);
	cnn_pb_int(g, ATTR_TYPE, AT_FLOAT);
	cnn_pb_float(g, ATTR_F, (float)v);
	cnn_pb_end(g, NODE_ATTRIBUTE, s);
}

/* Begins node name (operator op) reading the n tensors in, writing out;
 * attributes may follow; node_end closes it. Returns node_end's start. */
static size_t node_begin(cnn_wbuf *g, const char *op, const char *name,
                         const char *const *in, int n, const char *out)
{
	size_t s = cnn_pb_begin(g);

	for (int i = 0; i < n; i++)
		cnn_pb_string(g, NODE_INPUT, in[i]);
	cnn_pb_string(g, NODE_OUTPUT, out);
	cnn_pb_string(g, NODE_NAME, name);
	cnn_pb_string(g, NODE_OP, op);
	return s;
}

static void node_end(cnn_wbuf *g, size_t start)
{
	cnn_pb_end(g, GRAPH_NODE, start);
}

/* A float32 initializer of the given shape (nd dims) and values. */
static void init_floats(cnn_wbuf *g, const char *name, const int *shape, int nd,
                        const float *v, size_t n)
{
	int64_t dims[CNN_MAX_DIMS];
	size_t s = cnn_pb_begin(g);

	for (int i = 0; i < nd; i++)
		dims[i] = shape[i];
	cnn_pb_packed_int64(g, TENSOR_DIMS, dims, (size_t)nd);
	cnn_pb_int(g, TENSOR_DATA_TYPE, DT_FLOAT);
	cnn_pb_string(g, TENSOR_NAME, name);
	cnn_pb_floats_raw(g, TENSOR_RAW_DATA, v, n);
	cnn_pb_end(g, GRAPH_INITIALIZER, s);
}

/* A one-dimensional int64 initializer. */
static void init_int64(cnn_wbuf *g, const char *name, const int64_t *v,
                       size_t n)
{
	int64_t dim = (int64_t)n;
	size_t s = cnn_pb_begin(g);

	cnn_pb_packed_int64(g, TENSOR_DIMS, &dim, 1);
	cnn_pb_int(g, TENSOR_DATA_TYPE, DT_INT64);
	cnn_pb_string(g, TENSOR_NAME, name);
	cnn_pb_packed_int64(g, TENSOR_INT64_DATA, v, n);
	cnn_pb_end(g, GRAPH_INITIALIZER, s);
}

/* A float32 graph input or output (field) called name of nd dims, BATCH
 * standing for the symbolic "N". */
static void value_info(cnn_wbuf *g, int field, const char *name,
                       const int64_t *dims, int nd)
{
	size_t s = cnn_pb_begin(g), t, tt, sh, d;

	cnn_pb_string(g, VALUE_NAME, name);
	t = cnn_pb_begin(g);
	tt = cnn_pb_begin(g);
	cnn_pb_int(g, TENSOR_TYPE_ELEM, DT_FLOAT);
	sh = cnn_pb_begin(g);
	for (int i = 0; i < nd; i++) {
		d = cnn_pb_begin(g);
		if (dims[i] == BATCH)
			cnn_pb_string(g, DIM_PARAM, "N");
		else
			cnn_pb_int(g, DIM_VALUE, dims[i]);
		cnn_pb_end(g, SHAPE_DIM, d);
	}
	cnn_pb_end(g, TENSOR_TYPE_SHAPE, sh);
	cnn_pb_end(g, TYPE_TENSOR, tt);
	cnn_pb_end(g, VALUE_TYPE, t);
	cnn_pb_end(g, (uint32_t)field, s);
}

/* ------------------------------------------------------------------------ */
/* Tensors of the right rank                                                */

/* Activation a (a source) as a rank-2 tensor: itself, or its Flatten. */
static const char *need2(onnx_ctx *c, int a)
{
	if (c->rank[a] == 2)
		return c->name[a];
	if (!c->flat_done[a]) {
		const char *in = c->name[a];
		onnx_name node;
		size_t s;

		snprintf(node, sizeof node, "%s.flatten", c->name[a]);
		s = node_begin(c->g, "Flatten", node, &in, 1, c->flat[a]);
		attr_int(c->g, "axis", 1);
		node_end(c->g, s);
		c->flat_done[a] = 1;
	}
	return c->flat[a];
}

/* Activation a (a source) as a rank-4 tensor: itself, or [N, K, 1, 1]. */
static const char *need4(onnx_ctx *c, int a)
{
	static const int64_t axes[2] = {2, 3};
	static const char axes_name[] = "unsqueeze.axes";

	if (c->rank[a] == 4)
		return c->name[a];
	if (!c->axes_done) {
		init_int64(c->g, axes_name, axes, 2);
		c->axes_done = 1;
	}
	if (!c->as4d_done[a]) {
		const char *in[2] = {c->name[a], axes_name};
		onnx_name node;

		snprintf(node, sizeof node, "%s.unsqueeze", c->name[a]);
		node_end(c->g, node_begin(c->g, "Unsqueeze", node, in, 2,
		                          c->as4d[a]));
		c->as4d_done[a] = 1;
	}
	return c->as4d[a];
}

/* Input k of layer l, in the rank its kind reads. */
static const char *input_of(onnx_ctx *c, const cnn_layer *l, int k,
                            const onnx_kind *kind)
{
	int a = c->src[l->inputs[k]];

	if (kind->rank == 4)
		return need4(c, a);
	if (kind->rank == 2)
		return need2(c, a);
	return c->name[a];
}

/* ------------------------------------------------------------------------ */
/* The layers                                                               */

/* Layer l's parameters as initializers; in[1..] gets their names and the
 * count of node inputs (with in[0]) is returned. */
static int params(onnx_ctx *c, const cnn_layer *l, const char **in)
{
	int n = 1;

	init_floats(c->g, l->weight_name, l->weight_shape, l->weight_ndim,
	            c->w + l->w_off, l->n_weight);
	in[n++] = l->weight_name;
	if (l->n_bias) {
		int nb = (int)l->n_bias;
		init_floats(c->g, l->bias_name, &nb, 1, c->w + l->b_off,
		            l->n_bias);
		in[n++] = l->bias_name;
	}
	return n;
}

/* conv2d: Conv with pads [top, left, bottom, right]. */
static void emit_conv(onnx_ctx *c, const cnn_layer *l, int a,
                      const onnx_kind *k)
{
	const int64_t kernel[2] = {l->kernel[0], l->kernel[1]};
	const int64_t stride[2] = {l->stride[0], l->stride[1]};
	const int64_t pads[4] = {l->pad[0], l->pad[1], l->pad[0], l->pad[1]};
	const char *in[3];
	int n;
	size_t s;

	in[0] = input_of(c, l, 0, k);
	n = params(c, l, in);
	s = node_begin(c->g, k->op, l->name, in, n, c->name[a]);
	attr_ints(c->g, "kernel_shape", kernel, 2);
	attr_ints(c->g, "strides", stride, 2);
	attr_ints(c->g, "pads", pads, 4);
	node_end(c->g, s);
}

/* dense: Gemm of the flattened input and the weight (units, in) taken
 * transposed, plus the bias. */
static void emit_dense(onnx_ctx *c, const cnn_layer *l, int a,
                       const onnx_kind *k)
{
	const char *in[3];
	int n;
	size_t s;

	in[0] = input_of(c, l, 0, k);
	n = params(c, l, in);
	s = node_begin(c->g, k->op, l->name, in, n, c->name[a]);
	attr_int(c->g, "transB", 1);
	node_end(c->g, s);
}

/* maxpool, avgpool: no padding, floor rounding (ONNX's default). */
static void emit_pool(onnx_ctx *c, const cnn_layer *l, int a,
                      const onnx_kind *k)
{
	const int64_t kernel[2] = {l->kernel[0], l->kernel[1]};
	const int64_t stride[2] = {l->stride[0], l->stride[1]};
	const char *in = input_of(c, l, 0, k);
	size_t s = node_begin(c->g, k->op, l->name, &in, 1, c->name[a]);

	attr_ints(c->g, "kernel_shape", kernel, 2);
	attr_ints(c->g, "strides", stride, 2);
	node_end(c->g, s);
}

/* batchnorm: gamma, beta and the running mean and variance; epsilon. */
static void emit_batchnorm(onnx_ctx *c, const cnn_layer *l, int a,
                           const onnx_kind *k)
{
	const int ch = (int)l->n_weight;
	const float *state = c->w + l->state_off;
	const char *in[5];
	size_t s;

	in[0] = input_of(c, l, 0, k);
	params(c, l, in);
	for (int p = 0; p < 2; p++) {
		init_floats(c->g, l->state_name[p], &ch, 1,
		            state + (size_t)p * ch, (size_t)ch);
		in[3 + p] = l->state_name[p];
	}
	s = node_begin(c->g, k->op, l->name, in, 5, c->name[a]);
	attr_float(c->g, "epsilon", l->epsilon);
	node_end(c->g, s);
}

/* Operators of one input and no attributes (relu, sigmoid, tanh,
 * global_avgpool). */
static void emit_plain(onnx_ctx *c, const cnn_layer *l, int a,
                       const onnx_kind *k)
{
	const char *in = input_of(c, l, 0, k);

	node_end(c->g, node_begin(c->g, k->op, l->name, &in, 1, c->name[a]));
}

/* leaky_relu (alpha = slope) and elu: the layer's alpha. */
static void emit_alpha(onnx_ctx *c, const cnn_layer *l, int a,
                       const onnx_kind *k)
{
	const char *in = input_of(c, l, 0, k);
	size_t s = node_begin(c->g, k->op, l->name, &in, 1, c->name[a]);

	attr_float(c->g, "alpha", l->alpha);
	node_end(c->g, s);
}

/* flatten and softmax: their operator on axis 1. */
static void emit_axis1(onnx_ctx *c, const cnn_layer *l, int a,
                       const onnx_kind *k)
{
	const char *in = input_of(c, l, 0, k);
	size_t s = node_begin(c->g, k->op, l->name, &in, 1, c->name[a]);

	attr_int(c->g, "axis", 1);
	node_end(c->g, s);
}

/* add (Add of two inputs, Sum of more, Identity of one) and concat
 * (Concat on axis 1), the inputs in the merge's rank. */
static void emit_merge(onnx_ctx *c, const cnn_layer *l, int a,
                       const onnx_kind *k)
{
	const char *in[CNN_MAX_INPUTS];
	const char *op = k->op;
	size_t s;

	for (int i = 0; i < l->n_inputs; i++) {
		int src = c->src[l->inputs[i]];
		in[i] = c->rank[a] == 4 ? c->name[src] : need2(c, src);
	}
	if (l->ops == &cnn_layer_add)
		op = l->n_inputs == 1   ? "Identity"
		     : l->n_inputs == 2 ? "Add"
		                        : "Sum";
	s = node_begin(c->g, op, l->name, in, l->n_inputs, c->name[a]);
	if (l->ops == &cnn_layer_concat)
		attr_int(c->g, "axis", 1);
	node_end(c->g, s);
}

static const onnx_kind kinds[] = {
    {&cnn_layer_conv2d, "Conv", 4, emit_conv},
    {&cnn_layer_dense, "Gemm", 2, emit_dense},
    {&cnn_layer_maxpool, "MaxPool", 4, emit_pool},
    {&cnn_layer_avgpool, "AveragePool", 4, emit_pool},
    {&cnn_layer_global_avgpool, "GlobalAveragePool", 4, emit_plain},
    {&cnn_layer_batchnorm, "BatchNormalization", RANK_SAME, emit_batchnorm},
    {&cnn_layer_relu, "Relu", RANK_SAME, emit_plain},
    {&cnn_layer_sigmoid, "Sigmoid", RANK_SAME, emit_plain},
    {&cnn_layer_tanh, "Tanh", RANK_SAME, emit_plain},
    {&cnn_layer_leaky_relu, "LeakyRelu", RANK_SAME, emit_alpha},
    {&cnn_layer_elu, "Elu", RANK_SAME, emit_alpha},
    {&cnn_layer_add, "Add", RANK_MERGE, emit_merge},
    {&cnn_layer_concat, "Concat", RANK_MERGE, emit_merge},
    {&cnn_layer_flatten, "Flatten", 2, emit_axis1},
    {&cnn_layer_softmax, "Softmax", 2, emit_axis1},
    {&cnn_layer_dropout, NULL, RANK_SKIP, NULL},
};

static const onnx_kind *kind_of(const cnn_layer *l)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i].ops == l->ops)
			return &kinds[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Planning: ranks and names                                                */

/* Sets src and rank of every activation; CNN_ERR_CONFIG for a kind that
 * has no ONNX form. */
static cnn_status plan_ranks(onnx_ctx *c, cnn_error *err)
{
	const cnn_model *m = c->m;

	c->src[0] = 0;
	c->rank[0] = 4;
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		const onnx_kind *k = kind_of(l);
		int a = i + 1, in = c->src[l->inputs[0]];

		if (!k)
			return cnn_err(err, CNN_ERR_CONFIG,
			               "layer %s (%s): ONNX export does not "
			               "know this kind",
			               l->name, l->ops->type);
		c->src[a] = k->rank == RANK_SKIP ? in : a;
		c->rank[a] = k->rank > 0 ? k->rank : c->rank[in];
		for (int j = 0; k->rank == RANK_MERGE && j < l->n_inputs; j++)
			if (c->rank[c->src[l->inputs[j]]] != 4)
				c->rank[a] = 2;
	}
	return CNN_OK;
}

/* Names every activation's tensor and its converted forms; "probabilities"
 * and "logits" go to the tensor itself when it has rank 2 and is a node's
 * output, else to its Flatten. */
static void plan_names(onnx_ctx *c)
{
	const cnn_model *m = c->m;
	const int n = m->n_layers;

	snprintf(c->name[0], NAME_SIZE, "input");
	for (int a = 1; a <= n; a++) {
		const char *ln = m->layers[a - 1].name;
		int taken =
		    !strcmp(ln, "logits") || !strcmp(ln, "probabilities");
		snprintf(c->name[a], NAME_SIZE, taken ? "%s.out" : "%s", ln);
	}
	for (int a = 0; a <= n; a++) {
		snprintf(c->flat[a], NAME_SIZE, "%s.flat", c->name[a]);
		snprintf(c->as4d[a], NAME_SIZE, "%s.4d", c->name[a]);
	}
	c->final = c->src[n];
	c->logits = -1;
	if (c->final > 0 && m->layers[c->final - 1].ops == &cnn_layer_softmax)
		c->logits = c->src[m->layers[c->final - 1].inputs[0]];
	if (c->logits >= 0)
		snprintf(c->rank[c->logits] == 2 && c->logits > 0
		             ? c->name[c->logits]
		             : c->flat[c->logits],
		         NAME_SIZE, "logits");
	snprintf(c->rank[c->final] == 2 && c->final > 0 ? c->name[c->final]
	                                                : c->flat[c->final],
	         NAME_SIZE, "probabilities");
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */

/* Floats per sample of activation a. */
static int64_t act_size(const cnn_model *m, int a)
{
	const int *s = m->spec.input;

	return a ? (int64_t)m->layers[a - 1].out_size
	         : (int64_t)s[0] * s[1] * s[2];
}

/* The GraphProto's contents: name, input, nodes and initializers, then
 * the outputs. */
static void write_graph(onnx_ctx *c)
{
	const cnn_model *m = c->m;
	const int *s = m->spec.input;
	const int64_t in_dims[4] = {BATCH, s[0], s[1], s[2]};
	int64_t out_dims[2] = {BATCH, act_size(m, c->final)};

	cnn_pb_string(c->g, GRAPH_NAME, cnn_model_name(m));
	value_info(c->g, GRAPH_INPUT, "input", in_dims, 4);
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		const onnx_kind *k = kind_of(l);
		if (k->emit)
			k->emit(c, l, i + 1, k);
	}
	value_info(c->g, GRAPH_OUTPUT, need2(c, c->final), out_dims, 2);
	if (c->logits >= 0) {
		out_dims[1] = act_size(m, c->logits);
		value_info(c->g, GRAPH_OUTPUT, need2(c, c->logits), out_dims,
		           2);
	}
}

/* A metadata_props entry. */
static void metadata(cnn_wbuf *b, const char *key, const char *value)
{
	size_t s = cnn_pb_begin(b);

	cnn_pb_string(b, ENTRY_KEY, key);
	cnn_pb_string(b, ENTRY_VALUE, value);
	cnn_pb_end(b, MODEL_METADATA, s);
}

/* The ModelProto around the graph c writes into b. */
static void write_model(onnx_ctx *c, cnn_wbuf *b)
{
	char doc[CNN_NAME_MAX + 160], scale[32];
	size_t s;

	snprintf(scale, sizeof scale, "%.9g", cnn_model_scale(c->m));
	snprintf(doc, sizeof doc,
	         "libcnn model %s: input NCHW float32 (pixels times %s), "
	         "output probabilities",
	         cnn_model_name(c->m), scale);
	cnn_pb_int(b, MODEL_IR_VERSION, ONNX_IR_VERSION);
	s = cnn_pb_begin(b);
	cnn_pb_int(b, OPSET_VERSION, ONNX_OPSET); /* default domain "" */
	cnn_pb_end(b, MODEL_OPSET, s);
	cnn_pb_string(b, MODEL_PRODUCER_NAME, "libcnn");
	cnn_pb_string(b, MODEL_PRODUCER_VERSION, cnn_version());
	cnn_pb_string(b, MODEL_DOC, doc);
	s = cnn_pb_begin(b);
	c->g = b;
	write_graph(c);
	cnn_pb_end(b, MODEL_GRAPH, s);
	metadata(b, "input_scale", scale);
	metadata(b, "input_layout",
	         c->m->spec.normalize
	             ? "NCHW float32, pixels times input_scale, then (x - "
	               "mean[c]) / std[c] per channel c (data.normalize in the "
	               "model's description)"
	             : "NCHW float32, pixels times input_scale");
}

cnn_status cnn_export_onnx(const cnn_model *m, const float *w, uint8_t **out,
                           size_t *len, cnn_error *err)
{
	const size_t n = (size_t)m->n_layers + 1;
	onnx_ctx c = {.m = m, .w = w};
	cnn_wbuf b = {0};
	cnn_status st = CNN_OK;

	*out = NULL;
	*len = 0;
	c.src = calloc(n, sizeof *c.src);
	c.rank = calloc(n, sizeof *c.rank);
	c.flat_done = calloc(n, 1);
	c.as4d_done = calloc(n, 1);
	c.name = calloc(n, sizeof *c.name);
	c.flat = calloc(n, sizeof *c.flat);
	c.as4d = calloc(n, sizeof *c.as4d);
	if (!c.src || !c.rank || !c.flat_done || !c.as4d_done || !c.name ||
	    !c.flat || !c.as4d)
		st = cnn_err_nomem(err, NULL, "writing the ONNX model");
	if (!st)
		st = plan_ranks(&c, err);
	if (!st) {
		plan_names(&c);
		write_model(&c, &b);
		if (b.failed)
			st = cnn_err_nomem(err, NULL, "writing the ONNX model");
	}
	if (!st) {
		*out = b.data;
		*len = b.len;
	} else {
		cnn_wbuf_free(&b);
	}
	free(c.src);
	free(c.rank);
	free(c.flat_done);
	free(c.as4d_done);
	free(c.name);
	free(c.flat);
	free(c.as4d);
	return st;
}

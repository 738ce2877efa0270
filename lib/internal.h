/*
 * internal.h - the types and functions shared by the modules of libcnn.
 *
 * Data flows one way:
 *   YAML text -> tree (tree.c) -> spec (spec.c, layers' configure) ->
 *   graph (graph.c: shapes, parameter arenas) -> trainer (train.c, optim.c)
 *   -> checkpoint (checkpoint.c).
 * The hot loops live in kernels.c only.
 *
 * Invariants
 *  - Activations are float, batch-major, each sample in CHW order.
 *  - Parameters, gradients and optimiser moments are flat arenas of the same
 *    size and order (layer by layer, weight then bias), so the optimiser is
 *    one loop and a checkpoint is a list of named slices.
 *  - Nothing here prints or exits; errors go through cnn_err_set().
 */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include "cnn.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define CNN_PATH_MAX   4096
#define CNN_NAME_MAX   64
#define CNN_MAX_LAYERS 256

/* A parallel loop over independent iterations; a plain loop without OpenMP. */
#ifdef _OPENMP
#define CNN_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define CNN_PARALLEL_FOR
#endif

#if defined(__GNUC__)
#define CNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNN_PRINTF(a, b)
#endif

/* ======================================================================== */
/* Errors (error.c)                                                         */

/* Fills err unless it already holds an error (the first error wins). file may
 * be NULL; line/col 0 when unknown; path may be NULL. Returns status. */
cnn_status cnn_err_set(cnn_error *err, cnn_status status, const char *file,
                       int line, int col, const char *path, const char *fmt,
                       ...) CNN_PRINTF(7, 8);
/* Clears err to "no error". */
void cnn_err_clear(cnn_error *err);

/* ======================================================================== */
/* YAML tree (tree.c)                                                       */

typedef enum cnn_node_type {
	CNN_NODE_SCALAR,
	CNN_NODE_SEQ,
	CNN_NODE_MAP
} cnn_node_type;

typedef struct cnn_node cnn_node;

/* One "key: value" of a mapping; the key's own position is kept so that an
 * unknown key can be reported where it stands. */
typedef struct cnn_pair {
	char *key;
	int line, col;
	cnn_node *value;
} cnn_pair;

/* A node of a parsed YAML document. Every node knows where it came from:
 * file is the YAML file name (or "--set KEY" for an override), line and col
 * are 1-based (0 for overrides). Scalars keep their text as written and
 * whether they were quoted (a quoted "12" is a string, not a number). */
struct cnn_node {
	cnn_node_type type;
	const char *file; /* owned by the tree's root (cnn_tree) */
	int line, col;
	char *value;      /* SCALAR */
	int quoted;       /* SCALAR */
	cnn_node **items; /* SEQ */
	size_t n_items;
	cnn_pair *pairs; /* MAP, in document order; keys are unique */
	size_t n_pairs;
};

/* A parsed document: its root node and the storage for file names. */
typedef struct cnn_tree {
	cnn_node *root;
	char *file;     /* the file it was read from */
	char **strings; /* owned strings (override sources), freed with it */
	size_t n_strings;
} cnn_tree;

/* Parses YAML text (len bytes; file names it in messages) into *out. Only
 * one document; a mapping at the top; no anchors or aliases; no duplicate
 * keys; nesting at most 32 deep. Errors are CNN_ERR_CONFIG with line:col. */
cnn_status cnn_tree_parse(cnn_tree *out, const char *text, size_t len,
                          const char *file, cnn_error *err);
/* Reads the file at path and parses it as above. */
cnn_status cnn_tree_load(cnn_tree *out, const char *path, cnn_error *err);
void cnn_tree_free(cnn_tree *t);

/* Applies one override "dotted.path=value". Path segments name mapping keys
 * or, when numeric, sequence indexes (layers.3.units). Missing mapping keys
 * are created (validation later rejects unknown ones); an index past the end
 * of a sequence is an error. The value is parsed as YAML (so "[2, 2]" is a
 * sequence); its nodes get file "--set dotted.path" and line 0. */
cnn_status cnn_tree_set(cnn_tree *t, const char *assignment, cnn_error *err);

/* Writes the tree as block-style YAML into a malloc'ed NUL-terminated string.
 */
cnn_status cnn_tree_emit(const cnn_tree *t, char **text, size_t *len,
                         cnn_error *err);

/* Replaces a scalar's text (used to store resolved paths). */
cnn_status cnn_node_set_scalar(cnn_node *n, const char *value, cnn_error *err);

/* Looks up key in a mapping; NULL if absent or map is not a mapping. */
cnn_node *cnn_map_get(const cnn_node *map, const char *key);

/* Fails with CNN_ERR_CONFIG at the first key of map that is not in allowed
 * (a NULL-terminated list): "PATH: unknown key "unts" (expected one of: a,
 * b, c)". Also fails if map is not a mapping ("PATH: expected a mapping"). */
cnn_status cnn_map_check_keys(const cnn_node *map, const char *path,
                              const char *const *allowed, cnn_error *err);

/* Typed getters. Each reads map[key]; path is the dotted path of map used in
 * messages ("dense" gives "dense.units"). If the key is absent: required ->
 * error "PATH.KEY: missing (expected ...)", else *out keeps its value (the
 * default) and CNN_OK is returned. Bad values give e.g.
 *   model.yaml:12:5: dense.units: expected a positive integer, got "sixty"
 * Ranges are inclusive. */
cnn_status cnn_get_int(const cnn_node *map, const char *path, const char *key,
                       int required, long min, long max, long *out,
                       cnn_error *err);
cnn_status cnn_get_double(const cnn_node *map, const char *path,
                          const char *key, int required, double min, double max,
                          double *out, cnn_error *err);
cnn_status cnn_get_bool(const cnn_node *map, const char *path, const char *key,
                        int required, int *out, cnn_error *err);
/* Copies a scalar string (fails if longer than size-1). */
cnn_status cnn_get_string(const cnn_node *map, const char *path,
                          const char *key, int required, char *out, size_t size,
                          cnn_error *err);
/* A string that must be one of choices (NULL-terminated); *out is its index. */
cnn_status cnn_get_enum(const cnn_node *map, const char *path, const char *key,
                        int required, const char *const *choices, int *out,
                        cnn_error *err);
/* An integer or a two-element sequence [h, w] (for kernel, stride, padding). */
cnn_status cnn_get_int2(const cnn_node *map, const char *path, const char *key,
                        int required, long min, long max, int out[2],
                        cnn_error *err);

/* Sets err to a CNN_ERR_CONFIG error located at node n. */
cnn_status cnn_node_error(cnn_error *err, const cnn_node *n, const char *path,
                          const char *fmt, ...) CNN_PRINTF(4, 5);

/* ======================================================================== */
/* Random numbers (rng.c): xoshiro256** seeded by splitmix64. Our own, so     */
/* results never depend on libc's rand().                                   */

typedef struct cnn_rng {
	uint64_t s[4];
} cnn_rng;

void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_next(cnn_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double cnn_rng_uniform(cnn_rng *r);
/* Standard normal (Box-Muller, both values drawn fresh each call). */
double cnn_rng_normal(cnn_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t cnn_rng_below(cnn_rng *r, uint64_t n);

/* ======================================================================== */
/* Initialisers (init.c)                                                    */

typedef enum cnn_init_type {
	CNN_INIT_ZEROS,
	CNN_INIT_CONSTANT, /* value */
	CNN_INIT_UNIFORM,  /* [low, high) */
	CNN_INIT_NORMAL,   /* mean, std */
	CNN_INIT_HE,       /* normal(0, sqrt(2 / fan_in)) */
	CNN_INIT_XAVIER    /* uniform(+-sqrt(6 / (fan_in + fan_out))) */
} cnn_init_type;

typedef enum cnn_fan_mode {
	CNN_FAN_NONE,
	CNN_FAN_IN,
	CNN_FAN_OUT,
	CNN_FAN_AVG
} cnn_fan_mode;

typedef struct cnn_init_spec {
	cnn_init_type type;
	double a, b;                 /* low/high, mean/std, or value */
	cnn_fan_mode divide_by_sqrt; /* extra factor 1/sqrt(fan) */
} cnn_init_spec;

/* Parses an initialiser given either as a name ("he", "zeros") or a mapping
 * {type: uniform, low: 0, high: 1, divide_by_sqrt: fan_in}. path is used in
 * messages. Absent key: *out unchanged. */
cnn_status cnn_init_parse(const cnn_node *map, const char *path,
                          const char *key, cnn_init_spec *out, cnn_error *err);
/* Fills n floats according to spec, drawing from rng in index order. */
void cnn_init_fill(const cnn_init_spec *spec, float *w, size_t n, size_t fan_in,
                   size_t fan_out, cnn_rng *rng);
/* Writes a YAML-like one-line description ("uniform(0, 1)/sqrt(fan_in)"). */
void cnn_init_describe(const cnn_init_spec *spec, char *buf, size_t size);

/* ======================================================================== */
/* Layers (one file per kind in layers/, registered in layers/registry.c)  */

typedef struct cnn_layer cnn_layer;

/* What one pass through the graph is for, shared by the layers of a chunk
 * (see graph.c). Layers that behave differently in training (dropout,
 * batchnorm) read it; a layer with pass == NULL is in evaluation mode. */
typedef struct cnn_pass {
	int training;     /* 1 in a training step, 0 in evaluation/prediction */
	uint64_t seed;    /* per training step: dropout masks derive from it */
	size_t sample0;   /* the chunk's first sample within the batch */
	int batch;        /* samples in the whole batch */
} cnn_pass;

/* The behaviour of one layer kind. Shapes are (channels, height, width); a
 * dense layer's output is (units, 1, 1). */
typedef struct cnn_layer_ops {
	const char *type; /* the YAML "type", e.g. "conv2d" */
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

	/* Merge layers (add, concat) take 1 to max_inputs inputs (0 means
	 * exactly one) and use forward_n/backward_n instead: x[k] is input k
	 * (l->in_sizes[k] floats per sample), dx[k] its gradient to write
	 * (overwriting), or NULL when not wanted. infer reads
	 * l->in_shapes[0..n_inputs). */
	int max_inputs;
	void (*forward_n)(cnn_layer *l, const float *const *x, float *y, int n,
	                  float *ws);
	void (*backward_n)(cnn_layer *l, const float *const *x, const float *y,
	                   const float *dy, float *const *dx, int n,
	                   float *ws);

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

/* ======================================================================== */
/* Kernels (kernels.c): all hot loops. Row-major throughout.                */

/* C[M x N] = beta * C + A' * B' where A' is A (M x K, lda) or, if ta, A^T
 * with A stored K x M; likewise B' is B (K x N, ldb) or, if tb, B^T with B
 * stored N x K. beta is 0 (overwrite, C need not be initialised) or 1. */
void cnn_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* Unfolds one CHW image into columns: col[(c*kh + i)*kw + j][oy*ow + ox]. */
void cnn_im2col(const float *x, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *col);
/* The adjoint of im2col: adds columns back into dx (which it first zeroes). */
void cnn_col2im(const float *col, int c, int h, int w, int kh, int kw, int sh,
                int sw, int ph, int pw, int oh, int ow, float *dx);

/* ======================================================================== */
/* Specification (spec.c): the validated, typed model description.          */

typedef enum cnn_loss_type {
	CNN_LOSS_CROSS_ENTROPY,
	CNN_LOSS_MSE
} cnn_loss_type;
typedef enum cnn_reduction { CNN_REDUCE_MEAN, CNN_REDUCE_SUM } cnn_reduction;
typedef enum cnn_opt_type {
	CNN_OPT_ADAM,
	CNN_OPT_SGD,
	CNN_OPT_ADAMW,
	CNN_OPT_RMSPROP
} cnn_opt_type;
/* The learning-rate schedule (optimizer.schedule; see cnn_optim_rate). */
typedef enum cnn_sched_type {
	CNN_SCHED_CONSTANT,
	CNN_SCHED_STEP,
	CNN_SCHED_EXPONENTIAL,
	CNN_SCHED_COSINE
} cnn_sched_type;
typedef enum cnn_keep { CNN_KEEP_BEST, CNN_KEEP_LAST } cnn_keep;

typedef struct cnn_data_spec {
	int present;
	char format[8];            /* "idx" or "csv" */
	char images[CNN_PATH_MAX]; /* idx */
	char labels[CNN_PATH_MAX]; /* idx */
	char path[CNN_PATH_MAX];   /* csv */
	int header;                /* csv: 1, 0, -1 detect */
	int label_column;          /* csv */
	double scale;              /* pixel multiplier, default 1/255 */
	long limit;                /* use only the first limit samples; 0 all */
	int shift; /* augment.shift (train only): the largest random shift in
	              pixels, 0..8; 0 off */
} cnn_data_spec;

typedef struct cnn_spec {
	char name[CNN_NAME_MAX];
	int input[3]; /* channels, height, width */

	int n_layers;
	cnn_layer *layers; /* configured (hyperparameters only), n_layers */

	cnn_loss_type loss;
	cnn_reduction reduction; /* default mean */

	cnn_opt_type optimizer;
	double learning_rate;    /* 0.001 */
	double beta1, beta2;     /* 0.9, 0.999 */
	double epsilon;          /* 1e-8 */
	int epsilon_inside_sqrt; /* 0: lr*m/(sqrt(v)+eps); 1: lr*m/sqrt(v+eps)
	                          */
	int bias_correction;     /* 1 */
	double momentum;         /* sgd, rmsprop: 0 */
	int nesterov;            /* sgd: 0 */
	double alpha;            /* rmsprop: 0.99 */
	double weight_decay;     /* 0 (adamw: 0.01); L2, adamw: decoupled */
	double clip_norm;        /* 0: off; else the largest gradient norm */
	cnn_sched_type schedule; /* constant */
	int sched_step_epochs;   /* step: epochs between decays */
	double sched_gamma;      /* step: 0.1; exponential: 0.95 */
	double sched_min_lr;     /* cosine: 0 */
	double warmup_epochs;    /* 0: no linear warm-up */

	int epochs;     /* 10 */
	int batch_size; /* 32 */
	int shuffle;    /* 1 */
	uint64_t seed;  /* 1 */
	cnn_keep keep;  /* best */
	int patience;     /* early stopping: 0 off, else epochs to wait */
	double min_delta; /* early stopping: the least improvement, 0 */

	cnn_data_spec train, test;
	double validation; /* 0: none; < 1: fraction; >= 1: count */

	char checkpoint[CNN_PATH_MAX]; /* resolved; default NAME.ckpt.gz */
	int checkpoint_every;          /* epochs between saves, 1 */
	int checkpoint_every_batches;  /* batches between saves in an epoch,
	                                  0: only at the end of epochs */
} cnn_spec;

/* Validates the tree into spec (which it zeroes first). Resolves relative
 * paths: against the YAML file's folder for nodes from the file, against the
 * current directory for overrides, and writes the absolute result back into
 * the tree so that the embedded description is self-contained. Layers are
 * configured but not shape-checked (see cnn_graph_build). */
cnn_status cnn_spec_from_tree(cnn_spec *spec, cnn_tree *tree, cnn_error *err);
void cnn_spec_free(cnn_spec *spec);

/* ======================================================================== */
/* Data (data.c, data_idx.c, data_csv.c)                                    */

struct cnn_dataset {
	size_t n;
	int shape[3];       /* channels, height, width */
	size_t sample_size; /* c*h*w bytes */
	uint8_t *pixels;    /* n * sample_size */
	uint8_t *labels;    /* n */
	int classes;        /* labels are < classes */
};

/* Reads a whole file, gunzipping it when it starts with the gzip magic, into
 * a malloc'ed buffer. Fails (CNN_ERR_IO, or CNN_ERR_DATA for a damaged gzip
 * stream) and refuses to grow past max bytes (CNN_ERR_DATA, and then *len is
 * set above max so that the caller can say more). */
cnn_status cnn_read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, cnn_error *err);

/* Both readers fill a zeroed *d from src (see cnn_data_source in cnn.h); on
 * failure *d holds nothing to free. */
cnn_status cnn_idx_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err);
cnn_status cnn_csv_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err);
/* The same from memory (for the fuzzers, and whoever has the bytes): the
 * files' content, not compressed, with src->images, src->labels or
 * src->path naming them in messages. cnn_idx_parse: labels NULL reads images
 * only (every label 0). The bytes need no terminator. */
cnn_status cnn_idx_parse(cnn_dataset *d, const uint8_t *images, size_t n_images,
                         const uint8_t *labels, size_t n_labels,
                         const cnn_data_source *src, cnn_error *err);
cnn_status cnn_csv_parse(cnn_dataset *d, const uint8_t *text, size_t len,
                         const cnn_data_source *src, cnn_error *err);

/* Augmentation (data.c). cnn_augment_draw: the shift (*dy, *dx), each in
 * [-max, max], of training sample index in epoch (1-based) under seed, a
 * stateless hash of the three. cnn_augment_shift: one CHW sample of bytes
 * into floats times scale, shifted dy rows down and dx columns right, zero
 * filled (dy = dx = 0: a plain scaled copy). */
void cnn_augment_draw(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx);
void cnn_augment_shift(float *dst, const uint8_t *src, const int shape[3],
                       float scale, int dy, int dx);

/* ======================================================================== */
/* The model (model.c, graph.c, optim.c, train.c)                           */

/* A named slice of the model's arenas: a layer's weight, bias or part of
 * its state ("conv1.weight", "bn1.running_var"). */
typedef struct cnn_tensor_slot {
	const char *name; /* points into the layer */
	int ndim;
	int shape[CNN_MAX_DIMS];
	size_t off, n; /* floats */
	int trainable;
} cnn_tensor_slot;

/* What one thread needs to run a chunk of a batch through the graph. */
typedef struct cnn_chunk {
	cnn_layer *layers; /* copies of the model's layers, with dw and db
	                      pointing into grads and pass to &pass */
	float *grads;      /* n_params */
	float *ws;         /* the layers' workspace for one chunk */
	float *dtmp;       /* gradients to be added into dact (merges) */
	double *acc;       /* a batch-statistics layer's sums over the chunk */
	cnn_pass pass;
	double loss;       /* summed loss of the chunk */
	size_t correct;    /* correct predictions in the chunk */
} cnn_chunk;

/* How a batch of n samples is cut: *count chunks of *size samples (the last
 * one smaller). Depends on n only, never on the number of threads. */
void cnn_chunk_plan(int n, int *count, int *size);

struct cnn_model {
	cnn_tree tree; /* the description, after overrides */
	char *yaml;    /* tree emitted as text */
	cnn_spec spec;
	int n_layers;
	cnn_layer *layers; /* == spec.layers */
	int classes;

	/* Arenas of n_params floats, same order: the n_trainable parameters
	 * (layer by layer, weight then bias), then the layers' state. */
	size_t n_params, n_trainable;
	cnn_tensor_slot *tensors; /* every named slice, in arena order */
	int n_tensors;
	double *stats;  /* the batch totals of batch-statistics layers */
	int n_sync;     /* how many layers have batch statistics */
	int *sync;      /* their indexes, ascending */
	int grad_act;   /* the activation the loss writes its gradient into */
	float *params, *grads, *m1, *m2, *best;
	float *weights; /* the arena the layers compute with: params or best */
	int has_best;

	/* Training state. */
	int epoch;     /* epochs completed */
	uint64_t step; /* optimiser steps */
	/* Batches in one epoch, ceil(training samples / batch_size), set by
	 * cnn_model_train: the learning-rate schedule counts epochs in steps
	 * with it. 0 until then (the schedule then takes 1). */
	size_t batches_per_epoch;
	cnn_rng rng;   /* for shuffling (and init, before training); when
	                  epoch_pos > 0, its state at the start of the epoch
	                  in progress, which resuming shuffles again */
	/* An epoch interrupted by a save (checkpoint.every_batches, a stop
	 * request): the training samples done in epoch + 1 and the sums of
	 * their loss, correct predictions and seconds. All 0 between epochs. */
	uint64_t epoch_pos;
	int loaded_version; /* of the checkpoint loaded, 0 if none */
	double epoch_loss;
	uint64_t epoch_correct;
	double epoch_seconds;
	int best_epoch;
	double best_accuracy;
	cnn_epoch_metrics *history;
	int n_history;

	/* Buffers for one batch of up to batch_cap samples. */
	int batch_cap;
	float **act;     /* act[0] = input, act[i+1] = output of layer i */
	float **dact;    /* gradients, same shapes */
	uint8_t *labels; /* the batch's labels */

	/* A batch is cut into chunks (cnn_chunk_plan) that threads process
	 * whole, each into its own gradient arena; the arenas are then summed
	 * in chunk order, so the result does not depend on the thread count. */
	int n_chunks; /* allocated */
	cnn_chunk *chunks;
};

/* Builds the graph from model->spec: shape inference layer by layer (errors
 * name the layer and its YAML position), the tensors, the parameter arenas,
 * initialisation from m->rng (layer order, weight then bias; state from
 * each kind's reset_state). */
cnn_status cnn_graph_build(cnn_model *m, cnn_error *err);
/* (Re)allocates the batch buffers for batches of up to n samples. */
cnn_status cnn_graph_reserve(cnn_model *m, int n, cnn_error *err);
/* Forward pass in evaluation mode of n samples in m->act[0], the chunks in
 * parallel; returns the output (probabilities when the last layer is
 * softmax). */
const float *cnn_graph_forward(cnn_model *m, int n);
/* Makes the layers compute with the weights in arena (m->params or m->best). */
void cnn_graph_use(cnn_model *m, float *arena);
/* Frees the arenas and batch buffers. */
void cnn_graph_free(cnn_model *m);

/* Forward in training mode, loss and backward for the n samples in act[0]
 * labelled m->labels: overwrites m->grads with the batch loss's gradient
 * (per loss.reduction) and returns the summed loss; adds the number of
 * correct predictions to *correct. Updates batch-statistics layers' running
 * state. Deterministic whatever the number of threads. */
double cnn_graph_gradient(cnn_model *m, int n, size_t *correct);

/* The loss (loss.c) of the samples [s0, s0 + n) of the batch, from the
 * graph's output in m->act and the labels in m->labels: returns their
 * summed loss and adds their correct (argmax) predictions to *correct, and
 * to confusion (classes x classes, row = label) if not NULL. If grad is not
 * NULL, writes g times the gradient of their loss with respect to
 * act[m->grad_act] into grad's rows [s0, s0 + n). */
double cnn_loss_chunk(const cnn_model *m, int s0, int n, float g, float *grad,
                      size_t *correct, uint64_t *confusion);
/* The activation whose gradient cnn_loss_chunk writes: the logits (the
 * softmax's input) for cross_entropy, fused with the softmax, else the
 * output. Checks that the last layer suits the loss. */
cnn_status cnn_loss_check(cnn_model *m, cnn_error *err);

/* One optimiser step on the trainable parameters with the gradients in
 * m->grads (which it may clip and add L2 decay to, in place). */
void cnn_optim_step(cnn_model *m);
/* The learning rate of optimiser step m->step (1 for the first step), from
 * optimizer.learning_rate, the schedule and its warm-up. (optim.c) */
double cnn_optim_rate(const cnn_model *m);
/* Whether early stopping (training.early_stopping) ends training after the
 * epochs in m->history; if so, and the pointers are not NULL, the epoch of
 * the last improvement, its accuracy and the set it was measured on
 * ("validation", "test" or "training"). (optim.c) */
int cnn_early_stop(const cnn_model *m, int *best_epoch, double *best_accuracy,
                   const char **set);

/* A model with everything but the graph, from a tree (used by
 * cnn_model_from_yaml and the checkpoint loader). Takes ownership of tree. */
cnn_status cnn_model_from_tree(cnn_model **out, cnn_tree *tree, cnn_error *err);

/* Checks that a checkpoint can be written at path before training starts:
 * path is a regular file or absent, and a temporary file can be created in
 * its folder (it is removed). CNN_ERR_IO "PATH: cannot write checkpoint:
 * REASON" otherwise. */
cnn_status cnn_checkpoint_check_target(const char *path, cnn_error *err);

/* Builds a model from the bytes of a checkpoint file (file_len bytes, read
 * from path, which only names it in messages), as cnn_model_load does.
 * Order: decompress, verify every record, parse the embedded description
 * and apply the overrides, build the model, then copy tensors and state
 * into it. Damage is CNN_ERR_CORRUPT naming the file and what was being
 * read (an embedded description that does not parse, or does not build
 * without overrides, too); errors in the overrides keep their own status. */
cnn_status cnn_checkpoint_parse(cnn_model **out, const uint8_t *file,
                                size_t file_len, const char *path,
                                const char *const *overrides, int n_overrides,
                                cnn_error *err);

/* Writes n bytes to path atomically (checkpoint.c, also used by image.c):
 * into a temporary file "PATH.tmp.XXXXXX" beside it, fsync'ed, renamed over
 * PATH, then the folder fsync'ed. On failure PATH is untouched, the
 * temporary file is removed and -1 is returned with errno set, or -2 if
 * PATH exists but is not a regular file. The new file keeps the mode of the
 * one it replaces, else 0666 & ~umask. */
int cnn_write_atomically(const char *path, const uint8_t *data, size_t n);

/* ======================================================================== */
/* Little-endian encoding (bytes.h is header-only; see checkpoint.c)        */

#endif /* CNN_INTERNAL_H */

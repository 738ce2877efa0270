/*
 * model.h - the model: the validated spec (spec.c), the graph (graph.c), the
 * loss (loss.c), the optimiser (optim.c), training (train.c), building and
 * freeing (model.c) and checkpoints (checkpoint.c).
 */
#ifndef CNN_MODEL_H
#define CNN_MODEL_H

#include "data.h"
#include "layer.h"
#include "schema.h"

typedef enum cnn_loss_type {
	CNN_LOSS_CROSS_ENTROPY,
	CNN_LOSS_MSE
} cnn_loss_type;
typedef enum cnn_reduction { CNN_REDUCE_MEAN, CNN_REDUCE_SUM } cnn_reduction;
/* The optimiser (optimizer.type), in the order of cnn_opt_names. */
typedef enum cnn_opt_type {
	CNN_OPT_ADAM,
	CNN_OPT_ADAMW,
	CNN_OPT_SGD,
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
	char format[8];            /* "idx", "csv" or "folder" */
	char images[CNN_PATH_MAX]; /* idx */
	char labels[CNN_PATH_MAX]; /* idx */
	char path[CNN_PATH_MAX];   /* csv, folder */
	int resize;                /* folder: cnn_resize, 0 none */
	int skip_bad;              /* folder: skip unreadable images */
	int header;                /* csv: 1, 0, -1 detect */
	int label_column;          /* csv */
	double scale;              /* pixel multiplier, default 1/255 */
	long limit;                /* use only the first limit samples; 0 all */
	int shift; /* augment.shift (train only): the largest random shift in
	              pixels, 0..8; 0 off */
	int crop;  /* augment.crop.padding (train only): a random crop after
	              zero padding by this, 0..8; 0 off */
	int flip;  /* augment.flip (train only): 1 horizontal, 0 none */
} cnn_data_spec;

typedef struct cnn_spec {
	char name[CNN_NAME_MAX];
	char notes[512]; /* what was adjusted to fit, for the user ("" none) */
	int input[3];    /* channels, height, width */

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

	int epochs;       /* 10 */
	int batch_size;   /* 32 */
	int shuffle;      /* 1 */
	uint64_t seed;    /* 1 */
	cnn_keep keep;    /* best */
	int patience;     /* early stopping: 0 off, else epochs to wait */
	double min_delta; /* early stopping: the least improvement, 0 */

	cnn_data_spec train, test;
	double validation; /* 0: none; < 1: fraction; >= 1: count */
	/* data.classes: the classes' names in label order (pointing into the
	 * tree), or NULL when the description names none */
	const char **classes;
	int n_classes;
	float *normalize; /* data.normalize: input[0] means, then input[0]
	                     stds (each > 0); NULL none. Owned. */

	/* init (fine-tuning): the mapping (NULL: none), its checkpoint
	 * (resolved) and whether tensors is all_matching (else a list of
	 * names, read from the mapping) */
	const cnn_node *init;
	char init_from[CNN_PATH_MAX];
	int init_all;

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

/* The names of the optimisers and of training.keep, indexed by cnn_opt_type
 * and cnn_keep (NULL-terminated; spec.c). */
extern const char *const cnn_opt_names[];
extern const char *const cnn_keep_names[];

/* The optimiser's hyperparameters that apply to its type, from the table
 * spec.c validates them with, in its order: learning_rate, the type's own
 * (adam, adamw: beta1, beta2, epsilon, epsilon_inside_sqrt,
 * bias_correction; sgd: momentum, nesterov; rmsprop: epsilon, momentum,
 * alpha), weight_decay, clip_norm, then the schedule's ("schedule.gamma",
 * ...; warmup_epochs only when not 0). Fills up to max names and values;
 * returns how many there are. */
int cnn_spec_optimizer_params(const cnn_spec *s, const char **names,
                              double *values, int max);

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
	double loss;    /* summed loss of the chunk */
	size_t correct; /* correct predictions in the chunk */
} cnn_chunk;

#define CNN_MAX_CHUNKS 32 /* chunks in a batch, at most */

/* A piece of the trainable parameters that the fused optimiser step takes
 * whole (cnn_optim_step_sum): floats [off, off + n). layer < 0: its gradient
 * is summed from the chunks' arenas. layer >= 0: it is rows [row0, row0 +
 * rows) of that layer's weight, whose gradient a deferred backward leaves
 * to cnn_graph_seg_grad. */
typedef struct cnn_seg {
	size_t off, n;
	int layer, row0, rows;
} cnn_seg;
/* The most floats in a segment (a buffer of it is on the step's
 * stack). */
#define CNN_SEG_MAX 16384

/* A batch's gradient after cnn_graph_backprop, as the fused step reads it:
 * the chunks' arenas, added in chunk order, and, when deferred, the weight
 * gradients that backward left to cnn_graph_seg_grad. */
typedef struct cnn_grad_parts {
	const float *part[CNN_MAX_CHUNKS];
	int count;    /* arenas */
	int n;        /* samples in the batch */
	int deferred; /* as given to cnn_graph_backprop */
} cnn_grad_parts;

/* How a batch of n samples is cut: *count chunks of *size samples (the last
 * one smaller), at most CNN_MAX_CHUNKS. Depends on n only, never on the
 * number of threads. */
void cnn_chunk_plan(int n, int *count, int *size);

/* Where a fine-tuned model's first weights came from (init:, see
 * finetune.c), kept in checkpoints (record INIT). from NULL: none. */
typedef struct cnn_init_record {
	char *from;   /* the source checkpoint, resolved */
	char *model;  /* its model's name */
	int epoch;    /* its epochs completed */
	int n_copied; /* tensors copied, their names: */
	char **copied;
	/* all_matching, in the run that copied: the model's tensors not
	 * copied and why ("NAME (not in the source), ..."); NULL otherwise */
	char *skipped;
} cnn_init_record;

/* Frees what r holds and zeroes it. (finetune.c) */
void cnn_init_record_free(cnn_init_record *r);
/* Copies the tensors that m->spec.init names from its source checkpoint
 * into m, built from its description and not trained, and records where
 * they came from in m->init. Nothing to do without init. Errors: the
 * loader's, prefixed "init.from: " at that key; a tensor missing on
 * either side or of another shape (an explicit list), or no tensor in
 * common (all_matching): CNN_ERR_CONFIG at init.tensors. */
cnn_status cnn_finetune_apply(cnn_model *m, cnn_error *err);

struct cnn_model {
	cnn_tree tree; /* the description, after overrides */
	char *yaml;    /* tree emitted as text */
	cnn_spec spec;
	int n_layers;
	cnn_layer *layers; /* == spec.layers */
	int classes;
	char **class_names; /* classes names, or NULL (cnn_model_class_name) */

	/* Arenas of n_params floats, same order: the n_trainable parameters
	 * (layer by layer, weight then bias, each weight 64-byte aligned after
	 * a gap of zeros), then the layers' state. */
	size_t n_params, n_trainable;
	cnn_tensor_slot *tensors; /* every named slice, in arena order */
	int n_tensors;
	double *stats; /* the batch totals of batch-statistics layers */
	int n_sync;    /* how many layers have batch statistics */
	int *sync;     /* their indexes, ascending */
	int grad_act;  /* the activation the loss writes its gradient into */
	float *params, *grads, *m1, *m2, *best;
	float *weights; /* the arena the layers compute with: params or best */
	int has_best;
	cnn_init_record init; /* fine-tuning provenance */

	/* Training state. */
	int epoch;     /* epochs completed */
	uint64_t step; /* optimiser steps */
	/* Batches in one epoch, ceil(training samples / batch_size), set by
	 * cnn_model_train: the learning-rate schedule counts epochs in steps
	 * with it. 0 until then (the schedule then takes 1). */
	size_t batches_per_epoch;
	cnn_rng rng; /* for shuffling (and init, before training); when
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
	/* Set by train.c for the length of one pass (NULL otherwise): fills
	 * the batch's samples [a, b), their inputs into x (sample a first)
	 * unless x is NULL, their labels into labels (likewise) unless it is
	 * NULL. Each chunk's thread calls it for the chunk's samples just
	 * before its forward, so a sample is written by the core that reads
	 * it, and the pass needs no separate parallel loop (nor its wait) to
	 * fill the batch. */
	void (*fill)(void *ctx, long a, long b, float *x, uint8_t *labels);
	void *fill_ctx;
	/* A pass split by rows (split_forward) with fill set leaves act[0]
	 * alone: each thread fills the whole batch's inputs into its own
	 * buffer, own_x[cnn_pool_self()] (n_own of them, of batch_cap
	 * samples), and reads them from its own cache; own_pass[t] is the
	 * pass (pass_id) buffer t was filled for. */
	float **own_x;
	uint64_t *own_pass, pass_id;
	int n_own;

	/* A batch is cut into chunks (cnn_chunk_plan) that threads process
	 * whole, each into its own gradient arena; the arenas are then summed
	 * in chunk order, so the result does not depend on the thread count. */
	int n_chunks; /* allocated */
	cnn_chunk *chunks;
	/* The trainable parameters cut for the optimiser step's threads,
	 * in order (cnn_graph_build). */
	cnn_seg *segs;
	int n_segs;
	/* The layer a training pass runs by rows (forward_rows) before the
	 * chunks, its segments segs[split_lo, split_hi); -1: none. The
	 * chunks' forward starts at pass_from (split + 1 in such a pass,
	 * else 0). */
	int split, split_lo, split_hi, pass_from;
	int split_always; /* tests: split even when the pool is not quiet */
};

/* The factor cnn_model_predict multiplies pixel bytes by: the training
 * data's scale, else the test data's, else 1/255. */
double cnn_model_scale(const cnn_model *m);

/* The arena of the weights used after training, by cnn_model_evaluate,
 * cnn_model_predict and the exporters: the best epoch's when
 * training.keep is best and there is one, else the current ones (laid out
 * as params; the layers' state, e.g. batchnorm's running statistics,
 * included). */
float *cnn_model_kept(const cnn_model *m);

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

/* One layer's pass on chunk k's samples [s0, s0 + n) of the batch in
 * m->act, as the training pass runs it (chunk k's pass must be set): i's
 * forward reads the activations it runs on; its backward (when
 * backward_needed) writes or adds its inputs' wanted gradients. For
 * timing single layers (the bench). */
void cnn_graph_layer_forward(cnn_model *m, cnn_chunk *k, int i, size_t s0,
                             int n);
void cnn_graph_layer_backward(cnn_model *m, cnn_chunk *k, int i, size_t s0,
                              int n);
/* Forward in training mode, loss and backward for the n samples in act[0]
 * labelled m->labels: overwrites m->grads with the batch loss's gradient
 * (per loss.reduction) and returns the summed loss; adds the number of
 * correct predictions to *correct. Updates batch-statistics layers' running
 * state. Deterministic whatever the number of threads. */
double cnn_graph_gradient(cnn_model *m, int n, size_t *correct);
/* cnn_graph_gradient in two halves: backprop leaves each chunk's gradient
 * in its own arena (and returns the loss, adds the right answers); fold
 * sums the arenas into m->grads, over the processes too. In one process,
 * cnn_graph_parts lists the arenas instead, for cnn_optim_step_sum to add
 * as it reads them; then backprop may also defer: the weight gradients of
 * layers with a weight_grad op are left out of the arenas, for
 * cnn_graph_seg_grad to compute in the step; and, with several threads,
 * it runs the split layer (m->split) by rows before the chunks, which the
 * step then updates row for row on the same threads. */
double cnn_graph_backprop(cnn_model *m, int n, size_t *correct, int defer);
void cnn_graph_fold(cnn_model *m, int n);
void cnn_graph_parts(const cnn_model *m, int n, int deferred,
                     cnn_grad_parts *gp);
/* The gradient of deferred segment s (s->layer >= 0) over the batch of gp:
 * each chunk's rows by the layer's weight_grad, folded in chunk order into
 * out (s->n floats), with the bits the arenas' sum would have. */
void cnn_graph_seg_grad(const cnn_model *m, const cnn_grad_parts *gp,
                        const cnn_seg *s, float *out);

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
 * m->grads (which it may clip and add L2 decay to, in place). Returns
 * nonzero if a trainable parameter is now NaN or infinite. */
int cnn_optim_step(cnn_model *m);
/* The same step with the gradient of gp (cnn_graph_parts: the arenas
 * added in chunk order, the deferred segments computed; m->grads
 * untouched), or, when gp is NULL, m->grads. clip_norm needs m->grads. */
int cnn_optim_step_sum(cnn_model *m, const cnn_grad_parts *gp);
/* The learning rate of optimiser step m->step (1 for the first step), from
 * optimizer.learning_rate, the schedule and its warm-up. (optim.c) */
double cnn_optim_rate(const cnn_model *m);
/* Whether early stopping (training.early_stopping) ends training after the
 * epochs in m->history; if so, and the pointers are not NULL, the epoch of
 * the last improvement, its accuracy and the set it was measured on
 * ("validation", "test" or "training"). (train.c) */
int cnn_early_stop(const cnn_model *m, int *best_epoch, double *best_accuracy,
                   const char **set);
/* The source cnn_dataset_load reads for the data set ds of m (data.train,
 * data.test): its files and format, the model's input shape and classes,
 * the set's limit. (train.c) */
void cnn_data_source_of(const cnn_model *m, const cnn_data_spec *ds,
                        cnn_data_source *src);

/* Copies the names of m->classes classes into m, replacing any. */
cnn_status cnn_model_set_class_names(cnn_model *m, const char *const *names,
                                     cnn_error *err);

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

#endif /* CNN_MODEL_H */

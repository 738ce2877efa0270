/*
 * train.c - the training loop, evaluation and prediction.
 *
 * One epoch: shuffle the training indices with the model's RNG, run the
 * mini-batches (the last one partial), then evaluate on the validation split
 * and the test set, record the metrics, keep the best weights and save a
 * checkpoint; stop early when the selected accuracy has not improved for
 * training.early_stopping.patience epochs. Everything that changes the weights
 * is deterministic: the RNG is our own and the kernels never split a sum
 * between threads.
 *
 * Resuming is exact: every epoch's order is the base order permuted by the
 * RNG alone, so a checkpoint needs only the RNG's state at the start of the
 * epoch and the number of samples done in it (plus the weights, moments and
 * step) to continue as if it had never stopped.
 */
#define _POSIX_C_SOURCE 200809L
#include "dist.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The training, validation and test samples of one run. */
typedef struct run_data {
	cnn_dataset *train, *test;
	size_t *base;  /* training indices (the validation split removed) */
	size_t *order; /* base, shuffled for the epoch in progress */
	size_t n_train;
	size_t *val; /* held-out training indices */
	size_t n_val;
} run_data;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sets the thread count: threads when positive, else the default of one of
 * several processes (cnn_dist_threads), else the pool's (every processor
 * this process may run on). */
static void set_threads(int threads)
{
	if (threads <= 0)
		threads = cnn_dist_threads();
	cnn_pool_set_threads(threads);
}

/* Loads the data set described by ds (train or test) for model m. */
void cnn_data_source_of(const cnn_model *m, const cnn_data_spec *ds,
                        cnn_data_source *src)
{
	memset(src, 0, sizeof *src);
	src->format = ds->format;
	src->images = ds->images;
	src->labels = ds->labels;
	src->path = ds->path;
	src->header = ds->header;
	src->label_column = ds->label_column;
	memcpy(src->shape, m->spec.input, sizeof src->shape);
	src->classes = m->classes;
	src->limit = ds->limit;
	src->resize = ds->resize;
	src->skip_bad = ds->skip_bad;
	src->class_names = (const char *const *)m->class_names;
}

/* Loads the data set ds describes into *out, telling on_load (if not NULL)
 * how a folder's loading goes. The first folder set loaded by a model
 * without class names gives it its folders' names. */
static cnn_status load_set(cnn_model *m, const cnn_data_spec *ds,
                           cnn_dataset **out, const cnn_train_options *opts,
                           cnn_error *err)
{
	cnn_data_source src;
	const char *const *names;

	cnn_data_source_of(m, ds, &src);
	if (opts) {
		src.on_load = opts->on_load;
		src.user = opts->user;
	}
	if (cnn_dataset_load(out, &src, err) != CNN_OK)
		return err->status;
	names = (const char *const *)(*out)->names;
	if (!m->class_names && names)
		return cnn_model_set_class_names(m, names, err);
	return CNN_OK;
}

static void run_data_free(run_data *d)
{
	cnn_dataset_free(d->train);
	cnn_dataset_free(d->test);
	free(d->base);
	free(d->order);
	free(d->val);
	memset(d, 0, sizeof *d);
}

/* Loads the training and test sets and splits off the validation samples:
 * the last k of a permutation drawn from an RNG seeded with training.seed
 * (not the model's RNG, so the split is the same on resume). */
static cnn_status run_data_load(cnn_model *m, run_data *d,
                                const cnn_train_options *opts, cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	memset(d, 0, sizeof *d);
	if (!s->train.present)
		return cnn_err_set(err, CNN_ERR_CONFIG, m->tree.file, 0, 0,
		                   "data.train",
		                   "missing: training needs a training set");
	if (load_set(m, &s->train, &d->train, opts, err) != CNN_OK)
		goto fail;
	if (s->test.present &&
	    load_set(m, &s->test, &d->test, opts, err) != CNN_OK)
		goto fail;

	size_t n = d->train->n, k = 0;
	if (s->validation >= 1.0)
		k = (size_t)s->validation;
	else if (s->validation > 0.0)
		k = (size_t)llround(s->validation * (double)n);
	if (k >= n) {
		const cnn_node *v = cnn_map_get(
		    cnn_map_get(m->tree.root, "data"), "validation");
		cnn_node_error(err, v, "data.validation",
		               "holding out %zu samples leaves none of the %zu "
		               "training samples",
		               k, n);
		goto fail;
	}
	d->order = malloc((n ? n : 1) * sizeof *d->order);
	d->val = malloc((k ? k : 1) * sizeof *d->val);
	if (!d->order || !d->val) {
		cnn_err(err, CNN_ERR_NOMEM,
		        "out of memory for %zu sample indices", n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		d->order[i] = i;
	if (k) {
		/* mark the held-out samples, then compact the rest in order */
		cnn_rng r;
		cnn_rng_seed(&r, s->seed ^ 0x5f3759dfULL);
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)cnn_rng_below(&r, i + 1);
			size_t t = d->order[i];
			d->order[i] = d->order[j];
			d->order[j] = t;
		}
		memcpy(d->val, d->order + (n - k), k * sizeof *d->val);
		unsigned char *held = calloc(n, 1);
		if (!held) {
			cnn_err_nomem(err, NULL, NULL);
			goto fail;
		}
		for (size_t i = 0; i < k; i++)
			held[d->val[i]] = 1;
		size_t t = 0;
		for (size_t i = 0; i < n; i++)
			if (!held[i])
				d->order[t++] = i;
		free(held);
	}
	d->n_train = n - k;
	d->n_val = k;
	d->base = malloc((n ? n : 1) * sizeof *d->base);
	if (!d->base) {
		cnn_err(err, CNN_ERR_NOMEM,
		        "out of memory for %zu sample indices", n);
		goto fail;
	}
	memcpy(d->base, d->order, d->n_train * sizeof *d->base);
	return CNN_OK;
fail:
	run_data_free(d);
	return err->status;
}

/* What fill_samples fills: the batch's samples [a, b). aug: the training
 * set's augmentation (NULL: none). */
typedef struct fill_job {
	cnn_model *m;
	const cnn_dataset *ds;
	const size_t *idx;
	size_t first;
	float scale;
	const cnn_data_spec *aug;
} fill_job;

static void fill_samples(void *ctx, long a, long b, float *x, uint8_t *labels)
{
	const fill_job *j = ctx;
	const size_t sz = j->ds->sample_size;
	const uint64_t seed = j->m->spec.seed;
	const uint64_t epoch = (uint64_t)j->m->epoch + 1;
	const cnn_data_spec *aug = j->aug;
	/* the samples of a shuffled set are anywhere in memory: ask for
	 * them all at once rather than wait for each in turn */
	for (long k = a; x && j->idx && k < b; k++)
		cnn_prefetch(j->ds->pixels + j->idx[j->first + (size_t)k] * sz,
		             sz);
	for (long k = a; k < b; k++) {
		size_t s = (size_t)k;
		size_t i = j->idx ? j->idx[j->first + s] : j->first + s;
		if (labels)
			labels[s - (size_t)a] = j->ds->labels[i];
		if (!x)
			continue;
		int dy = 0, dx = 0, cy, cx, flip = 0;
		if (aug) {
			cnn_augment_draw(seed, epoch, i, aug->shift, &dy, &dx);
			cnn_augment_draw_crop(seed, epoch, i, aug->crop, &cy,
			                      &cx);
			dy += cy;
			dx += cx;
			flip =
			    aug->flip && cnn_augment_draw_flip(seed, epoch, i);
		}
		cnn_augment_sample(
		    x + (s - (size_t)a) * sz, j->ds->pixels + i * sz,
		    j->ds->shape, j->scale, j->m->spec.normalize, dy, dx, flip);
	}
}

/* Fills the batch's samples from a data set, left to the graph's pass
 * (cnn_model's fill): each chunk, just before its forward, turns the bytes
 * of its samples idx[first+a..first+b) (or first+a..first+b when idx is
 * NULL) into the inputs the pass asks for (act[0], or a thread's own copy
 * of the batch in a split pass), scaled, then normalised by
 * data.normalize, and copies their labels into m->labels, at positions
 * a..b of the batch. With aug
 * (training samples only), each sample i is shifted and cropped by the (dy, dx)
 * that cnn_augment_draw and cnn_augment_draw_crop give for (training.seed,
 * epoch m->epoch + 1, i), added, then flipped when aug->flip and
 * cnn_augment_draw_flip say so: a function of the sample alone, so the batch is
 * the same whatever the thread count or a resume. j must outlive the pass;
 * fill_done ends it. */
static void fill_in_pass(cnn_model *m, fill_job *j)
{
	m->fill = fill_samples;
	m->fill_ctx = j;
}

static void fill_done(cnn_model *m)
{
	m->fill = NULL;
	m->fill_ctx = NULL;
}

/* Mean loss and accuracy of the current layer weights over samples idx (or
 * all of ds when idx is NULL); fills confusion if not NULL. The batches are
 * shared out between the processes; the losses are added in batch order,
 * as one process adds them. */
static void evaluate_set(cnn_model *m, const cnn_dataset *ds, const size_t *idx,
                         size_t count, float scale, double *loss, double *acc,
                         uint64_t *confusion)
{
	const size_t cap = (size_t)m->batch_cap;
	const int batches = (int)((count + cap - 1) / cap);
	double total = 0.0;
	size_t correct = 0;
	int lo, hi;

	cnn_dist_share(batches, &lo, &hi);
	/* each batch's loss is kept, so that this process evaluates its share
	 * before it waits for the earlier processes' running sum (without the
	 * memory, it waits first: the same sum, later) */
	double *part = malloc((size_t)(hi > lo ? hi - lo : 1) * sizeof *part);
	if (!part)
		cnn_dist_fold_recv(&total, 1, CNN_DIST_DOUBLE, batches);
	for (int b = lo; b < hi; b++) {
		size_t first = (size_t)b * cap;
		int n = (int)(count - first < cap ? count - first : cap);
		fill_job j = {m, ds, idx, first, scale, NULL};
		fill_in_pass(m, &j);
		cnn_graph_forward(m, n);
		fill_done(m);
		double l =
		    cnn_loss_chunk(m, 0, n, 0.0f, NULL, &correct, confusion);
		if (part)
			part[b - lo] = l;
		else
			total += l;
	}
	if (part) {
		cnn_dist_fold_recv(&total, 1, CNN_DIST_DOUBLE, batches);
		for (int b = lo; b < hi; b++)
			total += part[b - lo];
		free(part);
	}
	cnn_dist_fold_pass(&total, 1, CNN_DIST_DOUBLE, batches);
	uint64_t right = correct;
	cnn_dist_sum_u64(&right, 1);
	if (confusion)
		cnn_dist_sum_u64(confusion,
		                 (size_t)m->classes * (size_t)m->classes);
	*loss = count ? total / (double)count : 0.0;
	*acc = count ? (double)right / (double)count : 0.0;
}

/* One optimiser step on the mini-batch of training samples
 * order[first..first+n). Returns the summed loss of the batch; sets *wild
 * when a trainable parameter is now NaN or infinite. */
static double train_batch(cnn_model *m, const run_data *d, size_t first, int n,
                          size_t *correct, int *wild)
{
	/* each chunk of this process fills its own samples */
	fill_job j = {m,
	              d->train,
	              d->order,
	              first,
	              (float)m->spec.train.scale,
	              &m->spec.train};
	fill_in_pass(m, &j);
	/* In one process and without clipping, the arenas are summed as the
	 * step reads them, and the weight gradients of dense layers are
	 * computed there too: one pass over the parameters. */
	const int fused = cnn_dist_size() == 1 && !(m->spec.clip_norm > 0);
	double loss = cnn_graph_backprop(m, n, correct, fused);
	fill_done(m);
	if (fused) {
		cnn_grad_parts gp;
		cnn_graph_parts(m, n, 1, &gp);
		*wild = cnn_optim_step_sum(m, &gp);
	} else {
		cnn_graph_fold(m, n);
		*wild = cnn_optim_step(m);
	}
	return loss;
}

/* Appends one epoch's metrics to the model's history. */
static cnn_status push_history(cnn_model *m, const cnn_epoch_metrics *e,
                               cnn_error *err)
{
	cnn_epoch_metrics *h =
	    realloc(m->history, ((size_t)m->n_history + 1) * sizeof *h);
	if (!h)
		return cnn_err_nomem(err, NULL, NULL);
	h[m->n_history++] = *e;
	m->history = h;
	return CNN_OK;
}

/* Sets the order of the epoch about to start (or resumed in its middle,
 * m->rng then being the state the epoch started with): the base order,
 * permuted with the model's RNG when training.shuffle is on. */
static void shuffle(cnn_model *m, run_data *d)
{
	memcpy(d->order, d->base, d->n_train * sizeof *d->order);
	if (!m->spec.shuffle)
		return;
	for (size_t i = d->n_train - 1; i > 0 && d->n_train; i--) {
		size_t j = (size_t)cnn_rng_below(&m->rng, i + 1);
		size_t t = d->order[i];
		d->order[i] = d->order[j];
		d->order[j] = t;
	}
}

/* Whether the caller asked training to stop, in any of the processes (so
 * that all stop after the same batch). */
static int stop_requested(const cnn_train_options *opts)
{
	return cnn_dist_any(opts && opts->stop && *opts->stop);
}

/* Saves the checkpoint: rank 0 writes it, and every process gets its
 * outcome. */
static cnn_status save(cnn_model *m, const char *ckpt, cnn_error *err)
{
	if (cnn_dist_writer())
		cnn_model_save(m, ckpt, err);
	return cnn_dist_agree(err);
}

/* Index of the first NaN or infinite value of the n in p, or n if none. */
static size_t first_nonfinite(const float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(p[i]))
			return i;
	return n;
}

/* Writes "NAME[i]" for element k of the arenas into buf. */
static void param_name(const cnn_model *m, size_t k, char *buf, size_t size)
{
	for (int i = 0; i < m->n_tensors; i++) {
		const cnn_tensor_slot *t = &m->tensors[i];
		if (k >= t->off && k - t->off < t->n) {
			snprintf(buf, size, "%s[%zu]", t->name, k - t->off);
			return;
		}
	}
	snprintf(buf, size, "parameter %zu", k);
}

/* Saves in the middle of an epoch: the checkpoint holds the RNG state the
 * epoch started with (start), so that resuming shuffles the same order,
 * and m->epoch_pos etc. say how far the epoch got. */
static cnn_status save_in_epoch(cnn_model *m, const cnn_rng *start,
                                const char *ckpt, cnn_error *err)
{
	cnn_rng now = m->rng;
	m->rng = *start;
	cnn_status st = save(m, ckpt, err);
	m->rng = now;
	return st;
}

/* Runs the mini-batches of epoch m->epoch + 1 from sample m->epoch_pos to
 * the end, accumulating into m->epoch_*. Within the epoch, saves every
 * checkpoint.every_batches batches, and saves then stops
 * (CNN_ERR_INTERRUPTED) when a stop is requested before the last batch.
 * A non-finite loss or weight is CNN_ERR_DIVERGED, with nothing saved. */
static cnn_status train_epoch(cnn_model *m, run_data *d, const char *ckpt,
                              const cnn_train_options *opts, cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	const int epoch = m->epoch + 1, every = s->checkpoint_every_batches;
	const size_t bs = (size_t)s->batch_size;
	const size_t batches = (d->n_train + bs - 1) / bs;
	const cnn_rng start = m->rng;
	const double t0 = now_seconds(), seconds0 = m->epoch_seconds;

	shuffle(m, d);
	for (size_t first = m->epoch_pos; first < d->n_train;) {
		size_t left = d->n_train - first, correct = 0, bad;
		int n = left < bs ? (int)left : (int)bs, wild;
		size_t batch = first / bs + 1;
		double bl = train_batch(m, d, first, n, &correct, &wild);
		char what[CNN_NAME_MAX + 48];

		/* nothing is saved after divergence: the file keeps the last
		 * good state */
		if (!isfinite(bl))
			return cnn_err_file(
			    err, CNN_ERR_DIVERGED, ckpt,
			    "training diverged: the loss is %s in epoch %d, "
			    "batch %zu; this checkpoint keeps the last good "
			    "state",
			    isnan(bl) ? "NaN" : "infinite", epoch, batch);
		/* the step checked the weights it wrote; the layers' state
		 * after them (batchnorm's running statistics) is small */
		bad = wild ? first_nonfinite(m->params, m->n_trainable)
		           : m->n_trainable;
		if (bad == m->n_trainable)
			bad += first_nonfinite(m->params + m->n_trainable,
			                       m->n_params - m->n_trainable);
		if (bad < m->n_params) {
			param_name(m, bad, what, sizeof what);
			return cnn_err_file(
			    err, CNN_ERR_DIVERGED, ckpt,
			    "training diverged: %s is %s after epoch %d, batch "
			    "%zu; this checkpoint keeps the last good state",
			    what, isnan(m->params[bad]) ? "NaN" : "infinite",
			    epoch, batch);
		}
		first += (size_t)n;
		m->epoch_pos = first;
		m->epoch_loss += bl;
		m->epoch_correct += correct;
		m->epoch_seconds = seconds0 + (now_seconds() - t0);
		if (opts && opts->on_batch) {
			cnn_batch_progress p = {
			    .epoch = epoch,
			    .epochs = s->epochs,
			    .batch = batch,
			    .batches = batches,
			    .samples = first,
			    .n_train = d->n_train,
			    .loss = m->epoch_loss / (double)first,
			    .accuracy =
			        (double)m->epoch_correct / (double)first,
			    .seconds = m->epoch_seconds,
			};
			opts->on_batch(&p, opts->user);
		}
		if (first == d->n_train)
			break; /* the end of the epoch: the caller saves */
		if (stop_requested(opts)) {
			if (save_in_epoch(m, &start, ckpt, err) != CNN_OK)
				return err->status;
			return cnn_err_file(
			    err, CNN_ERR_INTERRUPTED, ckpt,
			    "training stopped in epoch %d after "
			    "batch %zu of %zu; this checkpoint "
			    "holds that state",
			    epoch, batch, batches);
		}
		if (every && batch % (size_t)every == 0 &&
		    save_in_epoch(m, &start, ckpt, err) != CNN_OK)
			return err->status;
	}
	return CNN_OK;
}

/* ======================================================================== */
/* Early stopping                                                           */

/* The accuracy that picks the best epoch (for keep: best and for early
 * stopping): validation when there is a split, else test, else training. */
static double selected(const cnn_epoch_metrics *e, const char **set)
{
	if (e->val_accuracy >= 0) {
		*set = "validation";
		return e->val_accuracy;
	}
	if (e->test_accuracy >= 0) {
		*set = "test";
		return e->test_accuracy;
	}
	*set = "training";
	return e->train_accuracy;
}

/* Walks the history: the reference is the first epoch, replaced by any
 * later epoch whose accuracy exceeds it by more than min_delta. Training
 * stops once patience epochs have followed the reference (never with
 * patience 0). The reference is reported whenever the history is not
 * empty. Depends on the history alone, so a resumed run decides as the
 * uninterrupted one did. */
int cnn_early_stop(const cnn_model *m, int *best_epoch, double *best_accuracy,
                   const char **set)
{
	const cnn_spec *s = &m->spec;
	const cnn_epoch_metrics *h = m->history;
	const char *name = "training";
	int best = 0;

	if (m->n_history <= 0)
		return 0;
	double ref = selected(&h[0], &name);
	for (int i = 1; i < m->n_history; i++) {
		double a = selected(&h[i], &name);
		if (a > ref + s->min_delta) {
			ref = a;
			best = i;
		}
	}
	if (best_epoch)
		*best_epoch = h[best].epoch;
	if (best_accuracy)
		*best_accuracy = ref;
	if (set)
		*set = name;
	return s->patience > 0 && m->n_history - 1 - best >= s->patience;
}

/* The training state the tools report, early stopping included. */
void cnn_model_train_state(const cnn_model *m, cnn_train_state *out)
{
	out->epoch = m->epoch;
	out->epochs = m->spec.epochs;
	out->step = m->step;
	out->best_epoch = m->best_epoch;
	out->best_accuracy = m->best_accuracy;
	out->optimizer = cnn_opt_names[m->spec.optimizer];
	out->keep = cnn_keep_names[m->spec.keep];
	out->epoch_samples = m->epoch_pos;
	out->checkpoint_version = m->loaded_version;
	out->stop_best_epoch = 0;
	out->stop_best_accuracy = 0.0;
	out->monitored = NULL;
	out->stopped_early =
	    cnn_early_stop(m, &out->stop_best_epoch, &out->stop_best_accuracy,
	                   &out->monitored) &&
	    m->epoch < m->spec.epochs && m->epoch_pos == 0;
}

/* ======================================================================== */
/* Epochs                                                                   */

/* Ends epoch m->epoch + 1 after its last batch: evaluates on the
 * validation split and the test set, keeps the best weights, records the
 * metrics in the history and in *e, and resets the position in the epoch. */
static cnn_status finish_epoch(cnn_model *m, const run_data *d,
                               cnn_epoch_metrics *e, cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	const int epoch = m->epoch + 1;
	const double t0 = now_seconds();
	double l;

	memset(e, 0, sizeof *e);
	e->epoch = epoch;
	e->loss = m->epoch_loss / (double)d->n_train;
	e->train_accuracy = (double)m->epoch_correct / (double)d->n_train;
	e->test_accuracy = -1.0;
	e->val_accuracy = -1.0;
	if (d->n_val)
		evaluate_set(m, d->train, d->val, d->n_val,
		             (float)s->train.scale, &l, &e->val_accuracy, NULL);
	if (d->test)
		evaluate_set(m, d->test, NULL, d->test->n, (float)s->test.scale,
		             &l, &e->test_accuracy, NULL);
	const char *set;
	double sel = selected(e, &set);
	if (m->best_epoch == 0 || sel > m->best_accuracy) {
		m->best_epoch = epoch;
		m->best_accuracy = sel;
		if (s->keep == CNN_KEEP_BEST) {
			memcpy(m->best, m->params,
			       m->n_params * sizeof *m->best);
			m->has_best = 1;
		}
	}
	e->seconds = m->epoch_seconds + (now_seconds() - t0);
	m->epoch = epoch;
	m->epoch_pos = 0;
	m->epoch_loss = 0.0;
	m->epoch_correct = 0;
	m->epoch_seconds = 0.0;
	return push_history(m, e, err);
}

/* Refuses more processes than a full batch has chunks: each process must
 * own at least one. */
static cnn_status check_processes(const cnn_model *m, cnn_error *err)
{
	const int b = m->spec.batch_size, np = cnn_dist_size();
	int count, size;
	cnn_chunk_plan(b, &count, &size);
	if (np <= count)
		return CNN_OK;
	return cnn_node_error(
	    err,
	    cnn_map_get(cnn_map_get(m->tree.root, "training"), "batch_size"),
	    "training.batch_size",
	    "a batch of %d is cut into %d chunk%s of %d samples, fewer than "
	    "the %d processes, and each needs one: run at most %d, or make "
	    "the batch at least %d (a batch has at most 32 chunks)",
	    b, count, count == 1 ? "" : "s", size, np, count,
	    np <= 32 ? np * 16 : 32 * 16);
}

cnn_status cnn_model_train(cnn_model *m, const cnn_train_options *opts,
                           cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	const char *ckpt =
	    opts && opts->checkpoint ? opts->checkpoint : s->checkpoint;
	run_data d;

	cnn_err_clear(err);
	set_threads(opts ? opts->threads : 0);
	if (cnn_dist_writer())
		cnn_checkpoint_check_target(ckpt, err);
	if (cnn_dist_agree(err) != CNN_OK || check_processes(m, err) != CNN_OK)
		return err->status;
	run_data_load(m, &d, opts, err);
	if (cnn_dist_agree(err) != CNN_OK)
		goto out;
	cnn_graph_reserve(m, s->batch_size, err);
	if (cnn_dist_agree(err) != CNN_OK)
		goto out;
	cnn_graph_use(m, m->params);

	while (m->epoch < s->epochs) {
		cnn_epoch_metrics e;
		int epoch = m->epoch + 1, saved = 0;

		/* the learning-rate schedule counts epochs in steps with it */
		m->batches_per_epoch = (d.n_train + (size_t)s->batch_size - 1) /
		                       (size_t)s->batch_size;
		/* resumed after early stopping: it decides the same again */
		if (m->epoch_pos == 0 && cnn_early_stop(m, NULL, NULL, NULL))
			break;
		if (stop_requested(opts)) {
			/* before the epoch's first batch, or before the rest of
			 * a resumed one: m->rng is the epoch's start state */
			if (save(m, ckpt, err) == CNN_OK)
				cnn_err_file(
				    err, CNN_ERR_INTERRUPTED, ckpt,
				    "training stopped before epoch %d "
				    "ended; this checkpoint holds that "
				    "state",
				    epoch);
			goto out;
		}
		if (train_epoch(m, &d, ckpt, opts, err) != CNN_OK ||
		    finish_epoch(m, &d, &e, err) != CNN_OK)
			goto out;
		if (epoch % s->checkpoint_every == 0 || epoch == s->epochs) {
			if (save(m, ckpt, err) != CNN_OK)
				goto out;
			saved = 1;
		}
		int stop = cnn_dist_any(opts && opts->on_epoch &&
		                        opts->on_epoch(&e, opts->user));
		if (stop || (stop_requested(opts) && epoch < s->epochs)) {
			if (!saved && save(m, ckpt, err) != CNN_OK)
				goto out;
			cnn_err_file(err, CNN_ERR_INTERRUPTED, ckpt,
			             "training stopped after epoch %d; this "
			             "checkpoint holds that state",
			             epoch);
			goto out;
		}
		/* early stopping ends training as its last epoch would:
		 * saved, CNN_OK (cnn_model_train_state tells) */
		if (cnn_early_stop(m, NULL, NULL, NULL)) {
			if (!saved && save(m, ckpt, err) != CNN_OK)
				goto out;
			break;
		}
	}
out:
	run_data_free(&d);
	return err->status;
}

/* The pixel scale of predictions (contract in model.h). */
double cnn_model_scale(const cnn_model *m)
{
	const cnn_spec *s = &m->spec;
	return s->train.present  ? s->train.scale
	       : s->test.present ? s->test.scale
	                         : 1.0 / 255.0;
}

/* Reads an image fitted to m's input (contract in cnn.h): resized when the
 * training data (else the test data) says resize: bilinear. */
cnn_status cnn_model_read_image(const cnn_model *m, const char *path,
                                uint8_t **pixels, cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	const cnn_data_spec *ds = s->train.present ? &s->train : &s->test;
	size_t size = (size_t)s->input[0] * s->input[1] * s->input[2];
	uint8_t *px = NULL;
	int c, w, h;

	cnn_err_clear(err);
	*pixels = NULL;
	if (cnn_image_read(path, &px, &c, &w, &h, err) != CNN_OK)
		return err->status;
	*pixels = malloc(size);
	if (!*pixels)
		cnn_err_nomem(err, path, NULL);
	else if (cnn_image_fit(path, px, c, w, h, s->input,
	                       (cnn_resize)(ds->present ? ds->resize : 0),
	                       *pixels, err) != CNN_OK) {
		free(*pixels);
		*pixels = NULL;
	}
	free(px);
	return err->status;
}

/* The weights used after training (contract in model.h). */
float *cnn_model_kept(const cnn_model *m)
{
	return m->spec.keep == CNN_KEEP_BEST && m->has_best ? m->best
	                                                    : m->params;
}

cnn_status cnn_model_evaluate(cnn_model *m, int threads, cnn_eval_result *out,
                              cnn_error *err)
{
	cnn_dataset *test = NULL;
	memset(out, 0, sizeof *out);
	cnn_err_clear(err);
	set_threads(threads);
	if (!m->spec.test.present)
		return cnn_err_set(err, CNN_ERR_CONFIG, m->tree.file, 0, 0,
		                   "data.test",
		                   "missing: evaluation needs a test set");
	load_set(m, &m->spec.test, &test, NULL, err);
	if (cnn_dist_agree(err) != CNN_OK) {
		cnn_dataset_free(test);
		return err->status;
	}
	out->classes = m->classes;
	out->confusion =
	    calloc((size_t)m->classes * m->classes, sizeof *out->confusion);
	if (!out->confusion) {
		cnn_dataset_free(test);
		return cnn_err_nomem(err, NULL, NULL);
	}
	cnn_graph_reserve(m, m->spec.batch_size, err);
	if (cnn_dist_agree(err) == CNN_OK) {
		cnn_graph_use(m, cnn_model_kept(m));
		evaluate_set(m, test, NULL, test->n, (float)m->spec.test.scale,
		             &out->loss, &out->accuracy, out->confusion);
		cnn_graph_use(m, m->params);
		out->n = test->n;
	}
	cnn_dataset_free(test);
	return err->status;
}

void cnn_eval_result_free(cnn_eval_result *r)
{
	free(r->confusion);
	r->confusion = NULL;
}

cnn_status cnn_model_predict(cnn_model *m, const uint8_t *pixels, size_t n,
                             float *probs, cnn_error *err)
{
	const size_t sz = m->layers[0].in_size;
	const cnn_spec *s = &m->spec;
	float scale = (float)cnn_model_scale(m);
	cnn_err_clear(err);
	if (cnn_graph_reserve(m, s->batch_size, err) != CNN_OK)
		return err->status;
	cnn_graph_use(m, cnn_model_kept(m));
	for (size_t first = 0; first < n; first += (size_t)m->batch_cap) {
		int b = (int)(n - first < (size_t)m->batch_cap
		                  ? n - first
		                  : (size_t)m->batch_cap);
		for (size_t j = 0; j < (size_t)b; j++)
			cnn_augment_sample(m->act[0] + j * sz,
			                   pixels + (first + j) * sz, s->input,
			                   scale, s->normalize, 0, 0, 0);
		const float *y = cnn_graph_forward(m, b);
		memcpy(probs + first * m->classes, y,
		       (size_t)b * m->classes * sizeof *probs);
	}
	cnn_graph_use(m, m->params);
	return CNN_OK;
}

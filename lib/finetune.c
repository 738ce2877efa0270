/*
 * finetune.c - starting a model from another one's trained weights: the
 * description's init section ({from: CKPT, tensors: [NAME, ...] or
 * all_matching}) copies tensors by name and shape from the kept weights of
 * a checkpoint (its best epoch's when it kept the best) into a model just
 * built from its description, and records where they came from
 * (cnn_init_record, saved as the checkpoint record INIT).
 *
 * Invariants
 *  - It runs once, when a model is built from YAML (cnn_model_from_yaml),
 *    never when one is loaded from a checkpoint: resuming, --evaluate and
 *    --predict do not need the source file.
 *  - Only the weights (m->params) change: the optimiser's moments and step
 *    stay fresh (zero), there is no best epoch yet (has_best 0), so
 *    training starts from the copied weights as from initialised ones.
 *    Layer state (batchnorm's running statistics) is copied like weights
 *    when its name matches.
 *  - A listed tensor that is missing on either side or has another shape
 *    is an error; with all_matching the others are listed in
 *    m->init.skipped, and copying nothing is an error.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void cnn_init_record_free(cnn_init_record *r)
{
	for (int i = 0; r->copied && i < r->n_copied; i++)
		free(r->copied[i]);
	free(r->copied);
	free(r->from);
	free(r->model);
	free(r->skipped);
	memset(r, 0, sizeof *r);
}

/* The tensor of m called name, or NULL. */
static const cnn_tensor_slot *slot_named(const cnn_model *m, const char *name)
{
	for (int i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

/* "60x288": t's shape into buf (size bytes). */
static const char *shape_text(const cnn_tensor_slot *t, char *buf, size_t size)
{
	size_t k = 0;

	buf[0] = '\0';
	for (int i = 0; i < t->ndim && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? "x" : "",
		                      t->shape[i]);
	return buf;
}

/* Whether a and b have the same shape. */
static int same_shape(const cnn_tensor_slot *a, const cnn_tensor_slot *b)
{
	return a->ndim == b->ndim && a->n == b->n &&
	       !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape);
}

/* What copying the tensor called name from src into m meets: NULL when
 * both have it with the same shape, else why not, into why (size bytes). */
static const char *mismatch(const cnn_model *m, const cnn_model *src,
                            const char *from, const char *name, char *why,
                            size_t size)
{
	const cnn_tensor_slot *a = slot_named(m, name),
	                      *b = slot_named(src, name);
	char sa[64], sb[64];

	if (a && b && same_shape(a, b))
		return NULL;
	if (a && b)
		snprintf(why, size, "%s has shape %s here but %s in %s", name,
		         shape_text(a, sa, sizeof sa),
		         shape_text(b, sb, sizeof sb), from);
	else if (a)
		snprintf(why, size, "%s is in this model but not in %s", name,
		         from);
	else if (b)
		snprintf(why, size, "%s is in %s but not in this model", name,
		         from);
	else
		snprintf(why, size, "%s is neither in this model nor in %s",
		         name, from);
	return why;
}

/* Copies the tensor called name (in both, same shape) from the kept
 * weights of src into m's parameters and notes its name in m->init. */
static cnn_status copy_tensor(cnn_model *m, const cnn_model *src,
                              const char *name, cnn_error *err)
{
	const cnn_tensor_slot *a = slot_named(m, name),
	                      *b = slot_named(src, name);
	cnn_init_record *r = &m->init;

	memcpy(m->params + a->off, cnn_model_kept(src) + b->off,
	       a->n * sizeof(float));
	if (!(r->copied[r->n_copied] = strdup(name)))
		return cnn_err_nomem(err, NULL, NULL);
	r->n_copied++;
	return CNN_OK;
}

/* Appends "NAME (why)" to m->init.skipped. */
static cnn_status note_skipped(cnn_model *m, const char *name, const char *why,
                               cnn_error *err)
{
	char **s = &m->init.skipped;
	size_t have = *s ? strlen(*s) : 0;
	size_t more = strlen(name) + strlen(why) + 8;
	char *n = realloc(*s, have + more);

	if (!n)
		return cnn_err_nomem(err, NULL, NULL);
	snprintf(n + have, more, "%s%s (%s)", have ? ", " : "", name, why);
	*s = n;
	return CNN_OK;
}

/* all_matching: every tensor of m that src has with the same shape is
 * copied; the others are noted with the reason. */
static cnn_status copy_matching(cnn_model *m, const cnn_model *src,
                                const cnn_node *at, cnn_error *err)
{
	char why[256], sa[64], sb[64];
	cnn_status st = CNN_OK;

	if (!(m->init.skipped = strdup("")))
		return cnn_err_nomem(err, NULL, NULL);
	for (int i = 0; !st && i < m->n_tensors; i++) {
		const cnn_tensor_slot *a = &m->tensors[i];
		const cnn_tensor_slot *b = slot_named(src, a->name);

		if (b && same_shape(a, b)) {
			st = copy_tensor(m, src, a->name, err);
			continue;
		}
		if (b)
			snprintf(why, sizeof why, "%s here, %s there",
			         shape_text(a, sa, sizeof sa),
			         shape_text(b, sb, sizeof sb));
		else
			snprintf(why, sizeof why, "not in the source");
		st = note_skipped(m, a->name, why, err);
	}
	if (!st && m->init.n_copied == 0)
		return cnn_node_error(
		    err, at, "init.tensors",
		    "no tensor of this model is in %s with the "
		    "same shape: nothing to copy",
		    m->spec.init_from);
	return st;
}

/* An explicit list: each name must be in both with the same shape (all are
 * checked before any is copied). */
static cnn_status copy_listed(cnn_model *m, const cnn_model *src,
                              const cnn_node *list, cnn_error *err)
{
	char why[CNN_PATH_MAX + 512], path[CNN_FULL_SIZE];

	for (size_t i = 0; i < list->n_items; i++) {
		const cnn_node *v = list->items[i];

		snprintf(path, sizeof path, "init.tensors.%zu", i);
		if (mismatch(m, src, m->spec.init_from, v->value, why,
		             sizeof why))
			return cnn_node_error(err, v, path, "%s", why);
	}
	for (size_t i = 0; i < list->n_items; i++)
		if (copy_tensor(m, src, list->items[i]->value, err))
			return err->status;
	return CNN_OK;
}

/* Loads the source checkpoint into *src; its errors are reported as the
 * loader words them, at init.from and prefixed with it. */
static cnn_status load_source(cnn_model *m, cnn_model **src, cnn_error *err)
{
	const cnn_node *from = cnn_map_get(m->spec.init, "from");
	cnn_error e;
	char msg[1200];

	if (cnn_model_load(src, m->spec.init_from, NULL, 0, &e) == CNN_OK)
		return CNN_OK;
	cnn_error_string(&e, msg, sizeof msg);
	return cnn_err_set(err, e.status, from->file, from->line, from->col,
	                   "init.from", "%s", msg);
}

cnn_status cnn_finetune_apply(cnn_model *m, cnn_error *err)
{
	const cnn_node *list;
	cnn_model *src = NULL;
	cnn_init_record *r = &m->init;
	cnn_status st;

	if (!m->spec.init)
		return CNN_OK;
	list = cnn_map_get(m->spec.init, "tensors");
	if (load_source(m, &src, err))
		return err->status;
	r->from = strdup(m->spec.init_from);
	r->model = strdup(src->spec.name);
	r->epoch = src->epoch;
	r->copied = calloc((size_t)m->n_tensors + 1, sizeof *r->copied);
	if (!r->from || !r->model || !r->copied)
		st = cnn_err_nomem(err, NULL, NULL);
	else if (m->spec.init_all)
		st = copy_matching(m, src, list, err);
	else
		st = copy_listed(m, src, list, err);
	cnn_model_free(src);
	if (st)
		cnn_init_record_free(r);
	return st;
}

int cnn_model_init_info(const cnn_model *m, cnn_init_info *out)
{
	if (!m || !m->init.from)
		return 0;
	out->from = m->init.from;
	out->model = m->init.model;
	out->epoch = m->init.epoch;
	out->n_copied = m->init.n_copied;
	out->copied = (const char *const *)m->init.copied;
	out->skipped = m->init.skipped;
	return 1;
}

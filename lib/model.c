/*
 * model.c - a model's life cycle (from YAML, free) and the public accessors
 * the tools use to inspect it.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* Frees m's class names. */
static void free_class_names(cnn_model *m)
{
	for (int c = 0; m->class_names && c < m->classes; c++)
		free(m->class_names[c]);
	free(m->class_names);
	m->class_names = NULL;
}

/* Gives m the names of data.classes, which must be as many as the model's
 * outputs. */
static cnn_status spec_classes(cnn_model *m, cnn_error *err)
{
	const cnn_spec *s = &m->spec;
	if (!s->classes)
		return CNN_OK;
	if (s->n_classes != m->classes)
		return cnn_node_error(
		    err,
		    cnn_map_get(cnn_map_get(m->tree.root, "data"), "classes"),
		    "data.classes",
		    "%d names for a model of %d classes (its "
		    "last layer's outputs)",
		    s->n_classes, m->classes);
	return cnn_model_set_class_names(m, s->classes, err);
}

/* Copies the names of m->classes classes into m (replacing any). */
cnn_status cnn_model_set_class_names(cnn_model *m, const char *const *names,
                                     cnn_error *err)
{
	char **copy = calloc((size_t)m->classes, sizeof *copy);
	int c;

	for (c = 0; copy && c < m->classes; c++)
		if (!(copy[c] = strdup(names[c])))
			break;
	if (!copy || c < m->classes) {
		while (copy && c > 0)
			free(copy[--c]);
		free(copy);
		return cnn_err_nomem(err, NULL, NULL);
	}
	free_class_names(m);
	m->class_names = copy;
	return CNN_OK;
}

/* Takes ownership of *tree (it is moved into the model, and *tree zeroed,
 * whatever the outcome), validates it, emits the resolved description, seeds
 * the RNG and builds the graph. */
cnn_status cnn_model_from_tree(cnn_model **out, cnn_tree *tree, cnn_error *err)
{
	cnn_model *m = calloc(1, sizeof *m);
	*out = NULL;
	if (!m) {
		cnn_tree_free(tree);
		return cnn_err_nomem(err, NULL, NULL);
	}
	m->tree = *tree;
	memset(tree, 0, sizeof *tree);

	if (cnn_spec_from_tree(&m->spec, &m->tree, err) != CNN_OK)
		goto fail;
	m->layers = m->spec.layers;
	m->n_layers = m->spec.n_layers;
	size_t len;
	if (cnn_tree_emit(&m->tree, &m->yaml, &len, err) != CNN_OK)
		goto fail;
	cnn_rng_seed(&m->rng, m->spec.seed);
	if (cnn_graph_build(m, err) != CNN_OK || spec_classes(m, err) != CNN_OK)
		goto fail;
	*out = m;
	return CNN_OK;
fail:
	cnn_model_free(m);
	return err->status;
}

cnn_status cnn_model_from_yaml(cnn_model **out, const char *path,
                               const char *const *overrides, int n_overrides,
                               cnn_error *err)
{
	cnn_tree tree;
	*out = NULL;
	cnn_err_clear(err);
	if (cnn_tree_load(&tree, path, err) != CNN_OK)
		return err->status;
	for (int i = 0; i < n_overrides; i++)
		if (cnn_tree_set(&tree, overrides[i], err) != CNN_OK) {
			cnn_tree_free(&tree);
			return err->status;
		}
	if (cnn_model_from_tree(out, &tree, err) != CNN_OK)
		return err->status;
	/* a model built from its description starts from init's tensors */
	if (cnn_finetune_apply(*out, err) != CNN_OK) {
		cnn_model_free(*out);
		*out = NULL;
	}
	return err->status;
}

void cnn_model_free(cnn_model *m)
{
	if (!m)
		return;
	cnn_graph_free(m);
	cnn_spec_free(&m->spec);
	cnn_tree_free(&m->tree);
	free(m->yaml);
	free(m->history);
	cnn_init_record_free(&m->init);
	free_class_names(m);
	free(m);
}

const char *cnn_model_yaml(const cnn_model *m)
{
	return m->yaml;
}

const char *cnn_model_name(const cnn_model *m)
{
	return m->spec.name;
}

const char *cnn_model_notes(const cnn_model *m)
{
	return m->spec.notes;
}

const char *cnn_model_checkpoint_path(const cnn_model *m)
{
	return m->spec.checkpoint;
}

void cnn_model_input_shape(const cnn_model *m, int shape[3])
{
	memcpy(shape, m->spec.input, 3 * sizeof *shape);
}

int cnn_model_classes(const cnn_model *m)
{
	return m->classes;
}

const char *cnn_model_class_name(const cnn_model *m, int c)
{
	if (!m || !m->class_names || c < 0 || c >= m->classes)
		return NULL;
	return m->class_names[c];
}

int cnn_model_layer_count(const cnn_model *m)
{
	return m->n_layers;
}

cnn_status cnn_model_layer(const cnn_model *m, int i, cnn_layer_info *out)
{
	if (i < 0 || i >= m->n_layers)
		return CNN_ERR_USAGE;
	const cnn_layer *l = &m->layers[i];
	out->name = l->name;
	out->type = l->ops->type;
	memcpy(out->in_shape, l->in_shape, sizeof out->in_shape);
	memcpy(out->out_shape, l->out_shape, sizeof out->out_shape);
	out->n_params = l->n_weight + l->n_bias; /* trainable */
	out->n_inputs = l->n_inputs;
	for (int k = 0; k < l->n_inputs; k++)
		out->inputs[k] = l->input_names[k];
	return CNN_OK;
}

/* Tensors are numbered in arena order (graph.c): the trainable ones layer
 * by layer, weight then bias, then the layers' state. */
int cnn_model_tensor_count(const cnn_model *m)
{
	return m->n_tensors;
}

cnn_status cnn_model_tensor(const cnn_model *m, int index, cnn_tensor_info *out)
{
	if (index < 0 || index >= m->n_tensors)
		return CNN_ERR_USAGE;
	const cnn_tensor_slot *t = &m->tensors[index];
	memset(out, 0, sizeof *out);
	out->name = t->name;
	out->ndim = t->ndim;
	memcpy(out->shape, t->shape, sizeof out->shape);
	out->size = t->n;
	out->data = m->params + t->off;
	out->best = m->has_best ? m->best + t->off : NULL;
	out->moment1 = m->m1 + t->off;
	out->moment2 = m->m2 + t->off;
	out->trainable = t->trainable;
	/* a weight or bias that does not train is a frozen layer's */
	out->frozen = !t->trainable && t->off < m->n_trainable;
	return CNN_OK;
}

int cnn_model_history_count(const cnn_model *m)
{
	return m->n_history;
}

const cnn_epoch_metrics *cnn_model_history(const cnn_model *m)
{
	return m->history;
}

int cnn_model_optimizer_params(const cnn_model *m, const char **names,
                               double *values, int max)
{
	return cnn_spec_optimizer_params(&m->spec, names, values, max);
}

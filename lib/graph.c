/*
 * graph.c - from a validated spec to a runnable layer chain: shape inference,
 * the parameter arenas, initialisation, the batch buffers and the forward
 * pass.
 *
 * Invariants: m->params, m->grads, m->m1, m->m2 and m->best are arenas of
 * m->n_params floats holding, layer by layer, the weight then the bias
 * tensor; layer i reads act[i] and writes act[i + 1]; dact has the same
 * shapes and holds dL/d(act).
 */
#define _DEFAULT_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static size_t memory_limit; /* 0: what the machine allows */

void cnn_set_memory_limit(size_t bytes)
{
	memory_limit = bytes;
}

/* The memory a model may use, in bytes: the limit set by the caller, else
 * the physical memory, lowered to the address-space limit minus 256 MiB
 * (for the program, its libraries and the threads' stacks). */
static double memory_available(void)
{
	if (memory_limit)
		return (double)memory_limit;
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	double avail =
	    pages > 0 && size > 0 ? (double)pages * (double)size : 1e300;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		double as = (double)rl.rlim_cur - 256.0 * 1048576.0;
		if (as < avail)
			avail = as > 0 ? as : 0;
	}
	return avail;
}

/* Formats bytes as "12.3 MiB" into buf. */
static const char *human(double bytes, char *buf, size_t size)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB",
	                                   "TiB",   "PiB", "EiB"};
	int u = 0;
	while (bytes >= 1024.0 && u < 6) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
	return buf;
}

/* Refuses a model whose arrays would not fit in the memory available: the
 * five parameter arenas, and for a batch of spec.batch_size samples the
 * activations and their gradients plus every chunk's gradient arena and
 * workspace (what cnn_graph_reserve allocates). Sizes are added as doubles,
 * so absurd shapes cannot overflow the sum. Shapes must be inferred. */
static cnn_status check_memory(const cnn_model *m, cnn_error *err)
{
	const int batch = m->spec.batch_size;
	double per_sample = (double)m->layers[0].in_size, ws = 0.0;
	int count, size;
	char a[32], b[32], c[32], d[32];

	cnn_chunk_plan(batch, &count, &size);
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		per_sample += (double)l->out_size;
		double need = l->ops->workspace
		                  ? (double)l->ops->workspace(l, size)
		                  : 0.0;
		if (need > ws)
			ws = need;
	}
	double params = 5.0 * (double)m->n_params * sizeof(float);
	double batch_bytes =
	    (2.0 * per_sample * batch + count * ((double)m->n_params + ws)) *
	    sizeof(float);
	double avail = memory_available();
	if (params + batch_bytes <= avail)
		return CNN_OK;
	return cnn_node_error(
	    err, cnn_map_get(m->tree.root, "layers"), "layers",
	    "the model needs %s of memory (%s for its parameters and "
	    "optimiser state, %s for batches of %d), more than the %s "
	    "available",
	    human(params + batch_bytes, a, sizeof a),
	    human(params, b, sizeof b), human(batch_bytes, c, sizeof c), batch,
	    human(avail, d, sizeof d));
}

/* Points the layers' w, b, dw, db into the arenas params and grads. */
static void bind_layers(cnn_layer *layers, int n, float *params, float *grads)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		cnn_layer *l = &layers[i];
		l->w = l->n_weight ? params + off : NULL;
		l->dw = l->n_weight ? grads + off : NULL;
		off += l->n_weight;
		l->b = l->n_bias ? params + off : NULL;
		l->db = l->n_bias ? grads + off : NULL;
		off += l->n_bias;
	}
}

/* Makes the layers (and every chunk's copies) compute with the weights in
 * arena (m->params or m->best). Gradients go to m->grads for the model's own
 * layers and to each chunk's arena for the copies. */
void cnn_graph_use(cnn_model *m, float *arena)
{
	m->weights = arena;
	bind_layers(m->layers, m->n_layers, arena, m->grads);
	for (int c = 0; c < m->n_chunks; c++)
		bind_layers(m->chunks[c].layers, m->n_layers, arena,
		            m->chunks[c].grads);
}

/* Chunks of at least 16 samples (so that the matrix products keep some
 * width), at most 32 of them per batch. */
void cnn_chunk_plan(int n, int *count, int *size)
{
	int sz = (n + 31) / 32;
	if (sz < 16)
		sz = 16;
	*size = sz;
	*count = n > 0 ? (n + sz - 1) / sz : 1;
}

/* Infers every layer's shapes in order, sums the parameters, allocates the
 * arenas and fills the weights from m->rng (layer order, weight then bias).
 * Fails on the first layer that does not fit, naming it. */
cnn_status cnn_graph_build(cnn_model *m, cnn_error *err)
{
	const int *in = m->spec.input;
	size_t total = 0;
	char path[CNN_NAME_MAX + 16];

	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		memcpy(l->in_shape, in, sizeof l->in_shape);
		l->in_size = (size_t)in[0] * in[1] * in[2];
		snprintf(path, sizeof path, "%s", l->ops->type);
		if (l->ops->infer(l, path, err) != CNN_OK)
			return err->status;
		l->out_size =
		    (size_t)l->out_shape[0] * l->out_shape[1] * l->out_shape[2];
		if (total > ((size_t)1 << 31) - l->n_weight - l->n_bias)
			return cnn_node_error(err, l->node, path,
			                      "the model has more than 2^31 "
			                      "parameters");
		total += l->n_weight + l->n_bias;
		snprintf(l->weight_name, sizeof l->weight_name, "%s.weight",
		         l->name);
		snprintf(l->bias_name, sizeof l->bias_name, "%s.bias", l->name);
		in = l->out_shape;
	}

	cnn_layer *last = &m->layers[m->n_layers - 1];
	if (m->spec.loss == CNN_LOSS_CROSS_ENTROPY &&
	    last->ops != &cnn_layer_softmax)
		return cnn_node_error(err, last->node, "layers",
		                      "the cross_entropy loss needs a softmax "
		                      "as the last layer, got %s",
		                      last->ops->type);
	if (last->out_size < 2 || last->out_size > 256)
		return cnn_node_error(err, last->node, "layers",
		                      "the last layer has %zu outputs; a "
		                      "classifier needs 2 to 256 classes",
		                      last->out_size);
	m->classes = (int)last->out_size;

	m->n_params = total;
	if (check_memory(m, err) != CNN_OK)
		return err->status;
	size_t bytes = (total ? total : 1) * sizeof(float);
	m->params = calloc(1, bytes);
	m->grads = calloc(1, bytes);
	m->m1 = calloc(1, bytes);
	m->m2 = calloc(1, bytes);
	m->best = calloc(1, bytes);
	if (!m->params || !m->grads || !m->m1 || !m->m2 || !m->best)
		return cnn_err_set(err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
		                   "out of memory for %zu parameters", total);
	cnn_graph_use(m, m->params);

	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		if (l->n_weight)
			cnn_init_fill(&l->weight_init, l->w, l->n_weight,
			              l->fan_in, l->fan_out, &m->rng);
		if (l->n_bias)
			cnn_init_fill(&l->bias_init, l->b, l->n_bias, l->fan_in,
			              l->fan_out, &m->rng);
	}
	return CNN_OK;
}

/* Frees the chunks' buffers. */
static void chunks_free(cnn_model *m)
{
	for (int c = 0; c < m->n_chunks; c++) {
		free(m->chunks[c].layers);
		free(m->chunks[c].grads);
		free(m->chunks[c].ws);
	}
	free(m->chunks);
	m->chunks = NULL;
	m->n_chunks = 0;
}

/* Allocates activations, their gradients, the labels and the chunks (each
 * with its layer copies, gradient arena and workspace) for batches of up to
 * n samples. Keeps existing buffers when they suffice. */
cnn_status cnn_graph_reserve(cnn_model *m, int n, cnn_error *err)
{
	if (n <= m->batch_cap)
		return CNN_OK;
	if (!m->act) {
		m->act = calloc((size_t)m->n_layers + 1, sizeof *m->act);
		m->dact = calloc((size_t)m->n_layers + 1, sizeof *m->dact);
		if (!m->act || !m->dact)
			goto nomem;
	}
	for (int i = 0; i <= m->n_layers; i++) {
		size_t per =
		    i == 0 ? m->layers[0].in_size : m->layers[i - 1].out_size;
		float *a = realloc(m->act[i], per * (size_t)n * sizeof(float));
		if (!a)
			goto nomem;
		m->act[i] = a;
		a = realloc(m->dact[i], per * (size_t)n * sizeof(float));
		if (!a)
			goto nomem;
		m->dact[i] = a;
	}
	uint8_t *y = realloc(m->labels, (size_t)n);
	if (!y)
		goto nomem;
	m->labels = y;

	/* as many chunks as the largest batch has, each with the workspace
	 * of the largest chunk */
	int count, size;
	size_t ws = 0;
	cnn_chunk_plan(n, &count, &size);
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		size_t need =
		    l->ops->workspace ? l->ops->workspace(l, size) : 0;
		if (need > ws)
			ws = need;
	}
	chunks_free(m);
	m->chunks = calloc((size_t)count, sizeof *m->chunks);
	if (!m->chunks)
		goto nomem;
	m->n_chunks = count;
	for (int c = 0; c < count; c++) {
		cnn_chunk *k = &m->chunks[c];
		k->layers = malloc((size_t)m->n_layers * sizeof *k->layers);
		k->grads = calloc(m->n_params ? m->n_params : 1, sizeof(float));
		k->ws = malloc((ws ? ws : 1) * sizeof(float));
		if (!k->layers || !k->grads || !k->ws)
			goto nomem;
		memcpy(k->layers, m->layers,
		       (size_t)m->n_layers * sizeof *k->layers);
		bind_layers(k->layers, m->n_layers, m->weights, k->grads);
	}
	m->batch_cap = n;
	return CNN_OK;
nomem:
	return cnn_err_set(err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
	                   "out of memory for batches of %d samples", n);
}

void cnn_graph_forward_chunk(cnn_model *m, int c, int s0, int n)
{
	cnn_chunk *k = &m->chunks[c];
	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &k->layers[i];
		l->ops->forward(l, m->act[i] + (size_t)s0 * l->in_size,
		                m->act[i + 1] + (size_t)s0 * l->out_size, n,
		                k->ws);
	}
}

/* Runs the layers on the n samples in act[0], the chunks in parallel;
 * returns act[n_layers]. */
const float *cnn_graph_forward(cnn_model *m, int n)
{
	int count, size;
	cnn_chunk_plan(n, &count, &size);
	CNN_PARALLEL_FOR
	for (int c = 0; c < count; c++) {
		int s0 = c * size;
		cnn_graph_forward_chunk(m, c, s0,
		                        n - s0 < size ? n - s0 : size);
	}
	return m->act[m->n_layers];
}

/* Frees what cnn_graph_build and cnn_graph_reserve allocated. */
void cnn_graph_free(cnn_model *m)
{
	if (m->act)
		for (int i = 0; i <= m->n_layers; i++) {
			free(m->act[i]);
			free(m->dact[i]);
		}
	free(m->act);
	free(m->dact);
	chunks_free(m);
	free(m->labels);
	free(m->params);
	free(m->grads);
	free(m->m1);
	free(m->m2);
	free(m->best);
}

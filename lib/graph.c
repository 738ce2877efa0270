/*
 * graph.c - from a validated spec to a runnable layer graph: shape
 * inference, the tensors and parameter arenas, initialisation, the batch
 * buffers, and the forward and backward passes.
 *
 * Invariants
 *  - Activation 0 is the network's input and activation i + 1 the output of
 *    layer i; a layer reads the activations named by its inputs, all of
 *    earlier layers (spec.c guarantees it, and that every output but the
 *    last is read by some later layer), so running the layers in order is a
 *    topological order. dact has the same shapes and holds dL/d(act).
 *  - m->params, m->grads, m->m1, m->m2 and m->best are arenas of
 *    m->n_params floats: the trainable tensors layer by layer (weight, then
 *    bias), then the layers' state (batchnorm's running statistics). Each
 *    weight starts on a 64-byte line (the arenas are so aligned): the floats
 *    skipped to get there stay zero in every arena and belong to no tensor.
 *  - A batch is cut into chunks (cnn_chunk_plan) that threads run whole.
 *    Sums over the batch (gradients, batch statistics) are made per chunk
 *    and added in chunk order, so results never depend on the thread count.
 */
#include "dist.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

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
		for (int k = 0; k < l->n_inputs; k++)
			if (l->grad_add[k])
				need += (double)l->in_sizes[k] * size;
		if (need > ws)
			ws = need;
	}
	double params = 5.0 * (double)m->n_params * sizeof(float);
	double batch_bytes =
	    (2.0 * per_sample * batch + count * ((double)m->n_params + ws)) *
	    sizeof(float);
	double avail = cnn_memory_available();
	if (params + batch_bytes <= avail)
		return CNN_OK;
	return cnn_node_error(
	    err, cnn_map_get(m->tree.root, "layers"), "layers",
	    "the model needs %s of memory (%s for its parameters and "
	    "optimiser state, %s for batches of %d), more than the %s "
	    "available",
	    cnn_human_bytes(params + batch_bytes, a, sizeof a),
	    cnn_human_bytes(params, b, sizeof b),
	    cnn_human_bytes(batch_bytes, c, sizeof c), batch,
	    cnn_human_bytes(avail, d, sizeof d));
}

/* Points the layers' w, b, dw, db and state into the arenas params and
 * grads (at the offsets the graph gave them). */
static void bind_layers(cnn_layer *layers, int n, float *params, float *grads)
{
	for (int i = 0; i < n; i++) {
		cnn_layer *l = &layers[i];
		l->w = l->n_weight ? params + l->w_off : NULL;
		l->dw = l->n_weight ? grads + l->w_off : NULL;
		l->b = l->n_bias ? params + l->b_off : NULL;
		l->db = l->n_bias ? grads + l->b_off : NULL;
		l->state = l->n_state ? params + l->state_off : NULL;
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

/* The shape of activation a: the input's for 0, else layer a - 1's output. */
static const int *act_shape(const cnn_model *m, int a)
{
	return a == 0 ? m->spec.input : m->layers[a - 1].out_shape;
}

/* Floats per sample of activation a. */
static size_t act_size(const cnn_model *m, int a)
{
	const int *s = m->spec.input;
	return a == 0 ? (size_t)s[0] * s[1] * s[2] : m->layers[a - 1].out_size;
}

/* Gives every layer's inputs their shapes from the layers they come from,
 * then lets the kind infer its output and parameters. Fails on the first
 * layer that does not fit, naming it. Sums the trainable parameters. */
static cnn_status infer_shapes(cnn_model *m, cnn_error *err)
{
	size_t total = 0;
	char path[CNN_NAME_MAX + 16];

	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		for (int k = 0; k < l->n_inputs; k++) {
			const int *s = act_shape(m, l->inputs[k]);
			memcpy(l->in_shapes[k], s, sizeof l->in_shapes[k]);
			l->in_sizes[k] = (size_t)s[0] * s[1] * s[2];
		}
		memcpy(l->in_shape, l->in_shapes[0], sizeof l->in_shape);
		l->in_size = l->in_sizes[0];
		snprintf(path, sizeof path, "%s", l->ops->type);
		if (l->ops->infer(l, path, err) != CNN_OK)
			return err->status;
		l->out_size =
		    (size_t)l->out_shape[0] * l->out_shape[1] * l->out_shape[2];
		if (total > ((size_t)1 << 31) - l->n_weight - l->n_bias ||
		    l->n_state > ((size_t)1 << 30))
			return cnn_node_error(err, l->node, path,
			                      "the model has more than 2^31 "
			                      "parameters");
		total += l->n_weight + l->n_bias;
	}
	return CNN_OK;
}

/* Lists the next tensor of m->tensors (*n of them so far): count floats at
 * off of the arenas, named name, of shape shape[0..ndim). Returns the
 * offset that follows it. */
static size_t add_slot(cnn_model *m, int *n, const char *name, int ndim,
                       const int *shape, size_t off, size_t count,
                       int trainable)
{
	cnn_tensor_slot *t = &m->tensors[(*n)++];

	t->name = name;
	t->ndim = ndim;
	memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
	t->off = off;
	t->n = count;
	t->trainable = trainable;
	return off + count;
}

/* Lays the tensors out in the arenas (the trainable ones, then the state),
 * names them and lists them in m->tensors. */
static cnn_status lay_out(cnn_model *m, cnn_error *err)
{
	size_t off = 0;
	int n = 0;

	m->tensors = calloc((size_t)m->n_layers * 4 + 1, sizeof *m->tensors);
	if (!m->tensors)
		return cnn_err_nomem(err, NULL, NULL);
	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		const int nb = (int)l->n_bias;
		snprintf(l->weight_name, sizeof l->weight_name, "%s.weight",
		         l->name);
		snprintf(l->bias_name, sizeof l->bias_name, "%s.bias", l->name);
		if (l->n_weight) /* a line of its own: no split vector loads */
			off = (off + CNN_ALIGN_FLOATS - 1) &
			      ~(size_t)(CNN_ALIGN_FLOATS - 1);
		l->w_off = off;
		if (l->n_weight)
			off = add_slot(m, &n, l->weight_name, l->weight_ndim,
			               l->weight_shape, off, l->n_weight,
			               !l->frozen);
		l->b_off = off;
		if (l->n_bias)
			off = add_slot(m, &n, l->bias_name, 1, &nb, off,
			               l->n_bias, !l->frozen);
	}
	m->n_trainable = off;
	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		int parts = l->state_parts > 1 ? 2 : 1;
		const int each = (int)(l->n_state / (size_t)parts);
		l->state_off = off;
		for (int p = 0; l->n_state && p < parts; p++) {
			snprintf(l->state_name[p], sizeof l->state_name[p],
			         "%s.%s", l->name,
			         l->state_suffix[p] ? l->state_suffix[p]
			                            : "state");
			off = add_slot(m, &n, l->state_name[p], 1, &each, off,
			               (size_t)each, 0);
		}
	}
	m->n_tensors = n;
	m->n_params = off;
	return CNN_OK;
}

/* Decides which backward calls run and which input gradients they make:
 * an activation's gradient is wanted when a layer with parameters that
 * train (not frozen) lies at or before the layer that made it, so the
 * backward of a prefix of frozen or parameterless layers is skipped
 * whole. Every reader of a wanted activation runs its backward, so the
 * write-or-add plan below holds for those that do. */
static void plan_wanted(cnn_model *m)
{
	unsigned char local[CNN_MAX_LAYERS + 1];

	local[0] = 0;
	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		int need = (l->n_weight || l->n_bias) && !l->frozen;

		for (int k = 0; k < l->n_inputs; k++) {
			l->grad_wanted[k] = local[l->inputs[k]];
			need |= local[l->inputs[k]];
		}
		local[i + 1] = (unsigned char)need;
		l->backward_needed = need && i <= m->grad_act - 1;
	}
}

/* Decides, for every layer input, whether backward writes its gradient or
 * adds it to what an earlier backward call wrote: backward runs the layers
 * from the last to the first and each layer's inputs in order; the first to
 * reach an activation writes. The loss writes m->grad_act first. */
static void plan_gradients(cnn_model *m)
{
	const int top =
	    m->grad_act - 1; /* the last layer whose backward runs */

	plan_wanted(m);
	for (int i = top; i >= 0; i--) {
		cnn_layer *l = &m->layers[i];
		for (int k = 0; k < l->n_inputs; k++) {
			int a = l->inputs[k], before = a == m->grad_act;
			for (int j = top; j > i && !before; j--)
				for (int q = 0; q < m->layers[j].n_inputs; q++)
					before |= m->layers[j].inputs[q] == a;
			for (int q = 0; q < k; q++)
				before |= l->inputs[q] == a;
			l->grad_add[k] = (unsigned char)before;
		}
	}
}

/* The number of layer inputs that read activation a. */
static int readers(const cnn_model *m, int a)
{
	int count = 0;

	for (int j = 0; j < m->n_layers; j++)
		for (int k = 0; k < m->layers[j].n_inputs; k++)
			count += m->layers[j].inputs[k] == a;
	return count;
}

/* Every layer input that reads activation a (as described) reads
 * activation b in the passes. */
static void read_instead(cnn_model *m, int a, int b)
{
	for (int j = 0; j < m->n_layers; j++)
		for (int k = 0; k < m->layers[j].n_inputs; k++)
			if (m->layers[j].inputs[k] == a)
				m->layers[j].run_in[k] = b;
}

/* Relu i (its activations i and i + 1) fused into the max pooling i + 1,
 * when that pooling is its one reader and reads nothing else: the pooling
 * then reads activation i and takes over the relu's input gradient flags;
 * being next to the relu, it writes that gradient in the relu's place in
 * the order of backward. */
static int fuse_into_pool(cnn_model *m, int i)
{
	cnn_layer *r = &m->layers[i], *p = &m->layers[i + 1];

	if (p->ops != &cnn_layer_maxpool || p->n_inputs != 1 ||
	    p->inputs[0] != i + 1 || readers(m, i + 1) != 1)
		return 0;
	p->relu_in = 1;
	p->run_in[0] = r->run_in[0]; /* where an earlier fusion moved it */
	p->grad_wanted[0] = r->grad_wanted[0];
	p->grad_add[0] = r->grad_add[0];
	return 1;
}

/* Relu i fused into layer i - 1 (output activation i), when the relu is
 * that activation's one reader and the kind has fuse_relu: every reader of
 * the relu's output reads activation i instead (the layer's output, now
 * the relu's), and writes its gradient there with the same flags, since
 * they were that activation's only readers. */
static int fuse_into_producer(cnn_model *m, int i)
{
	cnn_layer *p = &m->layers[i - 1];

	if (i < 1 || !p->ops->fuse_relu || m->layers[i].inputs[0] != i ||
	    readers(m, i) != 1 || m->grad_act == i + 1)
		return 0;
	p->relu_out = 1;
	read_instead(m, i + 1, i);
	return 1;
}

/* Flatten i, a copy (a sample is contiguous in either shape), left out
 * when it is its input's one reader: its readers read that input instead
 * and write its gradient there, with the same flags, since they were its
 * output's only readers as it was its input's. */
static int fuse_flatten(cnn_model *m, int i)
{
	const cnn_layer *f = &m->layers[i];

	if (f->ops != &cnn_layer_flatten || readers(m, f->inputs[0]) != 1)
		return 0;
	read_instead(m, i + 1, f->run_in[0]);
	return 1;
}

/* Fuses relus into their neighbours: into the max pooling after, else into
 * the batchnorm or add before (see cnn_layer's fused_away), and leaves out
 * flattens. That saves their passes over memory, their outputs and their
 * gradients, with the bits unchanged. CNN_FUSE=0 in the environment turns
 * fusion off (to compare). */
static void plan_fusion(cnn_model *m)
{
	const char *env = getenv("CNN_FUSE");

	for (int i = 0; i < m->n_layers; i++)
		memcpy(m->layers[i].run_in, m->layers[i].inputs,
		       sizeof m->layers[i].run_in);
	if (env && !strcmp(env, "0"))
		return;
	for (int i = 0; i + 1 < m->n_layers; i++) {
		cnn_layer *r = &m->layers[i];

		/* a layer whose output the loss reads stays a layer */
		if (m->grad_act == i + 1)
			continue;
		if ((r->ops == &cnn_layer_relu &&
		     (fuse_into_pool(m, i) || fuse_into_producer(m, i))) ||
		    fuse_flatten(m, i)) {
			r->fused_away = 1;
			r->backward_needed = 0;
		}
	}
}

/* Lists the layers with batch statistics and gives each its share of
 * m->stats (2 * stats_size doubles). */
static cnn_status plan_sync(cnn_model *m, cnn_error *err)
{
	size_t total = 0;

	m->sync =
	    calloc(m->n_layers > 0 ? (size_t)m->n_layers : 1, sizeof *m->sync);
	if (!m->sync)
		goto nomem;
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		size_t s = l->ops->stats_size ? l->ops->stats_size(l) : 0;
		if (s) {
			m->sync[m->n_sync++] = i;
			total += 2 * s;
		}
	}
	m->stats = calloc(total ? total : 1, sizeof *m->stats);
	if (!m->stats)
		goto nomem;
	total = 0;
	for (int j = 0; j < m->n_sync; j++) {
		cnn_layer *l = &m->layers[m->sync[j]];
		l->stats = m->stats + total;
		total += 2 * l->ops->stats_size(l);
	}
	return CNN_OK;
nomem:
	return cnn_err_nomem(err, NULL, NULL);
}

/* Rows of a deferred weight of units rows of cols floats per segment: as
 * many as fit in CNN_SEG_MAX, but no more than a quarter of the rows (so
 * that two threads share even one layer's gradient evenly), in a multiple
 * of 12 (whole GEMM tiles of 4 or 6 rows) or else of 4; 0 when fewer than
 * 4 fit: the weight is then not deferred. */
static int seg_rows(int units, size_t cols)
{
	size_t r = CNN_SEG_MAX / (cols ? cols : 1);
	size_t quarter = (size_t)(units + 3) / 4;

	if (r > quarter && quarter >= 12)
		r = quarter;

	return r >= 12 ? (int)(r - r % 12) : r >= 4 ? (int)(r - r % 4) : 0;
}

/* Appends to out (when not NULL) plain segments covering [a, b), at most
 * CNN_POOL_GRAIN floats each; returns the new count from n. */
static int cut_plain(cnn_seg *out, int n, size_t a, size_t b)
{
	for (; a < b; a += CNN_POOL_GRAIN, n++) {
		size_t len = b - a < CNN_POOL_GRAIN ? b - a : CNN_POOL_GRAIN;
		if (out)
			out[n] = (cnn_seg){a, len, -1, 0, 0};
	}
	return n;
}

/* Cuts the trainable parameters into segments, into out when not NULL;
 * returns their number. Each weight of a layer with a weight_grad op goes
 * by seg_rows rows, the rest in plain runs (which may span layers); a
 * frozen layer's parameters are in no segment, so the step never reads
 * nor changes them. */
static int cut_segments(const cnn_model *m, cnn_seg *out)
{
	size_t run = 0; /* where the plain run being cut starts */
	int n = 0;

	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		if (l->frozen && (l->n_weight || l->n_bias)) {
			n = cut_plain(out, n, run, l->w_off);
			run = l->w_off + l->n_weight + l->n_bias;
			continue;
		}
		if (!l->n_weight || !l->ops->weight_grad)
			continue;
		int units = l->weight_shape[0];
		size_t cols = l->n_weight / (size_t)units;
		int rows = seg_rows(units, cols);
		if (!rows)
			continue;
		n = cut_plain(out, n, run, l->w_off);
		for (int r = 0; r < units; r += rows, n++) {
			int h = units - r < rows ? units - r : rows;
			if (out)
				out[n] = (cnn_seg){l->w_off + (size_t)r * cols,
				                   (size_t)h * cols, i, r, h};
		}
		run = l->w_off + l->n_weight;
	}
	return cut_plain(out, n, run, m->n_trainable);
}

/* The number of layer inputs that read the network's input (act[0]) in a
 * pass, fused layers left out. */
static int input_readers(const cnn_model *m)
{
	int count = 0;

	for (int i = 0; i < m->n_layers; i++)
		for (int k = 0; k < m->layers[i].n_inputs; k++)
			count += !m->layers[i].fused_away &&
			         m->layers[i].run_in[k] == 0;
	return count;
}

/* Fills m->segs (see cnn_seg), marks the deferred layers, and picks the
 * layer a training pass may run by rows (m->split): the first that runs,
 * when it reads the network's input alone and no other layer reads it, has
 * forward_rows and a deferred weight, and no relu fused into it. Its forward
 * then reads only the rows the thread updated, from its own cache, instead of
 * the whole weight from both cores' caches for every chunk (mlp's first layer:
 * 100 GFLOP/s a thread at 2 threads, 131 at one). */
static cnn_status plan_segments(cnn_model *m, cnn_error *err)
{
	m->n_segs = cut_segments(m, NULL);
	m->segs = calloc((size_t)m->n_segs + 1, sizeof *m->segs);
	if (!m->segs)
		return cnn_err_nomem(err, NULL, NULL);
	cut_segments(m, m->segs);
	for (int i = 0; i < m->n_segs; i++)
		if (m->segs[i].layer >= 0)
			m->layers[m->segs[i].layer].weight_deferred = 1;

	int first = 0;
	while (first < m->n_layers && m->layers[first].fused_away)
		first++;
	const cnn_layer *l = &m->layers[first < m->n_layers ? first : 0];
	m->split = -1;
	if (first == m->n_layers || !l->ops->forward_rows ||
	    !l->weight_deferred || l->n_inputs != 1 || l->run_in[0] != 0 ||
	    l->relu_out || /* forward_rows makes the layer's own output */
	    input_readers(m) != 1) /* such a pass leaves act[0] unfilled */
		return CNN_OK;
	m->split = first;
	for (m->split_lo = 0; m->segs[m->split_lo].layer != first;)
		m->split_lo++;
	for (m->split_hi = m->split_lo;
	     m->split_hi < m->n_segs && m->segs[m->split_hi].layer == first;)
		m->split_hi++;
	return CNN_OK;
}

/* Infers every layer's shapes in graph order, lays out and allocates the
 * arenas and fills the weights from m->rng (layer order, weight then bias)
 * and the state with each kind's reset_state. */
cnn_status cnn_graph_build(cnn_model *m, cnn_error *err)
{
	if (infer_shapes(m, err) != CNN_OK || cnn_loss_check(m, err) != CNN_OK)
		return err->status;
	cnn_layer *last = &m->layers[m->n_layers - 1];
	if (last->out_size < 2 || last->out_size > 256)
		return cnn_node_error(err, last->node, "layers",
		                      "the last layer has %zu outputs; a "
		                      "classifier needs 2 to 256 classes",
		                      last->out_size);
	m->classes = (int)last->out_size;
	if (lay_out(m, err) != CNN_OK)
		return err->status;
	plan_gradients(m);
	plan_fusion(m);
	if (plan_sync(m, err) != CNN_OK || plan_segments(m, err) != CNN_OK ||
	    check_memory(m, err) != CNN_OK)
		return err->status;

	size_t bytes = (m->n_params ? m->n_params : 1) * sizeof(float);
	m->params = cnn_alloc_aligned(bytes, 1);
	m->grads = cnn_alloc_aligned(bytes, 1);
	m->m1 = cnn_alloc_aligned(bytes, 1);
	m->m2 = cnn_alloc_aligned(bytes, 1);
	m->best = cnn_alloc_aligned(bytes, 1);
	if (!m->params || !m->grads || !m->m1 || !m->m2 || !m->best)
		return cnn_err(err, CNN_ERR_NOMEM,
		               "out of memory for %zu parameters", m->n_params);
	cnn_graph_use(m, m->params);

	for (int i = 0; i < m->n_layers; i++) {
		cnn_layer *l = &m->layers[i];
		if (l->n_weight)
			cnn_init_fill(&l->weight_init, l->w, l->n_weight,
			              l->fan_in, l->fan_out, &m->rng);
		if (l->n_bias)
			cnn_init_fill(&l->bias_init, l->b, l->n_bias, l->fan_in,
			              l->fan_out, &m->rng);
		if (l->n_state && l->ops->reset_state)
			l->ops->reset_state(l);
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
		free(m->chunks[c].dtmp);
		free(m->chunks[c].acc);
	}
	free(m->chunks);
	m->chunks = NULL;
	m->n_chunks = 0;
}

/* Makes m->own_x hold a buffer of batch_cap inputs for each of threads
 * threads (kept when they do); 0 when out of memory. */
static int own_reserve(cnn_model *m, int threads)
{
	if (m->n_own >= threads)
		return 1;
	float **x = realloc(m->own_x, (size_t)threads * sizeof *x);
	if (!x)
		return 0;
	m->own_x = x;
	uint64_t *pass = realloc(m->own_pass, (size_t)threads * sizeof *pass);
	if (!pass)
		return 0;
	m->own_pass = pass;
	for (; m->n_own < threads; m->n_own++) {
		m->own_x[m->n_own] = cnn_alloc_aligned(
		    act_size(m, 0) * (size_t)m->batch_cap * sizeof(float), 0);
		if (!m->own_x[m->n_own])
			return 0;
		m->own_pass[m->n_own] = 0;
	}
	return 1;
}

/* Frees the buffers of own_reserve. */
static void own_free(cnn_model *m)
{
	for (int t = 0; t < m->n_own; t++)
		free(m->own_x[t]);
	free(m->own_x);
	free(m->own_pass);
	m->own_x = NULL;
	m->own_pass = NULL;
	m->n_own = 0;
}

/* Allocates activations, their gradients, the labels and the chunks (each
 * with its layer copies, gradient arena, workspace, gradient scratch and
 * statistics sums) for batches of up to n samples. Keeps existing buffers
 * when they suffice. */
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
		/* contents need not survive: passes write before they read */
		size_t bytes = act_size(m, i) * (size_t)n * sizeof(float);
		float *a = cnn_alloc_aligned(bytes, 0);
		float *d = cnn_alloc_aligned(bytes, 0);
		if (!a || !d) {
			free(a);
			free(d);
			goto nomem;
		}
		free(m->act[i]);
		free(m->dact[i]);
		m->act[i] = a;
		m->dact[i] = d;
	}
	uint8_t *y = realloc(m->labels, (size_t)n);
	if (!y)
		goto nomem;
	m->labels = y;
	own_free(m); /* for batches of n, when a split pass asks */

	/* as many chunks as the largest batch has, each with the scratch of
	 * the largest chunk */
	int count, size;
	size_t ws = 0, dtmp = 0, acc = 0;
	cnn_chunk_plan(n, &count, &size);
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		size_t need =
		    l->ops->workspace ? l->ops->workspace(l, size) : 0;
		size_t add = 0;
		if (need > ws)
			ws = need;
		for (int k = 0; k < l->n_inputs; k++)
			if (l->grad_add[k])
				add += l->in_sizes[k] * (size_t)size;
		if (add > dtmp)
			dtmp = add;
		need = l->ops->stats_size ? l->ops->stats_size(l) : 0;
		if (need > acc)
			acc = need;
	}
	chunks_free(m);
	m->chunks = calloc((size_t)count, sizeof *m->chunks);
	if (!m->chunks)
		goto nomem;
	m->n_chunks = count;
	for (int c = 0; c < count; c++) {
		cnn_chunk *k = &m->chunks[c];
		k->layers = malloc((size_t)m->n_layers * sizeof *k->layers);
		k->grads = cnn_alloc_aligned(m->n_params * sizeof(float), 1);
		k->ws = cnn_alloc_aligned(ws * sizeof(float), 0);
		k->dtmp = cnn_alloc_aligned(dtmp * sizeof(float), 0);
		k->acc = cnn_alloc_aligned(acc * sizeof(double), 0);
		if (!k->layers || !k->grads || !k->ws || !k->dtmp || !k->acc)
			goto nomem;
		memcpy(k->layers, m->layers,
		       (size_t)m->n_layers * sizeof *k->layers);
		for (int i = 0; i < m->n_layers; i++)
			k->layers[i].pass = &k->pass;
		bind_layers(k->layers, m->n_layers, m->weights, k->grads);
	}
	m->batch_cap = n;
	return CNN_OK;
nomem:
	return cnn_err(err, CNN_ERR_NOMEM,
	               "out of memory for batches of %d samples", n);
}

/* ======================================================================== */
/* Passes                                                                   */

/* Runs layer i forward on the chunk's samples [s0, s0 + n), reading the
 * activations it runs on (run_in); a fused-away layer does nothing. */
void cnn_graph_layer_forward(cnn_model *m, cnn_chunk *k, int i, size_t s0,
                             int n)
{
	cnn_layer *l = &k->layers[i];
	float *y = m->act[i + 1] + s0 * l->out_size;
	if (l->fused_away)
		return;
	if (l->ops->forward_n) {
		const float *x[CNN_MAX_INPUTS];
		for (int j = 0; j < l->n_inputs; j++)
			x[j] = m->act[l->run_in[j]] + s0 * l->in_sizes[j];
		l->ops->forward_n(l, x, y, n, k->ws);
	} else {
		l->ops->forward(l, m->act[l->run_in[0]] + s0 * l->in_size, y, n,
		                k->ws);
	}
}

/* Runs layers [from, to) forward on the chunk's samples [s0, s0 + n). */
static void forward_range(cnn_model *m, cnn_chunk *k, int from, int to,
                          size_t s0, int n)
{
	for (int i = from; i < to; i++)
		cnn_graph_layer_forward(m, k, i, s0, n);
}

/* Adds count floats of src to dst. */
static void add_into(float *restrict dst, const float *restrict src,
                     size_t count)
{
	for (size_t i = 0; i < count; i++)
		dst[i] += src[i];
}

/* Runs layer i's backward on the chunk's samples [s0, s0 + n), unless it
 * needs none (backward_needed): each wanted input gradient is written into
 * its dact, or into scratch and added there (grad_add); the network input
 * gets none. */
void cnn_graph_layer_backward(cnn_model *m, cnn_chunk *k, int i, size_t s0,
                              int n)
{
	cnn_layer *l = &k->layers[i];
	const float *y = m->act[i + 1] + s0 * l->out_size;
	const float *dy = m->dact[i + 1] + s0 * l->out_size;
	const float *x[CNN_MAX_INPUTS];
	float *dx[CNN_MAX_INPUTS], *tmp = k->dtmp;

	if (!l->backward_needed)
		return;
	for (int j = 0; j < l->n_inputs; j++) {
		int a = l->run_in[j];
		size_t per = l->in_sizes[j];
		x[j] = m->act[a] + s0 * per;
		dx[j] = NULL;
		if (a == 0 || !l->grad_wanted[j])
			continue;
		if (l->grad_add[j]) {
			dx[j] = tmp;
			tmp += per * (size_t)n;
		} else {
			dx[j] = m->dact[a] + s0 * per;
		}
	}
	if (l->ops->backward_n)
		l->ops->backward_n(l, x, y, dy, dx, n, k->ws);
	else
		l->ops->backward(l, x[0], y, dy, dx[0], n, k->ws);
	for (int j = 0; j < l->n_inputs; j++)
		if (dx[j] && l->grad_add[j])
			add_into(m->dact[l->run_in[j]] + s0 * l->in_sizes[j],
			         dx[j], l->in_sizes[j] * (size_t)n);
}

/* Runs the backward of layers hi down to lo on the chunk's samples
 * [s0, s0 + n) (cnn_graph_layer_backward). */
static void backward_range(cnn_model *m, cnn_chunk *k, int hi, int lo,
                           size_t s0, int n)
{
	for (int i = hi; i >= lo; i--)
		cnn_graph_layer_backward(m, k, i, s0, n);
}

/* Sets every chunk's pass for a batch of n samples. */
static void set_pass(cnn_model *m, int n, int training, uint64_t seed,
                     int defer)
{
	int count, size;
	cnn_chunk_plan(n, &count, &size);
	for (int c = 0; c < count; c++) {
		cnn_pass *p = &m->chunks[c].pass;
		p->training = training;
		p->seed = seed;
		p->sample0 = (size_t)c * (size_t)size;
		p->batch = n;
		p->defer = defer;
	}
}

/* What a parallel loop over chunks works on: chunk first + i of a batch
 * of n samples (training phase p, loss scale g). */
typedef struct chunk_job {
	cnn_model *m;
	int first, n, p;
	float g;
} chunk_job;

/* Fills chunks [lo, hi) of the job's batch (m->fill, if set). */
static void fill_chunks(void *ctx, long lo, long hi)
{
	const chunk_job *j = ctx;
	int count, size;
	cnn_chunk_plan(j->n, &count, &size);
	for (long c = lo; c < hi && j->m->fill; c++) {
		int s0 = (int)c * size, n = j->n - s0 < size ? j->n - s0 : size;
		j->m->fill(j->m->fill_ctx, s0, s0 + n,
		           j->m->act[0] + (size_t)s0 * act_size(j->m, 0),
		           j->m->labels + s0);
	}
}

/* The whole forward pass in evaluation mode of chunks [lo, hi). */
static void forward_chunks(void *ctx, long lo, long hi)
{
	const chunk_job *j = ctx;
	int count, size;
	cnn_chunk_plan(j->n, &count, &size);
	for (long c = lo; c < hi; c++) {
		int s0 = (int)c * size, n = j->n - s0 < size ? j->n - s0 : size;
		fill_chunks(ctx, c, c + 1);
		forward_range(j->m, &j->m->chunks[c], 0, j->m->n_layers,
		              (size_t)s0, n);
	}
}

/* Runs the layers in evaluation mode on the n samples in act[0], the chunks
 * in parallel; returns act[n_layers]. */
const float *cnn_graph_forward(cnn_model *m, int n)
{
	int count, size;
	cnn_chunk_plan(n, &count, &size);
	set_pass(m, n, 0, 0, 0);
	chunk_job j = {m, 0, n, 0, 0.0f};
	cnn_pool_run(count, 1, forward_chunks, &j);
	return m->act[m->n_layers];
}

/* Zeroes the gradient arena g, but for the deferred weights' segments when
 * defer: backward does not write them. */
static void zero_arena(const cnn_model *m, float *g, int defer)
{
	size_t a = 0;

	for (int i = 0; defer && i < m->n_segs; i++) {
		const cnn_seg *s = &m->segs[i];
		if (s->layer < 0)
			continue;
		memset(g + a, 0, (s->off - a) * sizeof *g);
		a = s->off + s->n;
	}
	memset(g + a, 0, (m->n_params - a) * sizeof *g);
}

/* One phase of a training pass on chunk c (see cnn_graph_gradient): with
 * S = m->sync and s = m->n_sync, phase p < s runs the forward up to layer
 * S[p] and that layer's forward sums; phase s the rest of the forward, the
 * loss and the backward down to the last batch-statistics layer (exclusive)
 * and its backward sums; phase s + q the backward from layer S[s - q] down
 * to the next one (exclusive) and its backward sums. */
static void train_phase(cnn_model *m, int c, int p, int n, float g)
{
	const int s = m->n_sync, *S = m->sync;
	cnn_chunk *k = &m->chunks[c];
	int count, size, lo;
	size_t s0;
	cnn_layer *l;

	cnn_chunk_plan(n, &count, &size);
	s0 = (size_t)c * (size_t)size;
	n = n - c * size < size ? n - c * size : size;
	if (p == 0 && m->fill) /* the inputs too unless split_forward ran */
		m->fill(m->fill_ctx, (long)s0, (long)s0 + n,
		        m->pass_from ? NULL : m->act[0] + s0 * act_size(m, 0),
		        m->labels + s0);
	if (p < s) {
		forward_range(m, k, p ? S[p - 1] : m->pass_from, S[p], s0, n);
		l = &k->layers[S[p]];
		memset(k->acc, 0, l->ops->stats_size(l) * sizeof *k->acc);
		l->ops->forward_stats(l, m->act[l->run_in[0]] + s0 * l->in_size,
		                      n, k->acc);
		return;
	}
	if (p == s) {
		forward_range(m, k, s ? S[s - 1] : m->pass_from, m->n_layers,
		              s0, n);
		k->correct = 0;
		k->loss = cnn_loss_chunk(m, (int)s0, n, g, m->dact[m->grad_act],
		                         &k->correct, NULL);
		zero_arena(m, k->grads, k->pass.defer);
		lo = m->grad_act - 1;
	} else {
		lo = S[s - (p - s)];
	}
	/* backward from layer lo down to the next batch-statistics layer */
	int q = p - s, next = s - q - 1 >= 0 ? S[s - q - 1] : -1;
	backward_range(m, k, lo, next + 1, s0, n);
	if (next < 0)
		return;
	l = &k->layers[next];
	memset(k->acc, 0, l->ops->stats_size(l) * sizeof *k->acc);
	if (l->backward_needed)
		l->ops->backward_stats(
		    l, m->act[l->run_in[0]] + s0 * l->in_size,
		    m->act[next + 1] + s0 * l->out_size,
		    m->dact[next + 1] + s0 * l->out_size, n, k->acc);
}

/* Phase j->p of the training pass on chunks j->first + [lo, hi). */
static void phase_chunks(void *ctx, long lo, long hi)
{
	const chunk_job *j = ctx;
	for (long c = lo; c < hi; c++)
		train_phase(j->m, j->first + (int)c, j->p, j->n, j->g);
}

/* After phase p: adds the sums of chunks [lo, hi) (this process's share of
 * count) in chunk order, after those of the earlier processes, into the
 * batch totals of the layer the phase ended at (the forward half, then
 * stats_ready, or the backward half). */
static void combine_stats(cnn_model *m, int p, int count, int lo, int hi)
{
	const int s = m->n_sync;
	int backward = p >= s;
	cnn_layer *l =
	    &m->layers[backward ? m->sync[s - 1 - (p - s)] : m->sync[p]];
	size_t size = l->ops->stats_size(l);
	double *tot = l->stats + (backward ? size : 0);

	if (!cnn_dist_fold_recv(tot, size, CNN_DIST_DOUBLE, count))
		memset(tot, 0, size * sizeof *tot);
	for (int c = lo; c < hi; c++)
		for (size_t j = 0; j < size; j++)
			tot[j] += m->chunks[c].acc[j];
	cnn_dist_fold_pass(tot, size, CNN_DIST_DOUBLE, count);
	if (!backward && l->ops->stats_ready)
		l->ops->stats_ready(l);
}

/* A step's seed for dropout: the training seed and the step, mixed. */
static uint64_t step_seed(const cnn_model *m)
{
	return cnn_mix64(m->spec.seed * UINT64_C(0x9e3779b97f4a7c15) + m->step +
	                 1);
}

/* What add_chunks folds: chunks [lo, hi) of m, into m->grads from offset
 * from, onto the running sum there when have. */
typedef struct fold_job {
	cnn_model *m;
	int lo, hi, have;
	size_t from;
} fold_job;

/* The fold of the gradient arenas over the parameters from + [a, b). */
static void add_block(void *ctx, long a, long b)
{
	const fold_job *j = ctx;
	const cnn_model *m = j->m;
	const int lo = j->lo, hi = j->hi, first = j->have ? lo : lo + 1;
	float *restrict dst = m->grads + j->from;
	for (long i = a; i < b; i++) {
		float sum = j->have ? dst[i] : m->chunks[lo].grads[j->from + i];
		for (int c = first; c < hi; c++)
			sum += m->chunks[c].grads[j->from + i];
		dst[i] = sum;
	}
}

/* Adds the gradient arenas of the job's chunks, in chunk order, into
 * m->grads[from, to): onto the running sum there when have, else starting
 * from the first chunk's values (cnn_dist_add_fn). */
static void add_chunks(void *ctx, size_t from, size_t to, int have)
{
	fold_job j = *(const fold_job *)ctx;
	if (j.hi <= j.lo)
		return;
	j.have = have;
	j.from = from;
	cnn_pool_run((long)(to - from), CNN_POOL_GRAIN, add_block, &j);
}

/* The batch's inputs for the calling thread in a split pass of n samples:
 * act[0] without m->fill, else the thread's own buffer, which it fills
 * whole the first time in the pass (each core then reads the inputs from
 * its own cache: written by one core's chunks and read by both, they took
 * 25 us a step at 2 threads to fill, against 2 us a chunk at one). */
static const float *own_input(cnn_model *m, int n)
{
	const int t = cnn_pool_self();

	if (!m->fill)
		return m->act[0];
	if (m->own_pass[t] != m->pass_id) {
		m->fill(m->fill_ctx, 0, n, m->own_x[t], NULL);
		m->own_pass[t] = m->pass_id;
	}
	return m->own_x[t];
}

/* The inputs the last split pass read, for the calling thread: its own
 * buffer when it filled it in that pass, else another thread's that was
 * filled, else (a pass without m->fill) act[0]. */
static const float *split_input(const cnn_model *m)
{
	int t = cnn_pool_self();

	if (t < m->n_own && m->own_pass[t] == m->pass_id)
		return m->own_x[t];
	for (t = 0; t < m->n_own; t++)
		if (m->own_pass[t] == m->pass_id)
			return m->own_x[t];
	return m->act[0];
}

/* The split layer's outputs for the rows of its segments
 * split_lo + [lo, hi), over the whole batch. */
static void rows_forward(void *ctx, long lo, long hi)
{
	const chunk_job *j = ctx;
	cnn_model *m = j->m;
	const cnn_layer *l = &m->layers[m->split];
	const float *x = own_input(m, j->n);

	for (long i = m->split_lo + lo; i < m->split_lo + hi; i++)
		l->ops->forward_rows(l, x, m->act[m->split + 1], j->n,
		                     m->segs[i].row0, m->segs[i].rows);
}

/* The loops within which a thread held back twice (cnn_pool_quiet) stops
 * the passes splitting, until as many pass without: its loop more waits for
 * a thread held back by the system (mlp beside a spinning process, when it
 * was two: 1.13-1.37x the time). */
#define SPLIT_QUIET 256

/* Starts a deferred training pass with several threads by the split
 * layer (m->split), if the model has one: runs the layer by its segments,
 * in a loop of the same count as the step's first (cnn_optim_step_sum),
 * so that each thread takes the same rows in both, each thread on the
 * batch's inputs in its own buffer (own_input); the chunks then start
 * after it (pass_from) and fill only the labels. Not while the system
 * holds threads back, nor without the memory for the buffers. */
static void split_forward(cnn_model *m, int n, int defer)
{
	chunk_job j = {m, 0, n, 0, 0.0f};
	const int threads = cnn_pool_threads();

	m->pass_from = 0;
	if (!defer || m->split < 0 || threads < 2 ||
	    !(m->split_always || cnn_pool_quiet(SPLIT_QUIET)) ||
	    (m->fill && !own_reserve(m, threads)))
		return;
	m->pass_id++;
	cnn_pool_run(m->split_hi - m->split_lo, 1, rows_forward, &j);
	m->pass_from = m->split + 1;
}

/* Forward, loss and backward for the n samples in act[0] with their labels
 * in m->labels, each chunk of this process's share into its own gradient
 * arena; returns the summed loss of the batch and adds its right answers
 * to *correct (both folded over the processes). With cross_entropy the
 * softmax and the loss are differentiated together (dL/dlogits = p -
 * onehot), so the softmax's own backward is skipped. The chunks run in
 * parallel, in 2 * n_sync + 1 phases separated by the batch-statistics
 * layers (one phase for most networks). */
double cnn_graph_backprop(cnn_model *m, int n, size_t *correct, int defer)
{
	float g = m->spec.reduction == CNN_REDUCE_MEAN ? 1.0f / (float)n : 1.0f;
	int count, size, lo, hi;
	const int phases = 2 * m->n_sync + 1;

	cnn_chunk_plan(n, &count, &size);
	cnn_dist_share(count, &lo, &hi);
	set_pass(m, n, 1, step_seed(m), defer);
	split_forward(m, n, defer && lo == 0 && hi == count);
	for (int p = 0; p < phases; p++) {
		chunk_job j = {m, lo, n, p, g};
		cnn_pool_run(hi - lo, 1, phase_chunks, &j);
		if (p + 1 < phases)
			combine_stats(m, p, count, lo, hi);
	}
	/* the loss and the count of right answers (exact in a double) */
	double tot[2] = {0.0, 0.0};
	cnn_dist_fold_recv(tot, 2, CNN_DIST_DOUBLE, count);
	for (int c = lo; c < hi; c++) {
		tot[0] += m->chunks[c].loss;
		tot[1] += (double)m->chunks[c].correct;
	}
	cnn_dist_fold_pass(tot, 2, CNN_DIST_DOUBLE, count);
	*correct += (size_t)tot[1];
	return tot[0];
}

/* The gradient of a batch of n after cnn_graph_backprop(..., deferred):
 * the arenas in chunk order. */
void cnn_graph_parts(const cnn_model *m, int n, int deferred,
                     cnn_grad_parts *gp)
{
	int size;

	cnn_chunk_plan(n, &gp->count, &size);
	for (int c = 0; c < gp->count; c++)
		gp->part[c] = m->chunks[c].grads;
	gp->n = n;
	gp->deferred = deferred;
}

void cnn_graph_seg_grad(const cnn_model *m, const cnn_grad_parts *gp,
                        const cnn_seg *s, float *out)
{
	const cnn_layer *l = &m->layers[s->layer];
	const float *x = s->layer == m->split && m->pass_from
	                     ? split_input(m)
	                     : m->act[l->run_in[0]];
	const float *dy = m->dact[s->layer + 1];
	int count, size;

	cnn_chunk_plan(gp->n, &count, &size);
	l->ops->weight_grad(l, x, dy, gp->n, size, s->row0, s->rows, out);
}

/* Adds the gradient arenas of a batch of n after cnn_graph_backprop in
 * chunk order, with those of the other processes, into m->grads. */
void cnn_graph_fold(cnn_model *m, int n)
{
	int count, size, lo, hi;

	cnn_chunk_plan(n, &count, &size);
	cnn_dist_share(count, &lo, &hi);
	fold_job f = {m, lo, hi, 0, 0};
	cnn_dist_fold_sliced(m->grads, m->n_params, count, add_chunks, &f);
}

double cnn_graph_gradient(cnn_model *m, int n, size_t *correct)
{
	double loss = cnn_graph_backprop(m, n, correct, 0);

	cnn_graph_fold(m, n);
	return loss;
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
	own_free(m);
	free(m->labels);
	free(m->params);
	free(m->grads);
	free(m->m1);
	free(m->m2);
	free(m->best);
	free(m->tensors);
	free(m->segs);
	free(m->stats);
	free(m->sync);
}

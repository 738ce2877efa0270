/*
 * layers/dropout.c - inverted dropout.
 *
 * Key: rate, the probability of dropping a value, a number in [0, 1),
 * default 0.5 (kept in l->rate).
 *
 * In training (l->pass set and pass->training) each value is kept with
 * probability 1 - rate and then scaled by 1 / (1 - rate), or set to 0; in
 * evaluation y = x. Shapes: any (C, H, W), unchanged.
 *
 * Invariants
 *  - No stored mask: value e of sample s (s = pass->sample0 + j for the
 *    chunk's sample j) is kept or dropped by a hash of (the step's seed
 *    mixed with the layer's index, s * size + e), so forward and backward
 *    recompute the same mask, and it never depends on the thread count or
 *    on how the batch is cut into chunks. Mixing in the index keeps two
 *    dropout layers of the same size from dropping the same positions.
 *  - Backward: dx = dy * mask / (1 - rate); in evaluation dx = dy.
 */
#include "layer.h"

#include <string.h>

static const char *const dropout_keys[] = {"type", "name", "input", "rate",
                                           NULL};

/* Reads rate (0.5 when absent); it must be a number in [0, 1). */
static cnn_status dropout_configure(cnn_layer *l, const char *path,
                                    cnn_error *err)
{
	cnn_status st;

	if ((st = cnn_map_check_keys(l->node, path, dropout_keys, err)))
		return st;
	l->rate = 0.5;
	return cnn_get_real(l->node, path, "rate", 0,
	                    (cnn_range){.lo = 0, .hi = 1, .hi_open = 1},
	                    &l->rate, err);
}

/* out = in * mask / (1 - rate) in training, else out = in. */
static void dropout_apply(const cnn_layer *l, const float *in, float *out,
                          int n)
{
	size_t count = (size_t)n * l->in_size;

	if (l->pass && l->pass->training && l->rate > 0.0)
		cnn_dropout_apply(in, out, (size_t)n, l->in_size,
		                  cnn_hash64(l->pass->seed, (uint64_t)l->index),
		                  l->pass->sample0, l->rate);
	else if (out != in)
		memcpy(out, in, sizeof(float) * count);
}

static void dropout_forward(cnn_layer *l, const float *x, float *y, int n,
                            float *ws)
{
	(void)ws;
	dropout_apply(l, x, y, n);
}

static void dropout_backward(cnn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, int n, float *ws)
{
	(void)x;
	(void)y;
	(void)ws;
	if (dx)
		dropout_apply(l, dy, dx, n);
}

const cnn_layer_ops cnn_layer_dropout = {
    .type = "dropout",
    .configure = dropout_configure,
    .infer = cnn_layer_infer_same,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

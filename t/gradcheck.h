/*
 * gradcheck.h - the harness the layer tests share: random inputs, a layer
 * set up from its ops and an input shape, and the check of its backward
 * pass against central finite differences.
 *
 * Gradients are checked on L = sum(y * r) for a random r: the analytic dx,
 * dw, db from backward (with dy = r) against (L(p + h) - L(p - h)) / 2h per
 * parameter p, compared as whole vectors by relative error.
 *
 * Include it once, in a test's .c file, after internal.h and tap.h; seed
 * rng before use.
 */
#ifndef CNN_GRADCHECK_H
#define CNN_GRADCHECK_H

#include "model.h"
#include "tap.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static cnn_rng rng;

/* The kernel variant the current tests run on. */
static const char *variant = "";

/* ok() with "[variant] " in front of the name. */
__attribute__((format(printf, 2, 3))) static int vok(int cond, const char *fmt,
                                                     ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return ok(cond, "[%s] %s", variant, buf);
}

TAP_UNUSED static float *falloc(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof(float));

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(99);
	}
	return p;
}

TAP_UNUSED static void fill(float *a, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(lo + (hi - lo) * cnn_rng_uniform(&rng));
}

/* ======================================================================== */
/* Layer harness                                                            */

/* Shape inference, then parameters allocated and filled in [-0.5, 0.5]. */
TAP_UNUSED static int layer_setup(cnn_layer *l, const cnn_layer_ops *ops, int c,
                                  int h, int w)
{
	cnn_error err;

	cnn_err_clear(&err);
	l->ops = ops;
	l->in_shape[0] = c;
	l->in_shape[1] = h;
	l->in_shape[2] = w;
	l->n_inputs = 1;
	memcpy(l->in_shapes[0], l->in_shape, sizeof l->in_shape);
	if (ops->infer(l, ops->type, &err) != CNN_OK) {
		diag("infer failed: %s", err.message);
		return 0;
	}
	l->w = falloc(l->n_weight);
	l->b = falloc(l->n_bias);
	l->dw = falloc(l->n_weight);
	l->db = falloc(l->n_bias);
	fill(l->w, l->n_weight, -0.5, 0.5);
	fill(l->b, l->n_bias, -0.5, 0.5);
	return 1;
}

TAP_UNUSED static void layer_free(cnn_layer *l)
{
	free(l->w);
	free(l->b);
	free(l->dw);
	free(l->db);
	l->w = l->b = l->dw = l->db = NULL;
}

/* A zeroed layer with the caller's defaults (bias, stride 1, no padding). */
TAP_UNUSED static void layer_defaults(cnn_layer *l)
{
	memset(l, 0, sizeof *l);
	l->bias = 1;
	l->stride[0] = l->stride[1] = 1;
}

/* configure() on a layer parsed from YAML text; on failure err holds the
 * error. Returns its status (CNN_ERR_USAGE if the type is unknown). */
TAP_UNUSED static cnn_status configure_yaml(cnn_layer *l, const char *yaml,
                                            cnn_error *err)
{
	cnn_tree tree;
	const cnn_layer_ops *ops;
	cnn_status st;
	cnn_node *type;

	layer_defaults(l);
	cnn_err_clear(err);
	if ((st = cnn_tree_parse(&tree, yaml, strlen(yaml), "layer.yaml", err)))
		return st;
	type = cnn_map_get(tree.root, "type");
	ops = type ? cnn_layer_find(type->value) : NULL;
	if (!ops) {
		cnn_tree_free(&tree);
		return CNN_ERR_USAGE;
	}
	l->ops = ops;
	l->node = tree.root;
	st = ops->configure(l, ops->type, err);
	l->node = NULL;
	cnn_tree_free(&tree);
	return st;
}

TAP_UNUSED static cnn_layer conv_layer(int filters, int kh, int kw, int sh,
                                       int sw, int ph, int pw, int bias)
{
	cnn_layer l;

	layer_defaults(&l);
	l.filters = filters;
	l.kernel[0] = kh;
	l.kernel[1] = kw;
	l.stride[0] = sh;
	l.stride[1] = sw;
	l.pad[0] = ph;
	l.pad[1] = pw;
	l.bias = bias;
	return l;
}

TAP_UNUSED static size_t workspace_of(const cnn_layer *l, int n)
{
	return l->ops->workspace ? l->ops->workspace(l, n) : 0;
}

/* L = sum(y * r), y = forward(x). */
TAP_UNUSED static double loss(cnn_layer *l, const float *x, const float *r,
                              float *y, int n, float *ws)
{
	double s = 0;

	l->ops->forward(l, x, y, n, ws);
	for (size_t i = 0; i < (size_t)n * l->out_size; i++)
		s += (double)y[i] * r[i];
	return s;
}

/* Central differences of L with respect to p[0..count). */
TAP_UNUSED static void finite_diff(cnn_layer *l, const float *x, const float *r,
                                   float *y, int n, float *ws, float *p,
                                   size_t count, double h, double *fd)
{
	for (size_t i = 0; i < count; i++) {
		float keep = p[i];
		double lp, lm;

		p[i] = (float)(keep + h);
		lp = loss(l, x, r, y, n, ws);
		p[i] = (float)(keep - h);
		lm = loss(l, x, r, y, n, ws);
		p[i] = keep;
		fd[i] = (lp - lm) / (2 * h);
	}
}

/* ||a - b|| / max(||a||, ||b||), 0 for two zero vectors. */
TAP_UNUSED static double rel_err(const float *a, const double *b, size_t n)
{
	double d = 0, na = 0, nb = 0;

	for (size_t i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		na += (double)a[i] * a[i];
		nb += b[i] * b[i];
	}
	if (na == 0 && nb == 0)
		return 0;
	return sqrt(d) / sqrt(na > nb ? na : nb);
}

#define GRAD_TOL 1e-2

/* Checks backward (dx, dw, db) of a set-up layer against finite differences
 * at input x (n samples). For layers with weights also checks that dx ==
 * NULL gives the same dw and db, and that gradients accumulate. */
TAP_UNUSED static void grad_check(const char *name, cnn_layer *l, float *x,
                                  int n, double h)
{
	size_t nin = (size_t)n * l->in_size, nout = (size_t)n * l->out_size;
	size_t nws = workspace_of(l, n);
	float *y = falloc(nout), *y2 = falloc(nout), *r = falloc(nout);
	float *dx = falloc(nin), *ws = falloc(nws);
	float *dw1 = falloc(l->n_weight), *db1 = falloc(l->n_bias);
	size_t most = nin > l->n_weight ? nin : l->n_weight;
	double *fd = malloc(sizeof(double) * (most ? most : 1));
	double e;

	fill(r, nout, -1, 1);
	memset(l->dw, 0, sizeof(float) * l->n_weight);
	memset(l->db, 0, sizeof(float) * l->n_bias);
	for (size_t i = 0; i < nin; i++)
		dx[i] = NAN; /* backward overwrites dx */
	l->ops->forward(l, x, y, n, ws);
	l->ops->backward(l, x, y, r, dx, n, ws);

	finite_diff(l, x, r, y2, n, ws, x, nin, h, fd);
	e = rel_err(dx, fd, nin);
	vok(e < GRAD_TOL, "%s: dx matches finite differences (rel err %.2g)",
	    name, e);
	if (l->n_weight) {
		finite_diff(l, x, r, y2, n, ws, l->w, l->n_weight, h, fd);
		e = rel_err(l->dw, fd, l->n_weight);
		vok(e < GRAD_TOL,
		    "%s: dw matches finite differences (rel err %.2g)", name,
		    e);
	}
	if (l->n_bias) {
		finite_diff(l, x, r, y2, n, ws, l->b, l->n_bias, h, fd);
		e = rel_err(l->db, fd, l->n_bias);
		vok(e < GRAD_TOL,
		    "%s: db matches finite differences (rel err %.2g)", name,
		    e);
	}
	if (l->n_weight) {
		int same, acc = 1;

		memcpy(dw1, l->dw, sizeof(float) * l->n_weight);
		memcpy(db1, l->db, sizeof(float) * l->n_bias);
		memset(l->dw, 0, sizeof(float) * l->n_weight);
		memset(l->db, 0, sizeof(float) * l->n_bias);
		l->ops->backward(l, x, y, r, NULL, n, ws);
		same = !memcmp(dw1, l->dw, sizeof(float) * l->n_weight) &&
		       !memcmp(db1, l->db, sizeof(float) * l->n_bias);
		l->ops->backward(l, x, y, r, NULL, n, ws);
		/* twice the gradient, up to rounding relative to its size */
		for (size_t i = 0; i < l->n_weight; i++) {
			fd[i] = 2.0 * dw1[i];
			acc &=
			    fabs(l->dw[i] - fd[i]) <= 1e-4 * (fabs(fd[i]) + 1);
		}
		acc &= rel_err(l->dw, fd, l->n_weight) < 1e-5;
		for (size_t i = 0; i < l->n_bias; i++) {
			fd[i] = 2.0 * db1[i];
			acc &=
			    fabs(l->db[i] - fd[i]) <= 1e-4 * (fabs(fd[i]) + 1);
		}
		acc &= rel_err(l->db, fd, l->n_bias) < 1e-5;
		vok(same && acc,
		    "%s: dx == NULL gives the same dw, db; they "
		    "accumulate",
		    name);
	}
	free(y);
	free(y2);
	free(r);
	free(dx);
	free(ws);
	free(dw1);
	free(db1);
	free(fd);
}

/* A random input of n samples for l. */
TAP_UNUSED static float *input(const cnn_layer *l, int n)
{
	float *x = falloc((size_t)n * l->in_size);

	fill(x, (size_t)n * l->in_size, -1, 1);
	return x;
}

#endif /* CNN_GRADCHECK_H */

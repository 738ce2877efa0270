/*
 * export_c.c - the C builder behind cnn_model_export (CNN_EXPORT_C): the
 * model as one C99 source file that classifies one image without libcnn.
 *
 * The file holds, in order: a header comment (model, libcnn version, input
 * layout and scale, output, workspace size, a usage example); the includes
 * <math.h>, <stddef.h> and <string.h> and nothing else; the macros
 * NAME_INPUT_CHANNELS, NAME_INPUT_HEIGHT, NAME_INPUT_WIDTH, NAME_CLASSES and
 * NAME_WORKSPACE_FLOATS and the prototype of NAME_predict; every tensor of
 * the model (m->tensors, in arena order) as a static const float array
 * NAME_LAYER_SUFFIX; one static function NAME_KIND per layer kind the model
 * uses; and NAME_predict, which calls them in graph (layer) order.
 *
 * Invariants
 *  - Every float is printed with "%.9g" and an f suffix: the compiler
 *    rounds the decimal straight to float, so each weight is the same bits
 *    as in libcnn (negative zero included). A NaN or infinite weight is
 *    refused, naming the tensor.
 *  - The generated code computes as libcnn's forward in evaluation mode
 *    (the kinds in lib/layers/ and lib/kernels.c): the same output sizes
 *    (floor), first maximum of a pooling window, batchnorm with the
 *    running statistics and 1/sqrt(var + epsilon) in double, softmax with
 *    the maximum subtracted and its sum in double, global average in
 *    double, dropout the identity. Only the order of the sums in conv2d
 *    and dense differs.
 *  - The workspace holds only the activations that later layers still
 *    read (c_plan): flatten and dropout share their input's floats,
 *    element-wise layers whose input is read by nobody else work in place,
 *    and a finished activation's floats are reused (first fit). The last
 *    layer writes the probabilities directly.
 *  - Identifiers: tensor "L.S" becomes NAME_L_S; layer names are
 *    [A-Za-z0-9_]+ and the suffixes (weight, bias, running_mean,
 *    running_var) end in words no other identifier of the file ends in, so
 *    none collide.
 */
#include "export.h"

#include "bytes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Text                                                                     */

/* Appends printf-formatted text to b (sets b->failed when out of memory). */
static void put(cnn_wbuf *b, const char *fmt, ...) CNN_PRINTF(2, 3);
static void put(cnn_wbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	p = (char *)cnn_wbuf_grow(b, (size_t)n + 1);
	if (!p)
		return;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len--; /* the NUL is overwritten by what comes next */
}

/* Appends text with every '@' replaced by name. */
static void put_named(cnn_wbuf *b, const char *name, const char *text)
{
	const char *at;

	while ((at = strchr(text, '@')) != NULL) {
		cnn_put_bytes(b, text, (size_t)(at - text));
		cnn_put_bytes(b, name, strlen(name));
		text = at + 1;
	}
	cnn_put_bytes(b, text, strlen(text));
}

/* v as a C float constant that converts back to exactly v: "%.9g" with a
 * '.' when it has neither '.' nor exponent (so "-0" stays negative), then
 * 'f'. A locale's decimal comma is turned back into '.'. v is finite. */
static void float_literal(float v, char buf[32])
{
	size_t n;

	snprintf(buf, 24, "%.9g", (double)v);
	for (n = 0; buf[n]; n++)
		if (!strchr("0123456789+-e", buf[n]))
			buf[n] = '.';
	if (!strpbrk(buf, ".e"))
		memcpy(buf + n, ".0", 3), n += 2;
	memcpy(buf + n, "f", 2);
}

/* Appends one call statement (a tab, call, ";\n"), broken after commas so
 * that its lines stay within 80 columns (continuations indented by two
 * tabs). */
static void put_call(cnn_wbuf *b, const char *call)
{
	size_t col = 8, len = strlen(call);
	const char *p = call;

	cnn_put_u8(b, '\t');
	while (len > 0) {
		const char *comma = NULL, *c = p;
		size_t room = 78 - col, cut;

		if (len + 1 <= room) {
			cnn_put_bytes(b, p, len);
			break;
		}
		while ((c = strstr(c, ", ")) != NULL && (size_t)(c - p) < room)
			comma = c++;
		cut = comma ? (size_t)(comma - p) + 1 : len;
		cnn_put_bytes(b, p, cut);
		p += cut, len -= cut;
		if (len > 0 && *p == ' ')
			p++, len--;
		if (len > 0)
			cnn_put_bytes(b, "\n\t\t", 3);
		col = 16;
	}
	cnn_put_bytes(b, ";\n", 2);
}

/* ------------------------------------------------------------------------ */
/* Layer kinds                                                              */

enum c_kind {
	K_CONV2D,
	K_DENSE,
	K_MAXPOOL,
	K_AVGPOOL,
	K_GLOBAL_AVGPOOL,
	K_BATCHNORM,
	K_RELU,
	K_LEAKY_RELU,
	K_ELU,
	K_SIGMOID,
	K_TANH,
	K_SOFTMAX,
	K_ADD,
	K_CONCAT,
	K_FLATTEN,
	K_DROPOUT,
	K_COUNT
};

/* Each kind: its libcnn type, whether its output is value by value a
 * function of input 0's same value (it may then run in place), and the
 * static function it needs ('@' for NAME; NULL: none). */
typedef struct c_kind_info {
	const char *type;
	int elementwise;
	const char *code;
} c_kind_info;

static const c_kind_info kinds[K_COUNT] = {
    [K_CONV2D] = {"conv2d", 0,
                  "/* conv2d: y (f, oh, ow) = the cross-correlation of x (c, "
                  "h, w), zero-padded\n"
                  " * by (ph, pw), with wt (f, c, kh, kw) at stride (sh, sw), "
                  "plus b (f) unless\n"
                  " * NULL; oh = (h + 2 ph - kh) / sh + 1, ow likewise. Each "
                  "output starts at\n"
                  " * its bias and gets the products in (ci, i, j) order, one "
                  "weight at a time\n"
                  " * over the output rows, skipping those that fall in the "
                  "padding. */\n"
                  "static void @_conv2d(const float *x, int c, int h, int w, "
                  "const float *wt,\n"
                  "\tconst float *b, int f, int kh, int kw, "
                  "int sh, int sw,\n"
                  "\tint ph, int pw, float *y)\n"
                  "{\n"
                  "\tint oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - "
                  "kw) / sw + 1;\n"
                  "\tint o, ci, i, j, oy, ox;\n"
                  "\n"
                  "\tfor (o = 0; o < f; o++) {\n"
                  "\t\tfloat *yo = y + o * oh * ow;\n"
                  "\n"
                  "\t\tfor (oy = 0; oy < oh * ow; oy++)\n"
                  "\t\t\tyo[oy] = b ? b[o] : 0.0f;\n"
                  "\t\tfor (ci = 0; ci < c; ci++)\n"
                  "\t\t\tfor (i = 0; i < kh; i++)\n"
                  "\t\t\t\tfor (j = 0; j < kw; j++) {\n"
                  "\t\t\t\t\tfloat k = wt[((o * c + ci) * kh + i) * kw + j];\n"
                  "\t\t\t\t\t/* the outputs whose input column\n"
                  "\t\t\t\t\t * ox * sw - pw + j is in 0..w-1 */\n"
                  "\t\t\t\t\tint lo = pw - j, hi = w - 1 + pw - j;\n"
                  "\t\t\t\t\tint ox0 = lo > 0 ? (lo + sw - 1) / sw : 0;\n"
                  "\t\t\t\t\tint ox1 = hi < 0 ? 0 : hi / sw + 1;\n"
                  "\n"
                  "\t\t\t\t\tox1 = ox1 < ow ? ox1 : ow;\n"
                  "\t\t\t\t\tfor (oy = 0; oy < oh; oy++) {\n"
                  "\t\t\t\t\t\tint iy = oy * sh - ph + i;\n"
                  "\t\t\t\t\t\tint at;\n"
                  "\t\t\t\t\t\tfloat *yr = yo + oy * ow;\n"
                  "\n"
                  "\t\t\t\t\t\tif (iy < 0 || iy >= h)\n"
                  "\t\t\t\t\t\t\tcontinue;\n"
                  "\t\t\t\t\t\tat = (ci * h + iy) * w + j - pw;\n"
                  "\t\t\t\t\t\tfor (ox = ox0; ox < ox1; ox++)\n"
                  "\t\t\t\t\t\t\tyr[ox] += k * x[at + ox * sw];\n"
                  "\t\t\t\t\t}\n"
                  "\t\t\t\t}\n"
                  "\t}\n"
                  "}\n"},
    [K_DENSE] = {"dense", 0,
                 "/* dense: y (units) = wt (units, in) x (in) + b (units) "
                 "unless b is NULL. */\n"
                 "static void @_dense(const float *x, int in, const float "
                 "*wt, const float *b,\n"
                 "\tint units, float *y)\n"
                 "{\n"
                 "\tint u, i;\n"
                 "\n"
                 "\tfor (u = 0; u < units; u++) {\n"
                 "\t\tconst float *row = wt + u * in;\n"
                 "\t\tfloat s = 0.0f;\n"
                 "\n"
                 "\t\tfor (i = 0; i < in; i++)\n"
                 "\t\t\ts += row[i] * x[i];\n"
                 "\t\ty[u] = b ? s + b[u] : s;\n"
                 "\t}\n"
                 "}\n"},
    [K_MAXPOOL] = {"maxpool", 0,
                   "/* maxpool: y (c, oh, ow) = the first maximum of each kh "
                   "x kw window of x\n"
                   " * (c, h, w) at stride (sh, sw), no padding; oh = (h - "
                   "kh) / sh + 1. */\n"
                   "static void @_maxpool(const float *x, int c, int h, int "
                   "w, int kh, int kw,\n"
                   "\tint sh, int sw, float *y)\n"
                   "{\n"
                   "\tint oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;\n"
                   "\tint ch, oy, ox, i, j;\n"
                   "\n"
                   "\tfor (ch = 0; ch < c; ch++)\n"
                   "\t\tfor (oy = 0; oy < oh; oy++)\n"
                   "\t\t\tfor (ox = 0; ox < ow; ox++) {\n"
                   "\t\t\t\tconst float *p =\n"
                   "\t\t\t\t    x + (ch * h + oy * sh) * w + ox * sw;\n"
                   "\t\t\t\tfloat m = p[0];\n"
                   "\n"
                   "\t\t\t\tfor (i = 0; i < kh; i++)\n"
                   "\t\t\t\t\tfor (j = 0; j < kw; j++)\n"
                   "\t\t\t\t\t\tif (p[i * w + j] > m)\n"
                   "\t\t\t\t\t\t\tm = p[i * w + j];\n"
                   "\t\t\t\ty[(ch * oh + oy) * ow + ox] = m;\n"
                   "\t\t\t}\n"
                   "}\n"},
    [K_AVGPOOL] = {"avgpool", 0,
                   "/* avgpool: y (c, oh, ow) = the mean of each kh x kw "
                   "window of x (c, h, w)\n"
                   " * at stride (sh, sw), no padding; oh = (h - kh) / sh + "
                   "1. */\n"
                   "static void @_avgpool(const float *x, int c, int h, int "
                   "w, int kh, int kw,\n"
                   "\tint sh, int sw, float *y)\n"
                   "{\n"
                   "\tint oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;\n"
                   "\tint ch, oy, ox, i, j;\n"
                   "\tfloat count = (float)(kh * kw);\n"
                   "\n"
                   "\tfor (ch = 0; ch < c; ch++)\n"
                   "\t\tfor (oy = 0; oy < oh; oy++)\n"
                   "\t\t\tfor (ox = 0; ox < ow; ox++) {\n"
                   "\t\t\t\tconst float *p =\n"
                   "\t\t\t\t    x + (ch * h + oy * sh) * w + ox * sw;\n"
                   "\t\t\t\tfloat s = 0.0f;\n"
                   "\n"
                   "\t\t\t\tfor (i = 0; i < kh; i++)\n"
                   "\t\t\t\t\tfor (j = 0; j < kw; j++)\n"
                   "\t\t\t\t\t\ts += p[i * w + j];\n"
                   "\t\t\t\ty[(ch * oh + oy) * ow + ox] = s / count;\n"
                   "\t\t\t}\n"
                   "}\n"},
    [K_GLOBAL_AVGPOOL] = {"global_avgpool", 0,
                          "/* global_avgpool: y (c) = the mean of each plane "
                          "of x (c, hw), summed in\n"
                          " * double. */\n"
                          "static void @_global_avgpool(const float *x, int "
                          "c, int hw, float *y)\n"
                          "{\n"
                          "\tint ch, i;\n"
                          "\n"
                          "\tfor (ch = 0; ch < c; ch++) {\n"
                          "\t\tdouble s = 0.0;\n"
                          "\n"
                          "\t\tfor (i = 0; i < hw; i++)\n"
                          "\t\t\ts += x[ch * hw + i];\n"
                          "\t\ty[ch] = (float)(s / (double)hw);\n"
                          "\t}\n"
                          "}\n"},
    [K_BATCHNORM] = {"batchnorm", 1,
                     "/* batchnorm (inference): y = (x - mean) * gamma / "
                     "sqrt(var + eps) + beta\n"
                     " * per channel of x (c, hw), with the running "
                     "statistics; 1 / sqrt in double,\n"
                     " * at most the largest float. y may be x. */\n"
                     "static void @_batchnorm(const float *x, int c, int hw, "
                     "const float *gamma,\n"
                     "\tconst float *beta, const float "
                     "*mean,\n"
                     "\tconst float *var, double eps, "
                     "float *y)\n"
                     "{\n"
                     "\tint ch, i;\n"
                     "\n"
                     "\tfor (ch = 0; ch < c; ch++) {\n"
                     "\t\tdouble v = 1.0 / sqrt((double)var[ch] + eps);\n"
                     "\t\tfloat inv = (float)(v < 3.4028234663852886e+38\n"
                     "\t\t                        ? v\n"
                     "\t\t                        : 3.4028234663852886e+38);\n"
                     "\t\tfloat a = gamma[ch] * inv, m = mean[ch], "
                     "d = beta[ch];\n"
                     "\n"
                     "\t\tfor (i = 0; i < hw; i++)\n"
                     "\t\t\ty[ch * hw + i] = (x[ch * hw + i] - m) * a + d;\n"
                     "\t}\n"
                     "}\n"},
    [K_RELU] = {"relu", 1,
                "/* relu: y = x where x > 0, else 0 (n values; y may be x). "
                "*/\n"
                "static void @_relu(const float *x, int n, float *y)\n"
                "{\n"
                "\tint i;\n"
                "\n"
                "\tfor (i = 0; i < n; i++)\n"
                "\t\ty[i] = x[i] > 0.0f ? x[i] : 0.0f;\n"
                "}\n"},
    [K_LEAKY_RELU] = {"leaky_relu", 1,
                      "/* leaky_relu: y = x where x > 0, else slope * x (n "
                      "values; y may be x). */\n"
                      "static void @_leaky_relu(const float *x, int n, float "
                      "slope, float *y)\n"
                      "{\n"
                      "\tint i;\n"
                      "\n"
                      "\tfor (i = 0; i < n; i++)\n"
                      "\t\ty[i] = x[i] > 0.0f ? x[i] : slope * x[i];\n"
                      "}\n"},
    [K_ELU] = {"elu", 1,
               "/* elu: y = x where x > 0, else alpha * (exp(x) - 1) (n "
               "values; y may be x). */\n"
               "static void @_elu(const float *x, int n, float alpha, float "
               "*y)\n"
               "{\n"
               "\tint i;\n"
               "\n"
               "\tfor (i = 0; i < n; i++)\n"
               "\t\ty[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);\n"
               "}\n"},
    [K_SIGMOID] = {"sigmoid", 1,
                   "/* sigmoid: y = 1 / (1 + exp(-x)), exp of a non-positive "
                   "number only (n\n"
                   " * values; y may be x). */\n"
                   "static void @_sigmoid(const float *x, int n, float *y)\n"
                   "{\n"
                   "\tint i;\n"
                   "\n"
                   "\tfor (i = 0; i < n; i++) {\n"
                   "\t\tif (x[i] >= 0.0f) {\n"
                   "\t\t\ty[i] = 1.0f / (1.0f + expf(-x[i]));\n"
                   "\t\t} else {\n"
                   "\t\t\tfloat e = expf(x[i]);\n"
                   "\n"
                   "\t\t\ty[i] = e / (1.0f + e);\n"
                   "\t\t}\n"
                   "\t}\n"
                   "}\n"},
    [K_TANH] = {"tanh", 1,
                "/* tanh: y = tanh(x) (n values; y may be x). */\n"
                "static void @_tanh(const float *x, int n, float *y)\n"
                "{\n"
                "\tint i;\n"
                "\n"
                "\tfor (i = 0; i < n; i++)\n"
                "\t\ty[i] = tanhf(x[i]);\n"
                "}\n"},
    [K_SOFTMAX] = {"softmax", 0,
                   "/* softmax: y = exp(x - max x) / the sum of them (k "
                   "values), summed in\n"
                   " * double. */\n"
                   "static void @_softmax(const float *x, int k, float *y)\n"
                   "{\n"
                   "\tfloat m = x[0];\n"
                   "\tdouble sum = 0.0;\n"
                   "\tint i;\n"
                   "\n"
                   "\tfor (i = 1; i < k; i++)\n"
                   "\t\tif (x[i] > m)\n"
                   "\t\t\tm = x[i];\n"
                   "\tfor (i = 0; i < k; i++) {\n"
                   "\t\ty[i] = expf(x[i] - m);\n"
                   "\t\tsum += y[i];\n"
                   "\t}\n"
                   "\tfor (i = 0; i < k; i++)\n"
                   "\t\ty[i] = (float)(y[i] / sum);\n"
                   "}\n"},
    [K_ADD] = {"add", 1,
               "/* add: y = a + b (n values; y may be a). A sum of more "
               "inputs adds them one\n"
               " * by one into y. */\n"
               "static void @_add(const float *a, const float *b, int n, "
               "float *y)\n"
               "{\n"
               "\tint i;\n"
               "\n"
               "\tfor (i = 0; i < n; i++)\n"
               "\t\ty[i] = a[i] + b[i];\n"
               "}\n"},
    [K_CONCAT] = {"concat", 0, NULL},
    [K_FLATTEN] = {"flatten", 0, NULL},
    [K_DROPOUT] = {"dropout", 0, NULL},
};

/* The copy that concat (each input to its place in the output) and a last
 * flatten or dropout use. */
static const char copy_code[] =
    "/* copy: y = x (n values): a concat input to its place in the output "
    "(they\n"
    " * follow one another on the channels), or a last flatten or dropout. "
    "*/\n"
    "static void @_copy(const float *x, int n, float *y)\n"
    "{\n"
    "\tmemcpy(y, x, (size_t)n * sizeof *y);\n"
    "}\n";

/* Whether layer l of kind k leaves its input's floats as they are:
 * flatten, dropout (at inference), and add or concat of one input. */
static int is_identity(const cnn_layer *l, int k)
{
	return k == K_FLATTEN || k == K_DROPOUT ||
	       ((k == K_ADD || k == K_CONCAT) && l->n_inputs == 1);
}

/* The kind of every layer into kind[]; a type this builder does not know is
 * CNN_ERR_CONFIG naming the layer. */
static cnn_status layer_kinds(const cnn_model *m, int *kind, cnn_error *err)
{
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		int k = 0;

		while (k < K_COUNT && strcmp(kinds[k].type, l->ops->type))
			k++;
		if (k == K_COUNT)
			return cnn_err(err, CNN_ERR_CONFIG,
			               "layer %s (%s): the C export cannot "
			               "express this kind of layer",
			               l->name, l->ops->type);
		kind[i] = k;
	}
	return CNN_OK;
}

/* ------------------------------------------------------------------------ */
/* The workspace plan                                                       */

/* Where each activation (0: the input, i + 1: layer i's output) lives. */
typedef struct c_plan {
	int n;         /* activations: n_layers + 1 */
	int *buf;      /* the activation that owns the floats of activation a:
	                  0 the input, n - 1 the probabilities, else one whose
	                  floats are in the workspace at off[buf[a]] */
	int *end;      /* for an owner: the last layer that reads its floats */
	size_t *off;   /* for an owner in the workspace: its offset in floats */
	size_t *size;  /* for an owner: its floats */
	size_t floats; /* the workspace's size */
} c_plan;

static void plan_free(c_plan *p)
{
	free(p->buf);
	free(p->end);
	free(p->off);
	free(p->size);
}

/* The lowest offset at which size floats overlap none of the owners
 * o < a whose floats are in the workspace and still read at layer i
 * (end[o] >= i): first fit in the gaps between them. */
static size_t first_fit(const c_plan *p, int a, int i, size_t size)
{
	size_t at = 0;
	int moved = 1;

	while (moved) {
		moved = 0;
		for (int o = 1; o < a; o++) {
			if (p->buf[o] != o || p->end[o] < i)
				continue;
			if (at < p->off[o] + p->size[o] &&
			    p->off[o] < at + size) {
				at = p->off[o] + p->size[o];
				moved = 1;
			}
		}
	}
	return at;
}

/* Whether layer i (of kind k, not the last) may write its output over
 * input 0's floats: an element-wise kind, input 0 in the workspace and read
 * by no later layer, and (add) not another input of the layer. */
static int in_place(const cnn_model *m, const c_plan *p, int i, int k)
{
	const cnn_layer *l = &m->layers[i];
	int b = p->buf[l->inputs[0]];

	if (!kinds[k].elementwise || b == 0 || p->end[b] != i)
		return 0;
	for (int q = 1; q < l->n_inputs; q++)
		if (p->buf[l->inputs[q]] == b)
			return 0;
	return 1;
}

/* Plans the activations' floats (see the file's comment). */
static cnn_status plan_build(const cnn_model *m, const int *kind, c_plan *p,
                             cnn_error *err)
{
	const int n = m->n_layers + 1;

	p->n = n;
	p->buf = calloc((size_t)n, sizeof *p->buf);
	p->end = calloc((size_t)n, sizeof *p->end);
	p->off = calloc((size_t)n, sizeof *p->off);
	p->size = calloc((size_t)n, sizeof *p->size);
	p->floats = 0;
	if (!p->buf || !p->end || !p->off || !p->size)
		return cnn_err_nomem(err, NULL, "exporting C");
	/* end[a]: the last layer reading activation a itself, -1 if none */
	for (int a = 0; a < n; a++)
		p->end[a] = -1;
	for (int i = 0; i < m->n_layers; i++)
		for (int q = 0; q < m->layers[i].n_inputs; q++)
			p->end[m->layers[i].inputs[q]] = i;
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];
		int a = i + 1, b = p->buf[l->inputs[0]], reads = p->end[a];

		p->size[a] = l->out_size;
		if (a < n - 1 &&
		    (is_identity(l, kind[i]) || in_place(m, p, i, kind[i]))) {
			/* the owner's floats live as long as either reader */
			p->buf[a] = b;
			if (reads > p->end[b])
				p->end[b] = reads;
			continue;
		}
		p->buf[a] = a;
		if (reads < i)
			p->end[a] = i; /* read by nobody: free once written */
		if (a == n - 1)
			break; /* the probabilities */
		p->off[a] = first_fit(p, a, i, p->size[a]);
		if (p->off[a] + p->size[a] > p->floats)
			p->floats = p->off[a] + p->size[a];
	}
	return CNN_OK;
}

/* Where activation a starts, plus delta floats, as an expression of the
 * generated code ("input", "workspace + 784") into buf. */
static const char *act_expr(const c_plan *p, int a, size_t delta, char buf[48])
{
	int o = p->buf[a];
	const char *base = o == 0          ? "input"
	                   : o == p->n - 1 ? "probabilities"
	                                   : "workspace";

	delta += o == 0 || o == p->n - 1 ? 0 : p->off[o];
	if (delta == 0)
		return base;
	snprintf(buf, 48, "%s + %zu", base, delta);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* The parts of the file                                                    */

/* The C expression of the scale: "1/255" when scale is 1/k for a whole k,
 * else "" (buf has 32 bytes). */
static const char *scale_fraction(float scale, char *buf)
{
	double k = scale > 0.0f ? floor(1.0 / scale + 0.5) : 0.0;

	buf[0] = '\0';
	if (k >= 1.0 && k < 1e9 && (float)(1.0 / k) == scale)
		snprintf(buf, 32, "1/%.0f", k);
	return buf;
}

/* The header's line on data.normalize, when the model has it: the means and
 * stds (up to 8 channels written out, else a pointer to the description),
 * applied after the scale. */
static void put_normalize(cnn_wbuf *b, const cnn_model *m)
{
	const float *norm = m->spec.normalize;
	const int C = m->spec.input[0];
	char v[32];

	if (!norm)
		return;
	put(b, " * Then, per channel c, (x - mean[c]) / std[c] in float "
	       "(data.normalize):\n");
	if (C > 8) {
		put(b,
		    " * the %d means and stds are in the model's "
		    "description.\n",
		    C);
		return;
	}
	for (int k = 0; k < 2 * C; k++) {
		float_literal(norm[k], v);
		put(b, "%s%s%s",
		    k == 0   ? " * mean {"
		    : k == C ? "}, std {"
		             : ", ",
		    v,
		    k == 2 * C - 1 ? "} (the usage below leaves this out).\n"
		                   : "");
	}
}

/* The header comment: model, version, input, output, workspace, usage. */
static void put_header(cnn_wbuf *b, const cnn_model *m, const char *name,
                       const c_plan *p, float scale)
{
	const cnn_layer *last = &m->layers[m->n_layers - 1];
	const int *in = m->layers[0].in_shape;
	char s[32], frac[32];
	size_t ws = p->floats ? p->floats : 1;

	float_literal(scale, s);
	scale_fraction(scale, frac);
	put(b,
	    "/*\n * %s: the model \"%s\", exported by libcnn %s as one C99\n"
	    " * file that classifies one image. No allocation, no state; the "
	    "only\n * includes are <math.h>, <stddef.h> and <string.h>.\n *\n",
	    name, cnn_model_name(m), cnn_version());
	put(b,
	    " * Input: %d x %d x %d floats in CHW order (channel, row, "
	    "column): "
	    "each\n * pixel byte (0..255) times the scale %s%s%s%s,\n"
	    " * as libcnn feeds them.\n",
	    in[0], in[1], in[2], s, frac[0] ? " (" : "", frac,
	    frac[0] ? ")" : "");
	put_normalize(b, m);
	if (!strcmp(last->ops->type, "softmax"))
		put(b, " * Output: the %zu class probabilities (softmax).\n",
		    last->out_size);
	else
		put(b,
		    " * Output: the %zu outputs of the last layer, %s (%s): "
		    "the model\n * does not end in softmax.\n",
		    last->out_size, last->name, last->ops->type);
	put(b, " * Classes: 0..%zu.\n", last->out_size - 1);
	put(b,
	    " * Workspace: %zu floats (%zu bytes) of scratch for the "
	    "activations that\n * later layers still read; what it holds on "
	    "entry does not matter.\n",
	    ws, ws * sizeof(float));
	put(b,
	    " *\n * Usage (pixels: the image's bytes in CHW order):\n"
	    " *   static float in[%s_INPUT_CHANNELS * %s_INPUT_HEIGHT * "
	    "%s_INPUT_WIDTH];\n"
	    " *   static float probs[%s_CLASSES], ws[%s_WORKSPACE_FLOATS];\n"
	    " *   for (i = 0; i < sizeof in / sizeof in[0]; i++)\n"
	    " *           in[i] = pixels[i] * %s;\n"
	    " *   %s_predict(in, probs, ws); (probs[k]: class k)\n */\n",
	    name, name, name, name, name, s, name);
}

/* The includes, macros and the prototype of NAME_predict. */
static void put_interface(cnn_wbuf *b, const cnn_model *m, const char *name,
                          const c_plan *p)
{
	const int *in = m->layers[0].in_shape;

	put(b,
	    "#include <math.h>\n#include <stddef.h>\n#include <string.h>\n\n");
	put(b,
	    "#define %s_INPUT_CHANNELS %d\n#define %s_INPUT_HEIGHT %d\n"
	    "#define %s_INPUT_WIDTH %d\n#define %s_CLASSES %zu\n"
	    "#define %s_WORKSPACE_FLOATS %zu\n\n",
	    name, in[0], name, in[1], name, in[2], name,
	    m->layers[m->n_layers - 1].out_size, name,
	    p->floats ? p->floats : 1);
	put(b,
	    "/* Classifies one image. input: the image, INPUT_CHANNELS x "
	    "INPUT_HEIGHT x\n * INPUT_WIDTH floats (CHW, scaled as above); "
	    "probabilities: receives\n * CLASSES floats; workspace: "
	    "WORKSPACE_FLOATS floats of scratch (the macros\n * above). The "
	    "three must not overlap. Returns 0, or -1 when a pointer is NULL\n"
	    " * (nothing is written then). Keeps no state: calls with their "
	    "own workspaces\n * may run at the same time. */\n"
	    "int %s_predict(const float *input, float *probabilities,\n"
	    "\tfloat *workspace);\n\n",
	    name);
}

/* The layer tensor s belongs to (its weight, bias or state). */
static const cnn_layer *tensor_layer(const cnn_model *m,
                                     const cnn_tensor_slot *s)
{
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer *l = &m->layers[i];

		if ((l->n_weight && s->off == l->w_off) ||
		    (l->n_bias && s->off == l->b_off) ||
		    (s->off >= l->state_off &&
		     s->off < l->state_off + l->n_state))
			return l;
	}
	return &m->layers[0]; /* not reached: every tensor has a layer */
}

/* Every tensor as a static const array; a NaN or infinite value is
 * CNN_ERR_DIVERGED naming the layer and the tensor. */
static cnn_status put_weights(cnn_wbuf *b, const cnn_model *m, const float *w,
                              const char *name, cnn_error *err)
{
	char lit[32];

	for (int t = 0; t < m->n_tensors; t++) {
		const cnn_tensor_slot *s = &m->tensors[t];
		const float *v = w + s->off;
		size_t col = 80;

		for (size_t i = 0; i < s->n; i++)
			if (!isfinite(v[i])) {
				const cnn_layer *l = tensor_layer(m, s);

				return cnn_err(
				    err, CNN_ERR_DIVERGED,
				    "layer %s (%s): tensor %s holds %g "
				    "at %zu; the C export needs finite "
				    "weights",
				    l->name, l->ops->type, s->name,
				    (double)v[i], i);
			}
		put(b, "/* %s: ", s->name);
		for (int d = 0; d < s->ndim; d++)
			put(b, "%s%d", d ? " x " : "", s->shape[d]);
		put(b, " */\nstatic const float %s_", name);
		for (const char *c = s->name; *c; c++)
			cnn_put_u8(b, *c == '.' ? '_' : (uint8_t)*c);
		put(b, "[%zu] = {", s->n);
		for (size_t i = 0; i < s->n; i++) {
			size_t len;

			float_literal(v[i], lit);
			len = strlen(lit) + (i + 1 < s->n);
			if (col + 1 + len > 79) {
				put(b, "\n\t");
				col = 8;
			} else {
				cnn_put_u8(b, ' ');
				col++;
			}
			put(b, "%s%s", lit, i + 1 < s->n ? "," : "");
			col += len;
		}
		put(b, "\n};\n\n");
	}
	return CNN_OK;
}

/* The static function of every kind that a call of NAME_predict uses, in
 * the table's order, and the copy when concat or a last identity needs it. */
static void put_kinds(cnn_wbuf *b, const cnn_model *m, const int *kind,
                      const char *name)
{
	const int last = m->n_layers - 1;
	int used[K_COUNT] = {0};

	for (int i = 0; i < m->n_layers; i++)
		if (!is_identity(&m->layers[i], kind[i]))
			used[kind[i]] = 1;
	for (int k = 0; k < K_COUNT; k++)
		if (used[k] && kinds[k].code) {
			put_named(b, name, kinds[k].code);
			put(b, "\n");
		}
	if (used[K_CONCAT] || is_identity(&m->layers[last], kind[last])) {
		put_named(b, name, copy_code);
		put(b, "\n");
	}
}

/* ------------------------------------------------------------------------ */
/* NAME_predict                                                             */

/* The shortest "%.*g" of v that reads back as v, with a '.' when it has
 * neither '.' nor exponent (buf has 40 bytes). */
static const char *double_literal(double v, char *buf)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	return buf;
}

/* The shape of activation a as "CxHxW" into buf (32 bytes). */
static const char *shape_str(const cnn_model *m, int a, char *buf)
{
	const int *s =
	    a == 0 ? m->layers[0].in_shape : m->layers[a - 1].out_shape;

	snprintf(buf, 32, "%dx%dx%d", s[0], s[1], s[2]);
	return buf;
}

/* Layer i as a comment line of NAME_predict: name, kind, inputs, shapes. */
static void put_layer_comment(cnn_wbuf *b, const cnn_model *m, int i,
                              const char *note)
{
	const cnn_layer *l = &m->layers[i];
	char in[32], out[32];

	put(b, "\t/* %s (%s", l->name, l->ops->type);
	for (int q = 0; q < l->n_inputs; q++) {
		int a = l->inputs[q];

		put(b, "%s%s", q ? ", " : " of ",
		    a ? m->layers[a - 1].name : "input");
	}
	put(b, "): %s -> %s%s */\n", shape_str(m, l->inputs[0], in),
	    shape_str(m, i + 1, out), note);
}

/* The call of layer l (kind k, one call, x its input, y its output) into
 * call (size bytes). */
static void single_call(char *call, size_t size, const cnn_layer *l, int k,
                        const char *name, const char *x, const char *y)
{
	const int *s = l->in_shape;
	const char *t = kinds[k].type, *ln = l->name;
	char bias[CNN_NAME_MAX * 2 + 16], lit[40];

	snprintf(bias, sizeof bias, l->n_bias ? "%s_%s_bias" : "NULL", name,
	         ln);
	if (k == K_CONV2D)
		snprintf(call, size,
		         "%s_conv2d(%s, %d, %d, %d, %s_%s_weight, %s, %d, %d, "
		         "%d, %d, %d, %d, %d, %s)",
		         name, x, s[0], s[1], s[2], name, ln, bias, l->filters,
		         l->kernel[0], l->kernel[1], l->stride[0], l->stride[1],
		         l->pad[0], l->pad[1], y);
	else if (k == K_DENSE)
		snprintf(call, size,
		         "%s_dense(%s, %zu, %s_%s_weight, %s, %d, %s)", name, x,
		         l->in_size, name, ln, bias, l->units, y);
	else if (k == K_MAXPOOL || k == K_AVGPOOL)
		snprintf(call, size,
		         "%s_%s(%s, %d, %d, %d, %d, %d, %d, %d, %s)", name, t,
		         x, s[0], s[1], s[2], l->kernel[0], l->kernel[1],
		         l->stride[0], l->stride[1], y);
	else if (k == K_GLOBAL_AVGPOOL)
		snprintf(call, size, "%s_global_avgpool(%s, %d, %d, %s)", name,
		         x, s[0], s[1] * s[2], y);
	else if (k == K_BATCHNORM)
		snprintf(call, size,
		         "%s_batchnorm(%s, %d, %d, %s_%s_weight, %s, "
		         "%s_%s_%s, %s_%s_%s, %s, %s)",
		         name, x, s[0], s[1] * s[2], name, ln, bias, name, ln,
		         l->state_suffix[0], name, ln, l->state_suffix[1],
		         double_literal(l->epsilon, lit), y);
	else if (k == K_LEAKY_RELU || k == K_ELU) {
		float_literal((float)l->alpha, lit);
		snprintf(call, size, "%s_%s(%s, %zu, %s, %s)", name, t, x,
		         l->in_size, lit, y);
	} else /* relu, sigmoid, tanh, softmax */
		snprintf(call, size, "%s_%s(%s, %zu, %s)", name, t, x,
		         l->in_size, y);
}

/* The statements of layer i: a comment, then its call (add: one per input
 * after the first; concat: one copy per input; flatten, dropout: none, or
 * a copy when it is the last layer). */
static void put_layer(cnn_wbuf *b, const cnn_model *m, const c_plan *p,
                      const int *kind, int i, const char *name)
{
	const cnn_layer *l = &m->layers[i];
	const int k = kind[i], a = i + 1, last = a == p->n - 1;
	char call[1024], x[48], x2[48], y[48];
	const char *xs = act_expr(p, l->inputs[0], 0, x);
	const char *ys = act_expr(p, a, 0, y);

	if (is_identity(l, k)) {
		put_layer_comment(b, m, i, last ? "" : ", the same floats");
		if (last) {
			snprintf(call, sizeof call, "%s_copy(%s, %zu, %s)",
			         name, xs, l->out_size, ys);
			put_call(b, call);
		}
		return;
	}
	put_layer_comment(
	    b, m, i, p->buf[a] == p->buf[l->inputs[0]] ? ", in place" : "");
	if (k == K_ADD) {
		for (int q = 1; q < l->n_inputs; q++) {
			snprintf(call, sizeof call, "%s_add(%s, %s, %zu, %s)",
			         name, q == 1 ? xs : ys,
			         act_expr(p, l->inputs[q], 0, x2), l->out_size,
			         ys);
			put_call(b, call);
		}
	} else if (k == K_CONCAT) {
		size_t at = 0;

		for (int q = 0; q < l->n_inputs; q++) {
			snprintf(call, sizeof call, "%s_copy(%s, %zu, %s)",
			         name, act_expr(p, l->inputs[q], 0, x2),
			         l->in_sizes[q], act_expr(p, a, at, y));
			put_call(b, call);
			at += l->in_sizes[q];
		}
	} else {
		single_call(call, sizeof call, l, k, name, xs, ys);
		put_call(b, call);
	}
}

/* NAME_predict: the layers' statements in graph order. */
static void put_predict(cnn_wbuf *b, const cnn_model *m, const c_plan *p,
                        const int *kind, const char *name)
{
	put(b,
	    "int %s_predict(const float *input, float *probabilities, "
	    "float *workspace)\n{\n"
	    "\tif (!input || !probabilities || !workspace)\n"
	    "\t\treturn -1;\n",
	    name);
	if (p->floats == 0)
		put(b, "\t(void)workspace; /* no layer needs it */\n");
	for (int i = 0; i < m->n_layers; i++)
		put_layer(b, m, p, kind, i, name);
	put(b, "\treturn 0;\n}\n");
}

/* ------------------------------------------------------------------------ */
/* The builder                                                              */

cnn_status cnn_export_c(const cnn_model *m, const float *w, const char *name,
                        char **out, size_t *len, cnn_error *err)
{
	cnn_wbuf b = {0};
	c_plan p = {0};
	int *kind;
	cnn_status st;

	*out = NULL;
	*len = 0;
	if (m->n_layers < 1)
		return cnn_err(err, CNN_ERR_CONFIG, "C export: no layers");
	kind = calloc((size_t)m->n_layers, sizeof *kind);
	if (!kind)
		return cnn_err_nomem(err, NULL, "exporting C");
	st = layer_kinds(m, kind, err);
	if (st == CNN_OK)
		st = plan_build(m, kind, &p, err);
	if (st == CNN_OK) {
		put_header(&b, m, name, &p, (float)cnn_model_scale(m));
		put_interface(&b, m, name, &p);
		st = put_weights(&b, m, w, name, err);
	}
	if (st == CNN_OK) {
		put_kinds(&b, m, kind, name);
		put_predict(&b, m, &p, kind, name);
		cnn_put_u8(&b, '\0');
		if (b.failed)
			st = cnn_err_nomem(err, NULL, "exporting C");
	}
	free(kind);
	plan_free(&p);
	if (st != CNN_OK) {
		cnn_wbuf_free(&b);
		return st;
	}
	*out = (char *)b.data;
	*len = b.len - 1;
	return CNN_OK;
}

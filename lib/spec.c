/*
 * spec.c - validates the YAML tree of a model description against the
 * schema and turns it into a typed cnn_spec: input shape, configured layers
 * (each kind reads its own keys), loss, optimiser, training, data and
 * checkpoint settings. Relative paths are resolved here and written back
 * into the tree, so that the description embedded in a checkpoint stands on
 * its own.
 */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEC_MAX_DIM   65536
#define SPEC_MAX_INPUT ((long)1 << 26)

typedef struct spec_ctx {
	cnn_spec *spec;
	cnn_tree *tree;
	cnn_error *err;
} spec_ctx;

/* ======================================================================== */
/* Helpers                                                                  */

/* Describes a node for "got ..." in messages, as tree.c does: "a mapping",
 * "nothing", "\"text\"" or "a quoted string \"text\"", the text cut to 40
 * bytes (on a UTF-8 boundary) with control characters shown as '?'. */
static void describe(const cnn_node *n, char *buf, size_t size)
{
	char ex[48];
	size_t len, i;

	if (n->type != CNN_NODE_SCALAR) {
		snprintf(buf, size, "%s",
		         n->type == CNN_NODE_MAP ? "a mapping" : "a sequence");
		return;
	}
	if (!n->value[0] && !n->quoted) {
		snprintf(buf, size, "nothing");
		return;
	}
	len = strlen(n->value);
	if (len > 40) {
		len = 40;
		while (len && ((unsigned char)n->value[len] & 0xC0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)n->value[i];

		ex[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	ex[i] = '\0';
	snprintf(buf, size, "%s\"%s%s\"", n->quoted ? "a quoted string " : "",
	         ex, strlen(n->value) > len ? "..." : "");
}

/* Copies s into buf (at most 40 bytes, cut on a UTF-8 boundary, "..." when
 * cut) with control characters shown as '?', for quoting user text in a
 * one-line message. buf has room for 48 bytes. */
static const char *printable(const char *s, char buf[48])
{
	size_t len = strlen(s), i;

	if (len > 40) {
		len = 40;
		while (len && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	strcpy(buf + i, strlen(s) > len ? "..." : "");
	return buf;
}

static void join(char *buf, size_t size, const char *path, const char *key)
{
	if (path && path[0])
		snprintf(buf, size, "%s.%s", path, key);
	else
		snprintf(buf, size, "%s", key);
}

/* Fails at the position of map's key (path.key: message) if it is present. */
CNN_PRINTF(5, 6)
static cnn_status reject_key(spec_ctx *c, const cnn_node *map, const char *path,
                             const char *key, const char *fmt, ...)
{
	char msg[384], full[128];
	va_list ap;
	size_t i;

	for (i = 0; i < map->n_pairs; i++) {
		const cnn_pair *p = &map->pairs[i];

		if (strcmp(p->key, key))
			continue;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		join(full, sizeof full, path, key);
		return cnn_err_set(c->err, CNN_ERR_CONFIG, p->value->file,
		                   p->line, p->col, full, "%s", msg);
	}
	return CNN_OK;
}

/* Reads an optional section of the root: NULL if absent, an error if it is
 * not a mapping or has keys outside allowed. */
static cnn_status section(spec_ctx *c, const char *name,
                          const char *const *allowed, const cnn_node **out)
{
	*out = cnn_map_get(c->tree->root, name);
	if (!*out)
		return CNN_OK;
	return cnn_map_check_keys(*out, name, allowed, c->err);
}

/* A number with open or closed bounds: lo < v (lo_open) or lo <= v, and
 * v < hi (hi_open) or v <= hi. Absent: *out keeps its default. */
static cnn_status get_real(spec_ctx *c, const cnn_node *map, const char *path,
                           const char *key, double lo, int lo_open, double hi,
                           int hi_open, double *out)
{
	const cnn_node *n = cnn_map_get(map, key);
	char full[128], expect[128], got[80];
	double v = *out;
	cnn_status st;

	st = cnn_get_double(map, path, key, 0, -DBL_MAX, DBL_MAX, &v, c->err);
	if (st || !n)
		return st;
	if ((lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi)) {
		*out = v;
		return CNN_OK;
	}
	if (hi >= DBL_MAX)
		snprintf(expect, sizeof expect, "a number %s %g",
		         lo_open ? "greater than" : "of at least", lo);
	else
		snprintf(expect, sizeof expect, "a number in %c%g, %g%c",
		         lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
	join(full, sizeof full, path, key);
	describe(n, got, sizeof got);
	return cnn_node_error(c->err, n, full, "expected %s, got %s", expect,
	                      got);
}

/* map[key], read as v, is used in single precision: unless it is 0 it must
 * neither round to 0 nor overflow to infinity. */
static cnn_status fits_float(spec_ctx *c, const cnn_node *map, const char *path,
                             const char *key, double v)
{
	const cnn_node *n = cnn_map_get(map, key);
	char full[128], got[80];

	if (!n || v == 0 || (fabs(v) >= FLT_MIN && fabs(v) <= FLT_MAX))
		return CNN_OK;
	join(full, sizeof full, path, key);
	describe(n, got, sizeof got);
	return cnn_node_error(c->err, n, full,
	                      "expected a number from %g to %g (it is used in "
	                      "single precision), got %s",
	                      (double)FLT_MIN, (double)FLT_MAX, got);
}

/* The folder of the YAML file, absolute, into buf (CNN_PATH_MAX). */
static cnn_status file_dir(spec_ctx *c, char *buf)
{
	const char *file = c->tree->file ? c->tree->file : "";
	const char *slash = strrchr(file, '/');
	size_t dlen = slash ? (size_t)(slash - file) : 0;
	size_t k = 0;

	if (file[0] != '/' || !slash) {
		if (!getcwd(buf, CNN_PATH_MAX))
			return cnn_err_set(c->err, CNN_ERR_IO, NULL, 0, 0, NULL,
			                   "cannot determine the current "
			                   "directory: %s",
			                   strerror(errno));
		k = strlen(buf);
		if (!slash || (dlen == 1 && file[0] == '.'))
			return CNN_OK;
		if (k && buf[k - 1] != '/')
			buf[k++] = '/';
	}
	if (k + dlen + 1 > CNN_PATH_MAX)
		return cnn_err_set(c->err, CNN_ERR_CONFIG, file, 0, 0, NULL,
		                   "the file's folder name is too long");
	memcpy(buf + k, file, dlen);
	buf[k + dlen] = '\0';
	if (!buf[0]) /* a file in "/" */
		strcpy(buf, "/");
	return CNN_OK;
}

/* Makes rel absolute against the YAML file's folder (from_file) or the
 * current directory, into out (CNN_PATH_MAX). n (may be NULL) and full
 * locate errors. */
static cnn_status absolute(spec_ctx *c, const cnn_node *n, const char *full,
                           const char *rel, int from_file, char *out)
{
	char base[CNN_PATH_MAX];
	size_t bl, rl = strlen(rel);
	cnn_status st;

	if (rel[0] == '/') {
		if (rl >= CNN_PATH_MAX)
			return cnn_node_error(c->err, n, full, "path too long");
		memmove(out, rel, rl + 1);
		return CNN_OK;
	}
	if (from_file) {
		st = file_dir(c, base);
		if (st)
			return st;
	} else if (!getcwd(base, sizeof base)) {
		return cnn_err_set(c->err, CNN_ERR_IO, NULL, 0, 0, NULL,
		                   "cannot determine the current directory: %s",
		                   strerror(errno));
	}
	bl = strlen(base);
	if (bl && base[bl - 1] == '/')
		bl--;
	if (bl + 1 + rl + 1 > CNN_PATH_MAX)
		return cnn_node_error(c->err, n, full,
		                      "path too long once made absolute");
	memmove(out + bl + 1, rel, rl + 1);
	memcpy(out, base, bl);
	out[bl] = '/';
	return CNN_OK;
}

/* Reads the path map[key] into out (CNN_PATH_MAX), made absolute and written
 * back into the tree. what says what is expected when it is required and
 * missing. Returns CNN_OK with out untouched when absent and optional. */
static cnn_status get_path(spec_ctx *c, const cnn_node *map, const char *path,
                           const char *key, const char *what, char *out)
{
	cnn_node *n = cnn_map_get(map, key);
	char full[128];
	cnn_status st;
	int from_file;

	join(full, sizeof full, path, key);
	if (!n) {
		if (what)
			return cnn_node_error(c->err, map, full,
			                      "missing (expected %s)", what);
		return CNN_OK;
	}
	st = cnn_get_string(map, path, key, 1, out, CNN_PATH_MAX, c->err);
	if (st)
		return st;
	if (!out[0])
		return cnn_node_error(c->err, n, full,
		                      "expected a path, got nothing");
	if (out[0] == '/')
		return CNN_OK;
	from_file =
	    n->file == c->tree->file ||
	    (n->file && c->tree->file && !strcmp(n->file, c->tree->file));
	st = absolute(c, n, full, out, from_file, out);
	if (!st)
		st = cnn_node_set_scalar(n, out, c->err);
	return st;
}

/* Adds "name: VALUE" (a quoted string) at the front of the root mapping, so
 * that the description stays the same when it is read from a checkpoint. */
static cnn_status add_name(spec_ctx *c, const char *value)
{
	cnn_node *root = c->tree->root, *n = calloc(1, sizeof *n);
	char *key = malloc(sizeof "name"), *v = malloc(strlen(value) + 1);
	cnn_pair *pairs = malloc((root->n_pairs + 1) * sizeof *pairs);

	if (!n || !key || !v || !pairs) {
		free(n);
		free(key);
		free(v);
		free(pairs);
		return cnn_err_set(c->err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
		                   "out of memory");
	}
	strcpy(key, "name");
	strcpy(v, value);
	n->type = CNN_NODE_SCALAR;
	n->file = c->tree->file;
	n->value = v;
	n->quoted = 1;
	pairs[0].key = key;
	pairs[0].line = 0;
	pairs[0].col = 0;
	pairs[0].value = n;
	if (root->n_pairs)
		memcpy(pairs + 1, root->pairs, root->n_pairs * sizeof *pairs);
	free(root->pairs);
	root->pairs = pairs;
	root->n_pairs++;
	return CNN_OK;
}

/* ======================================================================== */
/* Sections                                                                 */

/* name: the YAML's, else the file's base name without its extension (then
 * written into the tree). */
static cnn_status parse_name(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	const cnn_node *n = cnn_map_get(c->tree->root, "name");
	const char *file, *base, *dot;
	size_t len;
	cnn_status st;

	if (n) {
		const char *p;

		st = cnn_get_string(c->tree->root, "", "name", 1, s->name,
		                    sizeof s->name, c->err);
		if (st)
			return st;
		if (!s->name[0])
			return cnn_node_error(c->err, n, "name",
			                      "expected a name, got nothing");
		for (p = s->name; *p; p++)
			if (*p == '/' || (unsigned char)*p < 0x20)
				return cnn_node_error(
				    c->err, n, "name",
				    "must not contain '/' or control "
				    "characters");
		return CNN_OK;
	}
	file = c->tree->file ? c->tree->file : "";
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	dot = strrchr(base, '.');
	len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	if (len >= sizeof s->name) {
		len = sizeof s->name - 1;
		while (len && ((unsigned char)base[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(s->name, base, len);
	s->name[len] = '\0';
	if (!s->name[0])
		strcpy(s->name, "model");
	return add_name(c, s->name);
}

/* input: required; each dimension 1..65536, their product at most 2^26. */
static cnn_status parse_input(spec_ctx *c)
{
	static const char *const keys[] = {"channels", "height", "width", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *in;
	long v[3];
	cnn_status st;
	int i;

	in = cnn_map_get(c->tree->root, "input");
	if (!in)
		return cnn_node_error(c->err, c->tree->root, "input",
		                      "missing (expected a mapping with "
		                      "channels, height and width)");
	st = cnn_map_check_keys(in, "input", keys, c->err);
	for (i = 0; !st && i < 3; i++)
		st = cnn_get_int(in, "input", keys[i], 1, 1, SPEC_MAX_DIM,
		                 &v[i], c->err);
	if (st)
		return st;
	if (v[0] * v[1] * v[2] > SPEC_MAX_INPUT)
		return cnn_node_error(
		    c->err, in, "input",
		    "channels*height*width = %ld is too large "
		    "(at most %ld)",
		    v[0] * v[1] * v[2], SPEC_MAX_INPUT);
	for (i = 0; i < 3; i++)
		s->input[i] = (int)v[i];
	return CNN_OK;
}

/* Whether s is a valid layer name: [A-Za-z0-9_]+. */
static int valid_layer_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* The index of the activation called name for layer i: 0 for "input", j + 1
 * for layer j < i. Fails at node n (path) for an unknown name, the layer
 * itself or a later one. */
static cnn_status input_index(spec_ctx *c, int i, const char *name,
                              const cnn_node *n, const char *path, int *out)
{
	const cnn_spec *s = c->spec;
	char ex[48], known[256];
	size_t len;

	if (!strcmp(name, "input")) {
		*out = 0;
		return CNN_OK;
	}
	for (int j = 0; j < s->n_layers; j++) {
		if (strcmp(s->layers[j].name, name))
			continue;
		if (j < i) {
			*out = j + 1;
			return CNN_OK;
		}
		if (j == i)
			return cnn_node_error(
			    c->err, n, path,
			    "layer \"%s\" cannot take its own "
			    "output as input (a cycle)",
			    printable(name, ex));
		return cnn_node_error(c->err, n, path,
		                      "layer \"%s\" comes later (layers[%d]): "
		                      "a layer takes input only from layers "
		                      "before it, so the graph has no cycles",
		                      printable(name, ex), j);
	}
	snprintf(known, sizeof known, "input");
	for (int j = 0; j < i; j++) {
		len = strlen(known);
		if (len + strlen(s->layers[j].name) + 8 >= sizeof known) {
			snprintf(known + len, sizeof known - len, ", ...");
			break;
		}
		snprintf(known + len, sizeof known - len, ", %s",
		         s->layers[j].name);
	}
	return cnn_node_error(c->err, n, path,
	                      "no layer named \"%s\" before this one "
	                      "(known: %s)",
	                      printable(name, ex), known);
}

/* Reads every layer's "input": absent, the previous layer (the network's
 * input for the first); a name; or a list of names for merge layers.
 * Then checks that every layer's output but the last is used. */
static cnn_status parse_inputs(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	char path[64], got[80];
	cnn_status st;

	for (int i = 0; i < s->n_layers; i++) {
		cnn_layer *l = &s->layers[i];
		const cnn_node *in = cnn_map_get(l->node, "input");
		int most = l->ops->max_inputs ? l->ops->max_inputs : 1;

		snprintf(path, sizeof path, "layers[%d].input", i);
		l->input_node = in;
		if (!in) {
			l->n_inputs = 1;
			l->inputs[0] = i;
		} else if (in->type == CNN_NODE_SCALAR) {
			l->n_inputs = 1;
			if ((st = input_index(c, i, in->value, in, path,
			                      &l->inputs[0])))
				return st;
		} else if (in->type == CNN_NODE_SEQ && in->n_items > 0) {
			if (in->n_items > (size_t)most)
				return cnn_node_error(
				    c->err, in, path,
				    "%s takes %s%d input%s, got %zu",
				    l->ops->type, most > 1 ? "at most " : "",
				    most, most > 1 ? "s" : "", in->n_items);
			l->n_inputs = (int)in->n_items;
			for (size_t k = 0; k < in->n_items; k++) {
				const cnn_node *it = in->items[k];
				if (it->type != CNN_NODE_SCALAR) {
					describe(it, got, sizeof got);
					return cnn_node_error(
					    c->err, it, path,
					    "expected a layer name, got %s",
					    got);
				}
				if ((st = input_index(c, i, it->value, it, path,
				                      &l->inputs[k])))
					return st;
			}
		} else {
			describe(in, got, sizeof got);
			return cnn_node_error(c->err, in, path,
			                      "expected a layer name or a list "
			                      "of names, got %s",
			                      got);
		}
		if (most > 1 && l->n_inputs < 2)
			return cnn_node_error(
			    c->err, in ? in : l->node, path,
			    "%s merges two or more inputs: give a list of "
			    "layer names, e.g. input: [conv1, conv2]",
			    l->ops->type);
		for (int k = 0; k < l->n_inputs; k++)
			l->input_names[k] =
			    l->inputs[k] ? s->layers[l->inputs[k] - 1].name
			                 : "input";
	}
	for (int j = 0; j + 1 < s->n_layers; j++) {
		int used = 0;
		for (int i = j + 1; i < s->n_layers && !used; i++)
			for (int k = 0; k < s->layers[i].n_inputs; k++)
				used |= s->layers[i].inputs[k] == j + 1;
		if (!used) {
			snprintf(path, sizeof path, "layers[%d]", j);
			return cnn_node_error(
			    c->err, s->layers[j].node, path,
			    "the output of layer \"%s\" is not used: no "
			    "later layer takes it as input (only the last "
			    "layer's output is the network's)",
			    s->layers[j].name);
		}
	}
	return CNN_OK;
}

/* layers: a non-empty sequence of mappings. Resolves every type and name
 * first (names unique, defaults TYPE + ordinal), then fills the defaults and
 * lets each kind's configure read its own keys with path = its type. */
static cnn_status parse_layers(spec_ctx *c)
{
	static const char *const base_keys[] = {"type", "name", "input", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *seq = cnn_map_get(c->tree->root, "layers");
	char path[64], got[80];
	cnn_status st;
	int i, j;

	if (!seq)
		return cnn_node_error(c->err, c->tree->root, "layers",
		                      "missing (expected a list of layers)");
	if (seq->type != CNN_NODE_SEQ) {
		describe(seq, got, sizeof got);
		return cnn_node_error(c->err, seq, "layers",
		                      "expected a list of layers, got %s", got);
	}
	if (seq->n_items == 0)
		return cnn_node_error(c->err, seq, "layers",
		                      "expected at least one layer");
	if (seq->n_items > CNN_MAX_LAYERS)
		return cnn_node_error(c->err, seq, "layers",
		                      "%zu layers is too many (at most %d)",
		                      seq->n_items, CNN_MAX_LAYERS);
	s->layers = calloc(seq->n_items, sizeof *s->layers);
	if (!s->layers)
		return cnn_err_set(c->err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
		                   "out of memory");
	s->n_layers = (int)seq->n_items;

	/* Types and names first, so that names are all known. */
	for (i = 0; i < s->n_layers; i++) {
		const cnn_node *item = seq->items[i];
		cnn_layer *l = &s->layers[i];
		char type[CNN_NAME_MAX];
		const cnn_node *tn;
		int ordinal = 1;

		snprintf(path, sizeof path, "layers[%d]", i);
		if (item->type != CNN_NODE_MAP) {
			describe(item, got, sizeof got);
			return cnn_node_error(c->err, item, path,
			                      "expected a mapping with a type, "
			                      "got %s",
			                      got);
		}
		tn = cnn_map_get(item, "type");
		st = cnn_get_string(item, path, "type", 1, type, sizeof type,
		                    c->err);
		if (st)
			return st;
		l->ops = cnn_layer_find(type);
		if (!l->ops) {
			char full[80], ex[48];

			snprintf(full, sizeof full, "%s.type", path);
			return cnn_node_error(c->err, tn, full,
			                      "unknown layer type \"%s\" "
			                      "(expected one of: %s)",
			                      printable(type, ex),
			                      cnn_layer_types());
		}
		l->index = i;
		l->node = item;
		for (j = 0; j < i; j++)
			if (s->layers[j].ops == l->ops)
				ordinal++;
		if (cnn_map_get(item, "name")) {
			const cnn_node *nn = cnn_map_get(item, "name");
			char full[80], ex[48];

			snprintf(full, sizeof full, "%s.name", path);
			st = cnn_get_string(item, path, "name", 1, l->name,
			                    sizeof l->name, c->err);
			if (st)
				return st;
			if (!valid_layer_name(l->name))
				return cnn_node_error(
				    c->err, nn, full,
				    "expected a name of letters, digits "
				    "and '_', got \"%s\"",
				    printable(l->name, ex));
			if (!strcmp(l->name, "input"))
				return cnn_node_error(
				    c->err, nn, full,
				    "\"input\" names the network's input; "
				    "choose another layer name");
		} else {
			snprintf(l->name, sizeof l->name, "%s%d", l->ops->type,
			         ordinal);
		}
	}
	for (i = 1; i < s->n_layers; i++) {
		for (j = 0; j < i; j++) {
			const cnn_node *at;
			int k;

			if (strcmp(s->layers[i].name, s->layers[j].name))
				continue;
			/* blame a name that was written, the later first */
			k = cnn_map_get(s->layers[i].node, "name") ? i : j;
			at = cnn_map_get(s->layers[k].node, "name");
			snprintf(path, sizeof path, "layers[%d].name", k);
			return cnn_node_error(c->err,
			                      at ? at : s->layers[i].node, path,
			                      "duplicate layer name \"%s\" "
			                      "(layers[%d] and layers[%d])",
			                      s->layers[i].name, j, i);
		}
	}

	if ((st = parse_inputs(c)) != CNN_OK)
		return st;

	/* Then each kind reads its own keys. */
	for (i = 0; i < s->n_layers; i++) {
		cnn_layer *l = &s->layers[i];

		l->bias = 1;
		l->stride[0] = l->stride[1] = 1;
		l->pad[0] = l->pad[1] = 0;
		l->kernel[0] = l->kernel[1] = 0;
		l->weight_init.type = CNN_INIT_HE;
		l->weight_init.divide_by_sqrt = CNN_FAN_NONE;
		l->bias_init.type = CNN_INIT_ZEROS;
		l->bias_init.divide_by_sqrt = CNN_FAN_NONE;
		if (l->ops->configure)
			st = l->ops->configure(l, l->ops->type, c->err);
		else
			st = cnn_map_check_keys(l->node, l->ops->type,
			                        base_keys, c->err);
		if (st)
			return st;
	}
	return CNN_OK;
}

/* loss: {type: cross_entropy|mse, reduction: mean|sum}. */
static cnn_status parse_loss(spec_ctx *c)
{
	static const char *const keys[] = {"type", "reduction", NULL};
	static const char *const types[] = {"cross_entropy", "mse", NULL};
	static const char *const reductions[] = {"mean", "sum", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *m;
	int t = CNN_LOSS_CROSS_ENTROPY, r = CNN_REDUCE_MEAN;
	cnn_status st;

	st = section(c, "loss", keys, &m);
	if (!st && m)
		st = cnn_get_enum(m, "loss", "type", 0, types, &t, c->err);
	if (!st && m)
		st = cnn_get_enum(m, "loss", "reduction", 0, reductions, &r,
		                  c->err);
	s->loss = (cnn_loss_type)t;
	s->reduction = (cnn_reduction)r;
	return st;
}

/* A key that only some types of a section accept, and the types (bit i for
 * choice i of the section's "type"). */
typedef struct typed_key {
	const char *key;
	unsigned types;
} typed_key;

/* Fails at the first key of map, in document order, that table lists but
 * not for choice t: "PATH.KEY: only valid with type A or B (this WHAT is
 * C)". */
static cnn_status reject_other_types(spec_ctx *c, const cnn_node *map,
                                     const char *path, const char *what,
                                     const char *const *choices,
                                     const typed_key *table, int t)
{
	char list[128];
	size_t i, j, k;
	int n, seen;

	for (i = 0; i < map->n_pairs; i++) {
		for (j = 0; table[j].key; j++)
			if (!strcmp(map->pairs[i].key, table[j].key))
				break;
		if (!table[j].key || (table[j].types & (1u << t)))
			continue;
		n = 0;
		for (k = 0; choices[k]; k++)
			n += (table[j].types >> k) & 1;
		list[0] = '\0';
		seen = 0;
		for (k = 0; choices[k]; k++) {
			if (!((table[j].types >> k) & 1))
				continue;
			seen++;
			snprintf(list + strlen(list),
			         sizeof list - strlen(list), "%s%s",
			         seen == 1   ? ""
			         : seen == n ? " or "
			                     : ", ",
			         choices[k]);
		}
		return reject_key(c, map, path, table[j].key,
		                  "only valid with type %s (this %s is %s)",
		                  list, what, choices[t]);
	}
	return CNN_OK;
}

/* optimizer.schedule: {type: constant|step|exponential|cosine, step_epochs
 * (step, required), gamma (step: 0.1, exponential: 0.95), min_lr (cosine:
 * 0, at most learning_rate), warmup_epochs (all: 0)}; absent: constant
 * without warm-up. A key of another type is an error at that key. Called
 * after learning_rate is read. */
static cnn_status parse_schedule(spec_ctx *c, const cnn_node *opt)
{
	static const char *const keys[] = {
	    "type", "warmup_epochs", "step_epochs", "gamma", "min_lr", NULL};
	/* in the order of cnn_sched_type */
	static const char *const types[] = {"constant", "step", "exponential",
	                                    "cosine", NULL};
	static const typed_key only[] = {
	    {"step_epochs", 1u << CNN_SCHED_STEP},
	    {"gamma", 1u << CNN_SCHED_STEP | 1u << CNN_SCHED_EXPONENTIAL},
	    {"min_lr", 1u << CNN_SCHED_COSINE},
	    {NULL, 0}};
	const char *path = "optimizer.schedule";
	cnn_spec *s = c->spec;
	const cnn_node *m = cnn_map_get(opt, "schedule");
	long step = 0;
	int t = CNN_SCHED_CONSTANT;
	cnn_status st;

	s->schedule = CNN_SCHED_CONSTANT;
	s->sched_step_epochs = 0;
	s->sched_gamma = 1.0;
	s->sched_min_lr = 0.0;
	s->warmup_epochs = 0.0;
	if (!m)
		return CNN_OK;
	st = cnn_map_check_keys(m, path, keys, c->err);
	if (!st)
		st = cnn_get_enum(m, path, "type", 1, types, &t, c->err);
	if (!st)
		st = reject_other_types(c, m, path, "schedule", types, only, t);
	if (st)
		return st;
	s->schedule = (cnn_sched_type)t;
	if (t == CNN_SCHED_STEP)
		s->sched_gamma = 0.1;
	else if (t == CNN_SCHED_EXPONENTIAL)
		s->sched_gamma = 0.95;
	st = cnn_get_int(m, path, "step_epochs", t == CNN_SCHED_STEP, 1,
	                 1000000, &step, c->err);
	s->sched_step_epochs = (int)step;
	if (!st)
		st = get_real(c, m, path, "gamma", 0, 1, 1, 0, &s->sched_gamma);
	if (!st)
		st = get_real(c, m, path, "min_lr", 0, 0, DBL_MAX, 0,
		              &s->sched_min_lr);
	if (!st)
		st = fits_float(c, m, path, "min_lr", s->sched_min_lr);
	if (!st && s->sched_min_lr > s->learning_rate)
		st = reject_key(c, m, path, "min_lr",
		                "must not exceed optimizer.learning_rate (%g)",
		                s->learning_rate);
	if (!st)
		st = get_real(c, m, path, "warmup_epochs", 0, 0, 1000000, 0,
		              &s->warmup_epochs);
	return st;
}

/* optimizer: adam or adamw (beta1, beta2, epsilon, epsilon_inside_sqrt,
 * bias_correction), sgd (momentum, nesterov) or rmsprop (alpha, epsilon,
 * momentum); for all: learning_rate, weight_decay, clip_norm, schedule. A
 * key of another type is an error at that key. */
static cnn_status parse_optimizer(spec_ctx *c)
{
	static const char *const keys[] = {"type",
	                                   "learning_rate",
	                                   "beta1",
	                                   "beta2",
	                                   "epsilon",
	                                   "epsilon_inside_sqrt",
	                                   "bias_correction",
	                                   "momentum",
	                                   "nesterov",
	                                   "alpha",
	                                   "weight_decay",
	                                   "clip_norm",
	                                   "schedule",
	                                   NULL};
	/* the choices, and the type each one is */
	static const char *const types[] = {"adam", "adamw", "sgd", "rmsprop",
	                                    NULL};
	static const cnn_opt_type codes[] = {CNN_OPT_ADAM, CNN_OPT_ADAMW,
	                                     CNN_OPT_SGD, CNN_OPT_RMSPROP};
	enum { ADAM = 1, ADAMW = 2, SGD = 4, RMSPROP = 8 };
	static const typed_key only[] = {{"beta1", ADAM | ADAMW},
	                                 {"beta2", ADAM | ADAMW},
	                                 {"epsilon", ADAM | ADAMW | RMSPROP},
	                                 {"epsilon_inside_sqrt", ADAM | ADAMW},
	                                 {"bias_correction", ADAM | ADAMW},
	                                 {"momentum", SGD | RMSPROP},
	                                 {"nesterov", SGD},
	                                 {"alpha", RMSPROP},
	                                 {NULL, 0}};
	cnn_spec *s = c->spec;
	const cnn_node *m;
	int t = 0;
	cnn_status st;

	s->optimizer = CNN_OPT_ADAM;
	s->learning_rate = 0.001;
	s->beta1 = 0.9;
	s->beta2 = 0.999;
	s->epsilon = 1e-8;
	s->epsilon_inside_sqrt = 0;
	s->bias_correction = 1;
	s->momentum = 0;
	s->nesterov = 0;
	s->alpha = 0.99;
	s->weight_decay = 0;
	s->clip_norm = 0;
	st = section(c, "optimizer", keys, &m);
	if (st)
		return st;
	if (!m)
		return parse_schedule(c, NULL); /* its defaults */
	st = cnn_get_enum(m, "optimizer", "type", 0, types, &t, c->err);
	if (!st)
		st = reject_other_types(c, m, "optimizer", "optimizer", types,
		                        only, t);
	if (st)
		return st;
	s->optimizer = codes[t];
	if (s->optimizer == CNN_OPT_ADAMW)
		s->weight_decay = 0.01;
	st = get_real(c, m, "optimizer", "learning_rate", 0, 1, DBL_MAX, 0,
	              &s->learning_rate);
	if (!st)
		st = fits_float(c, m, "optimizer", "learning_rate",
		                s->learning_rate);
	if (!st)
		st =
		    get_real(c, m, "optimizer", "beta1", 0, 0, 1, 1, &s->beta1);
	if (!st)
		st =
		    get_real(c, m, "optimizer", "beta2", 0, 0, 1, 1, &s->beta2);
	if (!st)
		st = get_real(c, m, "optimizer", "epsilon", 0, 1, DBL_MAX, 0,
		              &s->epsilon);
	if (!st)
		st = fits_float(c, m, "optimizer", "epsilon", s->epsilon);
	if (!st)
		st = cnn_get_bool(m, "optimizer", "epsilon_inside_sqrt", 0,
		                  &s->epsilon_inside_sqrt, c->err);
	if (!st)
		st = cnn_get_bool(m, "optimizer", "bias_correction", 0,
		                  &s->bias_correction, c->err);
	if (!st)
		st = get_real(c, m, "optimizer", "momentum", 0, 0, 1, 1,
		              &s->momentum);
	if (!st)
		st = cnn_get_bool(m, "optimizer", "nesterov", 0, &s->nesterov,
		                  c->err);
	if (!st && s->nesterov && s->momentum == 0)
		st = reject_key(c, m, "optimizer", "nesterov",
		                "needs a momentum greater than 0 (momentum is "
		                "0)");
	if (!st)
		st =
		    get_real(c, m, "optimizer", "alpha", 0, 0, 1, 1, &s->alpha);
	if (!st)
		st = get_real(c, m, "optimizer", "weight_decay", 0, 0, DBL_MAX,
		              0, &s->weight_decay);
	if (!st)
		st = fits_float(c, m, "optimizer", "weight_decay",
		                s->weight_decay);
	if (!st)
		st = get_real(c, m, "optimizer", "clip_norm", 0, 0, DBL_MAX, 0,
		              &s->clip_norm);
	if (!st)
		st = parse_schedule(c, m);
	return st;
}

/* seed: an integer from 0 to 2^63-1 (wider than a long may be). */
static cnn_status get_seed(spec_ctx *c, const cnn_node *m, uint64_t *out)
{
	const cnn_node *n = cnn_map_get(m, "seed");
	const char *p;
	uint64_t v = 0;
	char got[80];

	if (!n)
		return CNN_OK;
	if (n->type == CNN_NODE_SCALAR && !n->quoted && n->value[0]) {
		p = n->value[0] == '+' ? n->value + 1 : n->value;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (v >
			    ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
				break;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (!*p && p != n->value && p[-1] != '+') {
			*out = v;
			return CNN_OK;
		}
	}
	describe(n, got, sizeof got);
	return cnn_node_error(c->err, n, "training.seed",
	                      "expected an integer from 0 to %" PRId64
	                      ", got %s",
	                      INT64_MAX, got);
}

/* training.early_stopping: {patience (required, >= 1), min_delta (0, in
 * [0, 1))}; absent: patience 0, no early stopping. */
static cnn_status parse_early_stopping(spec_ctx *c, const cnn_node *training)
{
	static const char *const keys[] = {"patience", "min_delta", NULL};
	const char *path = "training.early_stopping";
	const cnn_node *m = cnn_map_get(training, "early_stopping");
	cnn_spec *s = c->spec;
	long patience = 0;
	cnn_status st;

	s->patience = 0;
	s->min_delta = 0.0;
	if (!m)
		return CNN_OK;
	st = cnn_map_check_keys(m, path, keys, c->err);
	if (!st)
		st = cnn_get_int(m, path, "patience", 1, 1, 1000000, &patience,
		                 c->err);
	if (!st)
		st = get_real(c, m, path, "min_delta", 0, 0, 1, 1,
		              &s->min_delta);
	s->patience = (int)patience;
	return st;
}

/* training: epochs, batch_size, shuffle, seed, keep, early_stopping. Also
 * checks what needs both sections: a cosine schedule's warm-up must end
 * before training.epochs. */
static cnn_status parse_training(spec_ctx *c)
{
	static const char *const keys[] = {
	    "epochs", "batch_size",     "shuffle", "seed",
	    "keep",   "early_stopping", NULL};
	static const char *const keeps[] = {"best", "last", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *m;
	long epochs = 10, batch = 32;
	int keep = CNN_KEEP_BEST;
	cnn_status st;

	s->shuffle = 1;
	s->seed = 1;
	st = section(c, "training", keys, &m);
	if (!st && m)
		st = cnn_get_int(m, "training", "epochs", 0, 1, 1000000,
		                 &epochs, c->err);
	if (!st && m)
		st = cnn_get_int(m, "training", "batch_size", 0, 1, 65536,
		                 &batch, c->err);
	if (!st && m)
		st = cnn_get_bool(m, "training", "shuffle", 0, &s->shuffle,
		                  c->err);
	if (!st && m)
		st = get_seed(c, m, &s->seed);
	if (!st && m)
		st = cnn_get_enum(m, "training", "keep", 0, keeps, &keep,
		                  c->err);
	if (!st)
		st = parse_early_stopping(c, m);
	s->epochs = (int)epochs;
	s->batch_size = (int)batch;
	s->keep = (cnn_keep)keep;
	if (!st && s->schedule == CNN_SCHED_COSINE &&
	    s->warmup_epochs >= (double)s->epochs)
		st = reject_key(
		    c,
		    cnn_map_get(cnn_map_get(c->tree->root, "optimizer"),
		                "schedule"),
		    "optimizer.schedule", "warmup_epochs",
		    "must be less than training.epochs (%d) with a cosine "
		    "schedule",
		    s->epochs);
	return st;
}

/* One data set: data.train or data.test (augment is refused under test). */
static cnn_status parse_dataset(spec_ctx *c, const cnn_node *m,
                                const char *path, cnn_data_spec *d)
{
	static const char *const keys[] = {
	    "format",       "images", "labels", "path",    "header",
	    "label_column", "scale",  "limit",  "augment", NULL};
	static const char *const formats[] = {"idx", "csv", NULL};
	const cnn_node *h;
	int format = 0;
	long col = 0, limit = 0, shift = 0;
	cnn_status st;

	snprintf(d->format, sizeof d->format, "idx");
	d->header = -1;
	d->scale = 1.0 / 255.0;
	st = cnn_map_check_keys(m, path, keys, c->err);
	if (!st)
		st = cnn_get_enum(m, path, "format", 0, formats, &format,
		                  c->err);
	if (st)
		return st;
	snprintf(d->format, sizeof d->format, "%s", formats[format]);
	if (format == 0) {
		st = reject_key(c, m, path, "path",
		                "not used with format idx (give images and "
		                "labels)");
		if (!st)
			st = reject_key(c, m, path, "header",
			                "only valid with format csv");
		if (!st)
			st = reject_key(c, m, path, "label_column",
			                "only valid with format csv");
		if (!st)
			st = get_path(c, m, path, "images",
			              "the path of an IDX image file",
			              d->images);
		if (!st)
			st = get_path(c, m, path, "labels",
			              "the path of an IDX label file",
			              d->labels);
	} else {
		st = reject_key(c, m, path, "images",
		                "not used with format csv (give path)");
		if (!st)
			st = reject_key(c, m, path, "labels",
			                "not used with format csv (give path)");
		if (!st)
			st = get_path(c, m, path, "path",
			              "the path of a CSV file", d->path);
	}
	if (st)
		return st;

	h = cnn_map_get(m, "header");
	if (h && h->type == CNN_NODE_SCALAR && !strcmp(h->value, "auto")) {
		d->header = -1;
	} else if (h) {
		cnn_error scratch;
		int b = 0;

		cnn_err_clear(&scratch);
		if (cnn_get_bool(m, path, "header", 0, &b, &scratch)) {
			char full[128], got[80];

			join(full, sizeof full, path, "header");
			describe(h, got, sizeof got);
			return cnn_node_error(c->err, h, full,
			                      "expected true, false or auto, "
			                      "got %s",
			                      got);
		}
		d->header = b;
	}
	st = cnn_get_int(m, path, "label_column", 0, 0, LONG_MAX, &col, c->err);
	if (!st && col > 0) {
		/* a row is the label and channels*height*width pixels (the
		 * input is known: it is read first) */
		const int *in = c->spec->input;
		long pixels = (long)in[0] * in[1] * in[2];
		const cnn_node *n = cnn_map_get(m, "label_column");
		char full[128], got[80];

		join(full, sizeof full, path, "label_column");
		describe(n, got, sizeof got);
		if (col > pixels)
			st = cnn_node_error(c->err, n, full,
			                    "expected an integer from 0 to %ld "
			                    "(a row is the label and %ld "
			                    "pixels), got %s",
			                    pixels, pixels, got);
	}
	if (!st)
		st = get_real(c, m, path, "scale", 0, 1, DBL_MAX, 0, &d->scale);
	if (!st)
		st = fits_float(c, m, path, "scale", d->scale);
	if (!st)
		st = cnn_get_int(m, path, "limit", 0, 0, LONG_MAX, &limit,
		                 c->err);
	if (!st && strcmp(path, "data.train") != 0)
		st = reject_key(c, m, path, "augment",
		                "only valid under data.train (validation and "
		                "test samples are never augmented)");
	h = cnn_map_get(m, "augment");
	if (!st && h) {
		/* augment: {shift: N}, N in 0..8 and below the input's
		 * height and width (the input is read first) */
		static const char *const akeys[] = {"shift", NULL};
		const int *in = c->spec->input;
		char full[128];

		join(full, sizeof full, path, "augment");
		st = cnn_map_check_keys(h, full, akeys, c->err);
		if (!st)
			st = cnn_get_int(h, full, "shift", 0, 0, 8, &shift,
			                 c->err);
		if (!st && (shift >= in[1] || shift >= in[2])) {
			const cnn_node *n = cnn_map_get(h, "shift");
			char sfull[160], got[80];

			snprintf(sfull, sizeof sfull, "%s.shift", full);
			describe(n, got, sizeof got);
			st = cnn_node_error(c->err, n, sfull,
			                    "expected an integer from 0 to %d "
			                    "(below the input's height and "
			                    "width, %dx%d), got %s",
			                    (in[1] < in[2] ? in[1] : in[2]) - 1,
			                    in[1], in[2], got);
		}
	}
	d->label_column = (int)col;
	d->limit = limit;
	d->shift = (int)shift;
	d->present = !st;
	return st;
}

/* data: train and test data sets, and the validation hold-out (0 none,
 * below 1 a fraction, else a whole number of samples). */
static cnn_status parse_data(spec_ctx *c)
{
	static const char *const keys[] = {"train", "test", "validation", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *m, *n;
	cnn_status st;

	st = section(c, "data", keys, &m);
	if (st || !m)
		return st;
	n = cnn_map_get(m, "train");
	if (n)
		st = parse_dataset(c, n, "data.train", &s->train);
	n = cnn_map_get(m, "test");
	if (!st && n)
		st = parse_dataset(c, n, "data.test", &s->test);
	n = cnn_map_get(m, "validation");
	if (!st && n) {
		double v = 0;

		st = cnn_get_double(m, "data", "validation", 0, -DBL_MAX,
		                    DBL_MAX, &v, c->err);
		if (st)
			return st;
		if (v < 0 || (v >= 1 && (v != floor(v) || v > 9e15))) {
			char got[80];

			describe(n, got, sizeof got);
			return cnn_node_error(
			    c->err, n, "data.validation",
			    "expected 0, a fraction between 0 "
			    "and 1 or a whole number of "
			    "samples, got %s",
			    got);
		}
		s->validation = v;
	}
	return st;
}

/* checkpoint: path (default NAME.ckpt.gz next to the YAML file, not
 * written into the tree), every (epochs) and every_batches (0: off). */
static cnn_status parse_checkpoint(spec_ctx *c)
{
	static const char *const keys[] = {"path", "every", "every_batches",
	                                   NULL};
	cnn_spec *s = c->spec;
	const cnn_node *m;
	long every = 1, every_batches = 0;
	cnn_status st;

	s->checkpoint[0] = '\0';
	st = section(c, "checkpoint", keys, &m);
	if (!st && m)
		st = get_path(c, m, "checkpoint", "path", NULL, s->checkpoint);
	if (!st && m)
		st = cnn_get_int(m, "checkpoint", "every", 0, 1, INT_MAX,
		                 &every, c->err);
	if (!st && m)
		st = cnn_get_int(m, "checkpoint", "every_batches", 0, 0,
		                 INT_MAX, &every_batches, c->err);
	if (st)
		return st;
	s->checkpoint_every = (int)every;
	s->checkpoint_every_batches = (int)every_batches;
	if (!s->checkpoint[0]) {
		char rel[CNN_NAME_MAX + 16];

		snprintf(rel, sizeof rel, "%s.ckpt.gz", s->name);
		st =
		    absolute(c, NULL, "checkpoint.path", rel, 1, s->checkpoint);
	}
	return st;
}

/* ======================================================================== */

cnn_status cnn_spec_from_tree(cnn_spec *spec, cnn_tree *tree, cnn_error *err)
{
	static const char *const keys[] = {"name", "input",      "layers",
	                                   "loss", "optimizer",  "training",
	                                   "data", "checkpoint", NULL};
	spec_ctx c = {spec, tree, err};
	cnn_status st;

	memset(spec, 0, sizeof *spec);
	if (!tree || !tree->root || tree->root->type != CNN_NODE_MAP)
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "cnn_spec_from_tree: no model description");
	st = cnn_map_check_keys(tree->root, "", keys, err);
	if (!st)
		st = parse_name(&c);
	if (!st)
		st = parse_input(&c);
	if (!st)
		st = parse_layers(&c);
	if (!st)
		st = parse_loss(&c);
	if (!st)
		st = parse_optimizer(&c);
	if (!st)
		st = parse_training(&c);
	if (!st)
		st = parse_data(&c);
	if (!st)
		st = parse_checkpoint(&c);
	if (st)
		cnn_spec_free(spec);
	return st;
}

/* Frees the layers; safe to call twice. */
void cnn_spec_free(cnn_spec *spec)
{
	if (!spec)
		return;
	free(spec->layers);
	spec->layers = NULL;
	spec->n_layers = 0;
}

/*
 * spec.c - validates the YAML tree of a model description against the
 * schema and turns it into a typed cnn_spec: input shape, configured layers
 * (each kind reads its own keys), loss, optimiser, training, data and
 * checkpoint settings. Relative paths are resolved here and written back
 * into the tree, so that the description embedded in a checkpoint stands on
 * its own.
 *
 * The sections of fixed shape are field tables: each key is written once,
 * with its kind, bounds, default, place in cnn_spec and the types of the
 * section it applies to. A table's order is the order of its keys in
 * "unknown key" messages and the order in which they are read.
 */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEC_MAX_DIM   65536
#define SPEC_MAX_INPUT ((long)1 << 26)
#define SPEC_MAX_KEYS  16

typedef struct spec_ctx {
	cnn_spec *spec;
	cnn_tree *tree;
	cnn_error *err;
} spec_ctx;

/* ======================================================================== */
/* Field tables                                                             */

/* How a field is read and stored: F_INT an int in [r.lo, r.hi]; F_REAL a
 * double in r; F_BOOL an int, 0 or 1; F_ENUM an int (an enum), the index of
 * the choice; F_CODE read by the field's hook. */
typedef enum field_kind { F_INT, F_REAL, F_BOOL, F_ENUM, F_CODE } field_kind;

typedef struct field field;
/* A field's own code: the reader of an F_CODE field, or a check run after
 * any other field is read. m is the section's mapping, path its path. */
typedef cnn_status (*field_hook)(spec_ctx *c, const cnn_node *m,
                                 const char *path);

/* One key of a section. types: bit t set when the field applies to choice t
 * of the section's "type" (0: to every type); a key present under another
 * type is an error at the key. */
struct field {
	const char *key;
	field_kind kind;
	cnn_range r;
	double def;
	size_t off; /* offsetof(cnn_spec, ...) */
	unsigned types;
	const char *const *choices; /* F_ENUM */
	int required;
	field_hook hook;
	const char *shown; /* the name cnn_spec_optimizer_params gives */
};

/* The enums a table stores through an int. */
_Static_assert(sizeof(cnn_opt_type) == sizeof(int), "enum size");
_Static_assert(sizeof(cnn_sched_type) == sizeof(int), "enum size");
_Static_assert(sizeof(cnn_keep) == sizeof(int), "enum size");
_Static_assert(sizeof(cnn_loss_type) == sizeof(int), "enum size");
_Static_assert(sizeof(cnn_reduction) == sizeof(int), "enum size");

#define AT(member) offsetof(cnn_spec, member)
/* bit t for each optimiser (cnn_opt_type) and schedule (cnn_sched_type) */
#define ADAM    (1u << CNN_OPT_ADAM)
#define ADAMW   (1u << CNN_OPT_ADAMW)
#define SGD     (1u << CNN_OPT_SGD)
#define RMSPROP (1u << CNN_OPT_RMSPROP)
#define STEP    (1u << CNN_SCHED_STEP)
#define EXPO    (1u << CNN_SCHED_EXPONENTIAL)
#define COSINE  (1u << CNN_SCHED_COSINE)

/* The rows of a field table: key, member of cnn_spec, then for a number its
 * bounds, then the default, then the types the key applies to (0: every
 * type) followed by any other member of field (.required = 1, a hook, the
 * bounds' flags as .r.lo_open = 1, ...). */
#define ROW(k, kind_, member, d_, ...)                                         \
	{                                                                      \
		.key = k, .kind = kind_, .off = AT(member), .def = d_,         \
		.types = __VA_ARGS__                                           \
	}
#define INT_KEY(k, member, l_, h_, ...)                                        \
	ROW(k, F_INT, member, __VA_ARGS__, .r.lo = l_, .r.hi = h_)
#define REAL_KEY(k, member, l_, h_, ...)                                       \
	ROW(k, F_REAL, member, __VA_ARGS__, .r.lo = l_, .r.hi = h_)
#define BOOL_KEY(k, member, ...) ROW(k, F_BOOL, member, __VA_ARGS__)
#define ENUM_KEY(k, member, names, ...)                                        \
	ROW(k, F_ENUM, member, __VA_ARGS__, .choices = names)
/* A key read by its hook alone. */
#define CODE_KEY(k, hook_)                                                     \
	{                                                                      \
		.key = k, .kind = F_CODE, .hook = hook_                        \
	}

/* Sets every field of table f (but F_CODE ones) to its default. */
static void set_defaults(const field *f, cnn_spec *s)
{
	for (; f->key; f++) {
		char *p = (char *)s + f->off;

		if (f->kind == F_REAL)
			*(double *)p = f->def;
		else if (f->kind != F_CODE)
			*(int *)p = (int)f->def;
	}
}

/* Reads one field of map into c->spec (absent: it keeps its value). */
static cnn_status read_field(spec_ctx *c, const cnn_node *m, const char *path,
                             const field *f)
{
	char *p = (char *)c->spec + f->off;
	cnn_status st;
	long v;

	switch (f->kind) {
	case F_INT:
		v = *(int *)p;
		st = cnn_get_int(m, path, f->key, f->required, (long)f->r.lo,
		                 (long)f->r.hi, &v, c->err);
		*(int *)p = (int)v;
		return st;
	case F_REAL:
		return cnn_get_real(m, path, f->key, f->required, f->r,
		                    (double *)p, c->err);
	case F_BOOL:
		return cnn_get_bool(m, path, f->key, f->required, (int *)p,
		                    c->err);
	case F_ENUM:
		return cnn_get_enum(m, path, f->key, f->required, f->choices,
		                    (int *)p, c->err);
	default:
		return cnn_map_get(m, f->key) ? f->hook(c, m, path) : CNN_OK;
	}
}

/* Fails at the first key of map, in document order, that table f gives to
 * other types than t (choices: f[0].choices; types has no bit past them):
 * "PATH.KEY: only valid with type A or B (this WHAT is C)". */
static cnn_status reject_other_types(spec_ctx *c, const cnn_node *map,
                                     const char *path, const char *what,
                                     const field *f, int t)
{
	const char *const *choices = f[0].choices;

	for (size_t i = 0; i < map->n_pairs; i++) {
		const field *k = f;
		char list[128] = "";

		while (k->key && strcmp(map->pairs[i].key, k->key))
			k++;
		if (!k->key || !k->types || ((k->types >> t) & 1))
			continue;
		for (int j = 0; choices[j]; j++)
			if ((k->types >> j) & 1)
				snprintf(list + strlen(list),
				         sizeof list - strlen(list), "%s%s",
				         !list[0]              ? ""
				         : k->types >> (j + 1) ? ", "
				                               : " or ",
				         choices[j]);
		return cnn_reject_key(c->err, map, path, k->key,
		                      "only valid with type %s (this %s is %s)",
		                      list, what, choices[t]);
	}
	return CNN_OK;
}

/* Reads mapping m at path (NULL: nothing to read) by table f: checks that
 * its keys are all in f (see cnn_map_check_keys), then reads its fields in
 * table order, each followed by its hook. A field "type" (an F_ENUM) selects
 * the fields after it that apply and refuses the keys of other types, naming
 * the section by the last part of path. */
static cnn_status read_map(spec_ctx *c, const cnn_node *m, const char *path,
                           const field *f)
{
	const char *keys[SPEC_MAX_KEYS + 1], *what = strrchr(path, '.');
	cnn_status st;
	int n, t = -1;

	for (n = 0; f[n].key && n < SPEC_MAX_KEYS; n++)
		keys[n] = f[n].key;
	keys[n] = NULL;
	st = cnn_map_check_keys(m, path, keys, c->err);
	for (; !st && m && f->key; f++) {
		if (t >= 0 && f->types && !((f->types >> t) & 1))
			continue;
		st = read_field(c, m, path, f);
		if (!st && f->hook && f->kind != F_CODE)
			st = f->hook(c, m, path);
		if (!st && !strcmp(f->key, "type")) {
			t = *(int *)((char *)c->spec + f->off);
			st = reject_other_types(c, m, path,
			                        what ? what + 1 : path, f, t);
		}
	}
	return st;
}

/* Fails at the value of map[key] (path names map) with "PATH.KEY: expected
 * WHAT, got DESCRIPTION", WHAT formed from fmt. */
CNN_PRINTF(5, 6)
static cnn_status bad_value(spec_ctx *c, const cnn_node *map, const char *path,
                            const char *key, const char *fmt, ...)
{
	const cnn_node *n = cnn_map_get(map, key);
	char full[CNN_FULL_SIZE], what[256], got[CNN_DESCRIBE_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return cnn_node_error(
	    c->err, n, cnn_path_join(full, sizeof full, path, key),
	    "expected %s, got %s", what, cnn_node_describe(n, got));
}

/* ======================================================================== */
/* Paths and names                                                          */

/* Makes the relative path rel absolute against the YAML file's folder
 * (from_file) or the current directory, into out (CNN_PATH_MAX; rel may
 * be out). n (may be NULL) and full locate errors. */
static cnn_status absolute(spec_ctx *c, const cnn_node *n, const char *full,
                           const char *rel, int from_file, char *out)
{
	const char *file = c->tree->file && from_file ? c->tree->file : "";
	const char *slash = strrchr(file, '/');
	size_t dlen = slash ? (size_t)(slash - file) : 0, k = 0;
	size_t rl = strlen(rel);
	char base[CNN_PATH_MAX];

	if (file[0] != '/' || !slash) {
		if (!getcwd(base, CNN_PATH_MAX))
			return cnn_err(c->err, CNN_ERR_IO,
			               "cannot determine the current "
			               "directory: %s",
			               strerror(errno));
		k = strlen(base);
		if (!slash || (dlen == 1 && file[0] == '.'))
			dlen = 0;
		else if (k && base[k - 1] != '/')
			base[k++] = '/';
	}
	if (k + dlen + 1 > CNN_PATH_MAX)
		return cnn_err_file(c->err, CNN_ERR_CONFIG, file,
		                    "the file's folder name is too long");
	memcpy(base + k, file, dlen);
	k += dlen;
	if (k && base[k - 1] == '/')
		k--;
	if (k + 1 + rl + 1 > CNN_PATH_MAX)
		return cnn_node_error(c->err, n, full,
		                      "path too long once made absolute");
	memmove(out + k + 1, rel, rl + 1);
	memcpy(out, base, k);
	out[k] = '/';
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

	cnn_path_join(full, sizeof full, path, key);
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
	return st ? st : cnn_node_set_scalar(n, out, c->err);
}

/* Adds "name: VALUE" (a quoted string) at the front of the root mapping, so
 * that the description stays the same when it is read from a checkpoint. */
static cnn_status add_name(spec_ctx *c, const char *value)
{
	cnn_node *n = calloc(1, sizeof *n);
	char *key = strdup("name"), *v = strdup(value);

	if (!n || !key || !v || !cnn_map_insert(c->tree->root, 0, key, n)) {
		free(n);
		free(key);
		free(v);
		return cnn_err_nomem(c->err, NULL, NULL);
	}
	n->type = CNN_NODE_SCALAR;
	n->file = c->tree->file;
	n->value = v;
	n->quoted = 1;
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
static const field input_fields[] = {
    INT_KEY("channels", input[0], 1, SPEC_MAX_DIM, 0, 0, .required = 1),
    INT_KEY("height", input[1], 1, SPEC_MAX_DIM, 0, 0, .required = 1),
    INT_KEY("width", input[2], 1, SPEC_MAX_DIM, 0, 0, .required = 1),
    {.key = NULL}};

/* After the table: input is required and not too large. */
static cnn_status check_input(spec_ctx *c)
{
	const cnn_node *in = cnn_map_get(c->tree->root, "input");
	const int *v = c->spec->input;
	long size = (long)v[0] * v[1] * v[2];

	if (!in)
		return cnn_node_error(c->err, c->tree->root, "input",
		                      "missing (expected a mapping with "
		                      "channels, height and width)");
	if (size > SPEC_MAX_INPUT)
		return cnn_node_error(
		    c->err, in, "input",
		    "channels*height*width = %ld is too large "
		    "(at most %ld)",
		    size, SPEC_MAX_INPUT);
	return CNN_OK;
}

/* The index of the activation called name for layer i: 0 for "input", j + 1
 * for layer j < i. Fails at node n (path) for an unknown name, the layer
 * itself or a later one. */
static cnn_status input_index(spec_ctx *c, int i, const char *name,
                              const cnn_node *n, const char *path, int *out)
{
	const cnn_spec *s = c->spec;
	char ex[CNN_QUOTE_SIZE], known[256];
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
			    cnn_quote_str(ex, name));
		return cnn_node_error(c->err, n, path,
		                      "layer \"%s\" comes later (layers[%d]): "
		                      "a layer takes input only from layers "
		                      "before it, so the graph has no cycles",
		                      cnn_quote_str(ex, name), j);
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
	                      cnn_quote_str(ex, name), known);
}

/* Reads every layer's "input": absent, the previous layer (the network's
 * input for the first); a name; or a list of names for merge layers.
 * Then checks that every layer's output but the last is used. */
static cnn_status parse_inputs(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	char path[64], got[CNN_DESCRIBE_SIZE];
	unsigned char used[CNN_MAX_LAYERS + 1] = {0};
	cnn_status st;

	for (int i = 0; i < s->n_layers; i++) {
		cnn_layer *l = &s->layers[i];
		const cnn_node *in = cnn_map_get(l->node, "input");
		int most = l->ops->max_inputs ? l->ops->max_inputs : 1;
		int seq = in && in->type == CNN_NODE_SEQ;
		size_t n = seq ? in->n_items : 1;

		snprintf(path, sizeof path, "layers[%d].input", i);
		l->input_node = in;
		l->inputs[0] = i;
		if (in && (in->type == CNN_NODE_MAP || n == 0))
			return cnn_node_error(c->err, in, path,
			                      "expected a layer name or a list "
			                      "of names, got %s",
			                      cnn_node_describe(in, got));
		if (n > (size_t)most)
			return cnn_node_error(
			    c->err, in, path, "%s takes %s%d input%s, got %zu",
			    l->ops->type, most > 1 ? "at most " : "", most,
			    most > 1 ? "s" : "", n);
		l->n_inputs = (int)n;
		for (size_t k = 0; in && k < n; k++) {
			const cnn_node *it = seq ? in->items[k] : in;

			if (it->type != CNN_NODE_SCALAR)
				return cnn_node_error(
				    c->err, it, path,
				    "expected a layer name, got %s",
				    cnn_node_describe(it, got));
			if ((st = input_index(c, i, it->value, it, path,
			                      &l->inputs[k])))
				return st;
		}
		if (most > 1 && l->n_inputs < 2)
			return cnn_node_error(
			    c->err, in ? in : l->node, path,
			    "%s merges two or more inputs: give a list of "
			    "layer names, e.g. input: [conv1, conv2]",
			    l->ops->type);
		for (int k = 0; k < l->n_inputs; k++) {
			used[l->inputs[k]] = 1;
			l->input_names[k] =
			    l->inputs[k] ? s->layers[l->inputs[k] - 1].name
			                 : "input";
		}
	}
	for (int j = 1; j < s->n_layers; j++) {
		if (used[j])
			continue;
		snprintf(path, sizeof path, "layers[%d]", j - 1);
		return cnn_node_error(
		    c->err, s->layers[j - 1].node, path,
		    "the output of layer \"%s\" is not used: no "
		    "later layer takes it as input (only the last "
		    "layer's output is the network's)",
		    s->layers[j - 1].name);
	}
	return CNN_OK;
}

/* The type and name of layer i (item, at path "layers[i]"): the type must
 * be a known kind; the name, when given, [A-Za-z0-9_]+ and not "input",
 * else TYPE + ordinal ("dense2"). */
static cnn_status layer_type_name(spec_ctx *c, const cnn_node *item, int i)
{
	cnn_spec *s = c->spec;
	cnn_layer *l = &s->layers[i];
	const cnn_node *nn = cnn_map_get(item, "name");
	char path[64], full[80], type[CNN_NAME_MAX], got[CNN_DESCRIBE_SIZE];
	char ex[CNN_QUOTE_SIZE];
	static const char name_chars[] =
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
	cnn_status st;
	int ordinal = 1;

	snprintf(path, sizeof path, "layers[%d]", i);
	if (item->type != CNN_NODE_MAP)
		return cnn_node_error(c->err, item, path,
		                      "expected a mapping with a type, got %s",
		                      cnn_node_describe(item, got));
	st = cnn_get_string(item, path, "type", 1, type, sizeof type, c->err);
	if (st)
		return st;
	l->ops = cnn_layer_find(type);
	if (!l->ops)
		return cnn_node_error(
		    c->err, cnn_map_get(item, "type"),
		    cnn_path_join(full, sizeof full, path, "type"),
		    "unknown layer type \"%s\" (expected one of: "
		    "%s)",
		    cnn_quote_str(ex, type), cnn_layer_types());
	l->index = i;
	l->node = item;
	for (int j = 0; j < i; j++)
		ordinal += s->layers[j].ops == l->ops;
	if (!nn) {
		snprintf(l->name, sizeof l->name, "%s%d", l->ops->type,
		         ordinal);
		return CNN_OK;
	}
	cnn_path_join(full, sizeof full, path, "name");
	st = cnn_get_string(item, path, "name", 1, l->name, sizeof l->name,
	                    c->err);
	if (!st && (!l->name[0] || l->name[strspn(l->name, name_chars)]))
		st = cnn_node_error(
		    c->err, nn, full,
		    "expected a name of letters, digits and '_', "
		    "got \"%s\"",
		    cnn_quote_str(ex, l->name));
	if (!st && !strcmp(l->name, "input"))
		st = cnn_node_error(
		    c->err, nn, full,
		    "\"input\" names the network's input; choose "
		    "another layer name");
	return st;
}

/* Fails if two layers have the same name, blaming a name that was
 * written, the later first. */
static cnn_status unique_layer_names(spec_ctx *c)
{
	const cnn_spec *s = c->spec;
	char path[64];

	for (int i = 1; i < s->n_layers; i++) {
		for (int j = 0; j < i; j++) {
			const cnn_node *at;
			int k;

			if (strcmp(s->layers[i].name, s->layers[j].name))
				continue;
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
	return CNN_OK;
}

/* trainable (a boolean, default true) of layer l, whose kind has read
 * its keys: false freezes its parameters. A kind without parameters
 * refuses the key, saying so (before its own unknown-key check). */
static cnn_status layer_trainable(spec_ctx *c, cnn_layer *l, int configured)
{
	int trainable = 1;
	cnn_status st;

	if (!configured)
		return l->ops->has_params || !cnn_map_get(l->node, "trainable")
		           ? CNN_OK
		           : cnn_reject_key(c->err, l->node, l->ops->type,
		                            "trainable",
		                            "a %s layer has no parameters to "
		                            "train or freeze",
		                            l->ops->type);
	st = cnn_get_bool(l->node, l->ops->type, "trainable", 0, &trainable,
	                  c->err);
	l->frozen = !trainable;
	return st;
}

/* Fills each layer's defaults (the rest is zero from calloc: no padding,
 * CNN_INIT_ZEROS for the bias, CNN_FAN_NONE), then lets its kind read its
 * own keys with path = its type; then trainable. */
static cnn_status configure_layers(spec_ctx *c)
{
	static const char *const base_keys[] = {"type", "name", "input", NULL};
	cnn_spec *s = c->spec;
	cnn_status st = CNN_OK;

	for (int i = 0; !st && i < s->n_layers; i++) {
		cnn_layer *l = &s->layers[i];

		l->bias = 1;
		l->stride[0] = l->stride[1] = 1;
		l->weight_init.type = CNN_INIT_HE;
		if ((st = layer_trainable(c, l, 0)))
			break;
		if (l->ops->configure)
			st = l->ops->configure(l, l->ops->type, c->err);
		else
			st = cnn_map_check_keys(l->node, l->ops->type,
			                        base_keys, c->err);
		if (!st)
			st = layer_trainable(c, l, 1);
	}
	return st;
}

/* layers: a non-empty sequence of mappings. Resolves every type and name
 * first (names unique), then the inputs, then configures each layer. */
static cnn_status parse_layers(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	const cnn_node *seq = cnn_map_get(c->tree->root, "layers");
	cnn_status st = CNN_OK;

	if (!seq)
		return cnn_node_error(c->err, c->tree->root, "layers",
		                      "missing (expected a list of layers)");
	if (seq->type != CNN_NODE_SEQ)
		return bad_value(c, c->tree->root, "", "layers",
		                 "a list of layers");
	if (seq->n_items == 0)
		return cnn_node_error(c->err, seq, "layers",
		                      "expected at least one layer");
	if (seq->n_items > CNN_MAX_LAYERS)
		return cnn_node_error(c->err, seq, "layers",
		                      "%zu layers is too many (at most %d)",
		                      seq->n_items, CNN_MAX_LAYERS);
	s->layers = calloc(seq->n_items, sizeof *s->layers);
	if (!s->layers)
		return cnn_err_nomem(c->err, NULL, NULL);
	s->n_layers = (int)seq->n_items;
	for (int i = 0; !st && i < s->n_layers; i++)
		st = layer_type_name(c, seq->items[i], i);
	if (!st)
		st = unique_layer_names(c);
	if (!st)
		st = parse_inputs(c);
	return st ? st : configure_layers(c);
}

/* ======================================================================== */
/* Loss, optimiser, training, checkpoint                                    */

const char *const cnn_opt_names[] = {"adam", "adamw", "sgd", "rmsprop", NULL};
const char *const cnn_keep_names[] = {"best", "last", NULL};
static const char *const loss_names[] = {"cross_entropy", "mse", NULL};
static const char *const reduction_names[] = {"mean", "sum", NULL};
/* in the order of cnn_sched_type */
static const char *const sched_names[] = {"constant", "step", "exponential",
                                          "cosine", NULL};

/* min_lr must not exceed the learning rate (read before the schedule). */
static cnn_status check_min_lr(spec_ctx *c, const cnn_node *m, const char *path)
{
	if (c->spec->sched_min_lr <= c->spec->learning_rate)
		return CNN_OK;
	return cnn_reject_key(c->err, m, path, "min_lr",
	                      "must not exceed optimizer.learning_rate (%g)",
	                      c->spec->learning_rate);
}

/* nesterov needs a momentum (read before it). */
static cnn_status check_nesterov(spec_ctx *c, const cnn_node *m,
                                 const char *path)
{
	if (!c->spec->nesterov || c->spec->momentum != 0)
		return CNN_OK;
	return cnn_reject_key(c->err, m, path, "nesterov",
	                      "needs a momentum greater than 0 (momentum is "
	                      "0)");
}

/* seed: an integer from 0 to 2^63-1 (wider than a long may be). */
static cnn_status get_seed(spec_ctx *c, const cnn_node *m, const char *path)
{
	const cnn_node *n = cnn_map_get(m, "seed");

	if (n->type == CNN_NODE_SCALAR && !n->quoted) {
		/* digits only after an optional '+'; past 2^64-1 strtoull
		 * gives ULLONG_MAX, which fails the bound */
		const char *p = n->value + (n->value[0] == '+');
		unsigned long long v = strtoull(p, NULL, 10);

		if (*p && !p[strspn(p, "0123456789")] && v <= INT64_MAX) {
			c->spec->seed = v;
			return CNN_OK;
		}
	}
	return bad_value(c, m, path, "seed", "an integer from 0 to %" PRId64,
	                 INT64_MAX);
}

/* The path of checkpoint.path (the hook of ckpt_fields). */
static cnn_status read_checkpoint_path(spec_ctx *c, const cnn_node *m,
                                       const char *path)
{
	return get_path(c, m, path, "path", NULL, c->spec->checkpoint);
}

/* loss: {type: cross_entropy|mse, reduction: mean|sum}. */
static const field loss_fields[] = {
    ENUM_KEY("type", loss, loss_names, CNN_LOSS_CROSS_ENTROPY, 0),
    ENUM_KEY("reduction", reduction, reduction_names, CNN_REDUCE_MEAN, 0),
    {.key = NULL}};

/* gamma's default depends on the type (the hook of the schedule's type). */
static cnn_status sched_defaults(spec_ctx *c, const cnn_node *m,
                                 const char *path)
{
	(void)m;
	(void)path;
	if (c->spec->schedule == CNN_SCHED_STEP)
		c->spec->sched_gamma = 0.1;
	else if (c->spec->schedule == CNN_SCHED_EXPONENTIAL)
		c->spec->sched_gamma = 0.95;
	return CNN_OK;
}

/* optimizer.schedule: {type (required), step_epochs (step, required), gamma
 * (step: 0.1, exponential: 0.95), min_lr (cosine: 0, at most
 * learning_rate), warmup_epochs (all: 0)}; absent: constant without
 * warm-up. */
static const field sched_fields[] = {
    ENUM_KEY("type", schedule, sched_names, CNN_SCHED_CONSTANT, 0,
             .required = 1, .hook = sched_defaults),
    INT_KEY("step_epochs", sched_step_epochs, 1, 1000000, 0, STEP,
            .required = 1, .shown = "schedule.step_epochs"),
    REAL_KEY("gamma", sched_gamma, 0, 1, 1.0, STEP | EXPO, .r.lo_open = 1,
             .shown = "schedule.gamma"),
    REAL_KEY("min_lr", sched_min_lr, 0, DBL_MAX, 0, COSINE, .r.single = 1,
             .hook = check_min_lr, .shown = "schedule.min_lr"),
    REAL_KEY("warmup_epochs", warmup_epochs, 0, 1000000, 0, 0,
             .shown = "schedule.warmup_epochs"),
    {.key = NULL}};

/* optimizer.schedule (the hook of opt_fields; opt is the optimizer's
 * mapping). */
static cnn_status parse_schedule(spec_ctx *c, const cnn_node *opt,
                                 const char *opt_path)
{
	(void)opt_path;
	return read_map(c, cnn_map_get(opt, "schedule"), "optimizer.schedule",
	                sched_fields);
}

/* weight_decay's default depends on the type (the hook of its type). */
static cnn_status opt_defaults(spec_ctx *c, const cnn_node *m, const char *path)
{
	(void)m;
	(void)path;
	if (c->spec->optimizer == CNN_OPT_ADAMW)
		c->spec->weight_decay = 0.01;
	return CNN_OK;
}

/* optimizer: adam or adamw (beta1, beta2, epsilon, epsilon_inside_sqrt,
 * bias_correction), sgd (momentum, nesterov) or rmsprop (alpha, epsilon,
 * momentum); for all: learning_rate, weight_decay (adamw: 0.01),
 * clip_norm, schedule. */
static const field opt_fields[] = {
    ENUM_KEY("type", optimizer, cnn_opt_names, CNN_OPT_ADAM, 0,
             .hook = opt_defaults),
    REAL_KEY("learning_rate", learning_rate, 0, DBL_MAX, 0.001, 0,
             .r.lo_open = 1, .r.single = 1),
    REAL_KEY("beta1", beta1, 0, 1, 0.9, ADAM | ADAMW, .r.hi_open = 1),
    REAL_KEY("beta2", beta2, 0, 1, 0.999, ADAM | ADAMW, .r.hi_open = 1),
    REAL_KEY("epsilon", epsilon, 0, DBL_MAX, 1e-8, ADAM | ADAMW | RMSPROP,
             .r.lo_open = 1, .r.single = 1),
    BOOL_KEY("epsilon_inside_sqrt", epsilon_inside_sqrt, 0, ADAM | ADAMW),
    BOOL_KEY("bias_correction", bias_correction, 1, ADAM | ADAMW),
    REAL_KEY("momentum", momentum, 0, 1, 0, SGD | RMSPROP, .r.hi_open = 1),
    BOOL_KEY("nesterov", nesterov, 0, SGD, .hook = check_nesterov),
    REAL_KEY("alpha", alpha, 0, 1, 0.99, RMSPROP, .r.hi_open = 1),
    REAL_KEY("weight_decay", weight_decay, 0, DBL_MAX, 0, 0, .r.single = 1),
    REAL_KEY("clip_norm", clip_norm, 0, DBL_MAX, 0, 0),
    CODE_KEY("schedule", parse_schedule),
    {.key = NULL}};

/* training.early_stopping: {patience (required, >= 1), min_delta (0, in
 * [0, 1))}; absent: patience 0, no early stopping. */
static const field stop_fields[] = {
    INT_KEY("patience", patience, 1, 1000000, 0, 0, .required = 1),
    REAL_KEY("min_delta", min_delta, 0, 1, 0, 0, .r.hi_open = 1),
    {.key = NULL}};

/* training.early_stopping (the hook of training_fields). */
static cnn_status parse_early_stopping(spec_ctx *c, const cnn_node *training,
                                       const char *path)
{
	(void)path;
	return read_map(c, cnn_map_get(training, "early_stopping"),
	                "training.early_stopping", stop_fields);
}

/* training: epochs, batch_size, shuffle, seed, keep, early_stopping. */
static const field training_fields[] = {
    INT_KEY("epochs", epochs, 1, 1000000, 10, 0),
    INT_KEY("batch_size", batch_size, 1, 65536, 32, 0),
    BOOL_KEY("shuffle", shuffle, 1, 0),
    CODE_KEY("seed", get_seed),
    ENUM_KEY("keep", keep, cnn_keep_names, CNN_KEEP_BEST, 0),
    CODE_KEY("early_stopping", parse_early_stopping),
    {.key = NULL}};

/* checkpoint: path (default NAME.ckpt.gz next to the YAML file, not
 * written into the tree), every (epochs) and every_batches (0: off). */
static const field ckpt_fields[] = {
    CODE_KEY("path", read_checkpoint_path),
    INT_KEY("every", checkpoint_every, 1, INT_MAX, 1, 0),
    INT_KEY("every_batches", checkpoint_every_batches, 0, INT_MAX, 0, 0),
    {.key = NULL}};

/* Lists table f's numbers that apply to type t, as cnn_spec_optimizer_params
 * does, into names and values from index n on; returns the new count. */
static int list_fields(const cnn_spec *s, const field *f, int t,
                       const char **names, double *values, int n, int max)
{
	for (; f->key; f++) {
		const char *p = (const char *)s + f->off;
		double v =
		    f->kind == F_REAL ? *(const double *)p : *(const int *)p;

		if (f->kind == F_CODE || f->kind == F_ENUM ||
		    (f->types && !((f->types >> t) & 1)) ||
		    (f->shown && !f->types && v == 0))
			continue;
		if (n < max) {
			names[n] = f->shown ? f->shown : f->key;
			values[n] = v;
		}
		n++;
	}
	return n;
}

int cnn_spec_optimizer_params(const cnn_spec *s, const char **names,
                              double *values, int max)
{
	int n = list_fields(s, opt_fields, (int)s->optimizer, names, values, 0,
	                    max);

	return list_fields(s, sched_fields, (int)s->schedule, names, values, n,
	                   max);
}

/* After the table, what needs both training and optimizer: a cosine
 * schedule's warm-up must end before training.epochs. */
static cnn_status check_training(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	cnn_error note;

	if (s->schedule != CNN_SCHED_COSINE ||
	    s->warmup_epochs < (double)s->epochs)
		return CNN_OK;
	/* A shortened run (--set training.epochs=1): the warm-up takes the
	 * whole run and the cosine decay never starts, as it would in any
	 * run stopped during its warm-up. Said once, as a note. */
	cnn_err_clear(&note);
	cnn_reject_key(
	    &note,
	    cnn_map_get(cnn_map_get(c->tree->root, "optimizer"), "schedule"),
	    "optimizer.schedule", "warmup_epochs",
	    "%g is not less than training.epochs (%d): the warm-up takes "
	    "the whole run, with no cosine decay",
	    s->warmup_epochs, s->epochs);
	cnn_error_string(&note, s->notes, sizeof s->notes);
	s->warmup_epochs = (double)s->epochs;
	return CNN_OK;
}

/* After the table: the default checkpoint path when none is given. */
static cnn_status default_checkpoint(spec_ctx *c)
{
	cnn_spec *s = c->spec;
	char rel[CNN_NAME_MAX + 16];

	if (s->checkpoint[0])
		return CNN_OK;
	snprintf(rel, sizeof rel, "%s.ckpt.gz", s->name);
	return absolute(c, NULL, "checkpoint.path", rel, 1, s->checkpoint);
}

/* ======================================================================== */
/* Data                                                                     */

/* The keys that belong to one format only, each rejected under the others
 * ("only valid with format csv"). */
static cnn_status dataset_reject(spec_ctx *c, const cnn_node *m,
                                 const char *path, int format)
{
	static const struct {
		const char *key;
		int format; /* 0 idx, 1 csv, 2 folder */
	} own[] = {{"images", 0},       {"labels", 0}, {"header", 1},
	           {"label_column", 1}, {"resize", 2}, {"skip_bad", 2}};
	static const char *const names[] = {"idx", "csv", "folder"};
	cnn_status st;

	if (format == 0 &&
	    (st = cnn_reject_key(c->err, m, path, "path",
	                         "not used with format idx (give images "
	                         "and labels)")))
		return st;
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (own[i].format != format &&
		    (st = cnn_reject_key(
		         c->err, m, path, own[i].key,
		         own[i].format == 0 ? "not used with format %s (give "
		                              "path)"
		                            : "only valid with format %s",
		         own[i].format == 0 ? names[format]
		                            : names[own[i].format])))
			return st;
	return CNN_OK;
}

/* The format of data set m (idx, csv or folder) and the paths it needs; a
 * key of another format is an error at the key. A folder's resize (none or
 * bilinear) and skip_bad are read here too. */
static cnn_status dataset_files(spec_ctx *c, const cnn_node *m,
                                const char *path, cnn_data_spec *d)
{
	static const char *const formats[] = {"idx", "csv", "folder", NULL};
	static const char *const resizes[] = {"none", "bilinear", NULL};
	int format = 0;
	cnn_status st;

	st = cnn_get_enum(m, path, "format", 0, formats, &format, c->err);
	if (st || (st = dataset_reject(c, m, path, format)))
		return st;
	snprintf(d->format, sizeof d->format, "%s", formats[format]);
	if (format == 0) {
		if ((st = get_path(c, m, path, "images",
		                   "the path of an IDX image file", d->images)))
			return st;
		return get_path(c, m, path, "labels",
		                "the path of an IDX label file", d->labels);
	}
	if (format == 1)
		return get_path(c, m, path, "path", "the path of a CSV file",
		                d->path);
	if ((st = cnn_get_enum(m, path, "resize", 0, resizes, &d->resize,
	                       c->err)) ||
	    (st = cnn_get_bool(m, path, "skip_bad", 0, &d->skip_bad, c->err)))
		return st;
	return get_path(c, m, path, "path",
	                "the path of a folder with one subfolder per class",
	                d->path);
}

/* header: true, false or auto (-1, the default). */
static cnn_status dataset_header(spec_ctx *c, const cnn_node *m,
                                 const char *path, cnn_data_spec *d)
{
	const cnn_node *h = cnn_map_get(m, "header");
	cnn_error scratch;

	d->header = -1;
	if (!h || (h->type == CNN_NODE_SCALAR && !strcmp(h->value, "auto")))
		return CNN_OK;
	cnn_err_clear(&scratch);
	if (!cnn_get_bool(m, path, "header", 0, &d->header, &scratch))
		return CNN_OK;
	return bad_value(c, m, path, "header", "true, false or auto");
}

/* label_column: a row is the label and channels*height*width pixels (the
 * input is known: it is read first). */
static cnn_status dataset_label_column(spec_ctx *c, const cnn_node *m,
                                       const char *path, cnn_data_spec *d)
{
	const int *in = c->spec->input;
	long pixels = (long)in[0] * in[1] * in[2], col = 0;
	cnn_status st;

	st = cnn_get_int(m, path, "label_column", 0, 0, LONG_MAX, &col, c->err);
	d->label_column = (int)col;
	if (st || col <= pixels)
		return st;
	return bad_value(c, m, path, "label_column",
	                 "an integer from 0 to %ld (a row is the label and %ld "
	                 "pixels)",
	                 pixels, pixels);
}

/* Fails at h[key] (whose value, v, was read as an integer 0..8) unless v is
 * below the input's height and width (the input is read first). */
static cnn_status augment_bound(spec_ctx *c, const cnn_node *h,
                                const char *full, const char *key, long v)
{
	const int *in = c->spec->input;

	if (v < in[1] && v < in[2])
		return CNN_OK;
	return bad_value(c, h, full, key,
	                 "an integer from 0 to %d (below the input's height "
	                 "and width, %dx%d)",
	                 (in[1] < in[2] ? in[1] : in[2]) - 1, in[1], in[2]);
}

/* augment.crop: {padding: P}, P required, 0..8 and below the input's
 * height and width, as shift. */
static cnn_status augment_crop(spec_ctx *c, const cnn_node *h, const char *full,
                               cnn_data_spec *d)
{
	static const char *const keys[] = {"padding", NULL};
	const cnn_node *crop = cnn_map_get(h, "crop");
	char path[CNN_FULL_SIZE];
	long padding = 0;
	cnn_status st;

	if (!crop)
		return CNN_OK;
	cnn_path_join(path, sizeof path, full, "crop");
	if ((st = cnn_map_check_keys(crop, path, keys, c->err)) ||
	    (st = cnn_get_int(crop, path, "padding", 1, 0, 8, &padding,
	                      c->err)) ||
	    (st = augment_bound(c, crop, path, "padding", padding)))
		return st;
	d->crop = (int)padding;
	return CNN_OK;
}

/* augment: {shift: N, flip: none|horizontal, crop: {padding: P}}, N in
 * 0..8 and below the input's height and width (the input is read first),
 * P likewise; only under data.train. */
static cnn_status dataset_augment(spec_ctx *c, const cnn_node *m,
                                  const char *path, cnn_data_spec *d)
{
	static const char *const keys[] = {"shift", "flip", "crop", NULL};
	static const char *const flips[] = {"none", "horizontal", NULL};
	const cnn_node *h = cnn_map_get(m, "augment");
	char full[CNN_FULL_SIZE];
	long shift = 0;
	cnn_status st = CNN_OK;

	if (strcmp(path, "data.train") != 0)
		st = cnn_reject_key(c->err, m, path, "augment",
		                    "only valid under data.train (validation "
		                    "and test samples are never augmented)");
	if (st || !h)
		return st;
	cnn_path_join(full, sizeof full, path, "augment");
	if ((st = cnn_map_check_keys(h, full, keys, c->err)) ||
	    (st = cnn_get_int(h, full, "shift", 0, 0, 8, &shift, c->err)) ||
	    (st = augment_bound(c, h, full, "shift", shift)) ||
	    (st = cnn_get_enum(h, full, "flip", 0, flips, &d->flip, c->err)))
		return st;
	d->shift = (int)shift;
	return augment_crop(c, h, full, d);
}

/* One data set: data.train or data.test. */
static cnn_status parse_dataset(spec_ctx *c, const cnn_node *m,
                                const char *path, cnn_data_spec *d)
{
	static const char *const keys[] = {
	    "format", "images", "labels",  "path",   "header",   "label_column",
	    "scale",  "limit",  "augment", "resize", "skip_bad", NULL};
	static const cnn_range scale = {
	    .lo = 0, .lo_open = 1, .hi = DBL_MAX, .single = 1};
	cnn_status st;

	d->scale = 1.0 / 255.0;
	if ((st = cnn_map_check_keys(m, path, keys, c->err)) ||
	    (st = dataset_files(c, m, path, d)) ||
	    (st = dataset_header(c, m, path, d)) ||
	    (st = dataset_label_column(c, m, path, d)) ||
	    (st =
	         cnn_get_real(m, path, "scale", 0, scale, &d->scale, c->err)) ||
	    (st = cnn_get_int(m, path, "limit", 0, 0, LONG_MAX, &d->limit,
	                      c->err)) ||
	    (st = dataset_augment(c, m, path, d)))
		return st;
	d->present = 1;
	return CNN_OK;
}

/* data.classes: a list of 2 to 256 distinct class names in label order,
 * each a plain name that could be a folder's (1 to 255 bytes, no "/", not
 * "." or ".."). Whether there are as many as the model has outputs is
 * checked when the graph is built. */
static cnn_status parse_classes(spec_ctx *c, const cnn_node *data)
{
	const cnn_node *n = cnn_map_get(data, "classes");
	char full[CNN_FULL_SIZE], got[CNN_DESCRIBE_SIZE];
	cnn_spec *s = c->spec;

	if (!n)
		return CNN_OK;
	if (n->type != CNN_NODE_SEQ || n->n_items < 2 || n->n_items > 256)
		return cnn_node_error(c->err, n, "data.classes",
		                      "expected a list of 2 to 256 class "
		                      "names, got %s",
		                      n->type == CNN_NODE_SEQ
		                          ? "a list of fewer or more"
		                          : cnn_node_describe(n, got));
	s->classes = calloc(n->n_items, sizeof *s->classes);
	if (!s->classes)
		return cnn_err_nomem(c->err, NULL, NULL);
	for (size_t i = 0; i < n->n_items; i++) {
		const cnn_node *v = n->items[i];
		const char *t = v->type == CNN_NODE_SCALAR ? v->value : NULL;
		snprintf(full, sizeof full, "data.classes.%zu", i);
		if (!t || !t[0] || strlen(t) > 255 || strchr(t, '/') ||
		    !strcmp(t, ".") || !strcmp(t, ".."))
			return cnn_node_error(c->err, v, full,
			                      "expected a class name (1 to 255 "
			                      "bytes, no \"/\"), got %s",
			                      cnn_node_describe(v, got));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->classes[j], t))
				return cnn_node_error(
				    c->err, v, full,
				    "the class %s is already named at "
				    "data.classes.%zu",
				    cnn_node_describe(v, got), j);
		s->classes[i] = t;
	}
	s->n_classes = (int)n->n_items;
	return CNN_OK;
}

/* One list of data.normalize (key mean or std of n): one number in r per
 * input channel, into out as floats. An item's errors name it by its
 * index (data.normalize.std.1). */
static cnn_status normalize_list(spec_ctx *c, const cnn_node *n,
                                 const char *key, cnn_range r, float *out)
{
	const cnn_node *l = cnn_map_get(n, key);
	const int C = c->spec->input[0];
	char full[CNN_FULL_SIZE], got[CNN_DESCRIBE_SIZE], index[24];
	cnn_status st;

	cnn_path_join(full, sizeof full, "data.normalize", key);
	if (!l)
		return cnn_node_error(
		    c->err, n, full,
		    "missing (expected a list of %d number%s, "
		    "one per input channel)",
		    C, C == 1 ? "" : "s");
	if (l->type != CNN_NODE_SEQ || l->n_items != (size_t)C) {
		if (l->type == CNN_NODE_SEQ)
			snprintf(got, sizeof got, "a sequence of %zu item%s",
			         l->n_items, l->n_items == 1 ? "" : "s");
		else
			cnn_node_describe(l, got);
		return cnn_node_error(c->err, l, full,
		                      "expected a list of %d number%s (one per "
		                      "input channel), got %s",
		                      C, C == 1 ? "" : "s", got);
	}
	for (int i = 0; i < C; i++) {
		cnn_pair one = {index, l->items[i]->line, l->items[i]->col,
		                l->items[i]};
		cnn_node map = {.type = CNN_NODE_MAP,
		                .file = l->file,
		                .line = l->line,
		                .col = l->col,
		                .pairs = &one,
		                .n_pairs = 1};
		double v = 0;

		snprintf(index, sizeof index, "%d", i);
		if ((st = cnn_get_real(&map, full, index, 1, r, &v, c->err)))
			return st;
		out[i] = (float)v;
	}
	return CNN_OK;
}

/* normalize: {mean: [...], std: [...]}, both required, one number per
 * input channel (the input is read first), std > 0; both must fit a float.
 * Stored in spec->normalize, the means then the stds. */
static cnn_status parse_normalize(spec_ctx *c, const cnn_node *data)
{
	static const char *const keys[] = {"mean", "std", NULL};
	static const cnn_range mean = {
	    .lo = -DBL_MAX, .hi = DBL_MAX, .single = 1};
	static const cnn_range std = {
	    .lo = 0, .lo_open = 1, .hi = DBL_MAX, .single = 1};
	const cnn_node *n = cnn_map_get(data, "normalize");
	const int C = c->spec->input[0];
	cnn_status st;

	if (!n)
		return CNN_OK;
	if ((st = cnn_map_check_keys(n, "data.normalize", keys, c->err)))
		return st;
	c->spec->normalize = calloc(2 * (size_t)C, sizeof(float));
	if (!c->spec->normalize)
		return cnn_err_nomem(c->err, NULL, NULL);
	if ((st = normalize_list(c, n, "mean", mean, c->spec->normalize)))
		return st;
	return normalize_list(c, n, "std", std, c->spec->normalize + C);
}

/* data: train and test data sets, and the validation hold-out (0 none,
 * below 1 a fraction, else a whole number of samples). */
static cnn_status parse_data(spec_ctx *c)
{
	static const char *const keys[] = {"train",   "test",      "validation",
	                                   "classes", "normalize", NULL};
	cnn_spec *s = c->spec;
	const cnn_node *m, *n;
	cnn_status st;
	double v = 0;

	m = cnn_map_get(c->tree->root, "data");
	if (!m || (st = cnn_map_check_keys(m, "data", keys, c->err)) ||
	    (st = parse_classes(c, m)))
		return m ? st : CNN_OK;
	n = cnn_map_get(m, "train");
	if (n && (st = parse_dataset(c, n, "data.train", &s->train)))
		return st;
	n = cnn_map_get(m, "test");
	if (n && (st = parse_dataset(c, n, "data.test", &s->test)))
		return st;
	st = cnn_get_real(m, "data", "validation", 0, CNN_ANY_REAL, &v, c->err);
	if (st)
		return st;
	if (v < 0 || (v >= 1 && (v != floor(v) || v > 9e15)))
		return bad_value(c, m, "data", "validation",
		                 "0, a fraction between 0 and 1 or a whole "
		                 "number of samples");
	s->validation = v;
	return parse_normalize(c, m);
}

/* ======================================================================== */
/* Fine-tuning                                                              */

/* init: {from: CKPT (required, a path resolved like the data's), tensors:
 * a non-empty list of distinct tensor names, or all_matching (required)}.
 * Only read here; lib/finetune.c copies the tensors when a model is built
 * from its description (never from a checkpoint). */
static cnn_status parse_init(spec_ctx *c)
{
	static const char *const keys[] = {"from", "tensors", NULL};
	const cnn_node *m = cnn_map_get(c->tree->root, "init"), *t;
	char full[CNN_FULL_SIZE], got[CNN_DESCRIBE_SIZE];
	cnn_status st;

	if (!m)
		return CNN_OK;
	if ((st = cnn_map_check_keys(m, "init", keys, c->err)) ||
	    (st = get_path(c, m, "init", "from",
	                   "the path of the checkpoint to start from",
	                   c->spec->init_from)))
		return st;
	t = cnn_map_get(m, "tensors");
	if (!t)
		return cnn_node_error(c->err, m, "init.tensors",
		                      "missing (expected a list of tensor "
		                      "names or all_matching)");
	c->spec->init = m;
	if (t->type == CNN_NODE_SCALAR && !t->quoted &&
	    !strcmp(t->value, "all_matching")) {
		c->spec->init_all = 1;
		return CNN_OK;
	}
	if (t->type != CNN_NODE_SEQ || t->n_items == 0)
		return cnn_node_error(c->err, t, "init.tensors",
		                      "expected a list of tensor names or "
		                      "all_matching, got %s",
		                      t->type == CNN_NODE_SEQ
		                          ? "an empty list"
		                          : cnn_node_describe(t, got));
	for (size_t i = 0; i < t->n_items; i++) {
		const cnn_node *v = t->items[i];

		snprintf(full, sizeof full, "init.tensors.%zu", i);
		if (v->type != CNN_NODE_SCALAR || !v->value[0])
			return cnn_node_error(c->err, v, full,
			                      "expected a tensor name, got %s",
			                      cnn_node_describe(v, got));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->items[j]->value, v->value))
				return cnn_node_error(c->err, v, full,
				                      "%s is already listed at "
				                      "init.tensors.%zu",
				                      cnn_node_describe(v, got),
				                      j);
	}
	return CNN_OK;
}

/* ======================================================================== */

/* The root's keys, in the order they are read: each section's table (if
 * any), then its own code (if any). */
static const struct {
	const char *key;
	const field *f;
	cnn_status (*parse)(spec_ctx *c);
} sections[] = {{"name", NULL, parse_name},
                {"input", input_fields, check_input},
                {"layers", NULL, parse_layers},
                {"loss", loss_fields, NULL},
                {"optimizer", opt_fields, NULL},
                {"training", training_fields, check_training},
                {"data", NULL, parse_data},
                {"checkpoint", ckpt_fields, default_checkpoint},
                {"init", NULL, parse_init}};

#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* Every default first, then the sections in order. */
cnn_status cnn_spec_from_tree(cnn_spec *spec, cnn_tree *tree, cnn_error *err)
{
	static const field *const tables[] = {loss_fields,  opt_fields,
	                                      sched_fields, training_fields,
	                                      stop_fields,  ckpt_fields};
	const char *keys[N_SECTIONS + 1];
	spec_ctx c = {spec, tree, err};
	cnn_status st;
	size_t i;

	memset(spec, 0, sizeof *spec);
	if (!tree || !tree->root || tree->root->type != CNN_NODE_MAP)
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_spec_from_tree: no model description");
	for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
		set_defaults(tables[i], spec);
	spec->seed = 1;
	for (i = 0; i < N_SECTIONS; i++)
		keys[i] = sections[i].key;
	keys[i] = NULL;
	st = cnn_map_check_keys(tree->root, "", keys, err);
	for (i = 0; !st && i < N_SECTIONS; i++) {
		const char *key = sections[i].key;

		if (sections[i].f)
			st = read_map(&c, cnn_map_get(tree->root, key), key,
			              sections[i].f);
		if (!st && sections[i].parse)
			st = sections[i].parse(&c);
	}
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
	free(spec->normalize);
	spec->normalize = NULL;
	spec->n_layers = 0;
	free(spec->classes);
	spec->classes = NULL;
	spec->n_classes = 0;
}

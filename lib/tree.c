/*
 * tree.c - the YAML layer of libcnn.
 *
 * A model description is read with libyaml's event parser into a small tree
 * of nodes (cnn_node) that remember the file, line and column they came
 * from, so that every later complaint can point at what the user wrote.
 * Only the subset of YAML a configuration needs is accepted: one document,
 * a mapping at the top, no anchors or aliases, no tags but YAML's standard
 * ones, no duplicate keys, at most 32 levels of nesting, 1,000,000 values and
 * 16 MiB. The file also holds the "--set" overrides and the emitter (tree
 * back to YAML, for checkpoints); the typed getters with which spec.c and
 * the layers validate the tree are in schema.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "tree.h"

#include "io.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TREE_MAX_DEPTH 32
#define TREE_MAX_BYTES ((size_t)16 << 20)
#define TREE_MAX_NODES 1000000
/* Keys of a mapping checked for duplicates as they arrive; beyond this the
 * check runs once at the end of the mapping, sorted, to stay O(n log n). */
#define TREE_LINEAR_KEYS 64
/* What the parser was doing, for "out of memory ..." */
#define TREE_DOING "while reading the model description"

/* ======================================================================== */
/* Nodes                                                                    */

static void node_free(cnn_node *n)
{
	size_t i;

	if (!n)
		return;
	free(n->value);
	for (i = 0; i < n->n_items; i++)
		node_free(n->items[i]);
	free(n->items);
	for (i = 0; i < n->n_pairs; i++) {
		free(n->pairs[i].key);
		node_free(n->pairs[i].value);
	}
	free(n->pairs);
	free(n);
}

/* Frees every node and string of t and zeroes it (safe on a zeroed tree). */
void cnn_tree_free(cnn_tree *t)
{
	size_t i;

	if (!t)
		return;
	node_free(t->root);
	free(t->file);
	for (i = 0; i < t->n_strings; i++)
		free(t->strings[i]);
	free(t->strings);
	memset(t, 0, sizeof *t);
}

/* Finds the pair with key in map, or NULL. */
static cnn_pair *map_find(const cnn_node *map, const char *key)
{
	size_t i;

	if (!map || map->type != CNN_NODE_MAP)
		return NULL;
	for (i = 0; i < map->n_pairs; i++)
		if (!strcmp(map->pairs[i].key, key))
			return &map->pairs[i];
	return NULL;
}

/* map[key], or NULL if absent or if map is not a mapping. */
cnn_node *cnn_map_get(const cnn_node *map, const char *key)
{
	cnn_pair *p = map_find(map, key);

	return p ? p->value : NULL;
}

/* ======================================================================== */
/* Parsing                                                                  */

typedef struct parse_ctx {
	yaml_parser_t parser;
	const char *file; /* stored in every node; used in messages */
	const char *text;
	size_t len;
	size_t n_nodes;
	int no_marks; /* overrides: nodes and messages get line 0 */
	cnn_error *err;
} parse_ctx;

static void mark_pos(const parse_ctx *c, yaml_mark_t m, int *line, int *col)
{
	if (c->no_marks) {
		*line = 0;
		*col = 0;
	} else {
		*line = (int)(m.line + 1 > INT_MAX ? INT_MAX : m.line + 1);
		*col = (int)(m.column + 1 > INT_MAX ? INT_MAX : m.column + 1);
	}
}

/* A CNN_ERR_CONFIG error at a libyaml mark. */
CNN_PRINTF(3, 4)
static cnn_status mark_error(parse_ctx *c, yaml_mark_t m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	mark_pos(c, m, &line, &col);
	return cnn_err_set(c->err, CNN_ERR_CONFIG, c->file, line, col, NULL,
	                   "%s", msg);
}

/* Converts the parser's failure into an error: the problem text at the
 * problem's position ("FILE:LINE:COL: problem"). */
static cnn_status parser_error(parse_ctx *c)
{
	yaml_parser_t *p = &c->parser;
	const char *problem = p->problem ? p->problem : "invalid YAML";
	yaml_mark_t m = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return cnn_err_nomem(c->err, NULL, TREE_DOING);
	if (p->error == YAML_SCANNER_ERROR && p->context &&
	    !strcmp(p->context, "while scanning a simple key"))
		/* libyaml notices the missing ':' only where the key can no
		 * longer end (the next line, or 1024 characters on): point at
		 * the key itself */
		return mark_error(c, p->context_mark,
		                  "could not find the ':' after this key (a "
		                  "key and its ':' must be on one line, at "
		                  "most 1024 characters apart)");
	if (p->error == YAML_READER_ERROR) {
		/* Only a byte offset is known: count lines up to it. */
		size_t i, off = p->problem_offset;

		m.line = 0;
		m.column = 0;
		if (off > c->len)
			off = c->len;
		for (i = 0; i < off; i++) {
			if (c->text[i] == '\n') {
				m.line++;
				m.column = 0;
			} else {
				m.column++;
			}
		}
	}
	if (p->error == YAML_SCANNER_ERROR && m.index < c->len &&
	    c->text[m.index] == '\t' &&
	    !strcmp(problem, "found character that cannot start any token"))
		return mark_error(c, m,
		                  "found a tab character where YAML allows "
		                  "only spaces (indent with spaces)");
	if (p->context && p->error != YAML_READER_ERROR &&
	    (p->context_mark.line != m.line ||
	     p->context_mark.column != m.column)) {
		/* "while scanning a quoted scalar": say where that began */
		yaml_mark_t k = p->context_mark;

		if (c->no_marks)
			return mark_error(c, m, "%s (%s)", problem, p->context);
		return mark_error(c, m, "%s (%s starting at %lu:%lu)", problem,
		                  p->context, (unsigned long)k.line + 1,
		                  (unsigned long)k.column + 1);
	}
	return mark_error(c, m, "%s", problem);
}

/* Reads the next event into *ev; on failure *ev needs no deletion. */
static cnn_status next_event(parse_ctx *c, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&c->parser, ev))
		return parser_error(c);
	return CNN_OK;
}

/* Allocates a node at mark m, counting it against TREE_MAX_NODES. */
static cnn_status new_node(parse_ctx *c, cnn_node_type type, yaml_mark_t m,
                           cnn_node **out)
{
	cnn_node *n;

	*out = NULL;
	if (++c->n_nodes > TREE_MAX_NODES)
		return mark_error(c, m,
		                  "more than %d values in one description",
		                  TREE_MAX_NODES);
	n = calloc(1, sizeof *n);
	if (!n)
		return cnn_err_nomem(c->err, NULL, TREE_DOING);
	n->type = type;
	n->file = c->file;
	mark_pos(c, m, &n->line, &n->col);
	*out = n;
	return CNN_OK;
}

/* The anchor (tag 0) or the tag (tag 1) of a node event, or NULL. */
static const yaml_char_t *event_prop(const yaml_event_t *ev, int tag)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return tag ? ev->data.scalar.tag : ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return tag ? ev->data.sequence_start.tag
		           : ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return tag ? ev->data.mapping_start.tag
		           : ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/* Rejects aliases and anchored nodes. */
static cnn_status check_anchor(parse_ctx *c, const yaml_event_t *ev)
{
	if (ev->type == YAML_ALIAS_EVENT || event_prop(ev, 0))
		return mark_error(c, ev->start_mark,
		                  "anchors and aliases are not supported");
	return CNN_OK;
}

/* Rejects tags other than YAML's standard ones (!!str makes a scalar a
 * string; the others are accepted and change nothing): a local tag such as
 * !layer or a language-specific one would be silently ignored otherwise. */
static cnn_status check_tag(parse_ctx *c, const yaml_event_t *ev)
{
	static const char *const standard[] = {"str",  "int", "float", "bool",
	                                       "null", "seq", "map",   NULL};
	static const char prefix[] = "tag:yaml.org,2002:";
	const char *tag = (const char *)event_prop(ev, 1);
	char ex[CNN_QUOTE_SIZE];
	int i, std;

	if (!tag)
		return CNN_OK;
	std = !strncmp(tag, prefix, sizeof prefix - 1);
	if (std) {
		tag += sizeof prefix - 1;
		for (i = 0; standard[i]; i++)
			if (!strcmp(tag, standard[i]))
				return CNN_OK;
	}
	cnn_quote_str(ex, tag);
	return mark_error(c, ev->start_mark,
	                  "the tag \"%s%s\" is not supported (only "
	                  "!!str, !!int, !!float, !!bool, !!null, !!seq and "
	                  "!!map)",
	                  std ? "!!" : "", ex);
}

/* Copies a scalar event's text, rejecting embedded NUL characters. */
static cnn_status scalar_text(parse_ctx *c, const yaml_event_t *ev, char **out)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	*out = NULL;
	if (memchr(v, '\0', len))
		return mark_error(c, ev->start_mark,
		                  "NUL characters are not supported");
	*out = strndup(v, len);
	return *out ? CNN_OK : cnn_err_nomem(c->err, NULL, TREE_DOING);
}

/* qsort order for pairs: by key, then by position in the mapping. */
static int cmp_pair_ptr(const void *a, const void *b)
{
	const cnn_pair *x = *(const cnn_pair *const *)a;
	const cnn_pair *y = *(const cnn_pair *const *)b;
	int r = strcmp(x->key, y->key);

	if (r)
		return r;
	return (x > y) - (x < y);
}

/* Checks a large mapping for duplicate keys once it is complete: reports the
 * earliest pair (in document order) whose key appeared before it. */
static cnn_status check_duplicates_sorted(parse_ctx *c, const cnn_node *map)
{
	const cnn_pair **v;
	const cnn_pair *worst = NULL;
	size_t i, n = map->n_pairs;
	char ex[CNN_QUOTE_SIZE];

	v = malloc(n * sizeof *v);
	if (!v)
		return cnn_err_nomem(c->err, NULL, TREE_DOING);
	for (i = 0; i < n; i++)
		v[i] = &map->pairs[i];
	qsort(v, n, sizeof *v, cmp_pair_ptr);
	for (i = 1; i < n; i++) {
		/* the second of each run of equal keys */
		if (!strcmp(v[i]->key, v[i - 1]->key) &&
		    (i < 2 || strcmp(v[i - 1]->key, v[i - 2]->key)) &&
		    (!worst || v[i] < worst))
			worst = v[i];
	}
	free(v);
	if (!worst)
		return CNN_OK;
	return cnn_err_set(c->err, CNN_ERR_CONFIG, c->file, worst->line,
	                   worst->col, NULL, "duplicate key \"%s\"",
	                   cnn_quote_str(ex, worst->key));
}

static cnn_status parse_node(parse_ctx *c, yaml_event_t *ev, int depth,
                             cnn_node **out);

/* Parses the rest of a mapping whose start event was just consumed. */
static cnn_status parse_mapping(parse_ctx *c, cnn_node *n, int depth)
{
	size_t cap = 0;
	cnn_status st;

	for (;;) {
		yaml_event_t k, v;
		cnn_pair *p;
		char *key = NULL, ex[CNN_QUOTE_SIZE];

		st = next_event(c, &k);
		if (st)
			return st;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			break;
		}
		st = check_anchor(c, &k);
		if (!st && k.type != YAML_SCALAR_EVENT)
			st = mark_error(c, k.start_mark,
			                "mapping keys must be plain scalars, "
			                "not mappings or sequences");
		if (!st)
			st = scalar_text(c, &k, &key);
		if (!st && n->n_pairs < TREE_LINEAR_KEYS && map_find(n, key))
			st = mark_error(c, k.start_mark, "duplicate key \"%s\"",
			                cnn_quote_str(ex, key));
		if (!st && n->n_pairs == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			cnn_pair *np = realloc(n->pairs, ncap * sizeof *np);

			if (np) {
				n->pairs = np;
				cap = ncap;
			} else {
				st = cnn_err_nomem(c->err, NULL, TREE_DOING);
			}
		}
		if (st) {
			free(key);
			yaml_event_delete(&k);
			return st;
		}
		p = &n->pairs[n->n_pairs++];
		p->key = key;
		p->value = NULL;
		mark_pos(c, k.start_mark, &p->line, &p->col);
		yaml_event_delete(&k);

		st = next_event(c, &v);
		if (!st)
			st = parse_node(c, &v, depth + 1, &p->value);
		if (st)
			return st;
	}
	if (n->n_pairs > TREE_LINEAR_KEYS)
		return check_duplicates_sorted(c, n);
	return CNN_OK;
}

/* Parses the rest of a sequence whose start event was just consumed. */
static cnn_status parse_sequence(parse_ctx *c, cnn_node *n, int depth)
{
	size_t cap = 0;
	cnn_status st;

	for (;;) {
		yaml_event_t v;

		st = next_event(c, &v);
		if (st)
			return st;
		if (v.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&v);
			return CNN_OK;
		}
		if (n->n_items == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			cnn_node **ni = realloc(n->items, ncap * sizeof *ni);

			if (!ni) {
				yaml_event_delete(&v);
				return cnn_err_nomem(c->err, NULL, TREE_DOING);
			}
			n->items = ni;
			cap = ncap;
		}
		st = parse_node(c, &v, depth + 1, &n->items[n->n_items]);
		if (n->items[n->n_items])
			n->n_items++;
		if (st)
			return st;
	}
}

/* Builds the node that starts with event ev (which it deletes) at nesting
 * depth depth (the top mapping is 1). On failure *out is NULL or a partial
 * node, owned by the caller's structure either way. */
static cnn_status parse_node(parse_ctx *c, yaml_event_t *ev, int depth,
                             cnn_node **out)
{
	cnn_status st;
	cnn_node *n = NULL;

	*out = NULL;
	st = check_anchor(c, ev);
	if (!st)
		st = check_tag(c, ev);
	if (st)
		goto done;
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		yaml_scalar_style_t s = ev->data.scalar.style;
		const char *tag = (const char *)ev->data.scalar.tag;

		st = new_node(c, CNN_NODE_SCALAR, ev->start_mark, &n);
		if (st)
			goto done;
		*out = n;
		st = scalar_text(c, ev, &n->value);
		if (st) {
			n->value = strdup(""); /* keep the node freeable */
			goto done;
		}
		/* Quoted and block scalars and !!str are strings. */
		n->quoted = s == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		            s == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
		            s == YAML_LITERAL_SCALAR_STYLE ||
		            s == YAML_FOLDED_SCALAR_STYLE ||
		            (tag && !strcmp(tag, YAML_STR_TAG));
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int map = ev->type == YAML_MAPPING_START_EVENT;

		if (depth > TREE_MAX_DEPTH) {
			st = mark_error(c, ev->start_mark,
			                "nesting deeper than %d levels is not "
			                "supported",
			                TREE_MAX_DEPTH);
			goto done;
		}
		st = new_node(c, map ? CNN_NODE_MAP : CNN_NODE_SEQ,
		              ev->start_mark, &n);
		if (st)
			goto done;
		*out = n;
		yaml_event_delete(ev);
		return map ? parse_mapping(c, n, depth)
		           : parse_sequence(c, n, depth);
	}
	default:
		st = mark_error(c, ev->start_mark, "unexpected YAML structure");
		break;
	}
done:
	yaml_event_delete(ev);
	return st;
}

/* Parses a whole stream of at most one document; *root is NULL when there
 * is no document. depth is the nesting depth of the document's node. */
static cnn_status parse_stream(parse_ctx *c, int depth, cnn_node **root)
{
	yaml_event_t ev;
	cnn_status st;
	int i, end = 0;

	*root = NULL;
	/* the stream start, then the document start or the stream end */
	for (i = 0; i < 2; i++) {
		st = next_event(c, &ev);
		if (st)
			return st;
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	if (end)
		return CNN_OK;
	st = next_event(c, &ev);
	if (!st)
		st = parse_node(c, &ev, depth, root);
	/* the document end, then the stream end or a second document */
	for (i = 0; !st && i < 2; i++) {
		st = next_event(c, &ev);
		if (st)
			break;
		if (ev.type == YAML_DOCUMENT_START_EVENT)
			st = mark_error(c, ev.start_mark,
			                "only one YAML document is allowed");
		yaml_event_delete(&ev);
	}
	if (st) {
		node_free(*root);
		*root = NULL;
	}
	return st;
}

/* Runs parse_stream over text with a fresh libyaml parser. */
static cnn_status parse_text(parse_ctx *c, const char *text, size_t len,
                             int depth, cnn_node **root)
{
	cnn_status st;

	c->text = text;
	c->len = len;
	if (!yaml_parser_initialize(&c->parser))
		return cnn_err_nomem(c->err, NULL, TREE_DOING);
	yaml_parser_set_input_string(&c->parser, (const unsigned char *)text,
	                             len);
	st = parse_stream(c, depth, root);
	yaml_parser_delete(&c->parser);
	return st;
}

/* "FILE: the model description is larger than 16 MiB". */
static cnn_status too_large(cnn_error *err, const char *file)
{
	return cnn_err_file(err, CNN_ERR_CONFIG, file,
	                    "the model description is larger than %zu MiB",
	                    TREE_MAX_BYTES >> 20);
}

/* See internal.h. On failure *out is zeroed (nothing to free). An absent
 * or empty document is "FILE: empty model description". */
cnn_status cnn_tree_parse(cnn_tree *out, const char *text, size_t len,
                          const char *file, cnn_error *err)
{
	parse_ctx c;
	cnn_node *root = NULL;
	cnn_status st;
	char got[CNN_DESCRIBE_SIZE];

	memset(out, 0, sizeof *out);
	if (!file)
		file = "";
	if (len > TREE_MAX_BYTES)
		return too_large(err, file);
	out->file = strdup(file);
	if (!out->file)
		return cnn_err_nomem(err, NULL, TREE_DOING);
	memset(&c, 0, sizeof c);
	c.file = out->file;
	c.err = err;
	st = parse_text(&c, text, len, 1, &root);
	if (st)
		goto fail;
	if (!root || (root->type == CNN_NODE_SCALAR && !root->quoted &&
	              !root->value[0])) {
		st = cnn_err_file(err, CNN_ERR_CONFIG, file,
		                  "empty model description");
		goto fail;
	}
	if (root->type != CNN_NODE_MAP) {
		st = cnn_node_error(
		    err, root, NULL,
		    "expected a mapping at the top level, got %s",
		    cnn_node_describe(root, got));
		goto fail;
	}
	out->root = root;
	return CNN_OK;
fail:
	node_free(root);
	cnn_tree_free(out);
	return st;
}

/* Reads path whole (CNN_ERR_IO if it cannot be opened or read; at most
 * TREE_MAX_BYTES) and parses it; on failure *out is zeroed. */
cnn_status cnn_tree_load(cnn_tree *out, const char *path, cnn_error *err)
{
	cnn_io_result r;
	uint8_t *buf;
	size_t len;
	cnn_status st;

	memset(out, 0, sizeof *out);
	switch (
	    cnn_io_read(path, TREE_MAX_BYTES, TREE_MAX_BYTES, &buf, &len, &r)) {
	case CNN_IO_OK:
		break;
	case CNN_IO_OPEN:
	case CNN_IO_READ:
		return cnn_err_file(err, CNN_ERR_IO, path,
		                    "cannot %s the model description: %s",
		                    r.fail == CNN_IO_OPEN ? "open" : "read",
		                    strerror(r.errnum));
	case CNN_IO_LARGE:
		return too_large(err, path);
	default:
		return cnn_err_nomem(err, NULL, TREE_DOING);
	}
	st = cnn_tree_parse(out, (const char *)buf, len, path, err);
	free(buf);
	return st;
}

/* Whether s[0..len) is well-formed UTF-8 (libyaml refuses anything else). */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len && (n = cnn_utf8_length(s + i, len - i)))
		i += n;
	return i == len;
}

/* ======================================================================== */
/* Overrides                                                                */

/* Parses a sequence index: decimal digits only. Returns 0 if s is not one;
 * an index too large for size_t becomes SIZE_MAX. */
static int parse_index(const char *s, size_t *out)
{
	size_t v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (v > (SIZE_MAX - 9) / 10)
			v = SIZE_MAX;
		else
			v = v * 10 + (size_t)(*s - '0');
	}
	*out = v;
	return 1;
}

/* See tree.h. */
int cnn_map_insert(cnn_node *map, size_t at, char *key, cnn_node *value)
{
	cnn_pair *np = realloc(map->pairs, (map->n_pairs + 1) * sizeof *np);

	if (!np)
		return 0;
	map->pairs = np;
	memmove(np + at + 1, np + at, (map->n_pairs - at) * sizeof *np);
	np[at].key = key;
	np[at].line = 0;
	np[at].col = 0;
	np[at].value = value;
	map->n_pairs++;
	return 1;
}

/* The walk of an override: the segments of the key, NUL-separated in buf. */
typedef struct set_path {
	char *buf;
	char *seg[TREE_MAX_DEPTH];
	size_t end[TREE_MAX_DEPTH]; /* length of the key up to segment i */
	int n;
} set_path;

/* Walks the existing part of the tree along sp without changing anything:
 * fails if a sequence index is bad or a scalar is in the way. */
static cnn_status set_check(const cnn_tree *t, const set_path *sp,
                            const char *key, const char *src, cnn_error *err)
{
	const cnn_node *cur = t->root;
	int i;

	for (i = 0; i < sp->n && cur; i++) {
		int plen = i ? (int)sp->end[i - 1] : 0;
		size_t idx;

		if (cur->type == CNN_NODE_MAP) {
			cur = cnn_map_get(cur, sp->seg[i]);
		} else if (cur->type == CNN_NODE_SEQ) {
			if (!parse_index(sp->seg[i], &idx))
				return cnn_err_file(
				    err, CNN_ERR_CONFIG, src,
				    "%.*s is a sequence: expected an "
				    "index, got \"%s\"",
				    plen, key, sp->seg[i]);
			if (idx >= cur->n_items)
				return cnn_err_file(
				    err, CNN_ERR_CONFIG, src,
				    "index %s is past the end of %.*s "
				    "(%zu item%s)",
				    sp->seg[i], plen, key, cur->n_items,
				    cur->n_items == 1 ? "" : "s");
			cur = cur->items[idx];
		} else {
			return cnn_err_file(
			    err, CNN_ERR_CONFIG, src,
			    "%.*s is a scalar, not a mapping or a "
			    "sequence",
			    plen, key);
		}
	}
	return CNN_OK;
}

/* Sets every node of a subtree to come from the override src, line 0. */
static void set_origin(cnn_node *n, const char *src)
{
	size_t i;

	n->file = src;
	n->line = 0;
	n->col = 0;
	for (i = 0; i < n->n_items; i++)
		set_origin(n->items[i], src);
	for (i = 0; i < n->n_pairs; i++) {
		n->pairs[i].line = 0;
		n->pairs[i].col = 0;
		set_origin(n->pairs[i].value, src);
	}
}

/* Puts val (consumed) at sp in t, creating missing mappings. set_check must
 * have passed. */
static cnn_status set_apply(cnn_tree *t, const set_path *sp, cnn_node *val,
                            const char *src, cnn_error *err)
{
	cnn_node *cur = t->root;
	int i;

	for (i = 0; i < sp->n; i++) {
		int last = i == sp->n - 1;
		cnn_node **slot;

		if (cur->type == CNN_NODE_SEQ) {
			size_t idx = 0;

			parse_index(sp->seg[i], &idx);
			slot = &cur->items[idx];
		} else {
			cnn_pair *p = map_find(cur, sp->seg[i]);

			if (!p) {
				char *k = strdup(sp->seg[i]);
				cnn_node *m = last ? val : calloc(1, sizeof *m);

				if (!k || !m ||
				    !cnn_map_insert(cur, cur->n_pairs, k, m)) {
					free(k);
					if (m != val)
						free(m);
					node_free(val);
					return cnn_err_nomem(err, NULL,
					                     TREE_DOING);
				}
				if (last)
					return CNN_OK;
				m->type = CNN_NODE_MAP;
				m->file = src;
				cur = m;
				continue;
			}
			slot = &p->value;
			if (last) { /* the pair now belongs to the override */
				p->line = 0;
				p->col = 0;
			}
		}
		if (last) {
			node_free(*slot);
			*slot = val;
			return CNN_OK;
		}
		cur = *slot;
	}
	node_free(val);
	return CNN_OK;
}

/* Cuts sp->buf (the key, klen bytes) into its segments at the dots: an
 * empty segment is a usage error quoting the assignment (ex), more than
 * TREE_MAX_DEPTH - 1 segments an error at the override src. */
static cnn_status split_key(set_path *sp, size_t klen, const char *src,
                            const char *ex, cnn_error *err)
{
	sp->seg[0] = sp->buf;
	for (size_t i = 0; i <= klen; i++) {
		if (i < klen && sp->buf[i] != '.')
			continue;
		if (sp->buf + i == sp->seg[sp->n])
			return cnn_err(err, CNN_ERR_USAGE,
			               "--set: empty key segment in \"%s\"",
			               ex);
		sp->end[sp->n++] = i;
		if (i == klen)
			break;
		if (sp->n >= TREE_MAX_DEPTH - 1)
			return cnn_err_file(err, CNN_ERR_CONFIG, src,
			                    "the key has more than %d segments",
			                    TREE_MAX_DEPTH - 1);
		sp->buf[i] = '\0';
		sp->seg[sp->n] = sp->buf + i + 1;
	}
	return CNN_OK;
}

/* Parses an override's value text as YAML nested depth levels deep into
 * *out, its nodes from src at line 0; an empty text is an empty plain
 * scalar. */
static cnn_status parse_value(const char *text, const char *src, int depth,
                              cnn_node **out, cnn_error *err)
{
	parse_ctx c;
	cnn_status st;

	memset(&c, 0, sizeof c);
	c.file = src;
	c.no_marks = 1;
	c.err = err;
	st = parse_text(&c, text, strlen(text), depth, out);
	if (st)
		return st;
	if (!*out) {
		*out = calloc(1, sizeof **out);
		if (*out)
			(*out)->value = strdup("");
		if (!*out || !(*out)->value) {
			free(*out);
			*out = NULL;
			return cnn_err_nomem(err, NULL, TREE_DOING);
		}
		(*out)->type = CNN_NODE_SCALAR;
	}
	set_origin(*out, src);
	return CNN_OK;
}

/* Applies "a.b.3.c=value" (see tree.h). Checks the whole walk and
 * parses the value before changing anything, so a failed override leaves the
 * tree as it was (except on CNN_ERR_NOMEM). The source string "--set a.b.3.c"
 * is kept in t->strings; the replaced subtree is freed. */
cnn_status cnn_tree_set(cnn_tree *t, const char *assignment, cnn_error *err)
{
	const char *eq = strchr(assignment, '=');
	size_t klen;
	set_path sp;
	char *src = NULL, **ns;
	cnn_node *val = NULL;
	cnn_status st;
	char ex[CNN_QUOTE_SIZE];

	cnn_quote_str(ex, assignment);
	if (!eq || eq == assignment)
		return cnn_err(err, CNN_ERR_USAGE,
		               "--set: expected KEY=VALUE, got \"%s\"", ex);
	if (!t || !t->root || t->root->type != CNN_NODE_MAP)
		return cnn_err(err, CNN_ERR_USAGE,
		               "--set: no model description to change");
	klen = (size_t)(eq - assignment);
	if (!utf8_valid((const unsigned char *)assignment, klen))
		return cnn_err(err, CNN_ERR_USAGE,
		               "--set: the key is not valid UTF-8");

	/* "--set KEY", the override's name, owned by the tree on success. */
	src = malloc(klen + 7);
	memset(&sp, 0, sizeof sp);
	sp.buf = strndup(assignment, klen);
	if (!src || !sp.buf) {
		free(src);
		free(sp.buf);
		return cnn_err_nomem(err, NULL, TREE_DOING);
	}
	memcpy(src, "--set ", 6);
	memcpy(src + 6, assignment, klen);
	src[klen + 6] = '\0';

	st = split_key(&sp, klen, src, ex, err);
	if (!st)
		st = set_check(t, &sp, assignment, src, err);
	if (!st)
		st = parse_value(eq + 1, src, sp.n + 1, &val, err);
	if (!st && !(ns = realloc(t->strings, (t->n_strings + 1) * sizeof *ns)))
		st = cnn_err_nomem(err, NULL, TREE_DOING);
	if (!st) { /* src now belongs to the tree, val to set_apply */
		t->strings = ns;
		t->strings[t->n_strings++] = src;
		st = set_apply(t, &sp, val, src, err);
	} else {
		node_free(val);
		free(src);
	}
	free(sp.buf);
	return st;
}

/* ======================================================================== */
/* Emitting                                                                 */

typedef struct outbuf {
	char *data;
	size_t len, cap;
	int nomem;
} outbuf;

/* libyaml's write handler: appends to the growing buffer (1: success). */
static int write_out(void *data, unsigned char *buffer, size_t size)
{
	outbuf *o = data;

	if (size + 1 > o->cap - o->len) {
		size_t ncap = o->cap ? o->cap : 4096;
		char *nd;

		while (size + 1 > ncap - o->len)
			ncap *= 2;
		nd = realloc(o->data, ncap);
		if (!nd) {
			o->nomem = 1;
			return 0;
		}
		o->data = nd;
		o->cap = ncap;
	}
	memcpy(o->data + o->len, buffer, size);
	o->len += size;
	o->data[o->len] = '\0';
	return 1;
}

typedef struct emit_ctx {
	yaml_emitter_t em;
	outbuf out;
	cnn_error *err;
} emit_ctx;

/* Emits ev (which libyaml consumes even on failure). */
static cnn_status emit_event(emit_ctx *e, yaml_event_t *ev)
{
	if (yaml_emitter_emit(&e->em, ev))
		return CNN_OK;
	if (e->out.nomem || e->em.error == YAML_MEMORY_ERROR)
		return cnn_err_nomem(e->err, NULL, TREE_DOING);
	return cnn_err(e->err, CNN_ERR_CONFIG,
	               "cannot write the model description as YAML: %s",
	               e->em.problem ? e->em.problem : "emitter error");
}

/* Emits one scalar; at is the node blamed if the text is not UTF-8. */
static cnn_status emit_scalar(emit_ctx *e, const cnn_node *at, const char *s,
                              int quoted)
{
	yaml_event_t ev;
	size_t len = strlen(s);

	if (!utf8_valid((const unsigned char *)s, len))
		return cnn_node_error(e->err, at, NULL,
		                      "cannot be written as YAML: a key or "
		                      "value is not valid UTF-8");
	if (!yaml_scalar_event_initialize(
	        &ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)len, 1, 1,
	        quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
	               : YAML_PLAIN_SCALAR_STYLE))
		return cnn_err_nomem(e->err, NULL, TREE_DOING);
	return emit_event(e, &ev);
}

/* Emits a subtree: block mappings and sequences; quoted scalars double-
 * quoted, plain ones plain (libyaml quotes them when plain would not read
 * back the same). */
static cnn_status emit_node(emit_ctx *e, const cnn_node *n)
{
	yaml_event_t ev;
	cnn_status st;
	size_t i;

	int map = n->type == CNN_NODE_MAP, ok;

	if (n->type == CNN_NODE_SCALAR)
		return emit_scalar(e, n, n->value, n->quoted);
	if (map)
		ok = yaml_mapping_start_event_initialize(
		    &ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	else
		ok = yaml_sequence_start_event_initialize(
		    &ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	if (!ok)
		return cnn_err_nomem(e->err, NULL, TREE_DOING);
	st = emit_event(e, &ev);
	/* a sequence has no pairs, a mapping no items */
	for (i = 0; !st && i < n->n_items; i++)
		st = emit_node(e, n->items[i]);
	for (i = 0; !st && i < n->n_pairs; i++) {
		st = emit_scalar(e, n->pairs[i].value, n->pairs[i].key, 0);
		if (!st)
			st = emit_node(e, n->pairs[i].value);
	}
	if (st)
		return st;
	if (map)
		yaml_mapping_end_event_initialize(&ev);
	else
		yaml_sequence_end_event_initialize(&ev);
	return emit_event(e, &ev);
}

/* The tree as one implicit block-style YAML document in a malloc'ed,
 * NUL-terminated string (*len bytes without the NUL). Reading it back with
 * cnn_tree_parse gives the same tree. */
cnn_status cnn_tree_emit(const cnn_tree *t, char **text, size_t *len,
                         cnn_error *err)
{
	emit_ctx e;
	yaml_event_t ev;
	cnn_status st;

	*text = NULL;
	if (len)
		*len = 0;
	if (!t || !t->root)
		return cnn_err(err, CNN_ERR_USAGE,
		               "no model description to write");
	memset(&e, 0, sizeof e);
	e.err = err;
	if (!yaml_emitter_initialize(&e.em))
		return cnn_err_nomem(err, NULL, TREE_DOING);
	yaml_emitter_set_output(&e.em, write_out, &e.out);
	yaml_emitter_set_unicode(&e.em, 1);
	yaml_emitter_set_indent(&e.em, 2);
	yaml_emitter_set_width(&e.em, -1);
	yaml_emitter_set_break(&e.em, YAML_LN_BREAK);

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	st = emit_event(&e, &ev);
	if (!st) {
		if (yaml_document_start_event_initialize(&ev, NULL, NULL, NULL,
		                                         1))
			st = emit_event(&e, &ev);
		else
			st = cnn_err_nomem(err, NULL, TREE_DOING);
	}
	if (!st)
		st = emit_node(&e, t->root);
	if (!st) {
		yaml_document_end_event_initialize(&ev, 1);
		st = emit_event(&e, &ev);
	}
	if (!st) {
		yaml_stream_end_event_initialize(&ev);
		st = emit_event(&e, &ev);
	}
	if (!st && !yaml_emitter_flush(&e.em))
		st = e.out.nomem ? cnn_err_nomem(err, NULL, TREE_DOING)
		                 : cnn_err(err, CNN_ERR_IO,
		                           "cannot write the model "
		                           "description as YAML");
	yaml_emitter_delete(&e.em);
	if (!st && !e.out.data && !write_out(&e.out, (unsigned char *)"", 0))
		st = cnn_err_nomem(err, NULL, TREE_DOING);
	if (st) {
		free(e.out.data);
		return st;
	}
	*text = e.out.data;
	if (len)
		*len = e.out.len;
	return CNN_OK;
}

/* Replaces a scalar's text with a copy of value (its quoting is kept). */
cnn_status cnn_node_set_scalar(cnn_node *n, const char *value, cnn_error *err)
{
	char *v;

	if (!n || n->type != CNN_NODE_SCALAR)
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_node_set_scalar: not a scalar");
	v = strdup(value);
	if (!v)
		return cnn_err_nomem(err, NULL, TREE_DOING);
	free(n->value);
	n->value = v;
	return CNN_OK;
}

/* ======================================================================== */
/* Messages about nodes                                                     */

const char *cnn_node_describe(const cnn_node *n, char buf[CNN_DESCRIBE_SIZE])
{
	char ex[CNN_QUOTE_SIZE];

	if (n->type != CNN_NODE_SCALAR)
		snprintf(buf, CNN_DESCRIBE_SIZE, "%s",
		         n->type == CNN_NODE_MAP ? "a mapping" : "a sequence");
	else if (n->quoted)
		snprintf(buf, CNN_DESCRIBE_SIZE, "a quoted string \"%s\"",
		         cnn_quote_str(ex, n->value));
	else if (!n->value[0])
		snprintf(buf, CNN_DESCRIBE_SIZE, "nothing");
	else
		snprintf(buf, CNN_DESCRIBE_SIZE, "\"%s\"",
		         cnn_quote_str(ex, n->value));
	return buf;
}

const char *cnn_path_join(char *buf, size_t size, const char *path,
                          const char *key)
{
	if (path && path[0])
		snprintf(buf, size, "%s.%s", path, key);
	else
		snprintf(buf, size, "%s", key);
	return buf;
}

/* Formats the message, then fills err at n (see tree.h). */
cnn_status cnn_node_error(cnn_error *err, const cnn_node *n, const char *path,
                          const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return cnn_err_set(err, CNN_ERR_CONFIG, n ? n->file : NULL,
	                   n ? n->line : 0, n ? n->col : 0, path, "%s", msg);
}

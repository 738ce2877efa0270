/*
 * test_tree.c - the YAML layer: parsing with positions, the typed getters
 * and their messages, the limits (duplicates, aliases, depth), --set
 * overrides, emitting and re-reading, initialisers, the specification's
 * defaults and errors, and the corpus of invalid descriptions in t/errors/
 * (each NAME.yaml with its exact one-line message in NAME.expected).
 */
#define _POSIX_C_SOURCE 200809L
#include "model.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char msgbuf[1024];

/* The formatted message of err. */
static const char *msg(const cnn_error *err)
{
	return cnn_error_string(err, msgbuf, sizeof msgbuf);
}

/* Parses text as "m.yaml"; returns the status. */
static cnn_status parse(cnn_tree *t, const char *text, cnn_error *err)
{
	cnn_err_clear(err);
	return cnn_tree_parse(t, text, strlen(text), "m.yaml", err);
}

/* ok() that the formatted error equals want (printing both otherwise). */
static int is_msg(const cnn_error *err, const char *want, const char *name)
{
	const char *got = msg(err);
	int r = err->status != CNN_OK && !strcmp(got, want);

	if (!ok(r, "%s", name)) {
		diag("got:  %s", got);
		diag("want: %s", want);
	}
	return r;
}

/* Parsing text must fail with exactly want. */
static void parse_fails(const char *text, const char *want, const char *name)
{
	cnn_tree t;
	cnn_error err;

	parse(&t, text, &err);
	is_msg(&err, want, name);
	cnn_tree_free(&t);
}

/* Structural equality of two trees (types, texts, quoting, keys). */
static int same_node(const cnn_node *a, const cnn_node *b)
{
	size_t i;

	if (!a || !b || a->type != b->type)
		return 0;
	switch (a->type) {
	case CNN_NODE_SCALAR:
		return !strcmp(a->value, b->value) && a->quoted == b->quoted;
	case CNN_NODE_SEQ:
		if (a->n_items != b->n_items)
			return 0;
		for (i = 0; i < a->n_items; i++)
			if (!same_node(a->items[i], b->items[i]))
				return 0;
		return 1;
	case CNN_NODE_MAP:
		if (a->n_pairs != b->n_pairs)
			return 0;
		for (i = 0; i < a->n_pairs; i++)
			if (strcmp(a->pairs[i].key, b->pairs[i].key) ||
			    !same_node(a->pairs[i].value, b->pairs[i].value))
				return 0;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */

static void test_parse(void)
{
	cnn_tree t;
	cnn_error err;
	const cnn_node *b, *c, *d;

	ok(parse(&t, "a: 1\nb:\n  c: 'x y'\n  d: [1, \"2\"]\n", &err) == CNN_OK,
	   "parse a small document");
	ok(t.root && t.root->type == CNN_NODE_MAP && t.root->n_pairs == 2 &&
	       t.root->line == 1 && t.root->col == 1,
	   "the root is a mapping at 1:1");
	b = cnn_map_get(t.root, "b");
	c = cnn_map_get(b, "c");
	d = cnn_map_get(b, "d");
	ok(b && b->type == CNN_NODE_MAP && b->line == 3 && b->col == 3 &&
	       t.root->pairs[1].line == 2 && t.root->pairs[1].col == 1,
	   "a nested mapping and its key keep their positions");
	ok(c && c->type == CNN_NODE_SCALAR && !strcmp(c->value, "x y") &&
	       c->quoted && c->line == 3 && c->col == 6 &&
	       !strcmp(c->file, "m.yaml"),
	   "a quoted scalar: text, quoted flag, 3:6, file");
	ok(d && d->type == CNN_NODE_SEQ && d->n_items == 2 &&
	       !d->items[0]->quoted && d->items[1]->quoted &&
	       d->items[1]->line == 4 && d->items[1]->col == 10,
	   "a flow sequence with a plain and a quoted item");
	ok(!cnn_map_get(t.root, "zz") && !cnn_map_get(c, "x"),
	   "cnn_map_get: absent key and non-mapping give NULL");
	cnn_tree_free(&t);
}

static void test_parse_errors(void)
{
	cnn_tree t;
	cnn_error err;
	char *deep;
	size_t k;
	int i;

	parse_fails("a: 1\nb: 2\na: 3\n", "m.yaml:3:1: duplicate key \"a\"",
	            "duplicate key at its second occurrence");
	{
		/* a large mapping takes the sorted path */
		char *big = malloc(100 * 16);

		k = 0;
		for (i = 0; i < 90; i++)
			k += (size_t)sprintf(big + k, "k%d: %d\n", i, i);
		k += (size_t)sprintf(big + k, "k7: 0\nk3: 0\n");
		parse_fails(big, "m.yaml:91:1: duplicate key \"k7\"",
		            "duplicate key in a large mapping");
		free(big);
	}
	parse_fails("a: &x 1\nb: *x\n",
	            "m.yaml:1:4: anchors and aliases are not supported",
	            "anchor rejected");
	parse_fails("a: [1]\nb: *x\n",
	            "m.yaml:2:4: anchors and aliases are not supported",
	            "alias rejected");
	parse_fails("? [a, b]\n: 1\n",
	            "m.yaml:1:3: mapping keys must be plain scalars, not "
	            "mappings or sequences",
	            "non-scalar key rejected");
	parse_fails("", "m.yaml: empty model description", "empty text");
	parse_fails("# only a comment\n\n", "m.yaml: empty model description",
	            "only comments");
	parse_fails("- 1\n- 2\n",
	            "m.yaml:1:1: expected a mapping at the top level, got a "
	            "sequence",
	            "a sequence at the top");
	parse_fails("a: 1\n---\nb: 2\n",
	            "m.yaml:2:1: only one YAML document is allowed",
	            "two documents");
	parse_fails("a:\n  b: 1\n   c: 2\n",
	            "m.yaml:3:5: mapping values are not allowed in this "
	            "context",
	            "bad indentation: libyaml's problem at its position");
	parse_fails("a: 1\nb: x\xff\n",
	            "m.yaml:2:5: invalid leading UTF-8 octet",
	            "invalid UTF-8: line and column from the byte offset");
	parse_fails("a: \"x\\0y\"\n",
	            "m.yaml:1:4: NUL characters are not supported",
	            "embedded NUL");

	/* 32 levels of nesting pass, 33 do not */
	deep = malloc(4096);
	for (i = 31; i <= 32; i++) {
		int j;

		k = 0;
		for (j = 0; j < i; j++)
			k += (size_t)sprintf(deep + k, "%*sk:\n", 2 * j, "");
		k += (size_t)sprintf(deep + k, "%*sv: 1\n", 2 * i, "");
		parse(&t, deep, &err);
		if (i == 31)
			ok(err.status == CNN_OK, "nesting of 32 levels passes");
		else
			is_msg(&err,
			       "m.yaml:33:65: nesting deeper than 32 levels is "
			       "not supported",
			       "nesting of 33 levels fails");
		cnn_tree_free(&t);
	}
	free(deep);

	cnn_err_clear(&err);
	ok(cnn_tree_load(&t, "/nonexistent/m.yaml", &err) == CNN_ERR_IO &&
	       !strcmp(msg(&err), "/nonexistent/m.yaml: cannot open the "
	                          "model description: No such file or "
	                          "directory"),
	   "a missing file is an I/O error naming it");
	cnn_tree_free(&t);
}

static void test_getters(void)
{
	static const char *const abc[] = {"a", "b", "c", NULL};
	static const char *const allowed[] = {
	    "type", "name", "units", "bias", "weight_init", "bias_init", NULL};
	cnn_tree t;
	cnn_error err;
	const cnn_node *m;
	long v;
	double d;
	int b, e, two[2];
	char s[8];

	parse(&t,
	      "dense:\n"
	      "  units: 10\n"    /* 2 */
	      "  sixty: sixty\n" /* 3 */
	      "  q: \"12\"\n"    /* 4 */
	      "  map: {a: 1}\n"  /* 5 */
	      "  big: 99999999999999999999\n"
	      "  sci: 1e3\n"      /* 7 */
	      "  neg: -7\n"       /* 8 */
	      "  lr: 1.5e-3\n"    /* 9 */
	      "  inf: .inf\n"     /* 10 */
	      "  yes: On\n"       /* 11 */
	      "  no: FALSE\n"     /* 12 */
	      "  maybe: maybe\n"  /* 13 */
	      "  choice: b\n"     /* 14 */
	      "  k1: 3\n"         /* 15 */
	      "  k2: [2, 4]\n"    /* 16 */
	      "  k3: [1, 2, 3]\n" /* 17 */
	      "  k4: [1, x]\n"    /* 18 */
	      "  empty:\n"        /* 19 */
	      "  unts: 1\n",      /* 20 */
	      &err);
	m = cnn_map_get(t.root, "dense");
	ok(m != NULL, "getter fixture parsed");

	cnn_err_clear(&err);
	v = 0;
	ok(cnn_get_int(m, "dense", "units", 1, 1, LONG_MAX, &v, &err) ==
	           CNN_OK &&
	       v == 10,
	   "get_int: 10");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "sixty", 1, 1, LONG_MAX, &v, &err);
	is_msg(&err,
	       "m.yaml:3:10: dense.sixty: expected a positive integer, got "
	       "\"sixty\"",
	       "get_int: garbage, at the value");
	cnn_err_clear(&err);
	cnn_get_int(m, "", "q", 1, 0, 10, &v, &err);
	is_msg(&err,
	       "m.yaml:4:6: q: expected an integer from 0 to 10, got a "
	       "quoted string \"12\"",
	       "get_int: a quoted number is a string; empty path");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "map", 1, 1, LONG_MAX, &v, &err);
	is_msg(&err,
	       "m.yaml:5:8: dense.map: expected a positive integer, got a "
	       "mapping",
	       "get_int: a mapping where a scalar is expected");
	cnn_err_clear(&err);
	ok(cnn_get_int(m, "dense", "big", 1, LONG_MIN, LONG_MAX, &v, &err) ==
	           CNN_ERR_CONFIG &&
	       cnn_get_int(m, "dense", "sci", 1, LONG_MIN, LONG_MAX, &v,
	                   &err) == CNN_ERR_CONFIG,
	   "get_int: overflow and 1e3 are not integers");
	cnn_err_clear(&err);
	ok(cnn_get_int(m, "dense", "neg", 1, LONG_MIN, LONG_MAX, &v, &err) ==
	           CNN_OK &&
	       v == -7,
	   "get_int: a negative integer");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "neg", 1, 1, 1000000, &v, &err);
	is_msg(&err,
	       "m.yaml:8:8: dense.neg: expected a positive integer, got "
	       "\"-7\"",
	       "get_int: below a bounded positive range");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "units", 1, 1, 5, &v, &err);
	is_msg(&err,
	       "m.yaml:2:10: dense.units: expected a positive integer of at "
	       "most 5, got \"10\"",
	       "get_int: above the range names the bound");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "neg", 1, -5, 5, &v, &err);
	is_msg(&err,
	       "m.yaml:8:8: dense.neg: expected an integer from -5 to 5, got "
	       "\"-7\"",
	       "get_int: another range is spelt out");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "nothere", 1, 1, LONG_MAX, &v, &err);
	is_msg(&err,
	       "m.yaml:2:3: dense.nothere: missing (expected a positive "
	       "integer)",
	       "get_int: missing required key, at the mapping");
	cnn_err_clear(&err);
	v = 42;
	ok(cnn_get_int(m, "dense", "nothere", 0, 1, 9, &v, &err) == CNN_OK &&
	       v == 42,
	   "get_int: absent optional key keeps the default");
	cnn_err_clear(&err);
	cnn_get_int(m, "dense", "empty", 0, 1, 9, &v, &err);
	is_msg(&err,
	       "m.yaml:19:9: dense.empty: expected a positive integer, got "
	       "nothing",
	       "get_int: an empty value");

	cnn_err_clear(&err);
	ok(cnn_get_real(m, "dense", "lr", 1, (cnn_range){.lo = 0, .hi = 1}, &d,
	                &err) == CNN_OK &&
	       d == 1.5e-3,
	   "get_real: 1.5e-3");
	cnn_err_clear(&err);
	cnn_get_real(m, "dense", "inf", 1, CNN_ANY_REAL, &d, &err);
	is_msg(&err, "m.yaml:10:8: dense.inf: expected a number, got \".inf\"",
	       "get_real: infinity rejected");
	cnn_err_clear(&err);
	cnn_get_real(m, "dense", "maybe", 1, (cnn_range){.lo = 0, .hi = 1}, &d,
	             &err);
	is_msg(&err,
	       "m.yaml:13:10: dense.maybe: expected a number from 0 to 1, "
	       "got \"maybe\"",
	       "get_real: garbage with a range");

	cnn_err_clear(&err);
	b = -1;
	e = -1;
	ok(cnn_get_bool(m, "dense", "yes", 1, &b, &err) == CNN_OK && b == 1 &&
	       cnn_get_bool(m, "dense", "no", 1, &e, &err) == CNN_OK && e == 0,
	   "get_bool: On and FALSE");
	cnn_err_clear(&err);
	cnn_get_bool(m, "dense", "maybe", 1, &b, &err);
	is_msg(&err,
	       "m.yaml:13:10: dense.maybe: expected true or false, got "
	       "\"maybe\"",
	       "get_bool: garbage");

	cnn_err_clear(&err);
	ok(cnn_get_string(m, "dense", "choice", 1, s, sizeof s, &err) ==
	           CNN_OK &&
	       !strcmp(s, "b"),
	   "get_string");
	cnn_err_clear(&err);
	cnn_get_string(m, "dense", "maybe", 1, s, 4, &err);
	is_msg(&err,
	       "m.yaml:13:10: dense.maybe: is too long (5 bytes, at most 3)",
	       "get_string: too long");
	cnn_err_clear(&err);
	ok(cnn_get_enum(m, "dense", "choice", 1, abc, &e, &err) == CNN_OK &&
	       e == 1,
	   "get_enum: b is 1");
	cnn_err_clear(&err);
	cnn_get_enum(m, "dense", "maybe", 1, abc, &e, &err);
	is_msg(&err,
	       "m.yaml:13:10: dense.maybe: expected one of a, b, c, got "
	       "\"maybe\"",
	       "get_enum: not a choice");

	cnn_err_clear(&err);
	ok(cnn_get_int2(m, "conv2d", "k1", 1, 1, 64, two, &err) == CNN_OK &&
	       two[0] == 3 && two[1] == 3 &&
	       cnn_get_int2(m, "conv2d", "k2", 1, 1, 64, two, &err) == CNN_OK &&
	       two[0] == 2 && two[1] == 4,
	   "get_int2: 3 and [2, 4]");
	cnn_err_clear(&err);
	cnn_get_int2(m, "conv2d", "k3", 1, 1, LONG_MAX, two, &err);
	is_msg(&err,
	       "m.yaml:17:7: conv2d.k3: expected a positive integer or a list "
	       "[height, width] of two, got a sequence of 3 items",
	       "get_int2: three items");
	cnn_err_clear(&err);
	cnn_get_int2(m, "conv2d", "k4", 1, 1, LONG_MAX, two, &err);
	is_msg(&err,
	       "m.yaml:18:11: conv2d.k4: expected a positive integer, got "
	       "\"x\"",
	       "get_int2: a bad item, at the item");

	cnn_err_clear(&err);
	cnn_map_check_keys(m, "dense", allowed, &err);
	is_msg(&err,
	       "m.yaml:3:3: dense: unknown key \"sixty\" (expected one of: "
	       "type, name, units, bias, weight_init, bias_init)",
	       "check_keys: the first unknown key, at the key");
	cnn_err_clear(&err);
	cnn_map_check_keys(cnn_map_get(m, "k2"), "conv2d.k2", allowed, &err);
	is_msg(&err,
	       "m.yaml:16:7: conv2d.k2: expected a mapping, got a sequence",
	       "check_keys: not a mapping");
	cnn_tree_free(&t);
}

static void test_set(void)
{
	cnn_tree t, t2;
	cnn_error err;
	const cnn_node *n;
	char *text = NULL;
	size_t len = 0;

	parse(&t,
	      "name: x\n"
	      "training: {epochs: 10}\n"
	      "layers:\n"
	      "  - {type: conv2d, kernel: 5}\n"
	      "  - type: dense\n"
	      "    units: 60\n",
	      &err);
	ok(cnn_tree_set(&t, "training.epochs=3", &err) == CNN_OK,
	   "set: an existing nested key");
	n = cnn_map_get(cnn_map_get(t.root, "training"), "epochs");
	ok(n && !strcmp(n->value, "3") && !n->quoted && n->line == 0 &&
	       !strcmp(n->file, "--set training.epochs"),
	   "set: the new value comes from \"--set training.epochs\", line 0");
	ok(cnn_tree_set(&t, "layers.1.units=\"sixty\"", &err) == CNN_OK &&
	       (n = cnn_map_get(cnn_map_get(t.root, "layers")->items[1],
	                        "units")) &&
	       !strcmp(n->value, "sixty") && n->quoted,
	   "set: through a sequence index, a quoted value");
	ok(cnn_tree_set(&t, "layers.0.kernel=[2, 3]", &err) == CNN_OK &&
	       (n = cnn_map_get(cnn_map_get(t.root, "layers")->items[0],
	                        "kernel")) &&
	       n->type == CNN_NODE_SEQ && n->n_items == 2 &&
	       !strcmp(n->items[1]->value, "3") &&
	       !strcmp(n->items[1]->file, "--set layers.0.kernel"),
	   "set: a flow sequence value replaces a scalar");
	ok(cnn_tree_set(&t, "data.train.images=a b.gz", &err) == CNN_OK &&
	       (n = cnn_map_get(
	            cnn_map_get(cnn_map_get(t.root, "data"), "train"),
	            "images")) &&
	       !strcmp(n->value, "a b.gz"),
	   "set: missing mappings are created");
	ok(cnn_tree_set(&t, "name=", &err) == CNN_OK &&
	       (n = cnn_map_get(t.root, "name")) &&
	       n->type == CNN_NODE_SCALAR && !n->value[0] && !n->quoted,
	   "set: an empty value is an empty scalar");
	ok(cnn_tree_set(&t, "layers.1=relu", &err) == CNN_OK &&
	       cnn_map_get(t.root, "layers")->items[1]->type == CNN_NODE_SCALAR,
	   "set: a whole sequence item replaced");

	cnn_err_clear(&err);
	cnn_tree_set(&t, "layers.5.units=1", &err);
	is_msg(&err,
	       "--set layers.5.units: index 5 is past the end of layers (2 "
	       "items)",
	       "set: index past the end names the override");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "training.epochs.x=1", &err);
	is_msg(&err,
	       "--set training.epochs.x: training.epochs is a scalar, not a "
	       "mapping or a sequence",
	       "set: a scalar in the way");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "layers.first=1", &err);
	is_msg(&err,
	       "--set layers.first: layers is a sequence: expected an index, "
	       "got \"first\"",
	       "set: a key on a sequence");
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t, "training.epochs", &err) == CNN_ERR_USAGE &&
	       !strcmp(msg(&err), "--set: expected KEY=VALUE, got "
	                          "\"training.epochs\""),
	   "set: no '=' is a usage error");
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t, "=3", &err) == CNN_ERR_USAGE &&
	       !strcmp(msg(&err), "--set: expected KEY=VALUE, got \"=3\""),
	   "set: an empty key is a usage error");
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t, "a..b=3", &err) == CNN_ERR_USAGE,
	   "set: an empty segment is a usage error");
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t, "a\xff=3", &err) == CNN_ERR_USAGE,
	   "set: a key that is not UTF-8 is a usage error");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "name=[1, 2", &err);
	ok(err.status == CNN_ERR_CONFIG &&
	       !strncmp(msg(&err), "--set name: ", 12),
	   "set: a YAML syntax error in the value names the override (%s)",
	   msg(&err));
	cnn_err_clear(&err);
	cnn_tree_set(&t, "name=*x", &err);
	is_msg(&err, "--set name: anchors and aliases are not supported",
	       "set: an alias in the value");

	/* emitting and reading back gives the same tree */
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t,
	                "odd={a: 'yes', b: '12', c: \"x: y # z\", "
	                "d: \"two\\nlines\", e: ü, f: '', g: [], h: {}}",
	                &err) == CNN_OK,
	   "set: a mapping of awkward strings");
	cnn_err_clear(&err);
	ok(cnn_tree_emit(&t, &text, &len, &err) == CNN_OK && text &&
	       strlen(text) == len,
	   "emit");
	cnn_err_clear(&err);
	ok(text && cnn_tree_parse(&t2, text, len, "e.yaml", &err) == CNN_OK &&
	       same_node(t.root, t2.root),
	   "emit: reading the text back gives the same tree");
	if (err.status)
		diag("%s", msg(&err));
	ok(text && strstr(text, "epochs: 3\n") && strstr(text, "a: \"yes\""),
	   "emit: block style, plain stays plain, quoted stays quoted");
	if (text) { /* the emitted text, one comment line per line */
		char *line = text, *nl;

		diag("emitted:");
		while (*line && (nl = strchr(line, '\n'))) {
			diag("  %.*s", (int)(nl - line), line);
			line = nl + 1;
		}
	}
	free(text);
	cnn_tree_free(&t2);
	cnn_tree_free(&t);
}

static void test_init(void)
{
	cnn_tree t;
	cnn_error err;
	cnn_init_spec s = {CNN_INIT_HE, 0, 0, CNN_FAN_NONE}, s0 = s;
	cnn_rng r1, r2;
	float *w1, *w2;
	double sum = 0, sq = 0, lo = 1e9, hi = -1e9;
	size_t i, n = 100000;
	char desc[64];

	parse(&t,
	      "l:\n"
	      "  a: xavier\n"
	      "  b: {type: uniform, low: 0, high: 1, divide_by_sqrt: fan_in}\n"
	      "  c: {type: normal, mean: 0, std: 0.4472135954999579}\n"
	      "  d: {type: uniform, low: 1, high: 1}\n"
	      "  e: {type: normal, low: 1}\n"
	      "  f: lecun\n"
	      "  g: {type: constant, value: 0.25}\n",
	      &err);
	cnn_err_clear(&err);
	ok(cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "a", &s, &err) ==
	           CNN_OK &&
	       s.type == CNN_INIT_XAVIER,
	   "init: a name");
	ok(cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "zz", &s0, &err) ==
	           CNN_OK &&
	       s0.type == CNN_INIT_HE,
	   "init: absent keeps the default");
	ok(cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "b", &s, &err) ==
	           CNN_OK &&
	       s.type == CNN_INIT_UNIFORM && s.a == 0 && s.b == 1 &&
	       s.divide_by_sqrt == CNN_FAN_IN,
	   "init: the reference dense initialiser");
	cnn_init_describe(&s, desc, sizeof desc);
	ok(!strcmp(desc, "uniform(0, 1)/sqrt(fan_in)"), "init: describe %s",
	   desc);

	/* uniform [0,1)/sqrt(100): mean 0.05, std 0.1/sqrt(12) */
	w1 = malloc(n * sizeof *w1);
	w2 = malloc(n * sizeof *w2);
	cnn_rng_seed(&r1, 7);
	cnn_rng_seed(&r2, 7);
	cnn_init_fill(&s, w1, n, 100, 10, &r1);
	cnn_init_fill(&s, w2, n, 100, 10, &r2);
	ok(!memcmp(w1, w2, n * sizeof *w1), "init: the same seed, the same "
	                                    "values");
	for (i = 0; i < n; i++) {
		sum += w1[i];
		sq += (double)w1[i] * w1[i];
		lo = w1[i] < lo ? w1[i] : lo;
		hi = w1[i] > hi ? w1[i] : hi;
	}
	sum /= (double)n;
	sq = sqrt(sq / (double)n - sum * sum);
	ok(fabs(sum - 0.05) < 0.001 && fabs(sq - 0.1 / sqrt(12)) < 0.001 &&
	       lo >= 0 && hi < 0.1,
	   "init: uniform/sqrt(fan_in) statistics (mean %g, std %g)", sum, sq);

	ok(cnn_init_parse(cnn_map_get(t.root, "l"), "conv2d", "c", &s, &err) ==
	           CNN_OK &&
	       s.type == CNN_INIT_NORMAL,
	   "init: the reference conv initialiser");
	cnn_init_fill(&s, w1, n, 25, 50, &r1);
	sum = sq = 0;
	for (i = 0; i < n; i++) {
		sum += w1[i];
		sq += (double)w1[i] * w1[i];
	}
	sum /= (double)n;
	sq = sqrt(sq / (double)n - sum * sum);
	ok(fabs(sum) < 0.01 && fabs(sq - 0.4472135954999579) < 0.005,
	   "init: normal(0, 0.447) statistics (mean %g, std %g)", sum, sq);

	s.type = CNN_INIT_HE;
	s.divide_by_sqrt = CNN_FAN_NONE;
	cnn_init_fill(&s, w1, n, 50, 10, &r1);
	sum = sq = 0;
	for (i = 0; i < n; i++) {
		sum += w1[i];
		sq += (double)w1[i] * w1[i];
	}
	sum /= (double)n;
	sq = sqrt(sq / (double)n - sum * sum);
	ok(fabs(sum) < 0.005 && fabs(sq - 0.2) < 0.003,
	   "init: he statistics for fan_in 50 (mean %g, std %g)", sum, sq);

	s.type = CNN_INIT_XAVIER;
	cnn_init_fill(&s, w1, n, 20, 4, &r1);
	lo = 1e9;
	hi = -1e9;
	for (i = 0; i < n; i++) {
		lo = w1[i] < lo ? w1[i] : lo;
		hi = w1[i] > hi ? w1[i] : hi;
	}
	ok(lo >= -0.5 && hi <= 0.5 && lo < -0.49 && hi > 0.49,
	   "init: xavier bounds +-sqrt(6/24)");

	ok(cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "g", &s, &err) ==
	       CNN_OK,
	   "init: constant");
	cnn_init_fill(&s, w1, 3, 1, 1, &r1);
	ok(w1[0] == 0.25f && w1[2] == 0.25f, "init: constant fill");

	cnn_err_clear(&err);
	cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "d", &s, &err);
	is_msg(&err, "m.yaml:5:6: dense.d: low (1) must be less than high (1)",
	       "init: low >= high");
	cnn_err_clear(&err);
	cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "e", &s, &err);
	is_msg(&err,
	       "m.yaml:6:21: dense.e.low: not used by a normal initialiser",
	       "init: a key of another type");
	cnn_err_clear(&err);
	cnn_init_parse(cnn_map_get(t.root, "l"), "dense", "f", &s, &err);
	is_msg(&err,
	       "m.yaml:7:6: dense.f: expected one of zeros, he, xavier or a "
	       "mapping {type: ...}, got \"lecun\"",
	       "init: an unknown name");
	free(w1);
	free(w2);
	cnn_tree_free(&t);
}

static const char *const minimal =
    "input: {channels: 1, height: 28, width: 28}\n"
    "layers:\n"
    "  - type: flatten\n"
    "  - type: relu\n"
    "  - type: relu\n"
    "    name: last_relu\n";

static void test_spec(void)
{
	cnn_tree t;
	cnn_error err;
	cnn_spec s;
	char cwd[CNN_PATH_MAX], want[CNN_PATH_MAX + 64];
	const cnn_node *n;

	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "?");
	cnn_err_clear(&err);
	cnn_tree_parse(&t, minimal, strlen(minimal), "/srv/models/small.yaml",
	               &err);
	ok(cnn_spec_from_tree(&s, &t, &err) == CNN_OK, "spec: a minimal model");
	if (err.status)
		diag("%s", msg(&err));
	ok(!strcmp(s.name, "small") && s.input[0] == 1 && s.input[2] == 28,
	   "spec: name from the file, input");
	ok(s.n_layers == 3 && s.layers &&
	       !strcmp(s.layers[0].name, "flatten1") &&
	       !strcmp(s.layers[1].name, "relu1") &&
	       !strcmp(s.layers[2].name, "last_relu") &&
	       s.layers[2].index == 2 && s.layers[1].bias == 1 &&
	       s.layers[1].stride[0] == 1 &&
	       s.layers[1].weight_init.type == CNN_INIT_HE,
	   "spec: layer names, indexes and defaults");
	ok(s.loss == CNN_LOSS_CROSS_ENTROPY && s.reduction == CNN_REDUCE_MEAN &&
	       s.optimizer == CNN_OPT_ADAM && s.learning_rate == 0.001 &&
	       s.beta1 == 0.9 && s.beta2 == 0.999 && s.epsilon == 1e-8 &&
	       !s.epsilon_inside_sqrt && s.bias_correction && s.momentum == 0,
	   "spec: loss and optimiser defaults");
	ok(s.epochs == 10 && s.batch_size == 32 && s.shuffle && s.seed == 1 &&
	       s.keep == CNN_KEEP_BEST && !s.train.present && !s.test.present &&
	       s.validation == 0 && s.checkpoint_every == 1,
	   "spec: training and data defaults");
	ok(!strcmp(s.checkpoint, "/srv/models/small.ckpt.gz"),
	   "spec: default checkpoint next to the file (%s)", s.checkpoint);
	n = cnn_map_get(t.root, "name");
	ok(n && !strcmp(n->value, "small") && t.root->pairs[0].value == n &&
	       !cnn_map_get(t.root, "checkpoint"),
	   "spec: the default name is written into the tree, the checkpoint "
	   "is not");
	cnn_spec_free(&s);
	ok(!s.layers, "spec_free");

	/* paths: from the file against its folder, from --set against cwd */
	cnn_err_clear(&err);
	ok(cnn_tree_set(&t, "data.train.images=imgs.gz", &err) == CNN_OK &&
	       cnn_tree_set(&t, "data.train.labels=/abs/labels.gz", &err) ==
	           CNN_OK &&
	       cnn_tree_set(&t, "data.test.format=csv", &err) == CNN_OK &&
	       cnn_tree_set(&t, "data.validation=0.1", &err) == CNN_OK &&
	       cnn_tree_set(&t, "training.seed=9223372036854775807", &err) ==
	           CNN_OK &&
	       cnn_tree_set(&t, "optimizer={type: sgd, momentum: 0.9}", &err) ==
	           CNN_OK,
	   "spec: overrides applied");
	{
		/* a data set written in the file itself */
		cnn_tree t2;
		const char *text = "input: {channels: 1, height: 2, width: 2}\n"
		                   "layers: [{type: relu}]\n"
		                   "data:\n"
		                   "  test: {format: csv, path: ../d/t.csv, "
		                   "header: auto, label_column: 3, limit: 5}\n"
		                   "  train: {format: csv, path: t.csv, "
		                   "header: no}\n"
		                   "checkpoint: {path: out/c.gz, every: 2}\n";
		cnn_err_clear(&err);
		cnn_tree_parse(&t2, text, strlen(text), "/srv/models/p.yaml",
		               &err);
		ok(cnn_spec_from_tree(&s, &t2, &err) == CNN_OK &&
		       !strcmp(s.test.path, "/srv/models/../d/t.csv") &&
		       s.test.header == -1 && s.test.label_column == 3 &&
		       s.test.limit == 5 && s.train.header == 0 &&
		       !strcmp(s.checkpoint, "/srv/models/out/c.gz") &&
		       s.checkpoint_every == 2,
		   "spec: csv data sets and a checkpoint path from the file");
		if (err.status)
			diag("%s", msg(&err));
		n = cnn_map_get(
		    cnn_map_get(cnn_map_get(t2.root, "data"), "test"), "path");
		ok(n && !strcmp(n->value, "/srv/models/../d/t.csv"),
		   "spec: the resolved path is written back into the tree");
		cnn_spec_free(&s);
		cnn_tree_free(&t2);
	}
	cnn_err_clear(&err);
	cnn_tree_set(&t, "data.test.path=x.csv", &err);
	ok(cnn_spec_from_tree(&s, &t, &err) == CNN_OK, "spec: with data");
	if (err.status)
		diag("%s", msg(&err));
	snprintf(want, sizeof want, "%s/imgs.gz", cwd);
	ok(!strcmp(s.train.images, want) &&
	       !strcmp(s.train.labels, "/abs/labels.gz") && s.train.present &&
	       !strcmp(s.train.format, "idx") &&
	       fabs(s.train.scale - 1.0 / 255) < 1e-15,
	   "spec: an override's path is resolved against the current "
	   "directory");
	ok(s.validation == 0.1 && s.seed == UINT64_C(9223372036854775807) &&
	       s.optimizer == CNN_OPT_SGD && s.momentum == 0.9,
	   "spec: validation, a 63-bit seed, sgd with momentum");
	cnn_spec_free(&s);

	cnn_err_clear(&err);
	cnn_tree_set(&t, "training.seed=9223372036854775808", &err);
	cnn_spec_from_tree(&s, &t, &err);
	is_msg(&err,
	       "--set training.seed: expected an integer from "
	       "0 to 9223372036854775807, got \"9223372036854775808\"",
	       "spec: seed past 2^63-1");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "training.seed=1", &err);
	cnn_tree_set(&t, "optimizer.learning_rate=0", &err);
	cnn_spec_from_tree(&s, &t, &err);
	is_msg(&err,
	       "--set optimizer.learning_rate: "
	       "expected a number greater than 0, got \"0\"",
	       "spec: learning rate 0");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "optimizer.learning_rate=0.1", &err);
	cnn_tree_set(&t, "layers.1.name=flatten1", &err);
	cnn_spec_from_tree(&s, &t, &err);
	is_msg(&err,
	       "--set layers.1.name: layers[1].name: duplicate layer name "
	       "\"flatten1\" (layers[0] and layers[1])",
	       "spec: duplicate layer names");
	cnn_err_clear(&err);
	cnn_tree_set(&t, "layers.1.name=bad-name", &err);
	cnn_spec_from_tree(&s, &t, &err);
	is_msg(&err,
	       "--set layers.1.name: layers[1].name: expected a name of "
	       "letters, digits and '_', got \"bad-name\"",
	       "spec: a bad layer name");
	cnn_tree_free(&t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every t/errors/NAME.yaml must fail with exactly NAME.expected when the
 * model is built from it. */
static void test_corpus(void)
{
	char *names[512];
	int n = 0, i;
	DIR *d;
	struct dirent *e;

	if (!(d = opendir("t/errors"))) {
		ok(0, "corpus: cannot open t/errors");
		return;
	}
	while ((e = readdir(d)) && n < 512) {
		size_t l = strlen(e->d_name);

		if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml"))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_str);
	ok(n >= 14, "corpus: %d invalid descriptions", n);
	for (i = 0; i < n; i++) {
		char path[600], exp[600], *want;
		cnn_tree t;
		cnn_model *m = NULL;
		cnn_error err;

		snprintf(path, sizeof path, "t/errors/%s", names[i]);
		snprintf(exp, sizeof exp, "t/errors/%.*s.expected",
		         (int)strlen(names[i]) - 5, names[i]);
		want = slurp(exp, NULL);
		for (size_t k = want ? strlen(want) : 0;
		     k && (want[k - 1] == '\n' || want[k - 1] == '\r');)
			want[--k] = '\0';
		cnn_err_clear(&err);
		/* the whole model is built, so shape errors are caught too */
		if (cnn_tree_load(&t, path, &err) == CNN_OK &&
		    cnn_model_from_tree(&m, &t, &err) == CNN_OK)
			cnn_model_free(m);
		if (!want)
			ok(0, "corpus: %s has no .expected", path);
		else
			is_msg(&err, want, path);
		free(want);
		free(names[i]);
	}
}

/* The reference model reads, and reads the same once emitted (as a
 * checkpoint would hold it). */
static void test_reference(void)
{
	cnn_tree t, t2;
	cnn_spec s, s2;
	cnn_error err;
	char cwd[CNN_PATH_MAX], want[CNN_PATH_MAX + 64], *text = NULL;
	size_t len = 0;

	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "?");
	cnn_err_clear(&err);
	if (!ok(cnn_tree_load(&t, "models/mnist_cnn.yaml", &err) == CNN_OK &&
	            cnn_spec_from_tree(&s, &t, &err) == CNN_OK,
	        "reference: models/mnist_cnn.yaml is valid")) {
		diag("%s", msg(&err));
		cnn_tree_free(&t);
		return;
	}
	ok(!strcmp(s.name, "mnist_cnn") && s.n_layers == 8 &&
	       !s.layers[0].bias &&
	       s.layers[0].weight_init.type == CNN_INIT_NORMAL &&
	       s.layers[0].weight_init.b == 0.4472135954999579 &&
	       s.layers[4].weight_init.type == CNN_INIT_UNIFORM &&
	       s.layers[4].weight_init.divide_by_sqrt == CNN_FAN_IN &&
	       !strcmp(s.layers[4].name, "dense1") &&
	       !strcmp(s.layers[6].name, "dense2"),
	   "reference: layers and initialisers");
	ok(s.reduction == CNN_REDUCE_SUM && s.optimizer == CNN_OPT_ADAM &&
	       s.beta2 == 0.995 && s.epsilon == 1e-7 && s.epsilon_inside_sqrt &&
	       !s.bias_correction,
	   "reference: the notebook's loss and optimiser");
	snprintf(want, sizeof want,
	         "%s/models/../data/mnist/train-images-idx3-ubyte.gz", cwd);
	ok(!strcmp(s.train.images, want) && s.test.present,
	   "reference: data paths resolved against the file's folder");
	cnn_err_clear(&err);
	ok(cnn_tree_emit(&t, &text, &len, &err) == CNN_OK &&
	       cnn_tree_parse(&t2, text, len, "/tmp/x.ckpt.gz:model", &err) ==
	           CNN_OK &&
	       same_node(t.root, t2.root) &&
	       cnn_spec_from_tree(&s2, &t2, &err) == CNN_OK,
	   "reference: emitted and read back");
	ok(!strcmp(s2.name, s.name) && !strcmp(s2.train.images, want) &&
	       !strcmp(s2.checkpoint, s.checkpoint) &&
	       s2.n_layers == s.n_layers,
	   "reference: the re-read description is the same model");
	cnn_spec_free(&s2);
	cnn_tree_free(&t2);
	cnn_spec_free(&s);
	cnn_tree_free(&t);
	free(text);
}

int main(void)
{
	const char *top = getenv("top_srcdir");

	plan_no_plan();
	/* the corpus' messages name files relative to the source folder */
	if (!top || !top[0])
		top = ".";
	if (chdir(top) != 0)
		diag("cannot change to %s", top);
	test_parse();
	test_parse_errors();
	test_getters();
	test_set();
	test_init();
	test_spec();
	test_reference();
	test_corpus();
	return done();
}

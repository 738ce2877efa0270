/*
 * test_schema.c - the typed getters of schema.c and their messages: closed
 * and open bounds at and just past each end, integers and reals, NaN and
 * infinity, single precision, enums, bools, int2, missing keys,
 * cnn_reject_key, and the quoting of long, UTF-8 and control-character
 * text. Every message is checked whole.
 */
#include "schema.h"
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static cnn_tree tree;
static cnn_error err;

/* Parses "k: VALUE" (the value at 1:4) as m.yaml into tree; returns the
 * root. */
static const cnn_node *doc(const char *value)
{
	char text[256];

	cnn_tree_free(&tree);
	snprintf(text, sizeof text, "k: %s\n", value);
	cnn_err_clear(&err);
	if (cnn_tree_parse(&tree, text, strlen(text), "m.yaml", &err))
		diag("cannot parse %s", text);
	cnn_err_clear(&err);
	return tree.root;
}

/* The value of "k: VALUE". */
static const cnn_node *value(const char *v)
{
	return cnn_map_get(doc(v), "k");
}

/* ok() that the last call failed with exactly want (or passed, want NULL). */
static void is(cnn_status st, const char *want, const char *name)
{
	char buf[1024];
	const char *got = cnn_error_string(&err, buf, sizeof buf);
	int r =
	    want ? st == CNN_ERR_CONFIG && !strcmp(got, want) : st == CNN_OK;

	if (!ok(r, "%s", name)) {
		diag("got:  %s", st ? got : "(no error)");
		diag("want: %s", want ? want : "(no error)");
	}
}

/* cnn_get_real of "k: value" in r. */
static cnn_status real(const char *value, cnn_range r, double *v)
{
	return cnn_get_real(doc(value), "s", "k", 1, r, v, &err);
}

static void test_real_bounds(void)
{
	const cnn_range closed = {.lo = 0, .hi = 1};
	const cnn_range half = {.lo = 0, .hi = 1, .hi_open = 1};
	const cnn_range open = {.lo = 0, .hi = 1, .lo_open = 1, .hi_open = 1};
	double v = 7;

	is(real("0", closed, &v), NULL, "closed: the low end");
	ok(v == 0, "closed: 0 read");
	is(real("1", closed, &v), NULL, "closed: the high end");
	is(real("-0.001", closed, &v),
	   "m.yaml:1:4: s.k: expected a number from 0 to 1, got \"-0.001\"",
	   "closed: just below");
	is(real("1.001", closed, &v),
	   "m.yaml:1:4: s.k: expected a number from 0 to 1, got \"1.001\"",
	   "closed: just above");
	ok(v == 1, "a refused value leaves *out alone");
	is(real("0", half, &v), NULL, "[0, 1): 0");
	is(real("1", half, &v),
	   "m.yaml:1:4: s.k: expected a number in [0, 1), got \"1\"",
	   "[0, 1): 1");
	is(real("0.999", half, &v), NULL, "[0, 1): 0.999");
	is(real("0", open, &v),
	   "m.yaml:1:4: s.k: expected a number in (0, 1), got \"0\"",
	   "(0, 1): 0");
	is(real("1e-300", open, &v), NULL, "(0, 1): 1e-300");
	is(real("1", open, &v),
	   "m.yaml:1:4: s.k: expected a number in (0, 1), got \"1\"",
	   "(0, 1): 1");
	is(real("0", (cnn_range){.lo = 0, .hi = DBL_MAX, .lo_open = 1}, &v),
	   "m.yaml:1:4: s.k: expected a number greater than 0, got \"0\"",
	   "(0, inf): 0");
	is(real("-1", (cnn_range){.lo = 0, .hi = DBL_MAX}, &v),
	   "m.yaml:1:4: s.k: expected a number of at least 0, got \"-1\"",
	   "[0, inf): -1");
	is(real("5", (cnn_range){.lo = -DBL_MAX, .hi = 5, .hi_open = 1}, &v),
	   "m.yaml:1:4: s.k: expected a number less than 5, got \"5\"",
	   "(-inf, 5): 5");
	is(real("6", (cnn_range){.lo = -DBL_MAX, .hi = 5}, &v),
	   "m.yaml:1:4: s.k: expected a number of at most 5, got \"6\"",
	   "(-inf, 5]: 6");
	is(real("1e999", CNN_ANY_REAL, &v),
	   "m.yaml:1:4: s.k: expected a number, got \"1e999\"",
	   "overflow to infinity");
	is(real(".nan", CNN_ANY_REAL, &v),
	   "m.yaml:1:4: s.k: expected a number, got \".nan\"", "NaN");
	is(real(".inf", half, &v),
	   "m.yaml:1:4: s.k: expected a number in [0, 1), got \".inf\"",
	   "infinity, with the bounds");
	is(real("0x10", CNN_ANY_REAL, &v),
	   "m.yaml:1:4: s.k: expected a number, got \"0x10\"", "hexadecimal");
	is(real("\"0.5\"", closed, &v),
	   "m.yaml:1:4: s.k: expected a number from 0 to 1, got a quoted "
	   "string \"0.5\"",
	   "a quoted number is a string");
	is(real("3", CNN_ANY_REAL, &v), NULL, "an integer is a real");
	ok(v == 3, "3 read as 3.0");
}

static void test_single(void)
{
	const cnn_range r = {.lo = 0, .hi = DBL_MAX, .single = 1};
	double v = 1;

	is(real("0", r, &v), NULL, "single: 0 is exact");
	is(real("1e-30", r, &v), NULL, "single: 1e-30 fits");
	is(real("1e-50", r, &v),
	   "m.yaml:1:4: s.k: expected a number from 1.17549e-38 to "
	   "3.40282e+38 (it is used in single precision), got \"1e-50\"",
	   "single: 1e-50 rounds to 0");
	is(real("1e39", r, &v),
	   "m.yaml:1:4: s.k: expected a number from 1.17549e-38 to "
	   "3.40282e+38 (it is used in single precision), got \"1e39\"",
	   "single: 1e39 overflows");
}

static void test_int(void)
{
	long v = 0;
	int two[2] = {0, 0};

	is(cnn_get_int(doc("10"), "s", "k", 1, 0, 10, &v, &err), NULL,
	   "int: the high end");
	is(cnn_get_int(doc("11"), "s", "k", 1, 0, 10, &v, &err),
	   "m.yaml:1:4: s.k: expected an integer from 0 to 10, got \"11\"",
	   "int: just above");
	is(cnn_get_int(doc("-1"), "s", "k", 1, 0, 10, &v, &err),
	   "m.yaml:1:4: s.k: expected an integer from 0 to 10, got \"-1\"",
	   "int: just below");
	is(cnn_get_int(doc("1.5"), "s", "k", 1, 0, 10, &v, &err),
	   "m.yaml:1:4: s.k: expected an integer from 0 to 10, got \"1.5\"",
	   "int: a real is not an integer");
	is(cnn_get_int(doc("0"), "s", "k", 1, 1, 9, &v, &err),
	   "m.yaml:1:4: s.k: expected a positive integer, got \"0\"",
	   "int: positive");
	is(cnn_get_int(doc("10"), "s", "k", 1, 1, 9, &v, &err),
	   "m.yaml:1:4: s.k: expected a positive integer of at most 9, got "
	   "\"10\"",
	   "int: positive, too big");
	is(cnn_get_int2(doc("3"), "s", "k", 1, 1, 9, two, &err), NULL,
	   "int2: one integer");
	ok(two[0] == 3 && two[1] == 3, "int2: 3 gives 3x3");
	is(cnn_get_int2(doc("[2, 5]"), "s", "k", 1, 1, 9, two, &err), NULL,
	   "int2: a pair");
	ok(two[0] == 2 && two[1] == 5, "int2: [2, 5]");
	is(cnn_get_int2(doc("[2]"), "s", "k", 1, 1, 9, two, &err),
	   "m.yaml:1:4: s.k: expected a positive integer or a list [height, "
	   "width] of two, got a sequence of 1 item",
	   "int2: one item");
	is(cnn_get_int2(doc("[2, 0]"), "s", "k", 1, 1, 9, two, &err),
	   "m.yaml:1:8: s.k: expected a positive integer, got \"0\"",
	   "int2: a bad item is blamed where it is");
}

static void test_enum_bool(void)
{
	static const char *const choices[] = {"mean", "sum", NULL};
	int v = -1;

	is(cnn_get_enum(doc("sum"), "s", "k", 1, choices, &v, &err), NULL,
	   "enum: a choice");
	ok(v == 1, "enum: its index");
	is(cnn_get_enum(doc("\"mean\""), "s", "k", 1, choices, &v, &err), NULL,
	   "enum: a quoted choice");
	is(cnn_get_enum(doc("avg"), "s", "k", 1, choices, &v, &err),
	   "m.yaml:1:4: s.k: expected one of mean, sum, got \"avg\"",
	   "enum: not a choice");
	is(cnn_get_bool(doc("Off"), "s", "k", 1, &v, &err), NULL, "bool: Off");
	ok(v == 0, "bool: Off is false");
	is(cnn_get_bool(doc("yes"), "s", "k", 1, &v, &err), NULL, "bool: yes");
	ok(v == 1, "bool: yes is true");
	is(cnn_get_bool(doc("maybe"), "s", "k", 1, &v, &err),
	   "m.yaml:1:4: s.k: expected true or false, got \"maybe\"",
	   "bool: maybe");
	is(cnn_get_bool(doc("{a: 1}"), "s", "k", 1, &v, &err),
	   "m.yaml:1:4: s.k: expected true or false, got a mapping",
	   "bool: a mapping");
}

static void test_missing_reject(void)
{
	double d = 0.5;
	long v = 0;

	is(cnn_get_real(doc("1"), "s", "x", 1, (cnn_range){.lo = 0, .hi = 1},
	                &d, &err),
	   "m.yaml:1:1: s.x: missing (expected a number from 0 to 1)",
	   "missing: required");
	is(cnn_get_real(doc("1"), "s", "x", 0, (cnn_range){.lo = 0, .hi = 1},
	                &d, &err),
	   NULL, "missing: optional");
	ok(d == 0.5, "missing: the default stays");
	is(cnn_get_int(doc("1"), "", "x", 1, 1, LONG_MAX, &v, &err),
	   "m.yaml:1:1: x: missing (expected a positive integer)",
	   "missing: at the top");
	is(cnn_reject_key(&err, doc("1"), "s", "k", "only with %s", "csv"),
	   "m.yaml:1:1: s.k: only with csv", "reject_key: at the key");
	is(cnn_reject_key(&err, doc("1"), "s", "x", "never"), NULL,
	   "reject_key: an absent key passes");
	is(cnn_map_check_keys(doc("1"), "s",
	                      (const char *const[]){"a", "b", NULL}, &err),
	   "m.yaml:1:1: s: unknown key \"k\" (expected one of: a, b)",
	   "check_keys: unknown key");
}

static void test_quoting(void)
{
	char buf[CNN_DESCRIBE_SIZE];
	double d;

	is(real("abcdefghijabcdefghijabcdefghijabcdefghijXYZ", CNN_ANY_REAL,
	        &d),
	   "m.yaml:1:4: s.k: expected a number, got "
	   "\"abcdefghijabcdefghijabcdefghijabcdefghij...\"",
	   "quote: cut at 40 bytes");
	/* "a" and 25 "é" (2 bytes each): 39 bytes fit, the 20th "é" not */
	is(real("aéééééééééééééééééééééééé", CNN_ANY_REAL, &d),
	   "m.yaml:1:4: s.k: expected a number, got "
	   "\"aééééééééééééééééééé...\"",
	   "quote: cut on a UTF-8 boundary");
	is(real("\"a\\tb\\u0007\"", CNN_ANY_REAL, &d),
	   "m.yaml:1:4: s.k: expected a number, got a quoted string \"a?b?\"",
	   "quote: control characters as '?'");
	ok(!strcmp(cnn_node_describe(value("\"\""), buf),
	           "a quoted string \"\""),
	   "describe: an empty quoted string");
	ok(!strcmp(cnn_node_describe(value(""), buf), "nothing"),
	   "describe: nothing");
	ok(!strcmp(cnn_node_describe(value("[1]"), buf), "a sequence"),
	   "describe: a sequence");
	ok(!strcmp(cnn_path_join(buf, sizeof buf, "", "k"), "k") &&
	       !strcmp(cnn_path_join(buf, sizeof buf, "a.b", "k"), "a.b.k"),
	   "join: with and without a path");
}

int main(void)
{
	plan_no_plan();
	test_real_bounds();
	test_single();
	test_int();
	test_enum_bool();
	test_missing_reject();
	test_quoting();
	cnn_tree_free(&tree);
	return done();
}

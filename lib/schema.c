/*
 * schema.c - the typed getters with which spec.c, init.c and the layers
 * validate the YAML tree (see schema.h): each reads one key of a mapping,
 * checks its type and bounds and words the error when they do not hold.
 * Messages describe what they got with cnn_node_describe, so that a value
 * is quoted the same way whichever check refused it.
 */
#include "schema.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Messages                                                                 */

/* The error is placed at the key (its line and column), not its value. */
cnn_status cnn_reject_key(cnn_error *err, const cnn_node *map, const char *path,
                          const char *key, const char *fmt, ...)
{
	char msg[384], full[CNN_FULL_SIZE];
	va_list ap;

	for (size_t i = 0; map && i < map->n_pairs; i++) {
		const cnn_pair *p = &map->pairs[i];

		if (strcmp(p->key, key))
			continue;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		cnn_path_join(full, sizeof full, path, key);
		return cnn_err_set(err, CNN_ERR_CONFIG, p->value->file, p->line,
		                   p->col, full, "%s", msg);
	}
	return CNN_OK;
}

/* ======================================================================== */
/* Keys and getters                                                         */

/* "expected EXPECT, got ..." at node n. */
static cnn_status bad_value(const cnn_node *n, const char *full,
                            const char *expect, cnn_error *err)
{
	char got[CNN_DESCRIBE_SIZE];

	return cnn_node_error(err, n, full, "expected %s, got %s", expect,
	                      cnn_node_describe(n, got));
}

/* Writes prefix and then the NULL-terminated list, comma-separated, into buf
 * (size bytes), cut where it no longer fits. */
static void join_list(char *buf, size_t size, const char *prefix,
                      const char *const *list)
{
	size_t k = (size_t)snprintf(buf, size, "%s", prefix);

	for (size_t i = 0; list[i] && k < size; i++) {
		int r =
		    snprintf(buf + k, size - k, "%s%s", i ? ", " : "", list[i]);
		if (r < 0)
			break;
		k += (size_t)r;
	}
}

cnn_status cnn_map_check_keys(const cnn_node *map, const char *path,
                              const char *const *allowed, cnn_error *err)
{
	size_t i;

	if (!map)
		return CNN_OK;
	if (map->type != CNN_NODE_MAP)
		return bad_value(map, path, "a mapping", err);
	for (i = 0; i < map->n_pairs; i++) {
		const cnn_pair *p = &map->pairs[i];
		const char *const *a;
		char list[384], ex[CNN_QUOTE_SIZE];

		for (a = allowed; *a; a++)
			if (!strcmp(*a, p->key))
				break;
		if (*a)
			continue;
		join_list(list, sizeof list, "", allowed);
		return cnn_err_set(err, CNN_ERR_CONFIG,
		                   p->value ? p->value->file : map->file,
		                   p->line, p->col, path,
		                   "unknown key \"%s\" (expected one of: %s)",
		                   cnn_quote_str(ex, p->key), list);
	}
	return CNN_OK;
}

/* Looks up map[key] for a typed getter. Absent: an error if required (at the
 * map: "PATH.KEY: missing (expected EXPECT)"), else *out = NULL. Present but
 * not a scalar: "expected EXPECT, got a mapping". full receives the dotted
 * path for messages. */
static cnn_status get_scalar(const cnn_node *map, const char *path,
                             const char *key, int required, const char *expect,
                             const cnn_node **out, char *full, size_t fsize,
                             cnn_error *err)
{
	const cnn_node *n = cnn_map_get(map, key);

	*out = NULL;
	cnn_path_join(full, fsize, path, key);
	if (!n && required)
		return cnn_node_error(err, map, full, "missing (expected %s)",
		                      expect);
	if (n && n->type != CNN_NODE_SCALAR)
		return bad_value(n, full, expect, err);
	*out = n;
	return CNN_OK;
}

/* Compares ASCII strings ignoring case, independently of the locale. */
static int strcasecmp_ascii(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y || !x)
			return x - y;
	}
}

/* Parses a plain decimal integer with an optional sign: 1 if it fits a
 * long (*out is set), 2 if it is too large for one and has no '-' (so that
 * the message can give the upper bound), 0 if s is not one or too small. */
static int parse_long(const char *s, long *out)
{
	const char *p = s;
	char *end;
	long v;

	if (*p == '+' || *p == '-')
		p++;
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return 0;
	if (errno == ERANGE)
		return *s == '-' ? 0 : 2;
	*out = v;
	return 1;
}

/* Parses a finite decimal number (digits, sign, point, exponent: no inf,
 * nan or hexadecimal); 0 if s is not one. */
static int parse_number(const char *s, double *out)
{
	const char *p;
	char *end;
	int digits = 0;
	double v;

	for (p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits = 1;
		else if (!strchr("+-.eE", *p))
			return 0;
	}
	if (!digits)
		return 0;
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return 0;
	*out = v;
	return 1;
}

/* Describes the integers in [min, max] for "expected ..." messages. When
 * min is 1 that is "a positive integer", and the upper bound is only
 * mentioned (too_big) to a value that exceeds it; other ranges are spelt out:
 * "an integer from 0 to 10". */
static void int_expect(char *buf, size_t size, long min, long max, int too_big)
{
	if (min == 1 && max == LONG_MAX)
		snprintf(buf, size, "a positive integer");
	else if (min == 1)
		snprintf(buf, size,
		         too_big ? "a positive integer of at most %ld"
		                 : "a positive integer",
		         max);
	else if (min == 0 && max == LONG_MAX)
		snprintf(buf, size, "a non-negative integer");
	else if (min == LONG_MIN && max == LONG_MAX)
		snprintf(buf, size, "an integer");
	else if (max == LONG_MAX)
		snprintf(buf, size, "an integer of at least %ld", min);
	else if (min == LONG_MIN)
		snprintf(buf, size, "an integer of at most %ld", max);
	else
		snprintf(buf, size, "an integer from %ld to %ld", min, max);
}

/* Reads one integer node (a plain scalar in [min, max]); on failure the
 * message is "expected DESCRIPTION SUFFIX, got ...". */
static cnn_status node_int(const cnn_node *n, const char *full, long min,
                           long max, const char *suffix, long *out,
                           cnn_error *err)
{
	char expect[300];
	long v = 0;
	int got = n->type == CNN_NODE_SCALAR && !n->quoted
	              ? parse_long(n->value, &v)
	              : 0;

	if (got == 1 && v >= min && v <= max) {
		*out = v;
		return CNN_OK;
	}
	int_expect(expect, sizeof expect, min, max,
	           (got == 1 && v > max) || got == 2);
	strncat(expect, suffix, sizeof expect - strlen(expect) - 1);
	return bad_value(n, full, expect, err);
}

/* An integer in [min, max]: a plain decimal scalar with an optional sign
 * (a quoted number, "1e3", overflow or garbage are errors). */
cnn_status cnn_get_int(const cnn_node *map, const char *path, const char *key,
                       int required, long min, long max, long *out,
                       cnn_error *err)
{
	char full[128], expect[128];
	const cnn_node *n;
	cnn_status st;

	int_expect(expect, sizeof expect, min, max, 0);
	st = get_scalar(map, path, key, required, expect, &n, full, sizeof full,
	                err);
	if (st || !n)
		return st;
	return node_int(n, full, min, max, "", out, err);
}

/* Describes the numbers of r for "expected ..." messages (see schema.h). */
static void real_expect(char *buf, size_t size, cnn_range r)
{
	int lo = r.lo > -DBL_MAX, hi = r.hi < DBL_MAX;

	if (lo && hi && !r.lo_open && !r.hi_open)
		snprintf(buf, size, "a number from %g to %g", r.lo, r.hi);
	else if (lo && hi)
		snprintf(buf, size, "a number in %c%g, %g%c",
		         r.lo_open ? '(' : '[', r.lo, r.hi,
		         r.hi_open ? ')' : ']');
	else if (lo)
		snprintf(buf, size, "a number %s %g",
		         r.lo_open ? "greater than" : "of at least", r.lo);
	else if (hi)
		snprintf(buf, size, "a number %s %g",
		         r.hi_open ? "less than" : "of at most", r.hi);
	else
		snprintf(buf, size, "a number");
}

/* Whether v is in r (see schema.h), leaving out r.single. */
static int in_range(double v, cnn_range r)
{
	return (r.lo_open ? v > r.lo : v >= r.lo) &&
	       (r.hi_open ? v < r.hi : v <= r.hi);
}

/* A number that is not a number, or out of r, gets the same message; a
 * number in r that a float cannot hold is explained separately. */
cnn_status cnn_get_real(const cnn_node *map, const char *path, const char *key,
                        int required, cnn_range r, double *out, cnn_error *err)
{
	char full[128], expect[128], got[CNN_DESCRIBE_SIZE];
	const cnn_node *n;
	cnn_status st;
	double v;

	real_expect(expect, sizeof expect, r);
	st = get_scalar(map, path, key, required, expect, &n, full, sizeof full,
	                err);
	if (st || !n)
		return st;
	if (n->quoted || !parse_number(n->value, &v) || !in_range(v, r))
		return bad_value(n, full, expect, err);
	if (r.single && v != 0 && !(fabs(v) >= FLT_MIN && fabs(v) <= FLT_MAX))
		return cnn_node_error(err, n, full,
		                      "expected a number from %g to %g (it is "
		                      "used in single precision), got %s",
		                      (double)FLT_MIN, (double)FLT_MAX,
		                      cnn_node_describe(n, got));
	*out = v;
	return CNN_OK;
}

/* A plain true/false, yes/no or on/off, in any case (YAML 1.1). */
cnn_status cnn_get_bool(const cnn_node *map, const char *path, const char *key,
                        int required, int *out, cnn_error *err)
{
	/* true at the even indexes, false at the odd ones */
	static const char *const words[] = {"true", "false", "yes",
	                                    "no",   "on",    "off"};
	const char *expect = "true or false";
	char full[128];
	const cnn_node *n;
	cnn_status st;
	int i;

	st = get_scalar(map, path, key, required, expect, &n, full, sizeof full,
	                err);
	if (st || !n)
		return st;
	for (i = 0; !n->quoted && i < 6; i++) {
		if (!strcasecmp_ascii(n->value, words[i])) {
			*out = i % 2 == 0;
			return CNN_OK;
		}
	}
	return bad_value(n, full, expect, err);
}

/* Any scalar, quoted or plain, copied into out (size bytes with the NUL). */
cnn_status cnn_get_string(const cnn_node *map, const char *path,
                          const char *key, int required, char *out, size_t size,
                          cnn_error *err)
{
	char full[128];
	const cnn_node *n;
	cnn_status st;
	size_t len;

	st = get_scalar(map, path, key, required, "a string", &n, full,
	                sizeof full, err);
	if (st || !n)
		return st;
	len = strlen(n->value);
	if (len >= size)
		return cnn_node_error(err, n, full,
		                      "is too long (%zu bytes, at most %zu)",
		                      len, size ? size - 1 : 0);
	memcpy(out, n->value, len + 1);
	return CNN_OK;
}

/* A scalar equal to one of choices; *out is its index. */
cnn_status cnn_get_enum(const cnn_node *map, const char *path, const char *key,
                        int required, const char *const *choices, int *out,
                        cnn_error *err)
{
	char full[128], expect[384], ex[CNN_QUOTE_SIZE];
	const cnn_node *n;
	cnn_status st;
	int i;

	join_list(expect, sizeof expect, "one of ", choices);
	st = get_scalar(map, path, key, required, expect, &n, full, sizeof full,
	                err);
	if (st || !n)
		return st;
	for (i = 0; choices[i]; i++) {
		if (!strcmp(n->value, choices[i])) {
			*out = i;
			return CNN_OK;
		}
	}
	/* a quoted choice is still the choice, so quote it plainly */
	return cnn_node_error(err, n, full, "expected %s, got \"%s\"", expect,
	                      cnn_quote_str(ex, n->value));
}

/* An integer n (giving {n, n}) or a sequence of two, each in [min, max]
 * (max is capped at INT_MAX). Errors in an item point at the item. */
cnn_status cnn_get_int2(const cnn_node *map, const char *path, const char *key,
                        int required, long min, long max, int out[2],
                        cnn_error *err)
{
	static const char pair[] = " or a list [height, width] of two";
	char full[128], one[128], expect[300];
	const cnn_node *n;
	long v[2];
	int i;

	if (max > INT_MAX)
		max = INT_MAX;
	if (min < INT_MIN)
		min = INT_MIN;
	int_expect(one, sizeof one, min, max, 0);
	snprintf(expect, sizeof expect, "%s%s", one, pair);
	cnn_path_join(full, sizeof full, path, key);
	n = cnn_map_get(map, key);
	if (!n && required)
		return cnn_node_error(err, map, full, "missing (expected %s)",
		                      expect);
	if (!n)
		return CNN_OK;
	if (n->type == CNN_NODE_SCALAR) {
		cnn_status st = node_int(n, full, min, max, pair, &v[0], err);

		if (!st)
			out[0] = out[1] = (int)v[0];
		return st;
	}
	if (n->type != CNN_NODE_SEQ)
		return bad_value(n, full, expect, err);
	if (n->n_items != 2)
		return cnn_node_error(
		    err, n, full, "expected %s, got a sequence of %zu item%s",
		    expect, n->n_items, n->n_items == 1 ? "" : "s");
	for (i = 0; i < 2; i++) {
		cnn_status st =
		    node_int(n->items[i], full, min, max, "", &v[i], err);
		if (st)
			return st;
	}
	out[0] = (int)v[0];
	out[1] = (int)v[1];
	return CNN_OK;
}

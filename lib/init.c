/*
 * init.c - weight and bias initialisers: parsing "weight_init:" and
 * "bias_init:" from the YAML tree, filling parameter arrays from the model's
 * RNG, and describing an initialiser in one line for the tools.
 */
#include "init.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const init_names[] = {
    "zeros", "constant", "uniform", "normal", "he", "xavier", NULL};
static const char *const fan_names[] = {"none", "fan_in", "fan_out", "fan_avg",
                                        NULL};

/* The keys each type accepts besides type and divide_by_sqrt. */
static const char *init_own_keys(cnn_init_type t, const char **second)
{
	*second = NULL;
	switch (t) {
	case CNN_INIT_CONSTANT:
		return "value";
	case CNN_INIT_UNIFORM:
		*second = "high";
		return "low";
	case CNN_INIT_NORMAL:
		*second = "std";
		return "mean";
	default:
		return NULL;
	}
}

/* Parses the mapping form {type: ..., ...} of an initialiser at node n. */
static cnn_status parse_init_map(const cnn_node *n, const char *full,
                                 cnn_init_spec *out, cnn_error *err)
{
	static const cnn_range any_float = {.lo = -FLT_MAX, .hi = FLT_MAX};
	static const char *const keys[] = {"type",           "value", "low",
	                                   "high",           "mean",  "std",
	                                   "divide_by_sqrt", NULL};
	cnn_init_spec s = {CNN_INIT_ZEROS, 0, 0, CNN_FAN_NONE};
	const char *own, *own2;
	int type, fan = CNN_FAN_NONE;
	cnn_status st;
	size_t i;

	st = cnn_map_check_keys(n, full, keys, err);
	if (!st)
		st = cnn_get_enum(n, full, "type", 1, init_names, &type, err);
	if (!st)
		st = cnn_get_enum(n, full, "divide_by_sqrt", 0, fan_names, &fan,
		                  err);
	if (st)
		return st;
	s.type = (cnn_init_type)type;
	s.divide_by_sqrt = (cnn_fan_mode)fan;

	/* Parameters that the type does not use are mistakes. */
	own = init_own_keys(s.type, &own2);
	for (i = 0; i < n->n_pairs; i++) {
		const char *k = n->pairs[i].key;

		if (strcmp(k, "type") && strcmp(k, "divide_by_sqrt") &&
		    !(own && !strcmp(k, own)) && !(own2 && !strcmp(k, own2)))
			return cnn_reject_key(err, n, full, k,
			                      "not used by a %s initialiser",
			                      init_names[s.type]);
	}

	switch (s.type) {
	case CNN_INIT_CONSTANT:
		st = cnn_get_real(n, full, "value", 1, any_float, &s.a, err);
		break;
	case CNN_INIT_UNIFORM:
		s.a = 0;
		s.b = 1;
		st = cnn_get_real(n, full, "low", 0, any_float, &s.a, err);
		if (!st)
			st = cnn_get_real(n, full, "high", 0, any_float, &s.b,
			                  err);
		if (!st && !(s.a < s.b))
			st = cnn_node_error(
			    err, n, full,
			    "low (%g) must be less than high (%g)", s.a, s.b);
		if (!st && !isfinite(s.b - s.a))
			st = cnn_node_error(err, n, full,
			                    "the range from low to high is too "
			                    "wide");
		break;
	case CNN_INIT_NORMAL:
		s.a = 0;
		s.b = 1;
		st = cnn_get_real(n, full, "mean", 0, any_float, &s.a, err);
		if (!st)
			st = cnn_get_real(n, full, "std", 0,
			                  (cnn_range){.lo = 0, .hi = FLT_MAX},
			                  &s.b, err);
		break;
	default:
		break;
	}
	if (st)
		return st;
	*out = s;
	return CNN_OK;
}

/* See init.h. A name is zeros, he or xavier; a mapping may only hold the
 * keys its type uses. *out changes only on success. */
cnn_status cnn_init_parse(const cnn_node *map, const char *path,
                          const char *key, cnn_init_spec *out, cnn_error *err)
{
	static const cnn_init_type named[] = {CNN_INIT_ZEROS, CNN_INIT_HE,
	                                      CNN_INIT_XAVIER};
	const cnn_node *n = cnn_map_get(map, key);
	char full[CNN_FULL_SIZE], got[CNN_DESCRIBE_SIZE];

	if (!n)
		return CNN_OK;
	cnn_path_join(full, sizeof full, path, key);
	if (n->type == CNN_NODE_MAP)
		return parse_init_map(n, full, out, err);
	for (size_t i = 0; n->type == CNN_NODE_SCALAR && i < 3; i++) {
		if (!strcmp(n->value, init_names[named[i]])) {
			*out = (cnn_init_spec){named[i], 0, 0, CNN_FAN_NONE};
			return CNN_OK;
		}
	}
	return cnn_node_error(err, n, full,
	                      "expected one of zeros, he, xavier or a mapping "
	                      "{type: ...}, got %s",
	                      cnn_node_describe(n, got));
}

/* 1/sqrt(fan) for the divide_by_sqrt mode (1 when the fan is 0). */
static double fan_factor(cnn_fan_mode mode, size_t fan_in, size_t fan_out)
{
	double fan;

	switch (mode) {
	case CNN_FAN_IN:
		fan = (double)fan_in;
		break;
	case CNN_FAN_OUT:
		fan = (double)fan_out;
		break;
	case CNN_FAN_AVG:
		fan = ((double)fan_in + (double)fan_out) / 2.0;
		break;
	default:
		return 1.0;
	}
	return fan > 0 ? 1.0 / sqrt(fan) : 1.0;
}

/* Fills w[0..n) in index order: every value is drawn (in double), then
 * multiplied by the divide_by_sqrt factor and rounded to float. Zeros and
 * constants draw nothing from rng. */
void cnn_init_fill(const cnn_init_spec *spec, float *w, size_t n, size_t fan_in,
                   size_t fan_out, cnn_rng *rng)
{
	double f = fan_factor(spec->divide_by_sqrt, fan_in, fan_out);
	double fi = fan_in ? (double)fan_in : 1.0;
	double fio = fan_in + fan_out ? (double)fan_in + (double)fan_out : 1.0;
	double he = sqrt(2.0 / fi), lim = sqrt(6.0 / fio);
	size_t i;

	for (i = 0; i < n; i++) {
		double v;

		switch (spec->type) {
		case CNN_INIT_CONSTANT:
			v = spec->a;
			break;
		case CNN_INIT_UNIFORM:
			v = spec->a +
			    (spec->b - spec->a) * cnn_rng_uniform(rng);
			break;
		case CNN_INIT_NORMAL:
			v = spec->a + spec->b * cnn_rng_normal(rng);
			break;
		case CNN_INIT_HE:
			v = he * cnn_rng_normal(rng);
			break;
		case CNN_INIT_XAVIER:
			v = -lim + 2.0 * lim * cnn_rng_uniform(rng);
			break;
		default:
			v = 0;
			break;
		}
		if (spec->divide_by_sqrt != CNN_FAN_NONE)
			v *= f;
		w[i] = (float)v;
	}
}

/* "he", "normal(0, 0.447214)", "uniform(0, 1)/sqrt(fan_in)", ... */
void cnn_init_describe(const cnn_init_spec *spec, char *buf, size_t size)
{
	int k = 0;

	if (!size)
		return;
	switch (spec->type) {
	case CNN_INIT_ZEROS:
		k = snprintf(buf, size, "zeros");
		break;
	case CNN_INIT_CONSTANT:
		k = snprintf(buf, size, "constant(%g)", spec->a);
		break;
	case CNN_INIT_UNIFORM:
		k = snprintf(buf, size, "uniform(%g, %g)", spec->a, spec->b);
		break;
	case CNN_INIT_NORMAL:
		k = snprintf(buf, size, "normal(%g, %g)", spec->a, spec->b);
		break;
	case CNN_INIT_HE:
		k = snprintf(buf, size, "he");
		break;
	case CNN_INIT_XAVIER:
		k = snprintf(buf, size, "xavier");
		break;
	default:
		k = snprintf(buf, size, "unknown");
		break;
	}
	if (k >= 0 && (size_t)k < size &&
	    spec->divide_by_sqrt != CNN_FAN_NONE &&
	    spec->divide_by_sqrt <= CNN_FAN_AVG)
		snprintf(buf + k, size - (size_t)k, "/sqrt(%s)",
		         fan_names[spec->divide_by_sqrt]);
}

/*
 * schema.h - validating the YAML tree (schema.c): the typed getters with
 * their bounds and the checks on a mapping's keys, used by spec.c, init.c
 * and the layers.
 *
 * Messages have one shape, "FILE:LINE:COL: PATH.KEY: expected WHAT, got
 * DESCRIPTION", where DESCRIPTION is cnn_node_describe's (tree.h) and user text is
 * quoted by cnn_quote's rule (internal.h).
 */
#ifndef CNN_SCHEMA_H
#define CNN_SCHEMA_H

#include "tree.h"

#include <float.h>

/* Fails with CNN_ERR_CONFIG at the first key of map that is not in allowed
 * (a NULL-terminated list): "PATH: unknown key "unts" (expected one of: a,
 * b, c)". Also fails if map is not a mapping ("PATH: expected a mapping,
 * got ..."). A NULL map passes. */
cnn_status cnn_map_check_keys(const cnn_node *map, const char *path,
                              const char *const *allowed, cnn_error *err);

/* Fails at the position of map's key, as "PATH.KEY: MESSAGE", if map has
 * that key; CNN_OK when it does not (or map is NULL). For keys that are
 * valid only in some cases ("only valid with format csv"). */
cnn_status cnn_reject_key(cnn_error *err, const cnn_node *map, const char *path,
                          const char *key, const char *fmt, ...)
    CNN_PRINTF(5, 6);

/* The numbers a real getter accepts: lo < v (lo_open) or lo <= v, and
 * v < hi (hi_open) or v <= hi; -DBL_MAX and DBL_MAX mean no bound. With
 * single, the value is used in single precision: unless it is 0 it must
 * neither round to 0 nor overflow to infinity in a float. */
typedef struct cnn_range {
	double lo, hi;
	unsigned char lo_open, hi_open, single;
} cnn_range;

/* Every finite number. */
#define CNN_ANY_REAL ((cnn_range){.lo = -DBL_MAX, .hi = DBL_MAX})

/* Typed getters. Each reads map[key]; path is the dotted path of map used in
 * messages ("dense" gives "dense.units"). If the key is absent: required ->
 * error "PATH.KEY: missing (expected WHAT)", else *out keeps its value (the
 * default) and CNN_OK is returned. A bad value, whether it is not of the
 * type or out of range, gives the same WHAT:
 *   model.yaml:12:5: dense.units: expected a positive integer, got "sixty"
 * *out changes only on success. */

/* An integer in [min, max]: a plain decimal scalar with an optional sign
 * (a quoted number, "1e3", overflow or garbage are errors). WHAT is "a
 * positive integer" (min 1; "of at most MAX" added for a value above max),
 * "a non-negative integer", "an integer from MIN to MAX", ... */
cnn_status cnn_get_int(const cnn_node *map, const char *path, const char *key,
                       int required, long min, long max, long *out,
                       cnn_error *err);
/* A finite number in r, decimal with an optional exponent (no inf, nan or
 * hexadecimal; quoted numbers are strings). WHAT is "a number", "a number
 * greater than LO" / "of at least LO" (no upper bound), "a number less
 * than HI" / "of at most HI" (no lower bound), "a number from LO to HI"
 * (both closed) or "a number in [LO, HI)" (an open end). A value that does
 * not fit r.single: "expected a number from FLT_MIN to FLT_MAX (it is used
 * in single precision), got ...". */
cnn_status cnn_get_real(const cnn_node *map, const char *path, const char *key,
                        int required, cnn_range r, double *out, cnn_error *err);
/* A plain true/false, yes/no or on/off, in any case (YAML 1.1). */
cnn_status cnn_get_bool(const cnn_node *map, const char *path, const char *key,
                        int required, int *out, cnn_error *err);
/* Copies a scalar string (fails if longer than size-1). */
cnn_status cnn_get_string(const cnn_node *map, const char *path,
                          const char *key, int required, char *out, size_t size,
                          cnn_error *err);
/* A string that must be one of choices (NULL-terminated); *out is its index.
 * WHAT is "one of a, b, c". */
cnn_status cnn_get_enum(const cnn_node *map, const char *path, const char *key,
                        int required, const char *const *choices, int *out,
                        cnn_error *err);
/* An integer or a two-element sequence [h, w] (for kernel, stride, padding),
 * each in [min, max] (max capped at INT_MAX). */
cnn_status cnn_get_int2(const cnn_node *map, const char *path, const char *key,
                        int required, long min, long max, int out[2],
                        cnn_error *err);

#endif /* CNN_SCHEMA_H */

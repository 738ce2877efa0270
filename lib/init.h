/*
 * init.h - initialisers (init.c): parsed from the YAML, filled from the
 * model's random numbers.
 */
#ifndef CNN_INIT_H
#define CNN_INIT_H

#include "rng.h"
#include "schema.h"

#include <stddef.h>

typedef enum cnn_init_type {
	CNN_INIT_ZEROS,
	CNN_INIT_CONSTANT, /* value */
	CNN_INIT_UNIFORM,  /* [low, high) */
	CNN_INIT_NORMAL,   /* mean, std */
	CNN_INIT_HE,       /* normal(0, sqrt(2 / fan_in)) */
	CNN_INIT_XAVIER    /* uniform(+-sqrt(6 / (fan_in + fan_out))) */
} cnn_init_type;

typedef enum cnn_fan_mode {
	CNN_FAN_NONE,
	CNN_FAN_IN,
	CNN_FAN_OUT,
	CNN_FAN_AVG
} cnn_fan_mode;

typedef struct cnn_init_spec {
	cnn_init_type type;
	double a, b;                 /* low/high, mean/std, or value */
	cnn_fan_mode divide_by_sqrt; /* extra factor 1/sqrt(fan) */
} cnn_init_spec;

/* Parses an initialiser given either as a name ("he", "zeros") or a mapping
 * {type: uniform, low: 0, high: 1, divide_by_sqrt: fan_in}. path is used in
 * messages. Absent key: *out unchanged. */
cnn_status cnn_init_parse(const cnn_node *map, const char *path,
                          const char *key, cnn_init_spec *out, cnn_error *err);
/* Fills n floats according to spec, drawing from rng in index order. */
void cnn_init_fill(const cnn_init_spec *spec, float *w, size_t n, size_t fan_in,
                   size_t fan_out, cnn_rng *rng);
/* Writes a YAML-like one-line description ("uniform(0, 1)/sqrt(fan_in)"). */
void cnn_init_describe(const cnn_init_spec *spec, char *buf, size_t size);

#endif /* CNN_INIT_H */

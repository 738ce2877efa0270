/*
 * tree.h - the YAML tree: parsing (tree.c), overrides, emitting, and the
 * typed getters that validate it.
 */
#ifndef CNN_TREE_H
#define CNN_TREE_H

#include "internal.h"

typedef enum cnn_node_type {
	CNN_NODE_SCALAR,
	CNN_NODE_SEQ,
	CNN_NODE_MAP
} cnn_node_type;

typedef struct cnn_node cnn_node;

/* One "key: value" of a mapping; the key's own position is kept so that an
 * unknown key can be reported where it stands. */
typedef struct cnn_pair {
	char *key;
	int line, col;
	cnn_node *value;
} cnn_pair;

/* A node of a parsed YAML document. Every node knows where it came from:
 * file is the YAML file name (or "--set KEY" for an override), line and col
 * are 1-based (0 for overrides). Scalars keep their text as written and
 * whether they were quoted (a quoted "12" is a string, not a number). */
struct cnn_node {
	cnn_node_type type;
	const char *file; /* owned by the tree's root (cnn_tree) */
	int line, col;
	char *value;      /* SCALAR */
	int quoted;       /* SCALAR */
	cnn_node **items; /* SEQ */
	size_t n_items;
	cnn_pair *pairs; /* MAP, in document order; keys are unique */
	size_t n_pairs;
};

/* A parsed document: its root node and the storage for file names. */
typedef struct cnn_tree {
	cnn_node *root;
	char *file;     /* the file it was read from */
	char **strings; /* owned strings (override sources), freed with it */
	size_t n_strings;
} cnn_tree;

/* Parses YAML text (len bytes; file names it in messages) into *out. Only
 * one document; a mapping at the top; no anchors or aliases; no duplicate
 * keys; nesting at most 32 deep. Errors are CNN_ERR_CONFIG with line:col. */
cnn_status cnn_tree_parse(cnn_tree *out, const char *text, size_t len,
                          const char *file, cnn_error *err);
/* Reads the file at path and parses it as above. */
cnn_status cnn_tree_load(cnn_tree *out, const char *path, cnn_error *err);
void cnn_tree_free(cnn_tree *t);

/* Applies one override "dotted.path=value". Path segments name mapping keys
 * or, when numeric, sequence indexes (layers.3.units). Missing mapping keys
 * are created (validation later rejects unknown ones); an index past the end
 * of a sequence is an error. The value is parsed as YAML (so "[2, 2]" is a
 * sequence); its nodes get file "--set dotted.path" and line 0. */
cnn_status cnn_tree_set(cnn_tree *t, const char *assignment, cnn_error *err);

/* Writes the tree as block-style YAML into a malloc'ed NUL-terminated string.
 */
cnn_status cnn_tree_emit(const cnn_tree *t, char **text, size_t *len,
                         cnn_error *err);

/* Replaces a scalar's text (used to store resolved paths). */
cnn_status cnn_node_set_scalar(cnn_node *n, const char *value, cnn_error *err);

/* Looks up key in a mapping; NULL if absent or map is not a mapping. */
cnn_node *cnn_map_get(const cnn_node *map, const char *key);

/* Fails with CNN_ERR_CONFIG at the first key of map that is not in allowed
 * (a NULL-terminated list): "PATH: unknown key "unts" (expected one of: a,
 * b, c)". Also fails if map is not a mapping ("PATH: expected a mapping"). */
cnn_status cnn_map_check_keys(const cnn_node *map, const char *path,
                              const char *const *allowed, cnn_error *err);

/* Typed getters. Each reads map[key]; path is the dotted path of map used in
 * messages ("dense" gives "dense.units"). If the key is absent: required ->
 * error "PATH.KEY: missing (expected ...)", else *out keeps its value (the
 * default) and CNN_OK is returned. Bad values give e.g.
 *   model.yaml:12:5: dense.units: expected a positive integer, got "sixty"
 * Ranges are inclusive. */
cnn_status cnn_get_int(const cnn_node *map, const char *path, const char *key,
                       int required, long min, long max, long *out,
                       cnn_error *err);
cnn_status cnn_get_double(const cnn_node *map, const char *path,
                          const char *key, int required, double min, double max,
                          double *out, cnn_error *err);
cnn_status cnn_get_bool(const cnn_node *map, const char *path, const char *key,
                        int required, int *out, cnn_error *err);
/* Copies a scalar string (fails if longer than size-1). */
cnn_status cnn_get_string(const cnn_node *map, const char *path,
                          const char *key, int required, char *out, size_t size,
                          cnn_error *err);
/* A string that must be one of choices (NULL-terminated); *out is its index. */
cnn_status cnn_get_enum(const cnn_node *map, const char *path, const char *key,
                        int required, const char *const *choices, int *out,
                        cnn_error *err);
/* An integer or a two-element sequence [h, w] (for kernel, stride, padding). */
cnn_status cnn_get_int2(const cnn_node *map, const char *path, const char *key,
                        int required, long min, long max, int out[2],
                        cnn_error *err);

/* Sets err to a CNN_ERR_CONFIG error located at node n. */
cnn_status cnn_node_error(cnn_error *err, const cnn_node *n, const char *path,
                          const char *fmt, ...) CNN_PRINTF(4, 5);

#endif /* CNN_TREE_H */

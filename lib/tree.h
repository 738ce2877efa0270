/*
 * tree.h - the YAML tree: parsing (tree.c), overrides and emitting, and
 * the messages about a node (describing it, naming its path, an error at
 * it) that every validating module words its errors with. The typed
 * getters that validate the tree are in schema.h, one floor up.
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

/* Inserts the pair key: value (both then owned by map) at index at of a
 * mapping (at = map->n_pairs appends), line and column 0. Returns 0 when
 * out of memory (map unchanged, nothing owned). */
int cnn_map_insert(cnn_node *map, size_t at, char *key, cnn_node *value);

/* Replaces a scalar's text (used to store resolved paths). */
cnn_status cnn_node_set_scalar(cnn_node *n, const char *value, cnn_error *err);

/* Looks up key in a mapping; NULL if absent or map is not a mapping. */
cnn_node *cnn_map_get(const cnn_node *map, const char *key);

/* Room for cnn_node_describe's text (a quoted excerpt and its prefix). */
#define CNN_DESCRIBE_SIZE (CNN_QUOTE_SIZE + 24)
/* Room for a dotted path joined by cnn_path_join. */
#define CNN_FULL_SIZE 160

/* Describes n for "got ..." in messages: "a mapping", "a sequence",
 * "nothing" (an empty plain scalar), "a quoted string \"TEXT\"" or
 * "\"TEXT\"" (TEXT quoted by cnn_quote's rule). Returns buf. */
const char *cnn_node_describe(const cnn_node *n, char buf[CNN_DESCRIBE_SIZE]);

/* Forms "path.key" into buf (size bytes), or just "key" when path is NULL or
 * empty. Returns buf. */
const char *cnn_path_join(char *buf, size_t size, const char *path,
                          const char *key);

/* Sets err to a CNN_ERR_CONFIG error located at node n (no position when n
 * is NULL) and named by path. */
cnn_status cnn_node_error(cnn_error *err, const cnn_node *n, const char *path,
                          const char *fmt, ...) CNN_PRINTF(4, 5);

#endif /* CNN_TREE_H */

/*
 * fuzz_yaml.c - libFuzzer target: the YAML model description.
 *
 * The input is a model file. It is parsed (cnn_tree_parse); lines of the
 * form "#set KEY=VALUE" (YAML comments, so the parser ignores them) are
 * applied as --set overrides (cnn_tree_set, at most 8); the tree is emitted
 * (cnn_tree_emit) and the emitted text must parse again; then the model is
 * validated and built (cnn_model_from_tree: spec, shape inference, arenas,
 * initialisation) and freed. Models needing more than 256 MiB are refused by
 * the library's memory limit instead of being allocated.
 */
#include "fuzz.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SETS 8

/* Applies every "#set KEY=VALUE" line of the input to t (stops at the first
 * error, like cnnrun). Returns CNN_OK or the error's status. */
static cnn_status apply_sets(cnn_tree *t, const uint8_t *data, size_t size,
                             cnn_error *err)
{
	const uint8_t *p = data, *end = data + size;
	int n = 0;

	while (p < end && n < MAX_SETS) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *e = nl ? nl : end;
		if (e - p > 5 && !memcmp(p, "#set ", 5)) {
			size_t len = (size_t)(e - p) - 5;
			char *a = malloc(len + 1);
			cnn_status st;
			if (!a)
				abort();
			memcpy(a, p + 5, len);
			a[len] = 0;
			st = cnn_tree_set(t, a, err);
			free(a);
			n++;
			if (st != CNN_OK)
				return st;
		}
		p = e + 1;
	}
	return CNN_OK;
}

/* The emitted description must be valid YAML that parses to a tree again:
 * a checkpoint stores it, and loading parses it. */
static void check_emit(const cnn_tree *t)
{
	cnn_tree again;
	cnn_error err;
	char *text;
	size_t len;

	cnn_err_clear(&err);
	if (cnn_tree_emit(t, &text, &len, &err) != CNN_OK)
		return; /* out of memory */
	if (strlen(text) != len)
		abort();
	cnn_err_clear(&err);
	if (cnn_tree_parse(&again, text, len, "emitted", &err) != CNN_OK) {
		char msg[1200];
		fprintf(stderr, "emitted tree does not parse: %s\n---\n%s---\n",
		        cnn_error_string(&err, msg, sizeof msg), text);
		abort();
	}
	cnn_tree_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	cnn_tree tree;
	cnn_model *m = NULL;
	cnn_error err;
	cnn_status st;

	if (!ready) {
		cnn_set_memory_limit((size_t)256 << 20);
		ready = 1;
	}
	cnn_err_clear(&err);
	st = cnn_tree_parse(&tree, (const char *)data, size, "fuzz.yaml", &err);
	if (st == CNN_OK) {
		st = apply_sets(&tree, data, size, &err);
		if (st != CNN_OK)
			cnn_tree_free(&tree);
	}
	if (st == CNN_OK) {
		check_emit(&tree);
		/* Takes the tree, whatever the outcome. */
		st = cnn_model_from_tree(&m, &tree, &err);
	}
	fuzz_outcome(st, &err);
	cnn_model_free(m);
	return 0;
}

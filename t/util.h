/*
 * util.h - a scratch folder for the C tests that write files.
 *
 *   dir                          the folder's name (the test makes it)
 *   P("a.png")                   dir/a.png
 *   count_files(".tmp.")         entries of dir whose name contains it
 *   remove_dir()                 removes dir and the plain files in it
 *
 * Header-only: every function is static, marked unused (tap.h's
 * TAP_UNUSED), so a test uses what it needs.
 */
#ifndef CNN_T_UTIL_H
#define CNN_T_UTIL_H

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TAP_UNUSED static char dir[512];

/* dir/name in a rotating set of 8 static buffers (so that a call may take
 * several); aborts if it does not fit. */
TAP_UNUSED static const char *P(const char *name)
{
	static char bufs[8][700];
	static int k;
	char *b = bufs[k++ % 8];
	if (snprintf(b, sizeof bufs[0], "%s/%s", dir, name) >=
	    (int)sizeof bufs[0])
		abort();
	return b;
}

/* How many entries of dir have pattern in their name; -1 if dir cannot be
 * read. */
TAP_UNUSED static int count_files(const char *pattern)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strstr(e->d_name, pattern))
			n++;
	closedir(d);
	return n;
}

/* Removes dir and everything in it (it holds plain files only). */
TAP_UNUSED static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(P(e->d_name));
	closedir(d);
	rmdir(dir);
}

/* The whole file at path, malloc'ed with a NUL after its last byte (so
 * text can be used as a string); *len (when len is not NULL) gets its
 * length. NULL, and *len 0, if it cannot be read. */
TAP_UNUSED static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;

	if (len)
		*len = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) &&
	    fread(b, 1, (size_t)n, f) == (size_t)n) {
		b[n] = '\0';
		if (len)
			*len = (size_t)n;
	} else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

#ifdef CNN_MODEL_H
/* Builds a model (without data) from the whole YAML text, named file in
 * messages; NULL on failure, with the error in *err. */
TAP_UNUSED static cnn_model *model_from_text(const char *text, const char *file,
                                             cnn_error *err)
{
	cnn_tree t;
	cnn_model *m = NULL;

	cnn_err_clear(err);
	if (cnn_tree_parse(&t, text, strlen(text), file, err) != CNN_OK ||
	    cnn_model_from_tree(&m, &t, err) != CNN_OK)
		return NULL;
	return m;
}
#endif

#endif /* CNN_T_UTIL_H */

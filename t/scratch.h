/*
 * scratch.h - a scratch folder for the C tests that write files.
 *
 *   dir                          the folder's name (the test makes it)
 *   P("a.png")                   dir/a.png
 *   count_files(".tmp.")         entries of dir whose name contains it
 *   remove_dir()                 removes dir and the plain files in it
 *
 * Header-only: every function is static, marked unused (tap.h's
 * TAP_UNUSED), so a test uses what it needs.
 */
#ifndef CNN_SCRATCH_H
#define CNN_SCRATCH_H

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

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

#endif /* CNN_SCRATCH_H */

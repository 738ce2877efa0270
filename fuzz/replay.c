/*
 * replay.c - main() for the replay programs (fuzz/replay_NAME): runs a fuzz
 * target's LLVMFuzzerTestOneInput on every file given, or on every file of
 * every folder given (not recursively; names starting with '.' skipped),
 * with the normal compiler and no libFuzzer, so that `make check` replays
 * the corpora and the regression inputs in every build (and under valgrind).
 *
 * Each input is read into a buffer of exactly its size, so a read past the
 * end is caught by AddressSanitizer or valgrind. Prints the name of each
 * file before running it (so the last line names the culprit of a crash)
 * when -v is given, and a count at the end. Exit status: 0, or 2 when a
 * file or folder cannot be read or none is given.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int verbose;

/* Runs the target on the file at path; returns 0, or -1 when unreadable. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;
		if (len == cap) {
			uint8_t *p;
			cap = cap ? cap * 2 : 4096;
			p = realloc(buf, cap);
			if (!p) {
				fprintf(stderr, "replay: %s: out of memory\n",
				        path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	{
		/* Exactly len bytes (malloc(0) may return NULL: keep 1). */
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		if (verbose) {
			printf("%s\n", path);
			fflush(stdout);
		}
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

/* qsort comparison of two C strings, so folders replay in a stable order. */
static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target on every file of the folder dir; returns the number of
 * files run, or -1 when the folder or one of its files cannot be read. */
static long replay_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	long done = 0;

	if (!dp) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(dp)) != NULL) {
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **p;
			cap = cap ? cap * 2 : 64;
			p = realloc(names, cap * sizeof *names);
			if (!p)
				abort();
			names = p;
		}
		len = strlen(dir) + strlen(e->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n])
			abort();
		snprintf(names[n], len, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(dp);
	qsort(names, n, sizeof *names, by_name);
	for (i = 0; i < n; i++) {
		struct stat st;
		if (done >= 0 && stat(names[i], &st) == 0 &&
		    S_ISREG(st.st_mode))
			done = replay_file(names[i]) ? -1 : done + 1;
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;
	int i, bad = 0;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s [-v] FILE|FOLDER...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			        strerror(errno));
			bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			long n = replay_dir(argv[i]);
			if (n < 0)
				bad = 1;
			else
				total += n;
		} else if (replay_file(argv[i]) != 0) {
			bad = 1;
		} else {
			total++;
		}
	}
	printf("replayed %ld inputs\n", total);
	return bad ? 2 : 0;
}

/*
 * fuzz.h - what the libFuzzer targets in fuzz/ share: the entry point that
 * libFuzzer (or fuzz/replay.c) calls, and a way to hand bytes to the readers
 * that take a path.
 */
#ifndef CNN_FUZZ_H
#define CNN_FUZZ_H

#include "cnn.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Runs the library on one input; always returns 0 (a bug crashes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A scratch file that holds the last bytes written to it. */
typedef struct fuzz_file {
	FILE *fp;      /* from tmpfile(), kept open */
	int fd;        /* -1 until opened; -2 when no file can be made */
	char path[64]; /* a name that opens it: /proc/self/fd/N */
} fuzz_file;

/* Replaces the content of f with the n bytes at data (gzip-compressed first
 * when gz is set) and returns a path that opens it, or NULL when no scratch
 * file can be made on this system (then the caller skips the input). The
 * file is unlinked from the start, so nothing is left behind. */
const char *fuzz_file_put(fuzz_file *f, const uint8_t *data, size_t n, int gz);

/* Compresses n bytes into a malloc'ed gzip member (*out, *out_len); returns
 * 0 on success, -1 when out of memory. */
int fuzz_gzip(const uint8_t *data, size_t n, uint8_t **out, size_t *out_len);

/* Checks the outcome of one call: an error message must be one line (the
 * tools print it as such), else abort(). When the environment variable
 * CNN_FUZZ_VERBOSE is set, prints "ok" or the message on stderr (to see what
 * a corpus exercises: CNN_FUZZ_VERBOSE=1 fuzz/replay_csv -v DIR). */
void fuzz_outcome(cnn_status st, const cnn_error *err);

/* Reads every byte of a loaded data set; abort()s if it is empty, a label
 * is not below its number of classes, or the sample size disagrees with
 * the shape. */
void fuzz_touch_dataset(const cnn_dataset *d);

#endif /* CNN_FUZZ_H */

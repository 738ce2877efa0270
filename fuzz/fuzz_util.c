/*
 * fuzz_util.c - helpers of the fuzz targets (see fuzz.h): gzip in memory,
 * scratch files for the readers that take a path, checking an outcome and
 * reading a loaded data set whole.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int fuzz_gzip(const uint8_t *data, size_t n, uint8_t **out, size_t *out_len)
{
	z_stream zs = {0};
	uLong bound;
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	/* windowBits 31: a gzip header and trailer; level 1 is enough. */
	if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, (uLong)n);
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)n;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return 0;
}

const char *fuzz_file_put(fuzz_file *f, const uint8_t *data, size_t n, int gz)
{
	uint8_t *z = NULL;
	size_t done = 0;

	if (f->fd == -2)
		return NULL;
	if (f->fd < 0) {
		/* tmpfile(): already unlinked; the FILE is never closed, the
		 * process keeps one descriptor per scratch file. */
		FILE *t = tmpfile();
		if (!t) {
			f->fd = -2;
			return NULL;
		}
		f->fp = t;
		f->fd = fileno(t);
		snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
		if (access(f->path, R_OK) != 0) {
			fclose(t);
			f->fp = NULL;
			f->fd = -2;
			return NULL;
		}
	}
	if (gz) {
		if (fuzz_gzip(data, n, &z, &n) != 0)
			return NULL;
		data = z;
	}
	if (ftruncate(f->fd, 0) != 0) {
		free(z);
		return NULL;
	}
	while (done < n) {
		ssize_t w = pwrite(f->fd, data + done, n - done, (off_t)done);
		if (w <= 0) {
			free(z);
			return NULL;
		}
		done += (size_t)w;
	}
	free(z);
	return f->path;
}

void fuzz_outcome(cnn_status st, const cnn_error *err)
{
	static int verbose = -1;
	char msg[1200];

	if (verbose < 0)
		verbose = getenv("CNN_FUZZ_VERBOSE") != NULL;
	if (st == CNN_OK) {
		if (verbose)
			fprintf(stderr, "ok\n");
		return;
	}
	cnn_error_string(err, msg, sizeof msg);
	if (strchr(msg, '\n')) {
		fprintf(stderr, "error message spans lines: %s\n", msg);
		abort();
	}
	if (verbose)
		fprintf(stderr, "%s\n", msg);
}

void fuzz_touch_dataset(const cnn_dataset *d)
{
	volatile unsigned sink = 0;
	if (d->n == 0 || d->sample_size != (size_t)d->shape[0] *
	                                       (size_t)d->shape[1] *
	                                       (size_t)d->shape[2])
		abort();
	for (size_t i = 0; i < d->n; i++) {
		const uint8_t *p = cnn_dataset_image(d, i);
		int l = cnn_dataset_label(d, i);
		if (!p || l < 0 || l >= d->classes)
			abort();
		for (size_t k = 0; k < d->sample_size; k++)
			sink += p[k];
	}
	(void)sink;
}

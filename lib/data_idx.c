/*
 * data_idx.c - the IDX reader (the format of the MNIST files), plain or gzip.
 *
 * An IDX file is a big-endian u32 magic (0x000008NN: u8 data, NN dimensions),
 * NN big-endian u32 dimensions, then the raw bytes. Images are 0x00000803
 * (count, rows, cols; one channel) or 0x00000804 (count, channels, rows,
 * cols); labels are 0x00000801 (count).
 *
 * Invariants
 *  - The header is looked at first (a few bytes inflated) so that a wrong
 *    file fails at once, and the header's sizes only ever bound a read from
 *    above (by the size it claims plus 1 MiB): what gets allocated is what
 *    the file really holds, and a gzip bomb stops at the claimed size.
 *  - The file must hold exactly the header's bytes, no more, no less.
 */
#include "data.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* How far past the header's size a file is read, so that the message for a
 * slightly too long file can say by how much. */
#define IDX_SLACK ((size_t)1 << 20)

#define IDX_IMAGES3 0x00000803u
#define IDX_IMAGES4 0x00000804u
#define IDX_LABELS  0x00000801u

struct idx_header {
	size_t len;     /* header bytes */
	uint32_t count; /* images or labels */
	uint64_t item;  /* bytes per image or label */
	uint64_t total; /* len + count * item */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Parses and checks the header at the start of b (len bytes, possibly only
 * the first bytes of the file) against src. Sets *partial and returns
 * CNN_ERR_DATA without touching err when len is too short for the header,
 * so that a caller looking at a prefix can tell "need more" from "wrong". */
static cnn_status idx_header(const char *path, const uint8_t *b, size_t len,
                             int labels, const cnn_data_source *src,
                             struct idx_header *h, int *partial, cnn_error *err)
{
	uint32_t magic, dims[4] = {0};
	int ndim, i;

	*partial = len < 4;
	if (*partial)
		return CNN_ERR_DATA;
	magic = be32(b);
	if (labels && magic != IDX_LABELS)
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "not an IDX label file (magic 0x%08X, "
		                    "expected 0x%08X)",
		                    (unsigned)magic, IDX_LABELS);
	if (!labels && magic != IDX_IMAGES3 && magic != IDX_IMAGES4)
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "not an IDX image file (magic 0x%08X, "
		                    "expected 0x%08X or 0x%08X)",
		                    (unsigned)magic, IDX_IMAGES3, IDX_IMAGES4);
	ndim = (int)(magic & 0xff);
	h->len = 4 + 4 * (size_t)ndim;
	*partial = len < h->len;
	if (*partial)
		return CNN_ERR_DATA;
	for (i = 0; i < ndim; i++)
		dims[i] = be32(b + 4 + 4 * i);
	h->count = dims[0];
	if (!labels) {
		uint32_t c = ndim == 4 ? dims[1] : 1;
		uint32_t rows = dims[ndim - 2], cols = dims[ndim - 1];
		if (c != (uint32_t)src->shape[0])
			return cnn_err_file(
			    err, CNN_ERR_DATA, path,
			    "images have %u channel%s, the model "
			    "expects %d",
			    (unsigned)c, c == 1 ? "" : "s", src->shape[0]);
		if (rows != (uint32_t)src->shape[1] ||
		    cols != (uint32_t)src->shape[2])
			return cnn_err_file(
			    err, CNN_ERR_DATA, path,
			    "images are %ux%u, the model expects "
			    "%dx%d",
			    (unsigned)rows, (unsigned)cols, src->shape[1],
			    src->shape[2]);
	}
	if (h->count == 0)
		return cnn_err_file(err, CNN_ERR_DATA, path, "holds no %s",
		                    labels ? "labels" : "images");
	/* The shape was checked against src, whose sample is at most 2^30
	 * bytes (cnn_data_check_source), so the product fits in 64 bits. */
	h->item = labels ? 1
	                 : (uint64_t)src->shape[0] * (uint64_t)src->shape[1] *
	                       (uint64_t)src->shape[2];
	h->total = h->len + (uint64_t)h->count * h->item;
	return CNN_OK;
}

/* The first bytes of the file, inflated if need be. Returns how many were
 * read, 0 on any failure (which the full read will then report). */
static size_t idx_peek(const char *path, uint8_t *b, size_t size)
{
	gzFile f = gzopen(path, "rb");
	int n;
	if (!f)
		return 0;
	n = gzread(f, b, (unsigned)size);
	gzclose(f);
	return n > 0 ? (size_t)n : 0;
}

static cnn_status idx_size_error(const char *path, int labels,
                                 const struct idx_header *h, const char *more,
                                 size_t data, cnn_error *err)
{
	if (labels)
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "header says %u labels but the file holds "
		                    "%s%zu bytes of data",
		                    (unsigned)h->count, more, data);
	return cnn_err_file(err, CNN_ERR_DATA, path,
	                    "header says %u images of %llu bytes but the file "
	                    "holds %s%zu bytes of data",
	                    (unsigned)h->count, (unsigned long long)h->item,
	                    more, data);
}

/* The number of items kept: keep, or all of them when keep is 0 or more
 * than the count. */
static size_t idx_keep(size_t keep, const struct idx_header *h)
{
	return keep == 0 || keep > h->count ? h->count : keep;
}

/* Reads and checks one IDX file: the len bytes at buf (the file's content,
 * not compressed), or the file at path when buf is NULL; its header is
 * checked against src, then that it holds exactly the header's bytes. On
 * success *data holds the first keep items (the header removed; keep = all
 * when 0 or more than the count), h->count the file's own count. */
static cnn_status idx_take(const char *path, int labels,
                           const cnn_data_source *src, size_t keep,
                           const uint8_t *buf, size_t len, uint8_t **data,
                           struct idx_header *h, cnn_error *err)
{
	uint8_t head[20], *own = NULL, *p;
	size_t n, max = CNN_DATA_MAX;
	int partial;
	cnn_status st;

	*data = NULL;
	if (!buf) {
		/* A quick look at the header: a wrong file fails before it is
		 * read, and the header's size bounds the read. */
		n = idx_peek(path, head, sizeof head);
		st = idx_header(path, head, n, labels, src, h, &partial, err);
		if (st == CNN_OK) {
			if (h->total < max - IDX_SLACK)
				max = (size_t)h->total + IDX_SLACK;
		} else if (!partial) {
			return st;
		}
		st = cnn_read_file(path, max, &own, &len, err);
		if (st != CNN_OK && len > max && !partial) {
			/* more precise than cnn_read_file's "larger than" */
			cnn_err_clear(err);
			return idx_size_error(path, labels, h, "more than ",
			                      max - h->len, err);
		}
		if (st != CNN_OK)
			return st;
		buf = own;
	}
	st = idx_header(path, buf, len, labels, src, h, &partial, err);
	if (partial)
		st = cnn_err_file(err, CNN_ERR_DATA, path,
		                  "too short for an IDX header (%zu bytes)",
		                  len);
	else if (st == CNN_OK && (uint64_t)len != h->total)
		st = idx_size_error(path, labels, h, "", len - h->len, err);
	if (st != CNN_OK) {
		free(own);
		return st;
	}
	n = idx_keep(keep, h) * (size_t)h->item;
	if (own) {
		/* The file's buffer becomes the data: no copy. */
		memmove(own, own + h->len, n);
		p = realloc(own, n ? n : 1);
		*data = p ? p : own;
		return CNN_OK;
	}
	*data = malloc(n ? n : 1);
	if (!*data)
		return cnn_err_file(err, CNN_ERR_NOMEM, path,
		                    "out of memory (%zu bytes)", n);
	memcpy(*data, buf + h->len, n);
	return CNN_OK;
}

/* Completes d (zeroed) from the kept items data[0] (pixels) and data[1]
 * (labels), which it then holds: checks that both files hold the same count
 * and that the kept labels are below src->classes. On failure d is left
 * as it was and the caller frees data. */
static cnn_status idx_finish(cnn_dataset *d, const cnn_data_source *src,
                             size_t keep, uint8_t *const data[2],
                             const struct idx_header h[2], cnn_error *err)
{
	size_t i;

	if (h[1].count != h[0].count)
		return cnn_err_file(err, CNN_ERR_DATA, src->labels,
		                    "holds %u labels but %s holds %u images",
		                    (unsigned)h[1].count, src->images,
		                    (unsigned)h[0].count);
	keep = idx_keep(keep, &h[0]);
	for (i = 0; i < keep; i++)
		if (data[1][i] >= src->classes)
			return cnn_err_file(err, CNN_ERR_DATA, src->labels,
			                    "label %u at index %zu is out of "
			                    "range 0..%d",
			                    (unsigned)data[1][i], i,
			                    src->classes - 1);
	d->n = keep;
	memcpy(d->shape, src->shape, sizeof d->shape);
	d->sample_size = (size_t)h[0].item;
	d->pixels = data[0];
	d->labels = data[1];
	d->classes = src->classes;
	return CNN_OK;
}

/* Loads an IDX data set into d (zeroed): from the files src->images and
 * src->labels when in is NULL, else from files already in memory (not
 * compressed): n[0] bytes at in[0] and n[1] at in[1], src->images and
 * src->labels naming them in messages. Without labels (src->labels NULL,
 * or in[1] NULL; images to classify) every label is 0. */
static cnn_status idx_load(cnn_dataset *d, const cnn_data_source *src,
                           const uint8_t *const *in, const size_t *n,
                           cnn_error *err)
{
	const char *path[2] = {src->images, src->labels};
	struct idx_header h[2];
	uint8_t *data[2] = {NULL, NULL};
	size_t keep = src->limit > 0 ? (size_t)src->limit : 0, sample;
	cnn_status st;
	int i;

	st = cnn_data_check_source(src, 0, &sample, err);
	for (i = 0; i < 2 && st == CNN_OK; i++) {
		if (i == 1 && (in ? !in[1] : !src->labels)) {
			/* images to classify: every label 0 */
			h[1] = h[0];
			data[1] = calloc(idx_keep(keep, &h[0]) + 1, 1);
			if (!data[1])
				st = cnn_err_nomem(err, src->images, NULL);
		} else {
			st = idx_take(path[i], i, src, keep, in ? in[i] : NULL,
			              in ? n[i] : 0, &data[i], &h[i], err);
		}
	}
	if (st == CNN_OK)
		st = idx_finish(d, src, keep, data, h, err);
	if (st != CNN_OK) {
		free(data[0]);
		free(data[1]);
	}
	return st;
}

cnn_status cnn_idx_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err)
{
	return idx_load(d, src, NULL, NULL, err);
}

cnn_status cnn_idx_parse(cnn_dataset *d, const uint8_t *images, size_t n_images,
                         const uint8_t *labels, size_t n_labels,
                         const cnn_data_source *src, cnn_error *err)
{
	const uint8_t *in[2] = {images, labels};
	const size_t n[2] = {n_images, n_labels};
	return idx_load(d, src, in, n, err);
}

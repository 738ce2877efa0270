/*
 * data.c - reading data: whole files (gunzipped on the fly), the dataset
 * object shared by the IDX and CSV readers, PGM images, and the training
 * samples' augmentation (seeded random shifts).
 *
 * Invariants
 *  - Every input is treated as hostile: sizes are checked before anything is
 *    allocated, and an allocation never exceeds what the bytes actually read
 *    justify (a header's claim is never trusted for a size).
 *  - Buffers returned by cnn_read_file have one NUL byte after the data (not
 *    counted in the length), so text parsers may rely on a terminator.
 *  - Nothing prints; every failure fills the cnn_error with the file's path.
 */
#define _POSIX_C_SOURCE 200809L

#include "data.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

/* The largest PGM file read (a 65536x65536 P5 image and its header). */
#if SIZE_MAX > 0xffffffffu
#define PGM_MAX (((size_t)1 << 32) + 4096)
#else
#define PGM_MAX ((size_t)SIZE_MAX / 2)
#endif

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */

/* Checks what both readers rely on: the shape, the classes, the paths. */
static cnn_status check_source(const cnn_data_source *src, cnn_error *err)
{
	size_t size = 1;
	int i;
	for (i = 0; i < 3; i++) {
		if (src->shape[i] < 1 || src->shape[i] > 65536)
			return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
			                   "data: input shape %dx%dx%d is not "
			                   "valid (each dimension 1..65536)",
			                   src->shape[0], src->shape[1],
			                   src->shape[2]);
		size *= (size_t)src->shape[i];
		if (size > ((size_t)1 << 30))
			return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
			                   "data: input shape %dx%dx%d is too "
			                   "large",
			                   src->shape[0], src->shape[1],
			                   src->shape[2]);
	}
	if (src->classes < 1 || src->classes > 256)
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: %d classes is out of range 1..256",
		                   src->classes);
	return CNN_OK;
}

/* Validates src, allocates the dataset and dispatches on the format. On
 * failure *out is NULL and nothing is left allocated. */
cnn_status cnn_dataset_load(cnn_dataset **out, const cnn_data_source *src,
                            cnn_error *err)
{
	cnn_dataset *d;
	cnn_status st;
	int csv;

	cnn_err_clear(err);
	if (!out || !src)
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "cnn_dataset_load: NULL argument");
	*out = NULL;
	if (!src->format || (strcmp(src->format, "idx") != 0 &&
	                     strcmp(src->format, "csv") != 0))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: unknown format \"%s\" (expected "
		                   "idx or csv)",
		                   src->format ? src->format : "");
	csv = src->format[0] == 'c';
	if (csv && (!src->path || !src->path[0]))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: csv data needs a path");
	/* labels NULL: images only (to classify), every label 0 */
	if (!csv && (!src->images || !src->images[0] ||
	             (src->labels && !src->labels[0])))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: idx data needs images and labels");
	st = check_source(src, err);
	if (st != CNN_OK)
		return st;
	d = calloc(1, sizeof *d);
	if (!d)
		return cnn_err_set(err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
		                   "out of memory");
	st = csv ? cnn_csv_load(d, src, err) : cnn_idx_load(d, src, err);
	if (st != CNN_OK) {
		free(d);
		return st;
	}
	*out = d;
	return CNN_OK;
}

void cnn_dataset_free(cnn_dataset *d)
{
	if (!d)
		return;
	free(d->pixels);
	free(d->labels);
	free(d);
}

size_t cnn_dataset_count(const cnn_dataset *d)
{
	return d ? d->n : 0;
}

/* NULL when i is out of range. */
const uint8_t *cnn_dataset_image(const cnn_dataset *d, size_t i)
{
	if (!d || i >= d->n)
		return NULL;
	return d->pixels + i * d->sample_size;
}

/* -1 when i is out of range. */
int cnn_dataset_label(const cnn_dataset *d, size_t i)
{
	if (!d || i >= d->n)
		return -1;
	return d->labels[i];
}

/* ------------------------------------------------------------------------ */
/* Augmentation                                                             */

/* The shift of one training sample: *dy and *dx, each in [-max, max], from a
 * counter-based hash of (seed, epoch, index), where index is the sample's
 * position in the training set (not in the epoch's shuffled order) and
 * epoch is 1-based. A pure function of its arguments, holding no state, so
 * threads may draw in any order and a resumed run draws the same shifts as
 * an uninterrupted one. The two values come from two independent 64-bit
 * hashes reduced modulo 2*max+1 (the bias, below 2^-59, is negligible).
 * max <= 0 gives 0, 0. */
void cnn_augment_draw(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx)
{
	uint64_t h, span;

	*dy = *dx = 0;
	if (max <= 0)
		return;
	span = 2 * (uint64_t)max + 1;
	h = cnn_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
	h = cnn_mix64(h ^ (epoch + UINT64_C(0x3c6ef372fe94f82a)));
	h = cnn_mix64(h ^ (index + UINT64_C(0xdaa66d2c7ddf743f)));
	*dy = (int)(cnn_mix64(h + 1) % span) - max;
	*dx = (int)(cnn_mix64(h + 2) % span) - max;
}

/* Writes one sample of shape[0] channels of shape[1] x shape[2] bytes
 * (CHW) into dst as floats multiplied by scale, shifted dy rows down and dx
 * columns right (negative: up, left), zero filled:
 *     dst[c][y][x] = src[c][y - dy][x - dx] * scale,
 * or 0 where (y - dy, x - dx) is outside the image. dy = dx = 0 is the
 * plain scaled copy (bit for bit); a shift of the height or width or more
 * gives zeros. dst and src must not overlap. */
void cnn_augment_shift(float *dst, const uint8_t *src, const int shape[3],
                       float scale, int dy, int dx)
{
	const int C = shape[0], H = shape[1], W = shape[2];
	/* the destination columns [x0, x1) come from the source */
	const int x0 = dx > 0 ? (dx < W ? dx : W) : 0;
	const int x1 = dx < 0 ? (W + dx > 0 ? W + dx : 0) : W;

	for (int c = 0; c < C; c++) {
		const uint8_t *sp = src + (size_t)c * H * W;
		float *dp = dst + (size_t)c * H * W;
		for (int y = 0; y < H; y++) {
			float *row = dp + (size_t)y * W;
			int sy = y - dy;
			if (sy < 0 || sy >= H) {
				for (int x = 0; x < W; x++)
					row[x] = 0.0f;
				continue;
			}
			const uint8_t *srow = sp + (size_t)sy * W;
			for (int x = 0; x < x0; x++)
				row[x] = 0.0f;
			for (int x = x0; x < x1; x++)
				row[x] = (float)srow[x - dx] * scale;
			for (int x = x1 > x0 ? x1 : x0; x < W; x++)
				row[x] = 0.0f;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* PGM images                                                               */

struct pgm {
	const char *path;
	const uint8_t *p, *end;
};

static int pgm_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Skips whitespace and comments (# to the end of the line). */
static void pgm_skip(struct pgm *g)
{
	while (g->p < g->end) {
		if (pgm_space(*g->p)) {
			g->p++;
		} else if (*g->p == '#') {
			while (g->p < g->end && *g->p != '\n' && *g->p != '\r')
				g->p++;
		} else {
			break;
		}
	}
}

/* Reads an unsigned decimal number, saturating at 10^9. Returns -1 when
 * there is no digit. */
static long pgm_number(struct pgm *g)
{
	long v = 0;
	if (g->p >= g->end || *g->p < '0' || *g->p > '9')
		return -1;
	while (g->p < g->end && *g->p >= '0' && *g->p <= '9') {
		v = v * 10 + (*g->p++ - '0');
		if (v > 1000000000L)
			v = 1000000000L;
	}
	return v;
}

/* Reads one header field (after whitespace and comments), which must be a
 * number followed by whitespace or a comment. */
static cnn_status pgm_field(struct pgm *g, const char *what, long *v,
                            cnn_error *err)
{
	pgm_skip(g);
	if (g->p >= g->end)
		return cnn_err_set(err, CNN_ERR_DATA, g->path, 0, 0, NULL,
		                   "truncated PGM header (no %s)", what);
	*v = pgm_number(g);
	if (*v < 0 || (g->p < g->end && !pgm_space(*g->p) && *g->p != '#'))
		return cnn_err_set(err, CNN_ERR_DATA, g->path, 0, 0, NULL,
		                   "bad PGM header: %s is not a number", what);
	return CNN_OK;
}

/* Parses the header and the raster of a PGM file held in buf. */
static cnn_status pgm_parse(const char *path, const uint8_t *buf, size_t len,
                            uint8_t **pixels, int *width, int *height,
                            cnn_error *err)
{
	struct pgm g = {path, buf, buf + len};
	long w, h, maxval;
	size_t n, i;
	uint8_t *px;
	int binary;
	cnn_status st;

	if (len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '2')) {
		char got[8];
		size_t k;
		for (k = 0; k < 2 && k < len; k++)
			got[k] = buf[k] >= 0x20 && buf[k] < 0x7f ? (char)buf[k]
			                                         : '?';
		got[k] = 0;
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "not a PGM image (magic \"%s\", expected "
		                   "\"P5\" or \"P2\")",
		                   got);
	}
	binary = buf[1] == '5';
	g.p += 2;
	if (g.p < g.end && !pgm_space(*g.p) && *g.p != '#')
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "bad PGM header: no space after the magic");
	if ((st = pgm_field(&g, "width", &w, err)) != CNN_OK ||
	    (st = pgm_field(&g, "height", &h, err)) != CNN_OK ||
	    (st = pgm_field(&g, "maxval", &maxval, err)) != CNN_OK)
		return st;
	if (w < 1 || w > 65536 || h < 1 || h > 65536)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "PGM size %ldx%ld is out of range "
		                   "(1..65536 each)",
		                   w, h);
	if (maxval > 255 && maxval <= 65535)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "16-bit PGM images are not supported "
		                   "(maxval %ld, expected 1..255)",
		                   maxval);
	if (maxval < 1 || maxval > 255)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "PGM maxval %ld is out of range 1..255",
		                   maxval);
	n = (size_t)w * (size_t)h;
	if (binary) {
		/* Exactly one whitespace byte separates header and raster. */
		if (g.p < g.end)
			g.p++;
		if ((size_t)(g.end - g.p) < n)
			return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
			                   "truncated PGM data (%zu of %zu "
			                   "bytes)",
			                   (size_t)(g.end - g.p), n);
	} else if ((size_t)(g.end - g.p) < n) {
		/* Each ASCII value takes at least one byte. */
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "truncated PGM data (%zu bytes for %zu "
		                   "values)",
		                   (size_t)(g.end - g.p), n);
	}
	px = malloc(n);
	if (!px)
		return cnn_err_file(err, CNN_ERR_NOMEM, path,
		                    "out of memory (reading %zu bytes)", n);
	for (i = 0; i < n; i++) {
		long v;
		if (binary) {
			v = *g.p++;
		} else {
			pgm_skip(&g);
			if (g.p >= g.end) {
				free(px);
				return cnn_err_set(err, CNN_ERR_DATA, path, 0,
				                   0, NULL,
				                   "truncated PGM data (%zu of "
				                   "%zu values)",
				                   i, n);
			}
			v = pgm_number(&g);
			if (v < 0 ||
			    (g.p < g.end && !pgm_space(*g.p) && *g.p != '#')) {
				free(px);
				return cnn_err_set(err, CNN_ERR_DATA, path, 0,
				                   0, NULL,
				                   "PGM value %zu is not a "
				                   "number",
				                   i);
			}
		}
		if (v > maxval) {
			free(px);
			return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
			                   "PGM value %ld at index %zu exceeds "
			                   "maxval %ld",
			                   v, i, maxval);
		}
		px[i] =
		    (uint8_t)(maxval == 255 ? v
		                            : (v * 255 + maxval / 2) / maxval);
	}
	*pixels = px;
	*width = (int)w;
	*height = (int)h;
	return CNN_OK;
}

/* Reads a P5 or P2 PGM file (plain or gzip) into a malloc'ed w*h array. */
cnn_status cnn_image_read_pgm(const char *path, uint8_t **pixels, int *width,
                              int *height, cnn_error *err)
{
	uint8_t *buf;
	size_t len;
	cnn_status st;

	cnn_err_clear(err);
	*pixels = NULL;
	*width = *height = 0;
	st = cnn_read_file(path, PGM_MAX, &buf, &len, err);
	if (st != CNN_OK)
		return st;
	st = pgm_parse(path, buf, len, pixels, width, height, err);
	free(buf);
	return st;
}

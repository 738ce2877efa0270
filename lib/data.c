/*
 * data.c - data sets: loading one (dispatching to the readers, IDX in
 * data_idx.c and CSV in data_csv.c, which check their source with
 * data_source.c), the dataset object they fill, and the training samples'
 * augmentation (seeded random shifts). Files are read with cnn_read_file
 * (io.c); images are image.c's.
 *
 * Invariants
 *  - Every input is treated as hostile: sizes are checked before anything is
 *    allocated, and an allocation never exceeds what the bytes actually read
 *    justify (a header's claim is never trusted for a size).
 *  - Nothing prints; every failure fills the cnn_error with the file's path.
 */
#define _POSIX_C_SOURCE 200809L

#include "data.h"
#include "kernels.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */

/* Checks the format and the paths, allocates the dataset and dispatches on
 * the format (each reader checks the rest of src). On failure *out is NULL
 * and nothing is left allocated. */
cnn_status cnn_dataset_load(cnn_dataset **out, const cnn_data_source *src,
                            cnn_error *err)
{
	cnn_dataset *d;
	cnn_status st;
	int csv, folder;

	cnn_err_clear(err);
	if (!out || !src)
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_dataset_load: NULL argument");
	*out = NULL;
	if (!src->format || (strcmp(src->format, "idx") != 0 &&
	                     strcmp(src->format, "csv") != 0 &&
	                     strcmp(src->format, "folder") != 0))
		return cnn_err(err, CNN_ERR_USAGE,
		               "data: unknown format \"%s\" (expected "
		               "idx, csv or folder)",
		               src->format ? src->format : "");
	csv = src->format[0] == 'c';
	folder = src->format[0] == 'f';
	if ((csv || folder) && (!src->path || !src->path[0]))
		return cnn_err(err, CNN_ERR_USAGE, "data: %s data needs a path",
		               src->format);
	/* labels NULL: images only (to classify), every label 0 */
	if (!csv && !folder &&
	    (!src->images || !src->images[0] ||
	     (src->labels && !src->labels[0])))
		return cnn_err(err, CNN_ERR_USAGE,
		               "data: idx data needs images and labels");
	d = calloc(1, sizeof *d);
	if (!d)
		return cnn_err_nomem(err, NULL, NULL);
	st = folder ? cnn_folder_load(d, src, err)
	     : csv  ? cnn_csv_load(d, src, err)
	            : cnn_idx_load(d, src, err);
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
	for (int c = 0; c < d->n_names; c++)
		free(d->names[c]);
	free(d->names);
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

/* NULL without names or when c is out of range. */
const char *cnn_dataset_class_name(const cnn_dataset *d, int c)
{
	if (!d || c < 0 || c >= d->n_names)
		return NULL;
	return d->names[c];
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

	if (dy == 0 && dx == 0) {
		cnn_scale_bytes(src, scale, dst, (size_t)C * H * W);
		return;
	}
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
			if (x1 > x0)
				cnn_scale_bytes(srow + x0 - dx, scale, row + x0,
				                (size_t)(x1 - x0));
			for (int x = x1 > x0 ? x1 : x0; x < W; x++)
				row[x] = 0.0f;
		}
	}
}

/*
 * data.c - data sets: loading one (dispatching to the readers, IDX in
 * data_idx.c and CSV in data_csv.c, which check their source with
 * data_source.c) and the dataset object they fill (a sample's bytes become
 * floats in augment.c). Files are read with cnn_read_file (io.c); images
 * are image.c's.
 *
 * Invariants
 *  - Every input is treated as hostile: sizes are checked before anything is
 *    allocated, and an allocation never exceeds what the bytes actually read
 *    justify (a header's claim is never trusted for a size).
 *  - Nothing prints; every failure fills the cnn_error with the file's path.
 */
#define _POSIX_C_SOURCE 200809L

#include "data.h"

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

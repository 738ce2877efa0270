/*
 * data_source.c - the one check of a data source (cnn_data_source in cnn.h)
 * that every reader runs before it reads a byte: the sample's shape, the
 * number of classes and, for CSV, the label column. Below the readers and
 * the dispatch in data.c, so that they call it and it calls nothing of
 * theirs.
 */
#include "data.h"

/* The one check of a data source (contract in data.h). */
cnn_status cnn_data_check_source(const cnn_data_source *src, int csv,
                                 size_t *sample, cnn_error *err)
{
	const int *d = src->shape;
	int i;

	*sample = 1;
	for (i = 0; i < 3; i++) {
		if (d[i] < 1 || d[i] > 65536)
			return cnn_err(
			    err, CNN_ERR_USAGE,
			    "data: input shape %dx%dx%d is not valid "
			    "(each dimension 1..65536)",
			    d[0], d[1], d[2]);
		*sample *= (size_t)d[i];
		if (*sample > ((size_t)1 << 30))
			return cnn_err(
			    err, CNN_ERR_USAGE,
			    "data: input shape %dx%dx%d is too large", d[0],
			    d[1], d[2]);
	}
	if (src->classes < 1 || src->classes > 256)
		return cnn_err(err, CNN_ERR_USAGE,
		               "data: %d classes is out of range 1..256",
		               src->classes);
	if (csv &&
	    (src->label_column < 0 || (size_t)src->label_column > *sample))
		return cnn_err(err, CNN_ERR_USAGE,
		               "data: label column %d is out of range 0..%zu",
		               src->label_column, *sample);
	return CNN_OK;
}

/*
 * data.h - data sets (data.c, data_idx.c, data_csv.c): the readers fill one
 * u8 store; augment.c turns samples into floats.
 */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "io.h"

#include <stddef.h>
#include <stdint.h>

/* The largest data file (IDX or CSV) read, after gunzipping. */
#if SIZE_MAX > 0xffffffffu
#define CNN_DATA_MAX ((size_t)1 << 32)
#else
#define CNN_DATA_MAX ((size_t)SIZE_MAX / 2)
#endif

struct cnn_dataset {
	size_t n;
	int shape[3];       /* channels, height, width */
	size_t sample_size; /* c*h*w bytes */
	uint8_t *pixels;    /* n * sample_size */
	uint8_t *labels;    /* n */
	int classes;        /* labels are < classes */
	char **names;       /* folder: the classes' names, n_names of them */
	int n_names;        /* 0: no names */
};

/* The one check of a data source, done by every reader before it reads:
 * each dimension of src->shape 1..65536 and a sample (*sample, the
 * product) of at most 2^30 bytes, so that a count times the sample size
 * fits in 64 bits; 1..256 classes; with csv, a label column within the
 * row (0..sample). CNN_ERR_USAGE "data: ..." otherwise. */
cnn_status cnn_data_check_source(const cnn_data_source *src, int csv,
                                 size_t *sample, cnn_error *err);

/* Both readers fill a zeroed *d from src (see cnn_data_source in cnn.h); on
 * failure *d holds nothing to free. */
cnn_status cnn_idx_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err);
cnn_status cnn_csv_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err);
/* Loads a folder data set (data_folder.c): one subfolder per class,
 * walked and decoded as its file-top comment says, with src->on_load told
 * how it goes. Errors name the file or folder: CNN_ERR_IO (unreadable),
 * CNN_ERR_DATA (a bad image, a class folder without images, classes that
 * do not match), CNN_ERR_NOMEM (too large for the memory limit). */
cnn_status cnn_folder_load(cnn_dataset *d, const cnn_data_source *src,
                           cnn_error *err);
/* The same from memory (for the fuzzers, and whoever has the bytes): the
 * files' content, not compressed, with src->images, src->labels or
 * src->path naming them in messages. cnn_idx_parse: labels NULL reads images
 * only (every label 0). The bytes need no terminator. */
cnn_status cnn_idx_parse(cnn_dataset *d, const uint8_t *images, size_t n_images,
                         const uint8_t *labels, size_t n_labels,
                         const cnn_data_source *src, cnn_error *err);
cnn_status cnn_csv_parse(cnn_dataset *d, const uint8_t *text, size_t len,
                         const cnn_data_source *src, cnn_error *err);

/* Augmentation and normalisation (augment.c). The draws are stateless
 * hashes of (seed, epoch 1-based, index in the training set), each on its
 * own stream: cnn_augment_draw the shift (*dy, *dx), each in [-max, max];
 * cnn_augment_draw_crop the translation of a crop after zero padding by
 * padding, each in [-padding, padding]; cnn_augment_draw_flip 1 for about
 * half the samples (a horizontal flip). max or padding <= 0: 0, 0.
 * cnn_augment_shift: one CHW sample of bytes into floats times scale,
 * shifted dy rows down and dx columns right, zero filled (dy = dx = 0: a
 * plain scaled copy). cnn_augment_sample: the same, then flipped
 * left-right with flip, and with norm (shape[0] means, then shape[0]
 * stds; NULL none) each value ((float)byte * scale - mean[c]) / std[c],
 * the zero fill being the byte 0. */
void cnn_augment_draw(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx);
void cnn_augment_draw_crop(uint64_t seed, uint64_t epoch, uint64_t index,
                           int padding, int *dy, int *dx);
int cnn_augment_draw_flip(uint64_t seed, uint64_t epoch, uint64_t index);
void cnn_augment_shift(float *dst, const uint8_t *src, const int shape[3],
                       float scale, int dy, int dx);
void cnn_augment_sample(float *dst, const uint8_t *src, const int shape[3],
                        float scale, const float *norm, int dy, int dx,
                        int flip);

#endif /* CNN_DATA_H */

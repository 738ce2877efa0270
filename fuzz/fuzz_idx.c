/*
 * fuzz_idx.c - libFuzzer target: the IDX reader (cnn_idx_parse, and
 * cnn_idx_load with cnn_read_file's plain and gzip paths).
 *
 * Input layout:
 *   byte 0     flags: bit 0 read through files (cnn_idx_load) instead of
 *              memory; bit 1 images only (no label file); bit 2 gzip the
 *              images file, bit 3 the labels file (files only); bit 4
 *              large shapes (below)
 *   byte 1     channels - 1 (mod 4)
 *   byte 2, 3  height - 1, width - 1 (mod 32)
 *              (bit 4: each of the three is 2^(byte mod 21), up to 2^20,
 *              so that sizes near the limits and their products are tried)
 *   byte 4     classes - 1 (1..256)
 *   byte 5     limit (mod 8; 0: all)
 *   byte 6, 7  length of the images part, little-endian (at most the rest)
 *   then the images file's bytes, then the labels file's bytes.
 * A loaded dataset's samples and labels are all read.
 */
#include "fuzz.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#define HEAD 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fuzz_file fimg = {NULL, -1, ""}, flab = {NULL, -1, ""};
	cnn_data_source src;
	cnn_dataset *d;
	cnn_error err;
	const uint8_t *img, *lab;
	size_t n_img, n_lab;
	int flags, no_labels;
	cnn_status st;

	if (size < HEAD)
		return 0;
	flags = data[0];
	no_labels = (flags & 2) != 0;
	memset(&src, 0, sizeof src);
	src.format = "idx";
	if (flags & 16) {
		src.shape[0] = 1 << data[1] % 21;
		src.shape[1] = 1 << data[2] % 21;
		src.shape[2] = 1 << data[3] % 21;
	} else {
		src.shape[0] = 1 + data[1] % 4;
		src.shape[1] = 1 + data[2] % 32;
		src.shape[2] = 1 + data[3] % 32;
	}
	src.classes = 1 + data[4];
	src.limit = data[5] % 8;
	n_img = (size_t)data[6] | (size_t)data[7] << 8;
	img = data + HEAD;
	size -= HEAD;
	if (n_img > size)
		n_img = size;
	lab = img + n_img;
	n_lab = size - n_img;
	src.images = "images.idx";
	src.labels = no_labels ? NULL : "labels.idx";

	d = calloc(1, sizeof *d);
	if (!d)
		abort();
	cnn_err_clear(&err);
	if (flags & 1) {
		/* Through the files, as cnnrun reads them. */
		src.images = fuzz_file_put(&fimg, img, n_img, flags & 4);
		if (!no_labels)
			src.labels =
			    fuzz_file_put(&flab, lab, n_lab, flags & 8);
		if (!src.images || (!no_labels && !src.labels)) {
			free(d);
			return 0;
		}
		st = cnn_idx_load(d, &src, &err);
	} else {
		/* Copies, so that a read past the end is caught. */
		uint8_t *a = malloc(n_img ? n_img : 1);
		uint8_t *b = malloc(n_lab ? n_lab : 1);
		if (!a || !b)
			abort();
		memcpy(a, img, n_img);
		memcpy(b, lab, n_lab);
		st = cnn_idx_parse(d, a, n_img, no_labels ? NULL : b, n_lab,
		                   &src, &err);
		free(a);
		free(b);
	}
	fuzz_outcome(st, &err);
	if (st == CNN_OK)
		fuzz_touch_dataset(d);
	cnn_dataset_free(d);
	return 0;
}

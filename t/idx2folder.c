/*
 * idx2folder - writes the first N images of an IDX data set as a folder
 * data set (one subfolder per label, named by the label's digits) and the
 * same images, in the order the folder is read back, as a pair of plain IDX
 * files, so that the shell tests can train on both and compare. Uses the
 * library's public reader and writers only.
 *
 *   idx2folder IMAGES LABELS N DIR pgm|png OUT-IMAGES OUT-LABELS
 *
 * Files are DIR/LABEL/NNNNNN.pgm (or .png), NNNNNN the image's index in
 * IMAGES, so a class folder's sorted order is the data set's order. Exit 0,
 * or 1 with one line on stderr.
 */
#include "cnn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes a big-endian u32. */
static void put32(FILE *f, unsigned long v)
{
	fputc((int)(v >> 24) & 255, f);
	fputc((int)(v >> 16) & 255, f);
	fputc((int)(v >> 8) & 255, f);
	fputc((int)v & 255, f);
}

/* Writes the images of class order (all of label 0, then 1, ...) as IDX. */
static int write_idx(const cnn_dataset *d, size_t n, const char *images,
                     const char *labels)
{
	FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
	int ok = fi && fl;

	if (ok) {
		put32(fi, 0x803);
		put32(fi, 0);
		put32(fi, 28);
		put32(fi, 28);
		put32(fl, 0x801);
		put32(fl, 0);
		size_t count = 0;
		for (int c = 0; c < 256; c++)
			for (size_t i = 0; i < n; i++)
				if (cnn_dataset_label(d, i) == c) {
					fwrite(cnn_dataset_image(d, i), 1, 784,
					       fi);
					fputc(c, fl);
					count++;
				}
		fseek(fi, 4, SEEK_SET);
		put32(fi, count);
		fseek(fl, 4, SEEK_SET);
		put32(fl, count);
	}
	if (fi && fclose(fi))
		ok = 0;
	if (fl && fclose(fl))
		ok = 0;
	if (!ok)
		fprintf(stderr, "idx2folder: cannot write %s or %s\n", images,
		        labels);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	cnn_data_source src = {
	    .format = "idx", .shape = {1, 28, 28}, .classes = 10};
	cnn_dataset *d = NULL;
	cnn_error err;
	char buf[1200], path[4096];
	int png;

	if (argc != 8 || (strcmp(argv[5], "pgm") && strcmp(argv[5], "png"))) {
		fprintf(stderr, "usage: idx2folder IMAGES LABELS N DIR "
		                "pgm|png OUT-IMAGES OUT-LABELS\n");
		return 2;
	}
	png = !strcmp(argv[5], "png");
	src.images = argv[1];
	src.labels = argv[2];
	src.limit = atol(argv[3]);
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
		goto fail;
	mkdir(argv[4], 0777);
	for (size_t i = 0; i < cnn_dataset_count(d); i++) {
		snprintf(path, sizeof path, "%s/%d", argv[4],
		         cnn_dataset_label(d, i));
		if (mkdir(path, 0777) && errno != EEXIST) {
			fprintf(stderr, "idx2folder: %s: %s\n", path,
			        strerror(errno));
			return 1;
		}
		snprintf(path, sizeof path, "%s/%d/%06zu.%s", argv[4],
		         cnn_dataset_label(d, i), i, argv[5]);
		const uint8_t *px = cnn_dataset_image(d, i);
		if ((png ? cnn_image_write_png(path, px, 28, 28, &err)
		         : cnn_image_write_pgm(path, px, 28, 28, &err)) !=
		    CNN_OK)
			goto fail;
	}
	int rc = write_idx(d, cnn_dataset_count(d), argv[6], argv[7]);
	cnn_dataset_free(d);
	return rc;
fail:
	fprintf(stderr, "%s\n", cnn_error_string(&err, buf, sizeof buf));
	cnn_dataset_free(d);
	return 1;
}

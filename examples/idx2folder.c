/*
 * idx2folder - writes the images of an IDX data set (MNIST's format) as a
 * folder data set: one subfolder per class, one PNG (or PGM) file per
 * image, the layout `format: folder` reads (and torchvision's
 * ImageFolder). The README's worked example makes its "photos" with it;
 * t/folder.sh makes its fixtures. It uses the public API only.
 *
 *   idx2folder [OPTIONS] IMAGES LABELS DIR
 *
 *   --limit N        the first N images only [all]
 *   --names A,B,...  name label i's folder by the i-th name [the label's
 *                    number]
 *   --map 0-4=low,5-9=high
 *                    merge labels into named classes (ranges or single
 *                    labels; labels not mapped are left out)
 *   --format png|pgm the image format [png]
 *   --idx IMAGES LABELS
 *                    also write the images written, in the order the
 *                    folder is read back (class by class, files in name
 *                    order), as plain IDX files with the classes' labels
 *
 * The images are 28x28 greyscale (MNIST's). Files are DIR/CLASS/NNNNNN.png,
 * NNNNNN the image's index in IMAGES, so a
 * class folder's sorted order is the data set's order. Exit status 0, 1
 * for an I/O error, 2 for a bad command line; errors are one line.
 */
#include "cnn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The classes: label -> class (-1: left out), and the classes' names. */
typedef struct classes {
	int of[256];
	char names[256][64];
	int n;
} classes;

static int usage(void)
{
	fprintf(stderr, "usage: idx2folder [--limit N] [--names A,B,...] "
	                "[--map 0-4=low,5-9=high] [--format png|pgm] "
	                "[--idx IMAGES LABELS] IMAGES LABELS DIR\n");
	return 2;
}

/* --names A,B,...: label i is class i, named by the i-th name. */
static int parse_names(classes *c, const char *s)
{
	for (c->n = 0; *s && c->n < 256; c->n++) {
		size_t k = strcspn(s, ",");
		if (k == 0 || k >= sizeof c->names[0])
			return -1;
		memcpy(c->names[c->n], s, k);
		c->names[c->n][k] = '\0';
		c->of[c->n] = c->n;
		s += k + (s[k] == ',');
	}
	return c->n ? 0 : -1;
}

/* --map 0-4=low,5-9=high: each range of labels one class, in order. */
static int parse_map(classes *c, const char *s)
{
	for (int i = 0; i < 256; i++)
		c->of[i] = -1;
	for (c->n = 0; *s && c->n < 256; c->n++) {
		int lo, hi, used = 0;
		size_t k;
		if (sscanf(s, "%d-%d=%n", &lo, &hi, &used) != 2 || !used) {
			used = 0;
			if (sscanf(s, "%d=%n", &lo, &used) != 1 || !used)
				return -1;
			hi = lo;
		}
		s += used;
		k = strcspn(s, ",");
		if (lo < 0 || hi > 255 || lo > hi || k == 0 ||
		    k >= sizeof c->names[0])
			return -1;
		memcpy(c->names[c->n], s, k);
		c->names[c->n][k] = '\0';
		for (int l = lo; l <= hi; l++)
			c->of[l] = c->n;
		s += k + (s[k] == ',');
	}
	return c->n ? 0 : -1;
}

/* Writes a big-endian u32. */
static void put32(FILE *f, unsigned long v)
{
	for (int b = 24; b >= 0; b -= 8)
		fputc((int)(v >> b) & 255, f);
}

/* Writes the images of d that have a class, class by class, as IDX. */
static int write_idx(const cnn_dataset *d, const classes *c, const int *shape,
                     const char *images, const char *labels)
{
	FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
	size_t size = (size_t)shape[0] * shape[1] * shape[2], count = 0;
	int ok = fi && fl;

	for (int k = 0; ok && k < c->n; k++)
		for (size_t i = 0; i < cnn_dataset_count(d); i++)
			if (c->of[cnn_dataset_label(d, i)] == k) {
				if (!count++) {
					put32(fi, 0x803);
					put32(fi, 0); /* the count, below */
					put32(fi, (unsigned long)shape[1]);
					put32(fi, (unsigned long)shape[2]);
					put32(fl, 0x801);
					put32(fl, 0);
				}
				fwrite(cnn_dataset_image(d, i), 1, size, fi);
				fputc(k, fl);
			}
	if (ok) {
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
		fprintf(stderr, "idx2folder: cannot write %s or %s: %s\n",
		        images, labels, strerror(errno));
	return ok ? 0 : 1;
}

/* Makes the folder path and the folders above it, as mkdir -p does;
 * returns 0, or -1 with errno set. */
static int make_folders(const char *path)
{
	char p[4096];
	size_t n = strlen(path);
	if (n >= sizeof p) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++)
		if (p[i] == '/' || p[i] == '\0') {
			char c = p[i];
			p[i] = '\0';
			if (mkdir(p, 0777) && errno != EEXIST)
				return -1;
			p[i] = c;
		}
	return 0;
}

/* Writes every image of d that has a class as DIR/CLASS/NNNNNN.EXT. */
static int write_folder(const cnn_dataset *d, const classes *c,
                        const int *shape, const char *dir, int png)
{
	char path[4096], buf[1200];
	cnn_error err;

	if (make_folders(dir)) {
		fprintf(stderr, "idx2folder: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < cnn_dataset_count(d); i++) {
		int k = c->of[cnn_dataset_label(d, i)];
		if (k < 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, c->names[k]);
		if (mkdir(path, 0777) && errno != EEXIST) {
			fprintf(stderr, "idx2folder: %s: %s\n", path,
			        strerror(errno));
			return 1;
		}
		snprintf(path, sizeof path, "%s/%s/%06zu.%s", dir, c->names[k],
		         i, png ? "png" : "pgm");
		const uint8_t *px = cnn_dataset_image(d, i);
		if ((png ? cnn_image_write_png(path, px, shape[2], shape[1],
		                               &err)
		         : cnn_image_write_pgm(path, px, shape[2], shape[1],
		                               &err)) != CNN_OK) {
			fprintf(stderr, "%s\n",
			        cnn_error_string(&err, buf, sizeof buf));
			return 1;
		}
	}
	return 0;
}

/* Applies the option at argv[0] with its values (left arguments remain);
 * returns how many arguments it took, or 0 when it is not valid. */
static int option(char **argv, int left, classes *c, cnn_data_source *src,
                  int *png, const char **idx)
{
	char *end;
	if (left < 2)
		return 0;
	if (!strcmp(argv[0], "--limit")) {
		src->limit = strtol(argv[1], &end, 10);
		return *end || src->limit < 1 ? 0 : 2;
	}
	if (!strcmp(argv[0], "--names"))
		return parse_names(c, argv[1]) ? 0 : 2;
	if (!strcmp(argv[0], "--map"))
		return parse_map(c, argv[1]) ? 0 : 2;
	if (!strcmp(argv[0], "--format")) {
		*png = !strcmp(argv[1], "png");
		return *png || !strcmp(argv[1], "pgm") ? 2 : 0;
	}
	if (!strcmp(argv[0], "--idx") && left >= 3) {
		idx[0] = argv[1];
		idx[1] = argv[2];
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	cnn_data_source src = {
	    .format = "idx", .shape = {1, 28, 28}, .classes = 256};
	const char *idx[2] = {NULL, NULL};
	classes c = {.n = 256};
	cnn_dataset *d = NULL;
	cnn_error err;
	char buf[1200];
	int png = 1, a = 1, rc, took;

	for (int i = 0; i < 256; i++) {
		c.of[i] = i;
		snprintf(c.names[i], sizeof c.names[i], "%d", i);
	}
	for (; a < argc && !strncmp(argv[a], "--", 2); a += took)
		if (!(took = option(argv + a, argc - a, &c, &src, &png, idx)))
			return usage();
	if (argc - a != 3)
		return usage();
	src.images = argv[a];
	src.labels = argv[a + 1];
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK) {
		fprintf(stderr, "%s\n",
		        cnn_error_string(&err, buf, sizeof buf));
		return cnn_status_exit_code(err.status);
	}
	rc = write_folder(d, &c, src.shape, argv[a + 2], png);
	if (!rc && idx[0])
		rc = write_idx(d, &c, src.shape, idx[0], idx[1]);
	cnn_dataset_free(d);
	return rc;
}

/*
 * fuzz_image.c - libFuzzer target: the one image decoder (cnn_image_decode:
 * PGM, PNG with libpng, JPEG with libjpeg) and the rule that fits an image
 * to a model's input (cnn_image_fit).
 *
 * Input layout: 3 bytes, then the image file.
 *   byte 0: bit 0 the resize mode (0 none, 1 bilinear); bits 1-2 the
 *           shape's channels (0: 1, 1: 3, 2: the image's own, 3: 2, which
 *           must be refused); bit 3: also read the bytes as a file with
 *           cnn_image_read (through a scratch file), which must give the
 *           same status, message and pixels; bit 4: also fit the image to
 *           its own shape, which must copy it unchanged
 *   byte 1: the shape's height - 1 (1..256)
 *   byte 2: the shape's width - 1 (1..256)
 * Every byte of a decoded image and of a fitted one is read, so that a
 * short buffer is caught; a failed call must leave its outputs cleared.
 */
#include "fuzz.h"

#include "../lib/image.h"

#include <stdlib.h>
#include <string.h>

/* Reads every byte of n at px (NULL is an error when n > 0). */
static void touch(const uint8_t *px, size_t n)
{
	volatile unsigned sink = 0;

	if (!px && n)
		abort();
	for (size_t i = 0; i < n; i++)
		sink += px[i];
	(void)sink;
}

/* cnn_image_read on a file holding the same bytes must agree with
 * cnn_image_decode (status, message, image); abort()s otherwise. */
static void same_as_file(const uint8_t *data, size_t size, cnn_status st,
                         const cnn_error *err, const uint8_t *px, int c, int w,
                         int h)
{
	static fuzz_file f = {NULL, -1, ""};
	const char *path = fuzz_file_put(&f, data, size, 0);
	char a[1024], b[1024];
	uint8_t *px2;
	int c2, w2, h2;
	cnn_error err2;
	cnn_status st2;

	if (!path)
		return;
	st2 = cnn_image_read(path, &px2, &c2, &w2, &h2, &err2);
	fuzz_outcome(st2, &err2);
	if (st2 == CNN_ERR_IO || st2 == CNN_ERR_NOMEM || st == CNN_ERR_NOMEM) {
		free(px2);
		return;
	}
	/* the messages name different paths: compare what follows */
	cnn_error_string(err, a, sizeof a);
	cnn_error_string(&err2, b, sizeof b);
	if (st2 != st || c2 != c || w2 != w || h2 != h ||
	    (st == CNN_OK &&
	     memcmp(px, px2, (size_t)c * (size_t)w * (size_t)h)) ||
	    (st != CNN_OK && strcmp(strchr(a, ':') ? strchr(a, ':') : a,
	                            strchr(b, ':') ? strchr(b, ':') : b))) {
		fprintf(stderr,
		        "cnn_image_read (%s) and cnn_image_decode "
		        "(%s) disagree\n",
		        b, a);
		abort();
	}
	free(px2);
}

/* Fits the image to the shape the header bytes pick, and to its own. */
static void fit(const uint8_t *head, const uint8_t *px, int c, int w, int h)
{
	int shape[3], cs = (head[0] >> 1) & 3;
	cnn_resize rs = (head[0] & 1) ? CNN_RESIZE_BILINEAR : CNN_RESIZE_NONE;
	size_t n;
	uint8_t *dst;
	cnn_error err;
	cnn_status st;

	shape[0] = cs == 0 ? 1 : cs == 1 ? 3 : cs == 2 ? c : 2;
	shape[1] = head[1] + 1;
	shape[2] = head[2] + 1;
	n = (size_t)shape[0] * (size_t)shape[1] * (size_t)shape[2];
	dst = malloc(n);
	if (!dst)
		return;
	st = cnn_image_fit("fuzz", px, c, w, h, shape, rs, dst, &err);
	fuzz_outcome(st, &err);
	if (st == CNN_OK)
		touch(dst, n);
	else if (shape[0] != 2 && st != CNN_ERR_NOMEM &&
	         (rs == CNN_RESIZE_BILINEAR ||
	          (w == shape[2] && h == shape[1])))
		abort(); /* a fit the rule allows was refused */
	free(dst);
	if (!(head[0] & 16))
		return;
	n = (size_t)c * (size_t)w * (size_t)h;
	dst = malloc(n);
	shape[0] = c;
	shape[1] = h;
	shape[2] = w;
	if (!dst)
		return;
	st = cnn_image_fit(NULL, px, c, w, h, shape, rs, dst, &err);
	fuzz_outcome(st, &err);
	if (st != CNN_OK || memcmp(dst, px, n))
		abort(); /* the identity changed the image */
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *px;
	int c, w, h;
	cnn_error err;
	cnn_status st;

	if (size < 3)
		return 0;
	st =
	    cnn_image_decode("fuzz", data + 3, size - 3, &px, &c, &w, &h, &err);
	fuzz_outcome(st, &err);
	if (data[0] & 8)
		same_as_file(data + 3, size - 3, st, &err, px, c, w, h);
	if (st != CNN_OK) {
		if (px || c || w || h)
			abort();
		return 0;
	}
	if ((c != 1 && c != 3) || w < 1 || h < 1)
		abort();
	touch(px, (size_t)c * (size_t)w * (size_t)h);
	fit(data, px, c, w, h);
	free(px);
	return 0;
}

/*
 * image_jpeg.c - reading JPEG images (baseline, progressive, arithmetic
 * coded) with libjpeg(-turbo), from memory (cnn_jpeg_decode) or a file
 * (cnn_image_read_jpeg), into CHW bytes: greyscale gives 1 channel,
 * YCbCr and RGB 3 (planes R, G, B).
 *
 * Invariants
 *  - Every JPEG is hostile. Its size is bounded (IMAGE_MAX_SIDE,
 *    IMAGE_MAX_BYTES) and checked against the file's length (below) after
 *    jpeg_read_header and before anything the size of the image is
 *    allocated; libjpeg's own memory is capped (JPEG_MAX_MEMORY) and a
 *    progressive file may have at most JPEG_MAX_SCANS scans (the known
 *    way to make a tiny file take minutes).
 *  - libjpeg never prints and never exits: error_exit longjmps back, and
 *    emit_message turns every warning (a truncated file, "Corrupt JPEG
 *    data") into the same error, so a damaged JPEG is one CNN_ERR_DATA line
 *    "PATH: corrupt JPEG: <libjpeg's message>", never a half-grey image.
 *  - The function that calls setjmp keeps everything that changes after it
 *    in a context struct owned by its caller (jpeg_rctx), so the longjmp
 *    path frees everything and reads nothing indeterminate.
 *  - Nothing is converted silently: CMYK and YCCK images, and colour
 *    spaces libjpeg cannot name, are refused.
 *  - Reentrant: no static mutable state (libjpeg keeps its state in the
 *    decompressor struct).
 */
#define _POSIX_C_SOURCE 200809L

#include <config.h>

#include "image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_JPEG
#include <jpeglib.h>
#endif

#ifdef HAVE_JPEG

/* The most scans a progressive JPEG may have (libjpeg-turbo's TurboJPEG
 * API limits them to 500 when asked to; real encoders write about 10). */
#define JPEG_MAX_SCANS 1000

/* The most memory libjpeg may take for itself (a progressive image's
 * coefficients: 2 bytes per sample, plus its buffers), beyond which it
 * fails with "Backing store not supported". */
#define JPEG_MAX_MEMORY (3 * (uint64_t)IMAGE_MAX_BYTES)

/* libjpeg's error manager, extended with where to jump and the message. */
typedef struct jpeg_err {
	struct jpeg_error_mgr pub; /* first: libjpeg sees only this */
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
} jpeg_err;

/* What jpeg_decode works on; it lives in the caller's frame, so setjmp does
 * not make any of it indeterminate. */
typedef struct jpeg_rctx {
	struct jpeg_decompress_struct d;
	jpeg_err e;
	struct jpeg_progress_mgr progress;
	const uint8_t *buf; /* the whole file */
	size_t len;
	uint8_t *row;    /* one interleaved RGB row (3 channels only) */
	uint8_t *raster; /* the decoded image, CHW */
	int channels, width, height;
	/* set instead of libjpeg's message for the errors found here */
	cnn_status status;
	char why[200];
} jpeg_rctx;

int cnn_have_jpeg(void)
{
	return 1;
}

/* libjpeg's error_exit: keeps the message and jumps back to setjmp. */
static void jpeg_on_error(j_common_ptr cinfo)
{
	jpeg_err *e = (jpeg_err *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jump, 1);
}

/* libjpeg's emit_message: a warning (level -1: a truncated file, corrupt
 * data libjpeg would paper over) is an error; trace messages are
 * dropped. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
	if (level < 0)
		jpeg_on_error(cinfo);
}

/* libjpeg's output_message: never prints. */
static void jpeg_on_output(j_common_ptr cinfo)
{
	(void)cinfo;
}

/* The progress monitor: stops a progressive file at its
 * (JPEG_MAX_SCANS + 1)th scan. */
static void jpeg_on_progress(j_common_ptr cinfo)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	jpeg_err *e = (jpeg_err *)cinfo->err;

	if (d->input_scan_number > JPEG_MAX_SCANS) {
		snprintf(e->msg, sizeof e->msg,
		         "more than %d scans in a progressive JPEG",
		         JPEG_MAX_SCANS);
		longjmp(e->jump, 1);
	}
}

/* Sets c->status and c->why; returns -1. */
static int jpeg_refuse(jpeg_rctx *c, cnn_status st, const char *why)
{
	c->status = st;
	snprintf(c->why, sizeof c->why, "%s", why);
	return -1;
}

/* Checks the header jpeg_read_header read: the colour space (sets
 * c->channels and the output colour space), the size against the limits
 * and against the file's length. An image needs at least one 8x8 block per
 * 8x8 pixels of its first component (the full-size one), and Huffman
 * coding spends at least a bit on every block (its DC); arithmetic coding
 * can spend far less, so it is allowed a bit per 64 blocks. Returns 0, or
 * -1 with c->status and c->why set. */
static int jpeg_check(jpeg_rctx *c)
{
	j_decompress_ptr d = &c->d;
	uint64_t w = d->image_width, h = d->image_height, blocks, bits;
	char why[200];

	switch (d->jpeg_color_space) {
	case JCS_GRAYSCALE:
		c->channels = 1;
		d->out_color_space = JCS_GRAYSCALE;
		break;
	case JCS_YCbCr:
	case JCS_RGB:
		c->channels = 3;
		d->out_color_space = JCS_RGB;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		return jpeg_refuse(c, CNN_ERR_DATA,
		                   "CMYK JPEG images are not supported; save "
		                   "it as RGB or greyscale to use it");
	default:
		snprintf(why, sizeof why,
		         "JPEG images with %d components in an unknown colour "
		         "space are not supported",
		         d->num_components);
		return jpeg_refuse(c, CNN_ERR_DATA, why);
	}
	if (w < 1 || w > IMAGE_MAX_SIDE || h < 1 || h > IMAGE_MAX_SIDE) {
		snprintf(why, sizeof why,
		         "JPEG size %lux%lu is out of range (1..%d each)",
		         (unsigned long)w, (unsigned long)h, IMAGE_MAX_SIDE);
		return jpeg_refuse(c, CNN_ERR_DATA, why);
	}
	if (w * h > IMAGE_MAX_BYTES / (uint64_t)c->channels) {
		snprintf(why, sizeof why,
		         "JPEG image %lux%lu with %d channels is too large (at "
		         "most %zu bytes)",
		         (unsigned long)w, (unsigned long)h, c->channels,
		         IMAGE_MAX_BYTES);
		return jpeg_refuse(c, CNN_ERR_DATA, why);
	}
	blocks = ((w + 7) / 8) * ((h + 7) / 8);
	bits = (uint64_t)c->len * 8;
	if (d->arith_code ? blocks / 64 > bits : blocks > bits) {
		snprintf(why, sizeof why,
		         "truncated or corrupt JPEG: %zu bytes cannot hold a "
		         "%lux%lu image",
		         c->len, (unsigned long)w, (unsigned long)h);
		return jpeg_refuse(c, CNN_ERR_DATA, why);
	}
	c->width = (int)w;
	c->height = (int)h;
	return 0;
}

/* Decompresses the image (after jpeg_start_decompress) row by row into
 * c->raster, de-interleaving RGB rows into the three planes. Returns 0,
 * or -1 with c->status and c->why set. libjpeg's errors longjmp past it. */
static int jpeg_rows(jpeg_rctx *c)
{
	size_t plane = (size_t)c->width * (size_t)c->height, i, at;
	JSAMPROW row;

	if (c->d.output_components != c->channels ||
	    c->d.output_width != (JDIMENSION)c->width ||
	    c->d.output_height != (JDIMENSION)c->height)
		return jpeg_refuse(c, CNN_ERR_USAGE,
		                   "internal error: libjpeg's output is not "
		                   "the size of the image");
	c->raster = malloc(plane * (size_t)c->channels);
	if (c->channels == 3)
		c->row = malloc((size_t)c->width * 3);
	if (!c->raster || (c->channels == 3 && !c->row))
		return jpeg_refuse(c, CNN_ERR_NOMEM,
		                   "out of memory (reading a JPEG image)");
	while (c->d.output_scanline < c->d.output_height) {
		at = (size_t)c->d.output_scanline * (size_t)c->width;
		row = c->channels == 3 ? c->row : c->raster + at;
		if (jpeg_read_scanlines(&c->d, &row, 1) != 1)
			return jpeg_refuse(c, CNN_ERR_DATA,
			                   "corrupt JPEG: no more rows");
		if (c->channels == 3)
			for (i = 0; i < (size_t)c->width; i++) {
				c->raster[at + i] = c->row[3 * i];
				c->raster[plane + at + i] = c->row[3 * i + 1];
				c->raster[2 * plane + at + i] =
				    c->row[3 * i + 2];
			}
	}
	return 0;
}

/* Decodes the JPEG in c->buf into c->raster. Returns 0; -1 with c->status
 * and c->why set for errors found here; -2 with libjpeg's message in
 * c->e.msg. Whatever it allocated stays in c for the caller to free. */
static int jpeg_decode(jpeg_rctx *c)
{
	c->d.err = jpeg_std_error(&c->e.pub);
	c->e.pub.error_exit = jpeg_on_error;
	c->e.pub.emit_message = jpeg_on_message;
	c->e.pub.output_message = jpeg_on_output;
	c->progress.progress_monitor = jpeg_on_progress;
	if (setjmp(c->e.jump)) {
		jpeg_destroy_decompress(&c->d);
		return -2;
	}
	jpeg_create_decompress(&c->d);
	c->d.mem->max_memory_to_use = JPEG_MAX_MEMORY > (uint64_t)LONG_MAX
	                                  ? LONG_MAX
	                                  : (long)JPEG_MAX_MEMORY;
	c->d.progress = &c->progress;
	jpeg_mem_src(&c->d, c->buf, (unsigned long)c->len);
	(void)jpeg_read_header(&c->d, TRUE);
	if (jpeg_check(c) != 0) {
		jpeg_destroy_decompress(&c->d);
		return -1;
	}
	c->d.dct_method = JDCT_ISLOW; /* exact integers (the default) */
	(void)jpeg_start_decompress(&c->d);
	if (jpeg_rows(c) != 0) {
		jpeg_destroy_decompress(&c->d);
		return -1;
	}
	(void)jpeg_finish_decompress(&c->d);
	jpeg_destroy_decompress(&c->d);
	return 0;
}

/* Decodes a JPEG held in memory into CHW bytes (contract in image.h). */
cnn_status cnn_jpeg_decode(const char *path, const uint8_t *buf, size_t len,
                           uint8_t **pixels, int *channels, int *width,
                           int *height, cnn_error *err)
{
	jpeg_rctx *c;
	cnn_status st = CNN_OK;
	int r;

	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	if (len < 3 || buf[0] != 0xff || buf[1] != 0xd8 || buf[2] != 0xff)
		return cnn_err_file(err, CNN_ERR_DATA, path, "not a JPEG file");
	if (len > IMAGE_FILE_MAX)
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "larger than %zu bytes", IMAGE_FILE_MAX);
	/* (on the heap: the decompressor is large, and threads' stacks may
	 * be small) */
	c = calloc(1, sizeof *c);
	if (!c)
		return cnn_err_file(err, CNN_ERR_NOMEM, path, "out of memory");
	c->buf = buf;
	c->len = len;
	r = jpeg_decode(c);
	if (r == -1)
		st = cnn_err_file(err, c->status, path, "%s", c->why);
	else if (r == -2)
		st = cnn_err_file(err, CNN_ERR_DATA, path, "corrupt JPEG: %s",
		                  c->e.msg);
	free(c->row);
	if (st == CNN_OK) {
		*pixels = c->raster;
		*channels = c->channels;
		*width = c->width;
		*height = c->height;
	} else {
		free(c->raster);
	}
	free(c);
	return st;
}

#else /* !HAVE_JPEG */

int cnn_have_jpeg(void)
{
	return 0;
}

/* Without libjpeg: CNN_ERR_USAGE naming the path. */
cnn_status cnn_jpeg_decode(const char *path, const uint8_t *buf, size_t len,
                           uint8_t **pixels, int *channels, int *width,
                           int *height, cnn_error *err)
{
	(void)buf;
	(void)len;
	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	return cnn_err_file(err, CNN_ERR_USAGE, path,
	                    "this libcnn was built without libjpeg; install "
	                    "libjpeg-dev and rebuild");
}

#endif /* HAVE_JPEG */

/* Reads a JPEG file into CHW bytes (contract in cnn.h); without libjpeg,
 * says so before any file is read (as long as a path is given). */
cnn_status cnn_image_read_jpeg(const char *path, uint8_t **pixels,
                               int *channels, int *width, int *height,
                               cnn_error *err)
{
	if (!cnn_have_jpeg() && path && path[0]) {
		cnn_err_clear(err);
		return cnn_jpeg_decode(path, NULL, 0, pixels, channels, width,
		                       height, err);
	}
	return cnn_image_read_with(cnn_jpeg_decode, "cnn_image_read_jpeg", path,
	                           pixels, channels, width, height, err);
}

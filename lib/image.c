/*
 * image.c - single images, every format: reading and writing 8-bit
 * greyscale PGM (P5 and P2 read, P5 written) and PNG (with libpng, when
 * the library was built with it); which format a file's bytes are
 * (cnn_image_sniff) and the one decoder for all of them (cnn_image_decode,
 * cnn_image_read). JPEG is in image_jpeg.c, fitting an image to a model's
 * input in image_fit.c.
 *
 * Invariants
 *  - Every image read is treated as hostile. A PGM's header is checked
 *    against the bytes really there before the raster is allocated. A
 *    PNG's dimensions are bounded (IMAGE_MAX_SIDE, IMAGE_MAX_BYTES) and
 *    checked against the file's size before the raster is allocated, and
 *    any libpng error (a bad CRC, a truncated stream) becomes one
 *    CNN_ERR_DATA line naming the file.
 *  - Every reader reads the whole file (bounded), then decodes the bytes
 *    in memory: the file readers and cnn_image_decode give the same
 *    results. No static mutable state, so decoders run in parallel.
 *  - libpng reports errors by longjmp. The functions that call setjmp keep
 *    everything that can change after it in a context struct owned by
 *    their caller, so nothing is lost or leaked on the longjmp path.
 *  - Nothing is converted silently: an image with transparency is refused.
 *  - Writers build the whole file in memory, then replace PATH atomically
 *    (a temporary file beside it, fsync, rename): PATH is never half
 *    written, and a failed write leaves the old file as it was.
 *  - Nothing prints: libpng's warnings are dropped, its errors copied into
 *    the cnn_error.
 */
#define _POSIX_C_SOURCE 200809L

#include <config.h>

#include "image.h"
#include "io.h"

#include "bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_PNG
#include <png.h>
#endif

/* The largest PGM file read (a 65536x65536 P5 image and its header). */
#if SIZE_MAX > 0xffffffffu
#define PGM_MAX (((size_t)1 << 32) + 4096)
#else
#define PGM_MAX ((size_t)SIZE_MAX / 2)
#endif

/* ======================================================================== */
/* Writing files atomically                                                 */

/* Clears err and checks the arguments common to the writers
 * (CNN_ERR_USAGE). */
static cnn_status begin_write(const char *fn, const char *path,
                              const uint8_t *pixels, int width, int height,
                              cnn_error *err)
{
	cnn_err_clear(err);
	if (!path || !path[0] || !pixels)
		return cnn_err(err, CNN_ERR_USAGE, "%s: no %s given", fn,
		               pixels ? "path" : "pixels");
	/* (the product matters only where size_t has 32 bits) */
	if (width < 1 || width > IMAGE_MAX_SIDE || height < 1 ||
	    height > IMAGE_MAX_SIDE ||
	    (uint64_t)width * (uint64_t)height > SIZE_MAX / 2)
		return cnn_err_file(err, CNN_ERR_USAGE, path,
		                    "%s: image size %dx%d is out of range "
		                    "(1..%d each)",
		                    fn, width, height, IMAGE_MAX_SIDE);
	return CNN_OK;
}

/* Writes a binary PGM (P5, maxval 255): header and raster in one buffer,
 * then the file atomically (contract in cnn.h). */
cnn_status cnn_image_write_pgm(const char *path, const uint8_t *pixels,
                               int width, int height, cnn_error *err)
{
	cnn_wbuf b = {0};
	char head[64];
	int k;
	cnn_status st;

	st = begin_write("cnn_image_write_pgm", path, pixels, width, height,
	                 err);
	if (st != CNN_OK)
		return st;
	k = snprintf(head, sizeof head, "P5\n%d %d\n255\n", width, height);
	cnn_put_bytes(&b, head, (size_t)k);
	cnn_put_bytes(&b, pixels, (size_t)width * (size_t)height);
	if (b.failed)
		st = cnn_err_nomem(err, path, NULL);
	else
		st = cnn_write_file(path, b.data, b.len, "PGM image", err);
	cnn_wbuf_free(&b);
	return st;
}

/* ======================================================================== */
/* Reading PGM                                                              */

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

/* Reads the next number (after whitespace and comments): unsigned decimal,
 * saturating at 10^9, and followed by whitespace, a comment or the end.
 * Returns -1 at the end of the bytes, -2 when it is not such a number. */
static long pgm_next(struct pgm *g)
{
	long v = 0;
	pgm_skip(g);
	if (g->p >= g->end)
		return -1;
	if (*g->p < '0' || *g->p > '9')
		return -2;
	while (g->p < g->end && *g->p >= '0' && *g->p <= '9') {
		v = v * 10 + (*g->p++ - '0');
		if (v > 1000000000L)
			v = 1000000000L;
	}
	if (g->p < g->end && !pgm_space(*g->p) && *g->p != '#')
		return -2;
	return v;
}

/* Reads one header field, which must be such a number. */
static cnn_status pgm_field(struct pgm *g, const char *what, long *v,
                            cnn_error *err)
{
	*v = pgm_next(g);
	if (*v == -1)
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "truncated PGM header (no %s)", what);
	if (*v == -2)
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "bad PGM header: %s is not a number", what);
	return CNN_OK;
}

/* Parses the header of a PGM file held in buf (len bytes) into *w, *h and
 * *maxval (1..255), and leaves g->p at the first byte after it. */
static cnn_status pgm_header(struct pgm *g, const uint8_t *buf, size_t len,
                             long *w, long *h, long *maxval, cnn_error *err)
{
	char got[CNN_QUOTE_SIZE];
	cnn_status st;

	if (len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '2'))
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "not a PGM image (magic \"%s\", expected "
		                    "\"P5\" or \"P2\")",
		                    cnn_quote(got, buf, len < 2 ? len : 2));
	g->p += 2;
	if (g->p < g->end && !pgm_space(*g->p) && *g->p != '#')
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "bad PGM header: no space after the magic");
	if ((st = pgm_field(g, "width", w, err)) != CNN_OK ||
	    (st = pgm_field(g, "height", h, err)) != CNN_OK ||
	    (st = pgm_field(g, "maxval", maxval, err)) != CNN_OK)
		return st;
	if (*w < 1 || *w > 65536 || *h < 1 || *h > 65536)
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "PGM size %ldx%ld is out of range "
		                    "(1..65536 each)",
		                    *w, *h);
	if (*maxval > 255 && *maxval <= 65535)
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "16-bit PGM images are not supported "
		                    "(maxval %ld, expected 1..255)",
		                    *maxval);
	if (*maxval < 1 || *maxval > 255)
		return cnn_err_file(err, CNN_ERR_DATA, g->path,
		                    "PGM maxval %ld is out of range 1..255",
		                    *maxval);
	return CNN_OK;
}

/* Reads the n values of the raster at g->p (binary: one byte each; else
 * ASCII numbers) into px, scaled from 0..maxval to 0..255. */
static cnn_status pgm_raster(struct pgm *g, int binary, long maxval,
                             uint8_t *px, size_t n, cnn_error *err)
{
	size_t i;
	long v;

	for (i = 0; i < n; i++) {
		v = binary ? *g->p++ : pgm_next(g);
		if (v == -1)
			return cnn_err_file(err, CNN_ERR_DATA, g->path,
			                    "truncated PGM data (%zu of %zu "
			                    "values)",
			                    i, n);
		if (v == -2)
			return cnn_err_file(err, CNN_ERR_DATA, g->path,
			                    "PGM value %zu is not a number", i);
		if (v > maxval)
			return cnn_err_file(
			    err, CNN_ERR_DATA, g->path,
			    "PGM value %ld at index %zu exceeds "
			    "maxval %ld",
			    v, i, maxval);
		px[i] =
		    (uint8_t)(maxval == 255 ? v
		                            : (v * 255 + maxval / 2) / maxval);
	}
	return CNN_OK;
}

/* Parses the header and the raster of a PGM file held in buf. */
static cnn_status pgm_parse(const char *path, const uint8_t *buf, size_t len,
                            uint8_t **pixels, int *width, int *height,
                            cnn_error *err)
{
	struct pgm g = {path, buf, buf + len};
	long w, h, maxval;
	size_t n, left;
	uint8_t *px;
	int binary = len >= 2 && buf[1] == '5';
	cnn_status st;

	st = pgm_header(&g, buf, len, &w, &h, &maxval, err);
	if (st != CNN_OK)
		return st;
	n = (size_t)w * (size_t)h;
	/* Exactly one whitespace byte separates a P5 header and raster. */
	if (binary && g.p < g.end)
		g.p++;
	left = (size_t)(g.end - g.p);
	if (binary && left < n)
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "truncated PGM data (%zu of %zu bytes)",
		                    left, n);
	if (left < n) /* each ASCII value takes at least one byte */
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "truncated PGM data (%zu bytes for %zu "
		                    "values)",
		                    left, n);
	px = malloc(n);
	if (!px)
		return cnn_err_file(err, CNN_ERR_NOMEM, path,
		                    "out of memory (reading %zu bytes)", n);
	st = pgm_raster(&g, binary, maxval, px, n, err);
	if (st != CNN_OK) {
		free(px);
		return st;
	}
	*pixels = px;
	*width = (int)w;
	*height = (int)h;
	return CNN_OK;
}

/* Decodes a PGM held in memory (contract in image.h). */
cnn_status cnn_pgm_decode(const char *path, const uint8_t *buf, size_t len,
                          uint8_t **pixels, int *width, int *height,
                          cnn_error *err)
{
	cnn_err_clear(err);
	*pixels = NULL;
	*width = *height = 0;
	return pgm_parse(path, buf, len, pixels, width, height, err);
}

/* Reads a P5 or P2 PGM file (plain or gzip) into a malloc'ed w*h array
 * (contract in cnn.h). */
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

/* ======================================================================== */
/* Any format                                                               */

/* Reads a whole image file as it is (contract in image.h). */
cnn_status cnn_image_file(const char *path, uint8_t **buf, size_t *len,
                          cnn_error *err)
{
	return cnn_read_raw(path, IMAGE_FILE_MAX, buf, len, err);
}

/* Which format the bytes are (contract in image.h). */
cnn_image_kind cnn_image_sniff(const uint8_t *buf, size_t len)
{
	static const uint8_t png_sig[8] = {0x89, 'P',  'N',  'G',
	                                   '\r', '\n', 0x1a, '\n'};

	if (!buf)
		return CNN_IMAGE_NONE;
	if (len >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '2'))
		return CNN_IMAGE_PGM;
	if (len >= 8 && !memcmp(buf, png_sig, 8))
		return CNN_IMAGE_PNG;
	if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		return CNN_IMAGE_JPEG;
	return CNN_IMAGE_NONE;
}

/* Decodes an image of any known kind held in memory (contract in
 * image.h). */
cnn_status cnn_image_decode(const char *path, const uint8_t *buf, size_t len,
                            uint8_t **pixels, int *channels, int *width,
                            int *height, cnn_error *err)
{
	cnn_status st;

	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	switch (cnn_image_sniff(buf, len)) {
	case CNN_IMAGE_PGM:
		st = cnn_pgm_decode(path, buf, len, pixels, width, height, err);
		*channels = st == CNN_OK ? 1 : 0;
		return st;
	case CNN_IMAGE_PNG:
		return cnn_png_decode(path, buf, len, pixels, channels, width,
		                      height, err);
	case CNN_IMAGE_JPEG:
		return cnn_jpeg_decode(path, buf, len, pixels, channels, width,
		                       height, err);
	default:
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "not a PGM, PNG or JPEG image");
	}
}

/* Reads a file and decodes it (contract in image.h). */
cnn_status cnn_image_read_with(cnn_image_decoder decode, const char *what,
                               const char *path, uint8_t **pixels,
                               int *channels, int *width, int *height,
                               cnn_error *err)
{
	uint8_t *buf;
	size_t len;
	cnn_status st;

	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	if (!path || !path[0])
		return cnn_err(err, CNN_ERR_USAGE, "%s: no path given", what);
	st = cnn_image_file(path, &buf, &len, err);
	if (st != CNN_OK)
		return st;
	st = decode(path, buf, len, pixels, channels, width, height, err);
	free(buf);
	return st;
}

/* Reads a PGM, PNG or JPEG file, chosen by its first bytes (contract in
 * cnn.h). */
cnn_status cnn_image_read(const char *path, uint8_t **pixels, int *channels,
                          int *width, int *height, cnn_error *err)
{
	return cnn_image_read_with(cnn_image_decode, "cnn_image_read", path,
	                           pixels, channels, width, height, err);
}

#ifdef HAVE_PNG

int cnn_have_png(void)
{
	return 1;
}

/* ======================================================================== */
/* libpng's errors                                                          */

/* Where libpng's error callback leaves its message. */
typedef struct png_errbuf {
	char msg[200];
} png_errbuf;

/* libpng's error callback: keeps the message and jumps back to setjmp. */
static void png_on_error(png_structp png, png_const_charp msg)
{
	png_errbuf *e = png_get_error_ptr(png);
	if (e)
		snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "");
	png_longjmp(png, 1);
}

/* libpng's warning callback: the library never prints. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* ======================================================================== */
/* Writing PNG                                                              */

/* What png_encode works on; it lives in the caller's frame, so setjmp does
 * not make any of it indeterminate. */
typedef struct png_wctx {
	png_errbuf e;
	cnn_wbuf out;
} png_wctx;

/* libpng's write callback: appends to the buffer. */
static void png_on_write(png_structp png, png_bytep data, size_t n)
{
	png_wctx *c = png_get_io_ptr(png);
	cnn_put_bytes(&c->out, data, n);
	if (c->out.failed)
		png_error(png, "out of memory");
}

static void png_on_flush(png_structp png)
{
	(void)png;
}

/* Encodes the image as an 8-bit greyscale PNG into c->out. Returns 0, or -1
 * with libpng's message in c->e.msg. */
static int png_encode(png_wctx *c, const uint8_t *pixels, int width, int height)
{
	png_structp png;
	png_infop info;
	int y;

	/* png and info are set before setjmp and never after: they are
	 * still valid when libpng jumps back. */
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c->e,
	                              png_on_error, png_on_warning);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		snprintf(c->e.msg, sizeof c->e.msg, "out of memory");
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_set_write_fn(png, c, png_on_write, png_on_flush);
	png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
	             PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < height; y++)
		png_write_row(png, pixels + (size_t)y * (size_t)width);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* Writes an 8-bit greyscale PNG atomically (contract in cnn.h). */
cnn_status cnn_image_write_png(const char *path, const uint8_t *pixels,
                               int width, int height, cnn_error *err)
{
	png_wctx c;
	cnn_status st;

	st = begin_write("cnn_image_write_png", path, pixels, width, height,
	                 err);
	if (st != CNN_OK)
		return st;
	memset(&c, 0, sizeof c);
	if (png_encode(&c, pixels, width, height) != 0)
		st = cnn_err_file(err,
		                  c.out.failed ? CNN_ERR_NOMEM : CNN_ERR_USAGE,
		                  path, "cannot encode PNG: %s", c.e.msg);
	else
		st = cnn_write_file(path, c.out.data, c.out.len, "PNG image",
		                    err);
	cnn_wbuf_free(&c.out);
	return st;
}

/* ======================================================================== */
/* Reading PNG                                                              */

/* What png_decode works on (in the caller's frame, like png_wctx). */
typedef struct png_rctx {
	png_errbuf e;
	const uint8_t *buf; /* the whole file */
	size_t file_size;   /* its bytes */
	size_t pos;         /* the next byte libpng reads */
	png_bytep *rows;    /* row pointers into raster */
	uint8_t *raster;    /* the decoded image, HWC */
	int channels, width, height;
	/* set instead of a libpng message for the errors found here */
	cnn_status status;
	char why[200];
} png_rctx;

/* libpng's read callback: from the file's bytes in memory; a short read is
 * "unexpected end of file". */
static void png_on_read(png_structp png, png_bytep data, size_t n)
{
	png_rctx *c = png_get_io_ptr(png);
	if (n > c->file_size - c->pos)
		png_error(png, "unexpected end of file");
	memcpy(data, c->buf + c->pos, n);
	c->pos += n;
}

/* Refuses what cannot be read as said in cnn.h and sets up libpng's
 * transformations to 8-bit grey or RGB. Returns 0, or -1 with c->status and
 * c->why set. */
static int png_setup(png_structp png, png_infop info, png_rctx *c)
{
	png_uint_32 w = png_get_image_width(png, info);
	png_uint_32 h = png_get_image_height(png, info);
	int color = png_get_color_type(png, info);
	int depth = png_get_bit_depth(png, info);
	uint64_t stored_row;

	c->status = CNN_ERR_DATA;
	if (color & PNG_COLOR_MASK_ALPHA) {
		snprintf(c->why, sizeof c->why,
		         "has an alpha channel; save it without transparency "
		         "(flatten it) to use it");
		return -1;
	}
	if (png_get_valid(png, info, PNG_INFO_tRNS)) {
		snprintf(c->why, sizeof c->why,
		         "has an alpha channel (transparency in a tRNS chunk); "
		         "save it without transparency to use it");
		return -1;
	}
	if (w < 1 || w > IMAGE_MAX_SIDE || h < 1 || h > IMAGE_MAX_SIDE) {
		snprintf(c->why, sizeof c->why,
		         "PNG size %lux%lu is out of range (1..%d each)",
		         (unsigned long)w, (unsigned long)h, IMAGE_MAX_SIDE);
		return -1;
	}
	c->width = (int)w;
	c->height = (int)h;
	c->channels = color == PNG_COLOR_TYPE_GRAY ? 1 : 3;
	if ((uint64_t)w * h > IMAGE_MAX_BYTES / (uint64_t)c->channels) {
		snprintf(c->why, sizeof c->why,
		         "PNG image %lux%lu with %d channels is too large "
		         "(at most %zu bytes)",
		         (unsigned long)w, (unsigned long)h, c->channels,
		         IMAGE_MAX_BYTES);
		return -1;
	}
	/* deflate compresses at most about 1032:1: a file too short to hold
	 * the raster it claims is refused before the raster is allocated. */
	stored_row =
	    1 +
	    ((uint64_t)w * png_get_channels(png, info) * (uint64_t)depth + 7) /
	        8;
	if (stored_row * h / 1032 > (uint64_t)c->file_size) {
		snprintf(c->why, sizeof c->why,
		         "truncated or corrupt PNG: %zu bytes cannot hold a "
		         "%lux%lu image",
		         c->file_size, (unsigned long)w, (unsigned long)h);
		return -1;
	}
	if (color == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
		png_set_scale_16(png); /* rounds: v * 255 / 65535 */
#else
		png_set_strip_16(png); /* the high byte */
#endif
	(void)png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != (size_t)w * (size_t)c->channels) {
		c->status = CNN_ERR_USAGE;
		snprintf(c->why, sizeof c->why,
		         "internal error: libpng gives %zu bytes per row, "
		         "expected %zu",
		         (size_t)png_get_rowbytes(png, info),
		         (size_t)w * (size_t)c->channels);
		return -1;
	}
	return 0;
}

/* Decodes the PNG file in c->buf (its signature already checked) into
 * c->raster, HWC. Returns 0; -1 with c->status and c->why set for errors
 * found here; -2 with libpng's message in c->e.msg. Whatever it allocated
 * stays in c for the caller to free. */
static int png_decode(png_rctx *c)
{
	png_structp png;
	png_infop info;
	size_t row;
	int y, r;

	/* png and info are set before setjmp and never after (see
	 * png_encode); everything else that changes is in *c. */
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c->e, png_on_error,
	                             png_on_warning);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		c->status = CNN_ERR_NOMEM;
		snprintf(c->why, sizeof c->why, "out of memory");
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		return -2;
	}
	png_set_read_fn(png, c, png_on_read);
	png_set_sig_bytes(png, 8);
	/* libpng's own limits are lifted to the format's: png_setup bounds
	 * the size with a clearer message. */
	png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
	png_read_info(png, info);
	r = png_setup(png, info, c);
	if (r == 0) {
		row = (size_t)c->width * (size_t)c->channels;
		c->raster = malloc(row * (size_t)c->height);
		c->rows = malloc((size_t)c->height * sizeof *c->rows);
		if (!c->raster || !c->rows) {
			c->status = CNN_ERR_NOMEM;
			snprintf(c->why, sizeof c->why,
			         "out of memory (reading %zu bytes)",
			         row * (size_t)c->height);
			r = -1;
		}
	}
	if (r == 0) {
		for (y = 0; y < c->height; y++)
			c->rows[y] = c->raster + (size_t)y * row;
		png_read_image(png, c->rows);
		png_read_end(png, NULL);
	}
	png_destroy_read_struct(&png, &info, NULL);
	return r;
}

/* HWC to CHW: a new 3 x plane array from an interleaved one (NULL out of
 * memory). */
static uint8_t *png_planes(const uint8_t *hwc, size_t plane)
{
	uint8_t *chw = malloc(3 * plane);
	size_t i;
	int k;

	if (chw)
		for (i = 0; i < plane; i++)
			for (k = 0; k < 3; k++)
				chw[k * plane + i] = hwc[3 * i + k];
	return chw;
}

/* Decodes a PNG held in memory into CHW bytes (contract in image.h). */
cnn_status cnn_png_decode(const char *path, const uint8_t *buf, size_t len,
                          uint8_t **pixels, int *channels, int *width,
                          int *height, cnn_error *err)
{
	png_rctx c;
	cnn_status status = CNN_OK;
	size_t plane;
	int r;

	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
		return cnn_err_file(err, CNN_ERR_DATA, path, "not a PNG file");
	memset(&c, 0, sizeof c);
	c.buf = buf;
	c.file_size = len;
	c.pos = 8;
	r = png_decode(&c);
	if (r == -1)
		status = cnn_err_file(err, c.status, path, "%s", c.why);
	else if (r == -2)
		status = cnn_err_file(err, CNN_ERR_DATA, path,
		                      "truncated or corrupt PNG: %s", c.e.msg);
	free(c.rows);
	if (status != CNN_OK) {
		free(c.raster);
		return status;
	}
	if (c.channels == 3) {
		plane = (size_t)c.width * (size_t)c.height;
		*pixels = png_planes(c.raster, plane);
		free(c.raster);
		if (!*pixels)
			return cnn_err_file(err, CNN_ERR_NOMEM, path,
			                    "out of memory (reading %zu bytes)",
			                    3 * plane);
	} else {
		*pixels = c.raster;
	}
	*channels = c.channels;
	*width = c.width;
	*height = c.height;
	return CNN_OK;
}

/* Reads a PNG file into CHW bytes (contract in cnn.h). */
cnn_status cnn_image_read_png(const char *path, uint8_t **pixels, int *channels,
                              int *width, int *height, cnn_error *err)
{
	return cnn_image_read_with(cnn_png_decode, "cnn_image_read_png", path,
	                           pixels, channels, width, height, err);
}

#else /* !HAVE_PNG */

int cnn_have_png(void)
{
	return 0;
}

static cnn_status no_png(const char *path, cnn_error *err)
{
	return cnn_err_file(err, CNN_ERR_USAGE, path,
	                    "this libcnn was built without libpng; install "
	                    "libpng-dev and rebuild");
}

cnn_status cnn_png_decode(const char *path, const uint8_t *buf, size_t len,
                          uint8_t **pixels, int *channels, int *width,
                          int *height, cnn_error *err)
{
	(void)buf;
	(void)len;
	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	return no_png(path, err);
}

cnn_status cnn_image_read_png(const char *path, uint8_t **pixels, int *channels,
                              int *width, int *height, cnn_error *err)
{
	cnn_err_clear(err);
	*pixels = NULL;
	*channels = *width = *height = 0;
	return no_png(path, err);
}

cnn_status cnn_image_write_png(const char *path, const uint8_t *pixels,
                               int width, int height, cnn_error *err)
{
	(void)pixels;
	(void)width;
	(void)height;
	cnn_err_clear(err);
	return no_png(path, err);
}

#endif /* HAVE_PNG */

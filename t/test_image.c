/*
 * test_image.c - single images: the PGM and PNG writers and readers.
 *
 * Round trips through cnn_image_write_pgm/png and cnn_image_read_pgm/png on
 * odd sizes; PNG files of every kind written here with libpng directly
 * (grey 1/2/4/8/16-bit, RGB 8/16, palette, interlaced) read back pixel by
 * pixel, CHW for RGB; transparency refused; damaged files (not a PNG,
 * truncated, a flipped IDAT byte, absurd sizes) and failed writes, each
 * checked by its status and whole formatted message. Built without libpng,
 * the PNG functions must refuse with CNN_ERR_USAGE.
 *
 * JPEG (with libjpeg): files written here with libjpeg directly (grey and
 * colour, baseline and progressive, 4:4:4 and 4:2:0) read back within a
 * few levels, also by several threads at once; truncated files, garbage
 * after SOI, absurd sizes, CMYK and YCCK refused; t/pgm2jpeg's output.
 * Without libjpeg the JPEG functions must refuse with CNN_ERR_USAGE. Every
 * format: cnn_image_sniff, cnn_image_read and cnn_image_decode (the same
 * answers), and cnn_image_fit's channel and bilinear rules on cases worked
 * by hand. Fixtures go into a fresh folder under /tmp, removed at the
 * end.
 */
#define _POSIX_C_SOURCE 200809L

#include <config.h>

#include "cnn.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_PNG
#include <png.h>
#include <zlib.h>
#endif
#ifdef HAVE_JPEG
#include <pthread.h>
#include <stdio.h>

#include <jpeglib.h>
#endif

#include "image.h"

/* The one-line message of err. */
static const char *msg(const cnn_error *err)
{
	static char buf[1024];
	return cnn_error_string(err, buf, sizeof buf);
}

/* Whether err is status with the message "DIR/name: text". */
static int is_error(const cnn_error *err, cnn_status st, cnn_status want,
                    const char *name, const char *text)
{
	char expect[1024];
	snprintf(expect, sizeof expect, "%s: %s", P(name), text);
	if (st != want || err->status != want || strcmp(msg(err), expect)) {
		diag("status %d (want %d): \"%s\"", (int)st, (int)want,
		     msg(err));
		diag("expected \"%s\"", expect);
		return 0;
	}
	return 1;
}

/* n skipped test points (TAP "# SKIP"), with the reason. */
TAP_UNUSED static void skip_points(int n, const char *why)
{
	while (n-- > 0) {
		tap_run++;
		printf("ok %d # SKIP %s\n", tap_run, why);
	}
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(P(name), "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", P(name));
		exit(1);
	}
}

/* How many entries of folder d (dir itself when NULL) contain ".tmp.". */
static int count_temps(const char *d)
{
	DIR *dp = opendir(d ? d : dir);
	struct dirent *e;
	int n = 0;
	if (!dp)
		return 0;
	while ((e = readdir(dp)))
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(dp);
	return n;
}

/* Removes every file in dir, then dir. */
static void cleanup(void)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	if (dp) {
		while ((e = readdir(dp)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlink(P(e->d_name));
		closedir(dp);
	}
	rmdir(dir);
}

/* A w x h test pattern with every byte value used. */
static uint8_t *pattern(int w, int h, unsigned seed)
{
	uint8_t *p = malloc((size_t)w * (size_t)h);
	size_t i;
	for (i = 0; i < (size_t)w * (size_t)h; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
	return p;
}

/* ======================================================================== */
/* PGM                                                                      */

static void test_pgm_roundtrip(void)
{
	static const int sizes[][2] = {{1, 1}, {3, 7}, {28, 28}};
	cnn_error err;
	cnn_status st;
	size_t k, len;
	char head[32];

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		int w = sizes[k][0], h = sizes[k][1], rw, rh;
		uint8_t *px = pattern(w, h, (unsigned)k), *back, *file;
		st = cnn_image_write_pgm(P("rt.pgm"), px, w, h, &err);
		ok(st == CNN_OK, "pgm %dx%d: written (%s)", w, h,
		   st ? msg(&err) : "ok");
		file = slurp(P("rt.pgm"), &len);
		snprintf(head, sizeof head, "P5\n%d %d\n255\n", w, h);
		ok(file && len == strlen(head) + (size_t)(w * h) &&
		       !memcmp(file, head, strlen(head)) &&
		       !memcmp(file + strlen(head), px, (size_t)(w * h)),
		   "pgm %dx%d: the file is a P5 header and the raster", w, h);
		free(file);
		st = cnn_image_read_pgm(P("rt.pgm"), &back, &rw, &rh, &err);
		ok(st == CNN_OK && rw == w && rh == h &&
		       !memcmp(back, px, (size_t)(w * h)),
		   "pgm %dx%d: read back identical", w, h);
		free(back);
		free(px);
	}
	ok(count_temps(NULL) == 0, "pgm: no temporary file is left");
}

/* The write failures shared by both formats. write is the writer, ext the
 * file ending, what the message's name of the format. */
typedef cnn_status (*writer_fn)(const char *, const uint8_t *, int, int,
                                cnn_error *);

static void test_write_errors(writer_fn write, const char *ext,
                              const char *what)
{
	uint8_t *px = pattern(28, 28, 3), *old, *now;
	size_t old_len, now_len;
	char name[64], text[600];
	cnn_error err;
	cnn_status st;

	snprintf(name, sizeof name, "missing/x.%s", ext);
	st = write(P(name), px, 28, 28, &err);
	snprintf(text, sizeof text,
	         "cannot write %s image: No such file or directory", what);
	ok(is_error(&err, st, CNN_ERR_IO, name, text) && count_temps(NULL) == 0,
	   "%s: writing into a missing folder: %s", ext, msg(&err));

	snprintf(name, sizeof name, "old.%s", ext);
	st = write(P(name), px, 3, 7, &err);
	old = slurp(P(name), &old_len);
	ok(st == CNN_OK && old, "%s: the old file is written", ext);
	{
		/* A write that fails half way (a file size limit, as a full
		 * disk would): the old file must survive intact. */
		struct rlimit was, lim;
		void (*h)(int) = signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &was);
		lim = was;
		lim.rlim_cur = 100;
		setrlimit(RLIMIT_FSIZE, &lim);
		st = write(P(name), px, 28, 28, &err);
		setrlimit(RLIMIT_FSIZE, &was);
		signal(SIGXFSZ, h);
	}
	snprintf(text, sizeof text, "cannot write %s image: File too large",
	         what);
	ok(is_error(&err, st, CNN_ERR_IO, name, text),
	   "%s: a write that fails half way: %s", ext, msg(&err));
	now = slurp(P(name), &now_len);
	ok(now && now_len == old_len && !memcmp(now, old, old_len),
	   "%s: ... leaves the old file intact", ext);
	ok(count_temps(NULL) == 0, "%s: ... and no temporary file", ext);
	free(old);
	free(now);

	snprintf(name, sizeof name, "folder.%s", ext);
	mkdir(P(name), 0700);
	st = write(P(name), px, 1, 1, &err);
	snprintf(text, sizeof text, "cannot write %s image: not a regular file",
	         what);
	ok(is_error(&err, st, CNN_ERR_IO, name, text),
	   "%s: writing over a folder: %s", ext, msg(&err));
	rmdir(P(name));

	st = write(P(name), px, 0, 7, &err);
	ok(st == CNN_ERR_USAGE && strstr(msg(&err), "out of range"),
	   "%s: a 0x7 image is a usage error: %s", ext, msg(&err));
	st = write(P(name), NULL, 1, 1, &err);
	ok(st == CNN_ERR_USAGE && strstr(msg(&err), "no pixels given"),
	   "%s: no pixels is a usage error: %s", ext, msg(&err));
	free(px);
}

#ifdef HAVE_PNG
/* ======================================================================== */
/* PNG files written with libpng directly                                   */

typedef struct png_spec {
	int w, h, color, depth, interlace;
	const uint16_t *samples; /* w * h * samples-per-pixel, row by row */
	const png_color *palette;
	int n_palette;
	const png_byte *trns; /* palette alpha, or NULL */
	int n_trns;
	const png_color_16 *trns_color; /* grey/RGB tRNS, or NULL */
} png_spec;

static int samples_per_pixel(int color)
{
	switch (color) {
	case PNG_COLOR_TYPE_GRAY:
	case PNG_COLOR_TYPE_PALETTE:
		return 1;
	case PNG_COLOR_TYPE_GRAY_ALPHA:
		return 2;
	case PNG_COLOR_TYPE_RGB:
		return 3;
	default:
		return 4;
	}
}

/* Packs the samples into PNG rows (MSB first below 8 bits, big-endian at
 * 16) and writes the file with libpng. Returns 0 on success. */
static int make_png(const char *name, const png_spec *s)
{
	int spp = samples_per_pixel(s->color), x, y, k;
	size_t rowbytes = ((size_t)s->w * spp * s->depth + 7) / 8;
	uint8_t *data = calloc((size_t)s->h, rowbytes);
	png_bytep *rows = malloc((size_t)s->h * sizeof *rows);
	FILE *f = fopen(P(name), "wb");
	png_structp png =
	    png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	int r = -1;

	if (!data || !rows || !f || !info)
		goto out;
	for (y = 0; y < s->h; y++) {
		uint8_t *row = data + (size_t)y * rowbytes;
		rows[y] = row;
		for (x = 0; x < s->w * spp; x++) {
			unsigned v = s->samples[(size_t)y * s->w * spp + x];
			if (s->depth == 16) {
				row[2 * x] = (uint8_t)(v >> 8);
				row[2 * x + 1] = (uint8_t)v;
			} else if (s->depth == 8) {
				row[x] = (uint8_t)v;
			} else {
				k = x * s->depth;
				row[k / 8] |=
				    (uint8_t)(v << (8 - s->depth - k % 8));
			}
		}
	}
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth,
	             s->color,
	             s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->palette)
		png_set_PLTE(png, info, s->palette, s->n_palette);
	if (s->trns || s->trns_color)
		png_set_tRNS(png, info, s->trns, s->n_trns, s->trns_color);
	png_write_info(png, info);
	png_write_image(png, rows);
	png_write_end(png, info);
	r = 0;
out:
	png_destroy_write_struct(&png, &info);
	if (f && fclose(f) != 0)
		r = -1;
	free(rows);
	free(data);
	if (r)
		printf("Bail out! cannot write the PNG %s\n", P(name));
	return r;
}

/* Reads dir/name and checks that it gives channels planes of w x h bytes
 * equal to want (CHW). */
static int read_is(const char *name, int channels, int w, int h,
                   const uint8_t *want)
{
	uint8_t *px;
	int c, rw, rh;
	cnn_error err;
	cnn_status st = cnn_image_read_png(P(name), &px, &c, &rw, &rh, &err);
	int good = st == CNN_OK && c == channels && rw == w && rh == h &&
	           !memcmp(px, want, (size_t)channels * w * h);
	if (st != CNN_OK)
		diag("%s", msg(&err));
	else if (!good)
		diag("got %d channels, %dx%d", c, rw, rh);
	free(px);
	return good;
}

/* Greyscale at every bit depth, plain and interlaced, on odd sizes: each
 * value v of a d-bit image reads as v * 255 / (2^d - 1), rounded (16-bit:
 * libpng's png_set_scale_16 rounds exactly). */
static void test_png_grey(void)
{
	static const int depths[] = {1, 2, 4, 8, 16};
	static const int sizes[][2] = {{1, 1}, {3, 7}, {28, 28}, {256, 256}};
	size_t d, z, i;
	int il;

	for (d = 0; d < sizeof depths / sizeof depths[0]; d++) {
		for (z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
			for (il = 0; il < 2; il++) {
				int w = sizes[z][0], h = sizes[z][1];
				unsigned max = (1u << depths[d]) - 1;
				size_t n = (size_t)w * h;
				uint16_t *s;
				uint8_t *want;
				if (w == 256 && depths[d] != 16)
					continue; /* only 16-bit needs all */
				s = malloc(n * sizeof *s);
				want = malloc(n);
				png_spec sp = {
				    w,         h,   PNG_COLOR_TYPE_GRAY,
				    depths[d], il,  s,
				    NULL,      0,   NULL,
				    0,         NULL};
				for (i = 0; i < n; i++) {
					/* 256x256: every 16-bit value */
					s[i] =
					    (uint16_t)(w == 256
					                   ? i
					                   : (i * 2654435761u >>
					                      7) &
					                         max);
					want[i] =
					    (uint8_t)((s[i] * 255u + max / 2) /
					              max);
				}
				if (make_png("grey.png", &sp) == 0)
					ok(read_is("grey.png", 1, w, h, want),
					   "png grey %d-bit %dx%d%s", depths[d],
					   w, h, il ? " interlaced" : "");
				free(s);
				free(want);
			}
		}
	}
}

/* RGB at 8 and 16 bits and palette images: three planes R, G, B. */
static void test_png_colour(void)
{
	static const int sizes[][2] = {{1, 1}, {3, 7}, {28, 28}};
	static const png_color pal[5] = {
	    {0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {1, 2, 3}, {250, 128, 7}};
	size_t z, i;
	int depth, il, k, pd;

	for (z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		int w = sizes[z][0], h = sizes[z][1];
		size_t n = (size_t)w * h;
		uint16_t *s = malloc(3 * n * sizeof *s);
		uint8_t *want = malloc(3 * n);
		for (depth = 8; depth <= 16; depth += 8) {
			for (il = 0; il < 2; il++) {
				unsigned max = (1u << depth) - 1;
				png_spec sp = {w,     h,   PNG_COLOR_TYPE_RGB,
				               depth, il,  s,
				               NULL,  0,   NULL,
				               0,     NULL};
				for (i = 0; i < n; i++)
					for (k = 0; k < 3; k++) {
						unsigned v =
						    (unsigned)((i * 7919u +
						                (unsigned)k *
						                    40503u) *
						                   2654435761u >>
						               9) &
						    max;
						s[3 * i + k] = (uint16_t)v;
						want[k * n + i] =
						    (uint8_t)((v * 255u +
						               max / 2) /
						              max);
					}
				if (make_png("rgb.png", &sp) == 0)
					ok(read_is("rgb.png", 3, w, h, want),
					   "png RGB %d-bit %dx%d%s: CHW", depth,
					   w, h, il ? " interlaced" : "");
			}
		}
		for (pd = 1; pd <= 8; pd *= 2) {
			int np = pd == 1 ? 2 : pd == 2 ? 4 : 5;
			png_spec sp = {w,   h,       PNG_COLOR_TYPE_PALETTE,
			               pd,  pd == 4, s,
			               pal, np,      NULL,
			               0,   NULL};
			for (i = 0; i < n; i++) {
				s[i] = (uint16_t)((i * 31u + 3) % (unsigned)np);
				want[i] = pal[s[i]].red;
				want[n + i] = pal[s[i]].green;
				want[2 * n + i] = pal[s[i]].blue;
			}
			if (make_png("pal.png", &sp) == 0)
				ok(read_is("pal.png", 3, w, h, want),
				   "png palette %d-bit %dx%d%s: CHW", pd, w, h,
				   pd == 4 ? " interlaced" : "");
		}
		free(s);
		free(want);
	}
}

/* The cnn_image_write_png files read back, by our reader and as 8-bit
 * greyscale PNGs by libpng. */
static void test_png_roundtrip(void)
{
	static const int sizes[][2] = {{1, 1}, {3, 7}, {28, 28}};
	cnn_error err;
	cnn_status st;
	size_t k;

	ok(cnn_have_png() == 1, "cnn_have_png() is 1");
	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		int w = sizes[k][0], h = sizes[k][1];
		uint8_t *px = pattern(w, h, (unsigned)k + 7);
		png_image img;
		st = cnn_image_write_png(P("rt.png"), px, w, h, &err);
		ok(st == CNN_OK, "png %dx%d: written (%s)", w, h,
		   st ? msg(&err) : "ok");
		ok(read_is("rt.png", 1, w, h, px),
		   "png %dx%d: read back identical", w, h);
		memset(&img, 0, sizeof img);
		img.version = PNG_IMAGE_VERSION;
		ok(png_image_begin_read_from_file(&img, P("rt.png")) &&
		       img.width == (png_uint_32)w &&
		       img.height == (png_uint_32)h &&
		       img.format == PNG_FORMAT_GRAY,
		   "png %dx%d: libpng sees 8-bit greyscale", w, h);
		png_image_free(&img);
		free(px);
	}
	ok(count_temps(NULL) == 0, "png: no temporary file is left");
}

/* Images with transparency are refused. */
static void test_png_alpha(void)
{
	static const png_color pal[2] = {{0, 0, 0}, {255, 255, 255}};
	static const png_byte trns[1] = {0};
	static const png_color_16 grey_trns = {0, 0, 0, 0, 5};
	static uint16_t s[3 * 7 * 4];
	static const char *const alpha =
	    "has an alpha channel; save it without transparency (flatten "
	    "it) to use it";
	static const char *const trns_text =
	    "has an alpha channel (transparency in a tRNS chunk); save it "
	    "without transparency to use it";
	const png_spec specs[] = {
	    {3, 7, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, s, NULL, 0, NULL, 0, NULL},
	    {3, 7, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 1, s, NULL, 0, NULL, 0, NULL},
	    {3, 7, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, s, NULL, 0, NULL, 0, NULL},
	    {3, 7, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, s, NULL, 0, NULL, 0, NULL},
	    {3, 7, PNG_COLOR_TYPE_PALETTE, 8, 0, s, pal, 2, trns, 1, NULL},
	    {3, 7, PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL, 0, &grey_trns},
	};
	static const char *const what[] = {
	    "grey+alpha 8-bit",  "grey+alpha 16-bit interlaced",
	    "RGBA 8-bit",        "RGBA 16-bit",
	    "palette with tRNS", "grey with tRNS"};
	size_t k;
	uint8_t *px;
	int c, w, h;
	cnn_error err;
	cnn_status st;

	for (k = 0; k < sizeof specs / sizeof specs[0]; k++) {
		if (make_png("alpha.png", &specs[k]) != 0)
			continue;
		st = cnn_image_read_png(P("alpha.png"), &px, &c, &w, &h, &err);
		ok(is_error(&err, st, CNN_ERR_DATA, "alpha.png",
		            k < 4 ? alpha : trns_text) &&
		       px == NULL,
		   "png %s refused: %s", what[k], msg(&err));
	}
}

/* Stores v big-endian at p. */
static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Writes dir/name as good with its IHDR width and height replaced (and the
 * chunk's CRC fixed). */
static void with_size(const char *name, const uint8_t *good, size_t len,
                      uint32_t w, uint32_t h)
{
	uint8_t *b = malloc(len);
	memcpy(b, good, len);
	put_be32(b + 16, w);
	put_be32(b + 20, h);
	put_be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
	write_file(name, b, len);
	free(b);
}

/* Damaged and hostile files: every error with its exact message. */
static void test_png_errors(void)
{
	uint16_t s[28 * 28];
	png_spec sp = {28, 28,  PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL,
	               0,  NULL};
	static const size_t cuts[] = {8, 12, 20, 33, 45, 60, 0, 0};
	uint8_t *good, *px, *b;
	size_t len, i, k, idat = 0;
	int c, w, h;
	char text[600];
	cnn_error err;
	cnn_status st;

	st = cnn_image_read_png(P("none.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_IO, "none.png",
	            "cannot open: No such file or directory") &&
	       px == NULL,
	   "png: a missing file: %s", msg(&err));

	st = cnn_image_read_png(dir, &px, &c, &w, &h, &err);
	snprintf(text, sizeof text, "%s: cannot read: Is a directory", dir);
	ok(st == CNN_ERR_IO && !strcmp(msg(&err), text), "png: a folder: %s",
	   msg(&err));

	write_file("text.png", "hello, world\n", 13);
	st = cnn_image_read_png(P("text.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "text.png", "not a PNG file"),
	   "png: a text file: %s", msg(&err));
	write_file("empty.png", "", 0);
	st = cnn_image_read_png(P("empty.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "empty.png", "not a PNG file"),
	   "png: an empty file: %s", msg(&err));
	write_file("short.png", "\x89PNG", 4);
	st = cnn_image_read_png(P("short.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "short.png", "not a PNG file"),
	   "png: half a signature: %s", msg(&err));
	st = cnn_image_write_pgm(P("pgm.png"), (const uint8_t *)"ab", 2, 1,
	                         &err);
	st = cnn_image_read_png(P("pgm.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "pgm.png", "not a PNG file"),
	   "png: a PGM file: %s", msg(&err));

	for (i = 0; i < 28 * 28; i++)
		s[i] = (uint16_t)((i * 2654435761u) >> 24);
	if (make_png("good.png", &sp) != 0)
		return;
	good = slurp(P("good.png"), &len);
	if (!ok(good && len > 100, "png: the good file (%zu bytes)", len))
		return;
	/* cut at the signature, in IHDR, after it, in IDAT, before and in
	 * IEND */
	for (i = 8; i + 8 < len; i++)
		if (!memcmp(good + i, "IDAT", 4)) {
			idat = i - 4;
			break;
		}
	{
		size_t all[sizeof cuts / sizeof cuts[0]];
		memcpy(all, cuts, sizeof cuts);
		all[6] = len - 12;
		all[7] = len - 1;
		for (k = 0; k < sizeof all / sizeof all[0]; k++) {
			write_file("cut.png", good, all[k]);
			st = cnn_image_read_png(P("cut.png"), &px, &c, &w, &h,
			                        &err);
			ok(is_error(&err, st, CNN_ERR_DATA, "cut.png",
			            "truncated or corrupt PNG: unexpected end "
			            "of file") &&
			       px == NULL,
			   "png: cut at %zu of %zu bytes: %s", all[k], len,
			   msg(&err));
		}
	}

	/* A flipped byte in IDAT's data: zlib's check of the stream, which
	 * ends in this chunk, fails before libpng reaches the chunk's CRC;
	 * one in IDAT's CRC: libpng's CRC error. */
	ok(idat > 0, "png: the good file has an IDAT at %zu", idat);
	b = malloc(len);
	memcpy(b, good, len);
	b[idat + 8 + 10] ^= 0x40;
	write_file("flip.png", b, len);
	st = cnn_image_read_png(P("flip.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "flip.png",
	            "truncated or corrupt PNG: IDAT: incorrect data check") &&
	       px == NULL,
	   "png: a flipped byte in IDAT's data: %s", msg(&err));
	memcpy(b, good, len);
	b[idat + 8 +
	  ((size_t)good[idat] << 24 | (size_t)good[idat + 1] << 16 |
	   (size_t)good[idat + 2] << 8 | good[idat + 3])] ^= 0x01;
	write_file("flip.png", b, len);
	free(b);
	st = cnn_image_read_png(P("flip.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "flip.png",
	            "truncated or corrupt PNG: IDAT: CRC error") &&
	       px == NULL,
	   "png: a flipped byte in IDAT's CRC: %s", msg(&err));

	with_size("wide.png", good, len, 70000, 28);
	st = cnn_image_read_png(P("wide.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "wide.png",
	            "PNG size 70000x28 is out of range (1..65536 each)"),
	   "png: IHDR width 70000: %s", msg(&err));
	with_size("tall.png", good, len, 28, 0x7fffffff);
	st = cnn_image_read_png(P("tall.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "tall.png",
	            "PNG size 28x2147483647 is out of range (1..65536 "
	            "each)"),
	   "png: IHDR height 2^31-1: %s", msg(&err));
	with_size("huge.png", good, len, 0x80000000u, 28);
	st = cnn_image_read_png(P("huge.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "huge.png",
	            "truncated or corrupt PNG: PNG unsigned integer out of "
	            "range"),
	   "png: IHDR width 2^31 (invalid PNG): %s", msg(&err));
	with_size("zero.png", good, len, 0, 28);
	st = cnn_image_read_png(P("zero.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "zero.png",
	            "truncated or corrupt PNG: Invalid IHDR data"),
	   "png: IHDR width 0: %s", msg(&err));
	with_size("big.png", good, len, 65536, 65536);
	st = cnn_image_read_png(P("big.png"), &px, &c, &w, &h, &err);
	snprintf(text, sizeof text,
	         "truncated or corrupt PNG: %zu bytes cannot hold a "
	         "65536x65536 image",
	         len);
	ok(is_error(&err, st, CNN_ERR_DATA, "big.png", text),
	   "png: a 65536x65536 IHDR in %zu bytes is refused before "
	   "allocating: %s",
	   len, msg(&err));
	free(good);
	{
		/* a 40000x40000 RGB header: 4.8 GB of raster */
		uint16_t t[3] = {1, 2, 3};
		png_spec rgb = {
		    1, 1, PNG_COLOR_TYPE_RGB, 8, 0, t, NULL, 0, NULL, 0, NULL};
		if (make_png("rgb1.png", &rgb) == 0 &&
		    (good = slurp(P("rgb1.png"), &len)) != NULL) {
			with_size("rgbbig.png", good, len, 40000, 40000);
			st = cnn_image_read_png(P("rgbbig.png"), &px, &c, &w,
			                        &h, &err);
			ok(is_error(&err, st, CNN_ERR_DATA, "rgbbig.png",
			            "PNG image 40000x40000 with 3 channels is "
			            "too large (at most 4294967296 bytes)"),
			   "png: a 40000x40000 RGB IHDR: %s", msg(&err));
			free(good);
		}
	}
}

#else /* !HAVE_PNG */

/* Without libpng every PNG function refuses, naming the path. */
static void test_no_png(void)
{
	static const char *const text =
	    "this libcnn was built without libpng; install libpng-dev and "
	    "rebuild";
	uint8_t px1 = 7, *px = &px1;
	int c = 1, w = 1, h = 1;
	cnn_error err;
	cnn_status st;

	ok(cnn_have_png() == 0, "cnn_have_png() is 0");
	st = cnn_image_write_png(P("x.png"), px, 1, 1, &err);
	ok(is_error(&err, st, CNN_ERR_USAGE, "x.png", text) &&
	       access(P("x.png"), F_OK) != 0,
	   "no png: writing: %s", msg(&err));
	write_file("x.png", "\x89PNG\r\n\x1a\n", 8);
	st = cnn_image_read_png(P("x.png"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_USAGE, "x.png", text) && px == NULL &&
	       c == 0 && w == 0 && h == 0,
	   "no png: reading: %s", msg(&err));
}

#endif /* HAVE_PNG */

/* ======================================================================== */
/* Any format: cnn_image_sniff, cnn_image_decode, cnn_image_read            */

static void test_sniff(void)
{
	static const struct {
		const char *bytes;
		size_t len;
		cnn_image_kind kind;
		const char *what;
	} cases[] = {
	    {"P5\n1 1\n255\n\x07", 12, CNN_IMAGE_PGM, "a P5 PGM"},
	    {"P2 1 1 255 7", 12, CNN_IMAGE_PGM, "a P2 PGM"},
	    {"P5", 2, CNN_IMAGE_PGM, "a bare P5 (the PGM reader says more)"},
	    {"\x89PNG\r\n\x1a\n", 8, CNN_IMAGE_PNG, "the PNG signature"},
	    {"\x89PNG\r\n\x1a", 7, CNN_IMAGE_NONE, "7 bytes of it"},
	    {"\xff\xd8\xff\xe0", 4, CNN_IMAGE_JPEG, "a JPEG's SOI and APP0"},
	    {"\xff\xd8\xff", 3, CNN_IMAGE_JPEG, "FF D8 FF"},
	    {"\xff\xd8", 2, CNN_IMAGE_NONE, "FF D8 alone"},
	    {"P6\n1 1\n255\n", 11, CNN_IMAGE_NONE, "a PPM"},
	    {"BM", 2, CNN_IMAGE_NONE, "a BMP"},
	    {"\x1f\x8b\x08", 3, CNN_IMAGE_NONE, "gzip"},
	    {"", 0, CNN_IMAGE_NONE, "nothing"},
	};
	size_t k;

	for (k = 0; k < sizeof cases / sizeof cases[0]; k++)
		ok(cnn_image_sniff((const uint8_t *)cases[k].bytes,
		                   cases[k].len) == cases[k].kind,
		   "sniff: %s", cases[k].what);
	ok(cnn_image_sniff(NULL, 5) == CNN_IMAGE_NONE, "sniff: NULL");
}

/* Reads dir/name with cnn_image_read, and its bytes with cnn_image_decode:
 * both must give channels planes of w x h bytes within tol of want (CHW). */
static int any_is(const char *name, int channels, int w, int h,
                  const uint8_t *want, int tol)
{
	uint8_t *px, *px2, *file;
	int c, rw, rh, c2, w2, h2, worst = 0, good;
	size_t len, i, n = (size_t)channels * (size_t)w * (size_t)h;
	cnn_error err;
	cnn_status st = cnn_image_read(P(name), &px, &c, &rw, &rh, &err);

	if (st != CNN_OK) {
		diag("%s", msg(&err));
		return 0;
	}
	good = c == channels && rw == w && rh == h;
	for (i = 0; good && i < n; i++)
		if (abs((int)px[i] - (int)want[i]) > worst)
			worst = abs((int)px[i] - (int)want[i]);
	if (!good || worst > tol)
		diag("got %d channels, %dx%d, worst difference %d (at most "
		     "%d)",
		     c, rw, rh, worst, tol);
	good = good && worst <= tol;
	file = slurp(P(name), &len);
	st = cnn_image_decode(P(name), file, len, &px2, &c2, &w2, &h2, &err);
	if (st != CNN_OK || c2 != c || w2 != rw || h2 != rh ||
	    memcmp(px, px2, n)) {
		diag("cnn_image_decode gives another answer");
		good = 0;
	}
	free(px2);
	free(file);
	free(px);
	return good;
}

/* cnn_image_read on PGM and PNG files, and the files it refuses. */
static void test_read_any(void)
{
	uint8_t *px = pattern(5, 3, 1), *out;
	int c = 9, w = 9, h = 9;
	cnn_error err;
	cnn_status st;

	cnn_image_write_pgm(P("any.pgm"), px, 5, 3, &err);
	ok(any_is("any.pgm", 1, 5, 3, px, 0), "read: a PGM, 1 channel");
	write_file("ascii.img", "P2 2 1 255 7 8", 14);
	ok(any_is("ascii.img", 1, 2, 1, (const uint8_t *)"\x07\x08", 0),
	   "read: a P2 PGM named .img");
#ifdef HAVE_PNG
	cnn_image_write_png(P("any.png"), px, 5, 3, &err);
	ok(any_is("any.png", 1, 5, 3, px, 0), "read: a PNG, 1 channel");
	cnn_image_write_png(P("png.pgm"), px, 5, 3, &err);
	ok(any_is("png.pgm", 1, 5, 3, px, 0),
	   "read: a PNG named .pgm (the bytes decide)");
#endif
	write_file("text.jpg", "hello, world\n", 13);
	st = cnn_image_read(P("text.jpg"), &out, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "text.jpg",
	            "not a PGM, PNG or JPEG image") &&
	       !out && !c && !w && !h,
	   "read: a text file: %s", msg(&err));
	write_file("empty.img", "", 0);
	st = cnn_image_read(P("empty.img"), &out, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "empty.img",
	            "not a PGM, PNG or JPEG image"),
	   "read: an empty file: %s", msg(&err));
	write_file("gz.pgm", "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10);
	st = cnn_image_read(P("gz.pgm"), &out, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "gz.pgm",
	            "not a PGM, PNG or JPEG image"),
	   "read: gzip is not an image: %s", msg(&err));
	st = cnn_image_read(P("none.jpg"), &out, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_IO, "none.jpg",
	            "cannot open: No such file or directory"),
	   "read: a missing file: %s", msg(&err));
	write_file("bad.pgm", "P5 2 1 255\n\x07", 12);
	st = cnn_image_read(P("bad.pgm"), &out, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "bad.pgm",
	            "truncated PGM data (1 of 2 bytes)") &&
	       !out && !c,
	   "read: a truncated PGM, the PGM reader's error: %s", msg(&err));
	st = cnn_image_decode("mem", (const uint8_t *)"GIF89a", 6, &out, &c, &w,
	                      &h, &err);
	ok(st == CNN_ERR_DATA &&
	       !strcmp(msg(&err), "mem: not a PGM, PNG or JPEG image"),
	   "decode: a GIF: %s", msg(&err));
	free(px);
}

/* ======================================================================== */
/* cnn_image_fit                                                            */

/* Fits src (c x h x w) to shape; 1 when it succeeds and gives want. */
static int fit_is(const uint8_t *src, int c, int w, int h, int sc, int sh,
                  int sw, cnn_resize rs, const uint8_t *want)
{
	int shape[3] = {sc, sh, sw};
	size_t n = (size_t)sc * (size_t)sh * (size_t)sw, i;
	uint8_t *dst = malloc(n);
	cnn_error err;
	cnn_status st = cnn_image_fit("x", src, c, w, h, shape, rs, dst, &err);
	int good = st == CNN_OK && !memcmp(dst, want, n);

	if (st != CNN_OK)
		diag("%s", msg(&err));
	else if (!good)
		for (i = 0; i < n; i++)
			if (dst[i] != want[i])
				diag("byte %zu: %d, expected %d", i, dst[i],
				     want[i]);
	free(dst);
	return good;
}

static void test_fit_channels(void)
{
	/* one RGB column of 7 pixels: planes R, G, B */
	static const uint8_t rgb[21] = {255, 0,   0,   255, 1, 100, 10,
	                                0,   255, 0,   255, 1, 150, 0,
	                                0,   0,   255, 255, 1, 200, 0};
	/* (299 R + 587 G + 114 B + 500) / 1000: 76.745, 150.185, 29.57, 255,
	 * 1, 141.25, 2.99 + 0.5 */
	static const uint8_t luma[7] = {76, 150, 29, 255, 1, 141, 3};
	static const uint8_t grey[3] = {0, 77, 255};
	static const uint8_t grey3[9] = {0, 77, 255, 0, 77, 255, 0, 77, 255};
	uint8_t dst[64];
	int shape[3] = {2, 7, 1};
	cnn_error err;
	cnn_status st;

	ok(fit_is(rgb, 3, 1, 7, 1, 7, 1, CNN_RESIZE_NONE, luma),
	   "fit: RGB to grey is BT.601 luma, rounded");
	ok(fit_is(grey, 1, 3, 1, 3, 1, 3, CNN_RESIZE_NONE, grey3),
	   "fit: grey to RGB copies the plane");
	ok(fit_is(rgb, 3, 7, 1, 3, 1, 7, CNN_RESIZE_BILINEAR, rgb),
	   "fit: the same shape is a copy");
	st = cnn_image_fit(P("a.png"), rgb, 3, 1, 7, shape, CNN_RESIZE_NONE,
	                   dst, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "a.png",
	            "image has 3 channels; the model expects 2 (only 1 and 3 "
	            "are converted)"),
	   "fit: 3 channels to 2 refused: %s", msg(&err));
	shape[0] = 1;
	st = cnn_image_fit(NULL, rgb, 4, 1, 5, shape, CNN_RESIZE_NONE, dst,
	                   &err);
	ok(st == CNN_ERR_DATA &&
	       !strcmp(msg(&err), "image: image has 4 channels; the model "
	                          "expects 1 (only 1 and 3 are converted)"),
	   "fit: 4 channels to 1 refused: %s", msg(&err));
}

static void test_fit_size(void)
{
	static const uint8_t sq[4] = {0, 100, 200, 255};
	/* worked by hand: columns and rows weigh (1, 0), (3/4, 1/4),
	 * (1/4, 3/4), (0, 1); e.g. byte 5 = 3/4 (3/4 0 + 1/4 100) + 1/4 (3/4
	 * 200 + 1/4 255) = 72.1875, byte 6 = 116.5625 */
	static const uint8_t up[16] = {0,   25,  75,  100, 50,  72,  117, 139,
	                               150, 167, 200, 216, 200, 214, 241, 255};
	/* 4x4 to 2x2: each output the mean of a 2x2 block, halves up */
	static const uint8_t four[16] = {0,   1,   10, 20, 2,   4,   30, 42,
	                                 100, 100, 7,  8,  100, 101, 9,  9};
	static const uint8_t down[4] = {2, 26, 100, 8};
	/* 3 to 7: weights 293, 1170, 0, 878, 1755 /2048 */
	static const uint8_t row3[3] = {0, 100, 200};
	static const uint8_t row7[7] = {0, 14, 57, 100, 143, 186, 200};
	/* 2 to 5: fx = 205 (204.8), 1024, 1843 (1843.2): 25.52, 127.5 (half
	 * up), 229.47; truncated or ceiled weights give 25 or 230 */
	static const uint8_t row2[2] = {0, 255};
	static const uint8_t row5[5] = {0, 26, 128, 229, 255};
	uint8_t flat[17 * 9], want[13 * 11], dst[64];
	int shape[3] = {1, 28, 28};
	cnn_error err;
	cnn_status st;

	ok(fit_is(sq, 1, 2, 2, 1, 4, 4, CNN_RESIZE_BILINEAR, up),
	   "fit: bilinear 2x2 to 4x4 (worked by hand)");
	ok(fit_is(four, 1, 4, 4, 1, 2, 2, CNN_RESIZE_BILINEAR, down),
	   "fit: bilinear 4x4 to 2x2 (block means, halves up)");
	ok(fit_is(row3, 1, 3, 1, 1, 1, 7, CNN_RESIZE_BILINEAR, row7),
	   "fit: bilinear 3x1 to 7x1 (weights rounded to 1/2048)");
	ok(fit_is(row2, 1, 2, 1, 1, 1, 5, CNN_RESIZE_BILINEAR, row5),
	   "fit: bilinear 2x1 to 5x1 (the weights' rounding)");
	memset(flat, 77, sizeof flat);
	memset(want, 77, sizeof want);
	ok(fit_is(flat, 1, 5, 3, 1, 11, 13, CNN_RESIZE_BILINEAR, want),
	   "fit: a constant image stays constant, 5x3 to 13x11");
	ok(fit_is(flat, 1, 17, 9, 1, 3, 4, CNN_RESIZE_BILINEAR, want),
	   "fit: ... and 17x9 to 4x3");
	memset(flat, 255, sizeof flat);
	memset(want, 255, sizeof want);
	ok(fit_is(flat, 3, 3, 2, 1, 5, 5, CNN_RESIZE_BILINEAR, want),
	   "fit: white RGB to grey and 3x2 to 5x5 stays 255");
	st = cnn_image_fit(P("b.jpg"), flat, 1, 5, 3, shape, CNN_RESIZE_NONE,
	                   dst, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "b.jpg",
	            "image is 5x3; the model expects 28x28 (set resize: "
	            "bilinear to scale it)"),
	   "fit: a size mismatch without resize: %s", msg(&err));
	shape[1] = 0;
	st = cnn_image_fit(NULL, flat, 1, 5, 3, shape, CNN_RESIZE_BILINEAR, dst,
	                   &err);
	ok(st == CNN_ERR_USAGE && strstr(msg(&err), "out of range"),
	   "fit: a shape of height 0 is a usage error: %s", msg(&err));
	shape[1] = 2;
	st =
	    cnn_image_fit(NULL, flat, 1, 5, 3, shape, (cnn_resize)7, dst, &err);
	ok(st == CNN_ERR_USAGE &&
	       !strcmp(msg(&err), "cnn_image_fit: unknown resize mode 7"),
	   "fit: an unknown resize mode: %s", msg(&err));
	st = cnn_image_fit(NULL, NULL, 1, 5, 3, shape, CNN_RESIZE_NONE, dst,
	                   &err);
	ok(st == CNN_ERR_USAGE &&
	       !strcmp(msg(&err), "cnn_image_fit: no image given"),
	   "fit: no image: %s", msg(&err));
}

#ifdef HAVE_JPEG
/* ======================================================================== */
/* JPEG files written with libjpeg directly                                 */

/* Writes dir/name: w x h pixels of comps interleaved samples in colour
 * space cs (JCS_GRAYSCALE, JCS_RGB, JCS_CMYK; jcs the file's own, e.g.
 * JCS_YCCK, or JCS_UNKNOWN for libjpeg's default), at quality q,
 * progressive or not, chroma subsampled (4:2:0) or not. 0 on success. */
static int make_jpeg(const char *name, const uint8_t *hwc, int w, int h,
                     int comps, J_COLOR_SPACE cs, J_COLOR_SPACE jcs, int q,
                     int progressive, int subsample)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(P(name), "wb");
	JSAMPROW row;
	int y, k;

	if (!f) {
		printf("Bail out! cannot write %s\n", P(name));
		return -1;
	}
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = comps;
	c.in_color_space = cs;
	jpeg_set_defaults(&c);
	if (jcs != JCS_UNKNOWN)
		jpeg_set_colorspace(&c, jcs);
	jpeg_set_quality(&c, q, TRUE);
	for (k = 0; k < c.num_components && !subsample; k++)
		c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = 1;
	if (progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	for (y = 0; y < h; y++) {
		row = (JSAMPROW)(hwc + (size_t)y * (size_t)w * (size_t)comps);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return fclose(f) == 0 ? 0 : -1;
}

/* A smooth w x h image of comps interleaved samples (JPEG keeps smooth
 * images within a few levels), and its CHW planes in *chw. */
static uint8_t *smooth(int w, int h, int comps, uint8_t **chw)
{
	size_t n = (size_t)w * (size_t)h, i;
	uint8_t *hwc = malloc(n * (size_t)comps);
	int x, y, k;

	*chw = malloc(n * (size_t)comps);
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			for (k = 0; k < comps; k++) {
				i = (size_t)y * (size_t)w + (size_t)x;
				hwc[i * (size_t)comps + (size_t)k] =
				    (*chw)[(size_t)k * n + i] =
				        (uint8_t)(30 + x * 120 / w +
				                  y * 40 / h + k * 30);
			}
	return hwc;
}

/* Round trips: greyscale and colour, baseline and progressive, 4:4:4 and
 * 4:2:0, read back within a few levels. */
static void test_jpeg_roundtrip(void)
{
	static const int sizes[][2] = {{1, 1}, {3, 7}, {28, 28}, {33, 17}};
	size_t z;
	int prog, comps, sub, q;
	uint8_t *hwc, *chw;

	ok(cnn_have_jpeg() == 1, "cnn_have_jpeg() is 1");
	for (z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
		for (comps = 1; comps <= 3; comps += 2)
			for (prog = 0; prog < 2; prog++)
				for (q = 95; q <= 100; q += 5) {
					int w = sizes[z][0], h = sizes[z][1];
					sub = comps == 3 && q == 95 && !prog;
					hwc = smooth(w, h, comps, &chw);
					if (make_jpeg(
					        "rt.jpg", hwc, w, h, comps,
					        comps == 1 ? JCS_GRAYSCALE
					                   : JCS_RGB,
					        JCS_UNKNOWN, q, prog, sub) == 0)
						ok(any_is("rt.jpg", comps, w, h,
						          chw, sub ? 12 : 4),
						   "jpeg %s %dx%d quality "
						   "%d%s%s",
						   comps == 1 ? "grey"
						              : "colour",
						   w, h, q,
						   prog ? " progressive" : "",
						   sub ? " 4:2:0" : "");
					free(hwc);
					free(chw);
				}
}

/* cnn_image_read_jpeg reads the same, and refuses what is not a JPEG. */
static void test_jpeg_reader(void)
{
	uint8_t *hwc, *chw, *px, *px2;
	int c, w, h, c2, w2, h2;
	cnn_error err;
	cnn_status st;

	hwc = smooth(9, 5, 3, &chw);
	make_jpeg("c.jpg", hwc, 9, 5, 3, JCS_RGB, JCS_UNKNOWN, 90, 0, 1);
	st = cnn_image_read_jpeg(P("c.jpg"), &px, &c, &w, &h, &err);
	st = st ? st : cnn_image_read(P("c.jpg"), &px2, &c2, &w2, &h2, &err);
	ok(st == CNN_OK && c == 3 && w == 9 && h == 5 && c2 == 3 &&
	       !memcmp(px, px2, 3 * 45),
	   "jpeg: cnn_image_read_jpeg and cnn_image_read agree (%s)",
	   st ? msg(&err) : "ok");
	free(px);
	free(px2);
	free(hwc);
	free(chw);
	write_file("x.jpg", "P5 1 1 255\n\x07", 12);
	st = cnn_image_read_jpeg(P("x.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "x.jpg", "not a JPEG file") &&
	       !px && !c && !w && !h,
	   "jpeg: a PGM named .jpg: %s", msg(&err));
	write_file("empty.jpg", "", 0);
	st = cnn_image_read_jpeg(P("empty.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "empty.jpg", "not a JPEG file"),
	   "jpeg: a zero-length file: %s", msg(&err));
	st = cnn_image_read_jpeg(P("none.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_IO, "none.jpg",
	            "cannot open: No such file or directory"),
	   "jpeg: a missing file: %s", msg(&err));
	st = cnn_image_read_jpeg(dir, &px, &c, &w, &h, &err);
	ok(st == CNN_ERR_IO && strstr(msg(&err), "cannot read: Is a directory"),
	   "jpeg: a folder: %s", msg(&err));
}

/* Offset of the first marker FF m in b (0 when there is none). */
static size_t find_marker(const uint8_t *b, size_t len, uint8_t m)
{
	size_t i;
	for (i = 2; i + 1 < len; i++)
		if (b[i] == 0xff && b[i + 1] == m)
			return i;
	return 0;
}

/* Damaged and hostile files: each error with its exact message. */
static void test_jpeg_errors(void)
{
	uint8_t *hwc, *chw, *good, *b, *px;
	size_t len, k, sof, sos;
	int c, w, h;
	char text[300];
	cnn_error err;
	cnn_status st;

	hwc = smooth(28, 28, 3, &chw);
	make_jpeg("good.jpg", hwc, 28, 28, 3, JCS_RGB, JCS_UNKNOWN, 95, 0, 1);
	good = slurp(P("good.jpg"), &len);
	if (!ok(good && len > 300, "jpeg: the good file (%zu bytes)", len))
		return;
	sof = find_marker(good, len, 0xc0);
	sos = find_marker(good, len, 0xda);
	ok(sof > 0 && sos > sof, "jpeg: SOF0 at %zu, SOS at %zu", sof, sos);
	{
		/* in the header, in its tables, in SOF, in the entropy data,
		 * and without only EOI */
		size_t cuts[] = {3, 20, sof + 5, sos + 20, len / 2, len - 2};
		for (k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
			write_file("cut.jpg", good, cuts[k]);
			st =
			    cnn_image_read(P("cut.jpg"), &px, &c, &w, &h, &err);
			ok(is_error(
			       &err, st, CNN_ERR_DATA, "cut.jpg",
			       "corrupt JPEG: Premature end of JPEG file") &&
			       !px && !c,
			   "jpeg: cut at %zu of %zu bytes: %s", cuts[k], len,
			   msg(&err));
		}
	}
	b = malloc(len);
	memcpy(b, good, 3);
	for (k = 3; k < len; k++)
		b[k] = (uint8_t)(k * 2654435761u >> 13);
	write_file("garbage.jpg", b, len);
	st = cnn_image_read(P("garbage.jpg"), &px, &c, &w, &h, &err);
	ok(st == CNN_ERR_DATA && !px &&
	       !strncmp(msg(&err), P("garbage.jpg: corrupt JPEG: "),
	                strlen(P("garbage.jpg: corrupt JPEG: "))),
	   "jpeg: garbage after SOI: %s", msg(&err));
	/* the SOF's height and width made 20000: 1.2 GB of raster, far too
	 * many blocks for the file; then 65500 (libjpeg's largest) */
	memcpy(b, good, len);
	b[sof + 5] = b[sof + 7] = 0x4e;
	b[sof + 6] = b[sof + 8] = 0x20;
	write_file("huge.jpg", b, len);
	st = cnn_image_read(P("huge.jpg"), &px, &c, &w, &h, &err);
	snprintf(text, sizeof text,
	         "truncated or corrupt JPEG: %zu bytes cannot hold a "
	         "20000x20000 image",
	         len);
	ok(is_error(&err, st, CNN_ERR_DATA, "huge.jpg", text),
	   "jpeg: a 20000x20000 SOF in %zu bytes is refused before "
	   "allocating: %s",
	   len, msg(&err));
	b[sof + 5] = b[sof + 7] = 0xff;
	b[sof + 6] = b[sof + 8] = 0xdc;
	write_file("huge.jpg", b, len);
	st = cnn_image_read(P("huge.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_DATA, "huge.jpg",
	            "JPEG image 65500x65500 with 3 channels is too large (at "
	            "most 4294967296 bytes)"),
	   "jpeg: a 65500x65500 RGB SOF: %s", msg(&err));
	memcpy(b, good, len);
	b[sof + 5] = b[sof + 6] = 0;
	write_file("zero.jpg", b, len);
	st = cnn_image_read(P("zero.jpg"), &px, &c, &w, &h, &err);
	ok(st == CNN_ERR_DATA && !px &&
	       strstr(msg(&err), "zero.jpg: corrupt JPEG: "),
	   "jpeg: a SOF of height 0: %s", msg(&err));
	free(b);
	free(good);
	free(hwc);
	free(chw);
}

/* CMYK and YCCK files are refused. */
static void test_jpeg_cmyk(void)
{
	static const char *const text = "CMYK JPEG images are not supported; "
	                                "save it as RGB or greyscale to use "
	                                "it";
	uint8_t *hwc, *chw, *px;
	int c, w, h;
	cnn_error err;
	cnn_status st;

	hwc = smooth(8, 8, 4, &chw);
	if (make_jpeg("cmyk.jpg", hwc, 8, 8, 4, JCS_CMYK, JCS_UNKNOWN, 90, 0,
	              0) == 0) {
		st = cnn_image_read(P("cmyk.jpg"), &px, &c, &w, &h, &err);
		ok(is_error(&err, st, CNN_ERR_DATA, "cmyk.jpg", text) && !px,
		   "jpeg: CMYK refused: %s", msg(&err));
	}
	if (make_jpeg("ycck.jpg", hwc, 8, 8, 4, JCS_CMYK, JCS_YCCK, 90, 0, 0) ==
	    0) {
		st = cnn_image_read_jpeg(P("ycck.jpg"), &px, &c, &w, &h, &err);
		ok(is_error(&err, st, CNN_ERR_DATA, "ycck.jpg", text) && !px,
		   "jpeg: YCCK refused: %s", msg(&err));
	}
	free(hwc);
	free(chw);
}

/* What several threads decode at once: the same as one thread alone. */
typedef struct decode_job {
	const uint8_t *file;
	size_t len;
	const uint8_t *want;
	size_t n;
	int same;
} decode_job;

static void *decode_many(void *arg)
{
	decode_job *j = arg;
	uint8_t *px;
	int c, w, h, k;
	cnn_error err;

	j->same = 1;
	for (k = 0; k < 20; k++) {
		if (cnn_image_decode("t", j->file, j->len, &px, &c, &w, &h,
		                     &err) != CNN_OK ||
		    memcmp(px, j->want, j->n))
			j->same = 0;
		free(px);
	}
	return NULL;
}

static void test_jpeg_threads(void)
{
	uint8_t *hwc, *chw, *file, *want;
	size_t len;
	int c, w, h, k, same = 1;
	pthread_t th[4];
	decode_job jobs[4];
	cnn_error err;

	hwc = smooth(40, 30, 3, &chw);
	make_jpeg("th.jpg", hwc, 40, 30, 3, JCS_RGB, JCS_UNKNOWN, 80, 1, 1);
	file = slurp(P("th.jpg"), &len);
	if (cnn_image_decode("t", file, len, &want, &c, &w, &h, &err) !=
	    CNN_OK) {
		ok(0, "jpeg: decoded once: %s", msg(&err));
	} else {
		for (k = 0; k < 4; k++) {
			jobs[k] = (decode_job){file, len, want, 3 * 40 * 30, 0};
			pthread_create(&th[k], NULL, decode_many, &jobs[k]);
		}
		for (k = 0; k < 4; k++) {
			pthread_join(th[k], NULL);
			same &= jobs[k].same;
		}
		ok(same, "jpeg: 4 threads decoding at once get the same image");
	}
	free(want);
	free(file);
	free(hwc);
	free(chw);
}

/* t/pgm2jpeg, which other tests build data sets with: grey and --rgb. */
static void test_pgm2jpeg(void)
{
	uint8_t px[12 * 10], *out = NULL, rgb[3 * 120];
	char cmd[2200];
	int c = 0, w = 0, h = 0, i, worst = 0;
	cnn_error err;
	cnn_status st;

	if (access("t/pgm2jpeg", X_OK) != 0) {
		skip_points(2, "no t/pgm2jpeg in the current folder");
		return;
	}
	for (i = 0; i < 120; i++)
		px[i] = (uint8_t)(30 + i * 3 / 2);
	cnn_image_write_pgm(P("p.pgm"), px, 12, 10, &err);
	snprintf(cmd, sizeof cmd, "t/pgm2jpeg --quality 100 %s %s", P("p.pgm"),
	         P("p.jpg"));
	ok(system(cmd) == 0 && any_is("p.jpg", 1, 12, 10, px, 3),
	   "pgm2jpeg: a greyscale JPEG of the PGM");
	snprintf(cmd, sizeof cmd, "t/pgm2jpeg --rgb %s %s", P("p.pgm"),
	         P("q.jpg"));
	for (i = 0; i < 120; i++) {
		rgb[i] = px[i];
		rgb[120 + i] = (uint8_t)(255 - px[i]);
		rgb[240 + i] = (uint8_t)(64 + px[i] / 2);
	}
	st = system(cmd) == 0
	         ? cnn_image_read(P("q.jpg"), &out, &c, &w, &h, &err)
	         : CNN_ERR_IO;
	if (st == CNN_OK && c == 3) {
		for (i = 0; i < 360; i++)
			if (abs(out[i] - rgb[i]) > worst)
				worst = abs(out[i] - rgb[i]);
	}
	ok(st == CNN_OK && c == 3 && w == 12 && h == 10 && worst <= 4,
	   "pgm2jpeg --rgb: R = v, G = 255 - v, B = 64 + v/2 (worst "
	   "difference %d)",
	   worst);
	free(out);
}

#else /* !HAVE_JPEG */

/* Without libjpeg every JPEG function refuses, naming the path. */
static void test_no_jpeg(void)
{
	static const char *const text =
	    "this libcnn was built without libjpeg; install libjpeg-dev and "
	    "rebuild";
	uint8_t px1 = 7, *px = &px1;
	int c = 1, w = 1, h = 1;
	cnn_error err;
	cnn_status st;

	ok(cnn_have_jpeg() == 0, "cnn_have_jpeg() is 0");
	write_file("x.jpg", "\xff\xd8\xff\xe0", 4);
	st = cnn_image_read_jpeg(P("x.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_USAGE, "x.jpg", text) && px == NULL &&
	       c == 0 && w == 0 && h == 0,
	   "no jpeg: reading: %s", msg(&err));
	px = &px1;
	st = cnn_image_read(P("x.jpg"), &px, &c, &w, &h, &err);
	ok(is_error(&err, st, CNN_ERR_USAGE, "x.jpg", text) && px == NULL,
	   "no jpeg: cnn_image_read: %s", msg(&err));
	skip_points(1,
	            "JPEG round trips, damaged files: built without libjpeg");
}

#endif /* HAVE_JPEG */

int main(void)
{
	plan_no_plan();
	snprintf(dir, sizeof dir, "/tmp/cnn-test-image-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot create a temporary folder\n");
		return 1;
	}
	test_pgm_roundtrip();
	test_write_errors(cnn_image_write_pgm, "pgm", "PGM");
	test_sniff();
	test_read_any();
	test_fit_channels();
	test_fit_size();
#ifdef HAVE_JPEG
	test_jpeg_roundtrip();
	test_jpeg_reader();
	test_jpeg_errors();
	test_jpeg_cmyk();
	test_jpeg_threads();
	test_pgm2jpeg();
#else
	test_no_jpeg();
#endif
#ifdef HAVE_PNG
	test_png_roundtrip();
	test_write_errors(cnn_image_write_png, "png", "PNG");
	test_png_grey();
	test_png_colour();
	test_png_alpha();
	test_png_errors();
#else
	test_no_png();
#endif
	cleanup();
	return done();
}

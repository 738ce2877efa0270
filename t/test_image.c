/*
 * test_image.c - single images: the PGM and PNG writers and readers.
 *
 * Round trips through cnn_image_write_pgm/png and cnn_image_read_pgm/png on
 * odd sizes; PNG files of every kind written here with libpng directly
 * (grey 1/2/4/8/16-bit, RGB 8/16, palette, interlaced) read back pixel by
 * pixel, CHW for RGB; transparency refused; damaged files (not a PNG,
 * truncated, a flipped IDAT byte, absurd sizes) and failed writes, each
 * checked by its status and whole formatted message. Built without libpng,
 * the PNG functions must refuse with CNN_ERR_USAGE. Fixtures go into a
 * fresh folder under /tmp, removed at the end.
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

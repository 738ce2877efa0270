/*
 * data.c - reading data: whole files (gunzipped on the fly), the dataset
 * object shared by the IDX and CSV readers, PGM images, and the training
 * samples' augmentation (seeded random shifts).
 *
 * Invariants
 *  - Every input is treated as hostile: sizes are checked before anything is
 *    allocated, and an allocation never exceeds what the bytes actually read
 *    justify (a header's claim is never trusted for a size).
 *  - Buffers returned by cnn_read_file have one NUL byte after the data (not
 *    counted in the length), so text parsers may rely on a terminator.
 *  - Nothing prints; every failure fills the cnn_error with the file's path.
 */
#define _POSIX_C_SOURCE 200809L

#include "data.h"
#include "rng.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define CHUNK (64 * 1024)

/* The largest PGM file read (a 65536x65536 P5 image and its header). */
#if SIZE_MAX > 0xffffffffu
#define PGM_MAX (((size_t)1 << 32) + 4096)
#else
#define PGM_MAX ((size_t)SIZE_MAX / 2)
#endif

/* A growing byte buffer with room for a terminating NUL after cap bytes. */
struct rbuf {
	uint8_t *p;
	size_t len, cap, max;
	int over; /* the data went past max */
};

/* Makes the capacity at least min(want, b->max) bytes (plus the NUL). The
 * capacity grows geometrically so that reading costs amortised O(n). */
static int rbuf_reserve(struct rbuf *b, size_t want)
{
	size_t cap = b->cap;
	uint8_t *p;
	if (want > b->max)
		want = b->max;
	if (b->p && want <= cap)
		return 0;
	if (cap < want)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	if (cap < want)
		cap = want;
	p = realloc(b->p, cap + 1);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* The size of a regular file, or 0 when it is unknown (pipes, devices). */
static size_t file_size_hint(FILE *f)
{
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0)
		return 0;
	if ((uintmax_t)st.st_size > SIZE_MAX - 1)
		return SIZE_MAX - 1;
	return (size_t)st.st_size;
}

/* The uncompressed size recorded in the last member's trailer (ISIZE, the
 * length modulo 2^32), used only as a first guess for the buffer. Leaves the
 * stream positioned at offset pos. Returns 0 when unknown. */
static size_t gzip_size_hint(FILE *f, long pos)
{
	unsigned char t[4];
	size_t n = 0;
	if (fseek(f, -4, SEEK_END) == 0 && fread(t, 1, 4, f) == 4)
		n = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
		    (size_t)t[3] << 24;
	clearerr(f);
	if (fseek(f, pos, SEEK_SET) != 0)
		return (size_t)-1; /* cannot go back: caller fails */
	return n;
}

static cnn_status err_nomem(cnn_error *err, const char *path, size_t n)
{
	return cnn_err_set(err, CNN_ERR_NOMEM, path, 0, 0, NULL,
	                   "out of memory (reading %zu bytes)", n);
}

static cnn_status err_read(cnn_error *err, const char *path, int e)
{
	return cnn_err_set(err, CNN_ERR_IO, path, 0, 0, NULL, "cannot read: %s",
	                   strerror(e ? e : EIO));
}

static cnn_status err_large(cnn_error *err, const char *path, struct rbuf *b,
                            int gz)
{
	b->over = 1;
	return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
	                   "larger than %zu bytes%s", b->max,
	                   gz ? " when uncompressed" : "");
}

static cnn_status err_gzip(cnn_error *err, const char *path, const char *why)
{
	return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
	                   "damaged gzip data (%s)", why);
}

/* Reads the rest of a plain file; the first n0 bytes are in head. When the
 * buffer is full, one more byte is read aside before growing it, so that a
 * file of exactly the expected size is never copied into a larger buffer. */
static cnn_status read_plain(FILE *f, const char *path, const uint8_t *head,
                             size_t n0, struct rbuf *b, cnn_error *err)
{
	size_t hint = file_size_hint(f);
	if (hint > b->max || n0 > b->max)
		return err_large(err, path, b, 0);
	if (rbuf_reserve(b, hint > n0 ? hint : CHUNK))
		return err_nomem(err, path, hint);
	memcpy(b->p, head, n0);
	b->len = n0;
	for (;;) {
		size_t n, want;
		if (b->len == b->cap) {
			unsigned char extra;
			if (fread(&extra, 1, 1, f) != 1)
				break;
			if (b->cap == b->max)
				return err_large(err, path, b, 0);
			if (rbuf_reserve(b, b->cap + 1))
				return err_nomem(err, path, b->cap + 1);
			b->p[b->len++] = extra;
			continue;
		}
		want = b->cap - b->len;
		n = fread(b->p + b->len, 1, want, f);
		b->len += n;
		if (n < want)
			break;
	}
	if (ferror(f))
		return err_read(err, path, errno);
	return CNN_OK;
}

/* Inflates a gzip file (one or more members) whose first n0 bytes (the magic)
 * are in head. Truncation, CRC and length errors and trailing garbage all
 * give CNN_ERR_DATA "damaged gzip data (...)". */
static cnn_status read_gzip(FILE *f, const char *path, const uint8_t *head,
                            size_t n0, struct rbuf *b, cnn_error *err)
{
	unsigned char in[32 * 1024];
	z_stream zs;
	size_t fsize = file_size_hint(f), hint, bound;
	int eof = 0, ended = 0, r;
	cnn_status st = CNN_OK;

	/* A first guess at the output size, bounded by deflate's best ratio
	 * (1032:1) so that a lying trailer cannot make us over-allocate. */
	hint = fsize ? gzip_size_hint(f, (long)n0) : 0;
	if (hint == (size_t)-1)
		return err_read(err, path, errno);
	bound = fsize > SIZE_MAX / 1032 ? SIZE_MAX : fsize * 1032;
	if (hint > bound)
		hint = bound;
	if (hint < CHUNK)
		hint = CHUNK;
	if (rbuf_reserve(b, hint))
		return err_nomem(err, path, hint);

	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return err_nomem(err, path, sizeof zs);
	memcpy(in, head, n0);
	zs.next_in = in;
	zs.avail_in = (uInt)n0;
	for (;;) {
		unsigned char extra = 0;
		size_t room;
		if (zs.avail_in == 0 && !eof) {
			size_t n = fread(in, 1, sizeof in, f);
			if (n == 0) {
				if (ferror(f)) {
					st = err_read(err, path, errno);
					break;
				}
				eof = 1;
			}
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		if (ended) {
			/* Between members: the end, or another member. */
			if (zs.avail_in == 0) {
				if (eof)
					break;
				continue;
			}
			if (zs.next_in[0] != 0x1f) {
				st = err_gzip(err, path,
				              "trailing garbage after "
				              "the compressed data");
				break;
			}
			inflateReset(&zs);
			ended = 0;
		}
		/* When the buffer is full, inflate one byte aside first: the
		 * stream may well end here (the size hint was exact). */
		room = b->cap - b->len;
		if (room == 0) {
			zs.next_out = &extra;
			zs.avail_out = 1;
		} else {
			zs.next_out = b->p + b->len;
			zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
			room = zs.avail_out;
		}
		r = inflate(&zs, Z_NO_FLUSH);
		if (room) {
			b->len += room - zs.avail_out;
		} else if (zs.avail_out == 0) {
			if (b->cap == b->max) {
				st = err_large(err, path, b, 1);
				break;
			}
			if (rbuf_reserve(b, b->cap + 1)) {
				st = err_nomem(err, path, b->cap + 1);
				break;
			}
			b->p[b->len++] = extra;
		}
		if (r == Z_STREAM_END) {
			ended = 1;
		} else if (r == Z_BUF_ERROR) {
			/* No progress although there was room: input is
			 * needed, and there is none left. */
			if (zs.avail_in == 0 && eof) {
				st = err_gzip(err, path,
				              "unexpected end of file");
				break;
			}
		} else if (r == Z_NEED_DICT) {
			st = err_gzip(err, path, "needs a preset dictionary");
			break;
		} else if (r == Z_MEM_ERROR) {
			st = err_nomem(err, path, b->len);
			break;
		} else if (r != Z_OK) {
			st = err_gzip(err, path,
			              zs.msg ? zs.msg : "invalid data");
			break;
		}
	}
	inflateEnd(&zs);
	return st;
}

/* Reads the whole file at path, gunzipping it when it starts with 1f 8b.
 * On success *out holds *len bytes and a NUL after them (free with free()).
 * When the data is larger than max, fails with CNN_ERR_DATA and sets *len to
 * a value above max (otherwise *len is 0 on failure). */
cnn_status cnn_read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, cnn_error *err)
{
	struct rbuf b = {NULL, 0, 0, max, 0};
	uint8_t head[2];
	size_t n0;
	cnn_status st;
	FILE *f;

	*out = NULL;
	*len = 0;
	if (b.max > SIZE_MAX - 1)
		b.max = SIZE_MAX - 1;
	f = fopen(path, "rb");
	if (!f)
		return cnn_err_set(err, CNN_ERR_IO, path, 0, 0, NULL,
		                   "cannot open: %s", strerror(errno));
	n0 = fread(head, 1, 2, f);
	if (n0 < 2 && ferror(f))
		st = err_read(err, path, errno);
	else if (n0 == 2 && head[0] == 0x1f && head[1] == 0x8b)
		st = read_gzip(f, path, head, n0, &b, err);
	else
		st = read_plain(f, path, head, n0, &b, err);
	fclose(f);
	if (st != CNN_OK) {
		free(b.p);
		if (b.over) /* tell the caller why */
			*len = b.max + 1;
		return st;
	}
	if (!b.p && rbuf_reserve(&b, 0)) /* an empty file */
		return err_nomem(err, path, 1);
	if (b.cap - b.len > b.len / 8 + 4096) {
		uint8_t *p = realloc(b.p, b.len + 1);
		if (p)
			b.p = p;
	}
	b.p[b.len] = 0;
	*out = b.p;
	*len = b.len;
	return CNN_OK;
}

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */

/* Checks what both readers rely on: the shape, the classes, the paths. */
static cnn_status check_source(const cnn_data_source *src, cnn_error *err)
{
	size_t size = 1;
	int i;
	for (i = 0; i < 3; i++) {
		if (src->shape[i] < 1 || src->shape[i] > 65536)
			return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
			                   "data: input shape %dx%dx%d is not "
			                   "valid (each dimension 1..65536)",
			                   src->shape[0], src->shape[1],
			                   src->shape[2]);
		size *= (size_t)src->shape[i];
		if (size > ((size_t)1 << 30))
			return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
			                   "data: input shape %dx%dx%d is too "
			                   "large",
			                   src->shape[0], src->shape[1],
			                   src->shape[2]);
	}
	if (src->classes < 1 || src->classes > 256)
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: %d classes is out of range 1..256",
		                   src->classes);
	return CNN_OK;
}

/* Validates src, allocates the dataset and dispatches on the format. On
 * failure *out is NULL and nothing is left allocated. */
cnn_status cnn_dataset_load(cnn_dataset **out, const cnn_data_source *src,
                            cnn_error *err)
{
	cnn_dataset *d;
	cnn_status st;
	int csv;

	cnn_err_clear(err);
	if (!out || !src)
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "cnn_dataset_load: NULL argument");
	*out = NULL;
	if (!src->format || (strcmp(src->format, "idx") != 0 &&
	                     strcmp(src->format, "csv") != 0))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: unknown format \"%s\" (expected "
		                   "idx or csv)",
		                   src->format ? src->format : "");
	csv = src->format[0] == 'c';
	if (csv && (!src->path || !src->path[0]))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: csv data needs a path");
	/* labels NULL: images only (to classify), every label 0 */
	if (!csv && (!src->images || !src->images[0] ||
	             (src->labels && !src->labels[0])))
		return cnn_err_set(err, CNN_ERR_USAGE, NULL, 0, 0, NULL,
		                   "data: idx data needs images and labels");
	st = check_source(src, err);
	if (st != CNN_OK)
		return st;
	d = calloc(1, sizeof *d);
	if (!d)
		return cnn_err_set(err, CNN_ERR_NOMEM, NULL, 0, 0, NULL,
		                   "out of memory");
	st = csv ? cnn_csv_load(d, src, err) : cnn_idx_load(d, src, err);
	if (st != CNN_OK) {
		free(d);
		return st;
	}
	*out = d;
	return CNN_OK;
}

void cnn_dataset_free(cnn_dataset *d)
{
	if (!d)
		return;
	free(d->pixels);
	free(d->labels);
	free(d);
}

size_t cnn_dataset_count(const cnn_dataset *d)
{
	return d ? d->n : 0;
}

/* NULL when i is out of range. */
const uint8_t *cnn_dataset_image(const cnn_dataset *d, size_t i)
{
	if (!d || i >= d->n)
		return NULL;
	return d->pixels + i * d->sample_size;
}

/* -1 when i is out of range. */
int cnn_dataset_label(const cnn_dataset *d, size_t i)
{
	if (!d || i >= d->n)
		return -1;
	return d->labels[i];
}

/* ------------------------------------------------------------------------ */
/* Augmentation                                                             */

/* The shift of one training sample: *dy and *dx, each in [-max, max], from a
 * counter-based hash of (seed, epoch, index), where index is the sample's
 * position in the training set (not in the epoch's shuffled order) and
 * epoch is 1-based. A pure function of its arguments, holding no state, so
 * threads may draw in any order and a resumed run draws the same shifts as
 * an uninterrupted one. The two values come from two independent 64-bit
 * hashes reduced modulo 2*max+1 (the bias, below 2^-59, is negligible).
 * max <= 0 gives 0, 0. */
void cnn_augment_draw(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx)
{
	uint64_t h, span;

	*dy = *dx = 0;
	if (max <= 0)
		return;
	span = 2 * (uint64_t)max + 1;
	h = cnn_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
	h = cnn_mix64(h ^ (epoch + UINT64_C(0x3c6ef372fe94f82a)));
	h = cnn_mix64(h ^ (index + UINT64_C(0xdaa66d2c7ddf743f)));
	*dy = (int)(cnn_mix64(h + 1) % span) - max;
	*dx = (int)(cnn_mix64(h + 2) % span) - max;
}

/* Writes one sample of shape[0] channels of shape[1] x shape[2] bytes
 * (CHW) into dst as floats multiplied by scale, shifted dy rows down and dx
 * columns right (negative: up, left), zero filled:
 *     dst[c][y][x] = src[c][y - dy][x - dx] * scale,
 * or 0 where (y - dy, x - dx) is outside the image. dy = dx = 0 is the
 * plain scaled copy (bit for bit); a shift of the height or width or more
 * gives zeros. dst and src must not overlap. */
void cnn_augment_shift(float *dst, const uint8_t *src, const int shape[3],
                       float scale, int dy, int dx)
{
	const int C = shape[0], H = shape[1], W = shape[2];
	/* the destination columns [x0, x1) come from the source */
	const int x0 = dx > 0 ? (dx < W ? dx : W) : 0;
	const int x1 = dx < 0 ? (W + dx > 0 ? W + dx : 0) : W;

	for (int c = 0; c < C; c++) {
		const uint8_t *sp = src + (size_t)c * H * W;
		float *dp = dst + (size_t)c * H * W;
		for (int y = 0; y < H; y++) {
			float *row = dp + (size_t)y * W;
			int sy = y - dy;
			if (sy < 0 || sy >= H) {
				for (int x = 0; x < W; x++)
					row[x] = 0.0f;
				continue;
			}
			const uint8_t *srow = sp + (size_t)sy * W;
			for (int x = 0; x < x0; x++)
				row[x] = 0.0f;
			for (int x = x0; x < x1; x++)
				row[x] = (float)srow[x - dx] * scale;
			for (int x = x1 > x0 ? x1 : x0; x < W; x++)
				row[x] = 0.0f;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* PGM images                                                               */

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

/* Reads an unsigned decimal number, saturating at 10^9. Returns -1 when
 * there is no digit. */
static long pgm_number(struct pgm *g)
{
	long v = 0;
	if (g->p >= g->end || *g->p < '0' || *g->p > '9')
		return -1;
	while (g->p < g->end && *g->p >= '0' && *g->p <= '9') {
		v = v * 10 + (*g->p++ - '0');
		if (v > 1000000000L)
			v = 1000000000L;
	}
	return v;
}

/* Reads one header field (after whitespace and comments), which must be a
 * number followed by whitespace or a comment. */
static cnn_status pgm_field(struct pgm *g, const char *what, long *v,
                            cnn_error *err)
{
	pgm_skip(g);
	if (g->p >= g->end)
		return cnn_err_set(err, CNN_ERR_DATA, g->path, 0, 0, NULL,
		                   "truncated PGM header (no %s)", what);
	*v = pgm_number(g);
	if (*v < 0 || (g->p < g->end && !pgm_space(*g->p) && *g->p != '#'))
		return cnn_err_set(err, CNN_ERR_DATA, g->path, 0, 0, NULL,
		                   "bad PGM header: %s is not a number", what);
	return CNN_OK;
}

/* Parses the header and the raster of a PGM file held in buf. */
static cnn_status pgm_parse(const char *path, const uint8_t *buf, size_t len,
                            uint8_t **pixels, int *width, int *height,
                            cnn_error *err)
{
	struct pgm g = {path, buf, buf + len};
	long w, h, maxval;
	size_t n, i;
	uint8_t *px;
	int binary;
	cnn_status st;

	if (len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '2')) {
		char got[8];
		size_t k;
		for (k = 0; k < 2 && k < len; k++)
			got[k] = buf[k] >= 0x20 && buf[k] < 0x7f ? (char)buf[k]
			                                         : '?';
		got[k] = 0;
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "not a PGM image (magic \"%s\", expected "
		                   "\"P5\" or \"P2\")",
		                   got);
	}
	binary = buf[1] == '5';
	g.p += 2;
	if (g.p < g.end && !pgm_space(*g.p) && *g.p != '#')
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "bad PGM header: no space after the magic");
	if ((st = pgm_field(&g, "width", &w, err)) != CNN_OK ||
	    (st = pgm_field(&g, "height", &h, err)) != CNN_OK ||
	    (st = pgm_field(&g, "maxval", &maxval, err)) != CNN_OK)
		return st;
	if (w < 1 || w > 65536 || h < 1 || h > 65536)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "PGM size %ldx%ld is out of range "
		                   "(1..65536 each)",
		                   w, h);
	if (maxval > 255 && maxval <= 65535)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "16-bit PGM images are not supported "
		                   "(maxval %ld, expected 1..255)",
		                   maxval);
	if (maxval < 1 || maxval > 255)
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "PGM maxval %ld is out of range 1..255",
		                   maxval);
	n = (size_t)w * (size_t)h;
	if (binary) {
		/* Exactly one whitespace byte separates header and raster. */
		if (g.p < g.end)
			g.p++;
		if ((size_t)(g.end - g.p) < n)
			return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
			                   "truncated PGM data (%zu of %zu "
			                   "bytes)",
			                   (size_t)(g.end - g.p), n);
	} else if ((size_t)(g.end - g.p) < n) {
		/* Each ASCII value takes at least one byte. */
		return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
		                   "truncated PGM data (%zu bytes for %zu "
		                   "values)",
		                   (size_t)(g.end - g.p), n);
	}
	px = malloc(n);
	if (!px)
		return err_nomem(err, path, n);
	for (i = 0; i < n; i++) {
		long v;
		if (binary) {
			v = *g.p++;
		} else {
			pgm_skip(&g);
			if (g.p >= g.end) {
				free(px);
				return cnn_err_set(err, CNN_ERR_DATA, path, 0,
				                   0, NULL,
				                   "truncated PGM data (%zu of "
				                   "%zu values)",
				                   i, n);
			}
			v = pgm_number(&g);
			if (v < 0 ||
			    (g.p < g.end && !pgm_space(*g.p) && *g.p != '#')) {
				free(px);
				return cnn_err_set(err, CNN_ERR_DATA, path, 0,
				                   0, NULL,
				                   "PGM value %zu is not a "
				                   "number",
				                   i);
			}
		}
		if (v > maxval) {
			free(px);
			return cnn_err_set(err, CNN_ERR_DATA, path, 0, 0, NULL,
			                   "PGM value %ld at index %zu exceeds "
			                   "maxval %ld",
			                   v, i, maxval);
		}
		px[i] =
		    (uint8_t)(maxval == 255 ? v
		                            : (v * 255 + maxval / 2) / maxval);
	}
	*pixels = px;
	*width = (int)w;
	*height = (int)h;
	return CNN_OK;
}

/* Reads a P5 or P2 PGM file (plain or gzip) into a malloc'ed w*h array. */
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

/*
 * test_data.c - the data readers: cnn_read_file (plain, gzip, damaged gzip),
 * IDX and CSV datasets, PGM images, and the real MNIST files.
 *
 * Fixtures are written at run time into a fresh folder under /tmp (gzip ones
 * with zlib); every error is checked by its status and its whole formatted
 * message, built with the same path.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char made[128][96]; /* files to remove at the end */
static int n_made;

static void remember(const char *name)
{
	int i;
	for (i = 0; i < n_made; i++)
		if (!strcmp(made[i], name))
			return;
	if (n_made < 128)
		snprintf(made[n_made++], sizeof made[0], "%s", name);
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(P(name), "wb");
	remember(name);
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		diag("cannot write %s", P(name));
		exit(1);
	}
}

static void write_text(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

static void write_gz(const char *name, const void *data, size_t len)
{
	gzFile f = gzopen(P(name), "wb");
	remember(name);
	if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) ||
	    gzclose(f) != Z_OK) {
		diag("cannot write %s", P(name));
		exit(1);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An IDX image file of n rows x cols images, pixel k of image i being
 * (i * 31 + k * 7) & 255; returns its length. */
static size_t idx_images(uint8_t *b, uint32_t n, uint32_t rows, uint32_t cols)
{
	size_t k, size = (size_t)rows * cols;
	put32(b, 0x803);
	put32(b + 4, n);
	put32(b + 8, rows);
	put32(b + 12, cols);
	for (k = 0; k < n * size; k++)
		b[16 + k] = (uint8_t)((k / size) * 31 + (k % size) * 7);
	return 16 + n * size;
}

static size_t idx_labels(uint8_t *b, uint32_t n, const uint8_t *labels)
{
	put32(b, 0x801);
	put32(b + 4, n);
	memcpy(b + 8, labels, n);
	return 8 + n;
}

/* Checks the status and the whole formatted message of a failed call. */
CNN_PRINTF(5, 6)
static int expect(cnn_status st, const cnn_error *err, cnn_status want,
                  const char *name, const char *fmt, ...)
{
	char got[1200], exp[1200];
	va_list ap;
	int good;
	va_start(ap, fmt);
	vsnprintf(exp, sizeof exp, fmt, ap);
	va_end(ap);
	cnn_error_string(err, got, sizeof got);
	good = st == want && err->status == want && !strcmp(got, exp);
	if (!ok(good, "%s", name)) {
		diag("status %d (want %d)", (int)st, (int)want);
		diag("got:  %s", got);
		diag("want: %s", exp);
	}
	return good;
}

static cnn_data_source idx_src(const char *images, const char *labels, int c,
                               int h, int w)
{
	cnn_data_source s;
	memset(&s, 0, sizeof s);
	s.format = "idx";
	s.images = images;
	s.labels = labels;
	s.shape[0] = c;
	s.shape[1] = h;
	s.shape[2] = w;
	s.classes = 10;
	return s;
}

static cnn_data_source csv_src(const char *path, int header, int c, int h,
                               int w)
{
	cnn_data_source s;
	memset(&s, 0, sizeof s);
	s.format = "csv";
	s.path = path;
	s.header = header;
	s.shape[0] = c;
	s.shape[1] = h;
	s.shape[2] = w;
	s.classes = 10;
	return s;
}

/* Loads src expecting failure; checks status and message. */
CNN_PRINTF(4, 5)
static void load_fails(const cnn_data_source *src, cnn_status want,
                       const char *name, const char *fmt, ...)
{
	cnn_dataset *d = (cnn_dataset *)1;
	cnn_error err;
	char exp[1200];
	va_list ap;
	cnn_status st;
	va_start(ap, fmt);
	vsnprintf(exp, sizeof exp, fmt, ap);
	va_end(ap);
	cnn_err_clear(&err);
	st = cnn_dataset_load(&d, src, &err);
	if (d) {
		diag("%s: *out not NULL after failure", name);
		st = CNN_OK;
	}
	expect(st, &err, want, name, "%s", exp);
}

/* Whether d holds the images written by idx_images (from image first). */
static int same_images(const cnn_dataset *d, size_t n, size_t size,
                       size_t first)
{
	size_t i, k;
	if (cnn_dataset_count(d) != n)
		return 0;
	for (i = 0; i < n; i++) {
		const uint8_t *im = cnn_dataset_image(d, i);
		for (k = 0; k < size; k++)
			if (im[k] != (uint8_t)((i + first) * 31 + k * 7))
				return 0;
	}
	return 1;
}

static void test_read_file(void)
{
	static const char text[] = "hello, world\n";
	uint8_t *b, *raw, *cat;
	size_t len, n1, n2;
	cnn_error err;
	cnn_status st;

	write_text("hello.txt", text);
	cnn_err_clear(&err);
	st = cnn_read_file(P("hello.txt"), 100, &b, &len, &err);
	ok(st == CNN_OK && len == 13 && !memcmp(b, text, 14),
	   "read_file: plain file, NUL-terminated");
	free(b);

	write_gz("hello.gz", text, 13);
	st = cnn_read_file(P("hello.gz"), 13, &b, &len, &err);
	ok(st == CNN_OK && len == 13 && !memcmp(b, text, 14),
	   "read_file: gzip file of exactly max bytes");
	free(b);

	write_text("empty", "");
	st = cnn_read_file(P("empty"), 100, &b, &len, &err);
	ok(st == CNN_OK && len == 0 && b && b[0] == 0, "read_file: empty file");
	free(b);

	st = cnn_read_file(P("hello.txt"), 10, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, "read_file: plain file over max",
	       "%s: larger than 10 bytes", P("hello.txt"));
	ok(b == NULL, "read_file: *out is NULL after failure");
	cnn_err_clear(&err);
	st = cnn_read_file(P("hello.gz"), 12, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, "read_file: gzip data over max",
	       "%s: larger than 12 bytes when uncompressed", P("hello.gz"));

	/* Two gzip members, as written by "cat a.gz b.gz". */
	write_gz("world.gz", "second member\n", 14);
	raw = slurp(P("hello.gz"), &n1);
	cat = slurp(P("world.gz"), &n2);
	raw = realloc(raw, n1 + n2 + 4);
	memcpy(raw + n1, cat, n2);
	write_file("two.gz", raw, n1 + n2);
	cnn_err_clear(&err);
	st = cnn_read_file(P("two.gz"), 1000, &b, &len, &err);
	ok(st == CNN_OK && len == 27 &&
	       !memcmp(b, "hello, world\nsecond member\n", 28),
	   "read_file: concatenated gzip members");
	free(b);

	memcpy(raw + n1, "junk", 4);
	write_file("junk.gz", raw, n1 + 4);
	st = cnn_read_file(P("junk.gz"), 1000, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, "read_file: trailing garbage",
	       "%s: damaged gzip data (trailing garbage after the compressed "
	       "data)",
	       P("junk.gz"));
	free(raw);
	free(cat);

	cnn_err_clear(&err);
	st = cnn_read_file(P("nonexistent"), 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_IO, "read_file: missing file is CNN_ERR_IO",
	       "%s: cannot open: No such file or directory", P("nonexistent"));
	cnn_err_clear(&err);
	st = cnn_read_file(dir, 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_IO, "read_file: a folder is CNN_ERR_IO",
	       "%s: cannot read: Is a directory", dir);
}

static void test_idx(void)
{
	static const uint8_t lab[5] = {3, 1, 4, 1, 5};
	uint8_t img[16 + 5 * 12 + 64], lb[16], *raw;
	size_t ni = idx_images(img, 5, 4, 3), nl = idx_labels(lb, 5, lab);
	size_t n;
	cnn_data_source s;
	cnn_dataset *d;
	cnn_error err;
	cnn_status st;

	write_file("img.idx", img, ni);
	write_file("lab.idx", lb, nl);
	write_gz("img.idx.gz", img, ni);
	write_gz("lab.idx.gz", lb, nl);

	s = idx_src(P("img.idx"), P("lab.idx"), 1, 4, 3);
	cnn_err_clear(&err);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && same_images(d, 5, 12, 0) &&
	       cnn_dataset_label(d, 0) == 3 && cnn_dataset_label(d, 4) == 5 &&
	       d->classes == 10 && d->sample_size == 12,
	   "idx: plain images and labels");
	ok(cnn_dataset_image(d, 5) == NULL && cnn_dataset_label(d, 5) == -1,
	   "idx: index past the end gives NULL and -1");
	cnn_dataset_free(d);

	s = idx_src(P("img.idx.gz"), P("lab.idx.gz"), 1, 4, 3);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && same_images(d, 5, 12, 0) &&
	       cnn_dataset_label(d, 2) == 4,
	   "idx: gzip images and labels");
	cnn_dataset_free(d);

	s.limit = 2;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && same_images(d, 2, 12, 0) &&
	       cnn_dataset_label(d, 1) == 1,
	   "idx: limit keeps the first samples");
	cnn_dataset_free(d);
	s.limit = 100;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && cnn_dataset_count(d) == 5,
	   "idx: limit above the count keeps all");
	cnn_dataset_free(d);

	/* Four dimensions: 5 images of 3 channels, 2x2. */
	put32(img, 0x804);
	put32(img + 8, 3);
	put32(img + 12, 2);
	put32(img + 16, 2);
	for (n = 0; n < 60; n++)
		img[20 + n] = (uint8_t)((n / 12) * 31 + (n % 12) * 7);
	write_file("img4.idx", img, 80);
	s = idx_src(P("img4.idx"), P("lab.idx"), 3, 2, 2);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && same_images(d, 5, 12, 0) && d->shape[0] == 3,
	   "idx: 4-dimensional images (0x00000804)");
	cnn_dataset_free(d);
	s = idx_src(P("img4.idx"), P("lab.idx"), 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "idx: channels mismatch",
	           "%s: images have 3 channels, the model expects 1",
	           P("img4.idx"));

	s = idx_src(P("lab.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: wrong image magic",
	           "%s: not an IDX image file (magic 0x00000801, expected "
	           "0x00000803 or 0x00000804)",
	           P("lab.idx"));
	s = idx_src(P("img.idx.gz"), P("img.idx.gz"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: wrong label magic (gzip)",
	           "%s: not an IDX label file (magic 0x00000803, expected "
	           "0x00000801)",
	           P("img.idx.gz"));
	s = idx_src(P("img.idx"), P("lab.idx"), 1, 28, 28);
	load_fails(&s, CNN_ERR_DATA, "idx: dimensions mismatch",
	           "%s: images are 4x3, the model expects 28x28", P("img.idx"));
	s = idx_src(P("img.idx"), P("lab.idx"), 3, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: a 3-dim file has one channel",
	           "%s: images have 1 channel, the model expects 3",
	           P("img.idx"));

	/* Sizes. */
	ni = idx_images(img, 5, 4, 3);
	write_file("short.idx", img, ni - 1);
	s = idx_src(P("short.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: file too short",
	           "%s: header says 5 images of 12 bytes but the file holds 59 "
	           "bytes of data",
	           P("short.idx"));
	img[ni] = 0;
	write_file("long.idx", img, ni + 1);
	s = idx_src(P("long.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: file too long",
	           "%s: header says 5 images of 12 bytes but the file holds 61 "
	           "bytes of data",
	           P("long.idx"));
	write_gz("long.idx.gz", img, ni + 1);
	s = idx_src(P("long.idx.gz"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: gzip file too long",
	           "%s: header says 5 images of 12 bytes but the file holds 61 "
	           "bytes of data",
	           P("long.idx.gz"));
	{
		/* 2 MiB of data past a 60-byte claim: read only up to the
		 * claim plus 1 MiB. */
		size_t big = ni + (2u << 20);
		uint8_t *huge = calloc(1, big);
		memcpy(huge, img, ni);
		write_gz("huge.idx.gz", huge, big);
		free(huge);
		s = idx_src(P("huge.idx.gz"), P("lab.idx"), 1, 4, 3);
		load_fails(&s, CNN_ERR_DATA, "idx: gzip file far too long",
		           "%s: header says 5 images of 12 bytes but the file "
		           "holds more than 1048636 bytes of data",
		           P("huge.idx.gz"));
	}
	put32(img + 4, 0x80000000u);
	write_file("claim.idx", img, ni);
	s = idx_src(P("claim.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: header claiming 2^31 images",
	           "%s: header says 2147483648 images of 12 bytes but the file "
	           "holds 60 bytes of data",
	           P("claim.idx"));
	write_gz("claim.idx.gz", img, ni);
	s = idx_src(P("claim.idx.gz"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: gzip header claiming 2^31 images",
	           "%s: header says 2147483648 images of 12 bytes but the file "
	           "holds 60 bytes of data",
	           P("claim.idx.gz"));
	put32(img + 4, 0);
	write_file("zero.idx", img, 16);
	s = idx_src(P("zero.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: no images", "%s: holds no images",
	           P("zero.idx"));
	write_file("tiny.idx", img, 10);
	s = idx_src(P("tiny.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: truncated header",
	           "%s: too short for an IDX header (10 bytes)", P("tiny.idx"));
	write_file("labshort.idx", lb, nl - 2);
	s = idx_src(P("img.idx"), P("labshort.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: label file too short",
	           "%s: header says 5 labels but the file holds 3 bytes of "
	           "data",
	           P("labshort.idx"));

	/* Labels against images. */
	nl = idx_labels(lb, 4, lab);
	write_file("lab4.idx", lb, nl);
	s = idx_src(P("img.idx"), P("lab4.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: count mismatch",
	           "%s: holds 4 labels but %s holds 5 images", P("lab4.idx"),
	           P("img.idx"));
	nl = idx_labels(lb, 5, lab);
	lb[8 + 3] = 12;
	write_file("lab12.idx", lb, nl);
	s = idx_src(P("img.idx"), P("lab12.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: label out of range",
	           "%s: label 12 at index 3 is out of range 0..9",
	           P("lab12.idx"));
	s.limit = 3;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && cnn_dataset_count(d) == 3,
	   "idx: labels past the limit are not checked");
	cnn_dataset_free(d);

	/* Damaged gzip. */
	raw = slurp(P("img.idx.gz"), &n);
	write_file("trunc.idx.gz", raw, n / 2);
	s = idx_src(P("trunc.idx.gz"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: truncated gzip",
	           "%s: damaged gzip data (unexpected end of file)",
	           P("trunc.idx.gz"));
	raw[n - 8] ^= 0x55; /* the CRC-32 */
	write_file("crc.idx.gz", raw, n);
	s = idx_src(P("crc.idx.gz"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: gzip CRC error",
	           "%s: damaged gzip data (incorrect data check)",
	           P("crc.idx.gz"));
	raw[n - 8] ^= 0x55;
	raw[n - 3] ^= 0x01; /* the length */
	write_file("len.idx.gz", raw, n);
	s = idx_src(P("len.idx.gz"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_DATA, "idx: gzip length error",
	           "%s: damaged gzip data (incorrect length check)",
	           P("len.idx.gz"));
	raw[n - 3] ^= 0x01;
	raw[n - 12] ^= 0xff; /* inside the compressed data */
	write_file("bad.idx.gz", raw, n);
	s = idx_src(P("bad.idx.gz"), P("lab.idx"), 1, 4, 3);
	cnn_err_clear(&err);
	d = NULL;
	st = cnn_dataset_load(&d, &s, &err);
	{
		char buf[1200], want[300];
		snprintf(want, sizeof want, "%s: damaged gzip data (",
		         P("bad.idx.gz"));
		cnn_error_string(&err, buf, sizeof buf);
		if (!ok(st == CNN_ERR_DATA && !d &&
		            !strncmp(buf, want, strlen(want)),
		        "idx: corrupted gzip byte"))
			diag("got: %s", buf);
	}
	free(raw);

	s = idx_src(P("missing.idx"), P("lab.idx"), 1, 4, 3);
	load_fails(&s, CNN_ERR_IO, "idx: missing file",
	           "%s: cannot open: No such file or directory",
	           P("missing.idx"));
}

static void test_csv(void)
{
	cnn_data_source s;
	cnn_dataset *d;
	cnn_error err;
	cnn_status st;
	static const uint8_t px[3][4] = {
	    {0, 1, 2, 255}, {10, 20, 30, 40}, {7, 0, 0, 9}};
	static const int lab[3] = {3, 0, 9};
	const char *body = "3,0,1,2,255\n0,10,20,30,40\n9,7,0,0,9\n";
	char text[256];
	int good, i;

#define CSV_SAME(d, k)                                                         \
	(cnn_dataset_count(d) == (k) && d->sample_size == 4 &&                 \
	 !memcmp(cnn_dataset_image(d, 0), px[0], 4) &&                         \
	 ((k) < 2 || !memcmp(cnn_dataset_image(d, 1), px[1], 4)) &&            \
	 ((k) < 3 || !memcmp(cnn_dataset_image(d, 2), px[2], 4)) &&            \
	 cnn_dataset_label(d, 0) == lab[0] &&                                  \
	 ((k) < 3 || cnn_dataset_label(d, 2) == lab[2]))

	write_text("a.csv", body);
	s = csv_src(P("a.csv"), 0, 1, 2, 2);
	cnn_err_clear(&err);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: no header");
	cnn_dataset_free(d);
	s.header = -1;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: header detected absent");
	cnn_dataset_free(d);

	snprintf(text, sizeof text, "label,p1,p2,p3,p4\n%s", body);
	write_text("h.csv", text);
	s = csv_src(P("h.csv"), 1, 1, 2, 2);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: header");
	cnn_dataset_free(d);
	s.header = -1;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: header detected");
	cnn_dataset_free(d);
	s.limit = 2;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 2), "csv: limit");
	cnn_dataset_free(d);

	write_text("crlf.csv", "\xef\xbb\xbf 3 , 0,1 ,\t2,255\r\n0,10,20,30,40"
	                       "\r\n9,7,0,0,+9\r\n\r\n  \n\n");
	s = csv_src(P("crlf.csv"), -1, 1, 2, 2);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3),
	   "csv: BOM, CRLF, blanks around cells, blank lines at the end");
	cnn_dataset_free(d);
	write_text("nonl.csv", "3,0,1,2,255\n0,10,20,30,40\n9,7,0,0,9");
	s = csv_src(P("nonl.csv"), 0, 1, 2, 2);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: last line without newline");
	cnn_dataset_free(d);

	write_gz("a.csv.gz", text, strlen(text));
	s = csv_src(P("a.csv.gz"), -1, 1, 2, 2);
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: gzip with header");
	cnn_dataset_free(d);

	write_text("last.csv", "0,1,2,255,3\n10,20,30,40,0\n7,0,0,9,9\n");
	s = csv_src(P("last.csv"), 0, 1, 2, 2);
	s.label_column = 4;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && CSV_SAME(d, 3), "csv: label in the last column");
	cnn_dataset_free(d);
	s.label_column = 5;
	load_fails(&s, CNN_ERR_USAGE, "csv: label column out of range",
	           "data: label column 5 is out of range 0..4");

	/* Errors, with line and cell column. */
	write_text("rag.csv", "3,0,1,2,255\n0,10,20,30\n");
	s = csv_src(P("rag.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: row with too few cells",
	           "%s:2:5: row has 4 cells, expected 5", P("rag.csv"));
	write_text("rag2.csv", "label,a,b,c,d\n3,0,1,2,255\n0,1,2,3,4,x,6\n");
	s = csv_src(P("rag2.csv"), -1, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: row with too many cells",
	           "%s:3:6: row has 7 cells, expected 5", P("rag2.csv"));
	write_text("nan.csv", "3,0,1,2,255\r\n0,10,x7,30,40\r\n");
	s = csv_src(P("nan.csv"), -1, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: non-numeric cell",
	           "%s:2:3: cell \"x7\" is not an integer", P("nan.csv"));
	write_text("frac.csv", "3,0,1,2,1.5\n");
	s = csv_src(P("frac.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: fraction",
	           "%s:1:5: cell \"1.5\" is not an integer", P("frac.csv"));
	write_text("p256.csv", "3,0,1,2,255\n0,10,20,256,40\n");
	s = csv_src(P("p256.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: pixel 256",
	           "%s:2:4: pixel value 256 is out of range 0..255",
	           P("p256.csv"));
	write_text("neg.csv", "3,0,-1,2,255\n");
	s = csv_src(P("neg.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: negative pixel",
	           "%s:1:3: pixel value -1 is out of range 0..255",
	           P("neg.csv"));
	write_text("lab.csv", "a,b,c,d,e\n3,0,1,2,255\n10,0,1,2,3\n");
	s = csv_src(P("lab.csv"), 1, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: label out of range",
	           "%s:3:1: label 10 is out of range 0..9", P("lab.csv"));
	write_text("cell.csv", "3,,1,2,255\n");
	s = csv_src(P("cell.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: empty cell", "%s:1:2: empty cell",
	           P("cell.csv"));
	write_text("blank.csv", "3,0,1,2,255\n\n0,10,20,30,40\n");
	s = csv_src(P("blank.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: blank line in the middle",
	           "%s:2:1: empty line (expected 5 cells)", P("blank.csv"));
	write_text("empty.csv", "");
	s = csv_src(P("empty.csv"), -1, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: empty file",
	           "%s: holds no data rows", P("empty.csv"));
	write_text("hdr.csv", "label,a,b,c,d\r\n\r\n");
	s = csv_src(P("hdr.csv"), -1, 1, 2, 2);
	load_fails(&s, CNN_ERR_DATA, "csv: header only",
	           "%s: holds no data rows", P("hdr.csv"));
	{
		/* 100000 short lines for 28x28 images: must not allocate
		 * 78 MB, and must name the first short row. */
		size_t n = 100000;
		char *many = malloc(2 * n + 1);
		for (i = 0; i < (int)n; i++)
			memcpy(many + 2 * i, "1\n", 2);
		many[2 * n] = 0;
		write_text("many.csv", many);
		free(many);
		s = csv_src(P("many.csv"), 0, 1, 28, 28);
		load_fails(&s, CNN_ERR_DATA, "csv: many short rows",
		           "%s:1:2: row has 1 cells, expected 785",
		           P("many.csv"));
	}
	s = csv_src(P("missing.csv"), 0, 1, 2, 2);
	load_fails(&s, CNN_ERR_IO, "csv: missing file",
	           "%s: cannot open: No such file or directory",
	           P("missing.csv"));

	/* The dataset API's own checks. */
	s = csv_src(P("a.csv"), 0, 1, 2, 2);
	s.format = "json";
	load_fails(&s, CNN_ERR_USAGE, "dataset: unknown format",
	           "data: unknown format \"json\" (expected idx, csv or folder)");
	s.format = "csv";
	s.classes = 257;
	load_fails(&s, CNN_ERR_USAGE, "dataset: 257 classes",
	           "data: 257 classes is out of range 1..256");
	s.classes = 256;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && d->classes == 256, "dataset: 256 classes");
	cnn_dataset_free(d);
	cnn_dataset_free(NULL);
	good = cnn_dataset_count(NULL) == 0 && !cnn_dataset_image(NULL, 0) &&
	       cnn_dataset_label(NULL, 0) == -1;
	ok(good, "dataset: NULL is an empty dataset");
#undef CSV_SAME
}

static void test_pgm(void)
{
	static const uint8_t p5[] = "P5\n# a comment\n3 2 # another\n255\n"
	                            "\x00\x01\x7f\x80\xfe\xff";
	uint8_t *px;
	int w, h;
	cnn_error err;
	cnn_status st;

	write_file("a.pgm", p5, sizeof p5 - 1);
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("a.pgm"), &px, &w, &h, &err);
	ok(st == CNN_OK && w == 3 && h == 2 &&
	       !memcmp(px, "\x00\x01\x7f\x80\xfe\xff", 6),
	   "pgm: P5 with comments");
	free(px);
	write_gz("a.pgm.gz", p5, sizeof p5 - 1);
	st = cnn_image_read_pgm(P("a.pgm.gz"), &px, &w, &h, &err);
	ok(st == CNN_OK && w == 3 && h == 2 && px[5] == 255, "pgm: gzip P5");
	free(px);

	write_text("b.pgm", "P2\n2 3\n15\n0 15\n7 8 # comment\n1\n14\n");
	st = cnn_image_read_pgm(P("b.pgm"), &px, &w, &h, &err);
	ok(st == CNN_OK && w == 2 && h == 3 && px[0] == 0 && px[1] == 255 &&
	       px[2] == 119 && px[3] == 136 && px[4] == 17 && px[5] == 238,
	   "pgm: P2 with maxval 15 rescaled");
	free(px);

	write_text("c.pgm", "P6\n3 2\n255\n");
	st = cnn_image_read_pgm(P("c.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: bad magic",
	       "%s: not a PGM image (magic \"P6\", expected \"P5\" or \"P2\")",
	       P("c.pgm"));
	ok(px == NULL && w == 0, "pgm: outputs cleared on failure");
	write_file("d.pgm", p5, sizeof p5 - 2);
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("d.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: truncated P5",
	       "%s: truncated PGM data (5 of 6 bytes)", P("d.pgm"));
	write_text("e.pgm", "P2 3 2 255 1 2 3 4 5        ");
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("e.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: truncated P2",
	       "%s: truncated PGM data (5 of 6 values)", P("e.pgm"));
	write_text("f.pgm", "P5\n3 2\n65535\n");
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("f.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: 16-bit refused",
	       "%s: 16-bit PGM images are not supported (maxval 65535, "
	       "expected 1..255)",
	       P("f.pgm"));
	write_text("g.pgm", "P2\n2 1\n100\n50 101\n");
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("g.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: value above maxval",
	       "%s: PGM value 101 at index 1 exceeds maxval 100", P("g.pgm"));
	write_text("h.pgm", "P5\n0 2\n255\n");
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("h.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: zero width",
	       "%s: PGM size 0x2 is out of range (1..65536 each)", P("h.pgm"));
	write_text("i.pgm", "P5\n4 4");
	cnn_err_clear(&err);
	st = cnn_image_read_pgm(P("i.pgm"), &px, &w, &h, &err);
	expect(st, &err, CNN_ERR_DATA, "pgm: truncated header",
	       "%s: truncated PGM header (no maxval)", P("i.pgm"));
}

/* The real MNIST files, when present. */
static void test_mnist(void)
{
	const char *top = getenv("top_srcdir");
	char ti[512], tl[512];
	cnn_data_source s;
	cnn_dataset *d;
	cnn_error err;
	cnn_status st;
	size_t i, k;
	int lo = 255, hi = 0, counts[10] = {0};

	if (!top || !top[0])
		top = ".";
	snprintf(ti, sizeof ti, "%s/data/mnist/t10k-images-idx3-ubyte.gz", top);
	snprintf(tl, sizeof tl, "%s/data/mnist/t10k-labels-idx1-ubyte.gz", top);
	s = idx_src(ti, tl, 1, 28, 28);
	cnn_err_clear(&err);
	st = cnn_dataset_load(&d, &s, &err);
	if (!ok(st == CNN_OK && cnn_dataset_count(d) == 10000,
	        "mnist: 10000 test images")) {
		char buf[1200];
		diag("%s", cnn_error_string(&err, buf, sizeof buf));
		return;
	}
	for (i = 0; i < 10000; i++) {
		const uint8_t *im = cnn_dataset_image(d, i);
		for (k = 0; k < 784; k++) {
			lo = im[k] < lo ? im[k] : lo;
			hi = im[k] > hi ? im[k] : hi;
		}
		counts[cnn_dataset_label(d, i)]++;
	}
	ok(cnn_dataset_label(d, 0) == 7 && cnn_dataset_label(d, 1) == 2 &&
	       cnn_dataset_label(d, 2) == 1,
	   "mnist: the first test labels are 7, 2, 1");
	ok(lo == 0 && hi == 255, "mnist: test pixels span 0..255");
	ok(counts[0] == 980 && counts[1] == 1135 && counts[9] == 1009,
	   "mnist: test label counts (980 zeros, 1135 ones, 1009 nines)");
	cnn_dataset_free(d);

	snprintf(ti, sizeof ti, "%s/data/mnist/train-images-idx3-ubyte.gz",
	         top);
	snprintf(tl, sizeof tl, "%s/data/mnist/train-labels-idx1-ubyte.gz",
	         top);
	s = idx_src(ti, tl, 1, 28, 28);
	s.limit = 1000;
	st = cnn_dataset_load(&d, &s, &err);
	ok(st == CNN_OK && cnn_dataset_count(d) == 1000 &&
	       cnn_dataset_label(d, 0) == 5 && cnn_dataset_label(d, 1) == 0,
	   "mnist: the training set (first 1000), first labels 5, 0");
	cnn_dataset_free(d);
}

int main(void)
{
	int i;
	plan_no_plan();
	snprintf(dir, sizeof dir, "/tmp/cnn-test-data-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot create a temporary folder\n");
		return 1;
	}
	test_read_file();
	test_idx();
	test_csv();
	test_pgm();
	test_mnist();
	for (i = 0; i < n_made; i++)
		unlink(P(made[i]));
	rmdir(dir);
	return done();
}

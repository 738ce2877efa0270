/*
 * decode.c - the benchmark of folder data sets, run by `make bench` (never
 * by make check): how fast cnn_dataset_load reads a folder of images, and
 * how much of that is decoding.
 *
 * It writes the 60,000 MNIST training images (BENCH_SRCDIR/data/mnist) as
 * two folder data sets, DIR/LABEL/NNNNN.png (28x28 greyscale, the
 * library's cnn_image_write_png) and DIR/LABEL/NNNNN.jpg (libjpeg,
 * quality 95), into a temporary folder (under $TMPDIR, else /dev/shm,
 * else /tmp) removed at the end; then, for each
 * format, it loads the folder REPS times at 1 thread and at 2 threads
 * (cnn_pool_set_threads), alternated. The first load of each series finds
 * the page cache colder than the rest: it is reported alone, and min,
 * median and max of the others, with images per second of the median.
 * Last, a decode loop on one image of each format held in memory
 * (cnn_image_decode: no file system) gives the decoder's own rate.
 * Target: the 60,000 PNG load in under 3 s on two cores (the median at 2
 * threads). A library built without libpng or libjpeg skips that format
 * with a message. --quick uses 6,000 images and fewer repetitions; --json
 * FILE writes the same figures. Errors: one line on stderr, exit 1 (2 for
 * a bad command line); the temporary folder is removed (also on SIGINT or
 * SIGTERM, between two steps).
 */
#define _XOPEN_SOURCE 700
#include <config.h>

#include "image.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_JPEG
#include <jpeglib.h>
#endif

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

#define MAX_REPS 8
#define SIDE     28
#define TARGET_S 3.0

enum { PNG, JPEG, N_FMT };
static const char *const fmt_name[N_FMT] = {"PNG", "JPEG"};
static const char *const fmt_ext[N_FMT] = {"png", "jpg"};

static char tmp_dir[CNN_PATH_MAX];
static volatile sig_atomic_t interrupted;

/* nftw callback: removes one entry (links are not followed). */
static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

/* Removes the temporary folder and everything in it. */
static void cleanup(void)
{
	if (tmp_dir[0])
		nftw(tmp_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_dir[0] = '\0';
}

/* SIGINT/SIGTERM: noted; the next step checks and cleans up. */
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void check_interrupted(void)
{
	if (interrupted)
		die("interrupted");
}

/* What the benchmark measures (the full plan and --quick's). */
typedef struct plan {
	long images; /* 0: all */
	int reps;
	long decodes; /* single-image decodes per timing */
} plan;
static const plan plan_full = {0, 5, 50000};
static const plan plan_quick = {6000, 3, 10000};

/* ======================================================================== */
/* Writing the folders                                                      */

#ifdef HAVE_JPEG
/* libjpeg's error_exit: a benchmark may die (the library never does). */
static void jpeg_die(j_common_ptr cinfo)
{
	char buf[JMSG_LENGTH_MAX];
	(*cinfo->err->format_message)(cinfo, buf);
	die("libjpeg: %s", buf);
}

/* Writes the SIDE x SIDE grey image px as a quality 95 JPEG at path. */
static void write_jpeg(const char *path, const uint8_t *px)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(path, "wb");

	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	c.err = jpeg_std_error(&e);
	e.error_exit = jpeg_die;
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = c.image_height = SIDE;
	c.input_components = 1;
	c.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 95, TRUE);
	jpeg_start_compress(&c, TRUE);
	for (int y = 0; y < SIDE; y++) {
		JSAMPROW row = (JSAMPROW)(px + y * SIDE);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	if (fclose(f) != 0)
		die("cannot write %s", path);
}
#endif

/* 1 when this build can write and read format k. */
static int have(int k)
{
#ifdef HAVE_JPEG
	return k == PNG ? cnn_have_png() : cnn_have_jpeg();
#else
	return k == PNG ? cnn_have_png() : 0;
#endif
}

/* Writes every image of d as tmp_dir/EXT/LABEL/NNNNN.EXT in format k;
 * returns the seconds it took. */
static double write_folder(const cnn_dataset *d, int k)
{
	char path[CNN_PATH_MAX + 64];
	cnn_error err;
	double t0 = now();

	snprintf(path, sizeof path, "%s/%s", tmp_dir, fmt_ext[k]);
	if (mkdir(path, 0755) != 0)
		die("cannot create %s: %s", path, strerror(errno));
	for (int c = 0; c < 10; c++) {
		snprintf(path, sizeof path, "%s/%s/%d", tmp_dir, fmt_ext[k], c);
		if (mkdir(path, 0755) != 0)
			die("cannot create %s: %s", path, strerror(errno));
	}
	for (size_t i = 0; i < cnn_dataset_count(d); i++) {
		const uint8_t *px = cnn_dataset_image(d, i);
		snprintf(path, sizeof path, "%s/%s/%d/%05zu.%s", tmp_dir,
		         fmt_ext[k], cnn_dataset_label(d, i), i, fmt_ext[k]);
		if (i % 1000 == 0)
			check_interrupted();
		if (k == PNG &&
		    cnn_image_write_png(path, px, SIDE, SIDE, &err) != CNN_OK)
			die_err(&err);
#ifdef HAVE_JPEG
		if (k == JPEG)
			write_jpeg(path, px);
#endif
	}
	return now() - t0;
}

/* ======================================================================== */
/* Timing                                                                   */

/* Loads the folder of format k at threads threads; its seconds. */
static double load_once(int k, int threads, size_t expect)
{
	char path[CNN_PATH_MAX + 16];
	cnn_data_source src = {.format = "folder",
	                       .path = path,
	                       .shape = {1, SIDE, SIDE},
	                       .classes = 10};
	cnn_dataset *d;
	cnn_error err;
	double t0;

	snprintf(path, sizeof path, "%s/%s", tmp_dir, fmt_ext[k]);
	check_interrupted();
	cnn_pool_set_threads(threads);
	t0 = now();
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
		die_err(&err);
	t0 = now() - t0;
	if (cnn_dataset_count(d) != expect)
		die("%s: %zu images loaded, %zu written", path,
		    cnn_dataset_count(d), expect);
	cnn_dataset_free(d);
	return t0;
}

/* The figures of one series: the first run, then min, median and max of
 * the others (all of them when there is only one). */
typedef struct series {
	double first, min, med, max;
} series;

static series summarise(double *v, int n)
{
	series s = {v[0], 0, 0, 0};
	double *rest = n > 1 ? v + 1 : v;
	int m = n > 1 ? n - 1 : 1;
	s.med = median(rest, m); /* sorts rest */
	s.min = rest[0];
	s.max = rest[m - 1];
	return s;
}

/* Decodes the image file at path, held in memory, reps times; the
 * seconds per decode. */
static double decode_loop(const char *path, long reps)
{
	uint8_t *buf, *px;
	size_t len;
	int c, w, h;
	cnn_error err;
	double t0;

	if (cnn_image_file(path, &buf, &len, &err) != CNN_OK)
		die_err(&err);
	t0 = now();
	for (long i = 0; i < reps; i++) {
		if (cnn_image_decode(path, buf, len, &px, &c, &w, &h, &err) !=
		    CNN_OK)
			die_err(&err);
		free(px);
	}
	t0 = now() - t0;
	free(buf);
	return t0 / (double)reps;
}

/* ======================================================================== */
/* The report                                                               */

typedef struct results {
	size_t n;
	char where[CNN_PATH_MAX]; /* the temporary folder's parent */
	int done[N_FMT];
	double write_s[N_FMT];
	series load[N_FMT][2]; /* at 1 and 2 threads */
	series decode[N_FMT];  /* seconds per image */
} results;

/* Prints one format's figures. */
static void print_format(const results *r, int k)
{
	printf("%s (%zu files written in %.1f s):\n", fmt_name[k], r->n,
	       r->write_s[k]);
	for (int t = 0; t < 2; t++) {
		const series *s = &r->load[k][t];
		printf("  load, %d thread%s: first %6.3f s; then %6.3f / %6.3f "
		       "/ %6.3f s  %8.0f images/s\n",
		       t + 1, t ? "s" : " ", s->first, s->min, s->med, s->max,
		       (double)r->n / s->med);
	}
	printf("  decode only, 1 thread:     %.2f / %.2f / %.2f us  %8.0f "
	       "images/s\n",
	       1e6 * r->decode[k].min, 1e6 * r->decode[k].med,
	       1e6 * r->decode[k].max, 1.0 / r->decode[k].med);
}

/* Writes the figures as JSON to path. */
static void write_json(const results *r, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "{\n  \"libcnn\": \"%s\",\n  \"images\": %zu,\n",
	        cnn_version(), r->n);
	fprintf(f, "  \"formats\": [");
	for (int k = 0, first = 1; k < N_FMT; k++) {
		if (!r->done[k])
			continue;
		fprintf(f, "%s\n    {\"format\": \"%s\", \"write_s\": %.3f",
		        first ? "" : ",", fmt_name[k], r->write_s[k]);
		first = 0;
		for (int t = 0; t < 2; t++) {
			const series *s = &r->load[k][t];
			fprintf(f,
			        ",\n     \"load_%dt\": {\"first_s\": %.4f, "
			        "\"min_s\": %.4f, \"median_s\": %.4f, "
			        "\"max_s\": %.4f, \"images_per_s\": %.0f}",
			        t + 1, s->first, s->min, s->med, s->max,
			        (double)r->n / s->med);
		}
		fprintf(f,
		        ",\n     \"decode_us\": {\"min\": %.3f, \"median\": "
		        "%.3f, \"max\": %.3f}}",
		        1e6 * r->decode[k].min, 1e6 * r->decode[k].med,
		        1e6 * r->decode[k].max);
	}
	fprintf(f, "\n  ],\n  \"target_png_2t_s\": %.1f\n}\n", TARGET_S);
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

/* Prints the report (and the target's verdict); writes the JSON. */
static void report(const results *r, const char *json)
{
	printf("\nFolder data sets of %zu MNIST images, 28x28 grey, in %s: "
	       "load times (first run,\nthen min / median / max of the "
	       "others; images/s of the median):\n",
	       r->n, r->where);
	for (int k = 0; k < N_FMT; k++)
		if (r->done[k])
			print_format(r, k);
		else
			printf("%s: skipped, libcnn was built without %s\n",
			       fmt_name[k], k == PNG ? "libpng" : "libjpeg");
	if (r->done[PNG])
		printf("target: %zu PNG images in under %.0f s on two cores: "
		       "%.2f s%s\n",
		       r->n, TARGET_S, r->load[PNG][1].med,
		       r->n < 60000 ? " (--quick: not judged)"
		       : r->load[PNG][1].med < TARGET_S ? " met"
		                                        : " MISSED");
	if (json)
		write_json(r, json);
}

/* ======================================================================== */
/* The driver                                                               */

/* The MNIST training images (the first p->images of them). */
static cnn_dataset *read_mnist(const plan *p)
{
	char img[CNN_PATH_MAX], lab[CNN_PATH_MAX];
	cnn_data_source src = {.format = "idx",
	                       .images = img,
	                       .labels = lab,
	                       .shape = {1, SIDE, SIDE},
	                       .classes = 10,
	                       .limit = p->images};
	cnn_dataset *d;
	cnn_error err;

	snprintf(img, sizeof img, "%s/data/mnist/train-images-idx3-ubyte.gz",
	         BENCH_SRCDIR);
	snprintf(lab, sizeof lab, "%s/data/mnist/train-labels-idx1-ubyte.gz",
	         BENCH_SRCDIR);
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
		die_err(&err);
	return d;
}

/* Times format k: p->reps loads at 1 and at 2 threads, alternated, and
 * the decode loop on its first file (tmp_dir/EXT/LABEL/00000.EXT). */
static void time_format(const plan *p, results *r, int k, int label0)
{
	double v[2][MAX_REPS], dec[MAX_REPS];
	char path[CNN_PATH_MAX + 32];

	for (int i = 0; i < p->reps; i++)
		for (int t = 0; t < 2; t++)
			v[t][i] = load_once(k, t + 1, r->n);
	for (int t = 0; t < 2; t++)
		r->load[k][t] = summarise(v[t], p->reps);
	cnn_pool_set_threads(0);
	snprintf(path, sizeof path, "%s/%s/%d/00000.%s", tmp_dir, fmt_ext[k],
	         label0, fmt_ext[k]);
	for (int i = 0; i < p->reps; i++) {
		check_interrupted();
		dec[i] = decode_loop(path, p->decodes);
	}
	/* the decode loop has no cold start: min / median / max of all */
	r->decode[k].first = dec[0];
	r->decode[k].med = median(dec, p->reps); /* sorts dec */
	r->decode[k].min = dec[0];
	r->decode[k].max = dec[p->reps - 1];
}

/* Makes the temporary folder: under $TMPDIR, else /dev/shm, else /tmp.
 * (cnn_image_write_png syncs every file and its folder: 60,000 of them
 * take minutes on a disk, seconds in memory.) */
static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	if (!tmp || !*tmp)
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		              access("/dev/shm", W_OK) == 0
		          ? "/dev/shm"
		          : "/tmp";
	snprintf(tmp_dir, sizeof tmp_dir, "%s/cnndecode.XXXXXX", tmp);
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = '\0';
		die("cannot create a temporary folder: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	const plan *p = &plan_full;
	results r;
	cnn_dataset *d;
	int quick, label0;
	const char *json;

	bench_name = "bench/decode";
	json = bench_options(argc, argv, &quick);
	if (quick)
		p = &plan_quick;
	bench_cleanup = cleanup;
	memset(&r, 0, sizeof r);
	d = read_mnist(p);
	r.n = cnn_dataset_count(d);
	label0 = cnn_dataset_label(d, 0);
	setup();
	snprintf(r.where, sizeof r.where, "%s", tmp_dir);
	if (strrchr(r.where, '/'))
		*strrchr(r.where, '/') = '\0';
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int k = 0; k < N_FMT; k++)
		if ((r.done[k] = have(k)) != 0)
			r.write_s[k] = write_folder(d, k);
	cnn_dataset_free(d);
	for (int k = 0; k < N_FMT; k++)
		if (r.done[k])
			time_format(p, &r, k, label0);
	cleanup();
	report(&r, json);
	return 0;
}

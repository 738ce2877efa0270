/*
 * test_generic.c - libcnn is not MNIST-specific: synthetic data sets of
 * other shapes (3x16x16 colour images in 4 classes; 1x12x20 grey images in
 * 3 classes) are written as gzip IDX and as CSV, and a model whose YAML
 * differs only in its input shape and number of classes learns each of
 * them through the public API. Then the training-set augmentation
 * (data.train.augment.shift): the shift function on a tiny image, the
 * stateless draw of the shifts, and whole runs that must be reproducible
 * (same seed, any thread count, resumed) and must differ when the seed or
 * the shift changes. Then the validation split (data.validation): how many
 * samples it holds out and that the best epoch is chosen on it. Last, the
 * configuration errors of augment.
 *
 * Everything is written into a fresh folder under $TMPDIR (or /tmp),
 * removed at the end.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void die(const char *what)
{
	diag("cannot write %s: %s", what, strerror(errno));
	remove_dir();
	exit(1);
}

/* ======================================================================== */
/* Synthetic data                                                           */

/* n images of c x h x w bytes (CHW) and their labels. */
typedef struct synth {
	int n, c, h, w, classes;
	uint8_t *pixels, *labels;
} synth;

/* One of the patterns, drawn with value v into one channel plane of h x w
 * centred at (cy, cx), clipped to the plane: 0 a horizontal bar (2 x 7), 1
 * a vertical bar (7 x 2), 2 a filled square (4 x 4), 3 a diagonal line (6
 * long). */
static void pattern(int k, uint8_t *plane, int h, int w, int cy, int cx,
                    uint8_t v)
{
	static const int size[4][2] = {{2, 7}, {7, 2}, {4, 4}, {6, 6}};
	const int ph = size[k][0], pw = size[k][1];
	for (int i = 0; i < ph; i++)
		for (int j = 0; j < pw; j++) {
			int y = cy - ph / 2 + i, x = cx - pw / 2 + j;
			if ((k != 3 || i == j) && y >= 0 && y < h && x >= 0 &&
			    x < w)
				plane[(size_t)y * w + x] = v;
		}
}

/* Generates n samples: label i % classes; the class's pattern near the
 * centre (moved by up to 2 pixels each way), in a random colour (each
 * channel 110..255) over noise in 0..47. The class is the shape alone:
 * colour and place carry nothing. */
static synth make_set(uint64_t seed, int n, int c, int h, int w, int classes)
{
	synth s = {n, c, h, w, classes, NULL, NULL};
	size_t sz = (size_t)c * h * w;
	cnn_rng r;
	cnn_rng_seed(&r, seed);
	s.pixels = malloc((size_t)n * sz);
	s.labels = malloc((size_t)n);
	if (!s.pixels || !s.labels)
		abort();
	for (int i = 0; i < n; i++) {
		uint8_t *img = s.pixels + (size_t)i * sz;
		int k = i % classes;
		uint8_t colour[3];
		s.labels[i] = (uint8_t)k;
		for (size_t j = 0; j < sz; j++)
			img[j] = (uint8_t)cnn_rng_below(&r, 48);
		for (int ch = 0; ch < c; ch++)
			colour[ch] = (uint8_t)(110 + cnn_rng_below(&r, 146));
		int cy = h / 2 + (int)cnn_rng_below(&r, 5) - 2;
		int cx = w / 2 + (int)cnn_rng_below(&r, 5) - 2;
		for (int ch = 0; ch < c; ch++)
			pattern(k, img + (size_t)ch * h * w, h, w, cy, cx,
			        colour[ch]);
	}
	return s;
}

static void free_set(synth *s)
{
	free(s->pixels);
	free(s->labels);
}

static void put_be32(gzFile f, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24),
	                      (unsigned char)(v >> 16), (unsigned char)(v >> 8),
	                      (unsigned char)v};
	if (gzwrite(f, b, 4) != 4)
		die("an IDX header");
}

/* Writes s as gzip IDX files NAME-images.idx.gz (0x0803: n x h x w when
 * there is one channel, else 0x0804: n x c x h x w) and
 * NAME-labels.idx.gz. */
static void write_idx(const synth *s, const char *name)
{
	char file[128];
	size_t sz = (size_t)s->c * s->h * s->w;
	gzFile f;

	snprintf(file, sizeof file, "%s-images.idx.gz", name);
	if (!(f = gzopen(P(file), "wb")))
		die(file);
	put_be32(f, s->c == 1 ? 0x0803 : 0x0804);
	put_be32(f, (uint32_t)s->n);
	if (s->c != 1)
		put_be32(f, (uint32_t)s->c);
	put_be32(f, (uint32_t)s->h);
	put_be32(f, (uint32_t)s->w);
	if (gzwrite(f, s->pixels, (unsigned)(s->n * sz)) != (int)(s->n * sz) ||
	    gzclose(f) != Z_OK)
		die(file);
	snprintf(file, sizeof file, "%s-labels.idx.gz", name);
	if (!(f = gzopen(P(file), "wb")))
		die(file);
	put_be32(f, 0x0801);
	put_be32(f, (uint32_t)s->n);
	if (gzwrite(f, s->labels, (unsigned)s->n) != s->n || gzclose(f) != Z_OK)
		die(file);
}

/* Writes s as NAME.csv: a header line, then the label and the pixels (CHW
 * order) of one sample per line. */
static void write_csv(const synth *s, const char *name)
{
	char file[128];
	size_t sz = (size_t)s->c * s->h * s->w;
	FILE *f;

	snprintf(file, sizeof file, "%s.csv", name);
	if (!(f = fopen(P(file), "w")))
		die(file);
	fprintf(f, "label");
	for (size_t j = 0; j < sz; j++)
		fprintf(f, ",p%zu", j);
	fputc('\n', f);
	for (int i = 0; i < s->n; i++) {
		/* by hand: printf per cell is slow under valgrind */
		const uint8_t *px = s->pixels + (size_t)i * sz;
		fputc('0' + s->labels[i], f);
		for (size_t j = 0; j < sz; j++) {
			char cell[5], *e = cell + sizeof cell, *b = e;
			unsigned v = px[j];
			do
				*--b = (char)('0' + v % 10);
			while ((v /= 10));
			*--b = ',';
			fwrite(b, 1, (size_t)(e - b), f);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		die(file);
}

/* ======================================================================== */
/* Models                                                                   */

/* Writes NAME.yaml: the same network for every data set; only the input
 * shape and the number of classes (the last dense layer's units) change.
 * The schedule is small enough for valgrind; both data sets reach the
 * test's 0.9 with every training.seed from 1 to 7 (seed 4 is used). keep:
 * last, so that the test set does not pick the weights it is scored on.
 * The data are the files written by write_idx or write_csv for TRAIN and
 * TEST; extra is appended (more top-level keys). */
static void write_model(const char *name, int c, int h, int w, int classes,
                        const char *format, const char *train, const char *test,
                        const char *extra)
{
	char file[128], tr[160], te[160];
	FILE *f;

	if (!strcmp(format, "idx")) {
		snprintf(tr, sizeof tr,
		         "{format: idx, images: %s-images.idx.gz, "
		         "labels: %s-labels.idx.gz}",
		         train, train);
		snprintf(te, sizeof te,
		         "{format: idx, images: %s-images.idx.gz, "
		         "labels: %s-labels.idx.gz}",
		         test, test);
	} else {
		snprintf(tr, sizeof tr, "{format: csv, path: %s.csv}", train);
		snprintf(te, sizeof te, "{format: csv, path: %s.csv}", test);
	}
	snprintf(file, sizeof file, "%s.yaml", name);
	if (!(f = fopen(P(file), "w")))
		die(file);
	fprintf(f,
	        "name: %s\n"
	        "input: {channels: %d, height: %d, width: %d}\n"
	        "layers:\n"
	        "  - {type: conv2d, filters: 6, kernel: 3, padding: 1}\n"
	        "  - {type: relu}\n"
	        "  - {type: maxpool, size: 2}\n"
	        "  - {type: flatten}\n"
	        "  - {type: dense, units: %d}\n"
	        "  - {type: softmax}\n"
	        "optimizer: {type: adam, learning_rate: 0.015}\n"
	        "training: {epochs: 4, batch_size: 8, seed: 4, keep: last}\n"
	        "data:\n"
	        "  train: %s\n"
	        "  test: %s\n"
	        "checkpoint: {path: %s.ckpt.gz, every: 100}\n"
	        "%s",
	        name, c, h, w, classes, tr, te, name, extra ? extra : "");
	if (fclose(f) != 0)
		die(file);
}

/* The weights of m, all tensors one after the other (malloc'ed). */
static float *weights(const cnn_model *m, size_t *n)
{
	cnn_tensor_info t;
	float *w = NULL;
	*n = 0;
	for (int i = 0; i < cnn_model_tensor_count(m); i++) {
		if (cnn_model_tensor(m, i, &t) != CNN_OK)
			abort();
		float *p = realloc(w, (*n + t.size) * sizeof *w);
		if (!p)
			abort();
		w = p;
		memcpy(w + *n, t.data, t.size * sizeof *w);
		*n += t.size;
	}
	return w;
}

static void show(const char *what, const cnn_error *err)
{
	char buf[1400];
	diag("%s: %s", what, cnn_error_string(err, buf, sizeof buf));
}

/* Builds NAME.yaml with the overrides, trains it with the given threads
 * (1 unless the threads are what is tested: valgrind runs threads slowly);
 * on success returns the model (the caller frees it), else NULL. */
static cnn_model *train(const char *name, const char *const *set, int n_set,
                        int threads, cnn_train_options *opts)
{
	cnn_train_options o = {.threads = threads};
	char file[128];
	cnn_model *m;
	cnn_error err;

	if (!opts)
		opts = &o;
	snprintf(file, sizeof file, "%s.yaml", name);
	if (cnn_model_from_yaml(&m, P(file), set, n_set, &err) != CNN_OK) {
		show(file, &err);
		return NULL;
	}
	if (cnn_model_train(m, opts, &err) != CNN_OK) {
		show(file, &err);
		cnn_model_free(m);
		return NULL;
	}
	return m;
}

/* The test accuracy of m's kept weights, -1 on failure. */
static double test_accuracy(cnn_model *m)
{
	cnn_eval_result r;
	cnn_error err;
	double acc;
	if (cnn_model_evaluate(m, 1, &r, &err) != CNN_OK) {
		show("evaluate", &err);
		return -1;
	}
	acc = r.accuracy;
	cnn_eval_result_free(&r);
	return acc;
}

/* ======================================================================== */
/* Genericity                                                               */

/* Writes a c x h x w data set in `classes` classes as IDX and as CSV,
 * trains the same network on both and checks the test accuracy. */
static void generic(const char *tag, int c, int h, int w, int classes,
                    int n_train, int n_test)
{
	synth tr = make_set(11, n_train, c, h, w, classes);
	synth te = make_set(12, n_test, c, h, w, classes);
	char train_name[64], test_name[64], mi[64], mc[64];
	cnn_model *a, *b;
	double acc_a = -1, acc_b = -1;
	float *wa = NULL, *wb = NULL;
	size_t na = 0, nb = 0;
	int shape[3];

	snprintf(train_name, sizeof train_name, "%s-train", tag);
	snprintf(test_name, sizeof test_name, "%s-test", tag);
	snprintf(mi, sizeof mi, "%s-idx", tag);
	snprintf(mc, sizeof mc, "%s-csv", tag);
	write_idx(&tr, train_name);
	write_idx(&te, test_name);
	write_csv(&tr, train_name);
	write_csv(&te, test_name);
	write_model(mi, c, h, w, classes, "idx", train_name, test_name, NULL);
	write_model(mc, c, h, w, classes, "csv", train_name, test_name, NULL);

	a = train(mi, NULL, 0, 1, NULL);
	if (ok(a != NULL, "%s: trains from gzip IDX (%s)", tag,
	       c == 1 ? "3 dimensions" : "4 dimensions, with channels")) {
		cnn_model_input_shape(a, shape);
		ok(shape[0] == c && shape[1] == h && shape[2] == w &&
		       cnn_model_classes(a) == classes,
		   "%s: the model's input is %dx%dx%d, %d classes", tag, c, h,
		   w, classes);
		acc_a = test_accuracy(a);
		ok(acc_a >= 0.9, "%s, idx: test accuracy %.3f >= 0.9", tag,
		   acc_a);
		wa = weights(a, &na);
	}
	b = train(mc, NULL, 0, 1, NULL);
	if (ok(b != NULL, "%s: trains from CSV", tag)) {
		acc_b = test_accuracy(b);
		ok(acc_b >= 0.9, "%s, csv: test accuracy %.3f >= 0.9", tag,
		   acc_b);
		wb = weights(b, &nb);
	}
	/* the same samples in both formats: the readers agree on the layout */
	ok(wa && wb && na == nb && !memcmp(wa, wb, na * sizeof *wa) &&
	       acc_a == acc_b,
	   "%s: IDX and CSV give bit-identical weights", tag);
	free(wa);
	free(wb);
	cnn_model_free(a);
	cnn_model_free(b);
	free_set(&tr);
	free_set(&te);
}

/* ======================================================================== */
/* Augmentation                                                             */

/* cnn_augment_shift on a 2 x 3 x 4 image holding 1..24, against outputs
 * written out by hand. */
static void shift_unit(void)
{
	const int shape[3] = {2, 3, 4};
	uint8_t src[24];
	float dst[24];
	/* dy = 1 (down), dx = -2 (left): row 0 empty, rows 1..2 are source
	 * rows 0..1 without their first two columns */
	static const float down_left[24] = {
	    0, 0, 0, 0, 3,  4,  0, 0, 7,  8,  0, 0, /* channel 0 */
	    0, 0, 0, 0, 15, 16, 0, 0, 19, 20, 0, 0, /* channel 1 */
	};
	/* dy = -2 (up), dx = 1 (right) */
	static const float up_right[24] = {
	    0, 9,  10, 11, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 21, 22, 23, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	int same = 1;

	for (int i = 0; i < 24; i++)
		src[i] = (uint8_t)(i + 1);
	cnn_augment_shift(dst, src, shape, 1.0f, 1, -2);
	ok(!memcmp(dst, down_left, sizeof dst),
	   "shift (1, -2) of a 2x3x4 image: down one, left two, zero filled");
	cnn_augment_shift(dst, src, shape, 1.0f, -2, 1);
	ok(!memcmp(dst, up_right, sizeof dst),
	   "shift (-2, 1): up two, right one");
	cnn_augment_shift(dst, src, shape, 0.5f, 0, 0);
	for (int i = 0; i < 24; i++)
		same &= dst[i] == (float)(i + 1) * 0.5f;
	ok(same, "shift (0, 0) is the scaled copy");
	for (int i = 0; i < 24; i++)
		dst[i] = 1;
	cnn_augment_shift(dst, src, shape, 1.0f, 0, 4);
	same = 1;
	for (int i = 0; i < 24; i++)
		same &= dst[i] == 0;
	cnn_augment_shift(dst, src, shape, 1.0f, -3, 0);
	for (int i = 0; i < 24; i++)
		same &= dst[i] == 0;
	ok(same, "a shift of the width or the height leaves zeros");
}

/* cnn_augment_draw: in range, every value drawn about equally often,
 * a function of its arguments only, different across epochs and seeds. */
static void draw_unit(void)
{
	int count[5][5] = {{0}}, in_range = 1, balanced = 1, dy, dx, dy2, dx2,
	    by_epoch = 0, by_seed = 0, repeat = 1;

	for (uint64_t i = 0; i < 2500; i++) {
		cnn_augment_draw(3, 1, i, 2, &dy, &dx);
		if (dy < -2 || dy > 2 || dx < -2 || dx > 2) {
			in_range = 0;
			continue;
		}
		count[dy + 2][dx + 2]++;
		cnn_augment_draw(3, 1, i, 2, &dy2, &dx2);
		repeat &= dy == dy2 && dx == dx2;
		cnn_augment_draw(3, 2, i, 2, &dy2, &dx2);
		by_epoch += dy != dy2 || dx != dx2;
		cnn_augment_draw(4, 1, i, 2, &dy2, &dx2);
		by_seed += dy != dy2 || dx != dx2;
	}
	/* 100 expected per cell; 60..140 is more than 4 standard deviations */
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			balanced &= count[a][b] >= 60 && count[a][b] <= 140;
	ok(in_range && balanced,
	   "draws of (dy, dx) for max 2 cover the 25 pairs about evenly");
	ok(repeat, "the same (seed, epoch, index) draws the same shift");
	ok(by_epoch > 2000 && by_seed > 2000,
	   "other epochs and seeds draw other shifts (%d, %d of 2500 differ)",
	   by_epoch, by_seed);
	cnn_augment_draw(3, 1, 7, 0, &dy, &dx);
	ok(dy == 0 && dx == 0, "max 0 draws no shift");
}

/* Whole runs with augmentation on a small colour set. */
static void augment_runs(void)
{
	synth tr = make_set(21, 48, 3, 16, 16, 4);
	synth te = make_set(22, 16, 3, 16, 16, 4);
	const char *s2[] = {"data.train.augment.shift=2", "training.epochs=2",
	                    "training.seed=5"};
	const char *s2b[] = {"data.train.augment.shift=2", "training.epochs=2",
	                     "training.seed=6"};
	const char *s0[] = {"data.train.augment.shift=0", "training.epochs=2",
	                    "training.seed=5"};
	const char *half[] = {"data.train.augment.shift=2", "training.epochs=1",
	                      "training.seed=5"};
	const char *more[] = {"training.epochs=2"};
	cnn_model *m;
	float *w[6] = {NULL};
	size_t n[6] = {0};
	cnn_error err;

	write_idx(&tr, "aug-train");
	write_idx(&te, "aug-test");
	write_model("aug", 3, 16, 16, 4, "idx", "aug-train", "aug-test", NULL);

	/* 0, 1: shift 2, seed 5, one thread twice; 2: two threads */
	for (int k = 0; k < 3; k++) {
		m = train("aug", s2, 3, k < 2 ? 1 : 2, NULL);
		if (m)
			w[k] = weights(m, &n[k]);
		cnn_model_free(m);
	}
	/* 3: seed 6; 4: shift 0 */
	if ((m = train("aug", s2b, 3, 1, NULL)))
		w[3] = weights(m, &n[3]);
	cnn_model_free(m);
	if ((m = train("aug", s0, 3, 1, NULL)))
		w[4] = weights(m, &n[4]);
	cnn_model_free(m);
	/* 5: one epoch, then resumed from its checkpoint for the second */
	if ((m = train("aug", half, 3, 1, NULL))) {
		cnn_model *r = NULL;
		cnn_train_options o = {.threads = 1};
		cnn_model_free(m);
		if (cnn_model_load(&r, P("aug.ckpt.gz"), more, 1, &err) !=
		        CNN_OK ||
		    cnn_model_train(r, &o, &err) != CNN_OK)
			show("resume", &err);
		else
			w[5] = weights(r, &n[5]);
		cnn_model_free(r);
	}
	for (int k = 0; k < 6; k++)
		if (!w[k])
			diag("run %d failed", k);

#define SAME(a, b)                                                             \
	(w[a] && w[b] && n[a] == n[b] &&                                       \
	 !memcmp(w[a], w[b], n[a] * sizeof(float)))
#define DIFFER(a, b)                                                           \
	(w[a] && w[b] && n[a] == n[b] &&                                       \
	 memcmp(w[a], w[b], n[a] * sizeof(float)))
	ok(SAME(0, 1), "shift 2: two runs with the same seed give "
	               "bit-identical weights");
	ok(SAME(0, 2), "shift 2: two threads give the weights of one");
	ok(DIFFER(0, 3), "shift 2: another seed gives other weights");
	ok(DIFFER(0, 4), "shift 0 and shift 2 give different weights");
	ok(SAME(0, 5), "shift 2: a run resumed after epoch 1 ends with the "
	               "weights of an uninterrupted one");
#undef SAME
#undef DIFFER
	for (int k = 0; k < 6; k++)
		free(w[k]);
	free_set(&tr);
	free_set(&te);
}

/* ======================================================================== */
/* Validation split                                                         */

/* A run whose callback records each epoch's weights. */
typedef struct recorder {
	cnn_model *m;
	float *w[8];
	size_t n;
} recorder;

static int record(const cnn_epoch_metrics *e, void *user)
{
	recorder *r = user;
	if (e->epoch >= 1 && e->epoch <= 8)
		r->w[e->epoch - 1] = weights(r->m, &r->n);
	return 0;
}

/* Index (0-based) of the first largest of n values. */
static int first_max(const double *v, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

#define EPOCHS  3 /* of the run that picks the best epoch */
#define STR_(x) #x
#define STR(x)  STR_(x)

static void validation(void)
{
	synth tr = make_set(31, 60, 1, 12, 20, 3);
	synth big = make_set(33, 160, 3, 16, 16, 4);
	synth te = make_set(32, 40, 3, 16, 16, 4);
	const char *frac[] = {"data.validation=0.25", "training.batch_size=1",
	                      "training.epochs=1"};
	const char *count[] = {"data.validation=7", "training.batch_size=1",
	                       "training.epochs=1"};
	const char *none[] = {"training.batch_size=1", "training.epochs=1"};
	cnn_train_state st;
	cnn_model *m;

	write_idx(&tr, "val-train");
	write_model("val", 1, 12, 20, 3, "idx", "val-train", "val-train", NULL);
	/* with batches of one sample, the steps are the training samples */
	if ((m = train("val", none, 2, 1, NULL))) {
		cnn_model_train_state(m, &st);
		ok(st.step == 60, "no validation: 60 samples trained on (%llu)",
		   (unsigned long long)st.step);
	} else {
		ok(0, "the validation model trains");
	}
	cnn_model_free(m);
	if ((m = train("val", frac, 3, 1, NULL))) {
		cnn_model_train_state(m, &st);
		/* and the accuracy on them is a number of fifteenths */
		double v = cnn_model_history(m)[0].val_accuracy * 15;
		ok(st.step == 45 && v >= 0 && fabs(v - round(v)) < 1e-9,
		   "validation 0.25 of 60 holds out 15 samples (trained on "
		   "%llu, validation accuracy %g/15)",
		   (unsigned long long)st.step, v);
	} else {
		ok(0, "validation 0.25 trains");
	}
	cnn_model_free(m);
	if ((m = train("val", count, 3, 1, NULL))) {
		cnn_model_train_state(m, &st);
		ok(st.step == 53,
		   "validation 7 holds out 7 samples (trained on "
		   "%llu)",
		   (unsigned long long)st.step);
	} else {
		ok(0, "validation 7 trains");
	}
	cnn_model_free(m);

	/* The best epoch is chosen on the validation split, not on the test
	 * set: the test labels are rotated by one class, so the test
	 * accuracy falls as the model learns while the validation accuracy
	 * rises. */
	for (int i = 0; i < te.n; i++)
		te.labels[i] = (uint8_t)((te.labels[i] + 1) % 4);
	write_idx(&big, "sel-train");
	write_idx(&te, "sel-test");
	write_model("sel", 3, 16, 16, 4, "idx", "sel-train", "sel-test", NULL);
	{
		const char *set[] = {
		    "data.validation=40", "training.epochs=" STR(EPOCHS),
		    "optimizer.learning_rate=0.002", "training.keep=best"};
		recorder rec = {NULL, {NULL}, 0};
		cnn_train_options o = {
		    .threads = 1, .on_epoch = record, .user = &rec};
		cnn_error err;
		double val[EPOCHS], test[EPOCHS];
		int h = -1, bv = -1, bt = -1;

		if (cnn_model_from_yaml(&rec.m, P("sel.yaml"), set, 4, &err) !=
		        CNN_OK ||
		    cnn_model_train(rec.m, &o, &err) != CNN_OK)
			show("sel", &err);
		else
			h = cnn_model_history_count(rec.m);
		if (h == EPOCHS) {
			const cnn_epoch_metrics *e = cnn_model_history(rec.m);
			for (int i = 0; i < EPOCHS; i++) {
				val[i] = e[i].val_accuracy;
				test[i] = e[i].test_accuracy;
				diag("epoch %d: validation %.3f, test %.3f",
				     i + 1, val[i], test[i]);
			}
			bv = first_max(val, EPOCHS);
			bt = first_max(test, EPOCHS);
			cnn_model_train_state(rec.m, &st);
		}
		if (ok(h == EPOCHS && bv != bt,
		       "the validation and the test set peak at different "
		       "epochs (%d, %d)",
		       bv + 1, bt + 1)) {
			cnn_tensor_info t;
			size_t off = 0;
			int same = 1;
			ok(st.best_epoch == bv + 1 &&
			       st.best_accuracy == val[bv],
			   "the best epoch (%d) is the validation's best",
			   st.best_epoch);
			for (int i = 0; i < cnn_model_tensor_count(rec.m);
			     i++) {
				cnn_model_tensor(rec.m, i, &t);
				same &=
				    t.best && !memcmp(t.best, rec.w[bv] + off,
				                      t.size * sizeof(float));
				off += t.size;
			}
			ok(same, "the kept weights are those of that epoch");
			ok(test_accuracy(rec.m) == test[bv],
			   "evaluation uses them (test accuracy %.3f)",
			   test[bv]);
		}
		for (int i = 0; i < 8; i++)
			free(rec.w[i]);
		cnn_model_free(rec.m);
	}
	free_set(&tr);
	free_set(&big);
	free_set(&te);
}

/* ======================================================================== */
/* Configuration errors                                                     */

/* Loads NAME.yaml with the overrides; checks that it fails with
 * CNN_ERR_CONFIG and the message want (formatted as cnnrun prints it). */
static void config_error(const char *name, const char *const *set, int n_set,
                         const char *want, const char *what)
{
	char file[128], buf[1400];
	cnn_model *m = NULL;
	cnn_error err;
	cnn_status st;

	snprintf(file, sizeof file, "%s.yaml", name);
	st = cnn_model_from_yaml(&m, P(file), set, n_set, &err);
	cnn_error_string(&err, buf, sizeof buf);
	if (!ok(st == CNN_ERR_CONFIG && !strcmp(buf, want), "%s", what))
		diag("got %d \"%s\", expected \"%s\"", st, buf, want);
	cnn_model_free(m);
}

static void errors(void)
{
	const char *nine[] = {"data.train.augment.shift=9"};
	const char *typo[] = {"data.train.augment.shfit=1"};
	const char *flat[] = {"data.train.augment=2"};
	char want[1400];
	synth tiny = make_set(41, 8, 1, 4, 6, 2);

	write_idx(&tiny, "tiny");
	write_model("bad", 1, 4, 6, 2, "idx", "tiny", "tiny", NULL);
	/* augment under data.test, on line 9, column 10 */
	{
		FILE *f = fopen(P("bad-test.yaml"), "w");
		if (!f)
			die("bad-test.yaml");
		fprintf(f, "input: {channels: 1, height: 4, width: 6}\n"
		           "layers:\n"
		           "  - {type: dense, units: 2}\n"
		           "  - {type: softmax}\n"
		           "data:\n"
		           "  train: {images: tiny-images.idx.gz, "
		           "labels: tiny-labels.idx.gz, augment: {shift: 1}}\n"
		           "  test: {images: tiny-images.idx.gz,\n"
		           "         labels: tiny-labels.idx.gz,\n"
		           "         augment: {shift: 1}}\n");
		if (fclose(f) != 0)
			die("bad-test.yaml");
	}
	snprintf(want, sizeof want,
	         "%s:9:10: data.test.augment: only valid under data.train "
	         "(validation and test samples are never augmented)",
	         P("bad-test.yaml"));
	config_error("bad-test", NULL, 0, want,
	             "augment under data.test is refused at its key");
	config_error("bad", nine, 1,
	             "--set data.train.augment.shift: expected an integer from "
	             "0 to 8, got \"9\"",
	             "shift 9 is out of range");
	{
		const char *four[] = {"data.train.augment.shift=4"};
		config_error(
		    "bad", four, 1,
		    "--set data.train.augment.shift: expected an "
		    "integer from 0 to 3 (below the input's height and width, "
		    "4x6), got \"4\"",
		    "a shift must be below the height and the width");
	}
	config_error(
	    "bad", typo, 1,
	    "--set data.train.augment.shfit: data.train.augment: "
	    "unknown key \"shfit\" (expected one of: shift, flip, crop)",
	    "an unknown key under augment is refused");
	config_error("bad", flat, 1,
	             "--set data.train.augment: expected a mapping, got \"2\"",
	             "augment must be a mapping");
	free_set(&tiny);
}

int main(void)
{
	plan_no_plan();
	snprintf(dir, sizeof dir, "%s/test_generic.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done();
	}
	generic("rgb16", 3, 16, 16, 4, 200, 80);
	generic("grey12x20", 1, 12, 20, 3, 180, 60);
	shift_unit();
	draw_unit();
	augment_runs();
	validation();
	errors();
	remove_dir();
	return done();
}

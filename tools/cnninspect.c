/*
 * cnninspect.c - shows what a libcnn checkpoint holds: the model, its
 * tensors with statistics, the training state and the metric history, as a
 * readable summary (with a text histogram of every tensor) or as one JSON
 * object; dumps one tensor's values (text, CSV or NumPy .npy); draws the
 * conv2d filters as images; plots the learning curves as SVG.
 *
 * Thin by design: it loads the checkpoint with cnn_model_load (which
 * verifies the whole file) and prints through the public API only.
 * Exit status: 0 success, 1 runtime failure (I/O, damaged checkpoint),
 * 2 usage error. Every error is one line on stderr.
 *
 * Numbers are printed with "%.9g" (enough digits to round-trip a float);
 * the tool never calls setlocale, so the decimal point is always '.'.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cnn.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OPT_PARAMS 16
#define HIST_BINS      24    /* bins of the histograms */
#define MAX_ZOOM       256   /* --zoom's largest value */
#define MAX_IMAGE      16384 /* the largest filter image side, in pixels */
#define GAP_GREY       255   /* the gap between a filter's channel tiles */

static const char *progname = "cnninspect";

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: %s [OPTION]... CKPT.gz\n"
	        "       %s --tensor NAME [--format text|csv|npy] CKPT.gz\n"
	        "       %s --filters DIR [--zoom Z] [--image-format png|pgm] "
	        "CKPT.gz\n"
	        "       %s --plot FILE.svg CKPT.gz\n"
	        "       %s --diff A.gz B.gz\n"
	        "Show what a libcnn checkpoint holds: the model, its tensors "
	        "with statistics and\n"
	        "a histogram, the training state and the metric history. The "
	        "whole file is\n"
	        "verified first.\n"
	        "\n"
	        "      --json           print one JSON object instead of "
	        "the summary\n"
	        "  -t, --tensor NAME    print tensor NAME's values (see "
	        "--format)\n"
	        "      --format FMT     with --tensor: text, the name and "
	        "shape on one line, then\n"
	        "                       one value per line; csv, one row per "
	        "combination of the\n"
	        "                       leading indices (row-major order), the "
	        "last dimension as\n"
	        "                       the columns, no header; npy, a NumPy "
	        ".npy file (format\n"
	        "                       1.0, little-endian float32) on "
	        "standard output, refused\n"
	        "                       when that is a terminal [text]\n"
	        "      --filters DIR    write every filter of every conv2d "
	        "layer as a greyscale\n"
	        "                       image DIR/LAYER_fN.png (or .pgm), N "
	        "from 0: its input\n"
	        "                       channels as tiles side by side, 1 "
	        "white cell apart, the\n"
	        "                       layer's weights mapped linearly from "
	        "their min (black)\n"
	        "                       to their max (white); DIR is created "
	        "if missing\n"
	        "      --zoom Z         with --filters: each weight as a "
	        "ZxZ block, 1 to %d [16]\n"
	        "      --image-format F with --filters: png or pgm [png when "
	        "libcnn has libpng,\n"
	        "                       else pgm; here %s]\n"
	        "      --plot FILE      write the learning curves (loss, "
	        "accuracies, the best\n"
	        "                       epoch) as an SVG document to FILE\n"
	        "  -d, --diff A.gz B.gz compare two checkpoints: every tensor "
	        "(weights, optimiser\n"
	        "                       moments, best weights) bit for bit, "
	        "with the largest\n"
	        "                       absolute difference, and the training "
	        "position\n"
	        "  -h, --help           show this help and exit\n"
	        "  -V, --version        show the version and exit\n"
	        "\n"
	        "The histograms have %d bins between the tensor's min and max, "
	        "drawn with\n"
	        "\" .:-=+*#%%@\" from empty to the fullest bin.\n"
	        "Exit status: 0 success, 1 a damaged or unreadable checkpoint "
	        "or a file that\n"
	        "cannot be written, 2 a usage error.\n",
	        progname, progname, progname, progname, progname, MAX_ZOOM,
	        cnn_have_png() ? "png" : "pgm", HIST_BINS);
}

/* One line on stderr, then the exit status. */
__attribute__((format(printf, 2, 3))) static int fail(int status,
                                                      const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* A failed library call: its error as one line, then its exit status. */
static int fail_err(const cnn_error *err)
{
	char buf[1200];
	return fail(cnn_status_exit_code(err->status), "%s",
	            cnn_error_string(err, buf, sizeof buf));
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* "2x1x5x5" */
static void shape_string(char *buf, size_t size, const int *shape, int ndim)
{
	size_t k = 0;
	int i, r;
	buf[0] = '\0';
	for (i = 0; i < ndim; i++) {
		r = snprintf(buf + k, size - k, "%s%d", i ? "x" : "", shape[i]);
		if (r < 0 || (size_t)r >= size - k)
			return;
		k += (size_t)r;
	}
}

typedef struct stats {
	double min, max, mean, std;
} stats;

/* Minimum, maximum, mean and population standard deviation, in double
 * precision (two passes, so the variance does not cancel). */
static stats tensor_stats(const float *v, size_t n)
{
	stats s = {0, 0, 0, 0};
	double sum = 0, sq = 0, d;
	size_t i;
	if (!n)
		return s;
	s.min = s.max = v[0];
	for (i = 0; i < n; i++) {
		if (v[i] < s.min)
			s.min = v[i];
		if (v[i] > s.max)
			s.max = v[i];
		sum += v[i];
	}
	s.mean = sum / (double)n;
	for (i = 0; i < n; i++) {
		d = v[i] - s.mean;
		sq += d * d;
	}
	s.std = sqrt(sq / (double)n);
	return s;
}

/* Counts v's finite values in HIST_BINS equal bins from s->min to s->max
 * (the last bin includes max; when min == max, all are in the first). */
static void tensor_histogram(const float *v, size_t n, const stats *s,
                             size_t counts[HIST_BINS])
{
	double width = (s->max - s->min) / HIST_BINS;
	memset(counts, 0, HIST_BINS * sizeof *counts);
	for (size_t i = 0; i < n; i++) {
		long b = 0;
		if (!isfinite(v[i]))
			continue;
		if (width > 0)
			b = (long)((v[i] - s->min) / width);
		counts[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
	}
}

/* The summary's histogram line: one character per bin, from ' ' (empty)
 * through '.' (a few values) to '@' (the fullest bin), then the range. */
static void print_histogram(const float *v, size_t n, const stats *s)
{
	static const char ramp[] = " .:-=+*#%@";
	size_t counts[HIST_BINS], most = 0;
	char bar[HIST_BINS + 1];
	int b;

	tensor_histogram(v, n, s, counts);
	for (b = 0; b < HIST_BINS; b++)
		if (counts[b] > most)
			most = counts[b];
	for (b = 0; b < HIST_BINS; b++)
		bar[b] = counts[b] ? ramp[1 + counts[b] * 8 / most] : ' ';
	bar[HIST_BINS] = '\0';
	printf("    histogram |%s| %d bins of %.3g from %.6g to %.6g, "
	       "fullest %zu\n",
	       bar, HIST_BINS, (s->max - s->min) / HIST_BINS, s->min, s->max,
	       most);
}

/* A JSON number; NaN and infinities (not representable) become null. */
static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.9g", v);
	else
		fputs("null", f);
}

/* A fraction that is negative when absent (no test set...): null then. */
static void json_fraction(FILE *f, double v)
{
	if (v < 0)
		fputs("null", f);
	else
		json_number(f, v);
}

static void json_shape(FILE *f, const int *shape, int ndim)
{
	int i;
	fputc('[', f);
	for (i = 0; i < ndim; i++)
		fprintf(f, "%s%d", i ? ", " : "", shape[i]);
	fputc(']', f);
}

/* ", "histogram": {"min": .., "max": .., "counts": [HIST_BINS counts]}" */
static void json_histogram(FILE *f, const float *v, size_t n, const stats *s)
{
	size_t counts[HIST_BINS];
	tensor_histogram(v, n, s, counts);
	fputs(", \"histogram\": {\"min\": ", f);
	json_number(f, s->min);
	fputs(", \"max\": ", f);
	json_number(f, s->max);
	fputs(", \"counts\": [", f);
	for (int b = 0; b < HIST_BINS; b++)
		fprintf(f, "%s%zu", b ? ", " : "", counts[b]);
	fputs("]}", f);
}

/* A fraction for the summary: "0.9512" or "-" when absent. */
static void text_fraction(char *buf, size_t size, double v)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.4f", v);
}

/* ------------------------------------------------------------------------ */
/* Whether every layer reads the one before it (the first, the input). */
static int is_chain(const cnn_model *m)
{
	cnn_layer_info li, prev;

	for (int i = 0; i < cnn_model_layer_count(m); i++) {
		if (cnn_model_layer(m, i, &li) != CNN_OK || li.n_inputs != 1 ||
		    strcmp(li.inputs[0], i ? prev.name : "input"))
			return 0;
		prev = li;
	}
	return 1;
}

/* The summary                                                              */

/* The summary's layer table: name, type, output shape and trainable
 * parameters of each layer, a graph's inputs in a last column (not for a
 * plain chain), and the total. */
static void print_layer_table(const cnn_model *m)
{
	cnn_layer_info li;
	int nl = cnn_model_layer_count(m), i, wn = 4, wt = 4, graph;
	char shape[64];
	size_t total = 0;

	for (i = 0; i < nl; i++) {
		if (cnn_model_layer(m, i, &li) != CNN_OK)
			continue;
		if ((int)strlen(li.name) > wn)
			wn = (int)strlen(li.name);
		if ((int)strlen(li.type) > wt)
			wt = (int)strlen(li.type);
	}
	graph = !is_chain(m);
	printf("\nlayers:\n  %-*s  %-*s  %-12s  %10s%s\n", wn, "name", wt,
	       "type", "output", "params", graph ? "  input" : "");
	for (i = 0; i < nl; i++) {
		if (cnn_model_layer(m, i, &li) != CNN_OK)
			continue;
		shape_string(shape, sizeof shape, li.out_shape, 3);
		printf("  %-*s  %-*s  %-12s  %10zu", wn, li.name, wt, li.type,
		       shape, li.n_params);
		for (int k = 0; graph && k < li.n_inputs; k++)
			printf("%s%s", k ? ", " : "  ", li.inputs[k]);
		printf("\n");
		total += li.n_params;
	}
	printf("  %-*s  %-*s  %-12s  %10zu\n", wn, "total", wt, "", "", total);
}

/* The summary's tensor table: name, shape and statistics of each tensor,
 * each followed by its histogram line. */
static void print_tensor_table(const cnn_model *m)
{
	cnn_tensor_info ti;
	int nt = cnn_model_tensor_count(m), i, wn = 4, ws = 5;
	char shape[64];
	stats s;

	for (i = 0; i < nt; i++) {
		if (cnn_model_tensor(m, i, &ti) != CNN_OK)
			continue;
		shape_string(shape, sizeof shape, ti.shape, ti.ndim);
		if ((int)strlen(ti.name) > wn)
			wn = (int)strlen(ti.name);
		if ((int)strlen(shape) > ws)
			ws = (int)strlen(shape);
	}
	printf("\ntensors:\n  %-*s  %-*s  %13s  %13s  %13s  %13s\n", wn, "name",
	       ws, "shape", "min", "max", "mean", "std");
	for (i = 0; i < nt; i++) {
		if (cnn_model_tensor(m, i, &ti) != CNN_OK)
			continue;
		shape_string(shape, sizeof shape, ti.shape, ti.ndim);
		s = tensor_stats(ti.data, ti.size);
		printf("  %-*s  %-*s  %13.6g  %13.6g  %13.6g  %13.6g%s\n", wn,
		       ti.name, ws, shape, s.min, s.max, s.mean, s.std,
		       ti.frozen ? "  frozen" : "");
		print_histogram(ti.data, ti.size, &s);
	}
}

/* The summary's training state: the position (epoch, samples into the
 * next, steps), the best epoch, what is kept and the optimiser with its
 * hyperparameters. */
static void print_training(const cnn_model *m, const cnn_train_state *ts)
{
	const char *pn[MAX_OPT_PARAMS];
	double pv[MAX_OPT_PARAMS];
	int np, i;

	printf("\ntraining:\n");
	printf("  epoch:          %d of %d", ts->epoch, ts->epochs);
	if (ts->epoch_samples)
		printf(", and %llu samples of epoch %d",
		       (unsigned long long)ts->epoch_samples, ts->epoch + 1);
	printf("\n");
	printf("  steps:          %llu\n", (unsigned long long)ts->step);
	if (ts->best_epoch > 0)
		printf("  best epoch:     %d (accuracy %.4f)\n", ts->best_epoch,
		       ts->best_accuracy);
	else
		printf("  best epoch:     none\n");
	printf("  keep:           %s\n", ts->keep);
	printf("  optimizer:      %s", ts->optimizer);
	np = cnn_model_optimizer_params(m, pn, pv, MAX_OPT_PARAMS);
	if (np > MAX_OPT_PARAMS)
		np = MAX_OPT_PARAMS;
	for (i = 0; i < np; i++)
		printf("%s%s %.9g", i ? ", " : " (", pn[i], pv[i]);
	printf("%s\n", np ? ")" : "");
}

/* The summary's metric history, one line per epoch ("-" for an accuracy
 * not measured), or a note when no epoch is complete. */
static void print_history(const cnn_model *m)
{
	const cnn_epoch_metrics *h = cnn_model_history(m);
	int nh = cnn_model_history_count(m);
	char a[32], b[32];

	printf("\nhistory:\n");
	if (!nh) {
		printf("  (no epochs completed)\n");
		return;
	}
	printf("  %5s  %12s  %9s  %9s  %9s\n", "epoch", "loss", "train acc",
	       "test acc", "seconds");
	for (int i = 0; i < nh; i++) {
		text_fraction(a, sizeof a, h[i].train_accuracy);
		text_fraction(b, sizeof b, h[i].test_accuracy);
		printf("  %5d  %12.6g  %9s  %9s  %9.2f\n", h[i].epoch,
		       h[i].loss, a, b, h[i].seconds);
	}
}

/* "initialised from: PATH (model NAME, epoch E; N tensors copied)" when
 * the model's weights started from another checkpoint (init). */
static void print_init(const cnn_model *m)
{
	cnn_init_info ii;

	if (cnn_model_init_info(m, &ii))
		printf("initialised from: %s (model %s, epoch %d; %d tensor%s "
		       "copied)\n",
		       ii.from, ii.model, ii.epoch, ii.n_copied,
		       ii.n_copied == 1 ? "" : "s");
}

/* The readable summary of the checkpoint at path: where it is, its format
 * and model, then the layers, tensors, training state and history. */
static void print_summary(const cnn_model *m, const char *path)
{
	cnn_train_state ts;

	cnn_model_train_state(m, &ts);
	printf("checkpoint:     %s\n", path);
	printf("format version: %d\n", ts.checkpoint_version);
	printf("model:          %s\n", cnn_model_name(m));
	if (cnn_model_class_name(m, 0)) {
		printf("classes:        %d:", cnn_model_classes(m));
		for (int c = 0; c < cnn_model_classes(m); c++)
			printf(" %s", cnn_model_class_name(m, c));
		printf("\n");
	}
	print_init(m);
	print_layer_table(m);
	print_tensor_table(m);
	print_training(m, &ts);
	print_history(m);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

/* The "model" member of --json: the name, the number of classes and their
 * names (null when the model has none), every layer (name, type, inputs,
 * shapes, parameters) and the total of trainable parameters. */
static void json_model(const cnn_model *m)
{
	cnn_layer_info li;
	int nl = cnn_model_layer_count(m), i, k;
	size_t total = 0;

	printf("  \"model\": {\n    \"name\": ");
	cli_json_string(stdout, cnn_model_name(m));
	printf(",\n    \"classes\": %d,\n    \"class_names\": ",
	       cnn_model_classes(m));
	cli_json_class_names(stdout, m);
	printf(",\n    \"layers\": [");
	for (i = k = 0; i < nl; i++) {
		if (cnn_model_layer(m, i, &li) != CNN_OK)
			continue;
		printf("%s\n      {\"name\": ", k++ ? "," : "");
		cli_json_string(stdout, li.name);
		printf(", \"type\": ");
		cli_json_string(stdout, li.type);
		printf(", \"inputs\": [");
		for (int j = 0; j < li.n_inputs; j++) {
			printf("%s", j ? ", " : "");
			cli_json_string(stdout, li.inputs[j]);
		}
		printf("], \"input_shape\": ");
		json_shape(stdout, li.in_shape, 3);
		printf(", \"output_shape\": ");
		json_shape(stdout, li.out_shape, 3);
		printf(", \"params\": %zu}", li.n_params);
		total += li.n_params;
	}
	printf("\n    ],\n    \"params\": %zu\n  },\n", total);
}

/* The "tensors" member of --json: each tensor's name, shape, size,
 * statistics (null when not finite) and histogram. */
static void json_tensors(const cnn_model *m)
{
	cnn_tensor_info ti;
	int nt = cnn_model_tensor_count(m), i, k;
	stats s;

	printf("  \"tensors\": [");
	for (i = k = 0; i < nt; i++) {
		if (cnn_model_tensor(m, i, &ti) != CNN_OK)
			continue;
		s = tensor_stats(ti.data, ti.size);
		printf("%s\n    {\"name\": ", k++ ? "," : "");
		cli_json_string(stdout, ti.name);
		printf(", \"shape\": ");
		json_shape(stdout, ti.shape, ti.ndim);
		printf(", \"size\": %zu, \"min\": ", ti.size);
		json_number(stdout, s.min);
		printf(", \"max\": ");
		json_number(stdout, s.max);
		printf(", \"mean\": ");
		json_number(stdout, s.mean);
		printf(", \"std\": ");
		json_number(stdout, s.std);
		json_histogram(stdout, ti.data, ti.size, &s);
		printf(", \"trainable\": %s, \"frozen\": %s}",
		       ti.trainable ? "true" : "false",
		       ti.frozen ? "true" : "false");
	}
	printf("\n  ],\n");
}

/* The "training" member of --json: the position, the best epoch (null
 * when none), what is kept and the optimiser with its hyperparameters. */
static void json_training(const cnn_model *m, const cnn_train_state *ts)
{
	const char *pn[MAX_OPT_PARAMS];
	double pv[MAX_OPT_PARAMS];
	int np, i;

	printf("  \"training\": {\n    \"epoch\": %d,\n    \"epochs\": %d,\n",
	       ts->epoch, ts->epochs);
	printf("    \"epoch_samples\": %llu,\n",
	       (unsigned long long)ts->epoch_samples);
	printf("    \"step\": %llu,\n", (unsigned long long)ts->step);
	if (ts->best_epoch > 0) {
		printf("    \"best_epoch\": %d,\n    \"best_test_accuracy\": ",
		       ts->best_epoch);
		json_number(stdout, ts->best_accuracy);
		printf(",\n");
	} else {
		printf("    \"best_epoch\": null,\n"
		       "    \"best_test_accuracy\": null,\n");
	}
	printf("    \"keep\": ");
	cli_json_string(stdout, ts->keep);
	printf(",\n    \"optimizer\": {\"type\": ");
	cli_json_string(stdout, ts->optimizer);
	np = cnn_model_optimizer_params(m, pn, pv, MAX_OPT_PARAMS);
	if (np > MAX_OPT_PARAMS)
		np = MAX_OPT_PARAMS;
	for (i = 0; i < np; i++) {
		printf(", ");
		cli_json_string(stdout, pn[i]);
		printf(": ");
		json_number(stdout, pv[i]);
	}
	printf("}\n  },\n");
}

/* The "history" member of --json, the last one: one object per epoch
 * (null for an accuracy not measured). */
static void json_history(const cnn_model *m)
{
	const cnn_epoch_metrics *h = cnn_model_history(m);
	int nh = cnn_model_history_count(m);

	printf("  \"history\": [");
	for (int i = 0; i < nh; i++) {
		printf("%s\n    {\"epoch\": %d, \"loss\": ", i ? "," : "",
		       h[i].epoch);
		json_number(stdout, h[i].loss);
		printf(", \"train_accuracy\": ");
		json_fraction(stdout, h[i].train_accuracy);
		printf(", \"test_accuracy\": ");
		json_fraction(stdout, h[i].test_accuracy);
		printf(", \"val_accuracy\": ");
		json_fraction(stdout, h[i].val_accuracy);
		printf(", \"seconds\": ");
		json_number(stdout, h[i].seconds);
		printf("}");
	}
	printf("%s]\n", nh ? "\n  " : "");
}

/* The "init" member of --json: null, or where the weights started from
 * (from, model, epoch) and the tensors copied. */
static void json_init(const cnn_model *m)
{
	cnn_init_info ii;

	printf("  \"init\": ");
	if (!cnn_model_init_info(m, &ii)) {
		printf("null,\n");
		return;
	}
	printf("{\"from\": ");
	cli_json_string(stdout, ii.from);
	printf(", \"model\": ");
	cli_json_string(stdout, ii.model);
	printf(", \"epoch\": %d, \"tensors\": [", ii.epoch);
	for (int i = 0; i < ii.n_copied; i++) {
		printf("%s", i ? ", " : "");
		cli_json_string(stdout, ii.copied[i]);
	}
	printf("]},\n");
}

/* Everything the summary shows as one JSON object (--json). */
static void print_json(const cnn_model *m)
{
	cnn_train_state ts;

	cnn_model_train_state(m, &ts);
	printf("{\n  \"format_version\": %d,\n", ts.checkpoint_version);
	json_model(m);
	json_init(m);
	json_tensors(m);
	json_training(m, &ts);
	json_history(m);
	printf("}\n");
}

/* ------------------------------------------------------------------------ */
/* One tensor                                                               */

enum tensor_format { FORMAT_TEXT, FORMAT_CSV, FORMAT_NPY };

/* Finds the tensor called name: 1 and *out filled, or 0. */
static int find_tensor(const cnn_model *m, const char *name,
                       cnn_tensor_info *out)
{
	for (int i = 0; i < cnn_model_tensor_count(m); i++)
		if (cnn_model_tensor(m, i, out) == CNN_OK &&
		    !strcmp(out->name, name))
			return 1;
	return 0;
}

/* The values as CSV: the last dimension as the columns, one row per
 * combination of the other indices in row-major order (a 1-D tensor is one
 * row); no header. */
static void print_csv(const cnn_tensor_info *ti)
{
	size_t cols = ti->ndim ? (size_t)ti->shape[ti->ndim - 1] : ti->size;
	if (!cols)
		return;
	for (size_t j = 0; j < ti->size; j++)
		printf("%s%.9g%s", j % cols ? "," : "", ti->data[j],
		       (j + 1) % cols ? "" : "\n");
}

/* The tensor as a NumPy .npy file, format 1.0: the magic "\x93NUMPY", the
 * version 1 0, the header's length (2 bytes, little-endian), the header (a
 * Python dict literal padded with spaces and a final newline so that the
 * data starts at a multiple of 64 bytes), then the values as little-endian
 * float32 in row-major (C) order. */
static void print_npy(FILE *f, const cnn_tensor_info *ti)
{
	char hdr[256];
	int k, total;

	k = snprintf(hdr, sizeof hdr,
	             "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int i = 0; i < ti->ndim; i++)
		k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s%d",
		              i ? ", " : "", ti->shape[i]);
	k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s), }",
	              ti->ndim == 1 ? "," : "");
	total = (10 + k + 1 + 63) / 64 * 64; /* magic to newline */
	while (10 + k + 1 < total)
		hdr[k++] = ' ';
	hdr[k++] = '\n';
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc(k & 0xff, f);
	fputc(k >> 8, f);
	fwrite(hdr, 1, (size_t)k, f);
	for (size_t j = 0; j < ti->size; j++) {
		uint32_t u;
		memcpy(&u, &ti->data[j], sizeof u);
		for (int byte = 0; byte < 4; byte++)
			fputc((int)(u >> (8 * byte)) & 0xff, f);
	}
}

/* Prints tensor name's values in the format; exit status 2 if there is no
 * such tensor (the message lists those there are). Text is "NAME SHAPE"
 * then one value per line. */
static int print_tensor(const cnn_model *m, const char *path, const char *name,
                        enum tensor_format format)
{
	cnn_tensor_info ti;
	char shape[64];
	int nt = cnn_model_tensor_count(m), i;
	size_t j, len, k;
	char *list;

	if (find_tensor(m, name, &ti)) {
		if (format == FORMAT_CSV) {
			print_csv(&ti);
		} else if (format == FORMAT_NPY) {
			print_npy(stdout, &ti);
		} else {
			shape_string(shape, sizeof shape, ti.shape, ti.ndim);
			printf("%s %s\n", ti.name, shape);
			for (j = 0; j < ti.size; j++)
				printf("%.9g\n", ti.data[j]);
		}
		return 0;
	}

	for (i = 0, len = 1; i < nt; i++)
		if (cnn_model_tensor(m, i, &ti) == CNN_OK)
			len += strlen(ti.name) + 2;
	list = malloc(len);
	if (!list)
		return fail(2, "no tensor \"%s\" in %s", name, path);
	for (i = 0, k = 0; i < nt; i++)
		if (cnn_model_tensor(m, i, &ti) == CNN_OK)
			k += (size_t)sprintf(list + k, "%s%s", k ? ", " : "",
			                     ti.name);
	list[k] = '\0';
	fail(2, "no tensor \"%s\" in %s (tensors: %s)", name, path,
	     k ? list : "none");
	free(list);
	return 2;
}

/* ------------------------------------------------------------------------ */
/* Filter images                                                            */

/* Creates the folder dir unless it is one already: 0, or the exit status
 * after one line. */
static int make_folder(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0777) == 0)
		return 0;
	if (errno != EEXIST)
		return fail(1, "%s: cannot create the folder: %s", dir,
		            strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return fail(1, "%s: exists and is not a folder", dir);
	return 0;
}

/* Draws filter f of a F x C x KH x KW conv weight into pixels (its size
 * (C * KW + C - 1) * zoom by KH * zoom): channel c's KH x KW tile at cell
 * column c * (KW + 1), each weight a zoom x zoom block, grey (w - s->min) /
 * (s->max - s->min) * 255 (128 when max == min), the gaps GAP_GREY. */
static void draw_filter(uint8_t *pixels, const cnn_tensor_info *ti, int f,
                        const stats *s, int zoom)
{
	int nc = ti->shape[1], kh = ti->shape[2], kw = ti->shape[3];
	size_t width = (size_t)(nc * kw + nc - 1) * (size_t)zoom;
	const float *w = ti->data + (size_t)f * (size_t)(nc * kh * kw);
	double range = s->max - s->min;

	memset(pixels, GAP_GREY, width * (size_t)(kh * zoom));
	for (int c = 0; c < nc; c++)
		for (int y = 0; y < kh; y++)
			for (int x = 0; x < kw; x++, w++) {
				double g =
				    range > 0 ? (*w - s->min) / range : 0.5;
				int v = isfinite(g) ? (int)lround(g * 255) : 0;
				size_t x0 =
				    (size_t)(c * (kw + 1) + x) * (size_t)zoom;
				for (int r = 0; r < zoom; r++)
					memset(pixels +
					           ((size_t)(y * zoom + r)) *
					               width +
					           x0,
					       v < 0     ? 0
					       : v > 255 ? 255
					                 : v,
					       (size_t)zoom);
			}
}

/* Writes every filter of every conv2d layer as DIR/LAYER_fN.EXT (N from 0),
 * printing each file's name and size; a note and 0 when there is no conv2d
 * layer (DIR is then not created). Returns the exit status. */
static int write_filters(const cnn_model *m, const char *path, const char *dir,
                         int zoom, int png)
{
	cnn_layer_info li;
	cnn_tensor_info ti;
	cnn_error err;
	char name[PATH_MAX + 256], wname[256];
	size_t dirlen = strlen(dir);
	int convs = 0, status;

	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--; /* "out/" gives "out/conv2d1_f0.png" */
	for (int i = 0; i < cnn_model_layer_count(m); i++) {
		uint8_t *pixels;
		int width, height, nc, kw;
		stats s;

		if (cnn_model_layer(m, i, &li) != CNN_OK ||
		    strcmp(li.type, "conv2d") != 0)
			continue;
		snprintf(wname, sizeof wname, "%s.weight", li.name);
		if (!find_tensor(m, wname, &ti) || ti.ndim != 4)
			return fail(1, "%s: layer %s has no 4-D weight %s",
			            path, li.name, wname);
		nc = ti.shape[1];
		kw = ti.shape[3];
		if (((long long)nc * (kw + 1) - 1) * zoom > MAX_IMAGE ||
		    (long long)ti.shape[2] * zoom > MAX_IMAGE)
			return fail(2,
			            "%s: the filters of %s would be wider or "
			            "taller than %d pixels with --zoom %d",
			            path, li.name, MAX_IMAGE, zoom);
		if (!convs++ && (status = make_folder(dir)) != 0)
			return status;
		width = (nc * (kw + 1) - 1) * zoom;
		height = ti.shape[2] * zoom;
		pixels = malloc((size_t)width * (size_t)height);
		if (!pixels)
			return fail(1, "out of memory for a %dx%d image", width,
			            height);
		s = tensor_stats(ti.data, ti.size);
		for (int f = 0; f < ti.shape[0]; f++) {
			cnn_status st;
			if (snprintf(name, sizeof name, "%.*s/%s_f%d.%s",
			             (int)dirlen, dir, li.name, f,
			             png ? "png" : "pgm") >= (int)sizeof name) {
				free(pixels);
				return fail(
				    2, "%s: the folder name is too long", dir);
			}
			draw_filter(pixels, &ti, f, &s, zoom);
			st = png ? cnn_image_write_png(name, pixels, width,
			                               height, &err)
			         : cnn_image_write_pgm(name, pixels, width,
			                               height, &err);
			if (st != CNN_OK) {
				free(pixels);
				return fail_err(&err);
			}
			printf("%s: %dx%d\n", name, width, height);
		}
		free(pixels);
	}
	if (!convs)
		printf("%s: no conv2d layer, no filter image written\n", path);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Learning curves                                                          */

/* Writes the history as an SVG chart (title: the model's name; the best
 * epoch marked) and says so; returns the exit status. */
static int write_plot(const cnn_model *m, const char *file)
{
	cnn_train_state ts;
	cnn_error err;
	int n = cnn_model_history_count(m);

	cnn_model_train_state(m, &ts);
	if (cnn_plot_svg(file, cnn_model_name(m), cnn_model_history(m), n,
	                 ts.best_epoch, &err) != CNN_OK)
		return fail_err(&err);
	printf("%s: learning curves of %d epoch%s\n", file, n,
	       n == 1 ? "" : "s");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Two checkpoints                                                          */

/* Compares n floats bit for bit; sets *max to the largest |a - b| (NaN if
 * a NaN meets a number) and returns how many differ. */
static size_t compare_floats(const float *a, const float *b, size_t n,
                             double *max)
{
	size_t differ = 0;
	*max = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (!memcmp(&a[i], &b[i], sizeof(float)))
			continue;
		differ++;
		double d = fabs((double)a[i] - (double)b[i]);
		if (isnan(d) || d > *max)
			*max = isnan(*max) ? *max : d;
	}
	return differ;
}

/* Prints, for every tensor and role of a (matched by name in b), the
 * largest absolute difference and how many values differ bit for bit, then
 * the training positions, and one closing line: "identical" or what
 * differs. Returns 0 (the comparison itself succeeded). */
static int print_diff(const cnn_model *a, const char *pa, const cnn_model *b,
                      const char *pb)
{
	static const char *const roles[] = {"weight", "moment1", "moment2",
	                                    "best"};
	cnn_tensor_info ta, tb;
	cnn_train_state sa, sb;
	int na = cnn_model_tensor_count(a), nb = cnn_model_tensor_count(b);
	int matched = 0, bad_tensors = 0;
	size_t values = 0, differ = 0;

	printf("%-20s %-8s %14s %12s\n", "tensor", "role", "max |a-b|",
	       "differing");
	for (int i = 0; i < na; i++) {
		int j;
		if (cnn_model_tensor(a, i, &ta) != CNN_OK)
			continue;
		for (j = 0; j < nb; j++)
			if (cnn_model_tensor(b, j, &tb) == CNN_OK &&
			    !strcmp(ta.name, tb.name))
				break;
		if (j == nb || ta.size != tb.size || ta.ndim != tb.ndim ||
		    memcmp(ta.shape, tb.shape, sizeof ta.shape)) {
			printf("%-20s %s\n", ta.name,
			       j == nb ? "only in the first checkpoint"
			               : "has another shape");
			bad_tensors++;
			continue;
		}
		matched++;
		const float *va[4] = {ta.data, ta.moment1, ta.moment2, ta.best};
		const float *vb[4] = {tb.data, tb.moment1, tb.moment2, tb.best};
		for (int r = 0; r < 4; r++) {
			double max;
			size_t d;
			if (!va[r] || !vb[r]) {
				if (va[r] || vb[r]) {
					printf("%-20s %-8s %s\n", ta.name,
					       roles[r],
					       "stored in one checkpoint only");
					bad_tensors++;
				}
				continue;
			}
			d = compare_floats(va[r], vb[r], ta.size, &max);
			printf("%-20s %-8s %14.6g %12zu\n", ta.name, roles[r],
			       max, d);
			values += ta.size;
			differ += d;
			bad_tensors += d > 0;
		}
	}
	if (matched < nb) {
		printf("(%d tensors only in the second checkpoint)\n",
		       nb - matched);
		bad_tensors += nb - matched;
	}
	cnn_model_train_state(a, &sa);
	cnn_model_train_state(b, &sb);
	int same_pos = sa.epoch == sb.epoch && sa.step == sb.step &&
	               sa.epoch_samples == sb.epoch_samples;
	printf("position: epoch %d, step %llu, %llu samples into the next "
	       "epoch / epoch %d, step %llu, %llu samples\n",
	       sa.epoch, (unsigned long long)sa.step,
	       (unsigned long long)sa.epoch_samples, sb.epoch,
	       (unsigned long long)sb.step,
	       (unsigned long long)sb.epoch_samples);
	if (!bad_tensors && same_pos)
		printf("%s and %s: identical (%zu values, bit for bit, and "
		       "the same position)\n",
		       pa, pb, values);
	else
		printf("%s and %s: differ (%zu of %zu values, %d tensors; "
		       "position %s)\n",
		       pa, pb, differ, values, bad_tensors,
		       same_pos ? "the same" : "differs");
	return 0;
}

/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* The command line                                                         */

/* getopt_long's codes for the options without a short form. */
enum { OPT_FORMAT = 256, OPT_FILTERS, OPT_ZOOM, OPT_IMAGE_FORMAT, OPT_PLOT };

/* parse_args's and check_args's "carry on": no exit status yet. */
#define GO_ON (-1)

/* The command line: the options as given, then (check_args) their values
 * decoded. */
typedef struct args {
	const char *path, *other; /* the checkpoint(s); other with --diff */
	const char *tensor, *format, *filters, *plot, *zoom_arg, *image_format;
	int json, diff;
	enum tensor_format tformat; /* --format */
	int zoom;                   /* --zoom [16] */
	int png;                    /* --image-format png */
} args;

/* Applies option c (its value in optarg) to a. Returns GO_ON, or the exit
 * status when the option ends the program: 0 after --help or --version
 * (1 if they cannot be written), 2 after one line for an unknown option or
 * a missing value. */
static int apply_option(args *a, int c, char **argv)
{
	switch (c) {
	case 'j':
		a->json = 1;
		break;
	case 't':
		a->tensor = optarg;
		break;
	case OPT_FORMAT:
		a->format = optarg;
		break;
	case OPT_FILTERS:
		a->filters = optarg;
		break;
	case OPT_ZOOM:
		a->zoom_arg = optarg;
		break;
	case OPT_IMAGE_FORMAT:
		a->image_format = optarg;
		break;
	case OPT_PLOT:
		a->plot = optarg;
		break;
	case 'd':
		a->diff = 1;
		break;
	case 'h':
		usage(stdout);
		return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
	case 'V':
		printf("cnninspect (libcnn) %s\n", cnn_version());
		return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
	case ':':
		return fail(2, "option '%s' needs an argument (see --help)",
		            argv[optind - 1]);
	default:
		if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
			return fail(2, "unknown option '-%c' (see --help)",
			            optopt);
		return fail(2, "unknown or misused option '%s' (see --help)",
		            argv[optind - 1]);
	}
	return GO_ON;
}

/* Reads the options and the checkpoint operands (one, two with --diff)
 * into a. Returns GO_ON, or the exit status when the program ends here. */
static int parse_args(args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"tensor", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"filters", required_argument, NULL, OPT_FILTERS},
	    {"zoom", required_argument, NULL, OPT_ZOOM},
	    {"image-format", required_argument, NULL, OPT_IMAGE_FORMAT},
	    {"plot", required_argument, NULL, OPT_PLOT},
	    {"diff", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c, rc;

	memset(a, 0, sizeof *a);
	a->tformat = FORMAT_TEXT;
	a->zoom = 16;
	a->png = cnn_have_png();
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":t:dhV", longopts, NULL)) != -1)
		if ((rc = apply_option(a, c, argv)) != GO_ON)
			return rc;
	if (optind != argc - 1 - a->diff)
		return fail(2, "%s (see --help)",
		            optind == argc ? "no checkpoint given"
		            : a->diff ? "--diff expects two checkpoint files"
		                      : "expected one checkpoint file");
	a->path = argv[optind];
	a->other = a->diff ? argv[optind + 1] : NULL;
	return GO_ON;
}

/* Checks the options that exclude or need each other and decodes the
 * values of --format, --zoom and --image-format into a. Returns GO_ON, or
 * 2 after one line saying what is wrong. */
static int check_args(args *a)
{
	if (!!a->json + !!a->tensor + a->diff + !!a->filters + !!a->plot > 1)
		return fail(2, "--json, --tensor, --diff, --filters and --plot "
		               "exclude each other");
	if (a->format && !a->tensor)
		return fail(2, "--format needs --tensor NAME (see --help)");
	if ((a->zoom_arg || a->image_format) && !a->filters)
		return fail(2, "%s needs --filters DIR (see --help)",
		            a->zoom_arg ? "--zoom" : "--image-format");
	if (a->format && !strcmp(a->format, "csv"))
		a->tformat = FORMAT_CSV;
	else if (a->format && !strcmp(a->format, "npy"))
		a->tformat = FORMAT_NPY;
	else if (a->format && strcmp(a->format, "text") != 0)
		return fail(2,
		            "--format: expected text, csv or npy, got \"%s\"",
		            a->format);
	if (a->tformat == FORMAT_NPY && isatty(STDOUT_FILENO))
		return fail(2, "--format npy: standard output is a terminal; "
		               "redirect it to a file");
	if (a->zoom_arg &&
	    (a->zoom = cli_parse_count(a->zoom_arg, MAX_ZOOM)) < 0)
		return fail(2,
		            "--zoom: expected an integer from 1 to %d, got "
		            "\"%s\"",
		            MAX_ZOOM, a->zoom_arg);
	if (a->image_format && !strcmp(a->image_format, "pgm"))
		a->png = 0;
	else if (a->image_format && !strcmp(a->image_format, "png"))
		a->png = 1;
	else if (a->image_format)
		return fail(2,
		            "--image-format: expected png or pgm, got \"%s\"",
		            a->image_format);
	if (a->png && !cnn_have_png())
		return fail(2, "--image-format png: this libcnn was built "
		               "without libpng (use pgm)");
	return GO_ON;
}

/* ------------------------------------------------------------------------ */

/* The checkpoint at path did not load (err says why): a model description
 * given by mistake is named as one (exit 2); else err's line. */
static int load_failed(const char *path, const cnn_error *err)
{
	if (cli_file_kind(path) == CLI_MODEL)
		return fail(2, CLI_MODEL_NOT_CHECKPOINT, path, path);
	return fail_err(err);
}

/* Loads the checkpoint (both with --diff) and runs the mode the options
 * chose, the summary by default; returns the exit status, 1 when standard
 * output cannot be written. */
static int run(const args *a)
{
	cnn_model *m;
	cnn_error err;
	int status = 0;

	if (cnn_model_load(&m, a->path, NULL, 0, &err) != CNN_OK)
		return load_failed(a->path, &err);
	if (a->other) {
		cnn_model *m2;
		if (cnn_model_load(&m2, a->other, NULL, 0, &err) != CNN_OK) {
			cnn_model_free(m);
			return load_failed(a->other, &err);
		}
		status = print_diff(m, a->path, m2, a->other);
		cnn_model_free(m2);
	} else if (a->tensor)
		status = print_tensor(m, a->path, a->tensor, a->tformat);
	else if (a->filters)
		status = write_filters(m, a->path, a->filters, a->zoom, a->png);
	else if (a->plot)
		status = write_plot(m, a->plot);
	else if (a->json)
		print_json(m);
	else
		print_summary(m, a->path);
	cnn_model_free(m);

	if (fflush(stdout) != 0 || ferror(stdout))
		return fail(1, "cannot write the output");
	return status;
}

int main(int argc, char **argv)
{
	args a;
	int rc;

	if ((rc = parse_args(&a, argc, argv)) != GO_ON ||
	    (rc = check_args(&a)) != GO_ON)
		return rc;
	return run(&a);
}

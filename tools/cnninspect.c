/*
 * cnninspect.c - shows what a libcnn checkpoint holds: the model, its
 * tensors with statistics, the training state and the metric history, as a
 * readable summary or as one JSON object; or dumps one tensor's values.
 *
 * Thin by design: it loads the checkpoint with cnn_model_load (which
 * verifies the whole file) and prints through the public API only.
 * Exit status: 0 success, 1 runtime failure (I/O, damaged checkpoint),
 * 2 usage error. Every error is one line on stderr.
 *
 * Numbers are printed with "%.9g" (enough digits to round-trip a float);
 * the tool never calls setlocale, so the decimal point is always '.'.
 */
#include "cnn.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPT_PARAMS 16

static const char *progname = "cnninspect";

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: %s [OPTION]... CKPT.gz\n"
	        "       %s --diff A.gz B.gz\n"
	        "Show what a libcnn checkpoint holds: the model, its tensors "
	        "with statistics,\n"
	        "the training state and the metric history. The whole file "
	        "is verified first.\n"
	        "\n"
	        "      --json           print one JSON object instead of "
	        "the summary\n"
	        "  -t, --tensor NAME    print tensor NAME's shape, then its "
	        "values, one per line\n"
	        "  -d, --diff A.gz B.gz compare two checkpoints: every tensor "
	        "(weights, optimiser\n"
	        "                       moments, best weights) bit for bit, "
	        "and the training position\n"
	        "  -h, --help           show this help and exit\n"
	        "  -V, --version        show the version and exit\n"
	        "\n"
	        "Exit status: 0 success, 1 a damaged or unreadable "
	        "checkpoint, 2 a usage error.\n",
	        progname, progname);
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

/* A JSON string, escaped (bytes >= 0x80 pass through: UTF-8 stays). */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	for (; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
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

static void print_summary(const cnn_model *m, const char *path)
{
	cnn_layer_info li;
	cnn_tensor_info ti;
	cnn_train_state ts;
	const char *pn[MAX_OPT_PARAMS];
	double pv[MAX_OPT_PARAMS];
	const cnn_epoch_metrics *h = cnn_model_history(m);
	int nl = cnn_model_layer_count(m), nt = cnn_model_tensor_count(m);
	int nh = cnn_model_history_count(m), np, i, wn = 4, wt = 4, ws = 5;
	char shape[64], a[32], b[32];
	size_t total = 0;
	int graph;
	stats s;

	cnn_model_train_state(m, &ts);
	printf("checkpoint:     %s\n", path);
	printf("format version: %d\n", ts.checkpoint_version);
	printf("model:          %s\n", cnn_model_name(m));

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

	wn = 4;
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
		printf("  %-*s  %-*s  %13.6g  %13.6g  %13.6g  %13.6g\n", wn,
		       ti.name, ws, shape, s.min, s.max, s.mean, s.std);
	}

	printf("\ntraining:\n");
	printf("  epoch:          %d of %d", ts.epoch, ts.epochs);
	if (ts.epoch_samples)
		printf(", and %llu samples of epoch %d",
		       (unsigned long long)ts.epoch_samples, ts.epoch + 1);
	printf("\n");
	printf("  steps:          %llu\n", (unsigned long long)ts.step);
	if (ts.best_epoch > 0)
		printf("  best epoch:     %d (accuracy %.4f)\n", ts.best_epoch,
		       ts.best_accuracy);
	else
		printf("  best epoch:     none\n");
	printf("  keep:           %s\n", ts.keep);
	printf("  optimizer:      %s", ts.optimizer);
	np = cnn_model_optimizer_params(m, pn, pv, MAX_OPT_PARAMS);
	if (np > MAX_OPT_PARAMS)
		np = MAX_OPT_PARAMS;
	for (i = 0; i < np; i++)
		printf("%s%s %.9g", i ? ", " : " (", pn[i], pv[i]);
	printf("%s\n", np ? ")" : "");

	printf("\nhistory:\n");
	if (!nh) {
		printf("  (no epochs completed)\n");
		return;
	}
	printf("  %5s  %12s  %9s  %9s  %9s\n", "epoch", "loss", "train acc",
	       "test acc", "seconds");
	for (i = 0; i < nh; i++) {
		text_fraction(a, sizeof a, h[i].train_accuracy);
		text_fraction(b, sizeof b, h[i].test_accuracy);
		printf("  %5d  %12.6g  %9s  %9s  %9.2f\n", h[i].epoch,
		       h[i].loss, a, b, h[i].seconds);
	}
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

static void print_json(const cnn_model *m)
{
	cnn_layer_info li;
	cnn_tensor_info ti;
	cnn_train_state ts;
	const char *pn[MAX_OPT_PARAMS];
	double pv[MAX_OPT_PARAMS];
	const cnn_epoch_metrics *h = cnn_model_history(m);
	int nl = cnn_model_layer_count(m), nt = cnn_model_tensor_count(m);
	int nh = cnn_model_history_count(m), np, i, k;
	size_t total = 0;
	stats s;

	cnn_model_train_state(m, &ts);
	printf("{\n  \"format_version\": %d,\n", ts.checkpoint_version);
	printf("  \"model\": {\n    \"name\": ");
	json_string(stdout, cnn_model_name(m));
	printf(",\n    \"layers\": [");
	for (i = k = 0; i < nl; i++) {
		if (cnn_model_layer(m, i, &li) != CNN_OK)
			continue;
		printf("%s\n      {\"name\": ", k++ ? "," : "");
		json_string(stdout, li.name);
		printf(", \"type\": ");
		json_string(stdout, li.type);
		printf(", \"inputs\": [");
		for (int j = 0; j < li.n_inputs; j++) {
			printf("%s", j ? ", " : "");
			json_string(stdout, li.inputs[j]);
		}
		printf("], \"input_shape\": ");
		json_shape(stdout, li.in_shape, 3);
		printf(", \"output_shape\": ");
		json_shape(stdout, li.out_shape, 3);
		printf(", \"params\": %zu}", li.n_params);
		total += li.n_params;
	}
	printf("\n    ],\n    \"params\": %zu\n  },\n", total);

	printf("  \"tensors\": [");
	for (i = k = 0; i < nt; i++) {
		if (cnn_model_tensor(m, i, &ti) != CNN_OK)
			continue;
		s = tensor_stats(ti.data, ti.size);
		printf("%s\n    {\"name\": ", k++ ? "," : "");
		json_string(stdout, ti.name);
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
		printf("}");
	}
	printf("\n  ],\n");

	printf("  \"training\": {\n    \"epoch\": %d,\n    \"epochs\": %d,\n",
	       ts.epoch, ts.epochs);
	printf("    \"epoch_samples\": %llu,\n",
	       (unsigned long long)ts.epoch_samples);
	printf("    \"step\": %llu,\n", (unsigned long long)ts.step);
	if (ts.best_epoch > 0) {
		printf("    \"best_epoch\": %d,\n    \"best_test_accuracy\": ",
		       ts.best_epoch);
		json_number(stdout, ts.best_accuracy);
		printf(",\n");
	} else {
		printf("    \"best_epoch\": null,\n"
		       "    \"best_test_accuracy\": null,\n");
	}
	printf("    \"keep\": ");
	json_string(stdout, ts.keep);
	printf(",\n    \"optimizer\": {\"type\": ");
	json_string(stdout, ts.optimizer);
	np = cnn_model_optimizer_params(m, pn, pv, MAX_OPT_PARAMS);
	if (np > MAX_OPT_PARAMS)
		np = MAX_OPT_PARAMS;
	for (i = 0; i < np; i++) {
		printf(", ");
		json_string(stdout, pn[i]);
		printf(": ");
		json_number(stdout, pv[i]);
	}
	printf("}\n  },\n");

	printf("  \"history\": [");
	for (i = 0; i < nh; i++) {
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
	printf("%s]\n}\n", nh ? "\n  " : "");
}

/* ------------------------------------------------------------------------ */
/* One tensor                                                               */

/* Prints "NAME SHAPE" then the values; exit status 2 if there is no such
 * tensor (the message lists those there are). */
static int print_tensor(const cnn_model *m, const char *path, const char *name)
{
	cnn_tensor_info ti;
	char shape[64];
	int nt = cnn_model_tensor_count(m), i;
	size_t j, len, k;
	char *list;

	for (i = 0; i < nt; i++) {
		if (cnn_model_tensor(m, i, &ti) != CNN_OK ||
		    strcmp(ti.name, name) != 0)
			continue;
		shape_string(shape, sizeof shape, ti.shape, ti.ndim);
		printf("%s %s\n", ti.name, shape);
		for (j = 0; j < ti.size; j++)
			printf("%.9g\n", ti.data[j]);
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"tensor", required_argument, NULL, 't'},
	    {"diff", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	const char *tensor = NULL, *other = NULL, *path;
	int diff = 0;
	int json = 0, c, status;
	cnn_model *m;
	cnn_error err;
	char buf[1200];

	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":t:dhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 't':
			tensor = optarg;
			break;
		case 'd':
			diff = 1;
			break;
		case 'h':
			usage(stdout);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		case 'V':
			printf("cnninspect (libcnn) %s\n", cnn_version());
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		case ':':
			return fail(2,
			            "option '%s' needs an argument (see "
			            "--help)",
			            argv[optind - 1]);
		default:
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return fail(2,
				            "unknown option '-%c' (see --help)",
				            optopt);
			return fail(2,
			            "unknown or misused option '%s' (see "
			            "--help)",
			            argv[optind - 1]);
		}
	}
	if (optind != argc - 1 - diff)
		return fail(2, "%s (see --help)",
		            optind == argc ? "no checkpoint given"
		            : diff ? "--diff expects two checkpoint files"
		                   : "expected one checkpoint file");
	path = argv[optind];
	other = diff ? argv[optind + 1] : NULL;
	if (!!json + !!tensor + diff > 1)
		return fail(2,
		            "--json, --tensor and --diff exclude each other");

	if (cnn_model_load(&m, path, NULL, 0, &err) != CNN_OK)
		return fail(cnn_status_exit_code(err.status), "%s",
		            cnn_error_string(&err, buf, sizeof buf));

	status = 0;
	if (other) {
		cnn_model *m2;
		if (cnn_model_load(&m2, other, NULL, 0, &err) != CNN_OK) {
			cnn_model_free(m);
			return fail(cnn_status_exit_code(err.status), "%s",
			            cnn_error_string(&err, buf, sizeof buf));
		}
		status = print_diff(m, path, m2, other);
		cnn_model_free(m2);
	} else if (tensor)
		status = print_tensor(m, path, tensor);
	else if (json)
		print_json(m);
	else
		print_summary(m, path);
	cnn_model_free(m);

	if (fflush(stdout) != 0 || ferror(stdout))
		return fail(1, "cannot write the output");
	return status;
}

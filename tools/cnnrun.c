/*
 * cnnrun - train a model from its YAML description, resume a run from a
 * checkpoint, evaluate a checkpoint, or classify images with it.
 *
 * Thin by design: parse the command line, call the public API, print.
 * Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#define _POSIX_C_SOURCE 200809L
#include "cnn.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 256

static const char *prog = "cnnrun";

/* Set by the first SIGINT or SIGTERM: training saves and stops after the
 * batch in progress. The handler then gives way to the default action, so
 * a second signal ends the program at once (the checkpoint on disk is
 * still whole: saves are atomic). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* SIGINT and SIGTERM stop training cleanly; SIGXFSZ (a file size limit
 * reached, as with ulimit -f) is ignored so that the write fails with EFBIG
 * and is reported like a full disk. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGXFSZ, SIG_IGN);
}

/* The help text: every option with its default in brackets. */
/* clang-format off */
static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: cnnrun [OPTIONS] MODEL.yaml          train the model the file describes\n"
	        "       cnnrun --resume CKPT.gz [OPTIONS]    continue a run where it stopped\n"
	        "       cnnrun --evaluate CKPT.gz [OPTIONS]  accuracy, loss and confusion matrix\n"
	        "       cnnrun --predict CKPT.gz FILE...     class and probability of each input\n"
	        "\n"
	        "Options:\n"
	        "  -s, --set KEY=VALUE   override a field of the YAML by its dotted path, e.g.\n"
	        "                        --set training.epochs=1 --set layers.0.filters=4\n"
	        "                        (repeatable; relative paths are taken from the\n"
	        "                        current directory)\n"
	        "  -o, --output PATH     write the checkpoint to PATH [the YAML's checkpoint.path;\n"
	        "                        with --resume, the checkpoint resumed from]\n"
	        "      --metrics FILE    append one JSON object per epoch to FILE (JSON Lines)\n"
	        "  -j, --threads N       worker threads [all cores]\n"
	        "      --top K           with --predict: print the K most likely classes [1]\n"
	        "      --json            with --evaluate: print the result as JSON\n"
	        "  -q, --quiet           print nothing but errors\n"
	        "  -v, --verbose         also print the model's layers before training\n"
	        "  -h, --help            show this help and exit\n"
	        "  -V, --version         show the version and exit\n"
	        "\n"
	        "FILE for --predict: a PGM image (P5 or P2), an IDX image file, or a CSV\n"
	        "file of rows in the training format (label first), plain or .gz.\n"
	        "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n");
}
/* clang-format on */

/* Prints err as one line and returns the exit status for it. */
static int fail(const cnn_error *err)
{
	char buf[1200];
	fprintf(stderr, "%s\n", cnn_error_string(err, buf, sizeof buf));
	return cnn_status_exit_code(err->status);
}

/* Prints a usage problem as one line and returns 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see %s --help)\n", prog);
	return 2;
}

typedef struct options {
	const char *sets[MAX_SETS];
	int n_sets;
	const char *output, *metrics, *resume, *evaluate, *predict;
	int threads, quiet, verbose, top, top_set, json;
} options;

typedef struct epoch_ctx {
	const options *o;
	FILE *metrics;
	int metrics_errno; /* set when writing the metrics file failed */
	int epochs;
} epoch_ctx;

/* Prints a double as JSON: null when negative (metric not measured). */
static void json_num(FILE *f, const char *key, double v)
{
	if (v < 0)
		fprintf(f, ", \"%s\": null", key);
	else
		fprintf(f, ", \"%s\": %.9g", key, v);
}

/* After every epoch: one line on stdout, one JSON line in the metrics file. */
static int on_epoch(const cnn_epoch_metrics *e, void *user)
{
	epoch_ctx *c = user;
	if (!c->o->quiet) {
		printf("epoch %d/%d: loss %.4f, train %.2f%%", e->epoch,
		       c->epochs, e->loss, 100.0 * e->train_accuracy);
		if (e->val_accuracy >= 0)
			printf(", validation %.2f%%", 100.0 * e->val_accuracy);
		if (e->test_accuracy >= 0)
			printf(", test %.2f%%", 100.0 * e->test_accuracy);
		printf(", %.2f s\n", e->seconds);
		fflush(stdout);
	}
	if (c->metrics) {
		fprintf(c->metrics, "{\"epoch\": %d", e->epoch);
		json_num(c->metrics, "loss", e->loss);
		json_num(c->metrics, "train_accuracy", e->train_accuracy);
		json_num(c->metrics, "test_accuracy", e->test_accuracy);
		if (e->val_accuracy >= 0)
			json_num(c->metrics, "validation_accuracy",
			         e->val_accuracy);
		json_num(c->metrics, "seconds", e->seconds);
		fprintf(c->metrics, "}\n");
		if (fflush(c->metrics) != 0 || ferror(c->metrics)) {
			/* stop: training saves first, then train() says why */
			c->metrics_errno = errno ? errno : EIO;
			return 1;
		}
	}
	return 0;
}

static void print_layers(const cnn_model *m)
{
	size_t total = 0;
	printf("%-12s %-10s %-16s %10s\n", "layer", "type", "output", "params");
	for (int i = 0; i < cnn_model_layer_count(m); i++) {
		cnn_layer_info li;
		char shape[48];
		cnn_model_layer(m, i, &li);
		snprintf(shape, sizeof shape, "%dx%dx%d", li.out_shape[0],
		         li.out_shape[1], li.out_shape[2]);
		printf("%-12s %-10s %-16s %10zu\n", li.name, li.type, shape,
		       li.n_params);
		total += li.n_params;
	}
	printf("total parameters: %zu\n", total);
}

/* Trains m (fresh or resumed) and reports; ckpt is where it saves. */
static int train(cnn_model *m, const options *o, const char *ckpt, int append)
{
	cnn_error err;
	cnn_train_state st;
	epoch_ctx c = {o, NULL, 0, 0};
	cnn_train_options to = {.checkpoint = ckpt,
	                        .threads = o->threads,
	                        .on_epoch = on_epoch,
	                        .user = &c,
	                        .stop = &stop_signal};

	cnn_model_train_state(m, &st);
	c.epochs = st.epochs;
	if (o->metrics) {
		c.metrics = fopen(o->metrics, append ? "a" : "w");
		if (!c.metrics) {
			fprintf(stderr, "%s: cannot open metrics file: %s\n",
			        o->metrics, strerror(errno));
			return 1;
		}
	}
	if (o->verbose)
		print_layers(m);
	if (!o->quiet && st.epoch >= st.epochs)
		printf("%s: already trained for %d of %d epochs; nothing to "
		       "do\n",
		       ckpt, st.epoch, st.epochs);
	install_signals();
	cnn_status s = cnn_model_train(m, &to, &err);
	if (c.metrics && fclose(c.metrics) != 0 && !c.metrics_errno)
		c.metrics_errno = errno;
	if (c.metrics_errno) {
		fprintf(stderr,
		        "%s: cannot write metrics file: %s (training stopped; "
		        "%s holds the last epoch)\n",
		        o->metrics, strerror(c.metrics_errno), ckpt);
		return 1;
	}
	if (s != CNN_OK)
		return fail(&err);
	cnn_model_train_state(m, &st);
	/* with min_delta, a later and slightly better epoch may not count */
	if (!o->quiet && st.stopped_early)
		printf("stopped early after epoch %d: no improvement of the %s "
		       "accuracy for %d epochs (%s %.2f%% at epoch %d)\n",
		       st.epoch, st.monitored, st.epoch - st.stop_best_epoch,
		       st.stop_best_epoch == st.best_epoch
		           ? "best"
		           : "last improvement by more than min_delta:",
		       100.0 * st.stop_best_accuracy, st.stop_best_epoch);
	if (!o->quiet && st.best_epoch)
		printf("best accuracy %.2f%% at epoch %d (kept: %s); "
		       "checkpoint: %s\n",
		       100.0 * st.best_accuracy, st.best_epoch, st.keep, ckpt);
	return 0;
}

static int evaluate(cnn_model *m, const options *o)
{
	cnn_error err;
	cnn_eval_result r;
	if (cnn_model_evaluate(m, o->threads, &r, &err) != CNN_OK)
		return fail(&err);
	int k = r.classes;
	if (o->json) {
		printf("{\"samples\": %zu, \"accuracy\": %.9g, \"loss\": %.9g, "
		       "\"confusion\": [",
		       r.n, r.accuracy, r.loss);
		for (int t = 0; t < k; t++) {
			printf("%s[", t ? ", " : "");
			for (int p = 0; p < k; p++)
				printf(
				    "%s%llu", p ? ", " : "",
				    (unsigned long long)r.confusion[t * k + p]);
			printf("]");
		}
		printf("]}\n");
	} else {
		printf("samples: %zu\naccuracy: %.4f (%.2f%%)\nloss: %.4f\n",
		       r.n, r.accuracy, 100.0 * r.accuracy, r.loss);
		printf("confusion matrix (rows: true class, columns: "
		       "predicted):\n      ");
		for (int p = 0; p < k; p++)
			printf(" %6d", p);
		printf("\n");
		for (int t = 0; t < k; t++) {
			printf("%6d", t);
			for (int p = 0; p < k; p++)
				printf(
				    " %6llu",
				    (unsigned long long)r.confusion[t * k + p]);
			printf("\n");
		}
	}
	cnn_eval_result_free(&r);
	return 0;
}

/* Prints the top classes of one sample's probabilities. */
static void print_top(const char *label, const float *p, int k, int top)
{
	unsigned char used[256] = {0};
	printf("%s:", label);
	for (int t = 0; t < top && t < k; t++) {
		int arg = -1;
		for (int c = 0; c < k; c++)
			if (!used[c] && (arg < 0 || p[c] > p[arg]))
				arg = c;
		used[arg] = 1;
		printf("%s %d %.4f", t ? "," : "", arg, (double)p[arg]);
	}
	printf("\n");
}

/* Reads FILE as a PGM image, or as an IDX / CSV data set, and classifies
 * every image in it. */
static int predict_file(cnn_model *m, const options *o, const char *file)
{
	cnn_error err = {0};
	int shape[3], k = cnn_model_classes(m);
	size_t n;
	uint8_t *pixels = NULL;
	cnn_dataset *d = NULL;
	char head[4] = {0};
	FILE *f = fopen(file, "rb");

	cnn_model_input_shape(m, shape);
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", file, strerror(errno));
		return 1;
	}
	size_t got = fread(head, 1, sizeof head, f);
	fclose(f);
	if (got >= 2 && head[0] == 'P' && (head[1] == '5' || head[1] == '2')) {
		int w, h;
		if (cnn_image_read_pgm(file, &pixels, &w, &h, &err) != CNN_OK)
			return fail(&err);
		if (shape[0] != 1 || w != shape[2] || h != shape[1]) {
			fprintf(stderr,
			        "%s: image is %dx%d with 1 channel; the model "
			        "expects %dx%d with %d channel%s (nothing is "
			        "resized)\n",
			        file, w, h, shape[2], shape[1], shape[0],
			        shape[0] == 1 ? "" : "s");
			free(pixels);
			return 2;
		}
		n = 1;
	} else {
		const char *ext = strstr(file, ".csv");
		cnn_data_source src = {0};
		src.format = ext ? "csv" : "idx";
		src.images = src.path = file;
		src.labels = NULL;
		src.header = -1;
		memcpy(src.shape, shape, sizeof src.shape);
		src.classes = k;
		if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
			return fail(&err);
		n = cnn_dataset_count(d);
	}

	float *probs = malloc((n ? n : 1) * (size_t)k * sizeof *probs);
	const uint8_t *px = d ? (n ? cnn_dataset_image(d, 0) : NULL) : pixels;
	int rc = 0;
	if (!probs) {
		fprintf(stderr, "%s: out of memory\n", file);
		rc = 1;
	} else if (n && cnn_model_predict(m, px, n, probs, &err) != CNN_OK) {
		rc = fail(&err);
	} else {
		for (size_t i = 0; i < n; i++) {
			char label[4200];
			if (d)
				snprintf(label, sizeof label, "%s[%zu]", file,
				         i);
			else
				snprintf(label, sizeof label, "%s", file);
			print_top(label, probs + i * k, k, o->top);
		}
	}
	free(probs);
	free(pixels);
	cnn_dataset_free(d);
	return rc;
}

/* Parses a positive integer option value; -1 if it is not one. */
static int parse_count(const char *s, int max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	enum {
		OPT_METRICS = 256,
		OPT_RESUME,
		OPT_EVALUATE,
		OPT_PREDICT,
		OPT_TOP,
		OPT_JSON
	};
	static const struct option longs[] = {
	    {"set", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"threads", required_argument, NULL, 'j'},
	    {"resume", required_argument, NULL, OPT_RESUME},
	    {"evaluate", required_argument, NULL, OPT_EVALUATE},
	    {"predict", required_argument, NULL, OPT_PREDICT},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	options o;
	int c, modes;

	memset(&o, 0, sizeof o);
	o.top = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:o:j:qvhV", longs, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			if (o.n_sets == MAX_SETS)
				return usage_error("too many --set options "
				                   "(at most %s)",
				                   "256");
			o.sets[o.n_sets++] = optarg;
			break;
		case 'o':
			o.output = optarg;
			break;
		case OPT_METRICS:
			o.metrics = optarg;
			break;
		case 'j':
			if ((o.threads = parse_count(optarg, 1024)) < 0)
				return usage_error(
				    "--threads: expected an "
				    "integer from 1 to 1024, got "
				    "\"%s\"",
				    optarg);
			break;
		case OPT_RESUME:
			o.resume = optarg;
			break;
		case OPT_EVALUATE:
			o.evaluate = optarg;
			break;
		case OPT_PREDICT:
			o.predict = optarg;
			break;
		case OPT_TOP:
			o.top_set = 1;
			if ((o.top = parse_count(optarg, 256)) < 0)
				return usage_error("--top: expected a positive "
				                   "integer, got \"%s\"",
				                   optarg);
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cnnrun (libcnn) %s\n", cnn_version());
			return 0;
		case ':':
			return usage_error("option '%s' needs a value",
			                   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
			                   argv[optind - 1]);
		}
	}

	modes = !!o.resume + !!o.evaluate + !!o.predict;
	if (modes > 1)
		return usage_error("%s", "--resume, --evaluate and --predict "
		                         "exclude each other");
	if (o.json && !o.evaluate)
		return usage_error("%s", "--json goes with --evaluate");
	if (o.top_set && !o.predict)
		return usage_error("%s", "--top goes with --predict");
	cnn_model *m = NULL;
	cnn_error err;
	int rc;
	const char *ckpt = o.resume     ? o.resume
	                   : o.evaluate ? o.evaluate
	                                : o.predict;
	if (ckpt) {
		if (o.predict ? optind >= argc : optind < argc)
			return usage_error(o.predict
			                       ? "--predict needs at least one "
			                         "FILE%s"
			                       : "unexpected argument '%s'",
			                   o.predict ? "" : argv[optind]);
		if (cnn_model_load(&m, ckpt, o.sets, o.n_sets, &err) != CNN_OK)
			return fail(&err);
		if (o.resume) {
			rc = train(m, &o, o.output ? o.output : ckpt, 1);
		} else if (o.evaluate) {
			rc = evaluate(m, &o);
		} else {
			rc = 0;
			for (int i = optind; i < argc; i++) {
				int r = predict_file(m, &o, argv[i]);
				if (r > rc)
					rc = r;
			}
		}
	} else {
		if (optind + 1 != argc)
			return usage_error(
			    optind >= argc ? "missing MODEL.yaml%s"
			                   : "unexpected argument '%s'",
			    optind >= argc ? "" : argv[optind + 1]);
		if (cnn_model_from_yaml(&m, argv[optind], o.sets, o.n_sets,
		                        &err) != CNN_OK)
			return fail(&err);
		rc = train(m, &o,
		           o.output ? o.output : cnn_model_checkpoint_path(m),
		           0);
	}
	cnn_model_free(m);
	return rc;
}

/*
 * cnnrun - train a model from its YAML description, resume a run from a
 * checkpoint, evaluate a checkpoint, or classify images with it.
 *
 * Thin by design: parse the command line, call the public API, print.
 * Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cnn.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SETS 256

static const char *prog = "cnnrun";

/* 0 in the processes of an MPI job other than rank 0: they print nothing
 * (their stdout goes to /dev/null) and write no file; the errors every
 * process agrees on are printed by rank 0. */
static int voice = 1;

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
	        "      --metrics FILE    write one JSON object per epoch to FILE (JSON Lines;\n"
	        "                        appended to with --resume)\n"
	        "      --metrics-csv FILE  the same as CSV rows, with a header line\n"
	        "      --plot FILE       write the learning curves as SVG to FILE after every\n"
	        "                        epoch (open it in a browser and reload to watch)\n"
	        "      --no-progress     no live progress bar (drawn on stderr only when it\n"
	        "                        is a terminal)\n"
	        "  -j, --threads N       worker threads [all cores]\n"
	        "      --top K           with --predict: print the K most likely classes [1]\n"
	        "      --json            with --evaluate: print the result as JSON\n"
	        "  -q, --quiet           print nothing but errors\n"
	        "  -v, --verbose         also print the model's layers before training\n"
	        "  -h, --help            show this help and exit\n"
	        "  -V, --version         show the version and exit\n"
	        "\n"
	        "FILE for --predict: a PGM (P5 or P2), PNG or JPEG image (PNG and JPEG when\n"
	        "built with libpng and libjpeg), a folder (every such image under it, sorted),\n"
	        "an IDX image file, or a CSV file of rows in the training format (label\n"
	        "first), plain or .gz.\n"
	        "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n");
}
/* clang-format on */

/* Prints err as one line and returns the exit status for it. */
static int fail(const cnn_error *err)
{
	char buf[1200];
	if (voice)
		fprintf(stderr, "%s\n", cnn_error_string(err, buf, sizeof buf));
	return cnn_status_exit_code(err->status);
}

/* Prints a usage problem as one line and returns 2. */
static int usage_error(const char *fmt, const char *arg)
{
	if (!voice)
		return 2;
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see %s --help)\n", prog);
	return 2;
}

typedef struct options {
	const char *sets[MAX_SETS];
	int n_sets;
	const char *output, *metrics, *metrics_csv, *plot, *resume, *evaluate,
	    *predict;
	int threads, quiet, verbose, top, top_set, json, no_progress;
} options;

/* What the callbacks of one training run share. */
typedef struct epoch_ctx {
	const options *o;
	cnn_model *m;
	FILE *metrics, *csv;
	const char *failed; /* the metrics file that could not be written */
	int failed_errno;
	int plot_failed; /* plot_err holds why */
	cnn_error plot_err;
	int epochs;
	int show_progress;
	progress bar;
} epoch_ctx;

/* Prints a double as JSON: null when negative (metric not measured). */
static void json_num(FILE *f, const char *key, double v)
{
	if (v < 0)
		fprintf(f, ", \"%s\": null", key);
	else
		fprintf(f, ", \"%s\": %.9g", key, v);
}

/* Prints a metric as a CSV cell: empty when negative (not measured). */
static void csv_num(FILE *f, double v)
{
	if (v >= 0)
		fprintf(f, ",%.9g", v);
	else
		fputc(',', f);
}

/* Flushes a metrics file; on failure records which and why, and returns 1
 * (the caller stops training: it saves first, then train() says why). */
static int metrics_flush(epoch_ctx *c, FILE *f, const char *path)
{
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	c->failed = path;
	c->failed_errno = errno ? errno : EIO;
	return 1;
}

/* Writes the learning curves of the history so far to --plot's file;
 * returns 1 (and keeps the error) when that fails. */
static int write_plot(epoch_ctx *c)
{
	cnn_train_state st;
	cnn_model_train_state(c->m, &st);
	memset(&c->plot_err, 0, sizeof c->plot_err);
	if (cnn_plot_svg(c->o->plot, cnn_model_name(c->m),
	                 cnn_model_history(c->m), cnn_model_history_count(c->m),
	                 st.best_epoch, &c->plot_err) == CNN_OK)
		return 0;
	c->plot_failed = 1;
	return 1;
}

/* After every batch: redraws the progress bar. */
static void on_batch(const cnn_batch_progress *b, void *user)
{
	epoch_ctx *c = user;
	if (c->show_progress)
		progress_update(&c->bar, b);
}

/* While a folder data set loads: the bar on a terminal when it has 2,000
 * images or more; once loaded, with -v, what was read and skipped. */
static void on_load(const cnn_load_progress *l, void *user)
{
	epoch_ctx *c = user;
	if (c->show_progress && l->total >= 2000)
		progress_load(&c->bar, l);
	if (!l->finished || !c->o->verbose)
		return;
	printf("%s: %zu images in %d classes (skipped: %zu hidden, %zu "
	       "other",
	       l->path, l->images, l->classes, l->hidden, l->other);
	if (l->bad)
		printf(", %zu unreadable", l->bad);
	printf(")\n");
}

/* After every epoch: one line on stdout, one JSON line and one CSV row in
 * the metrics files, and the plot redrawn. A non-zero return stops
 * training. */
static int on_epoch(const cnn_epoch_metrics *e, void *user)
{
	epoch_ctx *c = user;
	if (c->show_progress)
		progress_clear(&c->bar);
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
		if (metrics_flush(c, c->metrics, c->o->metrics))
			return 1;
	}
	if (c->csv) {
		fprintf(c->csv, "%d", e->epoch);
		csv_num(c->csv, e->loss);
		csv_num(c->csv, e->train_accuracy);
		csv_num(c->csv, e->val_accuracy);
		csv_num(c->csv, e->test_accuracy);
		csv_num(c->csv, e->seconds);
		fputc('\n', c->csv);
		if (metrics_flush(c, c->csv, c->o->metrics_csv))
			return 1;
	}
	if (c->o->plot && write_plot(c))
		return 1;
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

/* Under -v, for a model whose description has init: what it copied from
 * where and, with all_matching, what it did not copy and why. */
static void print_init(const cnn_model *m)
{
	cnn_init_info ii;

	if (!cnn_model_init_info(m, &ii))
		return;
	printf("init: copied %d tensor%s from %s (model %s, epoch %d):",
	       ii.n_copied, ii.n_copied == 1 ? "" : "s", ii.from, ii.model,
	       ii.epoch);
	for (int i = 0; i < ii.n_copied; i++)
		printf("%s %s", i ? "," : "", ii.copied[i]);
	printf("\n");
	if (ii.skipped)
		printf("init: not copied: %s\n",
		       ii.skipped[0] ? ii.skipped : "none");
}

/* Opens a metrics file: appended to when resuming (append), else
 * truncated. Prints why and returns NULL when it cannot be opened. With a
 * CSV header, writes it when the file is empty. */
static FILE *open_metrics(const char *path, int append, const char *header)
{
	FILE *f = fopen(path, append ? "a" : "w");
	if (!f) {
		fprintf(stderr, "%s: cannot open metrics file: %s\n", path,
		        strerror(errno));
		return NULL;
	}
	if (header && fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0)
		fputs(header, f);
	return f;
}

/* Closes a metrics file; records the first failure in c. */
static void close_metrics(epoch_ctx *c, FILE *f, const char *path)
{
	if (f && fclose(f) != 0 && !c->failed) {
		c->failed = path;
		c->failed_errno = errno;
	}
}

/* The closing line after the best epoch's: "trained N epochs in T" and
 * the metrics and plot files written, e.g.
 *   trained 50 epochs in 9.7 s; metrics: m.csv; plot: curve.svg */
static void print_total(const options *o, int epochs, double seconds)
{
	char d[32];
	if (seconds < 59.95)
		snprintf(d, sizeof d, "%.1f s", seconds);
	else
		cli_duration(d, sizeof d, seconds);
	printf("trained %d epoch%s in %s", epochs, epochs == 1 ? "" : "s", d);
	if (o->metrics || o->metrics_csv)
		printf("; metrics: %s%s%s", o->metrics ? o->metrics : "",
		       o->metrics && o->metrics_csv ? ", " : "",
		       o->metrics_csv ? o->metrics_csv : "");
	if (o->plot)
		printf("; plot: %s", o->plot);
	if (cnn_dist_size() > 1)
		printf("; %d processes, rank 0 waited %.2f s for the others",
		       cnn_dist_size(), cnn_dist_wait_seconds());
	printf("\n");
}

/* After cnn_model_train returned s (err says why when it failed): closes
 * the metrics files, then reports. Stopped early, the best epoch and the
 * checkpoint, then the time the epochs trained here took (seconds since
 * the first, which had been reached before) and the files written beside
 * the checkpoint. Returns the exit status. */
static int report(epoch_ctx *c, cnn_status s, cnn_error *err, const char *ckpt,
                  int first, double seconds)
{
	const options *o = c->o;
	cnn_train_state st;

	close_metrics(c, c->metrics, o->metrics);
	close_metrics(c, c->csv, o->metrics_csv);
	if (c->failed) {
		fprintf(stderr,
		        "%s: cannot write metrics file: %s (training stopped; "
		        "%s holds the last epoch)\n",
		        c->failed, strerror(c->failed_errno), ckpt);
		return 1;
	}
	if (c->plot_failed) {
		char buf[1200];
		fprintf(stderr,
		        "%s (training stopped; %s holds the last "
		        "epoch)\n",
		        cnn_error_string(&c->plot_err, buf, sizeof buf), ckpt);
		return 1;
	}
	if (s != CNN_OK)
		return fail(err);
	cnn_model_train_state(c->m, &st);
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
	if (!o->quiet && st.epoch > first)
		print_total(o, st.epoch - first, seconds);
	return 0;
}

/* Trains m (fresh or resumed) and reports; ckpt is where it saves. */
static int train(cnn_model *m, const options *o, const char *ckpt, int append)
{
	cnn_error err;
	cnn_train_state st;
	epoch_ctx c = {.o = o, .m = m};
	cnn_train_options to = {.checkpoint = ckpt,
	                        .threads = o->threads,
	                        .on_epoch = on_epoch,
	                        .on_batch = on_batch,
	                        .on_load = on_load,
	                        .user = &c,
	                        .stop = &stop_signal};

	cnn_model_train_state(m, &st);
	c.epochs = st.epochs;
	if (!o->quiet && *cnn_model_notes(m))
		fprintf(stderr, "%s\n", cnn_model_notes(m));
	if (o->metrics && !(c.metrics = open_metrics(o->metrics, append, NULL)))
		return 1;
	if (o->metrics_csv &&
	    !(c.csv = open_metrics(o->metrics_csv, append,
	                           "epoch,loss,train_accuracy,validation_"
	                           "accuracy,test_accuracy,seconds\n"))) {
		close_metrics(&c, c.metrics, o->metrics);
		return 1;
	}
	/* the plot of the history so far: also checks that it can be
	 * written before any training */
	if (o->plot && write_plot(&c)) {
		close_metrics(&c, c.metrics, o->metrics);
		close_metrics(&c, c.csv, o->metrics_csv);
		return fail(&c.plot_err);
	}
	c.show_progress = !o->quiet && !o->no_progress && isatty(2);
	if (c.show_progress)
		progress_init(&c.bar, stderr);
	if (o->verbose)
		print_layers(m);
	if (o->verbose && !append)
		print_init(m);
	if (!o->quiet && st.epoch >= st.epochs)
		printf("%s: already trained for %d of %d epochs; nothing to "
		       "do\n",
		       ckpt, st.epoch, st.epochs);
	install_signals();
	int first = st.epoch;
	double t0 = cli_seconds();
	cnn_status s = cnn_model_train(m, &to, &err);
	if (c.show_progress)
		progress_clear(&c.bar);
	return report(&c, s, &err, ckpt, first, cli_seconds() - t0);
}

/* Class c's precision (correct among those predicted c), recall (correct
 * among those truly c) and F1 from the confusion matrix, each -1 when
 * undefined (no sample predicted c, none truly c, or both 0); *support is
 * the number of samples truly c. */
static void class_scores(const cnn_eval_result *r, int c, double *precision,
                         double *recall, double *f1, uint64_t *support)
{
	const int k = r->classes;
	uint64_t predicted = 0, truth = 0, hit = r->confusion[c * k + c];
	for (int i = 0; i < k; i++) {
		predicted += r->confusion[i * k + c];
		truth += r->confusion[c * k + i];
	}
	*precision = predicted ? (double)hit / (double)predicted : -1;
	*recall = truth ? (double)hit / (double)truth : -1;
	*f1 = *precision > 0 && *recall > 0
	          ? 2 * *precision * *recall / (*precision + *recall)
	          : (*precision == 0 || *recall == 0 ? 0 : -1);
	*support = truth;
}

/* Prints a score with 4 decimals, or "-" when undefined (negative). */
static void print_score(double v)
{
	if (v < 0)
		printf(" %9s", "-");
	else
		printf(" %9.4f", v);
}

/* The evaluation r as one JSON object: samples, accuracy, loss, the class
 * names (when the model has them), the confusion matrix (rows: true class)
 * and per-class scores (null when undefined). */
static void print_eval_json(const cnn_model *m, const cnn_eval_result *r)
{
	int k = r->classes;
	printf("{\"samples\": %zu, \"accuracy\": %.9g, \"loss\": %.9g, ", r->n,
	       r->accuracy, r->loss);
	if (cnn_model_class_name(m, 0)) {
		printf("\"classes\": ");
		cli_json_class_names(stdout, m);
		printf(", ");
	}
	printf("\"confusion\": [");
	for (int t = 0; t < k; t++) {
		printf("%s[", t ? ", " : "");
		for (int p = 0; p < k; p++)
			printf("%s%llu", p ? ", " : "",
			       (unsigned long long)r->confusion[t * k + p]);
		printf("]");
	}
	printf("], \"per_class\": [");
	for (int t = 0; t < k; t++) {
		double pr, rc, f1;
		uint64_t sup;
		class_scores(r, t, &pr, &rc, &f1, &sup);
		printf("%s{\"class\": %d", t ? ", " : "", t);
		if (cnn_model_class_name(m, t)) {
			printf(", \"name\": ");
			cli_json_string(stdout, cnn_model_class_name(m, t));
		}
		json_num(stdout, "precision", pr);
		json_num(stdout, "recall", rc);
		json_num(stdout, "f1", f1);
		printf(", \"support\": %llu}", (unsigned long long)sup);
	}
	printf("]}\n");
}

/* The width of the class column: 6, or the longest class name (at most
 * 24 bytes; longer names are cut). */
static int class_width(const cnn_model *m, int k)
{
	int w = 6;
	for (int c = 0; c < k && cnn_model_class_name(m, c); c++) {
		int n = (int)strlen(cnn_model_class_name(m, c));
		w = n > w ? (n < 24 ? n : 24) : w;
	}
	return w;
}

/* Class c as a row label: its name cut to w bytes, else its number. */
static void print_class(const cnn_model *m, int c, int w)
{
	if (cnn_model_class_name(m, c))
		printf("%-*.*s", w, w, cnn_model_class_name(m, c));
	else
		printf("%*d", w, c);
}

/* The evaluation r as text: samples, accuracy and loss, a table of
 * per-class scores ("-" when undefined), then the confusion matrix; rows
 * are named by the classes' names when the model has them. */
static void print_eval_text(const cnn_model *m, const cnn_eval_result *r)
{
	int k = r->classes, w = class_width(m, k);
	printf("samples: %zu\naccuracy: %.4f (%.2f%%)\nloss: %.4f\n", r->n,
	       r->accuracy, 100.0 * r->accuracy, r->loss);
	printf("per class (precision: correct among those predicted; "
	       "recall: correct among those truly of the class; "
	       "-: undefined):\n");
	printf(cnn_model_class_name(m, 0) ? "%-*s" : "%*s", w, "class");
	printf(" %9s %9s %9s %9s\n", "precision", "recall", "f1", "support");
	for (int t = 0; t < k; t++) {
		double pr, rc, f1;
		uint64_t sup;
		class_scores(r, t, &pr, &rc, &f1, &sup);
		print_class(m, t, w);
		print_score(pr);
		print_score(rc);
		print_score(f1);
		printf(" %9llu\n", (unsigned long long)sup);
	}
	printf("confusion matrix (rows: true class, columns: "
	       "predicted%s):\n%*s",
	       cnn_model_class_name(m, 0) ? ", in the rows' order" : "", w, "");
	for (int p = 0; p < k; p++)
		printf(" %6d", p);
	printf("\n");
	for (int t = 0; t < k; t++) {
		print_class(m, t, w);
		for (int p = 0; p < k; p++)
			printf(" %6llu",
			       (unsigned long long)r->confusion[t * k + p]);
		printf("\n");
	}
}

/* Prints the evaluation of the kept weights on the test set: accuracy,
 * loss, per-class precision, recall and F1, and the confusion matrix, as
 * text or (--json) one JSON object. */
static int evaluate(cnn_model *m, const options *o)
{
	cnn_error err;
	cnn_eval_result r;
	if (cnn_model_evaluate(m, o->threads, &r, &err) != CNN_OK)
		return fail(&err);
	if (o->json)
		print_eval_json(m, &r);
	else
		print_eval_text(m, &r);
	cnn_eval_result_free(&r);
	return 0;
}

/* Prints the top classes of one sample's probabilities: "LABEL: 7 0.9980",
 * or with class names "LABEL: seven 0.9980", the next ones after commas. */
static void print_top(const cnn_model *m, const char *label, const float *p,
                      int k, int top)
{
	unsigned char used[256] = {0};
	printf("%s:", label);
	for (int t = 0; t < top && t < k; t++) {
		int arg = -1;
		for (int c = 0; c < k; c++)
			if (!used[c] && (arg < 0 || p[c] > p[arg]))
				arg = c;
		used[arg] = 1;
		if (cnn_model_class_name(m, arg))
			printf("%s %s %.4f", t ? "," : "",
			       cnn_model_class_name(m, arg), (double)p[arg]);
		else
			printf("%s %d %.4f", t ? "," : "", arg, (double)p[arg]);
	}
	printf("\n");
}

/* Classifies n samples (pixels, the model's input shape each) and prints
 * one line per sample, labelled by label(i). Returns the exit status. */
static int classify(cnn_model *m, const options *o, const uint8_t *pixels,
                    size_t n, const char *what,
                    void (*label)(char *buf, size_t size, size_t i,
                                  const void *arg),
                    const void *arg)
{
	int k = cnn_model_classes(m);
	float *probs = malloc((n ? n : 1) * (size_t)k * sizeof *probs);
	cnn_error err;
	char buf[4200];

	if (!probs) {
		fprintf(stderr, "%s: out of memory\n", what);
		return 1;
	}
	if (n && cnn_model_predict(m, pixels, n, probs, &err) != CNN_OK) {
		free(probs);
		return fail(&err);
	}
	for (size_t i = 0; i < n; i++) {
		label(buf, sizeof buf, i, arg);
		print_top(m, buf, probs + i * k, k, o->top);
	}
	free(probs);
	return 0;
}

/* A sample of a data set file: "FILE[i]". */
static void set_label(char *buf, size_t size, size_t i, const void *arg)
{
	snprintf(buf, size, "%s[%zu]", (const char *)arg, i);
}

/* A file of a list: its path. */
static void path_label(char *buf, size_t size, size_t i, const void *arg)
{
	snprintf(buf, size, "%s", ((char *const *)arg)[i]);
}

/* Classifies the images at paths[0..n), read and fitted to the model's
 * input as its training data was, a block at a time; an image that cannot
 * be read is reported and skipped. Returns the worst exit status. */
static int predict_images(cnn_model *m, const options *o, char **paths,
                          size_t n)
{
	enum { BLOCK = 256 };
	int shape[3], rc = 0;
	cnn_model_input_shape(m, shape);
	size_t size = (size_t)shape[0] * shape[1] * shape[2];
	uint8_t *block = malloc(BLOCK * size);
	char *ok[BLOCK];

	if (!block) {
		fprintf(stderr, "%s: out of memory\n", paths[0]);
		return 1;
	}
	for (size_t first = 0; first < n; first += BLOCK) {
		size_t got = 0;
		for (size_t i = first; i < n && i < first + BLOCK; i++) {
			cnn_error err;
			uint8_t *px;
			if (cnn_model_read_image(m, paths[i], &px, &err)) {
				int r = fail(&err);
				rc = r > rc ? r : rc;
				continue;
			}
			memcpy(block + got * size, px, size);
			free(px);
			ok[got++] = paths[i];
		}
		int r =
		    classify(m, o, block, got, paths[first], path_label, ok);
		rc = r > rc ? r : rc;
	}
	free(block);
	return rc;
}

/* 1 when path starts like a PGM, PNG or JPEG image. */
static int looks_like_image(const char *path)
{
	unsigned char h[4] = {0};
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(h, 1, sizeof h, f) : 0;
	if (f)
		fclose(f);
	return (got >= 2 && h[0] == 'P' && (h[1] == '5' || h[1] == '2')) ||
	       (got == 4 && !memcmp(h, "\x89PNG", 4)) ||
	       (got >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff);
}

/* Classifies FILE: every image under it when it is a folder (recursively,
 * in sorted order), one image (PGM, PNG or JPEG, by its first bytes), or
 * every image of an IDX / CSV data set. Images are fitted to the model's
 * input as its training data was (channels; size when it was resized). */
static int predict_file(cnn_model *m, const options *o, const char *file)
{
	cnn_error err;
	struct stat st;
	cnn_data_source src = {0};
	cnn_dataset *d = NULL;
	char *one[1] = {(char *)file}, **list;
	size_t n;
	int rc;

	if (stat(file, &st) != 0) {
		fprintf(stderr, "%s: cannot open: %s\n", file, strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (cnn_image_list(file, &list, &n, &err) != CNN_OK)
			return fail(&err);
		if (!n)
			fprintf(stderr,
			        "%s: no images (.png, .pgm, .jpg or "
			        ".jpeg files) in this folder\n",
			        file);
		rc = n ? predict_images(m, o, list, n) : 2;
		cnn_image_list_free(list, n);
		return rc;
	}
	if (looks_like_image(file))
		return predict_images(m, o, one, 1);
	src.format = strstr(file, ".csv") ? "csv" : "idx";
	src.images = src.path = file;
	src.header = -1;
	cnn_model_input_shape(m, src.shape);
	src.classes = cnn_model_classes(m);
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
		return fail(&err);
	n = cnn_dataset_count(d);
	rc = classify(m, o, n ? cnn_dataset_image(d, 0) : NULL, n, file,
	              set_label, file);
	cnn_dataset_free(d);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The command line                                                         */

/* getopt_long's codes for the options without a short form. */
enum {
	OPT_METRICS = 256,
	OPT_RESUME,
	OPT_EVALUATE,
	OPT_PREDICT,
	OPT_TOP,
	OPT_JSON,
	OPT_METRICS_CSV,
	OPT_PLOT,
	OPT_NO_PROGRESS
};

/* parse_options's "carry on": no exit status yet. */
#define GO_ON (-1)

/* Applies option c (its value in optarg) to o. Returns GO_ON, or the exit
 * status when the option ends the program: 0 after --help or --version,
 * 2 (after one line) for a bad value or an unknown option. */
static int apply_option(options *o, int c, char **argv)
{
	switch (c) {
	case 's':
		if (o->n_sets == MAX_SETS)
			return usage_error("too many --set options "
			                   "(at most %s)",
			                   "256");
		o->sets[o->n_sets++] = optarg;
		break;
	case 'o':
		o->output = optarg;
		break;
	case OPT_METRICS:
		o->metrics = optarg;
		break;
	case OPT_METRICS_CSV:
		o->metrics_csv = optarg;
		break;
	case OPT_PLOT:
		o->plot = optarg;
		break;
	case OPT_NO_PROGRESS:
		o->no_progress = 1;
		break;
	case 'j':
		if ((o->threads = cli_parse_count(optarg, 1024)) < 0)
			return usage_error("--threads: expected an "
			                   "integer from 1 to 1024, got "
			                   "\"%s\"",
			                   optarg);
		break;
	case OPT_RESUME:
		o->resume = optarg;
		break;
	case OPT_EVALUATE:
		o->evaluate = optarg;
		break;
	case OPT_PREDICT:
		o->predict = optarg;
		break;
	case OPT_TOP:
		o->top_set = 1;
		if ((o->top = cli_parse_count(optarg, 256)) < 0)
			return usage_error("--top: expected a positive "
			                   "integer, got \"%s\"",
			                   optarg);
		break;
	case OPT_JSON:
		o->json = 1;
		break;
	case 'q':
		o->quiet = 1;
		break;
	case 'v':
		o->verbose = 1;
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
		return usage_error("unknown option '%s'", argv[optind - 1]);
	}
	return GO_ON;
}

/* The options that exclude or need each other: GO_ON, or 2 after one
 * line saying which. */
static int check_options(const options *o)
{
	int modes = !!o->resume + !!o->evaluate + !!o->predict;
	if (modes > 1)
		return usage_error("%s", "--resume, --evaluate and --predict "
		                         "exclude each other");
	if (o->json && !o->evaluate)
		return usage_error("%s", "--json goes with --evaluate");
	if (o->top_set && !o->predict)
		return usage_error("%s", "--top goes with --predict");
	if ((o->evaluate || o->predict) &&
	    (o->metrics || o->metrics_csv || o->plot))
		return usage_error("%s",
		                   "--metrics, --metrics-csv and --plot go "
		                   "with training (MODEL.yaml or --resume)");
	return GO_ON;
}

/* Reads the options of the command line into o (the operands start at
 * optind). Returns GO_ON, or the exit status when the program ends here. */
static int parse_options(options *o, int argc, char **argv)
{
	static const struct option longs[] = {
	    {"set", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"metrics-csv", required_argument, NULL, OPT_METRICS_CSV},
	    {"plot", required_argument, NULL, OPT_PLOT},
	    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
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
	int c, rc;

	memset(o, 0, sizeof *o);
	o->top = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:o:j:qvhV", longs, NULL)) != -1)
		if ((rc = apply_option(o, c, argv)) != GO_ON)
			return rc;
	return check_options(o);
}

/* ------------------------------------------------------------------------ */
/* The modes                                                                */

/* --resume, --evaluate or --predict: loads the checkpoint (with the --set
 * overrides) and runs the mode; returns the exit status (for --predict,
 * the worst of its files'). */
static int run_checkpoint(const options *o, int argc, char **argv)
{
	cnn_model *m = NULL;
	cnn_error err;
	int rc;
	const char *ckpt = o->resume     ? o->resume
	                   : o->evaluate ? o->evaluate
	                                 : o->predict;

	if (o->predict ? optind >= argc : optind < argc)
		return usage_error(o->predict ? "--predict needs at least one "
		                                "FILE%s"
		                              : "unexpected argument '%s'",
		                   o->predict ? "" : argv[optind]);
	cnn_model_load(&m, ckpt, o->sets, o->n_sets, &err);
	if (cnn_dist_agree(&err) != CNN_OK) {
		cnn_model_free(m);
		if (cli_file_kind(ckpt) != CLI_MODEL || !voice)
			return fail(&err);
		fprintf(stderr, "%s: " CLI_MODEL_NOT_CHECKPOINT "\n", prog,
		        ckpt, ckpt);
		return 2;
	}
	if (o->resume) {
		rc = train(m, o, o->output ? o->output : ckpt, 1);
	} else if (o->evaluate) {
		rc = evaluate(m, o);
	} else {
		rc = 0;
		/* in an MPI job, rank 0 alone classifies */
		for (int i = optind; voice && i < argc; i++) {
			int r = predict_file(m, o, argv[i]);
			if (r > rc)
				rc = r;
		}
	}
	cnn_model_free(m);
	return rc;
}

/* MODEL.yaml: builds the model it describes (with the overrides) and
 * trains it from the start; returns the exit status. */
static int run_yaml(const options *o, int argc, char **argv)
{
	cnn_model *m = NULL;
	cnn_error err;
	int rc;

	if (optind + 1 != argc)
		return usage_error(optind >= argc ? "missing MODEL.yaml%s"
		                                  : "unexpected argument '%s'",
		                   optind >= argc ? "" : argv[optind + 1]);
	cnn_model_from_yaml(&m, argv[optind], o->sets, o->n_sets, &err);
	if (cnn_dist_agree(&err) != CNN_OK) {
		cnn_model_free(m);
		if (cli_file_kind(argv[optind]) != CLI_GZIP || !voice)
			return fail(&err);
		fprintf(stderr, "%s: " CLI_CHECKPOINT_NOT_MODEL "\n", prog,
		        argv[optind], argv[optind], argv[optind]);
		return 2;
	}
	rc = train(m, o, o->output ? o->output : cnn_model_checkpoint_path(m),
	           0);
	cnn_model_free(m);
	return rc;
}

/* In an MPI job, the options of a process other than rank 0: nothing
 * printed, no file written but the checkpoint rank 0 saves (see voice). */
static void silence(options *o)
{
	o->quiet = 1;
	o->no_progress = 1;
	o->verbose = 0;
	o->metrics = o->metrics_csv = o->plot = NULL;
}

/* Runs the command line; returns the exit status. */
static int run(int argc, char **argv)
{
	options o;
	int rc;

	if (cnn_dist_rank() != 0) {
		voice = 0;
		if (!freopen("/dev/null", "w", stdout))
			fclose(stdout);
	}
	if ((rc = parse_options(&o, argc, argv)) != GO_ON)
		return rc;
	if (!voice)
		silence(&o);
	if (o.resume || o.evaluate || o.predict)
		return run_checkpoint(&o, argc, argv);
	return run_yaml(&o, argc, argv);
}

int main(int argc, char **argv)
{
	cnn_error err;
	int rc;

	if (cnn_dist_start(&argc, &argv, &err) != CNN_OK) {
		voice = cnn_dist_rank() == 0;
		return fail(&err);
	}
	rc = run(argc, argv);
	cnn_dist_finish();
	return rc;
}

/*
 * load.c - the benchmark of training on a busy machine, run by `make
 * bench` after bench.c (never by make check).
 *
 * Users' machines are shared: a build runs beside the training, or two
 * trainings run at once. Run alone, this is the driver: it starts itself
 * (a worker: --worker THREADS) to train the reference model a few epochs
 * and print the median epoch after the first, in these situations,
 * repeated and alternated:
 *   quiet       the worker alone, at the default threads and at 1 thread;
 *   spinning    beside a process that spins on one core (as a compiler
 *               would), at the default threads and at 1 thread;
 *   two at once two workers at the default threads started together (the
 *               figure is each one's epoch).
 * It reports min, median and max of each situation's epochs and each
 * one's ratio to the quiet epoch at 1 thread, against the target: a busy
 * machine never costs more than 1.5 times the quiet single thread (about
 * 0.75 beside a spinning process and 1.0 for two at once are what the
 * free cores allow on two cores). It also reports each situation's
 * largest peak resident memory of a worker: the quiet one at the default
 * threads is the reference run (the reference model on MNIST's files, its
 * checkpoint written), against its target of 80 MB. With --json FILE the same numbers go to
 * FILE. Errors: one line on stderr, exit 1 (2 for a bad command line).
 */
#define _XOPEN_SOURCE 700
#include "model.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

#define MAX_REPS      8
#define N_SIT         5
#define RSS_TARGET_MB 80.0 /* the reference run's peak, at most */

static char self[CNN_PATH_MAX], model[CNN_PATH_MAX];
static char tmp_dir[CNN_PATH_MAX], tmp_ckpt[3][CNN_PATH_MAX + 16];
static pid_t spinner;

/* Stops the spinner and removes the temporary files (async-signal-safe:
 * kill, unlink and rmdir only). */
static void cleanup(void)
{
	if (spinner > 0)
		kill(spinner, SIGKILL);
	for (int i = 0; i < 3; i++)
		if (tmp_ckpt[i][0])
			unlink(tmp_ckpt[i]);
	if (tmp_dir[0])
		rmdir(tmp_dir);
}

/* On SIGINT/SIGTERM: cleans up and dies of the signal. */
static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ======================================================================== */
/* The worker                                                               */

typedef struct epochs {
	double s[16];
	int n;
} epochs;

static int on_epoch(const cnn_epoch_metrics *e, void *user)
{
	epochs *l = user;
	if (l->n < 16)
		l->s[l->n++] = e->seconds;
	return 0;
}

/* Trains the model for n_epochs at threads threads (0: the default) on
 * the first limit training images (0: all) into ckpt; prints
 * "result MEDIAN KIB" (the median epoch after the first, and the process's
 * peak resident memory in KiB, as getrusage counts it on Linux). */
static int work(const char *path, int threads, int n_epochs, long limit,
                const char *ckpt)
{
	char ov[2][64];
	const char *all[2] = {ov[0], ov[1]};
	cnn_model *m;
	cnn_error err;
	epochs log = {{0}, 0};

	snprintf(ov[0], sizeof ov[0], "training.epochs=%d", n_epochs);
	snprintf(ov[1], sizeof ov[1], "data.train.limit=%ld", limit);
	cnn_err_clear(&err);
	if (cnn_model_from_yaml(&m, path, all, limit > 0 ? 2 : 1, &err) !=
	    CNN_OK)
		die_err(&err);
	cnn_train_options o = {.checkpoint = ckpt,
	                       .threads = threads,
	                       .on_epoch = on_epoch,
	                       .user = &log};
	if (cnn_model_train(m, &o, &err) != CNN_OK)
		die_err(&err);
	if (log.n < 2)
		die("the benchmark needs 2 epochs or more");
	cnn_model_free(m);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		ru.ru_maxrss = 0;
	printf("result %.6f %ld\n", median(log.s + 1, log.n - 1),
	       (long)ru.ru_maxrss);
	return 0;
}

/* ======================================================================== */
/* The driver                                                               */

/* What the driver measures (the full plan and --quick's). */
typedef struct plan {
	int reps, epochs;
	long limit; /* training images; 0: all */
} plan;
static const plan plan_full = {3, 4, 0};
static const plan plan_quick = {1, 2, 10000};

static const char *const sit_name[N_SIT] = {
    "quiet, default threads", "quiet, 1 thread", "spinning, default threads",
    "spinning, 1 thread", "two at once, default threads"};

/* Starts a worker at threads threads writing checkpoint k; returns its
 * output stream. */
static FILE *start_worker(const plan *p, int threads, int k)
{
	char cmd[4 * CNN_PATH_MAX];
	snprintf(cmd, sizeof cmd, "'%s' --worker %d %d %ld '%s' '%s'", self,
	         threads, p->epochs, p->limit, model, tmp_ckpt[k]);
	FILE *f = popen(cmd, "r");
	if (!f)
		die("cannot start a worker: %s", strerror(errno));
	return f;
}

/* Reads a worker's result and waits for it; its median epoch, and its
 * peak resident memory in MB (10^6 bytes) into *mb. */
static double end_worker(FILE *f, double *mb)
{
	char line[256];
	double s = -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "result %lf %ld", &s, &kib) == 2)
			break;
	while (fgets(line, sizeof line, f))
		;
	if (pclose(f) != 0 || s < 0 || kib < 0)
		die("a worker failed");
	*mb = (double)kib * 1024.0 / 1e6;
	return s;
}

/* Starts a process that spins on a processor until it is killed. */
static void start_spinner(void)
{
	spinner = fork();
	if (spinner < 0)
		die("cannot fork: %s", strerror(errno));
	if (spinner == 0) {
		volatile unsigned long x = 0;
		for (;;)
			x++;
	}
}

static void stop_spinner(void)
{
	kill(spinner, SIGKILL);
	waitpid(spinner, NULL, 0);
	spinner = 0;
}

/* One repetition of situation i: its epoch(s) into v (two for "two at
 * once"), the largest peak memory of its workers raised into *mb; returns
 * how many epochs. */
static int run_situation(const plan *p, int i, double *v, double *mb)
{
	int threads = i == 1 || i == 3 ? 1 : 0;
	double w[2];
	if (i == 4) {
		FILE *a = start_worker(p, 0, 1), *b = start_worker(p, 0, 2);
		v[0] = end_worker(a, &w[0]);
		v[1] = end_worker(b, &w[1]);
		*mb = fmax(*mb, fmax(w[0], w[1]));
		return 2;
	}
	if (i == 2 || i == 3)
		start_spinner();
	v[0] = end_worker(start_worker(p, threads, 0), &w[0]);
	*mb = fmax(*mb, w[0]);
	if (spinner)
		stop_spinner();
	return 1;
}

/* Writes the situations' epochs st (min, median, max), ratios to base
 * and peak memory mb to the JSON file json. */
static void write_json(const char *json, double st[N_SIT][3], const double *mb,
                       double base)
{
	FILE *f = fopen(json, "w");
	if (!f)
		die("cannot write %s: %s", json, strerror(errno));
	fprintf(f,
	        "{\n  \"libcnn\": \"%s\",\n  \"reference_peak_rss_mb\": "
	        "%.1f,\n  \"peak_rss_target_mb\": %.1f,\n  \"situations\": "
	        "[\n",
	        cnn_version(), mb[0], RSS_TARGET_MB);
	for (int i = 0; i < N_SIT; i++)
		fprintf(f,
		        "    {\"name\": \"%s\", \"min_s\": %.6f, \"median_s\": "
		        "%.6f, \"max_s\": %.6f, \"ratio\": %.4f, "
		        "\"peak_rss_mb\": %.1f}%s\n",
		        sit_name[i], st[i][0], st[i][1], st[i][2],
		        st[i][1] / base, mb[i], i + 1 < N_SIT ? "," : "");
	fprintf(f, "  ]\n}\n");
	if (fclose(f) != 0)
		die("cannot write %s", json);
}

/* Every situation, p->reps times, alternated; prints the report and
 * writes the JSON (when json is not NULL). */
static void drive(const plan *p, const char *json)
{
	double v[N_SIT][2 * MAX_REPS], st[N_SIT][3], mb[N_SIT] = {0};
	int n[N_SIT] = {0};
	for (int r = 0; r < p->reps; r++)
		for (int i = 0; i < N_SIT; i++)
			n[i] += run_situation(p, i, v[i] + n[i], &mb[i]);
	for (int i = 0; i < N_SIT; i++) {
		st[i][1] = median(v[i], n[i]); /* sorts v[i] */
		st[i][0] = v[i][0];
		st[i][2] = v[i][n[i] - 1];
	}
	const double base = st[1][1];
	printf("\nOn a busy machine: the reference model's epoch (s; min / "
	       "median / max over %d runs),\nand the median's ratio to the "
	       "quiet epoch at 1 thread (target: <= 1.5):\n",
	       p->reps);
	for (int i = 0; i < N_SIT; i++)
		printf("  %-30s %6.3f %6.3f %6.3f   %5.2fx%s\n", sit_name[i],
		       st[i][0], st[i][1], st[i][2], st[i][1] / base,
		       i == 2 || i == 4
		           ? (st[i][1] / base <= 1.5 ? " met" : " MISSED")
		           : "");
	printf("Peak resident memory of a worker (MB of 10^6 bytes; the "
	       "largest of its runs):\n");
	for (int i = 0; i < N_SIT; i++)
		printf("  %-30s %6.1f%s\n", sit_name[i], mb[i],
		       i ? ""
		       : mb[0] <= RSS_TARGET_MB
		           ? "   the reference run (target: <= 80): met"
		           : "   the reference run (target: <= 80): MISSED");
	if (json)
		write_json(json, st, mb, base);
}

/* Finds this program, the model and a temporary folder. */
static void setup(const char *argv0)
{
	if (!realpath(argv0, self))
		die("cannot find this program (%s): %s", argv0,
		    strerror(errno));
	snprintf(model, sizeof model, "%s/models/mnist_cnn.yaml", BENCH_SRCDIR);
	const char *tmp = getenv("TMPDIR");
	snprintf(tmp_dir, sizeof tmp_dir, "%s/cnnload.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = '\0';
		die("cannot create a temporary folder: %s", strerror(errno));
	}
	for (int i = 0; i < 3; i++)
		snprintf(tmp_ckpt[i], sizeof tmp_ckpt[i], "%s/%d.gz", tmp_dir,
		         i);
	if (strchr(self, '\'') || strchr(model, '\'') || strchr(tmp_dir, '\''))
		die("a path holds a quote: %s, %s or %s", self, model, tmp_dir);
}

int main(int argc, char **argv)
{
	const plan *p = &plan_full;
	const char *json = NULL;

	bench_name = "bench/load";
	if (argc == 7 && !strcmp(argv[1], "--worker"))
		return work(argv[5], atoi(argv[2]), atoi(argv[3]),
		            atol(argv[4]), argv[6]);
	bench_cleanup = cleanup;
	int quick;
	json = bench_options(argc, argv, &quick);
	if (quick)
		p = &plan_quick;
	setup(argv[0]);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	drive(p, json);
	cleanup();
	return 0;
}

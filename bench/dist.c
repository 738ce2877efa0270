/*
 * dist.c - the benchmark of training over several processes, run by
 * `make bench` after bench.c when libcnn was built with MPI (never by make
 * check).
 *
 * Run alone, it is the driver: it starts itself under mpirun once for each
 * measurement (a worker: --worker train|fold|load), reads the result lines
 * rank 0 prints, and reports:
 *  1. whole epochs (training + evaluation) of the reference model and of
 *     resnet_tiny, as one process of two threads (mpirun --bind-to none
 *     -np 1, -j 2) and as two processes of one thread (mpirun -np 2, -j 1),
 *     alternated in pairs: min, median and max s/epoch over the pairs, the
 *     time rank 0 spent in MPI calls per epoch (moving the sums, and
 *     waiting for the other process to reach them) and its share of the
 *     epoch, and whether the two runs' weights are bit-identical;
 *  2. one reduction of each zoo model's parameters (float) at 2, 3 and 4
 *     processes on this host (beyond its cores with --oversubscribe): the
 *     ordered fold libcnn uses (receive the running sum, add one's own,
 *     pass it on, the last process broadcasting; in slices that overlap)
 *     against MPI_Allreduce;
 *  3. start-up: the reference model's training and test sets read by every
 *     process at once, against read by rank 0 and broadcast.
 * With --json FILE the same numbers go to FILE. The mpirun command is
 * $MPIRUN when set, else mpirun; as root, Open MPI's run-as-root variables
 * are set when unset (as the tests do). Errors: one line on stderr, exit 1
 * (2 for a bad command line); without mpirun it says so and exits 0.
 */
#define _XOPEN_SOURCE 700
#include "dist.h"
#include "model.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

#define MAX_PAIRS  8
#define MAX_ZOO    16
#define MAX_EPOCHS 16
#define N_PROCS    3 /* the fold at 2, 3 and 4 processes */

/* How much each section measures: the full plan and --quick's. */
typedef struct plan {
	int pairs, epochs, fold_reps, load_reps;
	long ref_train, ref_test, res_train, res_test; /* 0: all */
	double probe_s; /* each zoo model's step time, measured this long */
} plan;
static const plan plan_full = {3, 4, 200, 3, 0, 0, 12800, 0, 0.3};
static const plan plan_quick = {1, 2, 20, 1, 10000, 2000, 1280, 500, 0.05};

/* ======================================================================== */
/* Small helpers                                                            */

static char tmp_dir[CNN_PATH_MAX], tmp_ckpt[CNN_PATH_MAX + 16];

static void cleanup(void)
{
	if (tmp_ckpt[0])
		unlink(tmp_ckpt);
	if (tmp_dir[0])
		rmdir(tmp_dir);
}

/* 64-bit FNV-1a of n bytes: equal weights give equal hashes. */
static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* ======================================================================== */
/* The workers (under mpirun; rank 0 prints "result ..." lines)             */

typedef struct train_log {
	double seconds[MAX_EPOCHS];
	double wait_after_first; /* cnn_dist_wait_seconds at epoch 1's end */
	int epochs;
} train_log;

static int on_epoch(const cnn_epoch_metrics *e, void *user)
{
	train_log *l = user;
	if (l->epochs == 0)
		l->wait_after_first = cnn_dist_wait_seconds();
	if (l->epochs < MAX_EPOCHS)
		l->seconds[l->epochs++] = e->seconds;
	return 0;
}

/* Trains model for epochs epochs at threads threads on the first
 * train_limit / test_limit samples (0: all), writing the checkpoint ckpt;
 * rank 0 prints "result EPOCH_S WAIT_S HASH": the median epoch after the
 * first, the MPI time per epoch after the first, and the weights' hash. */
static void work_train(const char *model, int threads, int epochs,
                       long train_limit, long test_limit, const char *ckpt)
{
	char ov[4][64];
	const char *all[4] = {ov[0], ov[1], ov[2], ov[3]};
	int n = 2;
	cnn_model *m;
	cnn_error err;
	train_log log;

	snprintf(ov[0], sizeof ov[0], "training.epochs=%d", epochs);
	snprintf(ov[1], sizeof ov[1], "checkpoint.every=%d", epochs);
	if (train_limit > 0)
		snprintf(ov[n++], sizeof ov[0], "data.train.limit=%ld",
		         train_limit);
	if (test_limit > 0)
		snprintf(ov[n++], sizeof ov[0], "data.test.limit=%ld",
		         test_limit);
	cnn_err_clear(&err);
	if (cnn_model_from_yaml(&m, model, all, n, &err) != CNN_OK)
		die_err(&err);
	memset(&log, 0, sizeof log);
	cnn_train_options o = {.checkpoint = ckpt,
	                       .threads = threads,
	                       .on_epoch = on_epoch,
	                       .user = &log};
	if (cnn_model_train(m, &o, &err) != CNN_OK)
		die_err(&err);
	if (log.epochs < 2)
		die("%s: trained %d epochs, the benchmark needs 2", model,
		    log.epochs);
	double wait =
	    (cnn_dist_wait_seconds() - log.wait_after_first) / (log.epochs - 1);
	double s = median(log.seconds + 1, log.epochs - 1);
	if (cnn_dist_writer())
		printf("result %.6f %.6f %016llx\n", s, wait,
		       (unsigned long long)fnv1a(m->params,
		                                 m->n_params * sizeof(float)));
	cnn_model_free(m);
}

/* What add_mine adds: this process's values. */
typedef struct fold_job {
	float *buf;
	const float *mine;
} fold_job;

static void add_mine(void *ctx, size_t from, size_t to, int have)
{
	const fold_job *j = ctx;
	for (size_t i = from; i < to; i++)
		j->buf[i] = have ? j->buf[i] + j->mine[i] : j->mine[i];
}

/* One ordered fold of mine's n floats over one item per process, as the
 * trainer folds its gradients (cnn_dist_fold_sliced), between two
 * barriers; its seconds. */
static double fold_once(float *buf, const float *mine, size_t n)
{
	fold_job j = {buf, mine};
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = MPI_Wtime();
	cnn_dist_fold_sliced(buf, n, cnn_dist_size(), add_mine, &j);
	MPI_Barrier(MPI_COMM_WORLD);
	return MPI_Wtime() - t0;
}

/* The same sum through MPI_Allreduce (in place on a copy of mine). */
static double allreduce_once(float *buf, const float *mine, size_t n)
{
	memcpy(buf, mine, n * sizeof *buf);
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = MPI_Wtime();
	MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM,
	              MPI_COMM_WORLD);
	MPI_Barrier(MPI_COMM_WORLD);
	return MPI_Wtime() - t0;
}

/* For each of the n_sizes parameter counts, reps folds and reps
 * all-reduces, alternated; rank 0 prints "result COUNT FOLD_S ALLRED_S"
 * (medians) for each. */
static void work_fold(const long *sizes, int n_sizes, int reps)
{
	if (cnn_dist_size() < 2)
		die("the fold needs at least 2 processes");
	for (int k = 0; k < n_sizes; k++) {
		size_t n = (size_t)sizes[k];
		float *mine = malloc(n * sizeof *mine);
		float *buf = malloc(n * sizeof *buf);
		double *tf = malloc((size_t)reps * sizeof *tf);
		double *ta = malloc((size_t)reps * sizeof *ta);
		if (!mine || !buf || !tf || !ta)
			die("out of memory");
		for (size_t i = 0; i < n; i++)
			mine[i] =
			    (float)(i % 97) * 0.01f + (float)cnn_dist_rank();
		fold_once(buf, mine, n); /* warm-up: connections, pages */
		allreduce_once(buf, mine, n);
		for (int r = 0; r < reps; r++) {
			tf[r] = fold_once(buf, mine, n);
			ta[r] = allreduce_once(buf, mine, n);
		}
		if (cnn_dist_writer())
			printf("result %zu %.9f %.9f\n", n, median(tf, reps),
			       median(ta, reps));
		free(mine), free(buf), free(tf), free(ta);
	}
}

/* Loads the data set ds of model m into *out (dies on error). */
static cnn_dataset *load(const cnn_model *m, const cnn_data_spec *ds)
{
	cnn_data_source src;
	cnn_dataset *d;
	cnn_error err;
	cnn_data_source_of(m, ds, &src);
	cnn_err_clear(&err);
	if (cnn_dataset_load(&d, &src, &err) != CNN_OK)
		die_err(&err);
	return d;
}

/* Broadcasts n bytes from rank 0 in pieces MPI can count. */
static void bcast_bytes(void *p, size_t n)
{
	const size_t piece = (size_t)1 << 30;
	for (size_t done = 0; done < n; done += piece) {
		size_t k = n - done < piece ? n - done : piece;
		MPI_Bcast((char *)p + done, (int)k, MPI_BYTE, 0,
		          MPI_COMM_WORLD);
	}
}

/* One start-up's data: every process reads both sets (bcast 0), or rank 0
 * reads and broadcasts the samples and labels (bcast 1); its seconds,
 * between two barriers. */
static double load_once(const cnn_model *m, int bcast)
{
	const cnn_data_spec *sets[2] = {&m->spec.train, &m->spec.test};
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = MPI_Wtime();
	for (int s = 0; s < 2; s++) {
		if (!bcast) {
			cnn_dataset_free(load(m, sets[s]));
			continue;
		}
		cnn_dataset *d = cnn_dist_rank() == 0 ? load(m, sets[s]) : NULL;
		unsigned long long size[2] = {d ? d->n : 0,
		                              d ? d->sample_size : 0};
		MPI_Bcast(size, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
		uint8_t *px = d ? d->pixels : malloc(size[0] * size[1] + 1);
		uint8_t *lb = d ? d->labels : malloc(size[0] + 1);
		if (!px || !lb)
			die("out of memory");
		bcast_bytes(px, size[0] * size[1]);
		bcast_bytes(lb, size[0]);
		if (d)
			cnn_dataset_free(d);
		else
			free(px), free(lb);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	return MPI_Wtime() - t0;
}

/* reps start-ups of each kind, alternated; rank 0 prints
 * "result EVERY_S BCAST_S" (medians). */
static void work_load(const char *model, int reps)
{
	cnn_model *m;
	cnn_error err;
	double every[MAX_PAIRS], bcast[MAX_PAIRS];
	cnn_err_clear(&err);
	if (cnn_model_from_yaml(&m, model, NULL, 0, &err) != CNN_OK)
		die_err(&err);
	if (reps > MAX_PAIRS)
		reps = MAX_PAIRS;
	for (int r = 0; r < reps; r++) {
		every[r] = load_once(m, 0);
		bcast[r] = load_once(m, 1);
	}
	if (cnn_dist_writer())
		printf("result %.6f %.6f\n", median(every, reps),
		       median(bcast, reps));
	cnn_model_free(m);
}

/* The worker's command line: --worker KIND, then its options. */
static int worker_main(int argc, char **argv)
{
	const char *kind = argv[2], *model = NULL, *ckpt = NULL;
	long sizes[MAX_ZOO], train_limit = 0, test_limit = 0;
	int threads = 1, epochs = 2, reps = 1, n_sizes = 0;
	cnn_error err;

	if (cnn_dist_start(&argc, &argv, &err) != CNN_OK)
		die_err(&err);
	for (int i = 3; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--model"))
			model = v;
		else if (!strcmp(a, "--ckpt"))
			ckpt = v;
		else if (!strcmp(a, "-j"))
			threads = atoi(v);
		else if (!strcmp(a, "--epochs"))
			epochs = atoi(v);
		else if (!strcmp(a, "--reps"))
			reps = atoi(v);
		else if (!strcmp(a, "--limits"))
			sscanf(v, "%ld,%ld", &train_limit, &test_limit);
		else if (!strcmp(a, "--size") && n_sizes < MAX_ZOO)
			sizes[n_sizes++] = atol(v);
	}
	if (!strcmp(kind, "train") && model && ckpt)
		work_train(model, threads, epochs, train_limit, test_limit,
		           ckpt);
	else if (!strcmp(kind, "fold") && reps > 0)
		work_fold(sizes, n_sizes, reps);
	else if (!strcmp(kind, "load") && model && reps > 0)
		work_load(model, reps);
	else
		die("bad worker command line");
	fflush(stdout);
	cnn_dist_finish();
	return 0;
}

/* ======================================================================== */
/* The driver                                                               */

static char self[CNN_PATH_MAX];
static const char *mpirun = "mpirun";

/* Appends s to buf (of size size) in single quotes for sh. */
static void append_quoted(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);
	if (n + 2 < size)
		buf[n++] = '\'';
	for (; *s && n + 5 < size; s++) {
		if (*s == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			buf[n++] = *s;
		}
	}
	if (*s || n + 2 >= size)
		die("command too long");
	buf[n++] = '\'';
	buf[n] = '\0';
}

/* Runs "$MPIRUN MPI_ARGS SELF --worker WORKER_ARGS" (model, when not
 * NULL, appended as --model) and reads its "result" lines into lines (at
 * most max, each of 256 bytes); returns their count. Dies when the command
 * fails. */
static int run_worker(const char *mpi_args, const char *worker_args,
                      const char *model, char (*lines)[256], int max)
{
	char cmd[4 * CNN_PATH_MAX], line[256];
	int n = 0;
	snprintf(cmd, sizeof cmd, "%s %s ", mpirun, mpi_args);
	append_quoted(cmd, sizeof cmd, self);
	snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " --worker %s",
	         worker_args);
	if (model) {
		strncat(cmd, " --model ", sizeof cmd - strlen(cmd) - 1);
		append_quoted(cmd, sizeof cmd, model);
	}
	strncat(cmd, " </dev/null", sizeof cmd - strlen(cmd) - 1);
	FILE *p = popen(cmd, "r");
	if (!p)
		die("cannot run %s: %s", mpirun, strerror(errno));
	while (fgets(line, sizeof line, p))
		if (!strncmp(line, "result ", 7) && n < max)
			memcpy(lines[n++], line + 7, sizeof line - 7);
	int st = pclose(p);
	if (st != 0 || n == 0)
		die("this failed (status %d, %d results): %s", st, n, cmd);
	return n;
}

/* One configuration of a model's epochs over the pairs. */
typedef struct train_cfg {
	double epoch_s[MAX_PAIRS], wait_s[MAX_PAIRS];
	unsigned long long hash[MAX_PAIRS];
	double min, med, max, wait, share;
} train_cfg;

typedef struct train_cmp {
	const char *name;
	long train_limit, test_limit;
	train_cfg one, two; /* -np 1 -j 2, -np 2 -j 1 */
	double ratio;       /* two.med / one.med */
	int identical;
} train_cmp;

/* Fills c's figures from the pairs' runs. */
static void train_summary(train_cfg *c, int pairs)
{
	double v[MAX_PAIRS];
	memcpy(v, c->epoch_s, sizeof v);
	c->med = median(v, pairs);
	c->min = v[0];
	c->max = v[pairs - 1];
	memcpy(v, c->wait_s, sizeof v);
	c->wait = median(v, pairs);
	c->share = c->med > 0 ? c->wait / c->med : 0;
}

/* Trains model (a file in BENCH_SRCDIR/models) at both configurations,
 * alternated, p->pairs times; fills c. */
static void bench_train(const plan *p, const char *model, long train_limit,
                        long test_limit, train_cmp *c)
{
	char path[CNN_PATH_MAX], args[CNN_PATH_MAX + 128], out[1][256];
	snprintf(path, sizeof path, "%s/models/%s.yaml", BENCH_SRCDIR, model);
	memset(c, 0, sizeof *c);
	c->name = model;
	c->train_limit = train_limit;
	c->test_limit = test_limit;
	c->identical = 1;
	for (int i = 0; i < 2 * p->pairs; i++) {
		train_cfg *t = i % 2 ? &c->two : &c->one;
		snprintf(args, sizeof args,
		         "train -j %d --epochs %d --limits %ld,%ld --ckpt ",
		         i % 2 ? 1 : 2, p->epochs, train_limit, test_limit);
		append_quoted(args, sizeof args, tmp_ckpt);
		run_worker(i % 2 ? "-np 2" : "--bind-to none -np 1", args, path,
		           out, 1);
		if (sscanf(out[0], "%lf %lf %llx", &t->epoch_s[i / 2],
		           &t->wait_s[i / 2], &t->hash[i / 2]) != 3)
			die("unexpected result: %s", out[0]);
		if (t->hash[i / 2] != c->one.hash[0])
			c->identical = 0;
	}
	train_summary(&c->one, p->pairs);
	train_summary(&c->two, p->pairs);
	c->ratio = c->one.med > 0 ? c->two.med / c->one.med : 0;
}

static void print_train(const train_cmp *c, int n)
{
	printf("\nEpochs (training + evaluation; min / median / max over "
	       "the runs),\none process of 2 threads against 2 processes of "
	       "1 thread:\n");
	printf("  %-12s %-22s %26s %16s %7s\n", "model", "run", "s/epoch",
	       "MPI s/epoch", "share");
	for (int i = 0; i < n; i++) {
		const train_cfg *t[2] = {&c[i].one, &c[i].two};
		for (int k = 0; k < 2; k++)
			printf(
			    "  %-12s %-22s %8.3f %8.3f %8.3f %16.4f %6.1f%%\n",
			    k ? "" : c[i].name,
			    k ? "mpirun -np 2 -j 1" : "mpirun -np 1 -j 2",
			    t[k]->min, t[k]->med, t[k]->max, t[k]->wait,
			    100.0 * t[k]->share);
		printf("  %-12s 2 processes / 1: %.3fx (target <= 1.15: %s); "
		       "weights bit-identical: %s\n",
		       "", c[i].ratio, c[i].ratio <= 1.15 ? "met" : "MISSED",
		       c[i].identical ? "yes" : "NO");
	}
}

/* The zoo's parameter counts: every model in BENCH_SRCDIR/models. */
typedef struct fold_row {
	char name[64];
	long params;
	int batch;
	double step_s[2]; /* one optimiser step at 1 and 2 threads */
	double fold_s[N_PROCS], allred_s[N_PROCS]; /* at 2, 3, 4 processes */
} fold_row;

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const fold_row *)a)->name, ((const fold_row *)b)->name);
}

/* The seconds of one optimiser step of m (gradient of a batch of
 * batch_size pseudo-random images, then the update) at threads threads:
 * a warm-up step, then steps for at least min_s. m's weights change. */
static double step_time(cnn_model *m, int threads, double min_s)
{
	const int n = m->spec.batch_size;
	const size_t size = (size_t)m->spec.input[0] *
	                    (size_t)m->spec.input[1] *
	                    (size_t)m->spec.input[2] * (size_t)n;
	cnn_error err;
	long reps = -1;
	double t0 = 0.0, t = 0.0;

	cnn_err_clear(&err);
	if (cnn_graph_reserve(m, n, &err) != CNN_OK)
		die_err(&err);
	cnn_graph_use(m, m->params);
	cnn_pool_set_threads(threads);
	do {
		for (size_t j = 0; j < size; j++)
			m->act[0][j] =
			    (float)((j * 2654435761u) % 256) / 255.0f;
		for (int i = 0; i < n; i++)
			m->labels[i] = (uint8_t)(i % m->classes);
		size_t correct = 0;
		double t1 = now();
		cnn_graph_gradient(m, n, &correct);
		cnn_optim_step(m);
		if (++reps > 0)
			t += now() - t1;
		if (reps == 0)
			t0 = now();
	} while (reps < 3 || now() - t0 < min_s);
	return t / (double)reps;
}

/* Fills rows with the zoo's models (name, parameter count, batch size and
 * step times, sorted by name); returns their count. */
static int zoo_rows(fold_row *rows, double probe_s)
{
	char dir[CNN_PATH_MAX], path[CNN_PATH_MAX + 256];
	int n = 0;
	snprintf(dir, sizeof dir, "%s/models", BENCH_SRCDIR);
	DIR *d = opendir(dir);
	if (!d)
		die("cannot read %s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < MAX_ZOO) {
		size_t len = strlen(e->d_name);
		if (len < 6 || len > 60 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		cnn_model *m;
		cnn_error err;
		cnn_err_clear(&err);
		if (cnn_model_from_yaml(&m, path, NULL, 0, &err) != CNN_OK) {
			/* a model that needs what the bench does not have
			 * (a checkpoint to start from, its own images) */
			char msg[1200];
			printf("  %.*s skipped: %s\n", (int)(len - 5),
			       e->d_name,
			       cnn_error_string(&err, msg, sizeof msg));
			continue;
		}
		snprintf(rows[n].name, sizeof rows[n].name, "%.*s",
		         (int)(len - 5), e->d_name);
		rows[n].params = (long)m->n_params;
		rows[n].batch = m->spec.batch_size;
		for (int t = 0; t < 2; t++)
			rows[n].step_s[t] = step_time(m, t + 1, probe_s);
		n++;
		cnn_model_free(m);
	}
	closedir(d);
	qsort(rows, (size_t)n, sizeof *rows, cmp_row);
	return n;
}

/* The fold and MPI_Allreduce of every zoo model's parameters at 2..4
 * processes; fills rows and returns their count. */
static int bench_fold(const plan *p, fold_row *rows)
{
	char args[64 + MAX_ZOO * 32], mpi[64], out[MAX_ZOO][256];
	int n = zoo_rows(rows, p->probe_s);
	for (int k = 0; k < N_PROCS; k++) {
		snprintf(args, sizeof args, "fold --reps %d", p->fold_reps);
		for (int i = 0; i < n; i++)
			snprintf(args + strlen(args),
			         sizeof args - strlen(args), " --size %ld",
			         rows[i].params);
		snprintf(mpi, sizeof mpi, "--oversubscribe -np %d", k + 2);
		if (run_worker(mpi, args, NULL, out, MAX_ZOO) != n)
			die("the fold at %d processes gave too few results",
			    k + 2);
		for (int i = 0; i < n; i++)
			if (sscanf(out[i], "%*s %lf %lf", &rows[i].fold_s[k],
			           &rows[i].allred_s[k]) != 2)
				die("unexpected result: %s", out[i]);
	}
	return n;
}

static void print_fold(const fold_row *rows, int n)
{
	printf("\nOne reduction of the parameters' gradients (float; median; "
	       "microseconds),\nthe ordered fold against MPI_Allreduce, at 2, "
	       "3 and 4 processes on this host,\nand one optimiser step of "
	       "one process (a batch; milliseconds):\n");
	printf("  %-12s %7s %9s", "model", "params", "bytes");
	for (int k = 0; k < N_PROCS; k++)
		printf("  %d: fold allred", k + 2);
	printf("  batch  step 1T   2T\n");
	for (int i = 0; i < n; i++) {
		printf("  %-12s %7ld %9ld", rows[i].name, rows[i].params,
		       rows[i].params * 4);
		for (int k = 0; k < N_PROCS; k++)
			printf("  %7.0f %6.0f", rows[i].fold_s[k] * 1e6,
			       rows[i].allred_s[k] * 1e6);
		printf("  %5d %7.2f %5.2f\n", rows[i].batch,
		       rows[i].step_s[0] * 1e3, rows[i].step_s[1] * 1e3);
	}
}

/* Start-up at 2 processes: both read, or rank 0 reads and broadcasts. */
static void bench_load(const plan *p, double *every, double *bcast)
{
	char path[CNN_PATH_MAX], args[64], out[1][256];
	snprintf(path, sizeof path, "%s/models/mnist_cnn.yaml", BENCH_SRCDIR);
	snprintf(args, sizeof args, "load --reps %d", p->load_reps);
	run_worker("-np 2", args, path, out, 1);
	if (sscanf(out[0], "%lf %lf", every, bcast) != 2)
		die("unexpected result: %s", out[0]);
	printf("\nStart-up at 2 processes (MNIST training and test sets, "
	       "median):\n  every process reads %.3f s; rank 0 reads and "
	       "broadcasts %.3f s: %s is faster\n",
	       *every, *bcast,
	       *every <= *bcast ? "reading everywhere" : "the broadcast");
}

static void json_cfg(FILE *f, const char *key, const train_cfg *t)
{
	fprintf(f,
	        "      \"%s\": {\"min_s\": %.6f, \"median_s\": %.6f, "
	        "\"max_s\": %.6f, \"mpi_s\": %.6f, \"mpi_share\": %.4f},\n",
	        key, t->min, t->med, t->max, t->wait, t->share);
}

/* The report as JSON into path. */
static void write_json(const char *path, const train_cmp *c, int n_c,
                       const fold_row *rows, int n_rows, double every,
                       double bcast)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "{\n  \"libcnn\": \"%s\",\n  \"train\": [\n", cnn_version());
	for (int i = 0; i < n_c; i++) {
		fprintf(f,
		        "    {\"model\": \"%s\", \"train_limit\": %ld, "
		        "\"test_limit\": %ld,\n",
		        c[i].name, c[i].train_limit, c[i].test_limit);
		json_cfg(f, "np1_j2", &c[i].one);
		json_cfg(f, "np2_j1", &c[i].two);
		fprintf(f, "      \"ratio\": %.4f, \"identical\": %s}%s\n",
		        c[i].ratio, c[i].identical ? "true" : "false",
		        i + 1 < n_c ? "," : "");
	}
	fprintf(f, "  ],\n  \"fold\": [\n");
	for (int i = 0; i < n_rows; i++) {
		fprintf(f,
		        "    {\"model\": \"%s\", \"params\": %ld, "
		        "\"batch\": %d, \"step_s\": [%.6f, %.6f]",
		        rows[i].name, rows[i].params, rows[i].batch,
		        rows[i].step_s[0], rows[i].step_s[1]);
		for (int k = 0; k < N_PROCS; k++)
			fprintf(f,
			        ", \"np%d\": {\"fold_s\": %.9f, "
			        "\"allreduce_s\": %.9f}",
			        k + 2, rows[i].fold_s[k], rows[i].allred_s[k]);
		fprintf(f, "}%s\n", i + 1 < n_rows ? "," : "");
	}
	fprintf(f,
	        "  ],\n  \"startup\": {\"every_s\": %.6f, "
	        "\"bcast_s\": %.6f}\n}\n",
	        every, bcast);
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

/* Whether cmd (a bare name or a path) can be run. */
static int can_run(const char *cmd)
{
	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	const char *path = getenv("PATH");
	char p[CNN_PATH_MAX];
	while (path && *path) {
		size_t len = strcspn(path, ":");
		int w = snprintf(p, sizeof p, "%.*s/%s", (int)len,
		                 len ? path : ".", cmd);
		if (w > 0 && w < (int)sizeof p && access(p, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

/* Finds mpirun and this program, sets Open MPI's environment for root and
 * makes the temporary folder for the checkpoints. Returns 0 when there is
 * no mpirun. */
static int driver_setup(const char *argv0)
{
	const char *env = getenv("MPIRUN");
	if (env && *env)
		mpirun = env;
	char first[CNN_PATH_MAX];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(mpirun, " "),
	         mpirun);
	if (!can_run(first))
		return 0;
	if (!realpath(argv0, self))
		die("cannot find this program (%s): %s", argv0,
		    strerror(errno));
	if (geteuid() == 0) {
		setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
		setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
	}
	setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
	const char *tmp = getenv("TMPDIR");
	snprintf(tmp_dir, sizeof tmp_dir, "%s/cnndist.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = '\0';
		die("cannot create a temporary folder: %s", strerror(errno));
	}
	snprintf(tmp_ckpt, sizeof tmp_ckpt, "%s/ckpt.gz", tmp_dir);
	return 1;
}

int main(int argc, char **argv)
{
	const plan *p = &plan_full;
	const char *json = NULL;
	train_cmp c[2];
	fold_row rows[MAX_ZOO];
	double every, bcast;

	bench_name = "bench/dist";
	bench_cleanup = cleanup;
	if (argc >= 3 && !strcmp(argv[1], "--worker"))
		return worker_main(argc, argv);
	int quick;
	json = bench_options(argc, argv, &quick);
	if (quick)
		p = &plan_quick;
	if (!driver_setup(argv[0])) {
		printf("\nSeveral processes: no %s, nothing measured\n",
		       mpirun);
		return 0;
	}
	printf("\nlibcnn %s over several processes%s, started with %s\n",
	       cnn_version(), p == &plan_quick ? " (quick)" : "", mpirun);
	fflush(stdout);
	bench_train(p, "mnist_cnn", p->ref_train, p->ref_test, &c[0]);
	bench_train(p, "resnet_tiny", p->res_train, p->res_test, &c[1]);
	print_train(c, 2);
	fflush(stdout);
	int n = bench_fold(p, rows);
	print_fold(rows, n);
	fflush(stdout);
	bench_load(p, &every, &bcast);
	if (json)
		write_json(json, c, 2, rows, n, every, bcast);
	cleanup();
	return 0;
}

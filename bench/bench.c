/*
 * bench.c - the libcnn benchmark, run by `make bench` (never by make check).
 *
 * What it measures, in this order, on the real MNIST:
 *  1. the machine's FMA peak: a register-resident loop of independent fused
 *     multiply-adds (AVX-512, else AVX2+FMA, else plain C), 1 thread, 2
 *     threads and all threads; then the cross-core round trip (a cache
 *     line passed between two pinned threads), which the zoo measures
 *     again before each model;
 *  2. every layer of the reference model on one batch cut into the
 *     library's chunks, forward and backward, at 1 and 2 threads, plus the
 *     whole gradient step and the optimiser step;
 *  3. whole training epochs of the reference model (each epoch includes the
 *     evaluation of the test set) at 1 and 2 threads: s/epoch, images/s,
 *     GFLOP/s, % of the FMA peak, the speed-up, the accuracy, and whether
 *     the weights are bit-identical between the thread counts;
 *  4. a width sweep (conv filters, dense units) with a fixed FLOP budget per
 *     epoch, to show how the speed grows with the size of the products;
 *  5. the model zoo: every other model in BENCH_SRCDIR/models, sorted by
 *     name, trained a few epochs at 1 and 2 threads on the same data (cut,
 *     for the slow ones, to what an epoch at 1 thread does in a few
 *     seconds at the speed a short probe measures): trainable parameters,
 *     forward FLOP, s/epoch, images/s, the speed-up, GFLOP/s and % of the
 *     FMA peak at 2 threads, the accuracy, whether the weights are
 *     bit-identical and the round trip just before (--no-zoo leaves it
 *     out);
 *  6. the peak RSS of the process.
 *
 * FLOPs are counted from the layer shapes (multiply and add = 2): conv
 * forward 2*F*C*KH*KW*OH*OW per image, its weight gradient the same and its
 * input gradient the same again; dense 2*in*out forward and the same for
 * each of the two gradients. A gradient is counted only where training
 * computes it: no weight gradient for a frozen layer, no input gradient
 * where the layers before it have nothing to train (the network's input,
 * or a flatten of it, as in mlp). Bias, activation and
 * pooling work is not counted, nor batchnorm, dropout, add or concat (a
 * model with a kind flop_known does not list has its FLOP reported as
 * n/a). An epoch is n_train * (forward + backward) + n_eval * forward.
 *
 * Run it with OMP_WAIT_POLICY=passive in the environment, as make bench
 * does: otherwise the benchmark's own OpenMP threads keep spinning after
 * their loops, beside the library's threads, and slow the epochs measured
 * after them.
 *
 * The output is a text report on stdout and, with --json FILE, the same
 * numbers as JSON. The MNIST files are decompressed once into a temporary
 * folder (removed at exit) so that the training runs do not each spend time
 * on gunzip; checkpoints go there too. Errors: one line on stderr, exit 1
 * (2 for a bad command line).
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include "model.h"
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifdef _OPENMP
#define BENCH_OMP(x) _Pragma(#x)
#else
#define BENCH_OMP(x)
#endif

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

#define MAX_EPOCHS  16
#define MAX_THREADS 256
#define N_SWEEP     5
#define N_FMA       3

/* ======================================================================== */
/* Small helpers                                                            */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The number of processors OpenMP may use (1 without OpenMP). */
static int procs(void)
{
#ifdef _OPENMP
	return omp_get_num_procs();
#else
	return 1;
#endif
}

/* The threads of the library's loops and of the benchmark's own. */
static void set_threads(int threads)
{
	cnn_pool_set_threads(threads);
#ifdef _OPENMP
	omp_set_num_threads(threads);
#endif
}

/* The temporary folder and the files bench writes into it, for cleanup
 * (also from a signal handler, so everything is preformatted). */
#define N_TMPFILES 4
static char tmp_dir[CNN_PATH_MAX];
static char tmp_files[N_TMPFILES][CNN_PATH_MAX];
static char tmp_ckpt[CNN_PATH_MAX];

/* Removes every file in the temporary folder, then the folder. Safe to call
 * when nothing was created. */
static void cleanup(void)
{
	if (!tmp_dir[0])
		return;
	DIR *d = opendir(tmp_dir);
	if (d) {
		struct dirent *e;
		char p[CNN_PATH_MAX + 256];
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

/* On SIGINT/SIGTERM: removes the known temporary files (unlink and rmdir
 * are async-signal-safe) and dies of the signal. */
static void on_signal(int sig)
{
	for (int i = 0; i < N_TMPFILES; i++)
		if (tmp_files[i][0])
			unlink(tmp_files[i]);
	if (tmp_ckpt[0])
		unlink(tmp_ckpt);
	if (tmp_dir[0])
		rmdir(tmp_dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Prints "bench: MESSAGE" on stderr, removes the temporary files and exits
 * with status 1. */
static void die(const char *fmt, ...) CNN_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/* Dies with err's one-line message, prefixed by what was being done. */
static void die_err(const char *what, const cnn_error *err)
{
	char buf[1400];
	die("%s: %s", what, cnn_error_string(err, buf, sizeof buf));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of v[0..n), n >= 1 (v is left alone). */
static double median(const double *v, int n)
{
	double s[MAX_EPOCHS];
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double min_of(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double max_of(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

/* a / b, or NAN when b is not positive (printed as "-" and null). */
static double ratio(double a, double b)
{
	return b > 0.0 ? a / b : NAN;
}

/* ======================================================================== */
/* 1. FMA peak                                                              */

/* Runs iters iterations of independent multiply-add chains held in
 * registers; returns a value that depends on all of them (so that nothing
 * is optimised away). The chains converge to 1 and never overflow. */
typedef float (*fma_fn)(long iters);

typedef struct fma_kernel {
	const char *isa;
	fma_fn fn;
	double flop_per_iter;
} fma_kernel;

#if defined(__x86_64__)
#define FMA_STEP(f, x) x = f(x, a, b)

__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
	const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
	__m512 x0 = _mm512_set1_ps(1.00f), x1 = _mm512_set1_ps(1.01f),
	       x2 = _mm512_set1_ps(1.02f), x3 = _mm512_set1_ps(1.03f),
	       x4 = _mm512_set1_ps(1.04f), x5 = _mm512_set1_ps(1.05f),
	       x6 = _mm512_set1_ps(1.06f), x7 = _mm512_set1_ps(1.07f),
	       x8 = _mm512_set1_ps(1.08f), x9 = _mm512_set1_ps(1.09f),
	       x10 = _mm512_set1_ps(1.10f), x11 = _mm512_set1_ps(1.11f),
	       x12 = _mm512_set1_ps(1.12f), x13 = _mm512_set1_ps(1.13f),
	       x14 = _mm512_set1_ps(1.14f), x15 = _mm512_set1_ps(1.15f);
	float out[16], s = 0.0f;

	for (long i = 0; i < iters; i++) {
		FMA_STEP(_mm512_fmadd_ps, x0);
		FMA_STEP(_mm512_fmadd_ps, x1);
		FMA_STEP(_mm512_fmadd_ps, x2);
		FMA_STEP(_mm512_fmadd_ps, x3);
		FMA_STEP(_mm512_fmadd_ps, x4);
		FMA_STEP(_mm512_fmadd_ps, x5);
		FMA_STEP(_mm512_fmadd_ps, x6);
		FMA_STEP(_mm512_fmadd_ps, x7);
		FMA_STEP(_mm512_fmadd_ps, x8);
		FMA_STEP(_mm512_fmadd_ps, x9);
		FMA_STEP(_mm512_fmadd_ps, x10);
		FMA_STEP(_mm512_fmadd_ps, x11);
		FMA_STEP(_mm512_fmadd_ps, x12);
		FMA_STEP(_mm512_fmadd_ps, x13);
		FMA_STEP(_mm512_fmadd_ps, x14);
		FMA_STEP(_mm512_fmadd_ps, x15);
	}
	x0 = _mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3));
	x4 = _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7));
	x8 = _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11));
	x12 = _mm512_add_ps(_mm512_add_ps(x12, x13), _mm512_add_ps(x14, x15));
	x0 = _mm512_add_ps(_mm512_add_ps(x0, x4), _mm512_add_ps(x8, x12));
	_mm512_storeu_ps(out, x0);
	for (int k = 0; k < 16; k++)
		s += out[k];
	return s;
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
	const __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
	__m256 x0 = _mm256_set1_ps(1.00f), x1 = _mm256_set1_ps(1.01f),
	       x2 = _mm256_set1_ps(1.02f), x3 = _mm256_set1_ps(1.03f),
	       x4 = _mm256_set1_ps(1.04f), x5 = _mm256_set1_ps(1.05f),
	       x6 = _mm256_set1_ps(1.06f), x7 = _mm256_set1_ps(1.07f),
	       x8 = _mm256_set1_ps(1.08f), x9 = _mm256_set1_ps(1.09f),
	       x10 = _mm256_set1_ps(1.10f), x11 = _mm256_set1_ps(1.11f);
	float out[8], s = 0.0f;

	for (long i = 0; i < iters; i++) {
		FMA_STEP(_mm256_fmadd_ps, x0);
		FMA_STEP(_mm256_fmadd_ps, x1);
		FMA_STEP(_mm256_fmadd_ps, x2);
		FMA_STEP(_mm256_fmadd_ps, x3);
		FMA_STEP(_mm256_fmadd_ps, x4);
		FMA_STEP(_mm256_fmadd_ps, x5);
		FMA_STEP(_mm256_fmadd_ps, x6);
		FMA_STEP(_mm256_fmadd_ps, x7);
		FMA_STEP(_mm256_fmadd_ps, x8);
		FMA_STEP(_mm256_fmadd_ps, x9);
		FMA_STEP(_mm256_fmadd_ps, x10);
		FMA_STEP(_mm256_fmadd_ps, x11);
	}
	x0 = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
	x4 = _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7));
	x8 = _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11));
	x0 = _mm256_add_ps(x0, _mm256_add_ps(x4, x8));
	_mm256_storeu_ps(out, x0);
	for (int k = 0; k < 8; k++)
		s += out[k];
	return s;
}
#endif /* __x86_64__ */

/* Plain C: 8 independent multiply-add chains (2 FLOP each, whether or not
 * the compiler fuses or vectorises them). */
static float fma_plain(long iters)
{
	const float a = 0.9999999f, b = 1e-7f;
	float x0 = 1.00f, x1 = 1.01f, x2 = 1.02f, x3 = 1.03f;
	float x4 = 1.04f, x5 = 1.05f, x6 = 1.06f, x7 = 1.07f;

	for (long i = 0; i < iters; i++) {
		x0 = x0 * a + b;
		x1 = x1 * a + b;
		x2 = x2 * a + b;
		x3 = x3 * a + b;
		x4 = x4 * a + b;
		x5 = x5 * a + b;
		x6 = x6 * a + b;
		x7 = x7 * a + b;
	}
	return x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}

/* The widest kernel this CPU runs. */
static fma_kernel fma_pick(void)
{
	fma_kernel k = {"plain", fma_plain, 8 * 2.0};
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) {
		k.isa = "avx512f";
		k.fn = fma_avx512;
		k.flop_per_iter = 16 * 16 * 2.0;
	} else if (__builtin_cpu_supports("avx2") &&
	           __builtin_cpu_supports("fma")) {
		k.isa = "avx2+fma";
		k.fn = fma_avx2;
		k.flop_per_iter = 12 * 8 * 2.0;
	}
#endif
	return k;
}

static volatile float fma_sink[MAX_THREADS];

/* Wall seconds for threads threads to run iters iterations each. */
static double fma_time(const fma_kernel *k, int threads, long iters)
{
	double t0 = now_seconds();
	BENCH_OMP(omp parallel num_threads(threads))
	{
		int t = 0;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		float s = k->fn(iters);
		if (t < MAX_THREADS)
			fma_sink[t] = s;
	}
	return now_seconds() - t0;
}

/* The number of iterations one thread runs in about seconds. */
static long fma_calibrate(const fma_kernel *k, double seconds)
{
	long iters = 1000;
	double t;
	while ((t = fma_time(k, 1, iters)) < 0.02 && iters < (1L << 40))
		iters *= 4;
	double want = (double)iters * seconds / (t > 0 ? t : 1e-9);
	return want < 1.0 ? 1 : (long)want;
}

/* ======================================================================== */
/* 1b. The cross-core round trip                                            */

/* Round trips per measurement, and measurements (their median is kept). */
#define RT_ROUNDS 20000
#define RT_RUNS   5

#ifdef __linux__
/* A run stops after this many seconds (a busy machine may keep one of the
 * two threads off its processor for a whole time slice at a time). */
#define RT_MAX_S 0.2
#define RT_STOP  (-3L)

/* Two threads, each pinned to a processor, pass a counter back and forth
 * in one cache line: turn is -2 until the pong side runs, -1 then, odd
 * when pong is to answer, RT_STOP when the ping side is done. */
typedef struct pingpong {
	_Alignas(64) _Atomic long turn;
	int cpu[2]; /* the two processors */
	long rounds;
	double ns; /* the ping side's time per round trip */
} pingpong;

/* Pins the calling thread to processor cpu. */
static void pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The pong side: says it runs (turn -1), then answers every odd turn
 * until RT_STOP or the last round. */
static void *pong(void *arg)
{
	pingpong *p = arg;
	pin_to(p->cpu[1]);
	atomic_store_explicit(&p->turn, -1, memory_order_release);
	for (long i = 0; i < p->rounds; i++) {
		long t;
		while ((t = atomic_load_explicit(
		            &p->turn, memory_order_acquire)) != 2 * i + 1)
			if (t == RT_STOP)
				return NULL;
		atomic_store_explicit(&p->turn, 2 * i + 2,
		                      memory_order_release);
	}
	return NULL;
}

/* The ping side, on the calling thread: waits for pong to run, then
 * times up to p->rounds round trips (fewer after RT_MAX_S), sets p->ns to
 * the time of one (NAN if none was made) and stops pong. */
static void ping(pingpong *p)
{
	while (atomic_load_explicit(&p->turn, memory_order_acquire) != -1)
		;
	double t0 = now_seconds(), t = 0.0;
	long i = 0;
	for (; i < p->rounds; i++) {
		if (i % 256 == 0 && (t = now_seconds() - t0) > RT_MAX_S)
			break;
		atomic_store_explicit(&p->turn, 2 * i + 1,
		                      memory_order_release);
		while (atomic_load_explicit(&p->turn, memory_order_acquire) !=
		       2 * i + 2)
			;
	}
	if (i == p->rounds)
		t = now_seconds() - t0;
	atomic_store_explicit(&p->turn, RT_STOP, memory_order_release);
	p->ns = i ? t * 1e9 / (double)i : NAN;
}

/* The time a cache line takes to go from one core to another and back:
 * the median of RT_RUNS runs of RT_ROUNDS round trips between the calling
 * thread and a new one, pinned to the first two processors this process
 * may use (the caller's affinity is restored after). Every hand-over of
 * the library's pool between two threads costs about this much, and so
 * does every line one core reads that the other wrote; on a virtual
 * machine it changes with where the host puts the two processors, and the
 * 2-thread speed of the small models with it. NAN with fewer than two
 * processors (or off Linux). */
static double round_trip_ns(void)
{
	cpu_set_t mask;
	int cpu[2] = {-1, -1};
	if (sched_getaffinity(0, sizeof mask, &mask) != 0)
		return NAN;
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &mask))
			cpu[k++] = c;
	if (cpu[1] < 0)
		return NAN;
	double ns[RT_RUNS];
	int runs = 0;
	pin_to(cpu[0]);
	for (; runs < RT_RUNS; runs++) {
		static pingpong p;
		pthread_t t;
		p = (pingpong){.cpu = {cpu[0], cpu[1]}, .rounds = RT_ROUNDS};
		atomic_store(&p.turn, -2);
		if (pthread_create(&t, NULL, pong, &p))
			break;
		ping(&p);
		pthread_join(t, NULL);
		if (!isfinite(p.ns))
			break;
		ns[runs] = p.ns;
	}
	(void)sched_setaffinity(0, sizeof mask, &mask);
	if (!runs)
		return NAN;
	return median(ns, runs);
}
#else
static double round_trip_ns(void)
{
	return NAN;
}
#endif

/* ======================================================================== */
/* FLOP counting                                                            */

/* Forward and backward FLOP of layer i for one image (see the file-top
 * comment); 0 for layers without weights. The backward counts what the
 * graph's plan has training compute: the weight gradient unless the layer
 * is frozen, the input gradient when it is wanted (grad_wanted), nothing
 * when the layer's backward does not run. */
static void layer_flop(const cnn_model *m, int i, double *fwd, double *bwd)
{
	const cnn_layer *l = &m->layers[i];
	double f = 0.0;
	if (l->ops == &cnn_layer_conv2d)
		f = 2.0 * l->filters * l->in_shape[0] * l->kernel[0] *
		    l->kernel[1] * l->out_shape[1] * l->out_shape[2];
	else if (l->ops == &cnn_layer_dense)
		f = 2.0 * (double)l->in_size * (double)l->out_size;
	*fwd = f;
	*bwd = 0.0;
	if (!l->backward_needed)
		return;
	*bwd = (l->frozen ? 0.0 : f) +
	       (l->n_inputs > 0 && l->grad_wanted[0] ? f : 0.0);
}

/* Whether model_flop counts m by the rules of the file-top comment: every
 * layer is a conv2d or dense layer, whose products are counted, or one of
 * the kinds whose element-wise work the rules leave out (activations,
 * pooling, bias-like scaling, merges, reshaping). A kind added later is
 * unknown until it is listed here; its FLOP are then reported as n/a. */
static int flop_known(const cnn_model *m)
{
	static const char *const uncounted[] = {
	    "relu",    "leaky_relu", "elu",     "sigmoid",        "tanh",
	    "softmax", "maxpool",    "avgpool", "global_avgpool", "flatten",
	    "dropout", "batchnorm",  "add",     "concat",         NULL};
	for (int i = 0; i < m->n_layers; i++) {
		const cnn_layer_ops *ops = m->layers[i].ops;
		int known = ops == &cnn_layer_conv2d || ops == &cnn_layer_dense;
		for (int k = 0; !known && uncounted[k]; k++)
			known = !strcmp(ops->type, uncounted[k]);
		if (!known)
			return 0;
	}
	return 1;
}

/* Forward and backward FLOP of the whole model for one image. */
static void model_flop(const cnn_model *m, double *fwd, double *bwd)
{
	*fwd = *bwd = 0.0;
	for (int i = 0; i < m->n_layers; i++) {
		double f, b;
		layer_flop(m, i, &f, &b);
		*fwd += f;
		*bwd += b;
	}
}

/* ======================================================================== */
/* The run's context: options, data, the plan                               */

typedef struct bench_plan {
	double fma_seconds;   /* per FMA measurement */
	double layer_seconds; /* at least, per layer measurement */
	int epochs;           /* per reference training run */
	long train_limit;     /* reference runs: 0 = all */
	long test_limit;
	double sweep_flop;    /* the least FLOP of one sweep epoch */
	double sweep_seconds; /* what one sweep epoch should take, at the
	                         speed of the reference epochs */
	int sweep_epochs;
	int zoo_epochs;     /* per zoo model and thread count, per run */
	int zoo_rounds;     /* runs at each thread count, alternated */
	int fma_rounds;     /* of the FMA peak, at the start and after the
	                       zoo */
	double zoo_seconds; /* what one zoo epoch at 1 thread should
	                       take, at the probed speed */
	long zoo_max_train; /* the zoo's cap on samples: 0 = all */
	long zoo_max_test;
	double zoo_probe_seconds; /* at least, per probe measurement */
} bench_plan;

static const bench_plan plan_full = {
    .fma_seconds = 0.2,
    .layer_seconds = 0.05,
    .epochs = 6,
    .sweep_flop = 3e9,
    .sweep_seconds = 1.0,
    .sweep_epochs = 2,
    .zoo_epochs = 3,
    .zoo_rounds = 2,
    .fma_rounds = 3,
    .zoo_seconds = 3.0,
    .zoo_probe_seconds = 0.1,
};
static const bench_plan plan_quick = {
    .fma_seconds = 0.05,
    .layer_seconds = 0.005,
    .epochs = 2,
    .train_limit = 6000,
    .test_limit = 2000,
    .sweep_flop = 0.3e9,
    .sweep_seconds = 0.1,
    .sweep_epochs = 2,
    .zoo_epochs = 2,
    .zoo_rounds = 1,
    .fma_rounds = 1,
    .zoo_seconds = 0.4,
    .zoo_max_train = 2000,
    .zoo_max_test = 1000,
    .zoo_probe_seconds = 0.02,
};

typedef struct bench_ctx {
	const char *model; /* the reference YAML */
	const char *data;  /* --data DIR, or NULL */
	const char *json;  /* --json FILE, or NULL */
	int quick;
	int zoo; /* 0 with --no-zoo */
	bench_plan plan;
	int threads2; /* the "multi-thread" count: 2 */
	size_t n_train_all, n_test_all;
	/* overrides pointing the model at the decompressed files */
	char data_set[4][CNN_PATH_MAX + 64];
} bench_ctx;

static const char *const mnist_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
static const char *const mnist_keys[4] = {
    "data.train.images", "data.train.labels", "data.test.images",
    "data.test.labels"};

/* Formats the override "key='value'" (single-quoted YAML, so any path is a
 * string) into buf; dies if it does not fit. */
static void quoted_override(char *buf, size_t size, const char *key,
                            const char *value)
{
	size_t n = (size_t)snprintf(buf, size, "%s='", key);
	for (const char *p = value; *p && n + 3 < size; p++) {
		if (*p == '\'')
			buf[n++] = '\'';
		buf[n++] = *p;
	}
	if (n + 2 >= size)
		die("path too long: %s", value);
	buf[n++] = '\'';
	buf[n] = '\0';
}

/* Builds the model at ctx->model into *out with the data overrides (the
 * decompressed files when use_tmp_data, else --data's when given) and
 * extra; returns the status, with the reason in err. */
static cnn_status try_build_model(const bench_ctx *ctx, int use_tmp_data,
                                  const char *const *extra, int n_extra,
                                  cnn_model **out, cnn_error *err)
{
	const char *ov[32];
	char data_ov[4][CNN_PATH_MAX + 64];
	int n = 0;

	for (int i = 0; i < 4; i++) {
		if (use_tmp_data) {
			ov[n++] = ctx->data_set[i];
		} else if (ctx->data) {
			char p[CNN_PATH_MAX];
			snprintf(p, sizeof p, "%s/%s.gz", ctx->data,
			         mnist_names[i]);
			quoted_override(data_ov[i], sizeof data_ov[i],
			                mnist_keys[i], p);
			ov[n++] = data_ov[i];
		}
	}
	for (int i = 0; i < n_extra && n < 32; i++)
		ov[n++] = extra[i];
	cnn_err_clear(err);
	return cnn_model_from_yaml(out, ctx->model, ov, n, err);
}

/* try_build_model, dying on error. */
static cnn_model *build_model(const bench_ctx *ctx, int use_tmp_data,
                              const char *const *extra, int n_extra)
{
	cnn_model *m;
	cnn_error err;
	if (try_build_model(ctx, use_tmp_data, extra, n_extra, &m, &err) !=
	    CNN_OK)
		die_err("the model", &err);
	return m;
}

/* Reads the four MNIST files named by the reference model (gzip or not),
 * writes them uncompressed into the temporary folder, points
 * ctx->data_set at them and loads them to count the samples. The training
 * set is left in *train (the layer benchmark takes its first batch). Dies
 * with one line when the data is missing or damaged. */
static void prepare_data(bench_ctx *ctx, const cnn_model *ref,
                         cnn_dataset **train)
{
	const char *src[4] = {ref->spec.train.images, ref->spec.train.labels,
	                      ref->spec.test.images, ref->spec.test.labels};
	cnn_error err;

	if (!ref->spec.train.present || !ref->spec.test.present ||
	    strcmp(ref->spec.train.format, "idx") ||
	    strcmp(ref->spec.test.format, "idx"))
		die("%s: the benchmark needs IDX training and test data",
		    ctx->model);
	const char *tmp = getenv("TMPDIR");
	snprintf(tmp_dir, sizeof tmp_dir, "%s/cnnbench.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = '\0';
		die("cannot create a temporary folder in %s",
		    tmp && *tmp ? tmp : "/tmp");
	}
	snprintf(tmp_ckpt, sizeof tmp_ckpt, "%s/bench.ckpt.gz", tmp_dir);
	for (int i = 0; i < 4; i++) {
		uint8_t *buf;
		size_t len;
		cnn_err_clear(&err);
		if (cnn_read_file(src[i], (size_t)1 << 30, &buf, &len, &err) !=
		    CNN_OK)
			die_err("cannot read the MNIST data (give its folder "
			        "with --data DIR)",
			        &err);
		snprintf(tmp_files[i], sizeof tmp_files[i], "%s/%s", tmp_dir,
		         mnist_names[i]);
		FILE *f = fopen(tmp_files[i], "wb");
		int ok = f && fwrite(buf, 1, len, f) == len;
		if (f && fclose(f) != 0)
			ok = 0;
		free(buf);
		if (!ok)
			die("cannot write %s", tmp_files[i]);
		quoted_override(ctx->data_set[i], sizeof ctx->data_set[i],
		                mnist_keys[i], tmp_files[i]);
	}

	cnn_data_source s;
	cnn_dataset *test;
	memset(&s, 0, sizeof s);
	s.format = "idx";
	memcpy(s.shape, ref->spec.input, sizeof s.shape);
	s.classes = ref->classes;
	s.images = tmp_files[2];
	s.labels = tmp_files[3];
	cnn_err_clear(&err);
	if (cnn_dataset_load(&test, &s, &err) != CNN_OK)
		die_err("the MNIST test set", &err);
	ctx->n_test_all = test->n;
	cnn_dataset_free(test);
	s.images = tmp_files[0];
	s.labels = tmp_files[1];
	cnn_err_clear(&err);
	if (cnn_dataset_load(train, &s, &err) != CNN_OK)
		die_err("the MNIST training set", &err);
	ctx->n_train_all = (*train)->n;
}

/* ======================================================================== */
/* 2. Layers                                                                */

typedef struct layer_result {
	const char *name, *type;
	int out[3];
	double fwd_flop, bwd_flop; /* per batch */
	double fwd_s[2], bwd_s[2]; /* per batch at 1 and threads2 threads;
	                              < 0: not run in training (a fused
	                              layer's passes, a backward not needed) */
} layer_result;

typedef struct layers_result {
	int batch, chunks, chunk_size, n;
	layer_result *rows;
	double grad_s[2];  /* cnn_graph_gradient per batch */
	double optim_s[2]; /* cnn_optim_step per batch */
} layers_result;

/* One timed job: a layer's pass over every chunk of the batch, the whole
 * gradient step, or the optimiser step. */
typedef struct job {
	cnn_model *m;
	int kind; /* 0 forward, 1 backward, 2 gradient, 3 optimiser */
	int layer, n, threads;
} job;

/* The layer pass of job ctx on chunks [lo, hi). */
static void job_chunks(void *ctx, long lo, long hi)
{
	const job *j = ctx;
	cnn_model *m = j->m;
	int count, size;

	cnn_chunk_plan(j->n, &count, &size);
	for (long c = lo; c < hi; c++) {
		int s0 = (int)c * size, k = j->n - s0 < size ? j->n - s0 : size;
		if (j->kind == 1)
			cnn_graph_layer_backward(m, &m->chunks[c], j->layer,
			                         (size_t)s0, k);
		else
			cnn_graph_layer_forward(m, &m->chunks[c], j->layer,
			                        (size_t)s0, k);
	}
}

/* Runs the job once. The layer passes cut the batch like the trainer
 * (cnn_chunk_plan) and run the chunks in parallel in the library's own
 * thread pool, as training does (the benchmark's OpenMP threads, asleep
 * under OMP_WAIT_POLICY=passive, made every 2-thread figure a wake-up:
 * 0.024 ms for a relu of 0.003), each with its own layer copies and
 * workspace, through the graph's own one-layer passes: a layer
 * reads the activations it runs on (run_in: past a fused relu or a
 * left-out flatten, every input of a merge layer) and makes its input
 * gradients only where they are wanted. Repeating a pass recomputes the
 * same outputs from the same inputs (only the parameter gradients, and
 * input gradients that a merge adds to another's, accumulate). */
static void job_run(const job *j)
{
	cnn_model *m = j->m;
	int count, size;

	if (j->kind == 2) {
		size_t correct = 0;
		cnn_graph_gradient(m, j->n, &correct);
		return;
	}
	if (j->kind == 3) {
		cnn_optim_step(m);
		return;
	}
	cnn_chunk_plan(j->n, &count, &size);
	cnn_pool_run(count, 1, job_chunks, (void *)j);
}

/* Seconds per run of the job: one warm-up run, then as many as fit in
 * min_s (at least one). */
static double job_time(const job *j, double min_s)
{
	long reps = 0;
	double t;
	set_threads(j->threads);
	job_run(j);
	double t0 = now_seconds();
	do {
		job_run(j);
		reps++;
		t = now_seconds() - t0;
	} while (t < min_s);
	return t / (double)reps;
}

/* Times every layer of m, forward and backward, on one batch of the
 * training set's first images, and the whole gradient and optimiser steps,
 * at 1 and ctx->threads2 threads. */
static void bench_layers(const bench_ctx *ctx, cnn_model *m,
                         const cnn_dataset *train, layers_result *r)
{
	const int n = m->spec.batch_size < (int)train->n ? m->spec.batch_size
	                                                 : (int)train->n;
	const int th[2] = {1, ctx->threads2};
	const float scale = (float)m->spec.train.scale;
	cnn_error err;

	cnn_err_clear(&err);
	if (cnn_graph_reserve(m, n, &err) != CNN_OK)
		die_err("the layer benchmark", &err);
	for (size_t j = 0; j < (size_t)n * train->sample_size; j++)
		m->act[0][j] = (float)train->pixels[j] * scale;
	memcpy(m->labels, train->labels, (size_t)n);
	/* fills every activation and every activation gradient */
	set_threads(1);
	size_t correct = 0;
	cnn_graph_gradient(m, n, &correct);

	memset(r, 0, sizeof *r);
	r->batch = n;
	cnn_chunk_plan(n, &r->chunks, &r->chunk_size);
	r->n = m->n_layers;
	r->rows = calloc((size_t)m->n_layers, sizeof *r->rows);
	if (!r->rows)
		die("out of memory");
	for (int i = 0; i < m->n_layers; i++) {
		layer_result *lr = &r->rows[i];
		const cnn_layer *l = &m->layers[i];
		double f, b;
		layer_flop(m, i, &f, &b);
		lr->name = l->name;
		lr->type = l->ops->type;
		memcpy(lr->out, l->out_shape, sizeof lr->out);
		lr->fwd_flop = f * n;
		lr->bwd_flop = b * n;
		for (int t = 0; t < 2; t++) {
			job j = {m, 0, i, n, th[t]};
			lr->fwd_s[t] =
			    l->fused_away
			        ? -1.0
			        : job_time(&j, ctx->plan.layer_seconds);
			/* the softmax's backward is fused into the loss */
			j.kind = 1;
			lr->bwd_s[t] =
			    i < m->n_layers - 1 && l->backward_needed &&
			            !l->fused_away
			        ? job_time(&j, ctx->plan.layer_seconds)
			        : -1.0;
		}
	}
	for (int t = 0; t < 2; t++) {
		job j = {m, 2, 0, n, th[t]};
		r->grad_s[t] = job_time(&j, 2 * ctx->plan.layer_seconds);
		j.kind = 3;
		r->optim_s[t] = job_time(&j, ctx->plan.layer_seconds);
	}
}

/* ======================================================================== */
/* 3 and 4. Training runs                                                   */

typedef struct train_result {
	int threads, epochs;
	int filters, units; /* of the first conv and dense layers */
	long n_train, n_eval;
	double fwd_img, bwd_img; /* FLOP per image */
	double flop_epoch;
	double seconds[MAX_EPOCHS];
	double accuracy[MAX_EPOCHS];
	double best_s, median_s, worst_s; /* over the epochs after the first
	                                     (all when there is only one) */
	float *params; /* the weights after training (malloc'ed) */
	size_t n_params;
} train_result;

/* r's best, median and worst epoch from the n epoch times v. */
static void epoch_stats(train_result *r, const double *v, int n)
{
	r->best_s = min_of(v, n);
	r->median_s = median(v, n);
	r->worst_s = max_of(v, n);
}

/* on_epoch callback: records the epoch's seconds and test accuracy. */
static int on_epoch(const cnn_epoch_metrics *e, void *user)
{
	train_result *r = user;
	if (r->epochs < MAX_EPOCHS) {
		r->seconds[r->epochs] = e->seconds;
		r->accuracy[r->epochs] = e->test_accuracy;
		r->epochs++;
	}
	return 0;
}

/* Trains the model with the overrides extra for epochs epochs at threads
 * threads, on the first train_limit / test_limit samples (0: all), and
 * fills r. Dies on error. */
static void train_run(const bench_ctx *ctx, const char *const *extra,
                      int n_extra, int threads, int epochs, long train_limit,
                      long test_limit, train_result *r)
{
	char ov[8][96];
	const char *all[24];
	int n = 0;
	cnn_error err;

	snprintf(ov[n], sizeof ov[n], "training.epochs=%d", epochs);
	all[n] = ov[n], n++;
	snprintf(ov[n], sizeof ov[n], "checkpoint.every=%d", epochs);
	all[n] = ov[n], n++;
	if (train_limit > 0) {
		snprintf(ov[n], sizeof ov[n], "data.train.limit=%ld",
		         train_limit);
		all[n] = ov[n], n++;
	}
	if (test_limit > 0) {
		snprintf(ov[n], sizeof ov[n], "data.test.limit=%ld",
		         test_limit);
		all[n] = ov[n], n++;
	}
	for (int i = 0; i < n_extra && n < 24; i++)
		all[n++] = extra[i];
	cnn_model *m = build_model(ctx, 1, all, n);

	memset(r, 0, sizeof *r);
	r->threads = threads;
	for (int i = 0; i < m->n_layers; i++) {
		if (!r->filters && m->layers[i].ops == &cnn_layer_conv2d)
			r->filters = m->layers[i].filters;
		if (!r->units && m->layers[i].ops == &cnn_layer_dense)
			r->units = m->layers[i].units;
	}
	/* the samples an epoch trains on and evaluates, as train.c counts */
	long nt = (long)ctx->n_train_all, ne = (long)ctx->n_test_all, nv = 0;
	if (train_limit > 0 && train_limit < nt)
		nt = train_limit;
	if (test_limit > 0 && test_limit < ne)
		ne = test_limit;
	if (m->spec.validation >= 1.0)
		nv = (long)m->spec.validation;
	else if (m->spec.validation > 0.0)
		nv = (long)llround(m->spec.validation * (double)nt);
	r->n_train = nt - nv;
	r->n_eval = ne + nv;
	model_flop(m, &r->fwd_img, &r->bwd_img);
	r->flop_epoch = (double)r->n_train * (r->fwd_img + r->bwd_img) +
	                (double)r->n_eval * r->fwd_img;

	cnn_train_options o = {.checkpoint = tmp_ckpt,
	                       .threads = threads,
	                       .on_epoch = on_epoch,
	                       .user = r};
	cnn_err_clear(&err);
	if (cnn_model_train(m, &o, &err) != CNN_OK)
		die_err("training", &err);
	unlink(tmp_ckpt);
	if (r->epochs < 1)
		die("training ran no epoch");
	int k = r->epochs > 1 ? 1 : 0;
	epoch_stats(r, r->seconds + k, r->epochs - k);
	r->n_params = m->n_params;
	r->params = malloc((m->n_params ? m->n_params : 1) * sizeof(float));
	if (!r->params)
		die("out of memory");
	memcpy(r->params, m->params, m->n_params * sizeof(float));
	cnn_model_free(m);
}

/* The sweep's configurations: the reference, then wider convolutions, then
 * wider dense layers. */
static const int sweep_filters[N_SWEEP] = {2, 8, 32, 2, 2};
static const int sweep_units[N_SWEEP] = {60, 60, 60, 128, 512};

/* Trains each width for ctx->plan.sweep_epochs epochs at threads2 threads
 * on as many samples as the FLOP budget of an epoch allows (4/5 of it for
 * training, 1/5 for evaluation; at least 1024 and 500 samples). The budget
 * is what plan.sweep_seconds buys at gflops (the reference's speed), and at
 * least plan.sweep_flop, so that the sweep's length does not depend much on
 * the library's speed. *done counts the widths run; none when the model
 * has no conv2d layer 0 and dense layer 4 to widen (--model), and skip
 * then says why. */
static void bench_sweep(const bench_ctx *ctx, double gflops, train_result *r,
                        int *done, char *skip, size_t skip_size)
{
	double b = ctx->plan.sweep_seconds * gflops * 1e9;
	if (!(b > ctx->plan.sweep_flop))
		b = ctx->plan.sweep_flop;

	for (int i = 0; i < N_SWEEP; i++) {
		char f[64], u[64];
		snprintf(f, sizeof f, "layers.0.filters=%d", sweep_filters[i]);
		snprintf(u, sizeof u, "layers.4.units=%d", sweep_units[i]);
		const char *ov[2] = {f, u};
		cnn_model *m;
		cnn_error err;
		if (try_build_model(ctx, 1, ov, 2, &m, &err) != CNN_OK) {
			/* not shaped like the reference (--model) */
			snprintf(skip, skip_size, "%s: %s", err.path,
			         err.message);
			return;
		}
		double fw, bw;
		model_flop(m, &fw, &bw);
		cnn_model_free(m);

		long nt = (long)(0.8 * b / (fw + bw > 0 ? fw + bw : 1));
		long ne = (long)(0.2 * b / (fw > 0 ? fw : 1));
		nt = (nt + 127) / 128 * 128;
		if (nt < 1024)
			nt = 1024;
		if (nt > (long)ctx->n_train_all)
			nt = (long)ctx->n_train_all;
		if (ne < 500)
			ne = 500;
		if (ne > (long)ctx->n_test_all)
			ne = (long)ctx->n_test_all;
		train_run(ctx, ov, 2, ctx->threads2, ctx->plan.sweep_epochs, nt,
		          ne, &r[i]);
		/* the best epoch: the first one pays for warming up */
		r[i].best_s = min_of(r[i].seconds, r[i].epochs);
		*done = i + 1;
	}
}

/* ======================================================================== */
/* 5. The model zoo                                                         */

#define ZOO_PROBE_MAX 256 /* images kept for the zoo's speed probes */

/* The first images of the training set, kept for the probes after the
 * set itself is freed. */
typedef struct probe_batch {
	int n;
	size_t sample_size;
	uint8_t *pixels; /* n * sample_size */
	uint8_t labels[ZOO_PROBE_MAX];
} probe_batch;

/* One model of the zoo and its runs at 1 and threads2 threads. */
typedef struct zoo_result {
	char name[CNN_NAME_MAX]; /* the file's name without ".yaml" */
	char path[CNN_PATH_MAX]; /* the YAML file */
	char skipped[512];       /* why it was not measured; "" if it was */
	char extra[96];          /* an override beyond epochs and limits */
	size_t params;           /* trainable floats */
	double fwd_img;          /* forward FLOP per image, NAN: unknown */
	double probe_train_s;    /* seconds per training image at 1 thread */
	double probe_eval_s;     /* seconds per evaluated image at 1 thread */
	long train_limit, test_limit; /* the overrides given; 0: all */
	train_result run[2];
	double speedup;
	int identical;
	double round_trip_ns; /* measured just before the runs */
} zoo_result;

/* Whether two runs ended with the same bytes in every tensor (the whole
 * arena: weights, biases and layer state). */
static int same_weights(const train_result *a, const train_result *b)
{
	return a->n_params == b->n_params &&
	       !memcmp(a->params, b->params, a->n_params * sizeof(float));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The zoo: every *.yaml in dir but the reference (the same file: device
 * and inode),
 * sorted by name, as a malloc'ed array of *n results with name and path
 * set. An unreadable folder gives none. */
static zoo_result *zoo_list(const bench_ctx *ctx, const char *dir, int *n)
{
	char p[CNN_PATH_MAX + 256];
	struct stat ref, st;
	char **names = NULL;
	int count = 0, cap = 0;
	zoo_result *z = NULL;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return NULL;
	int have_ref = stat(ctx->model, &ref) == 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".yaml") ||
		    len - 5 >= CNN_NAME_MAX)
			continue;
		if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >=
		    (int)sizeof p)
			continue;
		if (have_ref && stat(p, &st) == 0 && st.st_dev == ref.st_dev &&
		    st.st_ino == ref.st_ino)
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 8;
			char **g = realloc(names, (size_t)cap * sizeof *g);
			if (!g)
				die("out of memory");
			names = g;
		}
		if (!(names[count] = strdup(e->d_name)))
			die("out of memory");
		count++;
	}
	closedir(d);
	if (count) {
		qsort(names, (size_t)count, sizeof *names, cmp_str);
		z = calloc((size_t)count, sizeof *z);
		if (!z)
			die("out of memory");
	}
	for (int i = 0; i < count; i++) {
		size_t len = strlen(names[i]) - 5;
		memcpy(z[i].name, names[i], len);
		z[i].name[len] = '\0';
		if (snprintf(z[i].path, sizeof z[i].path, "%s/%s", dir,
		             names[i]) >= (int)sizeof z[i].path)
			die("path too long: %s/%s", dir, names[i]);
		free(names[i]);
	}
	free(names);
	*n = count;
	return z;
}

/* Seconds per training image (gradient and optimiser steps) and per
 * evaluated image (forward in evaluation mode) of m at 1 thread, on one
 * batch of the probe images (a warm-up step first, then repeats for at
 * least min_s each). m's weights change; it is only a probe. */
static void zoo_probe(cnn_model *m, const probe_batch *pb, double min_s,
                      double *train_s, double *eval_s)
{
	int n = m->spec.batch_size < pb->n ? m->spec.batch_size : pb->n;
	const float scale = (float)m->spec.train.scale;
	cnn_error err;

	cnn_err_clear(&err);
	if (cnn_graph_reserve(m, n, &err) != CNN_OK)
		die_err("the zoo's probe", &err);
	set_threads(1);
	for (int pass = 0; pass < 2; pass++) {
		long reps = -1; /* the first run warms up */
		double t0 = 0.0, t = 0.0;
		do {
			for (size_t j = 0; j < (size_t)n * pb->sample_size; j++)
				m->act[0][j] = (float)pb->pixels[j] * scale;
			memcpy(m->labels, pb->labels, (size_t)n);
			if (pass == 0) {
				size_t correct = 0;
				cnn_graph_gradient(m, n, &correct);
				cnn_optim_step(m);
			} else {
				cnn_graph_forward(m, n);
			}
			if (++reps == 0)
				t0 = now_seconds();
			else
				t = now_seconds() - t0;
		} while (reps < 2 || t < min_s);
		*(pass ? eval_s : train_s) = t / (double)reps / (double)n;
	}
}

/* Rounds n down to a multiple of unit, at least unit. */
static long round_down(long n, long unit)
{
	return n < unit ? unit : n / unit * unit;
}

/* The samples a zoo epoch trains on and evaluates (*nt, *ne; 0: all):
 * all of them (up to the plan's caps) when an epoch at 1 thread takes at
 * most plan.zoo_seconds at the probed speed, else as many training images
 * as fit (a multiple of 1000, at least 1000) with test images in the same
 * proportion (a multiple of 500, at least 500). */
static void zoo_limits(const bench_ctx *ctx, const zoo_result *z, long *nt,
                       long *ne)
{
	long all_t = (long)ctx->n_train_all, all_e = (long)ctx->n_test_all;
	long max_t = ctx->plan.zoo_max_train, max_e = ctx->plan.zoo_max_test;
	if (max_t <= 0 || max_t > all_t)
		max_t = all_t;
	if (max_e <= 0 || max_e > all_e)
		max_e = all_e;
	double budget = ctx->plan.zoo_seconds;
	if ((double)max_t * z->probe_train_s +
	        (double)max_e * z->probe_eval_s <=
	    budget) {
		*nt = max_t < all_t ? max_t : 0;
		*ne = max_e < all_e ? max_e : 0;
		return;
	}
	double frac = (double)max_e / (double)max_t;
	double per = z->probe_train_s + frac * z->probe_eval_s;
	double want = per > 0 ? budget / per : (double)max_t;
	long t = round_down(want < (double)max_t ? (long)want : max_t, 1000);
	long e = round_down((long)((double)t * frac), 500);
	*nt = t < all_t ? t : 0;
	*ne = e < all_e ? e : 0;
}

/* Adds run r, round k of a zoo model at one thread count, into *all:
 * round 0 is taken whole; a later round appends its epochs, and the best,
 * median and worst are taken again over the epochs after the first of
 * every run. r's weights stay with round 0's. */
static void zoo_pool(train_result *all, const train_result *r, int k)
{
	double after[MAX_EPOCHS];
	int n = 0;

	if (k == 0) {
		*all = *r;
		return;
	}
	for (int e = 0; e < r->epochs && all->epochs < MAX_EPOCHS; e++) {
		all->seconds[all->epochs] = r->seconds[e];
		all->accuracy[all->epochs++] = r->accuracy[e];
	}
	/* each run's first epoch pays for warming up */
	for (int e = 0; e < all->epochs; e++)
		if (e % r->epochs || r->epochs == 1)
			after[n++] = all->seconds[e];
	epoch_stats(all, after, n);
}

/* Measures one zoo model: builds it with the decompressed data (a model
 * that does not build, or whose input is not the reference's, is skipped
 * with the reason), counts its trainable parameters and FLOP, probes its
 * speed, picks the data (zoo_limits) and trains it for plan.zoo_epochs at
 * 1 and threads2 threads, plan.zoo_rounds times each, alternated (1 then 2
 * threads, then 2 then 1, ...: the machine's speed drifts over minutes,
 * and a slow spell should not fall on one thread count only); the weights
 * of every run are compared with the first's. */
static void zoo_run(const bench_ctx *ctx, const cnn_model *ref,
                    const probe_batch *pb, zoo_result *z)
{
	bench_ctx zc = *ctx;
	cnn_model *m;
	cnn_error err;
	char buf[1400];
	const int epochs = ctx->plan.zoo_epochs;

	zc.model = z->path;
	if (try_build_model(&zc, 1, NULL, 0, &m, &err) != CNN_OK) {
		snprintf(z->skipped, sizeof z->skipped,
		         "it does not build on MNIST's files (%s)",
		         cnn_error_string(&err, buf, sizeof buf));
		return;
	}
	if (memcmp(m->spec.input, ref->spec.input, sizeof m->spec.input) ||
	    m->classes != ref->classes) {
		snprintf(z->skipped, sizeof z->skipped,
		         "its input %dx%dx%d or %d classes are not those of "
		         "the reference's data",
		         m->spec.input[0], m->spec.input[1], m->spec.input[2],
		         m->classes);
		cnn_model_free(m);
		return;
	}
	for (int i = 0; i < cnn_model_tensor_count(m); i++) {
		cnn_tensor_info t;
		if (cnn_model_tensor(m, i, &t) == CNN_OK && t.trainable)
			z->params += t.size;
	}
	double bwd;
	model_flop(m, &z->fwd_img, &bwd);
	if (!flop_known(m))
		z->fwd_img = NAN;
	/* a warm-up must end before the last epoch */
	if (m->spec.schedule == CNN_SCHED_COSINE &&
	    m->spec.warmup_epochs >= (double)epochs)
		snprintf(z->extra, sizeof z->extra,
		         "optimizer.schedule.warmup_epochs=%d", epochs - 1);
	zoo_probe(m, pb, ctx->plan.zoo_probe_seconds, &z->probe_train_s,
	          &z->probe_eval_s);
	cnn_model_free(m);

	zoo_limits(ctx, z, &z->train_limit, &z->test_limit);
	z->round_trip_ns = round_trip_ns();
	const char *ov[1] = {z->extra};
	z->identical = 1;
	for (int k = 0; k < ctx->plan.zoo_rounds; k++)
		for (int j = 0; j < 2; j++) {
			int t = k % 2 ? 1 - j : j; /* 1T 2T, then 2T 1T */
			train_result r;
			train_run(&zc, ov, z->extra[0] ? 1 : 0,
			          t ? ctx->threads2 : 1, epochs, z->train_limit,
			          z->test_limit, &r);
			zoo_pool(&z->run[t], &r, k);
			if (k || j)
				z->identical &= same_weights(&z->run[0], &r);
			if (k)
				free(r.params);
		}
	for (int t = 0; t < 2; t++) {
		train_result *r = &z->run[t];
		if (!isfinite(z->fwd_img))
			r->fwd_img = r->bwd_img = r->flop_epoch = NAN;
	}
	z->speedup = ratio(z->run[0].median_s, z->run[1].median_s);
}

/* ======================================================================== */
/* Output                                                                   */

typedef struct fma_result {
	int threads;
	double gflops; /* the best of the rounds: noise only lowers it */
	double worst;
	int rounds;
} fma_result;

typedef struct report {
	fma_kernel fma_k; /* the peak's kernel and its iterations a run */
	long fma_iters;
	int wide_cost; /* cnn_kernels_wide_cost, 0 off the avx512 variant */
	int n_fma;
	fma_result fma[N_FMA];
	layers_result layers;
	train_result train[2]; /* 1 and threads2 threads */
	double speedup;
	int identical;
	train_result sweep[N_SWEEP];
	int n_sweep;          /* 0: the model has no widths to sweep */
	char sweep_skip[700]; /* then why */
	char zoo_dir[CNN_PATH_MAX];
	zoo_result *zoo; /* n_zoo models, sorted by name */
	int n_zoo;
	double zoo_s;            /* the zoo's wall time */
	double round_trip_ns[2]; /* at the start and after the zoo */
	double rss_mib;
	double total_s;
} report;

/* The FMA peak measured at threads threads (the nearest count measured
 * below it when that one was not). */
static double peak_for(const report *rp, int threads)
{
	double p = NAN;
	for (int i = 0; i < rp->n_fma; i++)
		if (rp->fma[i].threads <= threads)
			p = rp->fma[i].gflops;
	return p;
}

/* Prints x with the format, or "-" right-aligned in width when x is not a
 * finite number. */
static void put_num(FILE *f, const char *fmt, int width, double x)
{
	if (isfinite(x))
		fprintf(f, fmt, width, x);
	else
		fprintf(f, "%*s", width, "-");
}

static void print_layers(const report *rp, int t2)
{
	const layers_result *r = &rp->layers;
	double sum[2][2] = {{0, 0}, {0, 0}}, fl[2] = {0, 0};

	printf("\nLayers: one batch of %d = %d chunks of %d, ms per batch "
	       "(GFLOP/s)\n",
	       r->batch, r->chunks, r->chunk_size);
	printf("  %-10s %-8s %-10s %9s %9s %8s %7s %8s %7s %8s %8s\n", "layer",
	       "type", "output", "fwd MFLOP", "bwd MFLOP", "fwd 1T", "GF/s",
	       "bwd 1T", "GF/s", "fwd 2T", "bwd 2T");
	for (int i = 0; i < r->n; i++) {
		const layer_result *l = &r->rows[i];
		char shape[32];
		snprintf(shape, sizeof shape, "%dx%dx%d", l->out[0], l->out[1],
		         l->out[2]);
		printf("  %-10s %-8s %-10s", l->name, l->type, shape);
		put_num(stdout, " %*.3f", 9,
		        l->fwd_flop > 0 ? l->fwd_flop * 1e-6 : NAN);
		put_num(stdout, " %*.3f", 9,
		        l->bwd_flop > 0 ? l->bwd_flop * 1e-6 : NAN);
		put_num(stdout, " %*.3f", 8,
		        l->fwd_s[0] >= 0 ? l->fwd_s[0] * 1e3 : NAN);
		put_num(stdout, " %*.2f", 7,
		        l->fwd_flop > 0 ? ratio(l->fwd_flop * 1e-9, l->fwd_s[0])
		                        : NAN);
		put_num(stdout, " %*.3f", 8,
		        l->bwd_s[0] >= 0 ? l->bwd_s[0] * 1e3 : NAN);
		put_num(stdout, " %*.2f", 7,
		        l->bwd_flop > 0 ? ratio(l->bwd_flop * 1e-9, l->bwd_s[0])
		                        : NAN);
		put_num(stdout, " %*.3f", 8,
		        l->fwd_s[1] >= 0 ? l->fwd_s[1] * 1e3 : NAN);
		put_num(stdout, " %*.3f", 8,
		        l->bwd_s[1] >= 0 ? l->bwd_s[1] * 1e3 : NAN);
		printf("\n");
		for (int t = 0; t < 2; t++) {
			sum[t][0] += l->fwd_s[t] > 0 ? l->fwd_s[t] : 0.0;
			sum[t][1] += l->bwd_s[t] > 0 ? l->bwd_s[t] : 0.0;
		}
		fl[0] += l->fwd_flop;
		fl[1] += l->bwd_flop;
	}
	printf("  %-10s %-8s %-10s %9.3f %9.3f %8.3f %7.2f %8.3f %7.2f %8.3f "
	       "%8.3f\n",
	       "all layers", "", "", fl[0] * 1e-6, fl[1] * 1e-6,
	       sum[0][0] * 1e3, ratio(fl[0] * 1e-9, sum[0][0]), sum[0][1] * 1e3,
	       ratio(fl[1] * 1e-9, sum[0][1]), sum[1][0] * 1e3,
	       sum[1][1] * 1e3);
	printf("  gradient step (forward, loss, backward, sum of chunks): "
	       "%.3f ms at 1 thread, %.3f ms at %d (%.2f GFLOP/s)\n",
	       r->grad_s[0] * 1e3, r->grad_s[1] * 1e3, t2,
	       ratio((fl[0] + fl[1]) * 1e-9, r->grad_s[1]));
	printf("  optimiser step: %.3f ms at 1 thread, %.3f ms at %d\n",
	       r->optim_s[0] * 1e3, r->optim_s[1] * 1e3, t2);
}

static void print_train(const report *rp, const char *model)
{
	const train_result *a = &rp->train[0];
	printf("\nEpochs of %s: %ld training + %ld evaluated images, "
	       "%.3f GFLOP per epoch\n",
	       model, a->n_train, a->n_eval, a->flop_epoch * 1e-9);
	printf("  (per image: forward %.0f FLOP, backward %.0f FLOP; an "
	       "epoch's time includes the evaluation)\n",
	       a->fwd_img, a->bwd_img);
	printf("  %7s %6s %8s %8s %9s %8s %7s %8s  %s\n", "threads", "epochs",
	       "best s", "median s", "train i/s", "GFLOP/s", "% peak",
	       "test acc", "seconds per epoch");
	for (int t = 0; t < 2; t++) {
		const train_result *r = &rp->train[t];
		double gf = ratio(r->flop_epoch * 1e-9, r->median_s);
		printf("  %7d %6d %8.3f %8.3f %9.0f %8.3f", r->threads,
		       r->epochs, r->best_s, r->median_s,
		       ratio((double)r->n_train, r->median_s), gf);
		put_num(stdout, " %*.2f", 7,
		        100.0 * gf / peak_for(rp, r->threads));
		printf(" %7.2f%%  ", 100.0 * r->accuracy[r->epochs - 1]);
		for (int e = 0; e < r->epochs; e++)
			printf("%s%.3f", e ? " " : "", r->seconds[e]);
		printf("\n");
	}
	printf("  speed-up %d threads over 1 (median s/epoch): %.3f\n",
	       rp->train[1].threads, rp->speedup);
	printf("  weights bit-identical between 1 and %d threads: %s\n",
	       rp->train[1].threads, rp->identical ? "yes" : "no");
}

static void print_sweep(const report *rp)
{
	if (!rp->n_sweep) {
		printf("\nWidth sweep: skipped, as layers 0 and 4 of the model "
		       "are not a conv2d and a dense layer to widen (%s)\n",
		       rp->sweep_skip);
		return;
	}
	printf("\nWidth sweep at %d threads (FLOP budget per epoch, best of "
	       "%d epochs):\n",
	       rp->sweep[0].threads, rp->sweep[0].epochs);
	printf("  %7s %5s %7s %6s %9s %9s %8s %8s %7s\n", "filters", "units",
	       "train", "eval", "kFLOP/img", "GFLOP/ep", "s/epoch", "GFLOP/s",
	       "% peak");
	for (int i = 0; i < rp->n_sweep; i++) {
		const train_result *r = &rp->sweep[i];
		double gf = ratio(r->flop_epoch * 1e-9, r->best_s);
		printf("  %7d %5d %7ld %6ld %9.1f %9.3f %8.3f %8.3f",
		       r->filters, r->units, r->n_train, r->n_eval,
		       (r->fwd_img + r->bwd_img) * 1e-3, r->flop_epoch * 1e-9,
		       r->best_s, gf);
		put_num(stdout, " %*.2f", 7,
		        100.0 * gf / peak_for(rp, r->threads));
		printf("\n");
	}
}

/* Prints the limit as a count of samples, all being its meaning for 0. */
static void put_limit(long limit, long all)
{
	printf(" %7ld", limit > 0 ? limit : all);
}

static void print_zoo(const report *rp, const bench_ctx *ctx)
{
	const bench_plan *pl = &ctx->plan;
	const int t2 = ctx->threads2;

	char epochs[32];
	if (pl->zoo_epochs > 2)
		snprintf(epochs, sizeof epochs, "epochs 2-%d", pl->zoo_epochs);
	else
		snprintf(epochs, sizeof epochs, "epoch %d", pl->zoo_epochs);
	printf("\nModel zoo: the other models in %s, %d epochs each at 1 and "
	       "%d threads,\n  %d run%s at each%s\n",
	       rp->zoo_dir, pl->zoo_epochs, t2, pl->zoo_rounds,
	       pl->zoo_rounds > 1 ? "s" : "",
	       pl->zoo_rounds > 1 ? ", alternated" : "");
	if (pl->zoo_max_train > 0)
		printf("  (data: the first %ld training and %ld test images",
		       pl->zoo_max_train, pl->zoo_max_test);
	else
		printf("  (data: all of MNIST");
	printf(", or fewer in the same proportion when an epoch at 1 thread "
	       "would\n"
	       "  take more than %.1f s at the speed of a short probe; "
	       "s/epoch: median of %s of every run;\n"
	       "  2T range: min-max of the same epochs; FLOP: conv and dense "
	       "products only; GFLOP/s and %% of\n"
	       "  the FMA peak at %d threads; test accuracy after the last "
	       "epoch at %d threads)\n",
	       pl->zoo_seconds, epochs, t2, t2);
	for (int i = 0; i < rp->n_fma; i++)
		if (rp->fma[i].threads == t2)
			printf("  (the FMA peak at %d threads, the best of %d "
			       "rounds before and after the zoo: %.2f GFLOP/s; "
			       "the worst %.2f)\n",
			       t2, rp->fma[i].rounds, rp->fma[i].gflops,
			       rp->fma[i].worst);
	if (isfinite(rp->round_trip_ns[0]) && isfinite(rp->round_trip_ns[1]))
		printf("  (xcore ns: the cross-core round trip just before the "
		       "model's runs; %.0f ns at the\n  start of the bench, "
		       "%.0f after the zoo)\n",
		       rp->round_trip_ns[0], rp->round_trip_ns[1]);
	if (!rp->n_zoo) {
		printf("  no model found\n");
		return;
	}
	printf("  %-14s %8s %9s %7s %7s %7s %7s %11s %8s %8s %8s %7s %6s "
	       "%8s %9s %8s\n",
	       "model", "params", "kFLOP/img", "train", "test", "s/ep 1T",
	       "s/ep 2T", "2T range", "speed-up", "img/s 1T", "img/s 2T",
	       "GFLOP/s", "% peak", "test acc", "identical", "xcore ns");
	for (int i = 0; i < rp->n_zoo; i++) {
		const zoo_result *z = &rp->zoo[i];
		if (z->skipped[0]) {
			printf("  %-14s skipped: %s\n", z->name, z->skipped);
			continue;
		}
		const train_result *a = &z->run[0], *b = &z->run[1];
		printf("  %-14s %8zu", z->name, z->params);
		if (isfinite(z->fwd_img))
			printf(" %9.1f", z->fwd_img * 1e-3);
		else
			printf(" %9s", "n/a");
		put_limit(z->train_limit, (long)ctx->n_train_all);
		put_limit(z->test_limit, (long)ctx->n_test_all);
		put_num(stdout, " %*.3f", 7, a->median_s);
		put_num(stdout, " %*.3f", 7, b->median_s);
		put_num(stdout, " %*.3f", 5, b->best_s);
		put_num(stdout, "-%*.3f", 5, b->worst_s);
		put_num(stdout, " %*.2f", 8, z->speedup);
		put_num(stdout, " %*.0f", 8,
		        ratio((double)a->n_train, a->median_s));
		put_num(stdout, " %*.0f", 8,
		        ratio((double)b->n_train, b->median_s));
		const double gf = ratio(b->flop_epoch * 1e-9, b->median_s);
		put_num(stdout, " %*.2f", 7, gf);
		put_num(stdout, " %*.1f", 6, 100.0 * gf / peak_for(rp, t2));
		printf(" %7.2f%% %9s", 100.0 * b->accuracy[b->epochs - 1],
		       z->identical ? "yes" : "no");
		put_num(stdout, " %*.0f\n", 8, z->round_trip_ns);
		if (!isfinite(z->round_trip_ns))
			putchar('\n');
	}
	for (int i = 0; i < rp->n_zoo; i++)
		if (rp->zoo[i].extra[0])
			printf("  %s trained with %s (its warm-up would not "
			       "end within the epochs)\n",
			       rp->zoo[i].name, rp->zoo[i].extra);
	printf("  the zoo took %.1f s\n", rp->zoo_s);
}

/* Writes x as a JSON number (%.9g), or null when it is not finite. */
static void json_num(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.9g", x);
	else
		fputs("null", f);
}

/* Writes a JSON string (the names here are plain, but escape anyway). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_train(FILE *f, const report *rp, const train_result *r,
                       const char *indent)
{
	double gf = ratio(r->flop_epoch * 1e-9, r->median_s);
	fprintf(f, "%s{\"threads\": %d, \"filters\": %d, \"units\": %d, ",
	        indent, r->threads, r->filters, r->units);
	fprintf(f, "\"train_images\": %ld, \"eval_images\": %ld, ", r->n_train,
	        r->n_eval);
	fprintf(f, "\"flop_per_image_forward\": ");
	json_num(f, r->fwd_img);
	fprintf(f, ", \"flop_per_image_backward\": ");
	json_num(f, r->bwd_img);
	fprintf(f, ", \"flop_per_epoch\": ");
	json_num(f, r->flop_epoch);
	fprintf(f, ",\n%s \"epoch_seconds\": [", indent);
	for (int e = 0; e < r->epochs; e++) {
		fputs(e ? ", " : "", f);
		json_num(f, r->seconds[e]);
	}
	fprintf(f, "], \"test_accuracy\": [");
	for (int e = 0; e < r->epochs; e++) {
		fputs(e ? ", " : "", f);
		json_num(f, r->accuracy[e]);
	}
	fprintf(f, "],\n%s \"best_seconds\": ", indent);
	json_num(f, r->best_s);
	fprintf(f, ", \"median_seconds\": ");
	json_num(f, r->median_s);
	fprintf(f, ", \"worst_seconds\": ");
	json_num(f, r->worst_s);
	fprintf(f, ", \"train_images_per_second\": ");
	json_num(f, ratio((double)r->n_train, r->median_s));
	fprintf(f, ", \"gflops\": ");
	json_num(f, gf);
	fprintf(f, ", \"percent_of_peak\": ");
	json_num(f, 100.0 * gf / peak_for(rp, r->threads));
	fprintf(f, ", \"final_test_accuracy\": ");
	json_num(f, r->accuracy[r->epochs - 1]);
	fprintf(f, "}");
}

/* Writes "[a, b]" (each a number or null) to f. */
static void json_pair(FILE *f, double a, double b)
{
	fputs("[", f);
	json_num(f, a);
	fputs(", ", f);
	json_num(f, b);
	fputs("]", f);
}

/* A layer's seconds at 1 and 2 threads ([a, b]; null where not timed). */
static void json_seconds(FILE *f, const double s[2])
{
	json_pair(f, s[0] >= 0 ? s[0] : NAN, s[1] >= 0 ? s[1] : NAN);
}

/* flop's GFLOP/s in the seconds s at 1 and 2 threads (null without flop). */
static void json_rates(FILE *f, double flop, const double s[2])
{
	json_pair(f, flop > 0 ? ratio(flop * 1e-9, s[0]) : NAN,
	          flop > 0 ? ratio(flop * 1e-9, s[1]) : NAN);
}

/* The "layers" member of the report (see write_json). */
static void json_layers(FILE *f, const report *rp, const bench_ctx *ctx)
{
	const layers_result *L = &rp->layers;

	fprintf(f,
	        "  \"layers\": {\"batch\": %d, \"chunks\": %d, "
	        "\"chunk_size\": %d, \"threads\": [1, %d], \"rows\": [\n",
	        L->batch, L->chunks, L->chunk_size, ctx->threads2);
	for (int i = 0; i < L->n; i++) {
		const layer_result *l = &L->rows[i];
		fprintf(f, "    {\"name\": ");
		json_str(f, l->name);
		fprintf(f, ", \"type\": ");
		json_str(f, l->type);
		fprintf(f, ", \"output\": [%d, %d, %d], \"forward_flop\": ",
		        l->out[0], l->out[1], l->out[2]);
		json_num(f, l->fwd_flop);
		fprintf(f, ", \"backward_flop\": ");
		json_num(f, l->bwd_flop);
		fprintf(f, ",\n     \"forward_seconds\": ");
		json_seconds(f, l->fwd_s);
		fprintf(f, ", \"backward_seconds\": ");
		json_seconds(f, l->bwd_s);
		fprintf(f, ", \"forward_gflops\": ");
		json_rates(f, l->fwd_flop, l->fwd_s);
		fprintf(f, ", \"backward_gflops\": ");
		json_rates(f, l->bwd_flop, l->bwd_s);
		fprintf(f, "}%s\n", i + 1 < L->n ? "," : "");
	}
	fprintf(f, "  ], \"gradient_step_seconds\": ");
	json_pair(f, L->grad_s[0], L->grad_s[1]);
	fprintf(f, ", \"optimizer_step_seconds\": ");
	json_pair(f, L->optim_s[0], L->optim_s[1]);
	fprintf(f, "},\n");
}

/* One model of the zoo, an element of the report's "zoo" array. */
static void json_zoo(FILE *f, const report *rp, const bench_ctx *ctx,
                     const zoo_result *z)
{
	fprintf(f, "    {\"model\": ");
	json_str(f, z->name);
	fprintf(f, ", \"file\": ");
	json_str(f, z->path);
	fprintf(f, ", \"skipped\": ");
	if (z->skipped[0]) {
		json_str(f, z->skipped);
		fputs("}", f);
		return;
	}
	fputs("null", f);
	fprintf(f,
	        ",\n     \"trainable_parameters\": %zu, "
	        "\"flop_per_image_forward\": ",
	        z->params);
	json_num(f, z->fwd_img);
	fprintf(f,
	        ", \"epochs\": %d, \"runs_per_thread_count\": %d, "
	        "\"extra_override\": ",
	        ctx->plan.zoo_epochs, ctx->plan.zoo_rounds);
	if (z->extra[0])
		json_str(f, z->extra);
	else
		fputs("null", f);
	fprintf(f, ",\n     \"probe_seconds_per_image\": {\"train\": ");
	json_num(f, z->probe_train_s);
	fprintf(f, ", \"eval\": ");
	json_num(f, z->probe_eval_s);
	fprintf(f, "}, \"speedup\": ");
	json_num(f, z->speedup);
	fprintf(f, ", \"cross_core_round_trip_ns\": ");
	json_num(f, z->round_trip_ns);
	fprintf(f, ", \"bit_identical\": %s, \"runs\": [\n",
	        z->identical ? "true" : "false");
	for (int t = 0; t < 2; t++) {
		json_train(f, rp, &z->run[t], "      ");
		fprintf(f, "%s\n", t ? "" : ",");
	}
	fprintf(f, "     ]}");
}

/* Writes the report as JSON to f (opened by main on path, so that a bad
 * path fails before the measurements) and closes it unless it is stdout;
 * dies on failure. */
static void write_json(const report *rp, const bench_ctx *ctx, FILE *f,
                       const char *path)
{
	fprintf(f, "{\n  \"benchmark\": \"libcnn\", \"version\": ");
	json_str(f, cnn_version());
	fprintf(f,
	        ", \"quick\": %s, \"model\": ", ctx->quick ? "true" : "false");
	json_str(f, ctx->model);
	fprintf(f, ", \"processors\": %d,\n", procs());
	fprintf(f, "  \"fma_peak\": {\"isa\": ");
	json_str(f, rp->fma_k.isa);
	fprintf(f, ", \"wide_fma_cost\": ");
	json_num(f, rp->wide_cost ? rp->wide_cost / 1000.0 : NAN);
	fprintf(f, ", \"gflops\": [");
	for (int i = 0; i < rp->n_fma; i++) {
		fprintf(f, "%s{\"threads\": %d, \"gflops\": ", i ? ", " : "",
		        rp->fma[i].threads);
		json_num(f, rp->fma[i].gflops);
		fprintf(f, ", \"worst\": ");
		json_num(f, rp->fma[i].worst);
		fprintf(f, ", \"rounds\": %d}", rp->fma[i].rounds);
	}
	fprintf(f, "]},\n  \"cross_core_round_trip_ns\": {\"start\": ");
	json_num(f, rp->round_trip_ns[0]);
	fprintf(f, ", \"after_zoo\": ");
	json_num(f, rp->round_trip_ns[1]);
	fprintf(f, "},\n");
	json_layers(f, rp, ctx);

	fprintf(f, "  \"epochs\": {\"runs\": [\n");
	for (int t = 0; t < 2; t++) {
		json_train(f, rp, &rp->train[t], "    ");
		fprintf(f, "%s\n", t ? "" : ",");
	}
	fprintf(f, "  ], \"speedup\": ");
	json_num(f, rp->speedup);
	fprintf(f, ", \"bit_identical\": %s},\n",
	        rp->identical ? "true" : "false");

	fprintf(f, "  \"width_sweep\": [\n");
	for (int i = 0; i < rp->n_sweep; i++) {
		/* the sweep reports its best epoch */
		train_result r = rp->sweep[i];
		r.median_s = r.best_s;
		json_train(f, rp, &r, "    ");
		fprintf(f, "%s\n", i + 1 < rp->n_sweep ? "," : "");
	}
	fprintf(f, "  ],\n  \"zoo\": [\n");
	for (int i = 0; i < rp->n_zoo; i++) {
		json_zoo(f, rp, ctx, &rp->zoo[i]);
		fprintf(f, "%s\n", i + 1 < rp->n_zoo ? "," : "");
	}
	fprintf(f, "  ], \"zoo_seconds\": ");
	json_num(f, rp->zoo_s);
	fprintf(f, ",\n  \"peak_rss_mib\": ");
	json_num(f, rp->rss_mib);
	fprintf(f, ", \"total_seconds\": ");
	json_num(f, rp->total_s);
	fprintf(f, "\n}\n");
	if (f == stdout ? fflush(f) != 0 : fclose(f) != 0)
		die("cannot write %s", path);
}

/* ======================================================================== */
/* main                                                                     */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: bench [--quick] [--json FILE] [--model YAML] "
	        "[--data DIR] [--no-zoo]\n"
	        "  --quick        a few seconds' smoke run (less data, "
	        "shorter timings)\n"
	        "  --json FILE    also write the results as JSON to FILE "
	        "(- for stdout)\n"
	        "  --model YAML   the reference model [%s/models/"
	        "mnist_cnn.yaml]\n"
	        "  --data DIR     the folder with the four MNIST .gz files "
	        "[the model's]\n"
	        "  --no-zoo       leave out the other models in %s/models\n",
	        BENCH_SRCDIR, BENCH_SRCDIR);
}

/* Reads the command line into ctx (with its defaults); returns -1 to go
 * on, else the exit status (0 after --help, 2 for a bad option). */
static int parse_args(int argc, char **argv, bench_ctx *ctx)
{
	static char default_model[CNN_PATH_MAX];

	memset(ctx, 0, sizeof *ctx);
	snprintf(default_model, sizeof default_model,
	         "%s/models/mnist_cnn.yaml", BENCH_SRCDIR);
	ctx->model = default_model;
	ctx->zoo = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quick"))
			ctx->quick = 1;
		else if (!strcmp(a, "--json") && i + 1 < argc)
			ctx->json = argv[++i];
		else if (!strcmp(a, "--model") && i + 1 < argc)
			ctx->model = argv[++i];
		else if (!strcmp(a, "--data") && i + 1 < argc)
			ctx->data = argv[++i];
		else if (!strcmp(a, "--no-zoo"))
			ctx->zoo = 0;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr,
			        "bench: unknown or incomplete option "
			        "'%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* Measures the FMA peak rounds times more at each thread count of rp (1,
 * 2 and all threads, those counts first), the counts in turn, and keeps
 * the best and the worst of every round so far. */
static void fma_rounds(report *rp, int rounds)
{
	const int fth[N_FMA] = {1, 2, procs()};

	if (!rp->n_fma)
		for (int i = 0; i < N_FMA; i++)
			if (i == 0 || fth[i] > rp->fma[rp->n_fma - 1].threads)
				rp->fma[rp->n_fma++] =
				    (fma_result){fth[i], 0.0, INFINITY, 0};
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < rp->n_fma; i++) {
			fma_result *r = &rp->fma[i];
			double t =
			    fma_time(&rp->fma_k, r->threads, rp->fma_iters);
			double gf = (double)r->threads * (double)rp->fma_iters *
			            rp->fma_k.flop_per_iter / t * 1e-9;
			r->gflops = gf > r->gflops ? gf : r->gflops;
			r->worst = gf < r->worst ? gf : r->worst;
			r->rounds++;
		}
}

/* Prints the FMA peaks of rp: the best of the rounds, and their range. */
static void print_fma(const report *rp)
{
	for (int i = 0; i < rp->n_fma; i++) {
		const fma_result *r = &rp->fma[i];
		printf(
		    "  %3d thread%s %9.2f GFLOP/s  (%d round%s: %.2f-%.2f)\n",
		    r->threads, r->threads > 1 ? "s" : " ", r->gflops,
		    r->rounds, r->rounds > 1 ? "s" : "", r->worst, r->gflops);
	}
}

/* The banner, then section 1: the FMA peak at 1, 2 and all threads, the
 * best of plan.fma_rounds rounds, into rp and printed (the zoo measures it
 * again after its models, and the best of all is the peak then). */
static void bench_fma(const bench_ctx *ctx, report *rp)
{
	rp->fma_k = fma_pick();
	printf("libcnn %s benchmark%s: %s, %d processors, FMA kernel %s\n",
	       cnn_version(), ctx->quick ? " (quick)" : "", ctx->model, procs(),
	       rp->fma_k.isa);
	if (!strcmp(cnn_kernels_name(), "avx512")) {
		rp->wide_cost = cnn_kernels_wide_cost(-1);
		printf("  a 16-float FMA takes %.2fx an 8-float one's time "
		       "(measured at start): the convolutions' forward and "
		       "input gradient\n  use 16-float vectors unless 8-float "
		       "ones cost less by that\n",
		       rp->wide_cost / 1000.0);
	}
	rp->fma_iters = fma_calibrate(&rp->fma_k, ctx->plan.fma_seconds);
	printf("\nFMA peak (independent FMAs in registers, %.2f s a run; the "
	       "best of the rounds,\nthe thread counts in turn):\n",
	       ctx->plan.fma_seconds);
	fma_rounds(rp, ctx->plan.fma_rounds);
	print_fma(rp);
	rp->round_trip_ns[0] = round_trip_ns();
	rp->round_trip_ns[1] = NAN;
	printf("\nCross-core round trip (a cache line passed between two "
	       "threads pinned to two\nprocessors and back; the median of %d "
	       "runs of %d): ",
	       RT_RUNS, RT_ROUNDS);
	if (isfinite(rp->round_trip_ns[0]))
		printf("%.0f ns\n", rp->round_trip_ns[0]);
	else
		printf("n/a (fewer than two processors)\n");
	fflush(stdout);
}

/* Copies the first images of train (up to ZOO_PROBE_MAX) into pb. */
static void keep_probe(const cnn_dataset *train, probe_batch *pb)
{
	pb->n = train->n < ZOO_PROBE_MAX ? (int)train->n : ZOO_PROBE_MAX;
	pb->sample_size = train->sample_size;
	pb->pixels = malloc((size_t)pb->n * pb->sample_size + 1);
	if (!pb->pixels)
		die("out of memory");
	memcpy(pb->pixels, train->pixels, (size_t)pb->n * pb->sample_size);
	memcpy(pb->labels, train->labels, (size_t)pb->n);
}

/* The file --json names (stdout for "-"), opened before the measurements
 * so that a bad path fails first; NULL, said on stderr, if it cannot be. */
static FILE *open_json(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;

	if (!f)
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
		        strerror(errno));
	return f;
}

/* Frees what the report holds. */
static void report_free(report *rp)
{
	for (int t = 0; t < 2; t++)
		free(rp->train[t].params);
	for (int i = 0; i < N_SWEEP; i++)
		free(rp->sweep[i].params);
	for (int i = 0; i < rp->n_zoo; i++)
		for (int t = 0; t < 2; t++)
			free(rp->zoo[i].run[t].params);
	free(rp->zoo);
	free(rp->layers.rows);
}

int main(int argc, char **argv)
{
	static report rp;
	bench_ctx ctx;
	double t_start = now_seconds();

	int st = parse_args(argc, argv, &ctx);
	if (st >= 0)
		return st;
	FILE *json = NULL;
	if (ctx.json && !(json = open_json(ctx.json)))
		return 1;
	ctx.plan = ctx.quick ? plan_quick : plan_full;
	ctx.threads2 = 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* the data first, so that a missing file is the first thing said */
	cnn_dataset *train = NULL;
	cnn_model *ref = build_model(&ctx, 0, NULL, 0);
	prepare_data(&ctx, ref, &train);

	/* 1. the FMA peak */
	bench_fma(&ctx, &rp);

	/* 2. the layers */
	bench_layers(&ctx, ref, train, &rp.layers);
	print_layers(&rp, ctx.threads2);
	fflush(stdout);
	/* the zoo's probes need a batch of images, not the whole set */
	probe_batch pb = {0};
	keep_probe(train, &pb);
	cnn_dataset_free(train);

	/* 3. whole epochs at 1 and 2 threads */
	for (int t = 0; t < 2; t++)
		train_run(&ctx, NULL, 0, t ? ctx.threads2 : 1, ctx.plan.epochs,
		          ctx.plan.train_limit, ctx.plan.test_limit,
		          &rp.train[t]);
	rp.speedup = ratio(rp.train[0].median_s, rp.train[1].median_s);
	rp.identical = same_weights(&rp.train[0], &rp.train[1]);
	print_train(&rp, ref->spec.name);
	fflush(stdout);

	/* 4. the width sweep */
	bench_sweep(&ctx,
	            ratio(rp.train[1].flop_epoch * 1e-9, rp.train[1].median_s),
	            rp.sweep, &rp.n_sweep, rp.sweep_skip, sizeof rp.sweep_skip);
	print_sweep(&rp);
	fflush(stdout);

	/* 5. the other models */
	if (ctx.zoo) {
		double t0 = now_seconds();
		snprintf(rp.zoo_dir, sizeof rp.zoo_dir, "%s/models",
		         BENCH_SRCDIR);
		rp.zoo = zoo_list(&ctx, rp.zoo_dir, &rp.n_zoo);
		for (int i = 0; i < rp.n_zoo; i++)
			zoo_run(&ctx, ref, &pb, &rp.zoo[i]);
		rp.zoo_s = now_seconds() - t0;
		/* the machine may have been slower when the peak was first
		 * measured: the zoo's share of it is taken against the best */
		fma_rounds(&rp, ctx.plan.fma_rounds);
		rp.round_trip_ns[1] = round_trip_ns();
		print_zoo(&rp, &ctx);
	}
	free(pb.pixels);

	/* 6. memory and time */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	rp.rss_mib = (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
	rp.total_s = now_seconds() - t_start;
	printf("\nPeak RSS %.1f MiB; bench took %.1f s\n", rp.rss_mib,
	       rp.total_s);
	fflush(stdout);
	if (ctx.json)
		write_json(&rp, &ctx, json, ctx.json);

	cleanup();
	report_free(&rp);
	cnn_model_free(ref);
	return 0;
}

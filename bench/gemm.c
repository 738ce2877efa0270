/*
 * gemm.c - the benchmark of libcnn's matrix product against OpenBLAS, run
 * by hand (never by make check).
 *
 * Times cnn_gemm (and cnn_gemm_chunks where a layer can take that path) and
 * OpenBLAS's cblas_sgemm on the products the zoo's models run, in the
 * chunks of 16 samples that training cuts a batch of up to 512 into, plus a
 * large square product for reference. For each it prints GFLOP/s (2 M N K
 * per call) of both, libcnn's as a share of OpenBLAS's, and the largest
 * difference between their results, flagging the row MISMATCH beyond
 * 1e-4 K (inputs are uniform in [-0.5, 0.5) from a fixed seed). Each figure
 * is the best of 5 rounds, a round calling the product over and over until
 * 0.2 s have passed (0.02 s with --quick); the implementations' rounds
 * alternate. beta is the one the library passes for that product; all
 * matrices are row-major with their natural leading dimensions. With
 * --json FILE the rows also go to FILE as a JSON array.
 *
 * OpenBLAS is no build dependency: it is loaded at run time (dlopen of
 * libopenblas.so.0, then libopenblas.so; on Debian the package
 * libopenblas0-pthread or libopenblas0-openmp). Without it, one line says
 * so, libcnn is timed alone and checked against a plain loop in double.
 * Unless OPENBLAS_CORETYPE is set, this program sets it to the core type
 * whose kernels use the instructions libcnn's variant uses (avx512:
 * SkylakeX, avx2: Haswell): an OpenBLAS that does not know the CPU (0.3.21
 * on Emerald Rapids, say) otherwise falls back to its SSE3 "Prescott"
 * kernels, at a fifth of the speed. The header shows the core it runs.
 *
 * Both run on one thread: libcnn's kernels are serial, and OpenBLAS is told
 * openblas_set_num_threads(1). Run it as
 *     OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 bench/gemm [--quick]
 * so that OpenBLAS does not even start its threads. Exit 0 (also with a
 * MISMATCH, which the report shows); errors: one line on stderr, exit 1
 * (2 for a bad command line).
 */
#define _XOPEN_SOURCE 700
#include "cnn.h"
#include "kernels.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 5
#define SEED   20240611u

/* ======================================================================== */
/* The shapes                                                               */

/* One product, C (M x N) = beta C + A' B' as in cnn_gemm: A stored K x M
 * when ta, else M x K; B stored N x K when tb, else K x N. */
typedef struct shape {
	const char *name;
	int ta, tb, M, N, K;
	float beta; /* what the library passes */
	int fold;   /* the layer may run it as cnn_gemm_chunks: time that too */
	int direct; /* a convolution the library runs directly (kernels.c) */
} shape;

static const shape shapes[] = {
    /* mlp (784-256-128-10), a chunk of 16 samples */
    {"mlp dense1 fwd", 0, 1, 16, 256, 784, 1, 0, 0},
    {"mlp dense1 wgrad", 1, 0, 256, 784, 16, 0, 1, 0},
    {"mlp dense2 fwd", 0, 1, 16, 128, 256, 1, 0, 0},
    {"mlp dense2 dx", 0, 0, 16, 256, 128, 0, 0, 0},
    /* lenet5, im2col per sample: (F, OH OW) = W (F, C KH KW) col */
    {"lenet5 conv1 fwd", 0, 0, 6, 784, 25, 1, 0, 1},
    {"lenet5 conv2 fwd", 0, 0, 16, 100, 150, 1, 0, 1},
    {"lenet5 conv2 wgrad", 0, 1, 16, 150, 100, 1, 0, 1},
    {"lenet5 conv2 dx", 1, 0, 150, 100, 16, 0, 0, 1},
    /* resnet_tiny, the stride-2 convolutions, im2col per sample: the 3x3
     * one runs directly on the input's stride phases, the 1x1 one through
     * cnn_gemm */
    {"resnet 3x3 s2 fwd", 0, 0, 32, 49, 144, 0, 0, 1},
    {"resnet 3x3 s2 wgrad", 0, 1, 32, 144, 49, 1, 0, 1},
    {"resnet 3x3 s2 dx", 1, 0, 144, 49, 32, 0, 0, 1},
    {"resnet 1x1 s2 fwd", 0, 0, 32, 49, 16, 0, 0, 0},
    /* reference */
    {"square 512", 0, 0, 512, 512, 512, 0, 0, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* What one shape measured: GFLOP/s, 0 for what was not timed. */
typedef struct result {
	double lib, fold, blas;
	double diff; /* the largest |libcnn - reference| */
	int bad;     /* diff above the tolerance (or NaN) */
} result;

/* ======================================================================== */
/* OpenBLAS, loaded at run time                                             */

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int M, int N, int K,
                         float alpha, const float *A, int lda, const float *B,
                         int ldb, float beta, float *C, int ldc);
typedef void (*set_threads_fn)(int n);
typedef char *(*get_config_fn)(void);

static struct {
	sgemm_fn sgemm;       /* NULL: not loaded */
	const char *file;     /* the name dlopen took */
	const char *config;   /* openblas_get_config(), or NULL */
	const char *coretype; /* the OPENBLAS_CORETYPE this program set */
	char why[256];        /* when not loaded: the last dlerror() */
} blas;

/* Sets OPENBLAS_CORETYPE, unless the user did, to the core whose kernels
 * use the instructions libcnn's do (avx512: SkylakeX, avx2: Haswell;
 * nothing for the others); the value set, or NULL. */
static const char *match_coretype(void)
{
	const char *k = cnn_kernels_name();
	const char *core = !strcmp(k, "avx512") ? "SkylakeX"
	                   : !strcmp(k, "avx2") ? "Haswell"
	                                        : NULL;

	if (getenv("OPENBLAS_CORETYPE") || !core)
		return NULL;
	return setenv("OPENBLAS_CORETYPE", core, 1) == 0 ? core : NULL;
}

/* Loads OpenBLAS into blas and sets it to one thread; the library stays
 * loaded until exit. When it cannot, sgemm stays NULL and why says why. */
static void load_openblas(void)
{
	static const char *const names[] = {"libopenblas.so.0",
	                                    "libopenblas.so"};
	void *lib = NULL;

	blas.coretype = match_coretype();

	for (size_t i = 0; i < 2 && !lib; i++) {
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		blas.file = names[i];
	}
	if (!lib) {
		snprintf(blas.why, sizeof blas.why, "%s", dlerror());
		return;
	}
	blas.sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
	if (!blas.sgemm) {
		snprintf(blas.why, sizeof blas.why, "%s has no cblas_sgemm",
		         blas.file);
		dlclose(lib);
		return;
	}
	set_threads_fn set =
	    (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
	get_config_fn get = (get_config_fn)dlsym(lib, "openblas_get_config");
	if (set)
		set(1);
	if (get)
		blas.config = get();
}

/* ======================================================================== */
/* Buffers and the calls                                                    */

/* One shape's matrices, in the layout its ta and tb say. */
typedef struct bufs {
	float *A, *B;
	float *C0;  /* the starting C, random (beta 1 adds to it) */
	float *C;   /* the timed and checked output */
	float *ref; /* the reference's output */
	int lda, ldb, ldc;
} bufs;

enum { IMPL_LIB, IMPL_FOLD, IMPL_BLAS, N_IMPL };

/* n floats, 64-byte aligned, uniform in [-0.5, 0.5) from hash stream
 * stream of SEED; exits on failure. */
static float *random_floats(size_t n, uint64_t stream)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	float *v = aligned_alloc(64, bytes);

	if (!v)
		die("out of memory (%zu bytes)", bytes);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(cnn_hash64(SEED + stream, i) >> 40) *
		           (1.0f / 16777216.0f) -
		       0.5f;
	return v;
}

static void bufs_init(bufs *b, const shape *s)
{
	size_t mn = (size_t)s->M * s->N;

	b->A = random_floats((size_t)s->M * s->K, 1);
	b->B = random_floats((size_t)s->K * s->N, 2);
	b->C0 = random_floats(mn, 3);
	b->C = random_floats(mn, 4);
	b->ref = random_floats(mn, 5);
	b->lda = s->ta ? s->M : s->K;
	b->ldb = s->tb ? s->K : s->N;
	b->ldc = s->N;
}

static void bufs_free(bufs *b)
{
	free(b->A);
	free(b->B);
	free(b->C0);
	free(b->C);
	free(b->ref);
}

/* C = beta C + A' B' by implementation impl (cnn_gemm_chunks, adding one
 * chunk, ignores beta: it adds to C). */
static void run(int impl, const shape *s, const bufs *b, float beta, float *C)
{
	switch (impl) {
	case IMPL_LIB:
		cnn_gemm(s->ta, s->tb, s->M, s->N, s->K, b->A, b->lda, b->B,
		         b->ldb, beta, C, b->ldc);
		break;
	case IMPL_FOLD:
		cnn_gemm_chunks(s->ta, s->M, s->N, s->K, 0, 1, b->A, b->lda,
		                b->B, b->ldb, C, b->ldc);
		break;
	default:
		blas.sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
		           s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K,
		           1.0f, b->A, b->lda, b->B, b->ldb, beta, C, b->ldc);
		break;
	}
}

/* ======================================================================== */
/* Checking                                                                 */

/* out = beta C0 + A' B', by OpenBLAS when loaded, else summed in double in
 * increasing k. */
static void reference(const shape *s, const bufs *b, float beta, float *out)
{
	memcpy(out, b->C0, (size_t)s->M * s->N * sizeof *out);
	if (blas.sgemm) {
		run(IMPL_BLAS, s, b, beta, out);
		return;
	}
	for (int i = 0; i < s->M; i++) {
		for (int j = 0; j < s->N; j++) {
			double acc =
			    beta != 0.0f ? out[(size_t)i * s->N + j] : 0;

			for (int k = 0; k < s->K; k++) {
				float a = s->ta ? b->A[(size_t)k * s->M + i]
				                : b->A[(size_t)i * s->K + k];
				float x = s->tb ? b->B[(size_t)j * s->K + k]
				                : b->B[(size_t)k * s->N + j];
				acc += (double)a * x;
			}
			out[(size_t)i * s->N + j] = (float)acc;
		}
	}
}

/* The largest |x - y| over n floats; NaN as soon as one is NaN. */
static double max_abs_diff(const float *x, const float *y, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)x[i] - (double)y[i]);

		if (isnan(e))
			return e;
		if (e > m)
			m = e;
	}
	return m;
}

/* Runs libcnn once from C0 and compares with the reference: cnn_gemm at
 * s's beta and, for a fold row, cnn_gemm_chunks against beta 1. Fills
 * r->diff (the larger) and r->bad (above 1e-4 K, or NaN). */
static void check_shape(const shape *s, bufs *b, result *r)
{
	size_t mn = (size_t)s->M * s->N;

	r->diff = 0;
	for (int pass = 0; pass <= s->fold; pass++) {
		float beta = pass ? 1.0f : s->beta;

		reference(s, b, beta, b->ref);
		memcpy(b->C, b->C0, mn * sizeof *b->C);
		run(pass ? IMPL_FOLD : IMPL_LIB, s, b, beta, b->C);
		double d = max_abs_diff(b->C, b->ref, mn);
		if (isnan(d) || d > r->diff)
			r->diff = d;
		if (isnan(d))
			break;
	}
	r->bad = !(r->diff <= 1e-4 * s->K);
}

/* ======================================================================== */
/* Timing                                                                   */

/* One round: impl on s (into b->C, which drifts under beta 1 and fold;
 * harmless) until min_s seconds have passed; the seconds per call. */
static double round_time(int impl, const shape *s, const bufs *b, double min_s)
{
	long n = 0;
	double t0 = now(), t;

	do {
		run(impl, s, b, s->beta, b->C);
		n++;
		t = now() - t0;
	} while (t < min_s);
	return t / (double)n;
}

/* Times s: ROUNDS rounds of each implementation that applies, alternated;
 * the best round of each as GFLOP/s into r (0 where not timed). */
static void time_shape(const shape *s, const bufs *b, double min_s, result *r)
{
	double best[N_IMPL] = {0};
	const double flop = 2.0 * s->M * s->N * s->K;

	for (int round = 0; round < ROUNDS; round++) {
		for (int impl = 0; impl < N_IMPL; impl++) {
			if ((impl == IMPL_FOLD && !s->fold) ||
			    (impl == IMPL_BLAS && !blas.sgemm))
				continue;
			double t = round_time(impl, s, b, min_s);
			if (best[impl] == 0 || t < best[impl])
				best[impl] = t;
		}
	}
	r->lib = best[IMPL_LIB] > 0 ? flop / best[IMPL_LIB] * 1e-9 : 0;
	r->fold = best[IMPL_FOLD] > 0 ? flop / best[IMPL_FOLD] * 1e-9 : 0;
	r->blas = best[IMPL_BLAS] > 0 ? flop / best[IMPL_BLAS] * 1e-9 : 0;
}

/* ======================================================================== */
/* The report                                                               */

static void print_header(double min_s)
{
	printf("bench/gemm: libcnn %s, kernels %s; ", cnn_version(),
	       cnn_kernels_name());
	if (blas.sgemm)
		printf("OpenBLAS %s (%s%s%s), 1 thread\n", blas.file,
		       blas.config ? blas.config : "no config string",
		       blas.coretype ? "; OPENBLAS_CORETYPE=" : "",
		       blas.coretype ? blas.coretype : "");
	else
		printf("OpenBLAS not loaded (%s): libcnn alone, checked "
		       "against a loop in double\n",
		       blas.why);
	printf("GFLOP/s (2 M N K per call), best of %d rounds of %.2f s; "
	       "ratio = libcnn / OpenBLAS\n\n",
	       ROUNDS, min_s);
	printf("%-20s ta tb    M    N    K beta  libcnn OpenBLAS ratio"
	       "    fold  max|diff|\n",
	       "product");
}

/* A GFLOP/s figure in a column of width w, "-" for none. */
static void print_gflops(double g, int w)
{
	if (g > 0)
		printf(" %*.2f", w, g);
	else
		printf(" %*s", w, "-");
}

static void print_row(const shape *s, const result *r)
{
	char name[32];

	snprintf(name, sizeof name, "%s%s", s->name, s->direct ? "*" : "");
	printf("%-20s %2d %2d %4d %4d %4d %4g", name, s->ta, s->tb, s->M, s->N,
	       s->K, (double)s->beta);
	print_gflops(r->lib, 7);
	print_gflops(r->blas, 8);
	if (r->blas > 0)
		printf(" %5.2f", r->lib / r->blas);
	else
		printf(" %5s", "-");
	print_gflops(r->fold, 7);
	printf("  %9.2e%s\n", r->diff, r->bad ? "  MISMATCH" : "");
	fflush(stdout);
}

/* A GFLOP/s figure as JSON: null for none. */
static void json_gflops(FILE *f, const char *key, double g, const char *end)
{
	if (g > 0)
		fprintf(f, "\"%s\": %.4f%s", key, g, end);
	else
		fprintf(f, "\"%s\": null%s", key, end);
}

/* Writes the rows to path as a JSON array of objects; exits on failure. */
static void write_json(const char *path, const result *res)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "[\n");
	for (size_t i = 0; i < N_SHAPES; i++) {
		const shape *s = &shapes[i];

		fprintf(
		    f,
		    "  {\"name\": \"%s\", \"ta\": %d, \"tb\": %d, \"M\": %d, "
		    "\"N\": %d, \"K\": %d, \"beta\": %g, ",
		    s->name, s->ta, s->tb, s->M, s->N, s->K, (double)s->beta);
		json_gflops(f, "libcnn_gflops", res[i].lib, ", ");
		json_gflops(f, "openblas_gflops", res[i].blas, ", ");
		json_gflops(f, "fold_gflops", res[i].fold, "}");
		fprintf(f, "%s\n", i + 1 < N_SHAPES ? "," : "");
	}
	fprintf(f, "]\n");
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

int main(int argc, char **argv)
{
	int quick;
	bench_name = "bench/gemm";
	const char *json = bench_options(argc, argv, &quick);
	const double min_s = quick ? 0.02 : 0.2;
	result res[N_SHAPES];

	load_openblas();
	print_header(min_s);
	for (size_t i = 0; i < N_SHAPES; i++) {
		bufs b;

		bufs_init(&b, &shapes[i]);
		check_shape(&shapes[i], &b, &res[i]);
		time_shape(&shapes[i], &b, min_s, &res[i]);
		print_row(&shapes[i], &res[i]);
		bufs_free(&b);
	}
	printf("\n* the library runs these convolutions (lenet5's, and "
	       "resnet_tiny's 3x3 at stride 2,\n  on the stride phases of its "
	       "input) as direct convolutions, not through\n  cnn_gemm; these "
	       "are the im2col products they would be.\n");
	if (json)
		write_json(json, res);
	return 0;
}

/*
 * export_c_main.c - the driver that t/export_c.sh compiles with a C file
 * made by cnnexport (cnn_export_c), to check it against libcnn. It includes
 * nothing of libcnn: the generated file is included whole, named by two
 * macros given on the command line:
 *
 *   cc -std=c99 -DNAME=mnist_cnn '-DMODEL_C="m.c"' t/export_c_main.c -lm
 *
 * Usage:
 *   driver check INPUT.f32 PROBS.f32 N   runs NAME_predict on the N images
 *       of INPUT.f32 (N x C x H x W float32, as t/fwd_dump writes them) and
 *       compares with PROBS.f32 (N x CLASSES): prints "max_abs_diff D" and
 *       exits 1 when D > 1e-5 (or anything fails), else 0.
 *   driver bench INPUT.f32 REPS          runs NAME_predict REPS times over
 *       the first image and prints "us_per_image U".
 *
 * Invariants: no heap allocation anywhere (no stdio: POSIX open/read/write,
 * the buffers static and sized by the generated macros), so valgrind's
 * "total heap usage: 0 allocs" shows that NAME_predict allocates nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include MODEL_C

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define M(suffix)  CAT(NAME, suffix)

#define IN_FLOATS (M(_INPUT_CHANNELS) * M(_INPUT_HEIGHT) * M(_INPUT_WIDTH))
#define TOLERANCE 1e-5

static float input[IN_FLOATS], want[M(_CLASSES)], got[M(_CLASSES)];
static float workspace[M(_WORKSPACE_FLOATS)];
static volatile float sink; /* keeps bench's calls from being optimised out */

/* Writes a line to fd 1 or 2 (snprintf into a stack buffer: no malloc). */
static void say(int fd, const char *what, double v)
{
	char line[128];
	int n = snprintf(line, sizeof line, "%s %.9g\n", what, v);

	if (n > 0 && write(fd, line, (size_t)n) != n)
		exit(1);
}

/* Reads exactly n floats from fd into v; 0 on success. */
static int read_floats(int fd, float *v, size_t n)
{
	char *p = (char *)v;
	size_t left = n * sizeof *v;

	while (left > 0) {
		ssize_t r = read(fd, p, left);

		if (r <= 0)
			return -1;
		p += r;
		left -= (size_t)r;
	}
	return 0;
}

/* check: the largest |got - want| over n images; exit status 1 above the
 * tolerance. */
static int check(const char *in_path, const char *probs_path, long n)
{
	int fin = open(in_path, O_RDONLY), fprobs = open(probs_path, O_RDONLY);
	double worst = 0.0;

	if (fin < 0 || fprobs < 0) {
		say(2, "cannot open an input file; n =", (double)n);
		return 1;
	}
	for (long s = 0; s < n; s++) {
		if (read_floats(fin, input, IN_FLOATS) ||
		    read_floats(fprobs, want, M(_CLASSES))) {
			say(2, "short input at image", (double)s);
			return 1;
		}
		if (M(_predict)(input, got, workspace) != 0) {
			say(2, "predict failed at image", (double)s);
			return 1;
		}
		for (int k = 0; k < M(_CLASSES); k++) {
			double d = (double)got[k] - (double)want[k];

			d = d < 0 ? -d : d;
			if (!(d <= worst)) /* a NaN is the worst */
				worst = d == d ? d : 1e30;
		}
	}
	close(fin);
	close(fprobs);
	say(1, "max_abs_diff", worst);
	return worst <= TOLERANCE ? 0 : 1;
}

/* bench: microseconds per call of NAME_predict on the first image. */
static int bench(const char *in_path, long reps)
{
	int fin = open(in_path, O_RDONLY);
	clock_t t0;

	if (fin < 0 || read_floats(fin, input, IN_FLOATS) || reps < 1)
		return 1;
	close(fin);
	t0 = clock();
	for (long r = 0; r < reps; r++) {
		M(_predict)(input, got, workspace);
		sink += got[0];
	}
	say(1, "us_per_image",
	    (double)(clock() - t0) / CLOCKS_PER_SEC * 1e6 / (double)reps);
	return 0;
}

int main(int argc, char **argv)
{
	/* the NULL check of NAME_predict: -1 and nothing written */
	if (M(_predict)(NULL, got, workspace) != -1)
		return 1;
	if (argc == 5 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3], atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "bench"))
		return bench(argv[2], atol(argv[3]));
	say(2, "usage: driver check IN PROBS N | bench IN REPS; argc", argc);
	return 2;
}

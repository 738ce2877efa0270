/*
 * util.h - the small helpers of the benchmarks bench/dist.c, bench/load.c
 * and bench/gemm.c: the clock, medians, dying with one line, the command
 * line.
 */
#ifndef CNN_BENCH_UTIL_H
#define CNN_BENCH_UTIL_H

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_UNUSED __attribute__((unused))

/* The program's name in messages, and what to remove before dying. */
static const char *bench_name = "bench";
static void (*bench_cleanup)(void);

static void die(const char *fmt, ...) CNN_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (bench_cleanup)
		bench_cleanup();
	exit(1);
}

/* Dies with err's one line. */
BENCH_UNUSED static void die_err(const cnn_error *err)
{
	char line[1200];
	die("%s", cnn_error_string(err, line, sizeof line));
}

BENCH_UNUSED static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

BENCH_UNUSED static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v); 0 for n < 1. */
BENCH_UNUSED static double median(double *v, int n)
{
	if (n < 1)
		return 0.0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The driver's command line, [--quick] [--json FILE]: sets *quick, returns
 * FILE or NULL; a bad one prints the usage and exits 2. */
BENCH_UNUSED static const char *bench_options(int argc, char **argv, int *quick)
{
	const char *json = NULL;
	*quick = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			*quick = 1;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--quick] [--json FILE]\n",
			        argv[0]);
			exit(2);
		}
	}
	return json;
}

#endif

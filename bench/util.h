/*
 * util.h - the small helpers of the benchmarks that start processes
 * (bench/dist.c, bench/load.c): the clock, medians, dying with one line.
 */
#ifndef CNN_BENCH_UTIL_H
#define CNN_BENCH_UTIL_H

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

BENCH_UNUSED static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v); 0 for n < 1. */
static double median(double *v, int n)
{
	if (n < 1)
		return 0.0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif

/*
 * tap.h - a minimal Test Anything Protocol producer for the C tests.
 *
 *   plan_no_plan();           ok(cond, "name %d", i);   ...   return done();
 *
 * ok() prints "ok N - name" or "not ok N - name" and returns cond, so a test
 * can stop early when a prerequisite fails. done() prints the plan "1..N"
 * and returns the exit status (0 when everything passed).
 */
#ifndef CNN_TAP_H
#define CNN_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_run, tap_failed;

#define TAP_UNUSED __attribute__((unused))

TAP_UNUSED static void plan_no_plan(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

__attribute__((format(printf, 2, 3))) TAP_UNUSED static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

/* A comment line, shown by the TAP driver's log. */
__attribute__((format(printf, 1, 2))) TAP_UNUSED static void
diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

TAP_UNUSED static int done(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed ? 1 : 0;
}

#endif

/*
 * cli.c - command-line helpers shared by the tools (see cli.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_parse_count(const char *s, int max)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -1;
	return (int)v;
}

double cli_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_duration(char *buf, size_t size, double s)
{
	long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60,
		         t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

cli_kind cli_file_kind(const char *path)
{
	static char buf[64 * 1024 + 1];
	FILE *f = fopen(path, "rb");
	size_t n;
	const char *p;

	if (!f)
		return CLI_OTHER;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n >= 2 && (unsigned char)buf[0] == 0x1f &&
	    (unsigned char)buf[1] == 0x8b)
		return CLI_GZIP;
	if (memchr(buf, '\0', n))
		return CLI_OTHER;
	for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, "layers:", 7) == 0)
			return CLI_MODEL;
	return CLI_OTHER;
}

/* A JSON string, escaped (bytes >= 0x80 pass through: UTF-8 stays). */
void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	for (; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* The model's class names as a JSON list, or null (contract in cli.h). */
void cli_json_class_names(FILE *f, const cnn_model *m)
{
	if (!cnn_model_class_name(m, 0)) {
		fputs("null", f);
		return;
	}
	for (int c = 0; c < cnn_model_classes(m); c++) {
		fputs(c ? ", " : "[", f);
		cli_json_string(f, cnn_model_class_name(m, c));
	}
	fputc(']', f);
}

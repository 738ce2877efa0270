/*
 * error.c - the error record: filling it (first error wins) and formatting it
 * as one line, "file:line:col: path: message".
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void cnn_err_clear(cnn_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

/* Fills err unless it already holds an error. Never allocates. */
cnn_status cnn_err_set(cnn_error *err, cnn_status status, const char *file,
                       int line, int col, const char *path, const char *fmt,
                       ...)
{
	va_list ap;
	if (!err || err->status != CNN_OK)
		return status;
	err->status = status;
	err->line = line;
	err->column = col;
	snprintf(err->file, sizeof err->file, "%s", file ? file : "");
	snprintf(err->path, sizeof err->path, "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return status;
}

const char *cnn_error_string(const cnn_error *err, char *buf, size_t size)
{
	size_t k = 0;
	int r;
	if (!size)
		return buf;
	buf[0] = '\0';
#define CNN_APPEND(...)                                                        \
	do {                                                                   \
		r = snprintf(buf + k, size - k, __VA_ARGS__);                  \
		if (r < 0 || (size_t)r >= size - k)                            \
			return buf;                                            \
		k += (size_t)r;                                                \
	} while (0)
	if (err->file[0]) {
		CNN_APPEND("%s", err->file);
		if (err->line > 0)
			CNN_APPEND(":%d:%d", err->line, err->column);
		CNN_APPEND(": ");
	}
	/* an override's source is "--set KEY": do not name KEY twice */
	if (err->path[0] && !(strncmp(err->file, "--set ", 6) == 0 &&
	                      strcmp(err->file + 6, err->path) == 0))
		CNN_APPEND("%s: ", err->path);
	CNN_APPEND("%s", err->message[0] ? err->message : "unknown error");
#undef CNN_APPEND
	return buf;
}

int cnn_status_exit_code(cnn_status status)
{
	switch (status) {
	case CNN_OK:
		return 0;
	case CNN_ERR_CONFIG:
	case CNN_ERR_USAGE:
	case CNN_ERR_DATA:
		return 2;
	default:
		return 1;
	}
}

const char *cnn_version(void)
{
	return CNN_VERSION_STRING;
}

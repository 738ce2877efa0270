/*
 * error.c - the error record: filling it (first error wins), its short
 * forms, quoting user text into a message, and formatting the record as one
 * line, "file:line:col: path: message" (a file or path holding control
 * characters is kept with '?' in their place).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cnn_err_clear(cnn_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

/* Replaces the control characters of s (a newline in a file's name, say)
 * with '?', so that a message naming it stays one line. */
static void no_controls(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Fills err from a va_list unless it already holds an error; control
 * characters in file and path become '?'. Never allocates. */
static cnn_status err_setv(cnn_error *err, cnn_status status, const char *file,
                           int line, int col, const char *path, const char *fmt,
                           va_list ap)
{
	if (!err || err->status != CNN_OK)
		return status;
	err->status = status;
	err->line = line;
	err->column = col;
	snprintf(err->file, sizeof err->file, "%s", file ? file : "");
	snprintf(err->path, sizeof err->path, "%s", path ? path : "");
	no_controls(err->file);
	no_controls(err->path);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	return status;
}

cnn_status cnn_err_set(cnn_error *err, cnn_status status, const char *file,
                       int line, int col, const char *path, const char *fmt,
                       ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, status, file, line, col, path, fmt, ap);
	va_end(ap);
	return status;
}

cnn_status cnn_err(cnn_error *err, cnn_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, status, NULL, 0, 0, NULL, fmt, ap);
	va_end(ap);
	return status;
}

cnn_status cnn_err_file(cnn_error *err, cnn_status status, const char *file,
                        const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, status, file, 0, 0, NULL, fmt, ap);
	va_end(ap);
	return status;
}

cnn_status cnn_err_nomem(cnn_error *err, const char *file, const char *doing)
{
	return cnn_err_set(err, CNN_ERR_NOMEM, file, 0, 0, NULL,
	                   "out of memory%s%s", doing ? " " : "",
	                   doing ? doing : "");
}

/* The length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t cnn_utf8_length(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

const char *cnn_quote(char buf[CNN_QUOTE_SIZE], const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i = 0, k = 0;

	while (i < n) {
		size_t len = cnn_utf8_length(p + i, n - i);

		if (k + (len ? len : 1) > CNN_QUOTE_MAX) {
			memcpy(buf + k, "...", 3);
			k += 3;
			break;
		}
		if (len > 1) {
			memcpy(buf + k, p + i, len);
			k += len;
			i += len;
			continue;
		}
		buf[k++] =
		    len == 0 || p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
		i++;
	}
	buf[k] = '\0';
	return buf;
}

const char *cnn_quote_str(char buf[CNN_QUOTE_SIZE], const char *s)
{
	return cnn_quote(buf, s, strlen(s));
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

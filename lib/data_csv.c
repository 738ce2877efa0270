/*
 * data_csv.c - the CSV reader: one sample per line, a label column and
 * channels*height*width pixel columns (integers 0..255), plain or gzip.
 *
 * Accepted: spaces and tabs around cells, CRLF line ends, a UTF-8 byte order
 * mark, a last line without a newline, blank lines at the end, and a header
 * line (given, or detected by a cell that is not a number).
 *
 * Invariants
 *  - Parsed in place from the file's buffer; no allocation per line or cell.
 *    The pixel array is allocated once, after the lines are counted, and
 *    only when the bytes could really hold that many rows (so a file of many
 *    short lines cannot make us allocate rows * pixels bytes).
 *  - Every error names the file, the line and, for a bad cell, its 1-based
 *    column (cell number), e.g. "train.csv:7:301: pixel value 256 is out of
 *    range 0..255".
 */
#include "data.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* How a cell failed to parse. */
enum cell_status { CELL_OK, CELL_EMPTY, CELL_NOT_INT, CELL_RANGE };

/* What the row parser needs and where it stores. */
struct csv {
	const char *path;
	size_t ncells; /* sample + 1 */
	size_t label_col;
	int classes;
	uint8_t *pixels; /* NULL: only validate */
	uint8_t *labels;
};

static int is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around [*s, *e). */
static void trim(const uint8_t **s, const uint8_t **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

/* Parses [s, e) as an optionally signed decimal integer with blanks around
 * it. The value saturates at +-10^9 (enough to be out of any range). */
static enum cell_status cell_int(const uint8_t *s, const uint8_t *e, long *v)
{
	long x = 0;
	int neg = 0;
	trim(&s, &e);
	if (s == e)
		return CELL_EMPTY;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s == e)
		return CELL_NOT_INT;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return CELL_NOT_INT;
		if (x < 1000000000L)
			x = x * 10 + (*s - '0');
	}
	*v = neg ? -x : x;
	return CELL_OK;
}

/* The end of the line starting at s: its '\n', or end. */
static const uint8_t *line_end(const uint8_t *s, const uint8_t *end)
{
	const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
	return nl ? nl : end;
}

/* Whether the line [s, e) has a cell that is not a number (a header). */
static int looks_like_header(const uint8_t *s, const uint8_t *e)
{
	if (e > s && e[-1] == '\r')
		e--;
	for (;;) {
		const uint8_t *q = s;
		long v;
		while (q < e && *q != ',')
			q++;
		if (cell_int(s, q, &v) == CELL_NOT_INT)
			return 1;
		if (q == e)
			return 0;
		s = q + 1;
	}
}

/* Parses row number row (0-based among those kept) on line number line, the
 * text [s, e) without its '\n'. A wrong number of cells is reported before a
 * bad cell. */
static cnn_status csv_row(const struct csv *c, size_t row, int line,
                          const uint8_t *s, const uint8_t *e, cnn_error *err)
{
	uint8_t *px = c->pixels ? c->pixels + row * (c->ncells - 1) : NULL;
	const uint8_t *bad_s = NULL, *bad_e = NULL;
	enum cell_status bad = CELL_OK;
	size_t j = 0, bad_j = 0;
	long v;
	char text[CNN_QUOTE_SIZE];

	if (e > s && e[-1] == '\r')
		e--;
	{
		const uint8_t *ts = s, *te = e;
		trim(&ts, &te);
		if (ts == te)
			return cnn_err_set(
			    err, CNN_ERR_DATA, c->path, line, 1, NULL,
			    "empty line (expected %zu cells)", c->ncells);
	}
	for (;;) {
		const uint8_t *q = s;
		enum cell_status cs;
		/* The common case, bare digits, in one pass. */
		v = 0;
		while (q < e && *q >= '0' && *q <= '9') {
			if (v < 1000000000L)
				v = v * 10 + (*q - '0');
			q++;
		}
		if (q > s && (q == e || *q == ',')) {
			cs = CELL_OK;
		} else {
			while (q < e && *q != ',')
				q++;
			cs = cell_int(s, q, &v);
		}
		if (j < c->ncells && bad == CELL_OK) {
			int is_label = j == c->label_col;
			if (cs == CELL_OK &&
			    (v < 0 || v > (is_label ? c->classes - 1 : 255)))
				cs = CELL_RANGE;
			if (cs != CELL_OK) {
				bad = cs;
				bad_j = j;
				bad_s = s;
				bad_e = q;
			} else if (is_label) {
				if (c->labels)
					c->labels[row] = (uint8_t)v;
			} else if (px) {
				*px++ = (uint8_t)v;
			}
		}
		j++;
		if (q == e)
			break;
		s = q + 1;
	}
	if (j != c->ncells)
		return cnn_err_set(err, CNN_ERR_DATA, c->path, line,
		                   (int)(j < c->ncells ? j + 1 : c->ncells + 1),
		                   NULL, "row has %zu cells, expected %zu", j,
		                   c->ncells);
	if (bad == CELL_OK)
		return CNN_OK;
	trim(&bad_s, &bad_e);
	cnn_quote(text, bad_s, (size_t)(bad_e - bad_s));
	if (bad == CELL_EMPTY)
		return cnn_err_set(err, CNN_ERR_DATA, c->path, line,
		                   (int)bad_j + 1, NULL, "empty cell");
	if (bad == CELL_NOT_INT)
		return cnn_err_set(err, CNN_ERR_DATA, c->path, line,
		                   (int)bad_j + 1, NULL,
		                   "cell \"%s\" is not an integer", text);
	if (bad_j == c->label_col)
		return cnn_err_set(
		    err, CNN_ERR_DATA, c->path, line, (int)bad_j + 1, NULL,
		    "label %s is out of range 0..%d", text, c->classes - 1);
	return cnn_err_set(err, CNN_ERR_DATA, c->path, line, (int)bad_j + 1,
	                   NULL, "pixel value %s is out of range 0..255", text);
}

/* Parses the text [b, end) (the file without its trailing blank lines) into
 * d (zeroed). */
static cnn_status csv_parse(const cnn_data_source *src, size_t sample,
                            const uint8_t *b, const uint8_t *end,
                            cnn_dataset *d, cnn_error *err)
{
	struct csv c = {.path = src->path,
	                .ncells = sample + 1,
	                .label_col = (size_t)src->label_column,
	                .classes = src->classes};
	const uint8_t *s, *span_end;
	size_t n, keep, row;
	uint64_t need;
	long line = 1;
	cnn_status st = CNN_OK;

	if (b < end &&
	    (src->header == 1 ||
	     (src->header < 0 && looks_like_header(b, line_end(b, end))))) {
		b = line_end(b, end);
		b += b < end;
		line++;
	}
	if (b >= end)
		return cnn_err_file(err, CNN_ERR_DATA, src->path,
		                    "holds no data rows");

	/* Count the rows, and find where the kept ones end. */
	n = 1;
	keep = src->limit > 0 ? (size_t)src->limit : 0;
	span_end = end;
	for (s = b; (s = memchr(s, '\n', (size_t)(end - s))) != NULL; s++) {
		if (n == keep)
			span_end = s;
		n++;
	}
	if (keep == 0 || keep > n)
		keep = n;

	/* A valid row has at least one digit per cell and a comma between
	 * cells: if the kept rows cannot hold that, one of them is wrong, and
	 * parsing without storing finds it. */
	need = (uint64_t)keep * (2 * (uint64_t)c.ncells - 1);
	if (need <= (uint64_t)(span_end - b)) {
		c.pixels = malloc(keep * sample);
		c.labels = malloc(keep);
		if (!c.pixels || !c.labels)
			st = cnn_err_file(err, CNN_ERR_NOMEM, src->path,
			                  "out of memory (%zu rows of %zu "
			                  "pixels)",
			                  keep, sample);
	}
	for (row = 0, s = b; row < keep && st == CNN_OK; row++) {
		const uint8_t *e = line_end(s, end);
		st = csv_row(&c, row, line > INT_MAX ? INT_MAX : (int)line, s,
		             e, err);
		s = e + 1;
		line++;
	}
	if (st == CNN_OK && !c.pixels) /* cannot happen, by the count above */
		st = cnn_err_file(err, CNN_ERR_DATA, src->path,
		                  "rows are too short for %zu cells", c.ncells);
	if (st != CNN_OK) {
		free(c.pixels);
		free(c.labels);
		return st;
	}
	d->n = keep;
	memcpy(d->shape, src->shape, sizeof d->shape);
	d->sample_size = sample;
	d->pixels = c.pixels;
	d->labels = c.labels;
	d->classes = src->classes;
	return CNN_OK;
}

/* Refuses a carriage return that does not end a line ([b, end) has no
 * trailing line end): lines end with "\n" or "\r\n", and a file with
 * old Mac line ends ("\r" alone) would otherwise read as one long line. */
static cnn_status check_line_ends(const char *path, const uint8_t *b,
                                  const uint8_t *end, cnn_error *err)
{
	const uint8_t *r, *start = b;
	long line = 1;
	size_t col;

	for (r = b; (r = memchr(r, '\r', (size_t)(end - r))) != NULL; r += 2)
		if (r + 1 == end || r[1] != '\n')
			break;
	if (!r)
		return CNN_OK;
	for (const uint8_t *q = b; q < r; q++)
		if (*q == '\n') {
			line++;
			start = q + 1;
		}
	col = (size_t)(r - start) + 1;
	return cnn_err_set(err, CNN_ERR_DATA, path,
	                   line > INT_MAX ? INT_MAX : (int)line,
	                   col > INT_MAX ? INT_MAX : (int)col, NULL,
	                   "a carriage return inside a line (lines "
	                   "must end with \\n or \\r\\n)");
}

/* Parses the CSV text (len bytes at text, after gunzipping; no terminator
 * needed; src->path names it in messages) into d (zeroed). */
cnn_status cnn_csv_parse(cnn_dataset *d, const uint8_t *text, size_t len,
                         const cnn_data_source *src, cnn_error *err)
{
	const uint8_t *b = text, *end = text + len;
	size_t sample;
	cnn_status st;

	st = cnn_data_check_source(src, 1, &sample, err);
	if (st != CNN_OK)
		return st;
	if (len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
		b += 3; /* UTF-8 byte order mark */
	while (end > b &&
	       (is_blank(end[-1]) || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	st = check_line_ends(src->path, b, end, err);
	if (st != CNN_OK)
		return st;
	return csv_parse(src, sample, b, end, d, err);
}

/* Loads the CSV file src->path into d (zeroed): src is checked before the
 * file is read, then the file's content goes to cnn_csv_parse. */
cnn_status cnn_csv_load(cnn_dataset *d, const cnn_data_source *src,
                        cnn_error *err)
{
	uint8_t *buf;
	size_t len, sample;
	cnn_status st;

	if (cnn_data_check_source(src, 1, &sample, err) != CNN_OK ||
	    cnn_read_file(src->path, CNN_DATA_MAX, &buf, &len, err) != CNN_OK)
		return err->status;
	st = cnn_csv_parse(d, buf, len, src, err);
	free(buf);
	return st;
}

/*
 * plot.c - learning curves as a standalone SVG 1.1 document: the mean
 * training loss (left axis) and the training, validation and test
 * accuracies (right axis, in percent) per epoch, the best epoch marked.
 *
 * Layout (pixels, fixed): the title at the top, then the best-epoch label,
 * the plot area with both y axes beside it, the epoch axis below it and the
 * legend in a row at the bottom, so that no text ever lies over a curve.
 * Both y axes get the same number of intervals, chosen so that both have
 * 1-2-5 steps and fit their data best; the horizontal gridlines then belong
 * to both.
 *
 * Invariants
 *  - Every number printed is a pixel coordinate clamped to the canvas, or a
 *    tick value or accuracy computed from finite data: never "nan" or
 *    "inf", whatever the history holds. A NaN loss is a gap; an infinite or
 *    huge one (beyond LOSS_MAX) is left out of the axis range and drawn at
 *    the edge of the plot area. An accuracy outside [0, 1] (-1: no such
 *    set) is a gap, and a series with no value at all is left out.
 *  - Text from the caller (the title) is escaped for XML and reduced to
 *    valid UTF-8 without control characters, so the file always parses.
 *  - The document is built in memory, then replaces PATH atomically
 *    (cnn_write_atomically: a temporary file beside it, fsync, rename, the
 *    folder fsync'ed; the mode kept; never over a device or a folder):
 *    a browser reloading it during training never sees half a file, and a
 *    failed write leaves the previous one as it was.
 *  - printf's %f is locale-dependent, but the library never calls
 *    setlocale, so numbers are written in the C locale.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"

#include "bytes.h"
#include "io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The canvas and the plot area inside it. */
#define W      800
#define H      500
#define LEFT   76
#define RIGHT  (W - 76)
#define TOP    62
#define BOTTOM (H - 96)

/* Losses beyond this (or not finite) are drawn at the edge of the plot
 * area and do not stretch its axis. */
#define LOSS_MAX 1e12
/* Markers on every point up to this many epochs (and on lone points). */
#define MARKERS_MAX 40
/* Characters of the title shown; a longer one is cut with an ellipsis. */
#define TITLE_MAX 90

enum { S_LOSS, S_TRAIN, S_VAL, S_TEST, N_SERIES };

static const char *const series_name[N_SERIES] = {
    "training loss", "training accuracy", "validation accuracy",
    "test accuracy"};
static const char *const series_colour[N_SERIES] = {"#444444", "#1f77b4",
                                                    "#ff7f0e", "#2ca02c"};

/* An axis from lo to hi in n_steps steps of step. */
typedef struct axis {
	double lo, hi, step;
	int n_steps;
} axis;

typedef struct plot {
	const cnn_epoch_metrics *h;
	int n;
	double x0, x1; /* the epochs at the left and right edges */
	axis loss, acc;
	int present[N_SERIES]; /* whether the series has a value to draw */
} plot;

/* ======================================================================== */
/* Output                                                                   */

/* Appends printf-style text to b (an allocation failure sets b->failed). */
static void out(cnn_wbuf *b, const char *fmt, ...) CNN_PRINTF(2, 3);
static void out(cnn_wbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int k;
	uint8_t *p;

	va_start(ap, fmt);
	k = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (k < 0) {
		b->failed = 1;
		return;
	}
	p = cnn_wbuf_grow(b, (size_t)k + 1);
	if (!p)
		return;
	if ((size_t)k < sizeof small) {
		memcpy(p, small, (size_t)k);
	} else {
		va_start(ap, fmt);
		vsnprintf((char *)p, (size_t)k + 1, fmt, ap);
		va_end(ap);
	}
	b->len--; /* the NUL vsnprintf needs is not part of the text */
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 if the bytes
 * there are not one, or encode a character XML 1.0 does not allow (a
 * surrogate, U+FFFE, U+FFFF) or a C1 control character. */
static int utf8_char(const unsigned char *s)
{
	int len, k;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	for (k = 1; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xc2 && s[1] < 0xa0) || /* C1 controls */
	    (s[0] == 0xe0 && s[1] < 0xa0) || /* overlong */
	    (s[0] == 0xed && s[1] > 0x9f) || /* surrogates */
	    (s[0] == 0xef && s[1] == 0xbf && /* U+FFFE, U+FFFF */
	     s[2] >= 0xbe) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || /* overlong */
	    (s[0] == 0xf4 && s[1] > 0x8f))   /* beyond U+10FFFF */
		return 0;
	return len;
}

/* Appends at most max characters of text as XML character data (fit for an
 * attribute too): & < > " ' become entities, control characters and bytes
 * that are not valid UTF-8 become '?', and a longer text ends in an
 * ellipsis. */
static void out_text(cnn_wbuf *b, const char *text, int max)
{
	static const char *const entity[128] = {['&'] = "&amp;",
	                                        ['<'] = "&lt;",
	                                        ['>'] = "&gt;",
	                                        ['"'] = "&quot;",
	                                        ['\''] = "&apos;"};
	const unsigned char *s = (const unsigned char *)text;
	int shown = 0, len;

	for (; *s && shown < max; shown++) {
		if (*s < 0x80 && entity[*s]) {
			out(b, "%s", entity[*s]);
		} else if (*s >= 0x20 && *s < 0x7f) {
			cnn_put_u8(b, *s);
		} else if (*s >= 0x80 && (len = utf8_char(s)) > 0) {
			cnn_put_bytes(b, s, (size_t)len);
			s += len;
			continue;
		} else {
			cnn_put_u8(b, '?');
		}
		s++;
	}
	if (*s)
		out(b, "\xe2\x80\xa6"); /* U+2026, the ellipsis */
}

/* ======================================================================== */
/* Scales                                                                   */

/* The smallest 1-2-5 number (1, 2 or 5 times a power of ten) >= x > 0. */
static double nice_ceil(double x)
{
	double p = pow(10.0, floor(log10(x)));
	double m = x / p;
	if (m <= 1.0 + 1e-9)
		return p;
	if (m <= 2.0 + 1e-9)
		return 2.0 * p;
	if (m <= 5.0 + 1e-9)
		return 5.0 * p;
	return 10.0 * p;
}

/* An axis of k 1-2-5 steps covering the data in [a, b], as tight as it
 * gets, with its ends on multiples of the step. When cap_hi is set the axis
 * may not go beyond [0, 100] (the accuracy in percent); returns 0 if it
 * cannot then have k steps. */
static int fit_axis(axis *ax, double a, double b, int k, int cap_hi)
{
	double s = nice_ceil((b - a) / k);
	for (int tries = 0; tries < 8; tries++, s = nice_ceil(s * 1.5)) {
		double lo = floor(a / s + 1e-9) * s, hi = lo + k * s;
		if (hi < b - 1e-9 * s)
			continue;
		if (cap_hi && hi > 100.0 + 1e-9) {
			hi = 100.0;
			lo = hi - k * s;
			if (lo < -1e-9)
				return 0;
			if (lo > a + 1e-9 * s)
				continue;
		}
		ax->lo = lo;
		ax->hi = hi;
		ax->step = s;
		ax->n_steps = k;
		return 1;
	}
	return 0;
}

/* The loss of epoch e (NaN: a gap) and its accuracy on set s in percent
 * (NaN when outside [0, 1], e.g. -1 for no such set). */
static double value(const cnn_epoch_metrics *e, int s)
{
	double v = s == S_LOSS    ? e->loss
	           : s == S_TRAIN ? e->train_accuracy
	           : s == S_VAL   ? e->val_accuracy
	                          : e->test_accuracy;
	if (s == S_LOSS)
		return v;
	return v >= 0.0 && v <= 1.0 ? 100.0 * v : NAN;
}

/* Sets the epoch range, which series are present and both y axes: for each
 * number of intervals from 4 to 8, both axes are fitted, and the pair that
 * fills the plot area best wins (ties go to 5 or 6 intervals). */
static void scale(plot *p)
{
	double la = 0.0, lb = 0.0, aa = 101.0, ab = -1.0, best = -1.0;
	int have_loss = 0;

	p->x0 = p->n >= 2 ? 1.0 : 0.5;
	p->x1 = p->n >= 2 ? (double)p->n : 1.5;
	for (int i = 0; i < p->n; i++) {
		for (int s = 0; s < N_SERIES; s++) {
			double v = value(&p->h[i], s);
			if (isnan(v))
				continue;
			p->present[s] = 1;
			if (s != S_LOSS) {
				aa = v < aa ? v : aa;
				ab = v > ab ? v : ab;
			} else if (isfinite(v) && fabs(v) <= LOSS_MAX) {
				la = !have_loss || v < la ? v : la;
				lb = !have_loss || v > lb ? v : lb;
				have_loss = 1;
			}
		}
	}
	if (!have_loss || lb - la < 1e-12)
		lb = la + (have_loss && fabs(la) > 1e-12 ? fabs(la) : 1.0);
	if (la > 0.0)
		la = 0.0; /* a loss axis starts at 0 */
	if (ab < 0.0) {
		aa = 0.0;
		ab = 100.0;
	} else if (ab - aa < 2.0) { /* at least two percentage points */
		aa = aa - 1.0 < 0.0 ? 0.0 : aa - 1.0;
		ab = aa + 2.0 > 100.0 ? 100.0 : aa + 2.0;
		aa = ab - 2.0;
	}
	for (int k = 4; k <= 8; k++) {
		axis l, a;
		double fill;
		if (!fit_axis(&l, la, lb, k, 0) || !fit_axis(&a, aa, ab, k, 1))
			continue;
		fill = (lb - la) / (l.hi - l.lo) + (ab - aa) / (a.hi - a.lo) -
		       0.01 * fabs(k - 5.5);
		if (fill > best) {
			best = fill;
			p->loss = l;
			p->acc = a;
		}
	}
	if (best <
	    0.0) { /* cannot happen: k = 5 fits [0, 100] in steps of 20 */
		p->loss = (axis){la, lb, (lb - la) / 5, 5};
		p->acc = (axis){0.0, 100.0, 20.0, 5};
	}
}

/* v clamped to [lo, hi]; NaN gives lo. */
static double clamp(double v, double lo, double hi)
{
	return v > hi ? hi : v >= lo ? v : lo;
}

/* The pixel column of epoch e. */
static double px(const plot *p, double e)
{
	return clamp(LEFT + (e - p->x0) / (p->x1 - p->x0) * (RIGHT - LEFT),
	             LEFT, RIGHT);
}

/* The pixel row of v on axis ax, clamped to the plot area. */
static double py(const axis *ax, double v)
{
	return clamp(BOTTOM - (v - ax->lo) / (ax->hi - ax->lo) * (BOTTOM - TOP),
	             TOP, BOTTOM);
}

/* Formats tick value v of an axis with step step: as many decimals as the
 * step needs, never "-0". */
static void tick_label(char *buf, size_t size, double v, double step)
{
	int d = (int)ceil(-log10(step) - 1e-9);
	v = round(v / step) * step;
	if (fabs(v) < step * 1e-6)
		v = 0.0;
	if (step >= 1e6 || step < 1e-6)
		snprintf(buf, size, "%.3g", v);
	else
		snprintf(buf, size, "%.*f", d > 0 ? d : 0, v);
}

/* ======================================================================== */
/* Drawing                                                                  */

/* The gridlines, the axes with their ticks and labels. */
static void draw_axes(cnn_wbuf *b, const plot *p)
{
	char t[64];
	int step, first;

	out(b, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
	for (int i = 0; i <= p->loss.n_steps; i++) {
		double y =
		    BOTTOM - (double)i / p->loss.n_steps * (BOTTOM - TOP);
		out(b, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>\n",
		    LEFT, y, RIGHT, y);
	}
	/* epoch ticks: about eight 1-2-5 steps, and epoch 1 when it stands
	 * well apart from the first step */
	step = (int)nice_ceil(p->n >= 9 ? (p->n - 1) / 8.0 : 1.0);
	first = step >= 5 ? 1 : step;
	for (int e = first; e <= (p->n > 1 ? p->n : 1);
	     e = e == 1 && step > 1 ? step : e + step)
		out(b, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>\n",
		    px(p, e), TOP, px(p, e), BOTTOM);
	out(b, "</g>\n");

	out(b,
	    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n",
	    LEFT, TOP, RIGHT - LEFT, BOTTOM - TOP);

	out(b, "<g font-size=\"12\" fill=\"#333333\">\n");
	for (int e = first; e <= (p->n > 1 ? p->n : 1);
	     e = e == 1 && step > 1 ? step : e + step)
		out(b,
		    "<text x=\"%.2f\" y=\"%d\" "
		    "text-anchor=\"middle\">%d</text>\n",
		    px(p, e), BOTTOM + 18, e);
	for (int i = 0; i <= p->loss.n_steps; i++) {
		double y =
		    BOTTOM - (double)i / p->loss.n_steps * (BOTTOM - TOP);
		tick_label(t, sizeof t, p->loss.lo + i * p->loss.step,
		           p->loss.step);
		out(b,
		    "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
		    LEFT - 6, y + 4, t);
		tick_label(t, sizeof t, p->acc.lo + i * p->acc.step,
		           p->acc.step);
		out(b,
		    "<text x=\"%d\" y=\"%.2f\" "
		    "text-anchor=\"start\">%s</text>\n",
		    RIGHT + 6, y + 4, t);
	}
	out(b, "</g>\n");

	out(b,
	    "<g font-size=\"13\" fill=\"#333333\" text-anchor=\"middle\">\n");
	out(b, "<text x=\"%d\" y=\"%d\">epoch</text>\n", (LEFT + RIGHT) / 2,
	    BOTTOM + 40);
	out(b,
	    "<text x=\"18\" y=\"%d\" fill=\"%s\" "
	    "transform=\"rotate(-90 18 %d)\">loss</text>\n",
	    (TOP + BOTTOM) / 2, series_colour[S_LOSS], (TOP + BOTTOM) / 2);
	out(b,
	    "<text x=\"%d\" y=\"%d\" transform=\"rotate(-90 %d %d)\">"
	    "accuracy (%%)</text>\n",
	    W - 14, (TOP + BOTTOM) / 2, W - 14, (TOP + BOTTOM) / 2);
	out(b, "</g>\n");
}

/* Series s as a path broken at its gaps, with a marker on every point when
 * there are few epochs, and on lone points always (a one-point path would
 * be invisible). */
static void draw_series(cnn_wbuf *b, const plot *p, int s)
{
	const axis *ax = s == S_LOSS ? &p->loss : &p->acc;
	const char *c = series_colour[s];
	int pen = 0;

	out(b,
	    "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" "
	    "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"",
	    c, s == S_LOSS ? "2" : "1.8");
	for (int i = 0; i < p->n; i++) {
		double v = value(&p->h[i], s);
		if (isnan(v)) {
			pen = 0;
			continue;
		}
		out(b, "%s%.2f %.2f", pen ? " L" : (i ? " M" : "M"),
		    px(p, i + 1), py(ax, v));
		pen = 1;
	}
	out(b, "\"/>\n");
	for (int i = 0; i < p->n; i++) {
		double v = value(&p->h[i], s);
		int lone = (i == 0 || isnan(value(&p->h[i - 1], s))) &&
		           (i == p->n - 1 || isnan(value(&p->h[i + 1], s)));
		if (isnan(v) || (p->n > MARKERS_MAX && !lone))
			continue;
		out(b,
		    "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
		    px(p, i + 1), py(ax, v), c);
	}
}

/* The accuracy of epoch e (1-based) on the set the best epoch is chosen
 * by: validation, else test, else training; NaN if it has none. */
static double selection_accuracy(const plot *p, int e, int *series)
{
	static const int order[3] = {S_VAL, S_TEST, S_TRAIN};
	for (int k = 0; k < 3; k++) {
		double v = value(&p->h[e - 1], order[k]);
		if (!isnan(v)) {
			*series = order[k];
			return v;
		}
	}
	return NAN;
}

/* The best epoch: a dashed vertical line, a ring on the selection curve,
 * and "best 98.40% (epoch 38)" above the plot area (not beyond its ends). */
static void draw_best(cnn_wbuf *b, const plot *p, int best)
{
	char label[96];
	int s = S_TRAIN;
	double v = selection_accuracy(p, best, &s), x = px(p, best), half;

	if (isnan(v))
		snprintf(label, sizeof label, "best (epoch %d)", best);
	else
		snprintf(label, sizeof label, "best %.2f%% (epoch %d)", v,
		         best);
	out(b,
	    "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" "
	    "stroke=\"#777777\" stroke-width=\"1.2\" "
	    "stroke-dasharray=\"6 4\"/>\n",
	    x, TOP, x, BOTTOM);
	if (!isnan(v))
		out(b,
		    "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"5\" fill=\"none\" "
		    "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
		    x, py(&p->acc, v), series_colour[s]);
	/* about 7 pixels a character at 12 pixels */
	half = 3.5 * (double)strlen(label) + 4.0;
	out(b,
	    "<text x=\"%.2f\" y=\"%d\" font-size=\"12\" fill=\"#555555\" "
	    "text-anchor=\"middle\">%s</text>\n",
	    clamp(x, LEFT + half, RIGHT - half), TOP - 8, label);
}

/* The legend: one row below the epoch axis, centred, one entry a series
 * present. */
static void draw_legend(cnn_wbuf *b, const plot *p)
{
	double width = 0.0, x;
	for (int s = 0; s < N_SERIES; s++)
		if (p->present[s])
			width +=
			    34.0 + 7.0 * (double)strlen(series_name[s]) + 22.0;
	x = (W - width + 22.0) / 2.0;
	out(b, "<g font-size=\"12\" fill=\"#333333\">\n");
	for (int s = 0; s < N_SERIES; s++) {
		if (!p->present[s])
			continue;
		out(b,
		    "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" "
		    "stroke=\"%s\" stroke-width=\"2\"/>\n",
		    x, H - 22, x + 28.0, H - 22, series_colour[s]);
		out(b, "<text x=\"%.2f\" y=\"%d\">%s</text>\n", x + 34.0,
		    H - 18, series_name[s]);
		x += 34.0 + 7.0 * (double)strlen(series_name[s]) + 22.0;
	}
	out(b, "</g>\n");
}

/* The whole document. */
static void render(cnn_wbuf *b, const char *title, const plot *p, int best)
{
	out(b,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "font-family=\"sans-serif\">\n",
	    W, H, W, H);
	out(b, "<title>");
	out_text(b, title && title[0] ? title : "learning curves", TITLE_MAX);
	out(b, "</title>\n");
	out(b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
	if (title && title[0]) {
		out(b,
		    "<text x=\"%d\" y=\"28\" font-size=\"16\" "
		    "font-weight=\"bold\" fill=\"#222222\" "
		    "text-anchor=\"middle\">",
		    W / 2);
		out_text(b, title, TITLE_MAX);
		out(b, "</text>\n");
	}
	draw_axes(b, p);
	out(b,
	    "<defs><clipPath id=\"area\"><rect x=\"%d\" y=\"%d\" "
	    "width=\"%d\" height=\"%d\"/></clipPath></defs>\n",
	    LEFT - 4, TOP - 4, RIGHT - LEFT + 8, BOTTOM - TOP + 8);
	out(b, "<g clip-path=\"url(#area)\">\n");
	for (int s = N_SERIES - 1; s >= 0; s--) /* the loss on top */
		if (p->present[s])
			draw_series(b, p, s);
	out(b, "</g>\n");
	if (best > 0)
		draw_best(b, p, best);
	if (p->n == 0)
		out(b,
		    "<text x=\"%d\" y=\"%d\" font-size=\"16\" fill=\"#888888\" "
		    "text-anchor=\"middle\">no epoch yet</text>\n",
		    (LEFT + RIGHT) / 2, (TOP + BOTTOM) / 2);
	draw_legend(b, p);
	out(b, "</svg>\n");
}

/* Draws the chart (contract in cnn.h). Failures: CNN_ERR_USAGE for bad
 * arguments (no path, n < 0, no history, a best epoch not in 0..n),
 * CNN_ERR_NOMEM, and CNN_ERR_IO "PATH: cannot write plot: REASON" with PATH
 * left as it was. */
cnn_status cnn_plot_svg(const char *path, const char *title,
                        const cnn_epoch_metrics *history, int n, int best_epoch,
                        cnn_error *err)
{
	plot p = {0};
	cnn_wbuf b = {0};
	cnn_status st;

	cnn_err_clear(err);
	if (!path || !path[0])
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_plot_svg: no path given");
	if (n < 0 || (n > 0 && !history))
		return cnn_err_file(err, CNN_ERR_USAGE, path,
		                    "cnn_plot_svg: %s",
		                    n < 0 ? "n < 0" : "no history");
	if (best_epoch < 0 || best_epoch > n)
		return cnn_err_file(err, CNN_ERR_USAGE, path,
		                    "cnn_plot_svg: best epoch %d is not in "
		                    "0..%d",
		                    best_epoch, n);
	p.h = history;
	p.n = n;
	scale(&p);
	render(&b, title, &p, best_epoch);
	if (b.failed)
		st = cnn_err_file(err, CNN_ERR_NOMEM, path,
		                  "out of memory for a plot of %d epochs", n);
	else
		st = cnn_write_file(path, b.data, b.len, "plot", err);
	cnn_wbuf_free(&b);
	return st;
}

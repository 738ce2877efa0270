/*
 * progress.c - cnnrun's live progress bar (see progress.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PROGRESS_LINE_MAX 512

/* The columns of the terminal behind out: $COLUMNS when the ioctl does not
 * tell, else 80; at least 20 and at most PROGRESS_LINE_MAX. */
static int terminal_width(FILE *out)
{
	struct winsize ws;
	int w = 0;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0)
		w = ws.ws_col;
	if (w <= 0 && getenv("COLUMNS"))
		w = atoi(getenv("COLUMNS"));
	if (w <= 0)
		w = 80;
	if (w < 20)
		w = 20;
	return w > PROGRESS_LINE_MAX ? PROGRESS_LINE_MAX : w;
}

void progress_init(progress *p, FILE *out)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->width = terminal_width(out);
	/* one width for the whole run, so that the bar does not jitter: what
	 * the text around it usually leaves (it takes about 70 columns), in
	 * [8, 30]; progress_update narrows it for a line that would not fit */
	p->bar = p->width - 1 - 70;
	if (p->bar < 8)
		p->bar = 8;
	if (p->bar > 30)
		p->bar = 30;
	p->last_draw = -1.0;
}

/* The end of the bar into buf: "evaluating" after an epoch's last batch;
 * while more epochs follow, "run ETA M:SS", the time left in the run at
 * the pace of this run so far (its earlier epochs' evaluations included);
 * in the last epoch "ETA M:SS", the time left in it at this epoch's pace;
 * "ETA -" before there is a pace. */
static void format_eta(progress *p, const cnn_batch_progress *b, double now,
                       double ips, char *buf, size_t size)
{
	char d[24];
	double done, left;

	if (p->first_epoch == 0) {
		p->first_epoch = b->epoch;
		p->run_start = now - b->seconds;
	}
	done = (double)(b->epoch - p->first_epoch) +
	       (b->n_train ? (double)b->samples / (double)b->n_train : 0);
	if (b->batch >= b->batches) {
		snprintf(buf, size, "evaluating");
	} else if (b->epoch < b->epochs && done > 0) {
		left = (double)(b->epochs - p->first_epoch + 1) - done;
		cli_duration(d, sizeof d, (now - p->run_start) * left / done);
		snprintf(buf, size, "run ETA %s", d);
	} else if (ips > 0) {
		cli_duration(d, sizeof d,
		             (double)(b->n_train - b->samples) / ips);
		snprintf(buf, size, "ETA %s", d);
	} else {
		snprintf(buf, size, "ETA -");
	}
}

/* Draws "PREFIX[###...]TAIL" in place, the bar done/total full, cut to
 * the terminal's width. */
static void draw(progress *p, const char *prefix, size_t done, size_t total,
                 const char *tail)
{
	char line[PROGRESS_LINE_MAX + 1];
	int bar = p->bar;
	int room = p->width - 1 - (int)strlen(prefix) - 2 - (int)strlen(tail);
	if (bar > room)
		bar = room < 5 ? 5 : room;
	int full =
	    total ? (int)((double)bar * (double)done / (double)total) : bar;
	size_t n = 0;
	n += (size_t)snprintf(line, sizeof line, "%s[", prefix);
	for (int i = 0; i < bar && n < sizeof line - 1; i++)
		line[n++] = i < full ? '#' : '.';
	line[n] = '\0';
	snprintf(line + n, sizeof line - n, "]%s", tail);
	/* never wrap: a wrapped line could not be redrawn in place */
	if ((int)strlen(line) > p->width - 1)
		line[p->width - 1] = '\0';
	fprintf(p->out, "\r%s\033[K", line);
	fflush(p->out);
	p->drawn = 1;
}

void progress_update(progress *p, const cnn_batch_progress *b)
{
	const int last = b->batch >= b->batches;
	const double now = cli_seconds();
	char tail[160], rate[32], eta[32], prefix[64];

	if (!last && b->batch > 1 && now - p->last_draw < 0.1)
		return;
	p->last_draw = now;

	double ips = b->seconds > 0 ? (double)b->samples / b->seconds : 0;
	if (ips >= 1000)
		snprintf(rate, sizeof rate, "%.1fk", ips / 1000);
	else
		snprintf(rate, sizeof rate, "%.0f", ips);
	format_eta(p, b, now, ips, eta, sizeof eta);
	snprintf(prefix, sizeof prefix, "epoch %d/%d ", b->epoch, b->epochs);
	snprintf(tail, sizeof tail,
	         " %zu/%zu %s img/s loss %.4f train %.2f%% %s", b->batch,
	         b->batches, rate, b->loss, 100.0 * b->accuracy, eta);
	draw(p, prefix, b->batch, b->batches, tail);
}

void progress_load(progress *p, const cnn_load_progress *l)
{
	char tail[64];
	if (l->finished) {
		progress_clear(p);
		return;
	}
	snprintf(tail, sizeof tail, " %zu/%zu images", l->done, l->total);
	draw(p, "decoding ", l->done, l->total, tail);
}

void progress_clear(progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
	p->drawn = 0;
}

/*
 * progress.h - cnnrun's live progress bar on a terminal.
 *
 * One line on the stream (stderr), redrawn in place with a carriage return
 * after training batches, at most every 0.1 s and always after the first
 * and the last batch of an epoch; on an 80-column terminal:
 *
 *   epoch 3/50 [###...] 196/469 243.0k img/s loss 0.1851 train 94.89% ...
 *
 * ending with the time left in the whole run ("run ETA 0:08") while more
 * epochs follow, in the epoch ("ETA") in the last one, or "evaluating"
 * after an epoch's last batch. The bar is wider on a wider terminal; the
 * line is cut to the terminal's width, never wrapped. progress_clear() erases
 * it before anything else is printed, so that the per-epoch lines on stdout are
 * left alone when both streams go to the terminal.
 */
#ifndef CNN_PROGRESS_H
#define CNN_PROGRESS_H

#include "cnn.h"

#include <stdio.h>

typedef struct progress {
	FILE *out;
	int width;        /* the terminal's columns when it started */
	int bar;          /* the bar's width in characters */
	int drawn;        /* a bar is on the line now */
	double last_draw; /* monotonic seconds of the last redraw */
	int first_epoch;  /* the run's first epoch in this process (0: none) */
	double run_start; /* monotonic seconds when it started */
} progress;

/* Starts a progress bar on out (a terminal). */
void progress_init(progress *p, FILE *out);

/* Redraws the bar for b, unless the last redraw was less than 0.1 s ago and
 * b is neither the epoch's first batch nor its last (then the bar says the
 * test set is being evaluated). */
void progress_update(progress *p, const cnn_batch_progress *b);

/* Draws the bar of a folder data set's decoding ("decoding [###...]
 * 12288/60000 images"); erases it when l says the loading finished. */
void progress_load(progress *p, const cnn_load_progress *l);

/* Erases the bar, if one is drawn. */
void progress_clear(progress *p);

#endif /* CNN_PROGRESS_H */

/*
 * fuzz_png.c - libFuzzer target: the PNG reader (cnn_image_read_png, with
 * libpng), and for greyscale images the round trip through the PNG writer
 * (cnn_image_write_png).
 *
 * Input layout: the whole input is the PNG file (no header), handed to the
 * reader through a scratch file (fuzz_file_put). A decoded image's pixels
 * (channels * width * height bytes) are all read, so that a short buffer is
 * caught. An image that decodes to 1 channel is written back as PNG to a
 * scratch file in a folder made once with mkdtemp (the atomic writer cannot
 * write to a fuzz_file's /proc/self/fd/N: it makes its temporary file beside
 * the path) and read again: the pixels must be the same, byte for byte.
 * A library built without libpng is not fuzzed: the target returns at once.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The round trip's scratch folder: made on first use, removed at exit. */
static char rt_dir[4096];
static char rt_path[4096 + 16];
static int rt_state; /* 0: not made yet; 1: made; -1: cannot be made */

/* Removes the (by then empty) scratch folder at exit. */
static void rt_remove(void)
{
	if (rt_state == 1) {
		unlink(rt_path);
		rmdir(rt_dir);
	}
}

/* Returns the path the round trip writes to, making its folder on first use
 * (under $TMPDIR, else /dev/shm when writable, so that the writer's fsync
 * is cheap, else /tmp), or NULL when no folder can be made. */
static const char *rt_scratch(void)
{
	const char *base;

	if (rt_state == 0) {
		base = getenv("TMPDIR");
		if (!base || !base[0])
			base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm"
			                                            : "/tmp";
		rt_state = -1;
		if ((size_t)snprintf(rt_dir, sizeof rt_dir,
		                     "%s/fuzz_png.XXXXXX",
		                     base) < sizeof rt_dir &&
		    mkdtemp(rt_dir)) {
			snprintf(rt_path, sizeof rt_path, "%s/rt.png", rt_dir);
			rt_state = 1;
			atexit(rt_remove);
		}
	}
	return rt_state == 1 ? rt_path : NULL;
}

/* Reads every byte of a decoded image, so that a buffer shorter than
 * channels * width * height is caught by AddressSanitizer or valgrind;
 * abort()s when the image's description is impossible. */
static void touch_image(const uint8_t *px, int channels, int width, int height)
{
	volatile unsigned sink = 0;
	size_t n;

	if (!px || (channels != 1 && channels != 3) || width < 1 || height < 1)
		abort();
	n = (size_t)channels * (size_t)width * (size_t)height;
	for (size_t i = 0; i < n; i++)
		sink += px[i];
	(void)sink;
}

/* Writes the greyscale image px back as PNG and reads it again; abort()s
 * when the writer refuses an image the reader gave or the pixels come back
 * different. A failure to write (disk full, out of memory) skips it. */
static void round_trip(const uint8_t *px, int width, int height)
{
	const char *path = rt_scratch();
	uint8_t *back = NULL;
	int c, w, h;
	cnn_error err;
	cnn_status st;

	if (!path)
		return;
	st = cnn_image_write_png(path, px, width, height, &err);
	fuzz_outcome(st, &err);
	if (st == CNN_ERR_IO || st == CNN_ERR_NOMEM)
		return;
	if (st != CNN_OK) {
		fprintf(stderr,
		        "round trip: the writer refuses a %dx%d image "
		        "the reader gave\n",
		        width, height);
		abort();
	}
	st = cnn_image_read_png(path, &back, &c, &w, &h, &err);
	fuzz_outcome(st, &err);
	unlink(path);
	if (st == CNN_ERR_IO || st == CNN_ERR_NOMEM)
		return;
	if (st != CNN_OK || c != 1 || w != width || h != height ||
	    memcmp(back, px, (size_t)width * (size_t)height) != 0) {
		fprintf(stderr,
		        "round trip: a %dx%d greyscale image came back as "
		        "%s %dx%d, %d channels\n",
		        width, height, st == CNN_OK ? "different" : "an error",
		        w, h, c);
		abort();
	}
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fuzz_file f = {NULL, -1, ""};
	const char *path;
	uint8_t *px;
	int c, w, h;
	cnn_error err;
	cnn_status st;

	if (!cnn_have_png())
		return 0;
	path = fuzz_file_put(&f, data, size, 0);
	if (!path)
		return 0;
	st = cnn_image_read_png(path, &px, &c, &w, &h, &err);
	fuzz_outcome(st, &err);
	if (st != CNN_OK) {
		/* (the reader clears its outputs first) */
		if (px || c || w || h)
			abort();
		return 0;
	}
	touch_image(px, c, w, h);
	if (c == 1)
		round_trip(px, w, h);
	free(px);
	return 0;
}

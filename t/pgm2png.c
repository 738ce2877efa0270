/*
 * pgm2png - converts a PGM image to PNG with the library's own reader and
 * writer, so that the shell tests can make PNG inputs without other tools.
 *
 *   pgm2png IN.pgm OUT.png      exit 0, or 1 with one line on stderr
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	cnn_error err;
	uint8_t *px = NULL;
	int w, h;
	char buf[1200];

	if (argc != 3) {
		fprintf(stderr, "usage: pgm2png IN.pgm OUT.png\n");
		return 2;
	}
	if (cnn_image_read_pgm(argv[1], &px, &w, &h, &err) != CNN_OK ||
	    cnn_image_write_png(argv[2], px, w, h, &err) != CNN_OK) {
		fprintf(stderr, "%s\n",
		        cnn_error_string(&err, buf, sizeof buf));
		free(px);
		return 1;
	}
	free(px);
	return 0;
}

/*
 * pgm2jpeg - converts a PGM image to JPEG (the library's PGM reader,
 * libjpeg's compressor), so that the tests can make JPEG inputs without
 * other tools. Built only with libjpeg (Automake conditional HAVE_JPEG).
 *
 *   pgm2jpeg [--rgb] [--quality Q] [--progressive] IN.pgm OUT.jpg...
 *
 * Any number of IN OUT pairs (one process for a whole data set), each
 * converted with the same options.
 * Greyscale (1 component) by default. --rgb writes a 3-component YCbCr
 * JPEG without chroma subsampling whose pixel of grey value v is
 *   R = v, G = 255 - v, B = 64 + v / 2
 * (integer division), so that colour decoding and RGB-to-grey conversion
 * are exercised. --quality is libjpeg's 1..100 (default 95);
 * --progressive writes a progressive JPEG. Exit 0; 1 with one line on
 * stderr when an IN cannot be read or an OUT written (the pairs before it
 * are written, those after it not tried); 2 for a bad command line.
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* libjpeg's error_exit: prints its message as our one line and exits 1
 * (a test helper may exit; the library never does). */
static void on_error(j_common_ptr cinfo)
{
	char buf[JMSG_LENGTH_MAX];
	(*cinfo->err->format_message)(cinfo, buf);
	fprintf(stderr, "pgm2jpeg: %s\n", buf);
	exit(1);
}

/* Compresses the w x h grey image px into f. */
static void compress(FILE *f, const uint8_t *px, int w, int h, int rgb,
                     int quality, int progressive)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	JSAMPROW row;
	uint8_t *line = malloc((size_t)w * 3);
	int x, y;

	if (!line) {
		fprintf(stderr, "pgm2jpeg: out of memory\n");
		exit(1);
	}
	c.err = jpeg_std_error(&e);
	e.error_exit = on_error;
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = rgb ? 3 : 1;
	c.in_color_space = rgb ? JCS_RGB : JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	if (rgb) /* 4:4:4: no chroma subsampling */
		for (x = 0; x < 3; x++)
			c.comp_info[x].h_samp_factor =
			    c.comp_info[x].v_samp_factor = 1;
	if (progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	for (y = 0; y < h; y++) {
		const uint8_t *g = px + (size_t)y * (size_t)w;
		for (x = 0; x < w && rgb; x++) {
			line[3 * x] = g[x];
			line[3 * x + 1] = (uint8_t)(255 - g[x]);
			line[3 * x + 2] = (uint8_t)(64 + g[x] / 2);
		}
		row = rgb ? line : (JSAMPROW)g;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(line);
}

/* Converts the PGM file in to the JPEG file out; 0, or 1 with one line on
 * stderr. */
static int convert(const char *in, const char *out, int rgb, int quality,
                   int progressive)
{
	cnn_error err;
	uint8_t *px = NULL;
	int w, h;
	char buf[1200];
	FILE *f;

	if (cnn_image_read_pgm(in, &px, &w, &h, &err) != CNN_OK) {
		fprintf(stderr, "%s\n",
		        cnn_error_string(&err, buf, sizeof buf));
		return 1;
	}
	f = fopen(out, "wb");
	if (!f) {
		fprintf(stderr, "%s: cannot write\n", out);
		free(px);
		return 1;
	}
	compress(f, px, w, h, rgb, quality, progressive);
	free(px);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: cannot write\n", out);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1, rgb = 0, quality = 95, progressive = 0;
	char *end;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--rgb")) {
			rgb = 1;
		} else if (!strcmp(argv[i], "--progressive")) {
			progressive = 1;
		} else if (!strcmp(argv[i], "--quality") && i + 1 < argc) {
			quality = (int)strtol(argv[++i], &end, 10);
			if (*end || quality < 1 || quality > 100)
				break;
		} else {
			break;
		}
	}
	if (i == argc || (argc - i) % 2 || !strncmp(argv[i], "--", 2)) {
		fprintf(stderr, "usage: pgm2jpeg [--rgb] [--quality Q] "
		                "[--progressive] IN.pgm OUT.jpg...\n");
		return 2;
	}
	for (; i < argc; i += 2)
		if (convert(argv[i], argv[i + 1], rgb, quality, progressive))
			return 1;
	return 0;
}

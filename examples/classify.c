/*
 * classify.c - the smallest useful program built on libcnn: load a trained
 * checkpoint, read one image and print the class the model gives it.
 *
 *     cc -o classify classify.c $(pkg-config --cflags --libs libcnn)
 *     ./classify mnist_cnn.ckpt.gz seven.pgm
 *     seven.pgm: class 7 (probability 1.0000)
 *
 * The image is a PGM file (P5 or P2), or a PNG file when the library was
 * built with libpng (cnn_have_png()); it must have exactly the size the model
 * was trained on (nothing is resized). Every error is one line on stderr, and
 * the exit status is cnnrun's: 0 success, 1 a failure at run time (a missing or
 * damaged checkpoint, an unreadable file), 2 a usage or data error (wrong
 * arguments, a malformed image or one of the wrong size).
 *
 * Copy it freely: it uses nothing but <cnn.h> and the C library.
 */
#include <cnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints err as one line ("file: message") and returns its exit status. */
static int fail(const cnn_error *err)
{
	char line[1200];
	fprintf(stderr, "%s\n", cnn_error_string(err, line, sizeof line));
	return cnn_status_exit_code(err->status);
}

/* 1 when the file at path starts with the PNG signature. */
static int is_png(const char *path)
{
	static const unsigned char sig[8] = {0x89, 'P',  'N',  'G',
	                                     '\r', '\n', 0x1a, '\n'};
	unsigned char head[8];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(head, 1, sizeof head, f) : 0;
	if (f)
		fclose(f);
	return n == sizeof head && memcmp(head, sig, sizeof sig) == 0;
}

/* Reads a PNG or PGM image into *pixels (CHW bytes, to be freed with
 * free()) with its channels, width and height. Without libpng
 * (cnn_have_png() is 0) a PNG file is refused with a message saying so. */
static cnn_status read_image(const char *path, uint8_t **pixels, int *c, int *w,
                             int *h, cnn_error *err)
{
	if (is_png(path))
		return cnn_image_read_png(path, pixels, c, w, h, err);
	*c = 1;
	return cnn_image_read_pgm(path, pixels, w, h, err);
}

int main(int argc, char **argv)
{
	cnn_error err = {0}; /* filled by the first call that fails */
	cnn_model *model = NULL;
	uint8_t *pixels = NULL;
	float *probs = NULL;
	int shape[3], channels, width, height, classes, best, rc = 0;

	if (argc != 3) {
		/* PNG files can be read when libcnn has libpng */
		fprintf(stderr, "usage: classify CKPT.gz IMAGE.pgm%s\n",
		        cnn_have_png() ? "|IMAGE.png" : "");
		return 2;
	}

	/* The checkpoint holds the model description and the weights; the
	 * whole file is verified before anything is used. No overrides. */
	if (cnn_model_load(&model, argv[1], NULL, 0, &err) != CNN_OK)
		return fail(&err);

	if (read_image(argv[2], &pixels, &channels, &width, &height, &err) !=
	    CNN_OK) {
		rc = fail(&err);
		goto out;
	}

	/* The model takes channels x height x width bytes per image. A size
	 * mismatch is our own error, reported the library's way: fill a
	 * cnn_error record and format it like any other. */
	cnn_model_input_shape(model, shape);
	if (channels != shape[0] || height != shape[1] || width != shape[2]) {
		err = (cnn_error){.status = CNN_ERR_DATA};
		snprintf(err.file, sizeof err.file, "%s", argv[2]);
		snprintf(err.message, sizeof err.message,
		         "the image is %dx%d with %d channel(s); the model "
		         "expects %dx%d with %d (nothing is resized)",
		         width, height, channels, shape[2], shape[1], shape[0]);
		rc = fail(&err);
		goto out;
	}

	/* One probability per class; predict scales the bytes as the
	 * training data was scaled and uses the kept (best) weights. */
	classes = cnn_model_classes(model);
	probs = malloc((size_t)classes * sizeof *probs);
	if (!probs) {
		fprintf(stderr, "%s: out of memory\n", argv[2]);
		rc = 1;
		goto out;
	}
	if (cnn_model_predict(model, pixels, 1, probs, &err) != CNN_OK) {
		rc = fail(&err);
		goto out;
	}

	/* The most likely class (the first one on a tie, as cnnrun). */
	best = 0;
	for (int k = 1; k < classes; k++)
		if (probs[k] > probs[best])
			best = k;
	printf("%s: class %d (probability %.4f)\n", argv[2], best,
	       (double)probs[best]);

out:
	free(probs);
	free(pixels);
	cnn_model_free(model); /* NULL is fine */
	return rc;
}

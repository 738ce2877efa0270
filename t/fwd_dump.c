/*
 * fwd_dump.c - libcnn's own answers, for checking exported models against:
 *
 *   t/fwd_dump CKPT.gz N INPUT.f32 PROBS.f32 [IMAGES-idx3-ubyte.gz]
 *
 * classifies N images with cnn_model_predict (the kept weights) and writes
 * what the network was fed (the pixels times the training data's scale,
 * N x C x H x W float32) and what it answered (N x CLASSES float32), both
 * little-endian as this machine stores them, then prints "N C H W CLASSES
 * SCALE" on stdout. The images are the first N of the IDX file when one is
 * given, else N images of pseudo-random bytes (the same on every run).
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const cnn_error *err)
{
	char buf[1200];
	fprintf(stderr, "fwd_dump: %s\n",
	        cnn_error_string(err, buf, sizeof buf));
	return 1;
}

/* N images: the IDX file's first ones, or pseudo-random bytes. */
static uint8_t *images(const char *idx, size_t n, const int shape[3],
                       int classes, cnn_error *err)
{
	const size_t sz = (size_t)shape[0] * shape[1] * shape[2];
	uint8_t *px = malloc(n * sz + 1);
	uint64_t x = 0x9e3779b97f4a7c15u;

	if (!px)
		return NULL;
	if (!idx) {
		for (size_t i = 0; i < n * sz; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			px[i] = (uint8_t)(x >> 24);
		}
		return px;
	}
	cnn_data_source src = {.format = "idx",
	                       .images = idx,
	                       .classes = classes,
	                       .limit = (long)n};
	memcpy(src.shape, shape, sizeof src.shape);
	cnn_dataset *d;
	if (cnn_dataset_load(&d, &src, err) != CNN_OK) {
		free(px);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(px + i * sz,
		       cnn_dataset_image(d, i < cnn_dataset_count(d) ? i : 0),
		       sz);
	cnn_dataset_free(d);
	return px;
}

/* Writes n floats to path; 0 on success. */
static int write_floats(const char *path, const float *v, size_t n)
{
	FILE *f = fopen(path, "wb");
	int bad = !f || fwrite(v, sizeof *v, n, f) != n;
	if (f && fclose(f))
		bad = 1;
	if (bad)
		fprintf(stderr, "fwd_dump: cannot write %s\n", path);
	return bad;
}

int main(int argc, char **argv)
{
	cnn_error err = {0};
	cnn_model *m;
	int shape[3], k;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: fwd_dump CKPT.gz N INPUT.f32 PROBS.f32 "
		                "[IMAGES.gz]\n");
		return 2;
	}
	size_t n = (size_t)strtoul(argv[2], NULL, 10);
	if (cnn_model_load(&m, argv[1], NULL, 0, &err) != CNN_OK)
		return fail(&err);
	cnn_model_input_shape(m, shape);
	k = cnn_model_classes(m);
	const size_t sz = (size_t)shape[0] * shape[1] * shape[2];
	const float scale = (float)cnn_model_scale(m);
	uint8_t *px = images(argc == 6 ? argv[5] : NULL, n, shape, k, &err);
	float *in = malloc((n * sz + 1) * sizeof *in);
	float *probs = malloc((n * (size_t)k + 1) * sizeof *probs);
	int rc = 1;
	if (!px || !in || !probs) {
		if (err.status == CNN_OK)
			fprintf(stderr, "fwd_dump: out of memory\n");
		else
			fail(&err);
	} else if (cnn_model_predict(m, px, n, probs, &err) != CNN_OK) {
		fail(&err);
	} else {
		for (size_t i = 0; i < n * sz; i++)
			in[i] = (float)px[i] * scale;
		rc = write_floats(argv[3], in, n * sz) ||
		     write_floats(argv[4], probs, n * (size_t)k);
		if (!rc)
			printf("%zu %d %d %d %d %.9g\n", n, shape[0], shape[1],
			       shape[2], k, (double)scale);
	}
	free(px);
	free(in);
	free(probs);
	cnn_model_free(m);
	return rc;
}

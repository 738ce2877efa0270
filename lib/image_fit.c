/*
 * image_fit.c - the one rule that fits a decoded image to a model's input
 * (cnn_image_fit): its channels first (grey to RGB, RGB to luma), then its
 * size (refused, or scaled bilinearly).
 *
 * Invariants
 *  - Integers only: the same bytes on every machine and compiler, so a data
 *    set built for training and an image given to --predict are fitted
 *    the same way.
 *  - The bilinear rule is PyTorch's interpolate(mode="bilinear",
 *    align_corners=False, antialias=False) with its weights rounded to
 *    1/2048 (as OpenCV's INTER_LINEAR): for an output column x,
 *        num = (2x + 1) * in_w - out_w,   den = 2 * out_w
 *    (the source coordinate sx = (x + 0.5) * in_w / out_w - 0.5 is
 *    num / den); num <= 0 gives x0 = 0, fx = 0; else x0 = num div den and
 *        fx = (4096 * (num mod den) + den) div (2 * den)
 *    (round((sx - x0) * 2048), halves up); x0 >= in_w - 1 gives
 *    x0 = in_w - 1, fx = 0; x1 = min(x0 + 1, in_w - 1). Rows likewise
 *    (y0, y1, fy). Then, with p the source plane,
 *        row0 = (2048 - fx) * p[y0][x0] + fx * p[y0][x1]
 *        row1 = (2048 - fx) * p[y1][x0] + fx * p[y1][x1]
 *        out  = ((2048 - fy) * row0 + fy * row1 + 2^21) >> 22.
 *    doc/api.md ("Fitting an image to a model") says the same.
 *  - Nothing is allocated beyond the column table of one resize and, when
 *    a colour image is resized to grey, its grey plane. A grey image
 *    resized to colour is scaled once and its plane copied.
 *  - Reentrant: no static mutable state.
 */
#include <config.h>

#include "image.h"

#include <stdlib.h>
#include <string.h>

/* The fixed-point unit of the bilinear weights, and its square's shift. */
#define FIT_ONE   2048
#define FIT_SHIFT 22

/* One source coordinate of the bilinear rule (the header's formulas):
 * output position x of out, input size in; sets *x0 and the weight *fx of
 * x0 + 1, in 1/FIT_ONE. */
static void fit_coord(int x, int in, int out, int *x0, int *fx)
{
	int64_t num = (int64_t)(2 * (int64_t)x + 1) * in - out;
	int64_t den = 2 * (int64_t)out;

	*x0 = 0;
	*fx = 0;
	if (num > 0) {
		*x0 = (int)(num / den);
		*fx = (int)((4096 * (num % den) + den) / (2 * den));
	}
	if (*x0 >= in - 1) {
		*x0 = in - 1;
		*fx = 0;
	}
}

/* Scales one plane of in_w x in_h bytes to out_w x out_h with the bilinear
 * rule; xs holds the columns' x0 and fx (2 * out_w ints, from fit_coord). */
static void fit_plane(const uint8_t *src, int in_w, int in_h, uint8_t *dst,
                      int out_w, int out_h, const int *xs)
{
	int x, y, y0, y1, fy, x0, x1, fx;
	const uint8_t *r0, *r1;
	uint32_t top, bottom;

	for (y = 0; y < out_h; y++) {
		fit_coord(y, in_h, out_h, &y0, &fy);
		y1 = y0 + 1 < in_h ? y0 + 1 : in_h - 1;
		r0 = src + (size_t)y0 * (size_t)in_w;
		r1 = src + (size_t)y1 * (size_t)in_w;
		for (x = 0; x < out_w; x++) {
			x0 = xs[2 * x];
			fx = xs[2 * x + 1];
			x1 = x0 + 1 < in_w ? x0 + 1 : in_w - 1;
			top = (uint32_t)(FIT_ONE - fx) * r0[x0] +
			      (uint32_t)fx * r0[x1];
			bottom = (uint32_t)(FIT_ONE - fx) * r1[x0] +
			         (uint32_t)fx * r1[x1];
			dst[(size_t)y * (size_t)out_w + (size_t)x] =
			    (uint8_t)(((uint64_t)(FIT_ONE - fy) * top +
			               (uint64_t)fy * bottom +
			               (1u << (FIT_SHIFT - 1))) >>
			              FIT_SHIFT);
		}
	}
}

/* Converts channels (1 <-> 3, or a copy) of a plane-size image from src
 * (c_in planes) into dst (c_out planes); the caller checked the counts. */
static void fit_channels(const uint8_t *src, int c_in, uint8_t *dst, int c_out,
                         size_t plane)
{
	size_t i;
	int k;

	if (c_in == c_out) {
		memcpy(dst, src, plane * (size_t)c_in);
	} else if (c_in == 1) {
		for (k = 0; k < 3; k++)
			memcpy(dst + (size_t)k * plane, src, plane);
	} else {
		/* ITU-R BT.601 luma, rounded to nearest */
		for (i = 0; i < plane; i++)
			dst[i] =
			    (uint8_t)((299u * src[i] + 587u * src[plane + i] +
			               114u * src[2 * plane + i] + 500u) /
			              1000u);
	}
}

/* Checks cnn_image_fit's arguments: CNN_ERR_USAGE for impossible ones,
 * CNN_ERR_DATA for an image the rule cannot fit to shape. */
static cnn_status fit_check(const char *path, const uint8_t *src, int channels,
                            int width, int height, const int shape[3],
                            cnn_resize resize, const uint8_t *dst,
                            cnn_error *err)
{
	const char *p = path ? path : "image";

	if (!src || !dst || !shape)
		return cnn_err(err, CNN_ERR_USAGE, "cnn_image_fit: no %s given",
		               !src   ? "image"
		               : !dst ? "output"
		                      : "shape");
	if (resize != CNN_RESIZE_NONE && resize != CNN_RESIZE_BILINEAR)
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_image_fit: unknown resize mode %d",
		               (int)resize);
	if (width < 1 || width > IMAGE_MAX_SIDE || height < 1 ||
	    height > IMAGE_MAX_SIDE || channels < 1 || channels > 4 ||
	    shape[0] < 1 || shape[0] > 4 || shape[1] < 1 ||
	    shape[1] > IMAGE_MAX_SIDE || shape[2] < 1 ||
	    shape[2] > IMAGE_MAX_SIDE)
		return cnn_err_file(err, CNN_ERR_USAGE, p,
		                    "cnn_image_fit: image %dx%dx%d or shape "
		                    "%dx%dx%d out of range",
		                    channels, height, width, shape[0], shape[1],
		                    shape[2]);
	if (channels != shape[0] && !((channels == 1 || channels == 3) &&
	                              (shape[0] == 1 || shape[0] == 3)))
		return cnn_err_file(err, CNN_ERR_DATA, p,
		                    "image has %d channels; the model expects "
		                    "%d (only 1 and 3 are converted)",
		                    channels, shape[0]);
	if ((width != shape[2] || height != shape[1]) &&
	    resize == CNN_RESIZE_NONE)
		return cnn_err_file(err, CNN_ERR_DATA, p,
		                    "image is %dx%d; the model expects %dx%d "
		                    "(set resize: bilinear to scale it)",
		                    width, height, shape[2], shape[1]);
	return CNN_OK;
}

/* Fits one image to a model's input shape (contract in cnn.h). */
cnn_status cnn_image_fit(const char *path, const uint8_t *src, int channels,
                         int width, int height, const int shape[3],
                         cnn_resize resize, uint8_t *dst, cnn_error *err)
{
	size_t plane = (size_t)width * (size_t)height, out_plane;
	const uint8_t *from = src;
	uint8_t *conv = NULL;
	int *xs, k;
	cnn_status st;

	cnn_err_clear(err);
	st = fit_check(path, src, channels, width, height, shape, resize, dst,
	               err);
	if (st != CNN_OK)
		return st;
	out_plane = (size_t)shape[1] * (size_t)shape[2];
	if (width == shape[2] && height == shape[1]) {
		fit_channels(src, channels, dst, shape[0], plane);
		return CNN_OK;
	}
	/* colour to grey before scaling (one plane to scale), grey to colour
	 * after (the one plane scaled, then copied) */
	if (channels == 3 && shape[0] == 1) {
		conv = malloc(plane);
		if (!conv)
			return cnn_err_file(
			    err, CNN_ERR_NOMEM, path ? path : "image",
			    "out of memory (fitting the image)");
		fit_channels(src, 3, conv, 1, plane);
		from = conv;
	}
	xs = malloc(2 * (size_t)shape[2] * sizeof *xs);
	if (!xs) {
		free(conv);
		return cnn_err_file(err, CNN_ERR_NOMEM, path ? path : "image",
		                    "out of memory (fitting the image)");
	}
	for (k = 0; k < shape[2]; k++)
		fit_coord(k, width, shape[2], &xs[2 * k], &xs[2 * k + 1]);
	for (k = 0; k < (channels < shape[0] ? channels : shape[0]); k++)
		fit_plane(from + (size_t)k * plane, width, height,
		          dst + (size_t)k * out_plane, shape[2], shape[1], xs);
	for (k = channels; k < shape[0]; k++) /* grey to colour */
		memcpy(dst + (size_t)k * out_plane, dst, out_plane);
	free(xs);
	free(conv);
	return CNN_OK;
}

/*
 * augment.c - turning one sample of pixel bytes into the network's floats:
 * the training set's random augmentation (shift, crop, horizontal flip),
 * the pixel scale and the per-channel normalisation (data.normalize).
 *
 * Order, for every sample: translate (shift and crop, their offsets added),
 * zero filled with the byte 0; flip left-right; multiply by scale; then
 * normalise, x = ((float)byte * scale - mean[c]) / std[c] in float.
 *
 * Invariants
 *  - The draws are stateless hashes of (seed, epoch, index), each kind of
 *    draw on its own stream (its own salt): adding crop or flip leaves the
 *    shifts a seed draws unchanged, and any thread may fill any sample in
 *    any order, before or after a resume, with the same result.
 *  - No augmentation and no normalisation is cnn_scale_bytes's plain copy,
 *    bit for bit (the fast path); with them, the same float expression per
 *    pixel whatever the path.
 */
#include "data.h"
#include "kernels.h"
#include "rng.h"

/* The streams of one sample's hash (see sample_key): shift's dy and dx,
 * crop's dy and dx, the flip. */
enum { S_SHIFT_Y = 1, S_SHIFT_X, S_CROP_Y, S_CROP_X, S_FLIP };

/* The hash of one training sample: index in the training set (not in the
 * epoch's shuffled order), epoch 1-based. Each draw finalises it plus its
 * own stream number. */
static uint64_t sample_key(uint64_t seed, uint64_t epoch, uint64_t index)
{
	uint64_t h = cnn_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
	h = cnn_mix64(h ^ (epoch + UINT64_C(0x3c6ef372fe94f82a)));
	return cnn_mix64(h ^ (index + UINT64_C(0xdaa66d2c7ddf743f)));
}

/* A value in [-max, max] from stream s of key h (the 64-bit hash reduced
 * modulo 2*max+1: the bias, below 2^-59, is negligible). */
static int draw_offset(uint64_t h, int s, int max)
{
	uint64_t span = 2 * (uint64_t)max + 1;
	return (int)(cnn_mix64(h + (uint64_t)s) % span) - max;
}

/* The shift of one training sample: *dy and *dx, each in [-max, max], on
 * streams 1 and 2 of the sample's hash. A pure function of its arguments,
 * holding no state, so threads may draw in any order and a resumed run
 * draws the same shifts as an uninterrupted one. max <= 0 gives 0, 0. */
void cnn_augment_draw(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx)
{
	uint64_t h;

	*dy = *dx = 0;
	if (max <= 0)
		return;
	h = sample_key(seed, epoch, index);
	*dy = draw_offset(h, S_SHIFT_Y, max);
	*dx = draw_offset(h, S_SHIFT_X, max);
}

/* The crop of one training sample, as the translation it amounts to: *dy
 * and *dx each in [-padding, padding], on streams 3 and 4 (independent of
 * the shift's). padding <= 0 gives 0, 0. */
void cnn_augment_draw_crop(uint64_t seed, uint64_t epoch, uint64_t index,
                           int padding, int *dy, int *dx)
{
	uint64_t h;

	*dy = *dx = 0;
	if (padding <= 0)
		return;
	h = sample_key(seed, epoch, index);
	*dy = draw_offset(h, S_CROP_Y, padding);
	*dx = draw_offset(h, S_CROP_X, padding);
}

/* Whether one training sample is flipped: the top bit of stream 5, so 1
 * for about half the samples. */
int cnn_augment_draw_flip(uint64_t seed, uint64_t epoch, uint64_t index)
{
	return (int)(cnn_mix64(sample_key(seed, epoch, index) + S_FLIP) >> 63);
}

/* Writes one sample of shape[0] channels of shape[1] x shape[2] bytes
 * (CHW) into dst as floats multiplied by scale, shifted dy rows down and dx
 * columns right (negative: up, left), zero filled:
 *     dst[c][y][x] = src[c][y - dy][x - dx] * scale,
 * or 0 where (y - dy, x - dx) is outside the image. dy = dx = 0 is the
 * plain scaled copy (bit for bit); a shift of the height or width or more
 * gives zeros. dst and src must not overlap. */
void cnn_augment_shift(float *dst, const uint8_t *src, const int shape[3],
                       float scale, int dy, int dx)
{
	const int C = shape[0], H = shape[1], W = shape[2];
	/* the destination columns [x0, x1) come from the source */
	const int x0 = dx > 0 ? (dx < W ? dx : W) : 0;
	const int x1 = dx < 0 ? (W + dx > 0 ? W + dx : 0) : W;

	if (dy == 0 && dx == 0) {
		cnn_scale_bytes(src, scale, dst, (size_t)C * H * W);
		return;
	}
	for (int c = 0; c < C; c++) {
		const uint8_t *sp = src + (size_t)c * H * W;
		float *dp = dst + (size_t)c * H * W;
		for (int y = 0; y < H; y++) {
			float *row = dp + (size_t)y * W;
			int sy = y - dy;
			if (sy < 0 || sy >= H) {
				for (int x = 0; x < W; x++)
					row[x] = 0.0f;
				continue;
			}
			const uint8_t *srow = sp + (size_t)sy * W;
			for (int x = 0; x < x0; x++)
				row[x] = 0.0f;
			if (x1 > x0)
				cnn_scale_bytes(srow + x0 - dx, scale, row + x0,
				                (size_t)(x1 - x0));
			for (int x = x1 > x0 ? x1 : x0; x < W; x++)
				row[x] = 0.0f;
		}
	}
}

/* One row's run of n pixels: out[k] = f(s[k * step]) with f the scale and,
 * when norm, the channel's normalisation (mean m, std d). The hot loop. */
static void map_run(float *out, const uint8_t *s, long step, int n, float scale,
                    int norm, float m, float d)
{
	if (norm)
		for (int k = 0; k < n; k++)
			out[k] = ((float)s[k * step] * scale - m) / d;
	else
		for (int k = 0; k < n; k++)
			out[k] = (float)s[k * step] * scale;
}

/* cnn_augment_sample's general path: every pixel read through the
 * translation and the flip (see the contract below). */
static void sample_loop(float *dst, const uint8_t *src, const int shape[3],
                        float scale, const float *norm, int dy, int dx,
                        int flip)
{
	const int C = shape[0], H = shape[1], W = shape[2];
	/* destination column x reads source column x - dx, or, flipped,
	 * W - 1 - x - dx: the columns [x0, x1) are inside the source */
	const long lo = flip ? -(long)dx : dx,
	           hi = flip ? (long)W - dx : W + dx;
	const int x0 = (int)(lo < 0 ? 0 : lo > W ? W : lo);
	const int x1 = (int)(hi < x0 ? x0 : hi > W ? W : hi);

	for (int c = 0; c < C; c++) {
		const float m = norm ? norm[c] : 0.0f;
		const float d = norm ? norm[C + c] : 1.0f;
		const float zero = norm ? (0.0f * scale - m) / d : 0.0f;
		const uint8_t *sp = src + (size_t)c * H * W;
		float *dp = dst + (size_t)c * H * W;
		for (int y = 0; y < H; y++) {
			float *row = dp + (size_t)y * W;
			const int sy = y - dy;
			const int in = sy >= 0 && sy < H;
			for (int x = 0; x < (in ? x0 : W); x++)
				row[x] = zero;
			if (!in)
				continue;
			const uint8_t *srow = sp + (size_t)sy * W;
			if (x1 > x0)
				map_run(row + x0,
				        srow +
				            (flip ? W - 1 - x0 - dx : x0 - dx),
				        flip ? -1 : 1, x1 - x0, scale,
				        norm != NULL, m, d);
			for (int x = x1; x < W; x++)
				row[x] = zero;
		}
	}
}

/* Writes one sample (CHW bytes of shape) into dst as the network's floats:
 * translated dy rows down and dx columns right, zero filled with the byte
 * 0, then, with flip, mirrored left-right (out[c][y][x] = t[c][y][W-1-x]),
 * then each byte v mapped to (float)v * scale, or with norm (shape[0]
 * means then shape[0] stds; NULL: none) to ((float)v * scale - mean[c]) /
 * std[c]. Without flip and norm this is cnn_augment_shift, bit for bit.
 * dst and src must not overlap. */
void cnn_augment_sample(float *dst, const uint8_t *src, const int shape[3],
                        float scale, const float *norm, int dy, int dx,
                        int flip)
{
	if (!flip && !norm)
		cnn_augment_shift(dst, src, shape, scale, dy, dx);
	else
		sample_loop(dst, src, shape, scale, norm, dy, dx, flip);
}

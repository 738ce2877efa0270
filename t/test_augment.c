/*
 * test_augment.c - the training set's augmentation and the pixels'
 * normalisation (lib/augment.c): cnn_augment_sample against a reference
 * loop written from the documented order (translate, zero fill with the
 * byte 0, flip, scale, normalise), the normalisation's exact float
 * expression on a few pixels, the crop and flip draws (range, coverage,
 * balance, a function of (seed, epoch, index) only, streams of their own so
 * that the shifts a seed draws are those of earlier versions), and the
 * spec's reading of data.normalize and augment.
 *
 * Every comparison of floats is exact (memcmp or ==): the contract is the
 * expression, bit for bit.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"
#include "rng.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define C 2
#define H 5
#define W 7
#define N (C * H * W)

/* The documented transform, one pixel at a time. */
static void reference(float *dst, const uint8_t *src, float scale,
                      const float *norm, int dy, int dx, int flip)
{
	for (int c = 0; c < C; c++)
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				int tx = flip ? W - 1 - x : x; /* flip of t */
				int sy = y - dy, sx = tx - dx; /* t from src */
				uint8_t v = 0;
				if (sy >= 0 && sy < H && sx >= 0 && sx < W)
					v = src[(c * H + sy) * W + sx];
				float f = (float)v * scale;
				if (norm)
					f = (f - norm[c]) / norm[C + c];
				dst[(c * H + y) * W + x] = f;
			}
}

/* cnn_augment_sample against the reference for every translation in
 * [-W-1, W+1]^2 (beyond the image too), flipped or not, normalised or not. */
static void sample_vs_reference(void)
{
	const int shape[3] = {C, H, W};
	const float norm[2 * C] = {0.485f, 0.456f, 0.229f, 0.224f};
	const float scale = 1.0f / 255.0f;
	uint8_t src[N];
	float got[N], want[N];
	int bad[4] = {0}, cases = 0;

	for (int i = 0; i < N; i++)
		src[i] = (uint8_t)(cnn_hash64(7, (uint64_t)i) >> 56);
	for (int dy = -W - 1; dy <= W + 1; dy++)
		for (int dx = -W - 1; dx <= W + 1; dx++, cases++)
			for (int k = 0; k < 4; k++) {
				const float *nm = k & 2 ? norm : NULL;
				int flip = k & 1;
				memset(got, 0xff, sizeof got);
				cnn_augment_sample(got, src, shape, scale, nm,
				                   dy, dx, flip);
				reference(want, src, scale, nm, dy, dx, flip);
				bad[k] += memcmp(got, want, sizeof got) != 0;
			}
	ok(!bad[0], "translation alone: the reference, %d cases (%d differ)",
	   cases, bad[0]);
	ok(!bad[1],
	   "translation then horizontal flip: the reference loop "
	   "(%d differ)",
	   bad[1]);
	ok(!bad[2], "translation, normalised: the reference (%d differ)",
	   bad[2]);
	ok(!bad[3], "translation, flip, normalised: the reference (%d differ)",
	   bad[3]);

	/* a flip alone on a row 0..6: its mirror */
	int mirrored = 1;
	cnn_augment_sample(got, src, shape, 1.0f, NULL, 0, 0, 1);
	for (int c = 0; c < C; c++)
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				mirrored &=
				    got[(c * H + y) * W + x] ==
				    (float)src[(c * H + y) * W + W - 1 - x];
	ok(mirrored, "flip (0, 0): out[c][y][x] = src[c][y][W-1-x]");

	/* without flip and normalisation: cnn_augment_shift's bits */
	int same = 1;
	for (int dy = -2; dy <= 2; dy++)
		for (int dx = -3; dx <= 3; dx++) {
			cnn_augment_sample(got, src, shape, scale, NULL, dy, dx,
			                   0);
			cnn_augment_shift(want, src, shape, scale, dy, dx);
			same &= !memcmp(got, want, sizeof got);
		}
	ok(same, "no flip, no normalisation: cnn_augment_shift, bit for bit");
}

/* The normalisation's expression on a few pixels written out, the zero
 * fill among them. */
static void normalise_pixels(void)
{
	const int shape[3] = {C, 1, 3};
	const uint8_t src[6] = {0, 128, 255, 10, 200, 77};
	const float scale = 0.00392156862745098f;
	const float norm[4] = {0.5f, 0.1307f, 0.25f, 0.3081f};
	float got[6];

	cnn_augment_sample(got, src, shape, scale, norm, 0, 0, 0);
	ok(got[1] == ((float)128 * scale - 0.5f) / 0.25f &&
	       got[2] == ((float)255 * scale - 0.5f) / 0.25f &&
	       got[4] == ((float)200 * scale - 0.1307f) / 0.3081f,
	   "channel c: ((float)pixel * scale - mean[c]) / std[c]");
	ok(got[0] == -2.0f, "0 with mean 0.5, std 0.25: -2 (%g)",
	   (double)got[0]);
	/* shifted one column right: column 0 is the fill, (0 * scale -
	 * mean) / std, per channel */
	cnn_augment_sample(got, src, shape, scale, norm, 0, 1, 0);
	ok(got[0] == -2.0f && got[3] == (0.0f * scale - 0.1307f) / 0.3081f &&
	       got[1] == ((float)0 * scale - 0.5f) / 0.25f &&
	       got[5] == ((float)200 * scale - 0.1307f) / 0.3081f,
	   "the zero fill of a shift is the byte 0 normalised");
	/* flipped and shifted right by one: t = [fill, 10, 200], mirrored */
	cnn_augment_sample(got, src, shape, scale, norm, 0, 1, 1);
	ok(got[3] == ((float)200 * scale - 0.1307f) / 0.3081f &&
	       got[5] == (0.0f * scale - 0.1307f) / 0.3081f,
	   "shift then flip: the fill ends on the left's mirror");
}

/* The shift as versions before crop and flip drew it (the same code,
 * written out): a seed's shifts must not change. */
static void old_shift(uint64_t seed, uint64_t epoch, uint64_t index, int max,
                      int *dy, int *dx)
{
	uint64_t span = 2 * (uint64_t)max + 1, h;
	h = cnn_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
	h = cnn_mix64(h ^ (epoch + UINT64_C(0x3c6ef372fe94f82a)));
	h = cnn_mix64(h ^ (index + UINT64_C(0xdaa66d2c7ddf743f)));
	*dy = (int)(cnn_mix64(h + 1) % span) - max;
	*dx = (int)(cnn_mix64(h + 2) % span) - max;
}

/* cnn_augment_draw_crop: in [-P, P], every value, balanced, independent
 * of the shift; the shift unchanged. */
static void crop_draws(void)
{
	enum { P = 3, S = 2 * P + 1, DRAWS = 4900 };
	int count[S][S] = {{0}}, in_range = 1, balanced = 1, old_same = 1;
	int equal = 0, joint[S][5] = {{0}}, joint_ok = 1;

	for (uint64_t i = 0; i < DRAWS; i++) {
		int dy, dx, sy, sx, oy, ox;
		cnn_augment_draw_crop(11, 3, i, P, &dy, &dx);
		if (dy < -P || dy > P || dx < -P || dx > P) {
			in_range = 0;
			continue;
		}
		count[dy + P][dx + P]++;
		cnn_augment_draw(11, 3, i, 2, &sy, &sx);
		old_shift(11, 3, i, 2, &oy, &ox);
		old_same &= sy == oy && sx == ox;
		joint[dy + P][sy + 2]++;
		cnn_augment_draw(11, 3, i, P, &sy, &sx);
		equal += sy == dy && sx == dx;
	}
	/* 100 expected per cell; 55..145 is 4.5 standard deviations */
	for (int a = 0; a < S; a++)
		for (int b = 0; b < S; b++)
			balanced &= count[a][b] >= 55 && count[a][b] <= 145;
	ok(in_range, "crop draws for padding %d are in [-%d, %d]", P, P, P);
	ok(balanced, "they cover the %d pairs about evenly", S * S);
	ok(old_same, "the shifts a seed draws are those of earlier versions");
	/* crop's dy against shift's dy: 140 expected per cell of 7 x 5 */
	for (int a = 0; a < S; a++)
		for (int b = 0; b < 5; b++)
			joint_ok &= joint[a][b] >= 80 && joint[a][b] <= 200;
	ok(joint_ok && equal < 2 * DRAWS / (S * S),
	   "crop draws are independent of the shift's (%d of %d equal, "
	   "about %d by chance)",
	   equal, DRAWS, DRAWS / (S * S));
	int dy, dx;
	cnn_augment_draw_crop(11, 3, 5, 0, &dy, &dx);
	ok(dy == 0 && dx == 0, "padding 0 draws no crop");
}

/* The draws depend only on (seed, epoch, index): the same arguments in
 * any order give the same values; other seeds, epochs, indices others. */
static void draws_are_functions(void)
{
	enum { M = 2000 };
	int *first = malloc(3 * M * sizeof *first), repeat = 1;
	int by_seed = 0, by_epoch = 0, flips = 0, flip_seed = 0;
	int flip_epoch = 0, flip_index = 0;

	if (!first) {
		ok(0, "memory");
		return;
	}
	for (int i = 0; i < M; i++) {
		cnn_augment_draw_crop(5, 2, (uint64_t)i, 4, &first[3 * i],
		                      &first[3 * i + 1]);
		first[3 * i + 2] = cnn_augment_draw_flip(5, 2, (uint64_t)i);
	}
	for (int i = M - 1; i >= 0; i--) { /* the other way round */
		int dy, dx, f;
		cnn_augment_draw_crop(5, 2, (uint64_t)i, 4, &dy, &dx);
		f = cnn_augment_draw_flip(5, 2, (uint64_t)i);
		repeat &= dy == first[3 * i] && dx == first[3 * i + 1] &&
		          f == first[3 * i + 2];
		cnn_augment_draw_crop(6, 2, (uint64_t)i, 4, &dy, &dx);
		by_seed += dy != first[3 * i] || dx != first[3 * i + 1];
		cnn_augment_draw_crop(5, 3, (uint64_t)i, 4, &dy, &dx);
		by_epoch += dy != first[3 * i] || dx != first[3 * i + 1];
		flips += first[3 * i + 2];
		flip_seed += cnn_augment_draw_flip(6, 2, (uint64_t)i) != f;
		flip_epoch += cnn_augment_draw_flip(5, 3, (uint64_t)i) != f;
		if (i > 0)
			flip_index += first[3 * (i - 1) + 2] != f;
	}
	ok(repeat,
	   "the same (seed, epoch, index) draws the same crop and flip");
	/* 80 of 81 differ by chance: 1975 expected */
	ok(by_seed > 1900 && by_epoch > 1900,
	   "other seeds and epochs draw other crops (%d, %d of %d differ)",
	   by_seed, by_epoch, M);
	/* 1000 expected, sd 22 */
	ok(flips > 900 && flips < 1100,
	   "about half the samples are flipped (%d of %d)", flips, M);
	ok(flip_seed > 900 && flip_seed < 1100 && flip_epoch > 900 &&
	       flip_epoch < 1100 && flip_index > 900 && flip_index < 1100,
	   "the flip changes with the seed, epoch and index like a coin "
	   "(%d, %d, %d of %d)",
	   flip_seed, flip_epoch, flip_index, M);
	free(first);
}

/* data.normalize and augment as the spec reads them. */
static void spec_reading(void)
{
	static const char yaml[] =
	    "input: {channels: 3, height: 8, width: 8}\n"
	    "layers: [{type: dense, units: 4}, {type: softmax}]\n"
	    "data:\n"
	    "  train: {format: csv, path: x.csv, augment: {flip: horizontal,"
	    " crop: {padding: 2}, shift: 1}}\n"
	    "  normalize: {mean: [0.1, 0.2, 0.3], std: [1, 2, 0.5]}\n";
	cnn_tree t;
	cnn_spec s;
	cnn_error err;

	if (!ok(cnn_tree_parse(&t, yaml, strlen(yaml), "n.yaml", &err) ==
	            CNN_OK,
	        "a description with normalize and augment parses")) {
		diag("%s", err.message);
		return;
	}
	if (ok(cnn_spec_from_tree(&s, &t, &err) == CNN_OK, "and validates")) {
		const float *n = s.normalize;
		ok(n && n[0] == 0.1f && n[1] == 0.2f && n[2] == 0.3f &&
		       n[3] == 1.0f && n[4] == 2.0f && n[5] == 0.5f,
		   "normalize: the means then the stds, as floats");
		ok(s.train.flip == 1 && s.train.crop == 2 && s.train.shift == 1,
		   "augment: flip horizontal, crop padding 2, shift 1");
		cnn_spec_free(&s);
	} else {
		diag("%s", err.message);
	}
	cnn_tree_free(&t);
}

int main(void)
{
	plan_no_plan();
	sample_vs_reference();
	normalise_pixels();
	crop_draws();
	draws_are_functions();
	spec_reading();
	return done();
}

/*
 * fuzz_checkpoint.c - libFuzzer target: the checkpoint reader
 * (cnn_checkpoint_parse: gzip, records, the embedded description, tensors
 * and state).
 *
 * The first byte of the input chooses what the rest is:
 *   bit 0 clear: the *uncompressed* content (signature, version, records);
 *                this target makes every record's CRC-32 right and gzips
 *                it, so that mutations reach the parsers behind the checks;
 *   bit 0 set:   the checkpoint file's raw bytes (the gzip layer and the
 *                checksums themselves);
 *   bits 1-2:    overrides applied when loading (none, the optimiser, the
 *                epochs, the layer sizes), as cnnrun --resume --set does.
 * A loaded model is asked for the tensors and state the tools print.
 */
#include "fuzz.h"
#include "model.h"

#include "bytes.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const sets[4][2] = {
    {NULL, NULL},
    {"optimizer.type=sgd", NULL},
    {"training.epochs=3", "training.keep=last"},
    {"layers.0.units=3", "input.width=3"},
};

/* Rewrites the CRC-32 after each record of the content c (n bytes: a
 * 12-byte signature and version, then records of tag, u64 length, payload,
 * CRC), up to the first record that does not fit. */
static void fix_crcs(uint8_t *c, size_t n)
{
	size_t off = 12;
	while (n - off >= 12 + 4 && off < n) {
		uint64_t len = cnn_le64(c + off + 4);
		if (len > n - off - 12 - 4)
			break;
		size_t end = off + 12 + (size_t)len;
		cnn_store_le32(c + end,
		               (uint32_t)crc32_z(0L, c + off, end - off));
		off = end + 4;
	}
}

/* Reads what cnninspect shows of a loaded model. */
static void touch_model(const cnn_model *m)
{
	cnn_train_state ts;
	cnn_tensor_info t;
	volatile double sink = 0;
	int i, n = cnn_model_tensor_count(m);

	for (i = 0; i < n; i++)
		if (cnn_model_tensor(m, i, &t) == CNN_OK && t.size) {
			sink += t.data[0] + t.data[t.size - 1];
			if (t.best)
				sink += t.best[t.size - 1];
		}
	cnn_model_train_state(m, &ts);
	if (cnn_model_history_count(m) > 0)
		sink += cnn_model_history(m)[0].loss;
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const char *const *ov;
	cnn_model *m = NULL;
	cnn_error err;
	uint8_t *gz = NULL;
	size_t gz_len;
	int mode, n_ov;
	cnn_status st;

	if (!ready) {
		cnn_set_memory_limit((size_t)256 << 20);
		ready = 1;
	}
	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	ov = sets[(mode >> 1) & 3];
	n_ov = ov[0] ? (ov[1] ? 2 : 1) : 0;
	if (!(mode & 1)) {
		uint8_t *content = malloc(size ? size : 1);
		if (!content)
			return 0;
		memcpy(content, data, size);
		if (size >= 12)
			fix_crcs(content, size);
		int r = fuzz_gzip(content, size, &gz, &gz_len);
		free(content);
		if (r != 0)
			return 0;
		data = gz;
		size = gz_len;
	}
	cnn_err_clear(&err);
	st = cnn_checkpoint_parse(&m, data, size, "fuzz.ckpt.gz", ov, n_ov,
	                          &err);
	fuzz_outcome(st, &err);
	if (st == CNN_OK) {
		touch_model(m);
		cnn_model_free(m);
	}
	free(gz);
	return 0;
}

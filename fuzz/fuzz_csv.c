/*
 * fuzz_csv.c - libFuzzer target: the CSV reader (cnn_csv_parse, and
 * cnn_csv_load with cnn_read_file's plain and gzip paths).
 *
 * Input layout:
 *   byte 0     flags: bit 0 read through a file (cnn_csv_load) instead of
 *              memory; bit 1 gzip the file (files only); bits 2-3 header:
 *              0 none, 1 present, 2 and 3 detect
 *   byte 1     channels - 1 (mod 3)
 *   byte 2, 3  height - 1, width - 1 (mod 8)
 *   byte 4     classes - 1 (1..256)
 *   byte 5     label column (mod pixels + 2: one value out of range)
 *   byte 6     limit (mod 8; 0: all)
 *   then the CSV text.
 * A loaded dataset's samples and labels are all read.
 */
#include "fuzz.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#define HEAD 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fuzz_file file = {NULL, -1, ""};
	cnn_data_source src;
	cnn_dataset *d;
	cnn_error err;
	size_t pixels;
	int flags, h;
	cnn_status st;

	if (size < HEAD)
		return 0;
	flags = data[0];
	h = (flags >> 2) & 3;
	memset(&src, 0, sizeof src);
	src.format = "csv";
	src.header = h == 0 ? 0 : h == 1 ? 1 : -1;
	src.shape[0] = 1 + data[1] % 3;
	src.shape[1] = 1 + data[2] % 8;
	src.shape[2] = 1 + data[3] % 8;
	pixels =
	    (size_t)src.shape[0] * (size_t)src.shape[1] * (size_t)src.shape[2];
	src.classes = 1 + data[4];
	src.label_column = (int)(data[5] % (pixels + 2));
	src.limit = data[6] % 8;
	src.path = "data.csv";
	data += HEAD;
	size -= HEAD;

	d = calloc(1, sizeof *d);
	if (!d)
		abort();
	cnn_err_clear(&err);
	if (flags & 1) {
		src.path = fuzz_file_put(&file, data, size, flags & 2);
		if (!src.path) {
			free(d);
			return 0;
		}
		st = cnn_csv_load(d, &src, &err);
	} else {
		st = cnn_csv_parse(d, data, size, &src, &err);
	}
	fuzz_outcome(st, &err);
	if (st == CNN_OK)
		fuzz_touch_dataset(d);
	cnn_dataset_free(d);
	return 0;
}

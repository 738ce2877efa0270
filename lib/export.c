/*
 * export.c - cnn_model_export: picks the kept weights, has the format's
 * builder make the file in memory (export_onnx.c, export_c.c) and writes
 * it atomically (io.c).
 */
#include "export.h"

#include "io.h"

#include <stdlib.h>
#include <string.h>

/* The model's name as a C identifier into buf (size > 1): letters, digits
 * and '_' kept, anything else '_', a leading digit prefixed with "m_". */
static void c_identifier(const char *name, char *buf, size_t size)
{
	size_t n = 0;

	if (*name >= '0' && *name <= '9' && size > 3) {
		memcpy(buf, "m_", 2);
		n = 2;
	}
	for (; *name && n + 1 < size; name++) {
		char c = *name;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '_';
		buf[n++] = ok ? c : '_';
	}
	if (n == 0)
		buf[n++] = 'm';
	buf[n] = '\0';
}

cnn_status cnn_model_export(cnn_model *m, const char *path,
                            cnn_export_format format, cnn_error *err)
{
	char name[CNN_NAME_MAX + 3];
	uint8_t *data = NULL;
	char *text = NULL;
	size_t len = 0;
	cnn_status st;

	cnn_err_clear(err);
	if (!m || !path || !path[0])
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_model_export: no %s given",
		               m ? "path" : "model");
	if (format == CNN_EXPORT_ONNX) {
		st = cnn_export_onnx(m, cnn_model_kept(m), &data, &len, err);
	} else if (format == CNN_EXPORT_C) {
		c_identifier(cnn_model_name(m), name, sizeof name);
		st = cnn_export_c(m, cnn_model_kept(m), name, &text, &len, err);
		data = (uint8_t *)text;
	} else {
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_model_export: unknown format %d",
		               (int)format);
	}
	if (st == CNN_OK)
		st = cnn_write_file(path, data, len, "exported model", err);
	free(data);
	return st;
}

/*
 * export_onnx.c - placeholder: the onnx builder is being written.
 */
#include "export.h"

cnn_status cnn_export_onnx(const cnn_model *m, const float *w, uint8_t **out,
                           size_t *len, cnn_error *err)
{
	(void)m;
	(void)w;
	*out = NULL;
	*len = 0;
	return cnn_err(err, CNN_ERR_USAGE, "ONNX export: not written yet");
}

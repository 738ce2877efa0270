/*
 * export_c.c - placeholder: the c builder is being written.
 */
#include "export.h"

cnn_status cnn_export_c(const cnn_model *m, const float *w, const char *name,
                        char **out, size_t *len, cnn_error *err)
{
	(void)m;
	(void)w;
	(void)name;
	*out = NULL;
	*len = 0;
	return cnn_err(err, CNN_ERR_USAGE, "C export: not written yet");
}

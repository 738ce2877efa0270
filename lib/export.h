/*
 * export.h - the model for other runtimes: the builders behind
 * cnn_model_export (export.c), one file per format. Each builds the whole
 * file in memory from the model and the weights arena it is given (laid out
 * as m->params); export.c writes it atomically.
 */
#ifndef CNN_EXPORT_H
#define CNN_EXPORT_H

#include "model.h"

/* The ONNX model (IR 7, opset 13) of m with the weights w, as protobuf
 * bytes in *out (malloc'ed, *len bytes). A layer ONNX cannot express is
 * CNN_ERR_CONFIG naming it. */
cnn_status cnn_export_onnx(const cnn_model *m, const float *w, uint8_t **out,
                           size_t *len, cnn_error *err);

/* The C99 source of m with the weights w in *out (malloc'ed and
 * NUL-terminated, *len bytes without the NUL); name is the C identifier
 * that prefixes its function (NAME_predict) and constants. */
cnn_status cnn_export_c(const cnn_model *m, const float *w, const char *name,
                        char **out, size_t *len, cnn_error *err);

#endif /* CNN_EXPORT_H */

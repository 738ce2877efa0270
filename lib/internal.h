/*
 * internal.h - the types and functions shared by the modules of libcnn.
 *
 * Data flows one way:
 *   YAML text -> tree (tree.c) -> spec (spec.c, layers' configure) ->
 *   graph (graph.c: shapes, parameter arenas) -> trainer (train.c, optim.c)
 *   -> checkpoint (checkpoint.c).
 * The hot loops live in kernels.c only.
 *
 * This header is the ground floor: limits, macros and the error record's
 * helpers. The rooms above it each have their own header:
 *   tree.h   the YAML tree (tree.c) and the typed getters (schema)
 *   rng.h    random numbers and the counter hash (rng.c)
 *   init.h   initialisers (init.c)
 *   data.h   data sets (data.c, data_idx.c, data_csv.c)
 *   kernels.h the hot loops (kernels.c), nothing of the model
 *   layer.h  the layer interface, the registry and the layer toolkit
 *   model.h  spec, graph, loss, optimiser, training, checkpoints
 *
 * Invariants
 *  - Activations are float, batch-major, each sample in CHW order.
 *  - Parameters, gradients and optimiser moments are flat arenas of the same
 *    size and order (layer by layer, weight then bias), so the optimiser is
 *    one loop and a checkpoint is a list of named slices.
 *  - Nothing here prints or exits; errors go through cnn_err_set().
 */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include "cnn.h"
#include "pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define CNN_PATH_MAX   4096
#define CNN_NAME_MAX   64
#define CNN_MAX_LAYERS 256

#if defined(__GNUC__)
#define CNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNN_PRINTF(a, b)
#endif

/* ======================================================================== */
/* Errors (error.c)                                                         */

/* Fills err unless it already holds an error (the first error wins). file may
 * be NULL; line/col 0 when unknown; path may be NULL. Returns status. */
cnn_status cnn_err_set(cnn_error *err, cnn_status status, const char *file,
                       int line, int col, const char *path, const char *fmt,
                       ...) CNN_PRINTF(7, 8);
/* Clears err to "no error". */
void cnn_err_clear(cnn_error *err);

/* The common shapes of cnn_err_set, each returning status:
 *   cnn_err       no location ("what (detail)");
 *   cnn_err_file  at a file as a whole ("FILE: what");
 *   cnn_err_nomem CNN_ERR_NOMEM "out of memory" followed by " " and doing
 *                 when it is not NULL ("out of memory reading checkpoint"),
 *                 at file when it is not NULL.
 * An error at a YAML node is cnn_node_error (tree.h). */
cnn_status cnn_err(cnn_error *err, cnn_status status, const char *fmt, ...)
    CNN_PRINTF(3, 4);
cnn_status cnn_err_file(cnn_error *err, cnn_status status, const char *file,
                        const char *fmt, ...) CNN_PRINTF(4, 5);
cnn_status cnn_err_nomem(cnn_error *err, const char *file, const char *doing);

/* ======================================================================== */
/* Quoting user text in messages (error.c)                                  */

/* The most bytes of user text a message quotes, and the buffer to quote it
 * into (room for the cut and the "..." that marks it). */
#define CNN_QUOTE_MAX  40
#define CNN_QUOTE_SIZE (CNN_QUOTE_MAX + 8)

/* The one rule for quoting text that came from a user or a file (a YAML
 * value or key, a CSV cell, a name in a checkpoint) in a one-line message:
 * the first n bytes of s (n = strlen(s) for a string), cut to at most
 * CNN_QUOTE_MAX bytes on a UTF-8 boundary with "..." appended when cut;
 * control characters and bytes that are not valid UTF-8 become '?', so the
 * message stays one printable line. Writes into buf (CNN_QUOTE_SIZE bytes)
 * and returns it. */
const char *cnn_quote(char buf[CNN_QUOTE_SIZE], const void *s, size_t n);
/* cnn_quote of a NUL-terminated string. */
const char *cnn_quote_str(char buf[CNN_QUOTE_SIZE], const char *s);
/* The length of the well-formed UTF-8 character at s (n > 0 bytes left):
 * 1 to 4, or 0 when s does not start one (a bad or overlong sequence, a
 * surrogate, past U+10FFFF or cut by n). */
size_t cnn_utf8_length(const unsigned char *s, size_t n);

/* ======================================================================== */
/* Memory (memory.c)                                                        */

/* The memory a model or a data set may use, in bytes: the limit set with
 * cnn_set_memory_limit, else the physical memory, lowered to the
 * address-space limit minus 256 MiB. */
double cnn_memory_available(void);
/* Floats in the 64 bytes of cnn_alloc_aligned's alignment. */
#define CNN_ALIGN_FLOATS 16
/* bytes of memory aligned to 64 bytes, a cache line and the widest vector,
 * so that a vector load never straddles two lines, followed by 64 zero
 * bytes of slack that a vector load may run into; zeroed when zero. Freed
 * with free(); NULL when out of memory. */
void *cnn_alloc_aligned(size_t bytes, int zero);
/* Formats bytes as "12.3 MiB" into buf (size bytes) and returns buf. */
const char *cnn_human_bytes(double bytes, char *buf, size_t size);

#endif /* CNN_INTERNAL_H */

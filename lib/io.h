/*
 * io.h - files (io.c): the bounded whole-file reader (plain or gzip) and the
 * atomic writer that every module which reads or writes files uses. The
 * ground floor: it knows nothing of models, data sets or images.
 */
#ifndef CNN_IO_H
#define CNN_IO_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file, gunzipping it when it starts with the gzip magic, into
 * a malloc'ed buffer. Fails (CNN_ERR_IO, or CNN_ERR_DATA for a damaged gzip
 * stream) and refuses to grow past max bytes (CNN_ERR_DATA, and then *len is
 * set above max so that the caller can say more). */
cnn_status cnn_read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, cnn_error *err);

/* Writes n bytes to path atomically (checkpoint.c, also used by image.c):
 * into a temporary file "PATH.tmp.XXXXXX" beside it, fsync'ed, renamed over
 * PATH, then the folder fsync'ed. On failure PATH is untouched, the
 * temporary file is removed and -1 is returned with errno set, or -2 if
 * PATH exists but is not a regular file. The new file keeps the mode of the
 * one it replaces, else 0666 & ~umask. */
int cnn_write_atomically(const char *path, const uint8_t *data, size_t n);

#endif /* CNN_IO_H */

/*
 * image.h - images held in memory (image.c, image_jpeg.c, image_fit.c):
 * which format a file's bytes are, and one decoder for every format, for
 * the readers that get the bytes themselves (folder data sets read many
 * files and decode them in parallel). Above io.h (a file's bytes), below
 * the data sets; cnn.h has the public image functions.
 *
 * Invariants
 *  - The format is chosen by the bytes, never by a file's name.
 *  - Every decoder is reentrant: no static mutable state, so several
 *    threads may decode at once.
 *  - Every image is bounded (IMAGE_MAX_SIDE, IMAGE_MAX_BYTES) before its
 *    raster is allocated.
 */
#ifndef CNN_IMAGE_H
#define CNN_IMAGE_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* The largest image side read or written, and the largest raster read
 * (channels * width * height bytes). */
#define IMAGE_MAX_SIDE 65536
#if SIZE_MAX > 0xffffffffu
#define IMAGE_MAX_BYTES ((size_t)1 << 32)
#else
#define IMAGE_MAX_BYTES ((size_t)SIZE_MAX / 4)
#endif

/* The largest image file read (PNG, JPEG, any file cnn_image_read reads):
 * the largest raster and a sixteenth more (stored deflate blocks, chunks,
 * markers). */
#define IMAGE_FILE_MAX (IMAGE_MAX_BYTES + IMAGE_MAX_BYTES / 16)

/* The formats cnn_image_decode knows, by their first bytes. */
typedef enum cnn_image_kind {
	CNN_IMAGE_NONE = 0,
	CNN_IMAGE_PGM,
	CNN_IMAGE_PNG,
	CNN_IMAGE_JPEG
} cnn_image_kind;

/* Which format buf[0..len) is, from its first bytes alone: "P5" or "P2"
 * is PGM (the PGM reader says what is wrong after them), the 8-byte PNG
 * signature PNG, FF D8 FF (a JPEG's SOI and the next marker's start) JPEG;
 * anything else, or too few bytes, CNN_IMAGE_NONE. It says which decoder
 * to try, not that the image is valid. */
cnn_image_kind cnn_image_sniff(const uint8_t *buf, size_t len);

/* Decodes an image held in memory (the file's bytes, len of them) of any
 * kind cnn_image_sniff knows; path names it in messages. Same results and
 * errors as cnn_image_read on a file holding these bytes: *pixels a
 * malloc'ed CHW array of *channels (1 or 3) x *height x *width bytes; on
 * failure *pixels is NULL and the sizes 0, and the error is CNN_ERR_DATA
 * "PATH: not a PGM, PNG or JPEG image" for an unknown kind, else that
 * decoder's. buf is not modified. Reentrant. */
cnn_status cnn_image_decode(const char *path, const uint8_t *buf, size_t len,
                            uint8_t **pixels, int *channels, int *width,
                            int *height, cnn_error *err);

/* Reads the whole file at path as it is (nothing inflated: a gzip'ed
 * image is not an image) into a malloc'ed *buf of *len bytes, at most
 * IMAGE_FILE_MAX. Fails as cnn_read_file does: CNN_ERR_IO "PATH: cannot
 * open: ..." or "cannot read: ...", CNN_ERR_NOMEM, CNN_ERR_DATA "larger
 * than N bytes"; *buf is then NULL. */
cnn_status cnn_image_file(const char *path, uint8_t **buf, size_t *len,
                          cnn_error *err);

/* A decoder of a file's bytes: cnn_image_decode, cnn_png_decode or
 * cnn_jpeg_decode. */
typedef cnn_status (*cnn_image_decoder)(const char *path, const uint8_t *buf,
                                        size_t len, uint8_t **pixels,
                                        int *channels, int *width, int *height,
                                        cnn_error *err);

/* What the public readers share: clears err and the outputs, refuses an
 * empty path (CNN_ERR_USAGE "WHAT: no path given", what naming the
 * function), reads the file (cnn_image_file) and decodes it with decode. */
cnn_status cnn_image_read_with(cnn_image_decoder decode, const char *what,
                               const char *path, uint8_t **pixels,
                               int *channels, int *width, int *height,
                               cnn_error *err);

/* The decoders behind cnn_image_decode, each on a buffer of its own kind
 * (outputs as cnn_image_decode's; they are cleared first). The PNG and
 * JPEG decoders return CNN_ERR_USAGE ("built without libpng/libjpeg")
 * in a library built without them. */
cnn_status cnn_pgm_decode(const char *path, const uint8_t *buf, size_t len,
                          uint8_t **pixels, int *width, int *height,
                          cnn_error *err);
cnn_status cnn_png_decode(const char *path, const uint8_t *buf, size_t len,
                          uint8_t **pixels, int *channels, int *width,
                          int *height, cnn_error *err);
cnn_status cnn_jpeg_decode(const char *path, const uint8_t *buf, size_t len,
                           uint8_t **pixels, int *channels, int *width,
                           int *height, cnn_error *err);

#endif /* CNN_IMAGE_H */

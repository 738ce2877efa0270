/*
 * io.h - files (io.c): the bounded whole-file reader (plain or gzip, one
 * inflater for every caller) and the atomic writer that every module which
 * reads or writes files uses. The ground floor: it knows nothing of models,
 * data sets or images.
 */
#ifndef CNN_IO_H
#define CNN_IO_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* How a read failed, for a caller that words its own messages (the
 * checkpoint loader: "cannot open checkpoint: ..."). */
typedef enum cnn_io_fail {
	CNN_IO_OK,
	CNN_IO_OPEN,      /* the file cannot be opened (errnum) */
	CNN_IO_READ,      /* a read failed (errnum) */
	CNN_IO_NOMEM,     /* out of memory (at: the bytes wanted, or 0) */
	CNN_IO_LARGE,     /* more bytes than the limit */
	CNN_IO_NOT_GZIP,  /* no gzip magic where a gzip member must start */
	CNN_IO_TRUNCATED, /* the gzip data stops early */
	CNN_IO_HEADER,    /* a damaged gzip header (why) */
	CNN_IO_INFLATE,   /* damaged compressed data (why: zlib's words; at) */
	CNN_IO_CK,        /* our "CK" subfield's CRC-32 does not match */
	CNN_IO_CRC,       /* the trailer's CRC-32 does not match */
	CNN_IO_LENGTH,    /* the trailer's length does not match */
	CNN_IO_TRAILING,  /* bytes after the gzip data (at: the first one) */
	CNN_IO_STOPPED    /* the caller's check refused the first bytes */
} cnn_io_fail;

typedef struct cnn_io_result {
	cnn_io_fail fail;
	int errnum;      /* OPEN, READ */
	size_t at;       /* NOMEM, INFLATE, TRAILING: see above */
	const char *why; /* HEADER, INFLATE: a static string */
} cnn_io_result;

/* Reads the whole file at path as it is (nothing inflated) into a malloc'ed
 * *out with a NUL after its *len bytes. A file of more than max bytes, or
 * of more than max_gz when it starts with the gzip magic, is refused
 * (CNN_IO_LARGE) before it is read when its size is known, and as soon as
 * the limit is passed otherwise. On failure *out is NULL. */
cnn_io_fail cnn_io_read(const char *path, size_t max, size_t max_gz,
                        uint8_t **out, size_t *len, cnn_io_result *res);

/* What cnn_gunzip may inflate, and whether it may go on. */
typedef struct cnn_gunzip_opts {
	size_t max;     /* the most bytes of output */
	int one_member; /* 1: bytes after the first member are TRAILING;
	                   0: concatenated members are read as one stream */
	/* Called once, as soon as peek bytes are out (at most 64 KiB are
	 * inflated before): nonzero stops with CNN_IO_STOPPED. NULL: none. */
	int (*check)(const uint8_t *out, size_t len, void *arg);
	size_t peek;
	void *arg;
} cnn_gunzip_opts;

/* Inflates the gzip data in[0..n) (RFC 1952: header checks, the header's
 * CRC16 when present, our "CK" subfield's CRC-32 of the compressed data
 * when present, the trailer's CRC-32 and length). Whatever happens, *out is
 * a malloc'ed buffer (or NULL out of memory) holding the *len bytes
 * inflated so far and a NUL: after CNN_IO_TRUNCATED it is what the data
 * held, after CK, CRC, LENGTH and TRAILING all of it. Never more than
 * o->max bytes are kept: CNN_IO_LARGE stops the inflation there. */
cnn_io_fail cnn_gunzip(const uint8_t *in, size_t n, const cnn_gunzip_opts *o,
                       uint8_t **out, size_t *len, cnn_io_result *res);

/* Reads a whole file, gunzipping it when it starts with the gzip magic
 * (concatenated members are one stream), into a malloc'ed buffer with a
 * NUL after its *len bytes. Fails with CNN_ERR_IO "PATH: cannot open: ..."
 * or "cannot read: ...", CNN_ERR_NOMEM, or CNN_ERR_DATA "damaged gzip data
 * (...)" or "larger than MAX bytes[ when uncompressed]"; in that last case
 * *len is set above max so that the caller can say more (0 otherwise). */
cnn_status cnn_read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, cnn_error *err);

/* Reads the whole file at path as it is (nothing inflated), at most max
 * bytes, into a malloc'ed *out with a NUL after its *len bytes; fails as
 * cnn_read_file does ("larger than MAX bytes"), *out then NULL. */
cnn_status cnn_read_raw(const char *path, size_t max, uint8_t **out,
                        size_t *len, cnn_error *err);

/* Writes n bytes to path atomically: into a temporary file
 * "PATH.tmp.XXXXXX" beside it, fsync'ed, renamed over PATH, then the folder
 * fsync'ed. The new file keeps the mode of the one it replaces, else
 * 0666 & ~umask. On failure PATH is untouched, the temporary file removed,
 * and the error CNN_ERR_IO "PATH: cannot write WHAT: REASON" (REASON "not a
 * regular file" when PATH is a folder, a device or a pipe). */
cnn_status cnn_write_file(const char *path, const uint8_t *data, size_t n,
                          const char *what, cnn_error *err);

/* Checks that cnn_write_file could write path, by creating (and removing) a
 * temporary file beside it; fails as cnn_write_file does. */
cnn_status cnn_check_target(const char *path, const char *what, cnn_error *err);

#endif /* CNN_IO_H */

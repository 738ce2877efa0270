/*
 * bytes.h - explicit little-endian encoding for the checkpoint format.
 *
 * Two small objects, both header-only:
 *  - cnn_wbuf, a growable output buffer. The cnn_put_* functions append
 *    fixed-width little-endian values; an allocation failure sets a sticky
 *    `failed` flag (checked once at the end) instead of being reported by
 *    every call.
 *  - cnn_rbuf, a bounded reader over bytes held in memory. The cnn_get_*
 *    functions return 0 and advance, or return -1 and leave everything
 *    unchanged when fewer bytes remain than requested: they never read past
 *    the end.
 * Values are assembled byte by byte, so the host's byte order and alignment
 * never matter. Floats are IEEE 754 binary32/binary64 bit patterns.
 */
#ifndef CNN_BYTES_H
#define CNN_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(float) == 4, "float must be IEEE 754 binary32");
_Static_assert(sizeof(double) == 8, "double must be IEEE 754 binary64");

/* ------------------------------------------------------------------------ */
/* Raw decoding from a pointer the caller has bounds-checked                */

static inline uint16_t cnn_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t cnn_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t cnn_le64(const uint8_t *p)
{
	return (uint64_t)cnn_le32(p) | (uint64_t)cnn_le32(p + 4) << 32;
}

static inline void cnn_store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void cnn_store_le64(uint8_t *p, uint64_t v)
{
	cnn_store_le32(p, (uint32_t)v);
	cnn_store_le32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

typedef struct cnn_wbuf {
	uint8_t *data;
	size_t len, cap;
	int failed; /* an allocation failed; the contents are incomplete */
} cnn_wbuf;

/* Makes room for n more bytes and returns where they go, or NULL (and sets
 * failed) if the buffer cannot grow. */
static inline uint8_t *cnn_wbuf_grow(cnn_wbuf *b, size_t n)
{
	size_t cap;
	uint8_t *p;
	if (b->failed)
		return NULL;
	if (n > SIZE_MAX - b->len) {
		b->failed = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n) {
			if (cap > SIZE_MAX / 2) {
				cap = b->len + n;
				break;
			}
			cap *= 2;
		}
		p = realloc(b->data, cap);
		if (!p) {
			b->failed = 1;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

static inline void cnn_wbuf_free(cnn_wbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

static inline void cnn_put_bytes(cnn_wbuf *b, const void *src, size_t n)
{
	uint8_t *p = cnn_wbuf_grow(b, n);
	if (p && n)
		memcpy(p, src, n);
}

static inline void cnn_put_u8(cnn_wbuf *b, uint8_t v)
{
	uint8_t *p = cnn_wbuf_grow(b, 1);
	if (p)
		p[0] = v;
}

static inline void cnn_put_u16(cnn_wbuf *b, uint16_t v)
{
	uint8_t *p = cnn_wbuf_grow(b, 2);
	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

static inline void cnn_put_u32(cnn_wbuf *b, uint32_t v)
{
	uint8_t *p = cnn_wbuf_grow(b, 4);
	if (p)
		cnn_store_le32(p, v);
}

static inline void cnn_put_u64(cnn_wbuf *b, uint64_t v)
{
	uint8_t *p = cnn_wbuf_grow(b, 8);
	if (p)
		cnn_store_le64(p, v);
}

static inline void cnn_put_f64(cnn_wbuf *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	cnn_put_u64(b, u);
}

/* Appends n floats (an array, in order). */
static inline void cnn_put_f32s(cnn_wbuf *b, const float *v, size_t n)
{
	uint8_t *p;
	uint32_t u;
	size_t i;
	if (n > SIZE_MAX / 4) {
		b->failed = 1;
		return;
	}
	p = cnn_wbuf_grow(b, 4 * n);
	if (!p)
		return;
	for (i = 0; i < n; i++) {
		memcpy(&u, &v[i], sizeof u);
		cnn_store_le32(p + 4 * i, u);
	}
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

typedef struct cnn_rbuf {
	const uint8_t *data;
	size_t len; /* bytes in data */
	size_t pos; /* next byte to read, <= len */
} cnn_rbuf;

static inline void cnn_rbuf_init(cnn_rbuf *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

static inline size_t cnn_rbuf_left(const cnn_rbuf *r)
{
	return r->len - r->pos;
}

/* Returns a pointer to the next n bytes and skips them, or NULL if fewer
 * remain. */
static inline const uint8_t *cnn_get_bytes(cnn_rbuf *r, size_t n)
{
	const uint8_t *p;
	if (n > r->len - r->pos)
		return NULL;
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

static inline int cnn_get_u32(cnn_rbuf *r, uint32_t *out)
{
	const uint8_t *p = cnn_get_bytes(r, 4);
	if (!p)
		return -1;
	*out = cnn_le32(p);
	return 0;
}

static inline int cnn_get_u64(cnn_rbuf *r, uint64_t *out)
{
	const uint8_t *p = cnn_get_bytes(r, 8);
	if (!p)
		return -1;
	*out = cnn_le64(p);
	return 0;
}

static inline int cnn_get_f64(cnn_rbuf *r, double *out)
{
	uint64_t u;
	if (cnn_get_u64(r, &u))
		return -1;
	memcpy(out, &u, sizeof u);
	return 0;
}

/* Reads n floats into out, or fails (reading nothing) if fewer remain. */
static inline int cnn_get_f32s(cnn_rbuf *r, float *out, size_t n)
{
	const uint8_t *p;
	uint32_t u;
	size_t i;
	if (n > (r->len - r->pos) / 4)
		return -1;
	p = cnn_get_bytes(r, 4 * n);
	for (i = 0; i < n; i++) {
		u = cnn_le32(p + 4 * i);
		memcpy(&out[i], &u, sizeof u);
	}
	return 0;
}

#endif /* CNN_BYTES_H */

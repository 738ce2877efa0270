/*
 * protobuf.c - the protobuf wire-format writer of protobuf.h. Values are
 * encoded byte by byte, so the host's byte order never matters.
 */
#include "protobuf.h"

#include <string.h>

/* The varint encoding of v into out (at least 10 bytes); returns its
 * length. */
static size_t varint_encode(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

void cnn_pb_varint(cnn_wbuf *b, uint64_t v)
{
	uint8_t tmp[10];

	cnn_put_bytes(b, tmp, varint_encode(tmp, v));
}

void cnn_pb_tag(cnn_wbuf *b, uint32_t field, int wire)
{
	cnn_pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void cnn_pb_int(cnn_wbuf *b, uint32_t field, int64_t v)
{
	cnn_pb_tag(b, field, CNN_PB_VARINT);
	cnn_pb_varint(b, (uint64_t)v);
}

void cnn_pb_float(cnn_wbuf *b, uint32_t field, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof u);
	cnn_pb_tag(b, field, CNN_PB_FIXED32);
	cnn_put_u32(b, u);
}

void cnn_pb_bytes(cnn_wbuf *b, uint32_t field, const void *data, size_t n)
{
	cnn_pb_tag(b, field, CNN_PB_LEN);
	cnn_pb_varint(b, n);
	cnn_put_bytes(b, data, n);
}

void cnn_pb_string(cnn_wbuf *b, uint32_t field, const char *s)
{
	cnn_pb_bytes(b, field, s, strlen(s));
}

void cnn_pb_packed_int64(cnn_wbuf *b, uint32_t field, const int64_t *v,
                         size_t n)
{
	size_t start;

	if (n == 0)
		return;
	start = cnn_pb_begin(b);
	for (size_t i = 0; i < n; i++)
		cnn_pb_varint(b, (uint64_t)v[i]);
	cnn_pb_end(b, field, start);
}

void cnn_pb_floats_raw(cnn_wbuf *b, uint32_t field, const float *v, size_t n)
{
	if (n > SIZE_MAX / 4) {
		b->failed = 1;
		return;
	}
	cnn_pb_tag(b, field, CNN_PB_LEN);
	cnn_pb_varint(b, 4 * n);
	cnn_put_f32s(b, v, n);
}

size_t cnn_pb_begin(const cnn_wbuf *b)
{
	return b->len;
}

/* The contents [start, len) move up by the header's size, which is then
 * written in the gap: one memmove per message, nothing allocated beyond
 * the header's few bytes. */
void cnn_pb_end(cnn_wbuf *b, uint32_t field, size_t start)
{
	uint8_t head[20];
	size_t h, body;

	if (b->failed)
		return;
	body = b->len - start;
	h = varint_encode(head, (uint64_t)field << 3 | CNN_PB_LEN);
	h += varint_encode(head + h, body);
	if (!cnn_wbuf_grow(b, h))
		return;
	memmove(b->data + start + h, b->data + start, body);
	memcpy(b->data + start, head, h);
}

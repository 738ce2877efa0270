/*
 * protobuf.h - the little of the protobuf wire format the ONNX exporter
 * writes (export_onnx.c): varints, field tags, length-delimited fields
 * (strings, bytes, nested messages), fixed32 floats, packed repeated int64
 * and float arrays as little-endian bytes. Writing only; no schema.
 *
 * Everything appends to a cnn_wbuf (bytes.h), whose sticky `failed` flag
 * records an allocation failure: callers check it once at the end.
 * A nested message is written in place between cnn_pb_begin and
 * cnn_pb_end, which then inserts its tag and length before it, so messages
 * nest to any depth without knowing their sizes in advance.
 */
#ifndef CNN_PROTOBUF_H
#define CNN_PROTOBUF_H

#include "bytes.h"

#include <stddef.h>
#include <stdint.h>

/* The wire types used here. */
enum { CNN_PB_VARINT = 0, CNN_PB_LEN = 2, CNN_PB_FIXED32 = 5 };

/* Appends v as a base-128 varint (1 to 10 bytes). */
void cnn_pb_varint(cnn_wbuf *b, uint64_t v);
/* Appends the key of field (number, wire type). */
void cnn_pb_tag(cnn_wbuf *b, uint32_t field, int wire);
/* An int64/int32/enum field: negative values take 10 bytes, as protobuf
 * encodes them (two's complement). */
void cnn_pb_int(cnn_wbuf *b, uint32_t field, int64_t v);
/* A float field (fixed32, the IEEE 754 bits little-endian). */
void cnn_pb_float(cnn_wbuf *b, uint32_t field, float v);
/* A bytes field of n bytes, and a string field (without its NUL). */
void cnn_pb_bytes(cnn_wbuf *b, uint32_t field, const void *data, size_t n);
void cnn_pb_string(cnn_wbuf *b, uint32_t field, const char *s);
/* A packed repeated int64 field of n values (nothing when n is 0). */
void cnn_pb_packed_int64(cnn_wbuf *b, uint32_t field, const int64_t *v,
                         size_t n);
/* A bytes field holding n floats little-endian (ONNX's raw_data). */
void cnn_pb_floats_raw(cnn_wbuf *b, uint32_t field, const float *v, size_t n);

/* Starts a nested message: returns where its contents begin. */
size_t cnn_pb_begin(const cnn_wbuf *b);
/* Ends the message begun at start as field number field: inserts the tag
 * and the contents' length before the contents. */
void cnn_pb_end(cnn_wbuf *b, uint32_t field, size_t start);

#endif /* CNN_PROTOBUF_H */

/*
 * checkpoint.c - saving and loading a model's complete state.
 *
 * A checkpoint is one gzip member (RFC 1952) whose header carries its own
 * CRC16 and, in an extra subfield "CK", the CRC-32 of the compressed bytes,
 * so that every byte of the file is checked. Its content is
 *
 *     signature "\x89CNN\r\n\x1a\n", u32 format version (2; 1 is read),
 *     records: tag[4] u64 length payload[length] u32 crc32(tag..payload)
 *
 * with records MODL (the YAML description), STAT (counters, RNG), HIST (the
 * metric history), CLAS (class names) and INIT (where a fine-tuned model
 * started from), both optional, TENS (one per tensor and role) and END
 * (last, empty).
 * doc/checkpoint.md gives the layout byte by byte.
 *
 * Invariants
 *  - Everything is encoded explicitly little-endian through bytes.h.
 *  - Saving never touches PATH until a complete, synced copy exists beside
 *    it: temp file, write, fsync, close, rename, fsync the folder.
 *  - Loading verifies the whole file (gzip checks, signature, version, every
 *    record's bounds and CRC and the structure of its payload) before it
 *    builds anything, then checks every tensor's name and shape against the
 *    model built from the embedded description.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"

#include "bytes.h"
#include "io.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The format this file writes, and the newest it reads. */
#define CKPT_VERSION CNN_CHECKPOINT_VERSION

static const uint8_t ckpt_signature[8] = {0x89, 'C',  'N',  'N',
                                          '\r', '\n', 0x1a, '\n'};

/* Refuse to write or read more than this many uncompressed bytes. */
#define CKPT_MAX_BYTES ((uint64_t)0xffffffffu)

#define CKPT_HEADER     12 /* tag + u64 length */
#define CKPT_TRAILER    4  /* u32 crc */
#define CKPT_STAT_LEN_1 61 /* version 1 */
#define CKPT_STAT_LEN   93 /* version 2: + the position in the epoch */
#define CKPT_HIST_ENTRY 44
#define CKPT_NAME_MAX   255   /* longest tensor name accepted */
#define CKPT_INIT_MAX   65535 /* most tensor names in an INIT record */

_Static_assert(CKPT_STAT_LEN_1 == 4 + 4 + 8 + 4 * 8 + 4 + 8 + 1, "STAT v1");
_Static_assert(CKPT_STAT_LEN == CKPT_STAT_LEN_1 + 8 + 8 + 8 + 8, "STAT v2");
_Static_assert(CKPT_HIST_ENTRY == 4 + 5 * 8, "HIST entry layout");

enum { ROLE_WEIGHT, ROLE_MOMENT1, ROLE_MOMENT2, ROLE_BEST, N_ROLES };
static const char *const role_names[N_ROLES] = {"weight", "moment1", "moment2",
                                                "best"};

/* ======================================================================== */
/* The model's tensors                                                      */

/* Checks that the model's tensors (graph.c lists them in arena order: the
 * trainable ones layer by layer, weight then bias, then the layers' state)
 * cover the arena in order without overlapping, the gaps before aligned
 * weights shorter than an alignment. */
static cnn_status check_tensors(const cnn_model *m, cnn_error *err)
{
	size_t off = 0;
	int i;

	for (i = 0; i < m->n_tensors && m->tensors[i].off >= off &&
	            m->tensors[i].off - off < CNN_ALIGN_FLOATS;
	     i++)
		off = m->tensors[i].off + m->tensors[i].n;
	if (i < m->n_tensors || off != m->n_params)
		return cnn_err(err, CNN_ERR_USAGE,
		               "internal error: the tensors cover %zu of "
		               "%zu parameters",
		               off, m->n_params);
	return CNN_OK;
}

/* The arena holding a role's values, or NULL if the model has none. */
static float *role_arena(const cnn_model *m, int role)
{
	float *const arena[N_ROLES] = {m->params, m->m1, m->m2, m->best};
	return arena[role];
}

/* ======================================================================== */
/* Saving                                                                   */

/* Starts a record: its tag and a length patched by record_end. Returns the
 * record's offset. */
static size_t record_begin(cnn_wbuf *b, const char *tag)
{
	size_t start = b->len;
	cnn_put_bytes(b, tag, 4);
	cnn_put_u64(b, 0);
	return start;
}

/* Patches the length of the record started at start and appends its CRC. */
static void record_end(cnn_wbuf *b, size_t start)
{
	uint32_t crc;
	if (b->failed)
		return;
	cnn_store_le64(b->data + start + 4,
	               (uint64_t)(b->len - start - CKPT_HEADER));
	crc = (uint32_t)crc32_z(0L, b->data + start, b->len - start);
	cnn_put_u32(b, crc);
}

/* Appends a u16 length and the bytes of s. */
static void put_string16(cnn_wbuf *b, const char *s)
{
	size_t k = strlen(s);
	cnn_put_u16(b, (uint16_t)k);
	cnn_put_bytes(b, s, k);
}

/* The record INIT: the source checkpoint's path, its model's name and
 * epoch, and the names of the tensors copied. */
static void put_init(cnn_wbuf *b, const cnn_init_record *r)
{
	size_t rec = record_begin(b, "INIT");
	put_string16(b, r->from);
	put_string16(b, r->model);
	cnn_put_u32(b, (uint32_t)r->epoch);
	cnn_put_u32(b, (uint32_t)r->n_copied);
	for (int i = 0; i < r->n_copied; i++)
		put_string16(b, r->copied[i]);
	record_end(b, rec);
}

/* The CLAS record: the model's class names (see doc/checkpoint.md). */
static void put_classes(cnn_wbuf *b, const cnn_model *m)
{
	size_t rec = record_begin(b, "CLAS");
	cnn_put_u16(b, (uint16_t)m->classes);
	for (int i = 0; i < m->classes; i++) {
		size_t k = strlen(m->class_names[i]);
		cnn_put_u16(b, (uint16_t)k);
		cnn_put_bytes(b, m->class_names[i], k);
	}
	record_end(b, rec);
}

/* Serialises the model's state into b (see doc/checkpoint.md). */
static cnn_status serialise(const cnn_model *m, cnn_wbuf *b, cnn_error *err)
{
	const cnn_tensor_slot *t = m->tensors;
	int i, role, j;
	size_t rec, k;

	if (check_tensors(m, err) != CNN_OK)
		return err->status;
	cnn_put_bytes(b, ckpt_signature, sizeof ckpt_signature);
	cnn_put_u32(b, CKPT_VERSION);

	rec = record_begin(b, "MODL");
	cnn_put_bytes(b, m->yaml ? m->yaml : "", m->yaml ? strlen(m->yaml) : 0);
	record_end(b, rec);

	rec = record_begin(b, "STAT");
	cnn_put_u32(b, (uint32_t)m->epoch);
	cnn_put_u32(b, (uint32_t)m->spec.epochs);
	cnn_put_u64(b, m->step);
	for (j = 0; j < 4; j++)
		cnn_put_u64(b, m->rng.s[j]);
	cnn_put_u32(b, (uint32_t)m->best_epoch);
	cnn_put_f64(b, m->best_accuracy);
	cnn_put_u8(b, m->has_best && m->best ? 1 : 0);
	cnn_put_u64(b, m->epoch_pos);
	cnn_put_f64(b, m->epoch_loss);
	cnn_put_u64(b, m->epoch_correct);
	cnn_put_f64(b, m->epoch_seconds);
	record_end(b, rec);

	rec = record_begin(b, "HIST");
	cnn_put_u32(b, (uint32_t)m->n_history);
	for (i = 0; i < m->n_history; i++) {
		const cnn_epoch_metrics *e = &m->history[i];
		cnn_put_u32(b, (uint32_t)e->epoch);
		cnn_put_f64(b, e->loss);
		cnn_put_f64(b, e->train_accuracy);
		cnn_put_f64(b, e->test_accuracy);
		cnn_put_f64(b, e->val_accuracy);
		cnn_put_f64(b, e->seconds);
	}
	record_end(b, rec);

	if (m->class_names)
		put_classes(b, m);
	if (m->init.from)
		put_init(b, &m->init);

	for (i = 0; i < m->n_tensors; i++) {
		for (role = 0; role < N_ROLES; role++) {
			const float *arena = role_arena(m, role);
			if (!arena || (role == ROLE_BEST && !m->has_best))
				continue;
			k = strlen(t[i].name);
			rec = record_begin(b, "TENS");
			cnn_put_u16(b, (uint16_t)k);
			cnn_put_bytes(b, t[i].name, k);
			cnn_put_u8(b, (uint8_t)role);
			cnn_put_u8(b, (uint8_t)t[i].ndim);
			for (j = 0; j < t[i].ndim; j++)
				cnn_put_u32(b, (uint32_t)t[i].shape[j]);
			cnn_put_f32s(b, arena + t[i].off, t[i].n);
			record_end(b, rec);
		}
	}

	rec = record_begin(b, "END ");
	record_end(b, rec);

	if (b->failed)
		return cnn_err(err, CNN_ERR_NOMEM,
		               "out of memory while saving a checkpoint");
	if (b->len > CKPT_MAX_BYTES)
		return cnn_err(err, CNN_ERR_NOMEM,
		               "the model is too large for a checkpoint "
		               "(%zu bytes, at most 4 GiB)",
		               b->len);
	return CNN_OK;
}

/* The gzip wrapper (RFC 1952) is written here rather than by zlib so that
 * every byte of the file is covered by a checksum: the header by its CRC16
 * (FHCRC), the compressed data by a CRC-32 kept in an extra subfield "CK"
 * (deflate has equivalent encodings, so a flipped bit can decode to the same
 * content and escape the content's CRC-32), the content by the trailer. */
#define GZ_FEXTRA 0x04
#define GZ_FHCRC  0x02

/* Compresses len bytes into a gzip file image in out: our header (no name,
 * no time, OS "unknown", so the same state always gives the same bytes),
 * raw deflate data, then CRC-32 and length of the content. */
static cnn_status compress_gzip(const uint8_t *data, size_t len, cnn_wbuf *out,
                                cnn_error *err)
{
	static const uint8_t head[12] = {
	    0x1f, 0x8b, 8, GZ_FEXTRA | GZ_FHCRC, 0, 0, 0, 0, 0, 255, 8, 0};
	const size_t chunk = (size_t)1 << 18;
	z_stream zs;
	size_t start;
	uint32_t hcrc;
	uint8_t *p;
	int ret = Z_OK;

	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return cnn_err(err, CNN_ERR_NOMEM, "out of memory (zlib)");
	cnn_put_bytes(out, head, sizeof head);
	cnn_put_bytes(out, "CK\4\0", 4);
	cnn_put_u32(out, 0); /* CRC-32 of the deflate data, patched below */
	cnn_put_u16(out, 0); /* CRC16 of the header, patched below */
	start = out->len;
	/* len <= CKPT_MAX_BYTES (serialise checks it) fits in a uInt */
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	while ((p = cnn_wbuf_grow(out, chunk)) != NULL) {
		out->len -= chunk;
		zs.next_out = p;
		zs.avail_out = (uInt)chunk;
		ret = deflate(&zs, Z_FINISH);
		out->len += chunk - zs.avail_out;
		if (ret == Z_STREAM_ERROR || zs.avail_out != 0)
			break;
	}
	deflateEnd(&zs);
	if (!out->failed && ret != Z_STREAM_ERROR && ret != Z_STREAM_END)
		return cnn_err(err, CNN_ERR_NOMEM,
		               "internal error: deflate did not finish");
	cnn_put_u32(out, (uint32_t)crc32_z(0L, data, len));
	cnn_put_u32(out, (uint32_t)len); /* ISIZE: the length mod 2^32 */
	if (out->failed || ret == Z_STREAM_ERROR)
		return cnn_err(err, CNN_ERR_NOMEM,
		               "out of memory while compressing a "
		               "checkpoint");
	cnn_store_le32(out->data + 16, (uint32_t)crc32_z(0L, out->data + start,
	                                                 out->len - 8 - start));
	hcrc = (uint32_t)crc32_z(0L, out->data, 20);
	out->data[20] = (uint8_t)hcrc;
	out->data[21] = (uint8_t)(hcrc >> 8);
	return CNN_OK;
}

/* Checks that a checkpoint can be written at path (contract in model.h). */
cnn_status cnn_checkpoint_check_target(const char *path, cnn_error *err)
{
	return cnn_check_target(path, "checkpoint", err);
}

/* Serialises, compresses and writes the checkpoint (contract in cnn.h).
 * Failures: CNN_ERR_USAGE for bad arguments, CNN_ERR_NOMEM, and CNN_ERR_IO
 * "PATH: cannot write checkpoint: REASON" with PATH left as it was. */
cnn_status cnn_model_save(const cnn_model *m, const char *path, cnn_error *err)
{
	cnn_wbuf raw = {0}, gz = {0};
	cnn_status st;

	cnn_err_clear(err);
	if (!m || !path || !path[0])
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_model_save: no %s given",
		               m ? "path" : "model");
	st = serialise(m, &raw, err);
	if (st == CNN_OK)
		st = compress_gzip(raw.data, raw.len, &gz, err);
	cnn_wbuf_free(&raw);
	if (st == CNN_OK)
		st = cnn_write_file(path, gz.data, gz.len, "checkpoint", err);
	cnn_wbuf_free(&gz);
	return st;
}

/* ======================================================================== */
/* Verifying the content                                                    */

/* One record, located by the walk. */
typedef struct ckpt_record {
	char tag[CNN_QUOTE_SIZE]; /* cnn_quote'd */
	size_t off;               /* of the header in the content */
	const uint8_t *payload;
	size_t len;
} ckpt_record;

/* A TENS payload's header, and where its floats are. */
typedef struct ckpt_tens {
	char name[CKPT_NAME_MAX + 1];
	int role, ndim;
	int shape[CNN_MAX_DIMS];
	size_t count;  /* floats */
	cnn_rbuf data; /* positioned at the floats */
} ckpt_tens;

/* Decodes a TENS payload of len bytes. Returns NULL on success, else what is
 * wrong; fills t->name as soon as it is known (for messages), "" before. */
static const char *parse_tens(const uint8_t *p, size_t len, ckpt_tens *t)
{
	cnn_rbuf r;
	size_t nlen;
	uint32_t dim;
	const uint8_t *name, *h;
	size_t count = 1;
	int i;

	t->name[0] = '\0';
	cnn_rbuf_init(&r, p, len);
	if (!(h = cnn_get_bytes(&r, 2)))
		return "the record ends inside the tensor's name";
	nlen = cnn_le16(h);
	if (nlen == 0 || nlen > CKPT_NAME_MAX)
		return "bad tensor name length";
	name = cnn_get_bytes(&r, nlen);
	if (!name)
		return "the record ends inside the tensor's name";
	if (memchr(name, '\0', nlen))
		return "bad tensor name";
	memcpy(t->name, name, nlen);
	t->name[nlen] = '\0';
	if (!(h = cnn_get_bytes(&r, 2)))
		return "the record ends inside the tensor's header";
	t->role = h[0];
	t->ndim = h[1];
	if (t->role >= N_ROLES)
		return "unknown tensor role";
	if (t->ndim < 1 || t->ndim > CNN_MAX_DIMS)
		return "bad number of dimensions";
	memset(t->shape, 0, sizeof t->shape);
	for (i = 0; i < t->ndim; i++) {
		if (cnn_get_u32(&r, &dim))
			return "the record ends inside the tensor's shape";
		if (dim == 0 || dim > INT_MAX)
			return "bad tensor dimension";
		if (count > SIZE_MAX / 4 / dim)
			return "tensor too large";
		count *= dim;
		t->shape[i] = (int)dim;
	}
	if (cnn_rbuf_left(&r) / 4 != count || cnn_rbuf_left(&r) % 4)
		return "the tensor's data does not match its shape";
	t->count = count;
	t->data = r;
	return NULL;
}

/* "TENS dense1.weight (moment1)" or "STAT": names a record for messages,
 * with whatever of its payload is available (avail bytes). */
static void describe_record(char *buf, size_t size, const char *tag,
                            const uint8_t *payload, size_t avail)
{
	static const char *const known[] = {"MODL", "STAT", "HIST", "TENS",
	                                    "CLAS", "INIT", "END "};
	char name[CNN_QUOTE_SIZE];
	size_t nlen, i;
	for (i = 0; i < 7 && strcmp(tag, known[i]); i++)
		;
	snprintf(buf, size, i < 7 ? "%s" : "\"%s\"", tag);
	if (strcmp(tag, "TENS") != 0 || avail < 2)
		return;
	nlen = cnn_le16(payload);
	if (nlen == 0 || nlen > CKPT_NAME_MAX || avail < 2 + nlen)
		return;
	cnn_quote(name, payload + 2, nlen);
	if (avail > 2 + nlen && payload[2 + nlen] < N_ROLES)
		snprintf(buf, size, "%s %s (%s)", tag, name,
		         role_names[payload[2 + nlen]]);
	else
		snprintf(buf, size, "%s %s", tag, name);
}

/* Reads the record at r's position into rec, checking its bounds and its
 * CRC. A record that runs past the end is reported as truncation, naming
 * what was being read. */
static cnn_status next_record(cnn_rbuf *r, const char *path, ckpt_record *rec,
                              cnn_error *err)
{
	char what[128];
	const uint8_t *h;
	uint64_t len;
	size_t left;
	uint32_t crc = 0;

	rec->off = r->pos;
	left = cnn_rbuf_left(r);
	if (left == 0)
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is truncated (the END record "
		                    "is missing)");
	if (left < CKPT_HEADER)
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is truncated (while reading a "
		                    "record header at offset %zu)",
		                    rec->off);
	h = cnn_get_bytes(r, CKPT_HEADER);
	cnn_quote(rec->tag, h, 4);
	len = cnn_le64(h + 4);
	left -= CKPT_HEADER;
	if (len > left || left - (size_t)len < CKPT_TRAILER) {
		describe_record(what, sizeof what, rec->tag, h + CKPT_HEADER,
		                left);
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is truncated (while reading "
		                    "record %s at offset %zu)",
		                    what, rec->off);
	}
	rec->payload = cnn_get_bytes(r, (size_t)len);
	rec->len = (size_t)len;
	cnn_get_u32(r, &crc);
	if (crc != (uint32_t)crc32_z(0L, h, CKPT_HEADER + rec->len)) {
		describe_record(what, sizeof what, rec->tag, rec->payload,
		                rec->len);
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checksum mismatch in record %s at offset "
		                    "%zu",
		                    what, rec->off);
	}
	return CNN_OK;
}

/* What check_head reads and where it reports (a cnn_gunzip_opts check's
 * arg). */
typedef struct ckpt_head {
	const char *path;
	cnn_error *err;
	uint32_t version;
} ckpt_head;

/* Checks the signature and the format version (into h->version) at the
 * start of the content (len bytes); returns CNN_OK (0), else the status of
 * the error set in h->err.
 * It is also the cnn_gunzip_opts check, run as soon as 12 bytes are
 * inflated: a gzip of something else, say a bomb, is refused before it is
 * inflated whole. */
static int check_head(const uint8_t *data, size_t len, void *arg)
{
	ckpt_head *h = arg;
	size_t k = len < 8 ? len : 8;

	if (memcmp(data, ckpt_signature, k) != 0)
		return cnn_err_file(h->err, CNN_ERR_CORRUPT, h->path,
		                    "not a libcnn checkpoint (bad signature)");
	if (len < 12)
		return cnn_err_file(
		    h->err, CNN_ERR_CORRUPT, h->path,
		    "checkpoint is truncated (while reading the "
		    "%s)",
		    len < 8 ? "signature" : "format version");
	h->version = cnn_le32(data + 8);
	if (h->version > CKPT_VERSION)
		return cnn_err_file(h->err, CNN_ERR_CORRUPT, h->path,
		                    "checkpoint format version %lu is newer "
		                    "than this libcnn supports (%d)",
		                    (unsigned long)h->version, CKPT_VERSION);
	if (h->version == 0)
		return cnn_err_file(h->err, CNN_ERR_CORRUPT, h->path,
		                    "bad checkpoint format version 0");
	return CNN_OK;
}

/* Checks a CLAS payload of len bytes: u16 count (2 to 256), then count
 * names, each a u16 length (1 to 255) and its bytes (no NUL, no "/"), all
 * different, filling the payload exactly. Returns NULL or what is wrong. */
static const char *check_classes(const uint8_t *p, size_t len)
{
	size_t n, at = 2, start[256], size[256];

	if (len < 2 || (n = cnn_le16(p)) < 2 || n > 256)
		return "bad number of classes";
	for (size_t i = 0; i < n; i++) {
		if (len - at < 2)
			return "the names run past the record";
		size[i] = cnn_le16(p + at);
		start[i] = at + 2;
		if (size[i] < 1 || size[i] > 255 || len - start[i] < size[i])
			return "bad length of a class name";
		if (memchr(p + start[i], '\0', size[i]) ||
		    memchr(p + start[i], '/', size[i]))
			return "a class name holds a NUL byte or a \"/\"";
		for (size_t j = 0; j < i; j++)
			if (size[j] == size[i] &&
			    !memcmp(p + start[j], p + start[i], size[i]))
				return "two classes have the same name";
		at = start[i] + size[i];
	}
	return at == len ? NULL : "bytes after the last class name";
}

/* Checks the u16-length string at p + *at (len bytes in all): 1 to most
 * bytes, no NUL, within the record; moves *at past it. Returns NULL or
 * what is wrong (what names the string). */
static const char *check_string16(const uint8_t *p, size_t len, size_t *at,
                                  size_t most, const char *what)
{
	static char why[96];
	size_t k;

	if (len - *at < 2)
		goto bad;
	k = cnn_le16(p + *at);
	if (k < 1 || k > most || len - *at - 2 < k ||
	    memchr(p + *at + 2, '\0', k))
		goto bad;
	*at += 2 + k;
	return NULL;
bad:
	snprintf(why, sizeof why, "bad %s", what);
	return why;
}

/* Checks an INIT payload of len bytes: the source's path (1 to
 * CNN_PATH_MAX - 1 bytes) and model name (1 to CNN_NAME_MAX - 1), each a
 * u16 length and its bytes (no NUL); u32 epoch (at most INT_MAX); u32
 * count (1 to CKPT_INIT_MAX) and that many tensor names (1 to
 * CKPT_NAME_MAX bytes), filling the payload exactly. Returns NULL or what
 * is wrong. */
static const char *check_init(const uint8_t *p, size_t len)
{
	const char *why;
	size_t at = 0, n;

	if ((why = check_string16(p, len, &at, CNN_PATH_MAX - 1,
	                          "source path")) ||
	    (why = check_string16(p, len, &at, CNN_NAME_MAX - 1,
	                          "source model name")))
		return why;
	if (len - at < 8)
		return "the record ends inside the source's epoch and count";
	if (cnn_le32(p + at) > INT_MAX)
		return "bad source epoch";
	n = cnn_le32(p + at + 4);
	if (n < 1 || n > CKPT_INIT_MAX)
		return "bad number of tensors copied";
	at += 8;
	for (size_t i = 0; i < n; i++)
		if ((why = check_string16(p, len, &at, CKPT_NAME_MAX,
		                          "tensor name")))
			return why;
	return at == len ? NULL : "bytes after the last tensor name";
}

/* Checks one record's payload for its tag in a file of the given format
 * version; returns NULL or what is wrong. */
static const char *check_payload(const ckpt_record *rec, uint32_t version)
{
	ckpt_tens t;
	uint32_t n;
	int i;

	if (!strcmp(rec->tag, "MODL")) {
		if (rec->len == 0)
			return "the model description is empty";
		if (memchr(rec->payload, '\0', rec->len))
			return "the model description contains a NUL byte";
		return NULL;
	}
	if (!strcmp(rec->tag, "STAT")) {
		/* epoch, epochs at bytes 0, 4; best_epoch at 48; has_best at
		 * 60; from version 2, epoch_pos at 61, epoch_correct at 77 */
		const uint8_t *p = rec->payload;
		if (rec->len != (version < 2 ? CKPT_STAT_LEN_1 : CKPT_STAT_LEN))
			return "wrong length";
		if (cnn_le32(p) > INT_MAX || cnn_le32(p + 4) > INT_MAX)
			return "bad epoch count";
		if (cnn_le32(p + 48) > cnn_le32(p))
			return "the best epoch is after the last";
		if (p[CKPT_STAT_LEN_1 - 1] > 1)
			return "bad has_best flag";
		if (version >= 2 && cnn_le64(p + 77) > cnn_le64(p + 61))
			return "more correct predictions than samples";
		return NULL;
	}
	if (!strcmp(rec->tag, "HIST")) {
		if (rec->len < 4)
			return "wrong length";
		n = cnn_le32(rec->payload);
		if (n > INT_MAX || (rec->len - 4) / CKPT_HIST_ENTRY != n ||
		    (rec->len - 4) % CKPT_HIST_ENTRY)
			return "the length does not match the number of epochs";
		for (i = 0; i < (int)n; i++)
			if (cnn_le32(rec->payload + 4 + CKPT_HIST_ENTRY * i) >
			    INT_MAX)
				return "bad epoch number";
		return NULL;
	}
	if (!strcmp(rec->tag, "TENS"))
		return parse_tens(rec->payload, rec->len, &t);
	if (!strcmp(rec->tag, "CLAS") && version >= 3)
		return check_classes(rec->payload, rec->len);
	if (!strcmp(rec->tag, "INIT") && version >= 3)
		return check_init(rec->payload, rec->len);
	if (!strcmp(rec->tag, "END "))
		return rec->len ? "wrong length" : NULL;
	return "unknown record type";
}

/* Walks all records: bounds, CRCs, payload structure, each of MODL, STAT
 * and HIST exactly once, CLAS and INIT at most once (from version 3), END
 * last with nothing after it. Fills idx[0..4] with the MODL, STAT, HIST,
 * CLAS and INIT records (CLAS and INIT left as they were when there are
 * none) and *version with the format version. Nothing is allocated. */
static cnn_status verify(const uint8_t *data, size_t len, const char *path,
                         ckpt_record idx[5], uint32_t *version, cnn_error *err)
{
	static const char *const once[5] = {"MODL", "STAT", "HIST", "CLAS",
	                                    "INIT"};
	ckpt_head head = {path, err, 0};
	int seen[5] = {0, 0, 0, 0, 0};
	char what[128];
	const char *why;
	ckpt_record rec;
	cnn_rbuf r;
	int i;

	if (check_head(data, len, &head) != CNN_OK)
		return err->status;
	*version = head.version;
	cnn_rbuf_init(&r, data, len);
	cnn_get_bytes(&r, 12);
	for (;;) {
		if (next_record(&r, path, &rec, err) != CNN_OK)
			return err->status;
		why = check_payload(&rec, *version);
		if (why) {
			describe_record(what, sizeof what, rec.tag, rec.payload,
			                rec.len);
			return cnn_err_file(err, CNN_ERR_CORRUPT, path,
			                    "bad record %s at offset %zu: %s",
			                    what, rec.off, why);
		}
		for (i = 0; i < 5; i++) {
			if (strcmp(rec.tag, once[i]) != 0)
				continue;
			if (seen[i]++)
				return cnn_err_file(err, CNN_ERR_CORRUPT, path,
				                    "duplicate record %s at "
				                    "offset %zu",
				                    rec.tag, rec.off);
			idx[i] = rec;
		}
		if (!strcmp(rec.tag, "END "))
			break;
	}
	if (cnn_rbuf_left(&r))
		return cnn_err_file(
		    err, CNN_ERR_CORRUPT, path,
		    "checkpoint is damaged (%zu bytes after the "
		    "END record)",
		    cnn_rbuf_left(&r));
	for (i = 0; i < 3; i++)
		if (!seen[i])
			return cnn_err_file(err, CNN_ERR_CORRUPT, path,
			                    "the record %s is missing",
			                    once[i]);
	return CNN_OK;
}

/* ======================================================================== */
/* Restoring                                                                */

static void shape_string(char *buf, size_t size, const int *shape, int ndim)
{
	size_t k = 0;
	int i;
	buf[0] = '\0';
	for (i = 0; i < ndim && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? "x" : "",
		                      shape[i]);
}

/* Finds the model's tensor (one of t[0..n)) that the TENS record tr is
 * for, checking its name and shape; returns its index, or -1 with the
 * error set. */
static int find_tensor(const cnn_tensor_slot *t, int n, const ckpt_tens *tr,
                       const char *path, cnn_error *err)
{
	char a[64], b[64];
	int i;

	for (i = 0; i < n && strcmp(t[i].name, tr->name); i++)
		;
	if (i == n) {
		/* Not a name of the model: shown in one line. */
		cnn_err_file(err, CNN_ERR_CORRUPT, path,
		             "tensor %s in the checkpoint is not in its model",
		             cnn_quote_str(a, tr->name));
		return -1;
	}
	if (tr->ndim != t[i].ndim || tr->count != t[i].n ||
	    memcmp(tr->shape, t[i].shape, sizeof tr->shape) != 0) {
		shape_string(a, sizeof a, tr->shape, tr->ndim);
		shape_string(b, sizeof b, t[i].shape, t[i].ndim);
		cnn_err_file(
		    err, CNN_ERR_CORRUPT, path,
		    "tensor %s (%s) has shape %s in the checkpoint but "
		    "%s in its model",
		    tr->name, role_names[tr->role], a, b);
		return -1;
	}
	return i;
}

/* Copies every TENS record into the model's arenas after checking its name
 * and shape. Each tensor needs its weight; moments and best weights are all
 * there or all absent (absent moments stay zero: the optimiser changed). */
static cnn_status restore_tensors(cnn_model *m, const uint8_t *data, size_t len,
                                  const char *path, int has_best,
                                  cnn_error *err)
{
	const cnn_tensor_slot *t = m->tensors;
	const int n = m->n_tensors;
	ckpt_record rec;
	ckpt_tens tr;
	unsigned char *seen;
	int i, role, count[N_ROLES] = {0, 0, 0, 0};
	float *arena;
	cnn_rbuf r;

	if (check_tensors(m, err) != CNN_OK)
		return err->status;
	seen = calloc((size_t)n * N_ROLES + 1, 1);
	if (!seen)
		return cnn_err_nomem(err, NULL, NULL);
	cnn_rbuf_init(&r, data, len);
	cnn_get_bytes(&r, 12);
	for (;;) {
		next_record(&r, path, &rec, err); /* verified: cannot fail */
		if (!strcmp(rec.tag, "END "))
			break;
		if (strcmp(rec.tag, "TENS") != 0)
			continue;
		parse_tens(rec.payload, rec.len, &tr);
		if ((i = find_tensor(t, n, &tr, path, err)) < 0)
			goto out;
		if (seen[i * N_ROLES + tr.role]++) {
			cnn_err_file(err, CNN_ERR_CORRUPT, path,
			             "duplicate tensor %s (%s)", tr.name,
			             role_names[tr.role]);
			goto out;
		}
		count[tr.role]++;
		arena = role_arena(m, tr.role);
		if (arena)
			cnn_get_f32s(&tr.data, arena + t[i].off, tr.count);
	}
	for (role = 0; role < N_ROLES; role++) {
		if (role != ROLE_WEIGHT && count[role] == 0 &&
		    !(role == ROLE_BEST && has_best))
			continue;
		for (i = 0; i < n; i++)
			if (!seen[i * N_ROLES + role]) {
				cnn_err_file(err, CNN_ERR_CORRUPT, path,
				             "tensor %s (%s) is missing",
				             t[i].name, role_names[role]);
				goto out;
			}
	}
	if (count[ROLE_BEST] && !has_best)
		cnn_err_file(err, CNN_ERR_CORRUPT, path,
		             "best weights are stored but the state says there "
		             "are none");
out:
	free(seen);
	return err->status;
}

/* Restores STAT and HIST (both verified) into m, built and with no
 * history yet. STAT's "epochs" is not used: the embedded description, after
 * overrides, says how many epochs to run. Version 1 files have no position
 * in the epoch: they were saved between epochs. */
static cnn_status restore_state(cnn_model *m, const ckpt_record *stat,
                                const ckpt_record *hist, const char *path,
                                cnn_error *err)
{
	cnn_rbuf p;
	uint32_t u = 0, n = 0;
	int i;

	cnn_rbuf_init(&p, stat->payload, stat->len);
	cnn_get_u32(&p, &u);
	m->epoch = (int)u;
	cnn_get_u32(&p, &u); /* epochs: informative */
	cnn_get_u64(&p, &m->step);
	for (i = 0; i < 4; i++)
		cnn_get_u64(&p, &m->rng.s[i]);
	cnn_get_u32(&p, &u);
	m->best_epoch = (int)u;
	cnn_get_f64(&p, &m->best_accuracy);
	m->has_best = *cnn_get_bytes(&p, 1);
	/* a version 1 STAT ends here: these stay 0 */
	cnn_get_u64(&p, &m->epoch_pos);
	cnn_get_f64(&p, &m->epoch_loss);
	cnn_get_u64(&p, &m->epoch_correct);
	cnn_get_f64(&p, &m->epoch_seconds);

	cnn_rbuf_init(&p, hist->payload, hist->len);
	cnn_get_u32(&p, &n);
	if (n == 0)
		return CNN_OK;
	m->history = calloc(n, sizeof *m->history);
	if (!m->history)
		return cnn_err_file(err, CNN_ERR_NOMEM, path,
		                    "out of memory for %lu epochs of history",
		                    (unsigned long)n);
	for (i = 0; i < (int)n; i++) {
		cnn_epoch_metrics *e = &m->history[i];
		cnn_get_u32(&p, &u);
		e->epoch = (int)u;
		cnn_get_f64(&p, &e->loss);
		cnn_get_f64(&p, &e->train_accuracy);
		cnn_get_f64(&p, &e->test_accuracy);
		cnn_get_f64(&p, &e->val_accuracy);
		cnn_get_f64(&p, &e->seconds);
	}
	m->n_history = (int)n;
	return CNN_OK;
}

/* Gives m the class names of a CLAS record (verified), unless the
 * description names its classes (data.classes, which an override may have
 * changed). They must be as many as the model's outputs. */
static cnn_status restore_classes(cnn_model *m, const ckpt_record *clas,
                                  const char *path, cnn_error *err)
{
	const uint8_t *p = clas->payload;
	int n = (int)cnn_le16(p);
	char *names[256];
	size_t at = 2;
	cnn_status st = CNN_OK;

	if (n != m->classes)
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "bad record CLAS: %d class names for a "
		                    "model of %d classes",
		                    n, m->classes);
	if (m->class_names)
		return CNN_OK;
	for (int c = 0; c < n; c++) {
		size_t k = cnn_le16(p + at);
		names[c] = malloc(k + 1);
		if (names[c]) {
			memcpy(names[c], p + at + 2, k);
			names[c][k] = '\0';
		} else {
			st = cnn_err_nomem(err, path, "reading checkpoint");
		}
		at += 2 + k;
	}
	if (st == CNN_OK)
		st = cnn_model_set_class_names(m, (const char *const *)names,
		                               err);
	for (int c = 0; c < n; c++)
		free(names[c]);
	return st;
}

/* Reads a u16-length string at *p (verified) into a malloc'ed string, or
 * NULL when out of memory; moves *p past it. */
static char *get_string16(const uint8_t **p)
{
	size_t k = cnn_le16(*p);
	char *s = malloc(k + 1);

	if (s) {
		memcpy(s, *p + 2, k);
		s[k] = '\0';
	}
	*p += 2 + k;
	return s;
}

/* Gives m the provenance of an INIT record (verified). */
static cnn_status restore_init(cnn_model *m, const ckpt_record *rec,
                               const char *path, cnn_error *err)
{
	const uint8_t *p = rec->payload;
	cnn_init_record *r = &m->init;
	int ok, n;

	r->from = get_string16(&p);
	r->model = get_string16(&p);
	r->epoch = (int)cnn_le32(p);
	n = (int)cnn_le32(p + 4);
	p += 8;
	r->copied = calloc((size_t)n, sizeof *r->copied);
	ok = r->from && r->model && r->copied;
	for (; ok && r->n_copied < n; r->n_copied++)
		ok = (r->copied[r->n_copied] = get_string16(&p)) != NULL;
	if (ok)
		return CNN_OK;
	cnn_init_record_free(r);
	return cnn_err_nomem(err, path, "reading checkpoint");
}

/* Inflates the checkpoint file image (n bytes read from path) into a
 * malloc'ed *buf of *len bytes (at most CKPT_MAX_BYTES). If the file stops
 * early, *truncated is set and *buf holds what could be inflated (the
 * caller reports where it stopped). Damage found after inflating (the
 * checksums, trailing data) is described in damage (size bytes; "" if none)
 * for the caller to report if the records themselves do not say more
 * precisely what is wrong. Damage that stops inflation is CNN_ERR_CORRUPT. */
static cnn_status gunzip_checkpoint(const uint8_t *file, size_t n,
                                    const char *path, uint8_t **buf,
                                    size_t *len, int *truncated, char *damage,
                                    size_t size, cnn_error *err)
{
	ckpt_head hc = {path, err, 0};
	cnn_gunzip_opts o = {0, 1, check_head, 12, &hc};
	cnn_io_result r;
	cnn_io_fail f;

	o.max = CKPT_MAX_BYTES < SIZE_MAX / 2 ? (size_t)CKPT_MAX_BYTES
	                                      : SIZE_MAX / 2;
	f = cnn_gunzip(file, n, &o, buf, len, &r);
	*truncated = f == CNN_IO_TRUNCATED;
	damage[0] = '\0';
	switch (f) {
	case CNN_IO_OK:
	case CNN_IO_TRUNCATED:
	case CNN_IO_STOPPED: /* check_head said why */
		return err->status;
	case CNN_IO_NOT_GZIP:
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "not a libcnn checkpoint (not "
		                    "gzip-compressed)");
	case CNN_IO_HEADER:
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is damaged (gzip: %s)", r.why);
	case CNN_IO_LARGE:
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is larger than 4 GiB "
		                    "uncompressed");
	case CNN_IO_INFLATE:
		return cnn_err_file(err, CNN_ERR_CORRUPT, path,
		                    "checkpoint is damaged (gzip: %s, at byte "
		                    "%zu of the file)",
		                    r.why, r.at);
	case CNN_IO_CK:
		snprintf(damage, size,
		         "checksum mismatch in the compressed data");
		return CNN_OK;
	case CNN_IO_CRC:
	case CNN_IO_LENGTH:
		snprintf(damage, size, "gzip: %s mismatch in the trailer",
		         f == CNN_IO_CRC ? "checksum" : "length");
		return CNN_OK;
	case CNN_IO_TRAILING:
		snprintf(damage, size,
		         "data after the end of the gzip stream, at byte %zu",
		         r.at);
		return CNN_OK;
	default:
		return cnn_err_nomem(err, path, "reading checkpoint");
	}
}

/* Loads a checkpoint (contract in cnn.h): reads the file (a missing or
 * unreadable one is CNN_ERR_IO; deflate never expands by more than ~0.03%
 * plus a few bytes, so a file larger than that for 4 GiB is CNN_ERR_CORRUPT),
 * then parses it with cnn_checkpoint_parse. */
cnn_status cnn_model_load(cnn_model **out, const char *path,
                          const char *const *overrides, int n_overrides,
                          cnn_error *err)
{
	const uint64_t max64 = CKPT_MAX_BYTES + CKPT_MAX_BYTES / 256 + 4096;
	const size_t max = max64 < SIZE_MAX / 2 ? (size_t)max64 : SIZE_MAX / 2;
	cnn_io_result r;
	uint8_t *file;
	size_t len;

	cnn_err_clear(err);
	if (out)
		*out = NULL;
	if (!out || !path || !path[0] || n_overrides < 0 ||
	    (n_overrides > 0 && !overrides))
		return cnn_err(err, CNN_ERR_USAGE,
		               "cnn_model_load: bad arguments");
	switch (cnn_io_read(path, max, max, &file, &len, &r)) {
	case CNN_IO_OK:
		cnn_checkpoint_parse(out, file, len, path, overrides,
		                     n_overrides, err);
		free(file);
		return err->status;
	case CNN_IO_OPEN:
	case CNN_IO_READ:
		return cnn_err_file(err, CNN_ERR_IO, path,
		                    "cannot %s checkpoint: %s",
		                    r.fail == CNN_IO_OPEN ? "open" : "read",
		                    strerror(r.errnum));
	case CNN_IO_LARGE:
		return cnn_err_file(
		    err, CNN_ERR_CORRUPT, path,
		    "checkpoint is too large (more than 4 GiB)");
	default:
		return cnn_err_nomem(err, path, "reading checkpoint");
	}
}

cnn_status cnn_checkpoint_parse(cnn_model **out, const uint8_t *file,
                                size_t file_len, const char *path,
                                const char *const *overrides, int n_overrides,
                                cnn_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ckpt_record idx[5]; /* MODL, STAT, HIST, CLAS, INIT (payload NULL:
	                       none) */
	cnn_tree tree;
	cnn_model *m = NULL;
	char *source = NULL, damage[128];
	int truncated, i;
	uint32_t version = 0;

	cnn_err_clear(err);
	*out = NULL;
	memset(idx, 0, sizeof idx);

	if (gunzip_checkpoint(file, file_len, path, &buf, &len, &truncated,
	                      damage, sizeof damage, err) != CNN_OK)
		goto out;
	if (truncated) {
		/* Say what was being read where the data stops. */
		if (len == 0 ||
		    verify(buf, len, path, idx, &version, err) == CNN_OK)
			cnn_err_file(err, CNN_ERR_CORRUPT, path,
			             "checkpoint is truncated%s",
			             len ? " (at the end of the gzip stream)"
			                 : "");
		goto out;
	}
	/* The records' own checks name what is damaged: they go first. */
	if (verify(buf, len, path, idx, &version, err) != CNN_OK)
		goto out;
	if (damage[0]) {
		cnn_err_file(err, CNN_ERR_CORRUPT, path,
		             "checkpoint is damaged (%s)", damage);
		goto out;
	}

	source = malloc(strlen(path) + sizeof ":model");
	if (!source) {
		cnn_err_nomem(err, NULL, NULL);
		goto out;
	}
	sprintf(source, "%s:model", path);
	/* A description that does not parse, or (without overrides, which
	 * may be what is wrong) does not build, is damage: libcnn saved it
	 * from a model it had built. */
	if (cnn_tree_parse(&tree, (const char *)idx[0].payload, idx[0].len,
	                   source, err) != CNN_OK) {
		err->status = CNN_ERR_CORRUPT;
		goto out;
	}
	for (i = 0; i < n_overrides; i++)
		if (cnn_tree_set(&tree, overrides[i], err) != CNN_OK) {
			cnn_tree_free(&tree);
			goto out;
		}
	if (cnn_model_from_tree(&m, &tree, err) != CNN_OK) {
		if (n_overrides == 0 && err->status == CNN_ERR_CONFIG)
			err->status = CNN_ERR_CORRUPT;
		goto out;
	}

	/* Byte 60 of STAT is has_best. */
	if (restore_tensors(m, buf, len, path,
	                    idx[1].payload[CKPT_STAT_LEN_1 - 1],
	                    err) != CNN_OK ||
	    restore_state(m, &idx[1], &idx[2], path, err) != CNN_OK ||
	    (idx[3].payload &&
	     restore_classes(m, &idx[3], path, err) != CNN_OK) ||
	    (idx[4].payload && restore_init(m, &idx[4], path, err) != CNN_OK))
		goto out;
	m->loaded_version = (int)version;
	*out = m;
	m = NULL;
out:
	cnn_model_free(m);
	free(source);
	free(buf);
	return err->status;
}

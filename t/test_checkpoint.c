/*
 * test_checkpoint.c - checkpoints: an exact round trip of the whole state,
 * then damage of every kind refused with CNN_ERR_CORRUPT (never a crash):
 * every byte of the file flipped, every truncation, bad signature, newer
 * version, records after END, bad checksums, tensors that disagree with the
 * embedded model; and saving that fails cleanly, leaving no temp file and
 * the previous checkpoint untouched.
 *
 * Crafted files are made by decompressing a good checkpoint, editing its
 * records (recomputing their CRCs where the test wants them valid) and
 * compressing it again; see doc/checkpoint.md for the layout.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"

#include "bytes.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *tiny_yaml =
    "name: tiny\n"
    "input: {channels: 1, height: 8, width: 8}\n"
    "layers:\n"
    "  - {type: conv2d, name: conv, filters: 2, kernel: 3}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool, size: 2}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, name: fc, units: 5}\n"
    "  - {type: softmax}\n"
    "training: {epochs: 3, batch_size: 4, seed: 7}\n";

static char msg[1200];

static const char *errstr(const cnn_error *err)
{
	return cnn_error_string(err, msg, sizeof msg);
}

static cnn_model *build_model(void)
{
	cnn_error err;
	cnn_model *m = model_from_text(tiny_yaml, "tiny.yaml", &err);
	if (!m) {
		diag("cannot build the test model: %s", errstr(&err));
		return NULL;
	}
	return m;
}

/* Distinctive values for every float of every tensor, including the
 * awkward ones; the gaps before aligned weights stay zero. */
static void fill(cnn_model *m)
{
	static const float special[] = {
	    0.0f, -0.0f, 1e-40f, -1e-45f, 3.4028235e38f, -1.17549435e-38f};
	float *arenas[4] = {m->params, m->m1, m->m2, m->best};
	for (int a = 0; a < 4; a++)
		for (int t = 0; t < m->n_tensors; t++)
			for (size_t i = m->tensors[t].off;
			     i < m->tensors[t].off + m->tensors[t].n; i++)
				arenas[a][i] =
				    i < 6 && a == 0
				        ? special[i]
				        : (float)(a + 1) * 0.1f * (float)i -
				              (float)a;
	m->has_best = 1;
	m->epoch = 3;
	m->step = 0x0123456789abcdefULL;
	m->rng.s[0] = 1;
	m->rng.s[1] = 0xffffffffffffffffULL;
	m->rng.s[2] = 0x8000000000000000ULL;
	m->rng.s[3] = 42;
	m->best_epoch = 2;
	m->best_accuracy = 0.875;
	m->epoch_pos = 1280; /* saved in the middle of epoch 4 */
	m->epoch_loss = 1234.5678901234;
	m->epoch_correct = 1111;
	m->epoch_seconds = 1.0 / 7;
	free(m->history);
	m->history = calloc(3, sizeof *m->history);
	m->n_history = 3;
	for (int i = 0; i < 3; i++) {
		cnn_epoch_metrics *e = &m->history[i];
		e->epoch = i + 1;
		e->loss = 2.5 / (i + 1);
		e->train_accuracy = 0.5 + 0.1 * i;
		e->test_accuracy = i == 1 ? 0.875 : 0.25 * i;
		e->val_accuracy = -1;
		e->seconds = 1.0 / 3 + i;
	}
}

/* 1 if both models hold the same state, bit for bit. */
static int same_state(const cnn_model *a, const cnn_model *b)
{
	size_t bytes = a->n_params * sizeof(float);
	if (a->n_params != b->n_params || memcmp(a->params, b->params, bytes) ||
	    memcmp(a->m1, b->m1, bytes) || memcmp(a->m2, b->m2, bytes) ||
	    a->has_best != b->has_best ||
	    (a->has_best && memcmp(a->best, b->best, bytes)))
		return 0;
	if (a->epoch != b->epoch || a->step != b->step ||
	    memcmp(&a->rng, &b->rng, sizeof a->rng) ||
	    a->best_epoch != b->best_epoch || a->epoch_pos != b->epoch_pos ||
	    memcmp(&a->epoch_loss, &b->epoch_loss, sizeof(double)) ||
	    a->epoch_correct != b->epoch_correct ||
	    memcmp(&a->epoch_seconds, &b->epoch_seconds, sizeof(double)) ||
	    memcmp(&a->best_accuracy, &b->best_accuracy, sizeof(double)) ||
	    a->n_history != b->n_history || strcmp(a->yaml, b->yaml))
		return 0;
	for (int i = 0; i < a->n_history; i++) {
		const cnn_epoch_metrics *x = &a->history[i],
		                        *y = &b->history[i];
		if (x->epoch != y->epoch || x->loss != y->loss ||
		    x->train_accuracy != y->train_accuracy ||
		    x->test_accuracy != y->test_accuracy ||
		    x->val_accuracy != y->val_accuracy ||
		    x->seconds != y->seconds)
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

static int spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int r;
	if (!f)
		return -1;
	r = fwrite(p, 1, n, f) == n ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}

/* The uncompressed content of a gzip file. */
static uint8_t *gunzip(const char *path, size_t *len)
{
	gzFile g = gzopen(path, "rb");
	cnn_wbuf b = {0};
	uint8_t *p;
	int n;
	if (!g)
		return NULL;
	for (;;) {
		p = cnn_wbuf_grow(&b, 65536);
		if (!p)
			break;
		n = gzread(g, p, 65536);
		b.len -= 65536 - (size_t)(n > 0 ? n : 0);
		if (n <= 0)
			break;
	}
	gzclose(g);
	*len = b.len;
	return b.data;
}

static int gzip_to(const char *path, const uint8_t *p, size_t n)
{
	gzFile g = gzopen(path, "wb");
	if (!g)
		return -1;
	if (n && gzwrite(g, p, (unsigned)n) != (int)n) {
		gzclose(g);
		return -1;
	}
	return gzclose(g) == Z_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Editing records                                                          */

typedef struct rec {
	char tag[5];
	uint8_t *p;
	size_t len;
} rec;

typedef struct content {
	uint8_t head[12]; /* signature and version */
	rec r[64];
	int n;
} content;

/* Splits a good checkpoint's content into its records. */
static int split(const uint8_t *raw, size_t len, content *c)
{
	size_t pos = 12, l;
	memcpy(c->head, raw, 12);
	c->n = 0;
	while (pos + 12 <= len && c->n < 64) {
		rec *r = &c->r[c->n++];
		memcpy(r->tag, raw + pos, 4);
		r->tag[4] = '\0';
		l = (size_t)cnn_le64(raw + pos + 4);
		r->p = malloc(l + 1);
		memcpy(r->p, raw + pos + 12, l);
		r->len = l;
		pos += 12 + l + 4;
		if (!strcmp(r->tag, "END "))
			break;
	}
	return pos == len ? 0 : -1;
}

static void content_free(content *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->r[i].p);
	c->n = 0;
}

/* Joins the records again, with fresh CRCs, and writes them gzipped. */
static int join_to(const char *path, const content *c)
{
	cnn_wbuf b = {0};
	int r;
	cnn_put_bytes(&b, c->head, 12);
	for (int i = 0; i < c->n; i++) {
		size_t start = b.len;
		cnn_put_bytes(&b, c->r[i].tag, 4);
		cnn_put_u64(&b, c->r[i].len);
		cnn_put_bytes(&b, c->r[i].p, c->r[i].len);
		cnn_put_u32(
		    &b, (uint32_t)crc32_z(0, b.data + start, b.len - start));
	}
	r = b.failed ? -1 : gzip_to(path, b.data, b.len);
	cnn_wbuf_free(&b);
	return r;
}

/* The TENS record of a tensor and role ("fc.weight", 0 = weight). */
static rec *find_tens(content *c, const char *name, int role)
{
	size_t k = strlen(name);
	for (int i = 0; i < c->n; i++) {
		rec *r = &c->r[i];
		if (!strcmp(r->tag, "TENS") && cnn_le16(r->p) == k &&
		    !memcmp(r->p + 2, name, k) && r->p[2 + k] == role)
			return r;
	}
	return NULL;
}

static void remove_rec(content *c, rec *r)
{
	int i = (int)(r - c->r);
	free(r->p);
	memmove(&c->r[i], &c->r[i + 1], (size_t)(c->n - i - 1) * sizeof *r);
	c->n--;
}

/* Loads path; returns the status and leaves the message in msg. */
static cnn_status try_load(const char *path, const char *const *ov, int n)
{
	cnn_model *m = NULL;
	cnn_error err;
	cnn_status st = cnn_model_load(&m, path, ov, n, &err);
	if (st == CNN_OK) {
		snprintf(msg, sizeof msg, "(loaded)");
		cnn_model_free(m);
	} else {
		errstr(&err);
		if (m)
			st = (cnn_status)-1; /* must stay NULL on failure */
	}
	return st;
}

/* Loads a crafted file and checks the status and that msg contains want. */
static void expect(const char *path, cnn_status want_st, const char *want,
                   const char *name)
{
	cnn_status st = try_load(path, NULL, 0);
	if (!ok(st == want_st && strstr(msg, want), "%s", name))
		diag("status %d, message: %s", (int)st, msg);
}

/* Class names (the CLAS record, format version 3): they round-trip, and a
 * damaged, misplaced or mismatched record is refused naming it. */
static void test_class_names(const char *path, const char *crafted)
{
	static const char *const names[5] = {"cat", "dog", "fox", "owl",
	                                     "\xc3\xa9lan d'or"};
	cnn_model *m = build_model(), *m2 = NULL;
	cnn_error err;
	content c;
	size_t rlen;
	uint8_t *raw;
	int i, same = 1;

	if (!m || cnn_model_set_class_names(m, names, &err) != CNN_OK ||
	    cnn_model_save(m, path, &err) != CNN_OK) {
		ok(0, "a model with class names saves: %s", errstr(&err));
		cnn_model_free(m);
		return;
	}
	ok(cnn_model_class_name(m, 5) == NULL &&
	       cnn_model_class_name(m, -1) == NULL,
	   "no name out of range");
	ok(cnn_model_load(&m2, path, NULL, 0, &err) == CNN_OK,
	   "a checkpoint with class names loads: %s", m2 ? "ok" : errstr(&err));
	for (i = 0; m2 && i < 5; i++)
		same = same && cnn_model_class_name(m2, i) &&
		       !strcmp(cnn_model_class_name(m2, i), names[i]);
	ok(m2 && same, "the five names come back in their order");
	cnn_model_free(m2);
	cnn_model_free(m);

	raw = gunzip(path, &rlen);
	if (!ok(raw && split(raw, rlen, &c) == 0 && !strcmp(c.r[3].tag, "CLAS"),
	        "CLAS is the record after HIST")) {
		free(raw);
		return;
	}
	rec *r = &c.r[3];
	memcpy(r->p + 2 + 2, "dog", 3); /* "cat" becomes a second "dog" */
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "bad record CLAS at offset",
	       "two classes of the same name are refused");
	ok(strstr(msg, "two classes have the same name") != NULL, "%s", msg);
	memcpy(r->p + 2 + 2, "cat", 3);
	r->p[0] = 4; /* 4 names, and the bytes of a fifth after them */
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "bytes after the last class name",
	       "a wrong count is refused");
	r->p[0] = 5;
	c.head[8] = 2;
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "bad record CLAS at offset",
	       "CLAS in a version 2 file is refused");
	ok(strstr(msg, "unknown record type") != NULL, "%s", msg);
	{ /* a version 2 file (no CLAS) still loads, without names */
		cnn_model *v2 = NULL;
		rec clas = c.r[3];
		memmove(&c.r[3], &c.r[4], (size_t)(c.n - 4) * sizeof *c.r);
		c.n--;
		join_to(crafted, &c);
		ok(cnn_model_load(&v2, crafted, NULL, 0, &err) == CNN_OK &&
		       cnn_model_class_name(v2, 0) == NULL,
		   "a version 2 file loads, with no class names");
		cnn_model_free(v2);
		memmove(&c.r[4], &c.r[3], (size_t)(c.n - 3) * sizeof *c.r);
		c.r[3] = clas;
		c.n++;
	}
	c.head[8] = CNN_CHECKPOINT_VERSION;
	c.r[c.n] = c.r[c.n - 1]; /* END moves one on */
	c.r[c.n - 1] = c.r[3];
	c.n++;
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "duplicate record CLAS",
	       "a second CLAS record is refused");
	c.n--;
	c.r[c.n - 1] = c.r[c.n];
	/* four valid names for a model of five classes */
	r->len = 2 + 4 * 5;
	memcpy(r->p,
	       "\x04\0"
	       "\x03\0aaa"
	       "\x03\0bbb"
	       "\x03\0ccc"
	       "\x03\0ddd",
	       r->len);
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT,
	       "bad record CLAS: 4 class names for a model of 5 classes",
	       "names for another number of classes are refused");
	content_free(&c);
	free(raw);
}

/* ------------------------------------------------------------------------ */

int main(void)
{
	cnn_model *m, *m2 = NULL;
	cnn_error err;
	uint8_t *good, *bad, *raw;
	size_t glen, rlen, i, n_bad, first_bad;
	content c;
	char want[1400];
	char *ckpt, *crafted;
	cnn_status st;

	plan_no_plan();
	snprintf(dir, sizeof dir, "%s/test_checkpoint.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done();
	}
	ckpt = strdup(P("good.ckpt.gz"));
	crafted = strdup(P("crafted.ckpt.gz"));

	/* ------------------------------------------------------------ */
	/* Round trip                                                   */
	m = build_model();
	if (!ok(m != NULL, "the test model builds")) {
		remove_dir();
		return done();
	}
	fill(m);
	st = cnn_model_save(m, ckpt, &err);
	ok(st == CNN_OK && err.status == CNN_OK, "save: %s",
	   st ? errstr(&err) : "ok");
	ok(count_files(".tmp.") == 0, "save leaves no temporary file");
	st = cnn_model_load(&m2, ckpt, NULL, 0, &err);
	ok(st == CNN_OK && m2, "load: %s", st ? errstr(&err) : "ok");
	if (m2) {
		ok(same_state(m, m2),
		   "the loaded state equals the saved one bit for bit");
		ok(cnn_model_save(m2, P("again.ckpt.gz"), &err) == CNN_OK,
		   "the loaded model saves again");
		good = slurp(ckpt, &glen);
		bad = slurp(P("again.ckpt.gz"), &rlen);
		ok(good && bad && glen == rlen && !memcmp(good, bad, glen),
		   "saving the same state twice gives the same bytes");
		free(good);
		free(bad);
		cnn_model_free(m2);
		m2 = NULL;
	}

	/* Overrides apply to the embedded model. */
	{
		const char *ov[] = {"training.epochs=9"};
		cnn_train_state ts;
		ok(cnn_model_load(&m2, ckpt, ov, 1, &err) == CNN_OK &&
		       (cnn_model_train_state(m2, &ts), ts.epochs == 9) &&
		       ts.epoch == 3,
		   "an override changes the embedded model (epochs 9)");
		cnn_model_free(m2);
		m2 = NULL;
		const char *bad_ov[] = {"training.epochs=-4"};
		st = cnn_model_load(&m2, ckpt, bad_ov, 1, &err);
		ok((st == CNN_ERR_CONFIG || st == CNN_ERR_USAGE) && !m2,
		   "a bad override keeps its own status: %s", errstr(&err));
		/* Changing a layer makes the stored tensor disagree. */
		const char *wider[] = {"layers.4.units=6"};
		st = cnn_model_load(&m2, ckpt, wider, 1, &err);
		ok(st == CNN_ERR_CORRUPT && !m2 &&
		       strstr(errstr(&err), "fc.weight") &&
		       strstr(msg, "5x18") && strstr(msg, "6x18"),
		   "a tensor shape that disagrees with the model: %s", msg);
	}

	/* A model without best weights round-trips without them. */
	m->has_best = 0;
	m->best_epoch = 0;
	st = cnn_model_save(m, P("nobest.ckpt.gz"), &err);
	if (st == CNN_OK)
		st = cnn_model_load(&m2, P("nobest.ckpt.gz"), NULL, 0, &err);
	ok(st == CNN_OK && m2->has_best == 0 && m2->best_epoch == 0 &&
	       !memcmp(m2->params, m->params, m->n_params * 4),
	   "without best weights: %s", st ? errstr(&err) : "ok");
	cnn_model_free(m2);
	m2 = NULL;
	m->has_best = 1;
	m->best_epoch = 2;

	/* ------------------------------------------------------------ */
	/* Every byte flipped, every truncation                         */
	good = slurp(ckpt, &glen);
	if (!ok(good && glen > 100, "read the good checkpoint (%zu bytes)",
	        glen)) {
		remove_dir();
		return done();
	}
	bad = malloc(glen);
	for (int mask = 0xff; mask; mask = mask == 0xff ? 0x01 : 0) {
		n_bad = 0;
		first_bad = glen;
		for (i = 0; i < glen; i++) {
			memcpy(bad, good, glen);
			bad[i] ^= (uint8_t)mask;
			spit(crafted, bad, glen);
			if (try_load(crafted, NULL, 0) != CNN_ERR_CORRUPT) {
				if (!n_bad++)
					first_bad = i;
			}
		}
		if (!ok(n_bad == 0,
		        "each of the %zu bytes xor 0x%02x is refused as "
		        "corrupt",
		        glen, mask)) {
			memcpy(bad, good, glen);
			bad[first_bad] ^= (uint8_t)mask;
			spit(crafted, bad, glen);
			try_load(crafted, NULL, 0);
			diag("%zu accepted, first at byte %zu: %s", n_bad,
			     first_bad, msg);
		}
	}
	n_bad = 0;
	first_bad = glen;
	for (i = 0; i < glen; i++) {
		spit(crafted, good, i);
		if (try_load(crafted, NULL, 0) != CNN_ERR_CORRUPT ||
		    !strstr(msg, "truncated")) {
			if (!n_bad++)
				first_bad = i;
		}
	}
	if (!ok(n_bad == 0,
	        "each of the %zu truncations is refused as truncated", glen)) {
		spit(crafted, good, first_bad);
		try_load(crafted, NULL, 0);
		diag("%zu wrong, first at length %zu: %s", n_bad, first_bad,
		     msg);
	}
	spit(crafted, good, glen / 2);
	expect(crafted, CNN_ERR_CORRUPT, "truncated (while reading record TENS",
	       "a cut in the middle names the record being read");
	/* Garbage after the gzip stream. */
	memcpy(bad, good, glen);
	{
		FILE *f = fopen(crafted, "wb");
		fwrite(good, 1, glen, f);
		fputs("x", f);
		fclose(f);
	}
	expect(crafted, CNN_ERR_CORRUPT, "after the end of the gzip stream",
	       "data after the gzip stream");
	free(bad);

	/* ------------------------------------------------------------ */
	/* Crafted content                                              */
	raw = gunzip(ckpt, &rlen);
	c.n = 0;
	i = raw && rlen > 12 && split(raw, rlen, &c) == 0 && c.n >= 5;
	if (!ok(i, "the content splits into %d records", c.n)) {
		remove_dir();
		return done();
	}
	ok(!memcmp(raw,
	           "\x89"
	           "CNN\r\n\x1a\n\x03\0\0\0",
	           12),
	   "the content starts with the signature and version 3");
	ok(!strcmp(c.r[0].tag, "MODL") && !strcmp(c.r[1].tag, "STAT") &&
	       !strcmp(c.r[2].tag, "HIST") && !strcmp(c.r[c.n - 1].tag, "END "),
	   "records MODL, STAT, HIST first and END last");
	ok(join_to(crafted, &c) == 0 && try_load(crafted, NULL, 0) == CNN_OK,
	   "re-joined records load (the test's editor is sound): %s", msg);

	/* Signature with its CR LF turned into LF (text-mode damage). */
	{
		uint8_t *t = malloc(rlen);
		memcpy(t, raw, 4);
		memcpy(t + 4, raw + 5, rlen - 5);
		gzip_to(crafted, t, rlen - 1);
		snprintf(want, sizeof want,
		         "%s: not a libcnn checkpoint (bad signature)",
		         crafted);
		try_load(crafted, NULL, 0);
		ok(!strcmp(msg, want), "a damaged signature: %s", msg);
		free(t);
	}
	/* A future version. */
	c.head[8] = 7;
	join_to(crafted, &c);
	snprintf(want, sizeof want,
	         "%s: checkpoint format version 7 is newer than this libcnn "
	         "supports (3)",
	         crafted);
	ok(try_load(crafted, NULL, 0) == CNN_ERR_CORRUPT && !strcmp(msg, want),
	   "a newer version: %s", msg);
	c.head[8] = 0;
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "bad checkpoint format version 0",
	       "version 0 is refused");
	c.head[8] = CNN_CHECKPOINT_VERSION;

	/* A record after END. */
	c.r[c.n] = c.r[2];
	c.r[c.n].p = malloc(c.r[2].len);
	memcpy(c.r[c.n].p, c.r[2].p, c.r[2].len);
	c.n++;
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "after the END record",
	       "a record after END");
	remove_rec(&c, &c.r[c.n - 1]);

	/* No END record. */
	{
		rec end = c.r[c.n - 1];
		c.n--;
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT,
		       "truncated (the END record is missing)",
		       "a missing END record");
		c.r[c.n++] = end;
	}

	/* A bad checksum in a tensor's record, inside a valid gzip. */
	{
		rec *r = find_tens(&c, "fc.weight", 2);
		cnn_wbuf b = {0};
		size_t off = 12;
		if (ok(r != NULL, "the checkpoint has fc.weight's moment2")) {
			for (rec *q = c.r; q < r; q++)
				off += 16 + q->len;
			memcpy(cnn_wbuf_grow(&b, rlen), raw, rlen);
			b.data[off + 12 + r->len - 3] ^= 0x10;
			gzip_to(crafted, b.data, b.len);
			expect(crafted, CNN_ERR_CORRUPT,
			       "checksum mismatch in record TENS fc.weight "
			       "(moment2)",
			       "a checksum mismatch names the tensor");
		}
		cnn_wbuf_free(&b);
	}

	/* A stored shape that disagrees with the model (same size). */
	{
		rec *r = find_tens(&c, "fc.weight", 0);
		size_t k = strlen("fc.weight");
		uint8_t save[8];
		memcpy(save, r->p + 2 + k + 2, 8);
		cnn_store_le32(r->p + 2 + k + 2, 18);
		cnn_store_le32(r->p + 2 + k + 6, 5);
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT,
		       "tensor fc.weight (weight) has shape 18x5 in the "
		       "checkpoint but 5x18 in its model",
		       "a transposed tensor shape is refused");
		/* Absurd dimensions: no overflow, no allocation. */
		cnn_store_le32(r->p + 2 + k + 2, 0x7fffffff);
		cnn_store_le32(r->p + 2 + k + 6, 0x7fffffff);
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT, "does not match its shape",
		       "absurd dimensions are refused");
		memcpy(r->p + 2 + k + 2, save, 8);
	}

	/* A tensor's record missing. */
	{
		rec *r = find_tens(&c, "conv.bias", 1);
		rec keep = *r;
		int at = (int)(r - c.r);
		memmove(&c.r[at], &c.r[at + 1],
		        (size_t)(c.n - at - 1) * sizeof *r);
		c.n--;
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT,
		       "tensor conv.bias (moment1) is missing",
		       "a missing tensor record");
		memmove(&c.r[at + 1], &c.r[at], (size_t)(c.n - at) * sizeof *r);
		c.r[at] = keep;
		c.n++;
	}

	/* A tensor the model does not have. */
	{
		rec *r = find_tens(&c, "fc.bias", 3);
		r->p[2] = 'g'; /* "gc.bias" */
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT,
		       "tensor gc.bias in the checkpoint is not in its model",
		       "an unknown tensor");
		r->p[2] = 'f';
	}

	/* A history whose count disagrees with its length. */
	cnn_store_le32(c.r[2].p, 0xffffffffu);
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "bad record HIST",
	       "an absurd history count is refused");
	cnn_store_le32(c.r[2].p, 3);

	/* A duplicate STAT. */
	{
		memmove(&c.r[3], &c.r[2], (size_t)(c.n - 2) * sizeof c.r[0]);
		c.r[2] = c.r[1];
		c.r[2].p = malloc(c.r[1].len);
		memcpy(c.r[2].p, c.r[1].p, c.r[1].len);
		c.n++;
		join_to(crafted, &c);
		expect(crafted, CNN_ERR_CORRUPT, "duplicate record STAT",
		       "a duplicate record");
		remove_rec(&c, &c.r[2]);
	}

	/* An unknown record type. */
	memcpy(c.r[2].tag, "HIXT", 4);
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "unknown record type",
	       "an unknown record type");
	memcpy(c.r[2].tag, "HIST", 4);

	/* Best weights stored but the state says there are none. */
	c.r[1].p[60] = 0; /* STAT's has_best */
	join_to(crafted, &c);
	expect(crafted, CNN_ERR_CORRUPT, "best weights are stored",
	       "best weights without has_best");
	c.r[1].p[60] = 1;

	ok(join_to(crafted, &c) == 0 && try_load(crafted, NULL, 0) == CNN_OK,
	   "the undamaged content still loads after all the edits");

	/* An embedded description that no longer parses: its own error,
	 * located in "PATH:model". */
	{
		rec keep = c.r[0];
		static const char broken[] = "name: [tiny\n";
		c.r[0].p = (uint8_t *)broken;
		c.r[0].len = sizeof broken - 1;
		join_to(crafted, &c);
		snprintf(want, sizeof want, "%s:model:", crafted);
		st = try_load(crafted, NULL, 0);
		ok(st == CNN_ERR_CORRUPT && !strncmp(msg, want, strlen(want)),
		   "a broken embedded description is located: %s", msg);
		c.r[0] = keep;
	}

	/* has_best set but no best weights stored. */
	{
		content d = c;
		int k = 0;
		for (int j = 0; j < c.n; j++) {
			rec *r = &c.r[j];
			if (strcmp(r->tag, "TENS") ||
			    r->p[2 + cnn_le16(r->p)] != 3)
				d.r[k++] = *r;
		}
		d.n = k;
		join_to(crafted, &d);
		expect(crafted, CNN_ERR_CORRUPT, "(best) is missing",
		       "has_best without best weights");
	}
	/* No moments at all: loads, the moments start at zero. */
	{
		content d = c;
		int k = 0, zero = 1;
		for (int j = 0; j < c.n; j++) {
			rec *r = &c.r[j];
			int role = strcmp(r->tag, "TENS")
			               ? -1
			               : r->p[2 + cnn_le16(r->p)];
			if (role != 1 && role != 2)
				d.r[k++] = *r;
		}
		d.n = k;
		join_to(crafted, &d);
		st = cnn_model_load(&m2, crafted, NULL, 0, &err);
		for (i = 0; st == CNN_OK && i < m2->n_params; i++)
			zero &= m2->m1[i] == 0 && m2->m2[i] == 0;
		ok(st == CNN_OK && zero &&
		       !memcmp(m2->params, m->params, m->n_params * 4),
		   "without moments the weights load and the moments are "
		   "zero: %s",
		   st ? errstr(&err) : "ok");
		cnn_model_free(m2);
		m2 = NULL;
	}
	content_free(&c);
	free(raw);

	/* ------------------------------------------------------------ */
	/* Files that are not checkpoints                               */
	expect(P("missing.ckpt.gz"), CNN_ERR_IO,
	       "cannot open checkpoint: No such file or directory",
	       "a missing file is an I/O error");
	spit(crafted, "name: x\n", 8);
	expect(crafted, CNN_ERR_CORRUPT, "not gzip-compressed",
	       "a file that is not gzip");
	spit(crafted, "", 0);
	expect(crafted, CNN_ERR_CORRUPT, "truncated", "an empty file");
	gzip_to(crafted, (const uint8_t *)"hello, world", 12);
	expect(crafted, CNN_ERR_CORRUPT, "bad signature",
	       "a gzip file of something else");
	expect(dir, CNN_ERR_IO, "cannot read checkpoint",
	       "a folder is an I/O error");

	/* ------------------------------------------------------------ */
	/* Saving that fails                                            */
	{
		const char *p = P("no/such/folder/x.ckpt.gz");
		snprintf(
		    want, sizeof want,
		    "%s: cannot write checkpoint: No such file or directory",
		    p);
		ok(cnn_model_save(m, p, &err) == CNN_ERR_IO &&
		       !strcmp(errstr(&err), want),
		   "save into a missing folder: %s", msg);
		ok(count_files(".tmp.") == 0, "... leaves no temporary file");
	}
	{
		struct stat sb;
		st = cnn_model_save(m, "/dev/full", &err);
		ok(st == CNN_ERR_IO &&
		       strstr(errstr(&err), "not a regular file") &&
		       stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode),
		   "save over /dev/full fails and leaves it a device: %s",
		   errstr(&err));
	}
	st = cnn_model_save(m, dir, &err);
	ok(st == CNN_ERR_IO && strstr(errstr(&err), "not a regular file") &&
	       count_files(".tmp.") == 0,
	   "save over a folder fails cleanly: %s", msg);
	/* A write that fails half way (file size limit, like a full disk):
	 * the previous checkpoint must survive intact. */
	{
		struct rlimit old, lim;
		size_t before_len, after_len;
		uint8_t *before = slurp(ckpt, &before_len), *after;
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		lim = old;
		lim.rlim_cur = 100;
		setrlimit(RLIMIT_FSIZE, &lim);
		st = cnn_model_save(m, ckpt, &err);
		setrlimit(RLIMIT_FSIZE, &old);
		ok(st == CNN_ERR_IO && strstr(errstr(&err), "File too large"),
		   "a write that fails half way is an I/O error: %s", msg);
		after = slurp(ckpt, &after_len);
		ok(before && after && before_len == after_len &&
		       !memcmp(before, after, before_len),
		   "... and the previous checkpoint is untouched");
		ok(count_files(".tmp.") == 0,
		   "... and no temporary file is left");
		free(before);
		free(after);
	}
	if (geteuid() != 0) {
		const char *sub = P("ro");
		char p[300];
		snprintf(p, sizeof p, "%s/x.ckpt.gz", sub);
		mkdir(sub, 0500);
		ok(cnn_model_save(m, p, &err) == CNN_ERR_IO &&
		       strstr(errstr(&err), "Permission denied"),
		   "save into a read-only folder: %s", msg);
		rmdir(sub);
	} else {
		ok(1, "save into a read-only folder # SKIP running as root");
	}
	ok(try_load(ckpt, NULL, 0) == CNN_OK,
	   "the good checkpoint still loads after the failed saves");
	{
		struct stat sb;
		chmod(ckpt, 0640);
		st = cnn_model_save(m, ckpt, &err);
		ok(st == CNN_OK && stat(ckpt, &sb) == 0 &&
		       (sb.st_mode & 07777) == 0640,
		   "saving over a checkpoint keeps its mode");
	}
	{
		st = cnn_model_load(NULL, ckpt, NULL, 0, &err);
		ok(st == CNN_ERR_USAGE, "load with no output pointer: usage");
	}

	cnn_model_free(m);
	free(good);
	test_class_names(P("names.ckpt.gz"), crafted);
	remove_dir();
	free(ckpt);
	free(crafted);
	return done();
}

/*
 * test_io.c - io.c, the ground floor: the bounded whole-file reader
 * (cnn_io_read; short reads from a pipe, the limit before and while
 * reading), the one gzip inflater (cnn_gunzip: truncation, every checksum,
 * concatenated members, a bomb stopped at the limit and by the caller's
 * check), cnn_read_file's messages, and the atomic writer (cnn_write_file,
 * cnn_check_target: failures leave no temporary file and the old file as
 * it was; the mode is kept on replace). Every error path's message is
 * checked.
 */
#define _DEFAULT_SOURCE

#include "io.h"

#include "util.h"
#include "tap.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

static char got[1200];

static const char *errstr(const cnn_error *err)
{
	return cnn_error_string(err, got, sizeof got);
}

/* Checks status and the whole message ("PATH: " + text when path). */
static void expect(cnn_status st, cnn_error *err, cnn_status want,
                   const char *path, const char *text, const char *name)
{
	char w[1200];
	snprintf(w, sizeof w, "%s%s%s", path ? path : "", path ? ": " : "",
	         text);
	if (!ok(st == want && !strcmp(errstr(err), w), "%s", name))
		diag("got %d \"%s\", want %d \"%s\"", st, got, want, w);
	cnn_err_clear(err);
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		printf("Bail out! cannot write %s\n", path), exit(1);
}

/* n bytes gzipped by zlib into a malloc'ed buffer (*gn bytes). */
static uint8_t *gz(const void *data, size_t n, size_t *gn)
{
	z_stream zs;
	size_t cap = n + n / 100 + 1024;
	uint8_t *out = malloc(cap);
	memset(&zs, 0, sizeof zs);
	deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	*gn = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static void test_io_read(void)
{
	uint8_t *p, buf[100000];
	cnn_io_result r;
	size_t n, i;
	int fds[2];
	pid_t pid;

	spit(P("ten"), "0123456789", 10);
	ok(cnn_io_read(P("ten"), 10, 10, &p, &n, &r) == CNN_IO_OK && n == 10 &&
	       !memcmp(p, "0123456789", 11),
	   "io_read: a file of exactly max bytes, NUL-terminated");
	free(p);
	ok(cnn_io_read(P("ten"), 9, 100, &p, &n, &r) == CNN_IO_LARGE && !p &&
	       r.fail == CNN_IO_LARGE,
	   "io_read: a plain file over max (max_gz does not apply)");
	ok(cnn_io_read(P("missing"), 9, 9, &p, &n, &r) == CNN_IO_OPEN &&
	       r.errnum == ENOENT && !p,
	   "io_read: a missing file is OPEN, ENOENT");
	ok(cnn_io_read(dir, 9, 9, &p, &n, &r) == CNN_IO_READ &&
	       r.errnum == EISDIR,
	   "io_read: a folder is READ, EISDIR");
	spit(P("empty"), "", 0);
	ok(cnn_io_read(P("empty"), 9, 9, &p, &n, &r) == CNN_IO_OK && n == 0 &&
	       p && !p[0],
	   "io_read: an empty file");
	free(p);

	/* Short reads: a pipe fed in small pieces, its size unknown. */
	for (i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7);
	if (pipe(fds) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		for (i = 0; i < sizeof buf; i += 997) {
			size_t k = sizeof buf - i < 997 ? sizeof buf - i : 997;
			if (write(fds[1], buf + i, k) != (ssize_t)k)
				_exit(1);
			if (i % 20 == 0)
				usleep(100);
		}
		_exit(0);
	}
	close(fds[1]);
	{
		char path[64];
		snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
		ok(cnn_io_read(path, sizeof buf, sizeof buf, &p, &n, &r) ==
		           CNN_IO_OK &&
		       n == sizeof buf && !memcmp(p, buf, n),
		   "io_read: a pipe read in short pieces, exactly max bytes");
		free(p);
	}
	close(fds[0]);
	waitpid(pid, NULL, 0);

	/* Over the limit while reading (a pipe: the size is unknown). */
	if (pipe(fds) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (write(fds[1], buf, 5000) != 5000)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	{
		char path[64];
		snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
		ok(cnn_io_read(path, 4999, 4999, &p, &n, &r) == CNN_IO_LARGE &&
		       !p,
		   "io_read: a pipe one byte over max");
	}
	close(fds[0]);
	waitpid(pid, NULL, 0);
}

/* Whether the caller's check refuses: always (it records the bytes seen). */
static size_t check_seen;
static int refuse(const uint8_t *out, size_t len, void *arg)
{
	(void)out;
	(void)arg;
	check_seen = len;
	return 1;
}

static void test_gunzip(void)
{
	static const char text[] = "hello, world\n";
	cnn_gunzip_opts o = {1000, 1, NULL, 0, NULL};
	size_t gn, n, bn, i;
	uint8_t *g = gz(text, 13, &gn), *out, *two, *big, *bomb;
	cnn_io_result r;

	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_OK && n == 13 &&
	       !memcmp(out, text, 14),
	   "gunzip: one member, NUL-terminated");
	free(out);
	ok(cnn_gunzip(g, gn - 1, &o, &out, &n, &r) == CNN_IO_TRUNCATED &&
	       n == 13,
	   "gunzip: a trailer cut short is TRUNCATED, the content kept");
	free(out);
	ok(cnn_gunzip(g, 12, &o, &out, &n, &r) == CNN_IO_TRUNCATED,
	   "gunzip: data cut short is TRUNCATED");
	free(out);
	ok(cnn_gunzip(g, 5, &o, &out, &n, &r) == CNN_IO_TRUNCATED && n == 0,
	   "gunzip: a header cut short is TRUNCATED");
	free(out);
	ok(cnn_gunzip((const uint8_t *)"hello", 5, &o, &out, &n, &r) ==
	       CNN_IO_NOT_GZIP,
	   "gunzip: not gzip");
	free(out);

	/* Two members: one stream, or trailing data after the first. */
	two = malloc(2 * gn);
	memcpy(two, g, gn);
	memcpy(two + gn, g, gn);
	ok(cnn_gunzip(two, 2 * gn, &o, &out, &n, &r) == CNN_IO_TRAILING &&
	       r.at == gn && n == 13,
	   "gunzip: one_member: a second member is TRAILING at its offset");
	free(out);
	o.one_member = 0;
	ok(cnn_gunzip(two, 2 * gn, &o, &out, &n, &r) == CNN_IO_OK && n == 26 &&
	       !memcmp(out + 13, text, 13),
	   "gunzip: concatenated members are one stream");
	free(out);
	two[gn] = 'j';
	ok(cnn_gunzip(two, 2 * gn, &o, &out, &n, &r) == CNN_IO_TRAILING &&
	       r.at == gn,
	   "gunzip: garbage after a member is TRAILING");
	free(out);
	free(two);

	/* The limit: exactly max is fine, one byte less is LARGE. */
	o.max = 13;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_OK && n == 13,
	   "gunzip: exactly max bytes");
	free(out);
	o.max = 12;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_LARGE,
	   "gunzip: one byte over max is LARGE");
	free(out);
	free(g);

	/* A bomb: 256 MiB of zeros in a few hundred KiB. */
	bn = (size_t)256 << 20;
	big = calloc(bn, 1);
	bomb = gz(big, bn, &gn);
	free(big);
	o.max = (size_t)1 << 20;
	ok(cnn_gunzip(bomb, gn, &o, &out, &n, &r) == CNN_IO_LARGE &&
	       n <= o.max + 1,
	   "gunzip: a bomb stops at the limit (%zu bytes kept)", n);
	free(out);
	o.max = bn;
	o.check = refuse;
	o.peek = 12;
	ok(cnn_gunzip(bomb, gn, &o, &out, &n, &r) == CNN_IO_STOPPED &&
	       check_seen >= 12 && n <= 65536,
	   "gunzip: the caller's check refuses it after %zu bytes", n);
	free(out);
	free(bomb);

	/* Checksums: the trailer's CRC and length, then the header. */
	g = gz(text, 13, &gn);
	o = (cnn_gunzip_opts){1000, 1, NULL, 0, NULL};
	g[gn - 8] ^= 1;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_CRC && n == 13,
	   "gunzip: a trailer CRC mismatch is CRC, the content kept");
	free(out);
	g[gn - 8] ^= 1;
	g[gn - 4] ^= 1;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_LENGTH,
	   "gunzip: a trailer length mismatch is LENGTH");
	free(out);
	g[gn - 4] ^= 1;
	g[2] = 7;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_HEADER &&
	       !strcmp(r.why, "unknown compression method"),
	   "gunzip: %s", r.why);
	free(out);
	g[2] = 8;
	g[3] = 0x20;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_HEADER &&
	       !strcmp(r.why, "reserved header flags set"),
	   "gunzip: %s", r.why);
	free(out);
	g[3] = 0;
	for (i = 10; i < gn - 8; i++)
		g[i] ^= 0xff;
	ok(cnn_gunzip(g, gn, &o, &out, &n, &r) == CNN_IO_INFLATE && r.why &&
	       r.at >= 10,
	   "gunzip: damaged data is INFLATE (%s at byte %zu)", r.why, r.at);
	free(out);
	free(g);
}

/* A gzip file with a header CRC16 and our CK subfield. */
static size_t ck_file(uint8_t *f)
{
	uint8_t head[22] = {0x1f, 0x8b, 8, 0x04 | 0x02, 0,   0,   0, 0,
	                    0,    255,  8, 0,           'C', 'K', 4, 0};
	size_t gn, dn;
	uint8_t *g = gz("abc", 3, &gn);
	uint32_t c;
	dn = gn - 18; /* raw deflate data of zlib's gzip */
	c = (uint32_t)crc32(0L, g + 10, (uInt)dn);
	head[16] = (uint8_t)c, head[17] = (uint8_t)(c >> 8);
	head[18] = (uint8_t)(c >> 16), head[19] = (uint8_t)(c >> 24);
	c = (uint32_t)crc32(0L, head, 20);
	head[20] = (uint8_t)c, head[21] = (uint8_t)(c >> 8);
	memcpy(f, head, 22);
	memcpy(f + 22, g + 10, dn + 8);
	free(g);
	return 22 + dn + 8;
}

static void test_gunzip_ck(void)
{
	cnn_gunzip_opts o = {1000, 1, NULL, 0, NULL};
	uint8_t f[200], *out;
	cnn_io_result r;
	size_t n, fn = ck_file(f);

	ok(cnn_gunzip(f, fn, &o, &out, &n, &r) == CNN_IO_OK && n == 3,
	   "gunzip: header CRC16 and CK subfield checked");
	free(out);
	f[20] ^= 1;
	ok(cnn_gunzip(f, fn, &o, &out, &n, &r) == CNN_IO_HEADER &&
	       !strcmp(r.why, "header checksum mismatch"),
	   "gunzip: %s", r.why ? r.why : "?");
	free(out);
	f[20] ^= 1;
	f[16] ^= 1; /* the CK value, with the header's CRC16 made right */
	{
		uint32_t c = (uint32_t)crc32(0L, f, 20);
		f[20] = (uint8_t)c, f[21] = (uint8_t)(c >> 8);
	}
	ok(cnn_gunzip(f, fn, &o, &out, &n, &r) == CNN_IO_CK && n == 3,
	   "gunzip: a CK mismatch is CK, the content kept");
	free(out);
	f[12] = 'C', f[13] = 'K', f[14] = 5;
	{
		uint32_t c = (uint32_t)crc32(0L, f, 20);
		f[20] = (uint8_t)c, f[21] = (uint8_t)(c >> 8);
	}
	ok(cnn_gunzip(f, fn, &o, &out, &n, &r) == CNN_IO_HEADER &&
	       !strcmp(r.why, "bad extra field"),
	   "gunzip: %s", r.why ? r.why : "?");
	free(out);
}

static void test_read_file(void)
{
	static const char text[] = "hello, world\n";
	cnn_error err;
	cnn_status st;
	uint8_t *b, *g;
	size_t len, gn;
	char want[300];

	cnn_err_clear(&err);
	spit(P("hello.txt"), text, 13);
	st = cnn_read_file(P("hello.txt"), 12, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("hello.txt"), "larger than 12 bytes",
	       "read_file: a plain file over max");
	ok(!b && len > 12, "read_file: ... *len above max, *out NULL");
	g = gz(text, 13, &gn);
	spit(P("hello.gz"), g, gn);
	st = cnn_read_file(P("hello.gz"), 12, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("hello.gz"),
	       "larger than 12 bytes when uncompressed",
	       "read_file: gzip over max");
	spit(P("cut.gz"), g, gn - 3);
	st = cnn_read_file(P("cut.gz"), 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("cut.gz"),
	       "damaged gzip data (unexpected end of file)",
	       "read_file: a truncated gzip file");
	g[gn - 8] ^= 1;
	spit(P("crc.gz"), g, gn);
	st = cnn_read_file(P("crc.gz"), 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("crc.gz"),
	       "damaged gzip data (incorrect data check)",
	       "read_file: a CRC mismatch");
	g[gn - 8] ^= 1;
	g[gn - 1] ^= 1;
	spit(P("len.gz"), g, gn);
	st = cnn_read_file(P("len.gz"), 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("len.gz"),
	       "damaged gzip data (incorrect length check)",
	       "read_file: a length mismatch");
	g[gn - 1] ^= 1;
	g[3] = 0x40;
	spit(P("flags.gz"), g, gn);
	st = cnn_read_file(P("flags.gz"), 100, &b, &len, &err);
	expect(st, &err, CNN_ERR_DATA, P("flags.gz"),
	       "damaged gzip data (reserved header flags set)",
	       "read_file: reserved header flags");
	free(g);
	st = cnn_read_file(P("missing"), 100, &b, &len, &err);
	snprintf(want, sizeof want, "cannot open: %s", strerror(ENOENT));
	expect(st, &err, CNN_ERR_IO, P("missing"), want,
	       "read_file: a missing file");
	st = cnn_read_file(dir, 100, &b, &len, &err);
	snprintf(want, sizeof want, "cannot read: %s", strerror(EISDIR));
	expect(st, &err, CNN_ERR_IO, dir, want, "read_file: a folder");
}

static void test_write(void)
{
	cnn_error err;
	struct stat sb;
	uint8_t *p = NULL;
	size_t n;
	char want[300];
	const char *missing = P("no/such/x");

	cnn_err_clear(&err);
	ok(cnn_write_file(P("w"), (const uint8_t *)"first", 5, "test", &err) ==
	           CNN_OK &&
	       (p = slurp(P("w"), &n)) && n == 5 && !memcmp(p, "first", 5),
	   "write_file: writes");
	free(p);
	chmod(P("w"), 0640);
	ok(cnn_write_file(P("w"), (const uint8_t *)"second", 6, "test", &err) ==
	           CNN_OK &&
	       stat(P("w"), &sb) == 0 && (sb.st_mode & 07777) == 0640,
	   "write_file: the mode is kept on replace");
	ok(count_files(".tmp.") == 0, "write_file: no temporary file left");

	snprintf(want, sizeof want, "cannot write test: %s", strerror(ENOENT));
	expect(cnn_write_file(missing, (const uint8_t *)"x", 1, "test", &err),
	       &err, CNN_ERR_IO, missing, want,
	       "write_file: into a missing folder");
	expect(cnn_check_target(missing, "test", &err), &err, CNN_ERR_IO,
	       missing, want, "check_target: a missing folder");
	ok(cnn_check_target(P("w"), "test", &err) == CNN_OK &&
	       count_files(".tmp.") == 0,
	   "check_target: a writable target, no temporary file left");
	mkdir(P("sub"), 0755);
	expect(cnn_write_file(P("sub"), (const uint8_t *)"x", 1, "test", &err),
	       &err, CNN_ERR_IO, P("sub"),
	       "cannot write test: not a regular file",
	       "write_file: over a folder");
	rmdir(P("sub"));
	expect(cnn_check_target("/dev/full", "test", &err), &err, CNN_ERR_IO,
	       "/dev/full", "cannot write test: not a regular file",
	       "check_target: a device");
	expect(
	    cnn_write_file("/dev/full", (const uint8_t *)"x", 1, "test", &err),
	    &err, CNN_ERR_IO, "/dev/full",
	    "cannot write test: not a regular file",
	    "write_file: never over a device");

	/* A write that fails half way (a file size limit, like a full
	 * disk): the old file is untouched, no temporary file is left. */
	{
		struct rlimit old, lim;
		static uint8_t big[4096];
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		lim = old;
		lim.rlim_cur = 100;
		setrlimit(RLIMIT_FSIZE, &lim);
		cnn_status st =
		    cnn_write_file(P("w"), big, sizeof big, "test", &err);
		setrlimit(RLIMIT_FSIZE, &old);
		snprintf(want, sizeof want, "cannot write test: %s",
		         strerror(EFBIG));
		expect(st, &err, CNN_ERR_IO, P("w"), want,
		       "write_file: a write that fails half way");
		ok((p = slurp(P("w"), &n)) && n == 6 && !memcmp(p, "second", 6),
		   "... leaves the old file as it was");
		free(p);
		ok(count_files(".tmp.") == 0, "... and no temporary file");
	}
}

int main(void)
{
	plan_no_plan();
	snprintf(dir, sizeof dir, "/tmp/cnn-test-io.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a scratch folder\n");
		return 1;
	}
	test_io_read();
	test_gunzip();
	test_gunzip_ck();
	test_read_file();
	test_write();
	remove_dir();
	return done();
}

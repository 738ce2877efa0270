/*
 * io.c - files: the bounded whole-file reader, the one gzip inflater, and
 * the atomic writer. The ground floor of the library: nothing here knows
 * what the bytes mean.
 *
 * Invariants
 *  - Every input is treated as hostile: a read never keeps more than the
 *    limit its caller gives (plus a NUL), a file's size is checked before
 *    it is read, and an inflation stops at its limit (a gzip bomb is never
 *    inflated whole).
 *  - Every byte of a gzip file is checked: the header (and its CRC16), the
 *    compressed data (our "CK" subfield's CRC-32, see checkpoint.c), the
 *    content (the trailer's CRC-32 and length).
 *  - A write never touches PATH until a complete, synced copy exists beside
 *    it: temp file, write, fsync, close, rename, fsync the folder.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */

#include "io.h"

#include "bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK ((size_t)64 * 1024)
#define GIGA  ((size_t)1 << 30)

#define GZ_FEXTRA   0x04
#define GZ_FHCRC    0x02
#define GZ_FNAME    0x08
#define GZ_FCOMMENT 0x10

static int is_gzip(const uint8_t *p, size_t n)
{
	return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Records a failure in res and returns it. */
static cnn_io_fail fail(cnn_io_result *res, cnn_io_fail f, int errnum,
                        size_t at)
{
	res->fail = f;
	res->errnum = errnum;
	res->at = at;
	return f;
}

/* ======================================================================== */
/* Reading a file as it is                                                  */

/* A growing output buffer with room for a NUL after cap bytes. */
struct obuf {
	uint8_t *p;
	size_t len, cap, max;
};

/* Asks the kernel to map the whole pages of the n bytes at p now, in one
 * call: a large buffer that is about to be filled would otherwise take one
 * page fault per 4 KiB page, which costs more than the copy on a virtual
 * machine. Only a hint: a kernel that cannot do it faults as usual. */
static void prefault(uint8_t *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	const uintptr_t page = 4096;
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t b = ((uintptr_t)p + n) & ~(page - 1);
	if (n >= ((size_t)1 << 20) && b > a)
		(void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)n;
#endif
}

/* Makes the capacity at least min(want, b->max) bytes (plus the NUL),
 * growing geometrically so that reading costs amortised O(n). */
static int obuf_reserve(struct obuf *b, size_t want)
{
	size_t cap = b->cap;
	uint8_t *p;
	if (want > b->max)
		want = b->max;
	if (b->p && want <= cap)
		return 0;
	if (cap < want)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	if (cap < want)
		cap = want;
	p = realloc(b->p, cap + 1);
	if (!p)
		return -1;
	prefault(p + b->len, want - b->len);
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Reads the rest of f into b (its first bytes are there already). When the
 * buffer is full, one more byte is read aside before growing it, so that a
 * file of exactly the expected size is never copied into a larger one. */
static cnn_io_fail read_rest(FILE *f, struct obuf *b, cnn_io_result *res)
{
	unsigned char extra;
	size_t n, want;

	for (;;) {
		if (b->len == b->cap) {
			if (fread(&extra, 1, 1, f) != 1)
				break;
			if (b->cap == b->max)
				return fail(res, CNN_IO_LARGE, 0, 0);
			if (obuf_reserve(b, b->cap + 1))
				return fail(res, CNN_IO_NOMEM, 0, b->cap + 1);
			b->p[b->len++] = extra;
			continue;
		}
		want = b->cap - b->len;
		n = fread(b->p + b->len, 1, want, f);
		b->len += n;
		if (n < want)
			break;
	}
	if (ferror(f))
		return fail(res, CNN_IO_READ, errno ? errno : EIO, 0);
	return CNN_IO_OK;
}

/* Reads the file as it is (contract in io.h). */
cnn_io_fail cnn_io_read(const char *path, size_t max, size_t max_gz,
                        uint8_t **out, size_t *len, cnn_io_result *res)
{
	struct obuf b = {NULL, 0, 0, max};
	uint8_t head[2];
	struct stat st;
	size_t hint = 0;
	cnn_io_fail f;
	FILE *fp;

	memset(res, 0, sizeof *res);
	*out = NULL;
	*len = 0;
	fp = fopen(path, "rb");
	if (!fp)
		return fail(res, CNN_IO_OPEN, errno, 0);
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0)
		hint = (uintmax_t)st.st_size > SIZE_MAX - 1
		           ? SIZE_MAX - 1
		           : (size_t)st.st_size;
	b.len = fread(head, 1, 2, fp);
	if (is_gzip(head, b.len))
		b.max = max_gz;
	if (b.max > SIZE_MAX - 2)
		b.max = SIZE_MAX - 2;
	if (b.len < 2 && ferror(fp))
		f = fail(res, CNN_IO_READ, errno ? errno : EIO, 0);
	else if (hint > b.max || b.len > b.max)
		f = fail(res, CNN_IO_LARGE, 0, 0);
	else if (obuf_reserve(&b, hint > b.len ? hint : CHUNK))
		f = fail(res, CNN_IO_NOMEM, 0, hint);
	else
		f = (memcpy(b.p, head, b.len), read_rest(fp, &b, res));
	fclose(fp);
	if (f != CNN_IO_OK) {
		free(b.p);
		return f;
	}
	b.p[b.len] = 0;
	*out = b.p;
	*len = b.len;
	return CNN_IO_OK;
}

/* ======================================================================== */
/* Inflating gzip                                                           */

/* Parses the gzip member header at the start of f (n bytes): sets *pos past
 * it and *ck to the compressed data's CRC-32 from our "CK" subfield (*has_ck
 * 0 if there is none, e.g. after recompression with gzip). */
static cnn_io_fail member_header(const uint8_t *f, size_t n, size_t *pos,
                                 int *has_ck, uint32_t *ck, cnn_io_result *res)
{
	static const char *const bad[] = {
	    "unknown compression method", "reserved header flags set",
	    "bad extra field", "header checksum mismatch"};
	size_t p = 10, end, k;
	int why = -1;

	*has_ck = 0;
	if (n == 0 || (n == 1 && f[0] == 0x1f))
		return fail(res, CNN_IO_TRUNCATED, 0, 0);
	if (!is_gzip(f, n))
		return fail(res, CNN_IO_NOT_GZIP, 0, 0);
	if (n < 10)
		return fail(res, CNN_IO_TRUNCATED, 0, 0);
	if (f[2] != 8 || (f[3] & 0xe0)) {
		res->why = bad[f[2] != 8 ? 0 : 1];
		return fail(res, CNN_IO_HEADER, 0, 0);
	}
	if (f[3] & GZ_FEXTRA) {
		if (n - p < 2 || (end = p + 2 + cnn_le16(f + p)) > n)
			return fail(res, CNN_IO_TRUNCATED, 0, 0);
		for (p += 2; p < end && why < 0; p += 4 + k) {
			k = end - p < 4 ? 0 : cnn_le16(f + p + 2);
			if (end - p < 4 || k > end - p - 4)
				why = 2;
			else if (f[p] == 'C' && f[p + 1] == 'K' &&
			         (k != 4 || *has_ck))
				why = 2;
			else if (f[p] == 'C' && f[p + 1] == 'K') {
				*has_ck = 1;
				*ck = cnn_le32(f + p + 4);
			}
		}
	}
	for (k = 0; k < 2 && why < 0; k++) {
		if (!(f[3] & (k ? GZ_FCOMMENT : GZ_FNAME)))
			continue;
		while (p < n && f[p])
			p++;
		if (p++ >= n)
			return fail(res, CNN_IO_TRUNCATED, 0, 0);
	}
	if (why < 0 && (f[3] & GZ_FHCRC)) {
		if (n - p < 2)
			return fail(res, CNN_IO_TRUNCATED, 0, 0);
		if (cnn_le16(f + p) != (crc32_z(0L, f, p) & 0xffff))
			why = 3;
		p += 2;
	}
	if (why >= 0) {
		res->why = bad[why];
		return fail(res, CNN_IO_HEADER, 0, 0);
	}
	*pos = p;
	return CNN_IO_OK;
}

/* The state of one cnn_gunzip. */
struct gz {
	const uint8_t *in;
	size_t n;
	const cnn_gunzip_opts *o;
	struct obuf out; /* out.max is o->max + 1: one byte more tells */
	int checked;     /* o->check was called */
	z_stream zs;
	cnn_io_result *res;
};

/* Inflates one member's deflate data, from in[*off], to its end: sets *off
 * past it. */
static cnn_io_fail gz_inflate(struct gz *g, size_t *off)
{
	const size_t start = *off;
	size_t room;
	int ret;

	inflateReset(&g->zs);
	for (;;) {
		if (g->zs.avail_in == 0) {
			if (*off == g->n)
				return fail(g->res, CNN_IO_TRUNCATED, 0, 0);
			room = g->n - *off > GIGA ? GIGA : g->n - *off;
			g->zs.next_in = (Bytef *)(uintptr_t)(g->in + *off);
			g->zs.avail_in = (uInt)room;
			*off += room;
		}
		if (g->out.len > g->o->max)
			return fail(g->res, CNN_IO_LARGE, 0, 0);
		if (g->out.len == g->out.cap &&
		    obuf_reserve(&g->out, g->out.cap + 1))
			return fail(g->res, CNN_IO_NOMEM, 0, g->out.cap + 1);
		room = g->out.cap - g->out.len;
		if (room > (g->checked || !g->o->check ? GIGA : CHUNK))
			room = g->checked || !g->o->check ? GIGA : CHUNK;
		g->zs.next_out = g->out.p + g->out.len;
		g->zs.avail_out = (uInt)room;
		ret = inflate(&g->zs, Z_NO_FLUSH);
		g->out.len += room - g->zs.avail_out;
		/* A file of something else (say, a gzip bomb) is refused as
		 * soon as its first bytes show it, not inflated whole. */
		if (g->o->check && !g->checked && g->out.len >= g->o->peek) {
			g->checked = 1;
			if (g->o->check(g->out.p, g->out.len, g->o->arg))
				return fail(g->res, CNN_IO_STOPPED, 0, 0);
		}
		if (ret == Z_STREAM_END) {
			*off -= g->zs.avail_in;
			g->zs.avail_in = 0;
			return CNN_IO_OK;
		}
		if (ret == Z_MEM_ERROR)
			return fail(g->res, CNN_IO_NOMEM, 0, 0);
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			g->res->why =
			    g->zs.msg ? g->zs.msg : "bad compressed data";
			return fail(g->res, CNN_IO_INFLATE, 0,
			            start + (size_t)g->zs.total_in);
		}
	}
}

/* Reads one member at in[*off] (header, data, trailer) and sets *off past
 * it. */
static cnn_io_fail gz_member(struct gz *g, size_t *off)
{
	size_t pos = 0, first = g->out.len, data;
	uint32_t ck = 0;
	int has_ck;
	cnn_io_fail f;

	f = member_header(g->in + *off, g->n - *off, &pos, &has_ck, &ck,
	                  g->res);
	if (f != CNN_IO_OK)
		return f;
	data = *off + pos;
	*off = data;
	f = gz_inflate(g, off);
	if (f != CNN_IO_OK)
		return f;
	if (g->out.len > g->o->max)
		return fail(g->res, CNN_IO_LARGE, 0, 0);
	if (g->n - *off < 8)
		return fail(g->res, CNN_IO_TRUNCATED, 0, 0);
	if (has_ck && crc32_z(0L, g->in + data, *off - data) != ck)
		return fail(g->res, CNN_IO_CK, 0, 0);
	if (cnn_le32(g->in + *off) !=
	    (uint32_t)crc32_z(0L, g->out.p + first, g->out.len - first))
		return fail(g->res, CNN_IO_CRC, 0, 0);
	if (cnn_le32(g->in + *off + 4) != (uint32_t)(g->out.len - first))
		return fail(g->res, CNN_IO_LENGTH, 0, 0);
	*off += 8;
	return CNN_IO_OK;
}

/* Inflates a gzip file image (contract in io.h). The buffer's first size
 * is the last member's ISIZE (the length modulo 2^32), bounded by deflate's
 * best ratio (1032:1) so that a lying trailer cannot make us over-allocate,
 * or 64 KiB when the first bytes are to be checked. */
cnn_io_fail cnn_gunzip(const uint8_t *in, size_t n, const cnn_gunzip_opts *o,
                       uint8_t **out, size_t *len, cnn_io_result *res)
{
	struct gz g;
	size_t off = 0, hint = CHUNK;
	cnn_io_fail f;

	memset(&g, 0, sizeof g);
	memset(res, 0, sizeof *res);
	g.in = in;
	g.n = n;
	g.o = o;
	g.res = res;
	g.out.max = o->max < SIZE_MAX - 2 ? o->max + 1 : SIZE_MAX - 1;
	if (!o->check && n >= 4 && cnn_le32(in + n - 4) > hint)
		hint = cnn_le32(in + n - 4);
	if (n < SIZE_MAX / 1032 && hint > n * 1032)
		hint = n * 1032 > CHUNK ? n * 1032 : CHUNK;
	if (obuf_reserve(&g.out, hint) || inflateInit2(&g.zs, -15) != Z_OK)
		f = fail(res, CNN_IO_NOMEM, 0, hint);
	else
		do {
			f = gz_member(&g, &off);
			if (f == CNN_IO_NOT_GZIP && off > 0)
				f = fail(res, CNN_IO_TRAILING, 0, off);
			else if (f == CNN_IO_OK && off < n &&
			         (o->one_member || in[off] != 0x1f))
				f = fail(res, CNN_IO_TRAILING, 0, off);
		} while (f == CNN_IO_OK && off < n);
	inflateEnd(&g.zs);
	if (g.out.p) {
		if (f == CNN_IO_OK &&
		    g.out.cap - g.out.len > g.out.len / 8 + 4096) {
			uint8_t *p = realloc(g.out.p, g.out.len + 1);
			if (p)
				g.out.p = p;
		}
		g.out.p[g.out.len] = 0;
	}
	*out = g.out.p;
	*len = g.out.len;
	return f;
}

/* ======================================================================== */
/* The reader of data files                                                 */

/* The largest compressed file read for max bytes of content: deflate
 * expands incompressible data by a fraction of a percent. */
static size_t gz_file_max(size_t max)
{
	return max > (SIZE_MAX - 2 - ((size_t)1 << 20)) / 2
	           ? SIZE_MAX - 2
	           : 2 * max + ((size_t)1 << 20);
}

/* The error for a failed read of path (f and r from cnn_io_read or
 * cnn_gunzip; max the limit; gz: the data was gzip), as cnn_read_file's
 * contract words it. Returns its status. */
static cnn_status read_error(cnn_error *err, const char *path, cnn_io_fail f,
                             const cnn_io_result *r, size_t max, int gz)
{
	switch (f) {
	case CNN_IO_OPEN:
	case CNN_IO_READ:
		return cnn_err_file(err, CNN_ERR_IO, path, "cannot %s: %s",
		                    f == CNN_IO_OPEN ? "open" : "read",
		                    strerror(r->errnum));
	case CNN_IO_NOMEM:
		return cnn_err_file(err, CNN_ERR_NOMEM, path,
		                    "out of memory (reading %zu bytes)", r->at);
	case CNN_IO_LARGE:
		return cnn_err_file(err, CNN_ERR_DATA, path,
		                    "larger than %zu bytes%s", max,
		                    gz ? " when uncompressed" : "");
	default:
		break;
	}
	return cnn_err_file(err, CNN_ERR_DATA, path, "damaged gzip data (%s)",
	                    f == CNN_IO_TRUNCATED ? "unexpected end of file"
	                    : f == CNN_IO_CK
	                        ? "checksum mismatch in the compressed data"
	                    : f == CNN_IO_CRC    ? "incorrect data check"
	                    : f == CNN_IO_LENGTH ? "incorrect length check"
	                    : f == CNN_IO_TRAILING
	                        ? "trailing garbage after the compressed data"
	                        : r->why);
}

/* Reads a whole file, plain or gzip (contract in io.h). */
cnn_status cnn_read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, cnn_error *err)
{
	static const cnn_gunzip_opts none = {0, 0, NULL, 0, NULL};
	cnn_gunzip_opts o = none;
	cnn_io_result r;
	uint8_t *raw;
	size_t n;
	cnn_io_fail f;
	int gz = 0;

	if (max > SIZE_MAX - 2)
		max = SIZE_MAX - 2;
	f = cnn_io_read(path, max, gz_file_max(max), &raw, &n, &r);
	if (f == CNN_IO_OK && is_gzip(raw, n)) {
		gz = 1;
		o.max = max;
		f = cnn_gunzip(raw, n, &o, out, len, &r);
		free(raw);
	} else {
		*out = raw;
		*len = n;
	}
	if (f == CNN_IO_OK)
		return CNN_OK;
	free(*out);
	*out = NULL;
	*len = f == CNN_IO_LARGE ? max + 1 : 0;
	return read_error(err, path, f, &r, max, gz);
}

/* Reads a whole file as it is (contract in io.h). */
cnn_status cnn_read_raw(const char *path, size_t max, uint8_t **out,
                        size_t *len, cnn_error *err)
{
	cnn_io_result r;
	cnn_io_fail f = cnn_io_read(path, max, max, out, len, &r);
	return f == CNN_IO_OK ? CNN_OK : read_error(err, path, f, &r, max, 0);
}

/* ======================================================================== */
/* Writing files atomically                                                 */

/* Writes all n bytes to fd, retrying short writes and EINTR. Returns 0, or
 * -1 with errno set. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;
	while (n > 0) {
		w = write(fd, p, n > GIGA ? GIGA : n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Syncs the folder holding path so that a rename in it is durable. Folders
 * that cannot be opened or synced (some file systems refuse) are skipped;
 * a real I/O error is reported. Returns 0 or -1 with errno set. */
static int sync_folder(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r = 0;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return 0; /* the file itself is safe; nothing more to do */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	free(dir);
	if (fd < 0)
		return 0;
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS &&
	    errno != ENOTSUP)
		r = -1;
	if (close(fd) != 0 && r == 0 && errno == EIO)
		r = -1;
	return r;
}

/* Creates the temporary file of a write to path: *tmp is the malloc'ed
 * name, and the descriptor is returned; -1 with errno set, or -2 if path
 * exists but is not a regular file. *mode is the mode the new file gets:
 * that of the one it replaces, else 0666 & ~umask. */
static int create_temp(const char *path, char **tmp, mode_t *mode)
{
	struct stat st;
	size_t len = strlen(path);
	mode_t mask;
	int fd, saved;

	if (stat(path, &st) == 0) {
		/* Never replace a device, a folder or a pipe: as root the
		 * rename would succeed and destroy, e.g., /dev/null. */
		if (!S_ISREG(st.st_mode))
			return -2;
		*mode = st.st_mode & 07777;
	} else {
		mask = umask(0);
		umask(mask);
		*mode = 0666 & ~mask;
	}
	*tmp = malloc(len + sizeof ".tmp.XXXXXX");
	if (!*tmp) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(*tmp, path, len);
	memcpy(*tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
	fd = mkstemp(*tmp);
	if (fd < 0) {
		saved = errno;
		free(*tmp);
		*tmp = NULL;
		errno = saved;
	}
	return fd;
}

/* Writes n bytes to path atomically. Returns 0, -1 with errno set, or -2
 * if path is not a regular file; on failure path is untouched. */
static int write_atomically(const char *path, const uint8_t *data, size_t n)
{
	mode_t mode;
	char *tmp = NULL;
	int saved, fd = create_temp(path, &tmp, &mode);

	if (fd < 0)
		return fd;
	(void)fchmod(fd, mode); /* best effort: some file systems refuse */
	if (write_all(fd, data, n) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		goto fail;
	}
	free(tmp);
	return sync_folder(path);
fail:
	unlink(tmp);
	free(tmp);
	errno = saved;
	return -1;
}

/* The error of a failed write: r is -2 (not a regular file) or -1. */
static cnn_status write_error(const char *path, const char *what, int r,
                              cnn_error *err)
{
	return cnn_err_file(err, CNN_ERR_IO, path, "cannot write %s: %s", what,
	                    r == -2 ? "not a regular file" : strerror(errno));
}

cnn_status cnn_write_file(const char *path, const uint8_t *data, size_t n,
                          const char *what, cnn_error *err)
{
	int r = write_atomically(path, data, n);
	return r == 0 ? CNN_OK : write_error(path, what, r, err);
}

cnn_status cnn_check_target(const char *path, const char *what, cnn_error *err)
{
	char *tmp = NULL;
	mode_t mode;
	int fd;

	errno = ENOENT; /* an empty path names nothing */
	fd = path && path[0] ? create_temp(path, &tmp, &mode) : -1;
	if (fd < 0)
		return write_error(path, what, fd, err);
	close(fd);
	unlink(tmp);
	free(tmp);
	return CNN_OK;
}

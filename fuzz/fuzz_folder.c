/*
 * fuzz_folder.c - libFuzzer target: folder data sets (cnn_dataset_load
 * with format "folder") and cnn_image_list, on small trees of folders,
 * files and links that the input describes.
 *
 * Each input is built under a fresh folder T (mkdtemp under $TMPDIR, else
 * /tmp), at T/a/b/r: the data set's root is r, and the two empty levels
 * above it keep every link target the input can name ("..", "../..") inside
 * T. The tree is loaded, listed and removed (nftw, FTW_DEPTH | FTW_PHYS:
 * links are removed, never followed).
 *
 * Input layout: 3 bytes, then entries (at most MAX_ENTRIES).
 *   byte 0: bit 0 shape 3x4x4 (else 1x4x4); bit 1 resize bilinear; bit 2
 *           skip_bad; bit 3 the fixed class names "0".."7" (else NULL);
 *           bits 4-6 limit (0: all)
 *   byte 1: classes - 2 (mod 7: 2..8)
 *   byte 2: which folder made is also listed with cnn_image_list
 *   each entry: a kind byte (bits 0-2 the op, bits 3-5 the extension or
 *   the link target, bits 6-7 the file's form), a parent byte (an index,
 *   modulo their count, into the folders made so far: r first), a length
 *   byte and that many name bytes ('/' and NUL become '_'; empty: "e").
 *   The ops: 0, 6 a folder (none deeper than MAX_DEPTH); 1 a PGM image,
 *   then a size byte (width, height 1..8 in its two halves) and its
 *   pixels; 2 a file of raw bytes, a length byte and the bytes; 3 a link
 *   ("." ".." "../.." the last entry made in its folder, "missing",
 *   "missing/x", "../r", or the first folder made); 4 a hidden folder, 5
 *   a hidden file (the name gets a leading "."); 7 an empty file.
 *   Extensions appended to file names: none, .png, .pgm, .jpg, .jpeg,
 *   .PNG, .JPG, .txt.
 *
 * What must hold: no crash, leak or hang; an error has a one-line message
 * and leaves nothing allocated; a loaded set has every label below its
 * classes, a name for every class, and (without links, which may reach
 * a folder twice) no more samples than the image files made; cnn_image_list
 * lists paths below its folder, and without links exactly the image-named files
 * of visible folders.
 */
#define _XOPEN_SOURCE 700

#include "fuzz.h"
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD        3
#define MAX_ENTRIES 64
#define MAX_DEPTH   4

/* The input being read, and the tree made so far. */
typedef struct tree {
	const uint8_t *p, *end;
	char top[PATH_MAX];          /* T */
	char root[PATH_MAX + 8];     /* T/a/b/r */
	char *dirs[MAX_ENTRIES + 1]; /* the folders made; dirs[0] is root */
	int depth[MAX_ENTRIES + 1];  /* below root */
	int visible[MAX_ENTRIES + 1];
	char last[MAX_ENTRIES + 1][NAME_MAX + 1]; /* each one's last entry */
	int n_dirs;
	size_t images;         /* image-named files made (anywhere) */
	size_t visible_images; /* of them, in visible folders */
	int links;
} tree;

/* The next input byte, 0 once it runs out. */
static uint8_t next(tree *t)
{
	return t->p < t->end ? *t->p++ : 0;
}

/* 1 when name ends in an image extension, as the walk decides. */
static int image_name(const char *name)
{
	static const char *const ext[] = {".png", ".pgm", ".jpg", ".jpeg"};
	size_t n = strlen(name);
	for (size_t i = 0; i < 4; i++) {
		size_t k = strlen(ext[i]);
		if (n > k && !strcasecmp(name + n - k, ext[i]))
			return 1;
	}
	return 0;
}

/* Reads a name from the input into name (NAME_MAX + 1 bytes), with
 * prefix before it and extension ext after it (both may make it too long
 * to create: then creating it fails, which is fine). */
static void read_name(tree *t, char *name, const char *prefix, int ext)
{
	static const char *const exts[] = {"",      ".png", ".pgm", ".jpg",
	                                   ".jpeg", ".PNG", ".JPG", ".txt"};
	size_t len = next(t), k = strlen(prefix);
	memcpy(name, prefix, k);
	for (size_t i = 0; i < len && k < NAME_MAX; i++) {
		uint8_t c = next(t);
		name[k++] = c == '/' || c == 0 ? '_' : (char)c;
	}
	if (k == 0)
		name[k++] = 'e';
	name[k] = '\0';
	if (k + strlen(exts[ext & 7]) <= NAME_MAX)
		strcat(name, exts[ext & 7]);
}

/* Writes n bytes at data into a new file at path; 0 on success. */
static int write_file(const char *path, const uint8_t *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	size_t done = 0;
	if (fd < 0)
		return -1;
	while (done < n) {
		ssize_t w = write(fd, data + done, n - done);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	close(fd);
	return 0;
}

/* A file's content from the input: a PGM image (form 1) or raw bytes
 * (form 2) or nothing, into buf (at least 80 bytes); its length. */
static size_t read_content(tree *t, int op, uint8_t *buf)
{
	size_t n = 0;
	if (op == 1) {
		uint8_t s = next(t);
		int w = 1 + (s & 7), h = 1 + (s >> 4 & 7);
		n = (size_t)snprintf((char *)buf, 16, "P5 %d %d 255\n", w, h);
		for (int i = 0; i < w * h; i++)
			buf[n++] = next(t);
	} else if (op == 2) {
		size_t len = next(t) % 80;
		for (size_t i = 0; i < len; i++)
			buf[n++] = next(t);
	}
	return n;
}

/* The target of a link of kind k made in folder parent. */
static const char *link_target(const tree *t, int k, int parent)
{
	static const char *const fixed[] = {
	    ".", "..", "../..", NULL, "missing", "missing/x", "../r", NULL};
	if (k == 3)
		return t->last[parent][0] ? t->last[parent] : "missing";
	if (k == 7) /* absolute, inside T */
		return t->n_dirs > 1 ? t->dirs[1] : ".";
	return fixed[k];
}

/* Makes a folder at path below parent (op 0, 4, 6). */
static void make_dir(tree *t, const char *path, int parent, int hidden)
{
	if (t->depth[parent] >= MAX_DEPTH || mkdir(path, 0755) != 0)
		return;
	t->dirs[t->n_dirs] = strdup(path);
	if (!t->dirs[t->n_dirs])
		abort();
	t->depth[t->n_dirs] = t->depth[parent] + 1;
	t->visible[t->n_dirs] = t->visible[parent] && !hidden;
	t->last[t->n_dirs][0] = '\0';
	t->n_dirs++;
}

/* Reads one entry from the input and makes it. */
static void make_entry(tree *t)
{
	uint8_t kind = next(t), buf[80];
	int op = kind & 7, sub = kind >> 3 & 7;
	int parent = next(t) % t->n_dirs;
	int hidden = op == 4 || op == 5;
	char name[NAME_MAX + 1], path[2 * PATH_MAX];
	size_t n;

	read_name(t, name, hidden ? "." : "",
	          op == 1 || op == 2 || op == 7 ? sub : 0);
	hidden = name[0] == '.';
	snprintf(path, sizeof path, "%s/%s", t->dirs[parent], name);
	if (strlen(path) >= PATH_MAX)
		return;
	if (op == 0 || op == 4 || op == 6) {
		make_dir(t, path, parent, hidden);
	} else if (op == 3) {
		if (symlink(link_target(t, sub, parent), path) != 0)
			return;
		t->links++;
	} else {
		n = read_content(t, op == 5 ? 1 + (kind >> 6 & 1) : op, buf);
		if (write_file(path, buf, n) != 0)
			return;
		if (image_name(name)) {
			t->images++;
			t->visible_images += t->visible[parent] && !hidden;
		}
	}
	strcpy(t->last[parent], name);
}

/* nftw callback: removes one entry (links themselves, never followed). */
static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

/* Makes T, T/a, T/a/b and T/a/b/r; 0 on success. */
static int make_top(tree *t)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(t->top, sizeof t->top, "%s/cnnfuzz.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->top)) {
		t->top[0] = '\0';
		return -1;
	}
	snprintf(t->root, sizeof t->root, "%s/a", t->top);
	mkdir(t->root, 0755);
	snprintf(t->root, sizeof t->root, "%s/a/b", t->top);
	mkdir(t->root, 0755);
	snprintf(t->root, sizeof t->root, "%s/a/b/r", t->top);
	if (mkdir(t->root, 0755) != 0)
		return -1;
	t->dirs[0] = strdup(t->root);
	if (!t->dirs[0])
		abort();
	t->visible[0] = 1;
	t->n_dirs = 1;
	return 0;
}

/* Counts the loader's calls (and checks them). */
typedef struct calls {
	int n, finished;
} calls;

static void on_load(const cnn_load_progress *p, void *user)
{
	calls *c = user;
	if (c->finished || p->done > p->total || !p->path)
		abort(); /* a call after the last, or more done than listed */
	c->finished = p->finished;
	c->n++;
}

/* Loads the tree as a folder data set and checks the outcome. */
static void load(const tree *t, const uint8_t *head)
{
	static const char *const names[] = {"0", "1", "2", "3",
	                                    "4", "5", "6", "7"};
	cnn_data_source src = {0};
	cnn_dataset *d = (cnn_dataset *)&src; /* must become NULL on failure */
	calls c = {0, 0};
	cnn_error err;
	cnn_status st;

	src.format = "folder";
	src.path = t->root;
	src.shape[0] = head[0] & 1 ? 3 : 1;
	src.shape[1] = src.shape[2] = 4;
	src.resize = head[0] & 2 ? CNN_RESIZE_BILINEAR : CNN_RESIZE_NONE;
	src.skip_bad = (head[0] & 4) != 0;
	src.class_names = head[0] & 8 ? names : NULL;
	src.limit = head[0] >> 4 & 7;
	src.classes = 2 + head[1] % 7;
	src.on_load = on_load;
	src.user = &c;
	st = cnn_dataset_load(&d, &src, &err);
	fuzz_outcome(st, &err);
	if (st != CNN_OK) {
		char msg[1200];
		if (d || !cnn_error_string(&err, msg, sizeof msg)[0])
			abort();
		return;
	}
	if (!c.finished || d->classes != src.classes ||
	    (!t->links && cnn_dataset_count(d) > t->images) ||
	    (src.limit && cnn_dataset_count(d) > (size_t)src.limit) ||
	    cnn_dataset_class_name(d, src.classes) != NULL)
		abort();
	for (int k = 0; k < src.classes; k++)
		if (!cnn_dataset_class_name(d, k) ||
		    (src.class_names &&
		     strcmp(cnn_dataset_class_name(d, k), names[k])))
			abort();
	if (cnn_dataset_count(d) > 0)
		fuzz_touch_dataset(d); /* every label below classes */
	cnn_dataset_free(d);
}

/* Lists dir with cnn_image_list and checks the paths; returns how many
 * (0 on failure). */
static size_t list(const char *dir)
{
	char **paths = (char **)&paths;
	size_t n = 1, k = strlen(dir);
	cnn_error err;
	cnn_status st = cnn_image_list(dir, &paths, &n, &err);

	fuzz_outcome(st, &err);
	if (st != CNN_OK) {
		if (paths || n)
			abort();
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!paths[i] || strncmp(paths[i], dir, k) ||
		    paths[i][k] != '/' || !image_name(paths[i]))
			abort();
	cnn_image_list_free(paths, n);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tree t;
	size_t n;

	if (size < HEAD)
		return 0;
	memset(&t, 0, sizeof t);
	t.p = data + HEAD;
	t.end = data + size;
	if (make_top(&t) == 0) {
		for (int i = 0; i < MAX_ENTRIES && t.p < t.end; i++)
			make_entry(&t);
		load(&t, data);
		n = list(t.root);
		if (!t.links && n != t.visible_images)
			abort(); /* without links the count is known */
		list(t.dirs[data[2] % t.n_dirs]);
	}
	if (t.top[0])
		nftw(t.top, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < t.n_dirs; i++)
		free(t.dirs[i]);
	return 0;
}

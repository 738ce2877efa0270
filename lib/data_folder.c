/*
 * data_folder.c - data sets from a folder of images, one subfolder per
 * class (torchvision's ImageFolder layout): DIR/CLASS/.../FILE.png.
 *
 * Loading has two steps. The walk lists every image file: the classes are
 * DIR's subfolders in sorted byte order (or the caller's list, which fixes
 * the order and refuses other folders); each class folder is walked
 * recursively, entries in sorted byte order, so the samples' order is the
 * same on every machine. Then the images are decoded in parallel (blocks of
 * files handed to the library's threads) into the one u8 store the IDX and
 * CSV readers fill, each fitted to the model's input by cnn_image_fit.
 *
 * Invariants
 *  - Hidden entries (names starting with ".") are never entered or read;
 *    files whose names do not end in .png, .pgm, .jpg or .jpeg are not
 *    images; a folder reached again through a link (a loop, or a second
 *    link to it) is not entered twice, so the walk is at most as long as
 *    the folders are many; all are counted for the caller, none is an
 *    error.
 *  - The store is sized from the walk, before anything is decoded, and a
 *    set larger than the memory the library may use is refused with the
 *    figures.
 *  - Results do not depend on the threads: each file is decoded into its
 *    own slot, and the first failure in file order is the one reported.
 *  - Nothing prints; every failure names the file (or folder) at fault.
 */
#define _DEFAULT_SOURCE /* strdup, strcasecmp */

#include "data.h"
#include "pool.h"
#include "rng.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Folders are walked at most this deep below a class folder. */
#define FOLDER_DEPTH 64
/* Files decoded between two progress reports. */
#define FOLDER_BLOCK 1024
/* The largest image file read. */
#define FOLDER_FILE_MAX ((size_t)1 << 28)

/* The image files found by the walk, in order, and what was skipped. */
typedef struct walk {
	char **paths;
	uint8_t *labels;
	size_t n, cap;
	size_t hidden, other;
	/* every folder entered, as (device, inode): a hash set of cap
	 * slots (a power of 2; ino 0 and dev 0 mark an empty slot) */
	struct seen {
		dev_t dev;
		ino_t ino;
	} * seen;
	size_t n_seen, cap_seen;
	int depth; /* below the folder walked */
	cnn_error *err;
} walk;

/* ------------------------------------------------------------------------ */
/* Listing                                                                  */

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in folder dir but "." and "..", sorted by their bytes, into a
 * malloc'ed *names of *n malloc'ed strings. CNN_ERR_IO naming dir when it
 * cannot be read. */
static cnn_status list_folder(const char *dir, char ***names, size_t *n,
                              cnn_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return cnn_err_file(err, CNN_ERR_IO, dir,
		                    "cannot open folder: %s", strerror(errno));
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			size_t c = cap ? 2 * cap : 64;
			char **p = realloc(*names, c * sizeof *p);
			if (!p)
				goto nomem;
			*names = p;
			cap = c;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			goto nomem;
		(*n)++;
	}
	if (errno) {
		cnn_err_file(err, CNN_ERR_IO, dir, "cannot read folder: %s",
		             strerror(errno));
		goto fail;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof **names, by_bytes);
	return CNN_OK;
nomem:
	cnn_err_nomem(err, dir, "listing the folder");
fail:
	closedir(d);
	free_names(*names, *n);
	*names = NULL;
	*n = 0;
	return err->status;
}

/* dir "/" name into a malloc'ed string, or NULL. */
static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* 1 when name ends in an image extension (any case). */
static int image_name(const char *name)
{
	static const char *const ext[] = {".png", ".pgm", ".jpg", ".jpeg"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t k = strlen(ext[i]);
		if (n > k && !strcasecmp(name + n - k, ext[i]))
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                 */

/* Appends path (taken over: freed on failure) with label to the list. */
static cnn_status add_file(walk *w, char *path, int label)
{
	if (w->n == w->cap) {
		size_t c = w->cap ? 2 * w->cap : 1024;
		char **p = realloc(w->paths, c * sizeof *p);
		uint8_t *l = p ? realloc(w->labels, c) : NULL;
		if (p)
			w->paths = p;
		if (!l) {
			free(path);
			return cnn_err_nomem(w->err, NULL, "listing images");
		}
		w->labels = l;
		w->cap = c;
	}
	w->paths[w->n] = path;
	w->labels[w->n++] = (uint8_t)label;
	return CNN_OK;
}

/* Where (dev, ino) is in the set, or the empty slot where it would go. */
static struct seen *seen_slot(const walk *w, dev_t dev, ino_t ino)
{
	size_t h = (size_t)cnn_mix64((uint64_t)dev * 0x9e3779b97f4a7c15u ^
	                             (uint64_t)ino);
	for (size_t i = h & (w->cap_seen - 1);;
	     i = (i + 1) & (w->cap_seen - 1)) {
		struct seen *e = &w->seen[i];
		if ((e->dev == dev && e->ino == ino) || (!e->dev && !e->ino))
			return e;
	}
}

/* Records the folder st as entered: 1 when it had been already (a link
 * loop, or a second link to it), 0 when it is new, -1 out of memory. The
 * set grows to keep it at most half full. */
static int entered_before(walk *w, const struct stat *st)
{
	if (2 * (w->n_seen + 1) > w->cap_seen) {
		walk old = *w;
		w->cap_seen = old.cap_seen ? 2 * old.cap_seen : 256;
		w->seen = calloc(w->cap_seen, sizeof *w->seen);
		if (!w->seen) {
			*w = old;
			return -1;
		}
		for (size_t i = 0; i < old.cap_seen; i++)
			if (old.seen[i].dev || old.seen[i].ino)
				*seen_slot(w, old.seen[i].dev,
				           old.seen[i].ino) = old.seen[i];
		free(old.seen);
	}
	struct seen *e = seen_slot(w, st->st_dev, st->st_ino);
	if (e->dev == st->st_dev && e->ino == st->st_ino && (e->dev || e->ino))
		return 1;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	w->n_seen++;
	return 0;
}

static cnn_status walk_folder(walk *w, const char *dir, int label);

/* One entry of a class folder: a folder is walked, an image file listed,
 * anything else counted. Links are followed (a broken one is "other"). */
static cnn_status walk_entry(walk *w, const char *dir, const char *name,
                             int label)
{
	struct stat st;
	cnn_status s = CNN_OK;
	char *path;

	if (name[0] == '.') {
		w->hidden++;
		return CNN_OK;
	}
	if (!(path = join(dir, name)))
		return cnn_err_nomem(w->err, NULL, "listing images");
	if (stat(path, &st) != 0) {
		w->other++;
	} else if (S_ISDIR(st.st_mode)) {
		int again = entered_before(w, &st);
		if (again < 0)
			s = cnn_err_nomem(w->err, NULL, "listing images");
		else if (again || w->depth >= FOLDER_DEPTH) {
			w->other++;
		} else {
			w->depth++;
			s = walk_folder(w, path, label);
			w->depth--;
		}
	} else if (S_ISREG(st.st_mode) && image_name(name)) {
		return add_file(w, path, label);
	} else {
		w->other++;
	}
	free(path);
	return s;
}

/* Lists the images under dir (walked recursively, in sorted order) with
 * label. */
static cnn_status walk_folder(walk *w, const char *dir, int label)
{
	char **names;
	size_t n;
	cnn_status s;

	if ((s = list_folder(dir, &names, &n, w->err)) != CNN_OK)
		return s;
	for (size_t i = 0; i < n && s == CNN_OK; i++)
		s = walk_entry(w, dir, names[i], label);
	free_names(names, n);
	return s;
}

/* Stats the folder dir into *st and records it as entered, so that a link
 * back to it counts as a loop. CNN_ERR_IO naming it when it cannot be
 * read. */
static cnn_status enter(walk *w, const char *dir, struct stat *st)
{
	if (stat(dir, st) != 0)
		return cnn_err_file(w->err, CNN_ERR_IO, dir,
		                    "cannot open folder: %s", strerror(errno));
	if (entered_before(w, st) < 0)
		return cnn_err_nomem(w->err, NULL, "listing images");
	return CNN_OK;
}

/* Walks the class folder dir (a folder: class_folders saw it). */
static cnn_status walk_class(walk *w, const char *dir, int label)
{
	struct stat st;
	cnn_status s = enter(w, dir, &st);
	if (s == CNN_OK) {
		w->depth++;
		s = walk_folder(w, dir, label);
		w->depth--;
	}
	return s;
}

/* The class folders of root: its subfolders that are not hidden (*names,
 * sorted; other entries counted in w). */
static cnn_status class_folders(walk *w, const char *root, char ***names,
                                size_t *n)
{
	cnn_status s = list_folder(root, names, n, w->err);
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		char *name = (*names)[i], *p = NULL;
		struct stat st;
		int dir = 0;
		if (s == CNN_OK && name[0] == '.')
			w->hidden++;
		else if (s == CNN_OK && !(p = join(root, name)))
			s = cnn_err_nomem(w->err, NULL, "listing classes");
		else if (s == CNN_OK)
			dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
		if (p && !dir)
			w->other++;
		free(p);
		if (dir)
			(*names)[k++] = name;
		else
			free(name);
	}
	*n = k;
	return s;
}

/* The classes' order: fixed (want, classes names: every folder must be one
 * of them, and every class must have a folder) or the folders' own. Sets
 * order[j] to the class of folder j. */
static cnn_status class_order(const char *root, char **folders, size_t n,
                              const cnn_data_source *src, int *order,
                              cnn_error *err)
{
	const char *const *want = src->class_names;
	char q[CNN_QUOTE_SIZE];

	for (int c = 0; want && c < src->classes; c++)
		for (int k = 0; k < c; k++)
			if (!strcmp(want[k], want[c]))
				return cnn_err(err, CNN_ERR_USAGE,
				               "data: the class name \"%s\" is "
				               "given twice",
				               cnn_quote_str(q, want[c]));
	if (!want) {
		if ((int)n == src->classes) {
			for (size_t j = 0; j < n; j++)
				order[j] = (int)j;
			return CNN_OK;
		}
		return cnn_err_file(err, CNN_ERR_DATA, root,
		                    "%zu class folder%s for a model of %d "
		                    "classes (one subfolder per class)",
		                    n, n == 1 ? "" : "s", src->classes);
	}
	for (size_t j = 0; j < n; j++) {
		int c = 0;
		while (c < src->classes && strcmp(want[c], folders[j]))
			c++;
		if (c == src->classes)
			return cnn_err_file(
			    err, CNN_ERR_DATA, root,
			    "the folder \"%s\" is not one of the "
			    "model's classes",
			    cnn_quote_str(q, folders[j]));
		order[j] = c;
	}
	for (int c = 0; c < src->classes; c++) {
		size_t j = 0;
		while (j < n && strcmp(want[c], folders[j]))
			j++;
		if (j == n)
			return cnn_err_file(err, CNN_ERR_DATA, root,
			                    "no folder for the class \"%s\"",
			                    cnn_quote_str(q, want[c]));
	}
	return CNN_OK;
}

/* Walks root into w (files in class order) and gives the dataset its
 * class names. An empty class folder is an error. */
static cnn_status walk_root(walk *w, cnn_dataset *d, const char *root,
                            const cnn_data_source *src)
{
	char **folders = NULL, q[CNN_QUOTE_SIZE];
	size_t n = 0;
	int order[256];
	cnn_status s;

	if ((s = class_folders(w, root, &folders, &n)) != CNN_OK ||
	    (s = n > 256 ? cnn_err_file(w->err, CNN_ERR_DATA, root,
	                                "%zu class folders (at most 256)", n)
	                 : CNN_OK) ||
	    (s = class_order(root, folders, n, src, order, w->err)) != CNN_OK)
		goto out;
	d->names = calloc(256, sizeof *d->names); /* classes <= 256 */
	if (!d->names) {
		s = cnn_err_nomem(w->err, NULL, NULL);
		goto out;
	}
	d->n_names = src->classes;
	for (int c = 0; c < src->classes && s == CNN_OK; c++) {
		size_t j = 0, before = w->n;
		while (order[j] != c)
			j++;
		char *dir = join(root, folders[j]);
		d->names[c] = folders[j];
		folders[j] = NULL;
		if (!dir)
			s = cnn_err_nomem(w->err, NULL, NULL);
		else if ((s = walk_class(w, dir, c)) == CNN_OK &&
		         w->n == before)
			s = cnn_err_file(
			    w->err, CNN_ERR_DATA, dir,
			    "the class folder \"%s\" has no images "
			    "(.png, .pgm, .jpg or .jpeg files)",
			    cnn_quote_str(q, d->names[c]));
		free(dir);
	}
out:
	free_names(folders, n);
	return s;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

/* Keeps the first limit files in round-robin order over the classes (the
 * first file of each class, then the second, ...), so that a limited set
 * still has every class; the files keep their order. */
static void apply_limit(walk *w, long limit, int classes)
{
	size_t count[256] = {0}, quota[256] = {0}, kept = 0, seen[256] = {0};
	size_t left = (size_t)limit, k = 0;

	if (limit <= 0 || (size_t)limit >= w->n)
		return;
	for (size_t i = 0; i < w->n; i++)
		count[w->labels[i]]++;
	while (left) /* one round: one more file of every class left */
		for (int c = 0; c < classes && left; c++)
			if (quota[c] < count[c]) {
				quota[c]++;
				left--;
			}
	for (size_t i = 0; i < w->n; i++) {
		int c = w->labels[i];
		if (seen[c]++ < quota[c]) {
			w->paths[k] = w->paths[i];
			w->labels[k++] = (uint8_t)c;
			kept++;
		} else {
			free(w->paths[i]);
		}
	}
	w->n = kept;
}

/* The decoding of one block of files, each into its own slot. */
typedef struct decode_job {
	const walk *w;
	const cnn_data_source *src;
	cnn_dataset *d;
	size_t first;    /* the block's first file */
	cnn_error *errs; /* one per file of the block */
} decode_job;

static void decode_files(void *ctx, long a, long b)
{
	const decode_job *j = ctx;
	for (long k = a; k < b; k++) {
		size_t i = j->first + (size_t)k;
		const char *path = j->w->paths[i];
		cnn_error *e = &j->errs[k];
		uint8_t *px = NULL;
		int c, w, h;

		cnn_err_clear(e);
		if (cnn_image_read(path, &px, &c, &w, &h, e) == CNN_OK)
			cnn_image_fit(path, px, c, w, h, j->d->shape,
			              (cnn_resize)j->src->resize,
			              j->d->pixels + i * j->d->sample_size, e);
		free(px);
	}
}

/* Decodes every listed file into d (sized for all of them), block by
 * block, reporting progress. A file that fails is the error, or with
 * skip_bad is dropped and counted (*bad); the rest keep their order. */
static cnn_status decode_all(walk *w, cnn_dataset *d,
                             const cnn_data_source *src, cnn_load_progress *p)
{
	cnn_error *errs = calloc(FOLDER_BLOCK, sizeof *errs);
	size_t kept = 0;

	if (!errs)
		return cnn_err_nomem(w->err, NULL, NULL);
	for (size_t first = 0; first < w->n; first += FOLDER_BLOCK) {
		size_t n =
		    w->n - first < FOLDER_BLOCK ? w->n - first : FOLDER_BLOCK;
		decode_job j = {w, src, d, first, errs};
		cnn_pool_run((long)n, 1, decode_files, &j);
		for (size_t k = 0; k < n; k++) {
			size_t i = first + k;
			if (errs[k].status != CNN_OK && !src->skip_bad) {
				*w->err = errs[k];
				free(errs);
				return w->err->status;
			}
			if (errs[k].status != CNN_OK) {
				p->bad++;
				continue;
			}
			if (kept != i)
				memcpy(d->pixels + kept * d->sample_size,
				       d->pixels + i * d->sample_size,
				       d->sample_size);
			d->labels[kept++] = w->labels[i];
		}
		p->done = first + n;
		if (src->on_load)
			src->on_load(p, src->user);
	}
	free(errs);
	d->n = kept;
	return CNN_OK;
}

/* Sizes d's store for the listed files, refusing a set larger than the
 * memory the library may use. */
static cnn_status reserve(walk *w, cnn_dataset *d, const char *root)
{
	double need = (double)w->n * (double)(d->sample_size + 1);
	double avail = cnn_memory_available();
	char a[32], b[32];

	if (need > avail)
		return cnn_err_file(w->err, CNN_ERR_NOMEM, root,
		                    "the %zu images would take %s decoded, "
		                    "more than the %s the library may use",
		                    w->n, cnn_human_bytes(need, a, sizeof a),
		                    cnn_human_bytes(avail, b, sizeof b));
	d->pixels = malloc(w->n ? w->n * d->sample_size : 1);
	d->labels = malloc(w->n ? w->n : 1);
	if (!d->pixels || !d->labels)
		return cnn_err_nomem(w->err, root, "for the decoded images");
	return CNN_OK;
}

/* Loads a folder data set (the dataset is zeroed; contract in data.h). */
cnn_status cnn_folder_load(cnn_dataset *d, const cnn_data_source *src,
                           cnn_error *err)
{
	walk w = {.err = err};
	cnn_load_progress p = {.path = src->path};
	struct stat st;
	cnn_status s;
	size_t sample;

	if ((s = cnn_data_check_source(src, 0, &sample, err)) != CNN_OK)
		return s;
	memcpy(d->shape, src->shape, sizeof d->shape);
	d->sample_size = sample;
	d->classes = src->classes;
	if ((s = enter(&w, src->path, &st)) == CNN_OK && !S_ISDIR(st.st_mode))
		s = cnn_err_file(err, CNN_ERR_DATA, src->path,
		                 "not a folder (format folder wants one "
		                 "subfolder per class)");
	if (s == CNN_OK && (s = walk_root(&w, d, src->path, src)) == CNN_OK) {
		apply_limit(&w, src->limit, src->classes);
		p.total = w.n;
		p.classes = src->classes;
		p.hidden = w.hidden;
		p.other = w.other;
		if (src->on_load)
			src->on_load(&p, src->user);
		if ((s = reserve(&w, d, src->path)) == CNN_OK)
			s = decode_all(&w, d, src, &p);
	}
	free_names(w.paths, w.n);
	free(w.labels);
	free(w.seen);
	if (s != CNN_OK) {
		free_names(d->names, (size_t)d->n_names);
		free(d->pixels);
		free(d->labels);
		memset(d, 0, sizeof *d);
		return s;
	}
	p.finished = 1;
	p.images = d->n;
	if (src->on_load)
		src->on_load(&p, src->user);
	return CNN_OK;
}

/* Lists the images under dir (contract in cnn.h). */
cnn_status cnn_image_list(const char *dir, char ***paths, size_t *n,
                          cnn_error *err)
{
	walk w = {.err = err};
	struct stat st;
	cnn_status s;

	cnn_err_clear(err);
	*paths = NULL;
	*n = 0;
	if ((s = enter(&w, dir, &st)) != CNN_OK ||
	    (s = walk_folder(&w, dir, 0)) != CNN_OK) {
		free_names(w.paths, w.n);
		free(w.labels);
		free(w.seen);
		return s;
	}
	free(w.labels);
	free(w.seen);
	*paths = w.paths;
	*n = w.n;
	return CNN_OK;
}

void cnn_image_list_free(char **paths, size_t n)
{
	free_names(paths, n);
}

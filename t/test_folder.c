/*
 * test_folder.c - folder data sets (data_folder.c) through cnn_dataset_load:
 * the order of classes and files, names as bytes (spaces, a newline,
 * non-UTF-8), what is skipped and counted, limit's round robin, the classes
 * a caller fixes, the progress callback, the memory limit, and
 * cnn_image_list. Fixtures are tiny PGM images written at run time.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "cnn.h"
#include "tap.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

/* Stops the test: a fixture could not be made. */
#define BAIL_OUT(...)                                                          \
	do {                                                                   \
		printf("Bail out! ");                                          \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		exit(1);                                                       \
	} while (0)

/* A test point that passes when got (not NULL) equals want. */
static int is_str(const char *got, const char *want, const char *name)
{
	if (ok(got && !strcmp(got, want), "%s", name))
		return 1;
	diag("got \"%s\", want \"%s\"", got ? got : "(null)", want);
	return 0;
}

/* root/rel, in one of 4 rotating buffers. */
static const char *R(const char *rel)
{
	static char b[4][600];
	static int k;
	char *p = b[k++ % 4];
	snprintf(p, sizeof b[0], "%s/%s", root, rel);
	return p;
}

static void make_dir(const char *rel)
{
	if (mkdir(R(rel), 0777) != 0)
		BAIL_OUT("cannot make %s", R(rel));
}

/* A 2x2 PGM at rel whose pixels are all v. */
static void image(const char *rel, uint8_t v)
{
	uint8_t px[4] = {v, v, v, v};
	cnn_error err;
	if (cnn_image_write_pgm(R(rel), px, 2, 2, &err) != CNN_OK)
		BAIL_OUT("cannot write %s", R(rel));
}

static void text(const char *rel, const char *s)
{
	FILE *f = fopen(R(rel), "w");
	if (!f || fputs(s, f) < 0 || fclose(f))
		BAIL_OUT("cannot write %s", R(rel));
}

/* A source for the folder rel: 1x2x2 images, classes classes. */
static cnn_data_source folder(const char *rel, int classes)
{
	static char path[600];
	cnn_data_source s = {.format = "folder", .shape = {1, 2, 2}};
	snprintf(path, sizeof path, "%s", R(rel));
	s.path = path;
	s.classes = classes;
	return s;
}

/* The dataset's first pixel of each sample, as a string of letters
 * ('a' + value / 10), and the labels as digits. */
static void describe(const cnn_dataset *d, char *px, char *lab)
{
	size_t i, n = cnn_dataset_count(d);
	for (i = 0; i < n && i < 60; i++) {
		px[i] = (char)('a' + cnn_dataset_image(d, i)[0] / 10);
		lab[i] = (char)('0' + cnn_dataset_label(d, i));
	}
	px[i] = lab[i] = '\0';
}

typedef struct calls {
	int n, finished;
	size_t first_done, first_total, images, hidden, other, bad;
} calls;

static void on_load(const cnn_load_progress *p, void *user)
{
	calls *c = user;
	if (c->n++ == 0) {
		c->first_done = p->done;
		c->first_total = p->total;
	}
	if (p->finished) {
		c->finished++;
		c->images = p->images;
		c->hidden = p->hidden;
		c->other = p->other;
		c->bad = p->bad;
	}
}

/* The layout: three classes whose names sort by bytes ("B y" < "a" <
 * "a\nb\xff"), files at two depths, hidden entries, a README, a link loop. */
static void make_tree(void)
{
	make_dir("set");
	make_dir("set/a");
	make_dir("set/B y");
	make_dir("set/a\nb\xff");
	make_dir("set/a/sub");
	make_dir("set/a/.git");
	make_dir("set/.cache");
	image("set/a/2.pgm", 20);
	image("set/a/10.PGM", 10); /* "10.PGM" < "2.pgm" */
	image("set/a/sub/0.pgm", 30);
	image("set/a/.hidden.pgm", 250);
	image("set/a/.git/x.pgm", 250);
	image("set/B y/only.pgm", 40);
	image("set/a\nb\xff/z.pgm", 50);
	image("set/a\nb\xff/y.pgm", 60);
	text("set/a/README.txt", "notes\n");
	text("set/top.txt", "a file beside the class folders\n");
	if (symlink("..", R("set/a/sub/loop")) != 0)
		BAIL_OUT("cannot make a link");
}

static void test_order(void)
{
	cnn_data_source s = folder("set", 3);
	cnn_dataset *d = NULL;
	cnn_error err;
	char px[64], lab[64];
	calls c = {0};

	s.on_load = on_load;
	s.user = &c;
	if (!ok(cnn_dataset_load(&d, &s, &err) == CNN_OK, "the folder loads"))
		return;
	describe(d, px, lab);
	is_str(px, "ebcdgf", "classes by bytes, files by bytes, recursively");
	is_str(lab, "011122", "labels follow the classes' order");
	is_str(cnn_dataset_class_name(d, 0), "B y", "a name with a space");
	is_str(cnn_dataset_class_name(d, 2), "a\nb\xff",
	       "a name with a newline and a byte that is not UTF-8");
	ok(cnn_dataset_class_name(d, 3) == NULL, "no fourth name");
	ok(c.first_done == 0 && c.first_total == 6 && c.finished == 1 &&
	       c.images == 6,
	   "on_load: told the total first, the samples at the end");
	ok(c.hidden == 3 && c.other == 3,
	   "hidden: .git, .hidden.pgm, .cache (got %zu); other: README, "
	   "top.txt, the loop (got %zu)",
	   c.hidden, c.other);
	cnn_dataset_free(d);

	/* limit: the first file of every class in turn */
	s.limit = 4;
	s.on_load = NULL;
	if (ok(cnn_dataset_load(&d, &s, &err) == CNN_OK, "limit 4 loads")) {
		describe(d, px, lab);
		is_str(px, "ebcg", "limit 4: two of a, one of each other");
		cnn_dataset_free(d);
	}

	/* fixed classes: their order, not the folders' */
	const char *const names[3] = {"a", "a\nb\xff", "B y"};
	s.limit = 0;
	s.class_names = names;
	if (ok(cnn_dataset_load(&d, &s, &err) == CNN_OK, "fixed classes")) {
		describe(d, px, lab);
		is_str(px, "bcdgfe", "fixed classes: files in their order");
		is_str(lab, "000112", "fixed classes: their labels");
		cnn_dataset_free(d);
	}
}

/* Loads source s expecting status want and a message containing text. */
static void refused(cnn_data_source s, cnn_status want, const char *text,
                    const char *name)
{
	cnn_dataset *d = NULL;
	cnn_error err;
	char buf[1200];
	cnn_status st = cnn_dataset_load(&d, &s, &err);
	cnn_error_string(&err, buf, sizeof buf);
	if (!ok(st == want && d == NULL && strstr(buf, text), "%s", name))
		diag("status %d: %s", (int)st, buf);
}

static void test_errors(void)
{
	cnn_data_source s = folder("set", 2);
	const char *const names[3] = {"a", "B y", "c"};
	char want[700];

	snprintf(want, sizeof want,
	         "%s: 3 class folders for a model of 2 classes", R("set"));
	refused(s, CNN_ERR_DATA, want, "more folders than classes");
	s = folder("set", 3);
	s.class_names = names;
	snprintf(want, sizeof want,
	         "%s: the folder \"a?b?\" is not one of the model's classes",
	         R("set"));
	refused(s, CNN_ERR_DATA, want,
	        "a folder not among the classes (its name made printable)");
	make_dir("two");
	make_dir("two/a");
	make_dir("two/B y");
	image("two/a/1.pgm", 1);
	image("two/B y/1.pgm", 2);
	s = folder("two", 3);
	s.class_names = names;
	snprintf(want, sizeof want, "%s: no folder for the class \"c\"",
	         R("two"));
	refused(s, CNN_ERR_DATA, want, "a class without a folder");
	make_dir("two/c");
	text("two/c/notes.txt", "x");
	snprintf(want, sizeof want,
	         "%s: the class folder \"c\" has no images (.png, .pgm, .jpg "
	         "or .jpeg files)",
	         R("two/c"));
	refused(s, CNN_ERR_DATA, want, "a class folder without images");
	make_dir("nl");
	make_dir("nl/a");
	make_dir("nl/x\ny");
	image("nl/a/1.pgm", 1);
	s = folder("nl", 2);
	snprintf(want, sizeof want,
	         "%s/nl/x?y: the class folder \"x?y\" has no images", root);
	refused(s, CNN_ERR_DATA, want,
	        "a newline in a folder's name: the message stays one line");
	s = folder("two/a/1.pgm", 2);
	refused(s, CNN_ERR_DATA, "not a folder", "a file is not a folder");
	s = folder("none", 2);
	refused(s, CNN_ERR_IO, "cannot open folder: No such file",
	        "a missing folder");

	s = folder("set", 3);
	cnn_set_memory_limit(29); /* 6 images of 4 bytes and a label */
	snprintf(want, sizeof want,
	         "%s: the 6 images would take 30 bytes decoded, more than the "
	         "29 bytes the library may use",
	         R("set"));
	refused(s, CNN_ERR_NOMEM, want,
	        "a set larger than the memory limit is refused, with the "
	        "figures");
	cnn_set_memory_limit(30);
	cnn_dataset *d = NULL;
	cnn_error err;
	ok(cnn_dataset_load(&d, &s, &err) == CNN_OK,
	   "a set that fits the memory limit loads");
	cnn_dataset_free(d);
	cnn_set_memory_limit(0);
}

/* A folder reached through two links is walked once; so is a chain of
 * folders each linked twice from the one above (2^20 paths, 20 folders). */
static void test_links(void)
{
	cnn_data_source s = folder("links", 2);
	const char *const twice[2] = {"a", "a"};
	cnn_dataset *d = NULL;
	cnn_error err;
	calls c = {0};
	char rel[64];

	make_dir("links");
	make_dir("links/a");
	make_dir("links/a/real");
	make_dir("links/b");
	image("links/a/real/1.pgm", 10);
	image("links/b/2.pgm", 20);
	if (symlink("real", R("links/a/l1")) ||
	    symlink("real", R("links/a/l2")))
		BAIL_OUT("cannot make a link");
	for (int i = 0; i < 20; i++) {
		snprintf(rel, sizeof rel, "links/b/c%d", i);
		make_dir(rel);
		snprintf(rel, sizeof rel, "links/b/x%d", i);
		char to[16];
		snprintf(to, sizeof to, "c%d", i);
		if (symlink(to, R(rel)))
			BAIL_OUT("cannot make a link");
		if (i) { /* c(i-1) links to c(i) twice */
			snprintf(rel, sizeof rel, "links/b/c%d/p", i - 1);
			snprintf(to, sizeof to, "../c%d", i);
			if (symlink(to, R(rel)))
				BAIL_OUT("cannot make a link");
			snprintf(rel, sizeof rel, "links/b/c%d/q", i - 1);
			if (symlink(to, R(rel)))
				BAIL_OUT("cannot make a link");
		}
	}
	s.on_load = on_load;
	s.user = &c;
	ok(cnn_dataset_load(&d, &s, &err) == CNN_OK &&
	       cnn_dataset_count(d) == 2,
	   "a folder linked twice gives its images once");
	ok(c.other == 2 + 20 + 2 * 19, /* a: l2, real; b: x*, c1..c19, q */
	   "the second links counted as other (%zu)", c.other);
	cnn_dataset_free(d);
	s.class_names = twice;
	refused(s, CNN_ERR_USAGE, "data: the class name \"a\" is given twice",
	        "a class name given twice is refused");
}

static void test_list(void)
{
	char **paths;
	size_t n;
	cnn_error err;

	if (!ok(cnn_image_list(R("set/a"), &paths, &n, &err) == CNN_OK,
	        "cnn_image_list"))
		return;
	ok(n == 3 && !strcmp(paths[0], R("set/a/10.PGM")) &&
	       !strcmp(paths[1], R("set/a/2.pgm")) &&
	       !strcmp(paths[2], R("set/a/sub/0.pgm")),
	   "the images under a folder, sorted, recursively");
	cnn_image_list_free(paths, n);
	ok(cnn_image_list(R("none"), &paths, &n, &err) == CNN_ERR_IO &&
	       paths == NULL && n == 0,
	   "a missing folder: CNN_ERR_IO, nothing to free");
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

int main(void)
{
	plan_no_plan();
	snprintf(root, sizeof root, "%s/test_folder.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		BAIL_OUT("cannot make a temporary folder");
	make_tree();
	test_order();
	test_errors();
	test_links();
	test_list();
	nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return done();
}

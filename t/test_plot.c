/*
 * test_plot.c - cnn_plot_svg: charts for no epoch, one epoch, a realistic
 * run of 50, a run without validation and test sets, gaps, huge and NaN
 * losses, 10000 epochs and a title full of XML specials each give an SVG
 * document with the expected pieces and never "nan" or "inf"; bad
 * arguments are usage errors; a write that fails (missing folder, a
 * folder in the way, a full disk) is an I/O error naming the file that
 * leaves no temporary file and the previous plot as it was.
 *
 *   t/test_plot [DIR]
 *
 * With DIR, the charts are written there and kept (t/plot.sh checks them
 * with xmllint and rsvg-convert); else into a scratch folder, removed.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"

#include "tap.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char msg[1200];

static const char *errstr(const cnn_error *err)
{
	return cnn_error_string(err, msg, sizeof msg);
}

/* Whether s contains needle, ignoring case. */
static int has_nocase(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; *s; s++) {
		size_t k = 0;
		while (k < n && s[k] &&
		       tolower((unsigned char)s[k]) ==
		           tolower((unsigned char)needle[k]))
			k++;
		if (k == n)
			return 1;
	}
	return 0;
}

/* A plausible run of n epochs of a small CNN on MNIST: the loss falls
 * from about 0.3 towards 0.02, the accuracies rise from about 93% towards
 * 99% with some noise, the validation one peaking at 98.40% in epoch 38
 * (when n >= 38). val or test 0: that set is absent (-1). */
static void realistic(cnn_epoch_metrics *h, int n, int val, int test)
{
	unsigned r = 12345;
	for (int i = 0; i < n; i++) {
		double t = i + 1, noise;
		r = r * 1103515245u + 12345u;
		noise = ((r >> 16) % 1000) / 1000.0 - 0.5;
		h[i].epoch = i + 1;
		h[i].loss = 0.02 + 0.3 * exp(-(t - 1) / 5.0) + 0.004 * noise;
		h[i].train_accuracy =
		    0.993 - 0.065 * exp(-(t - 1) / 6.0) + 0.001 * noise;
		h[i].val_accuracy =
		    val ? 0.981 - 0.03 * exp(-(t - 1) / 5.0) + 0.002 * noise
		        : -1;
		h[i].test_accuracy =
		    test ? 0.979 - 0.03 * exp(-(t - 1) / 5.0) - 0.002 * noise
		         : -1;
		h[i].seconds = 12.5;
	}
	if (val && n >= 38)
		h[37].val_accuracy = 0.984;
}

/* Writes a plot and reads it back; the checks every chart must pass:
 * CNN_OK, an SVG document, no "nan" or "inf" anywhere. Returns the text
 * (to free) or NULL. */
static char *plot(const char *name, const char *title,
                  const cnn_epoch_metrics *h, int n, int best)
{
	cnn_error err;
	cnn_status st = cnn_plot_svg(P(name), title, h, n, best, &err);
	char *s;
	if (!ok(st == CNN_OK, "%s: written (%s)", name,
	        st == CNN_OK ? "ok" : errstr(&err)))
		return NULL;
	s = slurp(P(name), NULL);
	ok(s && strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"") &&
	       strstr(s, "viewBox=") && strstr(s, "</svg>\n"),
	   "%s: an SVG document", name);
	ok(s && !has_nocase(s, "nan") && !has_nocase(s, "inf"),
	   "%s: no nan or inf in it", name);
	ok(count_files(".tmp.") == 0, "%s: no temporary file left", name);
	return s;
}

int main(int argc, char **argv)
{
	cnn_epoch_metrics h[50], big[200], *many;
	cnn_error err;
	char want[1400], *s;
	int keep = argc > 1;

	plan_no_plan();
	if (keep) {
		snprintf(dir, sizeof dir, "%s", argv[1]);
		mkdir(dir, 0777);
	} else {
		snprintf(dir, sizeof dir, "%s/test_plot.XXXXXX",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(dir)) {
			ok(0, "mkdtemp: %s", strerror(errno));
			return done();
		}
	}

	/* ------------------------------------------------------------ */
	/* Charts                                                       */
	s = plot("empty.svg", "nothing yet", NULL, 0, 0);
	ok(s && strstr(s, "no epoch yet"), "n = 0 says \"no epoch yet\"");
	ok(s && !strstr(s, "<path"), "... and draws no curve");
	free(s);

	realistic(h, 50, 1, 1);
	s = plot("one.svg", "one epoch", h, 1, 1);
	ok(s && strstr(s, "<circle"), "one epoch shows markers");
	ok(s && strstr(s, "(epoch 1)</text>"), "... and its best label");
	free(s);

	s = plot("run50.svg", "mnist_cnn: 50 epochs", h, 50, 38);
	ok(s && strstr(s, "best 98.40% (epoch 38)"),
	   "the best label reads \"best 98.40%% (epoch 38)\"");
	ok(s && strstr(s, "stroke-dasharray"), "... with a dashed line");
	ok(s && strstr(s, ">mnist_cnn: 50 epochs</text>"), "the title");
	ok(s && strstr(s, ">loss</text>") &&
	       strstr(s, ">accuracy (%)</text>") && strstr(s, ">epoch</text>"),
	   "the axes are labelled loss, accuracy (%%) and epoch");
	ok(s && strstr(s, ">training loss<") &&
	       strstr(s, ">training accuracy<") &&
	       strstr(s, ">validation accuracy<") &&
	       strstr(s, ">test accuracy<"),
	   "the legend names the four series");
	ok(s && strstr(s, ">50</text>") && strstr(s, ">10</text>"),
	   "the epoch axis has ticks 10 ... 50");
	ok(s && strstr(s, ">100.0</text>") == NULL,
	   "the accuracy axis does not start at 0 for a run near 99%%");
	free(s);

	realistic(h, 50, 0, 0);
	s = plot("train_only.svg", "no validation, no test", h, 50, 50);
	ok(s && !strstr(s, "validation accuracy") &&
	       !strstr(s, "test accuracy") && strstr(s, "training accuracy"),
	   "series that are all -1 are left out");
	ok(s && strstr(s, "(epoch 50)"), "... and the best is on training");
	free(s);

	realistic(h, 50, 1, 1);
	h[10].val_accuracy = -1;
	h[11].val_accuracy = -1;
	h[20].test_accuracy = -1;
	h[22].test_accuracy = -1;
	h[30].loss = NAN;
	s = plot("gaps.svg", "gaps", h, 50, 38);
	ok(s && strstr(s, " M"), "a -1 or a NaN breaks the curve");
	ok(s && strstr(s, "<circle"), "... and a lone point gets a marker");
	free(s);

	realistic(h, 50, 1, 1);
	h[2].loss = INFINITY;
	h[3].loss = 1e300;
	h[4].loss = NAN;
	h[5].loss = -INFINITY;
	h[6].train_accuracy = NAN;
	h[7].val_accuracy = 7.0;
	s = plot("huge.svg", "huge loss", h, 50, 38);
	ok(s && !strstr(s, "e+"), "huge losses do not stretch the loss axis");
	free(s);
	for (int i = 0; i < 50; i++)
		h[i].loss = NAN;
	s = plot("nan.svg", "every loss is a gap", h, 50, 0);
	ok(s && !strstr(s, ">training loss<"), "an all-NaN loss is left out");
	free(s);
	for (int i = 0; i < 50; i++)
		h[i].loss = 1e308 * (i + 2);
	s = plot("inf.svg", "every loss too large", h, 50, 0);
	free(s);

	realistic(h, 50, 1, 0);
	s = plot("title.svg",
	         "a & b < c > d \"e\" 'f' \t\x01\x7f bad \xff\xc3 ok \xc3\xa9",
	         h, 12, 5);
	ok(s &&
	       strstr(s, "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;"),
	   "the title's XML specials are escaped");
	ok(s && !strchr(s, '\t') && !strchr(s, '\x01') && !strchr(s, '\x7f') &&
	       !strchr(s, '\xff') && strstr(s, "bad ?? ok \xc3\xa9"),
	   "control characters and bad UTF-8 are replaced, good UTF-8 kept");
	free(s);
	{
		char longt[300];
		memset(longt, 'x', sizeof longt - 1);
		longt[sizeof longt - 1] = '\0';
		s = plot("long_title.svg", longt, h, 12, 0);
		ok(s && strstr(s, "xxx\xe2\x80\xa6<"),
		   "a long title is cut with an ellipsis");
		free(s);
	}
	s = plot("no_title.svg", NULL, h, 3, 0);
	free(s);

	realistic(big, 200, 1, 1);
	s = plot("run200.svg", "200 epochs", big, 200, 38);
	free(s);
	many = malloc(10000 * sizeof *many);
	if (many) {
		realistic(many, 10000, 1, 1);
		s = plot("run10000.svg", "10000 epochs", many, 10000, 9999);
		ok(s && strstr(s, ">10000</text>") && strstr(s, ">2000</text>"),
		   "10000 epochs: ticks every 2000");
		free(s);
		free(many);
	}

	/* ------------------------------------------------------------ */
	/* Usage errors                                                 */
	realistic(h, 50, 1, 1);
	ok(cnn_plot_svg(NULL, "t", h, 3, 0, &err) == CNN_ERR_USAGE,
	   "no path: usage error");
	ok(cnn_plot_svg("", "t", h, 3, 0, &err) == CNN_ERR_USAGE,
	   "empty path: usage error");
	ok(cnn_plot_svg(P("u.svg"), "t", h, -1, 0, &err) == CNN_ERR_USAGE,
	   "n < 0: usage error");
	ok(cnn_plot_svg(P("u.svg"), "t", NULL, 3, 0, &err) == CNN_ERR_USAGE,
	   "no history: usage error");
	ok(cnn_plot_svg(P("u.svg"), "t", h, 3, -1, &err) == CNN_ERR_USAGE,
	   "a best epoch < 0: usage error");
	ok(cnn_plot_svg(P("u.svg"), "t", h, 3, 4, &err) == CNN_ERR_USAGE &&
	       strstr(errstr(&err), "best epoch 4 is not in 0..3"),
	   "a best epoch > n: usage error: %s", msg);
	ok(access(P("u.svg"), F_OK) != 0, "... and nothing written");

	/* ------------------------------------------------------------ */
	/* Writes that fail                                             */
	{
		const char *p = P("no/such/folder/x.svg");
		snprintf(want, sizeof want,
		         "%s: cannot write plot: No such file or directory", p);
		ok(cnn_plot_svg(p, "t", h, 50, 38, &err) == CNN_ERR_IO &&
		       !strcmp(err.file, p) && !strcmp(errstr(&err), want),
		   "a plot into a missing folder: %s", msg);
		ok(count_files(".tmp.") == 0, "... leaves no temporary file");
	}
	ok(cnn_plot_svg(dir, "t", h, 50, 38, &err) == CNN_ERR_IO &&
	       strstr(errstr(&err), "cannot write plot: not a regular file") &&
	       count_files(".tmp.") == 0,
	   "a plot over a folder fails cleanly: %s", msg);
	{
		struct stat sb;
		ok(cnn_plot_svg("/dev/full", "t", h, 50, 38, &err) ==
		           CNN_ERR_IO &&
		       strstr(errstr(&err), "not a regular file") &&
		       stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode),
		   "a plot over /dev/full fails and leaves it a device: %s",
		   msg);
	}
	/* A write that fails half way (a file size limit, like a full
	 * disk): the previous plot must survive intact. */
	{
		const char *p = P("run50.svg");
		struct rlimit old, lim;
		size_t before_len = 0, after_len = 0;
		char *before = slurp(p, &before_len), *after;
		cnn_status st;
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		lim = old;
		lim.rlim_cur = 100;
		setrlimit(RLIMIT_FSIZE, &lim);
		st = cnn_plot_svg(p, "another title", h, 20, 3, &err);
		setrlimit(RLIMIT_FSIZE, &old);
		ok(st == CNN_ERR_IO && !strcmp(err.file, p) &&
		       strstr(errstr(&err),
		              "cannot write plot: File too large"),
		   "a write that fails half way is an I/O error: %s", msg);
		after = slurp(p, &after_len);
		ok(before && after && before_len == after_len &&
		       !memcmp(before, after, before_len),
		   "... and the previous plot is untouched");
		ok(count_files(".tmp.") == 0,
		   "... and no temporary file is left");
		free(before);
		free(after);
	}
	if (geteuid() != 0) {
		const char *sub = P("ro");
		char p[600];
		snprintf(p, sizeof p, "%s/x.svg", sub);
		mkdir(sub, 0500);
		ok(cnn_plot_svg(p, "t", h, 5, 0, &err) == CNN_ERR_IO &&
		       strstr(errstr(&err), "Permission denied"),
		   "a plot into a read-only folder: %s", msg);
		rmdir(sub);
	} else {
		ok(1, "a plot into a read-only folder # SKIP running as root");
	}
	{
		const char *p = P("mode.svg");
		struct stat sb;
		ok(cnn_plot_svg(p, "t", h, 5, 0, &err) == CNN_OK &&
		       chmod(p, 0640) == 0 &&
		       cnn_plot_svg(p, "t", h, 6, 0, &err) == CNN_OK &&
		       stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0640,
		   "writing over a plot keeps its mode");
		unlink(p);
	}

	if (!keep)
		remove_dir();
	return done();
}

/*
 * cnnexport.c - writes a trained model for other runtimes: ONNX (for ONNX
 * Runtime, browsers, phones, Netron) or one dependency-free C99 file (for
 * firmware), with the weights --evaluate uses.
 *
 *   cnnexport CKPT.gz -o MODEL.onnx|MODEL.c [--format onnx|c]
 *
 * Thin by design: it loads the checkpoint with cnn_model_load (which
 * verifies the whole file) and writes with cnn_model_export (atomically:
 * on any failure the output path is left as it was). Exit status: 0
 * success, 1 a runtime failure (an unreadable or damaged checkpoint, an
 * output that cannot be written), 2 a usage error (options, a format the
 * output's name does not tell, a layer the format cannot express). Every
 * error is one line on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cnn.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *prog = "cnnexport";

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: cnnexport CKPT.gz -o MODEL.onnx|MODEL.c [--format "
	        "onnx|c]\n"
	        "Write a trained model, with the weights --evaluate uses (the "
	        "kept ones), for\n"
	        "other runtimes.\n"
	        "\n"
	        "  -o, --output FILE     the file to write (replaced "
	        "atomically)\n"
	        "  -f, --format FMT      onnx: ONNX, IR version 7, opset 13; "
	        "input \"input\",\n"
	        "                        float32 [N, C, H, W] (the pixels "
	        "times the training\n"
	        "                        data's scale, then data.normalize's "
	        "mean and std\n"
	        "                        if any), output "
	        "\"probabilities\" (and \"logits\"\n"
	        "                        when the model ends in softmax);\n"
	        "                        c: one C99 file, no allocation, with "
	        "NAME_predict();\n"
	        "                        [from the output's extension: .onnx "
	        "or .c]\n"
	        "  -h, --help            show this help and exit\n"
	        "  -V, --version         show the version and exit\n"
	        "\n"
	        "Exit status: 0 success, 1 an unreadable or damaged checkpoint "
	        "or an output that\n"
	        "cannot be written, 2 a usage error (or a layer the format "
	        "cannot express).\n");
}

/* Prints a usage problem as one line and returns 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see %s --help)\n", prog);
	return 2;
}

/* The format --format names, else the output's extension does; 0 after
 * printing why there is none. */
static cnn_export_format pick_format(const char *format, const char *output)
{
	const char *dot = strrchr(output, '.');
	const char *slash = strrchr(output, '/');
	const char *ext = dot && (!slash || dot > slash) ? dot + 1 : "";
	const char *name = format ? format : ext;

	if (strcmp(name, "onnx") == 0)
		return CNN_EXPORT_ONNX;
	if (strcmp(name, "c") == 0)
		return CNN_EXPORT_C;
	if (format)
		usage_error("unknown format '%s': onnx or c", format);
	else
		usage_error("cannot tell the format from the name '%s': end "
		            "it in .onnx or .c, or give --format onnx|c",
		            output);
	return (cnn_export_format)0;
}

/* Loads the checkpoint and exports it; returns the exit status. */
static int export(const char *ckpt, const char *output,
                  cnn_export_format format)
{
	char buf[1200];
	cnn_model *m = NULL;
	cnn_error err;
	int rc = 0;

	if (cnn_model_load(&m, ckpt, NULL, 0, &err) != CNN_OK) {
		if (cli_file_kind(ckpt) == CLI_MODEL) {
			fprintf(stderr, "%s: " CLI_MODEL_NOT_CHECKPOINT "\n",
			        prog, ckpt, ckpt);
			return 2;
		}
	} else if (cnn_model_export(m, output, format, &err) == CNN_OK) {
		cnn_model_free(m);
		return 0;
	}
	rc = cnn_status_exit_code(err.status);
	fprintf(stderr, "%s: %s\n", prog,
	        cnn_error_string(&err, buf, sizeof buf));
	cnn_model_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	const char *output = NULL, *format = NULL;
	cnn_export_format f;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:f:hV", longs, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cnnexport (libcnn) %s\n", cnn_version());
			return 0;
		case ':':
			return usage_error("option '%s' needs a value",
			                   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
			                   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("missing CKPT.gz%s", "");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'",
		                   argv[optind + 1]);
	if (!output || !output[0])
		return usage_error("missing -o FILE%s", "");
	if (!(f = pick_format(format, output)))
		return 2;
	return export(argv[optind], output, f);
}

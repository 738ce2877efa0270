/*
 * cli.h - command-line helpers shared by the tools (cnnrun, cnninspect).
 */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

#include <stddef.h>
#include <stdio.h>

/* Parses an option's value as a whole decimal integer from 1 to max
 * (leading white space and a sign as strtol takes them, nothing after);
 * returns it, or -1 when s is not one (empty, trailing characters, out of
 * range). */
int cli_parse_count(const char *s, int max);

/* What a file looks like from its first 64 KiB, to tell a user who gave
 * one kind of file where the other was expected: */
typedef enum cli_kind {
	CLI_OTHER, /* unreadable, or neither of these */
	CLI_GZIP,  /* gzip data: a checkpoint, or another gzip file */
	CLI_MODEL  /* text with no NUL byte and a line starting "layers:": a
	              YAML model description */
} cli_kind;
cli_kind cli_file_kind(const char *path);

/* What the tools say when a file of the other kind was given (exit 2):
 * PATH twice. */
#define CLI_MODEL_NOT_CHECKPOINT                                               \
	"%s is a model description, not a checkpoint; train it with cnnrun %s"
#define CLI_CHECKPOINT_NOT_MODEL                                               \
	"%s is gzip data (a checkpoint?), not a model description; go on "     \
	"training it with cnnrun --resume %s, or test it with cnnrun "         \
	"--evaluate %s"

/* Monotonic seconds, for timing what a tool does. */
double cli_seconds(void);

/* Writes s seconds as M:SS, or H:MM:SS from an hour on, into buf (0:00
 * for a negative or absurd value). */
void cli_duration(char *buf, size_t size, double s);

/* Writes s as a JSON string, quoted and escaped (control characters as
 * \uXXXX; bytes from 0x80 pass through, so UTF-8 stays as it is). */
void cli_json_string(FILE *f, const char *s);

/* Writes m's class names as a JSON list of strings, or null when the
 * model has none. */
void cli_json_class_names(FILE *f, const cnn_model *m);

#endif /* CNN_CLI_H */

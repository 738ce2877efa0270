/*
 * cli.h - command-line helpers shared by the tools (cnnrun, cnninspect).
 */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include <stddef.h>

/* Parses an option's value as a whole decimal integer from 1 to max
 * (leading white space and a sign as strtol takes them, nothing after);
 * returns it, or -1 when s is not one (empty, trailing characters, out of
 * range). */
int cli_parse_count(const char *s, int max);

/* Monotonic seconds, for timing what a tool does. */
double cli_seconds(void);

/* Writes s seconds as M:SS, or H:MM:SS from an hour on, into buf (0:00
 * for a negative or absurd value). */
void cli_duration(char *buf, size_t size, double s);

#endif /* CNN_CLI_H */

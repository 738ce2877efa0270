/*
 * cli.h - command-line helpers shared by the tools (cnnrun, cnninspect).
 */
#ifndef CNN_CLI_H
#define CNN_CLI_H

/* Parses an option's value as a whole decimal integer from 1 to max
 * (leading white space and a sign as strtol takes them, nothing after);
 * returns it, or -1 when s is not one (empty, trailing characters, out of
 * range). */
int cli_parse_count(const char *s, int max);

#endif /* CNN_CLI_H */

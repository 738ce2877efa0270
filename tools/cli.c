/*
 * cli.c - command-line helpers shared by the tools (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>

int cli_parse_count(const char *s, int max)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -1;
	return (int)v;
}

/*
 * memory.c - how much memory the library may use: the limit a caller sets
 * (cnn_set_memory_limit), else what the machine and the process's limits
 * allow; checked before a model's arrays or a decoded data set are
 * allocated, so that a run too large is refused with the figures instead
 * of being killed later; and the aligned allocation of those arrays.
 */
#define _DEFAULT_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static size_t memory_limit; /* 0: what the machine allows */

void cnn_set_memory_limit(size_t bytes)
{
	memory_limit = bytes;
}

/* The memory a model may use, in bytes: the limit set by the caller, else
 * the physical memory, lowered to the address-space limit minus 256 MiB
 * (for the program, its libraries and the threads' stacks). */
double cnn_memory_available(void)
{
	if (memory_limit)
		return (double)memory_limit;
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	double avail =
	    pages > 0 && size > 0 ? (double)pages * (double)size : 1e300;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		double as = (double)rl.rlim_cur - 256.0 * 1048576.0;
		if (as < avail)
			avail = as > 0 ? as : 0;
	}
	return avail;
}

/* Formats bytes as "12.3 MiB" into buf. */
const char *cnn_human_bytes(double bytes, char *buf, size_t size)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB",
	                                   "TiB",   "PiB", "EiB"};
	int u = 0;
	while (bytes >= 1024.0 && u < 6) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
	return buf;
}

void *cnn_alloc_aligned(size_t bytes, int zero)
{
	void *p = NULL;

	/* a zeroed line of slack after the end: the kernels' last vector of
	 * a row may load a few floats past it (and mask them off) */
	if (posix_memalign(&p, 64, bytes + 64) != 0)
		return NULL;
	memset((char *)p + (zero ? 0 : bytes), 0, zero ? bytes + 64 : 64);
	return p;
}

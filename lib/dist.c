/*
 * dist.c - training over several processes through MPI (contracts in
 * dist.h and, for the public calls, include/cnn.h).
 *
 * MPI is joined only when a launcher started the process (mpirun sets
 * OMPI_COMM_WORLD_SIZE, MPICH's hydra PMI_SIZE); a process started alone
 * never calls MPI_Init, so it behaves as a build without MPI. The time
 * spent in this file's collective calls is counted for the benchmark.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <config.h>

#include "dist.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_MPI
#include <mpi.h>
#endif

static int dist_rank, dist_size = 1;
static double dist_wait;

/* The job size a launcher announced in the environment, or 1. */
static int launched_size(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
	                                   "PMIX_SIZE"};
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		if (v && atoi(v) > 0)
			return atoi(v);
	}
	return 1;
}

#ifdef HAVE_MPI
static int dist_joined; /* MPI_Init was called, MPI_Finalize not yet */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The largest count of one MPI call (counts are ints). */
#define PIECE ((size_t)1 << 28)

static MPI_Datatype mpi_type(cnn_dist_type t)
{
	return t == CNN_DIST_DOUBLE ? MPI_DOUBLE : MPI_FLOAT;
}

static size_t type_size(cnn_dist_type t)
{
	return t == CNN_DIST_DOUBLE ? sizeof(double) : sizeof(float);
}

cnn_status cnn_dist_start(int *argc, char ***argv, cnn_error *err)
{
	cnn_err_clear(err);
	if (dist_joined || launched_size() <= 1)
		return CNN_OK;
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		return cnn_err(err, CNN_ERR_IO,
		               "cannot join the MPI job (MPI_Init failed)");
	MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
	dist_joined = 1;
	return CNN_OK;
}

void cnn_dist_finish(void)
{
	if (dist_joined)
		MPI_Finalize();
	dist_joined = 0;
}

/* Sends, receives or broadcasts n values in pieces MPI can count. */
static void xfer(int what, void *buf, size_t n, cnn_dist_type t, int peer)
{
	char *p = buf;
	double t0 = now();
	for (size_t done = 0; done < n; done += PIECE) {
		int k = (int)(n - done < PIECE ? n - done : PIECE);
		void *at = p + done * type_size(t);
		if (what == 's')
			MPI_Send(at, k, mpi_type(t), peer, 1, MPI_COMM_WORLD);
		else if (what == 'r')
			MPI_Recv(at, k, mpi_type(t), peer, 1, MPI_COMM_WORLD,
			         MPI_STATUS_IGNORE);
		else
			MPI_Bcast(at, k, mpi_type(t), peer, MPI_COMM_WORLD);
	}
	dist_wait += now() - t0;
}

/* The first item of rank r's share. */
static int share_start(int r, int count)
{
	return (int)((long long)r * count / dist_size);
}

static int owns(int r, int count)
{
	return share_start(r + 1, count) > share_start(r, count);
}

void cnn_dist_share(int count, int *lo, int *hi)
{
	*lo = share_start(dist_rank, count);
	*hi = share_start(dist_rank + 1, count);
}

/* The nearest rank from r on in direction step (-1 or +1) that owns items,
 * or -1. */
static int owner_from(int r, int step, int count)
{
	for (; r >= 0 && r < dist_size; r += step)
		if (owns(r, count))
			return r;
	return -1;
}

int cnn_dist_fold_recv(void *buf, size_t n, cnn_dist_type t, int count)
{
	if (dist_size == 1 || !owns(dist_rank, count))
		return 0;
	int from = owner_from(dist_rank - 1, -1, count);
	if (from < 0)
		return 0;
	xfer('r', buf, n, t, from);
	return 1;
}

void cnn_dist_fold_pass(void *buf, size_t n, cnn_dist_type t, int count)
{
	if (dist_size == 1)
		return;
	int last = owner_from(dist_size - 1, -1, count);
	if (last < 0)
		return; /* no items: nothing was folded */
	if (dist_rank != last && owns(dist_rank, count))
		xfer('s', buf, n, t, owner_from(dist_rank + 1, 1, count));
	xfer('b', buf, n, t, last);
}

/* At most this many slices in a sliced fold, each of at least
 * MIN_SLICE floats: enough to overlap, few enough that each slice's fixed
 * cost stays small. */
#define MAX_SLICES 8
#define MIN_SLICE  4096

void cnn_dist_fold_sliced(float *buf, size_t n, int count, cnn_dist_add_fn add,
                          void *ctx)
{
	int last = owner_from(dist_size - 1, -1, count);
	if (dist_size == 1 || last < 0 || n == 0) {
		if (dist_size == 1)
			add(ctx, 0, n, 0);
		return;
	}
	int mine = owns(dist_rank, count);
	int from = mine ? owner_from(dist_rank - 1, -1, count) : -1;
	int to = mine && dist_rank != last ? owner_from(dist_rank + 1, 1, count)
	                                   : -1;
	size_t slice = (n + MAX_SLICES - 1) / MAX_SLICES;
	if (slice < MIN_SLICE)
		slice = MIN_SLICE;
	if (slice > PIECE)
		slice = PIECE;
	size_t n_sl = (n + slice - 1) / slice; /* more than MAX_SLICES only
	                                          beyond 2^31 floats */
	MPI_Request req[MAX_SLICES];
	double t0 = now(), adding = 0;
	for (size_t s = 0; s < n_sl; s++) {
		size_t a = s * slice, b = n - a < slice ? n : a + slice;
		int k = (int)(b - a);
		if (mine) {
			if (from >= 0)
				MPI_Recv(buf + a, k, MPI_FLOAT, from, 1,
				         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			double t1 = now();
			add(ctx, a, b, from >= 0);
			adding += now() - t1;
			if (to >= 0)
				MPI_Send(buf + a, k, MPI_FLOAT, to, 1,
				         MPI_COMM_WORLD);
		}
		MPI_Ibcast(buf + a, k, MPI_FLOAT, last, MPI_COMM_WORLD,
		           &req[s % MAX_SLICES]);
		if (s % MAX_SLICES == MAX_SLICES - 1 || s + 1 == n_sl)
			MPI_Waitall((int)(s % MAX_SLICES) + 1, req,
			            MPI_STATUSES_IGNORE);
	}
	dist_wait += now() - t0 - adding;
}

void cnn_dist_sum_u64(uint64_t *v, size_t n)
{
	if (dist_size == 1)
		return;
	double t0 = now();
	for (size_t done = 0; done < n; done += PIECE) {
		int k = (int)(n - done < PIECE ? n - done : PIECE);
		MPI_Allreduce(MPI_IN_PLACE, v + done, k, MPI_UINT64_T, MPI_SUM,
		              MPI_COMM_WORLD);
	}
	dist_wait += now() - t0;
}

int cnn_dist_any(int flag)
{
	if (dist_size == 1)
		return flag != 0;
	int in = flag != 0, out = 0;
	double t0 = now();
	MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	dist_wait += now() - t0;
	return out;
}

/* Appends " (process R of N, on HOST)" to the message when it fits. */
static void name_process(cnn_error *err)
{
	char host[MPI_MAX_PROCESSOR_NAME + 1] = "";
	int len = 0;
	MPI_Get_processor_name(host, &len);
	size_t used = strlen(err->message);
	snprintf(err->message + used, sizeof err->message - used,
	         " (process %d of %d, on %s)", dist_rank, dist_size, host);
}

cnn_status cnn_dist_agree(cnn_error *err)
{
	if (dist_size == 1)
		return err->status;
	int mine = err->status != CNN_OK ? dist_rank : dist_size, first;
	MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (first == dist_size)
		return CNN_OK;
	if (first == dist_rank && first != 0)
		name_process(err);
	MPI_Bcast(err, (int)sizeof *err, MPI_BYTE, first, MPI_COMM_WORLD);
	return err->status;
}

/* The number of processes on this host. */
static int local_size(void)
{
	MPI_Comm host;
	int n = 1;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
	                        MPI_INFO_NULL, &host) != MPI_SUCCESS)
		return 1;
	MPI_Comm_size(host, &n);
	MPI_Comm_free(&host);
	return n;
}
#else /* without MPI: one process */
/* This process's rank as the launcher announced it, or 0. */
static int launched_rank(void)
{
	const char *v = getenv("OMPI_COMM_WORLD_RANK");
	if (!v)
		v = getenv("PMI_RANK");
	return v ? atoi(v) : 0;
}

cnn_status cnn_dist_start(int *argc, char ***argv, cnn_error *err)
{
	(void)argc;
	(void)argv;
	cnn_err_clear(err);
	if (launched_size() <= 1)
		return CNN_OK;
	/* rank 0 alone reports it; every process fails */
	dist_rank = launched_rank();
	return cnn_err(err, CNN_ERR_USAGE,
	               "started by mpirun as one of %d processes, but this "
	               "libcnn was built without MPI: every process would "
	               "train alone; rebuild with ./configure --with-mpi "
	               "(Debian package libopenmpi-dev)",
	               launched_size());
}

void cnn_dist_finish(void)
{
}

void cnn_dist_share(int count, int *lo, int *hi)
{
	*lo = 0;
	*hi = count;
}

int cnn_dist_fold_recv(void *buf, size_t n, cnn_dist_type t, int count)
{
	(void)buf;
	(void)n;
	(void)t;
	(void)count;
	return 0;
}

void cnn_dist_fold_pass(void *buf, size_t n, cnn_dist_type t, int count)
{
	(void)buf;
	(void)n;
	(void)t;
	(void)count;
}

void cnn_dist_fold_sliced(float *buf, size_t n, int count, cnn_dist_add_fn add,
                          void *ctx)
{
	(void)buf;
	(void)count;
	add(ctx, 0, n, 0);
}

void cnn_dist_sum_u64(uint64_t *v, size_t n)
{
	(void)v;
	(void)n;
}

int cnn_dist_any(int flag)
{
	return flag != 0;
}

cnn_status cnn_dist_agree(cnn_error *err)
{
	return err->status;
}

static int local_size(void)
{
	return 1;
}
#endif

int cnn_dist_rank(void)
{
	return dist_rank;
}

int cnn_dist_size(void)
{
	return dist_size;
}

double cnn_dist_wait_seconds(void)
{
	return dist_wait;
}

int cnn_dist_writer(void)
{
	return dist_rank == 0;
}

int cnn_dist_threads(void)
{
	if (dist_size == 1)
		return 0;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int t = (int)((online > 0 ? online : 1) / local_size());
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < t)
		t = CPU_COUNT(&set);
	return t > 0 ? t : 1;
}

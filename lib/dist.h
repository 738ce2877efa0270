/*
 * dist.h - training over several processes (MPI): the library's one room
 * that talks to MPI. Every function here is collective when the process is
 * one of several (all of them call it in the same order) and the identity
 * of a single process otherwise: without MPI, or outside mpirun, training
 * runs exactly as it always did.
 *
 * The split: the items of a list (a batch's chunks, an evaluation's
 * batches) are cut into contiguous shares in rank order, rank r owning
 * [r * count / size, (r + 1) * count / size); a share may be empty.
 *
 * The ordered fold: a sum over the items is made as one process would make
 * it, item after item. The owner of the first items folds its own and
 * passes the running sum to the next owner, which continues, and so on;
 * the last owner broadcasts the total. The result is bit-identical whatever
 * the number of processes, which MPI_Allreduce does not promise.
 */
#ifndef CNN_DIST_H
#define CNN_DIST_H

#include "internal.h"

/* The element type of a fold. */
typedef enum cnn_dist_type { CNN_DIST_FLOAT, CNN_DIST_DOUBLE } cnn_dist_type;

/* This process's share [*lo, *hi) of count items. */
void cnn_dist_share(int count, int *lo, int *hi);

/* Starts this process's part of an ordered fold of n values over count
 * items: when an earlier process owns items, receives their running sum
 * into buf and returns 1; else returns 0 (buf untouched), and the caller
 * starts the sum from its first item's values. A process whose share is
 * empty gets 0 and folds nothing. */
int cnn_dist_fold_recv(void *buf, size_t n, cnn_dist_type t, int count);

/* Ends the fold cnn_dist_fold_recv started, once buf holds the running sum
 * up to this process's last item: passes it on to the next owner, and
 * leaves in every process's buf the total. */
void cnn_dist_fold_pass(void *buf, size_t n, cnn_dist_type t, int count);

/* Folds n floats over count items in slices, so that passing a slice on
 * overlaps with adding the next: for each slice [from, to) of buf, in
 * order, a process that owns items receives the earlier owners' running
 * sum (when there are some), calls add(ctx, from, to, have) to add its
 * own items' values into buf[from, to) (have 0: nothing was received, so
 * it starts from its first item's values), and passes the slice on; the
 * last owner broadcasts each slice as soon as it is done. Every process
 * ends with the total in buf. A single process calls add once, over all
 * of buf, with have 0. */
typedef void (*cnn_dist_add_fn)(void *ctx, size_t from, size_t to, int have);
void cnn_dist_fold_sliced(float *buf, size_t n, int count, cnn_dist_add_fn add,
                          void *ctx);

/* Adds the n counters of every process into each process's v (integers:
 * exact in any order). */
void cnn_dist_sum_u64(uint64_t *v, size_t n);

/* Whether flag is non-zero in any process. */
int cnn_dist_any(int flag);

/* Whether this process writes the files of a run (rank 0). */
int cnn_dist_writer(void);

/* The default thread count of one of several processes: the host's online
 * cores divided by the processes on that host, at least 1 and at most the
 * cores this process may run on; 0 (the pool's default) for a single
 * process. */
int cnn_dist_threads(void);

#endif

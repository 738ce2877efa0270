/*
 * pool.h - the library's threads: parallel loops whose blocks go to
 * whichever thread is free.
 *
 * Why not OpenMP's parallel for: its threads spin at every barrier and
 * its static schedule gives each thread a fixed share, so on a machine
 * where another process takes a core, the thread the kernel holds back
 * makes the others spin through their time slices waiting for it (the
 * reference model trained 3 to 20 times slower than one thread). Here the
 * blocks of a loop are handed out one at a time to whichever thread asks
 * (the calling thread included): each thread first from its own share of
 * them (the same at every call with the same count, so that its blocks'
 * data stay in its core's cache), then from the others'. A thread held
 * back delays only the block it holds, and a thread with nothing to do
 * spins briefly, then sleeps, giving its core back.
 *
 * Results never depend on which thread ran a block: every caller writes
 * each block's results to its own place (a chunk's arena, a slice of an
 * array), and sums over blocks are made afterwards in a fixed order.
 */
#ifndef CNN_POOL_H
#define CNN_POOL_H

/* A block size for loops over parameters or other flat arrays: 16 KB of
 * floats, enough work to pay for handing the block out, small enough that
 * a few arrays of it stay in the cache while a block is worked on. */
#define CNN_POOL_GRAIN 4096

/* One block of a loop: the iterations [begin, end). */
typedef void (*cnn_pool_fn)(void *ctx, long begin, long end);

/* Runs fn over the iterations [0, n) cut into blocks of grain (the last
 * one shorter; larger blocks when there would be more than 65535), each block
 * exactly once, on the calling thread or a worker, in no fixed order; returns
 * when every block is done. A call made while another loop runs (from fn, or
 * from another thread of the program) runs its blocks on the calling thread
 * alone. */
void cnn_pool_run(long n, long grain, cnn_pool_fn fn, void *ctx);

/* 1 unless the calling thread was held back in one of the last loops
 * loops and in another loop at most loops before that one: ran out of
 * blocks and then waited for the other threads longer than it had worked
 * and than it spins before it sleeps (0.2 ms, no block of a quiet step).
 * Held back again and again, a sign that the system keeps a thread from
 * its core (another program takes it), when a loop more per step costs
 * more than it saves; held back once, the system's own noise (the virtual
 * machine of the README's figures holds a thread back 0.3-1 ms about every
 * 0.3 s with nothing else running: mlp's split pass, stopped for 256 loops
 * each time, ran 13% of its steps unsplit). Read it from the thread that
 * runs the loops. */
int cnn_pool_quiet(int loops);

/* The index of the calling thread among those that run the loops: i for
 * worker i, 0 for any other thread (the caller of a loop among them).
 * While a loop runs, no two of its threads have the same index, and every
 * index is below cnn_pool_threads(). */
int cnn_pool_self(void);

/* The number of threads the loops use, the calling thread included:
 * threads when positive, else the default: OMP_NUM_THREADS when set to a
 * positive number, else the processors this process may run on. The
 * workers are started when a loop first needs them. */
void cnn_pool_set_threads(int threads);
int cnn_pool_threads(void);

#endif

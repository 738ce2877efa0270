/*
 * pool.c - the library's threads (contract in pool.h).
 *
 * One loop runs at a time. The caller publishes it in one atomic word: a
 * generation number in the high 32 bits and the number of threads that
 * share it in the low 32. The blocks are cut into that many contiguous
 * shares, one per thread (the caller is thread 0, worker i thread i), each
 * an atomic word too: the generation and the share's blocks not yet handed
 * out, [first, end). A thread takes the first block of its own share, and
 * when that is empty, the first block of another's; every take is a
 * compare-and-swap that also checks the generation, so a worker that wakes
 * late can never take a block of a later loop. Blocks finished are counted
 * apart; the caller returns when all are.
 *
 * Why shares: the chunks of a batch (and the slices of the parameters)
 * are the same blocks at every step, so a thread that gets the same share
 * each time finds its chunks' activations and gradient arenas still in its
 * own core's cache. Taking blocks in the order they were asked for moved
 * them between the cores at every step: on two cores, the sum of the
 * gradients and the update took 4 times as long at 2 threads as at 1
 * (reference model). A thread held back by the system delays only the
 * block it holds: the others take the rest of its share. (Taking them from
 * the end instead left the first block to the thread held back more often,
 * and cost 1.29x beside a spinning process; from the front, about 1.05x,
 * against 0.9x on a quiet machine.)
 *
 * Waiting: a worker with nothing to do spins for SPIN_NS, then sleeps on a
 * condition variable until the next loop; the caller waiting for the last
 * blocks does the same. The spin keeps the short gaps between the loops
 * of one training step cheap; each turn of it yields the processor, so a
 * thread that waits never holds back one that works (measured on two
 * cores, reference model, s/epoch at the default threads: with a pause
 * instruction instead, 0.33 beside a spinning process and 0.34 with two
 * runs at once; yielding, 0.29 and 0.28; the same 0.20 on a quiet
 * machine). Workers block every signal, so that signals reach the
 * program's own threads. A child of fork() starts with no workers and
 * starts its own.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_BLOCKS  65535   /* per loop (16 bits of a share's word) */
#define SPIN_NS     200000L /* how long an idle thread spins before it sleeps */

/* The loop in progress (written by the caller before it publishes the
 * generation; read by a thread only after it claimed one of its blocks). */
typedef struct job {
	cnn_pool_fn fn;
	void *ctx;
	long n, grain;
	uint32_t blocks;
} job;

static job cur;
static _Atomic uint64_t word;               /* generation << 32 | threads */
static _Atomic uint64_t share[MAX_THREADS]; /* generation << 32 |
                                               first << 16 | end */
static _Atomic uint32_t finished;           /* blocks of the loop finished */
static _Atomic int active;          /* workers that take part (1..active) */
static _Atomic int threads_wanted;  /* 0: the default */
static int started;                 /* workers started (under run_lock) */
static uint32_t generation;         /* the last published (under run_lock) */
static int sleepers, caller_asleep; /* under lock */
static _Atomic uint32_t born;       /* the generation before a new worker's
                                       first loop */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* One turn of a spin: lets another thread that wants this processor run
 * (a thread of this loop held back, or another program), and returns at
 * once when there is none. */
static void relax(void)
{
	sched_yield();
}

static uint32_t gen_of(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

/* A share's first block not yet handed out, and the end of the share. */
static uint32_t first_of(uint64_t w)
{
	return (uint32_t)(w >> 16 & 0xffff);
}

static uint32_t end_of(uint64_t w)
{
	return (uint32_t)(w & 0xffff);
}

/* Claims a block of the loop of generation gen, shared by threads
 * threads, for thread self: the first of its own share, else the first of
 * the next share that has one. Returns its index, or -1 when that loop has
 * none left (or is over). */
static long claim(uint32_t gen, int threads, int self, uint32_t *blocks)
{
	for (int k = 0; k < threads; k++) {
		_Atomic uint64_t *w = &share[(self + k) % threads];
		uint64_t v = atomic_load_explicit(w, memory_order_acquire);
		while (gen_of(v) == gen && first_of(v) < end_of(v)) {
			uint64_t to = v + (1u << 16);
			if (atomic_compare_exchange_weak_explicit(
			        w, &v, to, memory_order_acq_rel,
			        memory_order_acquire)) {
				*blocks = cur.blocks;
				return (long)first_of(v);
			}
		}
	}
	return -1;
}

/* Runs blocks of the loop of generation gen (shared by threads threads) as
 * thread self until none is left; the thread that finishes the last one
 * wakes the caller if it sleeps. */
static void work(uint32_t gen, int threads, int self)
{
	uint32_t blocks;
	long b;
	while ((b = claim(gen, threads, self, &blocks)) >= 0) {
		long lo = b * cur.grain;
		long hi = cur.n - lo < cur.grain ? cur.n : lo + cur.grain;
		cur.fn(cur.ctx, lo, hi);
		if (atomic_fetch_add_explicit(&finished, 1,
		                              memory_order_acq_rel) +
		        1 ==
		    blocks) {
			pthread_mutex_lock(&lock);
			if (caller_asleep)
				pthread_cond_signal(&all_done);
			pthread_mutex_unlock(&lock);
		}
	}
}

/* Waits (spinning, then asleep) for a generation other than seen; returns
 * the word that published it. */
static uint64_t wait_loop(uint32_t seen)
{
	long t0 = now_ns();
	for (int i = 1;; i++) {
		uint64_t w = atomic_load_explicit(&word, memory_order_acquire);
		if (gen_of(w) != seen)
			return w;
		relax();
		if (i % 16 == 0 && now_ns() - t0 > SPIN_NS)
			break;
	}
	pthread_mutex_lock(&lock);
	sleepers++;
	while (gen_of(atomic_load(&word)) == seen)
		pthread_cond_wait(&wake, &lock);
	sleepers--;
	pthread_mutex_unlock(&lock);
	return atomic_load(&word);
}

/* This thread's index in the pool's loops (cnn_pool_self). */
static _Thread_local int self_index;

int cnn_pool_self(void)
{
	return self_index;
}

static void *worker(void *arg)
{
	const int id = (int)(intptr_t)arg;
	self_index = id;
	uint32_t seen = atomic_load(&born); /* not word: the loop that made
	                                       this worker may be out already */
	for (;;) {
		uint64_t w = wait_loop(seen);
		seen = gen_of(w);
		if (id < (int)(uint32_t)w)
			work(seen, (int)(uint32_t)w, id);
	}
	return NULL;
}

/* The processors this process may run on. */
static int processors(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* The default thread count: OMP_NUM_THREADS when it is a positive number
 * (libcnn's threads were OpenMP's, and scripts set it), else every
 * processor this process may run on. */
static int default_threads(void)
{
	const char *v = getenv("OMP_NUM_THREADS");
	char *end;
	long n = v ? strtol(v, &end, 10) : 0;
	if (v && end != v && (*end == '\0' || *end == ',') && n > 0)
		return n < MAX_THREADS ? (int)n : MAX_THREADS;
	return processors();
}

int cnn_pool_threads(void)
{
	int t = threads_wanted > 0 ? threads_wanted : default_threads();
	return t < MAX_THREADS ? t : MAX_THREADS;
}

void cnn_pool_set_threads(int threads)
{
	threads_wanted = threads > 0 ? threads : 0;
}

/* fork() while workers exist: the parent holds the pool's two mutexes
 * across the fork, so that no worker holds one in the child; the child,
 * which has no workers, starts from an empty pool (new mutexes and
 * condition variables: the old ones may count waiters that the child does
 * not have). */
static void fork_prepare(void)
{
	pthread_mutex_lock(&run_lock);
	pthread_mutex_lock(&lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&run_lock);
}

static void fork_child(void)
{
	started = 0;
	sleepers = caller_asleep = 0;
	atomic_store(&active, 0);
	pthread_mutex_init(&run_lock, NULL);
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&wake, NULL);
	pthread_cond_init(&all_done, NULL);
}

static void register_fork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Starts workers up to threads - 1 (fewer if the system refuses) and sets
 * how many take part. Called with run_lock held, before every loop: when
 * the workers are there already it makes no system call (the two signal
 * mask changes cost 2 us here, on the path of every loop). */
static void start_workers(int threads)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sigset_t all, old;

	if (started >= threads - 1) {
		atomic_store(&active, threads - 1);
		return;
	}
	pthread_once(&once, register_fork);
	atomic_store(&born, generation);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (started < threads - 1) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		int ok = pthread_create(&t, &a, worker,
		                        (void *)(intptr_t)(started + 1)) == 0;
		pthread_attr_destroy(&a);
		if (!ok)
			break;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	atomic_store(&active, threads - 1 < started ? threads - 1 : started);
}

/* The last two loops in which the caller, out of blocks, waited for the
 * others longer than it had worked and than it spins (see cnn_pool_quiet):
 * held_generation the later, held_before the earlier. */
static _Atomic uint32_t held_generation, held_before;

/* Waits (spinning, then asleep) until blocks blocks are finished; the
 * caller's work took worked ns. */
static void wait_done(uint32_t blocks, long worked)
{
	long t0 = now_ns();
	for (int i = 1;
	     atomic_load_explicit(&finished, memory_order_acquire) < blocks;
	     i++) {
		relax();
		if (i % 16 == 0 && now_ns() - t0 > SPIN_NS)
			break;
	}
	pthread_mutex_lock(&lock);
	while (atomic_load(&finished) < blocks) {
		caller_asleep = 1;
		pthread_cond_wait(&all_done, &lock);
	}
	caller_asleep = 0;
	pthread_mutex_unlock(&lock);
	long waited = now_ns() - t0;
	if (waited > worked && waited > SPIN_NS) {
		atomic_store_explicit(
		    &held_before,
		    atomic_load_explicit(&held_generation,
		                         memory_order_relaxed),
		    memory_order_relaxed);
		atomic_store_explicit(&held_generation, generation,
		                      memory_order_relaxed);
	}
}

int cnn_pool_quiet(int loops)
{
	uint32_t held =
	    atomic_load_explicit(&held_generation, memory_order_relaxed);
	uint32_t before =
	    atomic_load_explicit(&held_before, memory_order_relaxed);
	uint32_t now =
	    gen_of(atomic_load_explicit(&word, memory_order_relaxed));

	return before == 0 || now - held > (uint32_t)loops ||
	       held - before > (uint32_t)loops;
}

void cnn_pool_run(long n, long grain, cnn_pool_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	if (grain < 1)
		grain = 1;
	if ((n - 1) / grain + 1 > MAX_BLOCKS)
		grain = (n - 1) / MAX_BLOCKS + 1;
	const uint32_t blocks = (uint32_t)((n - 1) / grain + 1);
	const int threads = cnn_pool_threads();
	if (threads <= 1 || blocks == 1 || pthread_mutex_trylock(&run_lock)) {
		for (long lo = 0; lo < n; lo += grain)
			fn(ctx, lo, n - lo < grain ? n : lo + grain);
		return;
	}
	start_workers(threads);
	const int parts = atomic_load(&active) + 1;
	cur = (job){fn, ctx, n, grain, blocks};
	atomic_store_explicit(&finished, 0, memory_order_relaxed);
	generation++;
	for (int t = 0; t < parts; t++)
		atomic_store_explicit(
		    &share[t],
		    (uint64_t)generation << 32 |
		        (uint64_t)blocks * (uint64_t)t / (uint64_t)parts << 16 |
		        (uint64_t)blocks * (uint64_t)(t + 1) / (uint64_t)parts,
		    memory_order_relaxed);
	atomic_store_explicit(&word,
	                      (uint64_t)generation << 32 | (uint32_t)parts,
	                      memory_order_release);
	pthread_mutex_lock(&lock);
	if (sleepers)
		pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	long t0 = now_ns();
	work(generation, parts, 0);
	wait_done(blocks, now_ns() - t0);
	pthread_mutex_unlock(&run_lock);
}

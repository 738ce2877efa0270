/*
 * test_pool.c - pool.c, the library's threads: every block of a loop runs
 * exactly once, whatever the thread count, the loop's size and its block
 * size, over many loops in a row (a worker that wakes late must never run
 * a block of a later loop); with a process spinning beside the test when
 * CNN_POOL_LOAD is set (t/load.sh); a loop started from inside a block,
 * and loops started by two threads of the program at once, run on their
 * caller; signals reach the program's threads, not the workers; a child of
 * fork() gets a pool of its own; cnn_pool_quiet notes a caller held up.
 */
#define _DEFAULT_SOURCE

#include "pool.h"

#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_N 6000

/* What count_block counts into: how many times each iteration ran. */
typedef struct counts {
	_Atomic int hit[MAX_N];
	_Atomic long blocks;
} counts;

static void count_block(void *ctx, long lo, long hi)
{
	counts *c = ctx;
	for (long i = lo; i < hi; i++)
		atomic_fetch_add(&c->hit[i], 1);
	atomic_fetch_add(&c->blocks, 1);
}

/* Runs one loop of n iterations in blocks of grain; whether each ran once
 * and the blocks were as many as expected. */
static int loop_once(counts *c, long n, long grain)
{
	memset(c, 0, sizeof *c);
	cnn_pool_run(n, grain, count_block, c);
	for (long i = 0; i < n; i++)
		if (atomic_load(&c->hit[i]) != 1)
			return 0;
	long expect = n > 0 ? (n + grain - 1) / grain : 0;
	return atomic_load(&c->blocks) == expect;
}

/* loops loops of random sizes at threads threads: whether all were right. */
static int many_loops(int threads, int loops, unsigned seed)
{
	static counts c;
	cnn_pool_set_threads(threads);
	srand(seed);
	for (int k = 0; k < loops; k++) {
		long n = rand() % MAX_N, grain = 1 + rand() % 300;
		if (k % 7 == 0)
			grain = 1; /* many small blocks */
		if (!loop_once(&c, n, grain))
			return 0;
	}
	return 1;
}

/* A loop started from inside a block: it runs on the caller, to the end. */
static _Atomic long inner_total;

static void inner_block(void *ctx, long lo, long hi)
{
	(void)ctx;
	atomic_fetch_add(&inner_total, hi - lo);
}

static void outer_block(void *ctx, long lo, long hi)
{
	(void)ctx;
	for (long i = lo; i < hi; i++)
		cnn_pool_run(100, 7, inner_block, NULL);
}

/* Two threads of the program running loops at once. */
static void *side_thread(void *arg)
{
	static counts c;
	int *good = arg;
	*good = 1;
	for (int k = 0; k < 200; k++)
		if (!loop_once(&c, 1000 + k, 13))
			*good = 0;
	return NULL;
}

/* Whether a block ran on another thread than the loop's caller. */
static pthread_t caller;
static _Atomic int elsewhere;

static void slow_block(void *ctx, long lo, long hi)
{
	(void)ctx;
	(void)lo;
	(void)hi;
	if (!pthread_equal(pthread_self(), caller))
		atomic_store(&elsewhere, 1);
	usleep(2000);
}

/* Block 1 sleeps 5 ms when a worker runs it; block 0 takes 0.3 ms (time
 * for the worker to take block 1), so the caller waits longer than it
 * worked. */
static void held_block(void *ctx, long lo, long hi)
{
	(void)ctx;
	(void)hi;
	if (lo == 1 && !pthread_equal(pthread_self(), caller)) {
		atomic_store(&elsewhere, 1);
		usleep(5000);
	} else if (lo == 0) {
		usleep(300);
	}
}

static void quick_block(void *ctx, long lo, long hi)
{
	(void)ctx;
	(void)lo;
	(void)hi;
}

/* Runs loops of held_block until one of them ran a block on a worker (its
 * caller then waited 5 ms for it); returns whether one did. */
static int held_loop(void)
{
	for (int i = 0; i < 200; i++) {
		atomic_store(&elsewhere, 0);
		cnn_pool_run(2, 1, held_block, NULL);
		if (atomic_load(&elsewhere))
			return 1;
	}
	return 0;
}

/* Runs quick loops until cnn_pool_quiet(10); returns whether it came. */
static int quiet_again(void)
{
	for (int i = 0; i < 2000; i++) {
		cnn_pool_run(2, 1, quick_block, NULL);
		if (cnn_pool_quiet(10))
			return 1;
	}
	return 0;
}

/* Whether, after quiet_again and gap quick loops, a loop that waited for a
 * worker leaves the pool quiet: in one of 5 tries, as a test run beside
 * others may have a worker held back by the system in the quick loops. */
static int quiet_after_one(int gap)
{
	for (int t = 0; t < 5; t++) {
		if (!quiet_again())
			return 0;
		for (int i = 0; i < gap; i++)
			cnn_pool_run(2, 1, quick_block, NULL);
		if (held_loop() && cnn_pool_quiet(10))
			return 1;
	}
	return 0;
}

/* cnn_pool_quiet: 1 after one loop whose caller waited for a worker held
 * up (5 ms); 0 right after a second within 10 loops, 1 again once 10 loops
 * have passed without one; 1 after two such loops 10 loops apart. */
static void test_quiet(void)
{
	cnn_pool_set_threads(2);
	caller = pthread_self();
	ok(quiet_after_one(0),
	   "one loop that waited 5 ms for a worker leaves the pool quiet");
	int twice = 0; /* beside other tests, the worker may take a block
	                  only after 10 loops: tried again */
	for (int t = 0; t < 20 && !twice; t++)
		twice = held_loop() && !cnn_pool_quiet(10);
	ok(twice, "a second within 10 loops makes it not quiet");
	ok(quiet_again(), "quiet again after 10 loops without a wait");
	ok(quiet_after_one(11),
	   "a wait 10 loops after the last leaves it quiet");
}

/* In a child of fork(): whether a loop of slow blocks at 2 threads ran
 * some of them on a worker (the child's own). */
static int child_has_workers(void)
{
	caller = pthread_self();
	atomic_store(&elsewhere, 0);
	cnn_pool_set_threads(2);
	cnn_pool_run(40, 1, slow_block, NULL);
	return atomic_load(&elsewhere) && many_loops(2, 100, 5);
}

static volatile sig_atomic_t got_signal;
static _Atomic int signal_in_worker;
static pthread_t main_thread;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
	if (!pthread_equal(pthread_self(), main_thread))
		atomic_store(&signal_in_worker, 1);
}

int main(void)
{
	const int loops =
	    getenv("CNN_WRAP") && *getenv("CNN_WRAP") ? 300 : 3000;
	plan_no_plan();
	main_thread = pthread_self();
	if (getenv("CNN_POOL_LOAD"))
		diag("a process is spinning beside this test");

	int threads[] = {1, 2, 3, 5};
	for (size_t i = 0; i < sizeof threads / sizeof *threads; i++)
		ok(many_loops(threads[i], loops, 7u + (unsigned)i),
		   "%d thread%s, %d loops of random sizes: every block once",
		   threads[i], threads[i] > 1 ? "s" : "", loops);
	cnn_pool_set_threads(2);
	static counts c;
	ok(loop_once(&c, 0, 5), "an empty loop runs nothing");
	ok(loop_once(&c, 1, 1000), "a loop of one block");
	ok(loop_once(&c, MAX_N, 1), "a loop of %d blocks of one", MAX_N);

	atomic_store(&inner_total, 0);
	cnn_pool_run(20, 1, outer_block, NULL);
	ok(atomic_load(&inner_total) == 20 * 100,
	   "a loop started inside a block runs to the end on its caller");

	pthread_t t;
	int good_side = 0;
	int started = pthread_create(&t, NULL, side_thread, &good_side) == 0;
	int good_main = many_loops(2, 200, 99);
	if (started)
		pthread_join(t, NULL);
	ok(started && good_side && good_main,
	   "two threads of the program run loops at once, both right");

	/* the workers exist now; a signal to the process reaches this thread */
	signal(SIGUSR1, on_signal);
	kill(getpid(), SIGUSR1);
	for (int i = 0; i < 1000 && !got_signal; i++)
		usleep(1000);
	ok(got_signal && !atomic_load(&signal_in_worker),
	   "a signal to the process is handled by the program's thread");

	/* a child of fork() while the workers exist starts its own */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_has_workers() ? 0 : 1);
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a child of fork() runs loops with workers of its own");
	ok(many_loops(2, 100, 6), "and the parent's pool still works");

	test_quiet();

	cnn_pool_set_threads(0);
	ok(cnn_pool_threads() >= 1, "the default thread count is at least 1");
	setenv("OMP_NUM_THREADS", "3", 1);
	ok(cnn_pool_threads() == 3, "OMP_NUM_THREADS=3 sets the default");
	setenv("OMP_NUM_THREADS", "junk", 1);
	ok(cnn_pool_threads() >= 1, "a malformed OMP_NUM_THREADS is ignored");
	cnn_pool_set_threads(4);
	ok(cnn_pool_threads() == 4, "an explicit count wins");
	return done();
}

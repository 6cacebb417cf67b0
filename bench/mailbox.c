/*
 * bench/mailbox: micro-benchmarks of the mailbox/ building blocks, with
 * Concurrency Kit's bounded ck_ring MPSC as a baseline from the same run.
 *
 *   mpsc       P producers send envelopes (allocated from their own pools) to
 *              one consumer that frees them: enqueue+dequeue+alloc+free.
 *   deque      owner push then take; and thieves stealing a full deque.
 *   envelope   alloc+free on one thread, against malloc+free.
 *
 * Prints one `result` line per run (see DESIGN.md section 5).
 */
#include <ck_ring.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailbox/deque.h"
#include "mailbox/mpsc.h"

#define MAX_THREADS 16
#define RING_SIZE 65536

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *system, const char *op, int threads, unsigned long ops,
		   double wall)
{
	printf("result bench=mailbox system=%s mode=local op=%s threads=%d ops=%lu "
	       "wall_s=%.6f msgs_per_s=%.0f\n", system, op, threads, ops, wall, ops / wall);
	fflush(stdout);
}

/* --- MPSC: our mailbox against ck_ring_mpsc --------------------------- */

struct mpsc_run {
	int use_ck;
	int producers;
	unsigned long per_producer;
	struct actor__mbox mb;
	ck_ring_t ring;
	ck_ring_buffer_t *ring_buf;
	pthread_barrier_t start;
};

static struct mpsc_run mr;

static void *mpsc_producer(void *arg)
{
	struct actor__pool *pool = arg;

	pthread_barrier_wait(&mr.start);
	for (unsigned long n = 0; n < mr.per_producer; n++) {
		struct actor__env *e = actor__env_alloc(pool, 16);

		e->type = (uint32_t)n;
		if (mr.use_ck)
			while (!ck_ring_enqueue_mpsc(&mr.ring, mr.ring_buf, e))
				actor__cpu_relax();
		else
			actor__mbox_push(&mr.mb, e);
	}
	return NULL;
}

static void bench_mpsc(int use_ck, int producers, unsigned long total)
{
	pthread_t tid[MAX_THREADS];
	struct actor__pool *pools[MAX_THREADS], *mine = actor__pool_create();
	unsigned long got = 0;
	double t0;

	mr.use_ck = use_ck;
	mr.producers = producers;
	mr.per_producer = total / producers;
	actor__mbox_init(&mr.mb, 0);
	ck_ring_init(&mr.ring, RING_SIZE);
	mr.ring_buf = calloc(RING_SIZE, sizeof(ck_ring_buffer_t));
	pthread_barrier_init(&mr.start, NULL, producers + 1);
	for (int i = 0; i < producers; i++) {
		pools[i] = actor__pool_create();
		pthread_create(&tid[i], NULL, mpsc_producer, pools[i]);
	}
	pthread_barrier_wait(&mr.start);
	t0 = now();
	while (got < mr.per_producer * producers) {
		struct actor__env *e = NULL;

		if (use_ck) {
			if (!ck_ring_dequeue_mpsc(&mr.ring, mr.ring_buf, &e))
				e = NULL;
		} else {
			e = actor__mbox_pop(&mr.mb);
		}
		if (e == NULL) {
			actor__cpu_relax();
			continue;
		}
		actor__env_free(mine, e);
		got++;
	}
	report(use_ck ? "ck" : "libactor", use_ck ? "ck_ring_mpsc" : "mpsc", producers, got,
	       now() - t0);
	for (int i = 0; i < producers; i++) {
		pthread_join(tid[i], NULL);
		actor__pool_destroy(pools[i]);
	}
	actor__pool_destroy(mine);
	pthread_barrier_destroy(&mr.start);
	free(mr.ring_buf);
}

/* --- deque -------------------------------------------------------------- */

static struct actor__deque dq;
static _Atomic unsigned long steals_left;

static void *deque_thief(void *arg)
{
	unsigned long mine = 0;

	(void)arg;
	while (atomic_load_explicit(&steals_left, memory_order_relaxed) > 0) {
		void *x = actor__deque_steal(&dq);

		if (x != ACTOR__DEQUE_EMPTY && x != ACTOR__DEQUE_ABORT) {
			atomic_fetch_sub_explicit(&steals_left, 1, memory_order_relaxed);
			mine++;
		}
	}
	return (void *)mine;
}

static void bench_deque(unsigned long n, int thieves)
{
	pthread_t tid[MAX_THREADS];
	double t0;

	actor__deque_init(&dq, n);
	t0 = now();
	for (uintptr_t i = 1; i <= n; i++)
		actor__deque_push(&dq, (void *)(i << 1));
	for (unsigned long i = 0; i < n; i++)
		actor__deque_take(&dq);
	report("libactor", "deque_push_take", 1, 2 * n, now() - t0);

	for (uintptr_t i = 1; i <= n; i++)
		actor__deque_push(&dq, (void *)(i << 1));
	atomic_store(&steals_left, n);
	t0 = now();
	for (int i = 0; i < thieves; i++)
		pthread_create(&tid[i], NULL, deque_thief, NULL);
	for (int i = 0; i < thieves; i++)
		pthread_join(tid[i], NULL);
	report("libactor", "deque_steal", thieves, n, now() - t0);
	actor__deque_destroy(&dq);
}

/* --- envelopes against malloc ------------------------------------------- */

static void bench_envelope(unsigned long n)
{
	struct actor__pool *pool = actor__pool_create();
	void *volatile sink;
	double t0 = now();

	for (unsigned long i = 0; i < n; i++) {
		struct actor__env *e = actor__env_alloc(pool, i & 63);

		sink = e;
		actor__env_free(pool, e);
	}
	report("libactor", "envelope_alloc_free", 1, n, now() - t0);
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		void *p = malloc(64 + (i & 63));

		sink = p;
		free(p);
	}
	report("libc", "malloc_free", 1, n, now() - t0);
	(void)sink;
	actor__pool_destroy(pool);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mailbox [--messages N] [--reps R] [--only mpsc|deque|envelope]\n"
		   "  --messages N  messages (or items) per run (default 4000000)\n"
		   "  --reps R      repetitions of every measurement (default 3)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "messages", required_argument, NULL, 'n' },
		{ "reps", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long n = 4000000;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int reps = 3, c;
	const char *only = NULL;

	while ((c = getopt_long(argc, argv, "n:r:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = strtoul(optarg, NULL, 0); break;
		case 'r': reps = atoi(optarg); break;
		case 'o': only = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (int r = 0; r < reps; r++) {
		if (only == NULL || strcmp(only, "mpsc") == 0)
			for (int p = 1; p <= 4; p *= 2) {
				bench_mpsc(0, p, n);
				/* A ck_ring producer spins until the ones before it
				 * commit: with more threads than CPUs, a preempted one
				 * stalls the rest for whole time slices (minutes here). */
				if (p + 1 <= ncpu)
					bench_mpsc(1, p, n);
				else if (r == 0)
					printf("# ck_ring_mpsc with %d producers skipped: more "
					       "threads than the %ld CPUs\n", p, ncpu);
			}
		if (only == NULL || strcmp(only, "deque") == 0) {
			bench_deque(n, 1);
			bench_deque(n, 2);
		}
		if (only == NULL || strcmp(only, "envelope") == 0)
			bench_envelope(n);
	}
	return 0;
}

/*
 * bench/virtual_idle: what an idle virtual actor costs. Makes N virtual
 * references (type "idle", keys "k<i>"), sends each one message, which
 * activates it (an activation without state), waits until all N have
 * counted it, and reads the resident set (/proc/self/statm):
 * bytes_per_key is the RSS growth of interning the N references,
 * bytes_per_activation the growth from then to N idle activations (the
 * actor, its activation entry, its slot in the table), both divided by N.
 * heap_bytes_per_activation is the same from malloc's count of bytes in
 * use (mallinfo2), which leaves out what the messages' freed envelopes
 * left resident. Also the activation rate, and the idle sweep's cost: the time of one
 * sweep over the N activations (idle timeout 10 s, so a sweep every
 * second and none expires).
 */
#include "config.h"

#include <malloc.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/common.h"
#include "cluster/virtual.h"

static _Atomic long long counted;
static long long expected;
static sem_t all_counted;

static void idle_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	(void)ctx;
	(void)m;
	if (atomic_fetch_add(&counted, 1) + 1 == expected)
		sem_post(&all_counted);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static const actor_spec_t idle_spec = { .name = "idle", .handler = idle_actor };

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "keys", "200000", "virtual actors N" },
		{ NULL, NULL, NULL },
	};
	actor_virtual_options_t o = { .idle_timeout_ns = 10ull * 1000000000 };
	struct actor__virtual *v;
	actor_system_t *sys;
	actor_ref_t *refs;
	long long n;
	long rss0, rss1, rss2;
	size_t heap1, heap2;
	double t0, wall;

	bench_parse(argc, argv, "virtual_idle [--keys N]", flags);
	n = bench_num(flags, "keys");
	if (n < 1)
		bench_die("need keys >= 1");
	expected = n;
	sem_init(&all_counted, 0, 0);
	refs = calloc((size_t)n, sizeof(*refs));
	if (refs == NULL)
		bench_die("out of memory");
	for (long long i = 0; i < n; i++)
		refs[i] = ACTOR_REF_NONE;
	sys = bench_system();
	if (actor_virtual_register(sys, "idle", &idle_spec, &o) != 0)
		bench_die("actor_virtual_register failed");
	rss0 = bench_rss_kb();
	for (long long i = 0; i < n; i++) {
		char key[24];

		snprintf(key, sizeof key, "k%lld", i);
		if (actor_virtual_ref(sys, "idle", key, strlen(key), &refs[i]) != 0)
			bench_die("actor_virtual_ref failed");
	}
	rss1 = bench_rss_kb();
	heap1 = heap_in_use();
	t0 = bench_now();
	for (long long i = 0; i < n; i++)
		if (actor_system_send(sys, refs[i], 1, NULL, 0) != 0)
			bench_die("send failed");
	sem_wait(&all_counted);
	wall = bench_now() - t0;
	rss2 = bench_rss_kb();
	heap2 = heap_in_use();
	/* A sweep that saw all N activations. */
	v = actor__virtual_of(sys, false);
	for (int i = 0; i < 5000 && atomic_load(&v->sweep_seen) < (uint64_t)n; i++)
		usleep(1000);
	bench_result("bench=virtual_idle system=libactor keys=%lld activations_per_s=%.0f "
		     "bytes_per_key=%.0f bytes_per_activation=%.0f heap_bytes_per_activation=%.0f "
		     "sweep_us=%.1f sweep_ns_per_activation=%.1f",
		     n, n / wall, (rss1 - rss0) * 1024.0 / n, (rss2 - rss1) * 1024.0 / n,
		     ((double)heap2 - (double)heap1) / n,
		     atomic_load(&v->sweep_ns_last) / 1e3,
		     (double)atomic_load(&v->sweep_ns_last) / (double)atomic_load(&v->sweep_seen));
	actor_system_destroy(sys);
	free(refs);
	return 0;
}

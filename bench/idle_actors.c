/*
 * bench/idle_actors: what an idle actor costs in memory. Spawns N actors
 * without state that do nothing but count one message each, sends every
 * one of them that message (so each has existed and run once, as in the
 * CAF and Erlang versions), waits until all N have counted it, then reads
 * the resident set (/proc/self/statm). bytes_per_actor = the RSS growth
 * from before the first spawn to then, divided by N; bytes_per_actor_spawned
 * is the same before the messages, for spawned actors that never ran.
 */
#include "config.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bench/common.h"

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

static const actor_spec_t idle_spec = { .name = "idle", .handler = idle_actor };

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "actors", "1000000", "idle actors N" },
		{ NULL, NULL, NULL },
	};
	actor_system_t *sys;
	actor_system_stats_t st;
	actor_ref_t *refs;
	long long n;
	long rss0, rss1, rss2;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "idle_actors [--actors N]", flags);
	n = bench_num(flags, "actors");
	if (n < 1)
		bench_die("need actors >= 1");
	expected = n;
	sem_init(&all_counted, 0, 0);
	/* The refs are the program's, not the actors': allocated (and touched)
	 * before the first measurement. */
	refs = calloc((size_t)n, sizeof(*refs));
	if (refs == NULL)
		bench_die("out of memory");
	for (long long i = 0; i < n; i++)
		refs[i] = ACTOR_REF_NONE;

	sys = bench_system();
	rss0 = bench_rss_kb();
	t0 = bench_now();
	for (long long i = 0; i < n; i++)
		if (actor_system_spawn(sys, &idle_spec, NULL, &refs[i]) < 0)
			bench_die("idle_actors: spawn %lld failed", i);
	rss1 = bench_rss_kb();
	for (long long i = 0; i < n; i++)
		if (actor_system_send(sys, refs[i], 1, NULL, 0) < 0)
			bench_die("idle_actors: send failed");
	sem_wait(&all_counted);
	wall = bench_now() - t0;
	rss2 = bench_rss_kb();

	actor_system_stats(sys, &st);
	if ((long long)st.live != n || atomic_load(&counted) != n)
		bench_die("idle_actors: %llu live, %lld counted; expected %lld",
			  (unsigned long long)st.live, (long long)atomic_load(&counted), n);
	if (rss0 < 0 || rss2 < 0)
		bench_die("idle_actors: cannot read /proc/self/statm");
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=idle_actors system=libactor mode=local actors=%lld workers=%u "
		     "rss_before_kb=%ld rss_after_kb=%ld bytes_per_actor=%.1f "
		     "bytes_per_actor_spawned=%.1f wall_s=%.6f msgs_per_s=%.0f", n, workers, rss0,
		     rss2, (double)(rss2 - rss0) * 1024.0 / (double)n,
		     (double)(rss1 - rss0) * 1024.0 / (double)n, wall, (double)n / wall);
	free(refs);
	sem_destroy(&all_counted);
	return 0;
}

/*
 * bench/once: the cost of exactly-once (actor_virtual_send_once(3)).
 * A ring of persistent virtual actors (links) on one system and an LMDB
 * environment; --chains messages travel --hops links each; each link adds
 * what it gets to its state and passes it on. --mode once: exactly_once
 * type, actor_virtual_send_once() (outbox, dedup table, acks); --mode
 * plain: actor_send() and ACTOR_WRITE_AFTER_TURN (the state is written
 * behind the turns too, but the sends are at-most-once). Prints turns/s.
 *
 *   bench/once --mode once --sync nosync
 *   bench/once --mode plain --sync sync
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "bench/common.h"

static struct bench_flag flags[] = {
	{ "mode", "once", "once or plain" },
	{ "sync", "nosync", "lmdb: sync, nometasync or nosync" },
	{ "links", "16", "virtual actors in the ring" },
	{ "chains", "64", "messages travelling at once" },
	{ "hops", "200", "links each message visits after the first" },
	{ NULL, NULL, NULL },
};

enum { HOP = 1 };

struct hop {
	int64_t value;
	uint32_t hops_left, next;
};

static atomic_long turns;
static bool once;
static int links;

static void link_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	int64_t sum = 0;
	size_t len;
	const void *st = actor_virtual_state(ctx, &len);
	struct hop h;
	char key[16];
	actor_ref_t r;

	if (actor_msg_type(m) != HOP)
		return;
	memcpy(&h, actor_msg_data(m), sizeof h);
	if (len == sizeof sum)
		memcpy(&sum, st, sizeof sum);
	sum += h.value;
	actor_virtual_set_state(ctx, &sum, sizeof sum);
	atomic_fetch_add_explicit(&turns, 1, memory_order_relaxed);
	if (h.hops_left-- == 0)
		return;
	h.next = (h.next + 1) % (uint32_t)links;
	snprintf(key, sizeof key, "l%u", h.next);
	if (actor_virtual_ref(actor_ctx_system(ctx), "link", key, strlen(key), &r) != 0)
		return;
	if (once)
		actor_virtual_send_once(ctx, r, HOP, &h, sizeof h);
	else
		actor_send(ctx, r, HOP, &h, sizeof h);
}

static const actor_spec_t link_spec = { .name = "link", .handler = link_handler };

int main(int argc, char **argv)
{
	actor_store_lmdb_config_t lc;
	actor_virtual_options_t o = { 0 };
	actor_store_t *store;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_virtual_stats_t st;
	const char *sync;
	char dir[64], cmd[96];
	long chains, hops, want;
	double t0, secs;

	bench_parse(argc, argv, "bench/once [--mode once|plain] [--sync S] [--chains N]", flags);
	once = strcmp(bench_str(flags, "mode"), "once") == 0;
	sync = bench_str(flags, "sync");
	links = (int)bench_num(flags, "links");
	chains = (long)bench_num(flags, "chains");
	hops = (long)bench_num(flags, "hops");
	snprintf(dir, sizeof dir, "/tmp/actor-bench-once-XXXXXX");
	if (mkdtemp(dir) == NULL)
		bench_die("mkdtemp");
	actor_store_lmdb_config_init(&lc);
	lc.path = dir;
	lc.sync = strcmp(sync, "sync") == 0 ? ACTOR_STORE_SYNC :
		  strcmp(sync, "nometasync") == 0 ? ACTOR_STORE_NOMETASYNC : ACTOR_STORE_NOSYNC;
	if (actor_store_lmdb_open(&store, &lc) != 0)
		bench_die("lmdb");
	if (actor_store_exec_create(&ex, store, NULL) != 0)
		bench_die("executor");
	sys = bench_system();
	o.store = ex;
	o.exactly_once = once;
	o.write_policy = ACTOR_WRITE_AFTER_TURN;
	o.idle_timeout_ns = UINT64_MAX;
	if (actor_virtual_register(sys, "link", &link_spec, &o) != 0)
		bench_die("register");
	want = chains * (hops + 1);
	t0 = bench_now();
	for (long i = 0; i < chains; i++) {
		struct hop h = { i + 1, (uint32_t)hops, (uint32_t)(i % links) };
		char key[16];
		actor_ref_t r;

		snprintf(key, sizeof key, "l%u", h.next);
		if (actor_virtual_ref(sys, "link", key, strlen(key), &r) != 0 ||
		    actor_system_send(sys, r, HOP, &h, sizeof h) != 0)
			bench_die("send");
	}
	while (atomic_load(&turns) < want && bench_now() - t0 < 120)
		usleep(1000);
	secs = bench_now() - t0;
	actor_virtual_stats(sys, "link", &st);
	bench_result("bench=once mode=%s sync=%s links=%d chains=%ld turns=%ld seconds=%.2f "
		     "turns_per_s=%.0f writes=%llu resent=%llu duplicates=%llu",
		     once ? "once" : "plain", sync, links, chains, atomic_load(&turns), secs,
		     (double)atomic_load(&turns) / secs, (unsigned long long)st.saves,
		     (unsigned long long)st.once_resent, (unsigned long long)st.once_duplicates);
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(store);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
	return 0;
}

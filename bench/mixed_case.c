/*
 * bench/mixed_case (CAF's benchmark suite): compute mixed with messaging.
 * R rings of A actors each: a master and A-1 links. The master sends a
 * token with value K around its ring; a link passes it on (and stops once
 * it has passed on 0); the master, each time the token is back with a value
 * v > 0, asks its ring's worker to factor a fixed number N by trial
 * division and sends the token round again with v-1. A ring is done when
 * the token is back with 0 and the worker has answered all K requests.
 * Every answer is checked: its factors multiply to N and are the same each
 * time. Messages = R (A (K+1) + 2 K). Reports the wall time.
 *
 * The default N = 10007 * 10009 takes about 10,000 trial divisions (tens
 * of microseconds), so compute and messaging both count; CAF's own version
 * factors 28350160440309881 (86028157 * 329545133), about 10,000 times as
 * much work per request.
 */
#include "config.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { START = 1, TOKEN, FACTOR, FACTORS };

#define MAX_FACTORS 64

struct shared {
	uint64_t number;
	long long laps;		/* K */
	int ring_size;		/* A */
	_Atomic int rings_left;
	sem_t done;
};

struct master {
	struct shared *sh;
	actor_ref_t first, worker;
	long long answers;
	int token_back;			/* the token came back with 0 */
	size_t nfactors;
	uint64_t factors[MAX_FACTORS];	/* the first answer, to compare with */
};

static size_t factorize(uint64_t n, uint64_t *out)
{
	size_t k = 0;

	for (uint64_t d = 2; d * d <= n; d++)
		while (n % d == 0 && k < MAX_FACTORS - 1) {
			out[k++] = d;
			n /= d;
		}
	if (n > 1)
		out[k++] = n;
	return k;
}

static void worker_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct shared *sh = *(struct shared **)actor_self_state(ctx);
	uint64_t f[MAX_FACTORS];
	size_t k;

	if (actor_msg_type(m) != FACTOR) {
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
		return;
	}
	k = factorize(sh->number, f);
	actor_send(ctx, actor_msg_sender(m), FACTORS, f, k * sizeof(*f));
}

static void link_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const actor_ref_t *next = actor_self_state(ctx);
	int64_t v;

	memcpy(&v, actor_msg_data(m), sizeof v);
	actor_send(ctx, *next, TOKEN, &v, sizeof v);
	if (v == 0)
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static int copy_init(actor_ctx_t *ctx, void *arg)
{
	/* state_size bytes of the spawn argument (actor_spawn_copy) */
	memcpy(actor_self_state(ctx), arg, sizeof(actor_ref_t));
	return 0;
}

static int ptr_init(actor_ctx_t *ctx, void *arg)
{
	*(void **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t link_spec = {
	.name = "link", .handler = link_actor, .state_size = sizeof(actor_ref_t),
	.init = copy_init,
};

static const actor_spec_t worker_spec = {
	.name = "worker", .handler = worker_actor, .state_size = sizeof(struct shared *),
	.init = ptr_init,
};

static void maybe_done(actor_ctx_t *ctx, struct master *s)
{
	if (!s->token_back || s->answers < s->sh->laps)
		return;
	actor_send(ctx, s->worker, START, NULL, 0);	/* anything but FACTOR stops it */
	if (atomic_fetch_sub(&s->sh->rings_left, 1) == 1)
		sem_post(&s->sh->done);
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static void on_factors(actor_ctx_t *ctx, struct master *s, const actor_msg_t *m)
{
	size_t k = actor_msg_size(m) / sizeof(uint64_t);
	uint64_t f[MAX_FACTORS], product = 1;

	memcpy(f, actor_msg_data(m), k * sizeof(*f));
	for (size_t i = 0; i < k; i++)
		product *= f[i];
	if (k == 0 || k > MAX_FACTORS || product != s->sh->number)
		bench_die("mixed_case: the factors do not multiply to %llu",
			  (unsigned long long)s->sh->number);
	if (s->answers++ == 0) {
		s->nfactors = k;
		memcpy(s->factors, f, k * sizeof(*f));
	} else if (k != s->nfactors || memcmp(f, s->factors, k * sizeof(*f)) != 0) {
		bench_die("mixed_case: two answers differ");
	}
	maybe_done(ctx, s);
}

static void master_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct master *s = actor_self_state(ctx);
	int64_t v;

	switch (actor_msg_type(m)) {
	case START: {
		actor_ref_t next = actor_self(ctx);

		/* The ring, built backwards: the last link passes to the master. */
		for (int i = 1; i < s->sh->ring_size; i++)
			if (actor_spawn_copy(ctx, &link_spec, &next, sizeof next, &next) < 0)
				bench_die("mixed_case: spawn failed");
		if (actor_spawn(ctx, &worker_spec, s->sh, &s->worker) < 0)
			bench_die("mixed_case: spawn failed");
		s->first = next;
		v = s->sh->laps;
		actor_send(ctx, s->first, TOKEN, &v, sizeof v);
		break;
	}
	case TOKEN:
		memcpy(&v, actor_msg_data(m), sizeof v);
		if (v == 0) {
			s->token_back = 1;
			maybe_done(ctx, s);
			break;
		}
		actor_send(ctx, s->worker, FACTOR, NULL, 0);
		v--;
		actor_send(ctx, s->first, TOKEN, &v, sizeof v);
		break;
	case FACTORS:
		on_factors(ctx, s, m);
		break;
	}
}

static int master_init(actor_ctx_t *ctx, void *arg)
{
	struct master *s = actor_self_state(ctx);

	s->sh = arg;
	return 0;
}

static const actor_spec_t master_spec = {
	.name = "master", .handler = master_actor, .state_size = sizeof(struct master),
	.init = master_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "rings", "20", "rings R" },
		{ "ring-size", "50", "actors per ring A (a master and A-1 links)" },
		{ "laps", "1000", "laps K of each ring's token; one factorization per lap" },
		{ "number", "100160063", "the number N to factor (default 10007 * 10009)" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	actor_system_t *sys;
	actor_ref_t *masters;
	long long rings, msgs;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "mixed_case [--rings R] [--ring-size A] [--laps K] [--number N]",
		    flags);
	rings = bench_num(flags, "rings");
	sh.ring_size = (int)bench_num(flags, "ring-size");
	sh.laps = bench_num(flags, "laps");
	sh.number = (uint64_t)bench_num(flags, "number");
	if (rings < 1 || sh.ring_size < 2 || sh.laps < 1 || sh.number < 2)
		bench_die("need rings >= 1, ring-size >= 2, laps >= 1, number >= 2");
	atomic_init(&sh.rings_left, (int)rings);
	sem_init(&sh.done, 0, 0);
	masters = calloc((size_t)rings, sizeof(*masters));
	if (masters == NULL)
		bench_die("out of memory");

	sys = bench_system();
	t0 = bench_now();
	for (long long i = 0; i < rings; i++) {
		if (actor_system_spawn(sys, &master_spec, &sh, &masters[i]) < 0)
			bench_die("spawn failed");
		actor_system_send(sys, masters[i], START, NULL, 0);
	}
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	msgs = rings * (sh.ring_size * (sh.laps + 1) + 2 * sh.laps);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=mixed_case system=libactor mode=local rings=%lld ring_size=%d "
		     "laps=%lld number=%llu workers=%u msgs=%lld wall_s=%.6f msgs_per_s=%.0f",
		     rings, sh.ring_size, sh.laps, (unsigned long long)sh.number, workers, msgs,
		     wall, (double)msgs / wall);
	free(masters);
	sem_destroy(&sh.done);
	return 0;
}

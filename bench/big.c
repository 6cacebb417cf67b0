/*
 * bench/big (bencherl's Big, DESIGN.md section 5): N actors, K rounds. In a
 * round every actor pings every other actor and counts pongs; every ping is
 * answered with a pong at once. An actor whose N-1 pongs are in starts its
 * next round straight away (a pong can only belong to its receiver's current
 * round, so counting is exact). Messages = 2 N (N-1) K.
 *
 * --mode distributed --nodes M: actor i lives on node i mod M (node 0 is
 * this process, 1 .. M-1 are forked node processes on 127.0.0.1, connected
 * in a full mesh; bench/dist.h). Each node registers its actors as "big.<i>";
 * node 0 looks them all up and hands every actor the list of all N refs and
 * a coordinator's ref in a SETUP message; once all have answered READY the
 * clock starts, and it stops when the coordinator has all N DONE reports.
 *
 * --mode virtual (one process): the N actors are virtual actors of type
 * "big", keys "b<i>", activated by their GO message; they ping each other
 * through virtual references (include/actor/virtual.h) and pong the
 * activation that pinged them.
 *
 * --mode virtual --nodes M (M >= 2): the same virtual actors on a cluster
 * of M node processes that join one membership view through node 0 as
 * their seed (bench/dist.h); every node hosts type "big" and placement
 * spreads the keys. As in the distributed mode, node 0 activates every
 * key with a SETUP message (which carries no references: each activation
 * makes its peers' virtual references on its own node) and starts the
 * clock once all have answered READY, so that the run measures messages,
 * not activations.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"
#include "bench/dist.h"

enum { GO = 1, PING, PONG, SETUP, READY, DONE };

struct shared {
	actor_ref_t *peers;
	int n;
	int rounds;
	_Atomic long long pongs;
	_Atomic int finished;
	sem_t done;
};

struct member {
	struct shared *sh;
	int index;
};

struct big {
	struct member *me;
	int rounds_left;
	int pongs;
	long long pongs_total;
};

static int big_init(actor_ctx_t *ctx, void *arg)
{
	struct big *s = actor_self_state(ctx);

	s->me = arg;
	s->rounds_left = s->me->sh->rounds;
	return 0;
}

static void begin_round(actor_ctx_t *ctx, struct big *s)
{
	const struct shared *sh = s->me->sh;

	s->pongs = 0;
	for (int i = 0; i < sh->n; i++)
		if (i != s->me->index)
			actor_send(ctx, sh->peers[i], PING, NULL, 0);
}

static void big_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct big *s = actor_self_state(ctx);
	struct shared *sh = s->me->sh;

	switch (actor_msg_type(m)) {
	case GO:
		begin_round(ctx, s);
		break;
	case PING:
		actor_send(ctx, actor_msg_sender(m), PONG, NULL, 0);
		break;
	case PONG:
		s->pongs_total++;
		if (++s->pongs < sh->n - 1)
			break;
		if (--s->rounds_left > 0) {
			begin_round(ctx, s);
			break;
		}
		atomic_fetch_add(&sh->pongs, s->pongs_total);
		if (atomic_fetch_add(&sh->finished, 1) == sh->n - 1)
			sem_post(&sh->done);
		break;
	}
}

static const actor_spec_t big_spec = {
	.name = "big", .handler = big_actor, .state_size = sizeof(struct big), .init = big_init,
};

/* A virtual big actor learns its index from its key, "b<i>". */
static int vbig_init(actor_ctx_t *ctx, void *arg)
{
	struct member *members = arg;
	size_t len;
	const char *key = actor_virtual_key(ctx, &len);
	char buf[16];

	if (len < 2 || len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, key, len);
	buf[len] = '\0';
	return big_init(ctx, &members[atoi(buf + 1)]);
}

static const actor_spec_t vbig_spec = {
	.name = "vbig", .handler = big_actor, .state_size = sizeof(struct big), .init = vbig_init,
};

/* --- distributed: the actors learn their peers from a SETUP message ---------- */

struct setup {
	int32_t n, index, rounds, pad;
	actor_ref_t coordinator;
	actor_ref_t peers[];
};

struct dbig {
	actor_ref_t *peers;
	actor_ref_t coordinator;
	int n, index, rounds_left, pongs;
	long long pongs_total;
};

/* Virtual actor i: type "big", key "b<i>". */
static actor_ref_t big_key_ref(actor_system_t *sys, int i)
{
	char key[16];
	actor_ref_t ref;

	snprintf(key, sizeof key, "b%d", i);
	if (actor_virtual_ref(sys, "big", key, strlen(key), &ref) != 0)
		bench_die("big: actor_virtual_ref failed");
	return ref;
}

static int key_index(actor_ctx_t *ctx)
{
	size_t len;
	const char *key = actor_virtual_key(ctx, &len);
	char buf[16];

	if (len < 2 || len >= sizeof buf)
		bench_die("big: bad key");
	memcpy(buf, key, len);
	buf[len] = '\0';
	return atoi(buf + 1);
}

static void dbig_cleanup(actor_ctx_t *ctx)
{
	struct dbig *s = actor_self_state(ctx);

	free(s->peers);
}

static void dbig_round(actor_ctx_t *ctx, struct dbig *s)
{
	s->pongs = 0;
	for (int i = 0; i < s->n; i++)
		if (i != s->index) {
			int err = actor_send(ctx, s->peers[i], PING, NULL, 0);

			if (err < 0)
				bench_die("big: ping: %s", strerror(-err));
		}
}

static void dbig_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct dbig *s = actor_self_state(ctx);
	int err;

	switch (actor_msg_type(m)) {
	case SETUP: {
		const struct setup *su = actor_msg_data(m);

		bool virt = actor_virtual_key(ctx, NULL) != NULL;

		if (actor_msg_size(m) < sizeof *su ||
		    actor_msg_size(m) != sizeof *su + (virt ? 0 : (size_t)su->n * sizeof(actor_ref_t)))
			bench_die("big: bad SETUP");
		free(s->peers);
		s->n = su->n;
		s->index = virt ? key_index(ctx) : su->index;
		s->rounds_left = su->rounds;
		s->coordinator = su->coordinator;
		s->pongs_total = 0;
		s->peers = malloc((size_t)s->n * sizeof(*s->peers));
		if (s->peers == NULL)
			bench_die("out of memory");
		if (virt)
			for (int i = 0; i < s->n; i++)
				s->peers[i] = big_key_ref(actor_ctx_system(ctx), i);
		else
			memcpy(s->peers, su->peers, (size_t)s->n * sizeof(*s->peers));
		actor_send(ctx, s->coordinator, READY, NULL, 0);
		break;
	}
	case GO:
		dbig_round(ctx, s);
		break;
	case PING:
		err = actor_send(ctx, actor_msg_sender(m), PONG, NULL, 0);
		if (err < 0)
			bench_die("big: pong: %s", strerror(-err));
		break;
	case PONG:
		s->pongs_total++;
		if (++s->pongs < s->n - 1)
			break;
		if (--s->rounds_left > 0) {
			dbig_round(ctx, s);
			break;
		}
		actor_send(ctx, s->coordinator, DONE, &s->pongs_total, sizeof s->pongs_total);
		break;
	}
}

static const actor_spec_t dbig_spec = {
	.name = "big", .handler = dbig_actor, .state_size = sizeof(struct dbig),
	.cleanup = dbig_cleanup,
};

/* Node 0's coordinator: counts READY and DONE (with their pongs). */
struct coord {
	int n, ready, done;
	long long pongs;
	sem_t sem;
};

static void coordinator(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct coord *c = *(struct coord **)actor_self_state(ctx);
	long long pongs;

	switch (actor_msg_type(m)) {
	case READY:
		if (++c->ready == c->n)
			sem_post(&c->sem);
		break;
	case DONE:
		memcpy(&pongs, actor_msg_data(m), sizeof pongs);
		c->pongs += pongs;
		if (++c->done == c->n)
			sem_post(&c->sem);
		break;
	}
}

static int coordinator_init(actor_ctx_t *ctx, void *arg)
{
	*(struct coord **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t coordinator_spec = {
	.name = "coordinator", .handler = coordinator, .state_size = sizeof(struct coord *),
	.init = coordinator_init,
};

/* This node's share of the actors, registered as big.<i>. */
static void spawn_share(struct dist *d, int n)
{
	for (int i = d->index; i < n; i += d->nodes) {
		char name[32];
		actor_ref_t ref;

		snprintf(name, sizeof name, "big.%d", i);
		if (actor_system_spawn(d->sys, &dbig_spec, NULL, &ref) < 0 ||
		    actor_register(d->sys, name, ref) < 0)
			bench_die("node %d: spawn failed", d->index);
	}
}

/* Every node of the virtual mode hosts type "big" from its first join. */
static void register_big(struct dist *d)
{
	actor_virtual_options_t o = { .idle_timeout_ns = UINT64_MAX };

	if (actor_virtual_register(d->sys, "big", &dbig_spec, &o) != 0)
		bench_die("node %d: actor_virtual_register failed", d->index);
}

/* Node 0's share of the activations and the mail it passed on. */
static void print_virtual_stats(actor_system_t *sys)
{
	actor_virtual_stats_t vs;

	if (actor_virtual_stats(sys, "big", &vs) == 0)
		printf("# node 0: activations=%llu forwards=%llu wrong_owner=%llu\n",
		       (unsigned long long)vs.activations, (unsigned long long)vs.forwards,
		       (unsigned long long)vs.wrong_owner);
}

/* --mode distributed, or virtual (virt) on --nodes processes. */
static int run_distributed(struct bench_flag *flags, int n, int rounds, bool virt)
{
	struct dist d;
	struct coord c = { .n = n };
	struct setup *su;
	size_t su_size = sizeof *su + (size_t)n * sizeof(actor_ref_t);
	actor_node_stats_t st;
	double t0, wall, timeout = (double)bench_num(flags, "timeout");
	long long msgs;
	unsigned workers;

	dist_init(&d, flags, DIST_MAX_NODES);
	if (*d.role != '\0')
		bench_die("big: --role is not supported; the nodes are forked");
	d.members = virt;
	d.prestart = virt ? register_big : NULL;
	if (dist_fork(&d) != 0) {
		dist_start(&d);
		if (!virt)
			spawn_share(&d, n);
		dist_child_run(&d);
	}
	dist_start(&d);
	if (!virt)
		spawn_share(&d, n);
	dist_mesh(&d);

	su = calloc(1, su_size);
	if (su == NULL)
		bench_die("out of memory");
	sem_init(&c.sem, 0, 0);
	if (actor_system_spawn(d.sys, &coordinator_spec, &c, &su->coordinator) < 0)
		bench_die("spawn failed");
	for (int i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof name, "big.%d", i);
		su->peers[i] = virt ? big_key_ref(d.sys, i) : dist_whereis(&d, i % d.nodes, name);
	}
	su->n = n;
	su->rounds = rounds;
	for (int i = 0; i < n; i++) {
		su->index = i;
		if (actor_system_send(d.sys, su->peers[i], SETUP, su,
				      virt ? sizeof *su : su_size) < 0)
			bench_die("big: cannot send SETUP to actor %d", i);
	}
	dist_wait(&d, &c.sem, 60);
	t0 = bench_now();
	for (int i = 0; i < n; i++)
		if (actor_system_send(d.sys, su->peers[i], GO, NULL, 0) < 0)
			bench_die("big: cannot send GO to actor %d", i);
	dist_wait(&d, &c.sem, timeout);
	wall = bench_now() - t0;

	msgs = 2LL * n * (n - 1) * rounds;
	if (2 * c.pongs != msgs)
		bench_die("big: pong count mismatch");
	bench_print_stats(d.sys);
	if (actor_node_stats(d.sys, &st) == 0)
		printf("# node 0: frames_out=%llu frames_in=%llu bytes_out=%llu queue_full=%llu\n",
		       (unsigned long long)st.frames_out, (unsigned long long)st.frames_in,
		       (unsigned long long)st.bytes_out, (unsigned long long)st.queue_full);
	if (virt)
		print_virtual_stats(d.sys);
	workers = actor_system_workers(d.sys);
	dist_finish(&d);
	bench_result("bench=big system=libactor mode=%s actors=%d rounds=%d workers=%u "
	             "nodes=%d transport=%s tls=%s msgs=%lld wall_s=%.6f msgs_per_s=%.0f",
	             virt ? "virtual" : "distributed", n, rounds, workers, d.nodes, d.transport_name, d.tls_mode, msgs, wall, (double)msgs / wall);
	free(su);
	sem_destroy(&c.sem);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "actors", "64", "actors N" },
		{ "rounds", "100", "rounds K" },
		{ "mode", "local", "local, distributed (actors spread over --nodes processes), or "
				  "virtual (virtual actors; one process unless --nodes is given)" },
		{ "timeout", "600", "distributed: seconds before giving up" },
		DIST_FLAGS,
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	struct member *members;
	actor_system_t *sys;
	long long msgs;
	double t0, wall;
	unsigned workers;
	bool virt;

	bench_parse(argc, argv, "big [--actors N] [--rounds K] [--mode local|distributed|virtual] "
				"[--nodes M] [--transport uring|epoll|auto]", flags);
	sh.n = (int)bench_num(flags, "actors");
	sh.rounds = (int)bench_num(flags, "rounds");
	if (sh.n < 2 || sh.rounds < 1)
		bench_die("need actors >= 2, rounds >= 1");
	virt = strcmp(bench_str(flags, "mode"), "virtual") == 0;
	if (strcmp(bench_str(flags, "mode"), "distributed") == 0 ||
	    (virt && bench_num(flags, "nodes") >= 2))
		return run_distributed(flags, sh.n, sh.rounds, virt);
	if (!virt && strcmp(bench_str(flags, "mode"), "local") != 0)
		bench_die("big: --mode is local, distributed or virtual");

	sys = bench_system();
	sh.peers = calloc((size_t)sh.n, sizeof(*sh.peers));
	members = calloc((size_t)sh.n, sizeof(*members));
	if (sh.peers == NULL || members == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);
	if (virt) {
		actor_virtual_options_t o = { .idle_timeout_ns = UINT64_MAX, .arg = members };

		if (actor_virtual_register(sys, "big", &vbig_spec, &o) != 0)
			bench_die("actor_virtual_register failed");
	}
	for (int i = 0; i < sh.n; i++) {
		char key[16];

		members[i] = (struct member){ &sh, i };
		snprintf(key, sizeof key, "b%d", i);
		if (virt ? actor_virtual_ref(sys, "big", key, strlen(key), &sh.peers[i]) < 0 :
			   actor_system_spawn(sys, &big_spec, &members[i], &sh.peers[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (int i = 0; i < sh.n; i++)
		actor_system_send(sys, sh.peers[i], GO, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	msgs = 2LL * sh.n * (sh.n - 1) * sh.rounds;
	if (2 * atomic_load(&sh.pongs) != msgs)
		bench_die("big: pong count mismatch");
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=big system=libactor mode=%s actors=%d rounds=%d workers=%u "
	             "msgs=%lld wall_s=%.6f msgs_per_s=%.0f", virt ? "virtual" : "local", sh.n,
	             sh.rounds, workers, msgs, wall, (double)msgs / wall);
	free(sh.peers);
	free(members);
	sem_destroy(&sh.done);
	return 0;
}

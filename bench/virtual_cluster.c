/*
 * bench/virtual_cluster: virtual actors on a cluster of --nodes forked node
 * processes on 127.0.0.1 (bench/dist.h's members: one view, node 0 the
 * seed; every node hosts type "act").
 *
 * Activation rate: a collector actor on node 0 sends one message to each
 * of K fresh keys ("a<i>"); placement spreads them over the nodes, each
 * activation answers the first message it gets, and the clock stops at the
 * K-th answer: activations_per_s = K / wall, round trips included.
 *
 * Failover (--failover 1): node 0 finds a key ("f<i>") whose activation is
 * on the last node, kills that node's process with SIGKILL, and asks the
 * key again every few milliseconds (each ask with a short timeout) until
 * an activation on a survivor answers. detect_ms: kill to node 0's view
 * without the node; reactivate_ms: kill to that first answer. The
 * membership timeouts are the defaults' ratios scaled to --dead-ms (probe
 * 1/5, suspect 3/5, fence 4/5, takeover margin 1x), so the expected
 * reactivate_ms is about dead + margin = 2 x dead-ms, plus a probe.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/common.h"
#include "bench/dist.h"

#include <actor/node.h>
#include <actor/virtual.h>

enum { START = 1, ACT, ACK, WHERE };

#define NS_PER_MS 1000000ull
#define ASK_TIMEOUT_NS (50 * NS_PER_MS)
#define FAILOVER_LIMIT_NS (60000 * NS_PER_MS)

/* An activation: answers the first ACT, and every WHERE request with its
 * node's id. */
static void act(actor_ctx_t *ctx, const actor_msg_t *m)
{
	bool *answered = actor_self_state(ctx);
	uint32_t node = actor_node_id(actor_ctx_system(ctx));

	switch (actor_msg_type(m)) {
	case ACT:
		if (!*answered)
			actor_send(ctx, actor_msg_sender(m), ACK, NULL, 0);
		*answered = true;
		break;
	case WHERE:
		actor_reply(ctx, m, WHERE, &node, sizeof node);
		break;
	}
}

static const actor_spec_t act_spec = {
	.name = "act", .handler = act, .state_size = sizeof(bool),
};

static void register_act(struct dist *d)
{
	actor_virtual_options_t o = { .idle_timeout_ns = UINT64_MAX };

	if (actor_virtual_register(d->sys, "act", &act_spec, &o) != 0)
		bench_die("node %d: actor_virtual_register failed", d->index);
}

/* Node 0's collector: sends ACT to every key on START, counts the ACKs. */
struct collect {
	actor_ref_t *keys;
	long long n, acks;
	sem_t done;
};

static void collector(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct collect *c = *(struct collect **)actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case START:
		for (long long i = 0; i < c->n; i++) {
			int err = actor_send(ctx, c->keys[i], ACT, NULL, 0);

			if (err < 0)
				bench_die("virtual_cluster: send: %s", strerror(-err));
		}
		break;
	case ACK:
		if (++c->acks == c->n)
			sem_post(&c->done);
		break;
	}
}

static int collector_init(actor_ctx_t *ctx, void *arg)
{
	*(struct collect **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t collector_spec = {
	.name = "collector", .handler = collector, .state_size = sizeof(struct collect *),
	.init = collector_init,
};

static actor_ref_t key_ref(actor_system_t *sys, const char *prefix, long long i)
{
	char key[32];
	actor_ref_t ref;

	snprintf(key, sizeof key, "%s%lld", prefix, i);
	if (actor_virtual_ref(sys, "act", key, strlen(key), &ref) != 0)
		bench_die("virtual_cluster: actor_virtual_ref failed");
	return ref;
}

/* Where key's activation answers from: its node, or a negative errno. */
static long long where(actor_system_t *sys, actor_ref_t key, uint64_t timeout_ns)
{
	uint32_t type, node;
	void *data = NULL;
	size_t size;
	int err = actor_system_ask(sys, key, WHERE, NULL, 0, timeout_ns, &type, &data, &size);

	if (err < 0)
		return err;
	if (type != WHERE || size != sizeof node)
		bench_die("virtual_cluster: bad answer");
	memcpy(&node, data, sizeof node);
	free(data);
	return node;
}

/* Activation rate over the cluster: c->n keys from node 0's collector
 * (which lives on with c until the system goes). */
static double activation_rate(struct dist *d, struct collect *c)
{
	actor_ref_t coll;
	double t0, wall;

	c->keys = calloc((size_t)c->n, sizeof(*c->keys));
	if (c->keys == NULL)
		bench_die("out of memory");
	for (long long i = 0; i < c->n; i++)
		c->keys[i] = key_ref(d->sys, "a", i);
	if (actor_system_spawn(d->sys, &collector_spec, c, &coll) < 0)
		bench_die("spawn failed");
	t0 = bench_now();
	actor_system_send(d->sys, coll, START, NULL, 0);
	dist_wait(d, &c->done, 120);
	wall = bench_now() - t0;
	return wall;
}

/* Kills the last node and times its key's first answer from a survivor. */
static void failover(struct dist *d, double *detect_ms, double *reactivate_ms, int *errors)
{
	int victim = d->nodes - 1, status;
	uint32_t dead = d->table[victim].node;
	actor_ref_t key = ACTOR_REF_NONE;
	uint64_t t0, now;
	long long got;

	for (long long i = 0; actor_ref_is_none(key); i++) {
		actor_ref_t k = key_ref(d->sys, "f", i);

		got = where(d->sys, k, 10000 * NS_PER_MS);
		if (got < 0)
			bench_die("virtual_cluster: key f%lld: %s", i, strerror((int)-got));
		if ((uint32_t)got == dead)
			key = k;
	}
	*detect_ms = *reactivate_ms = -1;
	*errors = 0;
	t0 = bench_now_ns();
	if (kill(d->pid[victim], SIGKILL) != 0)
		bench_die("kill: %s", strerror(errno));
	/* Reaped here, so that dist_finish does not call it a failure. */
	waitpid(d->pid[victim], &status, 0);
	d->pid[victim] = 0;
	for (;;) {
		now = bench_now_ns();
		if (*detect_ms < 0 && actor_cluster_members(d->sys, NULL, 0, NULL) < d->nodes)
			*detect_ms = (double)(now - t0) / 1e6;
		if (now - t0 > FAILOVER_LIMIT_NS)
			bench_die("virtual_cluster: no answer from a survivor after 60 s");
		got = where(d->sys, key, ASK_TIMEOUT_NS);
		if (got >= 0 && (uint32_t)got != dead)
			break;
		if (got < 0)
			++*errors;
		usleep(2000);
	}
	*reactivate_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (*detect_ms < 0)
		*detect_ms = *reactivate_ms;
}

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "keys", "100000", "keys K activated for the activation rate" },
		{ "failover", "1", "1: then kill the last node and time a key's reactivation" },
		{ "dead-ms", "1000", "a silent member is dead after this (the other membership "
				     "timeouts scale with it)" },
		DIST_FLAGS,
		{ NULL, NULL, NULL },
	};
	struct dist d;
	struct collect c = { 0 };
	long long n, dead_ms;
	double wall, detect_ms = -1, reactivate_ms = -1;
	int errors = 0;
	unsigned workers;
	actor_virtual_stats_t vs = { 0 };
	bool fail;

	bench_parse(argc, argv, "virtual_cluster [--keys K] [--nodes M] [--failover 0|1] "
				"[--dead-ms MS]", flags);
	for (struct bench_flag *f = flags; f->name != NULL; f++)
		if (strcmp(f->name, "nodes") == 0 && strcmp(f->value, "0") == 0)
			f->value = "3";	/* this program's default */
	n = bench_num(flags, "keys");
	dead_ms = bench_num(flags, "dead-ms");
	fail = bench_num(flags, "failover") != 0;
	if (n < 1 || dead_ms < 5)
		bench_die("need keys >= 1, dead-ms >= 5");
	dist_init(&d, flags, DIST_MAX_NODES);
	if (*d.role != '\0')
		bench_die("virtual_cluster: --role is not supported; the nodes are forked");
	if (fail && d.nodes < 3)
		bench_die("virtual_cluster: --failover needs --nodes 3 or more (a majority survives)");
	d.members = true;
	d.member_dead_ns = (uint64_t)dead_ms * NS_PER_MS;
	d.prestart = register_act;
	if (dist_fork(&d) != 0) {
		dist_start(&d);
		dist_child_run(&d);
	}
	dist_start(&d);
	dist_mesh(&d);
	c.n = n;
	sem_init(&c.done, 0, 0);
	wall = activation_rate(&d, &c);
	actor_virtual_stats(d.sys, "act", &vs);
	if (fail)
		failover(&d, &detect_ms, &reactivate_ms, &errors);
	workers = actor_system_workers(d.sys);
	dist_finish(&d);
	sem_destroy(&c.done);
	free(c.keys);
	bench_result("bench=virtual_cluster system=libactor nodes=%d workers=%u keys=%lld "
		     "wall_s=%.6f activations_per_s=%.0f node0_activations=%llu dead_ms=%lld "
		     "detect_ms=%.0f reactivate_ms=%.0f failed_asks=%d", d.nodes, workers, n, wall,
		     (double)n / wall, (unsigned long long)vs.activations, dead_ms, detect_ms,
		     reactivate_ms, errors);
	return 0;
}

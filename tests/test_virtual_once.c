/*
 * Exactly-once mail between persistent virtual actors
 * (actor_virtual_send_once(3)): sources send numbered messages along a
 * ring of links, each of which adds what it gets to its state (count, sum,
 * sum of squares) and passes it on with actor_virtual_send_once(), on a
 * real LMDB environment:
 *  - on one system with a resend period of 1 ms, so that unacknowledged
 *    messages are sent again many times, and an idle timeout of 30 ms, so
 *    that keys deactivate and come back between messages: the duplicates
 *    are dropped and the sums are exact;
 *  - on 3 loopback nodes sharing the LMDB environment, one of which is
 *    destroyed in the middle (its keys move to the other two): every
 *    message is applied exactly once;
 *  - the same on 3 node processes over TCP, one of which is killed with
 *    SIGKILL (no last write: its keys come back from what was durable).
 * The sums are checked against what every message would add once, then
 * again a while later (a duplicate applied late would show).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "tests/node_proc.h"
#include "tests/store_helpers.h"
#include "tests/stress/tap.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define NODES 3
#define LINKS 12
#define SOURCES 4
#define HOPS 15


enum { HOP = 1, START, GET };

struct hop {
	int64_t value;
	uint32_t hops_left;
};

/* A link's state; a source's is its started flag in n. */
struct sums {
	int64_t n, sum, sq;
};

static atomic_long turns;
static uint64_t resend_ns, idle_ns;
/* Messages per source (START's payload, so that node processes need not
 * know it). */
static int32_t per_source = 40;

static struct sums state_of(actor_ctx_t *ctx)
{
	size_t len;
	const void *st = actor_virtual_state(ctx, &len);
	struct sums s = { 0, 0, 0 };

	if (len == sizeof s)
		memcpy(&s, st, sizeof s);
	return s;
}

static void link_key(char *buf, int i)
{
	snprintf(buf, 8, "L%d", i);
}

static void send_on(actor_ctx_t *ctx, int to_link, const struct hop *h)
{
	char key[8];
	actor_ref_t r;

	link_key(key, to_link);
	if (actor_virtual_ref(actor_ctx_system(ctx), "link", key, strlen(key), &r) == 0)
		(void)actor_virtual_send_once(ctx, r, HOP, h, sizeof *h);
}

static void link_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct sums s = state_of(ctx);
	size_t klen;
	const char *kb = actor_virtual_key(ctx, &klen);
	char key[8] = { 0 };
	struct hop h;

	memcpy(key, kb, klen < sizeof key - 1 ? klen : sizeof key - 1);

	switch (actor_msg_type(m)) {
	case HOP:
		/* A link: adds it, and passes it on to the next link. */
		memcpy(&h, actor_msg_data(m), sizeof h);
		s.n++;
		s.sum += h.value;
		s.sq += h.value * h.value;
		actor_virtual_set_state(ctx, &s, sizeof s);
		atomic_fetch_add(&turns, 1);
		if (h.hops_left > 0) {
			h.hops_left--;
			send_on(ctx, (atoi(key + 1) + 1) % LINKS, &h);
		}
		break;
	case START:
		/* A source (at-most-once from the test, hence idempotent): its
		 * messages go out with its started flag, in one write. */
		if (s.n == 0 && actor_msg_size(m) == sizeof(int32_t)) {
			int src = atoi(key + 1);
			int32_t count;

			memcpy(&count, actor_msg_data(m), sizeof count);
			for (int i = 0; i < count; i++) {
				struct hop first = { src * 1000 + i + 1, HOPS };

				send_on(ctx, i % LINKS, &first);
			}
			s.n = 1;
			actor_virtual_set_state(ctx, &s, sizeof s);
		}
		actor_reply(ctx, m, START, NULL, 0);
		break;
	case GET:
		actor_reply(ctx, m, GET, &s, sizeof s);
		break;
	}
}

static const actor_spec_t link_spec = { .name = "link", .handler = link_handler };

/* A new, empty environment. */
static int open_lmdb(actor_store_t **s)
{
	store_dir_empty();
	return store_lmdb_open(s, store_dir, 0, ACTOR_STORE_NOSYNC);
}

static int reg(actor_system_t *sys, actor_store_exec_t *ex)
{
	actor_virtual_options_t o = { 0 };

	o.store = ex;
	o.exactly_once = 1;
	o.resend_ns = resend_ns;
	o.idle_timeout_ns = idle_ns;
	return actor_virtual_register(sys, "link", &link_spec, &o);
}

static const char cookie[] = "once-test-cookie-0123456789";

/* Node i of a loopback cluster (hub) joining through seed_port, or a
 * system with no node (hub NULL). */
static actor_system_t *make_node(actor_loopback_t *hub, actor_store_exec_t *ex, int i,
				 int seed_port)
{
	char name[16];

	snprintf(name, sizeof name, "once%d", i);
	return node_proc_loopback(hub, name, cookie, seed_port, ex, reg);
}

static int ask(actor_system_t *sys, const char *key, uint32_t type, struct sums *out)
{
	const void *data = type == START ? &per_source : NULL;
	size_t dsize = type == START ? sizeof per_source : 0;
	actor_ref_t r;
	uint32_t rtype;
	void *reply = NULL;
	size_t size;
	int rc = actor_virtual_ref(sys, "link", key, strlen(key), &r);

	if (rc == 0)
		rc = actor_system_ask(sys, r, type, data, dsize, 5 * SEC, &rtype, &reply, &size);
	if (rc == 0 && out != NULL) {
		if (size == sizeof *out)
			memcpy(out, reply, sizeof *out);
		else
			rc = -EPROTO;
	}
	free(reply);
	return rc;
}

/* Starts every source (again: START is idempotent): 0 when all replied. */
static int start_all(actor_system_t *sys)
{
	char key[8];
	int rc = 0;

	for (int i = 0; i < SOURCES; i++) {
		snprintf(key, sizeof key, "S%d", i);
		if (ask(sys, key, START, NULL) != 0)
			rc = -EAGAIN;
	}
	return rc;
}

/* The links' totals; every key is asked, which activates it (and so
 * sends its outbox again). */
static int totals(actor_system_t *sys, struct sums *t)
{
	char key[8];
	struct sums s;

	*t = (struct sums){ 0, 0, 0 };
	for (int i = 0; i < SOURCES; i++) {
		snprintf(key, sizeof key, "S%d", i);
		if (ask(sys, key, GET, &s) != 0)
			return -EAGAIN;
	}
	for (int i = 0; i < LINKS; i++) {
		link_key(key, i);
		if (ask(sys, key, GET, &s) != 0)
			return -EAGAIN;
		t->n += s.n;
		t->sum += s.sum;
		t->sq += s.sq;
	}
	return 0;
}

static struct sums expected(void)
{
	struct sums e = { 0, 0, 0 };

	for (int src = 0; src < SOURCES; src++)
		for (int i = 0; i < per_source; i++) {
			int64_t v = src * 1000 + i + 1;

			e.n += HOPS + 1;
			e.sum += v * (HOPS + 1);
			e.sq += v * v * (HOPS + 1);
		}
	return e;
}

/* Waits (60 s at most) until the totals are what every message applied
 * once makes, starting the sources again now and then; then, a second
 * later, checks that they have not grown. */
static const char *settle(actor_system_t *sys, const char *what)
{
	struct sums want = expected(), got = { 0, 0, 0 };

	for (int i = 0; i < 600; i++) {
		if (i % 10 == 0)
			(void)start_all(sys);
		if (totals(sys, &got) == 0 && got.n >= want.n)
			break;
		usleep(100 * 1000);
	}
	CHECK(got.n == want.n && got.sum == want.sum && got.sq == want.sq,
	      "%s: count %" PRId64 " (want %" PRId64 "), sum %" PRId64 " (want %" PRId64
	      "), squares %" PRId64 " (want %" PRId64 ")",
	      what, got.n, want.n, got.sum, want.sum, got.sq, want.sq);
	usleep(1000 * 1000);
	CHECK(totals(sys, &got) == 0 && got.n == want.n && got.sum == want.sum &&
		      got.sq == want.sq,
	      "%s: later, count %" PRId64 " sum %" PRId64, what, got.n, got.sum);
	return NULL;
}

/* --- one system, resent every millisecond ------------------------------------ */

static const char *duplicates(void)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_virtual_stats_t st;
	const char *bad;

	resend_ns = 1 * MS;
	idle_ns = 30 * MS;	/* keys deactivate and come back meanwhile */
	CHECK(open_lmdb(&s) == 0, "open");
	CHECK(actor_store_exec_create(&ex, s, NULL) == 0, "executor");
	CHECK((sys = make_node(NULL, ex, 0, 0)) != NULL, "system");
	bad = settle(sys, "one system");
	actor_virtual_stats(sys, "link", &st);
	printf("# one system: applied %" PRIu64 ", duplicates dropped %" PRIu64
	       ", resent %" PRIu64 ", writes %" PRIu64 ", idle deactivations %" PRIu64 "\n",
	       st.once_applied, st.once_duplicates, st.once_resent, st.saves,
	       st.deactivations[ACTOR_DEACT_IDLE]);
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	if (bad != NULL)
		return bad;
	CHECK(st.once_applied == (uint64_t)expected().n, "applied %" PRIu64, st.once_applied);
	CHECK(st.deactivations[ACTOR_DEACT_IDLE] > 0, "no idle deactivation");
	CHECK(st.once_resent > 0 && st.once_duplicates > 0,
	      "nothing resent (%" PRIu64 ") or no duplicate dropped (%" PRIu64 ")",
	      st.once_resent, st.once_duplicates);
	return NULL;
}

/* --- 3 nodes, one destroyed -------------------------------------------------- */

static const char *three_nodes(void)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_store_exec_config_t xc;
	actor_loopback_t *hub;
	actor_system_t *n[NODES];
	actor_virtual_stats_t st[NODES];
	const char *bad;

	resend_ns = 100 * MS;
	idle_ns = 2 * SEC;
	atomic_store(&turns, 0);
	CHECK(open_lmdb(&s) == 0, "open");
	actor_store_exec_config_init(&xc);
	xc.threads = 4;
	CHECK(actor_store_exec_create(&ex, s, &xc) == 0, "executor");
	CHECK(actor_loopback_create(&hub) == 0, "loopback");
	for (int i = 0; i < NODES; i++)
		CHECK((n[i] = make_node(hub, ex, i, i == 0 ? 0 : actor_node_port(n[0]))) != NULL,
		      "node %d", i);
	for (int i = 0; i < NODES; i++) {
		int k = 0;

		while (actor_cluster_members(n[i], NULL, 0, NULL) != NODES && k++ < 10000)
			usleep(1000);
		CHECK(k < 10000, "node %d: no view of %d", i, NODES);
	}
	/* START again until it got through (a node that just joined may
	 * still be fenced), then node 2 goes once a third is applied. */
	for (int i = 0; i < 3000 && atomic_load(&turns) < expected().n / 3; i++) {
		if (i % 100 == 0)
			(void)start_all(n[0]);
		usleep(10 * 1000);
	}
	CHECK(atomic_load(&turns) >= expected().n / 3, "stalled at %ld turns",
	      atomic_load(&turns));
	actor_virtual_stats(n[2], "link", &st[2]);
	actor_system_destroy(n[2]);
	bad = settle(n[0], "3 nodes, one destroyed");
	for (int i = 0; i < 2; i++)
		actor_virtual_stats(n[i], "link", &st[i]);
	printf("# 3 nodes: node 2 applied %" PRIu64 " and was destroyed; nodes 0 and 1 applied %"
	       PRIu64 ", dropped %" PRIu64 " duplicates, resent %" PRIu64 "; turns in all %ld\n",
	       st[2].once_applied, st[0].once_applied + st[1].once_applied,
	       st[0].once_duplicates + st[1].once_duplicates,
	       st[0].once_resent + st[1].once_resent, atomic_load(&turns));
	for (int i = 0; i < 2; i++)
		actor_system_destroy(n[i]);
	actor_loopback_destroy(hub);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	return bad;
}

/* --- kill -9 of one of 3 node processes ---------------------------------- */

/* A node process (tests/node_proc.h) hosts links. */
static int reg_node(actor_system_t *sys, actor_store_exec_t *ex, const char *arg)
{
	(void)arg;
	resend_ns = 100 * MS;
	idle_ns = 2 * SEC;
	return reg(sys, ex);
}

static const struct node_proc node_proc = { cookie, NULL, reg_node };

static const char *processes(void)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_node_config_t cfg;
	pid_t pids[2] = { -1, -1 };
	struct sums got = { 0, 0, 0 };
	const char *bad = NULL;
	char where[80];
	int k = 0;

	resend_ns = 100 * MS;
	idle_ns = 2 * SEC;
	per_source = 200;	/* long enough to be killed in the middle */
	CHECK(open_lmdb(&s) == 0, "open");
	CHECK(actor_store_exec_create(&ex, s, NULL) == 0, "executor");
	CHECK((sys = make_node(NULL, ex, 0, 0)) != NULL, "system");
	node_proc_config(&cfg, "once-0", cookie, 0, NULL, NULL);
	snprintf(where, sizeof where, "lmdb:%s", store_dir);
	cfg.transport = "epoll";
	CHECK(actor_node_start(sys, &cfg) == 0, "node");
	for (int i = 0; i < 2; i++)
		CHECK((pids[i] = node_proc_spawn("test_virtual_once", where,
						 actor_node_port(sys), NULL)) > 0, "fork");
	while (actor_cluster_members(sys, NULL, 0, NULL) != NODES && k++ < 10000)
		usleep(1000);
	if (k >= 10000) {
		bad = "the node processes did not join";
		goto out;
	}
	/* Node process 1 is killed once a third is applied. */
	for (int i = 0; i < 300 && got.n < expected().n / 3; i++) {
		if (i % 10 == 0)
			(void)start_all(sys);
		(void)totals(sys, &got);
		usleep(10 * 1000);
	}
	if (got.n < expected().n / 3) {
		bad = "stalled before the kill";
		goto out;
	}
	kill(pids[1], SIGKILL);
	waitpid(pids[1], NULL, 0);
	pids[1] = -1;
	printf("# 3 processes: one killed (SIGKILL) at %" PRId64 " of %" PRId64 " applied\n",
	       got.n, expected().n);
	bad = settle(sys, "3 processes, one killed");
out:
	for (int i = 0; i < 2; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
		}
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	return bad;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc == 4 && strcmp(argv[1], "node") == 0)
		return node_proc_main(&node_proc, argv[2], atoi(argv[3]), "");

	if ((rc = store_lmdb_start("vonce", ACTOR_STORE_NOSYNC, NULL, NULL)) >= 0)
		return rc;
	tap_plan(3);
	tap_result("exactly-once along a ring of links, resent every millisecond: duplicates "
		   "dropped, each message applied once", duplicates());
	tap_result("exactly-once on 3 loopback nodes sharing one LMDB, one destroyed in the "
		   "middle: each message applied once", three_nodes());
	if (store_lmdb_kill_hangs())
		tap_skip("exactly-once on 3 node processes (TCP, one LMDB), one killed",
			 STORE_LMDB_KILL_HANGS);
	else
		tap_result("exactly-once on 3 node processes (TCP, one LMDB), one killed with "
			   "SIGKILL in the middle: each message applied once", processes());
	store_dir_done();
	return tap_exit();
}

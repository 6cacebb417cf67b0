/*
 * Membership (issue 14): clusters of 3 and 5 systems in one process over
 * the loopback transport join through one seed and converge; a member
 * destroyed is removed after the dead time, one that leaves at once; a
 * member cut off by a partition (actor__node_drop) fences itself, is
 * removed by the majority and, once the partition heals, joins again as a
 * new incarnation; a one-way flood does not get its receiver declared
 * dead; snapshots and events say what the view says. Over TCP, a member
 * process stopped with SIGSTOP past its fencing time runs no virtual turn
 * right after SIGCONT, and runs them again once a majority has answered.
 *
 * Timeouts are short (a probe every 100 ms, dead after 1 s) with generous
 * waits around them: the tests run side by side on loaded machines.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "tests/leakcheck.h"
#include "tests/stress/member.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define MAXN 5

static const char cookie[] = "test-cookie-0123456789";

static actor_loopback_t *hub;
static char seed_text[64];
static const char *seed_list[1] = { seed_text };

/* What each system's member_event hook and log were told, by index. */
static _Atomic int ups[MAXN], downs[MAXN], lefts[MAXN], fenced_events[MAXN], unfenced_events[MAXN];
static _Atomic int fenced_lines[MAXN];

static void reset(void)
{
	for (int i = 0; i < MAXN; i++) {
		atomic_store(&ups[i], 0);
		atomic_store(&downs[i], 0);
		atomic_store(&lefts[i], 0);
		atomic_store(&fenced_events[i], 0);
		atomic_store(&unfenced_events[i], 0);
		atomic_store(&fenced_lines[i], 0);
	}
	hub = NULL;
}

static void on_member(void *arg, const actor_member_event_t *ev)
{
	int i = (int)(intptr_t)arg;

	switch (ev->kind) {
	case ACTOR_MEMBER_UP:
		atomic_fetch_add(&ups[i], 1);
		break;
	case ACTOR_MEMBER_DOWN:
		atomic_fetch_add(&downs[i], 1);
		break;
	case ACTOR_MEMBER_LEFT:
		atomic_fetch_add(&lefts[i], 1);
		break;
	case ACTOR_MEMBER_FENCED:
		atomic_fetch_add(&fenced_events[i], 1);
		break;
	case ACTOR_MEMBER_UNFENCED:
		atomic_fetch_add(&unfenced_events[i], 1);
		break;
	}
}

static void on_log(void *arg, const char *line)
{
	int i = (int)(intptr_t)arg;

	if (strstr(line, "): fenced: ") != NULL)
		atomic_fetch_add(&fenced_lines[i], 1);
	if (getenv("ACTOR_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", line);
}

static void member_config(actor_node_config_t *cfg, int i, const char *name, const char *transport)
{
	actor_node_config_init(cfg);
	cfg->name = name;
	cfg->cookie = cookie;
	cfg->cookie_len = sizeof cookie - 1;
	cfg->transport = transport;
	member_fast_timings(cfg);
	cfg->member_event = on_member;
	cfg->member_event_arg = (void *)(intptr_t)i;
	cfg->log = on_log;
	cfg->log_arg = (void *)(intptr_t)i;
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg->loopback = hub;
	}
}

/* System i of a loopback cluster: the first has no seeds, the others
 * join through it. */
static actor_system_t *member(int i, actor_system_t *first)
{
	static const char *names[MAXN] = { "m0", "m1", "m2", "m3", "m4" };
	actor_system_t *s;
	actor_node_config_t cfg;
	actor_config_t sc;

	actor_config_init(&sc);
	sc.workers = 1;		/* five systems on a machine of two cores */
	sc.pin_workers = false;
	cr_assert_eq(actor_system_create(&s, &sc), 0);
	member_config(&cfg, i, names[i], "loopback");
	if (first != NULL) {
		snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", actor_node_port(first));
		cfg.seeds = seed_list;
		cfg.nseeds = 1;
	}
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static struct actor__node *node_of(actor_system_t *s)
{
	return actor__node_of(s);
}

static bool may_run(actor_system_t *s)
{
	return actor__view_may_run(node_of(s), actor__now_ns());
}

static uint64_t epoch_of(actor_system_t *s)
{
	uint64_t e = 0;

	cr_assert_geq(actor_cluster_members(s, NULL, 0, &e), 1);
	return e;
}

static int members_of(actor_system_t *s)
{
	return actor_cluster_members(s, NULL, 0, NULL);
}

/* Whether every system of s[0..n) (but skip, if >= 0) has a view of want
 * members, the same epoch everywhere, and may run. */
static bool converged(actor_system_t **s, int n, int skip, int want)
{
	uint64_t epoch = 0;

	for (int i = 0; i < n; i++) {
		uint64_t e;

		if (i == skip)
			continue;
		if (members_of(s[i]) != want || !may_run(s[i]))
			return false;
		e = epoch_of(s[i]);
		if (epoch != 0 && e != epoch)
			return false;
		epoch = e;
	}
	return true;
}

static bool wait_converged(actor_system_t **s, int n, int skip, int want, int ms)
{
	for (int t = 0; t < ms; t += 10) {
		if (converged(s, n, skip, want))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static void cluster(actor_system_t **s, int n)
{
	s[0] = member(0, NULL);
	for (int i = 1; i < n; i++)
		s[i] = member(i, s[0]);
	cr_assert(wait_converged(s, n, -1, n, 20000), "%d nodes did not converge", n);
}

static void destroy_all(actor_system_t **s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != NULL)
			actor_system_destroy(s[i]);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

static int index_of_lowest(actor_system_t **s, int n)
{
	int k = 0;

	for (int i = 1; i < n; i++)
		if (actor_node_id(s[i]) < actor_node_id(s[k]))
			k = i;
	return k;
}

static bool reaches(_Atomic int *v, int want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

TestSuite(member, .init = reset, .timeout = 120);

/* --- joining ---------------------------------------------------------------- */

static void converge(int n)
{
	actor_system_t *s[MAXN] = { 0 };
	actor_member_t view[MAXN], other[MAXN];
	uint64_t e0, e;

	cluster(s, n);
	cr_assert_eq(actor_cluster_members(s[0], view, MAXN, &e0), n);
	/* The founder's 1, then at least one more (joins may share one). */
	cr_assert_geq(e0, 2);
	for (int i = 0; i < n; i++) {
		bool found = false;

		for (int k = 0; k < n; k++)
			found |= view[k].node == actor_node_id(s[i]);
		cr_assert(found, "node %d is missing from the view", i);
		cr_assert_eq(actor_cluster_members(s[i], other, MAXN, &e), n);
		cr_assert_eq(e, e0);
		cr_assert_eq(memcmp(view, other, sizeof(view[0]) * (size_t)n), 0);
	}
	for (int k = 1; k < n; k++)
		cr_assert_lt(view[k - 1].node, view[k].node, "sorted by node");
	for (int k = 0; k < n; k++) {
		cr_assert_eq(view[k].incarnation, 1);
		cr_assert_str_eq(view[k].host, "127.0.0.1");
		cr_assert_gt(view[k].port, 0);
		cr_assert_eq(view[k].name[0], 'm');
	}
	/* Every member connected to every other (the lower id dialed; the
	 * view can be everywhere a moment before the last dial is up). */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < n; k++) {
			for (int t = 0; t < 5000 && !actor_node_is_up(s[i], actor_node_id(s[k])); t++)
				usleep(1000);
			cr_assert(actor_node_is_up(s[i], actor_node_id(s[k])), "%d to %d", i, k);
		}
	destroy_all(s, n);
}

Test(member, three_join_through_one_seed) { converge(3); }
Test(member, five_join_through_one_seed) { converge(5); }

/* Two nodes joining through one seed that cannot be reached yet, and
 * connected to each other meanwhile (actor_node_connect, as a program
 * meshing its nodes does): neither is the other's seed, so they must not
 * start a cluster of their own, and once the seed is up all three are one
 * cluster. (They did start one: views 1, 2, 2 for ever.) */
Test(member, joining_nodes_connected_to_each_other_wait_for_their_seed)
{
	static const char *seed_of_both[1] = { "127.0.0.1:40777" };
	static const char *names[3] = { "m0", "m1", "m2" };
	actor_system_t *s[3] = { 0 };
	actor_node_config_t cfg;
	actor_config_t sc;
	uint32_t id;

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	for (int i = 2; i >= 0; i--) {
		cr_assert_eq(actor_system_create(&s[i], &sc), 0);
		member_config(&cfg, i, names[i], "loopback");
		if (i == 0) {
			cfg.listen_port = 40777;
		} else {
			cfg.seeds = seed_of_both;
			cfg.nseeds = 1;
		}
		if (i == 0) {
			/* Both joining nodes meet first, and ask each other to
			 * join for a while. */
			cr_assert_eq(actor_node_connect(s[1], "127.0.0.1", (uint16_t)actor_node_port(s[2]),
							5 * SEC, &id), 0);
			usleep(500 * 1000);
			cr_assert_eq(members_of(s[1]), 1, "m1 made a cluster without its seed");
			cr_assert_eq(members_of(s[2]), 1, "m2 made a cluster without its seed");
		}
		cr_assert_eq(actor_node_start(s[i], &cfg), 0);
	}
	cr_assert(wait_converged(s, 3, -1, 3, 20000), "views %d %d %d", members_of(s[0]),
		  members_of(s[1]), members_of(s[2]));
	destroy_all(s, 3);
}

/* Nodes that list each other as seeds and nothing else: the lowest id
 * starts the cluster and the others join it. */
Test(member, nodes_that_are_each_others_seeds_make_one_cluster)
{
	static const char *seeds[3] = { "127.0.0.1:40781", "127.0.0.1:40782", "127.0.0.1:40783" };
	static const char *names[3] = { "m0", "m1", "m2" };
	actor_system_t *s[3] = { 0 };
	actor_node_config_t cfg;
	actor_config_t sc;

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(actor_system_create(&s[i], &sc), 0);
		member_config(&cfg, i, names[i], "loopback");
		cfg.listen_port = (uint16_t)(40781 + i);
		cfg.seeds = seeds;
		cfg.nseeds = 3;
		cr_assert_eq(actor_node_start(s[i], &cfg), 0);
	}
	cr_assert(wait_converged(s, 3, -1, 3, 20000), "views %d %d %d", members_of(s[0]),
		  members_of(s[1]), members_of(s[2]));
	destroy_all(s, 3);
}

Test(member, a_node_alone_is_a_cluster_of_itself)
{
	actor_system_t *s;
	actor_member_t me;
	uint64_t epoch = 0;
	const struct actor__view *v;
	unsigned sec;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	cr_assert_eq(actor_cluster_members(s, &me, 1, &epoch), -ENOTCONN);
	cr_assert_eq(actor_cluster_leave(s, SEC), -ENOTCONN);
	cr_assert_eq(actor_cluster_subscribe(s, ACTOR_REF_NONE), -ENOTCONN);
	actor_system_destroy(s);

	s = member(0, NULL);
	cr_assert_eq(actor_cluster_members(s, &me, 1, &epoch), 1);
	cr_assert_eq(epoch, 1);
	cr_assert_eq(me.node, actor_node_id(s));
	cr_assert(may_run(s), "a one-member view is never fenced");
	sec = actor__view_enter(node_of(s));
	v = actor__view_get(node_of(s));
	cr_assert_not_null(v);
	cr_assert_eq(v->nmembers, 1);
	cr_assert_eq(v->members[0].node, actor_node_id(s));
	cr_assert_eq(v->members[0].ntypes, 0);
	actor__view_exit(node_of(s), sec);
	cr_assert_eq(actor__view_takeover_at(node_of(s), actor_node_id(s)), 0);
	cr_assert_eq(actor__view_takeover_at(node_of(s), 12345), 0);
	cr_assert_eq(atomic_load(&ups[0]), 1, "UP for itself");
	/* Leaving alone: nobody to hand keys over to; it stops running them. */
	cr_assert_eq(actor_cluster_leave(s, 5 * SEC), 0);
	cr_assert_not(may_run(s));
	actor_system_destroy(s);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

Test(member, a_joining_node_is_fenced_until_it_joins)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	member_config(&cfg, 0, "lonely", "loopback");
	snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", 4242);	/* nobody */
	cfg.seeds = seed_list;
	cfg.nseeds = 1;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	usleep(300 * 1000);
	cr_assert_eq(members_of(s), 1);
	cr_assert_not(may_run(s));
	actor_system_destroy(s);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

/*
 * A node that joins is fenced until a quorum answers probes sent after it
 * joined; that took until its next tick (a probe interval / 2 here, up to
 * 100 ms by default), during which its keys' mail was refused with
 * -EAGAIN. Now the answers unfence it at once (0-0.4 ms here).
 */
Test(member, a_node_that_joins_runs_without_waiting_for_a_tick)
{
	actor_system_t *s[MAXN] = { 0 };
	uint64_t worst = 0;

	cluster(s, 3);
	for (int r = 3; r < 5; r++) {
		uint64_t t0 = actor__now_ns(), joined = 0, now;

		s[r] = member(r, s[0]);
		while ((now = actor__now_ns()) - t0 < 10 * SEC) {
			if (joined == 0 && members_of(s[r]) == r + 1)
				joined = now;
			if (joined != 0 && may_run(s[r]))
				break;
			usleep(100);
		}
		cr_assert(joined != 0 && may_run(s[r]), "node %d did not join", r);
		if (now - joined > worst)
			worst = now - joined;
	}
	/* The tick is 50 ms here: half of it is far above a loopback round trip. */
	cr_assert_lt(worst, 25 * MS, "a joined node waited %.1f ms to run", worst / 1e6);
	destroy_all(s, 5);
}

Test(member, bad_membership_settings_are_refused)
{
	static const char *bad_seeds[] = { "no-port", "host:", "host:0", "host:65536", ":1",
					   "host:12x" };
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	for (size_t i = 0; i < sizeof bad_seeds / sizeof bad_seeds[0]; i++) {
		member_config(&cfg, 0, "bad", "loopback");
		cfg.seeds = &bad_seeds[i];
		cfg.nseeds = 1;
		cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "seed %s", bad_seeds[i]);
	}
	member_config(&cfg, 0, "bad", "loopback");
	cfg.member_suspect_ns = cfg.member_probe_interval_ns;
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL);
	member_config(&cfg, 0, "bad", "loopback");
	cfg.member_dead_ns = cfg.member_suspect_ns;
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL);
	member_config(&cfg, 0, "bad", "loopback");
	cfg.member_takeover_margin_ns = cfg.member_fence_ns;
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "the margin must exceed the fencing time");
	member_config(&cfg, 0, "bad", "loopback");
	cfg.nseeds = 1;
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "nseeds without seeds");
	/* [v6]:port parses. */
	member_config(&cfg, 0, "ok", "loopback");
	snprintf(seed_text, sizeof seed_text, "[::1]:4243");
	cfg.seeds = seed_list;
	cfg.nseeds = 1;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	actor_system_destroy(s);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

/* --- leaving and dying -------------------------------------------------------- */

static void removed_after(bool leave, bool coordinator)
{
	actor_system_t *s[3] = { 0 }, *rest[2];
	int x = index_of_lowest(s, 0), k = 0;
	uint64_t before, t0, took, now;
	uint32_t gone;

	cluster(s, 3);
	x = index_of_lowest(s, 3);
	if (!coordinator)
		x = (x + 1) % 3;
	gone = actor_node_id(s[x]);
	for (int i = 0; i < 3; i++)
		if (i != x)
			rest[k++] = s[i];
	before = epoch_of(rest[0]);
	t0 = actor__now_ns();
	if (leave) {
		cr_assert_eq(actor_cluster_leave(s[x], 5 * SEC), 0);
		took = actor__now_ns() - t0;
		cr_assert_lt(took, 1000 * MS, "a leave waits for no failure detection (%llu ms)",
			     (unsigned long long)(took / MS));
		cr_assert_not(may_run(s[x]), "a node that left runs no virtual actor");
		cr_assert_eq(actor_cluster_leave(s[x], SEC), 0, "twice");
	} else {
		actor_system_destroy(s[x]);
		s[x] = NULL;
	}
	cr_assert(wait_converged(rest, 2, -1, 2, 10000), "the others did not drop it");
	took = actor__now_ns() - t0;
	cr_assert_gt(epoch_of(rest[0]), before);
	now = actor__now_ns();
	for (int i = 0; i < 2; i++) {
		uint64_t at = actor__view_takeover_at(node_of(rest[i]), gone);

		if (leave) {
			cr_assert_eq(at, 0, "a member that left hands its keys over at once");
		} else {
			cr_assert_gt(at, now, "a dead member's keys wait for the margin");
			cr_assert_leq(at, now + 1200 * MS);
			cr_assert_geq(took, 1000 * MS - 100 * MS, "removed after the dead time");
		}
	}
	for (int i = 0; i < 3; i++) {
		if (i == x)
			continue;
		/* Told just after the view is published. */
		cr_assert(reaches(leave ? &lefts[i] : &downs[i], 1, 5000));
		cr_assert_eq(atomic_load(&lefts[i]), leave ? 1 : 0);
		cr_assert_eq(atomic_load(&downs[i]), leave ? 0 : 1);
	}
	if (leave) {
		actor_member_t v[3];

		/* The leaver's view is the cluster's without it. */
		cr_assert_eq(actor_cluster_members(s[x], v, 3, NULL), 2);
		cr_assert_neq(v[0].node, gone);
		cr_assert_neq(v[1].node, gone);
	}
	destroy_all(s, 3);
}

Test(member, a_destroyed_member_is_removed_after_the_dead_time) { removed_after(false, false); }
Test(member, a_destroyed_coordinator_is_removed_after_the_dead_time) { removed_after(false, true); }
Test(member, a_leave_removes_the_member_at_once) { removed_after(true, false); }
Test(member, the_coordinator_leaves_at_once) { removed_after(true, true); }

/* --- partitions ------------------------------------------------------------------ */

static void partition(bool coordinator)
{
	actor_system_t *s[3] = { 0 }, *rest[2];
	actor_member_t v[3];
	int x, k = 0;
	uint64_t t0, fenced_after = 0, before;
	uint32_t gone;

	cluster(s, 3);
	x = index_of_lowest(s, 3);
	if (!coordinator)
		x = (x + 1) % 3;
	gone = actor_node_id(s[x]);
	for (int i = 0; i < 3; i++)
		if (i != x)
			rest[k++] = s[i];
	before = epoch_of(rest[0]);
	t0 = actor__now_ns();
	for (int i = 0; i < 2; i++)
		cr_assert_eq(actor__node_drop(node_of(s[x]), actor_node_id(rest[i]), true), 0);
	/* The minority fences within the fencing time (800 ms) and a tick. */
	while (may_run(s[x]) && actor__now_ns() - t0 < 5 * SEC)
		usleep(5 * 1000);
	fenced_after = actor__now_ns() - t0;
	cr_assert_not(may_run(s[x]));
	/* Within the fencing time and some slack; earlier by up to the ticks
	 * a loaded machine delays (the times heard are noted at ticks). */
	cr_assert_lt(fenced_after, 800 * MS + 700 * MS, "fenced after %llu ms",
		     (unsigned long long)(fenced_after / MS));
	cr_assert_geq(fenced_after, 400 * MS, "fenced too early, after %llu ms",
		      (unsigned long long)(fenced_after / MS));
	/* The majority goes on, and removes it after the dead time. */
	cr_assert(may_run(rest[0]) && may_run(rest[1]));
	cr_assert(wait_converged(rest, 2, -1, 2, 10000), "the majority did not remove it");
	cr_assert_gt(epoch_of(rest[0]), before);
	cr_assert_gt(actor__view_takeover_at(node_of(rest[0]), gone), 0);
	cr_assert_not(may_run(s[x]), "still cut off: still fenced");
	cr_assert_geq(atomic_load(&fenced_lines[x]), 1, "the fencing was logged");
	cr_assert_geq(atomic_load(&fenced_events[x]), 1);
	/* Healed: it learns that it was removed, and joins again as a new
	 * incarnation of its node id, in a later view. */
	for (int i = 0; i < 2; i++)
		cr_assert_eq(actor__node_drop(node_of(s[x]), actor_node_id(rest[i]), false), 0);
	cr_assert(wait_converged(s, 3, -1, 3, 15000), "it did not rejoin");
	cr_assert_eq(actor_cluster_members(s[0], v, 3, NULL), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(v[i].incarnation, v[i].node == gone ? 2u : 1u, "node %08x",
			     v[i].node);
	cr_assert_eq(actor__view_takeover_at(node_of(rest[0]), gone), 0, "a member again");
	cr_assert_geq(atomic_load(&unfenced_events[x]), 1);
	destroy_all(s, 3);
}

Test(member, a_partitioned_member_fences_is_removed_and_rejoins) { partition(false); }
Test(member, a_partitioned_coordinator_fences_is_removed_and_rejoins) { partition(true); }

/* --- a one-way flood ----------------------------------------------------------- */

enum { TICK = 1, COUNT };

static _Atomic long received;

static void sink(actor_ctx_t *ctx, const actor_msg_t *m)
{
	(void)ctx;
	if (actor_msg_type(m) == TICK)
		atomic_fetch_add(&received, 1);
}

static const actor_spec_t sink_spec = { .name = "sink", .handler = sink };

Test(member, a_flood_does_not_get_its_receiver_declared_dead, .timeout = 180)
{
	actor_system_t *s[2] = { 0 };
	actor_ref_t target;
	const long total = 300000;
	uint64_t before;
	long sent = 0;

	atomic_store(&received, 0);
	cluster(s, 2);
	before = epoch_of(s[0]);
	cr_assert_eq(actor_system_spawn(s[0], &sink_spec, NULL, &target), 0);
	/* From s[1] to s[0], one way: s[1] hears only s[0]'s probes and
	 * acks, which must not wait behind the flood. */
	while (sent < total) {
		int err = actor_system_send(s[1], target, TICK, "0123456789abcdef", 16);

		if (err == -EAGAIN) {	/* the peer's queue is full: let it drain */
			usleep(100);
			continue;
		}
		cr_assert_eq(err, 0);
		sent++;
	}
	for (int i = 0; i < 60000 && atomic_load(&received) < total; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&received), total);
	cr_assert(converged(s, 2, -1, 2));
	cr_assert_eq(epoch_of(s[0]), before, "no view change: nobody was declared dead");
	cr_assert_eq(atomic_load(&downs[0]) + atomic_load(&downs[1]), 0);
	cr_assert_eq(atomic_load(&fenced_events[0]) + atomic_load(&fenced_events[1]), 0);
	destroy_all(s, 2);
}

/* --- snapshots and events -------------------------------------------------------- */

static _Atomic int sub_ups, sub_downs, sub_bad;

static void watcher(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const actor_member_event_t *ev = actor_msg_data(m);

	(void)ctx;
	if (actor_msg_type(m) != ACTOR_MSG_MEMBER || actor_msg_size(m) != sizeof(*ev)) {
		atomic_fetch_add(&sub_bad, 1);
		return;
	}
	if (ev->kind == ACTOR_MEMBER_UP)
		atomic_fetch_add(&sub_ups, 1);
	else if (ev->kind == ACTOR_MEMBER_DOWN || ev->kind == ACTOR_MEMBER_LEFT)
		atomic_fetch_add(&sub_downs, 1);
}

static const actor_spec_t watcher_spec = { .name = "watcher", .handler = watcher };

Test(member, snapshots_and_events_match_the_view)
{
	actor_system_t *s[3] = { 0 };
	actor_member_t v[3], one;
	actor_ref_t w;
	uint64_t epoch;

	atomic_store(&sub_ups, 0);
	atomic_store(&sub_downs, 0);
	atomic_store(&sub_bad, 0);
	s[0] = member(0, NULL);
	s[1] = member(1, s[0]);
	cr_assert(wait_converged(s, 2, -1, 2, 20000));
	cr_assert_eq(actor_system_spawn(s[0], &watcher_spec, NULL, &w), 0);
	cr_assert_eq(actor_cluster_subscribe(s[0], w), 0);
	cr_assert_eq(actor_cluster_subscribe(s[0], ACTOR_REF_NONE), -EINVAL);
	cr_assert_eq(actor_cluster_subscribe(s[1], w), -EINVAL, "not an actor of s[1]");
	/* The current members first. */
	cr_assert(reaches(&sub_ups, 2, 5000));
	s[2] = member(2, s[0]);
	cr_assert(wait_converged(s, 3, -1, 3, 20000));
	cr_assert(reaches(&sub_ups, 3, 5000), "%d UP", atomic_load(&sub_ups));
	/* The snapshot: sorted, complete, with names and addresses. */
	cr_assert_eq(actor_cluster_members(s[1], v, 3, &epoch), 3);
	cr_assert_eq(actor_cluster_members(s[1], &one, 1, NULL), 3, "the count, whatever cap");
	cr_assert_eq(one.node, v[0].node);
	for (int i = 0; i < 3; i++) {
		int k = 0;

		while (k < 3 && v[k].node != actor_node_id(s[i]))
			k++;
		cr_assert_lt(k, 3);
		cr_assert_eq(v[k].port, actor_node_port(s[i]));
		cr_assert_eq(v[k].name[1], (char)('0' + i));
	}
	/* Each member's hook heard of the others: 3 UP on each of the first
	 * two (itself included), and s[2] its own plus the two it joined. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(atomic_load(&ups[i]), 3, "node %d: %d UP", i, atomic_load(&ups[i]));
	cr_assert_eq(actor_cluster_leave(s[2], 5 * SEC), 0);
	cr_assert(reaches(&sub_downs, 1, 5000));
	cr_assert_eq(actor_cluster_unsubscribe(s[0], w), 0);
	cr_assert_eq(atomic_load(&sub_bad), 0);
	destroy_all(s, 3);
}

/* --- a stall, over TCP, in another process ---------------------------------------- */

/*
 * The child is a third member over TCP (epoll), joined to two members in
 * this process. Its SIGCONT handler asks actor__view_may_run at once and
 * writes the answer to a pipe; a thread of it then writes 1 once the node
 * runs virtual turns again. Its fencing time is 500 ms and its dead time
 * 3 s: stopped for 1.2 s, it is fenced but not removed.
 */
static int report_fd = -1;
static struct actor__node *child_node;

static void on_cont(int sig)
{
	char c = actor__view_may_run(child_node, actor__now_ns()) ? 'y' : 'n';

	(void)sig;
	(void)!write(report_fd, &c, 1);
}

static void tcp_config(actor_node_config_t *cfg, int i, const char *name)
{
	member_config(cfg, i, name, "epoll");
	cfg->member_fence_ns = 500 * MS;
	cfg->member_takeover_margin_ns = 600 * MS;
	cfg->member_suspect_ns = 2 * SEC;
	cfg->member_dead_ns = 3 * SEC;
}

static void child(uint16_t seed_port, int fd)
{
	actor_system_t *s;
	actor_node_config_t cfg;
	char seed[32];
	const char *seeds[1] = { seed };

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	report_fd = fd;
	if (actor_system_create(&s, NULL) != 0)
		_exit(2);
	tcp_config(&cfg, 2, "child");
	snprintf(seed, sizeof seed, "127.0.0.1:%u", seed_port);
	cfg.seeds = seeds;
	cfg.nseeds = 1;
	if (actor_node_start(s, &cfg) != 0)
		_exit(3);
	child_node = actor__node_of(s);
	signal(SIGCONT, on_cont);
	/* Joined and running: 'r'. */
	while (actor_cluster_members(s, NULL, 0, NULL) != 3 ||
	       !actor__view_may_run(child_node, actor__now_ns()))
		usleep(1000);
	(void)!write(fd, "r", 1);
	for (;;) {
		/* After each SIGCONT's answer, '1' once it may run again. */
		static bool told = true;
		bool run = actor__view_may_run(child_node, actor__now_ns());

		if (!run)
			told = false;
		else if (!told) {
			told = true;
			(void)!write(fd, "1", 1);
		}
		usleep(1000);
	}
}

static int fcntl_nonblock(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ? -1 : 0;
}

static char read_char(int fd, int timeout_ms)
{
	char c = 0;

	for (int i = 0; i < timeout_ms; i++) {
		ssize_t k = read(fd, &c, 1);

		if (k == 1)
			return c;
		usleep(1000);
	}
	return 0;
}

Test(member, a_stopped_member_is_fenced_right_after_sigcont, .timeout = 60)
{
	actor_system_t *s[2];
	actor_node_config_t cfg;
	int fds[2];
	pid_t pid;
	char c;
	uint64_t epoch;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(actor_system_create(&s[0], NULL), 0);
	tcp_config(&cfg, 0, "m0");
	cr_assert_eq(actor_node_start(s[0], &cfg), 0);
	cr_assert_eq(actor_system_create(&s[1], NULL), 0);
	tcp_config(&cfg, 1, "m1");
	snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", actor_node_port(s[0]));
	cfg.seeds = seed_list;
	cfg.nseeds = 1;
	cr_assert_eq(actor_node_start(s[1], &cfg), 0);
	cr_assert(wait_converged(s, 2, -1, 2, 20000));

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child((uint16_t)actor_node_port(s[0]), fds[1]);
	}
	close(fds[1]);
	cr_assert_eq(fcntl_nonblock(fds[0]), 0);
	cr_assert_eq(read_char(fds[0], 20000), 'r', "the child did not join");
	cr_assert(wait_converged(s, 2, -1, 3, 20000));
	epoch = epoch_of(s[0]);

	cr_assert_eq(kill(pid, SIGSTOP), 0);
	usleep(1200 * 1000);
	cr_assert_eq(kill(pid, SIGCONT), 0);
	c = read_char(fds[0], 5000);
	cr_assert_eq(c, 'n', "right after SIGCONT the child said '%c', not 'n'", c);
	c = read_char(fds[0], 10000);
	cr_assert_eq(c, '1', "the child never ran virtual turns again ('%c')", c);
	/* Fenced, not removed: stopped for less than the dead time. */
	cr_assert_eq(epoch_of(s[0]), epoch);
	cr_assert_eq(members_of(s[0]), 3);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	actor_system_destroy(s[0]);
	actor_system_destroy(s[1]);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

/* --- hosted types and the virtual layer's calls -------------------------------------- */

/* Per system: the types the "virtual layer" hosts, and what it was told. */
static actor_system_t *typed_sys[3];
static uint64_t typed[3][3];
static _Atomic size_t ntyped[3];
static _Atomic int view_calls[3], order_errors;
static _Atomic uint64_t last_epoch[3];

static int sys_index(struct actor_system *sys)
{
	for (int i = 0; i < 3; i++)
		if (typed_sys[i] == sys)
			return i;
	return -1;
}

static size_t types_hook(struct actor_system *sys, uint64_t *out, size_t cap)
{
	int i = sys_index(sys);
	size_t k = i < 0 ? 0 : atomic_load(&ntyped[i]);

	for (size_t j = 0; j < k && j < cap; j++)
		out[j] = typed[i][j];
	return k;
}

static void view_hook(struct actor_system *sys, const struct actor__view *old,
		      const struct actor__view *now)
{
	int i = sys_index(sys);

	if (i < 0)
		return;
	/* In order, each once: the first with no old view. */
	if ((old == NULL) != (atomic_load(&view_calls[i]) == 0) ||
	    (old != NULL && (old->epoch != atomic_load(&last_epoch[i]) || now->epoch <= old->epoch)))
		atomic_fetch_add(&order_errors, 1);
	atomic_store(&last_epoch[i], now->epoch);
	atomic_fetch_add(&view_calls[i], 1);
}

/* The types node has in s's view, into out (cap 3): their count, or -1. */
static int types_in_view(actor_system_t *s, uint32_t node, uint64_t *out)
{
	struct actor__node *n = node_of(s);
	unsigned sec = actor__view_enter(n);
	const struct actor__view *v = actor__view_get(n);
	int k = -1;

	for (uint32_t i = 0; i < v->nmembers; i++)
		if (v->members[i].node == node) {
			k = (int)v->members[i].ntypes;
			for (int j = 0; j < k && j < 3; j++)
				out[j] = v->members[i].types[j];
		}
	actor__view_exit(n, sec);
	return k;
}

Test(member, hosted_types_travel_in_the_view)
{
	actor_system_t *s[3] = { 0 };
	uint64_t t[3], before;
	uint64_t counter = actor__vtype_hash("counter", 7), cart = actor__vtype_hash("cart", 4);

	cr_assert_neq(counter, cart);
	cr_assert_eq(actor__vtype_hash("counter", 7), counter, "the same on every call");
	atomic_store(&order_errors, 0);
	for (int i = 0; i < 3; i++) {
		atomic_store(&view_calls[i], 0);
		atomic_store(&ntyped[i], 0);
	}
	/* s[0] hosts both (given unsorted), s[1] one, s[2] none yet. */
	typed[0][0] = counter > cart ? counter : cart;
	typed[0][1] = counter > cart ? cart : counter;
	typed[0][2] = typed[0][0];	/* a duplicate */
	atomic_store(&ntyped[0], 3);
	typed[1][0] = counter;
	atomic_store(&ntyped[1], 1);
	atomic_store(&actor__member_types_hook, types_hook);
	atomic_store(&actor__member_view_hook, view_hook);
	/* The hooks know a system by its pointer, which exists before its
	 * node starts: make each, then start it. */
	for (int i = 0; i < 3; i++) {
		actor_node_config_t cfg;
		static const char *names[3] = { "m0", "m1", "m2" };

		cr_assert_eq(actor_system_create(&s[i], NULL), 0);
		typed_sys[i] = s[i];
		member_config(&cfg, i, names[i], "loopback");
		if (i > 0) {
			snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", actor_node_port(s[0]));
			cfg.seeds = seed_list;
			cfg.nseeds = 1;
		}
		cr_assert_eq(actor_node_start(s[i], &cfg), 0);
		cr_assert_geq(atomic_load(&view_calls[i]), 1, "told of view 1 before start returns");
	}
	cr_assert(wait_converged(s, 3, -1, 3, 20000));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(types_in_view(s[i], actor_node_id(s[0]), t), 2, "sorted, unique");
		cr_assert_lt(t[0], t[1]);
		cr_assert_eq(types_in_view(s[i], actor_node_id(s[1]), t), 1);
		cr_assert_eq(t[0], counter);
		cr_assert_eq(types_in_view(s[i], actor_node_id(s[2]), t), 0);
	}
	/* s[2] registers a type late: its entry changes in a new view. */
	before = epoch_of(s[0]);
	typed[2][0] = cart;
	atomic_store(&ntyped[2], 1);
	actor__member_types_changed(node_of(s[2]));
	for (int ms = 0; ms < 10000; ms += 10) {
		bool all = converged(s, 3, -1, 3);

		for (int i = 0; i < 3 && all; i++)
			all = types_in_view(s[i], actor_node_id(s[2]), t) == 1 && t[0] == cart;
		if (all)
			break;
		usleep(10 * 1000);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(types_in_view(s[i], actor_node_id(s[2]), t), 1, "node %d", i);
		cr_assert_eq(t[0], cart);
		cr_assert_gt(epoch_of(s[i]), before);
		cr_assert_eq(atomic_load(&last_epoch[i]), epoch_of(s[i]), "told of the last view");
	}
	cr_assert_eq(atomic_load(&order_errors), 0);
	atomic_store(&actor__member_types_hook, NULL);
	atomic_store(&actor__member_view_hook, NULL);
	destroy_all(s, 3);
	for (int i = 0; i < 3; i++)
		typed_sys[i] = NULL;
}

/* A member that does not listen: no one can dial it, so it dials every
 * other member itself, whatever the ids. */
Test(member, a_member_that_does_not_listen_dials_the_others)
{
	actor_system_t *s[3] = { 0 };
	actor_node_config_t cfg;
	actor_member_t v[3];

	s[0] = member(0, NULL);
	s[1] = member(1, s[0]);
	cr_assert_eq(actor_system_create(&s[2], NULL), 0);
	member_config(&cfg, 2, "m2", "loopback");
	cfg.no_listen = true;
	snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", actor_node_port(s[0]));
	cfg.seeds = seed_list;
	cfg.nseeds = 1;
	cr_assert_eq(actor_node_start(s[2], &cfg), 0);
	cr_assert(wait_converged(s, 3, -1, 3, 20000));
	cr_assert_eq(actor_cluster_members(s[0], v, 3, NULL), 3);
	for (int i = 0; i < 3; i++)
		if (v[i].node == actor_node_id(s[2])) {
			cr_assert_eq(v[i].port, 0);
			cr_assert_str_eq(v[i].host, "");
		}
	/* The view can be everywhere before m2's dial to m1 is up. */
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++) {
			for (int t = 0; t < 5000 && !actor_node_is_up(s[i], actor_node_id(s[k])); t++)
				usleep(1000);
			cr_assert(actor_node_is_up(s[i], actor_node_id(s[k])), "%d to %d", i, k);
		}
	destroy_all(s, 3);
}

/*
 * The protocol's rules after the handshake (issue 12), against an
 * authenticated raw-socket peer (tests/rawpeer.h): runtime message types
 * and request ids in MSG frames, the references a SIGNAL may carry, the
 * whereis reply, a half-close as an orderly goodbye, and VIRTUAL frames.
 * A frame that breaks a rule closes its connection and is counted; nothing
 * else stops.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "cluster/virtual.h"
#include "tests/leakcheck.h"
#include "tests/rawpeer.h"
#include "transport/transport.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define PEER 0x0badf00du	/* the raw peer's node id */
#define MEMBER 0xfffffffeu	/* a raw peer's id above any node's (0xffffffff is none's) */

static const char cookie[] = "test-cookie-0123456789";

static _Atomic int downs, down_reason;

static void reset(void)
{
	atomic_store(&downs, 0);
	atomic_store(&down_reason, 1);
}

static void on_event(void *arg, uint32_t node, const char *name, bool up, int reason)
{
	if (!up) {
		atomic_store(&down_reason, reason);
		atomic_fetch_add(&downs, 1);
	}
}

static void quiet(void *arg, const char *line)
{
	if (getenv("ACTOR_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", line);
}

static actor_system_t *node(void)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	actor_node_config_init(&cfg);
	cfg.name = "a";
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = "epoll";
	cfg.heartbeat_timeout_ns = 30 * SEC;	/* raw peers send no PING */
	cfg.node_event = on_event;
	cfg.log = quiet;
	cr_assert_eq(actor_system_create(&s, NULL), 0);
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static struct rawpeer *peer(actor_system_t *s)
{
	struct rawpeer *rp = rawpeer_connect((uint16_t)actor_node_port(s));

	cr_assert_not_null(rp);
	cr_assert_eq(rawpeer_handshake(rp, cookie, sizeof cookie - 1, PEER, "raw"), 0);
	return rp;
}

static uint64_t bad_frames(actor_system_t *s)
{
	actor_node_stats_t st;

	cr_assert_eq(actor_node_stats(s, &st), 0);
	return st.bad_frames;
}

static uint64_t live(actor_system_t *s)
{
	actor_system_stats_t st;

	actor_system_stats(s, &st);
	return st.live;
}

/* A MSG frame to `to` on node s, from the raw peer's actor 7. */
static struct actor__frame msg(actor_system_t *s, actor_ref_t to, uint32_t type, uint32_t flags,
			       uint32_t request_id)
{
	struct actor__frame f = { .kind = ACTOR__F_MSG };

	f.msg.to_id = to.id;
	f.msg.to_node = actor_node_id(s);
	f.msg.from_id = 7;
	f.msg.from_node = PEER;
	f.msg.type = type;
	f.msg.flags = flags;
	f.msg.request_id = request_id;
	f.msg.payload = "";
	return f;
}

/* Sends f on a fresh authenticated connection: the node must close it and
 * count one more bad frame. */
static void refused(actor_system_t *s, const struct actor__frame *f)
{
	uint64_t before = bad_frames(s);
	struct rawpeer *rp = peer(s);

	cr_assert(rawpeer_send(rp, f));
	cr_assert(rawpeer_closed(rp, 5000), "the node kept a connection that sent kind %u",
		  f->kind);
	for (int i = 0; i < 5000 && bad_frames(s) == before; i++)
		usleep(1000);
	cr_assert_eq(bad_frames(s), before + 1);
	/* Down before the next connection claims the same id. */
	while (actor_node_is_up(s, PEER))
		usleep(1000);
	rawpeer_close(rp);
}

/* --- actors ------------------------------------------------------------------- */

static void idle_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
}

static const actor_spec_t idle_spec = { .name = "idle", .handler = idle_handler };

/* --- runtime message types ------------------------------------------------------ */

/*
 * One anonymous empty MSG of type ACTOR_MSG_EXIT used to stop a supervisor
 * and its child (the supervisor read an actor_signal_t from 0 bytes). Now
 * the connection closes, and the same mail sent in-process is ignored.
 */
static void runtime_types(void)
{
	actor_system_t *a = node();
	actor_child_spec_t child = { .spec = &idle_spec };
	actor_supervisor_spec_t spec = { .children = &child, .nchildren = 1, .max_restarts = 3,
					 .period_ns = SEC };
	actor_ref_t sup;
	struct actor__frame f;

	cr_assert_eq(actor_supervisor_spawn(a, &spec, &sup), 0);
	/* The supervisor and its child; the actor that waited for their start
	 * (actor_supervisor_spawn asks the supervisor) may still be going. */
	for (int i = 0; i < 5000 && live(a) != 2; i++)
		usleep(1000);
	cr_assert_eq(live(a), 2);
	f = msg(a, sup, ACTOR_MSG_EXIT, 0, 0);
	f.msg.from_id = 0;
	f.msg.from_node = 0;
	refused(a, &f);
	refused(a, (f = msg(a, sup, ACTOR_MSG_DOWN, ACTOR__WIRE_URGENT, 0), &f));
	refused(a, (f = msg(a, sup, ACTOR_MSG_RESERVED, 0, 0), &f));
	/* WHEREIS only as the name service's request or reply. */
	refused(a, (f = msg(a, sup, ACTOR_MSG_WHEREIS, 0, 0), &f));
	cr_assert_eq(actor_system_send(a, sup, ACTOR_MSG_EXIT, NULL, 0), 0);
	usleep(100 * 1000);
	cr_assert_eq(live(a), 2, "the supervisor or its child stopped");
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- request ids ------------------------------------------------------------------ */

static void request_ids(void)
{
	actor_system_t *a = node();
	actor_ref_t idle;
	struct actor__frame f;

	cr_assert_eq(actor_system_spawn(a, &idle_spec, NULL, &idle), 0);
	refused(a, (f = msg(a, idle, 1, ACTOR__WIRE_REQUEST, 0), &f));
	refused(a, (f = msg(a, idle, 1, ACTOR__WIRE_REPLY, 0), &f));
	refused(a, (f = msg(a, idle, 1, 0, 5), &f));
	refused(a, (f = msg(a, idle, 1, ACTOR__WIRE_REQUEST | ACTOR__WIRE_REPLY, 5), &f));
	/* A node speaks for itself only: (0, another node) is no sender. */
	f = msg(a, idle, 1, 0, 0);
	f.msg.from_id = 0;
	f.msg.from_node = 0x7417d;
	refused(a, &f);
	cr_assert_eq(live(a), 1);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- signals ---------------------------------------------------------------------- */

static struct actor__frame exit_signal(actor_system_t *s, actor_ref_t to, uint64_t ref_id,
				       uint32_t ref_node)
{
	struct actor__frame f = { .kind = ACTOR__F_SIGNAL };

	f.signal.op = ACTOR__SIG_EXIT;
	f.signal.to_id = to.id;
	f.signal.to_node = actor_node_id(s);
	f.signal.ref_id = ref_id;
	f.signal.ref_node = ref_node;
	f.signal.reason = ACTOR_EXIT_KILL;
	return f;
}

/* An EXIT in the name of an actor of a third node is refused; one from
 * the peer's own actor is obeyed. */
static void signal_refs(void)
{
	actor_system_t *a = node();
	actor_ref_t idle;
	struct actor__frame f;
	struct rawpeer *rp;

	cr_assert_eq(actor_system_spawn(a, &idle_spec, NULL, &idle), 0);
	refused(a, (f = exit_signal(a, idle, 9, 0x7417d), &f));
	refused(a, (f = exit_signal(a, idle, 9, actor_node_id(a)), &f));
	cr_assert_eq(live(a), 1);
	rp = peer(a);
	f = exit_signal(a, idle, 9, PEER);
	cr_assert(rawpeer_send(rp, &f));
	for (int i = 0; i < 5000 && live(a) > 0; i++)
		usleep(1000);
	cr_assert_eq(live(a), 0);
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- whereis ---------------------------------------------------------------------- */

/* Asks node s for name over rp: the reply's sender and decoded payload. */
static void whereis(actor_system_t *s, struct rawpeer *rp, const void *name, size_t len,
		    actor_ref_t *found)
{
	struct actor__frame f = msg(s, ACTOR_REF_NONE, ACTOR_MSG_WHEREIS, ACTOR__WIRE_REQUEST, 3);

	f.msg.payload = name;
	f.msg.size = len;
	cr_assert(rawpeer_send(rp, &f));
	cr_assert_eq(rawpeer_recv(rp, &f, 5000), 0);
	cr_assert_eq(f.kind, ACTOR__F_MSG);
	cr_assert_eq(f.msg.type, ACTOR_MSG_WHEREIS);
	cr_assert_eq(f.msg.flags, ACTOR__WIRE_REPLY);
	cr_assert_eq(f.msg.request_id, 3);
	cr_assert_eq(f.msg.to_id, 7);
	cr_assert_eq(f.msg.to_node, PEER);
	cr_assert_eq(f.msg.from_id, 0);
	cr_assert_eq(f.msg.from_node, actor_node_id(s), "the reply is not from (0, node)");
	*found = ACTOR_REF_NONE;
	cr_assert_eq(actor__frame_ref_decode(f.msg.payload, f.msg.size, &found->id, &found->node),
		     0, "the payload is not [id, node] (%zu bytes)", f.msg.size);
}

static void whereis_reply(void)
{
	actor_system_t *a = node();
	struct rawpeer *rp;
	actor_ref_t idle, found, local;

	cr_assert_eq(actor_system_spawn(a, &idle_spec, NULL, &idle), 0);
	cr_assert_eq(actor_register(a, "ec", idle), 0);
	rp = peer(a);
	whereis(a, rp, "ec", 2, &found);
	cr_assert_eq(found.id, idle.id);
	cr_assert_eq(found.node, actor_node_id(a));
	whereis(a, rp, "ec\0ho", 5, &found);	/* not "ec" */
	cr_assert(actor_ref_is_none(found));
	whereis(a, rp, "nobody", 6, &found);
	cr_assert(actor_ref_is_none(found));
	/* The local path decodes the same payload. */
	cr_assert_eq(actor_node_whereis(a, actor_node_id(a), "ec", 5 * SEC, &local), 0);
	cr_assert(actor_ref_equal(local, idle));
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- goodbye ---------------------------------------------------------------------- */

/* A half-close between frames is the way to leave: reported as reason 0. */
static void half_close(void)
{
	actor_system_t *a = node();
	struct rawpeer *rp = peer(a);

	cr_assert_eq(shutdown(rp->fd, SHUT_WR), 0);
	cr_assert(rawpeer_closed(rp, 5000));
	for (int i = 0; i < 5000 && atomic_load(&downs) == 0; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&downs), 1);
	cr_assert_eq(atomic_load(&down_reason), 0, "reported as %d", atomic_load(&down_reason));
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- virtual actors -------------------------------------------------------------- */

static void vecho(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_reply(ctx, m, 8, actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t vecho_spec = { .name = "vecho", .handler = vecho };

/* The next frame of kind `kind` from the node, skipping others (PINGs,
 * PROBEs). */
static void recv_kind(struct rawpeer *rp, uint32_t kind, struct actor__frame *f)
{
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(rawpeer_recv(rp, f, 5000), 0, "no frame of kind %u came", kind);
		if (getenv("ACTOR_TEST_VERBOSE") != NULL)
			fprintf(stderr, "raw peer: frame of kind %u%s\n", f->kind, f->kind == ACTOR__F_SIGNAL ? " (signal)" : "");
		if (f->kind == kind)
			return;
	}
	cr_assert_fail("no frame of kind %u among 100", kind);
}

static struct actor__frame vframe(const char *type, const char *key, uint32_t hops, uint32_t rid)
{
	struct actor__frame f = { .kind = ACTOR__F_VIRTUAL };

	f.virt.epoch = 2;
	f.virt.hops = hops;
	f.virt.name = type;
	f.virt.name_len = strlen(type);
	f.virt.key = key;
	f.virt.key_len = strlen(key);
	f.virt.from_id = 7;
	f.virt.from_node = MEMBER;
	f.virt.type = 1;
	f.virt.flags = rid != 0 ? ACTOR__WIRE_REQUEST : 0;
	f.virt.request_id = rid;
	f.virt.payload = "hi";
	f.virt.size = 2;
	return f;
}

static void expect_failed(struct rawpeer *rp, uint32_t rid, int err)
{
	struct actor__frame f;

	recv_kind(rp, ACTOR__F_SIGNAL, &f);
	cr_assert_eq(f.signal.op, ACTOR__SIG_FAILED);
	cr_assert_eq(f.signal.to_id, 7);
	cr_assert_eq(f.signal.to_node, MEMBER);
	cr_assert_eq(f.signal.request_id, rid);
	cr_assert_eq(f.signal.reason, err, "reason %d", f.signal.reason);
}

/*
 * VIRTUAL frames from a raw peer that joined the node's view (a JOIN,
 * hosting "echo"; its id is the highest, so the node coordinates and,
 * holding the lowest id of two, never fences): the owner answers; a
 * non-owner passes the frame on (here, back to the peer, the owner) with
 * one more hop, or past two hops fails the request with -ESTALE; a type
 * no member hosts fails with -ESRCH; a REQUEST without a request id
 * closes the connection.
 */
static void virtual_frames(void)
{
	actor_system_t *a = node();
	struct actor__virtual *v;
	struct actor__frame f, g;
	struct rawpeer *rp;
	char mine[8] = "", theirs[8] = "";
	uint64_t echo = actor__vtype_hash("echo", 4), epoch;

	cr_assert_eq(actor_virtual_register(a, "echo", &vecho_spec, NULL), 0);
	rp = rawpeer_connect((uint16_t)actor_node_port(a));
	cr_assert_not_null(rp);
	cr_assert_eq(rawpeer_handshake(rp, cookie, sizeof cookie - 1, MEMBER, "raw"), 0);
	f = (struct actor__frame){ .kind = ACTOR__F_JOIN };
	f.join = (struct actor__wire_member){ .node = MEMBER, .incarnation = 1, .name = "raw",
					      .name_len = 3, .host = "", .host_len = 0,
					      .ntypes = 1, .types = &echo };
	cr_assert(rawpeer_send(rp, &f));
	/* (Registering "echo" after the start may have made a view of its own.) */
	do
		recv_kind(rp, ACTOR__F_VIEW, &g);
	while (g.view.nmembers != 2);
	cr_assert_eq(actor_cluster_members(a, NULL, 0, &epoch), 2);
	cr_assert_eq(epoch, g.view.epoch);
	v = actor__virtual_of(a, false);
	for (int k = 0; k < 64 && (!mine[0] || !theirs[0]); k++) {
		char key[8];
		actor_ref_t r;

		snprintf(key, sizeof key, "k%d", k);
		cr_assert_eq(actor_virtual_ref(a, "echo", key, strlen(key), &r), 0);
		strcpy(actor__vplace(v, actor__vident_at(v, r.id)) == MEMBER ? theirs : mine, key);
	}
	cr_assert(mine[0] && theirs[0]);

	f = vframe("echo", mine, 2, 5);
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_MSG, &g);
	cr_assert_eq(g.msg.flags, ACTOR__WIRE_REPLY);
	cr_assert_eq(g.msg.request_id, 5);
	cr_assert_eq(g.msg.to_id, 7);
	cr_assert_eq(g.msg.size, 2);

	f = vframe("echo", theirs, 2, 6);
	cr_assert(rawpeer_send(rp, &f));
	expect_failed(rp, 6, -ESTALE);

	f = vframe("echo", theirs, 0, 0);
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_VIRTUAL, &g);
	cr_assert_eq(g.virt.hops, 1);
	cr_assert_eq(g.virt.epoch, epoch, "the node's view's epoch");
	cr_assert_eq(g.virt.key_len, strlen(theirs));
	cr_assert_eq(memcmp(g.virt.key, theirs, g.virt.key_len), 0);
	cr_assert_eq(g.virt.from_id, 7, "the original sender travels with it");

	f = vframe("nobody", "k", 0, 9);
	cr_assert(rawpeer_send(rp, &f));
	expect_failed(rp, 9, -ESRCH);
	rawpeer_close(rp);
	while (actor_node_is_up(a, MEMBER))
		usleep(1000);

	f = vframe("echo", mine, 0, 0);
	f.virt.flags = ACTOR__WIRE_REQUEST;
	refused(a, &f);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- membership ------------------------------------------------------------------ */

/* A VIEW's members' nodes, in order, into nodes (cap 4): their count. */
static uint32_t view_nodes(const struct actor__frame *f, uint32_t *nodes)
{
	const void *c = f->view.members_at;
	struct actor__wire_member m;

	for (uint32_t i = 0; i < f->view.nmembers && i < 4; i++) {
		c = actor__frame_view_member(f, c, &m);
		nodes[i] = m.node;
	}
	return f->view.nmembers;
}

/* A node alone answers PROBE with ACK and PULL with its view; admits a
 * JOIN (it started the cluster), probes its new member, and tells it the
 * view without it once it leaves. */
static void membership_frames(void)
{
	actor_system_t *a = node();
	struct rawpeer *rp = rawpeer_connect((uint16_t)actor_node_port(a));
	struct actor__frame f = { .kind = ACTOR__F_PROBE }, g;
	uint32_t nodes[4];
	uint64_t epoch;

	/* The highest id: the node stays the coordinator once it is joined. */
	cr_assert_not_null(rp);
	cr_assert_eq(rawpeer_handshake(rp, cookie, sizeof cookie - 1, MEMBER, "raw"), 0);
	f.probe.seq = 77;
	f.probe.epoch = 1;
	f.probe.digest = 0;
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_ACK, &g);
	cr_assert_eq(g.probe.seq, 77);
	cr_assert_eq(g.probe.epoch, 1);
	cr_assert_eq(g.probe.target, 0);

	f = (struct actor__frame){ .kind = ACTOR__F_PULL, .pull.epoch = 1 };
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_VIEW, &g);
	cr_assert_eq(g.view.epoch, 1);
	cr_assert_eq(view_nodes(&g, nodes), 1);
	cr_assert_eq(nodes[0], actor_node_id(a));
	cr_assert_eq(g.view.ndeparted, 0);

	f = (struct actor__frame){ .kind = ACTOR__F_JOIN };
	f.join = (struct actor__wire_member){ .node = MEMBER, .incarnation = 1, .name = "raw",
					      .name_len = 3, .host = "", .host_len = 0 };
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_VIEW, &g);
	cr_assert_eq(g.view.epoch, 2);
	cr_assert_eq(view_nodes(&g, nodes), 2);
	cr_assert_eq(nodes[1], MEMBER);
	cr_assert_eq(actor_cluster_members(a, NULL, 0, &epoch), 2);
	cr_assert_eq(epoch, 2);
	/* A member now: probed, no longer PINGed. */
	recv_kind(rp, ACTOR__F_PROBE, &g);
	cr_assert_eq(g.probe.epoch, 2);
	cr_assert_eq(g.probe.target, 0);

	f = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { MEMBER, 1 } };
	cr_assert(rawpeer_send(rp, &f));
	recv_kind(rp, ACTOR__F_VIEW, &g);
	cr_assert_eq(g.view.epoch, 3);
	cr_assert_eq(view_nodes(&g, nodes), 1);
	cr_assert_eq(nodes[0], actor_node_id(a));
	cr_assert_eq(g.view.ndeparted, 1);
	{
		struct actor__wire_departure d;

		actor__frame_view_departure(&g, g.view.departed_at, &d);
		cr_assert_eq(d.node, MEMBER);
		cr_assert_eq(d.cause, ACTOR__DEPART_LEFT);
	}
	cr_assert_eq(bad_frames(a), 0);
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* Sends body (len bytes) as one frame on a fresh connection: closed, and
 * counted. */
static void refused_raw(actor_system_t *s, const unsigned char *body, size_t len)
{
	uint64_t before = bad_frames(s);
	struct rawpeer *rp = peer(s);
	unsigned char prefix[ACTOR__FRAME_PREFIX];

	actor__frame_prefix(prefix, (uint32_t)len);
	cr_assert(rawpeer_write(rp, prefix, sizeof prefix));
	cr_assert(rawpeer_write(rp, body, len));
	cr_assert(rawpeer_closed(rp, 5000), "the node kept a connection that sent a bad frame");
	for (int i = 0; i < 5000 && bad_frames(s) == before; i++)
		usleep(1000);
	cr_assert_eq(bad_frames(s), before + 1);
	while (actor_node_is_up(s, PEER))
		usleep(1000);
	rawpeer_close(rp);
}

#define RAW(...) (const unsigned char[]){ __VA_ARGS__ }, sizeof((const unsigned char[]){ __VA_ARGS__ })

/* Malformed membership frames close the connection; the node goes on. */
static void membership_refused(void)
{
	actor_system_t *a = node();
	struct actor__frame f = { .kind = ACTOR__F_JOIN };

	/* VIEW [7, 1, 2, {5 ...}, {3 ...}, 0]: members not sorted. */
	refused_raw(a, RAW(0xdc, 0x00, 0x10, 0x07, 0x01, 0x02,
			   0x05, 0x01, 0xa1, 'a', 0xa0, 0x00, 0xc4, 0x00,
			   0x03, 0x01, 0xa1, 'b', 0xa0, 0x00, 0xc4, 0x00, 0x00));
	/* The same, sorted, but announcing 17 elements. */
	refused_raw(a, RAW(0xdc, 0x00, 0x11, 0x07, 0x01, 0x02,
			   0x03, 0x01, 0xa1, 'a', 0xa0, 0x00, 0xc4, 0x00,
			   0x05, 0x01, 0xa1, 'b', 0xa0, 0x00, 0xc4, 0x00, 0x00));
	/* PROBE with epoch 0; ACK of 4 elements; PULL as str; kind 13. */
	refused_raw(a, RAW(0x95, 0x09, 0x01, 0x00, 0x00, 0x00));
	refused_raw(a, RAW(0x94, 0x0a, 0x01, 0x01, 0x00));
	refused_raw(a, RAW(0x92, 0x0b, 0xa1, '1'));
	refused_raw(a, RAW(0x91, 0x0d));
	/* JOIN: a host without a port; types not a multiple of 8. */
	refused_raw(a, RAW(0x97, 0x08, 0x05, 0x01, 0xa1, 'a', 0xa1, 'h', 0x00, 0xc4, 0x00));
	refused_raw(a, RAW(0x97, 0x08, 0x05, 0x01, 0xa1, 'a', 0xa0, 0x00, 0xc4, 0x03, 1, 2, 3));
	/* A well-formed JOIN or LEAVE for another node, from a peer that is no
	 * member, is ignored (a member just removed may relay one). */
	{
		struct rawpeer *rp = peer(a);
		struct actor__frame g = { .kind = ACTOR__F_PULL, .pull.epoch = 1 };
		uint64_t before = bad_frames(a);

		f.join = (struct actor__wire_member){ .node = 0x1234, .incarnation = 1,
						      .name = "x", .name_len = 1 };
		cr_assert(rawpeer_send(rp, &f));
		f = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { 0x1234, 1 } };
		cr_assert(rawpeer_send(rp, &f));
		cr_assert(rawpeer_send(rp, &g));
		recv_kind(rp, ACTOR__F_VIEW, &g);
		cr_assert_eq(g.view.epoch, 1);
		cr_assert_eq(g.view.nmembers, 1);
		cr_assert_eq(bad_frames(a), before);
		rawpeer_close(rp);
	}
	cr_assert_eq(actor_cluster_members(a, NULL, 0, NULL), 1);
	actor_system_destroy(a);
	assert_no_leaks();
}

TestSuite(wire, .init = reset, .timeout = 60);

Test(wire, runtime_types_in_msg_refused) { runtime_types(); }
Test(wire, request_id_rules) { request_ids(); }
Test(wire, signal_ref_must_be_the_senders) { signal_refs(); }
Test(wire, whereis_reply_from_node_as_msgpack) { whereis_reply(); }
Test(wire, half_close_is_an_orderly_goodbye) { half_close(); }
Test(wire, virtual_frames_answered_forwarded_or_refused) { virtual_frames(); }
Test(wire, membership_frames_are_answered) { membership_frames(); }
Test(wire, bad_membership_frames_close_the_connection) { membership_refused(); }

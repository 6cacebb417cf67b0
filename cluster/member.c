/*
 * Membership (issue 14): the cluster's view, failure detection between
 * members, joins through seeds, graceful leaves and self-fencing. The
 * virtual-actor layer reads the views through cluster/view.h; the wire
 * frames are VIEW, JOIN, PROBE, ACK, PULL and LEAVE (cluster/wire.h,
 * libactor-protocol(7), "Membership").
 *
 * Views. A view is immutable once published: an epoch that only grows,
 * and its members sorted by node id, each with its incarnation, name,
 * listen address and the virtual types it hosts. The I/O thread publishes
 * a view by storing a pointer (seq_cst); readers on any thread load it
 * inside a read section, which is the peer table's (peer.c): the same two
 * counters, so a replaced view waits on the peers' retired lists' grace
 * period and is freed by actor__peers_reclaim. Views are ordered by
 * (epoch, digest), the digest a hash of the members: a node adopts any
 * view greater than its own that includes it or that a member of its own
 * view sent.
 * Each view also carries the takeover records of the members removed as
 * dead (view.h: when their keys may move, and the types they hosted), so
 * no reader ever sees a view without a dead member and without its record.
 *
 * Who decides. The coordinator is the member with the lowest node id that
 * this node does not hold dead: every member computes it from its view and
 * its own failure detector, with nothing more to agree on (ids are random,
 * so it is a random member, and it keeps no state that another member
 * lacks: a new coordinator just goes on). Only the coordinator changes the
 * view (joins, leaves, removals of the dead, a member's new types), and
 * only while it hears a quorum of the view (as for fencing below), so a
 * minority never makes views. It pushes each view to the members it is
 * connected to; the others learn it from the (epoch, digest) every PROBE
 * and ACK carries, and PULL it. This is not consensus: two members that
 * both take themselves for the coordinator (an asymmetric partition) can
 * publish different views of one epoch; the greater digest wins on every
 * node, and the loser's change is made again or lost (libactor-protocol(7)
 * says so).
 *
 * Failure detection (SWIM, with Lifeguard's distrust of its own stalls):
 * any frame from a member counts as hearing from it. Each member probes
 * every other once a probe interval; one silent for suspect_ns is
 * suspected, and up to two other members are asked to probe it (an ACK
 * relayed through them counts as hearing from it); one silent for dead_ns
 * is dead here: its connection is closed (what waits on it fails) and the
 * coordinator removes it. A dead (node, incarnation) never comes back: a
 * member removed while alive (a partition) learns it, and joins again as
 * (node, incarnation + 1), a new member of a later view; a restarted
 * process has a new node id anyway.
 *
 * Fencing. A member may run virtual turns (actor__view_may_run) while it
 * has heard, within fence_ns, from a quorum of its view: a majority, or
 * exactly half if that half holds the lowest id (Akka's keep-majority).
 * The I/O thread publishes the time at which it last had such a quorum;
 * readers compare it with the clock, so a process stopped (SIGSTOP) past
 * fence_ns is fenced the moment it runs again, before its I/O thread has
 * looked. Once fenced, only ACKs to PROBEs sent after the fence count:
 * frames that waited in buffers during a stall or a partition prove
 * nothing. A node that is not in its view (removed, or joining) or that
 * left is fenced; a one-member view never is.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "util/array.h"

#define TYPES_MAX ACTOR__MEMBER_TYPES_MAX
#define TAKEOVERS_MAX 1024		/* dead members a view remembers */
#define DEAD_INC_MAX 1024		/* dead incarnations remembered */
#define RELAYS_MAX 64			/* indirect probes relayed at once */
#define GONE_MAX 16			/* members gone whose seals may be awaited */
#define PENDING_MAX 256			/* joins and leaves before the coordinator acts */
#define HELPERS 2			/* members asked for indirect probes */
#define NEVER_FENCED UINT64_MAX		/* majority_at of a one-member view */

enum { M_JOINING, M_MEMBER, M_REMOVED, M_LEFT };

/* A member's fields besides view.h's. */
struct mentry {
	uint32_t incarnation;
	uint16_t port;
	char name[ACTOR__NODE_NAME_MAX + 1];
	char host[ACTOR__HOST_MAX + 1];
};

struct actor__mview {
	struct actor__view pub;		/* first: what actor__view_get returns */
	uint64_t digest;
	struct actor__view_member *members;
	struct mentry *entries;		/* parallel to members */
	uint64_t *types;		/* every member's, one block */
	/* Members removed as dead, when their keys may move (this node's
	 * clock), and the types they hosted (one block): pub.takeovers. */
	struct actor__view_takeover *dead;
	size_t ndead;
	uint64_t *dead_types;
	/* This epoch's removals, as the VIEW frame says them. */
	struct actor__wire_departure *departed;
	size_t ndeparted;
	struct actor__mview *retired_next;
};

/* A member being built into a view. */
struct draft {
	uint32_t node;
	struct mentry e;
	uint32_t ntypes;
	uint64_t types[TYPES_MAX];
};

struct seed {
	char host[ACTOR__HOST_MAX + 1];
	uint16_t port;
	uint32_t node;			/* learned from a handshake; 0: not yet */
	bool self;			/* it was this node */
	uint64_t dial_at, backoff;
};

/* Another member of the current view, as this node's detector sees it. */
struct mstate {
	uint32_t node;
	uint64_t heard;			/* directly, or through an indirect probe */
	uint64_t probed;		/* last PROBE sent */
	uint64_t acked;			/* highest seq it acknowledged */
	uint64_t suspect_at;		/* suspected since; 0: not */
	uint64_t asked_at;		/* indirect probes last asked for */
	uint64_t pushed_at;		/* our view last pushed to it */
	bool dead;			/* silent for dead_ns: down here */
	uint64_t dial_at, backoff;
	uint64_t sealed;		/* the latest epoch it said it sealed */
};

/* An indirect probe this node makes for requester. */
struct relay {
	uint32_t requester, target;
	uint64_t req_seq, our_seq, until;
};

/* A join (or an entry's update) or a leave waiting for the coordinator. */
struct pending {
	bool leave;
	struct draft m;			/* leave: node and e.incarnation only */
};

struct sub_cmd {
	actor_ref_t ref;
	bool add;
};

struct actor__membership {
	/* Any thread. */
	_Atomic(struct actor__mview *) view;
	_Atomic uint64_t majority_at;	/* see actor__view_may_run */
	_Atomic bool types_changed;
	_Atomic bool sealed_changed;	/* actor__member_sealed */
	_Atomic uint64_t handover_until; /* see actor__view_handover_until */
	_Atomic bool stopping;
	uint64_t fence_ns;

	/* Under n->lock: commands from other threads. */
	bool start_requested, started, installed, told, leave_requested, left;
	struct sub_cmd *cmds;
	size_t ncmds, cmds_cap;

	/* The I/O thread's. */
	uint32_t self;
	int state;
	bool announced;			/* the first view told to the virtual layer */
	bool leaving;
	uint32_t incarnation;
	char host[ACTOR__HOST_MAX + 1];	/* advertised; "" with port 0: not dialable */
	uint16_t port;
	struct seed *seeds;
	size_t nseeds;
	uint64_t probe_ns, suspect_ns, dead_ns, margin_ns;
	uint64_t dial_min, dial_max;
	struct mstate *ms;		/* the view's members but this node, by node */
	size_t nms;
	uint64_t seq;			/* of the last PROBE sent */
	bool fenced;
	uint64_t fence_seq;		/* ACKs from this seq on count after a fence */
	bool quorum;			/* may change the view */
	uint64_t behind_epoch, behind_digest, behind_since, pulled_at;
	uint32_t behind_from;
	uint64_t last_tick;
	uint64_t gained_epoch;		/* a live handover to wait for; 0: none */
	uint64_t left_epoch;		/* the view this node left in, until told */
	struct {
		uint32_t node;
		uint64_t awaited;	/* the epoch it left in, while waited for */
		uint64_t sealed;
	} gone[GONE_MAX];		/* latest members that left the view */
	size_t gone_next;
	uint64_t join_sent_at, leave_sent_at, update_sent_at;
	uint32_t ntypes;		/* this node's hosted types now */
	uint64_t types[TYPES_MAX];
	struct relay relays[RELAYS_MAX];
	size_t nrelays;
	struct pending *pending;
	size_t npending, pending_cap;
	struct {
		uint32_t node, incarnation;
	} dead_inc[DEAD_INC_MAX];
	size_t ndead_inc, dead_inc_next;
	actor_ref_t *subs;
	size_t nsubs, subs_cap;
};

_Atomic(actor__types_hook_t) actor__member_types_hook;
_Atomic(actor__view_hook_t) actor__member_view_hook;

/* The virtual layer's side, or the tests' hooks. */
static size_t virtual_types(struct actor_system *sys, uint64_t *out, size_t cap)
{
	actor__types_hook_t hook = atomic_load_explicit(&actor__member_types_hook,
							memory_order_acquire);

	return hook != NULL ? hook(sys, out, cap) : actor__virtual_local_types(sys, out, cap);
}

static void view_changed(struct actor_system *sys, const struct actor__view *old,
			 const struct actor__view *now)
{
	actor__view_hook_t hook = atomic_load_explicit(&actor__member_view_hook,
						       memory_order_acquire);

	actor__virtual_view_changed(sys, old, now);
	if (hook != NULL)
		hook(sys, old, now);
}

/* --- views ------------------------------------------------------------------ */

static struct actor__mview *view_now(const struct actor__node *n)
{
	return atomic_load_explicit(&n->member->view, memory_order_seq_cst);
}

/* The index of node in v, or -1. */
static long view_find(const struct actor__mview *v, uint32_t node)
{
	size_t lo = 0, hi = v->pub.nmembers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->members[mid].node == node)
			return (long)mid;
		if (v->members[mid].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void actor__view_free(struct actor__mview *v)
{
	if (v == NULL)
		return;
	free(v->members);
	free(v->entries);
	free(v->types);
	free(v->dead);
	free(v->dead_types);
	free(v->departed);
	free(v);
}

struct actor__mview *actor__view_retired_next(const struct actor__mview *v)
{
	return v->retired_next;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char be[8];

	for (int k = 7; k >= 0; k--, v >>= 8)
		be[k] = (unsigned char)v;
	return fnv(h, be, sizeof be);
}

/* A hash of the members' fields, the same on every node for the same members. */
static uint64_t digest_of(const struct draft *d, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h = fnv_u64(h, d[i].node);
		h = fnv_u64(h, d[i].e.incarnation);
		h = fnv_u64(h, d[i].e.port);
		h = fnv_u64(h, strlen(d[i].e.name));
		h = fnv(h, d[i].e.name, strlen(d[i].e.name));
		h = fnv_u64(h, strlen(d[i].e.host));
		h = fnv(h, d[i].e.host, strlen(d[i].e.host));
		h = fnv_u64(h, d[i].ntypes);
		for (size_t k = 0; k < d[i].ntypes; k++)
			h = fnv_u64(h, d[i].types[k]);
	}
	return h;
}

static int draft_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct draft *)a)->node, y = ((const struct draft *)b)->node;

	return x < y ? -1 : x > y;
}

/* The members of v as drafts (an array of v's size); NULL on ENOMEM. */
static struct draft *drafts_of(const struct actor__mview *v, size_t extra)
{
	struct draft *d = calloc(v->pub.nmembers + extra, sizeof(*d));

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < v->pub.nmembers; i++) {
		d[i].node = v->members[i].node;
		d[i].e = v->entries[i];
		d[i].ntypes = v->members[i].ntypes;
		memcpy(d[i].types, v->members[i].types, d[i].ntypes * sizeof(uint64_t));
	}
	return d;
}

/* Where node is in d: its index, or SIZE_MAX. */
static size_t draft_find(const struct draft *d, size_t n, uint32_t node)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].node == node)
			return i;
	return SIZE_MAX;
}

/* Records node's takeover time in v, with a copy of its types (v's block
 * was sized for every record it can get). */
static void takeover_add(struct actor__mview *v, size_t cap, size_t *ntypes, uint32_t node,
			 uint64_t at, const uint64_t *types, uint32_t nt)
{
	struct actor__view_takeover *t = v->dead;
	uint64_t *copy = v->dead_types + *ntypes;

	memcpy(copy, types, nt * sizeof(*copy));
	*ntypes += nt;
	for (size_t i = 0; i < v->ndead; i++)
		if (t[i].node == node) {
			t[i] = (struct actor__view_takeover){ node, nt, copy, at };
			return;
		}
	if (v->ndead == cap) {	/* the one due first goes */
		size_t k = 0;

		for (size_t i = 1; i < v->ndead; i++)
			if (t[i].at < t[k].at)
				k = i;
		t[k] = t[--v->ndead];
	}
	t[v->ndead++] = (struct actor__view_takeover){ node, nt, copy, at };
}

/*
 * A view of the n drafts d (sorted here), epoch, with dep as this epoch's
 * removals. Its takeover times: prev's still to come, plus now + margin
 * for each member of prev that d lacks and that did not leave (declared
 * dead, or gone in an epoch this node never saw: taken as dead). NULL on
 * ENOMEM.
 */
static struct actor__mview *view_make(struct draft *d, size_t n, uint64_t epoch,
				      const struct actor__wire_departure *dep, size_t ndep,
				      const struct actor__mview *prev, uint64_t now, uint64_t margin)
{
	struct actor__mview *v = calloc(1, sizeof(*v));
	size_t ntypes = 0, k = 0, ndead = prev != NULL ? prev->ndead + prev->pub.nmembers : 0;
	size_t dtypes = 0, dtypes_used = 0;

	if (v == NULL)
		return NULL;
	if (ndead > TAKEOVERS_MAX)
		ndead = TAKEOVERS_MAX;
	qsort(d, n, sizeof(*d), draft_cmp);
	for (size_t i = 0; i < n; i++)
		ntypes += d[i].ntypes;
	v->members = calloc(n ? n : 1, sizeof(*v->members));
	v->entries = calloc(n ? n : 1, sizeof(*v->entries));
	v->types = calloc(ntypes ? ntypes : 1, sizeof(uint64_t));
	v->dead = calloc(ndead ? ndead : 1, sizeof(*v->dead));
	for (size_t i = 0; prev != NULL && i < prev->ndead; i++)
		dtypes += prev->dead[i].ntypes;
	for (size_t i = 0; prev != NULL && i < prev->pub.nmembers; i++)
		dtypes += prev->members[i].ntypes;
	v->dead_types = calloc(dtypes ? dtypes : 1, sizeof(uint64_t));
	v->departed = calloc(ndep ? ndep : 1, sizeof(*v->departed));
	if (v->members == NULL || v->entries == NULL || v->types == NULL || v->dead == NULL ||
	    v->dead_types == NULL || v->departed == NULL) {
		actor__view_free(v);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(v->types + k, d[i].types, d[i].ntypes * sizeof(uint64_t));
		v->members[i] = (struct actor__view_member){ d[i].node, d[i].ntypes, v->types + k };
		v->entries[i] = d[i].e;
		k += d[i].ntypes;
	}
	v->pub.epoch = epoch;
	v->pub.nmembers = (uint32_t)n;
	v->pub.members = v->members;
	v->digest = digest_of(d, n);
	if (ndep > 0)
		memcpy(v->departed, dep, ndep * sizeof(*dep));
	v->ndeparted = ndep;
	if (prev != NULL) {
		for (size_t i = 0; i < prev->ndead; i++)
			if ((int64_t)(prev->dead[i].at - now) > 0 &&
			    draft_find(d, n, prev->dead[i].node) == SIZE_MAX)
				takeover_add(v, ndead, &dtypes_used, prev->dead[i].node,
					     prev->dead[i].at, prev->dead[i].types,
					     prev->dead[i].ntypes);
		for (size_t i = 0; i < prev->pub.nmembers; i++) {
			uint32_t node = prev->members[i].node;
			bool left = false;

			for (size_t j = 0; j < ndep; j++)
				left |= dep[j].node == node && dep[j].cause == ACTOR__DEPART_LEFT;
			if (draft_find(d, n, node) == SIZE_MAX && !left)
				takeover_add(v, ndead, &dtypes_used, node, now + margin,
					     prev->members[i].types, prev->members[i].ntypes);
		}
	}
	v->pub.ntakeovers = (uint32_t)v->ndead;
	v->pub.takeovers = v->dead;
	return v;
}

static bool newer(uint64_t e1, uint64_t d1, uint64_t e2, uint64_t d2)
{
	return e1 > e2 || (e1 == e2 && d1 > d2);
}

/* A quorum of a view of total members: count of them heard, has_lowest
 * whether the one with the lowest id is among them. */
static bool quorum_of(size_t total, size_t count, bool has_lowest)
{
	return 2 * count > total || (2 * count == total && has_lowest);
}

/* --- this node's entry ------------------------------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Asks the virtual layer for this system's types, sorted, unique. */
static void local_types(struct actor__node *n)
{
	struct actor__membership *m = n->member;
	uint64_t t[TYPES_MAX];
	size_t k = virtual_types(n->sys, t, TYPES_MAX), j = 0;

	if (k > TYPES_MAX) {
		actor__node_log(n, "hosts %zu virtual types; a member entry holds %d: the rest are not placed here",
				k, TYPES_MAX);
		k = TYPES_MAX;
	}
	qsort(t, k, sizeof(t[0]), u64_cmp);
	for (size_t i = 0; i < k; i++)
		if (j == 0 || t[i] != t[j - 1])
			t[j++] = t[i];
	memcpy(m->types, t, j * sizeof(t[0]));
	m->ntypes = (uint32_t)j;
}

/* This node's entry as it wants it in the view. */
static void self_draft(const struct actor__node *n, struct draft *d)
{
	const struct actor__membership *m = n->member;

	memset(d, 0, sizeof(*d));
	d->node = m->self;
	d->e.incarnation = m->incarnation;
	d->e.port = m->port;
	snprintf(d->e.name, sizeof d->e.name, "%s", n->cfg.name);
	snprintf(d->e.host, sizeof d->e.host, "%s", m->host);
	d->ntypes = m->ntypes;
	memcpy(d->types, m->types, m->ntypes * sizeof(uint64_t));
}

static bool same_entry(const struct draft *a, const struct draft *b)
{
	return a->node == b->node && a->e.incarnation == b->e.incarnation &&
	       a->e.port == b->e.port && strcmp(a->e.name, b->e.name) == 0 &&
	       strcmp(a->e.host, b->e.host) == 0 && a->ntypes == b->ntypes &&
	       memcmp(a->types, b->types, a->ntypes * sizeof(uint64_t)) == 0;
}

/* --- frames ------------------------------------------------------------------ */

static void wire_of(const struct draft *d, struct actor__wire_member *w)
{
	*w = (struct actor__wire_member){
		.node = d->node, .incarnation = d->e.incarnation, .port = d->e.port,
		.name = d->e.name, .name_len = strlen(d->e.name), .host = d->e.host,
		.host_len = strlen(d->e.host), .ntypes = d->ntypes, .types = d->types,
	};
}

static void draft_of_wire(const struct actor__wire_member *w, struct draft *d)
{
	memset(d, 0, sizeof(*d));
	d->node = w->node;
	d->e.incarnation = w->incarnation;
	d->e.port = w->port;
	memcpy(d->e.name, w->name, w->name_len);
	if (w->host_len > 0)
		memcpy(d->e.host, w->host, w->host_len);
	d->ntypes = w->ntypes;
	for (size_t i = 0; i < w->ntypes; i++)
		d->types[i] = actor__wire_type(w, i);
}

static bool up(const struct actor__peer *p)
{
	return p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed) && p->conn != NULL;
}

static void send_to(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f)
{
	if (up(p))
		actor__node_send_now(n, p->conn, f);
}

static void send_view(struct actor__node *n, struct actor__peer *p)
{
	const struct actor__mview *v = view_now(n);
	struct actor__wire_member *w;
	struct actor__frame f = { .kind = ACTOR__F_VIEW };

	if (!up(p) || (w = calloc(v->pub.nmembers, sizeof(*w))) == NULL)
		return;
	for (size_t i = 0; i < v->pub.nmembers; i++)
		w[i] = (struct actor__wire_member){
			.node = v->members[i].node, .incarnation = v->entries[i].incarnation,
			.port = v->entries[i].port, .name = v->entries[i].name,
			.name_len = strlen(v->entries[i].name), .host = v->entries[i].host,
			.host_len = strlen(v->entries[i].host), .ntypes = v->members[i].ntypes,
			.types = v->members[i].types,
		};
	f.view.epoch = v->pub.epoch;
	f.view.nmembers = v->pub.nmembers;
	f.view.members = w;
	f.view.ndeparted = (uint32_t)v->ndeparted;
	f.view.departed = v->departed;
	if (actor__frame_max(&f) - ACTOR__FRAME_PREFIX > n->cfg.max_frame)
		actor__node_log_limited(n, "view %" PRIu64 " (%u members) is larger than max_frame: not sent to node %08x",
					v->pub.epoch, v->pub.nmembers, p->node);
	else
		actor__node_send_now(n, p->conn, &f);
	free(w);
}

/* A PROBE to p (for target, or 0): its seq. */
static uint64_t send_probe(struct actor__node *n, struct actor__peer *p, uint32_t target)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct actor__frame f = { .kind = ACTOR__F_PROBE };

	f.probe.seq = ++m->seq;
	f.probe.epoch = v->pub.epoch;
	f.probe.digest = v->digest;
	f.probe.target = target;
	f.probe.sealed = actor__virtual_sealed_epoch(n->sys, v->pub.epoch);
	send_to(n, p, &f);
	return f.probe.seq;
}

static void send_ack(struct actor__node *n, struct actor__peer *p, uint64_t seq, uint32_t target)
{
	const struct actor__mview *v = view_now(n);
	struct actor__frame f = { .kind = ACTOR__F_ACK };

	f.probe.seq = seq;
	f.probe.epoch = v->pub.epoch;
	f.probe.digest = v->digest;
	f.probe.target = target;
	f.probe.sealed = actor__virtual_sealed_epoch(n->sys, v->pub.epoch);
	send_to(n, p, &f);
}

static void send_join(struct actor__node *n, struct actor__peer *p, const struct draft *d)
{
	struct actor__frame f = { .kind = ACTOR__F_JOIN };

	wire_of(d, &f.join);
	send_to(n, p, &f);
}

static void send_leave(struct actor__node *n, struct actor__peer *p, uint32_t node,
		       uint32_t incarnation)
{
	struct actor__frame f = { .kind = ACTOR__F_LEAVE };

	f.leave.node = node;
	f.leave.incarnation = incarnation;
	send_to(n, p, &f);
}

/* --- events ------------------------------------------------------------------ */

static void member_of(const struct actor__mview *v, size_t i, actor_member_t *out)
{
	memset(out, 0, sizeof(*out));
	out->node = v->members[i].node;
	out->incarnation = v->entries[i].incarnation;
	out->port = v->entries[i].port;
	memcpy(out->name, v->entries[i].name, sizeof out->name);
	memcpy(out->host, v->entries[i].host, sizeof out->host);
}

static void tell_one(struct actor__node *n, actor_ref_t to, const actor_member_event_t *ev)
{
	struct actor__env *e = actor__env_make(n->pool, ACTOR_REF_NONE, ACTOR_MSG_MEMBER, ev,
					       sizeof(*ev), 0, 0);

	if (e != NULL && actor__deliver(n->sys, NULL, to, e) == -ESRCH) {
		struct actor__membership *m = n->member;

		for (size_t i = 0; i < m->nsubs; i++)
			if (actor_ref_equal(m->subs[i], to)) {
				m->subs[i] = m->subs[--m->nsubs];
				break;
			}
	}
}

static void tell(struct actor__node *n, int kind, uint64_t epoch, const actor_member_t *who)
{
	struct actor__membership *m = n->member;
	actor_member_event_t ev = { .kind = kind, .epoch = epoch, .member = *who };

	if (n->cfg.member_event != NULL)
		n->cfg.member_event(n->cfg.member_event_arg, &ev);
	for (size_t i = m->nsubs; i-- > 0;)
		tell_one(n, m->subs[i], &ev);
}

static void tell_self(struct actor__node *n, int kind)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct draft d;
	actor_member_t me;

	self_draft(n, &d);
	memset(&me, 0, sizeof(me));
	me.node = m->self;
	me.incarnation = m->incarnation;
	me.port = m->port;
	memcpy(me.name, d.e.name, sizeof me.name);
	memcpy(me.host, d.e.host, sizeof me.host);
	tell(n, kind, v->pub.epoch, &me);
}

/* --- the detector's state ------------------------------------------------------ */

static struct mstate *ms_find(struct actor__membership *m, uint32_t node)
{
	size_t lo = 0, hi = m->nms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->ms[mid].node == node)
			return &m->ms[mid];
		if (m->ms[mid].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The detector's state for v's members: kept for those that stay, fresh
 * (heard now) for the new ones. false on ENOMEM (the old one stays). */
static bool ms_rebuild(struct actor__node *n, const struct actor__mview *v, uint64_t now)
{
	struct actor__membership *m = n->member;
	struct mstate *ms = calloc(v->pub.nmembers, sizeof(*ms));
	size_t k = 0;

	if (ms == NULL)
		return false;
	for (size_t i = 0; i < v->pub.nmembers; i++) {
		uint32_t node = v->members[i].node;
		struct mstate *old = ms_find(m, node);

		if (node == m->self)
			continue;
		if (old != NULL)
			ms[k] = *old;
		else
			ms[k] = (struct mstate){ .node = node, .heard = now };
		k++;
	}
	/* Members gone: what they said they sealed, for live handovers. */
	for (size_t i = 0; i < m->nms; i++)
		if (view_find(v, m->ms[i].node) < 0) {
			size_t g = m->gone_next++ % GONE_MAX;

			m->gone[g].node = m->ms[i].node;
			m->gone[g].awaited = 0;
			m->gone[g].sealed = m->ms[i].sealed;
		}
	free(m->ms);
	m->ms = ms;
	m->nms = k;
	return true;
}

static uint64_t heard_of(struct actor__node *n, const struct mstate *s)
{
	struct actor__peer *p = actor__peer_find(n, s->node);

	return p != NULL && (int64_t)(p->last_heard - s->heard) > 0 ? p->last_heard : s->heard;
}

/* The coordinator: the lowest member not dead here; 0 when this node is
 * not a member. */
static uint32_t coordinator(struct actor__node *n)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);

	if (m->state != M_MEMBER)
		return 0;
	for (size_t i = 0; i < v->pub.nmembers; i++) {
		uint32_t node = v->members[i].node;
		const struct mstate *s = ms_find(m, node);

		if (node == m->self || (s != NULL && !s->dead))
			return node;
	}
	return m->self;
}

/* --- fencing ------------------------------------------------------------------ */

static void publish_majority(struct actor__membership *m, uint64_t at)
{
	atomic_store_explicit(&m->majority_at, at, memory_order_release);
}

static void fence(struct actor__node *n, uint64_t now, const char *cause)
{
	struct actor__membership *m = n->member;

	publish_majority(m, 0);
	if (m->fenced)
		return;
	m->fenced = true;
	m->quorum = false;
	m->fence_seq = m->seq + 1;
	actor__node_log(n, "fenced: %s%s", cause,
			m->state == M_MEMBER ? "; no virtual actor runs here until a quorum answers" : "");
	tell_self(n, ACTOR_MEMBER_FENCED);
	actor__virtual_fenced(n->sys);
	/* Probes now, whose ACKs are the only ones that count from here. */
	for (size_t i = 0; i < m->nms; i++) {
		struct actor__peer *p = actor__peer_find(n, m->ms[i].node);

		if (up(p)) {
			send_probe(n, p, 0);
			m->ms[i].probed = now;
		}
	}
}

static void unfence(struct actor__node *n, uint64_t at, const char *cause)
{
	struct actor__membership *m = n->member;

	publish_majority(m, at);
	m->quorum = true;
	if (!m->fenced)
		return;
	m->fenced = false;
	actor__node_log(n, "unfenced: %s", cause);
	tell_self(n, ACTOR_MEMBER_UNFENCED);
}

static int u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x > y ? -1 : x < y;
}

/*
 * Whether this node may run virtual turns, as the clock and the detector
 * say now: publishes majority_at and sets m->quorum, fencing or unfencing
 * with a logged cause.
 */
static void fence_update(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	size_t total = v->pub.nmembers, count = 1;
	uint32_t lowest = v->members[0].node;
	bool has_lowest = lowest == m->self;
	char cause[160];
	uint64_t *t, t_maj = 0, t_low = 0;

	if (m->state == M_LEFT || m->state == M_JOINING || m->state == M_REMOVED) {
		fence(n, now, m->state == M_LEFT    ? "this node left the cluster" :
			      m->state == M_JOINING ? "not a member yet (joining through its seeds)" :
						      "removed from the view (declared dead): joining again");
		return;
	}
	if (total == 1) {
		unfence(n, NEVER_FENCED, "alone in its view");
		return;
	}
	if (m->behind_since != 0 && now - m->behind_since > m->probe_ns) {
		snprintf(cause, sizeof cause, "its view %" PRIu64 " is behind epoch %" PRIu64 " and the newer one has not come",
			 v->pub.epoch, m->behind_epoch);
		fence(n, now, cause);
		return;
	}
	if (m->fenced) {
		for (size_t i = 0; i < m->nms; i++)
			if (m->ms[i].acked >= m->fence_seq) {
				count++;
				has_lowest |= m->ms[i].node == lowest;
			}
		if (quorum_of(total, count, has_lowest) && m->behind_since == 0) {
			snprintf(cause, sizeof cause, "%zu of %zu members (itself included) answered probes sent after the fence",
				 count, total);
			unfence(n, now, cause);
		} else {
			publish_majority(m, 0);
		}
		return;
	}
	/* The latest time by which a quorum had been heard from. */
	if ((t = malloc(total * sizeof(*t))) == NULL)
		return;
	t[0] = now;
	for (size_t i = 0; i < m->nms; i++)
		t[i + 1] = heard_of(n, &m->ms[i]);
	qsort(t, m->nms + 1, sizeof(*t), u64_desc);
	if (lowest != m->self && ms_find(m, lowest) != NULL)
		t_low = heard_of(n, ms_find(m, lowest));
	for (size_t k = 1; k <= m->nms + 1; k++) {
		/* The set heard at or after t[k - 1], and the lowest in it. */
		if (quorum_of(total, k, lowest == m->self || t_low >= t[k - 1])) {
			t_maj = t[k - 1];
			break;
		}
	}
	free(t);
	if (t_maj != 0 && now - t_maj < m->fence_ns) {
		unfence(n, t_maj, "");
		return;
	}
	for (size_t i = 0; i < m->nms; i++)
		if (now - heard_of(n, &m->ms[i]) < m->fence_ns)
			count++;
	snprintf(cause, sizeof cause, "heard from %zu of %zu members (itself included) within %" PRIu64 " ms",
		 count, total, m->fence_ns / 1000000);
	fence(n, now, cause);
}

/* Whether the I/O thread was held up since its last tick (SIGSTOP, a
 * pause of the machine): longer than a probe interval and a few ticks. */
static bool stalled(const struct actor__node *n, uint64_t now)
{
	const struct actor__membership *m = n->member;
	uint64_t gap = now - m->last_tick;

	return m->last_tick != 0 && gap > m->probe_ns && gap > 4 * actor__member_tick_ns(&n->cfg);
}

void actor__member_stall_check(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	uint64_t t = atomic_load_explicit(&m->majority_at, memory_order_relaxed);
	char cause[160];

	if (!m->announced || atomic_load_explicit(&m->stopping, memory_order_relaxed) ||
	    m->fenced || t == NEVER_FENCED || t == 0 || now - t < m->fence_ns ||
	    !stalled(n, now))
		return;
	/* Before the peers' heartbeats read the frames that waited in
	 * buffers during the stall: they prove nothing about now. */
	snprintf(cause, sizeof cause, "no quorum heard for %" PRIu64 " ms: this node stalled for %" PRIu64 " ms",
		 (now - t) / 1000000, (now - m->last_tick) / 1000000);
	fence(n, now, cause);
}

/* --- installing a view --------------------------------------------------------- */

static void dead_inc_add(struct actor__membership *m, uint32_t node, uint32_t incarnation)
{
	m->dead_inc[m->dead_inc_next].node = node;
	m->dead_inc[m->dead_inc_next].incarnation = incarnation;
	m->dead_inc_next = (m->dead_inc_next + 1) % DEAD_INC_MAX;
	if (m->ndead_inc < DEAD_INC_MAX)
		m->ndead_inc++;
}

/* The highest incarnation of node declared dead, or 0. */
static uint32_t dead_inc_of(const struct actor__membership *m, uint32_t node)
{
	uint32_t inc = 0;

	for (size_t i = 0; i < m->ndead_inc; i++)
		if (m->dead_inc[i].node == node && m->dead_inc[i].incarnation > inc)
			inc = m->dead_inc[i].incarnation;
	return inc;
}

static void left_done(struct actor__node *n)
{
	pthread_mutex_lock(&n->lock);
	n->member->left = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

/*
 * Publishes v (this node's new view), retires the old one after telling
 * the virtual layer, and does what the change asks: this node's state, the
 * detector's, connections to members removed as dead, probes to new ones,
 * events and the log line (cause).
 */
/*
 * Mail to a member whose connection is not up waits for it (peer.c, "Held
 * peers"): every other member of the view is held, but one dead here, and
 * none once this node has left (it dials no one then); members gone from
 * the view are released, which fails what waited for them.
 */
static void hold(struct actor__node *n, uint32_t node)
{
	struct actor__membership *m = n->member;
	const struct mstate *s = ms_find(m, node);

	actor__peer_hold(n, node, m->state != M_LEFT && s != NULL && !s->dead);
}

static void holds(struct actor__node *n, const struct actor__mview *old,
		  const struct actor__mview *v)
{
	for (size_t i = 0; i < old->pub.nmembers; i++)
		if (old->members[i].node != n->member->self && view_find(v, old->members[i].node) < 0)
			actor__peer_hold(n, old->members[i].node, false);
	for (size_t i = 0; i < v->pub.nmembers; i++)
		if (v->members[i].node != n->member->self)
			hold(n, v->members[i].node);
}

static void dials(struct actor__node *n, uint64_t now);

/* --- live handovers --------------------------------------------------------------- */

/*
 * With rendezvous hashing, keys move between live members only to one that
 * joins (or rejoins, or hosts a new type), and from one that leaves; the
 * old owners seal what they lose when they install the view. A gaining
 * node holds its new activations (actor__view_handover_until) until every
 * other member, and a member that left in that view, has reported in a
 * PROBE or ACK that it sealed that view, so that a key is never active on
 * its old and its new owner at once; one that never reports is waited for
 * until the takeover margin. A leaving node reports before
 * actor_cluster_leave() returns.
 */
static void handover_check(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	uint64_t until = atomic_load_explicit(&m->handover_until, memory_order_relaxed);
	bool late = (int64_t)(now - until) >= 0;

	if (m->gained_epoch == 0)
		return;
	for (size_t i = 0; i < m->nms && !late; i++)
		if (m->ms[i].sealed < m->gained_epoch)
			return;
	for (size_t i = 0; i < GONE_MAX && !late; i++)
		if (m->gone[i].awaited != 0 && m->gone[i].sealed < m->gone[i].awaited)
			return;
	for (size_t i = 0; i < GONE_MAX; i++)
		m->gone[i].awaited = 0;
	if (late)
		actor__node_log(n, "view %" PRIu64 ": not every member said it sealed the keys this node "
				"gained within the takeover margin; activating them anyway", m->gained_epoch);
	m->gained_epoch = 0;
	atomic_store_explicit(&m->handover_until, 0, memory_order_release);
	actor__virtual_handover_done(n->sys);
}

/* Whether every type in a (sorted) is in b (sorted). */
static bool types_within(const struct actor__view_member *a, const struct actor__view_member *b)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < a->ntypes; i++) {
		while (j < b->ntypes && b->types[j] < a->types[i])
			j++;
		if (j == b->ntypes || b->types[j] != a->types[i])
			return false;
	}
	return true;
}

/* Before v is published (this node was in state `was`): whether it gains
 * keys that live members held; if so, its new activations wait for their
 * seals (handover_check, once v is installed, says when they may go). */
static void handover_begin(struct actor__node *n, const struct actor__mview *old,
			   const struct actor__mview *v, int was, uint64_t now)
{
	struct actor__membership *m = n->member;
	long me = view_find(v, m->self), before = view_find(old, m->self);
	bool gained = me >= 0 && v->pub.nmembers > 1 &&
		      (was != M_MEMBER || before < 0 ||
		       !types_within(&v->members[me], &old->members[before]));

	/* Members that left in v (ms_rebuild noted them as gone): their
	 * keys come to the others. */
	for (size_t i = 0; me >= 0 && i < v->ndeparted; i++) {
		uint32_t node = v->departed[i].node;

		if (v->departed[i].cause != ACTOR__DEPART_LEFT || node == m->self ||
		    view_find(old, node) < 0)
			continue;
		for (size_t k = 1; k <= GONE_MAX; k++) {
			size_t g = (m->gone_next - k) % GONE_MAX;

			if (m->gone[g].node == node) {
				m->gone[g].awaited = v->pub.epoch;
				gained = true;
				break;
			}
		}
	}
	if (gained) {
		m->gained_epoch = v->pub.epoch;
		atomic_store_explicit(&m->handover_until, now + m->margin_ns, memory_order_seq_cst);
	}
}

/* This node left in view left_epoch: once its seals of it have ended, it
 * tells the members (they wait for that before they activate its keys),
 * then actor_cluster_leave() returns. */
static void left_check(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;

	if (m->left_epoch == 0 ||
	    actor__virtual_sealed_epoch(n->sys, m->left_epoch) < m->left_epoch)
		return;
	for (size_t i = 0; i < m->nms; i++) {
		struct actor__peer *p = actor__peer_find(n, m->ms[i].node);

		if (up(p)) {
			send_probe(n, p, 0);
			m->ms[i].probed = now;
		}
	}
	m->left_epoch = 0;
	left_done(n);
}

/* A member's PROBE or ACK said it sealed up to `sealed`. */
static void note_sealed(struct actor__node *n, struct actor__peer *p, uint64_t sealed, uint64_t now)
{
	struct actor__membership *m = n->member;
	struct mstate *s = ms_find(m, p->node);

	if (s != NULL) {
		if (sealed > s->sealed)
			s->sealed = sealed;
	} else {
		for (size_t k = 1; k <= GONE_MAX; k++) {
			size_t g = (m->gone_next - k) % GONE_MAX;

			if (m->gone[g].node == p->node) {
				if (sealed > m->gone[g].sealed)
					m->gone[g].sealed = sealed;
				break;
			}
		}
	}
	handover_check(n, now);
}

static void install(struct actor__node *n, struct actor__mview *v, const char *cause)
{
	struct actor__membership *m = n->member;
	struct actor__mview *old = view_now(n);
	uint64_t now = actor__now_ns();
	long me = view_find(v, m->self);
	char line[512];
	size_t k;
	int was = m->state;

	ms_rebuild(n, v, now);
	/* New members are held before any thread can see them in the view:
	 * mail to one must find its peer held, not unreachable (holds()
	 * below settles the rest once this node's standing is known). */
	for (size_t i = 0; i < v->pub.nmembers; i++)
		if (v->members[i].node != m->self && view_find(old, v->members[i].node) < 0)
			hold(n, v->members[i].node);
	/* Before the view: no thread may place a key here under v and find
	 * the handover it waits for not yet published. */
	handover_begin(n, old, v, was, now);
	atomic_store_explicit(&m->view, v, memory_order_seq_cst);
	if (m->behind_since != 0 && !newer(m->behind_epoch, m->behind_digest, v->pub.epoch, v->digest))
		m->behind_since = 0;
	for (size_t i = 0; i < v->ndeparted; i++)
		if (v->departed[i].cause == ACTOR__DEPART_DEAD)
			dead_inc_add(m, v->departed[i].node, v->departed[i].incarnation);

	/* This node's own standing (a joining node's placeholder of itself
	 * alone leaves it joining). */
	if (me >= 0 && v->entries[me].incarnation >= m->incarnation) {
		m->incarnation = v->entries[me].incarnation;
		if (m->state != M_JOINING || v->pub.nmembers > 1)
			m->state = M_MEMBER;
	} else if (m->leaving || m->state == M_LEFT) {
		m->state = M_LEFT;
		m->leaving = false;
	} else if (m->state == M_MEMBER && old->pub.nmembers > 0 && view_find(old, m->self) >= 0) {
		m->state = M_REMOVED;
		m->incarnation++;	/* the removed incarnation never comes back */
	}

	k = (size_t)snprintf(line, sizeof line, "view %" PRIu64 ": %u member%s (%s)", v->pub.epoch,
			     v->pub.nmembers, v->pub.nmembers == 1 ? "" : "s", cause);
	if (m->state != was)
		snprintf(line + (k < sizeof line ? k : sizeof line - 1),
			 sizeof line - (k < sizeof line ? k : sizeof line - 1), "; this node %s",
			 m->state == M_MEMBER  ? (was == M_REMOVED ? "rejoined" : "joined") :
			 m->state == M_LEFT    ? "left" :
			 m->state == M_REMOVED ? "was removed: joining again as a new incarnation" :
						 "is joining");
	actor__node_log(n, "%s", line);

	/* Members gone and come, for the application and the connections. */
	for (size_t i = 0; i < old->pub.nmembers; i++) {
		uint32_t node = old->members[i].node;
		bool left = false;
		actor_member_t who;

		if (view_find(v, node) >= 0)
			continue;
		for (size_t j = 0; j < v->ndeparted; j++)
			left |= v->departed[j].node == node && v->departed[j].cause == ACTOR__DEPART_LEFT;
		member_of(old, i, &who);
		if (node != m->self) {
			struct actor__peer *p = actor__peer_find(n, node);

			if (p != NULL)
				p->redial = false;
			if (left)
				send_view(n, p);	/* it waits for the view without it */
			else if (up(p))
				n->t->ops->close(p->conn, -ETIMEDOUT);
		}
		tell(n, left ? ACTOR_MEMBER_LEFT : ACTOR_MEMBER_DOWN, v->pub.epoch, &who);
	}
	for (size_t i = 0; i < v->pub.nmembers; i++) {
		uint32_t node = v->members[i].node;
		actor_member_t who;

		if (view_find(old, node) >= 0 && old->entries[view_find(old, node)].incarnation ==
							   v->entries[i].incarnation)
			continue;
		if (node != m->self && m->state == M_MEMBER) {
			struct actor__peer *p = actor__peer_find(n, node);
			struct mstate *s = ms_find(m, node);

			if (up(p) && s != NULL) {	/* it learns our epoch now */
				send_probe(n, p, 0);
				s->probed = now;
			}
		}
		member_of(v, i, &who);
		tell(n, ACTOR_MEMBER_UP, v->pub.epoch, &who);
	}

	holds(n, old, v);
	view_changed(n->sys, &old->pub, &v->pub);
	handover_check(n, now);
	old->retired_next = n->vretired_new;
	n->vretired_new = old;
	fence_update(n, now);
	if (m->state == M_LEFT && was != M_LEFT) {
		m->left_epoch = v->pub.epoch;
		left_check(n, now);	/* fenced first: the caller sees it so */
	}
	actor__peers_reclaim(n, false);
	/* New members now, not at the next tick: a node that just joined is
	 * fenced until a quorum of them answers its probes. */
	dials(n, now);
}

/* --- the coordinator ------------------------------------------------------------ */

static void pending_add(struct actor__membership *m, bool leave, const struct draft *d)
{
	struct pending *p;

	for (size_t i = 0; i < m->npending; i++)
		if (m->pending[i].m.node == d->node) {	/* the latest wins */
			m->pending[i].leave = leave;
			m->pending[i].m = *d;
			return;
		}
	if (m->npending == PENDING_MAX)
		return;		/* it asks again */
	p = actor__array_grow(m->pending, &m->pending_cap, m->npending + 1, sizeof(*p), 8);
	if (p == NULL)
		return;
	m->pending = p;
	m->pending[m->npending].leave = leave;
	m->pending[m->npending++].m = *d;
}

/* cause += text, within cap. */
static void cat(char *cause, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cat(char *cause, size_t cap, const char *fmt, ...)
{
	size_t k = strlen(cause);
	va_list ap;

	if (k + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(cause + k, cap - k, fmt, ap);
	va_end(ap);
}

/* Pushes this node's view to every member connected and to those that
 * just left (they wait for it). */
static void push_view(struct actor__node *n)
{
	const struct actor__mview *v = view_now(n);

	for (size_t i = 0; i < v->pub.nmembers; i++)
		if (v->members[i].node != n->member->self)
			send_view(n, actor__peer_find(n, v->members[i].node));
}

/* Whether the coordinator has anything to change: a member dead here, a
 * request, this node's own entry. Cheap, for every tick. */
static bool change_due(struct actor__node *n)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	long me = view_find(v, m->self);

	if (m->npending > 0 || m->leaving || me < 0)
		return true;
	for (size_t i = 0; i < m->nms; i++)
		if (m->ms[i].dead)
			return true;
	return v->members[me].ntypes != m->ntypes ||
	       memcmp(v->members[me].types, m->types, m->ntypes * sizeof(uint64_t)) != 0 ||
	       v->entries[me].incarnation != m->incarnation;
}

/*
 * The coordinator's work: a new view when members died here, asked to
 * join or leave, or changed their entries. Only with a quorum and a view
 * not known to be behind.
 */
static void coordinate(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct actor__wire_departure *dep;
	struct draft *d, me;
	struct actor__mview *nv;
	size_t nd = v->pub.nmembers, ndep = 0, i;
	char cause[400] = "";

	if (m->state != M_MEMBER || coordinator(n) != m->self || !m->quorum || m->behind_since != 0) {
		m->npending = 0;	/* they ask again */
		return;
	}
	if (!change_due(n))
		return;
	if ((d = drafts_of(v, m->npending + 1)) == NULL ||
	    (dep = calloc(v->pub.nmembers + m->npending + 1, sizeof(*dep))) == NULL) {
		free(d);
		return;
	}
	for (i = 0; i < nd;) {
		const struct mstate *s = ms_find(m, d[i].node);

		if (s != NULL && s->dead) {
			dep[ndep++] = (struct actor__wire_departure){ d[i].node, d[i].e.incarnation,
								      ACTOR__DEPART_DEAD };
			cat(cause, sizeof cause, "%s%08x declared dead", cause[0] ? ", " : "", d[i].node);
			d[i] = d[--nd];
		} else {
			i++;
		}
	}
	for (size_t k = 0; k < m->npending; k++) {
		const struct draft *r = &m->pending[k].m;
		size_t at = draft_find(d, nd, r->node);

		if (m->pending[k].leave) {
			if (at == SIZE_MAX || (r->e.incarnation != 0 &&
					       r->e.incarnation != d[at].e.incarnation))
				continue;
			dep[ndep++] = (struct actor__wire_departure){ r->node, d[at].e.incarnation,
								      ACTOR__DEPART_LEFT };
			cat(cause, sizeof cause, "%s%08x left", cause[0] ? ", " : "", r->node);
			d[at] = d[--nd];
		} else if (at != SIZE_MAX) {
			if (r->e.incarnation < d[at].e.incarnation || same_entry(r, &d[at]))
				continue;
			cat(cause, sizeof cause, "%s%08x (%s) %s", cause[0] ? ", " : "", r->node,
			    r->e.name, r->e.incarnation > d[at].e.incarnation ? "joined again" :
									 "changed its entry");
			d[at] = *r;
		} else if (dead_inc_of(m, r->node) >= r->e.incarnation) {
			actor__node_log_limited(n, "refused the join of node %08x (%s): its incarnation %" PRIu32 " was declared dead",
						r->node, r->e.name, r->e.incarnation);
		} else if (nd < ACTOR__VIEW_MEMBERS_MAX) {
			d[nd++] = *r;
			cat(cause, sizeof cause, "%s%08x (%s) joined", cause[0] ? ", " : "", r->node,
			    r->e.name);
		}
	}
	m->npending = 0;
	self_draft(n, &me);
	i = draft_find(d, nd, m->self);
	if (m->leaving && i != SIZE_MAX && nd > 1) {
		dep[ndep++] = (struct actor__wire_departure){ m->self, d[i].e.incarnation,
							      ACTOR__DEPART_LEFT };
		cat(cause, sizeof cause, "%sthis node %08x left", cause[0] ? ", " : "", m->self);
		d[i] = d[--nd];
	} else if (i != SIZE_MAX && !same_entry(&me, &d[i])) {
		cat(cause, sizeof cause, "%sthis node's entry changed", cause[0] ? ", " : "");
		d[i] = me;
	}
	if (cause[0] == '\0' || nd == 0) {
		free(d);
		free(dep);
		return;
	}
	nv = view_make(d, nd, v->pub.epoch + 1, dep, ndep, v, now, m->margin_ns);
	free(d);
	free(dep);
	if (nv == NULL)
		return;
	cat(cause, sizeof cause, "; decided here, the coordinator");
	install(n, nv, cause);
	push_view(n);
	/* Those that left wait for it too (install told them). */
}

/* --- frames in ----------------------------------------------------------------- */

static void pull(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__frame f = { .kind = ACTOR__F_PULL };

	f.pull.epoch = view_now(n)->pub.epoch;
	send_to(n, p, &f);
	n->member->pulled_at = now;
}

/* A peer's view is (epoch, digest): pull it if it is newer, push ours to
 * a member whose view is older. */
static void note_view(struct actor__node *n, struct actor__peer *p, uint64_t epoch,
		      uint64_t digest, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct mstate *s;

	if (m->state == M_LEFT)
		return;
	if (newer(epoch, digest, v->pub.epoch, v->digest)) {
		if (m->behind_since == 0 ||
		    newer(epoch, digest, m->behind_epoch, m->behind_digest)) {
			if (m->behind_since == 0)
				m->behind_since = now;
			m->behind_epoch = epoch;
			m->behind_digest = digest;
			m->behind_from = p->node;
			m->pulled_at = 0;
		}
		if (now - m->pulled_at >= m->probe_ns / 2 || m->pulled_at == 0)
			pull(n, p, now);
	} else if (newer(v->pub.epoch, v->digest, epoch, digest) &&
		   (s = ms_find(m, p->node)) != NULL && now - s->pushed_at >= m->probe_ns) {
		s->pushed_at = now;
		send_view(n, p);
	}
}

static void on_view(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f,
		    uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct actor__wire_departure *dep;
	struct actor__wire_member w;
	struct actor__mview *nv;
	struct draft *d;
	const void *c = f->view.members_at;
	bool has_self = false;
	char cause[64];

	if (m->state == M_LEFT)
		return;
	if ((d = calloc(f->view.nmembers, sizeof(*d))) == NULL)
		return;
	if ((dep = calloc(f->view.ndeparted + 1, sizeof(*dep))) == NULL) {
		free(d);
		return;
	}
	for (size_t i = 0; i < f->view.nmembers; i++) {
		c = actor__frame_view_member(f, c, &w);
		draft_of_wire(&w, &d[i]);
		has_self |= w.node == m->self;
	}
	c = f->view.departed_at;
	for (size_t i = 0; i < f->view.ndeparted; i++)
		c = actor__frame_view_departure(f, c, &dep[i]);
	/* Ours, or one a member of ours sent (it may lack this node: then
	 * this node was removed). A joining node takes only views with it. */
	if (!newer(f->view.epoch, digest_of(d, f->view.nmembers), v->pub.epoch, v->digest) ||
	    !(has_self || (m->state != M_JOINING && view_find(v, p->node) >= 0))) {
		free(d);
		free(dep);
		return;
	}
	nv = view_make(d, f->view.nmembers, f->view.epoch, dep, f->view.ndeparted, v, now,
		       m->margin_ns);
	free(d);
	free(dep);
	if (nv == NULL)
		return;
	snprintf(cause, sizeof cause, "from node %08x", p->node);
	install(n, nv, cause);
}

/* The relays waiting for target's ACK to seq. */
static void relays_done(struct actor__node *n, uint32_t target, uint64_t seq)
{
	struct actor__membership *m = n->member;

	for (size_t i = 0; i < m->nrelays;) {
		struct relay *r = &m->relays[i];

		if (r->target == target && seq >= r->our_seq) {
			send_ack(n, actor__peer_find(n, r->requester), r->req_seq, target);
			*r = m->relays[--m->nrelays];
		} else {
			i++;
		}
	}
}

static void on_probe(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f,
		     uint64_t now)
{
	struct actor__membership *m = n->member;
	uint32_t target = f->probe.target;
	struct actor__peer *q;

	if (target == 0 || target == m->self) {
		send_ack(n, p, f->probe.seq, target);
		return;
	}
	/* An indirect probe for p: ours to target, its ACK relayed. */
	q = actor__peer_find(n, target);
	if (!up(q) || target == p->node)
		return;
	if (m->nrelays == RELAYS_MAX)
		m->relays[0] = m->relays[--m->nrelays];		/* the oldest goes */
	m->relays[m->nrelays++] = (struct relay){
		.requester = p->node, .target = target, .req_seq = f->probe.seq,
		.our_seq = send_probe(n, q, 0), .until = now + m->suspect_ns,
	};
}

static void on_ack(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f,
		   uint64_t now)
{
	struct actor__membership *m = n->member;
	struct mstate *s;

	if (f->probe.target == 0 || f->probe.target == p->node) {
		if ((s = ms_find(m, p->node)) != NULL && f->probe.seq > s->acked)
			s->acked = f->probe.seq;
		relays_done(n, p->node, f->probe.seq);
		/* A fenced node (one that just joined, too) runs again as soon
		 * as a quorum has answered, not at its next tick. */
		if (m->fenced && s != NULL && s->acked >= m->fence_seq)
			fence_update(n, now);
	} else if ((s = ms_find(m, f->probe.target)) != NULL) {
		s->heard = now;		/* it answered another member */
	}
}

/* Whether this node, joining alone, has a seed with a lower id up: then
 * it joins that one's cluster rather than start one. */
static bool lower_seed_up(struct actor__node *n)
{
	struct actor__membership *m = n->member;

	for (size_t i = 0; i < m->nseeds; i++)
		if (m->seeds[i].node != 0 && m->seeds[i].node < m->self &&
		    up(actor__peer_find(n, m->seeds[i].node)))
			return true;
	return false;
}

/* Whether node is one of this node's seeds (reached at least once). */
static bool is_seed(const struct actor__membership *m, uint32_t node)
{
	for (size_t i = 0; i < m->nseeds; i++)
		if (m->seeds[i].node == node)
			return true;
	return false;
}

/*
 * JOIN and LEAVE for another node come from members relaying them; from a
 * peer that is no member they are ignored (a member this node just
 * removed may still relay one in good faith).
 */
static bool relay_ok(struct actor__node *n, struct actor__peer *p, uint32_t node, const char *what)
{
	if (node == p->node || view_find(view_now(n), p->node) >= 0)
		return true;
	actor__node_log_limited(n, "ignored a %s for node %08x from node %08x, which is not a member",
				what, node, p->node);
	return false;
}

static int on_join(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f,
		   uint64_t now, const char **why)
{
	struct actor__membership *m = n->member;
	uint32_t coord;
	struct draft d, me;

	(void)why;
	if (!relay_ok(n, p, f->join.node, "JOIN") || f->join.node == m->self)
		return 0;
	draft_of_wire(&f->join, &d);
	switch (m->state) {
	case M_JOINING:
		/* Alone and joining too, through each other as seeds: the
		 * lower id starts the cluster and the higher joins it. A
		 * joining node that is not our seed (met through
		 * actor_node_connect, say) may be joining a cluster our seed
		 * is in: starting one with it would split the cluster. */
		if (!is_seed(m, d.node))
			return 0;
		if (m->self < d.node && !lower_seed_up(n)) {
			actor__node_log(n, "starts a cluster with node %08x (%s), which asked to join it",
					d.node, d.e.name);
			m->state = M_MEMBER;
			fence_update(n, now);
			pending_add(m, false, &d);
			coordinate(n, now);
		} else if (f->join.node == p->node) {
			self_draft(n, &me);
			send_join(n, p, &me);
		}
		return 0;
	case M_MEMBER:
		coord = coordinator(n);
		if (coord == m->self) {
			pending_add(m, false, &d);
			coordinate(n, now);
			if (view_find(view_now(n), d.node) >= 0 && f->join.node == p->node)
				send_view(n, p);	/* it may have missed the push */
		} else {
			send_join(n, actor__peer_find(n, coord), &d);
		}
		return 0;
	default:
		return 0;
	}
}

static int on_leave(struct actor__node *n, struct actor__peer *p, const struct actor__frame *f,
		    uint64_t now, const char **why)
{
	struct actor__membership *m = n->member;
	uint32_t coord;
	struct draft d;

	(void)why;
	if (!relay_ok(n, p, f->leave.node, "LEAVE") || f->leave.node == m->self ||
	    m->state != M_MEMBER)
		return 0;
	coord = coordinator(n);
	if (coord != m->self) {
		send_leave(n, actor__peer_find(n, coord), f->leave.node, f->leave.incarnation);
		return 0;
	}
	if (view_find(view_now(n), f->leave.node) < 0) {
		if (f->leave.node == p->node)
			send_view(n, p);	/* gone already: it missed the view */
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.node = f->leave.node;
	d.e.incarnation = f->leave.incarnation;
	pending_add(m, true, &d);
	coordinate(n, now);
	return 0;
}

int actor__member_frame(struct actor__node *n, struct actor__peer *p,
			const struct actor__frame *f, const char **why)
{
	struct actor__membership *m = n->member;
	uint64_t now = actor__now_ns();

	if (!m->announced || atomic_load_explicit(&m->stopping, memory_order_relaxed))
		return 0;	/* the sender asks again */
	switch (f->kind) {
	case ACTOR__F_PROBE:
		note_view(n, p, f->probe.epoch, f->probe.digest, now);
		note_sealed(n, p, f->probe.sealed, now);
		on_probe(n, p, f, now);
		return 0;
	case ACTOR__F_ACK:
		note_view(n, p, f->probe.epoch, f->probe.digest, now);
		note_sealed(n, p, f->probe.sealed, now);
		on_ack(n, p, f, now);
		return 0;
	case ACTOR__F_PULL:
		send_view(n, p);
		return 0;
	case ACTOR__F_VIEW:
		on_view(n, p, f, now);
		return 0;
	case ACTOR__F_JOIN:
		return on_join(n, p, f, now, why);
	case ACTOR__F_LEAVE:
		return on_leave(n, p, f, now, why);
	default:
		*why = "not a membership frame";
		return -EPROTO;
	}
}

/* --- the tick ------------------------------------------------------------------ */

/* Whether a connection is on its way to host:port, or to node. */
static bool dialing(struct actor__node *n, const char *host, uint16_t port, uint32_t node)
{
	struct actor__list *i, *next;

	actor__list_each(i, next, &n->sessions) {
		const struct actor__session *l = actor__list_entry(i, struct actor__session, node);

		if (l->state == ACTOR__SESSION_UP)
			continue;
		if ((l->host[0] != '\0' && l->port == port && strcmp(l->host, host) == 0) ||
		    (node != 0 && l->peer_node == node))
			return true;
	}
	return false;
}

static void backoff(const struct actor__membership *m, uint64_t *b, uint64_t *at, uint64_t now)
{
	*b = *b == 0 ? m->dial_min : (*b * 2 > m->dial_max ? m->dial_max : *b * 2);
	*at = now + *b;
}

static void dial(struct actor__node *n, const char *host, uint16_t port, uint32_t node)
{
	struct actor__session *l = actor__node_dial(n, host, port);

	if (l == NULL)
		return;
	l->by_member = true;
	if (node != 0) {
		struct actor__peer *p = actor__peer_find(n, node);

		if (p != NULL && !atomic_load_explicit(&p->up, memory_order_relaxed))
			l->peer = p;
	}
}

/*
 * Connections: to the members this node knows only from its view (the
 * lower id dials, so that two members do not dial each other at once,
 * but a node that is fenced, joining or removed dials everyone: it is the
 * one that needs them), and to the seeds while not a member.
 */
static void dials(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	bool all = m->fenced || m->state != M_MEMBER || m->port == 0;

	if (m->state == M_LEFT)
		return;
	for (size_t i = 0; i < v->pub.nmembers; i++) {
		uint32_t node = v->members[i].node;
		const struct mentry *e = &v->entries[i];
		struct mstate *s = ms_find(m, node);

		if (node == m->self || s == NULL || e->port == 0)
			continue;
		if (up(actor__peer_find(n, node))) {
			s->backoff = 0;
			continue;
		}
		if ((!all && m->self > node) || now < s->dial_at || dialing(n, e->host, e->port, node))
			continue;
		backoff(m, &s->backoff, &s->dial_at, now);
		dial(n, e->host, e->port, node);
	}
	if (m->state != M_JOINING && m->state != M_REMOVED)
		return;
	for (size_t i = 0; i < m->nseeds; i++) {
		struct seed *s = &m->seeds[i];

		if (s->self || (s->node != 0 && up(actor__peer_find(n, s->node))) ||
		    now < s->dial_at || dialing(n, s->host, s->port, s->node))
			continue;
		backoff(m, &s->backoff, &s->dial_at, now);
		dial(n, s->host, s->port, s->node);
	}
}

/* While not a member: asks the seeds and the members of its view that are
 * up to add it, once a probe interval. */
static void ask_to_join(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct draft me;
	bool any_seed = false;

	if ((m->state != M_JOINING && m->state != M_REMOVED) || now - m->join_sent_at < m->probe_ns)
		return;
	m->join_sent_at = now;
	self_draft(n, &me);
	for (size_t i = 0; i < m->nseeds; i++) {
		struct seed *s = &m->seeds[i];

		any_seed |= !s->self;
		if (!s->self && s->node != 0)
			send_join(n, actor__peer_find(n, s->node), &me);
	}
	if (m->state == M_REMOVED)
		for (size_t i = 0; i < v->pub.nmembers; i++)
			if (v->members[i].node != m->self)
				send_join(n, actor__peer_find(n, v->members[i].node), &me);
	if (m->state == M_JOINING && !any_seed) {
		/* Every seed was this node: it starts the cluster. */
		actor__node_log(n, "every seed is this node: it starts the cluster");
		m->state = M_MEMBER;
		fence_update(n, now);
	}
}

/* The detector: probes, suspicion, indirect probes, death. */
static void detect(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	size_t helper = (size_t)(now / m->probe_ns);

	if (m->state != M_MEMBER)
		return;
	for (size_t i = 0; i < m->nms; i++) {
		struct mstate *s = &m->ms[i];
		struct actor__peer *p = actor__peer_find(n, s->node);
		uint64_t silent = now - heard_of(n, s);

		if (up(p) && now - s->probed >= m->probe_ns) {
			send_probe(n, p, 0);
			s->probed = now;
		}
		if (silent < m->suspect_ns) {
			if (s->suspect_at != 0)
				actor__node_log_limited(n, "node %08x answers again", s->node);
			s->suspect_at = 0;
			if (s->dead) {
				s->dead = false;
				hold(n, s->node);
			}
			continue;
		}
		if (s->suspect_at == 0) {
			s->suspect_at = now;
			actor__node_log_limited(n, "suspects node %08x: silent for %" PRIu64 " ms",
						s->node, silent / 1000000);
		}
		if (!s->dead && now - s->asked_at >= m->probe_ns) {
			/* Up to HELPERS members that are up and trusted. */
			size_t asked = 0;

			s->asked_at = now;
			for (size_t k = 0; k < m->nms && asked < HELPERS; k++) {
				struct mstate *h = &m->ms[(helper + k) % m->nms];
				struct actor__peer *hp = actor__peer_find(n, h->node);

				if (h == s || h->suspect_at != 0 || !up(hp))
					continue;
				send_probe(n, hp, s->node);
				asked++;
			}
		}
		if (silent >= m->dead_ns && !s->dead) {
			s->dead = true;
			actor__node_log(n, "holds node %08x dead: silent for %" PRIu64 " ms, directly and through other members",
					s->node, silent / 1000000);
			if (up(p))
				n->t->ops->close(p->conn, -ETIMEDOUT);
			hold(n, s->node);	/* released: what waits fails */
		}
	}
	for (size_t i = 0; i < m->nrelays;)
		if ((int64_t)(now - m->relays[i].until) > 0)
			m->relays[i] = m->relays[--m->nrelays];
		else
			i++;
}

/* A member's own entry changed (types), or it leaves: the coordinator is
 * asked again each probe interval until the view says so. */
static void ask_coordinator(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	uint32_t coord = coordinator(n);
	long me = view_find(v, m->self);
	struct draft mine, in_view;

	if (m->state != M_MEMBER || coord == m->self || me < 0)
		return;
	if (m->leaving) {
		if (now - m->leave_sent_at >= m->probe_ns) {
			m->leave_sent_at = now;
			send_leave(n, actor__peer_find(n, coord), m->self, m->incarnation);
		}
		return;
	}
	self_draft(n, &mine);
	memset(&in_view, 0, sizeof(in_view));
	in_view.node = m->self;
	in_view.e = v->entries[me];
	in_view.ntypes = v->members[me].ntypes;
	memcpy(in_view.types, v->members[me].types, in_view.ntypes * sizeof(uint64_t));
	if (!same_entry(&mine, &in_view) && now - m->update_sent_at >= m->probe_ns) {
		m->update_sent_at = now;
		send_join(n, actor__peer_find(n, coord), &mine);
	}
}

/* A joining node's placeholder {itself} follows its types. */
static void republish_alone(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	const struct actor__mview *v = view_now(n);
	struct actor__mview *nv;
	struct draft me, in_view;

	if (m->state != M_JOINING || v->pub.nmembers != 1 || v->members[0].node != m->self)
		return;
	self_draft(n, &me);
	memset(&in_view, 0, sizeof(in_view));
	in_view.node = m->self;
	in_view.e = v->entries[0];
	in_view.ntypes = v->members[0].ntypes;
	memcpy(in_view.types, v->members[0].types, in_view.ntypes * sizeof(uint64_t));
	if (same_entry(&me, &in_view))
		return;
	if ((nv = view_make(&me, 1, v->pub.epoch + 1, NULL, 0, v, now, m->margin_ns)) != NULL)
		install(n, nv, "this node's entry changed");
}

void actor__member_tick(struct actor__node *n, uint64_t now)
{
	struct actor__membership *m = n->member;
	uint64_t gap = now - m->last_tick, tick = actor__member_tick_ns(&n->cfg);

	if (!m->announced || atomic_load_explicit(&m->stopping, memory_order_relaxed))
		return;
	/* Lifeguard: silence that this node's own stall made is not theirs. */
	if (stalled(n, now))
		for (size_t i = 0; i < m->nms; i++) {
			uint64_t h = heard_of(n, &m->ms[i]) + gap - tick;

			m->ms[i].heard = (int64_t)(h - now) > 0 ? now : h;
		}
	m->last_tick = now;
	if (m->behind_since != 0 && now - m->pulled_at >= m->probe_ns) {
		struct actor__peer *p = actor__peer_find(n, m->behind_from);

		if (up(p))
			pull(n, p, now);
		else	/* the others' probes say it again if it is so */
			m->behind_since = 0;
	}
	detect(n, now);
	dials(n, now);
	ask_to_join(n, now);
	ask_coordinator(n, now);
	republish_alone(n, now);
	fence_update(n, now);
	handover_check(n, now);
	coordinate(n, now);
}

/* --- the I/O thread's other entries ---------------------------------------------- */

void actor__member_peer_up(struct actor__node *n, struct actor__session *l, struct actor__peer *p)
{
	struct actor__membership *m = n->member;
	struct mstate *s;
	struct draft me;

	if (atomic_load_explicit(&m->stopping, memory_order_relaxed))
		return;
	if (l->by_member)
		p->redial = false;	/* membership dials members itself */
	for (size_t i = 0; i < m->nseeds; i++)
		if (l->host[0] != '\0' && m->seeds[i].port == l->port &&
		    strcmp(m->seeds[i].host, l->host) == 0) {
			m->seeds[i].node = p->node;
			m->seeds[i].backoff = 0;
		}
	if (!m->announced)
		return;
	if (m->state == M_MEMBER && (s = ms_find(m, p->node)) != NULL) {
		send_probe(n, p, 0);	/* it learns our epoch */
		s->probed = actor__now_ns();
	} else if (m->state == M_JOINING || m->state == M_REMOVED) {
		self_draft(n, &me);
		send_join(n, p, &me);
	}
}

void actor__member_session_closed(struct actor__node *n, struct actor__session *l)
{
	struct actor__membership *m = n->member;

	if (!l->by_member || l->peer_node == 0 || l->host[0] == '\0')
		return;
	for (size_t i = 0; i < m->nseeds; i++)
		if (m->seeds[i].port == l->port && strcmp(m->seeds[i].host, l->host) == 0) {
			m->seeds[i].node = l->peer_node;
			m->seeds[i].self = l->peer_node == m->self;
		}
}

bool actor__member_watches(struct actor__node *n, uint32_t node)
{
	struct actor__membership *m = n->member;

	return m != NULL && m->announced && m->state == M_MEMBER && node != m->self &&
	       ms_find(m, node) != NULL;
}

/* The first view, {this node}: made on the I/O thread, as the virtual
 * layer's types are asked there. */
static void start(struct actor__node *n)
{
	struct actor__membership *m = n->member;
	uint64_t now = actor__now_ns();
	struct actor__mview *v;
	struct draft me;

	m->self = actor__node_id(n->sys);
	m->incarnation = 1;
	m->port = m->host[0] != '\0' ? n->port : 0;
	if (m->port == 0)
		m->host[0] = '\0';
	local_types(n);
	self_draft(n, &me);
	v = view_make(&me, 1, 1, NULL, 0, NULL, now, m->margin_ns);
	if (v == NULL)
		abort();	/* a few hundred bytes at start */
	atomic_store_explicit(&m->view, v, memory_order_seq_cst);
	m->state = m->nseeds == 0 ? M_MEMBER : M_JOINING;
	m->fenced = m->state != M_MEMBER;
	m->fence_seq = 1;
	publish_majority(m, m->fenced ? 0 : NEVER_FENCED);
	m->quorum = !m->fenced;
	m->last_tick = now;
}

void actor__member_commands(struct actor__node *n)
{
	struct actor__membership *m = n->member;
	bool start_now, installed, leave;
	struct sub_cmd *cmds;
	size_t ncmds;
	uint64_t now = actor__now_ns();

	if (atomic_load_explicit(&m->stopping, memory_order_relaxed))
		return;
	pthread_mutex_lock(&n->lock);
	start_now = m->start_requested && !m->started;
	installed = m->installed;
	pthread_mutex_unlock(&n->lock);

	if (start_now) {
		start(n);
		pthread_mutex_lock(&n->lock);
		m->started = true;
		pthread_cond_broadcast(&n->cond);
		pthread_mutex_unlock(&n->lock);
	}
	if (installed && !m->announced) {
		const struct actor__mview *v = view_now(n);
		actor_member_t me;

		m->announced = true;
		/* A node alone, with no seeds, is the usual node: no line. */
		if (m->state == M_JOINING)
			actor__node_log(n, "view 1: this node alone; joining through its %zu seed%s",
					m->nseeds, m->nseeds == 1 ? "" : "s");
		view_changed(n->sys, NULL, &v->pub);
		member_of(v, 0, &me);
		tell(n, ACTOR_MEMBER_UP, v->pub.epoch, &me);
		pthread_mutex_lock(&n->lock);
		m->told = true;
		pthread_cond_broadcast(&n->cond);
		pthread_mutex_unlock(&n->lock);
	}
	if (!m->announced)
		return;		/* the commands wait for the first view to be told */
	pthread_mutex_lock(&n->lock);
	leave = m->leave_requested;
	m->leave_requested = false;
	cmds = m->cmds;
	ncmds = m->ncmds;
	m->cmds = NULL;
	m->ncmds = m->cmds_cap = 0;
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < ncmds; i++) {
		actor_ref_t *s;
		size_t k;

		for (k = 0; k < m->nsubs && !actor_ref_equal(m->subs[k], cmds[i].ref); k++)
			;
		if (!cmds[i].add) {
			if (k < m->nsubs)
				m->subs[k] = m->subs[--m->nsubs];
			continue;
		}
		if (k < m->nsubs)
			continue;
		if ((s = actor__array_grow(m->subs, &m->subs_cap, m->nsubs + 1, sizeof(*s), 4)) == NULL)
			continue;
		m->subs = s;
		m->subs[m->nsubs++] = cmds[i].ref;
		{
			const struct actor__mview *v = view_now(n);
			actor_member_event_t ev = { .kind = ACTOR_MEMBER_UP, .epoch = v->pub.epoch };

			for (size_t j = 0; j < v->pub.nmembers; j++) {
				member_of(v, j, &ev.member);
				tell_one(n, cmds[i].ref, &ev);
			}
		}
	}
	free(cmds);
	if (atomic_exchange_explicit(&m->sealed_changed, false, memory_order_acq_rel)) {
		if (m->state == M_MEMBER)
			for (size_t i = 0; i < m->nms; i++) {
				struct actor__peer *p = actor__peer_find(n, m->ms[i].node);

				if (up(p)) {
					send_probe(n, p, 0);	/* it carries what we sealed */
					m->ms[i].probed = now;
				}
			}
		left_check(n, now);
	}
	if (atomic_exchange_explicit(&m->types_changed, false, memory_order_acq_rel)) {
		local_types(n);
		republish_alone(n, now);
		coordinate(n, now);
		ask_coordinator(n, now);
	}
	if (leave) {
		if (m->state == M_MEMBER && view_now(n)->pub.nmembers > 1) {
			m->leaving = true;
			m->leave_sent_at = 0;
			coordinate(n, now);	/* the coordinator leaves at once */
			ask_coordinator(n, now);
		} else if (m->state != M_LEFT) {
			m->state = M_LEFT;
			actor__node_log(n, "left the cluster (%s)", view_now(n)->pub.nmembers > 1 ?
								     "not a member" : "alone in its view");
			fence_update(n, now);
			left_done(n);
		} else {
			left_done(n);
		}
	}
}

/* --- life cycle ------------------------------------------------------------------ */

/* "host:port" or "[host]:port" into s; false if malformed. */
static bool parse_seed(const char *text, struct seed *s)
{
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hl;
	char *end;
	unsigned long port;

	if (colon == NULL)
		return false;
	hl = (size_t)(colon - text);
	if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
		h = text + 1;
		hl -= 2;
	}
	port = strtoul(colon + 1, &end, 10);
	if (hl == 0 || hl > ACTOR__HOST_MAX || colon[1] == '\0' || *end != '\0' || port == 0 ||
	    port > UINT16_MAX)
		return false;
	memset(s, 0, sizeof(*s));
	memcpy(s->host, h, hl);
	s->port = (uint16_t)port;
	return true;
}

uint64_t actor__member_tick_ns(const actor_node_config_t *cfg)
{
	uint64_t t = 100ull * 1000 * 1000;

	if (cfg->heartbeat_interval_ns / 2 < t)
		t = cfg->heartbeat_interval_ns / 2;
	if (cfg->member_probe_interval_ns / 2 < t)
		t = cfg->member_probe_interval_ns / 2;
	return t ? t : 1;
}

int actor__member_create(struct actor__node *n, const actor_node_config_t *cfg)
{
	struct actor__membership *m;
	const char *host = cfg->advertise_host;

	if (cfg->member_probe_interval_ns == 0 ||
	    cfg->member_suspect_ns <= cfg->member_probe_interval_ns ||
	    cfg->member_dead_ns <= cfg->member_suspect_ns || cfg->member_fence_ns == 0 ||
	    cfg->member_takeover_margin_ns <= cfg->member_fence_ns ||
	    cfg->member_dead_ns > UINT64_MAX / 4 || cfg->member_takeover_margin_ns > UINT64_MAX / 4 ||
	    (cfg->nseeds > 0 && cfg->seeds == NULL) ||
	    (host != NULL && (host[0] == '\0' || strlen(host) > ACTOR__HOST_MAX)))
		return -EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	if (cfg->nseeds > 0 && (m->seeds = calloc(cfg->nseeds, sizeof(*m->seeds))) == NULL) {
		free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->nseeds; i++)
		if (cfg->seeds[i] == NULL || !parse_seed(cfg->seeds[i], &m->seeds[i])) {
			free(m->seeds);
			free(m);
			return -EINVAL;
		}
	m->nseeds = cfg->nseeds;
	if (host == NULL && !cfg->no_listen && strcmp(cfg->listen_host, "0.0.0.0") != 0 &&
	    strcmp(cfg->listen_host, "::") != 0)
		host = cfg->listen_host;
	if (host != NULL && !cfg->no_listen && strlen(host) <= ACTOR__HOST_MAX)
		strcpy(m->host, host);
	/* A seed that is this node's own address is no seed. */
	for (size_t i = 0; i < m->nseeds;)
		if (m->host[0] != '\0' && cfg->listen_port != 0 && m->seeds[i].port == cfg->listen_port &&
		    strcmp(m->seeds[i].host, m->host) == 0)
			m->seeds[i] = m->seeds[--m->nseeds];
		else
			i++;
	m->probe_ns = cfg->member_probe_interval_ns;
	m->suspect_ns = cfg->member_suspect_ns;
	m->dead_ns = cfg->member_dead_ns;
	m->fence_ns = cfg->member_fence_ns;
	m->margin_ns = cfg->member_takeover_margin_ns;
	m->dial_min = cfg->reconnect_min_ns;
	m->dial_max = cfg->reconnect_max_ns > cfg->reconnect_min_ns ? cfg->reconnect_max_ns :
								       cfg->reconnect_min_ns;
	n->member = m;
	return 0;
}

void actor__member_begin(struct actor__node *n)
{
	struct actor__membership *m = n->member;

	pthread_mutex_lock(&n->lock);
	m->start_requested = true;
	n->t->ops->wake(n->t);
	while (!m->started)
		pthread_cond_wait(&n->cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
}

void actor__member_installed(struct actor__node *n)
{
	pthread_mutex_lock(&n->lock);
	n->member->installed = true;
	if (!n->stopped) {
		n->t->ops->wake(n->t);
		/* The first view told before actor_node_start returns. */
		while (!n->member->told && !n->stopped)
			pthread_cond_wait(&n->cond, &n->lock);
	}
	pthread_mutex_unlock(&n->lock);
}

void actor__member_stop(struct actor__node *n)
{
	if (n->member != NULL)
		atomic_store_explicit(&n->member->stopping, true, memory_order_relaxed);
}

void actor__member_free(struct actor__node *n)
{
	struct actor__membership *m = n->member;

	if (m == NULL)
		return;
	actor__view_free(atomic_load_explicit(&m->view, memory_order_relaxed));
	free(m->seeds);
	free(m->ms);
	free(m->pending);
	free(m->cmds);
	free(m->subs);
	free(m);
	n->member = NULL;
}

/* --- cluster/view.h ---------------------------------------------------------------- */

unsigned actor__view_enter(struct actor__node *n)
{
	return actor__peer_enter(n);
}

void actor__view_exit(struct actor__node *n, unsigned section)
{
	actor__peer_exit(n, section);
}

const struct actor__view *actor__view_get(struct actor__node *n)
{
	struct actor__mview *v;

	if (n == NULL || n->member == NULL || (v = view_now(n)) == NULL)
		return NULL;
	return &v->pub;
}

bool actor__view_may_run(struct actor__node *n, uint64_t now_ns)
{
	uint64_t t = atomic_load_explicit(&n->member->majority_at, memory_order_acquire);

	if (t == NEVER_FENCED)
		return true;
	/* Signed: a clock read just before the I/O thread's is not late. */
	return t != 0 && (int64_t)(now_ns - t) < (int64_t)n->member->fence_ns;
}

uint64_t actor__view_takeover_at(struct actor__node *n, uint32_t node)
{
	unsigned s = actor__view_enter(n);
	const struct actor__mview *v = view_now(n);
	uint64_t at = 0;

	if (v != NULL && view_find(v, node) < 0)
		for (size_t i = 0; i < v->ndead; i++)
			if (v->dead[i].node == node)
				at = v->dead[i].at;
	actor__view_exit(n, s);
	return at;
}

/* Under n->lock, which node_stop takes to set stopped before it destroys
 * the transport. */
static void wake_io(struct actor__node *n)
{
	pthread_mutex_lock(&n->lock);
	if (!n->stopped)
		n->t->ops->wake(n->t);
	pthread_mutex_unlock(&n->lock);
}

void actor__member_sealed(struct actor__node *n)
{
	atomic_store_explicit(&n->member->sealed_changed, true, memory_order_release);
	wake_io(n);
}

uint64_t actor__view_handover_until(struct actor__node *n)
{
	return atomic_load_explicit(&n->member->handover_until, memory_order_acquire);
}

void actor__member_types_changed(struct actor__node *n)
{
	atomic_store_explicit(&n->member->types_changed, true, memory_order_release);
	wake_io(n);
}

/* --- the public calls ------------------------------------------------------------------ */

int actor_cluster_members(actor_system_t *sys, actor_member_t *out, size_t cap, uint64_t *epoch)
{
	struct actor__node *n = actor__node_of(sys);
	const struct actor__mview *v;
	unsigned s;
	int count;

	if (n == NULL)
		return -ENOTCONN;
	s = actor__view_enter(n);
	v = view_now(n);
	count = (int)v->pub.nmembers;
	for (size_t i = 0; i < cap && i < v->pub.nmembers; i++)
		member_of(v, i, &out[i]);
	if (epoch != NULL)
		*epoch = v->pub.epoch;
	actor__view_exit(n, s);
	return count;
}

static int subscription(actor_system_t *sys, actor_ref_t ref, bool add)
{
	struct actor__node *n = actor__node_of(sys);
	struct actor__membership *m;
	struct sub_cmd *c;
	int err = 0;

	if (n == NULL)
		return -ENOTCONN;
	if (actor_ref_is_none(ref) || (ref.node != 0 && ref.node != actor__node_id(sys)))
		return -EINVAL;
	ref.node = actor__node_id(sys);
	m = n->member;
	pthread_mutex_lock(&n->lock);
	if (n->stopped)
		err = -ESHUTDOWN;
	else if ((c = actor__array_grow(m->cmds, &m->cmds_cap, m->ncmds + 1, sizeof(*c), 4)) == NULL)
		err = -ENOMEM;
	else
		m->cmds = c;
	if (err == 0) {
		m->cmds[m->ncmds++] = (struct sub_cmd){ ref, add };
		n->t->ops->wake(n->t);
	}
	pthread_mutex_unlock(&n->lock);
	return err;
}

int actor_cluster_subscribe(actor_system_t *sys, actor_ref_t ref)
{
	return subscription(sys, ref, true);
}

int actor_cluster_unsubscribe(actor_system_t *sys, actor_ref_t ref)
{
	return subscription(sys, ref, false);
}

int actor_cluster_leave(actor_system_t *sys, uint64_t timeout_ns)
{
	struct actor__node *n = actor__node_of(sys);
	struct timespec until;
	int err = 0;

	if (n == NULL)
		return -ENOTCONN;
	if (timeout_ns == 0)
		return -EINVAL;
	if (actor__on_worker(sys))
		return -EDEADLK;
	until = actor__timespec_of(actor__now_ns() + timeout_ns);
	pthread_mutex_lock(&n->lock);
	if (n->stopped) {
		pthread_mutex_unlock(&n->lock);
		return -ESHUTDOWN;
	}
	n->member->leave_requested = true;
	n->t->ops->wake(n->t);
	while (!n->member->left && !n->stopped && err == 0)
		err = pthread_cond_timedwait(&n->cond, &n->lock, &until);
	err = n->member->left ? 0 : n->stopped ? -ESHUTDOWN : -ETIMEDOUT;
	pthread_mutex_unlock(&n->lock);
	return err;
}

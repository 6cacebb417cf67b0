/*
 * Mail between nodes. Outbound, on any thread: an envelope for another
 * node becomes a frame (cluster/wire.h) in the peer's queue. On the I/O
 * thread: queued frames go to the connection in batches, inbound frames
 * become local sends, and a peer that goes down fails what waits on it.
 *
 * Runtime messages cross as SIGNAL frames; their payloads (a reference, a
 * reason) are fields there, never raw structs, so the format does not
 * depend on this build's layout.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cluster/internal.h"

#define FLUSH_BATCH 64
/* Batches one drain hands over before the I/O thread looks at its other
 * work: a peer whose senders never pause must not starve reads and
 * heartbeats. */
#define DRAIN_BATCHES 16
/* A request the peer never answered, whose requester has surely given
 * up, is forgotten after this long. */
#define REQUEST_MAX_AGE_NS (600ull * 1000 * 1000 * 1000)

/* --- envelope -> frame ---------------------------------------------------- */

/*
 * Runtime messages cross as SIGNAL frames, whose payloads the receiving
 * node makes: as MSG anyone could fake them. The name service's requests
 * and replies are the one exception.
 */
static bool msg_type_ok(uint32_t type, uint32_t wire_flags, uint64_t to_id)
{
	return type < ACTOR_MSG_RESERVED ||
	       (type == ACTOR_MSG_WHEREIS &&
		(wire_flags & (to_id == 0 ? ACTOR__WIRE_REQUEST : ACTOR__WIRE_REPLY)) != 0);
}

/* Fills f for e; false for mail that never crosses (timers, spawns, and
 * runtime types sent by hand, which the peer would refuse). */
static bool frame_of(const struct actor_system *sys, actor_ref_t to, const struct actor__env *e,
		     struct actor__frame *f)
{
	const actor_signal_t *sig = e->data;
	actor_ref_t ref = ACTOR_REF_NONE;
	int32_t reason = 0;
	uint32_t op;

	if (!(e->flags & ACTOR__ENV_SYSTEM) && e->type != ACTOR_MSG_DOWN &&
	    e->type != ACTOR_MSG_EXIT) {
		f->kind = ACTOR__F_MSG;
		f->msg.to_id = to.id;
		f->msg.to_node = to.node;
		f->msg.from_id = e->sender;
		/* (0, node): a node's name service answering. */
		f->msg.from_node = e->sender != 0 ? (e->sender_node ? e->sender_node : actor__node_id(sys)) :
						    e->sender_node;
		f->msg.type = e->type;
		f->msg.flags = (e->flags & ACTOR__ENV_URGENT ? ACTOR__WIRE_URGENT : 0) |
			       (e->flags & ACTOR__ENV_REQUEST ? ACTOR__WIRE_REQUEST : 0) |
			       (e->flags & ACTOR__ENV_REPLY ? ACTOR__WIRE_REPLY : 0);
		f->msg.request_id = f->msg.flags & (ACTOR__WIRE_REQUEST | ACTOR__WIRE_REPLY) ?
					    e->request_id : 0;
		f->msg.payload = e->data;
		f->msg.size = e->size;
		return msg_type_ok(f->msg.type, f->msg.flags, f->msg.to_id);
	}
	if (!(e->flags & ACTOR__ENV_SYSTEM)) {
		if (e->size != sizeof *sig)
			return false;	/* not the runtime's: sent by hand */
		op = e->type == ACTOR_MSG_DOWN ? ACTOR__SIG_DOWN : ACTOR__SIG_EXIT_MSG;
		ref = sig->from;
		reason = sig->reason;
	} else {
		switch (e->type) {
		case ACTOR__SYS_EXIT:
			op = ACTOR__SIG_EXIT;
			ref = actor__sender_of(e);
			reason = *(const int *)e->data;
			break;
		case ACTOR__SYS_MONITOR:
		case ACTOR__SYS_DEMONITOR:
		case ACTOR__SYS_LINK:
		case ACTOR__SYS_UNLINK:
			op = e->type == ACTOR__SYS_MONITOR ? ACTOR__SIG_MONITOR :
			     e->type == ACTOR__SYS_DEMONITOR ? ACTOR__SIG_DEMONITOR :
			     e->type == ACTOR__SYS_LINK ? ACTOR__SIG_LINK : ACTOR__SIG_UNLINK;
			ref = *(const actor_ref_t *)e->data;
			break;
		case ACTOR__SYS_LINK_EXIT:
			op = ACTOR__SIG_LINK_EXIT;
			ref = sig->from;
			reason = sig->reason;
			break;
		case ACTOR__SYS_FAILED:
			op = ACTOR__SIG_FAILED;
			reason = *(const int *)e->data;
			break;
		default:
			return false;
		}
	}
	f->kind = ACTOR__F_SIGNAL;
	f->signal.op = op;
	f->signal.to_id = to.id;
	f->signal.to_node = to.node;
	f->signal.ref_id = ref.id;
	f->signal.ref_node = ref.id != 0 ? (ref.node != 0 ? ref.node : actor__node_id(sys)) : 0;
	f->signal.reason = reason;
	f->signal.request_id = e->request_id;
	return true;
}

static bool tracked(const struct actor__frame *f)
{
	if (f->kind == ACTOR__F_MSG)
		return (f->msg.flags & ACTOR__WIRE_REQUEST) != 0;
	return f->signal.op >= ACTOR__SIG_MONITOR && f->signal.op <= ACTOR__SIG_LINK_EXIT;
}

/* --- when the peer cannot be reached -------------------------------------- */

/* Mail for a node that is down or unknown: a monitor or link learns it at
 * once, like Erlang's noconnection; other mail is a dead letter. */
static int unreachable(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		       struct actor__env *e)
{
	if (e->flags & ACTOR__ENV_SYSTEM) {
		actor_ref_t who = e->size >= sizeof who ? *(const actor_ref_t *)e->data :
							  ACTOR_REF_NONE;

		if (e->type == ACTOR__SYS_MONITOR)
			actor__send_signal(sys, w, who, ACTOR_MSG_DOWN, false, to, ACTOR_EXIT_NODEDOWN);
		else if (e->type == ACTOR__SYS_LINK)
			actor__send_signal(sys, w, who, ACTOR__SYS_LINK_EXIT, true, to,
					   ACTOR_EXIT_NODEDOWN);
		actor__env_free(actor__worker_pool(w), e);
		return 0;
	}
	actor__dead_letter(sys, w, to, e);
	return -EHOSTUNREACH;
}

/* --- the node's name service ---------------------------------------------- */

/* A whereis request to this node: answered at once, from the registry. */
static int whereis_here(struct actor_system *sys, struct actor__worker *w, struct actor__env *e)
{
	char name[ACTOR__NODE_NAME_MAX + 1];
	actor_ref_t ref = ACTOR_REF_NONE;
	unsigned char payload[ACTOR__REF_WIRE_MAX];
	struct actor__env *reply;
	size_t size;

	if (e->type != ACTOR_MSG_WHEREIS || !(e->flags & ACTOR__ENV_REQUEST)) {
		actor__dead_letter(sys, w, actor_node_ref(actor__node_id(sys)), e);
		return -ESRCH;
	}
	/* A name with a NUL names nothing (as a C string it would be another). */
	if (e->size < sizeof name && memchr(e->data, '\0', e->size) == NULL) {
		memcpy(name, e->data, e->size);
		name[e->size] = '\0';
		if (actor_lookup(sys, name, &ref) != 0)
			ref = ACTOR_REF_NONE;
	}
	size = actor__frame_ref_encode(ref.id, ref.node, payload, sizeof payload);
	reply = actor__env_make(actor__worker_pool(w), ACTOR_REF_NONE, ACTOR_MSG_WHEREIS, payload,
				size, ACTOR__ENV_REPLY, e->request_id);
	if (reply != NULL) {
		reply->sender_node = actor__node_id(sys);	/* from (0, node) */
		actor__deliver(sys, w, actor__sender_of(e), reply);
	}
	actor__env_free(actor__worker_pool(w), e);
	return 0;
}

/* --- outbound, any thread -------------------------------------------------- */

/*
 * Puts p on the ready stack, once: a push that got WOKE comes here, but a
 * WOKE from before a close and reopen of the queue may still be on its way,
 * so two can be (issue 11, bug 2). The flag is set first and cleared by
 * flush before it drains p, so frames queued by a caller that finds it set
 * are drained by that flush. Model: tests/spin/ready.pml.
 */
static void ready_push(struct actor__node *n, struct actor__peer *p)
{
	struct actor__peer *head;

	if (atomic_exchange_explicit(&p->queued, true, memory_order_acq_rel))
		return;
	head = atomic_load_explicit(&n->ready, memory_order_relaxed);
	do
		p->ready_next = head;
	while (!atomic_compare_exchange_weak_explicit(&n->ready, &head, p, memory_order_release,
						      memory_order_relaxed));
	n->t->ops->wake(n->t);
}

int actor__route(struct actor__router *r, struct actor__worker *w, actor_ref_t to,
		 struct actor__env *e)
{
	struct actor__node *n = (struct actor__node *)r;
	struct actor_system *sys = n->sys;
	struct actor__pool *pool = actor__worker_pool(w);
	struct actor__peer *p;
	struct actor__frame f;
	struct actor__env *fe;
	int err;

	if (to.node == actor__node_id(sys))
		return whereis_here(sys, w, e);
	if (!frame_of(sys, to, e, &f)) {
		actor__env_free(pool, e);
		return 0;
	}
	p = actor__peer_find(n, to.node);
	if (p == NULL || !atomic_load_explicit(&p->up, memory_order_relaxed))
		return unreachable(sys, w, to, e);
	/* The peer would close the connection for it, and everyone's mail. */
	if (ACTOR__MSG_FRAME_MAX(e->size) - ACTOR__FRAME_PREFIX > n->cfg.max_frame) {
		actor__env_free(pool, e);
		return -EMSGSIZE;
	}
	fe = actor__env_alloc(pool, ACTOR__MSG_FRAME_MAX(e->size));
	if (fe == NULL) {
		actor__env_free(pool, e);
		return -ENOMEM;
	}
	fe->size = (uint32_t)actor__frame_encode(&f, fe->data, ACTOR__MSG_FRAME_MAX(e->size));
	fe->flags = tracked(&f) ? ACTOR__FRAME_TRACKED : 0;
	err = actor__mbox_push(&p->outq, fe);
	if (err == ACTOR__MBOX_WOKE) {
		actor__woke_hook_t hook = atomic_load_explicit(&n->woke_hook, memory_order_relaxed);

		if (actor__unlikely(hook != NULL))
			hook(n, p);
		ready_push(n, p);
	}
	if (err >= 0) {
		actor__env_free(pool, e);
		return 0;
	}
	actor__env_free(pool, fe);
	if (err == -EAGAIN) {
		atomic_fetch_add_explicit(&n->queue_full, 1, memory_order_relaxed);
		actor__env_free(pool, e);
		return -EAGAIN;
	}
	return unreachable(sys, w, to, e);	/* -EPIPE: it went down meanwhile */
}

/* --- outbound, the I/O thread ---------------------------------------------- */

/* Notes what a frame leaving for p will need undone if p goes down. */
static void note_outbound(struct actor__node *n, struct actor__peer *p,
			  const struct actor__env *fe, uint64_t now)
{
	struct actor__frame f;
	const char *why;

	if (!(fe->flags & ACTOR__FRAME_TRACKED) ||
	    actor__frame_decode(n->decoder, (const unsigned char *)fe->data + ACTOR__FRAME_PREFIX,
				fe->size - ACTOR__FRAME_PREFIX, &f, &why) != 0)
		return;
	/* Only this node's actors are told when p goes down; a request
	 * forwarded from a third node is that node's to fail. */
	if (f.kind == ACTOR__F_MSG) {
		if (f.msg.from_node == actor__node_id(n->sys))
			actor__track_add(&p->track, TRACK_REQUEST, f.msg.from_id, f.msg.request_id,
					 now);
		return;
	}
	if (f.signal.ref_node != actor__node_id(n->sys))
		return;
	switch (f.signal.op) {
	case ACTOR__SIG_MONITOR:
		actor__track_add(&p->track, TRACK_MONITOR, f.signal.ref_id, f.signal.to_id, now);
		break;
	case ACTOR__SIG_DEMONITOR:
		actor__track_del(&p->track, TRACK_MONITOR, f.signal.ref_id, f.signal.to_id);
		break;
	case ACTOR__SIG_LINK:
		actor__track_add(&p->track, TRACK_LINK, f.signal.ref_id, f.signal.to_id, now);
		break;
	case ACTOR__SIG_UNLINK:
	case ACTOR__SIG_LINK_EXIT:
		actor__track_del(&p->track, TRACK_LINK, f.signal.ref_id, f.signal.to_id);
		break;
	}
}

void actor__route_drain(struct actor__node *n, struct actor__peer *p)
{
	const struct actor__transport_ops *ops = n->t->ops;
	struct actor__env *batch[FLUSH_BATCH];
	uint64_t now = actor__now_ns(), bytes;
	size_t k;

	for (int round = 0; p->conn != NULL && !p->stalled; round++) {
		if (round == DRAIN_BATCHES) {
			ready_push(n, p);	/* the rest after the next look around */
			return;
		}
		k = actor__mbox_pop_batch(&p->outq, batch, FLUSH_BATCH);
		if (k == 0) {
			if (actor__mbox_try_block(&p->outq))
				return;
			continue;
		}
		bytes = 0;
		for (size_t i = 0; i < k; i++) {
			note_outbound(n, p, batch[i], now);
			bytes += batch[i]->size;
		}
		atomic_fetch_add_explicit(&n->frames_out, k, memory_order_relaxed);
		atomic_fetch_add_explicit(&n->bytes_out, bytes, memory_order_relaxed);
		p->last_sent = now;
		ops->send(p->conn, batch, k);
		p->stalled = ops->queued(p->conn) >= n->t->cfg.high_water;
	}
}

void actor__route_flush(struct actor__node *n)
{
	struct actor__peer *p = atomic_exchange_explicit(&n->ready, NULL, memory_order_acquire);

	while (p != NULL) {
		struct actor__peer *next = p->ready_next;

		/* Before the drain: a WOKE after this pushes p again. Acquire:
		 * a pusher that found the flag set queued its frame before. */
		atomic_exchange_explicit(&p->queued, false, memory_order_acq_rel);
		actor__route_drain(n, p);
		p = next;
	}
}

/* --- inbound, the I/O thread ----------------------------------------------- */

static uint16_t env_flags(uint32_t wire)
{
	return (wire & ACTOR__WIRE_URGENT ? ACTOR__ENV_URGENT : 0) |
	       (wire & ACTOR__WIRE_REQUEST ? ACTOR__ENV_REQUEST : 0) |
	       (wire & ACTOR__WIRE_REPLY ? ACTOR__ENV_REPLY : 0);
}

static int deliver(struct actor__node *n, actor_ref_t to, actor_ref_t sender, uint32_t type,
		   const void *data, size_t size, uint16_t flags, uint32_t request_id)
{
	struct actor__env *e = actor__env_make(n->pool, sender, type, data, size, flags,
					       request_id);

	return e != NULL ? actor__deliver(n->sys, NULL, to, e) : -ENOMEM;
}

/*
 * A monitor or link for a local actor that is gone is answered at once with
 * ACTOR_EXIT_NOPROC, and a request to it fails with -ESRCH, as they would
 * be for a local caller.
 */
static void answer_gone(struct actor__node *n, actor_ref_t gone, actor_ref_t who, uint32_t op,
			uint32_t request_id)
{
	int err = -ESRCH;

	if (op == ACTOR__SIG_MONITOR)
		actor__send_signal(n->sys, NULL, who, ACTOR_MSG_DOWN, false, gone,
				   ACTOR_EXIT_NOPROC);
	else if (op == ACTOR__SIG_LINK)
		actor__send_signal(n->sys, NULL, who, ACTOR__SYS_LINK_EXIT, true, gone,
				   ACTOR_EXIT_NOPROC);
	else if (request_id != 0)
		deliver(n, who, ACTOR_REF_NONE, ACTOR__SYS_FAILED, &err, sizeof err,
			ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, request_id);
}

static int inbound_signal(struct actor__node *n, struct actor__peer *p, actor_ref_t to,
			  const struct actor__frame *f)
{
	actor_ref_t ref = { .id = f->signal.ref_id, .node = f->signal.ref_node };
	actor_signal_t sig = { .from = ref, .reason = f->signal.reason };
	uint16_t sys_flags = ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT;
	int reason = f->signal.reason;

	switch (f->signal.op) {
	case ACTOR__SIG_EXIT:
		return deliver(n, to, ref, ACTOR__SYS_EXIT, &reason, sizeof reason, sys_flags, 0);
	case ACTOR__SIG_MONITOR:
		return deliver(n, to, ACTOR_REF_NONE, ACTOR__SYS_MONITOR, &ref, sizeof ref,
			       sys_flags, 0);
	case ACTOR__SIG_DEMONITOR:
		return deliver(n, to, ACTOR_REF_NONE, ACTOR__SYS_DEMONITOR, &ref, sizeof ref,
			       sys_flags, 0);
	case ACTOR__SIG_LINK:
		if (ref.node == p->node)
			actor__track_add(&p->track, TRACK_LINK, to.id, ref.id, actor__now_ns());
		return deliver(n, to, ACTOR_REF_NONE, ACTOR__SYS_LINK, &ref, sizeof ref,
			       sys_flags, 0);
	case ACTOR__SIG_UNLINK:
		actor__track_del(&p->track, TRACK_LINK, to.id, ref.id);
		return deliver(n, to, ACTOR_REF_NONE, ACTOR__SYS_UNLINK, &ref, sizeof ref,
			       sys_flags, 0);
	case ACTOR__SIG_LINK_EXIT:
		actor__track_del(&p->track, TRACK_LINK, to.id, ref.id);
		return deliver(n, to, ref, ACTOR__SYS_LINK_EXIT, &sig, sizeof sig, sys_flags, 0);
	case ACTOR__SIG_FAILED:
		actor__track_del(&p->track, TRACK_REQUEST, to.id, f->signal.request_id);
		return deliver(n, to, ACTOR_REF_NONE, ACTOR__SYS_FAILED, &reason, sizeof reason,
			       sys_flags, f->signal.request_id);
	case ACTOR__SIG_DOWN:
		actor__track_del(&p->track, TRACK_MONITOR, to.id, ref.id);
		return deliver(n, to, ref, ACTOR_MSG_DOWN, &sig, sizeof sig, ACTOR__ENV_URGENT, 0);
	default:	/* ACTOR__SIG_EXIT_MSG; the decoder checked the range */
		return deliver(n, to, ref, ACTOR_MSG_EXIT, &sig, sizeof sig, ACTOR__ENV_URGENT, 0);
	}
}

/*
 * The rules of libactor-protocol(7) that the decoder cannot check alone:
 * what a frame from peer p breaks, or NULL.
 */
static const char *broken_rule(const struct actor__peer *p, const struct actor__frame *f)
{
	uint32_t rr;

	if (f->kind == ACTOR__F_SIGNAL) {
		/* Only DOWN and EXIT_MSG name another node's actor: the one
		 * that stopped. */
		if (f->signal.ref_id != 0 && f->signal.ref_node != p->node &&
		    f->signal.op != ACTOR__SIG_DOWN && f->signal.op != ACTOR__SIG_EXIT_MSG)
			return "SIGNAL: ref is not an actor of the sending node";
		return NULL;
	}
	if (!msg_type_ok(f->msg.type, f->msg.flags, f->msg.to_id))
		return "MSG: a runtime message type";
	rr = f->msg.flags & (ACTOR__WIRE_REQUEST | ACTOR__WIRE_REPLY);
	if (rr == (ACTOR__WIRE_REQUEST | ACTOR__WIRE_REPLY))
		return "MSG: both REQUEST and REPLY";
	if ((rr != 0) != (f->msg.request_id != 0))
		return "MSG: request_id 0 with REQUEST or REPLY, or not 0 without";
	/* Any actor may be claimed as the sender (a forwarded message keeps
	 * its own), but a node speaks only for itself. */
	if (f->msg.from_id == 0 && f->msg.from_node != 0 && f->msg.from_node != p->node)
		return "MSG: from another node's name service";
	return NULL;
}

int actor__route_inbound(struct actor__node *n, struct actor__peer *p,
			 const struct actor__frame *f, const char **why)
{
	uint32_t self = actor__node_id(n->sys);
	actor_ref_t to, from;

	if ((*why = broken_rule(p, f)) != NULL)
		return -EPROTO;
	if (f->kind == ACTOR__F_SIGNAL) {
		if (f->signal.to_node != self) {
			*why = "SIGNAL for another node";
			return -EBADMSG;
		}
		to = (actor_ref_t){ .id = f->signal.to_id, .node = self };
		if (inbound_signal(n, p, to, f) == -ESRCH &&
		    (f->signal.op == ACTOR__SIG_MONITOR || f->signal.op == ACTOR__SIG_LINK))
			answer_gone(n, to, (actor_ref_t){ f->signal.ref_id, f->signal.ref_node, 0 },
				    f->signal.op, 0);
		return 0;
	}
	/* The sender may live on a third node: a forwarded request keeps
	 * its requester. Nodes relay nothing, so the target must be here. */
	if (f->msg.to_node != self) {
		*why = "MSG for another node";
		return -EBADMSG;
	}
	to = (actor_ref_t){ .id = f->msg.to_id, .node = self };
	from = (actor_ref_t){ .id = f->msg.from_id, .node = f->msg.from_node };
	if ((f->msg.flags & ACTOR__WIRE_REPLY) && to.id != 0)
		actor__track_del(&p->track, TRACK_REQUEST, to.id, f->msg.request_id);
	if (to.id == 0 && f->msg.from_id == 0)
		return 0;	/* a whereis nobody could be answered for */
	if (deliver(n, to, from, f->msg.type, f->msg.payload, f->msg.size,
		    env_flags(f->msg.flags), f->msg.request_id) == -ESRCH &&
	    (f->msg.flags & ACTOR__WIRE_REQUEST) && from.id != 0)
		answer_gone(n, to, from, 0, f->msg.request_id);
	return 0;
}

/* --- node down -------------------------------------------------------------- */

struct down_ctx {
	struct actor__node *n;
	struct actor__peer *p;
};

static void fail_tracked(void *arg, const struct actor__track_entry *e)
{
	const struct down_ctx *d = arg;
	struct actor_system *sys = d->n->sys;
	actor_ref_t local = { .id = e->local, .node = actor__node_id(sys) };
	actor_ref_t remote = { .id = e->remote, .node = d->p->node };
	int err = -EHOSTUNREACH;

	switch (e->kind) {
	case TRACK_REQUEST:
		deliver(d->n, local, ACTOR_REF_NONE, ACTOR__SYS_FAILED, &err, sizeof err,
			ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, (uint32_t)e->remote);
		break;
	case TRACK_MONITOR:
		actor__send_signal(sys, NULL, local, ACTOR_MSG_DOWN, false, remote,
				   ACTOR_EXIT_NODEDOWN);
		break;
	case TRACK_LINK:
		actor__send_signal(sys, NULL, local, ACTOR__SYS_LINK_EXIT, true, remote,
				   ACTOR_EXIT_NODEDOWN);
		break;
	}
}

void actor__route_peer_down(struct actor__node *n, struct actor__peer *p)
{
	struct down_ctx d = { n, p };
	struct actor__env *e, *next;
	uint64_t now = actor__now_ns();

	/* The caller cleared p->conn, so this sends nothing for p; a late
	 * WOKE may put p back on the stack, and ready_push keeps it once. */
	actor__route_flush(n);
	e = actor__mbox_close(&p->outq);
	/* Frames that never left still made promises: note them, then fail
	 * everything noted. */
	for (; e != NULL; e = next) {
		next = e->next;
		note_outbound(n, p, e, now);
		actor__env_free(n->pool, e);
	}
	actor__track_drain(&p->track, fail_tracked, &d);
	p->stalled = false;
}

void actor__route_expire(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	actor__track_expire(&p->track, now, REQUEST_MAX_AGE_NS);
}

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
#include <inttypes.h>
#include <string.h>

#include "cluster/internal.h"
#include "util/spin.h"

#define FLUSH_BATCH 64
/* Batches one drain hands over before the I/O thread looks at its other
 * work: a peer whose senders never pause must not starve reads and
 * heartbeats. */
#define DRAIN_BATCHES 16
/* A request the peer never answered, whose requester has surely given
 * up, is forgotten after this long. */
#define REQUEST_MAX_AGE_NS (600ull * 1000 * 1000 * 1000)

/* --- the runtime messages on the wire ------------------------------------- */

/* How a runtime message's payload maps to a SIGNAL frame's fields. */
enum payload {
	PAY_NONE,	/* it never crosses: local to a node */
	PAY_REASON,	/* int reason; ref is the envelope's sender */
	PAY_REF,	/* actor_ref_t: ref */
	PAY_SIGNAL,	/* actor_signal_t: ref (from) and reason */
	PAY_ERROR,	/* int error: reason, with the envelope's request_id */
};

/*
 * One row per runtime message: what it is here (type, and whether it is a
 * system envelope), what it is on the wire (op, payload), what it promises
 * that a node-down must break (track: noted on the way out or in, +1, or
 * forgotten, -1), and the signal that answers it at once when its target
 * is gone or unreachable (gone). Both directions read this table: frame_of
 * and note_outbound going out, inbound_signal coming in, unreachable and
 * answer_gone for the answers.
 */
struct runtime_msg {
	uint32_t type;		/* ACTOR__SYS_* if system, else ACTOR_MSG_* */
	bool system;		/* sent with ACTOR__ENV_SYSTEM */
	uint8_t op;		/* ACTOR__SIG_*; 0 with PAY_NONE */
	uint8_t payload;	/* enum payload */
	uint8_t track;		/* ACTOR__TRACK_*, or 0 */
	int8_t out, in;		/* +1: noted, -1: forgotten, 0: neither */
	uint32_t gone;		/* the signal that answers it at once, or 0 */
	bool gone_system;	/* that signal is a system envelope */
};

#define LOCAL_ONLY(t) { .type = (t), .system = true }
#define ROW_INIT LOCAL_ONLY(ACTOR__SYS_INIT)
#define ROW_EXIT { ACTOR__SYS_EXIT, true, ACTOR__SIG_EXIT, PAY_REASON, 0, 0, 0, 0, false }
#define ROW_TIMEOUT LOCAL_ONLY(ACTOR__SYS_TIMEOUT)
#define ROW_FAILED \
	{ ACTOR__SYS_FAILED, true, ACTOR__SIG_FAILED, PAY_ERROR, ACTOR__TRACK_REQUEST, 0, -1, 0, false }
#define ROW_MONITOR \
	{ ACTOR__SYS_MONITOR, true, ACTOR__SIG_MONITOR, PAY_REF, ACTOR__TRACK_MONITOR, +1, 0, \
	  ACTOR_MSG_DOWN, false }
#define ROW_DEMONITOR \
	{ ACTOR__SYS_DEMONITOR, true, ACTOR__SIG_DEMONITOR, PAY_REF, ACTOR__TRACK_MONITOR, -1, 0, 0, false }
#define ROW_LINK \
	{ ACTOR__SYS_LINK, true, ACTOR__SIG_LINK, PAY_REF, ACTOR__TRACK_LINK, +1, +1, \
	  ACTOR__SYS_LINK_EXIT, true }
#define ROW_UNLINK \
	{ ACTOR__SYS_UNLINK, true, ACTOR__SIG_UNLINK, PAY_REF, ACTOR__TRACK_LINK, -1, -1, 0, false }
#define ROW_LINK_EXIT \
	{ ACTOR__SYS_LINK_EXIT, true, ACTOR__SIG_LINK_EXIT, PAY_SIGNAL, ACTOR__TRACK_LINK, -1, -1, 0, false }
#define ROW_INIT_COPY LOCAL_ONLY(ACTOR__SYS_INIT_COPY)
#define ROW_STOP LOCAL_ONLY(ACTOR__SYS_STOP)

/* After the system ones: the two that actors' handlers receive
 * (include/actor/types.h), made by the runtime too. */
enum { ROW_MSG_DOWN = ACTOR__SYS_COUNT, ROW_MSG_EXIT, NROWS };

/*
 * Indexed by ACTOR__SYS_* type. ACTOR__SYS_LIST (sched/seam.h) names a
 * ROW_<NAME> for each runtime message, so that a new one without its row
 * above does not compile.
 */
static const struct runtime_msg runtime_msgs[NROWS] = {
	/* No message has type 0; row_of gives this row to any type past the
	 * last, too: it never crosses, so such mail is unmapped(). */
	[ACTOR__SYS_NONE] = LOCAL_ONLY(ACTOR__SYS_NONE),
#define ROW(name) [ACTOR__SYS_##name] = ROW_##name,
	ACTOR__SYS_LIST(ROW)
#undef ROW
	[ROW_MSG_DOWN] = { ACTOR_MSG_DOWN, false, ACTOR__SIG_DOWN, PAY_SIGNAL, ACTOR__TRACK_MONITOR, 0, -1,
			   0, false },
	[ROW_MSG_EXIT] = { ACTOR_MSG_EXIT, false, ACTOR__SIG_EXIT_MSG, PAY_SIGNAL, 0, 0, 0, 0,
			   false },
};

/* Every op of cluster/wire.h has its row: row_of_op finds none for an op
 * added there and not here, and the frame is refused (inbound) or never
 * made (outbound); this makes that a build error instead. */
_Static_assert(ACTOR__SIG_MAX == ACTOR__SIG_EXIT_MSG && ACTOR__SIG_EXIT_MSG == 9,
	       "a new SIGNAL op needs its row in runtime_msgs");

/* The row of a runtime message, or NULL for mail between actors. */
static const struct runtime_msg *row_of(const struct actor__env *e)
{
	if (e->flags & ACTOR__ENV_SYSTEM)
		return &runtime_msgs[e->type < ACTOR__SYS_COUNT ? e->type : ACTOR__SYS_NONE];
	if (e->type == ACTOR_MSG_DOWN)
		return &runtime_msgs[ROW_MSG_DOWN];
	if (e->type == ACTOR_MSG_EXIT)
		return &runtime_msgs[ROW_MSG_EXIT];
	return NULL;
}

/* The row of a SIGNAL op, or NULL. */
static const struct runtime_msg *row_of_op(uint32_t op)
{
	for (size_t i = 0; op != 0 && i < NROWS; i++)
		if (runtime_msgs[i].op == op)
			return &runtime_msgs[i];
	return NULL;
}

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

/* The fields of a runtime message's payload, as its row says; false when
 * the size is not the runtime's (a runtime type sent by hand). */
static bool payload_of(const struct runtime_msg *row, const struct actor__env *e,
		       actor_ref_t *ref, int32_t *reason)
{
	actor_signal_t sig;
	int i;

	switch (row->payload) {
	case PAY_REASON:
	case PAY_ERROR:
		if (e->size != sizeof i)
			return false;
		memcpy(&i, e->data, sizeof i);
		*reason = i;
		if (row->payload == PAY_REASON)
			*ref = actor__sender_of(e);
		return true;
	case PAY_REF:
		if (e->size != sizeof *ref)
			return false;
		memcpy(ref, e->data, sizeof *ref);
		return true;
	case PAY_SIGNAL:
		if (e->size != sizeof sig)
			return false;
		memcpy(&sig, e->data, sizeof sig);
		*ref = sig.from;
		*reason = sig.reason;
		return true;
	default:
		return false;
	}
}

/* Fills f for e; false for mail that has no form on the wire: runtime
 * messages local to a node (spawns, timeouts), and runtime types sent by
 * hand, which the peer would refuse. */
static bool frame_of(const struct actor_system *sys, actor_ref_t to, const struct actor__env *e,
		     struct actor__frame *f)
{
	const struct runtime_msg *row = row_of(e);
	actor_ref_t ref = ACTOR_REF_NONE;
	int32_t reason = 0;

	if (row == NULL) {
		f->kind = ACTOR__F_MSG;
		f->msg.to_id = to.id;
		f->msg.to_node = to.node;
		f->msg.from_id = e->sender;
		/* (0, node): a node's name service answering. */
		f->msg.from_node = e->sender != 0 ?
					   (e->sender_node ? e->sender_node : actor__node_id(sys)) :
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
	if (row->op == 0 || !payload_of(row, e, &ref, &reason))
		return false;
	f->kind = ACTOR__F_SIGNAL;
	f->signal.op = row->op;
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
	const struct runtime_msg *row;

	if (f->kind == ACTOR__F_MSG)
		return (f->msg.flags & ACTOR__WIRE_REQUEST) != 0;
	if (f->kind == ACTOR__F_VIRTUAL)
		return (f->virt.flags & ACTOR__WIRE_REQUEST) != 0;
	row = row_of_op(f->signal.op);
	return row != NULL && row->out != 0;
}

/* --- mail that cannot go ---------------------------------------------------- */

/*
 * Mail with no form on the wire (frame_of said false) is never dropped
 * silently: it is a dead letter, counted in n->unmapped, and the I/O
 * thread logs the count (actor__route_tick), since the log callback runs
 * there only.
 */
static int unmapped(struct actor__node *n, struct actor__worker *w, actor_ref_t to,
		    struct actor__env *e)
{
	atomic_store_explicit(&n->unmapped_type, e->type, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->unmapped, 1, memory_order_release);
	actor__dead_letter(n->sys, w, to, e, -EPROTONOSUPPORT);
	return 0;
}

void actor__route_tick(struct actor__node *n)
{
	uint64_t k = atomic_load_explicit(&n->unmapped, memory_order_acquire);

	if (k == n->unmapped_told)
		return;
	actor__node_log_limited(n, "%" PRIu64 " message(s) for other nodes had no form on the wire and became dead letters (the last of type %#x)",
				k - n->unmapped_told,
				atomic_load_explicit(&n->unmapped_type, memory_order_relaxed));
	n->unmapped_told = k;
}

/* Mail for a node that is down or unknown: a monitor or link learns it at
 * once, like Erlang's noconnection; other mail is a dead letter. */
static int unreachable(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		       struct actor__env *e)
{
	if (e->flags & ACTOR__ENV_SYSTEM) {
		const struct runtime_msg *row = row_of(e);
		actor_ref_t who = e->size >= sizeof who ? *(const actor_ref_t *)e->data :
							  ACTOR_REF_NONE;

		if (row->gone != 0 && row->payload == PAY_REF)
			actor__send_signal(sys, w, who, row->gone, row->gone_system, to,
					   ACTOR_EXIT_NODEDOWN);
		actor__env_free(actor__worker_pool(w), e);
		return 0;
	}
	actor__dead_letter(sys, w, to, e, -EHOSTUNREACH);
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
		actor__dead_letter(sys, w, actor_node_ref(actor__node_id(sys)), e, -ESRCH);
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

/*
 * The control lane. Replies and runtime signals (failed requests, exits,
 * monitors, links) are not refused by max_queued, the bound on the user's
 * mail for a peer: a requester whose reply was refused there saw only its
 * timeout, a monitor that missed its DOWN waited for ever. They keep their
 * place in the queue (no overtaking: mail between two actors stays in
 * order) and are bounded apart (p->control, CONTROL_MAX): each one answers
 * or reports something of the peer's or its actors', so a burst of them
 * is as large as the peer's request window, which max_queued (user mail,
 * a small bound on purpose) says nothing about; a peer reaches this bound
 * only by not reading at all. Beyond it they fail with -EAGAIN as user
 * mail does, and the heartbeat will find the peer.
 */
#define CONTROL_MAX (1u << 20)

static bool control(const struct actor__frame *f)
{
	return f->kind == ACTOR__F_SIGNAL ||
	       (f->kind == ACTOR__F_MSG && (f->msg.flags & ACTOR__WIRE_REPLY) != 0);
}

static void control_done(struct actor__peer *p, const struct actor__env *fe)
{
	if (fe->flags & ACTOR__FRAME_CONTROL)
		atomic_fetch_sub_explicit(&p->control, 1, memory_order_relaxed);
}

static int push_lane(struct actor__peer *p, struct actor__env *fe)
{
	int err;

	if (!(fe->flags & ACTOR__FRAME_CONTROL))
		return actor__mbox_push(&p->outq, fe);
	if (atomic_fetch_add_explicit(&p->control, 1, memory_order_relaxed) >= CONTROL_MAX) {
		atomic_fetch_sub_explicit(&p->control, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	if ((err = actor__mbox_push_unbounded(&p->outq, fe)) < 0)
		control_done(p, fe);
	return err;
}

/* Counts its bytes before the push: the drain may take it at once. */
static int push(struct actor__peer *p, struct actor__env *fe)
{
	uint32_t size = fe->size;
	int err;

	atomic_fetch_add_explicit(&p->queued_bytes, size, memory_order_relaxed);
	if ((err = push_lane(p, fe)) < 0)
		atomic_fetch_sub_explicit(&p->queued_bytes, size, memory_order_relaxed);
	return err;
}

/* Gives back what the frame counted in p's queue. */
static void taken(struct actor__peer *p, const struct actor__env *fe)
{
	control_done(p, fe);
	atomic_fetch_sub_explicit(&p->queued_bytes, fe->size, memory_order_relaxed);
}

void actor__route_queued(const struct actor__peer *p, uint64_t *frames, uint64_t *bytes)
{
	*frames = atomic_load_explicit(&p->outq.count, memory_order_relaxed) +
		  atomic_load_explicit(&p->control, memory_order_relaxed);
	*bytes = atomic_load_explicit(&p->queued_bytes, memory_order_relaxed) +
		 atomic_load_explicit(&p->conn_bytes, memory_order_relaxed);
}

void actor__route_conn_bytes(struct actor__node *n, struct actor__peer *p)
{
	atomic_store_explicit(&p->conn_bytes, p->conn != NULL ? n->t->ops->queued(p->conn) : 0,
			      memory_order_relaxed);
}

int actor__route_frame(struct actor__node *n, struct actor__worker *w, uint32_t node,
		       const struct actor__frame *f, size_t max, actor_ref_t to,
		       struct actor__env *e)
{
	struct actor_system *sys = n->sys;
	struct actor__pool *pool = actor__worker_pool(w);
	struct actor__peer *p;
	struct actor__env *fe;
	unsigned s;
	int err;

	/* The peer is not freed before the section ends (peer.c). */
	s = actor__peer_enter(n);
	/* The node is stopping: its transport may be gone (node.c:node_stop
	 * waits for the read sections that began before it said so). */
	p = atomic_load_explicit(&n->closing, memory_order_seq_cst) ? NULL :
								       actor__peer_find(n, node);
	/* A held peer that is not up takes the frame into its queue, which
	 * waits for its connection (peer.c); the push tells if it was
	 * released meanwhile (-EPIPE). */
	if (p == NULL || (!atomic_load_explicit(&p->up, memory_order_relaxed) &&
			  !atomic_load_explicit(&p->held, memory_order_relaxed))) {
		actor__peer_exit(n, s);
		return unreachable(sys, w, to, e);
	}
	/* The peer would close the connection for it, and everyone's mail. */
	if (max - ACTOR__FRAME_PREFIX > n->cfg.max_frame) {
		actor__peer_exit(n, s);
		actor__env_free(pool, e);
		return -EMSGSIZE;
	}
	fe = actor__env_alloc(pool, max);
	if (fe == NULL) {
		actor__peer_exit(n, s);
		actor__env_free(pool, e);
		return -ENOMEM;
	}
	fe->size = (uint32_t)actor__frame_encode(f, fe->data, max);
	fe->flags = (tracked(f) ? ACTOR__FRAME_TRACKED : 0) | (control(f) ? ACTOR__FRAME_CONTROL : 0);
	if (actor__route_direct(n, w, p, fe)) {
		actor__peer_exit(n, s);
		actor__env_free(pool, e);
		return 0;
	}
	err = push(p, fe);
	if (err == ACTOR__MBOX_WOKE) {
		actor__woke_hook_t hook = atomic_load_explicit(&n->woke_hook, memory_order_relaxed);

		if (actor__unlikely(hook != NULL))
			hook(n, p);
		ready_push(n, p);
	}
	actor__peer_exit(n, s);
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

int actor__route(struct actor__router *r, struct actor__worker *w, actor_ref_t to,
		 struct actor__env *e)
{
	struct actor__node *n = (struct actor__node *)r;
	struct actor__frame f;

	if (to.node == actor__node_id(n->sys))
		return whereis_here(n->sys, w, e);
	if (!frame_of(n->sys, to, e, &f))
		return unmapped(n, w, to, e);
	return actor__route_frame(n, w, to.node, &f, ACTOR__MSG_FRAME_MAX(e->size), to, e);
}

/* --- outbound, the I/O thread ---------------------------------------------- */

/*
 * p->track is the I/O thread's but for one writer: a worker that reads a
 * reply on the driven path clears its request there. p->track_busy is
 * held for one table operation (or a peer's drain, which no worker meets:
 * the transport takes a connection back from the driver before it reports
 * it closed).
 */

/*
 * What a signal between this node's actor `local` and `remote` (an actor
 * of p's, or a request id) promises or undoes, on its way out or in, as
 * its row says.
 */
static void track(struct actor__peer *p, const struct runtime_msg *row, bool out, uint64_t local,
		  uint64_t remote, uint64_t now)
{
	int what = row == NULL ? 0 : out ? row->out : row->in;

	if (what == 0)
		return;
	actor__spin_lock(&p->track_busy);
	if (what > 0)
		actor__track_add(&p->track, row->track, local, remote, now);
	else
		actor__track_del(&p->track, row->track, local, remote);
	actor__spin_unlock(&p->track_busy);
}

static void track_request(struct actor__peer *p, uint64_t local, uint32_t request_id, uint64_t now)
{
	actor__spin_lock(&p->track_busy);
	actor__track_add(&p->track, ACTOR__TRACK_REQUEST, local, request_id, now);
	actor__spin_unlock(&p->track_busy);
}

/* A reply from p to this node's actor `to` for request_id: it needs no
 * undoing any more. Any thread. */
static void track_replied(struct actor__peer *p, uint64_t to, uint32_t request_id)
{
	actor__spin_lock(&p->track_busy);
	actor__track_del(&p->track, ACTOR__TRACK_REQUEST, to, request_id);
	actor__spin_unlock(&p->track_busy);
}

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
			track_request(p, f.msg.from_id, f.msg.request_id, now);
		return;
	}
	if (f.kind == ACTOR__F_VIRTUAL) {
		if (f.virt.from_node == actor__node_id(n->sys))
			track_request(p, f.virt.from_id, f.virt.request_id, now);
		return;
	}
	if (f.signal.ref_node == actor__node_id(n->sys))
		track(p, row_of_op(f.signal.op), true, f.signal.ref_id, f.signal.to_id, now);
}

void actor__route_drain(struct actor__node *n, struct actor__peer *p)
{
	const struct actor__transport_ops *ops;
	struct actor__env *batch[FLUSH_BATCH];
	uint64_t now = actor__now_ns(), bytes;
	size_t k;

	/* No connection (down, held, or the transport gone at node_stop):
	 * nothing to hand over. */
	if (p->conn == NULL)
		return;
	ops = n->t->ops;
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
			taken(p, batch[i]);
			bytes += batch[i]->size;
		}
		atomic_fetch_add_explicit(&n->frames_out, k, memory_order_relaxed);
		atomic_fetch_add_explicit(&n->bytes_out, bytes, memory_order_relaxed);
		p->last_sent = now;
		if (actor__unlikely(actor__node_dropped(n, p->node))) {
			for (size_t i = 0; i < k; i++)	/* a partition, for tests */
				actor__env_free(n->pool, batch[i]);
			continue;
		}
		ops->send(p->conn, batch, k);
		actor__route_conn_bytes(n, p);
		p->stalled = atomic_load_explicit(&p->conn_bytes, memory_order_relaxed) >=
			     n->t->cfg.high_water;
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

/* As a local send from w (NULL: the I/O thread, with its pool). */
static int deliver_on(struct actor__node *n, struct actor__worker *w, actor_ref_t to,
		      actor_ref_t sender, uint32_t type, const void *data, size_t size,
		      uint16_t flags, uint32_t request_id)
{
	struct actor__env *e = actor__env_make(w != NULL ? actor__worker_pool(w) : n->pool, sender,
					       type, data, size, flags, request_id);

	return e != NULL ? actor__deliver(n->sys, w, to, e) : -ENOMEM;
}

static int deliver(struct actor__node *n, actor_ref_t to, actor_ref_t sender, uint32_t type,
		   const void *data, size_t size, uint16_t flags, uint32_t request_id)
{
	return deliver_on(n, NULL, to, sender, type, data, size, flags, request_id);
}

/* Request request_id of who fails with err, at once. */
static void answer_failed_on(struct actor__node *n, struct actor__worker *w, actor_ref_t who,
			     uint32_t request_id, int err)
{
	deliver_on(n, w, who, ACTOR_REF_NONE, ACTOR__SYS_FAILED, &err, sizeof err,
		   ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, request_id);
}

static void answer_failed(struct actor__node *n, actor_ref_t who, uint32_t request_id, int err)
{
	answer_failed_on(n, NULL, who, request_id, err);
}

/*
 * A monitor or link for a local actor that is gone is answered at once with
 * ACTOR_EXIT_NOPROC, and a request to it fails with -ESRCH, as they would
 * be for a local caller.
 */
static void answer_gone(struct actor__node *n, actor_ref_t gone, actor_ref_t who, uint32_t op,
			uint32_t request_id)
{
	const struct runtime_msg *row = row_of_op(op);

	if (row != NULL && row->gone != 0)
		actor__send_signal(n->sys, NULL, who, row->gone, row->gone_system, gone,
				   ACTOR_EXIT_NOPROC);
	else if (request_id != 0)
		answer_failed(n, who, request_id, -ESRCH);
}

/* A SIGNAL from peer p as the runtime message its row says (broken_rule
 * made sure that there is one). */
static int inbound_signal(struct actor__node *n, struct actor__peer *p, actor_ref_t to,
			  const struct actor__frame *f)
{
	const struct runtime_msg *row = row_of_op(f->signal.op);
	actor_ref_t ref = { .id = f->signal.ref_id, .node = f->signal.ref_node };
	actor_signal_t sig = { .from = ref, .reason = f->signal.reason };
	uint16_t flags = ACTOR__ENV_URGENT | (row->system ? ACTOR__ENV_SYSTEM : 0);
	int reason = f->signal.reason;

	/* A link noted here names the sender's own actor. */
	if (row->in < 0 || (row->in > 0 && ref.node == p->node))
		track(p, row, false, to.id,
		      row->track == ACTOR__TRACK_REQUEST ? f->signal.request_id : ref.id,
		      row->in > 0 ? actor__now_ns() : 0);
	switch (row->payload) {
	case PAY_REASON:
		return deliver(n, to, ref, row->type, &reason, sizeof reason, flags, 0);
	case PAY_REF:
		return deliver(n, to, ACTOR_REF_NONE, row->type, &ref, sizeof ref, flags, 0);
	case PAY_SIGNAL:
		return deliver(n, to, ref, row->type, &sig, sizeof sig, flags, 0);
	default:	/* PAY_ERROR */
		return deliver(n, to, ACTOR_REF_NONE, row->type, &reason, sizeof reason, flags,
			       f->signal.request_id);
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
		const struct runtime_msg *row = row_of_op(f->signal.op);

		if (row == NULL || row->payload == PAY_NONE)
			return "SIGNAL: an op this node has no runtime message for";
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
	bool request;
	int err;

	if (f->kind == ACTOR__F_VIRTUAL)
		return actor__vroute_inbound(n, p, f, why);
	if ((*why = broken_rule(p, f)) != NULL)
		return -EPROTO;
	if (f->kind == ACTOR__F_SIGNAL) {
		if (f->signal.to_node != self) {
			*why = "SIGNAL for another node";
			return -EBADMSG;
		}
		to = (actor_ref_t){ .id = f->signal.to_id, .node = self };
		if (inbound_signal(n, p, to, f) == -ESRCH)
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
		track_replied(p, to.id, f->msg.request_id);
	if (to.id == 0 && f->msg.from_id == 0)
		return 0;	/* a whereis nobody could be answered for */
	err = deliver(n, to, from, f->msg.type, f->msg.payload, f->msg.size,
		      env_flags(f->msg.flags), f->msg.request_id);
	request = (f->msg.flags & ACTOR__WIRE_REQUEST) && from.id != 0;
	if (err == -ESRCH && request) {
		answer_gone(n, to, from, 0, f->msg.request_id);
	} else if (err == -EAGAIN) {
		/* A full bounded mailbox: the sender's send returned 0 long
		 * ago, so this is where it is lost. Counted and told to the
		 * hook as a dead letter, and a request fails at once as a
		 * local one would. No flow control crosses nodes. */
		actor__dead_letter_report(n->sys, to, from, f->msg.type, f->msg.payload,
					  f->msg.size, -EAGAIN);
		if (request)
			answer_failed(n, from, f->msg.request_id, -EAGAIN);
	}
	return 0;
}

bool actor__route_inbound_driven(struct actor__node *n, struct actor__worker *w,
				 struct actor__peer *p, const struct actor__frame *f)
{
	actor_ref_t to = { .id = f->msg.to_id, .node = actor__node_id(n->sys) };
	actor_ref_t from = { .id = f->msg.from_id, .node = f->msg.from_node };
	bool request = (f->msg.flags & ACTOR__WIRE_REQUEST) && from.id != 0;
	int err;

	/* Anything odd is logged and closes the connection: the I/O
	 * thread's. Mail for the name service is its too. */
	if (to.id == 0 || f->msg.to_node != to.node || broken_rule(p, f) != NULL)
		return false;
	/* Before the delivery, as actor__route_inbound: once the requester
	 * has its reply, p's going down must not fail the request again. */
	if (f->msg.flags & ACTOR__WIRE_REPLY)
		track_replied(p, to.id, f->msg.request_id);
	err = deliver_on(n, w, to, from, f->msg.type, f->msg.payload, f->msg.size,
			 env_flags(f->msg.flags), f->msg.request_id);
	if (err == -ESRCH && request) {
		answer_failed_on(n, w, from, f->msg.request_id, -ESRCH);
	} else if (err == -EAGAIN) {
		/* As actor__route_inbound. */
		actor__dead_letter_report(n->sys, to, from, f->msg.type, f->msg.payload,
					  f->msg.size, -EAGAIN);
		if (request)
			answer_failed_on(n, w, from, f->msg.request_id, -EAGAIN);
	}
	return true;
}

/* --- mail lost ------------------------------------------------------------- */

/*
 * What a remote send's 0 promised: the frame was queued for the peer, not
 * delivered. Frames still in the peer's queue when it goes down, or in its
 * connection's buffers when that closes (told by the transport), are lost
 * here, and counted: sent = delivered + frames_lost of both nodes, but for
 * what the kernels' socket buffers held when a node died (no node can
 * count those without acknowledgements on the wire).
 */
void actor__route_lost(struct actor__node *n, const struct actor__env *fe)
{
	struct actor__frame f;
	const char *why;

	if (fe->size <= ACTOR__FRAME_PREFIX ||
	    actor__frame_decode(n->lost_decoder, (const unsigned char *)fe->data + ACTOR__FRAME_PREFIX,
				fe->size - ACTOR__FRAME_PREFIX, &f, &why) != 0 ||
	    (f.kind != ACTOR__F_MSG && f.kind != ACTOR__F_SIGNAL))
		return;
	atomic_fetch_add_explicit(&n->frames_lost, 1, memory_order_relaxed);
	if (f.kind == ACTOR__F_MSG && f.msg.to_id != 0)
		actor__dead_letter_report(n->sys, (actor_ref_t){ f.msg.to_id, f.msg.to_node, 0 },
					  (actor_ref_t){ f.msg.from_id, f.msg.from_node, 0 }, f.msg.type,
					  f.msg.payload, f.msg.size, -ECONNRESET);
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
	const struct runtime_msg *row;
	int err = -EHOSTUNREACH;

	switch (e->kind) {
	case ACTOR__TRACK_REQUEST:
		deliver(d->n, local, ACTOR_REF_NONE, ACTOR__SYS_FAILED, &err, sizeof err,
			ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, (uint32_t)e->remote);
		break;
	case ACTOR__TRACK_MONITOR:
	case ACTOR__TRACK_LINK:
		/* Answered as the monitor or link itself is when unreachable. */
		row = &runtime_msgs[e->kind == ACTOR__TRACK_MONITOR ? ACTOR__SYS_MONITOR : ACTOR__SYS_LINK];
		actor__send_signal(sys, NULL, local, row->gone, row->gone_system, remote,
				   ACTOR_EXIT_NODEDOWN);
		break;
	}
}

void actor__route_peer_down(struct actor__node *n, struct actor__peer *p, bool keep)
{
	struct down_ctx d = { n, p };
	struct actor__env *e = NULL, *next;
	uint64_t now = actor__now_ns();

	/* The caller cleared p->conn, so this sends nothing for p; a late
	 * WOKE may put p back on the stack, and ready_push keeps it once. */
	actor__route_flush(n);
	/* A held peer's queue stays open: its frames never left, and go out
	 * in order on the next connection (peer.c, "Held peers"). */
	if (!keep)
		e = actor__mbox_close(&p->outq);
	/* Frames that never left still made promises: note them, then fail
	 * everything noted. */
	for (; e != NULL; e = next) {
		next = e->next;
		note_outbound(n, p, e, now);
		taken(p, e);
		actor__route_lost(n, e);
		actor__env_free(n->pool, e);
	}
	actor__spin_lock(&p->track_busy);
	actor__track_drain(&p->track, fail_tracked, &d);
	actor__spin_unlock(&p->track_busy);
	p->stalled = false;
	actor__route_conn_bytes(n, p);	/* p->conn is NULL: 0 */
}

void actor__route_expire(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	actor__spin_lock(&p->track_busy);
	actor__track_expire(&p->track, now, REQUEST_MAX_AGE_NS);
	actor__spin_unlock(&p->track_busy);
}

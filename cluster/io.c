/*
 * A node's side of its transport: the callbacks, all on the I/O thread.
 * Connections (struct actor__session, from accept or connect to closed()),
 * the frames that arrive on them, the commands other threads queue for
 * the I/O thread (dials, disconnects) and the periodic tick (handshake
 * deadlines, then the peers' heartbeats and redials).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

#define SWEEP_NS (60ull * 1000 * 1000 * 1000)

int actor__node_drop(struct actor__node *n, uint32_t node, bool drop)
{
	uint32_t expect = 0;

	for (size_t i = 0; i < ACTOR__DROP_MAX; i++)
		if (atomic_load(&n->drop[i]) == node) {
			if (!drop) {
				atomic_store(&n->drop[i], 0);
				atomic_fetch_sub(&n->ndrop, 1);
			}
			return 0;
		}
	if (!drop)
		return 0;
	for (size_t i = 0; i < ACTOR__DROP_MAX; i++, expect = 0)
		if (atomic_compare_exchange_strong(&n->drop[i], &expect, node)) {
			atomic_fetch_add(&n->ndrop, 1);
			return 0;
		}
	return -ENOSPC;
}

bool actor__node_dropped(struct actor__node *n, uint32_t node)
{
	if (actor__likely(atomic_load_explicit(&n->ndrop, memory_order_relaxed) == 0) || node == 0)
		return false;
	for (size_t i = 0; i < ACTOR__DROP_MAX; i++)
		if (atomic_load_explicit(&n->drop[i], memory_order_relaxed) == node)
			return true;
	return false;
}

void actor__node_send_now(struct actor__node *n, struct actor__conn *c,
			  const struct actor__frame *f)
{
	const struct actor__session *l = actor__conn_data(c);
	size_t cap = actor__frame_max(f);
	struct actor__env *e;

	if (l != NULL && actor__node_dropped(n, l->peer_node))
		return;		/* a partition, for tests */
	if ((e = actor__env_alloc(n->pool, cap)) == NULL)
		return;		/* the handshake or heartbeat times out instead */
	e->size = (uint32_t)actor__frame_encode(f, e->data, cap);
	if (e->size == 0) {
		actor__env_free(n->pool, e);
		return;
	}
	n->t->ops->send(c, &e, 1);
}

static struct actor__session *session_new(struct actor__node *n, struct actor__conn *c)
{
	struct actor__session *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->conn = c;
	l->started = actor__now_ns();
	l->deadline = l->started + n->cfg.handshake_timeout_ns;
	n->handshaking++;
	actor__list_push(&n->sessions, &l->node);
	return l;
}

static void session_free(struct actor__node *n, struct actor__session *l)
{
	if (l->state == ACTOR__SESSION_HANDSHAKE)
		n->handshaking--;
	actor__list_del(&l->node);
	free(l);
}

/* Tells the actor_node_connect() waiting on d how it went, or frees d if
 * the caller gave up; takes n->lock. */
static void dial_finish(struct actor__node *n, struct actor__dial *d, int result, uint32_t node)
{
	pthread_mutex_lock(&n->lock);
	actor__dial_end(d, result, node);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void actor__dial_done(struct actor__node *n, struct actor__session *l, int result)
{
	struct actor__dial *d = l->dial;

	if (d == NULL)
		return;
	l->dial = NULL;
	dial_finish(n, d, result, l->peer_node);
}

static void on_accepted(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__session *l;

	/* Unauthenticated connections cost memory and time: a bounded number. */
	if (n->handshaking >= n->cfg.max_handshakes) {
		atomic_fetch_add_explicit(&n->handshakes_busy, 1, memory_order_relaxed);
		n->t->ops->close(c, -EBUSY);
		return;
	}
	l = session_new(n, c);
	actor__conn_set_data(c, l);
	if (l == NULL || actor__handshake_begin(n, c, l) != 0)
		n->t->ops->close(c, -ENOMEM);
}

static void on_connected(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__session *l = actor__conn_data(c);

	if (actor__handshake_begin(n, c, l) != 0)
		n->t->ops->close(c, -ENOMEM);
}

static void on_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
	struct actor__node *n = arg;
	struct actor__session *l = actor__conn_data(c);
	struct actor__frame f;
	const char *why = NULL;
	int err;

	if (l == NULL)
		return;		/* closing */
	if (actor__node_dropped(n, l->peer_node))
		return;		/* a partition, for tests */
	err = actor__frame_decode(n->decoder, body, len, &f, &why);
	if (err == -EPROTONOSUPPORT && l->state == ACTOR__SESSION_HANDSHAKE) {
		actor__node_log_limited(n, "refused a peer speaking protocol version %u (this node speaks %u)",
					f.hello.version, ACTOR__PROTO_VERSION);
		atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
		l->hs.state = ACTOR__HS_FAILED;	/* counted: not a TLS failure in on_closed */
		why = NULL;
	} else if (err == 0 && l->state == ACTOR__SESSION_HANDSHAKE) {
		err = actor__handshake_frame(n, c, l, &f);
		if (err == 1)
			actor__peer_up(n, l);
		if (err >= 0)
			return;
		why = NULL;
	} else if (err == 0) {
		l->peer->heard = true;	/* the tick reads the clock, not every frame */
		if (f.kind == ACTOR__F_MSG || f.kind == ACTOR__F_SIGNAL ||
		    f.kind == ACTOR__F_VIRTUAL) {
			err = actor__route_inbound(n, l->peer, &f, &why);
			/* Mail only, as frames_out counts it; once delivered. */
			atomic_fetch_add_explicit(&n->bytes_in, len + ACTOR__FRAME_PREFIX,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&n->frames_in, 1, memory_order_release);
		}
		else if (f.kind >= ACTOR__F_VIEW && f.kind <= ACTOR__F_LEAVE)
			err = actor__member_frame(n, l->peer, &f, &why);
		else if (f.kind != ACTOR__F_PING)
			err = -EPROTO, why = "a handshake frame after the handshake";
		if (err == 0)
			return;
	}
	if (why != NULL) {
		actor__node_log_limited(n, "closed the connection to %s: bad frame: %s",
					l->peer_name[0] ? l->peer_name : "a new peer", why);
		atomic_fetch_add_explicit(&n->bad_frames, 1, memory_order_relaxed);
	}
	n->t->ops->close(c, err);
}

static void on_writable(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__session *l = actor__conn_data(c);

	if (l != NULL && l->state == ACTOR__SESSION_UP && l->peer->stalled) {
		l->peer->stalled = false;
		actor__route_drain(n, l->peer);
	}
}

static void on_dropped(void *arg, struct actor__conn *c, const struct actor__env *frame)
{
	(void)c;
	actor__route_lost(arg, frame);
}

static void on_closed(void *arg, struct actor__conn *c, int reason)
{
	struct actor__node *n = arg;
	struct actor__session *l = actor__conn_data(c);
	struct actor__peer *redialed;

	if (l == NULL)
		return;
	if (reason == -EMSGSIZE) {	/* the transport's verdict on a length prefix */
		actor__node_log_limited(n, "closed the connection to %s: bad frame: length 0 or above %s",
					l->peer_name[0] ? l->peer_name : "a new peer",
					l->state == ACTOR__SESSION_UP ? "max_frame" : "the handshake's limit");
		atomic_fetch_add_explicit(&n->bad_frames, 1, memory_order_relaxed);
	}
	/* The transport's verdicts on a TLS handshake (before any frame). */
	if (l->state == ACTOR__SESSION_HANDSHAKE && l->hs.state != ACTOR__HS_FAILED &&
	    (reason == -EKEYREJECTED || reason == -EPROTONOSUPPORT)) {
		actor__node_log_limited(n, "closed a connection: TLS handshake failed: %s",
				reason == -EKEYREJECTED ? "a certificate was refused" :
							  "the peer does not speak TLS 1.3");
		atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
	}
	if (l->state == ACTOR__SESSION_UP)
		actor__peer_down(n, l->peer, reason);
	else if (l->peer != NULL)	/* a redial that failed */
		l->peer->redial_at = actor__now_ns() + l->peer->backoff_ns;
	if (l->state == ACTOR__SESSION_HANDSHAKE)	/* its node up on another? */
		actor__peer_learn_address(n, l);
	if (l->dial != NULL && !actor__handshake_hand_over(n, l)) {	/* it never came up */
		/* Its node is up on another connection: this node or the
		 * peer chose that one (peer.c:actor__session_wins), and closed
		 * this one, which reaches us as -EEXIST, an end or a reset. */
		if (l->peer_node != 0 && l->peer_node != actor__node_id(n->sys) &&
		    actor_node_is_up(n->sys, l->peer_node))
			reason = 0;
		else if (reason == 0)
			reason = -ECONNRESET;
		actor__dial_done(n, l, reason);
	}
	actor__member_session_closed(n, l);
	redialed = l->state != ACTOR__SESSION_UP ? l->peer : NULL;
	session_free(n, l);
	actor__peer_forget_maybe(n, redialed);	/* if it stopped redialing, or went down, meanwhile */
}

struct actor__session *actor__node_dial(struct actor__node *n, const char *host, uint16_t port)
{
	struct actor__conn *c;
	struct actor__session *l;
	int err;

	err = n->t->ops->connect(n->t, host, port, NULL, &c);
	if (err != 0)
		return NULL;
	if ((l = session_new(n, c)) == NULL) {
		n->t->ops->close(c, -ENOMEM);
		return NULL;
	}
	actor__conn_set_data(c, l);
	snprintf(l->host, sizeof l->host, "%s", host);
	l->port = port;
	return l;
}

static void run_commands(struct actor__node *n)
{
	struct actor__dial *dials;
	uint32_t *drop;
	size_t ndrop;

	pthread_mutex_lock(&n->lock);
	dials = n->dials;
	n->dials = NULL;
	drop = n->disconnects;
	ndrop = n->ndisconnects;
	n->disconnects = NULL;
	n->ndisconnects = n->disconnects_cap = 0;
	pthread_mutex_unlock(&n->lock);

	while (dials != NULL) {
		struct actor__dial *d = dials;
		struct actor__session *l = actor__node_dial(n, d->host, d->port);

		dials = d->next;
		if (l != NULL)
			l->dial = d;
		else
			dial_finish(n, d, -ECONNREFUSED, 0);
	}
	for (size_t i = 0; i < ndrop; i++) {
		struct actor__peer *p = actor__peer_find(n, drop[i]);

		if (p == NULL)
			continue;
		p->redial = false;
		if (p->conn != NULL)
			n->t->ops->close(p->conn, -ECONNABORTED);
		else
			actor__peer_forget_maybe(n, p);
	}
	free(drop);
}

static void on_woken(void *arg)
{
	struct actor__node *n = arg;

	run_commands(n);
	actor__member_commands(n);
	actor__route_flush(n);
}

static void on_tick(void *arg)
{
	struct actor__node *n = arg;
	uint64_t now = actor__now_ns();
	bool sweep = now - n->last_sweep > SWEEP_NS;
	struct actor__list *i, *next;

	actor__list_each(i, next, &n->sessions) {
		struct actor__session *l = actor__list_entry(i, struct actor__session, node);

		if (l->state == ACTOR__SESSION_HANDSHAKE && now > l->deadline) {
			actor__node_log_limited(n, "closed a connection: handshake timed out");
			n->t->ops->close(l->conn, -ETIMEDOUT);
		} else if (l->state == ACTOR__SESSION_REPLACED && now > l->deadline) {
			n->t->ops->close(l->conn, -EEXIST);	/* the dialer never did */
		}
	}
	actor__member_commands(n);
	actor__member_stall_check(n, now);
	actor__peers_tick(n, now, sweep);
	actor__member_tick(n, now);
	if (sweep)
		n->last_sweep = now;
	actor__route_tick(n);
	actor__node_log_tick(n, now);
}

struct actor__transport_cb actor__node_callbacks(struct actor__node *n)
{
	return (struct actor__transport_cb){
		.arg = n, .accepted = on_accepted, .connected = on_connected, .frame = on_frame,
		.writable = on_writable, .closed = on_closed, .dropped = on_dropped, .tick = on_tick,
		.woken = on_woken, .frame_driven = actor__drive_frame,
	};
}

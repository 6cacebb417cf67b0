/*
 * Peers: the table of the nodes this one has talked to (insert-only: any
 * thread finds a peer without locks, only the I/O thread adds one), a peer
 * going up and down, its heartbeats, and redialing the peers this node
 * dialed. The I/O thread's, but for actor__peer_find.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

static size_t peer_home(uint32_t node)
{
	return (size_t)((node * 0x9e3779b97f4a7c15ull) >> 40) & (ACTOR__PEER_TABLE - 1);
}

/* node's slot: the one holding its peer, or the empty one where it would
 * go; NULL when the table is full. */
static _Atomic(struct actor__peer *) *peer_slot(struct actor__node *n, uint32_t node)
{
	for (size_t i = peer_home(node), k = 0; k < ACTOR__PEER_TABLE;
	     i = (i + 1) & (ACTOR__PEER_TABLE - 1), k++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_acquire);

		if (p == NULL || p->node == node)
			return &n->peers[i];
	}
	return NULL;
}

struct actor__peer *actor__peer_find(struct actor__node *n, uint32_t node)
{
	_Atomic(struct actor__peer *) *slot = peer_slot(n, node);

	return slot != NULL ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
}

/* I/O thread: the peer for node, made on first contact; NULL when full. */
static struct actor__peer *peer_get(struct actor__node *n, uint32_t node)
{
	_Atomic(struct actor__peer *) *slot = peer_slot(n, node);
	struct actor__peer *p;

	if (slot == NULL)
		return NULL;
	if ((p = atomic_load_explicit(slot, memory_order_relaxed)) != NULL)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->node = node;
	actor__mbox_init(&p->outq, n->cfg.max_queued);
	actor__route_peer_down(n, p);	/* closed until it is up */
	atomic_store_explicit(slot, p, memory_order_release);
	return p;
}

static void node_event(struct actor__node *n, struct actor__peer *p, bool up, int reason)
{
	if (n->cfg.node_event != NULL)
		n->cfg.node_event(n->cfg.node_event_arg, p->node, p->name, up, reason);
}

void actor__peer_up(struct actor__node *n, struct actor__session *l)
{
	struct actor__peer *p = peer_get(n, l->peer_node);
	uint64_t now = actor__now_ns();

	if (p == NULL) {
		actor__node_log(n, "refused node %08x: too many peers", l->peer_node);
		n->t->ops->close(l->conn, -ENOSPC);
		return;
	}
	if (atomic_load_explicit(&p->up, memory_order_relaxed)) {
		/* Both nodes dialed at once and this one finished second. */
		actor__dial_done(n, l, 0);
		n->t->ops->close(l->conn, -EEXIST);
		return;
	}
	if (l->peer != NULL && l->peer != p)
		l->peer->redial = false;	/* it restarted as p */
	l->state = ACTOR__SESSION_UP;
	n->handshaking--;
	l->peer = p;
	memcpy(p->name, l->peer_name, sizeof p->name);
	p->conn = l->conn;
	p->last_heard = p->last_sent = now;
	p->stalled = false;
	if (l->host[0] != '\0') {
		memcpy(p->host, l->host, sizeof p->host);
		p->port = l->port;
		p->redial = n->cfg.reconnect_max_ns != 0;
	}
	p->backoff_ns = n->cfg.reconnect_min_ns;
	actor__mbox_reopen(&p->outq, n->cfg.max_queued);
	atomic_store_explicit(&p->up, true, memory_order_release);
	actor__dial_done(n, l, 0);
	node_event(n, p, true, 0);
}

void actor__peer_down(struct actor__node *n, struct actor__peer *p, int reason)
{
	uint64_t jitter = p->backoff_ns / 4 * (actor__now_ns() % 1024) / 1024;

	atomic_store_explicit(&p->up, false, memory_order_relaxed);
	p->conn = NULL;
	actor__route_peer_down(n, p);
	atomic_fetch_add_explicit(&n->nodes_down, 1, memory_order_relaxed);
	p->redial_at = actor__now_ns() + p->backoff_ns + jitter;
	node_event(n, p, false, reason);
}

static void heartbeat(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__frame ping = { .kind = ACTOR__F_PING };

	if (p->heard) {
		p->heard = false;
		p->last_heard = now;
	}
	if (now - p->last_heard > n->cfg.heartbeat_timeout_ns) {
		actor__node_log(n, "node %08x (%s) missed its heartbeats: down", p->node, p->name);
		n->t->ops->close(p->conn, -ETIMEDOUT);
	} else if (now - p->last_sent >= n->cfg.heartbeat_interval_ns) {
		actor__node_send_now(n, p->conn, &ping);
		p->last_sent = now;
	}
}

static void redial(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__list *i, *next;
	struct actor__session *l;

	actor__list_each(i, next, &n->sessions)
		if (actor__list_entry(i, struct actor__session, node)->peer == p)
			return;		/* a try is under way */
	p->backoff_ns = p->backoff_ns * 2 > n->cfg.reconnect_max_ns ? n->cfg.reconnect_max_ns :
								       p->backoff_ns * 2;
	p->redial_at = now + p->backoff_ns;
	if ((l = actor__node_dial(n, p->host, p->port)) != NULL)
		l->peer = p;
}

void actor__peers_tick(struct actor__node *n, uint64_t now, bool sweep)
{
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_relaxed);

		if (p == NULL)
			continue;
		if (p->conn != NULL)
			heartbeat(n, p, now);
		else if (p->redial && now >= p->redial_at)
			redial(n, p, now);
		if (sweep)
			actor__route_expire(n, p, now);
	}
}

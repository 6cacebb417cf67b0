/*
 * Peers: the table of the nodes this one knows (any thread finds a peer
 * without locks, only the I/O thread adds and removes one), a peer going
 * up and down, its heartbeats, redialing the peers this node dialed, and
 * forgetting the peers nothing needs any more. The I/O thread's, but for
 * actor__peer_enter, _exit, _find and _at.
 *
 * Forgetting a peer (docs/architecture.md, "Peers"): once it is down, its
 * node-down told, it does not redial and no connection is trying to reach
 * it, the I/O thread replaces its slot with a tombstone and keeps it on a
 * retired list. Readers (senders on any thread, actor_node_is_up, ...)
 * look peers up inside a read section: two counters of readers, one per
 * parity of n->peer_epoch, and a reader counts itself in the parity it
 * read before it looks at the table. The I/O thread flips the epoch only
 * when it sees no reader counted in the parity it flips to, and frees the
 * peers retired before a flip when it sees none in the old parity after
 * it: epoch-based reclamation with two epochs and no per-thread records
 * (readers are workers, the timer thread and any thread of the user's).
 * A reader that found a peer counted itself before the tombstone (all
 * seq_cst), so in one parity or the other: whichever, one of the two
 * looks waits for it. A reader counted after a look finds the tombstone.
 * A reader may put a peer on the ready stack (a late WOKE) just before
 * its section ends: the stack is flushed after the look, before the
 * peers are freed. Model: tests/spin/forget.pml.
 *
 * Held peers. Mail to a member of this node's view whose connection is not
 * up yet (right after a join, or while membership redials it) waits
 * instead of being a dead letter: membership holds the member's peer
 * (actor__peer_hold, from member.c:install and its detector), which makes
 * the peer at once if need be, not up, and opens its queue. The queue is
 * the same bounded one as while up (max_queued user frames, -EAGAIN
 * beyond), so nothing new sits between senders and the connection:
 * order is the queue's, and the first drain when the peer comes up sends
 * what waited before any direct write can (direct.c writes only when the
 * queue is idle). A held peer going down keeps its queue open (only what
 * was sent is failed); it is never forgotten while held. When membership
 * releases it (the member left the view or is dead here, or this node
 * left) while it is not up, its queue closes exactly as at a node-down:
 * each frame is counted in frames_lost, a MSG is a dead letter, requests
 * fail with -EHOSTUNREACH (route.c:actor__route_peer_down), then the peer
 * may be forgotten. The life cycle is otherwise unchanged: a held peer is
 * a peer in the table like any other, just made before its handshake, so
 * lookups, tombstones and reclamation need nothing new. Plain peers (not
 * members) are not held: mail to a node never dialed, or down, is
 * unreachable at once, as before.
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

static size_t peer_next(size_t i)
{
	return (i + 1) & (ACTOR__PEER_TABLE - 1);
}

/*
 * node's slot: the one holding its peer (*found), or NULL. With spare,
 * *spare is where it would go (the first tombstone or empty slot on its
 * way; NULL when the table is full). A slot goes from a peer to a
 * tombstone, and from a tombstone back to empty only when the slot after
 * it is empty (forget), so no slot before a peer on its way is ever empty
 * while it is there: a reader never stops short of it. The loads are
 * seq_cst: see the comment at the top.
 */
static _Atomic(struct actor__peer *) *peer_slot(struct actor__node *n, uint32_t node,
					       struct actor__peer **found,
					       _Atomic(struct actor__peer *) **spare)
{
	if (spare != NULL)
		*spare = NULL;
	*found = NULL;
	for (size_t i = peer_home(node), k = 0; k < ACTOR__PEER_TABLE; i = peer_next(i), k++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_seq_cst);

		if (p == NULL || p == ACTOR__PEER_TOMB) {
			if (spare != NULL && *spare == NULL)
				*spare = &n->peers[i];
			if (p == NULL)
				return NULL;
		} else if (p->node == node) {
			*found = p;
			return &n->peers[i];
		}
	}
	return NULL;
}

unsigned actor__peer_enter(struct actor__node *n)
{
	unsigned e = atomic_load_explicit(&n->peer_epoch, memory_order_relaxed) & 1;

	/* seq_cst, as the table's loads and stores and the I/O thread's look
	 * at the counts: a reader counted after that look finds the
	 * tombstone. Any parity will do: the one read may be stale. */
	atomic_fetch_add_explicit(&n->peer_readers[e], 1, memory_order_seq_cst);
	return e;
}

void actor__peer_exit(struct actor__node *n, unsigned section)
{
	atomic_fetch_sub_explicit(&n->peer_readers[section], 1, memory_order_release);
}

struct actor__peer *actor__peer_find(struct actor__node *n, uint32_t node)
{
	struct actor__peer *p;

	peer_slot(n, node, &p, NULL);
	return p;
}

struct actor__peer *actor__peer_at(struct actor__node *n, size_t i)
{
	struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_seq_cst);

	return p != ACTOR__PEER_TOMB ? p : NULL;
}

/* I/O thread: the peer for node, made on first contact; NULL when full. */
static struct actor__peer *peer_get(struct actor__node *n, uint32_t node)
{
	_Atomic(struct actor__peer *) *slot, *spare;
	struct actor__peer *p;

	if ((slot = peer_slot(n, node, &p, &spare)) != NULL)
		return p;
	if (spare == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->node = node;
	actor__mbox_init(&p->outq, n->cfg.max_queued);
	actor__route_peer_down(n, p, false);	/* closed until it is up or held */
	atomic_store_explicit(spare, p, memory_order_release);
	atomic_fetch_add_explicit(&n->peers_known, 1, memory_order_relaxed);
	return p;
}

static void peer_free(struct actor__peer *p)
{
	actor__htab_free(&p->track);
	free(p);
}

/* A connection on its way to p (a redial, or a handshake that names it),
 * or one it replaced, still open. */
static bool peer_wanted(struct actor__node *n, const struct actor__peer *p)
{
	struct actor__list *i, *next;

	actor__list_each(i, next, &n->sessions) {
		const struct actor__session *l = actor__list_entry(i, struct actor__session, node);

		if (l->state != ACTOR__SESSION_UP && l->peer == p)
			return true;
	}
	return false;
}

void actor__peer_forget_maybe(struct actor__node *n, struct actor__peer *p)
{
	_Atomic(struct actor__peer *) *slot;
	struct actor__peer *found;
	size_t i;

	if (p == NULL || atomic_load_explicit(&p->up, memory_order_relaxed) || p->conn != NULL ||
	    p->redial || atomic_load_explicit(&p->held, memory_order_relaxed) || peer_wanted(n, p) || (slot = peer_slot(n, p->node, &found, NULL)) == NULL ||
	    found != p)
		return;
	atomic_store_explicit(slot, ACTOR__PEER_TOMB, memory_order_seq_cst);
	/* Tombstones that end a chain are empty slots again, last first. */
	i = (size_t)(slot - n->peers);
	if (atomic_load_explicit(&n->peers[peer_next(i)], memory_order_relaxed) == NULL)
		while (atomic_load_explicit(&n->peers[i], memory_order_relaxed) == ACTOR__PEER_TOMB) {
			atomic_store_explicit(&n->peers[i], NULL, memory_order_release);
			i = (i + ACTOR__PEER_TABLE - 1) & (ACTOR__PEER_TABLE - 1);
		}
	p->retired_next = n->retired_new;
	n->retired_new = p;
	atomic_fetch_sub_explicit(&n->peers_known, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->peers_forgotten, 1, memory_order_relaxed);
	actor__peers_reclaim(n, false);
}

static void free_list(struct actor__peer *p)
{
	for (struct actor__peer *next; p != NULL; p = next) {
		next = p->retired_next;
		peer_free(p);
	}
}

/* Membership's views replaced (member.c), retired as peers are. */
static void free_views(struct actor__mview *v)
{
	for (struct actor__mview *next; v != NULL; v = next) {
		next = actor__view_retired_next(v);
		actor__view_free(v);
	}
}

void actor__peers_reclaim(struct actor__node *n, bool all)
{
	uint32_t e = atomic_load_explicit(&n->peer_epoch, memory_order_relaxed);
	struct actor__peer *old;
	struct actor__mview *vold;

	if (all) {	/* at destroy: no thread can be in a read section */
		free_list(n->retired_old);
		free_list(n->retired_new);
		n->retired_old = n->retired_new = NULL;
		free_views(n->vretired_old);
		free_views(n->vretired_new);
		n->vretired_old = n->vretired_new = NULL;
		return;
	}
	/* No reader in the other parity: those retired before the flip to e
	 * are out of reach, and the epoch may flip to it. Nothing between
	 * the look and the flip: a peer retired in between would be taken
	 * for one retired before the look. */
	if ((n->retired_old == NULL && n->retired_new == NULL && n->vretired_old == NULL &&
	     n->vretired_new == NULL) ||
	    atomic_load_explicit(&n->peer_readers[(e + 1) & 1], memory_order_seq_cst) != 0)
		return;
	old = n->retired_old;
	n->retired_old = n->retired_new;
	n->retired_new = NULL;
	vold = n->vretired_old;
	n->vretired_old = n->vretired_new;
	n->vretired_new = NULL;
	if (n->retired_old != NULL || n->vretired_old != NULL)
		atomic_fetch_add_explicit(&n->peer_epoch, 1, memory_order_seq_cst);
	free_views(vold);
	if (old != NULL) {
		/* After the look: a reader's late WOKE may have put one of
		 * them on the ready stack before its section ended. The flush
		 * may forget more peers (a send that closes a connection), and
		 * call this again: old is this call's alone by then. */
		actor__route_flush(n);
		free_list(old);
	}
}

static void node_event(struct actor__node *n, struct actor__peer *p, bool up, int reason)
{
	if (n->cfg.node_event != NULL)
		n->cfg.node_event(n->cfg.node_event_arg, p->node, p->name, up, reason);
}

/* p was dialed at l's address, which becomes p's (redialed after a loss
 * where reconnects are on): another peer redialing it is an earlier
 * incarnation of p's node, and is forgotten. */
static void take_address(struct actor__node *n, struct actor__peer *p,
			 const struct actor__session *l)
{
	memcpy(p->host, l->host, sizeof p->host);
	p->port = l->port;
	p->redial = n->cfg.reconnect_max_ns != 0;
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *q = actor__peer_at(n, i);

		if (q != NULL && q != p && q->redial && q->conn == NULL && q->port == p->port &&
		    strcmp(q->host, p->host) == 0) {
			q->redial = false;	/* it restarted as p */
			actor__peer_forget_maybe(n, q);
		}
	}
}

/*
 * Two connections to one peer (both nodes dialed at once, or the peer
 * dialed again while this node still holds a connection it thinks is up):
 * which one stays. Both nodes must choose the same, or each keeps the
 * connection the other closes. Two rules, each the same seen from either
 * end:
 *  - dialed by different nodes: the one dialed by the node with the lower
 *    id stays, as Erlang keeps the one dialed by the lower name;
 *  - dialed by the same node: that node dials only when it holds no
 *    connection up (admit.c:on_hello) nor another handshake past HELLO, so
 *    the old connection is dead at its end: the new one stays. This is the
 *    stopped peer (SIGSTOP past the heartbeat timeout, then SIGCONT) or the
 *    one whose close has not reached us yet: its fresh handshake takes the
 *    old connection's place without a node-down here.
 * The acceptor decides first (it withholds its AUTH from a loser), and the
 * dialer, which completes after it, chooses the same.
 */
bool actor__session_wins(const struct actor__node *n, const struct actor__session *l,
			 const struct actor__session *old)
{
	if (l->hs.dialer == old->hs.dialer)
		return !l->hs.dialer;
	return l->hs.dialer == (actor__node_id(n->sys) < l->peer_node);
}

void actor__peer_learn_address(struct actor__node *n, const struct actor__session *l)
{
	struct actor__list *i, *next;
	struct actor__peer *p;

	if (l->host[0] == '\0' || l->peer_node == 0)
		return;
	p = actor__peer_find(n, l->peer_node);
	if (p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed)) {
		if (p->host[0] == '\0')
			take_address(n, p, l);
		/* A redial of an earlier incarnation found p at its address,
		 * up already on another connection (its handshake ended
		 * before that incarnation's close reached us, so take_address
		 * did not see it redialing): it restarted as p. */
		if (l->hs.dialer && l->peer != NULL && l->peer != p)
			l->peer->redial = false;
		return;
	}
	/* Not up yet: the connection it dialed us on takes the address, as
	 * if it were ours (peer_up keeps it). */
	actor__list_each(i, next, &n->sessions) {
		struct actor__session *o = actor__list_entry(i, struct actor__session, node);

		if (o != l && o->state == ACTOR__SESSION_HANDSHAKE && o->peer_node == l->peer_node &&
		    o->host[0] == '\0') {
			memcpy(o->host, l->host, sizeof o->host);
			o->port = l->port;
			return;
		}
	}
}

/*
 * Of two connections up, the loser is closed by the dialer of the one
 * that stays, once that one is up at its end: its acceptor was up first
 * (it sent the last AUTH), so by then it has taken the loser out of use
 * at its end too, and the close tells no node-down there. Any other end
 * that holds the loser keeps it open, unused but still read (the peer
 * may have sent on it before it switched), until that close or for at
 * most a handshake's time (io.c:on_tick). Closing it sooner could reach
 * the other end before the winner's AUTH does: a node-down there.
 */
static void retire(struct actor__node *n, struct actor__peer *p, struct actor__session *l,
		   bool close)
{
	if (l->state == ACTOR__SESSION_HANDSHAKE)
		n->handshaking--;
	l->state = ACTOR__SESSION_REPLACED;
	l->peer = p;
	l->deadline = actor__now_ns() + n->cfg.handshake_timeout_ns;
	if (close)
		n->t->ops->close(l->conn, -EEXIST);
}

void actor__peer_up(struct actor__node *n, struct actor__session *l)
{
	struct actor__peer *p = peer_get(n, l->peer_node), *old;
	struct actor__session *was = NULL;
	uint64_t now = actor__now_ns();

	if (p == NULL) {
		actor__node_log(n, "refused node %08x: too many peers", l->peer_node);
		n->t->ops->close(l->conn, -ENOSPC);
		return;
	}
	if (atomic_load_explicit(&p->up, memory_order_relaxed)) {
		was = actor__conn_data(p->conn);
		if (!actor__session_wins(n, l, was)) {
			/* Its connection stays. l is our dial: its acceptor
			 * is up on it, and closes it once it has switched. */
			actor__dial_done(n, l, 0);
			actor__peer_learn_address(n, l);
			retire(n, p, l, false);
			return;
		}
		actor__node_log_limited(n, "node %08x (%s) connected again: the new connection replaces the old one",
					p->node, p->name);
		/* No sender may write to the old connection from here on:
		 * it closes without a peer_down (cluster/direct.c). */
		actor__direct_set(p, NULL);
		retire(n, p, was, l->hs.dialer);
		p->conn = NULL;
	}
	old = l->peer != p ? l->peer : NULL;
	if (old != NULL)
		old->redial = false;	/* it restarted as p */
	l->state = ACTOR__SESSION_UP;
	n->handshaking--;
	l->peer = p;
	actor__peer_forget_maybe(n, old);
	memcpy(p->name, l->peer_name, sizeof p->name);
	p->conn = l->conn;
	p->last_heard = p->last_sent = now;
	p->stalled = false;
	if (l->host[0] != '\0')
		take_address(n, p, l);
	if (was != NULL) {
		actor__dial_done(n, l, 0);
		actor__route_drain(n, p);	/* what waited for the old one */
		actor__direct_set(p, p->conn);
		actor__drive_conn(n, p, p->conn);
		return;
	}
	/* The backoff is reset once the connection has lasted (peer_down):
	 * one that goes down at once must not bring a redial storm. */
	if (p->backoff_ns == 0)
		p->backoff_ns = n->cfg.reconnect_min_ns;
	p->up_since = now;
	if (!atomic_load_explicit(&p->held, memory_order_relaxed))
		actor__mbox_reopen(&p->outq, n->cfg.max_queued);
	else
		actor__route_drain(n, p);	/* what waited, before direct writes */
	actor__direct_set(p, p->conn);
	actor__drive_conn(n, p, p->conn);
	atomic_store_explicit(&p->up, true, memory_order_release);
	actor__dial_done(n, l, 0);
	node_event(n, p, true, 0);
	actor__member_peer_up(n, l, p);
}

void actor__peer_down(struct actor__node *n, struct actor__peer *p, int reason)
{
	uint64_t jitter, now = actor__now_ns();

	/* A connection that lasted resets the backoff; one that flapped
	 * keeps the doubled one. */
	if (now - p->up_since >= n->cfg.reconnect_max_ns)
		p->backoff_ns = n->cfg.reconnect_min_ns;
	jitter = p->backoff_ns / 4 * (now % 1024) / 1024;

	atomic_store_explicit(&p->up, false, memory_order_relaxed);
	p->conn = NULL;
	actor__direct_set(p, NULL);
	actor__route_peer_down(n, p, atomic_load_explicit(&p->held, memory_order_relaxed));
	atomic_fetch_add_explicit(&n->nodes_down, 1, memory_order_relaxed);
	p->redial_at = now + p->backoff_ns + jitter;
	node_event(n, p, false, reason);
	actor__peer_forget_maybe(n, p);
}

void actor__peer_hold(struct actor__node *n, uint32_t node, bool hold)
{
	struct actor__peer *p = hold ? peer_get(n, node) : actor__peer_find(n, node);

	if (p == NULL || atomic_load_explicit(&p->held, memory_order_relaxed) == hold)
		return;		/* a full table: its mail is unreachable, as before */
	if (hold) {
		/* Published before the queue opens: a sender that sees the
		 * queue closed still finds it unreachable, as before. */
		atomic_store_explicit(&p->held, true, memory_order_relaxed);
		if (!atomic_load_explicit(&p->up, memory_order_relaxed))
			actor__mbox_reopen(&p->outq, n->cfg.max_queued);
		return;
	}
	atomic_store_explicit(&p->held, false, memory_order_relaxed);
	if (atomic_load_explicit(&p->up, memory_order_relaxed))
		return;		/* a plain peer now: its node-down closes it */
	actor__route_peer_down(n, p, false);
	actor__peer_forget_maybe(n, p);
}

void actor__peers_release(struct actor__node *n)
{
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = actor__peer_at(n, i);

		if (p != NULL)
			actor__peer_hold(n, p->node, false);
	}
}

static void heartbeat(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__frame ping = { .kind = ACTOR__F_PING };

	if (p->heard || atomic_exchange_explicit(&p->heard_driven, false, memory_order_relaxed)) {
		p->heard = false;
		p->last_heard = now;
	}
	if (actor__member_watches(n, p->node))
		return;		/* membership probes it (member.c) */
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
		struct actor__peer *p = actor__peer_at(n, i);

		if (p == NULL)
			continue;
		if (p->conn != NULL) {
			heartbeat(n, p, now);
			actor__route_conn_bytes(n, p);	/* for the stats */
		}
		else if (p->redial && now >= p->redial_at)
			redial(n, p, now);
		if (sweep)
			actor__route_expire(n, p, now);
	}
	actor__peers_reclaim(n, false);
}

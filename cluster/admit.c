/*
 * Admission: the node's side of the handshake. handshake.c's machine runs
 * on each new connection; this adds what only the node knows (a peer that
 * is up already), the limit on frames before authentication, and the log
 * lines and counters of refusals.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cluster/internal.h"

/*
 * The largest body accepted before the handshake is done: a HELLO takes
 * at most 303 bytes and an AUTH 35, and later versions keep HELLO within
 * this (libactor-protocol(7)), so that one is refused for its version.
 */
#define HANDSHAKE_FRAME_MAX 512

int actor__handshake_begin(struct actor__node *n, struct actor__conn *c, struct actor__session *l)
{
	struct actor__frame hello;

	if (actor__handshake_start(&l->hs, l->host[0] != '\0', actor__node_id(n->sys), n->cfg.name,
				   &hello) != 0)
		return -EIO;
	actor__conn_set_max_frame(c, HANDSHAKE_FRAME_MAX);
	actor__node_send_now(n, c, &hello);
	return 0;
}

static void refused(struct actor__node *n)
{
	atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
}

/*
 * A HELLO with this node's own id: its own dial reached itself (ids are
 * random per system, a user may well dial its own port), or someone sent
 * our HELLO back. The dialing end fails the call with -EEXIST and closes;
 * the accepting end of our own dial (it holds the nonce one of our dials
 * sent) waits for that close rather than closing first, which would reach
 * the dialer as a reset. Neither is logged. A reflection is refused by the
 * handshake, logged and counted.
 */
static int self_dialed(struct actor__node *n, struct actor__session *l, const struct actor__frame *f)
{
	struct actor__list *i, *next;

	if (l->hs.dialer)
		return -EEXIST;
	actor__list_each(i, next, &n->sessions) {
		const struct actor__session *o = actor__list_entry(i, struct actor__session, node);

		if (o->hs.dialer && o->hs.state != ACTOR__HS_FAILED &&
		    memcmp(o->hs.nonce, f->hello.nonce, ACTOR__NONCE_LEN) == 0) {
			l->hs.state = ACTOR__HS_FAILED;
			return 0;
		}
	}
	return 0;
}

/* Another dial of ours to l's node past its HELLO: two handshakes in one
 * direction could come up in either order at either end. */
static bool dialing_already(struct actor__node *n, const struct actor__session *l)
{
	struct actor__list *i, *next;

	actor__list_each(i, next, &n->sessions) {
		const struct actor__session *o = actor__list_entry(i, struct actor__session, node);

		if (o != l && o->state == ACTOR__SESSION_HANDSHAKE && o->hs.dialer &&
		    o->hs.state == ACTOR__HS_AUTH && o->peer_node == l->peer_node)
			return true;
	}
	return false;
}

/*
 * The peer's HELLO, before the machine sees it: its id and name for the
 * logs. A dialer that is up with that node already stops here, unless its
 * dial would win against that connection; an acceptor goes on even then:
 * a dialer that shows the cookie while this node thinks it is up has lost
 * its end of the old connection (or dialed at the same time), and the
 * acceptor chooses once the proof is checked (stays()).
 */
static int on_hello(struct actor__node *n, struct actor__session *l, const struct actor__frame *f)
{
	struct actor__peer *p = actor__peer_find(n, f->hello.node);

	l->peer_node = f->hello.node;
	if (memchr(f->hello.name, '\0', f->hello.name_len) != NULL) {
		/* The name goes into logs as a C string. */
		actor__node_log_limited(n, "refused node %08x: a NUL in its name", l->peer_node);
		refused(n);
		return -EPROTO;
	}
	memcpy(l->peer_name, f->hello.name, f->hello.name_len);
	l->peer_name[f->hello.name_len] = '\0';
	if (l->peer_node == actor__node_id(n->sys))
		return self_dialed(n, l, f);
	if (!l->hs.dialer)
		return 0;	/* an acceptor decides once the dialer is proven */
	/* Dialing a node that was up before this dial began (a connect to
	 * a node up already must not disturb its connection), or that came
	 * up since on a connection that stays (peer.c:actor__session_wins),
	 * or that another of our dials is reaching: done (the caller hears
	 * 0). */
	if (p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed) &&
	    (p->up_since <= l->started || !actor__session_wins(n, l, actor__conn_data(p->conn))))
		return -EEXIST;
	return dialing_already(n, l) ? -EEXIST : 0;
}

/*
 * Both nodes dialed each other at once: another handshake with l's peer, in
 * the other direction, or NULL. The one dialed by the node with the lower
 * id wins, on both nodes alike: an acceptor that has checked the dialer's
 * proof does not send its own if its dial to that node wins. (An acceptor
 * finishes before its dialer, so without this rule each node kept the
 * connection the other dialed, and each closed the other's.) Only a proven
 * peer gets this far: a peer without the cookie cannot cancel a dial.
 */
static struct actor__session *crossing(struct actor__node *n, const struct actor__session *l,
				       bool either_way)
{
	struct actor__list *i, *next;

	actor__list_each(i, next, &n->sessions) {
		struct actor__session *o = actor__list_entry(i, struct actor__session, node);

		if (o != l && o->state == ACTOR__SESSION_HANDSHAKE && o->hs.state != ACTOR__HS_FAILED &&
		    o->peer_node == l->peer_node && (either_way || o->hs.dialer != l->hs.dialer))
			return o;
	}
	return NULL;
}

static bool loses(const struct actor__node *n, const struct actor__session *l)
{
	return l->hs.dialer != (actor__node_id(n->sys) < l->peer_node);
}

/* An acceptor's proven connection: whether it comes up, against a
 * handshake crossing it and a connection up already (peer.c). */
static bool stays(struct actor__node *n, const struct actor__session *l)
{
	struct actor__peer *p = actor__peer_find(n, l->peer_node);

	if (crossing(n, l, false) != NULL && loses(n, l))
		return false;
	return p == NULL || !atomic_load_explicit(&p->up, memory_order_relaxed) ||
	       actor__session_wins(n, l, actor__conn_data(p->conn));
}

bool actor__handshake_hand_over(struct actor__node *n, struct actor__session *l)
{
	struct actor__session *o = l->peer_node != 0 ? crossing(n, l, true) : NULL;

	if (o == NULL || l->dial == NULL || o->dial != NULL)
		return false;
	o->dial = l->dial;
	l->dial = NULL;
	return true;
}

int actor__handshake_frame(struct actor__node *n, struct actor__conn *c, struct actor__session *l,
			   const struct actor__frame *f)
{
	struct actor__frame out;
	int err;

	if (l->hs.state == ACTOR__HS_FAILED)
		return 0;	/* refused by on_hello: waiting for the close */
	if (f->kind == ACTOR__F_HELLO && l->hs.state == ACTOR__HS_HELLO &&
	    ((err = on_hello(n, l, f)) != 0 || l->hs.state == ACTOR__HS_FAILED))
		return err;
	err = actor__handshake_step(&l->hs, n->cookie, n->cfg.cookie_len, f, &out);
	if (err == 1 && !l->hs.dialer && !stays(n, l))
		return -EEXIST;		/* its AUTH unsent: another connection stays */
	if (out.kind != 0)
		actor__node_send_now(n, c, &out);
	switch (err) {
	case 1:
		actor__conn_set_max_frame(c, 0);
		break;
	case -EACCES:
		actor__node_log_limited(n, "refused node %08x (%s): wrong cookie", l->peer_node,
					l->peer_name);
		refused(n);
		break;
	case -EEXIST:
		actor__node_log_limited(n, "refused a peer with this node's own id %08x",
					l->peer_node);
		refused(n);
		break;
	case -EPROTO:
		actor__node_log_limited(n, "closed a connection: frame kind %u during the handshake",
					f->kind);
		refused(n);
		break;
	}
	return err;
}

/*
 * cluster/: a system as a node of a cluster.
 *
 * Threads. Everything here runs on the transport's I/O thread except the
 * router's route() (any thread: workers, the timer thread, plain threads)
 * and the public calls that queue a command for the I/O thread and wait.
 *
 * Life cycles:
 *  - A peer (another node this one has talked to) is made on the I/O thread
 *    when its first handshake completes. Once it is down, its node-down
 *    told (peer_down) and nothing needs it (it does not redial, no
 *    connection is trying to reach it), it is forgotten: taken out of the
 *    peer table and freed after a grace period (peer.c). Senders on any
 *    thread find peers in the table without locks, inside a read section
 *    (actor__peer_enter/exit): the grace period ends when every read
 *    section that began before the peer left the table has ended, so a
 *    sender never touches freed memory (model: tests/spin/forget.pml).
 *  - A peer's outbound queue (an actor mailbox of frames) is open while the
 *    peer is up, or while membership holds it (a member of the view whose
 *    connection is not up: mail waits for it, peer.c), and closed
 *    otherwise: a push that fails with -EPIPE means "node down". The push that finds the queue idle (WOKE) puts the
 *    peer on the ready stack and wakes the I/O thread, which hands the
 *    frames to the connection in batches and blocks the queue again when
 *    it is empty. A WOKE from before a close can still be on its way when
 *    the queue reopens, so one WOKE per blocked period does not make a peer
 *    unique on the stack: the peer's queued flag does (route.c; model:
 *    tests/spin/ready.pml).
 *  - A connection's session (struct actor__session: its handshake and the
 *    peer it is for) lives from accept or connect to the transport's
 *    closed() callback, which frees it (io.c).
 */
#ifndef ACTOR_CLUSTER_INTERNAL_H
#define ACTOR_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <actor/actor.h>

#include "cluster/handshake.h"
#include "cluster/wire.h"
#include "mailbox/arch.h"
#include "mailbox/envelope.h"
#include "mailbox/mpsc.h"
#include "sched/seam.h"
#include "transport/transport.h"
#include "util/htab.h"
#include "util/list.h"

/* Frame envelopes whose kind the I/O thread must note (requests,
 * monitors, links) before sending: one of cluster/'s own flag bits. */
#define ACTOR__FRAME_TRACKED (1u << 12)
/* Frame envelopes of the control lane: replies and SIGNAL frames, bounded
 * apart from the user's mail (route.c). */
#define ACTOR__FRAME_CONTROL (1u << 13)
_Static_assert(((ACTOR__FRAME_TRACKED | ACTOR__FRAME_CONTROL) & ~ACTOR__ENV_CLUSTER_BITS) == 0,
	       "cluster/'s envelope flags stay in its bits (sched/seam.h)");

#define ACTOR__PEER_TABLE 1024		/* peers a node can know at once */
/* A table slot whose peer was forgotten: lookups go past it, inserts
 * reuse it (peer.c). */
#define ACTOR__PEER_TOMB ((struct actor__peer *)(uintptr_t)1)

/* actor_loopback_t (loopback.c): the loopback transport's hub. */
struct actor_loopback {
	struct actor__hub *hub;
};

/* What a node remembers about one peer, for node-down: requests waiting
 * for a reply from it, and monitors and links that cross to it: the
 * entries of the peer's track table (track.c, on util/htab.h). */
enum actor__track_kind { ACTOR__TRACK_REQUEST = 1, ACTOR__TRACK_MONITOR, ACTOR__TRACK_LINK };

struct actor__track_entry {
	uint64_t local, remote;		/* REQUEST: requester id, request id */
	uint32_t kind;			/* 0: empty */
	uint64_t since_ns;
};

struct actor__peer {
	uint32_t node;			/* set once, before publication */
	_Atomic bool up;
	struct actor__mbox outq;	/* frames from any thread */
	_Atomic uint32_t control;	/* control frames in outq (route.c) */
	/* For the stats: bytes of the frames in outq, and bytes the
	 * connection had not written at the I/O thread's last look. */
	_Atomic uint64_t queued_bytes, conn_bytes;
	_Atomic bool queued;		/* on the ready stack, or about to be */
	struct actor__peer *ready_next;	/* on the ready stack */
	struct actor__peer *retired_next;	/* forgotten, waiting to be freed */
	/* Frames written by the sending thread itself (direct.c): the
	 * connection, while up, under wbusy (a try-lock). */
	_Atomic bool wbusy;
	struct actor__conn *wconn;
	_Atomic uint64_t direct_last;	/* when the last one went */
	/* A member of this node's view (member.c): its queue stays open while
	 * it is not up, and mail waits there for the connection (peer.c).
	 * Written by the I/O thread; senders read it as a hint. */
	_Atomic bool held;
	/* What must be undone if p goes down (track.c): the I/O thread notes
	 * and fails it; a worker that reads a reply on the driven path
	 * (drive.c) clears its request. Under track_busy (route.c). */
	_Atomic bool track_busy;
	struct actor__htab track;	/* of struct actor__track_entry */

	/* The I/O thread's own from here on. */
	char name[ACTOR__NODE_NAME_MAX + 1];
	struct actor__conn *conn;	/* while up */
	bool stalled;			/* the connection is above high water */
	uint64_t last_heard, last_sent;
	bool heard;			/* a frame came since the last tick */
	_Atomic bool heard_driven;	/* the same, read by a worker (drive.c) */
	/* Redialing: where it was dialed, and when to try next. */
	char host[256];
	uint16_t port;
	bool redial;
	uint64_t backoff_ns, redial_at;
	uint64_t up_since;		/* when its connection came up */
};

/* A session: the node's side of one connection, from accept or connect
 * to its closed() callback. Not an Erlang link (sched/link.c). */
/* REPLACED: was up, and another connection to the same peer took its
 * place (peer.c:actor__peer_up); closing, with no node-down. */
enum actor__session_state { ACTOR__SESSION_HANDSHAKE, ACTOR__SESSION_UP, ACTOR__SESSION_REPLACED };

struct actor__session {
	struct actor__list node;	/* on n->sessions */
	struct actor__conn *conn;
	int state;
	uint64_t started;		/* accepted or dialed */
	uint64_t deadline;		/* for the handshake, or to close it */
	struct actor__handshake hs;
	uint32_t peer_node;
	char peer_name[ACTOR__NODE_NAME_MAX + 1];
	struct actor__peer *peer;	/* once up, or the peer being redialed */
	struct actor__dial *dial;	/* a caller waiting for it, or NULL */
	/* Outbound only: where to, for redialing. */
	char host[256];
	uint16_t port;
	bool by_member;			/* dialed by membership (member.c) */
};

struct actor__node;

/* Tests only: called between a push that got WOKE and the ready push. */
typedef void (*actor__woke_hook_t)(struct actor__node *n, struct actor__peer *p);

/* A blocking actor_node_connect(), handed to the I/O thread. */
struct actor__dial {
	char host[256];
	uint16_t port;
	struct actor__dial *next;
	/* Under the node's lock: */
	bool done, abandoned;
	int result;
	uint32_t node;
};

/* Tests only: nodes whose frames are dropped both ways (io.c). */
#define ACTOR__DROP_MAX 8

struct actor__membership;
struct actor__mview;
struct actor__view;

/* log.c's rate limit (the I/O thread's). */
struct actor__log_limit {
	uint64_t window;		/* start of the current second */
	uint32_t lines;			/* written in it */
	uint64_t suppressed;		/* in it, not yet reported */
};

struct actor__node {
	struct actor__router router;	/* first: sys->router points here */
	struct actor_system *sys;
	actor_node_config_t cfg;
	unsigned char *cookie;
	struct actor__transport *t;
	uint16_t port;			/* 0: not listening */

	/* Peers by node id: open addressing with tombstones, I/O thread
	 * writes, any thread reads inside a read section (peer.c). */
	_Atomic(struct actor__peer *) peers[ACTOR__PEER_TABLE];
	_Atomic uint32_t peer_epoch;		/* flipped by the I/O thread */
	_Atomic uint64_t peer_readers[2];	/* read sections, by epoch parity */
	/* Set when the node stops: routing threads (store threads, the
	 * timer, the user's) take no peer any more (node.c:node_stop). */
	_Atomic bool closing;
	/* The I/O thread's: peers forgotten before the last flip (freed when
	 * the other parity's readers are gone), and since. */
	struct actor__peer *retired_old, *retired_new;
	_Atomic uint64_t peers_known, peers_forgotten;	/* in the table; taken out */
	_Atomic(struct actor__peer *) ready;	/* stack of peers with frames */
	_Atomic(actor__woke_hook_t) woke_hook;	/* tests only; NULL */
	/* Tests only: a partition (actor__node_drop); ndrop 0: none. */
	_Atomic uint32_t drop[ACTOR__DROP_MAX];
	_Atomic uint32_t ndrop;

	/* Membership (member.c), made before the I/O thread starts. Views
	 * it replaced wait here for the peers' grace period (peer.c). */
	struct actor__membership *member;
	struct actor__mview *vretired_old, *vretired_new;

	/* Commands from other threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct actor__dial *dials;
	uint32_t *disconnects;
	size_t ndisconnects, disconnects_cap;
	bool stopped;

	/* Idle workers reading connections (drive.c): the driver installed
	 * in sys, whether it is, and the decoder of its holder. */
	struct actor__driver driver;
	bool driving;
	struct actor__frame_decoder *drv_decoder;
	_Atomic uint64_t frames_driven;	/* of frames_in: read by a worker (tests) */

	/* The I/O thread's own. */
	struct actor__pool *pool;
	struct actor__frame_decoder *decoder;
	/* For frames lost (route.c:actor__route_lost), which the transport
	 * may tell while a frame decoded with decoder is in use. */
	struct actor__frame_decoder *lost_decoder;
	struct actor__list sessions;	/* connections not yet up, and up */
	uint32_t handshaking;		/* sessions not yet up */
	uint64_t last_sweep;
	struct actor__log_limit log_limit;

	_Atomic uint64_t frames_out, frames_in, bytes_out, bytes_in, nodes_down, refused,
		bad_frames, queue_full, handshakes_busy, log_suppressed, frames_lost;
	/* Mail with no form on the wire (route.c:unmapped), any thread; the
	 * I/O thread logs it (unmapped_told: the count it logged last). */
	_Atomic uint64_t unmapped;
	_Atomic uint32_t unmapped_type;
	uint64_t unmapped_told;
};

/* node.c: the life cycle and the public calls. */
struct actor__node *actor__node_of(const struct actor_system *sys);
/* Ends d with result (and the node it reached): the actor_node_connect()
 * waiting on it sees it done, or d is freed where that call gave up
 * waiting. Under the node's lock; the caller wakes the waiters. */
void actor__dial_end(struct actor__dial *d, int result, uint32_t node);

/* io.c: the transport's callbacks (I/O thread). */
struct actor__transport_cb actor__node_callbacks(struct actor__node *n);
/* Sends a control frame on a connection now, bypassing the queues. */
void actor__node_send_now(struct actor__node *n, struct actor__conn *c,
			  const struct actor__frame *f);
/* Starts a connection to host:port; NULL if it could not even start. */
struct actor__session *actor__node_dial(struct actor__node *n, const char *host, uint16_t port);
/* Tells a caller waiting on l (actor_node_connect) how it went. */
void actor__dial_done(struct actor__node *n, struct actor__session *l, int result);
/* Tests only, any thread: drops every frame to and from node from now on
 * (a partition), or stops dropping them. 0, or -ENOSPC (ACTOR__DROP_MAX
 * nodes dropped already). */
int actor__node_drop(struct actor__node *n, uint32_t node, bool drop);
/* Whether frames to and from node are dropped (I/O thread). */
bool actor__node_dropped(struct actor__node *n, uint32_t node);

/* peer.c: the peer table, peers up and down, heartbeats and redials. */
/* A read section: between these a peer found in the table is not freed.
 * Any thread; short (no blocking). enter returns what exit takes. */
unsigned actor__peer_enter(struct actor__node *n);
void actor__peer_exit(struct actor__node *n, unsigned section);
/* The peer with that id, or NULL; any thread, inside a read section (the
 * I/O thread needs none). */
struct actor__peer *actor__peer_find(struct actor__node *n, uint32_t node);
/* The peer in slot i, or NULL (empty or forgotten); as actor__peer_find. */
struct actor__peer *actor__peer_at(struct actor__node *n, size_t i);
/* Forgets p if it is down and nothing needs it any more (I/O thread). */
void actor__peer_forget_maybe(struct actor__node *n, struct actor__peer *p);
/* Frees forgotten peers whose grace period ended (I/O thread; at destroy
 * with all, when no thread can be in a read section). */
void actor__peers_reclaim(struct actor__node *n, bool all);
/* Whether connection l, to a peer that is up on connection old, takes
 * old's place (both nodes choose alike: see peer.c). */
bool actor__session_wins(const struct actor__node *n, const struct actor__session *l,
			 const struct actor__session *old);
/* l completed its handshake: its peer is up, on l (which may replace the
 * peer's connection), or l closes. */
void actor__peer_up(struct actor__node *n, struct actor__session *l);
/* l, a dial of ours, closes before it came up because its node is up on
 * another connection, or coming up on one it dialed: the peer keeps l's
 * address for redialing. */
void actor__peer_learn_address(struct actor__node *n, const struct actor__session *l);
/* p's connection closed with reason. */
void actor__peer_down(struct actor__node *n, struct actor__peer *p, int reason);
/* Membership (member.c): node is a member of this node's view that mail
 * should wait for (hold), or no longer is. A held peer is made if need be
 * and kept (not forgotten); its queue is open while it is not up. Released
 * while not up, what waited in its queue is lost as for a node down. */
void actor__peer_hold(struct actor__node *n, uint32_t node, bool hold);
/* At stop, once the transport is gone: releases every held peer. */
void actor__peers_release(struct actor__node *n);
/* Heartbeats and redials due at now; with sweep, forgets old requests. */
void actor__peers_tick(struct actor__node *n, uint64_t now, bool sweep);

/* log.c: lines to the node config's log callback, or stderr. */
void actor__node_log(const struct actor__node *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For what the network can cause (refused handshakes, bad frames, timeouts):
 * at most a burst a second; the rest are counted and said in one line.
 * I/O thread. */
void actor__node_log_limited(struct actor__node *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reports the lines suppressed in a second that has passed (on_tick). */
void actor__node_log_tick(struct actor__node *n, uint64_t now);

/* admit.c: the node's side of the handshake (handshake.h). */
struct actor__session;
/* Starts the handshake on a new connection: sends our HELLO. */
int actor__handshake_begin(struct actor__node *n, struct actor__conn *c, struct actor__session *l);
/* A frame before the connection is up: 1 when it completed the handshake
 * (l->peer_node and l->peer_name set), 0 to go on, or -errno to close
 * (logged and counted here). */
int actor__handshake_frame(struct actor__node *n, struct actor__conn *c, struct actor__session *l,
			   const struct actor__frame *f);
/* l closes before it is up: a caller waiting on it waits instead on
 * another handshake with the same node, if there is one. */
bool actor__handshake_hand_over(struct actor__node *n, struct actor__session *l);

/* member.c: membership (cluster/view.h is the virtual layer's side). */
/* From actor_node_start: checks the config's membership fields and makes
 * n->member (0, -EINVAL or -ENOMEM); then, once listening, has the I/O
 * thread make the first view and waits for it; then, with the router
 * installed, lets membership run. */
int actor__member_create(struct actor__node *n, const actor_node_config_t *cfg);
void actor__member_begin(struct actor__node *n);
void actor__member_installed(struct actor__node *n);
/* At shutdown, before the transport goes: membership stops acting. */
void actor__member_stop(struct actor__node *n);
void actor__member_free(struct actor__node *n);
void actor__view_free(struct actor__mview *v);
/* The view retired before v, on n->vretired_*. */
struct actor__mview *actor__view_retired_next(const struct actor__mview *v);
/* The I/O thread's: commands from other threads (on_woken); at each tick,
 * the stall check before the peers' heartbeats and the rest after. */
void actor__member_commands(struct actor__node *n);
void actor__member_stall_check(struct actor__node *n, uint64_t now);
void actor__member_tick(struct actor__node *n, uint64_t now);
/* A membership frame (VIEW..LEAVE) from peer p: 0, or -EPROTO with *why. */
int actor__member_frame(struct actor__node *n, struct actor__peer *p,
			const struct actor__frame *f, const char **why);
/* Peer p came up on session l; l closes (I/O thread). */
void actor__member_peer_up(struct actor__node *n, struct actor__session *l, struct actor__peer *p);
void actor__member_session_closed(struct actor__node *n, struct actor__session *l);
/* Whether node is another member of this node's view, watched by
 * membership's probes instead of the peer's heartbeats (I/O thread). */
bool actor__member_watches(struct actor__node *n, uint32_t node);
/* The tick the transport needs for membership's timeouts. */
uint64_t actor__member_tick_ns(const actor_node_config_t *cfg);
/* Tests only (NULL otherwise), process-wide: asked instead of the virtual
 * layer for a system's hosted types; told after the virtual layer of each
 * view published (I/O thread). */
typedef size_t (*actor__types_hook_t)(struct actor_system *sys, uint64_t *out, size_t cap);
typedef void (*actor__view_hook_t)(struct actor_system *sys, const struct actor__view *old,
				   const struct actor__view *now);
extern _Atomic(actor__types_hook_t) actor__member_types_hook;
extern _Atomic(actor__view_hook_t) actor__member_view_hook;

/* route.c: mail to and from other nodes. */
int actor__route(struct actor__router *r, struct actor__worker *w, actor_ref_t to,
		 struct actor__env *e);
/* Any thread: f (at most max bytes encoded) into node's queue, for e,
 * which it consumes; e is `to`'s dead letter when node is unreachable.
 * What actor__route returns. */
int actor__route_frame(struct actor__node *n, struct actor__worker *w, uint32_t node,
		       const struct actor__frame *f, size_t max, actor_ref_t to,
		       struct actor__env *e);
/* vroute.c: a VIRTUAL frame from p (I/O thread): 0, or -EPROTO with *why. */
int actor__vroute_inbound(struct actor__node *n, struct actor__peer *p,
			  const struct actor__frame *f, const char **why);
/* direct.c: any thread (w: the calling worker or NULL), inside a peer
 * read section: writes fe (a frame for p) on p's connection at once when
 * nothing is queued before it; true when fe is gone (written, or taken
 * by the transport). */
bool actor__route_direct(struct actor__node *n, struct actor__worker *w, struct actor__peer *p,
			 struct actor__env *fe);
/* I/O thread: p's connection for direct writes, or NULL before it is
 * freed (waits for a writer using it). */
void actor__direct_set(struct actor__peer *p, struct actor__conn *c);
/* Hands the ready peers' frames to their connections (I/O thread). */
void actor__route_flush(struct actor__node *n);
void actor__route_drain(struct actor__node *n, struct actor__peer *p);
/* drive.c: the driver (sched/seam.h) over the transport's, unless off:
 * installed after the router (0, -ENOMEM, -EALREADY); each connection up
 * handed to it (I/O thread); removed first thing at node_stop. */
int actor__drive_start(struct actor__node *n);
void actor__drive_conn(struct actor__node *n, struct actor__peer *p, struct actor__conn *c);
void actor__drive_stop(struct actor__node *n);
/* The transport's frame_driven callback (arg: the node, ctx: the peer,
 * w: the holding worker or NULL on the I/O thread). */
bool actor__drive_frame(void *arg, struct actor__conn *c, void *ctx, void *w, const void *body,
			size_t len);
/* A MSG from peer p read by the driver's holder w (NULL: the I/O thread),
 * delivered with w if it needs nothing of the I/O thread's: true; false
 * (nothing done) for the I/O thread's actor__route_inbound. */
bool actor__route_inbound_driven(struct actor__node *n, struct actor__worker *w,
				 struct actor__peer *p, const struct actor__frame *f);
/* An inbound MSG or SIGNAL from peer p, delivered as a local send. */
int actor__route_inbound(struct actor__node *n, struct actor__peer *p,
			 const struct actor__frame *f, const char **why);
/* A frame of mail (MSG or SIGNAL) that will never leave or never arrive:
 * counted in frames_lost, and a MSG is a dead letter (-ECONNRESET). Other
 * frames (PING, the handshake's) are not mail and pass (I/O thread). */
void actor__route_lost(struct actor__node *n, const struct actor__env *fe);
/* Frames and bytes waiting for p: in its queue and, as of the I/O
 * thread's last look, in its connection (any thread, in a read section). */
void actor__route_queued(const struct actor__peer *p, uint64_t *frames, uint64_t *bytes);
/* Notes what p's connection has not written yet (I/O thread). */
void actor__route_conn_bytes(struct actor__node *n, struct actor__peer *p);
/* Peer p is down: fails what was waiting on it; with keep (a held peer),
 * fails only what was sent and keeps its queue open for the next
 * connection. */
void actor__route_peer_down(struct actor__node *n, struct actor__peer *p, bool keep);
/* Logs mail that had no form on the wire since the last call (on_tick). */
void actor__route_tick(struct actor__node *n);
/* Forgets requests to p that surely timed out long ago. */
void actor__route_expire(struct actor__node *n, struct actor__peer *p, uint64_t now);

/* track.c: a peer's track table (p->track; actor__htab_free frees it). */
/* Notes an entry, once (a second time is a no-op); 0 or -ENOMEM. */
int actor__track_add(struct actor__htab *t, uint32_t kind, uint64_t local, uint64_t remote,
		     uint64_t now);
/* Forgets an entry; false if there was none. */
bool actor__track_del(struct actor__htab *t, uint32_t kind, uint64_t local, uint64_t remote);
/* Calls fn on every entry, then empties the table. */
void actor__track_drain(struct actor__htab *t,
			void (*fn)(void *arg, const struct actor__track_entry *e), void *arg);
/* Drops requests older than max_age_ns (their requester gave up). */
void actor__track_expire(struct actor__htab *t, uint64_t now, uint64_t max_age_ns);

#endif /* ACTOR_CLUSTER_INTERNAL_H */

/*
 * libactor: nodes. A system becomes a node of a cluster with
 * actor_node_start(): it then listens for other nodes, connects to them,
 * and references to actors on them work like local ones: sends, requests,
 * replies, forwards, monitors and links cross the network transparently.
 * The wire protocol is libactor-protocol(7).
 */
#ifndef ACTOR_NODE_H
#define ACTOR_NODE_H

#include <actor/common.h>
#include <actor/types.h>

ACTOR_BEGIN_DECLS

/* An in-process meeting point for the loopback transport: systems in one
 * process that name the same hub reach each other without sockets. */
typedef struct actor_loopback actor_loopback_t;

/* A member of the cluster's view (actor_cluster_members(3)). */
typedef struct actor_member {
	uint32_t node;			/* its actor_node_id() */
	uint32_t incarnation;		/* 1, then + 1 at each rejoin after removal */
	uint16_t port;			/* where members dial it; 0: they cannot */
	char name[256];			/* its node name, NUL-terminated */
	char host[256];			/* its advertised host, NUL-terminated */
} actor_member_t;

/* What an actor_member_event_t says (actor_cluster_subscribe(3)). */
#define ACTOR_MEMBER_UP 1		/* member joined the view */
#define ACTOR_MEMBER_DOWN 2		/* member was declared dead and removed */
#define ACTOR_MEMBER_LEFT 3		/* member left (actor_cluster_leave()) */
#define ACTOR_MEMBER_FENCED 4		/* this node stopped running virtual actors */
#define ACTOR_MEMBER_UNFENCED 5		/* this node runs them again */

typedef struct actor_member_event {
	int kind;			/* ACTOR_MEMBER_* */
	uint64_t epoch;			/* the view it happened in */
	actor_member_t member;		/* who; this node for (UN)FENCED */
} actor_member_event_t;

/* The type of the messages actor_cluster_subscribe() sends; the payload is
 * an actor_member_event_t. */
#define ACTOR_MSG_MEMBER 0xffffff20u

typedef struct actor_node_config {
	const char *name;		/* for logs and peers; default "node" */
	/* Where to listen: host (default "127.0.0.1"; "0.0.0.0" or "::" only
	 * when asked) and port (0: any free port, see actor_node_port()). */
	const char *listen_host;
	uint16_t listen_port;
	bool no_listen;			/* connect out only */
	/* The shared secret every node of the cluster has; required, at
	 * least 16 bytes. Never sent: the handshake proves it with
	 * HMAC-SHA-256 over nonces from both sides. */
	const void *cookie;
	size_t cookie_len;
	/* TLS 1.3 on TCP, off by default: set all three (PEM files, read by
	 * actor_node_start) and every connection is encrypted, with
	 * certificates checked both ways: the peer's must be signed by the
	 * CA. The cookie handshake then runs inside TLS. See
	 * libactor-protocol(7). */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	/* "uring", "epoll", "loopback", or NULL: $ACTOR_TRANSPORT, else
	 * io_uring, else epoll. */
	const char *transport;
	actor_loopback_t *loopback;	/* the hub, for "loopback" */
	/* Failure detection: a PING after interval_ns of silence; a peer
	 * heard nothing from for timeout_ns is down (default 500 ms, 2 s). */
	uint64_t heartbeat_interval_ns;
	uint64_t heartbeat_timeout_ns;
	uint64_t handshake_timeout_ns;	/* default 5 s */
	/* After losing a peer it connected to, a node retries with backoff
	 * from min to max (default 100 ms to 5 s); 0 for max: never. */
	uint64_t reconnect_min_ns;
	uint64_t reconnect_max_ns;
	size_t max_frame;		/* largest frame accepted; default 4 MiB */
	/* Frames waiting for one peer's connection; beyond it sends to that
	 * node fail with -EAGAIN. Default 65536. */
	uint32_t max_queued;
	/* Optional: told on the I/O thread when a node comes up (reason 0)
	 * or goes down (reason -errno: -ETIMEDOUT for missed heartbeats,
	 * -ECONNRESET, ...; 0 when the peer closed the connection between
	 * frames, its orderly goodbye). It must not block. */
	void (*node_event)(void *arg, uint32_t node, const char *name, bool up, int reason);
	void *node_event_arg;
	/* Inbound connections in the handshake at once; more are closed at
	 * once (stats: handshakes_busy). Default 64. */
	uint32_t max_handshakes;
	/* Optional: takes the node's log lines (one line, no newline, valid
	 * during the call) on the I/O thread instead of stderr. It must not
	 * block. Lines the network can cause are rate-limited. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* Membership (actor_cluster_members(3)). The nodes to join the
	 * cluster through, "host:port" each ("[addr]:port" for IPv6), copied
	 * by actor_node_start; none: this node starts a cluster of its own,
	 * which others join. */
	const char *const *seeds;
	size_t nseeds;
	/* The host other members dial to reach this one; NULL: listen_host,
	 * unless that is a wildcard ("0.0.0.0", "::"), which no one can
	 * dial: then other members wait for this one to dial them. */
	const char *advertise_host;
	/* Failure detection between members: each probes every other once a
	 * probe interval (default 1 s), and any frame counts as hearing from
	 * it; a member silent for suspect_ns (3 s) is suspected and up to 2
	 * others are asked to probe it; one silent for dead_ns (5 s) is dead.
	 * A node that has not heard from a majority of its view for fence_ns
	 * (4 s) stops running virtual actors; the keys of a dead member move
	 * takeover_margin_ns (5 s, > fence_ns) after it was declared dead. */
	uint64_t member_probe_interval_ns;
	uint64_t member_suspect_ns;
	uint64_t member_dead_ns;
	uint64_t member_fence_ns;
	uint64_t member_takeover_margin_ns;
	/* Optional: told on the I/O thread of every member that joins or
	 * leaves the view, and of this node's fencing. It must not block. */
	void (*member_event)(void *arg, const actor_member_event_t *event);
	void *member_event_arg;
	/* Idle workers read inbound mail themselves on TCP (io_uring and
	 * epoll: one worker at a time waits for it in place of its futex),
	 * so that an arriving message wakes the thread that runs its actor.
	 * true: the I/O thread reads every connection, as before. */
	bool no_worker_io;
} actor_node_config_t;

/* Fills in the defaults. */
ACTOR_API void actor_node_config_init(actor_node_config_t *cfg);

/*
 * Makes sys a node: starts its I/O thread and listens. Once per system;
 * references made earlier work remotely too (they carry the node id from
 * the start). 0, or -EALREADY, -EINVAL
 * (no cookie or one too short, bad settings), -EADDRINUSE and other socket
 * errors, -ENOMEM. The node stops with the system.
 */
ACTOR_API int actor_node_start(actor_system_t *sys, const actor_node_config_t *cfg);

/* This system's node id (random per system, never 0). */
ACTOR_API uint32_t actor_node_id(const actor_system_t *sys);

/* The port the node listens on, or -ENOTCONN. */
ACTOR_API int actor_node_port(const actor_system_t *sys);

/*
 * Connects to the node at host:port (for loopback, the name of the hub
 * entry: host as given to the other node's listen_host, and its port) and
 * waits for the handshake, at most timeout_ns. *node gets its id. Not from
 * a handler (-EDEADLK). 0, or -ETIMEDOUT, -ECONNREFUSED, -EACCES (the
 * cookie was refused), -ESHUTDOWN, ... The node reconnects by itself after
 * losing the connection.
 */
ACTOR_API int actor_node_connect(actor_system_t *sys, const char *host, uint16_t port,
				 uint64_t timeout_ns, uint32_t *node);

/* Closes the connection to node and stops reconnecting: it is down (with
 * reason -ECONNABORTED) until connected again. 0, -ENOENT or -ENOTCONN (not a node). */
ACTOR_API int actor_node_disconnect(actor_system_t *sys, uint32_t node);

/* Whether node is connected now (this node counts as connected). */
ACTOR_API bool actor_node_is_up(const actor_system_t *sys, uint32_t node);

/*
 * The name service of node: a request to it of type ACTOR_MSG_WHEREIS
 * with a registered name as payload is answered with a reply of the same
 * type from (0, node) whose payload is the msgpack array [id, node] ([0, 0]:
 * no such name); actor_node_whereis() decodes it. Works for this node's id
 * too.
 */
static inline actor_ref_t actor_node_ref(uint32_t node)
{
	actor_ref_t ref = { 0, node, 0 };	/* no compound literal: C++ too */

	return ref;
}

/* Looks a name up on node, waiting at most timeout_ns: 0 and *out, or
 * -ENOENT (no such name), -EHOSTUNREACH, -ETIMEDOUT, -EDEADLK (from a
 * handler: use actor_lookup_async() there). */
ACTOR_API int actor_node_whereis(actor_system_t *sys, uint32_t node, const char *name,
				 uint64_t timeout_ns, actor_ref_t *out);

/* What actor_lookup_async's continuation gets: ref with error 0, or
 * ACTOR_REF_NONE and -ENOENT (no such name), -ETIMEDOUT, -EHOSTUNREACH,
 * -EBADMSG (a malformed answer). */
typedef void (*actor_lookup_then_t)(actor_ctx_t *ctx, actor_ref_t ref, int error, void *arg);

/*
 * Looks a name up from a handler without blocking: on this node (node 0
 * or this node's id; no node need be started) or on node's name service,
 * with a timeout for a remote one (0: none). `then` runs later on this
 * actor, in its own turn, unless it stops first. 0, or -EINVAL (name NULL
 * or longer than 255 bytes, then NULL), -ENOMEM, or actor_request()'s
 * errors; then `then` never runs.
 */
ACTOR_API int actor_lookup_async(actor_ctx_t *ctx, uint32_t node, const char *name,
				 uint64_t timeout_ns, actor_lookup_then_t then, void *arg);

typedef struct actor_node_stats {
	uint64_t frames_out, frames_in;
	uint64_t bytes_out, bytes_in;
	uint64_t peers_up;		/* connected now */
	uint64_t nodes_down;		/* times a peer went down */
	uint64_t refused;		/* handshakes refused (bad cookie, ...) */
	uint64_t bad_frames;		/* connections closed for a bad frame */
	uint64_t queue_full;		/* sends refused with -EAGAIN */
	uint64_t handshakes_busy;	/* connections closed: max_handshakes */
	uint64_t log_suppressed;	/* log lines dropped by the rate limit */
	uint64_t peers_known;		/* peers remembered now, up or down */
	uint64_t peers_forgotten;	/* peers forgotten: down, not needed */
	uint64_t frames_lost;		/* mail queued or sent, never delivered */
	/* Mail waiting for peers now: frames in their queues, and bytes of
	 * those and of what their connections have not written yet. */
	uint64_t queued_frames, queued_bytes;
} actor_node_stats_t;

/* A snapshot of the node's counters; -ENOTCONN if sys is not a node. */
ACTOR_API int actor_node_stats(const actor_system_t *sys, actor_node_stats_t *out);

/* One peer's queue, as in actor_node_stats(); a slow reader shows here. */
typedef struct actor_node_peer_stats {
	bool up;
	uint64_t queued_frames, queued_bytes;
} actor_node_peer_stats_t;

/* 0, -ENOENT (no such peer known), -ENOTCONN (not a node) or -EINVAL. */
ACTOR_API int actor_node_peer_stats(const actor_system_t *sys, uint32_t node,
				    actor_node_peer_stats_t *out);
/*
 * The cluster's view as this node knows it: writes up to cap members,
 * sorted by node, into out and the view's epoch into *epoch (either may be
 * NULL with cap 0); returns how many members the view has, or -ENOTCONN
 * if sys is not a node. Any thread.
 */
ACTOR_API int actor_cluster_members(actor_system_t *sys, actor_member_t *out, size_t cap,
				    uint64_t *epoch);

/*
 * Sends ref (an actor of this system) an ACTOR_MSG_MEMBER message for
 * every member of the view now (ACTOR_MEMBER_UP), then one for every
 * change, until actor_cluster_unsubscribe() or ref stops. 0, or -ENOTCONN,
 * -EINVAL (not an actor of this system), -ESHUTDOWN, -ENOMEM.
 */
ACTOR_API int actor_cluster_subscribe(actor_system_t *sys, actor_ref_t ref);
ACTOR_API int actor_cluster_unsubscribe(actor_system_t *sys, actor_ref_t ref);

/*
 * Leaves the cluster: the view drops this node at once, with a new epoch,
 * so that its virtual actors' keys move without waiting for failure
 * detection, and this node runs no virtual actor any more. Waits at most
 * timeout_ns for the view without it. Not from a handler (-EDEADLK). 0, or
 * -ETIMEDOUT, -ENOTCONN, -EINVAL, -ESHUTDOWN.
 */
ACTOR_API int actor_cluster_leave(actor_system_t *sys, uint64_t timeout_ns);

ACTOR_API int actor_loopback_create(actor_loopback_t **out);
/* After every system that used it is destroyed. */
ACTOR_API void actor_loopback_destroy(actor_loopback_t *hub);

ACTOR_END_DECLS

#endif /* ACTOR_NODE_H */

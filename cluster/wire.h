/*
 * The wire format, protocol version 2 (man/libactor-protocol.7 is the
 * reference for implementers in other languages).
 *
 * A frame is a 4-byte big-endian body length (transport.h), then a body:
 * exactly one msgpack array whose first element is the frame kind. Every
 * integer is a msgpack unsigned or signed int within the field's range;
 * every other field has exactly the type given; extra elements, trailing
 * bytes, nesting, maps, floats and ext types are errors.
 *
 *  HELLO  [1, version, node, name, nonce]
 *	version uint (2), node uint32 != 0, name str of 1..255 bytes,
 *	nonce bin of 32 bytes. Both sides send HELLO first.
 *  AUTH   [2, mac]
 *	mac bin of 32 bytes: HMAC-SHA-256 over (cluster/handshake.h) the
 *	sender's role, the peer's nonce, the sender's nonce and both node
 *	ids, keyed with the cookie. The dialer sends it on the acceptor's
 *	HELLO, the acceptor once it has checked the dialer's; nothing else is
 *	accepted before both AUTHs are checked.
 *  MSG    [3, to_id, to_node, from_id, from_node, type, flags, request_id, payload]
 *	to_id uint64, to_node uint32, from_id uint64, from_node uint32,
 *	type uint32, flags uint (ACTOR__WIRE_*), request_id uint32,
 *	payload bin (0 bytes or more; max_frame bounds it).
 *  SIGNAL [4, op, to_id, to_node, ref_id, ref_node, reason, request_id]
 *	op uint (ACTOR__SIG_*), ids and nodes as in MSG, reason int32,
 *	request_id uint32. Runtime messages: exits, monitors, links, failed
 *	requests and the down/exit notices actors receive.
 *  PING   [5]
 *	Heartbeat; any frame shows that the peer is alive.
 *  VIRTUAL [6, epoch, hops, type_name, key, from_id, from_node, type, flags,
 *	     request_id, payload]
 *	Mail for a virtual actor (cluster/vroute.c): epoch uint64 (the
 *	sender's view), hops uint 0..2 (times passed on), type_name str of
 *	1..255 bytes, key bin of 0..1024 bytes, from_* as in MSG, type
 *	uint32, flags uint (URGENT, REQUEST only), request_id uint32,
 *	payload bin.
 *
 * Membership (cluster/member.c; libactor-protocol(7), "Membership"):
 *
 *  VIEW   [7, epoch, n, n x (node, incarnation, name, host, port, types),
 *	    k, k x (node, incarnation, cause)]
 *	A membership view, flat: epoch uint64 >= 1, n uint 1..1024 members
 *	sorted by node (strictly), each node uint32 != 0, incarnation
 *	uint32 >= 1, name str 1..255 bytes without NUL, host str 0..255
 *	bytes without NUL, port uint16 (0 exactly when host is empty: not
 *	dialable), types bin of 8 x 0..64 bytes, big-endian uint64 type
 *	hashes sorted strictly; then the k uint 0..1024 members this epoch
 *	removed, node uint32 != 0, incarnation uint32 >= 1, cause uint
 *	(ACTOR__DEPART_*).
 *  JOIN   [8, node, incarnation, name, host, port, types]
 *	Fields as one member of VIEW: add node to the view, or update its
 *	entry. From node itself, or relayed by a member for it.
 *  PROBE  [9, seq, epoch, digest, target, sealed]
 *	seq, epoch (>= 1), digest and sealed (<= epoch) uint64, target
 *	uint32: a direct probe (target 0), answered by an ACK; or a request
 *	to probe target and relay its answer (an indirect probe). epoch and
 *	digest name the sender's view; sealed is the latest epoch whose
 *	seals the sender has finished (the virtual actors that view moved
 *	away from it have deactivated and saved), which a member that gained
 *	keys in it waits for before it activates them.
 *  ACK    [10, seq, epoch, digest, target, sealed]
 *	Answers PROBE seq (target 0), or relays that target answered the
 *	indirect probe seq.
 *  PULL   [11, epoch]
 *	Asks for the receiver's view, answered by a VIEW; epoch is the
 *	sender's own.
 *  LEAVE  [12, node, incarnation]
 *	node leaves the view; from node itself, or relayed by a member.
 */
#ifndef ACTOR_CLUSTER_WIRE_H
#define ACTOR_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* 2: the handshake binds each side's role (version 1 could be spliced). */
#define ACTOR__PROTO_VERSION 2
#define ACTOR__NONCE_LEN 32
#define ACTOR__MAC_LEN 32
#define ACTOR__NODE_NAME_MAX 255

enum actor__frame_kind {
	ACTOR__F_HELLO = 1,
	ACTOR__F_AUTH = 2,
	ACTOR__F_MSG = 3,
	ACTOR__F_SIGNAL = 4,
	ACTOR__F_PING = 5,
	ACTOR__F_VIRTUAL = 6,
	/* 13..15: kept for virtual actors. */
	ACTOR__F_VIEW = 7,
	ACTOR__F_JOIN = 8,
	ACTOR__F_PROBE = 9,
	ACTOR__F_ACK = 10,
	ACTOR__F_PULL = 11,
	ACTOR__F_LEAVE = 12,
};

/* Membership's limits on the wire. */
#define ACTOR__VIEW_MEMBERS_MAX 1024	/* members of a view */
#define ACTOR__VIEW_DEPARTED_MAX 1024	/* members one VIEW says were removed */
#define ACTOR__MEMBER_TYPES_MAX 64	/* virtual types a member hosts */
#define ACTOR__HOST_MAX 255		/* bytes of a member's host */

/* Why a member left a view (VIEW's cause). */
enum { ACTOR__DEPART_DEAD = 1, ACTOR__DEPART_LEFT = 2 };

/* One member of a VIEW, or a JOIN's fields. */
struct actor__wire_member {
	uint32_t node, incarnation;
	uint16_t port;
	const char *name, *host;	/* not NUL-terminated */
	size_t name_len, host_len;
	uint32_t ntypes;
	/* Encoding: the hashes. Decoding: NULL, and types_be holds them as
	 * 8 * ntypes big-endian bytes (actor__wire_type). */
	const uint64_t *types;
	const unsigned char *types_be;
};

struct actor__wire_departure {
	uint32_t node, incarnation, cause;
};

/* The i-th type hash of m, as encoded or decoded. */
static inline uint64_t actor__wire_type(const struct actor__wire_member *m, size_t i)
{
	uint64_t v = 0;

	if (m->types != NULL)
		return m->types[i];
	for (size_t k = 0; k < 8; k++)
		v = v << 8 | m->types_be[8 * i + k];
	return v;
}

/* MSG flags on the wire. */
enum {
	ACTOR__WIRE_URGENT = 1 << 0,
	ACTOR__WIRE_REQUEST = 1 << 1,
	ACTOR__WIRE_REPLY = 1 << 2,
	ACTOR__WIRE_FLAGS = 0x7,	/* any other bit is an error */
	ACTOR__WIRE_VFLAGS = 0x3,	/* VIRTUAL: URGENT and REQUEST only */
};

/* VIRTUAL limits: hops (each node passes a frame on once, at most two
 * passes), type name and key (include/actor/virtual.h's limits). */
#define ACTOR__WIRE_HOPS_MAX 2
#define ACTOR__VTYPE_NAME_MAX 255
#define ACTOR__VKEY_MAX 1024

/* SIGNAL ops. */
enum actor__sig_op {
	ACTOR__SIG_EXIT = 1,		/* to: exit with reason (ref: who sent it) */
	ACTOR__SIG_MONITOR,		/* to: watched by ref */
	ACTOR__SIG_DEMONITOR,		/* to: no longer watched by ref */
	ACTOR__SIG_LINK,		/* to: linked to ref */
	ACTOR__SIG_UNLINK,		/* to: unlinked from ref */
	ACTOR__SIG_LINK_EXIT,		/* to: linked ref stopped with reason */
	ACTOR__SIG_FAILED,		/* to: request_id failed with error reason */
	ACTOR__SIG_DOWN,		/* to: a monitored ref stopped (ACTOR_MSG_DOWN) */
	ACTOR__SIG_EXIT_MSG,		/* to: a trapped exit of ref (ACTOR_MSG_EXIT) */
	ACTOR__SIG_MAX = ACTOR__SIG_EXIT_MSG,
};

struct actor__frame {
	uint32_t kind;
	union {
		struct {
			uint32_t version;
			uint32_t node;
			const char *name;	/* not NUL-terminated */
			size_t name_len;
			const uint8_t *nonce;	/* ACTOR__NONCE_LEN bytes */
		} hello;
		struct {
			const uint8_t *mac;	/* ACTOR__MAC_LEN bytes */
		} auth;
		struct {
			uint64_t to_id, from_id;
			uint32_t to_node, from_node;
			uint32_t type, flags, request_id;
			const void *payload;
			size_t size;
		} msg;
		struct {
			uint32_t op;
			uint64_t to_id, ref_id;
			uint32_t to_node, ref_node;
			int32_t reason;
			uint32_t request_id;
		} signal;
		struct {
			uint64_t epoch, from_id;
			uint32_t hops, from_node, type, flags, request_id;
			const char *name;	/* not NUL-terminated */
			size_t name_len;
			const void *key;
			size_t key_len;
			const void *payload;
			size_t size;
		} virt;
		struct {
			uint64_t epoch;
			uint32_t nmembers, ndeparted;
			/* Encoding: the arrays, or (a decoded VIEW encoded
			 * again) NULL and the cursors. Decoding: NULL, and the
			 * cursors that actor__frame_view_member() and
			 * actor__frame_view_departure() read from. */
			const struct actor__wire_member *members;
			const struct actor__wire_departure *departed;
			const void *members_at, *departed_at, *end;
		} view;
		struct actor__wire_member join;
		struct {
			uint64_t seq, epoch, digest;
			uint32_t target;
			uint64_t sealed;
		} probe;			/* PROBE and ACK */
		struct {
			uint64_t epoch;
		} pull;
		struct {
			uint32_t node, incarnation;
		} leave;
	};
};

/* Bytes a MSG frame with `size` payload bytes takes at most, prefix included. */
#define ACTOR__MSG_FRAME_MAX(size) ((size_t)(size) + 64)
/* Bytes a VIRTUAL frame with `size` payload bytes takes at most. */
#define ACTOR__VMSG_FRAME_MAX(size) \
	((size_t)(size) + 80 + ACTOR__VTYPE_NAME_MAX + ACTOR__VKEY_MAX)
/* Bytes any other frame takes at most, prefix included. */
/* Bytes any other frame takes at most, prefix included, but VIEW and JOIN
 * (actor__frame_max). */
#define ACTOR__CTRL_FRAME_MAX (ACTOR__NODE_NAME_MAX + 96)

/* Bytes f takes at most as a frame, prefix included (any kind). */
size_t actor__frame_max(const struct actor__frame *f);

/*
 * Writes f as a whole frame (prefix and body) into buf, which has room for
 * cap bytes. Returns the bytes written, or 0 if cap is too small or f is not
 * a valid frame (a name too long, an unknown kind).
 */
size_t actor__frame_encode(const struct actor__frame *f, void *buf, size_t cap);

/*
 * An actor reference as a msgpack array [id uint64, node uint32], the
 * payload of a whereis reply (libactor-protocol(7)): the same bytes on
 * hosts of either byte order. Encode returns the bytes written (at most
 * ACTOR__REF_WIRE_MAX), or 0 if cap is too small; decode returns 0, or
 * -EBADMSG for anything but exactly such an array.
 */
#define ACTOR__REF_WIRE_MAX 15
size_t actor__frame_ref_encode(uint64_t id, uint32_t node, void *buf, size_t cap);
int actor__frame_ref_decode(const void *p, size_t len, uint64_t *id, uint32_t *node);

/*
 * Decoding state: the parsed elements of the last body, so that decoding
 * never allocates. One thread at a time. The decoder reads the flat array
 * itself in the same bounded pass that validates it (msgpack-c's unpacker
 * has no limits and cost five times as much); msgpack-c writes every frame,
 * and the fuzz target checks every accepted body against its unpacker.
 */
struct actor__frame_decoder;
/* NULL on ENOMEM. */
struct actor__frame_decoder *actor__frame_decoder_create(void);
void actor__frame_decoder_destroy(struct actor__frame_decoder *d);

/*
 * Decodes one body (no prefix) of len bytes. On success returns 0 and fills
 * *f, whose pointers point into body and stay valid until the next call
 * with d. On any deviation from the format
 * above returns -EBADMSG (or -EPROTONOSUPPORT for a HELLO whose version is
 * not ACTOR__PROTO_VERSION) and sets *why to a static description. Never
 * allocates more than a small bounded amount, whatever the input.
 */
int actor__frame_decode(struct actor__frame_decoder *d, const void *body, size_t len,
			struct actor__frame *f, const char **why);

/*
 * A decoded VIEW's members and departures, in order: pass
 * f->view.members_at (departed_at) first, then what the previous call
 * returned, nmembers (ndeparted) times. The frame was checked whole when it
 * was decoded, so these cannot fail; they read the body, which must still
 * be there.
 */
const void *actor__frame_view_member(const struct actor__frame *f, const void *cursor,
				     struct actor__wire_member *m);
const void *actor__frame_view_departure(const struct actor__frame *f, const void *cursor,
					struct actor__wire_departure *d);

#endif /* ACTOR_CLUSTER_WIRE_H */

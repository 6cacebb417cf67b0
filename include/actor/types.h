/*
 * libactor: the types every part of the API shares.
 */
#ifndef ACTOR_TYPES_H
#define ACTOR_TYPES_H

#include <stdbool.h>
#include <actor/common.h>

ACTOR_BEGIN_DECLS

/* An actor system: workers, actors and their mailboxes. Opaque. */
typedef struct actor_system actor_system_t;

/* What a handler gets to act as its actor: valid during the call only. */
typedef struct actor_ctx actor_ctx_t;

/* A received message: valid until the handler returns. Opaque. */
typedef struct actor_msg actor_msg_t;

/*
 * A reference to an actor: a small value, copied freely, never freed.
 * A reference outlives its actor harmlessly: messages to a stopped actor
 * become dead letters. Compare with actor_ref_equal(); the fields are
 * private.
 */
typedef struct actor_ref {
	uint64_t id;		/* generation << 32 | slot; 0: no actor */
	uint32_t node;		/* 0: this node */
	uint32_t reserved;
} actor_ref_t;

#define ACTOR_REF_NONE ((actor_ref_t){ 0, 0, 0 })

static inline bool actor_ref_is_none(actor_ref_t ref)
{
	return ref.id == 0;
}

static inline bool actor_ref_equal(actor_ref_t a, actor_ref_t b)
{
	return a.id == b.id && a.node == b.node;
}

/* A pending delayed send, to cancel it; a value like actor_ref_t. */
typedef struct actor_timer {
	uint64_t id;		/* 0: none */
} actor_timer_t;

/*
 * What a request's continuation gets: the reply (valid during the call),
 * with error 0; or reply NULL and error -ETIMEDOUT, or -ESRCH when the
 * target stopped without replying.
 */
typedef void (*actor_then_t)(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg);

/* The duty to answer a request later, from another turn: a value. */
typedef struct actor_promise {
	actor_ref_t to;
	uint64_t request_id;	/* 0: delivered already */
} actor_promise_t;

/* A message handler: called with one message at a time, never concurrently
 * with itself for the same actor. */
typedef void (*actor_handler_t)(actor_ctx_t *ctx, const actor_msg_t *msg);

/* How to make an actor. The spec must outlive every actor made from it
 * (a static const spec is the usual case). */
typedef struct actor_spec {
	const char *name;		/* for debugging; may be NULL */
	actor_handler_t handler;	/* required */
	size_t state_size;		/* bytes of zeroed private state */
	/* Optional: runs in the actor's first turn, before any message; a
	 * negative errno stops the actor with that value as exit reason. */
	int (*init)(actor_ctx_t *ctx, void *arg);
	/* Optional: runs exactly once, in the actor's last turn (also after
	 * a failed init; not if the system shut down before init ran). */
	void (*cleanup)(actor_ctx_t *ctx);
	/* 0: unbounded; else sends to a full mailbox fail with -EAGAIN. */
	uint32_t mailbox_capacity;
} actor_spec_t;

/*
 * Exit reasons. 0 is a normal exit; ACTOR_EXIT_* below are the runtime's
 * own; any other value is the application's (a negative errno, say).
 */
#define ACTOR_EXIT_NORMAL 0
#define ACTOR_EXIT_KILL 0x7fff0001	/* with actor_exit(): cannot be trapped */
#define ACTOR_EXIT_SHUTDOWN 0x7fff0002	/* the system is shutting down */
#define ACTOR_EXIT_NOPROC 0x7fff0003	/* the actor was gone already */
#define ACTOR_EXIT_NODEDOWN 0x7fff0004	/* its node is unreachable */

/*
 * Message types at or above ACTOR_MSG_RESERVED are the runtime's: a
 * monitor's down message and a trapped exit. Their payload is an
 * actor_signal_t and their sender the actor concerned. Mail of these
 * types sent by hand is not sent to other nodes (they would refuse it).
 */
#define ACTOR_MSG_RESERVED 0xffffff00u
#define ACTOR_MSG_DOWN 0xffffff01u
#define ACTOR_MSG_EXIT 0xffffff02u
#define ACTOR_MSG_WHEREIS 0xffffff03u	/* see actor_node_ref() */

/* A child of a supervisor: how to make it, and an optional name that the
 * supervisor registers for it, again after every restart. */
typedef struct actor_child_spec {
	const actor_spec_t *spec;
	void *arg;
	const char *name;
} actor_child_spec_t;

/* A one-for-one supervisor: more than max_restarts restarts within
 * period_ns stop it. It must outlive the supervisor. */
typedef struct actor_supervisor_spec {
	const actor_child_spec_t *children;
	size_t nchildren;
	unsigned max_restarts;
	uint64_t period_ns;
} actor_supervisor_spec_t;

typedef struct actor_signal {
	actor_ref_t from;	/* the actor that stopped, or sent the exit */
	int reason;
} actor_signal_t;

ACTOR_END_DECLS

#endif /* ACTOR_TYPES_H */

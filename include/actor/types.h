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
	uint32_t node;		/* actor_node_id() of the system that spawned it */
	uint32_t reserved;
} actor_ref_t;

/* The reference to no actor; C++ has no compound literals. */
#ifdef __cplusplus
#define ACTOR_REF_NONE (actor_ref_t())
#else
#define ACTOR_REF_NONE ((actor_ref_t){ 0, 0, 0 })
#endif

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
 * with error 0; or reply NULL and error -ETIMEDOUT, -ESRCH when the target
 * stopped with the request queued, -EPIPE when it received the request but
 * will never answer (returned from its handler without answering, stopped
 * holding the promise), or -EHOSTUNREACH when its node went down.
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
/* Requests a supervisor answers (see actor_supervisor_children()): its
 * children's references (an actor_ref_t array, ACTOR_REF_NONE for a child
 * not running); start a child (payload: an actor_child_spec_t; reply: an
 * actor_supervisor_reply_t); stop one (payload: its actor_ref_t). */
#define ACTOR_MSG_SUPERVISOR_CHILDREN 0xffffff10u
#define ACTOR_MSG_SUPERVISOR_START_CHILD 0xffffff11u
#define ACTOR_MSG_SUPERVISOR_STOP_CHILD 0xffffff12u

/* When a supervisor restarts a child (Erlang/OTP's restart types). The
 * default, 0, is transient, as before restart types existed. */
#define ACTOR_RESTART_TRANSIENT 0	/* after an abnormal exit only */
#define ACTOR_RESTART_PERMANENT 1	/* after any exit */
#define ACTOR_RESTART_TEMPORARY 2	/* never; forgotten once it stops */

/* A child of a supervisor: how to make it, and an optional name that the
 * supervisor registers for it, again after every restart. */
typedef struct actor_child_spec {
	const actor_spec_t *spec;
	void *arg;
	const char *name;
	int restart;			/* ACTOR_RESTART_* */
} actor_child_spec_t;

/* What a child's restart takes with it (Erlang/OTP's strategies). */
#define ACTOR_ONE_FOR_ONE 0		/* the child alone (the default) */
#define ACTOR_ONE_FOR_ALL 1		/* every child */
#define ACTOR_REST_FOR_ONE 2		/* the child and those started after it */

/* A supervisor: more than max_restarts restarts within period_ns stop it.
 * It must outlive the supervisor. */
typedef struct actor_supervisor_spec {
	const actor_child_spec_t *children;
	size_t nchildren;
	unsigned max_restarts;
	uint64_t period_ns;
	int strategy;			/* ACTOR_ONE_FOR_ONE, ... */
} actor_supervisor_spec_t;

/* A supervisor's answer to ACTOR_MSG_SUPERVISOR_START_CHILD and
 * ACTOR_MSG_SUPERVISOR_STOP_CHILD requests. */
typedef struct actor_supervisor_reply {
	int error;			/* 0 or a negative errno */
	actor_ref_t child;		/* the child started */
} actor_supervisor_reply_t;

typedef struct actor_signal {
	actor_ref_t from;	/* the actor that stopped, or sent the exit */
	int reason;
} actor_signal_t;

ACTOR_END_DECLS

#endif /* ACTOR_TYPES_H */

/*
 * sched/seam.h: what sched/ offers the layer above it (cluster/), and
 * nothing else. cluster/ includes this header, never sched/internal.h: it
 * sees no workers, actor table or injection queue, only the calls below,
 * the runtime messages and the envelope flags they travel with. Every call
 * here may be made from any thread unless it says otherwise.
 *
 * sched/ knows no sockets: mail for a reference whose node is not this one
 * goes to the router that cluster/ installs (struct actor__router).
 */
#ifndef ACTOR_SCHED_SEAM_H
#define ACTOR_SCHED_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actor/actor.h>

#include "mailbox/envelope.h"
#include "util/time.h"	/* actor__now_ns, the clock cluster/ uses too */

struct actor__worker;

/*
 * Envelope flags. Each layer has its own bits, checked below and in
 * cluster/internal.h: mailbox/ the low byte (ACTOR__ENV_URGENT), sched/
 * bits 8-11, cluster/ bits 12-15 (on its frame envelopes, which never
 * reach an actor).
 */
#define ACTOR__ENV_MAILBOX_BITS 0x00ffu
#define ACTOR__ENV_SCHED_BITS 0x0f00u
#define ACTOR__ENV_CLUSTER_BITS 0xf000u

#define ACTOR__ENV_SYSTEM (1u << 8)	/* a runtime message, not for the handler */
#define ACTOR__ENV_REQUEST (1u << 9)	/* expects a reply (request.c) */
#define ACTOR__ENV_REPLY (1u << 10)	/* answers request_id */
#define ACTOR__ENV_ANSWERED (1u << 11)	/* replied to, promised or forwarded */

_Static_assert((ACTOR__ENV_URGENT & ~ACTOR__ENV_MAILBOX_BITS) == 0,
	       "mailbox/'s envelope flags stay in the low byte");
_Static_assert(((ACTOR__ENV_SYSTEM | ACTOR__ENV_REQUEST | ACTOR__ENV_REPLY |
		 ACTOR__ENV_ANSWERED) & ~ACTOR__ENV_SCHED_BITS) == 0,
	       "sched/'s envelope flags stay in bits 8-11");
_Static_assert((ACTOR__ENV_MAILBOX_BITS & ACTOR__ENV_SCHED_BITS) == 0 &&
		       (ACTOR__ENV_MAILBOX_BITS & ACTOR__ENV_CLUSTER_BITS) == 0 &&
		       (ACTOR__ENV_SCHED_BITS & ACTOR__ENV_CLUSTER_BITS) == 0,
	       "each layer's envelope flags are its own");

/*
 * The runtime messages (ACTOR__ENV_SYSTEM; not for the handler), as one
 * list: X(NAME) makes ACTOR__SYS_NAME. cluster/route.c builds its table of
 * how each crosses between nodes from this list, so a new one without a
 * row there does not compile (docs/architecture.md, "A new runtime
 * message").
 */
#define ACTOR__SYS_LIST(X) \
	X(INIT)		/* payload: the spawn argument (a pointer) */ \
	X(EXIT)		/* payload: int reason */ \
	X(TIMEOUT)	/* request_id timed out */ \
	X(FAILED)	/* request_id failed; payload: int error */ \
	X(MONITOR)	/* payload: the watcher's actor_ref_t (link.c) */ \
	X(DEMONITOR)	/* payload: the watcher's actor_ref_t */ \
	X(LINK)		/* payload: the other end's actor_ref_t */ \
	X(UNLINK)	/* payload: the other end's actor_ref_t */ \
	X(LINK_EXIT)	/* payload: actor_signal_t */ \
	X(INIT_COPY)	/* payload: a copy of the spawn argument */ \
	X(STOP)		/* payload: int reason; stops the actor, not trappable */

#define ACTOR__SYS_ENUM_(name) ACTOR__SYS_##name,
enum actor__sys_type {
	ACTOR__SYS_NONE = 0,		/* no message has it */
	ACTOR__SYS_LIST(ACTOR__SYS_ENUM_)
	ACTOR__SYS_COUNT		/* one past the last */
};
#undef ACTOR__SYS_ENUM_

/*
 * What cluster/ installs to carry mail to other nodes. Installed once,
 * before any remote reference can exist, and kept until the system is
 * destroyed.
 */
struct actor__router {
	/* Any thread: takes e, bound for another node or for a node's name
	 * service (id 0), in every case; returns what actor__deliver does. */
	int (*route)(struct actor__router *r, struct actor__worker *w, actor_ref_t to,
		     struct actor__env *e);
	/* At shutdown, once no actor is left: ends all I/O. */
	void (*stop)(struct actor__router *r);
	/* At destroy, before the workers' pools go. */
	void (*free)(struct actor__router *r);
};

/*
 * What cluster/ may install so that idle workers wait where remote mail
 * arrives (issue 16): the transport's readiness for the connections it
 * hands over. One worker at a time holds it (sched/worker.c takes a token
 * first); the others park on their futex. Frames read by the holder are
 * delivered with w = that worker, so the actor they wake runs next on it
 * with no futex hop. Installed after the router, removed (and every call
 * into it over) before the router's stop ends the transport.
 */
struct actor__driver {
	/* Waits up to timeout_us (0: until woken) for inbound frames. 1: some
	 * are ready, and the driver stays this thread's until dispatch();
	 * 0: none (timed out or woken). */
	int (*wait)(struct actor__driver *d, unsigned timeout_us);
	/* After wait() returned 1: delivers what is ready with w. */
	void (*dispatch)(struct actor__driver *d, struct actor__worker *w);
	/* Delivers what is ready now, with w, without waiting: how many
	 * frames, or -EBUSY when the transport is another thread's. */
	int (*poll)(struct actor__driver *d, struct actor__worker *w);
	/* Any thread: cuts the holder's wait() short (or the next one). */
	void (*wake)(struct actor__driver *d);
};

/*
 * Virtual references: node ACTOR__NODE_VIRTUAL, never a real node id
 * (system.c never picks it); the id means what the binder says. Mail to
 * them goes to the binder that cluster/virtual.c installs. An actor spawned
 * with actor__spawn_bound() is bound: the binder sees each message for its
 * handler first, and takes the mail still queued when it stops (instead of
 * dead letters), so that a virtual actor's mail outlives its activation.
 */
#define ACTOR__NODE_VIRTUAL 0xffffffffu

struct actor__binder {
	/* Any thread: takes e, for a virtual reference, in every case;
	 * returns what actor__deliver does. */
	int (*route)(struct actor__binder *b, struct actor__worker *w, actor_ref_t to,
		     struct actor__env *e);
	/* The bound actor's turn, before its handler gets e: true to go on;
	 * false when the binder took e (and stopped the actor). */
	bool (*turn)(struct actor__binder *b, actor_ctx_t *ctx, void *bound, struct actor__env *e);
	/* The bound actor's last turn, after its cleanup hook, in place of
	 * closing its mailbox: the binder closes it (actor__ctx_close) and
	 * takes what was queued. bound is not used by sched/ afterwards. */
	void (*stopped)(struct actor__binder *b, actor_ctx_t *ctx, void *bound);
	/* At destroy, after the workers stopped and before their pools go. */
	void (*free)(struct actor__binder *b);
};

/* seam.c */
/* Installs b as sys's binder: 0, or -EALREADY if one is installed. */
int actor__binder_install(struct actor_system *sys, struct actor__binder *b);
struct actor__binder *actor__binder_of(const struct actor_system *sys);
/* Spawns a bound actor (w: the calling worker or NULL): spec->init gets
 * bound as its argument. actor_system_spawn()'s errors. */
int actor__spawn_bound(struct actor_system *sys, struct actor__worker *w, const actor_spec_t *spec,
		       void *bound, actor_ref_t *out);
/* The running actor's binding (NULL: not bound), worker and exit reason. */
void *actor__ctx_bound(const actor_ctx_t *ctx);
struct actor__worker *actor__ctx_worker(const actor_ctx_t *ctx);
int actor__ctx_exit_reason(const actor_ctx_t *ctx);
/* From binder->stopped: closes the mailbox and returns what was queued,
 * in order (linked by next). */
struct actor__env *actor__ctx_close(actor_ctx_t *ctx);
/* Asks actor `to` to stop before its next message (ACTOR__SYS_STOP). */
int actor__stop_later(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		      int reason);
/* Mail that will never be handled: a request fails with error (a
 * negative errno) at its requester, other mail is a dead letter; frees e. */
void actor__bounce(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		   struct actor__env *e, int error);

/* Installs r as sys's router: 0, or -EALREADY if one is installed. */
int actor__router_install(struct actor_system *sys, struct actor__router *r);
/* The installed router, or NULL. */
struct actor__router *actor__router_of(const struct actor_system *sys);
/* Installs d as sys's driver: 0, or -EALREADY if one is installed. Pinned
 * workers may run on any CPU of their creator's mask from then on. */
int actor__driver_install(struct actor_system *sys, struct actor__driver *d);
/* Takes the driver away: waits for the worker holding it to return
 * (cutting its wait short); no worker calls it afterwards. Nothing if
 * none is installed. */
void actor__driver_remove(struct actor_system *sys);
/* This incarnation's node id: random, never 0. */
uint32_t actor__node_id(const struct actor_system *sys);
/* Whether sys is shutting down (no more spawns or outside sends). */
bool actor__system_closing(const struct actor_system *sys);
/* The pool to allocate from on this thread: worker w's, or none (NULL). */
struct actor__pool *actor__worker_pool(const struct actor__worker *w);

/* The sender of an envelope: none (anonymous), or an actor on any node. */
static inline actor_ref_t actor__sender_of(const struct actor__env *e)
{
	return (actor_ref_t){ .id = e->sender, .node = e->sender_node };
}

/* worker.c */
/* Whether the calling thread is one of sys's workers (which must not block
 * waiting for actors). */
bool actor__on_worker(const struct actor_system *sys);
/* Whether worker w (the caller; NULL: not a worker, false) has other
 * actors waiting to run: in its next slot, its deque or the system's
 * injection queue. A snapshot. */
bool actor__worker_has_work(const struct actor__worker *w);

/* link.c */
/* Sends `to` a signal about `from`: a runtime message (LINK_EXIT), or one
 * for the handler (ACTOR_MSG_DOWN, ACTOR_MSG_EXIT). */
void actor__send_signal(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
			uint32_t type, bool system, actor_ref_t from, int reason);

/* request.c */
/* A request of the running actor (ctx) answered at once, as this node's
 * name service would: `then` runs in a later turn of the actor with a reply
 * of type and data from (0, this node), or never if the actor stops first
 * (then arg_free(arg), if not NULL). 0, or -ENOMEM, -EMSGSIZE, -EINVAL, and
 * on failure neither runs. Only from the actor's handler. */
int actor__request_now(actor_ctx_t *ctx, uint32_t type, const void *data, size_t size,
		       actor_then_t then, void *arg, void (*arg_free)(void *));

/* Request `id` of the actor `requester` (on any node) will never be
 * answered: it fails with error. */
void actor__request_fail(struct actor_system *sys, struct actor__worker *w, actor_ref_t requester,
			 uint32_t id, int error);

/* send.c */
/* Delivers a filled-in envelope to `to`, consuming it in every case.
 * w: the calling worker of sys, or NULL. */
int actor__deliver(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		   struct actor__env *e);
/* Counts a dead letter, tells the hook why (reason: a negative errno, as
 * actor_dead_letter_info_t says), and frees the envelope. */
void actor__dead_letter(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
			struct actor__env *e, int reason);
/* Counts a dead letter and tells the hook, for a message never enveloped
 * (or one whose envelope actor__deliver() consumed). */
void actor__dead_letter_report(struct actor_system *sys, actor_ref_t to, actor_ref_t sender,
			       uint32_t type, const void *data, size_t size, int reason);
/* An envelope holding a copy of data, its header filled in; NULL on ENOMEM. */
struct actor__env *actor__env_make(struct actor__pool *pool, actor_ref_t sender, uint32_t type,
				   const void *data, size_t size, uint16_t flags,
				   uint32_t request_id);

#endif /* ACTOR_SCHED_SEAM_H */

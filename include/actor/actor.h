/*
 * libactor: an actor runtime in C.
 *
 * Include this header only; it pulls in the rest of the public API.
 * See libactor(7) for an overview.
 */
#ifndef ACTOR_ACTOR_H
#define ACTOR_ACTOR_H

#include <actor/common.h>
#include <actor/version.h>
#include <actor/types.h>
#include <actor/system.h>
#include <actor/node.h>
#include <actor/virtual.h>

ACTOR_BEGIN_DECLS

/*
 * Spawning: from a handler with actor_spawn(), from any other thread with
 * actor_system_spawn(). A spec with init is scheduled at once and runs init
 * in its first turn: from a handler, after the current turn (on the same
 * worker if no other takes it); from another thread, on a worker, possibly
 * before the call returns, but always after *out is written; otherwise the
 * actor first runs when it gets mail. 0 or a negative errno: -ENOSPC
 * (max_actors reached), -ENOMEM, -EINVAL, -ESHUTDOWN (the system is
 * shutting down).
 */
ACTOR_API int actor_spawn(actor_ctx_t *ctx, const actor_spec_t *spec, void *arg,
			  actor_ref_t *out);
ACTOR_API int actor_system_spawn(actor_system_t *sys, const actor_spec_t *spec, void *arg,
				 actor_ref_t *out);
/*
 * The argument's lifetime: actor_spawn() passes arg to init as it is, so
 * what it points to must stay valid until init has run (after the spawn
 * returns). The _copy variants copy arg_size bytes of it at the spawn
 * instead, as CAF and Erlang copy spawn arguments: init gets a pointer to
 * the copy (NULL if arg_size is 0), valid until init returns; init copies
 * what it keeps into the actor's state. Also -EMSGSIZE (4 GiB or more).
 */
ACTOR_API int actor_spawn_copy(actor_ctx_t *ctx, const actor_spec_t *spec, const void *arg,
			       size_t arg_size, actor_ref_t *out);
ACTOR_API int actor_system_spawn_copy(actor_system_t *sys, const actor_spec_t *spec,
				      const void *arg, size_t arg_size, actor_ref_t *out);

/*
 * Sending: type and a copy of size bytes of data. From a handler the
 * sender is the current actor; actor_system_send() sends anonymously from
 * any thread. Messages from one sender to one receiver arrive in order.
 * 0, or: -ESRCH (no such actor: counted as a dead letter), -EAGAIN (the
 * receiver's bounded mailbox is full), -ENOMEM, -EMSGSIZE (4 GiB or more),
 * -ESHUTDOWN (actor_system_send* only, once shutdown has begun). To an
 * actor of another node, 0 means queued for that node, not delivered; a
 * full bounded mailbox there makes it a dead letter of that node.
 * The _moved variants take ownership of buf (freed with buf_free, which may
 * be NULL) instead of copying, whether or not they succeed.
 */
ACTOR_API int actor_send(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
			 size_t size);
ACTOR_API int actor_send_moved(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, void *buf,
			       size_t size, void (*buf_free)(void *));
ACTOR_API int actor_system_send(actor_system_t *sys, actor_ref_t to, uint32_t type,
				const void *data, size_t size);
ACTOR_API int actor_system_send_moved(actor_system_t *sys, actor_ref_t to, uint32_t type,
				      void *buf, size_t size, void (*buf_free)(void *));

/*
 * Requests. actor_request() sends a request from the current actor; `then`
 * runs later on this actor, in its own turn, with the reply, or with an
 * error when timeout_ns passes first (0: no timeout) or the target stops
 * or returns without replying (actor_then_t). A late reply is dropped and counted. 0, or the errors
 * of actor_send() (then `then` never runs), or -EINVAL.
 */
ACTOR_API int actor_request(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
			    size_t size, uint64_t timeout_ns, actor_then_t then, void *arg);
/*
 * actor_request() that owns arg: arg_free(arg) (if not NULL) runs exactly
 * once when `then` will never run: the call fails (before it returns), or
 * the requester stops with the request pending (also at shutdown). When
 * `then` runs, arg is its to free.
 */
ACTOR_API int actor_request_with(actor_ctx_t *ctx, actor_ref_t to, uint32_t type,
				 const void *data, size_t size, uint64_t timeout_ns,
				 actor_then_t then, void *arg, void (*arg_free)(void *));
/*
 * Answers the request being handled: 0, -EINVAL (not a request),
 * -EALREADY (answered, promised or forwarded already), or a send's errors.
 */
ACTOR_API int actor_reply(actor_ctx_t *ctx, const actor_msg_t *request, uint32_t type,
			  const void *data, size_t size);
/* Takes the duty to answer later: 0, -EINVAL or -EALREADY as above, or
 * -ENOMEM. If the actor stops before delivering, the requester gets -EPIPE. */
ACTOR_API int actor_promise(actor_ctx_t *ctx, const actor_msg_t *request,
			    actor_promise_t *out);
/* Answers a promised request, once: 0, -EALREADY, or a send's errors. */
ACTOR_API int actor_promise_deliver(actor_ctx_t *ctx, actor_promise_t *promise, uint32_t type,
				    const void *data, size_t size);
/* Sends msg on to `to` with its original sender and request id, so that
 * `to` answers the original requester. -EALREADY if it was answered; on a
 * send's error the request stays the caller's to answer. */
ACTOR_API int actor_forward(actor_ctx_t *ctx, const actor_msg_t *msg, actor_ref_t to);
/*
 * A request from a thread outside the actors, waiting for the reply (a
 * future): 0 with the reply's type, a malloc'd copy of its payload in
 * *reply (NULL if empty; free it) and its size; or -ETIMEDOUT, -ESRCH,
 * -EPIPE (received but never to be answered), -EHOSTUNREACH,
 * -EINVAL (no timeout), -EDEADLK (called on one of sys's workers: blocking
 * there could wait for ever), -ECANCELED (shutdown), or a send's errors.
 */
ACTOR_API int actor_system_ask(actor_system_t *sys, actor_ref_t to, uint32_t type,
			       const void *data, size_t size, uint64_t timeout_ns,
			       uint32_t *reply_type, void **reply, size_t *reply_size);

/*
 * Delayed sends: the message is sent delay_ns nanoseconds from now (by the
 * system's timer thread), from the current actor or anonymously. *timer,
 * if not NULL, receives a handle for actor_timer_cancel(). Same errors as
 * the sends; -ESRCH if `to` is a local actor already dead when the timer
 * is set (a dead letter). Due timers fire in order of due time, then of setting.
 */
ACTOR_API int actor_send_after(actor_ctx_t *ctx, actor_ref_t to, uint64_t delay_ns,
			       uint32_t type, const void *data, size_t size,
			       actor_timer_t *timer);
ACTOR_API int actor_system_send_after(actor_system_t *sys, actor_ref_t to, uint64_t delay_ns,
				      uint32_t type, const void *data, size_t size,
				      actor_timer_t *timer);
/*
 * Periodic sends (Erlang's timer:send_interval): the message is sent every
 * period_ns, the first time one period from now, at fixed times (start +
 * k * period: a late tick does not push the later ones back, and ticks
 * missed by a late timer thread are sent at once), until cancelled or a
 * tick finds `to` gone. Same errors as the delayed sends, and -EINVAL
 * (period_ns 0).
 */
ACTOR_API int actor_send_interval(actor_ctx_t *ctx, actor_ref_t to, uint64_t period_ns,
				  uint32_t type, const void *data, size_t size,
				  actor_timer_t *timer);
ACTOR_API int actor_system_send_interval(actor_system_t *sys, actor_ref_t to,
					 uint64_t period_ns, uint32_t type, const void *data,
					 size_t size, actor_timer_t *timer);
/* Cancels a delayed send that has not fired, or a periodic send: 0, or
 * -ENOENT (fired, stopped or cancelled already). Any thread. */
ACTOR_API int actor_timer_cancel(actor_system_t *sys, actor_timer_t timer);

/*
 * Asks an actor to stop with `reason`: it stops before its next message,
 * ahead of the mail already queued, which becomes dead letters; an actor
 * that traps exits gets an ACTOR_MSG_EXIT message instead, unless the
 * reason is ACTOR_EXIT_KILL. Any thread. 0, -ESRCH (no such actor; not a
 * dead letter) or -ENOMEM; for a remote actor also -EAGAIN (its node's
 * queue is full) and -EHOSTUNREACH (sys is not a node).
 */
ACTOR_API int actor_exit(actor_system_t *sys, actor_ref_t to, int reason);

/*
 * The registry: names (1..ACTOR_NAME_MAX bytes) for actors, per system.
 * A name is freed when its actor stops. Any thread; each call takes the
 * registry's mutex briefly. register: 0, -EEXIST (taken), -ESRCH (no such
 * actor), -EINVAL (bad name), -ENOMEM. lookup and unregister: 0, -ENOENT,
 * -EINVAL.
 */
#define ACTOR_NAME_MAX 255
ACTOR_API int actor_register(actor_system_t *sys, const char *name, actor_ref_t ref);
ACTOR_API int actor_lookup(actor_system_t *sys, const char *name, actor_ref_t *out);
ACTOR_API int actor_unregister(actor_system_t *sys, const char *name);

/*
 * Monitors and links, from a handler. actor_monitor(): when `target` stops,
 * the current actor gets one ACTOR_MSG_DOWN message (at once, with
 * ACTOR_EXIT_NOPROC, if it is gone already). actor_link(): a two-way link;
 * when either end stops with a reason other than ACTOR_EXIT_NORMAL, the
 * other stops with the same reason, unless it traps exits, in which case
 * it gets an ACTOR_MSG_EXIT message instead (trapping actors also get
 * normal exits). 0, -ENOMEM, or -ENOENT (unlink: no such link); for a
 * remote target also -EAGAIN and -EHOSTUNREACH, as actor_exit().
 */
ACTOR_API int actor_monitor(actor_ctx_t *ctx, actor_ref_t target);
ACTOR_API int actor_demonitor(actor_ctx_t *ctx, actor_ref_t target);
ACTOR_API int actor_link(actor_ctx_t *ctx, actor_ref_t other);
ACTOR_API int actor_unlink(actor_ctx_t *ctx, actor_ref_t other);
ACTOR_API void actor_trap_exit(actor_ctx_t *ctx, bool trap);

/*
 * Spawns a supervisor (Erlang/OTP's): it starts the children in order,
 * links to them and registers their names; a child that stops is restarted
 * by its restart type, with the others its strategy names, each with fresh
 * state, after the old ones' cleanup; too many restarts within the period
 * stop the supervisor and its children. From a thread that is not one of
 * sys's workers the children exist and their names are registered when it
 * returns; from a handler they start in the supervisor's first turn. 0,
 * -EINVAL, a child's spawn error (the supervisor then stops), or
 * actor_system_spawn()'s errors.
 */
ACTOR_API int actor_supervisor_spawn(actor_system_t *sys, const actor_supervisor_spec_t *spec,
				     actor_ref_t *out);
/*
 * A running supervisor's children, from a thread that is not one of sys's
 * workers (-EDEADLK; from a handler, send the ACTOR_MSG_SUPERVISOR_*
 * requests instead), waiting at most timeout_ns. children: up to max
 * references in child order, ACTOR_REF_NONE for one not running now; *n
 * gets the number of children. start_child: starts and supervises one
 * more (its name is copied), *out gets it. stop_child: stops a child with
 * ACTOR_EXIT_SHUTDOWN, waits until it has stopped, and forgets it (-ENOENT:
 * not a running child). Also actor_system_ask()'s errors.
 */
ACTOR_API int actor_supervisor_children(actor_system_t *sys, actor_ref_t sup,
					actor_ref_t *children, size_t max, size_t *n,
					uint64_t timeout_ns);
ACTOR_API int actor_supervisor_start_child(actor_system_t *sys, actor_ref_t sup,
					   const actor_child_spec_t *child, uint64_t timeout_ns,
					   actor_ref_t *out);
ACTOR_API int actor_supervisor_stop_child(actor_system_t *sys, actor_ref_t sup,
					  actor_ref_t child, uint64_t timeout_ns);

/*
 * An exit reason or an error as text, for logs: "normal", "killed",
 * "shutdown", "no such actor", "node down" for ACTOR_EXIT_*, strerror()'s
 * text for a negative errno, "application-defined reason" for any other
 * value. A static string; any thread.
 */
ACTOR_API const char *actor_reason_string(int reason);

/* Inside a handler. */
ACTOR_API actor_ref_t actor_self(const actor_ctx_t *ctx);
ACTOR_API void *actor_self_state(const actor_ctx_t *ctx);
ACTOR_API actor_system_t *actor_ctx_system(const actor_ctx_t *ctx);
/* Handles the next message with handler instead (Erlang's tail call into
 * another receive loop, CAF's become). */
ACTOR_API void actor_become(actor_ctx_t *ctx, actor_handler_t handler);
/* Stops the current actor once the handler returns. */
ACTOR_API void actor_stop(actor_ctx_t *ctx, int reason);

/* Reading the message a handler was called with. */
ACTOR_API uint32_t actor_msg_type(const actor_msg_t *msg);
ACTOR_API const void *actor_msg_data(const actor_msg_t *msg);
ACTOR_API size_t actor_msg_size(const actor_msg_t *msg);
ACTOR_API actor_ref_t actor_msg_sender(const actor_msg_t *msg);
/*
 * Takes the payload out of the message, so the handler can keep it past its
 * return. A payload in a buffer of its own (sent with a _moved call, or a
 * copy too big to sit inside the envelope) is handed over as it is, with
 * its free function in *buf_free (NULL: not to be freed); a small payload
 * inside the envelope is copied into a malloc'd buffer (*buf_free = free).
 * Afterwards the message has no payload. NULL for an empty payload, or on
 * ENOMEM (the message then keeps its payload).
 */
ACTOR_API void *actor_msg_claim(const actor_msg_t *msg, void (**buf_free)(void *));

ACTOR_END_DECLS

#endif /* ACTOR_ACTOR_H */

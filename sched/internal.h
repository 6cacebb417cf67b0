/*
 * sched/: the runtime's private structures and the calls between its files.
 *
 * Life cycles (who owns what, and when it may be freed):
 *  - An actor lives in a slot of its system's table. Slots are type-stable:
 *    they are allocated in chunks that are never freed before the system is,
 *    so a sender holding a stale reference can always read a slot safely.
 *    The slot's generation tells incarnations apart: it is bumped when an
 *    actor stops, and every envelope carries the generation it was sent to,
 *    so mail for a dead incarnation is a dead letter even if it raced into a
 *    reused slot.
 *  - An actor is "scheduled" from the push that returned ACTOR__MBOX_WOKE
 *    until a turn ends with a successful actor__mbox_try_block (or the actor
 *    stops). While scheduled it is in exactly one place: a worker's next
 *    slot, a worker's deque, the injection queue, or running on a worker.
 *  - Envelopes come from the sending worker's pool (or malloc, outside the
 *    pool) and are freed by whoever consumes them.
 */
#ifndef ACTOR_SCHED_INTERNAL_H
#define ACTOR_SCHED_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <actor/actor.h>

#include "mailbox/arch.h"
#include "mailbox/deque.h"
#include "mailbox/envelope.h"
#include "mailbox/mpsc.h"
#include "sched/seam.h"
#include "util/time.h"

/* Envelope flags (ACTOR__ENV_SYSTEM...) and the runtime messages
 * (enum actor__sys_type) are in seam.h, with the router and the other
 * calls cluster/ makes. */

/* actor->flags, owned by the thread running the actor. */
enum {
	ACTOR__A_STOPPING = 1 << 0,
	ACTOR__A_STARTED = 1 << 1,	/* init ran, or there is none */
};

struct actor__actor {
	struct actor__mbox mb;
	_Atomic uint32_t gen;		/* incarnation now in this slot */
	uint32_t slot;
	uint32_t flags;
	int exit_reason;
	actor_handler_t handler;
	const actor_spec_t *spec;
	void *state;
	struct actor__actor *next;	/* injection queue or free list */
	_Atomic uint32_t names;		/* registered names (registry.c) */
	struct actor__pending *pending;	/* its requests (request.c), or NULL */
	struct actor__promised *promised;	/* requests it promised (promise.c), or NULL */
	struct actor__relations *relations;	/* monitors, links (link.c), or NULL */
	void *bound;			/* a virtual activation (seam.h), or NULL */
};

struct actor_ctx {
	struct actor_system *sys;
	struct actor__worker *w;
	struct actor__actor *a;
};

/* The futex word of a worker. */
/* DRIVING: asleep in the driver's wait (seam.h), woken through its wake(). */
enum {
	ACTOR__PARK_RUNNING = 0,
	ACTOR__PARK_SLEEPING = 1,
	ACTOR__PARK_NOTIFIED = 2,
	ACTOR__PARK_DRIVING = 3,
};

struct actor__worker {
	struct actor__deque dq;			/* line-aligned members */
	ACTOR__ALIGNED_LINE _Atomic uint32_t park;	/* written by wakers */
	_Atomic bool idle;			/* in the idle tiers */
	_Atomic bool parked;			/* parked for good */

	/* Owner-private from here on, but for next and the counters. */
	ACTOR__ALIGNED_LINE struct actor_system *sys;
	unsigned id;
	int cpu;				/* -1: not pinned */
	pthread_t thread;
	struct actor__pool *pool;
	bool dq_ready;
	/* Runs next. Owner-written; stolen only from a worker stuck in a turn. */
	_Atomic(struct actor__actor *) next;
	uint64_t *seen_turns;			/* victims' turns at our last look */
	bool lonely;				/* busy while all others park */
	uint64_t tick;
	uint64_t rng;
	struct actor__actor *free_slots;	/* cached free table slots, FIFO */
	struct actor__actor *free_slots_tail;
	unsigned nfree_slots;

	/* Counters: written by the owner only, read by anyone. */
	_Atomic uint64_t messages, turns, steal_attempts, steals, parks, wakeups;
};

#define ACTOR__STAT_INC(w, field) \
	atomic_store_explicit(&(w)->field, \
			      atomic_load_explicit(&(w)->field, memory_order_relaxed) + 1, \
			      memory_order_relaxed)

enum { ACTOR__DRV_HELD = 1, ACTOR__DRV_GONE = 2 };

/* Slots per table chunk. */
#define ACTOR__CHUNK_SHIFT 12
#define ACTOR__CHUNK_SLOTS (1u << ACTOR__CHUNK_SHIFT)

struct actor_system {
	actor_config_t cfg;
	uint32_t node_id;		/* random, never 0: this incarnation */
	_Atomic(struct actor__router *) router;
	_Atomic(struct actor__binder *) binder;	/* virtual actors (seam.h) */
	/* The driver (seam.h) and its token: ACTOR__DRV_HELD while a worker
	 * uses it, ACTOR__DRV_GONE once removed; drv_wakers counts wakers
	 * between reading a DRIVING park word and calling wake() (worker.c). */
	_Atomic(struct actor__driver *) driver;
	_Atomic unsigned drv_state;
	_Atomic unsigned drv_wakers;
	unsigned nworkers;
	_Atomic unsigned nstarted;	/* worker threads running */
	cpu_set_t cpus;			/* the creator's, when pinning: what
					 * actor__workers_unpin() allows */
	struct actor__worker *workers;

	/* Scheduling state shared by all workers. */
	ACTOR__ALIGNED_LINE _Atomic unsigned nsearching;	/* workers spinning */
	_Atomic bool stopping;		/* workers exit */
	_Atomic bool closing;		/* no more spawns or outside sends */
	_Atomic unsigned spawning;	/* outside spawns in progress */
	_Atomic bool shut_down;

	/* Injection queue: actors scheduled from outside the pool, and actors
	 * that used up their turn (the back of the run queue). */
	ACTOR__ALIGNED_LINE pthread_mutex_t inj_lock;
	struct actor__actor *inj_head, *inj_tail;
	_Atomic size_t inj_len;

	/* Actor table. */
	ACTOR__ALIGNED_LINE pthread_mutex_t table_lock;
	_Atomic(struct actor__actor *) *chunks;
	uint32_t nchunks;
	uint32_t fresh;			/* slots ever handed out */
	struct actor__actor *free_slots;	/* global free list */

	struct actor__timers *timers;
	struct actor__registry *registry;

	ACTOR__ALIGNED_LINE _Atomic uint64_t spawned, stopped, dead_letters, late_replies;
};

/* table.c */
int actor__table_init(struct actor_system *sys);
void actor__table_destroy(struct actor_system *sys);
/* A free slot in *out, or -ENOSPC (max_actors) or -ENOMEM. */
int actor__slot_alloc(struct actor_system *sys, struct actor__worker *w,
		      struct actor__actor **out);
/* Only a worker frees a slot (an actor stops on a worker). */
void actor__slot_release(struct actor_system *sys, struct actor__worker *w,
			 struct actor__actor *a);
struct actor__actor *actor__slot_at(const struct actor_system *sys, uint32_t slot);

static inline actor_ref_t actor__ref_of(const struct actor_system *sys,
				       const struct actor__actor *a)
{
	uint64_t gen = atomic_load_explicit(&a->gen, memory_order_relaxed);

	return (actor_ref_t){ .id = gen << 32 | a->slot, .node = sys->node_id };
}

/* Whether a reference names this node (0 is this node too). */
static inline bool actor__is_local(const struct actor_system *sys, actor_ref_t ref)
{
	return ref.node == 0 || ref.node == sys->node_id;
}

/* The live actor a reference names, or NULL. A hint: it may stop at once
 * (reading its slot stays safe: slots are type-stable, see the top). */
static inline struct actor__actor *actor__lookup(const struct actor_system *sys, actor_ref_t ref)
{
	struct actor__actor *a;

	if (!actor__is_local(sys, ref) || ref.id == 0)
		return NULL;
	a = actor__slot_at(sys, (uint32_t)ref.id);
	if (a == NULL || atomic_load_explicit(&a->gen, memory_order_relaxed) != ref.id >> 32)
		return NULL;
	return a;
}

/* worker.c */
int actor__workers_start(struct actor_system *sys);
void actor__workers_stop(struct actor_system *sys);
/* A node's driver is installed (seam.c): pinned workers may run on any
 * CPU of their creator's mask from now on (worker.c, "Pinning"). */
void actor__workers_unpin(struct actor_system *sys);
void actor__workers_free(struct actor_system *sys);
/* Makes a woken actor runnable; w: the calling worker of sys, or NULL. */
void actor__schedule(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a);
/* Puts a still-runnable actor at the back of the run queue. */
void actor__yield(struct actor_system *sys, struct actor__actor *a);

/* actor.c */
void actor__run(struct actor__worker *w, struct actor__actor *a);
/* actor_system_spawn, with the state's first contents (spec->state_size
 * bytes) when state is not NULL: the actor has them before anyone can see
 * it, so its cleanup, which may run as soon as a shutdown finds it, can
 * rely on them. */
int actor__system_spawn(struct actor_system *sys, const actor_spec_t *spec, void *arg,
			const void *state, actor_ref_t *out);
/* A spawn from a handler (w) or from outside (w NULL), bound (seam.h). */
int actor__spawn_with(struct actor_system *sys, struct actor__worker *w, const actor_spec_t *spec,
		      void *arg, void *bound, actor_ref_t *out);
/* Stops the running actor after the current message; the first reason wins. */
void actor__stop(struct actor__actor *a, int reason);

/* link.c */
/* Handles monitor, link and exit messages; false if e is none of those. */
bool actor__link_dispatch(struct actor_ctx *ctx, const struct actor__env *e);
/* A stopping actor answers a monitor or link request still in its queue. */
void actor__link_queued(struct actor_system *sys, struct actor__worker *w,
			const struct actor__env *e, actor_ref_t self, int reason);
/* A stopping actor tells its monitors and links, and drops its relations. */
void actor__link_notify(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a,
			actor_ref_t self, int reason);

/* timer.c (the clock, actor__now_ns, is util/time.h's) */
int actor__timers_init(struct actor_system *sys);
void actor__timers_stop(struct actor_system *sys);
void actor__timers_free(struct actor_system *sys);
/* Sends (sender, type, a copy of data, flags, request_id) to `to` after
 * delay_ns; *id cancels it. */
int actor__timer_add(struct actor_system *sys, uint64_t delay_ns, actor_ref_t to,
		     actor_ref_t sender, uint32_t type, const void *data, size_t size,
		     uint16_t flags, uint32_t request_id, uint64_t *id);
/* Sends (sender, type, a copy of data) to `to` every period_ns, the first
 * time one period from now, until cancelled or `to` is found gone. */
int actor__timer_add_periodic(struct actor_system *sys, uint64_t period_ns, actor_ref_t to,
			      actor_ref_t sender, uint32_t type, const void *data, size_t size,
			      uint64_t *id);
/* 0, or -ENOENT when the timer has fired or was cancelled already. */
int actor__timer_cancel(struct actor_system *sys, uint64_t id);

/* registry.c */
int actor__registry_init(struct actor_system *sys);
void actor__registry_free(struct actor_system *sys);
/* Removes every name of `ref`, whose actor is stopping. */
void actor__registry_forget(struct actor_system *sys, actor_ref_t ref);

/* request.c */
/* Handles replies, timeouts and failures of the actor's requests; false
 * if e is none of those. */
bool actor__request_dispatch(struct actor_ctx *ctx, const struct actor__env *e);
/* Tells the requester that `request` will never be answered. */
void actor__request_failed(struct actor_system *sys, struct actor__worker *w,
			   const struct actor__env *request, int error);
/* actor__request_fail is in seam.h. */
/* Drops a stopping actor's pending requests. */
void actor__pending_free(struct actor_system *sys, struct actor__actor *a);

/* promise.c */
/* Notes that the running actor a promised request `id` of `to`: 0 or -ENOMEM. */
int actor__promised_add(struct actor__actor *a, actor_ref_t to, uint32_t id);
/* Forgets the note, when the promise is delivered (no-op if there is none). */
void actor__promised_take(struct actor__actor *a, actor_ref_t to, uint32_t id);
/* A stopping actor fails what it still owes with -EPIPE, and drops the notes. */
void actor__promised_fail(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a);

/* send.c */
/* The pool to allocate from on this thread: the worker's, or none. */
static inline struct actor__pool *actor__pool_of(const struct actor__worker *w)
{
	return w != NULL ? w->pool : NULL;
}

/* A runtime message for actor__deliver, or NULL on ENOMEM. */
struct actor__env *actor__system_env(struct actor__worker *w, uint32_t type, const void *data,
				     size_t size);
/* Sends a runtime message; bounces silently when `to` is gone. */
int actor__send_system(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		       uint32_t type, const void *data, size_t size);

#endif /* ACTOR_SCHED_INTERNAL_H */

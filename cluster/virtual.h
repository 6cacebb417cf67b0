/*
 * cluster/: virtual actors (include/actor/virtual.h), the private side.
 *
 * One struct actor__virtual per system, made by the first call that needs
 * it and installed as the system's binder (sched/seam.h): sched/ hands it
 * mail for virtual references, each turn of an activation, and the mail
 * an activation leaves queued when it stops.
 *
 *  - Identities (virtual.c): each (type, key) a reference was made for is
 *    interned once, as a struct actor__vident with a small id (the
 *    reference's id). Readers find an identity by id without locks (chunks
 *    published once, never moved or freed before the system); inserts
 *    take v->lock.
 *  - Types (virtual.c): at most ACTOR__VTYPES, published once in v->types.
 *  - Activations (activation.c): a table (identity id -> struct
 *    actor__vact) in stripes, each under its own mutex. An activation is
 *    an ordinary actor bound to its vact. Every change of an entry's
 *    state, and every delivery to its actor, happens under the stripe's
 *    lock; so does the close of the actor's mailbox when it stops, which
 *    is what makes mail that races a deactivation go to the next
 *    activation (or to the new owner), never to dead letters.
 *  - Placement (placement.c): rendezvous hashing over the view
 *    (cluster/view.h) with a keyed hash; remote mail (vroute.c) is a
 *    VIRTUAL frame (cluster/wire.h).
 */
#ifndef ACTOR_CLUSTER_VIRTUAL_H
#define ACTOR_CLUSTER_VIRTUAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <actor/actor.h>

#include "mailbox/arch.h"
#include "mailbox/envelope.h"
#include "sched/seam.h"
#include "util/htab.h"
#include "util/siphash.h"

#define ACTOR__VTYPES 64
#define ACTOR__VSTRIPES 64
/* Identities: chunks of 4096, up to 2^24 of them in all. */
#define ACTOR__VIDENT_SHIFT 12
#define ACTOR__VIDENT_CHUNKS 4096
/* A VIRTUAL frame is passed on at most this many times. */
#define ACTOR__VHOPS_MAX 2
/* An internal deactivation reason: the activation hook failed. */
#define ACTOR__DEACT_FAILED (ACTOR_DEACT_MAX + 1)
/* A write of a persistent activation's state ended (persist.c): the
 * envelope reaches the activation, whose turn check takes it. */
#define ACTOR__ENV_VSTORE (1u << 13)
_Static_assert((ACTOR__ENV_VSTORE & ~ACTOR__ENV_CLUSTER_BITS) == 0,
	       "cluster/'s envelope flags stay in its bits (sched/seam.h)");

/* Exactly-once mail (once.c): the runtime's message types. ONCE and ACK
 * go to virtual references, across nodes (vroute.c lets them through);
 * TICK (resend) also; FLUSH (write at the end of the turn) to the
 * activation itself. */
#define ACTOR__MSG_ONCE 0xffffff30u
#define ACTOR__MSG_ONCE_ACK 0xffffff31u
#define ACTOR__MSG_ONCE_TICK 0xffffff32u
#define ACTOR__MSG_ONCE_FLUSH 0xffffff33u
static inline bool actor__msg_is_once(uint32_t type)
{
	return type >= ACTOR__MSG_ONCE && type <= ACTOR__MSG_ONCE_FLUSH;
}

struct actor__node;
struct actor__view;
struct actor__vonce;

/* An interned (type, key): immutable once published. */
struct actor__vident {
	uint64_t thash;			/* actor__vtype_hash(type) */
	_Atomic uint64_t khash;		/* placement hash; 0: not computed */
	uint32_t id;
	uint16_t name_len;
	uint16_t key_len;
	char bytes[];			/* name, NUL, key */
};

static inline const char *actor__vident_name(const struct actor__vident *i)
{
	return i->bytes;
}

static inline const void *actor__vident_key(const struct actor__vident *i)
{
	return i->bytes + i->name_len + 1;
}

struct actor__vtype {
	char name[ACTOR_NAME_MAX + 1];
	size_t name_len;
	uint64_t hash;
	const actor_spec_t *user;	/* the application's spec */
	actor_spec_t spec;		/* what activations are spawned with */
	actor_virtual_options_t opts;
	/* Activations in progress, and those waiting for one to end. */
	pthread_mutex_t wait_lock;
	uint32_t activating;
	struct actor__vact *wait_head, *wait_tail;
	_Atomic uint64_t activations, failures, active, waited, forwards, wrong_owner,
		act_ns_total, act_ns_max, deact[ACTOR_DEACT_MAX + 1];
	_Atomic uint64_t loads, load_failures, saves, save_failures, stale;
	_Atomic uint64_t once_applied, once_duplicates, once_resent;
};

/* WAITING: for a slot of max_activating; TAKEOVER: for the takeover
 * margin of the dead member that owned the key; LOADING: for its state;
 * SAVING: stopped, for its last write. All hold the mail. */
enum {
	ACTOR__VACT_WAITING = 1, ACTOR__VACT_ACTIVE, ACTOR__VACT_TAKEOVER,
	ACTOR__VACT_LOADING, ACTOR__VACT_SAVING
};

/* One key's activation on this node, in its stripe's table. Small (56
 * bytes, a 64-byte malloc chunk): there may be a million of them. */
struct actor__vact {
	struct actor__vident *ident;
	struct actor__vtype *type;
	uint64_t ref_id;		/* the actor's id (this node), while ACTIVE */
	/* Mail held while WAITING or TAKEOVER, or taken back from a stopping
	 * actor: newest first (hold() pushes, held_take() reverses). */
	struct actor__env *held;
	struct actor__vact *wait_next;
	_Atomic uint32_t last_tick;	/* the sweep count at its last message */
	_Atomic uint8_t reason;		/* why it stops (ACTOR_DEACT_*), first wins */
	_Atomic bool activated;		/* its hooks ran (the sweep reads it) */
	int16_t error;			/* the activation hook's, when it failed */
	uint32_t started_us;		/* when activation began (wraps) */
	/* Under the stripe lock, in a word of their own: the compiler may
	 * read them as one, and must not take the atomics above along
	 * (ThreadSanitizer saw such a read race activated's store). */
	uint8_t state;
	bool stop_sent;			/* the sweep or a seal asked it to stop */
	bool sealing;			/* counted in seals_pending until it ends */
};

/*
 * A persistent type's activation: the entry, then its state (persist.c).
 * The actor owns data, len, dirty, want and inflight while it runs (its
 * turns); once it has stopped (live false), or before it starts, they are
 * the stripe lock's. A write's completion reaches a live actor as an
 * ACTOR__ENV_VSTORE envelope, made before the write (done_env), so that
 * a completion cannot fail.
 */
struct actor__vpstate {
	struct actor__virtual *v;
	void *data;			/* the state; NULL when len is 0 */
	size_t len;
	uint64_t version;		/* durable: loaded or last written */
	void *wbuf;			/* a copy of data, written now */
	struct actor__env *done_env;
	actor_store_op_t op;		/* the write in flight */
	int error;			/* the last store error */
	bool loaded, live, dirty, want, inflight, stale;
	bool final;			/* its last write after the stop was sent */
	struct actor__vonce *once;	/* exactly_once types: once.c's tables */
};

struct actor__vpact {
	struct actor__vact a;
	struct actor__vpstate p;
};

static inline struct actor__vpstate *actor__vact_persist(struct actor__vact *a)
{
	return a->type->opts.store != NULL ? &((struct actor__vpact *)a)->p : NULL;
}

struct actor__vstripe {
	ACTOR__ALIGNED_LINE pthread_mutex_t lock;
	struct actor__htab tab;		/* of struct vslot (activation.c) */
};

struct actor__virtual {
	struct actor__binder binder;	/* first: sys->binder points here */
	struct actor_system *sys;
	uint8_t intern_key[ACTOR__SIPHASH_KEY_LEN];	/* random, this system's */

	pthread_mutex_t lock;		/* types and identity inserts */
	_Atomic(struct actor__vtype *) types[ACTOR__VTYPES];
	_Atomic uint32_t ntypes;
	_Atomic(struct actor__vident **) ident_chunks[ACTOR__VIDENT_CHUNKS];
	_Atomic uint32_t nidents;
	struct actor__htab ident_tab;	/* (type, key) -> identity, under lock */

	/* The idle sweep and takeover timers (activation.c): an actor of
	 * its own. */
	_Atomic uint32_t tick;
	actor_ref_t sweeper;
	uint64_t sweep_period_ns;	/* under lock */
	_Atomic uint32_t sweep_gen;
	_Atomic uint64_t sweep_ns_last, sweep_ns_max, sweep_seen;

	/* Seals (placement.c, activation.c): activations that a view took
	 * away and that have not ended yet, plus one while a seal pass runs;
	 * sealed_epoch is the view all earlier seals were for, seal_target
	 * the view they are now for, seen_epoch the last view seen. */
	_Atomic uint64_t seals_pending, sealed_epoch, seal_target, seen_epoch;

	struct actor__vstripe stripes[ACTOR__VSTRIPES];
	/* Store calls submitted and not yet completed: the binder is not
	 * freed before they have (persist.c). */
	_Atomic uint64_t store_ops;
};

/* virtual.c */
/* sys's virtual layer, made and installed if create and there is none;
 * NULL if not (or on ENOMEM). Any thread. */
struct actor__virtual *actor__virtual_of(struct actor_system *sys, bool create);
/* The identity with that id, or NULL. Any thread, no lock. */
struct actor__vident *actor__vident_at(struct actor__virtual *v, uint64_t id);
/* Interns (type, key): the identity, or NULL (-ENOMEM, -ENOSPC in *err). */
struct actor__vident *actor__vident_intern(struct actor__virtual *v, const char *name,
					   size_t name_len, const void *key, size_t key_len,
					   int *err);
/* The type registered here with that hash, or NULL. Any thread. */
struct actor__vtype *actor__vtype_find(struct actor__virtual *v, uint64_t hash);

/* activation.c */
/* Mail for ident, owned by this node: to its activation, made if need be.
 * Consumes e. sync: the sender waits for the result (a failure is a dead
 * letter and the error); else a request that fails is answered. */
int actor__vact_deliver(struct actor__virtual *v, struct actor__worker *w,
			struct actor__vident *ident, struct actor__env *e, bool sync);
void actor__vact_turn_init(struct actor__vtype *t);	/* fills t->spec */
/* binder hooks */
bool actor__vact_turn(struct actor__binder *b, actor_ctx_t *ctx, void *bound,
		      struct actor__env *e);
void actor__vact_stopped(struct actor__binder *b, actor_ctx_t *ctx, void *bound);
/* Starts the idle sweep, or makes it run at least every period_ns (0:
 * only makes sure that the sweeper exists). */
int actor__vsweep_start(struct actor__virtual *v, uint64_t period_ns);
/* Asks every activation whose key this node no longer owns to stop
 * (reason ACTOR_DEACT_VIEW); their mail then goes to the owner. Entries
 * not yet activated (waiting for a slot or a takeover margin) check their
 * key's owner again when their turn comes. */
size_t actor__vact_seal(struct actor__virtual *v);	/* how many it asked */
/* One seal counted in seals_pending ended (any thread, no lock held). */
void actor__vact_seal_done(struct actor__virtual *v);
/* Activations held for a live handover (TAKEOVER) check again now. */
void actor__vact_handover_done(struct actor__virtual *v);
/* Asks every activation to stop with ACTOR_DEACT_FENCED: how many. */
size_t actor__vact_fence(struct actor__virtual *v);
void actor__vact_free_all(struct actor__virtual *v);

/* activation.c, for persist.c: under a's stripe lock. */
struct actor__vstripe *actor__vact_stripe(struct actor__virtual *v, const struct actor__vact *a);
/* Takes a's held mail, oldest first (held is newest first). */
struct actor__env *actor__vact_held_take(struct actor__vact *a);
/* Spawns a's actor now (its state is loaded) or, for a persistent type
 * whose state is not, starts the load (a is LOADING until it ends). */
int actor__vact_spawn_locked(struct actor__virtual *v, struct actor__worker *w,
			     struct actor__vact *a);
/* The load of a's state ended with err; under the stripe lock, which it
 * releases. a is spawned, or removed and freed with its mail sent on. */
void actor__vact_loaded_unlock(struct actor__virtual *v, struct actor__vact *a, int err);
/* a's actor has stopped and its last write (if any) ended; under the
 * stripe lock, which it releases. err: a store error for its mail. */
void actor__vact_finish_unlock(struct actor__virtual *v, struct actor__worker *w,
			       struct actor__vact *a, struct actor__env *list, int err);
void actor__vact_free(struct actor__vact *a);

/* persist.c */
/* Starts loading a's state (under its stripe lock): 0 or the executor's
 * error. */
int actor__vp_load(struct actor__virtual *v, struct actor__vact *a);
/* The turn check's part: e is a write's completion (ACTOR__ENV_VSTORE);
 * true when the handler gets it (the type's saved_type message). */
bool actor__vp_turn(struct actor__virtual *v, actor_ctx_t *ctx, struct actor__vact *a,
		    struct actor__env *e);
/* From actor__vact_stopped, under the stripe lock, with the actor's
 * untaken mail: true when a last write is in flight (the mail is held and
 * its completion finishes); false when the caller finishes now (*err: a
 * store error for the mail, or 0). */
bool actor__vp_stopped(struct actor__virtual *v, struct actor__vact *a,
		       struct actor__env **list, int *err);
/* Writes a's state now, expecting p->version (one write at a time): 0 or
 * the executor's error. In a's turn, or under the stripe lock once a has
 * stopped. */
int actor__vp_submit(struct actor__vact *a, struct actor__vpstate *p);
/* Waits until no store call is in flight (binder free). */
void actor__vp_drain(struct actor__virtual *v);

/* once.c: exactly_once types (the actor's turns own p->once, as p->data). */
/* Splits a loaded record into the state (p->data, p->len) and the
 * tables; takes rec. 0, -ENOMEM, -EBADMSG. */
int actor__vo_load(struct actor__vpstate *p, void *rec, size_t size);
/* The record to write (malloc()ed in *out), the state and the tables;
 * what it holds becomes durable at actor__vo_written(). 0 or -ENOMEM. */
int actor__vo_encode(struct actor__vpstate *p, void **out, size_t *len);
/* A write ended with rc: what it made durable (no sends here). */
void actor__vo_written(struct actor__vpstate *p, int rc);
/* In a turn after a durable write: sends its outbox entries and acks. */
void actor__vo_send_durable(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vpstate *p);
/* The turn check's part for ACTOR__MSG_ONCE*: true when the handler gets e
 * (an exactly-once message applied now, unwrapped). */
bool actor__vo_turn(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vpstate *p,
		    struct actor__env *e);
/* First turn: sends the durable outbox again. */
void actor__vo_activated(actor_ctx_t *ctx, struct actor__vact *a);
/* After the stop (stripe lock): a resend tick to the key if its outbox is
 * not empty, so that a next activation sends it. */
void actor__vo_stopped(struct actor__virtual *v, struct actor__vact *a);
/* A change in a turn: the state is written at the turn's end. */
void actor__vo_flush(actor_ctx_t *ctx, struct actor__vpstate *p);
void actor__vo_free(struct actor__vpstate *p);

/* placement.c */
/* The node that owns ident now: this node's id, another's, or 0 when no
 * member hosts its type. */
uint32_t actor__vplace(struct actor__virtual *v, struct actor__vident *ident);
/* When this node may activate ident, which it owns: 0 (now), or the end
 * of the takeover margin of a dead member that owned it before, as the
 * current view's takeover records say. */
uint64_t actor__vtakeover_at(struct actor__virtual *v, struct actor__vident *ident,
			     uint64_t now_ns);

/* vroute.c */
/* Mail for ident to node `owner` (not this one), hops passes so far;
 * consumes e. sync as for actor__vact_deliver. */
int actor__vroute_remote(struct actor__virtual *v, struct actor__worker *w,
			 struct actor__vident *ident, uint32_t owner, struct actor__env *e,
			 uint32_t hops, bool sync);
/* Routes e to ident wherever it lives now (binder route and re-routing). */
int actor__vroute(struct actor__virtual *v, struct actor__worker *w, struct actor__vident *ident,
		  struct actor__env *e, uint32_t hops, bool sync);
/* Mail for ident that will be handled nowhere (no owner, no activation
 * here, too many hops): a sync sender hears err (a dead letter), an
 * earlier sender's request is answered with it. Consumes e; returns err. */
int actor__vrefuse(struct actor__virtual *v, struct actor__worker *w, struct actor__vident *ident,
		   struct actor__env *e, int err, bool sync);

#endif /* ACTOR_CLUSTER_VIRTUAL_H */

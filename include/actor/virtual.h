/*
 * libactor: virtual actors (Orleans' grains, Proto.Actor's cluster
 * identities). A virtual actor always exists: it is named by a type and a
 * key, and the runtime activates it (spawns an ordinary actor, the
 * activation) on the node that placement picks when a message arrives,
 * deactivates it when it has been idle for its type's timeout, and
 * activates it again on the next message. See actor_virtual_register(3).
 */
#ifndef ACTOR_VIRTUAL_H
#define ACTOR_VIRTUAL_H

#include <actor/common.h>
#include <actor/store.h>
#include <actor/types.h>

ACTOR_BEGIN_DECLS

/* Why an activation ends: the deactivation hook's reason. */
#define ACTOR_DEACT_IDLE 1		/* nothing received for the idle timeout */
#define ACTOR_DEACT_EXPLICIT 2		/* actor_virtual_deactivate(), actor_stop() */
#define ACTOR_DEACT_VIEW 3		/* the key moved to another node */
#define ACTOR_DEACT_FENCED 4		/* this node lost its cluster's majority */
#define ACTOR_DEACT_SHUTDOWN 5		/* the system is shutting down */
#define ACTOR_DEACT_STALE 6		/* its save met a newer version: another
					 * activation of the key wrote first */
#define ACTOR_DEACT_MAX 6

/* When a persistent type's state is written (besides at deactivation). */
#define ACTOR_WRITE_EXPLICIT 0		/* when the handler calls actor_virtual_save() */
#define ACTOR_WRITE_AFTER_TURN 1	/* after each actor_virtual_set_state() */

/* Placement strategies. */
#define ACTOR_PLACE_HASH 0		/* rendezvous hashing over the members */
#define ACTOR_PLACE_LOCAL 1		/* on the sending node, if it hosts the type */

/* The largest key, in bytes; type names are 1..ACTOR_NAME_MAX bytes. */
#define ACTOR_VIRTUAL_KEY_MAX 1024

typedef struct actor_virtual_options {
	/* Deactivated after this long without a message (outgoing sends do
	 * not count): 0 means 5 minutes, UINT64_MAX never. */
	uint64_t idle_timeout_ns;
	/* Optional: runs in the activation's first turn, after the spec's
	 * init and before any message; a negative errno fails the
	 * activation (its mail becomes dead letters, requests fail with it). */
	int (*activate)(actor_ctx_t *ctx);
	/* Optional: runs in the activation's last turn with an
	 * ACTOR_DEACT_* reason, before the spec's cleanup; not after a
	 * failed activation. */
	void (*deactivate)(actor_ctx_t *ctx, int reason);
	void *arg;			/* the spec's init gets it */
	int placement;			/* ACTOR_PLACE_*; default hash */
	/* Activations of this type in progress at once on this node (their
	 * hooks not yet run); beyond it new activations wait their turn,
	 * with their mail. 0: 64. */
	uint32_t max_activating;
	/* Persistent state (actor_virtual_state(3)): NULL, none. Otherwise
	 * each activation loads its key's record through this executor
	 * before its first message and saves it when it ends; the executor
	 * must outlive every system the type is registered on. */
	actor_store_exec_t *store;
	int write_policy;		/* ACTOR_WRITE_*; default explicit */
	/* Nonzero: after each write of its state the activation receives a
	 * message of this type, an actor_virtual_saved_t. */
	uint32_t saved_type;
	/* Nonzero (with a store): exactly-once messages between activations
	 * of such types (actor_virtual_send_once(3)): the state is written
	 * after every turn that changed it, with the outbox and the last
	 * sequence applied per sender, whatever write_policy says. */
	int exactly_once;
	/* How often unacknowledged exactly-once messages are sent again:
	 * 0 means 200 ms. */
	uint64_t resend_ns;
} actor_virtual_options_t;

/* The payload of the saved_type message: a write of the state ended. */
typedef struct actor_virtual_saved {
	int error;			/* 0, -ESTALE (the activation ends) or the store's */
	uint64_t version;		/* the state's version now durable */
} actor_virtual_saved_t;

/* Counters of one type on this system, since it was registered. */
typedef struct actor_virtual_stats {
	uint64_t activations;		/* activation hooks that succeeded */
	uint64_t activation_failures;
	uint64_t active;		/* activations now */
	uint64_t waited;		/* activations that waited for max_activating */
	uint64_t deactivations[ACTOR_DEACT_MAX + 1];	/* by reason */
	uint64_t forwards;		/* mail passed on to the owner */
	uint64_t wrong_owner;		/* mail refused: too many hops */
	uint64_t activation_ns_total;	/* first message to activation hook done */
	uint64_t activation_ns_max;
	uint64_t loads, load_failures;	/* persistent types: state loads */
	uint64_t saves, save_failures;	/* writes (-ESTALE ones not counted here) */
	uint64_t stale;			/* writes refused with -ESTALE */
	/* exactly_once types: messages applied (given to the handler),
	 * duplicates dropped, and messages sent again (not yet acknowledged). */
	uint64_t once_applied, once_duplicates, once_resent;
} actor_virtual_stats_t;

/*
 * Registers a virtual type on sys: this system hosts it (activations of
 * its keys may be placed here). spec is used for every activation (it
 * must outlive sys); opts may be NULL for the defaults and is copied.
 * Any thread. 0, -EINVAL, -EEXIST (registered already), -ENOSPC (64 types
 * already), -ENOMEM, -ESHUTDOWN.
 */
ACTOR_API int actor_virtual_register(actor_system_t *sys, const char *type,
				     const actor_spec_t *spec,
				     const actor_virtual_options_t *opts);

/*
 * The reference to the virtual actor (type, key): an ordinary actor_ref_t
 * for actor_send(), actor_request(), actor_forward(), actor_system_send()
 * and actor_system_ask(), made without any lookup, from any thread, for a
 * type this system need not host. Valid on sys only (the same type and
 * key on another system is another reference value to the same virtual
 * actor). The first reference to each key costs memory until sys is
 * destroyed (see actor_virtual_ref(3)). 0, -EINVAL, -ENOMEM, -ENOSPC.
 */
ACTOR_API int actor_virtual_ref(actor_system_t *sys, const char *type, const void *key,
				size_t key_len, actor_ref_t *out);

/* Whether ref names a virtual actor. */
static inline bool actor_ref_is_virtual(actor_ref_t ref)
{
	return ref.node == 0xffffffffu && ref.id != 0;
}

/*
 * In an activation's handler or hooks: its type name (NUL-terminated) and
 * key (*len bytes), valid while the activation lives; NULL in an actor
 * that is not an activation. actor_virtual_deactivate(): the activation
 * ends after the current message (reason ACTOR_DEACT_EXPLICIT); mail that
 * comes meanwhile activates the key again. 0 or -EINVAL.
 */
ACTOR_API const char *actor_virtual_type(const actor_ctx_t *ctx);
ACTOR_API const void *actor_virtual_key(const actor_ctx_t *ctx, size_t *len);
ACTOR_API int actor_virtual_deactivate(actor_ctx_t *ctx);

/*
 * A persistent activation's state, in its handler or hooks (see
 * actor_virtual_state(3)). actor_virtual_state(): the bytes (*len of
 * them; NULL and 0 for a key never saved), owned by the runtime and valid
 * until the next actor_virtual_set_state() or the end of the activation.
 * actor_virtual_set_state(): replaces them with a copy of data (the caller
 * keeps its buffer): 0, -EINVAL, -ENOMEM, -ESTALE (the activation is
 * ending after a stale write). actor_virtual_save(): writes the state now
 * (or after the write in flight): 0 (a write will end, *version: the
 * version it makes durable) or 1 (nothing to write: *version is durable
 * already); -EINVAL, -ESTALE, -ENOMEM, -EAGAIN (the executor is full).
 */
ACTOR_API const void *actor_virtual_state(const actor_ctx_t *ctx, size_t *len);
ACTOR_API int actor_virtual_set_state(actor_ctx_t *ctx, const void *data, size_t len);
ACTOR_API int actor_virtual_save(actor_ctx_t *ctx, uint64_t *version);

/*
 * In a handler of an exactly_once type: sends (type, data) to the virtual
 * actor `to`, of an exactly_once type, exactly once (actor_virtual_send_once(3)):
 * it is kept in the activation's outbox, written with its state at the
 * end of the turn, sent once that write is durable, and sent again until
 * the receiver acknowledges it; the receiver drops duplicates. 0, -EINVAL
 * (not such an activation, not a virtual reference, a reserved type),
 * -ESTALE, -ENOMEM, -EMSGSIZE (1 MiB or more).
 */
ACTOR_API int actor_virtual_send_once(actor_ctx_t *ctx, actor_ref_t to, uint32_t type,
				      const void *data, size_t size);

/* The counters of a type registered on sys: 0, -ENOENT or -EINVAL. */
ACTOR_API int actor_virtual_stats(actor_system_t *sys, const char *type,
				  actor_virtual_stats_t *out);

ACTOR_END_DECLS

#endif /* ACTOR_VIRTUAL_H */

/*
 * Message envelopes and the per-thread pools they come from.
 *
 * An envelope is one allocation: a 64-byte header followed by the payload
 * when it fits (size classes of 64..4096 bytes in all); bigger payloads live
 * in a separate buffer that the envelope owns. This layer does not know what
 * the header's sender, request id or type mean: sched/ gives them meaning.
 *
 * Life cycle: a thread allocates from its own pool (or with pool == NULL from
 * malloc, for threads that have none); the envelope travels through
 * mailboxes; whoever consumes it frees it, passing its own pool or NULL. An
 * envelope freed by its owner goes back on a private free list; one freed by
 * any other thread is pushed onto the owner's lock-free return stack, which
 * the owner drains when a free list runs dry. A pool never gives memory back
 * to malloc before it is destroyed, and it must outlive every envelope it
 * handed out.
 */
#ifndef ACTOR_MAILBOX_ENVELOPE_H
#define ACTOR_MAILBOX_ENVELOPE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/arch.h"

struct actor__pool;

/* Envelope flags; the low byte is for this layer, the rest for sched/. */
enum {
	ACTOR__ENV_URGENT = 1 << 0,	/* goes to the mailbox's urgent lane */
	ACTOR__ENV_COUNTED = 1 << 1,	/* counted against a mailbox's capacity */
};

struct actor__env {
	struct actor__env *next;	/* mailbox link, owned by the holder */
	struct actor__pool *owner;	/* pool to return to; NULL: malloc'd */
	uint64_t sender;		/* opaque here: an actor reference */
	uint32_t request_id;		/* opaque here */
	uint32_t sender_node;		/* opaque here */
	uint32_t type;			/* opaque here: the message type */
	uint32_t size;			/* payload bytes */
	uint16_t flags;			/* ACTOR__ENV_* and sched/'s flags */
	uint8_t size_class;		/* index into the pool, see envelope.c */
	uint8_t reserved;
	uint32_t to_gen;		/* opaque here: the generation of the actor it is
					 * sent to (sched/: a stale one is a dead letter) */
	void *data;			/* the payload: inline_data or a buffer */
	void (*data_free)(void *);	/* frees an external buffer, or NULL */
	alignas(16) unsigned char inline_data[];
};

/* Payload bytes that still fit inside the largest envelope. */
#define ACTOR__ENV_MAX_INLINE (4096 - sizeof(struct actor__env))

/* A new pool for the calling thread; NULL on ENOMEM. */
struct actor__pool *actor__pool_create(void);

/*
 * Frees every envelope the pool ever made, after draining returns. Returns
 * how many were still out (0 unless the caller leaked or lost envelopes).
 * Owner only, and only when no other thread can free into it any more.
 */
size_t actor__pool_destroy(struct actor__pool *pool);

/* Envelopes currently handed out and not yet seen back. Owner only. */
size_t actor__pool_live(struct actor__pool *pool);

/*
 * An envelope with room for `size` payload bytes at env->data; header
 * fields other than size, data, owner and size_class are left to the caller
 * except next, flags and data_free, which are zeroed. `pool` is the calling
 * thread's pool, or NULL to use malloc. NULL on ENOMEM.
 */
struct actor__env *actor__env_alloc(struct actor__pool *pool, size_t size);

/*
 * An envelope whose payload is the caller's buffer, freed later with
 * `buf_free` (NULL: not freed). Ownership of the buffer moves on success.
 */
struct actor__env *actor__env_alloc_moved(struct actor__pool *pool, void *buf,
					  size_t size, void (*buf_free)(void *));

/*
 * Returns an envelope (and its external buffer) to the pool it came from.
 * `self` is the calling thread's pool, or NULL. Lock-free; wait-free when
 * self owns the envelope.
 */
void actor__env_free(struct actor__pool *self, struct actor__env *env);

#endif /* ACTOR_MAILBOX_ENVELOPE_H */

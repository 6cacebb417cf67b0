/*
 * The message accessors (actor_msg_*): what a handler reads of the
 * envelope it was given, and actor_msg_claim, which takes its payload.
 *
 * Called by the thread running the handler (or a continuation), on the
 * message it was given, while the call runs: the envelope is freed after
 * the handler returns.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sched/internal.h"

uint32_t actor_msg_type(const actor_msg_t *msg)
{
	return ((const struct actor__env *)msg)->type;
}

const void *actor_msg_data(const actor_msg_t *msg)
{
	return ((const struct actor__env *)msg)->data;
}

size_t actor_msg_size(const actor_msg_t *msg)
{
	return ((const struct actor__env *)msg)->size;
}

actor_ref_t actor_msg_sender(const actor_msg_t *msg)
{
	return actor__sender_of((const struct actor__env *)msg);
}

void *actor_msg_claim(const actor_msg_t *msg, void (**buf_free)(void *))
{
	/* The handler owns the envelope while it runs: const is for its reads. */
	struct actor__env *e = (struct actor__env *)msg;
	void *buf = e->data;

	*buf_free = NULL;
	if (e->size == 0)
		return NULL;
	if (e->data == (void *)e->inline_data) {
		/* Inline in the envelope, which goes back to its pool. */
		buf = malloc(e->size);
		if (buf == NULL)
			return NULL;
		memcpy(buf, e->inline_data, e->size);
		*buf_free = free;
	} else {
		*buf_free = e->data_free;
	}
	e->data = NULL;
	e->data_free = NULL;
	e->size = 0;
	return buf;
}

/*
 * actor_lookup_async: a name looked up from a handler, on this node or on
 * another, with a continuation instead of a blocked worker.
 *
 * Both cases end in the same reply, the name service's [id, node]: another
 * node's comes back from a request to actor_node_ref(node), which
 * route.c:whereis_here answers there; this node's registry is read at once
 * and the reply made here (actor__request_now), so that the continuation
 * runs in a later turn either way, and works without a node started. A
 * small box carries the user's continuation and argument into ours.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

struct lookup {
	actor_lookup_then_t then;
	void *arg;
};

static void looked_up(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	struct lookup q = *(struct lookup *)arg;
	actor_ref_t ref = ACTOR_REF_NONE;
	uint64_t id;
	uint32_t node;

	free(arg);
	if (error == 0 && (actor_msg_type(reply) != ACTOR_MSG_WHEREIS ||
			   actor__frame_ref_decode(actor_msg_data(reply), actor_msg_size(reply),
						   &id, &node) != 0))
		error = -EBADMSG;
	if (error == 0) {
		ref = (actor_ref_t){ .id = id, .node = node };
		if (actor_ref_is_none(ref))
			error = -ENOENT;
	}
	q.then(ctx, ref, error, q.arg);
}

int actor_lookup_async(actor_ctx_t *ctx, uint32_t node, const char *name, uint64_t timeout_ns,
		       actor_lookup_then_t then, void *arg)
{
	actor_system_t *sys = actor_ctx_system(ctx);
	struct lookup *q;
	size_t len;
	int err;

	if (name == NULL || then == NULL || (len = strlen(name)) > ACTOR__NODE_NAME_MAX)
		return -EINVAL;
	if ((q = malloc(sizeof(*q))) == NULL)
		return -ENOMEM;
	*q = (struct lookup){ then, arg };
	if (node == 0 || node == actor__node_id(sys)) {
		unsigned char payload[ACTOR__REF_WIRE_MAX];
		actor_ref_t ref;
		size_t size;

		if (actor_lookup(sys, name, &ref) != 0)
			ref = ACTOR_REF_NONE;
		size = actor__frame_ref_encode(ref.id, ref.node, payload, sizeof payload);
		err = actor__request_now(ctx, ACTOR_MSG_WHEREIS, payload, size, looked_up, q, free);
		if (err != 0)
			free(q);
		return err;
	}
	return actor_request_with(ctx, actor_node_ref(node), ACTOR_MSG_WHEREIS, name, len,
				  timeout_ns, looked_up, q, free);
}

/*
 * The public loopback hub (actor_loopback_create(3)): what users hand to
 * actor_node_config_t.loopback. It wraps the loopback transport's hub
 * (transport/loopback.c), which knows no actors and no public types.
 * Any thread; the hub outlives every node that names it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "cluster/internal.h"

int actor_loopback_create(actor_loopback_t **out)
{
	struct actor_loopback *lb = calloc(1, sizeof(*lb));
	int err;

	if (lb == NULL)
		return -ENOMEM;
	if ((err = actor__hub_create(&lb->hub)) != 0) {
		free(lb);
		return err;
	}
	*out = lb;
	return 0;
}

void actor_loopback_destroy(actor_loopback_t *lb)
{
	if (lb == NULL)
		return;
	actor__hub_destroy(lb->hub);
	free(lb);
}

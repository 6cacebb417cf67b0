/*
 * Stand-ins for the virtual-actor layer's side of cluster/view.h, so that
 * the membership branch links on its own: no virtual types hosted, and
 * nothing to hand over when the view changes. The lead deletes this file
 * when merging with cluster/virtual.c (issue 14).
 */
#include "config.h"

#include "cluster/view.h"

size_t actor__virtual_local_types(struct actor_system *sys, uint64_t *out, size_t cap)
{
	(void)sys;
	(void)out;
	(void)cap;
	return 0;
}

void actor__virtual_view_changed(struct actor_system *sys, const struct actor__view *old,
				 const struct actor__view *now)
{
	(void)sys;
	(void)old;
	(void)now;
}

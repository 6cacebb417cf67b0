/*
 * THROWAWAY STUB (virtual branch only; deleted when membership merges):
 * cluster/view.h's membership side, good enough for virtual actors' tests
 * before membership exists. The view is {this node} and the peers that are
 * up now, each assumed to host the types this node hosts; it is rebuilt
 * on every read, under a lock; no fencing, no takeover margin.
 */
#include "config.h"

#include <stdlib.h>

#include "cluster/internal.h"
#include "cluster/view.h"

#define STUB_TYPES 64

struct stub_view {
	struct actor__view view;
	struct actor__view_member members[ACTOR__PEER_TABLE + 1];
	uint64_t types[STUB_TYPES];
};

/* One view at a time for the whole process, under the lock (a stub). */
static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stub_view stub_buf;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_member(const void *a, const void *b)
{
	uint32_t x = ((const struct actor__view_member *)a)->node;
	uint32_t y = ((const struct actor__view_member *)b)->node;

	return x < y ? -1 : x > y;
}

unsigned actor__view_enter(struct actor__node *n)
{
	(void)n;
	pthread_mutex_lock(&stub_lock);
	return 0;
}

void actor__view_exit(struct actor__node *n, unsigned section)
{
	(void)n;
	(void)section;
	pthread_mutex_unlock(&stub_lock);
}

const struct actor__view *actor__view_get(struct actor__node *n)
{
	struct stub_view *sv = &stub_buf;
	size_t nt;
	uint32_t k = 0;
	unsigned s;

	nt = actor__virtual_local_types(n->sys, sv->types, STUB_TYPES);
	nt = nt > STUB_TYPES ? STUB_TYPES : nt;
	qsort(sv->types, nt, sizeof sv->types[0], cmp_u64);
	sv->members[k++] = (struct actor__view_member){ actor__node_id(n->sys), (uint32_t)nt,
							sv->types };
	s = actor__peer_enter(n);
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = actor__peer_at(n, i);

		if (p != NULL && atomic_load(&p->up))
			sv->members[k++] = (struct actor__view_member){ p->node, (uint32_t)nt,
									sv->types };
	}
	actor__peer_exit(n, s);
	qsort(sv->members, k, sizeof sv->members[0], cmp_member);
	sv->view.epoch = k;
	sv->view.nmembers = k;
	sv->view.members = sv->members;
	return &sv->view;
}

bool actor__view_may_run(struct actor__node *n, uint64_t now_ns)
{
	(void)n;
	(void)now_ns;
	return true;
}

uint64_t actor__view_takeover_at(struct actor__node *n, uint32_t node)
{
	(void)n;
	(void)node;
	return 0;
}

void actor__member_types_changed(struct actor__node *n)
{
	(void)n;
}

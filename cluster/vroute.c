/*
 * Virtual actors' mail between nodes: the VIRTUAL frame (cluster/wire.h,
 * libactor-protocol(7)). The sender places the key under its own view and
 * sends the frame to the owner with its view's epoch. A node that is not
 * the owner under its view (the views differ while a change spreads)
 * passes the frame on to the owner it sees, at most ACTOR__VHOPS_MAX
 * times in all; past that it answers "wrong owner": a request fails with
 * -ESTALE (the sender's view is stale; a retry after the views settle
 * goes to the right node), other mail is a dead letter there.
 */
#include "config.h"

#include <errno.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "cluster/virtual.h"

static actor_ref_t vref(const struct actor__vident *ident)
{
	return (actor_ref_t){ .id = ident->id, .node = ACTOR__NODE_VIRTUAL };
}

int actor__vrefuse(struct actor__virtual *v, struct actor__worker *w, struct actor__vident *ident,
		   struct actor__env *e, int err, bool sync)
{
	if (sync)
		actor__dead_letter(v->sys, w, vref(ident), e, err);
	else
		actor__bounce(v->sys, w, vref(ident), e, err);
	return err;
}

int actor__vroute(struct actor__virtual *v, struct actor__worker *w, struct actor__vident *ident,
		  struct actor__env *e, uint32_t hops, bool sync)
{
	uint32_t owner = actor__vplace(v, ident);

	if (owner == actor__node_id(v->sys))
		return actor__vact_deliver(v, w, ident, e, sync);
	if (owner == 0)		/* no member hosts the type */
		return actor__vrefuse(v, w, ident, e, -ESRCH, sync);
	return actor__vroute_remote(v, w, ident, owner, e, hops, sync);
}

int actor__vroute_remote(struct actor__virtual *v, struct actor__worker *w,
			 struct actor__vident *ident, uint32_t owner, struct actor__env *e,
			 uint32_t hops, bool sync)
{
	struct actor__node *n = actor__node_of(v->sys);
	actor_ref_t from = actor__sender_of(e);
	bool request = (e->flags & ACTOR__ENV_REQUEST) != 0;
	uint32_t request_id = e->request_id;
	struct actor__frame f;
	unsigned s;
	int err;

	f.kind = ACTOR__F_VIRTUAL;
	s = actor__view_enter(n);
	f.virt.epoch = actor__view_get(n)->epoch;
	actor__view_exit(n, s);
	f.virt.hops = hops;
	f.virt.name = actor__vident_name(ident);
	f.virt.name_len = ident->name_len;
	f.virt.key = actor__vident_key(ident);
	f.virt.key_len = ident->key_len;
	f.virt.from_id = from.id;
	f.virt.from_node = from.id != 0 ? from.node : 0;
	f.virt.type = e->type;
	f.virt.flags = (e->flags & ACTOR__ENV_URGENT ? ACTOR__WIRE_URGENT : 0) |
		       (request ? ACTOR__WIRE_REQUEST : 0);
	f.virt.request_id = request ? request_id : 0;
	f.virt.payload = e->data;
	f.virt.size = e->size;
	err = actor__route_frame(n, w, owner, &f, ACTOR__VMSG_FRAME_MAX(e->size), vref(ident), e);
	/* A sender that is not waiting for the result must still hear that
	 * its request will not be answered. */
	if (err < 0 && !sync && request && from.id != 0)
		actor__request_fail(v->sys, w, from, request_id, err);
	return err;
}

int actor__vroute_inbound(struct actor__node *n, struct actor__peer *p,
			  const struct actor__frame *f, const char **why)
{
	struct actor_system *sys = n->sys;
	actor_ref_t from = { .id = f->virt.from_id, .node = f->virt.from_node };
	bool request = (f->virt.flags & ACTOR__WIRE_REQUEST) != 0;
	struct actor__virtual *v;
	struct actor__vident *ident;
	struct actor__vtype *t;
	struct actor__env *e;
	uint32_t owner;
	int err = 0;

	(void)p;
	if (request != (f->virt.request_id != 0) || (request && from.id == 0)) {
		*why = "VIRTUAL: request_id 0 with REQUEST, or not 0 without, or no requester";
		return -EPROTO;
	}
	if (f->virt.type >= ACTOR_MSG_RESERVED && !actor__msg_is_once(f->virt.type)) {
		*why = "VIRTUAL: a runtime message type";
		return -EPROTO;
	}
	v = actor__virtual_of(sys, true);
	ident = v != NULL ? actor__vident_intern(v, f->virt.name, f->virt.name_len, f->virt.key,
						  f->virt.key_len, &err) : NULL;
	e = ident != NULL ? actor__env_make(n->pool, from, f->virt.type, f->virt.payload,
					    f->virt.size,
					    (f->virt.flags & ACTOR__WIRE_URGENT ? ACTOR__ENV_URGENT : 0) |
						    (request ? ACTOR__ENV_REQUEST : 0),
					    f->virt.request_id) : NULL;
	if (e == NULL) {
		if (request)
			actor__request_fail(sys, NULL, from, f->virt.request_id,
					    err != 0 ? err : -ENOMEM);
		return 0;
	}
	owner = actor__vplace(v, ident);
	if (owner == actor__node_id(sys) || owner == 0) {
		actor__vroute(v, NULL, ident, e, f->virt.hops, false);
		return 0;
	}
	t = actor__vtype_find(v, ident->thash);
	if (f->virt.hops < ACTOR__VHOPS_MAX) {
		if (t != NULL)
			atomic_fetch_add_explicit(&t->forwards, 1, memory_order_relaxed);
		actor__vroute_remote(v, NULL, ident, owner, e, f->virt.hops + 1, false);
		return 0;
	}
	if (t != NULL)
		atomic_fetch_add_explicit(&t->wrong_owner, 1, memory_order_relaxed);
	actor__node_log_limited(n, "virtual %.*s: wrong owner after %u hops (sender's view epoch %llu)",
				(int)f->virt.name_len, f->virt.name, (unsigned)f->virt.hops,
				(unsigned long long)f->virt.epoch);
	actor__vrefuse(v, NULL, ident, e, -ESTALE, false);
	return 0;
}

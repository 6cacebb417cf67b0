/*
 * Persistent virtual actors: an activation's state, loaded through the
 * type's store executor before its first message, changed by its handler
 * (actor_virtual_state, _set_state), written behind its turns and at its
 * end, each write expecting the version loaded or last written.
 *
 * Writes of one activation never overlap: one is in flight at a time, and
 * changes made meanwhile go in the next (the last one wins; versions go up
 * by one per write). Nothing here blocks a worker: the store calls run on
 * the executor's threads. A write's completion goes back to the live actor
 * as a message its turn check takes (actor__vp_turn), so that the state is
 * only ever touched by its actor's turns; once the actor has stopped, the
 * completion itself (under the stripe lock) writes what is left and then
 * finishes the activation (its mail to the next activation or the owner).
 *
 * -ESTALE means that another activation of the key wrote first (a
 * duplicate during a partition, or a stale owner): this one ends at once
 * (ACTOR_DEACT_STALE) without writing again, and its mail goes to the
 * owner, whose activation loads the newer state.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/virtual.h"

/* --- loading ------------------------------------------------------------------ */

static void loaded(void *arg, int rc, void *data, size_t size, uint64_t version)
{
	struct actor__vact *a = arg;
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__virtual *v = p->v;

	pthread_mutex_lock(&actor__vact_stripe(v, a)->lock);
	if (rc == 0 && a->type->opts.exactly_once) {
		/* The record holds the state and the exactly-once tables. */
		rc = actor__vo_load(p, data, size);
		data = NULL;
	}
	if (rc == 0) {
		if (!a->type->opts.exactly_once) {
			p->data = data;
			p->len = size;
		}
		p->version = version;
		p->loaded = true;
		atomic_fetch_add_explicit(&a->type->loads, 1, memory_order_relaxed);
	} else {
		free(data);
		atomic_fetch_add_explicit(&a->type->load_failures, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->type->failures, 1, memory_order_relaxed);
	}
	actor__vact_loaded_unlock(v, a, rc);
	atomic_fetch_sub_explicit(&v->store_ops, 1, memory_order_release);
}

int actor__vp_load(struct actor__virtual *v, struct actor__vact *a)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	int err;

	p->v = v;
	atomic_fetch_add_explicit(&v->store_ops, 1, memory_order_relaxed);
	err = actor_store_exec_load(a->type->opts.store, actor__vident_name(a->ident),
				    actor__vident_key(a->ident), a->ident->key_len, loaded, a);
	if (err != 0)
		atomic_fetch_sub_explicit(&v->store_ops, 1, memory_order_relaxed);
	return err;
}

/* --- writing ------------------------------------------------------------------ */

static void written(void *arg, int rc, actor_store_op_t *ops, size_t n, size_t failed);

/* Writes the state as it is now, expecting p->version. Under the actor's
 * turn, or under the stripe lock once it has stopped. */
int actor__vp_submit(struct actor__vact *a, struct actor__vpstate *p)
{
	struct actor__virtual *v = p->v;
	size_t wlen;
	int err;

	if (p->done_env == NULL &&
	    (p->done_env = actor__env_alloc(NULL, sizeof(actor_virtual_saved_t))) == NULL)
		return -ENOMEM;
	free(p->wbuf);
	p->wbuf = NULL;
	if (a->type->opts.exactly_once) {
		if (actor__vo_encode(p, &p->wbuf, &wlen) != 0)
			return -ENOMEM;
	} else {
		if (p->len != 0 && (p->wbuf = malloc(p->len)) == NULL)
			return -ENOMEM;
		if (p->len != 0)
			memcpy(p->wbuf, p->data, p->len);
		wlen = p->len;
	}
	p->op = (actor_store_op_t){
		.kind = ACTOR_STORE_SAVE,
		.type = actor__vident_name(a->ident),
		.key = actor__vident_key(a->ident),
		.key_len = a->ident->key_len,
		.data = p->wbuf,
		.size = wlen,
		.expected = p->version,
	};
	p->inflight = true;
	p->dirty = p->want = false;
	atomic_fetch_add_explicit(&v->store_ops, 1, memory_order_relaxed);
	err = actor_store_exec_write(a->type->opts.store, &p->op, 1, written, a);
	if (err != 0) {
		atomic_fetch_sub_explicit(&v->store_ops, 1, memory_order_relaxed);
		p->inflight = false;
		p->dirty = true;
		p->error = err;
		actor__vo_written(p, err);
	}
	return err;
}

/* A write ended: what it means for the state. Its actor's turn, or the
 * stripe lock once the actor has stopped. */
static void apply(struct actor__vact *a, struct actor__vpstate *p, int rc, uint64_t version)
{
	struct actor__vtype *t = a->type;

	p->inflight = false;
	free(p->wbuf);
	p->wbuf = NULL;
	actor__vo_written(p, rc);
	if (rc == 0) {
		p->version = version;
		p->error = 0;
		atomic_fetch_add_explicit(&t->saves, 1, memory_order_relaxed);
	} else if (rc == -ESTALE) {
		uint8_t none = 0;

		p->stale = true;
		atomic_compare_exchange_strong(&a->reason, &none, (uint8_t)ACTOR_DEACT_STALE);
		atomic_fetch_add_explicit(&t->stale, 1, memory_order_relaxed);
	} else {
		/* Still to be written: the next write, or the last, carries it. */
		p->error = rc;
		p->dirty = true;
		atomic_fetch_add_explicit(&t->save_failures, 1, memory_order_relaxed);
	}
}

/* Once the actor has stopped: writes what is left, or finishes. Under the
 * stripe lock, which it releases. */
static void after_stop_unlock(struct actor__virtual *v, struct actor__vact *a,
			      struct actor__vpstate *p)
{
	/* Changes made while the write in flight at its stop was out. */
	if (p->dirty && !p->stale && !p->final) {
		p->final = true;
		if (actor__vp_submit(a, p) == 0) {
			pthread_mutex_unlock(&actor__vact_stripe(v, a)->lock);
			return;
		}
	}
	/* A write that failed: its senders hear why, and the next activation
	 * loads the last state written. */
	actor__vact_finish_unlock(v, NULL, a, actor__vact_held_take(a),
				  p->dirty && !p->stale ? p->error : 0);
}

static void written(void *arg, int rc, actor_store_op_t *ops, size_t n, size_t failed)
{
	struct actor__vact *a = arg;
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__virtual *v = p->v;
	struct actor__vstripe *s = actor__vact_stripe(v, a);

	(void)n;
	(void)failed;
	pthread_mutex_lock(&s->lock);
	if (p->live) {
		/* To the actor, under the lock that its mailbox's close takes:
		 * it either gets this or the close returns it (actor__vp_stopped). */
		struct actor__env *e = p->done_env;
		actor_virtual_saved_t saved = { rc, ops[0].version };

		p->done_env = NULL;
		e->type = a->type->opts.saved_type;
		e->sender = 0;
		e->sender_node = 0;
		e->request_id = 0;
		e->flags = ACTOR__ENV_VSTORE;
		memcpy(e->data, &saved, sizeof saved);
		actor__deliver(v->sys, NULL,
			       (actor_ref_t){ .id = a->ref_id, .node = actor__node_id(v->sys) }, e);
		pthread_mutex_unlock(&s->lock);
	} else {
		apply(a, p, rc, ops[0].version);
		after_stop_unlock(v, a, p);
	}
	atomic_fetch_sub_explicit(&v->store_ops, 1, memory_order_release);
}

bool actor__vp_turn(struct actor__virtual *v, actor_ctx_t *ctx, struct actor__vact *a,
		    struct actor__env *e)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	actor_virtual_saved_t saved;

	(void)v;
	memcpy(&saved, e->data, sizeof saved);
	apply(a, p, saved.error, saved.version);
	if (saved.error == 0 && a->type->opts.exactly_once)
		actor__vo_send_durable(ctx, a, p);
	if (p->stale) {
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
	} else if (p->dirty && saved.error == 0 &&
		   (p->want || a->type->opts.write_policy == ACTOR_WRITE_AFTER_TURN ||
		    a->type->opts.exactly_once)) {
		/* Changes made while it was in flight. A failed write is not
		 * tried again at once: the next change or save does. */
		if (actor__vp_submit(a, p) != 0)
			p->dirty = true;
	}
	if (a->type->opts.saved_type == 0) {
		actor__env_free(NULL, e);
		return false;
	}
	/* The handler gets it as the type's saved message. */
	e->flags &= (uint16_t)~ACTOR__ENV_VSTORE;
	return true;
}

bool actor__vp_stopped(struct actor__virtual *v, struct actor__vact *a, struct actor__env **list,
		       int *err)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__env *keep = NULL, **tail = &keep, *e, *next;

	p->live = false;
	/* Completions the actor did not take: they come first. */
	for (e = *list; e != NULL; e = next) {
		next = e->next;
		if (e->flags & ACTOR__ENV_VSTORE) {
			actor_virtual_saved_t saved;

			memcpy(&saved, e->data, sizeof saved);
			apply(a, p, saved.error, saved.version);
			actor__env_free(NULL, e);
			continue;
		}
		*tail = e;
		tail = &e->next;
	}
	*tail = NULL;
	*list = keep;
	*err = 0;
	if (a->type->opts.exactly_once)
		actor__vo_stopped(v, a);
	if (p->inflight)
		return true;
	if (!p->dirty || p->stale)
		return false;
	/* One last try, even after a write failed: then its error. */
	p->final = true;
	return (*err = actor__vp_submit(a, p)) == 0;
}

void actor__vp_drain(struct actor__virtual *v)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (atomic_load_explicit(&v->store_ops, memory_order_acquire) != 0)
		nanosleep(&ms, NULL);
}

/* --- the handler's calls --------------------------------------------------- */

static struct actor__vpstate *persist_of(const actor_ctx_t *ctx, struct actor__vact **out)
{
	struct actor__vact *a = actor__ctx_bound(ctx);

	if (a == NULL || a->type->opts.store == NULL)
		return NULL;
	if (out != NULL)
		*out = a;
	return actor__vact_persist(a);
}

const void *actor_virtual_state(const actor_ctx_t *ctx, size_t *len)
{
	struct actor__vpstate *p = persist_of(ctx, NULL);

	if (len != NULL)
		*len = p != NULL ? p->len : 0;
	return p != NULL ? p->data : NULL;
}

int actor_virtual_set_state(actor_ctx_t *ctx, const void *data, size_t len)
{
	struct actor__vact *a;
	struct actor__vpstate *p = persist_of(ctx, &a);
	void *copy = NULL;

	if (p == NULL || (data == NULL && len != 0))
		return -EINVAL;
	if (p->stale)
		return -ESTALE;
	if (len != 0 && (copy = malloc(len)) == NULL)
		return -ENOMEM;
	if (len != 0)
		memcpy(copy, data, len);
	free(p->data);
	p->data = copy;
	p->len = len;
	p->dirty = true;
	/* Exactly-once: written at the turn's end, with its sends. */
	if (a->type->opts.exactly_once) {
		actor__vo_flush(ctx, p);
		return 0;
	}
	if (a->type->opts.write_policy == ACTOR_WRITE_AFTER_TURN && !p->inflight)
		return actor__vp_submit(a, p);
	return 0;
}

int actor_virtual_save(actor_ctx_t *ctx, uint64_t *version)
{
	struct actor__vact *a;
	struct actor__vpstate *p = persist_of(ctx, &a);
	uint64_t v;
	int err = 0;

	if (p == NULL)
		return -EINVAL;
	if (p->stale)
		return -ESTALE;
	if (p->inflight) {
		/* The write in flight makes version + 1; one more after it. */
		v = p->version + 1;
		if (p->dirty) {
			p->want = true;
			v++;
		}
	} else if (p->dirty) {
		err = actor__vp_submit(a, p);
		v = p->version + 1;
	} else {
		v = p->version;
		err = 1;
	}
	if (err >= 0 && version != NULL)
		*version = v;
	return err;
}

/*
 * Exactly-once mail between activations of exactly_once types
 * (actor_virtual_send_once(3)).
 *
 * Each activation keeps, in the same record as its state (one store write,
 * persist.c's), three tables: for every sender it has heard from, the last
 * sequence number it applied ("in"); for every destination it has sent
 * to, the last sequence number it gave ("out"); and the outbox, the
 * messages not yet acknowledged. A peer is named by its identity bytes
 * (type name, NUL, key), the same on every node.
 *
 * Sender: actor_virtual_send_once() puts the message in the outbox with
 * the destination's next sequence and asks for a write at the end of the
 * turn (a FLUSH message to itself, so that the turn's state change and its
 * sends are in one write). Entries are sent only once a write holding them
 * is durable, again on every activation and every resend_ns (a TICK sent
 * to the activation itself: mail to the key could be refused while the
 * node is fenced, which would end the chain and leave a live activation
 * that never resends; an activation that ends with an outbox sends a TICK
 * to the key, which activates it again), until acknowledged.
 *
 * Receiver: applies sequence last + 1 only (so that a resend can never
 * skip a message that was lost), drops older ones as duplicates (acking
 * them again when they are durable) and newer ones (they come again, in
 * order, with the resends). It acknowledges a sender once the write that
 * holds its new last sequence is durable.
 *
 * The record: "AXO1", the state's length, the counts of in, out and
 * outbox entries (u32 each), the state, then the entries; integers little
 * endian, so that a record moves between hosts (PostgreSQL).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/virtual.h"
#include "util/array.h"

#define MAGIC 0x314f5841u		/* "AXO1" */
#define HEAD 20u
#define MSG_MAX (1u << 20)
#define DEFAULT_RESEND_NS 200000000ull

/* A peer: in (last applied, durable: written, snap: in the write now out)
 * or out (seq: the last sequence given). */
struct peer {
	char *id;			/* name, NUL, key */
	uint16_t id_len, name_len;
	uint64_t seq, durable, snap;
	bool ack_due;
};

struct omsg {
	uint32_t dest;			/* index in out */
	uint32_t type;
	uint64_t seq;
	void *data;
	uint32_t size;
	bool durable, in_write, sent;
};

struct peers {
	struct peer *v;
	uint32_t n;
	size_t cap;
};

struct actor__vonce {
	struct peers in, out;
	struct omsg *box;
	uint32_t nbox;
	size_t capbox;
	bool flush_pending, tick_pending;
	/* The tick this activation waits for: one from an earlier activation
	 * (which activated this one again) starts no second chain. */
	uint32_t tick_gen;
};

/* --- tables ----------------------------------------------------------------- */

static struct actor__vonce *once_of(struct actor__vpstate *p)
{
	if (p->once == NULL)
		p->once = calloc(1, sizeof *p->once);
	return p->once;
}

static struct peer *peer_find(struct peers *t, const void *id, size_t len)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->v[i].id_len == len && memcmp(t->v[i].id, id, len) == 0)
			return &t->v[i];
	return NULL;
}

static struct peer *peer_add(struct peers *t, const void *id, size_t len, size_t name_len)
{
	struct peer *v = actor__array_grow(t->v, &t->cap, (size_t)t->n + 1, sizeof *v, 4), *p;

	if (v == NULL)
		return NULL;
	t->v = v;
	p = &v[t->n];
	memset(p, 0, sizeof *p);
	if ((p->id = malloc(len)) == NULL)
		return NULL;
	memcpy(p->id, id, len);
	p->id_len = (uint16_t)len;
	p->name_len = (uint16_t)name_len;
	t->n++;
	return p;
}

static struct peer *peer_get(struct peers *t, const void *id, size_t len, size_t name_len)
{
	struct peer *p = peer_find(t, id, len);

	return p != NULL ? p : peer_add(t, id, len, name_len);
}

static struct omsg *box_add(struct actor__vonce *o)
{
	struct omsg *box = actor__array_grow(o->box, &o->capbox, (size_t)o->nbox + 1, sizeof *box, 8);

	if (box == NULL)
		return NULL;
	o->box = box;
	memset(&o->box[o->nbox], 0, sizeof o->box[0]);
	return &o->box[o->nbox++];
}

void actor__vo_free(struct actor__vpstate *p)
{
	struct actor__vonce *o = p->once;

	if (o == NULL)
		return;
	for (uint32_t i = 0; i < o->in.n; i++)
		free(o->in.v[i].id);
	for (uint32_t i = 0; i < o->out.n; i++)
		free(o->out.v[i].id);
	for (uint32_t i = 0; i < o->nbox; i++)
		free(o->box[i].data);
	free(o->in.v);
	free(o->out.v);
	free(o->box);
	free(o);
	p->once = NULL;
}

/* --- the record ------------------------------------------------------------- */

static unsigned char *put(unsigned char *b, uint64_t x, int bytes)
{
	for (int i = 0; i < bytes; i++)
		*b++ = (unsigned char)(x >> (8 * i));
	return b;
}

static bool get(const unsigned char **b, const unsigned char *end, uint64_t *x, int bytes)
{
	if (end - *b < bytes)
		return false;
	*x = 0;
	for (int i = 0; i < bytes; i++)
		*x |= (uint64_t)(*b)[i] << (8 * i);
	*b += bytes;
	return true;
}

static size_t peers_size(const struct peers *t)
{
	size_t n = 0;

	for (uint32_t i = 0; i < t->n; i++)
		n += 4 + t->v[i].id_len + 8;
	return n;
}

static unsigned char *peers_put(unsigned char *b, const struct peers *t, bool in)
{
	for (uint32_t i = 0; i < t->n; i++) {
		b = put(b, t->v[i].id_len, 2);
		b = put(b, t->v[i].name_len, 2);
		memcpy(b, t->v[i].id, t->v[i].id_len);
		b += t->v[i].id_len;
		b = put(b, t->v[i].seq, 8);
		if (in)
			t->v[i].snap = t->v[i].seq;
	}
	return b;
}

int actor__vo_encode(struct actor__vpstate *p, void **out, size_t *len)
{
	struct actor__vonce *o = once_of(p);
	size_t n = HEAD + p->len;
	unsigned char *buf, *b;

	if (o == NULL)
		return -ENOMEM;
	n += peers_size(&o->in) + peers_size(&o->out);
	for (uint32_t i = 0; i < o->nbox; i++)
		n += 20 + o->box[i].size;
	if ((buf = malloc(n)) == NULL)
		return -ENOMEM;
	b = put(buf, MAGIC, 4);
	b = put(b, p->len, 4);
	b = put(b, o->in.n, 4);
	b = put(b, o->out.n, 4);
	b = put(b, o->nbox, 4);
	if (p->len != 0)
		memcpy(b, p->data, p->len);
	b += p->len;
	b = peers_put(b, &o->in, true);
	b = peers_put(b, &o->out, false);
	for (uint32_t i = 0; i < o->nbox; i++) {
		struct omsg *m = &o->box[i];

		b = put(b, m->dest, 4);
		b = put(b, m->type, 4);
		b = put(b, m->seq, 8);
		b = put(b, m->size, 4);
		if (m->size != 0)
			memcpy(b, m->data, m->size);
		b += m->size;
		m->in_write = true;
	}
	*out = buf;
	*len = n;
	return 0;
}

static bool peers_get(const unsigned char **b, const unsigned char *end, struct peers *t,
		      uint64_t n, bool in)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len, name_len, seq;
		struct peer *pe;

		if (!get(b, end, &len, 2) || !get(b, end, &name_len, 2) ||
		    (uint64_t)(end - *b) < len || name_len >= len)
			return false;
		pe = peer_add(t, *b, len, name_len);
		*b += len;
		if (pe == NULL || !get(b, end, &seq, 8))
			return false;
		pe->seq = seq;
		if (in)
			pe->durable = pe->snap = seq;
	}
	return true;
}

int actor__vo_load(struct actor__vpstate *p, void *rec, size_t size)
{
	const unsigned char *b = rec, *end = b + size;
	struct actor__vonce *o;
	uint64_t magic, len, nin, nout, nbox;
	int err = -EBADMSG;

	actor__vo_free(p);
	if ((o = once_of(p)) == NULL) {
		free(rec);
		return -ENOMEM;
	}
	p->data = NULL;
	p->len = 0;
	if (size == 0) {		/* never written */
		free(rec);
		return 0;
	}
	if (!get(&b, end, &magic, 4) || magic != MAGIC || !get(&b, end, &len, 4) ||
	    !get(&b, end, &nin, 4) || !get(&b, end, &nout, 4) || !get(&b, end, &nbox, 4) ||
	    (uint64_t)(end - b) < len)
		goto out;
	if (len != 0) {
		if ((p->data = malloc(len)) == NULL) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(p->data, b, len);
		p->len = len;
		b += len;
	}
	if (!peers_get(&b, end, &o->in, nin, true) || !peers_get(&b, end, &o->out, nout, false))
		goto out;
	for (uint64_t i = 0; i < nbox; i++) {
		uint64_t dest, type, seq, msize;
		struct omsg *m = box_add(o);

		if (m == NULL || !get(&b, end, &dest, 4) || !get(&b, end, &type, 4) ||
		    !get(&b, end, &seq, 8) || !get(&b, end, &msize, 4) || dest >= o->out.n ||
		    (uint64_t)(end - b) < msize)
			goto out;
		m->dest = (uint32_t)dest;
		m->type = (uint32_t)type;
		m->seq = seq;
		m->size = (uint32_t)msize;
		m->durable = true;
		if (msize != 0 && (m->data = malloc(msize)) == NULL) {
			err = -ENOMEM;
			goto out;
		}
		if (msize != 0)
			memcpy(m->data, b, msize);
		b += msize;
	}
	err = b == end ? 0 : -EBADMSG;
out:
	free(rec);
	return err;
}

void actor__vo_written(struct actor__vpstate *p, int rc)
{
	struct actor__vonce *o = p->once;

	if (o == NULL)
		return;
	for (uint32_t i = 0; i < o->nbox; i++) {
		if (o->box[i].in_write && rc == 0)
			o->box[i].durable = true;
		o->box[i].in_write = false;
	}
	if (rc != 0)
		return;
	for (uint32_t i = 0; i < o->in.n; i++) {
		struct peer *pe = &o->in.v[i];

		if (pe->snap > pe->durable) {
			pe->durable = pe->snap;
			pe->ack_due = true;
		}
	}
}

/* --- the wire --------------------------------------------------------------- */

static int ref_of(actor_system_t *sys, const struct peer *pe, actor_ref_t *out)
{
	return actor_virtual_ref(sys, pe->id, pe->id + pe->name_len + 1,
				 (size_t)pe->id_len - pe->name_len - 1, out);
}

/* ONCE: seq u64, user type u32, the sender's id_len u16 and name_len u16,
 * its id, then the data. */
static void send_msg(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vonce *o,
		     struct omsg *m)
{
	const struct actor__vident *me = a->ident;
	size_t id_len = (size_t)me->name_len + 1 + me->key_len;
	size_t n = 16 + id_len + m->size;
	unsigned char *buf = malloc(n), *b;
	actor_ref_t to;

	if (buf == NULL || ref_of(actor_ctx_system(ctx), &o->out.v[m->dest], &to) != 0) {
		free(buf);
		return;			/* the next tick sends it */
	}
	b = put(buf, m->seq, 8);
	b = put(b, m->type, 4);
	b = put(b, id_len, 2);
	b = put(b, me->name_len, 2);
	memcpy(b, me->bytes, id_len);
	b += id_len;
	if (m->size != 0)
		memcpy(b, m->data, m->size);
	(void)actor_send_moved(ctx, to, ACTOR__MSG_ONCE, buf, n, free);
	if (m->sent)
		atomic_fetch_add_explicit(&a->type->once_resent, 1, memory_order_relaxed);
	m->sent = true;
}

/* ACK: seq u64, the receiver's id_len u16 and name_len u16, its id. */
static void send_ack(actor_ctx_t *ctx, struct actor__vact *a, const struct peer *to_pe,
		     uint64_t seq)
{
	const struct actor__vident *me = a->ident;
	size_t id_len = (size_t)me->name_len + 1 + me->key_len;
	unsigned char buf[12 + ACTOR_NAME_MAX + 1 + ACTOR_VIRTUAL_KEY_MAX], *b;
	actor_ref_t to;

	if (ref_of(actor_ctx_system(ctx), to_pe, &to) != 0)
		return;
	b = put(buf, seq, 8);
	b = put(b, id_len, 2);
	b = put(b, me->name_len, 2);
	memcpy(b, me->bytes, id_len);
	(void)actor_send(ctx, to, ACTOR__MSG_ONCE_ACK, buf, 12 + id_len);
}

static void schedule_tick(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vonce *o)
{
	uint64_t ns = a->type->opts.resend_ns ? a->type->opts.resend_ns : DEFAULT_RESEND_NS;

	if (o->tick_pending || o->nbox == 0)
		return;
	if (actor_send_after(ctx, actor_self(ctx), ns, ACTOR__MSG_ONCE_TICK, &o->tick_gen,
			     sizeof o->tick_gen, NULL) == 0)
		o->tick_pending = true;
}

void actor__vo_send_durable(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vpstate *p)
{
	struct actor__vonce *o = p->once;

	if (o == NULL)
		return;
	for (uint32_t i = 0; i < o->nbox; i++)
		if (o->box[i].durable && !o->box[i].sent)
			send_msg(ctx, a, o, &o->box[i]);
	for (uint32_t i = 0; i < o->in.n; i++) {
		if (o->in.v[i].ack_due) {
			o->in.v[i].ack_due = false;
			send_ack(ctx, a, &o->in.v[i], o->in.v[i].durable);
		}
	}
	schedule_tick(ctx, a, o);
}

void actor__vo_activated(actor_ctx_t *ctx, struct actor__vact *a)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__vonce *o = p->once;

	if (o == NULL)
		return;
	/* What an earlier activation may or may not have sent. */
	for (uint32_t i = 0; i < o->nbox; i++)
		if (o->box[i].durable)
			send_msg(ctx, a, o, &o->box[i]);
	/* An earlier activation's flush or tick may not come back here. */
	o->flush_pending = o->tick_pending = false;
	o->tick_gen++;
	schedule_tick(ctx, a, o);
}

void actor__vo_stopped(struct actor__virtual *v, struct actor__vact *a)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	uint64_t ns = a->type->opts.resend_ns ? a->type->opts.resend_ns : DEFAULT_RESEND_NS;
	actor_ref_t self = { .id = a->ident->id, .node = ACTOR__NODE_VIRTUAL };

	if (p->once == NULL || p->once->nbox == 0 || p->stale)
		return;
	/* The timer thread sends it later: no stripe lock is taken here. */
	(void)actor_system_send_after(v->sys, self, ns, ACTOR__MSG_ONCE_TICK, NULL, 0, NULL);
}

void actor__vo_flush(actor_ctx_t *ctx, struct actor__vpstate *p)
{
	struct actor__vonce *o = once_of(p);

	if (o == NULL || o->flush_pending)
		return;
	if (actor_send(ctx, actor_self(ctx), ACTOR__MSG_ONCE_FLUSH, NULL, 0) == 0)
		o->flush_pending = true;
}

/* --- the turn check --------------------------------------------------------- */

/* Writes what changed, now or after the write in flight. */
static void write_now(struct actor__vact *a, struct actor__vpstate *p)
{
	if (!p->dirty || p->stale)
		return;
	if (p->inflight)
		p->want = true;
	else
		(void)actor__vp_submit(a, p);
}

static bool take_once(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vpstate *p,
		      struct actor__vonce *o, struct actor__env *e)
{
	const unsigned char *b = e->data, *end = b + e->size;
	uint64_t seq, type, id_len, name_len;
	struct peer *pe;
	size_t hdr;

	if (!get(&b, end, &seq, 8) || !get(&b, end, &type, 4) || !get(&b, end, &id_len, 2) ||
	    !get(&b, end, &name_len, 2) || (uint64_t)(end - b) < id_len || name_len >= id_len ||
	    b[name_len] != '\0')
		return false;
	if ((pe = peer_get(&o->in, b, id_len, name_len)) == NULL)
		return false;		/* no memory: it comes again */
	if (seq != pe->seq + 1) {
		if (seq <= pe->seq) {
			atomic_fetch_add_explicit(&a->type->once_duplicates, 1,
						  memory_order_relaxed);
			/* Acked again if durable; else the write that holds it
			 * will (asked again, in case a flush was lost). */
			if (seq <= pe->durable)
				send_ack(ctx, a, pe, pe->durable);
			else
				actor__vo_flush(ctx, p);
		}
		return false;		/* a gap: it comes again, in order */
	}
	pe->seq = seq;
	p->dirty = true;
	actor__vo_flush(ctx, p);
	atomic_fetch_add_explicit(&a->type->once_applied, 1, memory_order_relaxed);
	/* The handler sees the sender's message as it was sent. */
	hdr = (size_t)(b + id_len - (const unsigned char *)e->data);
	memmove(e->data, (unsigned char *)e->data + hdr, e->size - hdr);
	e->size -= (uint32_t)hdr;
	e->type = (uint32_t)type;
	return true;
}

static void take_ack(struct actor__vpstate *p, struct actor__vonce *o, struct actor__env *e)
{
	const unsigned char *b = e->data, *end = b + e->size;
	uint64_t seq, id_len, name_len;
	struct peer *pe;
	uint32_t dest, keep = 0;

	if (!get(&b, end, &seq, 8) || !get(&b, end, &id_len, 2) || !get(&b, end, &name_len, 2) ||
	    (uint64_t)(end - b) != id_len || (pe = peer_find(&o->out, b, id_len)) == NULL)
		return;
	dest = (uint32_t)(pe - o->out.v);
	for (uint32_t i = 0; i < o->nbox; i++) {
		struct omsg *m = &o->box[i];

		/* Only durable entries can have been acknowledged. */
		if (m->dest == dest && m->seq <= seq && m->durable) {
			free(m->data);
			continue;
		}
		o->box[keep++] = *m;
	}
	if (keep != o->nbox) {
		o->nbox = keep;
		p->dirty = true;	/* written with the next change, or at the end */
	}
}

bool actor__vo_turn(actor_ctx_t *ctx, struct actor__vact *a, struct actor__vpstate *p,
		    struct actor__env *e)
{
	struct actor__vonce *o = once_of(p);
	bool handler = false;

	if (o == NULL || p->stale) {
		actor__env_free(NULL, e);
		return false;		/* a resend brings it again */
	}
	switch (e->type) {
	case ACTOR__MSG_ONCE:
		handler = take_once(ctx, a, p, o, e);
		break;
	case ACTOR__MSG_ONCE_ACK:
		take_ack(p, o, e);
		break;
	case ACTOR__MSG_ONCE_TICK:
		if (e->size != sizeof o->tick_gen ||
		    memcmp(e->data, &o->tick_gen, sizeof o->tick_gen) != 0)
			break;		/* an earlier activation's */
		o->tick_pending = false;
		for (uint32_t i = 0; i < o->nbox; i++)
			if (o->box[i].durable)
				send_msg(ctx, a, o, &o->box[i]);
		/* A write that failed is tried again here too. */
		write_now(a, p);
		schedule_tick(ctx, a, o);
		break;
	case ACTOR__MSG_ONCE_FLUSH:
		o->flush_pending = false;
		write_now(a, p);
		break;
	}
	if (!handler)
		actor__env_free(NULL, e);
	return handler;
}

/* --- the handler's call ----------------------------------------------------- */

int actor_virtual_send_once(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
			    size_t size)
{
	struct actor__vact *a = ctx != NULL ? actor__ctx_bound(ctx) : NULL;
	struct actor__vpstate *p = a != NULL ? actor__vact_persist(a) : NULL;
	struct actor__virtual *v;
	struct actor__vident *dest;
	struct actor__vonce *o;
	struct peer *pe;
	struct omsg *m;
	void *copy = NULL;

	if (p == NULL || !a->type->opts.exactly_once || !actor_ref_is_virtual(to) ||
	    type >= ACTOR_MSG_RESERVED || (data == NULL && size != 0))
		return -EINVAL;
	if (size >= MSG_MAX)
		return -EMSGSIZE;
	if (p->stale)
		return -ESTALE;
	v = p->v;
	if ((dest = actor__vident_at(v, to.id)) == NULL)
		return -EINVAL;
	if ((o = once_of(p)) == NULL)
		return -ENOMEM;
	pe = peer_get(&o->out, dest->bytes, (size_t)dest->name_len + 1 + dest->key_len,
		      dest->name_len);
	if (pe == NULL || (size != 0 && (copy = malloc(size)) == NULL) || (m = box_add(o)) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	if (size != 0)
		memcpy(copy, data, size);
	m->dest = (uint32_t)(pe - o->out.v);
	m->type = type;
	m->seq = ++pe->seq;
	m->data = copy;
	m->size = (uint32_t)size;
	p->dirty = true;
	actor__vo_flush(ctx, p);
	return 0;
}

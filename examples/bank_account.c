/*
 * The bank's account (bank_account.h says what makes transfers exactly
 * once). The record: a header (balance, three counts), the incoming log,
 * the outgoing log, the outbox. The handler parses it, changes it, writes
 * it back (actor_virtual_set_state) and asks for a write; what others may
 * see of the change (an effect) waits for the saved message of that
 * write's version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "examples/bank_account.h"

#define MS 1000000ull
#define RESEND_NS (200 * MS)
#define RETRY_NS (100 * MS)

struct header {
	int64_t balance;
	uint32_t nin, nout, nbox, pad;
};

int bank_record_parse(const void *data, size_t len, struct bank_record *r)
{
	struct header h;
	const unsigned char *p = data;
	size_t need;

	memset(r, 0, sizeof *r);
	if (len == 0)
		return 0;
	if (len < sizeof h)
		return -EPROTO;
	memcpy(&h, p, sizeof h);
	need = sizeof h + ((size_t)h.nin + h.nout) * sizeof(uint64_t) +
	       (size_t)h.nbox * sizeof(struct bank_transfer);
	if (len != need)
		return -EPROTO;
	r->balance = h.balance;
	r->nin = h.nin;
	r->nout = h.nout;
	r->nbox = h.nbox;
	r->in = malloc(((size_t)h.nin + 1) * sizeof *r->in);
	r->out = malloc(((size_t)h.nout + 1) * sizeof *r->out);
	r->box = malloc(((size_t)h.nbox + 1) * sizeof *r->box);
	if (r->in == NULL || r->out == NULL || r->box == NULL) {
		bank_record_free(r);
		return -ENOMEM;
	}
	p += sizeof h;
	memcpy(r->in, p, h.nin * sizeof *r->in);
	p += h.nin * sizeof *r->in;
	memcpy(r->out, p, h.nout * sizeof *r->out);
	p += h.nout * sizeof *r->out;
	memcpy(r->box, p, h.nbox * sizeof *r->box);
	return 0;
}

void bank_record_free(struct bank_record *r)
{
	free(r->in);
	free(r->out);
	free(r->box);
	memset(r, 0, sizeof *r);
}

/* The record's bytes (malloc'd) in *out: their size, or 0 on ENOMEM. */
static size_t record_bytes(const struct bank_record *r, void **out)
{
	struct header h = { r->balance, r->nin, r->nout, r->nbox, 0 };
	size_t len = sizeof h + ((size_t)r->nin + r->nout) * sizeof(uint64_t) +
		     (size_t)r->nbox * sizeof(struct bank_transfer);
	unsigned char *p = malloc(len);

	if ((*out = p) == NULL)
		return 0;
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	/* A new account's arrays are NULL (and empty). */
	if (r->nin != 0)
		memcpy(p, r->in, r->nin * sizeof *r->in);
	p += r->nin * sizeof *r->in;
	if (r->nout != 0)
		memcpy(p, r->out, r->nout * sizeof *r->out);
	p += r->nout * sizeof *r->out;
	if (r->nbox != 0)
		memcpy(p, r->box, r->nbox * sizeof *r->box);
	return len;
}

static bool has(const uint64_t *ids, uint32_t n, uint64_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static int push_id(uint64_t **ids, uint32_t *n, uint64_t id)
{
	uint64_t *grown = realloc(*ids, ((size_t)*n + 1) * sizeof **ids);

	if (grown == NULL)
		return -ENOMEM;
	grown[(*n)++] = id;
	*ids = grown;
	return 0;
}

/* --- effects: what waits for a durable write ----------------------------- */

enum { FX_REPLY = 1, FX_CREDIT, FX_ACK };

struct effect {
	uint64_t version;		/* released when this version is durable; 0: the next write */
	int kind;
	actor_promise_t promise;	/* FX_REPLY */
	uint32_t type;			/* FX_REPLY */
	int64_t value;			/* FX_REPLY */
	struct bank_transfer t;		/* FX_CREDIT: to t.peer; FX_ACK: t.id to t.peer */
};

/* The activation's memory (actor_self_state), not persisted. */
struct account {
	struct effect *fx;
	size_t nfx, cap;
	actor_timer_t resend;
	bool resending, retrying;
};

static actor_ref_t account_ref(actor_ctx_t *ctx, const char *key)
{
	actor_ref_t r = ACTOR_REF_NONE;

	actor_virtual_ref(actor_ctx_system(ctx), BANK_TYPE, key, strnlen(key, BANK_KEY_MAX), &r);
	return r;
}

static void release(actor_ctx_t *ctx, struct effect *f)
{
	size_t len;
	const char *self = actor_virtual_key(ctx, &len);
	struct bank_transfer c = f->t;

	switch (f->kind) {
	case FX_REPLY:
		actor_promise_deliver(ctx, &f->promise, f->type, &f->value, sizeof f->value);
		break;
	case FX_CREDIT:
		/* To the destination, from here: the peer becomes the source. */
		memset(c.peer, 0, sizeof c.peer);
		memcpy(c.peer, self, len < BANK_KEY_MAX ? len : BANK_KEY_MAX - 1);
		actor_send(ctx, account_ref(ctx, f->t.peer), BANK_CREDIT, &c, sizeof c);
		break;
	case FX_ACK:
		actor_send(ctx, account_ref(ctx, f->t.peer), BANK_ACK, &f->t.id, sizeof f->t.id);
		break;
	}
}

static void start_resend(actor_ctx_t *ctx, struct account *a)
{
	if (!a->resending &&
	    actor_send_interval(ctx, actor_self(ctx), RESEND_NS, BANK_RESEND, NULL, 0,
				&a->resend) == 0)
		a->resending = true;
}

/* Asks for a write of the change just made and keeps f until it is
 * durable (or releases it now when nothing needed writing). */
static void after_write(actor_ctx_t *ctx, struct account *a, const struct effect *f)
{
	uint64_t version = 0;
	int r = actor_virtual_save(ctx, &version);
	struct effect *grown;

	if (r == 1) {
		struct effect now = *f;

		release(ctx, &now);
		return;
	}
	if (r < 0 && !a->retrying) {
		/* Not written (the executor is full): try again soon. */
		a->retrying = actor_send_after(ctx, actor_self(ctx), RETRY_NS, BANK_RETRY, NULL, 0,
					       NULL) == 0;
	}
	if (a->nfx == a->cap) {
		size_t cap = a->cap != 0 ? 2 * a->cap : 8;

		if ((grown = realloc(a->fx, cap * sizeof *grown)) == NULL)
			return;	/* the requester times out; a credit is resent */
		a->fx = grown;
		a->cap = cap;
	}
	a->fx[a->nfx] = *f;
	a->fx[a->nfx].version = r == 0 ? version : 0;
	a->nfx++;
}

/* The record, changed by the caller, back into the state. */
static int put(actor_ctx_t *ctx, const struct bank_record *r)
{
	void *bytes;
	size_t len = record_bytes(r, &bytes);
	int err;

	if (len == 0)
		return -ENOMEM;
	err = actor_virtual_set_state(ctx, bytes, len);
	free(bytes);
	return err;
}

/* --- the handler ------------------------------------------------------------- */

static void reply_later(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m, uint32_t type,
			int64_t value)
{
	struct effect f = { .kind = FX_REPLY, .type = type, .value = value };

	if (actor_promise(ctx, m, &f.promise) == 0)
		after_write(ctx, a, &f);
}

static void on_transfer(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m,
			struct bank_record *r)
{
	struct bank_transfer t;
	struct bank_transfer *grown;

	memcpy(&t, actor_msg_data(m), sizeof t);
	t.peer[BANK_KEY_MAX - 1] = 0;
	if (has(r->out, r->nout, t.id)) {
		/* A client's retry: answered as the first time, once durable. */
		reply_later(ctx, a, m, BANK_OK, r->balance);
		return;
	}
	if (t.amount <= 0 || t.amount > r->balance) {
		actor_reply(ctx, m, BANK_REFUSED, &r->balance, sizeof r->balance);
		return;
	}
	grown = realloc(r->box, ((size_t)r->nbox + 1) * sizeof *grown);
	if (grown == NULL || push_id(&r->out, &r->nout, t.id) != 0) {
		if (grown != NULL)
			r->box = grown;
		return;	/* the client times out and retries */
	}
	r->box = grown;
	r->box[r->nbox++] = t;
	r->balance -= t.amount;
	if (put(ctx, r) != 0)
		return;
	reply_later(ctx, a, m, BANK_OK, r->balance);
	after_write(ctx, a, &(struct effect){ .kind = FX_CREDIT, .t = t });
	start_resend(ctx, a);
}

static void on_credit(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m,
		      struct bank_record *r)
{
	struct effect f = { .kind = FX_ACK };

	memcpy(&f.t, actor_msg_data(m), sizeof f.t);
	f.t.peer[BANK_KEY_MAX - 1] = 0;
	if (!has(r->in, r->nin, f.t.id)) {
		if (push_id(&r->in, &r->nin, f.t.id) != 0)
			return;	/* the source sends it again */
		r->balance += f.t.amount;
		if (put(ctx, r) != 0)
			return;
	}
	/* Acknowledged once durable: a duplicate too, since the write that
	 * applied the first may still be out. */
	after_write(ctx, a, &f);
}

static void on_ack(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m,
		   struct bank_record *r)
{
	uint64_t id;

	memcpy(&id, actor_msg_data(m), sizeof id);
	for (uint32_t i = 0; i < r->nbox; i++) {
		if (r->box[i].id != id)
			continue;
		r->box[i] = r->box[--r->nbox];
		/* Written with the next write or at deactivation: if that is
		 * lost, the credit is sent again and acknowledged again. */
		put(ctx, r);
		break;
	}
	if (r->nbox == 0 && a->resending) {
		actor_timer_cancel(actor_ctx_system(ctx), a->resend);
		a->resending = false;
	}
}

/* Version `durable` of the record is written: its effects go out. */
static void release_upto(actor_ctx_t *ctx, struct account *a, uint64_t durable)
{
	size_t i, kept = 0;

	for (i = 0; i < a->nfx; i++) {
		if (a->fx[i].version != 0 && a->fx[i].version <= durable)
			release(ctx, &a->fx[i]);
		else
			a->fx[kept++] = a->fx[i];
	}
	a->nfx = kept;
}

static void on_saved(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m)
{
	actor_virtual_saved_t s;

	memcpy(&s, actor_msg_data(m), sizeof s);
	if (s.error == -ESTALE)
		return;	/* the activation ends; its promises fail, credits are resent */
	if (s.error != 0) {
		if (!a->retrying)
			a->retrying = actor_send_after(ctx, actor_self(ctx), RETRY_NS, BANK_RETRY,
						       NULL, 0, NULL) == 0;
		return;
	}
	release_upto(ctx, a, s.version);
}

static void on_retry(actor_ctx_t *ctx, struct account *a)
{
	uint64_t version = 0;
	int r;

	a->retrying = false;
	r = actor_virtual_save(ctx, &version);
	if (r < 0) {
		a->retrying = actor_send_after(ctx, actor_self(ctx), RETRY_NS, BANK_RETRY, NULL, 0,
					       NULL) == 0;
		return;
	}
	/* That write holds every change made so far: all that waits is
	 * released with it (a failed write left later versions unmade). */
	for (size_t i = 0; i < a->nfx; i++)
		if (a->fx[i].version == 0 || a->fx[i].version > version)
			a->fx[i].version = version;
	if (r == 1)
		release_upto(ctx, a, version);
}

static void account(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct account *a = actor_self_state(ctx);
	struct bank_record r;
	size_t len;
	const void *st = actor_virtual_state(ctx, &len);
	uint32_t type = actor_msg_type(m);
	int64_t amount = 0;

	if (type == BANK_SAVED) {
		on_saved(ctx, a, m);
		return;
	}
	if (type == BANK_RETRY) {
		on_retry(ctx, a);
		return;
	}
	if (bank_record_parse(st, len, &r) != 0)
		return;
	if ((type == BANK_DEPOSIT || type == BANK_WITHDRAW) && actor_msg_size(m) == sizeof amount)
		memcpy(&amount, actor_msg_data(m), sizeof amount);
	switch (type) {
	case BANK_DEPOSIT:
		if (amount > 0) {
			r.balance += amount;
			if (put(ctx, &r) == 0)
				reply_later(ctx, a, m, BANK_OK, r.balance);
		} else {
			actor_reply(ctx, m, BANK_REFUSED, &r.balance, sizeof r.balance);
		}
		break;
	case BANK_WITHDRAW:
		if (amount > 0 && amount <= r.balance) {
			r.balance -= amount;
			if (put(ctx, &r) == 0)
				reply_later(ctx, a, m, BANK_OK, r.balance);
		} else {
			actor_reply(ctx, m, BANK_REFUSED, &r.balance, sizeof r.balance);
		}
		break;
	case BANK_BALANCE:
		/* Also what brings an account with unacknowledged credits back
		 * after a crash: they are resent from its activation on. */
		actor_reply(ctx, m, BANK_OK, &r.balance, sizeof r.balance);
		break;
	case BANK_TRANSFER:
		if (actor_msg_size(m) == sizeof(struct bank_transfer))
			on_transfer(ctx, a, m, &r);
		break;
	case BANK_CREDIT:
		if (actor_msg_size(m) == sizeof(struct bank_transfer))
			on_credit(ctx, a, m, &r);
		break;
	case BANK_ACK:
		if (actor_msg_size(m) == sizeof(uint64_t))
			on_ack(ctx, a, m, &r);
		break;
	case BANK_RESEND:
		for (uint32_t i = 0; i < r.nbox; i++) {
			struct effect f = { .kind = FX_CREDIT, .t = r.box[i] };

			release(ctx, &f);
		}
		break;
	case BANK_LOG:
		actor_reply(ctx, m, BANK_OK, st, len);
		break;
	}
	bank_record_free(&r);
}

/* Before the first message, after the load: credits left unacknowledged
 * by an earlier activation (a crash, a move) are sent again. */
static int on_activate(actor_ctx_t *ctx)
{
	struct account *a = actor_self_state(ctx);
	struct bank_record r;
	size_t len;
	const void *st = actor_virtual_state(ctx, &len);

	if (bank_record_parse(st, len, &r) != 0)
		return -EPROTO;
	if (r.nbox != 0) {
		actor_send(ctx, actor_self(ctx), BANK_RESEND, NULL, 0);
		start_resend(ctx, a);
	}
	bank_record_free(&r);
	return 0;
}

static void cleanup(actor_ctx_t *ctx)
{
	struct account *a = actor_self_state(ctx);

	/* Effects still waiting: their promises fail (the requester hears
	 * -EPIPE and retries); credits are resent by the next activation. */
	free(a->fx);
}

static const actor_spec_t account_spec = {
	.name = "account", .handler = account, .cleanup = cleanup,
	.state_size = sizeof(struct account),
};

int bank_register(actor_system_t *sys, actor_store_exec_t *ex, uint64_t idle_ns)
{
	actor_virtual_options_t o = { 0 };

	o.idle_timeout_ns = idle_ns;
	o.activate = on_activate;
	o.store = ex;
	o.write_policy = ACTOR_WRITE_EXPLICIT;
	o.saved_type = BANK_SAVED;
	return actor_virtual_register(sys, BANK_TYPE, &account_spec, &o);
}

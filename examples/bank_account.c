/*
 * The bank's account (bank_account.h says how transfers move money in each
 * mode). The record: a header (balance, two counts), the incoming log
 * (credits applied here), the outgoing log (transfers taken from here).
 * The handler parses it, changes it and puts it back
 * (actor_virtual_set_state). Exactly-once, a reply waits for the saved
 * message of the write that holds its cause; the credit's sending,
 * resending and dedup are the runtime's (actor_virtual_send_once).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "examples/bank_account.h"

#define MS 1000000ull
#define RETRY_NS (100 * MS)

struct header {
	int64_t balance;
	uint32_t nin, nout;
};

int bank_record_parse(const void *data, size_t len, struct bank_record *r)
{
	struct header h;
	const unsigned char *p = data;

	memset(r, 0, sizeof *r);
	if (len == 0)
		return 0;
	if (len < sizeof h)
		return -EPROTO;
	memcpy(&h, p, sizeof h);
	if (len != sizeof h + ((size_t)h.nin + h.nout) * sizeof(uint64_t))
		return -EPROTO;
	r->balance = h.balance;
	r->nin = h.nin;
	r->nout = h.nout;
	r->in = malloc(((size_t)h.nin + 1) * sizeof *r->in);
	r->out = malloc(((size_t)h.nout + 1) * sizeof *r->out);
	if (r->in == NULL || r->out == NULL) {
		bank_record_free(r);
		return -ENOMEM;
	}
	p += sizeof h;
	memcpy(r->in, p, h.nin * sizeof *r->in);
	p += h.nin * sizeof *r->in;
	memcpy(r->out, p, h.nout * sizeof *r->out);
	return 0;
}

void bank_record_free(struct bank_record *r)
{
	free(r->in);
	free(r->out);
	memset(r, 0, sizeof *r);
}

const char *bank_mode_name(enum bank_mode mode)
{
	return mode == BANK_AT_MOST_ONCE ? "at-most-once" : "exactly-once";
}

/* The record back into the state: 0 or -ENOMEM, -ESTALE. */
static int put(actor_ctx_t *ctx, const struct bank_record *r)
{
	struct header h = { r->balance, r->nin, r->nout };
	size_t len = sizeof h + ((size_t)r->nin + r->nout) * sizeof(uint64_t);
	unsigned char *bytes = malloc(len), *p = bytes;
	int err;

	if (bytes == NULL)
		return -ENOMEM;
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	/* A new account's logs are NULL (and empty). */
	if (r->nin != 0)
		memcpy(p, r->in, r->nin * sizeof *r->in);
	p += r->nin * sizeof *r->in;
	if (r->nout != 0)
		memcpy(p, r->out, r->nout * sizeof *r->out);
	err = actor_virtual_set_state(ctx, bytes, len);
	free(bytes);
	return err;
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

/* --- replies that wait for a durable write (exactly-once) ------------------ */

struct reply {
	uint64_t version;		/* released when this version is durable; 0: the next write */
	actor_promise_t promise;
	uint32_t type;
	int64_t value;
};

/* The activation's memory (actor_self_state), not persisted. */
struct account {
	enum bank_mode mode;
	struct reply *wait;
	size_t nwait, cap;
	bool retrying;
};

static actor_ref_t account_ref(actor_ctx_t *ctx, const char *key)
{
	actor_ref_t r = ACTOR_REF_NONE;

	actor_virtual_ref(actor_ctx_system(ctx), BANK_TYPE, key, strnlen(key, BANK_KEY_MAX), &r);
	return r;
}

static void retry_soon(actor_ctx_t *ctx, struct account *a)
{
	if (!a->retrying)
		a->retrying = actor_send_after(ctx, actor_self(ctx), RETRY_NS, BANK_RETRY, NULL, 0,
					       NULL) == 0;
}

/* Answers m once the change just made is durable (at once at-most-once,
 * or when nothing needed writing). */
static void answer(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m, uint32_t type,
		   int64_t value)
{
	struct reply w = { .type = type, .value = value };
	uint64_t version = 0;
	struct reply *grown;
	int r;

	if (a->mode == BANK_AT_MOST_ONCE ||
	    (r = actor_virtual_save(ctx, &version)) == 1) {
		actor_reply(ctx, m, type, &value, sizeof value);
		return;
	}
	if (actor_promise(ctx, m, &w.promise) != 0)
		return;
	if (r < 0)
		retry_soon(ctx, a);	/* not written (the executor is full) */
	if (a->nwait == a->cap) {
		size_t cap = a->cap != 0 ? 2 * a->cap : 8;

		if ((grown = realloc(a->wait, cap * sizeof *grown)) == NULL)
			return;	/* the requester times out and retries */
		a->wait = grown;
		a->cap = cap;
	}
	w.version = r == 0 ? version : 0;
	a->wait[a->nwait++] = w;
}

/* Version `durable` of the record is written: its replies go out. */
static void release_upto(actor_ctx_t *ctx, struct account *a, uint64_t durable)
{
	size_t kept = 0;

	for (size_t i = 0; i < a->nwait; i++) {
		struct reply *w = &a->wait[i];

		if (w->version != 0 && w->version <= durable)
			actor_promise_deliver(ctx, &w->promise, w->type, &w->value, sizeof w->value);
		else
			a->wait[kept++] = *w;
	}
	a->nwait = kept;
}

static void on_saved(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m)
{
	actor_virtual_saved_t s;

	memcpy(&s, actor_msg_data(m), sizeof s);
	if (s.error == -ESTALE)
		return;	/* the activation ends; its promises fail, the client retries */
	if (s.error != 0) {
		retry_soon(ctx, a);
		return;
	}
	release_upto(ctx, a, s.version);
}

static void on_retry(actor_ctx_t *ctx, struct account *a)
{
	uint64_t version = 0;
	int r;

	a->retrying = false;
	if ((r = actor_virtual_save(ctx, &version)) < 0) {
		retry_soon(ctx, a);
		return;
	}
	/* That write holds every change made so far: all that waits is
	 * released with it (a failed write left later versions unmade). */
	for (size_t i = 0; i < a->nwait; i++)
		if (a->wait[i].version == 0 || a->wait[i].version > version)
			a->wait[i].version = version;
	if (r == 1)
		release_upto(ctx, a, version);
}

/* --- transfers ---------------------------------------------------------------- */

/* Sends the credit to its destination, from here: the peer becomes the
 * source. 0 or a negative errno (exactly-once: nothing was queued). */
static int credit(actor_ctx_t *ctx, struct account *a, const struct bank_transfer *t)
{
	struct bank_transfer c = *t;
	actor_ref_t to = account_ref(ctx, t->peer);
	size_t len;
	const char *self = actor_virtual_key(ctx, &len);

	memset(c.peer, 0, sizeof c.peer);
	memcpy(c.peer, self, len < BANK_KEY_MAX ? len : BANK_KEY_MAX - 1);
	if (a->mode == BANK_AT_MOST_ONCE)
		return actor_send(ctx, to, BANK_CREDIT, &c, sizeof c);
	return actor_virtual_send_once(ctx, to, BANK_CREDIT, &c, sizeof c);
}

static void on_transfer(actor_ctx_t *ctx, struct account *a, const actor_msg_t *m,
			struct bank_record *r)
{
	struct bank_transfer t;

	memcpy(&t, actor_msg_data(m), sizeof t);
	t.peer[BANK_KEY_MAX - 1] = 0;
	if (a->mode == BANK_EXACTLY_ONCE && has(r->out, r->nout, t.id)) {
		/* A client's retry: answered as the first time, once durable. */
		answer(ctx, a, m, BANK_OK, r->balance);
		return;
	}
	if (t.amount <= 0 || t.amount > r->balance) {
		actor_reply(ctx, m, BANK_REFUSED, &r->balance, sizeof r->balance);
		return;
	}
	if (push_id(&r->out, &r->nout, t.id) != 0)
		return;	/* the client times out and retries */
	r->balance -= t.amount;
	/* Exactly-once, the debit and the queued credit go out in one write
	 * (the turn's): put first, so that a credit is never queued without
	 * its debit; if the credit cannot be queued, the debit is undone. */
	if (put(ctx, r) != 0)
		return;
	if (credit(ctx, a, &t) != 0 && a->mode == BANK_EXACTLY_ONCE) {
		r->nout--;
		r->balance += t.amount;
		(void)put(ctx, r);
		return;
	}
	answer(ctx, a, m, BANK_OK, r->balance);
}

/* A credit: exactly-once, the runtime gives each one to the handler once
 * (and acknowledges it once this turn's write is durable); at-most-once,
 * every copy that arrives is applied. The incoming log shows which. */
static void on_credit(actor_ctx_t *ctx, const actor_msg_t *m, struct bank_record *r)
{
	struct bank_transfer t;

	memcpy(&t, actor_msg_data(m), sizeof t);
	if (push_id(&r->in, &r->nin, t.id) != 0)
		return;	/* exactly-once, the write of this turn does not
			 * happen without a change: the resend brings it */
	r->balance += t.amount;
	(void)put(ctx, r);
}

/* --- the handler ------------------------------------------------------------- */

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
	case BANK_WITHDRAW:
		if (amount > 0 && (type == BANK_DEPOSIT || amount <= r.balance)) {
			r.balance += type == BANK_DEPOSIT ? amount : -amount;
			if (put(ctx, &r) == 0)
				answer(ctx, a, m, BANK_OK, r.balance);
		} else {
			actor_reply(ctx, m, BANK_REFUSED, &r.balance, sizeof r.balance);
		}
		break;
	case BANK_BALANCE:
		actor_reply(ctx, m, BANK_OK, &r.balance, sizeof r.balance);
		break;
	case BANK_TRANSFER:
		if (actor_msg_size(m) == sizeof(struct bank_transfer))
			on_transfer(ctx, a, m, &r);
		break;
	case BANK_CREDIT:
		if (actor_msg_size(m) == sizeof(struct bank_transfer))
			on_credit(ctx, m, &r);
		break;
	case BANK_LOG:
		actor_reply(ctx, m, BANK_OK, st, len);
		break;
	}
	bank_record_free(&r);
}

static int init(actor_ctx_t *ctx, void *arg)
{
	struct account *a = actor_self_state(ctx);

	a->mode = (enum bank_mode)(uintptr_t)arg;
	return 0;
}

static void cleanup(actor_ctx_t *ctx)
{
	struct account *a = actor_self_state(ctx);

	/* Replies still waiting: their promises fail (the requester hears
	 * -EPIPE and retries with the same id). */
	free(a->wait);
}

static const actor_spec_t account_spec = {
	.name = "account", .handler = account, .init = init, .cleanup = cleanup,
	.state_size = sizeof(struct account),
};

int bank_register(actor_system_t *sys, actor_store_exec_t *ex, uint64_t idle_ns,
		  enum bank_mode mode)
{
	actor_virtual_options_t o = { 0 };

	if (mode != BANK_EXACTLY_ONCE && mode != BANK_AT_MOST_ONCE)
		return -EINVAL;
	o.idle_timeout_ns = idle_ns;
	o.arg = (void *)(uintptr_t)mode;
	o.store = ex;
	o.saved_type = BANK_SAVED;
	/* Exactly-once writes after every turn that changed the state,
	 * whatever the policy; at-most-once writes behind the turns. */
	o.exactly_once = mode == BANK_EXACTLY_ONCE;
	o.write_policy = ACTOR_WRITE_AFTER_TURN;
	return actor_virtual_register(sys, BANK_TYPE, &account_spec, &o);
}

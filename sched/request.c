/*
 * Requests and replies.
 *
 * A request is an ordinary message with ACTOR__ENV_REQUEST and an id that
 * is unique per requesting actor. The requester keeps a table of pending
 * requests (id -> continuation, argument, timeout timer), created on its
 * first request. A reply carries ACTOR__ENV_REPLY and the id back; the
 * requester's turn looks the id up, cancels the timer and runs the
 * continuation. A request's timeout is a timer that sends the requester an
 * urgent runtime message with the id; a request that dies with its target
 * (queued when the target stopped) is answered by the runtime with -ESRCH,
 * and one the target received but will never answer with -EPIPE: left
 * unanswered when its handler returned (actor.c), or promised by an actor
 * that stopped before delivering (promise.c).
 * Whichever of reply, failure and timeout comes first wins: the id leaves
 * the table then, and what comes later is dropped and counted as a late
 * reply.
 *
 * Continuations run on the requesting actor, in its own turns: never
 * concurrently with its handler, and never after it stopped (its pending
 * requests die with it, and actor_request_with's arg_free frees each
 * argument whose continuation will never run).
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/internal.h"
#include "util/htab.h"

struct pending_entry {
	uint32_t id;			/* 0: empty */
	actor_then_t then;
	void *arg;
	void (*arg_free)(void *);	/* for arg if `then` never runs, or NULL */
	uint64_t timer;
};

struct actor__pending {
	uint32_t next_id;		/* wraps past 0 after 2^32 requests */
	struct actor__htab table;	/* of struct pending_entry, by id */
};

/* --- the pending table (util/htab.h) ------------------------------------ */

static size_t id_hash(uint32_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32);
}

static size_t entry_hash(const void *e)
{
	return id_hash(((const struct pending_entry *)e)->id);
}

static bool entry_used(const void *e)
{
	return ((const struct pending_entry *)e)->id != 0;
}

static bool entry_match(const void *e, const void *id)
{
	return ((const struct pending_entry *)e)->id == *(const uint32_t *)id;
}

static const struct actor__htab_type pending_type = {
	sizeof(struct pending_entry), entry_hash, entry_used, entry_match,
};

static int pending_add(struct actor__pending *p, const struct pending_entry *e)
{
	int err = actor__htab_reserve(&p->table, &pending_type);

	if (err == 0)
		*(struct pending_entry *)actor__htab_add(&p->table, &pending_type, id_hash(e->id)) = *e;
	return err;
}

/* Removes id's entry into *out; false if there is none. */
static bool pending_take(struct actor__pending *p, uint32_t id, struct pending_entry *out)
{
	struct pending_entry *e;

	if (p == NULL || id == 0 ||
	    (e = actor__htab_find(&p->table, &pending_type, id_hash(id), &id)) == NULL)
		return false;
	*out = *e;
	actor__htab_del(&p->table, &pending_type, e);
	return true;
}

void actor__pending_free(struct actor_system *sys, struct actor__actor *a)
{
	struct actor__pending *p = a->pending;

	if (p == NULL)
		return;
	for (size_t i = 0; i < actor__htab_cap(&p->table); i++) {
		const struct pending_entry *e = actor__htab_slot(&p->table, &pending_type, i);

		if (e->id == 0)
			continue;
		if (e->timer != 0)
			actor__timer_cancel(sys, e->timer);
		/* The continuation will never run: its argument goes now. */
		if (e->arg_free != NULL)
			e->arg_free(e->arg);
	}
	actor__htab_free(&p->table);
	free(p);
	a->pending = NULL;
}

/* --- the requester's side ---------------------------------------------- */

/* now: instead of sending the request, reply to it at once from this
 * node's name service, (0, node), with type and data (`to` is unused). */
static int request(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
		   size_t size, uint64_t timeout_ns, actor_then_t then, void *arg,
		   void (*arg_free)(void *), bool now)
{
	struct actor__actor *a = ctx->a;
	struct actor__pending *p = a->pending;
	struct pending_entry e = { .then = then, .arg = arg, .arg_free = arg_free };
	struct actor__env *env;
	actor_ref_t self = actor__ref_of(ctx->sys, a);
	int err;

	if (then == NULL)
		return -EINVAL;
	if (size > UINT32_MAX)
		return -EMSGSIZE;
	if (p == NULL && (p = a->pending = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	if ((e.id = ++p->next_id) == 0)
		e.id = ++p->next_id;
	if (timeout_ns != 0) {
		err = actor__timer_add(ctx->sys, timeout_ns, self, ACTOR_REF_NONE, ACTOR__SYS_TIMEOUT, NULL, 0,
				       ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, e.id, &e.timer);
		if (err != 0)
			return err;
	}
	err = pending_add(p, &e);
	if (now)
		to = self;
	if (err == 0 && (env = actor__env_make(ctx->w->pool,
					       now ? actor_node_ref(ctx->sys->node_id) : self,
					       type, data, size,
					       now ? ACTOR__ENV_REPLY : ACTOR__ENV_REQUEST,
					       e.id)) == NULL)
		err = -ENOMEM;
	if (err == 0 && (err = actor__deliver(ctx->sys, ctx->w, to, env)) == 0)
		return 0;
	/* Failed at once: the continuation never runs. */
	if (pending_take(p, e.id, &e) && e.timer != 0)
		actor__timer_cancel(ctx->sys, e.timer);
	return err;
}

int actor_request(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
		  size_t size, uint64_t timeout_ns, actor_then_t then, void *arg)
{
	return request(ctx, to, type, data, size, timeout_ns, then, arg, NULL, false);
}

int actor_request_with(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data,
		       size_t size, uint64_t timeout_ns, actor_then_t then, void *arg,
		       void (*arg_free)(void *))
{
	int err = request(ctx, to, type, data, size, timeout_ns, then, arg, arg_free, false);

	/* arg is the request's from the call on: on failure it goes at once. */
	if (err != 0 && arg_free != NULL)
		arg_free(arg);
	return err;
}

int actor__request_now(actor_ctx_t *ctx, uint32_t type, const void *data, size_t size,
			actor_then_t then, void *arg, void (*arg_free)(void *))
{
	return request(ctx, ACTOR_REF_NONE, type, data, size, 0, then, arg, arg_free, true);
}

/*
 * Runs the continuation of a finished request, if it is still pending. An
 * outcome for a request that is no longer pending lost the race: a reply is
 * counted as late; a timeout that fired while the reply was on its way, or
 * a failure, is just dropped.
 */
static void finish(struct actor_ctx *ctx, uint32_t id, const actor_msg_t *reply, int error)
{
	struct pending_entry e;

	if (!pending_take(ctx->a->pending, id, &e)) {
		if (reply != NULL)
			atomic_fetch_add_explicit(&ctx->sys->late_replies, 1, memory_order_relaxed);
		return;
	}
	if (e.timer != 0 && error != -ETIMEDOUT)
		actor__timer_cancel(ctx->sys, e.timer);
	e.then(ctx, reply, error, e.arg);
}

bool actor__request_dispatch(struct actor_ctx *ctx, const struct actor__env *e)
{
	if (e->flags & ACTOR__ENV_SYSTEM) {
		if (e->type == ACTOR__SYS_TIMEOUT)
			finish(ctx, e->request_id, NULL, -ETIMEDOUT);
		else if (e->type == ACTOR__SYS_FAILED)
			finish(ctx, e->request_id, NULL,
			       e->size == sizeof(int) ? *(const int *)e->data : -EIO);
		else
			return false;
		return true;
	}
	if (!(e->flags & ACTOR__ENV_REPLY))
		return false;
	finish(ctx, e->request_id, (const actor_msg_t *)e, 0);
	return true;
}

void actor__request_fail(struct actor_system *sys, struct actor__worker *w, actor_ref_t requester,
			 uint32_t id, int error)
{
	struct actor__env *e = actor__env_make(actor__pool_of(w), ACTOR_REF_NONE, ACTOR__SYS_FAILED,
					       &error, sizeof error,
					       ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, id);

	if (e != NULL)		/* else the requester's timeout fires instead */
		actor__deliver(sys, w, requester, e);
}

void actor__request_failed(struct actor_system *sys, struct actor__worker *w,
			   const struct actor__env *request, int error)
{
	actor__request_fail(sys, w, actor__sender_of(request), request->request_id, error);
}

/* --- the replier's side ------------------------------------------------- */

static int answer(actor_ctx_t *ctx, actor_ref_t to, uint32_t id, uint32_t type, const void *data,
		  size_t size)
{
	struct actor__env *e;

	if (size > UINT32_MAX)
		return -EMSGSIZE;
	e = actor__env_make(ctx->w->pool, actor__ref_of(ctx->sys, ctx->a), type, data, size,
			    ACTOR__ENV_REPLY, id);
	return e != NULL ? actor__deliver(ctx->sys, ctx->w, to, e) : -ENOMEM;
}

/* Marks a request as answered; -EINVAL or -EALREADY if it cannot be. */
static int take_answer(const actor_msg_t *msg)
{
	/* The handler owns the envelope while it runs: const is for reads. */
	struct actor__env *e = (struct actor__env *)msg;

	if (!(e->flags & ACTOR__ENV_REQUEST))
		return -EINVAL;
	if (e->flags & ACTOR__ENV_ANSWERED)
		return -EALREADY;
	e->flags |= ACTOR__ENV_ANSWERED;
	return 0;
}

int actor_reply(actor_ctx_t *ctx, const actor_msg_t *request, uint32_t type, const void *data,
		size_t size)
{
	const struct actor__env *e = (const struct actor__env *)request;
	int err = take_answer(request);

	if (err != 0)
		return err;
	return answer(ctx, actor__sender_of(e), e->request_id, type, data, size);
}

int actor_promise(actor_ctx_t *ctx, const actor_msg_t *request, actor_promise_t *out)
{
	struct actor__env *e = (struct actor__env *)request;
	int err = take_answer(request);

	if (err != 0)
		return err;
	/* Noted so that the requester hears if we stop owing it. Without the
	 * note the request stays ours, failed when the handler returns. */
	if ((err = actor__promised_add(ctx->a, actor__sender_of(e), e->request_id)) != 0) {
		e->flags &= (uint16_t)~ACTOR__ENV_ANSWERED;
		return err;
	}
	*out = (actor_promise_t){ .to = actor__sender_of(e), .request_id = e->request_id };
	return 0;
}

int actor_promise_deliver(actor_ctx_t *ctx, actor_promise_t *promise, uint32_t type,
			  const void *data, size_t size)
{
	uint32_t id = (uint32_t)promise->request_id;

	if (id == 0)
		return -EALREADY;
	promise->request_id = 0;
	actor__promised_take(ctx->a, promise->to, id);
	return answer(ctx, promise->to, id, type, data, size);
}

int actor_forward(actor_ctx_t *ctx, const actor_msg_t *msg, actor_ref_t to)
{
	/* The handler owns the envelope while it runs: const is for reads. */
	struct actor__env *m = (struct actor__env *)msg;
	struct actor__env *e;
	int err;

	if ((m->flags & ACTOR__ENV_REQUEST) && (m->flags & ACTOR__ENV_ANSWERED))
		return -EALREADY;
	e = actor__env_make(ctx->w->pool, actor__sender_of(m), m->type, m->data, m->size,
			    m->flags & ACTOR__ENV_REQUEST, m->request_id);
	if (e == NULL)
		return -ENOMEM;
	/* Once forwarded, the last actor of the chain answers, or its
	 * stopping fails the request. A forward that failed leaves the
	 * request with the handler, which may answer or forward elsewhere. */
	err = actor__deliver(ctx->sys, ctx->w, to, e);
	if (err == 0 && (m->flags & ACTOR__ENV_REQUEST))
		m->flags |= ACTOR__ENV_ANSWERED;
	return err;
}

/* --- futures: a blocking request from outside the actors ----------------- */

struct ask {
	actor_ref_t to;
	uint32_t type;
	const void *data;
	size_t size;
	uint64_t timeout_ns;
	int error;
	uint32_t reply_type;
	void *reply;
	size_t reply_size;
	sem_t done;
};

/*
 * The asking actor. It knows q from birth (its state is set before anyone
 * can see it) and has no init, so once spawned it always ends with its
 * cleanup, the last thing to touch q, which wakes the caller: after the
 * continuation kept the outcome, or with the -ECANCELED that q starts with
 * when a shutdown stopped it first. Its first message, from the caller,
 * makes the request. Model: tests/spin/ask.pml.
 */
struct ask_state {
	struct ask *q;
	bool asked;
};

/* The caller's message that starts the ask actor; the handler reads no
 * type: the first message is this one. In the runtime's range, like every
 * message of the runtime's own actors, so that a dead letter of it is
 * never taken for the application's. */
#define ASK_GO (ACTOR_MSG_RESERVED + 0x08u)

static void ask_then(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	struct ask *q = arg;
	void (*buf_free)(void *);

	q->error = error;
	if (error == 0) {
		q->reply_type = actor_msg_type(reply);
		q->reply_size = actor_msg_size(reply);
		q->reply = actor_msg_claim(reply, &buf_free);
		if (q->reply != NULL && buf_free != free) {
			/* The caller frees with free(): hand over a copy. */
			void *copy = malloc(q->reply_size);

			if (copy != NULL)
				memcpy(copy, q->reply, q->reply_size);
			if (buf_free != NULL)
				buf_free(q->reply);
			q->reply = copy;
		}
		if (q->reply_size != 0 && q->reply == NULL)
			q->error = -ENOMEM;
	}
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static void ask_handler(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct ask_state *s = actor_self_state(ctx);
	struct ask *q = s->q;
	int err;

	/* The first message is ours; the target may send anything after it. */
	if (s->asked)
		return;
	s->asked = true;
	err = actor_request(ctx, q->to, q->type, q->data, q->size, q->timeout_ns, ask_then, q);
	if (err != 0) {
		q->error = err;
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
	}
}

static void ask_cleanup(actor_ctx_t *ctx)
{
	struct ask_state *s = actor_self_state(ctx);

	sem_post(&s->q->done);
}

static const actor_spec_t ask_spec = {
	.name = "ask", .handler = ask_handler, .cleanup = ask_cleanup,
	.state_size = sizeof(struct ask_state),
};

int actor_system_ask(actor_system_t *sys, actor_ref_t to, uint32_t type, const void *data,
		     size_t size, uint64_t timeout_ns, uint32_t *reply_type, void **reply,
		     size_t *reply_size)
{
	struct ask q = { .to = to, .type = type, .data = data, .size = size,
			 .timeout_ns = timeout_ns, .error = -ECANCELED };
	struct ask_state state = { .q = &q };
	struct actor__env *go;
	actor_ref_t asker;
	int err;

	if (timeout_ns == 0 || reply == NULL)
		return -EINVAL;
	/* A worker blocked here could be the one the reply needs. */
	if (actor__on_worker(sys))
		return -EDEADLK;
	/* Made first: once the actor exists nothing may fail but its send. */
	if ((go = actor__env_make(NULL, ACTOR_REF_NONE, ASK_GO, NULL, 0, 0, 0)) == NULL)
		return -ENOMEM;
	sem_init(&q.done, 0, 0);
	err = actor__system_spawn(sys, &ask_spec, NULL, &state, &asker);
	if (err != 0) {
		actor__env_free(NULL, go);
	} else {
		/* Fails only if a shutdown stopped the actor already: its
		 * cleanup wakes us all the same. */
		actor__deliver(sys, NULL, asker, go);
		while (sem_wait(&q.done) != 0)
			;
		err = q.error;
	}
	sem_destroy(&q.done);
	if (err != 0)
		return err;
	*reply = q.reply;
	if (reply_type != NULL)
		*reply_type = q.reply_type;
	if (reply_size != NULL)
		*reply_size = q.reply_size;
	return 0;
}

/*
 * Stress scenarios for the runtime (sched/), shared by the Criterion tests
 * and the plain TSan program. Each counts every message and every actor.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <actor/actor.h>

#include "tests/stress/stress.h"

#define MAX_SENDERS 16

/* Polls cond(arg) every millisecond for up to seconds; false on timeout. */
bool stress_wait(bool (*cond)(void *), void *arg, double seconds)
{
	const struct timespec ms = { 0, 1000000 };

	for (double t = 0; t < seconds; t += 0.001) {
		if (cond(arg))
			return true;
		nanosleep(&ms, NULL);
	}
	return cond(arg);
}

/* sem_wait with a limit; false on timeout. */
static bool sem_wait_for(sem_t *s, int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	while (sem_timedwait(s, &ts) != 0)
		if (errno != EINTR)
			return false;
	return true;
}

/* --- many outside senders, many actors ----------------------------------- */

struct ext_run {
	actor_system_t *sys;
	actor_ref_t *actors;
	unsigned nactors, nsenders;
	unsigned long per_sender;
	_Atomic unsigned long received;
	_Atomic unsigned long errors;
};

struct ext_msg {
	uint32_t sender;
	uint32_t seq;		/* per (sender, actor) */
};

struct ext_actor {
	struct ext_run *run;
	uint32_t next[MAX_SENDERS];
};

static int ext_init(actor_ctx_t *ctx, void *arg)
{
	((struct ext_actor *)actor_self_state(ctx))->run = arg;
	return 0;
}

static void ext_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct ext_actor *s = actor_self_state(ctx);
	const struct ext_msg *x = actor_msg_data(m);

	if (actor_msg_size(m) != sizeof(*x) || x->sender >= MAX_SENDERS ||
	    x->seq != s->next[x->sender]++)
		atomic_fetch_add(&s->run->errors, 1);
	atomic_fetch_add_explicit(&s->run->received, 1, memory_order_relaxed);
}

static const actor_spec_t ext_spec = {
	.name = "ext", .handler = ext_handler, .state_size = sizeof(struct ext_actor),
	.init = ext_init,
};

struct ext_sender {
	struct ext_run *run;
	uint32_t id;
};

static void *ext_sender_main(void *p)
{
	struct ext_sender *me = p;
	struct ext_run *r = me->run;
	uint32_t *seq = calloc(r->nactors, sizeof(*seq));
	unsigned long rng = 88172645463325252ul + me->id;

	for (unsigned long n = 0; n < r->per_sender; n++) {
		unsigned k;
		struct ext_msg x;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (unsigned)(rng % r->nactors);
		x = (struct ext_msg){ me->id, seq[k]++ };
		if (actor_system_send(r->sys, r->actors[k], 1, &x, sizeof x) != 0)
			atomic_fetch_add(&r->errors, 1);
	}
	free(seq);
	return NULL;
}

static bool ext_all_received(void *p)
{
	struct ext_run *r = p;

	return atomic_load(&r->received) >= r->nsenders * r->per_sender;
}

const char *stress_sched_senders(unsigned senders, unsigned actors, unsigned long total)
{
	struct ext_run r = { .nactors = actors, .nsenders = senders,
			     .per_sender = total / senders };
	pthread_t tid[MAX_SENDERS];
	struct ext_sender args[MAX_SENDERS];
	actor_system_stats_t st;
	const char *err = NULL;

	if (senders > MAX_SENDERS || actor_system_create(&r.sys, NULL) != 0)
		return "setup failed";
	r.actors = calloc(actors, sizeof(*r.actors));
	for (unsigned i = 0; i < actors; i++)
		if (actor_system_spawn(r.sys, &ext_spec, &r, &r.actors[i]) != 0)
			return "spawn failed";
	for (unsigned i = 0; i < senders; i++) {
		args[i] = (struct ext_sender){ &r, i };
		pthread_create(&tid[i], NULL, ext_sender_main, &args[i]);
	}
	for (unsigned i = 0; i < senders; i++)
		pthread_join(tid[i], NULL);
	if (!stress_wait(ext_all_received, &r, 60))
		err = "messages lost";
	else if (atomic_load(&r.received) != senders * r.per_sender)
		err = "messages duplicated";
	else if (atomic_load(&r.errors) != 0)
		err = "per-sender order broken, or a send failed";
	actor_system_stats(r.sys, &st);
	if (err == NULL && st.dead_letters != 0)
		err = "dead letters where there should be none";
	actor_system_destroy(r.sys);
	free(r.actors);
	return err;
}

/* --- a chain of actors, each spawning the next --------------------------- */

struct chain {
	unsigned long length;
	sem_t done;
};

struct token {
	struct chain *chain;
	unsigned long hop;
};

static const actor_spec_t chain_spec;

static void chain_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct token t = *(const struct token *)actor_msg_data(m);
	actor_ref_t next;

	if (++t.hop == t.chain->length)
		sem_post(&t.chain->done);
	else if (actor_spawn(ctx, &chain_spec, NULL, &next) != 0 ||
		 actor_send(ctx, next, 1, &t, sizeof t) != 0)
		abort();
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static const actor_spec_t chain_spec = { .name = "chain", .handler = chain_handler };

const char *stress_sched_chain(actor_system_t *sys, unsigned long length)
{
	struct chain c = { .length = length };
	const struct token t = { &c, 0 };
	actor_system_stats_t before, after;
	actor_ref_t first;
	const char *err = NULL;

	sem_init(&c.done, 0, 0);
	actor_system_stats(sys, &before);
	if (actor_system_spawn(sys, &chain_spec, NULL, &first) != 0 ||
	    actor_system_send(sys, first, 1, &t, sizeof t) != 0)
		return "could not start the chain";
	if (!sem_wait_for(&c.done, 60))
		err = "the token did not reach the end of the chain";
	actor_system_stats(sys, &after);
	if (err == NULL && after.spawned - before.spawned != length)
		err = "wrong number of actors spawned";
	sem_destroy(&c.done);
	return err;
}

/* --- spawn and stop churn ------------------------------------------------- */

static void stop_on_message(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static const actor_spec_t churn_spec = {
	.name = "churn", .handler = stop_on_message, .state_size = 64,
};

static bool all_stopped(void *p)
{
	actor_system_stats_t st;

	actor_system_stats(p, &st);
	return st.live == 0;
}

const char *stress_sched_churn(actor_system_t *sys, unsigned long total, unsigned long wave)
{
	actor_ref_t *refs = calloc(wave, sizeof(*refs));
	actor_system_stats_t st;

	for (unsigned long done = 0; done < total; done += wave) {
		for (unsigned long i = 0; i < wave; i++)
			if (actor_system_spawn(sys, &churn_spec, NULL, &refs[i]) != 0)
				return "spawn failed";
		for (unsigned long i = 0; i < wave; i++)
			if (actor_system_send(sys, refs[i], 1, NULL, 0) != 0)
				return "send failed";
		if (!stress_wait(all_stopped, sys, 60))
			return "actors did not stop";
	}
	free(refs);
	actor_system_stats(sys, &st);
	if (st.live != 0 || st.spawned < total)
		return "actor counts do not add up";
	return NULL;
}

/* --- wake-ups from every idle tier ---------------------------------------- */

static void post_sem(actor_ctx_t *ctx, const actor_msg_t *m)
{
	sem_post(*(sem_t *const *)actor_msg_data(m));
}

static const actor_spec_t post_spec = { .name = "post", .handler = post_sem };

const char *stress_sched_wakeups(unsigned rounds)
{
	actor_config_t cfg;
	actor_system_t *sys;
	actor_ref_t a;
	sem_t s, *sp = &s;
	const char *err = NULL;
	unsigned long rng = 0x1234567;

	/* Short tiers, so that random gaps land in every one of them. */
	actor_config_init(&cfg);
	cfg.aggressive_polls = 20;
	cfg.moderate_polls = 5;
	cfg.moderate_sleep_us = 20;
	cfg.relaxed_polls = 3;
	cfg.relaxed_sleep_us = 100;
	if (actor_system_create(&sys, &cfg) != 0 ||
	    actor_system_spawn(sys, &post_spec, NULL, &a) != 0)
		return "setup failed";
	sem_init(&s, 0, 0);
	for (unsigned i = 0; i < rounds && err == NULL; i++) {
		struct timespec gap = { 0, 0 };

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		gap.tv_nsec = (long)(rng % 600) * 1000;
		nanosleep(&gap, NULL);
		if (actor_system_send(sys, a, 1, &sp, sizeof sp) != 0)
			err = "send failed";
		else if (!sem_wait_for(&s, 10))
			err = "a message to an idle system was not handled: lost wake-up";
	}
	actor_system_destroy(sys);
	sem_destroy(&s);
	return err;
}

/* --- shutdown while messages fly ------------------------------------------ */

struct bouncer {
	actor_ref_t peer;
};

static void bounce(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct bouncer *b = actor_self_state(ctx);

	if (actor_msg_type(m) == 2)
		b->peer = *(const actor_ref_t *)actor_msg_data(m);
	else
		actor_send(ctx, b->peer, 1, actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t bounce_spec = {
	.name = "bounce", .handler = bounce, .state_size = sizeof(struct bouncer),
};

struct flood {
	actor_system_t *sys;
	actor_ref_t to;
	_Atomic bool refused;
};

static void *flood_main(void *p)
{
	struct flood *f = p;
	char buf[100] = { 0 };

	/* Sends until the system refuses: shutdown must cope with us. */
	for (unsigned long n = 0; n < 100000000ul; n++)
		if (actor_system_send(f->sys, f->to, 1, buf, n % sizeof buf) == -ESHUTDOWN) {
			atomic_store(&f->refused, true);
			break;
		}
	return NULL;
}

const char *stress_sched_shutdown(unsigned pairs)
{
	actor_system_t *sys;
	struct flood f;
	pthread_t tid;
	actor_ref_t a, b;
	const struct timespec busy = { 0, 50 * 1000 * 1000 };

	if (actor_system_create(&sys, NULL) != 0)
		return "setup failed";
	for (unsigned i = 0; i < pairs; i++) {
		if (actor_system_spawn(sys, &bounce_spec, NULL, &a) != 0 ||
		    actor_system_spawn(sys, &bounce_spec, NULL, &b) != 0)
			return "spawn failed";
		actor_system_send(sys, a, 2, &b, sizeof b);
		actor_system_send(sys, b, 2, &a, sizeof a);
		/* Several balls per pair: they bounce until shutdown. */
		for (int k = 0; k < 4; k++)
			actor_system_send(sys, a, 1, &k, sizeof k);
	}
	f = (struct flood){ .sys = sys, .to = a };
	pthread_create(&tid, NULL, flood_main, &f);
	nanosleep(&busy, NULL);
	actor_system_shutdown(sys);
	pthread_join(tid, NULL);
	actor_system_destroy(sys);
	return atomic_load(&f.refused) ? NULL : "sends were not refused after shutdown";
}

/* --- two systems side by side ---------------------------------------------- */

struct side {
	unsigned long length;
	const char *err;
};

static void *side_main(void *p)
{
	struct side *s = p;
	actor_system_t *sys;

	if (actor_system_create(&sys, NULL) != 0) {
		s->err = "create failed";
		return NULL;
	}
	s->err = stress_sched_chain(sys, s->length);
	if (s->err == NULL)
		s->err = stress_sched_churn(sys, s->length, s->length / 4);
	actor_system_destroy(sys);
	return NULL;
}

const char *stress_sched_two_systems(unsigned long length)
{
	struct side side[2] = { { length, NULL }, { length, NULL } };
	pthread_t tid[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&tid[i], NULL, side_main, &side[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	return side[0].err != NULL ? side[0].err : side[1].err;
}

/* --- timers ----------------------------------------------------------------- */

struct fired {
	uint64_t due_ns;	/* no later than the timer facility's due time */
	uint32_t index;		/* order of setting */
	uint32_t delay_ms;
};

#define MAX_DELAY_MS 1000

struct timer_run {
	unsigned long n;
	_Atomic unsigned long received;
	_Atomic unsigned long out_of_order, too_late;
	_Atomic unsigned char *seen;
	uint64_t tolerance_ns;
};

struct timer_sink {
	struct timer_run *run;
	int64_t last_index[MAX_DELAY_MS];	/* per delay; -1 before the first */
};

static int timer_sink_init(actor_ctx_t *ctx, void *arg)
{
	struct timer_sink *s = actor_self_state(ctx);

	s->run = arg;
	for (int i = 0; i < MAX_DELAY_MS; i++)
		s->last_index[i] = -1;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void timer_sink(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct timer_sink *s = actor_self_state(ctx);
	const struct fired *f = actor_msg_data(m);
	uint64_t now = now_ns();

	/* Timers with the same delay, set one after the other, are due in that
	 * order: they must fire in it. (Across delays, due times depend on
	 * when each was set, which only the facility knows exactly.) */
	if ((int64_t)f->index <= s->last_index[f->delay_ms])
		atomic_fetch_add(&s->run->out_of_order, 1);
	s->last_index[f->delay_ms] = f->index;
	if (now < f->due_ns || now - f->due_ns > s->run->tolerance_ns)
		atomic_fetch_add(&s->run->too_late, 1);
	atomic_fetch_add(&s->run->seen[f->index], 1);
	atomic_fetch_add(&s->run->received, 1);
}

static const actor_spec_t timer_sink_spec = {
	.name = "timer-sink", .handler = timer_sink, .state_size = sizeof(struct timer_sink),
	.init = timer_sink_init,
};

static bool timers_all_in(void *p)
{
	struct timer_run *r = p;

	return atomic_load(&r->received) >= r->n;
}

const char *stress_sched_timers(unsigned long n, unsigned max_delay_ms)
{
	struct timer_run r = { .n = n, .tolerance_ns = 1000000000ull };
	actor_system_t *sys;
	actor_ref_t sink;
	unsigned long rng = 0x51ed270b2f1e4c1dul;
	const char *err = NULL;

	r.seen = calloc(n, 1);
	if (r.seen == NULL || actor_system_create(&sys, NULL) != 0 ||
	    actor_system_spawn(sys, &timer_sink_spec, &r, &sink) != 0)
		return "setup failed";
	if (max_delay_ms > MAX_DELAY_MS)
		return "bad arguments";
	for (unsigned long i = 0; i < n; i++) {
		uint32_t ms;
		struct fired f;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		ms = (uint32_t)(rng % max_delay_ms);
		f = (struct fired){ now_ns() + ms * 1000000ull, (uint32_t)i, ms };
		if (actor_system_send_after(sys, sink, ms * 1000000ull, 1, &f, sizeof f, NULL) != 0)
			return "send_after failed";
	}
	if (!stress_wait(timers_all_in, &r, 30))
		err = "timers did not all fire";
	else if (atomic_load(&r.out_of_order) != 0)
		err = "timers with the same delay fired out of the order they were set in";
	else if (atomic_load(&r.too_late) != 0)
		err = "a timer fired early, or later than the tolerance";
	for (unsigned long i = 0; i < n && err == NULL; i++)
		if (atomic_load(&r.seen[i]) != 1)
			err = "a timer fired twice or never";
	actor_system_destroy(sys);
	free((void *)r.seen);
	return err;
}

/* Cancelling while timers fire: each timer either fires or is cancelled. */
struct cancel_run {
	actor_system_t *sys;
	actor_timer_t *timers;
	unsigned long n;
	_Atomic unsigned char *cancelled;
	_Atomic unsigned long cancels;
};

static void *canceller(void *p)
{
	struct cancel_run *c = p;

	for (unsigned long i = 0; i < c->n; i += 2)
		if (actor_timer_cancel(c->sys, c->timers[i]) == 0) {
			atomic_store(&c->cancelled[i], 1);
			atomic_fetch_add(&c->cancels, 1);
		}
	return NULL;
}

const char *stress_sched_timer_cancel(unsigned long n)
{
	struct timer_run r = { .n = n, .tolerance_ns = 2000000000ull };
	struct cancel_run c = { .n = n };
	const struct timespec settle = { 0, 50 * 1000 * 1000 };
	actor_ref_t sink;
	pthread_t tid;
	const char *err = NULL;

	r.seen = calloc(n, 1);
	c.cancelled = calloc(n, 1);
	c.timers = calloc(n, sizeof(*c.timers));
	if (r.seen == NULL || c.cancelled == NULL || c.timers == NULL ||
	    actor_system_create(&c.sys, NULL) != 0 ||
	    actor_system_spawn(c.sys, &timer_sink_spec, &r, &sink) != 0)
		return "setup failed";
	for (unsigned long i = 0; i < n; i++) {
		/* Short delays, so that firing and cancelling overlap. */
		uint32_t ms = (uint32_t)(i % 3);
		struct fired f = { now_ns() + ms * 1000000ull, (uint32_t)i, ms };

		if (actor_system_send_after(c.sys, sink, ms * 1000000ull, 1, &f, sizeof f,
					    &c.timers[i]) != 0)
			return "send_after failed";
		if (i == n / 2)
			pthread_create(&tid, NULL, canceller, &c);
	}
	pthread_join(tid, NULL);
	r.n = n - atomic_load(&c.cancels);
	if (!stress_wait(timers_all_in, &r, 30))
		err = "timers that were not cancelled did not all fire";
	nanosleep(&settle, NULL);	/* a wrongly fired one would show up */
	if (err == NULL && atomic_load(&r.received) != r.n)
		err = "a cancelled timer fired";
	for (unsigned long i = 0; i < n && err == NULL; i++)
		if (atomic_load(&r.seen[i]) + atomic_load(&c.cancelled[i]) != 1)
			err = "a timer both fired and was cancelled, or neither";
	for (unsigned long i = 0; i < n && err == NULL; i++)
		if (actor_timer_cancel(c.sys, c.timers[i]) != -ENOENT)
			err = "a fired or cancelled timer could be cancelled again";
	actor_system_destroy(c.sys);
	free((void *)r.seen);
	free((void *)c.cancelled);
	free(c.timers);
	return err;
}

/* --- requests racing their timeouts -------------------------------------------- */

struct req_run {
	actor_ref_t *servers;
	unsigned nservers;
	unsigned long per_client;
	_Atomic unsigned long done, replied, timed_out, other;
};

struct req_client {
	struct req_run *run;
	unsigned long sent;
};

static void echo_server(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_reply(ctx, m, 2, actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t echo_server_spec = { .name = "echo", .handler = echo_server };

static void req_next(actor_ctx_t *ctx, struct req_client *c);

static void req_then(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	struct req_client *c = actor_self_state(ctx);

	if (error == 0 && *(const uint64_t *)actor_msg_data(reply) == (uint64_t)(uintptr_t)arg)
		atomic_fetch_add(&c->run->replied, 1);
	else if (error == -ETIMEDOUT)
		atomic_fetch_add(&c->run->timed_out, 1);
	else
		atomic_fetch_add(&c->run->other, 1);
	atomic_fetch_add(&c->run->done, 1);
	req_next(ctx, c);
}

/* Keeps four requests in flight, with timeouts of 0-20 us: replies and
 * timeouts race. */
static void req_next(actor_ctx_t *ctx, struct req_client *c)
{
	uint64_t tag;
	actor_ref_t to;

	if (c->sent == c->run->per_client)
		return;
	tag = ++c->sent;
	to = c->run->servers[tag % c->run->nservers];

	if (actor_request(ctx, to, 1, &tag, sizeof tag, 1000 * (tag % 21), req_then,
			  (void *)(uintptr_t)tag) != 0) {
		atomic_fetch_add(&c->run->other, 1);
		atomic_fetch_add(&c->run->done, 1);
	}
}

static int req_init(actor_ctx_t *ctx, void *arg)
{
	struct req_client *c = actor_self_state(ctx);

	c->run = arg;
	for (int i = 0; i < 4; i++)
		req_next(ctx, c);
	return 0;
}

static void ignore(actor_ctx_t *ctx, const actor_msg_t *m)
{
}

static const actor_spec_t req_client_spec = {
	.name = "requester", .handler = ignore, .state_size = sizeof(struct req_client),
	.init = req_init,
};

static bool requests_done(void *p)
{
	struct req_run *r = p;

	return atomic_load(&r->done) >= r->per_client * 16;
}

const char *stress_sched_requests(unsigned long per_client)
{
	struct req_run r = { .nservers = 4, .per_client = per_client };
	const struct timespec settle = { 0, 100 * 1000 * 1000 };
	actor_ref_t servers[4], c;
	actor_system_t *sys;
	actor_system_stats_t st;
	const char *err = NULL;

	r.servers = servers;
	if (actor_system_create(&sys, NULL) != 0)
		return "setup failed";
	for (int i = 0; i < 4; i++)
		actor_system_spawn(sys, &echo_server_spec, NULL, &servers[i]);
	for (int i = 0; i < 16; i++)
		actor_system_spawn(sys, &req_client_spec, &r, &c);
	if (!stress_wait(requests_done, &r, 60))
		err = "a continuation never ran";
	/* Every reply either reached its continuation or came too late. */
	nanosleep(&settle, NULL);
	actor_system_stats(sys, &st);
	if (err == NULL && atomic_load(&r.done) != per_client * 16)
		err = "a continuation ran twice";
	else if (err == NULL && atomic_load(&r.other) != 0)
		err = "a reply was wrong, or a request failed";
	else if (err == NULL && atomic_load(&r.replied) + st.late_replies != per_client * 16)
		err = "replies do not add up: lost or duplicated";
	else if (err == NULL && (atomic_load(&r.replied) == 0 || atomic_load(&r.timed_out) == 0))
		err = "the race was not exercised: no reply or no timeout";
	actor_system_destroy(sys);
	return err;
}

/* --- a cascade along links ------------------------------------------------- */

static int link_to_prev(actor_ctx_t *ctx, void *arg)
{
	const actor_ref_t *prev = arg;

	return actor_ref_is_none(*prev) ? 0 : actor_link(ctx, *prev);
}

static const actor_spec_t linked_spec = { .name = "linked", .handler = ignore,
					  .init = link_to_prev };

static bool none_live(void *p)
{
	actor_system_stats_t st;

	actor_system_stats(p, &st);
	return st.live == 0;
}

const char *stress_sched_link_cascade(unsigned n)
{
	actor_ref_t *refs = calloc((size_t)n + 1, sizeof(*refs));
	actor_system_t *sys;
	const struct timespec settle = { 0, 100 * 1000 * 1000 };
	const char *err = NULL;

	if (refs == NULL || actor_system_create(&sys, NULL) != 0)
		return "setup failed";
	for (unsigned i = 1; i <= n; i++)
		if (actor_system_spawn(sys, &linked_spec, &refs[i - 1], &refs[i]) != 0)
			return "spawn failed";
	nanosleep(&settle, NULL);	/* every init has linked */
	actor_exit(sys, refs[n / 2 + 1], 13);
	if (!stress_wait(none_live, sys, 30))
		err = "a failure did not take every linked actor down";
	actor_system_destroy(sys);
	free(refs);
	return err;
}

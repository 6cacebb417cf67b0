/*
 * The bank's client side: opening accounts, running transfers from an
 * actor with many in flight (each retried with its own id until it gets
 * an answer: exactly-once, the source's outgoing log makes a retry
 * harmless; at-most-once, a retry whose first try happened takes the
 * money twice), and
 * the audit that checks the books afterwards from the accounts' records.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examples/bank_account.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define REQUEST_NS (5 * SEC)	/* one try of a transfer */
#define BACKOFF_NS (50 * MS)	/* before trying again after an error */

enum { RUN_START = 1, RUN_AGAIN, RUN_STOP };

void bank_key(uint32_t n, char *buf)
{
	memset(buf, 0, BANK_KEY_MAX);
	snprintf(buf, BANK_KEY_MAX, "acct-%u", n);
}

static actor_ref_t ref_of(actor_system_t *sys, uint32_t n)
{
	char key[BANK_KEY_MAX];
	actor_ref_t r = ACTOR_REF_NONE;

	bank_key(n, key);
	actor_virtual_ref(sys, BANK_TYPE, key, strlen(key), &r);
	return r;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	nanosleep(&ts, NULL);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* A request from this thread, tried again on errors until deadline. */
static int ask(actor_system_t *sys, uint32_t n, uint32_t type, const void *data, size_t size,
	       uint64_t deadline, uint32_t *rtype, void **reply, size_t *rsize)
{
	int err;

	for (;;) {
		err = actor_system_ask(sys, ref_of(sys, n), type, data, size, REQUEST_NS, rtype,
				       reply, rsize);
		if (err == 0 || now_ns() > deadline)
			return err;
		sleep_ns(BACKOFF_NS);
	}
}

int bank_open_accounts(actor_system_t *sys, uint32_t n, int64_t amount)
{
	uint64_t deadline = now_ns() + 20 * SEC;

	for (uint32_t i = 0; i < n; i++) {
		for (;;) {
			uint32_t type;
			void *reply = NULL;
			size_t size;
			int64_t balance = 0;
			int err = actor_system_ask(sys, ref_of(sys, i), BANK_DEPOSIT, &amount,
						   sizeof amount, REQUEST_NS, &type, &reply, &size);

			free(reply);
			if (err == 0)
				break;
			/* A deposit is a plain request: a failed one may still
			 * have happened (its write fails, then a later write
			 * carries it). Asking it again would open the account
			 * twice, so look first: a new account holds only this. */
			err = ask(sys, i, BANK_BALANCE, NULL, 0, deadline, &type, &reply, &size);
			if (err == 0 && size == sizeof balance)
				memcpy(&balance, reply, sizeof balance);
			free(reply);
			if (err != 0)
				return err;
			if (balance >= amount)
				break;
			if (now_ns() > deadline)
				return -ETIMEDOUT;
			sleep_ns(BACKOFF_NS);
		}
	}
	return 0;
}

/* --- running transfers ------------------------------------------------------ */

struct run {
	struct bank_job *jobs;
	size_t n, next, done;
	unsigned window;
	_Atomic size_t *progress;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void issue(actor_ctx_t *ctx, struct run *r, size_t i);

static void answered(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	struct run *r = *(struct run **)actor_self_state(ctx);
	size_t i = (size_t)(uintptr_t)arg;
	uint32_t type = error == 0 ? actor_msg_type(reply) : 0;

	if (r == NULL)	/* stopped: the caller has gone */
		return;
	if (type != BANK_OK && type != BANK_REFUSED) {
		/* No answer (the owner died, a write failed, a timeout): the
		 * same transfer again, with the same id. */
		r->jobs[i].tries++;
		actor_send_after(ctx, actor_self(ctx), BACKOFF_NS, RUN_AGAIN, &i, sizeof i, NULL);
		return;
	}
	r->jobs[i].status = (int)type;
	if (r->progress != NULL)
		atomic_fetch_add(r->progress, 1);
	if (r->next < r->n)
		issue(ctx, r, r->next++);
	pthread_mutex_lock(&r->lock);
	if (++r->done == r->n)
		pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void issue(actor_ctx_t *ctx, struct run *r, size_t i)
{
	struct bank_job *j = &r->jobs[i];
	struct bank_transfer t = { .id = j->id, .amount = j->amount };

	bank_key(j->to, t.peer);
	j->tries++;
	if (actor_request(ctx, ref_of(actor_ctx_system(ctx), j->from), BANK_TRANSFER, &t,
			  sizeof t, REQUEST_NS, answered, (void *)(uintptr_t)i) != 0)
		actor_send_after(ctx, actor_self(ctx), BACKOFF_NS, RUN_AGAIN, &i, sizeof i, NULL);
}

static void teller(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct run **rp = actor_self_state(ctx);
	size_t i;

	if (actor_msg_type(m) == RUN_STOP) {
		/* After this turn nothing here touches the caller's run. */
		*rp = NULL;
		actor_reply(ctx, m, RUN_STOP, NULL, 0);
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
	} else if (actor_msg_type(m) == RUN_START && actor_msg_size(m) == sizeof *rp) {
		memcpy(rp, actor_msg_data(m), sizeof *rp);
		while ((*rp)->next < (*rp)->n && (*rp)->next < (*rp)->window)
			issue(ctx, *rp, (*rp)->next++);
	} else if (actor_msg_type(m) == RUN_AGAIN && actor_msg_size(m) == sizeof i &&
		   *rp != NULL) {
		memcpy(&i, actor_msg_data(m), sizeof i);
		(*rp)->jobs[i].tries--;	/* issue counts it */
		issue(ctx, *rp, i);
	}
}

static const actor_spec_t teller_spec = {
	.name = "teller", .handler = teller, .state_size = sizeof(struct run *),
};

int bank_run(actor_system_t *sys, struct bank_job *jobs, size_t n, unsigned window,
	     uint64_t timeout_ns, _Atomic size_t *progress)
{
	struct run r = { .jobs = jobs, .n = n, .window = window != 0 ? window : 1,
			 .progress = progress };
	struct run *rp = &r;
	actor_ref_t t = ACTOR_REF_NONE;
	struct timespec until;
	int err;

	if (n == 0)
		return 0;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.cond, NULL);
	err = actor_system_spawn(sys, &teller_spec, NULL, &t);
	if (err == 0)
		err = actor_system_send(sys, t, RUN_START, &rp, sizeof rp);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ns / SEC);
	pthread_mutex_lock(&r.lock);
	while (err == 0 && r.done < r.n)
		err = -pthread_cond_timedwait(&r.cond, &r.lock, &until);
	pthread_mutex_unlock(&r.lock);
	/* The teller must not touch r once this returns: its answer to
	 * RUN_STOP says it will not. */
	if (!actor_ref_is_none(t)) {
		uint32_t type;
		void *reply = NULL;
		size_t size;

		while (actor_system_ask(sys, t, RUN_STOP, NULL, 0, 60 * SEC, &type, &reply,
					&size) == -ETIMEDOUT)
			;
		free(reply);
	}
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
	return err;
}

void bank_random_jobs(struct bank_job *jobs, size_t njobs, uint32_t naccounts, uint64_t base,
		      unsigned seed)
{
	for (size_t i = 0; i < njobs; i++) {
		struct bank_job *j = &jobs[i];

		memset(j, 0, sizeof *j);
		j->from = (uint32_t)(rand_r(&seed) % naccounts);
		j->to = (uint32_t)(rand_r(&seed) % (naccounts - 1));
		if (j->to >= j->from)
			j->to++;
		j->amount = 1 + rand_r(&seed) % 100;
		j->id = base + i;
	}
}

/* --- the audit -------------------------------------------------------------- */

int bank_audit(actor_system_t *sys, uint32_t naccounts, const struct bank_job *jobs, size_t n,
	       uint64_t timeout_ns, struct bank_audit *out)
{
	uint64_t deadline = now_ns() + timeout_ns, base = n != 0 ? jobs[0].id : 0;
	uint32_t *in = calloc(n + 1, sizeof *in), *outs = calloc(n + 1, sizeof *outs);
	int err = in != NULL && outs != NULL ? 0 : -ENOMEM;

	for (;;) {
		memset(out, 0, sizeof *out);
		if (in != NULL)
			memset(in, 0, (n + 1) * sizeof *in);
		if (outs != NULL)
			memset(outs, 0, (n + 1) * sizeof *outs);
		for (uint32_t a = 0; err == 0 && a < naccounts; a++) {
			struct bank_record rec;
			uint32_t type;
			void *reply = NULL;
			size_t size = 0;

			/* Activates it: exactly-once, an account sends what its
			 * last activation left unacknowledged again. */
			err = ask(sys, a, BANK_LOG, NULL, 0, deadline, &type, &reply, &size);
			if (err == 0)
				err = bank_record_parse(reply, size, &rec);
			free(reply);
			if (err != 0)
				break;
			out->total += rec.balance;
			out->applied += rec.nin;
			for (uint32_t k = 0; k < rec.nin; k++) {
				uint64_t j = rec.in[k] - base;

				if (j >= n || jobs[j].to != a)
					out->phantom++;
				else
					in[j]++;
			}
			for (uint32_t k = 0; k < rec.nout; k++) {
				uint64_t j = rec.out[k] - base;

				if (j < n && jobs[j].from == a)
					outs[j]++;
			}
			bank_record_free(&rec);
		}
		for (size_t j = 0; err == 0 && j < n; j++)
			out->in_flight += outs[j] != 0 && in[j] == 0;
		if (err != 0 || out->in_flight == 0 || now_ns() > deadline)
			break;
		sleep_ns(200 * MS);
	}
	for (size_t j = 0; err == 0 && j < n; j++) {
		if (in[j] > 1)
			out->duplicates += in[j] - 1;
		if (outs[j] > 1)
			out->taken_twice += outs[j] - 1;
		if (jobs[j].status == BANK_OK && in[j] == 0)
			out->missing++;
		if (jobs[j].status != BANK_OK && in[j] != 0)
			out->phantom++;
		if (jobs[j].status == BANK_OK && outs[j] == 0)
			out->lost_out++;
	}
	free(in);
	free(outs);
	return err;
}

/*
 * Stores used from actors the way virtual actors will use them: an
 * "account" actor loads its state through an executor before it applies
 * any message, saves it behind its turns (one write in flight, the next
 * one carries every change made meanwhile), and never blocks its worker:
 * the store calls run on the executor's threads, whose completions come
 * back as messages. The version fences a second activation of the same
 * key: its save is -ESTALE, and it stops without saving and forwards its
 * unsaved change to the first (the current owner). On a real LMDB.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "tests/store_helpers.h"

enum { MSG_ADD = 1, MSG_LOADED, MSG_SAVED };

/* What a completion needs; outlives the actor (a write may still be out). */
struct link {
	actor_system_t *sys;
	actor_ref_t ref;		/* the test's, from the spawn */
	actor_ref_t self;		/* the completions', set by init before any submit */
	actor_ref_t owner;		/* where a fenced activation sends its change */
	actor_store_exec_t *ex;
	char key[16];
	actor_store_op_t op;		/* the write in flight and its bytes */
	int64_t buf;
	atomic_int loaded, fenced, failed;
};

struct account {
	struct link *l;
	int loaded, saving;
	uint64_t version;
	int64_t balance, saved;
};

struct loaded_msg {
	int rc;
	uint64_t version;
	int64_t balance;
};

struct saved_msg {
	int rc;
	uint64_t version;
};

/* Threads seen running handlers and completions. */
#define MAX_THREADS 64
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t workers[MAX_THREADS], stores[MAX_THREADS];
static int nworkers, nstores;

static void seen(pthread_t *set, int *n)
{
	int i;

	pthread_mutex_lock(&seen_lock);
	for (i = 0; i < *n && !pthread_equal(set[i], pthread_self()); i++)
		;
	if (i == *n && *n < MAX_THREADS)
		set[(*n)++] = pthread_self();
	pthread_mutex_unlock(&seen_lock);
}

static void on_loaded(void *arg, int rc, void *data, size_t size, uint64_t version)
{
	struct link *l = arg;
	struct loaded_msg m = { rc, version, 0 };

	seen(stores, &nstores);
	if (rc == 0 && size == sizeof m.balance)
		memcpy(&m.balance, data, sizeof m.balance);
	free(data);
	actor_system_send(l->sys, l->self, MSG_LOADED, &m, sizeof m);
}

static void on_saved(void *arg, int rc, actor_store_op_t *ops, size_t n, size_t failed)
{
	struct link *l = arg;
	struct saved_msg m = { rc, rc == 0 ? ops[0].version : 0 };

	seen(stores, &nstores);
	actor_system_send(l->sys, l->self, MSG_SAVED, &m, sizeof m);
}

/* Write-behind: one save at a time, of everything not saved yet. */
static void maybe_save(actor_ctx_t *ctx, struct account *a)
{
	struct link *l = a->l;
	int rc;

	if (!a->loaded || a->saving || a->balance == a->saved)
		return;
	l->buf = a->balance;
	l->op = (actor_store_op_t){ ACTOR_STORE_SAVE, "account", l->key, strlen(l->key),
				    &l->buf, sizeof l->buf, a->version, 0 };
	rc = actor_store_exec_write(l->ex, &l->op, 1, on_saved, l);
	if (rc != 0) {
		atomic_fetch_add(&l->failed, 1);
		actor_stop(ctx, rc);
		return;
	}
	a->saving = 1;
}

static int account_init(actor_ctx_t *ctx, void *arg)
{
	struct account *a = actor_self_state(ctx);
	struct link *l = arg;

	a->l = l;
	/* Not the spawn's out reference: init may run before the spawn returns. */
	l->self = actor_self(ctx);
	seen(workers, &nworkers);
	return actor_store_exec_load(l->ex, "account", l->key, strlen(l->key), on_loaded, l);
}

static void account(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct account *a = actor_self_state(ctx);
	struct link *l = a->l;

	seen(workers, &nworkers);
	switch (actor_msg_type(msg)) {
	case MSG_ADD: {
		int64_t amount;

		memcpy(&amount, actor_msg_data(msg), sizeof amount);
		a->balance += amount;	/* before the load: a change to apply to it */
		maybe_save(ctx, a);
		break;
	}
	case MSG_LOADED: {
		struct loaded_msg m;

		memcpy(&m, actor_msg_data(msg), sizeof m);
		if (m.rc != 0) {
			atomic_fetch_add(&l->failed, 1);
			actor_stop(ctx, m.rc);
			return;
		}
		a->loaded = 1;
		a->version = m.version;
		a->saved = m.balance;
		a->balance += m.balance;
		atomic_store(&l->loaded, 1);
		maybe_save(ctx, a);
		break;
	}
	case MSG_SAVED: {
		struct saved_msg m;

		memcpy(&m, actor_msg_data(msg), sizeof m);
		a->saving = 0;
		if (m.rc == -ESTALE) {
			/* Another activation owns the key: no save, hand the change over. */
			int64_t change = a->balance - a->saved;

			atomic_fetch_add(&l->fenced, 1);
			actor_send(ctx, l->owner, MSG_ADD, &change, sizeof change);
			actor_stop(ctx, ACTOR_EXIT_NORMAL);
			return;
		}
		if (m.rc != 0) {
			atomic_fetch_add(&l->failed, 1);
			actor_stop(ctx, m.rc);
			return;
		}
		a->version = m.version;
		a->saved = l->buf;
		maybe_save(ctx, a);
		break;
	}
	}
}

static const actor_spec_t account_spec = {
	.name = "account",
	.handler = account,
	.state_size = sizeof(struct account),
	.init = account_init,
};

static int open_store(actor_store_t **s)
{
	return store_lmdb_open(s, store_dir, 0, ACTOR_STORE_SYNC);
}

/* Waits (20 s at most) for the stored balance of key to be want. */
static int wait_balance(actor_store_t *s, const char *key, int64_t want, uint64_t *version)
{
	int i;

	for (i = 0; i < 20000; i++) {
		void *data;
		size_t size;
		int64_t b = 0;
		int rc = actor_store_load(s, "account", key, strlen(key), &data, &size, version);

		if (rc != 0)
			return rc;
		if (size == sizeof b)
			memcpy(&b, data, sizeof b);
		free(data);
		if (b == want)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static int add(actor_system_t *sys, actor_ref_t to, int64_t amount)
{
	return actor_system_send(sys, to, MSG_ADD, &amount, sizeof amount);
}

/*
 * One system, one account: 200 adds sent at once (most arrive before the
 * load completes); then a new system (a reactivation) adds 50 more to
 * what the first saved.
 */
static const char *write_behind(void)
{
	actor_store_t *s;
	struct link l[2];
	uint64_t v = 0;
	int round, i, j, rc = 0;

	CHECK(open_store(&s) == 0, "open");
	for (round = 0; round < 2 && rc == 0; round++) {
		actor_system_t *sys;
		int n = round == 0 ? 200 : 50;

		memset(&l[round], 0, sizeof l[round]);
		strcpy(l[round].key, "a1");
		rc = actor_system_create(&sys, NULL);
		if (rc == 0)
			rc = actor_store_exec_create(&l[round].ex, s, NULL);
		if (rc != 0)
			break;
		l[round].sys = sys;
		rc = actor_system_spawn(sys, &account_spec, &l[round], &l[round].ref);
		for (i = 0; i < n && rc == 0; i++)
			rc = add(sys, l[round].ref, 1);
		if (rc == 0)
			rc = wait_balance(s, "a1", round == 0 ? 200 : 250, &v);
		/* The executor first: its completions send into the system. */
		actor_store_exec_destroy(l[round].ex);
		actor_system_destroy(sys);
		if (rc == 0 && (l[round].failed || l[round].fenced))
			rc = -EPROTO;
	}
	actor_store_destroy(s);
	CHECK(rc == 0, "round %d: %d (%s)", round - 1, rc, strerror(-rc));
	for (i = 0; i < nworkers; i++)
		for (j = 0; j < nstores; j++)
			CHECK(!pthread_equal(workers[i], stores[j]),
			      "a store call ran on a worker's thread");
	CHECK(nstores > 0 && nworkers > 0, "no threads seen");
	printf("# 250 adds in %" PRIu64 " saves; handlers on %d threads, store calls on %d "
	       "others\n", v, nworkers, nstores);
	return NULL;
}

static int wait_loaded(struct link *l)
{
	int i;

	for (i = 0; i < 20000 && !atomic_load(&l->loaded); i++)
		usleep(1000);
	return atomic_load(&l->loaded) ? 0 : -ETIMEDOUT;
}

/*
 * Two activations of one key (what a partition can make): both load
 * version 0. The first saves; the second's save is -ESTALE: it stops
 * without writing and forwards its change to the first, which saves it.
 */
static const char *two_activations(void)
{
	actor_store_t *s;
	actor_system_t *sys;
	actor_store_exec_t *ex;
	struct link a, b;
	uint64_t v = 0;
	int rc;

	CHECK(open_store(&s) == 0, "open");
	rc = actor_system_create(&sys, NULL);
	CHECK(rc == 0, "system: %d", rc);
	rc = actor_store_exec_create(&ex, s, NULL);
	CHECK(rc == 0, "executor: %d", rc);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.sys = b.sys = sys;
	a.ex = b.ex = ex;
	strcpy(a.key, "dup");
	strcpy(b.key, "dup");
	rc = actor_system_spawn(sys, &account_spec, &a, &a.ref);
	if (rc == 0)
		rc = wait_loaded(&a);
	b.owner = a.ref;
	if (rc == 0)
		rc = actor_system_spawn(sys, &account_spec, &b, &b.ref);
	if (rc == 0)
		rc = wait_loaded(&b);
	if (rc == 0)
		rc = add(sys, a.ref, 10);
	if (rc == 0)
		rc = wait_balance(s, "dup", 10, &v);
	if (rc == 0)
		rc = add(sys, b.ref, 5);
	if (rc == 0)
		rc = wait_balance(s, "dup", 15, &v);
	actor_store_exec_destroy(ex);
	actor_system_destroy(sys);
	actor_store_destroy(s);
	CHECK(rc == 0, "%d (%s); the second fenced %d times", rc, strerror(-rc),
	      atomic_load(&b.fenced));
	CHECK(atomic_load(&b.fenced) == 1 && atomic_load(&a.fenced) == 0 && !a.failed &&
	      !b.failed, "fenced: first %d, second %d; failed %d %d", atomic_load(&a.fenced),
	      atomic_load(&b.fenced), atomic_load(&a.failed), atomic_load(&b.failed));
	CHECK(v == 2, "version %" PRIu64 ", want 2 (10 by the first, 5 forwarded)", v);
	return NULL;
}

int main(void)
{
	int status = store_lmdb_start("store-actor", ACTOR_STORE_SYNC, NULL, NULL);

	if (status >= 0)
		return status;
	tap_plan(2);
	tap_result("an account loads before its first add, saves behind its turns, "
		   "off the workers; reactivated, it goes on from what was saved",
		   write_behind());
	tap_result("a second activation of a key is fenced by the version: it stops "
		   "without saving and hands its change to the first", two_activations());
	store_dir_done();
	return tap_exit();
}

/*
 * The executor (actor_store_exec_*) over a store written by the user with
 * actor_store_create(): a one-record memory store whose calls can be held
 * at a gate, so that the test decides what runs, what waits in the queue
 * and what the queue's bound refuses. Every submitted operation must get
 * exactly one completion: its result, or -ECANCELED at destroy.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/store.h>

#include "tests/store_helpers.h"

/* One record, whatever the key: enough to see the calls pass through. */
struct mem {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int gate_closed, inside, closed;
	char data[64];
	size_t size;
	uint64_t version;
};

static void enter(struct mem *m)
{
	pthread_mutex_lock(&m->lock);
	m->inside++;
	pthread_cond_broadcast(&m->cond);
	while (m->gate_closed)
		pthread_cond_wait(&m->cond, &m->lock);
}

static int mem_load(void *impl, const char *type, const void *key, size_t key_len,
		    void **data, size_t *size, uint64_t *version)
{
	struct mem *m = impl;

	enter(m);
	if (m->size > 0) {
		*data = malloc(m->size);
		memcpy(*data, m->data, m->size);
		*size = m->size;
	}
	*version = m->version;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_write(void *impl, actor_store_op_t *ops, size_t n, size_t *failed)
{
	struct mem *m = impl;
	int rc = 0;

	enter(m);
	if (ops[0].expected != m->version || ops[0].size > sizeof m->data) {
		*failed = 0;
		rc = -ESTALE;
	} else {
		memcpy(m->data, ops[0].data, ops[0].size);
		m->size = ops[0].size;
		ops[0].version = ++m->version;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void mem_close(void *impl)
{
	((struct mem *)impl)->closed++;
}

static const actor_store_ops_t mem_ops = { mem_load, mem_write, mem_close };

static void mem_init(struct mem *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
}

static void gate(struct mem *m, int closed)
{
	pthread_mutex_lock(&m->lock);
	m->gate_closed = closed;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void wait_inside(struct mem *m, int n)
{
	pthread_mutex_lock(&m->lock);
	while (m->inside < n)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
}

/* Completions, counted by result. */
struct done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ok, stale, canceled, other, calls;
	uint64_t version;
	char data[64];
	size_t size;
	pthread_t thread;
};

static struct done done;

static void done_reset(void)
{
	pthread_mutex_lock(&done.lock);
	done.ok = done.stale = done.canceled = done.other = done.calls = 0;
	pthread_mutex_unlock(&done.lock);
}

static void count(int rc)
{
	pthread_mutex_lock(&done.lock);
	done.calls++;
	if (rc == 0)
		done.ok++;
	else if (rc == -ESTALE)
		done.stale++;
	else if (rc == -ECANCELED)
		done.canceled++;
	else
		done.other++;
	done.thread = pthread_self();
	pthread_cond_broadcast(&done.cond);
	pthread_mutex_unlock(&done.lock);
}

static void on_load(void *arg, int rc, void *data, size_t size, uint64_t version)
{
	pthread_mutex_lock(&done.lock);
	if (rc == 0) {
		done.version = version;
		done.size = size < sizeof done.data ? size : sizeof done.data;
		if (size > 0)
			memcpy(done.data, data, done.size);
	}
	pthread_mutex_unlock(&done.lock);
	free(data);
	count(rc);
}

static void on_write(void *arg, int rc, actor_store_op_t *ops, size_t n, size_t failed)
{
	pthread_mutex_lock(&done.lock);
	if (rc == 0)
		done.version = ops[0].version;
	pthread_mutex_unlock(&done.lock);
	count(rc);
}

static void wait_calls(int n)
{
	pthread_mutex_lock(&done.lock);
	while (done.calls < n)
		pthread_cond_wait(&done.cond, &done.lock);
	pthread_mutex_unlock(&done.lock);
}

static const char *through(void)
{
	struct mem m;
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_store_op_t op = { ACTOR_STORE_SAVE, "t", "k", 1, "abc", 3, 0, 0 };
	actor_store_op_t stale = { ACTOR_STORE_SAVE, "t", "k", 1, "zz", 2, 0, 0 };
	int rc;

	mem_init(&m);
	done_reset();
	CHECK(actor_store_create(&s, &mem_ops, &m) == 0, "create");
	rc = actor_store_exec_create(&ex, s, NULL);
	CHECK(rc == 0, "exec create: %d", rc);
	rc = actor_store_exec_write(ex, &op, 1, on_write, NULL);
	CHECK(rc == 0, "submit write: %d", rc);
	wait_calls(1);
	CHECK(done.ok == 1 && done.version == 1, "write: ok %d version %" PRIu64, done.ok,
	      done.version);
	CHECK(!pthread_equal(done.thread, pthread_self()), "ran on the submitting thread");
	rc = actor_store_exec_load(ex, "t", "k", 1, on_load, NULL);
	CHECK(rc == 0, "submit load: %d", rc);
	wait_calls(2);
	CHECK(done.ok == 2 && done.version == 1 && done.size == 3 &&
	      memcmp(done.data, "abc", 3) == 0, "load: wrong record");
	rc = actor_store_exec_write(ex, &stale, 1, on_write, NULL);
	CHECK(rc == 0, "submit: %d", rc);
	wait_calls(3);
	CHECK(done.stale == 1, "a stale write through the executor: not -ESTALE");
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	CHECK(m.closed == 1, "close called %d times", m.closed);
	CHECK(done.calls == 3, "%d completions for 3 operations", done.calls);
	return NULL;
}

/* One thread, a queue of 2: running + 2 waiting, the 4th is -EAGAIN at once. */
static const char *bounded(void)
{
	actor_store_exec_config_t cfg;
	struct mem m;
	actor_store_t *s;
	actor_store_exec_t *ex;
	int rc, i;

	mem_init(&m);
	done_reset();
	actor_store_exec_config_init(&cfg);
	cfg.threads = 1;
	cfg.queue = 2;
	CHECK(actor_store_create(&s, &mem_ops, &m) == 0, "create");
	CHECK(actor_store_exec_create(&ex, s, &cfg) == 0, "exec create");
	gate(&m, 1);
	CHECK(actor_store_exec_load(ex, "t", "a", 1, on_load, NULL) == 0, "first");
	wait_inside(&m, 1);
	for (i = 0; i < 2; i++) {
		rc = actor_store_exec_load(ex, "t", "b", 1, on_load, NULL);
		CHECK(rc == 0, "queued %d: %d", i, rc);
	}
	rc = actor_store_exec_load(ex, "t", "c", 1, on_load, NULL);
	CHECK(rc == -EAGAIN, "over the bound: %d, want -EAGAIN", rc);
	gate(&m, 0);
	wait_calls(3);
	rc = actor_store_exec_load(ex, "t", "d", 1, on_load, NULL);
	CHECK(rc == 0, "after the queue drained: %d", rc);
	wait_calls(4);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	CHECK(done.calls == 4 && done.ok == 4, "%d completions, %d ok, want 4", done.calls,
	      done.ok);
	return NULL;
}

struct opener {
	struct mem *m;
};

static void *open_gate_later(void *p)
{
	usleep(100000);
	gate(p, 0);
	return NULL;
}

/*
 * Destroy while one operation runs (held at the gate) and 5 wait: the one
 * running completes with its result, the 5 with -ECANCELED.
 */
static const char *shutdown_pending(void)
{
	actor_store_exec_config_t cfg;
	struct mem m;
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_store_op_t ops[5];
	pthread_t t;
	int i, rc;

	mem_init(&m);
	done_reset();
	actor_store_exec_config_init(&cfg);
	cfg.threads = 1;
	CHECK(actor_store_create(&s, &mem_ops, &m) == 0, "create");
	CHECK(actor_store_exec_create(&ex, s, &cfg) == 0, "exec create");
	gate(&m, 1);
	CHECK(actor_store_exec_load(ex, "t", "a", 1, on_load, NULL) == 0, "first");
	wait_inside(&m, 1);
	for (i = 0; i < 5; i++) {
		ops[i] = (actor_store_op_t){ ACTOR_STORE_SAVE, "t", "k", 1, "x", 1, 0, 0 };
		rc = actor_store_exec_write(ex, &ops[i], 1, on_write, NULL);
		CHECK(rc == 0, "queue %d: %d", i, rc);
	}
	pthread_create(&t, NULL, open_gate_later, &m);
	actor_store_exec_destroy(ex);
	pthread_join(t, NULL);
	actor_store_destroy(s);
	CHECK(done.calls == 6 && done.ok == 1 && done.canceled == 5,
	      "%d completions: %d ok, %d canceled, %d other; want 6: 1 ok, 5 canceled",
	      done.calls, done.ok, done.canceled, done.other);
	CHECK(m.version == 0, "a canceled write was applied");
	return NULL;
}

/* Many submitters, 3 store threads: every operation completes once. */
static const char *many(void)
{
	enum { N = 2000 };
	actor_store_exec_config_t cfg;
	struct mem m;
	actor_store_t *s;
	actor_store_exec_t *ex;
	int i, refused = 0;

	mem_init(&m);
	done_reset();
	actor_store_exec_config_init(&cfg);
	cfg.threads = 3;
	cfg.queue = 64;
	CHECK(actor_store_create(&s, &mem_ops, &m) == 0, "create");
	CHECK(actor_store_exec_create(&ex, s, &cfg) == 0, "exec create");
	for (i = 0; i < N; i++) {
		int rc;

		while ((rc = actor_store_exec_load(ex, "t", "k", 1, on_load, NULL)) == -EAGAIN) {
			refused++;
			usleep(100);
		}
		CHECK(rc == 0, "submit %d: %d", i, rc);
	}
	wait_calls(N);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	CHECK(done.calls == N && done.ok == N, "%d completions for %d", done.calls, N);
	printf("# %d loads, %d submissions refused with -EAGAIN and retried\n", N, refused);
	return NULL;
}

static const char *invalid(void)
{
	static const actor_store_ops_t no_write = { mem_load, NULL, NULL };
	actor_store_exec_config_t cfg;
	actor_store_t *s;
	actor_store_exec_t *ex;
	struct mem m;

	mem_init(&m);
	CHECK(actor_store_create(&s, &no_write, &m) == -EINVAL, "a vtable without write");
	CHECK(actor_store_create(&s, &mem_ops, &m) == 0, "create");
	actor_store_exec_config_init(&cfg);
	cfg.threads = 0;
	CHECK(actor_store_exec_create(&ex, s, &cfg) == -EINVAL, "0 threads");
	cfg.threads = 1;
	cfg.queue = 0;
	CHECK(actor_store_exec_create(&ex, s, &cfg) == -EINVAL, "a queue of 0");
	CHECK(actor_store_exec_create(&ex, NULL, NULL) == -EINVAL, "no store");
	actor_store_destroy(s);
	return NULL;
}

int main(void)
{
	pthread_mutex_init(&done.lock, NULL);
	pthread_cond_init(&done.cond, NULL);
	tap_plan(5);
	tap_result("loads and writes run on a store thread, results come back", through());
	tap_result("a full queue refuses at once with -EAGAIN", bounded());
	tap_result("destroy: the running call completes, the queued ones -ECANCELED",
		   shutdown_pending());
	tap_result("2000 loads from one submitter through 3 threads, each completed once",
		   many());
	tap_result("bad arguments are -EINVAL", invalid());
	return tap_exit();
}

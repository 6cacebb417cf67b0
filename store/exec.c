/*
 * store/exec.c: store calls off the caller's thread. A fixed pool of store
 * threads takes operations from one bounded FIFO queue; a full queue
 * refuses at once (-EAGAIN) rather than block the caller, which is an
 * actor's handler on a worker. Destroying the executor lets the calls that
 * are running finish and completes the queued ones with -ECANCELED on the
 * destroying thread, so every submitted operation gets exactly one
 * completion.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <actor/store.h>

#include "util/list.h"

struct job {
	struct actor__list link;
	actor_store_load_done_t *load_done;	/* a load, or */
	actor_store_write_done_t *write_done;	/* a write */
	void *arg;
	actor_store_op_t *ops;
	size_t n;
	size_t key_len;
	char *type;		/* a load's copies: type, then the key bytes */
	char *key;
};

struct actor_store_exec {
	actor_store_t *store;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct actor__list queue;
	unsigned queued, bound;
	int stopping;
	unsigned nthreads;
	pthread_t threads[];
};

void actor_store_exec_config_init(actor_store_exec_config_t *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->threads = 2;
	cfg->queue = 1024;
}

static void run(actor_store_exec_t *ex, struct job *j)
{
	if (j->load_done != NULL) {
		void *data = NULL;
		size_t size = 0;
		uint64_t version = 0;
		int rc = actor_store_load(ex->store, j->type, j->key, j->key_len, &data, &size,
					  &version);

		j->load_done(j->arg, rc, data, size, version);
	} else {
		size_t failed;
		int rc = actor_store_write(ex->store, j->ops, j->n, &failed);

		j->write_done(j->arg, rc, j->ops, j->n, failed);
	}
	free(j);
}

static void cancel(struct job *j)
{
	if (j->load_done != NULL)
		j->load_done(j->arg, -ECANCELED, NULL, 0, 0);
	else
		j->write_done(j->arg, -ECANCELED, j->ops, j->n, 0);
	free(j);
}

static void *store_thread(void *p)
{
	actor_store_exec_t *ex = p;

	pthread_setname_np(pthread_self(), "actor-store");
	pthread_mutex_lock(&ex->lock);
	for (;;) {
		struct actor__list *l;

		while (!ex->stopping && actor__list_empty(&ex->queue))
			pthread_cond_wait(&ex->cond, &ex->lock);
		if (ex->stopping)
			break;
		l = ex->queue.next;
		actor__list_del(l);
		ex->queued--;
		pthread_mutex_unlock(&ex->lock);
		run(ex, actor__list_entry(l, struct job, link));
		pthread_mutex_lock(&ex->lock);
	}
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

int actor_store_exec_create(actor_store_exec_t **out, actor_store_t *store,
			    const actor_store_exec_config_t *cfg)
{
	actor_store_exec_config_t def;
	actor_store_exec_t *ex;
	unsigned i;
	int rc;

	if (out == NULL || store == NULL)
		return -EINVAL;
	if (cfg == NULL) {
		actor_store_exec_config_init(&def);
		cfg = &def;
	}
	if (cfg->threads == 0 || cfg->threads > 256 || cfg->queue == 0)
		return -EINVAL;
	ex = calloc(1, sizeof *ex + cfg->threads * sizeof ex->threads[0]);
	if (ex == NULL)
		return -ENOMEM;
	ex->store = store;
	ex->bound = cfg->queue;
	actor__list_init(&ex->queue);
	pthread_mutex_init(&ex->lock, NULL);
	pthread_cond_init(&ex->cond, NULL);
	for (i = 0; i < cfg->threads; i++) {
		rc = pthread_create(&ex->threads[i], NULL, store_thread, ex);
		if (rc != 0) {
			ex->nthreads = i;
			actor_store_exec_destroy(ex);
			return -rc;
		}
	}
	ex->nthreads = cfg->threads;
	*out = ex;
	return 0;
}

void actor_store_exec_destroy(actor_store_exec_t *ex)
{
	unsigned i;

	if (ex == NULL)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->stopping = 1;
	pthread_cond_broadcast(&ex->cond);
	pthread_mutex_unlock(&ex->lock);
	for (i = 0; i < ex->nthreads; i++)
		pthread_join(ex->threads[i], NULL);
	/* No thread is left: the queue is this thread's. */
	while (!actor__list_empty(&ex->queue)) {
		struct actor__list *l = ex->queue.next;

		actor__list_del(l);
		cancel(actor__list_entry(l, struct job, link));
	}
	pthread_cond_destroy(&ex->cond);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
}

static int submit(actor_store_exec_t *ex, struct job *j)
{
	int rc = 0;

	pthread_mutex_lock(&ex->lock);
	if (ex->stopping)
		rc = -ECANCELED;
	else if (ex->queued >= ex->bound)
		rc = -EAGAIN;
	if (rc == 0) {
		actor__list_append(&ex->queue, &j->link);
		ex->queued++;
		pthread_cond_signal(&ex->cond);
	}
	pthread_mutex_unlock(&ex->lock);
	if (rc != 0)
		free(j);
	return rc;
}

int actor_store_exec_load(actor_store_exec_t *ex, const char *type, const void *key,
			  size_t key_len, actor_store_load_done_t *done, void *arg)
{
	struct job *j;
	size_t tlen;

	if (ex == NULL || type == NULL || type[0] == '\0' || (key == NULL && key_len > 0) ||
	    done == NULL)
		return -EINVAL;
	tlen = strlen(type) + 1;
	j = calloc(1, sizeof *j + tlen + key_len);
	if (j == NULL)
		return -ENOMEM;
	j->load_done = done;
	j->arg = arg;
	j->type = (char *)(j + 1);
	memcpy(j->type, type, tlen);
	j->key = j->type + tlen;
	if (key_len > 0)
		memcpy(j->key, key, key_len);
	j->key_len = key_len;
	return submit(ex, j);
}

int actor_store_exec_write(actor_store_exec_t *ex, actor_store_op_t *ops, size_t n,
			   actor_store_write_done_t *done, void *arg)
{
	struct job *j;

	if (ex == NULL || (ops == NULL && n > 0) || done == NULL)
		return -EINVAL;
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return -ENOMEM;
	j->write_done = done;
	j->arg = arg;
	j->ops = ops;
	j->n = n;
	return submit(ex, j);
}

/*
 * Timers: one facility for delayed and periodic sends and request timeouts
 * (and, later, idle deactivation). A min-heap ordered by due time, then by id, guarded
 * by a mutex, and one timer thread per system that sleeps on a condition
 * variable until the earliest due time. With no timer pending it sleeps
 * without a time limit, so an idle system stays idle: the workers are never
 * woken to look at timers.
 *
 * Handles: a timer's id is generation << 32 | slot, where the slot is an
 * index into a table of nodes that is reused. The heap holds (due, id)
 * pairs, so sifting never touches the nodes (with a million timers, every
 * node touched is a cache miss). Cancelling is O(1): it frees the node and
 * leaves its heap entry, which the timer thread drops when it comes up
 * because the slot no longer holds that id. The envelope to deliver is made
 * when the timer is set, so firing cannot fail, and the timer thread
 * delivers it like any outside send. Envelopes come from a pool of the
 * facility's own, owned by whoever holds the mutex: malloc'd envelopes,
 * freed by the workers, made glibc's arena lock the bottleneck.
 *
 * A periodic timer keeps its envelope as a template and sends a copy at
 * every tick (a tick whose copy cannot be allocated is skipped). Its next
 * due time is the last one plus the period, not the firing time plus the
 * period, so lateness never accumulates: a late timer thread catches up
 * with the ticks it missed. It stops by itself once a tick finds its
 * target gone.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "sched/internal.h"
#include "util/array.h"

struct timer_node {
	uint64_t id;			/* 0: free */
	actor_ref_t to;
	struct actor__env *env;		/* a periodic timer's template */
	uint64_t period_ns;		/* 0: fires once */
	uint32_t next_free;
};

struct heap_entry {
	uint64_t due_ns;
	uint64_t id;
};

struct actor__timers {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* on CLOCK_MONOTONIC */
	pthread_t thread;
	bool running, stop;
	struct timer_node *nodes;	/* slot table */
	uint32_t nnodes, free_head;	/* free_head: slot + 1, 0 = none */
	size_t cap_nodes;
	struct actor__pool *pool;	/* owned by the holder of lock */
	struct heap_entry *heap;	/* a binary min-heap */
	size_t nheap, cap_heap;
	uint32_t generation;
};

static bool earlier(const struct heap_entry *x, const struct heap_entry *y)
{
	return x->due_ns != y->due_ns ? x->due_ns < y->due_ns : x->id < y->id;
}

static void sift_up(struct heap_entry *h, size_t i)
{
	struct heap_entry e = h[i];

	while (i > 0 && earlier(&e, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static void sift_down(struct heap_entry *h, size_t n, size_t i)
{
	struct heap_entry e = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && earlier(&h[c + 1], &h[c]))
			c++;
		if (!earlier(&h[c], &e))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

static void heap_pop(struct actor__timers *t)
{
	t->heap[0] = t->heap[--t->nheap];
	if (t->nheap != 0)
		sift_down(t->heap, t->nheap, 0);
}

static void node_free(struct actor__timers *t, uint32_t slot)
{
	struct timer_node *n = &t->nodes[slot];

	n->id = 0;
	n->env = NULL;
	n->next_free = t->free_head;
	t->free_head = slot + 1;
}

/* A free slot, growing the table as needed; lock held. */
static int node_alloc(struct actor__timers *t, uint32_t *out)
{
	struct timer_node *nodes;

	if (t->free_head != 0) {
		*out = t->free_head - 1;
		t->free_head = t->nodes[*out].next_free;
		return 0;
	}
	nodes = actor__array_grow(t->nodes, &t->cap_nodes, (size_t)t->nnodes + 1, sizeof(*nodes), 64);
	if (nodes == NULL)
		return -ENOMEM;
	t->nodes = nodes;
	*out = t->nnodes++;
	t->nodes[*out].id = 0;
	return 0;
}

/* Room for one more heap entry; lock held. */
static int heap_reserve(struct actor__timers *t)
{
	struct heap_entry *heap = actor__array_grow(t->heap, &t->cap_heap, t->nheap + 1,
						    sizeof(*heap), 64);

	if (heap == NULL)
		return -ENOMEM;
	t->heap = heap;
	return 0;
}

/* Due timers taken out per lock hold, to be delivered with the lock free. */
#define FIRE_BATCH 256

/* A periodic timer's tick: a copy of its template, and the timer due again
 * one period after this tick's due time; lock held, heap entry popped. */
static struct actor__env *tick(struct actor__timers *t, struct timer_node *n, uint64_t due)
{
	const struct actor__env *tpl = n->env;

	t->heap[t->nheap] = (struct heap_entry){ due + n->period_ns, n->id };
	sift_up(t->heap, t->nheap++);
	return actor__env_make(t->pool, actor__sender_of(tpl), tpl->type, tpl->data, tpl->size, 0,
			       0);
}

static void *timer_main(void *arg)
{
	struct actor_system *sys = arg;
	struct actor__timers *t = sys->timers;
	struct actor__env *env[FIRE_BATCH];
	actor_ref_t to[FIRE_BATCH];
	uint64_t periodic[FIRE_BATCH];	/* the timer's id, or 0: once */

	pthread_setname_np(pthread_self(), "actor-timer");
	/* Linux rounds timed sleeps up by 50 us by default; a timer thread
	 * should wake on time. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		uint64_t now = actor__now_ns();
		size_t n = 0;

		while (n < FIRE_BATCH && t->nheap != 0 && t->heap[0].due_ns <= now) {
			struct heap_entry top = t->heap[0];
			struct timer_node *node = &t->nodes[(uint32_t)top.id];

			heap_pop(t);
			if (node->id != top.id)
				continue;	/* cancelled */
			to[n] = node->to;
			if (node->period_ns != 0) {
				periodic[n] = top.id;
				if ((env[n] = tick(t, node, top.due_ns)) != NULL)
					n++;
			} else {
				periodic[n] = 0;
				env[n++] = node->env;
				node_free(t, (uint32_t)top.id);
			}
		}
		if (n != 0) {
			pthread_mutex_unlock(&t->lock);
			for (size_t i = 0; i < n; i++) {
				int err = actor__deliver(sys, NULL, to[i], env[i]);

				/* Its target is gone: no more ticks. */
				if (periodic[i] != 0 && (err == -ESRCH || err == -EHOSTUNREACH))
					actor__timer_cancel(sys, periodic[i]);
			}
			pthread_mutex_lock(&t->lock);
		} else if (t->nheap == 0) {
			pthread_cond_wait(&t->cond, &t->lock);
		} else {
			struct timespec ts = actor__timespec_of(t->heap[0].due_ns);

			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int actor__timers_init(struct actor_system *sys)
{
	struct actor__timers *t = calloc(1, sizeof(*t));
	pthread_mutexattr_t mattr;

	if (t == NULL)
		return -ENOMEM;
	t->pool = actor__pool_create();
	if (t->pool == NULL) {
		free(t);
		return -ENOMEM;
	}

	/* Adaptive: the setters and the timer thread hold it for a few
	 * hundred nanoseconds, less than a futex round trip. */
	pthread_mutexattr_init(&mattr);
	pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&t->lock, &mattr);
	pthread_mutexattr_destroy(&mattr);
	actor__cond_init_monotonic(&t->cond);
	sys->timers = t;
	if (pthread_create(&t->thread, NULL, timer_main, sys) != 0)
		return -EAGAIN;
	t->running = true;
	return 0;
}

void actor__timers_stop(struct actor_system *sys)
{
	struct actor__timers *t = sys->timers;

	if (t == NULL || !t->running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void actor__timers_free(struct actor_system *sys)
{
	struct actor__timers *t = sys->timers;

	if (t == NULL)
		return;
	actor__timers_stop(sys);
	for (uint32_t slot = 0; slot < t->nnodes; slot++)
		if (t->nodes[slot].id != 0)
			actor__env_free(t->pool, t->nodes[slot].env);
	actor__pool_destroy(t->pool);
	free(t->nodes);
	free(t->heap);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	sys->timers = NULL;
}

static int add(struct actor_system *sys, uint64_t delay_ns, uint64_t period_ns, actor_ref_t to,
	       actor_ref_t sender, uint32_t type, const void *data, size_t size,
	       uint16_t flags, uint32_t request_id, uint64_t *id)
{
	struct actor__timers *t = sys->timers;
	struct actor__env *env = NULL;
	struct timer_node *n;
	uint32_t slot;
	int err;

	pthread_mutex_lock(&t->lock);
	err = heap_reserve(t);
	if (err == 0 && (env = actor__env_make(t->pool, sender, type, data, size, flags,
					       request_id)) == NULL)
		err = -ENOMEM;
	if (err == 0 && (err = node_alloc(t, &slot)) != 0)
		actor__env_free(t->pool, env);
	if (err == 0) {
		n = &t->nodes[slot];
		/* A fresh generation in the high half: a stale handle never
		 * cancels the slot's next timer. Never 0, so no id is 0. */
		if (++t->generation == 0)
			t->generation = 1;
		n->id = (uint64_t)t->generation << 32 | slot;
		n->to = to;
		n->env = env;
		n->period_ns = period_ns;
		t->heap[t->nheap] = (struct heap_entry){ actor__now_ns() + delay_ns, n->id };
		sift_up(t->heap, t->nheap++);
		/* Only a new earliest timer needs the thread to wake earlier. */
		if (t->heap[0].id == n->id)
			pthread_cond_signal(&t->cond);
		*id = n->id;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

int actor__timer_add(struct actor_system *sys, uint64_t delay_ns, actor_ref_t to,
		     actor_ref_t sender, uint32_t type, const void *data, size_t size,
		     uint16_t flags, uint32_t request_id, uint64_t *id)
{
	return add(sys, delay_ns, 0, to, sender, type, data, size, flags, request_id, id);
}

int actor__timer_add_periodic(struct actor_system *sys, uint64_t period_ns, actor_ref_t to,
			      actor_ref_t sender, uint32_t type, const void *data, size_t size,
			      uint64_t *id)
{
	return add(sys, period_ns, period_ns, to, sender, type, data, size, 0, 0, id);
}

int actor__timer_cancel(struct actor_system *sys, uint64_t id)
{
	struct actor__timers *t = sys->timers;
	uint32_t slot = (uint32_t)id;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	if (id != 0 && slot < t->nnodes && t->nodes[slot].id == id) {
		actor__env_free(t->pool, t->nodes[slot].env);
		node_free(t, slot);	/* its heap entry is dropped when it comes up */
		err = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

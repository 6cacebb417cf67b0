/*
 * Timers: one facility for delayed sends (and, later, request timeouts and
 * idle deactivation). A min-heap ordered by due time, then by id, guarded
 * by a mutex, and one timer thread per system that sleeps on a condition
 * variable until the earliest due time. With no timer pending it sleeps
 * without a time limit, so an idle system stays idle: the workers are never
 * woken to look at timers.
 *
 * Handles: a timer's id is generation << 32 | slot, where the slot is an
 * index into a table of nodes that is reused; cancelling looks the slot up,
 * checks the generation and removes the node from the heap by its index, in
 * O(log n). The envelope to deliver is made when the timer is set, so firing
 * cannot fail, and delivered by the timer thread like any outside send.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "sched/internal.h"

struct timer_node {
	uint64_t due_ns;
	uint64_t id;			/* 0: free */
	actor_ref_t to;
	struct actor__env *env;
	size_t heap_index;
	uint32_t next_free;
};

struct actor__timers {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* on CLOCK_MONOTONIC */
	pthread_t thread;
	bool running, stop;
	struct timer_node *nodes;	/* slot table */
	uint32_t nnodes, cap_nodes, free_head;	/* free_head: slot + 1, 0 = none */
	uint32_t *heap;			/* slots, a binary min-heap */
	size_t nheap;
	uint32_t generation;
};

uint64_t actor__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool earlier(const struct actor__timers *t, uint32_t a, uint32_t b)
{
	const struct timer_node *x = &t->nodes[a], *y = &t->nodes[b];

	return x->due_ns != y->due_ns ? x->due_ns < y->due_ns : x->id < y->id;
}

static void heap_set(struct actor__timers *t, size_t i, uint32_t slot)
{
	t->heap[i] = slot;
	t->nodes[slot].heap_index = i;
}

static void sift_up(struct actor__timers *t, size_t i)
{
	uint32_t slot = t->heap[i];

	while (i > 0 && earlier(t, slot, t->heap[(i - 1) / 2])) {
		heap_set(t, i, t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(t, i, slot);
}

static void sift_down(struct actor__timers *t, size_t i)
{
	uint32_t slot = t->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap && earlier(t, t->heap[c + 1], t->heap[c]))
			c++;
		if (!earlier(t, t->heap[c], slot))
			break;
		heap_set(t, i, t->heap[c]);
		i = c;
	}
	heap_set(t, i, slot);
}

static void heap_remove(struct actor__timers *t, size_t i)
{
	t->nheap--;
	if (i == t->nheap)
		return;
	heap_set(t, i, t->heap[t->nheap]);
	if (i > 0 && earlier(t, t->heap[i], t->heap[(i - 1) / 2]))
		sift_up(t, i);
	else
		sift_down(t, i);
}

static void node_free(struct actor__timers *t, uint32_t slot)
{
	struct timer_node *n = &t->nodes[slot];

	n->id = 0;
	n->env = NULL;
	n->next_free = t->free_head;
	t->free_head = slot + 1;
}

/* A free slot, growing the table and the heap as needed; lock held. */
static int node_alloc(struct actor__timers *t, uint32_t *out)
{
	if (t->free_head != 0) {
		*out = t->free_head - 1;
		t->free_head = t->nodes[*out].next_free;
		return 0;
	}
	if (t->nnodes == t->cap_nodes) {
		uint32_t cap = t->cap_nodes ? 2 * t->cap_nodes : 64;
		struct timer_node *nodes = realloc(t->nodes, cap * sizeof(*nodes));
		uint32_t *heap;

		if (nodes == NULL)
			return -ENOMEM;
		t->nodes = nodes;
		heap = realloc(t->heap, cap * sizeof(*heap));
		if (heap == NULL)
			return -ENOMEM;
		t->heap = heap;
		t->cap_nodes = cap;
	}
	*out = t->nnodes++;
	t->nodes[*out].id = 0;
	return 0;
}

static void *timer_main(void *arg)
{
	struct actor_system *sys = arg;
	struct actor__timers *t = sys->timers;

	pthread_setname_np(pthread_self(), "actor-timer");
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		uint64_t now = actor__now_ns();
		struct timer_node *n;
		struct actor__env *env;
		actor_ref_t to;

		if (t->nheap == 0) {
			pthread_cond_wait(&t->cond, &t->lock);
			continue;
		}
		n = &t->nodes[t->heap[0]];
		if (n->due_ns > now) {
			struct timespec ts = { (time_t)(n->due_ns / 1000000000u),
					       (long)(n->due_ns % 1000000000u) };

			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
			continue;
		}
		env = n->env;
		to = n->to;
		heap_remove(t, 0);
		node_free(t, (uint32_t)(n - t->nodes));
		pthread_mutex_unlock(&t->lock);
		actor__deliver(sys, NULL, to, env);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int actor__timers_init(struct actor_system *sys)
{
	struct actor__timers *t = calloc(1, sizeof(*t));
	pthread_condattr_t attr;

	if (t == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &attr);
	pthread_condattr_destroy(&attr);
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
	for (size_t i = 0; i < t->nheap; i++)
		actor__env_free(NULL, t->nodes[t->heap[i]].env);
	free(t->nodes);
	free(t->heap);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	sys->timers = NULL;
}

int actor__timer_add(struct actor_system *sys, uint64_t delay_ns, actor_ref_t to,
		     struct actor__env *env, uint64_t *id)
{
	struct actor__timers *t = sys->timers;
	struct timer_node *n;
	uint32_t slot;
	int err;

	pthread_mutex_lock(&t->lock);
	err = node_alloc(t, &slot);
	if (err == 0) {
		n = &t->nodes[slot];
		/* A fresh generation in the high half: a stale handle never
		 * cancels the slot's next timer. Never 0, so no id is 0. */
		if (++t->generation == 0)
			t->generation = 1;
		n->id = (uint64_t)t->generation << 32 | slot;
		n->due_ns = actor__now_ns() + delay_ns;
		n->to = to;
		n->env = env;
		t->heap[t->nheap] = slot;
		n->heap_index = t->nheap++;
		sift_up(t, n->heap_index);
		/* Only a new earliest timer needs the thread to wake earlier. */
		if (t->heap[0] == slot)
			pthread_cond_signal(&t->cond);
		*id = n->id;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

int actor__timer_cancel(struct actor_system *sys, uint64_t id)
{
	struct actor__timers *t = sys->timers;
	uint32_t slot = (uint32_t)id;
	struct actor__env *env = NULL;

	pthread_mutex_lock(&t->lock);
	if (id != 0 && slot < t->nnodes && t->nodes[slot].id == id) {
		env = t->nodes[slot].env;
		heap_remove(t, t->nodes[slot].heap_index);
		node_free(t, slot);
	}
	pthread_mutex_unlock(&t->lock);
	if (env == NULL)
		return -ENOENT;
	actor__env_free(NULL, env);
	return 0;
}

/*
 * Workers: one thread per core, each with a Chase-Lev deque, a "next" slot
 * and a futex word to park on.
 *
 * Where runnable actors go:
 *  - An actor woken by a send from a worker goes into that worker's next
 *    slot: it runs right after the sender's turn, on a warm cache, and
 *    thieves leave it alone unless the worker has been stuck in one turn
 *    since the thief last looked (a long handler must not hold up the actor
 *    it woke: CAF 0.19 shipped that bug). The actor it displaces goes to the
 *    worker's deque.
 *  - An actor woken from outside the pool, or one that used up its
 *    max_throughput and still has mail, goes to the back of the system's
 *    injection queue, a FIFO that every worker polls.
 *  - A worker takes from its next slot, then its deque (newest first, the
 *    cache-friendly order), then the injection queue; every FAIRNESS_TICKS
 *    turns it takes the oldest work first (the injection queue, then the
 *    top of its own deque), so nothing queued can starve.
 *
 * Idle workers go through CAF's three tiers, then park:
 *  - aggressive: aggressive_polls polls, stealing every
 *    aggressive_steal_interval-th, spinning with a pause in between. Such a
 *    worker is "searching" (counted in sys->nsearching).
 *  - moderate: moderate_polls polls with moderate_sleep_us sleeps between,
 *    stealing every moderate_steal_interval-th.
 *  - relaxed: relaxed_polls polls with relaxed_sleep_us sleeps.
 *  - parked: sleeps until woken.
 * Every sleep is a futex wait that a producer can cut short: unlike CAF's
 * plain sleeps, a worker in any tier wakes within microseconds. A worker
 * parks for good only when every other worker is idle too; while any is
 * busy it keeps polling every relaxed_sleep_us, to steal what a busy worker
 * cannot get to. So an idle process sleeps, and a busy one always has a
 * watcher: a worker that leaves the idle state while all others are parked
 * wakes one of them as soon as it has something that could be stolen.
 *
 * Wake-ups (the Go/Tokio rule): a producer that makes work visible to
 * other workers (deque or injection queue) wakes one sleeping worker, and
 * only when no worker is searching: searchers will find the work. The woken
 * worker starts out searching (the waker counted it), so a burst of sends
 * wakes one worker, not all. A searcher that finds work and was the last
 * searcher wakes another if more work is visible, so parallelism still
 * ramps up. No wake-up is lost: a producer does "publish work; seq_cst
 * fence; read park words", a worker going to sleep does "park word :=
 * SLEEPING; seq_cst fence; look for work", so at least one sees the other.
 * Model of the parking, waking and searching count: tests/spin/park.pml.
 *
 * The driver (seam.h, issue 16): with a node whose transport has one, an
 * idle worker may wait for inbound frames instead of on its futex, so that
 * a frame wakes the thread that will run its actor. One worker at a time
 * holds it (sys->drv_state, a token taken by CAS in sleep_on; the others
 * sleep on their futex as before); the holder's park word is DRIVING, and
 * notify() wakes it through the driver's wake() (an eventfd) instead of
 * the futex, after the same "publish; fence; read park words" handshake.
 * Frames read in the wait are dispatched after the park word is RUNNING
 * again, with w = the holder, so their actors land in its next slot and
 * deque. The aggressive tier also polls the driver as often as it steals.
 * Removal at node stop (seam.c:actor__driver_remove) waits for the holder
 * and for wakers between reading DRIVING and calling wake() (drv_wakers).
 * Model: tests/spin/driver.pml.
 *
 * Pinning: with pin_workers, worker i is bound to the i-th CPU of the
 * creator's mask (sys->cpus), until a driver is installed (seam.c): a
 * node's workers may then run on any CPU of that mask
 * (actor__workers_unpin). A frame's
 * wake-up of the holder comes from the sending thread's send() (through
 * the socket), and a bound holder can only be woken where it is bound:
 * half the hops of a distributed round trip crossed CPUs (an IPI, and on
 * a VM a halted vCPU to wake) and waited behind whatever ran there.
 * Unbound, the kernel runs the woken reader where the wake-up happened or
 * on an idle CPU. Measured on the 2-core VM (epoll, 2 workers per process,
 * medians of 5 interleaved): round trip p50 40 -> 23 us, p99 154 -> 74
 * us; local pingpong and big did not change unbound.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/futex.h"
#include "sched/internal.h"

/*
 * Every FAIRNESS_TICKS turns a worker runs its oldest work first. 8 rather
 * than Tokio's 61: with 8 ping-pong pairs on 2 workers, 61 let a pair hold
 * its worker through its next slot long enough to give the others a p99
 * round trip of 14 us; with 8 it is 2.5 us, at no cost in throughput.
 */
#define FAIRNESS_TICKS 8

/* A busy worker polls the driver (seam.h) every DRIVER_TICKS turns. */
#define DRIVER_TICKS 64

enum sleep_result { SLEPT, WOKEN, WORK_SEEN };

/* --- the injection queue --------------------------------------------- */

static void injection_push(struct actor_system *sys, struct actor__actor *a)
{
	a->next = NULL;
	pthread_mutex_lock(&sys->inj_lock);
	if (sys->inj_tail != NULL)
		sys->inj_tail->next = a;
	else
		sys->inj_head = a;
	sys->inj_tail = a;
	atomic_store_explicit(&sys->inj_len,
			      atomic_load_explicit(&sys->inj_len, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	pthread_mutex_unlock(&sys->inj_lock);
}

static struct actor__actor *injection_pop(struct actor_system *sys)
{
	struct actor__actor *a;

	if (atomic_load_explicit(&sys->inj_len, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&sys->inj_lock);
	a = sys->inj_head;
	if (a != NULL) {
		sys->inj_head = a->next;
		if (sys->inj_head == NULL)
			sys->inj_tail = NULL;
		atomic_store_explicit(&sys->inj_len,
				      atomic_load_explicit(&sys->inj_len, memory_order_relaxed) - 1,
				      memory_order_relaxed);
	}
	pthread_mutex_unlock(&sys->inj_lock);
	return a;
}

/* --- waking ----------------------------------------------------------- */

/* Is there work that a worker other than the caller's next slot could run? */
static bool work_visible(struct actor_system *sys)
{
	if (atomic_load_explicit(&sys->inj_len, memory_order_relaxed) != 0)
		return true;
	for (unsigned i = 0; i < sys->nworkers; i++)
		if (actor__deque_size(&sys->workers[i].dq) != 0)
			return true;
	return false;
}

bool actor__worker_has_work(const struct actor__worker *w)
{
	return w != NULL && (atomic_load_explicit(&w->next, memory_order_relaxed) != NULL ||
			     actor__deque_size(&w->dq) != 0 ||
			     atomic_load_explicit(&w->sys->inj_len, memory_order_relaxed) != 0);
}

/*
 * Wakes w, asleep in the driver's wait (park DRIVING), with `to` (NOTIFIED,
 * or RUNNING at shutdown): true if it was. The driver may be removed once
 * its holder has given it back; a waker counts itself in drv_wakers before
 * it looks at the park word, so the remover (actor__driver_remove) waits
 * for it: the holder sets its park word RUNNING before it gives the driver
 * back, so a waker whose CAS succeeds counted itself before that.
 */
static bool wake_driving(struct actor_system *sys, struct actor__worker *w, uint32_t to)
{
	uint32_t driving = ACTOR__PARK_DRIVING;
	bool woke;

	atomic_fetch_add(&sys->drv_wakers, 1);
	woke = atomic_compare_exchange_strong(&w->park, &driving, to);
	if (woke) {
		struct actor__driver *d = atomic_load_explicit(&sys->driver, memory_order_acquire);

		d->wake(d);
	}
	atomic_fetch_sub(&sys->drv_wakers, 1);
	return woke;
}

/* Wakes w if it sleeps on its futex: true if it did. */
static bool wake_sleeping(struct actor__worker *w)
{
	uint32_t sleeping = ACTOR__PARK_SLEEPING;

	if (!atomic_compare_exchange_strong(&w->park, &sleeping, ACTOR__PARK_NOTIFIED))
		return false;
	actor__futex_wake(&w->park, 1);
	return true;
}

/* Called after publishing work; see the comment at the top. */
static void notify(struct actor_system *sys)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&sys->nsearching, memory_order_relaxed) != 0)
		return;
	for (unsigned i = 0; i < sys->nworkers; i++) {
		struct actor__worker *w = &sys->workers[i];
		uint32_t park = atomic_load_explicit(&w->park, memory_order_relaxed);
		unsigned zero = 0;

		if (park != ACTOR__PARK_SLEEPING && park != ACTOR__PARK_DRIVING)
			continue;
		/* Become the one waker: the woken worker inherits this count. */
		if (!atomic_compare_exchange_strong(&sys->nsearching, &zero, 1))
			return;
		if (park == ACTOR__PARK_DRIVING ? wake_driving(sys, w, ACTOR__PARK_NOTIFIED) :
						  wake_sleeping(w))
			return;
		/* It woke up by itself meanwhile: it will look for work, but
		 * maybe not for work that another notify() published while our
		 * count stood (that one saw a searcher and returned), and it may
		 * have gone back to sleep or to the driver at a worker we passed
		 * (tests/spin/driver.pml with TICK and ITEMS1): look again from
		 * the first. Each round needs a worker that changed its park
		 * word by itself. */
		atomic_fetch_sub(&sys->nsearching, 1);
		i = (unsigned)-1;	/* the loop's i++ makes it 0 */
	}
}

static bool others_parked(struct actor__worker *w);

/* Wakes one worker asleep on its futex, whether or not others search: it
 * is counted as searching, as notify()'s. */
static void wake_parked(struct actor_system *sys)
{
	for (unsigned i = 0; i < sys->nworkers; i++) {
		struct actor__worker *v = &sys->workers[i];

		if (atomic_load_explicit(&v->park, memory_order_relaxed) != ACTOR__PARK_SLEEPING)
			continue;
		atomic_fetch_add(&sys->nsearching, 1);
		if (wake_sleeping(v))
			return;
		atomic_fetch_sub(&sys->nsearching, 1);
	}
}

/* The driver (seam.h), if one is installed and no other worker holds it:
 * then it is the caller's until driver_give(). */
static struct actor__driver *driver_take(struct actor_system *sys)
{
	struct actor__driver *d = atomic_load_explicit(&sys->driver, memory_order_acquire);
	unsigned free = 0;

	if (d == NULL || atomic_load_explicit(&sys->drv_state, memory_order_relaxed) != 0 ||
	    !atomic_compare_exchange_strong_explicit(&sys->drv_state, &free, ACTOR__DRV_HELD,
						     memory_order_acquire, memory_order_relaxed))
		return NULL;
	return d;
}

static void driver_give(struct actor_system *sys, struct actor__driver *d)
{
	if (d != NULL)
		atomic_fetch_and_explicit(&sys->drv_state, ~(unsigned)ACTOR__DRV_HELD,
					  memory_order_release);
}

/* Inbound frames ready now, delivered to w's own queues (the aggressive
 * and moderate tiers): whether any were. */
static bool driver_poll(struct actor__worker *w)
{
	struct actor__driver *d = driver_take(w->sys);
	int n;

	if (d == NULL)
		return false;
	n = d->poll(d, w);
	driver_give(w->sys, d);
	return n > 0;
}

/*
 * Sleeps for up to timeout_us (0: until woken): on the worker's futex, or,
 * if the driver is free, in the driver's wait (park DRIVING), so that an
 * inbound frame wakes this worker and its actor runs here (seam.h).
 * WOKEN means a producer woke us and counted us as searching.
 */
static enum sleep_result sleep_on(struct actor__worker *w, unsigned timeout_us)
{
	struct actor_system *sys = w->sys;
	struct actor__driver *d = driver_take(sys);
	uint32_t was;
	int ready = 0;

	atomic_store_explicit(&w->park, d != NULL ? ACTOR__PARK_DRIVING : ACTOR__PARK_SLEEPING,
			      memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (work_visible(sys) || atomic_load_explicit(&sys->stopping, memory_order_relaxed)) {
		was = atomic_exchange_explicit(&w->park, ACTOR__PARK_RUNNING, memory_order_acquire);
		driver_give(sys, d);
		return was == ACTOR__PARK_NOTIFIED ? WOKEN : WORK_SEEN;
	}
	ACTOR__STAT_INC(w, parks);
	if (d != NULL)
		ready = d->wait(d, timeout_us);
	else
		actor__futex_wait(&w->park, ACTOR__PARK_SLEEPING, timeout_us);
	/* Before the driver is given back: see wake_driving(). */
	was = atomic_exchange_explicit(&w->park, ACTOR__PARK_RUNNING, memory_order_acquire);
	if (ready == 1)
		d->dispatch(d, w);	/* into this worker's next slot and deque */
	driver_give(sys, d);
	/* Off to run actors, maybe one long handler: if every other worker
	 * is parked for good, none would take the driver meanwhile, and mail
	 * for other actors would wait for this one (or the I/O thread's
	 * tick). Wake one to take it, as leave_idle()'s watcher. Not when
	 * what it read left it nothing to run (a heartbeat, handed back to
	 * the I/O thread): it waits again at once, and the woken one went
	 * through the idle tiers for nothing (on every PING: 1-3% of a core
	 * for an idle node with a peer). */
	if (d != NULL &&
	    (was == ACTOR__PARK_NOTIFIED || (ready == 1 && actor__worker_has_work(w))) &&
	    sys->nworkers > 1 && others_parked(w))
		wake_parked(sys);
	if (was != ACTOR__PARK_NOTIFIED)
		return ready == 1 ? WORK_SEEN : SLEPT;
	ACTOR__STAT_INC(w, wakeups);
	return WOKEN;
}

/* --- finding work ----------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The victim's next slot, if the victim has not started a new turn since we
 * last looked: it is stuck in a long handler and cannot run it.
 */
static struct actor__actor *steal_next(struct actor__worker *w, struct actor__worker *v)
{
	uint64_t turns = atomic_load_explicit(&v->turns, memory_order_relaxed);

	if (turns != w->seen_turns[v->id]) {
		w->seen_turns[v->id] = turns;
		return NULL;
	}
	if (atomic_load_explicit(&v->next, memory_order_relaxed) == NULL)
		return NULL;
	return atomic_exchange_explicit(&v->next, NULL, memory_order_acquire);
}

/* One steal attempt on every other worker, from a random one on. */
static struct actor__actor *steal(struct actor__worker *w)
{
	struct actor_system *sys = w->sys;
	unsigned n = sys->nworkers, start;

	if (n < 2)
		return NULL;
	start = (unsigned)(xorshift(&w->rng) % n);
	for (unsigned i = 0; i < n; i++) {
		struct actor__worker *v = &sys->workers[(start + i) % n];
		void *x;

		if (v == w)
			continue;
		ACTOR__STAT_INC(w, steal_attempts);
		x = actor__deque_steal(&v->dq);
		if (x == ACTOR__DEQUE_EMPTY || x == ACTOR__DEQUE_ABORT)
			x = steal_next(w, v);
		if (x != NULL && x != ACTOR__DEQUE_ABORT) {
			ACTOR__STAT_INC(w, steals);
			return x;
		}
	}
	return NULL;
}

/* The worker's own queues, no stealing and no waiting. */
static struct actor__actor *poll_local(struct actor__worker *w)
{
	struct actor__actor *a;

	if (actor__unlikely(++w->tick % FAIRNESS_TICKS == 0)) {
		if ((a = injection_pop(w->sys)) != NULL)
			return a;
		/* The size peek spares the steal's fence when the deque is empty. */
		if (actor__deque_size(&w->dq) != 0) {
			a = actor__deque_steal(&w->dq);
			if (a != ACTOR__DEQUE_EMPTY && a != ACTOR__DEQUE_ABORT)
				return a;
		}
	}
	if (atomic_load_explicit(&w->next, memory_order_relaxed) != NULL &&
	    (a = atomic_exchange_explicit(&w->next, NULL, memory_order_acquire)) != NULL)
		return a;
	if ((a = actor__deque_take(&w->dq)) != NULL)
		return a;
	return injection_pop(w->sys);
}

static struct actor__actor *poll_once(struct actor__worker *w, unsigned i, unsigned steal_every)
{
	struct actor__actor *a = poll_local(w);

	if (a == NULL && steal_every != 0 && i % steal_every == 0)
		a = steal(w);
	return a;
}

/*
 * A searcher found work, or gave up: the last one wakes a successor if
 * work remains. The decrement and the loads in work_visible() are a store-then-load
 * pair against notify()'s "publish; fence; load nsearching": without the
 * fence ARMv8 may satisfy the loads before the decrement is visible, and
 * both sides miss the work until a busy worker or the watcher finds it.
 * No plain data depends on it, so TSan has nothing to see here (DESIGN.md
 * section 7). Model: tests/spin/park.pml.
 */
static void stop_searching(struct actor_system *sys)
{
	if (atomic_fetch_sub(&sys->nsearching, 1) != 1)
		return;
	atomic_thread_fence(memory_order_seq_cst);
	if (work_visible(sys))
		notify(sys);
}

/* Does any worker but w run actors (rather than idle in the tiers)? */
static bool others_busy(struct actor__worker *w)
{
	struct actor_system *sys = w->sys;

	for (unsigned i = 0; i < sys->nworkers; i++)
		if (&sys->workers[i] != w &&
		    !atomic_load_explicit(&sys->workers[i].idle, memory_order_relaxed))
			return true;
	return false;
}

/* Is every worker but w parked for good? */
static bool others_parked(struct actor__worker *w)
{
	struct actor_system *sys = w->sys;

	for (unsigned i = 0; i < sys->nworkers; i++)
		if (&sys->workers[i] != w &&
		    !atomic_load_explicit(&sys->workers[i].parked, memory_order_relaxed))
			return false;
	return true;
}

/*
 * The moderate tier's sleep. Its short sleeps are there to steal from a
 * busy worker; while every other worker idles too there is nothing to
 * steal, and work that appears wakes a sleeper (notify). With a driver
 * (seam.h) that is the state between the frames of a remote round trip
 * and after every heartbeat, and each short sleep's end (the holder's
 * wait, the others' futex) was a context switch: an idle node with a
 * connected peer burnt 3-5% of a core in them. Then the worker sleeps at
 * the relaxed pace, as in the relaxed tier: what it still watches for (a
 * worker stuck in a long turn with an actor in its next slot, frames
 * while the holder runs one) waits relaxed_sleep_us at most, or for the
 * busy worker's driver poll every DRIVER_TICKS turns. Without a driver
 * the tiers are CAF's.
 */
static unsigned moderate_sleep_us(struct actor__worker *w)
{
	const actor_config_t *c = &w->sys->cfg;

	if (atomic_load_explicit(&w->sys->driver, memory_order_relaxed) != NULL && !others_busy(w))
		return c->relaxed_sleep_us;
	return c->moderate_sleep_us;
}

/*
 * The last tier: park for good if every other worker idles too, else keep
 * watching at the relaxed pace. The parked flag and the busy flags form
 * another store; fence; load pair with leave_idle().
 */
static enum sleep_result park(struct actor__worker *w)
{
	enum sleep_result r;

	atomic_store_explicit(&w->parked, true, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (others_busy(w)) {
		atomic_store_explicit(&w->parked, false, memory_order_relaxed);
		return sleep_on(w, w->sys->cfg.relaxed_sleep_us);
	}
	r = sleep_on(w, 0);
	atomic_store_explicit(&w->parked, false, memory_order_relaxed);
	return r;
}

/*
 * w found work. If every other worker is parked for good, the first actor
 * that w puts in its next slot wakes one of them to watch (see
 * actor__schedule): not now, which would put a futex wake between a
 * message and its handler.
 */
static void leave_idle(struct actor__worker *w)
{
	atomic_store_explicit(&w->idle, false, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	w->lonely = w->sys->nworkers > 1 && others_parked(w);
}

/* The idle tiers; returns work, or NULL when the system stops. */
static struct actor__actor *idle(struct actor__worker *w)
{
	struct actor_system *sys = w->sys;
	const actor_config_t *c = &sys->cfg;
	struct actor__actor *a = NULL;
	bool searching = true;

	atomic_store_explicit(&w->idle, true, memory_order_relaxed);
	atomic_fetch_add(&sys->nsearching, 1);
	for (;;) {
		for (unsigned i = 1; i <= c->aggressive_polls; i++) {
			if ((a = poll_once(w, i, c->aggressive_steal_interval)) != NULL)
				goto found;
			/* As often as it steals: a poll is a system call. */
			if (c->aggressive_steal_interval != 0 &&
			    i % c->aggressive_steal_interval == 0 && driver_poll(w) &&
			    (a = poll_local(w)) != NULL)
				goto found;
			actor__cpu_relax();
		}
		if (searching) {
			/* A producer that saw us searching woke nobody: as the
			 * last searcher, look again (tests/spin/park.pml). */
			searching = false;
			stop_searching(sys);
		}
		for (unsigned i = 1; i <= c->moderate_polls; i++) {
			if ((a = poll_once(w, i, c->moderate_steal_interval)) != NULL)
				goto found;
			if (sleep_on(w, moderate_sleep_us(w)) == WOKEN)
				goto woken;
		}
		for (unsigned i = 1; i <= c->relaxed_polls; i++) {
			if ((a = poll_once(w, i, c->relaxed_steal_interval)) != NULL)
				goto found;
			if (sleep_on(w, c->relaxed_sleep_us) == WOKEN)
				goto woken;
		}
		for (;;) {
			if (atomic_load_explicit(&sys->stopping, memory_order_relaxed))
				return NULL;
			if ((a = poll_once(w, 1, c->relaxed_steal_interval)) != NULL)
				goto found;
			if (park(w) == WOKEN)
				goto woken;
		}
woken:
		searching = true;
		if (atomic_load_explicit(&sys->stopping, memory_order_relaxed)) {
			atomic_fetch_sub(&sys->nsearching, 1);
			return NULL;
		}
	}
found:
	if (searching)
		stop_searching(sys);
	leave_idle(w);
	return a;
}

/* --- scheduling -------------------------------------------------------- */

void actor__schedule(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a)
{
	struct actor__actor *displaced;

	if (w == NULL || w->sys != sys) {
		injection_push(sys, a);
		notify(sys);
		return;
	}
	displaced = atomic_exchange_explicit(&w->next, a, memory_order_acq_rel);
	if (actor__unlikely(w->lonely)) {
		w->lonely = false;
		notify(sys);
	}
	if (displaced != NULL) {
		if (actor__deque_push(&w->dq, displaced) != 0)
			injection_push(sys, displaced);	/* out of memory: still runs */
		notify(sys);
	}
}

void actor__yield(struct actor_system *sys, struct actor__actor *a)
{
	injection_push(sys, a);
	notify(sys);
}

bool actor__on_worker(const struct actor_system *sys)
{
	/* Acquire: the thread ids written before each start was counted.
	 * Atomic: a shutdown sets it to 0 while outside threads ask. */
	unsigned n = atomic_load_explicit(&sys->nstarted, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (pthread_equal(sys->workers[i].thread, pthread_self()))
			return true;
	return false;
}

/* --- threads ----------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct actor__worker *w = arg;
	struct actor__actor *a;
	char name[16];

	snprintf(name, sizeof name, "actor-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		/* A busy worker reads inbound mail too, now and then: no idle
		 * worker may be there to wait for it. */
		if (actor__unlikely(w->tick % DRIVER_TICKS == 0) &&
		    atomic_load_explicit(&w->sys->driver, memory_order_relaxed) != NULL)
			driver_poll(w);
		a = poll_local(w);
		if (a == NULL && (a = idle(w)) == NULL)
			break;
		actor__run(w, a);
	}
	return NULL;
}

/* The CPU for worker i: the i-th CPU of set, cyclically. */
static int cpu_for(const cpu_set_t *set, unsigned i)
{
	int n = CPU_COUNT(set), k = 0;

	if (n == 0)
		return -1;
	i %= (unsigned)n;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, set) && (unsigned)k++ == i)
			return cpu;
	return -1;
}

/*
 * Starts w's thread, bound to w->cpu if it has one. The binding comes with
 * the thread (not from the thread itself once it runs), so that
 * actor__workers_unpin() right after the start cannot be undone by a late
 * worker. A CPU we may not use leaves it unbound.
 */
static int start_one(struct actor__worker *w)
{
	pthread_attr_t attr, *ap = NULL;
	cpu_set_t set;
	int err;

	if (w->cpu >= 0 && pthread_attr_init(&attr) == 0) {
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		ap = &attr;
		if (pthread_attr_setaffinity_np(&attr, sizeof set, &set) != 0) {
			pthread_attr_destroy(&attr);
			ap = NULL;
		}
	}
	err = pthread_create(&w->thread, ap, worker_main, w);
	if (ap != NULL) {
		pthread_attr_destroy(ap);
		if (err == EINVAL)
			err = pthread_create(&w->thread, NULL, worker_main, w);
	}
	return -err;
}

int actor__workers_start(struct actor_system *sys)
{
	unsigned i;
	int err = 0;

	if (pthread_mutex_init(&sys->inj_lock, NULL) != 0)
		return -ENOMEM;
	sys->workers = aligned_alloc(ACTOR__CACHELINE, sys->nworkers * sizeof(*sys->workers));
	if (sys->workers == NULL)
		return -ENOMEM;
	memset(sys->workers, 0, sys->nworkers * sizeof(*sys->workers));
	if (sys->cfg.pin_workers && sched_getaffinity(0, sizeof sys->cpus, &sys->cpus) != 0)
		CPU_ZERO(&sys->cpus);	/* no CPU to pin to: none pinned */
	for (i = 0; i < sys->nworkers; i++) {
		struct actor__worker *w = &sys->workers[i];

		*w = (struct actor__worker){ .sys = sys, .id = i, .rng = 0x9e3779b97f4a7c15ull * (i + 1) };
		w->seen_turns = calloc(sys->nworkers, sizeof(*w->seen_turns));
		if (w->seen_turns == NULL)
			return -ENOMEM;
		w->cpu = sys->cfg.pin_workers ? cpu_for(&sys->cpus, i) : -1;
		atomic_init(&w->park, ACTOR__PARK_RUNNING);
		w->pool = actor__pool_create();
		w->dq_ready = actor__deque_init(&w->dq, 256) == 0;
		if (w->pool == NULL || !w->dq_ready)
			return -ENOMEM;
	}
	for (i = 0; i < sys->nworkers && err == 0; i++) {
		err = start_one(&sys->workers[i]);
		if (err == 0)
			atomic_fetch_add_explicit(&sys->nstarted, 1, memory_order_release);
	}
	return err;
}

void actor__workers_unpin(struct actor_system *sys)
{
	unsigned n = atomic_load_explicit(&sys->nstarted, memory_order_acquire);

	if (!sys->cfg.pin_workers || CPU_COUNT(&sys->cpus) == 0)
		return;
	for (unsigned i = 0; i < n; i++)
		pthread_setaffinity_np(sys->workers[i].thread, sizeof sys->cpus, &sys->cpus);
}

void actor__workers_stop(struct actor_system *sys)
{
	atomic_store(&sys->stopping, true);
	if (sys->workers == NULL)
		return;
	for (unsigned i = 0; i < sys->nworkers; i++) {
		uint32_t sleeping = ACTOR__PARK_SLEEPING;

		/* Not NOTIFIED: that would tell the worker it was counted as
		 * searching. One that is not asleep sees stopping before it
		 * sleeps (the same store; load pair as notify's). */
		if (atomic_compare_exchange_strong(&sys->workers[i].park, &sleeping, ACTOR__PARK_RUNNING))
			actor__futex_wake(&sys->workers[i].park, 1);
		else
			wake_driving(sys, &sys->workers[i], ACTOR__PARK_RUNNING);
	}
	for (unsigned i = 0; i < atomic_load(&sys->nstarted); i++)
		pthread_join(sys->workers[i].thread, NULL);
	atomic_store(&sys->nstarted, 0);
}

void actor__workers_free(struct actor_system *sys)
{
	if (sys->workers == NULL)
		return;
	for (unsigned i = 0; i < sys->nworkers; i++) {
		struct actor__worker *w = &sys->workers[i];

		if (w->pool != NULL)
			actor__pool_destroy(w->pool);
		if (w->dq_ready)
			actor__deque_destroy(&w->dq);
		free(w->seen_turns);
	}
	free(sys->workers);
	sys->workers = NULL;
	pthread_mutex_destroy(&sys->inj_lock);
}

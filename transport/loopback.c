/*
 * The loopback transport: systems in one process meet at a hub
 * (struct actor__hub; cluster/ gives it to users as actor_loopback_t)
 * instead of sockets, so tests can build clusters in one
 * process and run them deterministically. Each transport still has its own
 * I/O thread and the same callbacks as TCP; frames move between threads as
 * events in the receiving transport's queue.
 *
 * Simplicity over speed: one mutex (the hub's) guards every queue, and
 * transports and connections stay allocated until the hub is destroyed,
 * so an event can never outlive what it names. A frame that crosses is
 * malloc'd (a copy, if it came from a pool), so it never outlives its
 * owner either: the systems at the two ends can be destroyed in any order.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/transport.h"
#include "util/time.h"

enum ev_kind { EV_ACCEPTED, EV_CONNECTED, EV_FRAME, EV_CLOSED, EV_WRITABLE };

struct lb_event {
	struct lb_event *next;
	enum ev_kind kind;
	struct lb_conn *c;
	struct actor__env *frame;
	int reason;
};

struct lb_conn {
	struct actor__conn_base base;
	struct lb_conn *peer;
	struct lb_conn *all_next;	/* the hub's list */
	bool closed;			/* closed() is queued; hub lock */
	bool gone;			/* owner thread: closed() ran */
	bool above_high;		/* under the hub lock */
	size_t in_flight;		/* bytes sent, not yet delivered; hub lock */
};

struct lb_transport {
	struct actor__transport base;
	struct actor__hub *hub;
	struct lb_transport *all_next;
	pthread_t thread;
	pthread_cond_t cond;		/* with the hub's lock, on CLOCK_MONOTONIC */
	struct lb_event *head, *tail;
	bool woken, stopping, dead;
	char host[64];
	uint16_t port;			/* listening on host:port, or 0 */
};

struct actor__hub {
	pthread_mutex_t lock;
	struct lb_transport *transports;
	struct lb_conn *conns;
	uint16_t next_port;
};

int actor__hub_create(struct actor__hub **out)
{
	struct actor__hub *hub = calloc(1, sizeof(*hub));

	if (hub == NULL)
		return -ENOMEM;
	pthread_mutex_init(&hub->lock, NULL);
	hub->next_port = 1;
	*out = hub;
	return 0;
}

void actor__hub_destroy(struct actor__hub *hub)
{
	if (hub == NULL)
		return;
	for (struct lb_transport *t = hub->transports, *next; t != NULL; t = next) {
		next = t->all_next;
		pthread_cond_destroy(&t->cond);
		free(t);
	}
	for (struct lb_conn *c = hub->conns, *next; c != NULL; c = next) {
		next = c->all_next;
		free(c);
	}
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

static struct lb_transport *owner(const struct lb_conn *c)
{
	return (struct lb_transport *)c->base.t;
}

/* Under the hub lock: queues an event for c's transport. A dead transport's
 * events are dropped (their frames freed). */
static void post(struct lb_conn *c, enum ev_kind kind, struct actor__env *frame, int reason)
{
	struct lb_transport *t = owner(c);
	struct lb_event *ev;

	if (t->dead || (ev = malloc(sizeof(*ev))) == NULL) {
		if (frame != NULL)
			actor__env_free(NULL, frame);
		return;
	}
	*ev = (struct lb_event){ NULL, kind, c, frame, reason };
	if (t->tail != NULL)
		t->tail->next = ev;
	else
		t->head = ev;
	t->tail = ev;
	pthread_cond_signal(&t->cond);
}

static void close_locked(struct lb_conn *c, int reason);

static struct lb_conn *conn_new(struct actor__hub *hub, struct lb_transport *t)
{
	struct lb_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->base.t = &t->base;
	c->all_next = hub->conns;
	hub->conns = c;
	return c;
}

static int lb_listen(struct actor__transport *base, const char *host, uint16_t port,
		     uint16_t *bound)
{
	struct lb_transport *t = (struct lb_transport *)base;
	struct actor__hub *hub = t->hub;
	int err = 0;

	if (strlen(host) >= sizeof t->host)
		return -EINVAL;
	pthread_mutex_lock(&hub->lock);
	if (port == 0)
		port = hub->next_port++;
	for (struct lb_transport *o = hub->transports; o != NULL; o = o->all_next)
		if (!o->dead && o->port == port && strcmp(o->host, host) == 0)
			err = -EADDRINUSE;
	if (err == 0 && t->port != 0)
		err = -EALREADY;
	if (err == 0) {
		strcpy(t->host, host);
		t->port = port;
		*bound = port;
	}
	pthread_mutex_unlock(&hub->lock);
	return err;
}

static int lb_connect(struct actor__transport *base, const char *host, uint16_t port, void *data,
		      struct actor__conn **out)
{
	struct lb_transport *t = (struct lb_transport *)base, *server = NULL;
	struct actor__hub *hub = t->hub;
	struct lb_conn *c, *s = NULL;
	int err = 0;

	pthread_mutex_lock(&hub->lock);
	for (struct lb_transport *o = hub->transports; o != NULL; o = o->all_next)
		if (!o->dead && o->port == port && strcmp(o->host, host) == 0)
			server = o;
	c = conn_new(hub, t);
	if (c != NULL && server != NULL && (s = conn_new(hub, server)) == NULL)
		c->closed = true;	/* leaked to the hub, freed with it */
	if (c == NULL || (server != NULL && s == NULL)) {
		err = -ENOMEM;
	} else {
		c->base.data = data;
		if (server == NULL) {
			post(c, EV_CLOSED, NULL, -ECONNREFUSED);
		} else {
			c->peer = s;
			s->peer = c;
			/* connected() comes before any frame the server sends. */
			post(c, EV_CONNECTED, NULL, 0);
			post(s, EV_ACCEPTED, NULL, 0);
		}
		*out = (struct actor__conn *)c;
	}
	pthread_mutex_unlock(&hub->lock);
	return err;
}

/*
 * The frame itself if it came from malloc, else a copy from malloc: the
 * receiving system frees it, maybe after the sender's envelope pools are
 * gone (issue 11, bug 4). NULL on ENOMEM. The original goes back to its
 * pool from here, the sender's I/O thread, while that pool surely lives.
 */
static struct actor__env *detach(struct actor__env *f)
{
	struct actor__env *copy;

	if (f->owner == NULL)
		return f;
	copy = actor__env_alloc(NULL, f->size);
	if (copy != NULL)
		memcpy(copy->data, f->data, f->size);
	actor__env_free(NULL, f);
	return copy;
}

/* A frame that will never be delivered: told to t's owner, freed. Without
 * the hub lock (the callback may send, and wake a transport). */
static void dropped(struct lb_transport *t, struct lb_conn *c, struct actor__env *f)
{
	const struct actor__transport_cb *cb = &t->base.cb;

	if (cb->dropped != NULL)
		cb->dropped(cb->arg, (struct actor__conn *)c, f);
	actor__env_free(NULL, f);
}

static void lb_send(struct actor__conn *base, struct actor__env **frames, size_t n)
{
	struct lb_conn *c = (struct lb_conn *)base;
	struct actor__hub *hub = owner(c)->hub;
	const struct actor__transport_config *cfg = &c->base.t->cfg;
	bool lost = false;

	size_t ndropped = 0;

	for (size_t i = 0; i < n; i++)
		lost |= (frames[i] = detach(frames[i])) == NULL;
	pthread_mutex_lock(&hub->lock);
	if (lost)	/* a stream with a hole in it is no use */
		close_locked(c, -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		if (frames[i] == NULL)
			continue;
		if (c->closed || c->peer == NULL) {
			frames[ndropped++] = frames[i];	/* told without the lock */
			continue;
		}
		c->in_flight += frames[i]->size;
		post(c->peer, EV_FRAME, frames[i], 0);
	}
	if (c->in_flight >= cfg->high_water)
		c->above_high = true;
	pthread_mutex_unlock(&hub->lock);
	for (size_t i = 0; i < ndropped; i++)
		dropped(owner(c), c, frames[i]);
}

static size_t lb_queued(const struct actor__conn *base)
{
	const struct lb_conn *c = (const struct lb_conn *)base;
	struct actor__hub *hub = owner(c)->hub;
	size_t n;

	pthread_mutex_lock(&hub->lock);
	n = c->in_flight;
	pthread_mutex_unlock(&hub->lock);
	return n;
}

/* Under the hub lock: ends c; its peer learns it as a reset. */
static void close_locked(struct lb_conn *c, int reason)
{
	if (c->closed)
		return;
	c->closed = true;
	post(c, EV_CLOSED, NULL, reason);
	if (c->peer != NULL && !c->peer->closed) {
		c->peer->closed = true;
		post(c->peer, EV_CLOSED, NULL, -ECONNRESET);
	}
}

static void lb_close(struct actor__conn *base, int reason)
{
	struct lb_conn *c = (struct lb_conn *)base;
	struct actor__hub *hub = owner(c)->hub;

	pthread_mutex_lock(&hub->lock);
	close_locked(c, reason);
	pthread_mutex_unlock(&hub->lock);
}

static void lb_wake(struct actor__transport *base)
{
	struct lb_transport *t = (struct lb_transport *)base;

	pthread_mutex_lock(&t->hub->lock);
	t->woken = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->hub->lock);
}

/* Runs one event's callback, without the hub lock. */
static void dispatch(struct lb_transport *t, struct lb_event *ev)
{
	const struct actor__transport_cb *cb = &t->base.cb;
	struct actor__hub *hub = t->hub;
	struct lb_conn *c = ev->c, *sender;
	bool closed;

	/* The peer's thread closes c too (close_locked): read it locked. */
	pthread_mutex_lock(&hub->lock);
	closed = c->closed;
	if (ev->kind == EV_FRAME) {
		sender = c->peer;
		sender->in_flight -= ev->frame->size;
		if (sender->above_high && sender->in_flight < t->base.cfg.low_water) {
			sender->above_high = false;
			if (!sender->closed)
				post(sender, EV_WRITABLE, NULL, 0);
		}
	}
	pthread_mutex_unlock(&hub->lock);
	switch (ev->kind) {
	case EV_ACCEPTED:
		if (!closed)
			cb->accepted(cb->arg, (struct actor__conn *)c);
		break;
	case EV_CONNECTED:
		if (!closed)
			cb->connected(cb->arg, (struct actor__conn *)c);
		break;
	case EV_FRAME:
		if (closed) {
			dropped(t, c, ev->frame);
			break;
		}
		cb->frame(cb->arg, (struct actor__conn *)c,
			  (const unsigned char *)ev->frame->data + ACTOR__FRAME_PREFIX,
			  ev->frame->size - ACTOR__FRAME_PREFIX);
		actor__env_free(NULL, ev->frame);
		break;
	case EV_WRITABLE:
		if (!closed)
			cb->writable(cb->arg, (struct actor__conn *)c);
		break;
	case EV_CLOSED:
		if (!c->gone) {
			c->gone = true;
			cb->closed(cb->arg, (struct actor__conn *)c, ev->reason);
		}
		break;
	}
	free(ev);
}

static void *lb_thread(void *arg)
{
	struct lb_transport *t = arg;
	struct actor__hub *hub = t->hub;
	const struct actor__transport_cb *cb = &t->base.cb;
	uint64_t tick = t->base.cfg.tick_ns;
	uint64_t next = actor__now_ns();

	pthread_mutex_lock(&hub->lock);
	while (!t->stopping || t->head != NULL) {
		uint64_t now = actor__now_ns();

		if (now >= next && !t->stopping) {
			next = now + tick;
			pthread_mutex_unlock(&hub->lock);
			cb->tick(cb->arg);
			pthread_mutex_lock(&hub->lock);
		}
		if (t->woken) {
			t->woken = false;
			pthread_mutex_unlock(&hub->lock);
			cb->woken(cb->arg);
			pthread_mutex_lock(&hub->lock);
		}
		if (t->head != NULL) {
			struct lb_event *ev = t->head;

			if ((t->head = ev->next) == NULL)
				t->tail = NULL;
			pthread_mutex_unlock(&hub->lock);
			dispatch(t, ev);
			pthread_mutex_lock(&hub->lock);
			continue;
		}
		if (!t->stopping && !t->woken) {
			struct timespec until = actor__timespec_of(next);

			pthread_cond_timedwait(&t->cond, &hub->lock, &until);
		}
	}
	t->dead = true;
	pthread_mutex_unlock(&hub->lock);
	return NULL;
}

static void lb_destroy(struct actor__transport *base)
{
	struct lb_transport *t = (struct lb_transport *)base;
	struct actor__hub *hub = t->hub;

	/* Every connection of ours ends with its closed() callback, run by
	 * the thread on its way out. */
	pthread_mutex_lock(&hub->lock);
	t->port = 0;
	for (struct lb_conn *c = hub->conns; c != NULL; c = c->all_next)
		if (owner(c) == t)
			close_locked(c, -ECONNABORTED);
	t->stopping = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&hub->lock);
	pthread_join(t->thread, NULL);
}

static const struct actor__transport_ops lb_ops = {
	.name = "loopback",
	.listen = lb_listen,
	.connect = lb_connect,
	.send = lb_send,
	.queued = lb_queued,
	.close = lb_close,
	.wake = lb_wake,
	.destroy = lb_destroy,
};

int actor__loopback_create(const struct actor__transport_config *cfg,
			   const struct actor__transport_cb *cb, struct actor__transport **out)
{
	struct actor__hub *hub = cfg->hub;
	struct lb_transport *t;
	int err;

	if (hub == NULL)
		return -EINVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->base.ops = &lb_ops;
	t->base.cb = *cb;
	t->base.cfg = *cfg;
	t->hub = hub;
	actor__cond_init_monotonic(&t->cond);
	err = -pthread_create(&t->thread, NULL, lb_thread, t);
	if (err != 0) {
		pthread_cond_destroy(&t->cond);
		free(t);
		return err;
	}
	pthread_setname_np(t->thread, cfg->thread_name != NULL ? cfg->thread_name : "actor-io");
	pthread_mutex_lock(&hub->lock);
	t->all_next = hub->transports;
	hub->transports = t;
	pthread_mutex_unlock(&hub->lock);
	*out = &t->base;
	return 0;
}

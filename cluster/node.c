/*
 * Nodes: the life of a node, its connections and peers, and the public
 * calls. The transport's I/O thread runs every callback here; the public
 * calls that need it queue a command and wake it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/internal.h"

#define MIN_COOKIE 16
#define TICK_MAX_NS (100ull * 1000 * 1000)
#define SWEEP_NS (60ull * 1000 * 1000 * 1000)

void actor_node_config_init(actor_node_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "node";
	cfg->listen_host = "127.0.0.1";
	cfg->heartbeat_interval_ns = 500ull * 1000 * 1000;
	cfg->heartbeat_timeout_ns = 2000ull * 1000 * 1000;
	cfg->handshake_timeout_ns = 5000ull * 1000 * 1000;
	cfg->reconnect_min_ns = 100ull * 1000 * 1000;
	cfg->reconnect_max_ns = 5000ull * 1000 * 1000;
	cfg->max_frame = 4u << 20;
	cfg->max_queued = 65536;
	cfg->max_handshakes = 64;
}

struct actor__node *actor__node_of(const struct actor_system *sys)
{
	return (struct actor__node *)actor__router_of(sys);
}

/* --- peers ----------------------------------------------------------------- */

static size_t peer_home(uint32_t node)
{
	return (size_t)((node * 0x9e3779b97f4a7c15ull) >> 40) & (ACTOR__PEER_TABLE - 1);
}

/* node's slot: the one holding its peer, or the empty one where it would
 * go; NULL when the table is full. */
static _Atomic(struct actor__peer *) *peer_slot(struct actor__node *n, uint32_t node)
{
	for (size_t i = peer_home(node), k = 0; k < ACTOR__PEER_TABLE;
	     i = (i + 1) & (ACTOR__PEER_TABLE - 1), k++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_acquire);

		if (p == NULL || p->node == node)
			return &n->peers[i];
	}
	return NULL;
}

struct actor__peer *actor__peer_find(struct actor__node *n, uint32_t node)
{
	_Atomic(struct actor__peer *) *slot = peer_slot(n, node);

	return slot != NULL ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
}

/* I/O thread: the peer for node, made on first contact; NULL when full. */
static struct actor__peer *peer_get(struct actor__node *n, uint32_t node)
{
	_Atomic(struct actor__peer *) *slot = peer_slot(n, node);
	struct actor__peer *p;

	if (slot == NULL)
		return NULL;
	if ((p = atomic_load_explicit(slot, memory_order_relaxed)) != NULL)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->node = node;
	actor__mbox_init(&p->outq, n->cfg.max_queued);
	actor__route_peer_down(n, p);	/* closed until it is up */
	atomic_store_explicit(slot, p, memory_order_release);
	return p;
}

/* --- sending control frames ------------------------------------------------ */

void actor__node_send_now(struct actor__node *n, struct actor__conn *c,
			  const struct actor__frame *f)
{
	struct actor__env *e = actor__env_alloc(n->pool, ACTOR__CTRL_FRAME_MAX);

	if (e == NULL)
		return;		/* the handshake or heartbeat times out instead */
	e->size = (uint32_t)actor__frame_encode(f, e->data, ACTOR__CTRL_FRAME_MAX);
	n->t->ops->send(c, &e, 1);
}

/* --- connections ------------------------------------------------------------ */

static struct actor__link *link_new(struct actor__node *n, struct actor__conn *c)
{
	struct actor__link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->conn = c;
	l->deadline = actor__now_ns() + n->cfg.handshake_timeout_ns;
	n->handshaking++;
	l->next = n->links;
	if (n->links != NULL)
		n->links->prev = l;
	n->links = l;
	return l;
}

static void link_free(struct actor__node *n, struct actor__link *l)
{
	if (l->state != LINK_UP)
		n->handshaking--;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		n->links = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	free(l);
}

/* Under n->lock: tells a waiting actor_node_connect() how it went. */
static void dial_done(struct actor__node *n, struct actor__link *l, int result)
{
	struct actor__dial *d = l->dial;

	if (d == NULL)
		return;
	l->dial = NULL;
	pthread_mutex_lock(&n->lock);
	if (d->abandoned) {
		free(d);
	} else {
		d->done = true;
		d->result = result;
		d->node = l->peer_node;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

static void node_event(struct actor__node *n, struct actor__peer *p, bool up, int reason)
{
	if (n->cfg.node_event != NULL)
		n->cfg.node_event(n->cfg.node_event_arg, p->node, p->name, up, reason);
}

static void peer_up(struct actor__node *n, struct actor__link *l)
{
	struct actor__peer *p = peer_get(n, l->peer_node);
	uint64_t now = actor__now_ns();

	if (p == NULL) {
		actor__node_log(n, "refused node %08x: too many peers", l->peer_node);
		n->t->ops->close(l->conn, -ENOSPC);
		return;
	}
	if (atomic_load_explicit(&p->up, memory_order_relaxed)) {
		/* Both nodes dialed at once and this one finished second. */
		dial_done(n, l, 0);
		n->t->ops->close(l->conn, -EEXIST);
		return;
	}
	if (l->peer != NULL && l->peer != p)
		l->peer->redial = false;	/* it restarted as p */
	l->state = LINK_UP;
	n->handshaking--;
	l->peer = p;
	memcpy(p->name, l->peer_name, sizeof p->name);
	p->conn = l->conn;
	p->last_heard = p->last_sent = now;
	p->stalled = false;
	if (l->host[0] != '\0') {
		memcpy(p->host, l->host, sizeof p->host);
		p->port = l->port;
		p->redial = n->cfg.reconnect_max_ns != 0;
	}
	p->backoff_ns = n->cfg.reconnect_min_ns;
	actor__mbox_reopen(&p->outq, n->cfg.max_queued);
	atomic_store_explicit(&p->up, true, memory_order_release);
	dial_done(n, l, 0);
	node_event(n, p, true, 0);
}

static void peer_down(struct actor__node *n, struct actor__peer *p, int reason)
{
	uint64_t jitter = p->backoff_ns / 4 * (actor__now_ns() % 1024) / 1024;

	atomic_store_explicit(&p->up, false, memory_order_relaxed);
	p->conn = NULL;
	actor__route_peer_down(n, p);
	atomic_fetch_add_explicit(&n->nodes_down, 1, memory_order_relaxed);
	p->redial_at = actor__now_ns() + p->backoff_ns + jitter;
	node_event(n, p, false, reason);
}

static void on_accepted(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__link *l;

	/* Unauthenticated connections cost memory and time: a bounded number. */
	if (n->handshaking >= n->cfg.max_handshakes) {
		atomic_fetch_add_explicit(&n->handshakes_busy, 1, memory_order_relaxed);
		n->t->ops->close(c, -EBUSY);
		return;
	}
	l = link_new(n, c);
	actor__conn_set_data(c, l);
	if (l == NULL || actor__handshake_begin(n, c, l) != 0)
		n->t->ops->close(c, -ENOMEM);
}

static void on_connected(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__link *l = actor__conn_data(c);

	if (actor__handshake_begin(n, c, l) != 0)
		n->t->ops->close(c, -ENOMEM);
}

static void on_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
	struct actor__node *n = arg;
	struct actor__link *l = actor__conn_data(c);
	struct actor__frame f;
	const char *why = NULL;
	int err;

	if (l == NULL)
		return;		/* closing */
	err = actor__frame_decode(n->decoder, body, len, &f, &why);
	if (err == -EPROTONOSUPPORT && l->state != LINK_UP) {
		actor__node_log_limited(n, "refused a peer speaking protocol version %u (this node speaks %u)",
					f.hello.version, ACTOR__PROTO_VERSION);
		atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
		l->hs.state = HS_FAILED;	/* counted: not a TLS failure in on_closed */
		why = NULL;
	} else if (err == 0 && l->state != LINK_UP) {
		err = actor__handshake_frame(n, c, l, &f);
		if (err == 1)
			peer_up(n, l);
		if (err >= 0)
			return;
		why = NULL;
	} else if (err == 0) {
		l->peer->heard = true;	/* the tick reads the clock, not every frame */
		if (f.kind == ACTOR__F_MSG || f.kind == ACTOR__F_SIGNAL) {
			err = actor__route_inbound(n, l->peer, &f, &why);
			/* Mail only, as frames_out counts it; once delivered. */
			atomic_fetch_add_explicit(&n->bytes_in, len + ACTOR__FRAME_PREFIX,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&n->frames_in, 1, memory_order_release);
		}
		else if (f.kind != ACTOR__F_PING)
			err = -EPROTO, why = "a handshake frame after the handshake";
		if (err == 0)
			return;
	}
	if (why != NULL) {
		actor__node_log_limited(n, "closed the connection to %s: bad frame: %s",
					l->peer_name[0] ? l->peer_name : "a new peer", why);
		atomic_fetch_add_explicit(&n->bad_frames, 1, memory_order_relaxed);
	}
	n->t->ops->close(c, err);
}

static void on_writable(void *arg, struct actor__conn *c)
{
	struct actor__node *n = arg;
	struct actor__link *l = actor__conn_data(c);

	if (l != NULL && l->state == LINK_UP && l->peer->stalled) {
		l->peer->stalled = false;
		actor__route_drain(n, l->peer);
	}
}

static void on_closed(void *arg, struct actor__conn *c, int reason)
{
	struct actor__node *n = arg;
	struct actor__link *l = actor__conn_data(c);

	if (l == NULL)
		return;
	if (reason == -EMSGSIZE) {	/* the transport's verdict on a length prefix */
		actor__node_log_limited(n, "closed the connection to %s: bad frame: length 0 or above %s",
					l->peer_name[0] ? l->peer_name : "a new peer",
					l->state == LINK_UP ? "max_frame" : "the handshake's limit");
		atomic_fetch_add_explicit(&n->bad_frames, 1, memory_order_relaxed);
	}
	/* The transport's verdicts on a TLS handshake (before any frame). */
	if (l->state != LINK_UP && l->hs.state != HS_FAILED &&
	    (reason == -EKEYREJECTED || reason == -EPROTONOSUPPORT)) {
		actor__node_log_limited(n, "closed a connection: TLS handshake failed: %s",
				reason == -EKEYREJECTED ? "a certificate was refused" :
							  "the peer does not speak TLS 1.3");
		atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
	}
	if (l->state == LINK_UP)
		peer_down(n, l->peer, reason);
	else if (l->peer != NULL)	/* a redial that failed */
		l->peer->redial_at = actor__now_ns() + l->peer->backoff_ns;
	if (l->dial != NULL && !actor__handshake_hand_over(n, l)) {	/* it never came up */
		/* Connected already: this node saw it (-EEXIST) or the peer
		 * did and closed at its HELLO. */
		if ((reason == -EEXIST || reason == 0) && l->peer_node != 0 &&
		    l->peer_node != actor__node_id(n->sys) && actor_node_is_up(n->sys, l->peer_node))
			reason = 0;
		else if (reason == 0)
			reason = -ECONNRESET;
		dial_done(n, l, reason);
	}
	link_free(n, l);
}

/* --- commands and timers ----------------------------------------------------- */

static struct actor__link *dial(struct actor__node *n, const char *host, uint16_t port)
{
	struct actor__conn *c;
	struct actor__link *l;
	int err;

	err = n->t->ops->connect(n->t, host, port, NULL, &c);
	if (err != 0)
		return NULL;
	if ((l = link_new(n, c)) == NULL) {
		n->t->ops->close(c, -ENOMEM);
		return NULL;
	}
	actor__conn_set_data(c, l);
	snprintf(l->host, sizeof l->host, "%s", host);
	l->port = port;
	return l;
}

static void run_commands(struct actor__node *n)
{
	struct actor__dial *dials;
	uint32_t *drop;
	size_t ndrop;

	pthread_mutex_lock(&n->lock);
	dials = n->dials;
	n->dials = NULL;
	drop = n->disconnects;
	ndrop = n->ndisconnects;
	n->disconnects = NULL;
	n->ndisconnects = n->disconnects_cap = 0;
	pthread_mutex_unlock(&n->lock);

	while (dials != NULL) {
		struct actor__dial *d = dials;
		struct actor__link *l = dial(n, d->host, d->port);

		dials = d->next;
		if (l != NULL) {
			l->dial = d;
			continue;
		}
		pthread_mutex_lock(&n->lock);
		if (d->abandoned) {
			free(d);
		} else {
			d->done = true;
			d->result = -ECONNREFUSED;
			pthread_cond_broadcast(&n->cond);
		}
		pthread_mutex_unlock(&n->lock);
	}
	for (size_t i = 0; i < ndrop; i++) {
		struct actor__peer *p = actor__peer_find(n, drop[i]);

		if (p == NULL)
			continue;
		p->redial = false;
		if (p->conn != NULL)
			n->t->ops->close(p->conn, -ECONNABORTED);
	}
	free(drop);
}

static void on_woken(void *arg)
{
	struct actor__node *n = arg;

	run_commands(n);
	actor__route_flush(n);
}

static void heartbeat(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__frame ping = { .kind = ACTOR__F_PING };

	if (p->heard) {
		p->heard = false;
		p->last_heard = now;
	}
	if (now - p->last_heard > n->cfg.heartbeat_timeout_ns) {
		actor__node_log(n, "node %08x (%s) missed its heartbeats: down", p->node, p->name);
		n->t->ops->close(p->conn, -ETIMEDOUT);
	} else if (now - p->last_sent >= n->cfg.heartbeat_interval_ns) {
		actor__node_send_now(n, p->conn, &ping);
		p->last_sent = now;
	}
}

static void redial(struct actor__node *n, struct actor__peer *p, uint64_t now)
{
	struct actor__link *l;

	for (l = n->links; l != NULL; l = l->next)
		if (l->peer == p)
			return;		/* a try is under way */
	p->backoff_ns = p->backoff_ns * 2 > n->cfg.reconnect_max_ns ? n->cfg.reconnect_max_ns :
								       p->backoff_ns * 2;
	p->redial_at = now + p->backoff_ns;
	if ((l = dial(n, p->host, p->port)) != NULL)
		l->peer = p;
}

static void on_tick(void *arg)
{
	struct actor__node *n = arg;
	uint64_t now = actor__now_ns();
	bool sweep = now - n->last_sweep > SWEEP_NS;

	for (struct actor__link *l = n->links, *next; l != NULL; l = next) {
		next = l->next;
		if (l->state != LINK_UP && now > l->deadline) {
			actor__node_log_limited(n, "closed a connection: handshake timed out");
			n->t->ops->close(l->conn, -ETIMEDOUT);
		}
	}
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_relaxed);

		if (p == NULL)
			continue;
		if (p->conn != NULL)
			heartbeat(n, p, now);
		else if (p->redial && now >= p->redial_at)
			redial(n, p, now);
		if (sweep)
			actor__route_expire(n, p, now);
	}
	if (sweep)
		n->last_sweep = now;
	actor__route_tick(n);
	actor__node_log_tick(n, now);
}

/* --- the router's life ------------------------------------------------------- */

static void node_stop(struct actor__router *r)
{
	struct actor__node *n = (struct actor__node *)r;

	pthread_mutex_lock(&n->lock);
	n->stopped = true;
	pthread_mutex_unlock(&n->lock);
	/* Closes every connection: each peer goes down, failing what waits. */
	n->t->ops->destroy(n->t);
	n->t = NULL;
	/* Dials the I/O thread never took fail now, not at their timeout. */
	pthread_mutex_lock(&n->lock);
	for (struct actor__dial *d = n->dials, *next; d != NULL; d = next) {
		next = d->next;
		if (d->abandoned) {
			free(d);
		} else {
			d->done = true;
			d->result = -ESHUTDOWN;
		}
	}
	n->dials = NULL;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void node_free(struct actor__router *r)
{
	struct actor__node *n = (struct actor__node *)r;

	if (n->t != NULL)
		node_stop(r);
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_relaxed);

		if (p == NULL)
			continue;
		actor__track_free(&p->track);
		free(p);
	}
	for (struct actor__dial *d = n->dials, *next; d != NULL; d = next) {
		next = d->next;
		free(d);
	}
	free(n->disconnects);
	if (n->decoder != NULL)
		actor__frame_decoder_destroy(n->decoder);
	if (n->pool != NULL)
		actor__pool_destroy(n->pool);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n->cookie);
	free(n);
}

static int node_check(const actor_node_config_t *cfg)
{
	int tls = (cfg->tls_ca_file != NULL) + (cfg->tls_cert_file != NULL) +
		  (cfg->tls_key_file != NULL);

	/* TLS is all or nothing, and for TCP only. */
	if (tls != 0 && (tls != 3 || (cfg->transport != NULL &&
				      strcmp(cfg->transport, "loopback") == 0)))
		return -EINVAL;
	if (cfg->cookie == NULL || cfg->cookie_len < MIN_COOKIE || cfg->name == NULL ||
	    cfg->name[0] == '\0' || strlen(cfg->name) > ACTOR__NODE_NAME_MAX ||
	    cfg->heartbeat_interval_ns == 0 ||
	    cfg->heartbeat_timeout_ns <= cfg->heartbeat_interval_ns ||
	    cfg->handshake_timeout_ns == 0 || cfg->max_frame < 1024 || cfg->max_queued == 0 ||
	    cfg->reconnect_min_ns == 0 || cfg->reconnect_max_ns > UINT64_MAX / 4 ||
	    cfg->max_handshakes == 0)
		return -EINVAL;
	if (!cfg->no_listen && cfg->listen_host == NULL)
		return -EINVAL;
	return 0;
}

int actor_node_start(actor_system_t *sys, const actor_node_config_t *cfg)
{
	struct actor__transport_config tc = { 0 };
	struct actor__transport_cb cb = {
		.accepted = on_accepted, .connected = on_connected, .frame = on_frame,
		.writable = on_writable, .closed = on_closed, .tick = on_tick, .woken = on_woken,
	};
	pthread_condattr_t cattr;
	struct actor__node *n;
	int err;

	if ((err = node_check(cfg)) != 0)
		return err;
	if ((err = actor__transport_kind_of(cfg->transport, &tc.kind)) != 0)
		return err;
	if (actor__system_closing(sys))
		return -ESHUTDOWN;
	if (actor__router_of(sys) != NULL)
		return -EALREADY;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -ENOMEM;
	n->router = (struct actor__router){ actor__route, node_stop, node_free };
	n->sys = sys;
	n->cfg = *cfg;
	n->cfg.name = NULL;
	pthread_mutex_init(&n->lock, NULL);
	/* A waiting actor_node_connect() must not care if the clock is set. */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	n->cookie = malloc(cfg->cookie_len + strlen(cfg->name) + 1);
	n->pool = actor__pool_create();
	n->decoder = actor__frame_decoder_create();
	if (n->cookie == NULL || n->pool == NULL || n->decoder == NULL) {
		node_free(&n->router);
		return -ENOMEM;
	}
	memcpy(n->cookie, cfg->cookie, cfg->cookie_len);
	n->cfg.name = strcpy((char *)n->cookie + cfg->cookie_len, cfg->name);
	n->cfg.cookie = n->cookie;
	n->last_sweep = actor__now_ns();

	tc.max_frame = cfg->max_frame;
	tc.high_water = 1u << 20;
	tc.low_water = 256u << 10;
	tc.tick_ns = cfg->heartbeat_interval_ns / 2 < TICK_MAX_NS ? cfg->heartbeat_interval_ns / 2 :
								     TICK_MAX_NS;
	tc.hub = cfg->loopback != NULL ? cfg->loopback->hub : NULL;
	tc.tls_ca = cfg->tls_ca_file;
	tc.tls_cert = cfg->tls_cert_file;
	tc.tls_key = cfg->tls_key_file;
	tc.thread_name = "actor-io";
	cb.arg = n;
	err = actor__transport_create(&tc, &cb, &n->t);
	if (err == 0 && !cfg->no_listen)
		err = n->t->ops->listen(n->t, cfg->listen_host, cfg->listen_port, &n->port);
	if (err == 0)
		err = actor__router_install(sys, &n->router);
	if (err != 0) {
		node_free(&n->router);
		return err;
	}
	return 0;
}

uint32_t actor_node_id(const actor_system_t *sys)
{
	return actor__node_id(sys);
}

int actor_node_port(const actor_system_t *sys)
{
	const struct actor__node *n = actor__node_of(sys);

	return n != NULL && n->port != 0 ? n->port : -ENOTCONN;
}

int actor_node_connect(actor_system_t *sys, const char *host, uint16_t port,
		       uint64_t timeout_ns, uint32_t *node)
{
	struct actor__node *n = actor__node_of(sys);
	struct actor__dial *d;
	struct timespec until;
	uint64_t deadline;
	int err = 0;

	if (n == NULL)
		return -ENOTCONN;
	if (host == NULL || strlen(host) >= sizeof d->host || timeout_ns == 0)
		return -EINVAL;
	if (actor__on_worker(sys))
		return -EDEADLK;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	strcpy(d->host, host);
	d->port = port;
	deadline = actor__now_ns() + timeout_ns;	/* the monotonic clock, as n->cond's */
	until.tv_sec = (time_t)(deadline / 1000000000ull);
	until.tv_nsec = (long)(deadline % 1000000000ull);

	pthread_mutex_lock(&n->lock);
	if (n->stopped) {
		pthread_mutex_unlock(&n->lock);
		free(d);
		return -ESHUTDOWN;
	}
	d->next = n->dials;
	n->dials = d;
	/* Under the lock: node_stop destroys the transport only once it has
	 * set stopped under it. */
	n->t->ops->wake(n->t);
	while (!d->done && err == 0)
		err = pthread_cond_timedwait(&n->cond, &n->lock, &until);
	if (!d->done) {
		d->abandoned = true;	/* the I/O thread frees it */
		pthread_mutex_unlock(&n->lock);
		return -ETIMEDOUT;
	}
	pthread_mutex_unlock(&n->lock);
	err = d->result;
	if (err == 0 && node != NULL)
		*node = d->node;
	free(d);
	return err;
}

int actor_node_disconnect(actor_system_t *sys, uint32_t node)
{
	struct actor__node *n = actor__node_of(sys);
	int err = 0;

	if (n == NULL)
		return -ENOTCONN;
	if (actor__peer_find(n, node) == NULL)
		return -ENOENT;
	pthread_mutex_lock(&n->lock);
	if (n->stopped)
		err = -ESHUTDOWN;	/* and no transport to wake */
	else if (n->ndisconnects == n->disconnects_cap) {
		size_t cap = n->disconnects_cap ? 2 * n->disconnects_cap : 4;
		uint32_t *v = realloc(n->disconnects, cap * sizeof(*v));

		if (v == NULL)
			err = -ENOMEM;
		else
			n->disconnects = v, n->disconnects_cap = cap;
	}
	if (err == 0) {
		n->disconnects[n->ndisconnects++] = node;
		n->t->ops->wake(n->t);	/* under the lock, as in connect */
	}
	pthread_mutex_unlock(&n->lock);
	return err;
}

bool actor_node_is_up(const actor_system_t *sys, uint32_t node)
{
	struct actor__node *n = actor__node_of(sys);
	struct actor__peer *p;

	if (node == 0 || node == actor__node_id(sys))
		return true;
	p = n != NULL ? actor__peer_find(n, node) : NULL;
	return p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed);
}

int actor_node_whereis(actor_system_t *sys, uint32_t node, const char *name,
		       uint64_t timeout_ns, actor_ref_t *out)
{
	void *reply = NULL;
	size_t size = 0;
	uint32_t type, ref_node;
	uint64_t id;
	int err;

	if (name == NULL || strlen(name) > ACTOR__NODE_NAME_MAX || out == NULL)
		return -EINVAL;
	err = actor_system_ask(sys, actor_node_ref(node), ACTOR_MSG_WHEREIS, name, strlen(name),
			       timeout_ns, &type, &reply, &size);
	if (err == 0 && (type != ACTOR_MSG_WHEREIS ||
			 actor__frame_ref_decode(reply, size, &id, &ref_node) != 0))
		err = -EBADMSG;
	if (err == 0)
		*out = (actor_ref_t){ .id = id, .node = ref_node };
	free(reply);
	if (err == 0 && actor_ref_is_none(*out))
		err = -ENOENT;
	return err;
}

int actor_node_stats(const actor_system_t *sys, actor_node_stats_t *out)
{
	struct actor__node *n = actor__node_of(sys);

	if (n == NULL)
		return -ENOTCONN;
	memset(out, 0, sizeof(*out));
	out->frames_out = atomic_load_explicit(&n->frames_out, memory_order_relaxed);
	out->frames_in = atomic_load_explicit(&n->frames_in, memory_order_relaxed);
	out->bytes_out = atomic_load_explicit(&n->bytes_out, memory_order_relaxed);
	out->bytes_in = atomic_load_explicit(&n->bytes_in, memory_order_relaxed);
	out->nodes_down = atomic_load_explicit(&n->nodes_down, memory_order_relaxed);
	out->refused = atomic_load_explicit(&n->refused, memory_order_relaxed);
	out->bad_frames = atomic_load_explicit(&n->bad_frames, memory_order_relaxed);
	out->queue_full = atomic_load_explicit(&n->queue_full, memory_order_relaxed);
	out->handshakes_busy = atomic_load_explicit(&n->handshakes_busy, memory_order_relaxed);
	out->log_suppressed = atomic_load_explicit(&n->log_suppressed, memory_order_relaxed);
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = atomic_load_explicit(&n->peers[i], memory_order_relaxed);

		if (p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed))
			out->peers_up++;
	}
	return 0;
}

/*
 * Nodes: the life of a node (start, stop at shutdown, free at destroy) and
 * the public actor_node_* calls. The calls that need the I/O thread queue
 * a command under n->lock and wake it (io.c runs the commands).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/internal.h"
#include "util/array.h"
#include "util/time.h"

#define MIN_COOKIE 16

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
	cfg->member_probe_interval_ns = 1000ull * 1000 * 1000;
	cfg->member_suspect_ns = 3000ull * 1000 * 1000;
	cfg->member_dead_ns = 5000ull * 1000 * 1000;
	cfg->member_fence_ns = 4000ull * 1000 * 1000;
	cfg->member_takeover_margin_ns = 5000ull * 1000 * 1000;
}

struct actor__node *actor__node_of(const struct actor_system *sys)
{
	return (struct actor__node *)actor__router_of(sys);
}

static void node_stop(struct actor__router *r)
{
	struct actor__node *n = (struct actor__node *)r;

	/* No worker waits in the transport or reads it from here on. */
	actor__drive_stop(n);
	pthread_mutex_lock(&n->lock);
	n->stopped = true;
	pthread_mutex_unlock(&n->lock);
	actor__member_stop(n);
	/* Threads that are not workers (a store's, the timer, the user's)
	 * may still route: once they see closing they take no peer, and
	 * those that took one before have left their read sections when
	 * both counts are 0 (seq_cst, as in peer.c), so none touches the
	 * transport once it is gone. */
	atomic_store_explicit(&n->closing, true, memory_order_seq_cst);
	while (atomic_load_explicit(&n->peer_readers[0], memory_order_seq_cst) != 0 ||
	       atomic_load_explicit(&n->peer_readers[1], memory_order_seq_cst) != 0)
		sched_yield();
	/* Closes every connection: each peer goes down, failing what waits. */
	n->t->ops->destroy(n->t);
	n->t = NULL;
	/* Mail that waited for members that never came up is lost, counted
	 * (now that the I/O thread is gone: the peers are this thread's; no
	 * peer has a connection, so the release's flush drains nothing). */
	actor__peers_release(n);
	/* Dials the I/O thread never took fail now, not at their timeout. */
	pthread_mutex_lock(&n->lock);
	for (struct actor__dial *d = n->dials, *next; d != NULL; d = next) {
		next = d->next;
		actor__dial_end(d, -ESHUTDOWN, 0);
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
		struct actor__peer *p = actor__peer_at(n, i);

		if (p == NULL)
			continue;
		actor__htab_free(&p->track);
		free(p);
	}
	actor__peers_reclaim(n, true);
	actor__member_free(n);
	for (struct actor__dial *d = n->dials, *next; d != NULL; d = next) {
		next = d->next;
		free(d);
	}
	free(n->disconnects);
	if (n->decoder != NULL)
		actor__frame_decoder_destroy(n->decoder);
	if (n->lost_decoder != NULL)
		actor__frame_decoder_destroy(n->lost_decoder);
	if (n->drv_decoder != NULL)
		actor__frame_decoder_destroy(n->drv_decoder);
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
	struct actor__transport_cb cb;
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
	actor__list_init(&n->sessions);
	pthread_mutex_init(&n->lock, NULL);
	/* A waiting actor_node_connect() must not care if the clock is set. */
	actor__cond_init_monotonic(&n->cond);
	n->cookie = malloc(cfg->cookie_len + strlen(cfg->name) + 1);
	n->pool = actor__pool_create();
	n->decoder = actor__frame_decoder_create();
	n->lost_decoder = actor__frame_decoder_create();
	if (n->cookie == NULL || n->pool == NULL || n->decoder == NULL || n->lost_decoder == NULL) {
		node_free(&n->router);
		return -ENOMEM;
	}
	memcpy(n->cookie, cfg->cookie, cfg->cookie_len);
	n->cfg.name = strcpy((char *)n->cookie + cfg->cookie_len, cfg->name);
	n->cfg.cookie = n->cookie;
	n->cfg.seeds = NULL;	/* copied into n->member */
	n->cfg.nseeds = 0;
	n->cfg.advertise_host = NULL;
	n->last_sweep = actor__now_ns();
	if ((err = actor__member_create(n, cfg)) != 0) {
		node_free(&n->router);
		return err;
	}

	tc.max_frame = cfg->max_frame;
	tc.high_water = 1u << 20;
	tc.low_water = 256u << 10;
	tc.tick_ns = actor__member_tick_ns(cfg);
	tc.hub = cfg->loopback != NULL ? cfg->loopback->hub : NULL;
	tc.tls_ca = cfg->tls_ca_file;
	tc.tls_cert = cfg->tls_cert_file;
	tc.tls_key = cfg->tls_key_file;
	tc.thread_name = "actor-io";
	cb = actor__node_callbacks(n);
	err = actor__transport_create(&tc, &cb, &n->t);
	if (err == 0 && !cfg->no_listen)
		err = n->t->ops->listen(n->t, cfg->listen_host, cfg->listen_port, &n->port);
	if (err == 0)	/* the first view, {this node}, before anyone can see the node */
		actor__member_begin(n);
	if (err == 0)
		err = actor__router_install(sys, &n->router);
	if (err != 0) {
		node_free(&n->router);
		return err;
	}
	/* After the router: nothing is driven before a peer is up. If it
	 * fails, the node works as with no_worker_io. */
	if (actor__drive_start(n) != 0)
		n->driving = false;
	actor__member_installed(n);
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

void actor__dial_end(struct actor__dial *d, int result, uint32_t node)
{
	if (d->abandoned) {
		free(d);	/* actor_node_connect() timed out: it is ours */
	} else {
		d->done = true;
		d->result = result;
		d->node = node;
	}
}

int actor_node_connect(actor_system_t *sys, const char *host, uint16_t port,
		       uint64_t timeout_ns, uint32_t *node)
{
	struct actor__node *n = actor__node_of(sys);
	struct actor__dial *d;
	struct timespec until;
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
	/* The monotonic clock, as n->cond's. */
	until = actor__timespec_of(actor__now_ns() + timeout_ns);

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
	uint32_t *v;
	int err = 0;

	unsigned s;
	bool known;

	if (n == NULL)
		return -ENOTCONN;
	s = actor__peer_enter(n);
	known = actor__peer_find(n, node) != NULL;
	actor__peer_exit(n, s);
	if (!known)
		return -ENOENT;
	pthread_mutex_lock(&n->lock);
	if (n->stopped)
		err = -ESHUTDOWN;	/* and no transport to wake */
	else if ((v = actor__array_grow(n->disconnects, &n->disconnects_cap, n->ndisconnects + 1,
					sizeof(*v), 4)) == NULL)
		err = -ENOMEM;
	else
		n->disconnects = v;
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
	unsigned s;
	bool up;

	if (node == 0 || node == actor__node_id(sys))
		return true;
	if (n == NULL)
		return false;
	s = actor__peer_enter(n);
	p = actor__peer_find(n, node);
	up = p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed);
	actor__peer_exit(n, s);
	return up;
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
	unsigned s;

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
	out->frames_lost = atomic_load_explicit(&n->frames_lost, memory_order_relaxed);
	out->handshakes_busy = atomic_load_explicit(&n->handshakes_busy, memory_order_relaxed);
	out->log_suppressed = atomic_load_explicit(&n->log_suppressed, memory_order_relaxed);
	out->peers_known = atomic_load_explicit(&n->peers_known, memory_order_relaxed);
	out->peers_forgotten = atomic_load_explicit(&n->peers_forgotten, memory_order_relaxed);
	s = actor__peer_enter(n);
	for (size_t i = 0; i < ACTOR__PEER_TABLE; i++) {
		struct actor__peer *p = actor__peer_at(n, i);
		uint64_t frames, bytes;

		if (p == NULL)
			continue;
		if (atomic_load_explicit(&p->up, memory_order_relaxed))
			out->peers_up++;
		actor__route_queued(p, &frames, &bytes);
		out->queued_frames += frames;
		out->queued_bytes += bytes;
	}
	actor__peer_exit(n, s);
	return 0;
}

int actor_node_peer_stats(const actor_system_t *sys, uint32_t node, actor_node_peer_stats_t *out)
{
	struct actor__node *n = actor__node_of(sys);
	struct actor__peer *p;
	unsigned s;

	if (n == NULL)
		return -ENOTCONN;
	if (out == NULL)
		return -EINVAL;
	s = actor__peer_enter(n);
	if ((p = actor__peer_find(n, node)) != NULL) {
		memset(out, 0, sizeof(*out));
		out->up = atomic_load_explicit(&p->up, memory_order_relaxed);
		actor__route_queued(p, &out->queued_frames, &out->queued_bytes);
	}
	actor__peer_exit(n, s);
	return p != NULL ? 0 : -ENOENT;
}

/*
 * bench/pingpong (DESIGN.md section 5): P pairs; in each, a pinger sends a
 * ping with an S-byte payload and the ponger answers with a pong carrying
 * the same payload, R times, one round trip in flight per pair. Reports
 * messages/s (2 per round trip) and the round-trip latency the pinger sees
 * (from one pong to the next), as the CAF and Erlang peers do.
 *
 * --mode request makes each ping a request (actor_request) and each pong
 * its reply (actor_reply), run through the requester's continuation.
 *
 * --mode distributed puts the pongers in a second node process (forked, on
 * 127.0.0.1; or started by hand with --role server and --role client): the
 * server registers them as "ponger.<i>", the client looks them up with
 * actor_node_whereis and its pingers ping them over TCP (bench/dist.h).
 * --mode distributed-request does so with requests and replies.
 *
 * --mode virtual (one process): each ponger is a virtual actor, type
 * "ponger", key "p<i>", activated by the first ping; pingers address it by
 * its virtual reference (include/actor/virtual.h).
 *
 * --mode virtual --nodes M (M >= 2): the pongers are virtual actors on a
 * cluster (bench/dist.h's members): nodes 1 .. M-1 host type "ponger" and
 * placement spreads the keys over them; the pingers are on node 0, which
 * hosts no ponger, so every ping crosses the network as in the
 * distributed mode. Each key is activated (one request) before the clock
 * starts.
 *
 * --mode stream (distributed) or --stream (either mode): each pinger sends R
 * messages of S bytes one way without waiting; its ponger counts them and
 * answers once, after the last. A send refused with -EAGAIN (the peer's
 * queue is full) is retried later from a self-message, then with
 * actor_send_after and a growing delay. Reports messages/s (R per pair).
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"
#include "bench/dist.h"

enum { START = 1, PING, PONG, DATA, LAST, DONE, RESUME };
enum op { OP_SEND, OP_REQUEST, OP_STREAM };

/* Stream: sends per turn before yielding; -EAGAIN retries by self-message
 * before the pinger backs off with timers; how long no progress is allowed. */
#define STREAM_BATCH 256
#define STREAM_YIELDS 8
#define STREAM_BACKOFF_MIN_NS 20000ull
#define STREAM_BACKOFF_MAX_NS 1000000ull
#define STREAM_STUCK_NS (30ull * 1000 * 1000 * 1000)

struct pair {
	actor_ref_t ponger;
	long long rounds;
	size_t size;
	enum op op;
	uint32_t *lat;		/* this pair's samples */
	sem_t *done;
	long long eagain;	/* stream: sends refused with -EAGAIN */
};

struct pinger {
	struct pair *p;
	long long left;
	uint64_t last;
	unsigned char *payload;
	/* stream */
	long long sent;
	unsigned retries;
	uint64_t backoff_ns, stuck_since;
};

static int pinger_init(actor_ctx_t *ctx, void *arg)
{
	struct pinger *s = actor_self_state(ctx);

	s->p = arg;
	s->left = s->p->rounds;
	s->payload = calloc(1, s->p->size + 1);
	return s->payload != NULL ? 0 : -ENOMEM;
}

static void pinger_cleanup(actor_ctx_t *ctx)
{
	struct pinger *s = actor_self_state(ctx);

	free(s->payload);
}

static void on_pong(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg);

static void ping(actor_ctx_t *ctx, struct pinger *s)
{
	int err;

	if (s->p->op == OP_REQUEST)
		err = actor_request(ctx, s->p->ponger, PING, s->payload, s->p->size, 0, on_pong,
				    NULL);
	else
		err = actor_send(ctx, s->p->ponger, PING, s->payload, s->p->size);
	if (err < 0)
		bench_die("pingpong: ping: %s", strerror(-err));
}

/* A pong (or a reply): record the round trip, go on or finish. */
static void on_pong(actor_ctx_t *ctx, const actor_msg_t *m, int error, void *arg)
{
	struct pinger *s = actor_self_state(ctx);
	uint64_t now = bench_now_ns();

	(void)arg;
	if (error != 0 || actor_msg_size(m) != s->p->size)
		bench_die("pingpong: bad pong");
	s->p->lat[s->p->rounds - s->left] =
		(uint32_t)(now - s->last < UINT32_MAX ? now - s->last : UINT32_MAX);
	s->last = now;
	if (--s->left > 0) {
		ping(ctx, s);
	} else {
		sem_post(s->p->done);
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
	}
}

/* Stream: send until the batch is done or the queue is full, then yield. */
static void stream(actor_ctx_t *ctx, struct pinger *s)
{
	const struct pair *p = s->p;

	for (int k = 0; k < STREAM_BATCH && s->sent < p->rounds; k++) {
		int err = actor_send(ctx, p->ponger, s->sent + 1 == p->rounds ? LAST : DATA,
				     s->payload, p->size);

		if (err == -EAGAIN) {
			uint64_t now = bench_now_ns();

			s->p->eagain++;
			if (s->retries == 0)
				s->stuck_since = now;
			else if (now - s->stuck_since > STREAM_STUCK_NS)
				bench_die("pingpong: stream: no progress for 30 s (-EAGAIN)");
			if (s->retries++ < STREAM_YIELDS) {
				actor_send(ctx, actor_self(ctx), RESUME, NULL, 0);
			} else {
				s->backoff_ns = s->backoff_ns == 0 ? STREAM_BACKOFF_MIN_NS :
						s->backoff_ns * 2 > STREAM_BACKOFF_MAX_NS ?
						STREAM_BACKOFF_MAX_NS : s->backoff_ns * 2;
				if (actor_send_after(ctx, actor_self(ctx), s->backoff_ns, RESUME, NULL,
						     0, NULL) < 0)
					bench_die("pingpong: stream: actor_send_after failed");
			}
			return;
		}
		if (err < 0)
			bench_die("pingpong: stream: send: %s", strerror(-err));
		s->sent++;
		s->retries = 0;
		s->backoff_ns = 0;
	}
	if (s->sent < p->rounds)
		actor_send(ctx, actor_self(ctx), RESUME, NULL, 0);
}

static void pinger(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct pinger *s = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case START:
		s->last = bench_now_ns();
		if (s->p->op == OP_STREAM)
			stream(ctx, s);
		else
			ping(ctx, s);
		break;
	case RESUME:
		stream(ctx, s);
		break;
	case PONG:
		on_pong(ctx, m, 0, NULL);
		break;
	case DONE: {
		long long got;

		if (actor_msg_size(m) != sizeof got)
			bench_die("pingpong: stream: bad answer");
		memcpy(&got, actor_msg_data(m), sizeof got);
		if (got != s->p->rounds)
			bench_die("pingpong: stream: %lld of %lld messages arrived", got,
				  s->p->rounds);
		s->p->lat[0] = (uint32_t)(bench_now_ns() - s->last < UINT32_MAX ?
					  bench_now_ns() - s->last : UINT32_MAX);
		sem_post(s->p->done);
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
		break;
	}
	}
}

static void ponger(actor_ctx_t *ctx, const actor_msg_t *m)
{
	long long *count = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case PING:
		if (actor_reply(ctx, m, PONG, actor_msg_data(m), actor_msg_size(m)) == -EINVAL)
			actor_send(ctx, actor_msg_sender(m), PONG, actor_msg_data(m),
				   actor_msg_size(m));
		break;
	case DATA:
		++*count;
		break;
	case LAST:
		++*count;
		actor_send(ctx, actor_msg_sender(m), DONE, count, sizeof *count);
		*count = 0;
		break;
	}
}

static const actor_spec_t pinger_spec = {
	.name = "pinger", .handler = pinger, .state_size = sizeof(struct pinger),
	.init = pinger_init, .cleanup = pinger_cleanup,
};
static const actor_spec_t ponger_spec = {
	.name = "ponger", .handler = ponger, .state_size = sizeof(long long),
};

/* The virtual cluster: every node but node 0 hosts the pongers. */
static void register_ponger(struct dist *d)
{
	if (d->index != 0 && actor_virtual_register(d->sys, "ponger", &ponger_spec, NULL) != 0)
		bench_die("node %d: actor_virtual_register failed", d->index);
}

/* The server node of the distributed mode: pongers named ponger.<i>. */
static _Noreturn void serve_pongers(struct dist *d, long long pairs)
{
	actor_system_t *sys = dist_start(d);

	for (long long i = 0; i < pairs; i++) {
		char name[32];
		actor_ref_t ref;

		snprintf(name, sizeof name, "ponger.%lld", i);
		if (actor_system_spawn(sys, &ponger_spec, NULL, &ref) < 0 ||
		    actor_register(sys, name, ref) < 0)
			bench_die("server: spawn failed");
	}
	dist_child_run(d);
}

/* One request to a virtual ponger on the cluster: its activation. */
static void activate(actor_system_t *sys, actor_ref_t ponger)
{
	uint32_t type;
	void *data;
	size_t size;
	int err = actor_system_ask(sys, ponger, PING, NULL, 0, 10ull * 1000000000, &type, &data,
				   &size);

	if (err < 0)
		bench_die("pingpong: activating a ponger: %s", strerror(-err));
	free(data);
}

static void print_node_stats(actor_system_t *sys)
{
	actor_node_stats_t st;

	if (actor_node_stats(sys, &st) == 0)
		printf("# node: frames_out=%llu frames_in=%llu bytes_out=%llu bytes_in=%llu "
		       "queue_full=%llu nodes_down=%llu\n", (unsigned long long)st.frames_out,
		       (unsigned long long)st.frames_in, (unsigned long long)st.bytes_out,
		       (unsigned long long)st.bytes_in, (unsigned long long)st.queue_full,
		       (unsigned long long)st.nodes_down);
}

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "pairs", "1", "pairs P" },
		{ "rounds", "1000000", "round trips per pair R (stream: messages per pair)" },
		{ "size", "0", "payload bytes S" },
		{ "mode", "local", "local, request (request/reply), distributed (pongers in a "
				  "second node process), distributed-request (both), stream (distributed "
				  "--stream), or virtual (pongers are virtual actors)" },
		{ "stream", "0", "1: send R messages one way without waiting, answered once "
				 "(--stream alone means 1)" },
		{ "timeout", "600", "distributed: seconds before giving up" },
		DIST_FLAGS,
		{ NULL, NULL, NULL },
	};
	long long pairs, rounds, size, samples, eagain = 0;
	struct pair *pp;
	actor_ref_t *pingers;
	uint32_t *lat;
	actor_system_t *sys;
	sem_t done;
	double t0, wall;
	unsigned workers;
	const char *mode;
	enum op op = OP_SEND;
	bool distributed = false, virt = false, cluster = false;
	struct dist d;

	/* --stream alone is --stream 1 */
	char **args = calloc((size_t)argc * 2 + 1, sizeof(*args));
	int nargs = 0;

	if (args == NULL)
		bench_die("out of memory");
	for (int i = 0; i < argc; i++) {
		args[nargs++] = argv[i];
		if (strcmp(argv[i], "--stream") == 0 &&
		    (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0))
			args[nargs++] = "1";
	}
	bench_parse(nargs, args, "pingpong [--pairs P] [--rounds R] [--size S] "
				"[--mode local|request|distributed|distributed-request|stream|virtual] "
				"[--stream] "
				"[--transport uring|epoll|auto] [--role server|client --port N "
				"--cookie HEX]", flags);
	pairs = bench_num(flags, "pairs");
	rounds = bench_num(flags, "rounds");
	size = bench_num(flags, "size");
	if (pairs < 1 || rounds < 1 || size < 0)
		bench_die("need pairs >= 1, rounds >= 1, size >= 0");
	mode = bench_str(flags, "mode");
	if (strcmp(mode, "request") == 0) {
		op = OP_REQUEST;
	} else if (strcmp(mode, "distributed") == 0) {
		distributed = true;
	} else if (strcmp(mode, "distributed-request") == 0) {
		distributed = true;
		op = OP_REQUEST;
	} else if (strcmp(mode, "stream") == 0) {
		distributed = true;
		op = OP_STREAM;
	} else if (strcmp(mode, "virtual") == 0) {
		virt = true;
	} else if (strcmp(mode, "local") != 0) {
		bench_die("pingpong: --mode is local, request, distributed, distributed-request, "
			  "stream or virtual");
	}
	if (bench_num(flags, "stream") != 0) {
		if (op == OP_REQUEST)
			bench_die("pingpong: --stream does not go with --mode request");
		op = OP_STREAM;
	}
	if (virt && bench_num(flags, "nodes") >= 2) {
		if (op == OP_STREAM)
			bench_die("pingpong: --stream does not go with a virtual cluster");
		dist_init(&d, flags, DIST_MAX_NODES);
		if (*d.role != '\0')
			bench_die("pingpong: --role does not go with a virtual cluster");
		d.members = true;
		d.prestart = register_ponger;
		if (dist_fork(&d) != 0) {
			dist_start(&d);
			dist_child_run(&d);
		}
		sys = dist_start(&d);
		dist_mesh(&d);
		cluster = true;
	} else if (distributed) {
		dist_init(&d, flags, 2);
		if (dist_fork(&d) != 0)
			serve_pongers(&d, pairs);
		sys = dist_start(&d);
		dist_mesh(&d);
		cluster = true;
	} else {
		sys = bench_system();
		if (virt && actor_virtual_register(sys, "ponger", &ponger_spec, NULL) != 0)
			bench_die("pingpong: actor_virtual_register failed");
	}

	samples = op == OP_STREAM ? pairs : pairs * rounds;
	lat = malloc((size_t)samples * sizeof(*lat));
	pp = calloc((size_t)pairs, sizeof(*pp));
	pingers = calloc((size_t)pairs, sizeof(*pingers));
	if (lat == NULL || pp == NULL || pingers == NULL)
		bench_die("out of memory");
	sem_init(&done, 0, 0);
	for (long long i = 0; i < pairs; i++) {
		pp[i] = (struct pair){ .rounds = rounds, .size = (size_t)size, .op = op,
				       .lat = lat + (op == OP_STREAM ? i : i * rounds),
				       .done = &done };
		if (distributed) {
			char name[32];

			snprintf(name, sizeof name, "ponger.%lld", i);
			pp[i].ponger = dist_whereis(&d, 1, name);
		} else if (virt) {
			char key[32];

			snprintf(key, sizeof key, "p%lld", i);
			if (actor_virtual_ref(sys, "ponger", key, strlen(key), &pp[i].ponger) != 0)
				bench_die("pingpong: actor_virtual_ref failed");
			if (cluster)
				activate(sys, pp[i].ponger);
		} else if (actor_system_spawn(sys, &ponger_spec, NULL, &pp[i].ponger) < 0) {
			bench_die("spawn failed");
		}
		if (actor_system_spawn(sys, &pinger_spec, &pp[i], &pingers[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (long long i = 0; i < pairs; i++)
		actor_system_send(sys, pingers[i], START, NULL, 0);
	for (long long i = 0; i < pairs; i++) {
		if (cluster)
			dist_wait(&d, &done, (double)bench_num(flags, "timeout"));
		else
			sem_wait(&done);
	}
	wall = bench_now() - t0;

	bench_print_stats(sys);
	if (cluster)
		print_node_stats(sys);
	for (long long i = 0; i < pairs; i++)
		eagain += pp[i].eagain;
	workers = actor_system_workers(sys);
	if (cluster)
		dist_finish(&d);
	else
		actor_system_destroy(sys);
	printf("result bench=pingpong system=libactor mode=%s op=%s pairs=%lld rounds=%lld "
	       "size=%lld workers=%u ", distributed ? "distributed" : virt ? "virtual" : "local",
	       op == OP_REQUEST ? "request" : op == OP_STREAM ? "stream" : "send", pairs, rounds,
	       size, workers);
	if (cluster)
		printf("nodes=%d transport=%s tls=%s worker_io=%s ", d.nodes, d.transport_name,
		       d.tls_mode, d.no_worker_io ? "off" : "on");
	if (op == OP_STREAM) {
		printf("msgs=%lld wall_s=%.6f msgs_per_s=%.0f MB_per_s=%.1f eagain=%lld "
		       "max_rss_kb=%ld\n",
		       pairs * rounds, wall, (double)(pairs * rounds) / wall,
		       (double)(pairs * rounds * size) / wall / 1e6, eagain, bench_max_rss_kb());
	} else {
		bench_sort_samples(lat, (size_t)samples);
		printf("msgs=%lld wall_s=%.6f msgs_per_s=%.0f p50_us=%.2f p99_us=%.2f "
		       "p999_us=%.2f max_us=%.2f max_rss_kb=%ld\n", 2 * pairs * rounds, wall,
		       2.0 * (double)(pairs * rounds) / wall,
		       bench_quantile_us(lat, (size_t)samples, 0.50),
		       bench_quantile_us(lat, (size_t)samples, 0.99),
		       bench_quantile_us(lat, (size_t)samples, 0.999),
		       bench_quantile_us(lat, (size_t)samples, 1.0), bench_max_rss_kb());
	}
	free(lat);
	free(pp);
	free(pingers);
	sem_destroy(&done);
	return 0;
}

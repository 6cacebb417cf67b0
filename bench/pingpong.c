/*
 * bench/pingpong (DESIGN.md section 5): P pairs; in each, a pinger sends a
 * ping with an S-byte payload and the ponger answers with a pong carrying
 * the same payload, R times, one round trip in flight per pair. Reports
 * messages/s (2 per round trip) and the round-trip latency the pinger sees
 * (from one pong to the next), as the CAF and Erlang peers do.
 *
 * --mode request makes each ping a request (actor_request) and each pong
 * its reply (actor_reply), run through the requester's continuation.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { START = 1, PING, PONG };

struct pair {
	actor_ref_t ponger;
	long long rounds;
	size_t size;
	bool request;
	uint32_t *lat;		/* this pair's samples */
	sem_t *done;
};

struct pinger {
	struct pair *p;
	long long left;
	uint64_t last;
	unsigned char *payload;
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
	if (s->p->request)
		actor_request(ctx, s->p->ponger, PING, s->payload, s->p->size, 0, on_pong, NULL);
	else
		actor_send(ctx, s->p->ponger, PING, s->payload, s->p->size);
}

/* A pong (or a reply): record the round trip, go on or finish. */
static void on_pong(actor_ctx_t *ctx, const actor_msg_t *m, int error, void *arg)
{
	struct pinger *s = actor_self_state(ctx);
	uint64_t now = bench_now_ns();

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

static void pinger(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct pinger *s = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case START:
		s->last = bench_now_ns();
		ping(ctx, s);
		break;
	case PONG:
		on_pong(ctx, m, 0, NULL);
		break;
	}
}

static void ponger(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) != PING)
		return;
	if (actor_reply(ctx, m, PONG, actor_msg_data(m), actor_msg_size(m)) == -EINVAL)
		actor_send(ctx, actor_msg_sender(m), PONG, actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t pinger_spec = {
	.name = "pinger", .handler = pinger, .state_size = sizeof(struct pinger),
	.init = pinger_init, .cleanup = pinger_cleanup,
};
static const actor_spec_t ponger_spec = { .name = "ponger", .handler = ponger };

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "pairs", "1", "pairs P" },
		{ "rounds", "1000000", "round trips per pair R" },
		{ "size", "0", "payload bytes S" },
		{ "mode", "local", "local, or request (request/reply; distributed and virtual "
				  "come with the cluster)" },
		{ NULL, NULL, NULL },
	};
	long long pairs, rounds, size;
	struct pair *pp;
	actor_ref_t *pingers;
	uint32_t *lat;
	actor_system_t *sys;
	sem_t done;
	double t0, wall;
	unsigned workers;
	bool request;

	bench_parse(argc, argv, "pingpong [--pairs P] [--rounds R] [--size S]", flags);
	pairs = bench_num(flags, "pairs");
	rounds = bench_num(flags, "rounds");
	size = bench_num(flags, "size");
	if (pairs < 1 || rounds < 1 || size < 0)
		bench_die("need pairs >= 1, rounds >= 1, size >= 0");
	request = strcmp(bench_str(flags, "mode"), "request") == 0;
	if (!request && strcmp(bench_str(flags, "mode"), "local") != 0)
		bench_die("pingpong: --mode is local or request");

	sys = bench_system();
	lat = malloc((size_t)(pairs * rounds) * sizeof(*lat));
	pp = calloc((size_t)pairs, sizeof(*pp));
	pingers = calloc((size_t)pairs, sizeof(*pingers));
	if (lat == NULL || pp == NULL || pingers == NULL)
		bench_die("out of memory");
	sem_init(&done, 0, 0);
	for (long long i = 0; i < pairs; i++) {
		pp[i] = (struct pair){ .rounds = rounds, .size = (size_t)size, .request = request,
				       .lat = lat + i * rounds, .done = &done };
		if (actor_system_spawn(sys, &ponger_spec, NULL, &pp[i].ponger) < 0 ||
		    actor_system_spawn(sys, &pinger_spec, &pp[i], &pingers[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (long long i = 0; i < pairs; i++)
		actor_system_send(sys, pingers[i], START, NULL, 0);
	for (long long i = 0; i < pairs; i++)
		sem_wait(&done);
	wall = bench_now() - t0;

	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_sort_samples(lat, (size_t)(pairs * rounds));
	printf("result bench=pingpong system=libactor mode=local op=%s pairs=%lld rounds=%lld "
	       "size=%lld workers=%u msgs=%lld wall_s=%.6f msgs_per_s=%.0f p50_us=%.2f p99_us=%.2f p999_us=%.2f "
	       "max_us=%.2f\n", request ? "request" : "send", pairs, rounds, size, workers, 2 * pairs * rounds, wall,
	       2.0 * (double)(pairs * rounds) / wall,
	       bench_quantile_us(lat, (size_t)(pairs * rounds), 0.50),
	       bench_quantile_us(lat, (size_t)(pairs * rounds), 0.99),
	       bench_quantile_us(lat, (size_t)(pairs * rounds), 0.999),
	       bench_quantile_us(lat, (size_t)(pairs * rounds), 1.0));
	free(lat);
	free(pp);
	free(pingers);
	sem_destroy(&done);
	return 0;
}

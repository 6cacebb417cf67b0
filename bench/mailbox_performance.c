/*
 * bench/mailbox_performance (CAF's benchmark suite): S sender actors each
 * send M messages to one receiver as fast as they can (one loop in one
 * handler turn, as CAF's senders do), all at once. Each message carries its
 * sender's index and a sequence number; the receiver checks that every
 * sender's messages arrive complete and in order. Reports messages/s and
 * the peak RSS, which shows how far the receiver falls behind: a mailbox
 * is unbounded, so a backlog is memory.
 */
#include "config.h"

#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { START = 1, DATA };

struct shared {
	actor_ref_t receiver;
	int senders;
	long long msgs;		/* per sender */
	uint64_t *next;		/* receiver: next sequence number per sender */
	long long received;
	sem_t done;
};

struct sender {
	struct shared *sh;
	uint64_t index;
};

static void sender_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct sender *s = actor_self_state(ctx);
	long long n = s->sh->msgs;

	(void)m;
	for (long long i = 0; i < n; i++) {
		uint64_t v = s->index << 40 | (uint64_t)i;
		int err = actor_send(ctx, s->sh->receiver, DATA, &v, sizeof v);

		if (err < 0)
			bench_die("mailbox_performance: send: %s", strerror(-err));
	}
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static int sender_init(actor_ctx_t *ctx, void *arg)
{
	struct sender *s = actor_self_state(ctx);

	memcpy(s, arg, sizeof *s);
	return 0;
}

static const actor_spec_t sender_spec = {
	.name = "sender", .handler = sender_actor, .state_size = sizeof(struct sender),
	.init = sender_init,
};

static void receiver_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct shared *sh = *(struct shared **)actor_self_state(ctx);
	uint64_t v;
	size_t from;

	memcpy(&v, actor_msg_data(m), sizeof v);
	from = (size_t)(v >> 40);
	if (from >= (size_t)sh->senders || (v & ((1ull << 40) - 1)) != sh->next[from]++)
		bench_die("mailbox_performance: message out of order or from nowhere");
	if (++sh->received == sh->msgs * sh->senders)
		sem_post(&sh->done);
}

static int receiver_init(actor_ctx_t *ctx, void *arg)
{
	*(struct shared **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t receiver_spec = {
	.name = "receiver", .handler = receiver_actor, .state_size = sizeof(struct shared *),
	.init = receiver_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "senders", "20", "senders S" },
		{ "msgs", "400000", "messages per sender M" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	actor_system_t *sys;
	actor_ref_t *senders;
	long long total;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "mailbox_performance [--senders S] [--msgs M]", flags);
	sh.senders = (int)bench_num(flags, "senders");
	sh.msgs = bench_num(flags, "msgs");
	if (sh.senders < 1 || sh.senders > 1 << 20 || sh.msgs < 1 || sh.msgs >= 1ll << 40)
		bench_die("need 1 <= senders <= 2^20, 1 <= msgs < 2^40");
	total = sh.msgs * sh.senders;
	sh.next = calloc((size_t)sh.senders, sizeof(*sh.next));
	senders = calloc((size_t)sh.senders, sizeof(*senders));
	if (sh.next == NULL || senders == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);

	sys = bench_system();
	if (actor_system_spawn(sys, &receiver_spec, &sh, &sh.receiver) < 0)
		bench_die("spawn failed");
	for (int i = 0; i < sh.senders; i++) {
		struct sender init = { &sh, (uint64_t)i };

		if (actor_system_spawn_copy(sys, &sender_spec, &init, sizeof init, &senders[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (int i = 0; i < sh.senders; i++)
		actor_system_send(sys, senders[i], START, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	for (int i = 0; i < sh.senders; i++)
		if (sh.next[i] != (uint64_t)sh.msgs)
			bench_die("mailbox_performance: sender %d: %llu messages", i,
				  (unsigned long long)sh.next[i]);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=mailbox_performance system=libactor mode=local senders=%d msgs=%lld "
		     "workers=%u total=%lld wall_s=%.6f msgs_per_s=%.0f", sh.senders, sh.msgs,
		     workers, total, wall, (double)total / wall);
	free(sh.next);
	free(senders);
	sem_destroy(&sh.done);
	return 0;
}

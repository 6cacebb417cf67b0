/*
 * bench/timers: set N delayed sends with delays spread over D ms to one
 * actor, and measure how fast timers are set and how late they fire (from
 * the due time to the start of the handler).
 */
#include "config.h"

#include <semaphore.h>
#include <stdlib.h>

#include "bench/common.h"

struct due {
	uint64_t due_ns;
};

struct sink {
	uint32_t *lateness;
	size_t n, want;
	sem_t *done;
};

struct sink_arg {
	uint32_t *lateness;
	size_t want;
	sem_t *done;
};

static int sink_init(actor_ctx_t *ctx, void *arg)
{
	struct sink *s = actor_self_state(ctx);
	const struct sink_arg *a = arg;

	s->lateness = a->lateness;
	s->want = a->want;
	s->done = a->done;
	return 0;
}

static void sink(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct sink *s = actor_self_state(ctx);
	uint64_t now = bench_now_ns(), due = ((const struct due *)actor_msg_data(m))->due_ns;

	s->lateness[s->n++] = (uint32_t)(now > due ? (now - due < UINT32_MAX ? now - due : UINT32_MAX)
						     : 0);
	if (s->n == s->want)
		sem_post(s->done);
}

static const actor_spec_t sink_spec = {
	.name = "sink", .handler = sink, .state_size = sizeof(struct sink), .init = sink_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "timers", "1000000", "timers N" },
		{ "spread-ms", "10000", "delays spread evenly over D ms" },
		{ NULL, NULL, NULL },
	};
	long long n, spread;
	uint32_t *lateness;
	actor_system_t *sys;
	actor_ref_t a;
	sem_t done;
	struct sink_arg arg;
	double t0, t_set, wall;
	unsigned workers;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	bench_parse(argc, argv, "timers [--timers N] [--spread-ms D]", flags);
	n = bench_num(flags, "timers");
	spread = bench_num(flags, "spread-ms");
	if (n < 1 || spread < 1)
		bench_die("need timers >= 1, spread-ms >= 1");
	lateness = malloc((size_t)n * sizeof(*lateness));
	if (lateness == NULL)
		bench_die("out of memory");
	sem_init(&done, 0, 0);
	arg = (struct sink_arg){ lateness, (size_t)n, &done };

	sys = bench_system();
	if (actor_system_spawn(sys, &sink_spec, &arg, &a) < 0)
		bench_die("spawn failed");
	t0 = bench_now();
	for (long long i = 0; i < n; i++) {
		uint64_t delay;
		struct due d;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		delay = rng % ((uint64_t)spread * 1000000u);
		d.due_ns = bench_now_ns() + delay;
		if (actor_system_send_after(sys, a, delay, 1, &d, sizeof d, NULL) != 0)
			bench_die("send_after failed");
	}
	t_set = bench_now() - t0;
	sem_wait(&done);
	wall = bench_now() - t0;

	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_sort_samples(lateness, (size_t)n);
	printf("result bench=timers system=libactor mode=local timers=%lld spread_ms=%lld "
	       "workers=%u set_s=%.6f sets_per_s=%.0f wall_s=%.6f msgs_per_s=%.0f "
	       "p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f\n", n, spread, workers, t_set,
	       (double)n / t_set, wall, (double)n / wall,
	       bench_quantile_us(lateness, (size_t)n, 0.50),
	       bench_quantile_us(lateness, (size_t)n, 0.99),
	       bench_quantile_us(lateness, (size_t)n, 0.999),
	       bench_quantile_us(lateness, (size_t)n, 1.0));
	free(lateness);
	sem_destroy(&done);
	return 0;
}

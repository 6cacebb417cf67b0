/*
 * bench/idle: what an idle system costs, and how fast it wakes up.
 *
 * After --settle-ms of idling (by then the workers have gone through the
 * tiers), measures the process's CPU time over --window-ms of further
 * idling; then an outside thread sends --sends messages spaced --gap-us
 * apart, each carrying its send time, and the handler records the latency
 * from the send to its own start. With the default tiers a 5 ms gap finds
 * the workers in the moderate tier; --moderate-polls 0 --relaxed-polls 0
 * makes them park right after the aggressive tier.
 *
 * --peer epoll|uring: the system is a node with a second node (in this
 * process, two workers) connected to it over TCP, and the probes come from
 * that peer: the CPU measured is both nodes' (heartbeats included), the
 * latency a remote message's, from the peer's send to the handler.
 * --worker-io off sets actor_node_config_t.no_worker_io on both.
 */
#include "config.h"

#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/common.h"

struct probe {
	uint32_t *lat;
	size_t n;
	sem_t handled;
};

static void probe_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	uint64_t now = bench_now_ns(), sent = *(const uint64_t *)actor_msg_data(m);
	struct probe *p = *(struct probe **)actor_self_state(ctx);

	p->lat[p->n++] = (uint32_t)(now - sent < UINT32_MAX ? now - sent : UINT32_MAX);
	sem_post(&p->handled);
}

static int probe_init(actor_ctx_t *ctx, void *arg)
{
	*(struct probe **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t probe_spec = {
	.name = "probe", .handler = probe_handler, .state_size = sizeof(struct probe *),
	.init = probe_init,
};

static void sleep_us(long long us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* sys becomes a node, and a second one, two workers, connects to it. */
static actor_system_t *peer_start(actor_system_t *sys, const char *transport, bool off)
{
	static const char cookie[] = "idle-bench-cookie-0123456789";
	actor_system_t *peer;
	actor_config_t pc;
	actor_node_config_t cfg;
	uint32_t id;

	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.no_worker_io = off;
	if (actor_node_start(sys, &cfg) != 0)
		bench_die("node start failed");
	actor_config_init(&pc);
	pc.workers = 2;
	if (actor_system_create(&peer, &pc) != 0 || actor_node_start(peer, &cfg) != 0)
		bench_die("peer start failed");
	if (actor_node_connect(peer, "127.0.0.1", (uint16_t)actor_node_port(sys),
			       5000000000ull, &id) != 0)
		bench_die("connect failed");
	return peer;
}

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "settle-ms", "1000", "idle time before measuring" },
		{ "window-ms", "1000", "idle time measured" },
		{ "sends", "1000", "wake-up probes" },
		{ "gap-us", "5000", "idle time before each probe" },
		{ "peer", "", "epoll or uring: probes from a connected peer node (empty: none)" },
		{ "worker-io", "on", "with --peer: off sets no_worker_io" },
		{ NULL, NULL, NULL },
	};
	struct probe p = { 0 };
	const char *peer;
	actor_system_t *from;
	long long settle, window, sends, gap;
	actor_system_t *sys;
	actor_ref_t a;
	double cpu0, cpu1;
	unsigned workers;

	bench_parse(argc, argv, "idle [--settle-ms MS] [--window-ms MS] [--sends N] [--gap-us US] [--peer epoll|uring [--worker-io off]]",
		    flags);
	settle = bench_num(flags, "settle-ms");
	window = bench_num(flags, "window-ms");
	sends = bench_num(flags, "sends");
	gap = bench_num(flags, "gap-us");
	if (settle < 0 || window < 1 || sends < 1 || gap < 0)
		bench_die("need settle-ms >= 0, window-ms >= 1, sends >= 1, gap-us >= 0");
	p.lat = calloc((size_t)sends, sizeof(*p.lat));
	if (p.lat == NULL)
		bench_die("out of memory");
	sem_init(&p.handled, 0, 0);

	sys = from = bench_system();
	if (actor_system_spawn(sys, &probe_spec, &p, &a) < 0)
		bench_die("spawn failed");
	peer = bench_str(flags, "peer");
	if (*peer != '\0')
		from = peer_start(sys, peer, strcmp(bench_str(flags, "worker-io"), "off") == 0);
	sleep_us(settle * 1000);
	cpu0 = cpu_seconds();
	sleep_us(window * 1000);
	cpu1 = cpu_seconds();

	for (long long i = 0; i < sends; i++) {
		uint64_t t;

		sleep_us(gap);
		t = bench_now_ns();
		actor_system_send(from, a, 1, &t, sizeof t);
		sem_wait(&p.handled);
	}
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	if (from != sys)
		actor_system_destroy(from);
	actor_system_destroy(sys);
	bench_sort_samples(p.lat, p.n);
	printf("result bench=idle system=libactor mode=%s workers=%u settle_ms=%lld "
	       "window_ms=%lld idle_cpu_pct=%.3f sends=%lld gap_us=%lld wall_s=%.6f "
	       "msgs_per_s=0 p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f\n",
	       *peer == '\0' ? "local" : strcmp(bench_str(flags, "worker-io"), "off") == 0 ?
					   "peer-io" : "peer", workers,
	       settle, window, 100.0 * (cpu1 - cpu0) / ((double)window / 1000.0), sends, gap,
	       (double)window / 1000.0, bench_quantile_us(p.lat, p.n, 0.50),
	       bench_quantile_us(p.lat, p.n, 0.99), bench_quantile_us(p.lat, p.n, 0.999),
	       bench_quantile_us(p.lat, p.n, 1.0));
	free(p.lat);
	sem_destroy(&p.handled);
	return 0;
}

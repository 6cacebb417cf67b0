/*
 * Members' timings for tests. A member of a loopback cluster for the plain
 * TAP programs that run under ThreadSanitizer (stress_member,
 * stress_handover): heartbeats and probes every 100 ms, but suspicion,
 * death and fencing so slow that nobody is found dead or fences however
 * slow the sanitizer makes the run; its log lines go nowhere. And the fast
 * timings of the tests that kill members on purpose (test_member, the
 * node processes of tests/node_proc.c).
 */
#ifndef ACTOR_TESTS_STRESS_MEMBER_H
#define ACTOR_TESTS_STRESS_MEMBER_H

#include <string.h>

#include <actor/actor.h>

static inline void stress_member_quiet(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

/* cfg for node `name` on hub with cookie; joining through seeds[0..nseeds). */
static inline void stress_member_config(actor_node_config_t *cfg, const char *name,
					const char *cookie, actor_loopback_t *hub,
					const char **seeds, size_t nseeds)
{
	const uint64_t ms = 1000000ull, sec = 1000 * ms;

	actor_node_config_init(cfg);
	cfg->name = name;
	cfg->cookie = cookie;
	cfg->cookie_len = strlen(cookie);
	cfg->transport = "loopback";
	cfg->loopback = hub;
	cfg->heartbeat_interval_ns = 100 * ms;
	cfg->heartbeat_timeout_ns = 10 * sec;
	cfg->reconnect_min_ns = 50 * ms;
	cfg->reconnect_max_ns = 200 * ms;
	cfg->member_probe_interval_ns = 100 * ms;
	cfg->member_suspect_ns = 5 * sec;
	cfg->member_dead_ns = 10 * sec;
	cfg->member_fence_ns = 8 * sec;
	cfg->member_takeover_margin_ns = 9 * sec;
	cfg->log = stress_member_quiet;
	cfg->seeds = seeds;
	cfg->nseeds = nseeds;
}

/* Heartbeats and probes every 100 ms; a silent member is suspected at
 * 0.5 s and dead at 1 s, a node cut off fences at 0.8 s, and its keys are
 * taken over after 1.2 s. */
static inline void member_fast_timings(actor_node_config_t *cfg)
{
	const uint64_t ms = 1000000ull, sec = 1000 * ms;

	cfg->heartbeat_interval_ns = 100 * ms;
	cfg->heartbeat_timeout_ns = 2 * sec;
	cfg->reconnect_min_ns = 50 * ms;
	cfg->reconnect_max_ns = 200 * ms;
	cfg->member_probe_interval_ns = 100 * ms;
	cfg->member_suspect_ns = 500 * ms;
	cfg->member_dead_ns = 1000 * ms;
	cfg->member_fence_ns = 800 * ms;
	cfg->member_takeover_margin_ns = 1200 * ms;
}

#endif

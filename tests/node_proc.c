/* A cluster node in a process of its own: see node_proc.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/node_proc.h"
#include "tests/stress/member.h"

void node_proc_config(actor_node_config_t *cfg, const char *name, const char *cookie,
		      int seed_port, char *seed_text, const char **seeds)
{
	actor_node_config_init(cfg);
	cfg->name = name;
	cfg->cookie = cookie;
	cfg->cookie_len = strlen(cookie);
	member_fast_timings(cfg);
	if (seed_port > 0) {
		snprintf(seed_text, 32, "127.0.0.1:%d", seed_port);
		seeds[0] = seed_text;
		cfg->seeds = seeds;
		cfg->nseeds = 1;
	}
}

int node_proc_store(const struct node_proc *np, const char *store, actor_store_t **out)
{
	if (strncmp(store, "lmdb:", 5) == 0) {
		actor_store_lmdb_config_t lc;

		actor_store_lmdb_config_init(&lc);
		lc.path = store + 5;
		lc.sync = ACTOR_STORE_NOSYNC;
		return actor_store_lmdb_open(out, &lc);
	}
	if (strncmp(store, "pg:", 3) == 0) {
		actor_store_pg_config_t pc;

		actor_store_pg_config_init(&pc);
		pc.conninfo = store + 3;
		pc.table = np->pg_table;
		return actor_store_pg_open(out, &pc);
	}
	return -EINVAL;
}

actor_system_t *node_proc_loopback(actor_loopback_t *hub, const char *name, const char *cookie,
				   int seed_port, actor_store_exec_t *ex,
				   int (*reg)(actor_system_t *sys, actor_store_exec_t *ex))
{
	actor_node_config_t cfg;
	actor_config_t scfg;
	actor_system_t *s;
	char seed_text[32];
	const char *seeds[1];

	actor_config_init(&scfg);
	scfg.workers = 2;
	if (actor_system_create(&s, &scfg) != 0)
		return NULL;
	if (reg(s, ex) != 0)
		goto fail;
	if (hub == NULL)
		return s;
	node_proc_config(&cfg, name, cookie, seed_port, seed_text, seeds);
	cfg.transport = "loopback";
	cfg.loopback = hub;
	if (actor_node_start(s, &cfg) == 0)
		return s;
fail:
	actor_system_destroy(s);
	return NULL;
}

int node_proc_main(const struct node_proc *np, const char *store, int seed_port,
		   const char *arg)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_node_config_t cfg;
	char seed_text[32];
	const char *seeds[1];
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (node_proc_store(np, store, &s) != 0 || actor_store_exec_create(&ex, s, NULL) != 0 ||
	    actor_system_create(&sys, NULL) != 0 || np->reg(sys, ex, arg) != 0)
		return 1;
	node_proc_config(&cfg, "node-p", np->cookie, seed_port, seed_text, seeds);
	cfg.transport = "epoll";
	if (actor_node_start(sys, &cfg) != 0)
		return 1;
	sigwait(&set, &sig);
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	return 0;
}

pid_t node_proc_spawn(const char *prog, const char *store, int seed_port, const char *arg)
{
	char port[16];
	pid_t pid;

	snprintf(port, sizeof port, "%d", seed_port);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", prog, "node", store, port, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * bench/bank: the bank example (examples/bank_account.h) as a benchmark of
 * persistent virtual actors on LMDB.
 *  - transfers/s: random transfers among the accounts, `window` in flight
 *    from one client actor, on 1 system or on 3 nodes over loopback
 *    (sharing one environment); each transfer is 2 writes (source, then
 *    destination) plus the source's acknowledgement write later;
 *  - activation latency with a state load: a new system, then one request
 *    to each account in turn (each activates it: load, activation hook,
 *    the request), beside a second round to the active accounts.
 * The audit afterwards checks the books (exit 1 if they do not balance).
 *
 *   bench/bank --nodes 3 --sync nosync --transfers 20000
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "bench/common.h"
#include "examples/bank_account.h"

#define SEC 1000000000ull
#define MS 1000000ull

static struct bench_flag flags[] = {
	{ "nodes", "1", "1 (one system) or 3 (loopback nodes, one environment)" },
	{ "sync", "sync", "LMDB commits: sync, nometasync or nosync" },
	{ "accounts", "1000", "accounts" },
	{ "transfers", "10000", "random transfers" },
	{ "window", "256", "transfers in flight" },
	{ NULL, NULL, NULL },
};

static const char cookie[] = "bench-bank-cookie-0123456789";

static actor_system_t *make(actor_loopback_t *hub, actor_store_exec_t *ex, int i, int seed)
{
	actor_system_t *s;
	actor_node_config_t cfg;
	char name[16], seed_text[32];
	const char *seeds[1] = { seed_text };
	int err;

	if ((err = actor_system_create(&s, NULL)) != 0 || (err = bank_register(s, ex, 0, BANK_EXACTLY_ONCE)) != 0)
		bench_die("system: %d", err);
	if (hub == NULL)
		return s;
	snprintf(name, sizeof name, "b%d", i);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = "loopback";
	cfg.loopback = hub;
	if (seed != 0) {
		snprintf(seed_text, sizeof seed_text, "127.0.0.1:%d", seed);
		cfg.seeds = seeds;
		cfg.nseeds = 1;
	}
	if ((err = actor_node_start(s, &cfg)) != 0)
		bench_die("node: %d", err);
	return s;
}

/* A request to every account in turn, timed one by one. */
static void latency(actor_system_t *sys, uint32_t n, const char *what)
{
	uint32_t *ns = calloc(n, sizeof *ns);

	for (uint32_t i = 0; i < n; i++) {
		char key[BANK_KEY_MAX];
		actor_ref_t r;
		uint32_t type;
		void *reply = NULL;
		size_t size;
		uint64_t t0 = bench_now_ns();
		int err;

		bank_key(i, key);
		actor_virtual_ref(sys, BANK_TYPE, key, strlen(key), &r);
		err = actor_system_ask(sys, r, BANK_BALANCE, NULL, 0, 10 * SEC, &type, &reply, &size);
		ns[i] = (uint32_t)(bench_now_ns() - t0);
		free(reply);
		if (err != 0)
			bench_die("balance: %d", err);
	}
	bench_sort_samples(ns, n);
	bench_result("%s: p50 %.1f us, p99 %.1f us, max %.1f us", what,
		     bench_quantile_us(ns, n, 0.5), bench_quantile_us(ns, n, 0.99),
		     bench_quantile_us(ns, n, 1.0));
	free(ns);
}

int main(int argc, char **argv)
{
	actor_store_lmdb_config_t lc;
	actor_store_exec_config_t xc;
	actor_store_t *store;
	actor_store_exec_t *ex;
	actor_loopback_t *hub = NULL;
	actor_system_t *n[3] = { NULL, NULL, NULL };
	struct bank_job *jobs;
	struct bank_audit a;
	const char *sync_name;
	char dir[] = "/tmp/bench-bank-XXXXXX", cmd[96];
	long long nodes, accounts, transfers;
	double t0, secs;
	int err;

	bench_parse(argc, argv, "bench/bank [--nodes 1|3] [--sync sync|nometasync|nosync]",
		    flags);
	nodes = bench_num(flags, "nodes");
	accounts = bench_num(flags, "accounts");
	transfers = bench_num(flags, "transfers");
	sync_name = bench_str(flags, "sync");
	if ((nodes != 1 && nodes != 3) || accounts < 2 || transfers < 1)
		bench_die("--nodes 1 or 3, --accounts >= 2, --transfers >= 1");
	if (mkdtemp(dir) == NULL)
		bench_die("mkdtemp: %s", strerror(errno));
	actor_store_lmdb_config_init(&lc);
	lc.path = dir;
	lc.sync = strcmp(sync_name, "nosync") == 0	 ? ACTOR_STORE_NOSYNC :
		  strcmp(sync_name, "nometasync") == 0 ? ACTOR_STORE_NOMETASYNC :
							 ACTOR_STORE_SYNC;
	if ((err = actor_store_lmdb_open(&store, &lc)) != 0)
		bench_die("lmdb: %d", err);
	actor_store_exec_config_init(&xc);
	xc.threads = 4;
	xc.queue = 16384;
	if ((err = actor_store_exec_create(&ex, store, &xc)) != 0)
		bench_die("executor: %d", err);
	if (nodes == 3 && actor_loopback_create(&hub) != 0)
		bench_die("loopback");
	for (int i = 0; i < nodes; i++)
		n[i] = make(hub, ex, i, i == 0 ? 0 : actor_node_port(n[0]));
	for (int i = 0; i < nodes && hub != NULL; i++)
		while (actor_cluster_members(n[i], NULL, 0, NULL) < nodes)
			usleep(1000);
	if ((err = bank_open_accounts(n[0], (uint32_t)accounts, 1000)) != 0)
		bench_die("accounts: %d", err);
	jobs = calloc((size_t)transfers, sizeof *jobs);
	bank_random_jobs(jobs, (size_t)transfers, (uint32_t)accounts, 1, 42);
	t0 = bench_now();
	if ((err = bank_run(n[0], jobs, (size_t)transfers, (unsigned)bench_num(flags, "window"),
			    600 * SEC, NULL)) != 0)
		bench_die("transfers: %d", err);
	secs = bench_now() - t0;
	bench_result("bank: %lld transfers, %lld accounts, %lld node(s), LMDB %s: %.2f s, "
		     "%.0f transfers/s",
		     transfers, accounts, nodes, sync_name, secs, (double)transfers / secs);
	if ((err = bank_audit(n[0], (uint32_t)accounts, jobs, (size_t)transfers, 60 * SEC, &a)) !=
		    0 ||
	    a.total != accounts * 1000 || a.duplicates != 0 || a.missing != 0 || a.phantom != 0)
		bench_die("the books do not balance (%d): total %lld", err, (long long)a.total);
	for (int i = 0; i < nodes; i++)
		actor_system_destroy(n[i]);
	/* Activation with a state load: a new system on the written store. */
	n[0] = make(NULL, ex, 0, 0);
	latency(n[0], (uint32_t)accounts, "activation with a state load (first request)");
	latency(n[0], (uint32_t)accounts, "request to an active account");
	actor_system_destroy(n[0]);
	actor_store_exec_destroy(ex);
	actor_store_destroy(store);
	if (hub != NULL)
		actor_loopback_destroy(hub);
	free(jobs);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
	return 0;
}

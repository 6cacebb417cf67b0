/*
 * bench/bank: the bank example (examples/bank_account.h) as a benchmark of
 * persistent virtual actors.
 *  - transfers/s: random transfers among the accounts, `window` in flight
 *    from one client actor, on 1 system or on 3 nodes over loopback
 *    (sharing one store); exactly-once (`--mode once`: the debit and the
 *    queued credit in one durable write at the source, the credit in one
 *    at the destination, the source's write of the acknowledgement later)
 *    or at-most-once (`--mode plain`: written behind the turns, nothing
 *    waits for a write);
 *  - activation latency with a state load: a new system, then one request
 *    to each account in turn (each activates it: load, the request),
 *    beside a second round to the active accounts.
 * The store is LMDB (a new environment per run) or PostgreSQL: a server of
 * its own (tests/pg_server.c; fsync off there) unless --conninfo names
 * one; a new table per run. Each of --runs runs prints its numbers, then
 * the medians. Exactly-once, the audit afterwards checks the books (exit 1
 * if they do not balance).
 *
 *   bench/bank --nodes 3 --store lmdb --sync nosync --mode once --runs 3
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "bench/common.h"
#include "examples/bank_account.h"
#include "tests/pg_server.h"

#define SEC 1000000000ull
#define RUNS_MAX 16

static struct bench_flag flags[] = {
	{ "nodes", "1", "1 (one system) or 3 (loopback nodes, one store)" },
	{ "store", "lmdb", "lmdb or pg" },
	{ "sync", "sync", "LMDB commits: sync, nometasync or nosync" },
	{ "conninfo", "", "pg: a libpq connection string (default: start a server)" },
	{ "mode", "once", "once (exactly-once transfers) or plain (at-most-once)" },
	{ "accounts", "1000", "accounts" },
	{ "transfers", "10000", "random transfers" },
	{ "window", "256", "transfers in flight" },
	{ "runs", "3", "runs (each on a new store); medians printed last" },
	{ NULL, NULL, NULL },
};

static const char cookie[] = "bench-bank-cookie-0123456789";
static enum bank_mode mode;

static actor_system_t *make(actor_loopback_t *hub, actor_store_exec_t *ex, int i, int seed)
{
	actor_system_t *s;
	actor_node_config_t cfg;
	char name[16], seed_text[32];
	const char *seeds[1] = { seed_text };
	int err;

	if ((err = actor_system_create(&s, NULL)) != 0 ||
	    (err = bank_register(s, ex, 0, mode)) != 0)
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

/* A request to every account in turn, timed one by one: p50 and p99 in
 * microseconds. */
static void latency(actor_system_t *sys, uint32_t n, double *p50, double *p99)
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
	*p50 = bench_quantile_us(ns, n, 0.5);
	*p99 = bench_quantile_us(ns, n, 0.99);
	free(ns);
}

/* The store of run r: a new LMDB environment under dir, or a new table. */
static actor_store_t *open_store(const char *kind, const char *dir, const char *conninfo, int r,
				 int sync)
{
	actor_store_t *store;
	char path[96], table[32];
	int err;

	if (strcmp(kind, "lmdb") == 0) {
		actor_store_lmdb_config_t lc;

		snprintf(path, sizeof path, "%s/run%d", dir, r);
		if (mkdir(path, 0700) != 0)
			bench_die("mkdir %s: %s", path, strerror(errno));
		actor_store_lmdb_config_init(&lc);
		lc.path = path;
		lc.sync = sync;
		err = actor_store_lmdb_open(&store, &lc);
	} else {
		actor_store_pg_config_t pc;

		snprintf(table, sizeof table, "bank_%d_%d", (int)getpid(), r);
		actor_store_pg_config_init(&pc);
		pc.conninfo = conninfo;
		pc.table = table;
		err = actor_store_pg_open(&store, &pc);
	}
	if (err != 0)
		bench_die("open %s: %s", kind, strerror(-err));
	return store;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	actor_store_exec_config_t xc;
	struct pg_server pg;
	const char *kind, *sync_name, *conninfo;
	char dir[] = "/tmp/bench-bank-XXXXXX", cmd[96];
	long long nodes, accounts, transfers, runs;
	double rate[RUNS_MAX], act50[RUNS_MAX], act99[RUNS_MAX], hot50[RUNS_MAX],
		hot99[RUNS_MAX];
	int sync, own_pg = 0;

	bench_parse(argc, argv,
		    "bench/bank [--nodes 1|3] [--store lmdb|pg] [--sync sync|nometasync|nosync] "
		    "[--mode once|plain] [--runs N]",
		    flags);
	nodes = bench_num(flags, "nodes");
	accounts = bench_num(flags, "accounts");
	transfers = bench_num(flags, "transfers");
	runs = bench_num(flags, "runs");
	kind = bench_str(flags, "store");
	sync_name = bench_str(flags, "sync");
	conninfo = bench_str(flags, "conninfo");
	if ((nodes != 1 && nodes != 3) || accounts < 2 || transfers < 1 || runs < 1 ||
	    runs > RUNS_MAX)
		bench_die("--nodes 1 or 3, --accounts >= 2, --transfers >= 1, --runs 1..%d",
			  RUNS_MAX);
	if (strcmp(bench_str(flags, "mode"), "plain") == 0)
		mode = BANK_AT_MOST_ONCE;
	else if (strcmp(bench_str(flags, "mode"), "once") == 0)
		mode = BANK_EXACTLY_ONCE;
	else
		bench_die("--mode once or plain");
	sync = strcmp(sync_name, "nosync") == 0	    ? ACTOR_STORE_NOSYNC :
	       strcmp(sync_name, "nometasync") == 0 ? ACTOR_STORE_NOMETASYNC :
						      ACTOR_STORE_SYNC;
	if (strcmp(kind, "pg") == 0) {
		if (conninfo[0] == '\0') {
			if (pg_server_find(&pg) != 0 || pg_server_init(&pg) != 0)
				bench_die("could not start a PostgreSQL server");
			own_pg = 1;
			conninfo = pg.conninfo;
		}
		sync_name = own_pg ? "server-fsync-off" : "server";
	} else if (strcmp(kind, "lmdb") != 0) {
		bench_die("--store: lmdb or pg");
	}
	if (mkdtemp(dir) == NULL)
		bench_die("mkdtemp: %s", strerror(errno));
	actor_store_exec_config_init(&xc);
	xc.threads = 4;
	xc.queue = 16384;
	for (int r = 0; r < runs; r++) {
		actor_store_t *store = open_store(kind, dir, conninfo, r, sync);
		actor_store_exec_t *ex;
		actor_loopback_t *hub = NULL;
		actor_system_t *n[3] = { NULL, NULL, NULL };
		struct bank_job *jobs;
		struct bank_audit a;
		double t0, secs;
		int err;

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
		bank_random_jobs(jobs, (size_t)transfers, (uint32_t)accounts, 1, 42 + (unsigned)r);
		t0 = bench_now();
		if ((err = bank_run(n[0], jobs, (size_t)transfers,
				    (unsigned)bench_num(flags, "window"), 600 * SEC, NULL)) != 0)
			bench_die("transfers: %d", err);
		secs = bench_now() - t0;
		rate[r] = (double)transfers / secs;
		/* At-most-once nothing is lost without a failure, but nothing
		 * is waited for either: a short wait for the last credits. */
		if ((err = bank_audit(n[0], (uint32_t)accounts, jobs, (size_t)transfers,
				      (mode == BANK_EXACTLY_ONCE ? 60 : 5) * SEC, &a)) != 0 ||
		    (mode == BANK_EXACTLY_ONCE &&
		     (a.total != accounts * 1000 || a.duplicates != 0 || a.missing != 0 ||
		      a.phantom != 0 || a.in_flight != 0)))
			bench_die("the books do not balance (%d): total %lld", err,
				  (long long)a.total);
		for (int i = 0; i < nodes; i++)
			actor_system_destroy(n[i]);
		/* Activation with a state load: a new system on the written
		 * store (the executor has drained: the state is there). */
		n[0] = make(NULL, ex, 0, 0);
		latency(n[0], (uint32_t)accounts, &act50[r], &act99[r]);
		latency(n[0], (uint32_t)accounts, &hot50[r], &hot99[r]);
		actor_system_destroy(n[0]);
		actor_store_exec_destroy(ex);
		actor_store_destroy(store);
		if (hub != NULL)
			actor_loopback_destroy(hub);
		free(jobs);
		bench_result("run=%d store=%s sync=%s mode=%s nodes=%lld transfers=%lld "
			     "secs=%.2f transfers_per_s=%.0f total=%lld activation_p50_us=%.1f "
			     "activation_p99_us=%.1f active_p50_us=%.1f active_p99_us=%.1f",
			     r, kind, sync_name, bank_mode_name(mode), nodes, transfers, secs,
			     rate[r], (long long)a.total, act50[r], act99[r], hot50[r], hot99[r]);
	}
	bench_result("median of %lld: store=%s sync=%s mode=%s nodes=%lld transfers_per_s=%.0f "
		     "activation_p50_us=%.1f activation_p99_us=%.1f active_p50_us=%.1f "
		     "active_p99_us=%.1f",
		     runs, kind, sync_name, bank_mode_name(mode), nodes, median(rate, (int)runs),
		     median(act50, (int)runs), median(act99, (int)runs), median(hot50, (int)runs),
		     median(hot99, (int)runs));
	if (own_pg)
		pg_server_destroy(&pg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
	return 0;
}

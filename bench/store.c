/*
 * bench/store: the state stores' cost per call. T threads each save their
 * own records (one record per thread, rewritten with its version: the
 * write an activation makes after each turn), then load them; prints saves
 * per second and the latency percentiles of saves and loads.
 *
 *   bench/store --store lmdb --sync sync --threads 1
 *   bench/store --store pg --threads 4        # starts its own server
 *
 * With --store pg and no --conninfo it starts a PostgreSQL server of its
 * own in a temporary folder (tests/pg_server.c; fsync off there, so the
 * numbers are the client's and the protocol's, not the disk's).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/store.h>

#include "bench/common.h"
#include "tests/pg_server.h"

static struct bench_flag flags[] = {
	{ "store", "lmdb", "lmdb or pg" },
	{ "sync", "sync", "lmdb: sync, nometasync or nosync" },
	{ "path", "", "lmdb: the environment (default: a temporary folder)" },
	{ "conninfo", "", "pg: a libpq connection string (default: start a server)" },
	{ "threads", "1", "threads calling the store at once" },
	{ "ops", "2000", "saves per thread (then as many loads)" },
	{ "size", "100", "bytes of state per record" },
	{ NULL, NULL, NULL },
};

struct worker {
	actor_store_t *store;
	int index, ops, size, rc;
	uint32_t *save_ns, *load_ns;
};

static void *run(void *p)
{
	struct worker *w = p;
	char *state = malloc((size_t)w->size + 1);
	char key[16];
	uint64_t v = 0;
	int i;

	memset(state, 'x', (size_t)w->size);
	snprintf(key, sizeof key, "k%d", w->index);
	for (i = 0; i < w->ops && w->rc == 0; i++) {
		uint64_t t0 = bench_now_ns();

		memcpy(state, &i, sizeof i < (size_t)w->size ? sizeof i : (size_t)w->size);
		w->rc = actor_store_save(w->store, "bench", key, strlen(key), state,
					 (size_t)w->size, v, &v);
		w->save_ns[i] = (uint32_t)(bench_now_ns() - t0);
	}
	for (i = 0; i < w->ops && w->rc == 0; i++) {
		uint64_t t0 = bench_now_ns(), got;
		void *data;
		size_t size;

		w->rc = actor_store_load(w->store, "bench", key, strlen(key), &data, &size, &got);
		w->load_ns[i] = (uint32_t)(bench_now_ns() - t0);
		free(data);
		if (w->rc == 0 && got != v)
			w->rc = -EIO;
	}
	free(state);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *kind, *sync_name;
	struct pg_server pg;
	char dir[64] = "";
	actor_store_t *store;
	int threads, ops, size, i, rc, own_pg = 0;
	uint32_t *save_ns, *load_ns;
	struct worker *w;
	pthread_t *t;
	double t0, secs;
	size_t n;

	bench_parse(argc, argv, "bench/store [--store lmdb|pg] [--threads N] [--ops N]", flags);
	kind = bench_str(flags, "store");
	sync_name = bench_str(flags, "sync");
	threads = (int)bench_num(flags, "threads");
	ops = (int)bench_num(flags, "ops");
	size = (int)bench_num(flags, "size");
	if (threads < 1 || ops < 1 || size < 0)
		bench_die("--threads and --ops must be at least 1");
	if (strcmp(kind, "lmdb") == 0) {
		actor_store_lmdb_config_t cfg;

		actor_store_lmdb_config_init(&cfg);
		cfg.path = bench_str(flags, "path");
		if (cfg.path[0] == '\0') {
			snprintf(dir, sizeof dir, "/var/tmp/actor-bench-XXXXXX");
			if (mkdtemp(dir) == NULL)
				bench_die("mkdtemp: %s", strerror(errno));
			cfg.path = dir;
		}
		cfg.sync = strcmp(sync_name, "nosync") == 0	   ? ACTOR_STORE_NOSYNC
			   : strcmp(sync_name, "nometasync") == 0 ? ACTOR_STORE_NOMETASYNC
								    : ACTOR_STORE_SYNC;
		rc = actor_store_lmdb_open(&store, &cfg);
	} else if (strcmp(kind, "pg") == 0) {
		actor_store_pg_config_t cfg;

		actor_store_pg_config_init(&cfg);
		cfg.conninfo = bench_str(flags, "conninfo");
		if (cfg.conninfo[0] == '\0') {
			if (pg_server_find(&pg) != 0 || pg_server_init(&pg) != 0)
				bench_die("could not start a PostgreSQL server");
			own_pg = 1;
			cfg.conninfo = pg.conninfo;
		}
		sync_name = own_pg ? "server-fsync-off" : "server";
		rc = actor_store_pg_open(&store, &cfg);
	} else {
		bench_die("--store: lmdb or pg");
	}
	if (rc != 0)
		bench_die("open %s: %s", kind, strerror(-rc));
	w = calloc((size_t)threads, sizeof *w);
	t = calloc((size_t)threads, sizeof *t);
	save_ns = calloc((size_t)threads * (size_t)ops, sizeof *save_ns);
	load_ns = calloc((size_t)threads * (size_t)ops, sizeof *load_ns);
	t0 = bench_now();
	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ store, i, ops, size, 0, save_ns + (size_t)i * ops,
					load_ns + (size_t)i * ops };
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (w[i].rc != 0)
			bench_die("thread %d: %s", i, strerror(-w[i].rc));
	}
	secs = bench_now() - t0;
	actor_store_destroy(store);
	if (own_pg)
		pg_server_destroy(&pg);
	if (dir[0] != '\0') {
		char cmd[96];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		(void)!system(cmd);
	}
	n = (size_t)threads * (size_t)ops;
	/* Saves per second over the save phase alone. */
	{
		double save_s = 0;

		for (i = 0; i < threads; i++) {
			double s = 0;

			for (int j = 0; j < ops; j++)
				s += w[i].save_ns[j] / 1e9;
			save_s = s > save_s ? s : save_s;
		}
		bench_sort_samples(save_ns, n);
		bench_sort_samples(load_ns, n);
		bench_result("bench=store store=%s sync=%s threads=%d size=%d saves_per_s=%.0f "
			     "save_p50_us=%.1f save_p99_us=%.1f load_p50_us=%.1f load_p99_us=%.1f "
			     "total_s=%.2f",
			     kind, sync_name, threads, size, n / save_s,
			     bench_quantile_us(save_ns, n, 0.5), bench_quantile_us(save_ns, n, 0.99),
			     bench_quantile_us(load_ns, n, 0.5), bench_quantile_us(load_ns, n, 0.99),
			     secs);
	}
	free(save_ns);
	free(load_ns);
	free(w);
	free(t);
	return 0;
}

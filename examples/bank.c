/*
 * bank: accounts as persistent virtual actors (bank_account.h) on 3 node
 * processes over TCP on 127.0.0.1, sharing one LMDB environment.
 *
 *   bank demo [--no-kill] [--at-most-once] [DIR]
 *        forks the 3 nodes (DIR: the LMDB environment; default a new
 *        folder in /tmp), opens 100 accounts of 1,000, runs 3,000 random
 *        transfers from node 0 and kills node 2 (SIGKILL) when a third of
 *        them are done; then audits the books. --at-most-once: the
 *        accounts use plain sends and no dedup (bank_account.h), to see
 *        what that loses; the books need not balance then.
 *   bank node I DIR PORT [at-most-once]
 *        one node (I = 0, 1, 2) listening on PORT + I; node 0 runs the
 *        transfers. $BANK_COOKIE: the cluster's secret.
 *
 * Node 2's accounts reactivate on nodes 0 and 1 with the state node 2
 * last wrote; transfers it was in the middle of are retried by the client
 * with their ids (the source's log answers a retry of one it took) and
 * their credits resent by the runtime (actor_virtual_send_once), dropped
 * as duplicates where they had arrived. Uses only the public API.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "examples/bank_account.h"

#define SEC 1000000000ull
#define NODES 3
#define ACCOUNTS 100
#define START 1000
#define TRANSFERS 3000

/* The cluster's secret: $BANK_COOKIE, or one made by the demo for its
 * nodes, so that nodes left over from another run cannot join. */
static char cookie[64] = "bank-example-cookie-change-me";
static enum bank_mode mode = BANK_EXACTLY_ONCE;

static void die(const char *what, int err)
{
	fprintf(stderr, "bank: %s: %s\n", what, actor_reason_string(err));
	exit(1);
}


struct watch {
	_Atomic size_t progress;
	int fd;
};

/* Writes a byte to fd (the demo's parent) when a third of the transfers
 * are done: the parent then kills node 2. */
static void *watch_progress(void *arg)
{
	struct watch *w = arg;

	while (atomic_load(&w->progress) < TRANSFERS / 3)
		usleep(1000);
	(void)!write(w->fd, "k", 1);
	return NULL;
}

/* Node 0: the client. */
static int client(actor_system_t *sys, int progress_fd)
{
	struct bank_job *jobs = calloc(TRANSFERS, sizeof *jobs);
	struct watch w = { 0, progress_fd };
	struct bank_audit a;
	size_t ok = 0, tries = 0;
	pthread_t watcher;
	int err;

	if (jobs == NULL)
		die("calloc", -ENOMEM);
	if ((err = bank_open_accounts(sys, ACCOUNTS, START)) != 0)
		die("opening the accounts", err);
	printf("node 0: %d accounts of %d opened; %d transfers...\n", ACCOUNTS, START, TRANSFERS);
	fflush(stdout);
	bank_random_jobs(jobs, TRANSFERS, ACCOUNTS, (uint64_t)time(NULL) << 24, (unsigned)getpid());
	if (progress_fd >= 0 && pthread_create(&watcher, NULL, watch_progress, &w) != 0)
		progress_fd = -1;
	err = bank_run(sys, jobs, TRANSFERS, 64, 60 * SEC, &w.progress);
	if (err != 0) {
		for (size_t i = 0; i < TRANSFERS; i++)
			if (jobs[i].status == 0)
				fprintf(stderr, "bank: transfer %zu (acct-%u to acct-%u) not done after "
					"%u tries\n", i, jobs[i].from, jobs[i].to, jobs[i].tries);
		die("transfers", err);
	}
	if (progress_fd >= 0)
		pthread_join(watcher, NULL);
	for (size_t i = 0; i < TRANSFERS; i++) {
		ok += jobs[i].status == BANK_OK;
		tries += jobs[i].tries;
	}
	printf("node 0: %zu transfers accepted, %zu refused, %zu tries in all\n", ok,
	       TRANSFERS - ok, tries);
	/* At-most-once, what has not arrived after a few seconds never will. */
	if ((err = bank_audit(sys, ACCOUNTS, jobs, TRANSFERS,
			      (mode == BANK_AT_MOST_ONCE ? 3 : 60) * SEC, &a)) != 0)
		die("audit", err);
	printf("node 0 (%s): total %lld (opened with %d); credits applied %llu, duplicates %llu, "
	       "taken twice %llu, missing %llu, phantom %llu, taken but not applied %llu\n",
	       bank_mode_name(mode), (long long)a.total, ACCOUNTS * START,
	       (unsigned long long)a.applied, (unsigned long long)a.duplicates,
	       (unsigned long long)a.taken_twice, (unsigned long long)a.missing,
	       (unsigned long long)a.phantom, (unsigned long long)a.in_flight);
	free(jobs);
	return a.total == (int64_t)ACCOUNTS * START && a.duplicates == 0 && a.taken_twice == 0 &&
			       a.missing == 0 && a.phantom == 0 && a.in_flight == 0 ?
		       0 :
		       1;
}

/* Node i listening on listen_port (0: any), joining through seed_port
 * (0: it starts the cluster); where port_fd >= 0, it writes the port it
 * listens on there. */
static int node(int i, const char *dir, uint16_t listen_port, uint16_t seed_port, int port_fd,
		int progress_fd)
{
	actor_store_lmdb_config_t lc;
	actor_store_t *store;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_node_config_t cfg;
	char name[16], seed[32];
	const char *seeds[1] = { seed };
	sigset_t set;
	int err, sig, rc = 0;
	uint16_t bound;

	actor_store_lmdb_config_init(&lc);
	lc.path = dir;
	if ((err = actor_store_lmdb_open(&store, &lc)) != 0)
		die("actor_store_lmdb_open", err);
	if ((err = actor_store_exec_create(&ex, store, NULL)) != 0)
		die("actor_store_exec_create", err);
	if ((err = actor_system_create(&sys, NULL)) != 0)
		die("actor_system_create", err);
	if ((err = bank_register(sys, ex, 0, mode)) != 0)
		die("bank_register", err);
	snprintf(name, sizeof name, "bank%d", i);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = strlen(cookie);
	cfg.listen_port = listen_port;
	/* Node 0 starts the cluster; the others join through it. A dead
	 * member's keys move 2 s after it went silent (1 s to be declared
	 * dead, then the takeover margin, which outlasts its fencing). */
	if (seed_port != 0) {
		snprintf(seed, sizeof seed, "127.0.0.1:%u", seed_port);
		cfg.seeds = seeds;
		cfg.nseeds = 1;
	}
	cfg.member_probe_interval_ns = 100 * 1000 * 1000;
	cfg.member_suspect_ns = 500 * 1000 * 1000;
	cfg.member_dead_ns = SEC;
	cfg.member_fence_ns = 800 * 1000 * 1000;
	cfg.member_takeover_margin_ns = 1200 * 1000 * 1000;
	if ((err = actor_node_start(sys, &cfg)) != 0)
		die("actor_node_start", err);
	bound = (uint16_t)actor_node_port(sys);
	if (port_fd >= 0 && write(port_fd, &bound, sizeof bound) != (ssize_t)sizeof bound)
		die("write", -errno);
	/* A node that never came up must not keep the others waiting. */
	for (int t = 0; actor_cluster_members(sys, NULL, 0, NULL) < NODES; t++) {
		if (t == 1200)
			die("the cluster did not form in 60 s", -ETIMEDOUT);
		usleep(50 * 1000);
	}
	printf("node %d: up on 127.0.0.1:%u, pid %d\n", i, bound, (int)getpid());
	fflush(stdout);
	if (i == 0) {
		rc = client(sys, progress_fd);
	} else {
		/* Serves until told to stop. */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigwait(&set, &sig);
	}
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(store);
	fflush(stdout);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: bank demo [--no-kill] [--at-most-once] [DIR]\n"
			"       bank node I DIR PORT [at-most-once]\n");
	exit(2);
}

/* Forks node i (see node()); node 0 gets the progress pipe's write end. */
static pid_t start_node(int i, const char *dir, uint16_t seed_port, int port_fd, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t set;

		/* The nodes wait for SIGTERM with sigwait. */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		/* Only node 0 writes: the parent's read ends when it exits. */
		if (i != 0)
			close(fd);
		_exit(node(i, dir, 0, seed_port, port_fd, i == 0 ? fd : -1));
	}
	if (pid < 0)
		die("fork", -errno);
	return pid;
}

static int demo(bool kill_one, const char *dir_arg)
{
	char tmp[] = "/tmp/bank-demo-XXXXXX";
	const char *dir = dir_arg;
	uint16_t port;
	pid_t pids[NODES];
	int fds[2], pfds[2], status = 1;
	char c;

	if (dir == NULL && (dir = mkdtemp(tmp)) == NULL)
		die("mkdtemp", -errno);
	snprintf(cookie, sizeof cookie, "bank-demo-%d-%lld", (int)getpid(), (long long)time(NULL));
	if (pipe(fds) != 0 || pipe(pfds) != 0)
		die("pipe", -errno);
	/* Node 0 listens on a port the kernel picks (a fixed one may be
	 * taken) and says which; the others join through it. */
	pids[0] = start_node(0, dir, 0, pfds[1], fds[1]);
	close(pfds[1]);
	if (read(pfds[0], &port, sizeof port) != (ssize_t)sizeof port)
		die("node 0 did not start", -EIO);
	close(pfds[0]);
	printf("bank demo: 3 nodes joining through 127.0.0.1:%u, LMDB in %s, transfers %s\n", port,
	       dir, bank_mode_name(mode));
	fflush(stdout);
	for (int i = 1; i < NODES; i++)
		pids[i] = start_node(i, dir, port, -1, fds[1]);
	close(fds[1]);
	if (read(fds[0], &c, 1) == 1 && kill_one) {
		printf("demo: a third of the transfers done: kill -9 node 2 (pid %d)\n", (int)pids[2]);
		fflush(stdout);
		kill(pids[2], SIGKILL);
	}
	waitpid(pids[0], &status, 0);
	for (int i = 1; i < NODES; i++) {
		kill(pids[i], SIGTERM);
		waitpid(pids[i], NULL, 0);
	}
	close(fds[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("demo: the books balance\n");
		return 0;
	}
	printf("demo: the books do NOT balance\n");
	return 1;
}

int main(int argc, char **argv)
{
	const char *c = getenv("BANK_COOKIE");

	if (c != NULL && strlen(c) >= 16 && strlen(c) < sizeof cookie)
		strcpy(cookie, c);
	if (argc >= 2 && strcmp(argv[1], "demo") == 0) {
		bool kill_one = true;
		int a = 2;

		for (; argc > a && strncmp(argv[a], "--", 2) == 0; a++) {
			if (strcmp(argv[a], "--no-kill") == 0)
				kill_one = false;
			else if (strcmp(argv[a], "--at-most-once") == 0)
				mode = BANK_AT_MOST_ONCE;
			else
				usage();
		}
		return demo(kill_one, argc > a ? argv[a] : NULL);
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "node") == 0) {
		if (argc == 6 && strcmp(argv[5], "at-most-once") == 0)
			mode = BANK_AT_MOST_ONCE;
		else if (argc == 6)
			usage();
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		return node(atoi(argv[2]), argv[3], (uint16_t)(atoi(argv[4]) + atoi(argv[2])),
			    atoi(argv[2]) != 0 ? (uint16_t)atoi(argv[4]) : 0, -1, -1);
	}
	usage();
	return 2;
}

/*
 * The LMDB store on a real environment in a temporary folder: the contract
 * (tests/store_contract.h), threads racing on one counter, group commit,
 * two processes
 * sharing the environment, a writer killed with SIGKILL mid-save, a full
 * map, a full map's retry after freeing a dead reader's slot, and one
 * environment opened twice in one process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if HAVE_LMDB
#include <lmdb.h>
#endif

#include <actor/store.h>

#include "tests/store_contract.h"
#include "tests/store_helpers.h"

struct writer {
	actor_store_t *store;
	int index, rounds, stale_ok, bad;
};

/* Saves its own record rounds times with the right versions, or (index
 * -1) saves with a stale version, which must fail alone. */
static void *writer(void *p)
{
	struct writer *w = p;
	char key[16];
	uint64_t v = 0;
	int i, rc;

	snprintf(key, sizeof key, "w%d", w->index);
	for (i = 0; i < w->rounds; i++) {
		if (w->index < 0) {
			rc = actor_store_save(w->store, "group", "w0", 2, "s", 1, 1000000, NULL);
			if (rc == -ESTALE)
				w->stale_ok++;
			else
				w->bad++;
			continue;
		}
		rc = actor_store_save(w->store, "group", key, strlen(key), &i, sizeof i, v, &v);
		if (rc != 0 || v != (uint64_t)i + 1)
			w->bad++;
	}
	return NULL;
}

/*
 * Concurrent writes commit in groups (one flush for all): a stale write in
 * a group fails alone, the others all succeed with their exact versions.
 */
static const char *group_commit(void)
{
	enum { T = 8, ROUNDS = 150 };
	struct writer w[T + 1];
	pthread_t t[T + 1];
	actor_store_t *s;
	int i, rc, bad = 0;

	rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_SYNC);
	CHECK(rc == 0, "open: %d", rc);
	for (i = 0; i <= T; i++) {
		w[i] = (struct writer){ s, i < T ? i : -1, ROUNDS, 0, 0 };
		pthread_create(&t[i], NULL, writer, &w[i]);
	}
	for (i = 0; i <= T; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	for (i = 0; i < T && bad == 0; i++) {
		char key[16];
		void *data;
		size_t size;
		uint64_t v;
		int last = -1;

		snprintf(key, sizeof key, "w%d", i);
		rc = actor_store_load(s, "group", key, strlen(key), &data, &size, &v);
		if (rc == 0 && size == sizeof last)
			memcpy(&last, data, sizeof last);
		free(data);
		if (rc != 0 || v != ROUNDS || last != ROUNDS - 1)
			bad++;
	}
	actor_store_destroy(s);
	CHECK(bad == 0 && w[T].stale_ok == ROUNDS,
	      "%d wrong results; %d of %d stale saves were -ESTALE", bad, w[T].stale_ok, ROUNDS);
	return NULL;
}

/* Two processes add to one counter through their own opens of the env. */
static const char *two_processes(void)
{
	enum { ROUNDS = 300 };
	actor_store_t *s;
	pid_t pid[2];
	uint64_t v, count = 0;
	void *data;
	size_t size;
	int i, status, rc;

	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		CHECK(pid[i] >= 0, "fork");
		if (pid[i] == 0) {
			int r;

			if (store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_NOSYNC) != 0)
				_exit(2);
			for (r = 0; r < ROUNDS; r++)
				if (store_counter_add(s, "procs", NULL) != 0)
					_exit(3);
			actor_store_destroy(s);
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		CHECK(waitpid(pid[i], &status, 0) == pid[i], "waitpid");
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %#x", i,
		      status);
	}
	rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_SYNC);
	CHECK(rc == 0, "open: %d", rc);
	rc = actor_store_load(s, "procs", "counter", 7, &data, &size, &v);
	if (rc == 0 && size == sizeof count)
		memcpy(&count, data, sizeof count);
	free(data);
	actor_store_destroy(s);
	CHECK(rc == 0 && count == 2 * ROUNDS && v == count,
	      "counter %" PRIu64 " version %" PRIu64 ", want %d", count, v, 2 * ROUNDS);
	return NULL;
}

/* The state of version v: 4000 bytes that say v everywhere. */
static void state_of(uint64_t v, unsigned char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(v * 31 + i);
	memcpy(buf, &v, sizeof v);
}

/*
 * A child saves in a loop (synced commits) and is killed with SIGKILL at
 * a random moment, five times; after each the parent opens the env: the
 * record is the one of its version, byte for byte, versions never go back,
 * and the next child carries on from there.
 */
static const char *killed_writer(void)
{
	enum { N = 4000 };
	unsigned char want[N];
	uint64_t last = 0;
	int round;

	srand((unsigned)time(NULL));
	for (round = 0; round < 5; round++) {
		actor_store_t *s;
		int sync = round % 2 ? ACTOR_STORE_NOSYNC : ACTOR_STORE_SYNC;
		int fds[2], status, rc;
		pid_t pid;
		char c;
		void *data;
		size_t size;
		uint64_t v;

		CHECK(pipe(fds) == 0, "pipe");
		pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			unsigned char buf[N];
			int n = 0;

			close(fds[0]);
			if (store_lmdb_open(&s, store_dir, 0, sync) != 0)
				_exit(2);
			for (;;) {
				uint64_t cur;
				void *d;
				size_t sz;

				if (actor_store_load(s, "kill", "k", 1, &d, &sz, &cur) != 0)
					_exit(3);
				free(d);
				state_of(cur + 1, buf, N);
				if (actor_store_save(s, "kill", "k", 1, buf, N, cur, NULL) != 0)
					_exit(4);
				if (++n == 20)	/* the parent kills from now on */
					(void)!write(fds[1], "x", 1);
			}
		}
		close(fds[1]);
		CHECK(read(fds[0], &c, 1) == 1, "the child did not start saving");
		close(fds[0]);
		usleep((useconds_t)(rand() % 20000));
		kill(pid, SIGKILL);
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "round %d: the child ended by itself (status %#x)", round, status);
		rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_SYNC);
		CHECK(rc == 0, "reopen after the kill: %d", rc);
		rc = actor_store_load(s, "kill", "k", 1, &data, &size, &v);
		actor_store_destroy(s);
		CHECK(rc == 0 && size == N, "load after the kill: %d, size %zu", rc, size);
		state_of(v, want, N);
		rc = memcmp(data, want, N);
		free(data);
		CHECK(rc == 0, "round %d: the record of version %" PRIu64 " is torn", round, v);
		CHECK(v >= last + 20, "round %d: version %" PRIu64 " after %" PRIu64, round, v, last);
		printf("# round %d: killed at version %" PRIu64 "\n", round, v);
		last = v;
	}
	return NULL;
}

/* A full map is -ENOSPC, and what was committed before stays. */
static const char *full_map(void)
{
	char small[96];
	unsigned char buf[8192];
	actor_store_t *s;
	uint64_t v;
	void *data;
	size_t size;
	int i, rc = 0;

	snprintf(small, sizeof small, "%s/small", store_dir);
	rc = store_lmdb_open(&s, small, 256 * 1024, ACTOR_STORE_SYNC);
	CHECK(rc == 0, "open: %d", rc);
	memset(buf, 0xab, sizeof buf);
	for (i = 0; i < 1000; i++) {
		char key[16];

		snprintf(key, sizeof key, "%d", i);
		rc = actor_store_save(s, "fill", key, strlen(key), buf, sizeof buf, 0, NULL);
		if (rc != 0)
			break;
	}
	if (rc != -ENOSPC) {
		actor_store_destroy(s);
		CHECK(0, "after %d records of 8 kB in a 256 kB map: %d, want -ENOSPC", i, rc);
	}
	rc = actor_store_load(s, "fill", "0", 1, &data, &size, &v);
	free(data);
	if (rc == 0 && !(v == 1 && size == sizeof buf)) rc = -1;
	if (rc == 0) {
		char key[16];

		snprintf(key, sizeof key, "%d", i);
		rc = actor_store_load(s, "fill", key, strlen(key), &data, &size, &v);
		free(data);
		if (rc == 0 && v != 0)
			rc = -2;
	}
	actor_store_destroy(s);
	CHECK(rc == 0, "after -ENOSPC at record %d: %d (the first must be intact, "
	      "the failed one absent)", i, rc);
	printf("# -ENOSPC after %d records\n", i);
	return NULL;
}
#if HAVE_LMDB
struct saver {
	actor_store_t *store;
	const char *key;
	size_t size;
	int rc;
	uint64_t version;
};

static void *saver(void *p)
{
	struct saver *sv = p;
	void *buf = calloc(1, sv->size);

	sv->rc = buf == NULL ? -ENOMEM
			     : actor_store_save(sv->store, "retry", sv->key, strlen(sv->key), buf,
						sv->size, 0, &sv->version);
	free(buf);
	return NULL;
}

/* A process that dies inside a read transaction of the environment at dir
 * (forked before the parent opens it): its pid, once it is in. */
static pid_t dead_reader(const char *dir, size_t map_size)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;

		close(fds[0]);
		if (mdb_env_create(&env) != 0 || mdb_env_set_mapsize(env, map_size) != 0 ||
		    mdb_env_open(env, dir, MDB_NOTLS, 0660) != 0 ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
			_exit(2);
		(void)!write(fds[1], "r", 1);
		pause();	/* killed in the transaction */
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		pid = -1;
	close(fds[0]);
	return pid;
}

/* A process that holds byte 0 of dir's actor.lock (the host's writer
 * turn, store/lmdb.c) until a byte comes on go. */
static pid_t writer_turn_holder(const char *dir, int go)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	char path[128], c;
	int fds[2];
	pid_t pid;

	snprintf(path, sizeof path, "%s/actor.lock", dir);
	if (pipe(fds) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_CREAT, 0660);

		close(fds[0]);
		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) != 0)
			_exit(2);
		(void)!write(fds[1], "h", 1);
		(void)!read(go, &c, 1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		pid = -1;
	close(fds[0]);
	return pid;
}
#endif

/*
 * A full map in a group commit, with a dead reader's slot to free: the
 * group runs request by request (the small save commits, the big one is
 * -ENOSPC), the slot is freed and the group tried once more. Only the
 * failed requests may run again: a save that committed, run again, finds
 * its own version and came back -ESTALE, though it was stored. The group
 * forms behind a first save that waits for the host's writer turn, which
 * another process holds.
 */
static const char *retry_reruns_only_failed(void)
{
#if HAVE_LMDB
	enum { MAP = 256 * 1024 };
	struct saver first = { .key = "first", .size = 16 }, small = { .key = "small", .size = 16 },
		     big = { .key = "big", .size = 2 * MAP };
	char dir[96];
	actor_store_t *s;
	pthread_t th[3];
	pid_t reader, holder;
	int go[2], status, rc;

	snprintf(dir, sizeof dir, "%s/retry", store_dir);
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	CHECK(pipe(go) == 0, "pipe");
	reader = dead_reader(dir, MAP);
	CHECK(reader > 0, "the reader did not start");
	rc = store_lmdb_open(&s, dir, MAP, ACTOR_STORE_NOSYNC);
	CHECK(rc == 0, "open: %d", rc);
	/* After the open, which takes the writer turn too. */
	holder = writer_turn_holder(dir, go[0]);
	CHECK(holder > 0, "the writer turn's holder did not start");
	/* Dead after the open, which frees the slots of dead readers. */
	kill(reader, SIGKILL);
	CHECK(waitpid(reader, &status, 0) == reader, "waitpid reader");
	first.store = small.store = big.store = s;
	pthread_create(&th[0], NULL, saver, &first);
	usleep(200000);	/* first leads, waiting for the writer turn */
	pthread_create(&th[1], NULL, saver, &small);
	pthread_create(&th[2], NULL, saver, &big);
	usleep(300000);	/* both queue up behind it: the next group */
	(void)!write(go[1], "g", 1);
	CHECK(waitpid(holder, &status, 0) == holder, "waitpid holder");
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	close(go[0]);
	close(go[1]);
	{
		void *data = NULL;
		size_t size = 0;
		uint64_t v = 0;

		rc = actor_store_load(s, "retry", "small", 5, &data, &size, &v);
		free(data);
		actor_store_destroy(s);
		CHECK(first.rc == 0 && big.rc == -ENOSPC,
		      "first save %d, big save %d (want 0, -ENOSPC)", first.rc, big.rc);
		CHECK(small.rc == 0 && small.version == 1,
		      "the small save beside the full one: %d, version %" PRIu64
		      " (stored: load %d, version %" PRIu64 "); want 0, 1",
		      small.rc, small.version, rc, v);
	}
	return NULL;
#else
	return NULL;
#endif
}

/* Two opens of one path in one process share the environment. */
static const char *opened_twice(void)
{
	actor_store_t *a, *b;
	void *data = NULL;
	size_t size;
	uint64_t v = 0;
	int rc;

	rc = store_lmdb_open(&a, store_dir, 0, ACTOR_STORE_SYNC);
	CHECK(rc == 0, "open a: %d", rc);
	rc = store_lmdb_open(&b, store_dir, 0, ACTOR_STORE_SYNC);
	if (rc == 0)
		rc = actor_store_save(a, "twice", "k", 1, "a", 1, 0, NULL);
	if (rc == 0) {
		actor_store_destroy(a);
		a = NULL;
		rc = actor_store_load(b, "twice", "k", 1, &data, &size, &v);
	}
	free(data);
	actor_store_destroy(a);
	actor_store_destroy(b);
	CHECK(rc == 0 && v == 1, "%d, version %" PRIu64, rc, v);
	return NULL;
}

static const char *long_key(void)
{
	char key[600];
	actor_store_t *s;
	int rc;

	memset(key, 'k', sizeof key);
	rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_SYNC);
	CHECK(rc == 0, "open: %d", rc);
	rc = actor_store_save(s, "long", key, sizeof key, "x", 1, 0, NULL);
	actor_store_destroy(s);
	CHECK(rc == -ENAMETOOLONG, "a 600-byte key: %d, want -ENAMETOOLONG", rc);
	return NULL;
}

int main(void)
{
	actor_store_t *s;
	int rc, status = store_lmdb_start("lmdb", ACTOR_STORE_SYNC, &s, &rc);

	if (status >= 0)
		return status;
	tap_plan(STORE_CONTRACT_TESTS + 8);
	if (rc != 0) {
		printf("Bail out! actor_store_lmdb_open(%s): %d\n", store_dir, rc);
		return 1;
	}
	store_contract(s, "lmdb");
	tap_result("4 threads x 200 increments of one counter lose no update",
		   store_counter_race(s, "race", 4, 200));
	actor_store_destroy(s);
	tap_result("8 writers and a stale one commit in groups: only the stale saves fail",
		   group_commit());
	tap_result("two processes x 300 increments on one shared environment",
		   two_processes());
	/*
	 * A writer killed holding LMDB's lock is recovered by the kernel's
	 * robust futexes, which qemu-user does not emulate (set_robust_list
	 * is ENOSYS there): under it the next writer would wait for ever.
	 */
	if (getenv("ACTOR_TESTS_EMULATED") != NULL)
		printf("ok %d - a writer killed with SIGKILL mid-save # SKIP qemu-user has no "
		       "robust futexes\n", ++tap_n);
	else
		tap_result("a writer killed with SIGKILL mid-save 5 times: last commit intact",
			   killed_writer());
	tap_result("a full map is -ENOSPC and keeps what was committed", full_map());
	tap_result("a full map's retry after freeing a dead reader runs only the failed saves",
		   retry_reruns_only_failed());
	tap_result("one environment opened twice in a process is shared", opened_twice());
	tap_result("a key longer than LMDB's limit is -ENAMETOOLONG", long_key());
	store_dir_done();
	return tap_exit();
}

/*
 * Processes sharing one LMDB environment while one of them is killed with
 * SIGKILL over and over, as plain TAP (it runs under TSan too): the
 * promise that a node's SIGKILL costs the other nodes of the host nothing
 * (actor_store(7)), which in a CI root once ended with a survivor waiting
 * for LMDB's writer lock for ever.
 *
 * As in tests/test_bank (tests/node_proc.c), the parent opens the store
 * and writes too, from THREADS threads, and its CHILDREN are fresh
 * processes (fork, then exec of /proc/self/exe: LMDB forbids using an
 * environment across a fork) that each open the store and write from
 * THREADS threads at once (so that the store's group commit and nested
 * transactions run): every write a batch of BATCH records of
 * RECORD bytes, so that a process holds the writer lock much of the time,
 * and a load of another process's record (a read transaction, a slot in
 * the reader table, which a kill may leave taken). The parent kills one
 * child at a random moment: a third of the time just after that child took
 * LMDB's writer lock (the lock word in lock.mdb names one of its threads),
 * a third while it is inside a write, a third anywhere; restarts it, and
 * then wants every child, the survivors and the new one, to commit again
 * within BOUND_S seconds: a survivor that does not is hung (its threads'
 * kernel wait channels are printed) and the test fails instead of waiting.
 * Every record carries its version in every byte, so a torn or lost
 * commit shows; at the end the parent reopens the environment and checks
 * every record again.
 *
 * KILLS kills by default, times STRESS_SCALE.
 *
 * Random kills almost never show the hang that CI once met, because the
 * others' contention hides it: a process killed after the kernel woke it
 * to take LMDB's lock, while a third had taken the lock meanwhile without
 * contention, takes the only wakeup with it (store/lmdb.c's top comment),
 * and the next waiter sleeps until another contention wakes it, which
 * never comes where only one writer is left. The last test makes that
 * happen on purpose: the parent holds LMDB's writer lock (LMDB's own API,
 * standing for the store of another process), a child V waits for it,
 * then a child S; all three on one CPU, the parent with a real-time
 * priority, so that V cannot run once woken: the parent unlocks (waking
 * V), locks again, kills V and unlocks, and S must get its write through
 * (before store/lmdb.c's record locks it slept for ever). Needs
 * CAP_SYS_NICE for the priority (skips without it).
 *
 * Skips under qemu-user (ACTOR_TESTS_EMULATED): it has no robust futexes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if HAVE_LMDB
#include <lmdb.h>
#include <sched.h>
#endif

#include <actor/store.h>

#include "tests/store_helpers.h"

enum { CHILDREN = 3, THREADS = 3, BATCH = 8, RECORD = 2048, KILLS = 40, BOUND_S = 20 };

/* What the writers tell the parent's checks, in memory shared by all:
 * slot CHILDREN is the parent's own writers. */
struct board {
	struct {
		atomic_ulong commits;	/* writes that returned 0, all threads */
		atomic_int in_write;	/* threads inside actor_store_write */
		atomic_int error;	/* a failure (then the child exits 3) */
	} child[CHILDREN + 1];
};

static struct board *board;
static pid_t parent;
static char board_fd[16];
static atomic_int stopping;	/* the parent's writers stop (children are killed) */

/* The record of version v: every byte says v. */
static void fill(unsigned char *buf, uint64_t v)
{
	memset(buf, (int)(v * 131 + 7), RECORD);
	memcpy(buf, &v, sizeof v);
}

static int intact(const unsigned char *buf, size_t size, uint64_t v)
{
	unsigned char want[RECORD];

	if (size != RECORD)
		return 0;
	fill(want, v);
	return memcmp(buf, want, RECORD) == 0;
}

static void key_of(char *key, int child, int thread, int i)
{
	snprintf(key, 16, "c%dt%dr%d", child, thread, i);
}

struct writer {
	actor_store_t *store;
	int child, thread;
	pthread_t t;
};

/* Loads the batch's versions (after a kill: whatever was committed last),
 * then writes the batch over and over; a load of another child's record
 * between writes. Any failure but -ESTALE ends the child. */
static void *writer(void *p)
{
	struct writer *w = p;
	actor_store_op_t ops[BATCH];
	char keys[BATCH][16];
	unsigned char (*bufs)[RECORD] = malloc(BATCH * RECORD);
	unsigned seed = (unsigned)getpid() * 7919u + (unsigned)w->thread;
	void *data;
	size_t size, failed;
	uint64_t v;
	int i, rc;

	if (bufs == NULL)
		goto fail_rc;
	for (i = 0; i < BATCH; i++) {
		key_of(keys[i], w->child, w->thread, i);
		data = NULL;
		rc = actor_store_load(w->store, "k", keys[i], strlen(keys[i]), &data, &size, &v);
		if (rc != 0 || (v != 0 && !intact(data, size, v))) {
			free(data);
			rc = rc != 0 ? rc : -EIO;
			goto fail;
		}
		free(data);
		ops[i] = (actor_store_op_t){ .kind = ACTOR_STORE_SAVE, .type = "k", .key = keys[i],
					     .key_len = strlen(keys[i]), .data = bufs[i],
					     .size = RECORD, .expected = v };
	}
	while (!atomic_load(&stopping)) {
		char other[16];

		for (i = 0; i < BATCH; i++)
			fill(bufs[i], ops[i].expected + 1);
		atomic_fetch_add(&board->child[w->child].in_write, 1);
		rc = actor_store_write(w->store, ops, BATCH, &failed);
		atomic_fetch_sub(&board->child[w->child].in_write, 1);
		if (rc != 0)
			goto fail;
		for (i = 0; i < BATCH; i++)
			ops[i].expected = ops[i].version;
		atomic_fetch_add(&board->child[w->child].commits, 1);
		key_of(other, (int)(rand_r(&seed) % CHILDREN), (int)(rand_r(&seed) % THREADS),
		       (int)(rand_r(&seed) % BATCH));
		data = NULL;
		rc = actor_store_load(w->store, "k", other, strlen(other), &data, &size, &v);
		if (rc == 0 && v != 0 && !intact(data, size, v))
			rc = -EIO;
		free(data);
		if (rc != 0)
			goto fail;
	}
	free(bufs);
	return NULL;
fail_rc:
	rc = -ENOMEM;
fail:
	atomic_store(&board->child[w->child].error, rc);
	if (getpid() != parent)
		_exit(3);
	free(bufs);
	return NULL;
}

/* Opens the store, starts THREADS writers for slot c: 0 or an error. */
static int start_writers(int c, actor_store_t **s, struct writer *w)
{
	int i, rc;

	rc = store_lmdb_open(s, store_dir, 0, ACTOR_STORE_NOSYNC);
	if (rc != 0)
		return rc;
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct writer){ .store = *s, .child = c, .thread = i };
		if (pthread_create(&w[i].t, NULL, writer, &w[i]) != 0)
			_exit(6);	/* a test that cannot run */
	}
	return 0;
}

/* A child's body ("child C BOARD_FD PARENT_PID DIR"): writes until killed. */
static int child_main(char **argv)
{
	struct writer w[THREADS];
	actor_store_t *s;
	int c = atoi(argv[2]), rc;

	/* A parent that dies (its watchdog) takes the children with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	parent = (pid_t)atol(argv[4]);
	if (getppid() != parent || c < 0 || c >= CHILDREN)
		return 4;
	board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED, atoi(argv[3]), 0);
	if (board == MAP_FAILED)
		return 5;
	snprintf(store_dir, sizeof store_dir, "%s", argv[5]);
	rc = start_writers(c, &s, w);
	if (rc != 0) {
		atomic_store(&board->child[c].error, rc);
		return 3;
	}
	for (;;)
		pause();
}

/* Child c, a fresh process (the parent has threads and the store open). */
static pid_t spawn(int c)
{
	char cs[16], ps[16];
	pid_t pid;

	atomic_store(&board->child[c].in_write, 0);
	snprintf(cs, sizeof cs, "%d", c);
	snprintf(ps, sizeof ps, "%d", (int)parent);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "stress_lmdb_kill", "child", cs, board_fd, ps, store_dir,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * LMDB's writer lock, read from lock.mdb, to aim kills at a child that
 * holds it: LMDB 0.9's lock file starts with its magic, format, reader
 * mutex, txnid and reader count, and the writer mutex starts on the next
 * 64-byte line; glibc's mutex starts with its futex word, which holds the
 * owner's thread id. Only an aim: where the file does not look like that
 * (another LMDB or C library), the kills are not aimed, nothing fails.
 */
static const volatile uint32_t *wlock;

static void map_wlock(void)
{
	char path[96];
	size_t off = ((8 + sizeof(pthread_mutex_t) + 7) / 8 * 8 + 8 + 4 + 63) / 64 * 64;
	const uint32_t *m;
	int fd;

	snprintf(path, sizeof path, "%s/lock.mdb", store_dir);
	/* The parent has the environment open: this second descriptor of
	 * lock.mdb stays open for good, since closing it would drop the
	 * parent's fcntl locks on the file (POSIX), which LMDB relies on. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return;
	if (m[0] == 0xBEEFC0DEu)
		wlock = (const volatile uint32_t *)((const char *)m + off);
}

/* Whether a thread of pid holds the writer lock now. */
static bool holds_wlock(pid_t pid)
{
	char path[64];
	uint32_t tid;

	if (wlock == NULL || (tid = *wlock & 0x3fffffffu) == 0)
		return false;
	snprintf(path, sizeof path, "/proc/%d/task/%u", (int)pid, tid);
	return access(path, F_OK) == 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where the threads of a hung child wait, as a comment line. */
static void show_threads(pid_t pid)
{
	char path[320], wchan[64];
	struct dirent *d;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return;
	printf("# pid %d threads:", (int)pid);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, d->d_name);
		wchan[0] = '\0';
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(wchan, sizeof wchan, f) == NULL)
				wchan[0] = '\0';
			fclose(f);
		}
		printf(" %s:%s", d->d_name, wchan[0] ? wchan : "?");
	}
	printf("\n");
	closedir(dir);
}

/* Waits until every child committed past before[] (or failed): NULL, or
 * why not, with the hung ones' threads shown. */
static const char *all_commit(pid_t *pids, const unsigned long *before, int kill_no)
{
	double end = now() + BOUND_S;
	int c;

	for (;;) {
		int behind = -1;

		for (c = 0; c <= CHILDREN; c++) {
			int err = atomic_load(&board->child[c].error);

			CHECK(err == 0, "kill %d: child %d failed: %d", kill_no, c, err);
			if (atomic_load(&board->child[c].commits) <= before[c] && behind < 0)
				behind = c;
		}
		if (behind < 0)
			return NULL;
		if (now() > end) {
			for (c = 0; c <= CHILDREN; c++)
				if (atomic_load(&board->child[c].commits) <= before[c])
					show_threads(c < CHILDREN ? pids[c] : parent);
			CHECK(0, "kill %d: writers %d (pid %d, %d threads in a write) made no commit "
			      "in %d s: hung", kill_no, behind,
			      (int)(behind < CHILDREN ? pids[behind] : parent),
			      atomic_load(&board->child[behind].in_write), BOUND_S);
		}
		usleep(1000);
	}
}

/* What the kills hit. */
struct hits {
	unsigned long inside;	/* the victim was inside a write */
	unsigned long holding;	/* a thread of the victim held the writer lock */
	unsigned long died;	/* the lock word said its owner died, after */
};

/* Kills a child, restarts it, wants everyone to commit again; kills
 * times. */
static const char *kill_loop(pid_t *pids, unsigned long kills, struct hits *h)
{
	unsigned long before[CHILDREN + 1], k;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	const char *bad;
	int c, status;

	for (c = 0; c <= CHILDREN; c++)
		before[c] = 0;
	if ((bad = all_commit(pids, before, -1)) != NULL)
		return bad;
	for (k = 0; k < kills; k++) {
		int v = (int)(rand_r(&seed) % CHILDREN), aim = (int)(rand_r(&seed) % 3);
		double end = now() + 1;

		if (aim == 0 && wlock != NULL) {
			/* Just after it took the writer lock. */
			while (!holds_wlock(pids[v]) && now() < end)
				;
		} else if (aim <= 1) {
			/* Inside a write: the lock is likely held (or waited for). */
			while (atomic_load(&board->child[v].in_write) == 0 && now() < end)
				;
			if (rand_r(&seed) % 2)
				usleep(rand_r(&seed) % 200);
		} else {
			usleep(rand_r(&seed) % 5000);
		}
		h->inside += atomic_load(&board->child[v].in_write) != 0;
		h->holding += holds_wlock(pids[v]);
		kill(pids[v], SIGKILL);
		CHECK(waitpid(pids[v], &status, 0) == pids[v], "waitpid");
		/* FUTEX_OWNER_DIED, until the next owner makes it consistent. */
		h->died += wlock != NULL && (*wlock & 0x40000000u) != 0;
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "kill %lu: child %d ended by itself (status %#x, error %d)", k, v, status,
		      atomic_load(&board->child[v].error));
		for (c = 0; c <= CHILDREN; c++)
			before[c] = atomic_load(&board->child[c].commits);
		CHECK((pids[v] = spawn(v)) > 0, "fork");
		if ((bad = all_commit(pids, before, (int)k)) != NULL)
			return bad;
	}
	return NULL;
}

/* Every writer's records, after the last kill: intact, in one environment
 * that opens again. */
static const char *records_intact(void)
{
	actor_store_t *s;
	char key[16];
	void *data;
	size_t size;
	uint64_t v;
	int c, t, i, rc;

	CHECK((rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_NOSYNC)) == 0,
	      "reopen: %d", rc);
	for (c = 0; c <= CHILDREN; c++)
		for (t = 0; t < THREADS; t++)
			for (i = 0; i < BATCH; i++) {
				key_of(key, c, t, i);
				data = NULL;
				rc = actor_store_load(s, "k", key, strlen(key), &data, &size, &v);
				if (rc != 0 || v == 0 || !intact(data, size, v)) {
					free(data);
					actor_store_destroy(s);
					CHECK(0, "record %s: %d, version %" PRIu64 ", size %zu", key,
					      rc, v, size);
				}
				free(data);
			}
	actor_store_destroy(s);
	return NULL;
}

#if HAVE_LMDB
/* Whether a thread of pid sleeps in the kernel (in a futex or a record
 * lock, both of which name their wait channel). */
static bool asleep(pid_t pid)
{
	char path[64], wchan[64] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(wchan, sizeof wchan, f) == NULL)
		wchan[0] = '\0';
	fclose(f);
	return wchan[0] != '\0' && strcmp(wchan, "0") != 0;
}

/* A child of the last test: waits for the go (a byte on fd), opens the
 * store in dir and saves one record; exits 0 when that worked. */
static pid_t wake_child(const char *dir, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		actor_store_t *s;
		char c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (read(fd, &c, 1) != 1 || store_lmdb_open(&s, dir, 0, ACTOR_STORE_NOSYNC) != 0)
			_exit(2);
		_exit(actor_store_save(s, "w", "k", 1, "x", 1, 0, NULL) == 0 ||
		      actor_store_save(s, "w", "k", 1, "x", 1, 1, NULL) == 0 ? 0 : 3);
	}
	return pid;
}

/* Waits until pid sleeps (5 s at most): whether it does. */
static bool wait_asleep(pid_t pid)
{
	double end = now() + 5;

	while (!asleep(pid))
		if (now() > end)
			return false;
		else
			usleep(1000);
	usleep(50000);	/* in the queue, not about to leave it */
	return asleep(pid);
}

static const char *killed_waiter(bool *skip)
{
	struct sched_param fifo = { .sched_priority = 1 }, other = { .sched_priority = 0 };
	char dir[96];
	cpu_set_t cpu0;	/* the one CPU of all three */
	MDB_env *env;
	MDB_txn *txn;
	pid_t v, s;
	int vgo[2], sgo[2], status = -1, rc;
	double end;

	*skip = false;
	snprintf(dir, sizeof dir, "%s/wake", store_dir);
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	CHECK(pipe(vgo) == 0 && pipe(sgo) == 0, "pipe");
	/* One CPU of those allowed here. */
	CHECK(sched_getaffinity(0, sizeof cpu0, &cpu0) == 0, "sched_getaffinity");
	for (rc = 0; rc < CPU_SETSIZE && !CPU_ISSET(rc, &cpu0); rc++)
		;
	CPU_ZERO(&cpu0);
	CPU_SET(rc, &cpu0);
	CHECK(sched_setaffinity(0, sizeof cpu0, &cpu0) == 0, "sched_setaffinity");
	/* Children inherit the CPU: V, once woken, waits for the parent. */
	v = wake_child(dir, vgo[0]);
	s = wake_child(dir, sgo[0]);
	CHECK(v > 0 && s > 0, "fork");
	CHECK(mdb_env_create(&env) == 0 && mdb_env_set_mapsize(env, (size_t)1 << 30) == 0 &&
	      mdb_env_open(env, dir, 0, 0660) == 0, "mdb_env_open");
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0, "mdb_txn_begin");
	/* V waits for the writer lock first, then S. */
	CHECK(write(vgo[1], "v", 1) == 1 && wait_asleep(v), "V does not wait");
	CHECK(write(sgo[1], "s", 1) == 1 && wait_asleep(s), "S does not wait");
	if (sched_setscheduler(0, SCHED_FIFO, &fifo) != 0) {
		mdb_txn_abort(txn);
		mdb_env_close(env);
		kill(v, SIGKILL);
		kill(s, SIGKILL);
		waitpid(v, NULL, 0);
		waitpid(s, NULL, 0);
		*skip = true;
		return NULL;
	}
	mdb_txn_abort(txn);	/* unlocks: the kernel wakes V, which cannot run */
	rc = mdb_txn_begin(env, NULL, 0, &txn);	/* no contention: no sign of S */
	kill(v, SIGKILL);
	waitpid(v, NULL, 0);	/* V dies while the lock is held */
	if (rc == 0)
		mdb_txn_abort(txn);
	sched_setscheduler(0, SCHED_OTHER, &other);
	end = now() + BOUND_S;
	while (waitpid(s, &status, WNOHANG) == 0 && now() < end)
		usleep(1000);
	if (now() >= end) {
		show_threads(s);
		kill(s, SIGKILL);
		waitpid(s, NULL, 0);
	}
	mdb_env_close(env);
	CHECK(rc == 0, "mdb_txn_begin again: %d", rc);
	CHECK(status == 0, "S did not get its write through in %d s (status %#x): the waiter "
	      "killed after its wakeup stranded it", BOUND_S, status);
	return NULL;
}
#endif

int main(int argc, char **argv)
{
	unsigned long kills = KILLS * stress_scale();
	struct hits h = { 0, 0, 0 };
	struct writer w[THREADS];
	pid_t pids[CHILDREN];
	actor_store_t *s;
	const char *bad;
	double t0;
	int c, fd, rc;

	if (argc == 6 && strcmp(argv[1], "child") == 0)
		return child_main(argv);
	if ((rc = store_lmdb_start("lmdbkill", ACTOR_STORE_NOSYNC, NULL, NULL)) >= 0)
		return rc;
	tap_plan(3);
	if (store_lmdb_kill_hangs()) {
		tap_skip("survivors keep committing while processes sharing LMDB are killed",
			 STORE_LMDB_KILL_HANGS);
		tap_skip("every record intact after the kills", STORE_LMDB_KILL_HANGS);
		tap_skip("a writer killed after its wakeup strands no other", STORE_LMDB_KILL_HANGS);
		store_dir_done();
		return tap_exit();
	}
	/* The board, shared with the children across their exec. */
	fd = memfd_create("board", 0);
	if (fd < 0 || ftruncate(fd, sizeof *board) != 0) {
		perror("memfd_create");
		return 1;
	}
	board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (board == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	snprintf(board_fd, sizeof board_fd, "%d", fd);
	parent = getpid();
	/* The watchdog: a hang the bounds below miss still ends the run. */
	alarm((unsigned)(60 + kills * (BOUND_S + 1)));
	rc = start_writers(CHILDREN, &s, w);
	if (rc != 0) {
		printf("# the parent's store: %d\n", rc);
		return 1;
	}
	map_wlock();
	if (wlock == NULL)
		printf("# lock.mdb is not laid out as LMDB 0.9 on glibc: kills not aimed\n");
	for (c = 0; c < CHILDREN; c++)
		pids[c] = spawn(c);
	t0 = now();
	bad = kill_loop(pids, kills, &h);
	for (c = 0; c < CHILDREN; c++)
		if (pids[c] > 0) {
			kill(pids[c], SIGKILL);
			waitpid(pids[c], NULL, 0);
		}
	printf("# %lu kills of %d of %d writing processes x %d threads in %.1f s: %lu inside a "
	       "write, %lu holding LMDB's writer lock, %lu seen as its dead owner\n",
	       kills, CHILDREN, CHILDREN + 1, THREADS, now() - t0, h.inside, h.holding, h.died);
	atomic_store(&stopping, 1);
	for (c = 0; c < THREADS; c++)
		pthread_join(w[c].t, NULL);
	actor_store_destroy(s);
	tap_result("survivors keep committing while processes sharing LMDB are killed", bad);
	tap_result("every record intact after the kills", records_intact());
	{
		bool skip;
		const char *why_not = killed_waiter(&skip);

		if (skip)
			tap_skip("a writer killed after its wakeup strands no other",
				 "no real-time priority here (CAP_SYS_NICE)");
		else
			tap_result("a writer killed after its wakeup strands no other "
				   "(LMDB's lock held, two waiters, the first killed)",
				   why_not);
	}
	store_dir_done();
	return tap_exit();
}

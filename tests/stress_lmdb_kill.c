/*
 * Processes sharing one LMDB environment while one of them is killed with
 * SIGKILL over and over, as plain TAP (it runs under TSan too): the
 * promise that a node's SIGKILL costs the other nodes of the host nothing
 * (actor_store(7)), which in a CI root once ended with a survivor waiting
 * for LMDB's writer lock for ever.
 *
 * CHILDREN processes, forked before the parent opens the environment
 * (LMDB forbids a fork with an environment open), each open the store and
 * write from THREADS threads at once (so that the store's group commit
 * and nested transactions run): every write a batch of BATCH records of
 * RECORD bytes, so that a process holds the writer lock much of the time,
 * and a load of another child's record (a read transaction, a slot in the
 * reader table, which a kill may leave taken). The parent kills one child
 * at a random moment, half the time while that child is inside a write
 * (after it set in_write, before the write returned), restarts it, and
 * then wants every child, the survivors and the new one, to commit again
 * within BOUND_S seconds: a survivor that does not is hung (its threads'
 * kernel wait channels are printed) and the test fails instead of waiting.
 * Every record carries its version in every byte, so a torn or lost
 * commit shows; at the end the parent reopens the environment and checks
 * every record again.
 *
 * KILLS kills by default, times STRESS_SCALE. Skips under qemu-user
 * (ACTOR_TESTS_EMULATED): it has no robust futexes.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <actor/store.h>

#include "tests/store_helpers.h"

enum { CHILDREN = 4, THREADS = 3, BATCH = 8, RECORD = 2048, KILLS = 40, BOUND_S = 20 };

/* What the children tell the parent, in memory shared with it. */
struct board {
	struct {
		atomic_ulong commits;	/* writes that returned 0, all threads */
		atomic_int in_write;	/* threads inside actor_store_write */
		atomic_int error;	/* a failure (then the child exits 3) */
	} child[CHILDREN];
};

static struct board *board;

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
	for (;;) {
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
fail_rc:
	rc = -ENOMEM;
fail:
	atomic_store(&board->child[w->child].error, rc);
	_exit(3);
}

/* A child's body: the store opened, THREADS writers; never returns. */
static void child_main(int c)
{
	struct writer w[THREADS];
	pthread_t t;
	actor_store_t *s;
	int i, rc;

	/* A parent that dies (its watchdog) takes the children with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(4);
	rc = store_lmdb_open(&s, store_dir, 0, ACTOR_STORE_NOSYNC);
	if (rc != 0) {
		atomic_store(&board->child[c].error, rc);
		_exit(3);
	}
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct writer){ s, c, i };
		if (pthread_create(&t, NULL, writer, &w[i]) != 0)
			_exit(3);
	}
	for (;;)
		pause();
}

static pid_t spawn(int c)
{
	pid_t pid;

	atomic_store(&board->child[c].in_write, 0);
	pid = fork();
	if (pid == 0)
		child_main(c);
	return pid;
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

		for (c = 0; c < CHILDREN; c++) {
			int err = atomic_load(&board->child[c].error);

			CHECK(err == 0, "kill %d: child %d failed: %d", kill_no, c, err);
			if (atomic_load(&board->child[c].commits) <= before[c] && behind < 0)
				behind = c;
		}
		if (behind < 0)
			return NULL;
		if (now() > end) {
			for (c = 0; c < CHILDREN; c++)
				if (atomic_load(&board->child[c].commits) <= before[c])
					show_threads(pids[c]);
			CHECK(0, "kill %d: child %d (pid %d, %d threads in a write) made no commit "
			      "in %d s: hung", kill_no, behind, (int)pids[behind],
			      atomic_load(&board->child[behind].in_write), BOUND_S);
		}
		usleep(1000);
	}
}

/* Kills a child, restarts it, wants everyone to commit again; kills
 * times. *inside counts the kills made while the victim was in a write. */
static const char *kill_loop(pid_t *pids, unsigned long kills, unsigned long *inside)
{
	unsigned long before[CHILDREN], k;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	const char *bad;
	int c, status;

	for (c = 0; c < CHILDREN; c++)
		before[c] = 0;
	if ((bad = all_commit(pids, before, -1)) != NULL)
		return bad;
	for (k = 0; k < kills; k++) {
		int v = (int)(rand_r(&seed) % CHILDREN);

		if (rand_r(&seed) % 2) {
			double end = now() + 1;

			/* Inside a write: the lock is likely held (or waited for). */
			while (atomic_load(&board->child[v].in_write) == 0 && now() < end)
				;
			if (rand_r(&seed) % 2)
				usleep(rand_r(&seed) % 200);
		} else {
			usleep(rand_r(&seed) % 5000);
		}
		*inside += atomic_load(&board->child[v].in_write) != 0;
		kill(pids[v], SIGKILL);
		CHECK(waitpid(pids[v], &status, 0) == pids[v], "waitpid");
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "kill %lu: child %d ended by itself (status %#x, error %d)", k, v, status,
		      atomic_load(&board->child[v].error));
		for (c = 0; c < CHILDREN; c++)
			before[c] = atomic_load(&board->child[c].commits);
		CHECK((pids[v] = spawn(v)) > 0, "fork");
		if ((bad = all_commit(pids, before, (int)k)) != NULL)
			return bad;
	}
	return NULL;
}

/* Every child's records, after the last kill: intact, in one environment
 * that opens. */
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
	for (c = 0; c < CHILDREN; c++)
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

int main(void)
{
	unsigned long kills = KILLS * stress_scale(), inside = 0;
	pid_t pids[CHILDREN];
	const char *bad;
	double t0;
	int c, rc;

	if ((rc = store_lmdb_start("lmdbkill", ACTOR_STORE_NOSYNC, NULL, NULL)) >= 0)
		return rc;
	tap_plan(2);
	if (store_lmdb_kill_hangs()) {
		tap_skip("survivors keep committing while processes sharing LMDB are killed",
			 STORE_LMDB_KILL_HANGS);
		tap_skip("every record intact after the kills", STORE_LMDB_KILL_HANGS);
		store_dir_done();
		return tap_exit();
	}
	board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (board == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(board, 0, sizeof *board);
	/* The watchdog: a hang the bounds below miss still ends the run. */
	alarm((unsigned)(60 + kills * (BOUND_S + 1)));
	for (c = 0; c < CHILDREN; c++)
		pids[c] = spawn(c);
	t0 = now();
	bad = kill_loop(pids, kills, &inside);
	for (c = 0; c < CHILDREN; c++)
		if (pids[c] > 0) {
			kill(pids[c], SIGKILL);
			waitpid(pids[c], NULL, 0);
		}
	printf("# %lu kills (%lu inside a write) of %d processes x %d threads in %.1f s\n",
	       kills, inside, CHILDREN, THREADS, now() - t0);
	tap_result("survivors keep committing while processes sharing LMDB are killed", bad);
	tap_result("every record intact after the kills", records_intact());
	store_dir_done();
	return tap_exit();
}

/*
 * store/lmdb.c: the embedded store on LMDB. One environment (a directory)
 * may be shared by the processes of a host: LMDB serialises write
 * transactions with a robust mutex shared by all of them, so a versioned
 * write (read the version, compare, put) in one write transaction is a
 * compare-and-set across processes, and a process killed mid-write leaves
 * the last committed transaction intact.
 *
 * A record is the key "type\0key" in the unnamed database, and the value
 * 8 bytes of version (host order: the file is not meant to move between
 * architectures) then the state.
 *
 * LMDB's robust mutexes recover a lock whose owner died, but not a waiter
 * that dies: the kernel wakes one waiter when the owner unlocks, and when
 * that one is killed before it runs while a third thread has taken the
 * lock meanwhile (the unlocking writer's next commit, whose uncontended
 * lock leaves no sign of waiters), the kernel's exit handling sees the
 * lock held and wakes nobody, and the other waiters sleep for ever, on a
 * lock that is free (tests/stress_lmdb_kill shows it with three processes).
 * So LMDB's locks never get two waiters from libactor: a process's writer
 * (the group commit's leader) first takes a POSIX record lock on byte 0 of
 * the directory's file actor.lock, and a read transaction starts (LMDB's
 * reader-table lock) under byte 1 and a mutex of the process. Waiters of a
 * record lock sleep in the kernel, which drops a dead process's locks and
 * its place in the queue; what then waits on LMDB's own locks is at most
 * the one holder of the byte (and a writer recovering a dead owner's
 * reader-table lock), so a killed waiter strands nobody. Record locks
 * belong to the process (not inherited by a fork, released by any close of
 * the file in that process: actor.lock is opened once per environment).
 *
 * LMDB forbids opening one environment twice in a process (its locks would
 * be corrupted), yet two actor systems in one process may each open the
 * same path. So environments are shared through a table for the whole
 * process, keyed by the directory's device and inode and counted; it is
 * the library's one piece of global state, forced by LMDB. An entry made
 * by a parent process before fork() is not used (nor closed) by the child,
 * which opens its own.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actor/store.h>

void actor_store_lmdb_config_init(actor_store_lmdb_config_t *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->map_size = (size_t)1 << 30;
	cfg->sync = ACTOR_STORE_SYNC;
	cfg->max_readers = 126;
}

#if HAVE_LMDB
#include <fcntl.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The bytes of actor.lock (see the top comment). */
enum { HOST_WRITER = 0, HOST_READER = 1 };

struct env {
	struct env *next;
	dev_t dev;
	ino_t ino;
	pid_t pid;
	unsigned refs;
	MDB_env *env;
	MDB_dbi dbi;
	size_t max_key;
	int lockfd;		/* actor.lock */
	pthread_mutex_t rlock;	/* one of the process's threads under HOST_READER */
	/* Group commit: writes waiting for the thread that commits for all. */
	pthread_mutex_t glock;
	pthread_cond_t gcond;
	struct req *pending, **tail;
	int committing;
};

/* One caller's write in a group. */
struct req {
	struct req *next;
	actor_store_op_t *ops;
	size_t n, failed;
	int rc, done;
};

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env *envs;

/* LMDB's own codes are negative and its system errors positive errno. */
static int mdb_error(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_TXN_FULL:
		return -E2BIG;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EIO;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/*
 * Waits for the record lock on byte of actor.lock: 0 or a negative errno.
 * The kernel's deadlock check sees processes, not threads: a process
 * whose reader holds one byte while its writer waits for the other can
 * look deadlocked with another doing the same the other way round
 * (EDEADLK), though each byte is held only for a moment: wait, try again.
 */
static int host_lock(struct env *e, int byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	struct timespec ms = { 0, 1000000 };

	while (fcntl(e->lockfd, F_SETLKW, &fl) != 0) {
		if (errno == EDEADLK)
			nanosleep(&ms, NULL);
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void host_unlock(struct env *e, int byte)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	(void)fcntl(e->lockfd, F_SETLK, &fl);
}

/* The process's turn to use LMDB's reader-table lock (a read transaction
 * starting, mdb_reader_check): 0 or a negative errno. */
static int reader_turn(struct env *e)
{
	int rc;

	pthread_mutex_lock(&e->rlock);
	rc = host_lock(e, HOST_READER);
	if (rc != 0)
		pthread_mutex_unlock(&e->rlock);
	return rc;
}

static void reader_turn_end(struct env *e)
{
	host_unlock(e, HOST_READER);
	pthread_mutex_unlock(&e->rlock);
}

/* Frees the reader-table slots of dead processes (whose snapshots keep
 * LMDB from reusing pages): how many, or a negative errno. */
static int free_dead_readers(struct env *e)
{
	int rc, dead = 0;

	rc = reader_turn(e);
	if (rc != 0)
		return rc;
	rc = mdb_reader_check(e->env, &dead);
	reader_turn_end(e);
	return rc != 0 ? mdb_error(rc) : dead;
}

/* A read transaction: 0 or LMDB's error. */
static int begin_read(struct env *e, MDB_txn **txn)
{
	int rc = reader_turn(e);

	if (rc != 0)
		return -rc;	/* positive: mdb_error() makes it the errno again */
	rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_READERS_FULL) {
		int dead;

		/* Slots held by readers that died since the open: free them. */
		mdb_reader_check(e->env, &dead);
		rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn);
	}
	reader_turn_end(e);
	return rc;
}

/* Opens (creates) actor.lock in the directory: 0 or a negative errno. */
static int lockfile_open(struct env *e, const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof path, "%s/actor.lock", dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	e->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	return e->lockfd < 0 ? -errno : 0;
}

static int env_open(struct env *e, const actor_store_lmdb_config_t *cfg)
{
	unsigned flags = MDB_NOTLS;
	MDB_txn *txn;
	int rc;

	if (cfg->sync == ACTOR_STORE_NOSYNC)
		flags |= MDB_NOSYNC;
	else if (cfg->sync == ACTOR_STORE_NOMETASYNC)
		flags |= MDB_NOMETASYNC;
	rc = lockfile_open(e, cfg->path);
	if (rc != 0)
		return rc;
	pthread_mutex_init(&e->rlock, NULL);
	rc = mdb_env_create(&e->env);
	if (rc != 0) {
		rc = mdb_error(rc);
		goto fail_lock;
	}
	if ((rc = mdb_env_set_mapsize(e->env, cfg->map_size)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, cfg->max_readers)) != 0 ||
	    (rc = mdb_env_open(e->env, cfg->path, flags, 0660)) != 0) {
		rc = mdb_error(rc);
		goto fail;
	}
	/* Slots of readers that died with a transaction open. */
	rc = free_dead_readers(e);
	if (rc < 0)
		goto fail;
	if ((rc = host_lock(e, HOST_WRITER)) != 0)
		goto fail;
	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc == 0 && (rc = mdb_dbi_open(txn, NULL, 0, &e->dbi)) != 0)
		mdb_txn_abort(txn);
	else if (rc == 0)
		rc = mdb_txn_commit(txn);
	host_unlock(e, HOST_WRITER);
	rc = mdb_error(rc);
	if (rc != 0)
		goto fail;
	e->max_key = (size_t)mdb_env_get_maxkeysize(e->env);
	return 0;
fail:
	mdb_env_close(e->env);
fail_lock:
	pthread_mutex_destroy(&e->rlock);
	close(e->lockfd);
	return rc;
}

static void env_release(struct env *e)
{
	struct env **p;

	pthread_mutex_lock(&envs_lock);
	if (--e->refs > 0) {
		pthread_mutex_unlock(&envs_lock);
		return;
	}
	for (p = &envs; *p != e; p = &(*p)->next)
		;
	*p = e->next;
	pthread_mutex_unlock(&envs_lock);
	mdb_env_close(e->env);
	/* After LMDB's close: closing actor.lock drops the process's record
	 * locks, on this file only. */
	close(e->lockfd);
	pthread_mutex_destroy(&e->rlock);
	pthread_cond_destroy(&e->gcond);
	pthread_mutex_destroy(&e->glock);
	free(e);
}

/* The key "type\0key" in buf (at least max_key bytes). */
static int make_key(struct env *e, char *buf, const char *type, const void *key,
		    size_t key_len, MDB_val *k)
{
	size_t tlen = strlen(type) + 1;

	if (tlen + key_len > e->max_key)
		return -ENAMETOOLONG;
	memcpy(buf, type, tlen);
	if (key_len > 0)
		memcpy(buf + tlen, key, key_len);
	k->mv_data = buf;
	k->mv_size = tlen + key_len;
	return 0;
}

static uint64_t version_of(const MDB_val *v)
{
	uint64_t version;

	memcpy(&version, v->mv_data, sizeof version);
	return version;
}

static int lmdb_load(void *impl, const char *type, const void *key, size_t key_len,
		     void **data, size_t *size, uint64_t *version)
{
	struct env *e = impl;
	char buf[e->max_key];
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	rc = make_key(e, buf, type, key, key_len, &k);
	if (rc != 0)
		return rc;
	rc = begin_read(e, &txn);
	if (rc != 0)
		return mdb_error(rc);
	rc = mdb_get(txn, e->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
	} else if (rc != 0) {
		rc = mdb_error(rc);
	} else if (v.mv_size < sizeof(uint64_t)) {
		rc = -EIO;
	} else {
		size_t n = v.mv_size - sizeof(uint64_t);

		*version = version_of(&v);
		if (n > 0) {
			*data = malloc(n);
			if (*data == NULL) {
				*version = 0;
				rc = -ENOMEM;
			} else {
				memcpy(*data, (char *)v.mv_data + sizeof(uint64_t), n);
				*size = n;
			}
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

/* One operation inside the write transaction: 0, -ESTALE or an error. */
static int apply(struct env *e, MDB_txn *txn, actor_store_op_t *op)
{
	char buf[e->max_key];
	uint64_t stored = 0;
	MDB_val k, v;
	int rc;

	rc = make_key(e, buf, op->type, op->key, op->key_len, &k);
	if (rc != 0)
		return rc;
	rc = mdb_get(txn, e->dbi, &k, &v);
	if (rc == 0)
		stored = v.mv_size >= sizeof(uint64_t) ? version_of(&v) : 0;
	else if (rc != MDB_NOTFOUND)
		return mdb_error(rc);
	if (stored != op->expected)
		return -ESTALE;
	if (op->kind == ACTOR_STORE_DELETE) {
		op->version = 0;
		if (stored == 0)
			return 0;
		return mdb_error(mdb_del(txn, e->dbi, &k, NULL));
	}
	/* MDB_RESERVE: LMDB gives the space, the record is written once. */
	v.mv_size = sizeof(uint64_t) + op->size;
	rc = mdb_put(txn, e->dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return mdb_error(rc);
	op->version = op->expected + 1;
	memcpy(v.mv_data, &op->version, sizeof op->version);
	if (op->size > 0)
		memcpy((char *)v.mv_data + sizeof(uint64_t), op->data, op->size);
	return 0;
}

/* The operations of one request in txn: 0, or the first failure. */
static int apply_all(struct env *e, MDB_txn *txn, struct req *r)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n; i++) {
		rc = apply(e, txn, &r->ops[i]);
		if (rc != 0) {
			r->failed = i;
			return rc;
		}
	}
	return 0;
}

/* One request in a transaction of its own. */
static void write_alone(struct env *e, struct req *r)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(e->env, NULL, 0, &txn);

	if (rc != 0) {
		r->rc = mdb_error(rc);
		return;
	}
	r->rc = apply_all(e, txn, r);
	if (r->rc != 0)
		mdb_txn_abort(txn);
	else
		r->rc = mdb_error(mdb_txn_commit(txn));
}

/*
 * Several requests in one transaction, one commit (one flush) for all: each
 * in a nested transaction, so that one whose version is stale is undone
 * alone. Any other failure inside undoes the whole group, which then runs
 * request by request, so that each gets its own result and LMDB never
 * continues a transaction after an error.
 */
static void write_group(struct env *e, struct req *group)
{
	MDB_txn *txn, *child;
	struct req *r;
	int rc;

	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc != 0)
		goto alone;
	for (r = group; r != NULL; r = r->next) {
		rc = mdb_txn_begin(e->env, txn, 0, &child);
		if (rc != 0) {
			mdb_txn_abort(txn);
			goto alone;
		}
		r->rc = apply_all(e, child, r);
		if (r->rc == -ESTALE || r->rc == -ENAMETOOLONG) {
			mdb_txn_abort(child);
		} else if (r->rc != 0 || (rc = mdb_txn_commit(child)) != 0) {
			mdb_txn_abort(txn);
			goto alone;
		}
	}
	rc = mdb_error(mdb_txn_commit(txn));
	for (r = group; r != NULL; r = r->next)
		if (r->rc == 0)
			r->rc = rc;
	return;
alone:
	for (r = group; r != NULL; r = r->next)
		write_alone(e, r);
}

/*
 * The group's writes under the host's writer byte (see the top comment).
 * A full map may only be pages that the snapshots of dead readers keep
 * (a process killed in a read transaction holds its slot until someone
 * frees it): then their slots are freed and the requests that failed
 * with -ENOSPC are tried once more, each alone. Only those: the group may
 * have run request by request, and one that committed, run again, would
 * find its own version and report -ESTALE for a save that is stored.
 */
static void commit(struct env *e, struct req *group)
{
	struct req *r;
	int rc = host_lock(e, HOST_WRITER);

	if (rc != 0) {
		for (r = group; r != NULL; r = r->next)
			r->rc = rc;
		return;
	}
	if (group->next == NULL)
		write_alone(e, group);
	else
		write_group(e, group);
	for (r = group; r != NULL && r->rc != -ENOSPC; r = r->next)
		;
	if (r != NULL && free_dead_readers(e) > 0) {
		for (; r != NULL; r = r->next) {
			if (r->rc == -ENOSPC) {
				r->failed = 0;
				write_alone(e, r);
			}
		}
	}
	host_unlock(e, HOST_WRITER);
}

/*
 * The first writer to come commits for the writers that queue up behind
 * it meanwhile: with N threads writing, one flush serves up to N writes
 * (group commit) instead of each waiting for the flushes before its own.
 */
static int lmdb_write(void *impl, actor_store_op_t *ops, size_t n, size_t *failed)
{
	struct env *e = impl;
	struct req me = { .ops = ops, .n = n };
	struct req *group, *r, *next;

	pthread_mutex_lock(&e->glock);
	*e->tail = &me;
	e->tail = &me.next;
	while (!me.done && e->committing)
		pthread_cond_wait(&e->gcond, &e->glock);
	if (!me.done) {
		group = e->pending;
		e->pending = NULL;
		e->tail = &e->pending;
		e->committing = 1;
		pthread_mutex_unlock(&e->glock);
		commit(e, group);
		pthread_mutex_lock(&e->glock);
		for (r = group; r != NULL; r = next) {
			next = r->next;	/* r may go as soon as done is seen */
			r->done = 1;
		}
		e->committing = 0;
		pthread_cond_broadcast(&e->gcond);
	}
	pthread_mutex_unlock(&e->glock);
	*failed = me.failed;
	return me.rc;
}

static void lmdb_close(void *impl)
{
	env_release(impl);
}

static const actor_store_ops_t lmdb_ops = {
	.load = lmdb_load,
	.write = lmdb_write,
	.close = lmdb_close,
};

int actor_store_lmdb_open(actor_store_t **out, const actor_store_lmdb_config_t *cfg)
{
	struct stat st;
	struct env *e;
	pid_t pid = getpid();
	int rc;

	if (out == NULL || cfg == NULL || cfg->path == NULL || cfg->map_size == 0 ||
	    cfg->max_readers == 0 || cfg->sync < ACTOR_STORE_SYNC || cfg->sync > ACTOR_STORE_NOSYNC)
		return -EINVAL;
	if (mkdir(cfg->path, 0770) != 0 && errno != EEXIST)
		return -errno;
	if (stat(cfg->path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	pthread_mutex_lock(&envs_lock);
	for (e = envs; e != NULL; e = e->next)
		if (e->dev == st.st_dev && e->ino == st.st_ino && e->pid == pid)
			break;
	if (e != NULL) {
		e->refs++;
	} else {
		e = calloc(1, sizeof *e);
		rc = e == NULL ? -ENOMEM : env_open(e, cfg);
		if (rc != 0) {
			pthread_mutex_unlock(&envs_lock);
			free(e);
			return rc;
		}
		pthread_mutex_init(&e->glock, NULL);
		pthread_cond_init(&e->gcond, NULL);
		e->tail = &e->pending;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->pid = pid;
		e->refs = 1;
		e->next = envs;
		envs = e;
	}
	pthread_mutex_unlock(&envs_lock);
	rc = actor_store_create(out, &lmdb_ops, e);
	if (rc != 0)
		env_release(e);
	return rc;
}
#else
int actor_store_lmdb_open(actor_store_t **out, const actor_store_lmdb_config_t *cfg)
{
	return -ENOTSUP;	/* configured without LMDB (Debian: liblmdb-dev) */
}
#endif

/*
 * libactor: persistent state stores, for programs that keep per-key state.
 *
 * A store holds records named by (type, key): a type name (a C string) and
 * a key (any bytes). A record is bytes and a version: 0 means "no record";
 * every successful save makes the version one more than the expected one.
 * Every write names the version it expects to replace, and a write whose
 * expectation is not the stored version fails with -ESTALE and changes
 * nothing: the version is a fencing token, so that of two writers that
 * both loaded version 7 only the first wins. actor_store_write() applies
 * several saves and deletes all or nothing (state, dedup records and an
 * outbox in one transaction).
 *
 * Store calls block (disk, network): call them on threads of your own or
 * through an executor (actor_store_exec_create()), never in a handler. See
 * actor_store(7) for the whole contract. This header does not need
 * <actor/actor.h>; the LMDB and PostgreSQL stores are in libactor when it
 * was configured with them (otherwise their open calls fail with
 * -ENOTSUP).
 */
#ifndef ACTOR_STORE_H
#define ACTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <actor/common.h>

ACTOR_BEGIN_DECLS

/* A store: one of the built-in ones, or a user's vtable wrapped. Opaque. */
typedef struct actor_store actor_store_t;

/* What one operation of a write does. */
enum {
	ACTOR_STORE_SAVE = 1,	/* replace (or create, expected 0) the record */
	ACTOR_STORE_DELETE = 2	/* remove the record (expected 0: it must not exist) */
};

/*
 * One operation of actor_store_write(). The caller owns every pointer;
 * the store reads them during the call only. version is written back:
 * the record's new version (expected + 1 for a save, 0 for a delete).
 */
typedef struct actor_store_op {
	int kind;		/* ACTOR_STORE_SAVE or ACTOR_STORE_DELETE */
	const char *type;	/* NUL-terminated, not empty */
	const void *key;
	size_t key_len;
	const void *data;	/* SAVE: the record's bytes (NULL if size is 0) */
	size_t size;
	uint64_t expected;	/* the version this operation replaces; 0: none */
	uint64_t version;	/* out */
} actor_store_op_t;

/*
 * A store implementation. Every function may block and is called from any
 * thread, concurrently: it must be thread-safe. Errors are negative errno
 * values (actor_store(7)).
 *  load:  the record's bytes in *data (malloc()ed, the caller free()s it;
 *         NULL when size is 0), *size and *version; a missing record is
 *         0 with *version 0, *data NULL, *size 0.
 *  write: the n operations all or nothing; -ESTALE with *failed the index
 *         of the first operation whose expected version was not the
 *         stored one (and nothing written).
 *  close: frees impl; called once, by actor_store_destroy().
 */
typedef struct actor_store_ops {
	int (*load)(void *impl, const char *type, const void *key, size_t key_len,
		    void **data, size_t *size, uint64_t *version);
	int (*write)(void *impl, actor_store_op_t *ops, size_t n, size_t *failed);
	void (*close)(void *impl);
} actor_store_ops_t;

ACTOR_API int actor_store_create(actor_store_t **out, const actor_store_ops_t *ops, void *impl);
ACTOR_API void actor_store_destroy(actor_store_t *store);

ACTOR_API int actor_store_load(actor_store_t *store, const char *type, const void *key,
			       size_t key_len, void **data, size_t *size, uint64_t *version);
ACTOR_API int actor_store_save(actor_store_t *store, const char *type, const void *key,
			       size_t key_len, const void *data, size_t size, uint64_t expected,
			       uint64_t *version);
ACTOR_API int actor_store_delete(actor_store_t *store, const char *type, const void *key,
				 size_t key_len, uint64_t expected);
ACTOR_API int actor_store_write(actor_store_t *store, actor_store_op_t *ops, size_t n,
				size_t *failed);

/* --- LMDB: an environment (a directory) shared by the processes of a host */

/* Commit durability (actor_store_lmdb_config_t.sync). */
enum {
	ACTOR_STORE_SYNC = 0,		/* fsync every commit (default) */
	ACTOR_STORE_NOMETASYNC = 1,	/* MDB_NOMETASYNC: data synced, meta page not */
	ACTOR_STORE_NOSYNC = 2		/* MDB_NOSYNC: the OS writes back when it likes */
};

typedef struct actor_store_lmdb_config {
	const char *path;	/* the environment's directory, created if missing */
	size_t map_size;	/* largest size of the data file (default 1 GiB) */
	int sync;		/* ACTOR_STORE_SYNC (default), _NOMETASYNC, _NOSYNC */
	unsigned max_readers;	/* concurrent read transactions, all processes (126) */
} actor_store_lmdb_config_t;

ACTOR_API void actor_store_lmdb_config_init(actor_store_lmdb_config_t *cfg);
ACTOR_API int actor_store_lmdb_open(actor_store_t **out, const actor_store_lmdb_config_t *cfg);

/* --- PostgreSQL: a table of (type, key, version, state) ------------------ */

typedef struct actor_store_pg_config {
	const char *conninfo;	/* libpq connection string, e.g. "host=/tmp port=5432" */
	const char *table;	/* [a-z_][a-z0-9_]*, at most 63 (default "actor_state") */
	int create_table;	/* CREATE TABLE IF NOT EXISTS at open (default 1) */
	unsigned max_connections; /* at most this many calls at once (default 8) */
} actor_store_pg_config_t;

ACTOR_API void actor_store_pg_config_init(actor_store_pg_config_t *cfg);
ACTOR_API int actor_store_pg_open(actor_store_t **out, const actor_store_pg_config_t *cfg);

/* --- the executor: store calls off the caller's thread ------------------- */

typedef struct actor_store_exec actor_store_exec_t;

typedef struct actor_store_exec_config {
	unsigned threads;	/* store threads (default 2) */
	unsigned queue;		/* operations waiting at most; more: -EAGAIN (default 1024) */
} actor_store_exec_config_t;

/*
 * Completions, called on a store thread (or, with -ECANCELED, on the thread
 * of actor_store_exec_destroy()). load: data is the callee's to free().
 * write: ops as submitted, versions filled in; failed as for
 * actor_store_write().
 */
typedef void actor_store_load_done_t(void *arg, int rc, void *data, size_t size,
				     uint64_t version);
typedef void actor_store_write_done_t(void *arg, int rc, actor_store_op_t *ops, size_t n,
				      size_t failed);

ACTOR_API void actor_store_exec_config_init(actor_store_exec_config_t *cfg);
ACTOR_API int actor_store_exec_create(actor_store_exec_t **out, actor_store_t *store,
				      const actor_store_exec_config_t *cfg);
ACTOR_API void actor_store_exec_destroy(actor_store_exec_t *ex);
ACTOR_API int actor_store_exec_load(actor_store_exec_t *ex, const char *type, const void *key,
				    size_t key_len, actor_store_load_done_t *done, void *arg);
ACTOR_API int actor_store_exec_write(actor_store_exec_t *ex, actor_store_op_t *ops, size_t n,
				     actor_store_write_done_t *done, void *arg);

ACTOR_END_DECLS

#endif /* ACTOR_STORE_H */

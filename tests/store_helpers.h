/*
 * What the store tests share (tests/test_store_*.c, test_virtual_store.c,
 * store_contract.h), written once:
 *  - CHECK, which ends a test function with the reason it failed;
 *  - the temporary folder of an LMDB test, the store opened in it, and the
 *    start and end of such a test's main();
 *  - a store over a real one whose calls fail on demand.
 * Its state is static, as in tests/stress/tap.h: include it in one file of
 * a program.
 */
#ifndef ACTOR_TESTS_STORE_HELPERS_H
#define ACTOR_TESTS_STORE_HELPERS_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <actor/store.h>

#include "tests/stress/tap.h"

/*
 * A test function returns NULL when it passed, else why it failed: CHECK
 * writes the reason here and returns it. One buffer is enough: each reason
 * is printed (tap_result) before the next test function runs.
 */
static char why[512] __attribute__((unused));	/* unused where nothing CHECKs */

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			snprintf(why, sizeof why, __VA_ARGS__); \
			return why; \
		} \
	} while (0)

/* --- an LMDB test's folder -------------------------------------------------- */

/* The test's temporary folder, /tmp/actor-NAME-XXXXXX. */
static char store_dir[64];

/* Empties store_dir, for a test that wants a new environment. */
static inline void store_dir_empty(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", store_dir);
	(void)!system(cmd);
}

/* At the end of main(): removes store_dir when every test passed; after a
 * failure it stays, to be looked at. */
static inline void store_dir_done(void)
{
	char cmd[128];

	if (tap_failed != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	(void)!system(cmd);
}

/* An LMDB store at path: map_size 0 is the default; sync is one of
 * ACTOR_STORE_SYNC (the default), _NOMETASYNC, _NOSYNC. */
static inline int store_lmdb_open(actor_store_t **s, const char *path, size_t map_size,
				  int sync)
{
	actor_store_lmdb_config_t cfg;

	actor_store_lmdb_config_init(&cfg);
	cfg.path = path;
	if (map_size != 0)
		cfg.map_size = map_size;
	cfg.sync = sync;
	return actor_store_lmdb_open(s, &cfg);
}

/*
 * The start of an LMDB test's main(): makes store_dir for the test NAME
 * and opens a store there with sync, which shows whether libactor has
 * LMDB. Returns -1 to go on, with the open's result in *rc (rc may be
 * NULL) and the store in *s where it opened (s NULL: closed again, each
 * test opens its own); else what main() returns: 1 where the folder could
 * not be made (printed), 0 where libactor has no LMDB (the whole program
 * skips: a TAP plan of 0; the folder is removed).
 */
static inline int store_lmdb_start(const char *name, int sync, actor_store_t **s, int *rc)
{
	actor_store_t *store;
	int err;

	snprintf(store_dir, sizeof store_dir, "/tmp/actor-%s-XXXXXX", name);
	if (mkdtemp(store_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	err = store_lmdb_open(&store, store_dir, 0, sync);
	if (err == -ENOTSUP) {
		printf("1..0 # SKIP libactor was configured without LMDB (Debian: liblmdb-dev)\n");
		rmdir(store_dir);
		return 0;
	}
	if (err == 0 && s != NULL)
		*s = store;
	else if (err == 0)
		actor_store_destroy(store);
	if (rc != NULL)
		*rc = err;
	return -1;
}

/*
 * Whether a process killed with SIGKILL while it held LMDB's lock would
 * hang the others: the kernel's robust futexes recover that lock, and
 * qemu-user (.ci/aarch64 sets ACTOR_TESTS_EMULATED) does not emulate them.
 */
static inline bool store_lmdb_kill_hangs(void)
{
	return getenv("ACTOR_TESTS_EMULATED") != NULL;
}

#define STORE_LMDB_KILL_HANGS "qemu-user has no robust futexes: a node killed holding LMDB's lock hangs the others"

/* --- a store that fails ----------------------------------------------------- */

/*
 * A store over real (actor_store_create(&s, &flaky_ops, &f)) whose loads
 * fail with -EIO and whose writes fail with -ENOSPC before they reach
 * real (nothing is written): every call while fail_loads / fail_writes is
 * set; otherwise one call in load_one_in / write_one_in (0: none), picked
 * by a hash of the call's number (a fixed period could fall in step with
 * a retry loop, and fail one key's loads for ever). Closing it leaves
 * real open.
 */
struct flaky {
	actor_store_t *real;
	atomic_int fail_loads, fail_writes;
	unsigned load_one_in, write_one_in;
	atomic_uint loads, writes;		/* calls so far */
	atomic_uint failed_loads, failed_writes;
};

static inline bool flaky_pick(atomic_uint *calls, unsigned one_in)
{
	uint64_t z = atomic_fetch_add(calls, 1) + 0x9e3779b97f4a7c15ull;

	if (one_in == 0)
		return false;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) % one_in == 0;
}

static inline int flaky_load(void *impl, const char *type, const void *key, size_t key_len,
			     void **data, size_t *size, uint64_t *version)
{
	struct flaky *f = impl;

	if (atomic_load(&f->fail_loads) || flaky_pick(&f->loads, f->load_one_in)) {
		atomic_fetch_add(&f->failed_loads, 1);
		return -EIO;
	}
	return actor_store_load(f->real, type, key, key_len, data, size, version);
}

static inline int flaky_write(void *impl, actor_store_op_t *ops, size_t n, size_t *failed)
{
	struct flaky *f = impl;

	if (atomic_load(&f->fail_writes) || flaky_pick(&f->writes, f->write_one_in)) {
		atomic_fetch_add(&f->failed_writes, 1);
		return -ENOSPC;
	}
	return actor_store_write(f->real, ops, n, failed);
}

static inline void flaky_close(void *impl)
{
	(void)impl;
}

static const actor_store_ops_t flaky_ops = { flaky_load, flaky_write, flaky_close };

#endif

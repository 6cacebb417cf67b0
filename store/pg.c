/*
 * store/pg.c: the store on PostgreSQL, for clusters whose nodes share no
 * disk. One table holds (type, key, version, state); a save is
 * "UPDATE ... WHERE version = expected" (or "INSERT ... ON CONFLICT DO
 * NOTHING" when expected is 0) and the affected row count tells a conflict
 * from a success; the operations of one write run in one transaction.
 *
 * Connections: libpq connections are not thread-safe, so each call takes one
 * from a pool (made on demand, at most max_connections, a caller waits for
 * one beyond that) and gives it back. With an executor of N threads there
 * are at most N. A connection whose server went away is dropped, and the
 * next call connects again: an idle one is checked when taken (a restarted
 * server closed it), and a call that loses its connection gets -ECONNRESET,
 * which for a write means "outcome unknown" (the commit may have happened;
 * a retry with the same expected version then gets -ESTALE, and a load
 * tells). A load is retried once on a fresh connection, since it changes
 * nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actor/store.h>

void actor_store_pg_config_init(actor_store_pg_config_t *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->conninfo = "";
	cfg->table = "actor_state";
	cfg->create_table = 1;
	cfg->max_connections = 8;
}

#if HAVE_LIBPQ
#include <endian.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>

struct pg {
	char *conninfo;
	char table[64];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	PGconn **idle;		/* connections nobody uses */
	unsigned nidle, total, max;
};

enum { Q_LOAD, Q_INSERT, Q_UPDATE, Q_DELETE, Q_ABSENT, Q_COUNT };
static const char *const qname[Q_COUNT] = { "load", "insert", "update", "delete", "absent" };

/* The statements, table name filled in; prepared on each connection. */
static int prepare(PGconn *c, const char *table)
{
	static const char *const fmt[Q_COUNT] = {
		"SELECT version, state FROM %s WHERE type = $1 AND key = $2",
		"INSERT INTO %s (type, key, version, state) VALUES ($1, $2, 1, $3) "
		"ON CONFLICT DO NOTHING",
		"UPDATE %s SET state = $3, version = version + 1 "
		"WHERE type = $1 AND key = $2 AND version = $4",
		"DELETE FROM %s WHERE type = $1 AND key = $2 AND version = $3",
		"SELECT 1 FROM %s WHERE type = $1 AND key = $2",
	};
	char sql[512];
	int i;

	for (i = 0; i < Q_COUNT; i++) {
		PGresult *r;
		int ok;

		snprintf(sql, sizeof sql, fmt[i], table);
		r = PQprepare(c, qname[i], sql, 0, NULL);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			return -1;
	}
	return 0;
}

/* A result's failure as an errno: connection lost, disk full, or -EIO. */
static int pg_error(PGconn *c, const PGresult *r)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	/* libpq's own errors (a write to a closed socket) have no SQLSTATE. */
	if (PQstatus(c) == CONNECTION_BAD || state == NULL)
		return -ECONNRESET;
	if (strcmp(state, "53100") == 0)	/* disk_full */
		return -ENOSPC;
	if (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0)
		return -ECONNRESET;	/* shut down, or connection exception */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return -EAGAIN;		/* serialisation failure, deadlock */
	return -EIO;
}

/* Notices ("relation already exists, skipping") are not the caller's business. */
static void quiet(void *arg, const char *message)
{
}

/*
 * An idle connection whose server closed it (a restart) has its end of
 * stream waiting: reading it, without blocking (libpq's socket is
 * non-blocking inside), finds that out before a write is sent into it and
 * its outcome becomes unknown.
 */
static int alive(PGconn *c)
{
	/*
	 * Twice: a server shutting down sends a notice, then closes; the first
	 * read may take the notice only, the second meets the end.
	 */
	return PQconsumeInput(c) && PQconsumeInput(c) && PQstatus(c) == CONNECTION_OK;
}

static PGconn *take(struct pg *p, int *rc)
{
	PGconn *c = NULL;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->nidle == 0 && p->total >= p->max)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->nidle == 0)
			break;
		c = p->idle[--p->nidle];
		if (alive(c)) {
			pthread_mutex_unlock(&p->lock);
			return c;
		}
		PQfinish(c);
		p->total--;
	}
	p->total++;
	pthread_mutex_unlock(&p->lock);
	/* Connect outside the lock: it is a round trip or more. */
	c = PQconnectdb(p->conninfo);
	PQsetNoticeProcessor(c, quiet, NULL);
	if (PQstatus(c) != CONNECTION_OK || prepare(c, p->table) != 0) {
		*rc = PQstatus(c) == CONNECTION_OK ? -EIO : -ECONNREFUSED;
		PQfinish(c);
		pthread_mutex_lock(&p->lock);
		p->total--;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	return c;
}

/* Gives c back, or drops it when its connection is (or may be) gone. */
static void give(struct pg *p, PGconn *c, int rc)
{
	int bad = rc == -ECONNRESET || PQstatus(c) == CONNECTION_BAD ||
		  PQtransactionStatus(c) != PQTRANS_IDLE;

	PGconn *dead[p->max];
	unsigned ndead = 0;

	pthread_mutex_lock(&p->lock);
	if (bad) {
		/* The others likely lost the same server: connect afresh. */
		dead[ndead++] = c;
		while (p->nidle > 0)
			dead[ndead++] = p->idle[--p->nidle];
		p->total -= ndead;
	} else {
		p->idle[p->nidle++] = c;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	while (ndead > 0)
		PQfinish(dead[--ndead]);
}

static int load_on(PGconn *c, const char *type, const void *key, size_t key_len,
		   void **data, size_t *size, uint64_t *version)
{
	const char *values[2] = { type, key_len > 0 ? key : "" };
	int lengths[2] = { 0, (int)key_len };
	int formats[2] = { 0, 1 };
	PGresult *r = PQexecPrepared(c, qname[Q_LOAD], 2, values, lengths, formats, 1);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = pg_error(c, r);
	} else if (PQntuples(r) == 1) {
		uint64_t be;
		int n = PQgetlength(r, 0, 1);

		if (PQgetlength(r, 0, 0) != 8) {
			rc = -EIO;
		} else {
			memcpy(&be, PQgetvalue(r, 0, 0), 8);
			*version = be64toh(be);
			if (n > 0) {
				*data = malloc((size_t)n);
				if (*data == NULL) {
					*version = 0;
					rc = -ENOMEM;
				} else {
					memcpy(*data, PQgetvalue(r, 0, 1), (size_t)n);
					*size = (size_t)n;
				}
			}
		}
	}
	PQclear(r);
	return rc;
}

static int pg_load(void *impl, const char *type, const void *key, size_t key_len,
		   void **data, size_t *size, uint64_t *version)
{
	struct pg *p = impl;
	int rc = 0, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		PGconn *c = take(p, &rc);

		if (c == NULL)
			return rc;
		rc = load_on(c, type, key, key_len, data, size, version);
		give(p, c, rc);
		if (rc != -ECONNRESET)
			break;
	}
	return rc;
}

/* Runs a command that needs no parameters (BEGIN, COMMIT, ROLLBACK). */
static int command(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_error(c, r);

	PQclear(r);
	return rc;
}

/* One operation: 0, -ESTALE or an error. */
static int apply(PGconn *c, actor_store_op_t *op)
{
	char expected[24];
	const char *values[4] = { op->type, op->key_len > 0 ? op->key : "", NULL, NULL };
	int lengths[4] = { 0, (int)op->key_len, 0, 0 };
	int formats[4] = { 0, 1, 0, 0 };
	const char *q;
	int nparams;
	PGresult *r;
	int rc;

	snprintf(expected, sizeof expected, "%" PRIu64, op->expected);
	if (op->kind == ACTOR_STORE_SAVE) {
		values[2] = op->size > 0 ? op->data : "";
		lengths[2] = (int)op->size;
		formats[2] = 1;
		values[3] = expected;
		q = qname[op->expected == 0 ? Q_INSERT : Q_UPDATE];
		nparams = op->expected == 0 ? 3 : 4;
	} else {
		values[2] = expected;
		q = qname[op->expected == 0 ? Q_ABSENT : Q_DELETE];
		nparams = op->expected == 0 ? 2 : 3;
	}
	r = PQexecPrepared(c, q, nparams, values, lengths, formats, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)	/* absent: no row is success */
		rc = PQntuples(r) == 0 ? 0 : -ESTALE;
	else if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -ESTALE;
	else
		rc = pg_error(c, r);
	PQclear(r);
	if (rc == 0)
		op->version = op->kind == ACTOR_STORE_SAVE ? op->expected + 1 : 0;
	return rc;
}

static int write_on(PGconn *c, actor_store_op_t *ops, size_t n, size_t *failed)
{
	size_t i;
	int rc;

	if (n == 1) {	/* one statement commits on its own */
		rc = apply(c, &ops[0]);
		*failed = 0;
		return rc;
	}
	rc = command(c, "BEGIN");
	if (rc != 0)
		return rc;
	for (i = 0; i < n; i++) {
		rc = apply(c, &ops[i]);
		if (rc != 0) {
			*failed = i;
			/* On a lost connection there is nothing to roll back. */
			if (PQstatus(c) != CONNECTION_BAD)
				command(c, "ROLLBACK");
			return rc;
		}
	}
	return command(c, "COMMIT");
}

static int pg_write(void *impl, actor_store_op_t *ops, size_t n, size_t *failed)
{
	struct pg *p = impl;
	int rc = 0;
	PGconn *c = take(p, &rc);

	if (c == NULL)
		return rc;
	rc = write_on(c, ops, n, failed);
	give(p, c, rc);
	return rc;
}

static void pg_close(void *impl)
{
	struct pg *p = impl;

	while (p->nidle > 0)
		PQfinish(p->idle[--p->nidle]);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p->conninfo);
	free(p);
}

static const actor_store_ops_t pg_ops = {
	.load = pg_load,
	.write = pg_write,
	.close = pg_close,
};

/* The table name goes into SQL text, so it is a plain identifier or nothing. */
static int valid_table(const char *t)
{
	size_t i, n = t != NULL ? strlen(t) : 0;

	if (n == 0 || n > 63 || (t[0] >= '0' && t[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
			return 0;
	return 1;
}

int actor_store_pg_open(actor_store_t **out, const actor_store_pg_config_t *cfg)
{
	struct pg *p;
	PGconn *c;
	int rc = 0;

	if (out == NULL || cfg == NULL || cfg->conninfo == NULL || !valid_table(cfg->table) ||
	    cfg->max_connections == 0 || cfg->max_connections > 1024)
		return -EINVAL;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return -ENOMEM;
	p->conninfo = strdup(cfg->conninfo);
	p->idle = calloc(cfg->max_connections, sizeof *p->idle);
	if (p->conninfo == NULL || p->idle == NULL) {
		free(p->conninfo);
		free(p->idle);
		free(p);
		return -ENOMEM;
	}
	strcpy(p->table, cfg->table);
	p->max = cfg->max_connections;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* The table first: the statements prepared on connecting name it. */
	if (cfg->create_table) {
		c = PQconnectdb(p->conninfo);
		PQsetNoticeProcessor(c, quiet, NULL);
		if (PQstatus(c) != CONNECTION_OK) {
			rc = -ECONNREFUSED;
		} else {
			char sql[256];

			snprintf(sql, sizeof sql,
				 "CREATE TABLE IF NOT EXISTS %s (type text NOT NULL, "
				 "key bytea NOT NULL, version bigint NOT NULL, "
				 "state bytea NOT NULL, PRIMARY KEY (type, key))", p->table);
			rc = command(c, sql);
		}
		PQfinish(c);
	}
	/* One connection now, so that a wrong conninfo fails here. */
	if (rc == 0 && (c = take(p, &rc)) != NULL)
		give(p, c, 0);
	if (rc == 0)
		rc = actor_store_create(out, &pg_ops, p);
	if (rc != 0)
		pg_close(p);
	return rc;
}
#else
int actor_store_pg_open(actor_store_t **out, const actor_store_pg_config_t *cfg)
{
	return -ENOTSUP;	/* configured without libpq (Debian: libpq-dev) */
}
#endif

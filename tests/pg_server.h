/*
 * A PostgreSQL server of a test's own: initdb into a temporary folder,
 * listening on a unix socket there only, stopped and removed at the end.
 * initdb and postgres refuse to run as root, so as root the server runs as
 * the `postgres` user (Debian's package makes it) or else `nobody`, and
 * owns the folder; where root cannot become another user (a container
 * whose user namespace maps root alone), it runs in a user namespace of
 * its own in which root is seen as an ordinary user.
 */
#ifndef ACTOR_TESTS_PG_SERVER_H
#define ACTOR_TESTS_PG_SERVER_H

struct pg_server {
	char bindir[320];	/* initdb, pg_ctl */
	char dir[64];		/* the temporary folder: data/, the socket, log */
	char conninfo[160];	/* for libpq */
	int port;
	unsigned uid, gid;	/* who runs the server */
	int userns;		/* in a user namespace of its own instead */
	int running;
};

/*
 * Finds the binaries ($PG_BINDIR, /usr/lib/postgresql/N/bin, PATH): 0 or
 * -ENOENT. Then initdb and start: 0, -EPERM (root that can neither become
 * another user nor make a user namespace) or -1 (the log is printed as
 * TAP comments).
 */
int pg_server_find(struct pg_server *pg);
int pg_server_init(struct pg_server *pg);
/* pg_ctl start / stop ("fast" or "immediate", a crash): 0 or -1. */
int pg_server_start(struct pg_server *pg);
int pg_server_stop(struct pg_server *pg, const char *mode);
/* Stops it and removes the folder. */
void pg_server_destroy(struct pg_server *pg);

#endif

/* A PostgreSQL server for the tests: see pg_server.h. */
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/pg_server.h"

static int executable(const char *dir, const char *name)
{
	char path[400];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, X_OK) == 0;
}

static int try_dir(struct pg_server *pg, const char *dir)
{
	if (!executable(dir, "initdb") || !executable(dir, "pg_ctl") ||
	    !executable(dir, "postgres"))
		return 0;
	snprintf(pg->bindir, sizeof pg->bindir, "%s", dir);
	return 1;
}

int pg_server_find(struct pg_server *pg)
{
	const char *env = getenv("PG_BINDIR");
	const char *path = getenv("PATH");
	DIR *d;
	int best = -1;

	memset(pg, 0, sizeof *pg);
	if (env != NULL && try_dir(pg, env))
		return 0;
	/* Debian: /usr/lib/postgresql/<major>/bin, the newest. */
	d = opendir("/usr/lib/postgresql");
	if (d != NULL) {
		struct dirent *e;

		while ((e = readdir(d)) != NULL) {
			char bin[300];
			int major = atoi(e->d_name);

			snprintf(bin, sizeof bin, "/usr/lib/postgresql/%s/bin", e->d_name);
			if (major > best && executable(bin, "initdb") && executable(bin, "pg_ctl")) {
				best = major;
				snprintf(pg->bindir, sizeof pg->bindir, "%s", bin);
			}
		}
		closedir(d);
	}
	if (best >= 0)
		return 0;
	while (path != NULL && *path != '\0') {
		const char *end = strchr(path, ':');
		size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
		char dir[256];

		snprintf(dir, sizeof dir, "%.*s", (int)n, path);
		if (try_dir(pg, dir))
			return 0;
		path = end != NULL ? end + 1 : NULL;
	}
	return -ENOENT;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n = fd >= 0 ? write(fd, text, strlen(text)) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* In a child: a new user namespace where this (root) process is uid and
 * gid 1000, which PostgreSQL accepts; the files root owns are its own. */
static int enter_userns(void)
{
	return unshare(CLONE_NEWUSER) == 0 && write_file("/proc/self/setgroups", "deny") == 0 &&
			       write_file("/proc/self/uid_map", "1000 0 1") == 0 &&
			       write_file("/proc/self/gid_map", "1000 0 1") == 0 ? 0 : -1;
}

/* Runs bindir/argv[0] as the server's user; its output goes to the log. */
static int run(struct pg_server *pg, char *const argv[])
{
	char prog[400], log[128];
	int status;
	pid_t pid;

	snprintf(prog, sizeof prog, "%s/%s", pg->bindir, argv[0]);
	snprintf(log, sizeof log, "%s/tool.log", pg->dir);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *f;

		if (pg->userns ? enter_userns() != 0 :
				 geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(pg->gid) != 0 ||
						    setuid(pg->uid) != 0))
			_exit(126);
		char *args[16];
		size_t n = 0;

		f = freopen(log, "a", stdout);
		if (f == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		/* The full path as argv[0]: initdb finds postgres beside itself
		 * from it, and bindir is seldom on PATH (Debian's is not). */
		args[n++] = prog;
		while (argv[n] != NULL && n < sizeof args / sizeof args[0] - 1) {
			args[n] = argv[n];
			n++;
		}
		args[n] = NULL;
		execv(prog, args);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char cmd[300];

		printf("# %s failed (status %#x); its log:\n", argv[0], status);
		snprintf(cmd, sizeof cmd, "sed 's/^/#   /' '%s' '%s/server.log' 2>/dev/null", log,
			 pg->dir);
		fflush(stdout);
		(void)!system(cmd);
		return -1;
	}
	return 0;
}

/*
 * Root in a user namespace that maps no other user (a rootless container,
 * unshare --map-root-user) cannot become the server's user.
 */
static int can_switch(struct pg_server *pg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(setgroups(0, NULL) == 0 && setgid(pg->gid) == 0 && setuid(pg->uid) == 0 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static int can_enter_userns(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(enter_userns() == 0 && geteuid() == 1000 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

int pg_server_init(struct pg_server *pg)
{
	char data[128];
	char *initdb[] = { "initdb", "-A", "trust", "-U", "test", "--no-sync", "-D", data, NULL };

	snprintf(pg->dir, sizeof pg->dir, "/tmp/actor-pg-XXXXXX");
	if (mkdtemp(pg->dir) == NULL)
		return -1;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");

		if (pw == NULL)
			pw = getpwnam("nobody");
		if (pw == NULL || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0)
			return -1;
		pg->uid = pw->pw_uid;
		pg->gid = pw->pw_gid;
		if (!can_switch(pg)) {
			if (!can_enter_userns() || chown(pg->dir, 0, 0) != 0)
				return -EPERM;
			pg->userns = 1;
		}
	}
	chmod(pg->dir, 0755);
	snprintf(data, sizeof data, "%s/data", pg->dir);
	/* The socket's name has the port in it; the folder is ours alone. */
	pg->port = 5432;
	snprintf(pg->conninfo, sizeof pg->conninfo,
		 "host=%s port=%d user=test dbname=postgres connect_timeout=10", pg->dir, pg->port);
	if (run(pg, initdb) != 0)
		return -1;
	return pg_server_start(pg);
}

int pg_server_start(struct pg_server *pg)
{
	char data[128], opts[256], log[128];
	char *start[] = { "pg_ctl", "-D", data, "-o", opts, "-l", log, "-w", "-t", "60",
			  "start", NULL };

	snprintf(data, sizeof data, "%s/data", pg->dir);
	snprintf(log, sizeof log, "%s/server.log", pg->dir);
	/* No TCP; fsync off: the test is about the client, and CI time. */
	snprintf(opts, sizeof opts,
		 "-k %s -p %d -c listen_addresses= -c fsync=off -c max_connections=40",
		 pg->dir, pg->port);
	if (run(pg, start) != 0)
		return -1;
	pg->running = 1;
	return 0;
}

int pg_server_stop(struct pg_server *pg, const char *mode)
{
	char data[128], m[16];
	char *stop[] = { "pg_ctl", "-D", data, "-m", m, "-w", "-t", "60", "stop", NULL };

	snprintf(data, sizeof data, "%s/data", pg->dir);
	snprintf(m, sizeof m, "%s", mode);
	if (run(pg, stop) != 0)
		return -1;
	pg->running = 0;
	return 0;
}

void pg_server_destroy(struct pg_server *pg)
{
	char cmd[128];

	if (pg->dir[0] == '\0')
		return;
	if (pg->running)
		pg_server_stop(pg, "fast");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
	(void)!system(cmd);
}

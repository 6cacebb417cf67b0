#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/dist.h"

#define SETUP_TIMEOUT_MS 30000
#define NS_PER_S 1000000000ull

enum { CTL_QUIT = 1 };

static struct dist *the_dist;	/* for the node-event callback */
static _Atomic int finishing;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void dist_init(struct dist *d, const struct bench_flag *flags, int max_nodes)
{
	const char *hex = bench_str(flags, "cookie");
	const char *tr = bench_str(flags, "transport");
	long long port = bench_num(flags, "port");

	memset(d, 0, sizeof(*d));
	d->nodes = (int)bench_num(flags, "nodes");
	if (d->nodes == 0)
		d->nodes = 2;
	d->role = bench_str(flags, "role");
	d->host = bench_str(flags, "host");
	d->up = d->down = -1;
	d->wake_fd[0] = d->wake_fd[1] = -1;
	if (d->nodes < 2 || d->nodes > max_nodes || d->nodes > DIST_MAX_NODES)
		bench_die("--nodes: 2 .. %d", max_nodes < DIST_MAX_NODES ? max_nodes : DIST_MAX_NODES);
	if (port < 0 || port > 65535)
		bench_die("--port: 0 .. 65535");
	d->port = (uint16_t)port;
	if (strcmp(tr, "auto") == 0 || *tr == '\0')
		d->transport = NULL;
	else if (strcmp(tr, "uring") == 0 || strcmp(tr, "epoll") == 0)
		d->transport = tr;
	else
		bench_die("--transport: uring, epoll or auto");
	d->transport_name = d->transport != NULL ? d->transport : "auto";
	if (strcmp(bench_str(flags, "worker-io"), "off") == 0)
		d->no_worker_io = true;
	else if (strcmp(bench_str(flags, "worker-io"), "on") != 0)
		bench_die("--worker-io: on or off");
	d->tls_dir = bench_str(flags, "tls");
	d->tls_mode = *d->tls_dir != '\0' ? "user" : "off";
	if (*d->role != '\0') {
		if (strcmp(d->role, "server") != 0 && strcmp(d->role, "client") != 0)
			bench_die("--role: server or client");
		if (d->nodes != 2)
			bench_die("--role runs two nodes only");
		if (*hex == '\0')
			bench_die("--role needs --cookie HEX (the same on both sides)");
		if (strcmp(d->role, "client") == 0 && d->port == 0)
			bench_die("--role client needs --port (the server's)");
		d->index = strcmp(d->role, "server") == 0 ? 1 : 0;
	}
	if (*hex != '\0') {
		size_t n = strlen(hex);

		if (n % 2 != 0 || n / 2 < 16 || n / 2 > DIST_COOKIE_MAX)
			bench_die("--cookie: 32 .. %d hex digits", 2 * DIST_COOKIE_MAX);
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

			if (hi < 0 || lo < 0)
				bench_die("--cookie: not hex: %s", hex);
			d->cookie[i] = (unsigned char)(hi << 4 | lo);
		}
		d->cookie_len = n / 2;
	} else {
		d->cookie_len = 32;
		if (getrandom(d->cookie, d->cookie_len, 0) != (ssize_t)d->cookie_len)
			bench_die("getrandom: %s", strerror(errno));
	}
	/* A node that went away must not kill us through a pipe. */
	signal(SIGPIPE, SIG_IGN);
	the_dist = d;
}

/* A free port on 127.0.0.1 for node 0, so that the others can name it as
 * their seed before it exists (nothing else binds it in between, on an
 * ordinary machine). */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		bench_die("picking a port: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

int dist_fork(struct dist *d)
{
	pid_t parent = getpid();

	if (*d->role != '\0')
		return d->index;
	if (d->members)
		d->port = free_port();
	fflush(stdout);
	fflush(stderr);
	for (int i = 1; i < d->nodes; i++) {
		int up[2], down[2];
		pid_t pid;

		if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
			bench_die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			bench_die("fork: %s", strerror(errno));
		if (pid == 0) {
			/* Die with the parent, even if it is killed. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
				_exit(1);
			for (int j = 1; j < i; j++) {
				close(d->up_fd[j]);
				close(d->down_fd[j]);
				d->up_fd[j] = d->down_fd[j] = -1;
				d->pid[j] = 0;
			}
			close(up[0]);
			close(down[1]);
			d->up = up[1];
			d->down = down[0];
			d->index = i;
			return i;
		}
		close(up[1]);
		close(down[0]);
		d->pid[i] = pid;
		d->up_fd[i] = up[0];
		d->down_fd[i] = down[1];
	}
	return 0;
}

/* --- the control actor and node events ------------------------------------ */

static void wake(struct dist *d)
{
	ssize_t r = write(d->wake_fd[1], "x", 1);

	(void)r;	/* full: a wake-up is pending anyway */
}

static void ctl(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct dist *d = *(struct dist **)actor_self_state(ctx);

	(void)m;
	atomic_store(&d->quit, 1);
	wake(d);
}

static int ctl_init(actor_ctx_t *ctx, void *arg)
{
	*(struct dist **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t ctl_spec = {
	.name = "bench.ctl", .handler = ctl, .state_size = sizeof(struct dist *), .init = ctl_init,
};

static void node_event(void *arg, uint32_t node, const char *name, bool up, int reason)
{
	struct dist *d = arg;

	(void)name;
	if (up || atomic_load(&finishing))
		return;
	atomic_store(&d->peer_down_node, node);
	atomic_store(&d->peer_down_reason, reason);
	atomic_store(&d->peer_down, 1);
	wake(d);
}

static void member_event(void *arg, const actor_member_event_t *e)
{
	struct dist *d = arg;

	if (e->kind == ACTOR_MEMBER_FENCED || e->kind == ACTOR_MEMBER_UNFENCED)
		atomic_store(&d->fenced, e->kind == ACTOR_MEMBER_FENCED);
}

actor_system_t *dist_start(struct dist *d)
{
	actor_node_config_t cfg;
	char name[32];
	int err;

	if (pipe2(d->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0)
		bench_die("pipe: %s", strerror(errno));
	d->sys = bench_system();
	if (d->prestart != NULL)
		d->prestart(d);
	snprintf(name, sizeof name, "bench%d", d->index);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = d->cookie;
	cfg.cookie_len = d->cookie_len;
	cfg.transport = d->transport;
	cfg.no_worker_io = d->no_worker_io;
	if (strcmp(d->role, "server") == 0) {
		cfg.listen_host = d->host;
		cfg.listen_port = d->port;
	}
	cfg.node_event = node_event;
	cfg.node_event_arg = d;
	if (d->members) {
		static char seed[32];
		static const char *seeds[1] = { seed };

		snprintf(seed, sizeof seed, "127.0.0.1:%u", d->port);
		cfg.member_event = member_event;
		cfg.member_event_arg = d;
		/* A joining node is fenced until it is a member with a quorum. */
		atomic_store(&d->fenced, d->index != 0);
		if (d->index == 0) {
			cfg.listen_port = d->port;
		} else {
			cfg.seeds = seeds;
			cfg.nseeds = 1;
		}
		if (d->member_dead_ns != 0) {
			/* The defaults' ratios: probe 1, suspect 3, fence 4, dead 5, margin 5. */
			cfg.member_probe_interval_ns = d->member_dead_ns / 5;
			cfg.member_suspect_ns = d->member_dead_ns * 3 / 5;
			cfg.member_fence_ns = d->member_dead_ns * 4 / 5;
			cfg.member_dead_ns = d->member_dead_ns;
			cfg.member_takeover_margin_ns = d->member_dead_ns;
		}
	}
	if (*d->tls_dir != '\0') {
		static char files[3][PATH_MAX];
		static const char *const names[3] = { "ca.pem", "node.pem", "node.key" };

		for (int i = 0; i < 3; i++)
			snprintf(files[i], sizeof files[i], "%s/%s", d->tls_dir, names[i]);
		cfg.tls_ca_file = files[0];
		cfg.tls_cert_file = files[1];
		cfg.tls_key_file = files[2];
	}
	err = actor_node_start(d->sys, &cfg);
	if (err < 0)
		bench_die("node %d: actor_node_start: %s", d->index, strerror(-err));
	d->table[d->index].node = actor_node_id(d->sys);
	d->table[d->index].port = (uint16_t)actor_node_port(d->sys);
	if (d->index != 0) {
		actor_ref_t ref;

		if (actor_system_spawn(d->sys, &ctl_spec, d, &ref) < 0 ||
		    actor_register(d->sys, "bench.ctl", ref) < 0)
			bench_die("node %d: cannot start bench.ctl", d->index);
	}
	return d->sys;
}

/* --- pipes ----------------------------------------------------------------- */

/* Reads exactly n bytes within timeout_ms; false on EOF, error or timeout. */
static bool read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	unsigned char *p = buf;
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		ssize_t r;

		if (now >= deadline)
			return false;
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static void write_full(int fd, const void *buf, size_t n, const char *what)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_die("%s: %s", what, r < 0 ? strerror(errno) : "short write");
		p += r;
		n -= (size_t)r;
	}
}

/* Why child i is gone, if it is. */
static bool child_gone(struct dist *d, int i, char *why, size_t len)
{
	int status;

	if (d->pid[i] <= 0 || waitpid(d->pid[i], &status, WNOHANG) != d->pid[i])
		return false;
	d->pid[i] = 0;
	if (WIFEXITED(status))
		snprintf(why, len, "node %d exited with status %d", i, WEXITSTATUS(status));
	else
		snprintf(why, len, "node %d was killed by signal %d", i,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return true;
}

static _Noreturn void child_failed(struct dist *d, int i, const char *doing)
{
	char why[96] = "";

	for (int k = 0; k < 50 && !child_gone(d, i, why, sizeof why); k++)
		usleep(20000);
	bench_die("%s node %d: %s", doing, i, *why ? why : "no answer");
}

/* --- the mesh ---------------------------------------------------------------- */

static uint32_t connect_to(struct dist *d, const char *host, uint16_t port)
{
	uint32_t node = 0;
	int err = actor_node_connect(d->sys, host, port, 10 * NS_PER_S, &node);

	if (err < 0)
		bench_die("node %d: actor_node_connect %s:%u: %s", d->index, host, port,
			  strerror(-err));
	return node;
}

static void wait_up(struct dist *d)
{
	uint64_t deadline = bench_now_ns() + 10 * NS_PER_S;

	for (int j = 0; j < d->nodes; j++) {
		while (j != d->index && !actor_node_is_up(d->sys, d->table[j].node)) {
			if (bench_now_ns() > deadline)
				bench_die("node %d: node %d (%08x) is not up after 10 s", d->index, j,
					  d->table[j].node);
			usleep(1000);
		}
	}
	while (d->members && (actor_cluster_members(d->sys, NULL, 0, NULL) < d->nodes ||
			      atomic_load(&d->fenced))) {
		if (bench_now_ns() > deadline)
			bench_die("node %d: the view has %d of %d members after 10 s%s", d->index,
				  actor_cluster_members(d->sys, NULL, 0, NULL), d->nodes,
				  atomic_load(&d->fenced) ? ", fenced" : "");
		usleep(1000);
	}
}

/* Serves until bench.ctl gets a message or (fd >= 0) fd reads EOF. */
static void serve(struct dist *d, int fd)
{
	while (!atomic_load(&d->quit)) {
		struct pollfd pfd[2] = { { .fd = d->wake_fd[0], .events = POLLIN },
					 { .fd = fd, .events = POLLIN } };
		char buf[64];

		if (poll(pfd, fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		if (pfd[0].revents)
			while (read(d->wake_fd[0], buf, sizeof buf) > 0) {
			}
		if (fd >= 0 && pfd[1].revents && read(fd, buf, sizeof buf) <= 0)
			break;	/* the parent let go, or is gone */
	}
}

_Noreturn void dist_child_run(struct dist *d)
{
	if (strcmp(d->role, "server") == 0) {
		printf("# server: node %08x listening on %s port %d; waiting for a client\n",
		       d->table[1].node, d->host, d->table[1].port);
		printf("port=%d\n", d->table[1].port);
		fflush(stdout);
		serve(d, -1);
		usleep(100000);	/* let the client's connection close first */
	} else {
		char ready = 'R';

		write_full(d->up, &d->table[d->index], sizeof(d->table[0]), "hello");
		if (!read_full(d->down, d->table, (size_t)d->nodes * sizeof(d->table[0]),
			       SETUP_TIMEOUT_MS))
			_exit(1);	/* the parent is gone or failed */
		for (int j = d->index + 1; j < d->nodes && !d->members; j++)
			if (connect_to(d, "127.0.0.1", d->table[j].port) != d->table[j].node)
				bench_die("node %d: node %d has another id", d->index, j);
		wait_up(d);
		write_full(d->up, &ready, 1, "ready");
		serve(d, d->down);
	}
	atomic_store(&finishing, 1);
	fflush(stdout);
	actor_system_destroy(d->sys);
	exit(0);
}

/* Whether a TCP socket of this process has the kernel's TLS attached. */
static bool ktls_in_use(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	bool found = false;

	while (dir != NULL && !found && (e = readdir(dir)) != NULL) {
		char ulp[16] = "";
		socklen_t len = sizeof ulp;

		found = getsockopt(atoi(e->d_name), IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 &&
			strcmp(ulp, "tls") == 0;
	}
	if (dir != NULL)
		closedir(dir);
	return found;
}

void dist_mesh(struct dist *d)
{
	if (strcmp(d->role, "client") == 0) {
		d->table[1].port = d->port;
		d->table[1].node = connect_to(d, d->host, d->port);
	} else {
		for (int i = 1; i < d->nodes; i++)
			if (!read_full(d->up_fd[i], &d->table[i], sizeof(d->table[0]),
				       SETUP_TIMEOUT_MS))
				child_failed(d, i, "starting");
		for (int i = 1; i < d->nodes; i++)
			write_full(d->down_fd[i], d->table,
				   (size_t)d->nodes * sizeof(d->table[0]), "table");
		for (int i = 1; i < d->nodes && !d->members; i++)
			if (connect_to(d, "127.0.0.1", d->table[i].port) != d->table[i].node)
				bench_die("node 0: node %d has another id", i);
		for (int i = 1; i < d->nodes; i++) {
			char ready;

			if (!read_full(d->up_fd[i], &ready, 1, SETUP_TIMEOUT_MS))
				child_failed(d, i, "connecting");
		}
		wait_up(d);
	}
	if (*d->tls_dir != '\0' && ktls_in_use())
		d->tls_mode = "kernel";
}

actor_ref_t dist_whereis(struct dist *d, int index, const char *name)
{
	actor_ref_t ref;
	int err = index == d->index ? actor_lookup(d->sys, name, &ref) :
		  actor_node_whereis(d->sys, d->table[index].node, name, 10 * NS_PER_S, &ref);

	if (err < 0)
		bench_die("whereis %s on node %d: %s", name, index, strerror(-err));
	return ref;
}

void dist_wait(struct dist *d, sem_t *sem, double timeout_s)
{
	uint64_t deadline = timeout_s > 0 ? bench_now_ns() + (uint64_t)(timeout_s * 1e9) : 0;
	char why[96];

	for (;;) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (sem_timedwait(sem, &ts) == 0)
			return;
		if (errno != ETIMEDOUT && errno != EINTR)
			bench_die("sem_timedwait: %s", strerror(errno));
		for (int i = 1; i < d->nodes; i++)
			if (child_gone(d, i, why, sizeof why))
				bench_die("distributed: %s during the run", why);
		if (atomic_load(&d->peer_down))
			bench_die("distributed: node %08x went down during the run: %s",
				  atomic_load(&d->peer_down_node),
				  strerror(-atomic_load(&d->peer_down_reason)));
		if (deadline != 0 && bench_now_ns() > deadline)
			bench_die("distributed: no result after %.0f s", timeout_s);
	}
}

void dist_finish(struct dist *d)
{
	uint64_t deadline;

	atomic_store(&finishing, 1);
	if (strcmp(d->role, "client") == 0) {
		actor_ref_t ctl;

		if (actor_node_whereis(d->sys, d->table[1].node, "bench.ctl", NS_PER_S, &ctl) == 0)
			actor_system_send(d->sys, ctl, CTL_QUIT, NULL, 0);
		usleep(100000);	/* let it leave before the connection closes */
	}
	for (int i = 1; i < d->nodes; i++)
		if (d->down_fd[i] >= 0) {
			close(d->down_fd[i]);	/* the lifeline: the child leaves */
			d->down_fd[i] = -1;
		}
	actor_system_destroy(d->sys);
	d->sys = NULL;
	deadline = bench_now_ns() + 5 * NS_PER_S;
	for (int i = 1; i < d->nodes; i++) {
		int status;

		while (d->pid[i] > 0) {
			pid_t r = waitpid(d->pid[i], &status, WNOHANG);

			if (r == d->pid[i]) {
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					fprintf(stderr, "distributed: node %d ended with status %#x\n",
						i, status);
				d->pid[i] = 0;
			} else if (r < 0) {
				d->pid[i] = 0;
			} else if (bench_now_ns() > deadline) {
				fprintf(stderr, "distributed: node %d did not exit; killing it\n", i);
				kill(d->pid[i], SIGKILL);
				waitpid(d->pid[i], &status, 0);
				d->pid[i] = 0;
			} else {
				usleep(2000);
			}
		}
		if (d->up_fd[i] >= 0)
			close(d->up_fd[i]);
		d->up_fd[i] = -1;
	}
	close(d->wake_fd[0]);
	close(d->wake_fd[1]);
}

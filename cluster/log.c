/*
 * The node's log lines: to the config's log callback, or stderr. Lines the
 * network can cause at will go through a rate limit, so that an attacker
 * does not decide how much a node writes.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "cluster/internal.h"

#define LINE_MAX_LEN 512
#define LIMIT_BURST 10			/* lines a second */
#define LIMIT_WINDOW_NS (1000ull * 1000 * 1000)

static void emit(const struct actor__node *n, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN];
	int k = snprintf(line, sizeof line, "node %s (%08x): ", n->cfg.name, actor__node_id(n->sys));

	if (k < 0 || (size_t)k >= sizeof line)
		k = 0;
	vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
	if (n->cfg.log != NULL)
		n->cfg.log(n->cfg.log_arg, line);
	else
		fprintf(stderr, "libactor: %s\n", line);
}

void actor__node_log(const struct actor__node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(n, fmt, ap);
	va_end(ap);
}

void actor__node_log_tick(struct actor__node *n, uint64_t now)
{
	struct actor__log_limit *lim = &n->log_limit;

	if (now - lim->window < LIMIT_WINDOW_NS)
		return;
	if (lim->suppressed > 0)
		actor__node_log(n, "%" PRIu64 " more lines like the above suppressed", lim->suppressed);
	lim->window = now;
	lim->lines = 0;
	lim->suppressed = 0;
}

void actor__node_log_limited(struct actor__node *n, const char *fmt, ...)
{
	struct actor__log_limit *lim = &n->log_limit;
	va_list ap;

	actor__node_log_tick(n, actor__now_ns());
	if (lim->lines == LIMIT_BURST) {
		lim->suppressed++;
		atomic_fetch_add_explicit(&n->log_suppressed, 1, memory_order_relaxed);
		return;
	}
	lim->lines++;
	va_start(ap, fmt);
	emit(n, fmt, ap);
	va_end(ap);
}

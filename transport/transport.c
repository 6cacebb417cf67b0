/*
 * The transport factory: picks the backend that transport.h's
 * actor__transport_create promises.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/tls.h"
#include "transport/transport.h"

/* kernel.io_uring_disabled (Linux 6.6+), 0 when unset or unreadable. */
static int uring_disabled_sysctl(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	int v = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

int actor__transport_kind_of(const char *name, enum actor__transport_kind *kind)
{
	static const char *const names[] = {
		[ACTOR__TRANSPORT_URING] = "uring",
		[ACTOR__TRANSPORT_EPOLL] = "epoll",
		[ACTOR__TRANSPORT_LOOPBACK] = "loopback",
	};

	*kind = ACTOR__TRANSPORT_AUTO;
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i] != NULL && strcmp(name, names[i]) == 0) {
			*kind = (enum actor__transport_kind)i;
			return 0;
		}
	return -EINVAL;
}

static int pick(const struct actor__transport_config *cfg, const struct actor__transport_cb *cb,
		struct actor__transport **out)
{
	enum actor__transport_kind kind;
	const char *env;
	int err, sysctl;

	switch (cfg->kind) {
	case ACTOR__TRANSPORT_URING:
		return actor__uring_create(cfg, cb, out);
	case ACTOR__TRANSPORT_EPOLL:
		return actor__epoll_create(cfg, cb, out);
	case ACTOR__TRANSPORT_LOOPBACK:
		return actor__loopback_create(cfg, cb, out);
	case ACTOR__TRANSPORT_AUTO:
		break;
	default:
		return -EINVAL;
	}
	env = getenv("ACTOR_TRANSPORT");
	if (env != NULL && *env != '\0') {
		/* Loopback needs a hub, which only the configuration can give. */
		err = actor__transport_kind_of(env, &kind);
		if (err == 0 && kind == ACTOR__TRANSPORT_URING)
			return actor__uring_create(cfg, cb, out);
		if (err == 0 && kind == ACTOR__TRANSPORT_EPOLL)
			return actor__epoll_create(cfg, cb, out);
		fprintf(stderr, "libactor: ACTOR_TRANSPORT=%s: expected \"uring\" or \"epoll\"\n", env);
		return -EINVAL;
	}
	err = actor__uring_create(cfg, cb, out);
	if (err != -ENOSYS && err != -EPERM && err != -EINVAL)
		return err;
	sysctl = uring_disabled_sysctl();
	if (sysctl != 0)
		fprintf(stderr, "libactor: io_uring unavailable (%s; kernel.io_uring_disabled=%d), using epoll\n",
			strerrordesc_np(-err), sysctl);
	else
		fprintf(stderr, "libactor: io_uring unavailable (%s), using epoll\n",
			strerrordesc_np(-err));	/* strerror is not thread-safe */
	return actor__epoll_create(cfg, cb, out);
}

int actor__transport_create(const struct actor__transport_config *cfg,
			    const struct actor__transport_cb *cb, struct actor__transport **out)
{
	struct actor__transport_config c = *cfg;
	int err;

	/* Before picking: a bad file is not a reason to try epoll. */
	c.tls = NULL;
	if (c.tls_ca != NULL && c.kind != ACTOR__TRANSPORT_LOOPBACK &&
	    (err = actor__tls_ctx_create(&c, &c.tls)) < 0)
		return err;
	if ((err = pick(&c, cb, out)) < 0)
		actor__tls_ctx_destroy(c.tls);
	return err;
}

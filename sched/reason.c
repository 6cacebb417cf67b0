/*
 * Exit reasons and errors as text, for logs: the runtime's own reasons by
 * name, a negative errno as strerror() says it.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <actor/actor.h>

const char *actor_reason_string(int reason)
{
	const char *s;

	switch (reason) {
	case ACTOR_EXIT_NORMAL:
		return "normal";
	case ACTOR_EXIT_KILL:
		return "killed";
	case ACTOR_EXIT_SHUTDOWN:
		return "shutdown";
	case ACTOR_EXIT_NOPROC:
		return "no such actor";
	case ACTOR_EXIT_NODEDOWN:
		return "node down";
	}
	if (reason < 0 && reason != INT_MIN) {
		/* strerror's text without its buffer: thread-safe and static. */
		s = strerrordesc_np(-reason);
		return s != NULL ? s : "unknown error";
	}
	return "application-defined reason";
}

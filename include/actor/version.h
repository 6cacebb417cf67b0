/*
 * libactor: release version, at compile time and at run time.
 */
#ifndef ACTOR_VERSION_H
#define ACTOR_VERSION_H

#include <actor/common.h>

#define ACTOR_VERSION_MAJOR 0
#define ACTOR_VERSION_MINOR 1
#define ACTOR_VERSION_PATCH 0
#define ACTOR_VERSION_HEX \
	((ACTOR_VERSION_MAJOR << 16) | (ACTOR_VERSION_MINOR << 8) | ACTOR_VERSION_PATCH)

ACTOR_BEGIN_DECLS

/* The version of the library linked at run time, as ACTOR_VERSION_HEX. */
ACTOR_API unsigned int actor_version(void);
/* The same as "MAJOR.MINOR.PATCH"; a static string. */
ACTOR_API const char *actor_version_string(void);

ACTOR_END_DECLS

#endif /* ACTOR_VERSION_H */

/*
 * Run-time version query, so a program can check the library it was linked
 * against matches the headers it was compiled with.
 */
#include "config.h"

#include <actor/version.h>

unsigned int actor_version(void)
{
	return ACTOR_VERSION_HEX;
}

const char *actor_version_string(void)
{
	return ACTOR_VERSION_STRING;
}

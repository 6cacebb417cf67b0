/*
 * libactor: an actor runtime in C.
 *
 * Include this header only; it pulls in the rest of the public API.
 * See libactor(7) for an overview.
 */
#ifndef ACTOR_ACTOR_H
#define ACTOR_ACTOR_H

#include <actor/common.h>
#include <actor/version.h>

#endif /* ACTOR_ACTOR_H */

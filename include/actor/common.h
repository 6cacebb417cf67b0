/*
 * libactor: definitions shared by every public header.
 */
#ifndef ACTOR_COMMON_H
#define ACTOR_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Marks a function as part of the public ABI; everything else is hidden. */
#if defined(__GNUC__)
#define ACTOR_API __attribute__((visibility("default")))
#else
#define ACTOR_API
#endif

#ifdef __cplusplus
#define ACTOR_BEGIN_DECLS extern "C" {
#define ACTOR_END_DECLS }
#else
#define ACTOR_BEGIN_DECLS
#define ACTOR_END_DECLS
#endif

#endif /* ACTOR_COMMON_H */

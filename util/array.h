/*
 * Growable arrays: the doubling that every growing table does.
 *
 * Not thread-safe: the array belongs to the caller, who keeps the element
 * pointer, the count and the capacity.
 */
#ifndef ACTOR_UTIL_ARRAY_H
#define ACTOR_UTIL_ARRAY_H

#include <stddef.h>

/*
 * Room for at least n elements of size bytes in items (which has room for
 * *cap; NULL with *cap 0 for none yet): items itself when it has, else a
 * reallocation to the first of min, 2 min, 4 min... (or double *cap) that
 * holds n, and *cap becomes that. NULL when out of memory (or on overflow):
 * items and *cap are untouched then.
 */
void *actor__array_grow(void *items, size_t *cap, size_t n, size_t size, size_t min);

#endif /* ACTOR_UTIL_ARRAY_H */

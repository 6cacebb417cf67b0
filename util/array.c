/*
 * Growable arrays (array.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "util/array.h"

void *actor__array_grow(void *items, size_t *cap, size_t n, size_t size, size_t min)
{
	size_t c = *cap;
	void *p;

	if (n <= c && items != NULL)
		return items;
	if (c == 0)
		c = min != 0 ? min : 1;
	while (c < n) {
		if (c > SIZE_MAX / 2)
			return NULL;
		c *= 2;
	}
	if (size != 0 && c > SIZE_MAX / size)
		return NULL;
	if ((p = realloc(items, c * size)) == NULL)
		return NULL;
	*cap = c;
	return p;
}

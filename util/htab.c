/*
 * Open-addressing hash tables (htab.h): growing, emptying and freeing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "util/htab.h"

int actor__htab_reserve(struct actor__htab *h, const struct actor__htab_type *ty)
{
	size_t cap, old = actor__htab_cap(h);
	unsigned char *slots;

	if (h->slots != NULL && 2 * (h->count + 1) <= old)
		return 0;
	cap = h->slots != NULL ? 2 * old : 16;
	if ((slots = calloc(cap, ty->size)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < old; i++) {
		const void *e = actor__htab_slot(h, ty, i);
		size_t j;

		if (!ty->used(e))
			continue;
		for (j = ty->hash(e) & (cap - 1); ty->used(slots + j * ty->size); j = (j + 1) & (cap - 1))
			;
		memcpy(slots + j * ty->size, e, ty->size);
	}
	free(h->slots);
	h->slots = slots;
	h->mask = cap - 1;
	return 0;
}

void actor__htab_clear(struct actor__htab *h, const struct actor__htab_type *ty)
{
	if (h->slots != NULL)
		memset(h->slots, 0, actor__htab_cap(h) * ty->size);
	h->count = 0;
}

void actor__htab_free(struct actor__htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->mask = 0;
	h->count = 0;
}

/*
 * An intrusive doubly linked list: circular, with a head of its own, so
 * that insertion and removal touch no other list and need no special case
 * at either end. A structure on a list embeds a struct actor__list and is
 * found again with actor__list_entry (container_of).
 *
 * Not thread-safe: a list belongs to whoever guards the structures on it.
 * A node is either on one list or unlinked (after actor__list_del or
 * actor__list_init it points to itself).
 */
#ifndef ACTOR_UTIL_LIST_H
#define ACTOR_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct actor__list {
	struct actor__list *prev, *next;
};

#define actor__list_entry(node, type, member) \
	((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Every node of the list headed by head; n may be removed in the body. */
#define actor__list_each(n, tmp, head) \
	for ((n) = (head)->next, (tmp) = (n)->next; (n) != (head); (n) = (tmp), (tmp) = (n)->next)

/* An empty list, or an unlinked node. */
static inline void actor__list_init(struct actor__list *l)
{
	l->prev = l->next = l;
}

static inline bool actor__list_empty(const struct actor__list *head)
{
	return head->next == head;
}

/* n becomes the first node of head's list. */
static inline void actor__list_push(struct actor__list *head, struct actor__list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

/* n becomes the last node of head's list. */
static inline void actor__list_append(struct actor__list *head, struct actor__list *n)
{
	actor__list_push(head->prev, n);
}

/* Takes n off its list; it is then unlinked. */
static inline void actor__list_del(struct actor__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	actor__list_init(n);
}

#endif /* ACTOR_UTIL_LIST_H */

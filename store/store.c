/*
 * store/store.c: the store handle over a vtable, and the calls every store
 * shares. The checks of the arguments live here, once, so that an
 * implementation (built-in or a user's) sees well-formed operations only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actor/store.h>

struct actor_store {
	actor_store_ops_t ops;
	void *impl;
};

int actor_store_create(actor_store_t **out, const actor_store_ops_t *ops, void *impl)
{
	actor_store_t *s;

	if (out == NULL || ops == NULL || ops->load == NULL || ops->write == NULL)
		return -EINVAL;
	s = malloc(sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->ops = *ops;
	s->impl = impl;
	*out = s;
	return 0;
}

void actor_store_destroy(actor_store_t *store)
{
	if (store == NULL)
		return;
	if (store->ops.close != NULL)
		store->ops.close(store->impl);
	free(store);
}

static int valid_name(const char *type, const void *key, size_t key_len)
{
	return type != NULL && type[0] != '\0' && (key != NULL || key_len == 0);
}

int actor_store_load(actor_store_t *store, const char *type, const void *key, size_t key_len,
		     void **data, size_t *size, uint64_t *version)
{
	if (data == NULL || size == NULL || version == NULL)
		return -EINVAL;
	*data = NULL;
	*size = 0;
	*version = 0;
	if (store == NULL || !valid_name(type, key, key_len))
		return -EINVAL;
	return store->ops.load(store->impl, type, key, key_len, data, size, version);
}

int actor_store_write(actor_store_t *store, actor_store_op_t *ops, size_t n, size_t *failed)
{
	size_t i, ignored;

	if (failed == NULL)
		failed = &ignored;
	*failed = 0;
	if (store == NULL || (ops == NULL && n > 0))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		actor_store_op_t *op = &ops[i];

		if ((op->kind != ACTOR_STORE_SAVE && op->kind != ACTOR_STORE_DELETE) ||
		    !valid_name(op->type, op->key, op->key_len) ||
		    (op->kind == ACTOR_STORE_SAVE && op->data == NULL && op->size > 0) ||
		    (op->kind == ACTOR_STORE_SAVE && op->expected == UINT64_MAX)) {
			*failed = i;
			return -EINVAL;
		}
	}
	if (n == 0)
		return 0;
	return store->ops.write(store->impl, ops, n, failed);
}

int actor_store_save(actor_store_t *store, const char *type, const void *key, size_t key_len,
		     const void *data, size_t size, uint64_t expected, uint64_t *version)
{
	actor_store_op_t op = {
		.kind = ACTOR_STORE_SAVE, .type = type, .key = key, .key_len = key_len,
		.data = data, .size = size, .expected = expected,
	};
	int rc = actor_store_write(store, &op, 1, NULL);

	if (rc == 0 && version != NULL)
		*version = op.version;
	return rc;
}

int actor_store_delete(actor_store_t *store, const char *type, const void *key, size_t key_len,
		       uint64_t expected)
{
	actor_store_op_t op = {
		.kind = ACTOR_STORE_DELETE, .type = type, .key = key, .key_len = key_len,
		.expected = expected,
	};

	return actor_store_write(store, &op, 1, NULL);
}

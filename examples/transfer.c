/*
 * transfer: two nodes exchange structured messages encoded with msgpack,
 * so that they would read each other's fields on any two architectures.
 * A bank on node "bank" keeps accounts; a teller on node "teller" submits
 * transfers {from, to, amount, memo} to it as requests and prints the
 * replies; main then asks the bank for a balance. Uses only the public API
 * and msgpack-c (include/actor/msgpack.h, actor_msg_unpack(3),
 * actor_send_sbuffer(3)).
 *
 *   transfer [loopback|tcp]        (default: loopback, in-process)
 */
#include <errno.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actor/msgpack.h>

#define SEC 1000000000ull

enum { SUBMIT = 1, TRANSFER, BALANCE };

/* --- reading msgpack maps: the application's own helpers ------------------------ */

static const msgpack_object *field(const msgpack_object *map, const char *key)
{
	size_t len = strlen(key);

	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    memcmp(k->via.str.ptr, key, len) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

/* A string field, or NULL; it points into the payload (no NUL at the end). */
static const msgpack_object_str *str_field(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = field(map, key);

	return o != NULL && o->type == MSGPACK_OBJECT_STR ? &o->via.str : NULL;
}

static bool int_field(const msgpack_object *map, const char *key, int64_t *out)
{
	const msgpack_object *o = field(map, key);

	if (o == NULL || (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
			  o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
	    (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > INT64_MAX))
		return false;
	*out = o->via.i64;
	return true;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* --- the bank, on node "bank" ------------------------------------------------ */

struct account {
	const char *name;
	int64_t cents;
};

struct bank {
	struct account accounts[3];
	msgpack_zone zone;		/* for unpacking, emptied per message */
	msgpack_sbuffer reply;		/* for packing replies, emptied per message */
	msgpack_packer pk;
};

static struct account *find(struct bank *b, const msgpack_object_str *name)
{
	for (size_t i = 0; name != NULL && i < sizeof b->accounts / sizeof b->accounts[0]; i++)
		if (strlen(b->accounts[i].name) == name->size &&
		    memcmp(b->accounts[i].name, name->ptr, name->size) == 0)
			return &b->accounts[i];
	return NULL;
}

static int bank_init(actor_ctx_t *ctx, void *arg)
{
	struct bank *b = actor_self_state(ctx);

	b->accounts[0] = (struct account){ "alice", 10000 };
	b->accounts[1] = (struct account){ "bob", 500 };
	b->accounts[2] = (struct account){ "carol", 0 };
	msgpack_zone_init(&b->zone, 1024);
	msgpack_sbuffer_init(&b->reply);
	msgpack_packer_init(&b->pk, &b->reply, msgpack_sbuffer_write);
	return 0;
}

static void bank_cleanup(actor_ctx_t *ctx)
{
	struct bank *b = actor_self_state(ctx);

	msgpack_zone_destroy(&b->zone);
	msgpack_sbuffer_destroy(&b->reply);
}

static void refuse(struct bank *b, const char *why)
{
	msgpack_pack_map(&b->pk, 2);
	pack_str(&b->pk, "ok");
	msgpack_pack_false(&b->pk);
	pack_str(&b->pk, "error");
	pack_str(&b->pk, why);
}

/* A transfer {from, to, amount, memo}: moves the money, or says why not. */
static void transfer(struct bank *b, const msgpack_object *t)
{
	struct account *from = find(b, str_field(t, "from")), *to = find(b, str_field(t, "to"));
	int64_t amount;

	if (from == NULL || to == NULL || from == to) {
		refuse(b, "no such account");
		return;
	}
	if (!int_field(t, "amount", &amount) || amount <= 0) {
		refuse(b, "bad amount");
		return;
	}
	if (from->cents < amount) {
		refuse(b, "insufficient funds");
		return;
	}
	from->cents -= amount;
	to->cents += amount;
	msgpack_pack_map(&b->pk, 3);
	pack_str(&b->pk, "ok");
	msgpack_pack_true(&b->pk);
	pack_str(&b->pk, "from_balance");
	msgpack_pack_int64(&b->pk, from->cents);
	pack_str(&b->pk, "to_balance");
	msgpack_pack_int64(&b->pk, to->cents);
}

static void bank(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct bank *b = actor_self_state(ctx);
	struct account *a;
	msgpack_object o;
	int err;

	msgpack_zone_clear(&b->zone);
	msgpack_sbuffer_clear(&b->reply);
	err = actor_msg_unpack(msg, &b->zone, &o);
	if (err < 0) {
		refuse(b, actor_reason_string(err));	/* "Bad message" */
	} else if (actor_msg_type(msg) == TRANSFER) {
		transfer(b, &o);
	} else if (actor_msg_type(msg) == BALANCE &&
		   (a = find(b, o.type == MSGPACK_OBJECT_STR ? &o.via.str : NULL)) != NULL) {
		msgpack_pack_map(&b->pk, 2);
		pack_str(&b->pk, "ok");
		msgpack_pack_true(&b->pk);
		pack_str(&b->pk, "balance");
		msgpack_pack_int64(&b->pk, a->cents);
	} else {
		refuse(b, "no such account");
	}
	/* Replies are copied (small ones into the envelope): the sbuffer stays. */
	actor_reply(ctx, msg, actor_msg_type(msg), b->reply.data, b->reply.size);
}

static const actor_spec_t bank_spec = {
	.name = "bank", .handler = bank, .state_size = sizeof(struct bank),
	.init = bank_init, .cleanup = bank_cleanup,
};

/* --- the teller, on node "teller" --------------------------------------------- */

static sem_t answered;

static void print_str(const msgpack_object_str *s)
{
	printf("%.*s", s != NULL ? (int)s->size : 1, s != NULL ? s->ptr : "?");
}

static void transfer_done(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	msgpack_zone zone;
	msgpack_object r;
	int64_t from = 0, to = 0;
	const msgpack_object *ok;

	if (error != 0) {
		printf("teller: no answer: %s\n", actor_reason_string(error));
		sem_post(&answered);
		return;
	}
	msgpack_zone_init(&zone, 256);
	if (actor_msg_unpack(reply, &zone, &r) < 0) {
		printf("teller: unreadable reply\n");
	} else if ((ok = field(&r, "ok")) != NULL && ok->type == MSGPACK_OBJECT_BOOLEAN &&
		   ok->via.boolean && int_field(&r, "from_balance", &from) &&
		   int_field(&r, "to_balance", &to)) {
		printf("teller: done; balances now %" PRId64 " and %" PRId64 " cents\n", from, to);
	} else {
		printf("teller: refused: ");
		print_str(str_field(&r, "error"));
		printf("\n");
	}
	msgpack_zone_destroy(&zone);
	sem_post(&answered);
}

static int teller_init(actor_ctx_t *ctx, void *arg)
{
	*(actor_ref_t *)actor_self_state(ctx) = *(const actor_ref_t *)arg;	/* the bank */
	return 0;
}

static void teller(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	actor_ref_t bank_ref = *(actor_ref_t *)actor_self_state(ctx);
	msgpack_zone zone;
	msgpack_object t;
	int64_t amount = 0;

	/* SUBMIT: a transfer packed by main; show it, then send it on as is. */
	msgpack_zone_init(&zone, 256);
	if (actor_msg_unpack(msg, &zone, &t) == 0 && int_field(&t, "amount", &amount)) {
		printf("teller: ");
		print_str(str_field(&t, "from"));
		printf(" -> ");
		print_str(str_field(&t, "to"));
		printf(", %" PRId64 " cents, \"", amount);
		print_str(str_field(&t, "memo"));
		printf("\"\n");
	}
	msgpack_zone_destroy(&zone);
	if (actor_request(ctx, bank_ref, TRANSFER, actor_msg_data(msg), actor_msg_size(msg),
			  5 * SEC, transfer_done, NULL) < 0)
		sem_post(&answered);
}

static const actor_spec_t teller_spec = {
	.name = "teller", .handler = teller, .state_size = sizeof(actor_ref_t),
	.init = teller_init,
};

/* --- main ------------------------------------------------------------------------ */

static const char cookie[] = "transfer-example-cookie";

static int start_node(actor_system_t **sys, const char *name, const char *transport,
		      actor_loopback_t *hub)
{
	actor_node_config_t cfg;
	int err = actor_system_create(sys, NULL);

	if (err < 0)
		return err;
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.loopback = hub;
	return actor_node_start(*sys, &cfg);
}

/* Packs a transfer into sb and hands sb's memory to the teller. */
static int submit(actor_system_t *sys, actor_ref_t to, msgpack_sbuffer *sb, const char *from,
		  const char *dest, int64_t cents, const char *memo)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "from");
	pack_str(&pk, from);
	pack_str(&pk, "to");
	pack_str(&pk, dest);
	pack_str(&pk, "amount");
	msgpack_pack_int64(&pk, cents);
	pack_str(&pk, "memo");
	pack_str(&pk, memo);
	return actor_system_send_sbuffer(sys, to, SUBMIT, sb);	/* sb is empty again */
}

int main(int argc, char **argv)
{
	bool tcp = argc > 1 && strcmp(argv[1], "tcp") == 0;
	actor_loopback_t *hub = NULL;
	actor_system_t *banksys = NULL, *tellersys = NULL;
	actor_ref_t bank_ref, teller_ref;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object r;
	uint32_t type, bank_node;
	void *reply = NULL;
	size_t reply_size;
	int64_t cents;
	int err;

	sem_init(&answered, 0, 0);
	msgpack_sbuffer_init(&sb);
	if ((!tcp && (err = actor_loopback_create(&hub)) < 0) ||
	    (err = start_node(&banksys, "bank", tcp ? NULL : "loopback", hub)) < 0 ||
	    (err = start_node(&tellersys, "teller", tcp ? NULL : "loopback", hub)) < 0 ||
	    (err = actor_system_spawn(banksys, &bank_spec, NULL, &bank_ref)) < 0 ||
	    (err = actor_register(banksys, "bank", bank_ref)) < 0 ||
	    (err = actor_node_connect(tellersys, "127.0.0.1", (uint16_t)actor_node_port(banksys),
				      5 * SEC, &bank_node)) < 0 ||
	    (err = actor_node_whereis(tellersys, bank_node, "bank", 5 * SEC, &bank_ref)) < 0 ||
	    (err = actor_system_spawn_copy(tellersys, &teller_spec, &bank_ref, sizeof bank_ref,
					   &teller_ref)) < 0)
		goto out;
	printf("two nodes over %s; the bank is on node %08" PRIx32 "\n",
	       tcp ? "TCP" : "the loopback transport", bank_node);

	if ((err = submit(tellersys, teller_ref, &sb, "alice", "bob", 2500, "rent, november")) < 0)
		goto out;
	sem_wait(&answered);
	if ((err = submit(tellersys, teller_ref, &sb, "bob", "carol", 99999, "a yacht")) < 0)
		goto out;
	sem_wait(&answered);

	/* From main: a request with a msgpack payload, and its reply unpacked. */
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_str(&pk, "bob");
	err = actor_system_ask(tellersys, bank_ref, BALANCE, sb.data, sb.size, 5 * SEC, &type,
			       &reply, &reply_size);
	msgpack_sbuffer_clear(&sb);
	if (err < 0)
		goto out;
	msgpack_zone_init(&zone, 256);
	if (actor_msgpack_unpack(reply, reply_size, &zone, &r) == 0 &&
	    int_field(&r, "balance", &cents))
		printf("main: bob has %" PRId64 " cents\n", cents);
	msgpack_zone_destroy(&zone);
	free(reply);
out:
	if (err < 0)
		fprintf(stderr, "transfer: %s\n", actor_reason_string(err));
	msgpack_sbuffer_destroy(&sb);
	if (tellersys != NULL)
		actor_system_destroy(tellersys);
	if (banksys != NULL)
		actor_system_destroy(banksys);
	if (hub != NULL)
		actor_loopback_destroy(hub);
	return err < 0;
}

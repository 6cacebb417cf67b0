/*
 * The bank's account: a persistent virtual actor (type "account", keyed by
 * the account id), shared by examples/bank, tests/test_bank and
 * bench/bank. Uses only the public API.
 *
 * Two modes, chosen when the type is registered:
 *  - BANK_EXACTLY_ONCE (the default): the account type is exactly_once
 *    (actor_virtual_send_once(3)). A transfer's source takes the amount
 *    off its balance, records the transfer id in its outgoing log and
 *    sends the credit with actor_virtual_send_once(), all in one write;
 *    the runtime sends the credit once that write is durable, resends it
 *    until the destination acknowledges it, and the destination applies
 *    it once. The client's own retries (same transfer id) are requests
 *    from outside, which the option does not cover: the source's
 *    outgoing log answers them as the first time, never a second
 *    withdrawal. A reply waits for the write that makes its cause
 *    durable (actor_virtual_save(3)'s version and the saved message).
 *  - BANK_AT_MOST_ONCE, for comparison: the runtime's default. Plain
 *    actor_send() of the credit and actor_reply() in the turn, the state
 *    written behind the turns, no resends and no dedup anywhere: what a
 *    node's death loses (or a retry repeats) stays lost (or repeated).
 * In both, each account's record keeps the ids of the transfers it took
 * and applied: an audit (bank_audit), not the mechanism.
 */
#ifndef BANK_ACCOUNT_H
#define BANK_ACCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actor/actor.h>

#define BANK_TYPE "account"
#define BANK_KEY_MAX 32		/* account ids: 1..31 bytes */

/* Messages; requests are answered BANK_OK or BANK_REFUSED with an int64_t
 * balance (BANK_LOG: the account's record). */
enum {
	BANK_DEPOSIT = 1,	/* request: int64_t amount */
	BANK_WITHDRAW,		/* request: int64_t amount; refused if it overdraws */
	BANK_BALANCE,		/* request */
	BANK_TRANSFER,		/* request: struct bank_transfer */
	BANK_CREDIT,		/* account to account: struct bank_transfer (peer: the source) */
	BANK_RETRY,		/* the account's own timer, after a failed write */
	BANK_SAVED,		/* the type's saved message */
	BANK_LOG,		/* request: the record, for checks (bank_record_parse) */
	BANK_OK = 100,
	BANK_REFUSED
};

struct bank_transfer {
	uint64_t id;		/* unique per transfer; the client's retries reuse it */
	int64_t amount;		/* > 0 */
	char peer[BANK_KEY_MAX];	/* TRANSFER: the destination; CREDIT: the source */
};

/* An account's record, parsed. */
struct bank_record {
	int64_t balance;
	uint32_t nin, nout;
	uint64_t *in;		/* transfer ids applied here (credits) */
	uint64_t *out;		/* transfer ids taken from here */
};

/* Parses len bytes (0: a new account): 0 or -EPROTO, -ENOMEM. */
int bank_record_parse(const void *data, size_t len, struct bank_record *r);
void bank_record_free(struct bank_record *r);

/* How transfers move money between accounts (see the top of this file). */
enum bank_mode { BANK_EXACTLY_ONCE = 0, BANK_AT_MOST_ONCE };

/* "exactly-once" or "at-most-once". */
const char *bank_mode_name(enum bank_mode mode);

/* Registers the account type on sys with the store executor ex, idle_ns
 * as idle timeout (0: the default) and the given mode; every system of
 * one bank must use the same mode. */
int bank_register(actor_system_t *sys, actor_store_exec_t *ex, uint64_t idle_ns,
		  enum bank_mode mode);


/* --- the client side (examples/bank_client.c): transfers and checks ------ */

/* One transfer a client asked for, and how it ended. */
struct bank_job {
	uint32_t from, to;	/* account numbers: key "acct-<n>" */
	int64_t amount;
	uint64_t id;
	int status;		/* 0 not ended, BANK_OK, BANK_REFUSED */
	uint32_t tries;
};

/* The key of account n ("acct-<n>") in buf (BANK_KEY_MAX bytes). */
void bank_key(uint32_t n, char *buf);

/* Gives every one of n new accounts `amount` (BANK_DEPOSIT, asked from
 * this thread; after an error it asks the balance, since a failed deposit
 * may still happen, and deposits again only if it did not): 0 or the last
 * error after 20 s. */
int bank_open_accounts(actor_system_t *sys, uint32_t n, int64_t amount);

/* Runs the jobs from an actor on sys, `window` at a time, each retried
 * with its id until it ends (the client's side of exactly once). Blocks
 * until every job ended or timeout_ns passed: 0 or -ETIMEDOUT. The jobs'
 * status and tries are filled in; *progress (if not NULL) counts the jobs
 * ended so far, for another thread to watch. */
int bank_run(actor_system_t *sys, struct bank_job *jobs, size_t n, unsigned window,
	     uint64_t timeout_ns, _Atomic size_t *progress);

/* Fills jobs with random transfers among n accounts (seeded; ids from
 * base). */
void bank_random_jobs(struct bank_job *jobs, size_t njobs, uint32_t naccounts, uint64_t base,
		      unsigned seed);

/* After the jobs: brings every account up (which makes it resend what was
 * not acknowledged, exactly-once), waits until every transfer taken from
 * a source has been applied at its destination or timeout_ns passed, and
 * checks the books from the accounts' logs. */
struct bank_audit {
	int64_t total;		/* sum of the balances */
	uint64_t in_flight;	/* taken from their source, not (yet) applied */
	uint64_t applied;	/* credits in the incoming logs */
	uint64_t duplicates;	/* credits applied more than once (extra ones) */
	uint64_t taken_twice;	/* debits made more than once (extra ones) */
	uint64_t missing;	/* accepted transfers not applied at their destination */
	uint64_t phantom;	/* applied but not accepted, or refused */
	uint64_t lost_out;	/* accepted transfers not in their source's outgoing log */
};
int bank_audit(actor_system_t *sys, uint32_t naccounts, const struct bank_job *jobs, size_t n,
	       uint64_t timeout_ns, struct bank_audit *out);

#endif /* BANK_ACCOUNT_H */

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash (a PRF) of a
 * byte string to 64 bits. Keyed with a secret, its values cannot be
 * predicted by whoever chooses the input, so keys picked by an adversary
 * cannot pile up in one place (cluster/placement.c uses it for that).
 */
#ifndef ACTOR_UTIL_SIPHASH_H
#define ACTOR_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define ACTOR__SIPHASH_KEY_LEN 16

/* The hash of len bytes at p (NULL with len 0 is fine) under a 16-byte key,
 * read as two little-endian words like the reference implementation. */
uint64_t actor__siphash24(const uint8_t key[ACTOR__SIPHASH_KEY_LEN], const void *p, size_t len);

#endif /* ACTOR_UTIL_SIPHASH_H */

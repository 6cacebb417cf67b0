/*
 * Stress scenarios for the lock-free structures, shared by the Criterion
 * tests and by the plain programs that run under ThreadSanitizer (Criterion's
 * runner cannot start under TSan: Criterion issue #274).
 *
 * Each returns NULL when every item was accounted for, or a static message
 * saying what went wrong.
 */
#ifndef ACTOR_TESTS_STRESS_H
#define ACTOR_TESTS_STRESS_H

#include <stddef.h>

/* producers threads x per_producer envelopes into one mailbox, one consumer
 * that parks whenever try_block succeeds: exactly once, per-producer order
 * per lane, exactly one wake-up per blocked period. */
const char *stress_mpsc(unsigned producers, unsigned long per_producer);

/* One owner pushing and taking `items` pointers while `thieves` steal:
 * every item taken exactly once. */
const char *stress_deque(unsigned thieves, unsigned long items);

/* A mailbox reopened up to `rounds` times (or for `seconds`), alternately
 * bounded and unbounded, while stale senders push into it: its count never
 * leaks across incarnations. *done: the rounds run. */
const char *stress_mpsc_reopen(unsigned long rounds, double seconds, unsigned long *done);

/* `threads` threads allocate envelopes of random sizes from their own pools
 * and pass them to a neighbour who checks and frees them: no corruption, and
 * every pool gets all its envelopes back. */
const char *stress_envelope(unsigned threads, unsigned long per_thread);

/* sched/ scenarios. */
#include <stdbool.h>
#include <actor/actor.h>

/* Polls cond(arg) every millisecond for up to `seconds`; false on timeout. */
bool stress_wait(bool (*cond)(void *), void *arg, double seconds);

/* `senders` outside threads send `total` messages to `actors` actors at
 * random: every message arrives once, in order per (sender, actor). */
const char *stress_sched_senders(unsigned senders, unsigned actors, unsigned long total);

/* A token passed down a chain of `length` actors, each spawning the next
 * from its handler and stopping. */
const char *stress_sched_chain(actor_system_t *sys, unsigned long length);

/* `total` actors spawned and stopped in waves of `wave`. */
const char *stress_sched_churn(actor_system_t *sys, unsigned long total, unsigned long wave);

/* Messages sent to a system after random idle gaps that end in every idle
 * tier, parking included: each must be handled (no lost wake-up). */
const char *stress_sched_wakeups(unsigned rounds);

/* Two systems in two threads, each running chain and churn. */
const char *stress_sched_two_systems(unsigned long length);

/* n delayed sends with delays up to max_delay_ms: every one fires once,
 * never early and within a tolerance, and same-delay timers in order. */
const char *stress_sched_timers(unsigned long n, unsigned max_delay_ms);

/* Timers cancelled from another thread while they fire: each one either
 * fires or is cancelled, never both. */
const char *stress_sched_timer_cancel(unsigned long n);

/* 16 actors each make per_client requests to 4 echo servers with timeouts
 * of 0-20 us: every continuation runs once, and every reply is either
 * delivered or counted late. */
const char *stress_sched_requests(unsigned long per_client);

/* A chain of n linked actors: one failure takes all of them down. */
const char *stress_sched_link_cascade(unsigned n);

/* Shutdown while actors bounce messages and an outside thread floods. */
const char *stress_sched_shutdown(unsigned pairs);

/* Up to `rounds` systems (or for `seconds`), each shut down at a random
 * moment while 4 outside threads ask an actor in a loop: every ask returns.
 * *done: the rounds run. */
const char *stress_sched_ask_shutdown(unsigned long rounds, double seconds,
				      unsigned long *done);

#endif

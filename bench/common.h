/*
 * Shared by the benchmark programs: flags, clocks, percentiles, the result
 * line, and per-worker counters.
 */
#ifndef ACTOR_BENCH_COMMON_H
#define ACTOR_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include <actor/actor.h>

/* A flag: --name VALUE; the value is kept as text until asked for. */
struct bench_flag {
	const char *name;
	const char *value;	/* default; replaced by the command line */
	const char *help;
};

/*
 * Parses argv against flags (a table ending with a NULL name) plus the
 * common ones: --workers, --max-throughput, --no-pin, --stats, --help.
 * Exits on --help (status 0) or a bad flag (status 2).
 */
void bench_parse(int argc, char **argv, const char *usage, struct bench_flag *flags);
long long bench_num(const struct bench_flag *flags, const char *name);
const char *bench_str(const struct bench_flag *flags, const char *name);

/* A system configured from the common flags; exits on failure. */
actor_system_t *bench_system(void);
/* Prints per-worker counters as comment lines when --stats was given. */
void bench_print_stats(actor_system_t *sys);

double bench_now(void);
uint64_t bench_now_ns(void);

/* The q-quantile (0..1) of n samples, in microseconds; sorts samples. */
void bench_sort_samples(uint32_t *ns, size_t n);
double bench_quantile_us(const uint32_t *sorted_ns, size_t n, double q);

_Noreturn void bench_die(const char *fmt, ...);

/* Peak resident set size of this process in KiB (getrusage's ru_maxrss). */
long bench_max_rss_kb(void);
/* Current resident set size in KiB (/proc/self/statm); -1 if unknown. */
long bench_rss_kb(void);
/*
 * Prints the result line (DESIGN.md section 5): "result ", then fmt's
 * key=value pairs, then max_rss_kb=, and a newline; flushes stdout.
 */
void bench_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

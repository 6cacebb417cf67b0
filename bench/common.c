#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"

static struct bench_flag common_flags[] = {
	{ "workers", "0", "worker threads (0: one per online CPU)" },
	{ "max-throughput", "0", "messages per actor turn (0: library default)" },
	{ "moderate-polls", "-1", "moderate-tier polls (-1: library default)" },
	{ "relaxed-polls", "-1", "relaxed-tier polls (-1: library default)" },
	{ NULL, NULL, NULL },
};
static bool stats, no_pin;

_Noreturn void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f, const char *synopsis, const struct bench_flag *flags)
{
	fprintf(f, "usage: %s\n", synopsis);
	for (const struct bench_flag *fl = flags; fl->name != NULL; fl++)
		fprintf(f, "  --%-16s %s (default %s)\n", fl->name, fl->help, fl->value);
	for (const struct bench_flag *fl = common_flags; fl->name != NULL; fl++)
		fprintf(f, "  --%-16s %s (default %s)\n", fl->name, fl->help, fl->value);
	fprintf(f, "  --%-16s %s\n  --%-16s %s\n  --%-16s %s\n", "no-pin",
		"do not pin workers to cores", "stats", "print per-worker counters", "help",
		"this text");
}

static struct bench_flag *find(struct bench_flag *flags, const char *name)
{
	for (struct bench_flag *fl = flags; fl->name != NULL; fl++)
		if (strcmp(fl->name, name) == 0)
			return fl;
	return NULL;
}

void bench_parse(int argc, char **argv, const char *synopsis, struct bench_flag *flags)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		struct bench_flag *fl;

		if (strncmp(arg, "--", 2) != 0)
			goto bad;
		arg += 2;
		if (strcmp(arg, "help") == 0) {
			usage(stdout, synopsis, flags);
			exit(0);
		}
		if (strcmp(arg, "stats") == 0) {
			stats = true;
			continue;
		}
		if (strcmp(arg, "no-pin") == 0) {
			no_pin = true;
			continue;
		}
		fl = find(flags, arg);
		if (fl == NULL)
			fl = find(common_flags, arg);
		if (fl == NULL || i + 1 >= argc)
			goto bad;
		fl->value = argv[++i];
	}
	return;
bad:
	usage(stderr, synopsis, flags);
	exit(2);
}

static const struct bench_flag *lookup(const struct bench_flag *flags, const char *name)
{
	const struct bench_flag *fl = find((struct bench_flag *)flags, name);

	if (fl == NULL)
		fl = find(common_flags, name);
	if (fl == NULL)
		bench_die("internal: no flag --%s", name);
	return fl;
}

long long bench_num(const struct bench_flag *flags, const char *name)
{
	const char *v = lookup(flags, name)->value;
	char *end;
	long long n = strtoll(v, &end, 0);

	if (*v == '\0' || *end != '\0')
		bench_die("--%s: not a number: %s", name, v);
	return n;
}

const char *bench_str(const struct bench_flag *flags, const char *name)
{
	return lookup(flags, name)->value;
}

actor_system_t *bench_system(void)
{
	actor_config_t cfg;
	actor_system_t *sys;
	long long v;
	int err;

	actor_config_init(&cfg);
	cfg.workers = (unsigned)bench_num(common_flags, "workers");
	if ((v = bench_num(common_flags, "max-throughput")) > 0)
		cfg.max_throughput = (unsigned)v;
	if ((v = bench_num(common_flags, "moderate-polls")) >= 0)
		cfg.moderate_polls = (unsigned)v;
	if ((v = bench_num(common_flags, "relaxed-polls")) >= 0)
		cfg.relaxed_polls = (unsigned)v;
	if (no_pin)
		cfg.pin_workers = false;
	err = actor_system_create(&sys, &cfg);
	if (err < 0)
		bench_die("actor_system_create: %s", strerror(-err));
	printf("# libactor %s: %u workers, %s, max_throughput %u\n", actor_version_string(),
	       actor_system_workers(sys), cfg.pin_workers ? "pinned" : "not pinned",
	       cfg.max_throughput);
	return sys;
}

void bench_print_stats(actor_system_t *sys)
{
	actor_worker_stats_t s;

	if (!stats)
		return;
	for (unsigned i = 0; i < actor_system_workers(sys); i++) {
		actor_system_worker_stats(sys, i, &s);
		printf("# worker %u: messages=%llu turns=%llu steal_attempts=%llu steals=%llu "
		       "parks=%llu wakeups=%llu\n", i, (unsigned long long)s.messages,
		       (unsigned long long)s.turns, (unsigned long long)s.steal_attempts,
		       (unsigned long long)s.steals, (unsigned long long)s.parks,
		       (unsigned long long)s.wakeups);
	}
}

double bench_now(void)
{
	return (double)bench_now_ns() * 1e-9;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void bench_sort_samples(uint32_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u32);
}

double bench_quantile_us(const uint32_t *sorted_ns, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return sorted_ns[i < n ? i : n - 1] / 1000.0;
}

long bench_max_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

long bench_rss_kb(void)
{
	long pages = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%*s %ld", &pages) != 1)
		pages = -1;
	fclose(f);
	return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

void bench_result(const char *fmt, ...)
{
	va_list ap;

	fputs("result ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" max_rss_kb=%ld\n", bench_max_rss_kb());
	fflush(stdout);
}

/*
 * bench/sort (divide and conquer, DESIGN.md section 5): an actor asked to
 * sort more than T ints spawns two children, sends each one half, waits for
 * both sorted halves and merges them; at T or fewer it sorts in place.
 * Buffers move between actors without copies (actor_send_moved and
 * actor_msg_claim), as CAF moves its vectors.
 *
 * Input: L ints from splitmix64 with a fixed seed, value = x >> 33, the same
 * list the CAF and Erlang peers sort; checksum = sum of (i+1) * sorted[i]
 * mod 2^64. The output is checked against qsort of a copy.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { SORT = 1, SORTED };

struct shared {
	size_t threshold;
	int32_t *result;
	size_t result_len;
	sem_t done;
};

struct sorter {
	struct shared *sh;
	actor_ref_t parent;		/* none: the root, which reports to main */
	actor_ref_t child[2];
	int32_t *half[2];
	size_t len[2];
	int got;
};

static void insertion_sort(int32_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		int32_t x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Quicksort with median-of-three, insertion sort for short runs. */
static void seq_sort(int32_t *v, size_t n)
{
	while (n > 16) {
		int32_t a = v[0], b = v[n / 2], c = v[n - 1], p, t;
		size_t i = 0, j = n - 1;

		p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		for (;;) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i >= j)
				break;
			t = v[i];
			v[i++] = v[j];
			v[j--] = t;
		}
		/* Recurse into the smaller part, loop on the larger. */
		if (j + 1 < n - j - 1) {
			seq_sort(v, j + 1);
			v += j + 1;
			n -= j + 1;
		} else {
			seq_sort(v + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion_sort(v, n);
}

static void deliver(actor_ctx_t *ctx, struct sorter *s, int32_t *v, size_t n)
{
	if (actor_ref_is_none(s->parent)) {
		s->sh->result = v;
		s->sh->result_len = n;
		sem_post(&s->sh->done);
	} else {
		actor_send_moved(ctx, s->parent, SORTED, v, n * sizeof(*v), free);
	}
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static int sorter_init(actor_ctx_t *ctx, void *arg)
{
	struct sorter *s = actor_self_state(ctx);

	s->sh = arg;
	return 0;
}

static const actor_spec_t sorter_spec;

static void on_sort(actor_ctx_t *ctx, struct sorter *s, const actor_msg_t *m)
{
	void (*buf_free)(void *);
	size_t n = actor_msg_size(m) / sizeof(int32_t), mid = n / 2;
	int32_t *v = actor_msg_claim(m, &buf_free);
	int32_t *right;

	s->parent = actor_msg_sender(m);
	if (n <= s->sh->threshold) {
		seq_sort(v, n);
		deliver(ctx, s, v, n);
		return;
	}
	right = malloc((n - mid) * sizeof(*right));
	if (right == NULL)
		bench_die("out of memory");
	memcpy(right, v + mid, (n - mid) * sizeof(*right));
	for (int i = 0; i < 2; i++)
		if (actor_spawn(ctx, &sorter_spec, s->sh, &s->child[i]) < 0)
			bench_die("spawn failed");
	actor_send_moved(ctx, s->child[0], SORT, v, mid * sizeof(*v), free);
	actor_send_moved(ctx, s->child[1], SORT, right, (n - mid) * sizeof(*v), free);
}

static void on_sorted(actor_ctx_t *ctx, struct sorter *s, const actor_msg_t *m)
{
	int which = actor_ref_equal(actor_msg_sender(m), s->child[1]);
	void (*buf_free)(void *);
	int32_t *out, *a, *b;
	size_t n, i = 0, j = 0, k = 0;

	s->len[which] = actor_msg_size(m) / sizeof(int32_t);
	s->half[which] = actor_msg_claim(m, &buf_free);
	if (++s->got < 2)
		return;
	a = s->half[0];
	b = s->half[1];
	n = s->len[0] + s->len[1];
	out = malloc(n * sizeof(*out));
	if (out == NULL)
		bench_die("out of memory");
	while (i < s->len[0] && j < s->len[1])
		out[k++] = b[j] < a[i] ? b[j++] : a[i++];
	while (i < s->len[0])
		out[k++] = a[i++];
	while (j < s->len[1])
		out[k++] = b[j++];
	free(a);
	free(b);
	deliver(ctx, s, out, n);
}

static void sorter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct sorter *s = actor_self_state(ctx);

	if (actor_msg_type(m) == SORT)
		on_sort(ctx, s, m);
	else
		on_sorted(ctx, s, m);
}

static const actor_spec_t sorter_spec = {
	.name = "sorter", .handler = sorter, .state_size = sizeof(struct sorter),
	.init = sorter_init,
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static long long expected_actors(long long n, long long t)
{
	return n <= t ? 1 : 1 + expected_actors(n / 2, t) + expected_actors(n - n / 2, t);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "length", "100000", "list length L" },
		{ "threshold", "64", "sort sequentially at or below T elements" },
		{ "seed", "42", "splitmix64 seed of the input" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	long long len, thr;
	uint64_t seed, sum = 0;
	int32_t *input, *reference;
	actor_system_t *sys;
	actor_system_stats_t st;
	actor_ref_t root;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "sort [--length L] [--threshold T] [--seed S]", flags);
	len = bench_num(flags, "length");
	thr = bench_num(flags, "threshold");
	seed = (uint64_t)bench_num(flags, "seed");
	if (len < 1 || thr < 1)
		bench_die("need length >= 1, threshold >= 1");
	input = malloc((size_t)len * sizeof(*input));
	reference = malloc((size_t)len * sizeof(*reference));
	if (input == NULL || reference == NULL)
		bench_die("out of memory");
	for (long long i = 0; i < len; i++)
		input[i] = (int32_t)(splitmix64(&seed) >> 33);
	memcpy(reference, input, (size_t)len * sizeof(*input));
	qsort(reference, (size_t)len, sizeof(*reference), cmp_i32);

	sys = bench_system();
	sh.threshold = (size_t)thr;
	sem_init(&sh.done, 0, 0);
	t0 = bench_now();
	if (actor_system_spawn(sys, &sorter_spec, &sh, &root) < 0)
		bench_die("spawn failed");
	actor_system_send_moved(sys, root, SORT, input, (size_t)len * sizeof(*input), free);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (sh.result_len != (size_t)len ||
	    memcmp(sh.result, reference, (size_t)len * sizeof(*reference)) != 0)
		bench_die("sort: output is not the sorted input");
	actor_system_stats(sys, &st);
	if ((long long)st.spawned != expected_actors(len, thr))
		bench_die("sort: unexpected number of actors");
	for (long long i = 0; i < len; i++)
		sum += (uint64_t)(i + 1) * (uint64_t)sh.result[i];
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=sort system=libactor mode=local length=%lld threshold=%lld "
	             "workers=%u spawned=%llu wall_s=%.6f spawns_per_s=%.0f msgs_per_s=%.0f "
	             "checksum=%llu", len, thr, workers, (unsigned long long)st.spawned, wall,
	             (double)st.spawned / wall, 2.0 * (double)st.spawned / wall,
	             (unsigned long long)sum);
	free(sh.result);
	free(reference);
	sem_destroy(&sh.done);
	return 0;
}

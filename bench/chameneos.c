/*
 * bench/chameneos (Savina): C chameneos meet through a mall, N meetings in
 * all. Each chameneo sends MEET (its color) to the mall; the mall keeps the
 * first of two waiting and forwards the second one's MEET to it; that one
 * takes the complement of the two colors, answers the other with CHANGE
 * (the new color) and both go back to the mall. After N meetings the mall
 * answers every MEET with EXIT; a chameneo then reports its meeting count
 * and stops. The counts must add up to 2 N. Contention on one mailbox plus
 * many small replies. Messages = about 4 N.
 */
#include "config.h"

#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { START = 1, MEET, CHANGE, EXIT, COUNT };
enum color { BLUE, RED, YELLOW };

struct meet {
	actor_ref_t who;	/* the chameneo the meeting is with */
	int32_t color;
};

struct shared {
	long long meetings;	/* N */
	int chameneos;		/* C */
	long long sum;
	sem_t done;
};

struct mall {
	struct shared *sh;
	long long meetings;
	int faded;
	long long sum;
	struct meet waiting;	/* who none: nobody waits */
};

struct chameneo {
	actor_ref_t mall;
	int32_t color;
	int64_t meetings;
};

static int32_t complement(int32_t a, int32_t b)
{
	return a == b ? a : 3 - a - b;
}

static void mall_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct mall *s = actor_self_state(ctx);
	struct meet mt;
	int64_t count;

	if (actor_msg_type(m) == COUNT) {
		memcpy(&count, actor_msg_data(m), sizeof count);
		s->sum += count;
		if (++s->faded == s->sh->chameneos) {
			s->sh->sum = s->sum;
			sem_post(&s->sh->done);
			actor_stop(ctx, ACTOR_EXIT_NORMAL);
		}
		return;
	}
	memcpy(&mt, actor_msg_data(m), sizeof mt);
	if (s->meetings == s->sh->meetings) {
		actor_send(ctx, mt.who, EXIT, NULL, 0);
	} else if (actor_ref_is_none(s->waiting.who)) {
		s->waiting = mt;
	} else {
		s->meetings++;
		actor_send(ctx, s->waiting.who, MEET, &mt, sizeof mt);
		s->waiting.who = ACTOR_REF_NONE;
	}
}

static int mall_init(actor_ctx_t *ctx, void *arg)
{
	struct mall *s = actor_self_state(ctx);

	s->sh = arg;
	s->waiting.who = ACTOR_REF_NONE;
	return 0;
}

static const actor_spec_t mall_spec = {
	.name = "mall", .handler = mall_actor, .state_size = sizeof(struct mall),
	.init = mall_init,
};

static void go_to_mall(actor_ctx_t *ctx, struct chameneo *s)
{
	struct meet mt = { actor_self(ctx), s->color };

	actor_send(ctx, s->mall, MEET, &mt, sizeof mt);
}

static void chameneo_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct chameneo *s = actor_self_state(ctx);
	struct meet mt;

	switch (actor_msg_type(m)) {
	case START:
		go_to_mall(ctx, s);
		break;
	case MEET:		/* from the mall: the other one's color */
		memcpy(&mt, actor_msg_data(m), sizeof mt);
		s->color = complement(s->color, mt.color);
		s->meetings++;
		actor_send(ctx, mt.who, CHANGE, &s->color, sizeof s->color);
		go_to_mall(ctx, s);
		break;
	case CHANGE:
		memcpy(&s->color, actor_msg_data(m), sizeof s->color);
		s->meetings++;
		go_to_mall(ctx, s);
		break;
	case EXIT:
		actor_send(ctx, s->mall, COUNT, &s->meetings, sizeof s->meetings);
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
		break;
	}
}

static int chameneo_init(actor_ctx_t *ctx, void *arg)
{
	memcpy(actor_self_state(ctx), arg, sizeof(struct chameneo));
	return 0;
}

static const actor_spec_t chameneo_spec = {
	.name = "chameneo", .handler = chameneo_actor, .state_size = sizeof(struct chameneo),
	.init = chameneo_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "chameneos", "100", "chameneos C" },
		{ "meetings", "200000", "meetings N" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	actor_system_t *sys;
	actor_ref_t mall, *cham;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "chameneos [--chameneos C] [--meetings N]", flags);
	sh.chameneos = (int)bench_num(flags, "chameneos");
	sh.meetings = bench_num(flags, "meetings");
	if (sh.chameneos < 2 || sh.meetings < 0)
		bench_die("need chameneos >= 2, meetings >= 0");
	cham = calloc((size_t)sh.chameneos, sizeof(*cham));
	if (cham == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);
	sys = bench_system();
	if (actor_system_spawn(sys, &mall_spec, &sh, &mall) < 0)
		bench_die("spawn failed");
	for (int i = 0; i < sh.chameneos; i++) {
		struct chameneo init = { mall, (int32_t)(i % 3), 0 };

		if (actor_system_spawn_copy(sys, &chameneo_spec, &init, sizeof init, &cham[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (int i = 0; i < sh.chameneos; i++)
		actor_system_send(sys, cham[i], START, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (sh.sum != 2 * sh.meetings)
		bench_die("chameneos: %lld meetings counted, expected %lld", sh.sum,
			  2 * sh.meetings);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	/* Each meeting: two MEETs to the mall, one forwarded, one CHANGE; then
	 * C MEETs answered with EXIT, and C COUNTs. */
	bench_result("bench=chameneos system=libactor mode=local chameneos=%d meetings=%lld "
		     "workers=%u wall_s=%.6f msgs_per_s=%.0f", sh.chameneos, sh.meetings, workers,
		     wall, (double)(4 * sh.meetings + 3 * sh.chameneos) / wall);
	free(cham);
	sem_destroy(&sh.done);
	return 0;
}

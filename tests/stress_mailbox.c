/*
 * The mailbox/ stress scenarios as a plain TAP program (no Criterion), so
 * that they also run under ThreadSanitizer. Sizes are smaller under TSan,
 * which slows these loops down some 20x; STRESS_SCALE multiplies them.
 */
#include "mailbox/arch.h"
#include "tests/stress/stress.h"
#include "tests/stress/tap.h"

#ifdef ACTOR__TSAN
#define BASE 50000ul
#else
#define BASE 500000ul
#endif

int main(void)
{
	unsigned long n = BASE * stress_scale();

	tap_plan(6);
	tap_result("mpsc: 8 producers, 1 consumer", stress_mpsc(8, n));
	tap_result("mpsc: 2 producers, 1 consumer", stress_mpsc(2, 2 * n));
	tap_result("deque: owner and 3 thieves", stress_deque(3, 4 * n));
	tap_result("deque: owner and 1 thief", stress_deque(1, 2 * n));
	tap_result("envelope: 4 threads in a ring", stress_envelope(4, n / 2));
	tap_result("mpsc: reopened under stale senders",
		   stress_mpsc_reopen(~0ul, 1.5, NULL));
	return tap_exit();
}

/*
 * The sched/ stress scenarios as a plain TAP program, for ThreadSanitizer
 * (see stress_mailbox.c). STRESS_SCALE multiplies the sizes.
 */
#include "mailbox/arch.h"
#include "tests/stress/stress.h"
#include "tests/stress/tap.h"

#ifdef ACTOR__TSAN
#define BASE 20000ul
#else
#define BASE 200000ul
#endif

int main(void)
{
	unsigned long n = BASE * stress_scale();
	actor_system_t *sys;

	tap_plan(11);
	tap_result("8 outside senders, 1000 actors", stress_sched_senders(8, 1000, 4 * n));
	if (actor_system_create(&sys, NULL) != 0)
		return 1;
	tap_result("chain of actors spawning actors", stress_sched_chain(sys, n / 2));
	tap_result("spawn and stop churn", stress_sched_churn(sys, n, n / 10));
	actor_system_destroy(sys);
	tap_result("wake-ups from every idle tier", stress_sched_wakeups(300));
	tap_result("shutdown with traffic in flight", stress_sched_shutdown(50));
	tap_result("two systems at once", stress_sched_two_systems(n / 4));
	tap_result("timers fire once, in order, on time", stress_sched_timers(n / 4, 200));
	tap_result("timer cancellation races", stress_sched_timer_cancel(n / 10));
	tap_result("requests racing their timeouts", stress_sched_requests(n / 20));
	tap_result("link cascade across 1000 actors", stress_sched_link_cascade(1000));
	tap_result("asks racing shutdown all return", stress_sched_ask_shutdown(~0ul, 3, NULL));
	return tap_exit();
}

/*
 * akm-bench-monitor --mode rekey (bench-monitor.h): the time from the event
 * that fires a rekey (or evict) rule to the rekey packages being queued for
 * an ASR of --members members (issue 13's target: at most 1 s for 1,000).
 * It measures akm-nmmd's response to the policy's actions, which the
 * response part of issue 13 builds; until then this mode says so and fails.
 */
#include <stdio.h>

#include "bench/bench-monitor.h"

int bench_monitor_rekey(const bench_monitor_opts *o)
{
	fprintf(stderr, "akm-bench-monitor: --mode rekey (members=%lu): not implemented yet\n", o->members);
	printf("monitor_rekey members=%lu implemented=false\n", o->members);
	return 1;
}

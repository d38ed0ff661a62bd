/*
 * akm-bench-monitor (docs/performance.md, "The breach monitor"): its
 * options, shared by its two modes.
 *
 *   --mode events  (akm-bench-monitor.c) events processed per second by the
 *                  policy engine (src/lib/monitor.c) with --nodes nodes and
 *                  --asrs ASRs: pure, no token;
 *   --mode rekey   (bench-monitor-rekey.c) the time from the triggering
 *                  event to the rekey packages being queued for an ASR of
 *                  --members members: the station's response (akm-nmmd's
 *                  policy actions) on a real station token through
 *                  --module, with --softhsm.
 */
#ifndef AKM_BENCH_MONITOR_H
#define AKM_BENCH_MONITOR_H

typedef struct bench_monitor_opts {
	const char *mode;               /* "events" or "rekey" */
	const char *module, *softhsm;   /* rekey: akm-pkcs11.so and the backend */
	const char *policy;             /* the policy file (default: the installed one) */
	unsigned long nodes, asrs, events, members;
} bench_monitor_opts;

/* --mode rekey: prints its "monitor_rekey ..." line(s); 0, or 1 when a step
 * failed (reported on stderr). */
int bench_monitor_rekey(const bench_monitor_opts *o);

#endif

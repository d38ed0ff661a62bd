/*
 * akm-bench-monitor: the breach monitor (docs/performance.md, "The breach
 * monitor"; bench-monitor.h).
 *
 * --mode events (the default): the policy engine of src/lib/monitor.c fed a
 * stream of events from --nodes nodes (10,000) and --asrs ASRs (1,000) in a
 * realistic mix — half check-ins, ASR message counts, the breach signals of
 * the station and of the nodes' reports (malformed traffic and unknown
 * relationships at the station, bad proofs, key failures, replays, forged
 * messages, clone signals, tampering, wrong PINs), most breaches from 1 %
 * of the nodes — under the shipped policy (--policy, default the installed
 * one) plus a few rules, the clock ticking once per simulated second (5,000
 * events a simulated second).  Prints events per second (target 50,000),
 * then the time from an event to its queued action, measured on every
 * event that fired (the engine fires on the event itself).
 *
 * --mode rekey: bench-monitor-rekey.c.
 *
 * Output: one line per measurement, "name key=value ...", on stdout.  Exit
 * status: 0 whatever the figures say, 1 when a step failed, 2 on a bad
 * command line.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm-config.h"
#include "bench/bench-env.h"
#include "bench/bench-monitor.h"
#include "lib/monitor.h"
#include "shared/files.h"

#define TARGET_EVENTS_PER_S 50000
#define RATE 5000          /* events per simulated second */
#define POOL 65536         /* events generated in advance, fed in turn */
#define NOISY_SHARE 80     /* % of breach events from the noisy 1 % of nodes */

/* Rules beside the shipped policy: a few more of what an operator adds. */
static const char extra_rules[] = "\n"
	"rule bench-key-failures\nscope node\nmetric key-failure\nthreshold > 10\nwindow 1m\nactions alert\n"
	"cool-down 10m\n"
	"rule bench-malformed-flood\nscope station\nmetric malformed\nthreshold > 1000\nwindow 1m\n"
	"actions alert\ncool-down 1m\n"
	"rule bench-asr-forged\nscope asr\nmetric forged\nthreshold >= 3\nwindow 10m\nactions alert, rekey\n"
	"cool-down 10m\n"
	"rule bench-unknown\nscope station\nmetric unknown-relationship\nthreshold > 100\nwindow 10s\n"
	"actions alert\ncool-down 1m\n";

/* The mix, per thousand events. */
static const struct {
	akm_mon_metric kind;
	unsigned per_mille;
	bool node, asr;
} mix[] = {
	{AKM_MON_CHECKIN, 500, true, false},
	{AKM_MON_ASR_SENT, 150, true, true},
	{AKM_MON_MALFORMED, 80, false, false},
	{AKM_MON_BAD_PROOF, 60, true, false},
	{AKM_MON_KEY_FAILURE, 40, true, false},
	{AKM_MON_UNKNOWN_REL, 40, false, false},
	{AKM_MON_REPLAY, 30, true, false},
	{AKM_MON_FORGED, 20, true, true},
	{AKM_MON_WRONG_PIN, 20, true, false},
	{AKM_MON_CLONE_ADDRESS, 20, true, false},
	{AKM_MON_TAMPER, 10, true, false},
	{AKM_MON_REFUSED_STATE, 10, true, false},
	{AKM_MON_OTHER, 10, true, false},
	{AKM_MON_ASR_REKEYED, 5, false, true},
	{AKM_MON_LOCKOUT, 5, true, false},
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void id_of(uint8_t *out, size_t *len, char tag, unsigned long i)
{
	memset(out, 0, 16);
	out[0] = (uint8_t)tag;
	for (int k = 0; k < 8; k++)
		out[8 + k] = (uint8_t)(i >> (56 - 8 * k));
	*len = 16;
}

static void generate(const bench_monitor_opts *o, akm_mon_event *pool)
{
	unsigned long noisy = o->nodes / 100 ? o->nodes / 100 : 1;
	for (size_t i = 0; i < POOL; i++) {
		akm_mon_event *ev = &pool[i];
		memset(ev, 0, sizeof *ev);
		unsigned pick = (unsigned)(rnd() % 1000), k = 0;
		while (pick >= mix[k].per_mille) {
			pick -= mix[k].per_mille;
			k++;
		}
		ev->kind = mix[k].kind;
		ev->count = 1;
		if (mix[k].node) {
			bool breach = akm_mon_metric_is_breach(ev->kind);
			unsigned long n = breach && rnd() % 100 < NOISY_SHARE ? rnd() % noisy : rnd() % o->nodes;
			id_of(ev->node, &ev->node_len, 'N', n);
		}
		if (mix[k].asr) {
			id_of(ev->asr, &ev->asr_len, 'A', (unsigned long)(rnd() % o->asrs));
			ev->epoch = ev->kind == AKM_MON_ASR_REKEYED ? 2 : 1;
		}
		if (ev->kind == AKM_MON_ASR_SENT)
			ev->count = 1 + (uint32_t)(rnd() % 50);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One run over o->events events; with `timed`, each event's feed is timed
 * and the times of those that fired kept in lat[0..*nlat) (at most cap). */
static double run(const bench_monitor_opts *o, const akm_policy *p, akm_mon_event *pool, bool timed, double *lat,
                  size_t cap, size_t *nlat, akm_monitor_stats *st, uint64_t *ticks)
{
	akm_monitor *m = akm_monitor_create(p, NULL);
	if (m == NULL)
		return -1;
	/* Every node checked in and every ASR made once before the run (not
	 * timed): the gauges know them all. */
	const uint64_t base = 1700000000;
	for (unsigned long i = 0; i < o->nodes; i++) {
		akm_mon_event ev = {.kind = AKM_MON_CHECKIN, .time = base, .seq = 1, .count = 1};
		id_of(ev.node, &ev.node_len, 'N', i);
		akm_monitor_feed(m, &ev);
	}
	for (unsigned long i = 0; i < o->asrs; i++) {
		akm_mon_event ev = {.kind = AKM_MON_ASR_CREATED, .time = base, .seq = 1, .count = 1, .epoch = 1};
		id_of(ev.asr, &ev.asr_len, 'A', i);
		akm_monitor_feed(m, &ev);
	}
	akm_mon_action out[64];
	uint64_t clock = base;
	*nlat = 0;
	*ticks = 0;
	double t0 = now_s();
	for (unsigned long i = 0; i < o->events; i++) {
		akm_mon_event *ev = &pool[i % POOL];
		ev->time = base + 1 + i / RATE;
		ev->seq = i + 2;
		if (ev->time > clock) {
			clock = ev->time;
			akm_monitor_tick(m, clock);
			(*ticks)++;
			while (akm_monitor_drain(m, out, 64) > 0)
				;
		}
		if (!timed) {
			akm_monitor_feed(m, ev);
			while (akm_monitor_drain(m, out, 64) > 0)
				;
			continue;
		}
		double a = now_s();
		akm_monitor_feed(m, ev);
		size_t n = akm_monitor_drain(m, out, 64);
		double b = now_s();
		if (n > 0 && *nlat < cap)
			lat[(*nlat)++] = b - a;
		while (akm_monitor_drain(m, out, 64) > 0)
			;
	}
	double seconds = now_s() - t0;
	akm_monitor_get_stats(m, st);
	akm_monitor_free(m);
	return seconds;
}

static int events_mode(const bench_monitor_opts *o)
{
	uint8_t *file = NULL;
	size_t len = 0;
	if (akm_read_file(o->policy, 1 << 20, &file, &len) != AKM_READ_OK) {
		fprintf(stderr, "akm-bench-monitor: cannot read the policy %s (--policy FILE)\n", o->policy);
		return 1;
	}
	size_t tlen = len + sizeof extra_rules;
	char *text = malloc(tlen);
	akm_policy *p = malloc(sizeof *p);
	akm_mon_event *pool = malloc(POOL * sizeof *pool);
	size_t cap = 1u << 20;
	double *lat = malloc(cap * sizeof *lat);
	int status = 0;
	if (text == NULL || p == NULL || pool == NULL || lat == NULL) {
		fprintf(stderr, "akm-bench-monitor: out of memory\n");
		status = 1;
		goto out;
	}
	memcpy(text, file, len);
	memcpy(text + len, extra_rules, sizeof extra_rules);
	char err[512];
	if (akm_policy_parse(text, tlen - 1, o->policy, p, err, sizeof err) != AKM_POLICY_OK) {
		fprintf(stderr, "akm-bench-monitor: the policy with the bench's rules: %s\n", err);
		status = 1;
		goto out;
	}
	generate(o, pool);
	akm_monitor_stats st;
	size_t nlat;
	uint64_t ticks;
	fprintf(stderr, "akm-bench-monitor: %lu events, %lu nodes, %lu ASRs, %zu rules\n", o->events, o->nodes, o->asrs,
	        p->nrules);
	double s = run(o, p, pool, false, lat, cap, &nlat, &st, &ticks);
	if (s < 0) {
		fprintf(stderr, "akm-bench-monitor: out of memory\n");
		status = 1;
		goto out;
	}
	double rate = (double)o->events / s;
	printf("monitor_events nodes=%lu asrs=%lu rules=%zu events=%lu seconds=%.3f events_per_s=%.0f ticks=%llu "
	       "fired=%llu suppressed=%llu dropped=%llu subjects=%zu bytes=%zu target=%d pass=%s\n",
	       o->nodes, o->asrs, p->nrules, o->events, s, rate, (unsigned long long)ticks,
	       (unsigned long long)st.fired, (unsigned long long)st.suppressed, (unsigned long long)st.dropped,
	       st.subjects, st.bytes, TARGET_EVENTS_PER_S, rate >= TARGET_EVENTS_PER_S ? "true" : "false");
	fflush(stdout);
	/* The same stream again, each event's feed timed: the events that fired
	 * an action had it queued when their feed returned. */
	s = run(o, p, pool, true, lat, cap, &nlat, &st, &ticks);
	if (s < 0) {
		status = 1;
		goto out;
	}
	qsort(lat, nlat, sizeof *lat, cmp_double);
	double max = nlat ? lat[nlat - 1] : 0, p99 = nlat ? lat[(nlat * 99) / 100] : 0;
	printf("monitor_fire_latency events=%lu firing_events=%zu p99_us=%.1f max_us=%.1f target_us=1000000 pass=%s\n",
	       o->events, nlat, p99 * 1e6, max * 1e6, max < 1.0 ? "true" : "false");
out:
	free(lat);
	free(pool);
	free(p);
	free(text);
	free(file);
	return status;
}

static int usage(int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: akm-bench-monitor [--mode events] [--nodes N] [--asrs N] [--events N] [--policy FILE]\n"
	        "       akm-bench-monitor --mode rekey --module akm-pkcs11.so --softhsm libsofthsm2.so [--members N]\n"
	        "                         [--policy FILE]\n");
	return code;
}

int main(int argc, char **argv)
{
	bench_monitor_opts o = {.mode = "events", .policy = AKM_DEFAULT_POLICY, .nodes = 10000, .asrs = 1000,
	                        .events = 2000000, .members = 1000};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return usage(0);
		if (v == NULL)
			return usage(2);
		i++;
		if (strcmp(a, "--mode") == 0)
			o.mode = v;
		else if (strcmp(a, "--module") == 0)
			o.module = v;
		else if (strcmp(a, "--softhsm") == 0)
			o.softhsm = v;
		else if (strcmp(a, "--policy") == 0)
			o.policy = v;
		else if (strcmp(a, "--nodes") == 0) {
			if (bench_parse_count(v, 1, 10000000, &o.nodes) != 0)
				return usage(2);
		} else if (strcmp(a, "--asrs") == 0) {
			if (bench_parse_count(v, 1, 10000000, &o.asrs) != 0)
				return usage(2);
		} else if (strcmp(a, "--events") == 0) {
			if (bench_parse_count(v, 1, 4000000000UL, &o.events) != 0)
				return usage(2);
		} else if (strcmp(a, "--members") == 0) {
			if (bench_parse_count(v, 2, 1000000, &o.members) != 0)
				return usage(2);
		} else
			return usage(2);
	}
	if (strcmp(o.mode, "events") == 0)
		return events_mode(&o);
	if (strcmp(o.mode, "rekey") == 0) {
		if (o.module == NULL || o.softhsm == NULL)
			return usage(2);
		return bench_monitor_rekey(&o);
	}
	return usage(2);
}

/*
 * akm-bench-monitor --mode rekey (bench-monitor.h): the time from the event
 * that fires a rule to the new generation committed for an ASR of
 * --members members, through the code akm-nmmd runs (station library:
 * the trail follower act.c, the monitor watch.c, the response respond.c)
 * on a real station token through akm-pkcs11.so over SoftHSM2, in one
 * measuring child:
 *
 *   setup (not timed): a station, --members nodes provisioned, ASR
 *   "bench" among them with every package written, the policy loaded and
 *   the trail followed;
 *   evict (5 runs): a station-signed node-report naming a member as the
 *   sender of a forged message is appended (the triggering event); the
 *   watch is polled (akm-nmmd polls every 100 ms) until the rule's action
 *   is done: the member removed from the ASR, a new generation committed,
 *   its policy-evict record written.  Then one remaining member's signed
 *   package of the new generation is made, as its next check-in gets it
 *   (the station makes packages at check-in: "queued" is the generation
 *   committed, each package costs what this shows);
 *   rekey (1 run): an ASR-scope rule on a replayed message rekeys the ASR.
 *
 * Output: "monitor_rekey ..." lines on stdout.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/bench-env.h"
#include "bench/bench-monitor.h"
#include "lib/hex.h"
#include "station/station.h"

#define MR_LABEL "akm-monbench"
#define MR_PIN "1234"
#define MR_SO_PIN "12345678"
#define MR_EVICT_RUNS 5

typedef struct mr_args {
	const bench_monitor_opts *o;
	char dir[4096];
} mr_args;

typedef struct mr_result {
	double setup_s;
	double evict_ms[MR_EVICT_RUNS];
	double package_ms;
	double rekey_ms;
	unsigned long gen_before, gen_after;
	bool done;                    /* every step succeeded */
} mr_result;

static const char policy_text[] =
	"# akm-bench-monitor --mode rekey\n"
	"rule bench-evict\n"
	"    scope node\n"
	"    metric forged\n"
	"    threshold >= 1\n"
	"    window 10m\n"
	"    actions evict\n"
	"rule bench-rekey\n"
	"    scope asr\n"
	"    metric replay\n"
	"    threshold >= 1\n"
	"    window 10m\n"
	"    actions rekey\n"
	"    cool-down 10s\n";

static void quiet(void *ctx, int level, const char *line)
{
	(void)ctx;
	if (level <= 3)
		fprintf(stderr, "akm-bench-monitor: %s\n", line);
}

static bool fail(const char *what, const char *why)
{
	fprintf(stderr, "akm-bench-monitor: %s: %s\n", what, why);
	return false;
}

/* Polls the watch until it has carried out one more action (at most 10 s). */
static bool until_acted(nmm_watch *w)
{
	uint64_t before = nmm_watch_stats_of(w)->actions;
	double until = bench_now() + 10;
	while (nmm_watch_stats_of(w)->actions == before) {
		if (bench_now() > until)
			return false;
		nmm_watch_poll(w);
	}
	return nmm_watch_stats_of(w)->failed_actions == 0;
}

static bool asr_epoch(nmm_station *s, nmm_asr *a)
{
	return nmm_asr_find(s, "bench", "bench", a) == AKM_RC_OK;
}

static bool rekey_job(void *out, const void *arg)
{
	const mr_args *ma = arg;
	mr_result *r = out;
	unsigned long n = ma->o->members;
	nmm_station s = {0};
	if (akm_p11_open(&s.p, ma->o->module, MR_LABEL) != 0 || akm_p11_login(&s.p, MR_PIN, strlen(MR_PIN)) != 0)
		return fail("the station token", s.p.err);
	s.open = true;
	uint8_t id[16];
	randombytes_buf(id, sizeof id);
	char fp[65], path[4200];
	double t0 = bench_now();
	if (nmm_station_init(&s, id, sizeof id, "bench", "bench", NULL, fp) != AKM_RC_OK)
		return fail("akm-nmm init", "failed");
	nmm_plan plan = {0};
	if (nmm_plan_from_count(&plan, n, "mb") != AKM_RC_OK || nmm_plan_check(&plan) != AKM_RC_OK ||
	    nmm_provision(&s, &plan) != AKM_RC_OK)
		return fail("provisioning", "failed");
	nmm_plan_free(&plan);
	nmm_node *nodes;
	size_t count;
	if (nmm_node_list(&s, false, "bench", &nodes, &count) != AKM_RC_OK || count != n)
		return fail("listing the nodes", "failed");
	snprintf(path, sizeof path, "%s/packages", ma->dir);
	mkdir(path, 0700);
	nmm_asr a;
	nmm_asr_create_req req = {"bench", nodes, count, {0}, path};
	if (nmm_asr_create(&s, &req, &a) != AKM_RC_OK)
		return fail("the ASR", "failed");
	snprintf(path, sizeof path, "%s/policy.conf", ma->dir);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(policy_text, f) < 0 || fclose(f) != 0)
		return fail(path, "cannot be written");
	nmm_act *act = nmm_act_new(&s, NULL);
	nmm_watch *w = act ? nmm_watch_new(&s, act, quiet, NULL) : NULL;
	if (w == NULL || nmm_watch_load(w, path) != AKM_RC_OK || nmm_watch_start(w) != AKM_RC_OK)
		return fail("the monitor", "does not start");
	r->setup_s = bench_now() - t0;
	r->gen_before = (unsigned long)(a.epoch >> 32);
	fprintf(stderr, "akm-bench-monitor: station, %lu nodes and their ASR made in %.1f s\n", n, r->setup_s);

	char asr_hex[2 * AKM_FMT_ID_MAX + 1];
	akm_hex_encode(a.id, a.id_len, asr_hex);
	const nmm_node *reporter = &nodes[count - 1];
	for (int k = 0; k < MR_EVICT_RUNS; k++) {
		/* node k (leaf k: the members are in leaf order) named the
		 * sender of a forged message by the last node */
		const nmm_node *victim = &nodes[k];
		char pr[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(victim->pr_id, victim->pr_id_len, pr);
		double e0 = bench_now();
		if (nmm_audit_node(&s, reporter, "node-report", CKR_OK,
		                   "peer=bench; event=asr-forged; count=1; at=%ld; asr=%s; epoch=%lu; leaf=%d; sender=%s; "
		                   "sender-node=%s", (long)time(NULL), asr_hex, (unsigned long)(a.epoch >> 32), k, pr,
		                   victim->name) != CKR_OK ||
		    !until_acted(w))
			return fail("evict", "the action was not done");
		r->evict_ms[k] = (bench_now() - e0) * 1e3;
	}
	if (!asr_epoch(&s, &a))
		return fail("the ASR", "gone");
	/* what a remaining member's next check-in costs the station: its
	 * package of the new generation, signed */
	uint8_t *items[1];
	size_t lens[1];
	double p0 = bench_now();
	akm_proto_held held = {{0}, 0, 0};
	if (nmm_asr_pending(&s, &a, 1, reporter, &held, 0, items, lens, 1) != 1)
		return fail("a package of the new generation", "not made");
	r->package_ms = (bench_now() - p0) * 1e3;
	free(items[0]);
	double q0 = bench_now();
	if (nmm_audit_node(&s, reporter, "node-report", CKR_OK, "peer=bench; event=asr-replay; count=1; at=%ld; asr=%s",
	                   (long)time(NULL), asr_hex) != CKR_OK ||
	    !until_acted(w))
		return fail("rekey", "the action was not done");
	r->rekey_ms = (bench_now() - q0) * 1e3;
	if (!asr_epoch(&s, &a))
		return fail("the ASR", "gone");
	r->gen_after = (unsigned long)(a.epoch >> 32);
	nmm_watch_free(w);
	nmm_act_free(act);
	free(nodes);
	nmm_station_close(&s);
	r->done = true;
	return true;
}

int bench_monitor_rekey(const bench_monitor_opts *o)
{
	if (sodium_init() < 0)
		return 1;
	bench_env env;
	if (bench_env_create(&env, "akm-bench-monitor", "rekey", o->softhsm, MR_LABEL, MR_SO_PIN, MR_PIN) != 0)
		return 1;
	mr_args ma = {o, {0}};
	snprintf(ma.dir, sizeof ma.dir, "%s", env.dir);
	mr_result r = {0};
	char err[256];
	bench_catch_interrupts();
	bool ok = bench_run_in_child(rekey_job, &ma, &r, sizeof r, 3600, &bench_running_child, &bench_interrupted, err,
	                             sizeof err);
	bench_env_destroy(&env);
	if (!ok || !r.done) {
		fprintf(stderr, "akm-bench-monitor: --mode rekey: %s\n", ok ? "a step failed" : err);
		return 1;
	}
	double median = bench_median(r.evict_ms, MR_EVICT_RUNS), max = 0;
	for (int k = 0; k < MR_EVICT_RUNS; k++)
		max = r.evict_ms[k] > max ? r.evict_ms[k] : max;
	/* akm-nmmd polls the trail every 100 ms: add up to that to what a
	 * record appended by another process waits. */
	printf("monitor_rekey members=%lu action=evict runs=%d event_to_generation_ms_median=%.1f max_ms=%.1f "
	       "package_ms=%.1f poll_interval_ms=100 target_ms=1000 pass=%s\n",
	       o->members, MR_EVICT_RUNS, median, max, r.package_ms, max + 100 <= 1000 ? "true" : "false");
	printf("monitor_rekey members=%lu action=rekey runs=1 event_to_generation_ms=%.1f generations=%lu->%lu "
	       "setup_s=%.1f pass=%s\n",
	       o->members, r.rekey_ms, r.gen_before, r.gen_after, r.setup_s, r.rekey_ms + 100 <= 1000 ? "true" : "false");
	return 0;
}

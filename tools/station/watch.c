/*
 * The station's breach monitor as akm-nmmd runs it (station.h "the
 * monitor", docs/akm-nmmd.md "Automatic response"): the audit trail,
 * followed record by record (act.c's follower), becomes the policy
 * engine's events (lib/monitor.h); a tick evaluates the gauges; every fired
 * action is carried out by respond.c.  Records appended by any process —
 * this service, akm-nmm, the module itself — are seen, in order.
 */
#include "station/station.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hex.h"
#include "lib/monitor.h"
#include "shared/net.h"

#define FOLLOW_BATCH 4096

struct nmm_watch {
	nmm_station *s;
	nmm_act *act;
	akm_monitor *m;
	akm_policy policy;
	bool have_policy;
	bool replaying;           /* an action fired while replaying is carried out only if the trail does not show it done */
	bool started;             /* nmm_watch_start ran */
	uint64_t last_tick;
	nmm_watch_log log;
	void *log_ctx;
	nmm_watch_stats stats;
	/* While replaying: the station-signed policy-<action> records seen,
	 * so that an action fired by the replay is carried out unless the
	 * trail shows it done after the events that fired it (a crash
	 * between an event's record and the action's loses nothing). */
	struct done_rec {
		char action[24], rule[AKM_POLICY_NAME_MAX + 1];
		uint8_t subject[AKM_MON_ID_MAX];
		size_t subject_len;
		uint64_t seq;
	} *done;
	size_t ndone, done_cap;
};

static void say(nmm_watch *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(nmm_watch *w, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (w->log != NULL)
		w->log(w->log_ctx, level, line);
}

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* ---- records -> events ---- */

/* "policy-<action>" with a detail "rule=<name> ...", signed by the
 * station: remembered while replaying (see struct nmm_watch). */
static void remember_done(nmm_watch *w, const nmm_audit_rec *r)
{
	if (strncmp(r->action, "policy-", 7) != 0 || strcmp(r->action, "policy-load") == 0 ||
	    strcmp(r->action, "policy-refused") == 0 || strncmp(r->detail, "rule=", 5) != 0 ||
	    r->rid_len > AKM_MON_ID_MAX)
		return;
	size_t rule_len = strcspn(r->detail + 5, " ;");
	if (rule_len > AKM_POLICY_NAME_MAX || strlen(r->action) >= sizeof w->done->action)
		return;
	if (nmm_audit_check_sig(w->s, r) != NMM_AUDIT_SIG_VALID)
		return; /* anyone with the PIN can append: only the station's count */
	if (w->ndone == w->done_cap) {
		size_t cap = w->done_cap ? 2 * w->done_cap : 64;
		struct done_rec *d = realloc(w->done, cap * sizeof *d);
		if (d == NULL)
			return; /* the action is carried out again: idempotent, or one record more */
		w->done = d;
		w->done_cap = cap;
	}
	struct done_rec *d = &w->done[w->ndone++];
	snprintf(d->action, sizeof d->action, "%s", r->action);
	memcpy(d->rule, r->detail + 5, rule_len);
	d->rule[rule_len] = '\0';
	memcpy(d->subject, r->rid, d->subject_len = r->rid_len);
	d->seq = r->seq;
}

/* Whether the trail shows a fired to have been carried out: a record of
 * its action, rule and subject after the last event that fired it (any,
 * for a gauge's, which names no event). */
static bool was_done(const nmm_watch *w, const akm_mon_action *a)
{
	const char *name = akm_mon_action_audit_name(a->action);
	uint64_t after = a->nseqs > 0 ? a->seqs[a->nseqs - 1] : 0;
	for (size_t i = 0; i < w->ndone; i++) {
		const struct done_rec *d = &w->done[i];
		if (d->seq > after && strcmp(d->action, name) == 0 && strcmp(d->rule, a->rule) == 0 &&
		    d->subject_len == a->subject_len && memcmp(d->subject, a->subject, a->subject_len) == 0)
			return true;
	}
	return false;
}

static void on_record(void *ctx, const nmm_audit_rec *r)
{
	nmm_watch *w = ctx;
	w->stats.records++;
	if (w->replaying)
		remember_done(w, r);
	/* An application's record counts only when the station signed it
	 * (akm-nmm's and this service's): anyone with the PIN can append. */
	if (strcmp(r->action, "reinstate") == 0 && r->result == CKR_OK && r->rid_len > 0 &&
	    nmm_audit_check_sig(w->s, r) == NMM_AUDIT_SIG_VALID) {
		akm_monitor_reinstate(w->m, r->rid, r->rid_len);
		say(w, 5, "policy: node reinstated by the operator (record %lu): its counters start afresh",
		    (unsigned long)r->seq);
		return;
	}
	if (!w->have_policy)
		return; /* nothing to count for (a first policy seeds the gauges again) */
	akm_mon_event ev[AKM_MON_FROM_AUDIT_MAX];
	bool untrusted;
	size_t n = nmm_policy_events(w->s, r, ev, AKM_MON_FROM_AUDIT_MAX, &untrusted);
	w->stats.unsigned_records += untrusted;
	for (size_t i = 0; i < n; i++) {
		akm_monitor_feed(w->m, &ev[i]);
		w->stats.events++;
	}
}

/* ---- actions ---- */

static void carry_out(nmm_watch *w, const akm_mon_action *a)
{
	char detail[512], said[1024];
	akm_mon_action_detail(a, detail, sizeof detail);
	if (w->replaying && was_done(w, a)) {
		w->stats.replayed_actions++;
		return; /* fired before the restart: its record is in the trail already */
	}
	uint64_t t0 = akm_net_now_ms();
	nmm_response r = {a->action, a->scope, a->subject, a->subject_len, a->rule, detail};
	int rc = nmm_respond(w->s, &r, said, sizeof said);
	w->stats.actions++;
	if (rc != AKM_RC_OK)
		w->stats.failed_actions++;
	w->stats.last_action_ms = akm_net_now_ms() - t0;
	say(w, rc == AKM_RC_OK ? 5 : 3, "policy: %s%s", w->replaying ? "(fired by the replay, not done yet) " : "",
	    said);
}

/* Quarantine and revoke go last of the actions fired together: they mark
 * the node quarantined, after which the engine fires nothing destructive
 * for it, so a crash before them leaves the rule to fire again (and the
 * replay to finish what is not in the trail), while a crash after them
 * leaves nothing undone. */
static bool goes_last(akm_policy_action a)
{
	return a == AKM_ACT_QUARANTINE || a == AKM_ACT_REVOKE;
}

static void drain(nmm_watch *w)
{
	enum { BATCH = 64 };
	akm_mon_action a[BATCH];
	size_t n;
	while ((n = akm_monitor_drain(w->m, a, BATCH)) > 0) {
		for (int last = 0; last < 2; last++)
			for (size_t i = 0; i < n; i++)
				if (goes_last(a[i].action) == (last == 1))
					carry_out(w, &a[i]);
	}
}

static void seed(nmm_watch *w);

static void end_replay(nmm_watch *w)
{
	w->replaying = false;
	free(w->done);
	w->done = NULL;
	w->ndone = w->done_cap = 0;
}

/* ---- the policy ---- */

int nmm_watch_load(nmm_watch *w, const char *path)
{
	char why[512];
	static akm_policy p; /* 60 KB: not on the stack */
	int rc = nmm_policy_load(path, &p, why, sizeof why) == AKM_RC_OK ? 0 : -1;
	if (rc == 0 && w->m != NULL && !akm_monitor_replace(w->m, &p)) {
		snprintf(why, sizeof why, "%s: out of memory", path);
		rc = -1;
	}
	if (rc == 0 && w->m == NULL && (w->m = akm_monitor_create(&p, NULL)) == NULL) {
		snprintf(why, sizeof why, "%s: out of memory", path);
		rc = -1;
	}
	if (rc != 0) {
		w->stats.refused++;
		say(w, 3, "policy refused, %s: %s", w->have_policy ? "the previous one stays in force" : "none in force",
		    why);
		nmm_audit(w->s, "policy-refused", NULL, 0, CKR_FUNCTION_FAILED, "file=%s; why=%s", path, why);
		return AKM_RC_REFUSED;
	}
	bool first = !w->have_policy;
	w->policy = p;
	w->have_policy = true;
	w->stats.loads++;
	if (first && w->started) {
		/* the first policy after a start without one: the gauges from
		 * the token, as at the start (the trail since was not counted) */
		w->replaying = true;
		seed(w);
		drain(w);
		end_replay(w);
	}
	say(w, 5, "policy loaded from %s: %zu rule(s)", path, p.nrules);
	nmm_audit(w->s, "policy-load", NULL, 0, CKR_OK, "file=%s; rules=%zu", path, p.nrules);
	return AKM_RC_OK;
}

/* ---- start: how much of the trail is replayed ---- */

/* The longest span a rule looks back: its window times its datapoints
 * (at most 7 days). */
static uint64_t lookback(const akm_policy *p)
{
	uint64_t span = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const akm_policy_rule *r = &p->rules[i];
		uint64_t s = (uint64_t)r->window * (r->to_alarm ? r->to_alarm : 1);
		span = s > span ? s : span;
	}
	return span < AKM_POLICY_WINDOW_MAX ? span : AKM_POLICY_WINDOW_MAX;
}

/* The first record not older than t (the trail is in time order: the
 * module stamps each record when it appends it), by bisection. */
static uint64_t first_since(nmm_station *s, uint64_t head, uint64_t t)
{
	uint64_t lo = 1, hi = head + 1; /* the answer is in [lo, hi] */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		CK_ULONG rt = 0;
		CK_ATTRIBUTE a = {CKA_AKM_AUDIT_TIME, &rt, sizeof rt};
		if (s->p.f->C_GetAttributeValue(s->p.session, AKM_TRAIL_HANDLE(mid), &a, 1) != CKR_OK || rt >= t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* What the token says now, for the gauges and the quarantine marks: each
 * ASR's generation (CKA_AKM_CHANGED: when it last changed), each node's
 * last check-in (CKA_AKM_CHECKIN) and the suspended nodes. */
static void seed(nmm_watch *w)
{
	nmm_asr *asrs;
	size_t na;
	if (nmm_asr_list(w->s, "policy", &asrs, &na) == AKM_RC_OK) {
		for (size_t i = 0; i < na; i++) {
			akm_mon_event ev = {.kind = AKM_MON_ASR_REKEYED, .epoch = asrs[i].epoch >> 32, .count = 1,
			                    .time = asrs[i].changed};
			memcpy(ev.asr, asrs[i].id, ev.asr_len = asrs[i].id_len);
			akm_monitor_feed(w->m, &ev);
		}
		free(asrs);
	}
	/* Each node read as the search gives it (from the rows the module
	 * read ahead with it: a registry of a million nodes in one pass). */
	nmm_node_stream st;
	if (nmm_node_stream_open(w->s, &st) != 0)
		return;
	nmm_node n;
	while (nmm_node_stream_next(&st, &n) > 0) {
		if (n.state == CKV_AKM_STATE_SUSPENDED || n.state == CKV_AKM_STATE_REVOKED)
			akm_monitor_quarantine(w->m, n.pr_id, n.pr_id_len);
		if (n.state == CKV_AKM_STATE_ACTIVE && n.checkin > 0) {
			akm_mon_event ev = {.kind = AKM_MON_CHECKIN, .count = 1, .time = n.checkin / 1000};
			memcpy(ev.node, n.pr_id, ev.node_len = n.pr_id_len);
			akm_monitor_feed(w->m, &ev);
		}
	}
	nmm_node_stream_close(&st);
}

int nmm_watch_start(nmm_watch *w)
{
	uint64_t head = akm_trail_head(&w->s->p), now = now_s();
	uint64_t span = w->have_policy ? lookback(&w->policy) : 0;
	uint64_t from = span > 0 ? first_since(w->s, head, now > span ? now - span : 0) : head + 1;
	nmm_act_set_follower(w->act, from, on_record, w);
	if (w->m == NULL) {
		static const akm_policy none;
		if ((w->m = akm_monitor_create(&none, NULL)) == NULL)
			return AKM_RC_TOKEN;
	}
	uint64_t t0 = akm_net_now_ms();
	w->replaying = true;
	seed(w);
	size_t n;
	while ((n = nmm_act_follow(w->act, FOLLOW_BATCH)) > 0)
		w->stats.replayed += n;
	akm_monitor_tick(w->m, now);
	drain(w);
	end_replay(w);
	w->started = true;
	w->last_tick = now;
	say(w, 5, "policy: %llu trail record(s) replayed (from %llu, the last %llu s) in %llu ms",
	    (unsigned long long)w->stats.replayed, (unsigned long long)from, (unsigned long long)span,
	    (unsigned long long)(akm_net_now_ms() - t0));
	return AKM_RC_OK;
}

void nmm_watch_poll(nmm_watch *w)
{
	while (nmm_act_follow(w->act, FOLLOW_BATCH) == FOLLOW_BATCH)
		;
	uint64_t now = now_s();
	if (now != w->last_tick) {
		akm_monitor_tick(w->m, now);
		w->last_tick = now;
	}
	drain(w);
}

nmm_watch *nmm_watch_new(nmm_station *s, nmm_act *act, nmm_watch_log log, void *ctx)
{
	nmm_watch *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->s = s;
	w->act = act;
	w->log = log;
	w->log_ctx = ctx;
	return w;
}

void nmm_watch_free(nmm_watch *w)
{
	if (w == NULL)
		return;
	akm_monitor_free(w->m);
	free(w->done);
	free(w);
}

const nmm_watch_stats *nmm_watch_stats_of(const nmm_watch *w)
{
	return &w->stats;
}

/*
 * The breach monitor (docs/policy.md): typed events, the mapping from the
 * station's audit records to events, and the policy engine that aggregates
 * events per subject and fires the policy's actions.
 *
 * Pure: no I/O, no PKCS#11, no locks (one thread at a time per monitor);
 * memory is allocated when a monitor is created or its policy replaced and
 * in slabs as new subjects appear, never per event.  Times are seconds
 * (the audit records' CKA_AKM_AUDIT_TIME); the caller's clock drives
 * akm_monitor_tick.
 *
 * Use (akm-nmmd; akm-nmm policy test replays the trail the same way):
 *
 *   akm_policy p;  akm_policy_parse(text, len, "policy.conf", &p, err, sizeof err);
 *   akm_monitor *m = akm_monitor_create(&p, NULL);
 *   for each new audit record r:
 *       akm_mon_event ev[AKM_MON_FROM_AUDIT_MAX];
 *       size_t n = akm_mon_from_audit(&r, ev, AKM_MON_FROM_AUDIT_MAX);
 *       for i < n: akm_monitor_feed(m, &ev[i]);
 *   every second: akm_monitor_tick(m, now);
 *   akm_mon_action a;  while (akm_monitor_drain(m, &a, 1) == 1) { act, audit "policy-<action>" }
 *   SIGHUP: parse again; on success akm_monitor_replace(m, &p2) (counters kept), else keep the old
 *   operator's reinstate: akm_monitor_reinstate(m, AKM_SCOPE_NODE, pr, pr_len)
 */
#ifndef AKM_LIB_MONITOR_H
#define AKM_LIB_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/policy.h"

#define AKM_MON_ID_MAX 32             /* a PR or ASR ID */
#define AKM_MON_SEQS_MAX 8            /* audit seqs named in one fired action */

/* ---- events ---- */

/* One event: `kind` is one of the counted metrics (AKM_MON_WRONG_PIN ..
 * AKM_MON_ASR_SENT).  `node` is the node it is attributed to (its PR ID;
 * empty when none, e.g. a wrong PIN at the station itself), `asr` the ASR
 * it concerns (empty when none).  An event with neither counts only for
 * station-scope rules. */
typedef struct akm_mon_event {
	akm_mon_metric kind;
	uint8_t node[AKM_MON_ID_MAX];
	size_t node_len;
	uint8_t asr[AKM_MON_ID_MAX];
	size_t asr_len;
	uint64_t epoch;      /* the ASR's generation when known (asr-created/-rekeys/-sent), else 0 */
	uint32_t count;      /* how many (a node's report counts several); 0 is taken as 1 */
	uint64_t time;       /* seconds since 1970 */
	uint64_t seq;        /* the audit record it comes from, 0 if none */
} akm_mon_event;

/* One audit record, as read through the module (CKO_AKM_AUDIT_RECORD).
 * Text fields are NUL-terminated; rid may be NULL when rid_len is 0. */
typedef struct akm_mon_record {
	const char *actor;   /* "user", "so", "module", "app", ... */
	const char *action;
	const char *detail;
	const uint8_t *rid;  /* CKA_AKM_RELATIONSHIP_ID */
	size_t rid_len;
	unsigned long result; /* a CK_RV */
	uint64_t time, seq;
} akm_mon_record;

#define AKM_MON_FROM_AUDIT_MAX 2

/* The events audit record r stands for (0 .. max, at most
 * AKM_MON_FROM_AUDIT_MAX), written to out[]; the count is returned.  The
 * table (monitor-audit.c; docs/policy.md, "Where events come from") maps
 * the module's records (login, login-refused, decrypt-failed,
 * verify-failed, use-refused, unknown-relationship, tamper-detected,
 * rollback-detected, asr-refused, asr-create/-add/-remove/-rekey) and the
 * station's (act-*, clone-signal, lockout, node-verify-failed, activate,
 * checkin, report with "; verified", node-report).  A node-report's
 * "event=<name>" is looked up in a second table (wrong-pin,
 * bundle-refused, key-failure, replay, tamper, other; and asr-forged,
 * asr-replay, asr-sent, whose detail may carry "asr=<hex ID>",
 * "sender=<hex PR ID>" (the forger, to whom the event is attributed)
 * and "epoch=<n>").
 *
 * Records of the policy itself (policy-*, reinstate) and every action not
 * in the table give no event: no feedback loops.  The mapping does not
 * check the station's signature: the caller passes only records it trusts
 * (the module's own, and the station's signed ones, nmm_audit_check_sig). */
size_t akm_mon_from_audit(const akm_mon_record *r, akm_mon_event *out, size_t max);

/* ---- the engine ---- */

typedef struct akm_monitor akm_monitor;

/* Bounds of one monitor's memory (docs/policy.md, "Memory"). */
typedef struct akm_monitor_limits {
	size_t subjects;     /* nodes + ASRs tracked at once; default 100,000 */
	size_t counted;      /* nodes, and ASRs, with live counters at once (each); default 16,384 */
	size_t queue;        /* fired actions waiting to be drained; default 4,096 */
} akm_monitor_limits;

/* A new monitor for policy p (copied), limits NULL for the defaults; NULL
 * when out of memory. */
akm_monitor *akm_monitor_create(const akm_policy *p, const akm_monitor_limits *limits);
void akm_monitor_free(akm_monitor *m);

/* Counts one event and evaluates the counted rules it concerns; an alarm
 * whose datapoints are reached fires on this event (its actions are
 * queued before this returns).  Facts update the gauges (evaluated at the
 * next tick).  Events may come slightly out of time order; an event older
 * than a rule's window counts for nothing there. */
void akm_monitor_feed(akm_monitor *m, const akm_mon_event *ev);

/* The clock: evaluates the gauges (asr-age, asr-messages, node-silence)
 * of every subject, and lets counted alarms clear as their windows slide.
 * Call about once a second (a replay may call it less often). */
void akm_monitor_tick(akm_monitor *m, uint64_t now);

/* One fired action. */
typedef struct akm_mon_action {
	char rule[AKM_POLICY_NAME_MAX + 1];
	akm_policy_action action;
	akm_policy_scope scope;
	uint8_t subject[AKM_MON_ID_MAX];   /* the PR ID (node) or ASR ID; empty for the station */
	size_t subject_len;
	akm_mon_metric metric;
	akm_policy_op op;
	uint64_t value, threshold;
	uint64_t time;                     /* of the event or tick that fired it */
	uint64_t seqs[AKM_MON_SEQS_MAX];   /* the latest audit records that fired it, oldest first */
	size_t nseqs;
	uint64_t nevents;                  /* events counted in the value (gauges: 0) */
} akm_mon_action;

/* Moves up to max queued actions, oldest first, into out; returns how many. */
size_t akm_monitor_drain(akm_monitor *m, akm_mon_action *out, size_t max);

/* The agreed audit detail of a fired action:
 *   "rule=<name> metric=<m> value=<v> threshold=<op><t> events=<seq,...>"
 * ("events=" lists a's seqs, then "+<k>" when k more were counted; "-" for
 * none).  Always NUL-terminated; returns the length it needed. */
size_t akm_mon_action_detail(const akm_mon_action *a, char *out, size_t cap);
/* "policy-alert", "policy-quarantine", ...: the action's audit action. */
const char *akm_mon_action_audit_name(akm_policy_action a);

/* Quarantine: a quarantined node gets no destructive action (quarantine,
 * evict, revoke, reactivate) until it is reinstated; alerts and stale still
 * fire.  The engine marks a node itself when it queues a destructive action
 * for it; the caller marks the nodes it finds suspended (e.g. at start).
 * Reinstating (the operator's akm-nmm reinstate) lifts the mark and forgets
 * the node's counters and alarms, so it starts clean.  Both return false
 * only when the subject table is full (mark) or the node is unknown
 * (reinstate). */
bool akm_monitor_quarantine(akm_monitor *m, const uint8_t *node, size_t len);
bool akm_monitor_reinstate(akm_monitor *m, const uint8_t *node, size_t len);
bool akm_monitor_is_quarantined(const akm_monitor *m, const uint8_t *node, size_t len);

/* Replaces the policy (hot reload) with p, already parsed and accepted:
 * counters are kept for every (scope, metric) both policies count (counts
 * moved to the new window's buckets), alarms for every rule kept under the
 * same name, scope and metric; quarantine marks and gauges are kept.  false
 * (and the old policy stays in force, unchanged) when out of memory. */
bool akm_monitor_replace(akm_monitor *m, const akm_policy *p);

/* What the monitor holds, for akm-nmm status and /metrics. */
typedef struct akm_monitor_stats {
	uint64_t events;          /* fed */
	uint64_t fired;           /* actions queued */
	uint64_t suppressed;      /* destructive actions not queued: the node was quarantined */
	uint64_t dropped;         /* actions not queued: the queue was full */
	uint64_t evicted;         /* idle subjects forgotten to stay within the limits */
	uint64_t untracked;       /* events not counted: every subject busy and the table full */
	size_t subjects, counted, alarms, quarantined;
	size_t bytes;             /* memory held */
} akm_monitor_stats;
void akm_monitor_get_stats(const akm_monitor *m, akm_monitor_stats *s);

#endif

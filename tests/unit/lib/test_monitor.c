/* The breach monitor (src/lib/monitor.c, monitor-audit.c; docs/policy.md):
 * the audit records' events, alarms with datapoints to alarm and to clear,
 * cool-down, the sliding window's edges, gauges on the clock, quarantine
 * and reinstate, a reload keeping counters, and memory bounded under a
 * flood of distinct subjects. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "lib/monitor.h"

static akm_policy pol;

static akm_monitor *monitor(const char *text, const akm_monitor_limits *lim)
{
	char err[256];
	akm_policy_rc rc = akm_policy_parse(text, strlen(text), "test", &pol, err, sizeof err);
	if (rc != AKM_POLICY_OK)
		ck_abort_msg("policy refused: %s", err);
	akm_monitor *m = akm_monitor_create(&pol, lim);
	ck_assert_ptr_nonnull(m);
	return m;
}

static akm_mon_event node_event(akm_mon_metric kind, const char *node, uint64_t time, uint64_t seq)
{
	akm_mon_event ev;
	memset(&ev, 0, sizeof ev);
	ev.kind = kind;
	ev.node_len = strlen(node);
	memcpy(ev.node, node, ev.node_len);
	ev.time = time;
	ev.seq = seq;
	ev.count = 1;
	return ev;
}

static akm_mon_event asr_event(akm_mon_metric kind, const char *asr, uint64_t epoch, uint32_t count, uint64_t time,
                               uint64_t seq)
{
	akm_mon_event ev;
	memset(&ev, 0, sizeof ev);
	ev.kind = kind;
	ev.asr_len = strlen(asr);
	memcpy(ev.asr, asr, ev.asr_len);
	ev.epoch = epoch;
	ev.count = count;
	ev.time = time;
	ev.seq = seq;
	return ev;
}

static void feed(akm_monitor *m, akm_mon_metric kind, const char *node, uint64_t time, uint64_t seq)
{
	akm_mon_event ev = node_event(kind, node, time, seq);
	akm_monitor_feed(m, &ev);
}

/* Everything queued: how many, the first in *a. */
static size_t drained(akm_monitor *m, akm_mon_action *a)
{
	akm_mon_action all[64];
	size_t n = akm_monitor_drain(m, all, 64);
	if (n > 0 && a != NULL)
		*a = all[0];
	return n;
}

#define RULE(name, body) "rule " name "\n" body "\n"

/* ---- the audit records' events ---- */

static size_t map(const char *actor, const char *action, const char *rid, unsigned long result, const char *detail,
                  akm_mon_event *ev)
{
	akm_mon_record r = {actor, action, detail, (const uint8_t *)rid, rid ? strlen(rid) : 0, result, 1700000000, 42};
	memset(ev, 0xAA, sizeof *ev);
	return akm_mon_from_audit(&r, ev, 1);
}

static void expect(const char *actor, const char *action, const char *rid, unsigned long result, const char *detail,
                   akm_mon_metric kind, const char *node, const char *asr)
{
	akm_mon_event ev;
	size_t n = map(actor, action, rid, result, detail, &ev);
	if (n != 1)
		ck_abort_msg("%s %s (%s): %zu events", actor, action, detail, n);
	if (ev.kind != kind)
		ck_abort_msg("%s %s (%s): kind %s, expected %s", actor, action, detail, akm_mon_metric_name(ev.kind),
		             akm_mon_metric_name(kind));
	ck_assert_uint_eq(ev.node_len, node ? strlen(node) : 0);
	if (node)
		ck_assert_mem_eq(ev.node, node, strlen(node));
	ck_assert_uint_eq(ev.asr_len, asr ? strlen(asr) : 0);
	if (asr)
		ck_assert_mem_eq(ev.asr, asr, strlen(asr));
	ck_assert_uint_eq(ev.time, 1700000000);
	ck_assert_uint_eq(ev.seq, 42);
}

static void nothing(const char *actor, const char *action, const char *rid, unsigned long result, const char *detail)
{
	akm_mon_event ev;
	if (map(actor, action, rid, result, detail, &ev) != 0)
		ck_abort_msg("%s %s (%s) is an event", actor, action, detail);
}

#define SITE "site=Plant 3; location=Hall; node=n1; "

START_TEST(test_audit_mapping)
{
	/* the module's records */
	expect("user", "login", NULL, CKR_PIN_INCORRECT, "user; before login, at 5", AKM_MON_WRONG_PIN, NULL, NULL);
	expect("user", "login", NULL, CKR_PIN_LOCKED, "user", AKM_MON_LOGIN_REFUSED, NULL, NULL);
	expect("user", "login-refused", NULL, CKR_FUNCTION_FAILED, "user", AKM_MON_LOGIN_REFUSED, NULL, NULL);
	expect("user", "use-refused", "PR1", CKR_KEY_FUNCTION_NOT_PERMITTED, "suspended", AKM_MON_REFUSED_STATE, "PR1",
	       NULL);
	expect("user", "verify-failed", "PR1", CKR_SIGNATURE_INVALID, "", AKM_MON_KEY_FAILURE, "PR1", NULL);
	expect("user", "decrypt-failed", "PR1", CKR_ENCRYPTED_DATA_INVALID, "", AKM_MON_KEY_FAILURE, "PR1", NULL);
	expect("user", "unknown-relationship", "XX", CKR_OBJECT_HANDLE_INVALID, "", AKM_MON_UNKNOWN_REL, NULL, NULL);
	expect("module", "tamper-detected", NULL, CKR_DEVICE_ERROR, "rows", AKM_MON_TAMPER, NULL, NULL);
	expect("module", "rollback-detected", NULL, CKR_DEVICE_ERROR, "", AKM_MON_TAMPER, NULL, NULL);
	expect("user", "asr-refused", "ASR1", CKR_SIGNATURE_INVALID, "open: bad tag", AKM_MON_TAMPER, NULL, "ASR1");
	expect("user", "asr-create", "ASR1", CKR_OK, "members 3 capacity 4 generation 1", AKM_MON_ASR_CREATED, NULL,
	       "ASR1");
	expect("user", "asr-rekey", "ASR1", CKR_OK, "generation 7", AKM_MON_ASR_REKEYED, NULL, "ASR1");
	expect("user", "asr-remove", "ASR1", CKR_OK, "member n2 leaf 1 generation 8", AKM_MON_ASR_REKEYED, NULL, "ASR1");
	akm_mon_event ev;
	map("user", "asr-add", "ASR1", CKR_OK, "member n2 leaf 1 generation 9", &ev);
	ck_assert_uint_eq(ev.epoch, 9);
	/* the station's */
	expect("app", "act-malformed", "PR1", CKR_DATA_INVALID, SITE "peer=1.2.3.4; reason=record", AKM_MON_MALFORMED,
	       "PR1", NULL);
	expect("app", "act-malformed", NULL, CKR_DATA_INVALID, "site=s; location=l; peer=1.2.3.4; reason=x",
	       AKM_MON_MALFORMED, NULL, NULL);
	expect("app", "act-timeout", NULL, CKR_DATA_INVALID, "peer=a; reason=before the proof", AKM_MON_MALFORMED, NULL,
	       NULL);
	expect("app", "act-refused", NULL, CKR_DATA_INVALID, "site=s; peer=a; reason=unknown", AKM_MON_UNKNOWN_REL, NULL,
	       NULL);
	expect("app", "act-refused", "PR1", CKR_KEY_FUNCTION_NOT_PERMITTED, SITE "peer=a; reason=state; state=suspended",
	       AKM_MON_REFUSED_STATE, "PR1", NULL);
	expect("app", "act-refused", NULL, CKR_DATA_INVALID, "peer=a; reason=cookie expired", AKM_MON_MALFORMED, NULL,
	       NULL);
	expect("app", "act-bad-proof", "PR1", CKR_SIGNATURE_INVALID, SITE "peer=a; op=checkin", AKM_MON_BAD_PROOF, "PR1",
	       NULL);
	expect("app", "node-verify-failed", "PR1", CKR_SIGNATURE_INVALID, SITE "peer=a", AKM_MON_BAD_PROOF, "PR1", NULL);
	expect("app", "act-replay", "PR1", CKR_ATTRIBUTE_VALUE_INVALID, SITE "peer=a; op=checkin", AKM_MON_REPLAY, "PR1",
	       NULL);
	expect("app", "clone-signal", "PR1", CKR_DATA_INVALID, SITE "reason=hardware; peer=a; hw=00", AKM_MON_CLONE, "PR1",
	       NULL);
	expect("app", "clone-signal", "PR1", CKR_OK, SITE "reason=address; peer=a; earlier=b", AKM_MON_CLONE_ADDRESS,
	       "PR1", NULL);
	expect("app", "lockout", "PR1", CKR_PIN_LOCKED, "peer=a; key=pr:50; for=300s", AKM_MON_LOCKOUT, "PR1", NULL);
	expect("app", "checkin", "PR1", CKR_OK, SITE "peer=a; verified; status=verified", AKM_MON_CHECKIN, "PR1", NULL);
	expect("app", "activate", "PR1", CKR_OK, SITE "peer=a; verified; status=verified", AKM_MON_CHECKIN, "PR1", NULL);
	expect("app", "report", "PR1", CKR_OK, SITE "peer=a; verified; status=verified; events", AKM_MON_CHECKIN, "PR1",
	       NULL);
	/* a node's report */
	expect("app", "node-report", "PR1", CKR_OK, SITE "peer=a; event=wrong-pin; count=3; at=5; detail=user PIN",
	       AKM_MON_WRONG_PIN, "PR1", NULL);
	map("app", "node-report", "PR1", CKR_OK, SITE "peer=a; event=wrong-pin; count=3; at=5; detail=", &ev);
	ck_assert_uint_eq(ev.count, 3);
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=bundle-refused; count=1", AKM_MON_TAMPER, "PR1", NULL);
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=key-failure; count=1", AKM_MON_KEY_FAILURE, "PR1", NULL);
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=replay; count=1", AKM_MON_REPLAY, "PR1", NULL);
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=tamper; count=1", AKM_MON_TAMPER, "PR1", NULL);
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=other; count=1", AKM_MON_OTHER, "PR1", NULL);
	/* ASR events: attributed to the sender the report names ("AB" is 4142) */
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=asr-forged; count=2; detail=asr=41535231 sender=4142",
	       AKM_MON_FORGED, "AB", "ASR1");
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=asr-forged; asr=41535231; sender=zz", AKM_MON_FORGED, NULL,
	       "ASR1");
	expect("app", "node-report", "PR1", CKR_OK, SITE "event=asr-replay; asr=41535231; sender=4142", AKM_MON_REPLAY,
	       "AB", "ASR1");
	map("app", "node-report", "PR1", CKR_OK, SITE "event=asr-sent; count=250; detail=asr=41535231 epoch=4", &ev);
	ck_assert_int_eq(ev.kind, AKM_MON_ASR_SENT);
	ck_assert_uint_eq(ev.count, 250);
	ck_assert_uint_eq(ev.epoch, 4);
	ck_assert_mem_eq(ev.node, "PR1", 3);
	ck_assert_mem_eq(ev.asr, "ASR1", 4);
	/* no event: the policy's own records (no feedback loop), successes,
	 * unknown actions, a module action written by an application, a
	 * station action without the station's actor, an unverified exchange */
	nothing("app", "policy-quarantine", "PR1", CKR_OK, "rule=r metric=forged value=4 threshold=>3 events=1,2");
	nothing("app", "policy-alert", NULL, CKR_OK, "rule=r");
	nothing("app", "policy-refused", NULL, CKR_OK, "");
	nothing("app", "policy-load", NULL, CKR_OK, "");
	nothing("app", "reinstate", "PR1", CKR_OK, "");
	nothing("app", "act-refused", "PR1", CKR_KEY_FUNCTION_NOT_PERMITTED, SITE "peer=a; reason=reactivate; op=checkin");
	nothing("user", "login", NULL, CKR_OK, "");
	nothing("user", "create", "PR1", CKR_OK, "provisioning");
	nothing("app", "tamper-detected", NULL, CKR_DEVICE_ERROR, "");
	nothing("app", "decrypt-failed", "PR1", CKR_ENCRYPTED_DATA_INVALID, "");
	nothing("user", "act-bad-proof", "PR1", CKR_SIGNATURE_INVALID, "");
	nothing("app", "checkin", "PR1", CKR_OK, SITE "peer=a; status=activated");
	nothing("app", "checkin", "PR1", CKR_OK, SITE "peer=a; verifiedx");
	nothing("app", "node-report", "PR1", CKR_OK, SITE "event=sneeze; count=1");
	nothing("app", "node-report", "PR1", CKR_OK, SITE "count=1");
	nothing("user", "asr-rekey", "ASR1", CKR_FUNCTION_FAILED, "generation 7");
	/* a relationship ID too long to be one gives no subject */
	char long_id[40];
	memset(long_id, 'x', sizeof long_id - 1);
	long_id[39] = '\0';
	expect("app", "act-bad-proof", long_id, CKR_SIGNATURE_INVALID, "", AKM_MON_BAD_PROOF, NULL, NULL);
	/* max 0: nothing written */
	akm_mon_record r = {"app", "act-bad-proof", "", (const uint8_t *)"P", 1, 0, 1, 1};
	ck_assert_uint_eq(akm_mon_from_audit(&r, &ev, 0), 0);
}
END_TEST

/* ---- alarms ---- */

START_TEST(test_fires_on_the_triggering_event)
{
	akm_monitor *m = monitor(RULE("forged", "scope node\nmetric forged\nthreshold > 2\nwindow 1m\n"
	                                        "actions alert quarantine evict"),
	                         NULL);
	akm_mon_action a;
	feed(m, AKM_MON_FORGED, "n1", 1000, 11);
	feed(m, AKM_MON_FORGED, "n1", 1001, 12);
	feed(m, AKM_MON_FORGED, "n2", 1001, 13); /* another node counts for itself */
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_FORGED, "n1", 1002, 14);
	akm_mon_action all[8];
	ck_assert_uint_eq(akm_monitor_drain(m, all, 8), 3);
	a = all[0];
	ck_assert_str_eq(a.rule, "forged");
	ck_assert_int_eq(a.action, AKM_ACT_ALERT);
	ck_assert_int_eq(all[1].action, AKM_ACT_QUARANTINE);
	ck_assert_int_eq(all[2].action, AKM_ACT_EVICT);
	ck_assert_int_eq(a.scope, AKM_SCOPE_NODE);
	ck_assert_uint_eq(a.subject_len, 2);
	ck_assert_mem_eq(a.subject, "n1", 2);
	ck_assert_int_eq(a.metric, AKM_MON_FORGED);
	ck_assert_uint_eq(a.value, 3);
	ck_assert_uint_eq(a.threshold, 2);
	ck_assert_uint_eq(a.time, 1002);
	ck_assert_uint_eq(a.nseqs, 3);
	ck_assert_uint_eq(a.seqs[0], 11);
	ck_assert_uint_eq(a.seqs[1], 12);
	ck_assert_uint_eq(a.seqs[2], 14);
	char detail[256];
	akm_mon_action_detail(&a, detail, sizeof detail);
	ck_assert_str_eq(detail, "rule=forged metric=forged value=3 threshold=>2 events=11,12,14");
	ck_assert_str_eq(akm_mon_action_audit_name(all[2].action), "policy-evict");
	/* once per alarm (no cool-down): more events fire nothing */
	feed(m, AKM_MON_FORGED, "n1", 1003, 15);
	ck_assert_uint_eq(drained(m, NULL), 0);
	/* the engine marked the node quarantined */
	ck_assert(akm_monitor_is_quarantined(m, (const uint8_t *)"n1", 2));
	ck_assert(!akm_monitor_is_quarantined(m, (const uint8_t *)"n2", 2));
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.events, 5);
	ck_assert_uint_eq(st.fired, 3);
	ck_assert_uint_eq(st.alarms, 1);
	ck_assert_uint_eq(st.quarantined, 1);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_seqs_bounded)
{
	akm_monitor *m = monitor(RULE("many", "scope station\nmetric wrong-pin\nthreshold >= 20\nwindow 1h\n"
	                                      "actions alert"),
	                         NULL);
	for (int i = 1; i <= 19; i++)
		feed(m, AKM_MON_WRONG_PIN, "", 100 + (uint64_t)i, (uint64_t)i);
	akm_mon_event ev = node_event(AKM_MON_WRONG_PIN, "", 200, 20);
	ev.count = 5; /* a report of five */
	akm_monitor_feed(m, &ev);
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.value, 24);
	ck_assert_uint_eq(a.nevents, 24);
	ck_assert_uint_eq(a.nseqs, AKM_MON_SEQS_MAX);
	ck_assert_uint_eq(a.seqs[0], 13);
	ck_assert_uint_eq(a.seqs[7], 20);
	ck_assert_uint_eq(a.subject_len, 0);
	char detail[256];
	akm_mon_action_detail(&a, detail, sizeof detail);
	ck_assert_str_eq(detail, "rule=many metric=wrong-pin value=24 threshold=>=20 events=13,14,15,16,17,18,19,20+16");
	/* a short buffer still ends the string; the length needed is returned */
	char small[10];
	ck_assert_uint_eq(akm_mon_action_detail(&a, small, sizeof small), strlen(detail));
	ck_assert_str_eq(small, "rule=many");
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_datapoints_to_alarm_and_clear)
{
	akm_monitor *m = monitor(RULE("r", "scope node\nmetric bad-proof\nthreshold >= 2\nwindow 10s\n"
	                                   "datapoints-to-alarm 3\ndatapoints-to-clear 2\nactions alert\ncool-down 0"),
	                         NULL);
	feed(m, AKM_MON_BAD_PROOF, "n", 100, 1); /* 1: below */
	feed(m, AKM_MON_BAD_PROOF, "n", 100, 2); /* 2: breaching 1 */
	feed(m, AKM_MON_BAD_PROOF, "n", 101, 3); /* breaching 2 */
	ck_assert_uint_eq(drained(m, NULL), 0);
	/* a tick never adds a breaching datapoint to a counted rule */
	akm_monitor_tick(m, 101);
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_BAD_PROOF, "n", 102, 4); /* breaching 3: fires */
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.value, 4);
	/* clearing: the window empties at 111 (events of 100..102 leave at
	 * 110..112); two good datapoints clear */
	akm_monitor_tick(m, 111); /* 1 left (102's): not breaching, 1 */
	akm_monitor_tick(m, 112); /* 0: not breaching, 2: clear */
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.alarms, 0);
	/* after clearing it needs three breaching datapoints again */
	feed(m, AKM_MON_BAD_PROOF, "n", 200, 5);
	feed(m, AKM_MON_BAD_PROOF, "n", 200, 6);
	feed(m, AKM_MON_BAD_PROOF, "n", 200, 7);
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_BAD_PROOF, "n", 200, 8);
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.nseqs, 4);
	ck_assert_uint_eq(a.seqs[0], 5);
	/* a streak broken by a good datapoint starts again */
	akm_monitor_tick(m, 300);
	feed(m, AKM_MON_BAD_PROOF, "n", 300, 9);
	akm_monitor_get_stats(m, &st);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_clear_needs_consecutive)
{
	akm_monitor *m = monitor(RULE("r", "scope node\nmetric replay\nthreshold >= 1\nwindow 5s\n"
	                                   "datapoints-to-clear 3\nactions alert\ncool-down 1s"),
	                         NULL);
	feed(m, AKM_MON_REPLAY, "n", 100, 1);
	ck_assert_uint_eq(drained(m, NULL), 1);
	akm_monitor_tick(m, 105); /* empty: good 1 */
	akm_monitor_tick(m, 106); /* good 2 */
	feed(m, AKM_MON_REPLAY, "n", 106, 2); /* breaching: the clear streak ends; in alarm, cooled: fires again */
	ck_assert_uint_eq(drained(m, NULL), 1);
	akm_monitor_tick(m, 111);
	akm_monitor_tick(m, 112);
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.alarms, 1); /* two good ones only */
	akm_monitor_tick(m, 113);
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.alarms, 0);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_cooldown)
{
	akm_monitor *m = monitor(RULE("r", "scope node\nmetric replay\nthreshold >= 1\nwindow 5s\n"
	                                   "actions alert\ncool-down 60s"),
	                         NULL);
	feed(m, AKM_MON_REPLAY, "n", 1000, 1);
	ck_assert_uint_eq(drained(m, NULL), 1);
	feed(m, AKM_MON_REPLAY, "n", 1030, 2); /* in alarm, within the cool-down */
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_tick(m, 1040); /* clears */
	feed(m, AKM_MON_REPLAY, "n", 1059, 3); /* a new alarm within the cool-down: no firing */
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_REPLAY, "n", 1060, 4); /* still in alarm, the cool-down over: fires */
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.time, 1060);
	ck_assert_uint_eq(a.nseqs, 2);
	ck_assert_uint_eq(a.seqs[0], 3);
	/* a tick in a lasting alarm repeats it after the cool-down too */
	feed(m, AKM_MON_REPLAY, "n", 1062, 5);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_tick(m, 1064); /* 1060 and 1062 in the window: still breaching, not cooled */
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_sliding_window_edges)
{
	/* per-second buckets: an event counts while it is less than 60 s old */
	akm_monitor *m = monitor(RULE("r", "scope node\nmetric tamper\nthreshold >= 2\nwindow 60s\nactions alert"), NULL);
	feed(m, AKM_MON_TAMPER, "n", 1000, 1);
	feed(m, AKM_MON_TAMPER, "n", 1060, 2); /* 1000 has left: 1 */
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_TAMPER, "n", 1119, 3); /* 1060 is 59 s old: 2 */
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.value, 2);
	ck_assert_uint_eq(a.nseqs, 2);
	ck_assert_uint_eq(a.seqs[0], 2);
	akm_monitor_free(m);
	/* an event older than the window, arriving late, counts for nothing */
	m = monitor(RULE("r", "scope node\nmetric tamper\nthreshold >= 2\nwindow 60s\nactions alert"), NULL);
	feed(m, AKM_MON_TAMPER, "n", 1100, 1);
	feed(m, AKM_MON_TAMPER, "n", 1040, 2);
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_TAMPER, "n", 1041, 3); /* late, but within */
	ck_assert_uint_eq(drained(m, NULL), 1);
	akm_monitor_free(m);
	/* coarse buckets: a 1 h window in 60 buckets of 60 s */
	m = monitor(RULE("r", "scope node\nmetric tamper\nthreshold >= 2\nwindow 1h\nactions alert"), NULL);
	feed(m, AKM_MON_TAMPER, "n", 3600, 1);    /* bucket 60 */
	feed(m, AKM_MON_TAMPER, "n", 7199, 2);    /* bucket 119: 60 is the oldest kept */
	ck_assert_uint_eq(drained(m, NULL), 1);
	akm_monitor_free(m);
	m = monitor(RULE("r", "scope node\nmetric tamper\nthreshold >= 2\nwindow 1h\nactions alert"), NULL);
	feed(m, AKM_MON_TAMPER, "n", 3659, 1);    /* bucket 60 */
	feed(m, AKM_MON_TAMPER, "n", 7200, 2);    /* bucket 120: 60 has left */
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_station_and_asr_scopes)
{
	akm_monitor *m = monitor(RULE("s", "scope station\nmetric breaches\nthreshold >= 3\nwindow 1m\nactions alert")
	                         RULE("a", "scope asr\nmetric forged\nthreshold >= 2\nwindow 1m\nactions alert"),
	                         NULL);
	akm_mon_event ev = node_event(AKM_MON_FORGED, "n1", 10, 1);
	memcpy(ev.asr, "A1", 2);
	ev.asr_len = 2;
	akm_monitor_feed(m, &ev);
	feed(m, AKM_MON_CLONE, "n2", 11, 2);
	ck_assert_uint_eq(drained(m, NULL), 0);
	ev.seq = 3;
	ev.time = 12;
	akm_monitor_feed(m, &ev); /* station: 3 breaches; ASR A1: 2 forged */
	akm_mon_action all[4];
	ck_assert_uint_eq(akm_monitor_drain(m, all, 4), 2);
	ck_assert_str_eq(all[0].rule, "a");
	ck_assert_int_eq(all[0].scope, AKM_SCOPE_ASR);
	ck_assert_mem_eq(all[0].subject, "A1", 2);
	ck_assert_str_eq(all[1].rule, "s");
	ck_assert_uint_eq(all[1].subject_len, 0);
	ck_assert_uint_eq(all[1].value, 3);
	/* facts are not breaches */
	feed(m, AKM_MON_CHECKIN, "n3", 13, 4);
	akm_monitor_tick(m, 70);
	feed(m, AKM_MON_CHECKIN, "n3", 71, 5);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_free(m);
}
END_TEST

/* ---- gauges ---- */

START_TEST(test_gauges)
{
	akm_monitor *m = monitor(RULE("age", "scope asr\nmetric asr-age\nthreshold > 1h\nactions rekey\ncool-down 10m")
	                         RULE("msgs", "scope asr\nmetric asr-messages\nthreshold >= 1000\nactions rekey")
	                         RULE("stale", "scope node\nmetric node-silence\nthreshold > 1d\nactions stale"),
	                         NULL);
	akm_mon_event ev = asr_event(AKM_MON_ASR_CREATED, "A1", 1, 0, 10000, 7);
	akm_monitor_feed(m, &ev);
	feed(m, AKM_MON_CHECKIN, "n1", 10000, 8);
	akm_monitor_tick(m, 13600);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_tick(m, 13601);
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_str_eq(a.rule, "age");
	ck_assert_int_eq(a.action, AKM_ACT_REKEY);
	ck_assert_mem_eq(a.subject, "A1", 2);
	ck_assert_uint_eq(a.value, 3601);
	ck_assert_uint_eq(a.nseqs, 1);
	ck_assert_uint_eq(a.seqs[0], 7);
	ck_assert_uint_eq(a.nevents, 0);
	/* the rekey has not happened yet: again after the cool-down */
	akm_monitor_tick(m, 13601 + 599);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_tick(m, 13601 + 600);
	ck_assert_uint_eq(drained(m, NULL), 1);
	/* rekeyed: generation 2, the age starts again and the alarm clears */
	ev = asr_event(AKM_MON_ASR_REKEYED, "A1", 2, 0, 14300, 9);
	akm_monitor_feed(m, &ev);
	/* an older generation's record arriving late changes nothing */
	ev = asr_event(AKM_MON_ASR_REKEYED, "A1", 1, 0, 14301, 10);
	akm_monitor_feed(m, &ev);
	akm_monitor_tick(m, 14400);
	ck_assert_uint_eq(drained(m, NULL), 0);
	/* messages: counted at the current generation only */
	ev = asr_event(AKM_MON_ASR_SENT, "A1", 1, 5000, 14401, 11);
	akm_monitor_feed(m, &ev);
	ev = asr_event(AKM_MON_ASR_SENT, "A1", 2, 999, 14401, 12);
	akm_monitor_feed(m, &ev);
	akm_monitor_tick(m, 14402);
	ck_assert_uint_eq(drained(m, NULL), 0);
	ev = asr_event(AKM_MON_ASR_SENT, "A1", 2, 1, 14403, 13);
	akm_monitor_feed(m, &ev);
	akm_monitor_tick(m, 14404);
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_str_eq(a.rule, "msgs");
	ck_assert_uint_eq(a.value, 1000);
	ck_assert_uint_eq(a.seqs[0], 13);
	/* silence: a day after the last check-in (the ASR rekeyed meanwhile) */
	ev = asr_event(AKM_MON_ASR_REKEYED, "A1", 3, 0, 106000, 16);
	akm_monitor_feed(m, &ev);
	feed(m, AKM_MON_CHECKIN, "n1", 20000, 14);
	feed(m, AKM_MON_CHECKIN, "n1", 15000, 15); /* older: ignored */
	akm_monitor_tick(m, 20000 + 86400);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_tick(m, 20000 + 86401);
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_str_eq(a.rule, "stale");
	ck_assert_int_eq(a.action, AKM_ACT_STALE);
	ck_assert_uint_eq(a.seqs[0], 14);
	/* stale is not destructive: the node is not quarantined */
	ck_assert(!akm_monitor_is_quarantined(m, (const uint8_t *)"n1", 2));
	akm_monitor_free(m);
}
END_TEST

/* ---- quarantine ---- */

START_TEST(test_quarantine_and_reinstate)
{
	akm_monitor *m = monitor(RULE("q", "scope node\nmetric forged\nthreshold >= 1\nwindow 1m\n"
	                                   "actions alert quarantine\ncool-down 10s")
	                         RULE("e", "scope node\nmetric clone\nthreshold >= 1\nwindow 1m\nactions evict"),
	                         NULL);
	/* marked by the caller: destructive actions are suppressed, alerts not */
	ck_assert(akm_monitor_quarantine(m, (const uint8_t *)"n1", 2));
	feed(m, AKM_MON_FORGED, "n1", 100, 1);
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_int_eq(a.action, AKM_ACT_ALERT);
	feed(m, AKM_MON_CLONE, "n1", 100, 2);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.suppressed, 2);
	/* marked by the engine: the first destructive action marks it */
	feed(m, AKM_MON_FORGED, "n2", 100, 3);
	ck_assert_uint_eq(drained(m, NULL), 2);
	ck_assert(akm_monitor_is_quarantined(m, (const uint8_t *)"n2", 2));
	feed(m, AKM_MON_CLONE, "n2", 101, 4); /* another rule: no evict for a quarantined node */
	ck_assert_uint_eq(drained(m, NULL), 0);
	feed(m, AKM_MON_FORGED, "n2", 120, 5); /* past the cool-down: the alert only */
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_int_eq(a.action, AKM_ACT_ALERT);
	/* reinstated: clean counters and alarms; destructive actions again */
	ck_assert(akm_monitor_reinstate(m, (const uint8_t *)"n2", 2));
	ck_assert(!akm_monitor_is_quarantined(m, (const uint8_t *)"n2", 2));
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.quarantined, 1);
	feed(m, AKM_MON_CLONE, "n2", 121, 6);
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_int_eq(a.action, AKM_ACT_EVICT);
	ck_assert_uint_eq(a.nseqs, 1); /* the events before the reinstatement are forgotten */
	ck_assert_uint_eq(a.seqs[0], 6);
	/* unknown or bad IDs */
	ck_assert(!akm_monitor_reinstate(m, (const uint8_t *)"zz", 2));
	ck_assert(!akm_monitor_reinstate(m, (const uint8_t *)"", 0));
	ck_assert(!akm_monitor_quarantine(m, (const uint8_t *)"", 0));
	ck_assert(!akm_monitor_is_quarantined(m, (const uint8_t *)"zz", 2));
	akm_monitor_free(m);
}
END_TEST

/* ---- reload ---- */

START_TEST(test_replace_keeps_counters)
{
	akm_monitor *m = monitor(RULE("f", "scope node\nmetric forged\nthreshold >= 5\nwindow 1m\nactions alert")
	                         RULE("g", "scope asr\nmetric asr-age\nthreshold > 1h\nactions alert"),
	                         NULL);
	for (int i = 0; i < 4; i++)
		feed(m, AKM_MON_FORGED, "n1", 100 + (uint64_t)i, 1 + (uint64_t)i);
	akm_mon_event ev = asr_event(AKM_MON_ASR_CREATED, "A1", 1, 0, 100, 9);
	akm_monitor_feed(m, &ev);
	/* the same rule, a lower threshold and a longer window, and a new one
	 * on a metric nothing counted before */
	akm_policy p2;
	char err[256];
	const char *t2 = RULE("f", "scope node\nmetric forged\nthreshold >= 6\nwindow 2m\nactions alert")
	        RULE("r", "scope node\nmetric replay\nthreshold >= 1\nwindow 1m\nactions alert")
	        RULE("g", "scope asr\nmetric asr-age\nthreshold > 1h\nactions alert");
	ck_assert_int_eq(akm_policy_parse(t2, strlen(t2), "p2", &p2, err, sizeof err), AKM_POLICY_OK);
	ck_assert(akm_monitor_replace(m, &p2));
	feed(m, AKM_MON_FORGED, "n1", 104, 5);
	ck_assert_uint_eq(drained(m, NULL), 0); /* 5 of 6 */
	feed(m, AKM_MON_FORGED, "n1", 105, 6);
	akm_mon_action a;
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_uint_eq(a.value, 6);
	ck_assert_uint_eq(a.nseqs, 6);
	ck_assert_uint_eq(a.seqs[0], 1);
	feed(m, AKM_MON_REPLAY, "n1", 106, 7);
	ck_assert_uint_eq(drained(m, NULL), 1);
	/* gauges survive a reload */
	akm_monitor_tick(m, 100 + 3601);
	ck_assert_uint_eq(drained(m, &a), 1);
	ck_assert_str_eq(a.rule, "g");
	/* alarms are kept with their rule: no second firing */
	ck_assert(akm_monitor_replace(m, &p2));
	feed(m, AKM_MON_FORGED, "n1", 107, 8);
	akm_monitor_tick(m, 100 + 3602);
	ck_assert_uint_eq(drained(m, NULL), 0);
	/* a policy that counts nothing any more, then counting again */
	akm_policy empty;
	ck_assert_int_eq(akm_policy_parse("", 0, "p3", &empty, err, sizeof err), AKM_POLICY_OK);
	ck_assert(akm_monitor_replace(m, &empty));
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.counted, 0);
	ck_assert(akm_monitor_replace(m, &p2));
	feed(m, AKM_MON_FORGED, "n1", 108, 9);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_free(m);
}
END_TEST

/* ---- memory ---- */

START_TEST(test_flood_of_subjects_is_bounded)
{
	akm_monitor_limits lim = {1000, 200, 64};
	akm_monitor *m = monitor(RULE("f", "scope node\nmetric forged\nthreshold >= 3\nwindow 1m\n"
	                                   "actions alert quarantine")
	                         RULE("s", "scope node\nmetric node-silence\nthreshold > 1h\nactions alert"),
	                         &lim);
	akm_monitor_stats st0, st;
	akm_monitor_get_stats(m, &st0);
	/* one node quarantined, one in alarm: both survive the flood */
	for (int i = 0; i < 3; i++)
		feed(m, AKM_MON_FORGED, "victim", 100, 1);
	ck_assert_uint_eq(drained(m, NULL), 2);
	char id[32];
	for (uint32_t i = 0; i < 200000; i++) {
		snprintf(id, sizeof id, "n%u", i);
		feed(m, i % 2 ? AKM_MON_FORGED : AKM_MON_CHECKIN, id, 200 + i / 1000, i + 2);
	}
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_le(st.subjects, 1000);
	ck_assert_uint_le(st.counted, 200);
	ck_assert_uint_eq(st.bytes, st0.bytes); /* nothing allocated after creation */
	ck_assert_uint_gt(st.evicted, 0);
	ck_assert(akm_monitor_is_quarantined(m, (const uint8_t *)"victim", 6));
	/* the latest subjects are tracked and count */
	feed(m, AKM_MON_FORGED, "n199999", 399, 1);
	feed(m, AKM_MON_FORGED, "n199999", 399, 1);
	ck_assert_uint_eq(drained(m, NULL), 2);
	/* the action queue is bounded too: extra actions are counted, dropped */
	for (uint32_t i = 0; i < 100; i++) {
		snprintf(id, sizeof id, "q%u", i);
		for (int k = 0; k < 3; k++)
			feed(m, AKM_MON_FORGED, id, 500, 1);
	}
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(drained(m, NULL), 64);
	ck_assert_uint_eq(st.dropped, 200 - 64);
	akm_monitor_tick(m, 100000);
	akm_monitor_free(m);
}
END_TEST

START_TEST(test_table_full_of_pinned_subjects)
{
	akm_monitor_limits lim = {4, 4, 8};
	akm_monitor *m = monitor(RULE("f", "scope node\nmetric forged\nthreshold >= 1\nwindow 1m\nactions quarantine"),
	                         &lim);
	char id[8];
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof id, "p%d", i);
		feed(m, AKM_MON_FORGED, id, 100, 1);
	}
	ck_assert_uint_eq(drained(m, NULL), 4);
	/* every subject quarantined: a fifth cannot be tracked, and says so */
	feed(m, AKM_MON_FORGED, "p4", 100, 1);
	ck_assert_uint_eq(drained(m, NULL), 0);
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.untracked, 1);
	ck_assert(!akm_monitor_quarantine(m, (const uint8_t *)"p5", 2));
	/* reinstating one makes room */
	ck_assert(akm_monitor_reinstate(m, (const uint8_t *)"p0", 2));
	akm_monitor_tick(m, 1000);
	feed(m, AKM_MON_FORGED, "p4", 1000, 1);
	ck_assert_uint_eq(drained(m, NULL), 1);
	/* bad events are ignored */
	akm_mon_event ev = node_event(AKM_MON_BREACHES, "x", 1, 1);
	akm_monitor_feed(m, &ev);
	ev.kind = AKM_MON_NONE;
	akm_monitor_feed(m, &ev);
	ev.kind = AKM_MON_FORGED;
	ev.node_len = 33;
	akm_monitor_feed(m, &ev);
	akm_monitor_get_stats(m, &st);
	ck_assert_uint_eq(st.events, 6);
	akm_monitor_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-monitor");
	TCase *tc = tcase_create("monitor");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_audit_mapping);
	tcase_add_test(tc, test_fires_on_the_triggering_event);
	tcase_add_test(tc, test_seqs_bounded);
	tcase_add_test(tc, test_datapoints_to_alarm_and_clear);
	tcase_add_test(tc, test_clear_needs_consecutive);
	tcase_add_test(tc, test_cooldown);
	tcase_add_test(tc, test_sliding_window_edges);
	tcase_add_test(tc, test_station_and_asr_scopes);
	tcase_add_test(tc, test_gauges);
	tcase_add_test(tc, test_quarantine_and_reinstate);
	tcase_add_test(tc, test_replace_keeps_counters);
	tcase_add_test(tc, test_flood_of_subjects_is_bounded);
	tcase_add_test(tc, test_table_full_of_pinned_subjects);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The automatic response (issue 13, "Must show" 1-3 and the policy's
 * reload), with the real akm-nmmd on 127.0.0.1, akm-nmm, and nodes that
 * each have their own SoftHSM2 token reached through akm-pkcs11.so:
 *
 *   - forged messages: node-A's messages, tampered on the way, are refused
 *     by node-B and node-C, which report them (B at check-in, C with
 *     akm-node report); the station
 *     attributes them to node-A (the sender leaf of ASR asr1), and past the
 *     threshold the policy quarantines node-A and evicts it from asr1; B and
 *     C receive the new generation at check-in and talk; A's check-in is
 *     refused and its messages are refused by B; the trail explains each
 *     step (node-report records, then policy-alert, -quarantine, -evict
 *     naming the rule and the node-report records' seqs); only
 *     `akm-nmm reinstate` brings A back (approve is refused), and then it
 *     checks in again;
 *   - a cloned node: node-B's PR activating from another hardware value is
 *     quarantined (and its own check-in refused after);
 *   - a malformed and an unsafe policy on SIGHUP: refused with the line
 *     named in the log and in a policy-refused record; the old policy still
 *     acts (the clone above is caught after the refusals);
 *   - reactivate: a node that reports three wrong PINs must activate
 *     again: its check-ins are answered "activation required" until its
 *     activate succeeds;
 *   - a restart of the service between two reports: the trail replayed
 *     at start still counts the first (the forged case above);
 *   - scheduled rekeys: by message count (asr-messages) and by age
 *     (asr-age), each a policy-rekey record and a new generation the
 *     members receive at check-in; then three refusals of one tampered
 *     message reported as one aggregate of three, and nothing again at
 *     the next check-in (the cursor moved).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asr-test.h"
#include "bench/act-fleet.h"

static act_service sv;
static char policy[PATH_MAX + 16];

static void write_policy(const char *text)
{
	path_in(policy, sizeof policy, "policy.conf");
	write_file(policy, text, strlen(text));
}

static void service_start(void)
{
	const char *nmmd = getenv("AKM_TEST_NMMD");
	ck_assert_msg(nmmd != NULL, "AKM_TEST_NMMD names no akm-nmmd");
	const char *extra[] = {"--policy", policy, NULL};
	char err[512];
	memset(&sv, 0, sizeof sv);
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	ck_assert_msg(act_service_start(&sv, nmmd, env.module_path, STATION, pin_file, extra, err, sizeof err) == 0, "%s",
	              err);
}

/* The station's trail, one record a line ("seq time actor action result rid detail"). */
static char *trail(void)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "audit", NULL), 0, out, "audit");
	return out;
}

/* The first line of the trail with `action` (a whole word) and containing
 * `text` (NULL: any), after record `after`; its seq into *seq.  malloc'd
 * line or NULL. */
static char *find_record(const char *text_all, const char *action, const char *text, long after, long *seq)
{
	char word[96];
	snprintf(word, sizeof word, " %s ", action);
	for (const char *p = text_all; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char *line = strndup(p, n);
		long s = strtol(line, NULL, 10);
		if (s > after && strstr(line, word) && (text == NULL || strstr(line, text))) {
			if (seq)
				*seq = s;
			return line;
		}
		free(line);
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

/* Waits (up to `seconds`) for such a record; fails with the trail and the
 * service's log when none comes. */
static char *wait_record(const char *action, const char *text, long after, long *seq, int seconds)
{
	double until = now_s() + seconds;
	for (;;) {
		char *t = trail();
		char *line = find_record(t, action, text, after, seq);
		if (line != NULL) {
			free(t);
			return line;
		}
		if (now_s() > until) {
			read_service_log();
			size_t tl = strlen(t), ll = strlen(service_log);
			ck_abort_msg("no %s record%s%s within %d s; the trail's end:\n%s\nakm-nmmd's log's end:\n%s", action,
			             text ? " with " : "", text ? text : "", seconds, t + (tl > 2500 ? tl - 2500 : 0),
			             service_log + (ll > 1000 ? ll - 1000 : 0));
		}
		free(t);
		usleep(200000);
	}
}

static int count_lines(const char *action, const char *text)
{
	char *t = trail();
	int n = 0;
	long after = 0, seq;
	char *line;
	while ((line = find_record(t, action, text, after, &seq)) != NULL) {
		n++;
		after = seq;
		free(line);
	}
	free(t);
	return n;
}

/* The PR ID of node `name`, in hex. */
static void pr_of(const char *name, char *hex, size_t cap)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "show", name, "--json", NULL), 0, out, "show");
	const char *obj = json_find_node(out, name);
	ck_assert(obj != NULL && json_member(obj, "pr_id", hex, cap));
	free(out);
}

/* node i's state as the station has it */
static void expect_state(const char *name, const char *state)
{
	char *out = NULL, v[64];
	EXPECT_RC(nmm(&out, "show", name, "--json", NULL), 0, out, "show");
	const char *obj = json_find_node(out, name);
	ck_assert_msg(obj != NULL && json_member(obj, "state", v, sizeof v) && strcmp(v, state) == 0, "%s is not %s",
	              name, state);
	free(out);
}

/* A copy of usb/FROM with its last byte (the tag's) changed, as usb/TO. */
static void tamper(const char *from, const char *to)
{
	char a[PATH_MAX + 64], b[PATH_MAX + 64];
	file_in(a, sizeof a, from);
	file_in(b, sizeof b, to);
	size_t len;
	char *buf = read_all(a, &len);
	buf[len - 1] ^= 0x01;
	write_file(b, buf, len);
	free(buf);
}

/* Whether every seq of `seqs` (a "events=1,2,3" list) is among want[]. */
static void expect_events(const char *line, const long *want, int nwant)
{
	const char *ev = strstr(line, "events=");
	ck_assert_msg(ev != NULL, "no events= in: %s", line);
	for (int k = 0; k < nwant; k++) {
		char num[32];
		snprintf(num, sizeof num, "%ld", want[k]);
		bool found = false;
		for (const char *p = ev + 7; *p && *p != ' ' && *p != ';';) {
			size_t n = strspn(p, "0123456789");
			found |= n == strlen(num) && strncmp(p, num, n) == 0;
			p += n;
			if (*p == ',')
				p++;
			else
				break;
		}
		ck_assert_msg(found, "record %ld is not among the events of: %s", want[k], line);
	}
}

static const char forged_policy[] =
	"# test: forged messages from one node\n"
	"rule forged\n"
	"    scope node\n"
	"    metric forged\n"
	"    threshold >= 2\n"
	"    window 10m\n"
	"    actions alert, quarantine, evict\n"
	"    cool-down 10m\n";

/* Nodes A-C provisioned, ASR asr1 among them, akm-nmmd started on the
 * policy `text`, and each member enrolled at its first check-in. */
static void asr1_of_three(const char *text)
{
	provision(0, 3);
	char *out = NULL;
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "node-A,node-B,node-C", "--out", usb, NULL), 0, out,
	          "asr create");
	free(out);
	write_policy(text);
	service_start();
	free(wait_record("policy-load", "rules=1", 0, NULL, 5));
	for (int i = 0; i < 3; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "asr_enrolled", "1");
		free(out);
	}
}

START_TEST(forged_messages_quarantine_evict_reinstate)
{
	char *out = NULL, *line;
	asr1_of_three(forged_policy);
	int abc[] = {0, 1, 2};
	all_talk(abc, 3, "before");

	/* A's messages, tampered on the way: B and C refuse them ("bad tag",
	 * sender = A's leaf) and report them at their check-in. */
	seal(0, "from A, 1", "a1.msg");
	seal(0, "from A, 2", "a2.msg");
	tamper("a1.msg", "a1-forged.msg");
	tamper("a2.msg", "a2-forged.msg");
	expect_refused(1, "a1-forged.msg", 2, "altered");
	expect_refused(2, "a2-forged.msg", 2, "altered");
	char pra[80];
	pr_of("node-A", pra, sizeof pra);
	char sender[128];
	snprintf(sender, sizeof sender, "sender=%s; sender-node=node-A", pra);
	out = checkin(1, sv.addr, 0);
	expect_json(out, "events_reported", "1");
	free(out);
	long r1, r2, q, e, a;
	line = wait_record("node-report", "event=asr-forged", 0, &r1, 5);
	ck_assert_msg(strstr(line, sender) && strstr(line, "node=node-B") && strstr(line, "count=1"),
	              "the report is not attributed to A: %s", line);
	free(line);
	/* one report: below the threshold, nothing done */
	usleep(1500000);
	ck_assert_int_eq(count_lines("policy-quarantine", NULL), 0);
	expect_state("node-A", "active");
	/* A restart: the service replays the trail over the rule's window,
	 * so the first report still counts. */
	ck_assert_int_eq(act_service_stop(&sv, SIGTERM), 0);
	service_start();
	long reload;
	free(wait_record("policy-load", "rules=1", r1, &reload, 5));
	read_service_log();
	ck_assert_msg(strstr(service_log, "trail record(s) replayed"), "%s", service_log);
	/* C's registry's record goes with a report (akm-node report carries
	 * them after the operator's event, as a check-in does) */
	EXPECT_RC(member(&out, 2, "report", "--nmm", sv.addr, "--event", "other", "--detail", "odd traffic", "--json",
	                 NULL),
	          0, out, "report");
	expect_json(out, "events_reported", "1");
	free(out);
	line = wait_record("node-report", "event=asr-forged", r1, &r2, 5);
	ck_assert_msg(strstr(line, sender) && strstr(line, "node=node-C"), "%s", line);
	free(line);

	/* The policy fires: alert, evict, quarantine (quarantine last: see
	 * watch.c), each naming the rule and both reports. */
	long want[] = {r1, r2};
	line = wait_record("policy-alert", "rule=forged metric=forged value=2 threshold=>=2", r2, &a, 5);
	expect_events(line, want, 2);
	free(line);
	line = wait_record("policy-quarantine", "rule=forged", r2, &q, 5);
	expect_events(line, want, 2);
	/* the relationship is A's PR, and the detail begins with the rule */
	char lead[256];
	snprintf(lead, sizeof lead, "%s rule=forged metric=forged value=2 threshold=>=2 events=", pra);
	ck_assert_msg(strstr(line, lead), "not \"%s\": %s", lead, line);
	ck_assert_msg(strstr(line, "node=node-A") && strstr(line, "state active -> suspended"), "%s", line);
	free(line);
	line = wait_record("policy-evict", "rule=forged", r2, &e, 5);
	expect_events(line, want, 2);
	ck_assert_msg(strstr(line, "node=node-A") && strstr(line, "removed from asr1 gen 2"), "%s", line);
	free(line);
	ck_assert(a < e && e < q);
	/* the module's own record of the removal, before the evict record */
	line = wait_record("asr-remove", NULL, a, NULL, 1);
	free(line);
	expect_state("node-A", "suspended");
	/* a quarantined node gets no package, from akm-nmm either */
	EXPECT_RC(nmm(&out, "asr", "package", "asr1", "--node", "node-A", "--out", usb, NULL), 2, out, "asr package");
	ck_assert_msg(strstr(out, "node-A is not active"), "%s", out);
	free(out);
	/* once: a second check-in's report of the same events changes nothing */
	ck_assert_int_eq(count_lines("policy-quarantine", NULL), 1);

	/* B and C get generation 2 at check-in and talk; A cannot check in,
	 * and its messages (generation 1) are refused by B. */
	for (int i = 1; i < 3; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "pending", "1");
		expect_json(out, "asr_enrolled", "1");
		free(out);
		long step;
		ck_assert_int_eq(member_epoch(i, &step), 2);
	}
	int bc[] = {1, 2};
	all_talk(bc, 2, "after");
	out = checkin(0, sv.addr, 2);
	ck_assert_msg(strstr(out, "refused"), "%s", out);
	free(out);
	seal(0, "A after its eviction", "a3.msg");
	expect_refused(1, "a3.msg", 2, "older");
	line = wait_record("act-refused", "reason=state; state=suspended", e, NULL, 2);
	free(line);

	/* Only reinstate brings A back: approve is refused, reinstate works,
	 * and A checks in again (a member of no ASR now). */
	EXPECT_RC(nmm(&out, "approve", "node-A", NULL), 2, out, "approve a quarantined node");
	free(out);
	expect_state("node-A", "suspended");
	EXPECT_RC(nmm(&out, "reinstate", "node-B", NULL), 2, out, "reinstate an active node");
	ck_assert_msg(strstr(out, "not quarantined"), "%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "reinstate", "node-A", "--reason", "tampering found on the link, fixed", NULL), 0, out,
	          "reinstate");
	free(out);
	expect_state("node-A", "active");
	line = wait_record("reinstate", "reason=tampering found on the link", e, NULL, 1);
	free(line);
	out = checkin(0, sv.addr, 0);
	expect_json(out, "pending", "0");
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
	act_service_stop(&sv, SIGTERM);
}
END_TEST

static const char clone_policy[] =
	"rule clone\n"
	"    scope node\n"
	"    metric clone\n"
	"    threshold >= 1\n"
	"    window 1h\n"
	"    actions quarantine\n"
	"rule pins\n"
	"    scope node\n"
	"    metric wrong-pin\n"
	"    threshold >= 3\n"
	"    window 10m\n"
	"    actions reactivate\n";

/* A policy that watches something else: the forged messages are recorded
 * and nothing is done, as when akm-nmmd stopped (or crashed) between the
 * reports' records and its actions. */
static const char unrelated_policy[] =
	"rule clone\n"
	"    scope node\n"
	"    metric clone\n"
	"    threshold >= 1\n"
	"    window 10m\n"
	"    actions alert\n";

START_TEST(restart_finishes_actions_not_in_the_trail)
{
	char *out = NULL, *line;
	asr1_of_three(unrelated_policy);
	seal(0, "from A", "a1.msg");
	tamper("a1.msg", "a1-forged.msg");
	long r1 = 0, r2 = 0;
	for (int i = 1; i < 3; i++) {
		expect_refused(i, "a1-forged.msg", 2, "altered");
		out = checkin(i, sv.addr, 0);
		free(out);
		free(wait_record("node-report", "event=asr-forged", r1, i == 1 ? &r1 : &r2, 5));
	}
	usleep(1200000);
	ck_assert_int_eq(count_lines("policy-quarantine", NULL), 0);
	ck_assert_int_eq(act_service_stop(&sv, SIGTERM), 0);

	/* Started with the forged-messages policy: the replay of its window
	 * fires the rule, and what the trail does not show done is done now,
	 * quarantine after evict. */
	write_policy(forged_policy);
	service_start();
	long want[] = {r1, r2}, a, e, q;
	line = wait_record("policy-alert", "rule=forged metric=forged value=2", r2, &a, 5);
	expect_events(line, want, 2);
	free(line);
	line = wait_record("policy-evict", "rule=forged", r2, &e, 5);
	ck_assert_msg(strstr(line, "removed from asr1 gen 2"), "%s", line);
	free(line);
	line = wait_record("policy-quarantine", "rule=forged", r2, &q, 5);
	expect_events(line, want, 2);
	free(line);
	ck_assert(e < q);
	expect_state("node-A", "suspended");
	read_service_log();
	ck_assert_msg(strstr(service_log, "fired by the replay, not done yet"), "%s", service_log);
	ck_assert_int_eq(act_service_stop(&sv, SIGTERM), 0);

	/* A second restart replays the same window and finds it all done. */
	service_start();
	free(wait_record("policy-load", "rules=1", q, NULL, 5));
	usleep(1500000);
	ck_assert_int_eq(count_lines("policy-alert", NULL), 1);
	ck_assert_int_eq(count_lines("policy-evict", NULL), 1);
	ck_assert_int_eq(count_lines("policy-quarantine", NULL), 1);
	act_service_stop(&sv, SIGTERM);
}
END_TEST

START_TEST(clone_caught_and_policy_reload_refused)
{
	provision(0, 2);
	char *out = NULL, *line;
	write_policy(clone_policy);
	service_start();
	long loaded;
	free(wait_record("policy-load", "rules=2", 0, &loaded, 5));
	for (int i = 0; i < 2; i++)
		free(checkin(i, sv.addr, 0));

	/* A malformed policy (line 4), then an unsafe one: both refused, the
	 * line named in the log and the record; the old one stays. */
	write_policy("rule clone\n    scope node\n    metric clone\n    metric-typo forged\n");
	ck_assert_int_eq(kill(sv.pid, SIGHUP), 0);
	line = wait_record("policy-refused", "policy.conf:4:", loaded, NULL, 5);
	free(line);
	write_policy("rule too-often\n    scope asr\n    metric asr-age\n    threshold >= 1s\n    actions rekey\n");
	ck_assert_int_eq(kill(sv.pid, SIGHUP), 0);
	line = wait_record("policy-refused", "policy.conf:", loaded, NULL, 5);
	free(line);
	ck_assert_int_eq(count_lines("policy-refused", NULL), 2);
	ck_assert_int_eq(count_lines("policy-load", NULL), 1);
	read_service_log();
	ck_assert_msg(strstr(service_log, "policy refused, the previous one stays in force: ") &&
	                  strstr(service_log, "policy.conf:4: "),
	              "%s", service_log);

	/* node-B's PR from other hardware: a clone, quarantined by the old
	 * policy; its own check-in is refused after. */
	EXPECT_RC(member(&out, 1, "activate", "--nmm", sv.addr, "--hw-id", "cloned-hardware", NULL), 2, out, "clone");
	free(out);
	long c;
	free(wait_record("clone-signal", "reason=hardware", 0, &c, 5));
	line = wait_record("policy-quarantine", "rule=clone metric=clone", c, NULL, 5);
	ck_assert_msg(strstr(line, "node=node-B") && strstr(line, "state active -> suspended"), "%s", line);
	free(line);
	expect_state("node-B", "suspended");
	out = checkin(1, sv.addr, 2);
	free(out);
	expect_state("node-A", "active");
	free(checkin(0, sv.addr, 0));

	/* node-A reports three wrong PINs: the policy demands that it
	 * activate again; its check-ins are answered "activation required"
	 * until it does, and only then. */
	EXPECT_RC(member(&out, 0, "report", "--nmm", sv.addr, "--event", "wrong-pin", "--count", "3", NULL), 0, out,
	          "report");
	free(out);
	line = wait_record("policy-reactivate", "rule=pins metric=wrong-pin value=3", 0, NULL, 5);
	ck_assert_msg(strstr(line, "node=node-A") && strstr(line, "activation required"), "%s", line);
	free(line);
	double until = now_s() + 5;
	int rc;
	do {
		rc = member(&out, 0, "checkin", "--nmm", sv.addr, NULL);
		if (rc == 0)
			free(out);
	} while (rc == 0 && now_s() < until && (usleep(200000), true));
	ck_assert_msg(rc == 2 && strstr(out, "activation required"), "check-in after reactivate: exit %d:\n%s", rc, out);
	free(out);
	free(wait_record("act-refused", "reason=reactivate; op=checkin", 0, NULL, 2));
	expect_state("node-A", "active");
	EXPECT_RC(member(&out, 0, "activate", "--nmm", sv.addr, NULL), 0, out, "activate again");
	free(out);
	/* the service follows its own activate record within 100 ms */
	usleep(300000);
	free(checkin(0, sv.addr, 0));
	act_service_stop(&sv, SIGTERM);
}
END_TEST

static const char rekey_policy[] =
	"rule by-count\n"
	"    scope asr\n"
	"    metric asr-messages\n"
	"    threshold >= 2000\n"
	"    actions rekey\n"
	"rule by-age\n"
	"    scope asr\n"
	"    metric asr-age\n"
	"    threshold >= 20s\n"
	"    actions rekey\n";

START_TEST(scheduled_rekeys)
{
	provision(0, 2);
	char *out = NULL, *line;
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "node-A,node-B", "--out", usb, NULL), 0, out,
	          "asr create");
	free(out);
	write_policy(rekey_policy);
	service_start();
	double t0 = now_s();
	for (int i = 0; i < 2; i++)
		free(checkin(i, sv.addr, 0));
	/* Each seals (a block of 1,024 numbers reserved: the count a node
	 * reports is an upper bound) and reports at its check-in: past 2,000,
	 * the ASR is rekeyed. */
	seal(0, "one from A", "c1.msg");
	seal(1, "one from B", "c2.msg");
	free(checkin(0, sv.addr, 0));
	ck_assert_int_eq(count_lines("policy-rekey", NULL), 0);
	free(checkin(1, sv.addr, 0));
	long k1, k2;
	line = wait_record("policy-rekey", "rule=by-count metric=asr-messages", 0, &k1, 5);
	ck_assert_msg(strstr(line, "asr1 gen 1 -> 2"), "%s", line);
	free(line);
	ck_assert_msg(now_s() - t0 < 20, "the count came too late to tell it from the age");
	for (int i = 0; i < 2; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "asr_enrolled", "1");
		free(out);
	}
	/* 20 s after generation 2 began: by age. */
	line = wait_record("policy-rekey", "rule=by-age metric=asr-age", k1, &k2, 30);
	ck_assert_msg(strstr(line, "asr1 gen 2 -> 3"), "%s", line);
	free(line);
	for (int i = 0; i < 2; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "asr_enrolled", "1");
		free(out);
		long step;
		ck_assert_int_eq(member_epoch(i, &step), 3);
	}
	int ab[] = {0, 1};
	all_talk(ab, 2, "gen3");

	/* Aggregation and the cursor: A refuses B's tampered message three
	 * times; its next check-in reports one aggregate of three (sender B,
	 * generation 3), the one after reports nothing. */
	seal(1, "from B", "b.msg");
	tamper("b.msg", "b-forged.msg");
	for (int k = 0; k < 3; k++)
		expect_refused(0, "b-forged.msg", 2, "altered");
	out = checkin(0, sv.addr, 0);
	expect_json(out, "events_reported", "3");
	free(out);
	char prb[80], want[160];
	pr_of("node-B", prb, sizeof prb);
	snprintf(want, sizeof want, "event=asr-forged; count=3;");
	line = wait_record("node-report", want, k2, NULL, 5);
	snprintf(want, sizeof want, "epoch=3; leaf=1; sender=%s; sender-node=node-B", prb);
	ck_assert_msg(strstr(line, want) && strstr(line, "node=node-A"), "%s", line);
	free(line);
	ck_assert_int_eq(count_lines("node-report", "event=asr-forged"), 1);
	out = checkin(0, sv.addr, 0);
	expect_json(out, "events_reported", "0");
	free(out);
	ck_assert_int_eq(count_lines("node-report", "event=asr-forged"), 1);
	act_service_stop(&sv, SIGTERM);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, forged_messages_quarantine_evict_reinstate);
	tcase_add_test(tc, restart_finishes_actions_not_in_the_trail);
	tcase_add_test(tc, clone_caught_and_policy_reload_refused);
	tcase_add_test(tc, scheduled_rekeys);
}

int main(void)
{
	return nmm_test_main("test-respond", "respond", 900, true, add_tests);
}

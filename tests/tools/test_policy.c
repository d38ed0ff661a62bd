/*
 * akm-nmm policy test (docs/akm-nmm.md, docs/policy.md) on a real station:
 * two nodes with their own tokens, a real akm-nmmd on 127.0.0.1, a trail
 * holding a clone signal (an activation with another hardware value), a
 * node's report of tampering, a wrong PIN at the station and a forged
 * application record; the dry run names what would have fired, the rule
 * and the records that fired it, ignores the forged record, and changes
 * nothing.  A malformed or unsafe policy is refused with its line named,
 * before any login.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nmm-test.h"
#include "bench/act-fleet.h"
#include "lib/hex.h"
#include "shared/p11.h"

static const char *nmmd_path;
static act_service sv;
static char hw[2][80];

static void teardown(void)
{
	if (sv.pid > 0)
		act_service_stop(&sv, SIGKILL);
	nmm_test_teardown();
}

static void provision_two(void)
{
	char *out = NULL, batch[PATH_MAX + 16];
	static const char *const names[2] = {"node-A", "node-B"};
	EXPECT_RC(nmm(&out, "init", "--site", "Policy", "--location", "Lab", NULL), 0, out, "init");
	free(out);
	char text[512] = "";
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(akm_testenv_add_token(&env, names[i]), 0);
		node_hw(names[i], hw[i], sizeof hw[i]);
		size_t n = strlen(text);
		snprintf(text + n, sizeof text - n, "%s %s\n", names[i], hw[i]);
	}
	path_in(batch, sizeof batch, "batch.txt");
	write_file(batch, text, strlen(text));
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, NULL), 0, out, "provision");
	free(out);
	for (int i = 0; i < 2; i++) {
		EXPECT_RC(nmm(&out, "write-se", "--node", names[i], "--se-module", env.softhsm_path, "--se-token", names[i],
		              "--se-pin-file", pin_file, NULL),
		          0, out, "write-se");
		free(out);
	}
}

/* The sequence number of the first record of `action` in node name's trail. */
static unsigned long record_seq(const char *name, const char *action)
{
	char *out = NULL, pat[128];
	EXPECT_RC(nmm(&out, "audit", "--node", name, "--json", NULL), 0, out, "audit --json");
	snprintf(pat, sizeof pat, "\"action\":\"%s\"", action);
	const char *a = strstr(out, pat);
	ck_assert_msg(a != NULL, "no %s record for %s:\n%s", action, name, out);
	const char *s = a;
	while (s > out && strncmp(s, "{\"seq\":", 7) != 0)
		s--;
	unsigned long seq = strtoul(s + 7, NULL, 10);
	free(out);
	return seq;
}

/* The line of text holding `needle`, copied into line. */
static bool line_with(const char *text, const char *needle, char *line, size_t size)
{
	const char *p = strstr(text, needle);
	if (p == NULL)
		return false;
	while (p > text && p[-1] != '\n')
		p--;
	size_t n = strcspn(p, "\n");
	snprintf(line, size, "%.*s", (int)(n < size ? n : size - 1), p);
	return true;
}

static const char policy_text[] = "# the test's policy\n"
                                  "rule clone\n"
                                  "  scope node\n"
                                  "  metric clone\n"
                                  "  threshold >= 1\n"
                                  "  window 1h\n"
                                  "  actions alert, quarantine\n"
                                  "rule tampering\n"
                                  "  scope node\n"
                                  "  metric tamper\n"
                                  "  threshold >= 2\n"
                                  "  window 1h\n"
                                  "  actions alert\n"
                                  "rule pins\n"
                                  "  scope station\n"
                                  "  metric wrong-pin\n"
                                  "  threshold >= 1\n"
                                  "  window 1d\n"
                                  "  actions alert\n";

START_TEST(dry_run_on_a_real_trail)
{
	provision_two();
	char err[512], *out = NULL;
	static const char *const quick[] = {"--fail-limit", "100", NULL};
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	ck_assert_msg(act_service_start(&sv, nmmd_path, env.module_path, STATION, pin_file, quick, err, sizeof err) == 0,
	              "%s", err);
	/* node-A activates and reports tampering twice; node-B's PR is proven
	 * from another hardware value: a clone signal. */
	EXPECT_RC(node(&out, "node-A", "activate", "--nmm", sv.addr, "--timeout", "5", NULL), 0, out, "activate A");
	free(out);
	EXPECT_RC(node(&out, "node-A", "report", "--nmm", sv.addr, "--event", "tamper", "--count", "2", "--detail",
	               "case opened", NULL),
	          0, out, "report");
	free(out);
	EXPECT_RC(node(&out, "node-B", "activate", "--nmm", sv.addr, "--hw-id", "not-my-hardware", NULL), 2, out,
	          "wrong hardware");
	free(out);
	ck_assert_int_eq(WEXITSTATUS(act_service_stop(&sv, SIGTERM)), 0);
	sv.pid = 0;
	/* A wrong PIN at the station (recorded at the next accepted login). */
	char bad_pin[PATH_MAX + 16];
	path_in(bad_pin, sizeof bad_pin, "bad-pin");
	write_file(bad_pin, "999999\n", 7);
	const char *const wrong[] = {nmm_path, "list", "--module", env.module_path, "--token", STATION,
	                             "--pin-file", bad_pin, NULL};
	EXPECT_RC(run_argv(wrong, &out), 2, out, "a wrong PIN");
	free(out);
	/* Another application's record, not signed by the station: a clone
	 * signal for node-A that must not count. */
	unsigned long seq_a = record_seq("node-A", "activate");
	char *show = NULL;
	EXPECT_RC(nmm(&show, "show", "node-A", "--json", NULL), 0, show, "show --json");
	char pr_hex[80];
	const char *obj = strstr(show, "\"node\":{");
	ck_assert(obj != NULL && json_member(obj + 7, "pr_id", pr_hex, sizeof pr_hex));
	free(show);
	uint8_t rid[32];
	size_t rid_len = 0;
	ck_assert_int_eq(akm_hex_decode(pr_hex, rid, sizeof rid, &rid_len), 0);
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.module_path, STATION) == 0, "%s", p.err);
	ck_assert_msg(akm_p11_login(&p, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) == 0, "%s", p.err);
	{
		static const char action[] = "clone-signal", detail[] = "site=Policy; location=Lab; node=node-A; reason=hardware";
		CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
		CK_ULONG res = CKR_DATA_INVALID;
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof cls},
			{CKA_TOKEN, &yes, sizeof yes},
			{CKA_AKM_AUDIT_ACTION, (void *)action, strlen(action)},
			{CKA_AKM_AUDIT_DETAIL, (void *)detail, strlen(detail)},
			{CKA_AKM_AUDIT_RESULT, &res, sizeof res},
			{CKA_AKM_RELATIONSHIP_ID, rid, rid_len},
		};
		CK_OBJECT_HANDLE h;
		ck_assert_int_eq(p.f->C_CreateObject(p.session, t, 6, &h), CKR_OK);
	}
	akm_p11_close(&p);
	unsigned long seq_clone = record_seq("node-B", "clone-signal");
	unsigned long seq_report = record_seq("node-A", "node-report");
	ck_assert_uint_gt(seq_clone, seq_a);

	char policy[PATH_MAX + 16];
	path_in(policy, sizeof policy, "policy.conf");
	write_file(policy, policy_text, strlen(policy_text));
	char *before = nmm_station_state();

	/* The dry run, text. */
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--all", NULL), 0, out, "policy test --all");
	char line[1024], want[PATH_MAX + 300];
	ck_assert_msg(strstr(out, "3 rules, accepted"), "printed:\n%s", out);
	ck_assert_msg(line_with(out, "policy-quarantine", line, sizeof line), "no quarantine:\n%s", out);
	snprintf(want, sizeof want, "rule=clone metric=clone value=1 threshold=>=1 events=%lu", seq_clone);
	ck_assert_msg(strstr(line, "node node-B") && strstr(line, want), "quarantine line: %s\nall:\n%s", line, out);
	snprintf(want, sizeof want, "%6lu ", seq_clone);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "not fired by record %lu: %s", seq_clone, line);
	snprintf(want, sizeof want, "rule=tampering metric=tamper value=2 threshold=>=2 events=%lu+1", seq_report);
	ck_assert_msg(line_with(out, want, line, sizeof line) && strstr(line, "policy-alert") &&
	                  strstr(line, "node node-A"),
	              "no tampering alert (%s):\n%s", want, out);
	ck_assert_msg(line_with(out, "rule=pins metric=wrong-pin value=1", line, sizeof line) &&
	                  strstr(line, "policy-alert") && strstr(line, "station"),
	              "no wrong-PIN alert:\n%s", out);
	/* the forged record: ignored, node-A not quarantined */
	ck_assert_msg(strstr(out, "(1 application record not signed by the station: ignored)"), "printed:\n%s", out);
	ck_assert_msg(line_with(out, "node node-A", line, sizeof line) && strstr(line, "policy-quarantine") == NULL &&
	                  strstr(out, "4 actions would have fired (alert 3, quarantine 1); nothing was changed"),
	              "printed:\n%s", out);
	free(out);

	/* --json: the same, as one document. */
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--all", "--json", NULL), 0, out, "policy test --json");
	ck_assert_msg(strstr(out, "\"rules\":3") && strstr(out, "\"changed\":false") && strstr(out, "\"ignored\":1") &&
	                  strstr(out, "\"by_action\":{\"alert\":3,\"quarantine\":1,"),
	              "printed:\n%s", out);
	snprintf(want, sizeof want, "\"audit_seq\":%lu,\"rule\":\"clone\",\"action\":\"quarantine\"", seq_clone);
	ck_assert_msg(strstr(out, want), "no %s:\n%s", want, out);
	ck_assert_msg(strstr(out, "\"audit_action\":\"policy-quarantine\",\"scope\":\"node\",\"node\":\"node-B\""),
	              "printed:\n%s", out);
	snprintf(want, sizeof want, "\"events\":[%lu],\"events_counted\":1", seq_clone);
	ck_assert_msg(strstr(out, want), "no %s:\n%s", want, out);
	free(out);

	/* From the record after the clone signal: no quarantine; the default
	 * (the last 7 days) is the whole of this trail. */
	char since[32];
	snprintf(since, sizeof since, "%lu", seq_clone + 1);
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--since", since, NULL), 0, out, "policy test --since");
	ck_assert_msg(strstr(out, "policy-quarantine") == NULL && strstr(out, "rule=pins"), "printed:\n%s", out);
	free(out);
	snprintf(since, sizeof since, "%lu", seq_clone);
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--since", since, NULL), 0, out, "policy test --since clone");
	snprintf(want, sizeof want, "replayed records %lu..", seq_clone);
	ck_assert_msg(strstr(out, "policy-quarantine") && strstr(out, want), "printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "policy", "test", policy, NULL), 0, out, "policy test");
	ck_assert_msg(strstr(out, "4 actions would have fired"), "printed:\n%s", out);
	free(out);

	/* The shipped policy is accepted here too. */
	char shipped[PATH_MAX + 64];
	snprintf(shipped, sizeof shipped, "%s/conf/policy.conf", getenv("AKM_TEST_SRCDIR"));
	EXPECT_RC(nmm(&out, "policy", "test", shipped, "--all", NULL), 0, out, "the shipped policy");
	ck_assert_msg(strstr(out, "node node-B") && strstr(out, "rule=clone "), "printed:\n%s", out);
	free(out);

	/* Nothing changed: the same trail (not a record more) and nodes. */
	char *after = nmm_station_state();
	ck_assert_str_eq(after, before);
	free(after);

	/* Refused policies: the line named, exit 2, before any login (a wrong
	 * PIN file, and no login record comes of it). */
	static const struct {
		const char *text, *message;
	} bad[] = {
		{"rule r\n  scope node\n  metric forgd\n", "policy.conf:3: unknown metric \"forgd\""},
		{"rule r\n  scope station\n  metric tamper\n  threshold > 0\n  window 1h\n  actions quarantine\n",
		 "policy.conf:6: unsafe: destructive action \"quarantine\" on scope station (nodes only)"},
		{"rule r\n  scope node\n  metric forged\n  threshold < 3\n  window 1h\n  actions evict\n",
		 "policy.conf:6: unsafe: destructive action \"evict\" on a threshold (< 3) that zero events meet"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(policy, bad[i].text, strlen(bad[i].text));
		const char *const argv[] = {nmm_path, "policy", "test", policy, "--module", env.module_path,
		                            "--token", STATION, "--pin-file", bad_pin, NULL};
		EXPECT_RC(run_argv(argv, &out), 2, out, "a refused policy");
		snprintf(want, sizeof want, "akm-nmm: policy: %s", policy);
		ck_assert_msg(strstr(out, want) && strstr(out, bad[i].message), "case %zu printed:\n%s", i, out);
		free(out);
	}
	after = nmm_station_state();
	ck_assert_str_eq(after, before);
	free(after);
	free(before);

	/* Usage and files. */
	char missing[PATH_MAX + 16];
	path_in(missing, sizeof missing, "no-such.conf");
	EXPECT_RC(nmm(&out, "policy", "test", missing, NULL), 3, out, "no file");
	ck_assert_msg(strstr(out, "cannot open"), "printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--all", "--since", "3", NULL), 1, out, "--all and --since");
	free(out);
	EXPECT_RC(nmm(&out, "policy", "test", policy, "--since", "0", NULL), 1, out, "--since 0");
	free(out);
	EXPECT_RC(nmm(&out, "policy", "frob", policy, NULL), 1, out, "no such subcommand");
	ck_assert_msg(strstr(out, "no such subcommand \"frob\" (test)"), "printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "policy", "test", NULL), 1, out, "no file given");
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, dry_run_on_a_real_trail);
}

int main(void)
{
	nmmd_path = getenv("AKM_TEST_NMMD");
	if (nmmd_path == NULL || access(nmmd_path, X_OK) != 0) {
		fprintf(stderr, "SKIP: AKM_TEST_NMMD not set\n");
		return AKM_TEST_SKIP;
	}
	return nmm_test_main("test-policy", "policy", 600, true, add_tests);
}

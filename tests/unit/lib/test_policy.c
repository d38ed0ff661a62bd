/* The policy file's parser (src/lib/policy.c, docs/policy.md): the shipped
 * conf/policy.conf, the grammar's forms and defaults, and every refusal —
 * malformed or unsafe — with the line it names. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy.h"

static akm_policy pol;
static char err[256];

static akm_policy_rc parse(const char *text)
{
	return akm_policy_parse(text, strlen(text), "policy.conf", &pol, err, sizeof err);
}

START_TEST(test_shipped_policy)
{
	FILE *f = fopen(SHIPPED_POLICY, "rb");
	ck_assert_ptr_nonnull(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof text, f);
	fclose(f);
	ck_assert_int_eq(akm_policy_parse(text, n, "policy.conf", &pol, err, sizeof err), AKM_POLICY_OK);
	ck_assert_str_eq(err, "");
	ck_assert_uint_ge(pol.nrules, 8);
	/* What the issue asks of the defaults: forged messages quarantine and
	 * evict, a clone quarantines, ASRs are rekeyed by age and by count. */
	bool forged = false, clone = false, age = false, count = false;
	for (size_t i = 0; i < pol.nrules; i++) {
		const akm_policy_rule *r = &pol.rules[i];
		bool q = false, e = false, rk = false;
		for (size_t j = 0; j < r->nactions; j++) {
			q |= r->actions[j] == AKM_ACT_QUARANTINE;
			e |= r->actions[j] == AKM_ACT_EVICT;
			rk |= r->actions[j] == AKM_ACT_REKEY;
		}
		forged |= r->metric == AKM_MON_FORGED && r->scope == AKM_SCOPE_NODE && q && e;
		clone |= r->metric == AKM_MON_CLONE && q && r->threshold == 1;
		age |= r->metric == AKM_MON_ASR_AGE && rk;
		count |= r->metric == AKM_MON_ASR_MESSAGES && rk;
	}
	ck_assert(forged && clone && age && count);
}
END_TEST

START_TEST(test_grammar)
{
	const char *text = "# a comment\n"
	                   "\n"
	                   "rule a-1   # trailing comment\n"
	                   "  scope node\n"
	                   "\tmetric bad-proof\n"
	                   "  threshold >=5\r\n"
	                   "  window 90\n"
	                   "  datapoints-to-alarm 2\n"
	                   "  datapoints-to-clear 3\n"
	                   "  actions alert,quarantine , evict\n"
	                   "  cool-down 2h\n"
	                   "rule b\n"
	                   "  actions rekey\n" /* any order */
	                   "  threshold > 1d\n"
	                   "  metric asr-age\n"
	                   "  scope asr\n"
	                   "rule c\n"
	                   "  scope station\n"
	                   "  metric wrong-pin\n"
	                   "  threshold == 7\n"
	                   "  window 1d\n"
	                   "  actions alert";
	ck_assert_int_eq(parse(text), AKM_POLICY_OK);
	ck_assert_uint_eq(pol.nrules, 3);
	const akm_policy_rule *a = &pol.rules[0], *b = &pol.rules[1], *c = &pol.rules[2];
	ck_assert_str_eq(a->name, "a-1");
	ck_assert_uint_eq(a->line, 3);
	ck_assert_int_eq(a->scope, AKM_SCOPE_NODE);
	ck_assert_int_eq(a->metric, AKM_MON_BAD_PROOF);
	ck_assert_int_eq(a->op, AKM_OP_GE);
	ck_assert_uint_eq(a->threshold, 5);
	ck_assert_uint_eq(a->window, 90);
	ck_assert_uint_eq(a->to_alarm, 2);
	ck_assert_uint_eq(a->to_clear, 3);
	ck_assert_uint_eq(a->nactions, 3);
	ck_assert_int_eq(a->actions[0], AKM_ACT_ALERT);
	ck_assert_int_eq(a->actions[1], AKM_ACT_QUARANTINE);
	ck_assert_int_eq(a->actions[2], AKM_ACT_EVICT);
	ck_assert_uint_eq(a->cooldown, 7200);
	/* defaults */
	ck_assert_int_eq(b->scope, AKM_SCOPE_ASR);
	ck_assert_uint_eq(b->threshold, 86400);
	ck_assert_uint_eq(b->window, 0);
	ck_assert_uint_eq(b->to_alarm, 1);
	ck_assert_uint_eq(b->to_clear, 1);
	ck_assert_uint_eq(b->cooldown, 0);
	ck_assert_int_eq(c->op, AKM_OP_EQ);
	ck_assert_uint_eq(c->window, 86400);
	/* an empty policy is a policy: nothing fires */
	ck_assert_int_eq(parse("# nothing\n\n"), AKM_POLICY_OK);
	ck_assert_uint_eq(pol.nrules, 0);
	ck_assert_int_eq(parse(""), AKM_POLICY_OK);
}
END_TEST

START_TEST(test_names)
{
	for (int m = 1; m < AKM_MON_METRIC_COUNT; m++) {
		const char *n = akm_mon_metric_name((akm_mon_metric)m);
		ck_assert_str_ne(n, "?");
		ck_assert_int_eq(akm_mon_metric_by_name(n, strlen(n)), m);
	}
	ck_assert_int_eq(akm_mon_metric_by_name("forg", 4), AKM_MON_NONE);
	ck_assert_str_eq(akm_mon_metric_name(AKM_MON_METRIC_COUNT), "?");
	ck_assert_str_eq(akm_policy_action_name(AKM_ACT_REACTIVATE), "reactivate");
	ck_assert_str_eq(akm_policy_scope_name(AKM_SCOPE_STATION), "station");
	ck_assert_str_eq(akm_policy_op_name(AKM_OP_LE), "<=");
	ck_assert(akm_policy_holds(AKM_OP_GT, 4, 3) && !akm_policy_holds(AKM_OP_GT, 3, 3));
	ck_assert(akm_policy_holds(AKM_OP_GE, 3, 3) && !akm_policy_holds(AKM_OP_GE, 2, 3));
	ck_assert(akm_policy_holds(AKM_OP_LT, 2, 3) && !akm_policy_holds(AKM_OP_LT, 3, 3));
	ck_assert(akm_policy_holds(AKM_OP_LE, 3, 3) && !akm_policy_holds(AKM_OP_LE, 4, 3));
	ck_assert(akm_policy_holds(AKM_OP_EQ, 3, 3) && !akm_policy_holds(AKM_OP_EQ, 4, 3));
}
END_TEST

/* A good rule, lines 1-6, to break one setting at a time. */
#define GOOD_HEAD "rule r\nscope node\nmetric forged\nthreshold > 3\nwindow 5m\n"

static const struct refusal {
	const char *text;
	akm_policy_rc rc;
	const char *message;
} refusals[] = {
	/* malformed */
	{"rule r\nscope node\nmetric forgd\n", AKM_POLICY_MALFORMED, "policy.conf:3: unknown metric \"forgd\""},
	{"scope node\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: \"scope\" outside a rule (start one with \"rule NAME\")"},
	{"# c\nrule\n", AKM_POLICY_MALFORMED, "policy.conf:2: \"rule\" needs a name"},
	{"rule a b\n", AKM_POLICY_MALFORMED, "policy.conf:1: \"rule\" takes one value, not 2"},
	{"rule Big\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule name \"Big\": lower-case letters, digits and '-' (not first) only"},
	{"rule -a\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule name \"-a\": lower-case letters, digits and '-' (not first) only"},
	{"rule aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is longer than 32 characters"},
	{GOOD_HEAD "color red\n", AKM_POLICY_MALFORMED,
	 "policy.conf:6: unknown setting \"color\" (rule, scope, metric, threshold, window, datapoints-to-alarm, "
	 "datapoints-to-clear, actions, cool-down)"},
	{"rule r\nscope nodes\n", AKM_POLICY_MALFORMED, "policy.conf:2: unknown scope \"nodes\" (node, asr or station)"},
	{GOOD_HEAD "scope asr\n", AKM_POLICY_MALFORMED, "policy.conf:6: \"scope\" given twice in rule \"r\" (line 2)"},
	{"rule r\nthreshold => 3\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: unknown operator \"=>\" (>, >=, <, <= or ==)"},
	{"rule r\nthreshold 3\n", AKM_POLICY_MALFORMED, "policy.conf:2: unknown operator \"\" (>, >=, <, <= or ==)"},
	{"rule r\nthreshold >\n", AKM_POLICY_MALFORMED, "policy.conf:2: \"threshold\" takes an operator and one value"},
	{"rule r\nthreshold\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: \"threshold\" needs an operator and a value (e.g. > 5)"},
	{"rule r\nthreshold > -1\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: threshold \"-1\" is not a number (a count, or a duration with s, m, h or d)"},
	{"rule r\nthreshold > 3x\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: threshold \"3x\" is not a number (a count, or a duration with s, m, h or d)"},
	{"rule r\nwindow soon\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: window \"soon\" is not a duration (a number with s, m, h or d)"},
	{"rule r\nwindow\n", AKM_POLICY_MALFORMED, "policy.conf:2: \"window\" needs a duration (e.g. 30s, 5m, 2h, 1d)"},
	{"rule r\ndatapoints-to-alarm two\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: datapoints-to-alarm \"two\" is not a number"},
	{"rule r\nactions alert, page\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: unknown action \"page\" (alert, quarantine, evict, revoke, reactivate, rekey, stale)"},
	{"rule r\nactions alert alert\n", AKM_POLICY_MALFORMED, "policy.conf:2: action \"alert\" given twice"},
	{"rule r\nactions\n", AKM_POLICY_MALFORMED, "policy.conf:2: \"actions\" needs at least one action"},
	{"rule r\nactions alert quarantine evict revoke reactivate\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: more than 4 actions"},
	{"rule r\nscope node\nmetric forged\nthreshold > 3\nwindow 5m\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule \"r\" has no actions"},
	{"rule r\nscope node\nthreshold > 3\nactions alert\n", AKM_POLICY_MALFORMED, "policy.conf:1: rule \"r\" has no metric"},
	{"rule r\nmetric forged\nthreshold > 3\nactions alert\nrule s\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule \"r\" has no scope"},
	{"rule r\nscope node\nmetric forged\nthreshold > 3\nactions alert\n", AKM_POLICY_MALFORMED,
	 "policy.conf:1: rule \"r\" has no window (metric \"forged\" is counted)"},
	{"rule r\nscope node\nmetric asr-age\nthreshold > 3\nactions alert\n", AKM_POLICY_MALFORMED,
	 "policy.conf:3: metric \"asr-age\" does not apply to scope node"},
	{"rule r\nscope asr\nmetric asr-age\nthreshold > 3d\nwindow 1h\nactions alert\n", AKM_POLICY_MALFORMED,
	 "policy.conf:5: metric \"asr-age\" is a gauge: it takes no window"},
	{GOOD_HEAD "actions alert\nrule s\nscope node\nmetric forged\nthreshold > 3m\nwindow 1m\nactions alert\n",
	 AKM_POLICY_MALFORMED, "policy.conf:10: metric \"forged\" is a count: its threshold takes no unit"},
	{"rule r\nscope node\nmetric forged\nthreshold > 3\nwindow 5m\nactions rekey\n", AKM_POLICY_MALFORMED,
	 "policy.conf:6: action \"rekey\" does not apply to scope node"},
	{"rule r\nscope node\nmetric forged\nthreshold > 3\nwindow 5m\nactions stale\n", AKM_POLICY_MALFORMED,
	 "policy.conf:6: action \"stale\" applies to metric node-silence only"},
	{"rule r\nscope node\x01\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: a character that is not printable ASCII (0x01)"},
	{"rule r\nscope n\xc3\xb6" "de\n", AKM_POLICY_MALFORMED,
	 "policy.conf:2: a character that is not printable ASCII (0xc3)"},
	{"rule r\na b c d e f g h i j k l m n o p q\n", AKM_POLICY_MALFORMED, "policy.conf:2: more than 16 words on a line"},
	/* unsafe */
	{"rule r\nscope station\nmetric tamper\nthreshold > 0\nwindow 1h\nactions quarantine\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: destructive action \"quarantine\" on scope station (nodes only)"},
	{"rule r\nscope asr\nmetric forged\nthreshold > 0\nwindow 1h\nactions evict\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: destructive action \"evict\" on scope asr (nodes only)"},
	{GOOD_HEAD "actions revoke\nrule s\nscope node\nmetric forged\nthreshold < 3\nwindow 5m\nactions alert, revoke\n",
	 AKM_POLICY_UNSAFE,
	 "policy.conf:12: unsafe: destructive action \"revoke\" on a threshold (< 3) that zero events meet"},
	{"rule r\nscope node\nmetric forged\nthreshold >= 0\nwindow 5m\nactions quarantine\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: destructive action \"quarantine\" on a threshold (>= 0) that zero events meet"},
	{"rule r\nscope node\nmetric forged\nthreshold == 0\nwindow 5m\nactions reactivate\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: destructive action \"reactivate\" on a threshold (== 0) that zero events meet"},
	{"rule r\nscope node\nmetric node-silence\nthreshold > 1d\nactions quarantine\n", AKM_POLICY_UNSAFE,
	 "policy.conf:5: unsafe: destructive action \"quarantine\" on metric \"node-silence\", which is not a breach "
	 "signal"},
	{"rule r\nscope node\nmetric checkins\nthreshold > 100\nwindow 1m\nactions evict\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: destructive action \"evict\" on metric \"checkins\", which is not a breach signal"},
	{"rule r\nscope asr\nmetric asr-age\nthreshold > 5s\nactions rekey\n", AKM_POLICY_UNSAFE,
	 "policy.conf:5: unsafe: \"rekey\" needs asr-age > or >= at least 10 (not > 5): it could storm"},
	{"rule r\nscope asr\nmetric asr-age\nthreshold < 1d\nactions rekey\n", AKM_POLICY_UNSAFE,
	 "policy.conf:5: unsafe: \"rekey\" needs asr-age > or >= at least 10 (not < 86400): it could storm"},
	{"rule r\nscope asr\nmetric asr-messages\nthreshold > 9\nactions rekey\n", AKM_POLICY_UNSAFE,
	 "policy.conf:5: unsafe: \"rekey\" needs asr-messages > or >= at least 10 (not > 9): it could storm"},
	{"rule r\nscope asr\nmetric tamper\nthreshold > 0\nwindow 1m\nactions rekey\n", AKM_POLICY_UNSAFE,
	 "policy.conf:6: unsafe: \"rekey\" on counted metric \"tamper\" needs a threshold zero events do not meet and "
	 "a cool-down of at least 10s: it could storm"},
	{"rule r\nscope node\nmetric node-silence\nthreshold > 5\nactions stale\n", AKM_POLICY_UNSAFE,
	 "policy.conf:5: unsafe: \"stale\" needs node-silence > or >= at least 10s (not > 5)"},
	{"rule r\nwindow 0\n", AKM_POLICY_UNSAFE, "policy.conf:2: unsafe: window 0 is out of range (1s to 604800s)"},
	{"rule r\nwindow 8d\n", AKM_POLICY_UNSAFE, "policy.conf:2: unsafe: window 8d is out of range (1s to 604800s)"},
	{"rule r\ncool-down 31d\n", AKM_POLICY_UNSAFE,
	 "policy.conf:2: unsafe: cool-down 31d is out of range (0s to 2592000s)"},
	{"rule r\ndatapoints-to-clear 0\n", AKM_POLICY_UNSAFE,
	 "policy.conf:2: unsafe: datapoints-to-clear 0 is out of range (1 to 100)"},
	{"rule r\ndatapoints-to-alarm 101\n", AKM_POLICY_UNSAFE,
	 "policy.conf:2: unsafe: datapoints-to-alarm 101 is out of range (1 to 100)"},
	{"rule r\nscope node\nmetric forged\nthreshold > 1000000001\nwindow 1m\nactions alert\n", AKM_POLICY_UNSAFE,
	 "policy.conf:4: unsafe: threshold 1000000001 is over 1000000000"},
	{"rule r\nscope node\nmetric node-silence\nthreshold > 3651d\nactions alert\n", AKM_POLICY_UNSAFE,
	 "policy.conf:4: unsafe: threshold 315446400 is over 315360000"},
	{GOOD_HEAD "actions alert\n\nrule r\n", AKM_POLICY_UNSAFE,
	 "policy.conf:8: unsafe: a second rule \"r\" (the first is at line 1)"},
};

START_TEST(test_refusals)
{
	const struct refusal *r = &refusals[_i];
	akm_policy_rc rc = parse(r->text);
	if (rc != r->rc || strcmp(err, r->message) != 0)
		ck_abort_msg("case %d: got %d \"%s\", expected %d \"%s\"", _i, rc, err, r->rc, r->message);
	/* nothing half-parsed is left */
	ck_assert_uint_eq(pol.nrules, 0);
}
END_TEST

START_TEST(test_too_many_rules)
{
	static char text[65536];
	size_t n = 0;
	for (int i = 0; i <= AKM_POLICY_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
		                      "rule r%d\nscope node\nmetric forged\nthreshold > 3\nwindow 1m\nactions alert\n", i);
	ck_assert_int_eq(akm_policy_parse(text, n, "p", &pol, err, sizeof err), AKM_POLICY_UNSAFE);
	ck_assert_str_eq(err, "p:385: unsafe: more than 64 rules");
	/* 64 are fine */
	char *last = strstr(text, "rule r64");
	ck_assert_int_eq(akm_policy_parse(text, (size_t)(last - text), "p", &pol, err, sizeof err), AKM_POLICY_OK);
	ck_assert_uint_eq(pol.nrules, 64);
}
END_TEST

START_TEST(test_robust_input)
{
	/* not NUL-terminated: the length is what counts */
	const char text[] = {'r', 'u', 'l', 'e', ' ', 'a'};
	ck_assert_int_eq(akm_policy_parse(text, sizeof text, "p", &pol, err, sizeof err), AKM_POLICY_MALFORMED);
	ck_assert_str_eq(err, "p:1: rule \"a\" has no scope");
	/* an embedded NUL */
	ck_assert_int_eq(akm_policy_parse("rule a\0x\n", 9, "p", &pol, err, sizeof err), AKM_POLICY_MALFORMED);
	ck_assert_str_eq(err, "p:1: a character that is not printable ASCII (0x00)");
	/* a long line */
	static char big[2048];
	memset(big, 'a', sizeof big);
	ck_assert_int_eq(akm_policy_parse(big, sizeof big, "p", &pol, err, sizeof err), AKM_POLICY_MALFORMED);
	ck_assert_str_eq(err, "p:1: line longer than 1024 characters");
	/* a tiny error buffer is still a string */
	char small[8];
	ck_assert_int_eq(akm_policy_parse("x", 1, "policy.conf", &pol, small, sizeof small), AKM_POLICY_MALFORMED);
	ck_assert_str_eq(small, "policy.");
	ck_assert_int_eq(akm_policy_parse("x", 1, NULL, &pol, NULL, 0), AKM_POLICY_MALFORMED);
	/* numbers past 64 bits */
	ck_assert_int_eq(parse("rule r\nthreshold > 99999999999999999999999\n"), AKM_POLICY_MALFORMED);
	ck_assert_int_eq(parse("rule r\nwindow 99999999999d\n"), AKM_POLICY_MALFORMED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-policy");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, test_shipped_policy);
	tcase_add_test(tc, test_grammar);
	tcase_add_test(tc, test_names);
	tcase_add_loop_test(tc, test_refusals, 0, (int)(sizeof refusals / sizeof refusals[0]));
	tcase_add_test(tc, test_too_many_rules);
	tcase_add_test(tc, test_robust_input);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The status figures' writers without a station (tools/station/status.c):
 * the Prometheus text format (escaping of label values, families in
 * order, counters from the service's totals), read back by the strict
 * checker of prom-check.h — which is itself shown to refuse what
 * Prometheus refuses; which records are the policy's own.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom-check.h"
#include "station/station.h"

static char *metrics_of(const nmm_status *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert(f != NULL);
	nmm_status_metrics(st, f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

START_TEST(metrics_escape_and_parse)
{
	nmm_status st = {0};
	st.now = 1796320000;
	st.stale_after = 86400;
	st.nodes_total = 7;
	st.by_state[1] = 5;
	st.by_state[2] = 1;
	st.by_state[3] = 1;
	st.by_status[4] = 3;
	st.stale = 2;
	nmm_status_asr asrs[3] = {
		{.name = "asr1", .generation = 2, .step = 1, .members = 3, .delivery_known = true, .current = 2},
		{.name = "we\"ird\\na\nme", .generation = 1, .members = 2, .delivery_known = false},
		{.name = "x", .generation = 7, .members = 10, .delivery_known = true, .current = 10},
	};
	st.asrs = asrs;
	st.nasrs = 3;
	st.bucket_seconds = 60;
	snprintf(st.events[0].name, sizeof st.events[0].name, "act-bad-proof");
	st.events[0].n = 4;
	snprintf(st.events[1].name, sizeof st.events[1].name, "node-\"q\"");
	st.events[1].n = 1;
	st.nevents = 2;
	char *text = metrics_of(&st);
	char why[256];
	ck_assert_msg(prom_check(text, why, sizeof why) == 0, "%s in:\n%s", why, text);
	double v;
	ck_assert(prom_value(text, "akm_nodes{state=\"suspended\"}", &v) && v == 1);
	ck_assert(prom_value(text, "akm_nodes{state=\"active\"}", &v) && v == 5);
	ck_assert(prom_value(text, "akm_nodes_stale", &v) && v == 2);
	ck_assert(prom_value(text, "akm_asr_generation{asr=\"asr1\"}", &v) && v == 2);
	/* The odd name escaped: quote, backslash, line feed. */
	ck_assert_msg(prom_value(text, "akm_asr_generation{asr=\"we\\\"ird\\\\na\\nme\"}", &v) && v == 1, "%s", text);
	/* Delivery only where it was read. */
	ck_assert(prom_value(text, "akm_asr_members_current{asr=\"asr1\"}", &v) && v == 2);
	ck_assert(!prom_value(text, "akm_asr_members_current{asr=\"we\\\"ird\\\\na\\nme\"}", &v));
	/* Without the service's totals the counters are the window's. */
	ck_assert(prom_value(text, "akm_events_total{kind=\"act-bad-proof\"}", &v) && v == 4);
	ck_assert(prom_value(text, "akm_events_total{kind=\"node-\\\"q\\\"\"}", &v) && v == 1);
	ck_assert(strstr(text, "# TYPE akm_events_total counter\n") != NULL);
	ck_assert(strstr(text, "# TYPE akm_nodes gauge\n") != NULL);
	free(text);
	/* With them, the totals. */
	st.have_totals = true;
	snprintf(st.totals.events[0].name, sizeof st.totals.events[0].name, "act-bad-proof");
	st.totals.events[0].n = 40;
	st.totals.nevents = 1;
	snprintf(st.totals.actions[0].name, sizeof st.totals.actions[0].name, "policy-quarantine");
	st.totals.actions[0].n = 2;
	st.totals.nactions = 1;
	text = metrics_of(&st);
	ck_assert_msg(prom_check(text, why, sizeof why) == 0, "%s", why);
	ck_assert(prom_value(text, "akm_events_total{kind=\"act-bad-proof\"}", &v) && v == 40);
	ck_assert(prom_value(text, "akm_events_recent{kind=\"act-bad-proof\"}", &v) && v == 4);
	ck_assert(prom_value(text, "akm_policy_actions_total{action=\"policy-quarantine\"}", &v) && v == 2);
	free(text);
}
END_TEST

START_TEST(checker_refuses)
{
	static const char *const bad[] = {
		"# TYPE a gauge\na 1",                                  /* no final line feed */
		"# TYPE a gauge\n\na 1\n",                              /* an empty line */
		"a 1\n",                                                /* no TYPE */
		"# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",         /* a series twice */
		"# TYPE a gauge\n# TYPE a counter\na 1\n",              /* TYPE twice */
		"# TYPE a gauge\na 1\n# HELP a late\n",                 /* HELP after the samples */
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"2\"} 1\n", /* a family not together */
		"# TYPE a gauge\na{x=\"a\"b\"} 1\n",                    /* an unescaped quote */
		"# TYPE a gauge\na{x=\"a\\tb\"} 1\n",                   /* \t is no escape */
		"# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",               /* a label twice */
		"# TYPE a gauge\na{__x=\"1\"} 1\n",                     /* a reserved label */
		"# TYPE a gauge\na{1x=\"1\"} 1\n",                      /* a bad label name */
		"# TYPE a gauge\na one\n",                              /* not a value */
		"# TYPE a gauge\na 1 2.5\n",                            /* not a timestamp */
		"# TYPE a gauge\na  1\n",                               /* two spaces */
		"# TYPE a widget\na 1\n",                               /* an unknown type */
		"# TYPE 1a gauge\n",                                    /* a bad metric name */
		"# HELP a x\\y\n# TYPE a gauge\na 1\n",                 /* \y in HELP */
		"#TYPE a gauge\na 1\n",
	};
	char why[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(prom_check(bad[i], why, sizeof why) != 0, "accepted case %zu:\n%s", i, bad[i]);
	ck_assert_msg(prom_check("# HELP a The \\\\ and \\n.\n# TYPE a counter\n# a comment\na{x=\"\\\"\",y=\"\"} 1.5e3 "
	                         "1700000000000\na NaN\n",
	                         why, sizeof why) == 0,
	              "%s", why);
}
END_TEST

START_TEST(policy_actions)
{
	ck_assert(nmm_is_policy_action("policy-quarantine"));
	ck_assert(nmm_is_policy_action("policy-rekey"));
	ck_assert(nmm_is_policy_action("reinstate"));
	ck_assert(!nmm_is_policy_action("revoke"));
	ck_assert(!nmm_is_policy_action("policy"));
	ck_assert(!nmm_is_policy_action("policy-load"));
	ck_assert(!nmm_is_policy_action("policy-refused"));
	ck_assert(nmm_is_policy_action("policy-stale"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("status-units");
	TCase *tc = tcase_create("status");
	tcase_add_test(tc, metrics_escape_and_parse);
	tcase_add_test(tc, checker_refuses);
	tcase_add_test(tc, policy_actions);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

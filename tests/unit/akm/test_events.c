/* Typed events (src/akm/events.c): each kind's audit action and actor as
 * docs/object-model.md §9 lists them, which kinds are breach signals, and
 * what a kind out of range gets. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "akm/relationships.h"
#include "store/store.h"

static const struct {
	akm_event_kind kind;
	const char *action, *actor;
	bool breach;
} expected[] = {
	{AKM_EVENT_CREATE, "create", "user", false},
	{AKM_EVENT_DESTROY, "destroy", "user", false},
	{AKM_EVENT_SET_STATE, "set-state", "user", false},
	{AKM_EVENT_SET_STATUS, "set-status", "user", false},
	{AKM_EVENT_SET_SEQUENCE, "set-sequence", "user", false},
	{AKM_EVENT_SET_NODE_KEY, "set-node-key", "user", false},
	{AKM_EVENT_SET_CHECKIN, "set-checkin", "user", false},
	{AKM_EVENT_SET_LABEL, "set-label", "user", false},
	{AKM_EVENT_EXPORT, "export", "user", false},
	{AKM_EVENT_LOGIN_FAILED, "login", "user", true},
	{AKM_EVENT_EXPORT_REFUSED, "export-refused", "user", true},
	{AKM_EVENT_USE_REFUSED, "use-refused", "user", true},
	{AKM_EVENT_UNWRAP_FAILED, "unwrap-failed", "module", true},
	{AKM_EVENT_UNKNOWN_RELATIONSHIP, "unknown-relationship", "user", true},
	{AKM_EVENT_DECRYPT_FAILED, "decrypt-failed", "user", true},
	{AKM_EVENT_VERIFY_FAILED, "verify-failed", "user", true},
	{AKM_EVENT_ROLLBACK_DETECTED, "rollback-detected", "module", true},
	{AKM_EVENT_TAMPER_DETECTED, "tamper-detected", "module", true},
	{AKM_EVENT_LOGIN_REFUSED, "login-refused", "user", true},
	{AKM_EVENT_ASR_CREATE, "asr-create", "user", false},
	{AKM_EVENT_ASR_ADD, "asr-add", "user", false},
	{AKM_EVENT_ASR_REMOVE, "asr-remove", "user", false},
	{AKM_EVENT_ASR_REKEY, "asr-rekey", "user", false},
	{AKM_EVENT_ASR_MEMBER_ENROLL, "asr-enroll", "user", false},
	{AKM_EVENT_ASR_MEMBER_REKEY, "asr-rekeyed", "user", false},
	{AKM_EVENT_ASR_MEMBER_STEP, "asr-step", "module", false},
	{AKM_EVENT_ASR_MEMBER_RESERVE, "asr-reserve", "module", false},
	{AKM_EVENT_ASR_MEMBER_REMOVED, "asr-removed", "user", false},
	{AKM_EVENT_ASR_MEMBER_REFUSED, "asr-refused", "user", true},
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

START_TEST(test_every_kind_is_listed)
{
	/* A kind added to the enum must be added here (and to the docs). */
	ck_assert_uint_eq(NEXPECTED, AKM_EVENT_KINDS);
	for (size_t i = 0; i < NEXPECTED; i++)
		ck_assert_uint_eq(expected[i].kind, i);
}
END_TEST

START_TEST(test_actions_and_actors)
{
	akm_audit_record rec; /* where they are stored */
	for (int k = 0; k < AKM_EVENT_KINDS; k++) {
		const char *action = akm_event_action((akm_event_kind)k);
		const char *actor = akm_event_actor((akm_event_kind)k);
		ck_assert_ptr_nonnull(action);
		ck_assert_ptr_nonnull(actor);
		ck_assert_msg(strcmp(action, expected[k].action) == 0, "kind %d: action \"%s\", expected \"%s\"", k, action,
		              expected[k].action);
		ck_assert_msg(strcmp(actor, expected[k].actor) == 0, "kind %d: actor \"%s\", expected \"%s\"", k, actor,
		              expected[k].actor);
		/* Non-empty, fits the record, and spelled as an application's own
		 * action must be (1-32 of a-z, 0-9, '-', '.'). */
		size_t n = strlen(action);
		ck_assert(n >= 1 && n <= 32 && n < sizeof rec.action);
		ck_assert(strlen(actor) >= 1 && strlen(actor) < sizeof rec.actor);
		ck_assert_uint_eq(strspn(action, "abcdefghijklmnopqrstuvwxyz0123456789-."), n);
		/* The actors the store documents (store.h); "app" is for
		 * applications' records only. */
		ck_assert(strcmp(actor, "user") == 0 || strcmp(actor, "module") == 0);
	}
}
END_TEST

START_TEST(test_actions_unique)
{
	for (int i = 0; i < AKM_EVENT_KINDS; i++)
		for (int j = i + 1; j < AKM_EVENT_KINDS; j++)
			ck_assert_msg(strcmp(akm_event_action((akm_event_kind)i), akm_event_action((akm_event_kind)j)) != 0,
			              "kinds %d and %d share the action \"%s\"", i, j, akm_event_action((akm_event_kind)i));
}
END_TEST

START_TEST(test_breach_signals)
{
	size_t breaches = 0;
	for (int k = 0; k < AKM_EVENT_KINDS; k++) {
		ck_assert_msg(akm_event_is_breach((akm_event_kind)k) == expected[k].breach, "kind %d (%s): breach %d", k,
		              expected[k].action, akm_event_is_breach((akm_event_kind)k));
		breaches += expected[k].breach;
	}
	/* Changes are not signals; every failure that could be an attack is. */
	ck_assert_uint_eq(breaches, 11);
	ck_assert(!akm_event_is_breach(AKM_EVENT_CREATE));
	ck_assert(!akm_event_is_breach(AKM_EVENT_EXPORT));
	ck_assert(akm_event_is_breach(AKM_EVENT_ROLLBACK_DETECTED));
	ck_assert(akm_event_is_breach(AKM_EVENT_LOGIN_FAILED));
	ck_assert(akm_event_is_breach(AKM_EVENT_LOGIN_REFUSED));
}
END_TEST

START_TEST(test_out_of_range)
{
	const akm_event_kind bad[] = {AKM_EVENT_KINDS, (akm_event_kind)(AKM_EVENT_KINDS + 1), (akm_event_kind)1000,
	                              (akm_event_kind)-1};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_str_eq(akm_event_action(bad[i]), "unknown");
		ck_assert_str_eq(akm_event_actor(bad[i]), "module");
		ck_assert(!akm_event_is_breach(bad[i]));
	}
	/* "unknown" is no kind's own action. */
	for (int k = 0; k < AKM_EVENT_KINDS; k++)
		ck_assert_str_ne(akm_event_action((akm_event_kind)k), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("akm-events");
	TCase *tc = tcase_create("events");
	tcase_add_test(tc, test_every_kind_is_listed);
	tcase_add_test(tc, test_actions_and_actors);
	tcase_add_test(tc, test_actions_unique);
	tcase_add_test(tc, test_breach_signals);
	tcase_add_test(tc, test_out_of_range);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

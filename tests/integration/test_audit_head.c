/*
 * The audit trail against the token's record of its head: records cut from
 * the end of the chain, with the registry's own head rewritten to match,
 * pass the registry's verifier but not akm_relationships_verify_audit,
 * which also asks the token.  Internal API, real SoftHSM2 token.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "akm/pkcs11-akm.h"
#include "akm/relationships.h"
#include "testenv.h"

START_TEST(test_token_head_catches_a_cut_chain)
{
	akm_testenv env;
	ck_assert_int_eq(akm_testenv_create(&env, "akm-head"), 0);
	void *dl;
	CK_FUNCTION_LIST *be = akm_test_load_module(env.softhsm_path, &dl);
	ck_assert_ptr_nonnull(be);
	ck_assert_int_eq(be->C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(be, env.token_label, &slot), CKR_OK);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(be->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);

	char registry[PATH_MAX + 16], err[512];
	snprintf(registry, sizeof registry, "%s/registry.db", env.dir);
	akm_relationships *rels;
	ck_assert_int_eq(akm_relationships_open(&rels, registry, be, slot, err, sizeof err), CKR_OK);
	ck_assert_int_eq(be->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(akm_relationships_login(rels), CKR_OK);

	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	for (int i = 0; i < 3; i++) {
		char node[16];
		snprintf(node, sizeof node, "node-%d", i);
		CK_ATTRIBUTE t[] = {{CKA_AKM_KIND, &kind, sizeof kind}, {CKA_AKM_PEER_NODE, node, strlen(node)},
		                    {CKA_AKM_HW_BINDING, "hw", 2}};
		CK_ATTRIBUTE *tp = t;
		CK_ULONG n = 3;
		CK_OBJECT_HANDLE h;
		ck_assert_int_eq(akm_relationships_create(rels, &tp, &n, 1, &h), CKR_OK);
	}
	/* Logout brings the token's record of the head up to date. */
	akm_relationships_logout(rels);
	ck_assert_int_eq(be->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(akm_relationships_login(rels), CKR_OK);
	int64_t records = 0;
	ck_assert_msg(akm_relationships_verify_audit(rels, &records, err, sizeof err) == CKR_OK, "%s", err);
	ck_assert_int_eq(records, 3);

	/* Cut the last record and rewrite the registry's head to match. */
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(registry, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
		"DELETE FROM audit WHERE seq = 3;"
		"UPDATE meta SET value = 2 WHERE name = 'audit_seq';"
		"UPDATE meta SET value = (SELECT hash FROM audit WHERE seq = 2) WHERE name = 'audit_hash';",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	ck_assert_int_eq(akm_relationships_verify_audit(rels, &records, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, "no longer holds record 3") != NULL, "%s", err);

	akm_relationships_close(rels);
	be->C_Finalize(NULL);
	akm_testenv_destroy(&env);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("audit-head");
	TCase *tc = tcase_create("audit-head");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_token_head_catches_a_cut_chain);
	suite_add_tcase(suite, tc);
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

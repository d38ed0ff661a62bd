/*
 * The audit trail against the token's record of its head: records cut from
 * the end of the chain, with the registry's own head rewritten to match,
 * pass the registry's verifier but not akm_audit_verify,
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
	char registry[PATH_MAX + 16], err[512];
	akm_backend *be;
	ck_assert_msg(akm_backend_open(&be, env.softhsm_path, err, sizeof err) == CKR_OK, "%s", err);
	CK_SLOT_ID *slots, slot = 0;
	CK_ULONG nslots;
	bool found = false;
	ck_assert_int_eq(akm_backend_slots(be, &slots, &nslots), CKR_OK);
	for (CK_ULONG i = 0; i < nslots && !found; i++) {
		CK_TOKEN_INFO info;
		ck_assert_int_eq(akm_backend_token_info(be, slots[i], &info), CKR_OK);
		found = strncmp((const char *)info.label, env.token_label, strlen(env.token_label)) == 0;
		slot = slots[i];
	}
	free(slots);
	ck_assert(found);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(akm_backend_open_session(be, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s), CKR_OK);

	snprintf(registry, sizeof registry, "%s/registry.db", env.dir);
	akm_relationships *rels;
	ck_assert_int_eq(akm_relationships_open(&rels, registry, be, slot, err, sizeof err), CKR_OK);
	ck_assert_int_eq(akm_backend_login(be, s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(akm_relationships_login(rels), CKR_OK);

	for (int i = 0; i < 3; i++) {
		akm_relationship_spec spec = {0};
		spec.rel.kind = CKV_AKM_KIND_PROVISIONING;
		spec.rel.state = CKV_AKM_STATE_ACTIVE;
		spec.rel.status = CKV_AKM_STATUS_CREATED;
		spec.rel.peer_len = (size_t)snprintf((char *)spec.rel.peer, sizeof spec.rel.peer, "node-%d", i);
		memcpy(spec.rel.hw, "hw", 2);
		spec.rel.hw_len = 2;
		int64_t id;
		ck_assert_int_eq(akm_relationships_create(rels, &spec, 1, &id), CKR_OK);
	}
	/* Logout brings the token's record of the head up to date. */
	akm_relationships_logout(rels);
	ck_assert_int_eq(akm_backend_login(be, s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(akm_relationships_login(rels), CKR_OK);
	int64_t records = 0;
	ck_assert_msg(akm_audit_verify(rels, &records, err, sizeof err) == CKR_OK, "%s", err);
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

	/* The rewritten head is not sealed: the check says so, and so does
	 * the next login, against the head the token keeps. */
	ck_assert_int_eq(akm_audit_verify(rels, &records, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, "altered") != NULL, "%s", err);
	akm_relationships_logout(rels);
	ck_assert_int_eq(akm_backend_login(be, s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(akm_relationships_login(rels), CKR_DEVICE_ERROR);

	akm_relationships_close(rels);
	akm_backend_close(be);
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

/*
 * Where the registry lives, as the configuration says: registry.token puts
 * its KEK on a token other than the first, registry.uri names its store.
 * Real SoftHSM2 tokens, the module loaded with dlopen.
 */
#include <stdio.h>
#include <unistd.h>

#include "akm/pkcs11-akm.h"
#include "common.h"

static it_ctx t;

static void configure(const char *registry_lines)
{
	char conf[8192];
	snprintf(conf, sizeof conf,
	         "backend.module = %s\nbackend.token = pkcs11:token=akm-regcfg-1\n"
	         "backend.token = pkcs11:token=akm-regcfg-2\n%s",
	         t.env.softhsm_path, registry_lines);
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, conf), 0);
}

static CK_SESSION_HANDLE login(const char *label)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(akm_test_find_slot(t.f, label, &slot), CKR_OK);
	ck_assert_int_eq(t.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	CK_RV rv = t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4);
	ck_assert(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
	return s;
}

static CK_RV make_pr(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE tmpl[] = {{CKA_AKM_KIND, &kind, sizeof kind}, {CKA_AKM_PEER_NODE, "node-1", 6},
	                       {CKA_AKM_HW_BINDING, "hw-1", 4}};
	CK_OBJECT_HANDLE h;
	return t.f->C_GenerateKey(s, &m, tmpl, 3, &h);
}

static void setup(void)
{
	it_setup_env(&t, "akm-regcfg-1");
	ck_assert_int_eq(akm_testenv_add_token(&t.env, "akm-regcfg-2"), 0);
}

static void teardown(void)
{
	it_close(&t);
}

START_TEST(test_registry_token_chooses_the_token)
{
	char lines[4200];
	snprintf(lines, sizeof lines, "registry.token = pkcs11:token=akm-regcfg-2\nregistry.uri = sqlite:%s/second.db\n",
	         t.env.dir);
	configure(lines);
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_OK);
	CK_SESSION_HANDLE first = login("akm-regcfg-1"), second = login("akm-regcfg-2");
	/* The relationships are on the second token's slot only. */
	ck_assert_int_eq(make_pr(first), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(make_pr(second), CKR_OK);
	CK_MECHANISM_INFO info;
	CK_SESSION_INFO si;
	ck_assert_int_eq(t.f->C_GetSessionInfo(first, &si), CKR_OK);
	ck_assert_int_eq(t.f->C_GetMechanismInfo(si.slotID, CKM_AKM_RELATIONSHIP_GEN, &info), CKR_MECHANISM_INVALID);
	ck_assert_int_eq(t.f->C_GetSessionInfo(second, &si), CKR_OK);
	ck_assert_int_eq(t.f->C_GetMechanismInfo(si.slotID, CKM_AKM_RELATIONSHIP_GEN, &info), CKR_OK);
	/* In the store registry.uri named. */
	char path[4200];
	snprintf(path, sizeof path, "%s/second.db", t.env.dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/registry.db", t.env.dir);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* A registry on a token that is not there, or in a store this module does
 * not have, is a failed C_Initialize, not a module without relationships. */
START_TEST(test_registry_nowhere_fails_initialize)
{
	configure("registry.token = pkcs11:token=no-such-token\n");
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	configure("registry.uri = postgresql://station@db/akm\n");
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	configure("");
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_OK);
	/* By default the first slot, whichever token the backend lists first. */
	CK_RV one = make_pr(login("akm-regcfg-1")), two = make_pr(login("akm-regcfg-2"));
	ck_assert((one == CKR_OK && two == CKR_MECHANISM_INVALID) || (one == CKR_MECHANISM_INVALID && two == CKR_OK));
	CK_SLOT_ID slots[2];
	CK_ULONG n = 2;
	ck_assert_int_eq(t.f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	CK_MECHANISM_INFO info;
	ck_assert_int_eq(t.f->C_GetMechanismInfo(slots[0], CKM_AKM_RELATIONSHIP_GEN, &info), CKR_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry-config");
	TCase *tc = tcase_create("registry-config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_registry_token_chooses_the_token);
	tcase_add_test(tc, test_registry_nowhere_fails_initialize);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

/*
 * The tools' one PKCS#11 loader (tools/shared/p11.c) against real modules:
 * loading and its refusals, finding a token by label, by URI or as the only
 * one, the PIN, several modules loaded in one process at once (akm-pkcs11.so
 * and its backend SoftHSM2, as the station's write-se does), ending without
 * unloading, and the object helpers.
 *
 * Environment: AKM_TEST_MODULE, AKM_TEST_SOFTHSM (tests/meson.build).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/p11.h"
#include "testenv.h"

static akm_testenv env;

static void setup(void)
{
	ck_assert_int_eq(akm_testenv_create(&env, "p11-one"), 0);
}

static void teardown(void)
{
	akm_testenv_destroy(&env);
}

static void login(akm_p11 *p)
{
	ck_assert_msg(akm_p11_login(p, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) == 0, "%s", p->err);
}

START_TEST(load_refusals)
{
	akm_p11 p;
	ck_assert_int_eq(akm_p11_load(&p, "/nonexistent/module.so"), -1);
	ck_assert_ptr_nonnull(strstr(p.err, "cannot load module /nonexistent/module.so"));
	ck_assert_ptr_null(p.f);
	akm_p11_close(&p); /* safe after a failure */

	/* A library that is not a PKCS#11 module. */
	ck_assert_int_eq(akm_p11_load(&p, "libm.so.6"), -1);
	ck_assert_ptr_nonnull(strstr(p.err, "is not a PKCS#11 module (no C_GetFunctionList)"));
	akm_p11_close(&p);

	ck_assert_int_eq(akm_p11_open(&p, "", NULL), -1);
	ck_assert_ptr_nonnull(strstr(p.err, "no PKCS#11 module"));
	akm_p11_close(&p);
}
END_TEST

START_TEST(select_by_label_uri_or_only_one)
{
	akm_p11 p;
	/* The only initialised token (SoftHSM2 shows one more, empty slot). */
	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, NULL) == 0, "%s", p.err);
	ck_assert_int_eq(memcmp(p.token.label, "p11-one ", 8), 0);
	akm_p11_close(&p);

	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, "p11-one") == 0, "%s", p.err);
	char serial[17];
	akm_p11_serial(&p, serial);
	ck_assert_uint_gt(strlen(serial), 0);
	akm_p11_close(&p);

	char uri[128];
	snprintf(uri, sizeof uri, "pkcs11:token=p11-one;serial=%s", serial);
	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, uri) == 0, "%s", p.err);
	akm_p11_close(&p);

	/* No match: CKR_TOKEN_NOT_PRESENT, and a sentence naming the token
	 * and the tokens there are. */
	ck_assert_int_eq(akm_p11_open(&p, env.softhsm_path, "p11-none"), -1);
	ck_assert_uint_eq(p.rv, CKR_TOKEN_NOT_PRESENT);
	char want[128];
	snprintf(want, sizeof want, "no token matches p11-none; the module has: \"p11-one\" (serial %s)", serial);
	ck_assert_str_eq(p.err, want);
	akm_p11_close(&p);
	ck_assert_int_eq(akm_p11_open(&p, env.softhsm_path, "pkcs11:token=p11-none"), -1);
	ck_assert_uint_eq(p.rv, CKR_TOKEN_NOT_PRESENT);
	akm_p11_close(&p);
	ck_assert_int_eq(akm_p11_open(&p, env.softhsm_path, "pkcs11:token=%zz"), -1);
	ck_assert_ptr_nonnull(strstr(p.err, "token URI pkcs11:token=%zz"));
	akm_p11_close(&p);

	/* Two tokens: none is "the only one"; two of one label are refused,
	 * never one of them picked. */
	ck_assert_int_eq(akm_testenv_add_token(&env, "p11-two"), 0);
	ck_assert_int_eq(akm_p11_open(&p, env.softhsm_path, NULL), -1);
	ck_assert_msg(strncmp(p.err, "2 tokens present: name one with --token URI|LABEL; the module has: \"p11-",
	                      72) == 0, "%s", p.err);
	akm_p11_close(&p);
	ck_assert_int_eq(akm_testenv_add_token(&env, "p11-two"), 0);
	ck_assert_int_eq(akm_p11_open(&p, env.softhsm_path, "p11-two"), -1);
	ck_assert_msg(strncmp(p.err, "2 tokens match p11-two: give a more precise URI; the module has: ", 65) == 0,
	              "%s", p.err);
	akm_p11_close(&p);
}
END_TEST

START_TEST(pin)
{
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, "p11-one") == 0, "%s", p.err);
	ck_assert_int_eq(akm_p11_login(&p, "0000", 4), -1);
	ck_assert_uint_eq(p.rv, CKR_PIN_INCORRECT);
	ck_assert_str_eq(p.err, "C_Login: CKR_PIN_INCORRECT (wrong user PIN)");
	ck_assert(!p.logged_in);
	login(&p);
	login(&p); /* logged in already: nothing to do */
	ck_assert(p.logged_in);
	akm_p11_close(&p);
}
END_TEST

/* akm-pkcs11.so and SoftHSM2 loaded at once, each through its own akm_p11:
 * the second to initialise SoftHSM2 shares it (C_Initialize answers
 * CKR_CRYPTOKI_ALREADY_INITIALIZED) and leaves its C_Finalize alone. */
START_TEST(several_modules_at_once)
{
	akm_p11 akm, shsm;
	ck_assert_msg(akm_p11_open(&akm, env.module_path, NULL) == 0, "%s", akm.err);
	ck_assert(akm.initialized);
	ck_assert_msg(akm_p11_open(&shsm, env.softhsm_path, "p11-one") == 0, "%s", shsm.err);
	ck_assert(!shsm.initialized);
	ck_assert_ptr_ne(akm.f, shsm.f);
	login(&akm);
	login(&shsm);

	/* Both usable, each its own session. */
	CK_BYTE r1[16], r2[16];
	ck_assert_uint_eq(akm.f->C_GenerateRandom(akm.session, r1, sizeof r1), CKR_OK);
	ck_assert_uint_eq(shsm.f->C_GenerateRandom(shsm.session, r2, sizeof r2), CKR_OK);
	CK_OBJECT_HANDLE pub, priv;
	ck_assert_msg(akm_p11_ec_generate(&shsm, false, "p11-test", NULL, 0, &pub, &priv) == 0, "%s", shsm.err);
	uint8_t point[65];
	ck_assert_msg(akm_p11_ec_point(&shsm, pub, point) == 0, "%s", shsm.err);
	ck_assert_uint_eq(point[0], 0x04);

	/* Ended without unloading (as the benchmarks and akm-mkrel do), the
	 * other keeps working. */
	ck_assert_int_eq(akm_p11_end(&shsm, false), 0);
	ck_assert_ptr_null(shsm.f);
	ck_assert_uint_eq(akm.f->C_GenerateRandom(akm.session, r1, sizeof r1), CKR_OK);
	akm_p11_close(&akm);
}
END_TEST

START_TEST(objects)
{
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, "p11-one") == 0, "%s", p.err);
	login(&p);
	/* More objects than akm_p11_find_all's first allocation (256). */
	enum { N = 300 };
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL no = CK_FALSE;
	static const char app[] = "p11-test";
	for (int i = 0; i < N; i++) {
		char value[16];
		int len = snprintf(value, sizeof value, "v%d", i);
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof cls},
			{CKA_TOKEN, &no, sizeof no},
			{CKA_APPLICATION, (void *)app, sizeof app - 1},
			{CKA_VALUE, value, (CK_ULONG)len},
		};
		CK_OBJECT_HANDLE h;
		ck_assert_uint_eq(p.f->C_CreateObject(p.session, t, 4, &h), CKR_OK);
	}
	CK_ATTRIBUTE find[] = {{CKA_APPLICATION, (void *)app, sizeof app - 1}};
	CK_OBJECT_HANDLE *all = NULL;
	size_t n = 0;
	ck_assert_msg(akm_p11_find_all(&p, find, 1, &all, &n) == 0, "%s", p.err);
	ck_assert_uint_eq(n, N);
	CK_OBJECT_HANDLE few[4];
	size_t nfew = 0;
	ck_assert_int_eq(akm_p11_find(&p, find, 1, few, 4, &nfew), 0);
	ck_assert_uint_eq(nfew, 4);

	uint8_t *v = NULL;
	size_t vlen = 0;
	ck_assert_int_eq(akm_p11_get_bytes(&p, all[0], CKA_VALUE, &v, &vlen), 0);
	ck_assert_uint_ge(vlen, 2);
	ck_assert_uint_eq(v[0], 'v');
	free(v);
	CK_ULONG ul;
	ck_assert_int_eq(akm_p11_get_ulong(&p, all[0], CKA_CLASS, &ul), 0);
	ck_assert_uint_eq(ul, CKO_DATA);
	ck_assert_int_eq(akm_p11_get_ulong(&p, all[0], CKA_VALUE, &ul), -1);
	ck_assert_str_eq(p.err, "C_GetAttributeValue: the attribute is not a CK_ULONG");

	CK_OBJECT_HANDLE h = all[0];
	akm_p11_destroy(&p, &h);
	ck_assert_uint_eq(h, CK_INVALID_HANDLE);
	akm_p11_destroy(&p, &h); /* nothing left to destroy */
	free(all);
	ck_assert_int_eq(akm_p11_find_all(&p, find, 1, &all, &n), 0);
	ck_assert_uint_eq(n, N - 1);
	free(all);
	akm_p11_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("p11");
	TCase *tc = tcase_create("p11");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_refusals);
	tcase_add_test(tc, select_by_label_uri_or_only_one);
	tcase_add_test(tc, pin);
	tcase_add_test(tc, several_modules_at_once);
	tcase_add_test(tc, objects);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

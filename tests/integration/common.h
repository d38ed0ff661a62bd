/* Shared by the C-API integration tests: a fresh token, the module loaded
 * with dlopen, a logged-in R/W session. */
#ifndef AKM_IT_COMMON_H
#define AKM_IT_COMMON_H

#include <check.h>
#include <string.h>

#include "testenv.h"

typedef struct it_ctx {
	akm_testenv env;
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
} it_ctx;

/* Creates the token and loads the module (not initialised). */
static inline void it_setup_env(it_ctx *t, const char *label)
{
	memset(t, 0, sizeof *t);
	ck_assert_int_eq(akm_testenv_create(&t->env, label), 0);
	t->f = akm_test_load_module(t->env.module_path, &t->dl);
	ck_assert_ptr_nonnull(t->f);
}

/* C_Initialize with OS locking, finds the slot, opens a R/W session and
 * logs in, expecting `login` (CKR_DEVICE_ERROR for a refused registry). */
static inline void it_open_login(it_ctx *t, CK_RV login)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	ck_assert_int_eq(t->f->C_Initialize(&args), CKR_OK);
	ck_assert_int_eq(akm_test_find_slot(t->f, t->env.token_label, &t->slot), CKR_OK);
	ck_assert_int_eq(t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->s), CKR_OK);
	ck_assert_int_eq(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN,
	                               strlen(AKM_TEST_USER_PIN)), login);
}

static inline void it_open(it_ctx *t)
{
	it_open_login(t, CKR_OK);
}

static inline void it_close(it_ctx *t)
{
	if (t->f != NULL)
		t->f->C_Finalize(NULL);
	akm_testenv_destroy(&t->env);
}

/* An AES-256 session key usable for everything symmetric. */
static inline CK_OBJECT_HANDLE it_aes_key(it_ctx *t, CK_SESSION_HANDLE s, CK_BBOOL token)
{
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &token, sizeof token},
		{CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1}, {CKA_SIGN, &yes, 1},
		{CKA_VERIFY, &yes, 1}, {CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1},
		{CKA_EXTRACTABLE, &yes, 1}, {CKA_LABEL, "it-aes", 6},
	};
	CK_OBJECT_HANDLE key = 0;
	ck_assert_int_eq(t->f->C_GenerateKey(s, &m, tmpl, sizeof tmpl / sizeof tmpl[0], &key), CKR_OK);
	ck_assert_uint_ne(key, 0);
	return key;
}

/* A generic secret for HMAC (SoftHSM2 takes HMAC keys of this type only). */
static inline CK_OBJECT_HANDLE it_hmac_key(it_ctx *t, CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &no, 1}, {CKA_SIGN, &yes, 1},
		{CKA_VERIFY, &yes, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_LABEL, "it-hmac", 7},
	};
	CK_OBJECT_HANDLE key = 0;
	ck_assert_int_eq(t->f->C_GenerateKey(s, &m, tmpl, sizeof tmpl / sizeof tmpl[0], &key), CKR_OK);
	return key;
}

#define IT_RUN_SUITE(suite)                                  \
	do {                                                 \
		SRunner *sr_ = srunner_create(suite);        \
		srunner_run_all(sr_, CK_NORMAL);             \
		int failed_ = srunner_ntests_failed(sr_);    \
		srunner_free(sr_);                           \
		return failed_ ? 1 : 0;                      \
	} while (0)

#endif

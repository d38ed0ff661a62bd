/*
 * Attribute values that are arrays, through the module's C API against a
 * fresh SoftHSM2 token: CKA_ALLOWED_MECHANISMS is a list of
 * CK_MECHANISM_TYPE (although it carries CKF_ARRAY_ATTRIBUTE), so any whole
 * number of mechanisms reaches the backend intact and is readable back,
 * mechanism numbers that look like pointers are never followed, and a length
 * that is not a whole number of mechanisms is refused before the backend.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static it_ctx t;

static void setup(void) { it_setup_env(&t, "akm-templates"); }
static void teardown(void) { it_close(&t); }

static const CK_MECHANISM_TYPE six[6] = {
	CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB, CKM_AES_CTR, CKM_AES_CMAC,
};

/* Reads CKA_ALLOWED_MECHANISMS of `key` (length query, then the values) and
 * checks it is exactly want[0..n). */
static void assert_allowed(CK_OBJECT_HANDLE key, const CK_MECHANISM_TYPE *want, CK_ULONG n)
{
	CK_ATTRIBUTE q = {CKA_ALLOWED_MECHANISMS, NULL, 0};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, key, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, n * sizeof(CK_MECHANISM_TYPE));
	CK_MECHANISM_TYPE got[8] = {0};
	q.pValue = got;
	q.ulValueLen = sizeof got;
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, key, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, n * sizeof(CK_MECHANISM_TYPE));
	/* The backend may keep them in its own order: compare as sets. */
	for (CK_ULONG i = 0; i < n; i++) {
		bool found = false;
		for (CK_ULONG k = 0; k < n; k++)
			found = found || got[k] == want[i];
		ck_assert_msg(found, "mechanism 0x%lx of %lu not read back", (unsigned long)want[i],
		              (unsigned long)n);
	}
}

static CK_RV gen_key(const CK_MECHANISM_TYPE *mechs, CK_ULONG len, const char *label,
                     CK_OBJECT_HANDLE *key)
{
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG vlen = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_TOKEN, &no, 1}, {CKA_ENCRYPT, &yes, 1},
		{CKA_DECRYPT, &yes, 1}, {CKA_LABEL, (void *)label, strlen(label)},
		{CKA_ALLOWED_MECHANISMS, (void *)mechs, len},
	};
	*key = 0;
	return t.f->C_GenerateKey(t.s, &m, tmpl, sizeof tmpl / sizeof tmpl[0], key);
}

static CK_RV create_key(const CK_MECHANISM_TYPE *mechs, CK_ULONG len, const char *label,
                        CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BYTE value[32];
	memset(value, 0x5a, sizeof value);
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_VALUE, value, sizeof value},
		{CKA_TOKEN, &no, 1}, {CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1},
		{CKA_LABEL, (void *)label, strlen(label)}, {CKA_ALLOWED_MECHANISMS, (void *)mechs, len},
	};
	*key = 0;
	return t.f->C_CreateObject(t.s, tmpl, sizeof tmpl / sizeof tmpl[0], key);
}

/* How many objects carry `label`. */
static CK_ULONG count_label(const char *label)
{
	CK_ATTRIBUTE a = {CKA_LABEL, (void *)label, strlen(label)};
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &a, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 8, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	return n;
}

START_TEST(test_one_to_six_mechanisms)
{
	it_open(&t);
	for (CK_ULONG n = 1; n <= 6; n++) {
		CK_OBJECT_HANDLE gen, made;
		char label[32];
		snprintf(label, sizeof label, "allowed-%lu", (unsigned long)n);
		ck_assert_msg(gen_key(six, n * sizeof six[0], label, &gen) == CKR_OK,
		              "C_GenerateKey with %lu allowed mechanisms", (unsigned long)n);
		assert_allowed(gen, six, n);
		ck_assert_msg(create_key(six, n * sizeof six[0], label, &made) == CKR_OK,
		              "C_CreateObject with %lu allowed mechanisms", (unsigned long)n);
		assert_allowed(made, six, n);
		ck_assert_uint_eq(count_label(label), 2);
		/* A search template naming the list is accepted (whether the
		 * backend matches on it is the backend's: SoftHSM2 does not). */
		CK_ATTRIBUTE q[] = {{CKA_LABEL, label, strlen(label)},
		                    {CKA_ALLOWED_MECHANISMS, (void *)six, n * sizeof six[0]}};
		ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, q, 2), CKR_OK);
		ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	}

	/* The list reached the backend as a list: a key allowed only AES-CBC-PAD
	 * works with it and is refused AES-ECB. */
	CK_OBJECT_HANDLE key;
	ck_assert_int_eq(gen_key(six, sizeof six[0], "only-cbc", &key), CKR_OK);
	CK_BYTE iv[16] = {0};
	CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof iv}, ecb = {CKM_AES_ECB, NULL, 0};
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &cbc, key), CKR_OK);
	CK_BYTE in[16] = {1}, out[48];
	CK_ULONG outlen = sizeof out;
	ck_assert_int_eq(t.f->C_Encrypt(t.s, in, sizeof in, out, &outlen), CKR_OK);
	ck_assert_int_ne(t.f->C_EncryptInit(t.s, &ecb, key), CKR_OK);
}
END_TEST

START_TEST(test_pointer_like_mechanisms_not_followed)
{
	it_open(&t);
	/* Mechanism numbers laid out as two CK_ATTRIBUTEs that are nested
	 * templates: the first points at unmapped memory, the second at a real
	 * attribute whose own pValue is garbage.  Read as a template (as the
	 * module once did), the list of 3 sends the module to address
	 * 0x4141414141414000 and the list of 6 follows the decoy. */
	CK_ATTRIBUTE decoy[2] = {{CKA_WRAP_TEMPLATE, (void *)(uintptr_t)0x10, sizeof(CK_ATTRIBUTE)},
	                         {CKA_LABEL, "x", 1}};
	const CK_MECHANISM_TYPE crafted[6] = {
		CKA_WRAP_TEMPLATE, (CK_MECHANISM_TYPE)0x4141414141414000ULL, sizeof(CK_ATTRIBUTE),
		CKA_DERIVE_TEMPLATE, (CK_MECHANISM_TYPE)(uintptr_t)decoy, sizeof decoy,
	};
	const CK_ULONG order[6] = {3, 6, 1, 2, 4, 5};
	for (size_t i = 0; i < 6; i++) {
		CK_ULONG n = order[i];
		CK_OBJECT_HANDLE gen, made;
		CK_RV rv = gen_key(crafted, n * sizeof crafted[0], "crafted", &gen);
		ck_assert_msg(rv == CKR_OK || rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_MECHANISM_INVALID,
		              "C_GenerateKey: 0x%lx", (unsigned long)rv);
		if (rv == CKR_OK)
			assert_allowed(gen, crafted, n);
		rv = create_key(crafted, n * sizeof crafted[0], "crafted", &made);
		ck_assert_msg(rv == CKR_OK || rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_MECHANISM_INVALID,
		              "C_CreateObject: 0x%lx", (unsigned long)rv);
		if (rv == CKR_OK)
			assert_allowed(made, crafted, n);
		CK_ATTRIBUTE q = {CKA_ALLOWED_MECHANISMS, (void *)crafted, n * sizeof crafted[0]};
		ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &q, 1), CKR_OK);
		ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	}
	/* The same list inside a nested template (CKA_UNWRAP_TEMPLATE, which
	 * is followed) is still a list there. */
	CK_ATTRIBUTE inner[] = {{CKA_ALLOWED_MECHANISMS, (void *)crafted, 5 * sizeof crafted[0]}};
	CK_ATTRIBUTE q[] = {{CKA_UNWRAP_TEMPLATE, inner, sizeof inner}};
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, q, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
}
END_TEST

START_TEST(test_bad_length_refused)
{
	it_open(&t);
	const CK_ULONG bad[] = {1, sizeof(CK_MECHANISM_TYPE) - 1, sizeof(CK_MECHANISM_TYPE) + 1,
	                        2 * sizeof(CK_MECHANISM_TYPE) + 4, sizeof(CK_ATTRIBUTE) + 2};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CK_OBJECT_HANDLE key = 0;
		ck_assert_int_eq(gen_key(six, bad[i], "bad-length", &key), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(create_key(six, bad[i], "bad-length", &key), CKR_ATTRIBUTE_VALUE_INVALID);
		CK_ATTRIBUTE q = {CKA_ALLOWED_MECHANISMS, (void *)six, bad[i]};
		ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &q, 1), CKR_ATTRIBUTE_VALUE_INVALID);
		/* Inside a nested template as well. */
		CK_ATTRIBUTE nested = {CKA_WRAP_TEMPLATE, &q, sizeof q};
		ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &nested, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	}
	/* Nothing was made, and no search was left active. */
	ck_assert_uint_eq(count_label("bad-length"), 0);
	CK_OBJECT_HANDLE key;
	ck_assert_int_eq(gen_key(six, 2 * sizeof six[0], "good", &key), CKR_OK);
	CK_ATTRIBUTE set = {CKA_ALLOWED_MECHANISMS, (void *)six, 3};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, key, &set, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_allowed(key, six, 2);
}
END_TEST

/* A search value that claims more bytes than memory holds (the lengths
 * of a copy would wrap) is refused, not copied. */
START_TEST(test_search_lengths_that_wrap)
{
	it_open(&t);
	char label[8] = "x";
	CK_ATTRIBUTE huge[] = {{CKA_LABEL, label, CK_UNAVAILABLE_INFORMATION}, {CKA_ID, label, 64}};
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, huge, 2), CKR_ATTRIBUTE_VALUE_INVALID);
	/* No search was left active. */
	CK_ATTRIBUTE fine = {CKA_LABEL, label, 1};
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &fine, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("templates");
	TCase *tc = tcase_create("templates");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_one_to_six_mechanisms);
	tcase_add_test(tc, test_pointer_like_mechanisms_not_followed);
	tcase_add_test(tc, test_bad_length_refused);
	tcase_add_test(tc, test_search_lengths_that_wrap);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

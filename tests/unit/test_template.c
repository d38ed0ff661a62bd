/* Attribute templates: lookups, checks, and C_GetAttributeValue's rules. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"

START_TEST(test_find_and_typed_reads)
{
	CK_BBOOL yes = CK_TRUE, bad = 7;
	CK_ULONG cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{CKA_TOKEN, &bad, sizeof bad},
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes}, /* later entries win */
		{CKA_SENSITIVE, &bad, sizeof bad},
		{CKA_LABEL, "x", 2},
	};
	CK_BBOOL b;
	CK_ULONG u;
	bool present;
	ck_assert_ptr_eq(akm_template_find(t, 5, CKA_TOKEN), &t[2]);
	ck_assert_ptr_null(akm_template_find(t, 5, CKA_ID));
	ck_assert_ptr_null(akm_template_find(NULL, 0, CKA_ID));
	ck_assert_int_eq(akm_template_get_bool(t, 5, CKA_TOKEN, &b, &present), CKR_OK);
	ck_assert(present && b == CK_TRUE);
	ck_assert_int_eq(akm_template_get_bool(t, 5, CKA_SENSITIVE, &b, &present), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(akm_template_get_bool(t, 5, CKA_LABEL, &b, &present), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(akm_template_get_bool(t, 5, CKA_PRIVATE, &b, &present), CKR_OK);
	ck_assert(!present);
	ck_assert_int_eq(akm_template_get_ulong(t, 5, CKA_CLASS, &u, &present), CKR_OK);
	ck_assert(present && u == CKO_SECRET_KEY);
	ck_assert_int_eq(akm_template_get_ulong(t, 5, CKA_TOKEN, &u, &present), CKR_ATTRIBUTE_VALUE_INVALID);
}
END_TEST

START_TEST(test_check)
{
	CK_ATTRIBUTE ok[] = {{CKA_LABEL, "a", 1}, {CKA_ID, NULL, 0}};
	CK_ATTRIBUTE null_value[] = {{CKA_LABEL, NULL, 4}};
	ck_assert_int_eq(akm_template_check(ok, 2), CKR_OK);
	ck_assert_int_eq(akm_template_check(NULL, 0), CKR_OK);
	ck_assert_int_eq(akm_template_check(NULL, 1), CKR_ARGUMENTS_BAD);
	ck_assert_int_eq(akm_template_check(null_value, 1), CKR_ARGUMENTS_BAD);

	/* Nested templates: fine at depth 2, refused past the limit, and a
	 * length that is not a whole number of attributes is invalid. */
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE inner[] = {{CKA_ENCRYPT, &yes, 1}};
	CK_ATTRIBUTE outer[] = {{CKA_WRAP_TEMPLATE, inner, sizeof inner}};
	ck_assert_int_eq(akm_template_check(outer, 1), CKR_OK);
	CK_ATTRIBUTE odd[] = {{CKA_WRAP_TEMPLATE, inner, sizeof inner - 1}};
	ck_assert_int_eq(akm_template_check(odd, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE levels[AKM_TEMPLATE_MAX_DEPTH + 1][1];
	levels[0][0] = (CK_ATTRIBUTE){CKA_ENCRYPT, &yes, 1};
	for (int i = 1; i <= AKM_TEMPLATE_MAX_DEPTH; i++)
		levels[i][0] = (CK_ATTRIBUTE){CKA_WRAP_TEMPLATE, levels[i - 1], sizeof(CK_ATTRIBUTE)};
	ck_assert_int_eq(akm_template_check(levels[AKM_TEMPLATE_MAX_DEPTH - 1], 1), CKR_OK);
	ck_assert_int_eq(akm_template_check(levels[AKM_TEMPLATE_MAX_DEPTH], 1), CKR_ARGUMENTS_BAD);
	CK_ATTRIBUTE unwrap[] = {{CKA_UNWRAP_TEMPLATE, inner, sizeof inner - 1}};
	CK_ATTRIBUTE derive[] = {{CKA_DERIVE_TEMPLATE, inner, sizeof inner + 1}};
	ck_assert_int_eq(akm_template_check(unwrap, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(akm_template_check(derive, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	/* A nested template's bad entry is found at depth 2. */
	CK_ATTRIBUTE bad_inner[] = {{CKA_LABEL, NULL, 3}};
	CK_ATTRIBUTE outer_bad[] = {{CKA_DERIVE_TEMPLATE, bad_inner, sizeof bad_inner}};
	ck_assert_int_eq(akm_template_check(outer_bad, 1), CKR_ARGUMENTS_BAD);
}
END_TEST

/* CKA_ALLOWED_MECHANISMS carries CKF_ARRAY_ATTRIBUTE but is a list of
 * CK_MECHANISM_TYPE: any whole number of them is fine (a list of 1, 2, 4 or
 * 5 used to be refused as "not a whole number of attributes"), its values
 * are never followed, and a length that is not a multiple is invalid. */
START_TEST(test_allowed_mechanisms_is_a_list)
{
	CK_MECHANISM_TYPE mechs[8] = {CKM_AES_GCM, CKM_AES_KEY_WRAP_PAD, CKM_SHA256_HMAC, CKM_AES_CBC,
	                              CKM_AES_ECB, CKM_AES_CMAC, CKM_AES_CTR, CKM_AES_KEY_WRAP};
	for (CK_ULONG n = 0; n <= 8; n++) {
		CK_ATTRIBUTE a = {CKA_ALLOWED_MECHANISMS, mechs, n * sizeof(CK_MECHANISM_TYPE)};
		ck_assert_msg(akm_template_check(&a, 1) == CKR_OK, "%lu mechanisms", (unsigned long)n);
	}
	/* Values that look like pointers: to unmapped memory, to NULL-ish
	 * addresses, and to a real attribute array whose own pValue is garbage.
	 * None is dereferenced (under ASan a dereference would be reported). */
	CK_ATTRIBUTE decoy = {CKA_LABEL, (void *)(uintptr_t)0x10, 99};
	CK_MECHANISM_TYPE crafted[6] = {
		(CK_MECHANISM_TYPE)0x4141414141414141ULL, 0, (CK_MECHANISM_TYPE)0x8,
		(CK_MECHANISM_TYPE)(uintptr_t)&decoy, sizeof decoy, (CK_MECHANISM_TYPE)0xdeadbeefUL};
	for (CK_ULONG n = 1; n <= 6; n++) {
		CK_ATTRIBUTE a = {CKA_ALLOWED_MECHANISMS, crafted, n * sizeof(CK_MECHANISM_TYPE)};
		ck_assert_int_eq(akm_template_check(&a, 1), CKR_OK);
	}
	/* Bad lengths. */
	CK_ULONG bad[] = {1, sizeof(CK_MECHANISM_TYPE) - 1, sizeof(CK_MECHANISM_TYPE) + 1,
	                  sizeof(CK_ATTRIBUTE) + 1, 3 * sizeof(CK_MECHANISM_TYPE) - 2};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CK_ATTRIBUTE a = {CKA_ALLOWED_MECHANISMS, mechs, bad[i]};
		ck_assert_int_eq(akm_template_check(&a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	}
	/* Inside a nested template the same rules hold. */
	CK_ATTRIBUTE in_wrap[] = {{CKA_ALLOWED_MECHANISMS, crafted, 5 * sizeof(CK_MECHANISM_TYPE)}};
	CK_ATTRIBUTE wrap = {CKA_UNWRAP_TEMPLATE, in_wrap, sizeof in_wrap};
	ck_assert_int_eq(akm_template_check(&wrap, 1), CKR_OK);
	in_wrap[0].ulValueLen = 5;
	ck_assert_int_eq(akm_template_check(&wrap, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	/* Empty list, and a NULL value asking for nothing: fine. */
	CK_ATTRIBUTE empty[] = {{CKA_ALLOWED_MECHANISMS, mechs, 0}, {CKA_ALLOWED_MECHANISMS, NULL, 0}};
	ck_assert_int_eq(akm_template_check(empty, 2), CKR_OK);
}
END_TEST

/* A vendor-defined attribute with CKF_ARRAY_ATTRIBUTE is opaque: never
 * followed as a template (its layout is the vendor's), whatever its length. */
START_TEST(test_vendor_array_attribute_is_opaque)
{
	CK_MECHANISM_TYPE crafted[3] = {(CK_MECHANISM_TYPE)0x4141414141414141ULL, 1, 2};
	CK_ATTRIBUTE a = {CKA_VENDOR_DEFINED | CKF_ARRAY_ATTRIBUTE | 0x1234, crafted, sizeof(CK_ATTRIBUTE)};
	ck_assert_int_eq(akm_template_check(&a, 1), CKR_OK);
	a.ulValueLen = 7;
	ck_assert_int_eq(akm_template_check(&a, 1), CKR_OK);
	/* Still: a NULL value with a length is a bad argument. */
	CK_ATTRIBUTE null_value = {CKA_VENDOR_DEFINED | CKF_ARRAY_ATTRIBUTE | 0x1234, NULL, 24};
	ck_assert_int_eq(akm_template_check(&null_value, 1), CKR_ARGUMENTS_BAD);
}
END_TEST

static const CK_ULONG cls = CKO_SECRET_KEY;
static const akm_attr_value object[] = {
	{CKA_CLASS, &cls, sizeof cls, false},
	{CKA_LABEL, "relationship", 12, false},
	{CKA_VALUE, "secret-bytes", 12, true},
	{CKA_ID, "", 0, false},
};

START_TEST(test_fill_ok_and_length_query)
{
	CK_ULONG c = 0;
	char label[32];
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &c, sizeof c}, {CKA_LABEL, label, sizeof label}, {CKA_ID, NULL, 0}};
	ck_assert_int_eq(akm_template_fill(object, 4, t, 3), CKR_OK);
	ck_assert_uint_eq(c, CKO_SECRET_KEY);
	ck_assert_uint_eq(t[1].ulValueLen, 12);
	ck_assert(memcmp(label, "relationship", 12) == 0);
	ck_assert_uint_eq(t[2].ulValueLen, 0);

	CK_ATTRIBUTE q[] = {{CKA_LABEL, NULL, 0}};
	ck_assert_int_eq(akm_template_fill(object, 4, q, 1), CKR_OK);
	ck_assert_uint_eq(q[0].ulValueLen, 12);
	ck_assert_int_eq(akm_template_fill(object, 4, NULL, 1), CKR_ARGUMENTS_BAD);
}
END_TEST

START_TEST(test_fill_walks_every_entry_with_precedence)
{
	char small[4], label[32], value[32];
	CK_ULONG c = 0;
	/* One of each problem, and good entries before and after them. */
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &c, sizeof c},
		{CKA_LABEL, small, sizeof small},      /* too small */
		{CKA_MODULUS, value, sizeof value},    /* not an attribute of this object */
		{CKA_VALUE, value, sizeof value},      /* sensitive */
		{CKA_ID, label, sizeof label},
	};
	ck_assert_int_eq(akm_template_fill(object, 4, t, 5), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(c, CKO_SECRET_KEY);
	ck_assert_uint_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(t[4].ulValueLen, 0);

	/* Without the sensitive entry: type invalid wins over too small. */
	t[1].ulValueLen = sizeof small;
	t[2].ulValueLen = sizeof value;
	ck_assert_int_eq(akm_template_fill(object, 4, t, 3), CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_uint_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	/* Alone, too small is reported as such. */
	t[1].ulValueLen = sizeof small;
	ck_assert_int_eq(akm_template_fill(object, 4, &t[1], 1), CKR_BUFFER_TOO_SMALL);
	/* A sensitive value is not revealed even through a length query. */
	CK_ATTRIBUTE q = {CKA_VALUE, NULL, 0};
	ck_assert_int_eq(akm_template_fill(object, 4, &q, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(q.ulValueLen, CK_UNAVAILABLE_INFORMATION);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");
	tcase_add_test(tc, test_find_and_typed_reads);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_allowed_mechanisms_is_a_list);
	tcase_add_test(tc, test_vendor_array_attribute_is_opaque);
	tcase_add_test(tc, test_fill_ok_and_length_query);
	tcase_add_test(tc, test_fill_walks_every_entry_with_precedence);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

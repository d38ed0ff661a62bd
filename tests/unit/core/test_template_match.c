/* A search's match against an object the module holds itself
 * (akm_template_matches, src/core/template.c): every entry of the template
 * must be shown with exactly that value; sensitive values never match. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"

static const CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const uint8_t key_value[32] = {1, 2, 3};

/* An object like a relationship key's view (class_relationship.c). */
static const akm_attr_value object[] = {
	{CKA_CLASS, &cls, sizeof cls, false},
	{CKA_TOKEN, &yes, 1, false},
	{CKA_EXTRACTABLE, &no, 1, false},
	{CKA_LABEL, "pr-node-7/enc", 13, false},
	{CKA_ID, "\x00\x11\x22\x33", 4, false},
	{CKA_START_DATE, "", 0, false},
	{CKA_VALUE, key_value, sizeof key_value, true},
	{CKA_PRIVATE_EXPONENT, NULL, 0, true}, /* sensitive and empty */
};
#define NOBJ (sizeof object / sizeof object[0])

static bool matches(const CK_ATTRIBUTE *t, CK_ULONG n) { return akm_template_matches(object, NOBJ, t, n); }

START_TEST(test_empty_template_matches_all)
{
	ck_assert(akm_template_matches(object, NOBJ, NULL, 0));
	CK_ATTRIBUTE unused = {CKA_CLASS, NULL, 0};
	ck_assert(akm_template_matches(object, NOBJ, &unused, 0));
	/* Even an object with no attributes at all. */
	ck_assert(akm_template_matches(NULL, 0, NULL, 0));
	ck_assert(!akm_template_matches(NULL, 0, &unused, 1));
}
END_TEST

START_TEST(test_exact_values)
{
	CK_OBJECT_CLASS c = CKO_SECRET_KEY, other = CKO_DATA;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE one[] = {{CKA_CLASS, &c, sizeof c}};
	CK_ATTRIBUTE several[] = {{CKA_LABEL, "pr-node-7/enc", 13}, {CKA_TOKEN, &t, 1}, {CKA_CLASS, &c, sizeof c},
	                          {CKA_ID, "\x00\x11\x22\x33", 4}};
	ck_assert(matches(one, 1));
	ck_assert(matches(several, 4));
	CK_ATTRIBUTE wrong_class[] = {{CKA_CLASS, &other, sizeof other}};
	ck_assert(!matches(wrong_class, 1));
	CK_ATTRIBUTE wrong_bool[] = {{CKA_TOKEN, &f, 1}};
	ck_assert(!matches(wrong_bool, 1));
	/* One entry of several differs: no match, wherever it is. */
	for (CK_ULONG i = 0; i < 4; i++) {
		CK_ATTRIBUTE t4[4];
		memcpy(t4, several, sizeof t4);
		char bad[16];
		memcpy(bad, t4[i].pValue, t4[i].ulValueLen);
		bad[t4[i].ulValueLen - 1] ^= 0x40;
		t4[i].pValue = bad;
		ck_assert_msg(!matches(t4, 4), "entry %lu differs but matches", i);
	}
}
END_TEST

START_TEST(test_absent_attribute)
{
	CK_ATTRIBUTE absent[] = {{CKA_SUBJECT, "x", 1}};
	ck_assert(!matches(absent, 1));
	CK_ATTRIBUTE absent_empty[] = {{CKA_SUBJECT, NULL, 0}};
	ck_assert(!matches(absent_empty, 1)); /* not there is not "empty" */
	CK_OBJECT_CLASS c = CKO_SECRET_KEY;
	CK_ATTRIBUTE with_absent[] = {{CKA_CLASS, &c, sizeof c}, {CKA_MODULUS, "\x01", 1}};
	ck_assert(!matches(with_absent, 2));
}
END_TEST

START_TEST(test_length_mismatch)
{
	/* A prefix, the value with a byte more, and a length claimed longer
	 * than the object's value: none is the value. */
	char longer[14];
	memcpy(longer, "pr-node-7/enc", 13);
	longer[13] = '\0';
	CK_ATTRIBUTE prefix[] = {{CKA_LABEL, "pr-node-7", 9}};
	CK_ATTRIBUTE plus_one[] = {{CKA_LABEL, longer, 14}};
	CK_ATTRIBUTE empty[] = {{CKA_LABEL, "", 0}};
	CK_ATTRIBUTE right[] = {{CKA_LABEL, longer, 13}};
	ck_assert(!matches(prefix, 1));
	ck_assert(!matches(plus_one, 1));
	ck_assert(!matches(empty, 1));
	ck_assert(matches(right, 1));
	/* A CK_ULONG attribute given as one byte. */
	CK_BYTE small = CKO_SECRET_KEY;
	CK_ATTRIBUTE short_class[] = {{CKA_CLASS, &small, 1}};
	ck_assert(!matches(short_class, 1));
	/* A length of CK_UNAVAILABLE_INFORMATION (left over from a failed
	 * C_GetAttributeValue) matches nothing, and reads nothing. */
	CK_ATTRIBUTE unavailable[] = {{CKA_LABEL, NULL, CK_UNAVAILABLE_INFORMATION}};
	ck_assert(!matches(unavailable, 1));
}
END_TEST

START_TEST(test_empty_values)
{
	/* An empty value matches an empty template entry, with or without a
	 * pointer; not a non-empty one. */
	CK_ATTRIBUTE null_ptr[] = {{CKA_START_DATE, NULL, 0}};
	CK_ATTRIBUTE empty_str[] = {{CKA_START_DATE, "", 0}};
	CK_ATTRIBUTE date[] = {{CKA_START_DATE, "20240101", 8}};
	ck_assert(matches(null_ptr, 1));
	ck_assert(matches(empty_str, 1));
	ck_assert(!matches(date, 1));
}
END_TEST

START_TEST(test_sensitive_never_matches)
{
	/* Not with the right value, not with a wrong one, not with an empty
	 * one: a search must not be an oracle for a key's value. */
	CK_ATTRIBUTE right[] = {{CKA_VALUE, (void *)key_value, sizeof key_value}};
	uint8_t wrong_value[32] = {9};
	CK_ATTRIBUTE wrong[] = {{CKA_VALUE, wrong_value, sizeof wrong_value}};
	CK_ATTRIBUTE length_only[] = {{CKA_VALUE, NULL, 0}};
	ck_assert(!matches(right, 1));
	ck_assert(!matches(wrong, 1));
	ck_assert(!matches(length_only, 1));
	/* A sensitive attribute with an empty value, searched as empty. */
	CK_ATTRIBUTE empty_sensitive[] = {{CKA_PRIVATE_EXPONENT, NULL, 0}};
	ck_assert(!matches(empty_sensitive, 1));
	/* Alongside entries that do match. */
	CK_OBJECT_CLASS c = CKO_SECRET_KEY;
	CK_ATTRIBUTE mixed[] = {{CKA_CLASS, &c, sizeof c}, {CKA_VALUE, (void *)key_value, sizeof key_value}};
	ck_assert(!matches(mixed, 2));
}
END_TEST

START_TEST(test_duplicate_entries)
{
	/* Unlike akm_template_find (the last entry of a type wins), a search
	 * asks for every entry: the same value twice matches, two different
	 * values match nothing, in either order. */
	CK_ATTRIBUTE same[] = {{CKA_LABEL, "pr-node-7/enc", 13}, {CKA_LABEL, "pr-node-7/enc", 13}};
	CK_ATTRIBUTE last_right[] = {{CKA_LABEL, "other", 5}, {CKA_LABEL, "pr-node-7/enc", 13}};
	CK_ATTRIBUTE first_right[] = {{CKA_LABEL, "pr-node-7/enc", 13}, {CKA_LABEL, "other", 5}};
	ck_assert(matches(same, 2));
	ck_assert(!matches(last_right, 2));
	ck_assert(!matches(first_right, 2));
	ck_assert_ptr_eq(akm_template_find(last_right, 2, CKA_LABEL), &last_right[1]);
}
END_TEST

START_TEST(test_object_order_irrelevant)
{
	/* The object's attributes in any order, the template's in any order. */
	CK_OBJECT_CLASS c = CKO_SECRET_KEY;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &t, 1}, {CKA_ID, "\x00\x11\x22\x33", 4}, {CKA_CLASS, &c, sizeof c}};
	akm_attr_value reversed[NOBJ];
	for (size_t i = 0; i < NOBJ; i++)
		reversed[i] = object[NOBJ - 1 - i];
	ck_assert(akm_template_matches(reversed, NOBJ, tmpl, 3));
	ck_assert(akm_template_matches(object, NOBJ, tmpl, 3));
	/* Only the object's first three attributes: CKA_ID is not there. */
	ck_assert(!akm_template_matches(object, 3, tmpl, 3));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-template-match");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, test_empty_template_matches_all);
	tcase_add_test(tc, test_exact_values);
	tcase_add_test(tc, test_absent_attribute);
	tcase_add_test(tc, test_length_mismatch);
	tcase_add_test(tc, test_empty_values);
	tcase_add_test(tc, test_sensitive_never_matches);
	tcase_add_test(tc, test_duplicate_entries);
	tcase_add_test(tc, test_object_order_irrelevant);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

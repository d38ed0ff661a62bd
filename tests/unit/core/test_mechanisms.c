/* The vendor mechanisms' table (src/core/mechanisms.c): each one's
 * information and the call it handles, nothing for any other type, and the
 * refusals each handler makes before it needs a token (the rest is
 * tests/integration/test_relationships.c and test_provisioning.c). */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "core/mechanisms.h"

START_TEST(test_table)
{
	const akm_vendor_mechanism *gen = akm_vendor_mechanism_find(CKM_AKM_RELATIONSHIP_GEN);
	const akm_vendor_mechanism *batch = akm_vendor_mechanism_find(CKM_AKM_RELATIONSHIP_BATCH_GEN);
	const akm_vendor_mechanism *exp = akm_vendor_mechanism_find(CKM_AKM_EXPORT_WRAP);
	ck_assert_ptr_nonnull(gen);
	ck_assert_ptr_nonnull(batch);
	ck_assert_ptr_nonnull(exp);
	ck_assert_uint_eq(gen->type, 0x8A4B4D01UL);
	ck_assert_uint_eq(batch->type, 0x8A4B4D02UL);
	ck_assert_uint_eq(exp->type, 0x8A4B4D03UL);
	/* C_GenerateKey makes AES-256 and HMAC keys of 32 bytes; C_WrapKey
	 * exports those. */
	ck_assert_uint_eq(gen->info.ulMinKeySize, 32);
	ck_assert_uint_eq(gen->info.ulMaxKeySize, 32);
	ck_assert_uint_eq(gen->info.flags, CKF_GENERATE);
	ck_assert_uint_eq(batch->info.ulMinKeySize, 32);
	ck_assert_uint_eq(batch->info.ulMaxKeySize, 32);
	ck_assert_uint_eq(batch->info.flags, CKF_GENERATE);
	ck_assert_uint_eq(exp->info.ulMinKeySize, 32);
	ck_assert_uint_eq(exp->info.ulMaxKeySize, 32);
	ck_assert_uint_eq(exp->info.flags, CKF_WRAP);
	/* Each handles exactly the call its flags say. */
	ck_assert_ptr_nonnull(gen->generate);
	ck_assert_ptr_null(gen->wrap);
	ck_assert_ptr_nonnull(batch->generate);
	ck_assert_ptr_null(batch->wrap);
	ck_assert_ptr_null(exp->generate);
	ck_assert_ptr_nonnull(exp->wrap);
	ck_assert_ptr_ne((void *)gen->generate, (void *)batch->generate);
	/* The station's ASR mechanisms: each handles the one call its flag
	 * says. */
	const struct { CK_MECHANISM_TYPE type; CK_FLAGS flag; } asr[] = {
		{CKM_AKM_ASR_GEN, CKF_GENERATE}, {CKM_AKM_ASR_PACKAGE, CKF_WRAP},
		{CKM_AKM_ASR_UPDATE, CKF_DERIVE}, {CKM_AKM_ASR_REKEY_MESSAGE, CKF_WRAP},
	};
	for (size_t i = 0; i < sizeof asr / sizeof asr[0]; i++) {
		const akm_vendor_mechanism *v = akm_vendor_mechanism_find(asr[i].type);
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(v->info.flags, asr[i].flag);
		ck_assert((v->generate != NULL) == (asr[i].flag == CKF_GENERATE));
		ck_assert((v->wrap != NULL) == (asr[i].flag == CKF_WRAP));
		ck_assert((v->derive != NULL) == (asr[i].flag == CKF_DERIVE));
	}
}
END_TEST

START_TEST(test_others_are_not_vendor_mechanisms)
{
	const CK_MECHANISM_TYPE others[] = {
		0, CKM_AES_KEY_GEN, CKM_AES_GCM, CKM_AES_KEY_WRAP_PAD, CKM_SHA256_HMAC, CKM_ECDH1_DERIVE,
		CKM_VENDOR_DEFINED, CKM_AKM_BASE, CKM_AKM_BASE + 0x40, CKM_AKM_BASE + 0xff, CKM_AKM_BASE + 0x101,
		CKM_AKM_RELATIONSHIP_GEN & ~CKM_VENDOR_DEFINED, /* the same number without the vendor bit */
		ULONG_MAX,
	};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		ck_assert_msg(akm_vendor_mechanism_find(others[i]) == NULL, "0x%lx found", others[i]);
}
END_TEST

/* A call's state with no backend, session or registry: the refusals below
 * come before any of them is needed. */
static akm_call call_ro(void)
{
	akm_call c;
	memset(&c, 0, sizeof c);
	return c;
}

START_TEST(test_generate_one_refusals)
{
	const akm_vendor_mechanism *gen = akm_vendor_mechanism_find(CKM_AKM_RELATIONSHIP_GEN);
	akm_call c = call_ro();
	CK_ULONG p = 0;
	CK_OBJECT_HANDLE out = 0;
	CK_MECHANISM with_param = {CKM_AKM_RELATIONSHIP_GEN, &p, sizeof p};
	CK_MECHANISM with_len = {CKM_AKM_RELATIONSHIP_GEN, NULL, 4};
	CK_MECHANISM with_ptr = {CKM_AKM_RELATIONSHIP_GEN, &p, 0};
	CK_MECHANISM none = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	ck_assert_int_eq(gen->generate(&c, &with_param, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(gen->generate(&c, &with_len, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(gen->generate(&c, &with_ptr, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	/* A read-only session: nothing is made. */
	ck_assert_int_eq(gen->generate(&c, &none, NULL, 0, &out), CKR_SESSION_READ_ONLY);
	ck_assert_uint_eq(out, 0);
}
END_TEST

START_TEST(test_generate_batch_refusals)
{
	const akm_vendor_mechanism *batch = akm_vendor_mechanism_find(CKM_AKM_RELATIONSHIP_BATCH_GEN);
	akm_call c = call_ro();
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE t0[] = {{CKA_AKM_KIND, &kind, sizeof kind}};
	CK_ATTRIBUTE bad_t[] = {{CKA_LABEL, NULL, 3}}; /* a NULL value with a length */
	CK_ATTRIBUTE *tmpls[2] = {t0, t0};
	CK_ULONG counts[2] = {1, 1};
	CK_OBJECT_HANDLE keys[2] = {0, 0}, out = 0;
	CK_AKM_BATCH_GEN_PARAMS ok = {2, tmpls, counts, keys};
	CK_MECHANISM m = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &ok, sizeof ok};

	/* The parameter: missing, the wrong size, no or too many templates,
	 * a NULL array. */
	CK_MECHANISM no_param = {CKM_AKM_RELATIONSHIP_BATCH_GEN, NULL, 0};
	CK_MECHANISM short_param = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &ok, sizeof ok - 1};
	ck_assert_int_eq(batch->generate(&c, &no_param, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(batch->generate(&c, &short_param, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	CK_AKM_BATCH_GEN_PARAMS p;
	CK_MECHANISM mp = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &p, sizeof p};
	const CK_ULONG bad_counts[] = {0, AKM_BATCH_MAX + 1, ULONG_MAX};
	for (size_t i = 0; i < 3; i++) {
		p = ok;
		p.ulCount = bad_counts[i];
		ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	}
	p = ok;
	p.ppTemplates = NULL;
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	p = ok;
	p.pulTemplateCounts = NULL;
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	p = ok;
	p.phKeys = NULL;
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_MECHANISM_PARAM_INVALID);
	/* C_GenerateKey's own template must be empty. */
	ck_assert_int_eq(batch->generate(&c, &m, t0, 1, &out), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_int_eq(batch->generate(&c, &m, NULL, 1, &out), CKR_TEMPLATE_INCONSISTENT);
	/* Each template is checked as C_GenerateKey's own would be. */
	p = ok;
	tmpls[1] = bad_t;
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_ARGUMENTS_BAD);
	tmpls[1] = NULL; /* no template, but a count */
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_ARGUMENTS_BAD);
	tmpls[1] = t0;
	/* Then a read-only session. */
	ck_assert_int_eq(batch->generate(&c, &m, NULL, 0, &out), CKR_SESSION_READ_ONLY);
	ck_assert_uint_eq(out, 0);
	ck_assert_uint_eq(keys[0], 0);
	ck_assert_uint_eq(keys[1], 0);
	/* The largest batch gets as far as the session check. */
	p = ok;
	p.ulCount = AKM_BATCH_MAX;
	CK_ATTRIBUTE **many = calloc(AKM_BATCH_MAX, sizeof *many);
	CK_ULONG *many_counts = calloc(AKM_BATCH_MAX, sizeof *many_counts);
	CK_OBJECT_HANDLE *many_keys = calloc(AKM_BATCH_MAX, sizeof *many_keys);
	ck_assert(many && many_counts && many_keys);
	for (CK_ULONG i = 0; i < AKM_BATCH_MAX; i++) {
		many[i] = t0;
		many_counts[i] = 1;
	}
	p.ppTemplates = many;
	p.pulTemplateCounts = many_counts;
	p.phKeys = many_keys;
	ck_assert_int_eq(batch->generate(&c, &mp, NULL, 0, &out), CKR_SESSION_READ_ONLY);
	free(many);
	free(many_counts);
	free(many_keys);
}
END_TEST

START_TEST(test_export_wrap_refusals)
{
	const akm_vendor_mechanism *exp = akm_vendor_mechanism_find(CKM_AKM_EXPORT_WRAP);
	akm_call c = call_ro();
	CK_BYTE point[65], key[32], out[80];
	CK_ULONG len = 0;
	CK_AKM_EXPORT_WRAP_PARAMS node = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, point, sizeof point};
	CK_AKM_EXPORT_WRAP_PARAMS pass = {CKV_AKM_EXPORT_PASSPHRASE, key, sizeof key, NULL, 0};
	CK_MECHANISM m = {CKM_AKM_EXPORT_WRAP, &node, sizeof node};
	CK_MECHANISM mp = {CKM_AKM_EXPORT_WRAP, &pass, sizeof pass};

	/* A wrapping key of the caller's: refused first, whatever else. */
	CK_MECHANISM none = {CKM_AKM_EXPORT_WRAP, NULL, 0};
	ck_assert_int_eq(exp->wrap(&c, &m, 1, 0x40000001UL, out, &len), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(exp->wrap(&c, &mp, 0x40000002UL, 0x40000001UL, NULL, &len), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(exp->wrap(&c, &none, 7, 0x40000001UL, out, &len), CKR_WRAPPING_KEY_HANDLE_INVALID);

	/* No parameter, one of the wrong size, an unknown mode, fields that do
	 * not belong to the mode or are too short. */
	CK_ULONG p = 0;
	CK_MECHANISM with_ulong = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	CK_MECHANISM with_len = {CKM_AKM_EXPORT_WRAP, NULL, 1};
	CK_MECHANISM longer = {CKM_AKM_EXPORT_WRAP, &node, sizeof node + 1};
	ck_assert_int_eq(exp->wrap(&c, &none, CK_INVALID_HANDLE, 0x40000001UL, NULL, &len), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(exp->wrap(&c, &with_ulong, CK_INVALID_HANDLE, 0x40000001UL, NULL, &len),
	                 CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(exp->wrap(&c, &with_len, CK_INVALID_HANDLE, 0x40000001UL, NULL, &len), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(exp->wrap(&c, &longer, CK_INVALID_HANDLE, 0x40000001UL, NULL, &len), CKR_MECHANISM_PARAM_INVALID);
	const CK_AKM_EXPORT_WRAP_PARAMS bad[] = {
		{0, NULL, 0, point, 65},
		{3, NULL, 0, point, 65},
		{ULONG_MAX, key, 32, NULL, 0},
		{CKV_AKM_EXPORT_NODE_KEY, key, 32, point, 65},
		{CKV_AKM_EXPORT_NODE_KEY, NULL, 32, point, 65},
		{CKV_AKM_EXPORT_NODE_KEY, NULL, 0, NULL, 65},
		{CKV_AKM_EXPORT_NODE_KEY, NULL, 0, point, 64},
		{CKV_AKM_EXPORT_PASSPHRASE, NULL, 32, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, key, 0, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, key, 16, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, key, 64, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, key, 32, point, 65},
		{CKV_AKM_EXPORT_PASSPHRASE, key, 32, NULL, 65},
	};
	CK_AKM_EXPORT_WRAP_PARAMS b;
	CK_MECHANISM mb = {CKM_AKM_EXPORT_WRAP, &b, sizeof b};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = bad[i];
		ck_assert_msg(exp->wrap(&c, &mb, CK_INVALID_HANDLE, 0x40000001UL, out, &len) == CKR_MECHANISM_PARAM_INVALID,
		              "parameter %zu", i);
	}
	ck_assert_uint_eq(len, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-mechanisms");
	TCase *tc = tcase_create("mechanisms");
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_others_are_not_vendor_mechanisms);
	tcase_add_test(tc, test_generate_one_refusals);
	tcase_add_test(tc, test_generate_batch_refusals);
	tcase_add_test(tc, test_export_wrap_refusals);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

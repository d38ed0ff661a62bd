/* Which class a handle names (src/core/objects.c, core/object.h): the
 * ranges' boundaries, the class tables' shape, and which of the module's
 * own classes claims a template (and in what order they are asked). */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "core/object.h"

START_TEST(test_handle_ranges)
{
	const struct {
		CK_OBJECT_HANDLE h;
		const akm_object_class *cls;
	} cases[] = {
		{0, &akm_class_backend}, /* CK_INVALID_HANDLE: nothing of ours */
		{1, &akm_class_backend},
		{AKM_AUDIT_HANDLE_BASE - 1, &akm_class_backend},
		{AKM_AUDIT_HANDLE_BASE, &akm_class_backend}, /* audit record 0 does not exist */
		{AKM_AUDIT_HANDLE_BASE + 1, &akm_class_audit},
		{AKM_AUDIT_HANDLE_BASE + 2, &akm_class_audit},
		{AKM_REGISTRY_HANDLE_BASE - 1, &akm_class_audit},
		{AKM_REGISTRY_HANDLE_BASE, &akm_class_audit}, /* the highest audit record */
		{AKM_REGISTRY_HANDLE_BASE + 1, &akm_class_relationship}, /* key id 1 */
		{AKM_REGISTRY_HANDLE_BASE + 2, &akm_class_relationship},
		{(CK_OBJECT_HANDLE)UINT32_MAX, &akm_class_relationship},
		{ULONG_MAX - 1, &akm_class_relationship},
		{ULONG_MAX, &akm_class_relationship},
	};
	ck_assert_uint_lt(AKM_AUDIT_HANDLE_BASE, AKM_REGISTRY_HANDLE_BASE);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const akm_object_class *got = akm_object_class_of(cases[i].h);
		ck_assert_msg(got == cases[i].cls, "handle 0x%lx: %s, expected %s", cases[i].h, got ? got->name : "NULL",
		              cases[i].cls->name);
		/* The macros the entry layer may use agree with the function. */
		ck_assert_int_eq(AKM_IS_REGISTRY_HANDLE(cases[i].h), cases[i].cls == &akm_class_relationship);
		ck_assert_int_eq(AKM_IS_AUDIT_HANDLE(cases[i].h), cases[i].cls == &akm_class_audit);
		ck_assert(!(AKM_IS_REGISTRY_HANDLE(cases[i].h) && AKM_IS_AUDIT_HANDLE(cases[i].h)));
	}
}
END_TEST

START_TEST(test_class_tables)
{
	const akm_object_class *all[] = {&akm_class_backend, &akm_class_relationship, &akm_class_audit};
	for (size_t i = 0; i < 3; i++) {
		const akm_object_class *c = all[i];
		/* Every entry point may call these without asking what the handle is. */
		ck_assert_ptr_nonnull(c->name);
		ck_assert_ptr_nonnull(c->get_attributes);
		ck_assert_ptr_nonnull(c->set_attributes);
		ck_assert_ptr_nonnull(c->size);
		ck_assert_ptr_nonnull(c->destroy);
		ck_assert_ptr_nonnull(c->copy);
		ck_assert_ptr_nonnull(c->use);
		for (size_t j = i + 1; j < 3; j++)
			ck_assert_str_ne(c->name, all[j]->name);
	}
	/* The backend's objects: passed through, nothing of the module's own. */
	ck_assert_ptr_null(akm_class_backend.lost);
	ck_assert_ptr_null(akm_class_backend.check_failed);
	ck_assert_ptr_null(akm_class_backend.claims);
	ck_assert_ptr_null(akm_class_backend.create);
	ck_assert_ptr_null(akm_class_backend.find);
	ck_assert_ptr_null(akm_class_backend.export);
	/* Only relationship keys are exported, lost with the module's session,
	 * or a breach signal when a check with them fails; they are made by the
	 * vendor mechanisms, not C_CreateObject. */
	ck_assert_ptr_nonnull(akm_class_relationship.export);
	ck_assert_ptr_nonnull(akm_class_relationship.lost);
	ck_assert_ptr_nonnull(akm_class_relationship.check_failed);
	ck_assert_ptr_null(akm_class_relationship.create);
	ck_assert_ptr_null(akm_class_audit.export);
	ck_assert_ptr_null(akm_class_audit.lost);
	ck_assert_ptr_nonnull(akm_class_audit.create); /* an application's record */
	/* The held classes: each claims and searches (find.c calls both). */
	ck_assert_uint_eq(akm_held_class_count, 2);
	for (size_t i = 0; i < akm_held_class_count; i++) {
		ck_assert_ptr_nonnull(akm_held_classes[i]->claims);
		ck_assert_ptr_nonnull(akm_held_classes[i]->find);
		ck_assert_ptr_ne(akm_held_classes[i], &akm_class_backend);
	}
}
END_TEST

START_TEST(test_claims_and_their_order)
{
	CK_OBJECT_CLASS audit = CKO_AKM_AUDIT_RECORD, secret = CKO_SECRET_KEY;
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE records[] = {{CKA_CLASS, &audit, sizeof audit}};
	CK_ATTRIBUTE records_of[] = {{CKA_CLASS, &audit, sizeof audit}, {CKA_AKM_RELATIONSHIP_ID, "\x00\x11", 2}};
	CK_ATTRIBUTE keys_of[] = {{CKA_AKM_RELATIONSHIP_ID, "\x00\x11", 2}};
	CK_ATTRIBUTE by_kind[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_AKM_KIND, &kind, sizeof kind}};
	CK_ATTRIBUTE plain[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_LABEL, "x", 1}};
	CK_ATTRIBUTE audit_class_short[] = {{CKA_CLASS, &audit, 4}}; /* not a CK_ULONG */
	ck_assert(akm_class_audit.claims(records, 1));
	ck_assert(akm_class_audit.claims(records_of, 2));
	ck_assert(!akm_class_audit.claims(keys_of, 1));
	ck_assert(!akm_class_audit.claims(plain, 2));
	ck_assert(!akm_class_audit.claims(NULL, 0));
	ck_assert(!akm_class_audit.claims(audit_class_short, 1));
	ck_assert(akm_class_relationship.claims(keys_of, 1));
	ck_assert(akm_class_relationship.claims(by_kind, 2));
	ck_assert(!akm_class_relationship.claims(plain, 2));
	ck_assert(!akm_class_relationship.claims(records, 1));
	ck_assert(!akm_class_relationship.claims(NULL, 0));
	/* Records of one relationship name an AKM attribute too: both claim
	 * them, so the audit class must be asked first. */
	ck_assert(akm_class_relationship.claims(records_of, 2));
	ck_assert_ptr_eq(akm_held_classes[0], &akm_class_audit);
	ck_assert_ptr_eq(akm_held_classes[1], &akm_class_relationship);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core-objects");
	TCase *tc = tcase_create("objects");
	tcase_add_test(tc, test_handle_ranges);
	tcase_add_test(tc, test_class_tables);
	tcase_add_test(tc, test_claims_and_their_order);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

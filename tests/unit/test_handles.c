/* The object handle table: our handles <-> (slot, backend handle). */
#include <check.h>
#include <stdlib.h>

#include "core/handles.h"

START_TEST(test_intern_is_stable_and_per_slot)
{
	akm_handle_table t;
	ck_assert_int_eq(akm_handles_init(&t, 2), CKR_OK);
	CK_OBJECT_HANDLE a = akm_handles_intern(&t, 0, 100, 0);
	CK_OBJECT_HANDLE b = akm_handles_intern(&t, 1, 100, 0); /* same backend value, other slot */
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(b, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(akm_handles_intern(&t, 0, 100, 0), a);
	akm_object *obj = akm_handles_lookup(&t, a);
	ck_assert_ptr_nonnull(obj);
	ck_assert_uint_eq(obj->backend, 100);
	ck_assert_uint_eq(obj->slot, 0);
	ck_assert_ptr_null(akm_handles_lookup(&t, 0));
	ck_assert_ptr_null(akm_handles_lookup(&t, 0xdeadbeef));
	ck_assert_uint_eq(akm_handles_intern(&t, 7, 1, 0), 0); /* no such slot */
	akm_handles_free(&t);
}
END_TEST

START_TEST(test_handles_never_reused)
{
	akm_handle_table t;
	ck_assert_int_eq(akm_handles_init(&t, 1), CKR_OK);
	CK_OBJECT_HANDLE a = akm_handles_intern(&t, 0, 5, 0);
	akm_handles_remove(&t, a);
	ck_assert_ptr_null(akm_handles_lookup(&t, a));
	CK_OBJECT_HANDLE b = akm_handles_intern(&t, 0, 5, 0);
	ck_assert_uint_ne(a, b); /* a stale handle never names the new object */
	ck_assert_ptr_null(akm_handles_lookup(&t, a));
	akm_handles_free(&t);
}
END_TEST

START_TEST(test_session_objects_go_with_their_session)
{
	akm_handle_table t;
	ck_assert_int_eq(akm_handles_init(&t, 1), CKR_OK);
	CK_OBJECT_HANDLE token = akm_handles_intern(&t, 0, 1, 0);
	CK_OBJECT_HANDLE s1[50], s2[50];
	for (int i = 0; i < 50; i++) {
		s1[i] = akm_handles_intern(&t, 0, 100 + i, 11);
		s2[i] = akm_handles_intern(&t, 0, 200 + i, 12);
	}
	/* Remove some from the middle, the head and the tail of session 11's list. */
	akm_handles_remove(&t, s1[0]);
	akm_handles_remove(&t, s1[25]);
	akm_handles_remove(&t, s1[49]);
	ck_assert_uint_eq(akm_handles_count(&t), 1 + 47 + 50);
	akm_handles_remove_owned(&t, 11);
	for (int i = 0; i < 50; i++) {
		ck_assert_ptr_null(akm_handles_lookup(&t, s1[i]));
		ck_assert_ptr_nonnull(akm_handles_lookup(&t, s2[i]));
	}
	ck_assert_ptr_nonnull(akm_handles_lookup(&t, token));
	ck_assert_uint_eq(akm_handles_count(&t), 51);
	/* The backend handle of a forgotten object gets a fresh handle. */
	CK_OBJECT_HANDLE again = akm_handles_intern(&t, 0, 101, 0);
	ck_assert_uint_ne(again, s1[1]);
	akm_handles_remove_owned(&t, 99); /* unknown session: nothing happens */
	ck_assert_uint_eq(akm_handles_count(&t), 52);
	akm_handles_free(&t);
}
END_TEST

START_TEST(test_remove_slot)
{
	akm_handle_table t;
	ck_assert_int_eq(akm_handles_init(&t, 2), CKR_OK);
	CK_OBJECT_HANDLE keep = akm_handles_intern(&t, 1, 1, 0);
	for (int i = 0; i < 1000; i++)
		akm_handles_intern(&t, 0, 10 + i, i % 2 ? 3 : 0);
	akm_handles_remove_slot(&t, 0);
	ck_assert_uint_eq(akm_handles_count(&t), 1);
	ck_assert_ptr_nonnull(akm_handles_lookup(&t, keep));
	akm_handles_remove_owned(&t, 3); /* its objects are gone already */
	ck_assert_uint_eq(akm_handles_count(&t), 1);
	akm_handles_free(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("handles");
	TCase *tc = tcase_create("handles");
	tcase_add_test(tc, test_intern_is_stable_and_per_slot);
	tcase_add_test(tc, test_handles_never_reused);
	tcase_add_test(tc, test_session_objects_go_with_their_session);
	tcase_add_test(tc, test_remove_slot);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

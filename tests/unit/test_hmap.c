/* The hash map under the handle and session tables. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/hmap.h"

static void *val(uint64_t k) { return (void *)(uintptr_t)(k * 2 + 1); }

START_TEST(test_put_get_replace)
{
	akm_hmap m;
	akm_hmap_init(&m);
	ck_assert_ptr_null(akm_hmap_get(&m, 1));
	ck_assert_int_eq(akm_hmap_put(&m, 1, val(1)), CKR_OK);
	ck_assert_ptr_eq(akm_hmap_get(&m, 1), val(1));
	ck_assert_int_eq(akm_hmap_put(&m, 1, val(7)), CKR_OK);
	ck_assert_ptr_eq(akm_hmap_get(&m, 1), val(7));
	ck_assert_uint_eq(m.count, 1);
	ck_assert_int_eq(akm_hmap_put(&m, 2, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(m.count, 1);
	akm_hmap_clear(&m);
	ck_assert_uint_eq(m.count, 0);
}
END_TEST

START_TEST(test_remove_keeps_probe_runs_intact)
{
	/* Many keys with deletions in between: every survivor must remain
	 * findable (backward-shift deletion), removed keys must be gone. */
	akm_hmap m;
	akm_hmap_init(&m);
	const uint64_t n = 20000;
	for (uint64_t k = 1; k <= n; k++)
		ck_assert_int_eq(akm_hmap_put(&m, k, val(k)), CKR_OK);
	for (uint64_t k = 1; k <= n; k += 3)
		ck_assert_ptr_eq(akm_hmap_remove(&m, k), val(k));
	ck_assert_ptr_null(akm_hmap_remove(&m, 1)); /* twice */
	for (uint64_t k = 1; k <= n; k++) {
		if (k % 3 == 1)
			ck_assert_ptr_null(akm_hmap_get(&m, k));
		else
			ck_assert_ptr_eq(akm_hmap_get(&m, k), val(k));
	}
	ck_assert_uint_eq(m.count, n - (n + 2) / 3);
	akm_hmap_clear(&m);
}
END_TEST

START_TEST(test_random_against_reference)
{
	/* Random operations checked against a plain array. */
	enum { KEYS = 512 };
	void *ref[KEYS] = {0};
	akm_hmap m;
	akm_hmap_init(&m);
	srand(42);
	for (int i = 0; i < 200000; i++) {
		uint64_t k = (uint64_t)(rand() % KEYS);
		/* Spread keys so they share home places in small tables. */
		uint64_t key = k * 1024;
		if (rand() % 2) {
			ck_assert_int_eq(akm_hmap_put(&m, key, val(k + i)), CKR_OK);
			ref[k] = val(k + i);
		} else {
			ck_assert_ptr_eq(akm_hmap_remove(&m, key), ref[k]);
			ref[k] = NULL;
		}
	}
	size_t live = 0;
	for (uint64_t k = 0; k < KEYS; k++) {
		ck_assert_ptr_eq(akm_hmap_get(&m, k * 1024), ref[k]);
		live += ref[k] != NULL;
	}
	ck_assert_uint_eq(m.count, live);
	size_t cursor = 0, seen = 0;
	uint64_t key;
	void *v;
	while ((v = akm_hmap_next(&m, &cursor, &key)) != NULL) {
		ck_assert_ptr_eq(v, ref[key / 1024]);
		seen++;
	}
	ck_assert_uint_eq(seen, live);
	akm_hmap_clear(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");
	tcase_add_test(tc, test_put_get_replace);
	tcase_add_test(tc, test_remove_keeps_probe_runs_intact);
	tcase_add_test(tc, test_random_against_reference);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

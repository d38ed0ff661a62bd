/* The cache of unwrapped relationship keys (src/akm/cache.c): least
 * recently used order and eviction at its size, every way an entry leaves
 * (each backend object goes to the destroy callback exactly once), states,
 * lookups by backend handle.  No backend: the destroy callback records what
 * it is given. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "akm/cache.h"

/* ---- the destroy callback, and a look at the cache's insides ---- */

#define RECORD_MAX 4096
static struct {
	CK_OBJECT_HANDLE h[RECORD_MAX];
	size_t n;
} destroyed_log;

static void record_destroy(void *ctx, CK_OBJECT_HANDLE backend)
{
	ck_assert_ptr_eq(ctx, &destroyed_log);
	ck_assert_uint_lt(destroyed_log.n, RECORD_MAX);
	destroyed_log.h[destroyed_log.n++] = backend;
}

/* How many times `backend` went to the callback. */
static size_t destroyed(CK_OBJECT_HANDLE backend)
{
	size_t times = 0;
	for (size_t i = 0; i < destroyed_log.n; i++)
		times += destroyed_log.h[i] == backend;
	return times;
}

static void setup(void)
{
	memset(&destroyed_log, 0, sizeof destroyed_log);
}

/* Key ids are 1, 2, ...; their backend objects 1000 + id (never 0). */
static CK_OBJECT_HANDLE object_of(int64_t id) { return (CK_OBJECT_HANDLE)(1000 + id); }

static void init(akm_key_cache *c, size_t max)
{
	akm_cache_init(c, max, record_destroy, &destroyed_log);
	ck_assert_uint_eq(akm_cache_count(c), 0);
}

static void put(akm_key_cache *c, int64_t id)
{
	uint8_t rid[4] = {'r', (uint8_t)id, 0, 7};
	ck_assert_int_eq(akm_cache_put(c, id, object_of(id), 1, 2, rid, sizeof rid), CKR_OK);
}

/* The entries from most to least recently used must be exactly `ids`, the
 * list well linked, and every one found by id and by backend handle. */
static void assert_order(const akm_key_cache *c, const int64_t *ids, size_t n)
{
	size_t i = 0;
	const akm_cache_entry *prev = NULL;
	for (const akm_cache_entry *e = c->mru; e != NULL; prev = e, e = e->next, i++) {
		ck_assert_msg(i < n, "more than %zu entries in the list (id %lld at %zu)", n, (long long)e->id, i);
		ck_assert_msg(e->id == ids[i], "entry %zu is id %lld, expected %lld", i, (long long)e->id,
		              (long long)ids[i]);
		ck_assert_ptr_eq(e->prev, prev);
		ck_assert_ptr_eq(akm_cache_get(c, e->id), e);
		ck_assert(akm_cache_holds(c, e->backend));
	}
	ck_assert_msg(i == n, "%zu entries in the list, expected %zu", i, n);
	ck_assert_ptr_eq(c->lru, prev);
	ck_assert_uint_eq(akm_cache_count(c), n);
}

/* ---- tests ---- */

START_TEST(test_put_get_fields)
{
	akm_key_cache c;
	init(&c, 4);
	const uint8_t rid[] = {0x00, 0x11, 0x22, 0x33};
	ck_assert_int_eq(akm_cache_put(&c, 7, 4242, 2, 3, rid, sizeof rid), CKR_OK);
	akm_cache_entry *e = akm_cache_get(&c, 7);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->id, 7);
	ck_assert_uint_eq(e->backend, 4242);
	ck_assert_uint_eq(e->purpose, 2);
	ck_assert_uint_eq(e->state, 3);
	ck_assert_uint_eq(e->rid_len, sizeof rid);
	ck_assert_mem_eq(e->rid, rid, sizeof rid);
	ck_assert_ptr_null(akm_cache_get(&c, 8));
	ck_assert_ptr_null(akm_cache_get(&c, 0));
	ck_assert(akm_cache_holds(&c, 4242));
	ck_assert(!akm_cache_holds(&c, 4243));
	ck_assert(!akm_cache_holds(&c, 0));
	ck_assert(!akm_cache_holds(&c, 7)); /* an id is not a backend handle */
	ck_assert_uint_eq(akm_cache_count(&c), 1);
	ck_assert_uint_eq(destroyed_log.n, 0);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed(4242), 1);
}
END_TEST

START_TEST(test_rid_capped_at_id_max)
{
	akm_key_cache c;
	init(&c, 4);
	uint8_t long_rid[AKM_ID_MAX + 9];
	for (size_t i = 0; i < sizeof long_rid; i++)
		long_rid[i] = (uint8_t)(i + 1);
	ck_assert_int_eq(akm_cache_put(&c, 1, object_of(1), 1, 2, long_rid, sizeof long_rid), CKR_OK);
	akm_cache_entry *e = akm_cache_get(&c, 1);
	ck_assert_uint_eq(e->rid_len, AKM_ID_MAX);
	ck_assert_mem_eq(e->rid, long_rid, AKM_ID_MAX);
	/* Exactly AKM_ID_MAX is kept whole, an empty rid is empty. */
	ck_assert_int_eq(akm_cache_put(&c, 2, object_of(2), 1, 2, long_rid, AKM_ID_MAX), CKR_OK);
	ck_assert_uint_eq(akm_cache_get(&c, 2)->rid_len, AKM_ID_MAX);
	ck_assert_mem_eq(akm_cache_get(&c, 2)->rid, long_rid, AKM_ID_MAX);
	ck_assert_int_eq(akm_cache_put(&c, 3, object_of(3), 1, 2, long_rid, 0), CKR_OK);
	ck_assert_uint_eq(akm_cache_get(&c, 3)->rid_len, 0);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed_log.n, 3);
}
END_TEST

START_TEST(test_lru_order_and_eviction)
{
	akm_key_cache c;
	init(&c, 3);
	put(&c, 1);
	put(&c, 2);
	put(&c, 3);
	assert_order(&c, (int64_t[]){3, 2, 1}, 3);
	ck_assert_uint_eq(destroyed_log.n, 0); /* full, nothing out yet */
	/* The fourth pushes out the least recently used, whose object is destroyed. */
	put(&c, 4);
	assert_order(&c, (int64_t[]){4, 3, 2}, 3);
	ck_assert_uint_eq(destroyed_log.n, 1);
	ck_assert_uint_eq(destroyed(object_of(1)), 1);
	ck_assert_ptr_null(akm_cache_get(&c, 1));
	ck_assert(!akm_cache_holds(&c, object_of(1)));
	/* Use makes an entry the most recently used: the next one out is 3. */
	akm_cache_touch(&c, akm_cache_get(&c, 2));
	assert_order(&c, (int64_t[]){2, 4, 3}, 3);
	put(&c, 5);
	assert_order(&c, (int64_t[]){5, 2, 4}, 3);
	ck_assert_uint_eq(destroyed(object_of(3)), 1);
	ck_assert_uint_eq(destroyed(object_of(2)), 0);
	ck_assert_uint_eq(destroyed_log.n, 2);
	akm_cache_clear(&c, true);
}
END_TEST

START_TEST(test_many_each_destroyed_once)
{
	/* 1,000 keys through a cache of 16: every object leaves exactly once,
	 * either pushed out or at the end. */
	enum { N = 1000, MAX = 16 };
	akm_key_cache c;
	init(&c, MAX);
	for (int64_t id = 1; id <= N; id++) {
		put(&c, id);
		ck_assert_uint_eq(akm_cache_count(&c), id < MAX ? (size_t)id : MAX);
		if (id % 3 == 0) /* keep the oldest of the window in use */
			akm_cache_touch(&c, c.lru);
	}
	ck_assert_uint_eq(destroyed_log.n, N - MAX);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed_log.n, N);
	for (int64_t id = 1; id <= N; id++)
		ck_assert_msg(destroyed(object_of(id)) == 1, "object of key %lld destroyed %zu times", (long long)id,
		              destroyed(object_of(id)));
}
END_TEST

START_TEST(test_size_one)
{
	akm_key_cache c;
	init(&c, 1);
	put(&c, 1);
	put(&c, 2);
	assert_order(&c, (int64_t[]){2}, 1);
	ck_assert_uint_eq(destroyed(object_of(1)), 1);
	akm_cache_touch(&c, akm_cache_get(&c, 2)); /* the only entry */
	assert_order(&c, (int64_t[]){2}, 1);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed(object_of(2)), 1);
}
END_TEST

START_TEST(test_touch_each_position)
{
	akm_key_cache c;
	init(&c, 8);
	for (int64_t id = 1; id <= 4; id++)
		put(&c, id);
	assert_order(&c, (int64_t[]){4, 3, 2, 1}, 4);
	akm_cache_touch(&c, akm_cache_get(&c, 4)); /* already first */
	assert_order(&c, (int64_t[]){4, 3, 2, 1}, 4);
	akm_cache_touch(&c, akm_cache_get(&c, 1)); /* the last */
	assert_order(&c, (int64_t[]){1, 4, 3, 2}, 4);
	akm_cache_touch(&c, akm_cache_get(&c, 3)); /* one in the middle */
	assert_order(&c, (int64_t[]){3, 1, 4, 2}, 4);
	ck_assert_uint_eq(destroyed_log.n, 0);
	akm_cache_clear(&c, true);
}
END_TEST

START_TEST(test_drop_and_forget)
{
	akm_key_cache c;
	init(&c, 8);
	for (int64_t id = 1; id <= 5; id++)
		put(&c, id);
	/* Dropping from the middle, the front and the back keeps the order. */
	akm_cache_drop(&c, akm_cache_get(&c, 3));
	assert_order(&c, (int64_t[]){5, 4, 2, 1}, 4);
	akm_cache_drop(&c, akm_cache_get(&c, 5));
	assert_order(&c, (int64_t[]){4, 2, 1}, 3);
	akm_cache_forget(&c, 1);
	assert_order(&c, (int64_t[]){4, 2}, 2);
	ck_assert_uint_eq(destroyed_log.n, 3);
	ck_assert_uint_eq(destroyed(object_of(3)), 1);
	ck_assert_uint_eq(destroyed(object_of(5)), 1);
	ck_assert_uint_eq(destroyed(object_of(1)), 1);
	for (int64_t id = 1; id <= 5; id += 2) {
		ck_assert_ptr_null(akm_cache_get(&c, id));
		ck_assert(!akm_cache_holds(&c, object_of(id)));
	}
	/* Forgetting what is not there (again, or never) does nothing. */
	akm_cache_forget(&c, 1);
	akm_cache_forget(&c, 99);
	akm_cache_forget(&c, 0);
	assert_order(&c, (int64_t[]){4, 2}, 2);
	ck_assert_uint_eq(destroyed_log.n, 3);
	/* Down to empty and up again. */
	akm_cache_forget(&c, 4);
	akm_cache_forget(&c, 2);
	assert_order(&c, NULL, 0);
	ck_assert_ptr_null(c.mru);
	put(&c, 6);
	assert_order(&c, (int64_t[]){6}, 1);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed_log.n, 6);
}
END_TEST

START_TEST(test_states)
{
	akm_key_cache c;
	init(&c, 8);
	const uint8_t rid[] = {1};
	ck_assert_int_eq(akm_cache_put(&c, 1, object_of(1), 1, 2, rid, 1), CKR_OK);
	ck_assert_int_eq(akm_cache_put(&c, 2, object_of(2), 2, 3, rid, 1), CKR_OK);
	ck_assert_int_eq(akm_cache_put(&c, 3, object_of(3), 1, 0, rid, 1), CKR_OK); /* unknown from the start */
	akm_cache_set_state(&c, 2, 4);
	ck_assert_uint_eq(akm_cache_get(&c, 1)->state, 2);
	ck_assert_uint_eq(akm_cache_get(&c, 2)->state, 4);
	ck_assert_uint_eq(akm_cache_get(&c, 3)->state, 0);
	akm_cache_set_state(&c, 99, 4); /* not cached: nothing */
	ck_assert_uint_eq(akm_cache_get(&c, 1)->state, 2);
	/* Another process committed: every state is to be read again, the
	 * entries and their order stay. */
	akm_cache_forget_states(&c);
	for (int64_t id = 1; id <= 3; id++)
		ck_assert_uint_eq(akm_cache_get(&c, id)->state, 0);
	ck_assert_uint_eq(akm_cache_get(&c, 2)->purpose, 2);
	assert_order(&c, (int64_t[]){3, 2, 1}, 3);
	akm_cache_set_state(&c, 1, 3);
	ck_assert_uint_eq(akm_cache_get(&c, 1)->state, 3);
	ck_assert_uint_eq(akm_cache_get(&c, 2)->state, 0);
	ck_assert_uint_eq(destroyed_log.n, 0);
	akm_cache_forget_states(&c); /* on an empty cache too */
	akm_cache_clear(&c, false);
	akm_cache_forget_states(&c);
	akm_cache_set_state(&c, 1, 2);
	ck_assert_uint_eq(destroyed_log.n, 0);
}
END_TEST

START_TEST(test_clear_without_destroying)
{
	/* The session the objects live in is going anyway: nothing destroyed. */
	akm_key_cache c;
	init(&c, 8);
	for (int64_t id = 1; id <= 5; id++)
		put(&c, id);
	akm_cache_clear(&c, false);
	ck_assert_uint_eq(destroyed_log.n, 0);
	assert_order(&c, NULL, 0);
	for (int64_t id = 1; id <= 5; id++) {
		ck_assert_ptr_null(akm_cache_get(&c, id));
		ck_assert(!akm_cache_holds(&c, object_of(id)));
	}
	/* Usable again afterwards, and clearing twice is harmless. */
	put(&c, 6);
	assert_order(&c, (int64_t[]){6}, 1);
	akm_cache_clear(&c, false);
	akm_cache_clear(&c, false);
	ck_assert_uint_eq(destroyed_log.n, 0);
}
END_TEST

START_TEST(test_clear_destroying)
{
	akm_key_cache c;
	init(&c, 8);
	akm_cache_clear(&c, true); /* empty: nothing to destroy */
	ck_assert_uint_eq(destroyed_log.n, 0);
	for (int64_t id = 1; id <= 5; id++)
		put(&c, id);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed_log.n, 5);
	for (int64_t id = 1; id <= 5; id++)
		ck_assert_uint_eq(destroyed(object_of(id)), 1);
	assert_order(&c, NULL, 0);
	akm_cache_clear(&c, true); /* twice: nothing more */
	ck_assert_uint_eq(destroyed_log.n, 5);
	put(&c, 1);
	assert_order(&c, (int64_t[]){1}, 1);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed(object_of(1)), 2); /* a second object of that handle */
}
END_TEST

START_TEST(test_put_existing_id_replaces)
{
	/* The same key cached again with a new backend object (the callers do
	 * not do this today, but nothing in cache.h forbids it): the entry is
	 * replaced, the old object destroyed once and no longer held, and the
	 * cache stays one entry per key. */
	akm_key_cache c;
	init(&c, 8);
	put(&c, 1);
	put(&c, 2);
	const uint8_t rid[] = {9};
	ck_assert_int_eq(akm_cache_put(&c, 1, 5001, 1, 3, rid, 1), CKR_OK);
	ck_assert_uint_eq(akm_cache_count(&c), 2);
	ck_assert_uint_eq(akm_cache_get(&c, 1)->backend, 5001);
	ck_assert_uint_eq(akm_cache_get(&c, 1)->state, 3);
	ck_assert(akm_cache_holds(&c, 5001));
	ck_assert_msg(!akm_cache_holds(&c, object_of(1)), "the replaced object is still held");
	ck_assert_uint_eq(destroyed(object_of(1)), 1);
	assert_order(&c, (int64_t[]){1, 2}, 2);
	akm_cache_clear(&c, true);
	ck_assert_uint_eq(destroyed(object_of(1)), 1);
	ck_assert_uint_eq(destroyed(5001), 1);
	ck_assert_uint_eq(destroyed(object_of(2)), 1);
	ck_assert_uint_eq(destroyed_log.n, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("akm-cache");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_put_get_fields);
	tcase_add_test(tc, test_rid_capped_at_id_max);
	tcase_add_test(tc, test_lru_order_and_eviction);
	tcase_add_test(tc, test_many_each_destroyed_once);
	tcase_add_test(tc, test_size_one);
	tcase_add_test(tc, test_touch_each_position);
	tcase_add_test(tc, test_drop_and_forget);
	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_clear_without_destroying);
	tcase_add_test(tc, test_clear_destroying);
	tcase_add_test(tc, test_put_existing_id_replaces);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The key-tree rows of operational ASRs (src/store/sqlite/tree.c, store.h
 * akm_store_tree_*): round trip, replace by (asr, idx) keeping the row id,
 * scan and member search, every column and the row id bound by the MAC,
 * rows deleted or inserted behind the store's back found at login, the rows
 * gone with their relationship, and a registry of schema version 4 migrated
 * with every row and MAC as it was. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "store/impl.h"
#include "store/sqlite/sqlite.h"
#include "testenv.h"

static char dir[64];
static char db_path[128];
static const uint8_t seal_key[AKM_STORE_KEY_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/akm-tree-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof db_path, "%s/registry.db", dir);
}

static void teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static akm_store *open_sealed(void)
{
	akm_store *s = NULL;
	char err[512] = "";
	CK_RV rv = akm_store_open(db_path, &s, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "open: 0x%lx %s", rv, err);
	ck_assert_int_eq(akm_store_seal(s, seal_key), CKR_OK);
	return s;
}

static CK_RV check_at_login(akm_store *s)
{
	CK_RV rv = akm_store_begin(s);
	if (rv == CKR_OK && (rv = akm_store_check(s, false)) == CKR_OK)
		return akm_store_commit(s);
	akm_store_rollback(s);
	return rv;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* An operational relationship row (its freshness is checked against the
 * trail: its creation is audited as its last change). */
static int64_t make_asr(akm_store *s, const char *rid)
{
	akm_relationship rel;
	memset(&rel, 0, sizeof rel);
	rel.rid_len = strlen(rid);
	memcpy(rel.rid, rid, rel.rid_len);
	rel.kind = 2;
	rel.state = 2;
	rel.epoch = 1UL << 32;
	ck_assert_int_eq(akm_store_begin(s), CKR_OK);
	akm_audit_event ev = {"user", "asr-create", rel.rid, rel.rid_len, CKR_OK, NULL, true};
	ck_assert_int_eq(akm_store_audit_append(s, &ev), CKR_OK);
	int64_t seq;
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	ck_assert_int_eq(akm_store_audit_head(s, &seq, hash), CKR_OK);
	rel.audit = seq;
	ck_assert_int_eq(akm_store_insert_relationship(s, &rel), CKR_OK);
	ck_assert_int_eq(akm_store_set_int(s, "generation", seq), CKR_OK);
	ck_assert_int_eq(akm_store_commit(s), CKR_OK);
	return rel.id;
}

static akm_tree_row leaf(int64_t asr, uint32_t idx, const char *member)
{
	akm_tree_row r;
	memset(&r, 0, sizeof r);
	r.asr = asr;
	r.idx = idx;
	r.gen = 1;
	r.up_gen = 1;
	r.member_len = strlen(member);
	memcpy(r.member, member, r.member_len);
	r.pr = 7;
	r.up_len = 40;
	memset(r.up, (int)idx, 40);
	return r;
}

static akm_tree_row interior(int64_t asr, uint32_t idx, uint32_t gen)
{
	akm_tree_row r;
	memset(&r, 0, sizeof r);
	r.asr = asr;
	r.idx = idx;
	r.gen = gen;
	r.key_len = 40;
	memset(r.key, 0x50 + (int)idx, 40);
	if (idx > 1) {
		r.up_gen = gen;
		r.up_len = 40;
		memset(r.up, 0xa0 + (int)idx, 40);
	}
	return r;
}

static void assert_row_eq(const akm_tree_row *a, const akm_tree_row *b)
{
	ck_assert_int_eq(a->id, b->id);
	ck_assert_int_eq(a->asr, b->asr);
	ck_assert_uint_eq(a->idx, b->idx);
	ck_assert_uint_eq(a->gen, b->gen);
	ck_assert_uint_eq(a->up_gen, b->up_gen);
	ck_assert_uint_eq(a->member_len, b->member_len);
	ck_assert_mem_eq(a->member, b->member, a->member_len);
	ck_assert_int_eq(a->pr, b->pr);
	ck_assert_uint_eq(a->key_len, b->key_len);
	ck_assert_mem_eq(a->key, b->key, a->key_len);
	ck_assert_uint_eq(a->up_len, b->up_len);
	ck_assert_mem_eq(a->up, b->up, a->up_len);
}

/* A tree of capacity 4 with members at leaves 0 and 1: nodes 1, 2, 4, 5. */
static void small_tree(akm_store *s, int64_t asr, akm_tree_row rows[4])
{
	rows[0] = interior(asr, 1, 1);
	rows[1] = interior(asr, 2, 1);
	rows[2] = leaf(asr, 4, "node-a");
	rows[3] = leaf(asr, 5, "node-b");
	ck_assert_int_eq(akm_store_begin(s), CKR_OK);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(akm_store_tree_put(s, &rows[i]), CKR_OK);
		ck_assert_int_gt(rows[i].id, 0);
	}
	ck_assert_int_eq(akm_store_commit(s), CKR_OK);
}

START_TEST(test_round_trip)
{
	akm_store *s = open_sealed();
	int64_t asr = make_asr(s, "asr-1"), other = make_asr(s, "asr-2");
	akm_tree_row rows[4], got;
	small_tree(s, asr, rows);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(akm_store_tree_get(s, asr, rows[i].idx, &got), CKR_OK);
		assert_row_eq(&got, &rows[i]);
	}
	/* Absent: another node, another ASR. */
	ck_assert_uint_eq(akm_store_tree_get(s, asr, 3, &got), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_tree_get(s, other, 1, &got), CKR_OBJECT_HANDLE_INVALID);
	/* Members: found by ID, counted; not in another ASR. */
	uint32_t idx = 0;
	ck_assert_int_eq(akm_store_tree_find_member(s, asr, (const uint8_t *)"node-b", 6, &idx), CKR_OK);
	ck_assert_uint_eq(idx, 5);
	ck_assert_uint_eq(akm_store_tree_find_member(s, asr, (const uint8_t *)"node-c", 6, &idx),
	                  CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_tree_find_member(s, other, (const uint8_t *)"node-b", 6, &idx),
	                  CKR_OBJECT_HANDLE_INVALID);
	int64_t n;
	ck_assert_int_eq(akm_store_tree_members(s, asr, &n), CKR_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(akm_store_tree_members(s, other, &n), CKR_OK);
	ck_assert_int_eq(n, 0);
	/* Scan: ascending, from after, at most max. */
	akm_tree_row scan[8];
	size_t k;
	ck_assert_int_eq(akm_store_tree_scan(s, asr, 0, scan, 8, &k), CKR_OK);
	ck_assert_uint_eq(k, 4);
	for (size_t i = 0; i < k; i++)
		assert_row_eq(&scan[i], &rows[i]);
	ck_assert_int_eq(akm_store_tree_scan(s, asr, 1, scan, 2, &k), CKR_OK);
	ck_assert_uint_eq(k, 2);
	ck_assert_uint_eq(scan[0].idx, 2);
	ck_assert_uint_eq(scan[1].idx, 4);
	ck_assert_int_eq(akm_store_tree_scan(s, asr, 5, scan, 8, &k), CKR_OK);
	ck_assert_uint_eq(k, 0);
	/* Replace by (asr, idx): the row id stays, the values change; outside
	 * a transaction too. */
	akm_tree_row next = interior(asr, 2, 2);
	ck_assert_int_eq(akm_store_tree_put(s, &next), CKR_OK);
	ck_assert_int_eq(next.id, rows[1].id);
	ck_assert_int_eq(akm_store_tree_get(s, asr, 2, &got), CKR_OK);
	assert_row_eq(&got, &next);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM tree"), 4);
	/* Delete one; deleting it again is "no such row". */
	ck_assert_int_eq(akm_store_tree_delete(s, asr, 5), CKR_OK);
	ck_assert_uint_eq(akm_store_tree_delete(s, asr, 5), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_tree_get(s, asr, 5, &got), CKR_OBJECT_HANDLE_INVALID);
	/* A row put into a new place gets a new id, never one given before. */
	akm_tree_row c = leaf(asr, 6, "node-c");
	ck_assert_int_eq(akm_store_tree_put(s, &c), CKR_OK);
	ck_assert_int_gt(c.id, rows[3].id);
	/* Rows of the other ASR survive delete_all. */
	akm_tree_row o = interior(other, 1, 1);
	ck_assert_int_eq(akm_store_tree_put(s, &o), CKR_OK);
	ck_assert_int_eq(akm_store_tree_delete_all(s, asr), CKR_OK);
	ck_assert_int_eq(akm_store_tree_scan(s, asr, 0, scan, 8, &k), CKR_OK);
	ck_assert_uint_eq(k, 0);
	ck_assert_int_eq(akm_store_tree_get(s, other, 1, &got), CKR_OK);
	/* The bookkeeping holds at login. */
	ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
	/* Refused without a key, and malformed rows. */
	akm_tree_row bad = interior(asr, 0, 1);
	ck_assert_uint_eq(akm_store_tree_put(s, &bad), CKR_ARGUMENTS_BAD);
	akm_store_seal(s, NULL);
	ck_assert_uint_eq(akm_store_tree_put(s, &o), CKR_USER_NOT_LOGGED_IN);
	akm_store_close(s);
}
END_TEST

/* The rows go with their relationship, counted out: the login check
 * holds. */
START_TEST(test_deleted_with_relationship)
{
	akm_store *s = open_sealed();
	int64_t asr = make_asr(s, "asr-1");
	akm_tree_row rows[4];
	small_tree(s, asr, rows);
	ck_assert_int_eq(akm_store_begin(s), CKR_OK);
	ck_assert_int_eq(akm_store_delete_relationship(s, asr), CKR_OK);
	ck_assert_int_eq(akm_store_commit(s), CKR_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM tree"), 0);
	int64_t n;
	ck_assert_int_eq(akm_store_count(s, AKM_STORE_TREE, &n), CKR_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
	akm_store_close(s);
}
END_TEST

/* Each column edited behind the store's back (and the row id, and a blob
 * moved from one row to another): the row is refused where it is read. */
START_TEST(test_every_column_is_bound)
{
	static const char *const edits[] = {
		"UPDATE tree SET gen = gen + 1 WHERE idx = 2",
		"UPDATE tree SET up_gen = up_gen + 1 WHERE idx = 2",
		"UPDATE tree SET member = CAST('node-x' AS BLOB) WHERE idx = 2",
		"UPDATE tree SET pr = pr + 1 WHERE idx = 2",
		"UPDATE tree SET key = zeroblob(40) WHERE idx = 2",
		"UPDATE tree SET up = zeroblob(40) WHERE idx = 2",
		"UPDATE tree SET mac = zeroblob(32) WHERE idx = 2",
		"UPDATE tree SET mac = NULL WHERE idx = 2",
		"UPDATE tree SET gen = 'x' WHERE idx = 2",
		/* the key blob of node 1 given to node 2 */
		"UPDATE tree SET key = (SELECT key FROM tree WHERE idx = 1) WHERE idx = 2",
		/* node 2's row moved to node 3, and to another ASR */
		"UPDATE tree SET idx = 3 WHERE idx = 2",
		"UPDATE tree SET asr = (SELECT max(id) FROM relationship) WHERE idx = 2",
		/* the row id changed */
		"UPDATE tree SET id = id + 100 WHERE idx = 2",
	};
	for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
		teardown();
		setup();
		akm_store *s = open_sealed();
		int64_t asr = make_asr(s, "asr-1");
		int64_t other = make_asr(s, "asr-2");
		akm_tree_row rows[4], got;
		small_tree(s, asr, rows);
		raw_exec(edits[e]);
		/* Wherever the row is now, reading it fails. */
		CK_RV a = akm_store_tree_get(s, asr, 2, &got);
		CK_RV b = akm_store_tree_get(s, asr, 3, &got);
		CK_RV c = akm_store_tree_get(s, other, 2, &got);
		ck_assert_msg(a == AKM_STORE_TAMPERED || (a == CKR_OBJECT_HANDLE_INVALID &&
		              (b == AKM_STORE_TAMPERED || c == AKM_STORE_TAMPERED)),
		              "edit %zu: 0x%lx 0x%lx 0x%lx", e, a, b, c);
		akm_tree_row scan[8];
		size_t k;
		ck_assert_msg(akm_store_tree_scan(s, asr, 0, scan, 8, &k) == AKM_STORE_TAMPERED ||
		              akm_store_tree_scan(s, other, 0, scan, 8, &k) == AKM_STORE_TAMPERED,
		              "edit %zu: scan", e);
		ck_assert_ptr_nonnull(strstr(akm_store_tamper_reason(s), "tree row"));
		/* The untouched rows still read. */
		ck_assert_int_eq(akm_store_tree_get(s, asr, 4, &got), CKR_OK);
		akm_store_close(s);
	}
	/* A member edited: the search finds the row and refuses it. */
	teardown();
	setup();
	akm_store *s = open_sealed();
	int64_t asr = make_asr(s, "asr-1");
	akm_tree_row rows[4];
	uint32_t idx;
	small_tree(s, asr, rows);
	raw_exec("UPDATE tree SET member = CAST('node-x' AS BLOB) WHERE idx = 4");
	ck_assert_uint_eq(akm_store_tree_find_member(s, asr, (const uint8_t *)"node-x", 6, &idx), AKM_STORE_TAMPERED);
	ck_assert_uint_eq(akm_store_tree_find_member(s, asr, (const uint8_t *)"node-a", 6, &idx),
	                  CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(akm_store_tree_find_member(s, asr, (const uint8_t *)"node-b", 6, &idx), CKR_OK);
	akm_store_close(s);
}
END_TEST

/* Rows deleted or inserted (even a copy of a sealed row under a new id):
 * the login check refuses the registry. */
START_TEST(test_deleted_or_inserted_rows_found_at_login)
{
	static const char *const edits[] = {
		"DELETE FROM tree WHERE idx = 5",
		"DELETE FROM tree",
		"INSERT INTO tree (asr, idx, gen, up_gen, member, pr, key, up, mac)"
		" SELECT asr, 3, gen, up_gen, member, pr, key, up, mac FROM tree WHERE idx = 2",
		/* one deleted, one inserted: the count holds, the ids do not */
		"DELETE FROM tree WHERE idx = 5;"
		"INSERT INTO tree (asr, idx, gen, up_gen, member, pr, key, up, mac)"
		" SELECT asr, 3, gen, up_gen, member, pr, key, up, mac FROM tree WHERE idx = 2",
	};
	for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
		teardown();
		setup();
		akm_store *s = open_sealed();
		int64_t asr = make_asr(s, "asr-1");
		akm_tree_row rows[4];
		small_tree(s, asr, rows);
		ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
		raw_exec(edits[e]);
		ck_assert_msg(check_at_login(s) == AKM_STORE_TAMPERED, "edit %zu not found", e);
		ck_assert_ptr_nonnull(strstr(akm_store_tamper_reason(s), "tree row"));
		akm_store_close(s);
	}
}
END_TEST

/* A registry of schema version 4 (with its 32-byte bookkeeping, sealed):
 * migrated to 5 with every row and MAC as it was; the login check holds
 * without sealing anything anew, and tree rows can be added. */
START_TEST(test_migrates_version_4)
{
	akm_store *s = open_sealed();
	int64_t asr = make_asr(s, "asr-1");
	akm_key key;
	memset(&key, 0, sizeof key);
	key.relationship = asr;
	key.purpose = 1;
	key.key_type = CKK_AES;
	key.value_len = 32;
	key.wrapped_len = 40;
	memset(key.wrapped, 0x33, 40);
	ck_assert_int_eq(akm_store_insert_key(s, &key), CKR_OK);
	/* The bookkeeping as version 4 wrote it: 32 bytes, sealed. */
	uint8_t rows[32] = {0};
	rows[7] = 1, rows[15] = 1, rows[23] = 1, rows[31] = 1;
	ck_assert_int_eq(akm_store_set_blob(s, "rows", rows, sizeof rows), CKR_OK);
	akm_store_close(s);
	raw_exec(AKM_TEST_SQL_BACK_TO_V5 "DROP TABLE tree; PRAGMA user_version = 4;");
	char *before = NULL;
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(db,
		    "SELECT group_concat(hex(mac), ',') FROM (SELECT mac FROM relationship UNION ALL SELECT mac FROM key"
		    " UNION ALL SELECT mac FROM audit UNION ALL SELECT mac FROM meta)", -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		before = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	s = open_sealed();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(db,
		    "SELECT group_concat(hex(mac), ',') FROM (SELECT mac FROM relationship UNION ALL SELECT mac FROM key"
		    " UNION ALL SELECT mac FROM audit UNION ALL SELECT mac FROM meta)", -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), before);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(before);
	akm_key got;
	akm_relationship rel;
	ck_assert_int_eq(akm_store_get_key(s, key.id, &got, &rel), CKR_OK);
	ck_assert_mem_eq(got.wrapped, key.wrapped, 40);
	akm_relationship_clear(&rel);
	ck_assert_int_eq(akm_store_get_relationship(s, asr, &rel), CKR_OK);
	ck_assert_mem_eq(rel.rid, "asr-1", 5);
	akm_relationship_clear(&rel);
	akm_tree_row t[4];
	small_tree(s, asr, t);
	ck_assert_int_eq(raw_int("SELECT length(value) FROM meta WHERE name = 'rows'"), 48);
	ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
	akm_store_close(s);
	/* Opened again: version 5 as it is. */
	s = open_sealed();
	ck_assert_msg(check_at_login(s) == CKR_OK, "%s", akm_store_tamper_reason(s));
	akm_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-tree");
	TCase *tc = tcase_create("tree");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_deleted_with_relationship);
	tcase_add_test(tc, test_every_column_is_bound);
	tcase_add_test(tc, test_deleted_or_inserted_rows_found_at_login);
	tcase_add_test(tc, test_migrates_version_4);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

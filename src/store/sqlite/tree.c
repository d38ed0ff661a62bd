/* The SQLite store's key-tree rows of operational ASRs (store.h,
 * akm_tree_row): sealed like every other row, counted in the bookkeeping
 * (ROWS_TREE_*), deleted with their relationship. */
#include "store/sqlite/sqlite.h"

#include <string.h>

/* One row from a statement's 9 columns (id, idx, gen, up_gen, member, pr,
 * key, up, mac), checked: the values of the types and sizes the store
 * writes, and the MAC. */
static CK_RV read_row(akm_sqlite *r, sqlite3_stmt *st, int64_t asr, akm_tree_row *row)
{
	akm_sqlite_row c = {st, true};
	int64_t v[4];
	memset(row, 0, sizeof *row);
	row->asr = asr;
	akm_sqlite_row_int(&c, 0, &row->id);
	akm_sqlite_row_int(&c, 1, &v[0]);
	akm_sqlite_row_int(&c, 2, &v[1]);
	akm_sqlite_row_int(&c, 3, &v[2]);
	akm_sqlite_row_blob(&c, 4, row->member, sizeof row->member, &row->member_len);
	akm_sqlite_row_int(&c, 5, &row->pr);
	akm_sqlite_row_blob(&c, 6, row->key, sizeof row->key, &row->key_len);
	akm_sqlite_row_blob(&c, 7, row->up, sizeof row->up, &row->up_len);
	for (int i = 0; i < 3; i++)
		c.ok &= v[i] >= 0 && v[i] <= UINT32_MAX;
	c.ok &= v[0] >= 1;
	row->idx = (uint32_t)v[0];
	row->gen = (uint32_t)v[1];
	row->up_gen = (uint32_t)v[2];
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_tree(&r->base, row, mac);
	if (!c.ok || (r->base.key != NULL &&
	              !akm_seal_matches(mac, sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8))))
		return akm_store_tampered(&r->base, "tree row %lld: its MAC does not match", (long long)row->id);
	return CKR_OK;
}

static bool row_valid(const akm_tree_row *row)
{
	return row->idx >= 1 && row->member_len <= sizeof row->member && row->key_len <= sizeof row->key &&
	       row->up_len <= sizeof row->up && row->asr > 0;
}

CK_RV akm_sqlite_tree_put(akm_store *s, akm_tree_row *row)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	if (!row_valid(row))
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv != CKR_OK)
		return rv;
	/* The row of this (asr, idx) keeps its id when there is one. */
	sqlite3_stmt *st = r->tree_id;
	sqlite3_bind_int64(st, 1, row->asr);
	sqlite3_bind_int64(st, 2, row->idx);
	int rc = sqlite3_step(st);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	bool update = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = akm_sqlite_rv(rc);
	else if (!update)
		rv = akm_sqlite_next_id(r, ROWS_TREE_HIGH, ROWS_TREE_COUNT, &id);
	if (rv == CKR_OK) {
		uint8_t mac[AKM_SEAL_LEN];
		row->id = id;
		akm_seal_tree(s, row, mac);
		st = update ? r->tree_update : r->tree_insert;
		int i = 1;
		if (!update) {
			sqlite3_bind_int64(st, i++, id);
			sqlite3_bind_int64(st, i++, row->asr);
			sqlite3_bind_int64(st, i++, row->idx);
		}
		sqlite3_bind_int64(st, i++, row->gen);
		sqlite3_bind_int64(st, i++, row->up_gen);
		akm_sqlite_bind_blob(st, i++, row->member, row->member_len);
		sqlite3_bind_int64(st, i++, row->pr);
		akm_sqlite_bind_blob(st, i++, row->key, row->key_len);
		akm_sqlite_bind_blob(st, i++, row->up, row->up_len);
		akm_sqlite_bind_blob(st, i++, mac, sizeof mac);
		if (update)
			sqlite3_bind_int64(st, i++, id);
		rv = akm_sqlite_step_done(st);
		if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
			rv = CKR_GENERAL_ERROR;
	}
	if ((rv = akm_sqlite_own_end(r, own, rv)) != CKR_OK && !update)
		row->id = 0;
	return rv;
}

CK_RV akm_sqlite_tree_get(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row *row)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->tree_get;
	sqlite3_bind_int64(st, 1, asr);
	sqlite3_bind_int64(st, 2, idx);
	int rc = sqlite3_step(st);
	CK_RV rv = rc == SQLITE_ROW ? read_row(r, st, asr, row)
	           : rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	if (rv == CKR_OK && row->idx != idx)
		rv = akm_store_tampered(s, "tree row %lld: not the row of node %u", (long long)row->id, idx);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

CK_RV akm_sqlite_tree_delete(akm_store *s, int64_t asr, uint32_t idx)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK)
		rv = akm_sqlite_rows_load(r);
	if (rv == CKR_OK) {
		sqlite3_stmt *st = r->tree_delete;
		sqlite3_bind_int64(st, 1, asr);
		sqlite3_bind_int64(st, 2, idx);
		rv = akm_sqlite_step_done(st);
		if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
			rv = CKR_OBJECT_HANDLE_INVALID;
		if (rv == CKR_OK) {
			r->rows.n[ROWS_TREE_COUNT]--;
			r->rows.dirty = true;
		}
	}
	return akm_sqlite_own_end(r, own, rv);
}

CK_RV akm_sqlite_tree_delete_rows(akm_sqlite *r, int64_t asr)
{
	sqlite3_stmt *st = r->tree_delete_all;
	sqlite3_bind_int64(st, 1, asr);
	CK_RV rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK) {
		int n = sqlite3_changes(r->db);
		if (n > 0) {
			r->rows.n[ROWS_TREE_COUNT] -= n;
			r->rows.dirty = true;
		}
	}
	return rv;
}

CK_RV akm_sqlite_tree_delete_all(akm_store *s, int64_t asr)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK)
		rv = akm_sqlite_rows_load(r);
	if (rv == CKR_OK)
		rv = akm_sqlite_tree_delete_rows(r, asr);
	return akm_sqlite_own_end(r, own, rv);
}

CK_RV akm_sqlite_tree_scan(akm_store *s, int64_t asr, uint32_t after, akm_tree_row *rows, size_t max, size_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->tree_scan;
	*n = 0;
	sqlite3_bind_int64(st, 1, asr);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	int rc = SQLITE_DONE;
	CK_RV rv = CKR_OK;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rv = read_row(r, st, asr, &rows[*n])) != CKR_OK)
			break;
		if (rows[*n].idx <= after || (*n > 0 && rows[*n].idx <= rows[*n - 1].idx)) {
			rv = akm_store_tampered(s, "tree row %lld: out of order", (long long)rows[*n].id);
			break;
		}
		(*n)++;
	}
	if (rv == CKR_OK && *n < max && rc != SQLITE_DONE)
		rv = akm_sqlite_rv(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rv != CKR_OK)
		*n = 0;
	return rv;
}

CK_RV akm_sqlite_tree_find_member(akm_store *s, int64_t asr, const uint8_t *member, size_t len, uint32_t *idx)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (len == 0 || len > AKM_ID_MAX)
		return CKR_OBJECT_HANDLE_INVALID;
	sqlite3_stmt *st = r->tree_find;
	sqlite3_bind_int64(st, 1, asr);
	akm_sqlite_bind_blob(st, 2, member, len);
	int rc = sqlite3_step(st);
	akm_tree_row row;
	CK_RV rv = rc == SQLITE_ROW ? read_row(r, st, asr, &row)
	           : rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	/* The row found is checked whole: a member column edited to name
	 * another node fails its MAC. */
	if (rv == CKR_OK && (row.member_len != len || memcmp(row.member, member, len) != 0))
		rv = akm_store_tampered(s, "tree row %lld: not the row of its member", (long long)row.id);
	if (rv == CKR_OK)
		*idx = row.idx;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

CK_RV akm_sqlite_tree_members(akm_store *s, int64_t asr, int64_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->tree_members;
	sqlite3_bind_int64(st, 1, asr);
	int rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? CKR_OK : akm_sqlite_rv(rc);
}

CK_RV akm_sqlite_tree_path(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row rows[32], bool has[32])
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->tree_path;
	memset(has, 0, 32 * sizeof has[0]);
	if (idx == 0)
		return CKR_ARGUMENTS_BAD;
	sqlite3_bind_int64(st, 1, asr);
	for (int k = 0; k < 32; k++)
		sqlite3_bind_int64(st, 2 + k, idx >> k); /* 0 past the root: no row has it */
	int rc;
	CK_RV rv = CKR_OK;
	akm_tree_row row;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rv = read_row(r, st, asr, &row)) != CKR_OK)
			break;
		int k = 0;
		while (k < 32 && (idx >> k) != row.idx)
			k++;
		if (k == 32 || has[k]) {
			rv = akm_store_tampered(s, "tree row %lld: not on the path of node %u", (long long)row.id, idx);
			break;
		}
		rows[k] = row;
		has[k] = true;
	}
	if (rv == CKR_OK && rc != SQLITE_DONE)
		rv = akm_sqlite_rv(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

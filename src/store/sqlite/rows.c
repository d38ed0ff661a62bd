/* The SQLite store's relationship and key rows, sealed and checked
 * (store.h), the bookkeeping of their counts, and search. */
#include "store/sqlite/sqlite.h"

#include <stdlib.h>
#include <string.h>

/* ---- bookkeeping: how many rows, and the highest ids given --------------- */

#define ROWS_NAME "rows"
#define ROWS_LEN 48 /* u64 relationships, keys, highest relationship id, highest key id, tree rows,
                    * highest tree row id */
#define ROWS_LEN_V4 32 /* schema version 4 and before: no tree rows (read as 0 and 0) */

CK_RV akm_sqlite_rows_load(akm_sqlite *r)
{
	if (r->rows.loaded)
		return CKR_OK;
	uint8_t b[ROWS_LEN];
	size_t len = sizeof b;
	bool present;
	CK_RV rv = akm_sqlite_get_blob(&r->base, ROWS_NAME, b, &len, &present);
	if (rv != CKR_OK)
		return rv;
	memset(&r->rows.n, 0, sizeof r->rows.n);
	if (present) {
		if (len != ROWS_LEN && len != ROWS_LEN_V4)
			return akm_store_tampered(&r->base, "meta row %s: %zu bytes, not %d", ROWS_NAME, len, ROWS_LEN);
		akm_buf_reader rd;
		akm_buf_reader_init(&rd, b, len);
		for (size_t i = 0; i < len / 8; i++)
			r->rows.n[i] = (int64_t)akm_buf_get_u64(&rd);
	}
	r->rows.loaded = true;
	return CKR_OK;
}

CK_RV akm_sqlite_rows_save(akm_sqlite *r)
{
	if (!r->rows.dirty)
		return CKR_OK;
	uint8_t b[ROWS_LEN];
	akm_buf_writer w;
	akm_buf_writer_init(&w, b, sizeof b);
	for (int i = 0; i < 6; i++)
		akm_buf_put_u64(&w, (uint64_t)r->rows.n[i]);
	CK_RV rv = akm_sqlite_set_blob(&r->base, ROWS_NAME, b, sizeof b);
	if (rv == CKR_OK)
		r->rows.dirty = false;
	return rv;
}

/* Rows are counted in the transaction that writes them: a write outside
 * one gets its own. */
CK_RV akm_sqlite_own_begin(akm_sqlite *r, bool *own)
{
	*own = r->tx_depth == 0;
	return *own ? akm_sqlite_begin(&r->base) : CKR_OK;
}

CK_RV akm_sqlite_own_end(akm_sqlite *r, bool own, CK_RV rv)
{
	if (!own)
		return rv;
	if (rv == CKR_OK)
		return akm_sqlite_commit(&r->base);
	akm_sqlite_rollback(&r->base);
	return rv;
}

/* The next id of a table (ROWS_REL_HIGH, ROWS_KEY_HIGH, ROWS_TREE_HIGH), counted in. */
CK_RV akm_sqlite_next_id(akm_sqlite *r, int high, int count, int64_t *id)
{
	CK_RV rv = akm_sqlite_rows_load(r);
	if (rv != CKR_OK)
		return rv;
	*id = ++r->rows.n[high];
	r->rows.n[count]++;
	r->rows.dirty = true;
	return CKR_OK;
}

/* ---- relationships and keys ---------------------------------------------- */

static CK_RV insert_relationship(akm_sqlite *r, const akm_relationship *rel);

CK_RV akm_sqlite_insert_relationship(akm_store *s, akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK && (rv = akm_sqlite_next_id(r, ROWS_REL_HIGH, ROWS_REL_COUNT, &rel->id)) == CKR_OK)
		rv = insert_relationship(r, rel);
	if ((rv = akm_sqlite_own_end(r, own, rv)) != CKR_OK)
		rel->id = 0;
	return rv;
}

static CK_RV insert_relationship(akm_sqlite *r, const akm_relationship *rel)
{
	akm_store *s = &r->base;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_relationship(s, rel, mac);
	sqlite3_stmt *st = r->insert_rel;
	sqlite3_bind_int64(st, 1, rel->id);
	akm_sqlite_bind_blob(st, 2, rel->rid, rel->rid_len);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rel->kind);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rel->state);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rel->epoch);
	akm_sqlite_bind_blob(st, 6, rel->station, rel->station_len);
	akm_sqlite_bind_blob(st, 7, rel->peer, rel->peer_len);
	akm_sqlite_bind_blob(st, 8, rel->members, rel->members_len);
	akm_sqlite_bind_blob(st, 9, rel->hw, rel->hw_len);
	sqlite3_bind_int64(st, 10, rel->created);
	sqlite3_bind_int64(st, 11, rel->changed);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)rel->status);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)rel->seq);
	akm_sqlite_bind_blob(st, 14, rel->site, rel->site_len);
	akm_sqlite_bind_blob(st, 15, rel->node_key, rel->node_key_len);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)rel->delivery);
	sqlite3_bind_int64(st, 17, rel->audit);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)rel->checkin);
	akm_sqlite_bind_blob(st, 19, mac, sizeof mac);
	return akm_sqlite_step_done(st);
}

static CK_RV insert_key(akm_sqlite *r, const akm_key *key);

CK_RV akm_sqlite_insert_key(akm_store *s, akm_key *key)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK && (rv = akm_sqlite_next_id(r, ROWS_KEY_HIGH, ROWS_KEY_COUNT, &key->id)) == CKR_OK)
		rv = insert_key(r, key);
	if ((rv = akm_sqlite_own_end(r, own, rv)) != CKR_OK)
		key->id = 0;
	return rv;
}

static CK_RV insert_key(akm_sqlite *r, const akm_key *key)
{
	akm_store *s = &r->base;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_key(s, key, mac);
	sqlite3_stmt *st = r->insert_key;
	sqlite3_bind_int64(st, 1, key->id);
	sqlite3_bind_int64(st, 2, key->relationship);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)key->purpose);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)key->key_type);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)key->value_len);
	akm_sqlite_bind_blob(st, 6, key->ckid, key->ckid_len);
	akm_sqlite_bind_blob(st, 7, key->label, key->label_len);
	akm_sqlite_bind_blob(st, 8, key->wrapped, key->wrapped_len);
	akm_sqlite_bind_blob(st, 9, mac, sizeof mac);
	return akm_sqlite_step_done(st);
}

CK_RV akm_sqlite_read_key(akm_sqlite *r, sqlite3_stmt *st, int col, int64_t id, akm_key *key,
                          uint8_t *seal_out)
{
	akm_sqlite_row row = {st, true};
	int64_t v[4];
	memset(key, 0, sizeof *key);
	key->id = id;
	for (int i = 0; i < 4; i++)
		akm_sqlite_row_int(&row, col + i, &v[i]);
	key->relationship = v[0];
	key->purpose = (CK_ULONG)v[1];
	key->key_type = (CK_ULONG)v[2];
	key->value_len = (CK_ULONG)v[3];
	akm_sqlite_row_blob(&row, col + 4, key->ckid, sizeof key->ckid, &key->ckid_len);
	akm_sqlite_row_blob(&row, col + 5, key->label, sizeof key->label, &key->label_len);
	akm_sqlite_row_blob(&row, col + 6, key->wrapped, sizeof key->wrapped, &key->wrapped_len);
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_key(&r->base, key, seal_out != NULL ? seal_out : mac);
	if (!row.ok || (seal_out == NULL && r->base.key != NULL && !akm_seal_matches(mac, sqlite3_column_blob(st, col + 7),
	                                                      (size_t)sqlite3_column_bytes(st, col + 7))))
		return akm_store_tampered(&r->base, "key row %lld: its MAC does not match", (long long)id);
	return CKR_OK;
}

CK_RV akm_sqlite_read_relationship(akm_sqlite *r, sqlite3_stmt *st, int col, int64_t id,
                                   akm_relationship *rel, uint8_t *seal_out)
{
	akm_sqlite_row row = {st, true};
	int64_t v[8];
	memset(rel, 0, sizeof *rel);
	rel->id = id;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return akm_store_tampered(&r->base, "key row: its relationship %lld is missing", (long long)id);
	akm_sqlite_row_blob(&row, col, rel->rid, sizeof rel->rid, &rel->rid_len);
	akm_sqlite_row_int(&row, col + 1, &v[0]);
	akm_sqlite_row_int(&row, col + 2, &v[1]);
	akm_sqlite_row_int(&row, col + 3, &v[2]);
	akm_sqlite_row_blob(&row, col + 4, rel->station, sizeof rel->station, &rel->station_len);
	akm_sqlite_row_blob(&row, col + 5, rel->peer, sizeof rel->peer, &rel->peer_len);
	size_t n = (size_t)sqlite3_column_bytes(st, col + 6);
	if (n > 0 && (rel->members = malloc(n)) == NULL)
		return CKR_HOST_MEMORY;
	akm_sqlite_row_blob(&row, col + 6, rel->members, n, &rel->members_len);
	akm_sqlite_row_blob(&row, col + 7, rel->hw, sizeof rel->hw, &rel->hw_len);
	akm_sqlite_row_int(&row, col + 8, &rel->created);
	akm_sqlite_row_int(&row, col + 9, &rel->changed);
	akm_sqlite_row_int(&row, col + 10, &v[3]);
	akm_sqlite_row_int(&row, col + 11, &v[4]);
	akm_sqlite_row_blob(&row, col + 12, rel->site, sizeof rel->site, &rel->site_len);
	akm_sqlite_row_blob(&row, col + 13, rel->node_key, sizeof rel->node_key, &rel->node_key_len);
	akm_sqlite_row_int(&row, col + 14, &v[5]);
	akm_sqlite_row_int(&row, col + 15, &rel->audit);
	akm_sqlite_row_int(&row, col + 16, &v[6]);
	rel->kind = (CK_ULONG)v[0];
	rel->state = (CK_ULONG)v[1];
	rel->epoch = (CK_ULONG)v[2];
	rel->status = (CK_ULONG)v[3];
	rel->seq = (CK_ULONG)v[4];
	rel->delivery = (CK_ULONG)v[5];
	rel->checkin = (CK_ULONG)v[6];
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_relationship(&r->base, rel, seal_out != NULL ? seal_out : mac);
	if (!row.ok || (seal_out == NULL && r->base.key != NULL && !akm_seal_matches(mac, sqlite3_column_blob(st, col + 17),
	                                                      (size_t)sqlite3_column_bytes(st, col + 17))))
		return akm_store_tampered(&r->base, "relationship row %lld: its MAC does not match", (long long)id);
	return CKR_OK;
}

/* A sealed row can still be an older version of itself put back: its last
 * change must be the last one the (sealed) audit trail records for it. */
static CK_RV check_fresh(akm_sqlite *r, const akm_relationship *rel)
{
	sqlite3_stmt *st = r->audit_last;
	sqlite3_bind_int64(st, 1, rel->id);
	akm_sqlite_bind_blob(st, 2, rel->rid, rel->rid_len);
	int rc = sqlite3_step(st);
	int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return akm_sqlite_rv(rc);
	if (last != rel->audit)
		return akm_store_tampered(&r->base, "relationship row %lld: an older version of it (it names audit record"
		                          " %lld, the trail's last change of it is %lld)", (long long)rel->id,
		                          (long long)rel->audit, (long long)last);
	return CKR_OK;
}

CK_RV akm_sqlite_get_key(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	akm_relationship own;
	if (rel == NULL)
		rel = &own; /* checked all the same */
	memset(rel, 0, sizeof *rel);
	sqlite3_stmt *st = r->get_key;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	CK_RV rv;
	if (rc == SQLITE_ROW) {
		if ((rv = akm_sqlite_read_key(r, st, 0, id, key, NULL)) == CKR_OK)
			rv = akm_sqlite_read_relationship(r, st, 8, key->relationship, rel, NULL);
	} else {
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	}
	/* The row and the trail's last change of it from one snapshot: the
	 * statement is reset only after the check, so outside a transaction
	 * its read transaction spans both (another process committing a change
	 * in between is not an older row put back). */
	if (rv == CKR_OK && s->key != NULL)
		rv = check_fresh(r, rel);
	sqlite3_reset(st);
	if (rv != CKR_OK || rel == &own)
		akm_relationship_clear(rel);
	return rv;
}

CK_RV akm_sqlite_get_relationship(akm_store *s, int64_t id, akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	memset(rel, 0, sizeof *rel);
	sqlite3_stmt *st = r->get_rel;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	CK_RV rv = rc == SQLITE_ROW ? akm_sqlite_read_relationship(r, st, 0, id, rel, NULL)
	           : rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	/* The row and the trail's last change of it from one snapshot (as in
	 * get_key). */
	if (rv == CKR_OK && s->key != NULL)
		rv = check_fresh(r, rel);
	sqlite3_reset(st);
	if (rv != CKR_OK)
		akm_relationship_clear(rel);
	return rv;
}

CK_RV akm_sqlite_update_relationship(akm_store *s, const akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	/* The stored row (checked), with the mutable fields of `rel`: the
	 * others cannot change, and the row is sealed as it is written. */
	akm_relationship now;
	sqlite3_stmt *st = r->get_rel;
	sqlite3_bind_int64(st, 1, rel->id);
	int rc = sqlite3_step(st);
	CK_RV rv = rc == SQLITE_ROW ? akm_sqlite_read_relationship(r, st, 0, rel->id, &now, NULL)
	           : rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	sqlite3_reset(st);
	if (rv != CKR_OK) {
		if (rc == SQLITE_ROW)
			akm_relationship_clear(&now);
		return rv;
	}
	uint8_t *stored_members = now.members;
	now.state = rel->state;
	now.epoch = rel->epoch;
	now.members = rel->members;
	now.members_len = rel->members_len;
	now.changed = rel->changed;
	now.status = rel->status;
	now.seq = rel->seq;
	memcpy(now.node_key, rel->node_key, rel->node_key_len);
	now.node_key_len = rel->node_key_len;
	now.audit = rel->audit;
	now.checkin = rel->checkin;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_relationship(s, &now, mac);
	st = r->update_rel;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now.state);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now.epoch);
	akm_sqlite_bind_blob(st, 3, now.members, now.members_len);
	sqlite3_bind_int64(st, 4, now.changed);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now.status);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now.seq);
	akm_sqlite_bind_blob(st, 7, now.node_key, now.node_key_len);
	sqlite3_bind_int64(st, 8, now.audit);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)now.checkin);
	akm_sqlite_bind_blob(st, 10, mac, sizeof mac);
	sqlite3_bind_int64(st, 11, rel->id);
	rv = akm_sqlite_step_done(st);
	free(stored_members);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_update_key_label(akm_store *s, int64_t id, const uint8_t *label, size_t len)
{
	akm_sqlite *r = (akm_sqlite *)s;
	akm_key key;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	if (len > sizeof key.label)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* The row is read (and checked) to seal it again with its new label. */
	CK_RV rv = akm_sqlite_get_key(s, id, &key, NULL);
	if (rv != CKR_OK)
		return rv;
	if (len > 0)
		memcpy(key.label, label, len);
	key.label_len = len;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_key(s, &key, mac);
	sqlite3_stmt *st = r->update_label;
	akm_sqlite_bind_blob(st, 1, label, len);
	akm_sqlite_bind_blob(st, 2, mac, sizeof mac);
	sqlite3_bind_int64(st, 3, id);
	rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

/* One statement prepared for the call (rare calls: a member's steps). */
static CK_RV run_once(akm_sqlite *r, const char *sql, const void *blob, size_t blob_len, const uint8_t *mac,
                      int64_t id)
{
	sqlite3_stmt *st;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int i = 1;
	if (blob != NULL)
		akm_sqlite_bind_blob(st, i++, blob, blob_len);
	if (mac != NULL)
		akm_sqlite_bind_blob(st, i++, mac, AKM_SEAL_LEN);
	sqlite3_bind_int64(st, i, id);
	rv = akm_sqlite_step_done(st);
	sqlite3_finalize(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_update_key_wrapped(akm_store *s, int64_t id, const uint8_t *wrapped, size_t len)
{
	akm_sqlite *r = (akm_sqlite *)s;
	akm_key key;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	if (len > sizeof key.wrapped)
		return CKR_ARGUMENTS_BAD;
	/* The row is read (and checked) to seal it again with its new blob. */
	CK_RV rv = akm_sqlite_get_key(s, id, &key, NULL);
	if (rv != CKR_OK)
		return rv;
	memcpy(key.wrapped, wrapped, len);
	key.wrapped_len = len;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_key(s, &key, mac);
	sqlite3_stmt *st = r->update_wrapped;
	akm_sqlite_bind_blob(st, 1, wrapped, len);
	akm_sqlite_bind_blob(st, 2, mac, sizeof mac);
	sqlite3_bind_int64(st, 3, id);
	rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_delete_key(akm_store *s, int64_t id)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK)
		rv = akm_sqlite_rows_load(r);
	if (rv == CKR_OK)
		rv = run_once(r, "DELETE FROM key WHERE id = ?", NULL, 0, NULL, id);
	if (rv == CKR_OK) {
		r->rows.n[ROWS_KEY_COUNT]--;
		r->rows.dirty = true;
	}
	return akm_sqlite_own_end(r, own, rv);
}

static CK_RV delete_relationship(akm_sqlite *r, int64_t id);

CK_RV akm_sqlite_delete_relationship(akm_store *s, int64_t id)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_own_begin(r, &own);
	if (rv == CKR_OK)
		rv = delete_relationship(r, id);
	return akm_sqlite_own_end(r, own, rv);
}

static CK_RV delete_relationship(akm_sqlite *r, int64_t id)
{
	CK_RV rv = akm_sqlite_rows_load(r);
	if (rv != CKR_OK)
		return rv;
	if ((rv = akm_sqlite_tree_delete_rows(r, id)) != CKR_OK)
		return rv;
	sqlite3_stmt *st = r->delete_keys;
	sqlite3_bind_int64(st, 1, id);
	if ((rv = akm_sqlite_step_done(st)) != CKR_OK)
		return rv;
	int keys = sqlite3_changes(r->db);
	st = r->delete_rel;
	sqlite3_bind_int64(st, 1, id);
	if ((rv = akm_sqlite_step_done(st)) != CKR_OK)
		return rv;
	if (sqlite3_changes(r->db) != 1)
		return CKR_OBJECT_HANDLE_INVALID;
	r->rows.n[ROWS_REL_COUNT]--;
	r->rows.n[ROWS_KEY_COUNT] -= keys;
	r->rows.dirty = true;
	return CKR_OK;
}

/* The search's statement for the filters of q, in row order or (by_label)
 * label order after a label (after_label) or from the first; prepared once
 * per combination. */
static CK_RV find_statement(akm_sqlite *r, const akm_store_query *q, bool by_label, bool after_label,
                            sqlite3_stmt **out)
{
	unsigned shape = (q->rid != NULL) | (q->ckid != NULL) << 1 | (q->label != NULL) << 2 |
	                 (q->peer != NULL) << 3 | q->has_kind << 4 | q->has_state << 5 | q->has_purpose << 6 |
	                 by_label << 7 | after_label << 8;
	CK_RV rv;
	if (r->find[shape] == NULL) {
		char sql[768] = "SELECT k.id, k.label FROM key k JOIN relationship r ON r.id = k.relationship WHERE ";
		strcat(sql, !by_label ? "k.id > ?" : after_label ? "k.label > ?" : "?1 IS NOT NULL");
		if (q->rid) strcat(sql, " AND r.rid = ?");
		if (q->ckid) strcat(sql, " AND k.ckid = ?");
		if (q->label) strcat(sql, " AND k.label = ?");
		if (q->peer) strcat(sql, " AND r.peer = ?");
		if (q->has_kind) strcat(sql, " AND r.kind = ?");
		if (q->has_state) strcat(sql, " AND r.state = ?");
		if (q->has_purpose) strcat(sql, " AND k.purpose = ?");
		strcat(sql, by_label ? " ORDER BY k.label LIMIT ?" : " ORDER BY k.id LIMIT ?");
		if ((rv = akm_sqlite_prepare(r, &r->find[shape], sql)) != CKR_OK)
			return rv;
	}
	sqlite3_stmt *st = r->find[shape];
	int i = 2;
	if (q->rid) akm_sqlite_bind_blob(st, i++, q->rid, q->rid_len);
	if (q->ckid) akm_sqlite_bind_blob(st, i++, q->ckid, q->ckid_len);
	if (q->label) akm_sqlite_bind_blob(st, i++, q->label, q->label_len);
	if (q->peer) akm_sqlite_bind_blob(st, i++, q->peer, q->peer_len);
	if (q->has_kind) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->kind);
	if (q->has_state) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->state);
	if (q->has_purpose) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->purpose);
	*out = st;
	return CKR_OK;
}

/* Runs a search statement (its first parameter bound by the caller) for at
 * most max ids; the label of the last into last when not NULL. */
static CK_RV find_run(sqlite3_stmt *st, int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len)
{
	int rc = SQLITE_DONE;
	sqlite3_bind_int64(st, sqlite3_bind_parameter_count(st), (sqlite3_int64)max);
	*n = 0;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ids[(*n)++] = sqlite3_column_int64(st, 0);
		if (last != NULL)
			*last_len = akm_sqlite_column_blob(st, 1, last, AKM_LABEL_MAX);
	}
	CK_RV rv = *n == max || rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

CK_RV akm_sqlite_find(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max, size_t *n)
{
	sqlite3_stmt *st;
	*n = 0;
	CK_RV rv = find_statement((akm_sqlite *)s, q, false, false, &st);
	if (rv != CKR_OK)
		return rv;
	sqlite3_bind_int64(st, 1, after);
	return find_run(st, ids, max, n, NULL, NULL);
}

CK_RV akm_sqlite_find_by_label(akm_store *s, const akm_store_query *q, const uint8_t *after, size_t after_len,
                               int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len)
{
	sqlite3_stmt *st;
	bool from = after_len != SIZE_MAX;
	*n = 0;
	CK_RV rv = find_statement((akm_sqlite *)s, q, true, from, &st);
	if (rv != CKR_OK)
		return rv;
	if (from)
		akm_sqlite_bind_blob(st, 1, after, after_len);
	else
		sqlite3_bind_int64(st, 1, 1);
	return find_run(st, ids, max, n, last, last_len);
}

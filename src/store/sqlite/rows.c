/* The SQLite store's relationship and key rows, and search. */
#include "store/sqlite/sqlite.h"

#include <stdlib.h>
#include <string.h>

CK_RV akm_sqlite_insert_relationship(akm_store *s, akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->insert_rel;
	akm_sqlite_bind_blob(st, 1, rel->rid, rel->rid_len);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rel->kind);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rel->state);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rel->epoch);
	akm_sqlite_bind_blob(st, 5, rel->station, rel->station_len);
	akm_sqlite_bind_blob(st, 6, rel->peer, rel->peer_len);
	akm_sqlite_bind_blob(st, 7, rel->members, rel->members_len);
	akm_sqlite_bind_blob(st, 8, rel->hw, rel->hw_len);
	sqlite3_bind_int64(st, 9, rel->created);
	sqlite3_bind_int64(st, 10, rel->changed);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)rel->status);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)rel->seq);
	akm_sqlite_bind_blob(st, 13, rel->site, rel->site_len);
	akm_sqlite_bind_blob(st, 14, rel->node_key, rel->node_key_len);
	CK_RV rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK)
		rel->id = sqlite3_last_insert_rowid(r->db);
	return rv;
}

CK_RV akm_sqlite_insert_key(akm_store *s, akm_key *key)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->insert_key;
	sqlite3_bind_int64(st, 1, key->relationship);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)key->purpose);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)key->key_type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)key->value_len);
	akm_sqlite_bind_blob(st, 5, key->ckid, key->ckid_len);
	akm_sqlite_bind_blob(st, 6, key->label, key->label_len);
	akm_sqlite_bind_blob(st, 7, key->wrapped, key->wrapped_len);
	CK_RV rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK)
		key->id = sqlite3_last_insert_rowid(r->db);
	return rv;
}

CK_RV akm_sqlite_get_key(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->get_key;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	CK_RV rv = CKR_OK;
	if (rc == SQLITE_DONE) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rv = akm_sqlite_rv(rc);
		goto out;
	}
	memset(key, 0, sizeof *key);
	key->id = id;
	key->relationship = sqlite3_column_int64(st, 0);
	key->purpose = (CK_ULONG)sqlite3_column_int64(st, 1);
	key->key_type = (CK_ULONG)sqlite3_column_int64(st, 2);
	key->value_len = (CK_ULONG)sqlite3_column_int64(st, 3);
	key->ckid_len = akm_sqlite_column_blob(st, 4, key->ckid, sizeof key->ckid);
	key->label_len = akm_sqlite_column_blob(st, 5, key->label, sizeof key->label);
	key->wrapped_len = akm_sqlite_column_blob(st, 6, key->wrapped, sizeof key->wrapped);
	if (rel != NULL) {
		memset(rel, 0, sizeof *rel);
		rel->id = key->relationship;
		rel->rid_len = akm_sqlite_column_blob(st, 7, rel->rid, sizeof rel->rid);
		rel->kind = (CK_ULONG)sqlite3_column_int64(st, 8);
		rel->state = (CK_ULONG)sqlite3_column_int64(st, 9);
		rel->epoch = (CK_ULONG)sqlite3_column_int64(st, 10);
		rel->station_len = akm_sqlite_column_blob(st, 11, rel->station, sizeof rel->station);
		rel->peer_len = akm_sqlite_column_blob(st, 12, rel->peer, sizeof rel->peer);
		size_t n = (size_t)sqlite3_column_bytes(st, 13);
		if (n > 0) {
			rel->members = malloc(n);
			if (rel->members == NULL) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
			rel->members_len = akm_sqlite_column_blob(st, 13, rel->members, n);
		}
		rel->hw_len = akm_sqlite_column_blob(st, 14, rel->hw, sizeof rel->hw);
		rel->created = sqlite3_column_int64(st, 15);
		rel->changed = sqlite3_column_int64(st, 16);
		rel->status = (CK_ULONG)sqlite3_column_int64(st, 17);
		rel->seq = (CK_ULONG)sqlite3_column_int64(st, 18);
		rel->site_len = akm_sqlite_column_blob(st, 19, rel->site, sizeof rel->site);
		rel->node_key_len = akm_sqlite_column_blob(st, 20, rel->node_key, sizeof rel->node_key);
	}
out:
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_sqlite_update_relationship(akm_store *s, const akm_relationship *rel)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->update_rel;
	CK_RV rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)rel->state);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rel->epoch);
	akm_sqlite_bind_blob(st, 3, rel->members, rel->members_len);
	sqlite3_bind_int64(st, 4, rel->changed);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rel->status);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)rel->seq);
	akm_sqlite_bind_blob(st, 7, rel->node_key, rel->node_key_len);
	sqlite3_bind_int64(st, 8, rel->id);
	rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_update_key_label(akm_store *s, int64_t id, const uint8_t *label, size_t len)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->update_label;
	akm_sqlite_bind_blob(st, 1, label, len);
	sqlite3_bind_int64(st, 2, id);
	CK_RV rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_delete_relationship(akm_store *s, int64_t id)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->delete_rel;
	sqlite3_bind_int64(st, 1, id);
	CK_RV rv = akm_sqlite_step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_sqlite_find(akm_store *s, const akm_store_query *q, int64_t after,
                        int64_t *ids, size_t max, size_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	unsigned shape = (q->rid != NULL) | (q->ckid != NULL) << 1 | (q->label != NULL) << 2 |
	                 (q->peer != NULL) << 3 | q->has_kind << 4 | q->has_state << 5 | q->has_purpose << 6;
	sqlite3_stmt *st = r->find[shape];
	CK_RV rv;
	if (st == NULL) {
		char sql[768] = "SELECT k.id FROM key k JOIN relationship r ON r.id = k.relationship WHERE k.id > ?";
		if (q->rid) strcat(sql, " AND r.rid = ?");
		if (q->ckid) strcat(sql, " AND k.ckid = ?");
		if (q->label) strcat(sql, " AND k.label = ?");
		if (q->peer) strcat(sql, " AND r.peer = ?");
		if (q->has_kind) strcat(sql, " AND r.kind = ?");
		if (q->has_state) strcat(sql, " AND r.state = ?");
		if (q->has_purpose) strcat(sql, " AND k.purpose = ?");
		strcat(sql, " ORDER BY k.id LIMIT ?");
		if ((rv = akm_sqlite_prepare(r, &r->find[shape], sql)) != CKR_OK)
			return rv;
		st = r->find[shape];
	}
	int i = 1;
	sqlite3_bind_int64(st, i++, after);
	if (q->rid) akm_sqlite_bind_blob(st, i++, q->rid, q->rid_len);
	if (q->ckid) akm_sqlite_bind_blob(st, i++, q->ckid, q->ckid_len);
	if (q->label) akm_sqlite_bind_blob(st, i++, q->label, q->label_len);
	if (q->peer) akm_sqlite_bind_blob(st, i++, q->peer, q->peer_len);
	if (q->has_kind) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->kind);
	if (q->has_state) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->state);
	if (q->has_purpose) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->purpose);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)max);
	*n = 0;
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	rv = *n == max || rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

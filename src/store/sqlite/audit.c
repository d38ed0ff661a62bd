/* The SQLite store's audit trail: append, read, search, verify (the hash
 * and the chain walk are lib/audit.c's). */
#include "store/sqlite/sqlite.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

CK_RV akm_sqlite_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool present;
	size_t len = AKM_AUDIT_HASH_LEN;
	CK_RV rv = akm_sqlite_get_int(&r->base, "audit_seq", seq, &present);
	if (rv != CKR_OK)
		return rv;
	if (!present) {
		*seq = 0;
		memset(hash, 0, AKM_AUDIT_HASH_LEN);
		return CKR_OK;
	}
	rv = akm_sqlite_get_blob(&r->base, "audit_hash", hash, &len, &present);
	if (rv == CKR_OK && (!present || len != AKM_AUDIT_HASH_LEN))
		rv = CKR_DEVICE_ERROR;
	return rv;
}

CK_RV akm_sqlite_audit_append(akm_store *s, const akm_audit_event *ev)
{
	akm_sqlite *r = (akm_sqlite *)s;
	bool own_tx = r->tx_depth == 0;
	CK_RV rv;
	if (own_tx && (rv = akm_sqlite_begin(&r->base)) != CKR_OK)
		return rv;
	int64_t seq;
	uint8_t prev[AKM_AUDIT_HASH_LEN], hash[AKM_AUDIT_HASH_LEN];
	if ((rv = akm_sqlite_audit_head(&r->base, &seq, prev)) != CKR_OK)
		goto out;
	seq++;
	int64_t now = (int64_t)time(NULL);
	akm_audit_entry e = {seq, now, ev->actor, strlen(ev->actor), ev->action, strlen(ev->action),
	                     ev->rid, ev->rid_len, ev->result, ev->detail, ev->detail ? strlen(ev->detail) : 0};
	akm_audit_hash(prev, &e, hash);
	sqlite3_stmt *st = r->audit_insert;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, ev->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->action, -1, SQLITE_STATIC);
	if (ev->rid != NULL)
		akm_sqlite_bind_blob(st, 5, ev->rid, ev->rid_len);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->result);
	if (ev->detail != NULL)
		sqlite3_bind_text(st, 7, ev->detail, -1, SQLITE_STATIC);
	akm_sqlite_bind_blob(st, 8, prev, sizeof prev);
	akm_sqlite_bind_blob(st, 9, hash, sizeof hash);
	if ((rv = akm_sqlite_step_done(st)) != CKR_OK)
		goto out;
	if ((rv = akm_sqlite_set_int(&r->base, "audit_seq", seq)) != CKR_OK)
		goto out;
	rv = akm_sqlite_set_blob(&r->base, "audit_hash", hash, sizeof hash);
out:
	if (own_tx) {
		if (rv == CKR_OK)
			rv = akm_sqlite_commit(&r->base);
		else
			akm_sqlite_rollback(&r->base);
	}
	return rv;
}

CK_RV akm_sqlite_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->audit_at;
	CK_RV rv;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = akm_sqlite_column_blob(st, 0, hash, AKM_AUDIT_HASH_LEN) == AKM_AUDIT_HASH_LEN ? CKR_OK : CKR_DEVICE_ERROR;
	else
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_sqlite_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db,
		"SELECT seq, time, actor, action, rid, result, detail, prev, hash FROM audit ORDER BY seq",
		-1, &st, NULL));
	if (rv != CKR_OK) {
		snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
		return rv;
	}
	akm_audit_chain chain;
	int rc;
	akm_audit_chain_init(&chain);
	rv = CKR_OK;
	*records = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *actor = (const char *)sqlite3_column_text(st, 2);
		const char *action = (const char *)sqlite3_column_text(st, 3);
		const char *detail = (const char *)sqlite3_column_text(st, 6);
		const uint8_t *rid = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(st, 4);
		akm_audit_entry e = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		                     actor, actor ? strlen(actor) : 0, action, action ? strlen(action) : 0,
		                     rid, rid ? (size_t)sqlite3_column_bytes(st, 4) : 0,
		                     (uint64_t)sqlite3_column_int64(st, 5), detail, detail ? strlen(detail) : 0};
		const uint8_t *prev = sqlite3_column_blob(st, 7);
		size_t prev_len = (size_t)sqlite3_column_bytes(st, 7);
		const uint8_t *stored = sqlite3_column_blob(st, 8);
		size_t stored_len = (size_t)sqlite3_column_bytes(st, 8);
		if (akm_audit_chain_next(&chain, &e, prev, prev_len, stored, stored_len, err, errlen) != 0) {
			rv = CKR_GENERAL_ERROR;
			break;
		}
		(*records)++;
	}
	if (rv == CKR_OK && rc != SQLITE_DONE) {
		snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
		rv = akm_sqlite_rv(rc);
	}
	sqlite3_finalize(st);
	if (rv != CKR_OK)
		return rv;
	int64_t head_seq;
	uint8_t head_hash[AKM_AUDIT_HASH_LEN];
	if ((rv = akm_sqlite_audit_head(&r->base, &head_seq, head_hash)) != CKR_OK) {
		snprintf(err, errlen, "registry %s: the audit head is unreadable", r->path);
		return rv;
	}
	if (head_seq != chain.records || memcmp(head_hash, chain.last, sizeof head_hash) != 0) {
		if (head_seq == chain.records)
			snprintf(err, errlen, "the audit head's hash does not match record %lld (altered)", (long long)head_seq);
		else
			snprintf(err, errlen, "the audit trail ends at record %lld but its head says %lld (records removed at the end)",
			         (long long)chain.records, (long long)head_seq);
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

CK_RV akm_sqlite_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->audit_get;
	CK_RV rv = CKR_OK;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
		goto out;
	}
	memset(rec, 0, sizeof *rec);
	rec->seq = seq;
	rec->time = sqlite3_column_int64(st, 0);
	rec->actor_len = akm_sqlite_column_blob(st, 1, rec->actor, sizeof rec->actor);
	rec->action_len = akm_sqlite_column_blob(st, 2, rec->action, sizeof rec->action);
	rec->rid_len = akm_sqlite_column_blob(st, 3, rec->rid, sizeof rec->rid);
	rec->result = (CK_RV)sqlite3_column_int64(st, 4);
	rec->detail_len = akm_sqlite_column_blob(st, 5, rec->detail, sizeof rec->detail);
	if (akm_sqlite_column_blob(st, 6, rec->prev, sizeof rec->prev) != sizeof rec->prev ||
	    akm_sqlite_column_blob(st, 7, rec->hash, sizeof rec->hash) != sizeof rec->hash)
		rv = CKR_DEVICE_ERROR;
out:
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_sqlite_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after,
                              int64_t *seqs, size_t max, size_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = rid != NULL ? r->audit_find_rid : r->audit_find;
	int i = 1;
	if (rid != NULL)
		akm_sqlite_bind_blob(st, i++, rid, rid_len);
	sqlite3_bind_int64(st, i++, after);
	sqlite3_bind_int64(st, i, (sqlite3_int64)max);
	int rc;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		seqs[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
}

/* The SQLite store's audit trail: append, read, search, verify (the hash
 * and the chain walk are lib/audit.c's; every record is sealed too). */
#include "store/sqlite/sqlite.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The head as the file has it. */
static CK_RV head_read(akm_sqlite *r, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
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
		rv = akm_store_tampered(&r->base, "meta row audit_hash: missing or not %d bytes", AKM_AUDIT_HASH_LEN);
	return rv;
}

CK_RV akm_sqlite_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (r->tx_depth == 0)
		return head_read(r, seq, hash);
	if (!r->head.loaded) {
		CK_RV rv = head_read(r, &r->head.seq, r->head.hash);
		if (rv != CKR_OK)
			return rv;
		r->head.loaded = true;
	}
	*seq = r->head.seq;
	memcpy(hash, r->head.hash, AKM_AUDIT_HASH_LEN);
	return CKR_OK;
}

CK_RV akm_sqlite_head_save(akm_sqlite *r)
{
	if (!r->head.dirty)
		return CKR_OK;
	CK_RV rv = akm_sqlite_set_int(&r->base, "audit_seq", r->head.seq);
	if (rv == CKR_OK)
		rv = akm_sqlite_set_blob(&r->base, "audit_hash", r->head.hash, AKM_AUDIT_HASH_LEN);
	if (rv == CKR_OK)
		r->head.dirty = false;
	return rv;
}

/* The row id of the relationship whose ID is rid, 0 when none has it: what
 * a record about it names (`rel`, schema version 7). */
static CK_RV rel_of(akm_sqlite *r, const uint8_t *rid, size_t rid_len, int64_t *rel)
{
	sqlite3_stmt *st = r->rel_by_rid;
	akm_sqlite_bind_blob(st, 1, rid, rid_len);
	int rc = sqlite3_step(st);
	*rel = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
}

CK_RV akm_sqlite_audit_append(akm_store *s, const akm_audit_event *ev)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	bool own_tx = r->tx_depth == 0;
	CK_RV rv;
	if (own_tx && (rv = akm_sqlite_begin(&r->base)) != CKR_OK)
		return rv;
	int64_t seq;
	uint8_t prev[AKM_AUDIT_HASH_LEN], hash[AKM_AUDIT_HASH_LEN], mac[AKM_SEAL_LEN];
	if ((rv = akm_sqlite_audit_head(&r->base, &seq, prev)) != CKR_OK)
		goto out;
	seq++;
	int64_t now = (int64_t)time(NULL);
	akm_audit_entry e = {seq, now, ev->actor, strlen(ev->actor), ev->action, strlen(ev->action),
	                     ev->rid, ev->rid_len, ev->result, ev->detail, ev->detail ? strlen(ev->detail) : 0};
	akm_audit_hash(prev, &e, hash);
	/* The relationship the record is about, when it has a row. */
	int64_t rel = 0;
	if (ev->rid != NULL && (rv = rel_of(r, ev->rid, ev->rid_len, &rel)) != CKR_OK)
		goto out;
	akm_seal_audit(s, &e, ev->rid != NULL, ev->detail != NULL, ev->row_change, prev, hash, rel, mac);
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
	sqlite3_bind_int64(st, 10, ev->row_change);
	akm_sqlite_bind_blob(st, 11, mac, sizeof mac);
	if (rel != 0)
		sqlite3_bind_int64(st, 12, rel);
	if ((rv = akm_sqlite_step_done(st)) != CKR_OK)
		goto out;
	/* Written with the transaction's commit. */
	r->head.seq = seq;
	memcpy(r->head.hash, hash, sizeof hash);
	r->head.dirty = true;
out:
	if (own_tx) {
		if (rv == CKR_OK)
			rv = akm_sqlite_commit(&r->base);
		else
			akm_sqlite_rollback(&r->base);
	}
	return rv;
}

CK_RV akm_sqlite_audit_read(akm_sqlite *r, sqlite3_stmt *st, int64_t seq, akm_audit_record *rec,
                            akm_audit_entry *entry, uint8_t *seal_out)
{
	akm_sqlite_row row = {st, true};
	int64_t result;
	bool has_rid, has_detail, present;
	memset(rec, 0, sizeof *rec);
	rec->seq = seq;
	akm_sqlite_row_int(&row, 0, &rec->time);
	akm_sqlite_row_text(&row, 1, rec->actor, sizeof rec->actor, &rec->actor_len, false, &present);
	akm_sqlite_row_text(&row, 2, rec->action, sizeof rec->action, &rec->action_len, false, &present);
	if ((has_rid = sqlite3_column_type(st, 3) != SQLITE_NULL))
		akm_sqlite_row_blob(&row, 3, rec->rid, sizeof rec->rid, &rec->rid_len);
	akm_sqlite_row_int(&row, 4, &result);
	rec->result = (CK_RV)result;
	akm_sqlite_row_text(&row, 5, rec->detail, sizeof rec->detail, &rec->detail_len, true, &has_detail);
	size_t prev_len, hash_len;
	akm_sqlite_row_blob(&row, 6, rec->prev, sizeof rec->prev, &prev_len);
	akm_sqlite_row_blob(&row, 7, rec->hash, sizeof rec->hash, &hash_len);
	int64_t row_change, rel = 0;
	akm_sqlite_row_int(&row, 8, &row_change);
	row.ok &= row_change == 0 || row_change == 1;
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		akm_sqlite_row_int(&row, 10, &rel);
		row.ok &= rel > 0;
	}
	akm_audit_entry e = {seq, rec->time, rec->actor, rec->actor_len, rec->action, rec->action_len,
	                     has_rid ? rec->rid : NULL, rec->rid_len, (uint64_t)result,
	                     has_detail ? rec->detail : NULL, rec->detail_len};
	if (entry != NULL)
		*entry = e;
	uint8_t mac[AKM_SEAL_LEN];
	akm_seal_audit(&r->base, &e, has_rid, has_detail, row_change != 0, rec->prev, rec->hash, rel,
	               seal_out != NULL ? seal_out : mac);
	if (!row.ok || prev_len != AKM_AUDIT_HASH_LEN || hash_len != AKM_AUDIT_HASH_LEN ||
	    (seal_out == NULL && r->base.key != NULL &&
	     !akm_seal_matches(mac, sqlite3_column_blob(st, 9), (size_t)sqlite3_column_bytes(st, 9))))
		return akm_store_tampered(&r->base, "audit record %lld was altered (its MAC does not match)", (long long)seq);
	return CKR_OK;
}

CK_RV akm_sqlite_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->audit_get;
	CK_RV rv;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = akm_sqlite_audit_read(r, st, seq, rec, NULL, NULL);
	else
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : akm_sqlite_rv(rc);
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_sqlite_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	akm_audit_record rec;
	CK_RV rv = akm_sqlite_audit_get(s, seq, &rec);
	if (rv == CKR_OK)
		memcpy(hash, rec.hash, AKM_AUDIT_HASH_LEN);
	return rv;
}

CK_RV akm_sqlite_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st;
	*records = 0;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db,
		"SELECT time, actor, action, rid, result, detail, prev, hash, row_change, mac, rel, seq FROM audit ORDER BY seq",
		-1, &st, NULL));
	if (rv != CKR_OK) {
		snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
		return rv;
	}
	akm_audit_chain chain;
	akm_audit_record rec;
	int rc;
	akm_audit_chain_init(&chain);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 11);
		akm_audit_entry e;
		if (akm_sqlite_audit_read(r, st, seq, &rec, &e, NULL) != CKR_OK) {
			snprintf(err, errlen, "%s", akm_store_tamper_reason(s));
			rv = CKR_GENERAL_ERROR;
			break;
		}
		if (akm_audit_chain_next(&chain, &e, rec.prev, sizeof rec.prev, rec.hash, sizeof rec.hash, err,
		                         errlen) != 0) {
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
		snprintf(err, errlen, "registry %s: the audit head is unreadable or altered", r->path);
		return rv == AKM_STORE_TAMPERED ? CKR_GENERAL_ERROR : rv;
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

CK_RV akm_sqlite_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after,
                              int64_t *seqs, size_t max, size_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st = r->audit_find;
	int i = 1;
	*n = 0;
	if (rid != NULL) {
		/* A relationship's records through its row id (and those
		 * written before version 7 through the ID); an ID with no
		 * relationship now, through every record. */
		int64_t rel;
		CK_RV rv = rel_of(r, rid, rid_len, &rel);
		if (rv != CKR_OK)
			return rv;
		st = rel != 0 ? r->audit_find_rid : r->audit_find_gone;
		if (rel != 0)
			sqlite3_bind_int64(st, i++, rel);
		akm_sqlite_bind_blob(st, i++, rid, rid_len);
	}
	sqlite3_bind_int64(st, i++, after);
	sqlite3_bind_int64(st, i, (sqlite3_int64)max);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		seqs[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
}

CK_RV akm_sqlite_pending_add(akm_store *s, const akm_audit_event *ev)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st;
	/* Bounded: past the limit an event is not kept (the caller logs it). */
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db,
		"INSERT INTO pending (time, actor, action, result, detail)"
		" SELECT ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM pending) < ?", -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, ev->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ev->result);
	if (ev->detail != NULL)
		sqlite3_bind_text(st, 5, ev->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, AKM_STORE_PENDING_MAX);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && sqlite3_changes(r->db) == 0)
		return CKR_DEVICE_MEMORY; /* full */
	return rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
}

CK_RV akm_sqlite_pending_flush(akm_store *s, akm_pending_rule allowed, int64_t *refused)
{
	akm_sqlite *r = (akm_sqlite *)s;
	sqlite3_stmt *st;
	*refused = 0;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db,
		"SELECT time, actor, action, result, ifnull(detail, '') FROM pending ORDER BY id", -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int rc;
	while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* Text as the file holds it, bounded like any record's. */
		char actor[16], action[48], detail[1024];
		snprintf(actor, sizeof actor, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(action, sizeof action, "%s", (const char *)sqlite3_column_text(st, 2));
		CK_RV result = (CK_RV)sqlite3_column_int64(st, 3);
		if (!allowed(actor, action, result, (const char *)sqlite3_column_text(st, 4))) {
			(*refused)++;
			continue;
		}
		snprintf(detail, sizeof detail, "%s%sbefore login, at %lld", (const char *)sqlite3_column_text(st, 4),
		         sqlite3_column_bytes(st, 4) > 0 ? "; " : "", (long long)sqlite3_column_int64(st, 0));
		akm_audit_event ev = {actor, action, NULL, 0, result, detail, false};
		rv = akm_sqlite_audit_append(s, &ev);
	}
	if (rv == CKR_OK && rc != SQLITE_DONE)
		rv = akm_sqlite_rv(rc);
	sqlite3_finalize(st);
	if (rv == CKR_OK)
		rv = akm_sqlite_rv(sqlite3_exec(r->db, "DELETE FROM pending", NULL, NULL, NULL));
	return rv;
}

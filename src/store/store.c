/* Opening a store by URI, and the interface's calls into its implementation. */
#include "store/impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const akm_store_ops *const implementations[] = {
	&akm_store_sqlite_ops,
};

CK_RV akm_store_open(const char *uri, akm_store **out, char *err, size_t errlen)
{
	const char *colon = strchr(uri, ':');
	/* A bare path (no scheme, or a path with a colon after a slash) is a
	 * SQLite file, as registry.path has always named one. */
	if (colon == NULL || memchr(uri, '/', (size_t)(colon - uri)) != NULL)
		return akm_store_sqlite_ops.open(uri, out, err, errlen);
	for (size_t i = 0; i < sizeof implementations / sizeof implementations[0]; i++) {
		const akm_store_ops *ops = implementations[i];
		if (strlen(ops->scheme) == (size_t)(colon - uri) && memcmp(uri, ops->scheme, (size_t)(colon - uri)) == 0)
			return ops->open(colon + 1, out, err, errlen);
	}
	/* Only the scheme: a server's URI may hold credentials. */
	snprintf(err, errlen, "registry: unknown store type \"%.*s\" (this module has: sqlite)", (int)(colon - uri),
	         uri);
	return CKR_GENERAL_ERROR;
}

void akm_store_close(akm_store *s)
{
	if (s == NULL)
		return;
	akm_store_seal(s, NULL);
	s->ops->close(s);
}

const char *akm_store_location(const akm_store *s)
{
	return s->location;
}

CK_RV akm_store_check(akm_store *s, bool upgrade) { return s->ops->check(s, upgrade); }
CK_RV akm_store_begin(akm_store *s) { return s->ops->begin(s); }
CK_RV akm_store_commit(akm_store *s) { return s->ops->commit(s); }
void akm_store_rollback(akm_store *s) { s->ops->rollback(s); }
CK_RV akm_store_snapshot(akm_store *s) { return s->ops->snapshot(s); }
void akm_store_snapshot_end(akm_store *s) { s->ops->snapshot_end(s); }
CK_RV akm_store_change_mark(akm_store *s, uint64_t *mark) { return s->ops->change_mark(s, mark); }
CK_RV akm_store_file_version(akm_store *s, uint64_t *version) { return s->ops->file_version(s, version); }

CK_RV akm_store_get_int(akm_store *s, const char *name, int64_t *value, bool *present)
{
	return s->ops->get_int(s, name, value, present);
}

CK_RV akm_store_set_int(akm_store *s, const char *name, int64_t value)
{
	return s->ops->set_int(s, name, value);
}

CK_RV akm_store_get_blob(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present)
{
	return s->ops->get_blob(s, name, buf, len, present);
}

CK_RV akm_store_set_blob(akm_store *s, const char *name, const uint8_t *buf, size_t len)
{
	return s->ops->set_blob(s, name, buf, len);
}

CK_RV akm_store_insert_relationship(akm_store *s, akm_relationship *rel)
{
	return s->ops->insert_relationship(s, rel);
}

CK_RV akm_store_insert_key(akm_store *s, akm_key *key)
{
	return s->ops->insert_key(s, key);
}

CK_RV akm_store_get_key(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel)
{
	return s->ops->get_key(s, id, key, rel);
}

CK_RV akm_store_update_relationship(akm_store *s, const akm_relationship *rel)
{
	return s->ops->update_relationship(s, rel);
}

CK_RV akm_store_update_key_label(akm_store *s, int64_t id, const uint8_t *label, size_t len)
{
	return s->ops->update_key_label(s, id, label, len);
}

CK_RV akm_store_delete_key(akm_store *s, int64_t id)
{
	return s->ops->delete_key(s, id);
}

CK_RV akm_store_delete_relationship(akm_store *s, int64_t id)
{
	return s->ops->delete_relationship(s, id);
}

CK_RV akm_store_get_relationship(akm_store *s, int64_t id, akm_relationship *rel)
{
	return s->ops->get_relationship(s, id, rel);
}

CK_RV akm_store_tree_put(akm_store *s, akm_tree_row *row) { return s->ops->tree_put(s, row); }
CK_RV akm_store_tree_get(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row *row)
{
	return s->ops->tree_get(s, asr, idx, row);
}
CK_RV akm_store_tree_delete(akm_store *s, int64_t asr, uint32_t idx) { return s->ops->tree_delete(s, asr, idx); }
CK_RV akm_store_tree_delete_all(akm_store *s, int64_t asr) { return s->ops->tree_delete_all(s, asr); }
CK_RV akm_store_tree_scan(akm_store *s, int64_t asr, uint32_t after, akm_tree_row *rows, size_t max, size_t *n)
{
	return s->ops->tree_scan(s, asr, after, rows, max, n);
}
CK_RV akm_store_tree_find_member(akm_store *s, int64_t asr, const uint8_t *member, size_t len, uint32_t *idx)
{
	return s->ops->tree_find_member(s, asr, member, len, idx);
}
CK_RV akm_store_tree_members(akm_store *s, int64_t asr, int64_t *n) { return s->ops->tree_members(s, asr, n); }

CK_RV akm_store_tree_path(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row rows[32], bool has[32])
{
	return s->ops->tree_path(s, asr, idx, rows, has);
}
CK_RV akm_store_update_key_wrapped(akm_store *s, int64_t id, const uint8_t *wrapped, size_t len)
{
	return s->ops->update_key_wrapped(s, id, wrapped, len);
}

void akm_relationship_clear(akm_relationship *rel)
{
	free(rel->members);
	memset(rel, 0, sizeof *rel);
}

CK_RV akm_store_find(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
                     size_t *n)
{
	return s->ops->find(s, q, after, ids, max, n);
}

CK_RV akm_store_find_by_label(akm_store *s, const akm_store_query *q, const uint8_t *after, size_t after_len,
                              int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len)
{
	return s->ops->find_by_label(s, q, after, after_len, ids, max, n, last, last_len);
}

CK_RV akm_store_count(akm_store *s, akm_store_table table, int64_t *n)
{
	return s->ops->count(s, table, n);
}

CK_RV akm_store_audit_append(akm_store *s, const akm_audit_event *ev)
{
	return s->ops->audit_append(s, ev);
}

CK_RV akm_store_pending_add(akm_store *s, const akm_audit_event *ev) { return s->ops->pending_add(s, ev); }
CK_RV akm_store_pending_flush(akm_store *s, akm_pending_rule allowed, int64_t *refused)
{
	return s->ops->pending_flush(s, allowed, refused);
}

CK_RV akm_store_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	return s->ops->audit_head(s, seq, hash);
}

CK_RV akm_store_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	return s->ops->audit_hash_at(s, seq, hash);
}

CK_RV akm_store_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen)
{
	return s->ops->audit_verify(s, records, err, errlen);
}

CK_RV akm_store_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec)
{
	return s->ops->audit_get(s, seq, rec);
}

CK_RV akm_store_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                           size_t max, size_t *n)
{
	return s->ops->audit_find(s, rid, rid_len, after, seqs, max, n);
}

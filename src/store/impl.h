/*
 * What a store implementation provides (store.h is what its users see).
 * An implementation defines a struct whose first member is `akm_store`,
 * an akm_store_ops table naming its scheme, and is listed in store.c.
 */
#ifndef AKM_STORE_IMPL_H
#define AKM_STORE_IMPL_H

#include "store/store.h"

typedef struct akm_store_ops {
	const char *scheme; /* the URI scheme: "sqlite" for "sqlite:PATH" */
	/* `location` is the URI without "scheme:". */
	CK_RV (*open)(const char *location, akm_store **out, char *err, size_t errlen);
	void (*close)(akm_store *s);
	/* akm_store_check (the key is in s->key already). */
	CK_RV (*check)(akm_store *s, bool upgrade);
	CK_RV (*begin)(akm_store *s);
	CK_RV (*commit)(akm_store *s);
	void (*rollback)(akm_store *s);
	CK_RV (*snapshot)(akm_store *s);
	void (*snapshot_end)(akm_store *s);
	CK_RV (*change_mark)(akm_store *s, uint64_t *mark);
	CK_RV (*file_version)(akm_store *s, uint64_t *version);
	CK_RV (*get_int)(akm_store *s, const char *name, int64_t *value, bool *present);
	CK_RV (*set_int)(akm_store *s, const char *name, int64_t value);
	CK_RV (*get_blob)(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present);
	CK_RV (*set_blob)(akm_store *s, const char *name, const uint8_t *buf, size_t len);
	CK_RV (*insert_relationship)(akm_store *s, akm_relationship *rel);
	CK_RV (*insert_key)(akm_store *s, akm_key *key);
	CK_RV (*get_key)(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel);
	CK_RV (*update_relationship)(akm_store *s, const akm_relationship *rel);
	CK_RV (*update_key_label)(akm_store *s, int64_t id, const uint8_t *label, size_t len);
	CK_RV (*delete_key)(akm_store *s, int64_t id);
	CK_RV (*delete_relationship)(akm_store *s, int64_t id);
	CK_RV (*get_relationship)(akm_store *s, int64_t id, akm_relationship *rel);
	CK_RV (*tree_put)(akm_store *s, akm_tree_row *row);
	CK_RV (*tree_get)(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row *row);
	CK_RV (*tree_delete)(akm_store *s, int64_t asr, uint32_t idx);
	CK_RV (*tree_delete_all)(akm_store *s, int64_t asr);
	CK_RV (*tree_scan)(akm_store *s, int64_t asr, uint32_t after, akm_tree_row *rows, size_t max, size_t *n);
	CK_RV (*tree_find_member)(akm_store *s, int64_t asr, const uint8_t *member, size_t len, uint32_t *idx);
	CK_RV (*tree_members)(akm_store *s, int64_t asr, int64_t *n);
	CK_RV (*tree_path)(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row rows[32], bool has[32]);
	CK_RV (*update_key_wrapped)(akm_store *s, int64_t id, const uint8_t *wrapped, size_t len);
	CK_RV (*find)(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
	              size_t *n);
	CK_RV (*find_by_label)(akm_store *s, const akm_store_query *q, const uint8_t *after, size_t after_len,
	                       int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len);
	CK_RV (*count)(akm_store *s, akm_store_table table, int64_t *n);
	CK_RV (*audit_append)(akm_store *s, const akm_audit_event *ev);
	CK_RV (*pending_add)(akm_store *s, const akm_audit_event *ev);
	CK_RV (*pending_flush)(akm_store *s, akm_pending_rule allowed, int64_t *refused);
	CK_RV (*audit_head)(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
	CK_RV (*audit_hash_at)(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
	CK_RV (*audit_verify)(akm_store *s, int64_t *records, char *err, size_t errlen);
	CK_RV (*audit_get)(akm_store *s, int64_t seq, akm_audit_record *rec);
	CK_RV (*audit_find)(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
	                    size_t max, size_t *n);
} akm_store_ops;

struct akm_store {
	const akm_store_ops *ops;
	const char *location; /* for messages; owned by the implementation */
	struct akm_hmac_key *key; /* the sealing key (lib/keyed.h), NULL before login */
	char tamper[256];     /* akm_store_tamper_reason */
};

/* Row MACs (store/seal.c, docs/formats.md "Registry rows"): HMAC-SHA-256
 * under the sealing key of the SHA-256 of the row's fields, its table and
 * row id first.  An implementation seals every row it writes with these
 * and checks every row it reads with akm_seal_matches. */
#define AKM_SEAL_LEN 32
void akm_seal_relationship(const akm_store *s, const akm_relationship *rel, uint8_t mac[AKM_SEAL_LEN]);
void akm_seal_key(const akm_store *s, const akm_key *key, uint8_t mac[AKM_SEAL_LEN]);
void akm_seal_tree(const akm_store *s, const akm_tree_row *row, uint8_t mac[AKM_SEAL_LEN]);
/* A named value: an integer (is_int, value) or a blob. */
void akm_seal_meta(const akm_store *s, const char *name, bool is_int, int64_t value, const uint8_t *blob,
                   size_t len, uint8_t mac[AKM_SEAL_LEN]);
/* An audit record: its hashed fields, whether rid and detail are present
 * (not NULL), whether it records a change of a relationship's row, its
 * chain links, the row id of the relationship it is about (0: none). */
void akm_seal_audit(const akm_store *s, const akm_audit_entry *e, bool has_rid, bool has_detail,
                    bool row_change, const uint8_t *prev, const uint8_t *hash, int64_t rel,
                    uint8_t mac[AKM_SEAL_LEN]);
/* Whether a stored MAC (any length, NULL for none) is the computed one;
 * constant time. */
bool akm_seal_matches(const uint8_t mac[AKM_SEAL_LEN], const void *stored, size_t stored_len);


extern const akm_store_ops akm_store_sqlite_ops;

#endif

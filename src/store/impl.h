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
	CK_RV (*begin)(akm_store *s);
	CK_RV (*commit)(akm_store *s);
	void (*rollback)(akm_store *s);
	CK_RV (*change_mark)(akm_store *s, uint64_t *mark);
	CK_RV (*get_int)(akm_store *s, const char *name, int64_t *value, bool *present);
	CK_RV (*set_int)(akm_store *s, const char *name, int64_t value);
	CK_RV (*get_blob)(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present);
	CK_RV (*set_blob)(akm_store *s, const char *name, const uint8_t *buf, size_t len);
	CK_RV (*insert_relationship)(akm_store *s, akm_relationship *rel);
	CK_RV (*insert_key)(akm_store *s, akm_key *key);
	CK_RV (*get_key)(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel);
	CK_RV (*update_relationship)(akm_store *s, const akm_relationship *rel);
	CK_RV (*update_key_label)(akm_store *s, int64_t id, const uint8_t *label, size_t len);
	CK_RV (*delete_relationship)(akm_store *s, int64_t id);
	CK_RV (*find)(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
	              size_t *n);
	CK_RV (*count)(akm_store *s, akm_store_table table, int64_t *n);
	CK_RV (*audit_append)(akm_store *s, const akm_audit_event *ev);
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
};

extern const akm_store_ops akm_store_sqlite_ops;

#endif

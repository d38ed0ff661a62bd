/*
 * The registry: where relationships, their wrapped keys and the audit trail
 * live.  Embedded SQLite today (WAL, transactions, a schema version with
 * step-by-step migrations, SQLite's own cross-process locks and a busy
 * timeout); this interface is what a server database would implement later.
 *
 * Keys are stored only as blobs wrapped by the backend's key-encryption key:
 * this layer never sees key material.  SQLite errors become CK_RV here and
 * nowhere else.  Not thread-safe: the caller serialises (akm layer lock).
 */
#ifndef AKM_REGISTRY_H
#define AKM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "lib/audit.h"

#define AKM_REGISTRY_SCHEMA_VERSION 2
#define AKM_ID_MAX 32            /* relationship, station and node IDs */
#define AKM_HW_MAX 64            /* hardware binding */
#define AKM_LABEL_MAX 128
#define AKM_WRAPPED_MAX 128      /* a wrapped 256-bit key with room to spare */
#define AKM_SITE_MAX 256         /* site / location metadata */
#define AKM_NODE_KEY_LEN 65      /* raw uncompressed P-256 point */

typedef struct akm_registry akm_registry;

typedef struct akm_relationship {
	int64_t id;                   /* row id, 0 before insertion */
	uint8_t rid[AKM_ID_MAX];
	size_t rid_len;
	CK_ULONG kind, state, epoch;
	uint8_t station[AKM_ID_MAX];
	size_t station_len;
	uint8_t peer[AKM_ID_MAX];
	size_t peer_len;
	uint8_t *members;             /* malloc'd or NULL; see CKA_AKM_MEMBERS */
	size_t members_len;
	uint8_t hw[AKM_HW_MAX];
	size_t hw_len;
	int64_t created, changed;
	CK_ULONG status, seq;         /* CKA_AKM_STATUS, CKA_AKM_SEQUENCE */
	uint8_t site[AKM_SITE_MAX];
	size_t site_len;
	uint8_t node_key[AKM_NODE_KEY_LEN];
	size_t node_key_len;          /* 0 or AKM_NODE_KEY_LEN */
} akm_relationship;

typedef struct akm_key {
	int64_t id;                   /* row id: the object's identity, never reused */
	int64_t relationship;         /* row id of its relationship */
	CK_ULONG purpose, key_type, value_len;
	uint8_t ckid[AKM_ID_MAX + 1];
	size_t ckid_len;
	uint8_t label[AKM_LABEL_MAX];
	size_t label_len;
	uint8_t wrapped[AKM_WRAPPED_MAX];
	size_t wrapped_len;
} akm_key;

/* Opens (creating when absent) and migrates the registry at `path`.  On
 * failure writes a sentence naming the file into err. */
CK_RV akm_registry_open(const char *path, akm_registry **out, char *err, size_t errlen);
void akm_registry_close(akm_registry *r);
const char *akm_registry_path(const akm_registry *r);

/* Write transactions (BEGIN IMMEDIATE: the cross-process write lock). */
CK_RV akm_registry_begin(akm_registry *r);
CK_RV akm_registry_commit(akm_registry *r);
void akm_registry_rollback(akm_registry *r);

/* Named values in the meta table. */
CK_RV akm_registry_get_int(akm_registry *r, const char *name, int64_t *value, bool *present);
CK_RV akm_registry_set_int(akm_registry *r, const char *name, int64_t value);
CK_RV akm_registry_get_blob(akm_registry *r, const char *name, uint8_t *buf, size_t *len, bool *present);
CK_RV akm_registry_set_blob(akm_registry *r, const char *name, const uint8_t *buf, size_t len);

/* Relationships and keys.  A duplicate relationship ID is
 * CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV akm_registry_insert_relationship(akm_registry *r, akm_relationship *rel);
CK_RV akm_registry_insert_key(akm_registry *r, akm_key *key);
/* CKR_OBJECT_HANDLE_INVALID when there is no such key.  `rel` may be NULL;
 * otherwise its members are malloc'd (free with akm_relationship_clear). */
CK_RV akm_registry_get_key(akm_registry *r, int64_t id, akm_key *key, akm_relationship *rel);
CK_RV akm_registry_update_relationship(akm_registry *r, const akm_relationship *rel);
CK_RV akm_registry_update_key_label(akm_registry *r, int64_t id, const uint8_t *label, size_t len);
/* Deletes a relationship and its keys; their pages are zeroed in the file
 * (secure_delete). */
CK_RV akm_registry_delete_relationship(akm_registry *r, int64_t id);
void akm_relationship_clear(akm_relationship *rel);

/* Search: key ids greater than `after`, ascending, at most `max`, whose
 * columns equal every filter given (NULL/absent filters match all). */
typedef struct akm_registry_query {
	const uint8_t *rid; size_t rid_len;
	const uint8_t *ckid; size_t ckid_len;
	const uint8_t *label; size_t label_len;
	const uint8_t *peer; size_t peer_len;
	bool has_kind, has_state, has_purpose;
	CK_ULONG kind, state, purpose;
} akm_registry_query;

CK_RV akm_registry_find(akm_registry *r, const akm_registry_query *q, int64_t after,
                        int64_t *ids, size_t max, size_t *n);
CK_RV akm_registry_count(akm_registry *r, const char *table, int64_t *n);
/* SQLite's data_version: changes when another connection (process)
 * commits, so a cache of what it read can tell when to read again. */
CK_RV akm_registry_data_version(akm_registry *r, int64_t *version);
/* A mark that changes whenever any process (this one included) commits a
 * change to the registry; reading it costs no system call. */
CK_RV akm_registry_change_mark(akm_registry *r, uint64_t *mark);

/* The audit trail: append-only, hash-chained (docs/formats.md).  Appended in
 * the caller's transaction when one is open, else in its own. */
typedef struct akm_audit_event {
	const char *actor;    /* who: "user", "so", "public", "module" */
	const char *action;   /* what: "create", "destroy", "login", ... */
	const uint8_t *rid;   /* which relationship, or NULL */
	size_t rid_len;
	CK_RV result;         /* CKR_OK, or the failure */
	const char *detail;   /* free text without secrets, or NULL */
} akm_audit_event;

CK_RV akm_registry_audit_append(akm_registry *r, const akm_audit_event *ev);
/* The chain's head: last sequence number and hash (0 and zeros when empty). */
CK_RV akm_registry_audit_head(akm_registry *r, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
/* The stored hash of record `seq` (CKR_OBJECT_HANDLE_INVALID when absent). */
CK_RV akm_registry_audit_hash_at(akm_registry *r, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
/* Walks the whole chain: CKR_OK, or CKR_GENERAL_ERROR with the first broken
 * record named in err (removed, altered, reordered, or a head that does not
 * match the chain). */
CK_RV akm_registry_audit_verify(akm_registry *r, int64_t *records, char *err, size_t errlen);

/* One audit record, as stored (text fields are not NUL-terminated). */
typedef struct akm_audit_record {
	int64_t seq, time;
	char actor[16], action[48], detail[1024];
	size_t actor_len, action_len, detail_len;
	uint8_t rid[AKM_ID_MAX];
	size_t rid_len;
	CK_RV result;
	uint8_t prev[AKM_AUDIT_HASH_LEN], hash[AKM_AUDIT_HASH_LEN];
} akm_audit_record;

/* Record `seq` (CKR_OBJECT_HANDLE_INVALID when there is none). */
CK_RV akm_registry_audit_get(akm_registry *r, int64_t seq, akm_audit_record *rec);
/* Sequence numbers greater than `after`, ascending, at most `max`, of the
 * records about relationship `rid` (any record when rid is NULL). */
CK_RV akm_registry_audit_find(akm_registry *r, const uint8_t *rid, size_t rid_len, int64_t after,
                              int64_t *seqs, size_t max, size_t *n);

#endif

/*
 * The store: where the registry's relationships, their wrapped keys, named
 * values and the audit trail live, behind an interface of typed rows that
 * an implementation provides (akm_store_ops).  A store is opened by URI:
 * "sqlite:PATH" (store/sqlite/, the embedded default; a bare path means the
 * same).  A server database can be added beside it without touching the
 * layers above.
 *
 * Keys are stored only as blobs wrapped by the backend's key-encryption key:
 * this layer never sees key material.  Each implementation converts its own
 * errors to CK_RV in one place.  Not thread-safe: the caller serialises (the
 * akm layer's lock).
 *
 * The storage is untrusted (whoever can write the file can edit any row):
 * once sealed with a key (akm_store_seal, at login), every row written
 * carries a MAC over all of its columns, its table and its row id
 * (store/seal.c, docs/formats.md), and every row read is checked.  A row
 * that fails, a value of the wrong type or size, a count of rows that does
 * not match the sealed counts, is AKM_STORE_TAMPERED with the reason in
 * akm_store_tamper_reason; the row is never returned.  Without a key
 * (before login, or a program without the token inspecting a file) rows
 * are read as they are, unchecked, and nothing can be written: the akm
 * layer reads nothing before login.
 */
#ifndef AKM_STORE_H
#define AKM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "lib/audit.h"

/* Row limits. */
#define AKM_ID_MAX 32            /* relationship, station and node IDs */
#define AKM_HW_MAX 64            /* hardware binding */
#define AKM_LABEL_MAX 128
#define AKM_WRAPPED_MAX 128      /* a wrapped 256-bit key with room to spare */
#define AKM_SITE_MAX 256         /* site / location metadata */
#define AKM_NODE_KEY_LEN 65      /* raw uncompressed P-256 point */

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
	CK_ULONG delivery;            /* CKA_AKM_DELIVERY: CKV_AKM_DELIVERY_* (PR); 0 for an ASR, and for a
	                               * relationship made before it (node-key) */
	/* The audit record of its last change (the last one with
	 * row_change); 0 before the first.  A row put back as an older sealed
	 * version of itself names an older record than the trail has. */
	int64_t audit;
	/* CKA_AKM_CHECKIN (PR): the activation service's replay counter, the
	 * issue time in ms of the last handshake cookie accepted; 0 until the
	 * first, and for every relationship made before schema version 4. */
	CK_ULONG checkin;
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

/* One node of an operational ASR's key tree (docs/asr.md §2; formats.md
 * "tree"): heap numbering, root 1, leaf i is capacity + i.  A row exists
 * iff the node has a key.  An interior node holds its key wrapped under the
 * KEK (a member side may keep its path keys the same way); a leaf names its
 * member and the member's provisioning relationship, whose encryption key
 * is the leaf's key.  `up` is the parent's key wrapped (AES-KWP) under this
 * node's key (empty for the root). */
typedef struct akm_tree_row {
	int64_t id;                   /* row id, given by the store */
	int64_t asr;                  /* row id of its relationship */
	uint32_t idx;                 /* heap index, >= 1 */
	uint32_t gen;                 /* the generation of this node's key */
	uint32_t up_gen;              /* the generation of the parent's key `up` wraps (0: no up) */
	uint8_t member[AKM_ID_MAX];   /* leaf: the member's AKM ID */
	size_t member_len;            /* 0 for an interior node */
	int64_t pr;                   /* leaf: its PR's relationship row id; 0 otherwise */
	uint8_t key[AKM_WRAPPED_MAX]; /* interior: its key wrapped under the KEK */
	size_t key_len;
	uint8_t up[AKM_WRAPPED_MAX];
	size_t up_len;
} akm_tree_row;

/* Search: key ids greater than `after`, ascending, at most `max`, whose
 * columns equal every filter given (NULL/absent filters match all). */
typedef struct akm_store_query {
	const uint8_t *rid; size_t rid_len;
	const uint8_t *ckid; size_t ckid_len;
	const uint8_t *label; size_t label_len;
	const uint8_t *peer; size_t peer_len;
	bool has_kind, has_state, has_purpose;
	CK_ULONG kind, state, purpose;
} akm_store_query;

/* What a change or a failure records in the audit trail. */
typedef struct akm_audit_event {
	const char *actor;    /* who: "user", "so", "public", "module" */
	const char *action;   /* what: "create", "destroy", "login", ... */
	const uint8_t *rid;   /* which relationship, or NULL */
	size_t rid_len;
	CK_RV result;         /* CKR_OK, or the failure */
	const char *detail;   /* free text without secrets, or NULL */
	bool row_change;      /* it records a change of the relationship's row */
} akm_audit_event;

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

/* Row counts (statistics and tests). */
typedef enum akm_store_table {
	AKM_STORE_RELATIONSHIPS,
	AKM_STORE_KEYS,
	AKM_STORE_AUDIT,
	AKM_STORE_TREE,
} akm_store_table;

typedef struct akm_store akm_store;

/* The answer of a store call that found a row, a value or a count that is
 * not what the store wrote (the caller records it and answers
 * CKR_DEVICE_ERROR; never returned through PKCS#11). */
#define AKM_STORE_TAMPERED (CKR_VENDOR_DEFINED | 0x414b4d54UL)
#define AKM_STORE_KEY_LEN 32

/* Opens (creating when absent) and migrates the store `uri` names.  On
 * failure writes a sentence naming it into err. */
CK_RV akm_store_open(const char *uri, akm_store **out, char *err, size_t errlen);
void akm_store_close(akm_store *s);
/* What to call the store in messages (its file for SQLite). */
const char *akm_store_location(const akm_store *s);

/* From now on every row written is sealed and every row read checked
 * under `key` (copied into locked memory); NULL forgets the key (logout):
 * rows are then read unchecked and not written. */
CK_RV akm_store_seal(akm_store *s, const uint8_t *key);
/* Whether the store has a key (between login and logout). */
bool akm_store_sealed(const akm_store *s);
/* Why the last AKM_STORE_TAMPERED answer was given: "table row N: ...". */
const char *akm_store_tamper_reason(const akm_store *s);
/* Records why (printf-style) and returns AKM_STORE_TAMPERED: for the store
 * and for checks above it that find the registry inconsistent with the
 * token. */
CK_RV akm_store_tampered(akm_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At login, in a write transaction: the sealed counts of rows and the
 * named values against the tables (a row deleted or inserted), the
 * implementation's own bookkeeping, and (with `upgrade`) first seals a
 * registry written before rows were sealed: every row that has no MAC yet
 * gets one (the registry is trusted as it is, once).  CKR_OK,
 * AKM_STORE_TAMPERED, or the store's error. */
CK_RV akm_store_check(akm_store *s, bool upgrade);

/* Write transactions: one writer at a time, across processes (others wait
 * up to a timeout); a crash or a rollback leaves nothing of it. */
CK_RV akm_store_begin(akm_store *s);
CK_RV akm_store_commit(akm_store *s);
void akm_store_rollback(akm_store *s);

/* A read snapshot: the reads between these see one state of the store,
 * whatever other processes commit meanwhile; nothing may be written in
 * it (use akm_store_begin for that).  Cheaper than a write transaction:
 * no write lock. */
CK_RV akm_store_snapshot(akm_store *s);
void akm_store_snapshot_end(akm_store *s);

/* A mark that moves by one whenever any process (this one included)
 * commits a change: a cache of what was read can tell when to read again,
 * and a writer whose commit moved it by exactly one knows nobody else
 * committed since it began.  Cheap enough for every operation's hot
 * path. */
CK_RV akm_store_change_mark(akm_store *s, uint64_t *mark);
/* A version that moves with every commit to the storage, also one made by
 * a program outside the module (which the change mark does not see): for a
 * cache of rows that must notice an edit of the file at once.  Costs a
 * query (SQLite's data_version). */
CK_RV akm_store_file_version(akm_store *s, uint64_t *version);

/* Named values. */
CK_RV akm_store_get_int(akm_store *s, const char *name, int64_t *value, bool *present);
CK_RV akm_store_set_int(akm_store *s, const char *name, int64_t value);
CK_RV akm_store_get_blob(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present);
CK_RV akm_store_set_blob(akm_store *s, const char *name, const uint8_t *buf, size_t len);

/* Relationships and keys.  A duplicate relationship ID is
 * CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV akm_store_insert_relationship(akm_store *s, akm_relationship *rel);
CK_RV akm_store_insert_key(akm_store *s, akm_key *key);
/* CKR_OBJECT_HANDLE_INVALID when there is no such key.  `rel` may be NULL;
 * otherwise its members are malloc'd (free with akm_relationship_clear). */
CK_RV akm_store_get_key(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel);
CK_RV akm_store_update_relationship(akm_store *s, const akm_relationship *rel);
CK_RV akm_store_update_key_label(akm_store *s, int64_t id, const uint8_t *label, size_t len);
/* One key row deleted alone (an ASR member's previous step key at the end
 * of its grace period, docs/asr.md §5), its blob wiped like every deleted
 * row's. */
CK_RV akm_store_delete_key(akm_store *s, int64_t id);
/* Deletes a relationship, its keys and its tree rows, leaving no trace of their blobs. */
CK_RV akm_store_delete_relationship(akm_store *s, int64_t id);
void akm_relationship_clear(akm_relationship *rel);

/* A relationship by its row id (CKR_OBJECT_HANDLE_INVALID when absent);
 * checked like get_key's; its members malloc'd (akm_relationship_clear). */
CK_RV akm_store_get_relationship(akm_store *s, int64_t id, akm_relationship *rel);

/* Key-tree rows (akm_tree_row).  put inserts the row, or replaces the one
 * of the same (asr, idx) keeping its row id; row->id is set.  get answers
 * CKR_OBJECT_HANDLE_INVALID when there is no such row; delete likewise;
 * delete_all removes every row of an ASR (also done by
 * akm_store_delete_relationship).  scan: the rows of `asr` with idx >
 * `after`, ascending, at most `max`.  find_member: the idx of the leaf
 * holding `member` (CKR_OBJECT_HANDLE_INVALID when none).  members: how
 * many leaves (rows with a member) the ASR has.  Rows are sealed and
 * checked like every other, and counted (akm_store_check). */
CK_RV akm_store_tree_put(akm_store *s, akm_tree_row *row);
CK_RV akm_store_tree_get(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row *row);
CK_RV akm_store_tree_delete(akm_store *s, int64_t asr, uint32_t idx);
CK_RV akm_store_tree_delete_all(akm_store *s, int64_t asr);
CK_RV akm_store_tree_scan(akm_store *s, int64_t asr, uint32_t after, akm_tree_row *rows, size_t max, size_t *n);
CK_RV akm_store_tree_find_member(akm_store *s, int64_t asr, const uint8_t *member, size_t len, uint32_t *idx);
CK_RV akm_store_tree_members(akm_store *s, int64_t asr, int64_t *n);
/* The rows of node `idx` and its ancestors up to the root that exist, in
 * one read: rows[k] is node idx >> k when has[k] (k < 32; past the root
 * nothing). */
CK_RV akm_store_tree_path(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row rows[32], bool has[32]);
/* A key row's wrapped blob replaced (an ASR's group key at a new
 * generation), sealed anew. */
CK_RV akm_store_update_key_wrapped(akm_store *s, int64_t id, const uint8_t *wrapped, size_t len);

CK_RV akm_store_find(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
                     size_t *n);
/* The same in the order of the keys' labels (bytes; labels are unique):
 * keys whose label is greater than `after` (all when after_len is
 * SIZE_MAX), at most max; `last` (AKM_LABEL_MAX bytes) gets the label of
 * the last one, where the next call goes on from.  Read through the label
 * index: a listing in label order costs what one in row order does. */
CK_RV akm_store_find_by_label(akm_store *s, const akm_store_query *q, const uint8_t *after, size_t after_len,
                              int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len);
CK_RV akm_store_count(akm_store *s, akm_store_table table, int64_t *n);

/* Events before login, when nothing can be sealed: kept unsealed (at most
 * AKM_STORE_PENDING_MAX; past that CKR_DEVICE_MEMORY and the event is not
 * kept) until the next login moves them into the audit trail.  Whoever can write the file can
 * remove them; the module's log has them too. */
#define AKM_STORE_PENDING_MAX 1000
CK_RV akm_store_pending_add(akm_store *s, const akm_audit_event *ev);
/* In the login's transaction, sealed: appends every pending event that
 * `allowed` accepts to the audit trail (its detail saying when it
 * happened), and removes them all; *refused counts the others (rows
 * nobody but the file's writer can have put there). */
typedef bool (*akm_pending_rule)(const char *actor, const char *action, CK_RV result, const char *detail);
CK_RV akm_store_pending_flush(akm_store *s, akm_pending_rule allowed, int64_t *refused);

/* The audit trail: append-only, hash-chained (docs/formats.md).  Appended in
 * the caller's transaction when one is open, else in its own. */
CK_RV akm_store_audit_append(akm_store *s, const akm_audit_event *ev);
/* The chain's head: last sequence number and hash (0 and zeros when empty). */
CK_RV akm_store_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
/* The stored hash of record `seq` (CKR_OBJECT_HANDLE_INVALID when absent). */
CK_RV akm_store_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
/* Walks the whole chain: CKR_OK, or CKR_GENERAL_ERROR with the first broken
 * record named in err (removed, altered, reordered, or a head that does not
 * match the chain). */
CK_RV akm_store_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen);
/* Record `seq` (CKR_OBJECT_HANDLE_INVALID when there is none). */
CK_RV akm_store_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec);
/* Sequence numbers greater than `after`, ascending, at most `max`, of the
 * records about relationship `rid` (any record when rid is NULL). */
CK_RV akm_store_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                           size_t max, size_t *n);

#endif

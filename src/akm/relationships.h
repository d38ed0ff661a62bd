/*
 * AKM relationships: the domain, on typed structs (docs/object-model.md).
 *
 * A relationship's keys live in the registry (the store) only as blobs
 * wrapped by the backend token's key-encryption key, which never leaves
 * the token.  On use a key is unwrapped into a backend session object and
 * cached (bounded, keys.c and cache.c), so repeated use costs nothing more
 * than the operation itself, and the backend's object count stays constant
 * however many relationships there are.
 *
 * Rollback of the registry is detected with a counter kept in the backend
 * token (counter.c); every change, and every failure that could be an
 * attack, is an event (events.c) written to the hash-chained audit trail in
 * the same transaction as the change.
 *
 *   domain.c         open/close, login/logout, transactions
 *   relationships.c  creation, reading, changes with their rules, deletion,
 *                    search
 *   keys.c           the keys in the backend: making, using, exporting
 *   cache.c          the cache of unwrapped keys
 *   counter.c        the rollback counter in the token
 *   events.c         typed events and their audit records
 *   audit.c          the audit trail as records: read, append, search,
 *                    verify
 *
 * This layer knows nothing of PKCS#11 objects or templates: the core's
 * object classes turn templates into these structs and back.  Thread-safe:
 * one lock inside serialises the store, the backend session and the cache.
 */
#ifndef AKM_RELATIONSHIPS_H
#define AKM_RELATIONSHIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "backend/backend.h"
#include "store/store.h"

#define AKM_MEMBERS_MAX 1024     /* members of an operational relationship */
#define AKM_LABEL_SUFFIX_LEN 4   /* "/enc", "/mac" */
/* The purpose string the registry's row key is derived for from the
 * token's MAC key (backend.h, docs/formats.md §2.6). */
#define AKM_ROW_KEY_PURPOSE "akm-pkcs11 registry rows v1"

typedef struct akm_relationships akm_relationships;

/* ---- life cycle (domain.c) ------------------------------------------------ */

/* Opens the registry at store URI `store` for the backend token in `slot`.
 * Keys become usable after akm_relationships_login. */
CK_RV akm_relationships_open(akm_relationships **out, const char *store, akm_backend *be, CK_SLOT_ID slot,
                             char *err, size_t errlen);
void akm_relationships_close(akm_relationships *r);
/* After the user logged in: finds (or, for an empty registry, creates) the
 * KEK, the MAC key and the counter objects, seals the store with the row
 * key derived from the MAC key, and checks the registry against the token:
 * its sealed counts and named values, its generation against the counter,
 * its audit chain against the head the token keeps.  A refusal (rollback,
 * deletion, tampering, a busy registry) is logged, recorded when the trail
 * itself is intact, changes nothing in the token, and is returned
 * (CKR_DEVICE_ERROR, or the store's error); the caller then logs the token
 * out.  Restoring the right file makes the next login succeed. */
CK_RV akm_relationships_login(akm_relationships *r);
/* Before or after the application's logout: the counter is brought up to
 * date while it is within reach, the cache and the KEK handle are dropped. */
void akm_relationships_logout(akm_relationships *r);
/* CKR_OK when the relationships are usable (logged in, registry accepted);
 * CKR_USER_NOT_LOGGED_IN or the refusal otherwise. */
CK_RV akm_relationships_status(akm_relationships *r);
/* Backend objects the module keeps for itself (KEK, counter, cached keys):
 * hidden from applications' searches. */
bool akm_relationships_hides(akm_relationships *r, CK_OBJECT_HANDLE backend);

/* ---- relationships (relationships.c) --------------------------------------- */

/* A relationship to create.  rel: kind, state, IDs, binding, members (malloc'd
 * or NULL), site, node key; an empty rid gets 16 random bytes, an empty label
 * "akm:<hex rid>".  The caller has checked every value against the object
 * model's rules (the core's relationship class). */
typedef struct akm_relationship_spec {
	akm_relationship rel;
	uint8_t label[AKM_LABEL_MAX];
	size_t label_len;
} akm_relationship_spec;

/* Creates n relationships in one transaction, all or none; enc_ids[i]
 * receives the key id of the i-th one's encryption key. */
CK_RV akm_relationships_create(akm_relationships *r, akm_relationship_spec *specs, size_t n, int64_t *enc_ids);

/* A key and its relationship, as stored. */
typedef struct akm_key_record {
	akm_key key;
	akm_relationship rel;
} akm_key_record;

/* CKR_OBJECT_HANDLE_INVALID when there is no such key; the registry's
 * status (CKR_USER_NOT_LOGGED_IN, a refusal) otherwise.  Every read goes to
 * the store, so changes by other processes count at once. */
CK_RV akm_relationships_get(akm_relationships *r, int64_t key_id, akm_key_record *out);
/* For showing a key's attributes (C_GetAttributeValue), not for deciding
 * what it may do: the same, answered from the records a search read ahead
 * (akm_relationships_prefetch) while no process using the module has
 * committed since and for at most AKM_CACHE_STATE_MS; else as get. */
CK_RV akm_relationships_read(akm_relationships *r, int64_t key_id, akm_key_record *out);
/* Reads the records of keys ids[0..n) (at most AKM_AHEAD_MAX) in one read
 * snapshot, for akm_relationships_read: a search's results, which its
 * caller typically reads next. */
void akm_relationships_prefetch(akm_relationships *r, const int64_t *ids, size_t n);
void akm_key_record_clear(akm_key_record *k);

/* The rules of a relationship's life (docs/object-model.md): whether a
 * change from what is stored to what is asked may be made. */
bool akm_state_valid(CK_ULONG state);
bool akm_state_change_allowed(CK_ULONG from, CK_ULONG to);
bool akm_status_change_allowed(CK_ULONG from, CK_ULONG to);  /* forward only */
bool akm_sequence_change_allowed(CK_ULONG from, CK_ULONG to); /* the next number only */
/* The replay counter (CKA_AKM_CHECKIN): strictly higher only; the same value
 * again is a replay, not "no change". */
bool akm_checkin_change_allowed(CK_ULONG from, CK_ULONG to);
/* A node key is set once: CKR_OK, CKR_ATTRIBUTE_VALUE_INVALID (not an
 * uncompressed point) or CKR_ATTRIBUTE_READ_ONLY (another one is set). */
CK_RV akm_node_key_change(const akm_relationship *rel, const uint8_t *point, size_t len);
/* Members: (length byte 1..AKM_ID_MAX, ID bytes) repeated, 2..AKM_MEMBERS_MAX,
 * no duplicates. */
bool akm_members_valid(const uint8_t *p, size_t n);

/* What a change asks for; unset fields stay as they are. */
typedef struct akm_relationship_change {
	bool set_state, set_status, set_seq, set_node_key, set_label, set_checkin;
	CK_ULONG state, status, seq, checkin;
	uint8_t node_key[AKM_NODE_KEY_LEN];
	const uint8_t *label; /* the key's label (this key only) */
	size_t label_len;
} akm_relationship_change;

/* Applies a change to the relationship of key `key_id` (and the label to
 * that key) in one transaction, with an audit record per change; the rules
 * above are checked again against the stored row inside the transaction.
 * CKR_ATTRIBUTE_VALUE_INVALID or CKR_ATTRIBUTE_READ_ONLY when a rule
 * refuses; nothing is changed then. */
CK_RV akm_relationships_update(akm_relationships *r, int64_t key_id, const akm_relationship_change *c);
/* Destroys the whole relationship key `key_id` belongs to (its credential
 * set goes together), wiping its blobs, with an audit record. */
CK_RV akm_relationships_destroy(akm_relationships *r, int64_t key_id);
/* Key ids matching q, greater than `after`, ascending, at most max.  A first
 * search (after == 0) for a relationship ID nobody has is an event. */
CK_RV akm_relationships_find(akm_relationships *r, const akm_store_query *q, int64_t after, int64_t *ids,
                             size_t max, size_t *n);
/* The same in label order (akm_store_find_by_label): after the label
 * after[0..after_len), or from the first when after_len is SIZE_MAX; `last`
 * (AKM_LABEL_MAX bytes) gets the label to go on from. */
CK_RV akm_relationships_find_by_label(akm_relationships *r, const akm_store_query *q, const uint8_t *after,
                                      size_t after_len, int64_t *ids, size_t max, size_t *n, uint8_t *last,
                                      size_t *last_len);

/* ---- keys (keys.c) ---------------------------------------------------------- */

typedef enum akm_key_use {
	AKM_KEY_ENCRYPT,
	AKM_KEY_DECRYPT,
	AKM_KEY_WRAP,
	AKM_KEY_UNWRAP,
	AKM_KEY_SIGN,
	AKM_KEY_VERIFY,
	AKM_KEY_OTHER, /* anything else a relationship key never does */
} akm_key_use;

/* The backend object of key `key_id` for `use`: from the cache, or unwrapped
 * now.  CKR_KEY_HANDLE_INVALID when there is no such key (or no login);
 * CKR_KEY_FUNCTION_NOT_PERMITTED for a use its purpose does not allow, or
 * a suspended or revoked relationship (audited); CKR_DEVICE_ERROR when it
 * does not unwrap under the KEK (audited). */
CK_RV akm_relationships_use(akm_relationships *r, int64_t key_id, akm_key_use use, CK_OBJECT_HANDLE *backend);
/* The backend lost the object akm_relationships_use gave for key `key_id`
 * (its session went away): the cache forgets it, the next use unwraps the
 * key again. */
void akm_relationships_lost(akm_relationships *r, int64_t key_id);
/* A provisioning relationship's delivery as it counts: CKA_AKM_DELIVERY,
 * or for a row that has none (made before there was one),
 * CKV_AKM_DELIVERY_NODE_KEY; 0 for an operational relationship. */
CK_ULONG akm_relationship_delivery(const akm_relationship *rel);

/* CKM_AKM_EXPORT_WRAP: the credential set of the provisioning relationship
 * key `key_id` belongs to, both keys (encryption key first), each wrapped
 * with AES-KWP under a transport key made inside the backend for this call
 * (backend.h, "Export").  `mode` is CKV_AKM_EXPORT_NODE_KEY (ECDH with the
 * relationship's recorded node key; eph_point receives the ephemeral public
 * point) or CKV_AKM_EXPORT_PASSPHRASE (pass_key: the 32 bytes of the
 * key-wrap key); it must be the relationship's delivery.  out NULL asks for
 * the length; a length query and CKR_BUFFER_TOO_SMALL change nothing and
 * record nothing.  Otherwise the export is audited ("export", the mode as
 * detail), and so is a refusal ("export-refused").  CKR_KEY_HANDLE_INVALID
 * when there is no such key (or no login); CKR_KEY_NOT_WRAPPABLE for an
 * operational relationship; CKR_KEY_FUNCTION_NOT_PERMITTED when the
 * relationship is not active, was made for the other delivery, or (node-key
 * mode) has no node key recorded. */
CK_RV akm_relationships_export(akm_relationships *r, int64_t key_id, CK_ULONG mode, const uint8_t *pass_key,
                               uint8_t eph_point[AKM_NODE_KEY_LEN], CK_BYTE *out, CK_ULONG *out_len);

/* ---- events and the audit trail (events.c, audit.c) -------------------------- */

typedef enum akm_event_kind {
	/* changes */
	AKM_EVENT_CREATE,
	AKM_EVENT_DESTROY,
	AKM_EVENT_SET_STATE,
	AKM_EVENT_SET_STATUS,
	AKM_EVENT_SET_SEQUENCE,
	AKM_EVENT_SET_NODE_KEY,
	AKM_EVENT_SET_CHECKIN,
	AKM_EVENT_SET_LABEL,
	AKM_EVENT_EXPORT,
	/* breach signals */
	AKM_EVENT_LOGIN_FAILED,
	AKM_EVENT_EXPORT_REFUSED,
	AKM_EVENT_USE_REFUSED,
	AKM_EVENT_UNWRAP_FAILED,
	AKM_EVENT_UNKNOWN_RELATIONSHIP,
	AKM_EVENT_DECRYPT_FAILED,
	AKM_EVENT_VERIFY_FAILED,
	AKM_EVENT_ROLLBACK_DETECTED,
	AKM_EVENT_TAMPER_DETECTED,
	AKM_EVENT_LOGIN_REFUSED, /* a PIN not tried: back-off running or locked out */
	/* changes of operational ASRs with a key tree (akm/asr.h) */
	AKM_EVENT_ASR_CREATE,
	AKM_EVENT_ASR_ADD,
	AKM_EVENT_ASR_REMOVE,
	AKM_EVENT_ASR_REKEY,
	/* an operational ASR's member (akm/asr_member.c) */
	AKM_EVENT_ASR_MEMBER_ENROLL,  /* enrolled from a package */
	AKM_EVENT_ASR_MEMBER_REKEY,   /* a rekey message applied: a new generation */
	AKM_EVENT_ASR_MEMBER_STEP,    /* moved to a later step */
	AKM_EVENT_ASR_MEMBER_RESERVE, /* sequence numbers reserved for sealing */
	AKM_EVENT_ASR_MEMBER_REMOVED, /* a rekey message removed this member: the ASR forgotten */
	AKM_EVENT_ASR_MEMBER_REFUSED, /* a package, rekey message or message refused (breach signal) */
	AKM_EVENT_KINDS
} akm_event_kind;

/* The audit record's action ("create", "decrypt-failed", ...) and actor
 * ("user", "module") of an event kind, and whether it is a breach signal
 * (for the monitor). */
const char *akm_event_action(akm_event_kind kind);
const char *akm_event_actor(akm_event_kind kind);
bool akm_event_is_breach(akm_event_kind kind);

/* Records an event about key `key_id`'s relationship (0: about none), such
 * as a failed decryption or login seen by the core.  Never fails the
 * caller: a record that cannot be written is logged. */
void akm_relationships_event(akm_relationships *r, akm_event_kind kind, int64_t key_id, CK_RV result,
                             const char *detail);

/* Audit record `seq` (CKR_OBJECT_HANDLE_INVALID when there is none). */
CK_RV akm_audit_read(akm_relationships *r, int64_t seq, akm_audit_record *rec);
/* The chain head the token keeps: u64 sequence number and hash; zeros when
 * there is none.  Brought up to date with the registry first. */
CK_RV akm_audit_token_head(akm_relationships *r, uint8_t head[8 + AKM_AUDIT_HASH_LEN]);
/* Appends an application's record (actor "app") in its own transaction;
 * *seq gets its number. */
CK_RV akm_audit_append_app(akm_relationships *r, const char *action, const uint8_t *rid, size_t rid_len,
                           CK_RV result, const char *detail, int64_t *seq);
/* Sequence numbers of records about `rid` (any when NULL) after `after`. */
CK_RV akm_audit_find(akm_relationships *r, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                     size_t max, size_t *n);
/* Verifies the audit chain and that it contains the head last recorded in
 * the token.  CKR_OK or CKR_GENERAL_ERROR with the reason in err. */
CK_RV akm_audit_verify(akm_relationships *r, int64_t *records, char *err, size_t errlen);

#endif

/*
 * An operational ASR's member (docs/asr.md §4 member half, §5): enrolling
 * from a station-signed package, applying rekey messages, sealing and
 * opening messages under the step keys, stepping on time, message and
 * failure limits, the replay windows and the sealing counter.
 *
 * What a member holds of an ASR, in the registry, changed in one
 * transaction each time: the relationship row (kind operational, rid the
 * ASR ID, epoch generation << 32 | step, station, peer the member's own AKM
 * ID, seq the sealing reserve), the current step key (purpose ENCRYPT,
 * CKA_ID ASR ID || 0x01, wrapped under the ratchet KEK), during the grace
 * period the previous step's key (purpose PREVIOUS, ASR ID || 0x04), its
 * path keys as tree rows (wrapped under the KEK) and its leaf's tree row
 * (the PR ID in its key column), and its state record (fmt-asr.h type 4)
 * as the named blob "asr:<hex ASR ID>".
 */
#ifndef AKM_ASR_MEMBER_H
#define AKM_ASR_MEMBER_H

#include "akm/relationships.h"
#include "lib/fmt-asr.h"

/* Whether a relationship row is an ASR as a member holds it (operational,
 * with the member's own ID as its peer). */
bool akm_asr_is_member(const akm_relationship *rel);

/* CKM_AKM_ASR_ENROLL: pr_key and anchor are backend objects of the
 * registry's token (the PR's encryption key, the station's public key).
 * *key_id gets the ASR key's id.  Refusals change nothing and are audited
 * ("asr-refused"). */
CK_RV akm_asr_enroll(akm_relationships *r, CK_OBJECT_HANDLE pr_key, CK_OBJECT_HANDLE anchor, const uint8_t *pkg,
                     size_t len, int64_t *key_id);
/* CKM_AKM_ASR_REKEY on the ASR key `key_id`. */
CK_RV akm_asr_apply_rekey(akm_relationships *r, int64_t key_id, CK_OBJECT_HANDLE anchor, const uint8_t *msg, size_t len);
/* Whether key `key_id` is a member's ASR key (CKR_OK), for the mechanisms'
 * Init: CKR_KEY_TYPE_INCONSISTENT when it is another relationship key. */
CK_RV akm_asr_check_key(akm_relationships *r, int64_t key_id);
/* CKM_AKM_ASR_SEAL / _OPEN: out NULL asks for the length (nothing else
 * happens); CKR_BUFFER_TOO_SMALL with the length needed. */
CK_RV akm_asr_seal(akm_relationships *r, int64_t key_id, const uint8_t *in, size_t in_len, uint8_t *out,
                   CK_ULONG *out_len);
CK_RV akm_asr_open(akm_relationships *r, int64_t key_id, const uint8_t *in, size_t in_len, uint8_t *out,
                   CK_ULONG *out_len);
/* C_SetAttributeValue(CKA_AKM_EPOCH): a later step of the same generation
 * (CKR_ATTRIBUTE_VALUE_INVALID otherwise). */
CK_RV akm_asr_set_epoch(akm_relationships *r, int64_t key_id, CK_ULONG epoch);

/* What a member's key shows beyond its relationship row. */
typedef struct akm_asr_info {
	uint32_t leaf, capacity, members;
	akm_asr_policy policy;
} akm_asr_info;
CK_RV akm_asr_info_get(akm_relationships *r, const akm_relationship *rel, akm_asr_info *info);

/* Lock and transaction held: deletes the state record of the member ASR
 * `rel` (its rows go with akm_store_delete_relationship). */
CK_RV akm_asr_state_delete(akm_relationships *r, const akm_relationship *rel);
/* Lock held: the keys in use of relationship row `rel_id` are destroyed
 * and its reserve forgotten. */
void akm_asr_mem_forget(akm_relationships *r, int64_t rel_id);
/* Lock held, no transaction: what this process has not written of each
 * ASR (seals counted, messages opened, docs/asr.md §5) written, and its
 * dirty marks cleared: at logout and when the registry closes. */
void akm_asr_mem_flush(akm_relationships *r);
/* Lock held: everything forgotten (the backend objects destroyed when
 * asked: not when their session is going anyway). */
void akm_asr_mem_clear(akm_relationships *r, bool destroy);
bool akm_asr_mem_holds(akm_relationships *r, CK_OBJECT_HANDLE h);

#endif

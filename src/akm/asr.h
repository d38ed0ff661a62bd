/*
 * The station's operational ASRs with a key tree (docs/asr.md §2, §4):
 * creating one (CKM_AKM_ASR_GEN), a member's enrollment package
 * (CKM_AKM_ASR_PACKAGE), adding, removing and rekeying
 * (CKM_AKM_ASR_UPDATE), and the rekey message of the current generation
 * (CKM_AKM_ASR_REKEY_MESSAGE), on typed structs.
 *
 * An ASR is a relationship row (kind operational) with one key row (its
 * group key, purpose encryption, wrapped under the KEK) and one tree row
 * per node that has a key (store.h, akm_tree_row).  Its station state
 * (depth, policy, when the generation began, member count and hash, what
 * the last change did) is kept in the relationship row's `members` column,
 * which for a tree ASR begins with a 0x00 byte that no CKA_AKM_MEMBERS list
 * can begin with: that is how tree ASRs are told apart from operational
 * relationships of the older kind (akm-mkrel's, CKA_AKM_MEMBERS in the
 * row), whose rules stay as they were.  The row is sealed and its
 * freshness checked against the audit trail like every other.
 */
#ifndef AKM_ASR_H
#define AKM_ASR_H

#include "akm/relationships.h"
#include "lib/fmt-asr.h"

#define AKM_TREE_CAPACITY_MIN 4UL
#define AKM_TREE_CAPACITY_MAX (1UL << AKM_ASR_DEPTH_MAX)

/* The station's state of a tree ASR (the `members` column). */
typedef struct akm_tree_state {
	uint8_t depth;                          /* capacity = 1 << depth */
	akm_asr_policy policy;                  /* defaults applied */
	uint64_t gen_start;                     /* Unix seconds the generation began */
	uint32_t members;
	uint8_t member_hash[AKM_FMT_HASH_LEN];  /* akm_asr_member_hash of the leaves */
	uint8_t last_op;                        /* CKV_AKM_ASR_* of the last change; 0: creation */
	uint8_t made_gen;                       /* the last change made the current generation */
	uint32_t leaf;                          /* the leaf it added or removed */
	uint8_t nremoved;
	uint32_t removed[AKM_ASR_REMOVED_MAX];  /* the leaves the current generation's change removed */
} akm_tree_state;

/* Whether a relationship row is a tree ASR's; its state (CKR_DEVICE_ERROR
 * for a state that is not one the station writes). */
bool akm_relationship_is_tree(const akm_relationship *rel);
CK_RV akm_tree_state_parse(const akm_relationship *rel, akm_tree_state *st);

/* CKM_AKM_ASR_GEN: a checked request (the core checked every value). */
typedef struct akm_station_gen {
	akm_relationship_spec spec;             /* rid (may be empty), station, label (<= 64 printable), state */
	akm_asr_policy policy;                  /* defaults applied */
	uint32_t capacity;                      /* a power of two, 4 .. 2^17, >= the members */
	size_t nmembers;                        /* 2 .. capacity */
	const uint8_t *const *members;          /* 1-32 bytes each, no duplicates */
	const size_t *member_lens;
} akm_station_gen;

/* Creates the ASR, its group key and its key tree in one transaction,
 * audited "asr-create"; *key_id gets its key.  Each member must have
 * exactly one provisioning relationship in the registry (by
 * CKA_AKM_PEER_NODE) that is not revoked, and it must be active: otherwise
 * CKR_ATTRIBUTE_VALUE_INVALID and nothing is made. */
CK_RV akm_station_create(akm_relationships *r, akm_station_gen *g, int64_t *key_id);
/* A member's package, its signed part (fmt-asr.h): out NULL asks for the
 * exact length.  Reads only.  CKR_AKM_OTHER_MEMBER for a non-member;
 * CKR_KEY_FUNCTION_NOT_PERMITTED for a key that is not an active tree
 * ASR's; CKR_KEY_HANDLE_INVALID for no such key. */
CK_RV akm_station_package(akm_relationships *r, int64_t key_id, const uint8_t *member, size_t len, uint8_t *out,
                          CK_ULONG *out_len);
/* CKM_AKM_ASR_UPDATE: op CKV_AKM_ASR_ADD, _REMOVE, _REKEY (member NULL)
 * in one transaction, audited; docs/asr.md §4 has the codes. */
CK_RV akm_station_update(akm_relationships *r, int64_t key_id, CK_ULONG op, const uint8_t *member, size_t len);
/* The current generation's rekey message, its signed part; out NULL asks
 * for the exact length.  CKR_KEY_FUNCTION_NOT_PERMITTED at generation 1 or
 * when the last change made no generation. */
CK_RV akm_station_rekey_message(akm_relationships *r, int64_t key_id, uint8_t *out, CK_ULONG *out_len);
/* CKA_AKM_MEMBERS of a tree ASR (row id `asr`), computed from its leaves in
 * leaf order: one length byte and the ID per member; *out malloc'd. */
CK_RV akm_station_members(akm_relationships *r, int64_t asr, uint8_t **out, size_t *len);

#endif

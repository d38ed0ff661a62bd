/*
 * The audit trail's record hash and chain (docs/formats.md §3, AKM-AUDIT-1):
 * the one copy, used by the registry when it appends and verifies, and by
 * akm-nmm when it verifies the records it reads through PKCS#11.
 *
 * hash = SHA-256("AKM-AUDIT-1" || prev || u64 seq || u64 time || lp(actor) ||
 *                lp(action) || lp(rid) || u64 result || lp(detail))
 * with big-endian integers and lp(x) = u64 length || x.
 */
#ifndef AKM_LIB_AUDIT_H
#define AKM_LIB_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define AKM_AUDIT_HASH_LEN 32

/* The hashed fields of one record.  Text fields are not NUL-terminated;
 * a NULL pointer is an empty field. */
typedef struct akm_audit_entry {
	int64_t seq, time;
	const char *actor;
	size_t actor_len;
	const char *action;
	size_t action_len;
	const uint8_t *rid;
	size_t rid_len;
	uint64_t result;
	const char *detail;
	size_t detail_len;
} akm_audit_entry;

void akm_audit_hash(const uint8_t prev[AKM_AUDIT_HASH_LEN], const akm_audit_entry *e,
                    uint8_t out[AKM_AUDIT_HASH_LEN]);

/* Walking a chain from its first record. */
typedef struct akm_audit_chain {
	int64_t records;                 /* records accepted so far */
	uint8_t last[AKM_AUDIT_HASH_LEN]; /* the last one's hash; zeros before the first */
} akm_audit_chain;

void akm_audit_chain_init(akm_audit_chain *c);

/* Checks the next record, with the `prev` and `hash` it has stored (of any
 * length: a stored value of the wrong length does not match): it must be
 * number records+1, link to the last hash and hash to its stored value.
 * 0 (and the chain moves on), or -1 with a sentence naming the record in
 * why: "audit record N is missing (found M next)", "... does not follow
 * record N-1 (removed or reordered)", "... was altered". */
int akm_audit_chain_next(akm_audit_chain *c, const akm_audit_entry *e, const uint8_t *prev,
                         size_t prev_len, const uint8_t *hash, size_t hash_len, char *why,
                         size_t whylen);

#endif

/* The audit trail as records: read, appended by applications, searched,
 * verified against the head the token keeps (relationships.h). */
#include <stdio.h>
#include <string.h>

#include "akm/internal.h"

CK_RV akm_audit_read(akm_relationships *r, int64_t seq, akm_audit_record *rec)
{
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_answer(r, akm_store_audit_get(r->reg, seq, rec));
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_audit_token_head(akm_relationships *r, uint8_t head[8 + AKM_AUDIT_HASH_LEN])
{
	uint8_t value[AKM_COUNTER_LEN];
	memset(head, 0, 8 + AKM_AUDIT_HASH_LEN);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK) {
		akm_counter_flush(r); /* so that the head is as recent as the registry */
		if (akm_counter_read_newest(r, value) == CKR_OK)
			memcpy(head, value + 8, 8 + AKM_AUDIT_HASH_LEN);
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_audit_append_app(akm_relationships *r, const char *action, const uint8_t *rid, size_t rid_len,
                           CK_RV result, const char *detail, int64_t *seq)
{
	akm_audit_event ev = {"app", action, rid, rid_len, result, detail};
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK && (rv = akm_change_begin(r)) == CKR_OK) {
		if ((rv = akm_store_audit_append(r->reg, &ev)) == CKR_OK &&
		    (rv = akm_store_audit_head(r->reg, seq, hash)) == CKR_OK) {
			rv = akm_change_commit(r);
		} else {
			akm_store_rollback(r->reg);
			rv = akm_answer(r, rv);
		}
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_audit_find(akm_relationships *r, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                     size_t max, size_t *n)
{
	*n = 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_store_audit_find(r->reg, rid, rid_len, after, seqs, max, n);
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_audit_verify(akm_relationships *r, int64_t *records, char *err, size_t errlen)
{
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	*records = 0;
	if (rv != CKR_OK)
		snprintf(err, errlen, "the registry is not in use (0x%lx): log in first", rv);
	else
		rv = akm_store_audit_verify(r->reg, records, err, errlen);
	if (rv == CKR_OK) {
		/* The token remembers a head the chain must still contain. */
		uint8_t value[AKM_COUNTER_LEN], head[AKM_AUDIT_HASH_LEN];
		if (akm_counter_read_newest(r, value) == CKR_OK) {
			int64_t seq = (int64_t)akm_counter_audit_seq(value);
			if (seq > *records ||
			    (seq > 0 && (akm_store_audit_hash_at(r->reg, seq, head) != CKR_OK ||
			                 memcmp(head, value + 16, sizeof head) != 0))) {
				snprintf(err, errlen, "the audit trail no longer holds record %lld as the token recorded it",
				         (long long)seq);
				rv = CKR_GENERAL_ERROR;
			}
		}
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

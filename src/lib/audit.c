#include "lib/audit.h"

#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "lib/fieldhash.h"

void akm_audit_hash(const uint8_t prev[AKM_AUDIT_HASH_LEN], const akm_audit_entry *e,
                    uint8_t out[AKM_AUDIT_HASH_LEN])
{
	akm_fieldhash h;
	akm_fieldhash_init(&h, "AKM-AUDIT-1");
	akm_fieldhash_raw(&h, prev, AKM_AUDIT_HASH_LEN);
	akm_fieldhash_u64(&h, (uint64_t)e->seq);
	akm_fieldhash_u64(&h, (uint64_t)e->time);
	akm_fieldhash_bytes(&h, e->actor, e->actor_len);
	akm_fieldhash_bytes(&h, e->action, e->action_len);
	akm_fieldhash_bytes(&h, e->rid, e->rid_len);
	akm_fieldhash_u64(&h, e->result);
	akm_fieldhash_bytes(&h, e->detail, e->detail_len);
	akm_fieldhash_final(&h, out);
}

void akm_audit_chain_init(akm_audit_chain *c)
{
	memset(c, 0, sizeof *c);
}

int akm_audit_chain_next(akm_audit_chain *c, const akm_audit_entry *e, const uint8_t *prev,
                         size_t prev_len, const uint8_t *hash, size_t hash_len, char *why,
                         size_t whylen)
{
	long long expected = (long long)c->records + 1, seq = (long long)e->seq;
	uint8_t computed[AKM_AUDIT_HASH_LEN];
	if (seq != expected) {
		snprintf(why, whylen, "audit record %lld is missing (found %lld next)", expected, seq);
		return -1;
	}
	if (prev == NULL || prev_len != AKM_AUDIT_HASH_LEN ||
	    sodium_memcmp(prev, c->last, AKM_AUDIT_HASH_LEN) != 0) {
		snprintf(why, whylen, "audit record %lld does not follow record %lld (removed or reordered)", seq,
		         seq - 1);
		return -1;
	}
	akm_audit_hash(prev, e, computed);
	if (hash == NULL || hash_len != AKM_AUDIT_HASH_LEN ||
	    sodium_memcmp(computed, hash, AKM_AUDIT_HASH_LEN) != 0) {
		snprintf(why, whylen, "audit record %lld was altered", seq);
		return -1;
	}
	memcpy(c->last, hash, AKM_AUDIT_HASH_LEN);
	c->records++;
	return 0;
}

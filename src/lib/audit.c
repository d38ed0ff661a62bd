#include "lib/audit.h"

#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "lib/buf.h"

static void put_u64(crypto_hash_sha256_state *st, uint64_t v)
{
	uint8_t b[8];
	akm_buf_writer w;
	akm_buf_writer_init(&w, b, sizeof b);
	akm_buf_put_u64(&w, v);
	crypto_hash_sha256_update(st, b, sizeof b);
}

static void put_field(crypto_hash_sha256_state *st, const void *p, size_t n)
{
	if (p == NULL)
		n = 0;
	put_u64(st, n);
	if (n > 0)
		crypto_hash_sha256_update(st, p, n);
}

void akm_audit_hash(const uint8_t prev[AKM_AUDIT_HASH_LEN], const akm_audit_entry *e,
                    uint8_t out[AKM_AUDIT_HASH_LEN])
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"AKM-AUDIT-1", 11);
	crypto_hash_sha256_update(&st, prev, AKM_AUDIT_HASH_LEN);
	put_u64(&st, (uint64_t)e->seq);
	put_u64(&st, (uint64_t)e->time);
	put_field(&st, e->actor, e->actor_len);
	put_field(&st, e->action, e->action_len);
	put_field(&st, e->rid, e->rid_len);
	put_u64(&st, e->result);
	put_field(&st, e->detail, e->detail_len);
	crypto_hash_sha256_final(&st, out);
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

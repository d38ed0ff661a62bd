/* Sealing the registry's rows (store.h, impl.h; docs/formats.md "Registry
 * rows"): every column of a row, with its table and row id, goes into one
 * SHA-256 over typed fields (lib/fieldhash.h), and the row's MAC is
 * HMAC-SHA-256 of that digest under the sealing key. */
#include "store/impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lib/fieldhash.h"
#include "lib/keyed.h"

CK_RV akm_store_seal(akm_store *s, const uint8_t *key)
{
	akm_hmac_key_free(s->key); /* wiped and unlocked */
	s->key = NULL;
	if (key != NULL && (s->key = akm_hmac_key_new(key)) == NULL)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

bool akm_store_sealed(const akm_store *s)
{
	return s->key != NULL;
}

const char *akm_store_tamper_reason(const akm_store *s)
{
	return s->tamper;
}

CK_RV akm_store_tampered(akm_store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->tamper, sizeof s->tamper, fmt, ap);
	va_end(ap);
	return AKM_STORE_TAMPERED;
}

static void row_start(akm_fieldhash *h, const char *table, int64_t id)
{
	akm_fieldhash_init(h, "AKM-ROW-1");
	akm_fieldhash_bytes(h, table, strlen(table));
	akm_fieldhash_u64(h, (uint64_t)id);
}

static void row_finish(const akm_store *s, akm_fieldhash *h, uint8_t mac[AKM_SEAL_LEN])
{
	uint8_t digest[32];
	akm_fieldhash_final(h, digest);
	/* Callers only seal or check with a key (the store refuses rows
	 * before login); zeros would never match a stored MAC anyway. */
	if (s->key == NULL)
		memset(mac, 0, AKM_SEAL_LEN);
	else
		akm_hmac_with(s->key, digest, sizeof digest, mac);
	akm_wipe(digest, sizeof digest);
}

void akm_seal_relationship(const akm_store *s, const akm_relationship *rel, uint8_t mac[AKM_SEAL_LEN])
{
	akm_fieldhash h;
	row_start(&h, "relationship", rel->id);
	akm_fieldhash_bytes(&h, rel->rid, rel->rid_len);
	akm_fieldhash_u64(&h, rel->kind);
	akm_fieldhash_u64(&h, rel->state);
	akm_fieldhash_u64(&h, rel->epoch);
	akm_fieldhash_bytes(&h, rel->station, rel->station_len);
	akm_fieldhash_bytes(&h, rel->peer, rel->peer_len);
	akm_fieldhash_bytes(&h, rel->members, rel->members_len);
	akm_fieldhash_bytes(&h, rel->hw, rel->hw_len);
	akm_fieldhash_u64(&h, (uint64_t)rel->created);
	akm_fieldhash_u64(&h, (uint64_t)rel->changed);
	akm_fieldhash_u64(&h, rel->status);
	akm_fieldhash_u64(&h, rel->seq);
	akm_fieldhash_bytes(&h, rel->site, rel->site_len);
	akm_fieldhash_bytes(&h, rel->node_key, rel->node_key_len);
	akm_fieldhash_u64(&h, rel->delivery);
	akm_fieldhash_u64(&h, (uint64_t)rel->audit);
	/* Schema version 4's field, hashed only when it is not 0: a row whose
	 * counter was never raised (every row sealed by version 3) has the
	 * digest it always had, so registries sealed before stay valid as
	 * they are.  The encoding stays unambiguous: every field before it is
	 * self-delimiting, so a digest with it is one of a longer input. */
	if (rel->checkin != 0)
		akm_fieldhash_u64(&h, rel->checkin);
	row_finish(s, &h, mac);
}

void akm_seal_key(const akm_store *s, const akm_key *key, uint8_t mac[AKM_SEAL_LEN])
{
	akm_fieldhash h;
	row_start(&h, "key", key->id);
	/* The blob with its relationship, purpose and key id: a blob moved to
	 * another row, or a row pointed at another relationship, fails. */
	akm_fieldhash_u64(&h, (uint64_t)key->relationship);
	akm_fieldhash_u64(&h, key->purpose);
	akm_fieldhash_u64(&h, key->key_type);
	akm_fieldhash_u64(&h, key->value_len);
	akm_fieldhash_bytes(&h, key->ckid, key->ckid_len);
	akm_fieldhash_bytes(&h, key->label, key->label_len);
	akm_fieldhash_bytes(&h, key->wrapped, key->wrapped_len);
	row_finish(s, &h, mac);
}

void akm_seal_tree(const akm_store *s, const akm_tree_row *row, uint8_t mac[AKM_SEAL_LEN])
{
	akm_fieldhash h;
	row_start(&h, "tree", row->id);
	/* Its ASR and place with its keys: a blob moved to another node or
	 * another ASR fails. */
	akm_fieldhash_u64(&h, (uint64_t)row->asr);
	akm_fieldhash_u64(&h, row->idx);
	akm_fieldhash_u64(&h, row->gen);
	akm_fieldhash_u64(&h, row->up_gen);
	akm_fieldhash_bytes(&h, row->member, row->member_len);
	akm_fieldhash_u64(&h, (uint64_t)row->pr);
	akm_fieldhash_bytes(&h, row->key, row->key_len);
	akm_fieldhash_bytes(&h, row->up, row->up_len);
	row_finish(s, &h, mac);
}

void akm_seal_meta(const akm_store *s, const char *name, bool is_int, int64_t value, const uint8_t *blob,
                   size_t len, uint8_t mac[AKM_SEAL_LEN])
{
	akm_fieldhash h;
	row_start(&h, "meta", 0);
	akm_fieldhash_bytes(&h, name, strlen(name));
	akm_fieldhash_u64(&h, is_int ? 1 : 2);
	if (is_int)
		akm_fieldhash_u64(&h, (uint64_t)value);
	else
		akm_fieldhash_bytes(&h, blob, len);
	row_finish(s, &h, mac);
}

void akm_seal_audit(const akm_store *s, const akm_audit_entry *e, bool has_rid, bool has_detail,
                    bool row_change, const uint8_t *prev, const uint8_t *hash, int64_t rel,
                    uint8_t mac[AKM_SEAL_LEN])
{
	akm_fieldhash h;
	row_start(&h, "audit", e->seq);
	akm_fieldhash_u64(&h, (uint64_t)e->time);
	akm_fieldhash_bytes(&h, e->actor, e->actor_len);
	akm_fieldhash_bytes(&h, e->action, e->action_len);
	akm_fieldhash_u64(&h, has_rid);
	akm_fieldhash_bytes(&h, e->rid, e->rid_len);
	akm_fieldhash_u64(&h, e->result);
	akm_fieldhash_u64(&h, has_detail);
	akm_fieldhash_bytes(&h, e->detail, e->detail_len);
	akm_fieldhash_u64(&h, row_change);
	akm_fieldhash_bytes(&h, prev, AKM_AUDIT_HASH_LEN);
	akm_fieldhash_bytes(&h, hash, AKM_AUDIT_HASH_LEN);
	/* Schema version 7's field, as CKA_AKM_CHECKIN's in a relationship
	 * row: hashed only when the record names a relationship row, so a
	 * record written before has the digest it always had, and a record
	 * that names one cannot be made to name none (or another). */
	if (rel != 0)
		akm_fieldhash_u64(&h, (uint64_t)rel);
	row_finish(s, &h, mac);
}

bool akm_seal_matches(const uint8_t mac[AKM_SEAL_LEN], const void *stored, size_t stored_len)
{
	return stored != NULL && stored_len == AKM_SEAL_LEN && akm_equal_ct(mac, stored, AKM_SEAL_LEN);
}

/* Relationship keys in the backend: unwrapped for use (through the cache),
 * re-wrapped for export (relationships.h). */
#include <string.h>

#include "akm/asr.h"
#include "akm/asr_member.h"
#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"

static bool use_allowed(CK_ULONG purpose, akm_key_use use)
{
	if (purpose == CKV_AKM_PURPOSE_ENCRYPT)
		return use == AKM_KEY_ENCRYPT || use == AKM_KEY_DECRYPT || use == AKM_KEY_WRAP || use == AKM_KEY_UNWRAP;
	if (purpose == CKV_AKM_PURPOSE_MAC)
		return use == AKM_KEY_SIGN || use == AKM_KEY_VERIFY;
	return false; /* CKV_AKM_PURPOSE_PREVIOUS: CKM_AKM_ASR_OPEN only */
}

CK_RV akm_relationships_use(akm_relationships *r, int64_t id, akm_key_use use, CK_OBJECT_HANDLE *backend)
{
	akm_key_record k;
	bool read = false;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK)
		goto out;
	/* A cached key with a known state costs no registry read (the hot
	 * path of every operation); otherwise the registry says. */
	akm_cache_sync(r);
	akm_cache_entry *e = akm_cache_get(&r->cache, id);
	if (e == NULL || akm_cache_state(e) == 0) {
		if ((rv = akm_store_get_key(r->reg, id, &k.key, &k.rel)) != CKR_OK) {
			if (e != NULL)
				akm_cache_drop(&r->cache, e); /* destroyed elsewhere, or tampered with */
			rv = akm_answer(r, rv);
			goto out;
		}
		read = true;
		/* A tree ASR's group key does nothing but the ASR mechanisms
		 * (it never enters the cache, so this is always read here). */
		if (akm_relationship_is_tree(&k.rel)) {
			if (e != NULL)
				akm_cache_drop(&r->cache, e);
			rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
			goto out;
		}
		if (e != NULL)
			akm_cache_entry_state(e, k.rel.state);
	}
	if (e == NULL && akm_asr_is_member(&k.rel)) {
		/* A member's ASR key seals and opens through CKM_AKM_ASR_SEAL
		 * and _OPEN only: a nonce of the caller's would break the
		 * scheme's one promise. */
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	CK_ULONG state = e != NULL ? e->state : k.rel.state;
	CK_ULONG purpose = e != NULL ? e->purpose : k.key.purpose;
	if (state != CKV_AKM_STATE_ACTIVE && state != CKV_AKM_STATE_PENDING) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		akm_event_record(r, AKM_EVENT_USE_REFUSED, e != NULL ? e->rid : k.rel.rid,
		                 e != NULL ? e->rid_len : k.rel.rid_len, rv,
		                 state == CKV_AKM_STATE_REVOKED ? "revoked" : "suspended");
		goto out;
	}
	if (!use_allowed(purpose, use)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (e != NULL) {
		akm_cache_touch(&r->cache, e);
		*backend = e->backend;
		goto out;
	}
	rv = akm_backend_key_unwrap(r->be, akm_key_kind(k.key.purpose), k.key.wrapped, k.key.wrapped_len, backend);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "registry %s: key %lld does not unwrap under the token's KEK (0x%lx)",
		        akm_store_location(r->reg), (long long)id, rv);
		akm_event_record(r, AKM_EVENT_UNWRAP_FAILED, k.rel.rid, k.rel.rid_len, rv, NULL);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (akm_cache_put(&r->cache, id, *backend, k.key.purpose, k.rel.state, k.rel.rid, k.rel.rid_len) != CKR_OK) {
		akm_backend_destroy(r->be, *backend);
		rv = CKR_HOST_MEMORY;
	}
out:
	if (read)
		akm_key_record_clear(&k);
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

void akm_relationships_lost(akm_relationships *r, int64_t id)
{
	akm_mutex_lock(r->lock);
	akm_cache_forget(&r->cache, id);
	akm_mutex_unlock(r->lock);
}

CK_ULONG akm_relationship_delivery(const akm_relationship *rel)
{
	if (rel->kind != CKV_AKM_KIND_PROVISIONING)
		return 0;
	return rel->delivery == CKV_AKM_DELIVERY_PASSPHRASE ? CKV_AKM_DELIVERY_PASSPHRASE : CKV_AKM_DELIVERY_NODE_KEY;
}

static const char *delivery_name(CK_ULONG delivery)
{
	return delivery == CKV_AKM_DELIVERY_PASSPHRASE ? "passphrase" : "node-key";
}

/* Why relationship `rel` may not leave in `mode` (the audit detail), or
 * NULL when it may. */
static const char *export_refusal(const akm_relationship *rel, CK_ULONG mode)
{
	if (rel->state != CKV_AKM_STATE_ACTIVE)
		return rel->state == CKV_AKM_STATE_PENDING ? "pending" :
		       rel->state == CKV_AKM_STATE_REVOKED ? "revoked" : "suspended";
	CK_ULONG delivery = akm_relationship_delivery(rel);
	if (mode != delivery) /* the mode values are the delivery values */
		return delivery == CKV_AKM_DELIVERY_PASSPHRASE ? "delivery passphrase" : "delivery node-key";
	if (mode == CKV_AKM_EXPORT_NODE_KEY && rel->node_key_len != AKM_NODE_KEY_LEN)
		return "no node key";
	return NULL;
}

/* Lock held: the keys of relationship `rel` (row id), encryption key
 * first; a registry that does not hold exactly those two is the device's
 * failure (logged). */
static CK_RV credential_set(akm_relationships *r, const akm_relationship *rel, akm_key keys[2])
{
	akm_store_query q;
	int64_t ids[3];
	size_t n = 0;
	memset(&q, 0, sizeof q);
	q.rid = rel->rid;
	q.rid_len = rel->rid_len;
	CK_RV rv = akm_answer(r, akm_store_find(r->reg, &q, 0, ids, 3, &n));
	if (rv != CKR_OK)
		return rv;
	bool have[2] = {false, false};
	for (size_t i = 0; i < n; i++) {
		akm_key k;
		if ((rv = akm_answer(r, akm_store_get_key(r->reg, ids[i], &k, NULL))) != CKR_OK)
			return rv;
		if (k.relationship != rel->id || (k.purpose != CKV_AKM_PURPOSE_ENCRYPT && k.purpose != CKV_AKM_PURPOSE_MAC))
			continue;
		size_t at = k.purpose == CKV_AKM_PURPOSE_ENCRYPT ? 0 : 1;
		if (have[at])
			break; /* two keys of one purpose: not a registry we wrote */
		keys[at] = k;
		have[at] = true;
	}
	if (have[0] && have[1] && n == 2)
		return CKR_OK;
	akm_log(AKM_LOG_ERROR, "registry %s: a relationship's credential set is not its two keys",
	        akm_store_location(r->reg));
	return CKR_DEVICE_ERROR;
}

/* A backend failure during an export as the application sees it: the
 * objects and the session it concerns are the module's own, so anything
 * but the device running out of memory or going away is the device's
 * failure, never the caller's argument or session. */
static CK_RV export_answer(CK_RV rv)
{
	switch (rv) {
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
		return rv;
	default:
		return CKR_DEVICE_ERROR;
	}
}

CK_RV akm_relationships_export(akm_relationships *r, int64_t id, CK_ULONG mode, const uint8_t *pass_key,
                               uint8_t eph_point[AKM_NODE_KEY_LEN], CK_BYTE *out, CK_ULONG *out_len)
{
	akm_key_record k;
	akm_key keys[2];
	memset(&k, 0, sizeof k);
	memset(keys, 0, sizeof keys);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_answer(r, akm_store_get_key(r->reg, id, &k.key, &k.rel));
	if (rv != CKR_OK) {
		if (rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID)
			rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if (akm_relationship_is_tree(&k.rel)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED; /* an ASR's group key reaches members in packages only */
		goto out;
	}
	if (k.rel.kind != CKV_AKM_KIND_PROVISIONING) {
		rv = CKR_KEY_NOT_WRAPPABLE; /* operational keys reach members through their PRs */
		goto out;
	}
	const char *refusal = export_refusal(&k.rel, mode);
	if (refusal != NULL) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		if (out != NULL) /* a length query leaves no trace */
			akm_event_record(r, AKM_EVENT_EXPORT_REFUSED, k.rel.rid, k.rel.rid_len, rv, refusal);
		goto out;
	}
	/* Both keys are 32 bytes: RFC 5649 gives 40 each. */
	CK_ULONG need = 2 * (CK_ULONG)((AKM_BACKEND_KEY_BYTES + 7) / 8 * 8 + 8);
	if (out == NULL || *out_len < need) {
		rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*out_len = need;
		goto out;
	}
	if ((rv = credential_set(r, &k.rel, keys)) != CKR_OK) {
		rv = export_answer(rv);
	} else {
		akm_backend_blob blobs[2];
		for (size_t i = 0; i < 2; i++)
			blobs[i] = (akm_backend_blob){akm_key_kind(keys[i].purpose), keys[i].wrapped, keys[i].wrapped_len};
		akm_backend_transport t;
		memset(&t, 0, sizeof t);
		if (mode == CKV_AKM_EXPORT_NODE_KEY)
			t.node_point = k.rel.node_key; /* the relationship's own, never the caller's */
		else
			t.key = pass_key;
		akm_backend_export_step step;
		CK_ULONG len = need;
		rv = akm_backend_export(r->be, &t, blobs, 2, out, &len, &step);
		if (rv == CKR_OK) {
			*out_len = len;
			if (mode == CKV_AKM_EXPORT_NODE_KEY)
				memcpy(eph_point, t.eph_point, AKM_NODE_KEY_LEN);
		} else {
			akm_log(AKM_LOG_ERROR, "registry %s: export failed in the token: %s (0x%lx)", akm_store_location(r->reg),
			        step == AKM_BACKEND_EXPORT_UNWRAP ? "a key does not unwrap under the token's KEK"
			        : step == AKM_BACKEND_EXPORT_WRAP ? "wrapping a key under the transport key"
			        : mode == CKV_AKM_EXPORT_NODE_KEY
			            ? "making the transport key by ECDH with the recorded node key (a P-256 point?)"
			            : "making the transport key",
			        rv);
			rv = export_answer(rv);
		}
	}
	akm_event_record(r, AKM_EVENT_EXPORT, k.rel.rid, k.rel.rid_len, rv, delivery_name(mode));
out:
	akm_key_record_clear(&k);
	akm_mutex_unlock(r->lock);
	return rv;
}

/* Relationship keys in the backend: unwrapped for use (through the cache),
 * re-wrapped for export (relationships.h). */
#include <string.h>

#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"

static bool use_allowed(CK_ULONG purpose, akm_key_use use)
{
	if (purpose == CKV_AKM_PURPOSE_ENCRYPT)
		return use == AKM_KEY_ENCRYPT || use == AKM_KEY_DECRYPT || use == AKM_KEY_WRAP || use == AKM_KEY_UNWRAP;
	return use == AKM_KEY_SIGN || use == AKM_KEY_VERIFY;
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
		if (e != NULL)
			akm_cache_entry_state(e, k.rel.state);
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

CK_RV akm_relationships_export(akm_relationships *r, int64_t id, CK_OBJECT_HANDLE wrapping, CK_BYTE *out,
                               CK_ULONG *out_len)
{
	akm_key_record k;
	memset(&k, 0, sizeof k);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_answer(r, akm_store_get_key(r->reg, id, &k.key, &k.rel));
	if (rv != CKR_OK) {
		if (rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID)
			rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	const char *what = k.key.purpose == CKV_AKM_PURPOSE_ENCRYPT ? "enc key" : "mac key";
	if (k.rel.kind != CKV_AKM_KIND_PROVISIONING) {
		rv = CKR_KEY_NOT_WRAPPABLE; /* operational keys reach members through their PRs */
	} else if (k.rel.state != CKV_AKM_STATE_ACTIVE) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		if (out != NULL)
			akm_event_record(r, AKM_EVENT_EXPORT_REFUSED, k.rel.rid, k.rel.rid_len, rv,
			                 k.rel.state == CKV_AKM_STATE_PENDING ? "pending" :
			                 k.rel.state == CKV_AKM_STATE_REVOKED ? "revoked" : "suspended");
	} else if (out == NULL) {
		*out_len = (CK_ULONG)((k.key.value_len + 7) / 8 * 8 + 8); /* RFC 5649 */
	} else {
		CK_RV kek_rv;
		rv = akm_backend_key_rewrap(r->be, akm_key_kind(k.key.purpose), k.key.wrapped, k.key.wrapped_len, wrapping,
		                            out, out_len, &kek_rv);
		if (kek_rv != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "registry %s: a key does not unwrap under the token's KEK (0x%lx)",
			        akm_store_location(r->reg), kek_rv);
			rv = CKR_DEVICE_ERROR;
		}
		if (rv != CKR_BUFFER_TOO_SMALL)
			akm_event_record(r, AKM_EVENT_EXPORT, k.rel.rid, k.rel.rid_len, rv, what);
	}
out:
	akm_key_record_clear(&k);
	akm_mutex_unlock(r->lock);
	return rv;
}

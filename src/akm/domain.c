/* The relationships of one token: life cycle, login and transactions
 * (relationships.h). */
#include <stdio.h>
#include <stdlib.h>

#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"

static void destroy_cached(void *ctx, CK_OBJECT_HANDLE backend)
{
	akm_backend_destroy(ctx, backend);
}

CK_RV akm_relationships_open(akm_relationships **out, const char *store, akm_backend *be, CK_SLOT_ID slot,
                             char *err, size_t errlen)
{
	akm_relationships *r = calloc(1, sizeof *r);
	if (r == NULL)
		return CKR_HOST_MEMORY;
	r->status = CKR_USER_NOT_LOGGED_IN;
	CK_RV rv = akm_mutex_new(&r->lock);
	if (rv != CKR_OK) {
		free(r);
		return rv;
	}
	rv = akm_store_open(store, &r->reg, err, errlen);
	if (rv != CKR_OK)
		goto fail;
	rv = akm_backend_service_open(be, slot, &r->be);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "cannot open a backend session for the registry (0x%lx)", rv);
		goto fail;
	}
	akm_cache_init(&r->cache, AKM_CACHE_MAX, destroy_cached, r->be);
	*out = r;
	return CKR_OK;
fail:
	akm_store_close(r->reg);
	akm_mutex_free(r->lock);
	free(r);
	return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
}

void akm_relationships_close(akm_relationships *r)
{
	if (r == NULL)
		return;
	if (r->status == CKR_OK)
		akm_counter_flush(r);
	/* The backend session goes, and its session objects with it. */
	akm_cache_clear(&r->cache, false);
	akm_backend_service_close(r->be);
	akm_store_close(r->reg);
	akm_mutex_free(r->lock);
	free(r);
}

/* Finds or makes the KEK and checks the counter (the store's write
 * transaction held, lock held). */
static CK_RV login_inlock(akm_relationships *r)
{
	bool have_kek;
	int64_t gen = 0;
	bool present;
	CK_RV rv;

	if ((rv = akm_backend_kek_find(r->be, &have_kek)) != CKR_OK)
		return rv;
	if ((rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK)
		return rv;
	if (have_kek && !akm_backend_kek_has_unwrap_template(r->be))
		/* Made before KEKs had one; no backend lets it be added, and a new
		 * KEK would orphan every blob: say so, change nothing. */
		akm_log(AKM_LOG_WARNING,
		        "the token's %s has no unwrap template: whoever holds the user PIN and reaches the token "
		        "directly can unwrap registry keys into readable objects (docs/threat-model.md)",
		        AKM_BACKEND_KEK_LABEL);
	if (!have_kek) {
		/* Whether any key exists: the first id, not a count of millions. */
		akm_store_query all = {0};
		int64_t first;
		size_t any = 0;
		if ((rv = akm_store_find(r->reg, &all, 0, &first, 1, &any)) != CKR_OK)
			return rv;
		if (any > 0) {
			akm_log(AKM_LOG_ERROR, "registry %s holds keys but the token has no %s: wrong token?",
			        akm_store_location(r->reg), AKM_BACKEND_KEK_LABEL);
			return CKR_DEVICE_ERROR;
		}
		if ((rv = akm_backend_kek_create(r->be)) != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "cannot create the registry's key-encryption key in the token (0x%lx)", rv);
			return rv;
		}
	}
	return akm_counter_check(r, (uint64_t)gen);
}

CK_RV akm_relationships_login(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	/* Under the registry's write lock, which other processes share: two
	 * first logins at once must not each make a KEK. */
	CK_RV rv = akm_backend_service_revive(r->be);
	if (rv == CKR_OK && (rv = akm_store_begin(r->reg)) == CKR_OK) {
		rv = login_inlock(r);
		CK_RV end = akm_store_commit(r->reg);
		if (rv == CKR_OK)
			rv = end;
	}
	if (rv == CKR_OK)
		akm_backend_kek_session_copy(r->be);
	r->status = rv;
	if (rv == CKR_OK)
		akm_store_change_mark(r->reg, &r->change_mark);
	akm_mutex_unlock(r->lock);
	return rv;
}

void akm_relationships_logout(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	if (r->status == CKR_OK)
		akm_counter_flush(r); /* while the counter is still within reach */
	akm_cache_clear(&r->cache, true);
	akm_backend_service_logout(r->be);
	akm_counter_forget(&r->counter);
	r->status = CKR_USER_NOT_LOGGED_IN;
	akm_mutex_unlock(r->lock);
}

CK_RV akm_relationships_status(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	akm_mutex_unlock(r->lock);
	return rv;
}

bool akm_relationships_hides(akm_relationships *r, CK_OBJECT_HANDLE backend)
{
	akm_mutex_lock(r->lock);
	bool hidden = backend != 0 && (akm_backend_kek_is(r->be, backend) || akm_counter_is(&r->counter, backend) ||
	                               akm_cache_holds(&r->cache, backend));
	akm_mutex_unlock(r->lock);
	return hidden;
}

CK_RV akm_change_begin(akm_relationships *r)
{
	CK_RV rv = akm_store_begin(r->reg);
	if (rv != CKR_OK)
		return rv;
	int64_t gen = 0;
	bool present;
	if ((rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK ||
	    (rv = akm_store_set_int(r->reg, "generation", gen + 1)) != CKR_OK)
		akm_store_rollback(r->reg);
	return rv;
}

CK_RV akm_change_commit(akm_relationships *r)
{
	CK_RV rv = akm_store_commit(r->reg);
	if (rv != CKR_OK)
		return rv;
	/* Our own commit changed what we cached ourselves: keep the states.
	 * (A commit of another process in between is missed until the next
	 * one; the window is the length of this call.) */
	akm_store_change_mark(r->reg, &r->change_mark);
	akm_counter_changed(r);
	return rv;
}

akm_backend_key_kind akm_key_kind(CK_ULONG purpose)
{
	return purpose == CKV_AKM_PURPOSE_ENCRYPT ? AKM_BACKEND_KEY_CIPHER : AKM_BACKEND_KEY_MAC;
}

/* The relationships of one token: life cycle, login and transactions
 * (relationships.h). */
#include <stdio.h>
#include <stdlib.h>

#include "akm/asr_member.h"
#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "lib/keyed.h"

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
	if (r->status == CKR_OK) {
		akm_asr_mem_flush(r);
		akm_counter_flush(r);
	}
	/* The backend session goes, and its session objects with it. */
	akm_cache_clear(&r->cache, false);
	akm_ahead_forget(r);
	akm_asr_mem_clear(r, false);
	akm_station_pkg_forget(r);
	akm_backend_service_close(r->be);
	akm_store_close(r->reg);
	akm_mutex_free(r->lock);
	free(r);
}

/* Lock held, the store's write transaction open, the token's keys looked
 * for: makes what a new registry lacks, seals the store, and checks the
 * registry against the token. */
static CK_RV login_inlock(akm_relationships *r, bool have_kek, bool have_mac)
{
	CK_RV rv;
	if (have_kek && !akm_backend_kek_has_unwrap_template(r->be))
		/* Made before KEKs had one; no backend lets it be added, and a new
		 * KEK would orphan every blob: say so, change nothing. */
		akm_log(AKM_LOG_WARNING,
		        "the token's %s has no unwrap template: whoever holds the user PIN and reaches the token "
		        "directly can unwrap registry keys into readable objects (docs/threat-model.md)",
		        AKM_BACKEND_KEK_LABEL);
	if (!have_kek) {
		/* A registry with keys needs the KEK that wrapped them. */
		int64_t keys = 0;
		if ((rv = akm_store_count(r->reg, AKM_STORE_KEYS, &keys)) != CKR_OK)
			return rv;
		if (keys > 0) {
			akm_log(AKM_LOG_ERROR, "registry %s holds keys but the token has no %s: wrong token?",
			        akm_store_location(r->reg), AKM_BACKEND_KEK_LABEL);
			return CKR_DEVICE_ERROR;
		}
		if ((rv = akm_backend_kek_create(r->be)) != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "cannot create the registry's key-encryption key in the token (0x%lx)", rv);
			return rv;
		}
	}
	/* A token without a MAC key has never sealed this registry: it is
	 * sealed now, once, as it is (a registry of an earlier version). */
	bool upgrade = !have_mac;
	if (upgrade && (rv = akm_backend_mac_create(r->be)) != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "cannot create the registry's MAC key in the token (0x%lx)", rv);
		return rv;
	}
	uint8_t key[AKM_STORE_KEY_LEN];
	rv = akm_backend_mac_derive(r->be, AKM_ROW_KEY_PURPOSE, key);
	if (rv == CKR_OK)
		rv = akm_store_seal(r->reg, key);
	akm_wipe(key, sizeof key);
	if (rv != CKR_OK)
		return rv;
	int64_t gen = 0;
	bool present;
	if ((rv = akm_store_check(r->reg, upgrade)) != CKR_OK ||
	    (rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK ||
	    (rv = akm_counter_check(r, (uint64_t)gen)) != CKR_OK)
		return rv;
	/* Accepted: what happened before this login joins the trail. */
	int64_t refused = 0;
	if ((rv = akm_store_pending_flush(r->reg, akm_event_pending_allowed, &refused)) == CKR_OK && refused > 0) {
		char detail[96];
		snprintf(detail, sizeof detail, "pending: %lld rows that are not events seen before login, dropped",
		         (long long)refused);
		akm_log(AKM_LOG_ERROR, "registry %s: %s", akm_store_location(r->reg), detail);
		rv = akm_event_append(r, AKM_EVENT_TAMPER_DETECTED, NULL, 0, CKR_DEVICE_ERROR, detail);
	}
	return rv;
}

CK_RV akm_relationships_login(akm_relationships *r)
{
	bool have_kek = false, have_mac = false;
	akm_mutex_lock(r->lock);
	/* The token's keys first, so that they are known (and hidden) whatever
	 * the registry says.  Then under the registry's write lock, which
	 * other processes share: two first logins at once must not each make
	 * a KEK. */
	CK_RV rv = akm_backend_service_revive(r->be);
	if (rv == CKR_OK)
		rv = akm_backend_kek_find(r->be, &have_kek);
	if (rv == CKR_OK)
		rv = akm_backend_mac_find(r->be, &have_mac);
	if (rv == CKR_OK && (rv = akm_store_begin(r->reg)) == CKR_OK) {
		rv = login_inlock(r, have_kek, have_mac);
		if (rv == CKR_OK)
			rv = akm_store_commit(r->reg);
		else
			akm_store_rollback(r->reg); /* nothing of a refused login stays */
	}
	if (rv == CKR_OK) {
		akm_backend_kek_session_copy(r->be);
		akm_store_change_mark(r->reg, &r->change_mark);
		r->status = CKR_OK;
	} else {
		/* Recorded, after the rollback, while the key is at hand. */
		if (rv == AKM_ROLLBACK_DETECTED) {
			akm_event_record(r, AKM_EVENT_ROLLBACK_DETECTED, NULL, 0, CKR_DEVICE_ERROR, NULL);
			rv = CKR_DEVICE_ERROR;
		}
		rv = akm_answer(r, rv);
		akm_log(AKM_LOG_ERROR, "registry %s refused at login (0x%lx): its relationships cannot be used",
		        akm_store_location(r->reg), rv);
		akm_store_seal(r->reg, NULL);
		akm_counter_forget(&r->counter);
		r->status = rv == CKR_USER_NOT_LOGGED_IN ? CKR_DEVICE_ERROR : rv;
		rv = r->status;
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

void akm_relationships_logout(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	if (r->status == CKR_OK) {
		akm_asr_mem_flush(r); /* while the registry can still be written */
		akm_counter_flush(r); /* while the counter is still within reach */
	}
	akm_cache_clear(&r->cache, true);
	akm_ahead_forget(r);
	akm_asr_mem_clear(r, true);
	akm_station_pkg_forget(r);
	akm_backend_service_logout(r->be);
	akm_counter_forget(&r->counter);
	akm_store_seal(r->reg, NULL);
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
	bool hidden = backend != 0 && (akm_backend_kek_is(r->be, backend) || akm_backend_mac_is(r->be, backend) ||
	                               akm_counter_is(&r->counter, backend) || akm_cache_holds(&r->cache, backend) ||
	                               akm_backend_ratchet_kek_is(r->be, backend) || akm_asr_mem_holds(r, backend));
	akm_mutex_unlock(r->lock);
	return hidden;
}

CK_RV akm_answer(akm_relationships *r, CK_RV rv)
{
	if (rv != AKM_STORE_TAMPERED)
		return rv;
	const char *why = akm_store_tamper_reason(r->reg);
	akm_log(AKM_LOG_ERROR, "registry %s: %s: it was changed outside the module; refusing it",
	        akm_store_location(r->reg), why);
	akm_event_record(r, AKM_EVENT_TAMPER_DETECTED, NULL, 0, CKR_DEVICE_ERROR, why);
	return CKR_DEVICE_ERROR;
}

void akm_cache_sync(akm_relationships *r)
{
	uint64_t mark;
	if (akm_store_change_mark(r->reg, &mark) != CKR_OK || mark == r->change_mark)
		return;
	r->change_mark = mark;
	akm_cache_forget_states(&r->cache);
}

CK_RV akm_change_begin(akm_relationships *r)
{
	CK_RV rv = akm_store_begin(r->reg);
	if (rv != CKR_OK)
		return rv;
	/* What others committed before this transaction is seen now. */
	akm_cache_sync(r);
	int64_t gen = 0;
	bool present;
	if ((rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK ||
	    (rv = akm_store_set_int(r->reg, "generation", gen + 1)) != CKR_OK) {
		akm_store_rollback(r->reg);
		rv = akm_answer(r, rv);
	}
	return rv;
}

CK_RV akm_change_commit(akm_relationships *r)
{
	uint64_t before = r->change_mark, after = 0;
	CK_RV rv = akm_store_commit(r->reg);
	if (rv != CKR_OK)
		return rv;
	/* Our own commit moved the mark by one: the states cached are still
	 * true.  Any more, and another process committed after ours: read
	 * them again. */
	if (akm_store_change_mark(r->reg, &after) != CKR_OK || after != before + 1)
		akm_cache_forget_states(&r->cache);
	r->change_mark = after;
	akm_counter_changed(r);
	return rv;
}

akm_backend_key_kind akm_key_kind(CK_ULONG purpose)
{
	return purpose == CKV_AKM_PURPOSE_ENCRYPT ? AKM_BACKEND_KEY_CIPHER : AKM_BACKEND_KEY_MAC;
}

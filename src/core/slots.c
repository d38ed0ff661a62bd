/* Slots: the backend tokens the configuration selects, numbered 0..n-1 in
 * the backend's slot order; their information, re-initialisation and
 * login state.  The registry lives on one of them (the first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "core/internal.h"
#include "core/throttle.h"

CK_RV akm_core_slots_find(char *err, size_t errlen)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	CK_RV rv = akm_backend_slots(akm_core.backend, &ids, &n);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "backend C_GetSlotList failed: %s", akm_rv_name(rv));
		return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
	}
	akm_core.slots = calloc(n ? n : 1, sizeof *akm_core.slots);
	if (akm_core.slots == NULL) {
		free(ids);
		return CKR_HOST_MEMORY;
	}
	/* The registry lives on the first slot registry.token names (any
	 * slot when it names none). */
	akm_core.registry_slot = UINT32_MAX;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		if (akm_backend_token_info(akm_core.backend, ids[i], &info) != CKR_OK ||
		    !akm_config_selects_token(&akm_core.config, &info))
			continue;
		if (akm_core.registry_slot == UINT32_MAX && akm_config_is_registry_token(&akm_core.config, &info))
			akm_core.registry_slot = akm_core.nslots;
		akm_core.slots[akm_core.nslots].backend_id = ids[i];
		akm_core.slots[akm_core.nslots].login = AKM_NOT_LOGGED_IN;
		akm_core.nslots++;
	}
	free(ids);
	if (akm_core.nslots == 0) {
		akm_log(AKM_LOG_WARNING, "%s: no token of the backend matches backend.token; the module has no slots",
		        akm_core.config.path);
	} else if (akm_core.registry_slot == UINT32_MAX) {
		snprintf(err, errlen, "%s: registry.token matches none of the module's tokens: the registry's KEK would "
		         "be on no token", akm_core.config.path);
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

CK_RV akm_core_slot_list(CK_SLOT_ID *list, CK_ULONG *count)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_ULONG needed = akm_core.nslots;
	if (list == NULL) {
		*count = needed;
		return CKR_OK;
	}
	if (*count < needed) {
		*count = needed;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (CK_ULONG i = 0; i < needed; i++)
		list[i] = i;
	*count = needed;
	return CKR_OK;
}

CK_RV akm_core_slot(CK_SLOT_ID id, akm_call *c)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (id >= akm_core.nslots)
		return CKR_SLOT_ID_INVALID;
	memset(c, 0, sizeof *c);
	c->be = akm_core.backend;
	c->slot = (uint32_t)id;
	akm_mutex_lock(akm_core.lock);
	c->bslot = akm_core.slots[id].backend_id;
	akm_mutex_unlock(akm_core.lock);
	return CKR_OK;
}

void akm_core_pad_field(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	if (n > len)
		n = len;
	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

/* The backend's text, trimmed of its blank padding. */
static void trimmed(char *out, size_t outlen, const CK_UTF8CHAR *field, size_t len)
{
	while (len > 0 && field[len - 1] == ' ')
		len--;
	snprintf(out, outlen, "%.*s", (int)len, (const char *)field);
}

CK_RV akm_core_slot_info(const akm_call *c, CK_SLOT_INFO *info)
{
	CK_RV rv = akm_backend_slot_info(c->be, c->bslot, info);
	if (rv != CKR_OK)
		return rv;
	char backend_desc[65], desc[80];
	trimmed(backend_desc, sizeof backend_desc, info->slotDescription, sizeof info->slotDescription);
	snprintf(desc, sizeof desc, "akm-pkcs11 on %s", backend_desc);
	akm_core_pad_field(info->slotDescription, sizeof info->slotDescription, desc);
	akm_core_pad_field(info->manufacturerID, sizeof info->manufacturerID, AKM_PKCS11_MANUFACTURER);
	return CKR_OK;
}

CK_RV akm_core_token_info(const akm_call *c, CK_TOKEN_INFO *info)
{
	CK_RV rv = akm_backend_token_info(c->be, c->bslot, info);
	if (rv != CKR_OK)
		return rv;
	/* Label, serial number, flags and counters stay the backend token's;
	 * the module's own count of wrong PINs adds its flags. */
	akm_throttle_token_flags(c->slot, &info->flags);
	akm_core_pad_field(info->manufacturerID, sizeof info->manufacturerID, AKM_PKCS11_MANUFACTURER);
	akm_core_pad_field(info->model, sizeof info->model, AKM_PKCS11_MANUFACTURER);
	return CKR_OK;
}

akm_relationships *akm_core_slot_relationships(uint32_t slot)
{
	return slot == akm_core.registry_slot ? akm_core.rels : NULL;
}

akm_relationships *akm_core_relationships(const akm_call *c)
{
	return akm_core_slot_relationships(c->slot);
}

CK_RV akm_core_registry_open(void)
{
	char err[1024];
	if (akm_core.nslots == 0 || akm_core.rels != NULL)
		return CKR_OK;
	CK_RV rv = akm_relationships_open(&akm_core.rels, akm_core.config.registry_uri, akm_core.backend,
	                                  akm_core.slots[akm_core.registry_slot].backend_id, err, sizeof err);
	if (rv != CKR_OK)
		akm_log(AKM_LOG_ERROR, "%s: %s", akm_core.config.path, err);
	return rv;
}

/* After C_InitToken: finds the token again by its new label (SoftHSM2 moves
 * re-initialised tokens to a new slot id) and forgets its old objects. */
static void slot_reinitialised(uint32_t slot, const CK_UTF8CHAR label[32])
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	akm_mutex_lock(akm_core.lock);
	akm_handles_remove_slot(&akm_core.objects, slot);
	akm_mutex_unlock(akm_core.lock);
	if (akm_backend_slots(akm_core.backend, &ids, &n) != CKR_OK)
		return;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		if (akm_backend_token_info(akm_core.backend, ids[i], &info) != CKR_OK ||
		    memcmp(info.label, label, sizeof info.label) != 0)
			continue;
		akm_mutex_lock(akm_core.lock);
		bool taken = false;
		for (uint32_t k = 0; k < akm_core.nslots; k++)
			if (k != slot && akm_core.slots[k].backend_id == ids[i])
				taken = true;
		if (!taken)
			akm_core.slots[slot].backend_id = ids[i];
		akm_mutex_unlock(akm_core.lock);
		if (!taken)
			break;
	}
	free(ids);
}

CK_RV akm_core_init_token(const akm_call *c, CK_UTF8CHAR *pin, CK_ULONG len, CK_UTF8CHAR *label)
{
	akm_mutex_lock(akm_core.lock);
	bool busy = akm_core.slots[c->slot].sessions > 0;
	akm_mutex_unlock(akm_core.lock);
	if (busy)
		return CKR_SESSION_EXISTS; /* §5.5: no session may be open */
	/* The SO PIN is tried here too: throttled like an SO's login. */
	akm_throttle throttle;
	CK_RV rv = akm_throttle_begin(c->slot, AKM_LOGIN_SO, &throttle);
	if (rv != CKR_OK)
		return rv;
	/* The registry's token: the registry lets go of its backend session
	 * first (no session may be open) and opens again afterwards. */
	bool registry = c->slot == akm_core.registry_slot && akm_core.rels != NULL;
	if (registry) {
		akm_relationships_close(akm_core.rels);
		akm_core.rels = NULL;
	}
	rv = akm_backend_init_token(c->be, c->bslot, pin, len, label);
	akm_throttle_end(&throttle, rv);
	if (rv == CKR_OK) {
		slot_reinitialised(c->slot, label);
		akm_throttle_reset(c->slot, true, true); /* new PINs: the counts start again */
	}
	CK_RV reopened = registry || c->slot == akm_core.registry_slot ? akm_core_registry_open() : CKR_OK;
	return rv != CKR_OK ? rv : reopened;
}

CK_RV akm_core_wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved)
{
	akm_call c;
	CK_RV rv = akm_core_slot(0, &c);
	if (rv == CKR_SLOT_ID_INVALID) /* initialised, but no slots: nothing can happen */
		return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
	if (rv != CKR_OK)
		return rv;
	if (slot == NULL || reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	CK_SLOT_ID backend_slot;
	if ((rv = akm_backend_wait_for_slot_event(c.be, flags, &backend_slot)) != CKR_OK)
		return rv;
	/* Report only events of our slots. */
	for (CK_SLOT_ID id = 0; id < akm_core.nslots; id++) {
		if (akm_core_slot(id, &c) == CKR_OK && c.bslot == backend_slot) {
			*slot = id;
			return CKR_OK;
		}
	}
	return CKR_NO_EVENT;
}

CK_USER_TYPE akm_core_login_state(uint32_t slot)
{
	akm_mutex_lock(akm_core.lock);
	CK_USER_TYPE who = akm_core.slots[slot].login;
	akm_mutex_unlock(akm_core.lock);
	return who;
}

void akm_core_set_login_state(uint32_t slot, CK_USER_TYPE who)
{
	akm_mutex_lock(akm_core.lock);
	akm_core.slots[slot].login = who;
	akm_mutex_unlock(akm_core.lock);
}

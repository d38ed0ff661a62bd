/* Slot and token management (PKCS#11 v2.40 §5.5). */
#include <stdio.h>
#include <string.h>

#include "module/entry.h"
#include "akm/pkcs11-akm.h"

AKM_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	/* Every slot we present has its token: tokenPresent changes nothing. */
	return akm_core_slot_list(pSlotList, pulCount);
}

/* The backend's text, trimmed of its blank padding. */
static void trimmed(char *out, size_t outlen, const CK_UTF8CHAR *field, size_t len)
{
	while (len > 0 && field[len - 1] == ' ')
		len--;
	snprintf(out, outlen, "%.*s", (int)len, (const char *)field);
}

AKM_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = c.be->C_GetSlotInfo(c.bslot, pInfo);
	if (rv != CKR_OK)
		return rv;
	char backend_desc[65], desc[80];
	trimmed(backend_desc, sizeof backend_desc, pInfo->slotDescription, sizeof pInfo->slotDescription);
	snprintf(desc, sizeof desc, "akm-pkcs11 on %s", backend_desc);
	akm_pad_field(pInfo->slotDescription, sizeof pInfo->slotDescription, desc);
	akm_pad_field(pInfo->manufacturerID, sizeof pInfo->manufacturerID, AKM_PKCS11_MANUFACTURER);
	return CKR_OK;
}

AKM_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = c.be->C_GetTokenInfo(c.bslot, pInfo);
	if (rv != CKR_OK)
		return rv;
	/* Label, serial number, flags and counters stay the backend token's. */
	akm_pad_field(pInfo->manufacturerID, sizeof pInfo->manufacturerID, AKM_PKCS11_MANUFACTURER);
	akm_pad_field(pInfo->model, sizeof pInfo->model, AKM_PKCS11_MANUFACTURER);
	return CKR_OK;
}

AKM_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                                    CK_ULONG_PTR pulCount)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (akm_core_relationships(&c) == NULL)
		return c.be->C_GetMechanismList(c.bslot, pMechanismList, pulCount);
	/* The registry's slot adds the AKM mechanisms to the backend's. */
	CK_ULONG n = 0;
	if ((rv = c.be->C_GetMechanismList(c.bslot, NULL, &n)) != CKR_OK)
		return rv;
	static const CK_MECHANISM_TYPE akm_mechanisms[] = {CKM_AKM_RELATIONSHIP_GEN, CKM_AKM_RELATIONSHIP_BATCH_GEN,
	                                                    CKM_AKM_EXPORT_WRAP};
	const CK_ULONG extra = sizeof akm_mechanisms / sizeof akm_mechanisms[0];
	if (pMechanismList == NULL) {
		*pulCount = n + extra;
		return CKR_OK;
	}
	if (*pulCount < n + extra) {
		*pulCount = n + extra;
		return CKR_BUFFER_TOO_SMALL;
	}
	if ((rv = c.be->C_GetMechanismList(c.bslot, pMechanismList, &n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < extra; i++)
		pMechanismList[n + i] = akm_mechanisms[i];
	*pulCount = n + extra;
	return CKR_OK;
}

AKM_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                    CK_MECHANISM_INFO_PTR pInfo)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	if (type == CKM_AKM_RELATIONSHIP_GEN || type == CKM_AKM_RELATIONSHIP_BATCH_GEN) {
		if (akm_core_relationships(&c) == NULL)
			return CKR_MECHANISM_INVALID;
		pInfo->ulMinKeySize = pInfo->ulMaxKeySize = 32;
		pInfo->flags = CKF_GENERATE;
		return CKR_OK;
	}
	if (type == CKM_AKM_EXPORT_WRAP) {
		if (akm_core_relationships(&c) == NULL)
			return CKR_MECHANISM_INVALID;
		pInfo->ulMinKeySize = pInfo->ulMaxKeySize = 32;
		pInfo->flags = CKF_WRAP;
		return CKR_OK;
	}
	return c.be->C_GetMechanismInfo(c.bslot, type, pInfo);
}

AKM_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                             CK_UTF8CHAR_PTR pLabel)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (pLabel == NULL || (pPin == NULL && ulPinLen > 0))
		return CKR_ARGUMENTS_BAD;
	if (akm_core_slot_has_sessions(c.slot))
		return CKR_SESSION_EXISTS; /* §5.5: no session may be open */
	akm_core_registry_release(c.slot);
	rv = c.be->C_InitToken(c.bslot, pPin, ulPinLen, pLabel);
	if (rv == CKR_OK)
		akm_core_slot_reinitialised(c.slot, pLabel);
	CK_RV reopened = akm_core_registry_reopen(c.slot);
	return rv != CKR_OK ? rv : reopened;
}

AKM_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pPin == NULL && ulPinLen > 0)
		return CKR_ARGUMENTS_BAD;
	return c.be->C_InitPIN(c.bs, pPin, ulPinLen);
}

AKM_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                          CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if ((pOldPin == NULL && ulOldLen > 0) || (pNewPin == NULL && ulNewLen > 0))
		return CKR_ARGUMENTS_BAD;
	return c.be->C_SetPIN(c.bs, pOldPin, ulOldLen, pNewPin, ulNewLen);
}

/* Slot and token management (PKCS#11 v2.40 §5.5). */
#include "module/entry.h"

CK_RV akm_entry_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	ENTRY_INITIALIZED();
	ENTRY_ARGUMENT(pulCount != NULL);
	/* Every slot we present has its token: tokenPresent changes nothing. */
	return akm_core_slot_list(pSlotList, pulCount);
}

CK_RV akm_entry_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(pInfo != NULL);
	return akm_core_slot_info(&c, pInfo);
}

CK_RV akm_entry_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(pInfo != NULL);
	return akm_core_token_info(&c, pInfo);
}

CK_RV akm_entry_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                                    CK_ULONG_PTR pulCount)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(pulCount != NULL);
	return akm_core_mechanism_list(&c, pMechanismList, pulCount);
}

CK_RV akm_entry_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                    CK_MECHANISM_INFO_PTR pInfo)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(pInfo != NULL);
	return akm_core_mechanism_info(&c, type, pInfo);
}

CK_RV akm_entry_C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                             CK_UTF8CHAR_PTR pLabel)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(pLabel != NULL && (pPin != NULL || ulPinLen == 0));
	return akm_core_init_token(&c, pPin, ulPinLen, pLabel);
}

CK_RV akm_entry_C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pPin != NULL || ulPinLen == 0);
	return akm_core_init_pin(&c, pPin, ulPinLen);
}

CK_RV akm_entry_C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                          CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT((pOldPin != NULL || ulOldLen == 0) && (pNewPin != NULL || ulNewLen == 0));
	return akm_core_set_pin(&c, pOldPin, ulOldLen, pNewPin, ulNewLen);
}

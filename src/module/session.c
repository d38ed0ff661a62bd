/* Session management and login (PKCS#11 v2.40 §5.6). */
#include "module/entry.h"

CK_RV akm_entry_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                               CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	ENTRY_SLOT(c, slotID);
	ENTRY_ARGUMENT(phSession != NULL);
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	return akm_core_open_session(&c, flags, phSession);
}

CK_RV akm_entry_C_CloseSession(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	return akm_core_close_session(&c);
}

CK_RV akm_entry_C_CloseAllSessions(CK_SLOT_ID slotID)
{
	ENTRY_SLOT(c, slotID);
	return akm_core_close_all_sessions(&c);
}

CK_RV akm_entry_C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pInfo != NULL);
	return akm_core_session_info(&c, pInfo);
}

CK_RV akm_entry_C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG_PTR pulOperationStateLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pulOperationStateLen != NULL);
	return akm_core_get_operation_state(&c, pOperationState, pulOperationStateLen);
}

CK_RV akm_entry_C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                                     CK_OBJECT_HANDLE hAuthenticationKey)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pOperationState != NULL);
	return akm_core_set_operation_state(&c, pOperationState, ulOperationStateLen, hEncryptionKey,
	                                    hAuthenticationKey);
}

CK_RV akm_entry_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                         CK_ULONG ulPinLen)
{
	ENTRY_SESSION(c, hSession);
	if (userType != CKU_SO && userType != CKU_USER && userType != CKU_CONTEXT_SPECIFIC)
		return CKR_USER_TYPE_INVALID;
	ENTRY_ARGUMENT(pPin != NULL || ulPinLen == 0);
	return akm_core_login(&c, userType, pPin, ulPinLen);
}

CK_RV akm_entry_C_Logout(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	return akm_core_logout(&c);
}

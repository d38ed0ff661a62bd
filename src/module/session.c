/* Session management and login (PKCS#11 v2.40 §5.6). */
#include <stdlib.h>

#include "module/entry.h"

AKM_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                               CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	if (phSession == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	/* The backend never sees the application's callback: its session
	 * handle is not the one the application knows. */
	CK_SESSION_HANDLE backend;
	rv = c.be->C_OpenSession(c.bslot, flags, NULL, NULL, &backend);
	if (rv != CKR_OK)
		return rv;
	rv = akm_core_session_add(&c, backend, (flags & CKF_RW_SESSION) != 0, phSession);
	if (rv != CKR_OK)
		c.be->C_CloseSession(backend);
	return rv;
}

AKM_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	rv = c.be->C_CloseSession(c.bs);
	/* A backend that already lost the session (e.g. its token went away)
	 * still leaves ours closed. */
	if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT) {
		akm_core_session_remove(hSession);
		rv = CKR_OK;
	}
	return rv;
}

AKM_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	akm_call c;
	CK_RV rv = akm_core_slot(slotID, &c);
	if (rv != CKR_OK)
		return rv;
	/* One by one: the backend's C_CloseAllSessions would also close
	 * sessions that other users of a shared backend own. */
	CK_SESSION_HANDLE *list;
	size_t n;
	rv = akm_core_slot_sessions(c.slot, &list, &n);
	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < n; i++)
		C_CloseSession(list[i]);
	free(list);
	return CKR_OK;
}

AKM_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = c.be->C_GetSessionInfo(c.bs, pInfo);
	if (rv == CKR_OK)
		pInfo->slotID = c.slot;
	return rv;
}

AKM_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG_PTR pulOperationStateLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pulOperationStateLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return c.be->C_GetOperationState(c.bs, pOperationState, pulOperationStateLen);
}

AKM_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                                     CK_OBJECT_HANDLE hAuthenticationKey)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pOperationState == NULL)
		return CKR_ARGUMENTS_BAD;
	CK_OBJECT_HANDLE enc = 0, auth = 0;
	if ((hEncryptionKey != 0 && akm_core_object(&c, hEncryptionKey, &enc) != CKR_OK) ||
	    (hAuthenticationKey != 0 && akm_core_object(&c, hAuthenticationKey, &auth) != CKR_OK))
		return CKR_KEY_HANDLE_INVALID;
	/* The restored state's operations are the backend's to know; ours
	 * start clean so that the backend's answers decide. */
	rv = c.be->C_SetOperationState(c.bs, pOperationState, ulOperationStateLen, enc, auth);
	if (rv == CKR_OK)
		akm_core_ops_end(&c, ~0u, true);
	return rv;
}

AKM_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                         CK_ULONG ulPinLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (userType != CKU_SO && userType != CKU_USER && userType != CKU_CONTEXT_SPECIFIC)
		return CKR_USER_TYPE_INVALID;
	if (pPin == NULL && ulPinLen > 0)
		return CKR_ARGUMENTS_BAD;
	CK_USER_TYPE who = akm_core_login_state(c.slot);
	if (userType != CKU_CONTEXT_SPECIFIC && who != AKM_NOT_LOGGED_IN)
		return who == userType ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	rv = c.be->C_Login(c.bs, userType, pPin, ulPinLen);
	/* ALREADY_LOGGED_IN from a backend shared with another user of this
	 * process: that login is ours too from now on. */
	if ((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) && userType != CKU_CONTEXT_SPECIFIC)
		akm_core_set_login_state(c.slot, userType);
	akm_relationships *rels = akm_core_relationships(&c);
	if (rels != NULL) {
		/* The registry's keys open with the user's login; a wrong PIN is
		 * a breach signal. */
		if ((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) && userType == CKU_USER)
			akm_relationships_login(rels);
		else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
			akm_relationships_audit_failure(rels, "login", 0, rv,
			                                userType == CKU_SO ? "security officer" : "user");
	}
	return rv;
}

AKM_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (akm_core_login_state(c.slot) == AKM_NOT_LOGGED_IN)
		return CKR_USER_NOT_LOGGED_IN; /* §5.6: SoftHSM2 answers CKR_OK here */
	/* The registry records its state in the token first, while the
	 * token's private objects are still within reach; its logout is the
	 * token's (one login state per application). */
	akm_relationships *rels = akm_core_relationships(&c);
	if (rels != NULL)
		akm_relationships_logout(rels);
	rv = c.be->C_Logout(c.bs);
	if (rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) {
		akm_core_set_login_state(c.slot, AKM_NOT_LOGGED_IN);
		rv = CKR_OK;
	}
	return rv;
}

/* General-purpose functions (PKCS#11 v2.40 §5.4) and the function list. */
#include <string.h>

#include "module/entry.h"
#include "akm/pkcs11-akm.h"

AKM_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *args = pInitArgs;
	if (args != NULL) {
		if (args->pReserved != NULL)
			return CKR_ARGUMENTS_BAD;
		int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
		            (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
		if (given != 0 && given != 4)
			return CKR_ARGUMENTS_BAD; /* all four or none (§5.4, C_Initialize) */
	}
	return akm_core_initialize(args);
}

AKM_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved != NULL)
		return akm_core_initialized() ? CKR_ARGUMENTS_BAD : CKR_CRYPTOKI_NOT_INITIALIZED;
	return akm_core_finalize();
}

AKM_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	ENTRY_INITIALIZED();
	ENTRY_ARGUMENT(pInfo != NULL);
	akm_core_info(pInfo);
	return CKR_OK;
}

/* Legacy parallel-function calls (§5.16): always CKR_FUNCTION_NOT_PARALLEL. */
AKM_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	(void)c;
	return CKR_FUNCTION_NOT_PARALLEL;
}

AKM_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	(void)c;
	return CKR_FUNCTION_NOT_PARALLEL;
}

AKM_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	return akm_core_wait_for_slot_event(flags, pSlot, pReserved);
}

/* ---- the function list ---------------------------------------------------- */

static CK_FUNCTION_LIST function_list = {
	.version = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

AKM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list;
	return CKR_OK;
}

/* PKCS#11 3.0 §5.2 interface discovery, offering the v2.40 list as the
 * "PKCS 11" interface.  Debian 12's p11-kit header predates 3.0, so the
 * interface struct is declared here with the standard's layout. */
typedef struct akm_ck_interface {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} akm_ck_interface;

static akm_ck_interface interface_pkcs11 = {
	(CK_CHAR *)"PKCS 11", &function_list, 0,
};

AKM_EXPORT CK_RV C_GetInterfaceList(akm_ck_interface *pInterfacesList, CK_ULONG_PTR pulCount);
AKM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *pInterfaceName, CK_VERSION *pVersion,
                                akm_ck_interface **ppInterface, CK_FLAGS flags);

AKM_EXPORT CK_RV C_GetInterfaceList(akm_ck_interface *pInterfacesList, CK_ULONG_PTR pulCount)
{
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = 1;
		return CKR_OK;
	}
	if (*pulCount < 1) {
		*pulCount = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	pInterfacesList[0] = interface_pkcs11;
	*pulCount = 1;
	return CKR_OK;
}

AKM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *pInterfaceName, CK_VERSION *pVersion,
                                akm_ck_interface **ppInterface, CK_FLAGS flags)
{
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	if (pVersion != NULL && (pVersion->major != function_list.version.major ||
	                         pVersion->minor != function_list.version.minor))
		return CKR_ARGUMENTS_BAD;
	if (flags != 0) /* no fork-safe or other flagged interface is offered */
		return CKR_ARGUMENTS_BAD;
	*ppInterface = &interface_pkcs11;
	return CKR_OK;
}

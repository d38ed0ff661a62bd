/* General-purpose functions (PKCS#11 v2.40 §5.4) and the function list. */
#include <string.h>

#include "module/entry.h"
#include "module/pkcs11-v3.h"
#include "akm/pkcs11-akm.h"

CK_RV akm_entry_C_Initialize(CK_VOID_PTR pInitArgs)
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

CK_RV akm_entry_C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved != NULL)
		return akm_core_initialized() ? CKR_ARGUMENTS_BAD : CKR_CRYPTOKI_NOT_INITIALIZED;
	return akm_core_finalize();
}

CK_RV akm_entry_C_GetInfo(CK_INFO_PTR pInfo)
{
	ENTRY_INITIALIZED();
	ENTRY_ARGUMENT(pInfo != NULL);
	akm_core_info(pInfo);
	return CKR_OK;
}

/* Legacy parallel-function calls (§5.16): always CKR_FUNCTION_NOT_PARALLEL. */
CK_RV akm_entry_C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	(void)c;
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV akm_entry_C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	(void)c;
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV akm_entry_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	return akm_core_wait_for_slot_event(flags, pSlot, pReserved);
}

/* ---- the function lists and the interfaces (PKCS#11 3.0 §5.2) ---------------- */

/* Every function of v2.40's list, in its order; then those 3.0 adds. */
#define V2_40_FUNCTIONS(X) \
	X(C_Initialize) X(C_Finalize) X(C_GetInfo) \
	X(C_GetFunctionList) X(C_GetSlotList) X(C_GetSlotInfo) \
	X(C_GetTokenInfo) X(C_GetMechanismList) X(C_GetMechanismInfo) \
	X(C_InitToken) X(C_InitPIN) X(C_SetPIN) \
	X(C_OpenSession) X(C_CloseSession) X(C_CloseAllSessions) \
	X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState) \
	X(C_Login) X(C_Logout) X(C_CreateObject) \
	X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize) \
	X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit) \
	X(C_FindObjects) X(C_FindObjectsFinal) X(C_EncryptInit) \
	X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal) \
	X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) \
	X(C_DecryptFinal) X(C_DigestInit) X(C_Digest) \
	X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal) \
	X(C_SignInit) X(C_Sign) X(C_SignUpdate) \
	X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover) \
	X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) \
	X(C_VerifyFinal) X(C_VerifyRecoverInit) X(C_VerifyRecover) \
	X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate) \
	X(C_DecryptVerifyUpdate) X(C_GenerateKey) X(C_GenerateKeyPair) \
	X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) \
	X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus) \
	X(C_CancelFunction) X(C_WaitForSlotEvent)

#define V3_0_FUNCTIONS(X) \
	X(C_GetInterfaceList) X(C_GetInterface) X(C_LoginUser) \
	X(C_SessionCancel) X(C_MessageEncryptInit) X(C_EncryptMessage) \
	X(C_EncryptMessageBegin) X(C_EncryptMessageNext) X(C_MessageEncryptFinal) \
	X(C_MessageDecryptInit) X(C_DecryptMessage) X(C_DecryptMessageBegin) \
	X(C_DecryptMessageNext) X(C_MessageDecryptFinal) X(C_MessageSignInit) \
	X(C_SignMessage) X(C_SignMessageBegin) X(C_SignMessageNext) \
	X(C_MessageSignFinal) X(C_MessageVerifyInit) X(C_VerifyMessage) \
	X(C_VerifyMessageBegin) X(C_VerifyMessageNext) X(C_MessageVerifyFinal)

#define MEMBER(name) .name = name,

/* The version each list carries is the interface's, written out: it is not
 * the header's CRYPTOKI_VERSION (a 3.0 header would make the v2.40 list
 * claim 3.0). */
static CK_FUNCTION_LIST function_list = {
	.version = {2, 40},
	V2_40_FUNCTIONS(MEMBER)
};

/* Complete: the 3.0 functions the module cannot do answer
 * CKR_FUNCTION_NOT_SUPPORTED (message.c). */
static CK_FUNCTION_LIST_3_0 function_list_3_0 = {
	.version = {3, 0},
	V2_40_FUNCTIONS(MEMBER)
	V3_0_FUNCTIONS(MEMBER)
};

CK_RV akm_entry_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list;
	return CKR_OK;
}

/* Both interfaces are "PKCS 11"; the 3.0 one comes first and is the default
 * (C_GetInterface with no name and no version), as in OpenSC's module.
 * Neither is fork-safe (CKF_INTERFACE_FORK_SAFE): a forked child must call
 * C_Initialize (docs/conformance.md). */
static CK_INTERFACE interfaces[] = {
	{(CK_CHAR *)"PKCS 11", &function_list_3_0, 0},
	{(CK_CHAR *)"PKCS 11", &function_list, 0},
};
#define NINTERFACES (sizeof interfaces / sizeof interfaces[0])

static const CK_VERSION *interface_version(const CK_INTERFACE *i)
{
	return &((const CK_FUNCTION_LIST *)i->pFunctionList)->version; /* the lists begin alike */
}

CK_RV akm_entry_C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = NINTERFACES;
		return CKR_OK;
	}
	if (*pulCount < NINTERFACES) {
		*pulCount = NINTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, interfaces, sizeof interfaces);
	*pulCount = NINTERFACES;
	return CKR_OK;
}

/* The first interface with that name (any, when NULL), version (any, when
 * NULL) and all the flags asked for; none is CKR_ARGUMENTS_BAD (3.0 §5.2). */
CK_RV akm_entry_C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < NINTERFACES; i++) {
		const CK_VERSION *v = interface_version(&interfaces[i]);
		if (pInterfaceName != NULL &&
		    strcmp((const char *)pInterfaceName, (const char *)interfaces[i].pInterfaceName) != 0)
			continue;
		if (pVersion != NULL && (pVersion->major != v->major || pVersion->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}

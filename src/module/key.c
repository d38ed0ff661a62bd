/* Key management and random numbers (PKCS#11 v2.40 §5.14–5.15). */
#include "module/entry.h"

CK_RV akm_entry_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pMechanism != NULL && phKey != NULL);
	ENTRY_TEMPLATE(pTemplate, ulCount);
	return akm_core_generate_key(&c, pMechanism, pTemplate, ulCount, phKey);
}

CK_RV akm_entry_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                   CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                                   CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pMechanism != NULL && phPublicKey != NULL && phPrivateKey != NULL);
	ENTRY_TEMPLATE(pPublicKeyTemplate, ulPublicKeyAttributeCount);
	ENTRY_TEMPLATE(pPrivateKeyTemplate, ulPrivateKeyAttributeCount);
	return akm_core_generate_key_pair(&c, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount,
	                                  pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey,
	                                  phPrivateKey);
}

CK_RV akm_entry_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                           CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pMechanism != NULL && pulWrappedKeyLen != NULL);
	return akm_core_wrap_key(&c, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
}

CK_RV akm_entry_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                             CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pMechanism != NULL && pWrappedKey != NULL && phKey != NULL);
	ENTRY_TEMPLATE(pTemplate, ulAttributeCount);
	return akm_core_unwrap_key(&c, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate,
	                           ulAttributeCount, phKey);
}

CK_RV akm_entry_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pMechanism != NULL && phKey != NULL);
	ENTRY_TEMPLATE(pTemplate, ulAttributeCount);
	return akm_core_derive_key(&c, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey);
}

CK_RV akm_entry_C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pSeed != NULL || ulSeedLen == 0);
	return akm_core_seed_random(&c, pSeed, ulSeedLen);
}

CK_RV akm_entry_C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData,
                                  CK_ULONG ulRandomLen)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pRandomData != NULL || ulRandomLen == 0);
	return akm_core_generate_random(&c, pRandomData, ulRandomLen);
}

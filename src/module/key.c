/* Key management and random numbers (PKCS#11 v2.40 §5.14–5.15). */
#include "module/entry.h"
#include "akm/pkcs11-akm.h"

/* The AKM creation mechanisms: one relationship, or a batch. */
static CK_RV generate_relationships(const akm_call *c, const CK_MECHANISM *m, CK_ATTRIBUTE_PTR tmpl,
                                    CK_ULONG count, CK_OBJECT_HANDLE_PTR phKey)
{
	akm_relationships *rels = akm_core_relationships(c);
	if (rels == NULL)
		return CKR_MECHANISM_INVALID; /* only the registry's token has relationships */
	if (m->mechanism == CKM_AKM_RELATIONSHIP_GEN) {
		if (m->pParameter != NULL || m->ulParameterLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		if (!c->rw)
			return CKR_SESSION_READ_ONLY;
		return akm_relationships_create(rels, &tmpl, &count, 1, phKey);
	}
	const CK_AKM_BATCH_GEN_PARAMS *b = m->pParameter;
	if (b == NULL || m->ulParameterLen != sizeof *b || b->ulCount == 0 || b->ulCount > AKM_BATCH_MAX ||
	    b->ppTemplates == NULL || b->pulTemplateCounts == NULL || b->phKeys == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if (tmpl != NULL || count != 0)
		return CKR_TEMPLATE_INCONSISTENT; /* the templates are in the parameter */
	for (CK_ULONG i = 0; i < b->ulCount; i++) {
		CK_RV rv = akm_template_check(b->ppTemplates[i], b->pulTemplateCounts[i]);
		if (rv != CKR_OK)
			return rv;
	}
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	CK_RV rv = akm_relationships_create(rels, b->ppTemplates, b->pulTemplateCounts, b->ulCount, b->phKeys);
	if (rv == CKR_OK)
		*phKey = b->phKeys[0];
	return rv;
}

AKM_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	if (pMechanism->mechanism == CKM_AKM_RELATIONSHIP_GEN ||
	    pMechanism->mechanism == CKM_AKM_RELATIONSHIP_BATCH_GEN)
		return generate_relationships(&c, pMechanism, pTemplate, ulCount, phKey);
	CK_OBJECT_HANDLE key;
	rv = c.be->C_GenerateKey(c.bs, pMechanism, pTemplate, ulCount, &key);
	if (rv != CKR_OK)
		return rv;
	return akm_adopt_object(&c, key, akm_template_is_token(pTemplate, ulCount), phKey);
}

AKM_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                   CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                                   CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phPublicKey == NULL || phPrivateKey == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pPublicKeyTemplate, ulPublicKeyAttributeCount)) != CKR_OK ||
	    (rv = akm_template_check(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE pub, priv;
	rv = c.be->C_GenerateKeyPair(c.bs, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount,
	                             pPrivateKeyTemplate, ulPrivateKeyAttributeCount, &pub, &priv);
	if (rv != CKR_OK)
		return rv;
	rv = akm_adopt_object(&c, pub, akm_template_is_token(pPublicKeyTemplate, ulPublicKeyAttributeCount),
	                      phPublicKey);
	if (rv != CKR_OK) {
		c.be->C_DestroyObject(c.bs, priv);
		return rv;
	}
	rv = akm_adopt_object(&c, priv, akm_template_is_token(pPrivateKeyTemplate, ulPrivateKeyAttributeCount),
	                      phPrivateKey);
	if (rv != CKR_OK)
		C_DestroyObject(hSession, *phPublicKey); /* both or neither */
	return rv;
}

AKM_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                           CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || pulWrappedKeyLen == NULL)
		return CKR_ARGUMENTS_BAD;
	CK_OBJECT_HANDLE wrapping, key;
	if (pMechanism->mechanism == CKM_AKM_EXPORT_WRAP) {
		akm_relationships *rels = akm_core_relationships(&c);
		if (rels == NULL)
			return CKR_MECHANISM_INVALID;
		if (pMechanism->pParameter != NULL || pMechanism->ulParameterLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		if (!AKM_IS_REGISTRY_HANDLE(hKey)) /* only relationship keys are exported this way */
			return akm_core_object(&c, hKey, &key) == CKR_OK ? CKR_KEY_NOT_WRAPPABLE : CKR_KEY_HANDLE_INVALID;
		if (AKM_IS_REGISTRY_HANDLE(hWrappingKey)) /* a transport key is the backend's */
			return akm_registry_key_refused(&c, hWrappingKey, CKR_WRAPPING_KEY_TYPE_INCONSISTENT) ==
			               CKR_KEY_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID
			                                      : CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
		if (akm_core_object(&c, hWrappingKey, &wrapping) != CKR_OK)
			return CKR_WRAPPING_KEY_HANDLE_INVALID;
		return akm_relationships_export(rels, hKey, wrapping, pWrappedKey, pulWrappedKeyLen);
	}
	if (AKM_IS_REGISTRY_HANDLE(hKey)) /* relationship keys leave only through AKM mechanisms */
		return akm_registry_key_refused(&c, hKey, CKR_KEY_UNEXTRACTABLE);
	if (akm_core_object(&c, hKey, &key) != CKR_OK)
		return CKR_KEY_HANDLE_INVALID;
	rv = akm_resolve_key(&c, hWrappingKey, CKA_WRAP, &wrapping);
	if (rv != CKR_OK)
		return rv == CKR_KEY_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID : rv;
	return c.be->C_WrapKey(c.bs, pMechanism, wrapping, key, pWrappedKey, pulWrappedKeyLen);
}

AKM_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                             CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || pWrappedKey == NULL || phKey == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pTemplate, ulAttributeCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE unwrapping, key;
	rv = akm_resolve_key(&c, hUnwrappingKey, CKA_UNWRAP, &unwrapping);
	if (rv != CKR_OK)
		return rv == CKR_KEY_HANDLE_INVALID ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : rv;
	rv = c.be->C_UnwrapKey(c.bs, pMechanism, unwrapping, pWrappedKey, ulWrappedKeyLen,
	                       pTemplate, ulAttributeCount, &key);
	if (rv != CKR_OK)
		return rv;
	return akm_adopt_object(&c, key, akm_template_is_token(pTemplate, ulAttributeCount), phKey);
}

AKM_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pTemplate, ulAttributeCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE base, key;
	if (AKM_IS_REGISTRY_HANDLE(hBaseKey)) /* CKA_DERIVE is false for relationship keys */
		return akm_registry_key_refused(&c, hBaseKey, CKR_KEY_FUNCTION_NOT_PERMITTED);
	if (akm_core_object(&c, hBaseKey, &base) != CKR_OK)
		return CKR_KEY_HANDLE_INVALID;

	/* Mechanism parameters that name another key carry our handle: give
	 * the backend its own. */
	CK_MECHANISM mech = *pMechanism;
	CK_OBJECT_HANDLE other;
	switch (mech.mechanism) {
	case CKM_CONCATENATE_BASE_AND_KEY:
		if (mech.pParameter == NULL || mech.ulParameterLen != sizeof(CK_OBJECT_HANDLE))
			return CKR_MECHANISM_PARAM_INVALID;
		if (akm_core_object(&c, *(CK_OBJECT_HANDLE *)mech.pParameter, &other) != CKR_OK)
			return CKR_KEY_HANDLE_INVALID;
		mech.pParameter = &other;
		break;
	case CKM_SSL3_KEY_AND_MAC_DERIVE:
	case CKM_TLS_KEY_AND_MAC_DERIVE:
	case CKM_ECMQV_DERIVE:
	case CKM_X9_42_DH_HYBRID_DERIVE:
	case CKM_X9_42_MQV_DERIVE:
		/* Their parameters hold key handles in or out that this
		 * pass-through does not translate yet. */
		return CKR_MECHANISM_INVALID;
	default:
		break;
	}
	rv = c.be->C_DeriveKey(c.bs, &mech, base, pTemplate, ulAttributeCount, &key);
	if (rv != CKR_OK)
		return rv;
	return akm_adopt_object(&c, key, akm_template_is_token(pTemplate, ulAttributeCount), phKey);
}

AKM_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pSeed == NULL && ulSeedLen > 0)
		return CKR_ARGUMENTS_BAD;
	return c.be->C_SeedRandom(c.bs, pSeed, ulSeedLen);
}

AKM_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData,
                                  CK_ULONG ulRandomLen)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pRandomData == NULL && ulRandomLen > 0)
		return CKR_ARGUMENTS_BAD;
	return c.be->C_GenerateRandom(c.bs, pRandomData, ulRandomLen);
}

/* Object management (PKCS#11 v2.40 §5.7). */
#include "module/entry.h"

int akm_template_is_token(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	CK_BBOOL token = CK_FALSE;
	bool present;
	/* A malformed CKA_TOKEN is left for the backend to refuse. */
	if (akm_template_get_bool(tmpl, count, CKA_TOKEN, &token, &present) != CKR_OK)
		return 0;
	return present && token == CK_TRUE;
}

CK_RV akm_adopt_object(const akm_call *c, CK_OBJECT_HANDLE backend, int token_object,
                       CK_OBJECT_HANDLE *out)
{
	CK_RV rv = akm_core_object_add(c, backend, !token_object, out);
	if (rv != CKR_OK)
		c->be->C_DestroyObject(c->bs, backend);
	return rv;
}

AKM_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (phObject == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE backend;
	rv = c.be->C_CreateObject(c.bs, pTemplate, ulCount, &backend);
	if (rv != CKR_OK)
		return rv;
	return akm_adopt_object(&c, backend, akm_template_is_token(pTemplate, ulCount), phObject);
}

AKM_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                              CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                              CK_OBJECT_HANDLE_PTR phNewObject)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (phNewObject == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = akm_template_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE original, copy;
	if ((rv = akm_core_object(&c, hObject, &original)) != CKR_OK)
		return rv;
	rv = c.be->C_CopyObject(c.bs, original, pTemplate, ulCount, &copy);
	if (rv != CKR_OK)
		return rv;
	/* Without CKA_TOKEN in the template the copy inherits the original's:
	 * ask the backend which it is. */
	CK_BBOOL token = CK_FALSE;
	CK_ATTRIBUTE probe = {CKA_TOKEN, &token, sizeof token};
	if (akm_template_find(pTemplate, ulCount, CKA_TOKEN) != NULL)
		token = akm_template_is_token(pTemplate, ulCount) ? CK_TRUE : CK_FALSE;
	else if (c.be->C_GetAttributeValue(c.bs, copy, &probe, 1) != CKR_OK)
		token = CK_FALSE;
	return akm_adopt_object(&c, copy, token == CK_TRUE, phNewObject);
}

AKM_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE backend;
	if ((rv = akm_core_object(&c, hObject, &backend)) != CKR_OK)
		return rv;
	rv = c.be->C_DestroyObject(c.bs, backend);
	if (rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID)
		akm_core_object_remove(hObject);
	return rv;
}

AKM_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                 CK_ULONG_PTR pulSize)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pulSize == NULL)
		return CKR_ARGUMENTS_BAD;
	CK_OBJECT_HANDLE backend;
	if ((rv = akm_core_object(&c, hObject, &backend)) != CKR_OK)
		return rv;
	return c.be->C_GetObjectSize(c.bs, backend, pulSize);
}

AKM_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0)
		return CKR_ARGUMENTS_BAD;
	CK_OBJECT_HANDLE backend;
	if ((rv = akm_core_object(&c, hObject, &backend)) != CKR_OK)
		return rv;
	return c.be->C_GetAttributeValue(c.bs, backend, pTemplate, ulCount);
}

AKM_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if ((rv = akm_template_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE backend;
	if ((rv = akm_core_object(&c, hObject, &backend)) != CKR_OK)
		return rv;
	return c.be->C_SetAttributeValue(c.bs, backend, pTemplate, ulCount);
}

AKM_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                   CK_ULONG ulCount)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if ((rv = akm_template_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	if (c.active & AKM_OP_FIND)
		return CKR_OPERATION_ACTIVE;
	rv = c.be->C_FindObjectsInit(c.bs, pTemplate, ulCount);
	if (rv == CKR_OPERATION_ACTIVE && akm_drain_stale_ops(&c))
		rv = c.be->C_FindObjectsInit(c.bs, pTemplate, ulCount);
	if (rv == CKR_OK)
		akm_core_ops_begin(&c, AKM_OP_FIND, CKM_VENDOR_DEFINED);
	return rv;
}

AKM_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                               CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if ((phObject == NULL && ulMaxObjectCount > 0) || pulObjectCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(c.active & AKM_OP_FIND))
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = c.be->C_FindObjects(c.bs, phObject, ulMaxObjectCount, pulObjectCount);
	if (rv != CKR_OK)
		return rv;
	return akm_core_objects_translate(&c, phObject, *pulObjectCount);
}

AKM_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	akm_call c;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (!(c.active & AKM_OP_FIND))
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = c.be->C_FindObjectsFinal(c.bs);
	akm_core_ops_end(&c, AKM_OP_FIND, rv != CKR_OK);
	return rv;
}

/* Object management (PKCS#11 v2.40 §5.7). */
#include "module/entry.h"

CK_RV akm_entry_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(phObject != NULL);
	ENTRY_TEMPLATE(pTemplate, ulCount);
	return akm_core_create_object(&c, pTemplate, ulCount, phObject);
}

CK_RV akm_entry_C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                              CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                              CK_OBJECT_HANDLE_PTR phNewObject)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(phNewObject != NULL);
	ENTRY_TEMPLATE(pTemplate, ulCount);
	return akm_core_copy_object(&c, hObject, pTemplate, ulCount, phNewObject);
}

CK_RV akm_entry_C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	ENTRY_SESSION(c, hSession);
	return akm_core_destroy_object(&c, hObject);
}

CK_RV akm_entry_C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                 CK_ULONG_PTR pulSize)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pulSize != NULL);
	return akm_core_object_size(&c, hObject, pulSize);
}

CK_RV akm_entry_C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT(pTemplate != NULL || ulCount == 0);
	return akm_core_get_attributes(&c, hObject, pTemplate, ulCount);
}

CK_RV akm_entry_C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_TEMPLATE(pTemplate, ulCount);
	return akm_core_set_attributes(&c, hObject, pTemplate, ulCount);
}

CK_RV akm_entry_C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                   CK_ULONG ulCount)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_TEMPLATE(pTemplate, ulCount);
	return akm_core_find_init(&c, pTemplate, ulCount);
}

CK_RV akm_entry_C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                               CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	ENTRY_SESSION(c, hSession);
	ENTRY_ARGUMENT((phObject != NULL || ulMaxObjectCount == 0) && pulObjectCount != NULL);
	return akm_core_find(&c, phObject, ulMaxObjectCount, pulObjectCount);
}

CK_RV akm_entry_C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	ENTRY_SESSION(c, hSession);
	return akm_core_find_final(&c);
}

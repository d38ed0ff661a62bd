/* Object management (PKCS#11 v2.40 §5.7). */
#include <stdlib.h>
#include <string.h>

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

CK_RV akm_resolve_key(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE usage,
                      CK_OBJECT_HANDLE *backend)
{
	if (AKM_IS_REGISTRY_HANDLE(h)) {
		akm_relationships *rels = akm_core_relationships(c);
		return rels != NULL ? akm_relationships_use(rels, h, usage, backend) : CKR_KEY_HANDLE_INVALID;
	}
	return akm_core_object(c, h, backend) == CKR_OK ? CKR_OK : CKR_KEY_HANDLE_INVALID;
}

CK_RV akm_registry_key_refused(const akm_call *c, CK_OBJECT_HANDLE h, CK_RV refusal)
{
	akm_relationships *rels = akm_core_relationships(c);
	return rels != NULL && akm_relationships_exists(rels, h) == CKR_OK ? refusal : CKR_KEY_HANDLE_INVALID;
}

/* The relationships a registry handle belongs to, or NULL when the handle
 * is not one or names nothing in this session's slot. */
static akm_relationships *registry_of(const akm_call *c, CK_OBJECT_HANDLE h)
{
	return AKM_IS_REGISTRY_HANDLE(h) ? akm_core_relationships(c) : NULL;
}

/* The same for audit-record handles (CKO_AKM_AUDIT_RECORD). */
static akm_relationships *audit_of(const akm_call *c, CK_OBJECT_HANDLE h)
{
	return AKM_IS_AUDIT_HANDLE(h) ? akm_core_relationships(c) : NULL;
}

/* Audit records are never copied, changed or destroyed. */
static CK_RV audit_prohibited(akm_relationships *rels, CK_OBJECT_HANDLE h)
{
	CK_ULONG size;
	CK_RV rv = akm_relationships_audit_size(rels, h, &size);
	return rv != CKR_OK ? rv : CKR_ACTION_PROHIBITED;
}

/* Whether a search asks the backend: not for AKM attributes or audit
 * records, which no backend object has. */
static bool searches_backend(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return !akm_template_has_akm(tmpl, count) && !akm_template_is_audit(tmpl, count);
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
	if (akm_template_is_audit(pTemplate, ulCount)) { /* an application's audit record */
		akm_relationships *rels = akm_core_relationships(&c);
		if (rels == NULL)
			return CKR_TEMPLATE_INCONSISTENT; /* this slot keeps no registry */
		return c.rw ? akm_relationships_audit_create(rels, pTemplate, ulCount, phObject) : CKR_SESSION_READ_ONLY;
	}
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
	akm_relationships *rels = registry_of(&c, hObject);
	if (rels != NULL) /* relationship keys are not copyable (CKA_COPYABLE) */
		return (rv = akm_relationships_exists(rels, hObject)) != CKR_OK ? rv : CKR_ACTION_PROHIBITED;
	if ((rels = audit_of(&c, hObject)) != NULL) /* nor are audit records */
		return audit_prohibited(rels, hObject);
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
	akm_relationships *rels = registry_of(&c, hObject);
	if (rels != NULL)
		return c.rw ? akm_relationships_destroy(rels, hObject) : CKR_SESSION_READ_ONLY;
	if ((rels = audit_of(&c, hObject)) != NULL) /* the trail is append-only */
		return audit_prohibited(rels, hObject);
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
	akm_relationships *rels = registry_of(&c, hObject);
	if (rels != NULL)
		return akm_relationships_object_size(rels, hObject, pulSize);
	if ((rels = audit_of(&c, hObject)) != NULL)
		return akm_relationships_audit_size(rels, hObject, pulSize);
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
	akm_relationships *rels = registry_of(&c, hObject);
	if (rels != NULL)
		return akm_relationships_get_attributes(rels, hObject, pTemplate, ulCount);
	if ((rels = audit_of(&c, hObject)) != NULL)
		return akm_relationships_audit_get(rels, hObject, pTemplate, ulCount);
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
	akm_relationships *rels = registry_of(&c, hObject);
	if (rels != NULL)
		return c.rw ? akm_relationships_set_attributes(rels, hObject, pTemplate, ulCount)
		            : CKR_SESSION_READ_ONLY;
	if ((rels = audit_of(&c, hObject)) != NULL) /* records are never modified */
		return audit_prohibited(rels, hObject);
	CK_OBJECT_HANDLE backend;
	if ((rv = akm_core_object(&c, hObject, &backend)) != CKR_OK)
		return rv;
	return c.be->C_SetAttributeValue(c.bs, backend, pTemplate, ulCount);
}

/* A copy of the caller's template for the whole search (values included). */
static CK_ATTRIBUTE *copy_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	size_t bytes = count * sizeof(CK_ATTRIBUTE);
	for (CK_ULONG i = 0; i < count; i++)
		bytes += tmpl[i].ulValueLen;
	CK_ATTRIBUTE *copy = malloc(bytes ? bytes : 1);
	if (copy == NULL)
		return NULL;
	unsigned char *data = (unsigned char *)(copy + count);
	for (CK_ULONG i = 0; i < count; i++) {
		copy[i] = tmpl[i];
		if (tmpl[i].pValue != NULL && tmpl[i].ulValueLen > 0) {
			memcpy(data, tmpl[i].pValue, tmpl[i].ulValueLen);
			copy[i].pValue = data;
			data += tmpl[i].ulValueLen;
		}
	}
	return copy;
}

/* A search covers the backend's objects (unless the template names AKM
 * attributes, which no backend object has) and, on the registry's slot,
 * the relationship keys. */
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
	akm_find_state st = {0};
	st.count = ulCount;
	st.backend = searches_backend(pTemplate, ulCount);
	st.audit = akm_template_is_audit(pTemplate, ulCount);
	st.registry = akm_core_relationships(&c) != NULL;
	if ((st.tmpl = copy_template(pTemplate, ulCount)) == NULL)
		return CKR_HOST_MEMORY;
	if (st.backend) {
		rv = c.be->C_FindObjectsInit(c.bs, pTemplate, ulCount);
		if (rv == CKR_OPERATION_ACTIVE && akm_drain_stale_ops(&c))
			rv = c.be->C_FindObjectsInit(c.bs, pTemplate, ulCount);
		if (rv != CKR_OK) {
			free(st.tmpl);
			return rv;
		}
	}
	akm_core_find_start(&c, &st);
	return CKR_OK;
}

/* Backend results, without the objects the module keeps for itself. */
static CK_RV find_backend(const akm_call *c, akm_find_state *st, CK_OBJECT_HANDLE *out, CK_ULONG max,
                          CK_ULONG *n)
{
	akm_relationships *rels = akm_core_relationships(c);
	*n = 0;
	while (*n < max && st->backend) {
		CK_ULONG got = 0;
		CK_RV rv = c->be->C_FindObjects(c->bs, out + *n, max - *n, &got);
		if (rv != CKR_OK)
			return rv;
		if (got < max - *n)
			st->backend = false;
		CK_ULONG kept = 0;
		for (CK_ULONG i = 0; i < got; i++)
			if (rels == NULL || !akm_relationships_hides(rels, out[*n + i]))
				out[*n + kept++] = out[*n + i];
		if ((rv = akm_core_objects_translate(c, out + *n, kept)) != CKR_OK)
			return rv;
		*n += kept;
	}
	return CKR_OK;
}

AKM_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                               CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	akm_call c;
	akm_find_state st;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if ((phObject == NULL && ulMaxObjectCount > 0) || pulObjectCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(c.active & AKM_OP_FIND) || !akm_core_find_load(&c, &st))
		return CKR_OPERATION_NOT_INITIALIZED;
	CK_ULONG n = 0, more = 0;
	rv = find_backend(&c, &st, phObject, ulMaxObjectCount, &n);
	akm_relationships *rels = akm_core_relationships(&c);
	if (rv == CKR_OK && n < ulMaxObjectCount && st.registry && rels != NULL) {
		rv = st.audit ? akm_relationships_audit_find(rels, st.tmpl, st.count, &st.cursor, phObject + n,
		                                             ulMaxObjectCount - n, &more)
		              : akm_relationships_find(rels, st.tmpl, st.count, &st.cursor, phObject + n,
		                                       ulMaxObjectCount - n, &more);
		/* A refused registry fails a search for relationships; a general
		 * search still lists the backend's objects (the refusal is in
		 * the log). */
		if (rv != CKR_OK && searches_backend(st.tmpl, st.count)) {
			rv = CKR_OK;
			more = 0;
		}
		if (rv == CKR_OK && more < ulMaxObjectCount - n)
			st.registry = false;
		n += more;
	}
	akm_core_find_save(&c, &st);
	if (rv == CKR_OK)
		*pulObjectCount = n;
	return rv;
}

AKM_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	akm_call c;
	akm_find_state st;
	CK_RV rv = akm_core_session(hSession, &c);
	if (rv != CKR_OK)
		return rv;
	if (!(c.active & AKM_OP_FIND) || !akm_core_find_load(&c, &st))
		return CKR_OPERATION_NOT_INITIALIZED;
	/* The backend's search was started unless the template was AKM-only. */
	if (searches_backend(st.tmpl, st.count))
		rv = c.be->C_FindObjectsFinal(c.bs);
	akm_core_find_end(&c);
	if (rv != CKR_OK) /* ended here; the backend's copy is ended before the next search */
		akm_core_ops_end(&c, AKM_OP_FIND, true);
	return rv;
}

/* Object handles, and every object call dispatched to the object's class
 * (object.h). */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/object.h"
#include "core/template.h"

const akm_object_class *const akm_held_classes[] = {&akm_class_audit, &akm_class_relationship};
const size_t akm_held_class_count = sizeof akm_held_classes / sizeof akm_held_classes[0];

const akm_object_class *akm_object_class_of(CK_OBJECT_HANDLE h)
{
	if (AKM_IS_REGISTRY_HANDLE(h))
		return &akm_class_relationship;
	if (AKM_IS_AUDIT_HANDLE(h))
		return &akm_class_audit;
	return &akm_class_backend;
}

CK_RV akm_core_use_key(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend)
{
	return akm_object_class_of(h)->use(c, h, use, backend);
}

CK_RV akm_core_key_answer(const akm_call *c, CK_OBJECT_HANDLE h, CK_RV rv)
{
	const akm_object_class *cls = akm_object_class_of(h);
	if (cls->lost == NULL || (rv != CKR_KEY_HANDLE_INVALID && rv != CKR_OBJECT_HANDLE_INVALID &&
	                          rv != CKR_WRAPPING_KEY_HANDLE_INVALID && rv != CKR_UNWRAPPING_KEY_HANDLE_INVALID))
		return rv;
	cls->lost(c, h);
	return CKR_DEVICE_ERROR;
}

/* ---- the handle table ---------------------------------------------------------- */

CK_RV akm_core_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE *backend)
{
	akm_mutex_lock(akm_core.lock);
	akm_object *obj = akm_handles_lookup(&akm_core.objects, h);
	CK_RV rv = CKR_OBJECT_HANDLE_INVALID;
	if (obj != NULL && obj->slot == c->slot) {
		*backend = obj->backend;
		rv = CKR_OK;
	}
	akm_mutex_unlock(akm_core.lock);
	return rv;
}

CK_RV akm_core_adopt(const akm_call *c, CK_OBJECT_HANDLE backend, bool token_object, CK_OBJECT_HANDLE *out)
{
	akm_mutex_lock(akm_core.lock);
	*out = akm_handles_intern(&akm_core.objects, c->slot, backend, token_object ? 0 : c->session);
	akm_mutex_unlock(akm_core.lock);
	if (*out != 0)
		return CKR_OK;
	akm_backend_destroy_object(c->be, c->bs, backend);
	return CKR_HOST_MEMORY;
}

void akm_core_object_remove(CK_OBJECT_HANDLE h)
{
	akm_mutex_lock(akm_core.lock);
	akm_handles_remove(&akm_core.objects, h);
	akm_mutex_unlock(akm_core.lock);
}

CK_RV akm_core_objects_translate(const akm_call *c, CK_OBJECT_HANDLE *handles, CK_ULONG n)
{
	CK_RV rv = CKR_OK;
	akm_mutex_lock(akm_core.lock);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_HANDLE ours = akm_handles_intern(&akm_core.objects, c->slot, handles[i], 0);
		if (ours == 0) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		handles[i] = ours;
	}
	akm_mutex_unlock(akm_core.lock);
	return rv;
}

bool akm_core_template_is_token(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	CK_BBOOL token = CK_FALSE;
	bool present;
	/* A malformed CKA_TOKEN is left for the backend to refuse. */
	if (akm_template_get_bool(tmpl, count, CKA_TOKEN, &token, &present) != CKR_OK)
		return false;
	return present && token == CK_TRUE;
}

/* ---- object calls ------------------------------------------------------------------ */

CK_RV akm_core_create_object(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	for (size_t i = 0; i < akm_held_class_count; i++) {
		const akm_object_class *cls = akm_held_classes[i];
		if (cls->create != NULL && cls->claims(tmpl, count))
			return cls->create(c, tmpl, count, out);
	}
	CK_OBJECT_HANDLE backend;
	CK_RV rv = akm_backend_create_object(c->be, c->bs, tmpl, count, &backend);
	if (rv != CKR_OK)
		return rv;
	return akm_core_adopt(c, backend, akm_core_template_is_token(tmpl, count), out);
}

CK_RV akm_core_copy_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                           CK_OBJECT_HANDLE *out)
{
	return akm_object_class_of(h)->copy(c, h, tmpl, count, out);
}

CK_RV akm_core_destroy_object(const akm_call *c, CK_OBJECT_HANDLE h)
{
	return akm_object_class_of(h)->destroy(c, h);
}

CK_RV akm_core_object_size(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	return akm_object_class_of(h)->size(c, h, size);
}

CK_RV akm_core_get_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return akm_object_class_of(h)->get_attributes(c, h, tmpl, count);
}

CK_RV akm_core_set_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return akm_object_class_of(h)->set_attributes(c, h, tmpl, count);
}

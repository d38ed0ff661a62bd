/* The backend token's objects, passed through under handles of our own
 * (object.h). */
#include "core/internal.h"
#include "core/object.h"
#include "core/template.h"

static CK_RV backend_get_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	CK_OBJECT_HANDLE b;
	CK_RV rv = akm_core_object(c, h, &b);
	return rv != CKR_OK ? rv : akm_backend_get_attributes(c->be, c->bs, b, tmpl, count);
}

static CK_RV backend_set_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	CK_OBJECT_HANDLE b;
	CK_RV rv = akm_core_object(c, h, &b);
	return rv != CKR_OK ? rv : akm_backend_set_attributes(c->be, c->bs, b, tmpl, count);
}

static CK_RV backend_size(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	CK_OBJECT_HANDLE b;
	CK_RV rv = akm_core_object(c, h, &b);
	return rv != CKR_OK ? rv : akm_backend_object_size(c->be, c->bs, b, size);
}

static CK_RV backend_destroy(const akm_call *c, CK_OBJECT_HANDLE h)
{
	CK_OBJECT_HANDLE b;
	CK_RV rv = akm_core_object(c, h, &b);
	if (rv != CKR_OK)
		return rv;
	rv = akm_backend_destroy_object(c->be, c->bs, b);
	if (rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID)
		akm_core_object_remove(h);
	return rv;
}

static CK_RV backend_copy(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                          CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE original, copy;
	CK_RV rv = akm_core_object(c, h, &original);
	if (rv != CKR_OK)
		return rv;
	if ((rv = akm_backend_copy_object(c->be, c->bs, original, tmpl, count, &copy)) != CKR_OK)
		return rv;
	/* Without CKA_TOKEN in the template the copy inherits the original's:
	 * ask the backend which it is. */
	CK_BBOOL token = CK_FALSE;
	CK_ATTRIBUTE probe = {CKA_TOKEN, &token, sizeof token};
	if (akm_template_find(tmpl, count, CKA_TOKEN) != NULL)
		token = akm_core_template_is_token(tmpl, count) ? CK_TRUE : CK_FALSE;
	else if (akm_backend_get_attributes(c->be, c->bs, copy, &probe, 1) != CKR_OK)
		token = CK_FALSE;
	return akm_core_adopt(c, copy, token == CK_TRUE, out);
}

/* Any use the backend allows: it checks the key's attributes itself. */
static CK_RV backend_use(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend)
{
	return akm_core_object(c, h, backend) == CKR_OK ? CKR_OK : CKR_KEY_HANDLE_INVALID;
}

const akm_object_class akm_class_backend = {
	.name = "backend object",
	.get_attributes = backend_get_attributes,
	.set_attributes = backend_set_attributes,
	.size = backend_size,
	.destroy = backend_destroy,
	.copy = backend_copy,
	.use = backend_use,
};

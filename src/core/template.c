#include "core/template.h"

#include <string.h>

/*
 * Which attribute values are themselves templates (arrays of CK_ATTRIBUTE
 * whose pValues we follow).  CKF_ARRAY_ATTRIBUTE is not the test: it is also
 * set on CKA_ALLOWED_MECHANISMS, which is a list of CK_MECHANISM_TYPE, and
 * reading that as attributes would follow mechanism numbers as pointers.
 * Only the three templates of the standard nest.
 *
 * Vendor-defined attributes that carry CKF_ARRAY_ATTRIBUTE are NOT followed:
 * the module cannot know their layout (CKA_ALLOWED_MECHANISMS shows the bit
 * alone does not promise a template), it never interprets them itself, and
 * following a pointer in a value whose meaning it does not know is exactly
 * the fault this function exists to avoid.  They are passed to the backend
 * as opaque bytes, and the backend that defines them checks them.  The
 * module's own attributes keep clear of that bit (include/akm/pkcs11-akm.h).
 */
static bool is_nested_template(CK_ATTRIBUTE_TYPE type)
{
	return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE ||
	       type == CKA_DERIVE_TEMPLATE;
}

static CK_RV check_depth(const CK_ATTRIBUTE *tmpl, CK_ULONG count, int depth)
{
	if (depth > AKM_TEMPLATE_MAX_DEPTH)
		return CKR_ARGUMENTS_BAD;
	if (tmpl == NULL && count > 0)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < count; i++) {
		if (tmpl[i].pValue == NULL && tmpl[i].ulValueLen > 0 &&
		    tmpl[i].ulValueLen != CK_UNAVAILABLE_INFORMATION)
			return CKR_ARGUMENTS_BAD;
		/* A list of mechanisms: whole CK_MECHANISM_TYPEs, never followed. */
		if (tmpl[i].type == CKA_ALLOWED_MECHANISMS && tmpl[i].pValue != NULL &&
		    tmpl[i].ulValueLen % sizeof(CK_MECHANISM_TYPE) != 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (is_nested_template(tmpl[i].type) && tmpl[i].pValue != NULL) {
			if (tmpl[i].ulValueLen % sizeof(CK_ATTRIBUTE) != 0)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			CK_RV rv = check_depth(tmpl[i].pValue, tmpl[i].ulValueLen / sizeof(CK_ATTRIBUTE),
			                       depth + 1);
			if (rv != CKR_OK)
				return rv;
		}
	}
	return CKR_OK;
}

CK_RV akm_template_check(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return check_depth(tmpl, count, 1);
}

const CK_ATTRIBUTE *akm_template_find(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                      CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *found = NULL;
	for (CK_ULONG i = 0; tmpl != NULL && i < count; i++)
		if (tmpl[i].type == type)
			found = &tmpl[i];
	return found;
}

CK_RV akm_template_get_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                            CK_ATTRIBUTE_TYPE type, CK_BBOOL *value, bool *present)
{
	const CK_ATTRIBUTE *a = akm_template_find(tmpl, count, type);
	*present = false;
	if (a == NULL)
		return CKR_OK;
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	CK_BBOOL b = *(const CK_BBOOL *)a->pValue;
	if (b != CK_TRUE && b != CK_FALSE)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*value = b;
	*present = true;
	return CKR_OK;
}

CK_RV akm_template_get_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             CK_ATTRIBUTE_TYPE type, CK_ULONG *value, bool *present)
{
	const CK_ATTRIBUTE *a = akm_template_find(tmpl, count, type);
	*present = false;
	if (a == NULL)
		return CKR_OK;
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(value, a->pValue, sizeof(CK_ULONG));
	*present = true;
	return CKR_OK;
}

CK_RV akm_template_fill(const akm_attr_value *attrs, size_t nattrs,
                        CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	bool sensitive = false, type_invalid = false, too_small = false;

	if (tmpl == NULL && count > 0)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < count; i++) {
		const akm_attr_value *a = NULL;
		for (size_t k = 0; k < nattrs; k++)
			if (attrs[k].type == tmpl[i].type) {
				a = &attrs[k];
				break;
			}
		if (a == NULL) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			type_invalid = true;
		} else if (a->sensitive) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			sensitive = true;
		} else if (tmpl[i].pValue == NULL) {
			tmpl[i].ulValueLen = a->len;
		} else if (tmpl[i].ulValueLen >= a->len) {
			if (a->len > 0)
				memcpy(tmpl[i].pValue, a->value, a->len);
			tmpl[i].ulValueLen = a->len;
		} else {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			too_small = true;
		}
	}
	if (sensitive)
		return CKR_ATTRIBUTE_SENSITIVE;
	if (type_invalid)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (too_small)
		return CKR_BUFFER_TOO_SMALL;
	return CKR_OK;
}

bool akm_template_matches(const akm_attr_value *attrs, size_t nattrs, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++) {
		const akm_attr_value *a = NULL;
		for (size_t k = 0; k < nattrs; k++)
			if (attrs[k].type == tmpl[i].type)
				a = &attrs[k];
		if (a == NULL || a->sensitive || a->len != tmpl[i].ulValueLen ||
		    (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
			return false;
	}
	return true;
}

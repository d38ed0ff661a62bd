/*
 * Attribute templates: reading values out of a caller's template, and
 * answering C_GetAttributeValue from an object's attribute list with the
 * spec's rules (PKCS#11 v2.40 §5.7, C_GetAttributeValue).
 */
#ifndef AKM_TEMPLATE_H
#define AKM_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <p11-kit/pkcs11.h>

/* Nested templates (CKA_WRAP_TEMPLATE ...) deeper than this are refused. */
#define AKM_TEMPLATE_MAX_DEPTH 4

/* CKR_ARGUMENTS_BAD when the template pointer is NULL but count > 0, or when
 * an entry has a NULL value with a non-zero length, or nesting is deeper than
 * AKM_TEMPLATE_MAX_DEPTH; CKR_ATTRIBUTE_VALUE_INVALID when a nested template
 * (CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE, the only ones
 * followed) is not a whole number of CK_ATTRIBUTEs, or CKA_ALLOWED_MECHANISMS
 * not a whole number of CK_MECHANISM_TYPEs; CKR_OK otherwise. */
CK_RV akm_template_check(const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* The last entry of `type` (later entries win, as most tokens do), or NULL. */
const CK_ATTRIBUTE *akm_template_find(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                      CK_ATTRIBUTE_TYPE type);

/* Reads a CK_BBOOL: CKR_OK with *present set; CKR_ATTRIBUTE_VALUE_INVALID when
 * the entry is not exactly one byte of CK_TRUE/CK_FALSE. */
CK_RV akm_template_get_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                            CK_ATTRIBUTE_TYPE type, CK_BBOOL *value, bool *present);

/* Reads a CK_ULONG (same rules). */
CK_RV akm_template_get_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             CK_ATTRIBUTE_TYPE type, CK_ULONG *value, bool *present);

/* One attribute of an object we hold ourselves. */
typedef struct akm_attr_value {
	CK_ATTRIBUTE_TYPE type;
	const void *value;
	CK_ULONG len;
	bool sensitive; /* never revealed: CKR_ATTRIBUTE_SENSITIVE */
} akm_attr_value;

/*
 * Fills `tmpl` from `attrs`.  Every entry is processed (§5.7): an unknown
 * type gets CK_UNAVAILABLE_INFORMATION and CKR_ATTRIBUTE_TYPE_INVALID, a
 * sensitive one CK_UNAVAILABLE_INFORMATION and CKR_ATTRIBUTE_SENSITIVE, a NULL
 * pValue the needed length, a short buffer CK_UNAVAILABLE_INFORMATION and
 * CKR_BUFFER_TOO_SMALL.  When several apply the result is, in this order of
 * precedence: CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID,
 * CKR_BUFFER_TOO_SMALL.
 */
CK_RV akm_template_fill(const akm_attr_value *attrs, size_t nattrs,
                        CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* Whether an object with attributes `attrs` shows every entry of tmpl with
 * exactly that value (a search's match; sensitive values never match). */
bool akm_template_matches(const akm_attr_value *attrs, size_t nattrs, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count);

#endif

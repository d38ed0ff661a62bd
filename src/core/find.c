/*
 * Searches (C_FindObjects*).  A search covers the backend's objects, unless
 * a class of the module's own claims the template (it names AKM attributes,
 * or the audit record class, which no backend object has), and then, on
 * the registry's slot, the module's own objects of that class (relationship
 * keys when none claims it).  The module's own backend objects (KEK,
 * counter, cached keys) are never shown.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/object.h"

/* A copy of the caller's template for the whole search (values included). */
/* NULL with *rv set: CKR_ATTRIBUTE_VALUE_INVALID for lengths that add up
 * past what memory holds (a value claiming CK_UNAVAILABLE_INFORMATION
 * bytes), CKR_HOST_MEMORY. */
static CK_ATTRIBUTE *copy_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_RV *rv)
{
	size_t bytes;
	*rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (__builtin_mul_overflow((size_t)count, sizeof(CK_ATTRIBUTE), &bytes))
		return NULL;
	for (CK_ULONG i = 0; i < count; i++)
		if (tmpl[i].pValue != NULL && __builtin_add_overflow(bytes, (size_t)tmpl[i].ulValueLen, &bytes))
			return NULL;
	*rv = CKR_HOST_MEMORY;
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

CK_RV akm_core_find_init(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	if (c->active & AKM_OP_FIND)
		return CKR_OPERATION_ACTIVE;
	akm_find_state st = {0};
	const akm_object_class *claimed = NULL;
	for (size_t i = 0; i < akm_held_class_count && claimed == NULL; i++)
		if (akm_held_classes[i]->claims(tmpl, count))
			claimed = akm_held_classes[i];
	st.count = count;
	st.cursor.label_len = SIZE_MAX;
	st.in_backend = st.backend = claimed == NULL;
	st.held = akm_core_relationships(c) == NULL ? NULL : claimed != NULL ? claimed : &akm_class_relationship;
	CK_RV rv;
	if ((st.tmpl = copy_template(tmpl, count, &rv)) == NULL)
		return rv;
	if (st.backend) {
		rv = akm_backend_find_init(c->be, c->bs, tmpl, count);
		if (rv == CKR_OPERATION_ACTIVE && akm_core_ops_drain(c))
			rv = akm_backend_find_init(c->be, c->bs, tmpl, count);
		if (rv != CKR_OK) {
			free(st.tmpl);
			return rv;
		}
	}
	akm_core_find_start(c, &st);
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
		CK_RV rv = akm_backend_find(c->be, c->bs, out + *n, max - *n, &got);
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

CK_RV akm_core_find(const akm_call *c, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count)
{
	akm_find_state st;
	if (!(c->active & AKM_OP_FIND) || !akm_core_find_load(c, &st))
		return CKR_OPERATION_NOT_INITIALIZED;
	CK_ULONG n = 0;
	CK_RV rv = find_backend(c, &st, out, max, &n);
	while (rv == CKR_OK && n < max && (st.ahead_pos < st.ahead_n || st.held != NULL)) {
		if (st.ahead_pos == st.ahead_n) {
			CK_ULONG more = 0;
			rv = st.held->find(c, st.tmpl, st.count, &st.cursor, st.ahead, AKM_FIND_AHEAD, &more);
			/* A refused registry fails a search for the module's
			 * objects; a general search still lists the backend's
			 * (the refusal is in the log). */
			if (rv != CKR_OK && st.in_backend) {
				rv = CKR_OK;
				more = 0;
			}
			if (rv != CKR_OK)
				break;
			if (more < AKM_FIND_AHEAD)
				st.held = NULL;
			st.ahead_n = more;
			st.ahead_pos = 0;
			continue;
		}
		out[n++] = st.ahead[st.ahead_pos++];
	}
	akm_core_find_save(c, &st);
	if (rv == CKR_OK)
		*count = n;
	return rv;
}

CK_RV akm_core_find_final(const akm_call *c)
{
	akm_find_state st;
	CK_RV rv = CKR_OK;
	if (!(c->active & AKM_OP_FIND) || !akm_core_find_load(c, &st))
		return CKR_OPERATION_NOT_INITIALIZED;
	if (st.in_backend)
		rv = akm_backend_find_final(c->be, c->bs);
	akm_core_find_end(c);
	if (rv != CKR_OK) /* ended here; the backend's copy is ended before the next search */
		akm_core_ops_end(c, AKM_OP_FIND, true);
	return rv;
}

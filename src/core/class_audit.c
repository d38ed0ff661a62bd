/*
 * Audit records as read-only token objects (CKO_AKM_AUDIT_RECORD,
 * docs/object-model.md §9a): found, read and appended to by applications;
 * never changed, copied or destroyed.
 */
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/template.h"

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static int64_t seq_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_AUDIT_HANDLE(h) ? (int64_t)(h - AKM_AUDIT_HANDLE_BASE) : 0;
}

static CK_OBJECT_HANDLE handle_of(int64_t seq)
{
	return AKM_AUDIT_HANDLE_BASE + (CK_OBJECT_HANDLE)seq;
}

typedef struct audit_view {
	akm_audit_record rec;
	CK_OBJECT_CLASS cls;
	CK_ULONG seq, time, result;
	uint8_t head[8 + AKM_AUDIT_HASH_LEN];
	akm_attr_value attrs[20];
	size_t n;
} audit_view;

static CK_RV view_audit(akm_relationships *rels, int64_t seq, audit_view *v, bool with_head)
{
	memset(v, 0, sizeof *v);
	CK_RV rv = akm_audit_read(rels, seq, &v->rec);
	if (rv != CKR_OK)
		return rv;
	v->cls = CKO_AKM_AUDIT_RECORD;
	v->seq = (CK_ULONG)seq;
	v->time = (CK_ULONG)v->rec.time;
	v->result = (CK_ULONG)v->rec.result;
	akm_attr_value *a = v->attrs;
	*a++ = (akm_attr_value){CKA_CLASS, &v->cls, sizeof v->cls, false};
	*a++ = (akm_attr_value){CKA_TOKEN, &yes, 1, false};
	*a++ = (akm_attr_value){CKA_PRIVATE, &yes, 1, false};
	*a++ = (akm_attr_value){CKA_MODIFIABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_COPYABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_DESTROYABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_LABEL, "", 0, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_SEQ, &v->seq, sizeof v->seq, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_TIME, &v->time, sizeof v->time, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_ACTOR, v->rec.actor, v->rec.actor_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_ACTION, v->rec.action, v->rec.action_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_RESULT, &v->result, sizeof v->result, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_DETAIL, v->rec.detail, v->rec.detail_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_PREV, v->rec.prev, sizeof v->rec.prev, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_HASH, v->rec.hash, sizeof v->rec.hash, false};
	*a++ = (akm_attr_value){CKA_AKM_RELATIONSHIP_ID, v->rec.rid, v->rec.rid_len, false};
	if (with_head) {
		if ((rv = akm_audit_token_head(rels, v->head)) != CKR_OK)
			return rv;
		*a++ = (akm_attr_value){CKA_AKM_AUDIT_TOKEN_HEAD, v->head, sizeof v->head, false};
	}
	v->n = (size_t)(a - v->attrs);
	return CKR_OK;
}

static CK_RV audit_get_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	akm_relationships *rels = akm_core_relationships(c);
	audit_view v;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	bool head = akm_template_find(tmpl, count, CKA_AKM_AUDIT_TOKEN_HEAD) != NULL;
	CK_RV rv = view_audit(rels, seq_of(h), &v, head);
	if (rv == CKR_OK)
		rv = akm_template_fill(v.attrs, v.n, tmpl, count);
	return akm_held_answer(rv);
}

static CK_RV audit_size(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	akm_relationships *rels = akm_core_relationships(c);
	akm_audit_record rec;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	CK_RV rv = akm_audit_read(rels, seq_of(h), &rec);
	if (rv == CKR_OK)
		*size = (CK_ULONG)(16 + rec.actor_len + rec.action_len + rec.detail_len + rec.rid_len +
		                   2 * AKM_AUDIT_HASH_LEN);
	return akm_held_answer(rv);
}

/* The trail is append-only: records are never changed, copied or destroyed. */
static CK_RV prohibited(const akm_call *c, CK_OBJECT_HANDLE h)
{
	CK_ULONG size;
	CK_RV rv = audit_size(c, h, &size);
	return rv != CKR_OK ? rv : CKR_ACTION_PROHIBITED;
}

static CK_RV audit_set_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return prohibited(c, h);
}

static CK_RV audit_destroy(const akm_call *c, CK_OBJECT_HANDLE h)
{
	return prohibited(c, h);
}

static CK_RV audit_copy(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                        CK_OBJECT_HANDLE *out)
{
	return prohibited(c, h);
}

static CK_RV audit_use(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend)
{
	return CKR_KEY_HANDLE_INVALID; /* a record is not a key */
}

static bool audit_claims(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	CK_ULONG cls;
	bool present;
	return akm_template_get_ulong(tmpl, count, CKA_CLASS, &cls, &present) == CKR_OK && present &&
	       cls == CKO_AKM_AUDIT_RECORD;
}

static bool action_valid(const CK_ATTRIBUTE *a)
{
	if (a->pValue == NULL || a->ulValueLen < 1 || a->ulValueLen > 32)
		return false;
	for (CK_ULONG i = 0; i < a->ulValueLen; i++) {
		char ch = ((const char *)a->pValue)[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* Printable text without control characters (UTF-8 allowed), up to 512 bytes. */
static bool detail_valid(const CK_ATTRIBUTE *a)
{
	if (a->ulValueLen > 512 || (a->ulValueLen > 0 && a->pValue == NULL))
		return false;
	for (CK_ULONG i = 0; i < a->ulValueLen; i++) {
		unsigned char ch = ((const unsigned char *)a->pValue)[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

/* An application's record: checked in the order of the relationship
 * class's templates (unknown, read-only, value, incomplete), appended with
 * actor "app". */
static CK_RV audit_create(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	akm_relationships *rels = akm_core_relationships(c);
	const CK_ATTRIBUTE *action = NULL, *rid = NULL, *detail = NULL;
	CK_ULONG result = CKR_OK;
	if (rels == NULL)
		return CKR_TEMPLATE_INCONSISTENT; /* this slot keeps no registry */
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	for (CK_ULONG i = 0; i < count; i++) {
		switch (tmpl[i].type) {
		case CKA_CLASS: case CKA_TOKEN: case CKA_AKM_AUDIT_ACTION: case CKA_AKM_RELATIONSHIP_ID:
		case CKA_AKM_AUDIT_DETAIL: case CKA_AKM_AUDIT_RESULT:
			break;
		case CKA_PRIVATE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE: case CKA_LABEL:
		case CKA_AKM_AUDIT_SEQ: case CKA_AKM_AUDIT_TIME: case CKA_AKM_AUDIT_ACTOR: case CKA_AKM_AUDIT_PREV:
		case CKA_AKM_AUDIT_HASH: case CKA_AKM_AUDIT_TOKEN_HEAD:
			return CKR_ATTRIBUTE_READ_ONLY;
		default:
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
	}
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		switch (a->type) {
		case CKA_TOKEN:
			if (a->pValue == NULL || a->ulValueLen != 1 || *(const CK_BBOOL *)a->pValue != CK_TRUE)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* records are token objects */
			break;
		case CKA_AKM_AUDIT_ACTION:
			if (!action_valid(a))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			action = a;
			break;
		case CKA_AKM_RELATIONSHIP_ID:
			if (a->pValue == NULL || a->ulValueLen < 1 || a->ulValueLen > AKM_ID_MAX)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			rid = a;
			break;
		case CKA_AKM_AUDIT_DETAIL:
			if (!detail_valid(a))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			detail = a;
			break;
		case CKA_AKM_AUDIT_RESULT:
			if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			memcpy(&result, a->pValue, sizeof result);
			break;
		default:
			break;
		}
	}
	if (action == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	char action_text[33], detail_text[513];
	memcpy(action_text, action->pValue, action->ulValueLen);
	action_text[action->ulValueLen] = '\0';
	if (detail != NULL) {
		memcpy(detail_text, detail->pValue, detail->ulValueLen);
		detail_text[detail->ulValueLen] = '\0';
	}
	int64_t seq = 0;
	CK_RV rv = akm_audit_append_app(rels, action_text, rid ? rid->pValue : NULL, rid ? rid->ulValueLen : 0, result,
	                                detail ? detail_text : NULL, &seq);
	if (rv == CKR_OK)
		*out = handle_of(seq);
	return rv;
}

static CK_RV audit_find(const akm_call *c, const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_find_cursor *cursor,
                        CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	akm_relationships *rels = akm_core_relationships(c);
	const CK_ATTRIBUTE *rid = akm_template_find(tmpl, count, CKA_AKM_RELATIONSHIP_ID);
	bool exact = true; /* nothing but the class and the relationship to check */
	CK_RV rv = CKR_OK;
	for (CK_ULONG i = 0; i < count; i++)
		if (tmpl[i].type != CKA_CLASS && tmpl[i].type != CKA_AKM_RELATIONSHIP_ID)
			exact = false;
	*n = 0;
	if (rels == NULL)
		return CKR_OK;
	if ((rv = akm_relationships_status(rels)) != CKR_OK)
		goto out;
	if (rid != NULL && (rid->pValue == NULL || rid->ulValueLen == 0))
		return CKR_OK; /* records without a relationship are not searched for this way */
	while (*n < max) {
		int64_t seqs[64];
		size_t got = 0;
		if ((rv = akm_audit_find(rels, rid ? rid->pValue : NULL, rid ? rid->ulValueLen : 0, cursor->at, seqs, 64,
		                         &got)) != CKR_OK || got == 0)
			break;
		size_t i;
		for (i = 0; i < got && *n < max; i++) {
			audit_view v;
			cursor->at = seqs[i];
			if (!exact) {
				if ((rv = view_audit(rels, seqs[i], &v, false)) != CKR_OK)
					goto out;
				if (!akm_template_matches(v.attrs, v.n, tmpl, count))
					continue;
			}
			out[(*n)++] = handle_of(seqs[i]);
		}
		if (got < 64 && i == got)
			break;
	}
out:
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OK : rv; /* private objects are not there */
}

const akm_object_class akm_class_audit = {
	.name = "audit record",
	.get_attributes = audit_get_attributes,
	.set_attributes = audit_set_attributes,
	.size = audit_size,
	.destroy = audit_destroy,
	.copy = audit_copy,
	.use = audit_use,
	.claims = audit_claims,
	.create = audit_create,
	.find = audit_find,
};

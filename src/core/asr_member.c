/* The member side of operational ASRs as PKCS#11 calls (include/akm/
 * pkcs11-akm.h: CKM_AKM_ASR_ENROLL, _REKEY, _SEAL, _OPEN): arguments,
 * handles and parameters here; the work in the akm layer (akm/asr_member.c). */
#include "akm/asr_member.h"
#include "akm/pkcs11-akm.h"
#include "core/internal.h"
#include "core/mechanisms.h"
#include "core/object.h"

static int64_t key_id_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_REGISTRY_HANDLE(h) ? (int64_t)(h - AKM_REGISTRY_HANDLE_BASE) : 0;
}

/* The parameter and the template (empty), and the anchor's backend object. */
static CK_RV enroll_args(const akm_call *c, const CK_MECHANISM *m, CK_BYTE *wrapped, CK_ULONG len,
                         const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *anchor)
{
	const CK_AKM_ASR_ENROLL_PARAMS *p = m->pParameter;
	if (p == NULL || m->ulParameterLen != sizeof *p)
		return CKR_MECHANISM_PARAM_INVALID;
	if (tmpl != NULL || count != 0)
		return CKR_TEMPLATE_INCONSISTENT;
	if (wrapped == NULL || len == 0)
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	if (akm_object_class_of(p->hAnchor) != &akm_class_backend ||
	    akm_core_use_key(c, p->hAnchor, AKM_USE_VERIFY, anchor) != CKR_OK)
		return CKR_MECHANISM_PARAM_INVALID; /* no such anchor object */
	return CKR_OK;
}

CK_RV akm_core_asr_enroll(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                          CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE anchor, pr;
	CK_RV rv = enroll_args(c, m, wrapped, wrapped_len, tmpl, count, &anchor);
	if (rv != CKR_OK)
		return rv;
	if (akm_object_class_of(unwrapping) != &akm_class_backend ||
	    akm_core_use_key(c, unwrapping, AKM_USE_UNWRAP, &pr) != CKR_OK)
		return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
	int64_t id = 0;
	rv = akm_asr_enroll(akm_core_relationships(c), pr, anchor, wrapped, wrapped_len, &id);
	if (rv == CKR_OK)
		*out = AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)id;
	return rv;
}

CK_RV akm_core_asr_rekey(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                         CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE anchor;
	CK_RV rv = enroll_args(c, m, wrapped, wrapped_len, tmpl, count, &anchor);
	if (rv != CKR_OK)
		return rv;
	if (akm_object_class_of(unwrapping) != &akm_class_relationship)
		return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
	akm_relationships *rels = akm_core_relationships(c);
	if ((rv = akm_asr_check_key(rels, key_id_of(unwrapping))) != CKR_OK)
		return rv == CKR_KEY_HANDLE_INVALID ? CKR_UNWRAPPING_KEY_HANDLE_INVALID
		       : rv == CKR_KEY_TYPE_INCONSISTENT ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT : rv;
	rv = akm_asr_apply_rekey(rels, key_id_of(unwrapping), anchor, wrapped, wrapped_len);
	if (rv == CKR_OK)
		*out = unwrapping; /* the same key, its epoch moved */
	return rv;
}

CK_RV akm_core_asr_crypt_init(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE key, unsigned op)
{
	(void)op;
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (akm_object_class_of(key) != &akm_class_relationship) {
		CK_OBJECT_HANDLE b;
		return akm_core_use_key(c, key, AKM_USE_PLAIN, &b) == CKR_OK ? CKR_KEY_TYPE_INCONSISTENT
		                                                              : CKR_KEY_HANDLE_INVALID;
	}
	return akm_asr_check_key(akm_core_relationships(c), key_id_of(key));
}

CK_RV akm_core_asr_crypt(const akm_call *c, CK_OBJECT_HANDLE key, unsigned op, CK_BYTE *in, CK_ULONG in_len,
                         CK_BYTE *out, CK_ULONG *out_len)
{
	akm_relationships *rels = akm_core_relationships(c);
	if (rels == NULL)
		return CKR_KEY_HANDLE_INVALID;
	static const uint8_t none[1];
	const uint8_t *input = in != NULL ? in : none;
	return op == AKM_OP_ENCRYPT ? akm_asr_seal(rels, key_id_of(key), input, in_len, out, out_len)
	                            : akm_asr_open(rels, key_id_of(key), input, in_len, out, out_len);
}

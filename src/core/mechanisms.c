/*
 * Mechanisms: the backend's, passed through, and the vendor mechanisms of
 * the registry's slot, all in one table (include/akm/pkcs11-akm.h): what
 * C_GetMechanismList adds, what C_GetMechanismInfo says, and which call each
 * one handles.
 */
#include "akm/pkcs11-akm.h"
#include "core/asr_station.h"
#include "core/internal.h"
#include "core/mechanisms.h"
#include "core/object.h"
#include "core/template.h"

/* CKM_AKM_RELATIONSHIP_GEN: one relationship from the template. */
static CK_RV generate_one(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                          CK_OBJECT_HANDLE *out)
{
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	return akm_relationship_generate(c, &tmpl, &count, 1, out);
}

/* CKM_AKM_RELATIONSHIP_BATCH_GEN: the templates are in the parameter. */
static CK_RV generate_batch(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                            CK_OBJECT_HANDLE *out)
{
	const CK_AKM_BATCH_GEN_PARAMS *b = m->pParameter;
	if (b == NULL || m->ulParameterLen != sizeof *b || b->ulCount == 0 || b->ulCount > AKM_BATCH_MAX ||
	    b->ppTemplates == NULL || b->pulTemplateCounts == NULL || b->phKeys == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if (tmpl != NULL || count != 0)
		return CKR_TEMPLATE_INCONSISTENT;
	for (CK_ULONG i = 0; i < b->ulCount; i++) {
		CK_RV rv = akm_template_check(b->ppTemplates[i], b->pulTemplateCounts[i]);
		if (rv != CKR_OK)
			return rv;
	}
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	CK_RV rv = akm_relationship_generate(c, b->ppTemplates, b->pulTemplateCounts, b->ulCount, b->phKeys);
	if (rv == CKR_OK)
		*out = b->phKeys[0];
	return rv;
}

/* CKM_AKM_EXPORT_WRAP's parameter: CKR_OK when it is well formed for its
 * mode (include/akm/pkcs11-akm.h). */
static CK_RV export_params_check(const CK_MECHANISM *m)
{
	const CK_AKM_EXPORT_WRAP_PARAMS *p = m->pParameter;
	if (p == NULL || m->ulParameterLen != sizeof *p)
		return CKR_MECHANISM_PARAM_INVALID;
	switch (p->ulMode) {
	case CKV_AKM_EXPORT_NODE_KEY:
		if (p->pKey != NULL || p->ulKeyLen != 0 || p->pPublicData == NULL ||
		    p->ulPublicDataLen < AKM_EXPORT_POINT_LEN)
			return CKR_MECHANISM_PARAM_INVALID;
		return CKR_OK;
	case CKV_AKM_EXPORT_PASSPHRASE:
		if (p->pKey == NULL || p->ulKeyLen != AKM_EXPORT_KEY_LEN || p->pPublicData != NULL ||
		    p->ulPublicDataLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		return CKR_OK;
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
}

/* CKM_AKM_EXPORT_WRAP: a relationship's credential set wrapped under a
 * transport key the module makes in the backend.  The caller names no
 * wrapping key: one it could name is one whose value it may know, and a
 * relationship key wrapped under it is a plaintext key. */
static CK_RV export_wrap(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                         CK_BYTE *out, CK_ULONG *out_len)
{
	CK_OBJECT_HANDLE plain;
	if (wrapping != CK_INVALID_HANDLE)
		return CKR_WRAPPING_KEY_HANDLE_INVALID;
	CK_RV rv = export_params_check(m);
	if (rv != CKR_OK)
		return rv;
	const akm_object_class *cls = akm_object_class_of(key);
	if (cls->export == NULL) /* only relationship keys are exported this way */
		return cls->use(c, key, AKM_USE_PLAIN, &plain) == CKR_OK ? CKR_KEY_NOT_WRAPPABLE : CKR_KEY_HANDLE_INVALID;
	return cls->export(c, key, m->pParameter, out, out_len);
}

/* ---- parameters of the backend's mechanisms ------------------------------------- */

/* GCM (PKCS#11 v2.40 Current Mechanisms §2.12.3): an IV of 1 to 256
 * bytes, AAD given when its length is, and a tag NIST SP 800-38D §5.2.1.2
 * allows (96 to 128 bits in whole bytes, or 32 or 64); PKCS#11's "any value
 * between 0 and 128" would allow tags no verifier should trust, and bit
 * counts that are not whole bytes no backend computes. */
static bool gcm_ok(const CK_MECHANISM *m)
{
	const CK_GCM_PARAMS *p = m->pParameter;
	if (p == NULL || m->ulParameterLen != sizeof *p)
		return false;
	if (p->pIv == NULL || p->ulIvLen == 0 || p->ulIvLen > 256 || (p->pAAD == NULL && p->ulAADLen > 0))
		return false;
	CK_ULONG t = p->ulTagBits;
	return t == 32 || t == 64 || (t >= 96 && t <= 128 && t % 8 == 0);
}

/* The parameter rules the module checks itself, whatever the backend
 * answers (SoftHSM2 says CKR_MECHANISM_INVALID for a CBC IV of the wrong
 * length, CKR_ARGUMENTS_BAD for none): a parameter that breaks one is
 * CKR_MECHANISM_PARAM_INVALID (§5.8 and the mechanisms' sections).  One
 * row per mechanism: a fixed IV length (the block size, §2.10 AES, §2.22
 * DES3 of Current Mechanisms), or a check. */
static const struct {
	CK_MECHANISM_TYPE type;
	CK_ULONG iv_len; /* the parameter is an IV of exactly this length, or 0 */
	bool (*ok)(const CK_MECHANISM *m);
} param_rules[] = {
	{CKM_AES_CBC, 16, NULL},
	{CKM_AES_CBC_PAD, 16, NULL},
	{CKM_DES3_CBC, 8, NULL},
	{CKM_DES3_CBC_PAD, 8, NULL},
	{CKM_AES_GCM, 0, gcm_ok},
};

CK_RV akm_core_mechanism_params(const CK_MECHANISM *m)
{
	for (size_t i = 0; i < sizeof param_rules / sizeof param_rules[0]; i++) {
		if (param_rules[i].type != m->mechanism)
			continue;
		bool ok = param_rules[i].ok != NULL
		              ? param_rules[i].ok(m)
		              : m->pParameter != NULL && m->ulParameterLen == param_rules[i].iv_len;
		return ok ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
	}
	return CKR_OK;
}

static const akm_vendor_mechanism vendor_mechanisms[] = {
	{CKM_AKM_RELATIONSHIP_GEN, {32, 32, CKF_GENERATE}, generate_one, NULL},
	{CKM_AKM_RELATIONSHIP_BATCH_GEN, {32, 32, CKF_GENERATE}, generate_batch, NULL},
	{CKM_AKM_EXPORT_WRAP, {32, 32, CKF_WRAP}, NULL, export_wrap},
	/* operational ASRs, the station's side (core/asr_station.c) */
	{CKM_AKM_ASR_GEN, {32, 32, CKF_GENERATE}, akm_asr_station_generate, NULL},
	{CKM_AKM_ASR_PACKAGE, {32, 32, CKF_WRAP}, NULL, akm_asr_station_package},
	{CKM_AKM_ASR_UPDATE, {32, 32, CKF_DERIVE}, NULL, NULL, akm_asr_station_update},
	{CKM_AKM_ASR_REKEY_MESSAGE, {32, 32, CKF_WRAP}, NULL, akm_asr_station_rekey_message},
	/* operational ASRs, a member's side (core/asr_member.c) */
	{CKM_AKM_ASR_ENROLL, {32, 32, CKF_UNWRAP}, .unwrap = akm_core_asr_enroll},
	{CKM_AKM_ASR_REKEY, {32, 32, CKF_UNWRAP}, .unwrap = akm_core_asr_rekey},
	{CKM_AKM_ASR_SEAL, {32, 32, CKF_ENCRYPT}, .crypt_init = akm_core_asr_crypt_init, .crypt = akm_core_asr_crypt},
	{CKM_AKM_ASR_OPEN, {32, 32, CKF_DECRYPT}, .crypt_init = akm_core_asr_crypt_init, .crypt = akm_core_asr_crypt},
};
#define NVENDOR (sizeof vendor_mechanisms / sizeof vendor_mechanisms[0])

const akm_vendor_mechanism *akm_vendor_mechanism_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < NVENDOR; i++)
		if (vendor_mechanisms[i].type == type)
			return &vendor_mechanisms[i];
	return NULL;
}

CK_RV akm_core_mechanism_list(const akm_call *c, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	if (akm_core_relationships(c) == NULL)
		return akm_backend_mechanism_list(c->be, c->bslot, list, count);
	/* The registry's slot adds the vendor mechanisms to the backend's. */
	CK_ULONG n = 0;
	CK_RV rv = akm_backend_mechanism_list(c->be, c->bslot, NULL, &n);
	if (rv != CKR_OK)
		return rv;
	if (list == NULL) {
		*count = n + NVENDOR;
		return CKR_OK;
	}
	if (*count < n + NVENDOR) {
		*count = n + NVENDOR;
		return CKR_BUFFER_TOO_SMALL;
	}
	if ((rv = akm_backend_mechanism_list(c->be, c->bslot, list, &n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < NVENDOR; i++)
		list[n + i] = vendor_mechanisms[i].type;
	*count = n + NVENDOR;
	return CKR_OK;
}

CK_RV akm_core_mechanism_info(const akm_call *c, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	const akm_vendor_mechanism *m = akm_vendor_mechanism_find(type);
	if (m == NULL)
		return akm_backend_mechanism_info(c->be, c->bslot, type, info);
	if (akm_core_relationships(c) == NULL)
		return CKR_MECHANISM_INVALID; /* only the registry's slot has them */
	*info = m->info;
	return CKR_OK;
}

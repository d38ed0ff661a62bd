/* The vendor mechanisms' table (mechanisms.c): each one's information and
 * the call it handles; the core's key calls look a mechanism up here
 * before passing it to the backend. */
#ifndef AKM_CORE_MECHANISMS_H
#define AKM_CORE_MECHANISMS_H

#include "core/core.h"

typedef struct akm_vendor_mechanism {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
	/* C_GenerateKey with it, or NULL */
	CK_RV (*generate)(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
	                  CK_OBJECT_HANDLE *out);
	/* C_WrapKey with it, or NULL */
	CK_RV (*wrap)(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
	              CK_BYTE *out, CK_ULONG *out_len);
	/* C_DeriveKey with it, or NULL */
	CK_RV (*derive)(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE *tmpl, CK_ULONG count,
	                CK_OBJECT_HANDLE *out);
	/* C_UnwrapKey with it, or NULL */
	CK_RV (*unwrap)(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
	                CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
	/* C_EncryptInit / C_DecryptInit with it (`op` AKM_OP_ENCRYPT or
	 * _DECRYPT), or NULL; then the single-part call does `crypt` (the
	 * module's own: nothing reaches the backend's operation state, and
	 * multi-part calls are CKR_FUNCTION_NOT_SUPPORTED). */
	CK_RV (*crypt_init)(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE key, unsigned op);
	CK_RV (*crypt)(const akm_call *c, CK_OBJECT_HANDLE key, unsigned op, CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out,
	               CK_ULONG *out_len);
} akm_vendor_mechanism;

/* The member side of operational ASRs (asr.c). */
CK_RV akm_core_asr_enroll(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                          CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_core_asr_rekey(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                         CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_core_asr_crypt_init(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE key, unsigned op);
CK_RV akm_core_asr_crypt(const akm_call *c, CK_OBJECT_HANDLE key, unsigned op, CK_BYTE *in, CK_ULONG in_len,
                         CK_BYTE *out, CK_ULONG *out_len);

/* The vendor mechanism of that type, or NULL.  They exist only on the
 * registry's slot: elsewhere they are CKR_MECHANISM_INVALID. */
const akm_vendor_mechanism *akm_vendor_mechanism_find(CK_MECHANISM_TYPE type);

/* CKR_MECHANISM_PARAM_INVALID when a backend mechanism's parameter breaks
 * the module's table of parameter rules (CBC IVs, GCM parameters), else
 * CKR_OK: checked before the backend sees the mechanism. */
CK_RV akm_core_mechanism_params(const CK_MECHANISM *m);

#endif

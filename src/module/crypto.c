/*
 * Encryption, decryption, digests, signatures and verification
 * (PKCS#11 v2.40 §5.8–5.13).  Operation state is tracked here, per session,
 * so that the spec's rules hold whatever the backend does: an operation ends
 * after any error other than CKR_BUFFER_TOO_SMALL (and a successful length
 * query), a second Init while one is active is CKR_OPERATION_ACTIVE, a call
 * without Init is CKR_OPERATION_NOT_INITIALIZED, an unknown key is
 * CKR_KEY_HANDLE_INVALID.
 */
#include <string.h>

#include "module/entry.h"

typedef CK_RV (*init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*inout_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*in_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*out_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

/* Some backends (SoftHSM2) refuse a NULL pointer even for zero bytes, which
 * the spec allows; give them an empty buffer instead. */
static CK_BYTE empty_input[1];
#define INPUT(p, len) ((p) == NULL && (len) == 0 ? empty_input : (p))

/* Whether a call that returned rv (with output buffer `out`) leaves the
 * operation active: only CKR_BUFFER_TOO_SMALL and a successful length query
 * do (§5.2).  CKR_FUNCTION_NOT_SUPPORTED means nothing happened. */
static int keeps_operation(CK_RV rv, const void *out)
{
	return rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL) ||
	       rv == CKR_FUNCTION_NOT_SUPPORTED;
}

int akm_drain_stale_ops(const akm_call *c)
{
	unsigned stale = akm_core_ops_take_stale(c);
	if (stale == 0)
		return 0;
	CK_FUNCTION_LIST *be = c->be;
	CK_SESSION_HANDLE s = c->bs;
	CK_BYTE in[64] = {0}, out[8192];
	CK_ULONG len;
	/* Whichever of the final or the single-part call the backend takes
	 * ends its operation; the other then answers NOT_INITIALIZED. */
#define OUT_LEN (len = sizeof out, &len)
	if (stale & AKM_OP_FIND)
		be->C_FindObjectsFinal(s);
	if (stale & AKM_OP_ENCRYPT) {
		be->C_EncryptFinal(s, out, OUT_LEN);
		be->C_Encrypt(s, in, 0, out, OUT_LEN);
	}
	if (stale & AKM_OP_DECRYPT) {
		be->C_DecryptFinal(s, out, OUT_LEN);
		be->C_Decrypt(s, in, 16, out, OUT_LEN);
	}
	if (stale & AKM_OP_DIGEST) {
		be->C_DigestFinal(s, out, OUT_LEN);
		be->C_Digest(s, in, 0, out, OUT_LEN);
	}
	if (stale & AKM_OP_SIGN) {
		be->C_SignFinal(s, out, OUT_LEN);
		be->C_Sign(s, in, 0, out, OUT_LEN);
	}
	if (stale & AKM_OP_VERIFY) {
		be->C_VerifyFinal(s, in, 1);
		be->C_Verify(s, in, 0, in, 1);
	}
	if (stale & AKM_OP_SIGN_RECOVER)
		be->C_SignRecover(s, in, 1, out, OUT_LEN);
	if (stale & AKM_OP_VERIFY_RECOVER)
		be->C_VerifyRecover(s, in, 1, out, OUT_LEN);
#undef OUT_LEN
	return 1;
}

/* A decryption whose tag does not verify (AES-GCM/CCM), or whose padding
 * is wrong (the *_CBC_PAD mechanisms), is CKR_ENCRYPTED_DATA_INVALID
 * (PKCS#11 v2.40 mechanisms); SoftHSM2 says CKR_GENERAL_ERROR, which would
 * hide a forgery. */
static CK_RV decrypt_result(const akm_call *c, unsigned ops, CK_RV rv)
{
	CK_MECHANISM_TYPE m;
	CK_OBJECT_HANDLE key;
	if (!(ops & AKM_OP_DECRYPT) || (rv != CKR_GENERAL_ERROR && rv != CKR_ENCRYPTED_DATA_INVALID))
		return rv;
	akm_core_op_info(c, AKM_OP_DECRYPT, &m, &key);
	if (rv == CKR_GENERAL_ERROR && (m == CKM_AES_GCM || m == CKM_AES_CCM || m == CKM_AES_CBC_PAD ||
	                                m == CKM_DES3_CBC_PAD))
		rv = CKR_ENCRYPTED_DATA_INVALID;
	return rv;
}

/* A forged message or MAC under a relationship key is a breach signal:
 * record it in the audit trail. */
static void audit_failed_check(const akm_call *c, unsigned ops, CK_RV rv)
{
	CK_MECHANISM_TYPE m;
	CK_OBJECT_HANDLE key;
	akm_relationships *rels = akm_core_relationships(c);
	if (rels == NULL)
		return;
	if (rv == CKR_ENCRYPTED_DATA_INVALID && (ops & AKM_OP_DECRYPT)) {
		akm_core_op_info(c, AKM_OP_DECRYPT, &m, &key);
		if (AKM_IS_REGISTRY_HANDLE(key))
			akm_relationships_audit_failure(rels, "decrypt-failed", key, rv, NULL);
	} else if ((rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) && (ops & AKM_OP_VERIFY)) {
		akm_core_op_info(c, AKM_OP_VERIFY, &m, &key);
		if (AKM_IS_REGISTRY_HANDLE(key))
			akm_relationships_audit_failure(rels, "verify-failed", key, rv, NULL);
	}
}

/* What a key must allow for each operation. */
static CK_ATTRIBUTE_TYPE usage_of(unsigned op)
{
	switch (op) {
	case AKM_OP_ENCRYPT: return CKA_ENCRYPT;
	case AKM_OP_DECRYPT: return CKA_DECRYPT;
	case AKM_OP_SIGN: return CKA_SIGN;
	case AKM_OP_VERIFY: return CKA_VERIFY;
	case AKM_OP_SIGN_RECOVER: return CKA_SIGN_RECOVER;
	default: return CKA_VERIFY_RECOVER;
	}
}

/* C_*Init with a key, or without (digest: key_required false).  The
 * operation is marked active with the session lookup and unmarked if the
 * backend refuses. */
static CK_RV op_init(CK_SESSION_HANDLE h, unsigned op, CK_MECHANISM_PTR mech,
                     CK_OBJECT_HANDLE key, int key_required, size_t fn_off)
{
	akm_call c;
	CK_RV rv;
	if (mech == NULL)
		return (rv = akm_core_session(h, &c)) != CKR_OK ? rv : CKR_ARGUMENTS_BAD;
	rv = akm_core_session_ops(h, &c, 0, op, mech->mechanism, key_required ? key : 0, 0);
	if (rv != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE bkey = 0;
	if (key_required && (rv = akm_resolve_key(&c, key, usage_of(op), &bkey)) != CKR_OK)
		goto refused;
	init_fn fn = AKM_BACKEND_FN(&c, init_fn, fn_off);
	rv = fn(c.bs, mech, bkey);
	if (rv == CKR_OPERATION_ACTIVE && akm_drain_stale_ops(&c))
		rv = fn(c.bs, mech, bkey);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK) {
		if (c.stale & op)
			akm_core_ops_fresh(&c, op);
		return rv;
	}
refused:
	akm_core_ops_end(&c, op, false); /* never began in the backend */
	return rv;
}

/* Refused arguments end the operation too (§5.2), here and in the backend. */
static CK_RV op_refuse(const akm_call *c, unsigned ops)
{
	akm_core_ops_end(c, ops, true);
	return CKR_ARGUMENTS_BAD;
}

/* After a call that was expected to end `ops` (already marked ended):
 * put them back if the backend kept them, and mark them stale if it ended
 * them with an error. */
static void op_ended(const akm_call *c, unsigned ops, CK_RV rv, const void *out)
{
	if (keeps_operation(rv, out))
		akm_core_ops_resume(c, ops);
	else if (rv != CKR_OK)
		akm_core_ops_end(c, ops, true);
}

/* Single-part calls (C_Encrypt, C_Sign, ...) and C_*Final with output, when
 * `final` is set, end the operation unless it must be kept; updates with
 * output (C_EncryptUpdate and the dual functions) end it on errors only.
 * A final call with an output buffer almost always ends the operation, so
 * it is marked ended with the session lookup. */
static CK_RV op_inout(CK_SESSION_HANDLE h, unsigned ops, CK_BYTE_PTR in, CK_ULONG inlen,
                      CK_BYTE_PTR out, CK_ULONG_PTR outlen, int final, size_t fn_off)
{
	akm_call c;
	bool end_now = final && out != NULL;
	CK_RV rv = akm_core_session_ops(h, &c, ops, 0, 0, 0, end_now ? ops : 0);
	if (rv != CKR_OK)
		return rv;
	if ((in == NULL && inlen > 0) || outlen == NULL)
		return op_refuse(&c, ops);
	rv = AKM_BACKEND_FN(&c, inout_fn, fn_off)(c.bs, INPUT(in, inlen), inlen, out, outlen);
	rv = decrypt_result(&c, ops, rv);
	audit_failed_check(&c, ops, rv);
	if (end_now)
		op_ended(&c, ops, rv, out);
	else if (!keeps_operation(rv, out) && (final || rv != CKR_OK))
		akm_core_ops_end(&c, ops, rv != CKR_OK);
	return rv;
}

static CK_RV op_update(CK_SESSION_HANDLE h, unsigned op, CK_BYTE_PTR part, CK_ULONG len,
                       size_t fn_off)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, op, 0, 0, 0, 0);
	if (rv != CKR_OK)
		return rv;
	if (part == NULL && len > 0)
		return op_refuse(&c, op);
	rv = AKM_BACKEND_FN(&c, in_fn, fn_off)(c.bs, INPUT(part, len), len);
	if (rv != CKR_OK && rv != CKR_FUNCTION_NOT_SUPPORTED)
		akm_core_ops_end(&c, op, true);
	return rv;
}

static CK_RV op_final(CK_SESSION_HANDLE h, unsigned op, CK_BYTE_PTR out, CK_ULONG_PTR outlen,
                      size_t fn_off)
{
	akm_call c;
	bool end_now = out != NULL;
	CK_RV rv = akm_core_session_ops(h, &c, op, 0, 0, 0, end_now ? op : 0);
	if (rv != CKR_OK)
		return rv;
	if (outlen == NULL)
		return op_refuse(&c, op);
	rv = AKM_BACKEND_FN(&c, out_fn, fn_off)(c.bs, out, outlen);
	rv = decrypt_result(&c, op, rv);
	audit_failed_check(&c, op, rv);
	if (end_now)
		op_ended(&c, op, rv, out);
	else if (!keeps_operation(rv, out))
		akm_core_ops_end(&c, op, rv != CKR_OK);
	return rv;
}

#define OFF(name) AKM_FN_OFFSET(name)

/* ---- encryption ---- */

AKM_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_ENCRYPT, m, k, 1, OFF(C_EncryptInit)); }

AKM_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, 1, OFF(C_Encrypt)); }

AKM_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, 0, OFF(C_EncryptUpdate)); }

AKM_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_final(h, AKM_OP_ENCRYPT, out, outlen, OFF(C_EncryptFinal)); }

/* ---- decryption ---- */

AKM_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_DECRYPT, m, k, 1, OFF(C_DecryptInit)); }

AKM_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, 1, OFF(C_Decrypt)); }

AKM_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, 0, OFF(C_DecryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_final(h, AKM_OP_DECRYPT, out, outlen, OFF(C_DecryptFinal)); }

/* ---- digests ---- */

AKM_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{ return op_init(h, AKM_OP_DIGEST, m, 0, 0, OFF(C_DigestInit)); }

AKM_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                          CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DIGEST, in, inlen, out, outlen, 1, OFF(C_Digest)); }

AKM_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return op_update(h, AKM_OP_DIGEST, part, len, OFF(C_DigestUpdate)); }

AKM_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hKey)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_DIGEST, 0, 0, 0, 0);
	if (rv != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE key;
	if (AKM_IS_REGISTRY_HANDLE(hKey)) { /* a digest of a secret is a way to learn about it */
		akm_core_ops_end(&c, AKM_OP_DIGEST, true);
		return akm_registry_key_refused(&c, hKey, CKR_KEY_INDIGESTIBLE);
	}
	if (akm_core_object(&c, hKey, &key) != CKR_OK) {
		akm_core_ops_end(&c, AKM_OP_DIGEST, true);
		return CKR_KEY_HANDLE_INVALID;
	}
	rv = c.be->C_DigestKey(c.bs, key);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK && rv != CKR_FUNCTION_NOT_SUPPORTED)
		akm_core_ops_end(&c, AKM_OP_DIGEST, true);
	return rv;
}

AKM_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_final(h, AKM_OP_DIGEST, out, outlen, OFF(C_DigestFinal)); }

/* ---- signatures and MACs ---- */

AKM_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_SIGN, m, k, 1, OFF(C_SignInit)); }

AKM_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                        CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_SIGN, in, inlen, out, outlen, 1, OFF(C_Sign)); }

AKM_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return op_update(h, AKM_OP_SIGN, part, len, OFF(C_SignUpdate)); }

AKM_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_final(h, AKM_OP_SIGN, out, outlen, OFF(C_SignFinal)); }

AKM_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_SIGN_RECOVER, m, k, 1, OFF(C_SignRecoverInit)); }

AKM_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                               CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_SIGN_RECOVER, in, inlen, out, outlen, 1, OFF(C_SignRecover)); }

/* ---- verification ---- */

AKM_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_VERIFY, m, k, 1, OFF(C_VerifyInit)); }

/* C_Verify and C_VerifyFinal always end the operation. */
AKM_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG datalen,
                          CK_BYTE_PTR sig, CK_ULONG siglen)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_VERIFY, 0, 0, 0, AKM_OP_VERIFY);
	if (rv != CKR_OK)
		return rv;
	if ((data == NULL && datalen > 0) || (sig == NULL && siglen > 0))
		return op_refuse(&c, AKM_OP_VERIFY);
	rv = c.be->C_Verify(c.bs, INPUT(data, datalen), datalen, INPUT(sig, siglen), siglen);
	audit_failed_check(&c, AKM_OP_VERIFY, rv);
	op_ended(&c, AKM_OP_VERIFY, rv, sig);
	return rv;
}

AKM_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return op_update(h, AKM_OP_VERIFY, part, len, OFF(C_VerifyUpdate)); }

AKM_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_VERIFY, 0, 0, 0, AKM_OP_VERIFY);
	if (rv != CKR_OK)
		return rv;
	if (sig == NULL && siglen > 0)
		return op_refuse(&c, AKM_OP_VERIFY);
	rv = c.be->C_VerifyFinal(c.bs, INPUT(sig, siglen), siglen);
	audit_failed_check(&c, AKM_OP_VERIFY, rv);
	op_ended(&c, AKM_OP_VERIFY, rv, sig);
	return rv;
}

AKM_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return op_init(h, AKM_OP_VERIFY_RECOVER, m, k, 1, OFF(C_VerifyRecoverInit)); }

AKM_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_VERIFY_RECOVER, sig, siglen, out, outlen, 1, OFF(C_VerifyRecover)); }

/* ---- dual-function updates (§5.13): both operations must be active ---- */

AKM_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DIGEST | AKM_OP_ENCRYPT, in, inlen, out, outlen, 0, OFF(C_DigestEncryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DECRYPT | AKM_OP_DIGEST, in, inlen, out, outlen, 0, OFF(C_DecryptDigestUpdate)); }

AKM_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                     CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_SIGN | AKM_OP_ENCRYPT, in, inlen, out, outlen, 0, OFF(C_SignEncryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return op_inout(h, AKM_OP_DECRYPT | AKM_OP_VERIFY, in, inlen, out, outlen, 0, OFF(C_DecryptVerifyUpdate)); }

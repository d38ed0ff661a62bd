/*
 * Encryption, decryption, digests, signatures and verification
 * (PKCS#11 v2.40 §5.8–5.13): each call names its operation and the backend
 * function it becomes; the operation state and its rules are the core's
 * (src/core/operations.c).
 */
#include "module/entry.h"

#define OFF(name) AKM_BACKEND_FN(name)

/* ---- encryption ---- */

AKM_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_ENCRYPT, m, k, true, OFF(C_EncryptInit)); }

AKM_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, true, OFF(C_Encrypt)); }

AKM_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_EncryptUpdate)); }

AKM_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_ENCRYPT, out, outlen, OFF(C_EncryptFinal)); }

/* ---- decryption ---- */

AKM_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_DECRYPT, m, k, true, OFF(C_DecryptInit)); }

AKM_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, true, OFF(C_Decrypt)); }

AKM_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, false, OFF(C_DecryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_DECRYPT, out, outlen, OFF(C_DecryptFinal)); }

/* ---- digests ---- */

AKM_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{ return akm_core_op_init(h, AKM_OP_DIGEST, m, 0, false, OFF(C_DigestInit)); }

AKM_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                          CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DIGEST, in, inlen, out, outlen, true, OFF(C_Digest)); }

AKM_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_DIGEST, part, len, OFF(C_DigestUpdate)); }

AKM_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hKey)
{
	return akm_core_digest_key(h, hKey);
}

AKM_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_DIGEST, out, outlen, OFF(C_DigestFinal)); }

/* ---- signatures and MACs ---- */

AKM_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_SIGN, m, k, true, OFF(C_SignInit)); }

AKM_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                        CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN, in, inlen, out, outlen, true, OFF(C_Sign)); }

AKM_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_SIGN, part, len, OFF(C_SignUpdate)); }

AKM_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_SIGN, out, outlen, OFF(C_SignFinal)); }

AKM_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_SIGN_RECOVER, m, k, true, OFF(C_SignRecoverInit)); }

AKM_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                               CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN_RECOVER, in, inlen, out, outlen, true, OFF(C_SignRecover)); }

/* ---- verification ---- */

AKM_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_VERIFY, m, k, true, OFF(C_VerifyInit)); }

AKM_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG datalen,
                          CK_BYTE_PTR sig, CK_ULONG siglen)
{
	return akm_core_verify(h, data, datalen, sig, siglen);
}

AKM_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_VERIFY, part, len, OFF(C_VerifyUpdate)); }

AKM_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	return akm_core_verify_final(h, sig, siglen);
}

AKM_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_VERIFY_RECOVER, m, k, true, OFF(C_VerifyRecoverInit)); }

AKM_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_VERIFY_RECOVER, sig, siglen, out, outlen, true, OFF(C_VerifyRecover)); }

/* ---- dual-function updates (§5.13): both operations must be active ---- */

AKM_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DIGEST | AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_DigestEncryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT | AKM_OP_DIGEST, in, inlen, out, outlen, false, OFF(C_DecryptDigestUpdate)); }

AKM_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                     CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN | AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_SignEncryptUpdate)); }

AKM_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT | AKM_OP_VERIFY, in, inlen, out, outlen, false, OFF(C_DecryptVerifyUpdate)); }

/*
 * Encryption, decryption, digests, signatures and verification
 * (PKCS#11 v2.40 §5.8–5.13): each call names its operation and the backend
 * function it becomes; the operation state and its rules are the core's
 * (src/core/operations.c).
 */
#include "module/entry.h"

#define OFF(name) AKM_BACKEND_FN(name)

/* ---- encryption ---- */

CK_RV akm_entry_C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_ENCRYPT, m, k, true, OFF(C_EncryptInit)); }

CK_RV akm_entry_C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, true, OFF(C_Encrypt)); }

CK_RV akm_entry_C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_EncryptUpdate)); }

CK_RV akm_entry_C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_ENCRYPT, out, outlen, OFF(C_EncryptFinal)); }

/* ---- decryption ---- */

CK_RV akm_entry_C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_DECRYPT, m, k, true, OFF(C_DecryptInit)); }

CK_RV akm_entry_C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                           CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, true, OFF(C_Decrypt)); }

CK_RV akm_entry_C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT, in, inlen, out, outlen, false, OFF(C_DecryptUpdate)); }

CK_RV akm_entry_C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_DECRYPT, out, outlen, OFF(C_DecryptFinal)); }

/* ---- digests ---- */

CK_RV akm_entry_C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{ return akm_core_op_init(h, AKM_OP_DIGEST, m, 0, false, OFF(C_DigestInit)); }

CK_RV akm_entry_C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                          CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DIGEST, in, inlen, out, outlen, true, OFF(C_Digest)); }

CK_RV akm_entry_C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_DIGEST, part, len, OFF(C_DigestUpdate)); }

CK_RV akm_entry_C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hKey)
{
	return akm_core_digest_key(h, hKey);
}

CK_RV akm_entry_C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_DIGEST, out, outlen, OFF(C_DigestFinal)); }

/* ---- signatures and MACs ---- */

CK_RV akm_entry_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_SIGN, m, k, true, OFF(C_SignInit)); }

CK_RV akm_entry_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                        CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN, in, inlen, out, outlen, true, OFF(C_Sign)); }

CK_RV akm_entry_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_SIGN, part, len, OFF(C_SignUpdate)); }

CK_RV akm_entry_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_final(h, AKM_OP_SIGN, out, outlen, OFF(C_SignFinal)); }

CK_RV akm_entry_C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_SIGN_RECOVER, m, k, true, OFF(C_SignRecoverInit)); }

CK_RV akm_entry_C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                               CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN_RECOVER, in, inlen, out, outlen, true, OFF(C_SignRecover)); }

/* ---- verification ---- */

CK_RV akm_entry_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_VERIFY, m, k, true, OFF(C_VerifyInit)); }

CK_RV akm_entry_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG datalen,
                          CK_BYTE_PTR sig, CK_ULONG siglen)
{
	return akm_core_verify(h, data, datalen, sig, siglen);
}

CK_RV akm_entry_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{ return akm_core_op_update(h, AKM_OP_VERIFY, part, len, OFF(C_VerifyUpdate)); }

CK_RV akm_entry_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	return akm_core_verify_final(h, sig, siglen);
}

CK_RV akm_entry_C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{ return akm_core_op_init(h, AKM_OP_VERIFY_RECOVER, m, k, true, OFF(C_VerifyRecoverInit)); }

CK_RV akm_entry_C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen,
                                 CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_VERIFY_RECOVER, sig, siglen, out, outlen, true, OFF(C_VerifyRecover)); }

/* ---- dual-function updates (§5.13): both operations must be active ---- */

CK_RV akm_entry_C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DIGEST | AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_DigestEncryptUpdate)); }

CK_RV akm_entry_C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT | AKM_OP_DIGEST, in, inlen, out, outlen, false, OFF(C_DecryptDigestUpdate)); }

CK_RV akm_entry_C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                     CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_SIGN | AKM_OP_ENCRYPT, in, inlen, out, outlen, false, OFF(C_SignEncryptUpdate)); }

CK_RV akm_entry_C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{ return akm_core_op_inout(h, AKM_OP_DECRYPT | AKM_OP_VERIFY, in, inlen, out, outlen, false, OFF(C_DecryptVerifyUpdate)); }

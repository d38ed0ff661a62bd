/*
 * The functions PKCS#11 3.0 adds beyond interface discovery (module.c):
 * C_LoginUser, C_SessionCancel and the message-based functions (3.0
 * §5.19–5.22).  They are in the 3.0 interface's list so that the list is
 * complete, and answer CKR_FUNCTION_NOT_SUPPORTED: the backend is reached
 * through its v2.40 list, and the module's own state (login throttling,
 * operation state) has no user names, no cancellation and no message
 * operations.  Nothing is done or changed by any of them.
 */
#include "module/entry.h"
#include "module/pkcs11-v3.h"

CK_RV akm_entry_C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                             CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
	(void)hSession, (void)userType, (void)pPin, (void)ulPinLen, (void)pUsername, (void)ulUsernameLen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV akm_entry_C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
	(void)hSession, (void)flags;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- message-based encryption, decryption, signatures, verification ---- */

#define MESSAGE_INIT(name)                                                                      \
	CK_RV akm_entry_##name(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)        \
	{                                                                                           \
		(void)h, (void)m, (void)k;                                                              \
		return CKR_FUNCTION_NOT_SUPPORTED;                                                      \
	}
#define MESSAGE_FINAL(name)                                                                     \
	CK_RV akm_entry_##name(CK_SESSION_HANDLE h)                                                \
	{                                                                                           \
		(void)h;                                                                                \
		return CKR_FUNCTION_NOT_SUPPORTED;                                                      \
	}

MESSAGE_INIT(C_MessageEncryptInit)
MESSAGE_INIT(C_MessageDecryptInit)
MESSAGE_INIT(C_MessageSignInit)
MESSAGE_INIT(C_MessageVerifyInit)
MESSAGE_FINAL(C_MessageEncryptFinal)
MESSAGE_FINAL(C_MessageDecryptFinal)
MESSAGE_FINAL(C_MessageSignFinal)
MESSAGE_FINAL(C_MessageVerifyFinal)

/* One message whole (C_EncryptMessage, C_DecryptMessage). */
#define MESSAGE_CRYPT(name)                                                                     \
	CK_RV akm_entry_##name(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR ad,  \
	                      CK_ULONG adlen, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,      \
	                      CK_ULONG_PTR outlen)                                                  \
	{                                                                                           \
		(void)h, (void)p, (void)plen, (void)ad, (void)adlen, (void)in, (void)inlen, (void)out,  \
			(void)outlen;                                                                       \
		return CKR_FUNCTION_NOT_SUPPORTED;                                                      \
	}
MESSAGE_CRYPT(C_EncryptMessage)
MESSAGE_CRYPT(C_DecryptMessage)

/* The start of a message in parts (C_EncryptMessageBegin, C_DecryptMessageBegin). */
#define MESSAGE_CRYPT_BEGIN(name)                                                               \
	CK_RV akm_entry_##name(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR ad,  \
	                      CK_ULONG adlen)                                                       \
	{                                                                                           \
		(void)h, (void)p, (void)plen, (void)ad, (void)adlen;                                    \
		return CKR_FUNCTION_NOT_SUPPORTED;                                                      \
	}
MESSAGE_CRYPT_BEGIN(C_EncryptMessageBegin)
MESSAGE_CRYPT_BEGIN(C_DecryptMessageBegin)

/* A part of a message (C_EncryptMessageNext, C_DecryptMessageNext). */
#define MESSAGE_CRYPT_NEXT(name)                                                                \
	CK_RV akm_entry_##name(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR in,  \
	                      CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen, CK_FLAGS flags) \
	{                                                                                           \
		(void)h, (void)p, (void)plen, (void)in, (void)inlen, (void)out, (void)outlen,           \
			(void)flags;                                                                        \
		return CKR_FUNCTION_NOT_SUPPORTED;                                                      \
	}
MESSAGE_CRYPT_NEXT(C_EncryptMessageNext)
MESSAGE_CRYPT_NEXT(C_DecryptMessageNext)

CK_RV akm_entry_C_SignMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR data,
                               CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	(void)h, (void)p, (void)plen, (void)data, (void)len, (void)sig, (void)siglen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV akm_entry_C_SignMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR data,
                                   CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	(void)h, (void)p, (void)plen, (void)data, (void)len, (void)sig, (void)siglen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV akm_entry_C_VerifyMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR data,
                                 CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	(void)h, (void)p, (void)plen, (void)data, (void)len, (void)sig, (void)siglen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV akm_entry_C_VerifyMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen, CK_BYTE_PTR data,
                                     CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	(void)h, (void)p, (void)plen, (void)data, (void)len, (void)sig, (void)siglen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* The start of a signed or verified message in parts. */
CK_RV akm_entry_C_SignMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen)
{
	(void)h, (void)p, (void)plen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV akm_entry_C_VerifyMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG plen)
{
	(void)h, (void)p, (void)plen;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

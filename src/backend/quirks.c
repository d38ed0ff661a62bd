/*
 * Where backends' answers are smoothed so that applications see what the
 * specification says (backend.h).  Each quirk names the backend it was seen
 * in; none is needed for correctness with a backend that follows PKCS#11.
 */
#include "backend/internal.h"

CK_BYTE akm_backend_empty_input[1];

CK_RV akm_backend_decrypt_result(CK_MECHANISM_TYPE m, CK_RV rv)
{
	if (rv == CKR_GENERAL_ERROR && (m == CKM_AES_GCM || m == CKM_AES_CCM || m == CKM_AES_CBC_PAD ||
	                                m == CKM_DES3_CBC_PAD))
		return CKR_ENCRYPTED_DATA_INVALID;
	return rv;
}

/* An operation ends in the backend with its final or single-part call;
 * whichever of the two the backend takes ends it, the other then answers
 * CKR_OPERATION_NOT_INITIALIZED.  (SoftHSM2 keeps an operation after an
 * error the specification says ends it, and then refuses the next Init
 * with CKR_OPERATION_ACTIVE.) */
void akm_backend_end_operations(akm_backend *b, CK_SESSION_HANDLE s, unsigned ops)
{
	CK_FUNCTION_LIST *be = b->f;
	CK_BYTE in[64] = {0}, out[8192];
	CK_ULONG len;
#define OUT_LEN (len = sizeof out, &len)
	if (ops & AKM_OP_FIND)
		be->C_FindObjectsFinal(s);
	if (ops & AKM_OP_ENCRYPT) {
		be->C_EncryptFinal(s, out, OUT_LEN);
		be->C_Encrypt(s, in, 0, out, OUT_LEN);
	}
	if (ops & AKM_OP_DECRYPT) {
		be->C_DecryptFinal(s, out, OUT_LEN);
		be->C_Decrypt(s, in, 16, out, OUT_LEN);
	}
	if (ops & AKM_OP_DIGEST) {
		be->C_DigestFinal(s, out, OUT_LEN);
		be->C_Digest(s, in, 0, out, OUT_LEN);
	}
	if (ops & AKM_OP_SIGN) {
		be->C_SignFinal(s, out, OUT_LEN);
		be->C_Sign(s, in, 0, out, OUT_LEN);
	}
	if (ops & AKM_OP_VERIFY) {
		be->C_VerifyFinal(s, in, 1);
		be->C_Verify(s, in, 0, in, 1);
	}
	if (ops & AKM_OP_SIGN_RECOVER)
		be->C_SignRecover(s, in, 1, out, OUT_LEN);
	if (ops & AKM_OP_VERIFY_RECOVER)
		be->C_VerifyRecover(s, in, 1, out, OUT_LEN);
#undef OUT_LEN
}

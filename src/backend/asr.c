/* Operational ASRs, a member's side in the backend (backend.h, "Operational
 * ASRs"): path and step keys, the ratchet, the AEAD and the station's
 * signature, all inside the token. */
#include "backend/internal.h"

#include <stdlib.h>
#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE aes = CKK_AES;
static CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

/* The ratchet KEK's unwrap template: what every step key unwrapped under it
 * is (SoftHSM2 2.6.1 requires an unwrap to name each of these with the
 * same value).  CKA_MODIFIABLE false last (kek.c says why). */
static CK_ATTRIBUTE step_fixed[] = {
	{CKA_CLASS, (void *)&secret_class, sizeof secret_class},
	{CKA_KEY_TYPE, (void *)&aes, sizeof aes},
	{CKA_TOKEN, (void *)&no, 1},
	{CKA_PRIVATE, (void *)&yes, 1},
	{CKA_SENSITIVE, (void *)&yes, 1},
	{CKA_EXTRACTABLE, (void *)&no, 1},
	{CKA_COPYABLE, (void *)&no, 1},
	{CKA_ENCRYPT, (void *)&yes, 1},
	{CKA_DECRYPT, (void *)&yes, 1},
	{CKA_DERIVE, (void *)&yes, 1},
	{CKA_WRAP, (void *)&no, 1},
	{CKA_UNWRAP, (void *)&no, 1},
	{CKA_SIGN, (void *)&no, 1},
	{CKA_VERIFY, (void *)&no, 1},
	{CKA_MODIFIABLE, (void *)&no, 1},
};
#define NSTEP (sizeof step_fixed / sizeof step_fixed[0])

CK_RV akm_backend_ratchet_kek(akm_backend_service *s, bool create)
{
	if (s->rkek != 0)
		return CKR_OK;
	bool found = false;
	CK_OBJECT_HANDLE h;
	CK_RV rv = akm_backend_secret_find(s, AKM_BACKEND_RATCHET_KEK_LABEL, &h, &found);
	if (rv != CKR_OK)
		return rv;
	if (found) {
		s->rkek = h;
		return CKR_OK;
	}
	if (!create)
		return CKR_KEY_HANDLE_INVALID;
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, (void *)&secret_class, sizeof secret_class}, {CKA_KEY_TYPE, (void *)&aes, sizeof aes},
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_MODIFIABLE, (void *)&no, 1},
		{CKA_WRAP, (void *)&yes, 1}, {CKA_UNWRAP, (void *)&yes, 1},
		{CKA_ENCRYPT, (void *)&no, 1}, {CKA_DECRYPT, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
		{CKA_DERIVE, (void *)&no, 1},
		{CKA_UNWRAP_TEMPLATE, step_fixed, sizeof step_fixed},
		{CKA_LABEL, AKM_BACKEND_RATCHET_KEK_LABEL, strlen(AKM_BACKEND_RATCHET_KEK_LABEL)},
	};
	rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv == CKR_OK)
		s->rkek = h;
	return rv;
}

bool akm_backend_ratchet_kek_is(const akm_backend_service *s, CK_OBJECT_HANDLE h)
{
	return h != 0 && h == s->rkek;
}

CK_RV akm_backend_asr_edge(akm_backend_service *s, CK_OBJECT_HANDLE under, const uint8_t *edge, size_t len,
                           bool step, CK_OBJECT_HANDLE *out)
{
	const CK_BBOOL *path = step ? &no : &yes, *use = step ? &yes : &no;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, (void *)&secret_class, sizeof secret_class}, {CKA_KEY_TYPE, (void *)&aes, sizeof aes},
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&yes, 1}, /* once, to be wrapped for the registry */
		{CKA_UNWRAP, (void *)path, 1}, {CKA_WRAP, (void *)&no, 1},
		{CKA_ENCRYPT, (void *)use, 1}, {CKA_DECRYPT, (void *)use, 1}, {CKA_DERIVE, (void *)use, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
	};
	return s->f->C_UnwrapKey(s->session, &kwp, under, (CK_BYTE *)edge, (CK_ULONG)len, t, sizeof t / sizeof t[0], out);
}

CK_RV akm_backend_asr_keep(akm_backend_service *s, CK_OBJECT_HANDLE h, bool step, uint8_t *wrapped,
                           size_t *wrapped_len)
{
	CK_OBJECT_HANDLE kek = step ? s->rkek : s->kek;
	if (kek == 0)
		return CKR_KEY_HANDLE_INVALID;
	CK_ULONG wlen = (CK_ULONG)*wrapped_len;
	CK_RV rv = s->f->C_WrapKey(s->session, &kwp, kek, h, wrapped, &wlen);
	if (rv != CKR_OK)
		return rv;
	*wrapped_len = wlen;
	CK_ATTRIBUTE seal = {CKA_EXTRACTABLE, (void *)&no, 1};
	return s->f->C_SetAttributeValue(s->session, h, &seal, 1);
}

CK_RV akm_backend_asr_step_unwrap(akm_backend_service *s, const uint8_t *wrapped, size_t len, CK_OBJECT_HANDLE *out)
{
	if (s->rkek == 0)
		return CKR_KEY_HANDLE_INVALID;
	return s->f->C_UnwrapKey(s->session, &kwp, s->rkek, (CK_BYTE *)wrapped, (CK_ULONG)len, step_fixed, NSTEP, out);
}

CK_RV akm_backend_asr_ratchet(akm_backend_service *s, CK_OBJECT_HANDLE h, const uint8_t data[32], bool keep,
                              CK_OBJECT_HANDLE *out)
{
	CK_KEY_DERIVATION_STRING_DATA p = {(CK_BYTE *)data, 32};
	CK_MECHANISM m = {CKM_AES_ECB_ENCRYPT_DATA, &p, sizeof p};
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, (void *)&secret_class, sizeof secret_class}, {CKA_KEY_TYPE, (void *)&aes, sizeof aes},
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)(keep ? &yes : &no), 1},
		{CKA_ENCRYPT, (void *)&yes, 1}, {CKA_DECRYPT, (void *)&yes, 1}, {CKA_DERIVE, (void *)&yes, 1},
		{CKA_WRAP, (void *)&no, 1}, {CKA_UNWRAP, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
	};
	return s->f->C_DeriveKey(s->session, &m, h, t, sizeof t / sizeof t[0], out);
}

CK_RV akm_backend_asr_gcm(akm_backend_service *s, CK_OBJECT_HANDLE h, bool seal, const uint8_t nonce[12],
                          const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t *out_len)
{
	CK_GCM_PARAMS p = {(CK_BYTE *)nonce, 12, 96, (CK_BYTE *)aad, (CK_ULONG)aad_len, 128};
	CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof p};
	CK_ULONG olen = (CK_ULONG)*out_len;
	CK_RV rv = seal ? s->f->C_EncryptInit(s->session, &m, h) : s->f->C_DecryptInit(s->session, &m, h);
	if (rv != CKR_OK)
		return rv;
	CK_BYTE *input = akm_backend_input((CK_BYTE *)in, (CK_ULONG)in_len);
	if (seal) {
		rv = s->f->C_Encrypt(s->session, input, (CK_ULONG)in_len, out, &olen);
	} else {
		/* SoftHSM2 asks for room for the ciphertext and tag, not just
		 * the plaintext: the result goes through a buffer of that size. */
		CK_BYTE *tmp = malloc(in_len ? in_len : 1);
		olen = (CK_ULONG)in_len;
		if (tmp == NULL) {
			CK_BYTE scratch[16];
			CK_ULONG n = sizeof scratch;
			s->f->C_Decrypt(s->session, input, 0, scratch, &n); /* ends the operation */
			return CKR_HOST_MEMORY;
		}
		rv = s->f->C_Decrypt(s->session, input, (CK_ULONG)in_len, tmp, &olen);
		if (rv == CKR_OK && olen > *out_len)
			rv = CKR_GENERAL_ERROR;
		if (rv == CKR_OK)
			memcpy(out, tmp, olen);
		memset(tmp, 0, in_len);
		free(tmp);
		if (rv != CKR_OK && rv != CKR_GENERAL_ERROR && rv != CKR_ENCRYPTED_DATA_INVALID)
			return rv;
	}
	if (rv == CKR_BUFFER_TOO_SMALL) /* the caller sizes its buffers: never here */
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK)
		*out_len = olen;
	return akm_backend_decrypt_result(CKM_AES_GCM, rv);
}

CK_RV akm_backend_asr_verify(akm_backend_service *s, CK_OBJECT_HANDLE anchor, const uint8_t digest[32],
                             const uint8_t sig[64])
{
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_RV rv = s->f->C_VerifyInit(s->session, &m, anchor);
	if (rv != CKR_OK)
		return rv;
	rv = s->f->C_Verify(s->session, (CK_BYTE *)digest, 32, (CK_BYTE *)sig, 64);
	return rv == CKR_SIGNATURE_LEN_RANGE ? CKR_SIGNATURE_INVALID : rv;
}

CK_RV akm_backend_object_id(akm_backend_service *s, CK_OBJECT_HANDLE h, uint8_t *id, size_t *len)
{
	CK_ATTRIBUTE a = {CKA_ID, id, (CK_ULONG)*len};
	CK_RV rv = s->f->C_GetAttributeValue(s->session, h, &a, 1);
	if (rv == CKR_OK)
		*len = a.ulValueLen;
	return rv;
}

bool akm_backend_object_is(akm_backend_service *s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, CK_KEY_TYPE type)
{
	CK_OBJECT_CLASS c = 0;
	CK_KEY_TYPE t = 0;
	CK_ATTRIBUTE a[] = {{CKA_CLASS, &c, sizeof c}, {CKA_KEY_TYPE, &t, sizeof t}};
	if (s->f->C_GetAttributeValue(s->session, h, a, 2) != CKR_OK)
		return false;
	return c == cls && (type == 0 || t == type);
}

CK_RV akm_backend_key_by_id(akm_backend_service *s, const uint8_t *id, size_t len, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, (void *)&secret_class, sizeof secret_class}, {CKA_ID, (void *)id, len}};
	CK_OBJECT_HANDLE h[2];
	size_t n = 0;
	CK_RV rv = akm_backend_service_find(s, t, 2, h, 2, &n);
	if (rv != CKR_OK)
		return rv;
	if (n != 1)
		return CKR_KEY_HANDLE_INVALID;
	*out = h[0];
	return CKR_OK;
}

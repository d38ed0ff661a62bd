/* The key-encryption key and every use of it (backend.h).  Relationship
 * keys exist in plain form only inside the backend: generated there,
 * wrapped under the KEK for the registry, unwrapped there for use. */
#include "backend/internal.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

CK_RV akm_backend_kek_find(akm_backend_service *s, bool *found)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &secret, sizeof secret},
	                    {CKA_LABEL, AKM_BACKEND_KEK_LABEL, strlen(AKM_BACKEND_KEK_LABEL)}};
	CK_OBJECT_HANDLE h = 0;
	size_t n = 0;
	CK_RV rv = akm_backend_service_find(s, t, 2, &h, 1, &n);
	*found = rv == CKR_OK && n == 1;
	if (*found)
		s->kek = s->kek_token = h;
	return rv;
}

CK_RV akm_backend_kek_create(akm_backend_service *s)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &aes, sizeof aes},
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_WRAP, (void *)&yes, 1},
		{CKA_UNWRAP, (void *)&yes, 1}, {CKA_ENCRYPT, (void *)&no, 1},
		{CKA_DECRYPT, (void *)&no, 1}, {CKA_LABEL, AKM_BACKEND_KEK_LABEL, strlen(AKM_BACKEND_KEK_LABEL)},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv == CKR_OK)
		s->kek = s->kek_token = h;
	return rv;
}

void akm_backend_kek_session_copy(akm_backend_service *s)
{
	CK_ATTRIBUTE as_session = {CKA_TOKEN, (void *)&no, 1};
	CK_OBJECT_HANDLE copy;
	if (s->kek_token != 0 && s->f->C_CopyObject(s->session, s->kek_token, &as_session, 1, &copy) == CKR_OK)
		s->kek = copy;
}

bool akm_backend_kek_is(const akm_backend_service *s, CK_OBJECT_HANDLE h)
{
	return h != 0 && (h == s->kek || h == s->kek_token);
}

/* The usage attributes of a relationship key of `kind`, and its type. */
typedef struct key_profile {
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	const CK_BBOOL *cipher, *mac;
} key_profile;

static key_profile profile(akm_backend_key_kind kind)
{
	bool cipher = kind == AKM_BACKEND_KEY_CIPHER;
	return (key_profile){CKO_SECRET_KEY, cipher ? CKK_AES : CKK_GENERIC_SECRET, cipher ? &yes : &no,
	                     cipher ? &no : &yes};
}

CK_RV akm_backend_key_generate(akm_backend_service *s, akm_backend_key_kind kind, bool keep, uint8_t *wrapped,
                               size_t *wrapped_len, CK_OBJECT_HANDLE *kept)
{
	key_profile p = profile(kind);
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {kind == AKM_BACKEND_KEY_CIPHER ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&no, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&yes, 1}, /* once, to wrap it under the KEK */
		{CKA_ENCRYPT, (void *)p.cipher, 1}, {CKA_DECRYPT, (void *)p.cipher, 1},
		{CKA_WRAP, (void *)p.cipher, 1}, {CKA_UNWRAP, (void *)p.cipher, 1},
		{CKA_SIGN, (void *)p.mac, 1}, {CKA_VERIFY, (void *)p.mac, 1},
	};
	CK_OBJECT_HANDLE h;
	*kept = 0;
	CK_RV rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG wlen = (CK_ULONG)*wrapped_len;
	rv = s->f->C_WrapKey(s->session, &kwp, s->kek, h, wrapped, &wlen);
	CK_ATTRIBUTE seal = {CKA_EXTRACTABLE, (void *)&no, 1};
	if (rv == CKR_OK && keep)
		rv = s->f->C_SetAttributeValue(s->session, h, &seal, 1);
	if (rv != CKR_OK || !keep) {
		s->f->C_DestroyObject(s->session, h);
		if (rv != CKR_OK)
			return rv;
	} else {
		*kept = h;
	}
	*wrapped_len = (size_t)wlen;
	return CKR_OK;
}

CK_RV akm_backend_key_unwrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, CK_OBJECT_HANDLE *out)
{
	key_profile p = profile(kind);
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &p.cls, sizeof p.cls}, {CKA_KEY_TYPE, &p.type, sizeof p.type},
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&no, 1},
		{CKA_ENCRYPT, (void *)p.cipher, 1}, {CKA_DECRYPT, (void *)p.cipher, 1},
		{CKA_WRAP, (void *)p.cipher, 1}, {CKA_UNWRAP, (void *)p.cipher, 1},
		{CKA_SIGN, (void *)p.mac, 1}, {CKA_VERIFY, (void *)p.mac, 1},
	};
	return s->f->C_UnwrapKey(s->session, &kwp, s->kek, (CK_BYTE *)wrapped, (CK_ULONG)wrapped_len, t,
	                         sizeof t / sizeof t[0], out);
}

CK_RV akm_backend_key_rewrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, CK_OBJECT_HANDLE wrapping, CK_BYTE *out, CK_ULONG *out_len,
                             CK_RV *kek_rv)
{
	key_profile p = profile(kind);
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &p.cls, sizeof p.cls}, {CKA_KEY_TYPE, &p.type, sizeof p.type},
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&yes, 1},
	};
	CK_OBJECT_HANDLE tmp = 0;
	CK_RV rv = s->f->C_UnwrapKey(s->session, &kwp, s->kek, (CK_BYTE *)wrapped, (CK_ULONG)wrapped_len, t,
	                             sizeof t / sizeof t[0], &tmp);
	*kek_rv = rv;
	if (rv != CKR_OK)
		return rv;
	rv = s->f->C_WrapKey(s->session, &kwp, wrapping, tmp, out, out_len);
	s->f->C_DestroyObject(s->session, tmp);
	return rv;
}

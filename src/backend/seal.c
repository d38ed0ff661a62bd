/* The registry's MAC key (backend.h): a non-extractable HMAC key in the
 * token, beside the KEK, from which the keys that authenticate the
 * registry's rows are derived at login. */
#include "backend/internal.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

CK_RV akm_backend_mac_find(akm_backend_service *s, bool *found)
{
	return akm_backend_secret_find(s, AKM_BACKEND_MAC_LABEL, &s->mac, found);
}

CK_RV akm_backend_mac_create(akm_backend_service *s)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &generic, sizeof generic},
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_SIGN, (void *)&yes, 1},
		{CKA_VERIFY, (void *)&no, 1}, {CKA_WRAP, (void *)&no, 1},
		{CKA_UNWRAP, (void *)&no, 1}, {CKA_ENCRYPT, (void *)&no, 1},
		{CKA_DECRYPT, (void *)&no, 1}, {CKA_DERIVE, (void *)&no, 1},
		{CKA_LABEL, AKM_BACKEND_MAC_LABEL, strlen(AKM_BACKEND_MAC_LABEL)},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv == CKR_OK)
		s->mac = h;
	return rv;
}

CK_RV akm_backend_mac_derive(akm_backend_service *s, const char *purpose, uint8_t out[AKM_BACKEND_KEY_BYTES])
{
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	if (s->mac == 0)
		return CKR_KEY_HANDLE_INVALID;
	CK_RV rv = s->f->C_SignInit(s->session, &hmac, s->mac);
	if (rv == CKR_OK)
		rv = s->f->C_Sign(s->session, (CK_BYTE *)purpose, (CK_ULONG)strlen(purpose), out, &len);
	if (rv == CKR_OK && len != AKM_BACKEND_KEY_BYTES)
		rv = CKR_DEVICE_ERROR;
	return rv;
}

bool akm_backend_mac_is(const akm_backend_service *s, CK_OBJECT_HANDLE h)
{
	return h != 0 && h == s->mac;
}

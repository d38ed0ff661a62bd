/*
 * EC P-256 and transport keys for the tools (p11.h): the station's and the
 * node's signing and ECDH keys, and the session AES keys that wrap a
 * relationship's keys on their way from one token to another.
 */
#include "shared/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/keyed.h"

/* DER of OID 1.2.840.10045.3.1.7 (prime256v1 / secp256r1). */
const uint8_t akm_p11_p256_params[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

void akm_p11_ec_point_der(const uint8_t point[65], uint8_t der[67])
{
	der[0] = 0x04; /* OCTET STRING */
	der[1] = 65;
	memcpy(der + 2, point, 65);
}

int akm_p11_ec_point(akm_p11 *p, CK_OBJECT_HANDLE pub, uint8_t point[65])
{
	uint8_t *v;
	size_t n;
	if (akm_p11_get_bytes(p, pub, CKA_EC_POINT, &v, &n) != 0)
		return -1;
	int rc = 0;
	if (n == 67 && v[0] == 0x04 && v[1] == 65 && v[2] == 0x04)
		memcpy(point, v + 2, 65); /* DER OCTET STRING (PKCS#11 v2.40) */
	else if (n == 65 && v[0] == 0x04)
		memcpy(point, v, 65);     /* raw, as some tokens give it */
	else
		rc = akm_p11_fail_text(p, "CKA_EC_POINT is not an uncompressed P-256 point");
	free(v);
	return rc;
}

int akm_p11_ec_generate(akm_p11 *p, bool token, const char *label, const uint8_t *id, size_t id_len,
                        CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL *tok = token ? &ck_true : &ck_false;
	/* The public half verifies; nothing else (tokens default to more). */
	CK_ATTRIBUTE pub_t[7] = {
		{ CKA_TOKEN, tok, sizeof ck_true },
		{ CKA_EC_PARAMS, (void *)akm_p11_p256_params, sizeof akm_p11_p256_params },
		{ CKA_VERIFY, &ck_true, sizeof ck_true },
		{ CKA_ENCRYPT, &ck_false, sizeof ck_false },
		{ CKA_WRAP, &ck_false, sizeof ck_false },
	};
	CK_ATTRIBUTE priv_t[9] = {
		{ CKA_TOKEN, tok, sizeof ck_true },
		{ CKA_PRIVATE, &ck_true, sizeof ck_true },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
		{ CKA_SIGN, &ck_true, sizeof ck_true },
		{ CKA_DERIVE, &ck_true, sizeof ck_true },
	};
	CK_ULONG npub = 5, npriv = 6;
	if (label != NULL) {
		pub_t[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) };
		priv_t[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) };
	}
	if (id != NULL && id_len > 0) {
		pub_t[npub++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, (CK_ULONG)id_len };
		priv_t[npriv++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, (CK_ULONG)id_len };
	}
	CK_RV rv = p->f->C_GenerateKeyPair(p->session, &mech, pub_t, npub, priv_t, npriv, pub, priv);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GenerateKeyPair", rv, "P-256");
	return 0;
}

int akm_p11_sign_digest(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t digest[32], uint8_t sig[64])
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_RV rv = p->f->C_SignInit(p->session, &mech, priv);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_SignInit", rv, "CKM_ECDSA");
	CK_ULONG len = 64;
	rv = p->f->C_Sign(p->session, (CK_BYTE_PTR)digest, 32, sig, &len);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_Sign", rv, "CKM_ECDSA");
	if (len != 64)
		return akm_p11_fail_text(p, "C_Sign (CKM_ECDSA): the signature is not 64 bytes (r||s)");
	return 0;
}

/* A session CKO_PUBLIC_KEY for a raw P-256 point (CKA_EC_POINT as a DER
 * OCTET STRING, as PKCS#11 v2.40 has it). */
static CK_RV create_public_key(akm_p11 *p, const uint8_t point[65], CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	uint8_t der[67];
	akm_p11_ec_point_der(point, der);
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_VERIFY, &ck_true, sizeof ck_true },
		{ CKA_EC_PARAMS, (void *)akm_p11_p256_params, sizeof akm_p11_p256_params },
		{ CKA_EC_POINT, der, sizeof der },
	};
	return p->f->C_CreateObject(p->session, t, sizeof t / sizeof t[0], h);
}

int akm_p11_verify_digest(akm_p11 *p, const uint8_t point[65], const uint8_t digest[32],
                          const uint8_t sig[64])
{
	if (point[0] != 0x04)
		return 1; /* not an uncompressed point: nothing verifies with it */
	CK_OBJECT_HANDLE key;
	CK_RV rv = create_public_key(p, point, &key);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_DOMAIN_PARAMS_INVALID)
		return 1;
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_CreateObject", rv, "EC public key");
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	int result;
	rv = p->f->C_VerifyInit(p->session, &mech, key);
	if (rv == CKR_OK)
		rv = p->f->C_Verify(p->session, (CK_BYTE_PTR)digest, 32, (CK_BYTE_PTR)sig, 64);
	if (rv == CKR_OK)
		result = 0;
	else if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE ||
	         rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_DOMAIN_PARAMS_INVALID)
		result = 1;
	else
		result = akm_p11_fail(p, "C_Verify", rv, "CKM_ECDSA");
	p->f->C_DestroyObject(p->session, key);
	return result;
}

/* C_DeriveKey with CKM_ECDH1_DERIVE (CKD_NULL, no shared data) and the
 * peer's raw point into a 32-byte secret key of type kt; `extractable`
 * gives a key whose value can be read (not sensitive), else a sensitive,
 * non-extractable one with CKA_WRAP and CKA_UNWRAP. */
static CK_RV ecdh_derive(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], CK_KEY_TYPE kt, bool extractable,
                         CK_OBJECT_HANDLE *key)
{
	CK_ECDH1_DERIVE_PARAMS params = {
		.kdf = CKD_NULL,
		.ulSharedDataLen = 0,
		.pSharedData = NULL,
		.ulPublicDataLen = 65,
		.pPublicData = (CK_BYTE_PTR)peer,
	};
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &params, sizeof params };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ULONG value_len = 32;
	CK_BBOOL sensitive = extractable ? CK_FALSE : CK_TRUE;
	CK_BBOOL wrap = extractable ? CK_FALSE : CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_VALUE_LEN, &value_len, sizeof value_len },
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_SENSITIVE, &sensitive, sizeof sensitive },
		{ CKA_EXTRACTABLE, extractable ? &ck_true : &ck_false, sizeof ck_true },
		{ CKA_WRAP, &wrap, sizeof wrap },
		{ CKA_UNWRAP, &wrap, sizeof wrap },
	};
	/* A generic secret takes no CKA_WRAP/CKA_UNWRAP. */
	return p->f->C_DeriveKey(p->session, &mech, priv, t, extractable ? 6 : 8, key);
}

int akm_p11_ecdh_aes(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], CK_OBJECT_HANDLE *key)
{
	CK_RV rv = ecdh_derive(p, priv, peer, CKK_AES, false, key);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_DeriveKey", rv, "CKM_ECDH1_DERIVE");
	return 0;
}

int akm_p11_aes_from_value(akm_p11 *p, const uint8_t value[32], CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
		{ CKA_WRAP, &ck_true, sizeof ck_true },
		{ CKA_UNWRAP, &ck_true, sizeof ck_true },
		{ CKA_VALUE, (void *)value, 32 },
	};
	CK_RV rv = p->f->C_CreateObject(p->session, t, sizeof t / sizeof t[0], key);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_CreateObject", rv, "AES transport key");
	return 0;
}

int akm_p11_ecdh_secret(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], uint8_t z[32])
{
	CK_OBJECT_HANDLE key;
	CK_RV rv = ecdh_derive(p, priv, peer, CKK_GENERIC_SECRET, true, &key);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_MECHANISM_PARAM_INVALID) {
		p->rv = rv;
		return 1; /* not a point of the curve */
	}
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_DeriveKey", rv, "CKM_ECDH1_DERIVE");
	CK_ATTRIBUTE v = { CKA_VALUE, z, 32 };
	rv = p->f->C_GetAttributeValue(p->session, key, &v, 1);
	p->f->C_DestroyObject(p->session, key);
	if (rv != CKR_OK || v.ulValueLen != 32) {
		akm_wipe(z, 32);
		return akm_p11_fail(p, "C_GetAttributeValue", rv == CKR_OK ? CKR_GENERAL_ERROR : rv, "ECDH secret");
	}
	return 0;
}

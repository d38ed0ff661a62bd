/*
 * A relationship's keys wrapped for its node (backend.h, "Export"): the
 * transport key is made here, inside the token, by the module -- ECDH
 * between a fresh P-256 key pair and the node's recorded public key, or an
 * AES key object of the passphrase-derived bytes the module was given --
 * used for the wrappings of one export, and destroyed with everything else
 * the export made.  No caller's key ever wraps a relationship key.
 *
 * The ECDH is exactly the tools' (tools/shared/p11-ec.c akm_p11_ecdh_aes):
 * CKM_ECDH1_DERIVE, CKD_NULL, no shared data, an AES key of 32 bytes, which
 * a PKCS#11 token takes from the start of the shared secret, the
 * x-coordinate -- so a node derives the same key in its own token from its
 * private key and the ephemeral point (docs/formats.md §5.2).
 */
#include "backend/internal.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* DER of OID 1.2.840.10045.3.1.7 (prime256v1 / secp256r1). */
static const CK_BYTE p256_params[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* The objects one export makes, all destroyed at its end. */
typedef struct export_objects {
	CK_OBJECT_HANDLE eph_pub, eph_priv, transport;
} export_objects;

static void objects_destroy(akm_backend_service *s, export_objects *o)
{
	CK_OBJECT_HANDLE *all[] = {&o->transport, &o->eph_priv, &o->eph_pub};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (*all[i] != CK_INVALID_HANDLE) {
			s->f->C_DestroyObject(s->session, *all[i]);
			*all[i] = CK_INVALID_HANDLE;
		}
}

/* The public point of an EC key: CKA_EC_POINT is a DER OCTET STRING
 * (PKCS#11 v2.40), raw on some tokens. */
static CK_RV read_point(akm_backend_service *s, CK_OBJECT_HANDLE pub, uint8_t point[AKM_BACKEND_POINT_LEN])
{
	CK_BYTE der[AKM_BACKEND_POINT_LEN + 8];
	CK_ATTRIBUTE a = {CKA_EC_POINT, der, sizeof der};
	CK_RV rv = s->f->C_GetAttributeValue(s->session, pub, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == AKM_BACKEND_POINT_LEN + 2 && der[0] == 0x04 && der[1] == AKM_BACKEND_POINT_LEN &&
	    der[2] == 0x04)
		memcpy(point, der + 2, AKM_BACKEND_POINT_LEN);
	else if (a.ulValueLen == AKM_BACKEND_POINT_LEN && der[0] == 0x04)
		memcpy(point, der, AKM_BACKEND_POINT_LEN);
	else
		return CKR_DEVICE_ERROR; /* not an uncompressed P-256 point: not what we asked for */
	return CKR_OK;
}

/* A fresh P-256 key pair, session objects: the private half derives and
 * does nothing else, the public half nothing at all. */
static CK_RV ephemeral_pair(akm_backend_service *s, export_objects *o)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pub[] = {
		{CKA_TOKEN, (void *)&no, 1}, {CKA_EC_PARAMS, (void *)p256_params, sizeof p256_params},
		{CKA_VERIFY, (void *)&no, 1}, {CKA_ENCRYPT, (void *)&no, 1}, {CKA_WRAP, (void *)&no, 1},
		{CKA_DERIVE, (void *)&no, 1},
	};
	CK_ATTRIBUTE priv[] = {
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_DECRYPT, (void *)&no, 1},
		{CKA_UNWRAP, (void *)&no, 1}, {CKA_DERIVE, (void *)&yes, 1},
	};
	return s->f->C_GenerateKeyPair(s->session, &gen, pub, sizeof pub / sizeof pub[0], priv,
	                               sizeof priv / sizeof priv[0], &o->eph_pub, &o->eph_priv);
}

/* The transport key: wraps, nothing else, never leaves the token. */
static CK_RV transport_key(akm_backend_service *s, akm_backend_transport *t, export_objects *o)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes},
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&no, 1},
		{CKA_WRAP, (void *)&yes, 1}, {CKA_UNWRAP, (void *)&no, 1},
		{CKA_ENCRYPT, (void *)&no, 1}, {CKA_DECRYPT, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
		{CKA_DERIVE, (void *)&no, 1},
		/* last: the length to derive, or the value to make a key of */
		{CKA_VALUE_LEN, &len, sizeof len},
	};
	CK_ULONG n = sizeof tmpl / sizeof tmpl[0];
	if (t->node_point == NULL) {
		tmpl[n - 1] = (CK_ATTRIBUTE){CKA_VALUE, (void *)t->key, AKM_BACKEND_KEY_BYTES};
		return s->f->C_CreateObject(s->session, tmpl, n, &o->transport);
	}
	CK_RV rv = ephemeral_pair(s, o);
	if (rv == CKR_OK)
		rv = read_point(s, o->eph_pub, t->eph_point);
	if (rv != CKR_OK)
		return rv;
	CK_ECDH1_DERIVE_PARAMS ecdh = {
		.kdf = CKD_NULL,
		.ulSharedDataLen = 0,
		.pSharedData = NULL,
		.ulPublicDataLen = AKM_BACKEND_POINT_LEN,
		.pPublicData = (CK_BYTE_PTR)t->node_point,
	};
	CK_MECHANISM derive = {CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh};
	return s->f->C_DeriveKey(s->session, &derive, o->eph_priv, tmpl, n, &o->transport);
}

CK_RV akm_backend_export(akm_backend_service *s, akm_backend_transport *t, const akm_backend_blob *keys, size_t n,
                         CK_BYTE *out, CK_ULONG *out_len, akm_backend_export_step *step)
{
	static CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	export_objects o = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
	CK_ULONG room = *out_len, used = 0;
	*step = AKM_BACKEND_EXPORT_TRANSPORT;
	if ((t->node_point == NULL) == (t->key == NULL))
		return CKR_ARGUMENTS_BAD; /* exactly one way to make the key */
	CK_RV rv = transport_key(s, t, &o);
	for (size_t i = 0; i < n && rv == CKR_OK; i++) {
		CK_OBJECT_HANDLE plain = CK_INVALID_HANDLE;
		*step = AKM_BACKEND_EXPORT_UNWRAP;
		rv = akm_backend_kek_unwrap(s, keys[i].kind, keys[i].wrapped, keys[i].wrapped_len, true, &plain);
		if (rv != CKR_OK)
			break;
		CK_ULONG len = room - used;
		*step = AKM_BACKEND_EXPORT_WRAP;
		rv = s->f->C_WrapKey(s->session, &kwp, o.transport, plain, out + used, &len);
		s->f->C_DestroyObject(s->session, plain);
		if (rv == CKR_OK)
			used += len;
	}
	objects_destroy(s, &o);
	if (rv == CKR_OK) {
		*step = AKM_BACKEND_EXPORT_DONE;
		*out_len = used;
	}
	return rv;
}

/*
 * A small PKCS#11 client for the tools (p11.h).  Tokens are found by
 * PKCS#11 URI (RFC 7512, parsed and matched by p11-kit) or by label, never by
 * slot number.  Every failure leaves one sentence in p->err.
 */
#include "p11.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "lib/rv.h"

/* DER of OID 1.2.840.10045.3.1.7 (prime256v1 / secp256r1). */
const uint8_t akm_p11_p256_params[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

int akm_p11_fail(akm_p11 *p, const char *call, CK_RV rv, const char *context)
{
	const char *name = akm_rv_name(rv);
	if (context != NULL && context[0] != '\0')
		snprintf(p->err, sizeof p->err, "%s (%s): %s", call, context, name);
	else
		snprintf(p->err, sizeof p->err, "%s: %s", call, name);
	return -1;
}

static int fail_text(akm_p11 *p, const char *text)
{
	snprintf(p->err, sizeof p->err, "%s", text);
	return -1;
}

/* Length of a blank-padded PKCS#11 text field without its padding. */
static size_t padded_len(const CK_UTF8CHAR *field, size_t size)
{
	while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
		size--;
	return size;
}

static bool label_matches(const CK_TOKEN_INFO *info, const char *label)
{
	size_t used = padded_len(info->label, sizeof info->label);
	return strlen(label) == used && memcmp(info->label, label, used) == 0;
}

/* Picks the slot of the token `token` names (URI, label or NULL = the only
 * one).  Exactly one token must match. */
static int select_token(akm_p11 *p, const char *token)
{
	CK_ULONG count = 0;
	CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &count);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetSlotList", rv, NULL);
	CK_SLOT_ID *slots = calloc(count ? count : 1, sizeof *slots);
	if (slots == NULL)
		return fail_text(p, "out of memory listing slots");
	if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &count)) != CKR_OK) {
		free(slots);
		return akm_p11_fail(p, "C_GetSlotList", rv, NULL);
	}

	P11KitUri *uri = NULL;
	if (token != NULL && strncmp(token, "pkcs11:", 7) == 0) {
		uri = p11_kit_uri_new();
		if (uri == NULL) {
			free(slots);
			return fail_text(p, "out of memory parsing the token URI");
		}
		int urv = p11_kit_uri_parse(token, P11_KIT_URI_FOR_ANY, uri);
		if (urv != P11_KIT_URI_OK) {
			snprintf(p->err, sizeof p->err, "token URI %s: %s", token, p11_kit_uri_message(urv));
			p11_kit_uri_free(uri);
			free(slots);
			return -1;
		}
	}

	size_t matches = 0;
	for (CK_ULONG i = 0; i < count; i++) {
		CK_TOKEN_INFO info;
		if (p->f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		/* Without a name, "the only token" is the only initialised one
		 * (SoftHSM2 always shows one more, empty, slot). */
		bool match = token == NULL ? (info.flags & CKF_TOKEN_INITIALIZED) != 0 :
		             uri != NULL ? p11_kit_uri_match_token_info(uri, &info) == 1
		                         : label_matches(&info, token);
		if (match) {
			if (matches++ == 0) {
				p->slot = slots[i];
				p->token = info;
			}
		}
	}
	if (uri != NULL)
		p11_kit_uri_free(uri);
	free(slots);

	if (matches == 1)
		return 0;
	if (token == NULL) {
		if (matches == 0)
			return fail_text(p, "no token present in the module");
		snprintf(p->err, sizeof p->err, "%zu tokens present: name one with --token URI|LABEL", matches);
		return -1;
	}
	if (matches == 0)
		snprintf(p->err, sizeof p->err, "no token matches %s", token);
	else
		snprintf(p->err, sizeof p->err, "%zu tokens match %s: give a more precise URI", matches, token);
	return -1;
}

int akm_p11_open(akm_p11 *p, const char *module, const char *token)
{
	memset(p, 0, sizeof *p);
	p->session = CK_INVALID_HANDLE;
	if (module == NULL || module[0] == '\0')
		return fail_text(p, "no PKCS#11 module: give --module PATH or set AKM_MODULE");
	p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL) {
		snprintf(p->err, sizeof p->err, "cannot load module %s: %s", module, dlerror());
		return -1;
	}
	CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (get_list == NULL) {
		snprintf(p->err, sizeof p->err, "%s is not a PKCS#11 module (no C_GetFunctionList)", module);
		return -1;
	}
	CK_RV rv = get_list(&p->f);
	if (rv != CKR_OK || p->f == NULL) {
		p->f = NULL;
		return akm_p11_fail(p, "C_GetFunctionList", rv, module);
	}
	CK_C_INITIALIZE_ARGS init = { .flags = CKF_OS_LOCKING_OK };
	rv = p->f->C_Initialize(&init);
	/* Already initialised by another user in this process (a module that
	 * also serves as another module's backend): share it, and leave
	 * C_Finalize to whoever initialised it. */
	if (rv == CKR_OK)
		p->initialized = true;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return akm_p11_fail(p, "C_Initialize", rv, module);
	if (select_token(p, token) != 0)
		return -1;
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->session);
	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		return akm_p11_fail(p, "C_OpenSession", rv, NULL);
	}
	return 0;
}

int akm_p11_login(akm_p11 *p, const akm_secret *pin)
{
	if (p->logged_in)
		return 0;
	CK_RV rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin->data, (CK_ULONG)pin->len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		if (rv == CKR_PIN_INCORRECT)
			return fail_text(p, "C_Login: CKR_PIN_INCORRECT (wrong user PIN)");
		return akm_p11_fail(p, "C_Login", rv, NULL);
	}
	p->logged_in = true;
	return 0;
}

void akm_p11_close(akm_p11 *p)
{
	if (p->f != NULL) {
		if (p->session != CK_INVALID_HANDLE)
			p->f->C_CloseSession(p->session);
		if (p->initialized)
			p->f->C_Finalize(NULL);
	}
	if (p->dl != NULL)
		dlclose(p->dl);
	p->dl = NULL;
	p->f = NULL;
	p->session = CK_INVALID_HANDLE;
	p->initialized = p->logged_in = false;
}

void akm_p11_serial(const akm_p11 *p, char out[17])
{
	size_t n = padded_len(p->token.serialNumber, sizeof p->token.serialNumber);
	memcpy(out, p->token.serialNumber, n);
	out[n] = '\0';
}

int akm_p11_find(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                 size_t max, size_t *n)
{
	*n = 0;
	CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, count);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_FindObjectsInit", rv, NULL);
	while (*n < max) {
		CK_ULONG got = 0;
		rv = p->f->C_FindObjects(p->session, out + *n, (CK_ULONG)(max - *n), &got);
		if (rv != CKR_OK) {
			p->f->C_FindObjectsFinal(p->session);
			return akm_p11_fail(p, "C_FindObjects", rv, NULL);
		}
		if (got == 0)
			break;
		*n += got;
	}
	rv = p->f->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_FindObjectsFinal", rv, NULL);
	return 0;
}

int akm_p11_get_bytes(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t **val,
                      size_t *len)
{
	*val = NULL;
	*len = 0;
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetAttributeValue", rv, "length");
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return fail_text(p, "C_GetAttributeValue: the attribute is not available");
	uint8_t *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (buf == NULL)
		return fail_text(p, "out of memory reading an attribute");
	a.pValue = buf;
	rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK) {
		free(buf);
		return akm_p11_fail(p, "C_GetAttributeValue", rv, NULL);
	}
	*val = buf;
	*len = a.ulValueLen;
	return 0;
}

int akm_p11_get_ulong(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *val)
{
	CK_ATTRIBUTE a = { type, val, sizeof *val };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetAttributeValue", rv, NULL);
	if (a.ulValueLen != sizeof *val)
		return fail_text(p, "C_GetAttributeValue: the attribute is not a CK_ULONG");
	return 0;
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
		rc = fail_text(p, "CKA_EC_POINT is not an uncompressed P-256 point");
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
		return fail_text(p, "C_Sign (CKM_ECDSA): the signature is not 64 bytes (r||s)");
	return 0;
}

/* A session CKO_PUBLIC_KEY for a raw P-256 point (CKA_EC_POINT as a DER
 * OCTET STRING, as PKCS#11 v2.40 has it). */
static CK_RV create_public_key(akm_p11 *p, const uint8_t point[65], CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	uint8_t der[67] = { 0x04, 65 };
	memcpy(der + 2, point, 65);
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

int akm_p11_ecdh_aes(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], CK_OBJECT_HANDLE *key)
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
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG value_len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_VALUE_LEN, &value_len, sizeof value_len },
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
		{ CKA_WRAP, &ck_true, sizeof ck_true },
		{ CKA_UNWRAP, &ck_true, sizeof ck_true },
	};
	CK_RV rv = p->f->C_DeriveKey(p->session, &mech, priv, t, sizeof t / sizeof t[0], key);
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

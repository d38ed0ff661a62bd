/* The key-encryption key and every use of it (backend.h).  Relationship
 * keys exist in plain form only inside the backend: generated there,
 * wrapped under the KEK for the registry, unwrapped there for use. */
#include "backend/internal.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

CK_RV akm_backend_kek_find(akm_backend_service *s, bool *found)
{
	CK_OBJECT_HANDLE h;
	CK_RV rv = akm_backend_secret_find(s, AKM_BACKEND_KEK_LABEL, &h, found);
	if (*found)
		s->kek = s->kek_token = h;
	return rv;
}

/*
 * What every key unwrapped under the KEK is: the KEK's CKA_UNWRAP_TEMPLATE,
 * so that whoever holds the user PIN and reaches the backend token directly
 * (not through this module) cannot unwrap a registry blob into a readable
 * (CKA_SENSITIVE false), persistent (CKA_TOKEN true), copyable or
 * derivable object.  CKA_EXTRACTABLE is not fixed: export needs an
 * extractable short-lived copy (export.c), use a non-extractable one, and
 * PKCS#11 gives no way to tell the two callers apart (docs/threat-model.md).
 * SoftHSM2 (2.6.1) enforces the template by refusing, with
 * CKR_TEMPLATE_INCONSISTENT, an unwrap whose template does not name each of
 * these attributes with the same value; it adds none itself.  So every
 * unwrap here names them all (akm_backend_kek_unwrap).
 */
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static CK_ATTRIBUTE unwrap_fixed[] = {
	{CKA_CLASS, (void *)&secret_class, sizeof secret_class},
	{CKA_TOKEN, (void *)&no, 1},
	{CKA_PRIVATE, (void *)&yes, 1},
	{CKA_SENSITIVE, (void *)&yes, 1},
	{CKA_COPYABLE, (void *)&no, 1},
	{CKA_DERIVE, (void *)&no, 1},
	{CKA_MODIFIABLE, (void *)&no, 1}, /* last: see akm_backend_kek_unwrap */
};
#define NFIXED (sizeof unwrap_fixed / sizeof unwrap_fixed[0])

CK_RV akm_backend_kek_create(akm_backend_service *s)
{
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	/* Wrap and unwrap, nothing else.  It stays modifiable: SoftHSM2 copies
	 * no object that is not, and without its session copy every wrap and
	 * unwrap re-reads the token object (batch creation 11% slower).  What a
	 * PIN-holder at the raw backend could do with that (give it
	 * CKA_DECRYPT) gives nothing an extractable unwrap does not already
	 * give them (docs/threat-model.md); its unwrap template cannot be
	 * changed either way. */
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, (void *)&secret_class, sizeof secret_class}, {CKA_KEY_TYPE, &aes, sizeof aes},
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_MODIFIABLE, (void *)&yes, 1},
		{CKA_WRAP, (void *)&yes, 1}, {CKA_UNWRAP, (void *)&yes, 1},
		{CKA_ENCRYPT, (void *)&no, 1}, {CKA_DECRYPT, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
		{CKA_DERIVE, (void *)&no, 1},
		{CKA_UNWRAP_TEMPLATE, unwrap_fixed, sizeof unwrap_fixed},
		{CKA_LABEL, AKM_BACKEND_KEK_LABEL, strlen(AKM_BACKEND_KEK_LABEL)},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv == CKR_OK)
		s->kek = s->kek_token = h;
	return rv;
}

bool akm_backend_kek_has_unwrap_template(akm_backend_service *s)
{
	CK_ATTRIBUTE a = {CKA_UNWRAP_TEMPLATE, NULL, 0};
	if (s->kek_token == 0 || s->f->C_GetAttributeValue(s->session, s->kek_token, &a, 1) != CKR_OK)
		return false;
	return a.ulValueLen != CK_UNAVAILABLE_INFORMATION && a.ulValueLen >= sizeof(CK_ATTRIBUTE);
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
	CK_KEY_TYPE type;
	const CK_BBOOL *cipher, *mac;
} key_profile;

static key_profile profile(akm_backend_key_kind kind)
{
	bool cipher = kind == AKM_BACKEND_KEY_CIPHER;
	return (key_profile){cipher ? CKK_AES : CKK_GENERIC_SECRET, cipher ? &yes : &no, cipher ? &no : &yes};
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

CK_RV akm_backend_kek_unwrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, bool for_export, CK_OBJECT_HANDLE *out)
{
	key_profile p = profile(kind);
	/* For use: the purpose's usage flags, never extractable.  For export:
	 * no use at all, extractable only to be wrapped once more. */
	const CK_BBOOL *cipher = for_export ? &no : p.cipher, *mac = for_export ? &no : p.mac;
	CK_ATTRIBUTE t[NFIXED + 8];
	/* CKA_MODIFIABLE false goes last: SoftHSM2 applies the template in
	 * order and refuses (CKR_ATTRIBUTE_READ_ONLY) every attribute after it. */
	memcpy(t, unwrap_fixed, sizeof unwrap_fixed - sizeof unwrap_fixed[0]);
	CK_ULONG n = NFIXED - 1;
	t[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &p.type, sizeof p.type};
	t[n++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, (void *)(for_export ? &yes : &no), 1};
	t[n++] = (CK_ATTRIBUTE){CKA_ENCRYPT, (void *)cipher, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_DECRYPT, (void *)cipher, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_WRAP, (void *)cipher, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_UNWRAP, (void *)cipher, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_SIGN, (void *)mac, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_VERIFY, (void *)mac, 1};
	t[n++] = unwrap_fixed[NFIXED - 1];
	return s->f->C_UnwrapKey(s->session, &kwp, s->kek, (CK_BYTE *)wrapped, (CK_ULONG)wrapped_len, t, n, out);
}

CK_RV akm_backend_key_unwrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, CK_OBJECT_HANDLE *out)
{
	return akm_backend_kek_unwrap(s, kind, wrapped, wrapped_len, false, out);
}

/* ---- ASR key trees ------------------------------------------------------------ */

/* A node key wraps its parent's key and is wrapped once or twice (under
 * the KEK when made, under its children's keys): CKA_WRAP and
 * CKA_EXTRACTABLE, nothing else; a session object of the module's own
 * session, destroyed by the caller as soon as the operation is done. */
CK_RV akm_backend_node_generate(akm_backend_service *s, uint8_t *wrapped, size_t *wrapped_len, CK_OBJECT_HANDLE *out)
{
	CK_ULONG len = AKM_BACKEND_KEY_BYTES;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&no, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&yes, 1},
		{CKA_ENCRYPT, (void *)&no, 1}, {CKA_DECRYPT, (void *)&no, 1},
		{CKA_WRAP, (void *)&yes, 1}, {CKA_UNWRAP, (void *)&no, 1},
		{CKA_SIGN, (void *)&no, 1}, {CKA_VERIFY, (void *)&no, 1},
		{CKA_DERIVE, (void *)&no, 1},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->f->C_GenerateKey(s->session, &gen, t, sizeof t / sizeof t[0], &h);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG wlen = (CK_ULONG)*wrapped_len;
	if ((rv = s->f->C_WrapKey(s->session, &kwp, s->kek, h, wrapped, &wlen)) != CKR_OK) {
		s->f->C_DestroyObject(s->session, h);
		return rv;
	}
	*wrapped_len = (size_t)wlen;
	*out = h;
	return CKR_OK;
}

CK_RV akm_backend_node_unwrap(akm_backend_service *s, const uint8_t *wrapped, size_t wrapped_len,
                              CK_OBJECT_HANDLE *out)
{
	static const CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE t[NFIXED + 8];
	/* The KEK's unwrap template with the node profile; CKA_MODIFIABLE
	 * last (see akm_backend_kek_unwrap). */
	memcpy(t, unwrap_fixed, sizeof unwrap_fixed - sizeof unwrap_fixed[0]);
	CK_ULONG n = NFIXED - 1;
	t[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, (void *)&aes, sizeof aes};
	t[n++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, (void *)&yes, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_ENCRYPT, (void *)&no, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_DECRYPT, (void *)&no, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_WRAP, (void *)&yes, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_UNWRAP, (void *)&no, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_SIGN, (void *)&no, 1};
	t[n++] = (CK_ATTRIBUTE){CKA_VERIFY, (void *)&no, 1};
	t[n++] = unwrap_fixed[NFIXED - 1];
	return s->f->C_UnwrapKey(s->session, &kwp, s->kek, (CK_BYTE *)wrapped, (CK_ULONG)wrapped_len, t, n, out);
}

CK_RV akm_backend_edge_wrap(akm_backend_service *s, CK_OBJECT_HANDLE child, CK_OBJECT_HANDLE parent, uint8_t *out,
                            size_t *len)
{
	CK_ULONG l = (CK_ULONG)*len;
	CK_RV rv = s->f->C_WrapKey(s->session, &kwp, child, parent, out, &l);
	if (rv == CKR_OK)
		*len = (size_t)l;
	return rv;
}

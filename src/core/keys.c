/* Key management and random numbers (PKCS#11 v2.40 §5.14–5.15): the
 * backend's, under our handles, and the vendor mechanisms' (mechanisms.c). */
#include "core/internal.h"
#include "core/mechanisms.h"
#include "core/object.h"

CK_RV akm_core_generate_key(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                            CK_OBJECT_HANDLE *out)
{
	const akm_vendor_mechanism *v = akm_vendor_mechanism_find(m->mechanism);
	if (v != NULL && v->generate != NULL)
		return akm_core_relationships(c) == NULL ? CKR_MECHANISM_INVALID : v->generate(c, m, tmpl, count, out);
	CK_OBJECT_HANDLE key;
	CK_RV rv = akm_backend_generate_key(c->be, c->bs, m, tmpl, count, &key);
	if (rv != CKR_OK)
		return rv;
	return akm_core_adopt(c, key, akm_core_template_is_token(tmpl, count), out);
}

CK_RV akm_core_generate_key_pair(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
                                 CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count, CK_OBJECT_HANDLE *pub,
                                 CK_OBJECT_HANDLE *priv)
{
	CK_OBJECT_HANDLE bpub, bpriv;
	CK_RV rv = akm_backend_generate_key_pair(c->be, c->bs, m, pub_tmpl, pub_count, priv_tmpl, priv_count, &bpub,
	                                         &bpriv);
	if (rv != CKR_OK)
		return rv;
	rv = akm_core_adopt(c, bpub, akm_core_template_is_token(pub_tmpl, pub_count), pub);
	if (rv != CKR_OK) {
		akm_backend_destroy_object(c->be, c->bs, bpriv);
		return rv;
	}
	rv = akm_core_adopt(c, bpriv, akm_core_template_is_token(priv_tmpl, priv_count), priv);
	if (rv != CKR_OK)
		akm_core_destroy_object(c, *pub); /* both or neither */
	return rv;
}

CK_RV akm_core_wrap_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                        CK_BYTE *out, CK_ULONG *out_len)
{
	const akm_vendor_mechanism *v = akm_vendor_mechanism_find(m->mechanism);
	if (v != NULL && v->wrap != NULL)
		return akm_core_relationships(c) == NULL ? CKR_MECHANISM_INVALID
		                                         : v->wrap(c, m, wrapping, key, out, out_len);
	CK_OBJECT_HANDLE bkey, bwrapping;
	CK_RV rv = akm_core_mechanism_params(m);
	if (rv != CKR_OK)
		return rv;
	rv = akm_core_use_key(c, key, AKM_USE_EXTRACT, &bkey);
	if (rv != CKR_OK)
		return rv;
	if ((rv = akm_core_use_key(c, wrapping, AKM_USE_WRAP, &bwrapping)) != CKR_OK)
		return rv == CKR_KEY_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID : rv;
	return akm_core_key_answer(c, wrapping, akm_backend_wrap_key(c->be, c->bs, m, bwrapping, bkey, out, out_len));
}

CK_RV akm_core_unwrap_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                          CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE bunwrapping, key;
	const akm_vendor_mechanism *v = akm_vendor_mechanism_find(m->mechanism);
	if (v != NULL && v->unwrap != NULL)
		return akm_core_relationships(c) == NULL ? CKR_MECHANISM_INVALID
		                                         : v->unwrap(c, m, unwrapping, wrapped, wrapped_len, tmpl, count, out);
	CK_RV rv = akm_core_mechanism_params(m);
	if (rv != CKR_OK)
		return rv;
	rv = akm_core_use_key(c, unwrapping, AKM_USE_UNWRAP, &bunwrapping);
	if (rv != CKR_OK)
		return rv == CKR_KEY_HANDLE_INVALID ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : rv;
	rv = akm_backend_unwrap_key(c->be, c->bs, m, bunwrapping, wrapped, wrapped_len, tmpl, count, &key);
	if (rv != CKR_OK)
		return akm_core_key_answer(c, unwrapping, rv);
	return akm_core_adopt(c, key, akm_core_template_is_token(tmpl, count), out);
}

CK_RV akm_core_derive_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE *tmpl,
                          CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE bbase, key, other;
	const akm_vendor_mechanism *v = akm_vendor_mechanism_find(m->mechanism);
	if (v != NULL && v->derive != NULL)
		return akm_core_relationships(c) == NULL ? CKR_MECHANISM_INVALID : v->derive(c, m, base, tmpl, count, out);
	CK_RV rv = akm_core_use_key(c, base, AKM_USE_DERIVE, &bbase);
	if (rv != CKR_OK)
		return rv;
	/* Mechanism parameters that name another key carry our handle: give
	 * the backend its own. */
	CK_MECHANISM mech = *m;
	switch (mech.mechanism) {
	case CKM_CONCATENATE_BASE_AND_KEY:
		if (mech.pParameter == NULL || mech.ulParameterLen != sizeof(CK_OBJECT_HANDLE))
			return CKR_MECHANISM_PARAM_INVALID;
		if (akm_core_use_key(c, *(CK_OBJECT_HANDLE *)mech.pParameter, AKM_USE_PLAIN, &other) != CKR_OK)
			return CKR_KEY_HANDLE_INVALID;
		mech.pParameter = &other;
		break;
	case CKM_SSL3_KEY_AND_MAC_DERIVE:
	case CKM_TLS_KEY_AND_MAC_DERIVE:
	case CKM_ECMQV_DERIVE:
	case CKM_X9_42_DH_HYBRID_DERIVE:
	case CKM_X9_42_MQV_DERIVE:
		/* Their parameters hold key handles in or out that this
		 * pass-through does not translate yet. */
		return CKR_MECHANISM_INVALID;
	default:
		break;
	}
	rv = akm_backend_derive_key(c->be, c->bs, &mech, bbase, tmpl, count, &key);
	if (rv != CKR_OK)
		return rv;
	return akm_core_adopt(c, key, akm_core_template_is_token(tmpl, count), out);
}

CK_RV akm_core_seed_random(const akm_call *c, CK_BYTE *seed, CK_ULONG len)
{
	return akm_backend_seed_random(c->be, c->bs, seed, len);
}

CK_RV akm_core_generate_random(const akm_call *c, CK_BYTE *out, CK_ULONG len)
{
	return akm_backend_generate_random(c->be, c->bs, out, len);
}

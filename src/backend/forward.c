/* The calls the module passes through to the backend (backend.h). */
#include "backend/internal.h"

#include <stdlib.h>

CK_RV akm_backend_slots(akm_backend *b, CK_SLOT_ID **out, CK_ULONG *count)
{
	CK_ULONG n = 0;
	CK_SLOT_ID *ids = NULL;
	CK_RV rv;
	for (;;) {
		rv = b->f->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK)
			break;
		free(ids);
		ids = calloc(n ? n : 1, sizeof *ids);
		if (ids == NULL)
			return CKR_HOST_MEMORY;
		rv = b->f->C_GetSlotList(CK_TRUE, ids, &n);
		if (rv != CKR_BUFFER_TOO_SMALL) /* slots may appear between the calls */
			break;
	}
	if (rv != CKR_OK) {
		free(ids);
		return rv;
	}
	*out = ids;
	*count = n;
	return CKR_OK;
}

CK_RV akm_backend_slot_info(akm_backend *b, CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
	return b->f->C_GetSlotInfo(slot, info);
}

CK_RV akm_backend_token_info(akm_backend *b, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	return b->f->C_GetTokenInfo(slot, info);
}

CK_RV akm_backend_mechanism_list(akm_backend *b, CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	return b->f->C_GetMechanismList(slot, list, count);
}

CK_RV akm_backend_mechanism_info(akm_backend *b, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                 CK_MECHANISM_INFO *info)
{
	return b->f->C_GetMechanismInfo(slot, type, info);
}

CK_RV akm_backend_init_token(akm_backend *b, CK_SLOT_ID slot, CK_UTF8CHAR *pin, CK_ULONG pin_len,
                             CK_UTF8CHAR *label)
{
	return b->f->C_InitToken(slot, pin, pin_len, label);
}

CK_RV akm_backend_wait_for_slot_event(akm_backend *b, CK_FLAGS flags, CK_SLOT_ID *slot)
{
	return b->f->C_WaitForSlotEvent(flags, slot, NULL);
}

CK_RV akm_backend_open_session(akm_backend *b, CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
	return b->f->C_OpenSession(slot, flags, NULL, NULL, out);
}

CK_RV akm_backend_close_session(akm_backend *b, CK_SESSION_HANDLE s)
{
	return b->f->C_CloseSession(s);
}

CK_RV akm_backend_session_info(akm_backend *b, CK_SESSION_HANDLE s, CK_SESSION_INFO *info)
{
	return b->f->C_GetSessionInfo(s, info);
}

CK_RV akm_backend_get_operation_state(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *state, CK_ULONG *len)
{
	return b->f->C_GetOperationState(s, state, len);
}

CK_RV akm_backend_set_operation_state(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *state, CK_ULONG len,
                                      CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key)
{
	return b->f->C_SetOperationState(s, state, len, enc_key, auth_key);
}

CK_RV akm_backend_login(akm_backend *b, CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR *pin,
                        CK_ULONG pin_len)
{
	return b->f->C_Login(s, user, pin, pin_len);
}

CK_RV akm_backend_logout(akm_backend *b, CK_SESSION_HANDLE s)
{
	return b->f->C_Logout(s);
}

CK_RV akm_backend_init_pin(akm_backend *b, CK_SESSION_HANDLE s, CK_UTF8CHAR *pin, CK_ULONG len)
{
	return b->f->C_InitPIN(s, pin, len);
}

CK_RV akm_backend_set_pin(akm_backend *b, CK_SESSION_HANDLE s, CK_UTF8CHAR *old_pin, CK_ULONG old_len,
                          CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
	return b->f->C_SetPIN(s, old_pin, old_len, new_pin, new_len);
}

CK_RV akm_backend_create_object(akm_backend *b, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                CK_OBJECT_HANDLE *out)
{
	return b->f->C_CreateObject(s, tmpl, count, out);
}

CK_RV akm_backend_copy_object(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                              CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	return b->f->C_CopyObject(s, h, tmpl, count, out);
}

CK_RV akm_backend_destroy_object(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	return b->f->C_DestroyObject(s, h);
}

CK_RV akm_backend_object_size(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	return b->f->C_GetObjectSize(s, h, size);
}

CK_RV akm_backend_get_attributes(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count)
{
	return b->f->C_GetAttributeValue(s, h, tmpl, count);
}

CK_RV akm_backend_set_attributes(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count)
{
	return b->f->C_SetAttributeValue(s, h, tmpl, count);
}

CK_RV akm_backend_find_init(akm_backend *b, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return b->f->C_FindObjectsInit(s, tmpl, count);
}

CK_RV akm_backend_find(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	return b->f->C_FindObjects(s, out, max, n);
}

CK_RV akm_backend_find_final(akm_backend *b, CK_SESSION_HANDLE s)
{
	return b->f->C_FindObjectsFinal(s);
}

/* The backend function at byte offset `fn` of its function list, typed. */
#define FN(b, type, fn) (*(type *)((char *)(b)->f + (fn)))
typedef CK_RV (*init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*inout_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*in_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*out_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

CK_RV akm_backend_op_init(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
	return FN(b, init_fn, fn)(s, m, key);
}

CK_RV akm_backend_op_inout(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *in, CK_ULONG in_len,
                           CK_BYTE *out, CK_ULONG *out_len)
{
	return FN(b, inout_fn, fn)(s, akm_backend_input(in, in_len), in_len, out, out_len);
}

CK_RV akm_backend_op_in(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *in, CK_ULONG in_len)
{
	return FN(b, in_fn, fn)(s, akm_backend_input(in, in_len), in_len);
}

CK_RV akm_backend_op_out(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *out, CK_ULONG *out_len)
{
	return FN(b, out_fn, fn)(s, out, out_len);
}

CK_RV akm_backend_verify(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *data, CK_ULONG data_len, CK_BYTE *sig,
                         CK_ULONG sig_len)
{
	return b->f->C_Verify(s, akm_backend_input(data, data_len), data_len, akm_backend_input(sig, sig_len),
	                      sig_len);
}

CK_RV akm_backend_digest_key(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	return b->f->C_DigestKey(s, key);
}

CK_RV akm_backend_generate_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl,
                               CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	return b->f->C_GenerateKey(s, m, tmpl, count, out);
}

CK_RV akm_backend_generate_key_pair(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *pub_tmpl,
                                    CK_ULONG pub_count, CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
                                    CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	return b->f->C_GenerateKeyPair(s, m, pub_tmpl, pub_count, priv_tmpl, priv_count, pub, priv);
}

CK_RV akm_backend_wrap_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                           CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len)
{
	return b->f->C_WrapKey(s, m, wrapping, key, out, out_len);
}

CK_RV akm_backend_unwrap_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping,
                             CK_BYTE *wrapped, CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             CK_OBJECT_HANDLE *out)
{
	return b->f->C_UnwrapKey(s, m, unwrapping, wrapped, wrapped_len, tmpl, count, out);
}

CK_RV akm_backend_derive_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE base,
                             CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	return b->f->C_DeriveKey(s, m, base, tmpl, count, out);
}

CK_RV akm_backend_seed_random(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *seed, CK_ULONG len)
{
	return b->f->C_SeedRandom(s, seed, len);
}

CK_RV akm_backend_generate_random(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *out, CK_ULONG len)
{
	return b->f->C_GenerateRandom(s, out, len);
}

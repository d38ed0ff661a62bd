/*
 * Operation state, per session, and the calls of an operation (PKCS#11
 * v2.40 §5.8–5.13).  The specification's rules hold whatever the backend
 * does: an operation ends after any error other than CKR_BUFFER_TOO_SMALL
 * (and a successful length query), a second Init while one is active is
 * CKR_OPERATION_ACTIVE, a call without Init is CKR_OPERATION_NOT_INITIALIZED,
 * an unknown key is CKR_KEY_HANDLE_INVALID, and once an update (or
 * C_DigestKey) was given to an operation its single-part call (C_Encrypt,
 * C_Decrypt, C_Digest, C_Sign, C_Verify) is CKR_OPERATION_ACTIVE and leaves
 * the operation active, for its Final to end.  An operation ended here that
 * the backend may still consider active is marked stale and ended there
 * before the next Init (backend quirks.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/mechanisms.h"
#include "core/object.h"

/* ---- the session's operation state ----------------------------------------------- */

static akm_session *session_inlock(const akm_call *c)
{
	return akm_hmap_get(&akm_core.sessions, c->session);
}

void akm_core_ops_end(const akm_call *c, unsigned ops, bool stale)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL) {
		s->active &= ~ops;
		s->multipart &= ~ops;
		if (stale)
			s->stale |= ops;
	}
	akm_mutex_unlock(akm_core.lock);
}

/* Makes ended ops active again (the backend kept them: CKR_BUFFER_TOO_SMALL). */
static void ops_resume(const akm_call *c, unsigned ops)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL)
		s->active |= ops;
	akm_mutex_unlock(akm_core.lock);
}

/* An update the backend did not do (CKR_FUNCTION_NOT_SUPPORTED) leaves the
 * ops as single-part as they were before it (c->multipart). */
static void ops_not_updated(const akm_call *c, unsigned ops)
{
	if ((c->multipart & ops) == ops)
		return;
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL)
		s->multipart &= ~(ops & ~c->multipart);
	akm_mutex_unlock(akm_core.lock);
}

/* The backend began `ops` afresh: nothing of them lingers any more. */
static void ops_fresh(const akm_call *c, unsigned ops)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL)
		s->stale &= ~ops;
	akm_mutex_unlock(akm_core.lock);
}

/* The mechanism and key (ours) the active `op` (one bit) was initialised with. */
static void op_info(const akm_call *c, unsigned op, CK_MECHANISM_TYPE *mechanism, CK_OBJECT_HANDLE *key)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	*mechanism = s != NULL ? s->mechanism[__builtin_ctz(op)] : CKM_VENDOR_DEFINED;
	*key = s != NULL ? s->key[__builtin_ctz(op)] : 0;
	akm_mutex_unlock(akm_core.lock);
}

bool akm_core_ops_drain(const akm_call *c)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	unsigned stale = 0;
	if (s != NULL) {
		stale = s->stale;
		s->stale = 0;
	}
	akm_mutex_unlock(akm_core.lock);
	if (stale == 0)
		return false;
	akm_backend_end_operations(c->be, c->bs, stale);
	return true;
}

void akm_core_find_start(const akm_call *c, const akm_find_state *st)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL) {
		free(s->find.tmpl);
		s->find = *st;
		s->active |= AKM_OP_FIND;
		s->stale &= ~AKM_OP_FIND;
	} else {
		free(st->tmpl);
	}
	akm_mutex_unlock(akm_core.lock);
}

bool akm_core_find_load(const akm_call *c, akm_find_state *st)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL)
		*st = s->find;
	akm_mutex_unlock(akm_core.lock);
	return s != NULL;
}

void akm_core_find_save(const akm_call *c, const akm_find_state *st)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL) {
		s->find.backend = st->backend;
		s->find.held = st->held;
		s->find.cursor = st->cursor;
		memcpy(s->find.ahead, st->ahead, sizeof st->ahead);
		s->find.ahead_n = st->ahead_n;
		s->find.ahead_pos = st->ahead_pos;
	}
	akm_mutex_unlock(akm_core.lock);
}

void akm_core_find_end(const akm_call *c)
{
	akm_mutex_lock(akm_core.lock);
	akm_session *s = session_inlock(c);
	if (s != NULL) {
		free(s->find.tmpl);
		memset(&s->find, 0, sizeof s->find);
		s->active &= ~AKM_OP_FIND;
	}
	akm_mutex_unlock(akm_core.lock);
}

/* ---- the calls of an operation ---------------------------------------------------- */

/* Whether a call that returned rv (with output buffer `out`) leaves the
 * operation active: only CKR_BUFFER_TOO_SMALL and a successful length query
 * do (§5.2).  CKR_FUNCTION_NOT_SUPPORTED means nothing happened. */
static bool keeps_operation(CK_RV rv, const void *out)
{
	return rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL) || rv == CKR_FUNCTION_NOT_SUPPORTED;
}

/* What a key must allow for each operation. */
static akm_use use_of(unsigned op)
{
	switch (op) {
	case AKM_OP_ENCRYPT: return AKM_USE_ENCRYPT;
	case AKM_OP_DECRYPT: return AKM_USE_DECRYPT;
	case AKM_OP_SIGN: return AKM_USE_SIGN;
	case AKM_OP_VERIFY: return AKM_USE_VERIFY;
	case AKM_OP_SIGN_RECOVER: return AKM_USE_SIGN_RECOVER;
	default: return AKM_USE_VERIFY_RECOVER;
	}
}

/* A decryption's result as the specification has it, and a forged message
 * or MAC under the operation's key reported to the key's class. */
static CK_RV check_result(const akm_call *c, unsigned ops, CK_RV rv)
{
	CK_MECHANISM_TYPE m;
	CK_OBJECT_HANDLE key;
	if ((ops & AKM_OP_DECRYPT) && (rv == CKR_GENERAL_ERROR || rv == CKR_ENCRYPTED_DATA_INVALID)) {
		op_info(c, AKM_OP_DECRYPT, &m, &key);
		rv = akm_backend_decrypt_result(m, rv);
		const akm_object_class *cls = akm_object_class_of(key);
		if (rv == CKR_ENCRYPTED_DATA_INVALID && cls->check_failed != NULL)
			cls->check_failed(c, key, AKM_USE_DECRYPT, rv);
	} else if ((ops & AKM_OP_VERIFY) && (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE)) {
		op_info(c, AKM_OP_VERIFY, &m, &key);
		const akm_object_class *cls = akm_object_class_of(key);
		if (cls->check_failed != NULL)
			cls->check_failed(c, key, AKM_USE_VERIFY, rv);
	}
	return rv;
}

CK_RV akm_core_op_init(CK_SESSION_HANDLE h, unsigned op, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                       bool key_required, size_t fn)
{
	akm_call c;
	CK_RV rv;
	if (mech == NULL)
		return (rv = akm_core_session(h, &c)) != CKR_OK ? rv : CKR_ARGUMENTS_BAD;
	/* The operation is marked active with the session lookup, and unmarked
	 * if the backend refuses. */
	rv = akm_core_session_ops(h, &c, 0, op, mech->mechanism, key_required ? key : 0, 0, AKM_PARTS_ANY);
	if (rv != CKR_OK)
		return rv;
	const akm_vendor_mechanism *v = akm_vendor_mechanism_find(mech->mechanism);
	if (v != NULL && v->crypt_init != NULL && (op == AKM_OP_ENCRYPT || op == AKM_OP_DECRYPT)) {
		/* The module's own operation: the backend's state is not touched. */
		rv = akm_core_relationships(&c) == NULL ? CKR_MECHANISM_INVALID : v->crypt_init(&c, mech, key, op);
		if (rv != CKR_OK)
			goto refused;
		return CKR_OK;
	}
	if ((rv = akm_core_mechanism_params(mech)) != CKR_OK)
		goto refused;
	CK_OBJECT_HANDLE bkey = 0;
	if (key_required && (rv = akm_core_use_key(&c, key, use_of(op), &bkey)) != CKR_OK)
		goto refused;
	rv = akm_backend_op_init(c.be, fn, c.bs, mech, bkey);
	if (rv == CKR_OPERATION_ACTIVE && akm_core_ops_drain(&c))
		rv = akm_backend_op_init(c.be, fn, c.bs, mech, bkey);
	if (key_required)
		rv = akm_core_key_answer(&c, key, rv);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK) {
		if (c.stale & op)
			ops_fresh(&c, op);
		return rv;
	}
refused:
	akm_core_ops_end(&c, op, false); /* never began in the backend */
	return rv;
}

/* Refused arguments end the operation too (§5.2), here and in the backend. */
static CK_RV op_refuse(const akm_call *c, unsigned ops)
{
	akm_core_ops_end(c, ops, true);
	return CKR_ARGUMENTS_BAD;
}

/* After a call that was expected to end `ops` (already marked ended):
 * put them back if the backend kept them, and mark them stale if it ended
 * them with an error. */
static void op_ended(const akm_call *c, unsigned ops, CK_RV rv, const void *out)
{
	if (keeps_operation(rv, out))
		ops_resume(c, ops);
	else if (rv != CKR_OK)
		akm_core_ops_end(c, ops, true);
}

CK_RV akm_core_op_inout(CK_SESSION_HANDLE h, unsigned ops, CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out,
                        CK_ULONG *out_len, bool final, size_t fn)
{
	akm_call c;
	/* A final call with an output buffer almost always ends the operation,
	 * so it is marked ended with the session lookup.  A single-part call
	 * after an update is refused there, the operation left as it was. */
	bool end_now = final && out != NULL;
	CK_RV rv = akm_core_session_ops(h, &c, ops, 0, 0, 0, end_now ? ops : 0,
	                                final ? AKM_PARTS_SINGLE : AKM_PARTS_UPDATE);
	if (rv != CKR_OK)
		return rv;
	if ((in == NULL && in_len > 0) || out_len == NULL)
		return op_refuse(&c, ops);
	const akm_vendor_mechanism *v =
		(ops == AKM_OP_ENCRYPT || ops == AKM_OP_DECRYPT) ? akm_vendor_mechanism_find(c.op_mechanism) : NULL;
	if (v != NULL && v->crypt != NULL) {
		/* Single-part only: an update changes nothing (the operation
		 * stays as it was). */
		rv = final ? v->crypt(&c, c.op_key, ops, in, in_len, out, out_len) : CKR_FUNCTION_NOT_SUPPORTED;
	} else {
		rv = akm_backend_op_inout(c.be, fn, c.bs, in, in_len, out, out_len);
		rv = check_result(&c, ops, rv);
	}
	if (!final && rv == CKR_FUNCTION_NOT_SUPPORTED)
		ops_not_updated(&c, ops);
	if (end_now)
		op_ended(&c, ops, rv, out);
	else if (!keeps_operation(rv, out) && (final || rv != CKR_OK))
		akm_core_ops_end(&c, ops, rv != CKR_OK);
	return rv;
}

CK_RV akm_core_op_update(CK_SESSION_HANDLE h, unsigned op, CK_BYTE *part, CK_ULONG len, size_t fn)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, op, 0, 0, 0, 0, AKM_PARTS_UPDATE);
	if (rv != CKR_OK)
		return rv;
	if (part == NULL && len > 0)
		return op_refuse(&c, op);
	rv = akm_backend_op_in(c.be, fn, c.bs, part, len);
	if (rv == CKR_FUNCTION_NOT_SUPPORTED)
		ops_not_updated(&c, op);
	else if (rv != CKR_OK)
		akm_core_ops_end(&c, op, true);
	return rv;
}

CK_RV akm_core_op_final(CK_SESSION_HANDLE h, unsigned op, CK_BYTE *out, CK_ULONG *out_len, size_t fn)
{
	akm_call c;
	bool end_now = out != NULL;
	CK_RV rv = akm_core_session_ops(h, &c, op, 0, 0, 0, end_now ? op : 0, AKM_PARTS_ANY);
	if (rv != CKR_OK)
		return rv;
	if (out_len == NULL)
		return op_refuse(&c, op);
	const akm_vendor_mechanism *v =
		(op == AKM_OP_ENCRYPT || op == AKM_OP_DECRYPT) ? akm_vendor_mechanism_find(c.op_mechanism) : NULL;
	if (v != NULL && v->crypt != NULL) {
		if (end_now)
			ops_resume(&c, op); /* single-part only: the operation stays for C_Encrypt/C_Decrypt */
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	rv = akm_backend_op_out(c.be, fn, c.bs, out, out_len);
	rv = check_result(&c, op, rv);
	if (end_now)
		op_ended(&c, op, rv, out);
	else if (!keeps_operation(rv, out))
		akm_core_ops_end(&c, op, rv != CKR_OK);
	return rv;
}

/* C_Verify and C_VerifyFinal always end the operation. */
CK_RV akm_core_verify(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG data_len, CK_BYTE *sig, CK_ULONG sig_len)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_VERIFY, 0, 0, 0, AKM_OP_VERIFY, AKM_PARTS_SINGLE);
	if (rv != CKR_OK)
		return rv;
	if ((data == NULL && data_len > 0) || (sig == NULL && sig_len > 0))
		return op_refuse(&c, AKM_OP_VERIFY);
	rv = akm_backend_verify(c.be, c.bs, data, data_len, sig, sig_len);
	rv = check_result(&c, AKM_OP_VERIFY, rv);
	op_ended(&c, AKM_OP_VERIFY, rv, sig);
	return rv;
}

CK_RV akm_core_verify_final(CK_SESSION_HANDLE h, CK_BYTE *sig, CK_ULONG sig_len)
{
	akm_call c;
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_VERIFY, 0, 0, 0, AKM_OP_VERIFY, AKM_PARTS_ANY);
	if (rv != CKR_OK)
		return rv;
	if (sig == NULL && sig_len > 0)
		return op_refuse(&c, AKM_OP_VERIFY);
	rv = akm_backend_op_in(c.be, AKM_BACKEND_FN(C_VerifyFinal), c.bs, sig, sig_len);
	rv = check_result(&c, AKM_OP_VERIFY, rv);
	op_ended(&c, AKM_OP_VERIFY, rv, sig);
	return rv;
}

CK_RV akm_core_digest_key(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
	akm_call c;
	/* C_DigestKey is an update of the digest (§5.10). */
	CK_RV rv = akm_core_session_ops(h, &c, AKM_OP_DIGEST, 0, 0, 0, 0, AKM_PARTS_UPDATE);
	if (rv != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE bkey;
	if ((rv = akm_core_use_key(&c, key, AKM_USE_DIGEST, &bkey)) != CKR_OK) {
		akm_core_ops_end(&c, AKM_OP_DIGEST, true);
		return rv;
	}
	rv = akm_backend_digest_key(c.be, c.bs, bkey);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_FUNCTION_NOT_SUPPORTED)
		ops_not_updated(&c, AKM_OP_DIGEST);
	else if (rv != CKR_OK)
		akm_core_ops_end(&c, AKM_OP_DIGEST, true);
	return rv;
}

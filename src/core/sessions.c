/* Sessions: ours, each mapped to one backend session on its slot's token;
 * login state per token, as the specification has it (§5.6), tracked here
 * as well as by the backend. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/object.h"
#include "core/throttle.h"

CK_RV akm_core_session(CK_SESSION_HANDLE h, akm_call *c)
{
	return akm_core_session_ops(h, c, 0, 0, 0, 0, 0, AKM_PARTS_ANY);
}

CK_RV akm_core_session_ops(CK_SESSION_HANDLE h, akm_call *c, unsigned require, unsigned begin,
                           CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key, unsigned end, akm_parts parts)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	akm_mutex_lock(akm_core.lock);
	akm_session *s = akm_hmap_get(&akm_core.sessions, h);
	CK_RV rv = CKR_OK;
	if (s == NULL) {
		rv = CKR_SESSION_HANDLE_INVALID;
		goto out;
	}
	c->be = akm_core.backend;
	c->slot = s->slot;
	c->bslot = akm_core.slots[s->slot].backend_id;
	c->session = h;
	c->bs = s->backend;
	c->active = s->active;
	c->stale = s->stale;
	c->multipart = s->multipart;
	c->rw = s->rw;
	if (require) {
		c->op_mechanism = s->mechanism[__builtin_ctz(require)];
		c->op_key = s->key[__builtin_ctz(require)];
	}
	if ((s->active & require) != require) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if ((s->active & begin) || (parts == AKM_PARTS_SINGLE && (s->multipart & require))) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (parts == AKM_PARTS_UPDATE)
		s->multipart |= require;
	if (begin) {
		s->multipart &= ~begin;
		/* Stale stays until the backend accepted the Init: a lingering
		 * backend operation is what it would refuse with. */
		s->active |= begin;
		s->mechanism[__builtin_ctz(begin)] = mechanism;
		s->key[__builtin_ctz(begin)] = key;
	}
	s->active &= ~end;
out:
	akm_mutex_unlock(akm_core.lock);
	return rv;
}

CK_RV akm_core_open_session(const akm_call *slot, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
	CK_SESSION_HANDLE backend;
	CK_RV rv = akm_backend_open_session(slot->be, slot->bslot, flags, &backend);
	if (rv != CKR_OK)
		return rv;
	akm_session *s = calloc(1, sizeof *s);
	if (s == NULL) {
		akm_backend_close_session(slot->be, backend);
		return CKR_HOST_MEMORY;
	}
	s->backend = backend;
	s->rw = (flags & CKF_RW_SESSION) != 0;
	s->slot = slot->slot;
	akm_mutex_lock(akm_core.lock);
	s->handle = akm_core.next_session;
	rv = akm_hmap_put(&akm_core.sessions, s->handle, s);
	if (rv == CKR_OK) {
		akm_core.next_session++;
		akm_core.slots[s->slot].sessions++;
		*out = s->handle;
	}
	akm_mutex_unlock(akm_core.lock);
	if (rv != CKR_OK) {
		free(s);
		akm_backend_close_session(slot->be, backend);
	}
	return rv;
}

void akm_core_session_remove(CK_SESSION_HANDLE h)
{
	bool logged_out = false;
	uint32_t slot = 0;
	akm_mutex_lock(akm_core.lock);
	akm_session *s = akm_hmap_remove(&akm_core.sessions, h);
	if (s != NULL) {
		slot = s->slot;
		akm_handles_remove_owned(&akm_core.objects, h);
		if (--akm_core.slots[slot].sessions == 0) {
			logged_out = akm_core.slots[slot].login != AKM_NOT_LOGGED_IN;
			akm_core.slots[slot].login = AKM_NOT_LOGGED_IN;
		}
	}
	akm_mutex_unlock(akm_core.lock);
	/* The registry's own backend session would keep the token logged in:
	 * log out as the closing of the last session does (§5.6). */
	akm_relationships *rels = akm_core_slot_relationships(slot);
	if (logged_out && rels != NULL)
		akm_relationships_logout(rels);
	akm_core_session_free(s);
}

CK_RV akm_core_close_session(const akm_call *c)
{
	CK_RV rv = akm_backend_close_session(c->be, c->bs);
	/* A backend that already lost the session (e.g. its token went away)
	 * still leaves ours closed. */
	if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT) {
		akm_core_session_remove(c->session);
		rv = CKR_OK;
	}
	return rv;
}

CK_RV akm_core_close_all_sessions(const akm_call *slot)
{
	/* One by one: the backend's C_CloseAllSessions would also close
	 * sessions that other users of a shared backend own. */
	akm_mutex_lock(akm_core.lock);
	size_t cap = akm_core.sessions.count ? akm_core.sessions.count : 1, n = 0, cursor = 0;
	CK_SESSION_HANDLE *list = malloc(cap * sizeof *list);
	akm_session *s;
	if (list != NULL)
		while ((s = akm_hmap_next(&akm_core.sessions, &cursor, NULL)) != NULL)
			if (s->slot == slot->slot)
				list[n++] = s->handle;
	akm_mutex_unlock(akm_core.lock);
	if (list == NULL)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < n; i++) {
		akm_call c;
		if (akm_core_session(list[i], &c) == CKR_OK)
			akm_core_close_session(&c);
	}
	free(list);
	return CKR_OK;
}

CK_RV akm_core_session_info(const akm_call *c, CK_SESSION_INFO *info)
{
	CK_RV rv = akm_backend_session_info(c->be, c->bs, info);
	if (rv == CKR_OK)
		info->slotID = c->slot;
	return rv;
}

CK_RV akm_core_get_operation_state(const akm_call *c, CK_BYTE *state, CK_ULONG *len)
{
	return akm_backend_get_operation_state(c->be, c->bs, state, len);
}

CK_RV akm_core_set_operation_state(const akm_call *c, CK_BYTE *state, CK_ULONG len, CK_OBJECT_HANDLE enc_key,
                                   CK_OBJECT_HANDLE auth_key)
{
	CK_OBJECT_HANDLE enc = 0, auth = 0;
	if ((enc_key != 0 && akm_core_use_key(c, enc_key, AKM_USE_PLAIN, &enc) != CKR_OK) ||
	    (auth_key != 0 && akm_core_use_key(c, auth_key, AKM_USE_PLAIN, &auth) != CKR_OK))
		return CKR_KEY_HANDLE_INVALID;
	/* The restored state's operations are the backend's to know; ours
	 * start clean so that the backend's answers decide. */
	CK_RV rv = akm_backend_set_operation_state(c->be, c->bs, state, len, enc, auth);
	if (rv == CKR_OK)
		akm_core_ops_end(c, ~0u, true);
	return rv;
}

/* Whose PIN a login or C_SetPIN tries: the SO's, or the user's (a
 * context-specific login is the PIN of whoever is logged in). */
static akm_login_who pin_of(CK_USER_TYPE user, CK_USER_TYPE logged_in)
{
	if (user == CKU_CONTEXT_SPECIFIC)
		user = logged_in;
	return user == CKU_SO ? AKM_LOGIN_SO : AKM_LOGIN_USER;
}

CK_RV akm_core_login(const akm_call *c, CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG len)
{
	CK_USER_TYPE who = akm_core_login_state(c->slot);
	if (user != CKU_CONTEXT_SPECIFIC && who != AKM_NOT_LOGGED_IN)
		return who == user ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	/* Repeated wrong PINs: refused here, without asking the backend. */
	akm_throttle throttle;
	CK_RV rv = akm_throttle_begin(c->slot, pin_of(user, who), &throttle);
	if (rv != CKR_OK)
		return rv;
	rv = akm_backend_login(c->be, c->bs, user, pin, len);
	akm_throttle_end(&throttle, rv);
	/* ALREADY_LOGGED_IN from a backend shared with another user of this
	 * process: that login is ours too from now on. */
	bool in = rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN;
	if (in && user != CKU_CONTEXT_SPECIFIC)
		akm_core_set_login_state(c->slot, user);
	akm_relationships *rels = akm_core_relationships(c);
	if (rels != NULL) {
		/* The registry's keys open with the user's login; a wrong PIN is
		 * a breach signal. */
		if (in && user == CKU_USER) {
			/* A refused registry is a refused login: nothing is half
			 * usable, and the token's private objects (its keys among
			 * them) are out of reach again. */
			CK_RV refused = akm_relationships_login(rels);
			if (refused != CKR_OK) {
				akm_backend_logout(c->be, c->bs);
				akm_core_set_login_state(c->slot, AKM_NOT_LOGGED_IN);
				return refused;
			}
		} else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
			akm_relationships_event(rels, AKM_EVENT_LOGIN_FAILED, 0, rv,
			                        user == CKU_SO ? "security officer" : "user");
	}
	return rv;
}

CK_RV akm_core_logout(const akm_call *c)
{
	if (akm_core_login_state(c->slot) == AKM_NOT_LOGGED_IN)
		return CKR_USER_NOT_LOGGED_IN; /* §5.6: SoftHSM2 answers CKR_OK here */
	/* The registry records its state in the token first, while the
	 * token's private objects are still within reach; its logout is the
	 * token's (one login state per application). */
	akm_relationships *rels = akm_core_relationships(c);
	if (rels != NULL)
		akm_relationships_logout(rels);
	CK_RV rv = akm_backend_logout(c->be, c->bs);
	if (rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) {
		akm_core_set_login_state(c->slot, AKM_NOT_LOGGED_IN);
		rv = CKR_OK;
	}
	return rv;
}

CK_RV akm_core_init_pin(const akm_call *c, CK_UTF8CHAR *pin, CK_ULONG len)
{
	CK_RV rv = akm_backend_init_pin(c->be, c->bs, pin, len);
	/* The SO set the user PIN: its count and any lockout start again. */
	if (rv == CKR_OK)
		akm_throttle_reset(c->slot, true, false);
	return rv;
}

CK_RV akm_core_set_pin(const akm_call *c, CK_UTF8CHAR *old_pin, CK_ULONG old_len, CK_UTF8CHAR *new_pin,
                       CK_ULONG new_len)
{
	/* The old PIN is a PIN tried like a login's: throttled and counted
	 * (the user's PIN in a public or user session, the SO's in an SO's). */
	CK_USER_TYPE who = akm_core_login_state(c->slot);
	akm_login_who pin = pin_of(who, who);
	akm_throttle throttle;
	CK_RV rv = akm_throttle_begin(c->slot, pin, &throttle);
	if (rv != CKR_OK)
		return rv;
	rv = akm_backend_set_pin(c->be, c->bs, old_pin, old_len, new_pin, new_len);
	akm_throttle_end(&throttle, rv);
	akm_relationships *rels = akm_core_relationships(c);
	if (rels != NULL && rv == CKR_PIN_INCORRECT)
		akm_relationships_event(rels, AKM_EVENT_LOGIN_FAILED, 0, rv, pin == AKM_LOGIN_SO ? "security officer" : "user");
	return rv;
}

/*
 * fault-backend.so: a thin fault-injecting PKCS#11 wrapper around the real
 * SoftHSM2, for tests only.  The contract (how to load it, what it counts,
 * what it tracks, how faults are armed) is in fault-backend.h.
 *
 * Every entry point is the same few lines: count the call, fail it if a
 * fault is armed (without reaching SoftHSM2), else forward it unchanged.
 * The handful that create or end objects and sessions also update the
 * tables after SoftHSM2 answered.  Nothing else is faked.
 */
#include "fault-backend.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_EXPORT __attribute__((visibility("default")))

/* Every function of CK_FUNCTION_LIST (v2.40), in its order. */
#define FAULT_FUNCTIONS(X)                                                                         \
	X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetFunctionList) X(C_GetSlotList)           \
	X(C_GetSlotInfo) X(C_GetTokenInfo) X(C_GetMechanismList) X(C_GetMechanismInfo)             \
	X(C_InitToken) X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)                 \
	X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState)    \
	X(C_Login) X(C_Logout) X(C_CreateObject) X(C_CopyObject) X(C_DestroyObject)                \
	X(C_GetObjectSize) X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit)      \
	X(C_FindObjects) X(C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate)    \
	X(C_EncryptFinal) X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal)       \
	X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal)              \
	X(C_SignInit) X(C_Sign) X(C_SignUpdate) X(C_SignFinal) X(C_SignRecoverInit)                \
	X(C_SignRecover) X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)            \
	X(C_VerifyRecoverInit) X(C_VerifyRecover) X(C_DigestEncryptUpdate)                         \
	X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey)  \
	X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) X(C_SeedRandom)           \
	X(C_GenerateRandom) X(C_GetFunctionStatus) X(C_CancelFunction) X(C_WaitForSlotEvent)

enum {
#define FAULT_ENUM(name) FN_##name,
	FAULT_FUNCTIONS(FAULT_ENUM)
#undef FAULT_ENUM
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define FAULT_NAME(name) #name,
	FAULT_FUNCTIONS(FAULT_NAME)
#undef FAULT_NAME
};

typedef struct fault {
	bool armed, every;
	unsigned long countdown; /* calls left until the failing one (1: the next) */
	CK_RV rv;
} fault;

typedef struct tracked_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
} tracked_session;

typedef struct tracked_object {
	CK_OBJECT_HANDLE handle;
	CK_SESSION_HANDLE session; /* the session that created it */
	CK_SLOT_ID slot;
	bool token, private_;
} tracked_object;

static struct {
	pthread_mutex_t lock;
	void *dl;
	CK_FUNCTION_LIST *real;
	unsigned long calls[FN_COUNT], fired[FN_COUNT];
	fault faults[FN_COUNT];
	tracked_session *sessions; /* in the order they were opened */
	size_t nsessions, session_cap;
	tracked_object *objects;
	size_t nobjects, object_cap;
} w = {.lock = PTHREAD_MUTEX_INITIALIZER};

static CK_FUNCTION_LIST wrapper_list; /* defined at the end */

static int fn_index(const char *name)
{
	for (int i = 0; name != NULL && i < FN_COUNT; i++)
		if (strcmp(fn_names[i], name) == 0)
			return i;
	return -1;
}

/* Counts a call; true (with *rv) when it is to fail. */
static bool fault_hit(int fn, CK_RV *rv)
{
	bool fail = false;
	pthread_mutex_lock(&w.lock);
	w.calls[fn]++;
	fault *f = &w.faults[fn];
	if (f->armed && (f->every || --f->countdown == 0)) {
		fail = true;
		*rv = f->rv;
		w.fired[fn]++;
		if (!f->every)
			f->armed = false;
	}
	pthread_mutex_unlock(&w.lock);
	return fail;
}

/* ---- the tables (lock held) ---------------------------------------------- */

static void *grow(void *array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return array;
	size_t cap2 = *cap ? *cap * 2 : 64;
	while (cap2 < need)
		cap2 *= 2;
	void *bigger = realloc(array, cap2 * elem);
	if (bigger != NULL)
		*cap = cap2;
	return bigger;
}

static void session_add_inlock(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	tracked_session *s = grow(w.sessions, &w.session_cap, w.nsessions + 1, sizeof *s);
	if (s == NULL)
		abort(); /* a test helper out of memory: nothing sensible to do */
	w.sessions = s;
	w.sessions[w.nsessions++] = (tracked_session){h, slot};
}

static bool slot_has_sessions_inlock(CK_SLOT_ID slot)
{
	for (size_t i = 0; i < w.nsessions; i++)
		if (w.sessions[i].slot == slot)
			return true;
	return false;
}

/* Forgets the objects for which `gone` says so (order kept: cheap enough). */
typedef bool (*object_filter)(const tracked_object *o, CK_ULONG arg);

static void objects_forget_inlock(object_filter gone, CK_ULONG arg)
{
	size_t k = 0;
	for (size_t i = 0; i < w.nobjects; i++)
		if (!gone(&w.objects[i], arg))
			w.objects[k++] = w.objects[i];
	w.nobjects = k;
}

static bool of_session(const tracked_object *o, CK_ULONG session)
{
	return !o->token && o->session == session;
}

static bool private_of_slot(const tracked_object *o, CK_ULONG slot)
{
	return o->private_ && o->slot == slot;
}

static bool token_of_slot(const tracked_object *o, CK_ULONG slot)
{
	return o->token && o->slot == slot;
}

static bool the_handle(const tracked_object *o, CK_ULONG handle)
{
	return o->handle == handle;
}

/* A session ended at SoftHSM2: its session objects went with it, and when
 * it was the slot's last one the token logged out (PKCS#11 v2.40 §5.6). */
static void session_gone_inlock(CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < w.nsessions; i++) {
		if (w.sessions[i].handle != h)
			continue;
		CK_SLOT_ID slot = w.sessions[i].slot;
		memmove(&w.sessions[i], &w.sessions[i + 1], (w.nsessions - i - 1) * sizeof *w.sessions);
		w.nsessions--;
		objects_forget_inlock(of_session, h);
		if (!slot_has_sessions_inlock(slot))
			objects_forget_inlock(private_of_slot, slot);
		return;
	}
}

static bool session_slot_inlock(CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	for (size_t i = 0; i < w.nsessions; i++)
		if (w.sessions[i].handle == h) {
			*slot = w.sessions[i].slot;
			return true;
		}
	return false;
}

/* A new object: whether it is a token object and a private one is read
 * from SoftHSM2 itself (defaults differ by class), outside the lock. */
static void object_created(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE h)
{
	CK_BBOOL token = CK_FALSE, priv = CK_FALSE;
	CK_ATTRIBUTE a[] = {{CKA_TOKEN, &token, sizeof token}, {CKA_PRIVATE, &priv, sizeof priv}};
	if (w.real->C_GetAttributeValue(session, h, a, 2) != CKR_OK) {
		if (a[0].ulValueLen != sizeof token)
			token = CK_FALSE;
		if (a[1].ulValueLen != sizeof priv)
			priv = CK_FALSE;
	}
	pthread_mutex_lock(&w.lock);
	CK_SLOT_ID slot = 0;
	session_slot_inlock(session, &slot);
	tracked_object *o = grow(w.objects, &w.object_cap, w.nobjects + 1, sizeof *o);
	if (o == NULL)
		abort();
	w.objects = o;
	w.objects[w.nobjects++] = (tracked_object){h, session, slot, token == CK_TRUE, priv == CK_TRUE};
	pthread_mutex_unlock(&w.lock);
}

/* ---- entry points: counted, maybe failed, forwarded ------------------------ */

#define FAULT_CHECK(name)                            \
	do {                                         \
		CK_RV injected_;                     \
		if (fault_hit(FN_##name, &injected_)) \
			return injected_;            \
	} while (0)

#define FORWARD(name, params, args)          \
	static CK_RV fw_##name params        \
	{                                    \
		FAULT_CHECK(name);           \
		return w.real->name args;    \
	}

static CK_RV fw_C_Initialize(CK_VOID_PTR init_args)
{
	FAULT_CHECK(C_Initialize);
	return w.real->C_Initialize(init_args);
}

static CK_RV fw_C_Finalize(CK_VOID_PTR reserved)
{
	FAULT_CHECK(C_Finalize);
	CK_RV rv = w.real->C_Finalize(reserved);
	if (rv == CKR_OK) {
		/* Every session and handle of this initialisation is gone. */
		pthread_mutex_lock(&w.lock);
		w.nsessions = 0;
		w.nobjects = 0;
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

FORWARD(C_GetInfo, (CK_INFO_PTR info), (info))
FORWARD(C_GetSlotList, (CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count), (present, list, count))
FORWARD(C_GetSlotInfo, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info), (slot, info))
FORWARD(C_GetTokenInfo, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info), (slot, info))
FORWARD(C_GetMechanismList, (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),
        (slot, list, count))
FORWARD(C_GetMechanismInfo, (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info),
        (slot, type, info))
FORWARD(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG len), (s, pin, len))
FORWARD(C_SetPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old, CK_ULONG old_len, CK_UTF8CHAR_PTR pin, CK_ULONG len),
        (s, old, old_len, pin, len))
FORWARD(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info), (s, info))
FORWARD(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR len), (s, state, len))
FORWARD(C_SetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG len, CK_OBJECT_HANDLE enc,
                              CK_OBJECT_HANDLE auth),
        (s, state, len, enc, auth))
FORWARD(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len), (s, user, pin, len))
FORWARD(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR size), (s, o, size))
FORWARD(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))
FORWARD(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))
FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))
FORWARD(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR n),
        (s, out, max, n))
FORWARD(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
FORWARD(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_EncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                          CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (s, out, out_len))
FORWARD(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_DecryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                          CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (s, out, out_len))
FORWARD(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))
FORWARD(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
FORWARD(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k), (s, k))
FORWARD(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (s, out, out_len))
FORWARD(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_Sign, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
FORWARD(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (s, out, out_len))
FORWARD(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_SignRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                        CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len),
        (s, in, in_len, sig, sig_len))
FORWARD(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
FORWARD(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len), (s, sig, sig_len))
FORWARD(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FORWARD(C_VerifyRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len, CK_BYTE_PTR out,
                          CK_ULONG_PTR out_len),
        (s, sig, sig_len, out, out_len))
FORWARD(C_DigestEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_DecryptDigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_SignEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                              CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len),
        (s, in, in_len, out, out_len))
FORWARD(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE k,
                    CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (s, m, wrapping, k, out, out_len))
FORWARD(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR seed, CK_ULONG len), (s, seed, len))
FORWARD(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len), (s, out, len))
FORWARD(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))
FORWARD(C_CancelFunction, (CK_SESSION_HANDLE s), (s))
FORWARD(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved), (flags, slot, reserved))

/* Sessions and logout: the tables follow what SoftHSM2 did. */

static CK_RV fw_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	FAULT_CHECK(C_InitToken);
	CK_RV rv = w.real->C_InitToken(slot, pin, len, label);
	if (rv == CKR_OK) { /* the token's objects are gone */
		pthread_mutex_lock(&w.lock);
		objects_forget_inlock(token_of_slot, slot);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

static CK_RV fw_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                              CK_SESSION_HANDLE_PTR session)
{
	FAULT_CHECK(C_OpenSession);
	CK_RV rv = w.real->C_OpenSession(slot, flags, app, notify, session);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		session_add_inlock(*session, slot);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

static CK_RV fw_C_CloseSession(CK_SESSION_HANDLE s)
{
	FAULT_CHECK(C_CloseSession);
	CK_RV rv = w.real->C_CloseSession(s);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		session_gone_inlock(s);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

static CK_RV fw_C_CloseAllSessions(CK_SLOT_ID slot)
{
	FAULT_CHECK(C_CloseAllSessions);
	CK_RV rv = w.real->C_CloseAllSessions(slot);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		for (size_t i = w.nsessions; i-- > 0;)
			if (w.sessions[i].slot == slot)
				session_gone_inlock(w.sessions[i].handle);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

static CK_RV fw_C_Logout(CK_SESSION_HANDLE s)
{
	FAULT_CHECK(C_Logout);
	CK_RV rv = w.real->C_Logout(s);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		CK_SLOT_ID slot;
		if (session_slot_inlock(s, &slot))
			objects_forget_inlock(private_of_slot, slot);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

/* Objects made and destroyed. */

static CK_RV fw_C_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR h)
{
	FAULT_CHECK(C_CreateObject);
	CK_RV rv = w.real->C_CreateObject(s, t, n, h);
	if (rv == CKR_OK)
		object_created(s, *h);
	return rv;
}

static CK_RV fw_C_CopyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                             CK_OBJECT_HANDLE_PTR h)
{
	FAULT_CHECK(C_CopyObject);
	CK_RV rv = w.real->C_CopyObject(s, o, t, n, h);
	if (rv == CKR_OK)
		object_created(s, *h);
	return rv;
}

static CK_RV fw_C_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
	FAULT_CHECK(C_DestroyObject);
	CK_RV rv = w.real->C_DestroyObject(s, o);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		objects_forget_inlock(the_handle, o);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

static CK_RV fw_C_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                              CK_OBJECT_HANDLE_PTR h)
{
	FAULT_CHECK(C_GenerateKey);
	CK_RV rv = w.real->C_GenerateKey(s, m, t, n, h);
	if (rv == CKR_OK)
		object_created(s, *h);
	return rv;
}

static CK_RV fw_C_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub_t,
                                  CK_ULONG pub_n, CK_ATTRIBUTE_PTR priv_t, CK_ULONG priv_n,
                                  CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	FAULT_CHECK(C_GenerateKeyPair);
	CK_RV rv = w.real->C_GenerateKeyPair(s, m, pub_t, pub_n, priv_t, priv_n, pub, priv);
	if (rv == CKR_OK) {
		object_created(s, *pub);
		object_created(s, *priv);
	}
	return rv;
}

static CK_RV fw_C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping,
                            CK_BYTE_PTR wrapped, CK_ULONG wrapped_len, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                            CK_OBJECT_HANDLE_PTR h)
{
	FAULT_CHECK(C_UnwrapKey);
	CK_RV rv = w.real->C_UnwrapKey(s, m, unwrapping, wrapped, wrapped_len, t, n, h);
	if (rv == CKR_OK)
		object_created(s, *h);
	return rv;
}

static CK_RV fw_C_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR t,
                            CK_ULONG n, CK_OBJECT_HANDLE_PTR h)
{
	FAULT_CHECK(C_DeriveKey);
	CK_RV rv = w.real->C_DeriveKey(s, m, base, t, n, h);
	/* Mechanisms that return their keys in the parameter (SSL3/TLS key
	 * and MAC derivation) leave *h alone; akm-pkcs11 refuses them. */
	if (rv == CKR_OK && h != NULL)
		object_created(s, *h);
	return rv;
}

/* ---- the module's entry ------------------------------------------------------ */

static CK_RV load_real(void)
{
	CK_RV rv = CKR_OK;
	pthread_mutex_lock(&w.lock);
	if (w.real == NULL) {
		const char *path = getenv("AKM_TEST_SOFTHSM");
		CK_C_GetFunctionList get = NULL;
		/* Never closed: SoftHSM2 registers exit handlers. */
		w.dl = path != NULL && *path != '\0' ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		if (w.dl != NULL)
			*(void **)&get = dlsym(w.dl, "C_GetFunctionList");
		if (get == NULL || get(&w.real) != CKR_OK || w.real == NULL) {
			fprintf(stderr, "fault-backend: cannot load the real backend $AKM_TEST_SOFTHSM (%s): %s\n",
			        path ? path : "unset", w.dl == NULL ? dlerror() : "no function list");
			w.real = NULL;
			rv = CKR_GENERAL_ERROR;
		}
	}
	pthread_mutex_unlock(&w.lock);
	return rv;
}

FAULT_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	pthread_mutex_lock(&w.lock);
	w.calls[FN_C_GetFunctionList]++;
	pthread_mutex_unlock(&w.lock);
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = load_real();
	if (rv == CKR_OK)
		*list = &wrapper_list;
	return rv;
}

static CK_FUNCTION_LIST wrapper_list = {
	.version = {2, 40},
#define FAULT_ENTRY(name) .name = fw_##name,
	/* C_GetFunctionList is the exported one, not a fw_ wrapper. */
#define fw_C_GetFunctionList C_GetFunctionList
	FAULT_FUNCTIONS(FAULT_ENTRY)
#undef fw_C_GetFunctionList
#undef FAULT_ENTRY
};

/* ---- the control interface --------------------------------------------------- */

FAULT_EXPORT int fault_arm(const char *function, unsigned long nth, CK_RV rv)
{
	int fn = fn_index(function);
	if (fn < 0)
		return -1;
	pthread_mutex_lock(&w.lock);
	w.faults[fn] = (fault){true, nth == FAULT_EVERY, nth, rv};
	pthread_mutex_unlock(&w.lock);
	return 0;
}

FAULT_EXPORT int fault_disarm(const char *function)
{
	int fn = fn_index(function);
	if (fn < 0)
		return -1;
	pthread_mutex_lock(&w.lock);
	w.faults[fn].armed = false;
	pthread_mutex_unlock(&w.lock);
	return 0;
}

FAULT_EXPORT void fault_disarm_all(void)
{
	pthread_mutex_lock(&w.lock);
	for (int i = 0; i < FN_COUNT; i++)
		w.faults[i].armed = false;
	pthread_mutex_unlock(&w.lock);
}

static unsigned long counter_of(const unsigned long *counters, const char *function)
{
	int fn = fn_index(function);
	if (fn < 0)
		return 0;
	pthread_mutex_lock(&w.lock);
	unsigned long n = counters[fn];
	pthread_mutex_unlock(&w.lock);
	return n;
}

FAULT_EXPORT unsigned long fault_calls(const char *function)
{
	return counter_of(w.calls, function);
}

FAULT_EXPORT unsigned long fault_fired(const char *function)
{
	return counter_of(w.fired, function);
}

FAULT_EXPORT void fault_reset_counts(void)
{
	pthread_mutex_lock(&w.lock);
	memset(w.calls, 0, sizeof w.calls);
	memset(w.fired, 0, sizeof w.fired);
	pthread_mutex_unlock(&w.lock);
}

FAULT_EXPORT unsigned long fault_live_objects(void)
{
	unsigned long n = 0;
	pthread_mutex_lock(&w.lock);
	for (size_t i = 0; i < w.nobjects; i++)
		n += !w.objects[i].token;
	pthread_mutex_unlock(&w.lock);
	return n;
}

FAULT_EXPORT unsigned long fault_live_token_handles(void)
{
	unsigned long n = 0;
	pthread_mutex_lock(&w.lock);
	for (size_t i = 0; i < w.nobjects; i++)
		n += w.objects[i].token;
	pthread_mutex_unlock(&w.lock);
	return n;
}

FAULT_EXPORT unsigned long fault_sessions(CK_SESSION_HANDLE *out, unsigned long max)
{
	pthread_mutex_lock(&w.lock);
	unsigned long n = (unsigned long)w.nsessions;
	for (unsigned long i = 0; out != NULL && i < n && i < max; i++)
		out[i] = w.sessions[i].handle;
	pthread_mutex_unlock(&w.lock);
	return n;
}

FAULT_EXPORT CK_RV fault_kill_session(CK_SESSION_HANDLE session)
{
	if (w.real == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_RV rv = w.real->C_CloseSession(session);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&w.lock);
		session_gone_inlock(session);
		pthread_mutex_unlock(&w.lock);
	}
	return rv;
}

FAULT_EXPORT unsigned long fault_kill_sessions(void)
{
	unsigned long closed = 0;
	for (;;) {
		CK_SESSION_HANDLE s;
		if (fault_sessions(&s, 1) == 0)
			break;
		if (fault_kill_session(s) == CKR_OK) {
			closed++;
		} else { /* SoftHSM2 no longer has it: forget it all the same */
			pthread_mutex_lock(&w.lock);
			session_gone_inlock(s);
			pthread_mutex_unlock(&w.lock);
		}
	}
	return closed;
}

FAULT_EXPORT CK_FUNCTION_LIST *fault_real_functions(void)
{
	return load_real() == CKR_OK ? w.real : NULL;
}

/*
 * fault-backend.so: the one fake of the test suite (STYLE.md habit 11), a
 * thin PKCS#11 wrapper module that forwards every call to the real SoftHSM2
 * and fails chosen calls on command, so that tests can see what akm-pkcs11
 * does when its backend fails in the middle of an operation.
 *
 * How it is used
 *   A test configures akm-pkcs11 with `backend.module = <fault-backend.so>`
 *   (the path is in $AKM_TEST_FAULT_BACKEND) and loads the wrapper itself
 *   with fault_ctl_load() below.  p11-kit loads backends with a plain
 *   dlopen in the same process, so the test and the module share one
 *   instance of the wrapper: the control functions below act on the
 *   backend the module is using.  The wrapper loads the real module named
 *   by $AKM_TEST_SOFTHSM (dlopen, never closed) the first time its
 *   C_GetFunctionList is called.
 *
 * What it does with a call
 *   Every C_* of PKCS#11 v2.40 (all 68 of CK_FUNCTION_LIST) is counted,
 *   then either failed with the armed code -- without reaching SoftHSM2, so
 *   a failed call changes nothing in the token -- or forwarded unchanged.
 *
 * What it keeps track of (for leak checks)
 *   - Open backend sessions, in the order they were opened (the module opens
 *     its own registry session at C_Initialize, before any application
 *     session).
 *   - Objects created through it: the handles returned by C_CreateObject,
 *     C_CopyObject, C_GenerateKey, C_GenerateKeyPair, C_UnwrapKey and
 *     C_DeriveKey, with their session, slot, CKA_TOKEN and CKA_PRIVATE (read
 *     from SoftHSM2 after the call).  A handle is forgotten when it stops
 *     naming an object or stops being valid: C_DestroyObject of it;
 *     C_CloseSession / C_CloseAllSessions / fault_kill_session* of its
 *     session (session objects); C_Logout, or the slot's last session
 *     closing, for private objects (PKCS#11 v2.40 §5.6: private session
 *     objects are destroyed and handles to private objects become invalid);
 *     C_InitToken for the token's objects; C_Finalize for everything.
 *   - fault_live_objects() counts the session objects still alive: the
 *     number a test compares before and after a failure to show that
 *     nothing was left behind.  Token objects persist by design (the KEK,
 *     the registry counter) and are counted apart, by live handle.
 *
 * Thread-safe: one mutex around the tables and counters; it is never held
 * across a call into SoftHSM2.
 */
#ifndef AKM_FAULT_BACKEND_H
#define AKM_FAULT_BACKEND_H

#include <dlfcn.h>
#include <stdio.h>
#include <p11-kit/pkcs11.h>

/* fault_arm's `nth` for "fail every call until disarmed". */
#define FAULT_EVERY 0UL

/* The control interface, exported by fault-backend.so.  `function` is a
 * PKCS#11 name such as "C_UnwrapKey". */

/* Fails the nth call of `function` from now (1: the next one; the calls
 * before it are forwarded) with `rv`, once; or, with FAULT_EVERY, every
 * call until disarmed.  Replaces a fault already armed on that function.
 * Returns 0, or -1 for an unknown name. */
int fault_arm(const char *function, unsigned long nth, CK_RV rv);
int fault_disarm(const char *function);
void fault_disarm_all(void);
/* Calls of `function` (failed ones included), and failures injected into
 * it, since the wrapper was loaded or fault_reset_counts(). */
unsigned long fault_calls(const char *function);
unsigned long fault_fired(const char *function);
void fault_reset_counts(void);
/* Session objects created through the wrapper that still exist. */
unsigned long fault_live_objects(void);
/* Handles of token objects created through the wrapper that are still
 * valid (this initialisation, this login for private ones). */
unsigned long fault_live_token_handles(void);
/* Copies up to max open backend sessions, oldest first, into out (may be
 * NULL); returns how many are open. */
unsigned long fault_sessions(CK_SESSION_HANDLE *out, unsigned long max);
/* Really closes a backend session at SoftHSM2, behind its user's back:
 * later calls on it get CKR_SESSION_HANDLE_INVALID from SoftHSM2, its
 * session objects are gone, and when it was the slot's last session the
 * token is logged out.  Returns SoftHSM2's answer. */
CK_RV fault_kill_session(CK_SESSION_HANDLE session);
/* The same for every open backend session; returns how many were closed. */
unsigned long fault_kill_sessions(void);
/* SoftHSM2's own function list (NULL before the wrapper was asked for
 * its own): calls through it are neither counted nor failed nor tracked. */
CK_FUNCTION_LIST *fault_real_functions(void);

/* ---- for tests: the control interface through dlsym ------------------- */

typedef struct fault_ctl {
	void *dl;
	int (*arm)(const char *, unsigned long, CK_RV);
	int (*disarm)(const char *);
	void (*disarm_all)(void);
	unsigned long (*calls)(const char *);
	unsigned long (*fired)(const char *);
	void (*reset_counts)(void);
	unsigned long (*live_objects)(void);
	unsigned long (*live_token_handles)(void);
	unsigned long (*sessions)(CK_SESSION_HANDLE *, unsigned long);
	CK_RV (*kill_session)(CK_SESSION_HANDLE);
	unsigned long (*kill_sessions)(void);
	CK_FUNCTION_LIST *(*real_functions)(void);
} fault_ctl;

/* dlopens the wrapper at `path` (the instance akm-pkcs11 loads too) and
 * resolves the control functions.  Returns 0, or -1 with a message. */
static inline int fault_ctl_load(fault_ctl *c, const char *path)
{
	c->dl = path != NULL ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
	if (c->dl == NULL) {
		fprintf(stderr, "fault-backend: cannot load %s: %s\n", path ? path : "(no path)", dlerror());
		return -1;
	}
#define FAULT_CTL_SYM(field, name)                                                     \
	do {                                                                           \
		*(void **)&c->field = dlsym(c->dl, name);                              \
		if (c->field == NULL) {                                                \
			fprintf(stderr, "fault-backend: %s has no %s\n", path, name); \
			return -1;                                                     \
		}                                                                      \
	} while (0)
	FAULT_CTL_SYM(arm, "fault_arm");
	FAULT_CTL_SYM(disarm, "fault_disarm");
	FAULT_CTL_SYM(disarm_all, "fault_disarm_all");
	FAULT_CTL_SYM(calls, "fault_calls");
	FAULT_CTL_SYM(fired, "fault_fired");
	FAULT_CTL_SYM(reset_counts, "fault_reset_counts");
	FAULT_CTL_SYM(live_objects, "fault_live_objects");
	FAULT_CTL_SYM(live_token_handles, "fault_live_token_handles");
	FAULT_CTL_SYM(sessions, "fault_sessions");
	FAULT_CTL_SYM(kill_session, "fault_kill_session");
	FAULT_CTL_SYM(kill_sessions, "fault_kill_sessions");
	FAULT_CTL_SYM(real_functions, "fault_real_functions");
#undef FAULT_CTL_SYM
	return 0;
}

#endif

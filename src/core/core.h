/*
 * The token core: module state, slots (the selected backend tokens), our
 * sessions mapped to backend sessions, the object handle table, login state
 * and per-session operation state.
 *
 * Lock order (outer first): init_lock (C_Initialize/C_Finalize/exit/fork
 * only) > table lock (sessions, handles, slot login state).  The table lock
 * is held only for table lookups and updates, never across a backend call,
 * so a slow HSM operation in one thread never blocks another thread.
 */
#ifndef AKM_CORE_H
#define AKM_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "akm/relationships.h"

/* Operations a session can have active (PKCS#11 v2.40 §5.8–5.13). */
enum akm_op {
	AKM_OP_FIND = 1u << 0,
	AKM_OP_ENCRYPT = 1u << 1,
	AKM_OP_DECRYPT = 1u << 2,
	AKM_OP_DIGEST = 1u << 3,
	AKM_OP_SIGN = 1u << 4,
	AKM_OP_VERIFY = 1u << 5,
	AKM_OP_SIGN_RECOVER = 1u << 6,
	AKM_OP_VERIFY_RECOVER = 1u << 7,
};

#define AKM_NOT_LOGGED_IN ((CK_USER_TYPE)-1)

/* What one call needs to reach the backend, resolved under the lock. */
typedef struct akm_call {
	CK_FUNCTION_LIST *be;  /* backend function list */
	uint32_t slot;         /* our slot index == our CK_SLOT_ID */
	CK_SLOT_ID bslot;      /* backend slot id */
	CK_SESSION_HANDLE session; /* ours (0 for slot-level calls) */
	CK_SESSION_HANDLE bs;      /* backend session */
	unsigned active;           /* the session's active operations when resolved */
	unsigned stale;            /* ... and those that may linger in the backend */
	bool rw;                   /* a read/write session */
} akm_call;

/* A search in progress: the template (owned by the session), and where it
 * stands in the backend's objects and then in the registry's. */
typedef struct akm_find_state {
	CK_ATTRIBUTE *tmpl;
	CK_ULONG count;
	bool backend;   /* backend search still running */
	bool registry;  /* registry search still to run or running */
	int64_t cursor; /* last registry key id (or audit sequence number) returned */
	bool audit;     /* a search of the audit records (CKO_AKM_AUDIT_RECORD) */
} akm_find_state;

/* Module life cycle.  `args` has already been checked by the entry layer. */
CK_RV akm_core_initialize(const CK_C_INITIALIZE_ARGS *args);
CK_RV akm_core_finalize(void);
bool akm_core_initialized(void);

/* Slots. */
CK_RV akm_core_slot_list(CK_SLOT_ID *list, CK_ULONG *count);
CK_RV akm_core_slot(CK_SLOT_ID id, akm_call *c);
bool akm_core_slot_has_sessions(uint32_t slot);
/* After C_InitToken: finds the token again by its new label (SoftHSM2 moves
 * re-initialised tokens to a new slot id) and forgets its old objects. */
void akm_core_slot_reinitialised(uint32_t slot, const CK_UTF8CHAR label[32]);

/* C_InitToken on the registry's token: the registry lets go of its backend
 * session first (no session may be open) and opens again afterwards. */
void akm_core_registry_release(uint32_t slot);
CK_RV akm_core_registry_reopen(uint32_t slot);

/* Sessions. */
CK_RV akm_core_session(CK_SESSION_HANDLE h, akm_call *c);
CK_RV akm_core_session_add(const akm_call *slot_call, CK_SESSION_HANDLE backend, bool rw,
                           CK_SESSION_HANDLE *out);
/* Forgets our session (after the backend closed it) and its session objects;
 * logs the slot out when it was the slot's last session (§5.6). */
void akm_core_session_remove(CK_SESSION_HANDLE h);

/* The relationships of the call's slot (the registry lives on the first
 * slot), or NULL. */
akm_relationships *akm_core_relationships(const akm_call *c);
/* Our sessions on a slot, for C_CloseAllSessions; caller frees *out. */
CK_RV akm_core_slot_sessions(uint32_t slot, CK_SESSION_HANDLE **out, size_t *n);

/* Login state of a slot (per application, §6.7). */
CK_USER_TYPE akm_core_login_state(uint32_t slot);
void akm_core_set_login_state(uint32_t slot, CK_USER_TYPE who);

/* Operation state of the call's session: c->active, read when the session
 * was resolved (PKCS#11 leaves concurrent use of one session to the
 * application to serialise). */
/* Marks ops active, or ended; `stale` marks ended ops that the backend may
 * still consider active (ended by an error or refused by us). */
void akm_core_ops_end(const akm_call *c, unsigned ops, bool stale);
/* The mechanism and key (ours) the active `op` (one bit) was initialised with. */
void akm_core_op_info(const akm_call *c, unsigned op, CK_MECHANISM_TYPE *mechanism,
                      CK_OBJECT_HANDLE *key);

/* The session's search (C_FindObjects*).  start takes ownership of
 * st->tmpl; load copies the state (the template stays the session's);
 * end frees it. */
void akm_core_find_start(const akm_call *c, const akm_find_state *st);
bool akm_core_find_load(const akm_call *c, akm_find_state *st);
void akm_core_find_save(const akm_call *c, const akm_find_state *st);
void akm_core_find_end(const akm_call *c);
/* Resolves the session and, in the same critical section, updates its
 * operations: every op in `require` must be active (else
 * CKR_OPERATION_NOT_INITIALIZED), no op in `begin` may be (else
 * CKR_OPERATION_ACTIVE); `begin` ops become active with `mechanism` and
 * `key`, `end` ops inactive.  c->active is the state before the change.  One
 * lock round trip where a lookup and an update would take two: the calls of
 * an operation are the module's hot path. */
CK_RV akm_core_session_ops(CK_SESSION_HANDLE h, akm_call *c, unsigned require, unsigned begin,
                           CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key, unsigned end);
/* Makes ended ops active again (the backend kept them: CKR_BUFFER_TOO_SMALL). */
void akm_core_ops_resume(const akm_call *c, unsigned ops);
/* The backend began `ops` afresh: nothing of them lingers any more. */
void akm_core_ops_fresh(const akm_call *c, unsigned ops);
/* Returns and clears the stale set. */
unsigned akm_core_ops_take_stale(const akm_call *c);

/* Objects. */
CK_RV akm_core_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE *backend);
CK_RV akm_core_object_add(const akm_call *c, CK_OBJECT_HANDLE backend, bool session_object,
                          CK_OBJECT_HANDLE *out);
void akm_core_object_remove(CK_OBJECT_HANDLE h);
/* Replaces backend handles by ours in place (C_FindObjects results). */
CK_RV akm_core_objects_translate(const akm_call *c, CK_OBJECT_HANDLE *handles, CK_ULONG n);

#endif

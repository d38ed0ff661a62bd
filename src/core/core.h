/*
 * The token core: the PKCS#11 token model behind the entry points.
 *
 *   module.c      module state: C_Initialize/C_Finalize, fork, exit
 *   slots.c       slots (the selected backend tokens), token information,
 *                 re-initialisation, login state
 *   sessions.c    our sessions mapped to backend sessions, login, PINs
 *   operations.c  per-session operation state and the calls of an
 *                 operation (encrypt ... verify-recover)
 *   objects.c     object handles and the per-class dispatch of every
 *                 object call; find.c: searches
 *   keys.c        key generation, wrapping, unwrapping, derivation, random
 *   mechanisms.c  the mechanism list, and the vendor mechanisms in one table
 *   object.h      the object classes: class_backend.c (pass-through),
 *                 class_relationship.c (relationship keys),
 *                 class_audit.c (audit records)
 *
 * Every function here is called by one entry point after it checked its
 * arguments (src/module/); each resolves what it needs under the table
 * lock and calls the backend or the akm layer without holding it.
 *
 * Lock order (outer first): init_lock (C_Initialize/C_Finalize/exit/fork
 * only) > table lock (sessions, handles, slot login state) > the akm
 * layer's lock, which is never taken with the table lock held.  The table
 * lock is held only for table lookups and updates, never across a backend
 * call, so a slow HSM operation in one thread never blocks another thread.
 */
#ifndef AKM_CORE_H
#define AKM_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "backend/backend.h"
#include "common/log.h"

/* The entry points' per-call trace (src/module/trace.c): on at
 * log.level = debug.  Test akm_core_tracing() before formatting a line. */
static inline bool akm_core_tracing(void) { return akm_log_enabled(AKM_LOG_DEBUG); }
#define akm_core_trace(...) akm_log(AKM_LOG_DEBUG, __VA_ARGS__)
static inline const char *akm_core_rv_name(CK_RV rv) { return akm_rv_name(rv); }

#define AKM_NOT_LOGGED_IN ((CK_USER_TYPE)-1)

/* What one call needs, resolved under the lock. */
typedef struct akm_call {
	akm_backend *be;           /* the backend */
	uint32_t slot;             /* our slot index == our CK_SLOT_ID */
	CK_SLOT_ID bslot;          /* backend slot id */
	CK_SESSION_HANDLE session; /* ours (0 for slot-level calls) */
	CK_SESSION_HANDLE bs;      /* backend session */
	unsigned active;           /* the session's active operations when resolved */
	unsigned stale;            /* ... and those that may linger in the backend */
	unsigned multipart;        /* ... and those an update was given to */
	bool rw;                   /* a read/write session */
	CK_MECHANISM_TYPE op_mechanism; /* the first required operation's mechanism and key (ours) */
	CK_OBJECT_HANDLE op_key;
} akm_call;

/* ---- module (module.c) ------------------------------------------------------ */

/* `args` has already been checked by the entry layer. */
CK_RV akm_core_initialize(const CK_C_INITIALIZE_ARGS *args);
CK_RV akm_core_finalize(void);
bool akm_core_initialized(void);
/* C_GetInfo's answer. */
void akm_core_info(CK_INFO *info);

/* ---- slots (slots.c) ---------------------------------------------------------- */

CK_RV akm_core_slot_list(CK_SLOT_ID *list, CK_ULONG *count);
/* Resolves a slot: CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SLOT_ID_INVALID. */
CK_RV akm_core_slot(CK_SLOT_ID id, akm_call *c);
CK_RV akm_core_slot_info(const akm_call *c, CK_SLOT_INFO *info);
CK_RV akm_core_token_info(const akm_call *c, CK_TOKEN_INFO *info);
CK_RV akm_core_init_token(const akm_call *c, CK_UTF8CHAR *pin, CK_ULONG len, CK_UTF8CHAR *label);
/* C_WaitForSlotEvent (pSlot checked by the caller only when there are slots). */
CK_RV akm_core_wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved);

/* ---- mechanisms (mechanisms.c) -------------------------------------------------- */

CK_RV akm_core_mechanism_list(const akm_call *c, CK_MECHANISM_TYPE *list, CK_ULONG *count);
CK_RV akm_core_mechanism_info(const akm_call *c, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info);

/* ---- sessions (sessions.c) ------------------------------------------------------- */

/* Resolves a session: CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SESSION_HANDLE_INVALID. */
CK_RV akm_core_session(CK_SESSION_HANDLE h, akm_call *c);
CK_RV akm_core_open_session(const akm_call *slot, CK_FLAGS flags, CK_SESSION_HANDLE *out);
CK_RV akm_core_close_session(const akm_call *c);
CK_RV akm_core_close_all_sessions(const akm_call *slot);
CK_RV akm_core_session_info(const akm_call *c, CK_SESSION_INFO *info);
CK_RV akm_core_get_operation_state(const akm_call *c, CK_BYTE *state, CK_ULONG *len);
CK_RV akm_core_set_operation_state(const akm_call *c, CK_BYTE *state, CK_ULONG len, CK_OBJECT_HANDLE enc_key,
                                   CK_OBJECT_HANDLE auth_key);
CK_RV akm_core_login(const akm_call *c, CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG len);
CK_RV akm_core_logout(const akm_call *c);
CK_RV akm_core_init_pin(const akm_call *c, CK_UTF8CHAR *pin, CK_ULONG len);
CK_RV akm_core_set_pin(const akm_call *c, CK_UTF8CHAR *old_pin, CK_ULONG old_len, CK_UTF8CHAR *new_pin,
                       CK_ULONG new_len);

/* ---- objects (objects.c, find.c) -------------------------------------------------- */

CK_RV akm_core_create_object(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_core_copy_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                           CK_OBJECT_HANDLE *out);
CK_RV akm_core_destroy_object(const akm_call *c, CK_OBJECT_HANDLE h);
CK_RV akm_core_object_size(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size);
CK_RV akm_core_get_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV akm_core_set_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV akm_core_find_init(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV akm_core_find(const akm_call *c, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
CK_RV akm_core_find_final(const akm_call *c);

/* ---- operations (operations.c) ------------------------------------------------------ */

/* The calls of an operation, with the state rules of PKCS#11 v2.40 §5.2
 * and §5.8–5.13 whatever the backend does: `op` is one enum akm_op bit (two
 * for the dual-function updates), `fn` the backend function
 * (AKM_BACKEND_FN).  Each resolves the session itself. */
CK_RV akm_core_op_init(CK_SESSION_HANDLE h, unsigned op, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                       bool key_required, size_t fn);
/* Single-part calls and C_*Final with output (`final`), updates with
 * output (not `final`). */
CK_RV akm_core_op_inout(CK_SESSION_HANDLE h, unsigned ops, CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out,
                        CK_ULONG *out_len, bool final, size_t fn);
CK_RV akm_core_op_update(CK_SESSION_HANDLE h, unsigned op, CK_BYTE *part, CK_ULONG len, size_t fn);
CK_RV akm_core_op_final(CK_SESSION_HANDLE h, unsigned op, CK_BYTE *out, CK_ULONG *out_len, size_t fn);
CK_RV akm_core_verify(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG data_len, CK_BYTE *sig, CK_ULONG sig_len);
CK_RV akm_core_verify_final(CK_SESSION_HANDLE h, CK_BYTE *sig, CK_ULONG sig_len);
CK_RV akm_core_digest_key(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key);

/* ---- keys (keys.c) -------------------------------------------------------------------- */

CK_RV akm_core_generate_key(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                            CK_OBJECT_HANDLE *out);
CK_RV akm_core_generate_key_pair(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
                                 CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count, CK_OBJECT_HANDLE *pub,
                                 CK_OBJECT_HANDLE *priv);
CK_RV akm_core_wrap_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                        CK_BYTE *out, CK_ULONG *out_len);
CK_RV akm_core_unwrap_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *wrapped,
                          CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_core_derive_key(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE *tmpl,
                          CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_core_seed_random(const akm_call *c, CK_BYTE *seed, CK_ULONG len);
CK_RV akm_core_generate_random(const akm_call *c, CK_BYTE *out, CK_ULONG len);

#endif

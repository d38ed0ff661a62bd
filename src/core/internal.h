/* Shared by the core's files only: the module state and the helpers the
 * files call in each other. */
#ifndef AKM_CORE_INTERNAL_H
#define AKM_CORE_INTERNAL_H

#include <stdatomic.h>

#include "akm/relationships.h"
#include "common/hmap.h"
#include "common/lock.h"
#include "config/config.h"
#include "core/core.h"
#include "core/handles.h"
#include "core/object.h"

typedef struct akm_slot {
	CK_SLOT_ID backend_id;
	CK_USER_TYPE login;
	unsigned long sessions;
} akm_slot;

struct akm_object_class;

/* A search in progress: the template (owned by the session), and where it
 * stands in the backend's objects and then in the module's own. */
#define AKM_FIND_AHEAD 64

typedef struct akm_find_state {
	CK_ATTRIBUTE *tmpl;
	CK_ULONG count;
	bool in_backend; /* the search covers the backend's objects */
	bool backend;   /* ... and the backend's search is still running */
	const struct akm_object_class *held; /* the module's own class searched, or NULL when done */
	akm_find_cursor cursor; /* where that search stands */
	/* The module's objects found ahead of the caller: its class is asked
	 * for AKM_FIND_AHEAD at a time, whatever the caller asks for (a
	 * caller taking one handle per C_FindObjects costs one registry query
	 * per AKM_FIND_AHEAD objects, not one per object). */
	CK_OBJECT_HANDLE ahead[AKM_FIND_AHEAD];
	CK_ULONG ahead_n, ahead_pos;
} akm_find_state;

typedef struct akm_session {
	CK_SESSION_HANDLE handle;
	CK_SESSION_HANDLE backend;
	uint32_t slot;
	unsigned active; /* enum akm_op bits */
	unsigned stale;  /* ended here, maybe not in the backend */
	unsigned multipart; /* active ops an update was given to (§5.8–5.12):
	                     * their single-part call is CKR_OPERATION_ACTIVE */
	bool rw;
	CK_MECHANISM_TYPE mechanism[8]; /* per enum akm_op bit */
	CK_OBJECT_HANDLE key[8];
	akm_find_state find;
} akm_session;

/* The module state (module.c). */
typedef struct akm_core_state {
	atomic_bool initialized;
	bool forked;            /* we are a child whose parent had initialised */
	bool finalized_at_exit; /* the exit handler already finalised */
	akm_config config;
	akm_backend *backend;
	akm_relationships *rels; /* the registry, on registry_slot */
	uint32_t registry_slot;
	akm_mutex *lock;        /* the table lock */
	akm_slot *slots;
	uint32_t nslots;
	akm_hmap sessions;
	CK_SESSION_HANDLE next_session;
	akm_handle_table objects;
} akm_core_state;

extern akm_core_state akm_core;

void akm_core_session_free(akm_session *s);

/* ---- slots.c ---- */
/* Copies `src` into a blank-padded, unterminated PKCS#11 text field. */
void akm_core_pad_field(CK_UTF8CHAR *dst, size_t len, const char *src);
/* The configured backend tokens, as our slots; err says why not. */
CK_RV akm_core_slots_find(char *err, size_t errlen);
CK_USER_TYPE akm_core_login_state(uint32_t slot);
void akm_core_set_login_state(uint32_t slot, CK_USER_TYPE who);
/* The registry of a slot, or of the call's slot; NULL but on the one slot
 * that keeps it. */
akm_relationships *akm_core_slot_relationships(uint32_t slot);
akm_relationships *akm_core_relationships(const akm_call *c);
/* Opens the registry on its slot (module start, after C_InitToken). */
CK_RV akm_core_registry_open(void);

/* ---- sessions.c ---- */
/* What a call of an operation is, for the rule that a multi-part operation
 * cannot be finished by the single-part call (§5.8–5.12: C_Encrypt "must be
 * called after C_EncryptInit without intervening C_EncryptUpdate calls"). */
typedef enum akm_parts {
	AKM_PARTS_ANY,    /* Init, Final, the recover calls */
	AKM_PARTS_UPDATE, /* an update: the `require` ops become multi-part */
	AKM_PARTS_SINGLE, /* C_Encrypt, C_Decrypt, C_Digest, C_Sign, C_Verify:
	                   * CKR_OPERATION_ACTIVE, nothing changed, when a
	                   * `require` op is multi-part */
} akm_parts;

/* Resolves the session and, in the same critical section, updates its
 * operations: every op in `require` must be active (else
 * CKR_OPERATION_NOT_INITIALIZED), no op in `begin` may be (else
 * CKR_OPERATION_ACTIVE), and `parts` holds (above); `begin` ops become
 * active (single-part until an update) with `mechanism` and `key`, `end` ops
 * inactive.  c->active and c->multipart are the state before the change.
 * One lock round trip where a lookup and an update would take two: the
 * calls of an operation are the module's hot path. */
CK_RV akm_core_session_ops(CK_SESSION_HANDLE h, akm_call *c, unsigned require, unsigned begin,
                           CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key, unsigned end, akm_parts parts);
/* Forgets our session (after the backend closed it) and its session objects;
 * logs the slot out when it was the slot's last session (§5.6). */
void akm_core_session_remove(CK_SESSION_HANDLE h);

/* ---- operations.c: the session's operation state ---- */
/* Marks ops ended; `stale` marks ended ops that the backend may still
 * consider active (ended by an error or refused by us). */
void akm_core_ops_end(const akm_call *c, unsigned ops, bool stale);
/* Ends in the backend what is stale there; true when there was any, so the
 * caller retries its Init. */
bool akm_core_ops_drain(const akm_call *c);
/* The session's search: start takes ownership of st->tmpl; load copies the
 * state (the template stays the session's); end frees it. */
void akm_core_find_start(const akm_call *c, const akm_find_state *st);
bool akm_core_find_load(const akm_call *c, akm_find_state *st);
void akm_core_find_save(const akm_call *c, const akm_find_state *st);
void akm_core_find_end(const akm_call *c);

/* ---- objects.c: the object handle table ---- */
/* The backend handle of one of our pass-through object handles. */
CK_RV akm_core_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE *backend);
/* Records a new backend object under our handle; destroys it in the backend
 * when that fails, so nothing is left that the caller cannot name. */
CK_RV akm_core_adopt(const akm_call *c, CK_OBJECT_HANDLE backend, bool token_object, CK_OBJECT_HANDLE *out);
void akm_core_object_remove(CK_OBJECT_HANDLE h);
/* Replaces backend handles by ours in place (C_FindObjects results). */
CK_RV akm_core_objects_translate(const akm_call *c, CK_OBJECT_HANDLE *handles, CK_ULONG n);
/* Whether a creating template makes a token object (CKA_TOKEN, default false). */
bool akm_core_template_is_token(const CK_ATTRIBUTE *tmpl, CK_ULONG count);

#endif

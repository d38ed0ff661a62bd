/*
 * The object handle table.  Applications see our own object handles; each
 * maps to (slot, backend object handle) today, and will map to registry
 * objects later.  Handle values are never reused within one initialisation,
 * so a stale handle can never name another object.
 *
 * Session objects are linked to the session that created them, so closing
 * that session forgets them (the backend destroys them at the same moment).
 * Not thread-safe: the caller holds the module's table lock.
 */
#ifndef AKM_HANDLES_H
#define AKM_HANDLES_H

#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "common/hmap.h"

typedef struct akm_object {
	CK_OBJECT_HANDLE handle;  /* ours, never 0 */
	CK_OBJECT_HANDLE backend; /* the backend's handle for it */
	uint32_t slot;            /* our slot index */
	CK_SESSION_HANDLE owner;  /* creating session for session objects, 0 for token objects */
	struct akm_object *owner_prev, *owner_next;
} akm_object;

typedef struct akm_handle_table {
	akm_hmap by_handle;     /* our handle -> akm_object */
	akm_hmap *by_backend;   /* per slot: backend handle -> akm_object */
	akm_hmap owned_heads;   /* session handle -> first akm_object it owns */
	uint32_t nslots;
	CK_OBJECT_HANDLE next_handle;
} akm_handle_table;

CK_RV akm_handles_init(akm_handle_table *t, uint32_t nslots);
void akm_handles_free(akm_handle_table *t);

/* Our handle for (slot, backend); adds an entry when there is none.  `owner`
 * is the creating session for a new session object, 0 otherwise (an existing
 * entry keeps its owner).  Returns 0 only when memory runs out. */
CK_OBJECT_HANDLE akm_handles_intern(akm_handle_table *t, uint32_t slot,
                                    CK_OBJECT_HANDLE backend, CK_SESSION_HANDLE owner);

/* The entry for our handle, or NULL. */
akm_object *akm_handles_lookup(const akm_handle_table *t, CK_OBJECT_HANDLE handle);

/* Forgets one object (destroyed). */
void akm_handles_remove(akm_handle_table *t, CK_OBJECT_HANDLE handle);

/* Forgets every session object created by `session` (closed). */
void akm_handles_remove_owned(akm_handle_table *t, CK_SESSION_HANDLE session);

/* Forgets every object of a slot (token re-initialised). */
void akm_handles_remove_slot(akm_handle_table *t, uint32_t slot);

size_t akm_handles_count(const akm_handle_table *t);

#endif

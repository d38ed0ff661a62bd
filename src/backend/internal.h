/* Shared by the backend layer's files only. */
#ifndef AKM_BACKEND_INTERNAL_H
#define AKM_BACKEND_INTERNAL_H

#include "backend/backend.h"

struct akm_backend {
	CK_FUNCTION_LIST *f;
	/* We called the backend's C_Initialize and so owe it C_Finalize.  False
	 * when another user in this process had already initialised it. */
	bool owns_init;
};

struct akm_backend_service {
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE kek;       /* the KEK in use: the token's, or a session copy of it */
	CK_OBJECT_HANDLE kek_token; /* the token's KEK once found or made; 0 otherwise */
	CK_OBJECT_HANDLE mac;       /* the registry's MAC key once found or made; 0 otherwise */
	CK_OBJECT_HANDLE rkek;      /* the ratchet KEK (asr.c) once found or made; 0 otherwise */
};

/* Some backends (SoftHSM2) refuse a NULL pointer even for zero bytes,
 * which the specification allows: they get an empty buffer instead. */
extern CK_BYTE akm_backend_empty_input[1];
static inline CK_BYTE *akm_backend_input(CK_BYTE *p, CK_ULONG len)
{
	return p == NULL && len == 0 ? akm_backend_empty_input : p;
}

/* The one secret key labelled `label` the session sees: *found says
 * whether there is one, *h is it (0 when not). */
CK_RV akm_backend_secret_find(akm_backend_service *s, const char *label, CK_OBJECT_HANDLE *h, bool *found);

/* Up to `max` objects of the service session matching tmpl. */
CK_RV akm_backend_service_find(akm_backend_service *s, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                               size_t max, size_t *n);

/* The blob `wrapped` unwrapped under the KEK (kek.c) into a session object
 * of `kind` that has the KEK's unwrap template: for use (its purpose's
 * usage flags, not extractable) or, with for_export, for one more wrapping
 * (no usage, extractable; export.c destroys it at once). */
CK_RV akm_backend_kek_unwrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, bool for_export, CK_OBJECT_HANDLE *out);

#endif

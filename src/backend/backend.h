/*
 * The backend PKCS#11 module (SoftHSM2 by default, any HSM by configuration):
 * loaded through p11-kit, initialised with OS locking, and never unloaded
 * (unloading a module that registered exit handlers is a classic crash).
 */
#ifndef AKM_BACKEND_H
#define AKM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <p11-kit/pkcs11.h>

typedef struct akm_backend {
	CK_FUNCTION_LIST *f;
	/* We called the backend's C_Initialize and so owe it C_Finalize.  False
	 * when another user in this process had already initialised it. */
	bool owns_init;
} akm_backend;

/* Loads `path` (or reuses it when loaded before) and initialises it.
 * On failure writes a sentence into err. */
CK_RV akm_backend_open(akm_backend *b, const char *path, char *err, size_t errlen);

/* Calls the backend's C_Finalize when we initialised it. */
void akm_backend_close(akm_backend *b);

/* Forgets the backend after fork(): the parent's initialisation is not ours
 * to finalise or reuse; the next akm_backend_open finalises the copy the
 * child inherited and initialises afresh. */
void akm_backend_forget_after_fork(akm_backend *b);

#endif

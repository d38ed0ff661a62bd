/*
 * Mutexes as PKCS#11 v2.40 §5.4 (C_Initialize) asks for them: the OS's own
 * (pthreads) when the application allows it or gives nothing, otherwise the
 * application's CreateMutex/DestroyMutex/LockMutex/UnlockMutex callbacks.
 */
#ifndef AKM_LOCK_H
#define AKM_LOCK_H

#include <p11-kit/pkcs11.h>

typedef struct akm_mutex akm_mutex;

/* Chooses the locking scheme from C_Initialize's arguments (already checked). */
void akm_locking_configure(const CK_C_INITIALIZE_ARGS *args);

CK_RV akm_mutex_new(akm_mutex **out);
void akm_mutex_free(akm_mutex *m);
void akm_mutex_lock(akm_mutex *m);
void akm_mutex_unlock(akm_mutex *m);

#endif

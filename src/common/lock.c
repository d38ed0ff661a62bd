#include "common/lock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct akm_mutex {
	pthread_mutex_t os;
	bool uses_app; /* created by the application's callbacks */
	void *app;
};

static CK_CREATEMUTEX app_create;
static CK_DESTROYMUTEX app_destroy;
static CK_LOCKMUTEX app_lock;
static CK_UNLOCKMUTEX app_unlock;

void akm_locking_configure(const CK_C_INITIALIZE_ARGS *args)
{
	/* OS locking whenever it is allowed or no callbacks are given: with
	 * neither, the application is single-threaded and OS mutexes are harmless. */
	if (args == NULL || (args->flags & CKF_OS_LOCKING_OK) || args->CreateMutex == NULL) {
		app_create = NULL;
		app_destroy = NULL;
		app_lock = NULL;
		app_unlock = NULL;
		return;
	}
	app_create = args->CreateMutex;
	app_destroy = args->DestroyMutex;
	app_lock = args->LockMutex;
	app_unlock = args->UnlockMutex;
}

CK_RV akm_mutex_new(akm_mutex **out)
{
	akm_mutex *m = calloc(1, sizeof *m);
	if (m == NULL)
		return CKR_HOST_MEMORY;
	if (app_create != NULL) {
		CK_RV rv = app_create(&m->app);
		m->uses_app = true;
		if (rv != CKR_OK) {
			free(m);
			return rv;
		}
	} else {
		pthread_mutexattr_t attr;
		pthread_mutexattr_init(&attr);
#ifndef NDEBUG
		/* Debug builds catch lock-order mistakes and double unlocks. */
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
		pthread_mutex_init(&m->os, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	*out = m;
	return CKR_OK;
}

void akm_mutex_free(akm_mutex *m)
{
	if (m == NULL)
		return;
	if (m->uses_app)
		app_destroy(m->app);
	else
		pthread_mutex_destroy(&m->os);
	free(m);
}

void akm_mutex_lock(akm_mutex *m)
{
	if (m->uses_app)
		app_lock(m->app);
	else
		pthread_mutex_lock(&m->os);
}

void akm_mutex_unlock(akm_mutex *m)
{
	if (m->uses_app)
		app_unlock(m->app);
	else
		pthread_mutex_unlock(&m->os);
}

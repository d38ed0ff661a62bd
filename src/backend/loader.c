#include "backend/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>

#include "common/log.h"

/* Loading and initialising the backend module (backend.h).  Modules loaded
 * so far, by path: never released, see backend.h. */
typedef struct loaded_module {
	char *path;
	CK_FUNCTION_LIST *f;
	bool initialised_by_parent; /* set in a forked child; see forget_after_fork */
	struct loaded_module *next;
} loaded_module;

static loaded_module *loaded;
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;

static loaded_module *load_module(const char *path, char *err, size_t errlen)
{
	pthread_mutex_lock(&loaded_lock);
	loaded_module *m;
	for (m = loaded; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			goto out;
	CK_FUNCTION_LIST *f = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED);
	if (f == NULL) {
		const char *why = p11_kit_message();
		snprintf(err, errlen, "cannot load backend module %s: %s", path,
		         why != NULL ? why : "unknown error");
		goto out;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL || (m->path = strdup(path)) == NULL) {
		free(m);
		m = NULL;
		snprintf(err, errlen, "out of memory loading %s", path);
		goto out;
	}
	m->f = f;
	m->next = loaded;
	loaded = m;
out:
	pthread_mutex_unlock(&loaded_lock);
	return m;
}

CK_RV akm_backend_open(akm_backend **out, const char *path, char *err, size_t errlen)
{
	loaded_module *m = load_module(path, err, errlen);
	if (m == NULL)
		return CKR_GENERAL_ERROR;
	akm_backend *b = calloc(1, sizeof *b);
	if (b == NULL) {
		snprintf(err, errlen, "out of memory loading %s", path);
		return CKR_HOST_MEMORY;
	}

	if (m->initialised_by_parent) {
		/* A forked child: its copy of the backend believes it is initialised
		 * with the parent's sessions.  Reset it before use. */
		m->f->C_Finalize(NULL);
		m->initialised_by_parent = false;
	}

	CK_C_INITIALIZE_ARGS args;
	memset(&args, 0, sizeof args);
	args.flags = CKF_OS_LOCKING_OK;
	CK_RV rv = m->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* Shared with another user in this process (p11-kit, the
		 * application itself): use it, but leave finalising to them. */
		akm_log(AKM_LOG_INFO, "backend %s was already initialised in this process", path);
		b->owns_init = false;
	} else if (rv != CKR_OK) {
		snprintf(err, errlen, "backend module %s: C_Initialize failed: %s", path,
		         akm_rv_name(rv));
		free(b);
		return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
	} else {
		b->owns_init = true;
	}
	b->f = m->f;
	*out = b;
	return CKR_OK;
}

void akm_backend_close(akm_backend *b)
{
	if (b == NULL)
		return;
	if (b->f != NULL && b->owns_init)
		b->f->C_Finalize(NULL);
	free(b);
}

bool akm_backend_shared(const akm_backend *b)
{
	return !b->owns_init;
}

void akm_backend_forget_after_fork(akm_backend *b)
{
	if (b == NULL)
		return;
	if (b->f != NULL && b->owns_init) {
		for (loaded_module *m = loaded; m != NULL; m = m->next)
			if (m->f == b->f)
				m->initialised_by_parent = true;
	}
	free(b);
}

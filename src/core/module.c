/*
 * The module state: C_Initialize and C_Finalize, and the two moments an
 * application does not announce — fork() and process exit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm-config.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "core/internal.h"

akm_core_state akm_core;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a forked child inherited and must leave alone (see akm_core_initialize). */
static void *volatile left_by_parent[2];

bool akm_core_initialized(void)
{
	return atomic_load_explicit(&akm_core.initialized, memory_order_acquire);
}

void akm_core_info(CK_INFO *info)
{
	memset(info, 0, sizeof *info);
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	akm_core_pad_field(info->manufacturerID, sizeof info->manufacturerID, AKM_PKCS11_MANUFACTURER);
	akm_core_pad_field(info->libraryDescription, sizeof info->libraryDescription, "AKM security relationships");
	info->libraryVersion.major = AKM_VERSION_MAJOR;
	info->libraryVersion.minor = AKM_VERSION_MINOR;
}

void akm_core_session_free(akm_session *s)
{
	if (s == NULL)
		return;
	free(s->find.tmpl);
	free(s);
}

static void free_tables(void)
{
	size_t cursor = 0;
	akm_session *s;
	while ((s = akm_hmap_next(&akm_core.sessions, &cursor, NULL)) != NULL)
		akm_core_session_free(s);
	akm_hmap_clear(&akm_core.sessions);
	akm_handles_free(&akm_core.objects);
	free(akm_core.slots);
	akm_core.slots = NULL;
	akm_core.nslots = 0;
	akm_config_free(&akm_core.config);
}

static void finalize_inlock(void);

/* Runs before the exit handlers registered earlier (LIFO), i.e. before the
 * backend's libraries (OpenSSL in SoftHSM2) tear themselves down: finalising
 * here keeps a late C_Finalize, from an atexit handler or a destructor, or
 * none at all, from calling into a half torn-down backend. */
static void exit_handler(void)
{
	pthread_mutex_lock(&init_lock);
	if (akm_core_initialized()) {
		finalize_inlock();
		akm_core.finalized_at_exit = true;
	}
	pthread_mutex_unlock(&init_lock);
}

/* In a child the parent's state is unusable: every call fails with
 * CKR_CRYPTOKI_NOT_INITIALIZED until C_Initialize.  Lock-free on purpose. */
static void fork_child_handler(void)
{
	pthread_mutex_init(&init_lock, NULL); /* another thread may have held it */
	if (atomic_load(&akm_core.initialized)) {
		atomic_store(&akm_core.initialized, false);
		akm_core.forked = true;
	}
}

CK_RV akm_core_initialize(const CK_C_INITIALIZE_ARGS *args)
{
	static bool handlers_registered;
	char err[1024];
	CK_RV rv;

	pthread_mutex_lock(&init_lock);
	if (akm_core_initialized()) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	if (akm_core.forked) {
		/* Drop what the parent had (memory only: its sessions and locks
		 * belong to the parent) and reset the backend's inherited copy. */
		free_tables();
		/* Neither closed nor freed: the registry connection must not be
		 * used or closed in a child (closing could checkpoint the parent's
		 * database or drop its locks, as SQLite warns), the backend session
		 * is the parent's, and the lock may be held.  Kept reachable. */
		left_by_parent[0] = akm_core.rels;
		left_by_parent[1] = akm_core.lock;
		akm_core.rels = NULL;
		akm_backend_forget_after_fork(akm_core.backend);
		akm_core.backend = NULL;
		akm_core.lock = NULL;
		akm_core.forked = false;
	}
	akm_core.finalized_at_exit = false;

	akm_locking_configure(args);
	rv = akm_mutex_new(&akm_core.lock);
	if (rv != CKR_OK)
		goto out;

	const char *path = akm_config_default_path();
	rv = akm_config_load(&akm_core.config, path, err, sizeof err);
	/* A file refused before its log.target line (or unreadable) leaves the
	 * target as it was: syslog, or what the last file read said. */
	if (akm_core.config.log_target != 0)
		akm_log_set_target(akm_core.config.log_target);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s", err);
		goto fail_lock;
	}
	akm_log_set_level(akm_core.config.log_level);

	rv = akm_backend_open(&akm_core.backend, akm_core.config.backend_module, err, sizeof err);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s: %s", akm_core.config.path, err);
		goto fail_config;
	}
	rv = akm_core_slots_find(err, sizeof err);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s", err);
		goto fail_backend;
	}
	akm_hmap_init(&akm_core.sessions);
	akm_core.next_session = 1;
	rv = akm_handles_init(&akm_core.objects, akm_core.nslots);
	if (rv != CKR_OK)
		goto fail_backend;
	if ((rv = akm_core_registry_open()) != CKR_OK)
		goto fail_backend;

	if (!handlers_registered) {
		/* The module is linked with -z nodelete, so these stay valid. */
		pthread_atfork(NULL, NULL, fork_child_handler);
		atexit(exit_handler);
		handlers_registered = true;
	}
	atomic_store_explicit(&akm_core.initialized, true, memory_order_release);
	rv = CKR_OK;
	goto out;

fail_backend:
	akm_backend_close(akm_core.backend);
	akm_core.backend = NULL;
fail_config:
	free_tables();
fail_lock:
	akm_mutex_free(akm_core.lock);
	akm_core.lock = NULL;
out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

static void finalize_inlock(void)
{
	atomic_store_explicit(&akm_core.initialized, false, memory_order_release);
	akm_relationships_close(akm_core.rels);
	akm_core.rels = NULL;
	if (akm_core.backend != NULL && akm_backend_shared(akm_core.backend)) {
		/* A shared backend stays up for its other users: close only ours. */
		size_t cursor = 0;
		akm_session *s;
		while ((s = akm_hmap_next(&akm_core.sessions, &cursor, NULL)) != NULL)
			akm_backend_close_session(akm_core.backend, s->backend);
	}
	akm_backend_close(akm_core.backend);
	akm_core.backend = NULL;
	free_tables();
	akm_mutex_free(akm_core.lock);
	akm_core.lock = NULL;
}

CK_RV akm_core_finalize(void)
{
	CK_RV rv = CKR_OK;
	pthread_mutex_lock(&init_lock);
	if (akm_core_initialized())
		finalize_inlock();
	else if (!akm_core.finalized_at_exit)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	pthread_mutex_unlock(&init_lock);
	return rv;
}

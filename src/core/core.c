#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/lock.h"
#include "common/log.h"
#include "config/config.h"
#include "core/handles.h"
#include "common/hmap.h"

typedef struct akm_slot {
	CK_SLOT_ID backend_id;
	CK_USER_TYPE login;
	unsigned long sessions;
} akm_slot;

typedef struct akm_session {
	CK_SESSION_HANDLE handle;
	CK_SESSION_HANDLE backend;
	uint32_t slot;
	unsigned active; /* enum akm_op bits */
	unsigned stale;  /* ended here, maybe not in the backend */
	bool rw;
	CK_MECHANISM_TYPE mechanism[8]; /* per enum akm_op bit */
	CK_OBJECT_HANDLE key[8];
	akm_find_state find;
} akm_session;

static void session_free(akm_session *s)
{
	if (s == NULL)
		return;
	free(s->find.tmpl);
	free(s);
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a forked child inherited and must leave alone (see akm_core_initialize). */
static void *volatile left_by_parent[2];

static struct {
	atomic_bool initialized;
	bool forked;            /* we are a child whose parent had initialised */
	bool finalized_at_exit; /* the exit handler already finalised */
	akm_config config;
	akm_backend backend;
	akm_relationships *rels; /* the registry, on slot 0 */
	akm_mutex *lock;        /* the table lock */
	akm_slot *slots;
	uint32_t nslots;
	akm_hmap sessions;
	CK_SESSION_HANDLE next_session;
	akm_handle_table objects;
} g;

bool akm_core_initialized(void)
{
	return atomic_load_explicit(&g.initialized, memory_order_acquire);
}

/* ---- life cycle --------------------------------------------------------- */

static void free_tables(void)
{
	size_t cursor = 0;
	akm_session *s;
	while ((s = akm_hmap_next(&g.sessions, &cursor, NULL)) != NULL)
		session_free(s);
	akm_hmap_clear(&g.sessions);
	akm_handles_free(&g.objects);
	free(g.slots);
	g.slots = NULL;
	g.nslots = 0;
	akm_config_free(&g.config);
}

static CK_RV find_slots(char *err, size_t errlen)
{
	CK_FUNCTION_LIST *be = g.backend.f;
	CK_ULONG n = 0;
	CK_SLOT_ID *ids = NULL;
	CK_RV rv;

	for (;;) {
		rv = be->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK)
			break;
		free(ids);
		ids = calloc(n ? n : 1, sizeof *ids);
		if (ids == NULL)
			return CKR_HOST_MEMORY;
		rv = be->C_GetSlotList(CK_TRUE, ids, &n);
		if (rv != CKR_BUFFER_TOO_SMALL) /* slots may appear between the calls */
			break;
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "backend C_GetSlotList failed: %s", akm_rv_name(rv));
		free(ids);
		return CKR_GENERAL_ERROR;
	}
	g.slots = calloc(n ? n : 1, sizeof *g.slots);
	if (g.slots == NULL) {
		free(ids);
		return CKR_HOST_MEMORY;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		if (be->C_GetTokenInfo(ids[i], &info) != CKR_OK)
			continue;
		if (!akm_config_selects_token(&g.config, &info))
			continue;
		g.slots[g.nslots].backend_id = ids[i];
		g.slots[g.nslots].login = AKM_NOT_LOGGED_IN;
		g.nslots++;
	}
	free(ids);
	if (g.nslots == 0)
		akm_log(AKM_LOG_WARNING, "%s: no token of the backend matches backend.token; the module has no slots",
		        g.config.path);
	return CKR_OK;
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
		g.finalized_at_exit = true;
	}
	pthread_mutex_unlock(&init_lock);
}

/* In a child the parent's state is unusable: every call fails with
 * CKR_CRYPTOKI_NOT_INITIALIZED until C_Initialize.  Lock-free on purpose. */
static void fork_child_handler(void)
{
	pthread_mutex_init(&init_lock, NULL); /* another thread may have held it */
	if (atomic_load(&g.initialized)) {
		atomic_store(&g.initialized, false);
		g.forked = true;
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
	if (g.forked) {
		/* Drop what the parent had (memory only: its sessions and locks
		 * belong to the parent) and reset the backend's inherited copy. */
		free_tables();
		/* Neither closed nor freed: the registry connection must not be
		 * used or closed in a child (closing could checkpoint the parent's
		 * database or drop its locks, as SQLite warns), the backend session
		 * is the parent's, and the lock may be held.  Kept reachable. */
		left_by_parent[0] = g.rels;
		left_by_parent[1] = g.lock;
		g.rels = NULL;
		akm_backend_forget_after_fork(&g.backend);
		g.lock = NULL;
		g.forked = false;
	}
	g.finalized_at_exit = false;

	akm_locking_configure(args);
	rv = akm_mutex_new(&g.lock);
	if (rv != CKR_OK)
		goto out;

	const char *path = akm_config_default_path();
	rv = akm_config_load(&g.config, path, err, sizeof err);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s", err);
		goto fail_lock;
	}
	akm_log_set_level(g.config.log_level);

	rv = akm_backend_open(&g.backend, g.config.backend_module, err, sizeof err);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s: %s", g.config.path, err);
		goto fail_config;
	}
	rv = find_slots(err, sizeof err);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "%s", err);
		goto fail_backend;
	}
	akm_hmap_init(&g.sessions);
	g.next_session = 1;
	rv = akm_handles_init(&g.objects, g.nslots);
	if (rv != CKR_OK)
		goto fail_backend;
	if (g.nslots > 0) {
		rv = akm_relationships_open(&g.rels, g.config.registry_path, g.backend.f, g.slots[0].backend_id,
		                            err, sizeof err);
		if (rv != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "%s: %s", g.config.path, err);
			goto fail_backend;
		}
	}

	if (!handlers_registered) {
		/* The module is linked with -z nodelete, so these stay valid. */
		pthread_atfork(NULL, NULL, fork_child_handler);
		atexit(exit_handler);
		handlers_registered = true;
	}
	atomic_store_explicit(&g.initialized, true, memory_order_release);
	rv = CKR_OK;
	goto out;

fail_backend:
	akm_backend_close(&g.backend);
fail_config:
	free_tables();
fail_lock:
	akm_mutex_free(g.lock);
	g.lock = NULL;
out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

static void finalize_inlock(void)
{
	atomic_store_explicit(&g.initialized, false, memory_order_release);
	akm_relationships_close(g.rels);
	g.rels = NULL;
	if (g.backend.f != NULL && !g.backend.owns_init) {
		/* A shared backend stays up for its other users: close only ours. */
		size_t cursor = 0;
		akm_session *s;
		while ((s = akm_hmap_next(&g.sessions, &cursor, NULL)) != NULL)
			g.backend.f->C_CloseSession(s->backend);
	}
	akm_backend_close(&g.backend);
	free_tables();
	akm_mutex_free(g.lock);
	g.lock = NULL;
}

CK_RV akm_core_finalize(void)
{
	CK_RV rv = CKR_OK;
	pthread_mutex_lock(&init_lock);
	if (akm_core_initialized())
		finalize_inlock();
	else if (!g.finalized_at_exit)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	pthread_mutex_unlock(&init_lock);
	return rv;
}

/* ---- slots --------------------------------------------------------------- */

CK_RV akm_core_slot_list(CK_SLOT_ID *list, CK_ULONG *count)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_ULONG needed = g.nslots;
	if (list == NULL) {
		*count = needed;
		return CKR_OK;
	}
	if (*count < needed) {
		*count = needed;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (CK_ULONG i = 0; i < needed; i++)
		list[i] = i;
	*count = needed;
	return CKR_OK;
}

CK_RV akm_core_slot(CK_SLOT_ID id, akm_call *c)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (id >= g.nslots)
		return CKR_SLOT_ID_INVALID;
	memset(c, 0, sizeof *c);
	c->be = g.backend.f;
	c->slot = (uint32_t)id;
	akm_mutex_lock(g.lock);
	c->bslot = g.slots[id].backend_id;
	akm_mutex_unlock(g.lock);
	return CKR_OK;
}

bool akm_core_slot_has_sessions(uint32_t slot)
{
	akm_mutex_lock(g.lock);
	bool any = g.slots[slot].sessions > 0;
	akm_mutex_unlock(g.lock);
	return any;
}

void akm_core_slot_reinitialised(uint32_t slot, const CK_UTF8CHAR label[32])
{
	CK_FUNCTION_LIST *be = g.backend.f;
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;

	akm_mutex_lock(g.lock);
	akm_handles_remove_slot(&g.objects, slot);
	akm_mutex_unlock(g.lock);
	if (be->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		if (be->C_GetTokenInfo(ids[i], &info) != CKR_OK ||
		    memcmp(info.label, label, sizeof info.label) != 0)
			continue;
		akm_mutex_lock(g.lock);
		bool taken = false;
		for (uint32_t k = 0; k < g.nslots; k++)
			if (k != slot && g.slots[k].backend_id == ids[i])
				taken = true;
		if (!taken)
			g.slots[slot].backend_id = ids[i];
		akm_mutex_unlock(g.lock);
		if (!taken)
			return;
	}
}

void akm_core_registry_release(uint32_t slot)
{
	if (slot != 0 || g.rels == NULL)
		return;
	akm_relationships_close(g.rels);
	g.rels = NULL;
}

CK_RV akm_core_registry_reopen(uint32_t slot)
{
	char err[1024];
	if (slot != 0 || g.rels != NULL)
		return CKR_OK;
	CK_RV rv = akm_relationships_open(&g.rels, g.config.registry_path, g.backend.f, g.slots[0].backend_id,
	                                  err, sizeof err);
	if (rv != CKR_OK)
		akm_log(AKM_LOG_ERROR, "%s: %s", g.config.path, err);
	return rv;
}

CK_USER_TYPE akm_core_login_state(uint32_t slot)
{
	akm_mutex_lock(g.lock);
	CK_USER_TYPE who = g.slots[slot].login;
	akm_mutex_unlock(g.lock);
	return who;
}

void akm_core_set_login_state(uint32_t slot, CK_USER_TYPE who)
{
	akm_mutex_lock(g.lock);
	g.slots[slot].login = who;
	akm_mutex_unlock(g.lock);
}

/* ---- sessions ------------------------------------------------------------ */

CK_RV akm_core_session(CK_SESSION_HANDLE h, akm_call *c)
{
	return akm_core_session_ops(h, c, 0, 0, 0, 0, 0);
}

CK_RV akm_core_session_add(const akm_call *slot_call, CK_SESSION_HANDLE backend, bool rw,
                           CK_SESSION_HANDLE *out)
{
	akm_session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return CKR_HOST_MEMORY;
	s->backend = backend;
	s->rw = rw;
	s->slot = slot_call->slot;
	akm_mutex_lock(g.lock);
	s->handle = g.next_session;
	CK_RV rv = akm_hmap_put(&g.sessions, s->handle, s);
	if (rv == CKR_OK) {
		g.next_session++;
		g.slots[s->slot].sessions++;
		*out = s->handle;
	}
	akm_mutex_unlock(g.lock);
	if (rv != CKR_OK)
		free(s);
	return rv;
}

void akm_core_session_remove(CK_SESSION_HANDLE h)
{
	bool logged_out = false;
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_remove(&g.sessions, h);
	if (s != NULL) {
		akm_handles_remove_owned(&g.objects, h);
		if (--g.slots[s->slot].sessions == 0) {
			logged_out = g.slots[s->slot].login != AKM_NOT_LOGGED_IN;
			g.slots[s->slot].login = AKM_NOT_LOGGED_IN;
		}
	}
	akm_mutex_unlock(g.lock);
	/* The registry's own backend session would keep the token logged in:
	 * log out as the closing of the last session does (§5.6). */
	if (logged_out && s->slot == 0 && g.rels != NULL)
		akm_relationships_logout(g.rels);
	session_free(s);
}

akm_relationships *akm_core_relationships(const akm_call *c)
{
	return c->slot == 0 ? g.rels : NULL;
}

CK_RV akm_core_slot_sessions(uint32_t slot, CK_SESSION_HANDLE **out, size_t *n)
{
	akm_mutex_lock(g.lock);
	CK_SESSION_HANDLE *list = malloc((g.sessions.count ? g.sessions.count : 1) * sizeof *list);
	size_t k = 0, cursor = 0;
	akm_session *s;
	if (list != NULL)
		while ((s = akm_hmap_next(&g.sessions, &cursor, NULL)) != NULL)
			if (s->slot == slot)
				list[k++] = s->handle;
	akm_mutex_unlock(g.lock);
	if (list == NULL)
		return CKR_HOST_MEMORY;
	*out = list;
	*n = k;
	return CKR_OK;
}

/* ---- operation state ----------------------------------------------------- */

CK_RV akm_core_session_ops(CK_SESSION_HANDLE h, akm_call *c, unsigned require, unsigned begin,
                           CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key, unsigned end)
{
	if (!akm_core_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, h);
	CK_RV rv = CKR_OK;
	if (s == NULL) {
		rv = CKR_SESSION_HANDLE_INVALID;
		goto out;
	}
	c->be = g.backend.f;
	c->slot = s->slot;
	c->bslot = g.slots[s->slot].backend_id;
	c->session = h;
	c->bs = s->backend;
	c->active = s->active;
	c->stale = s->stale;
	c->rw = s->rw;
	if ((s->active & require) != require) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if (s->active & begin) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (begin) {
		/* Stale stays until the backend accepted the Init: a lingering
		 * backend operation is what it would refuse with. */
		s->active |= begin;
		s->mechanism[__builtin_ctz(begin)] = mechanism;
		s->key[__builtin_ctz(begin)] = key;
	}
	s->active &= ~end;
out:
	akm_mutex_unlock(g.lock);
	return rv;
}

void akm_core_ops_resume(const akm_call *c, unsigned ops)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL)
		s->active |= ops;
	akm_mutex_unlock(g.lock);
}

void akm_core_ops_fresh(const akm_call *c, unsigned ops)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL)
		s->stale &= ~ops;
	akm_mutex_unlock(g.lock);
}

void akm_core_op_info(const akm_call *c, unsigned op, CK_MECHANISM_TYPE *mechanism,
                      CK_OBJECT_HANDLE *key)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	*mechanism = s != NULL ? s->mechanism[__builtin_ctz(op)] : CKM_VENDOR_DEFINED;
	*key = s != NULL ? s->key[__builtin_ctz(op)] : 0;
	akm_mutex_unlock(g.lock);
}

void akm_core_find_start(const akm_call *c, const akm_find_state *st)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL) {
		free(s->find.tmpl);
		s->find = *st;
		s->active |= AKM_OP_FIND;
		s->stale &= ~AKM_OP_FIND;
	} else {
		free(st->tmpl);
	}
	akm_mutex_unlock(g.lock);
}

bool akm_core_find_load(const akm_call *c, akm_find_state *st)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL)
		*st = s->find;
	akm_mutex_unlock(g.lock);
	return s != NULL;
}

void akm_core_find_save(const akm_call *c, const akm_find_state *st)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL) {
		s->find.backend = st->backend;
		s->find.registry = st->registry;
		s->find.cursor = st->cursor;
	}
	akm_mutex_unlock(g.lock);
}

void akm_core_find_end(const akm_call *c)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL) {
		free(s->find.tmpl);
		memset(&s->find, 0, sizeof s->find);
		s->active &= ~AKM_OP_FIND;
	}
	akm_mutex_unlock(g.lock);
}

void akm_core_ops_end(const akm_call *c, unsigned ops, bool stale)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	if (s != NULL) {
		s->active &= ~ops;
		if (stale)
			s->stale |= ops;
	}
	akm_mutex_unlock(g.lock);
}

unsigned akm_core_ops_take_stale(const akm_call *c)
{
	akm_mutex_lock(g.lock);
	akm_session *s = akm_hmap_get(&g.sessions, c->session);
	unsigned stale = 0;
	if (s != NULL) {
		stale = s->stale;
		s->stale = 0;
	}
	akm_mutex_unlock(g.lock);
	return stale;
}

/* ---- objects ------------------------------------------------------------- */

CK_RV akm_core_object(const akm_call *c, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE *backend)
{
	akm_mutex_lock(g.lock);
	akm_object *obj = akm_handles_lookup(&g.objects, h);
	CK_RV rv = CKR_OBJECT_HANDLE_INVALID;
	if (obj != NULL && obj->slot == c->slot) {
		*backend = obj->backend;
		rv = CKR_OK;
	}
	akm_mutex_unlock(g.lock);
	return rv;
}

CK_RV akm_core_object_add(const akm_call *c, CK_OBJECT_HANDLE backend, bool session_object,
                          CK_OBJECT_HANDLE *out)
{
	akm_mutex_lock(g.lock);
	*out = akm_handles_intern(&g.objects, c->slot, backend, session_object ? c->session : 0);
	akm_mutex_unlock(g.lock);
	return *out != 0 ? CKR_OK : CKR_HOST_MEMORY;
}

void akm_core_object_remove(CK_OBJECT_HANDLE h)
{
	akm_mutex_lock(g.lock);
	akm_handles_remove(&g.objects, h);
	akm_mutex_unlock(g.lock);
}

CK_RV akm_core_objects_translate(const akm_call *c, CK_OBJECT_HANDLE *handles, CK_ULONG n)
{
	CK_RV rv = CKR_OK;
	akm_mutex_lock(g.lock);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_HANDLE ours = akm_handles_intern(&g.objects, c->slot, handles[i], 0);
		if (ours == 0) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		handles[i] = ours;
	}
	akm_mutex_unlock(g.lock);
	return rv;
}

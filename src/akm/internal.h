/* Shared by the akm layer's files only. */
#ifndef AKM_INTERNAL_H
#define AKM_INTERNAL_H

#include "akm/cache.h"
#include "akm/counter.h"
#include "akm/relationships.h"
#include "common/lock.h"

#define AKM_CACHE_MAX 4096
#define AKM_KEEP_CREATED_MAX 16 /* creations of at most this many keep their keys cached */

struct akm_relationships {
	akm_store *reg;
	akm_backend_service *be; /* the module's own backend session */
	CK_RV status;            /* CKR_OK when usable; why not otherwise */
	akm_mutex *lock;
	akm_key_cache cache;
	akm_counter counter;
	uint64_t change_mark;    /* the store's change mark when the cached states were read */
};

/* Begins a change: the store's write transaction, and the generation it
 * will have (domain.c). */
CK_RV akm_change_begin(akm_relationships *r);
/* Commits it; the cache keeps the states this process wrote itself, and
 * the counter is brought up to date. */
CK_RV akm_change_commit(akm_relationships *r);

/* Appends an event's record in the open transaction (or in its own when
 * none is open): the store's answer (events.c). */
CK_RV akm_event_append(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                       CK_RV result, const char *detail);
/* The same, logging a failure instead of returning it. */
void akm_event_record(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                      CK_RV result, const char *detail);

/* The backend kind of a key of `purpose` (CKV_AKM_PURPOSE_*). */
akm_backend_key_kind akm_key_kind(CK_ULONG purpose);

#endif

/*
 * The cache of unwrapped relationship keys: key id -> backend session
 * object, least recently used out beyond its size, with the state of the
 * key's relationship as last read (0: read it again).  The backend objects
 * it holds are destroyed through the callback when they leave it.
 * Not thread-safe: the akm layer's lock protects it.
 */
#ifndef AKM_CACHE_H
#define AKM_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "common/hmap.h"
#include "store/store.h"

typedef struct akm_cache_entry {
	int64_t id;
	CK_OBJECT_HANDLE backend;
	CK_ULONG purpose;
	CK_ULONG state;          /* 0: read it again from the registry */
	int64_t state_at;        /* when it was read (monotonic ms) */
	uint8_t rid[AKM_ID_MAX]; /* for audit records */
	size_t rid_len;
	struct akm_cache_entry *prev, *next; /* most recently used first */
} akm_cache_entry;

typedef void (*akm_cache_destroy_fn)(void *ctx, CK_OBJECT_HANDLE backend);

typedef struct akm_key_cache {
	akm_hmap by_id;     /* key id -> entry */
	akm_hmap by_object; /* backend handle -> entry */
	akm_cache_entry *mru, *lru;
	size_t max;
	akm_cache_destroy_fn destroy;
	void *ctx;
} akm_key_cache;

void akm_cache_init(akm_key_cache *c, size_t max, akm_cache_destroy_fn destroy, void *ctx);
/* Empties the cache; destroys the backend objects when asked (not when
 * their session is going anyway). */
void akm_cache_clear(akm_key_cache *c, bool destroy_objects);
akm_cache_entry *akm_cache_get(const akm_key_cache *c, int64_t id);
/* Adds an entry as the most recently used (replacing the key's entry, whose
 * object is destroyed when it is another); the least recently used goes
 * when the cache is full.  CKR_HOST_MEMORY leaves the cache as it was (the
 * caller still owns `backend`). */
CK_RV akm_cache_put(akm_key_cache *c, int64_t id, CK_OBJECT_HANDLE backend, CK_ULONG purpose, CK_ULONG state,
                    const uint8_t *rid, size_t rid_len);
/* Marks an entry most recently used. */
void akm_cache_touch(akm_key_cache *c, akm_cache_entry *e);
/* Removes an entry and destroys its object. */
void akm_cache_drop(akm_key_cache *c, akm_cache_entry *e);
void akm_cache_forget(akm_key_cache *c, int64_t id);
/* Every state is to be read again (another process committed a change). */
void akm_cache_forget_states(akm_key_cache *c);
void akm_cache_set_state(akm_key_cache *c, int64_t id, CK_ULONG state);
/* A cached state is trusted for AKM_CACHE_STATE_MS after it was read, even
 * when no change mark moved (a side file replaced behind the module's back
 * cannot hide a revocation for longer); 0 after that. */
#define AKM_CACHE_STATE_MS 1000
/* A monotonic clock in milliseconds (the time those bounds are counted in). */
int64_t akm_cache_now_ms(void);
CK_ULONG akm_cache_state(const akm_cache_entry *e);
void akm_cache_entry_state(akm_cache_entry *e, CK_ULONG state);
/* Whether `backend` is an object the cache holds. */
bool akm_cache_holds(const akm_key_cache *c, CK_OBJECT_HANDLE backend);
size_t akm_cache_count(const akm_key_cache *c);

#endif

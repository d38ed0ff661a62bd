/*
 * A hash map from 64-bit keys to non-NULL pointers: open addressing, linear
 * probing, backward-shift deletion (no tombstones, so lookups stay short
 * under churn), capacity a power of two kept at most half full.
 * Not thread-safe: callers hold the lock that protects the owning table.
 */
#ifndef AKM_HMAP_H
#define AKM_HMAP_H

#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

typedef struct akm_hmap_entry {
	uint64_t key;
	void *value; /* NULL marks an empty place */
} akm_hmap_entry;

typedef struct akm_hmap {
	akm_hmap_entry *entries;
	size_t capacity; /* 0 or a power of two */
	size_t count;
} akm_hmap;

void akm_hmap_init(akm_hmap *map);
/* Frees the map's storage (not the values). */
void akm_hmap_clear(akm_hmap *map);
void *akm_hmap_get(const akm_hmap *map, uint64_t key);
/* Inserts or replaces; value must not be NULL.  CKR_HOST_MEMORY on failure
 * (the map is then unchanged). */
CK_RV akm_hmap_put(akm_hmap *map, uint64_t key, void *value);
/* Removes and returns the value, or NULL when absent. */
void *akm_hmap_remove(akm_hmap *map, uint64_t key);
/* Iteration: start with *cursor = 0; returns the next value or NULL at the
 * end.  The map must not change during iteration. */
void *akm_hmap_next(const akm_hmap *map, size_t *cursor, uint64_t *key);

#endif

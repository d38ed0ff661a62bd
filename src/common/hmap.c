#include "common/hmap.h"

#include <stdlib.h>

/* splitmix64's finaliser: handles are often small consecutive integers. */
static size_t hash_key(uint64_t key, size_t mask)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (size_t)key & mask;
}

void akm_hmap_init(akm_hmap *map)
{
	map->entries = NULL;
	map->capacity = 0;
	map->count = 0;
}

void akm_hmap_clear(akm_hmap *map)
{
	free(map->entries);
	akm_hmap_init(map);
}

void *akm_hmap_get(const akm_hmap *map, uint64_t key)
{
	if (map->count == 0)
		return NULL;
	size_t mask = map->capacity - 1;
	for (size_t i = hash_key(key, mask);; i = (i + 1) & mask) {
		const akm_hmap_entry *e = &map->entries[i];
		if (e->value == NULL)
			return NULL;
		if (e->key == key)
			return e->value;
	}
}

static void insert_fresh(akm_hmap_entry *entries, size_t mask, uint64_t key, void *value)
{
	size_t i = hash_key(key, mask);
	while (entries[i].value != NULL)
		i = (i + 1) & mask;
	entries[i].key = key;
	entries[i].value = value;
}

static CK_RV grow(akm_hmap *map)
{
	size_t capacity = map->capacity ? map->capacity * 2 : 16;
	akm_hmap_entry *entries = calloc(capacity, sizeof *entries);
	if (entries == NULL)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < map->capacity; i++)
		if (map->entries[i].value != NULL)
			insert_fresh(entries, capacity - 1, map->entries[i].key, map->entries[i].value);
	free(map->entries);
	map->entries = entries;
	map->capacity = capacity;
	return CKR_OK;
}

CK_RV akm_hmap_put(akm_hmap *map, uint64_t key, void *value)
{
	if (value == NULL)
		return CKR_ARGUMENTS_BAD;
	if (map->count > 0) {
		size_t mask = map->capacity - 1;
		for (size_t i = hash_key(key, mask); map->entries[i].value != NULL; i = (i + 1) & mask) {
			if (map->entries[i].key == key) {
				map->entries[i].value = value;
				return CKR_OK;
			}
		}
	}
	if ((map->count + 1) * 2 > map->capacity) {
		CK_RV rv = grow(map);
		if (rv != CKR_OK)
			return rv;
	}
	insert_fresh(map->entries, map->capacity - 1, key, value);
	map->count++;
	return CKR_OK;
}

void *akm_hmap_remove(akm_hmap *map, uint64_t key)
{
	if (map->count == 0)
		return NULL;
	size_t mask = map->capacity - 1;
	size_t i = hash_key(key, mask);
	while (map->entries[i].value != NULL && map->entries[i].key != key)
		i = (i + 1) & mask;
	void *value = map->entries[i].value;
	if (value == NULL)
		return NULL;

	/* Backward shift: move later members of the probe run into the hole
	 * when the hole lies between their home place and where they sit. */
	size_t hole = i;
	for (size_t j = (hole + 1) & mask; map->entries[j].value != NULL; j = (j + 1) & mask) {
		size_t home = hash_key(map->entries[j].key, mask);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			map->entries[hole] = map->entries[j];
			hole = j;
		}
	}
	map->entries[hole].value = NULL;
	map->entries[hole].key = 0;
	map->count--;
	return value;
}

void *akm_hmap_next(const akm_hmap *map, size_t *cursor, uint64_t *key)
{
	while (*cursor < map->capacity) {
		const akm_hmap_entry *e = &map->entries[(*cursor)++];
		if (e->value != NULL) {
			if (key != NULL)
				*key = e->key;
			return e->value;
		}
	}
	return NULL;
}

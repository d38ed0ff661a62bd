#include "akm/cache.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t akm_cache_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

CK_ULONG akm_cache_state(const akm_cache_entry *e)
{
	return e->state != 0 && akm_cache_now_ms() - e->state_at < AKM_CACHE_STATE_MS ? e->state : 0;
}

void akm_cache_entry_state(akm_cache_entry *e, CK_ULONG state)
{
	e->state = state;
	e->state_at = akm_cache_now_ms();
}

void akm_cache_init(akm_key_cache *c, size_t max, akm_cache_destroy_fn destroy, void *ctx)
{
	memset(c, 0, sizeof *c);
	akm_hmap_init(&c->by_id);
	akm_hmap_init(&c->by_object);
	c->max = max;
	c->destroy = destroy;
	c->ctx = ctx;
}

static void unlink_entry(akm_key_cache *c, akm_cache_entry *e)
{
	if (e->prev) e->prev->next = e->next; else c->mru = e->next;
	if (e->next) e->next->prev = e->prev; else c->lru = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(akm_key_cache *c, akm_cache_entry *e)
{
	e->next = c->mru;
	if (c->mru) c->mru->prev = e;
	c->mru = e;
	if (!c->lru) c->lru = e;
}

void akm_cache_clear(akm_key_cache *c, bool destroy_objects)
{
	while (c->mru != NULL) {
		akm_cache_entry *e = c->mru;
		unlink_entry(c, e);
		if (destroy_objects)
			c->destroy(c->ctx, e->backend);
		free(e);
	}
	akm_hmap_clear(&c->by_id);
	akm_hmap_clear(&c->by_object);
}

akm_cache_entry *akm_cache_get(const akm_key_cache *c, int64_t id)
{
	return akm_hmap_get(&c->by_id, (uint64_t)id);
}

void akm_cache_drop(akm_key_cache *c, akm_cache_entry *e)
{
	unlink_entry(c, e);
	akm_hmap_remove(&c->by_id, (uint64_t)e->id);
	akm_hmap_remove(&c->by_object, e->backend);
	c->destroy(c->ctx, e->backend);
	free(e);
}

CK_RV akm_cache_put(akm_key_cache *c, int64_t id, CK_OBJECT_HANDLE backend, CK_ULONG purpose, CK_ULONG state,
                    const uint8_t *rid, size_t rid_len)
{
	akm_cache_entry *e = akm_cache_get(c, id);
	if (e != NULL && e->backend == backend) { /* the same object again */
		e->purpose = purpose;
		akm_cache_entry_state(e, state);
		akm_cache_touch(c, e);
		return CKR_OK;
	}
	if (e != NULL)
		akm_cache_drop(c, e); /* replaced: one entry per key */
	if ((e = calloc(1, sizeof *e)) == NULL)
		return CKR_HOST_MEMORY;
	e->id = id;
	e->backend = backend;
	e->purpose = purpose;
	akm_cache_entry_state(e, state);
	if (rid_len > sizeof e->rid)
		rid_len = sizeof e->rid;
	memcpy(e->rid, rid, rid_len);
	e->rid_len = rid_len;
	if (akm_hmap_put(&c->by_id, (uint64_t)id, e) != CKR_OK) {
		free(e);
		return CKR_HOST_MEMORY;
	}
	if (akm_hmap_put(&c->by_object, backend, e) != CKR_OK) {
		akm_hmap_remove(&c->by_id, (uint64_t)id);
		free(e);
		return CKR_HOST_MEMORY;
	}
	push_front(c, e);
	if (c->by_id.count > c->max)
		akm_cache_drop(c, c->lru);
	return CKR_OK;
}

void akm_cache_touch(akm_key_cache *c, akm_cache_entry *e)
{
	unlink_entry(c, e);
	push_front(c, e);
}

void akm_cache_forget(akm_key_cache *c, int64_t id)
{
	akm_cache_entry *e = akm_cache_get(c, id);
	if (e != NULL)
		akm_cache_drop(c, e);
}

void akm_cache_forget_states(akm_key_cache *c)
{
	for (akm_cache_entry *e = c->mru; e != NULL; e = e->next)
		e->state = 0;
}

void akm_cache_set_state(akm_key_cache *c, int64_t id, CK_ULONG state)
{
	akm_cache_entry *e = akm_cache_get(c, id);
	if (e != NULL)
		akm_cache_entry_state(e, state);
}

bool akm_cache_holds(const akm_key_cache *c, CK_OBJECT_HANDLE backend)
{
	return akm_hmap_get(&c->by_object, backend) != NULL;
}

size_t akm_cache_count(const akm_key_cache *c)
{
	return c->by_id.count;
}

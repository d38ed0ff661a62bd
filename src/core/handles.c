#include "core/handles.h"

#include <stdlib.h>

CK_RV akm_handles_init(akm_handle_table *t, uint32_t nslots)
{
	akm_hmap_init(&t->by_handle);
	akm_hmap_init(&t->owned_heads);
	t->nslots = nslots;
	t->next_handle = 1;
	t->by_backend = calloc(nslots ? nslots : 1, sizeof *t->by_backend);
	if (t->by_backend == NULL)
		return CKR_HOST_MEMORY;
	for (uint32_t i = 0; i < nslots; i++)
		akm_hmap_init(&t->by_backend[i]);
	return CKR_OK;
}

void akm_handles_free(akm_handle_table *t)
{
	size_t cursor = 0;
	akm_object *obj;
	while ((obj = akm_hmap_next(&t->by_handle, &cursor, NULL)) != NULL)
		free(obj);
	akm_hmap_clear(&t->by_handle);
	akm_hmap_clear(&t->owned_heads);
	if (t->by_backend != NULL) {
		for (uint32_t i = 0; i < t->nslots; i++)
			akm_hmap_clear(&t->by_backend[i]);
		free(t->by_backend);
	}
	t->by_backend = NULL;
	t->nslots = 0;
}

static void unlink_owner(akm_handle_table *t, akm_object *obj)
{
	if (obj->owner == 0)
		return;
	if (obj->owner_prev != NULL)
		obj->owner_prev->owner_next = obj->owner_next;
	else if (obj->owner_next != NULL)
		akm_hmap_put(&t->owned_heads, obj->owner, obj->owner_next); /* replaces: cannot fail */
	else
		akm_hmap_remove(&t->owned_heads, obj->owner);
	if (obj->owner_next != NULL)
		obj->owner_next->owner_prev = obj->owner_prev;
	obj->owner_prev = obj->owner_next = NULL;
}

CK_OBJECT_HANDLE akm_handles_intern(akm_handle_table *t, uint32_t slot,
                                    CK_OBJECT_HANDLE backend, CK_SESSION_HANDLE owner)
{
	if (slot >= t->nslots)
		return 0;
	akm_object *obj = akm_hmap_get(&t->by_backend[slot], backend);
	if (obj != NULL)
		return obj->handle;

	obj = calloc(1, sizeof *obj);
	if (obj == NULL)
		return 0;
	obj->handle = t->next_handle;
	obj->backend = backend;
	obj->slot = slot;
	obj->owner = owner;
	if (akm_hmap_put(&t->by_handle, obj->handle, obj) != CKR_OK)
		goto fail;
	if (akm_hmap_put(&t->by_backend[slot], backend, obj) != CKR_OK)
		goto fail_handle;
	if (owner != 0) {
		akm_object *head = akm_hmap_get(&t->owned_heads, owner);
		if (akm_hmap_put(&t->owned_heads, owner, obj) != CKR_OK)
			goto fail_backend;
		obj->owner_next = head;
		if (head != NULL)
			head->owner_prev = obj;
	}
	t->next_handle++;
	return obj->handle;

fail_backend:
	akm_hmap_remove(&t->by_backend[slot], backend);
fail_handle:
	akm_hmap_remove(&t->by_handle, obj->handle);
fail:
	free(obj);
	return 0;
}

akm_object *akm_handles_lookup(const akm_handle_table *t, CK_OBJECT_HANDLE handle)
{
	return handle == 0 ? NULL : akm_hmap_get(&t->by_handle, handle);
}

static void forget(akm_handle_table *t, akm_object *obj)
{
	unlink_owner(t, obj);
	akm_hmap_remove(&t->by_handle, obj->handle);
	akm_hmap_remove(&t->by_backend[obj->slot], obj->backend);
	free(obj);
}

void akm_handles_remove(akm_handle_table *t, CK_OBJECT_HANDLE handle)
{
	akm_object *obj = akm_handles_lookup(t, handle);
	if (obj != NULL)
		forget(t, obj);
}

void akm_handles_remove_owned(akm_handle_table *t, CK_SESSION_HANDLE session)
{
	akm_object *obj;
	while ((obj = akm_hmap_get(&t->owned_heads, session)) != NULL)
		forget(t, obj);
}

void akm_handles_remove_slot(akm_handle_table *t, uint32_t slot)
{
	if (slot >= t->nslots)
		return;
	/* Collect first: the map must not change while it is iterated. */
	size_t n = t->by_backend[slot].count, i = 0, cursor = 0;
	akm_object **doomed = malloc((n ? n : 1) * sizeof *doomed);
	akm_object *obj;
	if (doomed == NULL) {
		/* Without memory to collect, forget one at a time from the start. */
		while (cursor = 0, (obj = akm_hmap_next(&t->by_backend[slot], &cursor, NULL)) != NULL)
			forget(t, obj);
		return;
	}
	while ((obj = akm_hmap_next(&t->by_backend[slot], &cursor, NULL)) != NULL)
		doomed[i++] = obj;
	for (size_t k = 0; k < i; k++)
		forget(t, doomed[k]);
	free(doomed);
}

size_t akm_handles_count(const akm_handle_table *t)
{
	return t->by_handle.count;
}

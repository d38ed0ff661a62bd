#include "akm/relationships.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm/pkcs11-akm.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/hmap.h"
#include "core/template.h"

#define KEK_LABEL "akm-pkcs11 KEK"
/* The counter is a pair of data objects found by their CKA_APPLICATION; the
 * value is written into CKA_LABEL, the one attribute PKCS#11 makes
 * modifiable on every storage object (a data object's CKA_VALUE need not
 * be).  Writes go to the older of the two, so a crash in the middle of a
 * write (SoftHSM2 truncates an object file, then rewrites it) leaves the
 * other one readable: the counter may lag, never vanish. */
#define COUNTER_APPLICATION "akm-pkcs11 registry counter"
#define COUNTER_PREFIX "akm-pkcs11 registry counter "
#define COUNTER_LEN (8 + 8 + AKM_AUDIT_HASH_LEN)
#define COUNTER_LABEL_LEN (sizeof COUNTER_PREFIX - 1 + 2 * COUNTER_LEN)
#define KEY_BYTES 32
#define CACHE_MAX 4096
#define KEEP_CREATED_MAX 16 /* creations of at most this many keep their keys cached */
#define MEMBERS_MAX 1024

typedef struct cache_entry {
	int64_t id;
	CK_OBJECT_HANDLE backend;
	CK_ULONG purpose;
	CK_ULONG state;                  /* 0: read it again from the registry */
	uint8_t rid[AKM_ID_MAX];         /* for audit records */
	size_t rid_len;
	struct cache_entry *prev, *next; /* most recently used first */
} cache_entry;

struct akm_relationships {
	akm_store *reg;
	CK_FUNCTION_LIST *be;
	CK_SLOT_ID bslot;
	CK_SESSION_HANDLE service; /* our own backend session */
	CK_OBJECT_HANDLE kek, counter[2];
	uint64_t counter_gen[2];     /* the generation each counter object holds */
	CK_OBJECT_HANDLE kek_token;  /* the KEK itself; kek may be a session copy of it */
	CK_RV status;              /* CKR_OK when usable; why not otherwise */
	akm_mutex *lock;
	akm_hmap cache;            /* key id -> cache_entry */
	akm_hmap cached_objects;   /* backend handle -> cache_entry: hidden from searches */
	uint64_t change_mark;      /* the registry's change mark when the cached states were read */
	struct timespec counter_written; /* when the token counter was last brought up to date */
	bool counter_dirty;        /* the registry has changes the token counter does not know */
	cache_entry *mru, *lru;
};

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* ---- small helpers --------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int64_t key_id_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_REGISTRY_HANDLE(h) ? (int64_t)(h - AKM_REGISTRY_HANDLE_BASE) : 0;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool akm_template_has_akm(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++)
		if ((tmpl[i].type & ~0xffUL) == CKA_AKM_BASE)
			return true;
	return false;
}

/* ---- the key cache (lock held) -------------------------------------- */

static void cache_unlink(akm_relationships *r, cache_entry *e)
{
	if (e->prev) e->prev->next = e->next; else r->mru = e->next;
	if (e->next) e->next->prev = e->prev; else r->lru = e->prev;
	e->prev = e->next = NULL;
}

static void cache_push_front(akm_relationships *r, cache_entry *e)
{
	e->next = r->mru;
	if (r->mru) r->mru->prev = e;
	r->mru = e;
	if (!r->lru) r->lru = e;
}

static void cache_drop(akm_relationships *r, cache_entry *e)
{
	cache_unlink(r, e);
	akm_hmap_remove(&r->cache, (uint64_t)e->id);
	akm_hmap_remove(&r->cached_objects, e->backend);
	r->be->C_DestroyObject(r->service, e->backend);
	free(e);
}

static void cache_clear(akm_relationships *r, bool destroy_objects)
{
	while (r->mru != NULL) {
		cache_entry *e = r->mru;
		cache_unlink(r, e);
		if (destroy_objects)
			r->be->C_DestroyObject(r->service, e->backend);
		free(e);
	}
	akm_hmap_clear(&r->cache);
	akm_hmap_clear(&r->cached_objects);
}

static void cache_forget(akm_relationships *r, int64_t id)
{
	cache_entry *e = akm_hmap_get(&r->cache, (uint64_t)id);
	if (e != NULL)
		cache_drop(r, e);
}

static CK_RV cache_put(akm_relationships *r, int64_t id, CK_OBJECT_HANDLE backend, CK_ULONG purpose,
                       CK_ULONG state, const uint8_t *rid, size_t rid_len)
{
	cache_entry *e = calloc(1, sizeof *e);
	if (e == NULL)
		return CKR_HOST_MEMORY;
	e->id = id;
	e->backend = backend;
	e->purpose = purpose;
	e->state = state;
	memcpy(e->rid, rid, rid_len);
	e->rid_len = rid_len;
	if (akm_hmap_put(&r->cache, (uint64_t)id, e) != CKR_OK) {
		free(e);
		return CKR_HOST_MEMORY;
	}
	if (akm_hmap_put(&r->cached_objects, backend, e) != CKR_OK) {
		akm_hmap_remove(&r->cache, (uint64_t)id);
		free(e);
		return CKR_HOST_MEMORY;
	}
	cache_push_front(r, e);
	if (r->cache.count > CACHE_MAX)
		cache_drop(r, r->lru);
	return CKR_OK;
}

/* States cached from the registry hold until a process commits a change
 * (the registry's change mark moves); then every state is read again. */
static void cache_check_others(akm_relationships *r)
{
	uint64_t mark;
	if (akm_store_change_mark(r->reg, &mark) != CKR_OK || mark == r->change_mark)
		return;
	r->change_mark = mark;
	for (cache_entry *e = r->mru; e != NULL; e = e->next)
		e->state = 0;
}

/* Our own change of a relationship's state, into the cache. */
static void cache_set_state(akm_relationships *r, const int64_t *ids, size_t n, CK_ULONG state)
{
	for (size_t i = 0; i < n; i++) {
		cache_entry *e = akm_hmap_get(&r->cache, (uint64_t)ids[i]);
		if (e != NULL)
			e->state = state;
	}
}

/* ---- audit and the token counter (lock held) ------------------------ */

static void audit(akm_relationships *r, const char *actor, const char *action, const uint8_t *rid,
                  size_t rid_len, CK_RV result, const char *detail)
{
	akm_audit_event ev = {actor, action, rid, rid_len, result, detail};
	CK_RV rv = akm_store_audit_append(r->reg, &ev);
	r->counter_dirty = true; /* the token keeps the audit head too */
	if (rv != CKR_OK)
		akm_log(AKM_LOG_ERROR, "registry %s: cannot append to the audit trail (%s)",
		        akm_store_location(r->reg), action);
}

static void counter_label(char label[COUNTER_LABEL_LEN + 1], const uint8_t value[COUNTER_LEN])
{
	memcpy(label, COUNTER_PREFIX, sizeof COUNTER_PREFIX - 1);
	hex(label + sizeof COUNTER_PREFIX - 1, value, COUNTER_LEN);
}

/* Reads a counter object's value back from its label. */
static CK_RV counter_read(akm_relationships *r, CK_OBJECT_HANDLE h, uint8_t value[COUNTER_LEN])
{
	char label[COUNTER_LABEL_LEN + 1];
	CK_ATTRIBUTE a = {CKA_LABEL, label, COUNTER_LABEL_LEN};
	if (r->be->C_GetAttributeValue(r->service, h, &a, 1) != CKR_OK || a.ulValueLen != COUNTER_LABEL_LEN ||
	    memcmp(label, COUNTER_PREFIX, sizeof COUNTER_PREFIX - 1) != 0)
		return CKR_DEVICE_ERROR;
	const char *digits = label + sizeof COUNTER_PREFIX - 1;
	for (size_t i = 0; i < COUNTER_LEN; i++) {
		int hi = hex_digit(digits[2 * i]), lo = hex_digit(digits[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CKR_DEVICE_ERROR;
		value[i] = (uint8_t)(hi << 4 | lo);
	}
	return CKR_OK;
}

static CK_RV counter_create(akm_relationships *r, const uint8_t value[COUNTER_LEN], CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	char label[COUNTER_LABEL_LEN + 1];
	counter_label(label, value);
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &data, sizeof data}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_MODIFIABLE, (void *)&yes, 1},
		{CKA_LABEL, label, COUNTER_LABEL_LEN},
		{CKA_APPLICATION, COUNTER_APPLICATION, strlen(COUNTER_APPLICATION)},
		{CKA_VALUE, "", 0},
	};
	return r->be->C_CreateObject(r->service, t, sizeof t / sizeof t[0], h);
}

/* Writes the registry's generation and audit head into the token's counter
 * object: a registry file older than that is a rollback. */
static void counter_update(akm_relationships *r)
{
	int64_t gen = 0, seq;
	bool present;
	uint8_t value[COUNTER_LEN];
	if (akm_store_get_int(r->reg, "generation", &gen, &present) != CKR_OK ||
	    akm_store_audit_head(r->reg, &seq, value + 16) != CKR_OK)
		return;
	put_be64(value, (uint64_t)gen);
	put_be64(value + 8, (uint64_t)seq);
	char label[COUNTER_LABEL_LEN + 1];
	counter_label(label, value);
	CK_ATTRIBUTE a = {CKA_LABEL, label, COUNTER_LABEL_LEN};
	int older = r->counter_gen[0] <= r->counter_gen[1] ? 0 : 1;
	CK_RV rv = r->counter[older] != 0 ? r->be->C_SetAttributeValue(r->service, r->counter[older], &a, 1)
	                                  : CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OBJECT_HANDLE_INVALID) /* gone (a crash left it unreadable): make it anew */
		rv = counter_create(r, value, &r->counter[older]);
	if (rv == CKR_OK)
		r->counter_gen[older] = (uint64_t)gen;
	else
		akm_log(AKM_LOG_WARNING, "cannot record the registry generation in the token (0x%lx)", rv);
}

/* Begins a change: the transaction, and the generation it will have. */
static CK_RV change_begin(akm_relationships *r)
{
	CK_RV rv = akm_store_begin(r->reg);
	if (rv != CKR_OK)
		return rv;
	int64_t gen = 0;
	bool present;
	if ((rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK ||
	    (rv = akm_store_set_int(r->reg, "generation", gen + 1)) != CKR_OK)
		akm_store_rollback(r->reg);
	return rv;
}

/* The token counter is written at most once a second (a token object write
 * costs milliseconds on a soft token and wears an HSM's storage), and at
 * logout and finalisation.  A counter that lags the registry is harmless:
 * only a registry older than the counter is refused. */
#define COUNTER_INTERVAL_NS 1000000000LL

static void counter_flush(akm_relationships *r)
{
	if (!r->counter_dirty || (r->counter[0] == 0 && r->counter[1] == 0))
		return;
	counter_update(r);
	clock_gettime(CLOCK_MONOTONIC, &r->counter_written);
	r->counter_dirty = false;
}

static CK_RV change_commit(akm_relationships *r)
{
	CK_RV rv = akm_store_commit(r->reg);
	if (rv != CKR_OK)
		return rv;
	/* Our own commit changed what we cached ourselves: keep the states.
	 * (A commit of another process in between is missed until the next
	 * one; the window is the length of this call.) */
	akm_store_change_mark(r->reg, &r->change_mark);
	r->counter_dirty = true;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long elapsed = (now.tv_sec - r->counter_written.tv_sec) * 1000000000LL +
	                    (now.tv_nsec - r->counter_written.tv_nsec);
	if (elapsed >= COUNTER_INTERVAL_NS)
		counter_flush(r);
	return rv;
}

/* ---- life cycle ------------------------------------------------------- */

CK_RV akm_relationships_open(akm_relationships **out, const char *path, CK_FUNCTION_LIST *be,
                             CK_SLOT_ID bslot, char *err, size_t errlen)
{
	akm_relationships *r = calloc(1, sizeof *r);
	if (r == NULL)
		return CKR_HOST_MEMORY;
	r->be = be;
	r->bslot = bslot;
	r->status = CKR_USER_NOT_LOGGED_IN;
	akm_hmap_init(&r->cache);
	akm_hmap_init(&r->cached_objects);
	CK_RV rv = akm_mutex_new(&r->lock);
	if (rv != CKR_OK) {
		free(r);
		return rv;
	}
	rv = akm_store_open(path, &r->reg, err, errlen);
	if (rv != CKR_OK)
		goto fail;
	rv = be->C_OpenSession(bslot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &r->service);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "cannot open a backend session for the registry (0x%lx)", rv);
		goto fail;
	}
	*out = r;
	return CKR_OK;
fail:
	akm_store_close(r->reg);
	akm_mutex_free(r->lock);
	free(r);
	return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
}

void akm_relationships_close(akm_relationships *r)
{
	if (r == NULL)
		return;
	if (r->status == CKR_OK)
		counter_flush(r);
	/* The backend session goes, and its session objects with it. */
	cache_clear(r, false);
	r->be->C_CloseSession(r->service);
	akm_store_close(r->reg);
	akm_mutex_free(r->lock);
	free(r);
}

static CK_RV find_one(akm_relationships *r, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h,
                      bool *found)
{
	CK_ULONG count = 0;
	CK_RV rv = r->be->C_FindObjectsInit(r->service, tmpl, n);
	if (rv != CKR_OK)
		return rv;
	rv = r->be->C_FindObjects(r->service, h, 1, &count);
	r->be->C_FindObjectsFinal(r->service);
	*found = rv == CKR_OK && count == 1;
	return rv;
}

/* Wrapping and unwrapping with a session copy of the KEK (inside the
 * backend, like the KEK itself) spares a soft token from re-reading its
 * token object on every use; a backend that does not copy keeps using the
 * token KEK. */
static void kek_session_copy(akm_relationships *r)
{
	CK_ATTRIBUTE as_session = {CKA_TOKEN, (void *)&no, 1};
	CK_OBJECT_HANDLE copy;
	r->kek_token = r->kek;
	if (r->be->C_CopyObject(r->service, r->kek, &as_session, 1, &copy) == CKR_OK)
		r->kek = copy;
}

/* Finds the counter objects (registry lock held), keeps the two newest
 * readable ones, and compares the newest with the registry: a registry
 * older than the token's record of it is refused. */
static CK_RV counters_check(akm_relationships *r, uint64_t gen)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &data, sizeof data},
	                       {CKA_APPLICATION, COUNTER_APPLICATION, strlen(COUNTER_APPLICATION)}};
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n = 0;
	CK_RV rv = r->be->C_FindObjectsInit(r->service, find, 2);
	if (rv != CKR_OK)
		return rv;
	rv = r->be->C_FindObjects(r->service, found, 8, &n);
	r->be->C_FindObjectsFinal(r->service);
	if (rv != CKR_OK)
		return rv;
	uint8_t best[COUNTER_LEN] = {0};
	bool any = false;
	r->counter[0] = r->counter[1] = 0;
	r->counter_gen[0] = r->counter_gen[1] = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		uint8_t value[COUNTER_LEN];
		if (counter_read(r, found[i], value) != CKR_OK) {
			r->be->C_DestroyObject(r->service, found[i]); /* a write cut short */
			continue;
		}
		uint64_t g = get_be64(value);
		/* Keep the two newest; an extra one (made while another was
		 * unreadable) goes. */
		int slot = r->counter[0] == 0 ? 0 : r->counter[1] == 0 ? 1 : (r->counter_gen[0] <= r->counter_gen[1] ? 0 : 1);
		if (r->counter[slot] != 0) {
			if (g <= r->counter_gen[slot]) {
				r->be->C_DestroyObject(r->service, found[i]);
				continue;
			}
			r->be->C_DestroyObject(r->service, r->counter[slot]);
		}
		r->counter[slot] = found[i];
		r->counter_gen[slot] = g;
		if (!any || g > get_be64(best))
			memcpy(best, value, sizeof best);
		any = true;
	}
	if (!any && gen > 0) {
		akm_log(AKM_LOG_ERROR, "registry %s has changes (generation %llu) but the token has no %s: "
		        "wrong token, or the counter was removed", akm_store_location(r->reg), (unsigned long long)gen,
		        COUNTER_APPLICATION);
		return CKR_DEVICE_ERROR;
	}
	uint64_t token_gen = get_be64(best);
	if (token_gen > gen) {
		akm_log(AKM_LOG_ERROR, "registry %s is older than the token's record of it (generation %llu < %llu): "
		        "it was restored from an old copy, replaced or deleted; refusing to use it",
		        akm_store_location(r->reg), (unsigned long long)gen, (unsigned long long)token_gen);
		audit(r, "module", "rollback-detected", NULL, 0, CKR_DEVICE_ERROR, NULL);
		return CKR_DEVICE_ERROR;
	}
	/* Two objects from the start, so a write always has one to spare. */
	for (int i = 0; i < 2; i++)
		if (r->counter[i] == 0) {
			if ((rv = counter_create(r, best, &r->counter[i])) != CKR_OK) {
				akm_log(AKM_LOG_ERROR, "cannot create the registry counter in the token (0x%lx)", rv);
				return rv;
			}
			r->counter_gen[i] = token_gen;
		}
	return CKR_OK;
}

static CK_RV login_inlock(akm_relationships *r)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = KEY_BYTES;
	bool have_kek;
	int64_t gen = 0;
	bool present;
	CK_RV rv;

	CK_ATTRIBUTE kek_find[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_LABEL, KEK_LABEL, strlen(KEK_LABEL)}};
	if ((rv = find_one(r, kek_find, 2, &r->kek, &have_kek)) != CKR_OK)
		return rv;
	if ((rv = akm_store_get_int(r->reg, "generation", &gen, &present)) != CKR_OK)
		return rv;

	if (!have_kek) {
		/* Whether any key exists: the first id, not a count of millions. */
		akm_store_query all = {0};
		int64_t first;
		size_t any = 0;
		if ((rv = akm_store_find(r->reg, &all, 0, &first, 1, &any)) != CKR_OK)
			return rv;
		if (any > 0) {
			akm_log(AKM_LOG_ERROR, "registry %s holds keys but the token has no %s: wrong token?",
			        akm_store_location(r->reg), KEK_LABEL);
			return CKR_DEVICE_ERROR;
		}
		CK_MECHANISM gen_mech = {CKM_AES_KEY_GEN, NULL, 0};
		CK_ATTRIBUTE kek_new[] = {
			{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &aes, sizeof aes},
			{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&yes, 1},
			{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
			{CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_WRAP, (void *)&yes, 1},
			{CKA_UNWRAP, (void *)&yes, 1}, {CKA_ENCRYPT, (void *)&no, 1},
			{CKA_DECRYPT, (void *)&no, 1}, {CKA_LABEL, KEK_LABEL, strlen(KEK_LABEL)},
		};
		rv = r->be->C_GenerateKey(r->service, &gen_mech, kek_new, sizeof kek_new / sizeof kek_new[0], &r->kek);
		if (rv != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "cannot create the registry's key-encryption key in the token (0x%lx)", rv);
			return rv;
		}
	}
	return counters_check(r, (uint64_t)gen);
}

CK_RV akm_relationships_login(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	/* Under the registry's write lock, which other processes share: two
	 * first logins at once must not each make a KEK. */
	CK_RV rv = akm_store_begin(r->reg);
	if (rv == CKR_OK) {
		rv = login_inlock(r);
		CK_RV end = akm_store_commit(r->reg);
		if (rv == CKR_OK)
			rv = end;
	}
	if (rv == CKR_OK)
		kek_session_copy(r);
	r->status = rv;
	if (rv == CKR_OK)
		akm_store_change_mark(r->reg, &r->change_mark);
	akm_mutex_unlock(r->lock);
	return rv;
}

void akm_relationships_logout(akm_relationships *r)
{
	akm_mutex_lock(r->lock);
	if (r->status == CKR_OK)
		counter_flush(r); /* while the counter is still within reach */
	cache_clear(r, true);
	if (r->kek != r->kek_token)
		r->be->C_DestroyObject(r->service, r->kek);
	r->be->C_Logout(r->service); /* already done when the application logged out */
	r->kek = r->kek_token = r->counter[0] = r->counter[1] = 0;
	r->status = CKR_USER_NOT_LOGGED_IN;
	akm_mutex_unlock(r->lock);
}

bool akm_relationships_hides(akm_relationships *r, CK_OBJECT_HANDLE backend)
{
	akm_mutex_lock(r->lock);
	bool hidden = backend != 0 && (backend == r->kek || backend == r->kek_token ||
	                               backend == r->counter[0] || backend == r->counter[1] ||
	                               akm_hmap_get(&r->cached_objects, backend) != NULL);
	akm_mutex_unlock(r->lock);
	return hidden;
}

/* ---- the attribute policy ---------------------------------------------- */

/* One row per attribute a creating template may name (docs/object-model.md):
 * what it holds, for which kind it is required or allowed, and whether
 * C_SetAttributeValue may change it. */
enum {
	P_BYTES = 1, P_ULONG = 2, P_BOOL = 4,
	P_CREATE = 8,          /* may be given at creation */
	P_REQUIRED_PR = 16,    /* required for a provisioning relationship */
	P_REQUIRED_OP = 32,    /* required for an operational relationship */
	P_ONLY_PR = 64, P_ONLY_OP = 128,
	P_MODIFIABLE = 256,
	P_FIXED = 512,         /* may be given at creation, but only with the value it always has */
};

typedef struct attr_rule {
	CK_ATTRIBUTE_TYPE type;
	unsigned flags;
	size_t min, max;       /* byte length, for P_BYTES */
	CK_ULONG fixed;        /* for P_FIXED */
} attr_rule;

static const attr_rule rules[] = {
	{CKA_CLASS, P_ULONG | P_FIXED, 0, 0, CKO_SECRET_KEY},
	{CKA_TOKEN, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_PRIVATE, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_SENSITIVE, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_EXTRACTABLE, P_BOOL | P_FIXED, 0, 0, CK_FALSE},
	{CKA_LABEL, P_BYTES | P_CREATE | P_MODIFIABLE, 0, AKM_LABEL_MAX - 4, 0},
	{CKA_AKM_KIND, P_ULONG | P_CREATE | P_REQUIRED_PR | P_REQUIRED_OP, 0, 0, 0},
	{CKA_AKM_RELATIONSHIP_ID, P_BYTES | P_CREATE, 1, AKM_ID_MAX, 0},
	{CKA_AKM_STATION_ID, P_BYTES | P_CREATE, 1, AKM_ID_MAX, 0},
	{CKA_AKM_PEER_NODE, P_BYTES | P_CREATE | P_REQUIRED_PR | P_ONLY_PR, 1, AKM_ID_MAX, 0},
	{CKA_AKM_HW_BINDING, P_BYTES | P_CREATE | P_REQUIRED_PR | P_ONLY_PR, 1, AKM_HW_MAX, 0},
	{CKA_AKM_MEMBERS, P_BYTES | P_CREATE | P_REQUIRED_OP | P_ONLY_OP, 4, MEMBERS_MAX * (AKM_ID_MAX + 1), 0},
	{CKA_AKM_STATE, P_ULONG | P_CREATE | P_MODIFIABLE, 0, 0, 0},
	{CKA_AKM_SITE, P_BYTES | P_CREATE, 0, AKM_SITE_MAX, 0},
	{CKA_AKM_NODE_KEY, P_BYTES | P_CREATE | P_ONLY_PR | P_MODIFIABLE, AKM_NODE_KEY_LEN, AKM_NODE_KEY_LEN, 0},
	{CKA_AKM_STATUS, P_ULONG | P_MODIFIABLE, 0, 0, 0},
	{CKA_AKM_SEQUENCE, P_ULONG | P_MODIFIABLE, 0, 0, 0},
};

static const attr_rule *rule_for(CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (rules[i].type == type)
			return &rules[i];
	return NULL;
}

/* Attributes every relationship key has but nobody sets. */
static bool is_known_readonly(CK_ATTRIBUTE_TYPE type)
{
	static const CK_ATTRIBUTE_TYPE fixed[] = {
		CKA_AKM_EPOCH, CKA_AKM_KEY_PURPOSE, CKA_AKM_CREATED, CKA_AKM_CHANGED, CKA_ID,
		CKA_KEY_TYPE, CKA_VALUE, CKA_VALUE_LEN, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,
		CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER,
		CKA_LOCAL, CKA_KEY_GEN_MECHANISM, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
		CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_START_DATE, CKA_END_DATE,
		CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED,
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (fixed[i] == type)
			return true;
	return false;
}

static CK_RV value_ulong(const CK_ATTRIBUTE *a, CK_ULONG *v)
{
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(v, a->pValue, sizeof *v);
	return CKR_OK;
}

/* Members: (length byte 1..32, ID bytes) repeated, 2..MEMBERS_MAX, no duplicates. */
static bool members_valid(const uint8_t *p, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n;) {
		size_t len = p[i];
		if (len < 1 || len > AKM_ID_MAX || i + 1 + len > n)
			return false;
		for (size_t j = 0; j < i;) { /* earlier members */
			size_t l2 = p[j];
			if (l2 == len && memcmp(p + j + 1, p + i + 1, len) == 0)
				return false;
			j += 1 + l2;
		}
		i += 1 + len;
		count++;
	}
	return count >= 2 && count <= MEMBERS_MAX;
}

static bool state_valid(CK_ULONG s)
{
	return s >= CKV_AKM_STATE_PENDING && s <= CKV_AKM_STATE_REVOKED;
}

static bool transition_allowed(CK_ULONG from, CK_ULONG to)
{
	if (from == to)
		return true;
	switch (from) {
	case CKV_AKM_STATE_PENDING: return to == CKV_AKM_STATE_ACTIVE || to == CKV_AKM_STATE_REVOKED;
	case CKV_AKM_STATE_ACTIVE: return to == CKV_AKM_STATE_SUSPENDED || to == CKV_AKM_STATE_REVOKED;
	case CKV_AKM_STATE_SUSPENDED: return to == CKV_AKM_STATE_ACTIVE || to == CKV_AKM_STATE_REVOKED;
	default: return false;
	}
}

/*
 * Checks a creating template against the rules and fills `rel` and the
 * label.  Codes, in the order they are checked (PKCS#11 v2.40 §4.1.3 and
 * §5.7): an unknown attribute CKR_ATTRIBUTE_TYPE_INVALID; one that cannot
 * be set CKR_ATTRIBUTE_READ_ONLY; a bad value CKR_ATTRIBUTE_VALUE_INVALID;
 * an attribute of the other kind CKR_TEMPLATE_INCONSISTENT; a missing
 * required one CKR_TEMPLATE_INCOMPLETE.
 */
static CK_RV check_create_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_relationship *rel,
                                   uint8_t *label, size_t *label_len)
{
	/* Pass 1: every attribute known and settable. */
	for (CK_ULONG i = 0; i < count; i++) {
		const attr_rule *rule = rule_for(tmpl[i].type);
		if (rule == NULL)
			return is_known_readonly(tmpl[i].type) ? CKR_ATTRIBUTE_READ_ONLY : CKR_ATTRIBUTE_TYPE_INVALID;
		if (!(rule->flags & (P_CREATE | P_FIXED)))
			return CKR_ATTRIBUTE_READ_ONLY; /* set later, by the station (CKA_AKM_STATUS, _SEQUENCE) */
	}
	/* Pass 2: values. */
	bool have_kind = false;
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		const attr_rule *rule = rule_for(a->type);
		CK_ULONG u = 0;
		if (rule->flags & P_BOOL) {
			if (a->pValue == NULL || a->ulValueLen != 1 || *(CK_BBOOL *)a->pValue != (CK_BBOOL)rule->fixed)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			continue;
		}
		if (rule->flags & P_ULONG) {
			if (value_ulong(a, &u) != CKR_OK)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			if ((rule->flags & P_FIXED) && u != rule->fixed)
				return CKR_ATTRIBUTE_VALUE_INVALID;
		} else if (a->ulValueLen < rule->min || a->ulValueLen > rule->max ||
		           (a->ulValueLen > 0 && a->pValue == NULL)) {
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		switch (a->type) {
		case CKA_AKM_KIND:
			if (u != CKV_AKM_KIND_PROVISIONING && u != CKV_AKM_KIND_OPERATIONAL)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			rel->kind = u;
			have_kind = true;
			break;
		case CKA_AKM_STATE:
			if (u != CKV_AKM_STATE_PENDING && u != CKV_AKM_STATE_ACTIVE)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* a new relationship is not suspended or revoked */
			rel->state = u;
			break;
		case CKA_AKM_RELATIONSHIP_ID:
			memcpy(rel->rid, a->pValue, a->ulValueLen);
			rel->rid_len = a->ulValueLen;
			break;
		case CKA_AKM_STATION_ID:
			memcpy(rel->station, a->pValue, a->ulValueLen);
			rel->station_len = a->ulValueLen;
			break;
		case CKA_AKM_PEER_NODE:
			memcpy(rel->peer, a->pValue, a->ulValueLen);
			rel->peer_len = a->ulValueLen;
			break;
		case CKA_AKM_HW_BINDING:
			memcpy(rel->hw, a->pValue, a->ulValueLen);
			rel->hw_len = a->ulValueLen;
			break;
		case CKA_AKM_MEMBERS:
			if (!members_valid(a->pValue, a->ulValueLen))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			free(rel->members);
			rel->members = malloc(a->ulValueLen);
			if (rel->members == NULL)
				return CKR_HOST_MEMORY;
			memcpy(rel->members, a->pValue, a->ulValueLen);
			rel->members_len = a->ulValueLen;
			break;
		case CKA_LABEL:
			memcpy(label, a->pValue, a->ulValueLen);
			*label_len = a->ulValueLen;
			break;
		case CKA_AKM_SITE:
			memcpy(rel->site, a->pValue, a->ulValueLen);
			rel->site_len = a->ulValueLen;
			break;
		case CKA_AKM_NODE_KEY:
			if (((const uint8_t *)a->pValue)[0] != 0x04)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* not an uncompressed point */
			memcpy(rel->node_key, a->pValue, a->ulValueLen);
			rel->node_key_len = a->ulValueLen;
			break;
		default:
			break;
		}
	}
	if (!have_kind)
		return CKR_TEMPLATE_INCOMPLETE;
	/* Pass 3: per kind. */
	unsigned only_other = rel->kind == CKV_AKM_KIND_PROVISIONING ? P_ONLY_OP : P_ONLY_PR;
	unsigned required = rel->kind == CKV_AKM_KIND_PROVISIONING ? P_REQUIRED_PR : P_REQUIRED_OP;
	for (CK_ULONG i = 0; i < count; i++)
		if (rule_for(tmpl[i].type)->flags & only_other)
			return CKR_TEMPLATE_INCONSISTENT;
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
		if ((rules[k].flags & required) && akm_template_find(tmpl, count, rules[k].type) == NULL)
			return CKR_TEMPLATE_INCOMPLETE;
	return CKR_OK;
}

/* ---- creation ------------------------------------------------------------ */

/* Generates one credential in the backend and wraps it under the KEK.
 * With `keep`, the backend copy is made non-extractable for the cache;
 * otherwise it is destroyed at once (*backend = 0): a bulk creation would
 * only push it out of the cache again, and sealing it is a backend call. */
static CK_RV make_key(akm_relationships *r, CK_ULONG purpose, akm_key *key, CK_OBJECT_HANDLE *backend,
                      bool keep)
{
	CK_ULONG len = KEY_BYTES;
	CK_MECHANISM gen = {purpose == CKV_AKM_PURPOSE_ENCRYPT ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	const CK_BBOOL *enc = purpose == CKV_AKM_PURPOSE_ENCRYPT ? &yes : &no;
	const CK_BBOOL *mac = purpose == CKV_AKM_PURPOSE_MAC ? &yes : &no;
	CK_ATTRIBUTE t[] = {
		{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&no, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
		{CKA_EXTRACTABLE, (void *)&yes, 1}, /* once, to wrap it under the KEK */
		{CKA_ENCRYPT, (void *)enc, 1}, {CKA_DECRYPT, (void *)enc, 1},
		{CKA_WRAP, (void *)enc, 1}, {CKA_UNWRAP, (void *)enc, 1},
		{CKA_SIGN, (void *)mac, 1}, {CKA_VERIFY, (void *)mac, 1},
	};
	CK_RV rv = r->be->C_GenerateKey(r->service, &gen, t, sizeof t / sizeof t[0], backend);
	if (rv != CKR_OK)
		return rv;
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ULONG wlen = sizeof key->wrapped;
	rv = r->be->C_WrapKey(r->service, &kwp, r->kek, *backend, key->wrapped, &wlen);
	CK_ATTRIBUTE seal = {CKA_EXTRACTABLE, (void *)&no, 1};
	if (rv == CKR_OK && keep)
		rv = r->be->C_SetAttributeValue(r->service, *backend, &seal, 1);
	if (rv != CKR_OK || !keep) {
		r->be->C_DestroyObject(r->service, *backend);
		*backend = 0;
		if (rv != CKR_OK)
			return rv;
	}
	key->wrapped_len = wlen;
	key->purpose = purpose;
	key->key_type = purpose == CKV_AKM_PURPOSE_ENCRYPT ? CKK_AES : CKK_GENERIC_SECRET;
	key->value_len = KEY_BYTES;
	return CKR_OK;
}

static void key_names(akm_key *key, const akm_relationship *rel, const uint8_t *label, size_t label_len)
{
	const char *suffix = key->purpose == CKV_AKM_PURPOSE_ENCRYPT ? "/enc" : "/mac";
	memcpy(key->ckid, rel->rid, rel->rid_len);
	key->ckid[rel->rid_len] = (uint8_t)key->purpose;
	key->ckid_len = rel->rid_len + 1;
	memcpy(key->label, label, label_len);
	memcpy(key->label + label_len, suffix, 4);
	key->label_len = label_len + 4;
}

/* One relationship of a creation: checked, its keys made, then stored. */
typedef struct pending_rel {
	akm_relationship rel;
	uint8_t label[AKM_LABEL_MAX];
	size_t label_len;
	akm_key enc, mac;
	CK_OBJECT_HANDLE benc, bmac;
} pending_rel;

static void pending_discard(akm_relationships *r, pending_rel *p)
{
	if (p->benc != 0)
		r->be->C_DestroyObject(r->service, p->benc);
	if (p->bmac != 0)
		r->be->C_DestroyObject(r->service, p->bmac);
	p->benc = p->bmac = 0;
}

/* Lock held: an ID, a label, and both keys made and wrapped (and kept in
 * the backend for the cache, with `keep`). */
static CK_RV pending_make(akm_relationships *r, pending_rel *p, bool keep)
{
	CK_RV rv;
	if (p->rel.rid_len == 0) {
		p->rel.rid_len = 16;
		if ((rv = r->be->C_GenerateRandom(r->service, p->rel.rid, p->rel.rid_len)) != CKR_OK)
			return rv;
	}
	if (p->label_len == 0) {
		p->label_len = (size_t)snprintf((char *)p->label, sizeof p->label, "akm:");
		hex((char *)p->label + p->label_len, p->rel.rid, p->rel.rid_len);
		p->label_len += 2 * p->rel.rid_len;
	}
	p->rel.created = p->rel.changed = (int64_t)time(NULL);
	if ((rv = make_key(r, CKV_AKM_PURPOSE_ENCRYPT, &p->enc, &p->benc, keep)) != CKR_OK)
		return rv;
	if ((rv = make_key(r, CKV_AKM_PURPOSE_MAC, &p->mac, &p->bmac, keep)) != CKR_OK)
		return rv;
	key_names(&p->enc, &p->rel, p->label, p->label_len);
	key_names(&p->mac, &p->rel, p->label, p->label_len);
	return CKR_OK;
}

/* Lock and transaction held: the relationship, its keys and its audit
 * record.  A duplicate ID is CKR_ATTRIBUTE_VALUE_INVALID. */
static CK_RV pending_store(akm_relationships *r, pending_rel *p)
{
	CK_RV rv;
	if ((rv = akm_store_insert_relationship(r->reg, &p->rel)) != CKR_OK)
		return rv;
	p->enc.relationship = p->mac.relationship = p->rel.id;
	if ((rv = akm_store_insert_key(r->reg, &p->enc)) != CKR_OK ||
	    (rv = akm_store_insert_key(r->reg, &p->mac)) != CKR_OK)
		return rv;
	akm_audit_event ev = {"user", "create", p->rel.rid, p->rel.rid_len, CKR_OK,
	                      p->rel.kind == CKV_AKM_KIND_PROVISIONING ? "provisioning" : "operational"};
	return akm_store_audit_append(r->reg, &ev);
}

/* Keeps the fresh backend copies, when there are any: the first use costs
 * no unwrap. */
static void pending_keep(akm_relationships *r, pending_rel *p)
{
	if (p->benc == 0 || p->bmac == 0)
		return;
	if (cache_put(r, p->enc.id, p->benc, p->enc.purpose, p->rel.state, p->rel.rid, p->rel.rid_len) != CKR_OK)
		r->be->C_DestroyObject(r->service, p->benc);
	if (cache_put(r, p->mac.id, p->bmac, p->mac.purpose, p->rel.state, p->rel.rid, p->rel.rid_len) != CKR_OK)
		r->be->C_DestroyObject(r->service, p->bmac);
	p->benc = p->bmac = 0;
}

CK_RV akm_relationships_create(akm_relationships *r, CK_ATTRIBUTE *const *tmpls, const CK_ULONG *counts,
                               CK_ULONG n, CK_OBJECT_HANDLE *handles)
{
	pending_rel *p = calloc(n ? n : 1, sizeof *p);
	CK_ULONG made = 0;
	CK_RV rv = CKR_OK;
	if (p == NULL)
		return CKR_HOST_MEMORY;
	/* Every template is checked before anything is made. */
	for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++) {
		p[i].rel.state = CKV_AKM_STATE_ACTIVE;
		p[i].rel.status = CKV_AKM_STATUS_CREATED;
		rv = check_create_template(tmpls[i], counts[i], &p[i].rel, p[i].label, &p[i].label_len);
		if (rv != CKR_OK && n > 1)
			akm_log(AKM_LOG_INFO, "relationship %lu of the batch refused (0x%lx)", i, rv);
	}
	if (rv != CKR_OK)
		goto out_free;
	akm_mutex_lock(r->lock);
	if ((rv = r->status) != CKR_OK)
		goto out;
	/* A few new relationships are likely to be used at once; a bulk
	 * creation's would only churn the cache. */
	bool keep = n <= KEEP_CREATED_MAX;
	for (; made < n && rv == CKR_OK; made++)
		rv = pending_make(r, &p[made], keep);
	if (rv != CKR_OK)
		goto out;
	/* One transaction: every relationship, its keys and its audit record
	 * are there together, or none of them. */
	if ((rv = change_begin(r)) != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++)
		rv = pending_store(r, &p[i]);
	if (rv != CKR_OK) {
		akm_store_rollback(r->reg);
		goto out;
	}
	if ((rv = change_commit(r)) != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < n; i++) {
		handles[i] = AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)p[i].enc.id;
		pending_keep(r, &p[i]);
	}
out:
	for (CK_ULONG i = 0; i < made; i++)
		pending_discard(r, &p[i]);
	akm_mutex_unlock(r->lock);
out_free:
	for (CK_ULONG i = 0; i < n; i++)
		akm_relationship_clear(&p[i].rel);
	free(p);
	return rv;
}

/* ---- attributes ------------------------------------------------------------ */

/* Everything a registry key shows, with storage for the values. */
typedef struct key_view {
	akm_key key;
	akm_relationship rel;
	CK_OBJECT_CLASS cls;
	CK_ULONG key_type, value_len, kind, state, epoch, purpose, created, changed, status, seq;
	CK_MECHANISM_TYPE gen_mech;
	akm_attr_value attrs[56];
	size_t n;
} key_view;

static void add(key_view *v, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len, bool sensitive)
{
	v->attrs[v->n++] = (akm_attr_value){type, value, len, sensitive};
}

static CK_RV view_key(akm_relationships *r, int64_t id, key_view *v)
{
	memset(v, 0, sizeof *v);
	CK_RV rv = akm_store_get_key(r->reg, id, &v->key, &v->rel);
	if (rv != CKR_OK)
		return rv;
	bool enc = v->key.purpose == CKV_AKM_PURPOSE_ENCRYPT;
	const CK_BBOOL *e = enc ? &yes : &no, *m = enc ? &no : &yes;
	v->cls = CKO_SECRET_KEY;
	v->key_type = v->key.key_type;
	v->value_len = v->key.value_len;
	v->kind = v->rel.kind;
	v->state = v->rel.state;
	v->epoch = v->rel.epoch;
	v->purpose = v->key.purpose;
	v->created = (CK_ULONG)v->rel.created;
	v->changed = (CK_ULONG)v->rel.changed;
	v->status = v->rel.status;
	v->seq = v->rel.seq;
	v->gen_mech = CKM_AKM_RELATIONSHIP_GEN;
	add(v, CKA_CLASS, &v->cls, sizeof v->cls, false);
	add(v, CKA_TOKEN, &yes, 1, false);
	add(v, CKA_PRIVATE, &yes, 1, false);
	add(v, CKA_MODIFIABLE, &yes, 1, false);
	add(v, CKA_COPYABLE, &no, 1, false);
	add(v, CKA_DESTROYABLE, &yes, 1, false);
	add(v, CKA_LABEL, v->key.label, v->key.label_len, false);
	add(v, CKA_ID, v->key.ckid, v->key.ckid_len, false);
	add(v, CKA_KEY_TYPE, &v->key_type, sizeof v->key_type, false);
	add(v, CKA_START_DATE, "", 0, false);
	add(v, CKA_END_DATE, "", 0, false);
	add(v, CKA_DERIVE, &no, 1, false);
	add(v, CKA_LOCAL, &yes, 1, false);
	add(v, CKA_KEY_GEN_MECHANISM, &v->gen_mech, sizeof v->gen_mech, false);
	add(v, CKA_SENSITIVE, &yes, 1, false);
	add(v, CKA_ENCRYPT, e, 1, false);
	add(v, CKA_DECRYPT, e, 1, false);
	add(v, CKA_WRAP, e, 1, false);
	add(v, CKA_UNWRAP, e, 1, false);
	add(v, CKA_SIGN, m, 1, false);
	add(v, CKA_VERIFY, m, 1, false);
	add(v, CKA_SIGN_RECOVER, &no, 1, false);
	add(v, CKA_VERIFY_RECOVER, &no, 1, false);
	add(v, CKA_EXTRACTABLE, &no, 1, false);
	add(v, CKA_ALWAYS_SENSITIVE, &yes, 1, false);
	add(v, CKA_NEVER_EXTRACTABLE, &yes, 1, false);
	add(v, CKA_WRAP_WITH_TRUSTED, &no, 1, false);
	add(v, CKA_TRUSTED, &no, 1, false);
	add(v, CKA_VALUE, NULL, 0, true);
	add(v, CKA_VALUE_LEN, &v->value_len, sizeof v->value_len, false);
	add(v, CKA_AKM_RELATIONSHIP_ID, v->rel.rid, v->rel.rid_len, false);
	add(v, CKA_AKM_KIND, &v->kind, sizeof v->kind, false);
	add(v, CKA_AKM_EPOCH, &v->epoch, sizeof v->epoch, false);
	add(v, CKA_AKM_STATE, &v->state, sizeof v->state, false);
	add(v, CKA_AKM_STATION_ID, v->rel.station, v->rel.station_len, false);
	if (v->kind == CKV_AKM_KIND_PROVISIONING) {
		add(v, CKA_AKM_PEER_NODE, v->rel.peer, v->rel.peer_len, false);
		add(v, CKA_AKM_HW_BINDING, v->rel.hw, v->rel.hw_len, false);
		add(v, CKA_AKM_NODE_KEY, v->rel.node_key, v->rel.node_key_len, false);
	} else {
		add(v, CKA_AKM_MEMBERS, v->rel.members, v->rel.members_len, false);
	}
	add(v, CKA_AKM_KEY_PURPOSE, &v->purpose, sizeof v->purpose, false);
	add(v, CKA_AKM_CREATED, &v->created, sizeof v->created, false);
	add(v, CKA_AKM_CHANGED, &v->changed, sizeof v->changed, false);
	add(v, CKA_AKM_STATUS, &v->status, sizeof v->status, false);
	add(v, CKA_AKM_SEQUENCE, &v->seq, sizeof v->seq, false);
	add(v, CKA_AKM_SITE, v->rel.site, v->rel.site_len, false);
	return CKR_OK;
}

static void view_clear(key_view *v)
{
	akm_relationship_clear(&v->rel);
}

/* Whether an object shows every template entry with exactly that value. */
static bool attrs_match(const akm_attr_value *attrs, size_t nattrs, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++) {
		const akm_attr_value *a = NULL;
		for (size_t k = 0; k < nattrs; k++)
			if (attrs[k].type == tmpl[i].type)
				a = &attrs[k];
		if (a == NULL || a->sensitive || a->len != tmpl[i].ulValueLen ||
		    (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
			return false;
	}
	return true;
}

/* Every read goes to the registry, so changes made by other processes
 * (a revocation, a destroyed relationship) count at once; the cache only
 * maps a key id, whose key never changes, to its unwrapped copy. */
static CK_RV ready_or_status(akm_relationships *r)
{
	return r->status;
}

CK_RV akm_relationships_get_attributes(akm_relationships *r, CK_OBJECT_HANDLE h,
                                       CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	key_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv == CKR_OK && (rv = view_key(r, key_id_of(h), &v)) == CKR_OK) {
		rv = akm_template_fill(v.attrs, v.n, tmpl, count);
		view_clear(&v);
	}
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

CK_RV akm_relationships_exists(akm_relationships *r, CK_OBJECT_HANDLE h)
{
	CK_ULONG size;
	return akm_relationships_object_size(r, h, &size);
}

CK_RV akm_relationships_object_size(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	key_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv == CKR_OK && (rv = view_key(r, key_id_of(h), &v)) == CKR_OK) {
		*size = (CK_ULONG)(v.key.wrapped_len + v.key.label_len + v.key.ckid_len + v.rel.members_len +
		                   v.rel.rid_len + v.rel.peer_len + v.rel.hw_len + v.rel.station_len);
		view_clear(&v);
	}
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

/* A user's audit record about `rel`, in the caller's transaction. */
static CK_RV append(akm_relationships *r, const char *action, const akm_relationship *rel, const char *detail)
{
	akm_audit_event ev = {"user", action, rel->rid, rel->rid_len, CKR_OK, detail};
	return akm_store_audit_append(r->reg, &ev);
}

/* Key ids of a relationship's credential set. */
static CK_RV relationship_keys(akm_relationships *r, const akm_relationship *rel, int64_t ids[2], size_t *n)
{
	akm_store_query q = {0};
	q.rid = rel->rid;
	q.rid_len = rel->rid_len;
	return akm_store_find(r->reg, &q, 0, ids, 2, n);
}

CK_RV akm_relationships_set_attributes(akm_relationships *r, CK_OBJECT_HANDLE h,
                                       const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	key_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK || (rv = view_key(r, key_id_of(h), &v)) != CKR_OK)
		goto out;
	/* Check everything before changing anything. */
	const CK_ATTRIBUTE *label = NULL;
	akm_relationship was = v.rel;      /* scalar fields, to compare and name the changes */
	for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		const attr_rule *rule = rule_for(a->type);
		bool shown = false; /* an attribute this key has */
		CK_ULONG u = 0;
		for (size_t k = 0; k < v.n; k++)
			shown = shown || v.attrs[k].type == a->type;
		if (!shown)
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		else if (rule == NULL || !(rule->flags & P_MODIFIABLE))
			rv = CKR_ATTRIBUTE_READ_ONLY;
		else if (a->type == CKA_LABEL) {
			if (a->ulValueLen > rule->max || (a->ulValueLen > 0 && a->pValue == NULL))
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
			label = a;
		} else if (a->type == CKA_AKM_NODE_KEY) {
			if (a->ulValueLen != AKM_NODE_KEY_LEN || a->pValue == NULL || ((const uint8_t *)a->pValue)[0] != 0x04)
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
			else if (was.node_key_len != 0 && memcmp(was.node_key, a->pValue, AKM_NODE_KEY_LEN) != 0)
				rv = CKR_ATTRIBUTE_READ_ONLY; /* set once */
			else {
				memcpy(v.rel.node_key, a->pValue, AKM_NODE_KEY_LEN);
				v.rel.node_key_len = AKM_NODE_KEY_LEN;
			}
		} else if (value_ulong(a, &u) != CKR_OK) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
		} else if (a->type == CKA_AKM_STATE) {
			if (!state_valid(u) || !transition_allowed(was.state, u))
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
			v.rel.state = u;
		} else if (a->type == CKA_AKM_STATUS) {
			if (u < was.status || u > CKV_AKM_STATUS_VERIFIED) /* forward only */
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
			v.rel.status = u;
		} else if (a->type == CKA_AKM_SEQUENCE) {
			if (u != was.seq + 1) /* every bundle gets the next number */
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
			v.rel.seq = u;
		}
	}
	if (rv != CKR_OK)
		goto out_view;
	if ((rv = change_begin(r)) != CKR_OK)
		goto out_view;
	if (label != NULL)
		rv = akm_store_update_key_label(r->reg, v.key.id, label->pValue, label->ulValueLen);
	bool key_changed = was.node_key_len != v.rel.node_key_len;
	if (rv == CKR_OK && (v.rel.state != was.state || v.rel.status != was.status || v.rel.seq != was.seq ||
	                     key_changed)) {
		v.rel.changed = (int64_t)time(NULL);
		rv = akm_store_update_relationship(r->reg, &v.rel);
	}
	/* One audit record per change, in the same transaction. */
	static const char *const states[] = {"", "pending", "active", "suspended", "revoked"};
	static const char *const statuses[] = {"", "created", "exported", "imported", "activated", "verified"};
	char detail[64];
	if (rv == CKR_OK && v.rel.state != was.state) {
		snprintf(detail, sizeof detail, "state %s -> %s", states[was.state], states[v.rel.state]);
		rv = append(r, "set-state", &v.rel, detail);
	}
	if (rv == CKR_OK && v.rel.status != was.status) {
		snprintf(detail, sizeof detail, "status %s -> %s", statuses[was.status], statuses[v.rel.status]);
		rv = append(r, "set-status", &v.rel, detail);
	}
	if (rv == CKR_OK && v.rel.seq != was.seq) {
		snprintf(detail, sizeof detail, "sequence %lu", v.rel.seq);
		rv = append(r, "set-sequence", &v.rel, detail);
	}
	if (rv == CKR_OK && key_changed)
		rv = append(r, "set-node-key", &v.rel, NULL);
	if (rv == CKR_OK && label != NULL)
		rv = append(r, "set-label", &v.rel, NULL);
	if (rv == CKR_OK && (rv = change_commit(r)) == CKR_OK) {
		int64_t ids[2];
		size_t n = 0;
		if (relationship_keys(r, &v.rel, ids, &n) == CKR_OK)
			cache_set_state(r, ids, n, v.rel.state);
	} else if (rv != CKR_OK) {
		akm_store_rollback(r->reg);
	}
out_view:
	view_clear(&v);
out:
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

CK_RV akm_relationships_destroy(akm_relationships *r, CK_OBJECT_HANDLE h)
{
	key_view v;
	int64_t ids[2];
	size_t n = 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK || (rv = view_key(r, key_id_of(h), &v)) != CKR_OK)
		goto out;
	if ((rv = relationship_keys(r, &v.rel, ids, &n)) != CKR_OK || (rv = change_begin(r)) != CKR_OK)
		goto out_view;
	akm_audit_event ev = {"user", "destroy", v.rel.rid, v.rel.rid_len, CKR_OK, NULL};
	if ((rv = akm_store_delete_relationship(r->reg, v.rel.id)) != CKR_OK ||
	    (rv = akm_store_audit_append(r->reg, &ev)) != CKR_OK) {
		akm_store_rollback(r->reg);
		goto out_view;
	}
	if ((rv = change_commit(r)) == CKR_OK)
		for (size_t i = 0; i < n; i++)
			cache_forget(r, ids[i]);
out_view:
	view_clear(&v);
out:
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

/* ---- use ----------------------------------------------------------------- */

static bool usage_allowed(CK_ULONG purpose, CK_ATTRIBUTE_TYPE usage)
{
	if (purpose == CKV_AKM_PURPOSE_ENCRYPT)
		return usage == CKA_ENCRYPT || usage == CKA_DECRYPT || usage == CKA_WRAP || usage == CKA_UNWRAP;
	return usage == CKA_SIGN || usage == CKA_VERIFY;
}

CK_RV akm_relationships_use(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE usage,
                            CK_OBJECT_HANDLE *backend)
{
	int64_t id = key_id_of(h);
	key_view v;
	bool viewed = false;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK)
		goto out;
	/* A cached key with a known state costs no registry read (the hot
	 * path of every operation); otherwise the registry says. */
	cache_check_others(r);
	cache_entry *e = akm_hmap_get(&r->cache, (uint64_t)id);
	if (e == NULL || e->state == 0) {
		if ((rv = view_key(r, id, &v)) != CKR_OK) {
			if (e != NULL)
				cache_drop(r, e); /* destroyed elsewhere */
			goto out;
		}
		viewed = true;
		if (e != NULL)
			e->state = v.rel.state;
	}
	CK_ULONG state = e != NULL ? e->state : v.rel.state;
	CK_ULONG purpose = e != NULL ? e->purpose : v.key.purpose;
	if (state != CKV_AKM_STATE_ACTIVE && state != CKV_AKM_STATE_PENDING) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		audit(r, "user", "use-refused", e != NULL ? e->rid : v.rel.rid, e != NULL ? e->rid_len : v.rel.rid_len,
		      rv, state == CKV_AKM_STATE_REVOKED ? "revoked" : "suspended");
		goto out;
	}
	if (!usage_allowed(purpose, usage)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (e != NULL) {
		cache_unlink(r, e);
		cache_push_front(r, e);
		*backend = e->backend;
		goto out;
	}
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = v.key.key_type;
	bool enc = v.key.purpose == CKV_AKM_PURPOSE_ENCRYPT;
	const CK_BBOOL *ev = enc ? &yes : &no, *mv = enc ? &no : &yes;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
		{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&no, 1},
		{CKA_ENCRYPT, (void *)ev, 1}, {CKA_DECRYPT, (void *)ev, 1},
		{CKA_WRAP, (void *)ev, 1}, {CKA_UNWRAP, (void *)ev, 1},
		{CKA_SIGN, (void *)mv, 1}, {CKA_VERIFY, (void *)mv, 1},
	};
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	rv = r->be->C_UnwrapKey(r->service, &kwp, r->kek, v.key.wrapped, v.key.wrapped_len, t,
	                        sizeof t / sizeof t[0], backend);
	if (rv != CKR_OK) {
		akm_log(AKM_LOG_ERROR, "registry %s: key %lld does not unwrap under the token's KEK (0x%lx)",
		        akm_store_location(r->reg), (long long)id, rv);
		audit(r, "module", "unwrap-failed", v.rel.rid, v.rel.rid_len, rv, NULL);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (cache_put(r, id, *backend, v.key.purpose, v.rel.state, v.rel.rid, v.rel.rid_len) != CKR_OK) {
		r->be->C_DestroyObject(r->service, *backend);
		rv = CKR_HOST_MEMORY;
	}
out:
	if (viewed)
		view_clear(&v);
	akm_mutex_unlock(r->lock);
	if (rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_KEY_HANDLE_INVALID;
	return rv;
}

/* ---- search ---------------------------------------------------------------- */

/* Narrows a template to the columns the registry can search on; whatever
 * else the template says is checked key by key (*exact stays true when
 * nothing else is left to check). */
static bool template_to_query(const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_store_query *q, bool *exact)
{
	memset(q, 0, sizeof *q);
	*exact = true;
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		CK_ULONG u;
		switch (a->type) {
		case CKA_AKM_RELATIONSHIP_ID: q->rid = a->pValue; q->rid_len = a->ulValueLen; break;
		case CKA_ID: q->ckid = a->pValue; q->ckid_len = a->ulValueLen; break;
		case CKA_LABEL: q->label = a->pValue; q->label_len = a->ulValueLen; break;
		case CKA_AKM_PEER_NODE: q->peer = a->pValue; q->peer_len = a->ulValueLen; break;
		case CKA_CLASS: /* every registry key is a secret key */
			if (value_ulong(a, &u) != CKR_OK || u != CKO_SECRET_KEY)
				return false;
			break;
		case CKA_AKM_KIND:
		case CKA_AKM_STATE:
		case CKA_AKM_KEY_PURPOSE:
			if (value_ulong(a, &u) != CKR_OK)
				return false; /* malformed: matches nothing */
			if (a->type == CKA_AKM_KIND) { q->has_kind = true; q->kind = u; }
			if (a->type == CKA_AKM_STATE) { q->has_state = true; q->state = u; }
			if (a->type == CKA_AKM_KEY_PURPOSE) { q->has_purpose = true; q->purpose = u; }
			break;
		default:
			*exact = false;
			break;
		}
		/* A NULL value with a length names nothing: no key matches. */
		if ((a->type == CKA_AKM_RELATIONSHIP_ID || a->type == CKA_ID || a->type == CKA_LABEL ||
		     a->type == CKA_AKM_PEER_NODE) && a->pValue == NULL)
			return false;
	}
	return true;
}

CK_RV akm_relationships_find(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             int64_t *cursor, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	akm_store_query q;
	int64_t ids[64];
	*n = 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK) {
		if (rv == CKR_USER_NOT_LOGGED_IN)
			rv = CKR_OK; /* private objects are not there */
		goto out;     /* a refused registry says so (CKR_DEVICE_ERROR) */
	}
	bool exact;
	if (!template_to_query(tmpl, count, &q, &exact))
		goto out;
	bool first = *cursor == 0;
	while (*n < max) {
		size_t got = 0, page = exact ? max - *n : 64;
		if (page > 64)
			page = 64;
		if ((rv = akm_store_find(r->reg, &q, *cursor, ids, page, &got)) != CKR_OK || got == 0)
			break;
		for (size_t i = 0; i < got && *n < max; i++) {
			key_view v;
			*cursor = ids[i];
			if (exact) {
				out[(*n)++] = AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)ids[i];
				continue;
			}
			if ((rv = view_key(r, ids[i], &v)) != CKR_OK)
				goto out;
			if (attrs_match(v.attrs, v.n, tmpl, count))
				out[(*n)++] = AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)ids[i];
			view_clear(&v);
		}
		if (got < page)
			break; /* the registry has no more */
	}
	/* Asking for a relationship nobody has is worth recording (not a
	 * search whose other attributes matched nothing). */
	if (rv == CKR_OK && first && *n == 0 && q.rid != NULL) {
		akm_store_query only_rid = {0};
		int64_t any;
		size_t found = 0;
		only_rid.rid = q.rid;
		only_rid.rid_len = q.rid_len;
		if (akm_store_find(r->reg, &only_rid, 0, &any, 1, &found) == CKR_OK && found == 0)
			audit(r, "user", "unknown-relationship", q.rid, q.rid_len, CKR_OBJECT_HANDLE_INVALID, NULL);
	}
out:
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- audit ------------------------------------------------------------------ */

void akm_relationships_audit_failure(akm_relationships *r, const char *action, CK_OBJECT_HANDLE h,
                                     CK_RV rv, const char *detail)
{
	key_view v;
	akm_mutex_lock(r->lock);
	if (r->reg != NULL) {
		bool known = h != 0 && view_key(r, key_id_of(h), &v) == CKR_OK;
		audit(r, "user", action, known ? v.rel.rid : NULL, known ? v.rel.rid_len : 0, rv, detail);
		if (known)
			view_clear(&v);
	}
	akm_mutex_unlock(r->lock);
}

CK_RV akm_relationships_verify_audit(akm_relationships *r, int64_t *records, char *err, size_t errlen)
{
	akm_mutex_lock(r->lock);
	CK_RV rv = akm_store_audit_verify(r->reg, records, err, errlen);
	if (rv == CKR_OK && r->status == CKR_OK) {
		/* The token remembers a head the chain must still contain: the
		 * newer of the two counter objects. */
		uint8_t value[COUNTER_LEN], head[AKM_AUDIT_HASH_LEN];
		int newer = r->counter_gen[0] >= r->counter_gen[1] ? 0 : 1;
		if (r->counter[newer] != 0 && counter_read(r, r->counter[newer], value) == CKR_OK) {
			int64_t seq = (int64_t)get_be64(value + 8);
			if (seq > *records ||
			    (seq > 0 && (akm_store_audit_hash_at(r->reg, seq, head) != CKR_OK ||
			                 memcmp(head, value + 16, sizeof head) != 0))) {
				snprintf(err, errlen, "the audit trail no longer holds record %lld as the token recorded it",
				         (long long)seq);
				rv = CKR_GENERAL_ERROR;
			}
		}
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- export ---------------------------------------------------------------- */

CK_RV akm_relationships_export(akm_relationships *r, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE wrapping,
                               CK_BYTE *out, CK_ULONG *out_len)
{
	key_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK || (rv = view_key(r, key_id_of(h), &v)) != CKR_OK) {
		akm_mutex_unlock(r->lock);
		return rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID
		       ? CKR_KEY_HANDLE_INVALID : rv;
	}
	const char *what = v.key.purpose == CKV_AKM_PURPOSE_ENCRYPT ? "enc key" : "mac key";
	if (v.rel.kind != CKV_AKM_KIND_PROVISIONING) {
		rv = CKR_KEY_NOT_WRAPPABLE; /* operational keys reach members through their PRs */
	} else if (v.rel.state != CKV_AKM_STATE_ACTIVE) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		if (out != NULL)
			audit(r, "user", "export-refused", v.rel.rid, v.rel.rid_len, rv,
			      v.rel.state == CKV_AKM_STATE_PENDING ? "pending" :
			      v.rel.state == CKV_AKM_STATE_REVOKED ? "revoked" : "suspended");
	} else if (out == NULL) {
		*out_len = (CK_ULONG)((v.key.value_len + 7) / 8 * 8 + 8); /* RFC 5649 */
	} else {
		/* A short-lived extractable copy inside the backend, wrapped there
		 * under the caller's key and destroyed: the value never reaches
		 * this process. */
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = v.key.key_type;
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
			{CKA_TOKEN, (void *)&no, 1}, {CKA_PRIVATE, (void *)&yes, 1},
			{CKA_SENSITIVE, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&yes, 1},
		};
		CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
		CK_OBJECT_HANDLE tmp = 0;
		rv = r->be->C_UnwrapKey(r->service, &kwp, r->kek, v.key.wrapped, v.key.wrapped_len, t,
		                        sizeof t / sizeof t[0], &tmp);
		if (rv != CKR_OK) {
			akm_log(AKM_LOG_ERROR, "registry %s: a key does not unwrap under the token's KEK (0x%lx)",
			        akm_store_location(r->reg), rv);
			rv = CKR_DEVICE_ERROR;
		} else {
			rv = r->be->C_WrapKey(r->service, &kwp, wrapping, tmp, out, out_len);
			r->be->C_DestroyObject(r->service, tmp);
		}
		if (rv != CKR_BUFFER_TOO_SMALL)
			audit(r, "user", "export", v.rel.rid, v.rel.rid_len, rv, what);
	}
	view_clear(&v);
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- audit records as objects ----------------------------------------------- */

bool akm_template_is_audit(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	const CK_ATTRIBUTE *a = akm_template_find(tmpl, count, CKA_CLASS);
	CK_ULONG cls;
	return a != NULL && value_ulong(a, &cls) == CKR_OK && cls == CKO_AKM_AUDIT_RECORD;
}

typedef struct audit_view {
	akm_audit_record rec;
	CK_OBJECT_CLASS cls;
	CK_ULONG seq, time, result;
	uint8_t head[8 + AKM_AUDIT_HASH_LEN];
	akm_attr_value attrs[20];
	size_t n;
} audit_view;

static int64_t audit_seq_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_AUDIT_HANDLE(h) ? (int64_t)(h - AKM_AUDIT_HANDLE_BASE) : 0;
}

/* The chain head the token keeps (the newer counter object): u64 sequence
 * number and hash; zeros when there is none. */
static void token_head(akm_relationships *r, uint8_t head[8 + AKM_AUDIT_HASH_LEN])
{
	uint8_t value[COUNTER_LEN];
	int newer = r->counter_gen[0] >= r->counter_gen[1] ? 0 : 1;
	memset(head, 0, 8 + AKM_AUDIT_HASH_LEN);
	counter_flush(r); /* so that the head is as recent as the registry */
	if (r->counter[newer] != 0 && counter_read(r, r->counter[newer], value) == CKR_OK)
		memcpy(head, value + 8, 8 + AKM_AUDIT_HASH_LEN);
}

static CK_RV view_audit(akm_relationships *r, int64_t seq, audit_view *v, bool with_head)
{
	memset(v, 0, sizeof *v);
	CK_RV rv = akm_store_audit_get(r->reg, seq, &v->rec);
	if (rv != CKR_OK)
		return rv;
	v->cls = CKO_AKM_AUDIT_RECORD;
	v->seq = (CK_ULONG)seq;
	v->time = (CK_ULONG)v->rec.time;
	v->result = (CK_ULONG)v->rec.result;
	akm_attr_value *a = v->attrs;
	*a++ = (akm_attr_value){CKA_CLASS, &v->cls, sizeof v->cls, false};
	*a++ = (akm_attr_value){CKA_TOKEN, &yes, 1, false};
	*a++ = (akm_attr_value){CKA_PRIVATE, &yes, 1, false};
	*a++ = (akm_attr_value){CKA_MODIFIABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_COPYABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_DESTROYABLE, &no, 1, false};
	*a++ = (akm_attr_value){CKA_LABEL, "", 0, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_SEQ, &v->seq, sizeof v->seq, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_TIME, &v->time, sizeof v->time, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_ACTOR, v->rec.actor, v->rec.actor_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_ACTION, v->rec.action, v->rec.action_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_RESULT, &v->result, sizeof v->result, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_DETAIL, v->rec.detail, v->rec.detail_len, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_PREV, v->rec.prev, sizeof v->rec.prev, false};
	*a++ = (akm_attr_value){CKA_AKM_AUDIT_HASH, v->rec.hash, sizeof v->rec.hash, false};
	*a++ = (akm_attr_value){CKA_AKM_RELATIONSHIP_ID, v->rec.rid, v->rec.rid_len, false};
	if (with_head) {
		token_head(r, v->head);
		*a++ = (akm_attr_value){CKA_AKM_AUDIT_TOKEN_HEAD, v->head, sizeof v->head, false};
	}
	v->n = (size_t)(a - v->attrs);
	return CKR_OK;
}

CK_RV akm_relationships_audit_get(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count)
{
	audit_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	bool head = akm_template_find(tmpl, count, CKA_AKM_AUDIT_TOKEN_HEAD) != NULL;
	if (rv == CKR_OK && (rv = view_audit(r, audit_seq_of(h), &v, head)) == CKR_OK)
		rv = akm_template_fill(v.attrs, v.n, tmpl, count);
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

CK_RV akm_relationships_audit_size(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	audit_view v;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv == CKR_OK && (rv = view_audit(r, audit_seq_of(h), &v, false)) == CKR_OK)
		*size = (CK_ULONG)(16 + v.rec.actor_len + v.rec.action_len + v.rec.detail_len + v.rec.rid_len +
		                   2 * AKM_AUDIT_HASH_LEN);
	akm_mutex_unlock(r->lock);
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

static bool action_valid(const CK_ATTRIBUTE *a)
{
	if (a->pValue == NULL || a->ulValueLen < 1 || a->ulValueLen > 32)
		return false;
	for (CK_ULONG i = 0; i < a->ulValueLen; i++) {
		char ch = ((const char *)a->pValue)[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* Printable text without control characters (UTF-8 allowed), up to 512 bytes. */
static bool detail_valid(const CK_ATTRIBUTE *a)
{
	if (a->ulValueLen > 512 || (a->ulValueLen > 0 && a->pValue == NULL))
		return false;
	for (CK_ULONG i = 0; i < a->ulValueLen; i++) {
		unsigned char ch = ((const unsigned char *)a->pValue)[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

CK_RV akm_relationships_audit_create(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                     CK_OBJECT_HANDLE *h)
{
	const CK_ATTRIBUTE *action = NULL, *rid = NULL, *detail = NULL;
	CK_ULONG result = CKR_OK;
	/* Checked in the order of check_create_template: unknown, read-only,
	 * value, incomplete. */
	for (CK_ULONG i = 0; i < count; i++) {
		switch (tmpl[i].type) {
		case CKA_CLASS: case CKA_TOKEN: case CKA_AKM_AUDIT_ACTION: case CKA_AKM_RELATIONSHIP_ID:
		case CKA_AKM_AUDIT_DETAIL: case CKA_AKM_AUDIT_RESULT:
			break;
		case CKA_PRIVATE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE: case CKA_LABEL:
		case CKA_AKM_AUDIT_SEQ: case CKA_AKM_AUDIT_TIME: case CKA_AKM_AUDIT_ACTOR: case CKA_AKM_AUDIT_PREV:
		case CKA_AKM_AUDIT_HASH: case CKA_AKM_AUDIT_TOKEN_HEAD:
			return CKR_ATTRIBUTE_READ_ONLY;
		default:
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
	}
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		switch (a->type) {
		case CKA_TOKEN:
			if (a->pValue == NULL || a->ulValueLen != 1 || *(const CK_BBOOL *)a->pValue != CK_TRUE)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* records are token objects */
			break;
		case CKA_AKM_AUDIT_ACTION:
			if (!action_valid(a))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			action = a;
			break;
		case CKA_AKM_RELATIONSHIP_ID:
			if (a->pValue == NULL || a->ulValueLen < 1 || a->ulValueLen > AKM_ID_MAX)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			rid = a;
			break;
		case CKA_AKM_AUDIT_DETAIL:
			if (!detail_valid(a))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			detail = a;
			break;
		case CKA_AKM_AUDIT_RESULT:
			if (value_ulong(a, &result) != CKR_OK)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		default:
			break;
		}
	}
	if (action == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	char action_text[33], detail_text[513];
	memcpy(action_text, action->pValue, action->ulValueLen);
	action_text[action->ulValueLen] = '\0';
	if (detail != NULL) {
		memcpy(detail_text, detail->pValue, detail->ulValueLen);
		detail_text[detail->ulValueLen] = '\0';
	}
	akm_audit_event ev = {"app", action_text, rid ? rid->pValue : NULL, rid ? rid->ulValueLen : 0, result,
	                      detail ? detail_text : NULL};
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	int64_t seq = 0;
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	if (rv == CKR_OK && (rv = change_begin(r)) == CKR_OK) {
		if ((rv = akm_store_audit_append(r->reg, &ev)) == CKR_OK &&
		    (rv = akm_store_audit_head(r->reg, &seq, hash)) == CKR_OK)
			rv = change_commit(r);
		else
			akm_store_rollback(r->reg);
	}
	akm_mutex_unlock(r->lock);
	if (rv == CKR_OK)
		*h = AKM_AUDIT_HANDLE_BASE + (CK_OBJECT_HANDLE)seq;
	return rv;
}

CK_RV akm_relationships_audit_find(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                   int64_t *cursor, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	const CK_ATTRIBUTE *rid = akm_template_find(tmpl, count, CKA_AKM_RELATIONSHIP_ID);
	bool exact = true; /* nothing but the class and the relationship to check */
	for (CK_ULONG i = 0; i < count; i++)
		if (tmpl[i].type != CKA_CLASS && tmpl[i].type != CKA_AKM_RELATIONSHIP_ID)
			exact = false;
	*n = 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = ready_or_status(r);
	if (rv != CKR_OK) {
		if (rv == CKR_USER_NOT_LOGGED_IN)
			rv = CKR_OK; /* private objects are not there */
		goto out;
	}
	if (rid != NULL && (rid->pValue == NULL || rid->ulValueLen == 0))
		goto out; /* records without a relationship are not searched for this way */
	while (*n < max) {
		int64_t seqs[64];
		size_t got = 0;
		if ((rv = akm_store_audit_find(r->reg, rid ? rid->pValue : NULL, rid ? rid->ulValueLen : 0, *cursor,
		                                  seqs, 64, &got)) != CKR_OK || got == 0)
			break;
		size_t i;
		for (i = 0; i < got && *n < max; i++) {
			audit_view v;
			*cursor = seqs[i];
			if (!exact) {
				if ((rv = view_audit(r, seqs[i], &v, false)) != CKR_OK)
					goto out;
				if (!attrs_match(v.attrs, v.n, tmpl, count))
					continue;
			}
			out[(*n)++] = AKM_AUDIT_HANDLE_BASE + (CK_OBJECT_HANDLE)seqs[i];
		}
		if (got < 64 && i == got)
			break;
	}
out:
	akm_mutex_unlock(r->lock);
	return rv;
}

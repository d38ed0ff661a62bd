/* Shared by the akm layer's files only. */
#ifndef AKM_INTERNAL_H
#define AKM_INTERNAL_H

#include "akm/cache.h"
#include "akm/counter.h"
#include "akm/relationships.h"
#include "common/lock.h"

#define AKM_CACHE_MAX 4096
#define AKM_KEEP_CREATED_MAX 16
#define AKM_EARLY_EVENTS_MAX 32
#define AKM_AHEAD_MAX 64 /* key records read ahead of a search's caller */ /* creations of at most this many keep their keys cached */

struct akm_relationships {
	akm_store *reg;
	akm_backend_service *be; /* the module's own backend session */
	CK_RV status;            /* CKR_OK when usable; why not otherwise */
	akm_mutex *lock;
	akm_key_cache cache;
	akm_counter counter;
	uint64_t change_mark;    /* the store's change mark when the cached states were read */
	struct akm_asr_mem *asr; /* the member ASRs' keys in use and sequence reserves (asr.c) */
	struct akm_asr_pkg *pkg; /* the station's last package's reads (asr.c), or NULL */
	/* Key records read ahead for a search's results (akm_relationships_
	 * prefetch), in one read snapshot: what akm_relationships_read answers
	 * from while the store's change mark is still `mark` (no process using
	 * the module has committed since) and for at most AKM_CACHE_STATE_MS
	 * (a program writing the file outside the module moves no mark). */
	struct {
		int64_t id[AKM_AHEAD_MAX];
		akm_key_record rec[AKM_AHEAD_MAX];
		size_t n, next; /* next: where the last one read was */
		uint64_t mark;
		int64_t at_ms;
	} ahead;
};

/* Forgets the records read ahead (lock held): at logout and close. */
void akm_ahead_forget(akm_relationships *r);

/* Forgets the station's cached package reads (asr.c): at logout and close. */
void akm_station_pkg_forget(akm_relationships *r);

/* The counter's answer to a registry older than the token's record of it
 * (counter.c): recorded by the login once its transaction is undone. */
#define AKM_ROLLBACK_DETECTED (CKR_VENDOR_DEFINED | 0x414b4d52UL)

/* A store's answer, with tampering recorded (domain.c): AKM_STORE_TAMPERED
 * is logged, recorded as a "tamper-detected" event naming the row, and
 * becomes CKR_DEVICE_ERROR; anything else is returned as it is.  Lock
 * held, no transaction open (roll back first). */
CK_RV akm_answer(akm_relationships *r, CK_RV rv);
/* States cached from the registry hold until a process commits a change
 * (the store's change mark moves); then every state is read again. */
void akm_cache_sync(akm_relationships *r);

/* Begins a change: the store's write transaction (the cached states are
 * forgotten when another process committed since they were read), and the
 * generation it will have (domain.c). */
CK_RV akm_change_begin(akm_relationships *r);
/* Commits it; the cache keeps the states this process wrote itself when
 * no other process committed in between, and the counter is brought up to
 * date. */
CK_RV akm_change_commit(akm_relationships *r);

/* Appends an event's record in the open transaction (or in its own when
 * none is open): the store's answer (events.c). */
CK_RV akm_event_append(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                       CK_RV result, const char *detail);
/* In the open transaction: a new relationship row and the record of its
 * creation.  The row goes first, naming the record it will get (its last
 * change), so that the record is written knowing the row (store.h). */
CK_RV akm_event_insert_created(akm_relationships *r, akm_relationship *rel, akm_event_kind kind,
                               const char *detail);
/* akm_event_append, logging a failure instead of returning it. */
void akm_event_record(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                      CK_RV result, const char *detail);

/* Whether a pending event (store.h) is one the module keeps aside before
 * login (events.c). */
bool akm_event_pending_allowed(const char *actor, const char *action, CK_RV result, const char *detail);

/* The backend kind of a key of `purpose` (CKV_AKM_PURPOSE_*). */
akm_backend_key_kind akm_key_kind(CK_ULONG purpose);

#endif

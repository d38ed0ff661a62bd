/*
 * The rollback counter: the registry's generation (bumped by every change)
 * and audit head, recorded in the backend token, where whoever can replace
 * the registry file cannot reach.  A registry older than the token's record
 * of it is refused.
 *
 * It is a pair of private data objects found by their CKA_APPLICATION; the
 * value is written into CKA_LABEL, the one attribute PKCS#11 makes
 * modifiable on every storage object (a data object's CKA_VALUE need not
 * be).  Writes go to the older of the two, so a crash in the middle of a
 * write (SoftHSM2 truncates an object file, then rewrites it) leaves the
 * other one readable: the counter may lag, never vanish.  It is written at
 * most once a second (a token object write costs milliseconds on a soft
 * token and wears an HSM's storage), and at logout and finalisation; a
 * counter that lags the registry is harmless.
 */
#ifndef AKM_COUNTER_H
#define AKM_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

#include "lib/audit.h"

#define AKM_COUNTER_APPLICATION "akm-pkcs11 registry counter"
#define AKM_COUNTER_PREFIX "akm-pkcs11 registry counter "
/* u64 generation || u64 audit sequence number || audit hash */
#define AKM_COUNTER_LEN (8 + 8 + AKM_AUDIT_HASH_LEN)
#define AKM_COUNTER_LABEL_LEN (sizeof AKM_COUNTER_PREFIX - 1 + 2 * AKM_COUNTER_LEN)

typedef struct akm_counter {
	CK_OBJECT_HANDLE obj[2];
	uint64_t gen[2];          /* the generation each object holds */
	struct timespec written;  /* when it was last brought up to date */
	bool dirty;               /* the registry has changes the counter does not know */
} akm_counter;

/* The label that holds `value`: AKM_COUNTER_PREFIX and hex digits. */
void akm_counter_label(char label[AKM_COUNTER_LABEL_LEN + 1], const uint8_t value[AKM_COUNTER_LEN]);
/* The value a label holds: 0, or -1 when it is not a counter's label. */
int akm_counter_parse(const char *label, size_t len, uint8_t value[AKM_COUNTER_LEN]);
/* A value's generation, and its audit head's sequence number. */
uint64_t akm_counter_generation(const uint8_t value[AKM_COUNTER_LEN]);
uint64_t akm_counter_audit_seq(const uint8_t value[AKM_COUNTER_LEN]);

typedef struct akm_relationships akm_relationships;

/* At login (the store's write transaction held): finds the counter
 * objects, keeps the two newest readable ones, and compares the newest
 * with the registry's generation `gen`.  CKR_DEVICE_ERROR for a registry
 * older than the token's record, or one with changes when the token has
 * no counter. */
CK_RV akm_counter_check(akm_relationships *r, uint64_t gen);
/* After a commit: the counter is out of date, and written when a second
 * has passed since the last write. */
void akm_counter_changed(akm_relationships *r);
/* Writes the counter now if it is out of date. */
void akm_counter_flush(akm_relationships *r);
/* The newer object's value: CKR_OK, or CKR_DEVICE_ERROR when there is
 * none readable. */
CK_RV akm_counter_read_newest(akm_relationships *r, uint8_t value[AKM_COUNTER_LEN]);
/* Whether h is one of the counter's objects. */
bool akm_counter_is(const akm_counter *c, CK_OBJECT_HANDLE h);
/* Forgets the objects (logout). */
void akm_counter_forget(akm_counter *c);

#endif

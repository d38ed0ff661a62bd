/*
 * What the layers above need of a cryptographic library and may not call
 * it for directly (only lib/ uses libsodium): HMAC-SHA-256, constant-time
 * comparison, wiping, and locked memory for keys held in the process.
 */
#ifndef AKM_LIB_KEYED_H
#define AKM_LIB_KEYED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AKM_HMAC_LEN 32

/* HMAC-SHA-256 with a 32-byte key. */
void akm_hmac_sha256(const uint8_t key[32], const void *msg, size_t len, uint8_t out[AKM_HMAC_LEN]);
/* A key kept for many HMACs: in locked memory, its HMAC state computed
 * once.  NULL when memory cannot be had. */
typedef struct akm_hmac_key akm_hmac_key;
akm_hmac_key *akm_hmac_key_new(const uint8_t key[32]);
void akm_hmac_key_free(akm_hmac_key *k); /* wiped */
void akm_hmac_with(const akm_hmac_key *k, const void *msg, size_t len, uint8_t out[AKM_HMAC_LEN]);
/* Whether a and b hold the same n bytes, in time independent of them. */
bool akm_equal_ct(const void *a, const void *b, size_t n);
void akm_wipe(void *p, size_t n);
/* Memory that is locked (never swapped) and wiped when freed; NULL when
 * it cannot be had. */
void *akm_locked_alloc(size_t n);
void akm_locked_free(void *p);

#endif

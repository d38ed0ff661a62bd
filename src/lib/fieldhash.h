/*
 * SHA-256 over typed fields, the one encoding behind every hash and MAC of
 * the registry (docs/formats.md): a domain string, then big-endian u64
 * integers and length-prefixed byte strings (u64 length || bytes; a NULL
 * pointer is an empty string).  The audit chain (lib/audit.c) and the
 * registry's row MACs (store/seal.c) are built on it.
 */
#ifndef AKM_LIB_FIELDHASH_H
#define AKM_LIB_FIELDHASH_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

typedef struct akm_fieldhash {
	crypto_hash_sha256_state st;
} akm_fieldhash;

/* Starts with the domain's bytes (no length prefix). */
void akm_fieldhash_init(akm_fieldhash *h, const char *domain);
/* Raw bytes, without a length prefix (fixed-size fields). */
void akm_fieldhash_raw(akm_fieldhash *h, const void *p, size_t n);
void akm_fieldhash_u64(akm_fieldhash *h, uint64_t v);
void akm_fieldhash_bytes(akm_fieldhash *h, const void *p, size_t n);
void akm_fieldhash_final(akm_fieldhash *h, uint8_t out[32]);

#endif

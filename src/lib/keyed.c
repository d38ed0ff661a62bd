#include "lib/keyed.h"

#include <sodium.h>

void akm_hmac_sha256(const uint8_t key[32], const void *msg, size_t len, uint8_t out[AKM_HMAC_LEN])
{
	crypto_auth_hmacsha256(out, msg, len, key);
}

bool akm_equal_ct(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void akm_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

void *akm_locked_alloc(size_t n)
{
	return sodium_init() < 0 ? NULL : sodium_malloc(n);
}

void akm_locked_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

struct akm_hmac_key {
	crypto_auth_hmacsha256_state start; /* after the key */
};

akm_hmac_key *akm_hmac_key_new(const uint8_t key[32])
{
	akm_hmac_key *k = akm_locked_alloc(sizeof *k);
	if (k != NULL)
		crypto_auth_hmacsha256_init(&k->start, key, 32);
	return k;
}

void akm_hmac_key_free(akm_hmac_key *k)
{
	akm_locked_free(k);
}

void akm_hmac_with(const akm_hmac_key *k, const void *msg, size_t len, uint8_t out[AKM_HMAC_LEN])
{
	crypto_auth_hmacsha256_state st = k->start;
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

#include "lib/fieldhash.h"

#include <string.h>

#include "lib/buf.h"

void akm_fieldhash_init(akm_fieldhash *h, const char *domain)
{
	crypto_hash_sha256_init(&h->st);
	crypto_hash_sha256_update(&h->st, (const uint8_t *)domain, strlen(domain));
}

void akm_fieldhash_raw(akm_fieldhash *h, const void *p, size_t n)
{
	if (n > 0)
		crypto_hash_sha256_update(&h->st, p, n);
}

void akm_fieldhash_u64(akm_fieldhash *h, uint64_t v)
{
	uint8_t b[8];
	akm_buf_writer w;
	akm_buf_writer_init(&w, b, sizeof b);
	akm_buf_put_u64(&w, v);
	crypto_hash_sha256_update(&h->st, b, sizeof b);
}

void akm_fieldhash_bytes(akm_fieldhash *h, const void *p, size_t n)
{
	if (p == NULL)
		n = 0;
	akm_fieldhash_u64(h, n);
	akm_fieldhash_raw(h, p, n);
}

void akm_fieldhash_final(akm_fieldhash *h, uint8_t out[32])
{
	crypto_hash_sha256_final(&h->st, out);
}

/* Checks of what the module exported, done independently with OpenSSL:
 * for the integration tests that link libcrypto. */
#ifndef AKM_IT_OPENSSL_CHECK_H
#define AKM_IT_OPENSSL_CHECK_H

#include <check.h>
#include <string.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

/* RFC 5649 unwrap of an export under the known key `kek`: the key's length,
 * or -1 when it does not unwrap. */
static inline int it_unwrap_kwp(const CK_BYTE kek[32], const CK_BYTE *in, size_t len, CK_BYTE out[64])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, kek, NULL) == 1 &&
	     EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1 && EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? n + fin : -1;
}

/* An AES-256-GCM ciphertext (16-byte message, tag after it) made by the
 * module opens with `key` in OpenSSL and gives `msg`. */
static inline void it_assert_gcm_opens(const CK_BYTE key[32], const CK_BYTE *iv, const CK_BYTE ct[32],
                                       const CK_BYTE msg[16])
{
	CK_BYTE pt[32];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	ck_assert(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) == 1);
	ck_assert(EVP_DecryptUpdate(ctx, pt, &n, ct, 16) == 1);
	ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(ct + 16)) == 1);
	ck_assert(EVP_DecryptFinal_ex(ctx, pt + n, &n) == 1);
	EVP_CIPHER_CTX_free(ctx);
	ck_assert(memcmp(pt, msg, 16) == 0);
}

#endif

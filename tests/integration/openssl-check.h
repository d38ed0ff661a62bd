/* Checks of what the module exported, done independently with OpenSSL:
 * for the integration tests that link libcrypto. */
#ifndef AKM_IT_OPENSSL_CHECK_H
#define AKM_IT_OPENSSL_CHECK_H

#include <check.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
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

/* A fresh P-256 key pair (a node's identity key, for the test): the
 * private key, and its public point, 65 bytes uncompressed. */
static inline EVP_PKEY *it_ec_generate(CK_BYTE point[65])
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	size_t len = 0;
	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65, &len), 1);
	ck_assert(len == 65 && point[0] == 0x04);
	return key;
}

/* The x-coordinate of ECDH between `key` and the point `peer`: the
 * transport key of a node-key export (docs/formats.md §5.2). */
static inline void it_ecdh_x(EVP_PKEY *key, const CK_BYTE peer[65], CK_BYTE x[32])
{
	char group[] = "prime256v1";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)peer, 65),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	ck_assert_int_eq(EVP_PKEY_fromdata_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(c);
	c = EVP_PKEY_CTX_new(key, NULL);
	size_t len = 32;
	ck_assert_int_eq(EVP_PKEY_derive_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(c, pk), 1);
	ck_assert_int_eq(EVP_PKEY_derive(c, x, &len), 1);
	ck_assert_uint_eq(len, 32);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
}

/* CKM_AKM_EXPORT_WRAP's output (80 bytes: the encryption key's RFC 5649
 * wrapping, then the MAC key's) opened with the transport key. */
static inline void it_open_export(const CK_BYTE transport[32], const CK_BYTE wrapped[80], CK_BYTE enc[32],
                                  CK_BYTE mac[32])
{
	CK_BYTE out[64];
	ck_assert_int_eq(it_unwrap_kwp(transport, wrapped, 40, out), 32);
	memcpy(enc, out, 32);
	ck_assert_int_eq(it_unwrap_kwp(transport, wrapped + 40, 40, out), 32);
	memcpy(mac, out, 32);
}

#endif

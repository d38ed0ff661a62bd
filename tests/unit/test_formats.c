/*
 * The station's and node's file formats (src/lib/fmt-*.c) and the
 * passphrase keys (tools/shared/secret.c): the test vectors of docs/formats.md
 * (sections "USB bundle (AKMB)" to "Passphrase keys"), round trips, and every
 * refusal of the strict parsers.  The vectors are real: the bundles' and
 * request's signatures verify, the protection-2 payload opens with the
 * documented passphrase and unwraps to the documented keys, and the
 * protection-1 transport key is the documented ECDH x-coordinate.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/hex.h"
#include "shared/secret.h"
#include "testenv.h"

/* ---- the vectors of docs/formats.md ---- */

/* anchor: 87 bytes */
static const char V_ANCHOR[] =
	"414b4d500110000102030405060708090a0b0c0d0e0f0451a7580833898ea1b1"
	"83cbd7350a4099078c6ef1c1e18e970cd7683035f25e7d0110522712b0b5a7cf"
	"f081685486984a94e6831edac46e7360fa9d834a7a81a1";
/* bundle1: 340 bytes */
static const char V_BUNDLE1[] =
	"414b4d420101000010000102030405060708090a0b0c0d0e0f10101112131415"
	"161718191a1b1c1d1e1f10202122232425262728292a2b2c2d2e2f0b68772d73"
	"657269616c2d41066e6f64652d410000000000000001000000006553f1002bad"
	"0fd610d99eae443e932a26142bca1e5fa995b4518452827e78ef1f317ff004d6"
	"5a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf350"
	"185e895372df6221ea3a137557e473fddb6755f05bd507c3c533fce9c9128500"
	"5228d1f277fdde4254289832ad53a2c66b52c1a51dfb985400b3662b60c72460"
	"a3471c9f3bfa2ad4679b286778270611ba9155bae9c785a45289ab24fbf65eeb"
	"ffd688735633d14e9a860377d74906f85a52ff404c733dd2d0fcef07a61f2067"
	"a9ed638fa0cd4b4344c8524c7e71c8df303165f49767de1a26522ebf082add29"
	"0fef5335b5c83d69f545538da72f2b93a972d775";
/* bundle2: 307 bytes */
static const char V_BUNDLE2[] =
	"414b4d420102000010000102030405060708090a0b0c0d0e0f10101112131415"
	"161718191a1b1c1d1e1f10202122232425262728292a2b2c2d2e2f0b68772d73"
	"657269616c2d41066e6f64652d410000000000000002000000006553f1640000"
	"000100000008808182838485868788898a8b8c8d8e8f90919293949596979899"
	"9a9b9c9d9e9fa0a1a2a3a4a5a6a70062081d648588fb614a238081d347b835dc"
	"bc1645dd5f0626cc3b88203080bf24252c9f5e9b356fa59122c8e0365f957ea3"
	"a501e7b25395ddecb3c722de3cf1887a3ffde8bbe0338cbadb79737a92293694"
	"b1023fb690b12cfbfac8e2fc31e1159fff8c40e0805c7a0156b31d46aa1e008d"
	"92b4c7b955c8ae871f40700fbacd87bc21808aa9f0e4a5f68ffd452bbf1b75ca"
	"60b7f67eb1f278a632801de728d1e0fad868b5";
/* request: 178 bytes */
static const char V_REQUEST[] =
	"414b4d5201066e6f64652d410b68772d73657269616c2d41040217e617f0b644"
	"3928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb9771"
	"2d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794b0b1b2b3b4b5b6"
	"b7b8b9babbbcbdbebf000000006553ed18405833a7fd3bbdd472069beeff7e71"
	"952e591052de1e2bc89bbd09fb0c9ef91b1efabc240992bfa82b0a3bfb590f3f"
	"ccd955d5fbf2c1967157ff840e7f2470200e";
/* state: 123 bytes */
static const char V_STATE[] =
	"414b4d4e0110000102030405060708090a0b0c0d0e0f10101112131415161718"
	"191a1b1c1d1e1f10202122232425262728292a2b2c2d2e2f0b68772d73657269"
	"616c2d41066e6f64652d410000000000000002000000006553f1c8a97184485a"
	"83b059869bef4f0269c54a232b15e27b016110bdc15894c924f11e";
/* master: 32 bytes */
static const char V_MASTER[] =
	"4a14c68a3420276c044e4bc3bee47920d8afd01a4cefd409e8cadbb48c0ff5b6";
/* kwp_key: 32 bytes */
static const char V_KWP_KEY[] =
	"8548b9de02ef12bcca7a8816e7d960193e1446cc69430d266293ed6d2d00ad1f";
/* aead_key: 32 bytes */
static const char V_AEAD_KEY[] =
	"907642e5566ba3fc0c62087f3817837468e98e711257e5a95122090fe4906325";
/* transport: 32 bytes */
static const char V_TRANSPORT[] =
	"ccfc261f58193c98ca4ad4a53bbac6f0ee29bc4d48438090446908622ca79af6";
/* node_point: 65 bytes */
static const char V_NODE_POINT[] =
	"040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4"
	"ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e57"
	"94";
/* eph_point: 65 bytes */
static const char V_EPH_POINT[] =
	"04d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589c"
	"f350185e895372df6221ea3a137557e473fddb6755f05bd507c3c533fce9c912"
	"85";
/* station_point: 65 bytes */
static const char V_STATION_POINT[] =
	"0451a7580833898ea1b183cbd7350a4099078c6ef1c1e18e970cd7683035f25e"
	"7d0110522712b0b5a7cff081685486984a94e6831edac46e7360fa9d834a7a81"
	"a1";
/* inner2: 82 bytes */
static const char V_INNER2[] =
	"28813861cc8c44be752569a4c595680c152a29971a520c44b6678a5406dd65fb"
	"fdcaecf71bb25b5661281f7f088c80c5072da9254430d0e8112439d08b0991c1"
	"348b344b0b76a3a8287b5d48a3813b834505";
/* inner1: 82 bytes */
static const char V_INNER1[] =
	"28d1f277fdde4254289832ad53a2c66b52c1a51dfb985400b3662b60c72460a3"
	"471c9f3bfa2ad4679b286778270611ba9155bae9c785a45289ab24fbf65eebff"
	"d688735633d14e9a860377d74906f85a52ff";
/* SHA-256 of the anchor file: its fingerprint */
static const char V_ANCHOR_FINGERPRINT[] =
	"6e434a93d7a7f94cc79d9f8effc9b159f3c3f803b5e9e0dfa6d69b29eadff4b6";
static const char V_PASSPHRASE[] = "K7QXM-2HJ9P-TV4RN-8WCZE-5LBYD-3MSAG";

/* Decodes a vector into a static buffer of its own. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	ck_assert_int_eq(akm_hex_decode(hex, out, cap, &n), 0);
	return n;
}

static void fill(uint8_t *p, size_t n, unsigned start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* The fields the vectors were made from (docs/formats.md). */
static void common_fields(akm_bundle *b)
{
	memset(b, 0, sizeof *b);
	fill(b->station_id, 16, 0x00); b->station_id_len = 16;
	fill(b->node_id, 16, 0x10); b->node_id_len = 16;
	fill(b->pr_id, 16, 0x20); b->pr_id_len = 16;
	memcpy(b->hw, "hw-serial-A", 11); b->hw_len = 11;
	strcpy(b->name, "node-A");
}

static void bundle1_fields(akm_bundle *b)
{
	uint8_t inner[128], node_point[65];
	common_fields(b);
	b->protection = AKM_BUNDLE_NODE_KEY;
	b->seq = 1;
	b->created = 1700000000;
	unhex(V_NODE_POINT, node_point, sizeof node_point);
	crypto_hash_sha256(b->node_key_hash, node_point, sizeof node_point);
	unhex(V_EPH_POINT, b->eph_point, sizeof b->eph_point);
	size_t n = unhex(V_INNER1, inner, sizeof inner);
	ck_assert_int_eq(akm_bundle_inner_parse(inner, n, b), AKM_FMT_OK);
	uint8_t whole[AKM_FMT_BUNDLE_MAX];
	n = unhex(V_BUNDLE1, whole, sizeof whole);
	memcpy(b->sig, whole + n - AKM_FMT_SIG_LEN, AKM_FMT_SIG_LEN);
}

static void bundle2_fields(akm_bundle *b)
{
	common_fields(b);
	b->protection = AKM_BUNDLE_PASSPHRASE;
	b->seq = 2;
	b->created = 1700000100;
	b->opslimit = 1;
	b->memlimit_kib = 8;
	fill(b->salt, 16, 0x80);
	fill(b->nonce, 24, 0x90);
	uint8_t whole[AKM_FMT_BUNDLE_MAX];
	size_t n = unhex(V_BUNDLE2, whole, sizeof whole);
	/* the sealed payload: 98 bytes after the AD (142) and its length (2) */
	b->sealed_len = 98;
	memcpy(b->sealed, whole + 144, b->sealed_len);
	memcpy(b->sig, whole + n - AKM_FMT_SIG_LEN, AKM_FMT_SIG_LEN);
}

static void request_fields(akm_request *r)
{
	uint8_t whole[512];
	memset(r, 0, sizeof *r);
	strcpy(r->name, "node-A");
	memcpy(r->hw, "hw-serial-A", 11); r->hw_len = 11;
	unhex(V_NODE_POINT, r->node_point, sizeof r->node_point);
	fill(r->nonce, 16, 0xb0);
	r->created = 1699999000;
	size_t n = unhex(V_REQUEST, whole, sizeof whole);
	memcpy(r->sig, whole + n - AKM_FMT_SIG_LEN, AKM_FMT_SIG_LEN);
}

static void anchor_fields(akm_anchor *a)
{
	memset(a, 0, sizeof *a);
	fill(a->station_id, 16, 0x00); a->station_id_len = 16;
	unhex(V_STATION_POINT, a->point, sizeof a->point);
}

static void state_fields(akm_node_state *s)
{
	uint8_t b2[AKM_FMT_BUNDLE_MAX];
	memset(s, 0, sizeof *s);
	fill(s->station_id, 16, 0x00); s->station_id_len = 16;
	fill(s->node_id, 16, 0x10); s->node_id_len = 16;
	fill(s->pr_id, 16, 0x20); s->pr_id_len = 16;
	memcpy(s->hw, "hw-serial-A", 11); s->hw_len = 11;
	strcpy(s->name, "node-A");
	s->seq = 2;
	s->imported = 1700000200;
	size_t n = unhex(V_BUNDLE2, b2, sizeof b2);
	crypto_hash_sha256(s->bundle_hash, b2, n);
}

/* ---- OpenSSL: an independent check of the vectors' cryptography ---- */

static EVP_PKEY *ec_key(const uint8_t point[65], const uint8_t *priv32)
{
	char group[] = "prime256v1";
	BIGNUM *d = priv32 ? BN_bin2bn(priv32, 32, NULL) : NULL;
	unsigned char dbuf[32];
	OSSL_PARAM params[4];
	int i = 0;
	params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[i++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, 65);
	if (d) {
		/* native-endian BIGNUM parameter */
		ck_assert_int_eq(BN_bn2nativepad(d, dbuf, sizeof dbuf), 32);
		params[i++] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, dbuf, sizeof dbuf);
	}
	params[i] = OSSL_PARAM_construct_end();
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(c, &pk, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(c);
	BN_free(d);
	return pk;
}

/* ECDSA P-256 over SHA-256 of msg, signature r||s. */
static int ecdsa_ok(const uint8_t point[65], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	EVP_PKEY *pk = ec_key(point, NULL);
	ECDSA_SIG *s = ECDSA_SIG_new();
	ck_assert_int_eq(ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)), 1);
	unsigned char *der = NULL;
	int der_len = i2d_ECDSA_SIG(s, &der);
	ck_assert_int_gt(der_len, 0);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	int ok = EVP_DigestVerify(md, der, (size_t)der_len, msg, len) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	EVP_PKEY_free(pk);
	return ok;
}

/* RFC 5649 unwrap with AES-256; returns the key length or -1. */
static int kwp_unwrap(const uint8_t kek[32], const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	int ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek, NULL) == 1 &&
	         EVP_DecryptUpdate(c, out, &n, in, (int)len) == 1 &&
	         EVP_DecryptFinal_ex(c, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? n + m : -1;
}

/* ---- the vectors ---- */

/* A bundle vector, `n` bytes at v: encoded from the fields `b` (the signed
 * part `signed_len` bytes, the AD `ad_len`), and parsed back into *p. */
static void bundle_vector(const uint8_t *v, size_t n, const akm_bundle *b, size_t signed_len, size_t ad_len,
                          akm_bundle *p)
{
	uint8_t out[AKM_FMT_BUNDLE_MAX];
	size_t len = 0, parsed_signed_len = 0;
	ck_assert_int_eq(akm_bundle_encode_signed(b, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, signed_len);
	ck_assert_mem_eq(out, v, len);
	ck_assert_uint_eq(akm_bundle_ad_len(b), ad_len);
	ck_assert_int_eq(akm_bundle_finish(b, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(out, v, n);

	ck_assert_int_eq(akm_bundle_parse(v, n, p, &parsed_signed_len), AKM_FMT_OK);
	ck_assert_uint_eq(parsed_signed_len, signed_len);
	ck_assert_uint_eq(akm_bundle_ad_len(p), ad_len);
}

START_TEST(bundle1_vector)
{
	uint8_t v[AKM_FMT_BUNDLE_MAX], out[AKM_FMT_BUNDLE_MAX];
	size_t n = unhex(V_BUNDLE1, v, sizeof v), len = 0, signed_len = 275;
	ck_assert_uint_eq(n, 340);

	/* encoded from its fields, parsed back */
	akm_bundle b, p;
	bundle1_fields(&b);
	bundle_vector(v, n, &b, signed_len, 191, &p);
	ck_assert_int_eq(p.protection, AKM_BUNDLE_NODE_KEY);
	ck_assert_str_eq(p.name, "node-A");
	ck_assert_uint_eq(p.hw_len, 11);
	ck_assert_mem_eq(p.hw, "hw-serial-A", 11);
	ck_assert_uint_eq(p.seq, 1);
	ck_assert_uint_eq(p.created, 1700000000);
	ck_assert_mem_eq(p.station_id, b.station_id, 16);
	ck_assert_mem_eq(p.node_id, b.node_id, 16);
	ck_assert_mem_eq(p.pr_id, b.pr_id, 16);
	ck_assert_mem_eq(p.node_key_hash, b.node_key_hash, 32);
	ck_assert_mem_eq(p.eph_point, b.eph_point, 65);
	ck_assert_uint_eq(p.enc_wrapped_len, 40);
	ck_assert_uint_eq(p.mac_wrapped_len, 40);
	ck_assert_mem_eq(p.sig, v + 276, 64);
	ck_assert_int_eq(akm_bundle_finish(&p, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(out, v, n);

	/* the cryptography: signed by the station of the anchor; the transport
	 * key is the x-coordinate of ECDH(node key, eph point); it unwraps the
	 * PR's keys 0x40.. and 0x60.. */
	uint8_t station_point[65], node_point[65], transport[32], key[64], want[32];
	unhex(V_STATION_POINT, station_point, sizeof station_point);
	unhex(V_NODE_POINT, node_point, sizeof node_point);
	unhex(V_TRANSPORT, transport, sizeof transport);
	ck_assert(ecdsa_ok(station_point, v, signed_len, p.sig));
	uint8_t d[32];
	memset(d, 0x11, sizeof d);
	EVP_PKEY *node = ec_key(node_point, d), *eph = ec_key(p.eph_point, NULL);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(node, NULL);
	size_t xlen = sizeof key;
	ck_assert_int_eq(EVP_PKEY_derive_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(c, eph), 1);
	ck_assert_int_eq(EVP_PKEY_derive(c, key, &xlen), 1);
	ck_assert_uint_eq(xlen, 32);
	ck_assert_mem_eq(key, transport, 32);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(node);
	EVP_PKEY_free(eph);
	ck_assert_int_eq(kwp_unwrap(transport, p.enc_wrapped, p.enc_wrapped_len, key), 32);
	fill(want, 32, 0x40);
	ck_assert_mem_eq(key, want, 32);
	ck_assert_int_eq(kwp_unwrap(transport, p.mac_wrapped, p.mac_wrapped_len, key), 32);
	fill(want, 32, 0x60);
	ck_assert_mem_eq(key, want, 32);
	v[100] ^= 1; /* a flipped bit breaks the signature */
	ck_assert(!ecdsa_ok(station_point, v, signed_len, p.sig));
}
END_TEST

START_TEST(bundle2_vector)
{
	uint8_t v[AKM_FMT_BUNDLE_MAX];
	size_t n = unhex(V_BUNDLE2, v, sizeof v), signed_len = 242;
	ck_assert_uint_eq(n, 307);

	akm_bundle b, p;
	bundle2_fields(&b);
	bundle_vector(v, n, &b, signed_len, 142, &p);
	ck_assert_int_eq(p.protection, AKM_BUNDLE_PASSPHRASE);
	ck_assert_uint_eq(p.seq, 2);
	ck_assert_uint_eq(p.created, 1700000100);
	ck_assert_uint_eq(p.opslimit, 1);
	ck_assert_uint_eq(p.memlimit_kib, 8);
	ck_assert_mem_eq(p.salt, b.salt, 16);
	ck_assert_mem_eq(p.nonce, b.nonce, 24);
	ck_assert_uint_eq(p.sealed_len, 98);
	ck_assert_uint_eq(p.enc_wrapped_len, 0); /* inside the sealed payload */

	uint8_t station_point[65];
	unhex(V_STATION_POINT, station_point, sizeof station_point);
	ck_assert(ecdsa_ok(station_point, v, signed_len, p.sig));

	/* open it: passphrase -> master -> subkeys -> XChaCha20-Poly1305 with
	 * AD = bytes [0, ad_len) -> inner -> AES-KWP under kwp_key */
	akm_secret pass, master, sub;
	uint8_t want[64], inner[128], inner_want[128], key[64];
	unsigned long long inner_len = 0;
	ck_assert_int_eq(akm_secret_from(&pass, V_PASSPHRASE, strlen(V_PASSPHRASE)), 0);
	ck_assert_int_eq(akm_pass_master(&master, &pass, p.salt, p.opslimit, p.memlimit_kib), 0);
	ck_assert_int_eq(akm_pass_subkeys(&sub, &master, p.pr_id, p.pr_id_len, p.seq), 0);
	ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &inner_len, NULL,
	                 p.sealed, p.sealed_len, v, akm_bundle_ad_len(&p), p.nonce,
	                 (const uint8_t *)sub.data + 32), 0);
	ck_assert_uint_eq(inner_len, unhex(V_INNER2, inner_want, sizeof inner_want));
	ck_assert_mem_eq(inner, inner_want, (size_t)inner_len);
	ck_assert_int_eq(akm_bundle_inner_parse(inner, (size_t)inner_len, &p), AKM_FMT_OK);
	ck_assert_int_eq(kwp_unwrap((const uint8_t *)sub.data, p.enc_wrapped, p.enc_wrapped_len, key), 32);
	fill(want, 32, 0x40);
	ck_assert_mem_eq(key, want, 32);
	ck_assert_int_eq(kwp_unwrap((const uint8_t *)sub.data, p.mac_wrapped, p.mac_wrapped_len, key), 32);
	fill(want, 32, 0x60);
	ck_assert_mem_eq(key, want, 32);

	/* the inner encoder writes the same plaintext */
	size_t ilen = 0;
	uint8_t again[128];
	ck_assert_int_eq(akm_bundle_inner_encode(&p, again, 81, &ilen), AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_bundle_inner_encode(&p, again, sizeof again, &ilen), AKM_FMT_OK);
	ck_assert_uint_eq(ilen, (size_t)inner_len);
	ck_assert_mem_eq(again, inner, ilen);

	/* the AD covers the header: a changed byte of it does not open */
	v[80] ^= 1;
	ck_assert_int_ne(crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &inner_len, NULL,
	                 p.sealed, p.sealed_len, v, akm_bundle_ad_len(&p), p.nonce,
	                 (const uint8_t *)sub.data + 32), 0);
	akm_secret_free(&sub);
	akm_secret_free(&master);
	akm_secret_free(&pass);
}
END_TEST

START_TEST(request_vector)
{
	uint8_t v[512], out[512];
	size_t n = unhex(V_REQUEST, v, sizeof v), len = 0, signed_len = 0;
	ck_assert_uint_eq(n, 178);
	akm_request r, p;
	request_fields(&r);
	ck_assert_int_eq(akm_request_encode_signed(&r, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 113);
	ck_assert_mem_eq(out, v, len);
	ck_assert_int_eq(akm_request_finish(&r, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(out, v, n);
	ck_assert_int_eq(akm_request_parse(v, n, &p, &signed_len), AKM_FMT_OK);
	ck_assert_uint_eq(signed_len, 113);
	ck_assert_str_eq(p.name, "node-A");
	ck_assert_uint_eq(p.hw_len, 11);
	ck_assert_mem_eq(p.node_point, r.node_point, 65);
	ck_assert_mem_eq(p.nonce, r.nonce, 16);
	ck_assert_uint_eq(p.created, 1699999000);
	ck_assert(ecdsa_ok(p.node_point, v, signed_len, p.sig)); /* self-signed */
}
END_TEST

START_TEST(anchor_vector)
{
	uint8_t v[256], out[256], fp[32];
	size_t n = unhex(V_ANCHOR, v, sizeof v), len = 0;
	ck_assert_uint_eq(n, 87);
	akm_anchor a, p;
	anchor_fields(&a);
	ck_assert_int_eq(akm_anchor_encode(&a, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(out, v, n);
	ck_assert_int_eq(akm_anchor_parse(v, n, &p), AKM_FMT_OK);
	ck_assert_uint_eq(p.station_id_len, 16);
	ck_assert_mem_eq(p.point, a.point, 65);
	/* the fingerprint akm-nmm init prints */
	char hex[65];
	crypto_hash_sha256(fp, v, n);
	akm_hex_encode(fp, 32, hex);
	ck_assert_str_eq(hex, V_ANCHOR_FINGERPRINT);
}
END_TEST

START_TEST(state_vector)
{
	uint8_t v[256], out[256];
	size_t n = unhex(V_STATE, v, sizeof v), len = 0;
	ck_assert_uint_eq(n, 123);
	akm_node_state s, p;
	state_fields(&s);
	ck_assert_int_eq(akm_node_state_encode(&s, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(out, v, n);
	ck_assert_int_eq(akm_node_state_parse(v, n, &p), AKM_FMT_OK);
	ck_assert_uint_eq(p.seq, 2);
	ck_assert_uint_eq(p.imported, 1700000200);
	ck_assert_str_eq(p.name, "node-A");
	ck_assert_mem_eq(p.bundle_hash, s.bundle_hash, 32);
}
END_TEST

/* ---- passphrase keys ---- */

START_TEST(passphrase_kdf_vector)
{
	akm_secret pass, master, sub;
	uint8_t salt[16], want[32], pr_id[16];
	fill(salt, 16, 0x80);
	fill(pr_id, 16, 0x20);
	ck_assert_int_eq(akm_secret_from(&pass, V_PASSPHRASE, strlen(V_PASSPHRASE)), 0);
	ck_assert_int_eq(akm_pass_master(&master, &pass, salt, 1, 8), 0);
	ck_assert_uint_eq(master.len, 32);
	unhex(V_MASTER, want, sizeof want);
	ck_assert_mem_eq(master.data, want, 32);
	ck_assert_int_eq(akm_pass_subkeys(&sub, &master, pr_id, 16, 2), 0);
	ck_assert_uint_eq(sub.len, 64);
	unhex(V_KWP_KEY, want, sizeof want);
	ck_assert_mem_eq(sub.data, want, 32);
	unhex(V_AEAD_KEY, want, sizeof want);
	ck_assert_mem_eq(sub.data + 32, want, 32);
	akm_secret_free(&sub);
	/* another sequence number, another PR: other keys */
	akm_secret other;
	ck_assert_int_eq(akm_pass_subkeys(&other, &master, pr_id, 16, 3), 0);
	ck_assert_int_ne(sodium_memcmp(other.data + 32, want, 32), 0);
	akm_secret_free(&other);
	ck_assert_int_eq(akm_pass_subkeys(&other, &master, pr_id, 15, 2), 0);
	ck_assert_int_ne(sodium_memcmp(other.data + 32, want, 32), 0);
	akm_secret_free(&other);
	/* refusals: parameters below Argon2id's minimum, bad PR ID length */
	ck_assert_int_eq(akm_pass_master(&other, &pass, salt, 0, 8), -1);
	ck_assert_ptr_null(other.data);
	ck_assert_int_eq(akm_pass_master(&other, &pass, salt, 1, 7), -1);
	ck_assert_int_eq(akm_pass_subkeys(&other, &master, pr_id, 0, 2), -1);
	ck_assert_int_eq(akm_pass_subkeys(&other, &master, pr_id, 33, 2), -1);
	/* a wrong passphrase gives another master */
	akm_secret wrong, wrong_master;
	ck_assert_int_eq(akm_secret_from(&wrong, "K7QXM-2HJ9P-TV4RN-8WCZE-5LBYD-3MSAH", 35), 0);
	ck_assert_int_eq(akm_pass_master(&wrong_master, &wrong, salt, 1, 8), 0);
	ck_assert_int_ne(sodium_memcmp(wrong_master.data, master.data, 32), 0);
	akm_secret_free(&wrong_master);
	akm_secret_free(&wrong);
	akm_secret_free(&master);
	akm_secret_free(&pass);
	ck_assert_ptr_null(pass.data);
	ck_assert_uint_eq(pass.len, 0);
	akm_secret_free(&pass); /* twice is harmless */
}
END_TEST

START_TEST(passphrase_generate_shape)
{
	static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
	akm_secret a, b;
	ck_assert_int_eq(akm_pass_generate(&a), 0);
	ck_assert_int_eq(akm_pass_generate(&b), 0);
	ck_assert_uint_eq(a.len, 35);
	ck_assert_uint_eq(strlen(a.data), 35);
	for (size_t i = 0; i < a.len; i++) {
		if (i % 6 == 5)
			ck_assert_int_eq(a.data[i], '-');
		else
			ck_assert_ptr_nonnull(strchr(alphabet, a.data[i]));
	}
	ck_assert_int_ne(sodium_memcmp(a.data, b.data, 35), 0);
	/* every character of the alphabet turns up */
	int seen[256] = { 0 };
	for (int round = 0; round < 200; round++) {
		akm_secret c;
		ck_assert_int_eq(akm_pass_generate(&c), 0);
		for (size_t i = 0; i < c.len; i++)
			seen[(unsigned char)c.data[i]] = 1;
		akm_secret_free(&c);
	}
	for (const char *p = alphabet; *p; p++)
		ck_assert_msg(seen[(unsigned char)*p], "never generated '%c'", *p);
	ck_assert(!seen['0'] && !seen['1'] && !seen['I'] && !seen['O']);
	akm_secret_free(&a);
	akm_secret_free(&b);
}
END_TEST

/* ---- akm_secret_read ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(secret_read_sources)
{
	char dir[] = "/tmp/akm-test-secret-XXXXXX", path[256], err[256];
	akm_secret s;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* never a terminal here: the last resort is an error */
	int null_fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(null_fd, 0);
	ck_assert_int_eq(dup2(null_fd, STDIN_FILENO), STDIN_FILENO);
	close(null_fd);

	snprintf(path, sizeof path, "%s/pin", dir);
	write_file(path, "1234\nsecond line\n");
	ck_assert_int_eq(akm_secret_read(&s, path, "AKM_TEST_SECRET_PIN", "PIN: ", "PIN", err, sizeof err), 0);
	ck_assert_uint_eq(s.len, 4);
	ck_assert_str_eq(s.data, "1234");
	akm_secret_free(&s);
	write_file(path, "pass phrase with spaces\r\n");
	ck_assert_int_eq(akm_secret_read(&s, path, NULL, NULL, "passphrase", err, sizeof err), 0);
	ck_assert_str_eq(s.data, "pass phrase with spaces");
	akm_secret_free(&s);
	write_file(path, "no newline");
	setenv("AKM_TEST_SECRET_PIN", "from-env", 1);
	/* the file wins over the environment */
	ck_assert_int_eq(akm_secret_read(&s, path, "AKM_TEST_SECRET_PIN", NULL, "PIN", err, sizeof err), 0);
	ck_assert_str_eq(s.data, "no newline");
	akm_secret_free(&s);
	ck_assert_int_eq(akm_secret_read(&s, NULL, "AKM_TEST_SECRET_PIN", NULL, "PIN", err, sizeof err), 0);
	ck_assert_str_eq(s.data, "from-env");
	ck_assert_uint_eq(s.len, 8);
	akm_secret_free(&s);

	/* refusals, each a sentence naming the option and the variable */
	setenv("AKM_TEST_SECRET_PIN", "", 1);
	ck_assert_int_eq(akm_secret_read(&s, NULL, "AKM_TEST_SECRET_PIN", NULL, "PIN", err, sizeof err), -1);
	ck_assert_str_eq(err, "the PIN in AKM_TEST_SECRET_PIN is empty: set it or give --pin-file");
	unsetenv("AKM_TEST_SECRET_PIN");
	ck_assert_int_eq(akm_secret_read(&s, NULL, "AKM_TEST_SECRET_PIN", "PIN: ", "PIN", err, sizeof err), -1);
	ck_assert_str_eq(err, "no PIN: give --pin-file or set AKM_TEST_SECRET_PIN");
	ck_assert_ptr_null(s.data);
	ck_assert_int_eq(akm_secret_read(&s, NULL, "AKM_TEST_SECRET_PIN", NULL, "SE PIN", err, sizeof err), -1);
	ck_assert_str_eq(err, "no SE PIN: give --se-pin-file or set AKM_TEST_SECRET_PIN");
	snprintf(path, sizeof path, "%s/missing", dir);
	ck_assert_int_eq(akm_secret_read(&s, path, NULL, NULL, "passphrase", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot read the passphrase file"));
	ck_assert_ptr_nonnull(strstr(err, "--passphrase-file"));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	snprintf(path, sizeof path, "%s/empty", dir);
	write_file(path, "\nsecret on line 2\n");
	ck_assert_int_eq(akm_secret_read(&s, path, NULL, NULL, "PIN", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty first line"));
	ck_assert_ptr_null(s.data);
	unlink(path);
	snprintf(path, sizeof path, "%s/pin", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Without a file or variable, on a terminal: a prompt, and what is typed
 * is not echoed. */
START_TEST(secret_read_prompts_without_echo)
{
	int master;
	unsetenv("AKM_TEST_SECRET_PIN");
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		akm_secret s;
		char err[256];
		int rc = akm_secret_read(&s, NULL, "AKM_TEST_SECRET_PIN", "Test PIN: ", "PIN", err, sizeof err);
		_exit(rc == 0 && s.len == 10 && strcmp(s.data, "tty-secret") == 0 ? 0 : 1);
	}
	char out[4096];
	size_t len = 0;
	int sent = 0;
	for (;;) {
		ssize_t r = read(master, out + len, sizeof out - 1 - len);
		if (r <= 0) /* EIO once the child has gone */
			break;
		len += (size_t)r;
		out[len] = '\0';
		if (!sent && strstr(out, "Test PIN: ")) {
			ck_assert_int_eq(write(master, "tty-secret\n", 11), 11);
			sent = 1;
		}
	}
	close(master);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(sent);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the secret typed was not read");
	ck_assert_ptr_null(strstr(out, "tty-secret"));
}
END_TEST

/* ---- refusals of the parsers ---- */

typedef akm_fmt_rc (*parse_fn)(const uint8_t *buf, size_t len);
static akm_fmt_rc parse_bundle(const uint8_t *buf, size_t len)
{
	akm_bundle b;
	size_t sl;
	return akm_bundle_parse(buf, len, &b, &sl);
}
static akm_fmt_rc parse_request(const uint8_t *buf, size_t len)
{
	akm_request r;
	size_t sl;
	return akm_request_parse(buf, len, &r, &sl);
}
static akm_fmt_rc parse_anchor(const uint8_t *buf, size_t len)
{
	akm_anchor a;
	return akm_anchor_parse(buf, len, &a);
}
static akm_fmt_rc parse_state(const uint8_t *buf, size_t len)
{
	akm_node_state s;
	return akm_node_state_parse(buf, len, &s);
}

typedef struct mutation {
	size_t offset;
	uint8_t value;
	akm_fmt_rc want;
	const char *what;
} mutation;

/* Every prefix is truncated, one more byte is trailing, each magic byte and
 * other versions are refused, then each listed one-byte change. */
static void refusals(const char *hex, parse_fn parse, const mutation *m, size_t nm)
{
	uint8_t v[AKM_FMT_BUNDLE_MAX + 8], w[AKM_FMT_BUNDLE_MAX + 8];
	size_t n = unhex(hex, v, sizeof v);
	ck_assert_int_eq(parse(v, n), AKM_FMT_OK);
	for (size_t len = 0; len < n; len++)
		ck_assert_msg(parse(v, len) == AKM_FMT_TRUNCATED, "prefix of %zu bytes: %s", len,
		              akm_fmt_strerror(parse(v, len)));
	memcpy(w, v, n);
	w[n] = 0;
	ck_assert_int_eq(parse(w, n + 1), AKM_FMT_TRAILING);
	w[n] = 0x40;
	ck_assert_int_eq(parse(w, n + 1), AKM_FMT_TRAILING);
	for (size_t i = 0; i < 4; i++) {
		memcpy(w, v, n);
		w[i] ^= 0x20; /* "AKMB" -> "aKMB" etc. */
		ck_assert_int_eq(parse(w, n), AKM_FMT_BAD_MAGIC);
		ck_assert_int_eq(parse(w, i + 1), AKM_FMT_BAD_MAGIC);
	}
	static const uint8_t versions[] = { 0, 2, 0x81, 0xff };
	for (size_t i = 0; i < sizeof versions; i++) {
		memcpy(w, v, n);
		w[4] = versions[i];
		ck_assert_int_eq(parse(w, n), AKM_FMT_BAD_VERSION);
	}
	for (size_t i = 0; i < nm; i++) {
		memcpy(w, v, n);
		ck_assert_uint_lt(m[i].offset, n);
		ck_assert_msg(w[m[i].offset] != m[i].value, "mutation %s changes nothing", m[i].what);
		w[m[i].offset] = m[i].value;
		akm_fmt_rc rc = parse(w, n);
		ck_assert_msg(rc == m[i].want, "%s: got \"%s\"", m[i].what, akm_fmt_strerror(rc));
	}
}

static const mutation common_bundle_mutations[] = {
	{ 5, 0, AKM_FMT_BAD_FIELD, "protection 0" },
	{ 5, 3, AKM_FMT_BAD_FIELD, "protection 3" },
	{ 6, 1, AKM_FMT_BAD_FIELD, "reserved high byte" },
	{ 7, 1, AKM_FMT_BAD_FIELD, "reserved low byte" },
	{ 8, 0, AKM_FMT_BAD_FIELD, "empty station ID" },
	{ 8, 33, AKM_FMT_BAD_FIELD, "station ID of 33 bytes" },
	{ 25, 0, AKM_FMT_BAD_FIELD, "empty node ID" },
	{ 25, 33, AKM_FMT_BAD_FIELD, "node ID of 33 bytes" },
	{ 42, 0, AKM_FMT_BAD_FIELD, "empty PR ID" },
	{ 42, 33, AKM_FMT_BAD_FIELD, "PR ID of 33 bytes" },
	{ 59, 0, AKM_FMT_BAD_FIELD, "empty hardware value" },
	{ 59, 65, AKM_FMT_BAD_FIELD, "hardware value of 65 bytes" },
	{ 71, 0, AKM_FMT_BAD_FIELD, "empty name" },
	{ 71, 65, AKM_FMT_BAD_FIELD, "name of 65 bytes" },
	{ 72, ' ', AKM_FMT_BAD_FIELD, "name with a space" },
	{ 73, '/', AKM_FMT_BAD_FIELD, "name with a slash" },
	{ 74, 0, AKM_FMT_BAD_FIELD, "name with a NUL" },
	{ 75, 0x80, AKM_FMT_BAD_FIELD, "name with a non-ASCII byte" },
	{ 76, '+', AKM_FMT_BAD_FIELD, "name with a '+'" },
	{ 77, '\n', AKM_FMT_BAD_FIELD, "name with a newline" },
};

START_TEST(bundle1_refusals)
{
	static const mutation m[] = {
		{ 85, 0, AKM_FMT_BAD_FIELD, "sequence 0" },
		{ 126, 0x02, AKM_FMT_BAD_FIELD, "compressed ephemeral point" },
		{ 126, 0x00, AKM_FMT_BAD_FIELD, "ephemeral point at infinity" },
		{ 192, 33, AKM_FMT_BAD_FIELD, "payload of 33 bytes" },
		{ 192, 99, AKM_FMT_BAD_FIELD, "payload of 99 bytes" },
		{ 191, 1, AKM_FMT_BAD_FIELD, "payload of 338 bytes" },
		{ 192, 90, AKM_FMT_BAD_FIELD, "payload longer than its two keys" },
		{ 192, 74, AKM_FMT_BAD_FIELD, "payload shorter than its two keys" },
		{ 193, 15, AKM_FMT_BAD_FIELD, "wrapped key of 15 bytes" },
		{ 193, 8, AKM_FMT_BAD_FIELD, "wrapped key of 8 bytes" },
		{ 193, 41, AKM_FMT_BAD_FIELD, "wrapped key of 41 bytes" },
		{ 193, 56, AKM_FMT_BAD_FIELD, "wrapped key of 56 bytes" },
		{ 193, 48, AKM_FMT_BAD_FIELD, "wrapped keys longer than the payload" },
		{ 193, 32, AKM_FMT_BAD_FIELD, "wrapped keys misaligned in the payload" },
		{ 234, 32, AKM_FMT_BAD_FIELD, "second wrapped key shorter than the payload" },
		{ 234, 0, AKM_FMT_BAD_FIELD, "empty second wrapped key" },
		{ 275, 63, AKM_FMT_BAD_FIELD, "signature length 63" },
		{ 275, 65, AKM_FMT_BAD_FIELD, "signature length 65" },
		{ 275, 0, AKM_FMT_BAD_FIELD, "signature length 0" },
	};
	refusals(V_BUNDLE1, parse_bundle, common_bundle_mutations,
	         sizeof common_bundle_mutations / sizeof common_bundle_mutations[0]);
	refusals(V_BUNDLE1, parse_bundle, m, sizeof m / sizeof m[0]);
}
END_TEST

START_TEST(bundle2_refusals)
{
	static const mutation m[] = {
		{ 85, 0, AKM_FMT_BAD_FIELD, "sequence 0" },
		{ 97, 0, AKM_FMT_BAD_FIELD, "Argon2id passes 0" },
		{ 101, 7, AKM_FMT_BAD_FIELD, "Argon2id memory 7 KiB" },
		{ 101, 0, AKM_FMT_BAD_FIELD, "Argon2id memory 0 KiB" },
		{ 143, 49, AKM_FMT_BAD_FIELD, "sealed payload of 49 bytes" },
		{ 143, 99, AKM_FMT_BAD_FIELD, "sealed payload of 99 bytes (not keys of 8-byte blocks)" },
		{ 143, 122, AKM_FMT_BAD_FIELD, "sealed payload of 122 bytes" },
		{ 142, 1, AKM_FMT_BAD_FIELD, "sealed payload of 354 bytes" },
		{ 242, 63, AKM_FMT_BAD_FIELD, "signature length 63" },
		{ 242, 0xff, AKM_FMT_BAD_FIELD, "signature length 255" },
	};
	refusals(V_BUNDLE2, parse_bundle, common_bundle_mutations,
	         sizeof common_bundle_mutations / sizeof common_bundle_mutations[0]);
	refusals(V_BUNDLE2, parse_bundle, m, sizeof m / sizeof m[0]);

	/* over AKM_FMT_BUNDLE_MAX */
	uint8_t big[AKM_FMT_BUNDLE_MAX + 1];
	memset(big, 0, sizeof big);
	size_t n = unhex(V_BUNDLE2, big, sizeof big);
	ck_assert_int_eq(parse_bundle(big, n), AKM_FMT_OK);
	ck_assert_int_eq(parse_bundle(big, AKM_FMT_BUNDLE_MAX), AKM_FMT_TRAILING);
	ck_assert_int_eq(parse_bundle(big, sizeof big), AKM_FMT_TOO_BIG);
	/* other kinds of file */
	uint8_t other[256];
	n = unhex(V_ANCHOR, other, sizeof other);
	ck_assert_int_eq(parse_bundle(other, n), AKM_FMT_BAD_MAGIC);
	ck_assert_int_eq(parse_anchor(big, 307), AKM_FMT_BAD_MAGIC);
	ck_assert_int_eq(parse_request(big, 307), AKM_FMT_BAD_MAGIC);
	ck_assert_int_eq(parse_state(big, 307), AKM_FMT_BAD_MAGIC);
	ck_assert_int_eq(parse_bundle((const uint8_t *)"", 0), AKM_FMT_TRUNCATED);
	ck_assert_int_eq(parse_bundle((const uint8_t *)"AK", 2), AKM_FMT_TRUNCATED);
	ck_assert_int_eq(parse_bundle((const uint8_t *)"PK", 2), AKM_FMT_BAD_MAGIC);
}
END_TEST

START_TEST(request_refusals)
{
	static const mutation m[] = {
		{ 5, 0, AKM_FMT_BAD_FIELD, "empty name" },
		{ 5, 65, AKM_FMT_BAD_FIELD, "name of 65 bytes" },
		{ 6, ' ', AKM_FMT_BAD_FIELD, "name with a space" },
		{ 11, 0, AKM_FMT_BAD_FIELD, "name with a NUL" },
		{ 12, 0, AKM_FMT_BAD_FIELD, "empty hardware value" },
		{ 12, 65, AKM_FMT_BAD_FIELD, "hardware value of 65 bytes" },
		{ 24, 0x03, AKM_FMT_BAD_FIELD, "compressed node point" },
		{ 113, 63, AKM_FMT_BAD_FIELD, "signature length 63" },
		{ 113, 65, AKM_FMT_BAD_FIELD, "signature length 65" },
	};
	refusals(V_REQUEST, parse_request, m, sizeof m / sizeof m[0]);
}
END_TEST

START_TEST(anchor_refusals)
{
	static const mutation m[] = {
		{ 5, 0, AKM_FMT_BAD_FIELD, "empty station ID" },
		{ 5, 33, AKM_FMT_BAD_FIELD, "station ID of 33 bytes" },
		{ 22, 0x00, AKM_FMT_BAD_FIELD, "point at infinity" },
		{ 22, 0x02, AKM_FMT_BAD_FIELD, "compressed point" },
		{ 5, 15, AKM_FMT_BAD_FIELD, "station ID one byte shorter (the point is then misplaced)" },
	};
	refusals(V_ANCHOR, parse_anchor, m, sizeof m / sizeof m[0]);
}
END_TEST

START_TEST(state_refusals)
{
	static const mutation m[] = {
		{ 5, 0, AKM_FMT_BAD_FIELD, "empty station ID" },
		{ 5, 33, AKM_FMT_BAD_FIELD, "station ID of 33 bytes" },
		{ 22, 0, AKM_FMT_BAD_FIELD, "empty node ID" },
		{ 22, 33, AKM_FMT_BAD_FIELD, "node ID of 33 bytes" },
		{ 39, 0, AKM_FMT_BAD_FIELD, "empty PR ID" },
		{ 39, 33, AKM_FMT_BAD_FIELD, "PR ID of 33 bytes" },
		{ 56, 0, AKM_FMT_BAD_FIELD, "empty hardware value" },
		{ 56, 65, AKM_FMT_BAD_FIELD, "hardware value of 65 bytes" },
		{ 68, 0, AKM_FMT_BAD_FIELD, "empty name" },
		{ 68, 65, AKM_FMT_BAD_FIELD, "name of 65 bytes" },
		{ 69, '/', AKM_FMT_BAD_FIELD, "name with a slash" },
		{ 82, 0, AKM_FMT_BAD_FIELD, "sequence 0" },
		{ 68, 5, AKM_FMT_TRAILING, "name one byte shorter (a byte left at the end)" },
	};
	refusals(V_STATE, parse_state, m, sizeof m / sizeof m[0]);
}
END_TEST

/* ---- encoders: what they refuse, and round trips at the limits ---- */

/* Each capacity below the length is TOO_BIG and writes nothing past cap. */
typedef akm_fmt_rc (*encode_fn)(const void *obj, uint8_t *buf, size_t cap, size_t *len);
static akm_fmt_rc enc_bundle(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_bundle_finish(o, b, c, l); }
static akm_fmt_rc enc_bundle_signed(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_bundle_encode_signed(o, b, c, l); }
static akm_fmt_rc enc_request(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_request_finish(o, b, c, l); }
static akm_fmt_rc enc_request_signed(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_request_encode_signed(o, b, c, l); }
static akm_fmt_rc enc_anchor(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_anchor_encode(o, b, c, l); }
static akm_fmt_rc enc_state(const void *o, uint8_t *b, size_t c, size_t *l) { return akm_node_state_encode(o, b, c, l); }

static void capacities(encode_fn enc, const void *obj)
{
	uint8_t buf[AKM_FMT_BUNDLE_MAX + 16];
	size_t len = 0, l2 = 12345;
	ck_assert_int_eq(enc(obj, buf, AKM_FMT_BUNDLE_MAX, &len), AKM_FMT_OK);
	for (size_t cap = 0; cap < len; cap++) {
		memset(buf, 0xa5, sizeof buf);
		ck_assert_int_eq(enc(obj, buf, cap, &l2), AKM_FMT_TOO_BIG);
		ck_assert_uint_eq(l2, 12345);
		for (size_t i = cap; i < sizeof buf; i++)
			ck_assert_int_eq(buf[i], 0xa5);
	}
}

START_TEST(encoder_capacities)
{
	akm_bundle b;
	akm_request r;
	akm_anchor a;
	akm_node_state s;
	bundle1_fields(&b);
	capacities(enc_bundle, &b);
	capacities(enc_bundle_signed, &b);
	bundle2_fields(&b);
	capacities(enc_bundle, &b);
	request_fields(&r);
	capacities(enc_request, &r);
	capacities(enc_request_signed, &r);
	anchor_fields(&a);
	capacities(enc_anchor, &a);
	state_fields(&s);
	capacities(enc_state, &s);
}
END_TEST

static akm_fmt_rc bundle_rc(const akm_bundle *b)
{
	uint8_t buf[AKM_FMT_BUNDLE_MAX];
	size_t len;
	akm_fmt_rc rc = akm_bundle_finish(b, buf, sizeof buf, &len);
	ck_assert_int_eq(akm_bundle_encode_signed(b, buf, sizeof buf, &len), rc);
	return rc;
}

START_TEST(encoder_refusals)
{
	akm_bundle b, good;
	bundle1_fields(&good);
#define BUNDLE_BAD(change) do { b = good; change; \
		ck_assert_msg(bundle_rc(&b) == AKM_FMT_BAD_FIELD, "accepted: %s", #change); \
		ck_assert_uint_eq(akm_bundle_ad_len(&b), 0); } while (0)
	BUNDLE_BAD(b.protection = 0);
	BUNDLE_BAD(b.protection = 3);
	BUNDLE_BAD(b.station_id_len = 0);
	BUNDLE_BAD(b.station_id_len = 33);
	BUNDLE_BAD(b.node_id_len = 0);
	BUNDLE_BAD(b.pr_id_len = 33);
	BUNDLE_BAD(b.hw_len = 0);
	BUNDLE_BAD(b.hw_len = 65);
	BUNDLE_BAD(b.name[0] = '\0');
	BUNDLE_BAD(strcpy(b.name, "node A"));
	BUNDLE_BAD(strcpy(b.name, "../x"));
	BUNDLE_BAD(memset(b.name, 'a', sizeof b.name)); /* no terminator */
	BUNDLE_BAD(b.seq = 0);
	BUNDLE_BAD(b.eph_point[0] = 0x02);
	BUNDLE_BAD(b.enc_wrapped_len = 0);
	BUNDLE_BAD(b.enc_wrapped_len = 41);
	BUNDLE_BAD(b.mac_wrapped_len = 56);
	BUNDLE_BAD(b.mac_wrapped_len = 8);
	bundle2_fields(&good);
	BUNDLE_BAD(b.opslimit = 0);
	BUNDLE_BAD(b.memlimit_kib = 7);
	BUNDLE_BAD(b.sealed_len = 49);
	BUNDLE_BAD(b.sealed_len = 99);
	BUNDLE_BAD(b.sealed_len = 122);
	BUNDLE_BAD(b.sealed_len = 0);
#undef BUNDLE_BAD
	/* protection 2 ignores the protection-1 fields and vice versa */
	b = good;
	b.eph_point[0] = 0;
	b.enc_wrapped_len = 3;
	ck_assert_int_eq(bundle_rc(&b), AKM_FMT_OK);

	uint8_t buf[512];
	size_t len;
	akm_request r, rgood;
	request_fields(&rgood);
	r = rgood; r.name[0] = 0;
	ck_assert_int_eq(akm_request_finish(&r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r = rgood; strcpy(r.name, "a b");
	ck_assert_int_eq(akm_request_encode_signed(&r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r = rgood; r.hw_len = 0;
	ck_assert_int_eq(akm_request_finish(&r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r = rgood; r.hw_len = 65;
	ck_assert_int_eq(akm_request_finish(&r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r = rgood; r.node_point[0] = 0x02;
	ck_assert_int_eq(akm_request_finish(&r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);

	akm_anchor a, agood;
	anchor_fields(&agood);
	a = agood; a.station_id_len = 0;
	ck_assert_int_eq(akm_anchor_encode(&a, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	a = agood; a.station_id_len = 33;
	ck_assert_int_eq(akm_anchor_encode(&a, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	a = agood; a.point[0] = 0;
	ck_assert_int_eq(akm_anchor_encode(&a, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);

	akm_node_state s, sgood;
	state_fields(&sgood);
	s = sgood; s.seq = 0;
	ck_assert_int_eq(akm_node_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	s = sgood; s.pr_id_len = 0;
	ck_assert_int_eq(akm_node_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	s = sgood; s.hw_len = 65;
	ck_assert_int_eq(akm_node_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	s = sgood; strcpy(s.name, "x\ty");
	ck_assert_int_eq(akm_node_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);

	/* the inner plaintext */
	b = good;
	b.enc_wrapped_len = 40;
	b.mac_wrapped_len = 12;
	ck_assert_int_eq(akm_bundle_inner_encode(&b, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	uint8_t inner[128];
	size_t n = unhex(V_INNER2, inner, sizeof inner);
	akm_bundle keep;
	bundle1_fields(&keep);
	b = keep;
	for (size_t l = 0; l < n; l++)
		ck_assert_int_eq(akm_bundle_inner_parse(inner, l, &b), AKM_FMT_TRUNCATED);
	ck_assert_mem_eq(&b, &keep, sizeof b); /* unchanged by a refusal */
	inner[n] = 0;
	ck_assert_int_eq(akm_bundle_inner_parse(inner, n + 1, &b), AKM_FMT_TRAILING);
	inner[0] = 41;
	ck_assert_int_eq(akm_bundle_inner_parse(inner, n, &b), AKM_FMT_BAD_FIELD);
	ck_assert_mem_eq(&b, &keep, sizeof b);
}
END_TEST

/* Fields at their limits (shortest and longest) survive a round trip. */
START_TEST(round_trip_limits)
{
	for (int longest = 0; longest <= 1; longest++) {
		for (int protection = 1; protection <= 2; protection++) {
			akm_bundle b, p;
			uint8_t buf[AKM_FMT_BUNDLE_MAX], again[AKM_FMT_BUNDLE_MAX];
			size_t len, len2, sl;
			memset(&b, 0, sizeof b);
			b.protection = (uint8_t)protection;
			size_t id = longest ? 32 : 1, hw = longest ? 64 : 1, wrapped = longest ? 48 : 16;
			fill(b.station_id, id, 1); b.station_id_len = id;
			fill(b.node_id, id, 2); b.node_id_len = id;
			fill(b.pr_id, id, 3); b.pr_id_len = id;
			fill(b.hw, hw, 0xf0); b.hw_len = hw;
			if (longest)
				strcpy(b.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._");
			else
				strcpy(b.name, "-");
			b.seq = longest ? UINT64_MAX : 1;
			b.created = longest ? UINT64_MAX : 0;
			fill(b.node_key_hash, 32, 7);
			fill(b.eph_point, 65, 4);
			b.opslimit = longest ? UINT32_MAX : 1;
			b.memlimit_kib = longest ? UINT32_MAX : 8;
			fill(b.salt, 16, 9);
			fill(b.nonce, 24, 10);
			fill(b.enc_wrapped, wrapped, 11); b.enc_wrapped_len = wrapped;
			fill(b.mac_wrapped, wrapped, 12); b.mac_wrapped_len = wrapped;
			b.sealed_len = 2 + 2 * wrapped + 16;
			fill(b.sealed, b.sealed_len, 13);
			fill(b.sig, 64, 14);
			ck_assert_int_eq(akm_bundle_finish(&b, buf, sizeof buf, &len), AKM_FMT_OK);
			ck_assert_uint_le(len, AKM_FMT_BUNDLE_MAX);
			ck_assert_int_eq(akm_bundle_parse(buf, len, &p, &sl), AKM_FMT_OK);
			ck_assert_uint_eq(sl, len - 65);
			ck_assert_str_eq(p.name, b.name);
			ck_assert_uint_eq(p.seq, b.seq);
			ck_assert_uint_eq(p.created, b.created);
			if (protection == 2) {
				ck_assert_uint_eq(p.opslimit, b.opslimit);
				ck_assert_uint_eq(p.memlimit_kib, b.memlimit_kib);
				ck_assert_uint_eq(akm_bundle_ad_len(&p), sl - 2 - b.sealed_len);
			} else {
				ck_assert_uint_eq(akm_bundle_ad_len(&p), sl - 2 - 2 - 2 * wrapped);
			}
			ck_assert_int_eq(akm_bundle_finish(&p, again, sizeof again, &len2), AKM_FMT_OK);
			ck_assert_uint_eq(len2, len);
			ck_assert_mem_eq(again, buf, len);
		}
	}
	/* the largest bundle of all */
	akm_bundle b;
	memset(&b, 0, sizeof b);
	b.protection = 1;
	b.station_id_len = b.node_id_len = b.pr_id_len = 32;
	b.hw_len = 64;
	memset(b.name, 'n', 64);
	b.seq = 1;
	b.eph_point[0] = 4;
	b.enc_wrapped_len = b.mac_wrapped_len = 48;
	uint8_t buf[AKM_FMT_BUNDLE_MAX];
	size_t len;
	ck_assert_int_eq(akm_bundle_finish(&b, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 515);

	akm_request r, rp;
	memset(&r, 0, sizeof r);
	memset(r.name, 'r', 64);
	r.hw_len = 64;
	r.node_point[0] = 4;
	r.created = UINT64_MAX;
	ck_assert_int_eq(akm_request_finish(&r, buf, sizeof buf, &len), AKM_FMT_OK);
	size_t sl;
	ck_assert_int_eq(akm_request_parse(buf, len, &rp, &sl), AKM_FMT_OK);
	ck_assert_mem_eq(&rp, &r, sizeof r);

	akm_anchor a, ap;
	memset(&a, 0, sizeof a);
	a.station_id_len = 1;
	a.point[0] = 4;
	ck_assert_int_eq(akm_anchor_encode(&a, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 4 + 1 + 1 + 1 + 65);
	ck_assert_int_eq(akm_anchor_parse(buf, len, &ap), AKM_FMT_OK);
	ck_assert_mem_eq(&ap, &a, sizeof a);

	akm_node_state s, sp;
	memset(&s, 0, sizeof s);
	s.station_id_len = s.node_id_len = s.pr_id_len = 32;
	s.hw_len = 64;
	memset(s.name, 's', 64);
	s.seq = UINT64_MAX;
	s.imported = 0;
	ck_assert_int_eq(akm_node_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_node_state_parse(buf, len, &sp), AKM_FMT_OK);
	ck_assert_mem_eq(&sp, &s, sizeof s);
}
END_TEST

/* ---- hex, messages ---- */

START_TEST(messages)
{
	const char *seen[AKM_FMT_TOO_BIG + 1];
	for (int rc = AKM_FMT_OK; rc <= AKM_FMT_TOO_BIG; rc++) {
		seen[rc] = akm_fmt_strerror((akm_fmt_rc)rc);
		ck_assert_ptr_nonnull(seen[rc]);
		ck_assert_uint_gt(strlen(seen[rc]), 10);
		for (int j = 0; j < rc; j++)
			ck_assert_str_ne(seen[j], seen[rc]);
	}
	ck_assert_ptr_nonnull(strstr(akm_fmt_strerror(AKM_FMT_TRUNCATED), "truncated"));
}
END_TEST

/* ---- docs/formats.md shows the same vectors ---- */

static int is_hex_token(const char *t, size_t n)
{
	if (n == 0 || n % 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return 0;
	return 1;
}

/* Each fenced block of the document whose lines all end in a hex token,
 * those tokens concatenated ("field  hex" lines and their continuations). */
static int doc_has_block(const char *doc, const char *want)
{
	char block[4096];
	size_t blen = 0;
	int in_block = 0, all_hex = 1;
	for (const char *line = doc; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (n >= 3 && strncmp(line, "```", 3) == 0) {
			if (in_block && all_hex && blen > 0) {
				block[blen] = '\0';
				if (strcmp(block, want) == 0)
					return 1;
			}
			in_block = !in_block;
			blen = 0;
			all_hex = 1;
		} else if (in_block) {
			size_t e = n;
			while (e > 0 && line[e - 1] == ' ')
				e--;
			size_t b = e;
			while (b > 0 && line[b - 1] != ' ')
				b--;
			if (!is_hex_token(line + b, e - b) || blen + (e - b) >= sizeof block)
				all_hex = 0;
			else {
				memcpy(block + blen, line + b, e - b);
				blen += e - b;
			}
		}
		line += n + (end != NULL);
	}
	return 0;
}

START_TEST(docs_show_these_vectors)
{
	char *doc = akm_test_read_source("docs/formats.md");
	if (doc == NULL)
		return; /* run outside meson test: nothing to compare with */
	static const char *const blocks[] = { V_BUNDLE1, V_BUNDLE2, V_INNER2, V_REQUEST, V_ANCHOR, V_STATE };
	static const char *const names[] = { "bundle 1", "bundle 2", "inner of bundle 2", "request", "anchor", "node state" };
	for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
		ck_assert_msg(doc_has_block(doc, blocks[i]), "docs/formats.md does not show the %s vector", names[i]);
	static const char *const values[] = { V_MASTER, V_KWP_KEY, V_AEAD_KEY, V_TRANSPORT,
	                                      V_ANCHOR_FINGERPRINT, V_PASSPHRASE };
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		ck_assert_msg(strstr(doc, values[i]) != NULL, "docs/formats.md does not show %s", values[i]);
	free(doc);
}
END_TEST

int main(void)
{
	akm_secret_init();
	Suite *s = suite_create("formats");
	TCase *tc = tcase_create("formats");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bundle1_vector);
	tcase_add_test(tc, bundle2_vector);
	tcase_add_test(tc, request_vector);
	tcase_add_test(tc, anchor_vector);
	tcase_add_test(tc, state_vector);
	tcase_add_test(tc, passphrase_kdf_vector);
	tcase_add_test(tc, passphrase_generate_shape);
	tcase_add_test(tc, secret_read_sources);
	tcase_add_test(tc, secret_read_prompts_without_echo);
	tcase_add_test(tc, bundle1_refusals);
	tcase_add_test(tc, bundle2_refusals);
	tcase_add_test(tc, request_refusals);
	tcase_add_test(tc, anchor_refusals);
	tcase_add_test(tc, state_refusals);
	tcase_add_test(tc, encoder_capacities);
	tcase_add_test(tc, encoder_refusals);
	tcase_add_test(tc, round_trip_limits);
	tcase_add_test(tc, messages);
	tcase_add_test(tc, docs_show_these_vectors);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

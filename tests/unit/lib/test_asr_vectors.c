/* The ASR formats against the test vectors of docs/asr.md §3.6
 * (tests/vectors/asr_vectors.h, computed independently by
 * tests/vectors/asr_vectors.py): each vector parsed into the values the
 * script started from and encoded back byte for byte, the member hashes,
 * nonce and ratchet data from the C code; and with OpenSSL the
 * cryptography the formats carry: the signatures verify under the
 * station's point, the package's and rekey message's edges unwrap along
 * their paths to the root, the ratchet gives the step keys and the
 * message opens under step 1's key. */
#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "asr_vectors.h"
#include "lib/fmt-asr.h"

/* ---- OpenSSL ---- */

static EVP_PKEY *ec_pub(const uint8_t point[65])
{
	char group[] = "prime256v1";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, 65),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(c);
	return pk;
}

static int ecdsa_ok(const uint8_t point[65], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	EVP_PKEY *pk = ec_pub(point);
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

/* RFC 5649 unwrap of a 40-byte edge into a 32-byte key. */
static void kwp_unwrap(const uint8_t kek[32], const uint8_t in[40], uint8_t out[32])
{
	uint8_t buf[48];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ck_assert_int_eq(EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek, NULL), 1);
	ck_assert_int_eq(EVP_DecryptUpdate(c, buf, &n, in, 40), 1);
	ck_assert_int_eq(EVP_DecryptFinal_ex(c, buf + n, &m), 1);
	EVP_CIPHER_CTX_free(c);
	ck_assert_int_eq(n + m, 32);
	memcpy(out, buf, 32);
}

static void ratchet(const uint8_t key[32], uint8_t next[32])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert_int_eq(EVP_EncryptUpdate(c, next, &n, akm_asr_ratchet_data, 32), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, next + n, &m), 1);
	ck_assert_int_eq(n + m, 32);
	EVP_CIPHER_CTX_free(c);
}

static int gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len,
                    const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	size_t pl = ct_len - 16;
	int ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	         EVP_DecryptUpdate(c, NULL, &n, ad, (int)ad_len) == 1 &&
	         EVP_DecryptUpdate(c, out, &n, ct, (int)pl) == 1 &&
	         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(ct + pl)) == 1 &&
	         EVP_DecryptFinal_ex(c, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? n + m : -1;
}

/* ---- the head the script started from ---- */

static void check_head(const akm_asr_head *h, uint32_t gen, uint32_t members, const uint8_t hash[32])
{
	ck_assert_uint_eq(h->station_id_len, strlen(AV_STATION_ID));
	ck_assert_mem_eq(h->station_id, AV_STATION_ID, h->station_id_len);
	ck_assert_uint_eq(h->asr_id_len, strlen(AV_ASR_ID));
	ck_assert_mem_eq(h->asr_id, AV_ASR_ID, h->asr_id_len);
	ck_assert_str_eq(h->label, AV_LABEL);
	ck_assert_uint_eq(h->gen, gen);
	ck_assert_uint_eq(h->step, 0);
	ck_assert_uint_eq(h->gen_start, gen == 1 ? AV_GEN_START_1 : AV_GEN_START_2);
	ck_assert_uint_eq(h->created, gen == 1 ? AV_CREATED_1 : AV_CREATED_2);
	ck_assert_uint_eq(h->policy.period, AV_PERIOD);
	ck_assert_uint_eq(h->policy.grace, AV_GRACE);
	ck_assert_uint_eq(h->policy.msg_limit, AV_MSG_LIMIT);
	ck_assert_uint_eq(h->policy.fail_limit, AV_FAIL_LIMIT);
	ck_assert_uint_eq(h->policy.join_rekeys, AV_JOIN_REKEYS);
	ck_assert_uint_eq(h->depth, AV_DEPTH);
	ck_assert_uint_eq(h->members, members);
	ck_assert_mem_eq(h->member_hash, hash, 32);
}

START_TEST(member_hashes)
{
	akm_asr_member_hash_ctx c;
	uint8_t h[32];
	akm_asr_member_hash_init(&c);
	akm_asr_member_hash_add(&c, 0, (const uint8_t *)AV_MEMBER_0, strlen(AV_MEMBER_0));
	akm_asr_member_hash_add(&c, 1, (const uint8_t *)AV_MEMBER_1, strlen(AV_MEMBER_1));
	akm_asr_member_hash_add(&c, 2, (const uint8_t *)AV_MEMBER_2, strlen(AV_MEMBER_2));
	akm_asr_member_hash_final(&c, h);
	ck_assert_mem_eq(h, AV_member_hash_g1, 32);
	akm_asr_member_hash_init(&c);
	akm_asr_member_hash_add(&c, 1, (const uint8_t *)AV_MEMBER_1, strlen(AV_MEMBER_1));
	akm_asr_member_hash_add(&c, 2, (const uint8_t *)AV_MEMBER_2, strlen(AV_MEMBER_2));
	akm_asr_member_hash_final(&c, h);
	ck_assert_mem_eq(h, AV_member_hash_g2, 32);
}
END_TEST

START_TEST(package)
{
	akm_asr_package p;
	size_t sl = 0;
	ck_assert_int_eq(akm_asr_package_parse(AV_package, sizeof AV_package, &p, &sl), AKM_FMT_OK);
	ck_assert_uint_eq(sl, sizeof AV_package - 64);
	check_head(&p.head, 1, 3, AV_member_hash_g1);
	ck_assert_uint_eq(p.member_id_len, strlen(AV_MEMBER_1));
	ck_assert_mem_eq(p.member_id, AV_MEMBER_1, p.member_id_len);
	ck_assert_uint_eq(p.pr_id_len, strlen(AV_PR_1));
	ck_assert_mem_eq(p.pr_id, AV_PR_1, p.pr_id_len);
	ck_assert_uint_eq(p.leaf, 1);
	ck_assert_uint_eq(p.edges[0].child, 5);
	ck_assert_uint_eq(p.edges[1].child, 2);
	/* Encoded back: the signed part, byte for byte. */
	uint8_t buf[2048];
	size_t len = 0;
	ck_assert_int_eq(akm_asr_package_encode(&p, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, sl);
	ck_assert_mem_eq(buf, AV_package, sl);
	ck_assert_mem_eq(p.sig, AV_package + sl, 64);
	/* OpenSSL: the signature, and the path up to the root. */
	ck_assert(ecdsa_ok(AV_station_point, AV_package, sl, p.sig));
	uint8_t k2[32], root[32];
	kwp_unwrap(AV_pr_key_1, p.edges[0].wrapped, k2);
	ck_assert_mem_eq(k2, AV_g1_node_2, 32);
	kwp_unwrap(k2, p.edges[1].wrapped, root);
	ck_assert_mem_eq(root, AV_g1_node_1, 32);
}
END_TEST

START_TEST(rekey)
{
	akm_asr_rekey r;
	size_t sl = 0;
	ck_assert_int_eq(akm_asr_rekey_parse(AV_rekey, sizeof AV_rekey, &r, &sl), AKM_FMT_OK);
	ck_assert_uint_eq(sl, sizeof AV_rekey - 64);
	check_head(&r.head, 2, 2, AV_member_hash_g2);
	ck_assert_uint_eq(r.from_gen, 1);
	ck_assert_uint_eq(r.nremoved, 1);
	ck_assert_uint_eq(r.removed[0], 0);
	ck_assert_uint_eq(r.nedges, 3);
	ck_assert_uint_eq(r.edges[0].child, 5);
	ck_assert_uint_eq(r.edges[1].child, 3);
	ck_assert_uint_eq(r.edges[2].child, 2);
	uint8_t buf[4096];
	size_t len = 0;
	ck_assert_int_eq(akm_asr_rekey_encode(&r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, sl);
	ck_assert_mem_eq(buf, AV_rekey, sl);
	ck_assert(ecdsa_ok(AV_station_point, AV_rekey, sl, r.sig));
	/* Another message's signature does not verify over this one. */
	ck_assert(!ecdsa_ok(AV_station_point, AV_rekey, sl, AV_package + sizeof AV_package - 64));
	/* Member 1 (leaf 1, node 5) climbs: new node 2, then the new root;
	 * member 2 (node 6) holds node 3 and meets child 3. */
	uint8_t k2[32], root[32], root2[32];
	kwp_unwrap(AV_pr_key_1, r.edges[0].wrapped, k2);
	ck_assert_mem_eq(k2, AV_g2_node_2, 32);
	kwp_unwrap(k2, r.edges[2].wrapped, root);
	ck_assert_mem_eq(root, AV_g2_node_1, 32);
	kwp_unwrap(AV_g1_node_3, r.edges[1].wrapped, root2);
	ck_assert_mem_eq(root2, AV_g2_node_1, 32);
}
END_TEST

START_TEST(steps_and_message)
{
	uint8_t s1[32], s2[32];
	ck_assert_mem_eq(akm_asr_ratchet_data, "AKM-ASR-1 next 1AKM-ASR-1 next 2", 32);
	ratchet(AV_g1_node_1, s1);
	ck_assert_mem_eq(s1, AV_step1_key, 32);
	ratchet(s1, s2);
	ck_assert_mem_eq(s2, AV_step2_key, 32);

	akm_asr_message m;
	ck_assert_int_eq(akm_asr_message_parse(AV_message, sizeof AV_message, &m), AKM_FMT_OK);
	ck_assert_uint_eq(m.asr_id_len, strlen(AV_ASR_ID));
	ck_assert_mem_eq(m.asr_id, AV_ASR_ID, m.asr_id_len);
	ck_assert_uint_eq(m.gen, 1);
	ck_assert_uint_eq(m.step, 1);
	ck_assert_uint_eq(m.sender, AV_SENDER);
	ck_assert_uint_eq(m.seq, AV_SEQ);
	ck_assert_uint_eq(m.header_len, akm_asr_message_header_len(m.asr_id_len));
	ck_assert_uint_eq(m.ct_len, strlen(AV_PLAIN) + 16);
	uint8_t nonce[12];
	akm_asr_nonce(m.sender, m.seq, nonce);
	ck_assert_mem_eq(nonce, AV_nonce, 12);
	uint8_t hdr[64];
	size_t hl = 0;
	ck_assert_int_eq(akm_asr_message_header(&m, strlen(AV_PLAIN), hdr, sizeof hdr, &hl), AKM_FMT_OK);
	ck_assert_uint_eq(hl, m.header_len);
	ck_assert_mem_eq(hdr, AV_message, hl);
	uint8_t plain[64];
	ck_assert_int_eq(gcm_open(s1, nonce, m.header, m.header_len, m.ct, m.ct_len, plain), (int)strlen(AV_PLAIN));
	ck_assert_mem_eq(plain, AV_PLAIN, strlen(AV_PLAIN));
	/* Under step 2's key, or with another nonce, it does not open. */
	ck_assert_int_eq(gcm_open(s2, nonce, m.header, m.header_len, m.ct, m.ct_len, plain), -1);
	akm_asr_nonce(m.sender, m.seq + 1, nonce);
	ck_assert_int_eq(gcm_open(s1, nonce, m.header, m.header_len, m.ct, m.ct_len, plain), -1);
}
END_TEST

START_TEST(state)
{
	akm_asr_state s;
	ck_assert_int_eq(akm_asr_state_parse(AV_state, sizeof AV_state, &s), AKM_FMT_OK);
	ck_assert_uint_eq(s.station_id_len, strlen(AV_STATION_ID));
	ck_assert_uint_eq(s.leaf, 2);
	ck_assert_uint_eq(s.depth, AV_DEPTH);
	ck_assert_uint_eq(s.members, 3);
	ck_assert_mem_eq(s.member_hash, AV_member_hash_g1, 32);
	ck_assert_uint_eq(s.policy.msg_limit, AV_MSG_LIMIT);
	ck_assert_uint_eq(s.gen, 1);
	ck_assert_uint_eq(s.step, 1);
	ck_assert_uint_eq(s.step_since, 1700003600);
	ck_assert_uint_eq(s.previous_until, 1700003660);
	ck_assert_uint_eq(s.sealed, 7);
	ck_assert_uint_eq(s.dirty, AV_DIRTY);
	ck_assert_uint_eq(s.nsenders, 1);
	ck_assert_uint_eq(s.senders[0].leaf, AV_SENDER);
	ck_assert_uint_eq(s.senders[0].high, AV_SEQ);
	ck_assert_uint_eq(s.senders[0].bitmap, 5);
	/* The window it records: 3 and 5 opened, 4 still new. */
	ck_assert(!akm_asr_window_check(&s.senders[0], 3, false));
	ck_assert(akm_asr_window_check(&s.senders[0], 4, false));
	uint8_t buf[512];
	size_t len = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, sizeof AV_state);
	ck_assert_mem_eq(buf, AV_state, len);
	/* As version 1 wrote it: the same state, clean; written again as
	 * version 2 it is the vector with a zero mark. */
	akm_asr_state v1;
	ck_assert_int_eq(akm_asr_state_parse(AV_state_v1, sizeof AV_state_v1, &v1), AKM_FMT_OK);
	ck_assert_uint_eq(v1.dirty, 0);
	ck_assert_uint_eq(v1.sealed, 7);
	ck_assert_uint_eq(v1.nsenders, 1);
	ck_assert_uint_eq(v1.senders[0].high, AV_SEQ);
	ck_assert_uint_eq(v1.senders[0].bitmap, 5);
	v1.dirty = AV_DIRTY;
	ck_assert_int_eq(akm_asr_state_encode(&v1, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, sizeof AV_state);
	ck_assert_mem_eq(buf, AV_state, len);
	akm_asr_state_clear(&v1);
	akm_asr_state_clear(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("asr-vectors");
	TCase *tc = tcase_create("vectors");
	tcase_add_test(tc, member_hashes);
	tcase_add_test(tc, package);
	tcase_add_test(tc, rekey);
	tcase_add_test(tc, steps_and_message);
	tcase_add_test(tc, state);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

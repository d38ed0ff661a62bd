/* The row MACs (src/store/seal.c) against the test vectors of
 * docs/formats.md §2.6, and what each one binds. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"
#include "store/impl.h"
#include "testenv.h"

/* A store of no implementation: sealing needs only the base. */
static akm_store *sealed_store(void)
{
	static akm_store base;
	uint8_t key[AKM_STORE_KEY_LEN];
	for (int i = 0; i < AKM_STORE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	ck_assert_int_eq(akm_store_seal(&base, key), CKR_OK);
	return &base;
}

static akm_key vector_key(void)
{
	akm_key k;
	memset(&k, 0, sizeof k);
	k.id = 1;
	k.relationship = 1;
	k.purpose = 1;
	k.key_type = 0x1f;
	k.value_len = 32;
	memcpy(k.ckid, "\x00\x11\x22\x33\x01", 5);
	k.ckid_len = 5;
	memcpy(k.label, "pr-1/enc", 8);
	k.label_len = 8;
	memset(k.wrapped, 0xa5, 40);
	k.wrapped_len = 40;
	return k;
}

static void assert_hex(const uint8_t mac[AKM_SEAL_LEN], const char *want)
{
	char got[2 * AKM_SEAL_LEN + 1];
	akm_hex_encode(mac, AKM_SEAL_LEN, got);
	got[2 * AKM_SEAL_LEN] = '\0';
	ck_assert_str_eq(got, want);
	/* The vector is the one the document shows. */
	char *doc = akm_test_read_source("docs/formats.md");
	ck_assert_ptr_nonnull(doc);
	ck_assert_msg(strstr(doc, want) != NULL, "%s is not in docs/formats.md", want);
	free(doc);
}

START_TEST(test_vectors)
{
	akm_store *s = sealed_store();
	uint8_t mac[AKM_SEAL_LEN];
	akm_key k = vector_key();
	akm_seal_key(s, &k, mac);
	assert_hex(mac, "46a31d59b5db67417d1c2654acbceb671927fa552b580afc47932c1233c153d9");
	akm_seal_meta(s, "generation", true, 7, NULL, 0, mac);
	assert_hex(mac, "05d53d17fc0214a3add3b58c6668578ec270f51547f71b15134b18c60d45d0a6");
	akm_store_seal(s, NULL);
}
END_TEST

/* Every field of a key row, and its row id, changes the MAC. */
START_TEST(test_every_key_field_is_bound)
{
	akm_store *s = sealed_store();
	uint8_t base[AKM_SEAL_LEN], mac[AKM_SEAL_LEN];
	akm_key k = vector_key();
	akm_seal_key(s, &k, base);
	for (int field = 0; field < 8; field++) {
		akm_key m = vector_key();
		switch (field) {
		case 0: m.id++; break;
		case 1: m.relationship++; break;
		case 2: m.purpose++; break;
		case 3: m.key_type++; break;
		case 4: m.value_len++; break;
		case 5: m.ckid[4] ^= 1; break;
		case 6: m.label_len--; break;
		case 7: m.wrapped[39] ^= 1; break;
		}
		akm_seal_key(s, &m, mac);
		ck_assert_msg(!akm_seal_matches(base, mac, sizeof mac), "field %d is not bound", field);
	}
	/* Another key, the same row: another MAC. */
	uint8_t other[AKM_STORE_KEY_LEN] = {42};
	ck_assert_int_eq(akm_store_seal(s, other), CKR_OK);
	akm_seal_key(s, &k, mac);
	ck_assert(!akm_seal_matches(base, mac, sizeof mac));
	ck_assert(!akm_seal_matches(base, mac, sizeof mac - 1));
	ck_assert(!akm_seal_matches(base, NULL, 0));
	akm_store_seal(s, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-seal");
	TCase *tc = tcase_create("seal");
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_every_key_field_is_bound);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

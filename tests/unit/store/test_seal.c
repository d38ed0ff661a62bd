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

/* The relationship row of the vectors: a PR that reached "activated" and
 * was exported once; its last change is audit record 3. */
static akm_relationship vector_rel(void)
{
	akm_relationship r;
	memset(&r, 0, sizeof r);
	r.id = 1;
	memcpy(r.rid, "\x00\x11\x22\x33", 4);
	r.rid_len = 4;
	r.kind = 1;
	r.state = 2;
	memcpy(r.station, "nmm-1", 5);
	r.station_len = 5;
	memcpy(r.peer, "node-7", 6);
	r.peer_len = 6;
	memcpy(r.hw, "se-serial-0042", 14);
	r.hw_len = 14;
	r.created = 1700000000;
	r.changed = 1700000100;
	r.status = 4;
	r.seq = 1;
	r.delivery = 1;
	r.audit = 3;
	return r;
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
	/* A relationship row with checkin 0: the MAC schema version 3 gave it
	 * (computed with the code before CKA_AKM_CHECKIN existed, and in
	 * Python from the documented fields), so rows sealed then verify. */
	akm_relationship r = vector_rel();
	akm_seal_relationship(s, &r, mac);
	assert_hex(mac, "17c120953b5a3d2d8812576c51b055e56e7348b9188fa6dd493e28c92aacd7f7");
	/* Raised once: the field is sealed. */
	r.checkin = 1700000099123UL;
	akm_seal_relationship(s, &r, mac);
	assert_hex(mac, "80e10b12a2cbd46d1db2778446d9a3e9df99d5bc6655cebc7fc3ded48e7095bf");
	akm_store_seal(s, NULL);
}
END_TEST

/* Every field of a relationship row, its row id, and the replay counter
 * (from 0 and between two non-zero values) changes the MAC. */
START_TEST(test_every_relationship_field_is_bound)
{
	akm_store *s = sealed_store();
	uint8_t base[AKM_SEAL_LEN], mac[AKM_SEAL_LEN];
	akm_relationship r = vector_rel();
	uint8_t members[] = {1, 'a', 1, 'b'};
	akm_seal_relationship(s, &r, base);
	for (int field = 0; field < 20; field++) {
		akm_relationship m = vector_rel();
		switch (field) {
		case 0: m.id++; break;
		case 1: m.rid[3] ^= 1; break;
		case 2: m.kind++; break;
		case 3: m.state++; break;
		case 4: m.epoch++; break;
		case 5: m.station_len--; break;
		case 6: m.peer[0] ^= 1; break;
		case 7: m.members = members; m.members_len = sizeof members; break;
		case 8: m.hw_len--; break;
		case 9: m.created++; break;
		case 10: m.changed++; break;
		case 11: m.status++; break;
		case 12: m.seq++; break;
		case 13: m.site_len = 1; m.site[0] = 's'; break;
		case 14: m.node_key_len = 65; m.node_key[0] = 4; break;
		case 15: m.delivery++; break;
		case 16: m.audit++; break;
		case 17: m.checkin = 1; break;
		case 18: m.checkin = ~0UL; break;
		case 19: m.audit = 0; m.checkin = 3; break; /* no field slides into another */
		}
		akm_seal_relationship(s, &m, mac);
		ck_assert_msg(!akm_seal_matches(base, mac, sizeof mac), "field %d is not bound", field);
	}
	/* Two non-zero counters differ too. */
	r.checkin = 1700000099123UL;
	akm_seal_relationship(s, &r, base);
	r.checkin++;
	akm_seal_relationship(s, &r, mac);
	ck_assert(!akm_seal_matches(base, mac, sizeof mac));
	akm_store_seal(s, NULL);
}
END_TEST

/* A key-tree row (schema version 5): leaf 1 of an ASR of capacity 8 (node
 * 9), row id 3, ASR row 2, member node-7 of PR row 1, its up edge 40 bytes
 * of 0x5a; every field and the row id bound. */
static akm_tree_row vector_tree(void)
{
	akm_tree_row t;
	memset(&t, 0, sizeof t);
	t.id = 3;
	t.asr = 2;
	t.idx = 9;
	t.gen = 1;
	t.up_gen = 1;
	memcpy(t.member, "node-7", 6);
	t.member_len = 6;
	t.pr = 1;
	memset(t.up, 0x5a, 40);
	t.up_len = 40;
	return t;
}

START_TEST(test_tree_row)
{
	akm_store *s = sealed_store();
	uint8_t base[AKM_SEAL_LEN], mac[AKM_SEAL_LEN];
	akm_tree_row t = vector_tree();
	akm_seal_tree(s, &t, base);
	assert_hex(base, "fa634d583e00a764108bdcb1d97f2a87e50afdf121cbc0351cc69826a57d9656");
	for (int field = 0; field < 11; field++) {
		akm_tree_row m = vector_tree();
		switch (field) {
		case 0: m.id++; break;
		case 1: m.asr++; break;
		case 2: m.idx++; break;
		case 3: m.gen++; break;
		case 4: m.up_gen++; break;
		case 5: m.member[0] ^= 1; break;
		case 6: m.pr++; break;
		case 7: m.key_len = 1; break;
		case 8: m.up[39] ^= 1; break;
		case 9: m.member_len = 0; m.key_len = 6; memcpy(m.key, "node-7", 6); break; /* no field slides */
		case 10: m.up_len = 0; break;
		}
		akm_seal_tree(s, &m, mac);
		ck_assert_msg(!akm_seal_matches(base, mac, sizeof mac), "field %d is not bound", field);
	}
	akm_store_seal(s, NULL);
}
END_TEST

/* An audit record (docs/formats.md §2.6): seq 3, time 1700000100, actor
 * user, action set-status, rid 00112233, result 0, detail "created ->
 * exported", a change of its row, prev 32 bytes of 0x11, hash 32 of 0x22;
 * naming no relationship row, and naming row 1 (schema version 7: the
 * field is hashed only when there is one). */
START_TEST(test_audit_record)
{
	akm_store *s = sealed_store();
	uint8_t prev[32], hash[32], none[AKM_SEAL_LEN], row1[AKM_SEAL_LEN], mac[AKM_SEAL_LEN];
	memset(prev, 0x11, sizeof prev);
	memset(hash, 0x22, sizeof hash);
	akm_audit_entry e = {3, 1700000100, "user", 4, "set-status", 10, (const uint8_t *)"\x00\x11\x22\x33", 4, 0,
	                     "created -> exported", 19};
	akm_seal_audit(s, &e, true, true, true, prev, hash, 0, none);
	assert_hex(none, "d62c256c5caa267f2607ef86a31d5ac6d7472f97c2b7433f52237b3bea850ebc");
	akm_seal_audit(s, &e, true, true, true, prev, hash, 1, row1);
	assert_hex(row1, "a0ebe530367384b4bd31d8ca1772ee632fbe991d98da8bd587b12b32cd5d563d");
	akm_seal_audit(s, &e, true, true, true, prev, hash, 2, mac);
	ck_assert(!akm_seal_matches(row1, mac, sizeof mac));
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
	tcase_add_test(tc, test_audit_record);
	tcase_add_test(tc, test_every_key_field_is_bound);
	tcase_add_test(tc, test_every_relationship_field_is_bound);
	tcase_add_test(tc, test_tree_row);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

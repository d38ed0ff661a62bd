/* The rules of a relationship's life (src/akm/relationships.c,
 * docs/object-model.md §4 and §5): valid states, the whole table of state
 * changes, status only upward, the sequence only to the next number, the
 * replay counter strictly upward, the node key set once, and well-formed
 * member lists. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "akm/relationships.h"

#define P CKV_AKM_STATE_PENDING
#define A CKV_AKM_STATE_ACTIVE
#define S CKV_AKM_STATE_SUSPENDED
#define R CKV_AKM_STATE_REVOKED

START_TEST(test_state_valid)
{
	ck_assert_uint_eq(P, 1);
	ck_assert_uint_eq(R, 4);
	ck_assert(!akm_state_valid(0));
	ck_assert(akm_state_valid(P));
	ck_assert(akm_state_valid(A));
	ck_assert(akm_state_valid(S));
	ck_assert(akm_state_valid(R));
	ck_assert(!akm_state_valid(5));
	ck_assert(!akm_state_valid(0x8A4B4D02UL));
	ck_assert(!akm_state_valid(ULONG_MAX));
}
END_TEST

START_TEST(test_state_change_table)
{
	/* docs/object-model.md §5, with the invalid values 0 and 5 around it:
	 * rows are "from", columns "to". */
	static const bool allowed[6][6] = {
		/*          0      P      A      S      R      5 */
		/* 0 */ {false, false, false, false, false, false},
		/* P */ {false, true,  true,  false, true,  false},
		/* A */ {false, false, true,  true,  true,  false},
		/* S */ {false, false, true,  true,  true,  false},
		/* R */ {false, false, false, false, true,  false},
		/* 5 */ {false, false, false, false, false, false},
	};
	for (CK_ULONG from = 0; from < 6; from++)
		for (CK_ULONG to = 0; to < 6; to++)
			ck_assert_msg(akm_state_change_allowed(from, to) == allowed[from][to],
			              "state %lu -> %lu: %s, expected %s", from, to,
			              akm_state_change_allowed(from, to) ? "allowed" : "refused",
			              allowed[from][to] ? "allowed" : "refused");
	/* Far out of range, either side. */
	for (CK_ULONG s = 0; s < 6; s++) {
		ck_assert(!akm_state_change_allowed(s, ULONG_MAX));
		ck_assert(!akm_state_change_allowed(ULONG_MAX, s));
	}
	ck_assert(!akm_state_change_allowed(ULONG_MAX, ULONG_MAX));
	/* Revoked is final. */
	ck_assert(!akm_state_change_allowed(R, A));
	ck_assert(!akm_state_change_allowed(R, P));
}
END_TEST

START_TEST(test_status_upward_only)
{
	ck_assert_uint_eq(CKV_AKM_STATUS_CREATED, 1);
	ck_assert_uint_eq(CKV_AKM_STATUS_VERIFIED, 5);
	const CK_ULONG tos[] = {0, 1, 2, 3, 4, 5, 6, 7, 0x8A4B4D00UL, ULONG_MAX};
	for (CK_ULONG from = CKV_AKM_STATUS_CREATED; from <= CKV_AKM_STATUS_VERIFIED; from++)
		for (size_t i = 0; i < sizeof tos / sizeof tos[0]; i++) {
			CK_ULONG to = tos[i];
			/* Forward, or the same (nothing changes); never lower, never
			 * past verified. */
			bool expected = to >= from && to <= CKV_AKM_STATUS_VERIFIED;
			ck_assert_msg(akm_status_change_allowed(from, to) == expected, "status %lu -> %lu: %s", from, to,
			              expected ? "refused" : "allowed");
		}
	/* Skipping steps is allowed (a station may learn late). */
	ck_assert(akm_status_change_allowed(CKV_AKM_STATUS_CREATED, CKV_AKM_STATUS_VERIFIED));
	ck_assert(!akm_status_change_allowed(CKV_AKM_STATUS_VERIFIED, CKV_AKM_STATUS_CREATED));
}
END_TEST

START_TEST(test_sequence_next_only)
{
	ck_assert(akm_sequence_change_allowed(0, 1));
	ck_assert(!akm_sequence_change_allowed(0, 0));
	ck_assert(!akm_sequence_change_allowed(0, 2));
	ck_assert(!akm_sequence_change_allowed(1, 0));
	ck_assert(akm_sequence_change_allowed(41, 42));
	ck_assert(!akm_sequence_change_allowed(42, 42));
	ck_assert(!akm_sequence_change_allowed(42, 41));
	ck_assert(!akm_sequence_change_allowed(42, 44));
	ck_assert(!akm_sequence_change_allowed(42, ULONG_MAX));
	ck_assert(akm_sequence_change_allowed(ULONG_MAX - 1, ULONG_MAX));
	ck_assert(!akm_sequence_change_allowed(ULONG_MAX, ULONG_MAX));
	ck_assert(!akm_sequence_change_allowed(ULONG_MAX, 1));
}
END_TEST

START_TEST(test_sequence_does_not_wrap)
{
	/* docs/object-model.md §2: "set only to the current value plus one,
	 * so every bundle gets a new, higher number".  After ULONG_MAX there
	 * is no higher number: 0 would be lower than every bundle before. */
	ck_assert_msg(!akm_sequence_change_allowed(ULONG_MAX, 0),
	              "sequence ULONG_MAX -> 0 is allowed: the number wraps around to a lower one");
}
END_TEST

/* CKA_AKM_CHECKIN (docs/protocol.md, "Replays are refused"): strictly
 * higher only.  The same value again is a replayed message, not "no
 * change" (unlike the status); any jump forward is fine (it is a time). */
START_TEST(test_checkin_strictly_higher)
{
	ck_assert(akm_checkin_change_allowed(0, 1));
	ck_assert(akm_checkin_change_allowed(0, 1700000000123UL));
	ck_assert(!akm_checkin_change_allowed(0, 0));
	ck_assert(!akm_checkin_change_allowed(1700000000123UL, 1700000000123UL));
	ck_assert(!akm_checkin_change_allowed(1700000000123UL, 1700000000122UL));
	ck_assert(!akm_checkin_change_allowed(1700000000123UL, 0));
	ck_assert(akm_checkin_change_allowed(1700000000123UL, 1700000000124UL));
	ck_assert(akm_checkin_change_allowed(1700000000123UL, ULONG_MAX));
	ck_assert(akm_checkin_change_allowed(ULONG_MAX - 1, ULONG_MAX));
	/* Nothing is higher than the highest: it never wraps to a low value. */
	ck_assert(!akm_checkin_change_allowed(ULONG_MAX, ULONG_MAX));
	ck_assert(!akm_checkin_change_allowed(ULONG_MAX, 0));
	ck_assert(!akm_checkin_change_allowed(ULONG_MAX, 1));
}
END_TEST

static void point(uint8_t p[AKM_NODE_KEY_LEN], uint8_t seed)
{
	p[0] = 0x04;
	for (int i = 1; i < AKM_NODE_KEY_LEN; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

START_TEST(test_node_key_set_once)
{
	akm_relationship none, set;
	memset(&none, 0, sizeof none);
	memset(&set, 0, sizeof set);
	uint8_t k[AKM_NODE_KEY_LEN], other[AKM_NODE_KEY_LEN], big[AKM_NODE_KEY_LEN + 1];
	point(k, 1);
	point(other, 1);
	other[AKM_NODE_KEY_LEN - 1] ^= 1; /* differs in the last byte only */
	point(big, 1);
	memcpy(set.node_key, k, sizeof k);
	set.node_key_len = AKM_NODE_KEY_LEN;

	/* Not a 65-byte uncompressed point: refused whatever is stored. */
	const akm_relationship *both[] = {&none, &set};
	for (int i = 0; i < 2; i++) {
		const akm_relationship *rel = both[i];
		ck_assert_int_eq(akm_node_key_change(rel, k, AKM_NODE_KEY_LEN - 1), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(akm_node_key_change(rel, big, AKM_NODE_KEY_LEN + 1), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(akm_node_key_change(rel, k, 0), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(akm_node_key_change(rel, NULL, AKM_NODE_KEY_LEN), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(akm_node_key_change(rel, NULL, 0), CKR_ATTRIBUTE_VALUE_INVALID);
		const uint8_t prefixes[] = {0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xff};
		for (size_t j = 0; j < sizeof prefixes; j++) {
			uint8_t p[AKM_NODE_KEY_LEN];
			memcpy(p, k, sizeof p);
			p[0] = prefixes[j];
			ck_assert_int_eq(akm_node_key_change(rel, p, sizeof p), CKR_ATTRIBUTE_VALUE_INVALID);
		}
	}
	/* None yet: any point. */
	ck_assert_int_eq(akm_node_key_change(&none, k, sizeof k), CKR_OK);
	ck_assert_int_eq(akm_node_key_change(&none, other, sizeof other), CKR_OK);
	/* Set: the same again is fine, another one is read-only. */
	ck_assert_int_eq(akm_node_key_change(&set, k, sizeof k), CKR_OK);
	ck_assert_int_eq(akm_node_key_change(&set, other, sizeof other), CKR_ATTRIBUTE_READ_ONLY);
	point(other, 99);
	ck_assert_int_eq(akm_node_key_change(&set, other, sizeof other), CKR_ATTRIBUTE_READ_ONLY);
	/* What counts is node_key_len, not leftover bytes. */
	akm_relationship stale = set;
	stale.node_key_len = 0;
	ck_assert_int_eq(akm_node_key_change(&stale, other, sizeof other), CKR_OK);
}
END_TEST

/* ---- members ---- */

static uint8_t members_buf[(AKM_MEMBERS_MAX + 2) * (AKM_ID_MAX + 1)];

/* n distinct members of `len` bytes each (1..32); returns the length. */
static size_t members(size_t n, size_t len)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		members_buf[at++] = (uint8_t)len;
		memset(members_buf + at, 'm', len);
		/* The member's number in its last two bytes (or last byte). */
		members_buf[at + len - 1] = (uint8_t)i;
		if (len > 1)
			members_buf[at + len - 2] = (uint8_t)(i >> 8);
		at += len;
	}
	return at;
}

static bool valid(const uint8_t *p, size_t n) { return akm_members_valid(p, n); }

START_TEST(test_members_counts)
{
	ck_assert_uint_eq(AKM_MEMBERS_MAX, 1024);
	ck_assert(!valid(NULL, 0));
	ck_assert(!valid(members_buf, members(0, 4)));
	ck_assert(!valid(members_buf, members(1, 4))); /* a relationship of one */
	ck_assert(valid(members_buf, members(2, 4)));
	ck_assert(valid(members_buf, members(3, 1)));
	ck_assert(valid(members_buf, members(AKM_MEMBERS_MAX - 1, 2)));
	ck_assert(valid(members_buf, members(AKM_MEMBERS_MAX, 2)));
	ck_assert(!valid(members_buf, members(AKM_MEMBERS_MAX + 1, 2)));
	/* The longest list: 1,024 members of 32 bytes, 33,792 bytes. */
	size_t n = members(AKM_MEMBERS_MAX, AKM_ID_MAX);
	ck_assert_uint_eq(n, 33792);
	ck_assert(valid(members_buf, n));
	ck_assert(!valid(members_buf, members(AKM_MEMBERS_MAX + 1, AKM_ID_MAX)));
}
END_TEST

START_TEST(test_members_lengths)
{
	/* Each member's length byte is 1..32. */
	static const uint8_t ok[] = {1, 'a', 32, 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b',
	                             'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b'};
	ck_assert_uint_eq(sizeof ok, 2 + 33);
	ck_assert(valid(ok, sizeof ok));
	static const uint8_t zero_first[] = {0, 1, 'a', 1, 'b'};
	static const uint8_t zero_middle[] = {1, 'a', 0, 1, 'b'};
	static const uint8_t zero_last[] = {1, 'a', 1, 'b', 0};
	ck_assert(!valid(zero_first, sizeof zero_first));
	ck_assert(!valid(zero_middle, sizeof zero_middle));
	ck_assert(!valid(zero_last, sizeof zero_last));
	/* 33 bytes: one too many, even with the bytes there. */
	uint8_t big[2 + 34];
	big[0] = 1;
	big[1] = 'a';
	big[2] = AKM_ID_MAX + 1;
	memset(big + 3, 'c', AKM_ID_MAX + 1);
	ck_assert(!valid(big, 3 + AKM_ID_MAX + 1));
	big[2] = 0xff;
	ck_assert(!valid(big, 3 + AKM_ID_MAX + 1));
}
END_TEST

START_TEST(test_members_truncated)
{
	/* Every cut of a well-formed list of three: only the cuts at a
	 * member's end with two or more members before it are lists. */
	size_t n = members(3, 5); /* 6 + 6 + 6 bytes */
	ck_assert_uint_eq(n, 18);
	for (size_t cut = 0; cut <= n; cut++) {
		bool expected = cut == 12 || cut == 18;
		ck_assert_msg(valid(members_buf, cut) == expected, "cut at %zu: %s", cut, expected ? "refused" : "accepted");
	}
	/* A length byte pointing past the end. */
	static const uint8_t past[] = {1, 'a', 1, 'b', 3, 'c', 'd'};
	ck_assert(!valid(past, sizeof past));
	static const uint8_t past_by_far[] = {1, 'a', 1, 'b', 32};
	ck_assert(!valid(past_by_far, sizeof past_by_far));
}
END_TEST

START_TEST(test_members_duplicates)
{
	static const uint8_t adjacent[] = {2, 'a', 'b', 2, 'a', 'b'};
	static const uint8_t apart[] = {2, 'a', 'b', 1, 'c', 2, 'a', 'b'};
	static const uint8_t prefix[] = {2, 'a', 'b', 3, 'a', 'b', 'c'}; /* not the same ID */
	static const uint8_t longer_first[] = {3, 'a', 'b', 'c', 2, 'a', 'b'};
	static const uint8_t case_differs[] = {2, 'a', 'b', 2, 'A', 'b'};
	ck_assert(!valid(adjacent, sizeof adjacent));
	ck_assert(!valid(apart, sizeof apart));
	ck_assert(valid(prefix, sizeof prefix));
	ck_assert(valid(longer_first, sizeof longer_first));
	ck_assert(valid(case_differs, sizeof case_differs));
	/* In a full list: the last member equal to the first. */
	size_t n = members(AKM_MEMBERS_MAX, AKM_ID_MAX);
	ck_assert(valid(members_buf, n));
	memcpy(members_buf + n - (AKM_ID_MAX + 1), members_buf, AKM_ID_MAX + 1);
	ck_assert(!valid(members_buf, n));
	/* Two in the middle. */
	n = members(100, 3);
	memcpy(members_buf + 60 * 4, members_buf + 40 * 4, 4);
	ck_assert(!valid(members_buf, n));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("akm-rules");
	TCase *states = tcase_create("states");
	tcase_add_test(states, test_state_valid);
	tcase_add_test(states, test_state_change_table);
	tcase_add_test(states, test_status_upward_only);
	tcase_add_test(states, test_sequence_next_only);
	tcase_add_test(states, test_sequence_does_not_wrap);
	tcase_add_test(states, test_checkin_strictly_higher);
	tcase_add_test(states, test_node_key_set_once);
	suite_add_tcase(s, states);
	TCase *mem = tcase_create("members");
	tcase_add_test(mem, test_members_counts);
	tcase_add_test(mem, test_members_lengths);
	tcase_add_test(mem, test_members_truncated);
	tcase_add_test(mem, test_members_duplicates);
	suite_add_tcase(s, mem);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

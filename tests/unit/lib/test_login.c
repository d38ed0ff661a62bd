/* The login state file (src/lib/fmt-login.c, docs/formats.md §1.2): the
 * documented test vector, every refusal of the parser, and the back-off
 * rules. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt-login.h"

/* docs/formats.md §1.2: user 5 wrong PINs, waiting until 1700000004000 ms,
 * refusal audited; SO 1 wrong PIN, no wait. */
static const uint8_t vector[AKM_LOGIN_STATE_LEN] = {
	'A', 'K', 'M', 'L', 0x01,
	0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x77, 0xa0,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST(test_vector)
{
	akm_login_state s;
	ck_assert_int_eq(akm_login_state_parse(vector, sizeof vector, &s), AKM_FMT_OK);
	ck_assert_uint_eq(s.who[AKM_LOGIN_USER].failures, 5);
	ck_assert_uint_eq(s.who[AKM_LOGIN_USER].flags, AKM_LOGIN_AUDITED);
	ck_assert_uint_eq(s.who[AKM_LOGIN_USER].not_before, 1700000004000ULL);
	ck_assert_uint_eq(s.who[AKM_LOGIN_SO].failures, 1);
	ck_assert_uint_eq(s.who[AKM_LOGIN_SO].flags, 0);
	ck_assert_uint_eq(s.who[AKM_LOGIN_SO].not_before, 0);
	uint8_t out[64];
	size_t len = 0;
	ck_assert_int_eq(akm_login_state_encode(&s, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, AKM_LOGIN_STATE_LEN);
	ck_assert(memcmp(out, vector, len) == 0);
	/* An output buffer one byte short. */
	ck_assert_int_ne(akm_login_state_encode(&s, out, AKM_LOGIN_STATE_LEN - 1, &len), AKM_FMT_OK);
}
END_TEST

START_TEST(test_refusals)
{
	akm_login_state s;
	uint8_t b[AKM_LOGIN_STATE_LEN + 1] = {0};
	/* Empty: the fresh state. */
	memset(&s, 0xff, sizeof s);
	ck_assert_int_eq(akm_login_state_parse(b, 0, &s), AKM_FMT_OK);
	ck_assert_uint_eq(s.who[0].failures + s.who[1].failures, 0);
	ck_assert_uint_eq(s.who[0].not_before + s.who[1].not_before, 0);
	/* Every shorter prefix, a trailing byte. */
	for (size_t n = 1; n < AKM_LOGIN_STATE_LEN; n++)
		ck_assert_msg(akm_login_state_parse(vector, n, &s) != AKM_FMT_OK, "prefix of %zu accepted", n);
	memcpy(b, vector, sizeof vector);
	b[AKM_LOGIN_STATE_LEN] = 0;
	ck_assert_int_eq(akm_login_state_parse(b, sizeof b, &s), AKM_FMT_TRAILING);
	/* Magic, version. */
	memcpy(b, vector, sizeof vector);
	b[3] = 'P';
	ck_assert_int_eq(akm_login_state_parse(b, AKM_LOGIN_STATE_LEN, &s), AKM_FMT_BAD_MAGIC);
	memcpy(b, vector, sizeof vector);
	b[4] = 2;
	ck_assert_int_eq(akm_login_state_parse(b, AKM_LOGIN_STATE_LEN, &s), AKM_FMT_BAD_VERSION);
	/* Unknown flags; a lockout on the SO's record. */
	memcpy(b, vector, sizeof vector);
	b[9] = 0x04;
	ck_assert_int_eq(akm_login_state_parse(b, AKM_LOGIN_STATE_LEN, &s), AKM_FMT_BAD_FIELD);
	memcpy(b, vector, sizeof vector);
	b[22] = AKM_LOGIN_LOCKED;
	ck_assert_int_eq(akm_login_state_parse(b, AKM_LOGIN_STATE_LEN, &s), AKM_FMT_BAD_FIELD);
	/* The encoder refuses what the parser would. */
	memset(&s, 0, sizeof s);
	s.who[AKM_LOGIN_SO].flags = AKM_LOGIN_LOCKED;
	size_t len;
	ck_assert_int_eq(akm_login_state_encode(&s, b, sizeof b, &len), AKM_FMT_BAD_FIELD);
	s.who[AKM_LOGIN_SO].flags = 0x80;
	ck_assert_int_eq(akm_login_state_encode(&s, b, sizeof b, &len), AKM_FMT_BAD_FIELD);
}
END_TEST

START_TEST(test_backoff_schedule)
{
	akm_login_policy p;
	akm_login_policy_default(&p);
	ck_assert(p.backoff && p.after == 3 && p.initial_ms == 1000 && p.max_ms == 900000 && p.lockout == 0);
	ck_assert(akm_login_policy_active(&p));
	const uint64_t want[] = {0, 0, 0, 0, 1000, 2000, 4000, 8000};
	for (uint32_t f = 0; f < 8; f++)
		ck_assert_uint_eq(akm_login_backoff_ms(&p, f), want[f]);
	/* Capped, and no overflow however many. */
	ck_assert_uint_eq(akm_login_backoff_ms(&p, 14), 900000);
	ck_assert_uint_eq(akm_login_backoff_ms(&p, 200), 900000);
	ck_assert_uint_eq(akm_login_backoff_ms(&p, UINT32_MAX), 900000);
	p.after = 0;
	ck_assert_uint_eq(akm_login_backoff_ms(&p, 1), 1000);
	p.backoff = false;
	ck_assert_uint_eq(akm_login_backoff_ms(&p, 50), 0);
	ck_assert(!akm_login_policy_active(&p));
	p.lockout = 3;
	ck_assert(akm_login_policy_active(&p));
}
END_TEST

START_TEST(test_check_fail_reset)
{
	akm_login_policy p;
	akm_login_policy_default(&p);
	p.after = 1;
	p.initial_ms = 500;
	p.max_ms = 800;
	p.lockout = 4;
	akm_login_record r = {0};
	uint64_t wait, now = 1000000;
	ck_assert_int_eq(akm_login_check(&p, &r, now, &wait), AKM_LOGIN_GO);
	akm_login_failed(&p, AKM_LOGIN_USER, &r, now);
	ck_assert_uint_eq(r.failures, 1);
	ck_assert_int_eq(akm_login_check(&p, &r, now, &wait), AKM_LOGIN_GO); /* the free one */
	r.flags |= AKM_LOGIN_AUDITED;
	akm_login_failed(&p, AKM_LOGIN_USER, &r, now);
	ck_assert_uint_eq(r.not_before, now + 500);
	ck_assert_uint_eq(r.flags & AKM_LOGIN_AUDITED, 0); /* a new refusal to audit */
	ck_assert_int_eq(akm_login_check(&p, &r, now + 100, &wait), AKM_LOGIN_WAIT);
	ck_assert_uint_eq(wait, 400);
	ck_assert_int_eq(akm_login_check(&p, &r, now + 500, &wait), AKM_LOGIN_GO);
	/* A wait further ahead than the cap (the clock went back): the cap. */
	ck_assert_int_eq(akm_login_check(&p, &r, now - 100000, &wait), AKM_LOGIN_WAIT);
	ck_assert_uint_eq(wait, 800);
	akm_login_failed(&p, AKM_LOGIN_USER, &r, now);
	ck_assert_uint_eq(r.not_before, now + 800); /* 1000, capped */
	akm_login_failed(&p, AKM_LOGIN_USER, &r, now);
	ck_assert_uint_eq(r.failures, 4);
	ck_assert(r.flags & AKM_LOGIN_LOCKED);
	ck_assert_int_eq(akm_login_check(&p, &r, now + 10000000, &wait), AKM_LOGIN_LOCKED_OUT);
	/* The SO is never locked out. */
	akm_login_record so = {0};
	for (int i = 0; i < 10; i++)
		akm_login_failed(&p, AKM_LOGIN_SO, &so, now);
	ck_assert_uint_eq(so.flags & AKM_LOGIN_LOCKED, 0);
	akm_login_reset(&r);
	ck_assert(r.failures == 0 && r.flags == 0 && r.not_before == 0);
	ck_assert_int_eq(akm_login_check(&p, &r, now, &wait), AKM_LOGIN_GO);
	/* With back-off off, a recorded wait does not hold. */
	p.backoff = false;
	r.not_before = now + 5000;
	ck_assert_int_eq(akm_login_check(&p, &r, now, &wait), AKM_LOGIN_GO);
	/* The count saturates. */
	r.failures = UINT32_MAX;
	akm_login_failed(&p, AKM_LOGIN_USER, &r, now);
	ck_assert_uint_eq(r.failures, UINT32_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-login");
	TCase *tc = tcase_create("login");
	tcase_add_test(tc, test_vector);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_backoff_schedule);
	tcase_add_test(tc, test_check_fail_reset);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

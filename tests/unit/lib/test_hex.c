/* Hexadecimal (src/lib/hex.c): lower-case encoding, decoding either case,
 * and every refusal: odd lengths, non-digits, no room. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

START_TEST(test_encode)
{
	char out[64];
	memset(out, 'X', sizeof out);
	akm_hex_encode((const uint8_t *)"", 0, out);
	ck_assert_str_eq(out, "");
	static const uint8_t v[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
	memset(out, 'X', sizeof out);
	akm_hex_encode(v, sizeof v, out);
	ck_assert_str_eq(out, "00017f80abcdefff");
	ck_assert_int_eq(out[2 * sizeof v + 1], 'X'); /* 2*len + 1 bytes written, no more */
}
END_TEST

START_TEST(test_round_trip_every_byte)
{
	uint8_t all[256], back[256];
	char hex[513];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	akm_hex_encode(all, sizeof all, hex);
	ck_assert_uint_eq(strlen(hex), 512);
	size_t n = 0;
	ck_assert_int_eq(akm_hex_decode(hex, back, sizeof back, &n), 0);
	ck_assert_uint_eq(n, 256);
	ck_assert_mem_eq(back, all, sizeof all);
	/* Upper case reads the same. */
	for (size_t i = 0; i < 512; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	memset(back, 0, sizeof back);
	ck_assert_int_eq(akm_hex_decode(hex, back, sizeof back, &n), 0);
	ck_assert_mem_eq(back, all, sizeof all);
	uint8_t mixed[2];
	ck_assert_int_eq(akm_hex_decode("aBcD", mixed, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(mixed[0], 0xab);
	ck_assert_uint_eq(mixed[1], 0xcd);
}
END_TEST

START_TEST(test_decode_empty_and_exact_fit)
{
	uint8_t out[4] = {7, 7, 7, 7};
	size_t n = 99;
	ck_assert_int_eq(akm_hex_decode("", out, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(akm_hex_decode("01020304", out, 4, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(out, "\x01\x02\x03\x04", 4);
	/* decode_n reads exactly `digits` characters: what follows is not read. */
	ck_assert_int_eq(akm_hex_decode_n("0a0bzz", 4, out, 4, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "\x0a\x0b", 2);
	ck_assert_int_eq(akm_hex_decode_n("zz", 0, out, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

static void assert_refused(const char *in, size_t digits, size_t cap, const char *why)
{
	uint8_t out[64];
	size_t n = 12345;
	ck_assert_msg(akm_hex_decode_n(in, digits, out, cap, &n) == -1, "accepted: %s", why);
	ck_assert_msg(n == 12345, "%s: the length was set on a refusal", why);
}

START_TEST(test_refusals)
{
	/* Odd. */
	assert_refused("abc", 3, 64, "three digits");
	assert_refused("a", 1, 64, "one digit");
	size_t n = 12345;
	uint8_t out[8];
	ck_assert_int_eq(akm_hex_decode("abcde", out, sizeof out, &n), -1);
	ck_assert_uint_eq(n, 12345);
	/* Not a digit, in either place of a byte, first or last byte. */
	static const char *const bad[] = {"0g", "g0", "zz00", "00zz", "0 ", " 0", "0x00", "-1", "0\n", "+0", "0.",
	                                  "G0", "\xc3\xa9", "0/", "0:", "0@", "0`", "0[", "0{"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_refused(bad[i], strlen(bad[i]), 64, bad[i]);
	/* A NUL inside the digits counted. */
	assert_refused("ab\0d", 4, 64, "NUL among the digits");
	/* No room: one byte more than cap. */
	assert_refused("00112233", 8, 3, "4 bytes into 3");
	assert_refused("00", 2, 0, "1 byte into 0");
	ck_assert_int_eq(akm_hex_decode("0011", out, 1, &n), -1);
	/* The boundary digits of each range. */
	static const char ok_digits[] = "0123456789abcdefABCDEF";
	for (size_t i = 0; ok_digits[i]; i++) {
		char two[3] = {ok_digits[i], '0', 0};
		ck_assert_int_eq(akm_hex_decode(two, out, 1, &n), 0);
	}
}
END_TEST

/* Moved from test_formats.c, where hex used to live. */
START_TEST(hex_helpers)
{
	static const uint8_t bytes[] = { 0x00, 0xff, 0x10, 0xab };
	char hex[9];
	uint8_t out[8];
	size_t len = 99;
	akm_hex_encode(bytes, sizeof bytes, hex);
	ck_assert_str_eq(hex, "00ff10ab");
	akm_hex_encode(bytes, 0, hex);
	ck_assert_str_eq(hex, "");
	ck_assert_int_eq(akm_hex_decode("00FF10aB", out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(out, bytes, 4);
	ck_assert_int_eq(akm_hex_decode("", out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 0);
	len = 99;
	ck_assert_int_eq(akm_hex_decode("abc", out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode("zz", out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode("0g", out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode(" 00", out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode("0x00", out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode("000102030405060708", out, sizeof out, &len), -1);
	ck_assert_uint_eq(len, 99); /* unchanged by a refusal */
	ck_assert_int_eq(akm_hex_decode("0001020304050607", out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 8);
}
END_TEST

START_TEST(hex_decode_n)
{
	uint8_t out[4];
	size_t len = 99;
	/* Only the digits counted are read: the rest of the text may be anything. */
	ck_assert_int_eq(akm_hex_decode_n("a1b2zz", 4, out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(out, "\xa1\xb2", 2);
	ck_assert_int_eq(akm_hex_decode_n("a1b2", 0, out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 0);
	len = 99;
	ck_assert_int_eq(akm_hex_decode_n("a1b2", 3, out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode_n("a1zz", 4, out, sizeof out, &len), -1);
	ck_assert_int_eq(akm_hex_decode_n("0011223344", 10, out, sizeof out, &len), -1);
	ck_assert_uint_eq(len, 99);
	ck_assert_int_eq(akm_hex_decode_n("00112233", 8, out, sizeof out, &len), 0);
	ck_assert_uint_eq(len, 4);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-hex");
	TCase *tc = tcase_create("hex");
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_round_trip_every_byte);
	tcase_add_test(tc, test_decode_empty_and_exact_fit);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, hex_helpers);
	tcase_add_test(tc, hex_decode_n);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

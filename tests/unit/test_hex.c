/* Hex (src/lib/hex.c): the one encoder and decoder of the module and the
 * tools. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

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
	Suite *s = suite_create("hex");
	TCase *tc = tcase_create("hex");
	tcase_add_test(tc, hex_helpers);
	tcase_add_test(tc, hex_decode_n);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

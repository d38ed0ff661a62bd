/* The rollback counter's value and label (src/akm/counter.c,
 * docs/formats.md §4): the label round trip, the example label of the
 * documentation, every refusal of a label that is not a counter's, and the
 * big-endian fields.  The calls that talk to the backend are the
 * integration tests' (tests/integration/test_relationships.c). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm/counter.h"

/* docs/formats.md §4: after the first relationship of a fresh registry. */
static const char doc_label[] =
	"akm-pkcs11 registry counter "
	"0000000000000001"
	"0000000000000001"
	"c293faa147522223cb677528b76fd7ba5c657044a60d9378f198e9fcded05ef3";

static void sample(uint8_t v[AKM_COUNTER_LEN], unsigned seed)
{
	for (size_t i = 0; i < AKM_COUNTER_LEN; i++)
		v[i] = (uint8_t)(seed * 131 + i * 29 + (i >> 2));
}

START_TEST(test_label_length_and_form)
{
	/* The documented 124 bytes: a 28-byte prefix, 96 hex digits. */
	ck_assert_uint_eq(AKM_COUNTER_LEN, 48);
	ck_assert_uint_eq(AKM_COUNTER_LABEL_LEN, 124);
	ck_assert_uint_eq(strlen(AKM_COUNTER_PREFIX), 28);
	uint8_t zero[AKM_COUNTER_LEN] = {0};
	char label[AKM_COUNTER_LABEL_LEN + 1];
	memset(label, 'X', sizeof label);
	akm_counter_label(label, zero);
	ck_assert_uint_eq(strlen(label), AKM_COUNTER_LABEL_LEN);
	ck_assert_mem_eq(label, AKM_COUNTER_PREFIX, 28);
	for (size_t i = 28; i < AKM_COUNTER_LABEL_LEN; i++)
		ck_assert_int_eq(label[i], '0');
	/* Lower-case digits. */
	uint8_t ff[AKM_COUNTER_LEN];
	memset(ff, 0xab, sizeof ff);
	akm_counter_label(label, ff);
	for (size_t i = 28; i < AKM_COUNTER_LABEL_LEN; i++)
		ck_assert_int_eq(label[i], (i % 2) ? 'b' : 'a');
}
END_TEST

START_TEST(test_documented_label)
{
	ck_assert_uint_eq(sizeof doc_label - 1, AKM_COUNTER_LABEL_LEN);
	uint8_t v[AKM_COUNTER_LEN];
	ck_assert_int_eq(akm_counter_parse(doc_label, sizeof doc_label - 1, v), 0);
	ck_assert_uint_eq(akm_counter_generation(v), 1);
	ck_assert_uint_eq(akm_counter_audit_seq(v), 1);
	static const uint8_t h1[AKM_AUDIT_HASH_LEN] = {
		0xc2, 0x93, 0xfa, 0xa1, 0x47, 0x52, 0x22, 0x23, 0xcb, 0x67, 0x75, 0x28, 0xb7, 0x6f, 0xd7, 0xba,
		0x5c, 0x65, 0x70, 0x44, 0xa6, 0x0d, 0x93, 0x78, 0xf1, 0x98, 0xe9, 0xfc, 0xde, 0xd0, 0x5e, 0xf3};
	ck_assert_mem_eq(v + 16, h1, sizeof h1);
	char label[AKM_COUNTER_LABEL_LEN + 1];
	akm_counter_label(label, v);
	ck_assert_str_eq(label, doc_label);
}
END_TEST

START_TEST(test_round_trip)
{
	for (unsigned seed = 0; seed < 64; seed++) {
		uint8_t v[AKM_COUNTER_LEN], back[AKM_COUNTER_LEN];
		char label[AKM_COUNTER_LABEL_LEN + 1];
		sample(v, seed);
		akm_counter_label(label, v);
		ck_assert_int_eq(akm_counter_parse(label, AKM_COUNTER_LABEL_LEN, back), 0);
		ck_assert_mem_eq(back, v, sizeof v);
	}
	/* Upper-case digits are read too (a token may not keep the case). */
	char upper[AKM_COUNTER_LABEL_LEN + 1];
	memcpy(upper, doc_label, sizeof upper);
	for (size_t i = 28; i < AKM_COUNTER_LABEL_LEN; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	uint8_t a[AKM_COUNTER_LEN], b[AKM_COUNTER_LEN];
	ck_assert_int_eq(akm_counter_parse(upper, AKM_COUNTER_LABEL_LEN, a), 0);
	ck_assert_int_eq(akm_counter_parse(doc_label, AKM_COUNTER_LABEL_LEN, b), 0);
	ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

static void assert_refused(const char *label, size_t len, const char *why)
{
	uint8_t v[AKM_COUNTER_LEN];
	ck_assert_msg(akm_counter_parse(label, len, v) == -1, "accepted: %s", why);
}

START_TEST(test_refusals)
{
	char buf[AKM_COUNTER_LABEL_LEN + 8];
	/* Wrong length: one digit short or long, the prefix alone, nothing. */
	memcpy(buf, doc_label, AKM_COUNTER_LABEL_LEN);
	buf[AKM_COUNTER_LABEL_LEN] = '0';
	assert_refused(buf, AKM_COUNTER_LABEL_LEN - 1, "95 digits");
	assert_refused(buf, AKM_COUNTER_LABEL_LEN + 1, "97 digits");
	assert_refused(buf, AKM_COUNTER_LABEL_LEN - 2, "94 digits");
	assert_refused(buf, AKM_COUNTER_LABEL_LEN + 2, "98 digits");
	assert_refused(AKM_COUNTER_PREFIX, strlen(AKM_COUNTER_PREFIX), "the prefix alone");
	assert_refused("", 0, "empty");
	/* A label that happens to be 124 bytes long with another prefix. */
	static const char *const prefixes[] = {
		"akm-pkcs11 registry counter_", /* the space */
		"AKM-pkcs11 registry counter ", /* case */
		"akm-pkcs11 registry countex ",
		"xkm-pkcs11 registry counter ",
		"akm-pkcs11 registry counter0", /* one digit too many where the space was */
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		memcpy(buf, doc_label, AKM_COUNTER_LABEL_LEN);
		memcpy(buf, prefixes[i], 28);
		assert_refused(buf, AKM_COUNTER_LABEL_LEN, prefixes[i]);
	}
	/* A label shifted by one: prefix without its space, 97 digits. */
	memcpy(buf, "akm-pkcs11 registry counter", 27);
	memcpy(buf + 27, doc_label + 28, 96);
	buf[123] = '0';
	assert_refused(buf, AKM_COUNTER_LABEL_LEN, "prefix without its space");
	/* A non-hex digit anywhere among the 96, first and last included. */
	static const char bad[] = {'g', 'G', ' ', '-', 'x', '\0', '\n', (char)0xc3};
	static const size_t where[] = {28, 29, 28 + 15, 28 + 16, 28 + 48, 122, 123};
	for (size_t i = 0; i < sizeof bad; i++)
		for (size_t j = 0; j < sizeof where / sizeof where[0]; j++) {
			memcpy(buf, doc_label, AKM_COUNTER_LABEL_LEN);
			buf[where[j]] = bad[i];
			char why[64];
			snprintf(why, sizeof why, "0x%02x at %zu", (unsigned)(uint8_t)bad[i], where[j]);
			assert_refused(buf, AKM_COUNTER_LABEL_LEN, why);
		}
	/* The right label read with the wrong length. */
	assert_refused(doc_label, AKM_COUNTER_LABEL_LEN - 1, "read one short");
}
END_TEST

START_TEST(test_big_endian_fields)
{
	uint8_t v[AKM_COUNTER_LEN] = {0};
	for (int i = 0; i < 8; i++) {
		v[i] = (uint8_t)(0x01 + i);      /* generation 0x0102030405060708 */
		v[8 + i] = (uint8_t)(0xf1 + i);  /* audit seq  0xf1f2f3f4f5f6f7f8 */
	}
	v[16] = 0xee; /* the hash does not count */
	ck_assert_uint_eq(akm_counter_generation(v), 0x0102030405060708ULL);
	ck_assert_uint_eq(akm_counter_audit_seq(v), 0xf1f2f3f4f5f6f7f8ULL);
	memset(v, 0, 16);
	v[7] = 1;
	v[15] = 2;
	ck_assert_uint_eq(akm_counter_generation(v), 1);
	ck_assert_uint_eq(akm_counter_audit_seq(v), 2);
	v[0] = 0x80;
	ck_assert_uint_eq(akm_counter_generation(v), 0x8000000000000001ULL);
	memset(v, 0xff, 16);
	ck_assert_uint_eq(akm_counter_generation(v), UINT64_MAX);
	ck_assert_uint_eq(akm_counter_audit_seq(v), UINT64_MAX);
	/* Through a label: what was written is what is read. */
	char label[AKM_COUNTER_LABEL_LEN + 1];
	uint8_t back[AKM_COUNTER_LEN];
	memset(v, 0, sizeof v);
	v[6] = 0x01; /* generation 256 */
	v[15] = 0x2a; /* audit seq 42 */
	akm_counter_label(label, v);
	ck_assert_mem_eq(label + 28, "0000000000000100000000000000002a", 32);
	ck_assert_int_eq(akm_counter_parse(label, AKM_COUNTER_LABEL_LEN, back), 0);
	ck_assert_uint_eq(akm_counter_generation(back), 256);
	ck_assert_uint_eq(akm_counter_audit_seq(back), 42);
}
END_TEST

START_TEST(test_is_and_forget)
{
	akm_counter c;
	memset(&c, 0, sizeof c);
	ck_assert(!akm_counter_is(&c, 0)); /* no objects: 0 is not one of them */
	ck_assert(!akm_counter_is(&c, 5));
	c.obj[0] = 5;
	c.obj[1] = 9;
	ck_assert(akm_counter_is(&c, 5));
	ck_assert(akm_counter_is(&c, 9));
	ck_assert(!akm_counter_is(&c, 7));
	ck_assert(!akm_counter_is(&c, 0));
	c.obj[1] = 0; /* only one */
	ck_assert(!akm_counter_is(&c, 0));
	akm_counter_forget(&c);
	ck_assert_uint_eq(c.obj[0], 0);
	ck_assert_uint_eq(c.obj[1], 0);
	ck_assert(!akm_counter_is(&c, 5));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("akm-counter");
	TCase *tc = tcase_create("counter");
	tcase_add_test(tc, test_label_length_and_form);
	tcase_add_test(tc, test_documented_label);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_big_endian_fields);
	tcase_add_test(tc, test_is_and_forget);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

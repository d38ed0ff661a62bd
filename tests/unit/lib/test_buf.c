/*
 * The bounded reader and writer (src/lib/buf.c): big-endian vectors, every
 * overflow, underflow and truncation refused without a byte written or read
 * past the end, and the sticky first error.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

/* A buffer with guard bytes on both sides: nothing may touch them. */
typedef struct guarded {
	uint8_t before[8], buf[64], after[8];
} guarded;

static void guard_init(guarded *g)
{
	memset(g, 0xA5, sizeof *g);
}

static void guard_check(const guarded *g, size_t cap)
{
	for (size_t i = 0; i < sizeof g->before; i++)
		ck_assert_uint_eq(g->before[i], 0xA5);
	for (size_t i = cap; i < sizeof g->buf; i++)
		ck_assert_uint_eq(g->buf[i], 0xA5);
	for (size_t i = 0; i < sizeof g->after; i++)
		ck_assert_uint_eq(g->after[i], 0xA5);
}

START_TEST(big_endian_vectors)
{
	uint8_t buf[32];
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_u8(&w, 0x01);
	akm_buf_put_u16(&w, 0x0203);
	akm_buf_put_u32(&w, 0x04050607);
	akm_buf_put_u64(&w, 0x08090a0b0c0d0e0fULL);
	akm_buf_put_bytes(&w, "\x10\x11", 2);
	size_t len = 0;
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 17);
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	                                0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11 };
	ck_assert_mem_eq(buf, want, sizeof want);

	akm_buf_reader r;
	akm_buf_reader_init(&r, want, sizeof want);
	ck_assert_uint_eq(akm_buf_get_u8(&r), 0x01);
	ck_assert_uint_eq(akm_buf_get_u16(&r), 0x0203);
	ck_assert_uint_eq(akm_buf_get_u32(&r), 0x04050607);
	ck_assert(akm_buf_get_u64(&r) == 0x08090a0b0c0d0e0fULL);
	uint8_t two[2];
	akm_buf_get_bytes(&r, two, 2);
	ck_assert_mem_eq(two, "\x10\x11", 2);
	ck_assert_uint_eq(akm_buf_offset(&r), 17);
	ck_assert_uint_eq(akm_buf_remaining(&r), 0);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);

	/* The extremes. */
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_u64(&w, UINT64_MAX);
	akm_buf_put_u64(&w, 0);
	akm_buf_put_u16(&w, 0x8000);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_mem_eq(buf, "\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0\x80\x00", 18);
	akm_buf_reader_init(&r, buf, len);
	ck_assert(akm_buf_get_u64(&r) == UINT64_MAX);
	ck_assert(akm_buf_get_u64(&r) == 0);
	ck_assert_uint_eq(akm_buf_get_u16(&r), 0x8000);
}
END_TEST

/* Every put at every capacity: it fits exactly or is refused whole. */
START_TEST(writer_overflow_refused)
{
	for (int kind = 0; kind < 7; kind++) {
		static const size_t need[] = { 1, 2, 4, 8, 5, 6, 7 };
		for (size_t cap = 0; cap <= need[kind] + 1; cap++) {
			guarded g;
			guard_init(&g);
			akm_buf_writer w;
			akm_buf_writer_init(&w, g.buf, cap);
			switch (kind) {
			case 0: akm_buf_put_u8(&w, 0x11); break;
			case 1: akm_buf_put_u16(&w, 0x1122); break;
			case 2: akm_buf_put_u32(&w, 0x11223344); break;
			case 3: akm_buf_put_u64(&w, 0x1122334455667788ULL); break;
			case 4: akm_buf_put_bytes(&w, "abcde", 5); break;
			case 5: akm_buf_put_lv8(&w, "abcde", 5); break;
			case 6: akm_buf_put_lv16(&w, "abcde", 5); break;
			}
			size_t len = 99;
			akm_buf_err err = akm_buf_writer_done(&w, &len);
			if (cap >= need[kind]) {
				ck_assert_int_eq(err, AKM_BUF_OK);
				ck_assert_uint_eq(len, need[kind]);
			} else {
				ck_assert_int_eq(err, AKM_BUF_FULL);
				ck_assert_uint_eq(len, 99); /* not set on an error */
				ck_assert_uint_eq(akm_buf_writer_len(&w), 0); /* nothing half-written */
				for (size_t i = 0; i < cap; i++)
					ck_assert_uint_eq(g.buf[i], 0xA5);
			}
			guard_check(&g, cap);
		}
	}
}
END_TEST

START_TEST(writer_errors_are_sticky)
{
	guarded g;
	guard_init(&g);
	akm_buf_writer w;
	akm_buf_writer_init(&w, g.buf, 4);
	akm_buf_put_u16(&w, 0x0102);
	akm_buf_put_u32(&w, 0x03040506); /* does not fit */
	akm_buf_put_u8(&w, 0x07);        /* would fit, but the writer has failed */
	akm_buf_put_lv8(&w, "x", 1);
	akm_buf_fill_len16(&w, 0);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_FULL);
	ck_assert_uint_eq(akm_buf_writer_len(&w), 2);
	ck_assert_uint_eq(g.buf[0], 0x01);
	ck_assert_uint_eq(g.buf[1], 0x02);
	ck_assert_uint_eq(g.buf[2], 0xA5);
	guard_check(&g, 2);

	/* The first error is the one kept. */
	akm_buf_writer_init(&w, g.buf, 4);
	akm_buf_put_lv8(&w, g.buf, 256);
	akm_buf_put_u64(&w, 1);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);

	/* No buffer: nothing fits. */
	akm_buf_writer_init(&w, NULL, 16);
	akm_buf_put_u8(&w, 1);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_FULL);
	akm_buf_writer_init(&w, NULL, 0);
	akm_buf_put_bytes(&w, NULL, 0);
	size_t len = 99;
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(length_prefixes)
{
	static uint8_t big[70000], src[70000];
	uint8_t buf[600];
	akm_buf_writer w;
	size_t len;

	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_lv8(&w, "abc", 3);
	akm_buf_put_lv8(&w, NULL, 0);
	akm_buf_put_lv16(&w, "de", 2);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 9);
	ck_assert_mem_eq(buf, "\x03" "abc" "\x00" "\x00\x02" "de", 9);

	/* 255 fits a u8 length, 256 does not, and nothing is written. */
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_lv8(&w, src, 255);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 256);
	ck_assert_uint_eq(buf[0], 255);
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_lv8(&w, src, 256);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);
	ck_assert_uint_eq(akm_buf_writer_len(&w), 0);

	akm_buf_writer_init(&w, big, sizeof big);
	akm_buf_put_lv16(&w, buf, 0);
	akm_buf_writer_init(&w, big, sizeof big);
	akm_buf_put_lv16(&w, src, 65535);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 65537);
	ck_assert_uint_eq(big[0], 0xff);
	ck_assert_uint_eq(big[1], 0xff);
	akm_buf_writer_init(&w, big, sizeof big);
	akm_buf_put_lv16(&w, src, 65536);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);
	ck_assert_uint_eq(akm_buf_writer_len(&w), 0);
}
END_TEST

START_TEST(reserve_and_fill)
{
	uint8_t buf[16];
	akm_buf_writer w;
	size_t len;
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_u8(&w, 0xAA);
	size_t at = akm_buf_reserve(&w, 2);
	ck_assert_uint_eq(at, 1);
	akm_buf_put_lv8(&w, "xyz", 3);
	akm_buf_put_u8(&w, 0xBB);
	akm_buf_fill_len16(&w, at);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 8);
	ck_assert_mem_eq(buf, "\xaa\x00\x05\x03xyz\xbb", 8);

	/* An empty field after the reservation: length 0. */
	akm_buf_writer_init(&w, buf, sizeof buf);
	at = akm_buf_reserve(&w, 2);
	akm_buf_fill_len16(&w, at);
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_mem_eq(buf, "\x00\x00", 2);

	/* Not a reservation of this writer. */
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_u8(&w, 1);
	akm_buf_fill_len16(&w, 0);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_fill_len16(&w, 5);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);

	/* A reservation that does not fit. */
	guarded g;
	guard_init(&g);
	akm_buf_writer_init(&w, g.buf, 3);
	akm_buf_put_u16(&w, 0);
	akm_buf_reserve(&w, 2);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_FULL);
	guard_check(&g, 2);

	/* A field too long for its u16 length. */
	static uint8_t big[70000], src[65536];
	akm_buf_writer_init(&w, big, sizeof big);
	at = akm_buf_reserve(&w, 2);
	akm_buf_put_bytes(&w, src, sizeof src);
	akm_buf_fill_len16(&w, at);
	ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_LENGTH);
}
END_TEST

/* Every get with one byte too few: refused, 0, nothing consumed. */
START_TEST(reader_underflow_refused)
{
	static const uint8_t src[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	static const size_t need[] = { 1, 2, 4, 8, 5 };
	for (int kind = 0; kind < 5; kind++) {
		for (size_t have = 0; have <= need[kind]; have++) {
			/* A copy of exactly `have` bytes: a sanitizer sees any read past it. */
			uint8_t *copy = malloc(have ? have : 1);
			memcpy(copy, src, have);
			akm_buf_reader r;
			akm_buf_reader_init(&r, copy, have);
			uint64_t v = 0;
			uint8_t out[5] = { 0xEE, 0xEE, 0xEE, 0xEE, 0xEE };
			switch (kind) {
			case 0: v = akm_buf_get_u8(&r); break;
			case 1: v = akm_buf_get_u16(&r); break;
			case 2: v = akm_buf_get_u32(&r); break;
			case 3: v = akm_buf_get_u64(&r); break;
			case 4: akm_buf_get_bytes(&r, out, 5); break;
			}
			if (have == need[kind]) {
				ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
				ck_assert_uint_eq(akm_buf_remaining(&r), 0);
			} else {
				ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
				ck_assert(v == 0);
				ck_assert_mem_eq(out, kind == 4 ? "\0\0\0\0\0" : "\xee\xee\xee\xee\xee", 5);
				ck_assert_uint_eq(akm_buf_offset(&r), 0);
			}
			free(copy);
		}
	}
}
END_TEST

START_TEST(reader_errors_are_sticky)
{
	static const uint8_t src[] = { 0x00, 0x01, 0x02 };
	akm_buf_reader r;
	akm_buf_reader_init(&r, src, sizeof src);
	ck_assert_uint_eq(akm_buf_get_u16(&r), 0x0001);
	ck_assert_uint_eq(akm_buf_get_u16(&r), 0); /* one byte left */
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	ck_assert_uint_eq(akm_buf_get_u8(&r), 0);  /* there is one, but the reader has failed */
	ck_assert_uint_eq(akm_buf_offset(&r), 2);
	akm_buf_invalid(&r);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	uint8_t peeked;
	ck_assert(!akm_buf_peek(&r, &peeked, 1));

	/* A value the caller finds wrong is kept as the first error too. */
	akm_buf_reader_init(&r, src, sizeof src);
	akm_buf_get_u8(&r);
	akm_buf_invalid(&r);
	akm_buf_get_u64(&r);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_INVALID);

	/* No buffer: empty. */
	akm_buf_reader_init(&r, NULL, 10);
	ck_assert_uint_eq(akm_buf_remaining(&r), 0);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	akm_buf_get_u8(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
}
END_TEST

static bool multiple_of_8(size_t len)
{
	return len % 8 == 0;
}

START_TEST(reader_length_prefixes)
{
	uint8_t out[16];
	akm_buf_reader r;

	/* A good one, and an empty one. */
	akm_buf_reader_init(&r, "\x03" "abc" "\x00" "\x00\x02" "de", 9);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, sizeof out, NULL), 3);
	ck_assert_mem_eq(out, "abc", 3);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, sizeof out, NULL), 0);
	ck_assert_uint_eq(akm_buf_get_lv16(&r, out, sizeof out, NULL), 2);
	ck_assert_mem_eq(out, "de", 2);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);

	/* Over the maximum: refused before the bytes are looked for, so a
	 * length that is wrong by itself is never reported as a short file. */
	memset(out, 0xEE, sizeof out);
	akm_buf_reader_init(&r, "\x11" "abc", 4);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, NULL), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_LENGTH);
	ck_assert_uint_eq(out[0], 0xEE); /* nothing copied */
	akm_buf_reader_init(&r, "\x00\x11" "abc", 5);
	ck_assert_uint_eq(akm_buf_get_lv16(&r, out, 16, NULL), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_LENGTH);

	/* The exact maximum is fine. */
	uint8_t sixteen[17] = { 16 };
	akm_buf_reader_init(&r, sixteen, sizeof sixteen);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, NULL), 16);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);

	/* A rule: refused the same way, before a short buffer. */
	akm_buf_reader_init(&r, "\x09" "abc", 4);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, multiple_of_8), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_LENGTH);
	akm_buf_reader_init(&r, "\x08" "abc", 4);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, multiple_of_8), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	ck_assert_uint_eq(akm_buf_offset(&r), 1);

	/* Truncated: in the length itself, or in the bytes. */
	akm_buf_reader_init(&r, "", 0);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, NULL), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	akm_buf_reader_init(&r, "\x00", 1);
	ck_assert_uint_eq(akm_buf_get_lv16(&r, out, 16, NULL), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	akm_buf_reader_init(&r, "\x04" "abc", 4);
	ck_assert_uint_eq(akm_buf_get_lv8(&r, out, 16, NULL), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
}
END_TEST

START_TEST(sub_readers)
{
	akm_buf_reader r, sub;
	akm_buf_reader_init(&r, "\x01\x02\x03\x04\x05", 5);
	akm_buf_get_u8(&r);
	akm_buf_get_sub(&r, &sub, 3);
	ck_assert_uint_eq(akm_buf_offset(&r), 4);
	ck_assert_uint_eq(akm_buf_get_u16(&sub), 0x0203);
	akm_buf_end(&sub);
	ck_assert_int_eq(akm_buf_reader_error(&sub), AKM_BUF_TRAILING); /* the sub's own business */
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	ck_assert_uint_eq(akm_buf_get_u8(&r), 0x05);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);

	/* A sub that reads past its own end fails, even with bytes after it. */
	akm_buf_reader_init(&r, "\x01\x02\x03\x04\x05", 5);
	akm_buf_get_sub(&r, &sub, 1);
	ck_assert_uint_eq(akm_buf_get_u16(&sub), 0);
	ck_assert_int_eq(akm_buf_reader_error(&sub), AKM_BUF_SHORT);

	/* Longer than what is left: both fail, the sub empty. */
	akm_buf_reader_init(&r, "\x01\x02", 2);
	akm_buf_get_sub(&r, &sub, 3);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	ck_assert_int_eq(akm_buf_reader_error(&sub), AKM_BUF_SHORT);
	ck_assert_uint_eq(akm_buf_remaining(&sub), 0);

	/* After an error, the sub carries it. */
	akm_buf_reader_init(&r, "\x01\x02", 2);
	akm_buf_invalid(&r);
	akm_buf_get_sub(&r, &sub, 1);
	ck_assert_int_eq(akm_buf_reader_error(&sub), AKM_BUF_INVALID);
	ck_assert_uint_eq(akm_buf_remaining(&sub), 0);
}
END_TEST

START_TEST(expect_and_peek)
{
	akm_buf_reader r;
	/* A match is consumed. */
	akm_buf_reader_init(&r, "AKMB\x01", 5);
	ck_assert(akm_buf_expect(&r, "AKMB", 4));
	ck_assert_uint_eq(akm_buf_offset(&r), 4);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	/* A mismatch: false, nothing consumed, no error. */
	akm_buf_reader_init(&r, "AKMR\x01", 5);
	ck_assert(!akm_buf_expect(&r, "AKMB", 4));
	ck_assert_uint_eq(akm_buf_offset(&r), 0);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	/* Cut short: a prefix that matches is SHORT, one that does not is a mismatch. */
	akm_buf_reader_init(&r, "AK", 2);
	ck_assert(akm_buf_expect(&r, "AKMB", 4));
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);
	akm_buf_reader_init(&r, "AX", 2);
	ck_assert(!akm_buf_expect(&r, "AKMB", 4));
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	akm_buf_reader_init(&r, "", 0);
	ck_assert(akm_buf_expect(&r, "AKMB", 4));
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_SHORT);

	/* peek copies without consuming; false when too few are left. */
	uint8_t two[2] = { 0, 0 };
	akm_buf_reader_init(&r, "\x07\x08\x09", 3);
	ck_assert(akm_buf_peek(&r, two, 2));
	ck_assert_mem_eq(two, "\x07\x08", 2);
	ck_assert_uint_eq(akm_buf_offset(&r), 0);
	akm_buf_get_u16(&r);
	ck_assert(!akm_buf_peek(&r, two, 2));
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
	ck_assert(akm_buf_peek(&r, two, 1));
	ck_assert_uint_eq(two[0], 0x09);
}
END_TEST

START_TEST(end_and_trailing)
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, "\x01\x02", 2);
	akm_buf_get_u8(&r);
	ck_assert_uint_eq(akm_buf_remaining(&r), 1);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_TRAILING);
	akm_buf_reader_init(&r, "\x01\x02", 2);
	akm_buf_get_u16(&r);
	akm_buf_end(&r);
	ck_assert_int_eq(akm_buf_reader_error(&r), AKM_BUF_OK);
}
END_TEST

/* A record written field by field, then read back from every prefix and
 * with one byte more: only the whole record reads cleanly. */
static akm_buf_err read_record(const uint8_t *p, size_t len)
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, p, len);
	uint8_t id[8], blob[8];
	akm_buf_get_u8(&r);
	akm_buf_get_lv8(&r, id, sizeof id, NULL);
	akm_buf_get_u32(&r);
	akm_buf_reader sub;
	akm_buf_get_sub(&r, &sub, akm_buf_get_u16(&r));
	akm_buf_get_lv8(&sub, blob, sizeof blob, NULL);
	akm_buf_end(&sub);
	if (akm_buf_reader_error(&sub) != AKM_BUF_OK)
		akm_buf_invalid(&r);
	akm_buf_get_u64(&r);
	akm_buf_end(&r);
	return akm_buf_reader_error(&r);
}

START_TEST(every_truncation_refused)
{
	uint8_t buf[64];
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, sizeof buf);
	akm_buf_put_u8(&w, 7);
	akm_buf_put_lv8(&w, "node-A", 6);
	akm_buf_put_u32(&w, 42);
	size_t at = akm_buf_reserve(&w, 2);
	akm_buf_put_lv8(&w, "blob", 4);
	akm_buf_fill_len16(&w, at);
	akm_buf_put_u64(&w, 1);
	size_t len = 0;
	ck_assert_int_eq(akm_buf_writer_done(&w, &len), AKM_BUF_OK);
	ck_assert_uint_eq(len, 1 + 7 + 4 + 2 + 5 + 8);
	ck_assert_int_eq(read_record(buf, len), AKM_BUF_OK);
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		akm_buf_err err = read_record(copy, n);
		ck_assert_msg(err == AKM_BUF_SHORT, "prefix of %zu bytes: %d", n, err);
		free(copy);
	}
	buf[len] = 0;
	ck_assert_int_eq(read_record(buf, len + 1), AKM_BUF_TRAILING);

	/* The same record into every capacity below its length: refused. */
	for (size_t cap = 0; cap < len; cap++) {
		guarded g;
		guard_init(&g);
		akm_buf_writer_init(&w, g.buf, cap);
		akm_buf_put_u8(&w, 7);
		akm_buf_put_lv8(&w, "node-A", 6);
		akm_buf_put_u32(&w, 42);
		at = akm_buf_reserve(&w, 2);
		akm_buf_put_lv8(&w, "blob", 4);
		akm_buf_fill_len16(&w, at);
		akm_buf_put_u64(&w, 1);
		ck_assert_int_eq(akm_buf_writer_done(&w, NULL), AKM_BUF_FULL);
		guard_check(&g, cap);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, big_endian_vectors);
	tcase_add_test(tc, writer_overflow_refused);
	tcase_add_test(tc, writer_errors_are_sticky);
	tcase_add_test(tc, length_prefixes);
	tcase_add_test(tc, reserve_and_fill);
	tcase_add_test(tc, reader_underflow_refused);
	tcase_add_test(tc, reader_errors_are_sticky);
	tcase_add_test(tc, reader_length_prefixes);
	tcase_add_test(tc, sub_readers);
	tcase_add_test(tc, expect_and_peek);
	tcase_add_test(tc, end_and_trailing);
	tcase_add_test(tc, every_truncation_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

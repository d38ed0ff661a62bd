/*
 * One bounded big-endian reader and writer for every wire and file format
 * (OpenSSH's sshbuf is the model): a writer over a caller's buffer with a
 * capacity, a reader over a caller's bytes.  No format does its own length
 * arithmetic: every field goes through here, and nothing is ever read or
 * written past the end.
 *
 * Errors are sticky: the first one is kept, and every later call does
 * nothing (a get returns 0 and leaves its output zeroed), so a parser reads
 * its fields in file order and checks once at the end; the error it gets
 * is the first problem in file order.  A parser marks a field whose value
 * is wrong with akm_buf_invalid, which is sticky the same way.
 */
#ifndef AKM_LIB_BUF_H
#define AKM_LIB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum akm_buf_err {
	AKM_BUF_OK = 0,
	AKM_BUF_SHORT,    /* reader: fewer bytes left than the field needs */
	AKM_BUF_FULL,     /* writer: the field does not fit in the capacity */
	AKM_BUF_LENGTH,   /* a length prefix out of its range (read), or too big for its prefix (write) */
	AKM_BUF_TRAILING, /* reader: bytes left where the end was required */
	AKM_BUF_INVALID   /* the caller found a field's value wrong (akm_buf_invalid) */
} akm_buf_err;

/* A rule for a length prefix's value beyond its maximum (e.g. "a multiple
 * of 8"); true when the length is acceptable. */
typedef bool (*akm_buf_len_rule)(size_t len);

/* ---- writer ---- */

typedef struct akm_buf_writer {
	uint8_t *buf;
	size_t cap, len;
	akm_buf_err err;
} akm_buf_writer;

void akm_buf_writer_init(akm_buf_writer *w, void *buf, size_t cap);
void akm_buf_put_u8(akm_buf_writer *w, uint8_t v);
void akm_buf_put_u16(akm_buf_writer *w, uint16_t v);
void akm_buf_put_u32(akm_buf_writer *w, uint32_t v);
void akm_buf_put_u64(akm_buf_writer *w, uint64_t v);
void akm_buf_put_bytes(akm_buf_writer *w, const void *p, size_t n);
/* A u8 (u16) length, then the bytes; a length over 255 (65535) is
 * AKM_BUF_LENGTH and writes nothing. */
void akm_buf_put_lv8(akm_buf_writer *w, const void *p, size_t n);
void akm_buf_put_lv16(akm_buf_writer *w, const void *p, size_t n);
/* Reserves n zero bytes for a field written later; returns their offset. */
size_t akm_buf_reserve(akm_buf_writer *w, size_t n);
/* Fills the 2 bytes reserved at `at` with the number of bytes written
 * since (a u16 length of the field that follows it). */
void akm_buf_fill_len16(akm_buf_writer *w, size_t at);
/* Bytes written so far. */
size_t akm_buf_writer_len(const akm_buf_writer *w);
/* The writer's error; with AKM_BUF_OK, *len (if not NULL) gets the length. */
akm_buf_err akm_buf_writer_done(const akm_buf_writer *w, size_t *len);

/* ---- reader ---- */

typedef struct akm_buf_reader {
	const uint8_t *buf;
	size_t len, pos;
	akm_buf_err err;
} akm_buf_reader;

void akm_buf_reader_init(akm_buf_reader *r, const void *buf, size_t len);
uint8_t akm_buf_get_u8(akm_buf_reader *r);
uint16_t akm_buf_get_u16(akm_buf_reader *r);
uint32_t akm_buf_get_u32(akm_buf_reader *r);
uint64_t akm_buf_get_u64(akm_buf_reader *r);
/* Exactly n bytes into out (zeroed on error). */
void akm_buf_get_bytes(akm_buf_reader *r, void *out, size_t n);
/* A u8 (u16) length, then that many bytes into out, which has room for
 * max.  A length over max, or one `rule` refuses (NULL: any), is
 * AKM_BUF_LENGTH, reported before a short buffer: the length alone shows
 * the field is wrong.  Returns the length (0 on error). */
size_t akm_buf_get_lv8(akm_buf_reader *r, void *out, size_t max, akm_buf_len_rule rule);
size_t akm_buf_get_lv16(akm_buf_reader *r, void *out, size_t max, akm_buf_len_rule rule);
/* A reader over the next n bytes, which this one skips.  On error (or
 * after one) *sub is empty and carries the error. */
void akm_buf_get_sub(akm_buf_reader *r, akm_buf_reader *sub, size_t n);
/* Compares the next n bytes with `bytes`, for a file's magic: false when
 * the bytes that are there differ from its start (nothing consumed, no
 * error set: what a mismatch means is the caller's); true on a match,
 * which is consumed, or AKM_BUF_SHORT when the match is cut short. */
bool akm_buf_expect(akm_buf_reader *r, const void *bytes, size_t n);
/* Copies the next n bytes without consuming them: false (nothing copied,
 * no error) when fewer are left or an error is set. */
bool akm_buf_peek(const akm_buf_reader *r, void *out, size_t n);
size_t akm_buf_remaining(const akm_buf_reader *r);
/* Bytes consumed so far (e.g. the length of a signed part). */
size_t akm_buf_offset(const akm_buf_reader *r);
/* The end must be here: AKM_BUF_TRAILING when bytes are left. */
void akm_buf_end(akm_buf_reader *r);
/* Marks the field just read as wrong (AKM_BUF_INVALID, unless an error
 * came first). */
void akm_buf_invalid(akm_buf_reader *r);
akm_buf_err akm_buf_reader_error(const akm_buf_reader *r);

#endif

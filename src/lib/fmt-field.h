/*
 * The fields the formats share (docs/formats.md §5 "Rules shared by all
 * four formats"), read and written through buf.h.  For the fmt-*.c files
 * of this folder only: applications use the per-format headers.
 */
#ifndef AKM_LIB_FMT_FIELD_H
#define AKM_LIB_FMT_FIELD_H

#include <stdbool.h>

#include "lib/buf.h"
#include "lib/fmt.h"

/* Length rules (also checked by the encoders, so what they write parses). */
bool akm_fmt_id_ok(size_t len);      /* 1..AKM_FMT_ID_MAX */
bool akm_fmt_hw_ok(size_t len);      /* 1..AKM_FMT_HW_MAX */
bool akm_fmt_wrapped_ok(size_t len); /* an AES-KWP blob: 16..48, a multiple of 8 */
/* The length of a NUL-terminated node name inside its array, or 0 when it
 * has no terminator within AKM_FMT_NAME_MAX + 1 bytes or breaks the rules
 * (1-64 of [A-Za-z0-9._-]). */
size_t akm_fmt_name_len(const char name[AKM_FMT_NAME_MAX + 1]);

/* magic(4) version(u8).  The reader's answer is final: AKM_FMT_BAD_MAGIC
 * when the bytes there are not the magic (a short file is TRUNCATED only
 * while it could still be this kind of file), AKM_FMT_BAD_VERSION,
 * AKM_FMT_TRUNCATED, or AKM_FMT_OK to read on. */
akm_fmt_rc akm_fmt_get_header(akm_buf_reader *r, const char magic[4]);
void akm_fmt_put_header(akm_buf_writer *w, const char magic[4]);

/* u8 length || bytes, with the rules above; each returns the length. */
size_t akm_fmt_get_id(akm_buf_reader *r, uint8_t id[AKM_FMT_ID_MAX]);
size_t akm_fmt_get_hw(akm_buf_reader *r, uint8_t hw[AKM_FMT_HW_MAX]);
size_t akm_fmt_get_wrapped(akm_buf_reader *r, uint8_t blob[AKM_FMT_WRAPPED_MAX]);
/* A node name into a NUL-terminated array. */
void akm_fmt_get_name(akm_buf_reader *r, char name[AKM_FMT_NAME_MAX + 1]);
void akm_fmt_put_name(akm_buf_writer *w, const char name[AKM_FMT_NAME_MAX + 1]);
/* 65 bytes, the first 04. */
void akm_fmt_get_point(akm_buf_reader *r, uint8_t point[AKM_FMT_POINT_LEN]);
/* u8 64 || r||s */
void akm_fmt_get_sig(akm_buf_reader *r, uint8_t sig[AKM_FMT_SIG_LEN]);
void akm_fmt_put_sig(akm_buf_writer *w, const uint8_t sig[AKM_FMT_SIG_LEN]);

/* The result of a parse (once, at the end) or of an encoding: the buffer's
 * first error as a format result; *len gets the length written. */
akm_fmt_rc akm_fmt_reader_done(const akm_buf_reader *r);
akm_fmt_rc akm_fmt_writer_done(const akm_buf_writer *w, size_t *len);

#endif

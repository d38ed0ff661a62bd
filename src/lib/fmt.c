/* What the formats share (fmt.h, fmt-field.h): result sentences, field
 * rules and the common fields, all through buf.h. */
#include "lib/fmt-field.h"

#include <string.h>

#define FORMAT_VERSION 1
#define WRAPPED_MIN 16 /* AES-KWP output: at least 16 bytes, a multiple of 8 */

const char *akm_fmt_strerror(akm_fmt_rc rc)
{
	switch (rc) {
	case AKM_FMT_OK: return "the file is well-formed";
	case AKM_FMT_TRUNCATED: return "the file is truncated (shorter than its fields say)";
	case AKM_FMT_TRAILING: return "the file has extra bytes after its last field";
	case AKM_FMT_BAD_MAGIC: return "the file is not of the expected kind (wrong magic)";
	case AKM_FMT_BAD_VERSION: return "the file has a format version this program does not read";
	case AKM_FMT_BAD_FIELD: return "the file has a field with a length or value out of range";
	case AKM_FMT_TOO_BIG: return "the file or record is too big";
	}
	return "unknown format error";
}

/* ---- rules ---- */

bool akm_fmt_id_ok(size_t len) { return len >= 1 && len <= AKM_FMT_ID_MAX; }
bool akm_fmt_hw_ok(size_t len) { return len >= 1 && len <= AKM_FMT_HW_MAX; }
bool akm_fmt_wrapped_ok(size_t len)
{
	return len >= WRAPPED_MIN && len <= AKM_FMT_WRAPPED_MAX && len % 8 == 0;
}
static bool name_len_ok(size_t len) { return len >= 1 && len <= AKM_FMT_NAME_MAX; }
static bool sig_len_ok(size_t len) { return len == AKM_FMT_SIG_LEN; }

static bool name_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool name_chars_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(p[i]))
			return false;
	return true;
}

size_t akm_fmt_name_len(const char name[AKM_FMT_NAME_MAX + 1])
{
	size_t n = strnlen(name, AKM_FMT_NAME_MAX + 1);
	return name_len_ok(n) && name_chars_ok(name, n) ? n : 0;
}

bool akm_fmt_name_ok(const char *name)
{
	return akm_fmt_name_len(name) > 0;
}

/* ---- fields ---- */

akm_fmt_rc akm_fmt_get_header(akm_buf_reader *r, const char magic[4])
{
	if (!akm_buf_expect(r, magic, 4))
		return AKM_FMT_BAD_MAGIC;
	uint8_t version = akm_buf_get_u8(r);
	akm_fmt_rc rc = akm_fmt_reader_done(r);
	if (rc != AKM_FMT_OK)
		return rc;
	return version == FORMAT_VERSION ? AKM_FMT_OK : AKM_FMT_BAD_VERSION;
}

void akm_fmt_put_header(akm_buf_writer *w, const char magic[4])
{
	akm_buf_put_bytes(w, magic, 4);
	akm_buf_put_u8(w, FORMAT_VERSION);
}

size_t akm_fmt_get_id(akm_buf_reader *r, uint8_t id[AKM_FMT_ID_MAX])
{
	return akm_buf_get_lv8(r, id, AKM_FMT_ID_MAX, akm_fmt_id_ok);
}

size_t akm_fmt_get_hw(akm_buf_reader *r, uint8_t hw[AKM_FMT_HW_MAX])
{
	return akm_buf_get_lv8(r, hw, AKM_FMT_HW_MAX, akm_fmt_hw_ok);
}

size_t akm_fmt_get_wrapped(akm_buf_reader *r, uint8_t blob[AKM_FMT_WRAPPED_MAX])
{
	return akm_buf_get_lv8(r, blob, AKM_FMT_WRAPPED_MAX, akm_fmt_wrapped_ok);
}

void akm_fmt_get_name(akm_buf_reader *r, char name[AKM_FMT_NAME_MAX + 1])
{
	size_t n = akm_buf_get_lv8(r, name, AKM_FMT_NAME_MAX, name_len_ok);
	name[n] = '\0';
	if (!name_chars_ok(name, n))
		akm_buf_invalid(r);
}

void akm_fmt_put_name(akm_buf_writer *w, const char name[AKM_FMT_NAME_MAX + 1])
{
	akm_buf_put_lv8(w, name, akm_fmt_name_len(name));
}

void akm_fmt_get_point(akm_buf_reader *r, uint8_t point[AKM_FMT_POINT_LEN])
{
	akm_buf_get_bytes(r, point, AKM_FMT_POINT_LEN);
	if (point[0] != 0x04)
		akm_buf_invalid(r);
}

void akm_fmt_get_sig(akm_buf_reader *r, uint8_t sig[AKM_FMT_SIG_LEN])
{
	akm_buf_get_lv8(r, sig, AKM_FMT_SIG_LEN, sig_len_ok);
}

void akm_fmt_put_sig(akm_buf_writer *w, const uint8_t sig[AKM_FMT_SIG_LEN])
{
	akm_buf_put_lv8(w, sig, AKM_FMT_SIG_LEN);
}

/* ---- results ---- */

static akm_fmt_rc from_buf(akm_buf_err err)
{
	switch (err) {
	case AKM_BUF_OK: return AKM_FMT_OK;
	case AKM_BUF_SHORT: return AKM_FMT_TRUNCATED;
	case AKM_BUF_TRAILING: return AKM_FMT_TRAILING;
	case AKM_BUF_FULL: return AKM_FMT_TOO_BIG;
	case AKM_BUF_LENGTH:
	case AKM_BUF_INVALID: return AKM_FMT_BAD_FIELD;
	}
	return AKM_FMT_BAD_FIELD;
}

akm_fmt_rc akm_fmt_reader_done(const akm_buf_reader *r)
{
	return from_buf(akm_buf_reader_error(r));
}

akm_fmt_rc akm_fmt_writer_done(const akm_buf_writer *w, size_t *len)
{
	return from_buf(akm_buf_writer_done(w, len));
}

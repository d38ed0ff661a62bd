/* The bounded reader and writer (buf.h). */
#include "lib/buf.h"

#include <string.h>

/* ---- writer ---- */

void akm_buf_writer_init(akm_buf_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0;
	w->len = 0;
	w->err = AKM_BUF_OK;
}

static void writer_fail(akm_buf_writer *w, akm_buf_err err)
{
	if (w->err == AKM_BUF_OK)
		w->err = err;
}

/* Room for n more bytes: a pointer to them, or NULL (and the error). */
static uint8_t *writer_room(akm_buf_writer *w, size_t n)
{
	if (w->err != AKM_BUF_OK)
		return NULL;
	if (n > w->cap - w->len) {
		writer_fail(w, AKM_BUF_FULL);
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static void store_be(uint8_t *p, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static void put_be(akm_buf_writer *w, uint64_t v, size_t bytes)
{
	uint8_t *p = writer_room(w, bytes);
	if (p != NULL)
		store_be(p, v, bytes);
}

void akm_buf_put_u8(akm_buf_writer *w, uint8_t v) { put_be(w, v, 1); }
void akm_buf_put_u16(akm_buf_writer *w, uint16_t v) { put_be(w, v, 2); }
void akm_buf_put_u32(akm_buf_writer *w, uint32_t v) { put_be(w, v, 4); }
void akm_buf_put_u64(akm_buf_writer *w, uint64_t v) { put_be(w, v, 8); }

void akm_buf_put_bytes(akm_buf_writer *w, const void *p, size_t n)
{
	uint8_t *to = writer_room(w, n);
	if (to != NULL && n > 0)
		memcpy(to, p, n);
}

static void put_lv(akm_buf_writer *w, const void *p, size_t n, size_t prefix)
{
	if (w->err != AKM_BUF_OK)
		return;
	if (n > (prefix == 1 ? 0xFFu : 0xFFFFu)) {
		writer_fail(w, AKM_BUF_LENGTH);
		return;
	}
	/* Both parts or neither: a prefix without its bytes is never left. */
	if (prefix > w->cap - w->len || n > w->cap - w->len - prefix) {
		writer_fail(w, AKM_BUF_FULL);
		return;
	}
	put_be(w, n, prefix);
	akm_buf_put_bytes(w, p, n);
}

void akm_buf_put_lv8(akm_buf_writer *w, const void *p, size_t n) { put_lv(w, p, n, 1); }
void akm_buf_put_lv16(akm_buf_writer *w, const void *p, size_t n) { put_lv(w, p, n, 2); }

size_t akm_buf_reserve(akm_buf_writer *w, size_t n)
{
	size_t at = w->len;
	uint8_t *p = writer_room(w, n);
	if (p != NULL && n > 0)
		memset(p, 0, n);
	return at;
}

void akm_buf_fill_len16(akm_buf_writer *w, size_t at)
{
	if (w->err != AKM_BUF_OK)
		return;
	if (at > w->len || w->len - at < 2) {
		writer_fail(w, AKM_BUF_LENGTH); /* not a reservation of this writer */
		return;
	}
	size_t n = w->len - at - 2;
	if (n > 0xFFFFu) {
		writer_fail(w, AKM_BUF_LENGTH);
		return;
	}
	store_be(w->buf + at, n, 2);
}

size_t akm_buf_writer_len(const akm_buf_writer *w)
{
	return w->len;
}

akm_buf_err akm_buf_writer_done(const akm_buf_writer *w, size_t *len)
{
	if (w->err == AKM_BUF_OK && len != NULL)
		*len = w->len;
	return w->err;
}

/* ---- reader ---- */

void akm_buf_reader_init(akm_buf_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = buf != NULL ? len : 0;
	r->pos = 0;
	r->err = AKM_BUF_OK;
}

static void reader_fail(akm_buf_reader *r, akm_buf_err err)
{
	if (r->err == AKM_BUF_OK)
		r->err = err;
}

/* The next n bytes, consumed: a pointer to them, or NULL (and the error). */
static const uint8_t *reader_take(akm_buf_reader *r, size_t n)
{
	if (r->err != AKM_BUF_OK)
		return NULL;
	if (n > r->len - r->pos) {
		reader_fail(r, AKM_BUF_SHORT);
		return NULL;
	}
	const uint8_t *p = r->buf + r->pos;
	r->pos += n;
	return p;
}

static uint64_t get_be(akm_buf_reader *r, size_t bytes)
{
	const uint8_t *p = reader_take(r, bytes);
	uint64_t v = 0;
	if (p != NULL)
		for (size_t i = 0; i < bytes; i++)
			v = v << 8 | p[i];
	return v;
}

uint8_t akm_buf_get_u8(akm_buf_reader *r) { return (uint8_t)get_be(r, 1); }
uint16_t akm_buf_get_u16(akm_buf_reader *r) { return (uint16_t)get_be(r, 2); }
uint32_t akm_buf_get_u32(akm_buf_reader *r) { return (uint32_t)get_be(r, 4); }
uint64_t akm_buf_get_u64(akm_buf_reader *r) { return get_be(r, 8); }

void akm_buf_get_bytes(akm_buf_reader *r, void *out, size_t n)
{
	const uint8_t *p = reader_take(r, n);
	if (n == 0)
		return;
	if (p != NULL)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

static size_t get_lv(akm_buf_reader *r, void *out, size_t max, akm_buf_len_rule rule, size_t prefix)
{
	size_t n = (size_t)get_be(r, prefix);
	if (r->err != AKM_BUF_OK)
		return 0;
	if (n > max || (rule != NULL && !rule(n))) {
		reader_fail(r, AKM_BUF_LENGTH);
		return 0;
	}
	akm_buf_get_bytes(r, out, n);
	return r->err == AKM_BUF_OK ? n : 0;
}

size_t akm_buf_get_lv8(akm_buf_reader *r, void *out, size_t max, akm_buf_len_rule rule)
{
	return get_lv(r, out, max, rule, 1);
}

size_t akm_buf_get_lv16(akm_buf_reader *r, void *out, size_t max, akm_buf_len_rule rule)
{
	return get_lv(r, out, max, rule, 2);
}

void akm_buf_get_sub(akm_buf_reader *r, akm_buf_reader *sub, size_t n)
{
	const uint8_t *p = reader_take(r, n);
	akm_buf_reader_init(sub, p, p != NULL ? n : 0);
	sub->err = r->err;
}

bool akm_buf_expect(akm_buf_reader *r, const void *bytes, size_t n)
{
	if (r->err != AKM_BUF_OK)
		return true; /* nothing to compare: the earlier error stands */
	size_t there = akm_buf_remaining(r);
	size_t cmp = there < n ? there : n;
	if (cmp > 0 && memcmp(r->buf + r->pos, bytes, cmp) != 0)
		return false;
	reader_take(r, n); /* AKM_BUF_SHORT when cut short */
	return true;
}

bool akm_buf_peek(const akm_buf_reader *r, void *out, size_t n)
{
	if (r->err != AKM_BUF_OK || n > akm_buf_remaining(r))
		return false;
	if (n > 0)
		memcpy(out, r->buf + r->pos, n);
	return true;
}

size_t akm_buf_remaining(const akm_buf_reader *r)
{
	return r->len - r->pos;
}

size_t akm_buf_offset(const akm_buf_reader *r)
{
	return r->pos;
}

void akm_buf_end(akm_buf_reader *r)
{
	if (r->err == AKM_BUF_OK && akm_buf_remaining(r) > 0)
		reader_fail(r, AKM_BUF_TRAILING);
}

void akm_buf_invalid(akm_buf_reader *r)
{
	reader_fail(r, AKM_BUF_INVALID);
}

akm_buf_err akm_buf_reader_error(const akm_buf_reader *r)
{
	return r->err;
}

/*
 * The station's and the node's file formats (formats.h, docs/formats.md):
 * encoders and strict parsers.  Every parser reads its fields in file order
 * and reports the first problem it meets, so any prefix of a valid file is
 * AKM_FMT_TRUNCATED and a valid file with one more byte is AKM_FMT_TRAILING.
 * Every encoder checks the same rules as its parser: what it writes parses.
 */
#include "formats.h"

#include <string.h>

#define BUNDLE_MAGIC "AKMB"
#define REQUEST_MAGIC "AKMR"
#define ANCHOR_MAGIC "AKMP"
#define STATE_MAGIC "AKMN"
#define FORMAT_VERSION 1

#define WRAPPED_MIN 16          /* AES-KWP output: at least 16 bytes, multiple of 8 */
#define INNER_MIN (2 + 2 * WRAPPED_MIN)
#define INNER_MAX (2 + 2 * AKM_FMT_WRAPPED_MAX)
#define SEALED_MIN (INNER_MIN + AKM_FMT_TAG_LEN)
#define SEALED_MAX (INNER_MAX + AKM_FMT_TAG_LEN)
#define REQUEST_NONCE_LEN 16
#define HASH_LEN 32

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

/* ---- field rules (shared by encoders and parsers) ---- */

static int id_ok(size_t len) { return len >= 1 && len <= AKM_FMT_ID_MAX; }
static int hw_ok(size_t len) { return len >= 1 && len <= AKM_FMT_HW_MAX; }
static int wrapped_ok(size_t len)
{
	return len >= WRAPPED_MIN && len <= AKM_FMT_WRAPPED_MAX && len % 8 == 0;
}
static int sealed_ok(size_t len)
{
	return len >= SEALED_MIN && len <= SEALED_MAX && (len - 2 - AKM_FMT_TAG_LEN) % 8 == 0;
}
static int name_char_ok(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}
static int name_bytes_ok(const uint8_t *p, size_t len)
{
	if (len < 1 || len > AKM_FMT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(p[i]))
			return 0;
	return 1;
}
/* The length of a NUL-terminated name inside its array, or 0 when it has
 * no terminator within AKM_FMT_NAME_MAX + 1 bytes or breaks the rules. */
static size_t name_len(const char name[AKM_FMT_NAME_MAX + 1])
{
	size_t n = strnlen(name, AKM_FMT_NAME_MAX + 1);
	if (n > AKM_FMT_NAME_MAX || !name_bytes_ok((const uint8_t *)name, n))
		return 0;
	return n;
}

/* ---- writer ---- */

typedef struct wr {
	uint8_t *buf;
	size_t cap, pos;
	int over;
} wr;

static void put(wr *w, const void *p, size_t n)
{
	if (w->over || n > w->cap - w->pos) {
		w->over = 1;
		return;
	}
	if (n)
		memcpy(w->buf + w->pos, p, n);
	w->pos += n;
}
static void put_u8(wr *w, uint8_t v) { put(w, &v, 1); }
static void put_be(wr *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(w, b, (size_t)bytes);
}
static void put_lv(wr *w, const void *p, size_t n) /* n <= 255, checked by the caller */
{
	put_u8(w, (uint8_t)n);
	put(w, p, n);
}
static akm_fmt_rc wr_done(const wr *w, size_t *len)
{
	if (w->over)
		return AKM_FMT_TOO_BIG;
	*len = w->pos;
	return AKM_FMT_OK;
}

/* ---- reader ---- */

typedef struct rd {
	const uint8_t *buf;
	size_t len, pos;
} rd;

static size_t left(const rd *r) { return r->len - r->pos; }
static akm_fmt_rc get(rd *r, void *out, size_t n)
{
	if (n > left(r))
		return AKM_FMT_TRUNCATED;
	if (n)
		memcpy(out, r->buf + r->pos, n);
	r->pos += n;
	return AKM_FMT_OK;
}
static akm_fmt_rc get_u8(rd *r, uint8_t *v) { return get(r, v, 1); }
static akm_fmt_rc get_be(rd *r, uint64_t *v, int bytes)
{
	uint8_t b[8];
	akm_fmt_rc rc = get(r, b, (size_t)bytes);
	if (rc)
		return rc;
	*v = 0;
	for (int i = 0; i < bytes; i++)
		*v = (*v << 8) | b[i];
	return AKM_FMT_OK;
}

/* magic(4) version(u8); a short file is TRUNCATED only while it could
 * still be this kind of file. */
static akm_fmt_rc get_header(rd *r, const char magic[4])
{
	size_t n = left(r) < 4 ? left(r) : 4;
	if (memcmp(r->buf + r->pos, magic, n) != 0)
		return AKM_FMT_BAD_MAGIC;
	if (n < 4)
		return AKM_FMT_TRUNCATED;
	r->pos += 4;
	uint8_t version;
	akm_fmt_rc rc = get_u8(r, &version);
	if (rc)
		return rc;
	return version == FORMAT_VERSION ? AKM_FMT_OK : AKM_FMT_BAD_VERSION;
}

/* u8 length (checked by ok()) then the bytes. */
static akm_fmt_rc get_lv(rd *r, uint8_t *out, size_t *out_len, int (*ok)(size_t))
{
	uint8_t n;
	akm_fmt_rc rc = get_u8(r, &n);
	if (rc)
		return rc;
	if (!ok(n))
		return AKM_FMT_BAD_FIELD;
	rc = get(r, out, n);
	if (rc)
		return rc;
	*out_len = n;
	return AKM_FMT_OK;
}
static akm_fmt_rc get_name(rd *r, char name[AKM_FMT_NAME_MAX + 1])
{
	uint8_t n;
	akm_fmt_rc rc = get_u8(r, &n);
	if (rc)
		return rc;
	if (n < 1 || n > AKM_FMT_NAME_MAX)
		return AKM_FMT_BAD_FIELD;
	if (n > left(r))
		return AKM_FMT_TRUNCATED;
	if (!name_bytes_ok(r->buf + r->pos, n))
		return AKM_FMT_BAD_FIELD;
	memcpy(name, r->buf + r->pos, n);
	name[n] = '\0';
	r->pos += n;
	return AKM_FMT_OK;
}
static akm_fmt_rc get_point(rd *r, uint8_t point[AKM_FMT_POINT_LEN])
{
	akm_fmt_rc rc = get(r, point, AKM_FMT_POINT_LEN);
	if (rc)
		return rc;
	return point[0] == 0x04 ? AKM_FMT_OK : AKM_FMT_BAD_FIELD;
}
static akm_fmt_rc get_sig(rd *r, uint8_t sig[AKM_FMT_SIG_LEN])
{
	uint8_t n;
	akm_fmt_rc rc = get_u8(r, &n);
	if (rc)
		return rc;
	if (n != AKM_FMT_SIG_LEN)
		return AKM_FMT_BAD_FIELD;
	return get(r, sig, AKM_FMT_SIG_LEN);
}
static akm_fmt_rc rd_end(const rd *r) { return left(r) ? AKM_FMT_TRAILING : AKM_FMT_OK; }

#define TRY(expr) do { akm_fmt_rc try_rc_ = (expr); if (try_rc_) return try_rc_; } while (0)

/* ---- USB bundle ("AKMB") ---- */

static size_t bundle_inner_len(const akm_bundle *b)
{
	return 2 + b->enc_wrapped_len + b->mac_wrapped_len;
}

static akm_fmt_rc bundle_check(const akm_bundle *b)
{
	if (b->protection != AKM_BUNDLE_NODE_KEY && b->protection != AKM_BUNDLE_PASSPHRASE)
		return AKM_FMT_BAD_FIELD;
	if (!id_ok(b->station_id_len) || !id_ok(b->node_id_len) || !id_ok(b->pr_id_len) ||
	    !hw_ok(b->hw_len) || !name_len(b->name) || b->seq < 1)
		return AKM_FMT_BAD_FIELD;
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		if (b->eph_point[0] != 0x04 || !wrapped_ok(b->enc_wrapped_len) ||
		    !wrapped_ok(b->mac_wrapped_len))
			return AKM_FMT_BAD_FIELD;
	} else {
		if (b->opslimit < 1 || b->memlimit_kib < 8 || !sealed_ok(b->sealed_len))
			return AKM_FMT_BAD_FIELD;
	}
	return AKM_FMT_OK;
}

size_t akm_bundle_ad_len(const akm_bundle *b)
{
	if (bundle_check(b) != AKM_FMT_OK)
		return 0;
	size_t n = 4 + 1 + 1 + 2;
	n += 1 + b->station_id_len + 1 + b->node_id_len + 1 + b->pr_id_len + 1 + b->hw_len;
	n += 1 + name_len(b->name) + 8 + 8;
	if (b->protection == AKM_BUNDLE_NODE_KEY)
		n += sizeof b->node_key_hash + AKM_FMT_POINT_LEN;
	else
		n += 4 + 4 + AKM_FMT_SALT_LEN + AKM_FMT_NONCE_LEN;
	return n;
}

static void bundle_put_inner(wr *w, const akm_bundle *b)
{
	put_lv(w, b->enc_wrapped, b->enc_wrapped_len);
	put_lv(w, b->mac_wrapped, b->mac_wrapped_len);
}

static akm_fmt_rc bundle_write(const akm_bundle *b, wr *w)
{
	TRY(bundle_check(b));
	put(w, BUNDLE_MAGIC, 4);
	put_u8(w, FORMAT_VERSION);
	put_u8(w, b->protection);
	put_be(w, 0, 2);
	put_lv(w, b->station_id, b->station_id_len);
	put_lv(w, b->node_id, b->node_id_len);
	put_lv(w, b->pr_id, b->pr_id_len);
	put_lv(w, b->hw, b->hw_len);
	put_lv(w, b->name, name_len(b->name));
	put_be(w, b->seq, 8);
	put_be(w, b->created, 8);
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		put(w, b->node_key_hash, sizeof b->node_key_hash);
		put(w, b->eph_point, AKM_FMT_POINT_LEN);
		put_be(w, bundle_inner_len(b), 2);
		bundle_put_inner(w, b);
	} else {
		put_be(w, b->opslimit, 4);
		put_be(w, b->memlimit_kib, 4);
		put(w, b->salt, AKM_FMT_SALT_LEN);
		put(w, b->nonce, AKM_FMT_NONCE_LEN);
		put_be(w, b->sealed_len, 2);
		put(w, b->sealed, b->sealed_len);
	}
	return AKM_FMT_OK;
}

akm_fmt_rc akm_bundle_encode_signed(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	wr w = { buf, cap, 0, 0 };
	TRY(bundle_write(b, &w));
	return wr_done(&w, len);
}

akm_fmt_rc akm_bundle_finish(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	/* The whole bundle is written again: buf need not hold the signed part. */
	wr w = { buf, cap, 0, 0 };
	TRY(bundle_write(b, &w));
	put_lv(&w, b->sig, AKM_FMT_SIG_LEN);
	return wr_done(&w, len);
}

/* u8 len || enc || u8 len || mac, exactly filling r. */
static akm_fmt_rc bundle_get_inner(rd *r, akm_bundle *b)
{
	TRY(get_lv(r, b->enc_wrapped, &b->enc_wrapped_len, wrapped_ok));
	TRY(get_lv(r, b->mac_wrapped, &b->mac_wrapped_len, wrapped_ok));
	return rd_end(r);
}

akm_fmt_rc akm_bundle_parse(const uint8_t *buf, size_t len, akm_bundle *out, size_t *signed_len)
{
	akm_bundle b;
	memset(&b, 0, sizeof b);
	if (len > AKM_FMT_BUNDLE_MAX)
		return AKM_FMT_TOO_BIG;
	rd r = { buf, len, 0 };
	TRY(get_header(&r, BUNDLE_MAGIC));
	uint64_t v;
	TRY(get_u8(&r, &b.protection));
	if (b.protection != AKM_BUNDLE_NODE_KEY && b.protection != AKM_BUNDLE_PASSPHRASE)
		return AKM_FMT_BAD_FIELD;
	TRY(get_be(&r, &v, 2));
	if (v != 0)
		return AKM_FMT_BAD_FIELD;
	TRY(get_lv(&r, b.station_id, &b.station_id_len, id_ok));
	TRY(get_lv(&r, b.node_id, &b.node_id_len, id_ok));
	TRY(get_lv(&r, b.pr_id, &b.pr_id_len, id_ok));
	TRY(get_lv(&r, b.hw, &b.hw_len, hw_ok));
	TRY(get_name(&r, b.name));
	TRY(get_be(&r, &b.seq, 8));
	if (b.seq < 1)
		return AKM_FMT_BAD_FIELD;
	TRY(get_be(&r, &b.created, 8));
	if (b.protection == AKM_BUNDLE_NODE_KEY) {
		TRY(get(&r, b.node_key_hash, sizeof b.node_key_hash));
		TRY(get_point(&r, b.eph_point));
	} else {
		TRY(get_be(&r, &v, 4));
		b.opslimit = (uint32_t)v;
		if (b.opslimit < 1)
			return AKM_FMT_BAD_FIELD;
		TRY(get_be(&r, &v, 4));
		b.memlimit_kib = (uint32_t)v;
		if (b.memlimit_kib < 8)
			return AKM_FMT_BAD_FIELD;
		TRY(get(&r, b.salt, AKM_FMT_SALT_LEN));
		TRY(get(&r, b.nonce, AKM_FMT_NONCE_LEN));
	}
	TRY(get_be(&r, &v, 2));
	if (b.protection == AKM_BUNDLE_NODE_KEY) {
		if (v < INNER_MIN || v > INNER_MAX)
			return AKM_FMT_BAD_FIELD;
		if (v > left(&r))
			return AKM_FMT_TRUNCATED;
		rd inner = { r.buf + r.pos, (size_t)v, 0 };
		akm_fmt_rc rc = bundle_get_inner(&inner, &b);
		if (rc)     /* the payload's length and its contents disagree */
			return AKM_FMT_BAD_FIELD;
		r.pos += (size_t)v;
	} else {
		if (!sealed_ok((size_t)v))
			return AKM_FMT_BAD_FIELD;
		b.sealed_len = (size_t)v;
		TRY(get(&r, b.sealed, b.sealed_len));
	}
	size_t sl = r.pos;
	TRY(get_sig(&r, b.sig));
	TRY(rd_end(&r));
	*out = b;
	if (signed_len)
		*signed_len = sl;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_bundle_inner_encode(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	if (!wrapped_ok(b->enc_wrapped_len) || !wrapped_ok(b->mac_wrapped_len))
		return AKM_FMT_BAD_FIELD;
	wr w = { buf, cap, 0, 0 };
	bundle_put_inner(&w, b);
	return wr_done(&w, len);
}

akm_fmt_rc akm_bundle_inner_parse(const uint8_t *buf, size_t len, akm_bundle *b)
{
	uint8_t enc[AKM_FMT_WRAPPED_MAX], mac[AKM_FMT_WRAPPED_MAX];
	size_t enc_len, mac_len;
	rd r = { buf, len, 0 };
	TRY(get_lv(&r, enc, &enc_len, wrapped_ok));
	TRY(get_lv(&r, mac, &mac_len, wrapped_ok));
	TRY(rd_end(&r));
	memcpy(b->enc_wrapped, enc, enc_len);
	b->enc_wrapped_len = enc_len;
	memcpy(b->mac_wrapped, mac, mac_len);
	b->mac_wrapped_len = mac_len;
	return AKM_FMT_OK;
}

/* ---- Enrollment request ("AKMR") ---- */

static akm_fmt_rc request_write(const akm_request *q, wr *w)
{
	if (!name_len(q->name) || !hw_ok(q->hw_len) || q->node_point[0] != 0x04)
		return AKM_FMT_BAD_FIELD;
	put(w, REQUEST_MAGIC, 4);
	put_u8(w, FORMAT_VERSION);
	put_lv(w, q->name, name_len(q->name));
	put_lv(w, q->hw, q->hw_len);
	put(w, q->node_point, AKM_FMT_POINT_LEN);
	put(w, q->nonce, REQUEST_NONCE_LEN);
	put_be(w, q->created, 8);
	return AKM_FMT_OK;
}

akm_fmt_rc akm_request_encode_signed(const akm_request *q, uint8_t *buf, size_t cap, size_t *len)
{
	wr w = { buf, cap, 0, 0 };
	TRY(request_write(q, &w));
	return wr_done(&w, len);
}

akm_fmt_rc akm_request_finish(const akm_request *q, uint8_t *buf, size_t cap, size_t *len)
{
	wr w = { buf, cap, 0, 0 };
	TRY(request_write(q, &w));
	put_lv(&w, q->sig, AKM_FMT_SIG_LEN);
	return wr_done(&w, len);
}

akm_fmt_rc akm_request_parse(const uint8_t *buf, size_t len, akm_request *out, size_t *signed_len)
{
	akm_request q;
	memset(&q, 0, sizeof q);
	rd r = { buf, len, 0 };
	TRY(get_header(&r, REQUEST_MAGIC));
	TRY(get_name(&r, q.name));
	TRY(get_lv(&r, q.hw, &q.hw_len, hw_ok));
	TRY(get_point(&r, q.node_point));
	TRY(get(&r, q.nonce, REQUEST_NONCE_LEN));
	TRY(get_be(&r, &q.created, 8));
	size_t sl = r.pos;
	TRY(get_sig(&r, q.sig));
	TRY(rd_end(&r));
	*out = q;
	if (signed_len)
		*signed_len = sl;
	return AKM_FMT_OK;
}

/* ---- Station trust anchor ("AKMP") ---- */

akm_fmt_rc akm_anchor_encode(const akm_anchor *a, uint8_t *buf, size_t cap, size_t *len)
{
	if (!id_ok(a->station_id_len) || a->point[0] != 0x04)
		return AKM_FMT_BAD_FIELD;
	wr w = { buf, cap, 0, 0 };
	put(&w, ANCHOR_MAGIC, 4);
	put_u8(&w, FORMAT_VERSION);
	put_lv(&w, a->station_id, a->station_id_len);
	put(&w, a->point, AKM_FMT_POINT_LEN);
	return wr_done(&w, len);
}

akm_fmt_rc akm_anchor_parse(const uint8_t *buf, size_t len, akm_anchor *out)
{
	akm_anchor a;
	memset(&a, 0, sizeof a);
	rd r = { buf, len, 0 };
	TRY(get_header(&r, ANCHOR_MAGIC));
	TRY(get_lv(&r, a.station_id, &a.station_id_len, id_ok));
	TRY(get_point(&r, a.point));
	TRY(rd_end(&r));
	*out = a;
	return AKM_FMT_OK;
}

/* ---- Node state ("AKMN") ---- */

akm_fmt_rc akm_node_state_encode(const akm_node_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	if (!id_ok(s->station_id_len) || !id_ok(s->node_id_len) || !id_ok(s->pr_id_len) ||
	    !hw_ok(s->hw_len) || !name_len(s->name) || s->seq < 1)
		return AKM_FMT_BAD_FIELD;
	wr w = { buf, cap, 0, 0 };
	put(&w, STATE_MAGIC, 4);
	put_u8(&w, FORMAT_VERSION);
	put_lv(&w, s->station_id, s->station_id_len);
	put_lv(&w, s->node_id, s->node_id_len);
	put_lv(&w, s->pr_id, s->pr_id_len);
	put_lv(&w, s->hw, s->hw_len);
	put_lv(&w, s->name, name_len(s->name));
	put_be(&w, s->seq, 8);
	put_be(&w, s->imported, 8);
	put(&w, s->bundle_hash, HASH_LEN);
	return wr_done(&w, len);
}

akm_fmt_rc akm_node_state_parse(const uint8_t *buf, size_t len, akm_node_state *out)
{
	akm_node_state s;
	memset(&s, 0, sizeof s);
	rd r = { buf, len, 0 };
	TRY(get_header(&r, STATE_MAGIC));
	TRY(get_lv(&r, s.station_id, &s.station_id_len, id_ok));
	TRY(get_lv(&r, s.node_id, &s.node_id_len, id_ok));
	TRY(get_lv(&r, s.pr_id, &s.pr_id_len, id_ok));
	TRY(get_lv(&r, s.hw, &s.hw_len, hw_ok));
	TRY(get_name(&r, s.name));
	TRY(get_be(&r, &s.seq, 8));
	if (s.seq < 1)
		return AKM_FMT_BAD_FIELD;
	TRY(get_be(&r, &s.imported, 8));
	TRY(get(&r, s.bundle_hash, HASH_LEN));
	TRY(rd_end(&r));
	*out = s;
	return AKM_FMT_OK;
}

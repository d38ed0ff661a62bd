/* The USB bundle (fmt-bundle.h, docs/formats.md §5.1). */
#include "lib/fmt-bundle.h"

#include <string.h>

#include "lib/fmt-field.h"

#define BUNDLE_MAGIC "AKMB"
#define INNER_MIN (2 + 2 * 16)                     /* two shortest AES-KWP blobs */
#define INNER_MAX (2 + 2 * AKM_FMT_WRAPPED_MAX)

/* The sealed payload: the inner plaintext and the AEAD tag. */
static bool sealed_ok(size_t len)
{
	return len >= INNER_MIN + AKM_FMT_TAG_LEN && len <= INNER_MAX + AKM_FMT_TAG_LEN &&
	       (len - 2 - AKM_FMT_TAG_LEN) % 8 == 0;
}

static bool protection_ok(uint8_t p)
{
	return p == AKM_BUNDLE_NODE_KEY || p == AKM_BUNDLE_PASSPHRASE;
}

/* The encoder's side of the parser's rules: what it writes parses. */
static akm_fmt_rc bundle_check(const akm_bundle *b)
{
	if (!protection_ok(b->protection))
		return AKM_FMT_BAD_FIELD;
	if (!akm_fmt_id_ok(b->station_id_len) || !akm_fmt_id_ok(b->node_id_len) ||
	    !akm_fmt_id_ok(b->pr_id_len) || !akm_fmt_hw_ok(b->hw_len) || !akm_fmt_name_len(b->name) ||
	    b->seq < 1)
		return AKM_FMT_BAD_FIELD;
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		if (b->eph_point[0] != 0x04 || !akm_fmt_wrapped_ok(b->enc_wrapped_len) ||
		    !akm_fmt_wrapped_ok(b->mac_wrapped_len))
			return AKM_FMT_BAD_FIELD;
	} else {
		if (b->opslimit < 1 || b->memlimit_kib < 8 || !sealed_ok(b->sealed_len))
			return AKM_FMT_BAD_FIELD;
	}
	return AKM_FMT_OK;
}

static void put_inner(akm_buf_writer *w, const akm_bundle *b)
{
	akm_buf_put_lv8(w, b->enc_wrapped, b->enc_wrapped_len);
	akm_buf_put_lv8(w, b->mac_wrapped, b->mac_wrapped_len);
}

/* The signed part; *ad_len (if not NULL) gets where the payload's length
 * field starts: the end of the passphrase payload's authenticated data. */
static akm_fmt_rc bundle_write(const akm_bundle *b, akm_buf_writer *w, size_t *ad_len)
{
	akm_fmt_rc rc = bundle_check(b);
	if (rc != AKM_FMT_OK)
		return rc;
	akm_fmt_put_header(w, BUNDLE_MAGIC);
	akm_buf_put_u8(w, b->protection);
	akm_buf_put_u16(w, 0); /* reserved */
	akm_buf_put_lv8(w, b->station_id, b->station_id_len);
	akm_buf_put_lv8(w, b->node_id, b->node_id_len);
	akm_buf_put_lv8(w, b->pr_id, b->pr_id_len);
	akm_buf_put_lv8(w, b->hw, b->hw_len);
	akm_fmt_put_name(w, b->name);
	akm_buf_put_u64(w, b->seq);
	akm_buf_put_u64(w, b->created);
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		akm_buf_put_bytes(w, b->node_key_hash, sizeof b->node_key_hash);
		akm_buf_put_bytes(w, b->eph_point, AKM_FMT_POINT_LEN);
	} else {
		akm_buf_put_u32(w, b->opslimit);
		akm_buf_put_u32(w, b->memlimit_kib);
		akm_buf_put_bytes(w, b->salt, AKM_FMT_SALT_LEN);
		akm_buf_put_bytes(w, b->nonce, AKM_FMT_NONCE_LEN);
	}
	if (ad_len != NULL)
		*ad_len = akm_buf_writer_len(w);
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		size_t at = akm_buf_reserve(w, 2);
		put_inner(w, b);
		akm_buf_fill_len16(w, at);
	} else {
		akm_buf_put_lv16(w, b->sealed, b->sealed_len);
	}
	return AKM_FMT_OK;
}

akm_fmt_rc akm_bundle_encode_signed(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_rc rc = bundle_write(b, &w, NULL);
	return rc != AKM_FMT_OK ? rc : akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_bundle_finish(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	/* The whole bundle is written again: buf need not hold the signed part. */
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_rc rc = bundle_write(b, &w, NULL);
	if (rc != AKM_FMT_OK)
		return rc;
	akm_fmt_put_sig(&w, b->sig);
	return akm_fmt_writer_done(&w, len);
}

size_t akm_bundle_ad_len(const akm_bundle *b)
{
	uint8_t scratch[AKM_FMT_BUNDLE_MAX];
	akm_buf_writer w;
	akm_buf_writer_init(&w, scratch, sizeof scratch);
	size_t ad_len = 0;
	if (bundle_write(b, &w, &ad_len) != AKM_FMT_OK || akm_fmt_writer_done(&w, NULL) != AKM_FMT_OK)
		return 0;
	return ad_len;
}

/* u8 len || enc || u8 len || mac, exactly filling r. */
static void get_inner(akm_buf_reader *r, akm_bundle *b)
{
	b->enc_wrapped_len = akm_fmt_get_wrapped(r, b->enc_wrapped);
	b->mac_wrapped_len = akm_fmt_get_wrapped(r, b->mac_wrapped);
	akm_buf_end(r);
}

akm_fmt_rc akm_bundle_parse(const uint8_t *buf, size_t len, akm_bundle *out, size_t *signed_len)
{
	if (len > AKM_FMT_BUNDLE_MAX)
		return AKM_FMT_TOO_BIG;
	akm_bundle b;
	memset(&b, 0, sizeof b);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = akm_fmt_get_header(&r, BUNDLE_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	b.protection = akm_buf_get_u8(&r);
	if (!protection_ok(b.protection))
		akm_buf_invalid(&r);
	if (akm_buf_get_u16(&r) != 0) /* reserved */
		akm_buf_invalid(&r);
	b.station_id_len = akm_fmt_get_id(&r, b.station_id);
	b.node_id_len = akm_fmt_get_id(&r, b.node_id);
	b.pr_id_len = akm_fmt_get_id(&r, b.pr_id);
	b.hw_len = akm_fmt_get_hw(&r, b.hw);
	akm_fmt_get_name(&r, b.name);
	b.seq = akm_buf_get_u64(&r);
	if (b.seq < 1)
		akm_buf_invalid(&r);
	b.created = akm_buf_get_u64(&r);
	if (b.protection == AKM_BUNDLE_NODE_KEY) {
		akm_buf_get_bytes(&r, b.node_key_hash, sizeof b.node_key_hash);
		akm_fmt_get_point(&r, b.eph_point);
		size_t n = akm_buf_get_u16(&r);
		if (n < INNER_MIN || n > INNER_MAX)
			akm_buf_invalid(&r);
		akm_buf_reader inner;
		akm_buf_get_sub(&r, &inner, n);
		get_inner(&inner, &b);
		if (akm_buf_reader_error(&inner) != AKM_BUF_OK)
			akm_buf_invalid(&r); /* the payload's length and its contents disagree */
	} else {
		b.opslimit = akm_buf_get_u32(&r);
		if (b.opslimit < 1)
			akm_buf_invalid(&r);
		b.memlimit_kib = akm_buf_get_u32(&r);
		if (b.memlimit_kib < 8)
			akm_buf_invalid(&r);
		akm_buf_get_bytes(&r, b.salt, AKM_FMT_SALT_LEN);
		akm_buf_get_bytes(&r, b.nonce, AKM_FMT_NONCE_LEN);
		b.sealed_len = akm_buf_get_lv16(&r, b.sealed, sizeof b.sealed, sealed_ok);
	}
	size_t sl = akm_buf_offset(&r);
	akm_fmt_get_sig(&r, b.sig);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	*out = b;
	if (signed_len)
		*signed_len = sl;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_bundle_inner_encode(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len)
{
	if (!akm_fmt_wrapped_ok(b->enc_wrapped_len) || !akm_fmt_wrapped_ok(b->mac_wrapped_len))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	put_inner(&w, b);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_bundle_inner_parse(const uint8_t *buf, size_t len, akm_bundle *b)
{
	akm_bundle in;
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	get_inner(&r, &in);
	akm_fmt_rc rc = akm_fmt_reader_done(&r);
	if (rc != AKM_FMT_OK)
		return rc;
	memcpy(b->enc_wrapped, in.enc_wrapped, in.enc_wrapped_len);
	b->enc_wrapped_len = in.enc_wrapped_len;
	memcpy(b->mac_wrapped, in.mac_wrapped, in.mac_wrapped_len);
	b->mac_wrapped_len = in.mac_wrapped_len;
	return AKM_FMT_OK;
}

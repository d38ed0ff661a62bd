/* The activation protocol's messages and key schedule (proto.h,
 * docs/protocol.md). */
#include "lib/proto.h"

#include <string.h>

#include <sodium.h>

#include "lib/fmt-field.h"
#include "lib/keyed.h"

#define LABEL_PREFIX "AKM-ACT-1 "
#define COOKIE_AD "AKM-ACT-1 cookie"
#define PSK_LABEL "AKM-ACT-1 psk"
#define COOKIE_PLAIN_LEN (8 + 32 + 32)
#define ID_PLAIN_MAX (4 + AKM_FMT_ID_MAX + AKM_FMT_ID_MAX + AKM_FMT_HW_MAX + 32)

static const uint8_t magic[2] = { 0x41, 0x4B };

/* ---- frames ---- */

static bool body_len_ok(uint8_t type, size_t n)
{
	switch (type) {
	case AKM_PROTO_HELLO: return n == AKM_PROTO_HELLO_LEN;
	case AKM_PROTO_CHALLENGE: return n == AKM_PROTO_CHALLENGE_BODY_LEN;
	case AKM_PROTO_PROOF: return n >= AKM_PROTO_PROOF_MIN && n <= AKM_PROTO_PROOF_MAX;
	case AKM_PROTO_RESULT: return n >= AKM_PROTO_RESULT_MIN && n <= AKM_PROTO_RESULT_MAX;
	case AKM_PROTO_RECORD: return n >= AKM_PROTO_RECORD_MIN && n <= AKM_PROTO_BODY_MAX;
	case AKM_PROTO_ERROR: return n == 1;
	default: return false;
	}
}

akm_fmt_rc akm_proto_header(const uint8_t hdr[AKM_PROTO_HDR_LEN], uint8_t *type, size_t *body_len)
{
	if (hdr[0] != magic[0] || hdr[1] != magic[1])
		return AKM_FMT_BAD_MAGIC;
	if (hdr[2] != AKM_PROTO_VERSION)
		return AKM_FMT_BAD_VERSION;
	size_t n = (size_t)hdr[4] << 8 | hdr[5];
	if (n > AKM_PROTO_BODY_MAX)
		return AKM_FMT_TOO_BIG;
	if (!body_len_ok(hdr[3], n))
		return AKM_FMT_BAD_FIELD;
	*type = hdr[3];
	*body_len = n;
	return AKM_FMT_OK;
}

static void put_header(akm_buf_writer *w, uint8_t type, size_t body_len)
{
	akm_buf_put_bytes(w, magic, 2);
	akm_buf_put_u8(w, AKM_PROTO_VERSION);
	akm_buf_put_u8(w, type);
	akm_buf_put_u16(w, (uint16_t)body_len);
}

akm_fmt_rc akm_proto_frame(uint8_t type, const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                           size_t *len)
{
	if (!body_len_ok(type, body_len))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	put_header(&w, type, body_len);
	akm_buf_put_bytes(&w, body, body_len);
	return akm_fmt_writer_done(&w, len);
}

/* ---- secrets ---- */

akm_proto_hs *akm_proto_hs_new(void)
{
	akm_proto_hs *hs = akm_locked_alloc(sizeof *hs);
	if (hs != NULL)
		memset(hs, 0, sizeof *hs);
	return hs;
}

void akm_proto_hs_free(akm_proto_hs *hs)
{
	akm_locked_free(hs);
}

void akm_proto_expand(const uint8_t prk[32], const char *label, const uint8_t *ctx, size_t ctx_len,
                      uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;
	static const uint8_t zero = 0, one = 1;
	crypto_auth_hmacsha256_init(&st, prk, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)LABEL_PREFIX, sizeof LABEL_PREFIX - 1);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
	crypto_auth_hmacsha256_update(&st, &zero, 1);
	crypto_auth_hmacsha256_update(&st, ctx, ctx_len);
	crypto_auth_hmacsha256_update(&st, &one, 1);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

/* H(a || b || c) */
static void hash3(const void *a, size_t an, const void *b, size_t bn, const void *c, size_t cn, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, a, an);
	if (bn > 0)
		crypto_hash_sha256_update(&st, b, bn);
	if (cn > 0)
		crypto_hash_sha256_update(&st, c, cn);
	crypto_hash_sha256_final(&st, out);
}

static const uint8_t zero_nonce[24];

/* AEAD(k, n, p, a) into out (ciphertext || tag). */
static void seal(const uint8_t k[32], const uint8_t n[24], const uint8_t *p, size_t pn, const uint8_t *a,
                 size_t an, uint8_t *out)
{
	unsigned long long clen;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, p, pn, a, an, NULL, n, k);
}

/* false when it does not open; out gets cn - 16 bytes. */
static bool open_(const uint8_t k[32], const uint8_t n[24], const uint8_t *c, size_t cn, const uint8_t *a,
                  size_t an, uint8_t *out)
{
	unsigned long long plen;
	if (cn < AKM_PROTO_TAG_LEN)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, c, cn, a, an, n, k) == 0;
}

/* ---- message 1 ---- */

akm_fmt_rc akm_proto_hello(const uint8_t n_i[AKM_PROTO_NONCE_LEN], const uint8_t g_x[AKM_PROTO_POINT_LEN],
                           uint8_t *out, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_bytes(&w, n_i, AKM_PROTO_NONCE_LEN);
	akm_buf_put_bytes(&w, g_x, AKM_PROTO_POINT_LEN);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_proto_hello_parse(const uint8_t *body, size_t len, uint8_t n_i[AKM_PROTO_NONCE_LEN],
                                 uint8_t g_x[AKM_PROTO_POINT_LEN])
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, body, len);
	akm_buf_get_bytes(&r, n_i, AKM_PROTO_NONCE_LEN);
	akm_fmt_get_point(&r, g_x);
	akm_buf_end(&r);
	return akm_fmt_reader_done(&r);
}

/* ---- message 2 ---- */

/* TH_3 and K_3 once the cookie is known. */
static void after_cookie(akm_proto_hs *hs)
{
	hash3(hs->th2, 32, hs->cookie, AKM_PROTO_COOKIE_LEN, NULL, 0, hs->th3);
	akm_proto_expand(hs->prk2e, "k3", hs->th3, 32, hs->k3);
}

void akm_proto_after_ecdh(akm_proto_hs *hs, const uint8_t *msg1, size_t msg1_len,
                          const uint8_t n_r[AKM_PROTO_NONCE_LEN], const uint8_t g_y[AKM_PROTO_POINT_LEN],
                          const uint8_t z[32])
{
	hash3(msg1, msg1_len, n_r, AKM_PROTO_NONCE_LEN, g_y, AKM_PROTO_POINT_LEN, hs->th2);
	akm_hmac_sha256(hs->th2, z, 32, hs->prk2e);
	after_cookie(hs); /* the node has the cookie already; the station seals it next */
}

void akm_proto_cookie_seal(akm_proto_hs *hs, const uint8_t k_cookie[32],
                           const uint8_t nonce[AKM_PROTO_COOKIE_NONCE_LEN], uint64_t t_issue)
{
	uint8_t plain[COOKIE_PLAIN_LEN];
	for (int i = 0; i < 8; i++)
		plain[i] = (uint8_t)(t_issue >> (56 - 8 * i));
	memcpy(plain + 8, hs->prk2e, 32);
	memcpy(plain + 40, hs->th2, 32);
	memcpy(hs->cookie, nonce, AKM_PROTO_COOKIE_NONCE_LEN);
	seal(k_cookie, nonce, plain, sizeof plain, (const uint8_t *)COOKIE_AD, sizeof COOKIE_AD - 1,
	     hs->cookie + AKM_PROTO_COOKIE_NONCE_LEN);
	sodium_memzero(plain, sizeof plain);
	after_cookie(hs);
}

bool akm_proto_cookie_open(akm_proto_hs *hs, const uint8_t k_cookie[32],
                           const uint8_t cookie[AKM_PROTO_COOKIE_LEN], uint64_t *t_issue)
{
	uint8_t plain[COOKIE_PLAIN_LEN];
	if (!open_(k_cookie, cookie, cookie + AKM_PROTO_COOKIE_NONCE_LEN,
	           AKM_PROTO_COOKIE_LEN - AKM_PROTO_COOKIE_NONCE_LEN, (const uint8_t *)COOKIE_AD,
	           sizeof COOKIE_AD - 1, plain))
		return false;
	uint64_t t = 0;
	for (int i = 0; i < 8; i++)
		t = t << 8 | plain[i];
	*t_issue = t;
	memcpy(hs->prk2e, plain + 8, 32);
	memcpy(hs->th2, plain + 40, 32);
	memcpy(hs->cookie, cookie, AKM_PROTO_COOKIE_LEN);
	sodium_memzero(plain, sizeof plain);
	after_cookie(hs);
	return true;
}

akm_fmt_rc akm_proto_challenge(const akm_proto_hs *hs, const uint8_t n_r[AKM_PROTO_NONCE_LEN],
                               const uint8_t g_y[AKM_PROTO_POINT_LEN], uint8_t *out, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_bytes(&w, n_r, AKM_PROTO_NONCE_LEN);
	akm_buf_put_bytes(&w, g_y, AKM_PROTO_POINT_LEN);
	akm_buf_put_bytes(&w, hs->cookie, AKM_PROTO_COOKIE_LEN);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_proto_challenge_parse(akm_proto_hs *hs, const uint8_t *body, size_t len,
                                     uint8_t n_r[AKM_PROTO_NONCE_LEN], uint8_t g_y[AKM_PROTO_POINT_LEN])
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, body, len);
	akm_buf_get_bytes(&r, n_r, AKM_PROTO_NONCE_LEN);
	akm_fmt_get_point(&r, g_y);
	akm_buf_get_bytes(&r, hs->cookie, AKM_PROTO_COOKIE_LEN);
	akm_buf_end(&r);
	return akm_fmt_reader_done(&r);
}

/* ---- message 3 ---- */

void akm_proto_psk_message(const akm_proto_hs *hs, uint8_t out[AKM_PROTO_PSK_MSG_LEN])
{
	memcpy(out, PSK_LABEL, sizeof PSK_LABEL - 1);
	memcpy(out + sizeof PSK_LABEL - 1, hs->prk2e, 32);
}

/* op || lv8 PR ID || lv8 node ID || lv8 hw */
static akm_fmt_rc put_id(akm_buf_writer *w, const akm_proto_id *id)
{
	if (id->op < AKM_OP_ACTIVATE || id->op > AKM_OP_REPORT || !akm_fmt_id_ok(id->pr_id_len) ||
	    !akm_fmt_id_ok(id->node_id_len) || !akm_fmt_hw_ok(id->hw_len))
		return AKM_FMT_BAD_FIELD;
	akm_buf_put_u8(w, id->op);
	akm_buf_put_lv8(w, id->pr_id, id->pr_id_len);
	akm_buf_put_lv8(w, id->node_id, id->node_id_len);
	akm_buf_put_lv8(w, id->hw, id->hw_len);
	return AKM_FMT_OK;
}

void akm_proto_after_psk(akm_proto_hs *hs, const akm_proto_id *id, const uint8_t prk3[32])
{
	uint8_t idb[ID_PLAIN_MAX];
	akm_buf_writer w;
	akm_buf_writer_init(&w, idb, sizeof idb);
	size_t n = 0;
	if (put_id(&w, id) != AKM_FMT_OK || akm_buf_writer_done(&w, &n) != AKM_BUF_OK)
		n = 0; /* callers give parsed or checked IDs; an empty ID matches nothing */
	if (prk3 != hs->prk3)
		memcpy(hs->prk3, prk3, 32);
	hash3(hs->th3, 32, idb, n, NULL, 0, hs->th3m);
	akm_proto_expand(hs->prk3, "mac3", hs->th3m, 32, hs->mac3);
	hash3(hs->th3m, 32, hs->mac3, 32, NULL, 0, hs->th4);
	akm_proto_expand(hs->prk3, "k4", hs->th4, 32, hs->k4);
	akm_proto_expand(hs->prk3, "n2s", hs->th4, 32, hs->k_n2s);
	akm_proto_expand(hs->prk3, "s2n", hs->th4, 32, hs->k_s2n);
	hs->sent = hs->received = 0;
}

akm_fmt_rc akm_proto_proof(akm_proto_hs *hs, const akm_proto_id *id, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t plain[ID_PLAIN_MAX];
	akm_buf_writer w;
	akm_buf_writer_init(&w, plain, sizeof plain);
	akm_fmt_rc rc = put_id(&w, id);
	if (rc != AKM_FMT_OK)
		return rc;
	akm_buf_put_bytes(&w, hs->mac3, 32);
	size_t pn;
	if ((rc = akm_fmt_writer_done(&w, &pn)) != AKM_FMT_OK)
		return rc;
	size_t need = AKM_PROTO_COOKIE_LEN + pn + AKM_PROTO_TAG_LEN;
	if (need > cap) {
		sodium_memzero(plain, sizeof plain);
		return AKM_FMT_TOO_BIG;
	}
	memcpy(out, hs->cookie, AKM_PROTO_COOKIE_LEN);
	seal(hs->k3, zero_nonce, plain, pn, hs->th3, 32, out + AKM_PROTO_COOKIE_LEN);
	sodium_memzero(plain, sizeof plain);
	*len = need;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_proto_proof_cookie(const uint8_t *body, size_t len, const uint8_t **cookie)
{
	if (len < AKM_PROTO_PROOF_MIN)
		return AKM_FMT_TRUNCATED;
	if (len > AKM_PROTO_PROOF_MAX)
		return AKM_FMT_TRAILING;
	*cookie = body;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_proto_proof_open(akm_proto_hs *hs, const uint8_t *body, size_t len, akm_proto_id *id,
                                uint8_t mac3[32])
{
	uint8_t plain[ID_PLAIN_MAX];
	if (len < AKM_PROTO_PROOF_MIN || len > AKM_PROTO_PROOF_MAX)
		return AKM_FMT_BAD_FIELD;
	/* TH_3 and K_3 are those of hs->cookie: the message must carry it */
	if (!akm_equal_ct(body, hs->cookie, AKM_PROTO_COOKIE_LEN))
		return AKM_FMT_BAD_FIELD;
	size_t cn = len - AKM_PROTO_COOKIE_LEN;
	if (!open_(hs->k3, zero_nonce, body + AKM_PROTO_COOKIE_LEN, cn, hs->th3, 32, plain))
		return AKM_FMT_BAD_FIELD;
	akm_buf_reader r;
	akm_buf_reader_init(&r, plain, cn - AKM_PROTO_TAG_LEN);
	memset(id, 0, sizeof *id);
	id->op = akm_buf_get_u8(&r);
	if (id->op < AKM_OP_ACTIVATE || id->op > AKM_OP_REPORT)
		akm_buf_invalid(&r);
	id->pr_id_len = akm_fmt_get_id(&r, id->pr_id);
	id->node_id_len = akm_fmt_get_id(&r, id->node_id);
	id->hw_len = akm_fmt_get_hw(&r, id->hw);
	akm_buf_get_bytes(&r, mac3, 32);
	akm_buf_end(&r);
	sodium_memzero(plain, sizeof plain);
	return akm_fmt_reader_done(&r);
}

bool akm_proto_mac3_ok(const akm_proto_hs *hs, const uint8_t mac3[32])
{
	return akm_equal_ct(hs->mac3, mac3, 32);
}

/* ---- message 4 ---- */

/* body = challenge (32) || AEAD(K_4, challenge[0:24], R, TH_4 || challenge)
 * with R = result || status || lv8(station ID).  The challenge is the
 * AEAD's nonce: a replayed message 3 gives the same K_4 again, and each
 * answer to it must be sealed under a nonce of its own. */
#define R_PLAIN_MAX (3 + AKM_FMT_ID_MAX)

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void result_ad(const akm_proto_hs *hs, const uint8_t challenge[AKM_PROTO_CHALLENGE_LEN],
                      uint8_t ad[32 + AKM_PROTO_CHALLENGE_LEN])
{
	memcpy(ad, hs->th4, 32);
	memcpy(ad + 32, challenge, AKM_PROTO_CHALLENGE_LEN);
}

akm_fmt_rc akm_proto_result_seal(const akm_proto_hs *hs, const akm_proto_result *r, uint8_t *out, size_t cap,
                                 size_t *len)
{
	uint8_t plain[R_PLAIN_MAX], ad[32 + AKM_PROTO_CHALLENGE_LEN];
	if (r->station_id_len > AKM_FMT_ID_MAX || all_zero(r->challenge, AKM_PROTO_CHALLENGE_LEN))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, plain, sizeof plain);
	akm_buf_put_u8(&w, r->result);
	akm_buf_put_u8(&w, r->status);
	akm_buf_put_lv8(&w, r->station_id, r->station_id_len);
	size_t pn;
	akm_fmt_rc rc = akm_fmt_writer_done(&w, &pn);
	if (rc != AKM_FMT_OK)
		return rc;
	if (AKM_PROTO_CHALLENGE_LEN + pn + AKM_PROTO_TAG_LEN > cap)
		return AKM_FMT_TOO_BIG;
	memcpy(out, r->challenge, AKM_PROTO_CHALLENGE_LEN);
	result_ad(hs, r->challenge, ad);
	seal(hs->k4, r->challenge, plain, pn, ad, sizeof ad, out + AKM_PROTO_CHALLENGE_LEN);
	*len = AKM_PROTO_CHALLENGE_LEN + pn + AKM_PROTO_TAG_LEN;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_proto_result_open(const akm_proto_hs *hs, const uint8_t *body, size_t len, akm_proto_result *r)
{
	uint8_t plain[R_PLAIN_MAX], ad[32 + AKM_PROTO_CHALLENGE_LEN];
	if (len < AKM_PROTO_RESULT_MIN || len > AKM_PROTO_RESULT_MAX)
		return AKM_FMT_BAD_FIELD;
	result_ad(hs, body, ad);
	if (!open_(hs->k4, body, body + AKM_PROTO_CHALLENGE_LEN, len - AKM_PROTO_CHALLENGE_LEN, ad, sizeof ad,
	           plain))
		return AKM_FMT_BAD_FIELD;
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, plain, len - AKM_PROTO_CHALLENGE_LEN - AKM_PROTO_TAG_LEN);
	memset(r, 0, sizeof *r);
	memcpy(r->challenge, body, AKM_PROTO_CHALLENGE_LEN);
	if (all_zero(r->challenge, AKM_PROTO_CHALLENGE_LEN))
		akm_buf_invalid(&rd);
	r->result = akm_buf_get_u8(&rd);
	r->status = akm_buf_get_u8(&rd);
	r->station_id_len = akm_buf_get_lv8(&rd, r->station_id, AKM_FMT_ID_MAX, NULL);
	akm_buf_end(&rd);
	return akm_fmt_reader_done(&rd);
}

/* ---- records ---- */

static void record_nonce(uint64_t i, uint8_t n[24])
{
	memset(n, 0, 16);
	for (int k = 0; k < 8; k++)
		n[16 + k] = (uint8_t)(i >> (56 - 8 * k));
}

akm_fmt_rc akm_proto_record_seal(akm_proto_hs *hs, bool from_node, uint8_t type, const uint8_t *payload,
                                 size_t payload_len, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t plain[AKM_PROTO_BODY_MAX];
	size_t body = 1 + payload_len + AKM_PROTO_TAG_LEN;
	if (body > AKM_PROTO_BODY_MAX)
		return AKM_FMT_TOO_BIG;
	if (AKM_PROTO_HDR_LEN + body > cap)
		return AKM_FMT_TOO_BIG;
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	put_header(&w, AKM_PROTO_RECORD, body);
	plain[0] = type;
	if (payload_len > 0)
		memcpy(plain + 1, payload, payload_len);
	uint8_t n[24];
	record_nonce(hs->sent, n);
	seal(from_node ? hs->k_n2s : hs->k_s2n, n, plain, 1 + payload_len, out, AKM_PROTO_HDR_LEN,
	     out + AKM_PROTO_HDR_LEN);
	sodium_memzero(plain, 1 + payload_len);
	hs->sent++;
	*len = AKM_PROTO_HDR_LEN + body;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_proto_record_open(akm_proto_hs *hs, bool from_node, const uint8_t hdr[AKM_PROTO_HDR_LEN],
                                 const uint8_t *body, size_t len, uint8_t *type, uint8_t *payload,
                                 size_t *payload_len)
{
	uint8_t plain[AKM_PROTO_BODY_MAX];
	if (len < AKM_PROTO_RECORD_MIN || len > AKM_PROTO_BODY_MAX)
		return AKM_FMT_BAD_FIELD;
	uint8_t n[24];
	record_nonce(hs->received, n);
	if (!open_(from_node ? hs->k_n2s : hs->k_s2n, n, body, len, hdr, AKM_PROTO_HDR_LEN, plain))
		return AKM_FMT_BAD_FIELD;
	hs->received++;
	size_t pn = len - AKM_PROTO_TAG_LEN;
	*type = plain[0];
	memcpy(payload, plain + 1, pn - 1);
	*payload_len = pn - 1;
	sodium_memzero(plain, pn);
	return AKM_FMT_OK;
}

/* ---- payloads ---- */

static bool detail_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* The node's report (a check-in's after its held list, a REPORT's after
 * its events): the sealed counts of the held ASRs, `through`, the
 * aggregated events. */
static bool put_report(akm_buf_writer *w, const akm_proto_node_rec *r)
{
	if (r->ncevents > AKM_PROTO_CEVENTS_MAX)
		return false;
	for (size_t i = 0; i < r->nheld; i++)
		akm_buf_put_u32(w, r->sealed[i]);
	akm_buf_put_u64(w, r->through);
	akm_buf_put_u8(w, (uint8_t)r->ncevents);
	for (size_t i = 0; i < r->ncevents; i++) {
		const akm_proto_cevent *e = &r->cevents[i];
		if (e->kind < 1 || e->kind > AKM_EVENT_KIND_MAX || e->count < 1 || e->asr_id_len > AKM_FMT_ID_MAX)
			return false;
		akm_buf_put_u8(w, e->kind);
		akm_buf_put_u32(w, e->count);
		akm_buf_put_u64(w, e->time);
		akm_buf_put_u32(w, e->sender);
		akm_buf_put_u32(w, e->gen);
		akm_buf_put_lv8(w, e->asr_id, e->asr_id_len);
	}
	return true;
}

static void get_report(akm_buf_reader *rd, akm_proto_node_rec *r, size_t nheld)
{
	r->has_report = true;
	for (size_t i = 0; i < nheld; i++)
		r->sealed[i] = akm_buf_get_u32(rd);
	r->through = akm_buf_get_u64(rd);
	size_t ne = akm_buf_get_u8(rd);
	if (ne > AKM_PROTO_CEVENTS_MAX) {
		akm_buf_invalid(rd);
		ne = 0;
	}
	for (size_t i = 0; i < ne; i++) {
		akm_proto_cevent *e = &r->cevents[i];
		e->kind = akm_buf_get_u8(rd);
		e->count = akm_buf_get_u32(rd);
		if (e->kind < 1 || e->kind > AKM_EVENT_KIND_MAX || e->count < 1)
			akm_buf_invalid(rd);
		e->time = akm_buf_get_u64(rd);
		e->sender = akm_buf_get_u32(rd);
		e->gen = akm_buf_get_u32(rd);
		e->asr_id_len = akm_buf_get_lv8(rd, e->asr_id, AKM_FMT_ID_MAX, NULL);
	}
	r->ncevents = akm_buf_reader_error(rd) == AKM_BUF_OK ? ne : 0;
}

akm_fmt_rc akm_proto_node_rec_encode(uint8_t type, const akm_proto_node_rec *r, uint8_t *out, size_t cap,
                                     size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_bytes(&w, r->proof, 32);
	if (type == AKM_REC_REPORT) {
		if (r->nevents < 1 || r->nevents > AKM_PROTO_EVENTS_MAX)
			return AKM_FMT_BAD_FIELD;
		akm_buf_put_u16(&w, (uint16_t)r->nevents);
		for (size_t i = 0; i < r->nevents; i++) {
			const akm_proto_event *e = &r->events[i];
			size_t dn = strnlen(e->detail, sizeof e->detail);
			if (e->kind < 1 || e->kind > AKM_EVENT_KIND_MAX || dn > AKM_PROTO_DETAIL_MAX ||
			    !detail_ok(e->detail, dn))
				return AKM_FMT_BAD_FIELD;
			akm_buf_put_u16(&w, e->kind);
			akm_buf_put_u32(&w, e->count);
			akm_buf_put_u64(&w, e->time);
			akm_buf_put_lv8(&w, e->detail, dn);
		}
	} else if (type != AKM_REC_VERIFY || r->nevents != 0) {
		return AKM_FMT_BAD_FIELD;
	}
	if (r->nheld > 0 || (r->has_report && type == AKM_REC_VERIFY)) {
		if (type != AKM_REC_VERIFY || r->nheld > AKM_PROTO_HELD_MAX)
			return AKM_FMT_BAD_FIELD;
		akm_buf_put_u8(&w, (uint8_t)r->nheld);
		for (size_t i = 0; i < r->nheld; i++) {
			if (r->held[i].asr_id_len < 1 || r->held[i].asr_id_len > AKM_FMT_ID_MAX)
				return AKM_FMT_BAD_FIELD;
			akm_buf_put_lv8(&w, r->held[i].asr_id, r->held[i].asr_id_len);
			akm_buf_put_u32(&w, r->held[i].gen);
		}
	}
	if (r->has_report && !put_report(&w, r))
		return AKM_FMT_BAD_FIELD;
	return akm_fmt_writer_done(&w, len);
}

size_t akm_proto_cevent_len(const akm_proto_cevent *e)
{
	return 1 + 4 + 8 + 4 + 4 + 1 + e->asr_id_len;
}

akm_fmt_rc akm_proto_node_rec_parse(uint8_t type, const uint8_t *p, size_t len, akm_proto_node_rec *r)
{
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, p, len);
	memset(r, 0, sizeof *r);
	if (type != AKM_REC_VERIFY && type != AKM_REC_REPORT)
		return AKM_FMT_BAD_FIELD;
	akm_buf_get_bytes(&rd, r->proof, 32);
	if (type == AKM_REC_REPORT) {
		size_t n = akm_buf_get_u16(&rd);
		if (n < 1 || n > AKM_PROTO_EVENTS_MAX) {
			akm_buf_invalid(&rd);
			n = 0;
		}
		for (size_t i = 0; i < n; i++) {
			akm_proto_event *e = &r->events[i];
			e->kind = akm_buf_get_u16(&rd);
			if (e->kind < 1 || e->kind > AKM_EVENT_KIND_MAX)
				akm_buf_invalid(&rd);
			e->count = akm_buf_get_u32(&rd);
			e->time = akm_buf_get_u64(&rd);
			size_t dn = akm_buf_get_lv8(&rd, e->detail, AKM_PROTO_DETAIL_MAX, NULL);
			e->detail[dn] = '\0';
			if (!detail_ok(e->detail, dn))
				akm_buf_invalid(&rd);
		}
		r->nevents = akm_buf_reader_error(&rd) == AKM_BUF_OK ? n : 0;
		if (akm_buf_reader_error(&rd) == AKM_BUF_OK && akm_buf_remaining(&rd) > 0)
			get_report(&rd, r, 0); /* the node's registry's events after the operator's */
	} else if (akm_buf_remaining(&rd) > 0) {
		/* A check-in's list of held generations: 1..16 of them, or 0
		 * when the check-in report follows. */
		size_t n = akm_buf_get_u8(&rd);
		if (n > AKM_PROTO_HELD_MAX || (n == 0 && akm_buf_remaining(&rd) == 0)) {
			akm_buf_invalid(&rd);
			n = 0;
		}
		for (size_t i = 0; i < n; i++) {
			akm_proto_held *h = &r->held[i];
			h->asr_id_len = akm_buf_get_lv8(&rd, h->asr_id, AKM_FMT_ID_MAX, NULL);
			if (h->asr_id_len == 0)
				akm_buf_invalid(&rd);
			h->gen = akm_buf_get_u32(&rd);
		}
		r->nheld = akm_buf_reader_error(&rd) == AKM_BUF_OK ? n : 0;
		if (akm_buf_reader_error(&rd) == AKM_BUF_OK && akm_buf_remaining(&rd) > 0)
			get_report(&rd, r, n); /* the check-in report */
	}
	akm_buf_end(&rd);
	return akm_fmt_reader_done(&rd);
}

akm_fmt_rc akm_proto_fetch_encode(uint8_t item, uint8_t part, uint8_t *out, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_u8(&w, item);
	akm_buf_put_u8(&w, part);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_proto_fetch_parse(const uint8_t *p, size_t len, akm_proto_part *f)
{
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, p, len);
	memset(f, 0, sizeof *f);
	f->item = akm_buf_get_u8(&rd);
	f->part = akm_buf_get_u8(&rd);
	akm_buf_end(&rd);
	return akm_fmt_reader_done(&rd);
}

uint8_t akm_proto_item_parts(size_t len)
{
	return (uint8_t)((len + AKM_PROTO_ITEM_PART - 1) / AKM_PROTO_ITEM_PART);
}

static bool parts_ok(uint8_t part, uint8_t parts)
{
	return parts >= 1 && parts <= akm_proto_item_parts(AKM_PROTO_ITEM_MAX) && part < parts;
}

akm_fmt_rc akm_proto_item_encode(const akm_proto_part *it, uint8_t *out, size_t cap, size_t *len)
{
	if (!parts_ok(it->part, it->parts) || it->len < 1 || it->len > AKM_PROTO_ITEM_PART)
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_u8(&w, it->item);
	akm_buf_put_u8(&w, it->part);
	akm_buf_put_u8(&w, it->parts);
	akm_buf_put_bytes(&w, it->data, it->len);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_proto_item_parse(const uint8_t *p, size_t len, akm_proto_part *it)
{
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, p, len);
	memset(it, 0, sizeof *it);
	it->item = akm_buf_get_u8(&rd);
	it->part = akm_buf_get_u8(&rd);
	it->parts = akm_buf_get_u8(&rd);
	if (!parts_ok(it->part, it->parts))
		akm_buf_invalid(&rd);
	akm_fmt_rc rc = akm_fmt_reader_done(&rd);
	if (rc != AKM_FMT_OK)
		return rc;
	if (len - 3 < 1 || len - 3 > AKM_PROTO_ITEM_PART)
		return len == 3 ? AKM_FMT_TRUNCATED : AKM_FMT_TOO_BIG;
	it->data = p + 3;
	it->len = len - 3;
	return AKM_FMT_OK;
}

akm_fmt_rc akm_proto_done_encode(const akm_proto_done *d, uint8_t *out, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, out, cap);
	akm_buf_put_u8(&w, d->result);
	akm_buf_put_u8(&w, d->status);
	akm_buf_put_u16(&w, d->n);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_proto_done_parse(const uint8_t *p, size_t len, akm_proto_done *d)
{
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, p, len);
	d->result = akm_buf_get_u8(&rd);
	d->status = akm_buf_get_u8(&rd);
	d->n = akm_buf_get_u16(&rd);
	akm_buf_end(&rd);
	return akm_fmt_reader_done(&rd);
}

/* ---- names ---- */

const char *akm_proto_op_name(uint8_t op)
{
	switch (op) {
	case AKM_OP_ACTIVATE: return "activate";
	case AKM_OP_CHECKIN: return "checkin";
	case AKM_OP_REPORT: return "report";
	default: return "?";
	}
}

const char *akm_proto_error_name(uint8_t code)
{
	switch (code) {
	case AKM_PERR_MALFORMED: return "malformed message";
	case AKM_PERR_VERSION: return "unsupported protocol version";
	case AKM_PERR_BUSY: return "the station is busy";
	case AKM_PERR_LOCKED: return "locked out after repeated failures";
	case AKM_PERR_REFUSED: return "refused";
	case AKM_PERR_TIMEOUT: return "timed out";
	default: return "unknown error";
	}
}

const char *akm_proto_result_name(uint8_t r)
{
	switch (r) {
	case AKM_PRES_OK: return "accepted";
	case AKM_PRES_NOT_ACTIVE: return "activation required: run akm-node activate";
	case AKM_PRES_WRONG_NODE: return "wrong hardware value or AKM ID";
	case AKM_PRES_REPLAY: return "replayed exchange";
	case AKM_PRES_STATION_FAILURE: return "the station failed";
	case AKM_PRES_VERIFY_FAILED: return "the verification proof did not match";
	default: return "unknown result";
	}
}

const char *akm_proto_event_name(uint16_t kind)
{
	switch (kind) {
	case AKM_EVENT_WRONG_PIN: return "wrong-pin";
	case AKM_EVENT_BUNDLE_REFUSED: return "bundle-refused";
	case AKM_EVENT_KEY_FAILURE: return "key-failure";
	case AKM_EVENT_REPLAY: return "replay";
	case AKM_EVENT_TAMPER: return "tamper";
	case AKM_EVENT_OTHER: return "other";
	case AKM_EVENT_FORGED: return "forged";
	case AKM_EVENT_NOT_MEMBER: return "not-member";
	case AKM_EVENT_STALE: return "stale";
	case AKM_EVENT_ROLLBACK: return "rollback";
	default: return "?";
	}
}

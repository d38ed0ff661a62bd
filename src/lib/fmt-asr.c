/* The operational ASR's formats (fmt-asr.h, docs/asr.md §3). */
#include "lib/fmt-asr.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt-field.h"

#define HEAD_MAX (2 * (1 + AKM_FMT_ID_MAX) + 1 + AKM_ASR_LABEL_MAX + 4 + 4 + 8 + AKM_ASR_POLICY_LEN + \
                  1 + 4 + AKM_FMT_HASH_LEN + 8)
#define START_LEN 6 /* magic, version, type */
#define PACKAGE_MAX (START_LEN + HEAD_MAX + 2 * (1 + AKM_FMT_ID_MAX) + 4 + \
                     AKM_ASR_DEPTH_MAX * AKM_ASR_EDGE_LEN + AKM_FMT_SIG_LEN)
#define REKEY_MAX (START_LEN + HEAD_MAX + 4 + 1 + 4 * AKM_ASR_REMOVED_MAX + 2 + \
                   AKM_ASR_EDGES_MAX * (4 + AKM_ASR_EDGE_LEN) + AKM_FMT_SIG_LEN)
#define SENDER_LEN (4 + 8 + 8)
#define STATE_FIXED (START_LEN + 1 + AKM_FMT_ID_MAX + 4 + 1 + 4 + AKM_FMT_HASH_LEN + AKM_ASR_POLICY_LEN + \
                     4 + 4 + 8 + 8 + 8 + 4 + 4 + 8 + 4)
#define MEMBERS_DOMAIN "AKM-ASR-1 members"

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((akm_asr_member_hash_ctx *)0)->state),
               "akm_asr_member_hash_ctx too small");

const uint8_t akm_asr_ratchet_data[32] = {
	'A', 'K', 'M', '-', 'A', 'S', 'R', '-', '1', ' ', 'n', 'e', 'x', 't', ' ', '1',
	'A', 'K', 'M', '-', 'A', 'S', 'R', '-', '1', ' ', 'n', 'e', 'x', 't', ' ', '2',
};

size_t akm_asr_package_max(void) { return PACKAGE_MAX; }
size_t akm_asr_rekey_max(void) { return REKEY_MAX; }

/* ---- rules (the encoders check them too: what they write parses) ---- */

static bool label_len_ok(size_t len) { return len <= AKM_ASR_LABEL_MAX; }
static bool label_chars_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}
static bool depth_ok(uint8_t d) { return d >= AKM_ASR_DEPTH_MIN && d <= AKM_ASR_DEPTH_MAX; }
static uint32_t capacity(uint8_t depth) { return depth_ok(depth) ? UINT32_C(1) << depth : 0; }
static bool limit_ok(uint32_t v) { return v >= 1 && v <= AKM_ASR_MSG_LIMIT_MAX; }

bool akm_asr_policy_ok(const akm_asr_policy *p)
{
	return p->grace <= AKM_ASR_GRACE_MAX && limit_ok(p->msg_limit) && limit_ok(p->fail_limit) &&
	       p->join_rekeys <= 1;
}

static bool members_ok(uint8_t depth, uint32_t members)
{
	return members >= 1 && members <= capacity(depth);
}

static bool head_ok(const akm_asr_head *h)
{
	size_t ll = strnlen(h->label, AKM_ASR_LABEL_MAX + 1);
	return akm_fmt_id_ok(h->station_id_len) && akm_fmt_id_ok(h->asr_id_len) && label_len_ok(ll) &&
	       label_chars_ok(h->label, ll) && h->gen >= 1 && akm_asr_policy_ok(&h->policy) &&
	       depth_ok(h->depth) && members_ok(h->depth, h->members);
}

/* ---- common fields ---- */

static void put_start(akm_buf_writer *w, uint8_t type)
{
	akm_fmt_put_header(w, AKM_ASR_MAGIC);
	akm_buf_put_u8(w, type);
}

/* magic, version, type: a type other than `type` is not this kind of file. */
static akm_fmt_rc get_start(akm_buf_reader *r, uint8_t type)
{
	akm_fmt_rc rc = akm_fmt_get_header(r, AKM_ASR_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	uint8_t t = akm_buf_get_u8(r);
	if ((rc = akm_fmt_reader_done(r)) != AKM_FMT_OK)
		return rc;
	return t == type ? AKM_FMT_OK : AKM_FMT_BAD_MAGIC;
}

static void put_policy(akm_buf_writer *w, const akm_asr_policy *p)
{
	akm_buf_put_u32(w, p->period);
	akm_buf_put_u32(w, p->grace);
	akm_buf_put_u32(w, p->msg_limit);
	akm_buf_put_u32(w, p->fail_limit);
	akm_buf_put_u8(w, p->join_rekeys);
}

static void get_policy(akm_buf_reader *r, akm_asr_policy *p)
{
	p->period = akm_buf_get_u32(r);
	p->grace = akm_buf_get_u32(r);
	if (p->grace > AKM_ASR_GRACE_MAX)
		akm_buf_invalid(r);
	p->msg_limit = akm_buf_get_u32(r);
	if (!limit_ok(p->msg_limit))
		akm_buf_invalid(r);
	p->fail_limit = akm_buf_get_u32(r);
	if (!limit_ok(p->fail_limit))
		akm_buf_invalid(r);
	p->join_rekeys = akm_buf_get_u8(r);
	if (p->join_rekeys > 1)
		akm_buf_invalid(r);
}

static void get_depth_members(akm_buf_reader *r, uint8_t *depth, uint32_t *members)
{
	*depth = akm_buf_get_u8(r);
	if (!depth_ok(*depth))
		akm_buf_invalid(r);
	*members = akm_buf_get_u32(r);
	if (!members_ok(*depth, *members))
		akm_buf_invalid(r);
}

static void put_head(akm_buf_writer *w, const akm_asr_head *h)
{
	akm_buf_put_lv8(w, h->station_id, h->station_id_len);
	akm_buf_put_lv8(w, h->asr_id, h->asr_id_len);
	akm_buf_put_lv8(w, h->label, strnlen(h->label, AKM_ASR_LABEL_MAX + 1));
	akm_buf_put_u32(w, h->gen);
	akm_buf_put_u32(w, h->step);
	akm_buf_put_u64(w, h->gen_start);
	put_policy(w, &h->policy);
	akm_buf_put_u8(w, h->depth);
	akm_buf_put_u32(w, h->members);
	akm_buf_put_bytes(w, h->member_hash, AKM_FMT_HASH_LEN);
	akm_buf_put_u64(w, h->created);
}

static void get_head(akm_buf_reader *r, akm_asr_head *h)
{
	h->station_id_len = akm_fmt_get_id(r, h->station_id);
	h->asr_id_len = akm_fmt_get_id(r, h->asr_id);
	size_t ll = akm_buf_get_lv8(r, h->label, AKM_ASR_LABEL_MAX, label_len_ok);
	h->label[ll] = '\0';
	if (!label_chars_ok(h->label, ll))
		akm_buf_invalid(r);
	h->gen = akm_buf_get_u32(r);
	if (h->gen < 1)
		akm_buf_invalid(r);
	h->step = akm_buf_get_u32(r);
	h->gen_start = akm_buf_get_u64(r);
	get_policy(r, &h->policy);
	get_depth_members(r, &h->depth, &h->members);
	akm_buf_get_bytes(r, h->member_hash, AKM_FMT_HASH_LEN);
	h->created = akm_buf_get_u64(r);
}

/* ---- package ---- */

akm_fmt_rc akm_asr_package_encode(const akm_asr_package *p, uint8_t *buf, size_t cap, size_t *len)
{
	if (!head_ok(&p->head) || !akm_fmt_id_ok(p->member_id_len) || !akm_fmt_id_ok(p->pr_id_len) ||
	    p->leaf >= capacity(p->head.depth))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	put_start(&w, AKM_ASR_PACKAGE);
	put_head(&w, &p->head);
	akm_buf_put_lv8(&w, p->member_id, p->member_id_len);
	akm_buf_put_lv8(&w, p->pr_id, p->pr_id_len);
	akm_buf_put_u32(&w, p->leaf);
	for (unsigned i = 0; i < p->head.depth; i++)
		akm_buf_put_bytes(&w, p->edges[i].wrapped, AKM_ASR_EDGE_LEN);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_asr_package_parse(const uint8_t *buf, size_t len, akm_asr_package *out, size_t *signed_len)
{
	if (len > PACKAGE_MAX)
		return AKM_FMT_TOO_BIG;
	akm_asr_package *p = calloc(1, sizeof *p);
	if (p == NULL)
		return AKM_FMT_TOO_BIG;
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = get_start(&r, AKM_ASR_PACKAGE);
	if (rc != AKM_FMT_OK)
		goto out;
	get_head(&r, &p->head);
	p->member_id_len = akm_fmt_get_id(&r, p->member_id);
	p->pr_id_len = akm_fmt_get_id(&r, p->pr_id);
	p->leaf = akm_buf_get_u32(&r);
	uint32_t cap = capacity(p->head.depth);
	if (p->leaf >= cap)
		akm_buf_invalid(&r);
	uint32_t child = cap + p->leaf;
	for (unsigned i = 0; i < p->head.depth && akm_buf_reader_error(&r) == AKM_BUF_OK; i++) {
		p->edges[i].child = child;
		child /= 2;
		akm_buf_get_bytes(&r, p->edges[i].wrapped, AKM_ASR_EDGE_LEN);
	}
	size_t sl = akm_buf_offset(&r);
	akm_buf_get_bytes(&r, p->sig, AKM_FMT_SIG_LEN);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		goto out;
	*out = *p;
	if (signed_len)
		*signed_len = sl;
out:
	sodium_memzero(p, sizeof *p);
	free(p);
	return rc;
}

/* ---- rekey ---- */

static bool removed_ok(const akm_asr_rekey *r)
{
	if (r->nremoved > AKM_ASR_REMOVED_MAX)
		return false;
	for (unsigned i = 0; i < r->nremoved; i++)
		if (r->removed[i] >= capacity(r->head.depth) || (i > 0 && r->removed[i] <= r->removed[i - 1]))
			return false;
	return true;
}

static bool edges_ok(const akm_asr_rekey *r)
{
	if (r->nedges < 1 || r->nedges > AKM_ASR_EDGES_MAX)
		return false;
	uint32_t top = 2 * capacity(r->head.depth);
	for (unsigned i = 0; i < r->nedges; i++) {
		uint32_t c = r->edges[i].child;
		if (c < 2 || c >= top || (i > 0 && c >= r->edges[i - 1].child))
			return false;
	}
	return true;
}

akm_fmt_rc akm_asr_rekey_encode(const akm_asr_rekey *r, uint8_t *buf, size_t cap, size_t *len)
{
	if (!head_ok(&r->head) || r->head.gen < 2 || r->from_gen != r->head.gen - 1 || !removed_ok(r) ||
	    !edges_ok(r))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	put_start(&w, AKM_ASR_REKEY);
	put_head(&w, &r->head);
	akm_buf_put_u32(&w, r->from_gen);
	akm_buf_put_u8(&w, r->nremoved);
	for (unsigned i = 0; i < r->nremoved; i++)
		akm_buf_put_u32(&w, r->removed[i]);
	akm_buf_put_u16(&w, r->nedges);
	for (unsigned i = 0; i < r->nedges; i++) {
		akm_buf_put_u32(&w, r->edges[i].child);
		akm_buf_put_bytes(&w, r->edges[i].wrapped, AKM_ASR_EDGE_LEN);
	}
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_asr_rekey_parse(const uint8_t *buf, size_t len, akm_asr_rekey *out, size_t *signed_len)
{
	if (len > REKEY_MAX)
		return AKM_FMT_TOO_BIG;
	akm_asr_rekey *k = calloc(1, sizeof *k);
	if (k == NULL)
		return AKM_FMT_TOO_BIG;
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = get_start(&r, AKM_ASR_REKEY);
	if (rc != AKM_FMT_OK)
		goto out;
	get_head(&r, &k->head);
	k->from_gen = akm_buf_get_u32(&r);
	if (k->head.gen < 2 || k->from_gen != k->head.gen - 1)
		akm_buf_invalid(&r);
	uint32_t cap = capacity(k->head.depth);
	k->nremoved = akm_buf_get_u8(&r);
	if (k->nremoved > AKM_ASR_REMOVED_MAX)
		akm_buf_invalid(&r);
	for (unsigned i = 0; i < k->nremoved && akm_buf_reader_error(&r) == AKM_BUF_OK; i++) {
		k->removed[i] = akm_buf_get_u32(&r);
		if (k->removed[i] >= cap || (i > 0 && k->removed[i] <= k->removed[i - 1]))
			akm_buf_invalid(&r);
	}
	k->nedges = akm_buf_get_u16(&r);
	if (k->nedges < 1 || k->nedges > AKM_ASR_EDGES_MAX)
		akm_buf_invalid(&r);
	for (unsigned i = 0; i < k->nedges && akm_buf_reader_error(&r) == AKM_BUF_OK; i++) {
		uint32_t c = akm_buf_get_u32(&r);
		k->edges[i].child = c;
		if (c < 2 || c >= 2 * cap || (i > 0 && c >= k->edges[i - 1].child))
			akm_buf_invalid(&r);
		akm_buf_get_bytes(&r, k->edges[i].wrapped, AKM_ASR_EDGE_LEN);
	}
	size_t sl = akm_buf_offset(&r);
	akm_buf_get_bytes(&r, k->sig, AKM_FMT_SIG_LEN);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		goto out;
	*out = *k;
	if (signed_len)
		*signed_len = sl;
out:
	sodium_memzero(k, sizeof *k);
	free(k);
	return rc;
}

/* ---- member hash ---- */

void akm_asr_member_hash_init(akm_asr_member_hash_ctx *c)
{
	crypto_hash_sha256_state *st = (crypto_hash_sha256_state *)(void *)c->state;
	crypto_hash_sha256_init(st);
	crypto_hash_sha256_update(st, (const uint8_t *)MEMBERS_DOMAIN, strlen(MEMBERS_DOMAIN));
}

void akm_asr_member_hash_add(akm_asr_member_hash_ctx *c, uint32_t leaf, const uint8_t *id, size_t len)
{
	crypto_hash_sha256_state *st = (crypto_hash_sha256_state *)(void *)c->state;
	uint8_t b[5] = { (uint8_t)(leaf >> 24), (uint8_t)(leaf >> 16), (uint8_t)(leaf >> 8), (uint8_t)leaf,
	                 (uint8_t)len };
	crypto_hash_sha256_update(st, b, sizeof b);
	crypto_hash_sha256_update(st, id, len);
}

void akm_asr_member_hash_final(akm_asr_member_hash_ctx *c, uint8_t out[AKM_FMT_HASH_LEN])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)c->state, out);
	sodium_memzero(c, sizeof *c);
}

void akm_asr_digest(const uint8_t *p, size_t n, uint8_t out[AKM_FMT_HASH_LEN])
{
	crypto_hash_sha256(out, p, n);
}

/* ---- message ---- */

size_t akm_asr_message_header_len(size_t id_len)
{
	return 31 + id_len;
}

static bool ct_len_ok(size_t n)
{
	return n >= AKM_ASR_TAG_LEN && n <= AKM_ASR_PLAIN_MAX + AKM_ASR_TAG_LEN;
}

akm_fmt_rc akm_asr_message_header(const akm_asr_message *m, size_t plain_len, uint8_t *buf, size_t cap,
                                  size_t *len)
{
	if (!akm_fmt_id_ok(m->asr_id_len) || m->gen < 1 || m->seq < 1 || plain_len > AKM_ASR_PLAIN_MAX)
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	put_start(&w, AKM_ASR_MESSAGE);
	akm_buf_put_lv8(&w, m->asr_id, m->asr_id_len);
	akm_buf_put_u32(&w, m->gen);
	akm_buf_put_u32(&w, m->step);
	akm_buf_put_u32(&w, m->sender);
	akm_buf_put_u64(&w, m->seq);
	akm_buf_put_u32(&w, (uint32_t)(plain_len + AKM_ASR_TAG_LEN));
	return akm_fmt_writer_done(&w, len);
}

void akm_asr_nonce(uint32_t sender, uint64_t seq, uint8_t nonce[AKM_ASR_NONCE_LEN])
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, nonce, AKM_ASR_NONCE_LEN);
	akm_buf_put_u32(&w, sender);
	akm_buf_put_u64(&w, seq);
}

akm_fmt_rc akm_asr_message_parse(const uint8_t *buf, size_t len, akm_asr_message *out)
{
	akm_asr_message m;
	memset(&m, 0, sizeof m);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = get_start(&r, AKM_ASR_MESSAGE);
	if (rc != AKM_FMT_OK)
		return rc;
	m.asr_id_len = akm_fmt_get_id(&r, m.asr_id);
	m.gen = akm_buf_get_u32(&r);
	if (m.gen < 1)
		akm_buf_invalid(&r);
	m.step = akm_buf_get_u32(&r);
	m.sender = akm_buf_get_u32(&r);
	m.seq = akm_buf_get_u64(&r);
	if (m.seq < 1)
		akm_buf_invalid(&r);
	uint32_t n = akm_buf_get_u32(&r);
	if (!ct_len_ok(n))
		akm_buf_invalid(&r);
	m.header_len = akm_buf_offset(&r);
	akm_buf_reader ct;
	akm_buf_get_sub(&r, &ct, n);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	m.header = buf;
	m.ct = buf + m.header_len;
	m.ct_len = n;
	*out = m;
	return AKM_FMT_OK;
}

/* ---- member state ---- */

static bool state_ok(const akm_asr_state *s)
{
	if (!akm_fmt_id_ok(s->station_id_len) || !depth_ok(s->depth) || s->leaf >= capacity(s->depth) ||
	    !members_ok(s->depth, s->members) || !akm_asr_policy_ok(&s->policy) || s->gen < 1 ||
	    s->nsenders > AKM_ASR_SENDERS_MAX || (s->nsenders > 0 && s->senders == NULL))
		return false;
	for (uint32_t i = 0; i < s->nsenders; i++)
		if (s->senders[i].leaf >= capacity(s->depth) ||
		    (i > 0 && s->senders[i].leaf <= s->senders[i - 1].leaf))
			return false;
	return true;
}

size_t akm_asr_state_len(const akm_asr_state *s)
{
	return STATE_FIXED - AKM_FMT_ID_MAX + s->station_id_len + (size_t)s->nsenders * SENDER_LEN;
}

akm_fmt_rc akm_asr_state_encode(const akm_asr_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	if (!state_ok(s))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_buf_put_bytes(&w, AKM_ASR_MAGIC, 4);
	akm_buf_put_u8(&w, AKM_ASR_STATE_VERSION);
	akm_buf_put_u8(&w, AKM_ASR_STATE);
	akm_buf_put_lv8(&w, s->station_id, s->station_id_len);
	akm_buf_put_u32(&w, s->leaf);
	akm_buf_put_u8(&w, s->depth);
	akm_buf_put_u32(&w, s->members);
	akm_buf_put_bytes(&w, s->member_hash, AKM_FMT_HASH_LEN);
	put_policy(&w, &s->policy);
	akm_buf_put_u32(&w, s->gen);
	akm_buf_put_u32(&w, s->step);
	akm_buf_put_u64(&w, s->gen_start);
	akm_buf_put_u64(&w, s->step_since);
	akm_buf_put_u64(&w, s->previous_until);
	akm_buf_put_u32(&w, s->sealed);
	akm_buf_put_u32(&w, s->failed);
	akm_buf_put_u64(&w, s->dirty);
	akm_buf_put_u32(&w, s->nsenders);
	for (uint32_t i = 0; i < s->nsenders; i++) {
		akm_buf_put_u32(&w, s->senders[i].leaf);
		akm_buf_put_u64(&w, s->senders[i].high);
		akm_buf_put_u64(&w, s->senders[i].bitmap);
	}
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_asr_state_parse(const uint8_t *buf, size_t len, akm_asr_state *out)
{
	akm_asr_state s;
	memset(&s, 0, sizeof s);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	/* Versions 1 and 2 (1: written before the dirty mark, read as clean). */
	if (!akm_buf_expect(&r, AKM_ASR_MAGIC, 4))
		return AKM_FMT_BAD_MAGIC;
	uint8_t version = akm_buf_get_u8(&r), type = akm_buf_get_u8(&r);
	akm_fmt_rc rc = akm_fmt_reader_done(&r);
	if (rc != AKM_FMT_OK)
		return rc;
	if (version != 1 && version != AKM_ASR_STATE_VERSION)
		return AKM_FMT_BAD_VERSION;
	if (type != AKM_ASR_STATE)
		return AKM_FMT_BAD_MAGIC;
	s.station_id_len = akm_fmt_get_id(&r, s.station_id);
	s.leaf = akm_buf_get_u32(&r);
	get_depth_members(&r, &s.depth, &s.members);
	if (s.leaf >= capacity(s.depth))
		akm_buf_invalid(&r);
	akm_buf_get_bytes(&r, s.member_hash, AKM_FMT_HASH_LEN);
	get_policy(&r, &s.policy);
	s.gen = akm_buf_get_u32(&r);
	if (s.gen < 1)
		akm_buf_invalid(&r);
	s.step = akm_buf_get_u32(&r);
	s.gen_start = akm_buf_get_u64(&r);
	s.step_since = akm_buf_get_u64(&r);
	s.previous_until = akm_buf_get_u64(&r);
	s.sealed = akm_buf_get_u32(&r);
	s.failed = akm_buf_get_u32(&r);
	if (version >= 2)
		s.dirty = akm_buf_get_u64(&r);
	s.nsenders = akm_buf_get_u32(&r);
	if (s.nsenders > AKM_ASR_SENDERS_MAX)
		akm_buf_invalid(&r);
	if (akm_buf_reader_error(&r) == AKM_BUF_OK && s.nsenders > 0) {
		s.senders = calloc(s.nsenders, sizeof *s.senders);
		if (s.senders == NULL)
			return AKM_FMT_TOO_BIG;
	}
	for (uint32_t i = 0; i < s.nsenders && akm_buf_reader_error(&r) == AKM_BUF_OK; i++) {
		s.senders[i].leaf = akm_buf_get_u32(&r);
		if (s.senders[i].leaf >= capacity(s.depth) || (i > 0 && s.senders[i].leaf <= s.senders[i - 1].leaf))
			akm_buf_invalid(&r);
		s.senders[i].high = akm_buf_get_u64(&r);
		s.senders[i].bitmap = akm_buf_get_u64(&r);
	}
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK) {
		free(s.senders);
		return rc;
	}
	*out = s;
	return AKM_FMT_OK;
}

void akm_asr_state_clear(akm_asr_state *s)
{
	free(s->senders);
	memset(s, 0, sizeof *s);
}

/* ---- replay window ---- */

bool akm_asr_window_check(akm_asr_sender *w, uint64_t seq, bool accept)
{
	if (seq == 0)
		return false;
	if (seq > w->high) {
		if (accept) {
			uint64_t shift = seq - w->high;
			w->bitmap = shift >= AKM_ASR_WINDOW ? 0 : w->bitmap << shift;
			w->bitmap |= 1;
			w->high = seq;
		}
		return true;
	}
	uint64_t back = w->high - seq;
	if (back >= AKM_ASR_WINDOW || (w->bitmap >> back) & 1)
		return false;
	if (accept)
		w->bitmap |= UINT64_C(1) << back;
	return true;
}

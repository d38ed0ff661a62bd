/* The operational ASR's formats (src/lib/fmt-asr.c, docs/asr.md §3): round
 * trips of the package, the rekey message, the message and the member
 * state; every prefix AKM_FMT_TRUNCATED and one byte more AKM_FMT_TRAILING;
 * each field out of its range refused (by the parser and the encoder); the
 * replay window; the member hash. */
#include <check.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt-asr.h"

static void fill_head(akm_asr_head *h, uint8_t depth, uint32_t gen)
{
	memset(h, 0, sizeof *h);
	memcpy(h->station_id, "station-1", 9);
	h->station_id_len = 9;
	memcpy(h->asr_id, "asr-7", 5);
	h->asr_id_len = 5;
	strcpy(h->label, "Group of pumps ~ 7");
	h->gen = gen;
	h->step = 3;
	h->gen_start = 1700000000;
	h->policy = (akm_asr_policy){ .period = 3600, .grace = 60, .msg_limit = 1000, .fail_limit = 16384,
	                              .join_rekeys = 1 };
	h->depth = depth;
	h->members = 3;
	for (int i = 0; i < 32; i++)
		h->member_hash[i] = (uint8_t)(0xA0 + i);
	h->created = 1700000123;
}

static void fill_package(akm_asr_package *p)
{
	memset(p, 0, sizeof *p);
	fill_head(&p->head, 3, 1);
	memcpy(p->member_id, "node-2", 6);
	p->member_id_len = 6;
	memcpy(p->pr_id, "pr-2", 4);
	p->pr_id_len = 4;
	p->leaf = 5;
	uint32_t child = 8 + 5;
	for (int i = 0; i < 3; i++) {
		p->edges[i].child = child;
		child /= 2;
		memset(p->edges[i].wrapped, 0x10 + i, AKM_ASR_EDGE_LEN);
	}
	memset(p->sig, 0x55, sizeof p->sig);
}

static void fill_rekey(akm_asr_rekey *r)
{
	memset(r, 0, sizeof *r);
	fill_head(&r->head, 3, 2);
	r->from_gen = 1;
	r->nremoved = 2;
	r->removed[0] = 1;
	r->removed[1] = 6;
	r->nedges = 4;
	uint32_t kids[] = { 14, 7, 3, 2 };
	for (int i = 0; i < 4; i++) {
		r->edges[i].child = kids[i];
		memset(r->edges[i].wrapped, 0x30 + i, AKM_ASR_EDGE_LEN);
	}
	memset(r->sig, 0x66, sizeof r->sig);
}

/* Encoded signed part || signature into buf; returns the whole length. */
static size_t package_bytes(const akm_asr_package *p, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	ck_assert_int_eq(akm_asr_package_encode(p, buf, cap, &len), AKM_FMT_OK);
	ck_assert_uint_ge(cap, len + 64);
	memcpy(buf + len, p->sig, 64);
	return len + 64;
}

static size_t rekey_bytes(const akm_asr_rekey *r, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	ck_assert_int_eq(akm_asr_rekey_encode(r, buf, cap, &len), AKM_FMT_OK);
	ck_assert_uint_ge(cap, len + 64);
	memcpy(buf + len, r->sig, 64);
	return len + 64;
}

START_TEST(package_round_trip)
{
	akm_asr_package p, q;
	fill_package(&p);
	uint8_t buf[2048], again[2048];
	size_t len = package_bytes(&p, buf, sizeof buf);
	ck_assert_uint_eq(len, 6 + (10 + 6 + 19 + 4 + 4 + 8 + 17 + 1 + 4 + 32 + 8) + 7 + 5 + 4 + 3 * 40 + 64);
	ck_assert_uint_le(len, akm_asr_package_max());
	size_t sl = 0;
	ck_assert_int_eq(akm_asr_package_parse(buf, len, &q, &sl), AKM_FMT_OK);
	ck_assert_uint_eq(sl, len - 64);
	ck_assert_mem_eq(buf, "AKMA\x01\x01", 6);
	ck_assert_str_eq(q.head.label, p.head.label);
	ck_assert_uint_eq(q.leaf, 5);
	ck_assert_uint_eq(q.edges[0].child, 13);
	ck_assert_uint_eq(q.edges[1].child, 6);
	ck_assert_uint_eq(q.edges[2].child, 3);
	ck_assert_mem_eq(q.edges[2].wrapped, p.edges[2].wrapped, 40);
	ck_assert_mem_eq(q.sig, p.sig, 64);
	ck_assert_uint_eq(q.head.policy.fail_limit, 16384);
	ck_assert_uint_eq(q.head.gen_start, 1700000000);
	ck_assert_uint_eq(package_bytes(&q, again, sizeof again), len);
	ck_assert_mem_eq(again, buf, len);
	/* An empty label; the largest package fits akm_asr_package_max. */
	p.head.label[0] = '\0';
	p.head.depth = AKM_ASR_DEPTH_MAX;
	p.head.station_id_len = p.head.asr_id_len = p.member_id_len = p.pr_id_len = 32;
	memset(p.head.label, 'x', 64);
	p.head.label[64] = '\0';
	len = package_bytes(&p, buf, sizeof buf);
	ck_assert_uint_eq(len, akm_asr_package_max());
	ck_assert_int_eq(akm_asr_package_parse(buf, len, &q, NULL), AKM_FMT_OK);
	ck_assert_uint_eq(q.edges[16].child, 2);
	/* The output buffer one byte short. */
	ck_assert_int_eq(akm_asr_package_encode(&p, buf, len - 65, &sl), AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_asr_package_parse(buf, akm_asr_package_max() + 1, &q, NULL), AKM_FMT_TOO_BIG);
}
END_TEST

START_TEST(rekey_round_trip)
{
	akm_asr_rekey r, q;
	fill_rekey(&r);
	uint8_t buf[4096], again[4096];
	size_t len = rekey_bytes(&r, buf, sizeof buf);
	size_t sl = 0;
	ck_assert_int_eq(akm_asr_rekey_parse(buf, len, &q, &sl), AKM_FMT_OK);
	ck_assert_uint_eq(sl, len - 64);
	ck_assert_uint_eq(buf[5], AKM_ASR_REKEY);
	ck_assert_uint_eq(q.nremoved, 2);
	ck_assert_uint_eq(q.removed[1], 6);
	ck_assert_uint_eq(q.nedges, 4);
	ck_assert_uint_eq(q.edges[3].child, 2);
	ck_assert_uint_eq(rekey_bytes(&q, again, sizeof again), len);
	ck_assert_mem_eq(again, buf, len);
	/* The largest. */
	r.head.depth = AKM_ASR_DEPTH_MAX;
	r.head.station_id_len = r.head.asr_id_len = 32;
	memset(r.head.label, 'x', 64);
	r.nremoved = AKM_ASR_REMOVED_MAX;
	for (unsigned i = 0; i < r.nremoved; i++)
		r.removed[i] = i * 3;
	r.nedges = AKM_ASR_EDGES_MAX;
	for (unsigned i = 0; i < r.nedges; i++)
		r.edges[i].child = (1u << 18) - 1 - i;
	len = rekey_bytes(&r, buf, sizeof buf);
	ck_assert_uint_eq(len, akm_asr_rekey_max());
	ck_assert_int_eq(akm_asr_rekey_parse(buf, len, &q, NULL), AKM_FMT_OK);
	ck_assert_int_eq(akm_asr_rekey_parse(buf, len + 1, &q, NULL), AKM_FMT_TOO_BIG);
}
END_TEST

static size_t message_bytes(uint8_t *buf, size_t cap, size_t plain_len)
{
	akm_asr_message m = { .asr_id_len = 5, .gen = 2, .step = 9, .sender = 3, .seq = 77 };
	memcpy(m.asr_id, "asr-7", 5);
	size_t hl = 0;
	ck_assert_int_eq(akm_asr_message_header(&m, plain_len, buf, cap, &hl), AKM_FMT_OK);
	ck_assert_uint_eq(hl, akm_asr_message_header_len(5));
	ck_assert_uint_eq(hl, 36);
	for (size_t i = 0; i < plain_len + 16; i++)
		buf[hl + i] = (uint8_t)i;
	return hl + plain_len + 16;
}

START_TEST(message_round_trip)
{
	static uint8_t buf[AKM_ASR_PLAIN_MAX + 200];
	size_t len = message_bytes(buf, sizeof buf, 10);
	akm_asr_message m;
	ck_assert_int_eq(akm_asr_message_parse(buf, len, &m), AKM_FMT_OK);
	ck_assert_uint_eq(m.gen, 2);
	ck_assert_uint_eq(m.step, 9);
	ck_assert_uint_eq(m.sender, 3);
	ck_assert_uint_eq(m.seq, 77);
	ck_assert_ptr_eq(m.header, buf);
	ck_assert_uint_eq(m.header_len, 36);
	ck_assert_ptr_eq(m.ct, buf + 36);
	ck_assert_uint_eq(m.ct_len, 26);
	ck_assert_mem_eq(m.asr_id, "asr-7", 5);
	/* Empty and largest plaintexts; one more is refused. */
	len = message_bytes(buf, sizeof buf, 0);
	ck_assert_int_eq(akm_asr_message_parse(buf, len, &m), AKM_FMT_OK);
	ck_assert_uint_eq(m.ct_len, 16);
	len = message_bytes(buf, sizeof buf, AKM_ASR_PLAIN_MAX);
	ck_assert_int_eq(akm_asr_message_parse(buf, len, &m), AKM_FMT_OK);
	akm_asr_message h = { .asr_id_len = 5, .gen = 2, .seq = 1 };
	size_t hl;
	ck_assert_int_eq(akm_asr_message_header(&h, AKM_ASR_PLAIN_MAX + 1, buf, sizeof buf, &hl),
	                 AKM_FMT_BAD_FIELD);
	/* The nonce. */
	uint8_t nonce[12];
	akm_asr_nonce(0x01020304, 0x05060708090a0b0cULL, nonce);
	ck_assert_mem_eq(nonce, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
	ck_assert_mem_eq(akm_asr_ratchet_data, "AKM-ASR-1 next 1AKM-ASR-1 next 2", 32);
}
END_TEST

static void fill_state(akm_asr_state *s, akm_asr_sender *senders)
{
	memset(s, 0, sizeof *s);
	memcpy(s->station_id, "station-1", 9);
	s->station_id_len = 9;
	s->leaf = 2;
	s->depth = 2;
	s->members = 4;
	memset(s->member_hash, 0x77, 32);
	s->policy = (akm_asr_policy){ .period = 0, .grace = 86400, .msg_limit = 1u << 20, .fail_limit = 1 };
	s->gen = 4;
	s->step = 11;
	s->gen_start = 1700000000;
	s->step_since = 1700000500;
	s->previous_until = 1700000560;
	s->sealed = 12;
	s->failed = 1;
	s->dirty = 0xfedcba9876543210ULL;
	s->nsenders = 2;
	senders[0] = (akm_asr_sender){ .leaf = 0, .high = 100, .bitmap = 0x8000000000000001ULL };
	senders[1] = (akm_asr_sender){ .leaf = 3, .high = 1, .bitmap = 1 };
	s->senders = senders;
}

START_TEST(state_round_trip)
{
	akm_asr_sender senders[2];
	akm_asr_state s, q;
	fill_state(&s, senders);
	uint8_t buf[512], again[512];
	size_t len = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, akm_asr_state_len(&s));
	ck_assert_int_eq(akm_asr_state_parse(buf, len, &q), AKM_FMT_OK);
	ck_assert_uint_eq(q.nsenders, 2);
	ck_assert_uint_eq(q.senders[0].bitmap, 0x8000000000000001ULL);
	ck_assert_uint_eq(q.senders[1].leaf, 3);
	ck_assert_uint_eq(q.previous_until, 1700000560);
	ck_assert_uint_eq(q.policy.grace, 86400);
	ck_assert_uint_eq(q.dirty, 0xfedcba9876543210ULL);
	ck_assert_uint_eq(buf[4], AKM_ASR_STATE_VERSION);
	size_t len2 = 0;
	ck_assert_int_eq(akm_asr_state_encode(&q, again, sizeof again, &len2), AKM_FMT_OK);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(again, buf, len);
	akm_asr_state_clear(&q);
	ck_assert_ptr_null(q.senders);
	/* No senders. */
	s.nsenders = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_asr_state_parse(buf, len, &q), AKM_FMT_OK);
	ck_assert_ptr_null(q.senders);
	akm_asr_state_clear(&q);
}
END_TEST

/* Every prefix of `buf` is TRUNCATED and buf + one byte TRAILING. */
typedef akm_fmt_rc (*parse_fn)(const uint8_t *buf, size_t len);
static akm_fmt_rc parse_package(const uint8_t *b, size_t n)
{
	akm_asr_package p;
	return akm_asr_package_parse(b, n, &p, NULL);
}
static akm_fmt_rc parse_rekey(const uint8_t *b, size_t n)
{
	akm_asr_rekey r;
	return akm_asr_rekey_parse(b, n, &r, NULL);
}
static akm_fmt_rc parse_message(const uint8_t *b, size_t n)
{
	akm_asr_message m;
	return akm_asr_message_parse(b, n, &m);
}
static akm_fmt_rc parse_state(const uint8_t *b, size_t n)
{
	akm_asr_state s;
	akm_fmt_rc rc = akm_asr_state_parse(b, n, &s);
	if (rc == AKM_FMT_OK)
		akm_asr_state_clear(&s);
	return rc;
}

static void prefixes(parse_fn f, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = 0;
	for (size_t i = 0; i < len; i++) {
		/* Exactly i bytes, in a buffer of their own (ASan sees any read past). */
		uint8_t *p = malloc(i ? i : 1);
		memcpy(p, buf, i);
		ck_assert_msg(f(p, i) == AKM_FMT_TRUNCATED, "prefix %zu of %zu: %d", i, len, f(p, i));
		free(p);
	}
	ck_assert_int_eq(f(copy, len), AKM_FMT_OK);
	ck_assert_int_eq(f(copy, len + 1), AKM_FMT_TRAILING);
	free(copy);
}

START_TEST(truncations_and_trailing)
{
	uint8_t buf[4096];
	akm_asr_package p;
	fill_package(&p);
	prefixes(parse_package, buf, package_bytes(&p, buf, sizeof buf));
	akm_asr_rekey r;
	fill_rekey(&r);
	prefixes(parse_rekey, buf, rekey_bytes(&r, buf, sizeof buf));
	prefixes(parse_message, buf, message_bytes(buf, sizeof buf, 7));
	akm_asr_sender senders[2];
	akm_asr_state s;
	fill_state(&s, senders);
	size_t len = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, buf, sizeof buf, &len), AKM_FMT_OK);
	prefixes(parse_state, buf, len);
}
END_TEST

/* Offsets of the package's fields (fill_package's values). */
enum {
	P_VERSION = 4, P_TYPE = 5, P_STATION = 6, P_ASR = P_STATION + 10, P_LABEL = P_ASR + 6,
	P_GEN = P_LABEL + 19, P_STEP = P_GEN + 4, P_START = P_STEP + 4, P_PERIOD = P_START + 8,
	P_GRACE = P_PERIOD + 4, P_MSGLIM = P_GRACE + 4, P_FAILLIM = P_MSGLIM + 4, P_JOIN = P_FAILLIM + 4,
	P_DEPTH = P_JOIN + 1, P_MEMBERS = P_DEPTH + 1, P_HASH = P_MEMBERS + 4, P_CREATED = P_HASH + 32,
	P_MEMBER = P_CREATED + 8, P_PR = P_MEMBER + 7, P_LEAF = P_PR + 5, P_EDGES = P_LEAF + 4,
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

START_TEST(package_bad_fields)
{
	akm_asr_package p;
	fill_package(&p);
	uint8_t good[2048], b[2048];
	size_t len = package_bytes(&p, good, sizeof good);
	akm_asr_package q;
#define EXPECT(rc_, edit)                                                      \
	do {                                                                   \
		memcpy(b, good, len);                                          \
		edit;                                                          \
		ck_assert_int_eq(akm_asr_package_parse(b, len, &q, NULL), rc_); \
	} while (0)
	EXPECT(AKM_FMT_OK, (void)0);
	EXPECT(AKM_FMT_BAD_MAGIC, b[0] = 'X');
	EXPECT(AKM_FMT_BAD_VERSION, b[P_VERSION] = 2);
	EXPECT(AKM_FMT_BAD_MAGIC, b[P_TYPE] = AKM_ASR_REKEY);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_STATION] = 0);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_STATION] = 33);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_ASR] = 0);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_LABEL] = 65);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_LABEL + 1] = 0x1f);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_LABEL + 1] = 0x7f);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_GEN, 0));
	EXPECT(AKM_FMT_OK, put32(b + P_STEP, 0xFFFFFFFF));
	EXPECT(AKM_FMT_OK, put32(b + P_PERIOD, 0));
	EXPECT(AKM_FMT_OK, put32(b + P_GRACE, 86400));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_GRACE, 86401));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_MSGLIM, 0));
	EXPECT(AKM_FMT_OK, put32(b + P_MSGLIM, 1u << 20));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_MSGLIM, (1u << 20) + 1));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_FAILLIM, 0));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_FAILLIM, (1u << 20) + 1));
	EXPECT(AKM_FMT_BAD_FIELD, b[P_JOIN] = 2);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_DEPTH] = 1);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_DEPTH] = 18);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_MEMBERS, 0));
	EXPECT(AKM_FMT_OK, put32(b + P_MEMBERS, 8));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_MEMBERS, 9));
	EXPECT(AKM_FMT_BAD_FIELD, b[P_MEMBER] = 0);
	EXPECT(AKM_FMT_BAD_FIELD, b[P_PR] = 33);
	EXPECT(AKM_FMT_OK, put32(b + P_LEAF, 7));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + P_LEAF, 8));
#undef EXPECT
	/* A depth that says more (fewer) edges than there are. */
	memcpy(b, good, len);
	b[P_DEPTH] = 4;
	ck_assert_int_eq(akm_asr_package_parse(b, len, &q, NULL), AKM_FMT_TRUNCATED);
	b[P_DEPTH] = 2;
	ck_assert_int_eq(akm_asr_package_parse(b, len, &q, NULL), AKM_FMT_BAD_FIELD); /* leaf 5 >= 4 */
	put32(b + P_MEMBERS, 1);
	put32(b + P_LEAF, 1);
	ck_assert_int_eq(akm_asr_package_parse(b, len, &q, NULL), AKM_FMT_TRAILING);
	/* The encoder refuses what the parser would. */
	akm_asr_package e;
	uint8_t out[2048];
	size_t n;
#define REFUSE(edit)                                                                   \
	do {                                                                           \
		fill_package(&e);                                                      \
		edit;                                                                  \
		ck_assert_int_eq(akm_asr_package_encode(&e, out, sizeof out, &n), AKM_FMT_BAD_FIELD); \
	} while (0)
	REFUSE(e.head.station_id_len = 0);
	REFUSE(e.head.asr_id_len = 33);
	REFUSE(e.head.label[2] = '\n');
	REFUSE(memset(e.head.label, 'a', sizeof e.head.label));
	REFUSE(e.head.gen = 0);
	REFUSE(e.head.policy.grace = 86401);
	REFUSE(e.head.policy.msg_limit = 0);
	REFUSE(e.head.policy.fail_limit = (1u << 20) + 1);
	REFUSE(e.head.policy.join_rekeys = 2);
	REFUSE(e.head.depth = 18);
	REFUSE(e.head.members = 9);
	REFUSE(e.member_id_len = 0);
	REFUSE(e.pr_id_len = 33);
	REFUSE(e.leaf = 8);
#undef REFUSE
}
END_TEST

/* Offsets of the rekey message's fields after the head (fill_rekey). */
enum { R_FROM = P_MEMBER, R_NREMOVED = R_FROM + 4, R_REMOVED = R_NREMOVED + 1, R_NEDGES = R_REMOVED + 8,
       R_EDGE0 = R_NEDGES + 2 };

START_TEST(rekey_bad_fields)
{
	akm_asr_rekey r;
	fill_rekey(&r);
	uint8_t good[4096], b[4096];
	size_t len = rekey_bytes(&r, good, sizeof good);
	akm_asr_rekey q;
#define EXPECT(rc_, edit)                                                    \
	do {                                                                 \
		memcpy(b, good, len);                                        \
		edit;                                                        \
		ck_assert_int_eq(akm_asr_rekey_parse(b, len, &q, NULL), rc_); \
	} while (0)
	EXPECT(AKM_FMT_OK, (void)0);
	EXPECT(AKM_FMT_BAD_MAGIC, b[P_TYPE] = AKM_ASR_PACKAGE);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_FROM, 2));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_FROM, 0));
	EXPECT(AKM_FMT_BAD_FIELD, (put32(b + P_GEN, 1), put32(b + R_FROM, 0)));
	EXPECT(AKM_FMT_BAD_FIELD, b[R_NREMOVED] = 17);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_REMOVED + 4, 1));   /* not ascending */
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_REMOVED + 4, 8));   /* >= capacity */
	EXPECT(AKM_FMT_BAD_FIELD, (b[R_NEDGES] = 0, b[R_NEDGES + 1] = 0));
	EXPECT(AKM_FMT_BAD_FIELD, (b[R_NEDGES] = 0, b[R_NEDGES + 1] = 37));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_EDGE0, 16));        /* >= 2 x capacity */
	EXPECT(AKM_FMT_OK, put32(b + R_EDGE0, 15));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_EDGE0, 7));         /* not descending */
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + R_EDGE0 + 3 * 44, 1)); /* the root is no child */
#undef EXPECT
	akm_asr_rekey e;
	uint8_t out[4096];
	size_t n;
#define REFUSE(edit)                                                                 \
	do {                                                                         \
		fill_rekey(&e);                                                      \
		edit;                                                                \
		ck_assert_int_eq(akm_asr_rekey_encode(&e, out, sizeof out, &n), AKM_FMT_BAD_FIELD); \
	} while (0)
	REFUSE(e.from_gen = 2);
	REFUSE((e.head.gen = 1, e.from_gen = 0));
	REFUSE(e.nremoved = 17);
	REFUSE(e.removed[1] = 1);
	REFUSE(e.removed[1] = 8);
	REFUSE(e.nedges = 0);
	REFUSE(e.nedges = 37);
	REFUSE(e.edges[0].child = 16);
	REFUSE(e.edges[3].child = 1);
	REFUSE(e.edges[1].child = 14);
	REFUSE(e.head.members = 0);
#undef REFUSE
}
END_TEST

START_TEST(message_bad_fields)
{
	uint8_t good[256], b[256];
	size_t len = message_bytes(good, sizeof good, 7);
	akm_asr_message m;
	/* start 6 | id 1+5 | gen 12 | step 16 | sender 20 | seq 24 | ct_len 32 */
#define EXPECT(rc_, edit)                                                  \
	do {                                                               \
		memcpy(b, good, len);                                      \
		edit;                                                      \
		ck_assert_int_eq(akm_asr_message_parse(b, len, &m), rc_); \
	} while (0)
	EXPECT(AKM_FMT_OK, (void)0);
	EXPECT(AKM_FMT_BAD_MAGIC, b[5] = AKM_ASR_STATE);
	EXPECT(AKM_FMT_BAD_FIELD, b[6] = 0);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 12, 0));
	EXPECT(AKM_FMT_OK, put32(b + 20, 0xFFFFFFFF));
	EXPECT(AKM_FMT_BAD_FIELD, memset(b + 24, 0, 8));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 32, 15));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 32, AKM_ASR_PLAIN_MAX + 17));
	EXPECT(AKM_FMT_TRUNCATED, put32(b + 32, 24));
	EXPECT(AKM_FMT_TRAILING, put32(b + 32, 22));
#undef EXPECT
	akm_asr_message h = { .asr_id_len = 0, .gen = 1, .seq = 1 };
	size_t n;
	ck_assert_int_eq(akm_asr_message_header(&h, 0, b, sizeof b, &n), AKM_FMT_BAD_FIELD);
	h.asr_id_len = 1;
	h.seq = 0;
	ck_assert_int_eq(akm_asr_message_header(&h, 0, b, sizeof b, &n), AKM_FMT_BAD_FIELD);
	h.seq = 1;
	h.gen = 0;
	ck_assert_int_eq(akm_asr_message_header(&h, 0, b, sizeof b, &n), AKM_FMT_BAD_FIELD);
	h.gen = 1;
	ck_assert_int_eq(akm_asr_message_header(&h, 0, b, 31, &n), AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_asr_message_header(&h, 0, b, 32, &n), AKM_FMT_OK);
}
END_TEST

START_TEST(state_bad_fields)
{
	akm_asr_sender senders[2];
	akm_asr_state s, q;
	fill_state(&s, senders);
	uint8_t good[512], b[512];
	size_t len = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, good, sizeof good, &len), AKM_FMT_OK);
	/* start 6 | station 1+9 -> 16 leaf | 20 depth | 21 members | 25 hash | 57 policy (17)
	 * | 74 gen | 78 step | 82 gen_start | 90 since | 98 prev | 106 sealed | 110 failed
	 * | 114 dirty | 122 nsenders | 126 senders (20 each) */
#define EXPECT(rc_, edit)                                         \
	do {                                                      \
		memcpy(b, good, len);                             \
		edit;                                             \
		akm_fmt_rc got = akm_asr_state_parse(b, len, &q); \
		if (got == AKM_FMT_OK)                            \
			akm_asr_state_clear(&q);                  \
		ck_assert_int_eq(got, rc_);                       \
	} while (0)
	EXPECT(AKM_FMT_OK, (void)0);
	EXPECT(AKM_FMT_BAD_MAGIC, b[5] = AKM_ASR_MESSAGE);
	EXPECT(AKM_FMT_BAD_FIELD, b[6] = 0);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 16, 4));
	EXPECT(AKM_FMT_BAD_FIELD, b[20] = 18);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 21, 5));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 57 + 4, 86401));
	EXPECT(AKM_FMT_BAD_FIELD, b[57 + 16] = 3);
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 74, 0));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 122, AKM_ASR_SENDERS_MAX + 1));
	EXPECT(AKM_FMT_TRUNCATED, put32(b + 122, 3));
	EXPECT(AKM_FMT_TRAILING, put32(b + 122, 1));
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 126 + 20, 0)); /* not ascending */
	EXPECT(AKM_FMT_BAD_FIELD, put32(b + 126 + 20, 4)); /* >= capacity */
	EXPECT(AKM_FMT_BAD_VERSION, b[4] = 3);
	EXPECT(AKM_FMT_BAD_VERSION, b[4] = 0);
	/* Version 1 is the same without the dirty mark: as it is, the mark's
	 * 8 bytes are read as the sender count and the rest. */
	EXPECT(AKM_FMT_BAD_FIELD, b[4] = 1);
#undef EXPECT
	/* A version-1 record (written before the mark) parses as clean. */
	uint8_t v1[512];
	memcpy(v1, good, 114);
	memcpy(v1 + 114, good + 122, len - 122);
	v1[4] = 1;
	ck_assert_int_eq(akm_asr_state_parse(v1, len - 8, &q), AKM_FMT_OK);
	ck_assert_uint_eq(q.dirty, 0);
	ck_assert_uint_eq(q.nsenders, 2);
	ck_assert_uint_eq(q.senders[1].leaf, 3);
	ck_assert_uint_eq(q.failed, 1);
	akm_asr_state_clear(&q);
	for (size_t k = 0; k < len - 8; k++)
		ck_assert_int_eq(akm_asr_state_parse(v1, k, &q), AKM_FMT_TRUNCATED);
	uint8_t out[512];
	size_t n;
	fill_state(&s, senders);
	s.leaf = 4;
	ck_assert_int_eq(akm_asr_state_encode(&s, out, sizeof out, &n), AKM_FMT_BAD_FIELD);
	fill_state(&s, senders);
	senders[1].leaf = 0;
	ck_assert_int_eq(akm_asr_state_encode(&s, out, sizeof out, &n), AKM_FMT_BAD_FIELD);
	fill_state(&s, senders);
	s.nsenders = AKM_ASR_SENDERS_MAX + 1;
	ck_assert_int_eq(akm_asr_state_encode(&s, out, sizeof out, &n), AKM_FMT_BAD_FIELD);
	fill_state(&s, senders);
	ck_assert_int_eq(akm_asr_state_encode(&s, out, len - 1, &n), AKM_FMT_TOO_BIG);
}
END_TEST

START_TEST(window)
{
	akm_asr_sender w = { .leaf = 1 };
	ck_assert(!akm_asr_window_check(&w, 0, true));
	ck_assert(akm_asr_window_check(&w, 5, false));
	ck_assert_uint_eq(w.high, 0); /* a check without accept changes nothing */
	ck_assert(akm_asr_window_check(&w, 5, true));
	ck_assert_uint_eq(w.high, 5);
	ck_assert_uint_eq(w.bitmap, 1);
	ck_assert(!akm_asr_window_check(&w, 5, true));
	ck_assert(akm_asr_window_check(&w, 3, true));
	ck_assert_uint_eq(w.bitmap, 0x5);
	ck_assert(!akm_asr_window_check(&w, 3, false));
	ck_assert(akm_asr_window_check(&w, 4, false));
	ck_assert(akm_asr_window_check(&w, 1, true));
	ck_assert(!akm_asr_window_check(&w, 0, true));
	/* Forward by 2: the old bits move. */
	ck_assert(akm_asr_window_check(&w, 7, true));
	ck_assert_uint_eq(w.high, 7);
	ck_assert_uint_eq(w.bitmap, (0x15ULL << 2) | 1);
	/* The window's edge: high - 63 is still in it, high - 64 is not. */
	ck_assert(akm_asr_window_check(&w, 100, true));
	ck_assert(akm_asr_window_check(&w, 37, false));
	ck_assert(!akm_asr_window_check(&w, 36, false));
	ck_assert(akm_asr_window_check(&w, 37, true));
	ck_assert_uint_eq(w.bitmap, 0x8000000000000001ULL);
	ck_assert(!akm_asr_window_check(&w, 37, true));
	/* A jump of exactly 64 clears everything; high - 63 = 101 is new. */
	ck_assert(akm_asr_window_check(&w, 164, true));
	ck_assert_uint_eq(w.bitmap, 1);
	ck_assert(akm_asr_window_check(&w, 101, false));
	ck_assert(!akm_asr_window_check(&w, 100, false));
	/* A jump of 63 keeps the old high as bit 63. */
	ck_assert(akm_asr_window_check(&w, 227, true));
	ck_assert_uint_eq(w.bitmap, 0x8000000000000001ULL);
	ck_assert(!akm_asr_window_check(&w, 164, false));
	/* The largest sequence number. */
	ck_assert(akm_asr_window_check(&w, UINT64_MAX, true));
	ck_assert(!akm_asr_window_check(&w, UINT64_MAX, true));
	ck_assert(akm_asr_window_check(&w, UINT64_MAX - 63, false));
	ck_assert(!akm_asr_window_check(&w, UINT64_MAX - 64, false));
}
END_TEST

START_TEST(member_hash)
{
	akm_asr_member_hash_ctx c;
	uint8_t got[32], want[32];
	akm_asr_member_hash_init(&c);
	akm_asr_member_hash_add(&c, 0, (const uint8_t *)"node-a", 6);
	akm_asr_member_hash_add(&c, 0x01020304, (const uint8_t *)"b", 1);
	akm_asr_member_hash_final(&c, got);
	static const uint8_t msg[] = "AKM-ASR-1 members"
	                             "\x00\x00\x00\x00\x06node-a"
	                             "\x01\x02\x03\x04\x01"
	                             "b";
	crypto_hash_sha256(want, msg, sizeof msg - 1);
	ck_assert_mem_eq(got, want, 32);
	/* No members: the domain alone. */
	akm_asr_member_hash_init(&c);
	akm_asr_member_hash_final(&c, got);
	crypto_hash_sha256(want, (const uint8_t *)"AKM-ASR-1 members", 17);
	ck_assert_mem_eq(got, want, 32);
}
END_TEST

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	Suite *s = suite_create("lib-fmt-asr");
	TCase *tc = tcase_create("fmt-asr");
	tcase_add_test(tc, package_round_trip);
	tcase_add_test(tc, rekey_round_trip);
	tcase_add_test(tc, message_round_trip);
	tcase_add_test(tc, state_round_trip);
	tcase_add_test(tc, truncations_and_trailing);
	tcase_add_test(tc, package_bad_fields);
	tcase_add_test(tc, rekey_bad_fields);
	tcase_add_test(tc, message_bad_fields);
	tcase_add_test(tc, state_bad_fields);
	tcase_add_test(tc, window);
	tcase_add_test(tc, member_hash);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The audit record hash and chain (src/lib/audit.c): the test vectors of
 * docs/formats.md §3.1 (checked against the page itself), what the hash
 * covers, and each of the chain's three refusals with its sentence. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/audit.h"
#include "lib/hex.h"
#include "testenv.h"

#define H1 "c293faa147522223cb677528b76fd7ba5c657044a60d9378f198e9fcded05ef3"
#define H2 "d08d2af2a1924df812b5477287b1f4e11561541e541ce12d8632b8e3c43ef799"

static const uint8_t rid1[] = {0x00, 0x11, 0x22, 0x33};

/* Record 1: seq 1, time 1700000000, user, create, rid 00112233, result 0,
 * detail "provisioning". */
static akm_audit_entry record1(void)
{
	return (akm_audit_entry){1, 1700000000, "user", 4, "create", 6, rid1, 4, 0, "provisioning", 12};
}

/* Record 2: seq 2, time 1700000060, user, login, no rid, CKR_PIN_INCORRECT,
 * detail "user". */
static akm_audit_entry record2(void)
{
	return (akm_audit_entry){2, 1700000060, "user", 4, "login", 5, NULL, 0, 0xa0, "user", 4};
}

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	size_t n;
	ck_assert_int_eq(akm_hex_decode(hex, out, len, &n), 0);
	ck_assert_uint_eq(n, len);
}

static void hash_hex(const uint8_t prev[AKM_AUDIT_HASH_LEN], const akm_audit_entry *e, char out[65])
{
	uint8_t h[AKM_AUDIT_HASH_LEN];
	akm_audit_hash(prev, e, h);
	akm_hex_encode(h, sizeof h, out);
}

START_TEST(test_vectors)
{
	uint8_t zero[AKM_AUDIT_HASH_LEN] = {0}, h1[AKM_AUDIT_HASH_LEN];
	char hex[65];
	akm_audit_entry e1 = record1(), e2 = record2();
	hash_hex(zero, &e1, hex);
	ck_assert_str_eq(hex, H1);
	unhex(H1, h1, sizeof h1);
	hash_hex(h1, &e2, hex);
	ck_assert_str_eq(hex, H2);
}
END_TEST

/* ---- docs/formats.md §3.1 shows these bytes and hashes ---- */

/* The hex digits of the fenced block that follows `marker` in the page:
 * the last word of each line. */
static int doc_block_after(const char *doc, const char *marker, char *out, size_t cap)
{
	const char *at = strstr(doc, marker);
	if (at == NULL || (at = strstr(at, "```\n")) == NULL)
		return -1;
	at += 4;
	size_t used = 0;
	for (;;) {
		const char *end = strchr(at, '\n');
		if (end == NULL)
			return -1;
		if (strncmp(at, "```", 3) == 0)
			break;
		const char *w = end;
		while (w > at && w[-1] != ' ')
			w--;
		if ((size_t)(end - w) + used + 1 > cap)
			return -1;
		memcpy(out + used, w, (size_t)(end - w));
		used += (size_t)(end - w);
		at = end + 1;
	}
	out[used] = '\0';
	return 0;
}

/* What akm_audit_hash hashes, written out by the test from the format. */
static size_t preimage(const uint8_t prev[32], const akm_audit_entry *e, uint8_t *out)
{
	size_t n = 0;
#define U64(v) do { uint64_t x_ = (uint64_t)(v); for (int i_ = 7; i_ >= 0; i_--) out[n + (size_t)i_] = (uint8_t)x_, x_ >>= 8; n += 8; } while (0)
#define BYTES(p, l) do { if ((l) > 0) memcpy(out + n, (p), (l)); n += (l); } while (0)
	BYTES("AKM-AUDIT-1", 11);
	BYTES(prev, 32);
	U64(e->seq);
	U64(e->time);
	U64(e->actor_len);
	BYTES(e->actor, e->actor_len);
	U64(e->action_len);
	BYTES(e->action, e->action_len);
	U64(e->rid ? e->rid_len : 0);
	BYTES(e->rid, e->rid ? e->rid_len : 0);
	U64(e->result);
	U64(e->detail_len);
	BYTES(e->detail, e->detail_len);
#undef U64
#undef BYTES
	return n;
}

START_TEST(test_docs_show_the_vectors)
{
	char *doc = akm_test_read_source("docs/formats.md");
	if (doc == NULL)
		return; /* run outside meson test: nothing to compare with */

	uint8_t zero[32] = {0}, h1[32], bytes[256];
	char block[1024], want[1024];
	akm_audit_entry e1 = record1(), e2 = record2();
	unhex(H1, h1, sizeof h1);
	size_t n1 = preimage(zero, &e1, bytes);
	ck_assert_uint_eq(n1, 125); /* "The 125 bytes hashed" */
	akm_hex_encode(bytes, n1, want);
	ck_assert_msg(doc_block_after(doc, "**Record 1**", block, sizeof block) == 0, "no block after Record 1");
	ck_assert_str_eq(block, want);
	size_t n2 = preimage(h1, &e2, bytes);
	ck_assert_uint_eq(n2, 112); /* "The 112 bytes hashed" */
	akm_hex_encode(bytes, n2, want);
	ck_assert_msg(doc_block_after(doc, "**Record 2**", block, sizeof block) == 0, "no block after Record 2");
	ck_assert_str_eq(block, want);
	ck_assert_msg(strstr(doc, "hash = `" H1 "`") != NULL, "record 1's hash is not on the page");
	ck_assert_msg(strstr(doc, "hash = `" H2 "`") != NULL, "record 2's hash is not on the page");
	free(doc);
}
END_TEST

START_TEST(test_hash_covers_every_field)
{
	uint8_t zero[32] = {0}, base[32], h[32];
	akm_audit_entry e = record1();
	akm_audit_hash(zero, &e, base);
	/* NULL and empty hash alike, for every text field and the rid. */
	akm_audit_entry a = record2(), b = record2();
	b.rid = (const uint8_t *)"";
	uint8_t ha[32], hb[32];
	akm_audit_hash(zero, &a, ha);
	akm_audit_hash(zero, &b, hb);
	ck_assert_mem_eq(ha, hb, 32);
	a.detail = NULL, a.detail_len = 0;
	b.detail = "", b.detail_len = 0;
	akm_audit_hash(zero, &a, ha);
	akm_audit_hash(zero, &b, hb);
	ck_assert_mem_eq(ha, hb, 32);
	/* A NULL pointer is empty whatever length comes with it. */
	b.detail = NULL, b.detail_len = 9;
	akm_audit_hash(zero, &b, hb);
	ck_assert_mem_eq(ha, hb, 32);

	/* Every field changes the hash. */
	akm_audit_entry v[12];
	for (int i = 0; i < 12; i++)
		v[i] = e;
	v[0].seq = 2;
	v[1].time = 1700000001; /* the page's example: one second */
	v[2].actor = "usex";
	v[3].action = "createX", v[3].action_len = 7;
	v[4].rid_len = 3;
	v[5].rid = NULL;
	v[6].result = 1;
	v[7].detail_len = 11;
	v[8].actor_len = 0;
	v[9].result = 0x100000000ULL; /* all 64 bits count */
	v[10].time = -1;
	v[11].seq = -1;
	for (int i = 0; i < 12; i++) {
		akm_audit_hash(zero, &v[i], h);
		ck_assert_msg(memcmp(h, base, 32) != 0, "change %d does not change the hash", i);
		for (int j = 0; j < i; j++) {
			uint8_t hj[32];
			akm_audit_hash(zero, &v[j], hj);
			ck_assert_msg(memcmp(h, hj, 32) != 0, "changes %d and %d hash alike", i, j);
		}
	}
	uint8_t prev[32] = {0};
	prev[31] = 1;
	akm_audit_hash(prev, &e, h);
	ck_assert(memcmp(h, base, 32) != 0);
	/* Length-prefixed: moving a byte from one field to the next differs. */
	akm_audit_entry x = e, y = e;
	x.actor = "usercreate", x.actor_len = 5, x.action = "reate", x.action_len = 5;
	y.actor = "usercreate", y.actor_len = 4, y.action = "create", y.action_len = 6;
	akm_audit_hash(zero, &x, ha);
	akm_audit_hash(zero, &y, hb);
	ck_assert(memcmp(ha, hb, 32) != 0);
	ck_assert_mem_eq(hb, base, 32);
}
END_TEST

/* ---- the chain ---- */

typedef struct {
	akm_audit_entry e;
	uint8_t prev[32], hash[32];
} row;

/* Three well-chained rows: the vectors and one more. */
static void rows(row r[3])
{
	memset(r, 0, 3 * sizeof *r);
	r[0].e = record1();
	akm_audit_hash(r[0].prev, &r[0].e, r[0].hash);
	r[1].e = record2();
	memcpy(r[1].prev, r[0].hash, 32);
	akm_audit_hash(r[1].prev, &r[1].e, r[1].hash);
	r[2].e = (akm_audit_entry){3, 1700000120, "module", 6, "rollback-detected", 17, NULL, 0, 0x30 /* CKR_DEVICE_ERROR */, NULL, 0};
	memcpy(r[2].prev, r[1].hash, 32);
	akm_audit_hash(r[2].prev, &r[2].e, r[2].hash);
}

static int next(akm_audit_chain *c, const row *r, char *why, size_t whylen)
{
	return akm_audit_chain_next(c, &r->e, r->prev, 32, r->hash, 32, why, whylen);
}

START_TEST(test_chain_accepts)
{
	row r[3];
	rows(r);
	akm_audit_chain c;
	memset(&c, 0x5a, sizeof c);
	akm_audit_chain_init(&c);
	ck_assert_int_eq(c.records, 0);
	uint8_t zero[32] = {0};
	ck_assert_mem_eq(c.last, zero, 32);
	char why[128] = "";
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(next(&c, &r[i], why, sizeof why) == 0, "record %d: %s", i + 1, why);
		ck_assert_int_eq(c.records, i + 1);
		ck_assert_mem_eq(c.last, r[i].hash, 32);
	}
	uint8_t h2[32];
	unhex(H2, h2, 32);
	ck_assert_mem_eq(r[1].hash, h2, 32);
}
END_TEST

/* A refusal: -1, exactly that sentence, and the chain as it was. */
static void assert_refused(akm_audit_chain *c, const akm_audit_entry *e, const uint8_t *prev, size_t prev_len,
                           const uint8_t *hash, size_t hash_len, const char *sentence)
{
	akm_audit_chain before = *c;
	char why[128];
	memset(why, 'X', sizeof why);
	ck_assert_int_eq(akm_audit_chain_next(c, e, prev, prev_len, hash, hash_len, why, sizeof why), -1);
	ck_assert_str_eq(why, sentence);
	ck_assert_int_eq(c->records, before.records);
	ck_assert_mem_eq(c->last, before.last, 32);
}

START_TEST(test_chain_missing_record)
{
	row r[3];
	rows(r);
	akm_audit_chain c;
	akm_audit_chain_init(&c);
	/* The first record missing; then, after record 1, record 2 missing. */
	assert_refused(&c, &r[1].e, r[1].prev, 32, r[1].hash, 32, "audit record 1 is missing (found 2 next)");
	char why[128];
	ck_assert_int_eq(next(&c, &r[0], why, sizeof why), 0);
	assert_refused(&c, &r[2].e, r[2].prev, 32, r[2].hash, 32, "audit record 2 is missing (found 3 next)");
	/* Record 1 again, a record 0, a negative number. */
	assert_refused(&c, &r[0].e, r[0].prev, 32, r[0].hash, 32, "audit record 2 is missing (found 1 next)");
	akm_audit_entry e = r[1].e;
	e.seq = 0;
	assert_refused(&c, &e, r[1].prev, 32, r[1].hash, 32, "audit record 2 is missing (found 0 next)");
	e.seq = -5;
	assert_refused(&c, &e, r[1].prev, 32, r[1].hash, 32, "audit record 2 is missing (found -5 next)");
	/* The chain still takes the right one. */
	ck_assert_int_eq(next(&c, &r[1], why, sizeof why), 0);
	ck_assert_int_eq(c.records, 2);
}
END_TEST

START_TEST(test_chain_does_not_follow)
{
	row r[3];
	rows(r);
	akm_audit_chain c;
	akm_audit_chain_init(&c);
	char why[128];
	/* Record 1 must link to zeros. */
	uint8_t bad[33];
	memset(bad, 0, sizeof bad);
	bad[5] = 1;
	assert_refused(&c, &r[0].e, bad, 32, r[0].hash, 32,
	               "audit record 1 does not follow record 0 (removed or reordered)");
	ck_assert_int_eq(next(&c, &r[0], why, sizeof why), 0);
	/* Record 2 whose prev is not record 1's hash: a record removed in
	 * between, or the rows reordered. */
	memcpy(bad, r[1].prev, 32);
	bad[31] ^= 0x80;
	const char *s2 = "audit record 2 does not follow record 1 (removed or reordered)";
	assert_refused(&c, &r[1].e, bad, 32, r[1].hash, 32, s2);
	/* A stored prev of the wrong length (with the right bytes first), or none. */
	memcpy(bad, r[1].prev, 32);
	bad[32] = 0;
	assert_refused(&c, &r[1].e, bad, 33, r[1].hash, 32, s2);
	assert_refused(&c, &r[1].e, bad, 31, r[1].hash, 32, s2);
	assert_refused(&c, &r[1].e, bad, 0, r[1].hash, 32, s2);
	assert_refused(&c, &r[1].e, NULL, 32, r[1].hash, 32, s2);
	/* Checked before the hash: a record both unlinked and altered says
	 * it does not follow. */
	akm_audit_entry e = r[1].e;
	e.time++;
	memcpy(bad, r[1].prev, 32);
	bad[0] ^= 1;
	assert_refused(&c, &e, bad, 32, r[1].hash, 32, s2);
	ck_assert_int_eq(next(&c, &r[1], why, sizeof why), 0);
}
END_TEST

START_TEST(test_chain_altered)
{
	row r[3];
	rows(r);
	akm_audit_chain c;
	akm_audit_chain_init(&c);
	char why[128];
	/* docs/formats.md: record 1's time changed by one second. */
	akm_audit_entry e = r[0].e;
	e.time++;
	const char *s1 = "audit record 1 was altered";
	assert_refused(&c, &e, r[0].prev, 32, r[0].hash, 32, s1);
	e = r[0].e;
	e.detail = "operational", e.detail_len = 11;
	assert_refused(&c, &e, r[0].prev, 32, r[0].hash, 32, s1);
	e = r[0].e;
	e.result = 5; /* CKR_GENERAL_ERROR */
	assert_refused(&c, &e, r[0].prev, 32, r[0].hash, 32, s1);
	/* The stored hash itself changed, cut, lengthened or missing. */
	uint8_t bad[33];
	memcpy(bad, r[0].hash, 32);
	bad[31] ^= 1;
	assert_refused(&c, &r[0].e, r[0].prev, 32, bad, 32, s1);
	memcpy(bad, r[0].hash, 32);
	bad[32] = 0;
	assert_refused(&c, &r[0].e, r[0].prev, 32, bad, 33, s1);
	assert_refused(&c, &r[0].e, r[0].prev, 32, bad, 31, s1);
	assert_refused(&c, &r[0].e, r[0].prev, 32, bad, 0, s1);
	assert_refused(&c, &r[0].e, r[0].prev, 32, NULL, 32, s1);
	ck_assert_int_eq(next(&c, &r[0], why, sizeof why), 0);
	/* Further along the chain the sentence names that record. */
	e = r[1].e;
	e.action = "logout", e.action_len = 6;
	assert_refused(&c, &e, r[1].prev, 32, r[1].hash, 32, "audit record 2 was altered");
}
END_TEST

START_TEST(test_chain_short_why)
{
	row r[3];
	rows(r);
	akm_audit_chain c;
	akm_audit_chain_init(&c);
	char why[10];
	memset(why, 'X', sizeof why);
	ck_assert_int_eq(next(&c, &r[1], why, sizeof why), -1);
	ck_assert_str_eq(why, "audit rec"); /* cut, terminated */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-audit");
	TCase *hash = tcase_create("hash");
	tcase_add_test(hash, test_vectors);
	tcase_add_test(hash, test_docs_show_the_vectors);
	tcase_add_test(hash, test_hash_covers_every_field);
	suite_add_tcase(s, hash);
	TCase *chain = tcase_create("chain");
	tcase_add_test(chain, test_chain_accepts);
	tcase_add_test(chain, test_chain_missing_record);
	tcase_add_test(chain, test_chain_does_not_follow);
	tcase_add_test(chain, test_chain_altered);
	tcase_add_test(chain, test_chain_short_why);
	suite_add_tcase(s, chain);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The station's side of operational ASRs with a key tree (docs/asr.md §2,
 * §4), through the module (dlopen, the vendor header only):
 * CKM_AKM_ASR_GEN, _PACKAGE, _UPDATE (add, remove, rekey) and
 * _REKEY_MESSAGE.
 *
 * The members' PRs are made for passphrase delivery, so that the test can
 * export each PR's encryption key under a key it knows and, with OpenSSL,
 * act as every member: unwrap its package's path to the group key, apply
 * a rekey message, and check that a removed member's old keys open nothing
 * the message carries.  The packages and messages are parsed with
 * src/lib/fmt-asr.c.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"
#include "openssl-check.h"
#include "akm/pkcs11-akm.h"
#include "lib/fmt-asr.h"

static it_ctx t;
static char registry[PATH_MAX + 16];

static void setup(void)
{
	it_setup_env(&t, "akm-asr-station");
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	it_open(&t);
}

static void teardown(void) { it_close(&t); }

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
static CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING, kind_op = CKV_AKM_KIND_OPERATIONAL;
static CK_ULONG delivery_pass = CKV_AKM_DELIVERY_PASSPHRASE;
static const CK_BYTE pass_key[32] = {0x70, 0x61, 0x73, 0x73}; /* the known export key */
#define STATION "nmm-test"

/* ---- helpers ------------------------------------------------------------------ */

static CK_RV make_pr(const char *node, CK_OBJECT_HANDLE *h)
{
	char label[64];
	snprintf(label, sizeof label, "pr-%s-%ld", node, (long)rand());
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
		{CKA_AKM_PEER_NODE, (void *)node, strlen(node)},
		{CKA_AKM_HW_BINDING, "hw-1", 4},
		{CKA_AKM_DELIVERY, &delivery_pass, sizeof delivery_pass},
		{CKA_LABEL, label, strlen(label)},
	};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 5, h);
}

static CK_ULONG get_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	return v;
}

static CK_RV set_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	return t.f->C_SetAttributeValue(t.s, h, &a, 1);
}

static size_t get_bytes(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_BYTE *buf, size_t cap)
{
	CK_ATTRIBUTE a = {type, buf, cap};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	return a.ulValueLen;
}

/* The PR's encryption key in plain (exported under pass_key, unwrapped
 * with OpenSSL). */
static void pr_key(CK_OBJECT_HANDLE pr, CK_BYTE key[32])
{
	CK_MECHANISM m;
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_PASSPHRASE, (CK_BYTE_PTR)pass_key, 32, NULL, 0};
	m.mechanism = CKM_AKM_EXPORT_WRAP;
	m.pParameter = &p;
	m.ulParameterLen = sizeof p;
	CK_BYTE out[80];
	CK_ULONG len = sizeof out;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &m, CK_INVALID_HANDLE, pr, out, &len), CKR_OK);
	CK_BYTE plain[64];
	ck_assert_int_eq(it_unwrap_kwp(pass_key, out, 40, plain), 32);
	memcpy(key, plain, 32);
}

typedef struct member {
	char id[40];
	CK_OBJECT_HANDLE pr;
	CK_BYTE pr_key[32];
	/* what the member holds: its path's keys, node -> key */
	uint32_t nodes[AKM_ASR_DEPTH_MAX + 1];
	CK_BYTE keys[AKM_ASR_DEPTH_MAX + 1][32];
	unsigned nkeys;
} member;

static void make_members(member *m, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof m[i]);
		snprintf(m[i].id, sizeof m[i].id, "%s%zu", prefix, i);
		ck_assert_int_eq(make_pr(m[i].id, &m[i].pr), CKR_OK);
		pr_key(m[i].pr, m[i].pr_key);
	}
}

static CK_RV gen_asr(const char *label, member *m, size_t n, const CK_AKM_ASR_POLICY *pol, CK_OBJECT_HANDLE *h)
{
	CK_BYTE_PTR ids[64];
	CK_ULONG lens[64];
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++) {
		ids[i] = (CK_BYTE_PTR)m[i].id;
		lens[i] = strlen(m[i].id);
	}
	CK_AKM_ASR_GEN_PARAMS p;
	memset(&p, 0, sizeof p);
	if (pol != NULL)
		p.policy = *pol;
	p.ulMemberCount = n;
	p.ppMembers = ids;
	p.pulMemberLens = lens;
	CK_MECHANISM mech = {CKM_AKM_ASR_GEN, &p, sizeof p};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_op, sizeof kind_op},
		{CKA_AKM_STATION_ID, STATION, strlen(STATION)},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	return t.f->C_GenerateKey(t.s, &mech, tmpl, 3, h);
}

static CK_RV package(CK_OBJECT_HANDLE asr, const char *id, CK_BYTE *out, CK_ULONG *len)
{
	CK_AKM_ASR_MEMBER_PARAMS p = {(CK_BYTE_PTR)id, strlen(id)};
	CK_MECHANISM m = {CKM_AKM_ASR_PACKAGE, &p, sizeof p};
	return t.f->C_WrapKey(t.s, &m, CK_INVALID_HANDLE, asr, out, len);
}

static CK_RV update(CK_OBJECT_HANDLE asr, CK_ULONG op, const char *id)
{
	CK_AKM_ASR_UPDATE_PARAMS p = {op, (CK_BYTE_PTR)id, id ? strlen(id) : 0};
	CK_MECHANISM m = {CKM_AKM_ASR_UPDATE, &p, sizeof p};
	CK_OBJECT_HANDLE out = 0;
	CK_RV rv = t.f->C_DeriveKey(t.s, &m, asr, NULL, 0, &out);
	if (rv == CKR_OK)
		ck_assert_uint_eq(out, asr);
	return rv;
}

static CK_RV rekey_message(CK_OBJECT_HANDLE asr, CK_BYTE *out, CK_ULONG *len)
{
	CK_MECHANISM m = {CKM_AKM_ASR_REKEY_MESSAGE, NULL, 0};
	return t.f->C_WrapKey(t.s, &m, CK_INVALID_HANDLE, asr, out, len);
}

/* The package of member `mb`: fetched (length query exact), parsed, its
 * fields checked, its path unwrapped with OpenSSL from the PR key up; the
 * member now holds those keys, and root gets the group key. */
static void enroll(CK_OBJECT_HANDLE asr, member *mb, akm_asr_package *p, CK_BYTE root[32])
{
	CK_BYTE buf[2048];
	CK_ULONG need = 0, len = sizeof buf;
	ck_assert_int_eq(package(asr, mb->id, NULL, &need), CKR_OK);
	ck_assert_int_eq(package(asr, mb->id, buf, &len), CKR_OK);
	ck_assert_uint_eq(len, need);
	/* The signed part, then the caller's signature (zeros here). */
	memset(buf + len, 0, AKM_FMT_SIG_LEN);
	size_t signed_len = 0;
	ck_assert_int_eq(akm_asr_package_parse(buf, len + AKM_FMT_SIG_LEN, p, &signed_len), AKM_FMT_OK);
	ck_assert_uint_eq(signed_len, len);
	ck_assert_uint_eq(p->member_id_len, strlen(mb->id));
	ck_assert(memcmp(p->member_id, mb->id, p->member_id_len) == 0);
	CK_BYTE rid[32];
	size_t rl = get_bytes(mb->pr, CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid);
	ck_assert_uint_eq(p->pr_id_len, rl);
	ck_assert(memcmp(p->pr_id, rid, rl) == 0);
	uint32_t cap = 1U << p->head.depth;
	ck_assert_uint_eq(p->head.station_id_len, strlen(STATION));
	ck_assert(memcmp(p->head.station_id, STATION, strlen(STATION)) == 0);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), (CK_ULONG)p->head.gen << 32);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_CAPACITY), cap);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_MEMBER_COUNT), p->head.members);
	CK_BYTE k[32];
	memcpy(k, mb->pr_key, 32);
	mb->nkeys = 0;
	mb->nodes[mb->nkeys] = cap + p->leaf;
	memcpy(mb->keys[mb->nkeys++], k, 32);
	for (unsigned i = 0; i < p->head.depth; i++) {
		ck_assert_uint_eq(p->edges[i].child, (cap + p->leaf) >> i);
		CK_BYTE next[64];
		ck_assert_int_eq(it_unwrap_kwp(k, p->edges[i].wrapped, AKM_ASR_EDGE_LEN, next), 32);
		memcpy(k, next, 32);
		mb->nodes[mb->nkeys] = (cap + p->leaf) >> (i + 1);
		memcpy(mb->keys[mb->nkeys++], k, 32);
	}
	memcpy(root, k, 32);
}

/* The current rekey message, parsed; its edges descending, none twice. */
static void get_rekey(CK_OBJECT_HANDLE asr, akm_asr_rekey *r)
{
	CK_BYTE buf[4096];
	CK_ULONG need = 0, len = sizeof buf;
	ck_assert_int_eq(rekey_message(asr, NULL, &need), CKR_OK);
	ck_assert_int_eq(rekey_message(asr, buf, &len), CKR_OK);
	ck_assert_uint_eq(len, need);
	memset(buf + len, 0, AKM_FMT_SIG_LEN);
	size_t signed_len;
	ck_assert_int_eq(akm_asr_rekey_parse(buf, len + AKM_FMT_SIG_LEN, r, &signed_len), AKM_FMT_OK);
	ck_assert_uint_eq(r->from_gen, r->head.gen - 1);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), (CK_ULONG)r->head.gen << 32);
	for (unsigned i = 1; i < r->nedges; i++)
		ck_assert_uint_gt(r->edges[i - 1].child, r->edges[i].child);
}

/* A member applies a rekey message to the keys it holds (bottom-up: the
 * edges are descending); root gets its group key after.  Returns how many
 * edges it could open. */
static unsigned apply(member *mb, const akm_asr_rekey *r, CK_BYTE root[32])
{
	unsigned opened = 0;
	for (unsigned e = 0; e < r->nedges; e++) {
		uint32_t c = r->edges[e].child;
		for (unsigned i = 0; i < mb->nkeys; i++) {
			if (mb->nodes[i] != c)
				continue;
			CK_BYTE next[64];
			if (it_unwrap_kwp(mb->keys[i], r->edges[e].wrapped, AKM_ASR_EDGE_LEN, next) != 32)
				continue;
			opened++;
			for (unsigned j = 0; j < mb->nkeys; j++)
				if (mb->nodes[j] == c / 2)
					memcpy(mb->keys[j], next, 32);
		}
	}
	for (unsigned i = 0; i < mb->nkeys; i++)
		if (mb->nodes[i] == 1)
			memcpy(root, mb->keys[i], 32);
	return opened;
}

static void member_hash(member *const *m, const uint32_t *leaves, size_t n, uint8_t out[32])
{
	akm_asr_member_hash_ctx h;
	akm_asr_member_hash_init(&h);
	for (size_t i = 0; i < n; i++)
		akm_asr_member_hash_add(&h, leaves[i], (const uint8_t *)m[i]->id, strlen(m[i]->id));
	akm_asr_member_hash_final(&h, out);
}

static int64_t db_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void db_exec(const char *sql)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	char *msg = NULL;
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* Audit records with this action (and this text in the detail). */
static int64_t records(const char *action, const char *detail)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE action = '%s' AND ifnull(detail, '') LIKE '%%%s%%'",
	         action, detail ? detail : "");
	return db_int(sql);
}

/* ---- creation and packages ------------------------------------------------------------ */

START_TEST(test_create_and_packages)
{
	member m[5];
	make_members(m, 5, "node-");
	CK_OBJECT_HANDLE asr;
	ck_assert_int_eq(gen_asr("asr-one", m, 5, NULL, &asr), CKR_OK);
	/* Attributes: generation 1, capacity 16 (the smallest power of two
	 * >= 2 x 5), the policy's defaults, the members in leaf order. */
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 1UL << 32);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_CAPACITY), 16);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_MEMBER_COUNT), 5);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_KIND), CKV_AKM_KIND_OPERATIONAL);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_KEY_PURPOSE), CKV_AKM_PURPOSE_ENCRYPT);
	ck_assert_uint_eq(get_ulong(asr, CKA_KEY_GEN_MECHANISM), CKM_AKM_ASR_GEN);
	CK_AKM_ASR_POLICY pol;
	CK_ATTRIBUTE pa = {CKA_AKM_ASR_POLICY, &pol, sizeof pol};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, asr, &pa, 1), CKR_OK);
	ck_assert_uint_eq(pa.ulValueLen, sizeof pol);
	ck_assert_uint_eq(pol.ulMessageLimit, 1UL << 20);
	ck_assert_uint_eq(pol.ulFailureLimit, 1UL << 14);
	ck_assert_uint_eq(pol.ulCapacity, 16);
	ck_assert_uint_eq(pol.ulPeriod, 0);
	ck_assert_uint_eq(pol.bJoinRekeys, CK_FALSE);
	CK_BYTE members[256], want[256];
	size_t ml = get_bytes(asr, CKA_AKM_MEMBERS, members, sizeof members), wl = 0;
	for (int i = 0; i < 5; i++) {
		want[wl++] = (CK_BYTE)strlen(m[i].id);
		memcpy(want + wl, m[i].id, strlen(m[i].id));
		wl += strlen(m[i].id);
	}
	ck_assert_uint_eq(ml, wl);
	ck_assert(memcmp(members, want, wl) == 0);
	CK_BBOOL b = CK_TRUE;
	CK_ATTRIBUTE ba = {CKA_ENCRYPT, &b, 1};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, asr, &ba, 1), CKR_OK);
	ck_assert_uint_eq(b, CK_FALSE);
	ck_assert_int_eq(records("asr-create", "members 5 capacity 16 generation 1"), 1);

	/* Every member's package: its path, the hash of the member set, its
	 * PR, and every path leads to one group key. */
	member *all[5] = {&m[0], &m[1], &m[2], &m[3], &m[4]};
	uint32_t leaves[5] = {0, 1, 2, 3, 4};
	uint8_t mh[32];
	member_hash(all, leaves, 5, mh);
	CK_BYTE root0[32], root[32];
	for (int i = 0; i < 5; i++) {
		akm_asr_package p;
		enroll(asr, &m[i], &p, i == 0 ? root0 : root);
		ck_assert_uint_eq(p.leaf, (uint32_t)i);
		ck_assert_uint_eq(p.head.gen, 1);
		ck_assert_uint_eq(p.head.step, 0);
		ck_assert_uint_eq(p.head.depth, 4);
		ck_assert_uint_eq(p.head.members, 5);
		ck_assert_str_eq(p.head.label, "asr-one");
		ck_assert(memcmp(p.head.member_hash, mh, 32) == 0);
		ck_assert_uint_eq(p.head.policy.msg_limit, 1UL << 20);
		if (i > 0)
			ck_assert(memcmp(root, root0, 32) == 0);
	}
	/* A length that is too small; not a member; no rekey message at
	 * generation 1. */
	CK_BYTE buf[2048];
	CK_ULONG len = 10;
	ck_assert_int_eq(package(asr, m[0].id, buf, &len), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_gt(len, 10);
	len = sizeof buf;
	ck_assert_int_eq(package(asr, "node-x", buf, &len), CKR_AKM_OTHER_MEMBER);
	len = sizeof buf;
	ck_assert_int_eq(rekey_message(asr, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);

	/* The group key refuses every ordinary use. */
	CK_MECHANISM gcm = {CKM_AES_ECB, NULL, 0}, hmac = {CKM_SHA256_HMAC, NULL, 0};
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, asr), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(t.f->C_DecryptInit(t.s, &gcm, asr), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(t.f->C_SignInit(t.s, &hmac, asr), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE other = it_aes_key(&t, t.s, CK_FALSE);
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &kwp, asr, other, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &kwp, other, asr, buf, &len), CKR_KEY_UNEXTRACTABLE);
	CK_AKM_EXPORT_WRAP_PARAMS ep = {CKV_AKM_EXPORT_PASSPHRASE, (CK_BYTE_PTR)pass_key, 32, NULL, 0};
	CK_MECHANISM em = {CKM_AKM_EXPORT_WRAP, &ep, sizeof ep};
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &em, CK_INVALID_HANDLE, asr, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* Its label is in every package: read-only. */
	CK_ATTRIBUTE la = {CKA_LABEL, "x", 1};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, asr, &la, 1), CKR_ATTRIBUTE_READ_ONLY);
	/* The mechanisms are listed with their flags. */
	CK_MECHANISM_INFO info;
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_ASR_GEN, &info), CKR_OK);
	ck_assert(info.flags & CKF_GENERATE);
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_ASR_PACKAGE, &info), CKR_OK);
	ck_assert(info.flags & CKF_WRAP);
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_ASR_UPDATE, &info), CKR_OK);
	ck_assert(info.flags & CKF_DERIVE);
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_ASR_REKEY_MESSAGE, &info), CKR_OK);
	ck_assert(info.flags & CKF_WRAP);
	/* Destroyed with its tree. */
	ck_assert_int_gt(db_int("SELECT count(*) FROM tree"), 0);
	ck_assert_int_eq(t.f->C_DestroyObject(t.s, asr), CKR_OK);
	ck_assert_int_eq(db_int("SELECT count(*) FROM tree"), 0);
}
END_TEST

/* ---- removal ------------------------------------------------------------------------ */

START_TEST(test_remove)
{
	member m[5];
	make_members(m, 5, "node-");
	CK_OBJECT_HANDLE asr;
	ck_assert_int_eq(gen_asr("asr-remove", m, 5, NULL, &asr), CKR_OK);
	CK_BYTE root1[32], r[32];
	akm_asr_package p;
	for (int i = 0; i < 5; i++)
		enroll(asr, &m[i], &p, root1);
	/* C (leaf 2) goes. */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[2].id), CKR_OK);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 2UL << 32);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_MEMBER_COUNT), 4);
	ck_assert_int_eq(records("asr-remove", "member node-2 leaf 2 generation 2"), 1);
	CK_BYTE buf[2048];
	CK_ULONG len = sizeof buf;
	ck_assert_int_eq(package(asr, m[2].id, buf, &len), CKR_AKM_OTHER_MEMBER);
	akm_asr_rekey msg;
	get_rekey(asr, &msg);
	ck_assert_uint_eq(msg.head.gen, 2);
	ck_assert_uint_eq(msg.head.members, 4);
	ck_assert_uint_eq(msg.nremoved, 1);
	ck_assert_uint_eq(msg.removed[0], 2);
	/* At most 2 x depth - 1 edges (2 x depth + 2 is the target), none
	 * under the removed leaf. */
	ck_assert_uint_le(msg.nedges, 2 * 4 - 1);
	ck_assert_uint_ge(msg.nedges, 1);
	for (unsigned e = 0; e < msg.nedges; e++)
		ck_assert_uint_ne(msg.edges[e].child, 16 + 2);
	/* The removed member's old keys open no edge of the message; each
	 * remaining member gets the new group key from it, which is what its
	 * new package gives and not the old one. */
	member gone = m[2];
	CK_BYTE groot[32] = {0};
	memcpy(groot, root1, 32);
	ck_assert_uint_eq(apply(&gone, &msg, groot), 0);
	ck_assert(memcmp(groot, root1, 32) == 0);
	for (unsigned e = 0; e < msg.nedges; e++)
		for (unsigned i = 0; i < m[2].nkeys; i++) {
			CK_BYTE out[64];
			ck_assert_int_eq(it_unwrap_kwp(m[2].keys[i], msg.edges[e].wrapped, AKM_ASR_EDGE_LEN, out), -1);
		}
	CK_BYTE root2[32];
	for (int i = 0; i < 5; i++) {
		if (i == 2)
			continue;
		ck_assert_uint_ge(apply(&m[i], &msg, r), 1);
		ck_assert(memcmp(r, root1, 32) != 0);
		enroll(asr, &m[i], &p, root2);
		ck_assert(memcmp(r, root2, 32) == 0);
		ck_assert_uint_eq(p.head.gen, 2);
	}
	/* The member hash is of the members left. */
	member *left[4] = {&m[0], &m[1], &m[3], &m[4]};
	uint32_t leaves[4] = {0, 1, 3, 4};
	uint8_t mh[32];
	member_hash(left, leaves, 4, mh);
	ck_assert(memcmp(p.head.member_hash, mh, 32) == 0);
	ck_assert(memcmp(msg.head.member_hash, mh, 32) == 0);
	/* The message stays there to be fetched again. */
	akm_asr_rekey again;
	get_rekey(asr, &again);
	ck_assert_uint_eq(again.nedges, msg.nedges);
	ck_assert(memcmp(again.edges, msg.edges, msg.nedges * sizeof msg.edges[0]) == 0);
	/* Removing down to the last member; the last one stays. */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[2].id), CKR_AKM_OTHER_MEMBER);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[0].id), CKR_OK);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[1].id), CKR_OK);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[4].id), CKR_OK);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[3].id), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 5UL << 32);
	enroll(asr, &m[3], &p, r);
	ck_assert_uint_eq(p.head.members, 1);
	/* Only the last member's path is left in the tree. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM tree"), 5);
}
END_TEST

/* ---- adding and rekeying ------------------------------------------------------------- */

START_TEST(test_add_and_rekey)
{
	member m[6];
	make_members(m, 6, "node-");
	CK_OBJECT_HANDLE asr;
	ck_assert_int_eq(gen_asr("asr-add", m, 5, NULL, &asr), CKR_OK);
	CK_BYTE root[32], r[32];
	akm_asr_package p;
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[1].id), CKR_OK);
	for (int i = 0; i < 5; i++)
		if (i != 1)
			enroll(asr, &m[i], &p, root);
	/* F joins at the first free leaf (1, C's old one); without
	 * bJoinRekeys the generation stays and there is no message. */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_ADD, m[5].id), CKR_OK);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 2UL << 32);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_MEMBER_COUNT), 5);
	ck_assert_int_eq(records("asr-add", "member node-5 leaf 1 generation 2"), 1);
	CK_BYTE buf[4096];
	CK_ULONG len = sizeof buf;
	ck_assert_int_eq(rekey_message(asr, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	enroll(asr, &m[5], &p, r);
	ck_assert_uint_eq(p.leaf, 1);
	ck_assert(memcmp(r, root, 32) == 0);
	/* The others' packages still lead to the same key. */
	enroll(asr, &m[0], &p, r);
	ck_assert(memcmp(r, root, 32) == 0);
	/* REKEY: a fresh group key, 1-2 edges (the root's children). */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REKEY, NULL), CKR_OK);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 3UL << 32);
	ck_assert_int_eq(records("asr-rekey", "generation 3"), 1);
	akm_asr_rekey msg;
	get_rekey(asr, &msg);
	ck_assert_uint_ge(msg.nedges, 1);
	ck_assert_uint_le(msg.nedges, 2);
	ck_assert_uint_eq(msg.nremoved, 0);
	for (unsigned e = 0; e < msg.nedges; e++)
		ck_assert(msg.edges[e].child == 2 || msg.edges[e].child == 3);
	CK_BYTE root3[32];
	for (int i = 0; i < 6; i++) {
		if (i == 1)
			continue;
		ck_assert_uint_eq(apply(&m[i], &msg, r), 1);
		ck_assert(memcmp(r, root, 32) != 0);
		if (i == 0)
			memcpy(root3, r, 32);
		ck_assert(memcmp(r, root3, 32) == 0);
	}

	/* With bJoinRekeys an addition makes a generation and a message. */
	member n[3];
	make_members(n, 3, "join-");
	CK_AKM_ASR_POLICY pol = {60, 30, 1000, 10, 8, CK_TRUE};
	CK_OBJECT_HANDLE asr2;
	ck_assert_int_eq(gen_asr("asr-join", n, 2, &pol, &asr2), CKR_OK);
	ck_assert_uint_eq(get_ulong(asr2, CKA_AKM_ASR_CAPACITY), 8);
	CK_BYTE j1[32];
	enroll(asr2, &n[0], &p, j1);
	ck_assert_uint_eq(p.head.policy.period, 60);
	ck_assert_uint_eq(p.head.policy.join_rekeys, 1);
	enroll(asr2, &n[1], &p, j1);
	ck_assert_int_eq(update(asr2, CKV_AKM_ASR_ADD, n[2].id), CKR_OK);
	ck_assert_uint_eq(get_ulong(asr2, CKA_AKM_EPOCH), 2UL << 32);
	get_rekey(asr2, &msg);
	ck_assert_uint_eq(msg.nremoved, 0);
	ck_assert_uint_le(msg.nedges, 2 * 3);
	CK_BYTE j2[32];
	enroll(asr2, &n[2], &p, j2);
	ck_assert_uint_eq(p.leaf, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_ge(apply(&n[i], &msg, r), 1);
		ck_assert(memcmp(r, j2, 32) == 0);
		ck_assert(memcmp(r, j1, 32) != 0);
	}
}
END_TEST

/* ---- refusals, each changing nothing -------------------------------------------------- */

static int64_t footprint(void)
{
	return db_int("SELECT (SELECT count(*) FROM tree) * 1000000 + (SELECT count(*) FROM relationship) * 1000"
	              " + (SELECT ifnull(sum(epoch >> 32), 0) FROM relationship)");
}

START_TEST(test_refusals)
{
	member m[6];
	make_members(m, 6, "node-");
	CK_OBJECT_HANDLE asr, h;
	CK_AKM_ASR_POLICY pol4 = {0, 0, 0, 0, 4, CK_FALSE};
	ck_assert_int_eq(gen_asr("asr-full", m, 4, &pol4, &asr), CKR_OK);
	CK_OBJECT_HANDLE asr8;
	ck_assert_int_eq(gen_asr("asr-room", m, 2, NULL, &asr8), CKR_OK);
	int64_t before = footprint();
	/* Parameters. */
	CK_BYTE_PTR ids[3] = {(CK_BYTE_PTR)m[0].id, (CK_BYTE_PTR)m[1].id, (CK_BYTE_PTR)m[0].id};
	CK_ULONG lens[3] = {strlen(m[0].id), strlen(m[1].id), strlen(m[0].id)};
	CK_AKM_ASR_GEN_PARAMS gp = {{0}, 3, ids, lens};
	CK_MECHANISM gm = {CKM_AKM_ASR_GEN, &gp, sizeof gp};
	CK_ATTRIBUTE tmpl[] = {{CKA_AKM_STATION_ID, STATION, strlen(STATION)}, {CKA_LABEL, "r", 1}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID); /* duplicate */
	gp.ulMemberCount = 1;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID); /* one member */
	gp.ulMemberCount = 2;
	lens[1] = 0;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID);
	lens[1] = 33;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID);
	lens[1] = strlen(m[1].id);
	CK_AKM_ASR_POLICY bad[] = {
		{0, 86401, 0, 0, 0, CK_FALSE}, {0, 0, (1UL << 20) + 1, 0, 0, CK_FALSE},
		{0, 0, 0, (1UL << 20) + 1, 0, CK_FALSE}, {0, 0, 0, 0, 3, CK_FALSE}, {0, 0, 0, 0, 2, CK_FALSE},
		{0, 0, 0, 0, 1UL << 18, CK_FALSE}, {0, 0, 0, 0, 0, 2},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		gp.policy = bad[i];
		ck_assert_msg(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h) == CKR_MECHANISM_PARAM_INVALID, "policy %zu", i);
	}
	gp.policy = pol4;
	gm.ulParameterLen = sizeof gp - 1;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID);
	gm.pParameter = NULL;
	gm.ulParameterLen = 0;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID);
	gm.pParameter = &gp;
	gm.ulParameterLen = sizeof gp;
	/* More members than the capacity. */
	CK_BYTE_PTR ids5[5];
	CK_ULONG lens5[5];
	for (int i = 0; i < 5; i++) {
		ids5[i] = (CK_BYTE_PTR)m[i].id;
		lens5[i] = strlen(m[i].id);
	}
	CK_AKM_ASR_GEN_PARAMS gp5 = {pol4, 5, ids5, lens5};
	CK_MECHANISM gm5 = {CKM_AKM_ASR_GEN, &gp5, sizeof gp5};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm5, tmpl, 2, &h), CKR_MECHANISM_PARAM_INVALID);
	/* The template: members belong in the parameter; a station ID is
	 * needed; a label that a package cannot carry. */
	CK_BYTE mlist[] = {1, 'a', 1, 'b'};
	CK_ATTRIBUTE with_members[] = {{CKA_AKM_STATION_ID, STATION, strlen(STATION)}, {CKA_AKM_MEMBERS, mlist, 4}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, with_members, 2, &h), CKR_TEMPLATE_INCONSISTENT);
	CK_ATTRIBUTE no_station[] = {{CKA_LABEL, "r", 1}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, no_station, 1, &h), CKR_TEMPLATE_INCOMPLETE);
	char longl[80];
	memset(longl, 'l', sizeof longl);
	CK_ATTRIBUTE long_label[] = {{CKA_AKM_STATION_ID, STATION, strlen(STATION)}, {CKA_LABEL, longl, 65}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, long_label, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ULONG pr_kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE as_pr[] = {{CKA_AKM_STATION_ID, STATION, strlen(STATION)}, {CKA_AKM_KIND, &pr_kind, sizeof pr_kind}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, as_pr, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	/* A member without a usable PR: none, revoked, suspended, two. */
	CK_BYTE_PTR idn[2] = {(CK_BYTE_PTR)m[0].id, (CK_BYTE_PTR)"nobody"};
	CK_ULONG ln[2] = {strlen(m[0].id), 6};
	CK_AKM_ASR_GEN_PARAMS gpn = {{0}, 2, idn, ln};
	CK_MECHANISM gmn = {CKM_AKM_ASR_GEN, &gpn, sizeof gpn};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gmn, tmpl, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(m[5].pr, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);
	idn[1] = (CK_BYTE_PTR)m[5].id;
	ln[1] = strlen(m[5].id);
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gmn, tmpl, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(update(asr8, CKV_AKM_ASR_ADD, m[5].id), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(update(asr8, CKV_AKM_ASR_ADD, "nobody"), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(m[5].pr, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gmn, tmpl, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_OBJECT_HANDLE second;
	ck_assert_int_eq(make_pr(m[4].id, &second), CKR_OK); /* node-4 has two now */
	idn[1] = (CK_BYTE_PTR)m[4].id;
	ln[1] = strlen(m[4].id);
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gmn, tmpl, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(update(asr8, CKV_AKM_ASR_ADD, m[4].id), CKR_ATTRIBUTE_VALUE_INVALID);
	int64_t with_second = footprint();
	ck_assert_int_eq(with_second, before + 1000);
	/* Updates. */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, "node-x"), CKR_AKM_OTHER_MEMBER);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_ADD, m[0].id), CKR_MECHANISM_PARAM_INVALID); /* a member */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_ADD, m[4].id), CKR_MECHANISM_PARAM_INVALID); /* full */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_ADD, "nobody"), CKR_MECHANISM_PARAM_INVALID); /* full first */
	ck_assert_int_eq(update(asr, 9, m[0].id), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REKEY, m[0].id), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, NULL), CKR_MECHANISM_PARAM_INVALID);
	CK_AKM_ASR_UPDATE_PARAMS up = {CKV_AKM_ASR_REKEY, NULL, 0};
	CK_MECHANISM um = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
	CK_ULONG len32 = 32;
	CK_ATTRIBUTE utmpl[] = {{CKA_VALUE_LEN, &len32, sizeof len32}};
	ck_assert_int_eq(t.f->C_DeriveKey(t.s, &um, asr, utmpl, 1, &h), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_int_eq(t.f->C_DeriveKey(t.s, &um, m[0].pr, NULL, 0, &h), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* Packages: another key, a wrapping key named, a bad parameter. */
	CK_BYTE buf[2048];
	CK_ULONG len = sizeof buf;
	ck_assert_int_eq(package(m[0].pr, m[0].id, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_AKM_ASR_MEMBER_PARAMS mp = {(CK_BYTE_PTR)m[0].id, strlen(m[0].id)};
	CK_MECHANISM pm = {CKM_AKM_ASR_PACKAGE, &mp, sizeof mp};
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &pm, m[0].pr, asr, buf, &len), CKR_WRAPPING_KEY_HANDLE_INVALID);
	mp.ulMemberLen = 0;
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &pm, CK_INVALID_HANDLE, asr, buf, &len), CKR_MECHANISM_PARAM_INVALID);
	CK_MECHANISM rm = {CKM_AKM_ASR_REKEY_MESSAGE, &mp, sizeof mp};
	len = sizeof buf;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &rm, CK_INVALID_HANDLE, asr, buf, &len), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(footprint(), with_second);
	/* A suspended ASR does nothing. */
	ck_assert_int_eq(set_ulong(asr, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);
	len = sizeof buf;
	ck_assert_int_eq(package(asr, m[0].id, buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REKEY, NULL), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(footprint(), with_second);

	/* The older kind of operational relationship keeps its rules and its
	 * uses; the station mechanisms refuse it. */
	CK_ULONG op = CKV_AKM_KIND_OPERATIONAL;
	CK_ATTRIBUTE old_none[] = {{CKA_AKM_KIND, &op, sizeof op}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, old_none, 1, &h), CKR_TEMPLATE_INCOMPLETE);
	CK_BYTE one[] = {1, 'a'};
	CK_ATTRIBUTE old_one[] = {{CKA_AKM_KIND, &op, sizeof op}, {CKA_AKM_MEMBERS, one, 2}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, old_one, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE old_ok[] = {{CKA_AKM_KIND, &op, sizeof op}, {CKA_AKM_MEMBERS, mlist, 4}, {CKA_LABEL, "old", 3}};
	CK_OBJECT_HANDLE old;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, old_ok, 3, &old), CKR_OK);
	CK_BYTE got[8];
	ck_assert_uint_eq(get_bytes(old, CKA_AKM_MEMBERS, got, sizeof got), 4);
	ck_assert(memcmp(got, mlist, 4) == 0);
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &ecb, old), CKR_OK);
	CK_BYTE in[16] = {0}, ct[16];
	CK_ULONG ctl = sizeof ct;
	ck_assert_int_eq(t.f->C_Encrypt(t.s, in, 16, ct, &ctl), CKR_OK);
	len = sizeof buf;
	ck_assert_int_eq(package(old, "a", buf, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(update(old, CKV_AKM_ASR_REKEY, NULL), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_ATTRIBUTE cap = {CKA_AKM_ASR_CAPACITY, NULL, 0};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, old, &cap, 1), CKR_ATTRIBUTE_TYPE_INVALID);
}
END_TEST

/* ---- the tree rows tampered with -------------------------------------------------------- */

/* One edit of the registry's tree, then a package of a member whose path
 * it touches: CKR_DEVICE_ERROR and a tamper record. */
static void tamper_case(const char *sql, const char *victim, CK_RV want)
{
	member m[5];
	make_members(m, 5, "node-");
	CK_OBJECT_HANDLE asr;
	ck_assert_int_eq(gen_asr("asr-tamper", m, 5, NULL, &asr), CKR_OK);
	CK_BYTE buf[2048];
	CK_ULONG len = sizeof buf;
	ck_assert_int_eq(package(asr, victim, buf, &len), CKR_OK);
	int64_t tampers = records("tamper-detected", "");
	db_exec(sql);
	len = sizeof buf;
	ck_assert_msg(package(asr, victim, buf, &len) == want, "%s", sql);
	if (want == CKR_DEVICE_ERROR)
		ck_assert_int_gt(records("tamper-detected", ""), tampers);
}

START_TEST(test_tamper_swap_blobs)
{
	/* Capacity 16: node-0's path is 16, 8, 4, 2, 1; node 8's and node 9's
	 * key blobs swapped (node-2's path is 18, 9, 4, ...). */
	tamper_case("UPDATE tree SET key = CASE idx WHEN 8 THEN (SELECT key FROM tree WHERE idx = 9)"
	            " ELSE (SELECT key FROM tree WHERE idx = 8) END WHERE idx IN (8, 9)",
	            "node-0", CKR_DEVICE_ERROR);
}
END_TEST

START_TEST(test_tamper_row_deleted)
{
	tamper_case("DELETE FROM tree WHERE idx = 4", "node-0", CKR_DEVICE_ERROR);
}
END_TEST

START_TEST(test_tamper_up_changed)
{
	tamper_case("UPDATE tree SET up = zeroblob(40) WHERE idx = 8", "node-1", CKR_DEVICE_ERROR);
}
END_TEST

START_TEST(test_tamper_up_swapped_between_asrs)
{
	/* An edge moved from one row to another (its sibling's): the MAC. */
	tamper_case("UPDATE tree SET up = (SELECT up FROM tree WHERE idx = 17) WHERE idx = 16", "node-0",
	            CKR_DEVICE_ERROR);
}
END_TEST

/* A removal whose sibling's key blob was swapped: refused, nothing
 * changed. */
START_TEST(test_tamper_at_update)
{
	member m[5];
	make_members(m, 5, "node-");
	CK_OBJECT_HANDLE asr;
	ck_assert_int_eq(gen_asr("asr-tamper-u", m, 5, NULL, &asr), CKR_OK);
	db_exec("UPDATE tree SET up = zeroblob(40) WHERE idx = 17"); /* node-1's leaf, node-0's sibling */
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, m[0].id), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_EPOCH), 1UL << 32);
	ck_assert_int_gt(records("tamper-detected", "tree row"), 0);
}
END_TEST

/* ---- scale ----------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_thousand_members)
{
	enum { N = 1000 };
	static char ids[N][16];
	static CK_ATTRIBUTE tmpls[N][4];
	static CK_ATTRIBUTE_PTR tp[N];
	static CK_ULONG counts[N];
	static CK_OBJECT_HANDLE prs[N];
	static CK_BYTE_PTR mids[N];
	static CK_ULONG mlens[N];
	static char labels[N][24];
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "n%04d", i);
		snprintf(labels[i], sizeof labels[i], "scale-pr-%04d", i);
		tmpls[i][0] = (CK_ATTRIBUTE){CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
		tmpls[i][1] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, ids[i], strlen(ids[i])};
		tmpls[i][2] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, "hw", 2};
		tmpls[i][3] = (CK_ATTRIBUTE){CKA_LABEL, labels[i], strlen(labels[i])};
		tp[i] = tmpls[i];
		counts[i] = 4;
		mids[i] = (CK_BYTE_PTR)ids[i];
		mlens[i] = strlen(ids[i]);
	}
	CK_AKM_BATCH_GEN_PARAMS bp = {N, tp, counts, prs};
	CK_MECHANISM bm = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &bp, sizeof bp};
	CK_OBJECT_HANDLE first;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &bm, NULL, 0, &first), CKR_OK);
	CK_AKM_ASR_GEN_PARAMS gp;
	memset(&gp, 0, sizeof gp);
	gp.ulMemberCount = N;
	gp.ppMembers = mids;
	gp.pulMemberLens = mlens;
	CK_MECHANISM gm = {CKM_AKM_ASR_GEN, &gp, sizeof gp};
	CK_ATTRIBUTE tmpl[] = {{CKA_AKM_STATION_ID, STATION, strlen(STATION)}, {CKA_LABEL, "asr-1000", 8}};
	CK_OBJECT_HANDLE asr;
	double t0 = now_s();
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &gm, tmpl, 2, &asr), CKR_OK);
	double t1 = now_s();
	CK_BYTE buf[2048];
	for (int i = 0; i < N; i++) {
		CK_ULONG len = sizeof buf;
		ck_assert_int_eq(package(asr, ids[i], buf, &len), CKR_OK);
	}
	double t2 = now_s();
	ck_assert_int_eq(update(asr, CKV_AKM_ASR_REMOVE, ids[N / 2]), CKR_OK);
	double t3 = now_s();
	akm_asr_rekey msg;
	get_rekey(asr, &msg);
	double t4 = now_s();
	/* capacity 2048, depth 11: at most 2 x 11 - 1 edges; the target
	 * 2 x ceil(log2 n) + 2 = 22. */
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_ASR_CAPACITY), 2048);
	ck_assert_uint_le(msg.nedges, 2 * 11 - 1);
	for (unsigned e = 0; e < msg.nedges; e++)
		ck_assert_uint_ne(msg.edges[e].child, 2048 + N / 2);
	fprintf(stderr, "asr-station: members=%d create_s=%.3f packages_s=%.3f remove_s=%.3f message_s=%.4f edges=%u\n",
	        N, t1 - t0, t2 - t1, t3 - t2, t4 - t3, msg.nedges);
}
END_TEST

int main(void)
{
	srand((unsigned)time(NULL));
	Suite *s = suite_create("asr-station");
	TCase *tc = tcase_create("station");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_create_and_packages);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_add_and_rekey);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_tamper_swap_blobs);
	tcase_add_test(tc, test_tamper_row_deleted);
	tcase_add_test(tc, test_tamper_up_changed);
	tcase_add_test(tc, test_tamper_up_swapped_between_asrs);
	tcase_add_test(tc, test_tamper_at_update);
	tcase_add_test(tc, test_thousand_members);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

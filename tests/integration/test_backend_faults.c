/*
 * Backend failures in the middle of an operation (issue 8, item 8).
 *
 * akm-pkcs11 runs on the fault-injecting wrapper (tests/support/
 * fault-backend.h), which forwards to a real SoftHSM2 token and fails the
 * calls a test arms.  Each case asserts:
 *   - a clear CKR_* from the module (named in the case);
 *   - no leak: the backend session objects created through the wrapper are
 *     as many afterwards as before (memory leaks are the ASan and valgrind
 *     runs' part);
 *   - the registry unchanged: its relationship and key rows and its
 *     generation, read with sqlite3, are byte for byte what they were; the
 *     audit records a failure writes are asserted where the module writes
 *     one;
 *   - where it makes sense, that the same operation works once the fault
 *     is gone.
 */
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"
#include "openssl-check.h"
#include "fault-backend.h"
#include "akm/pkcs11-akm.h"

static it_ctx t;
static fault_ctl fc;
static char registry[PATH_MAX + 16];
/* Cases where more than one answer is checked collect every mismatch and
 * fail once with all of them, so that one run says everything the module
 * does differently. */
static char mismatches[4096];
/* The texts the cases compare live in these, freed at teardown, so that a
 * case stopped by a failed assertion leaves nothing for valgrind to call
 * lost. */
static char *rows_before, *rows_now, *trail_text;

static void setup(void)
{
	it_setup_env(&t, "akm-faults");
	const char *wrapper = getenv("AKM_TEST_FAULT_BACKEND");
	ck_assert_msg(wrapper != NULL && *wrapper != '\0', "AKM_TEST_FAULT_BACKEND is not set");
	/* The module's backend is the wrapper; the wrapper's is SoftHSM2. */
	char conf[4 * PATH_MAX];
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	snprintf(conf, sizeof conf,
	         "backend.module = %s\n"
	         "backend.token = pkcs11:token=%s\n"
	         "registry.path = %s\n"
	         "log.level = error\n",
	         wrapper, t.env.token_label, registry);
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, conf), 0);
	ck_assert_int_eq(fault_ctl_load(&fc, wrapper), 0);
	fc.disarm_all();
	fc.reset_counts();
	mismatches[0] = '\0';
	it_open(&t);
}

static void teardown(void)
{
	fc.disarm_all();
	free(rows_before);
	free(rows_now);
	free(trail_text);
	rows_before = rows_now = trail_text = NULL;
	it_close(&t);
}

/* ---- helpers ----------------------------------------------------------- */

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
static CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING;

/* A provisioning relationship with ID `rid`; its encryption key. */
/* A node key for make_pr's relationships: P-256's base point (the public
 * key of private key 1), so that an export reaches the backend. */
static CK_BYTE p256_g[65] = {
	0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
	0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
	0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

static CK_RV make_pr(const char *rid, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
		{CKA_AKM_PEER_NODE, (void *)rid, strlen(rid)},
		{CKA_AKM_HW_BINDING, "hw-1", 4},
		{CKA_AKM_RELATIONSHIP_ID, (void *)rid, strlen(rid)},
		{CKA_AKM_NODE_KEY, p256_g, sizeof p256_g},
	};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 5, h);
}

/* Up to BATCH_MAX provisioning relationships; IDs `<prefix>-<i>`, or none
 * (the module draws them) when prefix is NULL. */
enum { BATCH_MAX = 32 };
typedef struct batch {
	char ids[BATCH_MAX][24];
	CK_ATTRIBUTE tmpls[BATCH_MAX][4];
	CK_ATTRIBUTE_PTR ptrs[BATCH_MAX];
	CK_ULONG counts[BATCH_MAX];
	CK_OBJECT_HANDLE keys[BATCH_MAX];
	CK_AKM_BATCH_GEN_PARAMS params;
	CK_MECHANISM mech;
} batch;

static void batch_init(batch *b, const char *prefix, CK_ULONG n)
{
	ck_assert_uint_le(n, BATCH_MAX);
	memset(b, 0, sizeof *b);
	for (CK_ULONG i = 0; i < n; i++) {
		snprintf(b->ids[i], sizeof b->ids[i], "%s-%02lu", prefix ? prefix : "node", i);
		b->tmpls[i][0] = (CK_ATTRIBUTE){CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
		b->tmpls[i][1] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, b->ids[i], strlen(b->ids[i])};
		b->tmpls[i][2] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, "hw", 2};
		b->tmpls[i][3] = (CK_ATTRIBUTE){CKA_AKM_RELATIONSHIP_ID, b->ids[i], strlen(b->ids[i])};
		b->ptrs[i] = b->tmpls[i];
		b->counts[i] = prefix ? 4 : 3;
	}
	b->params = (CK_AKM_BATCH_GEN_PARAMS){n, b->ptrs, b->counts, b->keys};
	b->mech = (CK_MECHANISM){CKM_AKM_RELATIONSHIP_BATCH_GEN, &b->params, sizeof b->params};
}

static CK_RV batch_create(batch *b)
{
	CK_OBJECT_HANDLE first = 0;
	return t.f->C_GenerateKey(t.s, &b->mech, NULL, 0, &first);
}

/* How many relationship keys a template finds. */
static CK_ULONG count_found(CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_OBJECT_HANDLE found[64];
	CK_ULONG got = 0, total = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, tmpl, n), CKR_OK);
	do {
		ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 64, &got), CKR_OK);
		total += got;
	} while (got > 0);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	return total;
}

static CK_ULONG count_pr_keys(void)
{
	CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
	return count_found(&by_kind, 1);
}

static CK_ULONG get_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	return v;
}

/* The relationship's MAC key, found by its CKA_ID (rid || 2). */
static CK_OBJECT_HANDLE mac_of(CK_OBJECT_HANDLE enc)
{
	CK_BYTE id[33];
	CK_ATTRIBUTE a = {CKA_ID, id, sizeof id};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, enc, &a, 1), CKR_OK);
	id[a.ulValueLen - 1] = CKV_AKM_PURPOSE_MAC;
	CK_OBJECT_HANDLE mac = 0;
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &a, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, &mac, 1, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 1);
	return mac;
}

static CK_BYTE gcm_iv[12] = {7, 6, 5, 4, 3, 2, 1};
static CK_GCM_PARAMS gcm_params = {gcm_iv, sizeof gcm_iv, 96, NULL, 0, 128};
static CK_MECHANISM gcm = {CKM_AES_GCM, &gcm_params, sizeof gcm_params};
static CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};

/* AES-GCM of a fixed message under a relationship's encryption key, and
 * back: proves the key works. */
static void assert_key_works(CK_OBJECT_HANDLE enc)
{
	CK_BYTE msg[] = "backend faults", ct[64], pt[64];
	CK_ULONG ctlen = sizeof ct, ptlen = sizeof pt;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_int_eq(t.f->C_DecryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Decrypt(t.s, ct, ctlen, pt, &ptlen), CKR_OK);
	ck_assert(ptlen == sizeof msg && memcmp(pt, msg, sizeof msg) == 0);
}

/* ---- the registry, read with sqlite3 ---------------------------------------- */

static sqlite3 *registry_open(void)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* Appends every row of `sql`'s result to f, one line each, blobs in hex. */
static void dump_rows(sqlite3 *db, FILE *f, const char *sql)
{
	sqlite3_stmt *st;
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				fprintf(f, "%lld|", (long long)sqlite3_column_int64(st, c));
				break;
			case SQLITE_NULL:
				fputs("NULL|", f);
				break;
			case SQLITE_BLOB: {
				const unsigned char *p = sqlite3_column_blob(st, c);
				for (int i = 0; i < sqlite3_column_bytes(st, c); i++)
					fprintf(f, "%02x", p[i]);
				fputc('|', f);
				break;
			}
			default:
				fprintf(f, "'%s'|", (const char *)sqlite3_column_text(st, c));
				break;
			}
		}
		fputc('\n', f);
	}
	ck_assert_int_eq(rc, SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Everything a failure must not change: every relationship and key row
 * (wrapped blobs included) and the registry's generation.  Caller frees. */
static char *registry_rows(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	sqlite3 *db = registry_open();
	fputs("relationship:\n", f);
	dump_rows(db, f, "SELECT * FROM relationship ORDER BY id");
	fputs("key:\n", f);
	dump_rows(db, f, "SELECT * FROM key ORDER BY id");
	fputs("generation:\n", f);
	dump_rows(db, f, "SELECT value FROM meta WHERE name = 'generation'");
	sqlite3_close(db);
	fclose(f);
	return text;
}


/* The registry as it is now, to compare with later. */
static const char *snapshot(void)
{
	free(rows_before);
	rows_before = registry_rows();
	return rows_before;
}

static void assert_registry_is(const char *before)
{
	free(rows_now);
	rows_now = registry_rows();
	ck_assert_msg(strcmp(before, rows_now) == 0, "the registry changed:\nbefore:\n%s\nafter:\n%s", before,
	              rows_now);
}

static long long audit_head(void)
{
	sqlite3 *db = registry_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM audit", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	long long seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return seq;
}

/* The audit records after `seq`, one line each: actor:action:result:detail
 * (result in hex).  Caller frees. */
static char *audit_since(long long seq)
{
	char *text = NULL, sql[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	sqlite3 *db = registry_open();
	snprintf(sql, sizeof sql,
	         "SELECT actor || ':' || action || ':' || printf('0x%%x', result) || ':' || coalesce(detail, '') "
	         "FROM audit WHERE seq > %lld ORDER BY seq",
	         seq);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(f, "%s\n", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	fclose(f);
	return text;
}

static const char *audit_trail(long long seq)
{
	free(trail_text);
	trail_text = audit_since(seq);
	return trail_text;
}

static void assert_audit_since(long long seq, const char *expected)
{
	const char *got = audit_trail(seq);
	ck_assert_msg(strcmp(got, expected) == 0, "audit records:\n%s\nexpected:\n%s", got, expected);
}

/* The token's KEK objects, counted through SoftHSM2 itself (the module
 * hides them): call while the module is finalised. */
static CK_ULONG kek_objects_in_token(void)
{
	CK_FUNCTION_LIST *hsm = fc.real_functions();
	ck_assert_ptr_nonnull(hsm);
	ck_assert_int_eq(hsm->C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(hsm, t.env.token_label, &slot), CKR_OK);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(hsm->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(hsm->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE kek[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_LABEL, "akm-pkcs11 KEK", 14}};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;
	ck_assert_int_eq(hsm->C_FindObjectsInit(s, kek, 2), CKR_OK);
	ck_assert_int_eq(hsm->C_FindObjects(s, found, 4, &n), CKR_OK);
	ck_assert_int_eq(hsm->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_int_eq(hsm->C_Finalize(NULL), CKR_OK);
	return n;
}

/* ---- the wrapper itself ---------------------------------------------------- */

/* The counts the other cases rely on see what they must: objects that
 * stay, objects that go, with their session, at logout. */
START_TEST(test_wrapper_counts_what_it_must)
{
	ck_assert_int_eq(fc.arm("C_NoSuchFunction", 1, CKR_DEVICE_ERROR), -1);
	CK_SESSION_HANDLE bs[4];
	ck_assert_uint_eq(fc.sessions(bs, 4), 2); /* the module's own, the application's */
	unsigned long live = fc.live_objects(), token = fc.live_token_handles();
	unsigned long gens = fc.calls("C_GenerateKey");
	CK_OBJECT_HANDLE k1 = it_aes_key(&t, t.s, CK_FALSE);
	ck_assert_uint_eq(fc.calls("C_GenerateKey"), gens + 1);
	ck_assert_uint_eq(fc.live_objects(), live + 1);
	it_aes_key(&t, t.s, CK_TRUE);
	ck_assert_uint_eq(fc.live_objects(), live + 1);
	ck_assert_uint_eq(fc.live_token_handles(), token + 1);
	ck_assert_int_eq(t.f->C_DestroyObject(t.s, k1), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), live);
	/* A session's objects go with it. */
	CK_SESSION_HANDLE s2;
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
	ck_assert_uint_eq(fc.sessions(NULL, 0), 3);
	it_aes_key(&t, s2, CK_FALSE);
	it_aes_key(&t, s2, CK_FALSE);
	ck_assert_uint_eq(fc.live_objects(), live + 2);
	ck_assert_int_eq(t.f->C_CloseSession(s2), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), live);
	/* Failing every call until disarmed, without reaching SoftHSM2. */
	CK_BYTE r[8];
	ck_assert_int_eq(fc.arm("C_GenerateRandom", FAULT_EVERY, CKR_DEVICE_REMOVED), 0);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_DEVICE_REMOVED);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_DEVICE_REMOVED);
	ck_assert_uint_eq(fc.fired("C_GenerateRandom"), 2);
	ck_assert_int_eq(fc.disarm("C_GenerateRandom"), 0);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_OK);
	/* The nth call from now, once. */
	ck_assert_int_eq(fc.arm("C_GenerateRandom", 2, CKR_DEVICE_ERROR), 0);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_OK);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_DEVICE_ERROR);
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, r, sizeof r), CKR_OK);
	ck_assert_uint_eq(fc.calls("C_GenerateRandom"), 6);
	/* Private session objects (a private key of ours; the module's cached
	 * keys) go at logout. */
	CK_OBJECT_HANDLE k3 = it_aes_key(&t, t.s, CK_FALSE);
	CK_BBOOL priv = CK_FALSE;
	CK_ATTRIBUTE a = {CKA_PRIVATE, &priv, 1};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, k3, &a, 1), CKR_OK);
	ck_assert(priv == CK_TRUE);
	ck_assert_uint_ge(fc.live_objects(), 1);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), 0);
	ck_assert_uint_eq(fc.live_token_handles(), 0); /* all private: their handles are gone */
	/* And a session killed behind the module's back is closed at SoftHSM2. */
	ck_assert_int_eq(fc.kill_session(bs[1]), CKR_OK);
	ck_assert_uint_eq(fc.sessions(NULL, 0), 1);
	CK_SESSION_INFO info;
	ck_assert_int_eq(fc.real_functions()->C_GetSessionInfo(bs[1], &info), CKR_SESSION_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_GetSessionInfo(t.s, &info), CKR_SESSION_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_CloseSession(t.s), CKR_OK);
}
END_TEST

/* ---- C_UnwrapKey failing while a relationship key is used ----------------- */

START_TEST(test_unwrap_fails_on_first_use)
{
	CK_OBJECT_HANDLE enc, mac;
	ck_assert_int_eq(make_pr("rid-use", &enc), CKR_OK);
	mac = mac_of(enc);
	/* A fresh C_Initialize and login: no key is cached, the first use
	 * unwraps. */
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	const char *before = snapshot();
	long long seq = audit_head();
	unsigned long live = fc.live_objects();

	ck_assert_int_eq(fc.arm("C_UnwrapKey", 1, CKR_DEVICE_ERROR), 0);
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, enc), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(fc.fired("C_UnwrapKey"), 1);
	/* The operation never began. */
	CK_BYTE msg[16] = "x", ct[64];
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_uint_eq(fc.live_objects(), live);
	assert_registry_is(before);
	assert_audit_since(seq, "module:unwrap-failed:0x30:\n");

	/* Fault gone: the same key works, and is now cached (one object). */
	assert_key_works(enc);
	ck_assert_uint_eq(fc.live_objects(), live + 1);

	/* The MAC key, with the backend out of memory this time: the module
	 * answers CKR_DEVICE_ERROR for any unwrap failure, and the record
	 * keeps the backend's own code. */
	seq = audit_head();
	ck_assert_int_eq(fc.arm("C_UnwrapKey", 1, CKR_DEVICE_MEMORY), 0);
	ck_assert_int_eq(t.f->C_SignInit(t.s, &hmac, mac), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(fc.fired("C_UnwrapKey"), 2);
	ck_assert_uint_eq(fc.live_objects(), live + 1);
	assert_audit_since(seq, "module:unwrap-failed:0x31:\n");
	CK_BYTE tag[32];
	CK_ULONG taglen = sizeof tag;
	ck_assert_int_eq(t.f->C_SignInit(t.s, &hmac, mac), CKR_OK);
	ck_assert_int_eq(t.f->C_Sign(t.s, msg, sizeof msg, tag, &taglen), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), live + 2);
	assert_registry_is(before);
}
END_TEST

/* ---- C_WrapKey failing during an export ------------------------------------- */

START_TEST(test_export_wrap_fails)
{
	/* A node whose private key the test holds (OpenSSL), recorded as the
	 * relationship's node key. */
	CK_BYTE node_point[65];
	EVP_PKEY *node = it_ec_generate(node_point);
	CK_OBJECT_HANDLE enc;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "rid-export", 10},
		{CKA_AKM_HW_BINDING, "hw-1", 4}, {CKA_AKM_RELATIONSHIP_ID, "rid-export", 10},
		{CKA_AKM_NODE_KEY, node_point, 65},
	};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 5, &enc), CKR_OK);

	CK_BYTE eph[65], wrapped[80];
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	const char *before = snapshot();
	unsigned long live = fc.live_objects();

	/* A length query and a buffer too small ask nothing of the backend: no
	 * key pair made, no key unwrapped, nothing recorded. */
	long long seq0 = audit_head();
	fc.reset_counts();
	CK_ULONG qlen = 0;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, NULL, &qlen), CKR_OK);
	ck_assert_uint_eq(qlen, 80);
	qlen = 40;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &qlen), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(qlen, 80);
	static const char *const untouched[] = {"C_GenerateKeyPair", "C_DeriveKey", "C_CreateObject", "C_UnwrapKey",
	                                        "C_WrapKey", "C_DestroyObject"};
	for (size_t i = 0; i < sizeof untouched / sizeof untouched[0]; i++)
		ck_assert_msg(fc.calls(untouched[i]) == 0, "a length query called %s", untouched[i]);
	ck_assert_uint_eq(fc.live_objects(), live);
	assert_registry_is(before);
	assert_audit_since(seq0, "");

	/* Every backend call of an export failing in turn: the ephemeral key
	 * pair, its point, the ECDH, each key's short-lived copy under the
	 * KEK, each wrapping under the transport key.  Each time: the
	 * backend's answer, nothing the export made is left in the backend
	 * (the key pair, the transport key, a copy), nothing changed in the
	 * registry, and the attempt is on record. */
	static const struct {
		const char *function;
		unsigned long nth;
	} faults[] = {
		{"C_GenerateKeyPair", 1}, {"C_GetAttributeValue", 1}, {"C_DeriveKey", 1},
		{"C_UnwrapKey", 1}, {"C_UnwrapKey", 2}, {"C_WrapKey", 1}, {"C_WrapKey", 2},
	};
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		long long seq = audit_head();
		CK_ULONG wlen = sizeof wrapped;
		ck_assert_int_eq(fc.arm(faults[i].function, faults[i].nth, CKR_DEVICE_ERROR), 0);
		ck_assert_msg(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &wlen) == CKR_DEVICE_ERROR,
		              "%s failing (call %lu)", faults[i].function, faults[i].nth);
		ck_assert_uint_eq(fc.fired(faults[i].function), 1);
		fc.disarm_all();
		fc.reset_counts();
		ck_assert_msg(fc.live_objects() == live, "%s failing (call %lu): %lu backend objects left behind",
		              faults[i].function, faults[i].nth, fc.live_objects() - live);
			ck_assert_uint_eq(get_ulong(enc, CKA_AKM_STATUS), CKV_AKM_STATUS_CREATED);
		ck_assert_uint_eq(get_ulong(enc, CKA_AKM_SEQUENCE), 0);
		assert_registry_is(before);
		assert_audit_since(seq, "user:export:0x30:node-key\n");
	}

	/* Fault gone: the export works, leaves nothing behind, and is the
	 * relationship's key (a GCM ciphertext of the module opens with it in
	 * OpenSSL). */
	CK_ULONG wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), live);
	CK_BYTE x[32], value[32], mac_value[32];
	it_ecdh_x(node, eph, x);
	it_open_export(x, wrapped, value, mac_value);
	CK_BYTE msg[16] = "exported key ok", ct[64];
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_uint_eq(ctlen, 32);
	it_assert_gcm_opens(value, gcm_iv, ct, msg);
	EVP_PKEY_free(node);
}
END_TEST

/* ---- C_GenerateKey / C_WrapKey failing inside a batch ----------------------- */

START_TEST(test_batch_generate_fails)
{
	enum { N = 20, FAIL_AT = 27 }; /* the 27th key: the 14th relationship's encryption key */
	CK_OBJECT_HANDLE other;
	ck_assert_int_eq(make_pr("rid-before", &other), CKR_OK);
	static batch b;
	batch_init(&b, "gen", N);
	const char *before = snapshot();
	unsigned long live = fc.live_objects(), gens = fc.calls("C_GenerateKey");

	/* The backend runs out of memory in the middle. */
	ck_assert_int_eq(fc.arm("C_GenerateKey", FAIL_AT, CKR_DEVICE_MEMORY), 0);
	ck_assert_int_eq(batch_create(&b), CKR_DEVICE_MEMORY);
	ck_assert_uint_eq(fc.fired("C_GenerateKey"), 1);
	ck_assert_uint_eq(fc.calls("C_GenerateKey"), gens + FAIL_AT); /* nothing generated after it */
	ck_assert_uint_eq(fc.live_objects(), live);
	assert_registry_is(before);
	ck_assert_uint_eq(count_pr_keys(), 2); /* only the relationship made before */

	/* The same batch again, fault gone: all of it. */
	ck_assert_int_eq(batch_create(&b), CKR_OK);
	ck_assert_uint_eq(count_pr_keys(), 2 + 2 * N);
	ck_assert_uint_eq(fc.live_objects(), live); /* a batch over 16 keeps nothing cached */
	assert_key_works(b.keys[0]);
	assert_key_works(b.keys[FAIL_AT / 2]);
	assert_key_works(b.keys[N - 1]);
	assert_key_works(other);
}
END_TEST

START_TEST(test_batch_wrap_under_kek_fails)
{
	enum { N = 20, FAIL_AT = 30 }; /* the 30th wrap: the 15th relationship's MAC key */
	static batch b;
	batch_init(&b, "wrap", N);
	const char *before = snapshot();
	unsigned long live = fc.live_objects();

	ck_assert_int_eq(fc.arm("C_WrapKey", FAIL_AT, CKR_DEVICE_ERROR), 0);
	ck_assert_int_eq(batch_create(&b), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(fc.fired("C_WrapKey"), 1);
	ck_assert_uint_eq(fc.live_objects(), live); /* the key that did not wrap is gone too */
	assert_registry_is(before);
	ck_assert_uint_eq(count_pr_keys(), 0);

	ck_assert_int_eq(batch_create(&b), CKR_OK);
	ck_assert_uint_eq(count_pr_keys(), 2 * N);
	ck_assert_uint_eq(fc.live_objects(), live);
	assert_key_works(b.keys[FAIL_AT / 2 - 1]);
}
END_TEST

/* Creations of at most 16 relationships keep their fresh backend keys for
 * the cache: a failure anywhere must take back the ones already made.  Each
 * backend call a creation makes fails once, in turn, until the creation
 * gets through: for one relationship (CKM_AKM_RELATIONSHIP_GEN) and for a
 * batch of three, with IDs drawn by the module. */
static void sweep(const char *function, CK_ULONG n, CK_ULONG *failures)
{
	static batch b;
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%s-%lu", function + 2, n);
	batch_init(&b, n == 3 ? NULL : prefix, n);
	CK_ATTRIBUTE *single = b.tmpls[0];
	for (unsigned long nth = 1;; nth++) {
		const char *before = snapshot();
		unsigned long live = fc.live_objects(), fired = fc.fired(function);
		CK_OBJECT_HANDLE h = 0;
		ck_assert_int_eq(fc.arm(function, nth, CKR_DEVICE_ERROR), 0);
		CK_RV rv = n == 1 ? t.f->C_GenerateKey(t.s, &rel_gen, single, 4, &h) : batch_create(&b);
		fc.disarm(function);
		if (rv == CKR_OK) {
			/* Through: there was no nth call, or only one after the
			 * commit -- the token's registry counter, written at most
			 * once a second, may lag (C_SetAttributeValue).  The
			 * counts asserted by the caller show that every call of
			 * the creation itself failed once before. */
			ck_assert_uint_eq(fc.live_objects(), live + 2 * n); /* kept for the cache */
			assert_key_works(n == 1 ? h : b.keys[n - 1]);
			*failures = nth - 1;
			return;
		}
		ck_assert_msg(fc.fired(function) == fired + 1, "%s: a creation without a fault failed: 0x%lx", function, rv);
		ck_assert_msg(rv == CKR_DEVICE_ERROR, "%s call %lu failed: creation says 0x%lx", function, nth, rv);
		ck_assert_msg(fc.live_objects() == live, "%s call %lu failed: %lu backend objects left behind",
		              function, nth, fc.live_objects() - live);
		assert_registry_is(before);
	}
}

START_TEST(test_small_creation_fails_at_every_step)
{
	CK_ULONG failures;
	sweep("C_GenerateKey", 1, &failures);
	ck_assert_uint_ge(failures, 2); /* two keys a relationship */
	sweep("C_WrapKey", 1, &failures);
	ck_assert_uint_ge(failures, 2);
	sweep("C_SetAttributeValue", 1, &failures);
	ck_assert_uint_ge(failures, 2); /* sealed (non-extractable) for the cache */
	sweep("C_GenerateKey", 3, &failures);
	ck_assert_uint_ge(failures, 6);
	sweep("C_WrapKey", 3, &failures);
	ck_assert_uint_ge(failures, 6);
	sweep("C_SetAttributeValue", 3, &failures);
	ck_assert_uint_ge(failures, 6);
	sweep("C_GenerateRandom", 3, &failures);
	ck_assert_uint_ge(failures, 3); /* an ID each */
	ck_assert_uint_eq(count_pr_keys(), 2 * (3 * 1 + 4 * 3));
}
END_TEST

/* ---- the backend session vanishing ------------------------------------------ */

static const char *rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	default: return "another code";
	}
}

static void expect_rv(const char *what, CK_RV got, CK_RV want)
{
	size_t used = strlen(mismatches);
	if (got != want)
		snprintf(mismatches + used, sizeof mismatches - used, "  %s: expected %s, got %s (0x%lx)\n", what,
		         rv_name(want), rv_name(got), got);
}

/* What a relationship call may answer while the module's own backend
 * session is gone: CKR_DEVICE_ERROR, or CKR_OK when the module got itself a
 * new session (then the call has done its work; true is returned).  Never
 * an answer that blames the application's session or key. */
static bool device_error_or_recovered(const char *what, CK_RV rv)
{
	size_t used = strlen(mismatches);
	if (rv != CKR_DEVICE_ERROR && rv != CKR_OK)
		snprintf(mismatches + used, sizeof mismatches - used,
		         "  %s: expected CKR_DEVICE_ERROR (or CKR_OK, recovered), got %s (0x%lx)\n", what,
		         rv_name(rv), rv);
	return rv == CKR_OK;
}

static void assert_no_mismatches(void)
{
	ck_assert_msg(mismatches[0] == '\0', "the module answered otherwise:\n%s", mismatches);
}

/* Two relationships after a fresh C_Initialize and login: one made before
 * (not cached), one made now (its keys cached since creation). */
static void two_relationships(CK_OBJECT_HANDLE *cold, CK_OBJECT_HANDLE *cached)
{
	ck_assert_int_eq(make_pr("rid-cold", cold), CKR_OK);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	ck_assert_int_eq(make_pr("rid-cached", cached), CKR_OK);
	assert_key_works(*cached);
	/* In the backend now: the KEK's session copy and the cached pair. */
	ck_assert_uint_eq(fc.live_objects(), 3);
}

/* After C_Finalize and C_Initialize everything is as before: the same
 * two relationships, and they work. */
static void assert_recovers_after_reinitialising(CK_OBJECT_HANDLE cold, CK_OBJECT_HANDLE cached)
{
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	assert_key_works(cold);
	assert_key_works(cached);
	ck_assert_uint_eq(count_pr_keys(), 4);
}

START_TEST(test_module_session_vanishes)
{
	CK_OBJECT_HANDLE cold, cached, h = 0;
	two_relationships(&cold, &cached);
	const char *before = snapshot();
	long long seq = audit_head();
	/* The module opened its own backend session at C_Initialize, before
	 * the application's. */
	CK_SESSION_HANDLE bs[4];
	ck_assert_uint_eq(fc.sessions(bs, 4), 2);
	ck_assert_int_eq(fc.kill_session(bs[0]), CKR_OK);

	/* The application's session is fine: its own objects work. */
	CK_OBJECT_HANDLE own = it_aes_key(&t, t.s, CK_FALSE);
	CK_BYTE msg[16] = "still here", ct[64];
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, own), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);

	/* Relationship keys: the module cannot reach the token through its own
	 * session any more.  That is the device's problem, not the
	 * application's session or key: CKR_DEVICE_ERROR -- or CKR_OK, the
	 * work done, should the module get itself a new session. */
	CK_RV rv = t.f->C_EncryptInit(t.s, &gcm, cold);
	bool cold_failed = rv == CKR_DEVICE_ERROR;
	if (device_error_or_recovered("use of a key not cached (C_EncryptInit)", rv))
		ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ctlen = sizeof ct;
	if (device_error_or_recovered("use of a cached key (C_EncryptInit)", t.f->C_EncryptInit(t.s, &gcm, cached)))
		ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	bool created = device_error_or_recovered("creation (C_GenerateKey)", make_pr("rid-new", &h));
	if (created) { /* complete: both keys; then gone again */
		ck_assert_uint_eq(count_pr_keys(), 6);
		ck_assert_int_eq(t.f->C_DestroyObject(t.s, h), CKR_OK);
		before = snapshot();
	}
	CK_BYTE eph[65], wrapped[80];
	CK_AKM_EXPORT_WRAP_PARAMS xp = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &xp, sizeof xp};
	CK_ULONG wlen = sizeof wrapped;
	device_error_or_recovered("export (C_WrapKey)", t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, cold, wrapped, &wlen));
	/* The registry itself is readable: searches still answer.  Nothing
	 * was half-written. */
	ck_assert_uint_eq(count_pr_keys(), 4);
	ck_assert_uint_eq(get_ulong(cold, CKA_AKM_STATE), CKV_AKM_STATE_ACTIVE);
	assert_registry_is(before);
	/* A key that did not unwrap is on record. */
	const char *trail = audit_trail(seq);
	ck_assert_msg(!cold_failed || strstr(trail, "module:unwrap-failed:0xb3:\n") != NULL, "audit records:\n%s", trail);
	ck_assert_msg(created || strstr(trail, "user:create") == NULL, "audit records:\n%s", trail);

	/* A new login is where an application recovers: the relationships
	 * work again. */
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	expect_rv("use after a new login", t.f->C_EncryptInit(t.s, &gcm, cold), CKR_OK);
	t.f->C_EncryptFinal(t.s, ct, &ctlen); /* ends it, whatever the answer */
	h = 0;
	expect_rv("creation after a new login", make_pr("rid-relogin", &h), CKR_OK);
	if (h != 0)
		t.f->C_DestroyObject(t.s, h); /* the registry compared below is the one before */
	assert_recovers_after_reinitialising(cold, cached);
	assert_no_mismatches();
}
END_TEST

/* The module's own session is gone and opening a new one at the next login
 * fails too: the relationships answer that the device failed (nothing is
 * half-written), and the login after that, with the backend well again,
 * brings them back. */
START_TEST(test_module_session_cannot_be_reopened)
{
	CK_OBJECT_HANDLE cold, cached, h = 0;
	two_relationships(&cold, &cached);
	const char *before = snapshot();
	CK_SESSION_HANDLE bs[4];
	ck_assert_uint_eq(fc.sessions(bs, 4), 2);
	ck_assert_int_eq(fc.kill_session(bs[0]), CKR_OK);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(fc.arm("C_OpenSession", 1, CKR_DEVICE_ERROR), 0);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(fc.fired("C_OpenSession"), 1);
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, cold), CKR_DEVICE_ERROR);
	ck_assert_int_eq(make_pr("rid-not-made", &h), CKR_DEVICE_ERROR);
	assert_registry_is(before);
	fc.disarm_all();
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	assert_key_works(cold);
	assert_key_works(cached);
}
END_TEST

START_TEST(test_application_session_vanishes)
{
	CK_OBJECT_HANDLE cold, cached, h = 0;
	two_relationships(&cold, &cached);
	const char *before = snapshot();
	CK_SESSION_HANDLE bs[4];
	ck_assert_uint_eq(fc.sessions(bs, 4), 2);
	ck_assert_int_eq(fc.kill_session(bs[1]), CKR_OK);

	/* Whatever reaches the application's backend session says it is gone. */
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, cached), CKR_SESSION_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, cold), CKR_SESSION_HANDLE_INVALID);
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE any = {CKA_CLASS, &secret, sizeof secret};
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &any, 1), CKR_SESSION_HANDLE_INVALID);
	/* The registry's own work needs only the module's session: a search
	 * of relationships answers, and a creation either is complete or is
	 * not there at all. */
	ck_assert_uint_eq(count_pr_keys(), 4);
	assert_registry_is(before);
	CK_RV rv = make_pr("rid-meanwhile", &h);
	if (rv == CKR_OK) { /* what the module does today */
		ck_assert_uint_eq(count_pr_keys(), 6); /* both keys */
		ck_assert_uint_eq(get_ulong(h, CKA_AKM_STATE), CKV_AKM_STATE_ACTIVE);
		ck_assert_int_eq(t.f->C_DestroyObject(t.s, h), CKR_OK);
	} else {
		ck_assert_msg(rv == CKR_SESSION_HANDLE_INVALID, "creation: 0x%lx", rv);
		assert_registry_is(before);
	}

	/* Closing it is fine; a new session works, and the module's cached
	 * keys went at the logout that closing the last session is. */
	ck_assert_int_eq(t.f->C_CloseSession(t.s), CKR_OK);
	ck_assert_uint_eq(fc.live_objects(), 0);
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	assert_key_works(cold);
	assert_key_works(cached);
	ck_assert_int_eq(make_pr("rid-after", &h), CKR_OK);
	ck_assert_int_eq(t.f->C_DestroyObject(t.s, h), CKR_OK);
	assert_recovers_after_reinitialising(cold, cached);
}
END_TEST

START_TEST(test_all_sessions_vanish)
{
	CK_OBJECT_HANDLE cold, cached, h = 0;
	two_relationships(&cold, &cached);
	const char *before = snapshot();
	long long seq = audit_head();
	/* As when the token restarts: every session gone, the token logged out. */
	ck_assert_uint_eq(fc.kill_sessions(), 2);

	/* The application's session is gone too: that it is, or that the
	 * device failed, is what it may hear (today: the first for a cached
	 * key and a creation, the second, on record, for a key that does not
	 * unwrap). */
	CK_RV rv = t.f->C_EncryptInit(t.s, &gcm, cached);
	ck_assert_msg(rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_ERROR, "use of a cached key: 0x%lx", rv);
	rv = make_pr("rid-new", &h);
	ck_assert_msg(rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_ERROR, "creation: 0x%lx", rv);
	rv = t.f->C_EncryptInit(t.s, &gcm, cold);
	ck_assert_msg(rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_ERROR, "use of a key not cached: 0x%lx", rv);
	const char *trail = audit_trail(seq);
	ck_assert_msg(rv != CKR_DEVICE_ERROR || strcmp(trail, "module:unwrap-failed:0xb3:\n") == 0,
	              "audit records:\n%s", trail);
	assert_registry_is(before);

	/* The application starts over with a new session and login: the
	 * relationships work again. */
	ck_assert_int_eq(t.f->C_CloseSession(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	expect_rv("use after a new session and login", t.f->C_EncryptInit(t.s, &gcm, cold), CKR_OK);
	CK_BYTE ct[64];
	CK_ULONG ctlen = sizeof ct;
	t.f->C_EncryptFinal(t.s, ct, &ctlen);
	h = 0;
	expect_rv("creation after a new session and login", make_pr("rid-relogin", &h), CKR_OK);
	if (h != 0)
		t.f->C_DestroyObject(t.s, h);
	assert_recovers_after_reinitialising(cold, cached);
	assert_no_mismatches();
}
END_TEST

/* ---- the backend refusing the registry's login ------------------------------ */

/* The user logs in, but a backend call of the module's login-time work (the
 * KEK lookup, the counter lookup, the KEK's session copy) fails.  Whatever
 * the module then answers, the token's KEK must survive: without it every
 * relationship in the registry is lost. */
static void login_with_backend_failure(const char *function, unsigned long nth, bool refused)
{
	CK_OBJECT_HANDLE enc, h = 0;
	ck_assert_int_eq(make_pr("rid-login", &enc), CKR_OK);
	CK_BYTE msg[] = "before the failed login", ct[64], pt[64];
	CK_ULONG ctlen = sizeof ct, ptlen = sizeof pt;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	const char *before = snapshot();

	ck_assert_int_eq(fc.arm(function, nth, CKR_DEVICE_ERROR), 0);
	/* The backend's login succeeds, but the registry's cannot be done: the
	 * login is refused as a whole (the token is logged out again). */
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4),
	                 refused ? CKR_DEVICE_ERROR : CKR_OK);
	ck_assert_uint_eq(fc.fired(function), 1);
	fc.disarm_all();
	if (refused) {
		/* The registry is refused until the next login: a clear
		 * CKR_DEVICE_ERROR, as for a registry refused at login
		 * (docs/object-model.md section 7). */
		ck_assert_int_eq(make_pr("rid-refused", &h), CKR_DEVICE_ERROR);
		ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gcm, enc), CKR_DEVICE_ERROR);
		CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
		CK_OBJECT_HANDLE found[4];
		CK_ULONG n = 0;
		ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &by_kind, 1), CKR_OK);
		ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 4, &n), CKR_DEVICE_ERROR);
		ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
		ck_assert_int_eq(t.f->C_Logout(t.s), CKR_USER_NOT_LOGGED_IN);
	} else {
		assert_key_works(enc);
		ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	}
	assert_registry_is(before);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);

	/* Issue 9, item 1: a refused login must not cost the token its KEK. */
	ck_assert_msg(kek_objects_in_token() == 1, "the token's KEK is gone after a login the backend failed (%s #%lu)",
	              function, nth);

	/* And the relationship still opens what it sealed. */
	it_open(&t);
	ck_assert_int_eq(t.f->C_DecryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Decrypt(t.s, ct, ctlen, pt, &ptlen), CKR_OK);
	ck_assert(ptlen == sizeof msg && memcmp(pt, msg, sizeof msg) == 0);
}

START_TEST(test_login_kek_lookup_fails)
{
	login_with_backend_failure("C_FindObjectsInit", 1, true);
}
END_TEST

START_TEST(test_login_mac_key_lookup_fails)
{
	login_with_backend_failure("C_FindObjectsInit", 2, true);
}
END_TEST

START_TEST(test_login_counter_lookup_fails)
{
	login_with_backend_failure("C_FindObjectsInit", 3, true);
}
END_TEST

/* The same bug without a backend fault: a registry refused at login (an
 * old copy put back, section 8 of docs/object-model.md) must not cost the
 * token its KEK either, or putting the right registry back cannot help. */
static void copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_login_registry_refused_keeps_kek)
{
	CK_OBJECT_HANDLE old, newer;
	char old_copy[PATH_MAX + 32], new_copy[PATH_MAX + 32], wal[PATH_MAX + 32], shm[PATH_MAX + 32];
	snprintf(old_copy, sizeof old_copy, "%s/registry-old.db", t.env.dir);
	snprintf(new_copy, sizeof new_copy, "%s/registry-new.db", t.env.dir);
	snprintf(wal, sizeof wal, "%s-wal", registry);
	snprintf(shm, sizeof shm, "%s-shm", registry);
	ck_assert_int_eq(make_pr("rid-old", &old), CKR_OK);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK); /* checkpoints the WAL into the file */
	copy_file(registry, old_copy);
	it_open(&t);
	ck_assert_int_eq(make_pr("rid-newer", &newer), CKR_OK);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	copy_file(registry, new_copy);

	/* The old copy back: refused at login, as documented. */
	copy_file(old_copy, registry);
	unlink(wal);
	unlink(shm);
	it_open_login(&t, CKR_DEVICE_ERROR);
	CK_OBJECT_HANDLE h = 0;
	ck_assert_int_eq(make_pr("rid-refused", &h), CKR_DEVICE_ERROR);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_USER_NOT_LOGGED_IN);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	ck_assert_msg(kek_objects_in_token() == 1, "the token's KEK is gone after a registry refused at login");

	/* The right registry back: everything works. */
	copy_file(new_copy, registry);
	unlink(wal);
	unlink(shm);
	it_open(&t);
	assert_key_works(old);
	assert_key_works(newer);
}
END_TEST

START_TEST(test_login_kek_copy_fails)
{
	/* A backend that cannot copy the KEK is used with the token's KEK. */
	login_with_backend_failure("C_CopyObject", 1, false);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backend-faults");
	TCase *tc = tcase_create("backend-faults");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wrapper_counts_what_it_must);
	tcase_add_test(tc, test_unwrap_fails_on_first_use);
	tcase_add_test(tc, test_export_wrap_fails);
	tcase_add_test(tc, test_batch_generate_fails);
	tcase_add_test(tc, test_batch_wrap_under_kek_fails);
	tcase_add_test(tc, test_small_creation_fails_at_every_step);
	tcase_add_test(tc, test_module_session_vanishes);
	tcase_add_test(tc, test_module_session_cannot_be_reopened);
	tcase_add_test(tc, test_application_session_vanishes);
	tcase_add_test(tc, test_all_sessions_vanish);
	tcase_add_test(tc, test_login_kek_lookup_fails);
	tcase_add_test(tc, test_login_mac_key_lookup_fails);
	tcase_add_test(tc, test_login_counter_lookup_fails);
	tcase_add_test(tc, test_login_kek_copy_fails);
	tcase_add_test(tc, test_login_registry_refused_keeps_kek);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

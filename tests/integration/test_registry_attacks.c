/*
 * Issue 9: the registry file attacked by someone who can write its folder but
 * has no PIN, through the real module on a real SoftHSM2 token.
 *
 * Written before the fix (authenticated registry storage): every case does
 * the attack on the code of the day and asserts what the fixed module must
 * do.  The attacker edits the file with the sqlite3 C API while the module is
 * finalised (or, where a case says so, while another process has it open).
 * One START_TEST per item of the issue; inside one, every attack is tried
 * and each departure from the specified behaviour is collected, so that one
 * run names all of them (printed on stderr and in the failure message):
 *
 *   1      a refused login leaves the token's objects (KEK, MAC key,
 *          counter) as they were, and the right file restored works again;
 *   2/5/6  row edits are refused at the row's next use with
 *          CKR_DEVICE_ERROR and a "tamper-detected" record; deleted and
 *          inserted rows at C_Login; schema objects the module did not make
 *          at C_Initialize, with the file left alone;
 *   3/4    old files with a raised generation, emptied files and rewritten
 *          audit chains are refused at C_Login;
 *   8      a revocation reaches a process that keeps writing, at its next
 *          use of the key;
 *   P      one byte changed in any column of any table is noticed by one of
 *          the ordinary calls an application makes.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "akm/pkcs11-akm.h"
#include "lib/audit.h"
#include "lib/rv.h"

/* Handles of the module's own objects (docs/object-model.md §6, §9a). */
#define KEY_HANDLE(id) ((CK_OBJECT_HANDLE)(0x40000000UL + (CK_ULONG)(id)))
#define KEY_ID(h) ((int64_t)((h) - 0x40000000UL))
#define AUDIT_HANDLE(seq) ((CK_OBJECT_HANDLE)(0x20000000UL + (CK_ULONG)(seq)))
#ifndef CKA_UNIQUE_ID
#define CKA_UNIQUE_ID 0x4UL /* PKCS#11 3.0 */
#endif

static it_ctx t;
static char registry[PATH_MAX + 16];
static bool up; /* the module is initialised in this process */
static char mismatches[32768];

/* ---- collecting mismatches -------------------------------------------------- */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	size_t used = strlen(mismatches);
	if (used + 2 >= sizeof mismatches)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(mismatches + used, sizeof mismatches - used - 1, fmt, ap);
	va_end(ap);
	used = strlen(mismatches);
	mismatches[used] = '\n';
	mismatches[used + 1] = '\0';
}

static void expect_rv(const char *attack, const char *call, CK_RV got, CK_RV want)
{
	if (got != want)
		note("%s: %s: expected %s, got %s", attack, call, akm_rv_name(want), akm_rv_name(got));
}

static void report_mismatches(const char *item)
{
	if (mismatches[0] == '\0')
		return;
	fprintf(stderr, "---- %s: departures from the specified behaviour ----\n%s", item, mismatches);
	/* check carries a message of a few KiB at most: the start of the
	 * list here, all of it on stderr. */
	if (strlen(mismatches) > 3000)
		strcpy(mismatches + 2900, "\n... (the whole list is on stderr)");
	ck_abort_msg("%s:\n%s", item, mismatches);
}

/* ---- files ---------------------------------------------------------------- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* Keeps the registry (with its -wal when there is one) and, with `token`,
 * the SoftHSM2 token folder, under `tag`. */
static void files_save(const char *tag, bool token)
{
	sh("rm -rf '%s/saved-%s' && mkdir -p '%s/saved-%s' && cp -a '%s' '%s/saved-%s/registry.db' && "
	   "if [ -f '%s-wal' ]; then cp -a '%s-wal' '%s/saved-%s/registry.db-wal'; fi",
	   t.env.dir, tag, t.env.dir, tag, registry, t.env.dir, tag, registry, registry, t.env.dir, tag);
	if (token)
		sh("cp -a '%s' '%s/saved-%s/tokens'", t.env.token_dir, t.env.dir, tag);
}

/* Puts back what files_save kept (and the token with `token`); SQLite's
 * shared-memory index goes, so the next opener rebuilds it from the files. */
static void files_restore(const char *tag, bool token)
{
	sh("rm -f '%s' '%s-wal' '%s-shm' && cp -a '%s/saved-%s/registry.db' '%s' && "
	   "if [ -f '%s/saved-%s/registry.db-wal' ]; then cp -a '%s/saved-%s/registry.db-wal' '%s-wal'; fi",
	   registry, registry, registry, t.env.dir, tag, registry, t.env.dir, tag, t.env.dir, tag, registry);
	if (token)
		sh("rm -rf '%s' && cp -a '%s/saved-%s/tokens' '%s'", t.env.token_dir, t.env.dir, tag, t.env.token_dir);
}

static void hex(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- the registry through sqlite3, as the attacker has it ----------------- */

static sqlite3 *db_open(void)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

/* sqlite3_mprintf formats (%q, %w, %lld). */
static void db_exec(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3 *db = db_open();
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
	sqlite3_free(err);
	sqlite3_free(sql);
	sqlite3_close(db);
}

static int64_t db_int(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	sqlite3_free(sql);
	sqlite3_close(db);
	return v;
}

/* key.wrapped of one key row. */
static size_t db_wrapped(int64_t key_id, uint8_t *out, size_t cap)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT wrapped FROM key WHERE id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, key_id);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	size_t n = (size_t)sqlite3_column_bytes(st, 0);
	ck_assert_uint_le(n, cap);
	memcpy(out, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void db_set_wrapped(int64_t key_id, const uint8_t *blob, size_t n)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE key SET wrapped = ? WHERE id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, (int)n, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, key_id);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void dump_value(FILE *m, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER: fprintf(m, "%lld", (long long)sqlite3_column_int64(st, i)); break;
	case SQLITE_FLOAT: fprintf(m, "%.17g", sqlite3_column_double(st, i)); break;
	case SQLITE_NULL: fputs("NULL", m); break;
	case SQLITE_TEXT: fprintf(m, "'%s'", (const char *)sqlite3_column_text(st, i)); break;
	default: {
		const unsigned char *b = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);
		fputs("x'", m);
		for (int k = 0; k < n; k++)
			fprintf(m, "%02x", b[k]);
		fputc('\'', m);
	}
	}
}

/* Everything the file holds, as text: the schema, the version, every row of
 * every table. */
static char *db_dump(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(m);
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		fprintf(m, "user_version %lld\n", (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	akm_strlist tables = {0};
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
	                                    -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fputs("schema", m);
		for (int i = 0; i < 4; i++) {
			fputc(' ', m);
			dump_value(m, st, i);
		}
		fputc('\n', m);
		const char *type = (const char *)sqlite3_column_text(st, 0), *name = (const char *)sqlite3_column_text(st, 1);
		if (strcmp(type, "table") == 0)
			akm_strlist_add(&tables, name, strlen(name));
	}
	sqlite3_finalize(st);
	for (size_t k = 0; k < tables.n; k++) {
		char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY 1", tables.v[k]);
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			fprintf(m, "%s:", tables.v[k]);
			for (int i = 0; i < sqlite3_column_count(st); i++) {
				fputc(' ', m);
				dump_value(m, st, i);
			}
			fputc('\n', m);
		}
		sqlite3_finalize(st);
		sqlite3_free(sql);
	}
	akm_strlist_free(&tables);
	sqlite3_close(db);
	fclose(m);
	return buf;
}

/* "action/actor" of every record the module itself wrote, in order. */
static void module_records(char *out, size_t cap)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	out[0] = '\0';
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT action, ifnull(detail, '') FROM audit WHERE actor = 'module' ORDER BY seq",
	                                    -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t used = strlen(out);
		snprintf(out + used, cap - used, "%s%s (%s)", used ? ", " : "", (const char *)sqlite3_column_text(st, 0),
		         (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (out[0] == '\0')
		snprintf(out, cap, "none");
}

/* Whether `detail` holds `n` as a whole decimal number. */
static bool has_number(const char *detail, int64_t n)
{
	char digits[32];
	snprintf(digits, sizeof digits, "%lld", (long long)n);
	size_t len = strlen(digits);
	for (const char *p = strstr(detail, digits); p != NULL; p = strstr(p + 1, digits)) {
		bool before = p > detail && p[-1] >= '0' && p[-1] <= '9';
		bool after = p[len] >= '0' && p[len] <= '9';
		if (!before && !after)
			return true;
	}
	return false;
}

/* After C_Finalize: a "tamper-detected" record by the module whose detail
 * names `table` and the row: its id in decimal, or the relationship's ID
 * (in the record's rid column or as hex in the detail).  `table` NULL: any
 * "tamper-detected" record by the module. */
static bool tamper_record(const char *table, int64_t rowid, const CK_BYTE *rid, size_t rid_len)
{
	char rid_hex[65] = "";
	if (rid != NULL)
		hex(rid, rid_len, rid_hex);
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	bool found = false;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT actor, rid, ifnull(detail, '') FROM audit WHERE action = 'tamper-detected'",
	                                    -1, &st, NULL), SQLITE_OK);
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const char *actor = (const char *)sqlite3_column_text(st, 0);
		const char *detail = (const char *)sqlite3_column_text(st, 2);
		const void *rec_rid = sqlite3_column_blob(st, 1);
		size_t rec_rid_len = (size_t)sqlite3_column_bytes(st, 1);
		if (strcmp(actor, "module") != 0)
			continue;
		if (table == NULL) {
			found = true;
			continue;
		}
		bool names_row = has_number(detail, rowid) ||
		                 (rid != NULL && rec_rid_len == rid_len && memcmp(rec_rid, rid, rid_len) == 0) ||
		                 (rid != NULL && strstr(detail, rid_hex) != NULL);
		found = strstr(detail, table) != NULL && names_row;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

static void expect_tamper_record(const char *attack, const char *table, int64_t rowid, const CK_BYTE *rid,
                                 size_t rid_len)
{
	if (tamper_record(table, rowid, rid, rid_len))
		return;
	char got[2048];
	module_records(got, sizeof got);
	if (table != NULL)
		note("%s: no \"tamper-detected\" record (actor module) naming %s row %lld; the module's records: %s", attack,
		     table, (long long)rowid, got);
	else
		note("%s: no \"tamper-detected\" record (actor module); the module's records: %s", attack, got);
}

/* After a refused login on a file whose chain is intact: a record of the
 * refusal by the module, one of the actions given. */
static void expect_refusal_record(const char *attack, const char *action1, const char *action2)
{
	int64_t n = db_int("SELECT count(*) FROM audit WHERE actor = 'module' AND action IN (%Q, %Q)", action1, action2);
	if (n > 0)
		return;
	char got[2048];
	module_records(got, sizeof got);
	note("%s: no \"%s\"%s%s%s record (actor module) of the refusal; the module's records: %s", attack, action1,
	     action2 ? " or \"" : "", action2 ? action2 : "", action2 ? "\"" : "", got);
}

/* ---- the module ------------------------------------------------------------- */

static CK_RV mod_init(void)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = t.f->C_Initialize(&args);
	if (rv != CKR_OK)
		return rv;
	up = true;
	if ((rv = akm_test_find_slot(t.f, t.env.token_label, &t.slot)) != CKR_OK)
		return rv;
	return t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s);
}

static CK_RV mod_login(void)
{
	return t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN));
}

static void mod_fini(void)
{
	if (up)
		t.f->C_Finalize(NULL);
	up = false;
}

static void mod_open(void)
{
	ck_assert_int_eq(mod_init(), CKR_OK);
	ck_assert_int_eq(mod_login(), CKR_OK);
}

static void setup(void)
{
	mismatches[0] = '\0';
	up = false;
	it_setup_env(&t, "akm-attacks");
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
}

static void teardown(void)
{
	mod_fini();
	it_close(&t);
}

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};

/* A relationship made through the module: its keys' handles and row ids,
 * its ID and (once read from the file) its row id. */
typedef struct rel_info {
	CK_OBJECT_HANDLE enc, mac;
	int64_t id, enc_id, mac_id;
	CK_BYTE rid[32];
	CK_ULONG rid_len;
} rel_info;

static CK_RV get_attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BYTE buf[1200];
	CK_ATTRIBUTE a = {type, buf, sizeof buf};
	return t.f->C_GetAttributeValue(t.s, h, &a, 1);
}

static CK_RV set_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	return t.f->C_SetAttributeValue(t.s, h, &a, 1);
}

/* The MAC key of the relationship whose encryption key is `enc`; its ID. */
static void rel_fill(rel_info *r)
{
	CK_BYTE id[33];
	CK_ATTRIBUTE a = {CKA_ID, id, sizeof id};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, r->enc, &a, 1), CKR_OK);
	id[a.ulValueLen - 1] = CKV_AKM_PURPOSE_MAC;
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &a, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, &r->mac, 1, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 1);
	CK_ATTRIBUTE rid = {CKA_AKM_RELATIONSHIP_ID, r->rid, sizeof r->rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, r->enc, &rid, 1), CKR_OK);
	r->rid_len = rid.ulValueLen;
	r->enc_id = KEY_ID(r->enc);
	r->mac_id = KEY_ID(r->mac);
}

/* With the module finalised: the relationship's row id. */
static void rel_row(rel_info *r)
{
	r->id = db_int("SELECT relationship FROM key WHERE id = %lld", (long long)r->enc_id);
	ck_assert_int_gt(r->id, 0);
}

static CK_RV make_pr_in(CK_SESSION_HANDLE s, const char *node, const CK_BYTE *point, CK_OBJECT_HANDLE *h)
{
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	char hw[64];
	snprintf(hw, sizeof hw, "hw-%s", node);
	CK_ATTRIBUTE tmpl[6] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_PEER_NODE, (void *)node, strlen(node)},
		{CKA_AKM_HW_BINDING, hw, strlen(hw)},
		{CKA_AKM_STATION_ID, "nmm-1", 5},
		{CKA_LABEL, (void *)node, strlen(node)},
	};
	CK_ULONG n = 5;
	if (point != NULL)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_NODE_KEY, (void *)point, 65};
	return t.f->C_GenerateKey(s, &rel_gen, tmpl, n, h);
}

static void make_pr(rel_info *r, const char *node, const CK_BYTE *point)
{
	memset(r, 0, sizeof *r);
	ck_assert_int_eq(make_pr_in(t.s, node, point, &r->enc), CKR_OK);
	rel_fill(r);
}

/* Members node-a, node-b, node-c (and node-x with `extra`), as the header
 * encodes them. */
static size_t members(CK_BYTE *out, bool extra)
{
	const char *names[] = {"node-a", "node-b", "node-c", "node-x"};
	size_t n = 0;
	for (int i = 0; i < (extra ? 4 : 3); i++) {
		out[n++] = (CK_BYTE)strlen(names[i]);
		memcpy(out + n, names[i], strlen(names[i]));
		n += strlen(names[i]);
	}
	return n;
}

static void make_asr(rel_info *r, const char *label)
{
	memset(r, 0, sizeof *r);
	CK_ULONG kind = CKV_AKM_KIND_OPERATIONAL;
	CK_BYTE m[64];
	size_t mlen = members(m, false);
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_MEMBERS, m, mlen},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 3, &r->enc), CKR_OK);
	rel_fill(r);
}

/* An application's audit record (what tools/station/audit.c appends). */
static CK_RV app_record(CK_SESSION_HANDLE s, const char *action, const char *detail)
{
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_AKM_AUDIT_ACTION, (void *)action, strlen(action)},
		{CKA_AKM_AUDIT_DETAIL, (void *)detail, strlen(detail)},
	};
	CK_OBJECT_HANDLE h;
	return t.f->C_CreateObject(s, tmpl, 4, &h);
}

/* C_EncryptInit (AES-GCM) then C_Encrypt: the first code that is not OK. */
static CK_RV use_enc(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_BYTE iv[12] = {7}, ct[64];
	CK_GCM_PARAMS gp = {iv, sizeof iv, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_ULONG ctlen = sizeof ct;
	CK_RV rv = t.f->C_EncryptInit(s, &gcm, h);
	return rv != CKR_OK ? rv : t.f->C_Encrypt(s, (CK_BYTE_PTR) "attack", 6, ct, &ctlen);
}

/* C_SignInit (HMAC-SHA256) then C_Sign. */
static CK_RV use_mac(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	CK_BYTE tag[32];
	CK_ULONG taglen = sizeof tag;
	CK_RV rv = t.f->C_SignInit(s, &hmac, h);
	return rv != CKR_OK ? rv : t.f->C_Sign(s, (CK_BYTE_PTR) "attack", 6, tag, &taglen);
}

/* CKM_AKM_EXPORT_WRAP as it is called since issue 9 item 7: node-key mode,
 * no wrapping key of the caller's (the module reads the row before it
 * looks at the mode, so a tampered row is refused first). */
static CK_RV export_wrap(CK_OBJECT_HANDLE key)
{
	CK_BYTE eph[65], out[80];
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	CK_ULONG len = sizeof out;
	return t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, key, out, &len);
}

/* A fresh P-256 public key, uncompressed (0x04 || X || Y). */
static void p256_point(CK_BYTE point[65])
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	size_t len = 0;
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65, &len), 1);
	ck_assert_uint_eq(len, 65);
	ck_assert_uint_eq(point[0], 0x04);
	EVP_PKEY_free(k);
}

/* ---- the token through SoftHSM2 itself ------------------------------------- */

/* With the module finalised: every token object SoftHSM2 shows the user
 * (class, key type, label, ID, application, unique ID when the backend has
 * one), one line each, sorted; whether the KEK and the counter are there. */
static char *token_objects(bool *kek, bool *counter)
{
	void *dl;
	CK_FUNCTION_LIST *h = akm_test_load_module(t.env.softhsm_path, &dl);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(h, t.env.token_label, &slot), CKR_OK);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(h->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(h->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)), CKR_OK);
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE q = {CKA_TOKEN, &yes, 1};
	CK_OBJECT_HANDLE objs[256];
	CK_ULONG n = 0, got;
	ck_assert_int_eq(h->C_FindObjectsInit(s, &q, 1), CKR_OK);
	do {
		ck_assert_int_eq(h->C_FindObjects(s, objs + n, 16, &got), CKR_OK);
		n += got;
	} while (got > 0 && n + 16 <= 256);
	ck_assert_int_eq(h->C_FindObjectsFinal(s), CKR_OK);
	akm_strlist lines = {0};
	*kek = *counter = false;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG cls = 0, kt = (CK_ULONG)-1;
		CK_BYTE label[256], id[128], app[256], uid[128];
		CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
		                    {CKA_LABEL, label, sizeof label}, {CKA_ID, id, sizeof id},
		                    {CKA_APPLICATION, app, sizeof app}, {CKA_UNIQUE_ID, uid, sizeof uid}};
		char line[2048], lh[513], ih[257], ah[513], uh[257];
		for (size_t k = 0; k < 6; k++)
			if (h->C_GetAttributeValue(s, objs[i], &a[k], 1) != CKR_OK)
				a[k].ulValueLen = 0;
		hex(label, a[2].ulValueLen, lh);
		hex(id, a[3].ulValueLen, ih);
		hex(app, a[4].ulValueLen, ah);
		hex(uid, a[5].ulValueLen, uh);
		snprintf(line, sizeof line, "class %lu type %ld label %s id %s application %s unique %s", cls,
		         a[1].ulValueLen ? (long)kt : -1L, lh, ih, ah, uh);
		akm_strlist_add(&lines, line, strlen(line));
		if (a[2].ulValueLen == 14 && memcmp(label, "akm-pkcs11 KEK", 14) == 0)
			*kek = true;
		if (a[4].ulValueLen == 27 && memcmp(app, "akm-pkcs11 registry counter", 27) == 0)
			*counter = true;
	}
	akm_strlist_sort(&lines);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	for (size_t i = 0; i < lines.n; i++)
		fprintf(m, "%s\n", lines.v[i]);
	fclose(m);
	akm_strlist_free(&lines);
	h->C_Logout(s);
	h->C_CloseSession(s);
	h->C_Finalize(NULL);
	return text;
}

/* ---- refused logins ----------------------------------------------------------- */

/* C_Initialize works, C_Login is CKR_DEVICE_ERROR and the session stays
 * public; finalises.  When the login is accepted, `probe` (a relationship
 * key) is tried and what it does is named, for the report. */
static void expect_login_refused(const char *attack, CK_OBJECT_HANDLE probe)
{
	CK_RV rv = mod_init();
	if (rv != CKR_OK) {
		note("%s: C_Initialize/C_OpenSession: expected CKR_OK, got %s", attack, akm_rv_name(rv));
		mod_fini();
		return;
	}
	rv = mod_login();
	if (rv == CKR_OK) {
		CK_RV use = probe != 0 ? use_enc(t.s, probe) : CKR_OK;
		note("%s: C_Login: expected CKR_DEVICE_ERROR, got CKR_OK (then encrypting with key 0x%lx: %s)", attack,
		     probe, akm_rv_name(use));
	} else {
		expect_rv(attack, "C_Login", rv, CKR_DEVICE_ERROR);
		CK_SESSION_INFO si;
		CK_RV irv = t.f->C_GetSessionInfo(t.s, &si);
		if (irv != CKR_OK || si.state != CKS_RW_PUBLIC_SESSION)
			note("%s: after the refused C_Login the session is not public (%s, state %lu)", attack,
			     akm_rv_name(irv), si.state);
	}
	mod_fini();
}

/* C_Initialize and C_Login work (the attack is one the login checks do not
 * cover); false, with a note, when not. */
static bool open_for_use(const char *attack)
{
	CK_RV rv = mod_init();
	if (rv == CKR_OK)
		rv = mod_login();
	if (rv != CKR_OK) {
		note("%s: C_Initialize/C_Login: expected CKR_OK (a row edit is found at the row's use), got %s", attack,
		     akm_rv_name(rv));
		mod_fini();
		return false;
	}
	return true;
}

/* ==== 1. A refused login leaves the KEK ======================================== */

/* The token's objects before a refused login and after it: the same, the
 * KEK and the counter among them. */
typedef struct token_before {
	char *objects;
} token_before;

static void token_check(const char *attack, token_before *b)
{
	bool kek, counter;
	char *after = token_objects(&kek, &counter);
	if (!kek)
		note("%s: the KEK (\"akm-pkcs11 KEK\") is gone from the token after the refused login", attack);
	if (!counter)
		note("%s: the counter is gone from the token after the refused login", attack);
	if (strcmp(b->objects, after) != 0)
		note("%s: the token's objects changed across the refused login:\nbefore:\n%safter:\n%s", attack, b->objects,
		     after);
	free(after);
	free(b->objects);
	b->objects = NULL;
}

static void token_snapshot(token_before *b)
{
	bool kek, counter;
	b->objects = token_objects(&kek, &counter);
	ck_assert_msg(kek && counter, "the token has no KEK or counter before the attack");
}

/* The right file back: the login works and every key given encrypts. */
static void expect_right_file_works(const char *attack, const CK_OBJECT_HANDLE *keys, size_t n)
{
	CK_RV rv = mod_init();
	if (rv == CKR_OK)
		rv = mod_login();
	if (rv != CKR_OK) {
		note("%s, then the right file back: C_Initialize/C_Login: expected CKR_OK, got %s", attack, akm_rv_name(rv));
	} else {
		for (size_t i = 0; i < n; i++) {
			CK_RV use = use_enc(t.s, keys[i]);
			if (use != CKR_OK)
				note("%s, then the right file back: encrypting with key 0x%lx: expected CKR_OK, got %s", attack,
				     keys[i], akm_rv_name(use));
		}
	}
	mod_fini();
}

START_TEST(test_item1_refused_login_leaves_the_kek)
{
	rel_info r1, r2;
	mod_open();
	make_pr(&r1, "node-1", NULL);
	ck_assert_int_eq(use_enc(t.s, r1.enc), CKR_OK);
	mod_fini();
	files_save("old", false);
	mod_open();
	make_pr(&r2, "node-2", NULL);
	ck_assert_int_eq(use_enc(t.s, r2.enc), CKR_OK);
	mod_fini();
	files_save("right", false);
	CK_OBJECT_HANDLE keys[4] = {r1.enc, r2.enc};
	token_before b = {0};

	/* An old backup put back. */
	const char *attack = "1: an old backup restored";
	files_restore("old", false);
	token_snapshot(&b);
	expect_login_refused(attack, r1.enc);
	token_check(attack, &b);
	expect_refusal_record(attack, "rollback-detected", NULL);
	files_restore("right", false);
	expect_right_file_works(attack, keys, 2);

	/* The file deleted: the module makes an empty one. */
	attack = "1: the registry deleted";
	sh("rm -f '%s' '%s-wal' '%s-shm'", registry, registry, registry);
	token_snapshot(&b);
	expect_login_refused(attack, r1.enc);
	token_check(attack, &b);
	if (access(registry, F_OK) == 0)
		expect_refusal_record(attack, "rollback-detected", "tamper-detected");
	files_restore("right", false);
	expect_right_file_works(attack, keys, 2);

	/* meta.generation lowered. */
	attack = "1: meta.generation lowered";
	db_exec("UPDATE meta SET value = value - 1 WHERE name = 'generation'");
	token_snapshot(&b);
	expect_login_refused(attack, r1.enc);
	token_check(attack, &b);
	expect_refusal_record(attack, "tamper-detected", "rollback-detected");
	files_restore("right", false);
	expect_right_file_works(attack, keys, 2);

	/* A process killed with its last commits in the -wal; the -wal then
	 * deleted, or cut. */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		CK_OBJECT_HANDLE hs[2] = {0, 0};
		CK_RV rv = mod_init();
		if (rv == CKR_OK)
			rv = mod_login();
		if (rv == CKR_OK)
			rv = make_pr_in(t.s, "node-3", NULL, &hs[0]);
		if (rv == CKR_OK)
			rv = make_pr_in(t.s, "node-4", NULL, &hs[1]);
		if (rv == CKR_OK) /* the token's counter is brought up to date */
			rv = t.f->C_Logout(t.s);
		if (write(p[1], &rv, sizeof rv) != sizeof rv || write(p[1], hs, sizeof hs) != sizeof hs)
			_exit(3);
		raise(SIGKILL);
		_exit(4);
	}
	close(p[1]);
	CK_RV child_rv = CKR_GENERAL_ERROR;
	ck_assert_int_eq(read(p[0], &child_rv, sizeof child_rv), sizeof child_rv);
	ck_assert_int_eq(read(p[0], keys + 2, 2 * sizeof keys[0]), 2 * sizeof keys[0]);
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was not killed (status 0x%x)", status);
	ck_assert_msg(child_rv == CKR_OK, "the writer failed: %s", akm_rv_name(child_rv));
	char wal[PATH_MAX + 32];
	snprintf(wal, sizeof wal, "%s-wal", registry);
	struct stat st;
	ck_assert_msg(stat(wal, &st) == 0 && st.st_size > 32, "the killed writer left no -wal");
	files_save("wal", false);

	attack = "1: the -wal deleted after a kill";
	sh("rm -f '%s-wal' '%s-shm'", registry, registry);
	token_snapshot(&b);
	expect_login_refused(attack, r1.enc);
	token_check(attack, &b);
	expect_refusal_record(attack, "rollback-detected", NULL);
	files_restore("wal", false);
	expect_right_file_works(attack, keys, 4);

	attack = "1: the -wal cut in half after a kill";
	files_restore("wal", false);
	ck_assert_int_eq(truncate(wal, st.st_size / 2), 0);
	sh("rm -f '%s-shm'", registry);
	token_snapshot(&b);
	expect_login_refused(attack, r1.enc);
	token_check(attack, &b);
	expect_refusal_record(attack, "rollback-detected", NULL);
	files_restore("wal", false);
	expect_right_file_works(attack, keys, 4);

	report_mismatches("item 1");
}
END_TEST

/* ==== 2/5/6. Row edits, deleted and inserted rows, schema objects ========= */

static rel_info rel_a, rel_b, rel_c, rel_asr;
static CK_BYTE node_point[65], evil_point[65];

/* A: a PR with a node key, status imported and sequence 2; B: a PR; C: a
 * revoked PR; ASR: an operational relationship of node-a, -b, -c; two
 * application records.  Kept (registry and token) as "pristine". */
static void world_build(void)
{
	p256_point(node_point);
	p256_point(evil_point);
	mod_open();
	make_pr(&rel_a, "node-a", node_point);
	make_pr(&rel_b, "node-b", NULL);
	make_pr(&rel_c, "node-c", NULL);
	make_asr(&rel_asr, "asr-1");
	ck_assert_int_eq(set_ulong(rel_a.enc, CKA_AKM_STATUS, CKV_AKM_STATUS_IMPORTED), CKR_OK);
	ck_assert_int_eq(set_ulong(rel_a.enc, CKA_AKM_SEQUENCE, 1), CKR_OK);
	ck_assert_int_eq(set_ulong(rel_a.enc, CKA_AKM_SEQUENCE, 2), CKR_OK);
	ck_assert_int_eq(set_ulong(rel_c.enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(app_record(t.s, "app-start", "attack tests"), CKR_OK);
	const rel_info *all[] = {&rel_a, &rel_b, &rel_asr};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(use_enc(t.s, all[i]->enc), CKR_OK);
		ck_assert_int_eq(use_mac(t.s, all[i]->mac), CKR_OK);
	}
	ck_assert_int_eq(app_record(t.s, "app-check", "keys used"), CKR_OK);
	mod_fini();
	rel_row(&rel_a);
	rel_row(&rel_b);
	rel_row(&rel_c);
	rel_row(&rel_asr);
	files_save("pristine", true);
}

START_TEST(test_items2_5_6_row_edits_rows_and_schema)
{
	world_build();
	char h1[200];
	const char *attack;

	attack = "2: relationship.node_key changed to an attacker's P-256 point";
	files_restore("pristine", true);
	hex(evil_point, 65, h1);
	db_exec("UPDATE relationship SET node_key = x'%q' WHERE id = %lld", h1, (long long)rel_a.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_NODE_KEY)", get_attr(rel_a.enc, CKA_AKM_NODE_KEY), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_ID) of its MAC key", get_attr(rel_a.mac, CKA_ID), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_WrapKey(CKM_AKM_EXPORT_WRAP)", export_wrap(rel_a.enc), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_a.id, rel_a.rid, rel_a.rid_len);
	}

	attack = "2: relationship.node_key cleared";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET node_key = x'' WHERE id = %lld", (long long)rel_a.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_NODE_KEY)", get_attr(rel_a.enc, CKA_AKM_NODE_KEY), CKR_DEVICE_ERROR);
		CK_ATTRIBUTE set = {CKA_AKM_NODE_KEY, evil_point, 65};
		expect_rv(attack, "C_SetAttributeValue(CKA_AKM_NODE_KEY = the attacker's point)",
		          t.f->C_SetAttributeValue(t.s, rel_a.enc, &set, 1), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_a.id, rel_a.rid, rel_a.rid_len);
	}

	attack = "2: relationship.state revoked -> active";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET state = %d WHERE id = %lld", (int)CKV_AKM_STATE_ACTIVE, (long long)rel_c.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_EncryptInit/C_Encrypt", use_enc(t.s, rel_c.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_SignInit/C_Sign", use_mac(t.s, rel_c.mac), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_STATE)", get_attr(rel_c.enc, CKA_AKM_STATE), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_c.id, rel_c.rid, rel_c.rid_len);
	}

	attack = "2: relationship.hw changed";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET hw = CAST('hw-evil' AS BLOB) WHERE id = %lld", (long long)rel_a.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_HW_BINDING)", get_attr(rel_a.enc, CKA_AKM_HW_BINDING),
		          CKR_DEVICE_ERROR);
		expect_rv(attack, "C_WrapKey(CKM_AKM_EXPORT_WRAP) of its MAC key", export_wrap(rel_a.mac), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_a.id, rel_a.rid, rel_a.rid_len);
	}

	attack = "5: relationship.seq reset to 0";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET seq = 0 WHERE id = %lld", (long long)rel_a.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_SEQUENCE)", get_attr(rel_a.enc, CKA_AKM_SEQUENCE), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_SetAttributeValue(CKA_AKM_SEQUENCE = 1)", set_ulong(rel_a.enc, CKA_AKM_SEQUENCE, 1),
		          CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_a.id, rel_a.rid, rel_a.rid_len);
	}

	attack = "5: relationship.status lowered";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET status = %d WHERE id = %lld", (int)CKV_AKM_STATUS_CREATED, (long long)rel_a.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_STATUS) of its MAC key", get_attr(rel_a.mac, CKA_AKM_STATUS),
		          CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_a.id, rel_a.rid, rel_a.rid_len);
	}

	attack = "6: relationship.kind operational -> provisioning";
	files_restore("pristine", true);
	db_exec("UPDATE relationship SET kind = %d WHERE id = %lld", (int)CKV_AKM_KIND_PROVISIONING, (long long)rel_asr.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_WrapKey(CKM_AKM_EXPORT_WRAP)", export_wrap(rel_asr.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_KIND)", get_attr(rel_asr.enc, CKA_AKM_KIND), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_asr.id, rel_asr.rid, rel_asr.rid_len);
	}

	attack = "6: relationship.members with a member added";
	files_restore("pristine", true);
	{
		CK_BYTE m[64];
		size_t n = members(m, true);
		hex(m, n, h1);
		db_exec("UPDATE relationship SET members = x'%q' WHERE id = %lld", h1, (long long)rel_asr.id);
	}
	if (open_for_use(attack)) {
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_MEMBERS) of its MAC key", get_attr(rel_asr.mac, CKA_AKM_MEMBERS),
		          CKR_DEVICE_ERROR);
		expect_rv(attack, "C_EncryptInit/C_Encrypt", use_enc(t.s, rel_asr.enc), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_asr.id, rel_asr.rid, rel_asr.rid_len);
	}

	attack = "2: two relationships' key.wrapped swapped";
	files_restore("pristine", true);
	{
		uint8_t wa[256], wb[256];
		size_t na = db_wrapped(rel_a.enc_id, wa, sizeof wa), nb = db_wrapped(rel_b.enc_id, wb, sizeof wb);
		db_set_wrapped(rel_a.enc_id, wb, nb);
		db_set_wrapped(rel_b.enc_id, wa, na);
	}
	if (open_for_use(attack)) {
		expect_rv(attack, "C_EncryptInit/C_Encrypt with A's key", use_enc(t.s, rel_a.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_EncryptInit/C_Encrypt with B's key", use_enc(t.s, rel_b.enc), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "key", rel_a.enc_id, NULL, 0);
		expect_tamper_record(attack, "key", rel_b.enc_id, NULL, 0);
	}

	attack = "2: node A's enc blob copied into node B's key row";
	files_restore("pristine", true);
	{
		uint8_t wa[256];
		size_t na = db_wrapped(rel_a.enc_id, wa, sizeof wa);
		db_set_wrapped(rel_b.enc_id, wa, na);
	}
	if (open_for_use(attack)) {
		expect_rv(attack, "C_EncryptInit/C_Encrypt with B's key", use_enc(t.s, rel_b.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_EncryptInit/C_Encrypt with A's key (untouched)", use_enc(t.s, rel_a.enc), CKR_OK);
		mod_fini();
		expect_tamper_record(attack, "key", rel_b.enc_id, NULL, 0);
	}

	attack = "2: key.relationship pointed at another relationship (revoked C's key under active B)";
	files_restore("pristine", true);
	db_exec("UPDATE key SET relationship = -1 WHERE id = %lld;"
	        "UPDATE key SET relationship = %lld WHERE id = %lld;"
	        "UPDATE key SET relationship = %lld WHERE id = %lld;",
	        (long long)rel_b.enc_id, (long long)rel_b.id, (long long)rel_c.enc_id, (long long)rel_c.id, (long long)rel_b.enc_id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_EncryptInit/C_Encrypt with C's key", use_enc(t.s, rel_c.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_RELATIONSHIP_ID) of C's key",
		          get_attr(rel_c.enc, CKA_AKM_RELATIONSHIP_ID), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_EncryptInit/C_Encrypt with B's key", use_enc(t.s, rel_b.enc), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "key", rel_c.enc_id, NULL, 0);
	}

	attack = "2: a relationship row and its keys deleted";
	files_restore("pristine", true);
	db_exec("DELETE FROM key WHERE relationship = %lld; DELETE FROM relationship WHERE id = %lld", (long long)rel_b.id,
	        (long long)rel_b.id);
	expect_login_refused(attack, rel_a.enc);
	expect_tamper_record(attack, NULL, 0, NULL, 0);

	attack = "2: a ghost relationship (a copy of A's rows under a new id and ID)";
	files_restore("pristine", true);
	{
		int64_t new_rel = db_int("SELECT max(id) + 100 FROM relationship");
		int64_t new_key = db_int("SELECT max(id) + 100 FROM key");
		db_exec("CREATE TEMP TABLE ghost_rel AS SELECT * FROM relationship WHERE id = %lld;"
		        "UPDATE ghost_rel SET id = %lld, rid = x'67686f737431';"
		        "INSERT INTO relationship SELECT * FROM ghost_rel;"
		        "CREATE TEMP TABLE ghost_key AS SELECT * FROM key WHERE relationship = %lld;"
		        "UPDATE ghost_key SET id = id - %lld + %lld, relationship = %lld;"
		        "UPDATE ghost_key SET ckid = x'67686f73743101', label = CAST('ghost1/enc' AS BLOB) WHERE purpose = 1;"
		        "UPDATE ghost_key SET ckid = x'67686f73743102', label = CAST('ghost1/mac' AS BLOB) WHERE purpose = 2;"
		        "INSERT INTO key SELECT * FROM ghost_key;",
		        (long long)rel_a.id, (long long)new_rel, (long long)rel_a.id, (long long)rel_a.enc_id, (long long)new_key,
		        (long long)new_rel);
	}
	expect_login_refused(attack, rel_a.enc);
	expect_tamper_record(attack, NULL, 0, NULL, 0);

	/* Schema objects the module did not make: refused at C_Initialize, the
	 * log names them, the file is left as it was. */
	static const struct {
		const char *what, *name, *sql;
	} objects[] = {
		{"a trigger that resets state to active on update", "akm_keep_active",
		 "CREATE TRIGGER akm_keep_active AFTER UPDATE OF state ON relationship "
		 "BEGIN UPDATE relationship SET state = 2 WHERE id = NEW.id; END"},
		{"a view", "akm_view_extra", "CREATE VIEW akm_view_extra AS SELECT id, state FROM relationship"},
		{"an extra index", "akm_index_extra", "CREATE INDEX akm_index_extra ON relationship(state)"},
		{"an extra table", "akm_table_extra", "CREATE TABLE akm_table_extra (a, b)"},
	};
	for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
		char name[160], log_path[PATH_MAX + 32];
		snprintf(name, sizeof name, "6: %s in the schema", objects[i].what);
		files_restore("pristine", true);
		db_exec("%s", objects[i].sql);
		char *before = db_dump();
		snprintf(log_path, sizeof log_path, "%s/init.log", t.env.dir);
		fflush(stderr);
		int saved = dup(2), fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ck_assert(saved >= 0 && fd >= 0);
		dup2(fd, 2);
		close(fd);
		CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
		CK_RV rv = t.f->C_Initialize(&args);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		if (rv == CKR_OK) {
			up = true;
			note("%s: C_Initialize: expected a refusal, got CKR_OK", name);
			if (i == 0) { /* what the trigger does to a suspension, for the report */
				ck_assert_int_eq(akm_test_find_slot(t.f, t.env.token_label, &t.slot), CKR_OK);
				CK_SESSION_HANDLE s;
				ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
				                 CKR_OK);
				ck_assert_int_eq(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
				t.s = s;
				CK_RV set = set_ulong(rel_a.enc, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED);
				CK_RV use = use_enc(t.s, rel_a.enc);
				note("%s: (then, with the module running: suspending A: %s; encrypting with A: %s)", name,
				     akm_rv_name(set), akm_rv_name(use));
				mod_fini();
				free(before);
				continue; /* the file was written through the module */
			}
			mod_fini();
		} else {
			FILE *lf = fopen(log_path, "r");
			char log[8192] = "";
			if (lf != NULL) {
				size_t n = fread(log, 1, sizeof log - 1, lf);
				log[n] = '\0';
				fclose(lf);
			}
			if (strstr(log, objects[i].name) == NULL)
				note("%s: C_Initialize refused (%s) but the log does not name \"%s\": %s", name, akm_rv_name(rv),
				     objects[i].name, log);
		}
		char *after = db_dump();
		if (strcmp(before, after) != 0)
			note("%s: the file changed:\nbefore:\n%safter:\n%s", name, before, after);
		else if (strstr(after, objects[i].name) == NULL)
			note("%s: the object is gone from the file", name);
		free(before);
		free(after);
	}

	report_mismatches("items 2/5/6");
}
END_TEST

/* ==== 3/4. Rollback with the generation raised; rewritten chains ============= */

/* The audit chain rewritten without the records of `rid`'s revocation (its
 * set-state and use-refused records): renumbered, prev and hash recomputed
 * with plain AKM-AUDIT-1, the head in meta updated.  Rows are updated in
 * place, so any column the module adds stays as it was. */
static void rewrite_chain_without(const CK_BYTE *rid, size_t rid_len)
{
	sqlite3 *db = db_open();
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_stmt *sel, *del, *upd;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT seq, time, actor, action, rid, result, detail FROM audit ORDER BY seq",
	                                    -1, &sel, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "DELETE FROM audit WHERE seq = ?", -1, &del, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE audit SET seq = ?, prev = ?, hash = ? WHERE seq = ?", -1, &upd, NULL),
	                 SQLITE_OK);
	/* Read all first: the updates move rows under the cursor otherwise. */
	typedef struct rec {
		int64_t seq, time;
		char actor[64], action[64], detail[600];
		uint8_t rid[64];
		size_t rid_len;
		bool has_rid, has_detail;
		uint64_t result;
	} rec;
	rec *recs = calloc(4096, sizeof *recs);
	ck_assert_ptr_nonnull(recs);
	size_t n = 0;
	while (sqlite3_step(sel) == SQLITE_ROW && n < 4096) {
		rec *r = &recs[n++];
		r->seq = sqlite3_column_int64(sel, 0);
		r->time = sqlite3_column_int64(sel, 1);
		snprintf(r->actor, sizeof r->actor, "%s", (const char *)sqlite3_column_text(sel, 2));
		snprintf(r->action, sizeof r->action, "%s", (const char *)sqlite3_column_text(sel, 3));
		r->has_rid = sqlite3_column_type(sel, 4) != SQLITE_NULL;
		r->rid_len = (size_t)sqlite3_column_bytes(sel, 4);
		ck_assert_uint_le(r->rid_len, sizeof r->rid);
		if (r->rid_len)
			memcpy(r->rid, sqlite3_column_blob(sel, 4), r->rid_len);
		r->result = (uint64_t)sqlite3_column_int64(sel, 5);
		r->has_detail = sqlite3_column_type(sel, 6) != SQLITE_NULL;
		if (r->has_detail)
			snprintf(r->detail, sizeof r->detail, "%s", (const char *)sqlite3_column_text(sel, 6));
	}
	sqlite3_finalize(sel);
	uint8_t prev[AKM_AUDIT_HASH_LEN] = {0}, hash[AKM_AUDIT_HASH_LEN];
	int64_t seq = 0;
	size_t removed = 0;
	for (size_t i = 0; i < n; i++) {
		rec *r = &recs[i];
		bool of_rid = r->has_rid && r->rid_len == rid_len && memcmp(r->rid, rid, rid_len) == 0;
		if (of_rid && (strcmp(r->action, "set-state") == 0 || strcmp(r->action, "use-refused") == 0 ||
		               strcmp(r->action, "export-refused") == 0)) {
			sqlite3_bind_int64(del, 1, r->seq);
			ck_assert_int_eq(sqlite3_step(del), SQLITE_DONE);
			sqlite3_reset(del);
			removed++;
			continue;
		}
		seq++;
		akm_audit_entry e = {seq, r->time, r->actor, strlen(r->actor), r->action, strlen(r->action),
		                     r->has_rid ? r->rid : NULL, r->rid_len, r->result,
		                     r->has_detail ? r->detail : NULL, r->has_detail ? strlen(r->detail) : 0};
		akm_audit_hash(prev, &e, hash);
		sqlite3_bind_int64(upd, 1, seq);
		sqlite3_bind_blob(upd, 2, prev, sizeof prev, SQLITE_TRANSIENT);
		sqlite3_bind_blob(upd, 3, hash, sizeof hash, SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 4, r->seq);
		ck_assert_int_eq(sqlite3_step(upd), SQLITE_DONE);
		sqlite3_reset(upd);
		memcpy(prev, hash, sizeof hash);
	}
	ck_assert_uint_gt(removed, 0);
	sqlite3_finalize(del);
	sqlite3_finalize(upd);
	sqlite3_stmt *meta;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE meta SET value = ? WHERE name = 'audit_seq'", -1, &meta, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(meta, 1, seq);
	ck_assert_int_eq(sqlite3_step(meta), SQLITE_DONE);
	sqlite3_finalize(meta);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE meta SET value = ? WHERE name = 'audit_hash'", -1, &meta, NULL),
	                 SQLITE_OK);
	sqlite3_bind_blob(meta, 1, prev, sizeof prev, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(meta), SQLITE_DONE);
	sqlite3_finalize(meta);
	ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(recs);
}

START_TEST(test_items3_4_rollback_and_rewritten_chains)
{
	rel_info r1, r2;
	mod_open();
	make_pr(&r1, "node-1", NULL);
	ck_assert_int_eq(app_record(t.s, "app-start", "before the backup"), CKR_OK);
	mod_fini();
	files_save("old", false);
	mod_open();
	make_pr(&r2, "node-2", NULL);
	ck_assert_int_eq(set_ulong(r1.enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(use_enc(t.s, r1.enc), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(app_record(t.s, "app-check", "after the revocation"), CKR_OK);
	mod_fini();
	rel_row(&r1);
	files_save("right", false);
	int64_t gen = db_int("SELECT value FROM meta WHERE name = 'generation'");
	ck_assert_int_gt(gen, 0);
	const char *attack;

	attack = "3: an old copy with meta.generation raised above the token's";
	files_restore("old", false);
	db_exec("UPDATE meta SET value = %lld WHERE name = 'generation'", (long long)gen + 5);
	expect_login_refused(attack, r1.enc);
	expect_refusal_record(attack, "rollback-detected", "tamper-detected");

	attack = "3: every row deleted, meta.generation raised";
	files_restore("right", false);
	db_exec("DELETE FROM key; DELETE FROM relationship; DELETE FROM audit;"
	        "DELETE FROM meta WHERE name <> 'generation';"
	        "UPDATE meta SET value = %lld WHERE name = 'generation'",
	        (long long)gen + 5);
	expect_login_refused(attack, r1.enc);
	expect_refusal_record(attack, "rollback-detected", "tamper-detected");

	attack = "4: a revocation undone, its records cut from a chain rewritten with plain AKM-AUDIT-1";
	files_restore("right", false);
	db_exec("UPDATE relationship SET state = %d WHERE id = %lld", (int)CKV_AKM_STATE_ACTIVE, (long long)r1.id);
	rewrite_chain_without(r1.rid, r1.rid_len);
	expect_login_refused(attack, r1.enc);

	attack = "4: the audit trail emptied (records and head)";
	files_restore("right", false);
	db_exec("DELETE FROM audit; DELETE FROM meta WHERE name IN ('audit_seq', 'audit_hash')");
	expect_login_refused(attack, r2.enc);
	expect_refusal_record(attack, "tamper-detected", "rollback-detected");

	/* The right file still works. */
	files_restore("right", false);
	CK_OBJECT_HANDLE keys[] = {r2.enc};
	expect_right_file_works("3/4: the right file", keys, 1);

	report_mismatches("items 3/4");
}
END_TEST

/* ==== 8. A revocation reaches a busy writer ================================ */

/* A child process to talk to: *to_peer is the end to write to the other
 * process, *from_peer the end to read from it, in either.  Returns fork()'s
 * answer. */
static pid_t fork_talking(int *to_peer, int *from_peer)
{
	int to_parent[2], to_child[2];
	ck_assert_int_eq(pipe(to_parent), 0);
	ck_assert_int_eq(pipe(to_child), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	close(pid == 0 ? to_parent[0] : to_parent[1]);
	close(pid == 0 ? to_child[1] : to_child[0]);
	*to_peer = pid == 0 ? to_parent[1] : to_child[1];
	*from_peer = pid == 0 ? to_child[0] : to_parent[0];
	return pid;
}

START_TEST(test_item8_revocation_reaches_a_busy_writer)
{
	rel_info r;
	mod_open();
	make_pr(&r, "node-r", NULL);
	ck_assert_int_eq(use_enc(t.s, r.enc), CKR_OK);
	enum { REVOKE_AFTER = 3, USES = 8 };
	int to_peer, from_peer;
	pid_t pid = fork_talking(&to_peer, &from_peer);
	if (pid == 0) {
		/* The busy process: uses the key, appends an application record
		 * after each use.  Reports the use (1-based) of the first refusal
		 * and its code, or 0. */
		struct { int use; CK_RV rv; } report;
		memset(&report, 0, sizeof report); /* padding too: it goes down a pipe */
		report.use = -1;
		CK_RV rv = mod_init();
		if (rv == CKR_OK)
			rv = mod_login();
		if (rv != CKR_OK) {
			report.rv = rv;
			(void)!write(to_peer, &report, sizeof report);
			_exit(2);
		}
		report.use = 0;
		for (int use = 1; use <= USES; use++) {
			rv = use_enc(t.s, r.enc);
			if (rv != CKR_OK) {
				report.use = use;
				report.rv = rv;
				break;
			}
			if (use == REVOKE_AFTER) {
				char c = 'r', go = 0;
				if (write(to_peer, &c, 1) != 1 || read(from_peer, &go, 1) != 1 || go != 'g')
					_exit(3);
			}
			char detail[32];
			snprintf(detail, sizeof detail, "use %d", use);
			if ((rv = app_record(t.s, "app-heartbeat", detail)) != CKR_OK) {
				report.use = -use;
				report.rv = rv;
				break;
			}
		}
		(void)!write(to_peer, &report, sizeof report);
		t.f->C_Finalize(NULL);
		_exit(0);
	}
	char c = 0;
	ck_assert_int_eq(read(from_peer, &c, 1), 1);
	ck_assert_int_eq(c, 'r');
	/* The child has used the key (its state is cached there); revoke it
	 * here, committed, before the child writes and uses the key again. */
	ck_assert_int_eq(set_ulong(r.enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(write(to_peer, "g", 1), 1);
	struct { int use; CK_RV rv; } report = {-1, CKR_OK};
	ck_assert_int_eq(read(from_peer, &report, sizeof report), sizeof report);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(report.use >= 0, "the child failed at step %d: %s", report.use, akm_rv_name(report.rv));
	if (report.use != REVOKE_AFTER + 1 || report.rv != CKR_KEY_FUNCTION_NOT_PERMITTED) {
		if (report.use == 0)
			note("8: the child used the revoked key %d more times (appending a record after each) and was never refused",
			     USES - REVOKE_AFTER);
		else
			note("8: the child's first refusal: expected use %d with CKR_KEY_FUNCTION_NOT_PERMITTED, got use %d with %s",
			     REVOKE_AFTER + 1, report.use, akm_rv_name(report.rv));
	}
	report_mismatches("item 8");
}
END_TEST

/* ==== P. One byte changed anywhere is noticed ================================ */

static const CK_ATTRIBUTE_TYPE key_attrs[] = {
	CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID, CKA_KEY_TYPE, CKA_SENSITIVE, CKA_EXTRACTABLE,
	CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE, CKA_VALUE_LEN,
	CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
	CKA_AKM_RELATIONSHIP_ID, CKA_AKM_KIND, CKA_AKM_EPOCH, CKA_AKM_STATE, CKA_AKM_STATION_ID,
	CKA_AKM_PEER_NODE, CKA_AKM_MEMBERS, CKA_AKM_HW_BINDING, CKA_AKM_KEY_PURPOSE, CKA_AKM_CREATED,
	CKA_AKM_CHANGED, CKA_AKM_STATUS, CKA_AKM_SEQUENCE, CKA_AKM_SITE, CKA_AKM_NODE_KEY, CKA_AKM_CHECKIN,
};
static const CK_ATTRIBUTE_TYPE audit_attrs[] = {
	CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_MODIFIABLE, CKA_AKM_AUDIT_SEQ, CKA_AKM_AUDIT_TIME,
	CKA_AKM_AUDIT_ACTOR, CKA_AKM_AUDIT_ACTION, CKA_AKM_AUDIT_RESULT, CKA_AKM_AUDIT_DETAIL,
	CKA_AKM_AUDIT_PREV, CKA_AKM_AUDIT_HASH, CKA_AKM_RELATIONSHIP_ID, CKA_AKM_AUDIT_TOKEN_HEAD,
};

/* What one run of the ordinary calls saw. */
typedef struct verdict {
	bool detected;
	char how[160];    /* the first step that said so */
	char other[700];  /* unusual codes seen (for undetected mutations) */
	int others;       /* how many */
} verdict;

static void seen(verdict *v, CK_RV rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seen(verdict *v, CK_RV rv, const char *fmt, ...)
{
	if (rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return;
	char what[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (rv == CKR_DEVICE_ERROR && !v->detected) {
		v->detected = true;
		snprintf(v->how, sizeof v->how, "%s: CKR_DEVICE_ERROR", what);
	} else if (rv != CKR_DEVICE_ERROR) {
		/* The first three, then how many more. */
		size_t used = strlen(v->other);
		if (++v->others <= 3)
			snprintf(v->other + used, sizeof v->other - used, "%s%s: %s", used ? "; " : "", what, akm_rv_name(rv));
	}
}

static size_t find_handles(CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, size_t cap, verdict *v,
                           const char *what)
{
	CK_ULONG got = 0;
	size_t total = 0;
	CK_RV rv = t.f->C_FindObjectsInit(t.s, tmpl, n);
	seen(v, rv, "C_FindObjectsInit(%s)", what);
	if (rv != CKR_OK)
		return 0;
	do {
		rv = t.f->C_FindObjects(t.s, out + total, cap - total < 16 ? cap - total : 16, &got);
		seen(v, rv, "C_FindObjects(%s)", what);
		if (rv != CKR_OK)
			break;
		total += got;
	} while (got > 0 && total < cap);
	t.f->C_FindObjectsFinal(t.s);
	return total;
}

static bool has_handle(const CK_OBJECT_HANDLE *hs, size_t n, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < n; i++)
		if (hs[i] == h)
			return true;
	return false;
}

/* In a child process: C_Initialize, C_Login, every attribute of every
 * relationship key (the known ones and those a search finds), each key put
 * to use, every audit record's attributes (known and found), and one new
 * relationship.  Writes the verdict to fd. */
static void steps_child(int fd, const CK_OBJECT_HANDLE *known, size_t nknown, int64_t naudit)
{
	verdict v = {0};
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = t.f->C_Initialize(&args);
	if (rv != CKR_OK) {
		v.detected = true;
		snprintf(v.how, sizeof v.how, "C_Initialize refused: %s", akm_rv_name(rv));
		goto out;
	}
	if (akm_test_find_slot(t.f, t.env.token_label, &t.slot) != CKR_OK ||
	    t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s) != CKR_OK) {
		snprintf(v.other, sizeof v.other, "no session");
		goto out;
	}
	rv = mod_login();
	if (rv != CKR_OK) {
		v.detected = true;
		snprintf(v.how, sizeof v.how, "C_Login refused: %s", akm_rv_name(rv));
		goto out;
	}
	CK_OBJECT_HANDLE keys[64], recs[512];
	size_t nkeys = 0, nrecs = 0;
	for (size_t i = 0; i < nknown; i++)
		keys[nkeys++] = known[i];
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY, audit = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE by_class = {CKA_CLASS, &secret, sizeof secret};
	CK_OBJECT_HANDLE found[64];
	size_t nfound = find_handles(&by_class, 1, found, 64, &v, "secret keys");
	for (size_t i = 0; i < nfound; i++)
		if (!has_handle(keys, nkeys, found[i]) && nkeys < 64)
			keys[nkeys++] = found[i];
	for (int64_t s = 1; s <= naudit && nrecs < 512; s++)
		recs[nrecs++] = AUDIT_HANDLE(s);
	CK_ATTRIBUTE by_audit = {CKA_CLASS, &audit, sizeof audit};
	CK_OBJECT_HANDLE found_recs[512];
	nfound = find_handles(&by_audit, 1, found_recs, 512, &v, "audit records");
	for (size_t i = 0; i < nfound; i++)
		if (!has_handle(recs, nrecs, found_recs[i]) && nrecs < 512)
			recs[nrecs++] = found_recs[i];

	for (size_t i = 0; i < nkeys; i++)
		for (size_t k = 0; k < sizeof key_attrs / sizeof key_attrs[0]; k++)
			seen(&v, get_attr(keys[i], key_attrs[k]), "C_GetAttributeValue(0x%lx, 0x%lx)", keys[i], key_attrs[k]);
	for (size_t i = 0; i < nkeys; i++) {
		CK_ULONG purpose = 0;
		CK_ATTRIBUTE p = {CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose};
		bool known_purpose = t.f->C_GetAttributeValue(t.s, keys[i], &p, 1) == CKR_OK;
		if (!known_purpose || purpose == CKV_AKM_PURPOSE_ENCRYPT)
			seen(&v, use_enc(t.s, keys[i]), "C_EncryptInit/C_Encrypt(0x%lx)", keys[i]);
		if (!known_purpose || purpose == CKV_AKM_PURPOSE_MAC)
			seen(&v, use_mac(t.s, keys[i]), "C_SignInit/C_Sign(0x%lx)", keys[i]);
	}
	for (size_t i = 0; i < nrecs; i++)
		for (size_t k = 0; k < sizeof audit_attrs / sizeof audit_attrs[0]; k++)
			seen(&v, get_attr(recs[i], audit_attrs[k]), "C_GetAttributeValue(record 0x%lx, 0x%lx)", recs[i],
			     audit_attrs[k]);
	CK_OBJECT_HANDLE h;
	seen(&v, make_pr_in(t.s, "node-new", NULL, &h), "C_GenerateKey(a new relationship)");
	t.f->C_Finalize(NULL);
out:
	(void)!write(fd, &v, sizeof v);
	_exit(0);
}

/* One change to one cell: an integer +1, a text or blob with the low bit of
 * its middle byte flipped, NULL or empty set to x'00'.  `key_col` names the
 * row by value (tables without rowid), else rowid.  Returns the SQLite code
 * of the update; `desc` says what changed. */
static int mutate(const char *table, const char *col, const char *key_col, sqlite3_int64 rowid, const char *key_val,
                  char *desc, size_t cap)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st, *upd;
	char *where = key_col ? sqlite3_mprintf("\"%w\" = ?1", key_col) : sqlite3_mprintf("rowid = ?1");
	char *sel = sqlite3_mprintf("SELECT typeof(\"%w\"), \"%w\" FROM \"%w\" WHERE %s", col, col, table, where);
	char *up_sql = sqlite3_mprintf("UPDATE \"%w\" SET \"%w\" = ?2 WHERE %s", table, col, where);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sel, -1, &st, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, up_sql, -1, &upd, NULL) == SQLITE_OK, "%s: %s", up_sql, sqlite3_errmsg(db));
	if (key_col)
		sqlite3_bind_text(st, 1, key_val, -1, SQLITE_TRANSIENT), sqlite3_bind_text(upd, 1, key_val, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, rowid), sqlite3_bind_int64(upd, 1, rowid);
	ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: no row %lld / %s", sel, (long long)rowid, key_val ? key_val : "-");
	int type = sqlite3_column_type(st, 1);
	if (type == SQLITE_INTEGER) {
		sqlite3_int64 v = sqlite3_column_int64(st, 1);
		sqlite3_bind_int64(upd, 2, v + 1);
		snprintf(desc, cap, "integer %lld -> %lld", (long long)v, (long long)v + 1);
	} else if (type == SQLITE_FLOAT) {
		double v = sqlite3_column_double(st, 1);
		sqlite3_bind_double(upd, 2, v + 1);
		snprintf(desc, cap, "real +1");
	} else if (type == SQLITE_NULL || sqlite3_column_bytes(st, 1) == 0) {
		sqlite3_bind_blob(upd, 2, "", 1, SQLITE_TRANSIENT);
		snprintf(desc, cap, "%s -> x'00'", type == SQLITE_NULL ? "NULL" : "empty");
	} else {
		int n = sqlite3_column_bytes(st, 1);
		unsigned char *b = malloc((size_t)n + 1);
		ck_assert_ptr_nonnull(b);
		memcpy(b, type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, 1) : sqlite3_column_blob(st, 1), (size_t)n);
		b[n / 2] ^= 1;
		if (type == SQLITE_TEXT)
			sqlite3_bind_text(upd, 2, (const char *)b, n, SQLITE_TRANSIENT);
		else
			sqlite3_bind_blob(upd, 2, b, n, SQLITE_TRANSIENT);
		snprintf(desc, cap, "%s of %d bytes, byte %d's low bit flipped", type == SQLITE_TEXT ? "text" : "blob", n, n / 2);
		free(b);
	}
	sqlite3_finalize(st);
	int rc = sqlite3_step(upd);
	sqlite3_finalize(upd);
	sqlite3_free(where);
	sqlite3_free(sel);
	sqlite3_free(up_sql);
	sqlite3_close(db);
	return rc;
}

/* A table's columns, and the one that names a row when it has no rowid. */
static void table_columns(const char *table, akm_strlist *cols, char *pk, size_t pkcap, bool *rowid)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	pk[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		akm_strlist_add(cols, name, strlen(name));
		if (sqlite3_column_int(st, 5) == 1)
			snprintf(pk, pkcap, "%s", name);
	}
	sqlite3_finalize(st);
	sqlite3_free(sql);
	sql = sqlite3_mprintf("SELECT rowid FROM \"%w\" LIMIT 1", table);
	*rowid = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
	if (*rowid)
		sqlite3_finalize(st);
	sqlite3_free(sql);
	sqlite3_close(db);
}

START_TEST(test_property_one_byte_anywhere)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rel_info pa, pb, pasr;
	CK_BYTE point[65];
	p256_point(point);
	mod_open();
	make_pr(&pa, "node-a", point);
	make_pr(&pb, "node-b", NULL);
	make_asr(&pasr, "asr-p");
	/* A tree ASR of node-a and node-b (docs/asr.md): its rows in `tree`,
	 * read back whole by CKA_AKM_MEMBERS. */
	CK_BYTE_PTR tree_ids[2] = {(CK_BYTE_PTR) "node-a", (CK_BYTE_PTR) "node-b"};
	CK_ULONG tree_lens[2] = {6, 6};
	CK_AKM_ASR_GEN_PARAMS tree_params = {{0}, 2, tree_ids, tree_lens};
	CK_MECHANISM tree_gen = {CKM_AKM_ASR_GEN, &tree_params, sizeof tree_params};
	CK_ATTRIBUTE tree_tmpl[] = {{CKA_AKM_STATION_ID, "nmm-p", 5}, {CKA_LABEL, "tree-p", 6}};
	CK_OBJECT_HANDLE tree_asr;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &tree_gen, tree_tmpl, 2, &tree_asr), CKR_OK);
	ck_assert_int_eq(set_ulong(pa.enc, CKA_AKM_STATUS, CKV_AKM_STATUS_EXPORTED), CKR_OK);
	ck_assert_int_eq(set_ulong(pa.enc, CKA_AKM_SEQUENCE, 1), CKR_OK);
	ck_assert_int_eq(set_ulong(pa.enc, CKA_AKM_CHECKIN, 1700000000123UL), CKR_OK);
	ck_assert_int_eq(app_record(t.s, "app-start", "property test"), CKR_OK);
	ck_assert_int_eq(app_record(t.s, "app-check", "second record"), CKR_OK);
	/* A wrong PIN last: an event the module keeps before login (every
	 * table then has a row to change). */
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4), CKR_PIN_INCORRECT);
	mod_fini();
	files_save("pristine", true);
	CK_OBJECT_HANDLE known[] = {pa.enc, pa.mac, pb.enc, pb.mac, pasr.enc, pasr.mac, tree_asr};
	int64_t naudit = db_int("SELECT count(*) FROM audit");

	akm_strlist tables = {0};
	{
		sqlite3 *db = db_open();
		sqlite3_stmt *st;
		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
		                                    &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			akm_strlist_add(&tables, name, strlen(name));
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	int mutations = 0, undetected = 0;
	for (size_t ti = 0; ti < tables.n; ti++) {
		const char *table = tables.v[ti];
		akm_strlist cols = {0};
		char pk[128];
		bool rowid;
		files_restore("pristine", true); /* the rows as they were, not as the last run left them */
		table_columns(table, &cols, pk, sizeof pk, &rowid);
		/* The rows to change: a middle one by rowid (the second), the
		 * last when +1 would collide; every row of a table without rowid
		 * (meta: each row is a different value). */
		akm_strlist keys = {0};
		sqlite3_int64 row = 0, last = 0;
		if (rowid) {
			row = db_int("SELECT rowid FROM \"%w\" ORDER BY rowid LIMIT 1 OFFSET 1", table);
			if (row < 0)
				row = db_int("SELECT rowid FROM \"%w\" ORDER BY rowid LIMIT 1", table);
			last = db_int("SELECT rowid FROM \"%w\" ORDER BY rowid DESC LIMIT 1", table);
			if (row < 0) {
				note("P: %s has no rows: not changed", table);
				akm_strlist_free(&cols);
				continue;
			}
		} else {
			ck_assert_msg(pk[0] != '\0', "%s: no rowid and no primary key", table);
			sqlite3 *db = db_open();
			sqlite3_stmt *st;
			char *sql = sqlite3_mprintf("SELECT \"%w\" FROM \"%w\" ORDER BY 1", pk, table);
			ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *k = (const char *)sqlite3_column_text(st, 0);
				akm_strlist_add(&keys, k, strlen(k));
			}
			sqlite3_finalize(st);
			sqlite3_free(sql);
			sqlite3_close(db);
		}
		size_t nrows = rowid ? 1 : keys.n;
		for (size_t ri = 0; ri < nrows; ri++)
			for (size_t ci = 0; ci < cols.n; ci++) {
				const char *col = cols.v[ci];
				char desc[160], where[200];
				files_restore("pristine", true);
				sqlite3_int64 r = row;
				int rc = mutate(table, col, rowid ? NULL : pk, r, rowid ? NULL : keys.v[ri], desc, sizeof desc);
				if ((rc & 0xff) == SQLITE_CONSTRAINT && rowid && last != row) {
					files_restore("pristine", true);
					r = last;
					rc = mutate(table, col, NULL, r, NULL, desc, sizeof desc);
				}
				if (rowid)
					snprintf(where, sizeof where, "%s.%s (rowid %lld)", table, col, (long long)r);
				else
					snprintf(where, sizeof where, "%s.%s (%s = '%s')", table, col, pk, keys.v[ri]);
				if (rc != SQLITE_DONE) {
					note("P: %s: the change could not be made (SQLite %d)", where, rc);
					continue;
				}
				mutations++;
				int p[2];
				ck_assert_int_eq(pipe(p), 0);
				pid_t pid = fork();
				ck_assert_int_ge(pid, 0);
				if (pid == 0) {
					close(p[0]);
					steps_child(p[1], known, sizeof known / sizeof known[0], naudit);
				}
				close(p[1]);
				verdict v;
				memset(&v, 0, sizeof v);
				ssize_t got = read(p[0], &v, sizeof v);
				close(p[0]);
				int status;
				ck_assert_int_eq(waitpid(pid, &status, 0), pid);
				/* The events kept before login are not sealed until the
				 * next login (docs/formats.md 2.5): a row the module could
				 * not have written there is dropped with a tamper record;
				 * a pending event's number and time cannot be checked. */
				if (got == (ssize_t)sizeof v && !v.detected && strcmp(table, "pending") == 0) {
					if (db_int("SELECT count(*) FROM audit WHERE action = 'tamper-detected' AND actor = 'module'") >
					    0) {
						v.detected = true;
						snprintf(v.how, sizeof v.how, "dropped at login, with a tamper-detected record");
					} else if (strcmp(col, "id") == 0 || strcmp(col, "time") == 0) {
						fprintf(stderr, "P: not checkable by design: %s, %s\n", where, desc);
						continue;
					}
				}
				if (got != (ssize_t)sizeof v) {
					undetected++;
					note("P: %s, %s: the calls did not finish (status 0x%x)", where, desc, status);
				} else if (!v.detected) {
					undetected++;
					note("P: undetected: %s, %s%s%s%s", where, desc, v.other[0] ? "; other codes: " : "", v.other,
					     v.others > 3 ? "; ..." : "");
				} else {
					fprintf(stderr, "P: detected: %s, %s: %s\n", where, desc, v.how);
				}
			}
		akm_strlist_free(&keys);
		akm_strlist_free(&cols);
	}
	akm_strlist_free(&tables);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "P: %d changes, %d undetected, %.1f s\n", mutations, undetected, secs);
	if (secs > 60)
		note("P: took %.1f s (the budget is about 60 s)", secs);
	report_mismatches("property P");
}
END_TEST

/* One case per item (CK_RUN_CASE=item1, ... runs one). */
/* A row put back as an older sealed version of itself: B is revoked, then
 * its row from before the revocation (MAC and all) is written back.  The
 * row names the audit record of its last change; the sealed trail has a
 * later one. */
START_TEST(test_row_put_back_as_it_was)
{
	world_build();
	const char *attack = "a relationship row put back as it was before its revocation";
	files_restore("pristine", true);
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT state, changed, audit, mac FROM relationship WHERE id = ?", -1, &st,
	                                    NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, rel_b.id);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t state = sqlite3_column_int64(st, 0), changed = sqlite3_column_int64(st, 1),
	        audit = sqlite3_column_int64(st, 2);
	char mac[65];
	ck_assert_int_eq(sqlite3_column_bytes(st, 3), 32);
	hex(sqlite3_column_blob(st, 3), 32, mac);
	sqlite3_finalize(st);
	sqlite3_close(db);
	mod_open();
	ck_assert_int_eq(set_ulong(rel_b.enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	mod_fini();
	db_exec("UPDATE relationship SET state = %lld, changed = %lld, audit = %lld, mac = x'%q' WHERE id = %lld",
	        (long long)state, (long long)changed, (long long)audit, mac, (long long)rel_b.id);
	if (open_for_use(attack)) {
		expect_rv(attack, "C_EncryptInit/C_Encrypt", use_enc(t.s, rel_b.enc), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_STATE)", get_attr(rel_b.enc, CKA_AKM_STATE), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", rel_b.id, rel_b.rid, rel_b.rid_len);
	}
	report_mismatches("row put back");
}
END_TEST

/* The row of a PR as it is in the file now: checkin, audit, MAC (hex). */
typedef struct row_copy {
	int64_t checkin, audit;
	char mac[65];
} row_copy;

static row_copy row_copy_of(int64_t id)
{
	row_copy c;
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT checkin, audit, mac FROM relationship WHERE id = ?", -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	c.checkin = sqlite3_column_int64(st, 0);
	c.audit = sqlite3_column_int64(st, 1);
	ck_assert_int_eq(sqlite3_column_bytes(st, 2), 32);
	hex(sqlite3_column_blob(st, 2), 32, c.mac);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return c;
}

/* The replay counter (CKA_AKM_CHECKIN) put back: after the activation
 * service raised it, an older sealed copy of the PR's row is written back
 * — the one from before the first raise (0) and the one from before the
 * last — so that a handshake message accepted since would be accepted
 * again.  The copy names an older audit record than the trail's last
 * change of the row (every raise is one, "set-checkin"): refused when
 * read, the replay included, and recorded. */
START_TEST(test_checkin_put_back)
{
	const CK_ULONG first = 1700000000000UL, second = 1700000005000UL;
	rel_info r;
	mod_open();
	make_pr(&r, "node-k", NULL);
	mod_fini();
	rel_row(&r);
	row_copy at_zero = row_copy_of(r.id);
	ck_assert_int_eq(at_zero.checkin, 0);
	mod_open();
	ck_assert_int_eq(set_ulong(r.enc, CKA_AKM_CHECKIN, first), CKR_OK);
	mod_fini();
	row_copy at_first = row_copy_of(r.id);
	ck_assert_int_eq(at_first.checkin, (int64_t)first);
	ck_assert_int_gt(at_first.audit, at_zero.audit);
	mod_open();
	ck_assert_int_eq(set_ulong(r.mac, CKA_AKM_CHECKIN, second), CKR_OK);
	mod_fini();
	files_save("raised", true);
	const row_copy *copies[] = {&at_zero, &at_first};
	const char *attacks[] = {"the PR row from before the first checkin put back",
	                         "the PR row from before the last checkin put back"};
	for (int i = 0; i < 2; i++) {
		const char *attack = attacks[i];
		files_restore("raised", true);
		db_exec("UPDATE relationship SET checkin = %lld, audit = %lld, mac = x'%q' WHERE id = %lld",
		        (long long)copies[i]->checkin, (long long)copies[i]->audit, copies[i]->mac, (long long)r.id);
		if (!open_for_use(attack))
			continue;
		/* The message accepted at `second`, again: never accepted. */
		expect_rv(attack, "C_SetAttributeValue(CKA_AKM_CHECKIN = the last value accepted)",
		          set_ulong(r.enc, CKA_AKM_CHECKIN, second), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_SetAttributeValue(CKA_AKM_CHECKIN = a value between)",
		          set_ulong(r.mac, CKA_AKM_CHECKIN, first + 1), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_GetAttributeValue(CKA_AKM_CHECKIN)", get_attr(r.enc, CKA_AKM_CHECKIN), CKR_DEVICE_ERROR);
		expect_rv(attack, "C_EncryptInit/C_Encrypt", use_enc(t.s, r.enc), CKR_DEVICE_ERROR);
		mod_fini();
		expect_tamper_record(attack, "relationship", r.id, r.rid, r.rid_len);
	}
	/* The file as the module left it: the counter holds. */
	files_restore("raised", true);
	if (open_for_use("the registry as it was")) {
		CK_ULONG v = 0;
		CK_ATTRIBUTE a = {CKA_AKM_CHECKIN, &v, sizeof v};
		expect_rv("the registry as it was", "C_GetAttributeValue(CKA_AKM_CHECKIN)",
		          t.f->C_GetAttributeValue(t.s, r.enc, &a, 1), CKR_OK);
		if (v != second)
			note("the registry as it was: CKA_AKM_CHECKIN is %lu, not %lu", v, second);
		expect_rv("the registry as it was", "C_SetAttributeValue(CKA_AKM_CHECKIN = the last value accepted)",
		          set_ulong(r.enc, CKA_AKM_CHECKIN, second), CKR_ATTRIBUTE_VALUE_INVALID);
		mod_fini();
	}
	report_mismatches("checkin put back");
}
END_TEST

/* Item 10: the -changes side file renamed away (and a fresh one in its
 * place) hides no revocation from a process that keeps using a key
 * without writing: its cached state is trusted for a second at most. */
START_TEST(test_item10_side_file_renamed)
{
	rel_info r;
	mod_open();
	make_pr(&r, "node-s", NULL);
	ck_assert_int_eq(use_enc(t.s, r.enc), CKR_OK);
	mod_fini(); /* the other process is one of its own, not a fork of this one */
	int to_peer, from_peer;
	pid_t pid = fork_talking(&to_peer, &from_peer);
	if (pid == 0) {
		/* Uses the key every 20 ms; reports how long after the parent's
		 * "revoked" the first refusal came (ms), or -1. */
		long ms = -1;
		if (mod_init() != CKR_OK || mod_login() != CKR_OK || use_enc(t.s, r.enc) != CKR_OK)
			_exit(2);
		char c = 'u', go = 0;
		if (write(to_peer, &c, 1) != 1 || read(from_peer, &go, 1) != 1 || go != 'g')
			_exit(3);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < 250; i++) {
			CK_RV rv = use_enc(t.s, r.enc);
			if (rv != CKR_OK && rv != CKR_KEY_FUNCTION_NOT_PERMITTED) {
				ms = -1000 - (long)rv; /* another answer: reported as such */
				break;
			}
			if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
				break;
			}
			usleep(20000);
		}
		(void)!write(to_peer, &ms, sizeof ms);
		t.f->C_Finalize(NULL);
		_exit(0);
	}
	char c = 0;
	ck_assert_int_eq(read(from_peer, &c, 1), 1);
	/* The attacker moves the side file away; this process starts on a
	 * fresh one and revokes the key. */
	sh("mv '%s-changes' '%s-changes.moved'", registry, registry);
	mod_open();
	ck_assert_int_eq(set_ulong(r.enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(write(to_peer, "g", 1), 1);
	long ms = -2;
	ck_assert_int_eq(read(from_peer, &ms, sizeof ms), sizeof ms);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(ms > -1000, "the other process got 0x%lx, not the refusal", (unsigned long)(-1000 - ms));
	ck_assert_msg(ms >= 0, "the revocation never reached the other process (%ld)", ms);
	ck_assert_msg(ms <= 1500, "the revocation reached the other process after %ld ms", ms);
}
END_TEST

/* Item 9: a registry busy past the wait at login (another process holds its
 * write lock): C_Login is refused, the token stays logged out (its KEK and
 * counter out of reach), and the next login after the lock is released
 * succeeds. */
START_TEST(test_item9_busy_registry_at_login)
{
	rel_info r;
	mod_open();
	make_pr(&r, "node-b", NULL);
	mod_fini();
	sqlite3 *db = db_open();
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(mod_init(), CKR_OK);
	ck_assert_int_eq(mod_login(), CKR_FUNCTION_FAILED);
	CK_SESSION_INFO si;
	ck_assert_int_eq(t.f->C_GetSessionInfo(t.s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RW_PUBLIC_SESSION);
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n = 99;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, NULL, 0), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 8, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 0); /* nothing private, nothing of the module's */
	ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(mod_login(), CKR_OK);
	ck_assert_int_eq(use_enc(t.s, r.enc), CKR_OK);
}
END_TEST

static void add_case(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("registry-attacks");
	add_case(s, "item1", test_item1_refused_login_leaves_the_kek);
	add_case(s, "items2-5-6", test_items2_5_6_row_edits_rows_and_schema);
	add_case(s, "items3-4", test_items3_4_rollback_and_rewritten_chains);
	add_case(s, "item8", test_item8_revocation_reaches_a_busy_writer);
	add_case(s, "put-back", test_row_put_back_as_it_was);
	add_case(s, "checkin-put-back", test_checkin_put_back);
	add_case(s, "item9-busy", test_item9_busy_registry_at_login);
	add_case(s, "item10-side-file", test_item10_side_file_renamed);
	add_case(s, "property", test_property_one_byte_anywhere);
	IT_RUN_SUITE(s);
}

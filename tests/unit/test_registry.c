/* The registry store layer: opening and migrating, damaged and foreign
 * files, relationships and keys, search, transactions, meta values, the
 * hash-chained audit trail and its tamper detection, and several processes
 * writing at once.  Every test case gets its own temporary folder. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store/sqlite/sqlite.h"
#include "testenv.h"

#define KIND_PROVISIONING 1
#define KIND_OPERATIONAL 2
#define STATE_PENDING 1
#define STATE_ACTIVE 2
#define STATE_REVOKED 4
#define PURPOSE_ENC 1
#define PURPOSE_MAC 2

static char dir[64];
static char db_path[128];

/* ---- fixture and helpers ------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void setup(void)
{
	/* Reset the template: with CK_FORK=no the same buffer is used again. */
	snprintf(dir, sizeof dir, "/tmp/akm-registry-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof db_path, "%s/registry.db", dir);
}

static void teardown(void)
{
	ck_assert_int_eq(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* The key a login would derive from the token; any fixed one will do. */
static const uint8_t test_seal_key[AKM_STORE_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

static akm_store *open_ok(const char *path)
{
	akm_store *r = NULL;
	char err[512] = "";
	CK_RV rv = akm_store_open(path, &r, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "open %s: rv 0x%lx: %s", path, rv, err);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(akm_store_seal(r, test_seal_key), CKR_OK); /* as at login */
	return r;
}

/* A second, independent connection: what another program (or an attacker
 * with write access to the file) would use. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

static bool file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Whether the file holds `pattern` anywhere (a missing file holds nothing). */
static bool file_contains(const char *path, const uint8_t *pattern, size_t plen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		ck_assert_int_eq(errno, ENOENT);
		return false;
	}
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	uint8_t *buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	bool found = memmem(buf, (size_t)size, pattern, plen) != NULL;
	free(buf);
	return found;
}

static void set_bytes(uint8_t *dst, size_t *dst_len, const char *text)
{
	*dst_len = strlen(text);
	memcpy(dst, text, *dst_len);
}

static akm_relationship make_rel(const char *rid, CK_ULONG kind, CK_ULONG state, const char *peer)
{
	akm_relationship rel;
	memset(&rel, 0, sizeof rel);
	set_bytes(rel.rid, &rel.rid_len, rid);
	rel.kind = kind;
	rel.state = state;
	rel.epoch = 1;
	set_bytes(rel.station, &rel.station_len, "station-A");
	set_bytes(rel.peer, &rel.peer_len, peer);
	set_bytes(rel.hw, &rel.hw_len, "tpm:ek:0011");
	rel.created = 1700000000;
	rel.changed = 1700000000;
	return rel;
}

static akm_key make_key(int64_t rel_id, CK_ULONG purpose, const char *ckid, const char *label)
{
	akm_key key;
	memset(&key, 0, sizeof key);
	key.relationship = rel_id;
	key.purpose = purpose;
	key.key_type = purpose == PURPOSE_ENC ? CKK_AES : CKK_GENERIC_SECRET;
	key.value_len = 32;
	set_bytes(key.ckid, &key.ckid_len, ckid);
	set_bytes(key.label, &key.label_len, label);
	key.wrapped_len = 40;
	for (size_t i = 0; i < key.wrapped_len; i++)
		key.wrapped[i] = (uint8_t)(purpose * 31 + i);
	return key;
}

/* Inserts a relationship with one key of each purpose (in its own
 * transaction); returns the relationship's row id. */
static int64_t insert_pair(akm_store *r, const char *rid, int64_t key_ids[2])
{
	akm_relationship rel = make_rel(rid, KIND_OPERATIONAL, STATE_ACTIVE, "peer-1");
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
	char label[64];
	snprintf(label, sizeof label, "%s-enc", rid);
	akm_key enc = make_key(rel.id, PURPOSE_ENC, rid, label);
	snprintf(label, sizeof label, "%s-mac", rid);
	akm_key mac = make_key(rel.id, PURPOSE_MAC, rid, label);
	ck_assert_int_eq(akm_store_insert_key(r, &enc), CKR_OK);
	ck_assert_int_eq(akm_store_insert_key(r, &mac), CKR_OK);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	if (key_ids != NULL) {
		key_ids[0] = enc.id;
		key_ids[1] = mac.id;
	}
	return rel.id;
}

static int64_t count(akm_store *r, const char *table)
{
	akm_store_table t = strcmp(table, "relationship") == 0 ? AKM_STORE_RELATIONSHIPS
	                    : strcmp(table, "key") == 0        ? AKM_STORE_KEYS
	                                                       : AKM_STORE_AUDIT;
	int64_t n = -1;
	ck_assert_int_eq(akm_store_count(r, t, &n), CKR_OK);
	return n;
}

static void assert_key_eq(const akm_key *got, const akm_key *want)
{
	ck_assert_int_eq(got->id, want->id);
	ck_assert_int_eq(got->relationship, want->relationship);
	ck_assert_uint_eq(got->purpose, want->purpose);
	ck_assert_uint_eq(got->key_type, want->key_type);
	ck_assert_uint_eq(got->value_len, want->value_len);
	ck_assert_uint_eq(got->ckid_len, want->ckid_len);
	ck_assert_mem_eq(got->ckid, want->ckid, want->ckid_len);
	ck_assert_uint_eq(got->label_len, want->label_len);
	ck_assert_mem_eq(got->label, want->label, want->label_len);
	ck_assert_uint_eq(got->wrapped_len, want->wrapped_len);
	ck_assert_mem_eq(got->wrapped, want->wrapped, want->wrapped_len);
}

static void assert_rel_eq(const akm_relationship *got, const akm_relationship *want)
{
	ck_assert_int_eq(got->id, want->id);
	ck_assert_uint_eq(got->rid_len, want->rid_len);
	ck_assert_mem_eq(got->rid, want->rid, want->rid_len);
	ck_assert_uint_eq(got->kind, want->kind);
	ck_assert_uint_eq(got->state, want->state);
	ck_assert_uint_eq(got->epoch, want->epoch);
	ck_assert_uint_eq(got->station_len, want->station_len);
	ck_assert_mem_eq(got->station, want->station, want->station_len);
	ck_assert_uint_eq(got->peer_len, want->peer_len);
	ck_assert_mem_eq(got->peer, want->peer, want->peer_len);
	ck_assert_uint_eq(got->members_len, want->members_len);
	if (want->members_len > 0) {
		ck_assert_ptr_nonnull(got->members);
		ck_assert_ptr_ne(got->members, want->members); /* a copy of its own */
		ck_assert_mem_eq(got->members, want->members, want->members_len);
	} else {
		ck_assert_ptr_null(got->members);
	}
	ck_assert_uint_eq(got->hw_len, want->hw_len);
	ck_assert_mem_eq(got->hw, want->hw, want->hw_len);
	ck_assert_int_eq(got->created, want->created);
	ck_assert_int_eq(got->changed, want->changed);
	ck_assert_uint_eq(got->checkin, want->checkin);
}

static void append_event(akm_store *r, const char *action, const char *rid, CK_RV result,
                         const char *detail)
{
	akm_audit_event ev = {
		.actor = "user", .action = action,
		.rid = (const uint8_t *)rid, .rid_len = rid ? strlen(rid) : 0,
		.result = result, .detail = detail,
	};
	ck_assert_int_eq(akm_store_audit_append(r, &ev), CKR_OK);
}

/* N events: every third without a relationship, every fourth without detail. */
static void append_events(akm_store *r, int n)
{
	for (int i = 0; i < n; i++) {
		char rid[32], detail[64];
		snprintf(rid, sizeof rid, "rel-%03d", i);
		snprintf(detail, sizeof detail, "event %d", i);
		append_event(r, i % 2 ? "create" : "destroy", i % 3 == 0 ? NULL : rid,
		             i % 5 == 0 ? CKR_PIN_INCORRECT : CKR_OK, i % 4 == 0 ? NULL : detail);
	}
}

static void assert_verifies(akm_store *r, int64_t want_records)
{
	int64_t records = -1;
	char err[512] = "";
	CK_RV rv = akm_store_audit_verify(r, &records, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "verify: rv 0x%lx: %s", rv, err);
	ck_assert_int_eq(records, want_records);
}

/* Verification must fail with a message containing each of `words`. */
static void assert_verify_fails(akm_store *r, const char *const *words)
{
	int64_t records = -1;
	char err[512] = "";
	ck_assert_uint_eq(akm_store_audit_verify(r, &records, err, sizeof err), CKR_GENERAL_ERROR);
	for (; *words != NULL; words++)
		ck_assert_msg(strstr(err, *words) != NULL, "\"%s\" not in \"%s\"", *words, err);
}

/* ---- opening ------------------------------------------------------------- */

START_TEST(test_open_creates_and_migrates)
{
	ck_assert(!file_exists(db_path));
	akm_store *r = open_ok(db_path);
	ck_assert(file_exists(db_path));
	ck_assert_str_eq(akm_store_location(r), db_path);
	ck_assert_int_eq(count(r, "relationship"), 0);
	ck_assert_int_eq(count(r, "key"), 0);
	ck_assert_int_eq(count(r, "audit"), 0);
	int64_t n = 7;
	/* Tables are named by type, not by text: nothing else can be asked. */
	ck_assert_uint_eq(akm_store_count(r, (akm_store_table)99, &n), CKR_ARGUMENTS_BAD);
	akm_store_close(r);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	/* WAL is persistent in the file: readers never block the writer. */
	sqlite3 *db = raw_open(db_path);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* Opening again does not migrate again (it would fail: tables exist). */
	r = open_ok(db_path);
	akm_store_close(r);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	akm_store_close(NULL); /* harmless */
}
END_TEST

/* A file made by schema version 1 (the first module release) is migrated:
 * its rows stay, with the defaults of the new columns, and the audit trail
 * can be searched by relationship. */
START_TEST(test_migrates_version_1)
{
	FILE *empty = fopen(db_path, "w"); /* an empty file is an empty database */
	ck_assert_ptr_nonnull(empty);
	fclose(empty);
	raw_exec(db_path,
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
		"CREATE TABLE relationship (id INTEGER PRIMARY KEY AUTOINCREMENT, rid BLOB NOT NULL UNIQUE,"
		"  kind INTEGER NOT NULL, state INTEGER NOT NULL, epoch INTEGER NOT NULL,"
		"  station BLOB NOT NULL, peer BLOB NOT NULL, members BLOB NOT NULL, hw BLOB NOT NULL,"
		"  created INTEGER NOT NULL, changed INTEGER NOT NULL);"
		"CREATE INDEX relationship_peer ON relationship(peer);"
		"CREATE TABLE key (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  relationship INTEGER NOT NULL REFERENCES relationship(id) ON DELETE CASCADE,"
		"  purpose INTEGER NOT NULL, key_type INTEGER NOT NULL, value_len INTEGER NOT NULL,"
		"  ckid BLOB NOT NULL, label BLOB NOT NULL, wrapped BLOB NOT NULL, UNIQUE (relationship, purpose));"
		"CREATE INDEX key_ckid ON key(ckid);"
		"CREATE INDEX key_label ON key(label);"
		"CREATE TABLE audit (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
		"  action TEXT NOT NULL, rid BLOB, result INTEGER NOT NULL, detail TEXT,"
		"  prev BLOB NOT NULL, hash BLOB NOT NULL);"
		"INSERT INTO relationship VALUES (1, x'0102', 1, 2, 0, x'', x'4e', x'', x'4857', 100, 100);"
		"INSERT INTO key VALUES (1, 1, 1, 31, 32, x'010201', x'6c2f656e63', x'00');"
		"PRAGMA user_version = 1;");
	akm_store *r = open_ok(db_path);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	akm_key key;
	akm_relationship rel;
	/* Its rows are not sealed: refused until the first login seals them. */
	ck_assert_uint_eq(akm_store_get_key(r, 1, &key, &rel), AKM_STORE_TAMPERED);
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_msg(akm_store_check(r, true) == CKR_OK, "%s", akm_store_tamper_reason(r));
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	ck_assert_int_eq(akm_store_get_key(r, 1, &key, &rel), CKR_OK);
	ck_assert(rel.rid_len == 2 && rel.rid[0] == 1 && rel.rid[1] == 2);
	ck_assert_uint_eq(rel.status, 1);
	ck_assert_uint_eq(rel.seq, 0);
	ck_assert_uint_eq(rel.site_len, 0);
	ck_assert_uint_eq(rel.node_key_len, 0);
	ck_assert_uint_eq(rel.checkin, 0);
	/* The new columns are written and read back. */
	rel.status = 3;
	rel.seq = 7;
	rel.checkin = 1700000099123UL;
	rel.node_key_len = AKM_NODE_KEY_LEN;
	memset(rel.node_key, 0x04, AKM_NODE_KEY_LEN);
	ck_assert_int_eq(akm_store_update_relationship(r, &rel), CKR_OK);
	akm_relationship_clear(&rel);
	ck_assert_int_eq(akm_store_get_key(r, 1, &key, &rel), CKR_OK);
	ck_assert_uint_eq(rel.status, 3);
	ck_assert_uint_eq(rel.seq, 7);
	ck_assert_uint_eq(rel.checkin, 1700000099123UL);
	ck_assert_uint_eq(rel.node_key_len, AKM_NODE_KEY_LEN);
	akm_relationship_clear(&rel);
	/* Audit records by number and by relationship. */
	akm_audit_event a = {"user", "create", (const uint8_t *)"\x01\x02", 2, CKR_OK, "provisioning"};
	akm_audit_event b = {"module", "other", NULL, 0, CKR_DEVICE_ERROR, NULL};
	ck_assert_int_eq(akm_store_audit_append(r, &a), CKR_OK);
	ck_assert_int_eq(akm_store_audit_append(r, &b), CKR_OK);
	ck_assert_int_eq(akm_store_audit_append(r, &a), CKR_OK);
	int64_t seqs[8];
	size_t n = 0;
	ck_assert_int_eq(akm_store_audit_find(r, (const uint8_t *)"\x01\x02", 2, 0, seqs, 8, &n), CKR_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert(seqs[0] == 1 && seqs[1] == 3);
	ck_assert_int_eq(akm_store_audit_find(r, NULL, 0, 1, seqs, 8, &n), CKR_OK);
	ck_assert(n == 2 && seqs[0] == 2 && seqs[1] == 3);
	akm_audit_record rec;
	ck_assert_int_eq(akm_store_audit_get(r, 2, &rec), CKR_OK);
	ck_assert(rec.actor_len == 6 && memcmp(rec.actor, "module", 6) == 0);
	ck_assert(rec.action_len == 5 && rec.rid_len == 0 && rec.detail_len == 0);
	ck_assert_uint_eq(rec.result, CKR_DEVICE_ERROR);
	uint8_t h1[AKM_AUDIT_HASH_LEN];
	ck_assert_int_eq(akm_store_audit_hash_at(r, 1, h1), CKR_OK);
	ck_assert(memcmp(rec.prev, h1, sizeof h1) == 0);
	ck_assert_int_eq(akm_store_audit_get(r, 9, &rec), CKR_OBJECT_HANDLE_INVALID);
	assert_verifies(r, 3);
	akm_store_close(r);
}
END_TEST

/* The documented vectors' row key (docs/formats.md §2.6). */
static const uint8_t *vector_seal_key(void)
{
	static uint8_t key[AKM_STORE_KEY_LEN];
	for (int i = 0; i < AKM_STORE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	return key;
}

static CK_RV check_at_login(akm_store *r, bool upgrade)
{
	CK_RV rv = akm_store_begin(r);
	if (rv == CKR_OK && (rv = akm_store_check(r, upgrade)) == CKR_OK)
		return akm_store_commit(r);
	akm_store_rollback(r);
	return rv;
}

/* A sealed registry of schema version 3, as a version-3 station has it,
 * opened by this module (version 4): migrated with its rows as they are,
 * which verify without being sealed again (the relationship row carries the
 * MAC version 3 gave it, docs/formats.md §2.6 and §2.7); its counter is 0,
 * can be raised, and is sealed from then on. */
START_TEST(test_migrates_version_3_sealed)
{
	/* The audit trail and the named values, sealed by the store (whose
	 * audit and meta rows are what version 3 wrote); then the file is made
	 * version 3 again and given the documented relationship row with its
	 * version-3 MAC, and a key row of its own. */
	akm_store *r = NULL;
	char err[512] = "";
	ck_assert_int_eq(akm_store_open(db_path, &r, err, sizeof err), CKR_OK);
	ck_assert_int_eq(akm_store_seal(r, vector_seal_key()), CKR_OK);
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_int_eq(akm_store_set_int(r, "generation", 3), CKR_OK);
	akm_audit_event create = {"user", "create", (const uint8_t *)"\x00\x11\x22\x33", 4, CKR_OK, "provisioning", true};
	akm_audit_event status = {"user", "set-status", (const uint8_t *)"\x00\x11\x22\x33", 4, CKR_OK,
	                          "status created -> activated", true};
	akm_audit_event login = {"user", "login", NULL, 0, CKR_PIN_INCORRECT, "user", false};
	ck_assert_int_eq(akm_store_audit_append(r, &create), CKR_OK);
	ck_assert_int_eq(akm_store_audit_append(r, &login), CKR_OK);
	ck_assert_int_eq(akm_store_audit_append(r, &status), CKR_OK); /* record 3: the row's last change */
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	/* The bookkeeping: one relationship, one key, ids 1 and 1. */
	uint8_t rows[32] = {0};
	rows[7] = 1, rows[15] = 1, rows[23] = 1, rows[31] = 1;
	uint8_t rows_mac[AKM_SEAL_LEN], key_mac[AKM_SEAL_LEN];
	akm_seal_meta(r, "rows", false, 0, rows, sizeof rows, rows_mac);
	akm_key key = make_key(1, PURPOSE_ENC, "", "pr-1/enc");
	key.id = 1;
	memcpy(key.ckid, "\x00\x11\x22\x33\x01", 5);
	key.ckid_len = 5;
	akm_seal_key(r, &key, key_mac);
	akm_store_close(r);
	char rows_hex[65], mac_hex[65], wrapped_hex[81];
	for (int i = 0; i < 32; i++)
		snprintf(rows_hex + 2 * i, 3, "%02x", rows[i]);
	for (int i = 0; i < 40; i++)
		snprintf(wrapped_hex + 2 * i, 3, "%02x", key.wrapped[i]);
	for (int i = 0; i < 32; i++)
		snprintf(mac_hex + 2 * i, 3, "%02x", rows_mac[i]);
	char *sql = sqlite3_mprintf(
		AKM_TEST_SQL_BACK_TO_V5
		"ALTER TABLE relationship DROP COLUMN checkin;"
		"DROP TABLE tree;"
		"PRAGMA user_version = 3;"
		"INSERT INTO relationship (id, rid, kind, state, epoch, station, peer, members, hw, created, changed,"
		"  status, seq, site, node_key, delivery, audit, mac) VALUES (1, x'00112233', 1, 2, 0, CAST('nmm-1' AS BLOB),"
		"  CAST('node-7' AS BLOB), x'', CAST('se-serial-0042' AS BLOB), 1700000000, 1700000100, 4, 1, x'', x'', 1,"
		"  3, x'17c120953b5a3d2d8812576c51b055e56e7348b9188fa6dd493e28c92aacd7f7');"
		"INSERT OR REPLACE INTO meta (name, value, mac) VALUES ('rows', x'%s', x'%s');",
		rows_hex, mac_hex);
	ck_assert_ptr_nonnull(sql);
	raw_exec(db_path, sql);
	sqlite3_free(sql);
	for (int i = 0; i < 32; i++)
		snprintf(mac_hex + 2 * i, 3, "%02x", key_mac[i]);
	sql = sqlite3_mprintf("INSERT INTO key (id, relationship, purpose, key_type, value_len, ckid, label, wrapped, mac)"
	                      " VALUES (1, 1, 1, %d, 32, x'0011223301', CAST('pr-1/enc' AS BLOB), x'%s', x'%s');",
	                      (int)CKK_AES, wrapped_hex, mac_hex);
	raw_exec(db_path, sql);
	sqlite3_free(sql);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), 3);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM pragma_table_info('relationship') WHERE name = 'checkin'"), 0);

	/* Opened by this module: the version-3 schema is accepted as exactly
	 * version 3's, and migrated. */
	r = NULL;
	CK_RV rv = akm_store_open(db_path, &r, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "open: 0x%lx: %s", rv, err);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	ck_assert_int_eq(akm_store_seal(r, vector_seal_key()), CKR_OK);
	/* The login's check, without sealing anything anew: the rows hold. */
	ck_assert_msg(check_at_login(r, false) == CKR_OK, "%s", akm_store_tamper_reason(r));
	akm_key got;
	akm_relationship rel;
	rv = akm_store_get_key(r, 1, &got, &rel);
	ck_assert_msg(rv == CKR_OK, "the version-3 row: 0x%lx %s", rv, akm_store_tamper_reason(r));
	assert_key_eq(&got, &key);
	ck_assert_uint_eq(rel.checkin, 0);
	ck_assert_uint_eq(rel.status, 4);
	ck_assert_uint_eq(rel.seq, 1);
	ck_assert_int_eq(rel.audit, 3);
	assert_verifies(r, 3);
	/* Raised: sealed with the field, as documented. */
	rel.checkin = 1700000099123UL;
	ck_assert_int_eq(akm_store_update_relationship(r, &rel), CKR_OK);
	akm_relationship_clear(&rel);
	ck_assert_int_eq(akm_store_get_key(r, 1, &got, &rel), CKR_OK);
	ck_assert_uint_eq(rel.checkin, 1700000099123UL);
	akm_relationship_clear(&rel);
	ck_assert_int_eq(raw_int(db_path, "SELECT mac = x'80e10b12a2cbd46d1db2778446d9a3e9df99d5bc6655cebc7fc3ded48e7095bf'"
	                                  " FROM relationship WHERE id = 1"), 1);
	akm_store_close(r);
	/* Opened again: version 4 as it is, and still accepted. */
	r = open_ok(db_path);
	ck_assert_int_eq(akm_store_seal(r, vector_seal_key()), CKR_OK);
	ck_assert_msg(check_at_login(r, false) == CKR_OK, "%s", akm_store_tamper_reason(r));
	ck_assert_int_eq(akm_store_get_key(r, 1, &got, &rel), CKR_OK);
	ck_assert_uint_eq(rel.checkin, 1700000099123UL);
	akm_relationship_clear(&rel);
	akm_store_close(r);
	/* The counter alone set back to 0: the row's MAC (which includes the
	 * counter now) no longer matches... */
	raw_exec(db_path, "UPDATE relationship SET checkin = 0 WHERE id = 1");
	r = open_ok(db_path);
	ck_assert_int_eq(akm_store_seal(r, vector_seal_key()), CKR_OK);
	ck_assert_uint_eq(akm_store_get_key(r, 1, &got, &rel), AKM_STORE_TAMPERED);
	akm_store_close(r);
	/* ...and a table rebuilt without the column (version 3 again, so that
	 * the migration gives 0 back) neither. */
	raw_exec(db_path, AKM_TEST_SQL_BACK_TO_V5 "ALTER TABLE relationship DROP COLUMN checkin; DROP TABLE tree; PRAGMA user_version = 3;");
	r = open_ok(db_path);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	ck_assert_int_eq(akm_store_seal(r, vector_seal_key()), CKR_OK);
	ck_assert_uint_eq(akm_store_get_key(r, 1, &got, &rel), AKM_STORE_TAMPERED);
	akm_store_close(r);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
	akm_store *r = open_ok(db_path);
	int64_t keys[2];
	int64_t rel_id = insert_pair(r, "rel-keep", keys);
	ck_assert_int_eq(akm_store_set_int(r, "counter", 42), CKR_OK);
	append_events(r, 3);
	akm_key before;
	akm_relationship rel_before;
	ck_assert_int_eq(akm_store_get_key(r, keys[1], &before, &rel_before), CKR_OK);
	akm_store_close(r);

	r = open_ok(db_path);
	akm_key after;
	akm_relationship rel_after;
	ck_assert_int_eq(akm_store_get_key(r, keys[1], &after, &rel_after), CKR_OK);
	assert_key_eq(&after, &before);
	assert_rel_eq(&rel_after, &rel_before);
	ck_assert_int_eq(rel_after.id, rel_id);
	int64_t v = 0;
	bool present = false;
	ck_assert_int_eq(akm_store_get_int(r, "counter", &v, &present), CKR_OK);
	ck_assert(present);
	ck_assert_int_eq(v, 42);
	assert_verifies(r, 3);
	ck_assert_int_eq(count(r, "key"), 2);
	akm_store_close(r);
}
END_TEST

START_TEST(test_newer_schema_is_refused)
{
	akm_store *r = open_ok(db_path);
	insert_pair(r, "rel-1", NULL);
	akm_store_close(r);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", AKM_SQLITE_SCHEMA_VERSION + 1);
	raw_exec(db_path, sql);

	char err[512] = "";
	r = NULL;
	ck_assert_uint_eq(akm_store_open(db_path, &r, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, db_path) != NULL, "path not in \"%s\"", err);
	ck_assert_msg(strstr(err, "newer") != NULL, "\"newer\" not in \"%s\"", err);
	/* Refusing did not touch the data or the version. */
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION + 1);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM relationship"), 1);
}
END_TEST

START_TEST(test_not_a_database)
{
	/* Random bytes, deterministic, and certainly not the SQLite magic. */
	uint8_t junk[8192];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof junk; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	junk[0] = 'X';
	write_file(db_path, junk, sizeof junk);

	char err[512] = "";
	akm_store *r = NULL;
	CK_RV rv = akm_store_open(db_path, &r, err, sizeof err);
	ck_assert_uint_eq(rv, CKR_DEVICE_ERROR);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, db_path) != NULL, "path not in \"%s\"", err);
	/* The file is left as it was: nobody's data gets overwritten. */
	ck_assert(file_contains(db_path, junk, sizeof junk));
}
END_TEST

START_TEST(test_foreign_database)
{
	/* Someone else's SQLite file that happens to have a table we use: the
	 * migration fails, says so, and leaves the file untouched. */
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE meta (x); INSERT INTO meta VALUES (5);", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	char err[512] = "";
	akm_store *r = NULL;
	ck_assert_uint_eq(akm_store_open(db_path, &r, err, sizeof err), CKR_DEVICE_ERROR);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, db_path) != NULL, "path not in \"%s\"", err);
	ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), 0);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'relationship'"), 0);
	ck_assert_int_eq(raw_int(db_path, "SELECT x FROM meta"), 5);
}
END_TEST

/* Truncates a populated registry to `keep` bytes; opening, or at the latest
 * the first use, reports an error instead of crashing. */
static void check_truncated(off_t keep)
{
	akm_store *r = open_ok(db_path);
	char rid[32];
	for (int i = 0; i < 200; i++) {
		snprintf(rid, sizeof rid, "rel-%04d", i);
		insert_pair(r, rid, NULL);
	}
	append_events(r, 50);
	akm_store_close(r);
	struct stat sb;
	ck_assert_int_eq(stat(db_path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 8 * 4096); /* many pages to lose */
	ck_assert_int_eq(truncate(db_path, keep < 0 ? sb.st_size / 2 : keep), 0);

	char err[512] = "";
	r = NULL;
	CK_RV rv = akm_store_open(db_path, &r, err, sizeof err);
	ck_assert_msg(rv == CKR_DEVICE_ERROR, "a truncated registry (%lld bytes) opened with rv 0x%lx",
	              (long long)(keep < 0 ? sb.st_size / 2 : keep), rv);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, db_path) != NULL, "path not in \"%s\"", err);
}

START_TEST(test_truncated_header)
{
	check_truncated(50); /* not even a whole header */
}
END_TEST

START_TEST(test_truncated_half)
{
	check_truncated(-1);
}
END_TEST

START_TEST(test_truncated_at_page_boundary)
{
	check_truncated(4 * 4096); /* whole pages, a well-formed header */
}
END_TEST

START_TEST(test_missing_directory)
{
	char path[256];
	path_in_dir(path, sizeof path, "no/such/folder/registry.db");
	char err[512] = "";
	akm_store *r = NULL;
	ck_assert_uint_eq(akm_store_open(path, &r, err, sizeof err), CKR_DEVICE_ERROR);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, path) != NULL, "path not in \"%s\"", err);
	ck_assert(!file_exists(path));
}
END_TEST

/* ---- relationships and keys --------------------------------------------- */

START_TEST(test_insert_and_get)
{
	akm_store *r = open_ok(db_path);
	/* Every field at its largest, with zero bytes inside the IDs. */
	akm_relationship rel;
	memset(&rel, 0, sizeof rel);
	rel.rid_len = AKM_ID_MAX;
	for (size_t i = 0; i < AKM_ID_MAX; i++)
		rel.rid[i] = (uint8_t)(i * 7);
	rel.kind = KIND_PROVISIONING;
	rel.state = STATE_PENDING;
	rel.epoch = 0xfffffffful;
	rel.station_len = AKM_ID_MAX;
	memset(rel.station, 0xab, AKM_ID_MAX);
	rel.peer_len = 5;
	memcpy(rel.peer, "p\0e\0r", 5);
	uint8_t members[300];
	for (size_t i = 0; i < sizeof members; i++)
		members[i] = (uint8_t)(255 - i);
	rel.members = members;
	rel.members_len = sizeof members;
	rel.hw_len = AKM_HW_MAX;
	memset(rel.hw, 0x5a, AKM_HW_MAX);
	rel.created = 1700000001;
	rel.changed = INT64_MAX;
	ck_assert_int_eq(rel.id, 0);
	ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
	ck_assert_int_gt(rel.id, 0);

	akm_key enc;
	memset(&enc, 0, sizeof enc);
	enc.relationship = rel.id;
	enc.purpose = PURPOSE_ENC;
	enc.key_type = CKK_AES;
	enc.value_len = 32;
	enc.ckid_len = AKM_ID_MAX + 1;
	for (size_t i = 0; i < enc.ckid_len; i++)
		enc.ckid[i] = (uint8_t)i;
	enc.label_len = AKM_LABEL_MAX;
	memset(enc.label, 'L', AKM_LABEL_MAX);
	enc.wrapped_len = AKM_WRAPPED_MAX;
	for (size_t i = 0; i < AKM_WRAPPED_MAX; i++)
		enc.wrapped[i] = (uint8_t)(i ^ 0x3c);
	akm_key mac = make_key(rel.id, PURPOSE_MAC, "mac-id", "mac label");
	ck_assert_int_eq(akm_store_insert_key(r, &enc), CKR_OK);
	ck_assert_int_eq(akm_store_insert_key(r, &mac), CKR_OK);
	ck_assert_int_gt(enc.id, 0);
	ck_assert_int_gt(mac.id, enc.id);

	akm_key got;
	akm_relationship got_rel;
	memset(&got_rel, 0xee, sizeof got_rel); /* everything must be overwritten */
	ck_assert_int_eq(akm_store_get_key(r, enc.id, &got, &got_rel), CKR_OK);
	assert_key_eq(&got, &enc);
	assert_rel_eq(&got_rel, &rel);
	akm_relationship_clear(&got_rel);
	ck_assert_ptr_null(got_rel.members);
	ck_assert_uint_eq(got_rel.members_len, 0);

	ck_assert_int_eq(akm_store_get_key(r, mac.id, &got, &got_rel), CKR_OK);
	assert_key_eq(&got, &mac);
	assert_rel_eq(&got_rel, &rel);
	akm_relationship_clear(&got_rel);
	memset(&got, 0, sizeof got);
	ck_assert_int_eq(akm_store_get_key(r, mac.id, &got, NULL), CKR_OK);
	assert_key_eq(&got, &mac);

	/* A relationship without members reads back with members NULL. */
	akm_relationship bare = make_rel("rel-bare", KIND_OPERATIONAL, STATE_ACTIVE, "peer-2");
	ck_assert_int_eq(akm_store_insert_relationship(r, &bare), CKR_OK);
	ck_assert_int_gt(bare.id, rel.id);
	akm_key bare_key = make_key(bare.id, PURPOSE_ENC, "", "");
	ck_assert_int_eq(akm_store_insert_key(r, &bare_key), CKR_OK);
	memset(&got_rel, 0xee, sizeof got_rel);
	ck_assert_int_eq(akm_store_get_key(r, bare_key.id, &got, &got_rel), CKR_OK);
	assert_key_eq(&got, &bare_key);
	assert_rel_eq(&got_rel, &bare);
	akm_relationship_clear(&got_rel);

	/* Refusals. */
	akm_relationship dup = make_rel("rel-bare", KIND_PROVISIONING, STATE_PENDING, "other");
	ck_assert_uint_eq(akm_store_insert_relationship(r, &dup), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(dup.id, 0);
	akm_key dup_purpose = make_key(rel.id, PURPOSE_MAC, "x", "x");
	ck_assert_uint_eq(akm_store_insert_key(r, &dup_purpose), CKR_ATTRIBUTE_VALUE_INVALID);
	akm_key orphan = make_key(999999, PURPOSE_ENC, "x", "x"); /* foreign key */
	ck_assert_uint_eq(akm_store_insert_key(r, &orphan), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(count(r, "relationship"), 2);
	ck_assert_int_eq(count(r, "key"), 3);

	ck_assert_uint_eq(akm_store_get_key(r, bare_key.id + 1, &got, &got_rel), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_get_key(r, 0, &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_get_key(r, -1, &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_get_key(r, INT64_MAX, &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	/* The statement was reset after the miss: a hit still works. */
	ck_assert_int_eq(akm_store_get_key(r, enc.id, &got, NULL), CKR_OK);
	assert_key_eq(&got, &enc);
	akm_store_close(r);
}
END_TEST

START_TEST(test_updates)
{
	akm_store *r = open_ok(db_path);
	int64_t keys[2];
	insert_pair(r, "rel-upd", keys);
	akm_key key;
	akm_relationship rel;
	ck_assert_int_eq(akm_store_get_key(r, keys[0], &key, &rel), CKR_OK);

	akm_relationship want = rel;
	uint8_t members[] = {1, 2, 3, 0, 5};
	want.members = members;
	want.members_len = sizeof members;
	want.state = STATE_REVOKED;
	want.epoch = 7;
	want.changed = 1800000000;
	want.checkin = ~0UL; /* the whole CK_ULONG, past SQLite's signed range */
	/* Only state, epoch, members, changed and the station's fields are
	 * mutable: these are ignored. */
	akm_relationship request = want;
	request.kind = KIND_PROVISIONING;
	set_bytes(request.rid, &request.rid_len, "rel-other");
	set_bytes(request.peer, &request.peer_len, "peer-other");
	request.created = 1;
	ck_assert_int_eq(akm_store_update_relationship(r, &request), CKR_OK);
	akm_relationship_clear(&rel);
	akm_key got;
	ck_assert_int_eq(akm_store_get_key(r, keys[1], &got, &rel), CKR_OK);
	assert_rel_eq(&rel, &want);
	akm_relationship_clear(&rel);

	/* Members removed again. */
	want.members = NULL;
	want.members_len = 0;
	ck_assert_int_eq(akm_store_update_relationship(r, &want), CKR_OK);
	ck_assert_int_eq(akm_store_get_key(r, keys[1], &got, &rel), CKR_OK);
	assert_rel_eq(&rel, &want);
	akm_relationship_clear(&rel);

	akm_relationship missing = want;
	missing.id = want.id + 100;
	ck_assert_uint_eq(akm_store_update_relationship(r, &missing), CKR_OBJECT_HANDLE_INVALID);

	/* Labels: only the one key changes. */
	const uint8_t label[] = "renamed \x01 label";
	ck_assert_int_eq(akm_store_update_key_label(r, keys[0], label, sizeof label - 1), CKR_OK);
	ck_assert_int_eq(akm_store_get_key(r, keys[0], &got, NULL), CKR_OK);
	akm_key want_key = key;
	memcpy(want_key.label, label, sizeof label - 1);
	want_key.label_len = sizeof label - 1;
	assert_key_eq(&got, &want_key);
	ck_assert_int_eq(akm_store_get_key(r, keys[1], &got, NULL), CKR_OK);
	ck_assert_mem_eq(got.label, "rel-upd-mac", 11);
	ck_assert_uint_eq(got.label_len, 11);
	ck_assert_int_eq(akm_store_update_key_label(r, keys[0], NULL, 0), CKR_OK);
	ck_assert_int_eq(akm_store_get_key(r, keys[0], &got, NULL), CKR_OK);
	ck_assert_uint_eq(got.label_len, 0);
	ck_assert_uint_eq(akm_store_update_key_label(r, keys[1] + 100, label, 3), CKR_OBJECT_HANDLE_INVALID);
	akm_store_close(r);
}
END_TEST

START_TEST(test_delete_cascades_and_ids_not_reused)
{
	akm_store *r = open_ok(db_path);
	int64_t a_keys[2], b_keys[2];
	int64_t a = insert_pair(r, "rel-a", a_keys);
	int64_t b = insert_pair(r, "rel-b", b_keys);
	ck_assert_int_eq(count(r, "key"), 4);

	ck_assert_int_eq(akm_store_delete_relationship(r, b), CKR_OK);
	akm_key got;
	ck_assert_uint_eq(akm_store_get_key(r, b_keys[0], &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_get_key(r, b_keys[1], &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(akm_store_get_key(r, a_keys[0], &got, NULL), CKR_OK);
	ck_assert_int_eq(akm_store_get_key(r, a_keys[1], &got, NULL), CKR_OK);
	ck_assert_int_eq(count(r, "relationship"), 1);
	ck_assert_int_eq(count(r, "key"), 2);
	ck_assert_uint_eq(akm_store_delete_relationship(r, b), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(akm_store_delete_relationship(r, 12345), CKR_OBJECT_HANDLE_INVALID);

	/* A key id names one object forever: the deleted (highest) ids are not
	 * handed out again, not even after reopening. */
	akm_store_close(r);
	r = open_ok(db_path);
	int64_t c_keys[2];
	int64_t c = insert_pair(r, "rel-b", c_keys); /* the same rid may come back */
	ck_assert_int_gt(c, b);
	ck_assert_int_gt(c_keys[0], b_keys[1]);
	ck_assert_int_gt(c_keys[1], c_keys[0]);
	ck_assert_uint_eq(akm_store_get_key(r, b_keys[0], &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(akm_store_delete_relationship(r, a), CKR_OK);
	ck_assert_int_eq(count(r, "key"), 2);
	akm_store_close(r);
}
END_TEST

START_TEST(test_delete_leaves_no_trace_in_file)
{
	akm_store *r = open_ok(db_path);
	/* Two distinctive 48-byte wrapped blobs: one destroyed, one kept to prove
	 * the scan would find a blob that is there. */
	uint8_t gone[48], kept[48];
	for (size_t i = 0; i < sizeof gone; i++) {
		gone[i] = (uint8_t)(0xa5 ^ (i * 13));
		kept[i] = (uint8_t)(0x3c ^ (i * 29));
	}
	memcpy(gone, "GONE-BLOB", 9);
	memcpy(kept, "KEPT-BLOB", 9);

	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	akm_relationship doomed = make_rel("rel-doomed", KIND_OPERATIONAL, STATE_ACTIVE, "peer-1");
	akm_relationship keeper = make_rel("rel-keeper", KIND_OPERATIONAL, STATE_ACTIVE, "peer-1");
	ck_assert_int_eq(akm_store_insert_relationship(r, &doomed), CKR_OK);
	ck_assert_int_eq(akm_store_insert_relationship(r, &keeper), CKR_OK);
	akm_key k1 = make_key(doomed.id, PURPOSE_ENC, "d", "doomed");
	akm_key k2 = make_key(keeper.id, PURPOSE_ENC, "k", "keeper");
	memcpy(k1.wrapped, gone, sizeof gone);
	k1.wrapped_len = sizeof gone;
	memcpy(k2.wrapped, kept, sizeof kept);
	k2.wrapped_len = sizeof kept;
	ck_assert_int_eq(akm_store_insert_key(r, &k1), CKR_OK);
	ck_assert_int_eq(akm_store_insert_key(r, &k2), CKR_OK);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	/* Force the pages into the main file so that the deletion has something
	 * to scrub there (otherwise the blob might only ever live in the WAL). */
	raw_exec(db_path, "PRAGMA wal_checkpoint(TRUNCATE)");
	ck_assert(file_contains(db_path, gone, sizeof gone));

	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_int_eq(akm_store_delete_relationship(r, doomed.id), CKR_OK);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	akm_store_close(r);

	/* Closing the last connection normally checkpoints and removes the WAL.
	 * If a WAL is still there, checkpoint it through a separate connection:
	 * a WAL keeps old page images (the insert's, blob included) until they
	 * are copied back and the log is truncated; what must hold is that the
	 * checkpointed database, i.e. the zeroed page, is all that remains. */
	char wal[256];
	snprintf(wal, sizeof wal, "%s-wal", db_path);
	if (file_exists(wal))
		raw_exec(db_path, "PRAGMA wal_checkpoint(TRUNCATE)");
	ck_assert(!file_contains(db_path, gone, sizeof gone));
	ck_assert(!file_contains(wal, gone, sizeof gone));
	ck_assert(file_contains(db_path, kept, sizeof kept));
}
END_TEST

/* ---- search -------------------------------------------------------------- */

#define NREL 12
typedef struct row {
	int64_t key_id;
	char rid[16], ckid[16], label[16], peer[16];
	CK_ULONG kind, state, purpose;
} row;

static row rows[NREL * 2];

/* NREL relationships with two keys each, attributes spread so that every
 * filter has several matches and combinations narrow them down. */
static akm_store *populate(void)
{
	akm_store *r = open_ok(db_path);
	static const char *const peers[] = {"peer-x", "peer-y", "peer-z"};
	static const CK_ULONG states[] = {STATE_PENDING, STATE_ACTIVE, STATE_REVOKED};
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	for (int i = 0; i < NREL; i++) {
		char rid[16];
		snprintf(rid, sizeof rid, "rid-%02d", i);
		akm_relationship rel = make_rel(rid, i % 2 ? KIND_OPERATIONAL : KIND_PROVISIONING,
		                                states[i % 3], peers[(i / 2) % 3]);
		ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
		for (int p = 0; p < 2; p++) {
			row *w = &rows[i * 2 + p];
			snprintf(w->rid, sizeof w->rid, "%s", rid);
			snprintf(w->ckid, sizeof w->ckid, "ck-%02d", i / 3); /* shared by 3 relationships */
			/* One empty label; the others unique (the store refuses a
			 * label twice). */
			if (i == 3 && p == 0)
				w->label[0] = '\0';
			else
				snprintf(w->label, sizeof w->label, "%s-%d", p ? "mac" : "enc", i);
			snprintf(w->peer, sizeof w->peer, "%s", peers[(i / 2) % 3]);
			w->kind = rel.kind;
			w->state = rel.state;
			w->purpose = p ? PURPOSE_MAC : PURPOSE_ENC;
			akm_key key = make_key(rel.id, w->purpose, w->ckid, w->label);
			ck_assert_int_eq(akm_store_insert_key(r, &key), CKR_OK);
			w->key_id = key.id;
		}
	}
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	for (int i = 1; i < NREL * 2; i++)
		ck_assert_int_gt(rows[i].key_id, rows[i - 1].key_id);
	return r;
}

static bool row_matches(const row *w, const akm_store_query *q)
{
#define MATCH(f) (q->f == NULL || (q->f##_len == strlen(w->f) && memcmp(q->f, w->f, q->f##_len) == 0))
	return MATCH(rid) && MATCH(ckid) && MATCH(label) && MATCH(peer) &&
	       (!q->has_kind || q->kind == w->kind) && (!q->has_state || q->state == w->state) &&
	       (!q->has_purpose || q->purpose == w->purpose);
#undef MATCH
}

/* find() in one call and in pages of every size agrees with a scan of rows. */
static void check_query(akm_store *r, const akm_store_query *q, const char *what)
{
	int64_t want[NREL * 2];
	size_t nwant = 0;
	for (int i = 0; i < NREL * 2; i++)
		if (row_matches(&rows[i], q))
			want[nwant++] = rows[i].key_id;
	int64_t got[NREL * 2 + 1];
	size_t n = 999;
	ck_assert_int_eq(akm_store_find(r, q, 0, got, NREL * 2 + 1, &n), CKR_OK);
	ck_assert_msg(n == nwant, "%s: %zu results, expected %zu", what, n, nwant);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "%s: result %zu is %" PRId64 ", expected %" PRId64, what, i,
		              got[i], want[i]);
	for (size_t page = 1; page <= 4; page++) {
		size_t total = 0;
		int64_t after = 0;
		for (;;) {
			int64_t buf[4] = {-1, -1, -1, -1};
			ck_assert_int_eq(akm_store_find(r, q, after, buf, page, &n), CKR_OK);
			ck_assert_uint_le(n, page);
			for (size_t i = n; i < 4; i++)
				ck_assert_int_eq(buf[i], -1); /* nothing written past the results */
			for (size_t i = 0; i < n; i++) {
				ck_assert_uint_lt(total, nwant);
				ck_assert_int_eq(buf[i], want[total]);
				total++;
			}
			if (n < page)
				break;
			after = buf[n - 1];
		}
		ck_assert_msg(total == nwant, "%s: pages of %zu gave %zu results", what, page, total);
	}
}

START_TEST(test_find)
{
	akm_store *r = populate();
	akm_store_query q;
	memset(&q, 0, sizeof q);
	check_query(r, &q, "no filter");
	int64_t ids[NREL * 2];
	size_t n = 99;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, NREL * 2);
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, 0, &n), CKR_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(akm_store_find(r, &q, rows[NREL * 2 - 1].key_id, ids, 5, &n), CKR_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(akm_store_find(r, &q, rows[5].key_id, ids, 5, &n), CKR_OK);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(ids[0], rows[6].key_id);

	/* Every combination of the seven filters, with values taken from a few
	 * different rows (so some combinations match nothing). */
	static const int probes[] = {0, 3, 7, 10, 17, 22};
	for (size_t p = 0; p < sizeof probes / sizeof probes[0]; p++) {
		const row *w = &rows[probes[p]];
		for (unsigned mask = 0; mask < 128; mask++) {
			memset(&q, 0, sizeof q);
			if (mask & 1) { q.rid = (const uint8_t *)w->rid; q.rid_len = strlen(w->rid); }
			if (mask & 2) { q.ckid = (const uint8_t *)w->ckid; q.ckid_len = strlen(w->ckid); }
			/* An empty label is a value to match, not "no filter". */
			if (mask & 4) { q.label = (const uint8_t *)w->label; q.label_len = strlen(w->label); }
			if (mask & 8) { q.peer = (const uint8_t *)w->peer; q.peer_len = strlen(w->peer); }
			if (mask & 16) { q.has_kind = true; q.kind = w->kind; }
			if (mask & 32) { q.has_state = true; q.state = w->state; }
			if (mask & 64) { q.has_purpose = true; q.purpose = w->purpose; }
			char what[64];
			snprintf(what, sizeof what, "row %d mask 0x%02x", probes[p], mask);
			check_query(r, &q, what);
		}
	}

	/* Exact values: prefixes, unknown values and case differences match nothing. */
	memset(&q, 0, sizeof q);
	q.rid = (const uint8_t *)"rid-0";
	q.rid_len = 5;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, 0);
	q.rid = (const uint8_t *)"RID-01";
	q.rid_len = 6;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, 0);
	memset(&q, 0, sizeof q);
	q.has_kind = true;
	q.kind = 99;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, 0);
	/* A single rid: its two keys, encryption first. */
	memset(&q, 0, sizeof q);
	q.rid = (const uint8_t *)"rid-04";
	q.rid_len = 6;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], rows[8].key_id);
	ck_assert_int_eq(ids[1], rows[9].key_id);

	/* After a deletion and a relabel the search sees the new state. */
	memset(&q, 0, sizeof q);
	akm_key k;
	akm_relationship rel;
	ck_assert_int_eq(akm_store_get_key(r, rows[8].key_id, &k, &rel), CKR_OK);
	ck_assert_int_eq(akm_store_delete_relationship(r, rel.id), CKR_OK);
	akm_relationship_clear(&rel);
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, NREL * 2 - 2);
	ck_assert_int_eq(akm_store_update_key_label(r, rows[0].key_id, (const uint8_t *)"fresh", 5), CKR_OK);
	q.label = (const uint8_t *)"fresh";
	q.label_len = 5;
	ck_assert_int_eq(akm_store_find(r, &q, 0, ids, NREL * 2, &n), CKR_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], rows[0].key_id);
	akm_store_close(r);
}
END_TEST

/* ---- transactions and meta values ---------------------------------------- */

START_TEST(test_transactions)
{
	akm_store *r = open_ok(db_path);
	append_events(r, 2);

	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	akm_relationship rel = make_rel("rel-rb", KIND_OPERATIONAL, STATE_ACTIVE, "p");
	ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
	akm_key key = make_key(rel.id, PURPOSE_ENC, "id", "label");
	ck_assert_int_eq(akm_store_insert_key(r, &key), CKR_OK);
	ck_assert_int_eq(akm_store_set_int(r, "counter", 9), CKR_OK);
	append_event(r, "create", "rel-rb", CKR_OK, "rolled back");
	/* Inside the transaction the changes are visible to us... */
	ck_assert_int_eq(count(r, "key"), 1);
	/* ...and to nobody else. */
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM relationship"), 0);
	akm_store_rollback(r);
	ck_assert_int_eq(count(r, "relationship"), 0);
	ck_assert_int_eq(count(r, "key"), 0);
	ck_assert_int_eq(count(r, "audit"), 2);
	akm_key got;
	ck_assert_uint_eq(akm_store_get_key(r, key.id, &got, NULL), CKR_OBJECT_HANDLE_INVALID);
	int64_t v = 0;
	bool present = true;
	ck_assert_int_eq(akm_store_get_int(r, "counter", &v, &present), CKR_OK);
	ck_assert(!present);
	int64_t seq = -1;
	uint8_t head[AKM_AUDIT_HASH_LEN];
	ck_assert_int_eq(akm_store_audit_head(r, &seq, head), CKR_OK);
	ck_assert_int_eq(seq, 2);
	assert_verifies(r, 2);
	akm_store_rollback(r); /* nothing open: harmless */

	/* After the rollback, work outside a transaction commits by itself. */
	append_event(r, "login", NULL, CKR_OK, NULL);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM audit"), 3);

	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
	key.relationship = rel.id;
	ck_assert_int_eq(akm_store_insert_key(r, &key), CKR_OK);
	append_event(r, "create", "rel-rb", CKR_OK, NULL);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM key"), 1);
	akm_store_close(r);
	r = open_ok(db_path);
	ck_assert_int_eq(akm_store_get_key(r, key.id, &got, NULL), CKR_OK);
	assert_key_eq(&got, &key);
	assert_verifies(r, 4);
	/* COMMIT with nothing open is an error, and leaves the registry usable. */
	ck_assert_uint_ne(akm_store_commit(r), CKR_OK);
	append_event(r, "logout", NULL, CKR_OK, NULL);
	assert_verifies(r, 5);
	akm_store_close(r);
}
END_TEST

START_TEST(test_meta_values)
{
	akm_store *r = open_ok(db_path);
	int64_t v = 5;
	bool present = true;
	ck_assert_int_eq(akm_store_get_int(r, "absent", &v, &present), CKR_OK);
	ck_assert(!present);
	ck_assert_int_eq(v, 5); /* untouched when absent */
	static const int64_t values[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1234567890123};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		ck_assert_int_eq(akm_store_set_int(r, "n", values[i]), CKR_OK);
		ck_assert_int_eq(akm_store_get_int(r, "n", &v, &present), CKR_OK);
		ck_assert(present);
		ck_assert_int_eq(v, values[i]);
	}

	uint8_t buf[64];
	size_t len = sizeof buf;
	present = true;
	ck_assert_int_eq(akm_store_get_blob(r, "absent", buf, &len, &present), CKR_OK);
	ck_assert(!present);
	uint8_t blob[40];
	for (size_t i = 0; i < sizeof blob; i++)
		blob[i] = (uint8_t)(i == 3 ? 0 : 200 + i);
	ck_assert_int_eq(akm_store_set_blob(r, "b", blob, sizeof blob), CKR_OK);
	len = sizeof buf;
	ck_assert_int_eq(akm_store_get_blob(r, "b", buf, &len, &present), CKR_OK);
	ck_assert(present);
	ck_assert_uint_eq(len, sizeof blob);
	ck_assert_mem_eq(buf, blob, sizeof blob);
	/* Replaced by a shorter one, then by an empty one. */
	ck_assert_int_eq(akm_store_set_blob(r, "b", blob + 30, 10), CKR_OK);
	len = sizeof buf;
	ck_assert_int_eq(akm_store_get_blob(r, "b", buf, &len, &present), CKR_OK);
	ck_assert_uint_eq(len, 10);
	ck_assert_mem_eq(buf, blob + 30, 10);
	ck_assert_int_eq(akm_store_set_blob(r, "b", NULL, 0), CKR_OK);
	len = sizeof buf;
	ck_assert_int_eq(akm_store_get_blob(r, "b", buf, &len, &present), CKR_OK);
	ck_assert(present);
	ck_assert_uint_eq(len, 0);

	/* Names are independent, and values persist. */
	ck_assert_int_eq(akm_store_set_int(r, "other", 77), CKR_OK);
	akm_store_close(r);
	r = open_ok(db_path);
	ck_assert_int_eq(akm_store_get_int(r, "n", &v, &present), CKR_OK);
	ck_assert(present);
	ck_assert_int_eq(v, 1234567890123);
	ck_assert_int_eq(akm_store_get_int(r, "other", &v, &present), CKR_OK);
	ck_assert_int_eq(v, 77);
	akm_store_close(r);
}
END_TEST

/* ---- audit trail --------------------------------------------------------- */

#define NEVENTS 20

START_TEST(test_audit_chain)
{
	akm_store *r = open_ok(db_path);
	int64_t seq = -1;
	uint8_t head[AKM_AUDIT_HASH_LEN], zeros[AKM_AUDIT_HASH_LEN] = {0};
	memset(head, 0xff, sizeof head);
	ck_assert_int_eq(akm_store_audit_head(r, &seq, head), CKR_OK);
	ck_assert_int_eq(seq, 0);
	ck_assert_mem_eq(head, zeros, sizeof head);
	assert_verifies(r, 0);

	append_events(r, NEVENTS);
	assert_verifies(r, NEVENTS);
	ck_assert_int_eq(akm_store_audit_head(r, &seq, head), CKR_OK);
	ck_assert_int_eq(seq, NEVENTS);
	ck_assert_mem_ne(head, zeros, sizeof head);

	/* What is stored: the fields as given, NULLs kept, each record linked
	 * to the one before, the head equal to the last hash. */
	sqlite3 *db = raw_open(db_path);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT seq, actor, action, rid, result, detail, prev, hash"
	                                        " FROM audit ORDER BY seq", -1, &st, NULL), SQLITE_OK);
	uint8_t prev[AKM_AUDIT_HASH_LEN] = {0};
	for (int i = 0; i < NEVENTS; i++) {
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int64(st, 0), i + 1);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "user");
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), i % 2 ? "create" : "destroy");
		if (i % 3 == 0) {
			ck_assert_int_eq(sqlite3_column_type(st, 3), SQLITE_NULL);
		} else {
			char rid[32];
			snprintf(rid, sizeof rid, "rel-%03d", i);
			ck_assert_int_eq(sqlite3_column_bytes(st, 3), (int)strlen(rid));
			ck_assert_mem_eq(sqlite3_column_blob(st, 3), rid, strlen(rid));
		}
		ck_assert_int_eq(sqlite3_column_int64(st, 4), i % 5 == 0 ? CKR_PIN_INCORRECT : CKR_OK);
		ck_assert_int_eq(sqlite3_column_type(st, 5), i % 4 == 0 ? SQLITE_NULL : SQLITE_TEXT);
		ck_assert_int_eq(sqlite3_column_bytes(st, 6), AKM_AUDIT_HASH_LEN);
		ck_assert_mem_eq(sqlite3_column_blob(st, 6), prev, AKM_AUDIT_HASH_LEN);
		ck_assert_int_eq(sqlite3_column_bytes(st, 7), AKM_AUDIT_HASH_LEN);
		memcpy(prev, sqlite3_column_blob(st, 7), AKM_AUDIT_HASH_LEN);
	}
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_mem_eq(head, prev, AKM_AUDIT_HASH_LEN);

	/* Rolled-back appends leave the chain as it was; later ones extend it. */
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	append_events(r, 3);
	ck_assert_int_eq(count(r, "audit"), NEVENTS + 3);
	akm_store_rollback(r);
	assert_verifies(r, NEVENTS);
	uint8_t head2[AKM_AUDIT_HASH_LEN];
	ck_assert_int_eq(akm_store_audit_head(r, &seq, head2), CKR_OK);
	ck_assert_int_eq(seq, NEVENTS);
	ck_assert_mem_eq(head2, head, sizeof head);
	append_event(r, "login", NULL, CKR_OK, "");
	assert_verifies(r, NEVENTS + 1);
	akm_store_close(r);
	r = open_ok(db_path);
	assert_verifies(r, NEVENTS + 1);
	akm_store_close(r);
}
END_TEST

/* A fresh registry with NEVENTS records, the SQL tamper applied through a
 * separate connection while the registry is open, then verification from
 * the open registry and again after reopening. */
static void check_tamper(const char *name, const char *sql, const char *const *words)
{
	char path[256];
	path_in_dir(path, sizeof path, name);
	akm_store *r = open_ok(path);
	append_events(r, NEVENTS);
	assert_verifies(r, NEVENTS);
	raw_exec(path, sql);
	assert_verify_fails(r, words);
	akm_store_close(r);
	r = open_ok(path);
	assert_verify_fails(r, words);
	akm_store_close(r);
}

static bool only_logins(const char *actor, const char *action, CK_RV result, const char *detail)
{
	(void)actor;
	(void)result;
	(void)detail;
	return strcmp(action, "login") == 0;
}

/* Events before login: kept (bounded) without a key, moved into the trail
 * at login by the caller's rule, the others counted and dropped. */
START_TEST(test_pending_events)
{
	akm_store *r = open_ok(db_path);
	ck_assert_int_eq(akm_store_seal(r, NULL), CKR_OK); /* before login */
	akm_audit_event login = {"user", "login", NULL, 0, CKR_PIN_INCORRECT, "user", false};
	for (int i = 0; i < AKM_STORE_PENDING_MAX - 1; i++)
		ck_assert_int_eq(akm_store_pending_add(r, &login), CKR_OK);
	akm_audit_event planted = {"module", "set-state", NULL, 0, CKR_OK, "state revoked -> active", false};
	ck_assert_int_eq(akm_store_pending_add(r, &planted), CKR_OK);
	ck_assert_uint_eq(akm_store_pending_add(r, &login), CKR_DEVICE_MEMORY); /* full */
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM pending"), AKM_STORE_PENDING_MAX);
	int64_t refused = -1;
	ck_assert_uint_eq(akm_store_pending_flush(r, only_logins, &refused), CKR_USER_NOT_LOGGED_IN);
	ck_assert_int_eq(akm_store_seal(r, test_seal_key), CKR_OK);
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	ck_assert_int_eq(akm_store_pending_flush(r, only_logins, &refused), CKR_OK);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	ck_assert_int_eq(refused, 1);
	ck_assert_int_eq(raw_int(db_path, "SELECT count(*) FROM pending"), 0);
	ck_assert_int_eq(count(r, "audit"), AKM_STORE_PENDING_MAX - 1);
	akm_audit_record rec;
	ck_assert_int_eq(akm_store_audit_get(r, 1, &rec), CKR_OK);
	ck_assert(rec.action_len == 5 && memcmp(rec.action, "login", 5) == 0);
	ck_assert_msg(rec.detail_len > 5 && memcmp(rec.detail, "user; before login, at ", 23) == 0, "%.*s",
	              (int)rec.detail_len, rec.detail);
	assert_verifies(r, AKM_STORE_PENDING_MAX - 1);
	akm_store_close(r);
}
END_TEST

static void assert_found(akm_store *r, const char *rid, int64_t after, size_t max, const int64_t *want, size_t nwant)
{
	int64_t seqs[8];
	size_t n = 99;
	ck_assert_int_eq(akm_store_audit_find(r, (const uint8_t *)rid, strlen(rid), after, seqs, max, &n), CKR_OK);
	ck_assert_uint_eq(n, nwant);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(seqs[i], want[i]);
}

/* Schema version 7: a record about a relationship that has a row names the
 * row (`rel`), sealed with it; a search by ID finds a relationship's
 * records through its row id and those written before the row (naming
 * none) through the ID, in order; an ID with no row through every record;
 * a record's row set to none, to another row or to one that never was is
 * an altered record. */
START_TEST(test_audit_record_names_its_row)
{
	char path[256];
	path_in_dir(path, sizeof path, "rel.db");
	akm_store *r = open_ok(path);
	append_event(r, "early", "rel-a", CKR_OK, NULL); /* 1: no row yet */
	int64_t keys[2];
	int64_t a = insert_pair(r, "rel-a", keys), b = insert_pair(r, "rel-b", keys);
	append_event(r, "use", "rel-a", CKR_OK, NULL);     /* 2 */
	append_event(r, "use", "rel-b", CKR_OK, NULL);     /* 3 */
	append_event(r, "other", "rel-x", CKR_OK, NULL);   /* 4: no row */
	append_event(r, "use", "rel-a", CKR_OK, "again");  /* 5 */
	ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM audit WHERE rel IS NULL"), 2);
	ck_assert_int_eq(raw_int(path, "SELECT rel FROM audit WHERE seq = 2"), a);
	ck_assert_int_eq(raw_int(path, "SELECT rel FROM audit WHERE seq = 5"), a);
	ck_assert_int_eq(raw_int(path, "SELECT rel FROM audit WHERE seq = 3"), b);
	assert_found(r, "rel-a", 0, 8, (const int64_t[]){1, 2, 5}, 3);
	assert_found(r, "rel-a", 1, 8, (const int64_t[]){2, 5}, 2);
	assert_found(r, "rel-a", 0, 2, (const int64_t[]){1, 2}, 2);
	assert_found(r, "rel-b", 0, 8, (const int64_t[]){3}, 1);
	assert_found(r, "rel-x", 0, 8, (const int64_t[]){4}, 1);
	assert_verifies(r, 5);
	static const char *const edits[] = {
		"UPDATE audit SET rel = NULL WHERE seq = 2",
		"UPDATE audit SET rel = (SELECT id FROM relationship WHERE rid = CAST('rel-b' AS BLOB)) WHERE seq = 2",
		"UPDATE audit SET rel = 999 WHERE seq = 2",
		"UPDATE audit SET rel = 0 WHERE seq = 2",
		"UPDATE audit SET rel = 'x' WHERE seq = 2",
	};
	char restore[96];
	snprintf(restore, sizeof restore, "UPDATE audit SET rel = %lld WHERE seq = 2", (long long)a);
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		raw_exec(path, edits[i]);
		assert_verify_fails(r, (const char *const[]){"record 2 ", "altered", NULL});
		raw_exec(path, restore);
		assert_verifies(r, 5);
	}
	/* A record that never named a row cannot be made to name one. */
	raw_exec(path, "UPDATE audit SET rel = 1 WHERE seq = 1");
	assert_verify_fails(r, (const char *const[]){"record 1 ", "altered", NULL});
	raw_exec(path, "UPDATE audit SET rel = NULL WHERE seq = 1");
	/* The row gone: its records found through every record. */
	ck_assert_int_eq(akm_store_delete_relationship(r, a), CKR_OK);
	assert_found(r, "rel-a", 0, 8, (const int64_t[]){1, 2, 5}, 3);
	assert_verifies(r, 5);
	akm_store_close(r);
}
END_TEST

START_TEST(test_audit_detects_removed_record)
{
	check_tamper("middle.db", "DELETE FROM audit WHERE seq = 10",
	             (const char *const[]){"record 10", "missing", NULL});
	check_tamper("first.db", "DELETE FROM audit WHERE seq = 1",
	             (const char *const[]){"record 1 ", "missing", NULL});
}
END_TEST

START_TEST(test_audit_detects_altered_record)
{
	/* Each edit really changes a value (record 6 holds a failure, record 7
	 * a detail but no rid, record 8 a rid). */
	static const struct { const char *sql; const char *record; } edits[] = {
		{"UPDATE audit SET action = 'login' WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET result = 0 WHERE seq = 6", "record 6 "}, /* a failure made a success */
		{"UPDATE audit SET actor = 'so' WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET time = time + 1 WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET rid = x'72656c2d303939' WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET rid = x'72656c2d303939' WHERE seq = 8", "record 8 "},
		{"UPDATE audit SET rid = NULL WHERE seq = 8", "record 8 "},
		{"UPDATE audit SET detail = 'nothing to see' WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET detail = NULL WHERE seq = 7", "record 7 "},
		{"UPDATE audit SET hash = zeroblob(32) WHERE seq = 7", "record 7 "},
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "altered-%zu.db", i);
		check_tamper(name, edits[i].sql, (const char *const[]){edits[i].record, "altered", NULL});
	}
	/* A changed link to the previous record: the record is sealed with it. */
	check_tamper("prev.db", "UPDATE audit SET prev = zeroblob(32) WHERE seq = 7",
	             (const char *const[]){"record 7 ", "altered", NULL});
}
END_TEST

START_TEST(test_audit_detects_reordered_records)
{
	check_tamper("swap.db",
	             "BEGIN;"
	             "UPDATE audit SET seq = -1 WHERE seq = 5;"
	             "UPDATE audit SET seq = 5 WHERE seq = 6;"
	             "UPDATE audit SET seq = 6 WHERE seq = -1;"
	             "COMMIT;",
	             (const char *const[]){"record 5 ", "altered", NULL}); /* sealed with its number */
	/* Renumbered after a deletion, so that no sequence number is missing. */
	check_tamper("renumbered.db",
	             "DELETE FROM audit WHERE seq = 12;"
	             "UPDATE audit SET seq = seq - 1 WHERE seq > 12;",
	             (const char *const[]){"record 12 ", "altered", NULL});
}
END_TEST

START_TEST(test_audit_detects_removed_tail)
{
	check_tamper("last.db", "DELETE FROM audit WHERE seq = 20",
	             (const char *const[]){"removed at the end", NULL});
	check_tamper("all.db", "DELETE FROM audit",
	             (const char *const[]){"removed at the end", NULL});
	/* The head rolled back along with the records is not enough either:
	 * its hash no longer matches. */
	check_tamper("head.db",
	             "DELETE FROM audit WHERE seq = 20;"
	             "UPDATE meta SET value = 19 WHERE name = 'audit_seq';",
	             (const char *const[]){"head", NULL});
}
END_TEST

/* ---- several processes --------------------------------------------------- */

/* Child: its own connection; `n` relationships with one key and one audit
 * record each, every one in its own transaction.  Returns an exit code. */
static int child_insert(const char *path, int who, int n, int start_fd)
{
	char go;
	if (start_fd >= 0 && read(start_fd, &go, 1) != 1)
		return 10;
	akm_store *r = NULL;
	char err[512];
	if (akm_store_open(path, &r, err, sizeof err) != CKR_OK || akm_store_seal(r, test_seal_key) != CKR_OK) {
		fprintf(stderr, "child %d: %s\n", who, err);
		return 11;
	}
	for (int i = 0; i < n; i++) {
		char rid[32];
		snprintf(rid, sizeof rid, "proc%d-rel%04d", who, i);
		akm_relationship rel = make_rel(rid, KIND_OPERATIONAL, STATE_ACTIVE, "peer");
		CK_RV rv = akm_store_begin(r);
		if (rv != CKR_OK) {
			fprintf(stderr, "child %d: begin %d: 0x%lx\n", who, i, rv);
			return 12;
		}
		akm_key key = make_key(0, PURPOSE_ENC, rid, rid);
		akm_audit_event ev = {.actor = "user", .action = "create", .rid = rel.rid,
		                      .rid_len = rel.rid_len, .result = CKR_OK, .detail = NULL};
		if ((rv = akm_store_insert_relationship(r, &rel)) != CKR_OK ||
		    (key.relationship = rel.id, rv = akm_store_insert_key(r, &key)) != CKR_OK ||
		    (rv = akm_store_audit_append(r, &ev)) != CKR_OK ||
		    (rv = akm_store_commit(r)) != CKR_OK) {
			fprintf(stderr, "child %d: relationship %d: 0x%lx\n", who, i, rv);
			return 13;
		}
		/* And one appended outside any transaction of ours. */
		ev.action = "use";
		if ((rv = akm_store_audit_append(r, &ev)) != CKR_OK) {
			fprintf(stderr, "child %d: audit %d: 0x%lx\n", who, i, rv);
			return 14;
		}
	}
	akm_store_close(r);
	return 0;
}

/* Starts `nchildren` inserters released together through a pipe; the
 * parent's own open registry `parent` (may be NULL) is abandoned in them. */
static void run_children(const char *path, akm_store *parent, int nchildren, int n)
{
	int start[2];
	ck_assert_int_eq(pipe(start), 0);
	pid_t pids[8];
	ck_assert_int_le(nchildren, 8);
	for (int c = 0; c < nchildren; c++) {
		pids[c] = fork();
		ck_assert_int_ge(pids[c], 0);
		if (pids[c] == 0) {
			close(start[1]);
			(void)parent; /* a child leaves its parent's connection alone: neither used nor closed */
			_exit(child_insert(path, c, n, start[0]));
		}
	}
	close(start[0]);
	char go[8] = {0};
	ck_assert_int_eq(write(start[1], go, (size_t)nchildren), nchildren);
	close(start[1]);
	for (int c = 0; c < nchildren; c++) {
		int status;
		ck_assert_int_eq(waitpid(pids[c], &status, 0), pids[c]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status 0x%x", c, status);
	}
}

static void check_children_results(akm_store *r, int nchildren, int n, int64_t extra_events)
{
	ck_assert_int_eq(count(r, "relationship"), (int64_t)nchildren * n);
	ck_assert_int_eq(count(r, "key"), (int64_t)nchildren * n);
	for (int c = 0; c < nchildren; c++)
		for (int i = 0; i < n; i++) {
			char rid[32];
			snprintf(rid, sizeof rid, "proc%d-rel%04d", c, i);
			akm_store_query q = {.rid = (const uint8_t *)rid, .rid_len = strlen(rid)};
			int64_t id;
			size_t found = 0;
			ck_assert_int_eq(akm_store_find(r, &q, 0, &id, 1, &found), CKR_OK);
			ck_assert_msg(found == 1, "%s is missing", rid);
		}
	assert_verifies(r, (int64_t)nchildren * n * 2 + extra_events);
}

START_TEST(test_two_processes_insert)
{
	/* The parent keeps its connection open across fork() and goes on using
	 * it afterwards: the children abandon, not close, their copy. */
	akm_store *r = open_ok(db_path);
	append_event(r, "login", NULL, CKR_OK, NULL);
	run_children(db_path, r, 2, 300);
	check_children_results(r, 2, 300, 1);
	append_event(r, "logout", NULL, CKR_OK, NULL);
	assert_verifies(r, 2 * 300 * 2 + 2);
	akm_store_close(r);
}
END_TEST

START_TEST(test_processes_create_registry_at_once)
{
	/* Nobody has created the file yet: four processes open it at the same
	 * moment, so creation, WAL setup and migration race.  Repeated, since
	 * a race shows only sometimes. */
	for (int round = 0; round < 20; round++) {
		snprintf(db_path, sizeof db_path, "%s/race-%d.db", dir, round);
		run_children(db_path, NULL, 4, 20);
		akm_store *r = open_ok(db_path);
		check_children_results(r, 4, 20, 0);
		akm_store_close(r);
		ck_assert_int_eq(raw_int(db_path, "PRAGMA user_version"), AKM_SQLITE_SCHEMA_VERSION);
	}
}
END_TEST

/* Waits for one byte on fd; false on EOF or error. */
static bool wait_byte(int fd)
{
	char c;
	return read(fd, &c, 1) == 1;
}

START_TEST(test_write_lock_waits)
{
	/* While one process holds a write transaction another process's begin
	 * waits (the busy timeout) instead of failing, and then sees the commit.
	 * The child is forked before the parent opens the registry: a child
	 * forked while its parent's connection holds a lock cannot lock the file
	 * at all (SQLite's per-process lock bookkeeping is copied by fork). */
	int to_child[2], to_parent[2];
	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		if (!wait_byte(to_child[0])) /* the parent holds the lock */
			_exit(10);
		akm_store *mine = NULL;
		char err[512];
		if (akm_store_open(db_path, &mine, err, sizeof err) != CKR_OK || akm_store_seal(mine, test_seal_key) != CKR_OK)
			_exit(11);
		if (write(to_parent[1], "x", 1) != 1)
			_exit(10);
		if (akm_store_begin(mine) != CKR_OK)
			_exit(12);
		int64_t n = 0;
		if (akm_store_count(mine, AKM_STORE_RELATIONSHIPS, &n) != CKR_OK || n != 1)
			_exit(13);
		akm_relationship second = make_rel("rel-second", KIND_OPERATIONAL, STATE_ACTIVE, "p");
		if (akm_store_insert_relationship(mine, &second) != CKR_OK || akm_store_commit(mine) != CKR_OK)
			_exit(14);
		akm_store_close(mine);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	akm_store *r = open_ok(db_path);
	ck_assert_int_eq(akm_store_begin(r), CKR_OK);
	akm_relationship rel = make_rel("rel-first", KIND_OPERATIONAL, STATE_ACTIVE, "p");
	ck_assert_int_eq(akm_store_insert_relationship(r, &rel), CKR_OK);
	ck_assert_int_eq(write(to_child[1], "x", 1), 1);
	ck_assert(wait_byte(to_parent[0])); /* the child has opened the registry */
	usleep(300 * 1000);                 /* and is now waiting for our lock */
	int status;
	ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
	ck_assert_int_eq(akm_store_commit(r), CKR_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_int_eq(count(r, "relationship"), 2);
	close(to_child[1]);
	close(to_parent[0]);
	akm_store_close(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *open = tcase_create("open");
	TCase *objects = tcase_create("objects");
	TCase *audit = tcase_create("audit");
	TCase *procs = tcase_create("processes");
	TCase *all[] = {open, objects, audit, procs};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		tcase_set_timeout(all[i], 60);
		suite_add_tcase(s, all[i]);
	}
	tcase_add_test(open, test_open_creates_and_migrates);
	tcase_add_test(open, test_reopen_keeps_data);
	tcase_add_test(open, test_migrates_version_1);
	tcase_add_test(open, test_migrates_version_3_sealed);
	tcase_add_test(open, test_newer_schema_is_refused);
	tcase_add_test(open, test_not_a_database);
	tcase_add_test(open, test_foreign_database);
	tcase_add_test(open, test_truncated_header);
	tcase_add_test(open, test_truncated_half);
	tcase_add_test(open, test_truncated_at_page_boundary);
	tcase_add_test(open, test_missing_directory);
	tcase_add_test(objects, test_insert_and_get);
	tcase_add_test(objects, test_updates);
	tcase_add_test(objects, test_delete_cascades_and_ids_not_reused);
	tcase_add_test(objects, test_delete_leaves_no_trace_in_file);
	tcase_add_test(objects, test_find);
	tcase_add_test(objects, test_transactions);
	tcase_add_test(objects, test_meta_values);
	tcase_add_test(audit, test_audit_chain);
	tcase_add_test(audit, test_pending_events);
	tcase_add_test(audit, test_audit_detects_removed_record);
	tcase_add_test(audit, test_audit_record_names_its_row);
	tcase_add_test(audit, test_audit_detects_altered_record);
	tcase_add_test(audit, test_audit_detects_reordered_records);
	tcase_add_test(audit, test_audit_detects_removed_tail);
	tcase_add_test(procs, test_two_processes_insert);
	tcase_add_test(procs, test_processes_create_registry_at_once);
	tcase_add_test(procs, test_write_lock_waits);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

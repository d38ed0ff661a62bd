/* The SQLite store's schema: one migration per version, each applied in
 * one transaction with its version bump. */
#include "store/sqlite/sqlite.h"

#include <stdio.h>

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE relationship ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  rid BLOB NOT NULL UNIQUE,"
	"  kind INTEGER NOT NULL, state INTEGER NOT NULL, epoch INTEGER NOT NULL,"
	"  station BLOB NOT NULL, peer BLOB NOT NULL, members BLOB NOT NULL, hw BLOB NOT NULL,"
	"  created INTEGER NOT NULL, changed INTEGER NOT NULL);"
	"CREATE INDEX relationship_peer ON relationship(peer);"
	"CREATE TABLE key ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  relationship INTEGER NOT NULL REFERENCES relationship(id) ON DELETE CASCADE,"
	"  purpose INTEGER NOT NULL, key_type INTEGER NOT NULL, value_len INTEGER NOT NULL,"
	"  ckid BLOB NOT NULL, label BLOB NOT NULL, wrapped BLOB NOT NULL,"
	"  UNIQUE (relationship, purpose));"
	"CREATE INDEX key_ckid ON key(ckid);"
	"CREATE INDEX key_label ON key(label);"
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
	"  action TEXT NOT NULL, rid BLOB, result INTEGER NOT NULL, detail TEXT,"
	"  prev BLOB NOT NULL, hash BLOB NOT NULL);",
	/* 1 -> 2: the station's provisioning state of a relationship, and
	 * audit records found by relationship. */
	"ALTER TABLE relationship ADD COLUMN status INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE relationship ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE relationship ADD COLUMN site BLOB NOT NULL DEFAULT x'';"
	"ALTER TABLE relationship ADD COLUMN node_key BLOB NOT NULL DEFAULT x'';"
	"CREATE INDEX audit_rid ON audit(rid);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(NMIGRATIONS == AKM_SQLITE_SCHEMA_VERSION, "a migration per schema version");

CK_RV akm_sqlite_migrate(akm_sqlite *r, char *err, size_t errlen)
{
	int version = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto sql_error;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > NMIGRATIONS) {
		snprintf(err, errlen, "registry %s has schema version %d, newer than this module's %d",
		         r->path, version, NMIGRATIONS);
		return CKR_GENERAL_ERROR;
	}
	if (version == NMIGRATIONS)
		return CKR_OK;
	/* Each step in one transaction with its version bump: a crash leaves
	 * either the old schema or the new one. */
	if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto sql_error;
	/* Re-read under the write lock: another process may have migrated. */
	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto sql_error_tx;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	for (; version < NMIGRATIONS; version++) {
		char bump[64];
		if (sqlite3_exec(r->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK)
			goto sql_error_tx;
		snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
		if (sqlite3_exec(r->db, bump, NULL, NULL, NULL) != SQLITE_OK)
			goto sql_error_tx;
	}
	if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sql_error_tx;
	return CKR_OK;
sql_error_tx:
	snprintf(err, errlen, "registry %s: migrating the schema failed: %s", r->path, sqlite3_errmsg(r->db));
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	return CKR_DEVICE_ERROR;
sql_error:
	snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
	return akm_sqlite_rv(sqlite3_errcode(r->db)) == CKR_OK ? CKR_DEVICE_ERROR
	                                                         : akm_sqlite_rv(sqlite3_errcode(r->db));
}

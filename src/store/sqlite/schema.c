/* The SQLite store's schema: one migration per version, each applied in
 * one transaction with its version bump. */
#include "store/sqlite/sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* 2 -> 3: every row sealed (a MAC column, store/seal.c); how a
	 * relationship's keys may be delivered; relationship labels unique, so
	 * two creations of one node cannot both succeed. */
	"ALTER TABLE meta ADD COLUMN mac BLOB;"
	"ALTER TABLE relationship ADD COLUMN delivery INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE relationship ADD COLUMN audit INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE relationship ADD COLUMN mac BLOB;"
	"ALTER TABLE key ADD COLUMN mac BLOB;"
	"ALTER TABLE audit ADD COLUMN row_change INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE audit ADD COLUMN mac BLOB;"
	"CREATE INDEX audit_row_change ON audit(rid, seq) WHERE row_change = 1;"
	"DROP INDEX key_label;"
	"CREATE UNIQUE INDEX key_label ON key(label);"
	/* Events seen before login (a wrong PIN), which cannot be sealed yet:
	 * moved into the audit trail at the next login. */
	"CREATE TABLE pending (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
	"  action TEXT NOT NULL, result INTEGER NOT NULL, detail TEXT);",
	/* 3 -> 4: a provisioning relationship's replay counter
	 * (CKA_AKM_CHECKIN).  Rows keep their MACs: the field is sealed only
	 * once it is not 0 (store/seal.c), and every existing row gets 0. */
	"ALTER TABLE relationship ADD COLUMN checkin INTEGER NOT NULL DEFAULT 0;",
	/* 4 -> 5: the key trees of operational ASRs (docs/asr.md §2), one row
	 * per node that has a key.  A new table: every existing row and its
	 * MAC stay as they are. */
	"CREATE TABLE tree ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  asr INTEGER NOT NULL REFERENCES relationship(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL, gen INTEGER NOT NULL, up_gen INTEGER NOT NULL,"
	"  member BLOB NOT NULL, pr INTEGER NOT NULL, key BLOB NOT NULL, up BLOB NOT NULL, mac BLOB,"
	"  UNIQUE (asr, idx));"
	"CREATE INDEX tree_member ON tree(asr, member);",
	/* 5 -> 6: no index that repeats another (issue 14; docs/performance.md
	 * "A station of a million nodes").  key_ckid repeated the relationship
	 * ID index (a key's CKA_ID is its relationship's ID and its purpose
	 * byte: a search by CKA_ID goes through the ID, rows.c), and
	 * audit_row_change the audit_rid index (an index on rid holds seq, the
	 * row id, already; a relationship has a few records).  Keyed on random
	 * IDs, each cost a scattered page per row written.  Only indexes go:
	 * every row, its row id and its MAC stay as they are. */
	"DROP INDEX key_ckid;"
	"DROP INDEX audit_row_change;",
	/* 6 -> 7: a relationship's audit records found through its row id
	 * (issue 14).  An index keyed on the relationship ID took a scattered
	 * page for every record; `rel`, the row id of the relationship the
	 * record is about (set when the record is written, sealed with it,
	 * store/seal.c), keeps the records of new relationships together at
	 * the end of audit_rel.  Records written before (or about an ID with
	 * no relationship) keep rel NULL and are found by ID in the partial
	 * index audit_rid.  Every row and its MAC stay as they are. */
	"ALTER TABLE audit ADD COLUMN rel INTEGER;"
	"DROP INDEX audit_rid;"
	"CREATE INDEX audit_rel ON audit(rel) WHERE rel IS NOT NULL;"
	"CREATE INDEX audit_rid ON audit(rid) WHERE rel IS NULL AND rid IS NOT NULL;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(NMIGRATIONS == AKM_SQLITE_SCHEMA_VERSION, "a migration per schema version");

/* SQL text with insignificant whitespace taken out: a run of it becomes
 * one space, none beside a parenthesis or a comma (a registry made by
 * hand, or by another tool from the same statements, compares equal). */
static void normalise(char *s)
{
	char *out = s;
	for (const char *p = s; *p;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
				p++;
			bool before = out > s && (out[-1] == '(' || out[-1] == ',' || out[-1] == ' ');
			bool after = *p == ')' || *p == ',' || *p == '(' || *p == '\0';
			if (!before && !after)
				*out++ = ' ';
			continue;
		}
		*out++ = *p++;
	}
	*out = '\0';
}

/* The schema objects of a database, one line each, in order. */
static int schema_text(sqlite3 *db, char **out)
{
	sqlite3_stmt *st;
	size_t len = 0, cap = 1024;
	char *text = malloc(cap);
	if (text == NULL)
		return SQLITE_NOMEM;
	text[0] = '\0';
	int rc = sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, ifnull(sql, '') FROM sqlite_master"
	                                " ORDER BY type, name", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *line = sqlite3_mprintf("%s %s on %s: %s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		                             sqlite3_column_text(st, 2), sqlite3_column_text(st, 3));
		if (line != NULL)
			normalise(line);
		char *nl = line ? sqlite3_mprintf("%s\n", line) : NULL;
		sqlite3_free(line);
		line = nl;
		size_t n = line ? strlen(line) : 0;
		char *grown = text;
		if (line != NULL && len + n + 1 > cap && (grown = realloc(text, 2 * (len + n + 1))) != NULL) {
			text = grown;
			cap = 2 * (len + n + 1);
		}
		if (line == NULL || grown == NULL) {
			sqlite3_free(line);
			rc = SQLITE_NOMEM;
			break;
		}
		memcpy(text + len, line, n + 1);
		len += n;
		sqlite3_free(line);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		free(text);
		return rc;
	}
	*out = text;
	return SQLITE_OK;
}

/* The first line where two schema texts differ, for the message. */
static void first_difference(const char *have, const char *want, char *line, size_t len)
{
	while (*have && *have == *want) {
		const char *nl = strchr(have, '\n');
		size_t n = nl ? (size_t)(nl - have) + 1 : strlen(have);
		if (strncmp(have, want, n) != 0)
			break;
		have += n;
		want += n;
	}
	const char *src = *have ? have : want;
	const char *what = *have ? "" : "missing: ";
	size_t n = strcspn(src, "\n");
	snprintf(line, len, "%s%.*s", what, (int)(n > 160 ? 160 : n), src);
}

/* Whoever can write the file can add a trigger that rewrites rows behind
 * the module's back, or a view, index or table: the file must hold exactly
 * the objects this module's migrations make for its version (read in one
 * snapshot, so a migration by another process is seen whole or not). */
static CK_RV schema_check(akm_sqlite *r, int version, char *err, size_t errlen)
{
	sqlite3 *mem = NULL;
	char *want = NULL, *have = NULL;
	CK_RV rv = CKR_OK;
	int rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	for (int v = 0; rc == SQLITE_OK && v < version; v++)
		rc = sqlite3_exec(mem, migrations[v], NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = schema_text(mem, &want);
	if (rc == SQLITE_OK)
		rc = schema_text(r->db, &have);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "registry %s: reading its schema failed: %s", r->path, sqlite3_errstr(rc));
		rv = CKR_DEVICE_ERROR;
	} else if (strcmp(have, want) != 0) {
		char line[200];
		first_difference(have, want, line, sizeof line);
		snprintf(err, errlen, "registry %s holds schema objects this module did not make (%s); refusing it",
		         r->path, line);
		rv = CKR_DEVICE_ERROR;
	}
	free(want);
	free(have);
	sqlite3_close(mem);
	return rv;
}

CK_RV akm_sqlite_migrate(akm_sqlite *r, char *err, size_t errlen)
{
	int version = 0;
	sqlite3_stmt *st;
	if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto sql_error;
	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
		goto sql_error;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	CK_RV rv = version <= NMIGRATIONS ? schema_check(r, version, err, errlen) : CKR_OK;
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	if (rv != CKR_OK)
		return rv;
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

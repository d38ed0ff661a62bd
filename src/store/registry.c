#include "store/registry.h"

#include "lib/audit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#define FIND_SHAPES 128 /* one prepared statement per combination of filters */

struct akm_registry {
	sqlite3 *db;
	char *path;
	int tx_depth; /* a write transaction is open */
	sqlite3_stmt *get_key, *insert_key, *insert_rel, *audit_insert, *meta_get, *meta_set;
	sqlite3_stmt *begin, *commit, *rollback, *update_rel, *update_label, *delete_rel, *audit_at,
		*data_version, *audit_get, *audit_find, *audit_find_rid;
	sqlite3_stmt *find[FIND_SHAPES];
	/* A counter every writer bumps after each commit, in a small file
	 * beside the registry mapped into every process that uses it: reading
	 * it is a memory load, where asking SQLite (data_version) takes file
	 * locks.  NULL when it could not be mapped. */
	uint64_t *changes;
};

static void map_changes(akm_registry *r);

/* The one place SQLite results become CK_RV. */
static CK_RV rv_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return CKR_OK;
	case SQLITE_NOMEM:
		return CKR_HOST_MEMORY;
	case SQLITE_CONSTRAINT:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CKR_FUNCTION_FAILED;
	case SQLITE_FULL:
		return CKR_DEVICE_MEMORY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return CKR_DEVICE_ERROR;
	default:
		return CKR_GENERAL_ERROR;
	}
}

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

static CK_RV prepare(akm_registry *r, sqlite3_stmt **st, const char *sql)
{
	return rv_from_sqlite(sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL));
}

static CK_RV migrate(akm_registry *r, char *err, size_t errlen)
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
	return rv_from_sqlite(sqlite3_errcode(r->db)) == CKR_OK ? CKR_DEVICE_ERROR
	                                                         : rv_from_sqlite(sqlite3_errcode(r->db));
}

CK_RV akm_registry_open(const char *path, akm_registry **out, char *err, size_t errlen)
{
	akm_registry *r = calloc(1, sizeof *r);
	CK_RV rv;
	if (r == NULL || (r->path = strdup(path)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return CKR_HOST_MEMORY;
	}
	int rc = sqlite3_open_v2(path, &r->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open registry %s: %s", path,
		         r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		akm_registry_close(r);
		return CKR_DEVICE_ERROR;
	}
	sqlite3_busy_timeout(r->db, 10000);
	/* WAL with synchronous=NORMAL: a committed transaction survives the
	 * process being killed at any point; secure_delete zeroes what is
	 * deleted, so a destroyed relationship's wrapped keys leave no trace. */
	static const char *const pragmas =
		"PRAGMA synchronous = NORMAL;"
		"PRAGMA foreign_keys = ON;"
		"PRAGMA secure_delete = ON;";
	/* Switching a new file to WAL takes an exclusive lock and does not wait
	 * for it: when several processes create the registry at once, retry
	 * within the busy timeout. */
	for (int waited_ms = 0;; waited_ms += 10) {
		rc = sqlite3_exec(r->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= 10000)
			break;
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_OK || sqlite3_exec(r->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		/* The first read of a damaged file fails here. */
		snprintf(err, errlen, "registry %s is unusable: %s", path, sqlite3_errmsg(r->db));
		akm_registry_close(r);
		return CKR_DEVICE_ERROR;
	}
	if ((rv = migrate(r, err, errlen)) != CKR_OK) {
		akm_registry_close(r);
		return rv;
	}
	if ((rv = prepare(r, &r->get_key,
	                  "SELECT k.relationship, k.purpose, k.key_type, k.value_len, k.ckid, k.label, k.wrapped,"
	                  " r.rid, r.kind, r.state, r.epoch, r.station, r.peer, r.members, r.hw, r.created, r.changed,"
	                  " r.status, r.seq, r.site, r.node_key"
	                  " FROM key k JOIN relationship r ON r.id = k.relationship WHERE k.id = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->insert_key,
	                  "INSERT INTO key (relationship, purpose, key_type, value_len, ckid, label, wrapped)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = prepare(r, &r->insert_rel,
	                  "INSERT INTO relationship (rid, kind, state, epoch, station, peer, members, hw, created, changed,"
	                  " status, seq, site, node_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = prepare(r, &r->audit_insert,
	                  "INSERT INTO audit (seq, time, actor, action, rid, result, detail, prev, hash)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = prepare(r, &r->meta_get, "SELECT value FROM meta WHERE name = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->meta_set, "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)")) != CKR_OK ||
	    (rv = prepare(r, &r->begin, "BEGIN IMMEDIATE")) != CKR_OK ||
	    (rv = prepare(r, &r->commit, "COMMIT")) != CKR_OK ||
	    (rv = prepare(r, &r->rollback, "ROLLBACK")) != CKR_OK ||
	    (rv = prepare(r, &r->update_rel,
	                  "UPDATE relationship SET state = ?, epoch = ?, members = ?, changed = ?,"
	                  " status = ?, seq = ?, node_key = ? WHERE id = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->update_label, "UPDATE key SET label = ? WHERE id = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->delete_rel, "DELETE FROM relationship WHERE id = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->audit_at, "SELECT hash FROM audit WHERE seq = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->data_version, "PRAGMA data_version")) != CKR_OK ||
	    (rv = prepare(r, &r->audit_get,
	                  "SELECT time, actor, action, rid, result, detail, prev, hash FROM audit WHERE seq = ?")) != CKR_OK ||
	    (rv = prepare(r, &r->audit_find, "SELECT seq FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")) != CKR_OK ||
	    (rv = prepare(r, &r->audit_find_rid,
	                  "SELECT seq FROM audit WHERE rid = ? AND seq > ? ORDER BY seq LIMIT ?")) != CKR_OK) {
		snprintf(err, errlen, "registry %s: %s", path, sqlite3_errmsg(r->db));
		akm_registry_close(r);
		return rv;
	}
	map_changes(r);
	*out = r;
	return CKR_OK;
}

static void map_changes(akm_registry *r)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s-changes", r->path) >= (int)sizeof path)
		return;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_size >= (off_t)sizeof(uint64_t) || ftruncate(fd, sizeof(uint64_t)) == 0)) {
		void *map = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED)
			r->changes = map;
	}
	close(fd);
}

void akm_registry_close(akm_registry *r)
{
	if (r == NULL)
		return;
	if (r->changes != NULL)
		munmap(r->changes, sizeof(uint64_t));
	sqlite3_finalize(r->get_key);
	sqlite3_finalize(r->insert_key);
	sqlite3_finalize(r->insert_rel);
	sqlite3_finalize(r->audit_insert);
	sqlite3_finalize(r->meta_get);
	sqlite3_finalize(r->meta_set);
	sqlite3_stmt **all[] = {&r->begin, &r->commit, &r->rollback, &r->update_rel, &r->update_label,
	                        &r->delete_rel, &r->audit_at, &r->data_version,
	                        &r->audit_get, &r->audit_find, &r->audit_find_rid};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(*all[i]);
	for (int i = 0; i < FIND_SHAPES; i++)
		sqlite3_finalize(r->find[i]);
	if (r->db != NULL)
		sqlite3_close(r->db);
	free(r->path);
	free(r);
}

const char *akm_registry_path(const akm_registry *r)
{
	return r->path;
}

static CK_RV step_done(sqlite3_stmt *st);

CK_RV akm_registry_begin(akm_registry *r)
{
	CK_RV rv = step_done(r->begin);
	if (rv == CKR_OK)
		r->tx_depth = 1;
	return rv;
}

CK_RV akm_registry_commit(akm_registry *r)
{
	CK_RV rv = step_done(r->commit);
	if (rv != CKR_OK)
		akm_registry_rollback(r);
	else if (r->changes != NULL)
		__atomic_add_fetch(r->changes, 1, __ATOMIC_SEQ_CST);
	r->tx_depth = 0;
	return rv;
}

CK_RV akm_registry_change_mark(akm_registry *r, uint64_t *mark)
{
	if (r->changes != NULL) {
		*mark = __atomic_load_n(r->changes, __ATOMIC_SEQ_CST);
		return CKR_OK;
	}
	int64_t version;
	CK_RV rv = akm_registry_data_version(r, &version);
	*mark = (uint64_t)version;
	return rv;
}

void akm_registry_rollback(akm_registry *r)
{
	if (!sqlite3_get_autocommit(r->db))
		step_done(r->rollback);
	r->tx_depth = 0;
}

/* Runs a prepared statement to completion; resets it either way. */
static CK_RV step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? CKR_OK : rv_from_sqlite(rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	/* A zero-length blob, not NULL: columns are NOT NULL. */
	sqlite3_bind_blob(st, i, n ? p : "", (int)n, SQLITE_TRANSIENT);
}

static size_t column_blob(sqlite3_stmt *st, int i, void *buf, size_t cap)
{
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	const void *p = sqlite3_column_blob(st, i);
	if (n > cap)
		n = cap;
	if (n > 0 && p != NULL)
		memcpy(buf, p, n);
	return n;
}

CK_RV akm_registry_get_blob(akm_registry *r, const char *name, uint8_t *buf, size_t *len, bool *present)
{
	sqlite3_bind_text(r->meta_get, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(r->meta_get);
	*present = rc == SQLITE_ROW;
	if (*present)
		*len = column_blob(r->meta_get, 0, buf, *len);
	sqlite3_reset(r->meta_get);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : rv_from_sqlite(rc);
}

CK_RV akm_registry_set_blob(akm_registry *r, const char *name, const uint8_t *buf, size_t len)
{
	sqlite3_bind_text(r->meta_set, 1, name, -1, SQLITE_STATIC);
	bind_blob(r->meta_set, 2, buf, len);
	return step_done(r->meta_set);
}

CK_RV akm_registry_get_int(akm_registry *r, const char *name, int64_t *value, bool *present)
{
	sqlite3_bind_text(r->meta_get, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(r->meta_get);
	*present = rc == SQLITE_ROW;
	if (*present)
		*value = sqlite3_column_int64(r->meta_get, 0);
	sqlite3_reset(r->meta_get);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : rv_from_sqlite(rc);
}

CK_RV akm_registry_set_int(akm_registry *r, const char *name, int64_t value)
{
	sqlite3_bind_text(r->meta_set, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->meta_set, 2, value);
	return step_done(r->meta_set);
}

CK_RV akm_registry_insert_relationship(akm_registry *r, akm_relationship *rel)
{
	sqlite3_stmt *st = r->insert_rel;
	bind_blob(st, 1, rel->rid, rel->rid_len);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rel->kind);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rel->state);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rel->epoch);
	bind_blob(st, 5, rel->station, rel->station_len);
	bind_blob(st, 6, rel->peer, rel->peer_len);
	bind_blob(st, 7, rel->members, rel->members_len);
	bind_blob(st, 8, rel->hw, rel->hw_len);
	sqlite3_bind_int64(st, 9, rel->created);
	sqlite3_bind_int64(st, 10, rel->changed);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)rel->status);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)rel->seq);
	bind_blob(st, 13, rel->site, rel->site_len);
	bind_blob(st, 14, rel->node_key, rel->node_key_len);
	CK_RV rv = step_done(st);
	if (rv == CKR_OK)
		rel->id = sqlite3_last_insert_rowid(r->db);
	return rv;
}

CK_RV akm_registry_insert_key(akm_registry *r, akm_key *key)
{
	sqlite3_stmt *st = r->insert_key;
	sqlite3_bind_int64(st, 1, key->relationship);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)key->purpose);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)key->key_type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)key->value_len);
	bind_blob(st, 5, key->ckid, key->ckid_len);
	bind_blob(st, 6, key->label, key->label_len);
	bind_blob(st, 7, key->wrapped, key->wrapped_len);
	CK_RV rv = step_done(st);
	if (rv == CKR_OK)
		key->id = sqlite3_last_insert_rowid(r->db);
	return rv;
}

void akm_relationship_clear(akm_relationship *rel)
{
	free(rel->members);
	memset(rel, 0, sizeof *rel);
}

CK_RV akm_registry_get_key(akm_registry *r, int64_t id, akm_key *key, akm_relationship *rel)
{
	sqlite3_stmt *st = r->get_key;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	CK_RV rv = CKR_OK;
	if (rc == SQLITE_DONE) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rv = rv_from_sqlite(rc);
		goto out;
	}
	memset(key, 0, sizeof *key);
	key->id = id;
	key->relationship = sqlite3_column_int64(st, 0);
	key->purpose = (CK_ULONG)sqlite3_column_int64(st, 1);
	key->key_type = (CK_ULONG)sqlite3_column_int64(st, 2);
	key->value_len = (CK_ULONG)sqlite3_column_int64(st, 3);
	key->ckid_len = column_blob(st, 4, key->ckid, sizeof key->ckid);
	key->label_len = column_blob(st, 5, key->label, sizeof key->label);
	key->wrapped_len = column_blob(st, 6, key->wrapped, sizeof key->wrapped);
	if (rel != NULL) {
		memset(rel, 0, sizeof *rel);
		rel->id = key->relationship;
		rel->rid_len = column_blob(st, 7, rel->rid, sizeof rel->rid);
		rel->kind = (CK_ULONG)sqlite3_column_int64(st, 8);
		rel->state = (CK_ULONG)sqlite3_column_int64(st, 9);
		rel->epoch = (CK_ULONG)sqlite3_column_int64(st, 10);
		rel->station_len = column_blob(st, 11, rel->station, sizeof rel->station);
		rel->peer_len = column_blob(st, 12, rel->peer, sizeof rel->peer);
		size_t n = (size_t)sqlite3_column_bytes(st, 13);
		if (n > 0) {
			rel->members = malloc(n);
			if (rel->members == NULL) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
			rel->members_len = column_blob(st, 13, rel->members, n);
		}
		rel->hw_len = column_blob(st, 14, rel->hw, sizeof rel->hw);
		rel->created = sqlite3_column_int64(st, 15);
		rel->changed = sqlite3_column_int64(st, 16);
		rel->status = (CK_ULONG)sqlite3_column_int64(st, 17);
		rel->seq = (CK_ULONG)sqlite3_column_int64(st, 18);
		rel->site_len = column_blob(st, 19, rel->site, sizeof rel->site);
		rel->node_key_len = column_blob(st, 20, rel->node_key, sizeof rel->node_key);
	}
out:
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_registry_update_relationship(akm_registry *r, const akm_relationship *rel)
{
	sqlite3_stmt *st = r->update_rel;
	CK_RV rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)rel->state);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rel->epoch);
	bind_blob(st, 3, rel->members, rel->members_len);
	sqlite3_bind_int64(st, 4, rel->changed);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rel->status);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)rel->seq);
	bind_blob(st, 7, rel->node_key, rel->node_key_len);
	sqlite3_bind_int64(st, 8, rel->id);
	rv = step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_registry_update_key_label(akm_registry *r, int64_t id, const uint8_t *label, size_t len)
{
	sqlite3_stmt *st = r->update_label;
	bind_blob(st, 1, label, len);
	sqlite3_bind_int64(st, 2, id);
	CK_RV rv = step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_registry_delete_relationship(akm_registry *r, int64_t id)
{
	sqlite3_stmt *st = r->delete_rel;
	sqlite3_bind_int64(st, 1, id);
	CK_RV rv = step_done(st);
	if (rv == CKR_OK && sqlite3_changes(r->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	return rv;
}

CK_RV akm_registry_find(akm_registry *r, const akm_registry_query *q, int64_t after,
                        int64_t *ids, size_t max, size_t *n)
{
	unsigned shape = (q->rid != NULL) | (q->ckid != NULL) << 1 | (q->label != NULL) << 2 |
	                 (q->peer != NULL) << 3 | q->has_kind << 4 | q->has_state << 5 | q->has_purpose << 6;
	sqlite3_stmt *st = r->find[shape];
	CK_RV rv;
	if (st == NULL) {
		char sql[768] = "SELECT k.id FROM key k JOIN relationship r ON r.id = k.relationship WHERE k.id > ?";
		if (q->rid) strcat(sql, " AND r.rid = ?");
		if (q->ckid) strcat(sql, " AND k.ckid = ?");
		if (q->label) strcat(sql, " AND k.label = ?");
		if (q->peer) strcat(sql, " AND r.peer = ?");
		if (q->has_kind) strcat(sql, " AND r.kind = ?");
		if (q->has_state) strcat(sql, " AND r.state = ?");
		if (q->has_purpose) strcat(sql, " AND k.purpose = ?");
		strcat(sql, " ORDER BY k.id LIMIT ?");
		if ((rv = prepare(r, &r->find[shape], sql)) != CKR_OK)
			return rv;
		st = r->find[shape];
	}
	int i = 1;
	sqlite3_bind_int64(st, i++, after);
	if (q->rid) bind_blob(st, i++, q->rid, q->rid_len);
	if (q->ckid) bind_blob(st, i++, q->ckid, q->ckid_len);
	if (q->label) bind_blob(st, i++, q->label, q->label_len);
	if (q->peer) bind_blob(st, i++, q->peer, q->peer_len);
	if (q->has_kind) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->kind);
	if (q->has_state) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->state);
	if (q->has_purpose) sqlite3_bind_int64(st, i++, (sqlite3_int64)q->purpose);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)max);
	*n = 0;
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	rv = *n == max || rc == SQLITE_DONE ? CKR_OK : rv_from_sqlite(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

CK_RV akm_registry_data_version(akm_registry *r, int64_t *version)
{
	int rc = sqlite3_step(r->data_version);
	*version = rc == SQLITE_ROW ? sqlite3_column_int64(r->data_version, 0) : 0;
	sqlite3_reset(r->data_version);
	return rc == SQLITE_ROW ? CKR_OK : rv_from_sqlite(rc);
}

CK_RV akm_registry_count(akm_registry *r, const char *table, int64_t *n)
{
	char sql[64];
	sqlite3_stmt *st;
	if (strcmp(table, "relationship") != 0 && strcmp(table, "key") != 0 && strcmp(table, "audit") != 0)
		return CKR_ARGUMENTS_BAD;
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	CK_RV rv = rv_from_sqlite(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? CKR_OK : rv_from_sqlite(rc);
}

/* ---- audit ---------------------------------------------------------------- */

CK_RV akm_registry_audit_head(akm_registry *r, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	bool present;
	size_t len = AKM_AUDIT_HASH_LEN;
	CK_RV rv = akm_registry_get_int(r, "audit_seq", seq, &present);
	if (rv != CKR_OK)
		return rv;
	if (!present) {
		*seq = 0;
		memset(hash, 0, AKM_AUDIT_HASH_LEN);
		return CKR_OK;
	}
	rv = akm_registry_get_blob(r, "audit_hash", hash, &len, &present);
	if (rv == CKR_OK && (!present || len != AKM_AUDIT_HASH_LEN))
		rv = CKR_DEVICE_ERROR;
	return rv;
}

CK_RV akm_registry_audit_append(akm_registry *r, const akm_audit_event *ev)
{
	bool own_tx = r->tx_depth == 0;
	CK_RV rv;
	if (own_tx && (rv = akm_registry_begin(r)) != CKR_OK)
		return rv;
	int64_t seq;
	uint8_t prev[AKM_AUDIT_HASH_LEN], hash[AKM_AUDIT_HASH_LEN];
	if ((rv = akm_registry_audit_head(r, &seq, prev)) != CKR_OK)
		goto out;
	seq++;
	int64_t now = (int64_t)time(NULL);
	akm_audit_entry e = {seq, now, ev->actor, strlen(ev->actor), ev->action, strlen(ev->action),
	                     ev->rid, ev->rid_len, ev->result, ev->detail, ev->detail ? strlen(ev->detail) : 0};
	akm_audit_hash(prev, &e, hash);
	sqlite3_stmt *st = r->audit_insert;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, ev->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->action, -1, SQLITE_STATIC);
	if (ev->rid != NULL)
		bind_blob(st, 5, ev->rid, ev->rid_len);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->result);
	if (ev->detail != NULL)
		sqlite3_bind_text(st, 7, ev->detail, -1, SQLITE_STATIC);
	bind_blob(st, 8, prev, sizeof prev);
	bind_blob(st, 9, hash, sizeof hash);
	if ((rv = step_done(st)) != CKR_OK)
		goto out;
	if ((rv = akm_registry_set_int(r, "audit_seq", seq)) != CKR_OK)
		goto out;
	rv = akm_registry_set_blob(r, "audit_hash", hash, sizeof hash);
out:
	if (own_tx) {
		if (rv == CKR_OK)
			rv = akm_registry_commit(r);
		else
			akm_registry_rollback(r);
	}
	return rv;
}

CK_RV akm_registry_audit_hash_at(akm_registry *r, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN])
{
	sqlite3_stmt *st = r->audit_at;
	CK_RV rv;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = column_blob(st, 0, hash, AKM_AUDIT_HASH_LEN) == AKM_AUDIT_HASH_LEN ? CKR_OK : CKR_DEVICE_ERROR;
	else
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : rv_from_sqlite(rc);
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_registry_audit_verify(akm_registry *r, int64_t *records, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	CK_RV rv = rv_from_sqlite(sqlite3_prepare_v2(r->db,
		"SELECT seq, time, actor, action, rid, result, detail, prev, hash FROM audit ORDER BY seq",
		-1, &st, NULL));
	if (rv != CKR_OK) {
		snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
		return rv;
	}
	akm_audit_chain chain;
	int rc;
	akm_audit_chain_init(&chain);
	rv = CKR_OK;
	*records = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *actor = (const char *)sqlite3_column_text(st, 2);
		const char *action = (const char *)sqlite3_column_text(st, 3);
		const char *detail = (const char *)sqlite3_column_text(st, 6);
		const uint8_t *rid = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(st, 4);
		akm_audit_entry e = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		                     actor, actor ? strlen(actor) : 0, action, action ? strlen(action) : 0,
		                     rid, rid ? (size_t)sqlite3_column_bytes(st, 4) : 0,
		                     (uint64_t)sqlite3_column_int64(st, 5), detail, detail ? strlen(detail) : 0};
		const uint8_t *prev = sqlite3_column_blob(st, 7);
		size_t prev_len = (size_t)sqlite3_column_bytes(st, 7);
		const uint8_t *stored = sqlite3_column_blob(st, 8);
		size_t stored_len = (size_t)sqlite3_column_bytes(st, 8);
		if (akm_audit_chain_next(&chain, &e, prev, prev_len, stored, stored_len, err, errlen) != 0) {
			rv = CKR_GENERAL_ERROR;
			break;
		}
		(*records)++;
	}
	if (rv == CKR_OK && rc != SQLITE_DONE) {
		snprintf(err, errlen, "registry %s: %s", r->path, sqlite3_errmsg(r->db));
		rv = rv_from_sqlite(rc);
	}
	sqlite3_finalize(st);
	if (rv != CKR_OK)
		return rv;
	int64_t head_seq;
	uint8_t head_hash[AKM_AUDIT_HASH_LEN];
	if ((rv = akm_registry_audit_head(r, &head_seq, head_hash)) != CKR_OK) {
		snprintf(err, errlen, "registry %s: the audit head is unreadable", r->path);
		return rv;
	}
	if (head_seq != chain.records || memcmp(head_hash, chain.last, sizeof head_hash) != 0) {
		if (head_seq == chain.records)
			snprintf(err, errlen, "the audit head's hash does not match record %lld (altered)", (long long)head_seq);
		else
			snprintf(err, errlen, "the audit trail ends at record %lld but its head says %lld (records removed at the end)",
			         (long long)chain.records, (long long)head_seq);
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

CK_RV akm_registry_audit_get(akm_registry *r, int64_t seq, akm_audit_record *rec)
{
	sqlite3_stmt *st = r->audit_get;
	CK_RV rv = CKR_OK;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : rv_from_sqlite(rc);
		goto out;
	}
	memset(rec, 0, sizeof *rec);
	rec->seq = seq;
	rec->time = sqlite3_column_int64(st, 0);
	rec->actor_len = column_blob(st, 1, rec->actor, sizeof rec->actor);
	rec->action_len = column_blob(st, 2, rec->action, sizeof rec->action);
	rec->rid_len = column_blob(st, 3, rec->rid, sizeof rec->rid);
	rec->result = (CK_RV)sqlite3_column_int64(st, 4);
	rec->detail_len = column_blob(st, 5, rec->detail, sizeof rec->detail);
	if (column_blob(st, 6, rec->prev, sizeof rec->prev) != sizeof rec->prev ||
	    column_blob(st, 7, rec->hash, sizeof rec->hash) != sizeof rec->hash)
		rv = CKR_DEVICE_ERROR;
out:
	sqlite3_reset(st);
	return rv;
}

CK_RV akm_registry_audit_find(akm_registry *r, const uint8_t *rid, size_t rid_len, int64_t after,
                              int64_t *seqs, size_t max, size_t *n)
{
	sqlite3_stmt *st = rid != NULL ? r->audit_find_rid : r->audit_find;
	int i = 1;
	if (rid != NULL)
		bind_blob(st, i++, rid, rid_len);
	sqlite3_bind_int64(st, i++, after);
	sqlite3_bind_int64(st, i, (sqlite3_int64)max);
	int rc;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		seqs[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? CKR_OK : rv_from_sqlite(rc);
}

#include "store/sqlite/sqlite.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sidefile.h"

static void map_changes(akm_sqlite *r);
static void sqlite_close(akm_store *s);

/* The one place SQLite results become CK_RV. */
CK_RV akm_sqlite_rv(int rc)
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

CK_RV akm_sqlite_prepare(akm_sqlite *r, sqlite3_stmt **st, const char *sql)
{
	return akm_sqlite_rv(sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL));
}

/* Runs a prepared statement to completion; resets it either way. */
CK_RV akm_sqlite_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

void akm_sqlite_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	/* A zero-length blob, not NULL: columns are NOT NULL. */
	sqlite3_bind_blob(st, i, n ? p : "", (int)n, SQLITE_TRANSIENT);
}

size_t akm_sqlite_column_blob(sqlite3_stmt *st, int i, void *buf, size_t cap)
{
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	const void *p = sqlite3_column_blob(st, i);
	if (n > cap)
		n = cap;
	if (n > 0 && p != NULL)
		memcpy(buf, p, n);
	return n;
}

void akm_sqlite_row_int(akm_sqlite_row *row, int i, int64_t *v)
{
	row->ok &= sqlite3_column_type(row->st, i) == SQLITE_INTEGER;
	*v = sqlite3_column_int64(row->st, i);
}

void akm_sqlite_row_blob(akm_sqlite_row *row, int i, void *buf, size_t cap, size_t *len)
{
	size_t n = (size_t)sqlite3_column_bytes(row->st, i);
	row->ok &= sqlite3_column_type(row->st, i) == SQLITE_BLOB && n <= cap;
	*len = akm_sqlite_column_blob(row->st, i, buf, cap);
}

void akm_sqlite_row_text(akm_sqlite_row *row, int i, void *buf, size_t cap, size_t *len, bool nullable,
                         bool *present)
{
	int type = sqlite3_column_type(row->st, i);
	*present = type != SQLITE_NULL;
	*len = 0;
	if (!*present) {
		row->ok &= nullable;
		return;
	}
	const unsigned char *p = sqlite3_column_text(row->st, i);
	size_t n = (size_t)sqlite3_column_bytes(row->st, i);
	row->ok &= type == SQLITE_TEXT && n <= cap;
	*len = n <= cap ? n : cap;
	if (*len > 0 && p != NULL)
		memcpy(buf, p, *len);
}

static CK_RV sqlite_open(const char *path, akm_store **out, char *err, size_t errlen)
{
	/* SQLite takes "" and ":memory:" for databases that vanish at close: a
	 * registry that would lose every relationship. */
	if (path[0] == '\0' || strcmp(path, ":memory:") == 0) {
		snprintf(err, errlen, "registry: a SQLite store is a file (sqlite:PATH), not \"%s\"", path);
		return CKR_GENERAL_ERROR;
	}
	akm_sqlite *r = calloc(1, sizeof *r);
	CK_RV rv;
	if (r != NULL)
		r->base.ops = &akm_store_sqlite_ops;
	if (r == NULL || (r->path = strdup(path)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return CKR_HOST_MEMORY;
	}
	/* The file is made here, 0600 whatever the umask, without following a
	 * symbolic link; SQLite gives its -wal and -shm the database's mode. */
	char why[PATH_MAX + 160];
	int fd = akm_sidefile_open(path, AKM_SIDEFILE_CREATE | AKM_SIDEFILE_ANY_OWNER, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open registry %s", why);
		sqlite_close(&r->base);
		return CKR_DEVICE_ERROR;
	}
	close(fd);
	int rc = sqlite3_open_v2(path, &r->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
	                         SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open registry %s: %s", path,
		         r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		sqlite_close(&r->base);
		return CKR_DEVICE_ERROR;
	}
	sqlite3_busy_timeout(r->db, 10000);
	/* Whoever can write the file chose its schema: nothing in it runs
	 * with more trust than the file (no functions with side effects in
	 * triggers or views; those are refused by the schema check anyway). */
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	/* WAL with synchronous=NORMAL: a committed transaction survives the
	 * process being killed at any point; secure_delete zeroes what is
	 * deleted, so a destroyed relationship's wrapped keys leave no trace. */
	static const char *const pragmas =
		"PRAGMA synchronous = NORMAL;"
		"PRAGMA foreign_keys = ON;"
		"PRAGMA secure_delete = ON;"
		/* Sized for a station of a million nodes (docs/performance.md "A
		 * station of a million nodes"): a 16 MiB page cache (the
		 * default is 2 MiB), within what a provisioning run may hold;
		 * a checkpoint every 32768 pages of WAL (128 MiB; the default
		 * is 1000): each of the indexes keyed on random IDs takes a
		 * scattered page per row written, and a page written by several
		 * transactions between two checkpoints is copied into the file
		 * once.  Neither changes what a commit guarantees. */
		"PRAGMA cache_size = -16384;"
		"PRAGMA wal_autocheckpoint = 32768;";
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
		sqlite_close(&r->base);
		return CKR_DEVICE_ERROR;
	}
	if ((rv = akm_sqlite_migrate(r, err, errlen)) != CKR_OK) {
		sqlite_close(&r->base);
		return rv;
	}
	if ((rv = akm_sqlite_prepare(r, &r->get_key,
	                  "SELECT k.relationship, k.purpose, k.key_type, k.value_len, k.ckid, k.label, k.wrapped, k.mac,"
	                  " r.rid, r.kind, r.state, r.epoch, r.station, r.peer, r.members, r.hw, r.created, r.changed,"
	                  " r.status, r.seq, r.site, r.node_key, r.delivery, r.audit, r.checkin, r.mac"
	                  " FROM key k LEFT JOIN relationship r ON r.id = k.relationship WHERE k.id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->insert_key,
	                  "INSERT INTO key (id, relationship, purpose, key_type, value_len, ckid, label, wrapped, mac)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->insert_rel,
	                  "INSERT INTO relationship (id, rid, kind, state, epoch, station, peer, members, hw, created,"
	                  " changed, status, seq, site, node_key, delivery, audit, checkin, mac)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_insert,
	                  "INSERT INTO audit (seq, time, actor, action, rid, result, detail, prev, hash, row_change, mac, rel)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->rel_by_rid, "SELECT id FROM relationship WHERE rid = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->meta_get, "SELECT value, mac FROM meta WHERE name = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->meta_set,
	                  "INSERT OR REPLACE INTO meta (name, value, mac) VALUES (?, ?, ?)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->begin, "BEGIN IMMEDIATE")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->commit, "COMMIT")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->rollback, "ROLLBACK")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->update_rel,
	                  "UPDATE relationship SET state = ?, epoch = ?, members = ?, changed = ?,"
	                  " status = ?, seq = ?, node_key = ?, audit = ?, checkin = ?, mac = ? WHERE id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->update_label, "UPDATE key SET label = ?, mac = ? WHERE id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->delete_rel, "DELETE FROM relationship WHERE id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->get_rel,
	                  "SELECT rid, kind, state, epoch, station, peer, members, hw, created, changed, status,"
	                  " seq, site, node_key, delivery, audit, checkin, mac FROM relationship WHERE id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_last,
	                  "SELECT max(s) FROM (SELECT ifnull(max(seq), 0) AS s FROM audit WHERE rel = ?1 AND row_change = 1"
	                  " UNION ALL SELECT ifnull(max(seq), 0) FROM audit"
	                  " WHERE rel IS NULL AND rid = ?2 AND row_change = 1)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->delete_keys, "DELETE FROM key WHERE relationship = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->data_version, "PRAGMA data_version")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_get,
	                  "SELECT time, actor, action, rid, result, detail, prev, hash, row_change, mac, rel"
	                  " FROM audit WHERE seq = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_find, "SELECT seq FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_find_rid,
	                  "SELECT seq FROM audit WHERE rel = ?1 AND seq > ?3 UNION ALL SELECT seq FROM audit"
	                  " WHERE rel IS NULL AND rid = ?2 AND seq > ?3 ORDER BY 1 LIMIT ?4")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->audit_find_gone,
	                  "SELECT seq FROM audit WHERE rid = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_get,
	                  "SELECT id, idx, gen, up_gen, member, pr, key, up, mac FROM tree WHERE asr = ? AND idx = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_id, "SELECT id FROM tree WHERE asr = ? AND idx = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_insert,
	                  "INSERT INTO tree (id, asr, idx, gen, up_gen, member, pr, key, up, mac)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_update,
	                  "UPDATE tree SET gen = ?, up_gen = ?, member = ?, pr = ?, key = ?, up = ?, mac = ?"
	                  " WHERE id = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_delete, "DELETE FROM tree WHERE asr = ? AND idx = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_delete_all, "DELETE FROM tree WHERE asr = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_scan,
	                  "SELECT id, idx, gen, up_gen, member, pr, key, up, mac FROM tree WHERE asr = ? AND idx > ?"
	                  " ORDER BY idx LIMIT ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_find,
	                  "SELECT id, idx, gen, up_gen, member, pr, key, up, mac FROM tree INDEXED BY tree_member"
	                  " WHERE asr = ? AND member = ?")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_members,
	                  "SELECT count(*) FROM tree WHERE asr = ? AND length(member) > 0")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->tree_path,
	                  "SELECT id, idx, gen, up_gen, member, pr, key, up, mac FROM tree WHERE asr = ?1 AND idx IN"
	                  " (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
	                  " ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->read_begin, "BEGIN DEFERRED")) != CKR_OK ||
	    (rv = akm_sqlite_prepare(r, &r->update_wrapped, "UPDATE key SET wrapped = ?, mac = ? WHERE id = ?")) != CKR_OK) {
		snprintf(err, errlen, "registry %s: %s", path, sqlite3_errmsg(r->db));
		sqlite_close(&r->base);
		return rv;
	}
	r->base.location = r->path;
	map_changes(r);
	*out = &r->base;
	return CKR_OK;
}

static void map_changes(akm_sqlite *r)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s-changes", r->path) >= (int)sizeof path)
		return;
	/* Beside the registry: no symbolic link followed, only a regular file
	 * of ours; refused, the change mark falls back to data_version. */
	char err[PATH_MAX + 160];
	int fd = akm_sidefile_open(path, AKM_SIDEFILE_CREATE, err, sizeof err);
	if (fd < 0) {
		akm_log(AKM_LOG_WARNING, "registry side file %s", err);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_size >= (off_t)sizeof(uint64_t) || ftruncate(fd, sizeof(uint64_t)) == 0)) {
		void *map = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED)
			r->changes = map;
	}
	close(fd);
}

static void sqlite_close(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (r->changes != NULL)
		munmap(r->changes, sizeof(uint64_t));
	sqlite3_finalize(r->get_key);
	sqlite3_finalize(r->insert_key);
	sqlite3_finalize(r->insert_rel);
	sqlite3_finalize(r->audit_insert);
	sqlite3_finalize(r->rel_by_rid);
	sqlite3_finalize(r->audit_find_gone);
	sqlite3_finalize(r->meta_get);
	sqlite3_finalize(r->meta_set);
	sqlite3_stmt **all[] = {&r->begin, &r->commit, &r->rollback, &r->update_rel, &r->update_label,
	                        &r->delete_rel, &r->delete_keys, &r->get_rel, &r->audit_last, &r->data_version,
	                        &r->audit_get, &r->audit_find, &r->audit_find_rid, &r->tree_get, &r->tree_id,
	                        &r->tree_insert, &r->tree_update, &r->tree_delete, &r->tree_delete_all, &r->tree_scan,
	                        &r->tree_find, &r->tree_members, &r->tree_path, &r->update_wrapped, &r->read_begin};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(*all[i]);
	for (int i = 0; i < AKM_SQLITE_FIND_SHAPES; i++)
		sqlite3_finalize(r->find[i]);
	if (r->db != NULL)
		sqlite3_close(r->db);
	free(r->path);
	free(r);
}

void akm_sqlite_tx_forget(akm_sqlite *r)
{
	r->rows.loaded = r->rows.dirty = false;
	r->head.loaded = r->head.dirty = false;
}

CK_RV akm_sqlite_begin(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	CK_RV rv = akm_sqlite_step_done(r->begin);
	if (rv == CKR_OK)
		r->tx_depth = 1;
	akm_sqlite_tx_forget(r); /* read again: another process may have written */
	return rv;
}

CK_RV akm_sqlite_commit(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	CK_RV rv = akm_sqlite_rows_save(r);
	if (rv == CKR_OK)
		rv = akm_sqlite_head_save(r);
	if (rv == CKR_OK)
		rv = akm_sqlite_step_done(r->commit);
	if (rv != CKR_OK) {
		akm_sqlite_rollback(&r->base);
	} else {
		r->own_commits++;
		if (r->changes != NULL)
			__atomic_add_fetch(r->changes, 1, __ATOMIC_SEQ_CST);
	}
	r->tx_depth = 0;
	akm_sqlite_tx_forget(r);
	return rv;
}

/* A read transaction (deferred: its snapshot is taken at its first read,
 * and no lock is held against writers in WAL mode). */
static CK_RV sqlite_snapshot(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	return r->tx_depth != 0 ? CKR_GENERAL_ERROR : akm_sqlite_step_done(r->read_begin);
}

static void sqlite_snapshot_end(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (r->tx_depth == 0 && !sqlite3_get_autocommit(r->db))
		akm_sqlite_step_done(r->rollback);
}

/* SQLite's data_version: changes when another connection commits. */
static CK_RV data_version(akm_sqlite *r, int64_t *version)
{
	int rc = sqlite3_step(r->data_version);
	*version = rc == SQLITE_ROW ? sqlite3_column_int64(r->data_version, 0) : 0;
	sqlite3_reset(r->data_version);
	return rc == SQLITE_ROW ? CKR_OK : akm_sqlite_rv(rc);
}

CK_RV akm_sqlite_change_mark(akm_store *s, uint64_t *mark)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (r->changes != NULL) {
		*mark = __atomic_load_n(r->changes, __ATOMIC_SEQ_CST);
		return CKR_OK;
	}
	/* data_version moves with other connections' commits only. */
	int64_t version;
	CK_RV rv = data_version(r, &version);
	*mark = (uint64_t)version + r->own_commits;
	return rv;
}

CK_RV akm_sqlite_file_version(akm_store *s, uint64_t *version)
{
	akm_sqlite *r = (akm_sqlite *)s;
	int64_t v;
	CK_RV rv = data_version(r, &v);
	*version = (uint64_t)v + r->own_commits;
	return rv;
}

void akm_sqlite_rollback(akm_store *s)
{
	akm_sqlite *r = (akm_sqlite *)s;
	if (!sqlite3_get_autocommit(r->db))
		akm_sqlite_step_done(r->rollback);
	r->tx_depth = 0;
	akm_sqlite_tx_forget(r);
}

/* One named value, checked: an integer (value) or a blob into blob (*len:
 * capacity in, length out). */
static CK_RV meta_get(akm_sqlite *r, const char *name, int64_t *value, uint8_t *blob, size_t *len, bool *present)
{
	sqlite3_stmt *st = r->meta_get;
	*present = false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	CK_RV rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
	if (rc == SQLITE_ROW) {
		akm_sqlite_row row = {st, true};
		uint8_t mac[AKM_SEAL_LEN];
		if (value != NULL)
			akm_sqlite_row_int(&row, 0, value);
		else
			akm_sqlite_row_blob(&row, 0, blob, *len, len);
		akm_seal_meta(&r->base, name, value != NULL, value != NULL ? *value : 0, blob, value != NULL ? 0 : *len, mac);
		if (!row.ok ||
		    (r->base.key != NULL && !akm_seal_matches(mac, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1))))
			rv = akm_store_tampered(&r->base, "meta row %s: its MAC does not match", name);
		else
			*present = true;
	}
	sqlite3_reset(st);
	return rv;
}

static CK_RV meta_set(akm_sqlite *r, const char *name, bool is_int, int64_t value, const uint8_t *blob,
                      size_t len)
{
	sqlite3_stmt *st = r->meta_set;
	uint8_t mac[AKM_SEAL_LEN];
	if (r->base.key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	akm_seal_meta(&r->base, name, is_int, value, blob, len, mac);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (is_int)
		sqlite3_bind_int64(st, 2, value);
	else
		akm_sqlite_bind_blob(st, 2, blob, len);
	akm_sqlite_bind_blob(st, 3, mac, sizeof mac);
	return akm_sqlite_step_done(st);
}

CK_RV akm_sqlite_get_blob(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present)
{
	return meta_get((akm_sqlite *)s, name, NULL, buf, len, present);
}

CK_RV akm_sqlite_set_blob(akm_store *s, const char *name, const uint8_t *buf, size_t len)
{
	return meta_set((akm_sqlite *)s, name, false, 0, buf, len);
}

CK_RV akm_sqlite_get_int(akm_store *s, const char *name, int64_t *value, bool *present)
{
	return meta_get((akm_sqlite *)s, name, value, NULL, NULL, present);
}

CK_RV akm_sqlite_set_int(akm_store *s, const char *name, int64_t value)
{
	return meta_set((akm_sqlite *)s, name, true, value, NULL, 0);
}

CK_RV akm_sqlite_count(akm_store *s, akm_store_table table, int64_t *n)
{
	akm_sqlite *r = (akm_sqlite *)s;
	static const char *const sql[] = {
		[AKM_STORE_RELATIONSHIPS] = "SELECT count(*) FROM relationship",
		[AKM_STORE_KEYS] = "SELECT count(*) FROM key",
		[AKM_STORE_AUDIT] = "SELECT count(*) FROM audit",
		[AKM_STORE_TREE] = "SELECT count(*) FROM tree",
	};
	sqlite3_stmt *st;
	if ((unsigned)table >= sizeof sql / sizeof sql[0])
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, sql[table], -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? CKR_OK : akm_sqlite_rv(rc);
}

const akm_store_ops akm_store_sqlite_ops = {
	.scheme = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.check = akm_sqlite_check,
	.begin = akm_sqlite_begin,
	.commit = akm_sqlite_commit,
	.rollback = akm_sqlite_rollback,
	.snapshot = sqlite_snapshot,
	.snapshot_end = sqlite_snapshot_end,
	.change_mark = akm_sqlite_change_mark,
	.file_version = akm_sqlite_file_version,
	.get_int = akm_sqlite_get_int,
	.set_int = akm_sqlite_set_int,
	.get_blob = akm_sqlite_get_blob,
	.set_blob = akm_sqlite_set_blob,
	.insert_relationship = akm_sqlite_insert_relationship,
	.insert_key = akm_sqlite_insert_key,
	.get_key = akm_sqlite_get_key,
	.update_relationship = akm_sqlite_update_relationship,
	.update_key_label = akm_sqlite_update_key_label,
	.delete_key = akm_sqlite_delete_key,
	.delete_relationship = akm_sqlite_delete_relationship,
	.get_relationship = akm_sqlite_get_relationship,
	.tree_put = akm_sqlite_tree_put,
	.tree_get = akm_sqlite_tree_get,
	.tree_delete = akm_sqlite_tree_delete,
	.tree_delete_all = akm_sqlite_tree_delete_all,
	.tree_scan = akm_sqlite_tree_scan,
	.tree_find_member = akm_sqlite_tree_find_member,
	.tree_members = akm_sqlite_tree_members,
	.tree_path = akm_sqlite_tree_path,
	.update_key_wrapped = akm_sqlite_update_key_wrapped,
	.find = akm_sqlite_find,
	.find_by_label = akm_sqlite_find_by_label,
	.count = akm_sqlite_count,
	.audit_append = akm_sqlite_audit_append,
	.pending_add = akm_sqlite_pending_add,
	.pending_flush = akm_sqlite_pending_flush,
	.audit_head = akm_sqlite_audit_head,
	.audit_hash_at = akm_sqlite_audit_hash_at,
	.audit_verify = akm_sqlite_audit_verify,
	.audit_get = akm_sqlite_audit_get,
	.audit_find = akm_sqlite_audit_find,
};

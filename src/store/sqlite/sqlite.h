/*
 * The SQLite store (store.h): one file, WAL, a schema version with
 * step-by-step migrations (schema.c), SQLite's own cross-process locks with
 * a busy timeout.  Rows: rows.c; the audit trail: audit.c.  SQLite's result
 * codes become CK_RV in akm_sqlite_rv and nowhere else.
 */
#ifndef AKM_STORE_SQLITE_H
#define AKM_STORE_SQLITE_H

#include <sqlite3.h>

#include "lib/buf.h"
#include "store/impl.h"

#define AKM_SQLITE_SCHEMA_VERSION 7
#define AKM_SQLITE_FIND_SHAPES 512 /* one prepared statement per combination of filters and order */

typedef struct akm_sqlite {
	akm_store base;
	sqlite3 *db;
	char *path;
	int tx_depth; /* a write transaction is open */
	sqlite3_stmt *get_key, *insert_key, *insert_rel, *audit_insert, *rel_by_rid, *audit_find_gone, *meta_get, *meta_set;
	sqlite3_stmt *begin, *commit, *rollback, *update_rel, *update_label, *delete_rel, *delete_keys, *get_rel, *audit_last,
		*data_version, *audit_get, *audit_find, *audit_find_rid;
	sqlite3_stmt *tree_get, *tree_id, *tree_insert, *tree_update, *tree_delete, *tree_delete_all, *tree_scan,
		*tree_find, *tree_members, *tree_path, *update_wrapped, *read_begin;
	sqlite3_stmt *find[AKM_SQLITE_FIND_SHAPES];
	/* The change mark: a counter every writer bumps after each commit, in
	 * a small file beside the registry mapped into every process that uses
	 * it: reading it is a memory load, where asking SQLite (data_version)
	 * takes file locks.  NULL when it could not be mapped. */
	uint64_t *changes;
	uint64_t own_commits; /* added to data_version when there is no side file */
	/* The sealed bookkeeping (meta "rows"), read once per transaction and
	 * written at its commit when it changed. */
	struct {
		int64_t n[6]; /* ROWS_* */
		bool loaded, dirty;
	} rows;
	/* The audit head (meta audit_seq, audit_hash), the same way: a batch
	 * of appends reads it once and writes it once. */
	struct {
		int64_t seq;
		uint8_t hash[AKM_AUDIT_HASH_LEN];
		bool loaded, dirty;
	} head;
} akm_sqlite;

enum { ROWS_REL_COUNT, ROWS_KEY_COUNT, ROWS_REL_HIGH, ROWS_KEY_HIGH, ROWS_TREE_COUNT, ROWS_TREE_HIGH };

/* Helpers shared by the files of this implementation. */
CK_RV akm_sqlite_rv(int rc);
CK_RV akm_sqlite_prepare(akm_sqlite *r, sqlite3_stmt **st, const char *sql);
/* Runs a prepared statement to completion; resets it either way. */
CK_RV akm_sqlite_step_done(sqlite3_stmt *st);
/* A zero-length blob, not NULL: columns are NOT NULL. */
void akm_sqlite_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Copies at most cap bytes of a blob column; returns how many. */
size_t akm_sqlite_column_blob(sqlite3_stmt *st, int i, void *buf, size_t cap);
/* Reading a row strictly: a column of another type than the store writes,
 * or longer than its field, clears `ok` (the row is then tampered with). */
typedef struct akm_sqlite_row {
	sqlite3_stmt *st;
	bool ok;
} akm_sqlite_row;
void akm_sqlite_row_int(akm_sqlite_row *row, int i, int64_t *v);
void akm_sqlite_row_blob(akm_sqlite_row *row, int i, void *buf, size_t cap, size_t *len);
/* A TEXT column, or NULL when `nullable` (*present says which). */
void akm_sqlite_row_text(akm_sqlite_row *row, int i, void *buf, size_t cap, size_t *len, bool nullable,
                         bool *present);
/* Brings the schema to AKM_SQLITE_SCHEMA_VERSION (schema.c), after
 * checking that the file holds nothing but the schema of its version. */
CK_RV akm_sqlite_migrate(akm_sqlite *r, char *err, size_t errlen);
/* The bookkeeping of rows (rows.c): loaded in a transaction, saved before
 * its commit. */
CK_RV akm_sqlite_rows_load(akm_sqlite *r);
CK_RV akm_sqlite_rows_save(akm_sqlite *r);
/* A write outside a transaction gets its own (own_begin says whether it
 * opened one; own_end commits or rolls back that one only). */
CK_RV akm_sqlite_own_begin(akm_sqlite *r, bool *own);
CK_RV akm_sqlite_own_end(akm_sqlite *r, bool own, CK_RV rv);
/* The next row id of a table (ROWS_*_HIGH), its count (ROWS_*_COUNT) one up. */
CK_RV akm_sqlite_next_id(akm_sqlite *r, int high, int count, int64_t *id);
/* Deletes the tree rows of an ASR, counted out (tree.c; in the caller's
 * transaction, the bookkeeping loaded). */
CK_RV akm_sqlite_tree_delete_rows(akm_sqlite *r, int64_t asr);
/* The same for the audit head (audit.c); forgetting both at the end of a
 * transaction (sqlite.c). */
CK_RV akm_sqlite_head_save(akm_sqlite *r);
void akm_sqlite_tx_forget(akm_sqlite *r);
/* The login check (check.c). */
CK_RV akm_sqlite_check(akm_store *s, bool upgrade);

/* The operations (store.h says what each does). */
CK_RV akm_sqlite_begin(akm_store *s);
CK_RV akm_sqlite_commit(akm_store *s);
void akm_sqlite_rollback(akm_store *s);
CK_RV akm_sqlite_change_mark(akm_store *s, uint64_t *mark);
CK_RV akm_sqlite_file_version(akm_store *s, uint64_t *version);
CK_RV akm_sqlite_get_int(akm_store *s, const char *name, int64_t *value, bool *present);
CK_RV akm_sqlite_set_int(akm_store *s, const char *name, int64_t value);
CK_RV akm_sqlite_get_blob(akm_store *s, const char *name, uint8_t *buf, size_t *len, bool *present);
CK_RV akm_sqlite_set_blob(akm_store *s, const char *name, const uint8_t *buf, size_t len);
CK_RV akm_sqlite_count(akm_store *s, akm_store_table table, int64_t *n);
CK_RV akm_sqlite_insert_relationship(akm_store *s, akm_relationship *rel);
CK_RV akm_sqlite_insert_key(akm_store *s, akm_key *key);
CK_RV akm_sqlite_get_key(akm_store *s, int64_t id, akm_key *key, akm_relationship *rel);
CK_RV akm_sqlite_update_relationship(akm_store *s, const akm_relationship *rel);
CK_RV akm_sqlite_update_key_label(akm_store *s, int64_t id, const uint8_t *label, size_t len);
CK_RV akm_sqlite_delete_key(akm_store *s, int64_t id);
CK_RV akm_sqlite_delete_relationship(akm_store *s, int64_t id);
CK_RV akm_sqlite_get_relationship(akm_store *s, int64_t id, akm_relationship *rel);
CK_RV akm_sqlite_tree_put(akm_store *s, akm_tree_row *row);
CK_RV akm_sqlite_tree_get(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row *row);
CK_RV akm_sqlite_tree_delete(akm_store *s, int64_t asr, uint32_t idx);
CK_RV akm_sqlite_tree_delete_all(akm_store *s, int64_t asr);
CK_RV akm_sqlite_tree_scan(akm_store *s, int64_t asr, uint32_t after, akm_tree_row *rows, size_t max, size_t *n);
CK_RV akm_sqlite_tree_find_member(akm_store *s, int64_t asr, const uint8_t *member, size_t len, uint32_t *idx);
CK_RV akm_sqlite_tree_members(akm_store *s, int64_t asr, int64_t *n);
CK_RV akm_sqlite_tree_path(akm_store *s, int64_t asr, uint32_t idx, akm_tree_row rows[32], bool has[32]);
CK_RV akm_sqlite_update_key_wrapped(akm_store *s, int64_t id, const uint8_t *wrapped, size_t len);
CK_RV akm_sqlite_find(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
                      size_t *n);
CK_RV akm_sqlite_find_by_label(akm_store *s, const akm_store_query *q, const uint8_t *after, size_t after_len,
                               int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len);
CK_RV akm_sqlite_audit_append(akm_store *s, const akm_audit_event *ev);
CK_RV akm_sqlite_pending_add(akm_store *s, const akm_audit_event *ev);
CK_RV akm_sqlite_pending_flush(akm_store *s, akm_pending_rule allowed, int64_t *refused);
CK_RV akm_sqlite_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
CK_RV akm_sqlite_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
/* Reading rows from a statement's columns, strictly (rows.c, audit.c): a
 * key's 8 columns from `col` (relationship, purpose, key_type, value_len,
 * ckid, label, wrapped, mac), a relationship's 18 (rid, kind, state,
 * epoch, station, peer, members, hw, created, changed, status, seq, site,
 * node_key, delivery, audit, checkin, mac), an audit record's 11 from 0 (those of
 * audit_get; `entry` gets its hashed fields, pointing into rec).  The MAC is checked, or with seal_out computed into it (to
 * seal a row of a registry written before rows were sealed). */
CK_RV akm_sqlite_read_key(akm_sqlite *r, sqlite3_stmt *st, int col, int64_t id, akm_key *key,
                          uint8_t *seal_out);
CK_RV akm_sqlite_read_relationship(akm_sqlite *r, sqlite3_stmt *st, int col, int64_t id,
                                   akm_relationship *rel, uint8_t *seal_out);
CK_RV akm_sqlite_audit_read(akm_sqlite *r, sqlite3_stmt *st, int64_t seq, akm_audit_record *rec,
                            akm_audit_entry *entry, uint8_t *seal_out);
CK_RV akm_sqlite_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen);
CK_RV akm_sqlite_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec);
CK_RV akm_sqlite_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                            size_t max, size_t *n);

#endif

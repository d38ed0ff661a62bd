/*
 * The SQLite store (store.h): one file, WAL, a schema version with
 * step-by-step migrations (schema.c), SQLite's own cross-process locks with
 * a busy timeout.  Rows: rows.c; the audit trail: audit.c.  SQLite's result
 * codes become CK_RV in akm_sqlite_rv and nowhere else.
 */
#ifndef AKM_STORE_SQLITE_H
#define AKM_STORE_SQLITE_H

#include <sqlite3.h>

#include "store/impl.h"

#define AKM_SQLITE_SCHEMA_VERSION 2
#define AKM_SQLITE_FIND_SHAPES 128 /* one prepared statement per combination of filters */

typedef struct akm_sqlite {
	akm_store base;
	sqlite3 *db;
	char *path;
	int tx_depth; /* a write transaction is open */
	sqlite3_stmt *get_key, *insert_key, *insert_rel, *audit_insert, *meta_get, *meta_set;
	sqlite3_stmt *begin, *commit, *rollback, *update_rel, *update_label, *delete_rel, *audit_at,
		*data_version, *audit_get, *audit_find, *audit_find_rid;
	sqlite3_stmt *find[AKM_SQLITE_FIND_SHAPES];
	/* The change mark: a counter every writer bumps after each commit, in
	 * a small file beside the registry mapped into every process that uses
	 * it: reading it is a memory load, where asking SQLite (data_version)
	 * takes file locks.  NULL when it could not be mapped. */
	uint64_t *changes;
} akm_sqlite;

/* Helpers shared by the files of this implementation. */
CK_RV akm_sqlite_rv(int rc);
CK_RV akm_sqlite_prepare(akm_sqlite *r, sqlite3_stmt **st, const char *sql);
/* Runs a prepared statement to completion; resets it either way. */
CK_RV akm_sqlite_step_done(sqlite3_stmt *st);
/* A zero-length blob, not NULL: columns are NOT NULL. */
void akm_sqlite_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Copies at most cap bytes of a blob column; returns how many. */
size_t akm_sqlite_column_blob(sqlite3_stmt *st, int i, void *buf, size_t cap);
/* Brings the schema to AKM_SQLITE_SCHEMA_VERSION (schema.c). */
CK_RV akm_sqlite_migrate(akm_sqlite *r, char *err, size_t errlen);

/* The operations (store.h says what each does). */
CK_RV akm_sqlite_begin(akm_store *s);
CK_RV akm_sqlite_commit(akm_store *s);
void akm_sqlite_rollback(akm_store *s);
CK_RV akm_sqlite_change_mark(akm_store *s, uint64_t *mark);
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
CK_RV akm_sqlite_delete_relationship(akm_store *s, int64_t id);
CK_RV akm_sqlite_find(akm_store *s, const akm_store_query *q, int64_t after, int64_t *ids, size_t max,
                      size_t *n);
CK_RV akm_sqlite_audit_append(akm_store *s, const akm_audit_event *ev);
CK_RV akm_sqlite_audit_head(akm_store *s, int64_t *seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
CK_RV akm_sqlite_audit_hash_at(akm_store *s, int64_t seq, uint8_t hash[AKM_AUDIT_HASH_LEN]);
CK_RV akm_sqlite_audit_verify(akm_store *s, int64_t *records, char *err, size_t errlen);
CK_RV akm_sqlite_audit_get(akm_store *s, int64_t seq, akm_audit_record *rec);
CK_RV akm_sqlite_audit_find(akm_store *s, const uint8_t *rid, size_t rid_len, int64_t after, int64_t *seqs,
                            size_t max, size_t *n);

#endif

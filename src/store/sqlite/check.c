/* The SQLite store's login check (store.h, akm_store_check): the sealed
 * named values, the counts of rows against the sealed bookkeeping, and the
 * one-time sealing of a registry written before rows were sealed. */
#include "store/sqlite/sqlite.h"

#include <string.h>

/* The named values the store and the akm layer write. */
static const char *const known_names[] = {"generation", "audit_seq", "audit_hash", "rows"};

static bool known_name(const unsigned char *name)
{
	for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
		if (name != NULL && strcmp((const char *)name, known_names[i]) == 0)
			return true;
	return false;
}

/* One query's integers. */
static CK_RV query_ints(akm_sqlite *r, const char *sql, int64_t *out, int n)
{
	sqlite3_stmt *st;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int rc = sqlite3_step(st);
	for (int i = 0; i < n; i++)
		out[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : akm_sqlite_rv(rc);
}

/* ---- sealing a registry written before rows were sealed ------------------ */

/* Runs `select` (its last column the row id) and, for each row, `read`
 * computes its MAC and `update` stores it. */
typedef CK_RV (*seal_read_fn)(akm_sqlite *r, sqlite3_stmt *st, int64_t id, uint8_t mac[AKM_SEAL_LEN]);

static CK_RV seal_table(akm_sqlite *r, const char *select, int id_col, const char *update, seal_read_fn read)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, select, -1, &sel, NULL));
	if (rv == CKR_OK)
		rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, update, -1, &upd, NULL));
	int rc = SQLITE_DONE;
	while (rv == CKR_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		uint8_t mac[AKM_SEAL_LEN];
		int64_t id = sqlite3_column_int64(sel, id_col);
		if ((rv = read(r, sel, id, mac)) != CKR_OK)
			break;
		akm_sqlite_bind_blob(upd, 1, mac, sizeof mac);
		sqlite3_bind_int64(upd, 2, id);
		rv = akm_sqlite_step_done(upd);
	}
	if (rv == CKR_OK && rc != SQLITE_DONE)
		rv = akm_sqlite_rv(rc);
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rv;
}

static CK_RV seal_relationship(akm_sqlite *r, sqlite3_stmt *st, int64_t id, uint8_t mac[AKM_SEAL_LEN])
{
	akm_relationship rel;
	CK_RV rv = akm_sqlite_read_relationship(r, st, 0, id, &rel, mac);
	akm_relationship_clear(&rel);
	return rv;
}

static CK_RV seal_key(akm_sqlite *r, sqlite3_stmt *st, int64_t id, uint8_t mac[AKM_SEAL_LEN])
{
	akm_key key;
	return akm_sqlite_read_key(r, st, 0, id, &key, mac);
}

static CK_RV seal_audit(akm_sqlite *r, sqlite3_stmt *st, int64_t seq, uint8_t mac[AKM_SEAL_LEN])
{
	akm_audit_record rec;
	return akm_sqlite_audit_read(r, st, seq, &rec, NULL, mac);
}

static CK_RV seal_meta(akm_sqlite *r)
{
	sqlite3_stmt *st;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, "SELECT name, value FROM meta WHERE mac IS NULL", -1,
	                                            &st, NULL));
	if (rv != CKR_OK)
		return rv;
	/* Collected first: the statement must not read the rows it rewrites. */
	struct { char name[16]; int64_t v; uint8_t blob[64]; size_t len; bool is_int; } vals[8];
	int n = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 8) {
		const unsigned char *name = sqlite3_column_text(st, 0);
		if (!known_name(name)) {
			rv = akm_store_tampered(&r->base, "meta row %.40s: not a value this module writes", name ? (const char *)name : "");
			break;
		}
		strcpy(vals[n].name, (const char *)name);
		akm_sqlite_row row = {st, true};
		vals[n].is_int = sqlite3_column_type(st, 1) == SQLITE_INTEGER;
		if (vals[n].is_int)
			akm_sqlite_row_int(&row, 1, &vals[n].v);
		else
			akm_sqlite_row_blob(&row, 1, vals[n].blob, sizeof vals[n].blob, &vals[n].len);
		if (!row.ok) {
			rv = akm_store_tampered(&r->base, "meta row %s: a value of the wrong type", vals[n].name);
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	for (int i = 0; rv == CKR_OK && i < n; i++)
		rv = vals[i].is_int ? akm_sqlite_set_int(&r->base, vals[i].name, vals[i].v)
		                    : akm_sqlite_set_blob(&r->base, vals[i].name, vals[i].blob, vals[i].len);
	return rv;
}

static CK_RV seal_all(akm_sqlite *r)
{
	CK_RV rv;
	if ((rv = seal_meta(r)) != CKR_OK ||
	    (rv = seal_table(r, "SELECT rid, kind, state, epoch, station, peer, members, hw, created, changed, status,"
	                        " seq, site, node_key, delivery, audit, checkin, mac, id FROM relationship WHERE mac IS NULL",
	                     18, "UPDATE relationship SET mac = ? WHERE id = ?", seal_relationship)) != CKR_OK ||
	    (rv = seal_table(r, "SELECT relationship, purpose, key_type, value_len, ckid, label, wrapped, mac, id"
	                        " FROM key WHERE mac IS NULL",
	                     8, "UPDATE key SET mac = ? WHERE id = ?", seal_key)) != CKR_OK ||
	    (rv = seal_table(r, "SELECT time, actor, action, rid, result, detail, prev, hash, row_change, mac, rel, seq"
	                        " FROM audit WHERE mac IS NULL",
	                     11, "UPDATE audit SET mac = ? WHERE seq = ?", seal_audit)) != CKR_OK)
		return rv;
	/* The bookkeeping, from the tables as they are, unless there is one
	 * (the check below says whether it holds). */
	int64_t v[2];
	if ((rv = query_ints(r, "SELECT count(*) FROM meta WHERE name = 'rows'", v, 1)) != CKR_OK || v[0] > 0)
		return rv;
	r->rows.loaded = true;
	if ((rv = query_ints(r, "SELECT count(*), ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'relationship'), 0)"
	                        " FROM relationship", v, 2)) != CKR_OK)
		return rv;
	r->rows.n[ROWS_REL_COUNT] = v[0];
	r->rows.n[ROWS_REL_HIGH] = v[1];
	if ((rv = query_ints(r, "SELECT count(*), ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'key'), 0)"
	                        " FROM key", v, 2)) != CKR_OK)
		return rv;
	r->rows.n[ROWS_KEY_COUNT] = v[0];
	r->rows.n[ROWS_KEY_HIGH] = v[1];
	/* Tree rows came after sealing (schema version 5): none here. */
	r->rows.n[ROWS_TREE_COUNT] = 0;
	r->rows.n[ROWS_TREE_HIGH] = 0;
	r->rows.dirty = true;
	return akm_sqlite_rows_save(r);
}

/* ---- the check ----------------------------------------------------------- */

/* Every named value is one the module writes, and sealed. */
static CK_RV check_meta(akm_sqlite *r)
{
	sqlite3_stmt *st;
	CK_RV rv = akm_sqlite_rv(sqlite3_prepare_v2(r->db, "SELECT name FROM meta", -1, &st, NULL));
	if (rv != CKR_OK)
		return rv;
	int rc;
	char names[8][16];
	int n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *name = sqlite3_column_text(st, 0);
		if (!known_name(name) || n == 8) {
			rv = akm_store_tampered(&r->base, "meta row %.40s: not a value this module writes",
			                        name ? (const char *)name : "");
			break;
		}
		strcpy(names[n++], (const char *)name);
	}
	sqlite3_finalize(st);
	for (int i = 0; rv == CKR_OK && i < n; i++) {
		uint8_t buf[64];
		size_t len = sizeof buf;
		int64_t v;
		bool present, is_blob = strcmp(names[i], "audit_hash") == 0 || strcmp(names[i], "rows") == 0;
		rv = is_blob ? akm_sqlite_get_blob(&r->base, names[i], buf, &len, &present)
		             : akm_sqlite_get_int(&r->base, names[i], &v, &present);
	}
	return rv;
}

CK_RV akm_sqlite_check(akm_store *s, bool upgrade)
{
	akm_sqlite *r = (akm_sqlite *)s;
	CK_RV rv;
	if (s->key == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	if (upgrade && (rv = seal_all(r)) != CKR_OK)
		return rv;
	if ((rv = check_meta(r)) != CKR_OK || (rv = akm_sqlite_rows_load(r)) != CKR_OK)
		return rv;
	int64_t rel[3], key[3], tree[3], audit[2], audit_seq, gen;
	bool present, have_gen;
	/* Each count and each highest id its own query: a count alone is
	 * SQLite's count of a b-tree's cells, page by page, and max(id) a step
	 * down the table's b-tree; asked together they cost a visit of every
	 * row (0.22 s against 0.03 s for a registry of a million nodes,
	 * docs/performance.md "A station of a million nodes"). */
	if ((rv = query_ints(r, "SELECT (SELECT count(*) FROM relationship), (SELECT ifnull(max(id), 0) FROM relationship),"
	                        " ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'relationship'), 0)",
	                     rel, 3)) != CKR_OK ||
	    (rv = query_ints(r, "SELECT (SELECT count(*) FROM key), (SELECT ifnull(max(id), 0) FROM key),"
	                        " ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'key'), 0)",
	                     key, 3)) != CKR_OK ||
	    (rv = query_ints(r, "SELECT (SELECT count(*) FROM tree), (SELECT ifnull(max(id), 0) FROM tree),"
	                        " ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'tree'), 0)",
	                     tree, 3)) != CKR_OK ||
	    (rv = query_ints(r, "SELECT (SELECT count(*) FROM audit), (SELECT ifnull(max(seq), 0) FROM audit)", audit, 2)) != CKR_OK ||
	    (rv = akm_sqlite_get_int(s, "audit_seq", &audit_seq, &present)) != CKR_OK ||
	    (rv = akm_sqlite_get_int(s, "generation", &gen, &have_gen)) != CKR_OK)
		return rv;
	if (!present)
		audit_seq = 0;
	const int64_t *n = r->rows.n;
	if (rel[0] != n[ROWS_REL_COUNT] || key[0] != n[ROWS_KEY_COUNT])
		return akm_store_tampered(s, "the registry holds %lld relationships and %lld keys, but recorded %lld and %lld"
		                          " (rows deleted or inserted)", (long long)rel[0], (long long)key[0],
		                          (long long)n[ROWS_REL_COUNT], (long long)n[ROWS_KEY_COUNT]);
	if (rel[1] > n[ROWS_REL_HIGH] || key[1] > n[ROWS_KEY_HIGH] || rel[2] != n[ROWS_REL_HIGH] ||
	    key[2] != n[ROWS_KEY_HIGH])
		return akm_store_tampered(s, "row ids beyond those the registry gave (relationship %lld/%lld, key %lld/%lld)",
		                          (long long)rel[2], (long long)n[ROWS_REL_HIGH], (long long)key[2],
		                          (long long)n[ROWS_KEY_HIGH]);
	if (tree[0] != n[ROWS_TREE_COUNT])
		return akm_store_tampered(s, "the registry holds %lld tree rows, but recorded %lld (rows deleted or inserted)",
		                          (long long)tree[0], (long long)n[ROWS_TREE_COUNT]);
	if (tree[1] > n[ROWS_TREE_HIGH] || tree[2] != n[ROWS_TREE_HIGH])
		return akm_store_tampered(s, "tree row ids beyond those the registry gave (%lld/%lld)", (long long)tree[2],
		                          (long long)n[ROWS_TREE_HIGH]);
	if (audit[0] != audit_seq || audit[1] != audit_seq)
		return akm_store_tampered(s, "the audit trail holds %lld records up to %lld, but its head says %lld",
		                          (long long)audit[0], (long long)audit[1], (long long)audit_seq);
	/* Every change bumps the generation (a registry sealed now may
	 * predate it). */
	if (n[ROWS_REL_HIGH] > 0 && !have_gen && !upgrade)
		return akm_store_tampered(s, "meta row generation is missing");
	return CKR_OK;
}

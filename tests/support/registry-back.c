/* Registries of earlier schema versions, made from today's (registry-back.h). */
#include "registry-back.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "akm/relationships.h"
#include "lib/keyed.h"
#include "store/impl.h"
#include "testenv.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The row key as the module derives it at login (akm/domain.c). */
static int row_key(const char *softhsm_path, const char *token_label, const char *user_pin, uint8_t key[32],
                   char *err, size_t errlen)
{
	akm_backend *be;
	if (akm_backend_open(&be, softhsm_path, err, errlen) != CKR_OK)
		return -1;
	CK_SLOT_ID *slots, slot = 0;
	CK_ULONG nslots;
	bool found = false;
	int rc = -1;
	if (akm_backend_slots(be, &slots, &nslots) == CKR_OK) {
		for (CK_ULONG i = 0; i < nslots && !found; i++) {
			CK_TOKEN_INFO info;
			size_t len = strlen(token_label);
			found = akm_backend_token_info(be, slots[i], &info) == CKR_OK &&
			        memcmp(info.label, token_label, len) == 0 && (len == 32 || info.label[len] == ' ');
			slot = slots[i];
		}
		free(slots);
	}
	CK_SESSION_HANDLE s;
	akm_backend_service *svc = NULL;
	bool have_mac = false;
	CK_RV rv;
	if (!found)
		fail(err, errlen, "no token labelled %s", token_label);
	else if ((rv = akm_backend_open_session(be, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s)) != CKR_OK ||
	         (rv = akm_backend_login(be, s, CKU_USER, (CK_UTF8CHAR *)user_pin, (CK_ULONG)strlen(user_pin))) != CKR_OK ||
	         (rv = akm_backend_service_open(be, slot, &svc)) != CKR_OK ||
	         (rv = akm_backend_mac_find(svc, &have_mac)) != CKR_OK || !have_mac ||
	         (rv = akm_backend_mac_derive(svc, AKM_ROW_KEY_PURPOSE, key)) != CKR_OK)
		fail(err, errlen, "deriving the row key in token %s: 0x%lx%s", token_label, (unsigned long)rv,
		     have_mac ? "" : " (no MAC key)");
	else
		rc = 0;
	if (svc != NULL)
		akm_backend_service_close(svc);
	akm_backend_close(be);
	return rc;
}

int akm_test_back_to_v6(const char *registry, const char *softhsm_path, const char *token_label,
                        const char *user_pin, char *err, size_t errlen)
{
	uint8_t key[32];
	if (row_key(softhsm_path, token_label, user_pin, key, err, errlen) != 0)
		return -1;
	akm_store seal;
	memset(&seal, 0, sizeof seal);
	CK_RV rv = akm_store_seal(&seal, key);
	akm_wipe(key, sizeof key);
	if (rv != CKR_OK)
		return fail(err, errlen, "akm_store_seal: 0x%lx", (unsigned long)rv);
	sqlite3 *db = NULL;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc = sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
		                        "SELECT seq, time, actor, action, rid, result, detail, prev, hash, row_change"
		                        " FROM audit WHERE rel IS NOT NULL", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "UPDATE audit SET rel = NULL, mac = ? WHERE seq = ?", -1, &upd, NULL);
	while (rc == SQLITE_OK && sqlite3_step(sel) == SQLITE_ROW) {
		const void *rid = sqlite3_column_blob(sel, 4), *detail = sqlite3_column_text(sel, 6);
		akm_audit_entry e = {sqlite3_column_int64(sel, 0), sqlite3_column_int64(sel, 1),
		                     (const char *)sqlite3_column_text(sel, 2), (size_t)sqlite3_column_bytes(sel, 2),
		                     (const char *)sqlite3_column_text(sel, 3), (size_t)sqlite3_column_bytes(sel, 3),
		                     rid, (size_t)sqlite3_column_bytes(sel, 4), (uint64_t)sqlite3_column_int64(sel, 5),
		                     detail, (size_t)sqlite3_column_bytes(sel, 6)};
		uint8_t mac[AKM_SEAL_LEN];
		akm_seal_audit(&seal, &e, sqlite3_column_type(sel, 4) != SQLITE_NULL,
		               sqlite3_column_type(sel, 6) != SQLITE_NULL, sqlite3_column_int64(sel, 9) != 0,
		               sqlite3_column_blob(sel, 7), sqlite3_column_blob(sel, 8), 0, mac);
		sqlite3_bind_blob(upd, 1, mac, sizeof mac, SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 2, e.seq);
		rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(upd);
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	akm_store_seal(&seal, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, AKM_TEST_SQL_BACK_TO_V6 "COMMIT", NULL, NULL, NULL);
	int result = rc == SQLITE_OK ? 0 : fail(err, errlen, "registry %s: %s", registry, sqlite3_errmsg(db));
	sqlite3_close(db);
	return result;
}

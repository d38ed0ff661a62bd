/*
 * CKA_AKM_CHECKIN, the activation service's replay counter of a provisioning
 * relationship (docs/object-model.md §4a, docs/protocol.md §1 "Replays are
 * refused"), through the real module on a real SoftHSM2 token: 0 at
 * creation and not given there, raised only strictly and persisted, equal
 * and lower values refused with nothing changed, no such attribute on an
 * operational relationship's keys, set with CKA_AKM_STATUS all or nothing,
 * two processes raising it to the same value (exactly one wins, also when
 * both read the old value before either could write), and a registry of
 * schema version 3 upgraded with its rows accepted as they are; one of
 * version 5 (before issue 14's index changes) migrated with every row and
 * MAC kept byte for byte.
 *
 * The put-back of an older sealed row after a raise is in
 * test_registry_attacks.c, with the other put-back attacks.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "akm/pkcs11-akm.h"
#include "registry-back.h"

static it_ctx t;
static char registry[PATH_MAX + 16];

static void setup(void)
{
	it_setup_env(&t, "akm-checkin");
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	it_open(&t);
}

static void teardown(void) { it_close(&t); }

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
static CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING, kind_op = CKV_AKM_KIND_OPERATIONAL;

/* Issue times of handshake cookies, milliseconds since 1970. */
#define T0 1700000000000UL

static CK_RV make_pr(const char *name, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
		{CKA_AKM_PEER_NODE, (void *)name, strlen(name)},
		{CKA_AKM_HW_BINDING, "hw-1", 4},
		{CKA_LABEL, (void *)name, strlen(name)},
	};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 4, h);
}

static CK_RV make_asr(const char *label, CK_OBJECT_HANDLE *h)
{
	static CK_BYTE members[] = {6, 'n', 'o', 'd', 'e', '-', '1', 6, 'n', 'o', 'd', 'e', '-', '2'};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_op, sizeof kind_op},
		{CKA_AKM_MEMBERS, members, sizeof members},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 3, h);
}

static CK_ULONG get_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	ck_assert_uint_eq(a.ulValueLen, sizeof v);
	return v;
}

static CK_RV set_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	return t.f->C_SetAttributeValue(t.s, h, &a, 1);
}

/* CKA_AKM_STATUS and CKA_AKM_CHECKIN in one template, in either order. */
static CK_RV set_status_checkin(CK_OBJECT_HANDLE h, CK_ULONG status, CK_ULONG checkin, bool checkin_first)
{
	CK_ATTRIBUTE s = {CKA_AKM_STATUS, &status, sizeof status}, c = {CKA_AKM_CHECKIN, &checkin, sizeof checkin};
	CK_ATTRIBUTE tmpl[2] = {checkin_first ? c : s, checkin_first ? s : c};
	return t.f->C_SetAttributeValue(t.s, h, tmpl, 2);
}

/* The relationship's MAC key, found by its CKA_ID (rid || 2). */
static CK_OBJECT_HANDLE mac_of(CK_OBJECT_HANDLE enc)
{
	CK_BYTE id[33];
	CK_ATTRIBUTE a = {CKA_ID, id, sizeof id};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, enc, &a, 1), CKR_OK);
	id[a.ulValueLen - 1] = CKV_AKM_PURPOSE_MAC;
	CK_OBJECT_HANDLE mac;
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &a, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, &mac, 1, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 1);
	return mac;
}

/* How many of the relationship's audit records are `action` (with `detail`
 * when not NULL), read as CKO_AKM_AUDIT_RECORD objects. */
static CK_ULONG count_records(CK_OBJECT_HANDLE key, const char *action, const char *detail)
{
	CK_BYTE rid[32];
	CK_ATTRIBUTE r = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, key, &r, 1), CKR_OK);
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_AKM_RELATIONSHIP_ID, rid, r.ulValueLen}};
	CK_OBJECT_HANDLE recs[256];
	CK_ULONG n = 0, got, matching = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, tmpl, 2), CKR_OK);
	do {
		ck_assert_int_eq(t.f->C_FindObjects(t.s, recs + n, 256 - n, &got), CKR_OK);
		n += got;
	} while (got > 0 && n < 256);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		char act[64], det[600];
		CK_ATTRIBUTE a[] = {{CKA_AKM_AUDIT_ACTION, act, sizeof act - 1}, {CKA_AKM_AUDIT_DETAIL, det, sizeof det - 1}};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, recs[i], a, 2), CKR_OK);
		act[a[0].ulValueLen] = '\0';
		det[a[1].ulValueLen] = '\0';
		matching += strcmp(act, action) == 0 && (detail == NULL || strcmp(det, detail) == 0);
	}
	return matching;
}

static void reopen(void)
{
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
}

/* ---- the attribute ------------------------------------------------------- */

START_TEST(test_checkin_rules)
{
	CK_OBJECT_HANDLE enc, asr, h;
	ck_assert_int_eq(make_pr("node-1", &enc), CKR_OK);
	CK_OBJECT_HANDLE mac = mac_of(enc);
	ck_assert_int_eq(make_asr("asr-1", &asr), CKR_OK);

	/* 0 at creation, on both keys. */
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), 0);
	ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHECKIN), 0);
	CK_ULONG created = get_ulong(enc, CKA_AKM_CREATED);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHANGED), created);

	/* An operational relationship's keys have no such attribute. */
	CK_ULONG v = 99;
	CK_ATTRIBUTE a = {CKA_AKM_CHECKIN, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, asr, &a, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_uint_eq(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_int_eq(set_ulong(asr, CKA_AKM_CHECKIN, T0), CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_int_eq(set_ulong(mac_of(asr), CKA_AKM_CHECKIN, T0), CKR_ATTRIBUTE_TYPE_INVALID);

	/* Not given in a creating template, whatever the value or kind;
	 * nothing is made. */
	CK_ULONG zero = 0, some = T0;
	static CK_BYTE members[] = {1, 'a', 1, 'b'};
	CK_ATTRIBUTE pr_tmpl[] = {{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "node-x", 6},
	                          {CKA_AKM_HW_BINDING, "hw-x", 4}, {CKA_LABEL, "node-x", 6},
	                          {CKA_AKM_CHECKIN, &some, sizeof some}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, pr_tmpl, 5, &h), CKR_ATTRIBUTE_READ_ONLY);
	pr_tmpl[4].pValue = &zero;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, pr_tmpl, 5, &h), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE op_tmpl[] = {{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, members, sizeof members},
	                          {CKA_AKM_CHECKIN, &zero, sizeof zero}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, op_tmpl, 3, &h), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE by_label = {CKA_LABEL, "node-x/enc", 10};
	CK_ULONG n = 9;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &by_label, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, &h, 1, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 0);

	/* A second later, so that a CKA_AKM_CHANGED that moved would show it. */
	while ((CK_ULONG)time(NULL) <= created)
		usleep(50000);

	/* Raised through the MAC key, seen on both; CHANGED does not move. */
	ck_assert_int_eq(set_ulong(mac, CKA_AKM_CHECKIN, T0), CKR_OK);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHANGED), created);

	/* The same value again (a replayed message), a lower one, 0 and a
	 * value of the wrong size: refused, nothing changes. */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, T0), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(mac, CKA_AKM_CHECKIN, T0), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, T0 - 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, 0), CKR_ATTRIBUTE_VALUE_INVALID);
	uint32_t small = 0xffffffffu;
	CK_ATTRIBUTE short_value = {CKA_AKM_CHECKIN, &small, sizeof small};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, enc, &short_value, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0);

	/* Higher by one: accepted. */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, T0 + 1), CKR_OK);
	ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHANGED), created);

	/* One record per raise, none for a refusal. */
	char detail[64];
	snprintf(detail, sizeof detail, "checkin %lu", T0);
	ck_assert_uint_eq(count_records(enc, "set-checkin", detail), 1);
	snprintf(detail, sizeof detail, "checkin %lu", T0 + 1);
	ck_assert_uint_eq(count_records(enc, "set-checkin", detail), 1);
	ck_assert_uint_eq(count_records(enc, "set-checkin", NULL), 2);

	/* Found by value like any attribute. */
	CK_ULONG want = T0 + 1;
	CK_ATTRIBUTE by_checkin = {CKA_AKM_CHECKIN, &want, sizeof want};
	CK_OBJECT_HANDLE found[4];
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &by_checkin, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 4, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 2);

	/* Persisted: another C_Initialize, another login. */
	reopen();
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_int_eq(set_ulong(mac, CKA_AKM_CHECKIN, T0 + 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(mac, CKA_AKM_CHECKIN, ~0UL), CKR_OK); /* the whole CK_ULONG */
	reopen();
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), ~0UL);
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, 0), CKR_ATTRIBUTE_VALUE_INVALID); /* no wrapping around */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_CHECKIN, ~0UL), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHANGED), created);
}
END_TEST

/* CKA_AKM_CHECKIN and CKA_AKM_STATUS in one template (docs/protocol.md,
 * message 3 step 5): both change, or neither, in either order. */
START_TEST(test_checkin_with_status)
{
	CK_OBJECT_HANDLE enc;
	ck_assert_int_eq(make_pr("node-2", &enc), CKR_OK);
	CK_OBJECT_HANDLE mac = mac_of(enc);
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_STATUS, CKV_AKM_STATUS_IMPORTED), CKR_OK);

	/* The activation: both. */
	ck_assert_int_eq(set_status_checkin(mac, CKV_AKM_STATUS_ACTIVATED, T0, true), CKR_OK);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(count_records(enc, "set-status", "status imported -> activated"), 1);
	ck_assert_uint_eq(count_records(enc, "set-checkin", NULL), 1);

	for (int order = 0; order < 2; order++) {
		bool checkin_first = order == 0;
		/* The status refused (lowered): the counter is not raised. */
		ck_assert_int_eq(set_status_checkin(enc, CKV_AKM_STATUS_IMPORTED, T0 + 10, checkin_first),
		                 CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(set_status_checkin(enc, CKV_AKM_STATUS_VERIFIED + 1, T0 + 10, checkin_first),
		                 CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0);
		ck_assert_uint_eq(get_ulong(enc, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
		/* The counter refused (equal, lower): the status is not raised. */
		ck_assert_int_eq(set_status_checkin(mac, CKV_AKM_STATUS_VERIFIED, T0, checkin_first),
		                 CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_int_eq(set_status_checkin(mac, CKV_AKM_STATUS_VERIFIED, T0 - 5, checkin_first),
		                 CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_uint_eq(get_ulong(mac, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
		ck_assert_uint_eq(get_ulong(mac, CKA_AKM_CHECKIN), T0);
	}
	/* Nothing of the refused templates reached the trail. */
	ck_assert_uint_eq(count_records(enc, "set-checkin", NULL), 1);
	ck_assert_uint_eq(count_records(enc, "set-status", NULL), 2);

	/* Status unchanged (the same value) with a raised counter: the counter
	 * alone changes. */
	ck_assert_int_eq(set_status_checkin(enc, CKV_AKM_STATUS_ACTIVATED, T0 + 1, false), CKR_OK);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_uint_eq(count_records(enc, "set-status", NULL), 2);
	ck_assert_int_eq(set_status_checkin(enc, CKV_AKM_STATUS_VERIFIED, T0 + 2, false), CKR_OK);
	reopen();
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_STATUS), CKV_AKM_STATUS_VERIFIED);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0 + 2);
	ck_assert_uint_eq(count_records(enc, "set-checkin", NULL), 3);
	ck_assert_uint_eq(count_records(enc, "set-status", "status activated -> verified"), 1);
}
END_TEST

/* ---- two processes -------------------------------------------------------- */

/* What a racing process reports. */
typedef struct race_result {
	CK_RV rv;
	long ms; /* from "go" to the answer */
} race_result;

/* A process of its own (forked with the module finalised here): its own
 * C_Initialize and login, "r" once ready, then on "g" one template of
 * status ACTIVATED and checkin `value` on `key`. */
static pid_t racer(CK_OBJECT_HANDLE key, CK_ULONG value, int *ready_fd, int *go_fd, int *result_fd)
{
	int ready[2], go[2], result[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(result), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		close(result[0]);
		CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
		CK_SLOT_ID slot;
		CK_SESSION_HANDLE s;
		if (t.f->C_Initialize(&args) != CKR_OK || akm_test_find_slot(t.f, t.env.token_label, &slot) != CKR_OK ||
		    t.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
		    t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) != CKR_OK)
			_exit(2);
		char c = 'r';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1 || c != 'g')
			_exit(3);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CK_ULONG status = CKV_AKM_STATUS_ACTIVATED;
		CK_ATTRIBUTE tmpl[] = {{CKA_AKM_STATUS, &status, sizeof status}, {CKA_AKM_CHECKIN, &value, sizeof value}};
		race_result r = {t.f->C_SetAttributeValue(s, key, tmpl, 2), 0};
		clock_gettime(CLOCK_MONOTONIC, &t1);
		r.ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (write(result[1], &r, sizeof r) != sizeof r)
			_exit(4);
		t.f->C_Finalize(NULL);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	close(result[1]);
	*ready_fd = ready[0];
	*go_fd = go[1];
	*result_fd = result[0];
	return pid;
}

/* Two processes raise the counter of `key` to `value` at once (with
 * `lock`, while this process holds the registry's write lock, released
 * after both have asked): exactly one gets CKR_OK, the other
 * CKR_ATTRIBUTE_VALUE_INVALID. */
static void race(CK_OBJECT_HANDLE key, CK_ULONG value, bool lock)
{
	pid_t pid[2];
	int ready[2], go[2], result[2];
	/* Logged in one after the other: SoftHSM2 rewrites token.object in
	 * place at every C_Login, and a process starting meanwhile sees no
	 * token (test_durability.c); the changes are what races. */
	for (int k = 0; k < 2; k++) {
		pid[k] = racer(key, value, &ready[k], &go[k], &result[k]);
		char c = 0;
		ck_assert_msg(read(ready[k], &c, 1) == 1 && c == 'r', "racer %d did not log in", k);
	}
	sqlite3 *db = NULL;
	if (lock) {
		/* Both read the row while nobody can write it, so both pass the
		 * first check against the old value; the registry's transaction
		 * decides. */
		ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	}
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(write(go[k], "g", 1), 1);
	if (lock) {
		usleep(600000);
		ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	race_result r[2];
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(read(result[k], &r[k], sizeof r[k]), sizeof r[k]);
		int status;
		ck_assert_int_eq(waitpid(pid[k], &status, 0), pid[k]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "racer %d: status 0x%x", k, status);
		close(ready[k]);
		close(go[k]);
		close(result[k]);
	}
	int ok = (r[0].rv == CKR_OK) + (r[1].rv == CKR_OK);
	ck_assert_msg(ok == 1, "value %lu: %d processes got CKR_OK (0x%lx, 0x%lx)", value, ok, r[0].rv, r[1].rv);
	CK_RV other = r[0].rv == CKR_OK ? r[1].rv : r[0].rv;
	ck_assert_msg(other == CKR_ATTRIBUTE_VALUE_INVALID, "value %lu: the other process got 0x%lx", value, other);
	if (lock)
		for (int k = 0; k < 2; k++)
			ck_assert_msg(r[k].ms >= 400, "racer %d answered after %ld ms: it did not wait for the write lock", k,
			              r[k].ms);
}

START_TEST(test_two_processes_race)
{
	enum { ROUNDS = 6 };
	CK_OBJECT_HANDLE enc;
	ck_assert_int_eq(make_pr("node-3", &enc), CKR_OK);
	CK_OBJECT_HANDLE mac = mac_of(enc);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK); /* the racers are processes of their own */
	for (int i = 0; i < ROUNDS; i++)
		race(i % 2 ? mac : enc, T0 + (CK_ULONG)i, false);
	/* Both past the first check with the old value: only the check inside
	 * the write transaction stops the second. */
	race(enc, T0 + ROUNDS, true);
	race(mac, T0 + ROUNDS + 1, true);
	it_open(&t);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_CHECKIN), T0 + ROUNDS + 1);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
	/* One raise per value, and the status raised once. */
	ck_assert_uint_eq(count_records(enc, "set-checkin", NULL), ROUNDS + 2);
	for (int i = 0; i < ROUNDS + 2; i++) {
		char detail[64];
		snprintf(detail, sizeof detail, "checkin %lu", T0 + (CK_ULONG)i);
		ck_assert_uint_eq(count_records(enc, "set-checkin", detail), 1);
	}
	ck_assert_uint_eq(count_records(enc, "set-status", NULL), 1);
}
END_TEST

/* ---- a registry of schema version 3 ----------------------------------------- */

static void db_exec(const char *sql)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	char *err = NULL;
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(db);
}

static int64_t db_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The registry (closed) as the code of schema version 6 leaves it. */
static void back_to_v6(void)
{
	char err[512];
	ck_assert_msg(akm_test_back_to_v6(registry, t.env.softhsm_path, t.env.token_label, AKM_TEST_USER_PIN, err,
	                                  sizeof err) == 0, "%s", err);
	ck_assert_int_eq(db_int("PRAGMA user_version"), 6);
}

static CK_RV encrypt_with(CK_OBJECT_HANDLE key)
{
	CK_BYTE iv[12] = {1}, in[16] = {2}, out[64];
	CK_ULONG out_len = sizeof out;
	CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, NULL, 0, 128};
	CK_MECHANISM m = {CKM_AES_GCM, &gcm, sizeof gcm};
	CK_RV rv = t.f->C_EncryptInit(t.s, &m, key);
	return rv == CKR_OK ? t.f->C_Encrypt(t.s, in, sizeof in, out, &out_len) : rv;
}

/* A registry as a version-3 station leaves it: the version-3 schema (the
 * column dropped, the version set back) with rows sealed with checkin 0,
 * which hash as version 3 sealed them (docs/formats.md §2.7; the vector of
 * tests/unit/store/test_seal.c is version 3's own).  This module migrates
 * it at C_Initialize, the login accepts it without sealing anything anew,
 * every row is used as before, and the counter starts at 0. */
START_TEST(test_version_3_registry_upgrades)
{
	CK_OBJECT_HANDLE a, b, asr;
	ck_assert_int_eq(make_pr("node-a", &a), CKR_OK);
	ck_assert_int_eq(make_pr("node-b", &b), CKR_OK);
	ck_assert_int_eq(make_asr("asr-1", &asr), CKR_OK);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_STATUS, CKV_AKM_STATUS_EXPORTED), CKR_OK);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_SEQUENCE, 1), CKR_OK);
	ck_assert_int_eq(set_ulong(b, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);
	ck_assert_int_eq(encrypt_with(a), CKR_OK);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	back_to_v6();
	db_exec(AKM_TEST_SQL_BACK_TO_V5_FROM_6
	        "ALTER TABLE relationship DROP COLUMN checkin; DROP TABLE tree; PRAGMA user_version = 3;");
	ck_assert_int_eq(db_int("PRAGMA user_version"), 3);
	int64_t records = db_int("SELECT count(*) FROM audit");

	it_open(&t); /* C_Initialize migrates, C_Login checks every count and the chain */
	ck_assert_int_eq(db_int("PRAGMA user_version"), 7);
	ck_assert_int_eq(db_int("SELECT count(*) FROM relationship WHERE checkin = 0"), 3);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_EXPORTED);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_SEQUENCE), 1);
	ck_assert_uint_eq(get_ulong(b, CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), 0);
	ck_assert_uint_eq(get_ulong(mac_of(b), CKA_AKM_CHECKIN), 0);
	ck_assert_uint_eq(get_ulong(asr, CKA_AKM_KIND), CKV_AKM_KIND_OPERATIONAL);
	ck_assert_int_eq(encrypt_with(a), CKR_OK);
	ck_assert_int_eq(encrypt_with(asr), CKR_OK);
	ck_assert_int_eq(encrypt_with(b), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(set_status_checkin(a, CKV_AKM_STATUS_ACTIVATED, T0, true), CKR_OK);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_CHECKIN, T0), CKR_ATTRIBUTE_VALUE_INVALID);
	reopen();
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	/* Nothing was refused on the way: no tamper or rollback records, only
	 * the use refused (b) and the three changes since. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE actor = 'module'"), 0);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit"), records + 3);
	it_open(&t);
}
END_TEST

/* ---- a registry of schema version 5 (before issue 14) ------------------------ */

/* Every row of every table, each column quoted (blobs as hex), one line a
 * row in row-id order: what a migration must leave as it is, MACs included. */
static char *db_rows(void)
{
	static const char *const tables[] = {
		"SELECT 'meta', name, quote(value), quote(mac) FROM meta ORDER BY name",
		"SELECT 'relationship', id, quote(rid), kind, state, epoch, quote(station), quote(peer), quote(members),"
		" quote(hw), created, changed, status, seq, quote(site), quote(node_key), delivery, audit, checkin,"
		" quote(mac) FROM relationship ORDER BY id",
		"SELECT 'key', id, relationship, purpose, key_type, value_len, quote(ckid), quote(label), quote(wrapped),"
		" quote(mac) FROM key ORDER BY id",
		"SELECT 'audit', seq, time, actor, action, quote(rid), result, quote(detail), quote(prev), quote(hash),"
		" row_change, quote(mac) FROM audit ORDER BY seq",
		"SELECT 'tree', id, asr, idx, gen, up_gen, quote(member), pr, quote(key), quote(up), quote(mac)"
		" FROM tree ORDER BY id",
		"SELECT 'pending', id, time, actor, action, result, quote(detail) FROM pending ORDER BY id",
	};
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char *all = sqlite3_mprintf("%s", "");
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		sqlite3_stmt *st;
		ck_assert_int_eq(sqlite3_prepare_v2(db, tables[i], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				char *more = sqlite3_mprintf("%s%s%s", all, c ? "|" : "", (const char *)sqlite3_column_text(st, c));
				sqlite3_free(all);
				all = more;
			}
			char *more = sqlite3_mprintf("%s\n", all);
			sqlite3_free(all);
			all = more;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return all;
}

/* What the migration tests of versions 5 and 6 start from, the module
 * finalised: PRs a (activated, its counter raised, used) and b
 * (suspended), an ASR. */
static void upgrade_rows(CK_OBJECT_HANDLE *a, CK_OBJECT_HANDLE *b, CK_OBJECT_HANDLE *asr)
{
	ck_assert_int_eq(make_pr("node-a", a), CKR_OK);
	ck_assert_int_eq(make_pr("node-b", b), CKR_OK);
	ck_assert_int_eq(make_asr("asr-1", asr), CKR_OK);
	ck_assert_int_eq(set_status_checkin(*a, CKV_AKM_STATUS_ACTIVATED, T0, true), CKR_OK);
	ck_assert_int_eq(set_ulong(*b, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);
	ck_assert_int_eq(encrypt_with(*a), CKR_OK);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
}

/* A registry as the code before schema version 6 left it (made here by this
 * module and taken back to version 5 exactly: the two indexes version 6
 * drops, the version; the module's schema check accepts only exactly
 * version 5's objects): C_Initialize migrates it, every row of every table
 * keeps every column and its MAC byte for byte, the login's checks (sealed
 * counts, the audit chain) accept it, every key is read and used through
 * the module, CKA_ID finds a key without the index, and nothing is
 * recorded as tampering. */
START_TEST(test_version_5_registry_upgrades)
{
	CK_OBJECT_HANDLE a, b, asr;
	upgrade_rows(&a, &b, &asr);
	back_to_v6();
	db_exec(AKM_TEST_SQL_BACK_TO_V5_FROM_6);
	ck_assert_int_eq(db_int("PRAGMA user_version"), 5);
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master WHERE name IN ('key_ckid', 'audit_row_change')"), 2);
	char *before = db_rows();
	int64_t keys = db_int("SELECT count(*) FROM key"), records = db_int("SELECT count(*) FROM audit");
	ck_assert_int_ge(keys, 6);
	ck_assert_int_ge(db_int("SELECT count(*) FROM audit WHERE row_change = 1"), 5);

	it_open(&t); /* C_Initialize migrates, C_Login checks every count and the chain */
	ck_assert_int_eq(db_int("PRAGMA user_version"), 7);
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master WHERE name IN ('key_ckid', 'audit_row_change')"), 0);
	char *after = db_rows();
	ck_assert_str_eq(after, before);
	sqlite3_free(after);
	sqlite3_free(before);
	/* Every key through the module: found, its attributes read (each read
	 * checks the row's MAC and that it is the trail's last version). */
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE all = {CKA_CLASS, &cls, sizeof cls};
	CK_OBJECT_HANDLE found[64];
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &all, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 64, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_int_eq((int64_t)n, keys);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_BYTE rid[32];
		CK_ULONG state = 0;
		CK_ATTRIBUTE at[] = {{CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid}, {CKA_AKM_STATE, &state, sizeof state}};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, found[i], at, 2), CKR_OK);
	}
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(get_ulong(b, CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	ck_assert_uint_ne(mac_of(b), CK_INVALID_HANDLE); /* found by CKA_ID */
	ck_assert_int_eq(encrypt_with(a), CKR_OK);
	ck_assert_int_eq(encrypt_with(asr), CKR_OK);
	ck_assert_int_eq(encrypt_with(b), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* Raised again after the migration: the rollback check (the trail's
	 * last change of the row) works without audit_row_change. */
	ck_assert_int_eq(set_ulong(a, CKA_AKM_CHECKIN, T0 + 1), CKR_OK);
	reopen();
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE actor = 'module'"), 0);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit"), records + 2);
	it_open(&t);
}
END_TEST

/* ---- a registry of schema version 6 ----------------------------------------- */

static char *db_text(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_open_v2(registry, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	char *v = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A registry as the code of schema version 6 leaves it (made here by this
 * module, its records sealed again without the relationship row they name,
 * the column and indexes of version 7 taken away): C_Initialize migrates it
 * with every row of every table and its MAC byte for byte unchanged and no
 * record naming a row; every key is read (each read finds the row's last
 * change among those records, through the ID); a change after the
 * migration writes a record naming its row; the row put back as it was
 * before that change is refused, the last change now found through the row
 * id and the older ones through the ID. */
START_TEST(test_version_6_registry_upgrades)
{
	CK_OBJECT_HANDLE a, b, asr;
	upgrade_rows(&a, &b, &asr);
	/* Version 7 wrote each record about a relationship naming its row. */
	ck_assert_int_ge(db_int("SELECT count(*) FROM audit WHERE rel IS NOT NULL"), 5);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit a JOIN relationship r ON r.id = a.rel WHERE r.rid <> a.rid"), 0);
	back_to_v6();
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_table_info('audit') WHERE name = 'rel'"), 0);
	char *before = db_rows();
	int64_t records = db_int("SELECT count(*) FROM audit");

	it_open(&t); /* C_Initialize migrates, C_Login checks every count */
	ck_assert_int_eq(db_int("PRAGMA user_version"), 7);
	char *after = db_rows();
	ck_assert_str_eq(after, before);
	sqlite3_free(after);
	sqlite3_free(before);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE rel IS NOT NULL"), 0);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), T0);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_ACTIVATED);
	ck_assert_uint_eq(get_ulong(b, CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	ck_assert_int_eq(encrypt_with(a), CKR_OK);
	ck_assert_int_eq(encrypt_with(asr), CKR_OK);
	ck_assert_int_eq(encrypt_with(b), CKR_KEY_FUNCTION_NOT_PERMITTED);

	/* a's row as it is now, as SQL that puts it back. */
	CK_BYTE rid[32];
	CK_ATTRIBUTE at = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a, &at, 1), CKR_OK);
	char hex[65], *sql;
	for (CK_ULONG i = 0; i < at.ulValueLen; i++)
		snprintf(hex + 2 * i, 3, "%02x", rid[i]);
	sql = sqlite3_mprintf("SELECT 'UPDATE relationship SET checkin = ' || checkin || ', changed = ' || changed ||"
	                      " ', audit = ' || audit || ', mac = ' || quote(mac) || ' WHERE id = ' || id"
	                      " FROM relationship WHERE rid = x'%s'", hex);
	char *put_back = db_text(sql);
	sqlite3_free(sql);
	/* A change now: its record names a's row. */
	ck_assert_int_eq(set_ulong(a, CKA_AKM_CHECKIN, T0 + 1), CKR_OK);
	sql = sqlite3_mprintf("SELECT (SELECT rel FROM audit ORDER BY seq DESC LIMIT 1) ="
	                      " (SELECT id FROM relationship WHERE rid = x'%s')", hex);
	ck_assert_int_eq(db_int(sql), 1);
	sqlite3_free(sql);
	reopen();
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_CHECKIN), T0 + 1);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE actor = 'module'"), 0);
	/* Nothing refused on the way: the use refused (b) and the change. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit"), records + 2);
	/* The row put back as it was before that change: refused when read. */
	db_exec(put_back);
	sqlite3_free(put_back);
	it_open(&t);
	CK_ULONG v = 0;
	CK_ATTRIBUTE ck = {CKA_AKM_CHECKIN, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a, &ck, 1), CKR_DEVICE_ERROR);
	ck_assert_int_ge(db_int("SELECT count(*) FROM audit WHERE actor = 'module' AND action = 'tamper-detected'"), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("checkin");
	TCase *tc = tcase_create("checkin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_checkin_rules);
	tcase_add_test(tc, test_checkin_with_status);
	tcase_add_test(tc, test_two_processes_race);
	tcase_add_test(tc, test_version_3_registry_upgrades);
	tcase_add_test(tc, test_version_5_registry_upgrades);
	tcase_add_test(tc, test_version_6_registry_upgrades);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

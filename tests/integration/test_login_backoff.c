/*
 * PIN throttling on the registry's token (docs/configuration.md, "PIN
 * throttling"), through the module's C API on the fault-injecting wrapper
 * over SoftHSM2, whose call counts show that a refused try never reaches the
 * backend:
 *   - after `login.backoff.after` wrong PINs the right PIN is refused
 *     (CKR_FUNCTION_FAILED) until the back-off, doubling with each wrong
 *     PIN, has passed;
 *   - two processes share the count (the state file beside the registry);
 *   - a right PIN starts the count again;
 *   - `login.lockout`: the user PIN locks (CKR_PIN_LOCKED), across
 *     C_Finalize, until the SO sets it with C_InitPIN;
 *   - C_GetTokenInfo's PIN flags follow the count;
 *   - C_SetPIN's old PIN is counted and throttled the same way;
 *   - refused tries are audited, once per wrong PIN;
 *   - `login.backoff = off` keeps no state at all;
 *   - a state file that is a planted symbolic link or not this format
 *     refuses logins (fail closed), touching nothing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "fault-backend.h"
#include "akm/pkcs11-akm.h"

static it_ctx t;
static fault_ctl fc;
static char registry[PATH_MAX + 16], state_path[PATH_MAX + 32];

static void setup(void)
{
	it_setup_env(&t, "akm-backoff");
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	snprintf(state_path, sizeof state_path, "%s-login", registry);
	const char *wrapper = getenv("AKM_TEST_FAULT_BACKEND");
	ck_assert_msg(wrapper != NULL && *wrapper != '\0', "AKM_TEST_FAULT_BACKEND is not set");
	ck_assert_int_eq(fault_ctl_load(&fc, wrapper), 0);
	fc.disarm_all();
}
static void teardown(void) { it_close(&t); }

/* Writes the configuration with `login` lines, initialises, finds the slot
 * and opens a R/W session (not logged in). */
static void start(const char *login)
{
	char conf[4 * PATH_MAX];
	snprintf(conf, sizeof conf,
	         "backend.module = %s\n"
	         "backend.token = pkcs11:token=%s\n"
	         "registry.path = %s\n"
	         "log.level = error\n"
	         "%s",
	         getenv("AKM_TEST_FAULT_BACKEND"), t.env.token_label, registry, login);
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, conf), 0);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	ck_assert_int_eq(t.f->C_Initialize(&args), CKR_OK);
	ck_assert_int_eq(akm_test_find_slot(t.f, t.env.token_label, &t.slot), CKR_OK);
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s), CKR_OK);
}

static CK_RV login(CK_USER_TYPE who, const char *pin)
{
	return t.f->C_Login(t.s, who, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

static CK_RV user(const char *pin) { return login(CKU_USER, pin); }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static CK_FLAGS token_flags(void)
{
	CK_TOKEN_INFO ti;
	ck_assert_int_eq(t.f->C_GetTokenInfo(t.slot, &ti), CKR_OK);
	return ti.flags;
}

/* Tries the right user PIN every 50 ms until it is accepted; every answer
 * before that must be the back-off's.  Returns the seconds it took from
 * `since`. */
static double login_when_allowed(double since, double limit_s)
{
	for (;;) {
		unsigned long before = fc.calls("C_Login");
		CK_RV rv = user(AKM_TEST_USER_PIN);
		if (rv == CKR_OK)
			return now_s() - since;
		ck_assert_msg(rv == CKR_FUNCTION_FAILED, "C_Login during back-off: 0x%lx", (unsigned long)rv);
		ck_assert_uint_eq(fc.calls("C_Login"), before); /* never reached the backend */
		ck_assert_msg(now_s() - since < limit_s, "still refused after %.1f s", now_s() - since);
		sleep_s(0.05);
	}
}

START_TEST(test_backoff_then_right_pin)
{
	start("login.backoff.after = 2\nlogin.backoff.initial_ms = 1500\nlogin.backoff.max_ms = 2500\n");
	/* Two wrong PINs are free: the right one is tried at once after them. */
	unsigned long first = fc.calls("C_Login");
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(fc.calls("C_Login"), first + 1); /* the wrapper counts the module's tries */
	ck_assert_int_eq(user("0001"), CKR_PIN_INCORRECT);
	ck_assert(token_flags() & CKF_USER_PIN_COUNT_LOW);
	/* The third starts a back-off of 1.5 s: the right PIN is refused
	 * without reaching the backend, and so is a wrong one (which does not
	 * count: the backend never saw it). */
	ck_assert_int_eq(user("0002"), CKR_PIN_INCORRECT);
	double failed_at = now_s();
	unsigned long calls = fc.calls("C_Login");
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	ck_assert_int_eq(user("0003"), CKR_FUNCTION_FAILED);
	ck_assert_int_eq(login(CKU_CONTEXT_SPECIFIC, AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	ck_assert_uint_eq(fc.calls("C_Login"), calls);
	/* The SO's PIN has its own count. */
	ck_assert_int_eq(login(CKU_SO, AKM_TEST_SO_PIN), CKR_OK);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	double took = login_when_allowed(failed_at, 10);
	ck_assert_msg(took >= 1.45, "accepted after %.2f s, before the back-off of 1.5 s", took);
	ck_assert_int_eq(token_flags() & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED), 0);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);

	/* The count started again: two free wrong PINs, then 1.5 s, then the
	 * next one doubles it (capped at 2.5 s). */
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	sleep_s(1.6);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT); /* the 4th: 3 s, capped to 2.5 s */
	failed_at = now_s();
	took = login_when_allowed(failed_at, 10);
	ck_assert_msg(took >= 2.45, "accepted after %.2f s, before the back-off of 2.5 s", took);
}
END_TEST

/* Another process's wrong PINs count here: the count is the token's. */
START_TEST(test_two_processes_share_the_count)
{
	start("login.backoff.after = 3\nlogin.backoff.initial_ms = 2000\n");
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child: its own initialisation, sessions and state. */
		CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
		CK_SESSION_HANDLE s;
		CK_SLOT_ID slot;
		if (t.f->C_Initialize(&args) != CKR_OK || akm_test_find_slot(t.f, t.env.token_label, &slot) != CKR_OK ||
		    t.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK)
			_exit(10);
		/* The third wrong PIN overall is still free, the fourth starts
		 * the back-off: the right PIN is refused here too. */
		if (t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4) != CKR_PIN_INCORRECT)
			_exit(11);
		if (t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4) != CKR_PIN_INCORRECT)
			_exit(12);
		if (t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4) != CKR_FUNCTION_FAILED)
			_exit(13);
		t.f->C_Finalize(NULL);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	/* Four wrong PINs between the two: refused here as well. */
	unsigned long calls = fc.calls("C_Login");
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	ck_assert_uint_eq(fc.calls("C_Login"), calls);
	ck_assert(token_flags() & CKF_USER_PIN_COUNT_LOW);
	login_when_allowed(now_s(), 10);
}
END_TEST

START_TEST(test_success_resets_the_count)
{
	start("login.backoff.after = 2\nlogin.backoff.initial_ms = 60000\n");
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
		ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
		ck_assert(token_flags() & CKF_USER_PIN_COUNT_LOW);
		ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_OK);
		ck_assert_int_eq(token_flags() & CKF_USER_PIN_COUNT_LOW, 0);
		ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	}
	/* Six wrong PINs in all, never more than two in a row: no back-off
	 * (60 s would have failed this test). */
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_OK);
}
END_TEST

START_TEST(test_lockout_until_so_sets_the_pin)
{
	start("login.backoff = off\nlogin.lockout = 3\n");
	ck_assert_int_eq(token_flags() & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED), 0);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(token_flags() & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED), 0);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	CK_FLAGS f = token_flags();
	ck_assert(f & CKF_USER_PIN_COUNT_LOW);
	ck_assert(f & CKF_USER_PIN_FINAL_TRY);
	ck_assert_int_eq(f & CKF_USER_PIN_LOCKED, 0);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	f = token_flags();
	ck_assert(f & CKF_USER_PIN_LOCKED);
	ck_assert_int_eq(f & CKF_USER_PIN_FINAL_TRY, 0);
	/* Locked: the right PIN is refused without reaching the backend, and
	 * stays refused after C_Finalize / C_Initialize. */
	unsigned long calls = fc.calls("C_Login");
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_PIN_LOCKED);
	ck_assert_uint_eq(fc.calls("C_Login"), calls);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	start("login.backoff = off\nlogin.lockout = 3\n");
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_PIN_LOCKED);
	ck_assert(token_flags() & CKF_USER_PIN_LOCKED);
	/* C_SetPIN in a public session tries the user PIN too: refused. */
	ck_assert_int_eq(t.f->C_SetPIN(t.s, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4, (CK_UTF8CHAR_PTR) "4321", 4),
	                 CKR_PIN_LOCKED);
	/* The SO is not locked out; C_InitPIN lifts the lockout. */
	ck_assert_int_eq(login(CKU_SO, AKM_TEST_SO_PIN), CKR_OK);
	ck_assert_int_eq(t.f->C_InitPIN(t.s, (CK_UTF8CHAR_PTR) "5678", 4), CKR_OK);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(token_flags() & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY), 0);
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_PIN_INCORRECT); /* the old one */
	ck_assert_int_eq(user("5678"), CKR_OK);
}
END_TEST

/* An SO's wrong PINs back off too, but never lock the SO out. */
START_TEST(test_so_backs_off_never_locks)
{
	start("login.backoff.after = 1\nlogin.backoff.initial_ms = 1000\nlogin.lockout = 2\n");
	ck_assert_int_eq(login(CKU_SO, "00000000"), CKR_PIN_INCORRECT);
	ck_assert(token_flags() & CKF_SO_PIN_COUNT_LOW);
	ck_assert_int_eq(login(CKU_SO, "00000000"), CKR_PIN_INCORRECT);
	double failed_at = now_s();
	ck_assert_int_eq(login(CKU_SO, AKM_TEST_SO_PIN), CKR_FUNCTION_FAILED);
	ck_assert_int_eq(token_flags() & CKF_SO_PIN_LOCKED, 0);
	/* The user is not affected by the SO's count. */
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_OK);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	while (login(CKU_SO, AKM_TEST_SO_PIN) == CKR_FUNCTION_FAILED) {
		ck_assert_msg(now_s() - failed_at < 10, "SO still refused");
		sleep_s(0.05);
	}
	ck_assert_double_ge(now_s() - failed_at, 0.95);
	ck_assert_int_eq(token_flags() & CKF_SO_PIN_COUNT_LOW, 0);
}
END_TEST

/* C_SetPIN's old PIN counts like a login's. */
START_TEST(test_set_pin_counted)
{
	start("login.backoff.after = 1\nlogin.backoff.initial_ms = 60000\n");
	ck_assert_int_eq(t.f->C_SetPIN(t.s, (CK_UTF8CHAR_PTR) "0000", 4, (CK_UTF8CHAR_PTR) "4321", 4),
	                 CKR_PIN_INCORRECT);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	unsigned long calls = fc.calls("C_SetPIN");
	ck_assert_int_eq(t.f->C_SetPIN(t.s, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4, (CK_UTF8CHAR_PTR) "4321", 4),
	                 CKR_FUNCTION_FAILED);
	ck_assert_uint_eq(fc.calls("C_SetPIN"), calls);
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
}
END_TEST

/* How many audit records have `action` (read logged in). */
static CK_ULONG count_action(const char *action, CK_RV *result)
{
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE q[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_AKM_AUDIT_ACTION, (void *)action, strlen(action)}};
	CK_OBJECT_HANDLE h[32];
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, q, 2), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, h, 32, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	if (n > 0 && result != NULL) {
		CK_ULONG r = 0;
		CK_ATTRIBUTE a = {CKA_AKM_AUDIT_RESULT, &r, sizeof r};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h[n - 1], &a, 1), CKR_OK);
		*result = r;
	}
	return n;
}

START_TEST(test_refusals_audited_once_per_wrong_pin)
{
	start("login.backoff.after = 0\nlogin.backoff.initial_ms = 700\n");
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	double failed_at = now_s();
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	login_when_allowed(failed_at, 10);
	CK_RV result = 0;
	ck_assert_uint_eq(count_action("login-refused", &result), 1);
	ck_assert_uint_eq(result, CKR_FUNCTION_FAILED);
	ck_assert_uint_eq(count_action("login", NULL), 1);
	/* Kept aside before login and accepted into the trail at login, not
	 * taken for rows planted in the file. */
	ck_assert_uint_eq(count_action("tamper-detected", NULL), 0);
}
END_TEST

START_TEST(test_backoff_off_keeps_no_state)
{
	start("login.backoff = off\n");
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_OK);
	ck_assert_int_eq(access(state_path, F_OK), -1);
}
END_TEST

/* The state file as the first login leaves it: 0600, the documented 31
 * bytes (docs/formats.md §1.2) with the count in big-endian. */
START_TEST(test_state_file_format)
{
	start("login.backoff.after = 5\n");
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	ck_assert_int_eq(user("0000"), CKR_PIN_INCORRECT);
	struct stat st;
	ck_assert_int_eq(lstat(state_path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 31);
	unsigned char b[31];
	FILE *fp = fopen(state_path, "rb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fread(b, 1, sizeof b, fp), 31);
	fclose(fp);
	ck_assert(memcmp(b, "AKML\x01", 5) == 0);
	ck_assert(memcmp(b + 5, "\x00\x00\x00\x02", 4) == 0); /* user failures */
	ck_assert_uint_eq(b[9], 0);                            /* flags */
	for (int i = 10; i < 31; i++)                          /* no wait yet; the SO's record empty */
		ck_assert_uint_eq(b[i], 0);
}
END_TEST

/* A planted link or a file of another format: logins are refused (there
 * is no count to keep), nothing is followed or overwritten. */
START_TEST(test_bad_state_file_fails_closed)
{
	char victim[PATH_MAX + 32];
	snprintf(victim, sizeof victim, "%s/victim", t.env.dir);
	FILE *fp = fopen(victim, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("victim", fp);
	fclose(fp);
	ck_assert_int_eq(symlink(victim, state_path), 0);
	start("");
	unsigned long calls = fc.calls("C_Login");
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	ck_assert_uint_eq(fc.calls("C_Login"), calls);
	struct stat st;
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 6);
	ck_assert_int_eq(unlink(state_path), 0);

	/* Not this format (a different magic): refused too, left as it is. */
	fp = fopen(state_path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("not a login state file\n", fp);
	fclose(fp);
	ck_assert_int_eq(chmod(state_path, 0600), 0);
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_FUNCTION_FAILED);
	ck_assert_int_eq(stat(state_path, &st), 0);
	ck_assert_int_eq(st.st_size, 23);
	/* Removed, the count starts afresh. */
	ck_assert_int_eq(unlink(state_path), 0);
	ck_assert_int_eq(user(AKM_TEST_USER_PIN), CKR_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("login-backoff");
	TCase *tc = tcase_create("login-backoff");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_backoff_then_right_pin);
	tcase_add_test(tc, test_two_processes_share_the_count);
	tcase_add_test(tc, test_success_resets_the_count);
	tcase_add_test(tc, test_lockout_until_so_sets_the_pin);
	tcase_add_test(tc, test_so_backs_off_never_locks);
	tcase_add_test(tc, test_set_pin_counted);
	tcase_add_test(tc, test_refusals_audited_once_per_wrong_pin);
	tcase_add_test(tc, test_backoff_off_keeps_no_state);
	tcase_add_test(tc, test_state_file_format);
	tcase_add_test(tc, test_bad_state_file_fails_closed);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

/*
 * The module's diagnostics (docs/configuration.md, log.target, log.level):
 *   - log.level = debug with log.target = stderr traces every C_* call in
 *     one line naming the function, its handles and its CKR_ result, and
 *     no PIN given to C_Login or C_SetPIN ever appears;
 *   - below debug nothing is traced;
 *   - without log.target (syslog, the default) nothing reaches the
 *     application's stderr: not a failing C_Initialize's error, not the
 *     "no slots" warning, not the debug trace.
 * The module's stderr is captured by pointing fd 2 at a file around the
 * calls; every test runs in a process of its own (check's fork mode), so
 * the module's log settings start afresh.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define WRONG_PIN "wrong-Pin-7Qx"
#define NEW_PIN "new-Pin-9Kz4"

static it_ctx t;
static int saved_stderr = -1;
static char capture_path[PATH_MAX + 16];

static void setup(void) { it_setup_env(&t, "akm-logging"); }
static void teardown(void) { it_close(&t); }

static void write_conf(const char *extra)
{
	char conf[4 * PATH_MAX];
	snprintf(conf, sizeof conf,
	         "backend.module = %s\n"
	         "backend.token = pkcs11:token=%s\n"
	         "registry.path = %s/registry.db\n"
	         "%s",
	         t.env.softhsm_path, t.env.token_label, t.env.dir, extra);
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, conf), 0);
}

/* From here to capture_end, fd 2 writes into a file. */
static void capture_begin(void)
{
	snprintf(capture_path, sizeof capture_path, "%s/stderr.txt", t.env.dir);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

/* What was written to fd 2 since capture_begin (malloc'd). */
static char *capture_end(void)
{
	fflush(stderr);
	ck_assert_int_ge(dup2(saved_stderr, STDERR_FILENO), 0);
	close(saved_stderr);
	FILE *f = fopen(capture_path, "r");
	ck_assert_ptr_nonnull(f);
	char *text = calloc(1, 1 << 20);
	ck_assert_ptr_nonnull(text);
	size_t n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* How many lines of `text` start with `prefix`. */
static int lines_starting(const char *text, const char *prefix)
{
	int n = 0;
	for (const char *p = text; *p != '\0';) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		const char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/* A few calls: initialise, open, a wrong and a right login, a PIN change,
 * random bytes, close, finalise. */
static void some_calls(void)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	ck_assert_int_eq(t.f->C_Initialize(&args), CKR_OK);
	ck_assert_int_eq(akm_test_find_slot(t.f, t.env.token_label, &t.slot), CKR_OK);
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)WRONG_PIN, strlen(WRONG_PIN)), CKR_PIN_INCORRECT);
	ck_assert_int_eq(t.f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)),
	                 CKR_OK);
	ck_assert_int_eq(t.f->C_SetPIN(t.s, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN),
	                               (CK_UTF8CHAR_PTR)NEW_PIN, strlen(NEW_PIN)),
	                 CKR_OK);
	CK_BYTE random[16];
	ck_assert_int_eq(t.f->C_GenerateRandom(t.s, random, sizeof random), CKR_OK);
	ck_assert_int_eq(t.f->C_CloseSession(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_CloseSession(t.s), CKR_SESSION_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
}

START_TEST(test_debug_trace)
{
	write_conf("log.level = debug\nlog.target = stderr\n");
	capture_begin();
	some_calls();
	char *err = capture_end();
	char line[256];
	/* One line per call, with its result and handles. */
	ck_assert_msg(lines_starting(err, "akm-pkcs11: debug: C_Initialize() = CKR_OK") == 1, "%s", err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_OpenSession(slot=%lu) = CKR_OK session=%lu",
	         (unsigned long)t.slot, (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_Login(session=%lu, user=1) = CKR_PIN_INCORRECT",
	         (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_Login(session=%lu, user=1) = CKR_OK", (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_SetPIN(session=%lu) = CKR_OK", (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_GenerateRandom(session=%lu) = CKR_OK", (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_CloseSession(session=%lu) = CKR_OK", (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	snprintf(line, sizeof line, "akm-pkcs11: debug: C_CloseSession(session=%lu) = CKR_SESSION_HANDLE_INVALID",
	         (unsigned long)t.s);
	ck_assert_msg(lines_starting(err, line) == 1, "no '%s' in:\n%s", line, err);
	ck_assert_msg(lines_starting(err, "akm-pkcs11: debug: C_Finalize() = CKR_OK") == 1, "%s", err);
	ck_assert_msg(lines_starting(err, "akm-pkcs11: debug: C_GetSlotList(") >= 1, "%s", err);
	/* Every trace line is one whole line naming a CKR_ result. */
	for (const char *p = strstr(err, "debug: C_"); p != NULL; p = strstr(p + 1, "debug: C_")) {
		const char *nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		const char *eq = strstr(p, ") = CKR_");
		ck_assert_msg(eq != NULL && eq < nl, "a trace line without its result: %.*s", (int)(nl - p), p);
	}
	/* No PIN, old or new, right or wrong. */
	ck_assert_msg(strstr(err, WRONG_PIN) == NULL, "the wrong PIN was logged:\n%s", err);
	ck_assert_msg(strstr(err, NEW_PIN) == NULL, "the new PIN was logged:\n%s", err);
	ck_assert_msg(strstr(err, "=" AKM_TEST_USER_PIN) == NULL && strstr(err, " " AKM_TEST_USER_PIN) == NULL,
	              "the PIN was logged:\n%s", err);
	free(err);
}
END_TEST

/* At the default level (warning), the same calls trace nothing. */
START_TEST(test_no_trace_below_debug)
{
	write_conf("log.target = stderr\n");
	capture_begin();
	some_calls();
	char *err = capture_end();
	ck_assert_msg(strstr(err, "C_") == NULL, "traced at warning level:\n%s", err);
	free(err);
}
END_TEST

/* Without log.target, the application's stderr stays silent: a failing
 * C_Initialize (a bad line), a module without slots (a URI matching no
 * token), and the debug trace all go to syslog only. */
START_TEST(test_default_target_is_silent)
{
	capture_begin();
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, "log.level = debug\nbackend.colour = red\n"), 0);
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	char conf[4 * PATH_MAX];
	snprintf(conf, sizeof conf, "backend.module = %s\nbackend.token = pkcs11:token=no-such-token\n"
	         "registry.path = %s/registry.db\n", t.env.softhsm_path, t.env.dir);
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, conf), 0);
	CK_RV rv = t.f->C_Initialize(NULL);
	if (rv == CKR_OK)
		t.f->C_Finalize(NULL);
	write_conf("log.level = debug\n");
	some_calls();
	char *err = capture_end();
	ck_assert_msg(err[0] == '\0', "the module wrote to the application's stderr:\n%s", err);
	free(err);
}
END_TEST

/* The refusal of a bad line goes to stderr when an earlier line asked so. */
START_TEST(test_error_to_stderr_when_asked)
{
	ck_assert_int_eq(akm_testenv_write_conf(&t.env, "log.target = stderr\nbackend.colour = red\n"), 0);
	capture_begin();
	ck_assert_int_eq(t.f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	char *err = capture_end();
	ck_assert_msg(strstr(err, "akm-pkcs11: error: ") != NULL && strstr(err, ":2: unknown key 'backend.colour'") != NULL,
	              "%s", err);
	free(err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("logging");
	TCase *tc = tcase_create("logging");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_debug_trace);
	tcase_add_test(tc, test_no_trace_below_debug);
	tcase_add_test(tc, test_default_target_is_silent);
	tcase_add_test(tc, test_error_to_stderr_when_asked);
	SRunner *sr = srunner_create(s);
	suite_add_tcase(s, tc);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * pkcs11-tool's own self tests (--test, --test-ec, --test-fork) through
 * akm-pkcs11.so and through SoftHSM2 directly, each on its own fresh token
 * with the same content.  The module must reach the same result as the
 * backend: same exit status, same number of errors, and when pkcs11-tool
 * aborts, the same PKCS#11 call failing.  For --test-fork the module must do
 * better than SoftHSM2: it is fork-safe, so C_Initialize in the child works.
 */
#include "interop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_LABEL "akm-selftest"

/* What one pkcs11-tool self-test run came to. */
typedef struct selftest_result {
	int status;          /* exit status */
	long errors;         /* "N errors" / "No errors"; -1 when it printed neither */
	bool aborted;        /* printed "Aborting." */
	char failed_call[64]; /* "C_Xxx" of "error: PKCS11 function C_Xxx failed", or "" */
	char *output;
} selftest_result;

static void parse_result(selftest_result *result)
{
	const char *out = result->output;
	result->errors = -1;
	if (strstr(out, "No errors"))
		result->errors = 0;
	/* pkcs11-tool ends its summary with "%d errors\n". */
	for (const char *line = out; *line; line += strcspn(line, "\n"), line += (*line == '\n')) {
		long count;
		char word[16];
		if (sscanf(line, "%ld %15s", &count, word) == 2 && strcmp(word, "errors") == 0)
			result->errors = count;
	}
	result->aborted = strstr(out, "Aborting.") != NULL;
	result->failed_call[0] = '\0';
	const char *failed = strstr(out, "PKCS11 function C_");
	if (failed) {
		failed += strlen("PKCS11 function ");
		size_t len = strspn(failed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_");
		snprintf(result->failed_call, sizeof result->failed_call, "%.*s", (int)len, failed);
	}
}

/* The token content both runs start from. */
enum content { CONTENT_EMPTY, CONTENT_KEYS };

static void populate(const akm_testenv *env, const char *module, enum content content)
{
	if (content == CONTENT_EMPTY)
		return;
	static const char *const keys[][8] = {
		{"--keypairgen", "--key-type", "rsa:2048", "--label", "st-rsa", "--id", "01", NULL},
		{"--keypairgen", "--key-type", "EC:prime256v1", "--label", "st-ec", "--id", "02", NULL},
		{"--keygen", "--key-type", "AES:32", "--label", "st-aes", "--id", "03", NULL},
		{"--keygen", "--key-type", "GENERIC:32", "--label", "st-hmac", "--id", "04", NULL},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *args[16] = {"--token-label", env->token_label, "--login", "--pin", AKM_TEST_USER_PIN};
		size_t n = 5;
		for (size_t j = 0; keys[i][j]; j++)
			args[n++] = keys[i][j];
		args[n] = NULL;
		char *out = NULL;
		ck_assert_int_eq(akm_interop_pkcs11_tool(module, args, &out), 0);
		free(out);
	}
}

/* A fresh token, populated and self-tested through `module` (akm or not). */
static void run_selftest(bool through_akm, enum content content, const char *const test_args[],
                         selftest_result *result)
{
	akm_testenv env;
	/* Creating the env exports its SOFTHSM2_CONF/AKM_PKCS11_CONF, so the
	 * runs below use this env's token until the next one is created. */
	akm_interop_env_create(&env, TOKEN_LABEL);
	const char *module = through_akm ? env.module_path : env.softhsm_path;
	fprintf(stderr, "=== self test through %s ===\n", through_akm ? "akm-pkcs11" : "SoftHSM2 directly");
	populate(&env, module, content);

	const char *args[32] = {"--token-label", env.token_label};
	size_t n = 2;
	for (size_t i = 0; test_args[i]; i++)
		args[n++] = test_args[i];
	args[n] = NULL;
	result->output = NULL;
	result->status = akm_interop_pkcs11_tool(module, args, &result->output);
	parse_result(result);
	fprintf(stderr, "=== result: status %d, errors %ld, aborted %s%s%s ===\n", result->status,
	        result->errors, result->aborted ? "yes" : "no", result->failed_call[0] ? " at " : "",
	        result->failed_call);
}

static void check_same_result(enum content content, const char *const test_args[])
{
	selftest_result direct, akm;
	run_selftest(false, content, test_args, &direct);
	run_selftest(true, content, test_args, &akm);

	bool same = akm.status == direct.status && akm.errors == direct.errors &&
	            akm.aborted == direct.aborted && strcmp(akm.failed_call, direct.failed_call) == 0;
	if (!same)
		fprintf(stderr,
		        "pkcs11-tool self test differs.\n--- SoftHSM2 directly (status %d, errors %ld) ---\n%s\n"
		        "--- akm-pkcs11 (status %d, errors %ld) ---\n%s\n",
		        direct.status, direct.errors, direct.output, akm.status, akm.errors, akm.output);
	ck_assert_msg(same,
	              "akm-pkcs11: status %d, errors %ld, aborted %d at '%s'; "
	              "SoftHSM2: status %d, errors %ld, aborted %d at '%s'",
	              akm.status, akm.errors, akm.aborted, akm.failed_call, direct.status, direct.errors,
	              direct.aborted, direct.failed_call);
	free(direct.output);
	free(akm.output);
}

START_TEST(test_on_empty_token)
{
	check_same_result(CONTENT_EMPTY, (const char *const[]){"--test", "--login", "--pin", AKM_TEST_USER_PIN, NULL});
}
END_TEST

START_TEST(test_on_token_with_keys)
{
	check_same_result(CONTENT_KEYS, (const char *const[]){"--test", "--login", "--pin", AKM_TEST_USER_PIN, NULL});
}
END_TEST

START_TEST(test_with_software_mechanisms)
{
	/* --allow-sw: also run the signature tests on mechanisms without CKF_HW. */
	check_same_result(CONTENT_KEYS, (const char *const[]){"--test", "--allow-sw", "--login", "--pin",
	                                                        AKM_TEST_USER_PIN, NULL});
}
END_TEST

START_TEST(test_with_os_locking)
{
	/* --use-locking: C_Initialize with CKF_OS_LOCKING_OK. */
	check_same_result(CONTENT_KEYS, (const char *const[]){"--test", "--use-locking", "--login", "--pin",
	                                                        AKM_TEST_USER_PIN, NULL});
}
END_TEST

START_TEST(test_ec)
{
	check_same_result(CONTENT_EMPTY,
	                  (const char *const[]){"--test-ec", "--session-rw", "--login", "--pin", AKM_TEST_USER_PIN,
	                                        "--key-type", "EC:prime256v1", "--id", "99", "--label", "st-test-ec",
	                                        NULL});
}
END_TEST

START_TEST(test_fork_succeeds_through_akm)
{
	static const char *const args[] = {"--test-fork", "--login", "--pin", AKM_TEST_USER_PIN, NULL};
	selftest_result direct, akm;
	run_selftest(false, CONTENT_KEYS, args, &direct);
	run_selftest(true, CONTENT_KEYS, args, &akm);
	/* SoftHSM2 2.6 answers CKR_CRYPTOKI_ALREADY_INITIALIZED in the child;
	 * akm-pkcs11 must let the child initialise afresh. */
	if (direct.status != 0)
		fprintf(stderr, "note: SoftHSM2 directly fails pkcs11-tool --test-fork (status %d)\n", direct.status);
	ck_assert_msg(akm.status == 0 && !akm.aborted,
	              "pkcs11-tool --test-fork through akm-pkcs11: status %d, aborted %d at '%s'", akm.status,
	              akm.aborted, akm.failed_call);
	ck_assert_msg(!strstr(akm.output, "CKR_CRYPTOKI_ALREADY_INITIALIZED"),
	              "C_Initialize in the forked child says CKR_CRYPTOKI_ALREADY_INITIALIZED");
	free(direct.output);
	free(akm.output);
}
END_TEST

static Suite *selftest_suite(void)
{
	Suite *suite = suite_create("pkcs11-tool self tests");
	TCase *same = tcase_create("same result as SoftHSM2");
	tcase_set_timeout(same, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(same, test_on_empty_token);
	tcase_add_test(same, test_on_token_with_keys);
	tcase_add_test(same, test_with_software_mechanisms);
	tcase_add_test(same, test_with_os_locking);
	tcase_add_test(same, test_ec);
	suite_add_tcase(suite, same);

	TCase *fork_case = tcase_create("fork");
	tcase_set_timeout(fork_case, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(fork_case, test_fork_succeeds_through_akm);
	suite_add_tcase(suite, fork_case);
	return suite;
}

int main(void)
{
	akm_interop_prepare((const char *const[]){"pkcs11-tool", NULL});
	return akm_interop_run_suite(selftest_suite());
}

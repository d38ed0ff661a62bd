/*
 * One command-line convention for akm-nmm and akm-node (issue 10, item 6):
 *
 *   - a repeated option is refused, naming it ("--node given twice"), in
 *     both tools, before and after the command word, exit 1;
 *   - errors name the option, never its value ("option --dir does not apply
 *     to hw-id"; "unknown option --bogus"; "option --json takes no value");
 *   - --version prints "<tool> (akm-pkcs11) <version>", exit 0;
 *   - --pin-file - reads the PIN from stdin (both tools);
 *   - a wrong PIN is exit 2 (refused) in both tools;
 *   - -q hides warnings, -v adds details (the module and token opened).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmm-test.h"

#define EXPECT_IN(out, text, what) \
	ck_assert_msg(strstr((out), (text)) != NULL, "%s: no \"%s\" in:\n%s", (what), (text), (out))
#define EXPECT_NOT_IN(out, text, what) \
	ck_assert_msg(strstr((out), (text)) == NULL, "%s: \"%s\" in:\n%s", (what), (text), (out))

/* Runs argv with stdin `input` (NULL: /dev/null); *out: stdout+stderr. */
static int run_in(const char *const *argv, const char *input, char **out)
{
	char *text = NULL;
	int rc = akm_run(argv, input, &text, nmm_test_timeout);
	*out = text ? text : strdup("");
	return rc;
}

static void expect_run(const char *const *argv, const char *input, int want, const char *text, const char *what)
{
	char *out;
	EXPECT_RC(run_in(argv, input, &out), want, out, what);
	if (text != NULL)
		EXPECT_IN(out, text, what);
	free(out);
}

START_TEST(test_duplicate_options_refused)
{
	const char *a[] = {nmm_path, "provision", "--node", "a1", "--hw-id", "H1", "--node", "a2", NULL};
	expect_run(a, NULL, 1, "--node given twice", "akm-nmm --node twice");
	const char *b[] = {nmm_path, "--module", env.module_path, "list", "--module", env.module_path, NULL};
	expect_run(b, NULL, 1, "--module given twice", "akm-nmm --module twice");
	const char *c[] = {nmm_path, "list", "--json", "--json", NULL};
	expect_run(c, NULL, 1, "--json given twice", "akm-nmm --json twice");
	const char *d[] = {node_path, "import", "--dir", "x", "--dir", "y", NULL};
	expect_run(d, NULL, 1, "--dir given twice", "akm-node --dir twice");
	const char *e[] = {node_path, "--token", "a", "hw-id", "--token", "b", NULL};
	expect_run(e, NULL, 1, "--token given twice", "akm-node --token twice");
	/* Nothing was provisioned by the refused command. */
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	const char *f[] = {nmm_path, "provision", "--module", env.module_path, "--token", STATION, "--pin-file",
	                   pin_file, "--node", "a1", "--hw-id", "H1", "--node", "a2", NULL};
	expect_run(f, NULL, 1, "--node given twice", "akm-nmm provision --node twice");
	EXPECT_RC(nmm(&out, "list", NULL), 0, out, "list");
	EXPECT_NOT_IN(out, "a1", "list after the refused provision");
	EXPECT_NOT_IN(out, "a2", "list after the refused provision");
	free(out);
}
END_TEST

START_TEST(test_errors_name_the_option)
{
	const char *a[] = {node_path, "hw-id", "--dir", "VALUE", NULL};
	char *out;
	EXPECT_RC(run_in(a, NULL, &out), 1, out, "akm-node hw-id --dir");
	EXPECT_IN(out, "option --dir does not apply to hw-id", "akm-node hw-id --dir");
	EXPECT_NOT_IN(out, "option VALUE", "akm-node hw-id --dir");
	free(out);
	const char *b[] = {nmm_path, "list", "--node", "VALUE", NULL};
	EXPECT_RC(run_in(b, NULL, &out), 1, out, "akm-nmm list --node");
	EXPECT_IN(out, "option --node does not apply to list", "akm-nmm list --node");
	free(out);
	const char *c[] = {nmm_path, "list", "--bogus=3", NULL};
	expect_run(c, NULL, 1, "unknown option --bogus (see --help)", "akm-nmm --bogus=3");
	const char *d[] = {node_path, "hw-id", "--bogus", NULL};
	expect_run(d, NULL, 1, "unknown option --bogus (see --help)", "akm-node --bogus");
	const char *e[] = {nmm_path, "list", "--json=yes", NULL};
	expect_run(e, NULL, 1, "option --json takes no value", "akm-nmm --json=yes");
	const char *f[] = {nmm_path, "provision", "--count", "many", NULL};
	expect_run(f, NULL, 1, "--count: needs a whole number, not \"many\"", "akm-nmm --count many");
	const char *g[] = {nmm_path, "list", "--token", NULL};
	expect_run(g, NULL, 1, "option --token needs a value", "akm-nmm --token");
}
END_TEST

START_TEST(test_version)
{
	const char *a[] = {nmm_path, "--version", NULL};
	expect_run(a, NULL, 0, "akm-nmm (akm-pkcs11) ", "akm-nmm --version");
	const char *b[] = {node_path, "--version", NULL};
	expect_run(b, NULL, 0, "akm-node (akm-pkcs11) ", "akm-node --version");
	const char *c[] = {nmm_path, "list", "--version", NULL};
	expect_run(c, NULL, 0, "akm-nmm (akm-pkcs11) ", "akm-nmm list --version");
}
END_TEST

START_TEST(test_pin_from_stdin_and_wrong_pin)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-S"), 0);
	const char *a[] = {nmm_path, "list", "--module", env.module_path, "--token", STATION, "--pin-file", "-", NULL};
	expect_run(a, AKM_TEST_USER_PIN "\n", 0, "0 nodes", "akm-nmm --pin-file -");
	const char *b[] = {node_path, "--module", env.softhsm_path, "--token", "node-S", "--pin-file", "-", "id", NULL};
	char *o2;
	int rc = run_in(b, AKM_TEST_USER_PIN "\n", &o2);
	/* A fresh node has no identity yet: whatever id says, it is not a
	 * login failure. */
	EXPECT_NOT_IN(o2, "logging in", "akm-node --pin-file -");
	ck_assert_msg(rc != 1, "akm-node --pin-file -: exit 1:\n%s", o2);
	free(o2);
	/* A wrong PIN: exit 2 in both tools. */
	expect_run(a, "9999\n", 2, "CKR_PIN_INCORRECT", "akm-nmm wrong PIN");
	expect_run(b, "9999\n", 2, "CKR_PIN_INCORRECT", "akm-node wrong PIN");
	/* An empty stdin: a usage error naming stdin. */
	expect_run(a, "", 1, "stdin", "akm-nmm --pin-file - with nothing on stdin");
}
END_TEST

START_TEST(test_verbosity)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	EXPECT_RC(nmm(&out, "list", "-v", NULL), 0, out, "list -v");
	EXPECT_IN(out, "logging in", "list -v");
	EXPECT_IN(out, env.module_path, "list -v");
	free(out);
	EXPECT_RC(nmm(&out, "list", NULL), 0, out, "list");
	EXPECT_NOT_IN(out, "logging in", "list");
	free(out);
	EXPECT_RC(nmm(&out, "list", "-q", "--node", "x", NULL), 1, out, "list -q with an error");
	EXPECT_IN(out, "does not apply", "list -q with an error");
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_duplicate_options_refused);
	tcase_add_test(tc, test_errors_name_the_option);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_pin_from_stdin_and_wrong_pin);
	tcase_add_test(tc, test_verbosity);
}

int main(void)
{
	return nmm_test_main("cli", "cli", 600, true, add_tests);
}

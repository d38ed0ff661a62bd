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
 *
 * And status that tells the truth (item 5) and inputs refused or escaped
 * (item 7's names and labels):
 *
 *   - tokens (both tools) lists the module's tokens; "no token matches X"
 *     lists them; a token URI's pin-source (path and file: URI) and
 *     module-path are used, and conflicts with --pin-file/--module refused;
 *   - list --state/--status filter, counts by state and status in the
 *     footer and in --json "counts"; a bad state names the choices;
 *   - after a failed verify (exit 6) list shows FAILED in its last
 *     verification column and --json "last_verification" says failed with
 *     the reason, though the status stays "verified"; show says the same;
 *   - names ".x", "-x", ".." refused at provision (and akm-node request);
 *   - control characters and terminal escapes in stored labels (an audit
 *     record another application wrote, a token label) are printed as
 *     \xNN: no ESC byte reaches stdout.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmm-test.h"
#include "shared/p11.h"
#include "akm/pkcs11-akm.h"

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


START_TEST(test_tokens_and_candidates)
{
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-T"), 0);
	char *out;
	const char *a[] = {nmm_path, "tokens", "--module", env.softhsm_path, NULL};
	EXPECT_RC(run_in(a, NULL, &out), 0, out, "akm-nmm tokens");
	EXPECT_IN(out, "label \"" STATION "\"", "akm-nmm tokens");
	EXPECT_IN(out, "label \"node-T\"", "akm-nmm tokens");
	EXPECT_IN(out, "SoftHSM", "akm-nmm tokens");
	EXPECT_IN(out, "login-required", "akm-nmm tokens");
	EXPECT_IN(out, "uri: pkcs11:", "akm-nmm tokens");
	free(out);
	const char *b[] = {node_path, "--module", env.softhsm_path, "tokens", NULL};
	EXPECT_RC(run_in(b, NULL, &out), 0, out, "akm-node tokens");
	EXPECT_IN(out, "label \"node-T\"", "akm-node tokens");
	free(out);
	/* No token of that name: the ones there are, listed. */
	const char *c[] = {node_path, "--module", env.softhsm_path, "--token", "nosuch", "hw-id", NULL};
	EXPECT_RC(run_in(c, NULL, &out), 4, out, "akm-node --token nosuch");
	EXPECT_IN(out, "no token matches nosuch; the module has: ", "akm-node --token nosuch");
	EXPECT_IN(out, "\"node-T\" (serial ", "akm-node --token nosuch");
	EXPECT_IN(out, "\"" STATION "\" (serial ", "akm-node --token nosuch");
	free(out);
	const char *d[] = {nmm_path, "list", "--module", env.module_path, "--token", "pkcs11:token=nosuch",
	                   "--pin-file", pin_file, NULL};
	EXPECT_RC(run_in(d, NULL, &out), 4, out, "akm-nmm --token pkcs11:token=nosuch");
	EXPECT_IN(out, "no token matches pkcs11:token=nosuch; the module has: \"" STATION "\"", "akm-nmm nosuch");
	free(out);
}
END_TEST

START_TEST(test_uri_pin_source_and_module_path)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	char uri[2 * PATH_MAX + 100];
	/* pin-source as a path, then as a file: URI; no --pin-file. */
	snprintf(uri, sizeof uri, "pkcs11:token=%s?pin-source=%s", STATION, pin_file);
	const char *a[] = {nmm_path, "list", "--module", env.module_path, "--token", uri, NULL};
	EXPECT_RC(run_in(a, NULL, &out), 0, out, "pin-source=PATH");
	EXPECT_IN(out, "0 nodes", "pin-source=PATH");
	free(out);
	snprintf(uri, sizeof uri, "pkcs11:token=%s?pin-source=file:%s", STATION, pin_file);
	EXPECT_RC(run_in(a, NULL, &out), 0, out, "pin-source=file:PATH");
	free(out);
	/* module-path: no --module needed. */
	snprintf(uri, sizeof uri, "pkcs11:token=%s?module-path=%s&pin-source=%s", STATION, env.module_path, pin_file);
	const char *b[] = {nmm_path, "list", "--token", uri, NULL};
	EXPECT_RC(run_in(b, NULL, &out), 0, out, "module-path and pin-source");
	free(out);
	const char *c[] = {node_path, "--token", uri, "tokens", NULL};
	EXPECT_RC(run_in(c, NULL, &out), 0, out, "akm-node tokens with module-path");
	EXPECT_IN(out, "akm-pkcs11", "akm-node tokens with module-path");
	free(out);
	/* A wrong PIN through pin-source: the one code. */
	char bad[PATH_MAX + 16];
	path_in(bad, sizeof bad, "bad-pin");
	write_file(bad, "9999\n", 5);
	snprintf(uri, sizeof uri, "pkcs11:token=%s?pin-source=%s", STATION, bad);
	EXPECT_RC(run_in(a, NULL, &out), 2, out, "pin-source with a wrong PIN");
	EXPECT_IN(out, "CKR_PIN_INCORRECT", "pin-source with a wrong PIN");
	free(out);
	/* Two answers to one question are refused. */
	const char *d[] = {nmm_path, "list", "--module", env.module_path, "--token", uri, "--pin-file", pin_file, NULL};
	EXPECT_RC(run_in(d, NULL, &out), 1, out, "--pin-file and pin-source");
	EXPECT_IN(out, "--pin-file and the token URI's pin-source", "--pin-file and pin-source");
	free(out);
	snprintf(uri, sizeof uri, "pkcs11:token=%s?module-path=%s", STATION, env.softhsm_path);
	const char *e[] = {nmm_path, "list", "--module", env.module_path, "--token", uri, "--pin-file", pin_file, NULL};
	EXPECT_RC(run_in(e, NULL, &out), 1, out, "--module and module-path");
	EXPECT_IN(out, "module-path", "--module and module-path");
	free(out);
	snprintf(uri, sizeof uri, "pkcs11:token=%s?pin-source=https://example.com/pin", STATION);
	EXPECT_RC(run_in(a, NULL, &out), 1, out, "pin-source not a file");
	EXPECT_IN(out, "is not a file", "pin-source not a file");
	free(out);
}
END_TEST

/* The JSON text of member `key` of the node object of `name` in out. */
static void node_member(const char *out, const char *name, const char *key, char *val, size_t size)
{
	const char *obj = json_find_node(out, name);
	ck_assert_msg(obj != NULL, "no node %s in:\n%s", name, out);
	val[0] = '\0';
	json_member(obj, key, val, size);
}

START_TEST(test_list_filters_counts_and_last_verification)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-V"), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "empty-W"), 0);
	char hw[40];
	node_hw("node-V", hw, sizeof hw);
	EXPECT_RC(nmm(&out, "provision", "--node", "node-V", "--hw-id", hw, NULL), 0, out, "provision V");
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--count", "3", "--prefix", "c", NULL), 0, out, "provision 3");
	free(out);
	EXPECT_RC(nmm(&out, "revoke", "c000002", "--reason", "test", NULL), 0, out, "revoke");
	free(out);
	EXPECT_RC(nmm(&out, "write-se", "--node", "node-V", "--se-module", env.softhsm_path, "--se-token", "node-V",
	              "--se-pin-file", pin_file, NULL), 0, out, "write-se");
	free(out);
	EXPECT_RC(nmm(&out, "verify", "--node", "node-V", "--se-module", env.softhsm_path, "--se-token", "node-V",
	              "--se-pin-file", pin_file, NULL), 0, out, "verify");
	free(out);
	char v[256];
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	node_member(out, "node-V", "last_verification", v, sizeof v);
	EXPECT_IN(v, "\"result\":\"verified\"", "last_verification after a good verify");
	node_member(out, "c000001", "last_verification", v, sizeof v);
	ck_assert_str_eq(v, "null");
	free(out);
	/* The failed verify: exit 6, audited; the status stays, the last
	 * verification says FAILED. */
	EXPECT_RC(nmm(&out, "verify", "--node", "node-V", "--se-module", env.softhsm_path, "--se-token", "empty-W",
	              "--se-pin-file", pin_file, NULL), 6, out, "verify through an empty token");
	free(out);
	EXPECT_RC(nmm(&out, "list", NULL), 0, out, "list");
	EXPECT_IN(out, "LAST VERIFICATION", "list");
	const char *line = strstr(out, "\nnode-V ");
	ck_assert_msg(line != NULL, "list:\n%s", out);
	size_t len = strcspn(line + 1, "\n");
	char row[512];
	snprintf(row, sizeof row, "%.*s", (int)len, line + 1);
	EXPECT_IN(row, "verified", "node-V's row");
	EXPECT_IN(row, "FAILED 20", "node-V's row");
	EXPECT_IN(out, "4 nodes, 0 pending; by state: active 3 revoked 1; by status: created 3 verified 1; "
	               "1 with a failed last verification", "list footer");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	node_member(out, "node-V", "status", v, sizeof v);
	ck_assert_str_eq(v, "verified");
	node_member(out, "node-V", "last_verification", v, sizeof v);
	EXPECT_IN(v, "\"result\":\"failed\"", "last_verification after a failed verify");
	EXPECT_IN(v, "holds no provisioning relationship", "last_verification's reason");
	EXPECT_IN(out, "\"counts\":{\"total\":4,\"shown\":4,\"last_verification_failed\":1,"
	               "\"state\":{\"pending\":0,\"active\":3,\"suspended\":0,\"revoked\":1},"
	               "\"status\":{\"created\":3,\"exported\":0,\"imported\":0,\"activated\":0,\"verified\":1}}",
	          "list --json counts");
	free(out);
	EXPECT_RC(nmm(&out, "show", "node-V", NULL), 0, out, "show");
	EXPECT_IN(out, "last verification: FAILED 20", "show");
	EXPECT_IN(out, "holds no provisioning relationship", "show");
	free(out);
	EXPECT_RC(nmm(&out, "show", "node-V", "--json", NULL), 0, out, "show --json");
	EXPECT_IN(out, "\"result\":\"failed\"", "show --json");
	free(out);
	/* Filters. */
	EXPECT_RC(nmm(&out, "list", "--state", "revoked", NULL), 0, out, "list --state revoked");
	EXPECT_IN(out, "c000002", "list --state revoked");
	EXPECT_NOT_IN(out, "c000001", "list --state revoked");
	EXPECT_IN(out, "1 of 4 nodes shown", "list --state revoked");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--status", "verified", "--json", NULL), 0, out, "list --status verified");
	ck_assert_ptr_nonnull(json_find_node(out, "node-V"));
	ck_assert_ptr_null(json_find_node(out, "c000001"));
	EXPECT_IN(out, "\"total\":4,\"shown\":1", "list --status verified --json");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--state", "active", "--status", "created", NULL), 0, out, "both filters");
	EXPECT_IN(out, "2 of 4 nodes shown", "both filters");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--state", "gone", NULL), 1, out, "list --state gone");
	EXPECT_IN(out, "--state: no such state \"gone\" (one of: pending, active, suspended, revoked)", "--state gone");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--status", "x", NULL), 1, out, "list --status x");
	EXPECT_IN(out, "one of: created, exported, imported, activated, verified", "--status x");
	free(out);
}
END_TEST

START_TEST(test_unsafe_names_refused)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	const char *bad[] = {".hidden", "-x", "..", "."};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char arg[64];
		snprintf(arg, sizeof arg, "--node=%s", bad[i]);
		int rc = nmm(&out, "provision", arg, "--hw-id", "HW-1", NULL);
		ck_assert_msg(rc == 2 || rc == 1, "provision %s: exit %d:\n%s", bad[i], rc, out);
		EXPECT_IN(out, "not starting with . or -", bad[i]);
		free(out);
	}
	char batch[PATH_MAX + 16];
	path_in(batch, sizeof batch, "batch.txt");
	write_file(batch, ".dot HW-2\nok-1 HW-3\n", 20);
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, NULL), 2, out, "a batch with .dot");
	EXPECT_IN(out, "not starting with . or -", "a batch with .dot");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list");
	EXPECT_NOT_IN(out, "\".dot\"", "list after the batch");
	EXPECT_NOT_IN(out, "\"-x\"", "list after the refusals");
	free(out);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-R"), 0);
	char req[PATH_MAX + 16];
	path_in(req, sizeof req, "req.akmr");
	EXPECT_RC(node(&out, "node-R", "request", "--name=-x", "--out", req, NULL), 1, out, "akm-node request -x");
	EXPECT_IN(out, "not starting with . or -", "akm-node request -x");
	free(out);
}
END_TEST

/* No raw ESC (or other control character but newline), no C1 CSI (as a
 * byte or as UTF-8) in text. */
static void expect_no_controls(const char *out, const char *what)
{
	ck_assert_msg(strstr(out, "\xc2\x9b") == NULL, "%s: a raw U+009B", what);
	for (const char *p = out; *p; p++)
		ck_assert_msg(((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x9b) || *p == '\n' || *p == '\t',
		              "%s: a raw control character 0x%02X at offset %zu", what, (unsigned char)*p,
		              (size_t)(p - out));
}

START_TEST(test_labels_escaped)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", NULL), 0, out, "init");
	free(out);
	/* Another application holding the PIN writes an audit record with
	 * terminal escapes in its action and detail. */
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.module_path, STATION) == 0, "%s", p.err);
	ck_assert_msg(akm_p11_login(&p, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) == 0, "%s", p.err);
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG res = CKR_OK;
	/* The module takes no C0 control in a record (action: a-z 0-9 - .;
	 * detail: no byte below 0x20): the C1 CSI, as one byte (not UTF-8)
	 * and as UTF-8 (U+009B), gets through. */
	const char action[] = "evil-action";
	const char detail[] = "clear\x9b" "31m\xc2\x9b" "2Jdone";
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_AKM_AUDIT_ACTION, (void *)action, sizeof action - 1},
		{CKA_AKM_AUDIT_DETAIL, (void *)detail, sizeof detail - 1},
		{CKA_AKM_AUDIT_RESULT, &res, sizeof res},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = p.f->C_CreateObject(p.session, t, 5, &h);
	ck_assert_msg(rv == CKR_OK, "C_CreateObject: 0x%lx", (unsigned long)rv);
	akm_p11_close(&p);
	EXPECT_RC(nmm(&out, "audit", NULL), 0, out, "audit");
	expect_no_controls(out, "audit");
	EXPECT_IN(out, "evil-action", "audit");
	EXPECT_IN(out, "clear\\x9B31m\\xC2\\x9B2Jdone", "audit");
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--json", NULL), 0, out, "audit --json");
	expect_no_controls(out, "audit --json");
	free(out);
	/* A token label with an escape: tokens and the candidates list. */
	ck_assert_int_eq(akm_testenv_add_token(&env, "bad\x1b[31mlabel"), 0);
	const char *a[] = {nmm_path, "tokens", "--module", env.softhsm_path, NULL};
	EXPECT_RC(run_in(a, NULL, &out), 0, out, "tokens");
	expect_no_controls(out, "tokens");
	EXPECT_IN(out, "bad\\x1B[31mlabel", "tokens");
	free(out);
	const char *b[] = {node_path, "--module", env.softhsm_path, "--token", "x\x1b[1m", "hw-id", NULL};
	EXPECT_RC(run_in(b, NULL, &out), 4, out, "no such token");
	expect_no_controls(out, "no such token");
	EXPECT_IN(out, "no token matches x\\x1B[1m", "no such token");
	EXPECT_IN(out, "bad\\x1B[31mlabel", "no such token");
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_tokens_and_candidates);
	tcase_add_test(tc, test_uri_pin_source_and_module_path);
	tcase_add_test(tc, test_list_filters_counts_and_last_verification);
	tcase_add_test(tc, test_unsafe_names_refused);
	tcase_add_test(tc, test_labels_escaped);
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

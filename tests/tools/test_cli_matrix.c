/*
 * Every sub-command of akm-nmm and akm-node against the one convention
 * (issue 10, "Must show"), checking exit codes against the one table
 * (tools/shared/report.h, docs/exit-codes.md):
 *
 *   - COMMAND --help: exit 0, its usage on stdout (stderr empty); with
 *     stdout on /dev/full: exit 5.  The tools' command lists name exactly
 *     the commands of this table (a new command is added here too);
 *   - a wrong PIN: exit 2 (AKM_RC_REFUSED) and CKR_PIN_INCORRECT, in both
 *     tools, for every command that logs in;
 *   - akm-nmm on the raw backend module (SoftHSM2): exit 4
 *     (AKM_RC_TOKEN), "is not akm-pkcs11", for every station command;
 *   - --json where it applies: exit 0 and a document jansson parses, in
 *     the one vocabulary (docs/json.md): no "akm_id", "station",
 *     "fingerprint" or "node_key_sha256" key anywhere, node_id/station_id
 *     as hex, site and location as fields of their own (no "site=...");
 *     and with stdout on /dev/full: exit 5;
 *   - docs/exit-codes.md lists every AKM_RC_* code with its number.
 *
 * Needs jansson (libjansson-dev, tools/dev.sh); without it the test skips
 * (77).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nmm-test.h"

#ifndef HAVE_JANSSON
int main(void)
{
	puts("jansson not found at configure time: skipped");
	return 77;
}
#else

#include <jansson.h>

#include "shared/report.h"

enum { LOGIN = 1, STN = 2, JSON = 4 }; /* logs in; a station command; --json applies */

typedef struct cmd {
	bool nmm;               /* akm-nmm, else akm-node */
	const char *name;
	const char *args[10];   /* after the command word; "@X" = a path in the test folder */
	unsigned flags;
} cmd;

/* The commands, each once (args: what makes it reach its token in the
 * environment prepare() makes; JSON: also what succeeds there). */
static const cmd cmds[] = {
	{true, "init", {"--site", "Matrix", "--location", "Rack 1"}, LOGIN | STN},
	{true, "anchor", {"--out", "@anchor2.akmp"}, LOGIN | STN | JSON},
	{true, "provision", {"--node", "p1", "--hw-id", "HW-P1"}, LOGIN | STN | JSON},
	{true, "enroll", {"@req.akmr"}, LOGIN | STN | JSON},
	{true, "approve", {"e1"}, LOGIN | STN},
	{true, "reject", {"e1"}, LOGIN | STN},
	{true, "revoke", {"c000003", "--reason", "matrix"}, LOGIN | STN | JSON},
	{true, "reinstate", {"m1", "--reason", "matrix"}, LOGIN | STN},
	{true, "export", {"--node", "m1", "--out", "@usb"}, LOGIN | STN | JSON},
	{true, "write-se", {"--node", "m1", "--se-module", "@softhsm", "--se-token", "node-M", "--se-pin-file", "@pin"},
	 LOGIN | STN},
	{true, "verify", {"--node", "m1", "--se-module", "@softhsm", "--se-token", "node-M", "--se-pin-file", "@pin"},
	 LOGIN | STN | JSON},
	{true, "list", {NULL}, LOGIN | STN | JSON},
	{true, "show", {"m1"}, LOGIN | STN | JSON},
	{true, "audit", {NULL}, LOGIN | STN | JSON},
	{true, "status", {NULL}, LOGIN | STN | JSON},
	{true, "asr", {"list"}, LOGIN | STN | JSON},
	{true, "policy", {"test", "@policy.conf", "--all"}, LOGIN | STN | JSON},
	{true, "tokens", {NULL}, JSON},
	{false, "hw-id", {NULL}, JSON},
	{false, "trust", {"@anchor.akmp"}, LOGIN | JSON},
	{false, "import", {"--dir", "@usb"}, LOGIN},
	{false, "id", {NULL}, LOGIN},
	{false, "request", {"--name", "r1", "--out", "@req2.akmr"}, LOGIN | JSON},
	{false, "activate", {"--nmm", "127.0.0.1:1"}, LOGIN},
	{false, "checkin", {"--nmm", "127.0.0.1:1"}, LOGIN},
	{false, "report", {"--nmm", "127.0.0.1:1", "--event", "other"}, LOGIN},
	{false, "enroll", {"--dir", "@usb"}, LOGIN},
	{false, "rekey", {"@anchor.akmp"}, LOGIN},
	{false, "seal", {"--asr", "a1"}, LOGIN},
	{false, "open", {NULL}, LOGIN},
	{false, "asr", {NULL}, LOGIN}, /* --json needs akm-pkcs11 over the node's token: test_asr.c */
	{false, "refresh", {"--asr", "a1"}, LOGIN},
	{false, "tokens", {NULL}, JSON},
};
enum { NCMDS = sizeof cmds / sizeof cmds[0] };

static char bad_pin[PATH_MAX + 16];

static const char *expand(const char *a, char *buf, size_t size)
{
	if (a[0] != '@')
		return a;
	if (strcmp(a, "@softhsm") == 0)
		return env.softhsm_path;
	if (strcmp(a, "@pin") == 0)
		return pin_file;
	path_in(buf, size, a + 1);
	return buf;
}

/* tool [common options for module/pin] command args... [extra...] */
static int run_cmd(const cmd *c, const char *module, const char *pin, const char *const *extra, bool full,
                   bool stderr_null, char **out)
{
	static char bufs[12][PATH_MAX + 32];
	const char *argv[NMM_MAX_ARGS + 8];
	size_t n = 0;
	if (full || stderr_null) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = full ? "exec \"$@\" >/dev/full" : "exec \"$@\" 2>/dev/null";
		argv[n++] = "sh";
	}
	argv[n++] = c->nmm ? nmm_path : node_path;
	if (module != NULL) {
		argv[n++] = "--module";
		argv[n++] = module;
		argv[n++] = "--token";
		argv[n++] = c->nmm ? STATION : "node-M";
		argv[n++] = "--pin-file";
		argv[n++] = pin;
	}
	argv[n++] = c->name;
	for (size_t i = 0; i < 10 && c->args[i] != NULL; i++)
		argv[n++] = expand(c->args[i], bufs[i], sizeof bufs[i]);
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return run_argv(argv, out);
}

static const char *module_of(const cmd *c)
{
	return c->nmm ? env.module_path : env.softhsm_path;
}

/* A station with nodes: m1 (node-M's relationship, written into it),
 * c000001..3, e1 enrolled (pending); the anchor, a request, a drive. */
static void prepare(void)
{
	char *out;
	char path[PATH_MAX + 32], hw[40];
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-M"), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-E"), 0);
	node_hw("node-M", hw, sizeof hw);
	path_in(path, sizeof path, "anchor.akmp");
	EXPECT_RC(nmm(&out, "init", "--site", "Matrix", "--location", "Rack 1", "--anchor-out", path, NULL), 0, out,
	          "init");
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--node", "m1", "--hw-id", hw, NULL), 0, out, "provision m1");
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--count", "3", "--prefix", "c", NULL), 0, out, "provision c");
	free(out);
	const char *se[] = {"--se-module", env.softhsm_path, "--se-token", "node-M", "--se-pin-file", pin_file, NULL};
	EXPECT_RC(nmm(&out, "write-se", "--node", "m1", se[0], se[1], se[2], se[3], se[4], se[5], NULL), 0, out,
	          "write-se");
	free(out);
	path_in(path, sizeof path, "usb");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	char req[PATH_MAX + 32], req1[PATH_MAX + 32];
	path_in(req, sizeof req, "req.akmr");
	path_in(req1, sizeof req1, "req-e1.akmr");
	EXPECT_RC(node(&out, "node-E", "request", "--name", "e2", "--out", req, NULL), 0, out, "request e2");
	free(out);
	EXPECT_RC(node(&out, "node-E", "request", "--name", "e1", "--out", req1, NULL), 0, out, "request e1");
	free(out);
	EXPECT_RC(nmm(&out, "enroll", req1, NULL), 0, out, "enroll e1");
	free(out);
	path_in(bad_pin, sizeof bad_pin, "bad-pin");
	write_file(bad_pin, "9999\n", 5);
	static const char policy[] = "rule r\nscope node\nmetric clone\nthreshold >= 1\nwindow 1h\nactions alert\n";
	path_in(path, sizeof path, "policy.conf");
	write_file(path, policy, strlen(policy));
}

/* The names a tool's general usage lists: every command of this table
 * (and, for akm-nmm, nothing else). */
static void expect_listed(const char *usage, bool nmm_tool)
{
	size_t mine = 0;
	for (size_t i = 0; i < NCMDS; i++) {
		if (cmds[i].nmm != nmm_tool)
			continue;
		mine++;
		char want[64];
		snprintf(want, sizeof want, nmm_tool ? "\n  akm-nmm %s" : "\n  %s ", cmds[i].name);
		ck_assert_msg(strstr(usage, want) != NULL, "usage does not list %s:\n%s", cmds[i].name, usage);
	}
	if (!nmm_tool)
		return;
	size_t listed = 0;
	for (const char *p = usage; (p = strstr(p, "\n  akm-nmm ")) != NULL; p++)
		listed++;
	ck_assert_msg(listed == mine, "akm-nmm lists %zu commands, this test knows %zu", listed, mine);
}

START_TEST(test_help_everywhere)
{
	char *out;
	const char *a[] = {"/bin/sh", "-c", "exec \"$@\" 2>/dev/null", "sh", nmm_path, "--help", NULL};
	EXPECT_RC(run_argv(a, &out), 0, out, "akm-nmm --help");
	expect_listed(out, true);
	free(out);
	const char *b[] = {"/bin/sh", "-c", "exec \"$@\" 2>/dev/null", "sh", node_path, "--help", NULL};
	EXPECT_RC(run_argv(b, &out), 0, out, "akm-node --help");
	expect_listed(out, false);
	free(out);
	const char *help[] = {"--help", NULL};
	for (size_t i = 0; i < NCMDS; i++) {
		const cmd *c = &cmds[i];
		char what[64], want[64];
		snprintf(what, sizeof what, "%s %s --help", c->nmm ? "akm-nmm" : "akm-node", c->name);
		snprintf(want, sizeof want, "usage: %s %s", c->nmm ? "akm-nmm" : "akm-node", c->name);
		EXPECT_RC(run_cmd(c, NULL, NULL, help, false, true, &out), AKM_RC_OK, out, what);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s: stdout is not its usage:\n%s", what, out);
		free(out);
		EXPECT_RC(run_cmd(c, NULL, NULL, help, true, false, &out), AKM_RC_FILES, out, what);
		ck_assert_msg(strstr(out, "stdout: write failed") != NULL, "%s on /dev/full:\n%s", what, out);
		free(out);
	}
}
END_TEST

START_TEST(test_wrong_pin_everywhere)
{
	prepare();
	char *out;
	for (size_t i = 0; i < NCMDS; i++) {
		const cmd *c = &cmds[i];
		if (!(c->flags & LOGIN))
			continue;
		char what[64];
		snprintf(what, sizeof what, "%s %s, wrong PIN", c->nmm ? "akm-nmm" : "akm-node", c->name);
		EXPECT_RC(run_cmd(c, module_of(c), bad_pin, NULL, false, false, &out), AKM_RC_REFUSED, out, what);
		ck_assert_msg(strstr(out, "CKR_PIN_INCORRECT") != NULL, "%s:\n%s", what, out);
		free(out);
		/* akm-pkcs11 slows down wrong PINs in a row (a pause from the
		 * fourth): a right one in between starts the count again. */
		if (c->nmm) {
			EXPECT_RC(nmm(&out, "list", NULL), AKM_RC_OK, out, "list with the right PIN");
			free(out);
		}
	}
}
END_TEST

START_TEST(test_raw_backend_everywhere)
{
	prepare();
	char *out;
	for (size_t i = 0; i < NCMDS; i++) {
		const cmd *c = &cmds[i];
		if (!(c->flags & STN))
			continue;
		char what[64];
		snprintf(what, sizeof what, "akm-nmm %s on the raw backend", c->name);
		EXPECT_RC(run_cmd(c, env.softhsm_path, pin_file, NULL, false, false, &out), AKM_RC_TOKEN, out, what);
		ck_assert_msg(strstr(out, "is not akm-pkcs11") != NULL, "%s:\n%s", what, out);
		free(out);
	}
}
END_TEST

/* The one vocabulary (docs/json.md), everywhere in v. */
static void check_vocabulary(json_t *v, const char *what, const char *text)
{
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
			check_vocabulary(e, what, text);
		return;
	}
	if (!json_is_object(v))
		return;
	static const char *const retired[] = {"akm_id", "station", "fingerprint", "node_key_sha256"};
	for (size_t k = 0; k < sizeof retired / sizeof retired[0]; k++)
		ck_assert_msg(json_object_get(v, retired[k]) == NULL, "%s: key \"%s\" (docs/json.md):\n%s", what,
		              retired[k], text);
	json_t *site = json_object_get(v, "site");
	if (site != NULL) {
		ck_assert_msg(json_is_string(site) && strncmp(json_string_value(site), "site=", 5) == 0 ? false : true,
		              "%s: \"site\" holds \"site=...\":\n%s", what, text);
		ck_assert_msg(json_object_get(v, "location") != NULL, "%s: \"site\" without \"location\":\n%s", what,
		              text);
	}
	/* An audit record of the station's: its site metadata as fields. */
	json_t *detail = json_object_get(v, "detail");
	if (json_is_string(detail) && strncmp(json_string_value(detail), "site=", 5) == 0)
		ck_assert_msg(json_is_string(json_object_get(v, "site")) && json_is_string(json_object_get(v, "location")),
		              "%s: a record's site metadata only in its detail:\n%s", what, text);
	static const char *const hex_keys[] = {"node_id", "station_id", "pr_id"};
	for (size_t k = 0; k < sizeof hex_keys / sizeof hex_keys[0]; k++) {
		json_t *h = json_object_get(v, hex_keys[k]);
		if (h == NULL || json_is_null(h))
			continue;
		ck_assert_msg(json_is_string(h), "%s: %s is not a string", what, hex_keys[k]);
		const char *s = json_string_value(h);
		ck_assert_msg(strlen(s) > 0 && strspn(s, "0123456789abcdef") == strlen(s), "%s: %s \"%s\" is not hex",
		              what, hex_keys[k], s);
	}
	const char *key;
	json_t *e;
	json_object_foreach(v, key, e)
		check_vocabulary(e, what, text);
}

START_TEST(test_json_everywhere)
{
	prepare();
	char *out;
	const char *json[] = {"--json", NULL};
	for (size_t i = 0; i < NCMDS; i++) {
		const cmd *c = &cmds[i];
		if (!(c->flags & JSON))
			continue;
		char what[64];
		snprintf(what, sizeof what, "%s %s --json", c->nmm ? "akm-nmm" : "akm-node", c->name);
		/* Once onto /dev/full first (exit 5; a command that changes
		 * something must not have), then for real, stdout alone. */
		if (strcmp(c->name, "provision") != 0 && strcmp(c->name, "revoke") != 0 &&
		    strcmp(c->name, "export") != 0 && strcmp(c->name, "enroll") != 0) {
			EXPECT_RC(run_cmd(c, module_of(c), pin_file, json, true, false, &out), AKM_RC_FILES, out, what);
			free(out);
		}
		EXPECT_RC(run_cmd(c, module_of(c), pin_file, json, false, true, &out), AKM_RC_OK, out, what);
		json_error_t err;
		json_t *doc = json_loads(out, 0, &err);
		ck_assert_msg(doc != NULL, "%s: not JSON (%s, line %d):\n%s", what, err.text, err.line, out);
		ck_assert_msg(json_is_object(doc), "%s: not an object:\n%s", what, out);
		check_vocabulary(doc, what, out);
		json_decref(doc);
		free(out);
	}
	/* The values where they are expected. */
	EXPECT_RC(nmm(&out, "show", "m1", "--json", NULL), 0, out, "show");
	json_t *doc = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	json_t *n = json_object_get(doc, "node");
	ck_assert_str_eq(json_string_value(json_object_get(n, "site")), "Matrix");
	ck_assert_str_eq(json_string_value(json_object_get(n, "location")), "Rack 1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(n, "last_verification"), "result")),
	                 "verified");
	/* The station's provision record (the module's own "create" comes first). */
	json_t *rec = NULL, *r;
	size_t ri;
	json_array_foreach(json_object_get(doc, "history"), ri, r)
		if (rec == NULL && strcmp(json_string_value(json_object_get(r, "action")), "provision") == 0)
			rec = r;
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "site")), "Matrix");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "location")), "Rack 1");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "node")), "m1");
	json_decref(doc);
	free(out);
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list");
	doc = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	json_t *counts = json_object_get(doc, "counts");
	/* m1, c000001-3, p1 (provision --json), e1 and e2 (enroll --json) pending */
	ck_assert_int_eq(json_integer_value(json_object_get(counts, "total")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(counts, "state"), "pending")), 2);
	json_decref(doc);
	free(out);
}
END_TEST

START_TEST(test_exit_code_table_documented)
{
	const char *src = getenv("AKM_TEST_SRCDIR");
	ck_assert_ptr_nonnull(src);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/docs/exit-codes.md", src);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s is missing", path);
	static char text[65536];
	size_t len = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[len] = '\0';
	static const struct {
		int code;
		const char *name;
	} table[] = {
		{AKM_RC_OK, "AKM_RC_OK"}, {AKM_RC_USAGE, "AKM_RC_USAGE"}, {AKM_RC_REFUSED, "AKM_RC_REFUSED"},
		{AKM_RC_NOT_FOUND, "AKM_RC_NOT_FOUND"}, {AKM_RC_TOKEN, "AKM_RC_TOKEN"}, {AKM_RC_FILES, "AKM_RC_FILES"},
		{AKM_RC_VERIFY, "AKM_RC_VERIFY"}, {AKM_RC_NETWORK, "AKM_RC_NETWORK"},
		{AKM_RC_INTERRUPTED, "AKM_RC_INTERRUPTED"}, {AKM_RC_TERMINATED, "AKM_RC_TERMINATED"},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		char row[64];
		snprintf(row, sizeof row, "| %d | `%s` |", table[i].code, table[i].name);
		ck_assert_msg(strstr(text, row) != NULL, "docs/exit-codes.md has no row \"%s\"", row);
	}
	ck_assert_msg(strstr(text, "wrong PIN") != NULL, "docs/exit-codes.md does not say where a wrong PIN goes");
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_exit_code_table_documented);
	tcase_add_test(tc, test_help_everywhere);
	tcase_add_test(tc, test_wrong_pin_everywhere);
	tcase_add_test(tc, test_raw_backend_everywhere);
	tcase_add_test(tc, test_json_everywhere);
}

int main(void)
{
	return nmm_test_main("cli-matrix", "matrix", 900, true, add_tests);
}
#endif

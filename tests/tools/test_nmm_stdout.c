/*
 * The tools check what they talk to (issue 10, items 1 and 2):
 *
 *   - every command of akm-nmm and akm-node that prints on success, run with
 *     its stdout on /dev/full (text, --json, --help): exit 5 and "stdout:
 *     write failed: No space left on device" on stderr, not exit 0;
 *   - akm-nmm export --generate-passphrase (text and --json, with --qr-png)
 *     with stdout on /dev/full: exit 5 and nothing changed: no bundle, no
 *     anchor and no QR code on the drive, `list --json` (states, statuses,
 *     sequences) and the whole audit trail as before;
 *   - akm-nmm on the raw SoftHSM2 module (init, list, provision): exit 4,
 *     the message names the module and its token's CK_TOKEN_INFO.manufacturerID, and
 *     nothing is created: through akm-pkcs11 the station is still not
 *     initialised.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nmm-test.h"

#define FULL_MESSAGE "stdout: write failed: No space left on device"
#define PASSPHRASE "Stdout-Test-Passphrase-1"

/* A run with stdout on /dev/full: exit 5 and the message (the caller's
 * rc_expr ran nmm_full or node_full into out). */
#define EXPECT_FULL(rc_expr, out, what)                                                                       \
	do {                                                                                                  \
		EXPECT_RC(rc_expr, 5, out, what);                                                             \
		ck_assert_msg(strstr(out, FULL_MESSAGE) != NULL, "%s: no \"%s\" in:\n%s", what, FULL_MESSAGE, \
		              out);                                                                           \
		free(out);                                                                                    \
		out = NULL;                                                                                   \
	} while (0)

#define EXPECT_OK(rc_expr, out, what)      \
	do {                               \
		EXPECT_RC(rc_expr, 0, out, what); \
		free(out);                 \
		out = NULL;                \
	} while (0)

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* export --generate-passphrase [--json] --qr-png with stdout on /dev/full:
 * exit 5, and nothing on the drive or in the station changed. */
static void generated_export_changes_nothing(const char *node_name, bool json)
{
	char usb[PATH_MAX + 32], qr[PATH_MAX + 32], *out = NULL;
	path_in(usb, sizeof usb, json ? "usb-full-json" : "usb-full");
	path_in(qr, sizeof qr, json ? "qr-json.png" : "qr.png");
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	char *before = nmm_station_state();
	if (json)
		EXPECT_FULL(nmm_full(&out, "export", "--node", node_name, "--out", usb, "--generate-passphrase", "--qr-png",
		                     qr, "--json", NULL),
		            out, "export --generate-passphrase --json > /dev/full");
	else
		EXPECT_FULL(nmm_full(&out, "export", "--node", node_name, "--out", usb, "--generate-passphrase", "--qr-png",
		                     qr, NULL),
		            out, "export --generate-passphrase > /dev/full");
	ck_assert_msg(entries(usb) == 0, "the export left %zu file(s) in %s", entries(usb), usb);
	ck_assert_msg(!exists(qr), "the export left its QR code %s", qr);
	char *after = nmm_station_state();
	ck_assert_msg(strcmp(before, after) == 0, "the station changed:\nbefore:\n%s\nafter:\n%s", before, after);
	/* (the whole audit trail as before: no export record of this node) */
	EXPECT_RC(nmm(&out, "audit", "--node", node_name, "--json", NULL), 0, out, "audit --node");
	ck_assert_msg(strstr(out, "\"action\":\"export\"") == NULL, "an export record of %s:\n%s", node_name, out);
	free(out);
	free(before);
	free(after);
}

START_TEST(test_every_command_checks_stdout)
{
	char *out = NULL, anchor[PATH_MAX + 32], anchor2[PATH_MAX + 32], pass_file[PATH_MAX + 32];
	char usb[PATH_MAX + 32], usb_a[PATH_MAX + 32], req_a[PATH_MAX + 32], req_b[PATH_MAX + 32];
	char hw_a[40], hw_b[40];
	path_in(anchor, sizeof anchor, "anchor.akmp");
	path_in(anchor2, sizeof anchor2, "anchor2.akmp");
	path_in(pass_file, sizeof pass_file, "passphrase");
	path_in(usb, sizeof usb, "usb");
	path_in(usb_a, sizeof usb_a, "usb-a");
	path_in(req_a, sizeof req_a, "node-A.akmr");
	path_in(req_b, sizeof req_b, "node-B.akmr");
	write_file(pass_file, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	ck_assert_int_eq(mkdir(usb_a, 0700), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-A"), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-B"), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-C"), 0);

	/* akm-nmm: the help, and each command (the action done, its report lost). */
	EXPECT_FULL(nmm_full(&out, "--help", NULL), out, "akm-nmm --help");
	EXPECT_FULL(nmm_full(&out, "list", "--help", NULL), out, "akm-nmm list --help");
	EXPECT_FULL(nmm_full(&out, "init", "--anchor-out", anchor, NULL), out, "init");
	EXPECT_FULL(nmm_full(&out, "anchor", "--out", anchor2, NULL), out, "anchor");
	EXPECT_FULL(nmm_full(&out, "anchor", "--out", anchor2, "--json", NULL), out, "anchor --json");
	EXPECT_FULL(nmm_full(&out, "provision", "--node", "n1", "--hw-id", "HW-1", "--delivery", "passphrase", NULL),
	            out, "provision");
	EXPECT_FULL(nmm_full(&out, "provision", "--node", "n2", "--hw-id", "HW-2", "--delivery", "passphrase", "--json",
	                     NULL),
	            out, "provision --json");
	EXPECT_OK(nmm(&out, "provision", "--node", "n3", "--hw-id", "HW-3", "--delivery", "passphrase", NULL), out,
	          "provision n3");
	char hw_c[40];
	node_hw("node-C", hw_c, sizeof hw_c);
	EXPECT_OK(nmm(&out, "provision", "--node", "node-C", "--hw-id", hw_c, NULL), out, "provision node-C");
	EXPECT_FULL(nmm_full(&out, "list", NULL), out, "list");
	EXPECT_FULL(nmm_full(&out, "list", "--json", NULL), out, "list --json");
	EXPECT_FULL(nmm_full(&out, "show", "n1", NULL), out, "show");
	EXPECT_FULL(nmm_full(&out, "show", "n1", "--json", NULL), out, "show --json");
	EXPECT_FULL(nmm_full(&out, "audit", NULL), out, "audit");
	EXPECT_FULL(nmm_full(&out, "audit", "--json", NULL), out, "audit --json");
	EXPECT_FULL(nmm_full(&out, "audit", "--verify", NULL), out, "audit --verify");
	EXPECT_FULL(nmm_full(&out, "audit", "--verify", "--json", NULL), out, "audit --verify --json");
	EXPECT_FULL(nmm_full(&out, "export", "--node", "n1", "--out", usb, "--passphrase-file", pass_file, NULL), out,
	            "export --passphrase-file");
	EXPECT_FULL(nmm_full(&out, "export", "--node", "n1", "--out", usb, "--passphrase-file", pass_file, "--json",
	                     NULL),
	            out, "export --passphrase-file --json");

	/* The passphrase shown once: not shown, nothing done. */
	generated_export_changes_nothing("n2", false);
	generated_export_changes_nothing("n3", true);
	/* And shown, the export is done (the document whole, the passphrase in it). */
	char usb_ok[PATH_MAX + 32], name[PATH_MAX + 48];
	path_in(usb_ok, sizeof usb_ok, "usb-ok");
	ck_assert_int_eq(mkdir(usb_ok, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--node", "n2", "--out", usb_ok, "--generate-passphrase", "--json", NULL), 0, out,
	          "export --generate-passphrase --json");
	char value[256];
	ck_assert_msg(json_member(out, "passphrase", value, sizeof value) && strlen(value) > 8, "printed:\n%s", out);
	ck_assert_msg(json_member(out, "exported", value, sizeof value) && strstr(value, "n2.akmb"), "printed:\n%s",
	              out);
	free(out);
	snprintf(name, sizeof name, "%s/n2.akmb", usb_ok);
	ck_assert(exists(name));

	/* Secure elements. */
	EXPECT_FULL(nmm_full(&out, "write-se", "--node", "node-C", "--se-module", env.softhsm_path, "--se-token", "node-C",
	                     "--se-pin-file", pin_file, NULL),
	            out, "write-se");
	EXPECT_FULL(nmm_full(&out, "verify", "--node", "node-C", "--se-module", env.softhsm_path, "--se-token", "node-C",
	                     "--se-pin-file", pin_file, NULL),
	            out, "verify");
	EXPECT_FULL(nmm_full(&out, "verify", "--node", "node-C", "--se-module", env.softhsm_path, "--se-token", "node-C",
	                     "--se-pin-file", pin_file, "--json", NULL),
	            out, "verify --json");

	/* akm-node, and enrollment. */
	EXPECT_FULL(node_full(&out, "node-A", "--help", NULL), out, "akm-node --help");
	EXPECT_FULL(node_full(&out, "node-A", "hw-id", NULL), out, "akm-node hw-id");
	EXPECT_FULL(node_full(&out, "node-A", "hw-id", "--json", NULL), out, "akm-node hw-id --json");
	node_hw("node-A", hw_a, sizeof hw_a);
	node_hw("node-B", hw_b, sizeof hw_b);
	EXPECT_FULL(node_full(&out, "node-A", "request", "--name", "node-A", "--out", req_a, NULL), out,
	            "akm-node request");
	EXPECT_OK(node(&out, "node-B", "request", "--name", "node-B", "--out", req_b, NULL), out, "request B");
	EXPECT_FULL(nmm_full(&out, "enroll", req_a, NULL), out, "enroll");
	EXPECT_FULL(nmm_full(&out, "enroll", req_b, "--json", NULL), out, "enroll --json");
	EXPECT_FULL(nmm_full(&out, "approve", "node-A", NULL), out, "approve");
	EXPECT_FULL(nmm_full(&out, "reject", "node-B", "--reason", "test", "--json", NULL), out, "reject --json");
	EXPECT_FULL(nmm_full(&out, "revoke", "n1", "--reason", "test", NULL), out, "revoke");
	EXPECT_OK(nmm(&out, "export", "--node", "node-A", "--out", usb_a, NULL), out, "export node-A");
	EXPECT_FULL(node_full(&out, "node-A", "trust", anchor, NULL), out, "akm-node trust");
	EXPECT_FULL(node_full(&out, "node-A", "import", "--dir", usb_a, NULL), out, "akm-node import");
	EXPECT_FULL(node_full(&out, "node-A", "id", NULL), out, "akm-node id");
	EXPECT_FULL(node_full(&out, "node-A", "id", "--json", NULL), out, "akm-node id --json");
}
END_TEST

/* The raw backend module: refused before anything is written. */
START_TEST(test_raw_backend_refused)
{
	char *out = NULL, anchor[PATH_MAX + 32];
	path_in(anchor, sizeof anchor, "anchor.akmp");
	const char *init[] = {nmm_path, "init", "--module", env.softhsm_path, "--token", STATION, "--pin-file", pin_file,
	                      "--anchor-out", anchor, NULL};
	const char *list[] = {nmm_path, "list", "--module", env.softhsm_path, "--token", STATION, "--pin-file", pin_file,
	                      NULL};
	const char *provision[] = {nmm_path, "provision", "--module", env.softhsm_path, "--token", STATION,
	                           "--pin-file", pin_file, "--node", "n1", "--hw-id", "HW-1", NULL};
	const char *const *runs[] = {init, list, provision};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		EXPECT_RC(run_argv(runs[i], &out), 4, out, runs[i][1]);
		ck_assert_msg(strstr(out, env.softhsm_path) && strstr(out, "is not akm-pkcs11") &&
		                  strstr(out, "CK_TOKEN_INFO.manufacturerID is \"SoftHSM"),
		              "%s printed:\n%s", runs[i][1], out);
		free(out);
	}
	ck_assert_msg(!exists(anchor), "init on the raw backend wrote its anchor");
	/* Nothing created: through akm-pkcs11 there is no station. */
	EXPECT_RC(nmm(&out, "list", NULL), 3, out, "list through akm-pkcs11");
	ck_assert_msg(strstr(out, "not initialised"), "printed:\n%s", out);
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_every_command_checks_stdout);
	tcase_add_test(tc, test_raw_backend_refused);
}

int main(void)
{
	return nmm_test_main("nmm-stdout", "stdout", 600, true, add_tests);
}

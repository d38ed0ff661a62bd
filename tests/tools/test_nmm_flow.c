/*
 * The station flow end to end (issue 4, "Must show"): a station token used
 * through akm-pkcs11.so, and one SoftHSM2 token per node, used directly
 * through libsofthsm2.so as the node's secure element.  The real akm-nmm and
 * akm-node run as processes:
 *
 *   - init a station; provision nodes A–E bound to their tokens' serials
 *     (A one by one and B–C from a batch file for passphrase delivery, D–E
 *     from another for delivery to their own keys; a rerun for the other
 *     delivery refused);
 *   - export A–C to a "USB" folder under one batch passphrase, import them
 *     with akm-node (the anchor pinned with --anchor, or with `trust`);
 *   - each node leaves only as made for: D not exported before its key is
 *     recorded, A neither sent to a node key nor written into an element;
 *   - write D and E straight into their tokens (write-se);
 *   - verify all five: exit 0, `list --json` says verified, `akm-node id`
 *     agrees with `show --json`, `audit --verify` passes, pkcs11-tool lists
 *     the relationship keys on the station and on a node;
 *   - enrollment: request -> enroll -> pending (export refused) -> approve ->
 *     export protected by the node's key -> import -> verify; another
 *     enrolled node rejected (export and write-se refused); a forged request
 *     refused;
 *   - a generated batch passphrase: printed once, its QR code PNG holds it,
 *     and it opens the bundles.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nmm-test.h"

#define PASSPHRASE "correct horse battery staple 4"

/* ---- small helpers ------------------------------------------------------ */

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* pkcs11-tool with argv; in an ASan build (this program maps libasan) the
 * uninstrumented pkcs11-tool gets the runtime preloaded, with its own leak
 * detection off, as the interop tests do (tests/interop/interop.c): only
 * for this call, so the tools keep theirs. */
static int run_pkcs11_tool(const char *const *args, char **out)
{
	char asan[PATH_MAX] = "", line[PATH_MAX + 256];
	FILE *maps = fopen("/proc/self/maps", "r");
	while (maps && fgets(line, sizeof line, maps)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strncmp(strrchr(path, '/') + 1, "libasan.so", 10) == 0) {
			snprintf(asan, sizeof asan, "%s", path);
			break;
		}
	}
	if (maps)
		fclose(maps);
	const char *argv[NMM_MAX_ARGS];
	size_t n = 0;
	char preload[PATH_MAX + 16], options[1200];
	if (asan[0]) {
		const char *old = getenv("ASAN_OPTIONS");
		snprintf(preload, sizeof preload, "LD_PRELOAD=%s", asan);
		snprintf(options, sizeof options, "ASAN_OPTIONS=%s%sdetect_leaks=0:verify_asan_link_order=0",
		         old ? old : "", old && *old ? ":" : "");
		argv[n++] = "env";
		argv[n++] = preload;
		argv[n++] = options;
	}
	argv[n++] = "pkcs11-tool";
	for (size_t i = 0; args[i] && n < NMM_MAX_ARGS - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return run_argv(argv, out);
}

/* ---- what the tools print ------------------------------------------------- */

/* How many objects in text have a name/node and a status member. */
static size_t json_count_nodes(const char *text)
{
	size_t n = 0;
	for (const char *p = strchr(text, '{'); p; p = strchr(p + 1, '{')) {
		char v[128], s[64];
		if (json_member_any(p, name_keys, v, sizeof v) && json_member_any(p, status_keys, s, sizeof s))
			n++;
	}
	return n;
}

/* The value after "<label>:" on a line of text output ("node ID: 00ab..."). */
static bool text_field(const char *text, const char *label, char *out, size_t size)
{
	size_t llen = strlen(label);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *p = line;
		while (*p == ' ')
			p++;
		if (strncmp(p, label, llen) != 0 || p[llen] != ':')
			continue;
		p += llen + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t\r\n");
		if (n >= size)
			n = size - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		return n > 0;
	}
	return false;
}

/* ---- node tokens --------------------------------------------------------- */

/* The serial of token `label` read through libsofthsm2.so directly. */
static void token_serial(const char *label, char serial[17])
{
	CK_SLOT_ID slot;
	CK_FUNCTION_LIST *f = node_token_open(label, &slot);
	CK_TOKEN_INFO info;
	ck_assert_int_eq(f->C_GetTokenInfo(slot, &info), CKR_OK);
	size_t n = sizeof info.serialNumber;
	while (n > 0 && info.serialNumber[n - 1] == ' ')
		n--;
	memcpy(serial, info.serialNumber, n);
	serial[n] = '\0';
	f->C_Finalize(NULL);
	/* SoftHSM2 is not unloaded: its atexit handlers stay valid. */
}

typedef struct node_ids {
	char akm_id[80], pr_id[80], station[80], name[80];
} node_ids;

static void node_id(const char *label, node_ids *ids)
{
	char *out;
	EXPECT_RC(node(&out, label, "id", NULL), 0, out, "akm-node id");
	ck_assert_msg(text_field(out, "node ID", ids->akm_id, sizeof ids->akm_id) &&
	              text_field(out, "PR ID", ids->pr_id, sizeof ids->pr_id) &&
	              text_field(out, "station ID", ids->station, sizeof ids->station) &&
	              text_field(out, "name", ids->name, sizeof ids->name),
	              "akm-node id printed:\n%s", out);
	free(out);
}

static void expect_status(const char *list_json, const char *name, const char *status)
{
	const char *obj = json_find_node(list_json, name);
	ck_assert_msg(obj != NULL, "%s is not in list --json:\n%s", name, list_json);
	char s[64];
	ck_assert_msg(json_member_any(obj, status_keys, s, sizeof s), "no status for %s in:\n%s", name, list_json);
	ck_assert_msg(strcmp(s, status) == 0, "%s: status \"%s\", expected \"%s\"", name, s, status);
}

/* ---- the flow ------------------------------------------------------------ */

static const char *const nodes[] = {"node-A", "node-B", "node-C", "node-D", "node-E"};
enum { NODES = 5 };

START_TEST(test_full_flow)
{
	char *out = NULL;
	char hw[NODES][40];
	for (int i = 0; i < NODES; i++) {
		ck_assert_int_eq(akm_testenv_add_token(&env, nodes[i]), 0);
		node_hw(nodes[i], hw[i], sizeof hw[i]);
		char serial[17];
		token_serial(nodes[i], serial);
		ck_assert_msg(strcmp(hw[i], serial) == 0, "akm-node hw-id says %s, the token's serial is %s", hw[i],
		              serial);
	}

	/* A station. */
	char anchor[PATH_MAX + 32];
	path_in(anchor, sizeof anchor, "anchor.akmp");
	EXPECT_RC(nmm(&out, "init", "--site", "Test site", "--location", "Lab 1", "--anchor-out", anchor, NULL), 0,
	          out, "akm-nmm init");
	free(out);
	ck_assert(file_exists(anchor));
	EXPECT_RC(nmm(&out, "init", "--site", "Other", NULL), 2, out, "a second akm-nmm init");
	free(out);

	/* A alone and B-C from a batch file, for delivery on a USB drive under
	 * a passphrase; D-E from another batch, for delivery to their own
	 * keys (the default). */
	EXPECT_RC(nmm(&out, "provision", "--node", nodes[0], "--hw-id", hw[0], "--delivery", "passphrase", NULL), 0, out,
	          "provision A");
	free(out);
	char batch[PATH_MAX + 32], batch_se[PATH_MAX + 32], text[1024] = "# name hw-id\n\n", text_se[1024] = "";
	path_in(batch, sizeof batch, "batch.txt");
	path_in(batch_se, sizeof batch_se, "batch-se.txt");
	for (int i = 1; i < NODES; i++) {
		char *t = i < 3 ? text : text_se;
		size_t used = strlen(t);
		snprintf(t + used, 1024 - used, "%s\t%s\n", nodes[i], hw[i]);
	}
	write_file(batch, text, strlen(text));
	write_file(batch_se, text_se, strlen(text_se));
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, "--delivery", "passphrase", "--json", NULL), 0, out,
	          "provision B-C");
	ck_assert_msg(strstr(out, "\"provisioned\"") != NULL, "provision --json printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--batch", batch_se, NULL), 0, out, "provision D-E");
	free(out);
	/* Rerunning a batch resumes: nothing new, nothing failed. */
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, "--delivery", "passphrase", NULL), 0, out,
	          "provision B-C again");
	ck_assert_msg(strstr(out, "provisioned 0") && strstr(out, "already present 2") && strstr(out, "failed 0"),
	              "a rerun printed:\n%s", out);
	free(out);
	/* The same names for another delivery: refused, named (delivery is
	 * fixed when a node is made). */
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, NULL), 2, out, "provision B-C for node-key delivery");
	ck_assert_msg(strstr(out, "provisioned 0") && strstr(out, "failed 2") &&
	              strstr(out, "already provisioned for passphrase delivery"), "a rerun printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--node", nodes[0], "--hw-id", hw[0], "--delivery", "usb", NULL), 1, out,
	          "provision --delivery usb");
	free(out);
	/* The same name with another hardware value is refused, named. */
	EXPECT_RC(nmm(&out, "provision", "--node", nodes[1], "--hw-id", "some-other-hw", "--delivery", "passphrase", NULL),
	          2, out, "provision B with another hw-id");
	ck_assert_msg(strstr(out, nodes[1]) != NULL, "the refusal does not name the node:\n%s", out);
	free(out);

	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	ck_assert_uint_eq(json_count_nodes(out), NODES);
	for (int i = 0; i < NODES; i++)
		expect_status(out, nodes[i], "created");
	free(out);

	/* A–C on a USB drive, one batch passphrase. */
	char usb[PATH_MAX + 32], pass_file[PATH_MAX + 32];
	path_in(usb, sizeof usb, "usb");
	path_in(pass_file, sizeof pass_file, "passphrase");
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	write_file(pass_file, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
	EXPECT_RC(nmm(&out, "export", "--nodes", "node-A,node-B,node-C", "--out", usb, "--protection", "passphrase",
	              "--passphrase-file", pass_file, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL),
	          0, out, "export A-C");
	free(out);
	char names[1024];
	ck_assert_uint_eq(akm_test_dir_entries(usb, names, sizeof names), 4);
	ck_assert_msg(strstr(names, "node-A.akmb") && strstr(names, "node-B.akmb") && strstr(names, "node-C.akmb") &&
	              strstr(names, "station.akmp"), "the USB folder holds: %s", names);
	char station_anchor[PATH_MAX + 48];
	snprintf(station_anchor, sizeof station_anchor, "%s/station.akmp", usb);

	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	for (int i = 0; i < 3; i++)
		expect_status(out, nodes[i], "exported");
	free(out);

	/* Without a trusted station the node refuses. */
	EXPECT_RC(node(&out, nodes[0], "import", "--dir", usb, "--passphrase-file", pass_file, NULL), 2, out,
	          "import without a trusted station");
	free(out);
	/* A and B pin the anchor from the drive; C trusts it first by fingerprint. */
	for (int i = 0; i < 2; i++) {
		EXPECT_RC(node(&out, nodes[i], "import", "--dir", usb, "--passphrase-file", pass_file, "--anchor",
		               station_anchor, "--trust-on-first-use", NULL), 0, out, "import A/B");
		free(out);
	}
	EXPECT_RC(node(&out, nodes[2], "trust", station_anchor, NULL), 0, out, "trust on C");
	free(out);
	EXPECT_RC(node(&out, nodes[2], "import", "--dir", usb, "--passphrase-file", pass_file, NULL), 0, out,
	          "import C");
	free(out);
	/* D's bundle is not on the drive. */
	EXPECT_RC(node(&out, nodes[3], "import", "--dir", usb, "--passphrase-file", pass_file, "--anchor",
	               station_anchor, "--trust-on-first-use", NULL), 3, out, "import on D from a drive without its bundle");
	free(out);

	/* Each node leaves only the way it was made for: D has no node key
	 * recorded yet (write-se records it), A is for passphrase delivery
	 * (neither written nor sent to a node key); nothing is written. */
	char usb_refused[PATH_MAX + 32];
	path_in(usb_refused, sizeof usb_refused, "usb-refused");
	ck_assert_int_eq(mkdir(usb_refused, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--node", nodes[3], "--out", usb_refused, NULL), 2, out, "export D (no node key)");
	ck_assert_msg(strstr(out, "no node key recorded") != NULL, "export D printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "export", "--node", nodes[0], "--out", usb_refused, "--protection", "node-key", NULL), 2, out,
	          "export A to a node key");
	ck_assert_msg(strstr(out, "passphrase delivery") != NULL, "export A printed:\n%s", out);
	free(out);
	ck_assert_uint_eq(akm_test_dir_entries(usb_refused, names, sizeof names), 0);
	EXPECT_RC(nmm(&out, "write-se", "--node", nodes[0], "--se-module", env.softhsm_path, "--se-token", nodes[0],
	              "--se-pin-file", pin_file, NULL), 2, out, "write-se A (passphrase delivery)");
	free(out);

	/* D and E written straight into their secure elements. */
	for (int i = 3; i < NODES; i++) {
		EXPECT_RC(nmm(&out, "write-se", "--node", nodes[i], "--se-module", env.softhsm_path, "--se-token",
		              nodes[i], "--se-pin-file", pin_file, NULL), 0, out, "write-se D/E");
		free(out);
	}
	/* Writing D into E's token is refused: E's serial is not D's hw-id. */
	EXPECT_RC(nmm(&out, "write-se", "--node", nodes[3], "--se-module", env.softhsm_path, "--se-token",
	              nodes[4], "--se-pin-file", pin_file, NULL), 2, out, "write-se D into E's token");
	free(out);
	/* ... and on the record, as a breach signal. */
	EXPECT_RC(nmm(&out, "audit", "--node", nodes[3], NULL), 0, out, "audit --node D");
	ck_assert_msg(strstr(out, "wrong hardware value") != NULL, "D's trail does not show the refused write:\n%s", out);
	free(out);

	/* All five verify. */
	for (int i = 0; i < NODES; i++) {
		EXPECT_RC(nmm(&out, "verify", "--node", nodes[i], "--se-module", env.softhsm_path, "--se-token",
		              nodes[i], "--se-pin-file", pin_file, NULL), 0, out, nodes[i]);
		free(out);
	}
	/* A node asked through another node's token does not. */
	EXPECT_RC(nmm(&out, "verify", "--node", nodes[0], "--se-module", env.softhsm_path, "--se-token", nodes[1],
	              "--se-pin-file", pin_file, NULL), 6, out, "verify A through B's token");
	free(out);

	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	ck_assert_uint_eq(json_count_nodes(out), NODES);
	for (int i = 0; i < NODES; i++)
		expect_status(out, nodes[i], "verified");
	free(out);

	/* What each node says about itself is what the station recorded. */
	for (int i = 0; i < NODES; i++) {
		node_ids ids;
		node_id(nodes[i], &ids);
		ck_assert_str_eq(ids.name, nodes[i]);
		EXPECT_RC(nmm(&out, "show", nodes[i], "--json", NULL), 0, out, "show --json");
		/* docs/akm-nmm.md: {"node":{"name","node_id","pr_id","station_id","hw_id","site","location",...},"history":[...]} */
		const char *obj = json_find_node(out, nodes[i]);
		ck_assert_msg(obj != NULL, "show --json has no object for %s:\n%s", nodes[i], out);
		char node_id[80] = "", pr_id[80] = "", station_id[80] = "", hw_id[80] = "", site[160] = "",
		     location[160] = "";
		json_member(obj, "node_id", node_id, sizeof node_id);
		json_member(obj, "pr_id", pr_id, sizeof pr_id);
		json_member(obj, "station_id", station_id, sizeof station_id);
		json_member(obj, "hw_id", hw_id, sizeof hw_id);
		json_member(obj, "site", site, sizeof site);
		json_member(obj, "location", location, sizeof location);
		ck_assert_msg(strcmp(node_id, ids.akm_id) == 0 && strcmp(pr_id, ids.pr_id) == 0 &&
		              strcmp(station_id, ids.station) == 0,
		              "%s: akm-node id says AKM ID %s, PR ID %s, station %s; show --json says:\n%s", nodes[i],
		              ids.akm_id, ids.pr_id, ids.station, out);
		ck_assert_msg(strcmp(hw_id, hw[i]) == 0, "show --json gives %s's hw-id as \"%s\", not %s", nodes[i],
		              hw_id, hw[i]);
		/* docs/json.md: site and location are fields of their own. */
		ck_assert_msg(strcmp(site, "Test site") == 0 && strcmp(location, "Lab 1") == 0,
		              "show --json: site \"%s\", location \"%s\"", site, location);
		ck_assert_msg(strstr(out, "\"history\"") != NULL, "show --json has no history:\n%s", out);
		free(out);
	}

	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--node", nodes[0], "--json", NULL), 0, out, "audit --node A --json");
	ck_assert_msg(strstr(out, "verify") != NULL, "A's audit trail has no verify record:\n%s", out);
	free(out);

	/* The relationship keys, seen by a standard PKCS#11 application. */
	if (akm_have_program("pkcs11-tool")) {
		const char *argv[] = {"--module", env.module_path, "--token-label", STATION, "-O", "--login", "--pin",
		                      AKM_TEST_USER_PIN, NULL};
		EXPECT_RC(run_pkcs11_tool(argv, &out), 0, out, "pkcs11-tool -O on the station");
		for (int i = 0; i < NODES; i++) {
			char label[64];
			snprintf(label, sizeof label, "%s/enc", nodes[i]);
			ck_assert_msg(strstr(out, label) != NULL, "pkcs11-tool does not list %s:\n%s", label, out);
			snprintf(label, sizeof label, "%s/mac", nodes[i]);
			ck_assert_msg(strstr(out, label) != NULL, "pkcs11-tool does not list %s:\n%s", label, out);
		}
		free(out);
		for (int i = 0; i < NODES; i += 3) { /* A (USB) and D (written) */
			const char *nargv[] = {"--module", env.softhsm_path, "--token-label", nodes[i], "-O", "--login",
			                       "--pin", AKM_TEST_USER_PIN, NULL};
			EXPECT_RC(run_pkcs11_tool(nargv, &out), 0, out, "pkcs11-tool -O on a node");
			char label[64];
			snprintf(label, sizeof label, "%s/enc", nodes[i]);
			ck_assert_msg(strstr(out, label) != NULL, "the node token has no %s:\n%s", label, out);
			snprintf(label, sizeof label, "%s/mac", nodes[i]);
			ck_assert_msg(strstr(out, label) != NULL, "the node token has no %s:\n%s", label, out);
			free(out);
		}
	} else {
		fprintf(stderr, "nmm-flow: pkcs11-tool not found: the listing through it is skipped\n");
	}
}
END_TEST

START_TEST(test_enrollment)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "init", "--site", "Enrol site", "--location", "Bench", NULL), 0, out, "init");
	free(out);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-F"), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-G"), 0);
	char req_f[PATH_MAX + 32], req_g[PATH_MAX + 32], req_bad[PATH_MAX + 32];
	path_in(req_f, sizeof req_f, "node-F.akmr");
	path_in(req_g, sizeof req_g, "node-G.akmr");
	path_in(req_bad, sizeof req_bad, "forged.akmr");

	/* Export of a node that does not exist: not found. */
	char usb[PATH_MAX + 32];
	path_in(usb, sizeof usb, "usb");
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--node", "node-F", "--out", usb, NULL), 3, out, "export of an unknown node");
	free(out);

	EXPECT_RC(node(&out, "node-F", "request", "--name", "node-F", "--out", req_f, NULL), 0, out, "request F");
	free(out);
	EXPECT_RC(node(&out, "node-G", "request", "--name", "node-G", "--out", req_g, NULL), 0, out, "request G");
	free(out);

	/* A forged request (one byte of G's changed, its signature no longer
	 * matches) is refused and creates nothing. */
	FILE *fp = fopen(req_g, "rb");
	ck_assert_ptr_nonnull(fp);
	unsigned char buf[4096];
	size_t len = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	ck_assert_uint_gt(len, 80);
	buf[len / 2] ^= 0x01;
	write_file(req_bad, buf, len);
	EXPECT_RC(nmm(&out, "enroll", req_bad, NULL), 2, out, "enroll of a forged request");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	ck_assert_uint_eq(json_count_nodes(out), 0);
	free(out);

	EXPECT_RC(nmm(&out, "enroll", req_f, NULL), 0, out, "enroll F");
	free(out);
	EXPECT_RC(nmm(&out, "enroll", req_g, NULL), 0, out, "enroll G");
	free(out);
	EXPECT_RC(nmm(&out, "list", "--pending", "--json", NULL), 0, out, "list --pending");
	ck_assert_msg(json_find_node(out, "node-F") && json_find_node(out, "node-G"), "pending list:\n%s", out);
	free(out);

	/* Pending: neither exported nor written. */
	EXPECT_RC(nmm(&out, "export", "--node", "node-F", "--out", usb, NULL), 2, out, "export of a pending node");
	free(out);
	char names[512];
	ck_assert_msg(akm_test_dir_entries(usb, names, sizeof names) == 0, "a refused export left: %s", names);
	EXPECT_RC(nmm(&out, "write-se", "--node", "node-F", "--se-module", env.softhsm_path, "--se-token", "node-F",
	              "--se-pin-file", pin_file, NULL), 2, out, "write-se of a pending node");
	free(out);

	/* Approved: exported under the node's own key, no passphrase anywhere. */
	EXPECT_RC(nmm(&out, "approve", "node-F", NULL), 0, out, "approve F");
	free(out);
	unsetenv("AKM_PASSPHRASE");
	EXPECT_RC(nmm(&out, "export", "--node", "node-F", "--out", usb, "--protection", "node-key", NULL), 0, out,
	          "export F (node key)");
	free(out);
	char anchor[PATH_MAX + 48];
	snprintf(anchor, sizeof anchor, "%s/station.akmp", usb);
	/* G's token cannot open F's bundle (another node). */
	char bundle_f[PATH_MAX + 48];
	snprintf(bundle_f, sizeof bundle_f, "%s/node-F.akmb", usb);
	EXPECT_RC(node(&out, "node-G", "import", bundle_f, "--anchor", anchor, "--trust-on-first-use", NULL), 2, out,
	          "F's bundle imported on G");
	free(out);
	EXPECT_RC(node(&out, "node-F", "import", "--dir", usb, "--anchor", anchor, "--trust-on-first-use", NULL), 0, out, "import F");
	free(out);
	node_ids ids;
	node_id("node-F", &ids);
	ck_assert_str_eq(ids.name, "node-F");
	EXPECT_RC(nmm(&out, "verify", "--node", "node-F", "--se-module", env.softhsm_path, "--se-token", "node-F",
	              "--se-pin-file", pin_file, NULL), 0, out, "verify F");
	free(out);

	/* Rejected: stays out. */
	EXPECT_RC(nmm(&out, "reject", "node-G", "--reason", "unknown device", NULL), 0, out, "reject G");
	free(out);
	char usb2[PATH_MAX + 32];
	path_in(usb2, sizeof usb2, "usb2");
	ck_assert_int_eq(mkdir(usb2, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--node", "node-G", "--out", usb2, NULL), 2, out, "export of a rejected node");
	free(out);
	ck_assert_msg(akm_test_dir_entries(usb2, names, sizeof names) == 0, "a refused export left: %s", names);
	EXPECT_RC(nmm(&out, "approve", "node-G", NULL), 2, out, "approve after reject");
	free(out);
	EXPECT_RC(nmm(&out, "write-se", "--node", "node-G", "--se-module", env.softhsm_path, "--se-token", "node-G",
	              "--se-pin-file", pin_file, NULL), 2, out, "write-se of a rejected node");
	free(out);
	EXPECT_RC(node(&out, "node-G", "id", NULL), 3, out, "akm-node id on G (never provisioned)");
	free(out);

	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	expect_status(out, "node-F", "verified");
	free(out);
	EXPECT_RC(nmm(&out, "show", "node-G", "--json", NULL), 0, out, "show G");
	ck_assert_msg(strstr(out, "reject") != NULL && strstr(out, "unknown device") != NULL,
	              "show G has no reject record with its reason:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
}
END_TEST

/* A generated batch passphrase: printed once (text and QR code), written as
 * a PNG; the same passphrase (read back from the QR code when zbarimg is
 * there) opens the bundles on the nodes. */
START_TEST(test_generated_passphrase)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "init", "--site", "QR site", NULL), 0, out, "init");
	free(out);
	const char *labels[] = {"node-Q1", "node-Q2"};
	char hw[2][40];
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(akm_testenv_add_token(&env, labels[i]), 0);
		node_hw(labels[i], hw[i], sizeof hw[i]);
		EXPECT_RC(nmm(&out, "provision", "--node", labels[i], "--hw-id", hw[i], "--delivery", "passphrase", NULL), 0,
		          out, "provision");
		free(out);
	}
	char usb[PATH_MAX + 32], png[PATH_MAX + 32];
	path_in(usb, sizeof usb, "usb");
	path_in(png, sizeof png, "passphrase.png");
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--nodes", "node-Q1,node-Q2", "--out", usb, "--protection", "passphrase",
	              "--generate-passphrase", "--qr-png", png, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL),
	          0, out, "export with a generated passphrase");
	/* Six groups of five characters, joined by '-'. */
	char pass[64] = "";
	for (const char *p = out; *p && !pass[0]; p++) {
		size_t n = 0;
		while (n < 35 && (n % 6 == 5 ? p[n] == '-' : (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9')))
			n++;
		if (n == 35 && (p == out || p[-1] == ' ' || p[-1] == '\n') && (p[35] == '\n' || p[35] == '\0' || p[35] == ' '))
			memcpy(pass, p, 35);
	}
	ck_assert_msg(pass[0] != '\0', "no generated passphrase in:\n%s", out);
	/* Shown once: it appears once in the output. */
	ck_assert_ptr_null(strstr(strstr(out, pass) + 1, pass));
	free(out);
	FILE *fp = fopen(png, "rb");
	ck_assert_msg(fp != NULL, "no QR code PNG written");
	unsigned char magic[8];
	ck_assert_uint_eq(fread(magic, 1, 8, fp), 8);
	fclose(fp);
	ck_assert_int_eq(memcmp(magic, "\x89PNG\r\n\x1a\n", 8), 0);
	if (akm_have_program("zbarimg")) {
		const char *argv[] = {"zbarimg", "--quiet", "--raw", png, NULL};
		int rc = run_argv(argv, &out);
		ck_assert_msg(rc == 0 && strstr(out, pass) != NULL, "zbarimg read (exit %d):\n%s", rc, out);
		free(out);
	}
	/* Nowhere on the drive. */
	char names[512];
	akm_test_dir_entries(usb, names, sizeof names);
	ck_assert_ptr_null(strstr(names, "png"));

	char anchor[PATH_MAX + 48];
	snprintf(anchor, sizeof anchor, "%s/station.akmp", usb);
	ck_assert_int_eq(setenv("AKM_PASSPHRASE", pass, 1), 0);
	for (int i = 0; i < 2; i++) {
		EXPECT_RC(node(&out, labels[i], "import", "--dir", usb, "--anchor", anchor, "--trust-on-first-use", NULL), 0, out,
		          "import with the generated passphrase (AKM_PASSPHRASE)");
		free(out);
	}
	unsetenv("AKM_PASSPHRASE");
	for (int i = 0; i < 2; i++) {
		EXPECT_RC(nmm(&out, "verify", "--node", labels[i], "--se-module", env.softhsm_path, "--se-token",
		              labels[i], "--se-pin-file", pin_file, NULL), 0, out, "verify");
		free(out);
	}
}
END_TEST

/* ---- listing without holding every node (issue 14) --------------------------- */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The "name" members of list --json's nodes, in order (at most max). */
static size_t json_names(const char *text, char names[][80], size_t max)
{
	size_t n = 0;
	const char *p = strstr(text, "\"nodes\"");
	const char *end = p ? strstr(p, "\"counts\"") : NULL;
	ck_assert_ptr_nonnull(end);
	for (p = strchr(p, '{'); p != NULL && p < end && n < max; p = strchr(p + 1, '{')) {
		char v[80];
		if (json_member(p, "name", v, sizeof v) && json_member(p, "hw_id", names[n], sizeof names[n])) {
			snprintf(names[n], sizeof names[n], "%s", v);
			n++;
		}
	}
	return n;
}

/* list and list --json stream the nodes in the order they always had:
 * by name (strcmp), also for names that continue another with '-' or '.'
 * (whose labels "<name>/enc" sort the other way), and each node's row says
 * what show says of it; the counts are over every node, the filters pick
 * the rows. */
START_TEST(test_list_streamed_in_name_order)
{
	static const char *const names[] = {
		"m.n", "a-b", "node-1", "Z", "a", "x--y", "a.c", "a-b-c", "node-10", "a0", "ab", "m", "a_b", "x-",
		"a-b.d", "A", "node-1-2", "x-.z", "node-100", "b", "m.n-o", "x", "a-", "node-1.5",
	};
	enum { N = sizeof names / sizeof names[0] };
	char *out = NULL;
	EXPECT_RC(nmm(&out, "init", "--site", "List site", "--location", "Bench", NULL), 0, out, "init");
	free(out);
	char batch[PATH_MAX + 32], text[2048] = "";
	path_in(batch, sizeof batch, "names.txt");
	for (size_t i = 0; i < N; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "%s hw-%zu\n", names[i], i);
	write_file(batch, text, strlen(text));
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, NULL), 0, out, "provision");
	free(out);
	EXPECT_RC(nmm(&out, "revoke", "a-b", NULL), 0, out, "revoke a-b");
	free(out);
	EXPECT_RC(nmm(&out, "revoke", "x", NULL), 0, out, "revoke x");
	free(out);
	const char *sorted[N];
	memcpy(sorted, names, sizeof sorted);
	qsort(sorted, N, sizeof sorted[0], cmp_name);

	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	char got[N + 1][80];
	ck_assert_uint_eq(json_names(out, got, N + 1), N);
	for (size_t i = 0; i < N; i++) {
		ck_assert_msg(strcmp(got[i], sorted[i]) == 0, "list --json: node %zu is %s, expected %s", i, got[i], sorted[i]);
		/* Its row is what show says of it. */
		const char *row = json_find_node(out, sorted[i]);
		ck_assert_ptr_nonnull(row);
		char *shown = NULL;
		EXPECT_RC(nmm(&shown, "show", sorted[i], "--json", NULL), 0, shown, "show");
		ck_assert_ptr_nonnull(json_find_node(shown, sorted[i]));
		static const char *const fields[] = {"state", "status", "hw_id", "node_id", "pr_id", "station_id", "delivery"};
		for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
			char a[200] = "", b[200] = "";
			ck_assert(json_member(row, fields[k], a, sizeof a));
			ck_assert(json_member(json_find_node(shown, sorted[i]), fields[k], b, sizeof b));
			ck_assert_msg(strcmp(a, b) == 0, "%s: list says %s %s, show says %s", sorted[i], fields[k], a, b);
		}
		free(shown);
	}
	ck_assert_ptr_nonnull(strstr(out, "\"total\":24,\"shown\":24"));
	ck_assert_ptr_nonnull(strstr(out, "\"revoked\":2"));
	free(out);

	/* The text rows, in the same order, then the counts. */
	EXPECT_RC(nmm(&out, "list", NULL), 0, out, "list");
	const char *line = strchr(out, '\n');
	for (size_t i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(line);
		char first[80];
		ck_assert_int_eq(sscanf(line + 1, "%79s", first), 1);
		ck_assert_msg(strcmp(first, sorted[i]) == 0, "list: row %zu is %s, expected %s", i, first, sorted[i]);
		line = strchr(line + 1, '\n');
	}
	ck_assert_ptr_nonnull(strstr(out, "24 nodes, 0 pending; by state: active 22 revoked 2"));
	free(out);

	/* A filter picks rows, still in order; the counts stay over all. */
	EXPECT_RC(nmm(&out, "list", "--state", "revoked", "--json", NULL), 0, out, "list --state revoked");
	ck_assert_uint_eq(json_names(out, got, N + 1), 2);
	ck_assert_str_eq(got[0], "a-b");
	ck_assert_str_eq(got[1], "x");
	ck_assert_ptr_nonnull(strstr(out, "\"total\":24,\"shown\":2"));
	free(out);
}
END_TEST

/* provision --count makes its nodes a window at a time and, once
 * AKM_NMM_REOPEN_EVERY nodes were made since the last time, finalises the
 * token and opens it again between two batches (for a backend that frees
 * only then what a long run accumulated): every node is made once, named
 * in order, and the run says (-v) when it reopened. */
START_TEST(test_count_reopens_the_token)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "init", "--site", "Count site", "--location", "Bench", NULL), 0, out, "init");
	free(out);
	ck_assert_int_eq(setenv("AKM_NMM_REOPEN_EVERY", "5000", 1), 0);
	int rc = nmm(&out, "provision", "--count", "12000", "--prefix", "g-", "-v", NULL);
	unsetenv("AKM_NMM_REOPEN_EVERY");
	EXPECT_RC(rc, 0, out, "provision --count 12000");
	ck_assert_ptr_nonnull(strstr(out, "provisioned 12000, already present 0, failed 0"));
	size_t reopened = 0;
	for (const char *p = out; (p = strstr(p, "opening it again")) != NULL; p++)
		reopened++;
	ck_assert_uint_ge(reopened, 1); /* after each batch (NMM_PROVISION_BATCH) that brings 5000 more */
	/* Nothing failed after it: the batches' records signed by the station. */
	ck_assert_msg(strstr(out, "cannot") == NULL && strstr(out, "CKR_") == NULL, "%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--json", NULL), 0, out, "audit --json");
	ck_assert_ptr_null(strstr(out, "\"station_signed\":false,\"not_the_stations\":true"));
	free(out);
	/* A rerun finds every one present. */
	EXPECT_RC(nmm(&out, "provision", "--count", "12000", "--prefix", "g-", NULL), 0, out, "rerun");
	ck_assert_ptr_nonnull(strstr(out, "provisioned 0, already present 12000, failed 0"));
	free(out);
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	ck_assert_ptr_nonnull(strstr(out, "\"total\":12000,\"shown\":12000"));
	const char *first = strstr(out, "\"name\":\"g-000001\""), *last = strstr(out, "\"name\":\"g-012000\"");
	ck_assert(first != NULL && last != NULL && first < last);
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_full_flow);
	tcase_add_test(tc, test_enrollment);
	tcase_add_test(tc, test_generated_passphrase);
	tcase_add_test(tc, test_list_streamed_in_name_order);
	tcase_add_test(tc, test_count_reopens_the_token);
}

int main(void)
{
	return nmm_test_main("nmm-flow", "flow", 600, true, add_tests);
}

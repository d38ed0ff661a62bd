/*
 * Refusals (issue 4, "Must show"): each with a clear message (exit 2, or 5
 * for the file system) and nothing imported or changed.  Real bundles
 * exported by akm-nmm through akm-pkcs11.so, imported by akm-node into
 * SoftHSM2 tokens used directly:
 *
 *   - every byte position of a real bundle with one bit flipped (a
 *     passphrase bundle and a node-key bundle), each a separate akm-node
 *     import: exit 2, and the node token's objects unchanged;
 *   - a bundle for another node, a wrong hardware value (in the station's
 *     record, and given with --hw-id), a wrong passphrase, an older bundle
 *     after a newer one, the same bundle twice, every truncation of a bundle;
 *   - an export into a directory that cannot be written (not a directory, a
 *     read-only medium, a full medium): exit 5, no file left behind, the
 *     node's status unchanged.
 * After the refusals, the untouched bundle still imports: the refusals were
 * about what was wrong with them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nmm-test.h"
#include "lib/hex.h"
#include "shared/p11.h"
#include "akm/pkcs11-akm.h"

#define PASSPHRASE "Refusal-Test-Passphrase-1"

/* ---- helpers of this test ------------------------------------------------- */

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot read %s: %s", path, strerror(errno));
	unsigned char *buf = malloc(65536);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, 65536, fp);
	fclose(fp);
	return buf;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void append_hex(FILE *fp, const unsigned char *v, CK_ULONG len)
{
	char *hex = malloc(2 * (size_t)len + 1);
	ck_assert_ptr_nonnull(hex);
	akm_hex_encode(v, len, hex);
	fputs(hex, fp);
	free(hex);
}

/* Everything a node token holds, as sorted text: one line per object with
 * its class, label, ID and (data objects, public keys) value.  Read through
 * libsofthsm2.so directly, logged in, so private objects count too. */
static char *token_snapshot(const char *label)
{
	CK_SLOT_ID slot;
	CK_FUNCTION_LIST *f = node_token_open(label, &slot);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)),
	                 CKR_OK);
	CK_OBJECT_HANDLE objs[256];
	CK_ULONG n = 0;
	ck_assert_int_eq(f->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	ck_assert_int_eq(f->C_FindObjects(s, objs, 256, &n), CKR_OK);
	ck_assert_int_eq(f->C_FindObjectsFinal(s), CKR_OK);
	char **lines = calloc(n + 1, sizeof *lines);
	ck_assert_ptr_nonnull(lines);
	for (CK_ULONG i = 0; i < n; i++) {
		char *line = NULL;
		size_t line_len = 0;
		FILE *fp = open_memstream(&line, &line_len);
		CK_OBJECT_CLASS cls = 0;
		CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof cls};
		f->C_GetAttributeValue(s, objs[i], &a, 1);
		fprintf(fp, "class=%lu", (unsigned long)cls);
		CK_ATTRIBUTE_TYPE types[] = {CKA_LABEL, CKA_ID, CKA_VALUE, CKA_EC_POINT};
		for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
			unsigned char v[2048];
			CK_ATTRIBUTE at = {types[t], v, sizeof v};
			if (f->C_GetAttributeValue(s, objs[i], &at, 1) != CKR_OK || at.ulValueLen == CK_UNAVAILABLE_INFORMATION)
				continue;
			fprintf(fp, " %lx=", (unsigned long)types[t]);
			append_hex(fp, v, at.ulValueLen);
		}
		fclose(fp);
		lines[i] = line;
	}
	qsort(lines, n, sizeof *lines, cmp_lines);
	char *text = NULL;
	size_t text_len = 0;
	FILE *fp = open_memstream(&text, &text_len);
	fprintf(fp, "%lu objects\n", (unsigned long)n);
	for (CK_ULONG i = 0; i < n; i++) {
		fprintf(fp, "%s\n", lines[i]);
		free(lines[i]);
	}
	fclose(fp);
	free(lines);
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return text;
}

static void export_to(const char *name, const char *dir, const char *protection, const char *pass_file)
{
	char *out;
	mkdir(dir, 0700);
	if (strcmp(protection, "passphrase") == 0)
		EXPECT_RC(nmm(&out, "export", "--node", name, "--out", dir, "--protection", "passphrase",
		              "--passphrase-file", pass_file, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL),
		          0, out, "export");
	else
		EXPECT_RC(nmm(&out, "export", "--node", name, "--out", dir, "--protection", protection, NULL), 0, out,
		          "export");
	free(out);
}

/* akm-node import FILE on token `label`; the exit status, output in *out. */
static int import_file(char **out, const char *label, const char *file, const char *pass_file)
{
	if (pass_file)
		return node(out, label, "import", file, "--passphrase-file", pass_file, NULL);
	return node(out, label, "import", file, NULL);
}

/* A refusal: exit 2 with a message naming akm-node. */
static void expect_refused(const char *label, const char *file, const char *pass_file, const char *what)
{
	char *out;
	int rc = import_file(&out, label, file, pass_file);
	ck_assert_msg(rc == 2, "%s: exit %d, expected 2:\n%s", what, rc, out);
	ck_assert_msg(strstr(out, "akm-node: ") != NULL, "%s: no message:\n%s", what, out);
	free(out);
}

static void expect_unchanged(const char *label, const char *before, const char *what)
{
	char *now = token_snapshot(label);
	ck_assert_msg(strcmp(now, before) == 0, "%s changed the node token:\nbefore:\n%s\nafter:\n%s", what, before,
	              now);
	free(now);
}

/* What `akm-node id` says (exit 3, "not provisioned", before any import),
 * with its exit status, for comparing before and after. */
static void id_text(const char *label, char **out)
{
	char *text;
	int rc = node(&text, label, "id", NULL);
	ck_assert_msg(rc == 0 || rc == 3, "akm-node id: exit %d:\n%s", rc, text);
	ck_assert_int_ge(asprintf(out, "exit %d: %s", rc, text), 0);
	free(text);
}

/* ---- setting up a station and nodes ------------------------------------------ */

static char pass_file[PATH_MAX + 32];

static void station_with_nodes(void)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", "--site", "Refusals", "--location", "Lab", NULL), 0, out, "init");
	free(out);
	path_in(pass_file, sizeof pass_file, "passphrase");
	write_file(pass_file, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
}

static void provision_token_node(const char *name, char *hw, size_t hw_size)
{
	char *out;
	ck_assert_int_eq(akm_testenv_add_token(&env, name), 0);
	node_hw(name, hw, hw_size);
	EXPECT_RC(nmm(&out, "provision", "--node", name, "--hw-id", hw, "--delivery", "passphrase", NULL), 0, out,
	          "provision");
	free(out);
}

/* Flips one bit at every byte position of `bundle` (a different bit from
 * position to position), imports each copy on `label`: every one refused,
 * the token unchanged. */
static void flip_every_byte(const char *label, const char *bundle, const char *pass_for_import, const char *tag)
{
	size_t len;
	unsigned char *good = read_file(bundle, &len);
	ck_assert_uint_gt(len, 64);
	char *before = token_snapshot(label), *id_before;
	id_text(label, &id_before);
	char copy[PATH_MAX + 64];
	snprintf(copy, sizeof copy, "%s/flipped-%s.akmb", env.dir, tag);
	double t0 = now_s();
	for (size_t i = 0; i < len; i++) {
		unsigned char *bad = malloc(len);
		memcpy(bad, good, len);
		bad[i] ^= (unsigned char)(1u << (i % 8));
		write_file(copy, bad, len);
		free(bad);
		char *out;
		int rc = import_file(&out, label, copy, pass_for_import);
		ck_assert_msg(rc == 2, "%s: bit %zu of byte %zu of %zu flipped: exit %d, expected 2:\n%s", tag, i % 8, i,
		              len, rc, out);
		ck_assert_msg(strstr(out, "akm-node: ") != NULL, "%s: byte %zu: no message:\n%s", tag, i, out);
		free(out);
		/* The whole token compared after every refusal. */
		char *now = token_snapshot(label);
		ck_assert_msg(strcmp(now, before) == 0, "%s: byte %zu flipped: the node token changed:\n%s\nvs\n%s", tag,
		              i, before, now);
		free(now);
		if (i % 64 == 0) {
			char *id_now;
			id_text(label, &id_now);
			ck_assert_str_eq(id_now, id_before);
			free(id_now);
		}
	}
	fprintf(stderr, "nmm-refusals: %s: %zu flipped copies refused in %.1f s\n", tag, len, now_s() - t0);
	char *id_now;
	id_text(label, &id_now);
	ck_assert_str_eq(id_now, id_before);
	free(id_now);
	free(id_before);
	free(before);
	free(good);
}

/* ---- the tests ------------------------------------------------------------- */

/* Passphrase bundles: sequence, replay, passphrase, truncation, flips. */
START_TEST(test_passphrase_bundles)
{
	station_with_nodes();
	char hw_p[40], hw_q[40], *out;
	provision_token_node("node-P", hw_p, sizeof hw_p);
	provision_token_node("node-Q", hw_q, sizeof hw_q);
	char d1[PATH_MAX + 32], d2[PATH_MAX + 32], d3[PATH_MAX + 32], d4[PATH_MAX + 32], dq[PATH_MAX + 32];
	path_in(d1, sizeof d1, "usb1");
	path_in(d2, sizeof d2, "usb2");
	path_in(d3, sizeof d3, "usb3");
	path_in(d4, sizeof d4, "usb4");
	path_in(dq, sizeof dq, "usbq");
	char b1[PATH_MAX + 64], b2[PATH_MAX + 64], b3[PATH_MAX + 64], b4[PATH_MAX + 64], bq[PATH_MAX + 64];
	char anchor[PATH_MAX + 64];
	snprintf(b1, sizeof b1, "%s/node-P.akmb", d1);
	snprintf(b2, sizeof b2, "%s/node-P.akmb", d2);
	snprintf(b3, sizeof b3, "%s/node-P.akmb", d3);
	snprintf(b4, sizeof b4, "%s/node-P.akmb", d4);
	snprintf(bq, sizeof bq, "%s/node-Q.akmb", dq);
	snprintf(anchor, sizeof anchor, "%s/station.akmp", d1);
	export_to("node-P", d1, "passphrase", pass_file);
	export_to("node-Q", dq, "passphrase", pass_file);

	/* The station is pinned on both nodes (trust changes the token once). */
	EXPECT_RC(node(&out, "node-P", "trust", anchor, NULL), 0, out, "trust on P");
	free(out);
	EXPECT_RC(node(&out, "node-Q", "trust", anchor, NULL), 0, out, "trust on Q");
	free(out);
	char *fresh_q = token_snapshot("node-Q");

	/* A bundle for another node: Q's on P. */
	char *p_before = token_snapshot("node-P");
	expect_refused("node-P", bq, pass_file, "Q's bundle on P");
	expect_unchanged("node-P", p_before, "Q's bundle on P");
	/* A wrong passphrase. */
	char wrong_pass[PATH_MAX + 32];
	path_in(wrong_pass, sizeof wrong_pass, "wrong-passphrase");
	write_file(wrong_pass, "Refusal-Test-Passphrase-2\n", 26);
	expect_refused("node-P", b1, wrong_pass, "a wrong passphrase");
	expect_unchanged("node-P", p_before, "a wrong passphrase");
	/* A wrong hardware value given on the command line. */
	EXPECT_RC(node(&out, "node-P", "import", b1, "--passphrase-file", pass_file, "--hw-id", hw_q, NULL), 2, out,
	          "import with --hw-id of another node");
	free(out);
	expect_unchanged("node-P", p_before, "a wrong --hw-id");
	free(p_before);

	/* Seq 1 imports; the same bundle a second time is refused. */
	EXPECT_RC(import_file(&out, "node-P", b1, pass_file), 0, out, "import of P's first bundle");
	free(out);
	char *after1 = token_snapshot("node-P");
	expect_refused("node-P", b1, pass_file, "the same bundle twice");
	expect_unchanged("node-P", after1, "the same bundle twice");
	free(after1);

	/* Seq 2 and 3 exported; 3 imported; then 2 (older) is refused. */
	export_to("node-P", d2, "passphrase", pass_file);
	export_to("node-P", d3, "passphrase", pass_file);
	EXPECT_RC(import_file(&out, "node-P", b3, pass_file), 0, out, "import of P's third bundle");
	free(out);
	char *after3 = token_snapshot("node-P");
	expect_refused("node-P", b2, pass_file, "an older bundle after a newer one");
	expect_unchanged("node-P", after3, "an older bundle after a newer one");
	expect_refused("node-P", b1, pass_file, "the first bundle after the third");
	expect_unchanged("node-P", after3, "the first bundle after the third");

	/* Seq 4: every truncation, then every bit-flip position, refused. */
	export_to("node-P", d4, "passphrase", pass_file);
	size_t len;
	unsigned char *good = read_file(b4, &len);
	char cut[PATH_MAX + 32];
	path_in(cut, sizeof cut, "cut.akmb");
	double t0 = now_s();
	for (size_t n = 0; n < len; n++) {
		write_file(cut, good, n);
		int rc = import_file(&out, "node-P", cut, pass_file);
		ck_assert_msg(rc == 2, "P's bundle cut to %zu of %zu bytes: exit %d, expected 2:\n%s", n, len, rc, out);
		free(out);
		if (n % 32 == 0)
			expect_unchanged("node-P", after3, "a truncated bundle");
	}
	/* And one byte too many. */
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, good, len);
	longer[len] = 0;
	write_file(cut, longer, len + 1);
	free(longer);
	expect_refused("node-P", cut, pass_file, "a bundle with a byte appended");
	expect_unchanged("node-P", after3, "truncated bundles");
	fprintf(stderr, "nmm-refusals: %zu truncations refused in %.1f s\n", len, now_s() - t0);
	free(good);

	flip_every_byte("node-P", b4, pass_file, "passphrase bundle");

	/* The untouched seq-4 bundle still imports. */
	EXPECT_RC(import_file(&out, "node-P", b4, pass_file), 0, out, "import of P's fourth bundle");
	free(out);
	free(after3);

	/* Q never took anything: its token is as trust left it. */
	expect_unchanged("node-Q", fresh_q, "the refusals on P");
	free(fresh_q);
	EXPECT_RC(import_file(&out, "node-Q", bq, pass_file), 0, out, "Q's own bundle");
	free(out);
}
END_TEST

/* A node-key bundle (enrolled node): every bit flip refused. */
START_TEST(test_node_key_bundle_flips)
{
	station_with_nodes();
	char *out;
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-K"), 0);
	char req[PATH_MAX + 32], dir[PATH_MAX + 32], bundle[PATH_MAX + 64], anchor[PATH_MAX + 64];
	path_in(req, sizeof req, "node-K.akmr");
	path_in(dir, sizeof dir, "usb");
	snprintf(bundle, sizeof bundle, "%s/node-K.akmb", dir);
	snprintf(anchor, sizeof anchor, "%s/station.akmp", dir);
	EXPECT_RC(node(&out, "node-K", "request", "--name", "node-K", "--out", req, NULL), 0, out, "request");
	free(out);
	EXPECT_RC(nmm(&out, "enroll", req, NULL), 0, out, "enroll");
	free(out);
	EXPECT_RC(nmm(&out, "approve", "node-K", NULL), 0, out, "approve");
	free(out);
	export_to("node-K", dir, "node-key", NULL);
	EXPECT_RC(node(&out, "node-K", "trust", anchor, NULL), 0, out, "trust");
	free(out);
	flip_every_byte("node-K", bundle, NULL, "node-key bundle");
	EXPECT_RC(import_file(&out, "node-K", bundle, NULL), 0, out, "import of the untouched bundle");
	free(out);
}
END_TEST

/* A node provisioned with a hardware value that is not its token's. */
START_TEST(test_wrong_hardware)
{
	station_with_nodes();
	char *out;
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-W"), 0);
	EXPECT_RC(nmm(&out, "provision", "--node", "node-W", "--hw-id", "0000000000000000", "--delivery", "passphrase",
	              NULL), 0, out, "provision W");
	free(out);
	char dir[PATH_MAX + 32], bundle[PATH_MAX + 64], anchor[PATH_MAX + 64];
	path_in(dir, sizeof dir, "usb");
	snprintf(bundle, sizeof bundle, "%s/node-W.akmb", dir);
	snprintf(anchor, sizeof anchor, "%s/station.akmp", dir);
	export_to("node-W", dir, "passphrase", pass_file);
	EXPECT_RC(node(&out, "node-W", "trust", anchor, NULL), 0, out, "trust");
	free(out);
	char *before = token_snapshot("node-W");
	expect_refused("node-W", bundle, pass_file, "a bundle bound to another hardware value");
	expect_unchanged("node-W", before, "a wrong hardware value");
	/* --dir finds no bundle for this node: not found. */
	EXPECT_RC(node(&out, "node-W", "import", "--dir", dir, "--passphrase-file", pass_file, NULL), 3, out,
	          "import --dir with no bundle bound to this node");
	free(out);
	expect_unchanged("node-W", before, "import --dir");
	/* write-se refuses it too: the token's serial is not the hw-id. */
	EXPECT_RC(nmm(&out, "write-se", "--node", "node-W", "--se-module", env.softhsm_path, "--se-token", "node-W",
	              "--se-pin-file", pin_file, NULL), 2, out, "write-se into a token with another serial");
	free(out);
	expect_unchanged("node-W", before, "write-se");
	free(before);
}
END_TEST

/* ---- unwritable export directories -------------------------------------------- */

static void status_of(const char *name, char *status, size_t size)
{
	char *out;
	EXPECT_RC(nmm(&out, "show", name, "--json", NULL), 0, out, "show --json");
	const char *obj = json_find_node(out, name);
	if (!obj)
		obj = out;
	ck_assert_msg(json_member_any(obj, status_keys, status, size), "show --json has no status:\n%s", out);
	free(out);
}

/* An export into `dir` that must fail with exit 5, leaving `dir` as it was
 * (`entries` names) and the node's status unchanged. */
static void expect_export_fails(const char *name, const char *dir, const char *what)
{
	char status_before[64], status_after[64], before[1024] = "", after[1024] = "";
	status_of(name, status_before, sizeof status_before);
	struct stat st;
	bool is_dir = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	if (is_dir)
		akm_test_dir_entries(dir, before, sizeof before);
	char *out;
	int rc = nmm(&out, "export", "--node", name, "--out", dir, "--protection", "passphrase", "--passphrase-file",
	             pass_file, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL);
	ck_assert_msg(rc == 5, "%s: exit %d, expected 5:\n%s", what, rc, out);
	ck_assert_msg(strstr(out, "akm-nmm: ") != NULL, "%s: no message:\n%s", what, out);
	free(out);
	if (is_dir) {
		akm_test_dir_entries(dir, after, sizeof after);
		ck_assert_msg(strcmp(before, after) == 0, "%s: the directory held \"%s\", now \"%s\"", what, before, after);
	}
	status_of(name, status_after, sizeof status_after);
	ck_assert_msg(strcmp(status_before, status_after) == 0, "%s: status %s became %s", what, status_before,
	              status_after);
	fprintf(stderr, "nmm-refusals: %s: refused (exit 5), nothing left, status %s\n", what, status_after);
}

START_TEST(test_unwritable_export)
{
	station_with_nodes();
	char *out;
	EXPECT_RC(nmm(&out, "provision", "--node", "node-R", "--hw-id", "hw-node-R", "--delivery", "passphrase", NULL), 0,
	          out, "provision R");
	free(out);

	/* A path under a regular file (ENOTDIR). */
	char file[PATH_MAX + 32], under_file[PATH_MAX + 48];
	path_in(file, sizeof file, "plain-file");
	write_file(file, "x", 1);
	snprintf(under_file, sizeof under_file, "%s/usb", file);
	expect_export_fails("node-R", under_file, "a directory under a regular file");
	/* A directory that does not exist. */
	char missing[PATH_MAX + 32];
	path_in(missing, sizeof missing, "no-such-dir");
	expect_export_fails("node-R", missing, "a missing directory");

	char ro[PATH_MAX + 32], full[PATH_MAX + 32];
	path_in(ro, sizeof ro, "read-only");
	path_in(full, sizeof full, "full");
	ck_assert_int_eq(mkdir(ro, 0700), 0);
	ck_assert_int_eq(mkdir(full, 0700), 0);
	if (geteuid() != 0) {
		/* Not root: permissions stop us. */
		ck_assert_int_eq(chmod(ro, 0500), 0);
		expect_export_fails("node-R", ro, "a read-only directory (mode 0500)");
		chmod(ro, 0700);
	} else if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		/* Root ignores permissions: real read-only and full media, tmpfs
		 * mounts in this test process's own mount namespace (its children,
		 * the tools, see them; nothing outside does). */
		ck_assert_msg(mount("tmpfs", ro, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k") == 0,
		              "mount read-only tmpfs: %s", strerror(errno));
		expect_export_fails("node-R", ro, "a read-only medium");
		ck_assert_msg(mount("tmpfs", full, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,nr_inodes=64") == 0,
		              "mount tmpfs: %s", strerror(errno));
		char filler[PATH_MAX + 48];
		snprintf(filler, sizeof filler, "%s/filler", full);
		int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ck_assert_int_ge(fd, 0);
		char block[512];
		memset(block, 0xa5, sizeof block);
		while (write(fd, block, sizeof block) > 0)
			;
		ck_assert_int_eq(errno, ENOSPC);
		/* Fill the last partial block too. */
		while (write(fd, block, 1) > 0)
			;
		close(fd);
		expect_export_fails("node-R", full, "a full medium");
		umount2(full, MNT_DETACH);
		umount2(ro, MNT_DETACH);
	} else {
		fprintf(stderr, "nmm-refusals: root without mount namespaces: the read-only and full media are "
		        "not tested (%s)\n", strerror(errno));
	}

	/* And a writable one works. */
	char ok_dir[PATH_MAX + 32];
	path_in(ok_dir, sizeof ok_dir, "usb-ok");
	export_to("node-R", ok_dir, "passphrase", pass_file);
	char status[64];
	status_of("node-R", status, sizeof status);
	ck_assert_str_eq(status, "exported");
}
END_TEST


/* The floors at the station (docs/formats.md, "Passphrase keys"): without
 * AKM_INSECURE_TEST_KDF, export refuses Argon2id below 2 passes / 64 MiB
 * and a passphrase shorter than 16 characters (exit 2, no bundle written,
 * the sequence not raised); at the floor it exports, and the node imports
 * that bundle without the variable.  With AKM_INSECURE_TEST_KDF=1 both
 * tools warn on stderr. */
START_TEST(test_passphrase_floors)
{
	char hw[64], dir[PATH_MAX + 32], bundle[PATH_MAX + 64], short_file[PATH_MAX + 32], *out;
	station_with_nodes();
	provision_token_node("node-F", hw, sizeof hw);
	path_in(dir, sizeof dir, "usb-floor");
	mkdir(dir, 0700);
	snprintf(bundle, sizeof bundle, "%s/node-F.akmb", dir);
	path_in(short_file, sizeof short_file, "short-passphrase");
	write_file(short_file, "abc123\n", 7);

	unsetenv("AKM_INSECURE_TEST_KDF");
	int rc = nmm(&out, "export", "--node", "node-F", "--out", dir, "--protection", "passphrase", "--passphrase-file",
	             pass_file, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL);
	EXPECT_RC(rc, 2, out, "export at 1 pass / 8 MiB");
	ck_assert_msg(strstr(out, "floor") != NULL, "%s", out);
	free(out);
	rc = nmm(&out, "export", "--node", "node-F", "--out", dir, "--protection", "passphrase", "--passphrase-file",
	         pass_file, "--argon2-ops", "2", "--argon2-mem-kib", "65535", NULL);
	EXPECT_RC(rc, 2, out, "export at 2 passes / 64 MiB - 1 KiB");
	free(out);
	rc = nmm(&out, "export", "--node", "node-F", "--out", dir, "--protection", "passphrase", "--passphrase-file",
	         short_file, NULL);
	EXPECT_RC(rc, 2, out, "export with a 6-character passphrase");
	ck_assert_msg(strstr(out, "at least 16") != NULL, "%s", out);
	free(out);
	ck_assert_msg(access(bundle, F_OK) != 0, "a refused export wrote %s", bundle);
	char status[64];
	status_of("node-F", status, sizeof status);
	ck_assert_msg(strcmp(status, "exported") != 0, "a refused export changed the status to %s", status);

	rc = nmm(&out, "export", "--node", "node-F", "--out", dir, "--protection", "passphrase", "--passphrase-file",
	         pass_file, "--argon2-ops", "2", "--argon2-mem-kib", "65536", NULL);
	EXPECT_RC(rc, 0, out, "export at the floor");
	ck_assert_msg(strstr(out, "AKM_INSECURE_TEST_KDF") == NULL, "%s", out);
	free(out);
	EXPECT_RC(import_file(&out, "node-F", bundle, pass_file), 2, out, "import without the anchor");
	free(out);
	char anchor[PATH_MAX + 64];
	snprintf(anchor, sizeof anchor, "%s/station.akmp", dir);
	EXPECT_RC(node(&out, "node-F", "import", bundle, "--passphrase-file", pass_file, "--anchor", anchor, "--trust-on-first-use", NULL), 0, out,
	          "import at the floor");
	free(out);

	setenv("AKM_INSECURE_TEST_KDF", "1", 1);
	rc = nmm(&out, "export", "--node", "node-F", "--out", dir, "--protection", "passphrase", "--passphrase-file",
	         pass_file, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL);
	EXPECT_RC(rc, 0, out, "export at 1 pass / 8 MiB with AKM_INSECURE_TEST_KDF=1");
	ck_assert_msg(strstr(out, "AKM_INSECURE_TEST_KDF=1") != NULL, "no warning:\n%s", out);
	free(out);
	unsetenv("AKM_INSECURE_TEST_KDF");
	rc = import_file(&out, "node-F", bundle, pass_file);
	EXPECT_RC(rc, 2, out, "import of a bundle below the floor");
	ck_assert_msg(strstr(out, "floor") != NULL, "%s", out);
	free(out);
	setenv("AKM_INSECURE_TEST_KDF", "1", 1);
	rc = import_file(&out, "node-F", bundle, pass_file);
	EXPECT_RC(rc, 0, out, "import below the floor with AKM_INSECURE_TEST_KDF=1");
	ck_assert_msg(strstr(out, "AKM_INSECURE_TEST_KDF=1") != NULL, "no warning:\n%s", out);
	free(out);
}
END_TEST

/* verify compares the element's serial with the PR's hardware binding: a
 * clone (another element that imported the node's passphrase bundle with
 * --hw-id set to the node's value) holds the same record and keys and
 * proves the MAC key, but its serial differs: exit 6, audited; the genuine
 * element verifies. */
START_TEST(test_verify_clone)
{
	station_with_nodes();
	char hw[64], *out;
	provision_token_node("node-V", hw, sizeof hw);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-V-clone"), 0);
	char dir[PATH_MAX + 32], bundle[PATH_MAX + 64], anchor[PATH_MAX + 64];
	path_in(dir, sizeof dir, "usb-v");
	snprintf(bundle, sizeof bundle, "%s/node-V.akmb", dir);
	snprintf(anchor, sizeof anchor, "%s/station.akmp", dir);
	export_to("node-V", dir, "passphrase", pass_file);
	EXPECT_RC(node(&out, "node-V", "import", bundle, "--passphrase-file", pass_file, "--anchor", anchor, "--trust-on-first-use", NULL), 0,
	          out, "import into node-V");
	free(out);
	EXPECT_RC(node(&out, "node-V-clone", "import", bundle, "--passphrase-file", pass_file, "--anchor", anchor, "--trust-on-first-use",
	               "--hw-id", hw, NULL), 0, out, "import into the clone (claiming node-V's hardware value)");
	free(out);
	EXPECT_RC(nmm(&out, "verify", "--node", "node-V", "--se-module", env.softhsm_path, "--se-token", "node-V-clone",
	              "--se-pin-file", pin_file, NULL), 6, out, "verify against the clone");
	ck_assert_msg(strstr(out, "serial") != NULL, "%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "show", "node-V", NULL), 0, out, "show");
	ck_assert_msg(strstr(out, "serial is not the node's hardware binding") != NULL, "no audit record:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "verify", "--node", "node-V", "--se-module", env.softhsm_path, "--se-token", "node-V",
	              "--se-pin-file", pin_file, NULL), 0, out, "verify against the genuine element");
	free(out);
}
END_TEST

/* A self-enrollment cannot squat a name quietly, nor reuse a hardware
 * value unseen: a request for "node-P" claiming node-T's hardware value is
 * enrolled (pending); provisioning node-P then fails naming the pending
 * request and the commands to settle it (not "already present"); approve
 * shows the request's node key fingerprint (as akm-node request printed
 * it) and warns, on stderr and in --json, that the hardware value is bound
 * to node-T's PR too. */
START_TEST(test_enrollment_squat_and_reuse)
{
	station_with_nodes();
	char hw_t[64], *out, req[PATH_MAX + 32];
	provision_token_node("node-T", hw_t, sizeof hw_t);
	ck_assert_int_eq(akm_testenv_add_token(&env, "node-S"), 0);
	path_in(req, sizeof req, "squat.akmr");
	EXPECT_RC(node(&out, "node-S", "request", "--name", "node-P", "--hw-id", hw_t, "--out", req, "--json", NULL), 0, out,
	          "request node-P");
	char fp[80];
	ck_assert_msg(json_member(out, "node_key_fingerprint", fp, sizeof fp), "%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "enroll", req, NULL), 0, out, "enroll node-P");
	free(out);
	int rc = nmm(&out, "provision", "--node", "node-P", "--hw-id", "hw-genuine-P", NULL);
	ck_assert_msg(rc != 0, "provision over a pending request: exit 0:\n%s", out);
	ck_assert_msg(strstr(out, "pending enrollment request") != NULL && strstr(out, "akm-nmm approve node-P") != NULL &&
	              strstr(out, "akm-nmm reject node-P") != NULL && strstr(out, fp) != NULL,
	              "provision over a pending request:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "approve", "node-P", "--json", NULL), 0, out, "approve node-P");
	char got[80];
	const char *obj = strchr(out, '{');
	ck_assert_msg(obj && json_member(obj, "node_key_fingerprint", got, sizeof got) && strcmp(got, fp) == 0,
	              "approve --json: no fingerprint %s:\n%s", fp, out);
	ck_assert_msg(strstr(out, "already bound to node-T") != NULL, "no warning on stderr:\n%s", out);
	ck_assert_msg(strstr(out, "\"hw_also_bound_to\":[\"node-T\"]") != NULL, "no warning in --json:\n%s", out);
	free(out);
}
END_TEST

/* The station's audit records are signed; another application holding the
 * PIN can append records to the same trail (actor "app"), and show/audit
 * mark those as not the station's: one without a signature (missing), one
 * with a genuine record's signed detail under another action (invalid).
 * The station's own records verify ("station_signed": true).  The forged "verify"
 * record does not count as the node's last verification (list, show). */
START_TEST(test_foreign_audit_records)
{
	station_with_nodes();
	char hw[64], *out;
	provision_token_node("node-A", hw, sizeof hw);
	EXPECT_RC(nmm(&out, "show", "node-A", "--json", NULL), 0, out, "show --json");
	ck_assert_msg(strstr(out, "\"station_signature\":\"valid\"") != NULL, "no signed record:\n%s", out);
	ck_assert_msg(strstr(out, "\"not_the_stations\":true") == NULL, "%s", out);
	char pr_hex[80];
	const char *obj = json_find_node(out, "node-A");
	ck_assert_msg(obj && json_member(obj, "pr_id", pr_hex, sizeof pr_hex), "%s", out);
	/* A signed detail of the station's, to copy. */
	const char *sigp = strstr(out, "; station-sig=");
	ck_assert_msg(sigp != NULL, "%s", out);
	const char *d = sigp;
	while (d > out && strncmp(d, "\"detail\":\"", 10) != 0)
		d--;
	ck_assert_msg(d > out, "%s", out);
	d += 10;
	char signed_detail[1024];
	size_t dl = strcspn(d, "\"");
	ck_assert_uint_lt(dl, sizeof signed_detail);
	memcpy(signed_detail, d, dl);
	signed_detail[dl] = '\0';
	ck_assert_msg(strstr(signed_detail, "; station-sig=") != NULL, "%s", signed_detail);
	free(out);

	/* Another application on the station token. */
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.module_path, STATION) == 0, "%s", p.err);
	ck_assert_msg(akm_p11_login(&p, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) == 0, "%s", p.err);
	uint8_t rid[32];
	size_t rid_len = 0;
	ck_assert_int_eq(akm_hex_decode(pr_hex, rid, sizeof rid, &rid_len), 0);
	const char *forged[2][2] = {
		{"verify", "site=Refusals; location=Lab; node=node-A; se=forged; seq=1"},
		{"revoke", signed_detail},
	};
	for (int i = 0; i < 2; i++) {
		CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
		CK_ULONG res = CKR_OK;
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof cls},
			{CKA_TOKEN, &yes, sizeof yes},
			{CKA_AKM_AUDIT_ACTION, (void *)forged[i][0], strlen(forged[i][0])},
			{CKA_AKM_AUDIT_DETAIL, (void *)forged[i][1], strlen(forged[i][1])},
			{CKA_AKM_AUDIT_RESULT, &res, sizeof res},
			{CKA_AKM_RELATIONSHIP_ID, rid, rid_len},
		};
		CK_OBJECT_HANDLE h;
		ck_assert_int_eq(p.f->C_CreateObject(p.session, t, 6, &h), CKR_OK);
	}
	akm_p11_close(&p);

	EXPECT_RC(nmm(&out, "show", "node-A", NULL), 0, out, "show");
	ck_assert_msg(strstr(out, "NOT THE STATION'S: signature missing") != NULL, "forged record not marked:\n%s", out);
	ck_assert_msg(strstr(out, "NOT THE STATION'S: signature invalid") != NULL, "copied detail not marked:\n%s", out);
	free(out);
	/* The forged "verify" record (result CKR_OK) is no verification. */
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	ck_assert_msg(strstr(out, "\"last_verification\":null") != NULL, "a forged record counted as a verification:\n%s",
	              out);
	free(out);
	EXPECT_RC(nmm(&out, "show", "node-A", "--json", NULL), 0, out, "show --json");
	ck_assert_msg(strstr(out, "\"last_verification\":null") != NULL, "a forged record counted as a verification:\n%s",
	              out);
	free(out);
	EXPECT_RC(nmm(&out, "audit", "--json", NULL), 0, out, "audit --json");
	ck_assert_msg(strstr(out, "\"station_signature\":\"missing\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"not_the_stations\":true") != NULL, "%s", out);
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_foreign_audit_records);
	tcase_add_test(tc, test_enrollment_squat_and_reuse);
	tcase_add_test(tc, test_verify_clone);
	tcase_add_test(tc, test_passphrase_floors);
	tcase_add_test(tc, test_wrong_hardware);
	tcase_add_test(tc, test_unwritable_export);
	tcase_add_test(tc, test_passphrase_bundles);
	tcase_add_test(tc, test_node_key_bundle_flips);
}

int main(void)
{
	return nmm_test_main("nmm-refusals", "refusals", 600, true, add_tests);
}

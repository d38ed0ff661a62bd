/*
 * akm-node: the node side of provisioning (docs/akm-node.md).  A thin
 * PKCS#11 client of the node's own token (its secure element, or any
 * PKCS#11 token): it shows the token's hardware value, pins the station's
 * trust anchor, imports a USB bundle (the keys are unwrapped inside the
 * token), prints the node's AKM ID and PR ID, and writes an enrollment
 * request signed by the node's identity key.
 *
 *   akm-node [--module PATH] [--token URI|LABEL] [--pin-file FILE] [--json]
 *            (hw-id | trust | import | id | request) [options]
 *
 * Exit status: 0 ok; 1 usage; 2 refused (bad or untrusted input); 3 not
 * found; 4 token or module failure; 5 file-system error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/hex.h"
#include "out.h"
#include "p11.h"
#include "secret.h"
#include "transfer.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_REFUSED = 2,
	EXIT_NOT_FOUND = 3,
	EXIT_TOKEN = 4,
	EXIT_FS = 5,
};

#define FILE_MAX 4096 /* no anchor, request or bundle is larger */

typedef struct common {
	const char *module, *token, *pin_file;
	bool json;
} common;

static int say(int code, const char *what, const char *why)
{
	if (why != NULL && why[0] != '\0')
		fprintf(stderr, "akm-node: %s: %s\n", what, why);
	else
		fprintf(stderr, "akm-node: %s\n", what);
	return code;
}

/* ---------------------------------------------------------------------- */
/* Usage                                                                   */

static const char common_help[] =
	"Common options:\n"
	"  --module PATH       the token's PKCS#11 module (else $AKM_MODULE)\n"
	"  --token URI|LABEL   the token: a PKCS#11 URI or its label (else $AKM_TOKEN,\n"
	"                      else the only token of the module)\n"
	"  --pin-file FILE     the user PIN, first line of FILE (else $AKM_PIN, else a prompt)\n"
	"  --json              machine-readable output on stdout\n"
	"  -h, --help          this help\n";

static const struct subhelp {
	const char *name, *text;
} helps[] = {
	{ "hw-id", "usage: akm-node hw-id [common options]\n"
	           "Prints the token's hardware value (its serial number): the value a station\n"
	           "binds this node's provisioning relationship to.\n" },
	{ "trust", "usage: akm-node trust FILE [--fingerprint HEX] [common options]\n"
	           "Pins the station's trust anchor FILE (written by 'akm-nmm anchor') in the\n"
	           "token.  With --fingerprint, the SHA-256 of FILE must equal HEX.  A node\n"
	           "trusts one station: a different anchor is refused (exit 2).\n" },
	{ "import", "usage: akm-node import (FILE | --dir DIR) [--hw-id VALUE]\n"
	            "                       [--passphrase-file FILE] [--anchor FILE] [common options]\n"
	            "Checks a USB bundle against this node (station signature, hardware value,\n"
	            "node key, sequence number) and unwraps its keys into the token.\n"
	            "  --dir DIR              pick the *.akmb bound to this node's hardware value\n"
	            "  --hw-id VALUE          this node's hardware value (default: the token serial)\n"
	            "  --passphrase-file FILE the bundle passphrase (else $AKM_PASSPHRASE, else a prompt)\n"
	            "  --anchor FILE          pin this station anchor first if none is pinned\n"
	            "                         (if one is, it must be the same)\n"
	            "Refusals exit 2 and change nothing in the token.\n" },
	{ "id", "usage: akm-node id [common options]\n"
	        "Prints the node's AKM ID, PR ID, station ID, sequence number and name\n"
	        "(exit 3 when no bundle was imported yet).\n" },
	{ "request", "usage: akm-node request --name NAME [--hw-id VALUE] --out FILE [common options]\n"
	             "Writes an enrollment request for NAME (1-64 characters of A-Z a-z 0-9 . _ -),\n"
	             "signed by the node's identity key (made in the token on first use), for\n"
	             "'akm-nmm enroll'.  --hw-id defaults to the token serial.\n" },
};

static void usage_all(FILE *to)
{
	fputs("usage: akm-node [common options] COMMAND [options]\n"
	      "Commands:\n"
	      "  hw-id     print this node's hardware value\n"
	      "  trust     pin the station's trust anchor\n"
	      "  import    import a USB bundle into the token\n"
	      "  id        print the node's AKM ID and PR ID\n"
	      "  request   write an enrollment request\n"
	      "'akm-node COMMAND --help' describes each.\n",
	      to);
	fputs(common_help, to);
	fputs("Exit status: 0 ok, 1 usage, 2 refused, 3 not found, 4 token or module failure,\n"
	      "5 file-system error.\n", to);
}

static void usage_sub(const char *name, FILE *to)
{
	for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
		if (strcmp(helps[i].name, name) == 0) {
			fputs(helps[i].text, to);
			fputs(common_help, to);
			return;
		}
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* Reads a small file.  Returns 0, or an exit code with the message printed. */
static int read_small(const char *path, const char *what, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		char m[600];
		snprintf(m, sizeof m, "%s %s", what, path);
		return say(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FS, m, strerror(errno));
	}
	size_t n = fread(buf, 1, cap, f);
	bool err = ferror(f) != 0;
	bool more = !err && n == cap && fgetc(f) != EOF;
	fclose(f);
	char m[600];
	snprintf(m, sizeof m, "%s %s", what, path);
	if (err)
		return say(EXIT_FS, m, "read error");
	if (more)
		return say(EXIT_REFUSED, m, "too large");
	*len = n;
	return 0;
}

static int open_token(const common *c, akm_p11 *p, bool login)
{
	const char *module = c->module ? c->module : getenv("AKM_MODULE");
	const char *token = c->token ? c->token : getenv("AKM_TOKEN");
	if (module == NULL || module[0] == '\0') {
		memset(p, 0, sizeof *p);
		return say(EXIT_USAGE, "no PKCS#11 module", "give --module PATH or set AKM_MODULE");
	}
	if (token != NULL && token[0] == '\0')
		token = NULL;
	if (akm_p11_open(p, module, token) != 0)
		return say(EXIT_TOKEN, "opening the token", p->err);
	if (!login)
		return 0;
	akm_secret pin = { 0 };
	char err[256];
	if (akm_secret_read(&pin, c->pin_file, "AKM_PIN", "User PIN: ", "PIN", err, sizeof err) != 0)
		return say(EXIT_USAGE, "logging in", err);
	int rc = akm_p11_login(p, &pin);
	akm_secret_free(&pin);
	if (rc != 0)
		return say(strstr(p->err, "CKR_PIN_") ? EXIT_REFUSED : EXIT_TOKEN, "logging in", p->err);
	return 0;
}

/* The node's hardware value: --hw-id (checked; p unused), else the token
 * serial. */
static int node_hw(const akm_p11 *p, const char *given, char out[AKM_FMT_HW_MAX + 1])
{
	if (given != NULL) {
		size_t n = strlen(given);
		bool printable = true;
		for (size_t i = 0; i < n; i++)
			printable = printable && given[i] > ' ' && given[i] < 0x7f;
		if (n == 0 || n > AKM_FMT_HW_MAX || !printable)
			return say(EXIT_USAGE, "--hw-id",
			           "the hardware value must have 1 to 64 printable characters, no spaces");
		memcpy(out, given, n + 1);
		return 0;
	}
	char serial[17];
	akm_p11_serial(p, serial);
	if (serial[0] == '\0')
		return say(EXIT_TOKEN, "hardware value", "the token has no serial number: give --hw-id");
	memcpy(out, serial, strlen(serial) + 1);
	return 0;
}

static bool valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > AKM_FMT_NAME_MAX)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static void hex(const uint8_t *in, size_t len, char *out)
{
	akm_hex_encode(in, len, out);
}

/* Whether a station anchor is pinned (for --anchor's undo on refusal). */
static int anchor_pinned(akm_p11 *p, bool *pinned, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)AKM_NODE_ANCHOR_LABEL, sizeof AKM_NODE_ANCHOR_LABEL - 1 },
	};
	size_t n = 0;
	if (akm_p11_find(p, t, 2, h, 1, &n) != 0)
		return -1;
	*pinned = n > 0;
	return 0;
}

/* Reads and parses an anchor file. */
static int load_anchor(const char *path, akm_anchor *a, uint8_t fingerprint[32])
{
	uint8_t buf[FILE_MAX];
	size_t len;
	int rc = read_small(path, "anchor", buf, sizeof buf, &len);
	if (rc != 0)
		return rc;
	akm_fmt_rc frc = akm_anchor_parse(buf, len, a);
	if (frc != AKM_FMT_OK) {
		char m[600];
		snprintf(m, sizeof m, "%s is not a station anchor", path);
		return say(EXIT_REFUSED, m, akm_fmt_strerror(frc));
	}
	crypto_hash_sha256(fingerprint, buf, len);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Sub-commands                                                            */

static int cmd_hw_id(const common *c)
{
	akm_p11 p;
	int rc = open_token(c, &p, false);
	if (rc == 0) {
		char serial[17];
		akm_p11_serial(&p, serial);
		if (c->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "hw_id", serial);
			akm_json_object_end(&j);
			akm_json_finish(&j);
		} else {
			printf("%s\n", serial);
		}
	}
	akm_p11_close(&p);
	return rc;
}

static int cmd_trust(const common *c, const char *file, const char *fingerprint)
{
	akm_anchor a;
	uint8_t fp[32];
	int rc = load_anchor(file, &a, fp);
	if (rc != 0)
		return rc;
	if (fingerprint != NULL) {
		uint8_t want[32];
		size_t n;
		if (akm_hex_decode(fingerprint, want, sizeof want, &n) != 0 || n != 32)
			return say(EXIT_USAGE, "--fingerprint", "expected 64 hex digits (SHA-256)");
		if (sodium_memcmp(want, fp, 32) != 0)
			return say(EXIT_REFUSED, file, "the anchor's fingerprint differs from --fingerprint");
	}
	akm_p11 p;
	if ((rc = open_token(c, &p, true)) == 0) {
		char err[512];
		int t = akm_node_trust(&p, &a, err, sizeof err);
		if (t == -1)
			rc = say(EXIT_REFUSED, "trust", err);
		else if (t != 0)
			rc = say(EXIT_TOKEN, "trust", err);
	}
	akm_p11_close(&p);
	if (rc != 0)
		return rc;
	char id[2 * AKM_FMT_ID_MAX + 1], fph[65];
	hex(a.station_id, a.station_id_len, id);
	hex(fp, 32, fph);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "station", id);
		akm_json_kv_string(&j, "fingerprint", fph);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("trusted station %s (anchor fingerprint %s)\n", id, fph);
	}
	return 0;
}

/* The newest bundle in dir bound to hw; exit code 3 when there is none. */
static int pick_bundle(const char *dir, const char *hw, char *path, size_t path_cap, uint8_t *buf,
                       size_t *len)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return say(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FS, dir, strerror(errno));
	struct dirent *e;
	bool found = false;
	uint64_t best_seq = 0;
	uint8_t cand[FILE_MAX];
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".akmb") != 0 || e->d_name[0] == '.')
			continue;
		char p[4096];
		if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p)
			continue;
		FILE *f = fopen(p, "rb");
		if (f == NULL)
			continue;
		size_t got = fread(cand, 1, sizeof cand, f);
		fclose(f);
		akm_bundle *b = malloc(sizeof *b);
		size_t signed_len;
		if (b == NULL)
			break;
		if (akm_bundle_parse(cand, got, b, &signed_len) == AKM_FMT_OK && b->hw_len == strlen(hw) &&
		    memcmp(b->hw, hw, b->hw_len) == 0 && (!found || b->seq > best_seq)) {
			found = true;
			best_seq = b->seq;
			memcpy(buf, cand, got);
			*len = got;
			snprintf(path, path_cap, "%s", p);
		}
		free(b);
	}
	closedir(d);
	if (!found) {
		char m[600];
		snprintf(m, sizeof m, "no bundle for this node (hardware value %s) in %s", hw, dir);
		return say(EXIT_NOT_FOUND, m, NULL);
	}
	return 0;
}

typedef struct import_opts {
	const char *file, *dir, *hw_id, *passphrase_file, *anchor;
} import_opts;

static int cmd_import(const common *c, const import_opts *o)
{
	akm_anchor anchor;
	uint8_t fp[32];
	char hw[AKM_FMT_HW_MAX + 1];
	int rc;
	if (o->hw_id != NULL && (rc = node_hw(NULL, o->hw_id, hw)) != 0)
		return rc;
	if (o->anchor != NULL && (rc = load_anchor(o->anchor, &anchor, fp)) != 0)
		return rc;

	akm_p11 p;
	if ((rc = open_token(c, &p, true)) != 0) {
		akm_p11_close(&p);
		return rc;
	}
	uint8_t buf[FILE_MAX];
	size_t len = 0;
	char path[4096];
	akm_secret pass = { 0 };
	bool pinned_now = false;
	CK_OBJECT_HANDLE anchor_obj = CK_INVALID_HANDLE;
	char err[512];

	if ((rc = node_hw(&p, o->hw_id, hw)) != 0)
		goto out;
	if (o->file != NULL) {
		snprintf(path, sizeof path, "%s", o->file);
		if ((rc = read_small(o->file, "bundle", buf, sizeof buf, &len)) != 0)
			goto out;
	} else if ((rc = pick_bundle(o->dir, hw, path, sizeof path, buf, &len)) != 0) {
		goto out;
	}

	bool pinned;
	if (anchor_pinned(&p, &pinned, &anchor_obj) != 0) {
		rc = say(EXIT_TOKEN, "reading the pinned station anchor", p.err);
		goto out;
	}
	if (o->anchor != NULL) {
		int t = akm_node_trust(&p, &anchor, err, sizeof err);
		if (t != 0) {
			rc = say(t == -1 ? EXIT_REFUSED : EXIT_TOKEN, "--anchor", err);
			goto out;
		}
		if (!pinned) {
			pinned_now = true;
			if (anchor_pinned(&p, &pinned, &anchor_obj) != 0 || !pinned) {
				rc = say(EXIT_TOKEN, "pinning the station anchor", p.err);
				goto out;
			}
		}
	} else if (!pinned) {
		rc = say(EXIT_REFUSED, "no trusted station",
		         "pin the station's anchor with 'akm-node trust FILE' or give --anchor FILE");
		goto out;
	}

	/* A passphrase only for a bundle that asks for one. */
	akm_bundle *peek = malloc(sizeof *peek);
	size_t signed_len;
	bool wants_pass = peek != NULL && akm_bundle_parse(buf, len, peek, &signed_len) == AKM_FMT_OK &&
	                  peek->protection == AKM_BUNDLE_PASSPHRASE;
	free(peek);
	if (wants_pass &&
	    akm_secret_read(&pass, o->passphrase_file, "AKM_PASSPHRASE", "Bundle passphrase: ",
	                    "passphrase", err, sizeof err) != 0) {
		rc = say(EXIT_USAGE, path, err);
		goto out;
	}

	uint8_t file_hash[32];
	crypto_hash_sha256(file_hash, buf, len);
	akm_open_args args = { .hw = hw, .passphrase = wants_pass ? &pass : NULL, .file_hash = file_hash };
	akm_node_state s;
	akm_open_rc orc = akm_transfer_open(&p, buf, len, &args, &s, err, sizeof err);
	if (orc != AKM_OPEN_OK) {
		rc = say(orc == AKM_OPEN_TOKEN_ERROR ? EXIT_TOKEN : EXIT_REFUSED, path, err);
		goto out;
	}
	pinned_now = false; /* the anchor stays with the accepted bundle */

	char node_id[2 * AKM_FMT_ID_MAX + 1], pr_id[2 * AKM_FMT_ID_MAX + 1], st[2 * AKM_FMT_ID_MAX + 1];
	hex(s.node_id, s.node_id_len, node_id);
	hex(s.pr_id, s.pr_id_len, pr_id);
	hex(s.station_id, s.station_id_len, st);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "file", path);
		akm_json_kv_string(&j, "name", s.name);
		akm_json_kv_string(&j, "node_id", node_id);
		akm_json_kv_string(&j, "pr_id", pr_id);
		akm_json_kv_string(&j, "station", st);
		akm_json_kv_uint(&j, "sequence", s.seq);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("imported %s: node %s, AKM ID %s, PR ID %s, sequence %llu\n", path, s.name, node_id,
		       pr_id, (unsigned long long)s.seq);
	}
	rc = 0;
out:
	if (pinned_now && anchor_obj != CK_INVALID_HANDLE)
		p.f->C_DestroyObject(p.session, anchor_obj); /* a refusal changes nothing */
	akm_secret_free(&pass);
	akm_p11_close(&p);
	return rc;
}

static int cmd_id(const common *c)
{
	akm_p11 p;
	int rc = open_token(c, &p, true);
	if (rc != 0) {
		akm_p11_close(&p);
		return rc;
	}
	akm_node_state s;
	int src = akm_node_state_read(&p, &s, NULL);
	if (src < 0)
		rc = say(EXIT_TOKEN, "reading the node state", p.err);
	else if (src == 1)
		rc = say(EXIT_NOT_FOUND, "not provisioned", "no bundle was imported into this token");
	akm_p11_close(&p);
	if (rc != 0)
		return rc;
	char node_id[2 * AKM_FMT_ID_MAX + 1], pr_id[2 * AKM_FMT_ID_MAX + 1], st[2 * AKM_FMT_ID_MAX + 1];
	char bh[65];
	hex(s.node_id, s.node_id_len, node_id);
	hex(s.pr_id, s.pr_id_len, pr_id);
	hex(s.station_id, s.station_id_len, st);
	hex(s.bundle_hash, 32, bh);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "akm_id", node_id);
		akm_json_kv_string(&j, "pr_id", pr_id);
		akm_json_kv_string(&j, "station", st);
		akm_json_kv_uint(&j, "sequence", s.seq);
		akm_json_kv_string(&j, "name", s.name);
		akm_json_key(&j, "hw_id");
		akm_json_string_n(&j, (const char *)s.hw, s.hw_len);
		akm_json_kv_uint(&j, "imported", s.imported);
		akm_json_kv_string(&j, "bundle_sha256", bh);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("AKM ID: %s\nPR ID: %s\nstation: %s\nsequence: %llu\nname: %s\n", node_id, pr_id, st,
		       (unsigned long long)s.seq, s.name);
	}
	return 0;
}

static int cmd_request(const common *c, const char *name, const char *hw_id, const char *out)
{
	if (name == NULL || out == NULL)
		return say(EXIT_USAGE, "request", "--name NAME and --out FILE are required");
	if (!valid_name(name))
		return say(EXIT_USAGE, "--name", "a node name has 1 to 64 characters of A-Z a-z 0-9 . _ -");
	char hw[AKM_FMT_HW_MAX + 1];
	int rc;
	if (hw_id != NULL && (rc = node_hw(NULL, hw_id, hw)) != 0)
		return rc;
	akm_p11 p;
	rc = open_token(c, &p, true);
	if (rc != 0) {
		akm_p11_close(&p);
		return rc;
	}
	akm_request r;
	memset(&r, 0, sizeof r);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t buf[FILE_MAX];
	size_t len, signed_len;
	uint8_t digest[32];
	char err[512];
	if ((rc = node_hw(&p, hw_id, hw)) != 0)
		goto out;
	if (akm_node_identity(&p, true, &pub, &priv, r.node_point) != 0) {
		rc = say(EXIT_TOKEN, "the node identity key", p.err);
		goto out;
	}
	snprintf(r.name, sizeof r.name, "%s", name);
	r.hw_len = strlen(hw);
	memcpy(r.hw, hw, r.hw_len);
	randombytes_buf(r.nonce, sizeof r.nonce);
	r.created = (uint64_t)time(NULL);
	akm_fmt_rc frc = akm_request_encode_signed(&r, buf, sizeof buf, &signed_len);
	if (frc != AKM_FMT_OK) {
		rc = say(EXIT_USAGE, "request", akm_fmt_strerror(frc));
		goto out;
	}
	crypto_hash_sha256(digest, buf, signed_len);
	if (akm_p11_sign_digest(&p, priv, digest, r.sig) != 0) {
		rc = say(EXIT_TOKEN, "signing the request", p.err);
		goto out;
	}
	if ((frc = akm_request_finish(&r, buf, sizeof buf, &len)) != AKM_FMT_OK) {
		rc = say(EXIT_TOKEN, "request", akm_fmt_strerror(frc));
		goto out;
	}
	if (akm_write_atomic(NULL, out, buf, len, 0644, err, sizeof err) != 0) {
		rc = say(EXIT_FS, "writing the request", err);
		goto out;
	}
	uint8_t kfp[32];
	char kfph[65];
	crypto_hash_sha256(kfp, r.node_point, sizeof r.node_point);
	hex(kfp, 32, kfph);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "name", name);
		akm_json_kv_string(&j, "hw_id", hw);
		akm_json_kv_string(&j, "out", out);
		akm_json_kv_string(&j, "node_key_sha256", kfph);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("request for %s (hardware value %s) written to %s; node key SHA-256 %s\n", name, hw,
		       out, kfph);
	}
out:
	akm_p11_close(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

enum {
	OPT_MODULE = 256, OPT_TOKEN, OPT_PIN_FILE, OPT_JSON, OPT_FINGERPRINT, OPT_DIR, OPT_HW_ID,
	OPT_PASSPHRASE_FILE, OPT_ANCHOR, OPT_NAME, OPT_OUT,
};

static const struct option long_opts[] = {
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "fingerprint", required_argument, NULL, OPT_FINGERPRINT },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "hw-id", required_argument, NULL, OPT_HW_ID },
	{ "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
	{ "anchor", required_argument, NULL, OPT_ANCHOR },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "out", required_argument, NULL, OPT_OUT },
	{ NULL, 0, NULL, 0 },
};

/* Which sub-command takes which option. */
static bool option_allowed(const char *cmd, int opt)
{
	switch (opt) {
	case OPT_MODULE: case OPT_TOKEN: case OPT_PIN_FILE: case OPT_JSON: case 'h':
		return true;
	case OPT_FINGERPRINT:
		return strcmp(cmd, "trust") == 0;
	case OPT_DIR: case OPT_PASSPHRASE_FILE: case OPT_ANCHOR:
		return strcmp(cmd, "import") == 0;
	case OPT_HW_ID:
		return strcmp(cmd, "import") == 0 || strcmp(cmd, "request") == 0;
	case OPT_NAME: case OPT_OUT:
		return strcmp(cmd, "request") == 0;
	default:
		return false;
	}
}

typedef struct cli {
	common c;
	const char *fingerprint, *dir, *hw_id, *passphrase_file, *anchor, *name, *out;
	bool help;
} cli;

/* Parses options (for `cmd`, or the common ones before it when cmd is
 * NULL).  Returns 0 or EXIT_USAGE. */
static int parse(int argc, char **argv, const char *cmd, cli *o)
{
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, cmd ? ":h" : "+:h", long_opts, NULL)) != -1) {
		if (opt == '?') {
			fprintf(stderr, "akm-node: unknown option %s\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (opt == ':') {
			fprintf(stderr, "akm-node: option %s needs a value\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (!option_allowed(cmd ? cmd : "", opt)) {
			fprintf(stderr, "akm-node: option %s does not apply to %s\n", argv[optind - 1],
			        cmd ? cmd : "every command");
			return EXIT_USAGE;
		}
		switch (opt) {
		case OPT_MODULE: o->c.module = optarg; break;
		case OPT_TOKEN: o->c.token = optarg; break;
		case OPT_PIN_FILE: o->c.pin_file = optarg; break;
		case OPT_JSON: o->c.json = true; break;
		case 'h': o->help = true; break;
		case OPT_FINGERPRINT: o->fingerprint = optarg; break;
		case OPT_DIR: o->dir = optarg; break;
		case OPT_HW_ID: o->hw_id = optarg; break;
		case OPT_PASSPHRASE_FILE: o->passphrase_file = optarg; break;
		case OPT_ANCHOR: o->anchor = optarg; break;
		case OPT_NAME: o->name = optarg; break;
		case OPT_OUT: o->out = optarg; break;
		default: break;
		}
	}
	return 0;
}

static int extra_args(const char *cmd, int have, int want)
{
	if (have == want)
		return 0;
	fprintf(stderr, "akm-node: %s: %s\n", cmd, have < want ? "missing argument" : "too many arguments");
	usage_sub(cmd, stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	akm_secret_init();
	cli o;
	memset(&o, 0, sizeof o);
	if (parse(argc, argv, NULL, &o) != 0)
		return EXIT_USAGE;
	if (optind >= argc) {
		usage_all(o.help ? stdout : stderr);
		return o.help ? EXIT_OK : EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	bool known = false;
	for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
		known = known || strcmp(helps[i].name, cmd) == 0;
	if (!known) {
		fprintf(stderr, "akm-node: unknown command %s\n", cmd);
		usage_all(stderr);
		return EXIT_USAGE;
	}
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; /* glibc: start over, on the sub-command's arguments */
	if (parse(sub_argc, sub_argv, cmd, &o) != 0) {
		usage_sub(cmd, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		usage_sub(cmd, stdout);
		return EXIT_OK;
	}
	int npos = sub_argc - optind;
	char **pos = sub_argv + optind;

	if (strcmp(cmd, "hw-id") == 0) {
		int rc = extra_args(cmd, npos, 0);
		return rc ? rc : cmd_hw_id(&o.c);
	}
	if (strcmp(cmd, "trust") == 0) {
		int rc = extra_args(cmd, npos, 1);
		return rc ? rc : cmd_trust(&o.c, pos[0], o.fingerprint);
	}
	if (strcmp(cmd, "import") == 0) {
		if ((npos == 1) == (o.dir != NULL)) {
			fprintf(stderr, "akm-node: import: give either a bundle FILE or --dir DIR\n");
			usage_sub(cmd, stderr);
			return EXIT_USAGE;
		}
		import_opts io = { npos == 1 ? pos[0] : NULL, o.dir, o.hw_id, o.passphrase_file, o.anchor };
		return cmd_import(&o.c, &io);
	}
	if (strcmp(cmd, "id") == 0) {
		int rc = extra_args(cmd, npos, 0);
		return rc ? rc : cmd_id(&o.c);
	}
	int rc = extra_args(cmd, npos, 0);
	return rc ? rc : cmd_request(&o.c, o.name, o.hw_id, o.out);
}

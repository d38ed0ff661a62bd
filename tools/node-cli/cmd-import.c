/* akm-node trust, import (docs/akm-node.md): the station's anchor and its
 * bundles into the node's token. */
#include "node-cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/hex.h"

/* ---- trust ---- */

typedef struct trust_opts {
	const char *fingerprint;
} trust_opts;

static int run_trust(const node_cli *c, const void *opts, int npos, char **pos)
{
	const trust_opts *o = opts;
	int rc = node_cli_args(&node_cmd_trust, npos, 1);
	if (rc != 0)
		return rc;
	const char *file = pos[0];
	akm_anchor a;
	uint8_t fp[32];
	if ((rc = akm_node_load_anchor(file, &a, fp)) != 0)
		return rc;
	if (o->fingerprint != NULL) {
		uint8_t want[32];
		size_t n;
		if (akm_hex_decode(o->fingerprint, want, sizeof want, &n) != 0 || n != 32)
			return akm_report_why(AKM_RC_USAGE, "--fingerprint", "expected 64 hex digits (SHA-256)");
		if (sodium_memcmp(want, fp, 32) != 0)
			return akm_report_why(AKM_RC_REFUSED, file, "the anchor's fingerprint differs from --fingerprint");
	}
	akm_p11 p;
	if ((rc = node_cli_token_open(c, &p, true)) == 0) {
		char err[512];
		int t = akm_node_trust(&p, &a, err, sizeof err);
		if (t != 0)
			rc = akm_report_why(t == -1 ? AKM_RC_REFUSED : AKM_RC_TOKEN, "trust", err);
	}
	akm_p11_close(&p);
	if (rc != 0)
		return rc;
	char id[2 * AKM_FMT_ID_MAX + 1], fph[65];
	akm_hex_encode(a.station_id, a.station_id_len, id);
	akm_hex_encode(fp, 32, fph);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "station_id", id);
		akm_json_kv_string(&j, "anchor_fingerprint", fph);
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	printf("trusted station %s (anchor fingerprint %s)\n", id, fph);
	return 0;
}

static const node_cli_opt trust_options[] = {
	NODE_OPT(trust_opts, fingerprint, "fingerprint"),
};

const node_cli_cmd node_cmd_trust = {
	"trust", "pin the station's trust anchor",
	"usage: akm-node trust FILE [--fingerprint HEX] [common options]\n"
	"Pins the station's trust anchor FILE (written by 'akm-nmm anchor') in the\n"
	"token.  With --fingerprint, the SHA-256 of FILE must equal HEX.  A node\n"
	"trusts one station: a different anchor is refused (exit 2).\n",
	NODE_OPTS(trust_options), sizeof(trust_opts), run_trust,
};

/* ---- import ---- */

typedef struct import_opts {
	const char *dir, *hw_id, *passphrase_file, *anchor;
} import_opts;

static int print_imported(const node_cli *c, const char *path, const akm_node_state *s)
{
	char node_id[2 * AKM_FMT_ID_MAX + 1], pr_id[2 * AKM_FMT_ID_MAX + 1], st[2 * AKM_FMT_ID_MAX + 1];
	akm_hex_encode(s->node_id, s->node_id_len, node_id);
	akm_hex_encode(s->pr_id, s->pr_id_len, pr_id);
	akm_hex_encode(s->station_id, s->station_id_len, st);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "file", path);
		akm_json_kv_string(&j, "name", s->name);
		akm_json_kv_string(&j, "node_id", node_id);
		akm_json_kv_string(&j, "pr_id", pr_id);
		akm_json_kv_string(&j, "station_id", st);
		akm_json_kv_uint(&j, "sequence", s->seq);
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	printf("imported %s: node %s, AKM ID %s, PR ID %s, sequence %llu\n", path, s->name, node_id, pr_id,
	       (unsigned long long)s->seq);
	return 0;
}

static int run_import(const node_cli *c, const void *opts, int npos, char **pos)
{
	const import_opts *o = opts;
	if ((npos == 1) == (o->dir != NULL)) {
		fprintf(stderr, "akm-node: import: give either a bundle FILE or --dir DIR\n");
		node_cli_usage(&node_cmd_import, stderr);
		return AKM_RC_USAGE;
	}
	akm_anchor anchor;
	uint8_t fp[32];
	char hw[AKM_FMT_HW_MAX + 1];
	int rc;
	if (o->hw_id != NULL && (rc = akm_node_hw(NULL, o->hw_id, hw)) != 0)
		return rc;
	if (o->anchor != NULL && (rc = akm_node_load_anchor(o->anchor, &anchor, fp)) != 0)
		return rc;

	akm_p11 p;
	if ((rc = node_cli_token_open(c, &p, true)) != 0) {
		akm_p11_close(&p);
		return rc;
	}
	akm_secret pass = { 0 };
	akm_node_import_job job = {
		.file = npos == 1 ? pos[0] : NULL, .dir = o->dir, .hw = hw,
		.anchor = o->anchor != NULL ? &anchor : NULL,
	};
	if ((rc = akm_node_hw(&p, o->hw_id, hw)) != 0 || (rc = akm_node_import_prepare(&p, &job)) != 0)
		goto out;
	if (job.wants_passphrase) {
		char err[512];
		if (akm_secret_read(&pass, o->passphrase_file, "AKM_PASSPHRASE", "Bundle passphrase: ", "passphrase", err,
		                    sizeof err) != 0) {
			rc = akm_report_why(AKM_RC_USAGE, job.path, err);
			goto out;
		}
	}
	akm_node_state s;
	if ((rc = akm_node_import_finish(&p, &job, job.wants_passphrase ? &pass : NULL, &s)) == 0)
		rc = print_imported(c, job.path, &s);
out:
	akm_node_import_end(&p, &job);
	akm_secret_free(&pass);
	akm_p11_close(&p);
	return rc;
}

static const node_cli_opt import_options[] = {
	NODE_OPT(import_opts, dir, "dir"),
	NODE_OPT(import_opts, hw_id, "hw-id"),
	NODE_OPT(import_opts, passphrase_file, "passphrase-file"),
	NODE_OPT(import_opts, anchor, "anchor"),
};

const node_cli_cmd node_cmd_import = {
	"import", "import a USB bundle into the token",
	"usage: akm-node import (FILE | --dir DIR) [--hw-id VALUE]\n"
	"                       [--passphrase-file FILE] [--anchor FILE] [common options]\n"
	"Checks a USB bundle against this node (station signature, hardware value,\n"
	"node key, sequence number) and unwraps its keys into the token.\n"
	"  --dir DIR              pick the *.akmb bound to this node's hardware value\n"
	"  --hw-id VALUE          this node's hardware value (default: the token serial)\n"
	"  --passphrase-file FILE the bundle passphrase (else $AKM_PASSPHRASE, else a prompt)\n"
	"  --anchor FILE          pin this station anchor first if none is pinned\n"
	"                         (if one is, it must be the same)\n"
	"Refusals exit 2 and change nothing in the token.\n",
	NODE_OPTS(import_options), sizeof(import_opts), run_import,
};

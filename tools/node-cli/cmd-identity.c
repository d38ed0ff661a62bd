/* akm-node hw-id, id, request (docs/akm-node.md): who this node is. */
#include "node-cli/cli.h"
#include "shared/tokens.h"

#include <stdio.h>
#include <string.h>

#include "lib/hex.h"

typedef struct no_opts {
	char unused;
} no_opts;

/* ---- hw-id ---- */

static int run_hw_id(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)opts;
	(void)pos;
	int rc = node_cli_args(&node_cmd_hw_id, npos, 0);
	if (rc != 0)
		return rc;
	akm_p11 p;
	rc = node_cli_token_open(c, &p, false);
	if (rc == 0) {
		char serial[17];
		akm_p11_serial(&p, serial);
		if (c->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "hw_id", serial);
			akm_json_object_end(&j);
			rc = akm_json_finish(&j);
		} else {
			printf("%s\n", serial);
		}
	}
	akm_p11_close(&p);
	return rc;
}

const node_cli_cmd node_cmd_hw_id = {
	"hw-id", "print this node's hardware value",
	"usage: akm-node hw-id [common options]\n"
	"Prints the token's hardware value (its serial number): the value a station\n"
	"binds this node's provisioning relationship to.\n",
	NULL, 0, sizeof(no_opts), run_hw_id,
};

/* ---- tokens ---- */

static int run_tokens(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)opts;
	(void)pos;
	int rc = node_cli_args(&node_cmd_tokens, npos, 0);
	if (rc != 0)
		return rc;
	akm_p11_target t;
	char err[2200];
	if (akm_p11_resolve(&t, c->module, c->token, c->pin_file, "AKM_MODULE", "AKM_TOKEN", err, sizeof err) != 0)
		return akm_report_why(AKM_RC_USAGE, "tokens", err);
	return akm_tokens_print("tokens", t.module, c->json);
}

const node_cli_cmd node_cmd_tokens = {
	"tokens", "list the module's tokens",
	"usage: akm-node tokens [common options]\n"
	"Lists the tokens of the module (--module, or a token URI's module-path):\n"
	"slot, label, serial, manufacturer, model, flags and a URI naming each.  No PIN.\n",
	NULL, 0, sizeof(no_opts), run_tokens,
};

/* ---- id ---- */

static int run_id(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)opts;
	(void)pos;
	int rc = node_cli_args(&node_cmd_id, npos, 0);
	if (rc != 0)
		return rc;
	akm_p11 p;
	if ((rc = node_cli_token_open(c, &p, true)) != 0) {
		akm_p11_close(&p);
		return rc;
	}
	akm_node_state s;
	int src = akm_node_state_read(&p, &s, NULL);
	if (src < 0)
		rc = akm_report_why(AKM_RC_TOKEN, "reading the node state", p.err);
	else if (src == 1)
		rc = akm_report_why(AKM_RC_NOT_FOUND, "not provisioned", "no bundle was imported into this token");
	akm_p11_close(&p);
	if (rc != 0)
		return rc;
	char node_id[2 * AKM_FMT_ID_MAX + 1], pr_id[2 * AKM_FMT_ID_MAX + 1], st[2 * AKM_FMT_ID_MAX + 1];
	char bh[65];
	akm_hex_encode(s.node_id, s.node_id_len, node_id);
	akm_hex_encode(s.pr_id, s.pr_id_len, pr_id);
	akm_hex_encode(s.station_id, s.station_id_len, st);
	akm_hex_encode(s.bundle_hash, 32, bh);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node_id", node_id);
		akm_json_kv_string(&j, "pr_id", pr_id);
		akm_json_kv_string(&j, "station_id", st);
		akm_json_kv_uint(&j, "sequence", s.seq);
		akm_json_kv_string(&j, "name", s.name);
		akm_json_key(&j, "hw_id");
		akm_json_string_n(&j, (const char *)s.hw, s.hw_len);
		akm_json_kv_uint(&j, "imported", s.imported);
		akm_json_kv_string(&j, "bundle_sha256", bh);
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	printf("node ID: %s\nPR ID: %s\nstation ID: %s\nsequence: %llu\nname: %s\n", node_id, pr_id, st,
	       (unsigned long long)s.seq, s.name);
	return 0;
}

const node_cli_cmd node_cmd_id = {
	"id", "print the node's AKM ID and PR ID",
	"usage: akm-node id [common options]\n"
	"Prints the node's AKM ID, PR ID, station ID, sequence number and name\n"
	"(exit 3 when no bundle was imported yet).\n",
	NULL, 0, sizeof(no_opts), run_id,
};

/* ---- request ---- */

typedef struct request_opts {
	const char *name, *hw_id, *out;
} request_opts;

static int run_request(const node_cli *c, const void *opts, int npos, char **pos)
{
	const request_opts *o = opts;
	(void)pos;
	int rc = node_cli_args(&node_cmd_request, npos, 0);
	if (rc != 0)
		return rc;
	if (o->name == NULL || o->out == NULL)
		return akm_report_why(AKM_RC_USAGE, "request", "--name NAME and --out FILE are required");
	/* The station's rule (nmm_valid_name): no leading '.' or '-' either. */
	if (!akm_fmt_name_ok(o->name) || o->name[0] == '.' || o->name[0] == '-')
		return akm_report_why(AKM_RC_USAGE, "--name",
		                      "a node name has 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting with . or -");
	char hw[AKM_FMT_HW_MAX + 1];
	if (o->hw_id != NULL && (rc = akm_node_hw(NULL, o->hw_id, hw)) != 0)
		return rc;
	akm_p11 p;
	if ((rc = node_cli_token_open(c, &p, true)) != 0) {
		akm_p11_close(&p);
		return rc;
	}
	uint8_t kfp[32];
	if ((rc = akm_node_hw(&p, o->hw_id, hw)) == 0 && (rc = akm_node_request(&p, o->name, hw, o->out, kfp)) == 0) {
		char kfph[65];
		akm_hex_encode(kfp, 32, kfph);
		if (c->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "name", o->name);
			akm_json_kv_string(&j, "hw_id", hw);
			akm_json_kv_string(&j, "out", o->out);
			akm_json_kv_string(&j, "node_key_fingerprint", kfph);
			akm_json_object_end(&j);
			rc = akm_json_finish(&j);
		} else {
			printf("request for %s (hardware value %s) written to %s; node key SHA-256 %s\n", o->name, hw,
			       o->out, kfph);
		}
	}
	akm_p11_close(&p);
	return rc;
}

static const node_cli_opt request_options[] = {
	NODE_OPT(request_opts, name, "name"),
	NODE_OPT(request_opts, hw_id, "hw-id"),
	NODE_OPT(request_opts, out, "out"),
};

const node_cli_cmd node_cmd_request = {
	"request", "write an enrollment request",
	"usage: akm-node request --name NAME [--hw-id VALUE] --out FILE [common options]\n"
	"Writes an enrollment request for NAME (1-64 characters of A-Z a-z 0-9 . _ -),\n"
	"signed by the node's identity key (made in the token on first use), for\n"
	"'akm-nmm enroll'.  --hw-id defaults to the token serial.\n",
	NODE_OPTS(request_options), sizeof(request_opts), run_request,
};

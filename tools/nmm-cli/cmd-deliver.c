/* akm-nmm export, write-se, verify (docs/akm-nmm.md): a node's provisioning
 * relationship onto a USB drive or into its secure element, and checking
 * that the node holds it. */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/interrupt.h"
#include "shared/qr.h"
#include "lib/hex.h"

/* ---- export ---- */

typedef struct export_opts {
	const char *node, *nodes, *out, *protection, *passphrase_file, *qr_png;
	bool all, generate_passphrase;
	unsigned long argon2_ops, argon2_mem_kib;
	bool argon2_ops_set, argon2_mem_set;
} export_opts;

/* The generated passphrase, shown once and before anything is written: on
 * stdout (with --json, the document begins with it, and the rest of it
 * follows the export; on a terminal stderr also gets its QR code).  Only
 * when stdout took it does the export go on: else AKM_RC_FILES. */
static int show_passphrase(const nmm_cli *c, const akm_secret *pass, akm_json *j)
{
	if (c->json) {
		if (isatty(STDERR_FILENO) == 1) {
			fprintf(stderr, "batch passphrase (shown once):\n");
			akm_qr_print(stderr, pass->data);
		}
		akm_json_init(j, stdout);
		akm_json_object_begin(j);
		akm_json_kv_string(j, "passphrase", pass->data);
	} else {
		printf("batch passphrase (shown once): %s\n", pass->data);
		akm_qr_print(stdout, pass->data);
	}
	return akm_stdout_check();
}

static const char *protection_name(uint8_t protection)
{
	return protection == AKM_BUNDLE_NODE_KEY ? "node-key" : "passphrase";
}

/* What the export wrote (with --json into the document show_passphrase
 * began, when it did: then also after a failure, so that the document is
 * whole).  qr_png: the PNG written, or NULL. */
static int print_exported(const nmm_cli *c, const export_opts *o, const nmm_export *x, const char *qr_png,
                          akm_json *j, bool begun)
{
	if (!c->json) {
		printf("exported %zu bundle%s to %s (%zu with a passphrase, %zu to the node key)\n", x->written,
		       x->written == 1 ? "" : "s", o->out, x->pass_written, x->written - x->pass_written);
		if (qr_png)
			printf("passphrase QR code written to %s\n", qr_png);
		return AKM_RC_OK;
	}
	if (!begun) {
		akm_json_init(j, stdout);
		akm_json_object_begin(j);
	}
	akm_json_key(j, "exported");
	akm_json_array_begin(j);
	for (size_t i = 0; i < x->count; i++) {
		if (!x->items[i].written)
			continue;
		char file[AKM_FMT_NAME_MAX + 8];
		snprintf(file, sizeof file, "%s.akmb", x->items[i].n.name);
		akm_json_object_begin(j);
		akm_json_kv_string(j, "node", x->items[i].n.name);
		akm_json_kv_string(j, "file", file);
		akm_json_kv_string(j, "protection", protection_name(x->items[i].protection));
		akm_json_kv_uint(j, "sequence", x->items[i].seq);
		akm_json_object_end(j);
	}
	akm_json_array_end(j);
	if (x->interrupted) {
		akm_json_kv_string(j, "interrupted", akm_interrupt_name(x->interrupted));
		akm_json_kv_uint(j, "not_started", x->count - x->written);
	}
	akm_json_kv_string(j, "dir", o->out);
	akm_json_kv_string(j, "anchor_file", NMM_ANCHOR_FILE);
	if (x->pass_written > 0) {
		akm_json_key(j, "argon2id");
		akm_json_object_begin(j);
		akm_json_kv_uint(j, "opslimit", x->opslimit);
		akm_json_kv_uint(j, "memlimit_kib", x->memlimit_kib);
		akm_json_kv_hex(j, "salt", x->salt, sizeof x->salt);
		akm_json_object_end(j);
	}
	if (qr_png)
		akm_json_kv_string(j, "qr_png", qr_png);
	akm_json_object_end(j);
	return akm_json_finish(j);
}

/* The batch passphrase: generated, or read (file, AKM_PASSPHRASE, prompt). */
static int get_passphrase(const export_opts *o, akm_secret *pass)
{
	char err[512];
	int rc = o->generate_passphrase ? akm_pass_generate(pass)
	                                : akm_secret_read(pass, o->passphrase_file, "AKM_PASSPHRASE",
	                                                  "Bundle passphrase: ", "passphrase", err, sizeof err);
	if (rc != 0)
		return o->generate_passphrase ? akm_report(AKM_RC_TOKEN, "export", "cannot generate a passphrase")
		                              : akm_report(AKM_RC_USAGE, "export", "%s", err);
	if (pass->len == 0)
		return akm_report(AKM_RC_USAGE, "export", "the passphrase is empty");
	return AKM_RC_OK;
}

static int run_export(const nmm_cli *c, const void *opts)
{
	const export_opts *o = opts;
	nmm_export x;
	memset(&x, 0, sizeof x);
	int sel = (o->node != NULL) + (o->nodes != NULL) + (o->all ? 1 : 0);
	if (sel != 1)
		return akm_report(AKM_RC_USAGE, "export", "give one of --node NAME, --nodes A,B,C, --all");
	if (o->out == NULL)
		return akm_report(AKM_RC_USAGE, "export", "--out DIR is required");
	if (o->protection) {
		if (strcmp(o->protection, "node-key") == 0)
			x.protection = AKM_BUNDLE_NODE_KEY;
		else if (strcmp(o->protection, "passphrase") == 0)
			x.protection = AKM_BUNDLE_PASSPHRASE;
		else
			return akm_report(AKM_RC_USAGE, "export", "--protection is node-key or passphrase, not \"%s\"",
			                  o->protection);
	}
	if (o->generate_passphrase && o->passphrase_file)
		return akm_report(AKM_RC_USAGE, "export", "--generate-passphrase and --passphrase-file exclude each other");
	if (o->qr_png && !o->generate_passphrase)
		return akm_report(AKM_RC_USAGE, "export", "--qr-png goes with --generate-passphrase");
	x.opslimit = o->argon2_ops_set ? (uint32_t)o->argon2_ops : AKM_PASS_OPSLIMIT;
	x.memlimit_kib = o->argon2_mem_set ? (uint32_t)o->argon2_mem_kib : AKM_PASS_MEMLIMIT_KIB;
	if (x.opslimit < 1)
		return akm_report(AKM_RC_USAGE, "export", "--argon2-ops must be at least 1");
	if (x.memlimit_kib < 8 || x.memlimit_kib > 4u * 1024 * 1024)
		return akm_report(AKM_RC_USAGE, "export", "--argon2-mem-kib must be 8 to 4194304");
	x.node = o->node;
	x.nodes = o->nodes;
	x.all = o->all;
	x.dir = o->out;
	int code = nmm_export_check(&x, o->qr_png);
	if (code != AKM_RC_OK)
		return code;

	nmm_station s;
	if ((code = nmm_cli_station_open(c, &s)) != AKM_RC_OK)
		return code;
	akm_secret pass = {0};
	akm_json j;
	bool begun = false;            /* the --json document, begun with the passphrase */
	const char *qr_written = NULL; /* the --qr-png file, once written */
	if ((code = nmm_export_select(&s, &x)) == AKM_RC_OK && x.npass > 0)
		code = get_passphrase(o, &pass);
	/* A generated passphrase is shown once, so it is shown first: when
	 * stdout cannot take it, nothing is written, raised or audited. */
	if (code == AKM_RC_OK && o->generate_passphrase && x.npass > 0) {
		code = show_passphrase(c, &pass, &j);
		begun = c->json && code == AKM_RC_OK;
		char err[512];
		if (code == AKM_RC_OK && o->qr_png) {
			if (akm_qr_png(o->qr_png, pass.data, 8, err, sizeof err) != 0)
				code = akm_report(AKM_RC_FILES, "export", "--qr-png: %s", err);
			else
				qr_written = o->qr_png;
		}
	}
	if (code == AKM_RC_OK) {
		/* SIGINT/SIGTERM: the bundle in hand is finished (file, status,
		 * record), then what was written is printed; exit 130/143. */
		akm_interrupt_begin();
		code = nmm_export_run(&s, &x, x.npass > 0 ? &pass : NULL);
		akm_interrupt_end();
	}
	/* No QR code of a passphrase that protects nothing. */
	if (qr_written && x.pass_written == 0) {
		unlink(qr_written);
		qr_written = NULL;
	}
	if (code == AKM_RC_OK || begun || x.interrupted) {
		int out = print_exported(c, o, &x, qr_written, &j, begun);
		if (code == AKM_RC_OK)
			code = out;
	}
	if (x.interrupted)
		akm_report(0, "export", "interrupted by %s: %zu of %zu bundles written (each with its export record), "
		           "the rest not started (exit %d)", akm_interrupt_name(x.interrupted), x.written, x.count, code);
	akm_secret_free(&pass);
	nmm_export_free(&x);
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt export_options[] = {
	NMM_OPT(export_opts, out, "--out"),
	NMM_OPT(export_opts, node, "--node"),
	NMM_OPT(export_opts, nodes, "--nodes"),
	NMM_OPT(export_opts, all, "--all"),
	NMM_OPT(export_opts, protection, "--protection"),
	NMM_OPT(export_opts, passphrase_file, "--passphrase-file"),
	NMM_OPT(export_opts, generate_passphrase, "--generate-passphrase"),
	NMM_OPT(export_opts, qr_png, "--qr-png"),
	NMM_NUM_OPT(export_opts, argon2_ops, argon2_ops_set, "--argon2-ops"),
	NMM_NUM_OPT(export_opts, argon2_mem_kib, argon2_mem_set, "--argon2-mem-kib"),
};

const nmm_cli_cmd nmm_cmd_export = {
	"export", run_export, 0, 0,
	"export (--node NAME | --nodes A,B,C | --all) --out DIR\n"
	"       [--protection node-key|passphrase]\n"
	"       [--passphrase-file FILE | --generate-passphrase [--qr-png FILE]]\n"
	"       [--argon2-ops N] [--argon2-mem-kib N]\n"
	"  Writes DIR/<name>.akmb for each node and DIR/station.akmp, atomically.\n"
	"  Each node's bundle is protected as its delivery says (provision\n"
	"  --delivery); --protection names the one expected (--all: only those).\n"
	"  The passphrase may also come from AKM_PASSPHRASE.\n",
	NMM_OPTS(export_options), sizeof(export_opts),
};

/* ---- write-se, verify ---- */

typedef struct se_opts {
	const char *node, *se_module, *se_token, *se_pin_file;
	const char *nmm, *wait; /* verify over the network */
} se_opts;

/* The station, the node's PR (active, with its MAC key) and its secure
 * element. */
static int open_all(const nmm_cli *c, const se_opts *o, nmm_station *s, nmm_node *n, akm_p11 *se)
{
	if (o->node == NULL)
		return akm_report(AKM_RC_USAGE, c->cmd, "--node NAME is required");
	if (o->se_module == NULL || o->se_token == NULL)
		return akm_report(AKM_RC_USAGE, c->cmd, "--se-module PATH and --se-token URI|LABEL are required");
	int code = nmm_cli_station_open(c, s);
	if (code != AKM_RC_OK)
		return code;
	if ((code = nmm_node_open_active(s, o->node, n)) == AKM_RC_OK)
		code = nmm_cli_se_open(c, o->se_module, o->se_token, o->se_pin_file, se);
	if (code != AKM_RC_OK)
		nmm_station_close(s);
	return code;
}

static int print_written(const nmm_cli *c, const nmm_node *n, const nmm_se_result *r)
{
	if (!c->json) {
		printf("%s: written into secure element %s (sequence %llu)\n", n->name, r->serial,
		       (unsigned long long)r->state.seq);
		return AKM_RC_OK;
	}
	akm_json j;
	akm_json_init(&j, stdout);
	akm_json_object_begin(&j);
	akm_json_kv_string(&j, "node", n->name);
	akm_json_kv_string(&j, "se_serial", r->serial);
	akm_json_kv_hex(&j, "node_id", n->node_id, n->node_id_len);
	akm_json_kv_hex(&j, "pr_id", n->pr_id, n->pr_id_len);
	akm_json_kv_uint(&j, "sequence", r->state.seq);
	akm_json_kv_string(&j, "status", nmm_status_name(n->status));
	akm_json_object_end(&j);
	return akm_json_finish(&j);
}

/* verify's verdict: with --json also when the node failed verification. */
static int print_verified(const nmm_cli *c, const nmm_node *n, const nmm_se_result *r)
{
	if (!c->json) {
		if (r->differs != NULL)
			return AKM_RC_OK;
		char nid[2 * AKM_FMT_ID_MAX + 1], pid[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(r->state.node_id, r->state.node_id_len, nid);
		akm_hex_encode(r->state.pr_id, r->state.pr_id_len, pid);
		printf("%s: verified (AKM ID %s, PR ID %s, sequence %llu)\n", n->name, nid, pid,
		       (unsigned long long)r->state.seq);
		return AKM_RC_OK;
	}
	akm_json j;
	akm_json_init(&j, stdout);
	akm_json_object_begin(&j);
	akm_json_kv_string(&j, "node", n->name);
	akm_json_kv_bool(&j, "verified", r->differs == NULL);
	if (r->differs)
		akm_json_kv_string(&j, "error", r->differs);
	akm_json_kv_string(&j, "se_serial", r->serial);
	if (r->have_state) {
		akm_json_kv_hex(&j, "node_id", r->state.node_id, r->state.node_id_len);
		akm_json_kv_hex(&j, "pr_id", r->state.pr_id, r->state.pr_id_len);
		akm_json_kv_uint(&j, "sequence", r->state.seq);
	}
	akm_json_object_end(&j);
	return akm_json_finish(&j);
}

/* write-se or verify: the library call, then its result; `shown` is the
 * code (besides success) that still has a result to show. */
static int run_se(const nmm_cli *c, const se_opts *o,
                  int (*op)(nmm_station *, nmm_node *, akm_p11 *, nmm_se_result *),
                  int (*print)(const nmm_cli *, const nmm_node *, const nmm_se_result *), int shown)
{
	nmm_station s;
	nmm_node n;
	akm_p11 se;
	int code = open_all(c, o, &s, &n, &se);
	if (code != AKM_RC_OK)
		return code;
	nmm_se_result r;
	code = op(&s, &n, &se, &r);
	if (code == AKM_RC_OK || code == shown) {
		int out = print(c, &n, &r);
		if (code == AKM_RC_OK)
			code = out;
	}
	akm_p11_close(&se);
	nmm_station_close(&s);
	return code;
}

static int run_write_se(const nmm_cli *c, const void *opts)
{
	return run_se(c, opts, nmm_write_se, print_written, AKM_RC_OK);
}

/* verify --nmm: the node's next exchange with the station service. */
static int run_verify_net(const nmm_cli *c, const se_opts *o)
{
	if (o->node == NULL)
		return akm_report(AKM_RC_USAGE, c->cmd, "--node NAME is required");
	if (o->se_module || o->se_token || o->se_pin_file)
		return akm_report(AKM_RC_USAGE, c->cmd, "--nmm and --se-* exclude each other");
	unsigned long wait = 60;
	char *end;
	if (o->wait != NULL && (wait = strtoul(o->wait, &end, 10), *o->wait == '\0' || *o->wait == '-' || *end != '\0' ||
	                        wait < 1 || wait > 86400))
		return akm_report(AKM_RC_USAGE, c->cmd, "--wait must be 1 to 86400 seconds");
	nmm_station s;
	nmm_node n;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	nmm_net_verdict v;
	if ((code = nmm_node_open_active(&s, o->node, &n)) == AKM_RC_OK)
		code = nmm_verify_net(&s, &n, o->nmm, (unsigned)wait, &v);
	if (code == AKM_RC_OK || code == AKM_RC_VERIFY) {
		if (c->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "node", n.name);
			akm_json_kv_bool(&j, "verified", code == AKM_RC_OK);
			akm_json_kv_string(&j, "exchange", v.action);
			akm_json_kv_string(&j, "peer", v.peer);
			akm_json_kv_uint(&j, "time", v.time);
			akm_json_kv_uint(&j, "audit_seq", v.seq);
			akm_json_object_end(&j);
			int out = akm_json_finish(&j);
			if (code == AKM_RC_OK)
				code = out;
		} else if (code == AKM_RC_OK) {
			printf("%s: verified over the network (%s from %s, audit record %llu)\n", n.name, v.action, v.peer,
			       (unsigned long long)v.seq);
		}
	}
	nmm_station_close(&s);
	return code;
}

static int run_verify(const nmm_cli *c, const void *opts)
{
	const se_opts *o = opts;
	if (o->nmm != NULL || o->wait != NULL) {
		if (o->nmm == NULL)
			return akm_report(AKM_RC_USAGE, c->cmd, "--wait goes with --nmm");
		return run_verify_net(c, o);
	}
	return run_se(c, opts, nmm_verify, print_verified, AKM_RC_VERIFY);
}

static const nmm_cli_opt verify_options[] = {
	NMM_OPT(se_opts, node, "--node"),
	NMM_OPT(se_opts, se_module, "--se-module"),
	NMM_OPT(se_opts, se_token, "--se-token"),
	NMM_OPT(se_opts, se_pin_file, "--se-pin-file"),
	NMM_OPT(se_opts, nmm, "--nmm"),
	NMM_OPT(se_opts, wait, "--wait"),
};

static const nmm_cli_opt se_options[] = {
	NMM_OPT(se_opts, node, "--node"),
	NMM_OPT(se_opts, se_module, "--se-module"),
	NMM_OPT(se_opts, se_token, "--se-token"),
	NMM_OPT(se_opts, se_pin_file, "--se-pin-file"),
};

const nmm_cli_cmd nmm_cmd_write_se = {
	"write-se", run_write_se, 0, 0,
	"write-se --node NAME --se-module PATH --se-token URI|LABEL [--se-pin-file FILE]\n"
	"  Writes the node's relationship into its secure element (a second PKCS#11\n"
	"  token), wrapped to the element's own key.  The SE PIN may come from AKM_SE_PIN.\n",
	NMM_OPTS(se_options), sizeof(se_opts),
};

const nmm_cli_cmd nmm_cmd_verify = {
	"verify", run_verify, 0, 0,
	"verify --node NAME (--se-module PATH --se-token URI|LABEL [--se-pin-file FILE]\n"
	"                    | --nmm HOST:PORT [--wait SECONDS])\n"
	"  With --se-*: compares the node's record in its secure element, attached to\n"
	"  the station, with the station's and checks its proof of holding the\n"
	"  relationship's MAC key.  With --nmm: waits (60 s) for the node's next\n"
	"  exchange with the station service there, which asks for its AKM ID, PR ID\n"
	"  and a proof over a fresh challenge (exit 7 when none comes in time).\n",
	NMM_OPTS(verify_options), sizeof(se_opts),
};

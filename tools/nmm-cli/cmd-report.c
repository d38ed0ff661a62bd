/* akm-nmm list, show, audit (docs/akm-nmm.md): the station's nodes and its
 * audit trail, read through the module. */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/hex.h"
#include "lib/rv.h"

static void iso_time(CK_ULONG t, char out[32])
{
	if (t == 0) {
		snprintf(out, 32, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lu", (unsigned long)t);
}

static void json_node(akm_json *j, const nmm_node *n)
{
	akm_json_object_begin(j);
	akm_json_kv_string(j, "name", n->name);
	akm_json_kv_string(j, "state", nmm_state_name(n->state));
	akm_json_kv_string(j, "status", nmm_status_name(n->status));
	akm_json_kv_uint(j, "sequence", n->sequence);
	akm_json_key(j, "hw_id");
	akm_json_string_n(j, (const char *)n->hw, n->hw_len);
	akm_json_kv_hex(j, "node_id", n->node_id, n->node_id_len);
	akm_json_kv_hex(j, "pr_id", n->pr_id, n->pr_id_len);
	akm_json_kv_hex(j, "station_id", n->station_id, n->station_id_len);
	akm_json_kv_string(j, "site", n->site);
	akm_json_kv_string(j, "delivery", nmm_delivery_name(n->delivery));
	akm_json_key(j, "node_key");
	if (n->has_node_key)
		akm_json_hex(j, n->node_key, sizeof n->node_key);
	else
		akm_json_null(j);
	akm_json_kv_uint(j, "created", n->created);
	akm_json_kv_uint(j, "changed", n->changed);
	akm_json_object_end(j);
}

/* ---- list ---- */

typedef struct list_opts {
	bool pending;
} list_opts;

static int run_list(const nmm_cli *c, const void *opts)
{
	const list_opts *o = opts;
	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	nmm_node *nodes = NULL;
	size_t count = 0;
	code = nmm_node_list(&s, o->pending, "list", &nodes, &count);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_key(&j, "nodes");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < count; i++)
			json_node(&j, &nodes[i]);
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		size_t pending = 0;
		printf("%-24s %-9s %-9s %4s %-24s %-20s %s\n", "NAME", "STATE", "STATUS", "SEQ", "HW-ID", "CREATED", "SITE");
		for (size_t i = 0; i < count; i++) {
			const nmm_node *n = &nodes[i];
			char created[32];
			iso_time(n->created, created);
			printf("%-24s %-9s %-9s %4lu %-24.*s %-20s %s\n", n->name, nmm_state_name(n->state),
			       nmm_status_name(n->status), (unsigned long)n->sequence, (int)n->hw_len, (const char *)n->hw,
			       created, n->site);
			pending += n->state == CKV_AKM_STATE_PENDING;
		}
		printf("%zu node%s, %zu pending\n", count, count == 1 ? "" : "s", pending);
	}
	free(nodes);
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt list_options[] = {
	NMM_OPT(list_opts, pending, "--pending"),
};

const nmm_cli_cmd nmm_cmd_list = {
	"list", run_list, 0, 0,
	"list [--pending]\n"
	"  Lists the station's nodes: state, credential status, sequence, hw-id, site.\n",
	NMM_OPTS(list_options), sizeof(list_opts),
};

/* ---- the audit trail ---- */

/* Not the station's: an application record without its valid signature. */
static bool foreign(nmm_audit_sig v)
{
	return v != NMM_AUDIT_SIG_MODULE && v != NMM_AUDIT_SIG_VALID;
}

static void json_record(akm_json *j, const nmm_audit_rec *r, nmm_audit_sig sig)
{
	akm_json_object_begin(j);
	akm_json_kv_uint(j, "seq", r->seq);
	akm_json_kv_uint(j, "time", r->time);
	akm_json_key(j, "actor");
	akm_json_string_n(j, r->actor, r->actor_len);
	akm_json_key(j, "action");
	akm_json_string_n(j, r->action, r->action_len);
	akm_json_kv_string(j, "result", akm_rv_name(r->result));
	akm_json_key(j, "pr_id");
	if (r->rid_len)
		akm_json_hex(j, r->rid, r->rid_len);
	else
		akm_json_null(j);
	akm_json_key(j, "detail");
	akm_json_string_n(j, r->detail, r->detail_len);
	/* "module" (the module's own record), "valid" (the station's), or
	 * why an application record is not the station's. */
	akm_json_kv_string(j, "station_signature", nmm_audit_sig_name(sig));
	akm_json_kv_bool(j, "station", sig == NMM_AUDIT_SIG_VALID);
	akm_json_kv_bool(j, "not_the_stations", foreign(sig));
	akm_json_object_end(j);
}

static void print_record(const nmm_audit_rec *r, bool with_rid, nmm_audit_sig sig)
{
	char when[32], rid[2 * AKM_FMT_ID_MAX + 1], mark[64] = "";
	iso_time(r->time, when);
	akm_hex_encode(r->rid, r->rid_len, rid);
	int shown = (int)nmm_audit_detail_shown(r);
	if (foreign(sig))
		snprintf(mark, sizeof mark, "  [NOT THE STATION'S: signature %s]", nmm_audit_sig_name(sig));
	if (with_rid)
		printf("%6lu %s %-6s %-20s %-28s %-32s %.*s%s\n", (unsigned long)r->seq, when, r->actor, r->action,
		       akm_rv_name(r->result), r->rid_len ? rid : "-", shown, r->detail, mark);
	else
		printf("  %6lu %s %-6s %-20s %-28s %.*s%s\n", (unsigned long)r->seq, when, r->actor, r->action,
		       akm_rv_name(r->result), shown, r->detail, mark);
}

/* Prints records h[0..count) (JSON into the open array of j, or lines with
 * or without the PR ID), then closes the JSON document; the exit code. */
static int emit_records(const nmm_cli *c, nmm_station *s, const CK_OBJECT_HANDLE *h, size_t count, akm_json *j,
                        bool with_rid, const char *cmd)
{
	int code = 0;
	for (size_t i = 0; i < count; i++) {
		nmm_audit_rec r;
		if (nmm_audit_read(s, h[i], &r) != 0) {
			code = akm_report(AKM_RC_TOKEN, cmd, "%s", s->p.err);
			break;
		}
		nmm_audit_sig sig = nmm_audit_check_sig(s, &r);
		if (c->json)
			json_record(j, &r, sig);
		else
			print_record(&r, with_rid, sig);
	}
	if (c->json) {
		akm_json_array_end(j);
		akm_json_object_end(j);
		int out = akm_json_finish(j);
		if (code == AKM_RC_OK)
			code = out;
	}
	return code;
}

static void print_node(const nmm_node *n)
{
	char nid[2 * AKM_FMT_ID_MAX + 1], pid[2 * AKM_FMT_ID_MAX + 1], sid[2 * AKM_FMT_ID_MAX + 1];
	char created[32], changed[32], key[65];
	akm_hex_encode(n->node_id, n->node_id_len, nid);
	akm_hex_encode(n->pr_id, n->pr_id_len, pid);
	akm_hex_encode(n->station_id, n->station_id_len, sid);
	iso_time(n->created, created);
	iso_time(n->changed, changed);
	if (n->has_node_key) {
		uint8_t d[32];
		crypto_hash_sha256(d, n->node_key, sizeof n->node_key);
		akm_hex_encode(d, sizeof d, key);
	}
	printf("node:        %s\nstate:       %s\nstatus:      %s\nsequence:    %lu\nhw-id:       %.*s\n"
	       "AKM ID:      %s\nPR ID:       %s\nstation:     %s\nsite:        %s\ndelivery:    %s\n"
	       "node key:    %s\ncreated:     %s\nchanged:     %s\nhistory:\n",
	       n->name, nmm_state_name(n->state), nmm_status_name(n->status), (unsigned long)n->sequence,
	       (int)n->hw_len, (const char *)n->hw, nid, pid, sid, n->site, nmm_delivery_name(n->delivery),
	       n->has_node_key ? key : "(none)", created, changed);
}

static int run_show(const nmm_cli *c, const void *opts)
{
	(void)opts;
	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	nmm_node n;
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	if ((code = nmm_node_find(&s, c->args[0], &n)) != AKM_RC_OK)
		goto out;
	if (nmm_audit_find(&s, &n, &h, &count) != 0) {
		code = akm_report(AKM_RC_TOKEN, "show", "%s", s.p.err);
		goto out;
	}
	akm_json j;
	if (c->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "node");
		json_node(&j, &n);
		akm_json_key(&j, "history");
		akm_json_array_begin(&j);
	} else {
		print_node(&n);
	}
	code = emit_records(c, &s, h, count, &j, false, "show");
out:
	free(h);
	nmm_station_close(&s);
	return code;
}

const nmm_cli_cmd nmm_cmd_show = {
	"show", run_show, 1, 1,
	"show NAME\n"
	"  One node's relationship and its history from the audit trail.\n",
	NMM_NO_OPTS,
};

typedef struct audit_opts {
	const char *node;
	bool verify;
} audit_opts;

/* audit --verify: the verdict on stdout (--json), a broken chain reported. */
static int print_verified(const nmm_cli *c, size_t count, const nmm_audit_check *v)
{
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_bool(&j, "valid", v->valid);
		akm_json_kv_uint(&j, "records", v->valid ? count : 0);
		akm_json_kv_uint(&j, "head_seq", v->head_seq);
		if (!v->valid) {
			akm_json_kv_uint(&j, "record", v->bad);
			akm_json_kv_string(&j, "error", v->why);
		}
		akm_json_object_end(&j);
		int out = akm_json_finish(&j);
		if (v->valid && out != AKM_RC_OK)
			return out;
	}
	if (!v->valid)
		return akm_report(AKM_RC_VERIFY, "audit", "%s", v->why);
	if (!c->json)
		printf("audit trail intact: %zu records, reaching the token's head (record %llu)\n", count,
		       (unsigned long long)v->head_seq);
	return AKM_RC_OK;
}

static int run_audit(const nmm_cli *c, const void *opts)
{
	const audit_opts *o = opts;
	if (o->verify && o->node)
		return akm_report(AKM_RC_USAGE, "audit", "--verify checks the whole trail: it does not go with --node");
	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	nmm_node n;
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	if (o->node && (code = nmm_node_find(&s, o->node, &n)) != AKM_RC_OK)
		goto out;
	if (nmm_audit_find(&s, o->node ? &n : NULL, &h, &count) != 0) {
		code = akm_report(AKM_RC_TOKEN, "audit", "%s", s.p.err);
		goto out;
	}
	if (o->verify) {
		nmm_audit_check v;
		if ((code = nmm_audit_verify(&s, h, count, &v)) == AKM_RC_OK)
			code = print_verified(c, count, &v);
		goto out;
	}
	akm_json j;
	if (c->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "records");
		akm_json_array_begin(&j);
	} else {
		printf("%6s %-20s %-6s %-20s %-28s %-32s %s\n", "SEQ", "TIME", "ACTOR", "ACTION", "RESULT", "PR-ID", "DETAIL");
	}
	code = emit_records(c, &s, h, count, &j, true, "audit");
out:
	free(h);
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt audit_options[] = {
	NMM_OPT(audit_opts, node, "--node"),
	NMM_OPT(audit_opts, verify, "--verify"),
};

const nmm_cli_cmd nmm_cmd_audit = {
	"audit", run_audit, 0, 0,
	"audit [--node NAME] [--verify]\n"
	"  Prints the audit trail (of one node with --node); --verify recomputes the\n"
	"  hash chain and checks it against the token's head.\n",
	NMM_OPTS(audit_options), sizeof(audit_opts),
};

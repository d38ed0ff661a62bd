/* akm-nmm list, show, audit, status (docs/akm-nmm.md): the station's nodes and its
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

/* The last verification (nmm_last_verify), null when none is recorded. */
static void json_last_verify(akm_json *j, const nmm_last_verify *v)
{
	akm_json_key(j, "last_verification");
	if (v == NULL || !v->known) {
		akm_json_null(j);
		return;
	}
	akm_json_object_begin(j);
	akm_json_kv_uint(j, "time", v->time);
	akm_json_kv_string(j, "result", v->ok ? "verified" : "failed");
	akm_json_kv_string(j, "action", v->action);
	akm_json_kv_string(j, "reason", v->reason);
	akm_json_kv_uint(j, "audit_seq", v->seq);
	akm_json_object_end(j);
}

static void json_node(akm_json *j, const nmm_node *n, const nmm_last_verify *v)
{
	char site[sizeof n->site], location[sizeof n->site];
	nmm_site_fields(n->site, site, sizeof site, location, sizeof location);
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
	akm_json_kv_string(j, "site", site);
	akm_json_kv_string(j, "location", location);
	akm_json_kv_string(j, "delivery", nmm_delivery_name(n->delivery));
	akm_json_key(j, "node_key");
	if (n->has_node_key)
		akm_json_hex(j, n->node_key, sizeof n->node_key);
	else
		akm_json_null(j);
	akm_json_kv_uint(j, "created", n->created);
	akm_json_kv_uint(j, "changed", n->changed);
	json_last_verify(j, v);
	akm_json_object_end(j);
}

/* "verified 2026-12-03T17:00:00Z" / "FAILED 2026-...", or "-". */
static void last_verify_text(const nmm_last_verify *v, char *out, size_t cap)
{
	if (!v->known) {
		snprintf(out, cap, "-");
		return;
	}
	char when[32];
	iso_time(v->time, when);
	snprintf(out, cap, "%s %s", v->ok ? "verified" : "FAILED", when);
}

/* ---- list ---- */

typedef struct list_opts {
	bool pending;
	const char *state, *status;
} list_opts;

static const CK_ULONG all_states[] = {CKV_AKM_STATE_PENDING, CKV_AKM_STATE_ACTIVE, CKV_AKM_STATE_SUSPENDED,
                                      CKV_AKM_STATE_REVOKED};
static const CK_ULONG all_statuses[] = {CKV_AKM_STATUS_CREATED, CKV_AKM_STATUS_EXPORTED, CKV_AKM_STATUS_IMPORTED,
                                        CKV_AKM_STATUS_ACTIVATED, CKV_AKM_STATUS_VERIFIED};
enum { NSTATES = sizeof all_states / sizeof all_states[0], NSTATUSES = sizeof all_statuses / sizeof all_statuses[0] };

/* --state NAME / --status NAME: the value, or a usage error naming the
 * names there are. */
static int pick(const char *opt, const char *given, const CK_ULONG *values, size_t n,
                const char *(*name)(CK_ULONG), CK_ULONG *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(given, name(values[i])) == 0) {
			*out = values[i];
			return AKM_RC_OK;
		}
	char names[128] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", name(values[i]));
	char esc[AKM_ESCAPED(40)];
	return akm_report(AKM_RC_USAGE, "list", "%s: no such %s \"%s\" (one of: %s)", opt, opt + 2,
	                  akm_escape(esc, sizeof esc, given, strnlen(given, 40)), names);
}

static int run_list(const nmm_cli *c, const void *opts)
{
	const list_opts *o = opts;
	CK_ULONG want_state = 0, want_status = 0;
	int code;
	if (o->pending && o->state)
		return akm_report(AKM_RC_USAGE, "list", "--pending is --state pending: give one of them");
	if (o->state && (code = pick("--state", o->state, all_states, NSTATES, nmm_state_name, &want_state)) != 0)
		return code;
	if (o->status &&
	    (code = pick("--status", o->status, all_statuses, NSTATUSES, nmm_status_name, &want_status)) != 0)
		return code;
	if (o->pending)
		want_state = CKV_AKM_STATE_PENDING;
	nmm_station s;
	code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	/* The nodes come one at a time in name order and are written as they
	 * come (nmm_node_stream): memory does not grow with the station.  The
	 * counts over every node follow them. */
	nmm_node_stream ns;
	if (nmm_node_stream_open(&s, &ns) != 0) {
		code = akm_report(AKM_RC_TOKEN, "list", "%s", s.p.err);
		nmm_station_close(&s);
		return code;
	}
	size_t by_state[NSTATES + 1] = {0}, by_status[NSTATUSES + 1] = {0}, count = 0, shown = 0, failed = 0;
	akm_json j;
	if (c->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_key(&j, "nodes");
		akm_json_array_begin(&j);
	} else {
		printf("%-24s %-9s %-9s %4s %-24s %-20s %-29s %s\n", "NAME", "STATE", "STATUS", "SEQ", "HW-ID", "CREATED",
		       "LAST VERIFICATION", "SITE");
	}
	for (;;) {
		nmm_node node, *n = &node;
		int r = nmm_node_stream_next(&ns, n);
		if (r < 0)
			code = akm_report(AKM_RC_TOKEN, "list", "%s", s.p.err);
		if (r <= 0)
			break;
		count++;
		size_t k = 0;
		while (k < NSTATES && all_states[k] != n->state)
			k++;
		by_state[k]++;
		k = 0;
		while (k < NSTATUSES && all_statuses[k] != n->status)
			k++;
		by_status[k]++;
		if ((want_state != 0 && n->state != want_state) || (want_status != 0 && n->status != want_status))
			continue;
		nmm_last_verify last;
		if (nmm_node_stream_verification(&ns, n, &last) != 0) {
			code = akm_report(AKM_RC_TOKEN, "list", "reading the audit trail: %s", s.p.err);
			break;
		}
		shown++;
		failed += last.known && !last.ok;
		if (c->json) {
			json_node(&j, n, &last);
			continue;
		}
		char created[32], lv[64], hw[AKM_ESCAPED(AKM_FMT_HW_MAX)], site[AKM_ESCAPED(sizeof n->site)];
		char name[AKM_ESCAPED(sizeof n->name)];
		iso_time(n->created, created);
		last_verify_text(&last, lv, sizeof lv);
		printf("%-24s %-9s %-9s %4lu %-24s %-20s %-29s %s\n", akm_escape(name, sizeof name, n->name, (size_t)-1),
		       nmm_state_name(n->state), nmm_status_name(n->status), (unsigned long)n->sequence,
		       akm_escape(hw, sizeof hw, n->hw, n->hw_len), created, lv,
		       akm_escape(site, sizeof site, n->site, (size_t)-1));
	}
	nmm_node_stream_close(&ns);
	if (code == AKM_RC_OK && c->json) {
		akm_json_array_end(&j);
		akm_json_key(&j, "counts");
		akm_json_object_begin(&j);
		akm_json_kv_uint(&j, "total", count);
		akm_json_kv_uint(&j, "shown", shown);
		akm_json_kv_uint(&j, "last_verification_failed", failed);
		akm_json_key(&j, "state");
		akm_json_object_begin(&j);
		for (size_t k = 0; k < NSTATES; k++)
			akm_json_kv_uint(&j, nmm_state_name(all_states[k]), by_state[k]);
		akm_json_object_end(&j);
		akm_json_key(&j, "status");
		akm_json_object_begin(&j);
		for (size_t k = 0; k < NSTATUSES; k++)
			akm_json_kv_uint(&j, nmm_status_name(all_statuses[k]), by_status[k]);
		akm_json_object_end(&j);
		akm_json_object_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		if (want_state != 0 || want_status != 0)
			printf("%zu of %zu node%s shown", shown, count, count == 1 ? "" : "s");
		else
			printf("%zu node%s", count, count == 1 ? "" : "s");
		printf(", %zu pending", by_state[0]);
		printf("; by state:");
		for (size_t k = 0; k < NSTATES; k++)
			if (by_state[k])
				printf(" %s %zu", nmm_state_name(all_states[k]), by_state[k]);
		printf("; by status:");
		for (size_t k = 0; k < NSTATUSES; k++)
			if (by_status[k])
				printf(" %s %zu", nmm_status_name(all_statuses[k]), by_status[k]);
		if (failed)
			printf("; %zu with a failed last verification", failed);
		putchar('\n');
	}
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt list_options[] = {
	NMM_OPT(list_opts, pending, "--pending"),
	NMM_OPT(list_opts, state, "--state"),
	NMM_OPT(list_opts, status, "--status"),
};

const nmm_cli_cmd nmm_cmd_list = {
	"list", run_list, 0, 0,
	"list [--state STATE | --pending] [--status STATUS]\n"
	"  Lists the station's nodes: state, credential status, sequence, hw-id, the last\n"
	"  verification (verified or FAILED, when) and site; then counts by state and\n"
	"  status over every node.  --state (pending, active, suspended, revoked) and\n"
	"  --status (created, exported, imported, activated, verified) show only the\n"
	"  nodes in that state or status; --pending is --state pending.\n",
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
	/* The station's records start "site=S; location=L[; node=N]; ...":
	 * those as fields too (docs/json.md). */
	const char *d = r->detail, *loc = strstr(d, "; location=");
	if (strncmp(d, "site=", 5) == 0 && loc != NULL) {
		const char *l = loc + 11, *node = strstr(l, "; node=");
		const char *lend = node ? node : l + strcspn(l, ";");
		akm_json_key(j, "site");
		akm_json_string_n(j, d + 5, (size_t)(loc - d - 5));
		akm_json_key(j, "location");
		akm_json_string_n(j, l, (size_t)(lend - l));
		if (node != NULL) {
			akm_json_key(j, "node");
			akm_json_string_n(j, node + 7, strcspn(node + 7, ";"));
		}
	}
	/* "module" (the module's own record), "valid" (the station's), or
	 * why an application record is not the station's. */
	akm_json_kv_string(j, "station_signature", nmm_audit_sig_name(sig));
	akm_json_kv_bool(j, "station_signed", sig == NMM_AUDIT_SIG_VALID);
	akm_json_kv_bool(j, "not_the_stations", foreign(sig));
	akm_json_object_end(j);
}

static void print_record(const nmm_audit_rec *r, bool with_rid, nmm_audit_sig sig)
{
	char when[32], rid[2 * AKM_FMT_ID_MAX + 1], mark[64] = "";
	char actor[AKM_ESCAPED(sizeof r->actor)], action[AKM_ESCAPED(sizeof r->action)];
	char *detail = malloc(AKM_ESCAPED(sizeof r->detail));
	iso_time(r->time, when);
	akm_hex_encode(r->rid, r->rid_len, rid);
	akm_escape(actor, sizeof actor, r->actor, r->actor_len);
	akm_escape(action, sizeof action, r->action, r->action_len);
	/* The detail without the station's signature field (checked, not shown). */
	const char *d = detail ? akm_escape(detail, AKM_ESCAPED(sizeof r->detail), r->detail, nmm_audit_detail_shown(r))
	                       : "?";
	if (foreign(sig))
		snprintf(mark, sizeof mark, "  [NOT THE STATION'S: signature %s]", nmm_audit_sig_name(sig));
	if (with_rid)
		printf("%6lu %s %-6s %-20s %-28s %-32s %s%s\n", (unsigned long)r->seq, when, actor, action,
		       akm_rv_name(r->result), r->rid_len ? rid : "-", d, mark);
	else
		printf("  %6lu %s %-6s %-20s %-28s %s%s\n", (unsigned long)r->seq, when, actor, action,
		       akm_rv_name(r->result), d, mark);
	free(detail);
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

static void print_node(const nmm_node *n, const nmm_last_verify *v)
{
	char nid[2 * AKM_FMT_ID_MAX + 1], pid[2 * AKM_FMT_ID_MAX + 1], sid[2 * AKM_FMT_ID_MAX + 1];
	char created[32], changed[32], key[65], lv[64];
	char hw[AKM_ESCAPED(AKM_FMT_HW_MAX)], site[sizeof n->site], location[sizeof n->site];
	char esite[AKM_ESCAPED(sizeof n->site)], elocation[AKM_ESCAPED(sizeof n->site)];
	char reason[AKM_ESCAPED(sizeof v->reason)], name[AKM_ESCAPED(sizeof n->name)];
	akm_hex_encode(n->node_id, n->node_id_len, nid);
	akm_hex_encode(n->pr_id, n->pr_id_len, pid);
	akm_hex_encode(n->station_id, n->station_id_len, sid);
	iso_time(n->created, created);
	iso_time(n->changed, changed);
	last_verify_text(v, lv, sizeof lv);
	nmm_site_fields(n->site, site, sizeof site, location, sizeof location);
	if (n->has_node_key) {
		uint8_t d[32];
		crypto_hash_sha256(d, n->node_key, sizeof n->node_key);
		akm_hex_encode(d, sizeof d, key);
	}
	printf("node:        %s\nstate:       %s\nstatus:      %s\nsequence:    %lu\nhw-id:       %s\n"
	       "node ID:     %s\nPR ID:       %s\nstation ID:  %s\nsite:        %s\nlocation:    %s\n"
	       "delivery:    %s\nnode key:    %s\ncreated:     %s\nchanged:     %s\n",
	       akm_escape(name, sizeof name, n->name, (size_t)-1), nmm_state_name(n->state), nmm_status_name(n->status),
	       (unsigned long)n->sequence, akm_escape(hw, sizeof hw, n->hw, n->hw_len), nid, pid, sid,
	       akm_escape(esite, sizeof esite, site, (size_t)-1),
	       akm_escape(elocation, sizeof elocation, location, (size_t)-1), nmm_delivery_name(n->delivery),
	       n->has_node_key ? key : "(none)", created, changed);
	printf("last verification: %s", lv);
	if (v->known)
		printf(" (%s, audit record %lu: %s)", v->action, (unsigned long)v->seq,
		       akm_escape(reason, sizeof reason, v->reason, (size_t)-1));
	printf("\nhistory:\n");
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
	/* The last verification among the node's records (newest first). */
	nmm_last_verify lv = {0};
	for (size_t i = count; i-- > 0;) {
		nmm_audit_rec r;
		if (nmm_audit_read(&s, h[i], &r) != 0) {
			code = akm_report(AKM_RC_TOKEN, "show", "%s", s.p.err);
			goto out;
		}
		/* Only the station's own (signed) records say it. */
		if (nmm_audit_check_sig(&s, &r) == NMM_AUDIT_SIG_VALID && nmm_audit_verification(&r, &lv) != 0)
			break;
	}
	akm_json j;
	if (c->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "node");
		json_node(&j, &n, &lv);
		akm_json_key(&j, "history");
		akm_json_array_begin(&j);
	} else {
		print_node(&n, &lv);
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
	"  One node's relationship, its last verification (verified or FAILED, when,\n"
	"  the record and its reason) and its history from the audit trail.\n",
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

/* ---- status ---- */

typedef struct status_opts {
	unsigned long stale_after;
	bool has_stale_after;
} status_opts;

static int run_status(const nmm_cli *c, const void *opts)
{
	const status_opts *o = opts;
	if (o->has_stale_after && o->stale_after == 0)
		return akm_report(AKM_RC_USAGE, "status", "--stale-after: give a number of seconds, at least 1");
	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	nmm_status_opts so = {.stale_after = o->has_stale_after ? o->stale_after : 0};
	nmm_status st;
	code = nmm_status_gather(&s, &so, "status", &st);
	if (code == AKM_RC_OK) {
		if (c->json)
			code = nmm_status_json(&st, stdout);
		else
			nmm_status_text(&st, stdout);
		nmm_status_free(&st);
	}
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt status_options[] = {
	NMM_NUM_OPT(status_opts, stale_after, has_stale_after, "--stale-after"),
};

const nmm_cli_cmd nmm_cmd_status = {
	"status", run_status, 0, 0,
	"status [--stale-after SECONDS]\n"
	"  The station at a glance: nodes by state and status, stale nodes (active,\n"
	"  silent for more than --stale-after seconds since their last check-in;\n"
	"  86400), quarantined, stale and pending nodes first, ASRs with generation,\n"
	"  members and how many are current, breach signals and automatic actions of\n"
	"  the last hour from the end of the audit trail.  The same figures as\n"
	"  akm-nmmd's status page and /metrics.\n",
	NMM_OPTS(status_options), sizeof(status_opts),
};

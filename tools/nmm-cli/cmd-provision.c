/* akm-nmm provision, enroll, approve, reject, revoke (docs/akm-nmm.md): nodes in, and out. */
#include "nmm-cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/interrupt.h"
#include "lib/hex.h"

/* ---- provision ---- */

typedef struct provision_opts {
	const char *node, *hw_id, *batch, *prefix, *delivery;
	unsigned long count;
	bool count_set;
} provision_opts;

static int print_provisioned(const nmm_cli *c, const nmm_plan *p)
{
	size_t n;
	const nmm_plan_entry *e = nmm_plan_reported(p, &n);
	for (size_t i = 0; i < n; i++)
		if (e[i].error)
			akm_report(0, e[i].name, "%s", e[i].error);
	if (!c->json) {
		/* A node a concurrent run made is named: this run was asked to
		 * make it and did not. */
		for (size_t i = 0; i < n; i++)
			if (e[i].meanwhile)
				printf("%s: already present (provisioned meanwhile by another run)\n", e[i].name);
		printf("provisioned %zu, already present %zu, failed %zu\n", p->provisioned, p->present, p->failed);
		if (p->interrupted)
			printf("interrupted by %s: %zu not started\n", akm_interrupt_name(p->interrupted),
			       p->n - p->provisioned - p->present - p->failed);
		return AKM_RC_OK;
	}
	akm_json j;
	akm_json_init(&j, stdout);
	akm_json_object_begin(&j);
	akm_json_kv_uint(&j, "provisioned", p->provisioned);
	akm_json_kv_uint(&j, "present", p->present);
	if (p->interrupted) {
		akm_json_kv_string(&j, "interrupted", akm_interrupt_name(p->interrupted));
		akm_json_kv_uint(&j, "not_started", p->n - p->provisioned - p->present - p->failed);
	}
	akm_json_key(&j, "present_nodes");
	akm_json_array_begin(&j);
	for (size_t i = 0; i < n; i++) {
		if (!e[i].present)
			continue;
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", e[i].name);
		akm_json_kv_bool(&j, "meanwhile", e[i].meanwhile);
		akm_json_object_end(&j);
	}
	akm_json_array_end(&j);
	akm_json_key(&j, "failed");
	akm_json_array_begin(&j);
	for (size_t i = 0; i < n; i++) {
		if (!e[i].error)
			continue;
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", e[i].name);
		akm_json_kv_string(&j, "error", e[i].error);
		akm_json_object_end(&j);
	}
	akm_json_array_end(&j);
	akm_json_object_end(&j);
	return akm_json_finish(&j);
}

static int run_provision(const nmm_cli *c, const void *opts)
{
	const provision_opts *o = opts;
	int modes = (o->node != NULL) + (o->batch != NULL) + (o->count_set ? 1 : 0);
	if (modes != 1)
		return akm_report(AKM_RC_USAGE, "provision",
		                  "give one of --node NAME --hw-id VALUE, --batch FILE, --count N");
	if ((o->node != NULL) != (o->hw_id != NULL))
		return akm_report(AKM_RC_USAGE, "provision", "--node and --hw-id go together");
	if (o->prefix && !o->count_set)
		return akm_report(AKM_RC_USAGE, "provision", "--prefix goes with --count");
	if (o->count_set && (o->count < 1 || o->count > 10000000UL))
		return akm_report(AKM_RC_USAGE, "provision", "--count must be 1 to 10000000");
	nmm_plan p;
	memset(&p, 0, sizeof p);
	p.delivery = CKV_AKM_DELIVERY_NODE_KEY;
	if (o->delivery != NULL && strcmp(o->delivery, "passphrase") == 0)
		p.delivery = CKV_AKM_DELIVERY_PASSPHRASE;
	else if (o->delivery != NULL && strcmp(o->delivery, "node-key") != 0)
		return akm_report(AKM_RC_USAGE, "provision", "--delivery is node-key or passphrase, not \"%s\"",
		                  o->delivery);
	int code = AKM_RC_OK;
	if (o->node)
		code = nmm_plan_add(&p, o->node, o->hw_id, 0) == 0 ? AKM_RC_OK
		                                                   : akm_report(AKM_RC_FILES, "provision", "out of memory");
	else if (o->batch)
		code = nmm_plan_from_file(&p, o->batch);
	else
		code = nmm_plan_from_count(&p, o->count, o->prefix ? o->prefix : "node-");
	if (code == AKM_RC_OK)
		code = nmm_plan_check(&p);
	nmm_station s;
	nmm_cli_reopen again = {.c = c};
	if (code == AKM_RC_OK && (code = nmm_cli_station_open_reopenable(&again, &s)) == AKM_RC_OK) {
		/* A long run finalises the token every NMM_REOPEN_EVERY nodes:
		 * SoftHSM2 frees destroyed session objects only then. */
		p.reopen = nmm_cli_station_reopen;
		p.reopen_ctx = &again;
		const char *every = getenv("AKM_NMM_REOPEN_EVERY");
		unsigned long n = every != NULL ? strtoul(every, NULL, 10) : 0;
		p.reopen_every = n > 0 && n <= 10000000UL ? (size_t)n : 0;
		/* SIGINT/SIGTERM: the batch (or node) in hand is finished, then
		 * what was done is printed and the exit code is 130/143. */
		akm_interrupt_begin();
		code = nmm_provision(&s, &p);
		akm_interrupt_end();
		nmm_station_close(&s);
		nmm_cli_reopen_end(&again);
	}
	if (code == AKM_RC_OK || p.interrupted) {
		int out = print_provisioned(c, &p);
		if (p.interrupted)
			akm_report(0, "provision", "stopped by %s after the nodes in hand (exit %d)",
			           akm_interrupt_name(p.interrupted), code);
		else
			code = out;
		if (code == AKM_RC_OK && p.failed)
			code = AKM_RC_REFUSED;
	}
	nmm_plan_free(&p);
	return code;
}

static const nmm_cli_opt provision_options[] = {
	NMM_OPT(provision_opts, node, "--node"),
	NMM_OPT(provision_opts, hw_id, "--hw-id"),
	NMM_OPT(provision_opts, batch, "--batch"),
	NMM_NUM_OPT(provision_opts, count, count_set, "--count"),
	NMM_OPT(provision_opts, prefix, "--prefix"),
	NMM_OPT(provision_opts, delivery, "--delivery"),
};

const nmm_cli_cmd nmm_cmd_provision = {
	"provision", run_provision, 0, 0,
	"provision (--node NAME --hw-id VALUE | --batch FILE | --count N [--prefix P])\n"
	"          [--delivery node-key|passphrase]\n"
	"  Creates a provisioning relationship per node, bound to its hardware value.\n"
	"  --delivery: how its keys may ever leave the station, fixed now: to the\n"
	"  node's own key (node-key, the default: write-se, or export once the key is\n"
	"  recorded) or in a passphrase-protected bundle (passphrase: export only).\n"
	"  Batch file: lines \"NAME HWID\"; blank lines and #-lines are ignored.\n"
	"  --count N: nodes P000001.. (P default \"node-\") with hw-id \"hw-<name>\".\n"
	"  A rerun skips nodes already present with the same hw-id and delivery.\n",
	NMM_OPTS(provision_options), sizeof(provision_opts),
};

/* ---- enroll ---- */

static int run_enroll(const nmm_cli *c, const void *opts)
{
	(void)opts;
	nmm_enrollment e;
	int code = nmm_enroll_read(c->args[0], &e);
	if (code != AKM_RC_OK)
		return code;
	nmm_station s;
	if ((code = nmm_cli_station_open(c, &s)) != AKM_RC_OK)
		return code;
	nmm_enrolled out;
	code = nmm_enroll(&s, &e, &out);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", e.r.name);
		akm_json_kv_string(&j, "state", "pending");
		akm_json_kv_string(&j, "hw_id", out.hw);
		akm_json_kv_hex(&j, "node_id", out.node_id, sizeof out.node_id);
		akm_json_kv_hex(&j, "pr_id", out.pr_id, sizeof out.pr_id);
		akm_json_kv_string(&j, "node_key_fingerprint", out.key_fingerprint);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		printf("enrolled %s (hw-id %s), pending approval\nnode key fingerprint: %s\n", e.r.name, out.hw,
		       out.key_fingerprint);
	}
	nmm_station_close(&s);
	return code;
}

const nmm_cli_cmd nmm_cmd_enroll = {
	"enroll", run_enroll, 1, 1,
	"enroll FILE\n"
	"  Checks a node's enrollment request (AKMR) and records the node as pending.\n",
	NMM_NO_OPTS,
};

/* ---- approve, reject, revoke ---- */

typedef struct reject_opts {
	const char *reason;
} reject_opts;

static int change_state(const nmm_cli *c, const char *reason, CK_ULONG to, const char *action)
{
	const char *name = c->args[0];
	if (reason && !nmm_cli_valid_text(reason, 200))
		return akm_report(AKM_RC_USAGE, action,
		                  "--reason must be at most 200 bytes of text without control characters");
	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	CK_ULONG from = 0;
	/* approve: the request's key fingerprint (to compare with what the
	 * node printed) and a warning when its hardware value is bound to
	 * another node's PR too. */
	nmm_approval ap;
	bool approving = to == CKV_AKM_STATE_ACTIVE && strcmp(action, "approve") == 0;
	char warning[600] = "";
	if (approving) {
		nmm_node n;
		code = nmm_node_find(&s, name, &n);
		if (code == AKM_RC_OK)
			code = nmm_node_approval(&s, &n, action, &ap);
		if (code != AKM_RC_OK) {
			nmm_station_close(&s);
			return code;
		}
		if (ap.reused > 0) {
			snprintf(warning, sizeof warning,
			         "warning: its hardware value %.*s is already bound to %s's PR%s: a second PR for one device "
			         "(a clone, or a request squatting another node's value?)",
			         (int)n.hw_len, (const char *)n.hw, ap.reused_names[0],
			         ap.reused > 1 ? " and others" : "");
			akm_report(0, name, "%s", warning);
		}
	}
	code = nmm_node_change_state(&s, name, to, action, reason, &from);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", name);
		akm_json_kv_string(&j, "state", nmm_state_name(to));
		akm_json_kv_string(&j, "previous_state", nmm_state_name(from));
		if (approving) {
			akm_json_kv_string(&j, "node_key_fingerprint", ap.key_fingerprint);
			akm_json_key(&j, "hw_also_bound_to");
			akm_json_array_begin(&j);
			for (size_t i = 0; i < ap.reused && i < sizeof ap.reused_names / sizeof ap.reused_names[0]; i++)
				akm_json_string(&j, ap.reused_names[i]);
			akm_json_array_end(&j);
			akm_json_key(&j, "warnings");
			akm_json_array_begin(&j);
			if (warning[0])
				akm_json_string(&j, warning);
			akm_json_array_end(&j);
		}
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		printf("%s: %s\n", name, strcmp(action, "reinstate") == 0 ? "reinstated (active)"
		                          : to == CKV_AKM_STATE_ACTIVE ? "approved (active)"
		                          : strcmp(action, "revoke") == 0 ? "revoked" : "rejected (revoked)");
		if (approving)
			printf("node key fingerprint: %s\n", ap.key_fingerprint[0] ? ap.key_fingerprint : "none");
	}
	nmm_station_close(&s);
	return code;
}

static int run_approve(const nmm_cli *c, const void *opts)
{
	(void)opts;
	return change_state(c, NULL, CKV_AKM_STATE_ACTIVE, "approve");
}

static int run_reject(const nmm_cli *c, const void *opts)
{
	const reject_opts *o = opts;
	return change_state(c, o->reason, CKV_AKM_STATE_REVOKED, "reject");
}

static int run_revoke(const nmm_cli *c, const void *opts)
{
	const reject_opts *o = opts;
	return change_state(c, o->reason, CKV_AKM_STATE_REVOKED, "revoke");
}

static int run_reinstate(const nmm_cli *c, const void *opts)
{
	const reject_opts *o = opts;
	return change_state(c, o->reason, CKV_AKM_STATE_ACTIVE, "reinstate");
}

const nmm_cli_cmd nmm_cmd_approve = {
	"approve", run_approve, 1, 1,
	"approve NAME\n"
	"  Makes a pending node active; shows its node key's fingerprint (compare it\n"
	"  with what 'akm-node request' printed on the node) and warns when its\n"
	"  hardware value is already bound to another node's PR.\n",
	NMM_NO_OPTS,
};

static const nmm_cli_opt reject_options[] = {
	NMM_OPT(reject_opts, reason, "--reason"),
};

const nmm_cli_cmd nmm_cmd_reject = {
	"reject", run_reject, 1, 1,
	"reject NAME [--reason TEXT]\n"
	"  Revokes a node's provisioning relationship (a pending one, typically).\n",
	NMM_OPTS(reject_options), sizeof(reject_opts),
};

const nmm_cli_cmd nmm_cmd_revoke = {
	"revoke", run_revoke, 1, 1,
	"revoke NAME [--reason TEXT]\n"
	"  Revokes an active node's provisioning relationship: its bundles are no\n"
	"  longer made and the station service refuses its activation and check-ins.\n",
	NMM_OPTS(reject_options), sizeof(reject_opts),
};

const nmm_cli_cmd nmm_cmd_reinstate = {
	"reinstate", run_reinstate, 1, 1,
	"reinstate NAME [--reason TEXT]\n"
	"  Brings a quarantined (suspended) node back: its provisioning relationship\n"
	"  becomes active again, the station service accepts its check-ins and, at\n"
	"  the next one, delivers the ASRs it is still a member of; the policy's\n"
	"  counters for it start afresh.  The only way back from quarantine.\n",
	NMM_OPTS(reject_options), sizeof(reject_opts),
};

/* akm-node activate, checkin, report (docs/akm-node.md): exchanges with
 * the station service akm-nmmd over the AKM-ACT-1 protocol. */
#include "node-cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm/pkcs11-akm.h"
#include "lib/hex.h"

typedef struct net_opts {
	const char *nmm, *hw_id, *timeout;
	const char *event, *count, *detail; /* report */
} net_opts;

static const node_cli_opt net_opts_table[] = {
	NODE_OPT(net_opts, nmm, "nmm"),
	NODE_OPT(net_opts, hw_id, "hw-id"),
	NODE_OPT(net_opts, timeout, "timeout"),
};
static const node_cli_opt report_opts_table[] = {
	NODE_OPT(net_opts, nmm, "nmm"),
	NODE_OPT(net_opts, hw_id, "hw-id"),
	NODE_OPT(net_opts, timeout, "timeout"),
	NODE_OPT(net_opts, event, "event"),
	NODE_OPT(net_opts, count, "count"),
	NODE_OPT(net_opts, detail, "detail"),
};

/* A number of 1..max from text: 0 or -1. */
static int number(const char *what, const char *text, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*text == '\0' || *text == '-' || *end != '\0' || v < 1 || v > max)
		return akm_report(-1, what, "must be a number of 1-%lu, not \"%s\"", max, text);
	*out = v;
	return 0;
}

/* The event of --event/--count/--detail. */
static int read_event(const net_opts *o, akm_proto_event *e)
{
	memset(e, 0, sizeof *e);
	if (o->event == NULL)
		return akm_report(AKM_RC_USAGE, "report", "--event KIND is required (wrong-pin, bundle-refused, "
		                  "key-failure, replay, tamper, other)");
	/* the kinds an operator reports (the others come from the registry) */
	for (uint16_t k = 1; k <= AKM_EVENT_OTHER; k++)
		if (strcmp(o->event, akm_proto_event_name(k)) == 0)
			e->kind = k;
	if (e->kind == 0)
		return akm_report(AKM_RC_USAGE, "--event", "unknown kind \"%s\" (wrong-pin, bundle-refused, key-failure, "
		                  "replay, tamper, other)", o->event);
	unsigned long count = 1;
	if (o->count != NULL && number("--count", o->count, 0xFFFFFFFFul, &count) != 0)
		return AKM_RC_USAGE;
	e->count = (uint32_t)count;
	e->time = (uint64_t)time(NULL);
	if (o->detail != NULL) {
		size_t n = strlen(o->detail);
		bool ok = n <= AKM_PROTO_DETAIL_MAX;
		for (size_t i = 0; ok && i < n; i++)
			ok = o->detail[i] >= 0x20 && o->detail[i] <= 0x7e;
		if (!ok)
			return akm_report(AKM_RC_USAGE, "--detail", "at most %d printable ASCII characters",
			                  AKM_PROTO_DETAIL_MAX);
		memcpy(e->detail, o->detail, n + 1);
	}
	return AKM_RC_OK;
}

/* The ASR generations the node holds (at most AKM_PROTO_HELD_MAX). */
static int held_generations(akm_p11 *p, akm_proto_held *held, size_t *n)
{
	akm_node_asr *v;
	size_t count;
	if (akm_node_asr_list(p, &v, &count) != 0)
		return akm_report_why(AKM_RC_TOKEN, "listing the node's ASRs", p->err);
	*n = 0;
	for (size_t i = 0; i < count && *n < AKM_PROTO_HELD_MAX; i++) {
		memcpy(held[*n].asr_id, v[i].id, v[i].id_len);
		held[*n].asr_id_len = v[i].id_len;
		held[*n].gen = (uint32_t)(v[i].epoch >> 32);
		(*n)++;
	}
	free(v);
	return AKM_RC_OK;
}

static int run_net(const node_cli *c, const node_cli_cmd *cmd, uint8_t op, const net_opts *o, int npos)
{
	int rc = node_cli_args(cmd, npos, 0);
	if (rc != 0)
		return rc;
	akm_node_act a = {.op = op, .nmm = o->nmm ? o->nmm : getenv("AKM_NMM")};
	if (a.nmm == NULL || *a.nmm == '\0')
		return akm_report(AKM_RC_USAGE, cmd->name, "no station: give --nmm HOST:PORT or set AKM_NMM");
	unsigned long timeout = 30;
	if (o->timeout != NULL && number("--timeout", o->timeout, 3600, &timeout) != 0)
		return AKM_RC_USAGE;
	a.timeout_ms = (unsigned)timeout * 1000u;
	akm_proto_event ev = {0};
	if (op == AKM_OP_REPORT) {
		if ((rc = read_event(o, &ev)) != AKM_RC_OK)
			return rc;
		a.events = &ev;
		a.nevents = 1;
	}
	akm_p11 p;
	if ((rc = node_cli_token_open(c, &p, true)) != 0) {
		akm_p11_close(&p);
		return rc;
	}
	akm_node_state s;
	char hw[AKM_FMT_HW_MAX + 1];
	/* A check-in through akm-pkcs11 says which ASR generations the node
	 * holds, and enrolls the packages the station delivers. */
	char why[512];
	bool through_akm = op != AKM_OP_ACTIVATE && akm_node_asr_check_module(&p, why, sizeof why) == 0;
	bool member = op == AKM_OP_CHECKIN && through_akm;
	akm_proto_held held[AKM_PROTO_HELD_MAX];
	size_t nheld = 0, enrolled = 0;
	/* ... and reports its registry's breach records since the last
	 * report the station accepted (docs/protocol.md §4). */
	static akm_proto_node_rec report;
	memset(&report, 0, sizeof report);
	int src = akm_node_state_read(&p, &s, NULL);
	if (src < 0)
		rc = akm_report_why(AKM_RC_TOKEN, "reading the node state", p.err);
	else if (src == 1)
		rc = akm_report_why(AKM_RC_NOT_FOUND, "not provisioned", "no provisioning relationship in this token");
	else if (member && (rc = held_generations(&p, held, &nheld)) != AKM_RC_OK)
		;
	else if (through_akm && (report.nheld = nheld, memcpy(report.held, held, nheld * sizeof *held),
	                         report.nevents = op == AKM_OP_REPORT ? 1 : 0, report.events[0] = ev,
	                         (rc = akm_node_report_build(&p, &report, why, sizeof why)) != AKM_RC_OK))
		rc = akm_report_why(rc, "the node's report", why);
	else if ((rc = akm_node_hw(&p, o->hw_id, hw)) == AKM_RC_OK) {
		a.hw = hw;
		a.held = held;
		a.nheld = nheld;
		a.report = through_akm ? &report : NULL;
		rc = akm_node_exchange(&p, &s, &a, cmd->name);
	}
	for (size_t i = 0; rc == AKM_RC_OK && i < a.nitems; i++) {
		akm_node_asr asr;
		if (!member) {
			akm_report(0, cmd->name, "an ASR package from the station is left: %s", why);
			continue;
		}
		int erc = akm_node_enroll(&p, a.items[i], a.item_len[i], &asr, why, sizeof why);
		if (erc != AKM_RC_OK) {
			rc = akm_report_why(erc, "an ASR package from the station", why);
		} else {
			enrolled++;
			if (!c->json)
				printf("enrolled in %s: generation %lu, step %lu\n", asr.name, (unsigned long)(asr.epoch >> 32),
				       (unsigned long)(asr.epoch & 0xFFFFFFFFUL));
		}
	}
	/* The station recorded the report (DONE came): the cursor moves on.
	 * A failure before leaves it, and the next check-in sends the
	 * records again (the station drops what it has, protocol.md §4). */
	if (through_akm && a.done && a.done_result == AKM_PRES_OK) {
		int crc = akm_node_report_done(&p, &report, why, sizeof why);
		if (crc != AKM_RC_OK && rc == AKM_RC_OK)
			rc = akm_report_why(crc, "the check-in report's cursor", why);
	}
	akm_node_act_free(&a);
	akm_p11_close(&p);
	if (rc != AKM_RC_OK)
		return rc;
	char sid[2 * AKM_FMT_ID_MAX + 1];
	akm_hex_encode(a.station_id, a.station_id_len, sid);
	const char *status = a.done_status == CKV_AKM_STATUS_VERIFIED ? "verified"
	                     : a.done_status == CKV_AKM_STATUS_ACTIVATED ? "activated" : "unknown";
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "operation", akm_proto_op_name(op));
		akm_json_kv_string(&j, "result", "accepted");
		akm_json_kv_string(&j, "status", status);
		akm_json_kv_string(&j, "station_id", sid);
		akm_json_kv_string(&j, "name", s.name);
		if (op == AKM_OP_CHECKIN) {
			akm_json_kv_uint(&j, "pending", a.done_n);
			akm_json_kv_uint(&j, "asr_enrolled", enrolled);
			size_t events = 0;
			for (size_t i = 0; i < report.ncevents; i++)
				events += report.cevents[i].count;
			akm_json_kv_uint(&j, "events_reported", events);
		}
		if (op == AKM_OP_REPORT) {
			akm_json_kv_uint(&j, "events_recorded", a.done_n);
			size_t events = 0;
			for (size_t i = 0; i < report.ncevents; i++)
				events += report.cevents[i].count;
			akm_json_kv_uint(&j, "events_reported", events);
		}
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	if (op == AKM_OP_ACTIVATE)
		printf("%s: activated by station %s; status %s\n", s.name, sid, status);
	else if (op == AKM_OP_CHECKIN)
		printf("%s: checked in with station %s; status %s; %u ASR package(s) delivered, %zu enrolled\n", s.name,
		       sid, status, (unsigned)a.done_n, enrolled);
	else
		printf("%s: station %s recorded %u event(s)\n", s.name, sid, (unsigned)a.done_n);
	return AKM_RC_OK; /* stdout checked at the end (akm_stdout_finish) */
}

static int run_activate(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	return run_net(c, &node_cmd_activate, AKM_OP_ACTIVATE, opts, npos);
}

static int run_checkin(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	return run_net(c, &node_cmd_checkin, AKM_OP_CHECKIN, opts, npos);
}

static int run_report(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	return run_net(c, &node_cmd_report, AKM_OP_REPORT, opts, npos);
}

#define NET_HELP                                                                                           \
	"  --nmm HOST:PORT     the station service (else $AKM_NMM); [IPv6]:PORT and\n"                       \
	"                      unix:PATH work too\n"                                                          \
	"  --hw-id VALUE       this node's hardware value (else the token serial)\n"                          \
	"  --timeout S         the whole exchange, in seconds (30)\n"

const node_cli_cmd node_cmd_activate = {
	"activate", "activate with the station over the network",
	"usage: akm-node activate --nmm HOST:PORT [--hw-id VALUE] [--timeout S] [common options]\n"
	"Proves to the station service that this node holds its provisioning\n"
	"relationship on the right hardware (docs/protocol.md), then answers the\n"
	"station's verification.  Exit 0 when the station accepted and verified.\n" NET_HELP,
	NODE_OPTS(net_opts_table), sizeof(net_opts), run_activate,
};

const node_cli_cmd node_cmd_checkin = {
	"checkin", "check in with the station",
	"usage: akm-node checkin --nmm HOST:PORT [--hw-id VALUE] [--timeout S] [common options]\n"
	"The same proof and verification as activate; then, through akm-pkcs11.so\n"
	"over this token, the node says which ASR generations it holds and enrolls\n"
	"the packages the station has for it (docs/asr.md).\n" NET_HELP,
	NODE_OPTS(net_opts_table), sizeof(net_opts), run_checkin,
};

const node_cli_cmd node_cmd_report = {
	"report", "report a security event to the station",
	"usage: akm-node report --nmm HOST:PORT --event KIND [--count N] [--detail TEXT]\n"
	"                       [--hw-id VALUE] [--timeout S] [common options]\n"
	"Sends one security event after the proof: KIND is wrong-pin, bundle-refused,\n"
	"key-failure, replay, tamper or other; N how many times (1); TEXT up to 64\n"
	"printable characters.  The station keeps it in its audit trail.\n" NET_HELP
	"  --event KIND        the event's kind\n"
	"  --count N           how many times it happened (1)\n"
	"  --detail TEXT       what happened\n",
	NODE_OPTS(report_opts_table), sizeof(net_opts), run_report,
};

/* akm-nmm policy test (docs/akm-nmm.md, docs/policy.md): a policy file
 * checked, then replayed against the station's recorded audit trail with
 * the records' own times, printing what would have fired and why.  A dry
 * run: nothing is written, nothing changed. */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hex.h"
#include "lib/monitor.h"
#include "shared/trail.h"

/* The default replay: the records of the last 7 days (the longest window). */
#define DEFAULT_SPAN AKM_POLICY_WINDOW_MAX
/* The clock ticks once a minute of the trail's time, at most TICKS_MAX
 * times between two records (longer gaps in longer steps). */
#define TICK 60
#define TICKS_MAX 1000

typedef struct policy_opts {
	unsigned long since;
	bool since_set, all;
} policy_opts;

typedef struct replay {
	const nmm_cli *c;
	const char *path;
	nmm_station *s;
	akm_monitor *m;
	const nmm_node *nodes;
	size_t nnodes;
	const nmm_asr *asrs;
	size_t nasrs;
	akm_json j;
	uint64_t clock;              /* the replay's time: the last tick (0 before the first record) */
	uint64_t records, events, ignored, first_seq, last_seq;
	size_t fired, by_action[AKM_ACT_COUNT];
} replay;

static void iso_time(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%llu", (unsigned long long)t);
}

static const nmm_node *node_of(const replay *r, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].pr_id_len == len && memcmp(r->nodes[i].pr_id, id, len) == 0)
			return &r->nodes[i];
	return NULL;
}

static const nmm_asr *asr_of(const replay *r, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < r->nasrs; i++)
		if (r->asrs[i].id_len == len && memcmp(r->asrs[i].id, id, len) == 0)
			return &r->asrs[i];
	return NULL;
}

/* One fired action: a line, or an object of the "actions" array.  at_seq:
 * the record whose event fired it, 0 for the clock. */
static void print_action(replay *r, const akm_mon_action *a, uint64_t at_seq)
{
	char detail[512];
	akm_mon_action_detail(a, detail, sizeof detail);
	const nmm_node *n = a->scope == AKM_SCOPE_NODE ? node_of(r, a->subject, a->subject_len) : NULL;
	const nmm_asr *asr = a->scope == AKM_SCOPE_ASR ? asr_of(r, a->subject, a->subject_len) : NULL;
	r->fired++;
	r->by_action[a->action]++;
	if (r->c->json) {
		akm_json *j = &r->j;
		akm_json_object_begin(j);
		akm_json_kv_uint(j, "time", a->time);
		akm_json_key(j, "audit_seq");
		if (at_seq)
			akm_json_uint(j, at_seq);
		else
			akm_json_null(j);
		akm_json_kv_string(j, "rule", a->rule);
		akm_json_kv_string(j, "action", akm_policy_action_name(a->action));
		akm_json_kv_string(j, "audit_action", akm_mon_action_audit_name(a->action));
		akm_json_kv_string(j, "scope", akm_policy_scope_name(a->scope));
		if (a->scope == AKM_SCOPE_NODE) {
			akm_json_kv_string(j, "node", n ? n->name : NULL);
			akm_json_kv_hex(j, "pr_id", a->subject, a->subject_len);
		} else if (a->scope == AKM_SCOPE_ASR) {
			akm_json_kv_string(j, "asr", asr ? asr->name : NULL);
			akm_json_kv_hex(j, "asr_id", a->subject, a->subject_len);
		}
		akm_json_kv_string(j, "metric", akm_mon_metric_name(a->metric));
		akm_json_kv_uint(j, "value", a->value);
		akm_json_kv_string(j, "operator", akm_policy_op_name(a->op));
		akm_json_kv_uint(j, "threshold", a->threshold);
		akm_json_key(j, "events");
		akm_json_array_begin(j);
		for (size_t i = 0; i < a->nseqs; i++)
			akm_json_uint(j, a->seqs[i]);
		akm_json_array_end(j);
		akm_json_kv_uint(j, "events_counted", a->nevents);
		akm_json_kv_string(j, "detail", detail);
		akm_json_object_end(j);
		return;
	}
	char when[32], seq[24], subject[AKM_ESCAPED(80)], hex[2 * AKM_MON_ID_MAX + 1];
	iso_time(a->time, when);
	snprintf(seq, sizeof seq, at_seq ? "%llu" : "clock", (unsigned long long)at_seq);
	akm_hex_encode(a->subject, a->subject_len, hex);
	if (a->scope == AKM_SCOPE_STATION)
		snprintf(subject, sizeof subject, "station");
	else if (n != NULL || asr != NULL) {
		char name[AKM_ESCAPED(65)];
		const char *raw = n ? n->name : asr->name;
		snprintf(subject, sizeof subject, "%s %s", n ? "node" : "asr", akm_escape(name, sizeof name, raw, (size_t)-1));
	} else
		snprintf(subject, sizeof subject, "%s %.32s", a->scope == AKM_SCOPE_NODE ? "pr" : "asr-id", hex);
	printf("%6s %-20s %-18s %-20s %s\n", seq, when, akm_mon_action_audit_name(a->action), subject, detail);
}

static void drain(replay *r, uint64_t at_seq)
{
	akm_mon_action a[16];
	size_t n;
	while ((n = akm_monitor_drain(r->m, a, 16)) > 0)
		for (size_t i = 0; i < n; i++)
			print_action(r, &a[i], at_seq);
}

/* The clock up to `to`: ticks in steps, the last at `to`. */
static void advance(replay *r, uint64_t to)
{
	if (r->clock == 0 || to <= r->clock) {
		if (r->clock == 0)
			r->clock = to;
		return;
	}
	uint64_t step = TICK, gap = to - r->clock;
	if (gap / step > TICKS_MAX)
		step = gap / TICKS_MAX;
	for (uint64_t t = r->clock + step; t < to; t += step) {
		akm_monitor_tick(r->m, t);
		drain(r, 0);
	}
	akm_monitor_tick(r->m, to);
	drain(r, 0);
	r->clock = to;
}

/* One record of the trail through the engine. */
static void replay_record(replay *r, const nmm_audit_rec *rec)
{
	if (r->records++ == 0)
		r->first_seq = rec->seq;
	r->last_seq = rec->seq;
	advance(r, rec->time);
	/* The operator's reinstate (the station's signed record) lifts a
	 * quarantine the replay set. */
	if (strcmp(rec->action, "reinstate") == 0 && rec->rid_len > 0 &&
	    nmm_audit_check_sig(r->s, rec) == NMM_AUDIT_SIG_VALID) {
		akm_monitor_reinstate(r->m, rec->rid, rec->rid_len);
		return;
	}
	akm_mon_event ev[AKM_MON_FROM_AUDIT_MAX];
	bool untrusted;
	size_t n = nmm_policy_events(r->s, rec, ev, AKM_MON_FROM_AUDIT_MAX, &untrusted);
	r->ignored += untrusted; /* an application's record the station did not sign */
	for (size_t i = 0; i < n; i++) {
		akm_monitor_feed(r->m, &ev[i]);
		r->events++;
		drain(r, rec->seq);
	}
}

static void print_summary(replay *r)
{
	if (r->c->json) {
		akm_json *j = &r->j;
		akm_json_array_end(j);
		akm_json_kv_uint(j, "records", r->records);
		akm_json_key(j, "from_seq");
		r->records ? akm_json_uint(j, r->first_seq) : akm_json_null(j);
		akm_json_key(j, "to_seq");
		r->records ? akm_json_uint(j, r->last_seq) : akm_json_null(j);
		akm_json_kv_uint(j, "events", r->events);
		akm_json_kv_uint(j, "ignored", r->ignored);
		akm_json_key(j, "by_action");
		akm_json_object_begin(j);
		for (int a = 0; a < AKM_ACT_COUNT; a++)
			akm_json_kv_uint(j, akm_policy_action_name((akm_policy_action)a), r->by_action[a]);
		akm_json_object_end(j);
		akm_json_kv_bool(j, "changed", false);
		akm_json_object_end(j);
		return;
	}
	if (r->records == 0)
		printf("no audit records to replay\n");
	else
		printf("replayed records %llu..%llu: %llu records, %llu events", (unsigned long long)r->first_seq,
		       (unsigned long long)r->last_seq, (unsigned long long)r->records, (unsigned long long)r->events);
	if (r->ignored)
		printf(" (%llu application record%s not signed by the station: ignored)", (unsigned long long)r->ignored,
		       r->ignored == 1 ? "" : "s");
	if (r->records)
		putchar('\n');
	if (r->fired == 0) {
		printf("nothing would have fired; nothing was changed\n");
		return;
	}
	printf("%zu action%s would have fired (", r->fired, r->fired == 1 ? "" : "s");
	const char *sep = "";
	for (int a = 0; a < AKM_ACT_COUNT; a++)
		if (r->by_action[a]) {
			printf("%s%s %zu", sep, akm_policy_action_name((akm_policy_action)a), r->by_action[a]);
			sep = ", ";
		}
	printf("); nothing was changed\n");
}

/* The first of the trail's records h[0..n) (in order) to replay: from
 * sequence number `since` (a record's handle is 0x20000000 + seq: no read),
 * or from time `from` (a binary search reading only the records' times,
 * which do not go down along the trail); 0 for --all.  Records before it
 * are not read at all. */
static size_t first_record(nmm_station *s, const CK_OBJECT_HANDLE *h, size_t n, const policy_opts *o, uint64_t from)
{
	size_t lo = 0, hi = n;
	if (o->all)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		bool before;
		if (o->since_set) {
			before = h[mid] < AKM_TRAIL_HANDLE(o->since);
		} else {
			CK_ULONG t = 0;
			CK_ATTRIBUTE a = {CKA_AKM_AUDIT_TIME, &t, sizeof t};
			if (s->p.f->C_GetAttributeValue(s->p.session, h[mid], &a, 1) != CKR_OK)
				return lo; /* read from here: the loop reports a record it cannot read */
			before = t < from;
		}
		if (before)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int run_test(const nmm_cli *c, const policy_opts *o, const char *path)
{
	akm_policy *pol = calloc(1, sizeof *pol);
	if (pol == NULL)
		return akm_report(AKM_RC_FILES, "policy", "out of memory");
	/* The file first: a refused policy needs no PIN. */
	int code = nmm_policy_read("policy", path, pol);
	if (code != AKM_RC_OK) {
		free(pol);
		return code;
	}
	nmm_station s;
	if ((code = nmm_cli_station_open(c, &s)) != AKM_RC_OK) {
		free(pol);
		return code;
	}
	replay r = {.c = c, .path = path, .s = &s};
	nmm_node *nodes = NULL;
	nmm_asr *asrs = NULL;
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	nmm_audit_rec *rec = malloc(sizeof *rec);
	r.m = akm_monitor_create(pol, NULL);
	if (rec == NULL || r.m == NULL) {
		code = akm_report(AKM_RC_FILES, "policy", "out of memory");
		goto out;
	}
	if ((code = nmm_node_list(&s, false, "policy", &nodes, &r.nnodes)) != AKM_RC_OK ||
	    (code = nmm_asr_list(&s, "policy", &asrs, &r.nasrs)) != AKM_RC_OK)
		goto out;
	r.nodes = nodes;
	r.asrs = asrs;
	if (nmm_audit_find(&s, NULL, &h, &count) != 0) {
		code = akm_report(AKM_RC_TOKEN, "policy", "reading the audit trail: %s", s.p.err);
		goto out;
	}
	uint64_t now = (uint64_t)time(NULL), from_time = now > DEFAULT_SPAN ? now - DEFAULT_SPAN : 0;
	if (c->json) {
		akm_json_init(&r.j, stdout);
		akm_json_object_begin(&r.j);
		akm_json_kv_string(&r.j, "policy", path);
		akm_json_kv_uint(&r.j, "rules", pol->nrules);
		akm_json_key(&r.j, "actions");
		akm_json_array_begin(&r.j);
	} else {
		printf("policy %s: %zu rule%s, accepted; a dry run against the audit trail (%s)\n", path, pol->nrules,
		       pol->nrules == 1 ? "" : "s",
		       o->all ? "all records" : o->since_set ? "records from --since on" : "the last 7 days");
		printf("%6s %-20s %-18s %-20s %s\n", "SEQ", "TIME", "WOULD RECORD", "SUBJECT", "WHY");
	}
	for (size_t i = first_record(&s, h, count, o, from_time); i < count; i++) {
		if (nmm_audit_read(&s, h[i], rec) != 0) {
			code = akm_report(AKM_RC_TOKEN, "policy", "reading the audit trail: %s", s.p.err);
			break;
		}
		replay_record(&r, rec);
	}
	/* The gauges as of now: what would fire next. */
	if (code == AKM_RC_OK && r.records > 0)
		advance(&r, now);
	if (c->json) {
		print_summary(&r);
		int out = akm_json_finish(&r.j);
		if (code == AKM_RC_OK)
			code = out;
	} else if (code == AKM_RC_OK) {
		print_summary(&r);
		if (fflush(stdout) != 0)
			code = akm_report(AKM_RC_FILES, "stdout", "write failed");
	}
out:
	akm_monitor_free(r.m);
	free(rec);
	free(h);
	free(asrs);
	free(nodes);
	free(pol);
	nmm_station_close(&s);
	return code;
}

static int run_policy(const nmm_cli *c, const void *opts)
{
	const policy_opts *o = opts;
	if (strcmp(c->args[0], "test") != 0) {
		char esc[AKM_ESCAPED(40)];
		return akm_report(AKM_RC_USAGE, "policy", "no such subcommand \"%s\" (test)",
		                  akm_escape(esc, sizeof esc, c->args[0], strnlen(c->args[0], 40)));
	}
	if (c->nargs != 2)
		return akm_report(AKM_RC_USAGE, "policy", "test needs the policy file: policy test FILE");
	if (o->all && o->since_set)
		return akm_report(AKM_RC_USAGE, "policy", "--all replays every record: it does not go with --since");
	if (o->since_set && o->since == 0)
		return akm_report(AKM_RC_USAGE, "policy", "--since: audit records are numbered from 1");
	return run_test(c, o, c->args[1]);
}

static const nmm_cli_opt policy_options[] = {
	NMM_NUM_OPT(policy_opts, since, since_set, "--since"),
	NMM_OPT(policy_opts, all, "--all"),
};

const nmm_cli_cmd nmm_cmd_policy = {
	"policy", run_policy, 1, 2,
	"policy test FILE [--since SEQ | --all]\n"
	"  Checks a breach-response policy (akm-policy.conf(5), docs/policy.md): a\n"
	"  malformed or unsafe one is refused with its line named (exit 2).  Then replays\n"
	"  the station's audit trail through it with the records' own times (the last\n"
	"  7 days, the records from SEQ on, or all of them) and prints each action that\n"
	"  would have fired, the record that fired it and why.  Changes nothing.\n",
	NMM_OPTS(policy_options), sizeof(policy_opts),
};

/*
 * Audit records -> monitor events (monitor.h, akm_mon_from_audit): two
 * tables, one of audit actions and one of the event names in a node's
 * report ("node-report" records).  docs/policy.md, "Where events come
 * from", is the same tables in words: change both together.
 */
#include "lib/monitor.h"

#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "lib/hex.h"

/* Who the event is attributed to. */
typedef enum {
	TO_NONE,       /* the station only */
	TO_NODE,       /* the record's relationship is the node's PR (or the relationship used) */
	TO_ASR,        /* the record's relationship is an ASR */
	TO_REPORT,     /* a node-report: the second table */
} to;

/* Who may have written the record: the module (any actor but "app") or
 * the station's tools and service (actor "app", signed: the caller checks
 * the signature). */
typedef enum { BY_MODULE, BY_STATION } by;

#define ANY_RESULT (~0UL)

static const struct audit_map {
	const char *action;
	by by;
	unsigned long result;      /* ANY_RESULT, or the only result that maps */
	const char *needs;         /* a detail field the record must have ("reason=unknown"), or NULL */
	akm_mon_metric kind;
	to to;
} audit_map[] = {
	/* the module (docs/object-model.md §9) */
	{"login", BY_MODULE, CKR_PIN_INCORRECT, NULL, AKM_MON_WRONG_PIN, TO_NONE},
	{"login", BY_MODULE, CKR_PIN_LOCKED, NULL, AKM_MON_LOGIN_REFUSED, TO_NONE},
	{"login-refused", BY_MODULE, ANY_RESULT, NULL, AKM_MON_LOGIN_REFUSED, TO_NONE},
	{"use-refused", BY_MODULE, ANY_RESULT, NULL, AKM_MON_REFUSED_STATE, TO_NODE},
	{"verify-failed", BY_MODULE, ANY_RESULT, NULL, AKM_MON_KEY_FAILURE, TO_NODE},
	{"decrypt-failed", BY_MODULE, ANY_RESULT, NULL, AKM_MON_KEY_FAILURE, TO_NODE},
	{"unknown-relationship", BY_MODULE, ANY_RESULT, NULL, AKM_MON_UNKNOWN_REL, TO_NONE},
	{"tamper-detected", BY_MODULE, ANY_RESULT, NULL, AKM_MON_TAMPER, TO_NONE},
	{"rollback-detected", BY_MODULE, ANY_RESULT, NULL, AKM_MON_TAMPER, TO_NONE},
	{"asr-refused", BY_MODULE, ANY_RESULT, NULL, AKM_MON_TAMPER, TO_ASR},
	{"asr-create", BY_MODULE, CKR_OK, NULL, AKM_MON_ASR_CREATED, TO_ASR},
	{"asr-add", BY_MODULE, CKR_OK, NULL, AKM_MON_ASR_REKEYED, TO_ASR},
	{"asr-remove", BY_MODULE, CKR_OK, NULL, AKM_MON_ASR_REKEYED, TO_ASR},
	{"asr-rekey", BY_MODULE, CKR_OK, NULL, AKM_MON_ASR_REKEYED, TO_ASR},
	/* the station service (docs/protocol.md §6, §4) */
	{"act-malformed", BY_STATION, ANY_RESULT, NULL, AKM_MON_MALFORMED, TO_NODE},
	{"act-timeout", BY_STATION, ANY_RESULT, NULL, AKM_MON_MALFORMED, TO_NONE},
	{"act-refused", BY_STATION, ANY_RESULT, "reason=unknown", AKM_MON_UNKNOWN_REL, TO_NONE},
	{"act-refused", BY_STATION, ANY_RESULT, "reason=state", AKM_MON_REFUSED_STATE, TO_NODE},
	/* the policy's own demand (policy-reactivate) answered: no event */
	{"act-refused", BY_STATION, ANY_RESULT, "reason=reactivate", AKM_MON_NONE, TO_NONE},
	{"act-refused", BY_STATION, ANY_RESULT, NULL, AKM_MON_MALFORMED, TO_NONE}, /* cookie, decrypt */
	{"act-bad-proof", BY_STATION, ANY_RESULT, NULL, AKM_MON_BAD_PROOF, TO_NODE},
	{"node-verify-failed", BY_STATION, ANY_RESULT, NULL, AKM_MON_BAD_PROOF, TO_NODE},
	{"act-replay", BY_STATION, ANY_RESULT, NULL, AKM_MON_REPLAY, TO_NODE},
	{"clone-signal", BY_STATION, ANY_RESULT, "reason=address", AKM_MON_CLONE_ADDRESS, TO_NODE},
	{"clone-signal", BY_STATION, ANY_RESULT, NULL, AKM_MON_CLONE, TO_NODE}, /* reason=hardware */
	{"lockout", BY_STATION, ANY_RESULT, NULL, AKM_MON_LOCKOUT, TO_NODE},   /* an address's: no node */
	{"activate", BY_STATION, CKR_OK, "verified", AKM_MON_CHECKIN, TO_NODE},
	{"checkin", BY_STATION, CKR_OK, "verified", AKM_MON_CHECKIN, TO_NODE},
	{"report", BY_STATION, CKR_OK, "verified", AKM_MON_CHECKIN, TO_NODE},
	{"node-report", BY_STATION, CKR_OK, NULL, AKM_MON_NONE, TO_REPORT},
};

/* A node's report: "event=<name>" (lib/proto.c, akm_proto_event_name). */
typedef enum {
	FROM_REPORTER,   /* the node that reported it */
	FROM_SENDER,     /* the sender the report names ("sender=<hex PR ID>"), else nobody */
} from;

static const struct report_map {
	const char *event;
	akm_mon_metric kind;
	from from;
} report_map[] = {
	{"wrong-pin", AKM_MON_WRONG_PIN, FROM_REPORTER},
	{"bundle-refused", AKM_MON_TAMPER, FROM_REPORTER},
	{"key-failure", AKM_MON_KEY_FAILURE, FROM_REPORTER},
	{"replay", AKM_MON_REPLAY, FROM_REPORTER},
	{"tamper", AKM_MON_TAMPER, FROM_REPORTER},
	{"other", AKM_MON_OTHER, FROM_REPORTER},
	/* ASR events a member reports at check-in */
	{"asr-forged", AKM_MON_FORGED, FROM_SENDER},
	{"asr-replay", AKM_MON_REPLAY, FROM_SENDER},
	{"asr-sent", AKM_MON_ASR_SENT, FROM_REPORTER},
};

/* The value of field `key` ("reason") in a detail "k=v; k=v ..." (a value
 * ends at ';' or a blank): the first occurrence at the start or after a
 * blank, ';' or '=' (a node report's "detail=asr=..").  NULL when absent. */
static const char *field(const char *detail, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	for (const char *p = detail; (p = strstr(p, key)) != NULL; p++) {
		if ((p == detail || p[-1] == ' ' || p[-1] == ';' || p[-1] == '=') && p[kl] == '=') {
			const char *v = p + kl + 1;
			*len = strcspn(v, "; \t");
			return v;
		}
	}
	return NULL;
}

static bool field_is(const char *detail, const char *key, const char *value)
{
	size_t n;
	const char *v = field(detail, key, &n);
	return v != NULL && strlen(value) == n && memcmp(v, value, n) == 0;
}

/* A decimal number in text (field value or after a word); def when none. */
static uint64_t number_at(const char *v, size_t n, uint64_t def)
{
	if (v == NULL || n == 0 || n > 19)
		return def;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return def;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	return x;
}

static uint64_t number_field(const char *detail, const char *key, uint64_t def)
{
	size_t n;
	const char *v = field(detail, key, &n);
	return number_at(v, n, def);
}

/* The generation in the module's asr-* details ("... generation <g>"). */
static uint64_t generation(const char *detail)
{
	const char *g = strstr(detail, "generation ");
	if (g == NULL)
		return 0;
	g += strlen("generation ");
	return number_at(g, strspn(g, "0123456789"), 0);
}

static bool hex_field(const char *detail, const char *key, uint8_t *out, size_t *out_len)
{
	size_t n;
	const char *v = field(detail, key, &n);
	*out_len = 0;
	if (v == NULL || n == 0 || n > 2 * AKM_MON_ID_MAX || n % 2)
		return false;
	return akm_hex_decode_n(v, n, out, AKM_MON_ID_MAX, out_len) == 0 && *out_len > 0;
}

static void set_id(uint8_t *dst, size_t *dst_len, const uint8_t *src, size_t len)
{
	if (src == NULL || len == 0 || len > AKM_MON_ID_MAX) {
		*dst_len = 0;
		return;
	}
	memcpy(dst, src, len);
	*dst_len = len;
}

static size_t from_report(const akm_mon_record *r, akm_mon_event *ev)
{
	size_t n;
	const char *name = field(r->detail, "event", &n);
	if (name == NULL)
		return 0;
	const struct report_map *m = NULL;
	for (size_t i = 0; i < sizeof report_map / sizeof report_map[0]; i++)
		if (strlen(report_map[i].event) == n && memcmp(report_map[i].event, name, n) == 0)
			m = &report_map[i];
	if (m == NULL)
		return 0;
	ev->kind = m->kind;
	uint64_t count = number_field(r->detail, "count", 1);
	ev->count = (uint32_t)(count > UINT32_MAX ? UINT32_MAX : count);
	hex_field(r->detail, "asr", ev->asr, &ev->asr_len);
	ev->epoch = number_field(r->detail, "epoch", 0);
	if (m->from == FROM_REPORTER)
		set_id(ev->node, &ev->node_len, r->rid, r->rid_len);
	else
		hex_field(r->detail, "sender", ev->node, &ev->node_len);
	return 1;
}

size_t akm_mon_from_audit(const akm_mon_record *r, akm_mon_event *out, size_t max)
{
	if (max == 0 || r->action == NULL)
		return 0;
	const char *detail = r->detail ? r->detail : "";
	bool app = r->actor != NULL && strcmp(r->actor, "app") == 0;
	for (size_t i = 0; i < sizeof audit_map / sizeof audit_map[0]; i++) {
		const struct audit_map *m = &audit_map[i];
		if (strcmp(m->action, r->action) != 0 || (m->by == BY_STATION) != app)
			continue;
		if (m->result != ANY_RESULT && m->result != r->result)
			continue;
		if (m->needs != NULL) {
			const char *eq = strchr(m->needs, '=');
			bool has;
			if (eq != NULL) {
				char key[32];
				size_t kl = (size_t)(eq - m->needs);
				memcpy(key, m->needs, kl);
				key[kl] = '\0';
				has = field_is(detail, key, eq + 1);
			} else {
				/* a word of the detail: "; verified" */
				size_t wl = strlen(m->needs);
				const char *p = strstr(detail, m->needs);
				has = p != NULL && (p == detail || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ';');
			}
			if (!has)
				continue;
		}
		akm_mon_event *ev = &out[0];
		memset(ev, 0, sizeof *ev);
		ev->time = r->time;
		ev->seq = r->seq;
		ev->count = 1;
		if (m->to == TO_REPORT)
			return from_report(r, ev);
		if (m->kind == AKM_MON_NONE)
			return 0;
		ev->kind = m->kind;
		if (m->to == TO_NODE)
			set_id(ev->node, &ev->node_len, r->rid, r->rid_len);
		else if (m->to == TO_ASR) {
			set_id(ev->asr, &ev->asr_len, r->rid, r->rid_len);
			ev->epoch = generation(detail);
		}
		return 1;
	}
	return 0;
}

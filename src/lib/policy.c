/*
 * The policy file's parser and the names of metrics, scopes, operators and
 * actions (policy.h; the grammar is docs/policy.md).  Line by line: a rule
 * starts at "rule NAME" and takes the settings up to the next rule; each
 * rule is checked when it ends, each message names the line of the setting
 * at fault.
 */
#include "lib/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- names ---- */

/* Which scopes a metric applies to (bit per scope). */
#define S_NODE (1u << AKM_SCOPE_NODE)
#define S_ASR (1u << AKM_SCOPE_ASR)
#define S_STATION (1u << AKM_SCOPE_STATION)

static const struct {
	const char *name;
	unsigned scopes;
} metrics[AKM_MON_METRIC_COUNT] = {
	[AKM_MON_WRONG_PIN] = {"wrong-pin", S_NODE | S_STATION},
	[AKM_MON_LOGIN_REFUSED] = {"login-refused", S_STATION},
	[AKM_MON_LOCKOUT] = {"lockout", S_NODE | S_STATION},
	[AKM_MON_KEY_FAILURE] = {"key-failure", S_NODE | S_STATION},
	[AKM_MON_BAD_PROOF] = {"bad-proof", S_NODE | S_STATION},
	[AKM_MON_FORGED] = {"forged", S_NODE | S_ASR | S_STATION},
	[AKM_MON_REPLAY] = {"replay", S_NODE | S_ASR | S_STATION},
	[AKM_MON_CLONE] = {"clone", S_NODE | S_STATION},
	[AKM_MON_CLONE_ADDRESS] = {"clone-address", S_NODE | S_STATION},
	[AKM_MON_UNKNOWN_REL] = {"unknown-relationship", S_STATION},
	[AKM_MON_REFUSED_STATE] = {"refused-state", S_NODE | S_STATION},
	[AKM_MON_TAMPER] = {"tamper", S_NODE | S_ASR | S_STATION},
	[AKM_MON_MALFORMED] = {"malformed", S_NODE | S_STATION},
	[AKM_MON_OTHER] = {"other", S_NODE | S_STATION},
	[AKM_MON_CHECKIN] = {"checkins", S_NODE | S_STATION},
	[AKM_MON_ASR_CREATED] = {"asr-created", S_ASR | S_STATION},
	[AKM_MON_ASR_REKEYED] = {"asr-rekeys", S_ASR | S_STATION},
	[AKM_MON_ASR_SENT] = {"asr-sent", S_ASR | S_STATION},
	[AKM_MON_BREACHES] = {"breaches", S_NODE | S_ASR | S_STATION},
	[AKM_MON_ASR_AGE] = {"asr-age", S_ASR},
	[AKM_MON_ASR_MESSAGES] = {"asr-messages", S_ASR},
	[AKM_MON_NODE_SILENCE] = {"node-silence", S_NODE},
};

static const char *const scope_names[AKM_SCOPE_COUNT] = {"node", "asr", "station"};
static const char *const op_names[] = {">", ">=", "<", "<=", "=="};
static const char *const action_names[AKM_ACT_COUNT] = {"alert",      "quarantine", "evict", "revoke",
                                                        "reactivate", "rekey",      "stale"};
/* Which scopes an action applies to. */
static const unsigned action_scopes[AKM_ACT_COUNT] = {
	S_NODE | S_ASR | S_STATION, S_NODE, S_NODE, S_NODE, S_NODE, S_ASR, S_NODE,
};

const char *akm_mon_metric_name(akm_mon_metric m)
{
	return (unsigned)m < AKM_MON_METRIC_COUNT && metrics[m].name ? metrics[m].name : "?";
}

static bool word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(w, name, n) == 0;
}

akm_mon_metric akm_mon_metric_by_name(const char *name, size_t len)
{
	for (int m = 1; m < AKM_MON_METRIC_COUNT; m++)
		if (word_is(name, len, metrics[m].name))
			return (akm_mon_metric)m;
	return AKM_MON_NONE;
}

const char *akm_policy_scope_name(akm_policy_scope s)
{
	return (unsigned)s < AKM_SCOPE_COUNT ? scope_names[s] : "?";
}

const char *akm_policy_op_name(akm_policy_op op)
{
	return (unsigned)op <= AKM_OP_EQ ? op_names[op] : "?";
}

const char *akm_policy_action_name(akm_policy_action a)
{
	return (unsigned)a < AKM_ACT_COUNT ? action_names[a] : "?";
}

bool akm_mon_metric_is_breach(akm_mon_metric m)
{
	return (m >= AKM_MON_FIRST_BREACH && m <= AKM_MON_LAST_BREACH) || m == AKM_MON_BREACHES;
}

bool akm_mon_metric_is_gauge(akm_mon_metric m)
{
	return m == AKM_MON_ASR_AGE || m == AKM_MON_ASR_MESSAGES || m == AKM_MON_NODE_SILENCE;
}

bool akm_policy_action_is_destructive(akm_policy_action a)
{
	return a == AKM_ACT_QUARANTINE || a == AKM_ACT_EVICT || a == AKM_ACT_REVOKE || a == AKM_ACT_REACTIVATE;
}

bool akm_policy_holds(akm_policy_op op, uint64_t value, uint64_t threshold)
{
	switch (op) {
	case AKM_OP_GT: return value > threshold;
	case AKM_OP_GE: return value >= threshold;
	case AKM_OP_LT: return value < threshold;
	case AKM_OP_LE: return value <= threshold;
	case AKM_OP_EQ: return value == threshold;
	}
	return false;
}

/* ---- the parser ---- */

#define LINE_MAX_LEN 1024
#define WORDS_MAX 16

enum key {
	K_SCOPE, K_METRIC, K_THRESHOLD, K_WINDOW, K_TO_ALARM, K_TO_CLEAR, K_ACTIONS, K_COOLDOWN, K_COUNT
};
static const char *const key_names[K_COUNT] = {"scope",  "metric",   "threshold", "window", "datapoints-to-alarm",
                                               "datapoints-to-clear", "actions", "cool-down"};

typedef struct parser {
	const char *file;
	char *err;
	size_t err_len;
	unsigned line;
	akm_policy *out;
	akm_policy_rule *rule;        /* the rule being read, or NULL */
	unsigned key_line[K_COUNT];   /* where each setting of the rule was given (0: not given) */
	bool threshold_has_unit;
} parser;

typedef struct word {
	const char *p;
	size_t n;
} word;

static akm_policy_rc fail_at(parser *ps, akm_policy_rc rc, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static akm_policy_rc fail_at(parser *ps, akm_policy_rc rc, unsigned line, const char *fmt, ...)
{
	if (ps->err_len > 0) {
		int n = snprintf(ps->err, ps->err_len, "%s:%u: ", ps->file, line);
		if (n >= 0 && (size_t)n < ps->err_len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->err_len - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return rc;
}

/* A word for a message: at most 40 characters, quoted by the caller. */
#define SHOW(w) (int)((w).n > 40 ? 40 : (w).n), (w).p

/* A non-negative decimal number with an optional unit (s, m, h, d) when
 * `units`; *has_unit says whether one was given.  false when not a number
 * or over max. */
static bool parse_number(word w, bool units, uint64_t max, uint64_t *out, bool *has_unit)
{
	uint64_t mult = 1;
	size_t n = w.n;
	if (has_unit)
		*has_unit = false;
	if (units && n > 1) {
		switch (w.p[n - 1]) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: mult = 0; break;
		}
		if (mult != 0) {
			n--;
			if (has_unit)
				*has_unit = true;
		} else {
			mult = 1;
		}
	}
	if (n == 0 || n > 12)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (w.p[i] < '0' || w.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(w.p[i] - '0');
	}
	v *= mult;
	if (v > max)
		return false;
	*out = v;
	return true;
}

static akm_policy_rc one_word(parser *ps, const word *w, size_t nw, const char *what)
{
	if (nw == 1)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"%.*s\" needs %s", SHOW(w[0]), what);
	if (nw > 2)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"%.*s\" takes one value, not %zu", SHOW(w[0]),
		               nw - 1);
	return AKM_POLICY_OK;
}

static akm_policy_rc duration(parser *ps, const word *w, size_t nw, uint64_t min, uint64_t max, uint32_t *out)
{
	akm_policy_rc rc = one_word(ps, w, nw, "a duration (e.g. 30s, 5m, 2h, 1d)");
	if (rc != AKM_POLICY_OK)
		return rc;
	uint64_t v;
	if (!parse_number(w[1], true, UINT32_MAX, &v, NULL))
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line,
		               "%.*s \"%.*s\" is not a duration (a number with s, m, h or d)", SHOW(w[0]), SHOW(w[1]));
	if (v < min || v > max)
		return fail_at(ps, AKM_POLICY_UNSAFE, ps->line, "unsafe: %.*s %.*s is out of range (%llus to %llus)",
		               SHOW(w[0]), SHOW(w[1]), (unsigned long long)min, (unsigned long long)max);
	*out = (uint32_t)v;
	return AKM_POLICY_OK;
}

static akm_policy_rc datapoints(parser *ps, const word *w, size_t nw, uint32_t *out)
{
	akm_policy_rc rc = one_word(ps, w, nw, "a number of datapoints");
	if (rc != AKM_POLICY_OK)
		return rc;
	uint64_t v;
	if (!parse_number(w[1], false, UINT32_MAX, &v, NULL))
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "%.*s \"%.*s\" is not a number", SHOW(w[0]),
		               SHOW(w[1]));
	if (v < 1 || v > AKM_POLICY_DATAPOINTS_MAX)
		return fail_at(ps, AKM_POLICY_UNSAFE, ps->line, "unsafe: %.*s %llu is out of range (1 to %u)", SHOW(w[0]),
		               (unsigned long long)v, AKM_POLICY_DATAPOINTS_MAX);
	*out = (uint32_t)v;
	return AKM_POLICY_OK;
}

/* "threshold" OP VALUE, the operator attached to the value or not. */
static akm_policy_rc threshold(parser *ps, const word *w, size_t nw)
{
	if (nw < 2)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"threshold\" needs an operator and a value (e.g. > 5)");
	word op = w[1], val = {NULL, 0};
	size_t oplen = 0;
	while (oplen < op.n && strchr("<>=!", op.p[oplen]) != NULL)
		oplen++;
	if (oplen < op.n) {
		if (nw != 2)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"threshold\" takes an operator and one value");
		val = (word){op.p + oplen, op.n - oplen};
	} else {
		if (nw != 3)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"threshold\" takes an operator and one value");
		val = w[2];
	}
	op.n = oplen;
	int which = -1;
	for (int i = 0; i <= AKM_OP_EQ; i++)
		if (word_is(op.p, op.n, op_names[i]))
			which = i;
	if (which < 0)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "unknown operator \"%.*s\" (>, >=, <, <= or ==)",
		               SHOW(op));
	uint64_t v;
	if (!parse_number(val, true, UINT64_MAX, &v, &ps->threshold_has_unit))
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line,
		               "threshold \"%.*s\" is not a number (a count, or a duration with s, m, h or d)", SHOW(val));
	ps->rule->op = (akm_policy_op)which;
	ps->rule->threshold = v;
	return AKM_POLICY_OK;
}

static akm_policy_rc actions(parser *ps, const word *w, size_t nw)
{
	if (nw < 2)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"actions\" needs at least one action");
	if (nw - 1 > AKM_POLICY_ACTIONS_MAX)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "more than %d actions", AKM_POLICY_ACTIONS_MAX);
	akm_policy_rule *r = ps->rule;
	for (size_t i = 1; i < nw; i++) {
		int which = -1;
		for (int a = 0; a < AKM_ACT_COUNT; a++)
			if (word_is(w[i].p, w[i].n, action_names[a]))
				which = a;
		if (which < 0)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line,
			               "unknown action \"%.*s\" (alert, quarantine, evict, revoke, reactivate, rekey, stale)",
			               SHOW(w[i]));
		for (size_t j = 0; j < r->nactions; j++)
			if (r->actions[j] == (akm_policy_action)which)
				return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "action \"%s\" given twice",
				               action_names[which]);
		r->actions[r->nactions++] = (akm_policy_action)which;
	}
	return AKM_POLICY_OK;
}

static akm_policy_rc setting(parser *ps, const word *w, size_t nw)
{
	int key = -1;
	for (int k = 0; k < K_COUNT; k++)
		if (word_is(w[0].p, w[0].n, key_names[k]))
			key = k;
	if (key < 0)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line,
		               "unknown setting \"%.*s\" (rule, scope, metric, threshold, window, datapoints-to-alarm, "
		               "datapoints-to-clear, actions, cool-down)",
		               SHOW(w[0]));
	if (ps->rule == NULL)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"%s\" outside a rule (start one with \"rule NAME\")",
		               key_names[key]);
	if (ps->key_line[key] != 0)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "\"%s\" given twice in rule \"%s\" (line %u)",
		               key_names[key], ps->rule->name, ps->key_line[key]);
	ps->key_line[key] = ps->line;
	akm_policy_rule *r = ps->rule;
	akm_policy_rc rc;
	switch (key) {
	case K_SCOPE:
		if ((rc = one_word(ps, w, nw, "node, asr or station")) != AKM_POLICY_OK)
			return rc;
		for (int s = 0; s < AKM_SCOPE_COUNT; s++)
			if (word_is(w[1].p, w[1].n, scope_names[s])) {
				r->scope = (akm_policy_scope)s;
				return AKM_POLICY_OK;
			}
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "unknown scope \"%.*s\" (node, asr or station)",
		               SHOW(w[1]));
	case K_METRIC:
		if ((rc = one_word(ps, w, nw, "a metric")) != AKM_POLICY_OK)
			return rc;
		r->metric = akm_mon_metric_by_name(w[1].p, w[1].n);
		if (r->metric == AKM_MON_NONE)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "unknown metric \"%.*s\"", SHOW(w[1]));
		return AKM_POLICY_OK;
	case K_THRESHOLD: return threshold(ps, w, nw);
	case K_WINDOW: return duration(ps, w, nw, AKM_POLICY_WINDOW_MIN, AKM_POLICY_WINDOW_MAX, &r->window);
	case K_TO_ALARM: return datapoints(ps, w, nw, &r->to_alarm);
	case K_TO_CLEAR: return datapoints(ps, w, nw, &r->to_clear);
	case K_ACTIONS: return actions(ps, w, nw);
	default: return duration(ps, w, nw, 0, AKM_POLICY_COOLDOWN_MAX, &r->cooldown);
	}
}

/* The rule read so far, whole: what each setting means with the others. */
static akm_policy_rc rule_end(parser *ps)
{
	akm_policy_rule *r = ps->rule;
	if (r == NULL)
		return AKM_POLICY_OK;
	ps->rule = NULL;
	const unsigned *kl = ps->key_line;
	static const int required[] = {K_SCOPE, K_METRIC, K_THRESHOLD, K_ACTIONS};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (kl[required[i]] == 0)
			return fail_at(ps, AKM_POLICY_MALFORMED, r->line, "rule \"%s\" has no %s", r->name,
			               key_names[required[i]]);
	const char *m = metrics[r->metric].name, *sc = scope_names[r->scope];
	if (!(metrics[r->metric].scopes & (1u << r->scope)))
		return fail_at(ps, AKM_POLICY_MALFORMED, kl[K_METRIC], "metric \"%s\" does not apply to scope %s", m, sc);
	bool gauge = akm_mon_metric_is_gauge(r->metric);
	bool seconds = r->metric == AKM_MON_ASR_AGE || r->metric == AKM_MON_NODE_SILENCE;
	if (gauge && kl[K_WINDOW] != 0)
		return fail_at(ps, AKM_POLICY_MALFORMED, kl[K_WINDOW], "metric \"%s\" is a gauge: it takes no window", m);
	if (!gauge && kl[K_WINDOW] == 0)
		return fail_at(ps, AKM_POLICY_MALFORMED, r->line, "rule \"%s\" has no window (metric \"%s\" is counted)",
		               r->name, m);
	if (ps->threshold_has_unit && !seconds)
		return fail_at(ps, AKM_POLICY_MALFORMED, kl[K_THRESHOLD],
		               "metric \"%s\" is a count: its threshold takes no unit", m);
	uint64_t max = seconds ? AKM_POLICY_GAUGE_MAX : AKM_POLICY_COUNT_MAX;
	if (r->threshold > max)
		return fail_at(ps, AKM_POLICY_UNSAFE, kl[K_THRESHOLD], "unsafe: threshold %llu is over %llu",
		               (unsigned long long)r->threshold, (unsigned long long)max);
	unsigned al = kl[K_ACTIONS];
	for (size_t i = 0; i < r->nactions; i++) {
		akm_policy_action a = r->actions[i];
		const char *an = action_names[a];
		bool ok_scope = action_scopes[a] & (1u << r->scope);
		if (!ok_scope && akm_policy_action_is_destructive(a))
			return fail_at(ps, AKM_POLICY_UNSAFE, al, "unsafe: destructive action \"%s\" on scope %s (nodes only)",
			               an, sc);
		if (!ok_scope)
			return fail_at(ps, AKM_POLICY_MALFORMED, al, "action \"%s\" does not apply to scope %s", an, sc);
		if (akm_policy_action_is_destructive(a)) {
			if (!akm_mon_metric_is_breach(r->metric))
				return fail_at(ps, AKM_POLICY_UNSAFE, al,
				               "unsafe: destructive action \"%s\" on metric \"%s\", which is not a breach signal",
				               an, m);
			if (akm_policy_holds(r->op, 0, r->threshold))
				return fail_at(ps, AKM_POLICY_UNSAFE, al,
				               "unsafe: destructive action \"%s\" on a threshold (%s %llu) that zero events meet",
				               an, op_names[r->op], (unsigned long long)r->threshold);
		}
		bool rising = r->op == AKM_OP_GT || r->op == AKM_OP_GE;
		if (a == AKM_ACT_STALE) {
			if (r->metric != AKM_MON_NODE_SILENCE)
				return fail_at(ps, AKM_POLICY_MALFORMED, al, "action \"stale\" applies to metric node-silence only");
			if (!rising || r->threshold < AKM_POLICY_STALE_MIN)
				return fail_at(ps, AKM_POLICY_UNSAFE, al,
				               "unsafe: \"stale\" needs node-silence > or >= at least %us (not %s %llu)",
				               AKM_POLICY_STALE_MIN, op_names[r->op], (unsigned long long)r->threshold);
		}
		if (a == AKM_ACT_REKEY) {
			uint64_t floor = r->metric == AKM_MON_ASR_AGE        ? AKM_POLICY_REKEY_AGE_MIN
			                 : r->metric == AKM_MON_ASR_MESSAGES ? AKM_POLICY_REKEY_MESSAGES_MIN
			                                                      : 0;
			if (gauge && (!rising || r->threshold < floor))
				return fail_at(ps, AKM_POLICY_UNSAFE, al,
				               "unsafe: \"rekey\" needs %s > or >= at least %llu (not %s %llu): it could storm", m,
				               (unsigned long long)floor, op_names[r->op], (unsigned long long)r->threshold);
			if (!gauge && (akm_policy_holds(r->op, 0, r->threshold) || r->cooldown < AKM_POLICY_REKEY_AGE_MIN))
				return fail_at(ps, AKM_POLICY_UNSAFE, al,
				               "unsafe: \"rekey\" on counted metric \"%s\" needs a threshold zero events do not "
				               "meet and a cool-down of at least %us: it could storm",
				               m, AKM_POLICY_REKEY_AGE_MIN);
		}
	}
	return AKM_POLICY_OK;
}

static akm_policy_rc rule_start(parser *ps, const word *w, size_t nw)
{
	akm_policy_rc rc = rule_end(ps);
	if (rc != AKM_POLICY_OK)
		return rc;
	if ((rc = one_word(ps, w, nw, "a name")) != AKM_POLICY_OK)
		return rc;
	word n = w[1];
	if (n.n > AKM_POLICY_NAME_MAX)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "rule name \"%.*s\" is longer than %d characters",
		               SHOW(n), AKM_POLICY_NAME_MAX);
	for (size_t i = 0; i < n.n; i++) {
		char c = n.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0)))
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line,
			               "rule name \"%.*s\": lower-case letters, digits and '-' (not first) only", SHOW(n));
	}
	akm_policy *p = ps->out;
	for (size_t i = 0; i < p->nrules; i++)
		if (word_is(n.p, n.n, p->rules[i].name))
			return fail_at(ps, AKM_POLICY_UNSAFE, ps->line, "unsafe: a second rule \"%s\" (the first is at line %u)",
			               p->rules[i].name, p->rules[i].line);
	if (p->nrules == AKM_POLICY_RULES_MAX)
		return fail_at(ps, AKM_POLICY_UNSAFE, ps->line, "unsafe: more than %d rules", AKM_POLICY_RULES_MAX);
	akm_policy_rule *r = &p->rules[p->nrules++];
	memset(r, 0, sizeof *r);
	memcpy(r->name, n.p, n.n);
	r->line = ps->line;
	r->to_alarm = r->to_clear = 1;
	ps->rule = r;
	memset(ps->key_line, 0, sizeof ps->key_line);
	ps->threshold_has_unit = false;
	return AKM_POLICY_OK;
}

/* One line (without its newline): comments off, words (separated by
 * blanks and commas), then a rule or a setting. */
static akm_policy_rc line(parser *ps, const char *s, size_t n)
{
	if (n > LINE_MAX_LEN)
		return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "line longer than %d characters", LINE_MAX_LEN);
	word w[WORDS_MAX];
	size_t nw = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '#')
			break;
		if (c == ' ' || c == '\t' || c == ',' || c == '\r') {
			i++;
			continue;
		}
		if (c < 0x20 || c > 0x7e)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "a character that is not printable ASCII (0x%02x)", c);
		size_t start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != ',' && s[i] != '#' && s[i] != '\r' &&
		       (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x7e)
			i++;
		if (nw == WORDS_MAX)
			return fail_at(ps, AKM_POLICY_MALFORMED, ps->line, "more than %d words on a line", WORDS_MAX);
		w[nw++] = (word){s + start, i - start};
	}
	if (nw == 0)
		return AKM_POLICY_OK;
	if (word_is(w[0].p, w[0].n, "rule"))
		return rule_start(ps, w, nw);
	return setting(ps, w, nw);
}

akm_policy_rc akm_policy_parse(const char *text, size_t len, const char *file, akm_policy *out, char *err,
                               size_t err_len)
{
	memset(out, 0, sizeof *out);
	if (err_len > 0)
		err[0] = '\0';
	parser ps = {.file = file ? file : "policy", .err = err, .err_len = err_len, .out = out};
	akm_policy_rc rc = AKM_POLICY_OK;
	size_t i = 0;
	while (rc == AKM_POLICY_OK && i < len) {
		ps.line++;
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		rc = line(&ps, text + i, n);
		i += n + (nl ? 1 : 0);
	}
	if (rc == AKM_POLICY_OK)
		rc = rule_end(&ps);
	if (rc != AKM_POLICY_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

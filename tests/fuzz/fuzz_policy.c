/* Fuzz target: the policy file's parser (src/lib/policy.c, docs/policy.md),
 * and the engine it feeds (src/lib/monitor.c).  A refused input leaves no
 * rule and a message naming its file and line; an accepted one is written
 * out again in the grammar's canonical form, which must parse to the same
 * rules; then the policy runs on events drawn from the input's bytes, in a
 * monitor small enough to fill. */
#include "lib/monitor.h"
#include "fuzz.h"

#include <stdarg.h>

static size_t put(char *out, size_t cap, size_t at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put(char *out, size_t cap, size_t at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + at, cap - at, fmt, ap);
	va_end(ap);
	FUZZ_CHECK(n > 0 && (size_t)n < cap - at);
	return at + (size_t)n;
}

static size_t render(const akm_policy *p, char *out, size_t cap)
{
	size_t at = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const akm_policy_rule *r = &p->rules[i];
		at = put(out, cap, at, "rule %s\n", r->name);
		at = put(out, cap, at, "scope %s\n", akm_policy_scope_name(r->scope));
		at = put(out, cap, at, "metric %s\n", akm_mon_metric_name(r->metric));
		at = put(out, cap, at, "threshold %s %llu\n", akm_policy_op_name(r->op), (unsigned long long)r->threshold);
		if (r->window)
			at = put(out, cap, at, "window %us\n", (unsigned)r->window);
		at = put(out, cap, at, "datapoints-to-alarm %u\ndatapoints-to-clear %u\nactions", (unsigned)r->to_alarm,
		         (unsigned)r->to_clear);
		for (size_t k = 0; k < r->nactions; k++)
			at = put(out, cap, at, " %s", akm_policy_action_name(r->actions[k]));
		at = put(out, cap, at, "\ncool-down %u\n", (unsigned)r->cooldown);
	}
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static akm_policy p, q;
	static char text[AKM_POLICY_RULES_MAX * 400];
	char err[256];
	akm_policy_rc rc = akm_policy_parse((const char *)data, size, "f", &p, err, sizeof err);
	if (rc != AKM_POLICY_OK) {
		FUZZ_CHECK(rc == AKM_POLICY_MALFORMED || rc == AKM_POLICY_UNSAFE);
		FUZZ_CHECK(p.nrules == 0 && strncmp(err, "f:", 2) == 0 && strlen(err) > 4);
		return 0;
	}
	FUZZ_CHECK(p.nrules <= AKM_POLICY_RULES_MAX);
	size_t len = render(&p, text, sizeof text);
	FUZZ_CHECK(akm_policy_parse(text, len, "g", &q, err, sizeof err) == AKM_POLICY_OK);
	FUZZ_CHECK(q.nrules == p.nrules);
	for (size_t i = 0; i < p.nrules; i++) {
		p.rules[i].line = q.rules[i].line = 0;
		FUZZ_CHECK(memcmp(&p.rules[i], &q.rules[i], sizeof p.rules[i]) == 0);
	}
	/* The engine: four bytes an event (kind, node, ASR, time step), a
	 * tick every eighth. */
	akm_monitor_limits lim = {16, 8, 8};
	akm_monitor *m = akm_monitor_create(&p, &lim);
	if (m == NULL)
		return 0;
	uint64_t now = 1000;
	akm_mon_action a[8];
	for (size_t i = 0; i + 4 <= size; i += 4) {
		akm_mon_event ev;
		memset(&ev, 0, sizeof ev);
		ev.kind = (akm_mon_metric)(data[i] % (AKM_MON_EVENT_KINDS + 1));
		ev.node[0] = (uint8_t)(data[i + 1] % 24);
		ev.node_len = data[i + 1] & 0x80 ? 0 : 1;
		ev.asr[0] = (uint8_t)(data[i + 2] % 6);
		ev.asr_len = data[i + 2] & 0x80 ? 0 : 2;
		ev.epoch = data[i + 2] >> 5;
		ev.count = data[i + 3] & 0x0f;
		now += (uint64_t)(data[i + 3] >> 4) * (data[i + 3] & 0x80 ? 997 : 1);
		ev.time = data[i + 3] == 0xff ? now - 100 : now;
		ev.seq = i + 1;
		akm_monitor_feed(m, &ev);
		if ((i / 4) % 8 == 7)
			akm_monitor_tick(m, now);
		if (data[i] == 0xfe)
			akm_monitor_reinstate(m, ev.node, 1);
		size_t n = akm_monitor_drain(m, a, data[i + 1] % 9);
		for (size_t k = 0; k < n; k++) {
			FUZZ_CHECK(a[k].nseqs <= AKM_MON_SEQS_MAX && a[k].subject_len <= AKM_MON_ID_MAX);
			char detail[512];
			FUZZ_CHECK(akm_mon_action_detail(&a[k], detail, sizeof detail) < sizeof detail);
		}
		if (data[i] == 0xfd)
			akm_monitor_replace(m, &p);
	}
	akm_monitor_stats st;
	akm_monitor_get_stats(m, &st);
	FUZZ_CHECK(st.subjects <= lim.subjects && st.counted <= 2 * lim.counted + 1); /* per scope */
	akm_monitor_free(m);
	return 0;
}

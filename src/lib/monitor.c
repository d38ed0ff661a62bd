/*
 * The policy engine (monitor.h; docs/policy.md, "How rules are evaluated"
 * and "Memory").
 *
 * Subjects (nodes, ASRs, the station) live in one table of fixed capacity
 * found through an open-addressing hash on (scope, ID) with a SipHash key
 * drawn at creation (IDs come from the network: no flooding one chain).
 * Each subject may hold one counter block from its scope's pool: for each
 * counted (metric, window) of the policy in that scope, a ring of at most
 * 60 time buckets with a running total, and the audit seqs of the latest
 * events.  Alarm states are one small struct per (rule, subject).
 * Everything is allocated when the monitor is created or its policy
 * replaced (calloc: pages never touched cost nothing); feeding an event
 * allocates nothing.  When the table is full the least recently active
 * subject that is neither quarantined nor in alarm is forgotten; when the
 * pool is, the least recently counted such subject's counters are.
 */
#include "lib/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NONE UINT32_MAX
#define BUCKETS_MAX 60
#define RECENT AKM_MON_SEQS_MAX

enum { F_USED = 1, F_QUAR = 2, F_CHECKIN = 4, F_GEN = 8 };

typedef struct subject {
	uint8_t id[AKM_MON_ID_MAX];
	uint8_t len, scope, flags;
	uint32_t block;          /* counter block in its scope's pool, or NONE */
	uint32_t prev, next;     /* all subjects, most recently active first */
	uint32_t cprev, cnext;   /* subjects with counters, most recently counted first */
	uint64_t last;           /* last activity */
	uint64_t checkin, checkin_seq;            /* node: last verified exchange */
	uint64_t gen_time, gen_seq, epoch;        /* ASR: its current generation */
	uint64_t messages, msg_seq;               /* ASR: messages reported at it */
} subject;

/* One counted (metric, window) in a scope, and its ring in a block. */
typedef struct series {
	akm_mon_metric metric;
	uint32_t window, width, nb;
	size_t offset;           /* of its ring in a counter block */
	uint64_t rules;          /* the scope's rule positions evaluated on it */
} series;

typedef struct ring {
	uint64_t head;           /* bucket number of the newest bucket */
	uint64_t total;          /* sum of the buckets */
	uint64_t seq[RECENT], time[RECENT];
	uint32_t next, pad;
	uint32_t counts[];       /* nb buckets */
} ring;

typedef struct rule_state {
	uint64_t last_fired;     /* 0: never */
	uint8_t up, down, alarm, pad[5];
} rule_state;

typedef struct scope_plan {
	series series[AKM_POLICY_RULES_MAX];
	size_t nseries;
	uint64_t by_kind[AKM_MON_EVENT_KINDS];  /* series counting each event kind */
	uint16_t rules[AKM_POLICY_RULES_MAX];   /* policy rule index of each position */
	int16_t rule_series[AKM_POLICY_RULES_MAX]; /* its series, -1 for a gauge */
	size_t nrules;
	bool gauges;
	size_t block;            /* bytes of a counter block */
	uint8_t *pool;           /* limits.counted blocks */
	uint32_t *free;          /* free block indices */
	size_t nfree;
} scope_plan;

typedef struct plan {
	akm_policy policy;
	scope_plan sc[AKM_SCOPE_COUNT];
	size_t stride;           /* rule states per subject */
	rule_state *states;      /* subjects × stride */
	size_t bytes;
} plan;

struct akm_monitor {
	akm_monitor_limits lim;
	plan *pl;
	subject *subj;
	uint32_t *hash;
	size_t hash_mask;
	uint32_t *free_subj;
	size_t nfree_subj;
	uint32_t lru_head, lru_tail, clru_head, clru_tail;
	uint8_t key[crypto_shorthash_KEYBYTES];
	akm_mon_action *queue;
	size_t q_head, q_len;
	uint64_t now;
	akm_monitor_stats st;
	size_t base_bytes;
};

/* ---- the plan: what a policy needs counted ---- */

static void plan_free(plan *pl)
{
	if (pl == NULL)
		return;
	for (int s = 0; s < AKM_SCOPE_COUNT; s++) {
		free(pl->sc[s].pool);
		free(pl->sc[s].free);
	}
	free(pl->states);
	free(pl);
}

static plan *plan_new(const akm_policy *p, const akm_monitor_limits *lim)
{
	plan *pl = calloc(1, sizeof *pl);
	if (pl == NULL)
		return NULL;
	pl->policy = *p;
	pl->bytes = sizeof *pl;
	pl->stride = 1;
	for (size_t i = 0; i < p->nrules; i++) {
		const akm_policy_rule *r = &p->rules[i];
		scope_plan *sp = &pl->sc[r->scope];
		size_t pos = sp->nrules++;
		sp->rules[pos] = (uint16_t)i;
		sp->rule_series[pos] = -1;
		if (akm_mon_metric_is_gauge(r->metric)) {
			sp->gauges = true;
			continue;
		}
		size_t k;
		for (k = 0; k < sp->nseries; k++)
			if (sp->series[k].metric == r->metric && sp->series[k].window == r->window)
				break;
		if (k == sp->nseries) {
			series *se = &sp->series[sp->nseries++];
			se->metric = r->metric;
			se->window = r->window;
			se->width = (r->window + BUCKETS_MAX - 1) / BUCKETS_MAX;
			se->nb = (r->window + se->width - 1) / se->width;
			se->offset = sp->block;
			sp->block += sizeof(ring) + se->nb * sizeof(uint32_t);
			sp->block = (sp->block + 7) & ~(size_t)7;
			if (r->metric == AKM_MON_BREACHES) {
				for (int kind = AKM_MON_FIRST_BREACH; kind <= AKM_MON_LAST_BREACH; kind++)
					sp->by_kind[kind] |= 1ull << k;
			} else {
				sp->by_kind[r->metric] |= 1ull << k;
			}
		}
		sp->rule_series[pos] = (int16_t)k;
		sp->series[k].rules |= 1ull << pos;
	}
	for (int s = 0; s < AKM_SCOPE_COUNT; s++) {
		scope_plan *sp = &pl->sc[s];
		if (sp->nrules > pl->stride)
			pl->stride = sp->nrules;
		if (sp->nseries == 0)
			continue;
		size_t n = s == AKM_SCOPE_STATION ? 1 : lim->counted;
		sp->pool = calloc(n, sp->block);
		sp->free = calloc(n, sizeof *sp->free);
		if (sp->pool == NULL || sp->free == NULL) {
			plan_free(pl);
			return NULL;
		}
		for (size_t i = 0; i < n; i++)
			sp->free[i] = (uint32_t)(n - 1 - i);
		sp->nfree = n;
		pl->bytes += n * (sp->block + sizeof *sp->free);
	}
	pl->states = calloc(lim->subjects * pl->stride, sizeof *pl->states);
	if (pl->states == NULL) {
		plan_free(pl);
		return NULL;
	}
	pl->bytes += lim->subjects * pl->stride * sizeof *pl->states;
	return pl;
}

/* ---- rings ---- */

static ring *ring_of(const scope_plan *sp, const subject *s, size_t k)
{
	return (ring *)(sp->pool + (size_t)s->block * sp->block + sp->series[k].offset);
}

/* Moves the ring's newest bucket to b, emptying the buckets it passes. */
static void ring_advance(ring *r, const series *se, uint64_t b)
{
	if (b <= r->head)
		return;
	if (b - r->head >= se->nb) {
		memset(r->counts, 0, se->nb * sizeof(uint32_t));
		r->total = 0;
	} else {
		for (uint64_t k = r->head + 1; k <= b; k++) {
			r->total -= r->counts[k % se->nb];
			r->counts[k % se->nb] = 0;
		}
	}
	r->head = b;
}

static void ring_add(ring *r, const series *se, uint64_t t, uint32_t count, uint64_t seq)
{
	uint64_t b = t / se->width;
	ring_advance(r, se, b);
	if (b + se->nb <= r->head)
		return; /* older than the window */
	uint32_t *c = &r->counts[b % se->nb];
	uint32_t add = count > UINT32_MAX - *c ? UINT32_MAX - *c : count;
	*c += add;
	r->total += add;
	if (seq != 0) {
		r->seq[r->next % RECENT] = seq;
		r->time[r->next % RECENT] = t;
		r->next++;
	}
}

static uint64_t ring_value(ring *r, const series *se, uint64_t now)
{
	ring_advance(r, se, now / se->width);
	return r->total;
}

/* ---- subjects ---- */

static uint64_t subject_hash(const akm_monitor *m, int scope, const uint8_t *id, size_t len)
{
	uint8_t buf[1 + AKM_MON_ID_MAX], out[crypto_shorthash_BYTES];
	buf[0] = (uint8_t)scope;
	if (len > 0)
		memcpy(buf + 1, id, len);
	crypto_shorthash(out, buf, 1 + len, m->key);
	uint64_t h;
	memcpy(&h, out, sizeof h);
	return h;
}

static uint32_t find_slot(const akm_monitor *m, int scope, const uint8_t *id, size_t len, size_t *slot)
{
	size_t i = (size_t)subject_hash(m, scope, id, len) & m->hash_mask;
	for (;; i = (i + 1) & m->hash_mask) {
		uint32_t x = m->hash[i];
		if (x == NONE) {
			*slot = i;
			return NONE;
		}
		const subject *s = &m->subj[x];
		if (s->scope == scope && s->len == len && memcmp(s->id, id, len) == 0) {
			*slot = i;
			return x;
		}
	}
}

static uint32_t find(const akm_monitor *m, int scope, const uint8_t *id, size_t len)
{
	size_t slot;
	return find_slot(m, scope, id, len, &slot);
}

/* Removes slot i from the hash, shifting back the entries after it. */
static void hash_delete(akm_monitor *m, size_t i)
{
	size_t j = i;
	for (;;) {
		m->hash[i] = NONE;
		for (;;) {
			j = (j + 1) & m->hash_mask;
			uint32_t x = m->hash[j];
			if (x == NONE)
				return;
			const subject *s = &m->subj[x];
			size_t home = (size_t)subject_hash(m, s->scope, s->id, s->len) & m->hash_mask;
			/* x may move to i when its home is not in (i, j] cyclically */
			bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
			if (!stays)
				break;
		}
		m->hash[i] = m->hash[j];
		i = j;
	}
}

#define LIST_UNLINK(m, x, P, N, H, T) do { \
	subject *s_ = &(m)->subj[x]; \
	if (s_->P != NONE) (m)->subj[s_->P].N = s_->N; else (m)->H = s_->N; \
	if (s_->N != NONE) (m)->subj[s_->N].P = s_->P; else (m)->T = s_->P; \
	s_->P = s_->N = NONE; } while (0)
#define LIST_PUSH(m, x, P, N, H, T) do { \
	subject *s_ = &(m)->subj[x]; \
	s_->P = NONE; s_->N = (m)->H; \
	if ((m)->H != NONE) (m)->subj[(m)->H].P = (x); else (m)->T = (x); \
	(m)->H = (x); } while (0)

static rule_state *states_of(const akm_monitor *m, uint32_t x)
{
	return &m->pl->states[(size_t)x * m->pl->stride];
}

static bool in_alarm(const akm_monitor *m, uint32_t x)
{
	const rule_state *st = states_of(m, x);
	for (size_t i = 0; i < m->pl->stride; i++)
		if (st[i].alarm)
			return true;
	return false;
}

/* Whether any alarm is on or on its way (a streak to alarm or to clear). */
static bool active(const akm_monitor *m, uint32_t x)
{
	const rule_state *st = states_of(m, x);
	for (size_t i = 0; i < m->pl->stride; i++)
		if (st[i].alarm || st[i].up)
			return true;
	return false;
}

static void block_release(akm_monitor *m, uint32_t x)
{
	subject *s = &m->subj[x];
	if (s->block == NONE)
		return;
	scope_plan *sp = &m->pl->sc[s->scope];
	sp->free[sp->nfree++] = s->block;
	s->block = NONE;
	LIST_UNLINK(m, x, cprev, cnext, clru_head, clru_tail);
	m->st.counted--;
	/* streaks towards an alarm counted on these counters end with them */
	rule_state *st = states_of(m, x);
	for (size_t i = 0; i < sp->nrules; i++)
		if (sp->rule_series[i] >= 0)
			st[i].up = 0;
}

static void forget(akm_monitor *m, uint32_t x)
{
	subject *s = &m->subj[x];
	size_t slot;
	find_slot(m, s->scope, s->id, s->len, &slot);
	hash_delete(m, slot);
	block_release(m, x);
	LIST_UNLINK(m, x, prev, next, lru_head, lru_tail);
	if (s->flags & F_QUAR)
		m->st.quarantined--;
	memset(states_of(m, x), 0, m->pl->stride * sizeof(rule_state));
	memset(s, 0, sizeof *s);
	s->block = s->prev = s->next = s->cprev = s->cnext = NONE;
	m->free_subj[m->nfree_subj++] = x;
	m->st.subjects--;
}

/* Candidates looked at from a list's tail before giving up. */
#define EVICT_TRIES 64

static uint32_t get(akm_monitor *m, int scope, const uint8_t *id, size_t len, uint64_t now)
{
	size_t slot;
	uint32_t x = find_slot(m, scope, id, len, &slot);
	if (x == NONE) {
		if (m->nfree_subj == 0) {
			uint32_t c = m->lru_tail;
			for (int i = 0; i < EVICT_TRIES && c != NONE; i++, c = m->subj[c].prev)
				if (!(m->subj[c].flags & F_QUAR) && !in_alarm(m, c))
					break;
			if (c == NONE || (m->subj[c].flags & F_QUAR) || in_alarm(m, c))
				return NONE;
			forget(m, c);
			m->st.evicted++;
			find_slot(m, scope, id, len, &slot); /* the table changed */
		}
		x = m->free_subj[--m->nfree_subj];
		subject *s = &m->subj[x];
		memcpy(s->id, id, len);
		s->len = (uint8_t)len;
		s->scope = (uint8_t)scope;
		s->flags = F_USED;
		s->block = NONE;
		s->cprev = s->cnext = NONE;
		m->hash[slot] = x;
		LIST_PUSH(m, x, prev, next, lru_head, lru_tail);
		m->st.subjects++;
	} else if (m->lru_head != x) {
		LIST_UNLINK(m, x, prev, next, lru_head, lru_tail);
		LIST_PUSH(m, x, prev, next, lru_head, lru_tail);
	}
	if (now > m->subj[x].last)
		m->subj[x].last = now;
	return x;
}

/* The subject's counter block, taken from the pool (or from the least
 * recently counted subject not in alarm) when it has none. */
static bool block_get(akm_monitor *m, uint32_t x)
{
	subject *s = &m->subj[x];
	scope_plan *sp = &m->pl->sc[s->scope];
	if (s->block == NONE) {
		if (sp->nfree == 0) {
			uint32_t c = m->clru_tail;
			for (int i = 0; i < EVICT_TRIES && c != NONE; i++, c = m->subj[c].cprev)
				if (c != x && m->subj[c].scope == s->scope && !in_alarm(m, c))
					break;
			if (c == NONE || c == x || m->subj[c].scope != s->scope || in_alarm(m, c))
				return false;
			block_release(m, c);
			m->st.evicted++;
		}
		s->block = sp->free[--sp->nfree];
		memset(sp->pool + (size_t)s->block * sp->block, 0, sp->block);
		LIST_PUSH(m, x, cprev, cnext, clru_head, clru_tail);
		m->st.counted++;
	} else if (m->clru_head != x) {
		LIST_UNLINK(m, x, cprev, cnext, clru_head, clru_tail);
		LIST_PUSH(m, x, cprev, cnext, clru_head, clru_tail);
	}
	return true;
}

/* ---- firing ---- */

static void enqueue(akm_monitor *m, const akm_mon_action *a)
{
	if (m->q_len == m->lim.queue) {
		m->st.dropped++;
		return;
	}
	m->queue[(m->q_head + m->q_len) % m->lim.queue] = *a;
	m->q_len++;
	m->st.fired++;
}

static void fire(akm_monitor *m, uint32_t x, size_t pos, uint64_t value, uint64_t now)
{
	subject *s = &m->subj[x];
	const scope_plan *sp = &m->pl->sc[s->scope];
	const akm_policy_rule *r = &m->pl->policy.rules[sp->rules[pos]];
	akm_mon_action a;
	memset(&a, 0, sizeof a);
	memcpy(a.rule, r->name, sizeof a.rule);
	a.scope = r->scope;
	memcpy(a.subject, s->id, s->len);
	a.subject_len = s->len;
	a.metric = r->metric;
	a.op = r->op;
	a.value = value;
	a.threshold = r->threshold;
	a.time = now;
	int k = sp->rule_series[pos];
	if (k >= 0) {
		a.nevents = value;
		if (s->block != NONE) {
			ring *rg = ring_of(sp, s, (size_t)k);
			uint64_t span = (uint64_t)sp->series[k].nb * sp->series[k].width;
			uint32_t n = rg->next < RECENT ? rg->next : RECENT;
			for (uint32_t i = 0; i < n; i++) {
				uint32_t j = (rg->next - n + i) % RECENT;
				if (rg->time[j] + span > now && a.nseqs < AKM_MON_SEQS_MAX)
					a.seqs[a.nseqs++] = rg->seq[j];
			}
		}
	} else {
		uint64_t seq = r->metric == AKM_MON_NODE_SILENCE ? s->checkin_seq
		               : r->metric == AKM_MON_ASR_AGE    ? s->gen_seq
		                                                 : s->msg_seq;
		if (seq != 0)
			a.seqs[a.nseqs++] = seq;
	}
	bool destroyed = false;
	for (size_t i = 0; i < r->nactions; i++) {
		a.action = r->actions[i];
		if (akm_policy_action_is_destructive(a.action) && (s->flags & F_QUAR)) {
			m->st.suppressed++;
			continue;
		}
		enqueue(m, &a);
		destroyed |= akm_policy_action_is_destructive(a.action);
	}
	if (destroyed && !(s->flags & F_QUAR)) {
		s->flags |= F_QUAR;
		m->st.quarantined++;
	}
}

/* One datapoint of rule position pos for subject x.  `raise`: whether a
 * breaching datapoint counts towards the alarm (a tick's evaluation of a
 * counted rule only keeps or clears it). */
static void datapoint(akm_monitor *m, uint32_t x, size_t pos, uint64_t value, bool raise, uint64_t now)
{
	const scope_plan *sp = &m->pl->sc[m->subj[x].scope];
	const akm_policy_rule *r = &m->pl->policy.rules[sp->rules[pos]];
	rule_state *st = &states_of(m, x)[pos];
	if (!akm_policy_holds(r->op, value, r->threshold)) {
		st->up = 0;
		if (st->alarm && ++st->down >= r->to_clear) {
			st->alarm = 0;
			st->down = 0;
		}
		return;
	}
	st->down = 0;
	if (raise && st->up < r->to_alarm)
		st->up++;
	bool cooled = st->last_fired == 0 || now >= st->last_fired + r->cooldown;
	if (!st->alarm) {
		if (st->up < r->to_alarm)
			return;
		st->alarm = 1;
		if (!cooled)
			return;
	} else if (r->cooldown == 0 || !cooled) {
		return; /* in alarm, fired already */
	}
	st->last_fired = now == 0 ? 1 : now;
	fire(m, x, pos, value, now);
}

/* ---- the API ---- */

akm_monitor *akm_monitor_create(const akm_policy *p, const akm_monitor_limits *limits)
{
	if (sodium_init() < 0)
		return NULL;
	akm_monitor *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	m->lim = (akm_monitor_limits){100000, 16384, 4096};
	if (limits != NULL) {
		if (limits->subjects)
			m->lim.subjects = limits->subjects;
		if (limits->counted)
			m->lim.counted = limits->counted;
		if (limits->queue)
			m->lim.queue = limits->queue;
	}
	if (m->lim.subjects > (1u << 24))
		m->lim.subjects = 1u << 24;
	if (m->lim.counted > m->lim.subjects)
		m->lim.counted = m->lim.subjects;
	size_t hcap = 4;
	while (hcap < 2 * m->lim.subjects)
		hcap *= 2;
	m->hash_mask = hcap - 1;
	m->subj = calloc(m->lim.subjects, sizeof *m->subj);
	m->hash = malloc(hcap * sizeof *m->hash);
	m->free_subj = malloc(m->lim.subjects * sizeof *m->free_subj);
	m->queue = calloc(m->lim.queue, sizeof *m->queue);
	m->pl = m->subj && m->hash && m->free_subj && m->queue ? plan_new(p, &m->lim) : NULL;
	if (m->pl == NULL) {
		akm_monitor_free(m);
		return NULL;
	}
	memset(m->hash, 0xff, hcap * sizeof *m->hash);
	for (size_t i = 0; i < m->lim.subjects; i++) {
		m->free_subj[i] = (uint32_t)(m->lim.subjects - 1 - i);
		subject *s = &m->subj[i];
		s->block = s->prev = s->next = s->cprev = s->cnext = NONE;
	}
	m->nfree_subj = m->lim.subjects;
	m->lru_head = m->lru_tail = m->clru_head = m->clru_tail = NONE;
	randombytes_buf(m->key, sizeof m->key);
	m->base_bytes = sizeof *m + m->lim.subjects * (sizeof *m->subj + sizeof *m->free_subj) +
	                hcap * sizeof *m->hash + m->lim.queue * sizeof *m->queue;
	return m;
}

void akm_monitor_free(akm_monitor *m)
{
	if (m == NULL)
		return;
	plan_free(m->pl);
	free(m->subj);
	free(m->hash);
	free(m->free_subj);
	free(m->queue);
	free(m);
}

/* One event in one scope: facts, then counters and the rules on them. */
static void feed_scope(akm_monitor *m, int scope, const uint8_t *id, size_t len, const akm_mon_event *ev,
                       uint32_t count)
{
	const scope_plan *sp = &m->pl->sc[scope];
	akm_mon_metric kind = ev->kind;
	uint64_t mask = sp->by_kind[kind];
	bool fact = (scope == AKM_SCOPE_NODE && kind == AKM_MON_CHECKIN) ||
	            (scope == AKM_SCOPE_ASR &&
	             (kind == AKM_MON_ASR_CREATED || kind == AKM_MON_ASR_REKEYED || kind == AKM_MON_ASR_SENT));
	if (mask == 0 && !fact)
		return;
	uint32_t x = get(m, scope, id, len, ev->time);
	if (x == NONE) {
		m->st.untracked++;
		return;
	}
	subject *s = &m->subj[x];
	if (kind == AKM_MON_CHECKIN && scope == AKM_SCOPE_NODE) {
		if (!(s->flags & F_CHECKIN) || ev->time >= s->checkin) {
			s->checkin = ev->time;
			s->checkin_seq = ev->seq;
			s->flags |= F_CHECKIN;
		}
	} else if (fact && kind != AKM_MON_ASR_SENT) {
		/* a new generation: the newer epoch wins, then the later time */
		if (!(s->flags & F_GEN) || ev->epoch > s->epoch || (ev->epoch == s->epoch && ev->time >= s->gen_time)) {
			s->gen_time = ev->time;
			s->gen_seq = ev->seq;
			s->epoch = ev->epoch;
			s->messages = 0;
			s->flags |= F_GEN;
		}
	} else if (fact) {
		if (ev->epoch == 0 || ev->epoch >= s->epoch) {
			s->messages += count;
			s->msg_seq = ev->seq;
		}
	}
	if (mask == 0)
		return;
	if (!block_get(m, x)) {
		m->st.untracked++;
		return;
	}
	uint64_t rules = 0;
	for (uint64_t b = mask; b; b &= b - 1) {
		size_t k = (size_t)__builtin_ctzll(b);
		ring_add(ring_of(sp, s, k), &sp->series[k], ev->time, count, ev->seq);
		rules |= sp->series[k].rules;
	}
	for (uint64_t b = rules; b; b &= b - 1) {
		size_t pos = (size_t)__builtin_ctzll(b);
		size_t k = (size_t)sp->rule_series[pos];
		uint64_t v = ring_value(ring_of(sp, s, k), &sp->series[k], ev->time);
		datapoint(m, x, pos, v, true, ev->time);
	}
}

void akm_monitor_feed(akm_monitor *m, const akm_mon_event *ev)
{
	if (ev->kind <= AKM_MON_NONE || ev->kind >= AKM_MON_EVENT_KINDS || ev->node_len > AKM_MON_ID_MAX ||
	    ev->asr_len > AKM_MON_ID_MAX)
		return;
	m->st.events++;
	uint32_t count = ev->count ? ev->count : 1;
	if (ev->node_len > 0)
		feed_scope(m, AKM_SCOPE_NODE, ev->node, ev->node_len, ev, count);
	if (ev->asr_len > 0)
		feed_scope(m, AKM_SCOPE_ASR, ev->asr, ev->asr_len, ev, count);
	static const uint8_t station[1] = {0};
	feed_scope(m, AKM_SCOPE_STATION, station, 0, ev, count);
}

void akm_monitor_tick(akm_monitor *m, uint64_t now)
{
	if (now > m->now)
		m->now = now;
	for (uint32_t x = m->lru_head, next; x != NONE; x = next) {
		next = m->subj[x].next;
		subject *s = &m->subj[x];
		const scope_plan *sp = &m->pl->sc[s->scope];
		if (!sp->gauges && !active(m, x) && s->block == NONE)
			continue;
		bool live = false; /* a counter still holds events */
		if (s->block != NONE)
			for (size_t k = 0; k < sp->nseries; k++)
				live |= ring_value(ring_of(sp, s, k), &sp->series[k], now) != 0;
		const rule_state *st = states_of(m, x);
		for (size_t pos = 0; pos < sp->nrules; pos++) {
			int k = sp->rule_series[pos];
			if (k >= 0) {
				if (!st[pos].alarm && !st[pos].up)
					continue;
				uint64_t v = s->block != NONE ? ring_of(sp, s, (size_t)k)->total : 0;
				datapoint(m, x, pos, v, false, now);
				continue;
			}
			akm_mon_metric metric = m->pl->policy.rules[sp->rules[pos]].metric;
			uint64_t v;
			if (metric == AKM_MON_NODE_SILENCE && (s->flags & F_CHECKIN))
				v = now > s->checkin ? now - s->checkin : 0;
			else if (metric == AKM_MON_ASR_AGE && (s->flags & F_GEN))
				v = now > s->gen_time ? now - s->gen_time : 0;
			else if (metric == AKM_MON_ASR_MESSAGES)
				v = s->messages;
			else
				continue; /* nothing known yet: no datapoint */
			datapoint(m, x, pos, v, true, now);
		}
		/* counters that hold nothing any more go back to the pool */
		if (s->block != NONE && !live && !active(m, x))
			block_release(m, x);
	}
}

size_t akm_monitor_drain(akm_monitor *m, akm_mon_action *out, size_t max)
{
	size_t n = 0;
	while (n < max && m->q_len > 0) {
		out[n++] = m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % m->lim.queue;
		m->q_len--;
	}
	return n;
}

bool akm_monitor_quarantine(akm_monitor *m, const uint8_t *node, size_t len)
{
	if (len == 0 || len > AKM_MON_ID_MAX)
		return false;
	uint32_t x = get(m, AKM_SCOPE_NODE, node, len, m->now);
	if (x == NONE)
		return false;
	if (!(m->subj[x].flags & F_QUAR)) {
		m->subj[x].flags |= F_QUAR;
		m->st.quarantined++;
	}
	return true;
}

bool akm_monitor_reinstate(akm_monitor *m, const uint8_t *node, size_t len)
{
	if (len == 0 || len > AKM_MON_ID_MAX)
		return false;
	uint32_t x = find(m, AKM_SCOPE_NODE, node, len);
	if (x == NONE)
		return false;
	subject *s = &m->subj[x];
	if (s->flags & F_QUAR) {
		s->flags &= (uint8_t)~F_QUAR;
		m->st.quarantined--;
	}
	block_release(m, x);
	memset(states_of(m, x), 0, m->pl->stride * sizeof(rule_state));
	return true;
}

bool akm_monitor_is_quarantined(const akm_monitor *m, const uint8_t *node, size_t len)
{
	if (len == 0 || len > AKM_MON_ID_MAX)
		return false;
	uint32_t x = find(m, AKM_SCOPE_NODE, node, len);
	return x != NONE && (m->subj[x].flags & F_QUAR);
}

/* Counts of an old ring, moved into a new one of another window: each
 * bucket's count at its start time. */
static void ring_rebucket(ring *to, const series *tse, const ring *from, const series *fse)
{
	for (uint32_t i = fse->nb; i-- > 0;) {
		if (from->head < i)
			continue;
		uint64_t b = from->head - i;
		uint32_t c = from->counts[b % fse->nb];
		if (c != 0)
			ring_add(to, tse, b * fse->width, c, 0);
	}
	ring_advance(to, tse, from->head * fse->width / tse->width);
	memcpy(to->seq, from->seq, sizeof to->seq);
	memcpy(to->time, from->time, sizeof to->time);
	to->next = from->next;
}

bool akm_monitor_replace(akm_monitor *m, const akm_policy *p)
{
	plan *np = plan_new(p, &m->lim), *op = m->pl;
	uint8_t *taken[AKM_SCOPE_COUNT] = {NULL, NULL, NULL};
	bool ok = np != NULL;
	for (int sc = 0; ok && sc < AKM_SCOPE_COUNT; sc++)
		if (np->sc[sc].nseries > 0)
			ok = (taken[sc] = calloc(sc == AKM_SCOPE_STATION ? 1 : m->lim.counted, 1)) != NULL;
	if (!ok) {
		for (int sc = 0; sc < AKM_SCOPE_COUNT; sc++)
			free(taken[sc]);
		plan_free(np);
		return false; /* the old policy stays, untouched */
	}
	for (uint32_t x = m->lru_head; x != NONE; x = m->subj[x].next) {
		subject *s = &m->subj[x];
		scope_plan *ns = &np->sc[s->scope], *os = &op->sc[s->scope];
		/* alarms: the rule of the same name and metric */
		rule_state *nst = &np->states[(size_t)x * np->stride], *ost = &op->states[(size_t)x * op->stride];
		for (size_t i = 0; i < ns->nrules; i++) {
			const akm_policy_rule *nr = &np->policy.rules[ns->rules[i]];
			for (size_t j = 0; j < os->nrules; j++) {
				const akm_policy_rule *orl = &op->policy.rules[os->rules[j]];
				if (strcmp(nr->name, orl->name) == 0 && nr->metric == orl->metric)
					nst[i] = ost[j];
			}
		}
		if (s->block == NONE)
			continue;
		if (ns->nseries == 0) {
			/* nothing counted in this scope any more */
			LIST_UNLINK(m, x, cprev, cnext, clru_head, clru_tail);
			s->block = NONE;
			m->st.counted--;
			continue;
		}
		/* the same block number in the new pool; its rings from the
		 * old series of the same metric (the same window, else the
		 * finest) */
		taken[s->scope][s->block] = 1;
		uint8_t *blk = ns->pool + (size_t)s->block * ns->block;
		for (size_t k = 0; k < ns->nseries; k++) {
			const series *nse = &ns->series[k];
			ring *to = (ring *)(blk + nse->offset);
			const series *best = NULL;
			size_t bk = 0;
			for (size_t j = 0; j < os->nseries; j++) {
				const series *ose = &os->series[j];
				if (ose->metric != nse->metric)
					continue;
				if (best == NULL || ose->window == nse->window ||
				    (best->window != nse->window && ose->width < best->width)) {
					best = ose;
					bk = j;
				}
			}
			if (best == NULL)
				continue;
			const ring *from = ring_of(os, s, bk);
			if (best->window == nse->window)
				memcpy(to, from, sizeof(ring) + nse->nb * sizeof(uint32_t));
			else
				ring_rebucket(to, nse, from, best);
		}
	}
	/* the free lists: every block no subject holds */
	for (int sc = 0; sc < AKM_SCOPE_COUNT; sc++) {
		scope_plan *ns = &np->sc[sc];
		if (taken[sc] == NULL)
			continue;
		ns->nfree = 0;
		for (size_t i = sc == AKM_SCOPE_STATION ? 1 : m->lim.counted; i-- > 0;)
			if (!taken[sc][i])
				ns->free[ns->nfree++] = (uint32_t)i;
		free(taken[sc]);
	}
	m->pl = np;
	plan_free(op);
	return true;
}

void akm_monitor_get_stats(const akm_monitor *m, akm_monitor_stats *s)
{
	*s = m->st;
	s->alarms = 0;
	for (uint32_t x = m->lru_head; x != NONE; x = m->subj[x].next) {
		const rule_state *st = states_of(m, x);
		for (size_t i = 0; i < m->pl->stride; i++)
			s->alarms += st[i].alarm;
	}
	s->bytes = m->base_bytes + m->pl->bytes;
}

/* ---- what a fired action says ---- */

const char *akm_mon_action_audit_name(akm_policy_action a)
{
	static const char *const names[AKM_ACT_COUNT] = {
		"policy-alert", "policy-quarantine", "policy-evict", "policy-revoke",
		"policy-reactivate", "policy-rekey", "policy-stale",
	};
	return (unsigned)a < AKM_ACT_COUNT ? names[a] : "policy-?";
}

size_t akm_mon_action_detail(const akm_mon_action *a, char *out, size_t cap)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "rule=%s metric=%s value=%llu threshold=%s%llu events=", a->rule,
	                 akm_mon_metric_name(a->metric), (unsigned long long)a->value, akm_policy_op_name(a->op),
	                 (unsigned long long)a->threshold);
	size_t len = n > 0 ? (size_t)n : 0;
	if (a->nseqs == 0)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "-");
	for (size_t i = 0; i < a->nseqs && i < AKM_MON_SEQS_MAX; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%llu", i ? "," : "",
		                        (unsigned long long)a->seqs[i]);
	if (a->nevents > a->nseqs)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "+%llu",
		                        (unsigned long long)(a->nevents - a->nseqs));
	if (cap > 0)
		snprintf(out, cap, "%s", buf);
	return len;
}

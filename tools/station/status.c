/*
 * The station at a glance (station.h, "status.c"): one gathering of the
 * figures, and the three ways they are written — akm-nmm status's text and
 * --json, and the Prometheus text format of akm-nmmd's /metrics.  The HTML
 * page (web.c) reads the same struct.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/station.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hex.h"
#include "lib/rv.h"
#include "lib/http.h"
#include "shared/json.h"
#include "shared/trail.h"

/* ---- what the trail's records mean here ---- */

/* The breach signals a record stands for, as the policy engine counts
 * them (lib/monitor.h's table, docs/policy.md "Where events come from"):
 * their number, into ev[].  Like the engine, only the module's records and
 * the station's signed ones count; the signature (an ECDSA verification)
 * is checked only for a record that would count, and remembered by
 * sequence number in `trust` (records never change). */
static size_t breach_events(nmm_station *s, const nmm_audit_rec *r, nmm_status_totals *trust, akm_mon_event *ev,
                            bool *untrusted)
{
	akm_mon_record mr = {r->actor, r->action, r->detail, r->rid, r->rid_len, r->result, r->time, r->seq};
	akm_mon_event all[AKM_MON_FROM_AUDIT_MAX];
	size_t n = akm_mon_from_audit(&mr, all, AKM_MON_FROM_AUDIT_MAX), k = 0;
	for (size_t i = 0; i < n; i++)
		if (all[i].kind >= AKM_MON_FIRST_BREACH && all[i].kind <= AKM_MON_LAST_BREACH)
			ev[k++] = all[i];
	*untrusted = false;
	if (k == 0)
		return 0;
	return nmm_status_trusted(s, r, trust) ? k : (*untrusted = true, 0);
}

bool nmm_status_trusted(nmm_station *s, const nmm_audit_rec *r, nmm_status_totals *cache)
{
	if (strcmp(r->actor, "app") != 0)
		return true; /* the module's own */
	uint64_t *slot = cache ? &cache->trust[r->seq % NMM_STATUS_TRUST_CACHE] : NULL;
	if (slot != NULL && *slot >> 1 == r->seq)
		return *slot & 1;
	bool ok = nmm_audit_check_sig(s, r) == NMM_AUDIT_SIG_VALID;
	if (slot != NULL)
		*slot = r->seq << 1 | (ok ? 1 : 0);
	return ok;
}

bool nmm_is_policy_action(const char *action)
{
	/* "policy-<action>" for the policy's actions (lib/policy.h's names);
	 * not policy-load or policy-refused, which are about the file. */
	if (strcmp(action, "reinstate") == 0)
		return true;
	if (strncmp(action, "policy-", 7) != 0)
		return false;
	for (int a = 0; a < AKM_ACT_COUNT; a++)
		if (strcmp(action + 7, akm_policy_action_name((akm_policy_action)a)) == 0)
			return true;
	return false;
}

/* ---- gathering ---- */

static int cmp_asr(const void *a, const void *b)
{
	return strcmp(((const nmm_asr *)a)->name, ((const nmm_asr *)b)->name);
}

static int cmp_shown(const void *a, const void *b)
{
	const nmm_status_node *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A member of an ASR whose delivery is read: its AKM ID, and where its
 * name goes. */
typedef struct member_ref {
	uint8_t id[AKM_FMT_ID_MAX];
	size_t len;
	char *name;
} member_ref;

static int cmp_member(const void *a, const void *b)
{
	const member_ref *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->id, y->id, x->len);
}

/* The ASRs whose delivery is read: their members' names and IDs. */
typedef struct asr_members {
	size_t n;
	char (*names)[AKM_FMT_NAME_MAX + 1];
	char (*ids)[2 * AKM_FMT_ID_MAX + 1];
} asr_members;

static void bump(nmm_status_count *c, size_t *n, const char *name, uint64_t by)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(c[i].name, name) == 0) {
			c[i].n += by;
			return;
		}
	if (*n == NMM_STATUS_KINDS)
		return; /* the kinds are a closed list and the policy's actions few: not reached */
	snprintf(c[*n].name, sizeof c[*n].name, "%s", name);
	c[*n].n = by;
	(*n)++;
}

/* The record as the page shows it: the node's name, and the detail
 * without the site metadata, the node, the time and the signature. */
static void shown_record(const nmm_audit_rec *r, const char *kind, nmm_status_record *o)
{
	memset(o, 0, sizeof *o);
	o->seq = r->seq;
	o->time = r->time;
	o->result = r->result;
	snprintf(o->action, sizeof o->action, "%.32s", r->action);
	snprintf(o->kind, sizeof o->kind, "%s", kind);
	const char *d = r->detail, *end = r->detail + nmm_audit_detail_shown(r);
	const char *t = strstr(d, "; t=");
	if (t != NULL && t < end)
		end = t;
	/* The detail's "; "-separated fields without the site metadata and
	 * the node's name (kept apart), wherever they stand (the policy's
	 * records put their own fields first). */
	char rest[sizeof o->detail];
	size_t used = 0;
	rest[0] = '\0';
	while (d < end) {
		const char *sep = strstr(d, "; ");
		const char *fe = sep != NULL && sep < end ? sep : end;
		size_t fl = (size_t)(fe - d);
		if (fl > 5 && strncmp(d, "node=", 5) == 0) {
			snprintf(o->node, sizeof o->node, "%.*s", (int)(fl - 5 < AKM_FMT_NAME_MAX ? fl - 5 : AKM_FMT_NAME_MAX),
			         d + 5);
		} else if (strncmp(d, "site=", 5) != 0 && strncmp(d, "location=", 9) != 0 && fl > 0) {
			int n = snprintf(rest + used, sizeof rest - used, "%s%.*s", used ? "; " : "", (int)fl, d);
			if (n > 0)
				used = used + (size_t)n < sizeof rest ? used + (size_t)n : sizeof rest - 1;
		}
		d = fe == end ? end : fe + 2;
	}
	d = rest;
	int len = (int)used;
	/* The record's action first when the kind is another name for it. */
	if (strcmp(kind, o->action) != 0)
		snprintf(o->detail, sizeof o->detail, "%s%s%.*s", o->action, len > 0 ? ": " : "", len > 0 ? len : 0, d);
	else
		snprintf(o->detail, sizeof o->detail, "%.*s", len > 0 ? len : 0, d);
}

static int gather_asrs(nmm_station *s, const char *what, nmm_status *st, nmm_asr **listp, asr_members **am,
                       member_ref **refs, size_t *nrefs)
{
	size_t n = 0;
	int code = nmm_asr_list(s, what, listp, &n);
	if (code != AKM_RC_OK)
		return code;
	nmm_asr *list = *listp;
	qsort(list, n, sizeof *list, cmp_asr);
	st->asrs = calloc(n ? n : 1, sizeof *st->asrs);
	size_t with = n < NMM_STATUS_ASR_DELIVERY ? n : NMM_STATUS_ASR_DELIVERY;
	*am = calloc(with ? with : 1, sizeof **am);
	if (st->asrs == NULL || *am == NULL)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	st->nasrs = n;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		nmm_status_asr *a = &st->asrs[i];
		snprintf(a->name, sizeof a->name, "%s", list[i].name);
		a->state = list[i].state;
		a->members = list[i].members;
		a->capacity = list[i].capacity;
		a->generation = (uint32_t)(list[i].epoch >> 32);
		a->step = (uint32_t)(list[i].epoch & 0xFFFFFFFFUL);
		total += i < with ? list[i].members : 0;
	}
	*refs = calloc(total ? total : 1, sizeof **refs);
	if (*refs == NULL)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	for (size_t i = 0; i < with; i++) {
		uint8_t *m = NULL;
		size_t mlen = 0;
		if (nmm_asr_members(s, &list[i], &m, &mlen) != 0)
			continue; /* its delivery stays unknown */
		size_t nm = 0;
		for (size_t k = 0; k < mlen; k += 1 + (size_t)m[k])
			nm++;
		asr_members *x = &(*am)[i];
		x->names = calloc(nm ? nm : 1, sizeof *x->names);
		x->ids = calloc(nm ? nm : 1, sizeof *x->ids);
		if (x->names == NULL || x->ids == NULL || *nrefs + nm > total) {
			free(m);
			continue;
		}
		size_t k = 0;
		for (size_t off = 0; k < nm && off < mlen && off + 1 + m[off] <= mlen; off += 1 + (size_t)m[off], k++) {
			size_t len = m[off] <= AKM_FMT_ID_MAX ? m[off] : AKM_FMT_ID_MAX;
			snprintf(x->names[k], sizeof x->names[k], "?");
			nmm_asr_member_text(m + off + 1, len, x->ids[k]);
			member_ref *r = &(*refs)[(*nrefs)++];
			memcpy(r->id, m + off + 1, len);
			r->len = len;
			r->name = x->names[k];
		}
		x->n = k;
		st->asrs[i].delivery_known = true;
		free(m);
	}
	qsort(*refs, *nrefs, sizeof **refs, cmp_member);
	return AKM_RC_OK;
}

static void keep_node(nmm_status *st, const nmm_status_node *n, size_t *worst)
{
	if (st->nnodes < NMM_STATUS_NODES_MAX) {
		st->nodes[st->nnodes] = *n;
		if (st->nnodes == 0 || n->rank > st->nodes[*worst].rank)
			*worst = st->nnodes;
		st->nnodes++;
		return;
	}
	if (n->rank >= st->nodes[*worst].rank)
		return;
	st->nodes[*worst] = *n;
	for (size_t i = 0; i < st->nnodes; i++)
		if (st->nodes[i].rank > st->nodes[*worst].rank)
			*worst = i;
}

/* One gathering in progress (nmm_status_begin .. nmm_status_finish). */
struct nmm_status_run {
	nmm_station *s;
	nmm_status_opts o;
	const char *what;
	nmm_status st;
	nmm_asr *list;             /* the ASRs, by name */
	asr_members *am;
	member_ref *refs;
	size_t nrefs;
	CK_OBJECT_HANDLE *keys;    /* the PRs found, read `next` onwards */
	size_t nkeys, next, worst;
};

/* Reads PRs next .. next+max-1 of the run: AKM_RC_OK, or a code reported. */
static int gather_nodes(nmm_status_run *run, size_t max)
{
	nmm_station *s = run->s;
	nmm_status *st = &run->st;
	member_ref *refs = run->refs;
	size_t nrefs = run->nrefs, end = run->nkeys - run->next > max ? run->next + max : run->nkeys;
	for (size_t i = run->next; i < end; i++) {
		/* One batched read per PR: what the figures need, nothing more. */
		char label[AKM_FMT_NAME_MAX + 8];
		uint8_t peer[AKM_FMT_ID_MAX];
		CK_ULONG state = 0, status = 0, checkin = 0;
		CK_ATTRIBUTE a[] = {
			{CKA_LABEL, label, sizeof label},
			{CKA_AKM_STATE, &state, sizeof state},
			{CKA_AKM_STATUS, &status, sizeof status},
			{CKA_AKM_CHECKIN, &checkin, sizeof checkin},
			{CKA_AKM_PEER_NODE, peer, sizeof peer},
		};
		CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, run->keys[i], a, sizeof a / sizeof a[0]);
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			continue; /* destroyed since the search */
		if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
			akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "reading a provisioning relationship");
			return akm_report(AKM_RC_TOKEN, run->what, "%s", s->p.err);
		}
		if (a[3].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			checkin = 0; /* a module before CKA_AKM_CHECKIN */
		nmm_status_node n = {.state = state, .status = status, .checkin = checkin / 1000};
		akm_p11_key_name(label, a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : a[0].ulValueLen, n.name,
		                 sizeof n.name);
		st->nodes_total++;
		st->by_state[state >= CKV_AKM_STATE_PENDING && state <= CKV_AKM_STATE_REVOKED ? state - 1 : 4]++;
		st->by_status[status >= CKV_AKM_STATUS_CREATED && status <= CKV_AKM_STATUS_VERIFIED ? status - 1 : 5]++;
		n.rank = NMM_STATUS_OK;
		if (state == CKV_AKM_STATE_SUSPENDED) {
			n.rank = NMM_STATUS_QUARANTINED;
		} else if (state == CKV_AKM_STATE_PENDING) {
			n.rank = NMM_STATUS_PENDING;
		} else if (state == CKV_AKM_STATE_REVOKED) {
			n.rank = NMM_STATUS_REVOKED;
		} else if (state == CKV_AKM_STATE_ACTIVE && n.checkin == 0) {
			n.rank = NMM_STATUS_UNHEARD;
			st->unheard++;
		} else if (state == CKV_AKM_STATE_ACTIVE && st->now > n.checkin && st->now - n.checkin > st->stale_after) {
			n.rank = NMM_STATUS_STALE;
			st->stale++;
		}
		keep_node(st, &n, &run->worst);
		/* A member of an ASR whose delivery is read: its name. */
		if (nrefs > 0 && a[4].ulValueLen != CK_UNAVAILABLE_INFORMATION && a[4].ulValueLen <= AKM_FMT_ID_MAX &&
		    state != CKV_AKM_STATE_REVOKED) {
			member_ref key = {.len = a[4].ulValueLen};
			memcpy(key.id, peer, key.len);
			member_ref *hit = bsearch(&key, refs, nrefs, sizeof *refs, cmp_member);
			while (hit != NULL && hit > refs && cmp_member(hit - 1, &key) == 0)
				hit--;
			for (; hit != NULL && hit < refs + nrefs && cmp_member(hit, &key) == 0; hit++)
				snprintf(hit->name, AKM_FMT_NAME_MAX + 1, "%s", n.name);
		}
	}
	run->next = end;
	return AKM_RC_OK;
}

/* The trail read backwards from its last record: breach signals and
 * automatic actions, counted over the chart's span, the newest of each
 * kept. */
static int gather_trail(nmm_station *s, const nmm_status_opts *o, const char *what, nmm_status *st)
{
	size_t max = o->tail_max ? o->tail_max : NMM_STATUS_TAIL_MAX;
	uint64_t span = o->chart_seconds ? o->chart_seconds : 3600;
	st->bucket_seconds = span / NMM_STATUS_BUCKETS ? span / NMM_STATUS_BUCKETS : 1;
	st->chart_start = st->now - st->bucket_seconds * NMM_STATUS_BUCKETS;
	st->audit_last = akm_trail_head(&s->p);
	nmm_audit_rec *r = malloc(sizeof *r);
	if (r == NULL)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	nmm_status_totals *tot = o->totals;
	uint64_t seq = st->audit_last;
	for (; seq >= 1 && st->records_read < max; seq--) {
		if (nmm_audit_read(s, AKM_TRAIL_HANDLE(seq), r) != 0) {
			free(r);
			return akm_report(AKM_RC_TOKEN, what, "reading audit record %llu: %s", (unsigned long long)seq,
			                  s->p.err);
		}
		st->records_read++;
		st->from_seq = seq;
		st->oldest_time = r->time;
		bool in_span = r->time >= st->chart_start;
		akm_mon_event ev[AKM_MON_FROM_AUDIT_MAX];
		bool untrusted;
		size_t nev = breach_events(s, r, tot, ev, &untrusted);
		if (untrusted)
			st->untrusted++;
		for (size_t i = 0; i < nev; i++) {
			const char *kind = akm_mon_metric_name(ev[i].kind);
			uint32_t count = ev[i].count ? ev[i].count : 1;
			if (in_span) {
				bump(st->events, &st->nevents, kind, count);
				st->events_total += count;
				size_t b = (size_t)((r->time - st->chart_start) / st->bucket_seconds);
				st->chart[b < NMM_STATUS_BUCKETS ? b : NMM_STATUS_BUCKETS - 1] += count;
			}
			if (tot != NULL && seq > tot->seen_seq)
				bump(tot->events, &tot->nevents, kind, count);
		}
		if (nev > 0 && st->nrecent_events < NMM_STATUS_RECENT)
			shown_record(r, akm_mon_metric_name(ev[0].kind), &st->recent_events[st->nrecent_events++]);
		if (nev == 0 && nmm_is_policy_action(r->action) && nmm_status_trusted(s, r, tot)) {
			if (in_span) {
				bump(st->actions, &st->nactions, r->action, 1);
				st->actions_total++;
			}
			if (tot != NULL && seq > tot->seen_seq)
				bump(tot->actions, &tot->nactions, r->action, 1);
			if (st->nrecent_actions < NMM_STATUS_RECENT)
				shown_record(r, r->action, &st->recent_actions[st->nrecent_actions++]);
		}
		/* Past the span with both lists full and the new records counted:
		 * nothing more to learn. */
		if (!in_span && st->nrecent_events == NMM_STATUS_RECENT && st->nrecent_actions == NMM_STATUS_RECENT &&
		    (tot == NULL || tot->seen_seq == 0 || seq <= tot->seen_seq + 1))
			break;
	}
	if (tot != NULL) {
		if (tot->seen_seq > 0 && st->from_seq > tot->seen_seq + 1)
			tot->skipped += st->from_seq - tot->seen_seq - 1;
		if (st->audit_last > tot->seen_seq)
			tot->seen_seq = st->audit_last;
		st->totals = *tot;
		st->have_totals = true;
	}
	st->tail_truncated = seq >= 1 && st->records_read == max && st->oldest_time >= st->chart_start;
	free(r);
	return AKM_RC_OK;
}

static void run_free(nmm_status_run *run)
{
	for (size_t i = 0; run->am != NULL && i < run->st.nasrs && i < NMM_STATUS_ASR_DELIVERY; i++) {
		free(run->am[i].names);
		free(run->am[i].ids);
	}
	free(run->am);
	free(run->refs);
	free(run->list);
	free(run->keys);
	free(run);
}

void nmm_status_abort(nmm_status_run *run)
{
	if (run == NULL)
		return;
	nmm_status st = run->st;   /* run_free reads the ASR count */
	run_free(run);
	nmm_status_free(&st);
}

int nmm_status_begin(nmm_station *s, const nmm_status_opts *o, const char *what, nmm_status_run **out)
{
	*out = NULL;
	nmm_status_run *run = calloc(1, sizeof *run);
	if (run == NULL)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	run->s = s;
	run->o = *o;
	run->what = what;
	nmm_status *st = &run->st;
	st->now = o->now ? o->now : (uint64_t)time(NULL);
	st->stale_after = o->stale_after ? o->stale_after : NMM_STATUS_STALE_AFTER;
	akm_hex_encode(s->id, s->id_len, st->station_id);
	nmm_station_site(s, st->site, sizeof st->site);
	int code = gather_asrs(s, what, st, &run->list, &run->am, &run->refs, &run->nrefs);
	if (code == AKM_RC_OK && nmm_node_all(s, 0, &run->keys, &run->nkeys) != 0)
		code = akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	if (code == AKM_RC_OK && (st->nodes = calloc(NMM_STATUS_NODES_MAX, sizeof *st->nodes)) == NULL)
		code = akm_report(AKM_RC_FILES, what, "out of memory");
	if (code != AKM_RC_OK) {
		nmm_status_abort(run);
		return code;
	}
	*out = run;
	return AKM_RC_OK;
}

int nmm_status_step(nmm_status_run *run, size_t max_nodes)
{
	int code = gather_nodes(run, max_nodes);
	if (code != AKM_RC_OK)
		return -code;
	return run->next == run->nkeys ? 1 : 0;
}

int nmm_status_finish(nmm_status_run *run, nmm_status *st)
{
	nmm_station *s = run->s;
	int code = AKM_RC_OK;
	while (code == AKM_RC_OK && run->next < run->nkeys)
		code = gather_nodes(run, SIZE_MAX);
	if (code == AKM_RC_OK)
		qsort(run->st.nodes, run->st.nnodes, sizeof *run->st.nodes, cmp_shown);
	/* Delivery: the ASRs' records, with the members' names now known. */
	for (size_t i = 0; code == AKM_RC_OK && i < run->st.nasrs && i < NMM_STATUS_ASR_DELIVERY; i++) {
		nmm_status_asr *a = &run->st.asrs[i];
		if (!a->delivery_known)
			continue;
		nmm_asr_delivery d = {0};
		nmm_asr_delivery_read(s, &run->list[i], run->am[i].names, run->am[i].ids, run->am[i].n, &d);
		for (size_t k = 0; k < run->am[i].n; k++) {
			char words[64];
			if (strcmp(nmm_asr_delivery_state(&d, k, words, sizeof words), "current") == 0)
				a->current++;
		}
		nmm_asr_delivery_free(&d);
	}
	if (code == AKM_RC_OK)
		code = gather_trail(s, &run->o, run->what, &run->st);
	if (code != AKM_RC_OK) {
		nmm_status_abort(run);
		memset(st, 0, sizeof *st);
		return code;
	}
	*st = run->st;
	run_free(run);
	return AKM_RC_OK;
}

int nmm_status_gather(nmm_station *s, const nmm_status_opts *o, const char *what, nmm_status *st)
{
	nmm_status_run *run;
	memset(st, 0, sizeof *st);
	int code = nmm_status_begin(s, o, what, &run);
	return code == AKM_RC_OK ? nmm_status_finish(run, st) : code;
}

void nmm_status_free(nmm_status *st)
{
	free(st->nodes);
	free(st->asrs);
	st->nodes = NULL;
	st->asrs = NULL;
	st->nnodes = st->nasrs = 0;
}

/* ---- writing ---- */

static const char *const state_names[5] = {"pending", "active", "suspended", "revoked", "unknown"};
static const char *const status_names[6] = {"created", "exported", "imported", "activated", "verified", "unknown"};

static const char *rank_name(nmm_status_rank r)
{
	switch (r) {
	case NMM_STATUS_QUARANTINED: return "quarantined";
	case NMM_STATUS_STALE: return "stale";
	case NMM_STATUS_PENDING: return "pending";
	case NMM_STATUS_REVOKED: return "revoked";
	case NMM_STATUS_UNHEARD: return "never checked in";
	case NMM_STATUS_OK: return "ok";
	}
	return "?";
}

static void iso(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "-");
}

/* One sample: name{label="value"} v, the value escaped. */
static void sample(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	if (label == NULL) {
		fprintf(f, "%s %llu\n", name, (unsigned long long)v);
		return;
	}
	char esc[4 * 64 + 1];
	if (!akm_prom_escape(value, esc, sizeof esc))
		return; /* names are bounded: not reached */
	fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, esc, (unsigned long long)v);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void nmm_status_metrics(const nmm_status *st, FILE *f)
{
	family(f, "akm_nodes", "gauge", "Nodes (provisioning relationships) by state; suspended is quarantined.");
	for (size_t i = 0; i < 4; i++)
		sample(f, "akm_nodes", "state", state_names[i], st->by_state[i]);
	family(f, "akm_nodes_status", "gauge", "Nodes by delivery status.");
	for (size_t i = 0; i < 5; i++)
		sample(f, "akm_nodes_status", "status", status_names[i], st->by_status[i]);
	family(f, "akm_nodes_stale", "gauge", "Active nodes whose last check-in is older than akm_stale_after_seconds.");
	sample(f, "akm_nodes_stale", NULL, NULL, st->stale);
	family(f, "akm_nodes_never_checked_in", "gauge", "Active nodes that never checked in.");
	sample(f, "akm_nodes_never_checked_in", NULL, NULL, st->unheard);
	family(f, "akm_stale_after_seconds", "gauge", "Silence after which an active node counts as stale.");
	sample(f, "akm_stale_after_seconds", NULL, NULL, st->stale_after);
	family(f, "akm_asrs", "gauge", "Operational ASRs of the station.");
	sample(f, "akm_asrs", NULL, NULL, st->nasrs);
	family(f, "akm_asr_generation", "gauge", "An ASR's key generation.");
	for (size_t i = 0; i < st->nasrs; i++)
		sample(f, "akm_asr_generation", "asr", st->asrs[i].name, st->asrs[i].generation);
	family(f, "akm_asr_step", "gauge", "An ASR's step within its generation.");
	for (size_t i = 0; i < st->nasrs; i++)
		sample(f, "akm_asr_step", "asr", st->asrs[i].name, st->asrs[i].step);
	family(f, "akm_asr_members", "gauge", "An ASR's members.");
	for (size_t i = 0; i < st->nasrs; i++)
		sample(f, "akm_asr_members", "asr", st->asrs[i].name, st->asrs[i].members);
	family(f, "akm_asr_members_current", "gauge",
	       "Members whose written package and rekey messages reach the ASR's generation.");
	for (size_t i = 0; i < st->nasrs; i++)
		if (st->asrs[i].delivery_known)
			sample(f, "akm_asr_members_current", "asr", st->asrs[i].name, st->asrs[i].current);
	/* Counters: kept by the service across gatherings; without them
	 * (one gathering) the window's counts. */
	const nmm_status_count *ev = st->have_totals ? st->totals.events : st->events;
	const nmm_status_count *ac = st->have_totals ? st->totals.actions : st->actions;
	size_t nev = st->have_totals ? st->totals.nevents : st->nevents;
	size_t nac = st->have_totals ? st->totals.nactions : st->nactions;
	family(f, "akm_events_total", "counter",
	       "Breach signals in the audit trail by kind (the audit action), since the service began reading it.");
	for (size_t i = 0; i < nev; i++)
		sample(f, "akm_events_total", "kind", ev[i].name, ev[i].n);
	family(f, "akm_policy_actions_total", "counter",
	       "Automatic actions (policy-*) and reinstatements in the audit trail, since the service began reading it.");
	for (size_t i = 0; i < nac; i++)
		sample(f, "akm_policy_actions_total", "action", ac[i].name, ac[i].n);
	family(f, "akm_audit_records_skipped_total", "counter",
	       "Audit records never read for the counters (more new records at once than the read limit).");
	sample(f, "akm_audit_records_skipped_total", NULL, NULL, st->have_totals ? st->totals.skipped : 0);
	family(f, "akm_audit_unsigned_records", "gauge",
	       "Application records in the window read that claim a breach but carry no valid station signature.");
	sample(f, "akm_audit_unsigned_records", NULL, NULL, st->untrusted);
	family(f, "akm_events_recent", "gauge", "Breach signals by kind within the last akm_events_window_seconds.");
	for (size_t i = 0; i < st->nevents; i++)
		sample(f, "akm_events_recent", "kind", st->events[i].name, st->events[i].n);
	family(f, "akm_policy_actions_recent", "gauge",
	       "Automatic actions by action within the last akm_events_window_seconds.");
	for (size_t i = 0; i < st->nactions; i++)
		sample(f, "akm_policy_actions_recent", "action", st->actions[i].name, st->actions[i].n);
	family(f, "akm_events_window_seconds", "gauge", "The span of the audit trail the event counts cover.");
	sample(f, "akm_events_window_seconds", NULL, NULL, st->bucket_seconds * NMM_STATUS_BUCKETS);
	family(f, "akm_audit_last_sequence", "gauge", "The sequence number of the audit trail's last record.");
	sample(f, "akm_audit_last_sequence", NULL, NULL, st->audit_last);
	family(f, "akm_audit_tail_truncated", "gauge", "1 when the records read ended before the window's start.");
	sample(f, "akm_audit_tail_truncated", NULL, NULL, st->tail_truncated ? 1 : 0);
	family(f, "akm_status_time_seconds", "gauge", "When these figures were gathered (Unix time).");
	sample(f, "akm_status_time_seconds", NULL, NULL, st->now);
}

static void json_counts(akm_json *j, const char *key, const nmm_status_count *c, size_t n)
{
	akm_json_key(j, key);
	akm_json_object_begin(j);
	for (size_t i = 0; i < n; i++)
		akm_json_kv_uint(j, c[i].name, c[i].n);
	akm_json_object_end(j);
}

static void json_records(akm_json *j, const char *key, const nmm_status_record *r, size_t n)
{
	akm_json_key(j, key);
	akm_json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		akm_json_object_begin(j);
		akm_json_kv_uint(j, "seq", r[i].seq);
		akm_json_kv_uint(j, "time", r[i].time);
		akm_json_kv_string(j, "action", r[i].action);
		akm_json_kv_string(j, "kind", r[i].kind);
		akm_json_key(j, "node");
		akm_json_string(j, r[i].node[0] ? r[i].node : NULL);
		akm_json_kv_string(j, "result", akm_rv_name(r[i].result));
		akm_json_kv_string(j, "detail", r[i].detail);
		akm_json_object_end(j);
	}
	akm_json_array_end(j);
}

int nmm_status_json(const nmm_status *st, FILE *f)
{
	akm_json j;
	akm_json_init(&j, f);
	akm_json_object_begin(&j);
	akm_json_kv_string(&j, "station_id", st->station_id);
	akm_json_kv_uint(&j, "time", st->now);
	akm_json_kv_uint(&j, "stale_after", st->stale_after);
	akm_json_key(&j, "nodes");
	akm_json_object_begin(&j);
	akm_json_kv_uint(&j, "total", st->nodes_total);
	akm_json_key(&j, "state");
	akm_json_object_begin(&j);
	for (size_t i = 0; i < 4; i++)
		akm_json_kv_uint(&j, state_names[i], st->by_state[i]);
	akm_json_object_end(&j);
	akm_json_key(&j, "status");
	akm_json_object_begin(&j);
	for (size_t i = 0; i < 5; i++)
		akm_json_kv_uint(&j, status_names[i], st->by_status[i]);
	akm_json_object_end(&j);
	akm_json_kv_uint(&j, "stale", st->stale);
	akm_json_kv_uint(&j, "never_checked_in", st->unheard);
	akm_json_kv_uint(&j, "shown", st->nnodes);
	akm_json_key(&j, "attention");
	akm_json_array_begin(&j);
	for (size_t i = 0; i < st->nnodes && st->nodes[i].rank < NMM_STATUS_REVOKED; i++) {
		const nmm_status_node *n = &st->nodes[i];
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "name", n->name);
		akm_json_kv_string(&j, "state", nmm_state_name(n->state));
		akm_json_kv_string(&j, "status", nmm_status_name(n->status));
		akm_json_kv_string(&j, "why", rank_name(n->rank));
		akm_json_kv_uint(&j, "last_checkin", n->checkin);
		akm_json_object_end(&j);
	}
	akm_json_array_end(&j);
	akm_json_object_end(&j);
	akm_json_key(&j, "asrs");
	akm_json_array_begin(&j);
	for (size_t i = 0; i < st->nasrs; i++) {
		const nmm_status_asr *a = &st->asrs[i];
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "name", a->name);
		akm_json_kv_string(&j, "state", nmm_state_name(a->state));
		akm_json_kv_uint(&j, "generation", a->generation);
		akm_json_kv_uint(&j, "step", a->step);
		akm_json_kv_uint(&j, "members", a->members);
		akm_json_key(&j, "current");
		if (a->delivery_known)
			akm_json_uint(&j, a->current);
		else
			akm_json_null(&j);
		akm_json_object_end(&j);
	}
	akm_json_array_end(&j);
	akm_json_key(&j, "audit");
	akm_json_object_begin(&j);
	akm_json_kv_uint(&j, "last_seq", st->audit_last);
	akm_json_kv_uint(&j, "read_from_seq", st->from_seq);
	akm_json_kv_uint(&j, "records_read", st->records_read);
	akm_json_kv_uint(&j, "window", st->bucket_seconds * NMM_STATUS_BUCKETS);
	akm_json_kv_bool(&j, "truncated", st->tail_truncated);
	akm_json_kv_uint(&j, "unsigned_records", st->untrusted);
	akm_json_kv_uint(&j, "events_total", st->events_total);
	json_counts(&j, "by_kind", st->events, st->nevents);
	akm_json_kv_uint(&j, "actions_total", st->actions_total);
	json_counts(&j, "by_action", st->actions, st->nactions);
	json_records(&j, "recent_events", st->recent_events, st->nrecent_events);
	json_records(&j, "recent_actions", st->recent_actions, st->nrecent_actions);
	akm_json_kv_uint(&j, "chart_start", st->chart_start);
	akm_json_kv_uint(&j, "bucket_seconds", st->bucket_seconds);
	akm_json_key(&j, "chart");
	akm_json_array_begin(&j);
	for (size_t i = 0; i < NMM_STATUS_BUCKETS; i++)
		akm_json_uint(&j, st->chart[i]);
	akm_json_array_end(&j);
	akm_json_object_end(&j);
	akm_json_object_end(&j);
	return akm_json_finish(&j);
}

static void text_counts(FILE *f, const nmm_status_count *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s %llu", i ? ", " : " (", c[i].name, (unsigned long long)c[i].n);
	fputs(n ? ")\n" : "\n", f);
}

static void text_records(FILE *f, const nmm_status_record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char when[32], esc[AKM_ESCAPED(sizeof r[i].detail)];
		iso(r[i].time, when);
		fprintf(f, "  %s  #%-7llu %-20s %-16s %s\n", when, (unsigned long long)r[i].seq, r[i].kind,
		        r[i].node[0] ? r[i].node : "-", akm_escape(esc, sizeof esc, r[i].detail, (size_t)-1));
	}
}

void nmm_status_text(const nmm_status *st, FILE *f)
{
	char when[32];
	iso(st->now, when);
	fprintf(f, "station %s (%s), %s\n", st->station_id, st->site, when);
	fprintf(f, "nodes: %llu: %llu pending, %llu active, %llu suspended (quarantined), %llu revoked\n",
	        (unsigned long long)st->nodes_total, (unsigned long long)st->by_state[0],
	        (unsigned long long)st->by_state[1], (unsigned long long)st->by_state[2],
	        (unsigned long long)st->by_state[3]);
	fprintf(f, "status: %llu created, %llu exported, %llu imported, %llu activated, %llu verified\n",
	        (unsigned long long)st->by_status[0], (unsigned long long)st->by_status[1],
	        (unsigned long long)st->by_status[2], (unsigned long long)st->by_status[3],
	        (unsigned long long)st->by_status[4]);
	fprintf(f, "stale: %llu active node(s) silent for more than %llu s; %llu never checked in\n",
	        (unsigned long long)st->stale, (unsigned long long)st->stale_after, (unsigned long long)st->unheard);
	size_t attention = 0;
	while (attention < st->nnodes && st->nodes[attention].rank < NMM_STATUS_REVOKED)
		attention++;
	if (attention > 0) {
		fprintf(f, "\nattention: quarantined, stale, pending (%zu%s):\n", attention,
		        attention == NMM_STATUS_NODES_MAX ? " or more" : "");
		fprintf(f, "  %-24s %-17s %-10s %-10s %s\n", "NODE", "WHY", "STATE", "STATUS", "LAST CHECK-IN");
		for (size_t i = 0; i < attention && i < 50; i++) {
			const nmm_status_node *n = &st->nodes[i];
			iso(n->checkin, when);
			fprintf(f, "  %-24s %-17s %-10s %-10s %s\n", n->name, rank_name(n->rank), nmm_state_name(n->state),
			        nmm_status_name(n->status), when);
		}
		if (attention > 50)
			fprintf(f, "  ... and %zu more (akm-nmm list --state suspended, --pending)\n", attention - 50);
	}
	fprintf(f, "\nASRs: %zu\n", st->nasrs);
	if (st->nasrs > 0)
		fprintf(f, "  %-24s %-10s %10s %6s %8s %8s\n", "ASR", "STATE", "GENERATION", "STEP", "MEMBERS", "CURRENT");
	for (size_t i = 0; i < st->nasrs; i++) {
		const nmm_status_asr *a = &st->asrs[i];
		char cur[32];
		if (a->delivery_known)
			snprintf(cur, sizeof cur, "%zu", a->current);
		else
			snprintf(cur, sizeof cur, "-");
		fprintf(f, "  %-24s %-10s %10u %6u %8lu %8s\n", a->name, nmm_state_name(a->state), a->generation, a->step,
		        (unsigned long)a->members, cur);
	}
	uint64_t span = st->bucket_seconds * NMM_STATUS_BUCKETS;
	fprintf(f, "\nbreach signals in the last %llu min: %llu", (unsigned long long)(span / 60),
	        (unsigned long long)st->events_total);
	text_counts(f, st->events, st->nevents);
	text_records(f, st->recent_events, st->nrecent_events < 10 ? st->nrecent_events : 10);
	fprintf(f, "automatic actions in the last %llu min: %llu", (unsigned long long)(span / 60),
	        (unsigned long long)st->actions_total);
	text_counts(f, st->actions, st->nactions);
	text_records(f, st->recent_actions, st->nrecent_actions < 10 ? st->nrecent_actions : 10);
	fprintf(f, "audit trail: last record #%llu; %zu read back to #%llu%s\n", (unsigned long long)st->audit_last,
	        st->records_read, (unsigned long long)st->from_seq,
	        st->tail_truncated ? " (the limit: older records of the window not counted)" : "");
	if (st->untrusted > 0)
		fprintf(f, "warning: %llu record(s) claim a breach without the station's signature (not counted; "
		           "akm-nmm audit shows them)\n",
		        (unsigned long long)st->untrusted);
}

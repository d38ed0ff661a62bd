/* An operational ASR's member (asr_member.h, docs/asr.md §4–5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm/asr_member.h"
#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "lib/hex.h"

#define RESERVE_BLOCK 1024    /* sequence numbers reserved per registry write */
#define AHEAD_MAX 16          /* steps a message may be ahead of ours */
#define ENTRIES_MAX 64        /* ASRs whose keys stay unwrapped in this process */
/* The flush period (docs/asr.md §5): messages opened without a write at
 * most (it is also how far a reader raises the windows of a state marked
 * dirty: the two must be equal), and how long anything stays unwritten at
 * most (checked at each seal or open of the ASR). */
#define FLUSH_OPENS AKM_ASR_WINDOW
#define FLUSH_NS 1000000000ULL
#define VIEW_NS 1000000000ULL /* a view is read again at least this often */

_Static_assert(FLUSH_OPENS <= AKM_ASR_WINDOW, "the raise must cover every unwritten acceptance");

/* ---- what this process keeps per ASR ------------------------------------ */

typedef struct asr_entry {
	int64_t rel_id, key_id;
	uint32_t gen, step;            /* of cur */
	CK_OBJECT_HANDLE cur, prev;    /* the step keys unwrapped (0: not yet) */
	uint64_t next_seq, limit;      /* the reserve this process holds: [next_seq, limit) */
	/* The view: the state as last read or written, with what this process
	 * did since (its acceptances ORed into the windows, its seals counted). */
	bool have_st;                  /* st is this ASR's */
	bool fresh;                    /* the view holds while the change mark is `mark` */
	uint64_t mark;
	uint64_t read_ns;              /* monotonic: when it was last read or written */
	uint64_t pending_ns;           /* when the first change not yet written was made */
	uint8_t rid[AKM_ID_MAX];
	size_t rid_len;
	bool have_prev_row;            /* the registry has a PREVIOUS key row */
	akm_asr_state st;              /* senders malloc'd */
	akm_asr_sender *written;       /* the windows as the registry has them (malloc'd) */
	uint32_t nwritten;
	uint32_t sealed_delta;         /* seals under st.step not yet written */
	struct { uint32_t leaf; uint64_t seq; } own[FLUSH_OPENS]; /* acceptances not yet written */
	uint32_t opened;               /* how many */
	bool dirty_mine;               /* the registry's state carries this process's mark */
} asr_entry;

struct akm_asr_mem {
	asr_entry e[ENTRIES_MAX];
	size_t n;
	uint64_t self;                 /* this process's dirty mark (random, not 0) */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void destroy(akm_relationships *r, CK_OBJECT_HANDLE h)
{
	if (h != 0)
		akm_backend_destroy(r->be, h);
}

static void entry_drop_keys(akm_relationships *r, asr_entry *e, bool destroy_objects)
{
	if (destroy_objects) {
		destroy(r, e->cur);
		if (e->prev != e->cur)
			destroy(r, e->prev);
	}
	e->cur = e->prev = 0;
	e->gen = e->step = 0;
}

static void entry_free(akm_relationships *r, asr_entry *e, bool destroy_objects)
{
	entry_drop_keys(r, e, destroy_objects);
	akm_asr_state_clear(&e->st);
	free(e->written);
	e->written = NULL;
}

/* Whether the registry lacks something of this process's: seals or
 * acceptances not written, or its dirty mark left on the state. */
static bool entry_pending(const asr_entry *e)
{
	return e->have_st && (e->opened > 0 || e->sealed_delta > 0 || e->dirty_mine);
}

static CK_RV mem_get(akm_relationships *r, struct akm_asr_mem **out)
{
	if (r->asr == NULL) {
		struct akm_asr_mem *m = calloc(1, sizeof *m);
		if (m == NULL)
			return CKR_HOST_MEMORY;
		/* The mark this process leaves on a state it may open messages
		 * of without writing them: the token's random numbers. */
		while (m->self == 0) {
			if (akm_backend_random(r->be, (uint8_t *)&m->self, sizeof m->self) != CKR_OK) {
				free(m);
				return CKR_DEVICE_ERROR;
			}
		}
		r->asr = m;
	}
	*out = r->asr;
	return CKR_OK;
}

static asr_entry *entry_by_key(akm_relationships *r, int64_t key_id)
{
	struct akm_asr_mem *m = r->asr;
	for (size_t i = 0; m != NULL && i < m->n; i++)
		if (m->e[i].key_id == key_id)
			return &m->e[i];
	return NULL;
}

static CK_RV entry_flush(akm_relationships *r, asr_entry *e);

/* Lock held: the entry of relationship row `rel_id` (ASR key `key_id`),
 * made when there is none.  When the table is full, one whose changes are
 * all written goes, or else the oldest, written first (not in a
 * transaction: CKR_DEVICE_MEMORY then, which cannot happen after
 * view_sync found or made the entry): acceptances are never forgotten
 * unwritten. */
static CK_RV entry_get(akm_relationships *r, int64_t rel_id, int64_t key_id, bool in_txn, asr_entry **out)
{
	struct akm_asr_mem *m;
	CK_RV rv = mem_get(r, &m);
	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].rel_id == rel_id) {
			m->e[i].key_id = key_id;
			*out = &m->e[i];
			return CKR_OK;
		}
	if (m->n == ENTRIES_MAX) {
		size_t v = 0;
		while (v < m->n && entry_pending(&m->e[v]))
			v++;
		if (v == m->n) {
			v = 0;
			if (in_txn)
				return CKR_DEVICE_MEMORY;
			if ((rv = entry_flush(r, &m->e[0])) != CKR_OK)
				return rv;
		}
		entry_free(r, &m->e[v], true);
		memmove(&m->e[v], &m->e[v + 1], (m->n - v - 1) * sizeof m->e[0]);
		m->n--;
	}
	asr_entry *e = &m->e[m->n++];
	memset(e, 0, sizeof *e);
	e->rel_id = rel_id;
	e->key_id = key_id;
	*out = e;
	return CKR_OK;
}

void akm_asr_mem_forget(akm_relationships *r, int64_t rel_id)
{
	struct akm_asr_mem *m = r->asr;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].rel_id != rel_id)
			continue;
		entry_free(r, &m->e[i], true);
		memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof m->e[0]);
		m->n--;
		return;
	}
}

void akm_asr_mem_clear(akm_relationships *r, bool destroy_objects)
{
	struct akm_asr_mem *m = r->asr;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_free(r, &m->e[i], destroy_objects);
	free(m);
	r->asr = NULL;
}

bool akm_asr_mem_holds(akm_relationships *r, CK_OBJECT_HANDLE h)
{
	struct akm_asr_mem *m = r->asr;
	for (size_t i = 0; m != NULL && i < m->n; i++)
		if (h != 0 && (m->e[i].cur == h || m->e[i].prev == h))
			return true;
	return false;
}

/* ---- rows ------------------------------------------------------------------ */

bool akm_asr_is_member(const akm_relationship *rel)
{
	return rel->kind == CKV_AKM_KIND_OPERATIONAL && rel->peer_len > 0;
}

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* The state record is kept in the member's relationship row, in the
 * column that holds a station's member list (a member has none): sealed
 * with the row, written in the row's transaction. */

/* Encodes st into rel->members (the row is written by the caller). */
static CK_RV state_set(akm_relationship *rel, const akm_asr_state *st)
{
	size_t len = akm_asr_state_len(st), got = 0;
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	if (akm_asr_state_encode(st, buf, len, &got) != AKM_FMT_OK) {
		free(buf);
		return CKR_GENERAL_ERROR;
	}
	free(rel->members);
	rel->members = buf;
	rel->members_len = got;
	return CKR_OK;
}

/* Lock and transaction held: the row with its new state. */
static CK_RV state_put(akm_relationships *r, akm_relationship *rel, const akm_asr_state *st)
{
	CK_RV rv = state_set(rel, st);
	return rv == CKR_OK ? akm_store_update_relationship(r->reg, rel) : rv;
}

CK_RV akm_asr_state_delete(akm_relationships *r, const akm_relationship *rel)
{
	(void)r;
	(void)rel;
	return CKR_OK; /* it goes with the row */
}

static CK_RV state_get(akm_relationships *r, const akm_relationship *rel, akm_asr_state *st)
{
	if (rel->members == NULL || akm_asr_state_parse(rel->members, rel->members_len, st) != AKM_FMT_OK)
		return akm_store_tampered(r->reg, "member ASR row %lld: its state is missing or damaged",
		                          (long long)rel->id);
	if (((CK_ULONG)st->gen << 32 | st->step) != rel->epoch) {
		akm_asr_state_clear(st);
		return akm_store_tampered(r->reg, "member ASR row %lld: its state is not its epoch", (long long)rel->id);
	}
	return CKR_OK;
}

static CK_RV last_record(akm_relationships *r, int64_t *seq)
{
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	return akm_store_audit_head(r->reg, seq, hash);
}

/* In the transaction: a change of the relationship row, with its record. */
static CK_RV row_change(akm_relationships *r, akm_relationship *rel, akm_event_kind kind, const char *detail)
{
	CK_RV rv = akm_event_append(r, kind, rel->rid, rel->rid_len, CKR_OK, detail);
	if (rv == CKR_OK)
		rv = last_record(r, &rel->audit);
	rel->changed = (int64_t)now_s();
	return rv == CKR_OK ? akm_store_update_relationship(r->reg, rel) : rv;
}

/* The key row of `rel` with `purpose` (0 when none). */
static CK_RV key_of(akm_relationships *r, const akm_relationship *rel, CK_ULONG purpose, akm_key *key, bool *found)
{
	akm_store_query q;
	int64_t ids[2];
	size_t n = 0;
	memset(&q, 0, sizeof q);
	q.rid = rel->rid;
	q.rid_len = rel->rid_len;
	q.has_purpose = true;
	q.purpose = purpose;
	*found = false;
	CK_RV rv = akm_store_find(r->reg, &q, 0, ids, 2, &n);
	if (rv != CKR_OK || n == 0)
		return rv;
	if (n > 1)
		return akm_store_tampered(r->reg, "a member ASR has two keys of purpose %lu", purpose);
	*found = true;
	return akm_store_get_key(r->reg, ids[0], key, NULL);
}

/* ---- one operation's view of an ASR -------------------------------------- */

/* What a write does to the state's dirty mark (docs/asr.md §5). */
enum { DIRTY_KEEP, DIRTY_MARK, DIRTY_CLEAR };

typedef struct asr_ctx {
	akm_key key;            /* the current step's key row */
	akm_relationship rel;
	akm_asr_state st;       /* the registry's, raised when another's mark was on it, with this process's merged in */
	bool have_st;
	akm_key prev;           /* the previous step's key row, when have_prev */
	bool have_prev;
	asr_entry *m;
	uint64_t now;
	uint64_t rec_dirty;     /* the mark the registry's state had */
	int dirty_mode;         /* DIRTY_*: the mark written with the state */
	/* what a step made, applied to m after the commit (or destroyed) */
	bool stepped;
	CK_OBJECT_HANDLE new_cur, new_prev, made_prev;
	bool drop_prev;         /* the previous key's grace ended */
	uint64_t next_seq, limit; /* a new reserve, when limit != 0 */
	char detail[160];
} asr_ctx;

static void ctx_clear(asr_ctx *c)
{
	akm_relationship_clear(&c->rel);
	if (c->have_st)
		akm_asr_state_clear(&c->st);
	c->have_st = false;
}

/* ---- replay windows and what this process keeps unwritten ------------------ */

static akm_asr_sender *sender_find(akm_asr_state *st, uint32_t leaf, bool add)
{
	uint32_t lo = 0, hi = st->nsenders;
	while (lo < hi) { /* ascending leaves */
		uint32_t mid = lo + (hi - lo) / 2;
		if (st->senders[mid].leaf < leaf)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->nsenders && st->senders[lo].leaf == leaf)
		return &st->senders[lo];
	if (!add || st->nsenders >= AKM_ASR_SENDERS_MAX)
		return NULL;
	akm_asr_sender *s = realloc(st->senders, (st->nsenders + 1) * sizeof *s);
	if (s == NULL)
		return NULL;
	st->senders = s;
	memmove(&s[lo + 1], &s[lo], (st->nsenders - lo) * sizeof *s);
	s[lo] = (akm_asr_sender){.leaf = leaf};
	st->nsenders++;
	return &s[lo];
}

static const akm_asr_sender *written_find(const asr_entry *e, uint32_t leaf)
{
	uint32_t lo = 0, hi = e->nwritten;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (e->written[mid].leaf < leaf)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->nwritten && e->written[lo].leaf == leaf ? &e->written[lo] : NULL;
}

/* A state another process marked dirty: it may have opened up to
 * FLUSH_OPENS messages of each sender beyond what the windows say (never a
 * sender the state lacks, nor beyond high + FLUSH_OPENS: such an opening
 * is written at once).  Every such number is taken as opened. */
static void windows_raise(akm_asr_state *st)
{
	for (uint32_t i = 0; i < st->nsenders; i++) {
		akm_asr_sender *w = &st->senders[i];
		w->high = w->high > UINT64_MAX - AKM_ASR_WINDOW ? UINT64_MAX : w->high + AKM_ASR_WINDOW;
		w->bitmap = UINT64_MAX;
	}
}

/* The registry's state `st` (just read), raised when another process's
 * mark is on it, with what this process has of the same generation and
 * has not written merged in: its acceptances, its seals of the same step.
 * (What an earlier raise took as opened is not kept: the state read now
 * covers it, being raised while the mark is on it, and once another
 * process has written its state with its mark gone, the raise it made
 * over ours covers ours and its own acceptances are in the windows.) */
static CK_RV state_merge(akm_relationships *r, asr_entry *e, akm_asr_state *st)
{
	if (st->dirty != 0 && st->dirty != r->asr->self)
		windows_raise(st);
	if (!e->have_st || e->st.gen != st->gen) {
		/* Another generation's windows and counts do not apply. */
		e->sealed_delta = e->opened = 0;
		return CKR_OK;
	}
	for (uint32_t i = 0; i < e->opened; i++) {
		akm_asr_sender *w = sender_find(st, e->own[i].leaf, true);
		if (w == NULL)
			return CKR_DEVICE_MEMORY;
		akm_asr_window_check(w, e->own[i].seq, true);
	}
	if (e->st.step == st->step)
		st->sealed = st->sealed > UINT32_MAX - e->sealed_delta ? UINT32_MAX : st->sealed + e->sealed_delta;
	else
		e->sealed_delta = 0; /* counts restart at each step */
	return CKR_OK;
}

static CK_RV senders_copy(const akm_asr_state *st, akm_asr_sender **out)
{
	*out = NULL;
	if (st->nsenders == 0)
		return CKR_OK;
	if ((*out = malloc(st->nsenders * sizeof **out)) == NULL)
		return CKR_HOST_MEMORY;
	memcpy(*out, st->senders, st->nsenders * sizeof **out);
	return CKR_OK;
}

/* The entry's view becomes `st` (taken over: st is emptied): the state
 * as it is in the registry when `written` (what this process wrote; else
 * what it read, whose windows `rec` has), fresh at change mark `mark`. */
static void view_set(akm_relationships *r, asr_entry *e, akm_asr_state *st, akm_asr_sender *rec, uint32_t nrec,
                     bool have_prev, bool fresh, uint64_t mark, const akm_relationship *rel)
{
	uint64_t now = mono_ns();
	akm_asr_state_clear(&e->st);
	e->st = *st;
	memset(st, 0, sizeof *st);
	free(e->written);
	e->written = rec;
	e->nwritten = nrec;
	e->have_st = true;
	e->have_prev_row = have_prev;
	e->fresh = fresh;
	e->mark = mark;
	e->read_ns = now;
	bool was = entry_pending(e);
	e->dirty_mine = e->st.dirty == r->asr->self;
	if (entry_pending(e) && !was)
		e->pending_ns = now;
	memcpy(e->rid, rel->rid, rel->rid_len);
	e->rid_len = rel->rid_len;
}

/* Lock held, in a transaction or a snapshot: the rows and the state of
 * ASR key `key_id`; for using it (`use`), only an active ASR's current
 * key. */
static CK_RV rows_read(akm_relationships *r, int64_t key_id, bool use, asr_ctx *c)
{
	memset(c, 0, sizeof *c);
	c->now = now_s();
	CK_RV rv = akm_store_get_key(r->reg, key_id, &c->key, &c->rel);
	if (rv != CKR_OK)
		return rv;
	if (!akm_asr_is_member(&c->rel))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (c->key.purpose != CKV_AKM_PURPOSE_ENCRYPT)
		return CKR_KEY_FUNCTION_NOT_PERMITTED; /* the previous step's key: opened through the current one */
	if (use && c->rel.state != CKV_AKM_STATE_ACTIVE)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if ((rv = state_get(r, &c->rel, &c->st)) != CKR_OK)
		return rv;
	c->have_st = true;
	c->rec_dirty = c->st.dirty;
	return key_of(r, &c->rel, CKV_AKM_PURPOSE_PREVIOUS, &c->prev, &c->have_prev);
}

/* The step keys of c's state unwrapped into m, unless it has them. */
static CK_RV entry_keys(akm_relationships *r, asr_entry *m, const asr_ctx *c)
{
	CK_RV rv;
	if (m->cur != 0 && m->gen == c->st.gen && m->step == c->st.step)
		return CKR_OK;
	/* Another process moved it, or first use here: unwrap again. */
	entry_drop_keys(r, m, true);
	if ((rv = akm_backend_ratchet_kek(r->be, false)) != CKR_OK ||
	    (rv = akm_backend_asr_step_unwrap(r->be, c->key.wrapped, c->key.wrapped_len, &m->cur)) != CKR_OK)
		goto unwrap_failed;
	if (c->have_prev && c->st.previous_until > c->now &&
	    (rv = akm_backend_asr_step_unwrap(r->be, c->prev.wrapped, c->prev.wrapped_len, &m->prev)) != CKR_OK)
		goto unwrap_failed;
	m->gen = c->st.gen;
	m->step = c->st.step;
	return CKR_OK;
unwrap_failed:
	akm_log(AKM_LOG_ERROR, "registry %s: a member ASR's step key does not unwrap under the ratchet KEK (0x%lx)",
	        akm_store_location(r->reg), rv);
	entry_drop_keys(r, m, true);
	return CKR_DEVICE_ERROR;
}

/* Lock held, in a transaction: the rows, the state (with this process's
 * merged in) and the keys in use of ASR key `key_id`. */
static CK_RV ctx_load(akm_relationships *r, int64_t key_id, asr_ctx *c)
{
	CK_RV rv = rows_read(r, key_id, true, c);
	if (rv != CKR_OK)
		return rv;
	if ((rv = entry_get(r, c->rel.id, key_id, true, &c->m)) != CKR_OK ||
	    (rv = state_merge(r, c->m, &c->st)) != CKR_OK)
		return rv;
	return entry_keys(r, c->m, c);
}

/* Lock held, no transaction: the entry's view read again (in a read
 * snapshot), this process's unwritten changes kept. */
static CK_RV view_load(akm_relationships *r, int64_t key_id, asr_entry **out)
{
	asr_ctx c;
	uint64_t mark = 0;
	bool have_mark = akm_store_change_mark(r->reg, &mark) == CKR_OK;
	CK_RV rv = akm_store_snapshot(r->reg);
	if (rv == CKR_OK) {
		rv = rows_read(r, key_id, true, &c);
		akm_store_snapshot_end(r->reg);
	} else {
		memset(&c, 0, sizeof c);
	}
	asr_entry *e = NULL;
	akm_asr_sender *rec = NULL;
	uint32_t nrec = c.have_st ? c.st.nsenders : 0;
	if (rv == CKR_OK)
		rv = entry_get(r, c.rel.id, key_id, false, &e);
	if (rv == CKR_OK)
		rv = senders_copy(&c.st, &rec); /* the windows as written, before the merge */
	if (rv == CKR_OK)
		rv = state_merge(r, e, &c.st);
	if (rv == CKR_OK)
		rv = entry_keys(r, e, &c);
	if (rv != CKR_OK) {
		free(rec);
		asr_entry *old = entry_by_key(r, key_id);
		if (old != NULL)
			old->fresh = false;
		ctx_clear(&c);
		return akm_answer(r, rv);
	}
	view_set(r, e, &c.st, rec, nrec, c.have_prev, have_mark, mark, &c.rel);
	ctx_clear(&c);
	*out = e;
	return CKR_OK;
}

/* In the transaction: moves to step `t` (> the current one): derives the
 * keys, stores the new current one in place and the one before it as the
 * previous key (for the grace period), the state and the row. */
static CK_RV step_to(akm_relationships *r, asr_ctx *c, uint32_t t, const char *why)
{
	asr_entry *m = c->m;
	uint32_t s = c->st.step;
	bool grace = c->st.policy.grace > 0;
	/* From the key of step s: the committed one, or one a step earlier in
	 * this transaction made. */
	CK_OBJECT_HANDLE base = c->stepped ? c->new_cur : m->cur;
	CK_OBJECT_HANDLE x = base, before = 0;
	CK_RV rv = CKR_OK;
	if (t <= s)
		return CKR_OK;
	for (uint64_t i = (uint64_t)s + 1; i <= t; i++) {
		CK_OBJECT_HANDLE y;
		bool keep = i == t || (grace && i == (uint64_t)t - 1);
		if ((rv = akm_backend_asr_ratchet(r->be, x, akm_asr_ratchet_data, keep, &y)) != CKR_OK)
			break;
		if (x != base) {
			if (i - 1 == (uint64_t)t - 1 && grace)
				before = x;
			else
				destroy(r, x);
		}
		x = y;
	}
	if (rv != CKR_OK) {
		if (x != base)
			destroy(r, x);
		destroy(r, before);
		return rv;
	}
	CK_OBJECT_HANDLE new_prev = !grace ? 0 : t - 1 == s ? base : before;
	if (c->stepped) {
		/* What the earlier step made and this one does not keep goes. */
		if (c->made_prev != 0 && c->made_prev != new_prev)
			destroy(r, c->made_prev);
		if (c->new_cur != new_prev)
			destroy(r, c->new_cur);
	}
	c->made_prev = c->stepped && new_prev == base ? base : before;
	c->new_cur = x;
	c->new_prev = new_prev;
	c->stepped = true;
	uint8_t w[AKM_WRAPPED_MAX];
	size_t wlen = sizeof w;
	if ((rv = akm_backend_asr_keep(r->be, c->new_cur, true, w, &wlen)) != CKR_OK ||
	    (rv = akm_store_update_key_wrapped(r->reg, c->key.id, w, wlen)) != CKR_OK)
		return rv;
	/* Step s's blob (for the previous key) is the one the row had. */
	uint8_t w2[AKM_WRAPPED_MAX], was[AKM_WRAPPED_MAX];
	size_t pwlen = c->key.wrapped_len;
	memcpy(was, c->key.wrapped, pwlen);
	const uint8_t *pw = was;
	memcpy(c->key.wrapped, w, wlen);
	c->key.wrapped_len = wlen;
	if (grace && before != 0) {
		pwlen = sizeof w2;
		if ((rv = akm_backend_asr_keep(r->be, before, true, w2, &pwlen)) != CKR_OK)
			return rv;
		pw = w2;
	}
	if (grace && c->have_prev) {
		rv = akm_store_update_key_wrapped(r->reg, c->prev.id, pw, pwlen);
	} else if (grace) {
		akm_key k = c->key;
		k.id = 0;
		k.purpose = CKV_AKM_PURPOSE_PREVIOUS;
		k.ckid[c->rel.rid_len] = (uint8_t)CKV_AKM_PURPOSE_PREVIOUS;
		if (k.label_len >= AKM_LABEL_SUFFIX_LEN)
			memcpy(k.label + k.label_len - AKM_LABEL_SUFFIX_LEN, "/prv", AKM_LABEL_SUFFIX_LEN);
		memcpy(k.wrapped, pw, pwlen);
		k.wrapped_len = pwlen;
		if ((rv = akm_store_insert_key(r->reg, &k)) == CKR_OK) {
			c->prev = k;
			c->have_prev = true;
		}
	} else if (c->have_prev) {
		if ((rv = akm_store_delete_key(r->reg, c->prev.id)) == CKR_OK)
			c->have_prev = false;
	}
	if (rv != CKR_OK)
		return rv;
	c->st.step = t;
	c->st.step_since = c->now;
	c->st.previous_until = grace ? c->now + c->st.policy.grace : 0;
	c->st.sealed = c->st.failed = 0;
	c->rel.epoch = (CK_ULONG)c->st.gen << 32 | t;
	char detail[96];
	snprintf(detail, sizeof detail, "gen %u step %u -> %u (%s)", c->st.gen, s, t, why);
	return row_change(r, &c->rel, AKM_EVENT_ASR_MEMBER_STEP, detail);
}

/* After the transaction: what step_to made becomes this process's keys
 * (committed), or goes (rolled back). */
static void ctx_finish(akm_relationships *r, asr_ctx *c, bool committed)
{
	asr_entry *m = c->m;
	if (m == NULL)
		return;
	if (c->stepped) {
		if (committed) {
			if (m->prev != 0 && m->prev != c->new_prev)
				destroy(r, m->prev);
			if (m->cur != c->new_prev)
				destroy(r, m->cur);
			m->cur = c->new_cur;
			m->prev = c->new_prev;
			m->gen = c->st.gen;
			m->step = c->st.step;
		} else {
			destroy(r, c->new_cur);
			destroy(r, c->made_prev);
		}
	} else if (committed && c->drop_prev) {
		destroy(r, m->prev);
		m->prev = 0;
	}
	if (committed && c->limit != 0) {
		m->next_seq = c->next_seq;
		m->limit = c->limit;
	}
	if (!committed)
		entry_drop_keys(r, m, true); /* whatever the rows say now, read them again */
}

/* In the transaction: the grace period's end, and steps by time. */
static CK_RV maintain(akm_relationships *r, asr_ctx *c)
{
	CK_RV rv;
	if (c->have_prev && c->st.previous_until != 0 && c->now >= c->st.previous_until) {
		if ((rv = akm_store_delete_key(r->reg, c->prev.id)) != CKR_OK)
			return rv;
		c->have_prev = false;
		c->st.previous_until = 0;
		c->drop_prev = true;
	}
	if (c->st.policy.period > 0 && c->now > c->st.gen_start) {
		uint64_t target = (c->now - c->st.gen_start) / c->st.policy.period;
		if (target > UINT32_MAX)
			target = UINT32_MAX;
		if (target > c->st.step)
			return step_to(r, c, (uint32_t)target, "time");
	}
	return CKR_OK;
}

/* Lock held, no transaction: a refusal's record. */
static void refusal(akm_relationships *r, const uint8_t *rid, size_t rid_len, CK_RV rv, const char *detail)
{
	akm_event_record(r, AKM_EVENT_ASR_MEMBER_REFUSED, rid, rid_len, rv, detail);
}

/* In the transaction: the state with its dirty mark as c->dirty_mode says
 * (KEEP: this process's mark stays if it was there, another's goes: its
 * windows were raised over what it may have opened). */
static CK_RV ctx_put_state(akm_relationships *r, asr_ctx *c)
{
	uint64_t self = r->asr->self;
	c->st.dirty = c->dirty_mode == DIRTY_MARK    ? self
	              : c->dirty_mode == DIRTY_CLEAR ? 0
	              : c->rec_dirty == self         ? self
	                                             : 0;
	return state_put(r, &c->rel, &c->st);
}

/* After a commit that wrote c's state (`before` the change mark at its
 * beginning): the entry's view is what was written, nothing of this
 * process's unwritten. */
static void ctx_adopt(akm_relationships *r, asr_ctx *c, uint64_t before)
{
	asr_entry *e = c->m;
	if (e == NULL || !c->have_st)
		return;
	e->opened = e->sealed_delta = 0;
	e->dirty_mine = false;
	akm_asr_sender *w = NULL;
	/* Without a copy of the windows written, nothing opens without a
	 * write until the view is read again. */
	bool copied = senders_copy(&c->st, &w) == CKR_OK;
	uint32_t n = copied ? c->st.nsenders : 0;
	/* Fresh when this commit alone moved the mark. */
	view_set(r, e, &c->st, w, n, c->have_prev,
	         copied && r->change_mark == before + 1 && c->rel.state == CKV_AKM_STATE_ACTIVE, r->change_mark, &c->rel);
}

/* Commits, or rolls back; then ctx_finish. */
static CK_RV ctx_commit(akm_relationships *r, asr_ctx *c, CK_RV rv)
{
	if (rv == CKR_OK)
		rv = ctx_put_state(r, c);
	if (rv == CKR_OK) {
		uint64_t before = r->change_mark;
		rv = akm_change_commit(r);
		ctx_finish(r, c, rv == CKR_OK);
		if (rv == CKR_OK)
			ctx_adopt(r, c, before);
		else if (c->m != NULL)
			c->m->fresh = false;
		return rv;
	}
	akm_store_rollback(r->reg);
	ctx_finish(r, c, false);
	if (c->m != NULL)
		c->m->fresh = false; /* its unwritten changes stay, merged at the next read */
	return akm_answer(r, rv);
}

/* Lock held, no transaction: everything this process has of the ASR
 * written, the dirty mark cleared (a flush). */
static CK_RV entry_flush(akm_relationships *r, asr_entry *e)
{
	asr_ctx c;
	CK_RV rv = akm_change_begin(r);
	if (rv != CKR_OK)
		return rv;
	rv = rows_read(r, e->key_id, false, &c);
	if (rv == CKR_OK) {
		c.m = e;
		c.dirty_mode = DIRTY_CLEAR;
		rv = state_merge(r, e, &c.st);
	}
	if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_TYPE_INCONSISTENT ||
	    rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
		/* The ASR is gone (removed, replaced): nothing of it to write. */
		akm_store_rollback(r->reg);
		e->opened = e->sealed_delta = 0;
		e->dirty_mine = e->fresh = false;
		ctx_clear(&c);
		return CKR_OK;
	}
	rv = ctx_commit(r, &c, rv);
	ctx_clear(&c);
	return rv;
}

void akm_asr_mem_flush(akm_relationships *r)
{
	struct akm_asr_mem *m = r->asr;
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		if (!entry_pending(&m->e[i]))
			continue;
		CK_RV rv = entry_flush(r, &m->e[i]);
		if (rv != CKR_OK)
			akm_log(AKM_LOG_WARNING,
			        "registry %s: a member ASR's replay windows could not be written (0x%lx): the next "
			        "process refuses up to %d messages per sender as possible replays",
			        akm_store_location(r->reg), rv, AKM_ASR_WINDOW);
	}
}

static CK_RV view_sync(akm_relationships *r, int64_t key_id, asr_entry **out);

/* ---- checks shared by enrollment and rekeying ----------------------------- */

/* The anchor is the station's P-256 public key, its CKA_ID the station ID,
 * and it signed `signed_part` (sig): CKR_OK, or the refusal with a detail. */
static CK_RV check_signature(akm_relationships *r, CK_OBJECT_HANDLE anchor, const uint8_t *station, size_t station_len,
                             const uint8_t *signed_part, size_t signed_len, const uint8_t sig[64], const char **why)
{
	uint8_t id[AKM_ID_MAX + 1];
	size_t id_len = sizeof id;
	if (!akm_backend_object_is(r->be, anchor, CKO_PUBLIC_KEY, CKK_EC)) {
		*why = "anchor not an EC public key";
		return CKR_KEY_HANDLE_INVALID;
	}
	if (akm_backend_object_id(r->be, anchor, id, &id_len) != CKR_OK || id_len != station_len ||
	    memcmp(id, station, id_len) != 0) {
		*why = "another station";
		return CKR_SIGNATURE_INVALID;
	}
	uint8_t digest[AKM_FMT_HASH_LEN];
	akm_asr_digest(signed_part, signed_len, digest);
	CK_RV rv = akm_backend_asr_verify(r->be, anchor, digest, sig);
	if (rv != CKR_OK) {
		*why = "signature";
		return rv == CKR_SIGNATURE_INVALID ? rv : CKR_SIGNATURE_INVALID;
	}
	return CKR_OK;
}

static void label_for(const akm_asr_head *h, akm_key *k, CK_ULONG purpose)
{
	size_t ll = strlen(h->label);
	if (ll > 0) {
		memcpy(k->label, h->label, ll);
	} else {
		memcpy(k->label, "asr:", 4);
		akm_hex_encode(h->asr_id, h->asr_id_len, (char *)k->label + 4);
		ll = 4 + 2 * h->asr_id_len;
	}
	memcpy(k->label + ll, purpose == CKV_AKM_PURPOSE_ENCRYPT ? "/enc" : "/prv", AKM_LABEL_SUFFIX_LEN);
	k->label_len = ll + AKM_LABEL_SUFFIX_LEN;
}

/* The step a member should be at: the station's hint or, by time, more. */
static uint32_t target_step(const akm_asr_head *h, uint64_t now)
{
	uint64_t t = h->step;
	if (h->policy.period > 0 && now > h->gen_start) {
		uint64_t by_time = (now - h->gen_start) / h->policy.period;
		if (by_time > t)
			t = by_time;
	}
	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Derives from step-0 key `root` (extractable) to step t: *cur is step t's
 * key (extractable), root destroyed unless it is it. */
static CK_RV derive_to(akm_relationships *r, CK_OBJECT_HANDLE root, uint32_t t, CK_OBJECT_HANDLE *cur)
{
	CK_OBJECT_HANDLE x = root;
	for (uint32_t i = 1; i <= t; i++) {
		CK_OBJECT_HANDLE y;
		CK_RV rv = akm_backend_asr_ratchet(r->be, x, akm_asr_ratchet_data, i == t, &y);
		destroy(r, x);
		if (rv != CKR_OK)
			return rv;
		x = y;
	}
	*cur = x;
	return CKR_OK;
}

/* ---- enrollment -------------------------------------------------------------- */

CK_RV akm_asr_enroll(akm_relationships *r, CK_OBJECT_HANDLE pr_key, CK_OBJECT_HANDLE anchor, const uint8_t *pkg,
                     size_t len, int64_t *key_id)
{
	akm_asr_package *p = calloc(1, sizeof *p);
	akm_tree_row *rows = calloc(AKM_ASR_DEPTH_MAX + 1, sizeof *rows);
	CK_OBJECT_HANDLE made[AKM_ASR_DEPTH_MAX + 1];
	size_t nmade = 0, nrows = 0;
	const char *why = NULL;
	CK_OBJECT_HANDLE step_key = 0;
	akm_relationship old, rel;
	bool have_old = false;
	memset(&old, 0, sizeof old);
	memset(&rel, 0, sizeof rel);
	if (p == NULL || rows == NULL) {
		free(p);
		free(rows);
		return CKR_HOST_MEMORY;
	}
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK)
		goto out;
	size_t signed_len = 0;
	if (akm_asr_package_parse(pkg, len, p, &signed_len) != AKM_FMT_OK) {
		rv = CKR_WRAPPED_KEY_INVALID;
		why = "malformed package";
		goto refused;
	}
	if ((rv = check_signature(r, anchor, p->head.station_id, p->head.station_id_len, pkg, signed_len, p->sig,
	                          &why)) != CKR_OK)
		goto refused;
	uint8_t prid[AKM_ID_MAX + 2];
	size_t prid_len = sizeof prid;
	if (akm_backend_object_id(r->be, pr_key, prid, &prid_len) != CKR_OK || prid_len != p->pr_id_len + 1 ||
	    prid[p->pr_id_len] != (uint8_t)CKV_AKM_PURPOSE_ENCRYPT || memcmp(prid, p->pr_id, p->pr_id_len) != 0) {
		rv = CKR_AKM_OTHER_MEMBER;
		why = "another PR";
		goto refused;
	}
	/* A generation newer than one held of the same ASR replaces it. */
	akm_store_query q;
	int64_t ids[4];
	size_t n = 0;
	memset(&q, 0, sizeof q);
	q.rid = p->head.asr_id;
	q.rid_len = p->head.asr_id_len;
	if ((rv = akm_answer(r, akm_store_find(r->reg, &q, 0, ids, 4, &n))) != CKR_OK)
		goto out;
	if (n > 0) {
		akm_key k;
		if ((rv = akm_answer(r, akm_store_get_key(r->reg, ids[0], &k, &old))) != CKR_OK)
			goto out;
		have_old = true;
		if (!akm_asr_is_member(&old)) {
			rv = CKR_AKM_OTHER_MEMBER;
			why = "the ASR ID is another relationship's";
			goto refused;
		}
		if (p->head.gen <= (uint32_t)(old.epoch >> 32)) {
			rv = CKR_AKM_OLD_EPOCH;
			why = "generation not newer";
			goto refused;
		}
	}
	/* The path, bottom-up, inside the token. */
	if ((rv = akm_backend_ratchet_kek(r->be, true)) != CKR_OK)
		goto backend_failed;
	uint32_t cap = UINT32_C(1) << p->head.depth;
	CK_OBJECT_HANDLE under = pr_key;
	for (unsigned i = 0; i < p->head.depth; i++) {
		bool root = i + 1 == p->head.depth;
		CK_OBJECT_HANDLE h;
		if (akm_backend_asr_edge(r->be, under, p->edges[i].wrapped, AKM_ASR_EDGE_LEN, root, &h) != CKR_OK) {
			rv = CKR_WRAPPED_KEY_INVALID;
			why = "an edge does not unwrap";
			goto refused;
		}
		made[nmade++] = h;
		under = h;
		if (root)
			break;
		akm_tree_row *row = &rows[nrows++];
		row->idx = p->edges[i].child / 2;
		row->gen = p->head.gen;
		row->key_len = sizeof row->key;
		if ((rv = akm_backend_asr_keep(r->be, h, false, row->key, &row->key_len)) != CKR_OK)
			goto backend_failed;
	}
	/* The root is step 0's key; the member moves to the step the station
	 * or the clock says. */
	nmade--; /* derive_to owns the root now */
	uint32_t step = target_step(&p->head, now_s());
	if ((rv = derive_to(r, made[nmade], step, &step_key)) != CKR_OK)
		goto backend_failed;
	akm_key key;
	memset(&key, 0, sizeof key);
	key.purpose = CKV_AKM_PURPOSE_ENCRYPT;
	key.key_type = CKK_AES;
	key.value_len = AKM_BACKEND_KEY_BYTES;
	memcpy(key.ckid, p->head.asr_id, p->head.asr_id_len);
	key.ckid[p->head.asr_id_len] = (uint8_t)CKV_AKM_PURPOSE_ENCRYPT;
	key.ckid_len = p->head.asr_id_len + 1;
	label_for(&p->head, &key, CKV_AKM_PURPOSE_ENCRYPT);
	key.wrapped_len = sizeof key.wrapped;
	if ((rv = akm_backend_asr_keep(r->be, step_key, true, key.wrapped, &key.wrapped_len)) != CKR_OK)
		goto backend_failed;
	memcpy(rel.rid, p->head.asr_id, p->head.asr_id_len);
	rel.rid_len = p->head.asr_id_len;
	rel.kind = CKV_AKM_KIND_OPERATIONAL;
	rel.state = CKV_AKM_STATE_ACTIVE;
	rel.epoch = (CK_ULONG)p->head.gen << 32 | step;
	memcpy(rel.station, p->head.station_id, p->head.station_id_len);
	rel.station_len = p->head.station_id_len;
	memcpy(rel.peer, p->member_id, p->member_id_len);
	rel.peer_len = p->member_id_len;
	rel.created = rel.changed = (int64_t)now_s();
	rel.seq = 1; /* nothing reserved yet */
	akm_asr_state st;
	memset(&st, 0, sizeof st);
	memcpy(st.station_id, p->head.station_id, p->head.station_id_len);
	st.station_id_len = p->head.station_id_len;
	st.leaf = p->leaf;
	st.depth = p->head.depth;
	st.members = p->head.members;
	memcpy(st.member_hash, p->head.member_hash, sizeof st.member_hash);
	st.policy = p->head.policy;
	st.gen = p->head.gen;
	st.step = step;
	st.gen_start = p->head.gen_start;
	st.step_since = now_s();
	/* One transaction: the row, the key, the path, the leaf, the state. */
	if ((rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	if ((rv = state_set(&rel, &st)) != CKR_OK)
		goto rollback;
	if (have_old && (rv = akm_store_delete_relationship(r->reg, old.id)) != CKR_OK)
		goto rollback;
	char detail[96];
	snprintf(detail, sizeof detail, "gen %u step %u leaf %u", st.gen, st.step, st.leaf);
	if ((rv = akm_event_insert_created(r, &rel, AKM_EVENT_ASR_MEMBER_ENROLL, detail)) != CKR_OK)
		goto rollback;
	key.relationship = rel.id;
	if ((rv = akm_store_insert_key(r->reg, &key)) != CKR_OK)
		goto rollback;
	for (size_t i = 0; i < nrows && rv == CKR_OK; i++) {
		rows[i].asr = rel.id;
		rv = akm_store_tree_put(r->reg, &rows[i]);
	}
	akm_tree_row leaf;
	memset(&leaf, 0, sizeof leaf);
	leaf.asr = rel.id;
	leaf.idx = cap + p->leaf;
	leaf.gen = p->head.gen;
	memcpy(leaf.member, p->member_id, p->member_id_len);
	leaf.member_len = p->member_id_len;
	memcpy(leaf.key, p->pr_id, p->pr_id_len); /* the PR whose encryption key is the leaf's */
	leaf.key_len = p->pr_id_len;
	if (rv == CKR_OK)
		rv = akm_store_tree_put(r->reg, &leaf);
	if (rv != CKR_OK)
		goto rollback;
	if ((rv = akm_change_commit(r)) != CKR_OK)
		goto out;
	if (have_old)
		akm_asr_mem_forget(r, old.id);
	asr_entry *m;
	if (entry_get(r, rel.id, key.id, false, &m) == CKR_OK) {
		m->cur = step_key;
		m->gen = st.gen;
		m->step = st.step;
		step_key = 0;
	}
	*key_id = key.id;
	goto out;
rollback:
	akm_store_rollback(r->reg);
	rv = akm_answer(r, rv);
	goto out;
backend_failed:
	akm_log(AKM_LOG_ERROR, "registry %s: enrolling in an ASR failed in the token (0x%lx)", akm_store_location(r->reg),
	        rv);
	rv = akm_backend_session_lost(rv) ? CKR_DEVICE_ERROR : rv;
	goto out;
refused:
	{
		char d[128];
		snprintf(d, sizeof d, "enroll: %s", why);
		refusal(r, p->head.asr_id_len ? p->head.asr_id : NULL, p->head.asr_id_len, rv, d);
	}
out:
	for (size_t i = 0; i < nmade; i++)
		destroy(r, made[i]);
	destroy(r, step_key);
	if (have_old)
		akm_relationship_clear(&old);
	akm_relationship_clear(&rel);
	akm_mutex_unlock(r->lock);
	free(p);
	free(rows);
	return rv;
}

/* ---- rekeying ---------------------------------------------------------------- */

static bool on_path(uint32_t node, uint32_t leaf_node)
{
	while (leaf_node > node)
		leaf_node /= 2;
	return leaf_node == node;
}

CK_RV akm_asr_apply_rekey(akm_relationships *r, int64_t key_id, CK_OBJECT_HANDLE anchor, const uint8_t *msg, size_t len)
{
	akm_asr_rekey *k = calloc(1, sizeof *k);
	asr_ctx c;
	const char *why = NULL;
	CK_OBJECT_HANDLE made[AKM_ASR_DEPTH_MAX + 2], stored[AKM_ASR_DEPTH_MAX + 2];
	akm_tree_row rows[AKM_ASR_DEPTH_MAX + 1];
	uint32_t made_idx[AKM_ASR_DEPTH_MAX + 2];
	size_t nmade = 0, nstored = 0, nrows = 0;
	CK_OBJECT_HANDLE step_key = 0, root = 0;
	memset(&c, 0, sizeof c);
	if (k == NULL)
		return CKR_HOST_MEMORY;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	bool in_txn = false;
	if (rv != CKR_OK)
		goto out;
	asr_entry *e;
	if ((rv = view_sync(r, key_id, &e)) != CKR_OK || (rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	in_txn = true;
	if ((rv = ctx_load(r, key_id, &c)) != CKR_OK)
		goto abort;
	size_t signed_len = 0;
	if (akm_asr_rekey_parse(msg, len, k, &signed_len) != AKM_FMT_OK) {
		rv = CKR_WRAPPED_KEY_INVALID;
		why = "malformed rekey message";
		goto refused;
	}
	if (k->head.station_id_len != c.st.station_id_len ||
	    memcmp(k->head.station_id, c.st.station_id, c.st.station_id_len) != 0) {
		rv = CKR_SIGNATURE_INVALID;
		why = "another station";
		goto refused;
	}
	if ((rv = check_signature(r, anchor, k->head.station_id, k->head.station_id_len, msg, signed_len, k->sig, &why)) !=
	    CKR_OK)
		goto refused;
	if (k->head.asr_id_len != c.rel.rid_len || memcmp(k->head.asr_id, c.rel.rid, c.rel.rid_len) != 0) {
		rv = CKR_AKM_UNKNOWN_ASR;
		why = "another ASR";
		goto refused;
	}
	if (k->head.gen <= c.st.gen) {
		rv = CKR_AKM_OLD_EPOCH;
		why = "generation not newer";
		goto refused;
	}
	if (k->from_gen > c.st.gen) {
		rv = CKR_AKM_UNKNOWN_EPOCH;
		why = "a generation is missing";
		goto refused;
	}
	if (k->head.depth != c.st.depth) {
		rv = CKR_WRAPPED_KEY_INVALID;
		why = "another depth";
		goto refused;
	}
	for (unsigned i = 0; i < k->nremoved; i++) {
		if (k->removed[i] != c.st.leaf)
			continue;
		/* Removed: the ASR is forgotten, every key of it. */
		char detail[64];
		snprintf(detail, sizeof detail, "gen %u removes leaf %u", k->head.gen, c.st.leaf);
		if ((rv = akm_store_delete_relationship(r->reg, c.rel.id)) != CKR_OK ||
		    (rv = akm_event_append(r, AKM_EVENT_ASR_MEMBER_REMOVED, c.rel.rid, c.rel.rid_len, CKR_AKM_REMOVED,
		                           detail)) != CKR_OK)
			goto abort;
		in_txn = false;
		if ((rv = akm_change_commit(r)) != CKR_OK)
			goto out;
		akm_asr_mem_forget(r, c.rel.id);
		c.m = NULL;
		rv = CKR_AKM_REMOVED;
		goto out;
	}
	/* Our path, bottom-up: the leaf's key is the PR's encryption key. */
	uint32_t cap = UINT32_C(1) << c.st.depth, leaf_node = cap + c.st.leaf;
	akm_tree_row leaf;
	if ((rv = akm_store_tree_get(r->reg, c.rel.id, leaf_node, &leaf)) != CKR_OK)
		goto abort;
	uint8_t prid[AKM_ID_MAX + 1];
	memcpy(prid, leaf.key, leaf.key_len);
	prid[leaf.key_len] = (uint8_t)CKV_AKM_PURPOSE_ENCRYPT;
	CK_OBJECT_HANDLE pr_key;
	if (leaf.key_len == 0 || leaf.key_len > AKM_ID_MAX ||
	    akm_backend_key_by_id(r->be, prid, leaf.key_len + 1, &pr_key) != CKR_OK) {
		rv = CKR_KEY_HANDLE_INVALID;
		why = "the PR's encryption key is not in the token";
		goto refused;
	}
	for (unsigned i = 0; i < k->nedges; i++) {
		uint32_t child = k->edges[i].child;
		if (!on_path(child, leaf_node))
			continue;
		CK_OBJECT_HANDLE under = 0;
		if (child == leaf_node) {
			under = pr_key;
		} else {
			for (size_t j = 0; j < nmade; j++)
				if (made_idx[j] == child)
					under = made[j];
			if (under == 0) { /* the key we hold */
				akm_tree_row row;
				if ((rv = akm_store_tree_get(r->reg, c.rel.id, child, &row)) != CKR_OK)
					goto abort;
				if ((rv = akm_backend_key_unwrap(r->be, AKM_BACKEND_KEY_CIPHER, row.key, row.key_len, &under)) !=
				    CKR_OK) {
					rv = CKR_DEVICE_ERROR;
					goto abort;
				}
				stored[nstored++] = under;
			}
		}
		bool is_root = child / 2 == 1;
		CK_OBJECT_HANDLE h;
		if (akm_backend_asr_edge(r->be, under, k->edges[i].wrapped, AKM_ASR_EDGE_LEN, is_root, &h) != CKR_OK) {
			rv = CKR_WRAPPED_KEY_INVALID;
			why = "an edge does not unwrap";
			goto refused;
		}
		if (is_root) {
			root = h;
			break;
		}
		made[nmade] = h;
		made_idx[nmade++] = child / 2;
		akm_tree_row *row = &rows[nrows++];
		memset(row, 0, sizeof *row);
		row->asr = c.rel.id;
		row->idx = child / 2;
		row->gen = k->head.gen;
		row->key_len = sizeof row->key;
		if ((rv = akm_backend_asr_keep(r->be, h, false, row->key, &row->key_len)) != CKR_OK)
			goto abort;
	}
	if (root == 0) {
		rv = CKR_WRAPPED_KEY_INVALID;
		why = "no new root on this member's path";
		goto refused;
	}
	uint32_t step = target_step(&k->head, c.now);
	CK_OBJECT_HANDLE r0 = root;
	root = 0;
	if ((rv = derive_to(r, r0, step, &step_key)) != CKR_OK)
		goto abort;
	uint8_t w[AKM_WRAPPED_MAX];
	size_t wlen = sizeof w;
	if ((rv = akm_backend_asr_keep(r->be, step_key, true, w, &wlen)) != CKR_OK ||
	    (rv = akm_store_update_key_wrapped(r->reg, c.key.id, w, wlen)) != CKR_OK)
		goto abort;
	if (c.have_prev && (rv = akm_store_delete_key(r->reg, c.prev.id)) != CKR_OK)
		goto abort;
	for (size_t i = 0; i < nrows && rv == CKR_OK; i++)
		rv = akm_store_tree_put(r->reg, &rows[i]);
	if (rv != CKR_OK)
		goto abort;
	char detail[96];
	snprintf(detail, sizeof detail, "gen %u -> %u step %u", c.st.gen, k->head.gen, step);
	c.st.gen = k->head.gen;
	c.st.step = step;
	c.st.gen_start = k->head.gen_start;
	c.st.members = k->head.members;
	memcpy(c.st.member_hash, k->head.member_hash, sizeof c.st.member_hash);
	c.st.policy = k->head.policy;
	c.st.step_since = c.now;
	c.st.previous_until = 0;
	c.st.sealed = c.st.failed = 0;
	/* Replay windows are per generation: a message names its generation,
	 * so none of an older one opens again, and a leaf freed by a removal
	 * may be a new member's in this one, whose numbers start afresh. */
	free(c.st.senders);
	c.st.senders = NULL;
	c.st.nsenders = 0;
	c.rel.epoch = (CK_ULONG)c.st.gen << 32 | step;
	c.have_prev = false;
	c.dirty_mode = DIRTY_CLEAR; /* new windows: nobody has opened anything of this generation */
	if ((rv = row_change(r, &c.rel, AKM_EVENT_ASR_MEMBER_REKEY, detail)) != CKR_OK ||
	    (rv = ctx_put_state(r, &c)) != CKR_OK)
		goto abort;
	in_txn = false;
	uint64_t before = r->change_mark;
	if ((rv = akm_change_commit(r)) != CKR_OK) {
		c.m->fresh = false;
		goto out;
	}
	/* The old generation's keys go at once. */
	entry_drop_keys(r, c.m, true);
	c.m->cur = step_key;
	c.m->gen = c.st.gen;
	c.m->step = c.st.step;
	step_key = 0;
	ctx_adopt(r, &c, before);
	goto out;
refused:
	akm_store_rollback(r->reg);
	in_txn = false;
	{
		char d[128];
		snprintf(d, sizeof d, "rekey: %s", why);
		refusal(r, c.rel.rid, c.rel.rid_len, rv, d);
	}
	goto out;
abort:
	if (in_txn) {
		akm_store_rollback(r->reg);
		in_txn = false;
	}
	rv = akm_answer(r, rv);
out:
	if (in_txn)
		akm_store_rollback(r->reg);
	for (size_t i = 0; i < nmade; i++)
		destroy(r, made[i]);
	for (size_t i = 0; i < nstored; i++)
		destroy(r, stored[i]);
	destroy(r, root);
	destroy(r, step_key);
	ctx_clear(&c);
	akm_mutex_unlock(r->lock);
	free(k);
	return rv;
}

/* ---- sealing and opening ---------------------------------------------------- */

/* Lock held: the entry of ASR key `key_id` with a view that holds: the
 * one it has while the change mark has not moved (nobody committed) and
 * for at most VIEW_NS, else read again.  First, what this process has not
 * written of any ASR for FLUSH_NS is written. */
static CK_RV view_sync(akm_relationships *r, int64_t key_id, asr_entry **out)
{
	uint64_t now = mono_ns();
	struct akm_asr_mem *m = r->asr;
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		asr_entry *x = &m->e[i];
		if (entry_pending(x) && now - x->pending_ns >= FLUSH_NS) {
			CK_RV rv = entry_flush(r, x);
			if (rv != CKR_OK && x->key_id == key_id)
				return akm_answer(r, rv);
		}
	}
	asr_entry *e = entry_by_key(r, key_id);
	uint64_t mark;
	if (e != NULL && e->have_st && e->fresh && akm_store_change_mark(r->reg, &mark) == CKR_OK && mark == e->mark &&
	    now - e->read_ns < VIEW_NS) {
		*out = e;
		return CKR_OK;
	}
	return view_load(r, key_id, out);
}

/* Whether the view needs a write before anything else: the previous key's
 * grace is over, the clock says a later step, or the keys are not the
 * state's. */
static bool view_needs_change(const asr_entry *e, uint64_t now)
{
	const akm_asr_state *st = &e->st;
	if (e->cur == 0 || e->gen != st->gen || e->step != st->step)
		return true;
	if (e->have_prev_row && st->previous_until != 0 && now >= st->previous_until)
		return true;
	return st->policy.period > 0 && now > st->gen_start && (now - st->gen_start) / st->policy.period > st->step;
}

static CK_RV answer(CK_RV rv)
{
	return rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

CK_RV akm_asr_check_key(akm_relationships *r, int64_t key_id)
{
	akm_mutex_lock(r->lock);
	/* The view read (and checked: an active member ASR's current key,
	 * its state and keys readable) or still holding. */
	asr_entry *e;
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = view_sync(r, key_id, &e);
	akm_mutex_unlock(r->lock);
	return answer(rv);
}

/* A seal's work in a transaction: steps when due, a new reserve when this
 * process has none left; *e's view is what was written. */
static CK_RV seal_slow(akm_relationships *r, int64_t key_id, asr_entry **e)
{
	asr_ctx c;
	memset(&c, 0, sizeof c);
	CK_RV rv = akm_change_begin(r);
	if (rv != CKR_OK)
		return rv;
	if ((rv = ctx_load(r, key_id, &c)) != CKR_OK || (rv = maintain(r, &c)) != CKR_OK)
		goto done;
	if (c.st.sealed >= c.st.policy.msg_limit && (rv = step_to(r, &c, c.st.step + 1, "message limit")) != CKR_OK)
		goto done;
	/* The sequence numbers: a block reserved in the registry before any
	 * number of it is used. */
	if (c.m->next_seq == 0 || c.m->next_seq >= c.m->limit) {
		c.next_seq = c.rel.seq > 0 ? c.rel.seq : 1;
		c.limit = c.next_seq + RESERVE_BLOCK;
		c.rel.seq = (CK_ULONG)c.limit;
		char detail[64];
		snprintf(detail, sizeof detail, "seq %llu..%llu", (unsigned long long)c.next_seq,
		         (unsigned long long)c.limit - 1);
		rv = row_change(r, &c.rel, AKM_EVENT_ASR_MEMBER_RESERVE, detail);
	}
done:
	*e = c.m;
	rv = ctx_commit(r, &c, rv);
	ctx_clear(&c);
	return rv;
}

CK_RV akm_asr_seal(akm_relationships *r, int64_t key_id, const uint8_t *in, size_t in_len, uint8_t *out,
                   CK_ULONG *out_len)
{
	if (in_len > AKM_ASR_PLAIN_MAX)
		return CKR_DATA_LEN_RANGE;
	akm_mutex_lock(r->lock);
	asr_entry *e = NULL;
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = view_sync(r, key_id, &e)) != CKR_OK)
		goto out;
	size_t need = akm_asr_message_header_len(e->rid_len) + in_len + AKM_ASR_TAG_LEN;
	if (out == NULL || *out_len < need) {
		rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*out_len = (CK_ULONG)need;
		goto out;
	}
	/* Without a write unless something is due (docs/asr.md §5): the
	 * number from the block this process reserved, the count in memory
	 * until the next write. */
	if (view_needs_change(e, now_s()) || e->st.sealed >= e->st.policy.msg_limit || e->next_seq == 0 ||
	    e->next_seq >= e->limit) {
		if ((rv = seal_slow(r, key_id, &e)) != CKR_OK)
			goto out;
		if (!e->have_st || e->cur == 0 || e->next_seq == 0 || e->next_seq >= e->limit) {
			rv = CKR_DEVICE_ERROR;
			goto out;
		}
	}
	uint64_t seq = e->next_seq++;
	if (!entry_pending(e))
		e->pending_ns = mono_ns();
	e->sealed_delta++;
	e->st.sealed++;
	akm_asr_message m;
	memset(&m, 0, sizeof m);
	memcpy(m.asr_id, e->rid, e->rid_len);
	m.asr_id_len = e->rid_len;
	m.gen = e->st.gen;
	m.step = e->st.step;
	m.sender = e->st.leaf;
	m.seq = seq;
	size_t hl = 0, ol = in_len + AKM_ASR_TAG_LEN;
	uint8_t nonce[AKM_ASR_NONCE_LEN];
	akm_asr_nonce(m.sender, m.seq, nonce);
	if (akm_asr_message_header(&m, in_len, out, need, &hl) != AKM_FMT_OK) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rv = akm_backend_asr_gcm(r->be, e->cur, true, nonce, out, hl, in, in_len, out + hl, &ol);
	if (rv == CKR_OK)
		*out_len = (CK_ULONG)(hl + ol);
	else
		rv = CKR_DEVICE_ERROR;
out:
	akm_mutex_unlock(r->lock);
	return answer(rv);
}

static void refused_open(akm_relationships *r, const uint8_t *rid, size_t rid_len, CK_RV rv, const char *why,
                         const akm_asr_message *m)
{
	char d[128];
	snprintf(d, sizeof d, "open: %s (sender %u gen %u step %u seq %llu)", why, m->sender, m->gen, m->step,
	         (unsigned long long)m->seq);
	refusal(r, rid, rid_len, rv, d);
}

/* An open in a transaction, on the state as the registry has it (with
 * this process's merged in): whatever the view said, every check again. */
static CK_RV open_slow(akm_relationships *r, int64_t key_id, const akm_asr_message *m, uint8_t *out, size_t need,
                       CK_ULONG *out_len)
{
	asr_ctx c;
	const char *why = NULL;
	CK_OBJECT_HANDLE temp[AHEAD_MAX];
	size_t ntemp = 0;
	memset(&c, 0, sizeof c);
	CK_RV rv = akm_change_begin(r);
	if (rv != CKR_OK)
		return rv;
	if ((rv = ctx_load(r, key_id, &c)) != CKR_OK || (rv = maintain(r, &c)) != CKR_OK) {
		rv = ctx_commit(r, &c, rv);
		goto out;
	}
	uint32_t cap = UINT32_C(1) << c.st.depth;
	CK_OBJECT_HANDLE key = 0;
	if (m->asr_id_len != c.rel.rid_len || memcmp(m->asr_id, c.rel.rid, c.rel.rid_len) != 0) {
		rv = CKR_AKM_UNKNOWN_ASR;
		why = "another ASR";
	} else if (m->gen < c.st.gen) {
		rv = CKR_AKM_OLD_EPOCH;
		why = "older generation";
	} else if (m->gen > c.st.gen) {
		rv = CKR_AKM_UNKNOWN_EPOCH;
		why = "newer generation";
	} else if (m->sender >= cap || m->sender == c.st.leaf) {
		rv = CKR_AKM_NOT_MEMBER;
		why = m->sender == c.st.leaf ? "our own sender index" : "sender out of range";
	} else if (m->step == c.st.step) {
		key = c.stepped ? c.new_cur : c.m->cur;
	} else if (m->step + 1 == c.st.step && (c.stepped ? c.new_prev : c.m->prev) != 0 &&
	           c.st.previous_until > c.now) {
		key = c.stepped ? c.new_prev : c.m->prev;
	} else if (m->step < c.st.step) {
		rv = CKR_AKM_OLD_EPOCH;
		why = "a step whose key is destroyed";
	} else if (m->step - c.st.step > AHEAD_MAX) {
		rv = CKR_AKM_UNKNOWN_EPOCH;
		why = "too many steps ahead";
	} else {
		/* Ahead: derived for this message only; kept if it opens. */
		CK_OBJECT_HANDLE x = c.stepped ? c.new_cur : c.m->cur;
		for (uint32_t s = c.st.step; s < m->step && rv == CKR_OK; s++) {
			rv = akm_backend_asr_ratchet(r->be, x, akm_asr_ratchet_data, false, &temp[ntemp]);
			if (rv == CKR_OK)
				x = temp[ntemp++];
		}
		if (rv != CKR_OK) {
			rv = ctx_commit(r, &c, rv);
			goto out;
		}
		key = x;
	}
	if (rv == CKR_OK) {
		akm_asr_sender *w = sender_find(&c.st, m->sender, false);
		akm_asr_sender fresh = {.leaf = m->sender};
		if (!akm_asr_window_check(w != NULL ? w : &fresh, m->seq, false)) {
			rv = CKR_AKM_REPLAY;
			why = "replay";
		}
	}
	if (rv == CKR_OK) {
		uint8_t nonce[AKM_ASR_NONCE_LEN];
		size_t ol = need;
		akm_asr_nonce(m->sender, m->seq, nonce);
		rv = akm_backend_asr_gcm(r->be, key, false, nonce, m->header, m->header_len, m->ct, m->ct_len, out, &ol);
		if (rv == CKR_ENCRYPTED_DATA_INVALID) {
			why = "bad tag";
			c.st.failed++;
			CK_RV srv = CKR_OK;
			if (c.st.failed >= c.st.policy.fail_limit)
				srv = step_to(r, &c, c.st.step + 1, "failure limit");
			if ((srv = ctx_commit(r, &c, srv)) != CKR_OK)
				rv = srv;
			goto refused;
		}
		if (rv != CKR_OK) {
			rv = ctx_commit(r, &c, CKR_DEVICE_ERROR);
			goto out;
		}
		*out_len = (CK_ULONG)ol;
		akm_asr_sender *w = sender_find(&c.st, m->sender, true);
		if (w == NULL) {
			rv = ctx_commit(r, &c, CKR_DEVICE_MEMORY);
			goto out;
		}
		akm_asr_window_check(w, m->seq, true);
		/* Written now with this process's mark, so that the next ones
		 * need no write; the FLUSH_OPENS-th since the last write
		 * clears it (a flush). */
		c.dirty_mode = c.m->opened + 1 >= FLUSH_OPENS ? DIRTY_CLEAR : DIRTY_MARK;
		CK_RV srv = m->step > c.st.step ? step_to(r, &c, m->step, "a member's message") : CKR_OK;
		rv = ctx_commit(r, &c, srv);
		goto out;
	}
	/* A refusal: what maintenance changed is kept, the refusal recorded. */
	{
		CK_RV crv = ctx_commit(r, &c, CKR_OK);
		if (crv != CKR_OK) {
			rv = crv;
			goto out;
		}
	}
refused:
	if (why != NULL)
		refused_open(r, c.rel.rid, c.rel.rid_len, rv, why, m);
out:
	for (size_t i = 0; i < ntemp; i++)
		destroy(r, temp[i]);
	ctx_clear(&c);
	return rv;
}

CK_RV akm_asr_open(akm_relationships *r, int64_t key_id, const uint8_t *in, size_t in_len, uint8_t *out,
                   CK_ULONG *out_len)
{
	akm_asr_message m;
	const char *why = NULL;
	akm_mutex_lock(r->lock);
	asr_entry *e = NULL;
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = view_sync(r, key_id, &e)) != CKR_OK)
		goto out;
	if (akm_asr_message_parse(in, in_len, &m) != AKM_FMT_OK) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		if (out != NULL)
			refusal(r, e->rid, e->rid_len, rv, "open: malformed message");
		goto out;
	}
	size_t need = m.ct_len - AKM_ASR_TAG_LEN;
	if (out == NULL || *out_len < need) {
		rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*out_len = (CK_ULONG)need;
		goto out;
	}
	/* From the view, without a write (docs/asr.md §5), unless something
	 * is due or the registry must have the opening first. */
	uint64_t now = now_s();
	const akm_asr_state *st = &e->st;
	if (view_needs_change(e, now))
		goto slow;
	uint32_t cap = UINT32_C(1) << st->depth;
	CK_OBJECT_HANDLE key = 0;
	if (m.asr_id_len != e->rid_len || memcmp(m.asr_id, e->rid, e->rid_len) != 0) {
		rv = CKR_AKM_UNKNOWN_ASR;
		why = "another ASR";
	} else if (m.gen < st->gen) {
		rv = CKR_AKM_OLD_EPOCH;
		why = "older generation";
	} else if (m.gen > st->gen) {
		rv = CKR_AKM_UNKNOWN_EPOCH;
		why = "newer generation";
	} else if (m.sender >= cap || m.sender == st->leaf) {
		rv = CKR_AKM_NOT_MEMBER;
		why = m.sender == st->leaf ? "our own sender index" : "sender out of range";
	} else if (m.step == st->step) {
		key = e->cur;
	} else if (m.step + 1 == st->step && e->prev != 0 && st->previous_until > now) {
		key = e->prev;
	} else if (m.step < st->step) {
		rv = CKR_AKM_OLD_EPOCH;
		why = "a step whose key is destroyed";
	} else if (m.step - st->step > AHEAD_MAX) {
		rv = CKR_AKM_UNKNOWN_EPOCH;
		why = "too many steps ahead";
	} else {
		goto slow; /* ahead: the member moves there if it opens */
	}
	akm_asr_sender *w = NULL;
	if (rv == CKR_OK) {
		w = sender_find(&e->st, m.sender, false);
		akm_asr_sender fresh = {.leaf = m.sender};
		if (!akm_asr_window_check(w != NULL ? w : &fresh, m.seq, false)) {
			rv = CKR_AKM_REPLAY;
			why = "replay";
		}
	}
	if (rv != CKR_OK) {
		refused_open(r, e->rid, e->rid_len, rv, why, &m);
		goto out;
	}
	/* An opening stays unwritten only while the state carries this
	 * process's mark, the sender is in the state as written and the
	 * number within a window of what it says (what a reader of the marked
	 * state raises over), and fewer than FLUSH_OPENS are unwritten. */
	const akm_asr_sender *ww = written_find(e, m.sender);
	if (!e->dirty_mine || w == NULL || ww == NULL || ww->high > UINT64_MAX - AKM_ASR_WINDOW ||
	    m.seq > ww->high + AKM_ASR_WINDOW || e->opened + 1 >= FLUSH_OPENS)
		goto slow;
	uint8_t nonce[AKM_ASR_NONCE_LEN];
	size_t ol = need;
	akm_asr_nonce(m.sender, m.seq, nonce);
	rv = akm_backend_asr_gcm(r->be, key, false, nonce, m.header, m.header_len, m.ct, m.ct_len, out, &ol);
	if (rv == CKR_ENCRYPTED_DATA_INVALID)
		goto slow; /* counted, and recorded, in a transaction */
	if (rv != CKR_OK) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	akm_asr_window_check(w, m.seq, true);
	e->own[e->opened].leaf = m.sender;
	e->own[e->opened].seq = m.seq;
	e->opened++;
	*out_len = (CK_ULONG)ol;
	goto out;
slow:
	rv = open_slow(r, key_id, &m, out, need, out_len);
out:
	akm_mutex_unlock(r->lock);
	return answer(rv);
}

CK_RV akm_asr_set_epoch(akm_relationships *r, int64_t key_id, CK_ULONG epoch)
{
	asr_ctx c;
	memset(&c, 0, sizeof c);
	akm_mutex_lock(r->lock);
	asr_entry *e;
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = view_sync(r, key_id, &e)) != CKR_OK || (rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	if ((rv = ctx_load(r, key_id, &c)) != CKR_OK) {
		rv = ctx_commit(r, &c, rv);
		goto out;
	}
	uint32_t gen = (uint32_t)(epoch >> 32), step = (uint32_t)epoch;
	if (gen != c.st.gen || step <= c.st.step || (epoch >> 32) > UINT32_MAX)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	else
		rv = step_to(r, &c, step, "asked");
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
		akm_store_rollback(r->reg);
		ctx_finish(r, &c, false);
		goto out;
	}
	rv = ctx_commit(r, &c, rv);
out:
	ctx_clear(&c);
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_asr_info_get(akm_relationships *r, const akm_relationship *rel, akm_asr_info *info)
{
	akm_asr_state st;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_answer(r, state_get(r, rel, &st));
	if (rv == CKR_OK) {
		info->leaf = st.leaf;
		info->capacity = UINT32_C(1) << st.depth;
		info->members = st.members;
		info->policy = st.policy;
		akm_asr_state_clear(&st);
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

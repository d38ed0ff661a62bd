/* The station's operational ASRs with a key tree (akm/asr.h; docs/asr.md
 * §2 and §4).  Heap numbering: the root is node 1, node n's children are 2n
 * and 2n+1, leaf i of an ASR of capacity C is node C + i; a node has a key
 * (a tree row) exactly when its subtree holds a member.  Every key is made
 * and used inside the backend (backend.h, "ASR key trees"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm/asr.h"
#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "lib/buf.h"
#include "lib/hex.h"

/* ---- the state in the relationship row ----------------------------------------- */

#define STATE_MAGIC "AKMT"
#define STATE_VERSION 1
#define STATE_MAX (1 + 4 + 1 + 1 + AKM_ASR_POLICY_LEN + 8 + 4 + AKM_FMT_HASH_LEN + 1 + 1 + 4 + 1 + \
                   4 * AKM_ASR_REMOVED_MAX)

bool akm_relationship_is_tree(const akm_relationship *rel)
{
	return rel->kind == CKV_AKM_KIND_OPERATIONAL && rel->members_len >= 5 && rel->members[0] == 0x00 &&
	       memcmp(rel->members + 1, STATE_MAGIC, 4) == 0;
}

static CK_RV state_encode(const akm_tree_state *st, uint8_t *buf, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_buf_put_u8(&w, 0x00);
	akm_buf_put_bytes(&w, STATE_MAGIC, 4);
	akm_buf_put_u8(&w, STATE_VERSION);
	akm_buf_put_u8(&w, st->depth);
	akm_buf_put_u32(&w, st->policy.period);
	akm_buf_put_u32(&w, st->policy.grace);
	akm_buf_put_u32(&w, st->policy.msg_limit);
	akm_buf_put_u32(&w, st->policy.fail_limit);
	akm_buf_put_u8(&w, st->policy.join_rekeys);
	akm_buf_put_u64(&w, st->gen_start);
	akm_buf_put_u32(&w, st->members);
	akm_buf_put_bytes(&w, st->member_hash, AKM_FMT_HASH_LEN);
	akm_buf_put_u8(&w, st->last_op);
	akm_buf_put_u8(&w, st->made_gen);
	akm_buf_put_u32(&w, st->leaf);
	akm_buf_put_u8(&w, st->nremoved);
	for (unsigned i = 0; i < st->nremoved && i < AKM_ASR_REMOVED_MAX; i++)
		akm_buf_put_u32(&w, st->removed[i]);
	return akm_buf_writer_done(&w, len) == AKM_BUF_OK ? CKR_OK : CKR_GENERAL_ERROR;
}

CK_RV akm_tree_state_parse(const akm_relationship *rel, akm_tree_state *st)
{
	memset(st, 0, sizeof *st);
	if (!akm_relationship_is_tree(rel))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	akm_buf_reader rd;
	akm_buf_reader_init(&rd, rel->members + 5, rel->members_len - 5);
	bool ok = akm_buf_get_u8(&rd) == STATE_VERSION;
	st->depth = akm_buf_get_u8(&rd);
	st->policy.period = akm_buf_get_u32(&rd);
	st->policy.grace = akm_buf_get_u32(&rd);
	st->policy.msg_limit = akm_buf_get_u32(&rd);
	st->policy.fail_limit = akm_buf_get_u32(&rd);
	st->policy.join_rekeys = akm_buf_get_u8(&rd);
	st->gen_start = akm_buf_get_u64(&rd);
	st->members = akm_buf_get_u32(&rd);
	akm_buf_get_bytes(&rd, st->member_hash, AKM_FMT_HASH_LEN);
	st->last_op = akm_buf_get_u8(&rd);
	st->made_gen = akm_buf_get_u8(&rd);
	st->leaf = akm_buf_get_u32(&rd);
	st->nremoved = akm_buf_get_u8(&rd);
	ok = ok && st->nremoved <= AKM_ASR_REMOVED_MAX;
	for (unsigned i = 0; ok && i < st->nremoved; i++)
		st->removed[i] = akm_buf_get_u32(&rd);
	akm_buf_end(&rd);
	ok = ok && rd.err == AKM_BUF_OK && st->depth >= AKM_ASR_DEPTH_MIN && st->depth <= AKM_ASR_DEPTH_MAX &&
	     akm_asr_policy_ok(&st->policy) && st->members >= 1 && st->members <= (1UL << st->depth) &&
	     st->last_op <= CKV_AKM_ASR_REKEY && st->made_gen <= 1 && st->leaf < (1UL << st->depth);
	return ok ? CKR_OK : CKR_DEVICE_ERROR;
}

/* ---- helpers ------------------------------------------------------------------------ */

static uint32_t gen_of(const akm_relationship *rel)
{
	return (uint32_t)((uint64_t)rel->epoch >> 32);
}

/* A member ID for an audit detail: as text when it is printable, else hex. */
static void id_text(const uint8_t *id, size_t len, char *out, size_t cap)
{
	bool printable = len > 0;
	for (size_t i = 0; i < len; i++)
		printable = printable && id[i] > 0x20 && id[i] < 0x7f;
	if (printable && len < cap) {
		memcpy(out, id, len);
		out[len] = '\0';
	} else if (2 * len + 1 <= cap) {
		akm_hex_encode(id, len, out);
		out[2 * len] = '\0';
	} else {
		snprintf(out, cap, "?");
	}
}

/* The registry is not what the station wrote: recorded as tampering. */
#define TAMPERED(r, ...) akm_store_tampered((r)->reg, __VA_ARGS__)

/* The one PR of node `member` that counts: exactly one provisioning
 * relationship of that peer that is not revoked, and it active.  *pr gets
 * its row id, *enc its encryption key row. */
static CK_RV member_pr(akm_relationships *r, const uint8_t *member, size_t len, int64_t *pr, akm_key *enc)
{
	akm_store_query q;
	memset(&q, 0, sizeof q);
	q.peer = member;
	q.peer_len = len;
	q.has_kind = true;
	q.kind = CKV_AKM_KIND_PROVISIONING;
	q.has_purpose = true;
	q.purpose = CKV_AKM_PURPOSE_ENCRYPT;
	int64_t ids[8];
	size_t n = 0;
	CK_RV rv = akm_store_find(r->reg, &q, 0, ids, 8, &n);
	if (rv != CKR_OK)
		return rv;
	size_t live = 0;
	bool active = false;
	for (size_t i = 0; i < n; i++) {
		akm_key k;
		akm_relationship rel;
		if ((rv = akm_store_get_key(r->reg, ids[i], &k, &rel)) != CKR_OK)
			return rv;
		if (rel.state != CKV_AKM_STATE_REVOKED) {
			live++;
			active = rel.state == CKV_AKM_STATE_ACTIVE;
			*pr = rel.id;
			*enc = k;
		}
		akm_relationship_clear(&rel);
	}
	if (live != 1 || !active || n == 8) {
		char who[2 * AKM_ID_MAX + 1];
		id_text(member, len, who, sizeof who);
		akm_log(AKM_LOG_INFO, "ASR member %s: %zu provisioning relationships not revoked%s: refused", who, live,
		        live == 1 ? " (not active)" : "");
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	return CKR_OK;
}

/* The encryption key of PR row `pr`, which must be `member`'s (the leaf's
 * key); *rid gets the PR's ID when not NULL. */
static CK_RV leaf_pr(akm_relationships *r, const akm_tree_row *leaf, akm_key *enc, akm_relationship *prrel)
{
	CK_RV rv = akm_store_get_relationship(r->reg, leaf->pr, prrel);
	if (rv == CKR_OBJECT_HANDLE_INVALID) {
		akm_log(AKM_LOG_ERROR, "registry %s: ASR leaf %u: its provisioning relationship is gone",
		        akm_store_location(r->reg), leaf->idx);
		return CKR_FUNCTION_FAILED;
	}
	if (rv != CKR_OK)
		return rv;
	if (prrel->kind != CKV_AKM_KIND_PROVISIONING || prrel->peer_len != leaf->member_len ||
	    memcmp(prrel->peer, leaf->member, leaf->member_len) != 0) {
		akm_relationship_clear(prrel);
		return TAMPERED(r, "tree row %lld: its PR is another node's", (long long)leaf->id);
	}
	if (enc == NULL)
		return CKR_OK;
	akm_store_query q;
	memset(&q, 0, sizeof q);
	q.rid = prrel->rid;
	q.rid_len = prrel->rid_len;
	q.has_purpose = true;
	q.purpose = CKV_AKM_PURPOSE_ENCRYPT;
	int64_t id;
	size_t n = 0;
	if ((rv = akm_store_find(r->reg, &q, 0, &id, 1, &n)) == CKR_OK && n != 1)
		rv = TAMPERED(r, "relationship row %lld: no encryption key", (long long)prrel->id);
	if (rv == CKR_OK && (rv = akm_store_get_key(r->reg, id, enc, NULL)) == CKR_OK && enc->relationship != prrel->id)
		rv = TAMPERED(r, "key row %lld: not its relationship's", (long long)id);
	if (rv != CKR_OK)
		akm_relationship_clear(prrel);
	return rv;
}

/* The member-set hash and count from the leaves, in leaf order. */
static CK_RV leaves_hash(akm_relationships *r, int64_t asr, uint32_t cap, akm_tree_state *st)
{
	akm_asr_member_hash_ctx h;
	akm_asr_member_hash_init(&h);
	akm_tree_row *rows = malloc(256 * sizeof *rows);
	if (rows == NULL)
		return CKR_HOST_MEMORY;
	uint32_t after = cap - 1, count = 0;
	CK_RV rv;
	for (;;) {
		size_t n = 0;
		if ((rv = akm_store_tree_scan(r->reg, asr, after, rows, 256, &n)) != CKR_OK)
			break;
		for (size_t i = 0; i < n && rv == CKR_OK; i++) {
			if (rows[i].idx >= 2 * cap || rows[i].member_len == 0)
				rv = TAMPERED(r, "tree row %lld: not a leaf", (long long)rows[i].id);
			else
				akm_asr_member_hash_add(&h, rows[i].idx - cap, rows[i].member, rows[i].member_len);
			count++;
		}
		if (rv != CKR_OK || n < 256)
			break;
		after = rows[n - 1].idx;
	}
	free(rows);
	akm_asr_member_hash_final(&h, st->member_hash);
	if (rv == CKR_OK && count != st->members)
		rv = TAMPERED(r, "ASR: %u leaves, %u members recorded", count, st->members);
	return rv;
}

/* ---- one operation's backend objects -------------------------------------------- */

typedef struct tree_op {
	akm_relationships *r;
	int64_t asr;
	uint32_t cap;
	const akm_key *group;       /* the ASR's key row: the root's key */
} tree_op;

static void drop(tree_op *op, CK_OBJECT_HANDLE *h)
{
	if (*h != 0)
		akm_backend_destroy(op->r->be, *h);
	*h = 0;
}

/* A backend failure on the module's own objects is the device's. */
static CK_RV backend_answer(akm_relationships *r, CK_RV rv, const char *what)
{
	if (rv == CKR_OK || rv == AKM_STORE_TAMPERED)
		return rv;
	akm_log(AKM_LOG_ERROR, "registry %s: ASR key tree: %s failed in the token (0x%lx)", akm_store_location(r->reg),
	        what, rv);
	return rv == CKR_HOST_MEMORY || rv == CKR_DEVICE_MEMORY ? rv : CKR_DEVICE_ERROR;
}

/* The key of a node that has a row, as a backend object. */
static CK_RV node_key(tree_op *op, const akm_tree_row *row, CK_OBJECT_HANDLE *h)
{
	akm_relationships *r = op->r;
	CK_RV rv;
	*h = 0;
	if (row->idx >= op->cap) {
		akm_key enc;
		akm_relationship pr;
		if ((rv = leaf_pr(r, row, &enc, &pr)) != CKR_OK)
			return rv;
		akm_relationship_clear(&pr);
		rv = akm_backend_key_unwrap(r->be, AKM_BACKEND_KEY_CIPHER, enc.wrapped, enc.wrapped_len, h);
	} else if (row->idx == 1) {
		rv = akm_backend_node_unwrap(r->be, op->group->wrapped, op->group->wrapped_len, h);
	} else {
		rv = akm_backend_node_unwrap(r->be, row->key, row->key_len, h);
	}
	if (rv != CKR_OK && rv != AKM_STORE_TAMPERED && rv != CKR_FUNCTION_FAILED) {
		akm_event_record(r, AKM_EVENT_UNWRAP_FAILED, NULL, 0, rv, "asr tree node");
		rv = backend_answer(r, rv, "unwrapping a node key");
	}
	return rv;
}

/* child's up edge: the parent's key under the child's. */
static CK_RV edge(tree_op *op, akm_tree_row *child, CK_OBJECT_HANDLE hc, CK_OBJECT_HANDLE hp, uint32_t parent_gen)
{
	size_t len = sizeof child->up;
	CK_RV rv = akm_backend_edge_wrap(op->r->be, hc, hp, child->up, &len);
	if (rv != CKR_OK)
		return backend_answer(op->r, rv, "wrapping an edge");
	child->up_len = len;
	child->up_gen = parent_gen;
	return CKR_OK;
}

/* A fresh interior key; its blob into row->key (the root's into *root_blob). */
static CK_RV fresh(tree_op *op, akm_tree_row *row, uint8_t *root_blob, size_t *root_len, CK_OBJECT_HANDLE *h)
{
	uint8_t blob[AKM_WRAPPED_MAX];
	size_t len = sizeof blob;
	CK_RV rv = akm_backend_node_generate(op->r->be, blob, &len, h);
	if (rv != CKR_OK)
		return backend_answer(op->r, rv, "making a node key");
	if (row->idx == 1) {
		memcpy(root_blob, blob, len);
		*root_len = len;
		row->key_len = 0; /* the root's key is the ASR's key row */
	} else {
		memcpy(row->key, blob, len);
		row->key_len = len;
	}
	return CKR_OK;
}

/* ---- creation ---------------------------------------------------------------------- */

static CK_RV head_from(const akm_relationship *rel, const akm_key *key, const akm_tree_state *st,
                       akm_asr_head *h)
{
	memset(h, 0, sizeof *h);
	memcpy(h->station_id, rel->station, rel->station_len);
	h->station_id_len = rel->station_len;
	memcpy(h->asr_id, rel->rid, rel->rid_len);
	h->asr_id_len = rel->rid_len;
	size_t ll = key->label_len >= AKM_LABEL_SUFFIX_LEN ? key->label_len - AKM_LABEL_SUFFIX_LEN : 0;
	if (ll > AKM_ASR_LABEL_MAX)
		ll = AKM_ASR_LABEL_MAX;
	memcpy(h->label, key->label, ll);
	h->label[ll] = '\0';
	h->gen = gen_of(rel);
	uint64_t now = (uint64_t)time(NULL);
	uint64_t steps = st->policy.period > 0 && now > st->gen_start ? (now - st->gen_start) / st->policy.period : 0;
	h->step = steps > UINT32_MAX ? UINT32_MAX : (uint32_t)steps;
	h->gen_start = st->gen_start;
	h->policy = st->policy;
	h->depth = st->depth;
	h->members = st->members;
	memcpy(h->member_hash, st->member_hash, AKM_FMT_HASH_LEN);
	h->created = now;
	return CKR_OK;
}

/* The tree of a new ASR, depth first (post-order): a node's key is made
 * after its children's, their edges computed and their backend objects
 * destroyed at once, so that at most two per level exist at a time
 * whatever the size; every row is written.  Members are at leaves 0 ..
 * n-1, so node `idx` has a key iff the first leaf under it is < n. */
typedef struct build_ctx {
	tree_op *op;
	akm_station_gen *g;
	const int64_t *prs;
	const akm_key *encs;
	uint8_t *root_blob;
	size_t *root_len;
} build_ctx;

static CK_RV build_node(build_ctx *b, akm_tree_row *row, CK_OBJECT_HANDLE *h)
{
	tree_op *op = b->op;
	uint32_t cap = op->cap, idx = row->idx;
	memset(row, 0, sizeof *row);
	row->asr = op->asr;
	row->idx = idx;
	row->gen = 1;
	*h = 0;
	if (idx >= cap) {
		uint32_t i = idx - cap;
		memcpy(row->member, b->g->members[i], b->g->member_lens[i]);
		row->member_len = b->g->member_lens[i];
		row->pr = b->prs[i];
		CK_RV rv = akm_backend_key_unwrap(op->r->be, AKM_BACKEND_KEY_CIPHER, b->encs[i].wrapped,
		                                  b->encs[i].wrapped_len, h);
		return backend_answer(op->r, rv, "unwrapping a member's PR key");
	}
	CK_RV rv = fresh(op, row, b->root_blob, b->root_len, h);
	for (uint32_t c = 2 * idx; rv == CKR_OK && c <= 2 * idx + 1; c++) {
		uint32_t first = c;
		while (first < cap)
			first *= 2;
		if (first - cap >= b->g->nmembers)
			continue; /* no member below: no key */
		akm_tree_row child;
		CK_OBJECT_HANDLE hc = 0;
		child.idx = c;
		if ((rv = build_node(b, &child, &hc)) == CKR_OK && (rv = edge(op, &child, hc, *h, 1)) == CKR_OK)
			rv = akm_store_tree_put(op->r->reg, &child);
		drop(op, &hc);
	}
	if (rv != CKR_OK)
		drop(op, h);
	return rv;
}

static CK_RV build(tree_op *op, akm_station_gen *g, const int64_t *prs, const akm_key *encs, uint8_t *root_blob,
                   size_t *root_len)
{
	build_ctx b = {op, g, prs, encs, root_blob, root_len};
	akm_tree_row root;
	CK_OBJECT_HANDLE h = 0;
	root.idx = 1;
	CK_RV rv = build_node(&b, &root, &h);
	if (rv == CKR_OK)
		rv = akm_store_tree_put(op->r->reg, &root);
	drop(op, &h);
	return rv;
}

CK_RV akm_station_create(akm_relationships *r, akm_station_gen *g, int64_t *key_id)
{
	akm_relationship *rel = &g->spec.rel;
	uint32_t cap = g->capacity;
	uint8_t depth = 0;
	while ((1UL << depth) < cap)
		depth++;
	int64_t *prs = calloc(g->nmembers, sizeof *prs);
	akm_key *encs = calloc(g->nmembers, sizeof *encs);
	uint8_t state[STATE_MAX];
	if (prs == NULL || encs == NULL) {
		free(prs);
		free(encs);
		return CKR_HOST_MEMORY;
	}
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	/* Every member's PR, in the transaction that makes the tree. */
	for (size_t i = 0; i < g->nmembers && rv == CKR_OK; i++)
		rv = member_pr(r, g->members[i], g->member_lens[i], &prs[i], &encs[i]);
	if (rv != CKR_OK)
		goto undo;
	if (rel->rid_len == 0) {
		rel->rid_len = 16;
		if ((rv = akm_backend_random(r->be, rel->rid, rel->rid_len)) != CKR_OK)
			goto undo;
	}
	akm_relationship_spec *s = &g->spec;
	if (s->label_len == 0) {
		s->label_len = (size_t)snprintf((char *)s->label, sizeof s->label, "akm:");
		size_t hex = rel->rid_len > 30 ? 30 : rel->rid_len; /* within AKM_ASR_LABEL_MAX */
		akm_hex_encode(rel->rid, hex, (char *)s->label + s->label_len);
		s->label_len += 2 * hex;
	}
	akm_tree_state st;
	memset(&st, 0, sizeof st);
	st.depth = depth;
	st.policy = g->policy;
	st.gen_start = (uint64_t)time(NULL);
	st.members = (uint32_t)g->nmembers;
	akm_asr_member_hash_ctx h;
	akm_asr_member_hash_init(&h);
	for (size_t i = 0; i < g->nmembers; i++)
		akm_asr_member_hash_add(&h, (uint32_t)i, g->members[i], g->member_lens[i]);
	akm_asr_member_hash_final(&h, st.member_hash);
	size_t state_len;
	if ((rv = state_encode(&st, state, sizeof state, &state_len)) != CKR_OK)
		goto undo;
	rel->kind = CKV_AKM_KIND_OPERATIONAL;
	rel->epoch = (CK_ULONG)1 << 32;
	free(rel->members);
	rel->members = NULL;
	rel->members_len = 0;
	rel->created = rel->changed = (int64_t)time(NULL);
	char detail[96];
	snprintf(detail, sizeof detail, "members %zu capacity %u generation 1", g->nmembers, cap);
	/* The relationship row with the state, then its tree. */
	rel->members = state;
	rel->members_len = state_len;
	rv = akm_event_insert_created(r, rel, AKM_EVENT_ASR_CREATE, detail);
	rel->members = NULL;
	rel->members_len = 0;
	if (rv != CKR_OK)
		goto undo;
	akm_key key;
	memset(&key, 0, sizeof key);
	key.relationship = rel->id;
	key.purpose = CKV_AKM_PURPOSE_ENCRYPT;
	key.key_type = CKK_AES;
	key.value_len = AKM_BACKEND_KEY_BYTES;
	memcpy(key.ckid, rel->rid, rel->rid_len);
	key.ckid[rel->rid_len] = (uint8_t)CKV_AKM_PURPOSE_ENCRYPT;
	key.ckid_len = rel->rid_len + 1;
	memcpy(key.label, s->label, s->label_len);
	memcpy(key.label + s->label_len, "/enc", AKM_LABEL_SUFFIX_LEN);
	key.label_len = s->label_len + AKM_LABEL_SUFFIX_LEN;
	tree_op op = {r, rel->id, cap, &key};
	size_t root_len = 0;
	if ((rv = build(&op, g, prs, encs, key.wrapped, &root_len)) != CKR_OK)
		goto undo;
	key.wrapped_len = root_len;
	if ((rv = akm_store_insert_key(r->reg, &key)) != CKR_OK)
		goto undo;
	if ((rv = akm_change_commit(r)) == CKR_OK)
		*key_id = key.id;
	goto out;
undo:
	akm_store_rollback(r->reg);
	rv = akm_answer(r, rv);
out:
	akm_mutex_unlock(r->lock);
	free(prs);
	free(encs);
	return rv;
}

/* ---- reading an ASR ------------------------------------------------------------------ */

/* Lock held: the ASR of key `key_id`, active and a tree ASR's. */
static CK_RV asr_read(akm_relationships *r, int64_t key_id, akm_key_record *k, akm_tree_state *st)
{
	CK_RV rv = akm_store_get_key(r->reg, key_id, &k->key, &k->rel);
	if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_USER_NOT_LOGGED_IN)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	if (!akm_relationship_is_tree(&k->rel) || k->rel.state != CKV_AKM_STATE_ACTIVE)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (akm_tree_state_parse(&k->rel, st) != CKR_OK)
		return TAMPERED(r, "relationship row %lld: not an ASR state the station writes", (long long)k->rel.id);
	if (gen_of(&k->rel) < 1 || (k->rel.epoch & 0xffffffffUL) != 0)
		return TAMPERED(r, "relationship row %lld: an epoch the station does not write", (long long)k->rel.id);
	return CKR_OK;
}

/* The output of a length query or a copy. */
static CK_RV give(const uint8_t *buf, size_t len, uint8_t *out, CK_ULONG *out_len)
{
	if (out == NULL) {
		*out_len = (CK_ULONG)len;
		return CKR_OK;
	}
	if (*out_len < len) {
		*out_len = (CK_ULONG)len;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(out, buf, len);
	*out_len = (CK_ULONG)len;
	return CKR_OK;
}

/* The last package's reads: a station making every member's package in
 * leaf order reads again only the part of each path that differs from the
 * one before (the key tree's rows near the root are shared), and not the
 * ASR's rows at all.  Valid while the store's change mark and file version
 * stay where they were when they were read (any commit moves one: by this
 * process or another through a module, or by a program editing the file). */
struct akm_asr_pkg {
	bool valid;
	uint64_t mark, version;
	int64_t key_id;
	akm_key_record k;
	akm_tree_state st;
	uint32_t idx;
	akm_tree_row path[32];
};

void akm_station_pkg_forget(akm_relationships *r)
{
	if (r->pkg == NULL)
		return;
	akm_key_record_clear(&r->pkg->k);
	free(r->pkg);
	r->pkg = NULL;
}

/* Reads into c (valid on CKR_OK) the ASR of key_id and the path of leaf
 * node idx; only what differs from c's last path when c is valid for
 * this ASR at this change mark. */
static CK_RV package_reads(akm_relationships *r, struct akm_asr_pkg *c, int64_t key_id, uint64_t mark,
                           uint64_t version, const uint8_t *member, size_t len, uint32_t *idx_out)
{
	bool warm = c->valid && c->key_id == key_id && c->mark == mark && c->version == version;
	CK_RV rv;
	if (!warm) {
		c->valid = false;
		akm_key_record_clear(&c->k);
		memset(&c->k, 0, sizeof c->k);
		if ((rv = asr_read(r, key_id, &c->k, &c->st)) != CKR_OK)
			return rv;
	}
	uint32_t cap = 1U << c->st.depth, idx;
	if ((rv = akm_store_tree_find_member(r->reg, c->k.rel.id, member, len, &idx)) == CKR_OBJECT_HANDLE_INVALID)
		return CKR_AKM_OTHER_MEMBER;
	if (rv != CKR_OK)
		return rv;
	if (idx < cap || idx >= 2 * cap)
		return TAMPERED(r, "tree: member at node %u, not a leaf", idx);
	/* Levels below the first ancestor shared with the last path. */
	unsigned fresh = c->st.depth + 1;
	if (warm) {
		fresh = 0;
		while (fresh <= c->st.depth && (idx >> fresh) != (c->idx >> fresh))
			fresh++;
	}
	if (fresh > c->st.depth) {
		bool has[32];
		if ((rv = akm_store_tree_path(r->reg, c->k.rel.id, idx, c->path, has)) != CKR_OK)
			return rv;
		for (unsigned i = 0; i <= c->st.depth; i++)
			if (!has[i])
				return TAMPERED(r, "tree of relationship row %lld: node %u is missing", (long long)c->k.rel.id,
				                idx >> i);
	} else {
		for (unsigned i = 0; i < fresh; i++) {
			rv = akm_store_tree_get(r->reg, c->k.rel.id, idx >> i, &c->path[i]);
			if (rv == CKR_OBJECT_HANDLE_INVALID)
				return TAMPERED(r, "tree of relationship row %lld: node %u is missing", (long long)c->k.rel.id,
				                idx >> i);
			if (rv != CKR_OK)
				return rv;
		}
	}
	/* Every node of the path, each edge wrapping its parent's key of the
	 * generation the parent row has, the root's of this generation. */
	for (unsigned i = 0; i < c->st.depth; i++)
		if (c->path[i].up_len != AKM_ASR_EDGE_LEN || c->path[i].up_gen != c->path[i + 1].gen)
			return TAMPERED(r, "tree row %lld: its edge is not of its parent's key", (long long)c->path[i].id);
	if (c->path[c->st.depth].gen != gen_of(&c->k.rel))
		return TAMPERED(r, "tree row %lld: the root is not of generation %u", (long long)c->path[c->st.depth].id,
		                gen_of(&c->k.rel));
	c->idx = idx;
	c->key_id = key_id;
	c->mark = mark;
	c->version = version;
	c->valid = true;
	*idx_out = idx;
	return CKR_OK;
}

static CK_RV package_inlock(akm_relationships *r, int64_t key_id, const uint8_t *member, size_t len,
                            akm_asr_package *p)
{
	if (r->pkg == NULL && (r->pkg = calloc(1, sizeof *r->pkg)) == NULL)
		return CKR_HOST_MEMORY;
	struct akm_asr_pkg *c = r->pkg;
	uint64_t mark, version;
	uint32_t idx = 0;
	CK_RV rv = akm_store_change_mark(r->reg, &mark);
	if (rv == CKR_OK)
		rv = akm_store_file_version(r->reg, &version);
	if (rv == CKR_OK)
		rv = package_reads(r, c, key_id, mark, version, member, len, &idx);
	if (rv != CKR_OK) {
		c->valid = false;
		return rv;
	}
	akm_relationship pr;
	if ((rv = leaf_pr(r, &c->path[0], NULL, &pr)) != CKR_OK) {
		c->valid = false;
		return rv;
	}
	uint32_t cap = 1U << c->st.depth;
	memset(p, 0, sizeof *p);
	head_from(&c->k.rel, &c->k.key, &c->st, &p->head);
	memcpy(p->member_id, member, len);
	p->member_id_len = len;
	memcpy(p->pr_id, pr.rid, pr.rid_len);
	p->pr_id_len = pr.rid_len;
	akm_relationship_clear(&pr);
	p->leaf = idx - cap;
	for (unsigned i = 0; i < c->st.depth; i++) {
		p->edges[i].child = idx >> i;
		memcpy(p->edges[i].wrapped, c->path[i].up, AKM_ASR_EDGE_LEN);
	}
	return CKR_OK;
}

CK_RV akm_station_package(akm_relationships *r, int64_t key_id, const uint8_t *member, size_t len, uint8_t *out,
                          CK_ULONG *out_len)
{
	akm_asr_package p;
	uint8_t buf[2048];
	size_t blen = 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_USER_NOT_LOGGED_IN)
		rv = CKR_KEY_HANDLE_INVALID;
	/* One snapshot of every row read (another process's change in
	 * between would look like a broken path). */
	if (rv == CKR_OK && (rv = akm_store_snapshot(r->reg)) == CKR_OK) {
		rv = package_inlock(r, key_id, member, len, &p);
		akm_store_snapshot_end(r->reg);
		rv = akm_answer(r, rv);
	}
	if (rv == CKR_OK && akm_asr_package_encode(&p, buf, sizeof buf, &blen) != AKM_FMT_OK) {
		akm_log(AKM_LOG_ERROR, "ASR package: not encodable");
		rv = CKR_GENERAL_ERROR;
	}
	akm_mutex_unlock(r->lock);
	return rv == CKR_OK ? give(buf, blen, out, out_len) : rv;
}

/* ---- changes ------------------------------------------------------------------------- */

/* The path from node `from` (a leaf; its row `child`, alive or removed) up:
 * REMOVE and ADD with a new generation give each ancestor a fresh key
 * (REMOVE deletes those whose subtree is now empty) and recompute the
 * edges of its keyed children; ADD without one makes keys only for
 * ancestors that had none, up to the first that has one. */
static CK_RV refresh_path(tree_op *op, CK_ULONG mode, bool new_gen, uint32_t gen, akm_tree_row *child,
                          bool alive, CK_OBJECT_HANDLE hchild, uint8_t *root_blob, size_t *root_len,
                          bool *root_changed)
{
	akm_relationships *r = op->r;
	CK_RV rv = CKR_OK;
	akm_tree_row cur = *child, node, sib;
	CK_OBJECT_HANDLE hc = hchild, hn = 0, hs = 0;
	*root_changed = false;
	for (uint32_t n = cur.idx >> 1; n >= 1 && rv == CKR_OK; n >>= 1) {
		uint32_t s = cur.idx ^ 1;
		CK_RV got = akm_store_tree_get(r->reg, op->asr, n, &node);
		CK_RV sgot = akm_store_tree_get(r->reg, op->asr, s, &sib);
		if ((got != CKR_OK && got != CKR_OBJECT_HANDLE_INVALID) ||
		    (sgot != CKR_OK && sgot != CKR_OBJECT_HANDLE_INVALID)) {
			rv = got != CKR_OK && got != CKR_OBJECT_HANDLE_INVALID ? got : sgot;
			break;
		}
		bool have_n = got == CKR_OK, have_s = sgot == CKR_OK;
		if (!have_n && (mode == CKV_AKM_ASR_REMOVE || n == 1 || have_s)) {
			rv = TAMPERED(r, "tree of relationship row %lld: node %u is missing", (long long)op->asr, n);
			break;
		}
		if (have_n && have_s && sib.up_gen != node.gen) {
			rv = TAMPERED(r, "tree row %lld: its edge is not of its parent's key", (long long)sib.id);
			break;
		}
		if (!alive && !have_s) { /* REMOVE: the subtree is empty now */
			if (n == 1) {
				rv = TAMPERED(r, "tree of relationship row %lld: no member left under the root", (long long)op->asr);
				break;
			}
			if ((rv = akm_store_tree_delete(r->reg, op->asr, n)) != CKR_OK)
				break;
			cur = node;
			continue;
		}
		if (mode == CKV_AKM_ASR_ADD && !new_gen && have_n) {
			/* The first ancestor that had a key keeps it: the new path
			 * joins there. */
			if ((rv = node_key(op, &node, &hn)) == CKR_OK && (rv = edge(op, &cur, hc, hn, node.gen)) == CKR_OK)
				rv = akm_store_tree_put(r->reg, &cur);
			drop(op, &hn);
			drop(op, &hc);
			return rv;
		}
		if (!have_n) {
			memset(&node, 0, sizeof node);
			node.asr = op->asr;
			node.idx = n;
		}
		node.gen = gen;
		if ((rv = fresh(op, &node, root_blob, root_len, &hn)) != CKR_OK)
			break;
		if (n == 1)
			*root_changed = true;
		if (alive && (rv = edge(op, &cur, hc, hn, gen)) == CKR_OK)
			rv = akm_store_tree_put(r->reg, &cur);
		if (rv == CKR_OK && have_s && (rv = node_key(op, &sib, &hs)) == CKR_OK &&
		    (rv = edge(op, &sib, hs, hn, gen)) == CKR_OK)
			rv = akm_store_tree_put(r->reg, &sib);
		drop(op, &hs);
		drop(op, &hc);
		hc = hn;
		hn = 0;
		cur = node;
		alive = true;
		if (rv == CKR_OK && n == 1)
			rv = akm_store_tree_put(r->reg, &cur);
	}
	drop(op, &hc);
	drop(op, &hn);
	return rv;
}

/* REKEY: a fresh root key; its children's edges. */
static CK_RV rekey_root(tree_op *op, uint32_t gen, uint8_t *root_blob, size_t *root_len)
{
	akm_relationships *r = op->r;
	akm_tree_row root, c;
	CK_OBJECT_HANDLE hr = 0, hc = 0;
	CK_RV rv = akm_store_tree_get(r->reg, op->asr, 1, &root);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = TAMPERED(r, "tree of relationship row %lld: the root is missing", (long long)op->asr);
	if (rv != CKR_OK)
		return rv;
	root.gen = gen;
	if ((rv = fresh(op, &root, root_blob, root_len, &hr)) != CKR_OK)
		return rv;
	for (uint32_t i = 2; i <= 3 && rv == CKR_OK; i++) {
		CK_RV got = akm_store_tree_get(r->reg, op->asr, i, &c);
		if (got == CKR_OBJECT_HANDLE_INVALID)
			continue;
		if ((rv = got) == CKR_OK && (rv = node_key(op, &c, &hc)) == CKR_OK && (rv = edge(op, &c, hc, hr, gen)) == CKR_OK)
			rv = akm_store_tree_put(r->reg, &c);
		drop(op, &hc);
	}
	if (rv == CKR_OK)
		rv = akm_store_tree_put(r->reg, &root);
	drop(op, &hr);
	return rv;
}

/* The first free leaf (no row), or cap when there is none. */
static CK_RV free_leaf(akm_relationships *r, int64_t asr, uint32_t cap, uint32_t *leaf)
{
	akm_tree_row *rows = malloc(256 * sizeof *rows);
	if (rows == NULL)
		return CKR_HOST_MEMORY;
	uint32_t after = cap - 1, next = cap;
	CK_RV rv;
	for (;;) {
		size_t n = 0;
		if ((rv = akm_store_tree_scan(r->reg, asr, after, rows, 256, &n)) != CKR_OK)
			break;
		size_t i = 0;
		while (i < n && rows[i].idx == next) {
			next++;
			i++;
		}
		if (i < n || n < 256)
			break;
		after = rows[n - 1].idx;
	}
	free(rows);
	*leaf = next < 2 * cap ? next - cap : cap;
	return rv;
}

static CK_RV update_inlock(akm_relationships *r, int64_t key_id, CK_ULONG op_kind, const uint8_t *member,
                           size_t len)
{
	akm_key_record k;
	akm_tree_state st;
	memset(&k, 0, sizeof k);
	CK_RV rv = asr_read(r, key_id, &k, &st);
	if (rv != CKR_OK)
		goto out;
	uint32_t cap = 1U << st.depth, gen = gen_of(&k.rel), idx = 0;
	bool new_gen = op_kind != CKV_AKM_ASR_ADD || st.policy.join_rekeys;
	uint32_t ngen = new_gen ? gen + 1 : gen;
	if (new_gen && gen == UINT32_MAX) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED; /* no generation after the last */
		goto out;
	}
	tree_op op = {r, k.rel.id, cap, &k.key};
	uint8_t root_blob[AKM_WRAPPED_MAX];
	size_t root_len = 0;
	bool root_changed = false;
	char who[2 * AKM_ID_MAX + 1] = "";
	akm_event_kind ev = AKM_EVENT_ASR_REKEY;
	if (op_kind == CKV_AKM_ASR_REKEY) {
		if ((rv = rekey_root(&op, ngen, root_blob, &root_len)) != CKR_OK)
			goto out;
		root_changed = true;
		st.leaf = 0;
	} else {
		id_text(member, len, who, sizeof who);
		rv = akm_store_tree_find_member(r->reg, k.rel.id, member, len, &idx);
		if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID)
			goto out;
		bool is_member = rv == CKR_OK;
		rv = CKR_OK;
		akm_tree_row leaf;
		CK_OBJECT_HANDLE hl = 0;
		memset(&leaf, 0, sizeof leaf);
		if (op_kind == CKV_AKM_ASR_REMOVE) {
			ev = AKM_EVENT_ASR_REMOVE;
			if (!is_member) {
				rv = CKR_AKM_OTHER_MEMBER;
				goto out;
			}
			if (st.members <= 1) {
				rv = CKR_MECHANISM_PARAM_INVALID; /* the last member: destroy the ASR instead */
				goto out;
			}
			if (idx < cap || idx >= 2 * cap) {
				rv = TAMPERED(r, "tree: member at node %u, not a leaf", idx);
				goto out;
			}
			if ((rv = akm_store_tree_get(r->reg, k.rel.id, idx, &leaf)) != CKR_OK ||
			    (rv = akm_store_tree_delete(r->reg, k.rel.id, idx)) != CKR_OK)
				goto out;
			st.members--;
		} else {
			ev = AKM_EVENT_ASR_ADD;
			uint32_t free_at;
			akm_key enc;
			int64_t pr;
			if (is_member) {
				rv = CKR_MECHANISM_PARAM_INVALID; /* a member already */
				goto out;
			}
			if ((rv = free_leaf(r, k.rel.id, cap, &free_at)) != CKR_OK)
				goto out;
			if (free_at >= cap) {
				rv = CKR_MECHANISM_PARAM_INVALID; /* no free leaf */
				goto out;
			}
			if ((rv = member_pr(r, member, len, &pr, &enc)) != CKR_OK)
				goto out;
			idx = cap + free_at;
			leaf.asr = k.rel.id;
			leaf.idx = idx;
			leaf.gen = ngen;
			memcpy(leaf.member, member, len);
			leaf.member_len = len;
			leaf.pr = pr;
			if ((rv = akm_backend_key_unwrap(r->be, AKM_BACKEND_KEY_CIPHER, enc.wrapped, enc.wrapped_len, &hl)) !=
			    CKR_OK) {
				rv = backend_answer(r, rv, "unwrapping a member's PR key");
				goto out;
			}
			st.members++;
		}
		rv = refresh_path(&op, op_kind, new_gen, ngen, &leaf, op_kind == CKV_AKM_ASR_ADD, hl, root_blob,
		                  &root_len, &root_changed);
		if (rv != CKR_OK)
			goto out;
		st.leaf = idx - cap;
		if ((rv = leaves_hash(r, k.rel.id, cap, &st)) != CKR_OK)
			goto out;
	}
	if (root_changed && (rv = akm_store_update_key_wrapped(r->reg, key_id, root_blob, root_len)) != CKR_OK)
		goto out;
	st.last_op = (uint8_t)op_kind;
	if (new_gen) {
		st.made_gen = 1;
		st.gen_start = (uint64_t)time(NULL);
		st.nremoved = 0;
		if (op_kind == CKV_AKM_ASR_REMOVE)
			st.removed[st.nremoved++] = st.leaf;
	} else {
		st.made_gen = 0;
		st.nremoved = 0;
	}
	uint8_t state[STATE_MAX];
	size_t state_len;
	if ((rv = state_encode(&st, state, sizeof state, &state_len)) != CKR_OK)
		goto out;
	char detail[128];
	if (op_kind == CKV_AKM_ASR_REKEY)
		snprintf(detail, sizeof detail, "generation %u", ngen);
	else
		snprintf(detail, sizeof detail, "member %s leaf %u generation %u", who, st.leaf, ngen);
	akm_relationship now = k.rel;
	uint8_t *stored = k.rel.members;
	now.members = state;
	now.members_len = state_len;
	now.epoch = (CK_ULONG)ngen << 32;
	now.changed = (int64_t)time(NULL);
	int64_t seq;
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	if ((rv = akm_event_append(r, ev, now.rid, now.rid_len, CKR_OK, detail)) == CKR_OK &&
	    (rv = akm_store_audit_head(r->reg, &seq, hash)) == CKR_OK) {
		now.audit = seq;
		rv = akm_store_update_relationship(r->reg, &now);
	}
	k.rel.members = stored;
out:
	akm_key_record_clear(&k);
	return rv;
}

CK_RV akm_station_update(akm_relationships *r, int64_t key_id, CK_ULONG op, const uint8_t *member, size_t len)
{
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_USER_NOT_LOGGED_IN)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK && (rv = akm_change_begin(r)) == CKR_OK) {
		if ((rv = update_inlock(r, key_id, op, member, len)) == CKR_OK) {
			rv = akm_change_commit(r);
		} else {
			akm_store_rollback(r->reg);
			rv = akm_answer(r, rv);
		}
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- the rekey message ------------------------------------------------------------ */

static CK_RV rekey_inlock(akm_relationships *r, int64_t key_id, akm_asr_rekey *m)
{
	akm_key_record k;
	akm_tree_state st;
	memset(&k, 0, sizeof k);
	CK_RV rv = asr_read(r, key_id, &k, &st);
	if (rv != CKR_OK)
		goto out;
	uint32_t cap = 1U << st.depth, gen = gen_of(&k.rel);
	if (gen < 2 || !st.made_gen) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED; /* this generation has no message */
		goto out;
	}
	memset(m, 0, sizeof *m);
	head_from(&k.rel, &k.key, &st, &m->head);
	m->from_gen = gen - 1;
	m->nremoved = st.nremoved;
	memcpy(m->removed, st.removed, sizeof m->removed);
	/* The nodes the change gave new keys are on the path of its leaf (the
	 * root alone for REKEY): every edge whose parent's key is of this
	 * generation, children descending. */
	uint32_t from = st.last_op == CKV_AKM_ASR_REKEY ? 1 : (cap + st.leaf) >> 1;
	for (uint32_t n = from; n >= 1 && rv == CKR_OK; n >>= 1) {
		akm_tree_row node, c;
		CK_RV got = akm_store_tree_get(r->reg, k.rel.id, n, &node);
		if (got == CKR_OBJECT_HANDLE_INVALID)
			continue; /* deleted by the removal */
		if ((rv = got) != CKR_OK || node.gen != gen)
			continue;
		for (uint32_t ci = 2 * n + 1; ci >= 2 * n && rv == CKR_OK; ci--) {
			if ((got = akm_store_tree_get(r->reg, k.rel.id, ci, &c)) == CKR_OBJECT_HANDLE_INVALID)
				continue;
			if ((rv = got) != CKR_OK)
				break;
			if (c.up_gen != gen || c.up_len != AKM_ASR_EDGE_LEN) {
				rv = TAMPERED(r, "tree row %lld: its edge is not of its parent's key", (long long)c.id);
				break;
			}
			if (m->nedges == AKM_ASR_EDGES_MAX) {
				rv = TAMPERED(r, "tree of relationship row %lld: too many new edges", (long long)k.rel.id);
				break;
			}
			m->edges[m->nedges].child = ci;
			memcpy(m->edges[m->nedges].wrapped, c.up, AKM_ASR_EDGE_LEN);
			m->nedges++;
		}
	}
	if (rv == CKR_OK && m->nedges == 0)
		rv = TAMPERED(r, "tree of relationship row %lld: no edge of generation %u", (long long)k.rel.id, gen);
out:
	akm_key_record_clear(&k);
	return rv;
}

CK_RV akm_station_rekey_message(akm_relationships *r, int64_t key_id, uint8_t *out, CK_ULONG *out_len)
{
	akm_asr_rekey *m = malloc(sizeof *m);
	uint8_t buf[4096];
	size_t blen = 0;
	if (m == NULL)
		return CKR_HOST_MEMORY;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_USER_NOT_LOGGED_IN)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK && (rv = akm_store_snapshot(r->reg)) == CKR_OK) {
		rv = rekey_inlock(r, key_id, m);
		akm_store_snapshot_end(r->reg);
		rv = akm_answer(r, rv);
	}
	if (rv == CKR_OK && akm_asr_rekey_encode(m, buf, sizeof buf, &blen) != AKM_FMT_OK) {
		akm_log(AKM_LOG_ERROR, "ASR rekey message: not encodable");
		rv = CKR_GENERAL_ERROR;
	}
	akm_mutex_unlock(r->lock);
	free(m);
	return rv == CKR_OK ? give(buf, blen, out, out_len) : rv;
}

/* ---- CKA_AKM_MEMBERS --------------------------------------------------------------- */

CK_RV akm_station_members(akm_relationships *r, int64_t asr, uint8_t **out, size_t *len)
{
	akm_tree_row *rows = malloc(256 * sizeof *rows);
	uint8_t *buf = NULL;
	size_t used = 0, cap = 0;
	*out = NULL;
	*len = 0;
	if (rows == NULL)
		return CKR_HOST_MEMORY;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK && (rv = akm_store_snapshot(r->reg)) == CKR_OK) {
		akm_relationship rel;
		akm_tree_state st;
		if ((rv = akm_store_get_relationship(r->reg, asr, &rel)) == CKR_OK) {
			rv = akm_tree_state_parse(&rel, &st);
			akm_relationship_clear(&rel);
		}
		uint32_t after = rv == CKR_OK ? (1U << st.depth) - 1 : 0, count = 0;
		while (rv == CKR_OK) {
			size_t n = 0;
			if ((rv = akm_store_tree_scan(r->reg, asr, after, rows, 256, &n)) != CKR_OK)
				break;
			for (size_t i = 0; i < n && rv == CKR_OK; i++) {
				if (used + 1 + rows[i].member_len > cap) {
					size_t ncap = cap ? 2 * cap : 1024;
					uint8_t *g = realloc(buf, ncap);
					if (g == NULL) {
						rv = CKR_HOST_MEMORY;
						break;
					}
					buf = g;
					cap = ncap;
				}
				if (rows[i].member_len == 0 || rows[i].idx >= 2U << st.depth) {
					rv = TAMPERED(r, "tree row %lld: not a leaf", (long long)rows[i].id);
					break;
				}
				buf[used++] = (uint8_t)rows[i].member_len;
				count++;
				memcpy(buf + used, rows[i].member, rows[i].member_len);
				used += rows[i].member_len;
			}
			if (n < 256)
				break;
			after = rows[n - 1].idx;
		}
		/* Every leaf a member's, as many as the (sealed, fresh) row says:
		 * a leaf moved to another ASR or deleted is found here too. */
		if (rv == CKR_OK && count != st.members)
			rv = TAMPERED(r, "ASR: %u leaves, %u members recorded", count, st.members);
		akm_store_snapshot_end(r->reg);
		rv = akm_answer(r, rv);
	}
	akm_mutex_unlock(r->lock);
	free(rows);
	if (rv != CKR_OK) {
		free(buf);
		return rv;
	}
	*out = buf;
	*len = used;
	return CKR_OK;
}

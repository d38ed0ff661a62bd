/* Relationships: creation, reading, changes and their rules, deletion,
 * search (relationships.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "akm/asr_member.h"
#include "akm/internal.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "lib/hex.h"

/* ---- the rules ------------------------------------------------------------- */

bool akm_state_valid(CK_ULONG s)
{
	return s >= CKV_AKM_STATE_PENDING && s <= CKV_AKM_STATE_REVOKED;
}

bool akm_state_change_allowed(CK_ULONG from, CK_ULONG to)
{
	if (!akm_state_valid(to))
		return false;
	if (from == to)
		return true;
	switch (from) {
	case CKV_AKM_STATE_PENDING: return to == CKV_AKM_STATE_ACTIVE || to == CKV_AKM_STATE_REVOKED;
	case CKV_AKM_STATE_ACTIVE: return to == CKV_AKM_STATE_SUSPENDED || to == CKV_AKM_STATE_REVOKED;
	case CKV_AKM_STATE_SUSPENDED: return to == CKV_AKM_STATE_ACTIVE || to == CKV_AKM_STATE_REVOKED;
	default: return false;
	}
}

bool akm_status_change_allowed(CK_ULONG from, CK_ULONG to)
{
	return to >= from && to <= CKV_AKM_STATUS_VERIFIED;
}

bool akm_sequence_change_allowed(CK_ULONG from, CK_ULONG to)
{
	return from < (CK_ULONG)-1 && to == from + 1; /* higher, never wrapping to 0 */
}

bool akm_checkin_change_allowed(CK_ULONG from, CK_ULONG to)
{
	return to > from; /* strictly: a message accepted once is never accepted again */
}

CK_RV akm_node_key_change(const akm_relationship *rel, const uint8_t *point, size_t len)
{
	if (len != AKM_NODE_KEY_LEN || point == NULL || point[0] != 0x04)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (rel->node_key_len != 0 && memcmp(rel->node_key, point, AKM_NODE_KEY_LEN) != 0)
		return CKR_ATTRIBUTE_READ_ONLY; /* set once */
	return CKR_OK;
}

bool akm_members_valid(const uint8_t *p, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n;) {
		size_t len = p[i];
		if (len < 1 || len > AKM_ID_MAX || i + 1 + len > n)
			return false;
		for (size_t j = 0; j < i;) { /* earlier members */
			size_t l2 = p[j];
			if (l2 == len && memcmp(p + j + 1, p + i + 1, len) == 0)
				return false;
			j += 1 + l2;
		}
		i += 1 + len;
		count++;
	}
	return count >= 2 && count <= AKM_MEMBERS_MAX;
}

/* ---- creation ------------------------------------------------------------- */

/* One relationship of a creation: its keys made, then stored. */
typedef struct pending_rel {
	akm_relationship_spec *spec;
	akm_key enc, mac;
	CK_OBJECT_HANDLE benc, bmac; /* kept backend copies, for the cache */
} pending_rel;

static void key_names(akm_key *key, const akm_relationship_spec *spec)
{
	const char *suffix = key->purpose == CKV_AKM_PURPOSE_ENCRYPT ? "/enc" : "/mac";
	memcpy(key->ckid, spec->rel.rid, spec->rel.rid_len);
	key->ckid[spec->rel.rid_len] = (uint8_t)key->purpose;
	key->ckid_len = spec->rel.rid_len + 1;
	memcpy(key->label, spec->label, spec->label_len);
	memcpy(key->label + spec->label_len, suffix, AKM_LABEL_SUFFIX_LEN);
	key->label_len = spec->label_len + AKM_LABEL_SUFFIX_LEN;
}

/* Generates one credential in the backend, wrapped under the KEK. */
static CK_RV make_key(akm_relationships *r, CK_ULONG purpose, akm_key *key, CK_OBJECT_HANDLE *kept, bool keep)
{
	size_t wlen = sizeof key->wrapped;
	CK_RV rv = akm_backend_key_generate(r->be, akm_key_kind(purpose), keep, key->wrapped, &wlen, kept);
	if (rv != CKR_OK)
		return rv;
	key->wrapped_len = wlen;
	key->purpose = purpose;
	key->key_type = purpose == CKV_AKM_PURPOSE_ENCRYPT ? CKK_AES : CKK_GENERIC_SECRET;
	key->value_len = AKM_BACKEND_KEY_BYTES;
	return CKR_OK;
}

/* Lock held: an ID, a label, and both keys made and wrapped (and kept in
 * the backend for the cache, with `keep`). */
static CK_RV pending_make(akm_relationships *r, pending_rel *p, bool keep)
{
	akm_relationship_spec *s = p->spec;
	CK_RV rv;
	if (s->rel.rid_len == 0) {
		s->rel.rid_len = 16;
		if ((rv = akm_backend_random(r->be, s->rel.rid, s->rel.rid_len)) != CKR_OK)
			return rv;
	}
	if (s->label_len == 0) {
		s->label_len = (size_t)snprintf((char *)s->label, sizeof s->label, "akm:");
		akm_hex_encode(s->rel.rid, s->rel.rid_len, (char *)s->label + s->label_len);
		s->label_len += 2 * s->rel.rid_len;
	}
	s->rel.created = s->rel.changed = (int64_t)time(NULL);
	if ((rv = make_key(r, CKV_AKM_PURPOSE_ENCRYPT, &p->enc, &p->benc, keep)) != CKR_OK)
		return rv;
	if ((rv = make_key(r, CKV_AKM_PURPOSE_MAC, &p->mac, &p->bmac, keep)) != CKR_OK)
		return rv;
	key_names(&p->enc, s);
	key_names(&p->mac, s);
	return CKR_OK;
}

/* The number of the audit record just appended. */
static CK_RV last_record(akm_relationships *r, int64_t *seq)
{
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	return akm_store_audit_head(r->reg, seq, hash);
}

/* Lock and transaction held: the relationship, its keys and its audit
 * record.  A duplicate ID is CKR_ATTRIBUTE_VALUE_INVALID. */
static CK_RV pending_store(akm_relationships *r, pending_rel *p)
{
	akm_relationship *rel = &p->spec->rel;
	CK_RV rv;
	if ((rv = akm_event_insert_created(r, rel, AKM_EVENT_CREATE,
	                                   rel->kind == CKV_AKM_KIND_PROVISIONING ? "provisioning" : "operational")) != CKR_OK)
		return rv;
	p->enc.relationship = p->mac.relationship = rel->id;
	if ((rv = akm_store_insert_key(r->reg, &p->enc)) != CKR_OK)
		return rv;
	return akm_store_insert_key(r->reg, &p->mac);
}

/* Keeps the fresh backend copies, when there are any: the first use costs
 * no unwrap. */
static void pending_keep(akm_relationships *r, pending_rel *p)
{
	const akm_relationship *rel = &p->spec->rel;
	if (p->benc == 0 || p->bmac == 0)
		return;
	if (akm_cache_put(&r->cache, p->enc.id, p->benc, p->enc.purpose, rel->state, rel->rid, rel->rid_len) != CKR_OK)
		akm_backend_destroy(r->be, p->benc);
	if (akm_cache_put(&r->cache, p->mac.id, p->bmac, p->mac.purpose, rel->state, rel->rid, rel->rid_len) != CKR_OK)
		akm_backend_destroy(r->be, p->bmac);
	p->benc = p->bmac = 0;
}

static void pending_discard(akm_relationships *r, pending_rel *p)
{
	if (p->benc != 0)
		akm_backend_destroy(r->be, p->benc);
	if (p->bmac != 0)
		akm_backend_destroy(r->be, p->bmac);
	p->benc = p->bmac = 0;
}

CK_RV akm_relationships_create(akm_relationships *r, akm_relationship_spec *specs, size_t n, int64_t *enc_ids)
{
	pending_rel *p = calloc(n ? n : 1, sizeof *p);
	size_t made = 0;
	if (p == NULL)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < n; i++)
		p[i].spec = &specs[i];
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK)
		goto out;
	/* A few new relationships are likely to be used at once; a bulk
	 * creation's would only churn the cache. */
	bool keep = n <= AKM_KEEP_CREATED_MAX;
	for (; made < n && rv == CKR_OK; made++)
		rv = pending_make(r, &p[made], keep);
	if (akm_backend_session_lost(rv))
		rv = CKR_DEVICE_ERROR; /* the module's own session, not the application's */
	if (rv != CKR_OK)
		goto out;
	/* One transaction: every relationship, its keys and its audit record
	 * are there together, or none of them. */
	if ((rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	for (size_t i = 0; i < n && rv == CKR_OK; i++)
		rv = pending_store(r, &p[i]);
	if (rv != CKR_OK) {
		akm_store_rollback(r->reg);
		rv = akm_answer(r, rv);
		goto out;
	}
	if ((rv = akm_change_commit(r)) != CKR_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enc_ids[i] = p[i].enc.id;
		pending_keep(r, &p[i]);
	}
out:
	for (size_t i = 0; i < made; i++)
		pending_discard(r, &p[i]);
	akm_mutex_unlock(r->lock);
	free(p);
	return rv;
}

/* ---- reading ---------------------------------------------------------------- */

void akm_key_record_clear(akm_key_record *k)
{
	akm_relationship_clear(&k->rel);
}

CK_RV akm_relationships_get(akm_relationships *r, int64_t key_id, akm_key_record *out)
{
	memset(out, 0, sizeof *out);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = akm_answer(r, akm_store_get_key(r->reg, key_id, &out->key, &out->rel));
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- reads ahead of a search ------------------------------------------------ */

void akm_ahead_forget(akm_relationships *r)
{
	for (size_t i = 0; i < r->ahead.n; i++)
		akm_key_record_clear(&r->ahead.rec[i]);
	r->ahead.n = r->ahead.next = 0;
}

void akm_relationships_prefetch(akm_relationships *r, const int64_t *ids, size_t n)
{
	uint64_t mark;
	akm_mutex_lock(r->lock);
	akm_ahead_forget(r);
	/* The mark before the rows: a commit between the two makes the rows
	 * newer than the mark, never older (they are then read again). */
	if (r->status == CKR_OK && akm_store_change_mark(r->reg, &mark) == CKR_OK &&
	    akm_store_snapshot(r->reg) == CKR_OK) {
		for (size_t i = 0; i < n && r->ahead.n < AKM_AHEAD_MAX; i++) {
			akm_key_record *k = &r->ahead.rec[r->ahead.n];
			/* A row that fails its checks is not kept: the read of it
			 * reports and records it. */
			if (akm_store_get_key(r->reg, ids[i], &k->key, &k->rel) == CKR_OK)
				r->ahead.id[r->ahead.n++] = ids[i];
		}
		akm_store_snapshot_end(r->reg);
		r->ahead.mark = mark;
		r->ahead.at_ms = akm_cache_now_ms();
	}
	akm_mutex_unlock(r->lock);
}

/* The record of key_id read ahead, copied into out, when it is still
 * valid (lock held): CKR_OK, CKR_HOST_MEMORY, or CKR_OBJECT_HANDLE_INVALID
 * when it is not there. */
static CK_RV ahead_get(akm_relationships *r, int64_t key_id, akm_key_record *out)
{
	uint64_t mark;
	if (r->ahead.n == 0)
		return CKR_OBJECT_HANDLE_INVALID;
	if (akm_store_change_mark(r->reg, &mark) != CKR_OK || mark != r->ahead.mark ||
	    akm_cache_now_ms() - r->ahead.at_ms >= AKM_CACHE_STATE_MS) {
		akm_ahead_forget(r);
		return CKR_OBJECT_HANDLE_INVALID;
	}
	/* Read in the order found, typically: from where the last one was. */
	for (size_t k = 0; k < r->ahead.n; k++) {
		size_t i = (r->ahead.next + k) % r->ahead.n;
		if (r->ahead.id[i] != key_id)
			continue;
		r->ahead.next = i;
		*out = r->ahead.rec[i];
		out->rel.members = NULL;
		if (out->rel.members_len > 0) {
			if ((out->rel.members = malloc(out->rel.members_len)) == NULL)
				return CKR_HOST_MEMORY;
			memcpy(out->rel.members, r->ahead.rec[i].rel.members, out->rel.members_len);
		}
		return CKR_OK;
	}
	return CKR_OBJECT_HANDLE_INVALID;
}

CK_RV akm_relationships_read(akm_relationships *r, int64_t key_id, akm_key_record *out)
{
	memset(out, 0, sizeof *out);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK && (rv = ahead_get(r, key_id, out)) == CKR_OBJECT_HANDLE_INVALID)
		rv = akm_answer(r, akm_store_get_key(r->reg, key_id, &out->key, &out->rel));
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- changes ---------------------------------------------------------------- */

/* Key ids of a relationship's credential set. */
static CK_RV relationship_keys(akm_relationships *r, const akm_relationship *rel, int64_t ids[2], size_t *n)
{
	akm_store_query q = {0};
	q.rid = rel->rid;
	q.rid_len = rel->rid_len;
	return akm_store_find(r->reg, &q, 0, ids, 2, n);
}

/* The change's rules against the stored row; `now` gets the new row. */
static CK_RV change_check(const akm_relationship *was, const akm_relationship_change *c, akm_relationship *now)
{
	CK_RV rv;
	if (c->set_state && !akm_state_change_allowed(was->state, c->state))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (c->set_status && !akm_status_change_allowed(was->status, c->status))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (c->set_seq && !akm_sequence_change_allowed(was->seq, c->seq))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* Checked here, against the row read in this write transaction: of
	 * two processes raising it to the same value, the second sees the
	 * first's value and is refused. */
	if (c->set_checkin &&
	    (was->kind != CKV_AKM_KIND_PROVISIONING || !akm_checkin_change_allowed(was->checkin, c->checkin)))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (c->set_node_key && (rv = akm_node_key_change(was, c->node_key, sizeof c->node_key)) != CKR_OK)
		return rv;
	if (c->set_state)
		now->state = c->state;
	if (c->set_status)
		now->status = c->status;
	if (c->set_seq)
		now->seq = c->seq;
	if (c->set_checkin)
		now->checkin = c->checkin;
	if (c->set_node_key) {
		memcpy(now->node_key, c->node_key, AKM_NODE_KEY_LEN);
		now->node_key_len = AKM_NODE_KEY_LEN;
	}
	return CKR_OK;
}

/* Lock and transaction held: the change's rows and one audit record per
 * change. */
static CK_RV change_apply(akm_relationships *r, const akm_key_record *was, akm_relationship *now,
                          const akm_relationship_change *c)
{
	static const char *const states[] = {"", "pending", "active", "suspended", "revoked"};
	static const char *const statuses[] = {"", "created", "exported", "imported", "activated", "verified"};
	const akm_relationship *old = &was->rel;
	char detail[64];
	CK_RV rv = CKR_OK;
	/* The records first: the row names the last one as its last change. */
	bool key_changed = old->node_key_len != now->node_key_len;
	/* A checkin is a change of the row (sealed, with its record, so an
	 * older copy put back is found) but not of its state: `changed` stays. */
	bool state_changed = now->state != old->state || now->status != old->status || now->seq != old->seq ||
	                     key_changed;
	bool row_changed = state_changed || now->checkin != old->checkin;
	if (now->state != old->state) {
		snprintf(detail, sizeof detail, "state %s -> %s", states[old->state], states[now->state]);
		rv = akm_event_append(r, AKM_EVENT_SET_STATE, now->rid, now->rid_len, CKR_OK, detail);
	}
	if (rv == CKR_OK && now->status != old->status) {
		snprintf(detail, sizeof detail, "status %s -> %s", statuses[old->status], statuses[now->status]);
		rv = akm_event_append(r, AKM_EVENT_SET_STATUS, now->rid, now->rid_len, CKR_OK, detail);
	}
	if (rv == CKR_OK && now->seq != old->seq) {
		snprintf(detail, sizeof detail, "sequence %lu", now->seq);
		rv = akm_event_append(r, AKM_EVENT_SET_SEQUENCE, now->rid, now->rid_len, CKR_OK, detail);
	}
	if (rv == CKR_OK && key_changed)
		rv = akm_event_append(r, AKM_EVENT_SET_NODE_KEY, now->rid, now->rid_len, CKR_OK, NULL);
	if (rv == CKR_OK && now->checkin != old->checkin) {
		snprintf(detail, sizeof detail, "checkin %lu", now->checkin);
		rv = akm_event_append(r, AKM_EVENT_SET_CHECKIN, now->rid, now->rid_len, CKR_OK, detail);
	}
	if (rv == CKR_OK && row_changed) {
		if (state_changed)
			now->changed = (int64_t)time(NULL);
		if ((rv = last_record(r, &now->audit)) == CKR_OK)
			rv = akm_store_update_relationship(r->reg, now);
	}
	/* The label is the key row's (not a change of the relationship's). */
	if (rv == CKR_OK && c->set_label &&
	    (rv = akm_store_update_key_label(r->reg, was->key.id, c->label, c->label_len)) == CKR_OK)
		rv = akm_event_append(r, AKM_EVENT_SET_LABEL, now->rid, now->rid_len, CKR_OK, NULL);
	return rv;
}

CK_RV akm_relationships_update(akm_relationships *r, int64_t key_id, const akm_relationship_change *c)
{
	akm_key_record was;
	memset(&was, 0, sizeof was);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	/* Read, checked and written in one transaction: another process's
	 * change in between cannot slip past the rules. */
	if ((rv = akm_store_get_key(r->reg, key_id, &was.key, &was.rel)) != CKR_OK) {
		akm_store_rollback(r->reg);
		rv = akm_answer(r, rv);
		goto out;
	}
	akm_relationship now = was.rel; /* scalar fields; members stay was's */
	if ((rv = change_check(&was.rel, c, &now)) != CKR_OK || (rv = change_apply(r, &was, &now, c)) != CKR_OK) {
		akm_store_rollback(r->reg);
		rv = akm_answer(r, rv);
		goto out;
	}
	if ((rv = akm_change_commit(r)) == CKR_OK) {
		int64_t ids[2];
		size_t n = 0;
		if (relationship_keys(r, &now, ids, &n) == CKR_OK)
			for (size_t i = 0; i < n; i++)
				akm_cache_set_state(&r->cache, ids[i], now.state);
	}
out:
	akm_key_record_clear(&was);
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_relationships_destroy(akm_relationships *r, int64_t key_id)
{
	akm_key_record k;
	int64_t ids[2];
	size_t n = 0;
	memset(&k, 0, sizeof k);
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv != CKR_OK || (rv = akm_answer(r, akm_store_get_key(r->reg, key_id, &k.key, &k.rel))) != CKR_OK)
		goto out;
	if ((rv = relationship_keys(r, &k.rel, ids, &n)) != CKR_OK || (rv = akm_change_begin(r)) != CKR_OK)
		goto out;
	if ((rv = akm_store_delete_relationship(r->reg, k.rel.id)) != CKR_OK ||
	    (akm_asr_is_member(&k.rel) && (rv = akm_asr_state_delete(r, &k.rel)) != CKR_OK) ||
	    (rv = akm_event_append(r, AKM_EVENT_DESTROY, k.rel.rid, k.rel.rid_len, CKR_OK, NULL)) != CKR_OK) {
		akm_store_rollback(r->reg);
		rv = akm_answer(r, rv);
		goto out;
	}
	if ((rv = akm_change_commit(r)) == CKR_OK) {
		for (size_t i = 0; i < n; i++)
			akm_cache_forget(&r->cache, ids[i]);
		akm_asr_mem_forget(r, k.rel.id);
	}
out:
	akm_key_record_clear(&k);
	akm_mutex_unlock(r->lock);
	return rv;
}

/* ---- search ------------------------------------------------------------------- */

/* A search in row order (label == NULL: after the key id `after`) or in
 * label order (after the label, SIZE_MAX for from the first). */
static CK_RV find(akm_relationships *r, const akm_store_query *q, int64_t after, const uint8_t *label,
                  size_t label_len, int64_t *ids, size_t max, size_t *n, uint8_t *last, size_t *last_len)
{
	*n = 0;
	/* A key's CKA_ID is its relationship's ID and its purpose byte
	 * (key_names; asr.c and asr_member.c likewise): a search by it goes
	 * through the ID, which the registry indexes (there is no index on
	 * CKA_ID since schema version 6). */
	akm_store_query by_rid = *q;
	if (q->ckid != NULL && q->ckid_len > 0 && q->rid == NULL) {
		by_rid.rid = q->ckid;
		by_rid.rid_len = q->ckid_len - 1;
	}
	bool first = label != NULL ? label_len == SIZE_MAX : after == 0;
	akm_mutex_lock(r->lock);
	CK_RV rv = r->status;
	if (rv == CKR_OK)
		rv = label != NULL ? akm_store_find_by_label(r->reg, &by_rid, label, label_len, ids, max, n, last, last_len)
		                   : akm_store_find(r->reg, &by_rid, after, ids, max, n);
	/* Asking for a relationship nobody has is worth recording (not a
	 * search whose other filters matched nothing). */
	if (rv == CKR_OK && first && *n == 0 && q->rid != NULL) {
		akm_store_query only_rid = {0};
		int64_t any;
		size_t found = 0;
		only_rid.rid = q->rid;
		only_rid.rid_len = q->rid_len;
		if (akm_store_find(r->reg, &only_rid, 0, &any, 1, &found) == CKR_OK && found == 0)
			akm_event_record(r, AKM_EVENT_UNKNOWN_RELATIONSHIP, q->rid, q->rid_len, CKR_OBJECT_HANDLE_INVALID,
			                 NULL);
	}
	akm_mutex_unlock(r->lock);
	return rv;
}

CK_RV akm_relationships_find(akm_relationships *r, const akm_store_query *q, int64_t after, int64_t *ids,
                             size_t max, size_t *n)
{
	return find(r, q, after, NULL, 0, ids, max, n, NULL, NULL);
}

CK_RV akm_relationships_find_by_label(akm_relationships *r, const akm_store_query *q, const uint8_t *after,
                                      size_t after_len, int64_t *ids, size_t max, size_t *n, uint8_t *last,
                                      size_t *last_len)
{
	static const uint8_t none;
	return find(r, q, 0, after != NULL ? after : &none, after_len, ids, max, n, last, last_len);
}

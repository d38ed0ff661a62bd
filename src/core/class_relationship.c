/*
 * Relationship keys as token objects (docs/object-model.md §4): the
 * attribute table, templates turned into typed specs, changes and queries
 * for the akm layer, and the akm layer's records shown as attributes.
 */
#include <stdlib.h>
#include <string.h>

#include "akm/asr.h"
#include "akm/asr_member.h"
#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/template.h"

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static int64_t key_id_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_REGISTRY_HANDLE(h) ? (int64_t)(h - AKM_REGISTRY_HANDLE_BASE) : 0;
}

static CK_OBJECT_HANDLE handle_of(int64_t id)
{
	return AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)id;
}


/* ---- the attribute table ------------------------------------------------- */

/* One row per attribute a creating template may name: what it holds, for
 * which kind it is required or allowed, and whether C_SetAttributeValue may
 * change it. */
enum {
	P_BYTES = 1, P_ULONG = 2, P_BOOL = 4,
	P_CREATE = 8,          /* may be given at creation */
	P_REQUIRED_PR = 16,    /* required for a provisioning relationship */
	P_REQUIRED_OP = 32,    /* required for an operational relationship */
	P_ONLY_PR = 64, P_ONLY_OP = 128,
	P_MODIFIABLE = 256,
	P_FIXED = 512,         /* may be given at creation, but only with the value it always has */
};

typedef struct attr_rule {
	CK_ATTRIBUTE_TYPE type;
	unsigned flags;
	size_t min, max;       /* byte length, for P_BYTES */
	CK_ULONG fixed;        /* for P_FIXED */
} attr_rule;

static const attr_rule rules[] = {
	{CKA_CLASS, P_ULONG | P_FIXED, 0, 0, CKO_SECRET_KEY},
	{CKA_TOKEN, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_PRIVATE, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_SENSITIVE, P_BOOL | P_FIXED, 0, 0, CK_TRUE},
	{CKA_EXTRACTABLE, P_BOOL | P_FIXED, 0, 0, CK_FALSE},
	{CKA_LABEL, P_BYTES | P_CREATE | P_MODIFIABLE, 0, AKM_LABEL_MAX - AKM_LABEL_SUFFIX_LEN, 0},
	{CKA_AKM_KIND, P_ULONG | P_CREATE | P_REQUIRED_PR | P_REQUIRED_OP, 0, 0, 0},
	{CKA_AKM_RELATIONSHIP_ID, P_BYTES | P_CREATE, 1, AKM_ID_MAX, 0},
	{CKA_AKM_STATION_ID, P_BYTES | P_CREATE, 1, AKM_ID_MAX, 0},
	{CKA_AKM_PEER_NODE, P_BYTES | P_CREATE | P_REQUIRED_PR | P_ONLY_PR, 1, AKM_ID_MAX, 0},
	{CKA_AKM_HW_BINDING, P_BYTES | P_CREATE | P_REQUIRED_PR | P_ONLY_PR, 1, AKM_HW_MAX, 0},
	{CKA_AKM_MEMBERS, P_BYTES | P_CREATE | P_REQUIRED_OP | P_ONLY_OP, 4, AKM_MEMBERS_MAX * (AKM_ID_MAX + 1), 0},
	{CKA_AKM_STATE, P_ULONG | P_CREATE | P_MODIFIABLE, 0, 0, 0},
	{CKA_AKM_SITE, P_BYTES | P_CREATE, 0, AKM_SITE_MAX, 0},
	{CKA_AKM_NODE_KEY, P_BYTES | P_CREATE | P_ONLY_PR | P_MODIFIABLE, AKM_NODE_KEY_LEN, AKM_NODE_KEY_LEN, 0},
	{CKA_AKM_DELIVERY, P_ULONG | P_CREATE | P_ONLY_PR, 0, 0, 0}, /* fixed at creation */
	{CKA_AKM_STATUS, P_ULONG | P_MODIFIABLE, 0, 0, 0},
	{CKA_AKM_SEQUENCE, P_ULONG | P_MODIFIABLE, 0, 0, 0},
	{CKA_AKM_CHECKIN, P_ULONG | P_ONLY_PR | P_MODIFIABLE, 0, 0, 0}, /* raised by the activation service */
};

static const attr_rule *rule_for(CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (rules[i].type == type)
			return &rules[i];
	return NULL;
}

/* Attributes every relationship key has but nobody sets. */
static bool is_known_readonly(CK_ATTRIBUTE_TYPE type)
{
	static const CK_ATTRIBUTE_TYPE fixed[] = {
		CKA_AKM_EPOCH, CKA_AKM_KEY_PURPOSE, CKA_AKM_CREATED, CKA_AKM_CHANGED, CKA_ID,
		CKA_KEY_TYPE, CKA_VALUE, CKA_VALUE_LEN, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,
		CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER,
		CKA_LOCAL, CKA_KEY_GEN_MECHANISM, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
		CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_START_DATE, CKA_END_DATE,
		CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED,
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (fixed[i] == type)
			return true;
	return false;
}

static CK_RV value_ulong(const CK_ATTRIBUTE *a, CK_ULONG *v)
{
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(v, a->pValue, sizeof *v);
	return CKR_OK;
}

static void set_bytes(uint8_t *dst, size_t *dst_len, const CK_ATTRIBUTE *a)
{
	memcpy(dst, a->pValue, a->ulValueLen);
	*dst_len = a->ulValueLen;
}

/*
 * Checks a creating template against the table and fills `spec`.  Codes, in
 * the order they are checked (PKCS#11 v2.40 §4.1.3 and §5.7): an unknown
 * attribute CKR_ATTRIBUTE_TYPE_INVALID; one that cannot be set
 * CKR_ATTRIBUTE_READ_ONLY; a bad value CKR_ATTRIBUTE_VALUE_INVALID; an
 * attribute of the other kind CKR_TEMPLATE_INCONSISTENT; a missing required
 * one CKR_TEMPLATE_INCOMPLETE.
 */
static CK_RV spec_from_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_relationship_spec *spec, bool tree)
{
	akm_relationship *rel = &spec->rel;
	/* Pass 1: every attribute known and settable. */
	for (CK_ULONG i = 0; i < count; i++) {
		const attr_rule *rule = rule_for(tmpl[i].type);
		if (rule == NULL)
			return is_known_readonly(tmpl[i].type) ? CKR_ATTRIBUTE_READ_ONLY : CKR_ATTRIBUTE_TYPE_INVALID;
		if (!(rule->flags & (P_CREATE | P_FIXED)))
			return CKR_ATTRIBUTE_READ_ONLY; /* set later, by the station (CKA_AKM_STATUS, _SEQUENCE, _CHECKIN) */
	}
	/* Pass 2: values. */
	bool have_kind = false;
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		const attr_rule *rule = rule_for(a->type);
		CK_ULONG u = 0;
		if (rule->flags & P_BOOL) {
			if (a->pValue == NULL || a->ulValueLen != 1 || *(CK_BBOOL *)a->pValue != (CK_BBOOL)rule->fixed)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			continue;
		}
		if (rule->flags & P_ULONG) {
			if (value_ulong(a, &u) != CKR_OK)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			if ((rule->flags & P_FIXED) && u != rule->fixed)
				return CKR_ATTRIBUTE_VALUE_INVALID;
		} else if (a->ulValueLen < rule->min || a->ulValueLen > rule->max ||
		           (a->ulValueLen > 0 && a->pValue == NULL)) {
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		switch (a->type) {
		case CKA_AKM_KIND:
			if ((u != CKV_AKM_KIND_PROVISIONING && u != CKV_AKM_KIND_OPERATIONAL) ||
			    (tree && u != CKV_AKM_KIND_OPERATIONAL))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			rel->kind = u;
			have_kind = true;
			break;
		case CKA_AKM_STATE:
			if (u != CKV_AKM_STATE_PENDING && u != CKV_AKM_STATE_ACTIVE)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* a new relationship is not suspended or revoked */
			rel->state = u;
			break;
		case CKA_AKM_DELIVERY:
			if (u != CKV_AKM_DELIVERY_NODE_KEY && u != CKV_AKM_DELIVERY_PASSPHRASE)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			rel->delivery = u;
			break;
		case CKA_AKM_RELATIONSHIP_ID: set_bytes(rel->rid, &rel->rid_len, a); break;
		case CKA_AKM_STATION_ID: set_bytes(rel->station, &rel->station_len, a); break;
		case CKA_AKM_PEER_NODE: set_bytes(rel->peer, &rel->peer_len, a); break;
		case CKA_AKM_HW_BINDING: set_bytes(rel->hw, &rel->hw_len, a); break;
		case CKA_AKM_SITE: set_bytes(rel->site, &rel->site_len, a); break;
		case CKA_LABEL: set_bytes(spec->label, &spec->label_len, a); break;
		case CKA_AKM_MEMBERS:
			if (!akm_members_valid(a->pValue, a->ulValueLen))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			free(rel->members);
			rel->members = malloc(a->ulValueLen);
			if (rel->members == NULL)
				return CKR_HOST_MEMORY;
			set_bytes(rel->members, &rel->members_len, a);
			break;
		case CKA_AKM_NODE_KEY:
			if (((const uint8_t *)a->pValue)[0] != 0x04)
				return CKR_ATTRIBUTE_VALUE_INVALID; /* not an uncompressed point */
			set_bytes(rel->node_key, &rel->node_key_len, a);
			break;
		default:
			break;
		}
	}
	if (tree) {
		/* CKM_AKM_ASR_GEN: an operational ASR whose members are in the
		 * mechanism's parameter, its label in every package (at most
		 * AKM_ASR_LABEL_MAX printable ASCII characters), its station ID
		 * too. */
		for (CK_ULONG i = 0; i < count; i++)
			if (tmpl[i].type == CKA_AKM_MEMBERS || (rule_for(tmpl[i].type)->flags & P_ONLY_PR))
				return CKR_TEMPLATE_INCONSISTENT;
		if (spec->label_len > AKM_ASR_LABEL_MAX)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		for (size_t i = 0; i < spec->label_len; i++)
			if (spec->label[i] < 0x20 || spec->label[i] > 0x7e)
				return CKR_ATTRIBUTE_VALUE_INVALID;
		if (rel->station_len == 0)
			return CKR_TEMPLATE_INCOMPLETE;
		rel->kind = CKV_AKM_KIND_OPERATIONAL;
		return CKR_OK;
	}
	if (!have_kind)
		return CKR_TEMPLATE_INCOMPLETE;
	/* Pass 3: per kind. */
	unsigned only_other = rel->kind == CKV_AKM_KIND_PROVISIONING ? P_ONLY_OP : P_ONLY_PR;
	unsigned required = rel->kind == CKV_AKM_KIND_PROVISIONING ? P_REQUIRED_PR : P_REQUIRED_OP;
	for (CK_ULONG i = 0; i < count; i++)
		if (rule_for(tmpl[i].type)->flags & only_other)
			return CKR_TEMPLATE_INCONSISTENT;
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
		if ((rules[k].flags & required) && akm_template_find(tmpl, count, rules[k].type) == NULL)
			return CKR_TEMPLATE_INCOMPLETE;
	/* A provisioning relationship is delivered to its node's key unless
	 * its creator asked for a passphrase. */
	if (rel->kind == CKV_AKM_KIND_PROVISIONING && rel->delivery == 0)
		rel->delivery = CKV_AKM_DELIVERY_NODE_KEY;
	return CKR_OK;
}

CK_RV akm_relationship_generate(const akm_call *c, CK_ATTRIBUTE *const *tmpls, const CK_ULONG *counts,
                                CK_ULONG n, CK_OBJECT_HANDLE *handles)
{
	akm_relationships *rels = akm_core_relationships(c);
	akm_relationship_spec *specs = calloc(n ? n : 1, sizeof *specs);
	int64_t *ids = calloc(n ? n : 1, sizeof *ids);
	CK_RV rv = specs != NULL && ids != NULL ? CKR_OK : CKR_HOST_MEMORY;
	/* Every template is checked before anything is made. */
	for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++) {
		specs[i].rel.state = CKV_AKM_STATE_ACTIVE;
		specs[i].rel.status = CKV_AKM_STATUS_CREATED;
		rv = spec_from_template(tmpls[i], counts[i], &specs[i], false);
		if (rv != CKR_OK && n > 1)
			akm_log(AKM_LOG_INFO, "relationship %lu of the batch refused (0x%lx)", i, rv);
	}
	if (rv == CKR_OK && (rv = akm_relationships_create(rels, specs, n, ids)) == CKR_OK)
		for (CK_ULONG i = 0; i < n; i++)
			handles[i] = handle_of(ids[i]);
	for (CK_ULONG i = 0; specs != NULL && i < n; i++)
		akm_relationship_clear(&specs[i].rel);
	free(specs);
	free(ids);
	return rv;
}

CK_RV akm_relationship_asr_spec(const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_relationship_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	spec->rel.state = CKV_AKM_STATE_ACTIVE;
	spec->rel.status = CKV_AKM_STATUS_CREATED;
	CK_RV rv = spec_from_template(tmpl, count, spec, true);
	if (rv != CKR_OK)
		akm_relationship_clear(&spec->rel);
	return rv;
}

/* ---- the attributes a key shows ---------------------------------------------- */

/* Everything a relationship key shows, with storage for the values. */
typedef struct key_view {
	akm_key_record rec;
	CK_OBJECT_CLASS cls;
	CK_ULONG key_type, value_len, kind, state, epoch, purpose, created, changed, status, seq, delivery, checkin;
	CK_MECHANISM_TYPE gen_mech;
	CK_ULONG capacity, member_count;      /* a tree ASR's */
	CK_AKM_ASR_POLICY policy;
	uint8_t *members;                     /* a tree ASR's CKA_AKM_MEMBERS, malloc'd */
	CK_ULONG leaf;                        /* a member's ASR key */
	akm_attr_value attrs[60];
	size_t n;
} key_view;

static void add(key_view *v, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len, bool sensitive)
{
	v->attrs[v->n++] = (akm_attr_value){type, value, len, sensitive};
}

/* `want_members`: a tree ASR's CKA_AKM_MEMBERS is computed from its leaves
 * (every leaf read), so only when the template names it. */
/* `shown`: for showing it (C_GetAttributeValue), read ahead when a search
 * did (akm_relationships_read); else read now. */
static CK_RV view_key(akm_relationships *rels, int64_t id, key_view *v, bool want_members, bool shown)
{
	memset(v, 0, sizeof *v);
	CK_RV rv = shown ? akm_relationships_read(rels, id, &v->rec) : akm_relationships_get(rels, id, &v->rec);
	if (rv != CKR_OK)
		return rv;
	const akm_key *key = &v->rec.key;
	const akm_relationship *rel = &v->rec.rel;
	bool enc = key->purpose == CKV_AKM_PURPOSE_ENCRYPT, tree = akm_relationship_is_tree(rel);
	akm_tree_state st;
	size_t members_len = 0;
	if (tree && (rv = akm_tree_state_parse(rel, &st)) != CKR_OK) {
		akm_key_record_clear(&v->rec);
		return CKR_DEVICE_ERROR;
	}
	if (tree && want_members && (rv = akm_station_members(rels, rel->id, &v->members, &members_len)) != CKR_OK) {
		akm_key_record_clear(&v->rec);
		return rv;
	}
	/* A tree ASR's key does nothing but the ASR mechanisms. */
	bool asr = tree || akm_asr_is_member(rel);
	const CK_BBOOL *e = enc && !asr ? &yes : &no, *m = enc || asr ? &no : &yes;
	v->cls = CKO_SECRET_KEY;
	v->key_type = key->key_type;
	v->value_len = key->value_len;
	v->kind = rel->kind;
	v->state = rel->state;
	v->epoch = rel->epoch;
	v->purpose = key->purpose;
	v->created = (CK_ULONG)rel->created;
	v->changed = (CK_ULONG)rel->changed;
	v->status = rel->status;
	v->seq = rel->seq;
	v->gen_mech = tree ? CKM_AKM_ASR_GEN : CKM_AKM_RELATIONSHIP_GEN;
	add(v, CKA_CLASS, &v->cls, sizeof v->cls, false);
	add(v, CKA_TOKEN, &yes, 1, false);
	add(v, CKA_PRIVATE, &yes, 1, false);
	add(v, CKA_MODIFIABLE, &yes, 1, false);
	add(v, CKA_COPYABLE, &no, 1, false);
	add(v, CKA_DESTROYABLE, &yes, 1, false);
	add(v, CKA_LABEL, key->label, key->label_len, false);
	add(v, CKA_ID, key->ckid, key->ckid_len, false);
	add(v, CKA_KEY_TYPE, &v->key_type, sizeof v->key_type, false);
	add(v, CKA_START_DATE, "", 0, false);
	add(v, CKA_END_DATE, "", 0, false);
	add(v, CKA_DERIVE, &no, 1, false);
	add(v, CKA_LOCAL, &yes, 1, false);
	add(v, CKA_KEY_GEN_MECHANISM, &v->gen_mech, sizeof v->gen_mech, false);
	add(v, CKA_SENSITIVE, &yes, 1, false);
	add(v, CKA_ENCRYPT, e, 1, false);
	add(v, CKA_DECRYPT, e, 1, false);
	add(v, CKA_WRAP, e, 1, false);
	add(v, CKA_UNWRAP, e, 1, false);
	add(v, CKA_SIGN, m, 1, false);
	add(v, CKA_VERIFY, m, 1, false);
	add(v, CKA_SIGN_RECOVER, &no, 1, false);
	add(v, CKA_VERIFY_RECOVER, &no, 1, false);
	add(v, CKA_EXTRACTABLE, &no, 1, false);
	add(v, CKA_ALWAYS_SENSITIVE, &yes, 1, false);
	add(v, CKA_NEVER_EXTRACTABLE, &yes, 1, false);
	add(v, CKA_WRAP_WITH_TRUSTED, &no, 1, false);
	add(v, CKA_TRUSTED, &no, 1, false);
	add(v, CKA_VALUE, NULL, 0, true);
	add(v, CKA_VALUE_LEN, &v->value_len, sizeof v->value_len, false);
	add(v, CKA_AKM_RELATIONSHIP_ID, rel->rid, rel->rid_len, false);
	add(v, CKA_AKM_KIND, &v->kind, sizeof v->kind, false);
	add(v, CKA_AKM_EPOCH, &v->epoch, sizeof v->epoch, false);
	add(v, CKA_AKM_STATE, &v->state, sizeof v->state, false);
	add(v, CKA_AKM_STATION_ID, rel->station, rel->station_len, false);
	if (v->kind == CKV_AKM_KIND_PROVISIONING) {
		add(v, CKA_AKM_PEER_NODE, rel->peer, rel->peer_len, false);
		add(v, CKA_AKM_HW_BINDING, rel->hw, rel->hw_len, false);
		add(v, CKA_AKM_NODE_KEY, rel->node_key, rel->node_key_len, false);
		v->delivery = akm_relationship_delivery(rel);
		add(v, CKA_AKM_DELIVERY, &v->delivery, sizeof v->delivery, false);
		v->checkin = rel->checkin;
		add(v, CKA_AKM_CHECKIN, &v->checkin, sizeof v->checkin, false);
	} else if (tree) {
		v->capacity = 1UL << st.depth;
		v->member_count = st.members;
		v->policy.ulPeriod = st.policy.period;
		v->policy.ulGrace = st.policy.grace;
		v->policy.ulMessageLimit = st.policy.msg_limit;
		v->policy.ulFailureLimit = st.policy.fail_limit;
		v->policy.ulCapacity = v->capacity;
		v->policy.bJoinRekeys = st.policy.join_rekeys ? CK_TRUE : CK_FALSE;
		add(v, CKA_AKM_MEMBERS, v->members != NULL ? v->members : (const uint8_t *)"", (CK_ULONG)members_len, false);
		add(v, CKA_AKM_ASR_CAPACITY, &v->capacity, sizeof v->capacity, false);
		add(v, CKA_AKM_ASR_MEMBER_COUNT, &v->member_count, sizeof v->member_count, false);
		add(v, CKA_AKM_ASR_POLICY, &v->policy, sizeof v->policy, false);
	} else if (!akm_asr_is_member(rel)) {
		add(v, CKA_AKM_MEMBERS, rel->members, rel->members_len, false);
	} else {
		/* a member's row keeps its state record there: not a member list */
		add(v, CKA_AKM_MEMBERS, "", 0, false);
	}
	if (akm_asr_is_member(rel)) {
		akm_asr_info info;
		if ((rv = akm_asr_info_get(rels, rel, &info)) != CKR_OK) {
			akm_key_record_clear(&v->rec);
			return rv;
		}
		v->leaf = info.leaf;
		v->capacity = info.capacity;
		v->member_count = info.members;
		v->policy = (CK_AKM_ASR_POLICY){info.policy.period, info.policy.grace, info.policy.msg_limit,
		                                info.policy.fail_limit, info.capacity, info.policy.join_rekeys};
		add(v, CKA_AKM_MEMBER_INDEX, &v->leaf, sizeof v->leaf, false);
		add(v, CKA_AKM_ASR_CAPACITY, &v->capacity, sizeof v->capacity, false);
		add(v, CKA_AKM_ASR_MEMBER_COUNT, &v->member_count, sizeof v->member_count, false);
		add(v, CKA_AKM_ASR_POLICY, &v->policy, sizeof v->policy, false);
	}
	add(v, CKA_AKM_KEY_PURPOSE, &v->purpose, sizeof v->purpose, false);
	add(v, CKA_AKM_CREATED, &v->created, sizeof v->created, false);
	add(v, CKA_AKM_CHANGED, &v->changed, sizeof v->changed, false);
	add(v, CKA_AKM_STATUS, &v->status, sizeof v->status, false);
	add(v, CKA_AKM_SEQUENCE, &v->seq, sizeof v->seq, false);
	add(v, CKA_AKM_SITE, rel->site, rel->site_len, false);
	return CKR_OK;
}

static void view_clear(key_view *v)
{
	free(v->members);
	v->members = NULL;
	akm_key_record_clear(&v->rec);
}

/* ---- the class's operations ---------------------------------------------------- */

static CK_RV rel_get_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	akm_relationships *rels = akm_core_relationships(c);
	key_view v;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	CK_RV rv = view_key(rels, key_id_of(h), &v, akm_template_find(tmpl, count, CKA_AKM_MEMBERS) != NULL, true);
	if (rv == CKR_OK) {
		rv = akm_template_fill(v.attrs, v.n, tmpl, count);
		view_clear(&v);
	}
	return akm_held_answer(rv);
}

static CK_RV rel_size(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	akm_relationships *rels = akm_core_relationships(c);
	akm_key_record k;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	CK_RV rv = akm_relationships_read(rels, key_id_of(h), &k);
	if (rv == CKR_OK) {
		*size = (CK_ULONG)(k.key.wrapped_len + k.key.label_len + k.key.ckid_len + k.rel.members_len +
		                   k.rel.rid_len + k.rel.peer_len + k.rel.hw_len + k.rel.station_len);
		akm_key_record_clear(&k);
	}
	return akm_held_answer(rv);
}

/* Checks a changing template against the key (every entry, in order, the
 * first refusal wins) and turns it into a change for the akm layer. */
static CK_RV change_from_template(const key_view *v, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                  akm_relationship_change *ch)
{
	const akm_relationship *was = &v->rec.rel;
	memset(ch, 0, sizeof *ch);
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		const attr_rule *rule = rule_for(a->type);
		bool shown = false; /* an attribute this key has */
		CK_ULONG u = 0;
		CK_RV rv;
		for (size_t k = 0; k < v->n; k++)
			shown = shown || v->attrs[k].type == a->type;
		if (!shown)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		if (rule == NULL || !(rule->flags & P_MODIFIABLE))
			return CKR_ATTRIBUTE_READ_ONLY;
		if (a->type == CKA_LABEL) {
			if (akm_relationship_is_tree(was))
				return CKR_ATTRIBUTE_READ_ONLY; /* carried in every package */
			if (a->ulValueLen > rule->max || (a->ulValueLen > 0 && a->pValue == NULL))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			ch->set_label = true;
			ch->label = a->pValue;
			ch->label_len = a->ulValueLen;
		} else if (a->type == CKA_AKM_NODE_KEY) {
			if ((rv = akm_node_key_change(was, a->pValue, a->ulValueLen)) != CKR_OK)
				return rv;
			memcpy(ch->node_key, a->pValue, AKM_NODE_KEY_LEN);
			ch->set_node_key = true;
		} else if (value_ulong(a, &u) != CKR_OK) {
			return CKR_ATTRIBUTE_VALUE_INVALID;
		} else if (a->type == CKA_AKM_STATE) {
			if (!akm_state_change_allowed(was->state, u))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			ch->set_state = true;
			ch->state = u;
		} else if (a->type == CKA_AKM_STATUS) {
			if (!akm_status_change_allowed(was->status, u))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			ch->set_status = true;
			ch->status = u;
		} else if (a->type == CKA_AKM_SEQUENCE) {
			if (!akm_sequence_change_allowed(was->seq, u))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			ch->set_seq = true;
			ch->seq = u;
		} else if (a->type == CKA_AKM_CHECKIN) {
			/* Only a PR key shows it (an ASR key answered above).  Checked
			 * again in the registry's write transaction: the stored value
			 * may have been raised since it was read here. */
			if (!akm_checkin_change_allowed(was->checkin, u))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			ch->set_checkin = true;
			ch->checkin = u;
		}
	}
	return CKR_OK;
}

static CK_RV rel_set_attributes(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	akm_relationships *rels = akm_core_relationships(c);
	key_view v;
	akm_relationship_change ch;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	CK_RV rv = view_key(rels, key_id_of(h), &v, false, false);
	if (rv != CKR_OK)
		return akm_held_answer(rv);
	if (akm_asr_is_member(&v.rec.rel) && count == 1 && tmpl[0].type == CKA_AKM_EPOCH) {
		/* A member moves to a later step of its generation. */
		CK_ULONG epoch;
		rv = value_ulong(&tmpl[0], &epoch);
		if (rv == CKR_OK)
			rv = akm_asr_set_epoch(rels, key_id_of(h), epoch);
		view_clear(&v);
		return akm_held_answer(rv);
	}
	/* Check everything before changing anything. */
	if ((rv = change_from_template(&v, tmpl, count, &ch)) == CKR_OK)
		rv = akm_relationships_update(rels, key_id_of(h), &ch);
	view_clear(&v);
	return akm_held_answer(rv);
}

static CK_RV rel_destroy(const akm_call *c, CK_OBJECT_HANDLE h)
{
	akm_relationships *rels = akm_core_relationships(c);
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	return akm_held_answer(akm_relationships_destroy(rels, key_id_of(h)));
}

/* Whether key h exists here: CKR_OK, or why not (as an object). */
static CK_RV exists(const akm_call *c, CK_OBJECT_HANDLE h)
{
	akm_relationships *rels = akm_core_relationships(c);
	akm_key_record k;
	if (rels == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	CK_RV rv = akm_relationships_get(rels, key_id_of(h), &k);
	if (rv == CKR_OK)
		akm_key_record_clear(&k);
	return akm_held_answer(rv);
}

/* A key asked to do what it never does: `refusal` when it exists here. */
static CK_RV refused(const akm_call *c, CK_OBJECT_HANDLE h, CK_RV refusal)
{
	return exists(c, h) == CKR_OK ? refusal : CKR_KEY_HANDLE_INVALID;
}

static CK_RV rel_copy(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                      CK_OBJECT_HANDLE *out)
{
	/* Relationship keys are not copyable (CKA_COPYABLE). */
	CK_RV rv = exists(c, h);
	return rv != CKR_OK ? rv : CKR_ACTION_PROHIBITED;
}

static CK_RV rel_use(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend)
{
	static const akm_key_use key_use[] = {
		[AKM_USE_ENCRYPT] = AKM_KEY_ENCRYPT, [AKM_USE_DECRYPT] = AKM_KEY_DECRYPT,
		[AKM_USE_SIGN] = AKM_KEY_SIGN, [AKM_USE_VERIFY] = AKM_KEY_VERIFY,
		[AKM_USE_SIGN_RECOVER] = AKM_KEY_OTHER, [AKM_USE_VERIFY_RECOVER] = AKM_KEY_OTHER,
		[AKM_USE_WRAP] = AKM_KEY_WRAP, [AKM_USE_UNWRAP] = AKM_KEY_UNWRAP,
	};
	akm_relationships *rels = akm_core_relationships(c);
	switch (use) {
	case AKM_USE_EXTRACT: /* relationship keys leave only through AKM mechanisms */
		return refused(c, h, CKR_KEY_UNEXTRACTABLE);
	case AKM_USE_DIGEST: /* a digest of a secret is a way to learn about it */
		return refused(c, h, CKR_KEY_INDIGESTIBLE);
	case AKM_USE_DERIVE: /* CKA_DERIVE is false */
		return refused(c, h, CKR_KEY_FUNCTION_NOT_PERMITTED);
	case AKM_USE_PLAIN:
		return CKR_KEY_HANDLE_INVALID;
	default:
		if (rels == NULL)
			return CKR_KEY_HANDLE_INVALID;
		return akm_relationships_use(rels, key_id_of(h), key_use[use], backend);
	}
}

static void rel_lost(const akm_call *c, CK_OBJECT_HANDLE h)
{
	akm_relationships *rels = akm_core_relationships(c);
	if (rels != NULL)
		akm_relationships_lost(rels, key_id_of(h));
}

/* A forged message or MAC under a relationship key is a breach signal. */
static void rel_check_failed(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_RV rv)
{
	akm_relationships *rels = akm_core_relationships(c);
	if (rels != NULL)
		akm_relationships_event(rels, use == AKM_USE_DECRYPT ? AKM_EVENT_DECRYPT_FAILED : AKM_EVENT_VERIFY_FAILED,
		                        key_id_of(h), rv, NULL);
}

/* A template naming AKM attributes is about relationship keys only: no
 * backend object has them. */
static bool rel_claims(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++)
		if ((tmpl[i].type & ~0xffUL) == CKA_AKM_BASE)
			return true;
	return false;
}

/* A filter on a byte column: false when the template already named
 * another value for it. */
static bool narrow(const uint8_t **value, size_t *len, const CK_ATTRIBUTE *a)
{
	if (*value != NULL && (*len != a->ulValueLen || memcmp(*value, a->pValue, *len) != 0))
		return false;
	*value = a->pValue;
	*len = a->ulValueLen;
	return true;
}

static bool narrow_ulong(bool *has, CK_ULONG *value, CK_ULONG u)
{
	if (*has && *value != u)
		return false;
	*has = true;
	*value = u;
	return true;
}

/* Narrows a template to the columns the registry can search on; whatever
 * else the template says is checked key by key (*exact stays true when
 * nothing else is left to check).  False when nothing can match. */
static bool template_to_query(const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_store_query *q, bool *exact)
{
	memset(q, 0, sizeof *q);
	*exact = true;
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];
		CK_ULONG u;
		/* A NULL value with a length names nothing: no key matches. */
		if ((a->type == CKA_AKM_RELATIONSHIP_ID || a->type == CKA_ID || a->type == CKA_LABEL ||
		     a->type == CKA_AKM_PEER_NODE) && a->pValue == NULL)
			return false;
		switch (a->type) {
		/* An attribute named twice with two values: no key has both. */
		case CKA_AKM_RELATIONSHIP_ID: if (!narrow(&q->rid, &q->rid_len, a)) return false; break;
		case CKA_ID: if (!narrow(&q->ckid, &q->ckid_len, a)) return false; break;
		case CKA_LABEL: if (!narrow(&q->label, &q->label_len, a)) return false; break;
		case CKA_AKM_PEER_NODE: if (!narrow(&q->peer, &q->peer_len, a)) return false; break;
		case CKA_CLASS: /* every relationship key is a secret key */
			if (value_ulong(a, &u) != CKR_OK || u != CKO_SECRET_KEY)
				return false;
			break;
		case CKA_AKM_KIND:
		case CKA_AKM_STATE:
		case CKA_AKM_KEY_PURPOSE:
			if (value_ulong(a, &u) != CKR_OK)
				return false; /* malformed: matches nothing */
			if (a->type == CKA_AKM_KIND && !narrow_ulong(&q->has_kind, &q->kind, u)) return false;
			if (a->type == CKA_AKM_STATE && !narrow_ulong(&q->has_state, &q->state, u)) return false;
			if (a->type == CKA_AKM_KEY_PURPOSE && !narrow_ulong(&q->has_purpose, &q->purpose, u)) return false;
			break;
		default:
			*exact = false;
			break;
		}
	}
	return true;
}

/* In label order (CKA_LABEL's bytes; labels are unique): a station lists
 * its nodes by name as the registry keeps them (docs/object-model.md). */
static CK_RV rel_find(const akm_call *c, const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_find_cursor *cursor,
                      CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	akm_relationships *rels = akm_core_relationships(c);
	akm_store_query q;
	bool exact;
	int64_t ids[64];
	CK_RV rv = CKR_OK;
	*n = 0;
	if (rels == NULL || !template_to_query(tmpl, count, &q, &exact))
		return CKR_OK;
	bool want_members = akm_template_find(tmpl, count, CKA_AKM_MEMBERS) != NULL;
	while (*n < max) {
		uint8_t last[AKM_LABEL_MAX];
		size_t got = 0, last_len = 0, page = exact ? max - *n : 64;
		if (page > 64)
			page = 64;
		if ((rv = akm_relationships_find_by_label(rels, &q, cursor->label, cursor->label_len, ids, page, &got, last,
		                                          &last_len)) != CKR_OK || got == 0)
			break;
		/* Their rows in one read, for the matching below and for the
		 * caller's C_GetAttributeValue of what it found. */
		akm_relationships_prefetch(rels, ids, got);
		if (exact) { /* every one matches: the page is taken whole */
			for (size_t i = 0; i < got; i++)
				out[(*n)++] = handle_of(ids[i]);
			memcpy(cursor->label, last, last_len);
			cursor->label_len = last_len;
		}
		for (size_t i = 0; !exact && i < got && *n < max; i++) {
			key_view v;
			if ((rv = view_key(rels, ids[i], &v, want_members, true)) != CKR_OK)
				goto out;
			memcpy(cursor->label, v.rec.key.label, v.rec.key.label_len);
			cursor->label_len = v.rec.key.label_len;
			if (akm_template_matches(v.attrs, v.n, tmpl, count))
				out[(*n)++] = handle_of(ids[i]);
			view_clear(&v);
		}
		if (got < page)
			break; /* the registry has no more */
	}
out:
	/* Private objects are not there without a login; a refused registry
	 * says so (CKR_DEVICE_ERROR). */
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OK : rv;
}

static CK_RV rel_export(const akm_call *c, CK_OBJECT_HANDLE h, CK_AKM_EXPORT_WRAP_PARAMS *p, CK_BYTE *out,
                        CK_ULONG *out_len)
{
	akm_relationships *rels = akm_core_relationships(c);
	uint8_t point[AKM_NODE_KEY_LEN];
	if (rels == NULL)
		return CKR_KEY_HANDLE_INVALID;
	CK_RV rv = akm_relationships_export(rels, key_id_of(h), p->ulMode, p->pKey, point, out, out_len);
	if (rv == CKR_OK && out != NULL && p->ulMode == CKV_AKM_EXPORT_NODE_KEY) {
		memcpy(p->pPublicData, point, AKM_NODE_KEY_LEN);
		p->ulPublicDataLen = AKM_NODE_KEY_LEN;
	}
	return rv;
}

const akm_object_class akm_class_relationship = {
	.name = "relationship key",
	.get_attributes = rel_get_attributes,
	.set_attributes = rel_set_attributes,
	.size = rel_size,
	.destroy = rel_destroy,
	.copy = rel_copy,
	.use = rel_use,
	.lost = rel_lost,
	.check_failed = rel_check_failed,
	.claims = rel_claims,
	.find = rel_find,
	.export = rel_export,
};

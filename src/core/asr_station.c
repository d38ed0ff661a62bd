/*
 * The station's ASR mechanisms (include/akm/pkcs11-akm.h, docs/asr.md §4):
 * their parameters checked, then the akm layer (akm/asr.h).
 *
 * Codes: a parameter that is malformed or breaks a rule of its own (counts,
 * lengths, duplicates, policy ranges, the operation) is
 * CKR_MECHANISM_PARAM_INVALID, and so is an update that does not fit the
 * ASR (adding a member twice or to a full tree, removing the last member);
 * a member that has no usable provisioning relationship (none, revoked,
 * suspended, pending, or two that are not revoked) is
 * CKR_ATTRIBUTE_VALUE_INVALID (its PR's CKA_AKM_STATE is what is wrong);
 * a package for, or the removal of, a node that is not a member is
 * CKR_AKM_OTHER_MEMBER; any other key than an active tree ASR's is
 * CKR_KEY_FUNCTION_NOT_PERMITTED.
 */
#include <stdlib.h>
#include <string.h>

#include "akm/asr.h"
#include "akm/pkcs11-akm.h"
#include "core/asr_station.h"
#include "core/internal.h"
#include "core/object.h"

static int64_t key_id_of(CK_OBJECT_HANDLE h)
{
	return AKM_IS_REGISTRY_HANDLE(h) ? (int64_t)(h - AKM_REGISTRY_HANDLE_BASE) : 0;
}

/* The key a station mechanism names: a relationship key's id, or the code
 * for a handle that is none (another object: not permitted; nothing:
 * invalid). */
static CK_RV asr_key(const akm_call *c, CK_OBJECT_HANDLE h, int64_t *id)
{
	CK_OBJECT_HANDLE plain;
	const akm_object_class *cls = akm_object_class_of(h);
	if (cls != &akm_class_relationship)
		return cls->use(c, h, AKM_USE_PLAIN, &plain) == CKR_OK ? CKR_KEY_FUNCTION_NOT_PERMITTED
		                                                        : CKR_KEY_HANDLE_INVALID;
	*id = key_id_of(h);
	return CKR_OK;
}

static int member_cmp(const void *a, const void *b)
{
	const CK_BYTE *const *pa = a, *const *pb = b;
	size_t la = (*pa)[-1], lb = (*pb)[-1]; /* see sort_members */
	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(*pa, *pb, la);
}

/* Whether two members are the same: sorted copies of (len, ID). */
static CK_RV no_duplicates(const CK_AKM_ASR_GEN_PARAMS *p)
{
	CK_ULONG n = p->ulMemberCount;
	CK_BYTE *store = malloc(n * (AKM_ID_MAX + 1));
	const CK_BYTE **v = malloc(n * sizeof *v);
	CK_RV rv = store && v ? CKR_OK : CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
		CK_BYTE *e = store + i * (AKM_ID_MAX + 1);
		e[0] = (CK_BYTE)p->pulMemberLens[i];
		memcpy(e + 1, p->ppMembers[i], p->pulMemberLens[i]);
		v[i] = e + 1;
	}
	if (rv == CKR_OK) {
		qsort(v, n, sizeof *v, member_cmp);
		for (CK_ULONG i = 1; i < n && rv == CKR_OK; i++)
			if (member_cmp(&v[i - 1], &v[i]) == 0)
				rv = CKR_MECHANISM_PARAM_INVALID;
	}
	free(store);
	free(v);
	return rv;
}

/* CK_AKM_ASR_GEN_PARAMS into the akm layer's request (policy defaults
 * applied), or CKR_MECHANISM_PARAM_INVALID. */
static CK_RV gen_params(const CK_MECHANISM *m, akm_station_gen *g)
{
	const CK_AKM_ASR_GEN_PARAMS *p = m->pParameter;
	if (p == NULL || m->ulParameterLen != sizeof *p || p->ppMembers == NULL || p->pulMemberLens == NULL ||
	    p->ulMemberCount < 2 || p->ulMemberCount > AKM_TREE_CAPACITY_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	for (CK_ULONG i = 0; i < p->ulMemberCount; i++)
		if (p->ppMembers[i] == NULL || p->pulMemberLens[i] < 1 || p->pulMemberLens[i] > AKM_ID_MAX)
			return CKR_MECHANISM_PARAM_INVALID;
	const CK_AKM_ASR_POLICY *pol = &p->policy;
	CK_ULONG cap = pol->ulCapacity, n = p->ulMemberCount;
	if (pol->ulPeriod > UINT32_MAX || pol->ulGrace > AKM_ASR_GRACE_MAX || pol->ulMessageLimit > AKM_ASR_MSG_LIMIT_MAX ||
	    pol->ulFailureLimit > AKM_ASR_MSG_LIMIT_MAX || (pol->bJoinRekeys != CK_FALSE && pol->bJoinRekeys != CK_TRUE))
		return CKR_MECHANISM_PARAM_INVALID;
	if (cap == 0) {
		for (cap = AKM_TREE_CAPACITY_MIN; cap < 2 * n && cap < AKM_TREE_CAPACITY_MAX; cap *= 2)
			;
	}
	if (cap < AKM_TREE_CAPACITY_MIN || cap > AKM_TREE_CAPACITY_MAX || (cap & (cap - 1)) != 0 || cap < n)
		return CKR_MECHANISM_PARAM_INVALID;
	g->policy.period = (uint32_t)pol->ulPeriod;
	g->policy.grace = (uint32_t)pol->ulGrace;
	g->policy.msg_limit = pol->ulMessageLimit ? (uint32_t)pol->ulMessageLimit : (uint32_t)AKM_ASR_MSG_LIMIT_MAX;
	g->policy.fail_limit = pol->ulFailureLimit ? (uint32_t)pol->ulFailureLimit : (uint32_t)AKM_ASR_FAIL_LIMIT_DEFAULT;
	g->policy.join_rekeys = pol->bJoinRekeys == CK_TRUE;
	g->capacity = (uint32_t)cap;
	g->nmembers = n;
	return no_duplicates(p);
}

CK_RV akm_asr_station_generate(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                               CK_OBJECT_HANDLE *out)
{
	akm_station_gen g;
	memset(&g, 0, sizeof g);
	CK_RV rv = gen_params(m, &g);
	if (rv != CKR_OK)
		return rv;
	const CK_AKM_ASR_GEN_PARAMS *p = m->pParameter;
	if ((rv = akm_relationship_asr_spec(tmpl, count, &g.spec)) != CKR_OK)
		return rv;
	if (!c->rw) {
		akm_relationship_clear(&g.spec.rel);
		return CKR_SESSION_READ_ONLY;
	}
	size_t *lens = malloc(g.nmembers * sizeof *lens);
	if (lens == NULL) {
		akm_relationship_clear(&g.spec.rel);
		return CKR_HOST_MEMORY;
	}
	for (size_t i = 0; i < g.nmembers; i++)
		lens[i] = p->pulMemberLens[i];
	g.members = (const uint8_t *const *)p->ppMembers;
	g.member_lens = lens;
	int64_t id = 0;
	rv = akm_station_create(akm_core_relationships(c), &g, &id);
	if (rv == CKR_OK)
		*out = AKM_REGISTRY_HANDLE_BASE + (CK_OBJECT_HANDLE)id;
	free(lens);
	akm_relationship_clear(&g.spec.rel);
	return akm_held_answer(rv);
}

CK_RV akm_asr_station_package(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                              CK_BYTE *out, CK_ULONG *out_len)
{
	const CK_AKM_ASR_MEMBER_PARAMS *p = m->pParameter;
	int64_t id = 0;
	if (wrapping != CK_INVALID_HANDLE)
		return CKR_WRAPPING_KEY_HANDLE_INVALID;
	if (p == NULL || m->ulParameterLen != sizeof *p || p->pMember == NULL || p->ulMemberLen < 1 ||
	    p->ulMemberLen > AKM_ID_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	CK_RV rv = asr_key(c, key, &id);
	if (rv != CKR_OK)
		return rv;
	return akm_station_package(akm_core_relationships(c), id, p->pMember, p->ulMemberLen, out, out_len);
}

CK_RV akm_asr_station_rekey_message(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                                    CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len)
{
	int64_t id = 0;
	if (wrapping != CK_INVALID_HANDLE)
		return CKR_WRAPPING_KEY_HANDLE_INVALID;
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	CK_RV rv = asr_key(c, key, &id);
	if (rv != CKR_OK)
		return rv;
	return akm_station_rekey_message(akm_core_relationships(c), id, out, out_len);
}

CK_RV akm_asr_station_update(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE *tmpl,
                             CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	const CK_AKM_ASR_UPDATE_PARAMS *p = m->pParameter;
	int64_t id = 0;
	if (p == NULL || m->ulParameterLen != sizeof *p)
		return CKR_MECHANISM_PARAM_INVALID;
	switch (p->ulOperation) {
	case CKV_AKM_ASR_ADD:
	case CKV_AKM_ASR_REMOVE:
		if (p->pMember == NULL || p->ulMemberLen < 1 || p->ulMemberLen > AKM_ID_MAX)
			return CKR_MECHANISM_PARAM_INVALID;
		break;
	case CKV_AKM_ASR_REKEY:
		if (p->pMember != NULL || p->ulMemberLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		break;
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (tmpl != NULL || count != 0)
		return CKR_TEMPLATE_INCONSISTENT;
	CK_RV rv = asr_key(c, base, &id);
	if (rv != CKR_OK)
		return rv;
	if (!c->rw)
		return CKR_SESSION_READ_ONLY;
	rv = akm_station_update(akm_core_relationships(c), id, p->ulOperation, p->pMember, p->ulMemberLen);
	if (rv == CKR_OK)
		*out = base; /* the same object, its epoch moved */
	return rv;
}

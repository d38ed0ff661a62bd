/* The audit trail, record by record (trail.h). */
#include "shared/trail.h"

#include <string.h>

#include "akm/pkcs11-akm.h"

static void cut(char *s, CK_ULONG len, size_t cap)
{
	s[len == CK_UNAVAILABLE_INFORMATION ? 0 : len < cap ? len : cap - 1] = '\0';
}

bool akm_trail_action(akm_p11 *p, uint64_t seq, char action[64])
{
	char buf[64];
	char *a = action ? action : buf;
	CK_ATTRIBUTE t = {CKA_AKM_AUDIT_ACTION, a, 63};
	if (p->f->C_GetAttributeValue(p->session, AKM_TRAIL_HANDLE(seq), &t, 1) != CKR_OK)
		return false;
	cut(a, t.ulValueLen, 64);
	return true;
}

int akm_trail_read(akm_p11 *p, uint64_t seq, akm_trail_rec *r)
{
	memset(r, 0, sizeof *r);
	CK_ULONG time = 0;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_AUDIT_TIME, &time, sizeof time},
		{CKA_AKM_AUDIT_RESULT, &r->result, sizeof r->result},
		{CKA_AKM_AUDIT_ACTOR, r->actor, sizeof r->actor - 1},
		{CKA_AKM_AUDIT_ACTION, r->action, sizeof r->action - 1},
		{CKA_AKM_AUDIT_DETAIL, r->detail, sizeof r->detail - 1},
		{CKA_AKM_RELATIONSHIP_ID, r->rid, sizeof r->rid},
	};
	/* A field longer than its buffer (a detail over 2 KB: none the module
	 * or the tools write) comes back unavailable, and empty here. */
	CK_RV rv = p->f->C_GetAttributeValue(p->session, AKM_TRAIL_HANDLE(seq), t, sizeof t / sizeof t[0]);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return 0;
	r->seq = seq;
	r->time = time;
	cut(r->actor, t[2].ulValueLen, sizeof r->actor);
	cut(r->action, t[3].ulValueLen, sizeof r->action);
	cut(r->detail, t[4].ulValueLen, sizeof r->detail);
	r->rid_len = t[5].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : t[5].ulValueLen;
	return 1;
}

uint64_t akm_trail_head(akm_p11 *p)
{
	uint64_t lo = 0, hi = 1; /* record lo exists (or lo is 0), record hi does not */
	while (akm_trail_action(p, hi, NULL) && hi < (1ULL << 40)) {
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (akm_trail_action(p, mid, NULL))
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

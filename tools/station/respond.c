/*
 * The automatic response (station.h, docs/akm-nmmd.md "Automatic
 * response"): what akm-nmmd does when a policy rule fires.  Every action
 * is PKCS#11 calls on the station token through akm-pkcs11 — the module
 * enforces the state transitions in the same call that changes the state,
 * so an action is safe next to a concurrent akm-nmm — and one audit record
 * "policy-<action>" whose detail begins with the rule, the metric, the
 * value, the threshold and the audit records that fired it.
 */
#include "station/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"
#include "lib/rv.h"
#include "shared/bytes.h"

static const char *const action_names[AKM_ACT_COUNT] = {
	[AKM_ACT_ALERT] = "policy-alert",         [AKM_ACT_QUARANTINE] = "policy-quarantine",
	[AKM_ACT_EVICT] = "policy-evict",         [AKM_ACT_REVOKE] = "policy-revoke",
	[AKM_ACT_REACTIVATE] = "policy-reactivate", [AKM_ACT_REKEY] = "policy-rekey",
	[AKM_ACT_STALE] = "policy-stale",
};

/* Moves the PR to state `to` unless it is there (or revoked) already: the
 * module refuses a transition its rules forbid (CKR_ATTRIBUTE_VALUE_INVALID)
 * and the state is then read again.  *outcome says what happened. */
static int set_state(nmm_station *s, nmm_node *n, CK_ULONG to, char *outcome, size_t cap)
{
	CK_ULONG before = n->state;
	CK_RV rv = nmm_node_set(s, n, CKA_AKM_STATE, to);
	if (rv == CKR_OK) {
		snprintf(outcome, cap, "state %s -> %s", nmm_state_name(before), nmm_state_name(to));
		n->state = to;
		return AKM_RC_OK;
	}
	CK_ULONG now = 0;
	if (akm_p11_get_ulong(&s->p, n->enc, CKA_AKM_STATE, &now) != 0)
		return akm_report(AKM_RC_TOKEN, n->name, "%s", s->p.err);
	n->state = now;
	if (now == to || now == CKV_AKM_STATE_REVOKED) {
		snprintf(outcome, cap, "already %s", nmm_state_name(now));
		return AKM_RC_OK;
	}
	return akm_report(AKM_RC_REFUSED, n->name, "C_SetAttributeValue(CKA_AKM_STATE %s): %s (it is %s)",
	                  nmm_state_name(to), akm_rv_name(rv), nmm_state_name(now));
}

int nmm_evict(nmm_station *s, const nmm_node *n, char *outcome, size_t cap)
{
	nmm_asr *list;
	size_t count;
	int rc = nmm_asr_list(s, n->name, &list, &count);
	if (rc != AKM_RC_OK)
		return rc;
	size_t removed = 0, used = 0;
	outcome[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		nmm_asr a = list[i];
		if (a.state != CKV_AKM_STATE_ACTIVE)
			continue;
		/* The module's remove: refused (CKR_AKM_OTHER_MEMBER) for a node
		 * that is not a member, so a second eviction changes nothing.
		 * The remaining members get the new generation's package at
		 * their next check-in. */
		CK_AKM_ASR_UPDATE_PARAMS up = {CKV_AKM_ASR_REMOVE, (CK_BYTE_PTR)n->node_id, n->node_id_len};
		CK_MECHANISM m = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
		CK_OBJECT_HANDLE h;
		CK_RV rv = s->p.f->C_DeriveKey(s->p.session, &m, a.key, NULL, 0, &h);
		if (rv == CKR_AKM_OTHER_MEMBER)
			continue;
		if (rv != CKR_OK) {
			rc = akm_report(AKM_RC_TOKEN, n->name, "removing it from ASR %s: %s", a.name, akm_rv_name(rv));
			continue;
		}
		CK_ULONG epoch = 0;
		akm_p11_get_ulong(&s->p, h, CKA_AKM_EPOCH, &epoch);
		removed++;
		int k = snprintf(outcome + used, cap > used ? cap - used : 0, "%s%s gen %lu", used ? ", " : "removed from ",
		                 a.name, (unsigned long)(epoch >> 32));
		if (k > 0)
			used = used + (size_t)k < cap ? used + (size_t)k : cap;
	}
	free(list);
	if (removed == 0 && rc == AKM_RC_OK)
		snprintf(outcome, cap, "a member of no ASR");
	return rc;
}

int nmm_respond(nmm_station *s, const nmm_response *r, char *said, size_t cap)
{
	if (r->action >= AKM_ACT_COUNT)
		return akm_report(AKM_RC_USAGE, "policy", "unknown action %d", (int)r->action);
	const char *audit_action = action_names[r->action];
	char outcome[400] = "";
	int rc = AKM_RC_OK;
	nmm_node n;
	bool node = r->scope == AKM_SCOPE_NODE && r->subject_len > 0;
	bool have_node = false;
	if (node) {
		int found = nmm_node_by_pr(s, r->subject, r->subject_len, &n);
		if (found < 0)
			return akm_report(AKM_RC_TOKEN, "policy", "%s", s->p.err);
		have_node = found == 1;
	}
	const char *subject_name = have_node ? n.name : "";
	switch (r->action) {
	case AKM_ACT_ALERT:
		snprintf(outcome, sizeof outcome, "alert");
		break;
	case AKM_ACT_QUARANTINE:
	case AKM_ACT_REVOKE:
	case AKM_ACT_EVICT:
	case AKM_ACT_REACTIVATE:
	case AKM_ACT_STALE:
		if (!have_node) {
			rc = akm_report(AKM_RC_NOT_FOUND, "policy", "rule %s: %s needs a node of this station", r->rule,
			                audit_action);
			break;
		}
		if (r->action == AKM_ACT_QUARANTINE) {
			rc = set_state(s, &n, CKV_AKM_STATE_SUSPENDED, outcome, sizeof outcome);
		} else if (r->action == AKM_ACT_REVOKE) {
			rc = set_state(s, &n, CKV_AKM_STATE_REVOKED, outcome, sizeof outcome);
			if (rc == AKM_RC_OK) {
				size_t k = strlen(outcome);
				snprintf(outcome + k, sizeof outcome - k, "; ");
				k = strlen(outcome);
				rc = nmm_evict(s, &n, outcome + k, sizeof outcome - k);
			}
		} else if (r->action == AKM_ACT_EVICT) {
			rc = nmm_evict(s, &n, outcome, sizeof outcome);
		} else if (r->action == AKM_ACT_REACTIVATE) {
			/* akm-nmmd refuses the node's check-ins and reports until it
			 * activates again (it follows this record, act.c) */
			snprintf(outcome, sizeof outcome, "activation required");
		} else {
			snprintf(outcome, sizeof outcome, "stale");
		}
		break;
	case AKM_ACT_REKEY: {
		nmm_asr *list;
		size_t count;
		if ((rc = nmm_asr_list(s, "policy", &list, &count)) != AKM_RC_OK)
			break;
		const nmm_asr *a = NULL;
		for (size_t i = 0; i < count && a == NULL; i++)
			if (akm_bytes_equal(list[i].id, list[i].id_len, r->subject, r->subject_len))
				a = &list[i];
		if (a == NULL) {
			rc = akm_report(AKM_RC_NOT_FOUND, "policy", "rule %s: no ASR of this station to rekey", r->rule);
		} else {
			CK_AKM_ASR_UPDATE_PARAMS up = {CKV_AKM_ASR_REKEY, NULL, 0};
			CK_MECHANISM m = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
			CK_OBJECT_HANDLE h;
			CK_RV rv = s->p.f->C_DeriveKey(s->p.session, &m, a->key, NULL, 0, &h);
			CK_ULONG epoch = 0;
			if (rv == CKR_OK)
				akm_p11_get_ulong(&s->p, h, CKA_AKM_EPOCH, &epoch);
			if (rv != CKR_OK)
				rc = akm_report(AKM_RC_REFUSED, "policy", "rekeying ASR %s: %s", a->name, akm_rv_name(rv));
			else
				snprintf(outcome, sizeof outcome, "%s gen %lu -> %lu", a->name, (unsigned long)(a->epoch >> 32),
				         (unsigned long)(epoch >> 32));
			subject_name = "";
		}
		free(list);
		break;
	}
	default:
		break;
	}
	char hex[2 * AKM_FMT_ID_MAX + 1] = "";
	akm_hex_encode(r->subject, r->subject_len, hex);
	snprintf(said, cap, "%s %s%s: %s%s (%s)", audit_action, r->scope == AKM_SCOPE_ASR ? "asr " : "",
	         subject_name[0] ? subject_name : hex, rc == AKM_RC_OK ? "" : "FAILED ", outcome, r->detail);
	/* One record, whatever happened: the rule, the numbers, the events,
	 * then the outcome. */
	CK_RV rec = nmm_audit_first(s, have_node ? &n : NULL, audit_action, r->subject, r->subject_len,
	                            rc == AKM_RC_OK ? CKR_OK : CKR_FUNCTION_FAILED, "%s; %s%s", r->detail,
	                            rc == AKM_RC_OK ? "" : "failed: ", outcome);
	if (rec != CKR_OK && rc == AKM_RC_OK)
		rc = AKM_RC_TOKEN;
	return rc;
}

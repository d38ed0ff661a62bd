/*
 * The breach policy at the station (station.h, docs/policy.md): reading
 * and checking the policy file, and turning the audit records the station
 * reads through the module into the monitor's events (lib/monitor.h),
 * trusting only the module's own records and the station's signed ones.
 * Shared by akm-nmm policy test and akm-nmmd.
 */
#include "station/station.h"

#include <stdlib.h>
#include <string.h>

int nmm_policy_read(const char *what, const char *path, akm_policy *p)
{
	uint8_t *text = NULL;
	size_t len = 0;
	int code = nmm_read_file(what, path, NMM_POLICY_FILE_MAX, &text, &len);
	if (code != AKM_RC_OK)
		return code;
	char err[512];
	akm_policy_rc rc = akm_policy_parse((const char *)text, len, path, p, err, sizeof err);
	free(text);
	if (rc != AKM_POLICY_OK)
		return akm_report(AKM_RC_REFUSED, what, "%s", err);
	return AKM_RC_OK;
}

size_t nmm_policy_events(nmm_station *s, const nmm_audit_rec *r, akm_mon_event *ev, size_t max, bool *untrusted)
{
	if (untrusted != NULL)
		*untrusted = false;
	akm_mon_record mr = {r->actor, r->action, r->detail, r->rid, r->rid_len, r->result, r->time, r->seq};
	size_t n = akm_mon_from_audit(&mr, ev, max);
	/* An application's record counts only when the station signed it:
	 * anyone holding the PIN can append records with the actor "app". */
	if (n == 0)
		return 0;
	nmm_audit_sig sig = nmm_audit_check_sig(s, r);
	if (sig == NMM_AUDIT_SIG_MODULE || sig == NMM_AUDIT_SIG_VALID)
		return n;
	if (untrusted != NULL)
		*untrusted = true;
	return 0;
}

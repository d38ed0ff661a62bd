/*
 * The breach policy at the station (station.h, docs/policy.md): reading
 * and checking the policy file, and turning the audit records the station
 * reads through the module into the monitor's events (lib/monitor.h),
 * trusting only the module's own records and the station's signed ones.
 * Shared by akm-nmm policy test and akm-nmmd.
 */
#include "station/station.h"

#include "shared/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nmm_policy_load(const char *path, akm_policy *p, char *err, size_t errlen)
{
	uint8_t *text = NULL;
	size_t len = 0;
	switch (akm_read_file(path, NMM_POLICY_FILE_MAX, &text, &len)) {
	case AKM_READ_OK:
		break;
	case AKM_READ_OPEN:
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES;
	case AKM_READ_TOO_BIG:
		snprintf(err, errlen, "%s is larger than %u bytes", path, NMM_POLICY_FILE_MAX);
		return AKM_RC_REFUSED;
	default:
		snprintf(err, errlen, "cannot read %s", path);
		return AKM_RC_FILES;
	}
	akm_policy_rc rc = akm_policy_parse((const char *)text, len, path, p, err, errlen);
	free(text);
	return rc == AKM_POLICY_OK ? AKM_RC_OK : AKM_RC_REFUSED;
}

int nmm_policy_read(const char *what, const char *path, akm_policy *p)
{
	char err[512];
	int code = nmm_policy_load(path, p, err, sizeof err);
	return code == AKM_RC_OK ? AKM_RC_OK : akm_report(code, what, "%s", err);
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

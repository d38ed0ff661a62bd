/*
 * Typed events: every change and every failure that could be an attack
 * becomes an audit record, in the transaction of the change when there is
 * one.  The breach signals are what the monitor will count.
 */
#include <string.h>

#include "akm/internal.h"
#include "common/log.h"

static const struct {
	const char *action;
	const char *actor;
	bool breach;
	bool row_change;   /* it records a change of the relationship's row */
	bool before_login; /* it can happen before the user logs in */
} events[AKM_EVENT_KINDS] = {
	[AKM_EVENT_CREATE] = {"create", "user", false, true, false},
	[AKM_EVENT_DESTROY] = {"destroy", "user", false, false, false},
	[AKM_EVENT_SET_STATE] = {"set-state", "user", false, true, false},
	[AKM_EVENT_SET_STATUS] = {"set-status", "user", false, true, false},
	[AKM_EVENT_SET_SEQUENCE] = {"set-sequence", "user", false, true, false},
	[AKM_EVENT_SET_NODE_KEY] = {"set-node-key", "user", false, true, false},
	[AKM_EVENT_SET_CHECKIN] = {"set-checkin", "user", false, true, false},
	[AKM_EVENT_SET_LABEL] = {"set-label", "user", false, false, false},
	[AKM_EVENT_EXPORT] = {"export", "user", false, false, false},
	[AKM_EVENT_ASR_CREATE] = {"asr-create", "user", false, true, false},
	[AKM_EVENT_ASR_ADD] = {"asr-add", "user", false, true, false},
	[AKM_EVENT_ASR_REMOVE] = {"asr-remove", "user", false, true, false},
	[AKM_EVENT_ASR_REKEY] = {"asr-rekey", "user", false, true, false},
	[AKM_EVENT_LOGIN_FAILED] = {"login", "user", true, false, true},
	[AKM_EVENT_EXPORT_REFUSED] = {"export-refused", "user", true, false, false},
	[AKM_EVENT_USE_REFUSED] = {"use-refused", "user", true, false, false},
	[AKM_EVENT_UNWRAP_FAILED] = {"unwrap-failed", "module", true, false, false},
	[AKM_EVENT_UNKNOWN_RELATIONSHIP] = {"unknown-relationship", "user", true, false, false},
	[AKM_EVENT_DECRYPT_FAILED] = {"decrypt-failed", "user", true, false, false},
	[AKM_EVENT_VERIFY_FAILED] = {"verify-failed", "user", true, false, false},
	[AKM_EVENT_ROLLBACK_DETECTED] = {"rollback-detected", "module", true, false, false},
	[AKM_EVENT_TAMPER_DETECTED] = {"tamper-detected", "module", true, false, false},
	[AKM_EVENT_LOGIN_REFUSED] = {"login-refused", "user", true, false, true},
	[AKM_EVENT_ASR_MEMBER_ENROLL] = {"asr-enroll", "user", false, true, false},
	[AKM_EVENT_ASR_MEMBER_REKEY] = {"asr-rekeyed", "user", false, true, false},
	[AKM_EVENT_ASR_MEMBER_STEP] = {"asr-step", "module", false, true, false},
	[AKM_EVENT_ASR_MEMBER_RESERVE] = {"asr-reserve", "module", false, true, false},
	[AKM_EVENT_ASR_MEMBER_REMOVED] = {"asr-removed", "user", false, false, false},
	[AKM_EVENT_ASR_MEMBER_REFUSED] = {"asr-refused", "user", true, false, false},
};

const char *akm_event_action(akm_event_kind kind)
{
	return kind < AKM_EVENT_KINDS ? events[kind].action : "unknown";
}

const char *akm_event_actor(akm_event_kind kind)
{
	return kind < AKM_EVENT_KINDS ? events[kind].actor : "module";
}

bool akm_event_is_breach(akm_event_kind kind)
{
	return kind < AKM_EVENT_KINDS && events[kind].breach;
}

bool akm_event_pending_allowed(const char *actor, const char *action, CK_RV result, const char *detail)
{
	/* What the module keeps aside before login is a refused PIN, with
	 * the user type as its detail; anything else there was put there by
	 * whoever can write the file. */
	bool known = false;
	for (int k = 0; k < AKM_EVENT_KINDS; k++)
		known |= events[k].before_login && strcmp(events[k].actor, actor) == 0 &&
		         strcmp(events[k].action, action) == 0 &&
		         /* a PIN refused by the backend; a try refused by the
		          * module's throttling (back-off, lockout) */
		         (k == AKM_EVENT_LOGIN_REFUSED ? result == CKR_FUNCTION_FAILED || result == CKR_PIN_LOCKED
		                                       : result == CKR_PIN_INCORRECT || result == CKR_PIN_LOCKED);
	return known && detail != NULL &&
	       (strcmp(detail, "user") == 0 || strcmp(detail, "security officer") == 0);
}

CK_RV akm_event_append(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                       CK_RV result, const char *detail)
{
	akm_audit_event ev = {akm_event_actor(kind), akm_event_action(kind), rid, rid_len, result, detail,
	                      kind < AKM_EVENT_KINDS && events[kind].row_change};
	CK_RV rv = akm_store_audit_append(r->reg, &ev);
	r->counter.dirty = true; /* the token keeps the audit head too */
	return rv;
}

CK_RV akm_event_insert_created(akm_relationships *r, akm_relationship *rel, akm_event_kind kind,
                               const char *detail)
{
	int64_t seq;
	uint8_t hash[AKM_AUDIT_HASH_LEN];
	CK_RV rv = akm_store_audit_head(r->reg, &seq, hash);
	if (rv != CKR_OK)
		return rv;
	rel->audit = seq + 1;
	if ((rv = akm_store_insert_relationship(r->reg, rel)) != CKR_OK ||
	    (rv = akm_event_append(r, kind, rel->rid, rel->rid_len, CKR_OK, detail)) != CKR_OK ||
	    (rv = akm_store_audit_head(r->reg, &seq, hash)) != CKR_OK)
		return rv;
	return seq == rel->audit ? CKR_OK : CKR_GENERAL_ERROR;
}

void akm_event_record(akm_relationships *r, akm_event_kind kind, const uint8_t *rid, size_t rid_len,
                      CK_RV result, const char *detail)
{
	if (!akm_store_sealed(r->reg)) {
		/* Before login rows cannot be sealed: kept aside until the next
		 * login (store.h, pending events). */
		akm_log(AKM_LOG_WARNING, "registry %s: %s (0x%lx) before login", akm_store_location(r->reg),
		        akm_event_action(kind), result);
		akm_audit_event ev = {akm_event_actor(kind), akm_event_action(kind), NULL, 0, result, detail, false};
		if (akm_store_pending_add(r->reg, &ev) != CKR_OK)
			akm_log(AKM_LOG_ERROR, "registry %s: cannot keep the event for the audit trail",
			        akm_store_location(r->reg));
		return;
	}
	if (akm_event_append(r, kind, rid, rid_len, result, detail) != CKR_OK)
		akm_log(AKM_LOG_ERROR, "registry %s: cannot append to the audit trail (%s)", akm_store_location(r->reg),
		        akm_event_action(kind));
}

void akm_relationships_event(akm_relationships *r, akm_event_kind kind, int64_t key_id, CK_RV result,
                             const char *detail)
{
	akm_key_record k;
	akm_mutex_lock(r->lock);
	bool known = key_id != 0 && akm_store_sealed(r->reg) && akm_store_get_key(r->reg, key_id, &k.key, &k.rel) == CKR_OK;
	akm_event_record(r, kind, known ? k.rel.rid : NULL, known ? k.rel.rid_len : 0, result, detail);
	if (known)
		akm_key_record_clear(&k);
	akm_mutex_unlock(r->lock);
}

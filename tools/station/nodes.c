/*
 * The station's nodes (station.h): each is a provisioning relationship in
 * the station token, its two keys labelled "<name>/enc" and "<name>/mac",
 * read through the encryption key's CKA_AKM_* attributes.
 */
#include "station/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "shared/bytes.h"
#include "lib/hex.h"
#include "lib/rv.h"

const char *nmm_state_name(CK_ULONG state)
{
	switch (state) {
	case CKV_AKM_STATE_PENDING: return "pending";
	case CKV_AKM_STATE_ACTIVE: return "active";
	case CKV_AKM_STATE_SUSPENDED: return "suspended";
	case CKV_AKM_STATE_REVOKED: return "revoked";
	default: return "unknown";
	}
}

bool nmm_valid_name(const char *name)
{
	return akm_fmt_name_ok(name) && name[0] != '.' && name[0] != '-';
}

const char *nmm_status_name(CK_ULONG status)
{
	switch (status) {
	case CKV_AKM_STATUS_CREATED: return "created";
	case CKV_AKM_STATUS_EXPORTED: return "exported";
	case CKV_AKM_STATUS_IMPORTED: return "imported";
	case CKV_AKM_STATUS_ACTIVATED: return "activated";
	case CKV_AKM_STATUS_VERIFIED: return "verified";
	default: return "unknown";
	}
}

const char *nmm_delivery_name(CK_ULONG delivery)
{
	return delivery == CKV_AKM_DELIVERY_PASSPHRASE ? "passphrase" : "node-key";
}

uint8_t nmm_delivery_protection(CK_ULONG delivery)
{
	return delivery == CKV_AKM_DELIVERY_PASSPHRASE ? AKM_BUNDLE_PASSPHRASE : AKM_BUNDLE_NODE_KEY;
}

bool nmm_valid_hw(const char *hw, size_t len)
{
	if (len < 1 || len > AKM_FMT_HW_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)hw[i] <= 0x20 || (unsigned char)hw[i] >= 0x7F)
			return false;
	return true;
}

/* ---- finding and reading ---- */

int nmm_node_read(nmm_station *s, CK_OBJECT_HANDLE enc, nmm_node *n)
{
	memset(n, 0, sizeof *n);
	n->enc = enc;
	n->mac = CK_INVALID_HANDLE;
	char label[AKM_FMT_NAME_MAX + 8];
	CK_ATTRIBUTE a[] = {
		{CKA_LABEL, label, sizeof label},
		{CKA_AKM_PEER_NODE, n->node_id, sizeof n->node_id},
		{CKA_AKM_RELATIONSHIP_ID, n->pr_id, sizeof n->pr_id},
		{CKA_AKM_HW_BINDING, n->hw, sizeof n->hw},
		{CKA_AKM_STATION_ID, n->station_id, sizeof n->station_id},
		{CKA_AKM_SITE, n->site, sizeof n->site - 1},
		{CKA_AKM_NODE_KEY, n->node_key, sizeof n->node_key},
		{CKA_AKM_STATE, &n->state, sizeof n->state},
		{CKA_AKM_STATUS, &n->status, sizeof n->status},
		{CKA_AKM_SEQUENCE, &n->sequence, sizeof n->sequence},
		{CKA_AKM_CREATED, &n->created, sizeof n->created},
		{CKA_AKM_CHANGED, &n->changed, sizeof n->changed},
		{CKA_AKM_DELIVERY, &n->delivery, sizeof n->delivery},
		{CKA_AKM_CHECKIN, &n->checkin, sizeof n->checkin},
	};
	enum { NA = sizeof a / sizeof a[0] };
	CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, enc, a, NA);
	/* A module without some of the attributes still gives the others. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
		return akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "reading a provisioning relationship");
	size_t *lens[] = {NULL, &n->node_id_len, &n->pr_id_len, &n->hw_len, &n->station_id_len};
	for (size_t i = 0; i < NA; i++) {
		bool missing = a[i].ulValueLen == CK_UNAVAILABLE_INFORMATION;
		if (i >= 1 && i <= 4)
			*lens[i] = missing ? 0 : a[i].ulValueLen;
		else if (i == 0) {
			akm_p11_key_name(label, missing ? 0 : a[i].ulValueLen, n->name, sizeof n->name);
		} else if (i == 5)
			n->site[missing ? 0 : a[i].ulValueLen] = '\0';
		else if (i == 6)
			n->has_node_key = !missing && a[i].ulValueLen == AKM_FMT_POINT_LEN;
		else if (missing)
			*(CK_ULONG *)a[i].pValue = 0;
	}
	if (n->delivery == 0) /* a module before CKA_AKM_DELIVERY: what it defaults to */
		n->delivery = CKV_AKM_DELIVERY_NODE_KEY;
	return 0;
}

int nmm_node_lookup(nmm_station *s, const char *name, nmm_node *n)
{
	char label[AKM_FMT_NAME_MAX + 8];
	int len = snprintf(label, sizeof label, "%s/enc", name);
	if (len < 0 || (size_t)len >= sizeof label)
		return 0;
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE t[] = {
		{CKA_LABEL, label, (CK_ULONG)len},
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
	};
	CK_OBJECT_HANDLE h[8];
	size_t found = 0;
	if (akm_p11_find(&s->p, t, 3, h, 8, &found) != 0)
		return -1;
	if (found == 0)
		return 0;
	/* More than one (a revoked node provisioned again): the one not revoked. */
	for (size_t i = 0; i < found; i++) {
		if (nmm_node_read(s, h[i], n) != 0)
			return -1;
		if (n->state != CKV_AKM_STATE_REVOKED)
			break;
	}
	return 1;
}

int nmm_node_by_pr(nmm_station *s, const uint8_t *pr_id, size_t pr_len, nmm_node *n)
{
	uint8_t ckid[AKM_FMT_ID_MAX + 1];
	if (pr_len < 1 || pr_len > AKM_FMT_ID_MAX)
		return 0;
	memcpy(ckid, pr_id, pr_len);
	ckid[pr_len] = (uint8_t)CKV_AKM_PURPOSE_MAC;
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE t[] = {
		{CKA_ID, ckid, (CK_ULONG)pr_len + 1},
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
	};
	CK_OBJECT_HANDLE h;
	size_t found = 0;
	if (akm_p11_find(&s->p, t, 3, &h, 1, &found) != 0)
		return -1;
	if (found == 0)
		return 0;
	/* Both keys show the relationship: its MAC key is read, and kept as
	 * the handle changes go through too. */
	if (nmm_node_read(s, h, n) != 0)
		return -1;
	n->mac = h;
	return 1;
}

int nmm_node_find(nmm_station *s, const char *name, nmm_node *n)
{
	if (!akm_fmt_name_ok(name))
		return akm_report(AKM_RC_REFUSED, name, "not a node name (1-64 characters of A-Z a-z 0-9 . _ -)");
	int r = nmm_node_lookup(s, name, n);
	if (r < 0)
		return akm_report(AKM_RC_TOKEN, name, "%s", s->p.err);
	if (r == 0)
		return akm_report(AKM_RC_NOT_FOUND, name, "no such node in this station");
	return AKM_RC_OK;
}

int nmm_node_mac(nmm_station *s, nmm_node *n)
{
	CK_ULONG purpose = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_RELATIONSHIP_ID, n->pr_id, n->pr_id_len},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
	};
	size_t found = 0;
	if (akm_p11_find(&s->p, t, 2, &n->mac, 1, &found) != 0)
		return -1;
	if (found == 0) {
		snprintf(s->p.err, sizeof s->p.err, "the MAC key of node %s is missing", n->name);
		return -1;
	}
	return 0;
}

int nmm_node_all(nmm_station *s, CK_ULONG state, CK_OBJECT_HANDLE **keys, size_t *count)
{
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING, purpose = CKV_AKM_PURPOSE_ENCRYPT;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
		{CKA_AKM_STATE, &state, sizeof state},
	};
	return akm_p11_find_all(&s->p, t, state ? 4 : 3, keys, count);
}

/* ---- changing ---- */

CK_RV nmm_node_set(nmm_station *s, const nmm_node *n, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
	CK_ATTRIBUTE t[] = {{type, &value, sizeof value}};
	return s->p.f->C_SetAttributeValue(s->p.session, n->enc, t, 1);
}

int nmm_node_raise_status(nmm_station *s, nmm_node *n, CK_ULONG status)
{
	if (n->status >= status)
		return 0;
	CK_RV rv = nmm_node_set(s, n, CKA_AKM_STATUS, status);
	if (rv != CKR_OK) {
		akm_p11_fail(&s->p, "C_SetAttributeValue(CKA_AKM_STATUS)", rv, n->name);
		return akm_report(-1, n->name, "%s", s->p.err);
	}
	n->status = status;
	return 0;
}

int nmm_node_change_state(nmm_station *s, const char *name, CK_ULONG to, const char *action,
                          const char *reason, CK_ULONG *from)
{
	nmm_node n;
	int code = nmm_node_find(s, name, &n);
	if (code != AKM_RC_OK)
		return code;
	*from = n.state;
	/* Back to active: approve takes a pending node, reinstate a
	 * suspended (quarantined) one; the module refuses any other move in
	 * the same call that makes it. */
	bool reinstate = strcmp(action, "reinstate") == 0;
	if (to == CKV_AKM_STATE_ACTIVE && !reinstate && n.state != CKV_AKM_STATE_PENDING)
		return akm_report(AKM_RC_REFUSED, name, "not pending approval (it is %s)", nmm_state_name(n.state));
	if (to == CKV_AKM_STATE_ACTIVE && reinstate && n.state != CKV_AKM_STATE_SUSPENDED)
		return akm_report(AKM_RC_REFUSED, name, "not quarantined (it is %s): only a suspended node is reinstated",
		                  nmm_state_name(n.state));
	if (to == CKV_AKM_STATE_REVOKED && n.state == CKV_AKM_STATE_REVOKED)
		return akm_report(AKM_RC_REFUSED, name, "already revoked");
	CK_RV rv = nmm_node_set(s, &n, CKA_AKM_STATE, to);
	if (rv != CKR_OK)
		return akm_report(rv == CKR_ATTRIBUTE_VALUE_INVALID ? AKM_RC_REFUSED : AKM_RC_TOKEN, name,
		                  "C_SetAttributeValue(CKA_AKM_STATE): %s", akm_rv_name(rv));
	if (reason)
		rv = nmm_audit_node(s, &n, action, CKR_OK, "from=%s; reason=%s", nmm_state_name(n.state), reason);
	else
		rv = nmm_audit_node(s, &n, action, CKR_OK, "from=%s", nmm_state_name(n.state));
	return rv == CKR_OK ? AKM_RC_OK : AKM_RC_TOKEN;
}

int nmm_node_open_active(nmm_station *s, const char *name, nmm_node *n)
{
	int code = nmm_node_find(s, name, n);
	if (code != AKM_RC_OK)
		return code;
	if (n->state == CKV_AKM_STATE_PENDING)
		return akm_report(AKM_RC_REFUSED, n->name, "pending approval: run akm-nmm approve %s first", n->name);
	if (n->state != CKV_AKM_STATE_ACTIVE)
		return akm_report(AKM_RC_REFUSED, n->name, "the relationship is %s, not active", nmm_state_name(n->state));
	if (nmm_node_mac(s, n) != 0)
		return akm_report(AKM_RC_TOKEN, n->name, "%s", s->p.err);
	return AKM_RC_OK;
}

/* ---- listing ---- */

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const nmm_node *)a)->name, ((const nmm_node *)b)->name);
}

int nmm_node_list(nmm_station *s, bool pending_only, const char *what, nmm_node **nodes, size_t *count)
{
	CK_OBJECT_HANDLE *keys = NULL;
	*nodes = NULL;
	*count = 0;
	if (nmm_node_all(s, pending_only ? CKV_AKM_STATE_PENDING : 0, &keys, count) != 0)
		return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	*nodes = calloc(*count ? *count : 1, sizeof **nodes);
	int code = AKM_RC_OK;
	if (*nodes == NULL)
		code = akm_report(AKM_RC_FILES, what, "out of memory");
	for (size_t i = 0; code == AKM_RC_OK && i < *count; i++)
		if (nmm_node_read(s, keys[i], &(*nodes)[i]) != 0)
			code = akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	free(keys);
	if (code == AKM_RC_OK)
		qsort(*nodes, *count, sizeof **nodes, cmp_node);
	return code;
}

/* ---- listing one at a time ---- */

/* Whether `name` continues the first xlen bytes of x with '-' or '.' (its
 * label sorts before "x/enc"). */
static bool continues(const char *name, const char *x, size_t xlen)
{
	return strncmp(name, x, xlen) == 0 && (name[xlen] == '-' || name[xlen] == '.');
}

int nmm_node_stream_open(nmm_station *s, nmm_node_stream *st)
{
	memset(st, 0, sizeof *st);
	st->s = s;
	st->search = s->p.session;
	CK_RV rv = s->p.f->C_OpenSession(s->p.slot, CKF_SERIAL_SESSION, NULL, NULL, &st->side);
	if (rv != CKR_OK)
		return akm_p11_fail(&s->p, "C_OpenSession", rv, "a second session for lookups while listing");
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING, purpose = CKV_AKM_PURPOSE_ENCRYPT;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
	};
	if ((rv = s->p.f->C_FindObjectsInit(st->search, t, 3)) != CKR_OK) {
		s->p.f->C_CloseSession(st->side);
		st->side = CK_INVALID_HANDLE;
		return akm_p11_fail(&s->p, "C_FindObjectsInit", rv, "listing the nodes");
	}
	st->searching = true;
	return 0;
}

/* The search's next node into *n: 1, 0 at its end, -1. */
static int search_next(nmm_node_stream *st, nmm_node *n)
{
	nmm_station *s = st->s;
	if (st->pos == st->nfound) {
		CK_ULONG got = 0;
		CK_RV rv = s->p.f->C_FindObjects(st->search, st->found, 64, &got);
		if (rv != CKR_OK)
			return akm_p11_fail(&s->p, "C_FindObjects", rv, "listing the nodes");
		st->nfound = got;
		st->pos = 0;
		if (got == 0)
			return 0;
	}
	return nmm_node_read(s, st->found[st->pos++], n) == 0 ? 1 : -1;
}

/* Calls that search go through the second session (the listing's search
 * holds the first). */
static void side_begin(nmm_node_stream *st)
{
	st->s->p.session = st->side;
}

static void side_end(nmm_node_stream *st)
{
	st->s->p.session = st->search;
}

int nmm_node_stream_next(nmm_node_stream *st, nmm_node *n)
{
	while (st->qpos == st->nqueue) {
		nmm_node y;
		int r = search_next(st, &y);
		if (r <= 0)
			return r;
		st->nqueue = st->qpos = 0;
		size_t ylen = strlen(y.name);
		/* The names before y in label order that continue it came
		 * first: y was given before the first of them. */
		bool given = continues(st->prev, y.name, ylen);
		/* The names y continues come before it, the shortest first,
		 * each when y is the first (in label order) to continue it. */
		for (size_t i = 1; !given && i < ylen && r >= 0; i++) {
			if ((y.name[i] != '-' && y.name[i] != '.') || continues(st->prev, y.name, i))
				continue;
			char x[AKM_FMT_NAME_MAX + 1];
			snprintf(x, sizeof x, "%.*s", (int)i, y.name);
			side_begin(st);
			r = nmm_node_lookup(st->s, x, &st->queue[st->nqueue]);
			side_end(st);
			if (r > 0)
				st->nqueue++;
		}
		if (r < 0)
			return -1;
		snprintf(st->prev, sizeof st->prev, "%s", y.name);
		if (!given)
			st->queue[st->nqueue++] = y;
	}
	*n = st->queue[st->qpos++];
	return 1;
}

int nmm_node_stream_verification(nmm_node_stream *st, const nmm_node *n, struct nmm_last_verify *v)
{
	side_begin(st);
	int r = nmm_last_verification(st->s, n, v);
	side_end(st);
	return r;
}

void nmm_node_stream_close(nmm_node_stream *st)
{
	nmm_station *s = st->s;
	if (s == NULL)
		return;
	if (st->searching)
		s->p.f->C_FindObjectsFinal(st->search);
	if (st->side != CK_INVALID_HANDLE)
		s->p.f->C_CloseSession(st->side);
	st->searching = false;
	st->side = CK_INVALID_HANDLE;
}

int nmm_node_approval(nmm_station *s, const nmm_node *n, const char *what, nmm_approval *a)
{
	memset(a, 0, sizeof *a);
	if (n->has_node_key) {
		uint8_t fp[32];
		crypto_hash_sha256(fp, n->node_key, sizeof n->node_key);
		akm_hex_encode(fp, sizeof fp, a->key_fingerprint);
	}
	nmm_node *all = NULL;
	size_t count = 0;
	int code = nmm_node_list(s, false, what, &all, &count);
	if (code != AKM_RC_OK)
		return code;
	for (size_t i = 0; i < count; i++) {
		const nmm_node *o = &all[i];
		if (strcmp(o->name, n->name) == 0 || o->state == CKV_AKM_STATE_REVOKED ||
		    !akm_bytes_equal(o->hw, o->hw_len, n->hw, n->hw_len))
			continue;
		if (a->reused < sizeof a->reused_names / sizeof a->reused_names[0])
			snprintf(a->reused_names[a->reused], sizeof a->reused_names[0], "%s", o->name);
		a->reused++;
	}
	free(all);
	return AKM_RC_OK;
}

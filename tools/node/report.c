/*
 * The node's check-in report (node.h, docs/protocol.md §4 "Events at
 * check-in"): the breach records of the node's own registry since the last
 * report the station accepted, aggregated, and per ASR the messages this
 * node sealed in the generation it holds.  Everything through akm-pkcs11
 * (the audit trail record by record, the ASR keys' CKA_AKM_SEQUENCE); the
 * cursor is one data object of the node's token, written only after the
 * station's DONE.
 */
#include "node/node.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"
#include "shared/bytes.h"
#include "shared/trail.h"

#define CURSOR_LABEL "akm-node report cursor"
#define CURSOR_MAX 4096

/* ---- the cursor: "through N" then "asr <hex ID> <generation> <reserve at its start>" lines ---- */

typedef struct cursor_asr {
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len;
	uint32_t gen;
	uint64_t base;
} cursor_asr;

typedef struct cursor {
	bool exists;            /* the object is there */
	bool found;             /* ... and parses */
	CK_OBJECT_HANDLE obj;
	uint64_t through;
	size_t nasr;
	cursor_asr asr[AKM_PROTO_HELD_MAX];
} cursor;

static int cursor_find(akm_p11 *node, CK_OBJECT_HANDLE *h, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_APPLICATION, (void *)AKM_NODE_APPLICATION, sizeof AKM_NODE_APPLICATION - 1},
		{CKA_LABEL, (void *)CURSOR_LABEL, sizeof CURSOR_LABEL - 1},
	};
	return akm_p11_find(node, t, 3, h, 1, n);
}

/* 0 read (c->found false when there is none or it does not parse: the
 * report then starts at the trail's first record), -1 token failure. */
static int cursor_read(akm_p11 *node, cursor *c)
{
	memset(c, 0, sizeof *c);
	size_t n;
	if (cursor_find(node, &c->obj, &n) != 0)
		return -1;
	if (n == 0)
		return 0;
	c->exists = true;
	uint8_t *v;
	size_t len;
	if (akm_p11_get_bytes(node, c->obj, CKA_VALUE, &v, &len) != 0)
		return -1;
	char text[CURSOR_MAX + 1];
	len = len < CURSOR_MAX ? len : CURSOR_MAX;
	memcpy(text, v, len);
	text[len] = '\0';
	free(v);
	char *save = NULL;
	bool ok = false;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[2 * AKM_FMT_ID_MAX + 1];
		unsigned long gen;
		unsigned long long base, through;
		if (sscanf(line, "through %llu", &through) == 1) {
			c->through = through;
			ok = true;
		} else if (sscanf(line, "asr %64s %lu %llu", hex, &gen, &base) == 3 && c->nasr < AKM_PROTO_HELD_MAX) {
			cursor_asr *a = &c->asr[c->nasr];
			if (akm_hex_decode(hex, a->id, sizeof a->id, &a->id_len) != 0 || a->id_len == 0)
				continue;
			a->gen = (uint32_t)gen;
			a->base = base;
			c->nasr++;
		}
	}
	c->found = ok;
	return 0;
}

static const cursor_asr *cursor_asr_of(const cursor *c, const uint8_t *id, size_t id_len, uint32_t gen)
{
	for (size_t i = 0; i < c->nasr; i++)
		if (c->asr[i].gen == gen && akm_bytes_equal(c->asr[i].id, c->asr[i].id_len, id, id_len))
			return &c->asr[i];
	return NULL;
}

/* ---- the node's breach records as events ---- */

/* The kind of a record (0: not a breach signal reported).  asr-refused
 * details are the module's: "open: <why> (sender S gen G step T seq Q)",
 * "enroll: <why>", "rekey: <why>" (docs/asr.md §4). */
static uint8_t kind_of(const akm_trail_rec *r, uint32_t *sender, uint32_t *gen)
{
	*sender = AKM_PROTO_NO_SENDER;
	*gen = 0;
	const char *a = r->action;
	if (strcmp(a, "login") == 0 || strcmp(a, "login-refused") == 0)
		return strcmp(r->actor, "app") == 0 ? 0 : AKM_EVENT_WRONG_PIN;
	if (strcmp(r->actor, "app") == 0)
		return 0; /* applications' records are theirs, not the module's */
	if (strcmp(a, "decrypt-failed") == 0 || strcmp(a, "verify-failed") == 0)
		return AKM_EVENT_KEY_FAILURE;
	if (strcmp(a, "tamper-detected") == 0)
		return AKM_EVENT_TAMPER;
	if (strcmp(a, "rollback-detected") == 0)
		return AKM_EVENT_ROLLBACK;
	if (strcmp(a, "unwrap-failed") == 0)
		return AKM_EVENT_BUNDLE_REFUSED;
	if (strcmp(a, "use-refused") == 0 || strcmp(a, "export-refused") == 0 || strcmp(a, "unknown-relationship") == 0)
		return AKM_EVENT_OTHER;
	if (strcmp(a, "asr-refused") != 0)
		return 0;
	if (strncmp(r->detail, "open: ", 6) != 0)
		return AKM_EVENT_BUNDLE_REFUSED; /* a package or rekey message */
	const char *p = strstr(r->detail, "(sender ");
	unsigned long s, g;
	if (p != NULL && sscanf(p, "(sender %lu gen %lu", &s, &g) == 2) {
		*sender = (uint32_t)s;
		*gen = (uint32_t)g;
	}
	const char *why = r->detail + 6;
	if (strncmp(why, "bad tag", 7) == 0)
		return AKM_EVENT_FORGED;
	if (strncmp(why, "replay", 6) == 0)
		return AKM_EVENT_REPLAY;
	if (strncmp(why, "our own sender index", 20) == 0 || strncmp(why, "sender out of range", 19) == 0)
		return AKM_EVENT_NOT_MEMBER;
	if (strncmp(why, "older generation", 16) == 0 || strncmp(why, "newer generation", 16) == 0 ||
	    strncmp(why, "a step whose key", 16) == 0 || strncmp(why, "too many steps", 14) == 0)
		return AKM_EVENT_STALE;
	return AKM_EVENT_OTHER;
}

/* The bytes of the payload before the aggregated events: a check-in's
 * VERIFY (held list, sealed counts) or a REPORT (the operator's events). */
static size_t fixed_len(const akm_proto_node_rec *r)
{
	size_t n = 32 + 8 + 1;
	if (r->nevents > 0) {
		n += 2;
		for (size_t i = 0; i < r->nevents; i++)
			n += 2 + 4 + 8 + 1 + strnlen(r->events[i].detail, sizeof r->events[i].detail);
		return n;
	}
	n += 1;
	for (size_t i = 0; i < r->nheld; i++)
		n += 1 + r->held[i].asr_id_len + 4 + 4;
	return n;
}

int akm_node_report_build(akm_p11 *node, akm_proto_node_rec *r, char *err, size_t errlen)
{
	cursor c;
	if (cursor_read(node, &c) != 0) {
		snprintf(err, errlen, "the report cursor: %s", node->err);
		return AKM_RC_TOKEN;
	}
	r->has_report = true;
	/* Per held ASR: the sealing reserve now, less the one when this node
	 * first saw the generation (at most 1,024 above what was sealed per
	 * process that sealed: an upper bound, docs/protocol.md §4). */
	for (size_t i = 0; i < r->nheld; i++) {
		akm_node_asr a;
		CK_ULONG seq = 0;
		r->sealed[i] = 0;
		if (akm_node_asr_find(node, NULL, r->held[i].asr_id, r->held[i].asr_id_len, &a) != 1 ||
		    akm_p11_get_ulong(node, a.key, CKA_AKM_SEQUENCE, &seq) != 0)
			continue;
		const cursor_asr *ca = cursor_asr_of(&c, r->held[i].asr_id, r->held[i].asr_id_len, r->held[i].gen);
		uint64_t base = ca != NULL && ca->base <= seq ? ca->base : seq;
		uint64_t d = seq - base;
		r->sealed[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
	/* The records since the cursor, at most AKM_NODE_REPORT_SCAN of them,
	 * aggregated by (kind, ASR, sender, generation) while they fit. */
	uint64_t head = akm_trail_head(node);
	/* No cursor yet (or one that does not parse): from the first record.
	 * A trail shorter than the cursor is a new registry: from its first. */
	uint64_t from = c.found && c.through <= head ? c.through + 1 : 1;
	size_t room = AKM_PROTO_BODY_MAX - AKM_PROTO_RECORD_MIN, used = fixed_len(r);
	r->ncevents = 0;
	r->through = from - 1;
	akm_trail_rec *rec = malloc(sizeof *rec);
	if (rec == NULL) {
		snprintf(err, errlen, "out of memory");
		return AKM_RC_TOKEN;
	}
	for (uint64_t seq = from; seq <= head && seq - from < AKM_NODE_REPORT_SCAN; seq++) {
		if (akm_trail_read(node, seq, rec) != 1)
			break;
		uint32_t sender, gen;
		uint8_t kind = kind_of(rec, &sender, &gen);
		if (kind != 0) {
			akm_proto_cevent e = {kind, 1, rec->time, sender, gen, {0}, 0};
			if (rec->rid_len <= AKM_FMT_ID_MAX && strncmp(rec->action, "asr-", 4) == 0)
				memcpy(e.asr_id, rec->rid, e.asr_id_len = rec->rid_len);
			akm_proto_cevent *same = NULL;
			for (size_t k = 0; k < r->ncevents && same == NULL; k++) {
				akm_proto_cevent *o = &r->cevents[k];
				if (o->kind == e.kind && o->sender == e.sender && o->gen == e.gen &&
				    akm_bytes_equal(o->asr_id, o->asr_id_len, e.asr_id, e.asr_id_len))
					same = o;
			}
			if (same != NULL) {
				same->count += same->count < UINT32_MAX;
				same->time = e.time;
			} else {
				if (r->ncevents == AKM_PROTO_CEVENTS_MAX || used + akm_proto_cevent_len(&e) > room)
					break; /* the rest next time */
				used += akm_proto_cevent_len(&e);
				r->cevents[r->ncevents++] = e;
			}
		}
		r->through = seq;
	}
	free(rec);
	return AKM_RC_OK;
}

int akm_node_report_done(akm_p11 *node, const akm_proto_node_rec *r, char *err, size_t errlen)
{
	cursor c;
	if (cursor_read(node, &c) != 0) {
		snprintf(err, errlen, "the report cursor: %s", node->err);
		return AKM_RC_TOKEN;
	}
	char text[CURSOR_MAX];
	int len = snprintf(text, sizeof text, "through %" PRIu64 "\n", r->through);
	/* Each membership's generation now (after what this check-in
	 * enrolled), with the reserve when it was first seen. */
	akm_node_asr *v = NULL;
	size_t n = 0;
	if (akm_node_asr_list(node, &v, &n) != 0) {
		snprintf(err, errlen, "listing the node's ASRs: %s", node->err);
		return AKM_RC_TOKEN;
	}
	for (size_t i = 0; i < n && i < AKM_PROTO_HELD_MAX; i++) {
		uint32_t gen = (uint32_t)(v[i].epoch >> 32);
		const cursor_asr *ca = cursor_asr_of(&c, v[i].id, v[i].id_len, gen);
		CK_ULONG seq = 0;
		if (ca == NULL && akm_p11_get_ulong(node, v[i].key, CKA_AKM_SEQUENCE, &seq) != 0)
			seq = 0;
		char hex[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(v[i].id, v[i].id_len, hex);
		len += snprintf(text + len, sizeof text - (size_t)len, "asr %s %" PRIu32 " %" PRIu64 "\n", hex, gen,
		                ca != NULL ? ca->base : (uint64_t)seq);
	}
	free(v);
	CK_RV rv;
	if (c.exists) {
		CK_ATTRIBUTE t = {CKA_VALUE, text, (CK_ULONG)len};
		rv = node->f->C_SetAttributeValue(node->session, c.obj, &t, 1);
		if (rv == CKR_OK)
			return AKM_RC_OK;
		node->f->C_DestroyObject(node->session, c.obj); /* not modifiable in this token: made again */
	}
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_PRIVATE, &yes, sizeof yes},
		{CKA_APPLICATION, (void *)AKM_NODE_APPLICATION, sizeof AKM_NODE_APPLICATION - 1},
		{CKA_LABEL, (void *)CURSOR_LABEL, sizeof CURSOR_LABEL - 1},
		{CKA_VALUE, text, (CK_ULONG)len},
	};
	CK_OBJECT_HANDLE h;
	rv = node->f->C_CreateObject(node->session, t, sizeof t / sizeof t[0], &h);
	if (rv != CKR_OK) {
		akm_p11_fail(node, "C_CreateObject", rv, "the report cursor");
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	return AKM_RC_OK;
}

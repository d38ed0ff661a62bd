/*
 * The station's audit trail (station.h): the records the station appends
 * (CKO_AKM_AUDIT_RECORD objects through akm-pkcs11.so, the detail starting
 * with the site metadata), reading them, and checking the AKM-AUDIT-1 hash
 * chain (lib/audit.h, docs/formats.md) against the token's head.
 */
#include "station/station.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/audit.h"
#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/rv.h"

/* ---- the station's signature on its records ---- */

/* SHA-256("AKM-NMM-AUDIT-1" || u8 len || action || u8 len || rid ||
 * u64 result || u16 len || detail), detail being the record's detail up to
 * the signature field (it ends with "; t=<unix time>"). */
static void sig_digest(const char *action, size_t action_len, const uint8_t *rid, size_t rid_len, CK_ULONG result,
                       const char *detail, size_t detail_len, uint8_t digest[32])
{
	crypto_hash_sha256_state st;
	uint8_t n8, b[8];
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)NMM_AUDIT_SIG_CONTEXT, strlen(NMM_AUDIT_SIG_CONTEXT));
	n8 = (uint8_t)(action_len > 255 ? 255 : action_len);
	crypto_hash_sha256_update(&st, &n8, 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)action, n8);
	n8 = (uint8_t)(rid_len > 255 ? 255 : rid_len);
	crypto_hash_sha256_update(&st, &n8, 1);
	if (n8)
		crypto_hash_sha256_update(&st, rid, n8);
	uint64_t r = result;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(r >> (56 - 8 * i));
	crypto_hash_sha256_update(&st, b, 8);
	uint16_t dl = (uint16_t)(detail_len > 65535 ? 65535 : detail_len);
	b[0] = (uint8_t)(dl >> 8);
	b[1] = (uint8_t)dl;
	crypto_hash_sha256_update(&st, b, 2);
	crypto_hash_sha256_update(&st, (const uint8_t *)detail, dl);
	crypto_hash_sha256_final(&st, digest);
}

const char *nmm_audit_sig_name(nmm_audit_sig v)
{
	switch (v) {
	case NMM_AUDIT_SIG_MODULE: return "module";
	case NMM_AUDIT_SIG_VALID: return "valid";
	case NMM_AUDIT_SIG_MISSING: return "missing";
	case NMM_AUDIT_SIG_INVALID: return "invalid";
	case NMM_AUDIT_SIG_TIME: return "time differs";
	}
	return "?";
}

size_t nmm_audit_detail_shown(const nmm_audit_rec *r)
{
	const char *sig = strstr(r->detail, NMM_AUDIT_SIG_FIELD);
	return sig ? (size_t)(sig - r->detail) : r->detail_len;
}

nmm_audit_sig nmm_audit_check_sig(nmm_station *s, const nmm_audit_rec *r)
{
	/* The module's own records carry its actor, which no application
	 * can claim; the applications' records all say "app". */
	if (r->actor_len != 3 || memcmp(r->actor, "app", 3) != 0)
		return NMM_AUDIT_SIG_MODULE;
	const char *sig = strstr(r->detail, NMM_AUDIT_SIG_FIELD);
	if (sig == NULL)
		return NMM_AUDIT_SIG_MISSING;
	size_t signed_len = (size_t)(sig - r->detail);
	const char *hex = sig + strlen(NMM_AUDIT_SIG_FIELD);
	uint8_t raw[64];
	size_t n = 0;
	if (strlen(hex) != 128 || akm_hex_decode(hex, raw, sizeof raw, &n) != 0 || n != 64)
		return NMM_AUDIT_SIG_INVALID;
	uint8_t digest[32];
	sig_digest(r->action, r->action_len, r->rid, r->rid_len, r->result, r->detail, signed_len, digest);
	const struct nmm_audit_own *own = &s->own[r->seq % NMM_AUDIT_OWN];
	if (own->seq != r->seq || r->seq == 0 || memcmp(own->digest, digest, sizeof digest) != 0) {
		CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
		CK_RV rv = s->p.f->C_VerifyInit(s->p.session, &mech, s->pub);
		if (rv == CKR_OK)
			rv = s->p.f->C_Verify(s->p.session, digest, sizeof digest, raw, sizeof raw);
		if (rv != CKR_OK)
			return NMM_AUDIT_SIG_INVALID;
	}
	/* The time the station signed, against the module's time of the
	 * record: a signed detail copied into a later record does not pass. */
	const char *t = NULL;
	for (const char *p = r->detail; (p = strstr(p, "; t=")) != NULL && p < sig; p += 4)
		t = p + 4;
	unsigned long long when = t ? strtoull(t, NULL, 10) : 0;
	long long diff = (long long)when - (long long)r->time;
	if (t == NULL || diff > NMM_AUDIT_SIG_SKEW || diff < -NMM_AUDIT_SIG_SKEW)
		return NMM_AUDIT_SIG_TIME;
	return NMM_AUDIT_SIG_VALID;
}

/* ---- appending ---- */

static CK_RV audit_v(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                     const char *site, const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
static CK_RV audit_v(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                     const char *site, const char *fmt, va_list ap)
{
	/* The detail, then "; t=<now>" and the station's signature: room
	 * kept for them (NMM_AUDIT_SIG_ROOM). */
	char detail[512 + NMM_AUDIT_SIG_ROOM];
	const size_t body = 512;
	int used = snprintf(detail, body, "%s", site);
	if (used < 0)
		used = 0;
	if ((size_t)used < body && fmt != NULL && *fmt != '\0') {
		int more = snprintf(detail + used, body - (size_t)used, "; ");
		if (more > 0 && (size_t)(used + more) < body) {
			used += more;
			vsnprintf(detail + used, body - (size_t)used, fmt, ap);
		}
	}
	size_t dl = strlen(detail);
	snprintf(detail + dl, sizeof detail - dl, "; t=%llu", (unsigned long long)time(NULL));
	dl = strlen(detail);
	uint8_t digest[32], sig[64];
	sig_digest(action, strlen(action), rid, rid_len, result, detail, dl, digest);
	bool signed_ = akm_p11_sign_digest(&s->p, s->priv, digest, sig) == 0;
	if (signed_) {
		char hex[129];
		akm_hex_encode(sig, sizeof sig, hex);
		snprintf(detail + dl, sizeof detail - dl, "%s%s", NMM_AUDIT_SIG_FIELD, hex);
	} else {
		akm_report(0, "audit", "cannot sign the \"%s\" record: %s", action, s->p.err);
	}
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ULONG res = result;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_AKM_AUDIT_ACTION, (void *)action, strlen(action)},
		{CKA_AKM_AUDIT_DETAIL, detail, strlen(detail)},
		{CKA_AKM_AUDIT_RESULT, &res, sizeof res},
		{CKA_AKM_RELATIONSHIP_ID, (void *)rid, rid_len},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->p.f->C_CreateObject(s->p.session, t, rid_len ? 6 : 5, &h);
	if (rv != CKR_OK)
		akm_report(0, "audit", "cannot append the \"%s\" record: %s", action, akm_rv_name(rv));
	else if (signed_ && h > AKM_TRAIL_HANDLE(0)) {
		struct nmm_audit_own *own = &s->own[(h - AKM_TRAIL_HANDLE(0)) % NMM_AUDIT_OWN];
		own->seq = h - AKM_TRAIL_HANDLE(0);
		memcpy(own->digest, digest, sizeof digest);
	}
	return rv;
}

CK_RV nmm_audit(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                const char *fmt, ...)
{
	char site[2 * NMM_SITE_MAX + 32];
	nmm_station_site(s, site, sizeof site);
	va_list ap;
	va_start(ap, fmt);
	CK_RV rv = audit_v(s, action, rid, rid_len, result, site, fmt, ap);
	va_end(ap);
	return rv;
}

CK_RV nmm_audit_node(nmm_station *s, const nmm_node *n, const char *action, CK_RV result, const char *fmt, ...)
{
	char site[sizeof n->site + 2 * NMM_SITE_MAX + AKM_FMT_NAME_MAX + 64];
	if (n->site[0] != '\0')
		snprintf(site, sizeof site, "%s; node=%s", n->site, n->name);
	else {
		char st[2 * NMM_SITE_MAX + 32];
		nmm_station_site(s, st, sizeof st);
		snprintf(site, sizeof site, "%s; node=%s", st, n->name);
	}
	va_list ap;
	va_start(ap, fmt);
	CK_RV rv = audit_v(s, action, n->pr_id, n->pr_id_len, result, site, fmt, ap);
	va_end(ap);
	return rv;
}

/* Forwards to audit_v with a va_list (for nmm_audit_first's second part). */
static CK_RV audit_l(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                     const char *lead, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static CK_RV audit_l(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                     const char *lead, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	CK_RV rv = audit_v(s, action, rid, rid_len, result, lead, fmt, ap);
	va_end(ap);
	return rv;
}

CK_RV nmm_audit_first(nmm_station *s, const nmm_node *n, const char *action, const uint8_t *rid, size_t rid_len,
                      CK_RV result, const char *fmt, ...)
{
	char lead[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lead, sizeof lead, fmt, ap);
	va_end(ap);
	char site[sizeof n->site + 2 * NMM_SITE_MAX + AKM_FMT_NAME_MAX + 64];
	if (n != NULL && n->site[0] != '\0') {
		snprintf(site, sizeof site, "%s; node=%s", n->site, n->name);
	} else {
		char st[2 * NMM_SITE_MAX + 32];
		nmm_station_site(s, st, sizeof st);
		if (n != NULL)
			snprintf(site, sizeof site, "%s; node=%s", st, n->name);
		else
			snprintf(site, sizeof site, "%s", st);
	}
	if (n != NULL) {
		rid = n->pr_id;
		rid_len = n->pr_id_len;
	}
	return audit_l(s, action, rid, rid_len, result, lead, "%s", site);
}

/* ---- reading ---- */

int nmm_audit_read(nmm_station *s, CK_OBJECT_HANDLE h, nmm_audit_rec *r)
{
	memset(r, 0, sizeof *r);
	CK_ATTRIBUTE a[] = {
		{CKA_AKM_AUDIT_SEQ, &r->seq, sizeof r->seq},
		{CKA_AKM_AUDIT_TIME, &r->time, sizeof r->time},
		{CKA_AKM_AUDIT_RESULT, &r->result, sizeof r->result},
		{CKA_AKM_AUDIT_ACTOR, r->actor, sizeof r->actor - 1},
		{CKA_AKM_AUDIT_ACTION, r->action, sizeof r->action - 1},
		{CKA_AKM_AUDIT_DETAIL, r->detail, sizeof r->detail - 1},
		{CKA_AKM_RELATIONSHIP_ID, r->rid, sizeof r->rid},
		{CKA_AKM_AUDIT_PREV, r->prev, sizeof r->prev},
		{CKA_AKM_AUDIT_HASH, r->hash, sizeof r->hash},
	};
	CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, h, a, sizeof a / sizeof a[0]);
	if (rv != CKR_OK)
		return akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "reading an audit record");
	r->actor_len = a[3].ulValueLen;
	r->action_len = a[4].ulValueLen;
	r->detail_len = a[5].ulValueLen;
	r->rid_len = a[6].ulValueLen;
	r->actor[r->actor_len] = r->action[r->action_len] = r->detail[r->detail_len] = '\0';
	return 0;
}

int nmm_audit_find(nmm_station *s, const nmm_node *n, CK_OBJECT_HANDLE **h, size_t *count)
{
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_RELATIONSHIP_ID, n ? (void *)n->pr_id : NULL, n ? n->pr_id_len : 0},
	};
	return akm_p11_find_all(&s->p, t, n ? 2 : 1, h, count);
}

/* ---- checking the chain ---- */

int nmm_audit_verify(nmm_station *s, const CK_OBJECT_HANDLE *h, size_t count, nmm_audit_check *c)
{
	memset(c, 0, sizeof *c);
	/* The token's head: u64 seq || the hash of that record. */
	uint8_t head[8 + AKM_AUDIT_HASH_LEN] = {0};
	akm_audit_chain chain;
	akm_audit_chain_init(&chain);
	uint64_t last_seq = 0;
	bool have_head = false, head_found = false;
	for (size_t i = 0; i < count && c->why[0] == '\0'; i++) {
		nmm_audit_rec r;
		if (nmm_audit_read(s, h[i], &r) != 0)
			return akm_report(AKM_RC_TOKEN, "audit", "%s", s->p.err);
		if (!have_head) {
			CK_ATTRIBUTE a = {CKA_AKM_AUDIT_TOKEN_HEAD, head, sizeof head};
			CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, h[i], &a, 1);
			if (rv != CKR_OK || a.ulValueLen != sizeof head)
				return akm_report(AKM_RC_TOKEN, "audit",
				                  "cannot read the token's audit head (CKA_AKM_AUDIT_TOKEN_HEAD): %s",
				                  akm_rv_name(rv));
			have_head = true;
			akm_buf_reader hr;
			akm_buf_reader_init(&hr, head, sizeof head);
			c->head_seq = akm_buf_get_u64(&hr);
		}
		akm_audit_entry e = {(int64_t)r.seq, (int64_t)r.time, r.actor, r.actor_len, r.action, r.action_len,
		                     r.rid, r.rid_len, r.result, r.detail, r.detail_len};
		if (akm_audit_chain_next(&chain, &e, r.prev, sizeof r.prev, r.hash, sizeof r.hash, c->why,
		                         sizeof c->why) != 0) {
			c->bad = (uint64_t)chain.records + 1;
			break;
		}
		if (r.seq == c->head_seq) {
			if (sodium_memcmp(head + 8, r.hash, AKM_AUDIT_HASH_LEN) != 0) {
				c->bad = r.seq;
				snprintf(c->why, sizeof c->why, "the token's audit head does not match record %llu",
				         (unsigned long long)r.seq);
				break;
			}
			head_found = true;
		}
		last_seq = r.seq;
	}
	if (c->why[0] == '\0' && c->head_seq != 0 && !head_found) {
		c->bad = last_seq + 1;
		snprintf(c->why, sizeof c->why,
		         "records removed at the end: the token's head is record %llu, the chain ends at %llu",
		         (unsigned long long)c->head_seq, (unsigned long long)last_seq);
	}
	c->valid = c->why[0] == '\0';
	return AKM_RC_OK;
}

/* ---- the last verification of nodes ---- */

int nmm_audit_verification(const nmm_audit_rec *r, nmm_last_verify *v)
{
	const char *a = r->action;
	bool exchange = strcmp(a, "activate") == 0 || strcmp(a, "checkin") == 0 || strcmp(a, "report") == 0;
	bool failed = strcmp(a, "node-verify-failed") == 0 || strcmp(a, "act-bad-proof") == 0 ||
	              strcmp(a, "clone-signal") == 0;
	int says;
	if (strcmp(a, "verify") == 0)
		says = r->result == CKR_OK ? 1 : -1;
	else if (failed)
		says = -1;
	else if (exchange && strstr(r->detail, "; verified") != NULL)
		says = 1;
	else
		return 0;
	memset(v, 0, sizeof *v);
	v->known = true;
	v->ok = says > 0;
	v->time = r->time;
	v->seq = r->seq;
	snprintf(v->action, sizeof v->action, "%.31s", a);
	/* The detail: "<site metadata>; node=NAME; <what happened>". */
	const char *why = strstr(r->detail, "; node=");
	why = why ? strstr(why + 7, "; ") : NULL;
	why = why ? why + 2 : r->detail;
	/* Without the station's time and signature fields. */
	const char *end = r->detail + nmm_audit_detail_shown(r);
	const char *t = strstr(why, "; t=");
	if (t != NULL && t < end)
		end = t;
	int wl = end > why ? (int)(end - why) : 0;
	if (!v->ok && r->result != CKR_OK)
		snprintf(v->reason, sizeof v->reason, "%s: %.*s", akm_rv_name(r->result), wl < 100 ? wl : 100, why);
	else
		snprintf(v->reason, sizeof v->reason, "%.*s", wl < 150 ? wl : 150, why);
	return says;
}

/* What record h says of its node's last verification, into *v when it
 * says something (a verdict counts only from the station's own signed
 * record; the signature is checked for verdict records only).  0 or -1. */
static int record_verdict(nmm_station *s, CK_OBJECT_HANDLE h, nmm_audit_rec *r, nmm_last_verify *v)
{
	if (nmm_audit_read(s, h, r) != 0)
		return -1;
	nmm_last_verify says;
	if (r->rid_len != 0 && nmm_audit_verification(r, &says) != 0 && nmm_audit_check_sig(s, r) == NMM_AUDIT_SIG_VALID)
		*v = says;
	return 0;
}

int nmm_last_verification(nmm_station *s, const nmm_node *n, nmm_last_verify *v)
{
	memset(v, 0, sizeof *v);
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	int rc = nmm_audit_find(s, n, &h, &count);
	nmm_audit_rec *r = rc == 0 ? malloc(sizeof *r) : NULL;
	if (rc == 0 && r == NULL)
		rc = akm_p11_fail_text(&s->p, "out of memory");
	/* In order: a later record replaces an earlier one's verdict. */
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = record_verdict(s, h[i], r, v);
	free(r);
	free(h);
	return rc;
}

typedef struct pr_index {
	const uint8_t *id;
	size_t len;
	size_t node;
} pr_index;

static int cmp_pr(const void *a, const void *b)
{
	const pr_index *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->id, y->id, x->len);
}

int nmm_last_verifications(nmm_station *s, const nmm_node *nodes, size_t count, nmm_last_verify *last)
{
	memset(last, 0, count * sizeof *last);
	if (count == 0)
		return 0;
	pr_index *ix = calloc(count, sizeof *ix);
	if (ix == NULL)
		return akm_p11_fail_text(&s->p, "out of memory");
	for (size_t i = 0; i < count; i++)
		ix[i] = (pr_index){nodes[i].pr_id, nodes[i].pr_id_len, i};
	qsort(ix, count, sizeof *ix, cmp_pr);
	CK_OBJECT_HANDLE *h = NULL;
	size_t n = 0;
	int rc = nmm_audit_find(s, NULL, &h, &n);
	nmm_audit_rec *r = rc == 0 ? malloc(sizeof *r) : NULL;
	if (rc == 0 && r == NULL)
		rc = akm_p11_fail_text(&s->p, "out of memory");
	/* In order: a later record replaces an earlier one's verdict. */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		nmm_last_verify v = {0};
		if ((rc = record_verdict(s, h[i], r, &v)) != 0)
			break;
		pr_index key = {r->rid, r->rid_len, 0};
		const pr_index *hit = v.known ? bsearch(&key, ix, count, sizeof *ix, cmp_pr) : NULL;
		if (hit != NULL)
			last[hit->node] = v;
	}
	free(r);
	free(h);
	free(ix);
	return rc;
}

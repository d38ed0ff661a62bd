/*
 * The station's side of the activation protocol (station.h "the activation
 * service", docs/protocol.md): what akm-nmmd does with each frame a node
 * sends.  Stateless until the proof: a HELLO is answered from the frame
 * alone (the ECDH result travels in the cookie), and per-connection memory
 * (the handshake's keys, in locked memory) exists only after message 3 has
 * proven the relationship.  Every refusal is one audit record; lockouts
 * keep a flood from writing more than one.
 */
#include "station/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/fmt-verify.h"
#include "lib/hex.h"
#include "lib/keyed.h"
#include "lib/rv.h"
#include "shared/bytes.h"
#include "shared/net.h"
#include "shared/trail.h"

/* ---- lockout and clone tables: fixed size, oldest entry replaced ---- */

#define TABLE_SIZE 4096
#define HS_POOL 64 /* handshake states kept for reuse */
#define KEY_MAX 72

typedef struct entry {
	char key[KEY_MAX];
	bool used;
	uint64_t window_start, locked_until, last; /* ms, monotonic */
	uint32_t fails;
	bool audited;          /* the current lockout has its record */
	char peer[64];         /* clone table: the address of the last success */
	uint64_t through;      /* report table: the node's last audit seq recorded (pr: keys) */
	uint64_t total;        /* ... the sealed count last reported (sealed: keys) */
	uint32_t gen;          /* ... at this generation */
} entry;

typedef struct table {
	entry e[TABLE_SIZE];
} table;

static uint32_t fnv(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The entry of key (made when `create`; the least recently used one of its
 * probe run is replaced when the run is full).  NULL when absent. */
static entry *lookup(table *t, const char *key, bool create, uint64_t now)
{
	uint32_t h = fnv(key);
	entry *victim = NULL;
	for (uint32_t i = 0; i < 16; i++) {
		entry *e = &t->e[(h + i) % TABLE_SIZE];
		if (e->used && strcmp(e->key, key) == 0) {
			e->last = now;
			return e;
		}
		if (!e->used) {
			if (victim == NULL || victim->used)
				victim = e;
		} else if (victim == NULL || (victim->used && e->last < victim->last)) {
			victim = e;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof *victim);
	victim->used = true;
	snprintf(victim->key, sizeof victim->key, "%s", key);
	victim->last = now;
	return victim;
}

struct nmm_act {
	nmm_station *s;
	nmm_act_policy pol;
	uint8_t *keys;            /* locked: the cookie key, then the previous one */
	bool have_prev;
	uint64_t rotated;         /* when the current key was made (monotonic ms) */
	uint64_t last_issue;      /* the last t_issue given (wall ms) */
	table *locks, *clones, *reports;
	/* Nodes a policy asked to activate again (their PR keys): a list of
	 * their own, never dropped for room (there are few). */
	char (*reacts)[KEY_MAX];
	size_t nreacts, capreacts;
	nmm_act_stats stats;
	/* The session of the ephemeral keys, renewed every EPH_USES messages:
	 * a token may keep a destroyed session object until its session
	 * closes (SoftHSM2 does), so a flood of HELLOs must not accumulate
	 * them. */
	akm_p11 eph;
	bool eph_open;
	unsigned eph_uses;
	uint64_t hellos_at_reset;
	akm_proto_hs *free_hs[HS_POOL];
	size_t nfree;
	/* The station's ASRs, for check-in delivery: searched for (a search of
	 * the whole registry) only when the audit trail, followed from record
	 * trail_seq on, shows that one was created since. */
	nmm_asr *asrs;
	size_t nasrs;
	bool have_asrs, asrs_stale;
	/* The trail follower (nmm_act_follow): every record after trail_seq,
	 * handed to on_record when one is set. */
	bool following;
	uint64_t trail_seq;
	void (*on_record)(void *ctx, const nmm_audit_rec *r);
	void *on_record_ctx;
};

#define EPH_USES 256

static const nmm_act_policy default_policy = {
	.fail_limit = 5, .fail_window_ms = 60000, .lockout_ms = 300000, .clone_window_ms = 60000,
};

nmm_act *nmm_act_new(nmm_station *s, const nmm_act_policy *pol)
{
	nmm_act *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->s = s;
	d->pol = pol ? *pol : default_policy;
	d->keys = akm_locked_alloc(64);
	d->locks = calloc(1, sizeof *d->locks);
	d->clones = calloc(1, sizeof *d->clones);
	d->reports = calloc(1, sizeof *d->reports);
	if (d->keys == NULL || d->locks == NULL || d->clones == NULL || d->reports == NULL) {
		nmm_act_free(d);
		return NULL;
	}
	randombytes_buf(d->keys, 32);
	d->rotated = akm_net_now_ms();
	return d;
}

void nmm_act_free(nmm_act *d)
{
	if (d == NULL)
		return;
	if (d->eph_open)
		d->eph.f->C_CloseSession(d->eph.session);
	while (d->nfree > 0)
		akm_proto_hs_free(d->free_hs[--d->nfree]);
	akm_locked_free(d->keys);
	free(d->asrs);
	free(d->locks);
	free(d->clones);
	free(d->reports);
	free(d->reacts);
	free(d);
}

void nmm_act_set_policy(nmm_act *d, const nmm_act_policy *pol)
{
	d->pol = *pol;
}

uint64_t nmm_act_token_uses(const nmm_act *d)
{
	return d->stats.hellos - d->hellos_at_reset;
}

void nmm_act_token_reset(nmm_act *d)
{
	d->eph_open = false; /* its session went with the module's */
	d->hellos_at_reset = d->stats.hellos;
}

const nmm_act_stats *nmm_act_stats_of(const nmm_act *d)
{
	return &d->stats;
}

/* A new cookie key every cookie lifetime; the previous one still opens
 * cookies given just before. */
static void rotate(nmm_act *d, uint64_t now)
{
	if (now - d->rotated < AKM_PROTO_COOKIE_LIFETIME_MS)
		return;
	memcpy(d->keys + 32, d->keys, 32);
	d->have_prev = now - d->rotated < 2 * AKM_PROTO_COOKIE_LIFETIME_MS;
	randombytes_buf(d->keys, 32);
	d->rotated = now;
}

/* ---- answers ---- */

static nmm_act_next error_frame(uint8_t code, uint8_t *out, size_t *out_len)
{
	akm_proto_frame(AKM_PROTO_ERROR, &code, 1, out, AKM_PROTO_FRAME_MAX, out_len);
	return NMM_ACT_REPLY_CLOSE;
}

/* One refusal: counted against the address (and the PR when given), audited
 * unless the address is locked out already.  Returns the ERROR frame. */
static void count_failure(nmm_act *d, const char *key, uint64_t now, const char *peer, const uint8_t *rid,
                          size_t rid_len)
{
	if (d->pol.lockout_ms == 0)
		return; /* lockouts are off */
	entry *e = lookup(d->locks, key, true, now);
	if (e->locked_until > now)
		return;
	if (now - e->window_start > d->pol.fail_window_ms) {
		e->window_start = now;
		e->fails = 0;
	}
	if (++e->fails >= d->pol.fail_limit) {
		e->locked_until = now + d->pol.lockout_ms;
		e->fails = 0;
		d->stats.lockouts++;
		nmm_audit(d->s, "lockout", rid, rid_len, CKR_PIN_LOCKED, "peer=%s; key=%s; for=%llus", peer, key,
		          (unsigned long long)(d->pol.lockout_ms / 1000));
	}
}

static bool locked(nmm_act *d, const char *key, uint64_t now)
{
	entry *e = lookup(d->locks, key, false, now);
	return e != NULL && e->locked_until > now;
}

static void addr_key(const char *peer, char out[KEY_MAX])
{
	snprintf(out, KEY_MAX, "addr:%s", peer);
}

static void pr_key(const uint8_t *pr, size_t n, char out[KEY_MAX])
{
	memcpy(out, "pr:", 3);
	akm_hex_encode(pr, n, out + 3);
}

/* The PR key `k` among those a policy asked to activate again, or NULL. */
static char (*react_find(nmm_act *d, const char *k))[KEY_MAX]
{
	for (size_t i = 0; i < d->nreacts; i++)
		if (strcmp(d->reacts[i], k) == 0)
			return &d->reacts[i];
	return NULL;
}

/* A refusal before the PR is known. */
static nmm_act_next refuse(nmm_act *d, nmm_act_conn *c, const char *action, const char *reason, uint8_t code,
                           uint8_t *out, size_t *out_len)
{
	uint64_t now = akm_net_now_ms();
	char k[KEY_MAX];
	addr_key(c->peer, k);
	d->stats.refused++;
	if (!locked(d, k, now))
		nmm_audit(d->s, action, NULL, 0, CKR_DATA_INVALID, "peer=%s; reason=%s", c->peer, reason);
	count_failure(d, k, now, c->peer, NULL, 0);
	return error_frame(code, out, out_len);
}

bool nmm_act_admit(nmm_act *d, nmm_act_conn *c)
{
	char k[KEY_MAX];
	addr_key(c->peer, k);
	if (locked(d, k, akm_net_now_ms())) {
		d->stats.locked++;
		return false;
	}
	return true;
}

/* What is wrong with a frame, in the protocol's words. */
static const char *frame_problem(akm_fmt_rc why)
{
	switch (why) {
	case AKM_FMT_BAD_MAGIC: return "not an AKM-ACT-1 frame (magic)";
	case AKM_FMT_BAD_VERSION: return "unsupported protocol version";
	case AKM_FMT_TOO_BIG: return "a length over 1024";
	case AKM_FMT_TRUNCATED: return "a message shorter than its fields";
	case AKM_FMT_TRAILING: return "bytes after the message's fields";
	default: return "an unknown type, a length its type never has, or a message out of turn";
	}
}

nmm_act_next nmm_act_malformed(nmm_act *d, nmm_act_conn *c, akm_fmt_rc why, uint8_t *out, size_t *out_len)
{
	return refuse(d, c, "act-malformed", frame_problem(why),
	              why == AKM_FMT_BAD_VERSION ? AKM_PERR_VERSION : AKM_PERR_MALFORMED, out, out_len);
}

nmm_act_next nmm_act_timeout(nmm_act *d, nmm_act_conn *c, uint8_t *out, size_t *out_len)
{
	d->stats.timeouts++;
	return refuse(d, c, "act-timeout", c->hs ? "after the proof" : "before the proof", AKM_PERR_TIMEOUT, out,
	              out_len);
}

/* Handshake states come from a small pool of locked memory (HS_POOL):
 * locking and guard pages per message would cost system calls each time. */

static akm_proto_hs *hs_get(nmm_act *d)
{
	if (d->nfree > 0)
		return d->free_hs[--d->nfree];
	return akm_proto_hs_new();
}

static void hs_put(nmm_act *d, akm_proto_hs *hs)
{
	if (hs == NULL)
		return;
	if (d->nfree == HS_POOL) {
		akm_proto_hs_free(hs);
		return;
	}
	akm_wipe(hs, sizeof *hs);
	d->free_hs[d->nfree++] = hs;
}

void nmm_act_conn_end(nmm_act *d, nmm_act_conn *c)
{
	hs_put(d, c->hs);
	c->hs = NULL;
	for (size_t i = 0; i < c->nitems; i++)
		free(c->items[i]);
	c->nitems = 0;
	c->delivering = false;
}

/* ---- message 1 -> message 2 ---- */

/* A session for one message's ephemeral key (NULL, reported, if none opens). */
static akm_p11 *eph_session(nmm_act *d)
{
	if (d->eph_open && d->eph_uses < EPH_USES) {
		d->eph_uses++;
		return &d->eph;
	}
	if (d->eph_open)
		d->eph.f->C_CloseSession(d->eph.session);
	d->eph_open = false;
	d->eph = d->s->p; /* the same module and slot (logged in: login is per token) */
	CK_RV rv = d->eph.f->C_OpenSession(d->eph.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &d->eph.session);
	if (rv != CKR_OK) {
		akm_report(0, "activation", "a session for ephemeral keys: C_OpenSession: %s", akm_rv_name(rv));
		return NULL;
	}
	d->eph_open = true;
	d->eph_uses = 1;
	return &d->eph;
}

static nmm_act_next on_hello(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                             size_t *out_len)
{
	uint8_t n_i[AKM_PROTO_NONCE_LEN], g_x[AKM_PROTO_POINT_LEN];
	akm_fmt_rc rc = akm_proto_hello_parse(frame + AKM_PROTO_HDR_LEN, len - AKM_PROTO_HDR_LEN, n_i, g_x);
	if (rc != AKM_FMT_OK)
		return nmm_act_malformed(d, c, rc, out, out_len);
	akm_p11 *p = eph_session(d);
	if (p == NULL) {
		d->stats.failures++;
		return error_frame(AKM_PERR_BUSY, out, out_len);
	}
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	uint8_t n_r[AKM_PROTO_NONCE_LEN], g_y[AKM_PROTO_POINT_LEN];
	akm_proto_hs *hs = hs_get(d);
	if (hs == NULL || akm_p11_ec_generate(p, false, NULL, NULL, 0, &pub, &priv) != 0 ||
	    akm_p11_ec_point(p, pub, g_y) != 0) {
		akm_report(0, "activation", "ephemeral key: %s", hs ? p->err : "no locked memory");
		akm_p11_destroy(p, &priv);
		akm_p11_destroy(p, &pub);
		hs_put(d, hs);
		d->stats.failures++;
		return error_frame(AKM_PERR_BUSY, out, out_len);
	}
	int e = akm_p11_ecdh_secret(p, priv, g_x, hs->z);
	akm_p11_destroy(p, &priv);
	akm_p11_destroy(p, &pub);
	if (e != 0) {
		hs_put(d, hs);
		if (e > 0)
			return refuse(d, c, "act-malformed", "message 1's point is not on the curve", AKM_PERR_MALFORMED,
			              out, out_len);
		akm_report(0, "activation", "ECDH: %s", p->err);
		d->stats.failures++;
		return error_frame(AKM_PERR_BUSY, out, out_len);
	}
	randombytes_buf(n_r, sizeof n_r);
	akm_proto_after_ecdh(hs, frame, len, n_r, g_y, hs->z);
	uint64_t now = akm_net_now_ms();
	rotate(d, now);
	uint64_t t = akm_net_wall_ms();
	d->last_issue = t > d->last_issue ? t : d->last_issue + 1;
	uint8_t cn[AKM_PROTO_COOKIE_NONCE_LEN], body[AKM_PROTO_CHALLENGE_BODY_LEN];
	randombytes_buf(cn, sizeof cn);
	akm_proto_cookie_seal(hs, d->keys, cn, d->last_issue);
	size_t blen;
	akm_proto_challenge(hs, n_r, g_y, body, sizeof body, &blen);
	hs_put(d, hs); /* wiped: nothing of this exchange stays */
	akm_proto_frame(AKM_PROTO_CHALLENGE, body, blen, out, AKM_PROTO_FRAME_MAX, out_len);
	d->stats.hellos++;
	return NMM_ACT_REPLY;
}

/* ---- message 3 -> message 4 ---- */

static nmm_act_next result(nmm_act *d, nmm_act_conn *c, uint8_t res, uint8_t status, uint8_t *out,
                           size_t *out_len)
{
	akm_proto_result r = {.result = res, .status = status};
	memcpy(r.station_id, d->s->id, r.station_id_len = d->s->id_len);
	randombytes_buf(r.challenge, sizeof r.challenge);
	memcpy(c->challenge, r.challenge, sizeof c->challenge);
	uint8_t body[AKM_PROTO_RESULT_MAX];
	size_t blen;
	akm_proto_result_seal(c->hs, &r, body, sizeof body, &blen);
	akm_proto_frame(AKM_PROTO_RESULT, body, blen, out, AKM_PROTO_FRAME_MAX, out_len);
	return res == AKM_PRES_OK ? NMM_ACT_REPLY : NMM_ACT_REPLY_CLOSE;
}

/* The same PR from another address lately: a clone signal (the exchange
 * goes on). */
static void clone_check(nmm_act *d, nmm_act_conn *c, uint64_t now)
{
	char k[KEY_MAX];
	pr_key(c->n.pr_id, c->n.pr_id_len, k);
	entry *e = lookup(d->clones, k, true, now);
	if (e->peer[0] != '\0' && strcmp(e->peer, c->peer) != 0 && now - e->window_start < d->pol.clone_window_ms) {
		d->stats.clones++;
		nmm_audit_node(d->s, &c->n, "clone-signal", CKR_OK, "reason=address; peer=%s; earlier=%s", c->peer,
		               e->peer);
	}
	snprintf(e->peer, sizeof e->peer, "%s", c->peer);
	e->window_start = now;
}

static nmm_act_next on_proof(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                             size_t *out_len)
{
	const uint8_t *body = frame + AKM_PROTO_HDR_LEN;
	size_t blen = len - AKM_PROTO_HDR_LEN;
	const uint8_t *cookie;
	akm_fmt_rc rc = akm_proto_proof_cookie(body, blen, &cookie);
	if (rc != AKM_FMT_OK)
		return nmm_act_malformed(d, c, rc, out, out_len);
	c->hs = hs_get(d);
	if (c->hs == NULL)
		return error_frame(AKM_PERR_BUSY, out, out_len);
	uint64_t t_issue, wall = akm_net_wall_ms();
	rotate(d, akm_net_now_ms());
	bool opened = akm_proto_cookie_open(c->hs, d->keys, cookie, &t_issue) ||
	              (d->have_prev && akm_proto_cookie_open(c->hs, d->keys + 32, cookie, &t_issue));
	/* t_issue may run ahead of the clock by a burst's worth of
	 * milliseconds (it is kept strictly increasing): only a cookie from
	 * the future beyond that, or past its lifetime, is refused. */
	if (!opened || t_issue > wall + AKM_PROTO_COOKIE_LIFETIME_MS || t_issue + AKM_PROTO_COOKIE_LIFETIME_MS < wall) {
		nmm_act_conn_end(d, c);
		return refuse(d, c, "act-refused", opened ? "cookie expired" : "cookie", AKM_PERR_REFUSED, out, out_len);
	}
	akm_proto_id id;
	uint8_t mac3[32];
	if (akm_proto_proof_open(c->hs, body, blen, &id, mac3) != AKM_FMT_OK) {
		nmm_act_conn_end(d, c);
		return refuse(d, c, "act-refused", "decrypt", AKM_PERR_REFUSED, out, out_len);
	}
	uint64_t now = akm_net_now_ms();
	char pk[KEY_MAX];
	pr_key(id.pr_id, id.pr_id_len, pk);
	if (locked(d, pk, now)) {
		nmm_act_conn_end(d, c);
		d->stats.locked++;
		return error_frame(AKM_PERR_LOCKED, out, out_len);
	}
	int found = nmm_node_by_pr(d->s, id.pr_id, id.pr_id_len, &c->n);
	if (found < 0) {
		akm_report(0, "activation", "finding the relationship: %s", d->s->p.err);
		nmm_act_conn_end(d, c);
		d->stats.failures++;
		return error_frame(AKM_PERR_BUSY, out, out_len);
	}
	if (found == 0) {
		nmm_act_conn_end(d, c);
		return refuse(d, c, "act-refused", "unknown", AKM_PERR_REFUSED, out, out_len);
	}
	/* The keys of a relationship that is not active are refused by the
	 * token, so nothing can be proven or answered under them: an
	 * unauthenticated refusal, recorded with the PR the message names. */
	if (c->n.state != CKV_AKM_STATE_ACTIVE) {
		char ak[KEY_MAX];
		addr_key(c->peer, ak);
		d->stats.refused++;
		if (!locked(d, ak, now))
			nmm_audit_node(d->s, &c->n, "act-refused", CKR_KEY_FUNCTION_NOT_PERMITTED,
			               "peer=%s; reason=state; state=%s", c->peer, nmm_state_name(c->n.state));
		count_failure(d, ak, now, c->peer, NULL, 0);
		nmm_act_conn_end(d, c);
		return error_frame(AKM_PERR_REFUSED, out, out_len);
	}
	uint8_t psk[AKM_PROTO_PSK_MSG_LEN];
	akm_proto_psk_message(c->hs, psk);
	int e = akm_p11_hmac(&d->s->p, c->n.mac, psk, sizeof psk, c->hs->prk3);
	akm_wipe(psk, sizeof psk);
	if (e != 0) {
		akm_report(0, c->n.name, "PRK_3: %s", d->s->p.err);
		nmm_act_conn_end(d, c);
		d->stats.failures++;
		return error_frame(AKM_PERR_BUSY, out, out_len);
	}
	akm_proto_after_psk(c->hs, &id, c->hs->prk3);
	if (!akm_proto_mac3_ok(c->hs, mac3)) {
		char ak[KEY_MAX];
		addr_key(c->peer, ak);
		d->stats.bad_proofs++;
		if (!locked(d, ak, now))
			nmm_audit_node(d->s, &c->n, "act-bad-proof", CKR_SIGNATURE_INVALID, "peer=%s; op=%s", c->peer,
			               akm_proto_op_name(id.op));
		count_failure(d, ak, now, c->peer, NULL, 0);
		count_failure(d, pk, now, c->peer, c->n.pr_id, c->n.pr_id_len);
		nmm_act_conn_end(d, c);
		return error_frame(AKM_PERR_REFUSED, out, out_len);
	}
	/* The node holds the PR: from here on, answers are authenticated. */
	c->op = id.op;
	if (!akm_bytes_equal(id.node_id, id.node_id_len, c->n.node_id, c->n.node_id_len) ||
	    !akm_bytes_equal(id.hw, id.hw_len, c->n.hw, c->n.hw_len)) {
		char hw[2 * AKM_FMT_HW_MAX + 1];
		akm_hex_encode(id.hw, id.hw_len, hw);
		d->stats.clones++;
		nmm_audit_node(d->s, &c->n, "clone-signal", CKR_DATA_INVALID, "reason=hardware; peer=%s; hw=%s", c->peer,
		               hw);
		count_failure(d, pk, now, c->peer, c->n.pr_id, c->n.pr_id_len);
		return result(d, c, AKM_PRES_WRONG_NODE, (uint8_t)c->n.status, out, out_len);
	}
	/* A policy demanded that this node activate again (respond.c): until
	 * it does, its check-ins and reports are answered "not active". */
	if (id.op != AKM_OP_ACTIVATE) {
		if (react_find(d, pk) != NULL) {
			d->stats.refused++;
			nmm_audit_node(d->s, &c->n, "act-refused", CKR_KEY_FUNCTION_NOT_PERMITTED,
			               "peer=%s; reason=reactivate; op=%s", c->peer, akm_proto_op_name(id.op));
			return result(d, c, AKM_PRES_NOT_ACTIVE, (uint8_t)c->n.status, out, out_len);
		}
	}
	/* One transaction: the replay counter, and the status. */
	CK_ULONG counter = (CK_ULONG)t_issue, status = CKV_AKM_STATUS_ACTIVATED;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_CHECKIN, &counter, sizeof counter},
		{CKA_AKM_STATUS, &status, sizeof status},
	};
	CK_RV rv = d->s->p.f->C_SetAttributeValue(d->s->p.session, c->n.enc, t, c->n.status < status ? 2 : 1);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
		d->stats.replays++;
		nmm_audit_node(d->s, &c->n, "act-replay", rv, "peer=%s; op=%s", c->peer, akm_proto_op_name(id.op));
		return result(d, c, AKM_PRES_REPLAY, (uint8_t)c->n.status, out, out_len);
	}
	if (rv != CKR_OK) {
		akm_report(0, c->n.name, "recording the exchange: C_SetAttributeValue: %s", akm_rv_name(rv));
		d->stats.failures++;
		return result(d, c, AKM_PRES_STATION_FAILURE, (uint8_t)c->n.status, out, out_len);
	}
	if (c->n.status < status)
		c->n.status = status;
	clone_check(d, c, now);
	return result(d, c, AKM_PRES_OK, (uint8_t)c->n.status, out, out_len);
}

/* ---- the trail follower ---- */

void nmm_act_set_follower(nmm_act *d, uint64_t from, void (*on_record)(void *ctx, const nmm_audit_rec *r), void *ctx)
{
	d->on_record = on_record;
	d->on_record_ctx = ctx;
	d->following = true;
	d->trail_seq = from > 0 ? from - 1 : akm_trail_head(&d->s->p);
}

/* Whether a record changes the station's ASR list. */
static bool changes_asrs(const char *action)
{
	return strcmp(action, "asr-create") == 0 || strcmp(action, "destroy") == 0;
}

/* A station-signed record of the follower that concerns act.c itself:
 * a policy's demand that a node activate again, and its activation. */
static void follow_own(nmm_act *d, const nmm_audit_rec *r)
{
	bool demand = strcmp(r->action, "policy-reactivate") == 0 && r->result == CKR_OK;
	bool activated = strcmp(r->action, "activate") == 0 && strstr(r->detail, "; verified") != NULL;
	if ((!demand && !activated) || r->rid_len == 0 || strcmp(r->actor, "app") != 0 ||
	    nmm_audit_check_sig(d->s, r) != NMM_AUDIT_SIG_VALID)
		return;
	char k[KEY_MAX];
	pr_key(r->rid, r->rid_len, k);
	char(*e)[KEY_MAX] = react_find(d, k);
	if (!demand && e != NULL) {
		memcpy(*e, d->reacts[--d->nreacts], KEY_MAX); /* the last one takes its place */
	} else if (demand && e == NULL) {
		if (d->nreacts == d->capreacts) {
			size_t cap = d->capreacts ? 2 * d->capreacts : 16;
			char(*g)[KEY_MAX] = realloc(d->reacts, cap * sizeof *g);
			if (g == NULL) {
				akm_report(0, "activation", "no memory to keep a demand to activate again");
				return;
			}
			d->reacts = g;
			d->capreacts = cap;
		}
		memcpy(d->reacts[d->nreacts++], k, KEY_MAX);
	}
}

size_t nmm_act_follow(nmm_act *d, size_t max)
{
	if (!d->following)
		nmm_act_set_follower(d, 0, NULL, NULL);
	size_t n = 0;
	static nmm_audit_rec r; /* 2.5 KB: one thread */
	for (; n < max; n++) {
		if (nmm_audit_read(d->s, AKM_TRAIL_HANDLE(d->trail_seq + 1), &r) != 0)
			break;
		d->trail_seq++;
		if (changes_asrs(r.action))
			d->asrs_stale = true;
		follow_own(d, &r);
		if (d->on_record != NULL)
			d->on_record(d->on_record_ctx, &r);
	}
	return n;
}

uint64_t nmm_act_trail_seq(const nmm_act *d)
{
	return d->trail_seq;
}

/* The station's ASRs: searched for the first time, and again whenever
 * the trail has a record after the last one looked at that creates one (a
 * few attribute reads per check-in instead of a search of the registry). */
static const nmm_asr *asrs_now(nmm_act *d, size_t *n)
{
	while (nmm_act_follow(d, 4096) == 4096)
		;
	if (!d->have_asrs || d->asrs_stale) {
		nmm_asr *list;
		size_t count;
		if (nmm_asr_list(d->s, "check-in", &list, &count) == AKM_RC_OK) {
			free(d->asrs);
			d->asrs = list;
			d->nasrs = count;
			d->have_asrs = true;
			d->asrs_stale = false;
		}
	}
	*n = d->nasrs;
	return d->asrs;
}

/* ---- a check-in's report (docs/protocol.md §4 "Events at check-in") ---- */

/* The event's name in a node-report record (the monitor's table,
 * lib/monitor.h): the ASR kinds named as such. */
static const char *report_event_name(uint8_t kind, bool about_asr)
{
	switch (kind) {
	case AKM_EVENT_REPLAY: return about_asr ? "asr-replay" : "replay";
	case AKM_EVENT_FORGED:
	case AKM_EVENT_NOT_MEMBER: return "asr-forged";
	case AKM_EVENT_STALE: return "other";
	case AKM_EVENT_ROLLBACK: return "tamper";
	default: return akm_proto_event_name(kind);
	}
}

/* The ASR of ID id among the station's (NULL: not this station's). */
static const nmm_asr *asr_by_id(nmm_act *d, const uint8_t *id, size_t len)
{
	size_t n;
	const nmm_asr *list = asrs_now(d, &n);
	for (size_t i = 0; i < n; i++)
		if (akm_bytes_equal(list[i].id, list[i].id_len, id, len))
			return &list[i];
	return NULL;
}

/* The key of (PR, ASR) in the report table. */
static void sealed_key(const nmm_node *n, const uint8_t *asr, size_t asr_len, char out[KEY_MAX])
{
	uint8_t h[16];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, n->pr_id, n->pr_id_len);
	crypto_generichash_update(&st, (const uint8_t *)"|", 1);
	crypto_generichash_update(&st, asr, asr_len);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(out, "sealed:", 7);
	akm_hex_encode(h, sizeof h, out + 7);
}

/* One node-report record per aggregated event, and one per ASR whose
 * sealed count grew (event=asr-sent, the growth since the last report as
 * the count).  A report whose `through` is not above the last one recorded
 * for the PR (a resend after a lost DONE) records no events again.
 * Returns how many records were written. */
static void record_report(nmm_act *d, nmm_act_conn *c, const akm_proto_node_rec *nr)
{
	uint64_t now = akm_net_now_ms();
	char pk[KEY_MAX], hex[2 * AKM_FMT_ID_MAX + 1];
	for (size_t i = 0; i < nr->nheld; i++) {
		if (nr->sealed[i] == 0)
			continue;
		sealed_key(&c->n, nr->held[i].asr_id, nr->held[i].asr_id_len, pk);
		entry *e = lookup(d->reports, pk, true, now);
		uint64_t before = e->gen == nr->held[i].gen && e->total <= nr->sealed[i] ? e->total : 0;
		e->gen = nr->held[i].gen;
		e->total = nr->sealed[i];
		if (nr->sealed[i] == before)
			continue;
		akm_hex_encode(nr->held[i].asr_id, nr->held[i].asr_id_len, hex);
		if (nmm_audit_node(d->s, &c->n, "node-report", CKR_OK, "peer=%s; event=asr-sent; count=%llu; total=%lu; "
		                   "asr=%s; epoch=%lu", c->peer, (unsigned long long)(nr->sealed[i] - before),
		                   (unsigned long)nr->sealed[i], hex, (unsigned long)nr->held[i].gen) != CKR_OK)
			d->stats.failures++;
	}
	pr_key(c->n.pr_id, c->n.pr_id_len, pk);
	entry *e = lookup(d->reports, pk, true, now);
	if (nr->ncevents > 0 && e->through != 0 && nr->through <= e->through) {
		d->stats.report_dups++;
		return;
	}
	if (nr->through > e->through)
		e->through = nr->through;
	for (size_t i = 0; i < nr->ncevents; i++) {
		const akm_proto_cevent *ev = &nr->cevents[i];
		char asr[2 * AKM_FMT_ID_MAX + 48] = "", who[2 * AKM_FMT_ID_MAX + AKM_FMT_NAME_MAX + 64] = "";
		if (ev->asr_id_len > 0) {
			akm_hex_encode(ev->asr_id, ev->asr_id_len, hex);
			snprintf(asr, sizeof asr, "; asr=%s; epoch=%lu", hex, (unsigned long)ev->gen);
		}
		if (ev->sender != AKM_PROTO_NO_SENDER)
			snprintf(who, sizeof who, "; leaf=%lu", (unsigned long)ev->sender);
		/* A forged message is attributed to the member its sender field
		 * names (docs/protocol.md §4: what that proves, and what not). */
		const nmm_asr *a = ev->kind == AKM_EVENT_FORGED && ev->sender != AKM_PROTO_NO_SENDER
		                           ? asr_by_id(d, ev->asr_id, ev->asr_id_len) : NULL;
		nmm_node sender;
		if (a != NULL && nmm_asr_member_at(d->s, a, ev->sender, &sender) == 1) {
			char sp[2 * AKM_FMT_ID_MAX + 1];
			akm_hex_encode(sender.pr_id, sender.pr_id_len, sp);
			snprintf(who, sizeof who, "; leaf=%lu; sender=%s; sender-node=%s", (unsigned long)ev->sender, sp,
			         sender.name);
		}
		if (nmm_audit_node(d->s, &c->n, "node-report", CKR_OK,
		                   "peer=%s; event=%s; count=%lu; at=%llu%s%s; kind=%s; through=%llu", c->peer,
		                   report_event_name(ev->kind, ev->asr_id_len > 0), (unsigned long)ev->count,
		                   (unsigned long long)ev->time, asr, who, akm_proto_event_name(ev->kind),
		                   (unsigned long long)nr->through) != CKR_OK)
			d->stats.failures++;
	}
	d->stats.reported += nr->ncevents;
}

/* ---- the node's record -> DONE ---- */

static nmm_act_next done(nmm_act_conn *c, uint8_t res, uint16_t n, uint8_t *out, size_t *out_len)
{
	akm_proto_done dn = {.result = res, .status = (uint8_t)c->n.status, .n = n};
	uint8_t payload[4];
	size_t plen;
	akm_proto_done_encode(&dn, payload, sizeof payload, &plen);
	akm_proto_record_seal(c->hs, false, AKM_REC_DONE, payload, plen, out, AKM_PROTO_FRAME_MAX, out_len);
	return NMM_ACT_REPLY_CLOSE;
}

static nmm_act_next on_record(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                              size_t *out_len)
{
	uint8_t type, payload[AKM_PROTO_BODY_MAX];
	size_t plen;
	akm_proto_node_rec nr;
	if (akm_proto_record_open(c->hs, true, frame, frame + AKM_PROTO_HDR_LEN, len - AKM_PROTO_HDR_LEN, &type,
	                          payload, &plen) != AKM_FMT_OK ||
	    type != (c->op == AKM_OP_REPORT ? AKM_REC_REPORT : AKM_REC_VERIFY) ||
	    akm_proto_node_rec_parse(type, payload, plen, &nr) != AKM_FMT_OK) {
		nmm_audit_node(d->s, &c->n, "act-malformed", CKR_DATA_INVALID, "peer=%s; reason=record", c->peer);
		d->stats.refused++;
		return NMM_ACT_CLOSE;
	}
	uint8_t msg[AKM_VERIFY_MSG_MAX], expect[32];
	size_t m = 0;
	bool ok = akm_verify_message(c->n.node_id, c->n.node_id_len, c->n.pr_id, c->n.pr_id_len, c->challenge, msg,
	                             sizeof msg, &m) == AKM_FMT_OK;
	if (ok && akm_p11_hmac(&d->s->p, c->n.mac, msg, m, expect) != 0) {
		akm_report(0, c->n.name, "verification: %s", d->s->p.err);
		d->stats.failures++;
		return done(c, AKM_PRES_STATION_FAILURE, 0, out, out_len);
	}
	ok = ok && akm_equal_ct(expect, nr.proof, 32);
	if (!ok) {
		d->stats.bad_proofs++;
		nmm_audit_node(d->s, &c->n, "node-verify-failed", CKR_SIGNATURE_INVALID, "peer=%s; op=%s", c->peer,
		               akm_proto_op_name(c->op));
		return done(c, AKM_PRES_VERIFY_FAILED, 0, out, out_len);
	}
	if (nmm_node_raise_status(d->s, &c->n, CKV_AKM_STATUS_VERIFIED) != 0) {
		d->stats.failures++;
		return done(c, AKM_PRES_STATION_FAILURE, 0, out, out_len);
	}
	uint16_t n = 0;
	for (size_t i = 0; i < nr.nevents; i++) {
		const akm_proto_event *ev = &nr.events[i];
		if (nmm_audit_node(d->s, &c->n, "node-report", CKR_OK,
		                   "peer=%s; event=%s; count=%lu; at=%llu; detail=%s", c->peer,
		                   report_event_name((uint8_t)ev->kind, false), (unsigned long)ev->count,
		                   (unsigned long long)ev->time, ev->detail) == CKR_OK)
			n++;
	}
	if (nr.has_report)
		record_report(d, c, &nr); /* a check-in's DONE counts items, not events */
	CK_RV rv = nmm_audit_node(d->s, &c->n, akm_proto_op_name(c->op), CKR_OK, "peer=%s; verified; status=%s%s",
	                          c->peer, nmm_status_name(c->n.status), c->op == AKM_OP_REPORT ? "; events" : "");
	if (rv != CKR_OK) {
		d->stats.failures++;
		return done(c, AKM_PRES_STATION_FAILURE, 0, out, out_len);
	}
	d->stats.completed++;
	if (c->op == AKM_OP_CHECKIN) {
		/* What the node does not hold yet: fetched next, part by part. */
		size_t nasrs;
		const nmm_asr *asrs = asrs_now(d, &nasrs);
		c->nitems = nmm_asr_pending(d->s, asrs, nasrs, &c->n, nr.held, nr.nheld, c->items, c->item_len,
		                            AKM_PROTO_ITEMS_MAX);
		if (c->nitems > 0) {
			c->delivering = true;
			done(c, AKM_PRES_OK, (uint16_t)c->nitems, out, out_len);
			return NMM_ACT_REPLY;
		}
		n = 0;
	}
	return done(c, AKM_PRES_OK, n, out, out_len);
}

/* A check-in's FETCH -> that ITEM part; after the last part of the last
 * item, the connection closes. */
static nmm_act_next on_fetch(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                             size_t *out_len)
{
	uint8_t type, payload[AKM_PROTO_BODY_MAX];
	size_t plen;
	akm_proto_part f;
	if (akm_proto_record_open(c->hs, true, frame, frame + AKM_PROTO_HDR_LEN, len - AKM_PROTO_HDR_LEN, &type,
	                          payload, &plen) != AKM_FMT_OK ||
	    type != AKM_REC_FETCH || akm_proto_fetch_parse(payload, plen, &f) != AKM_FMT_OK || f.item >= c->nitems ||
	    f.part >= akm_proto_item_parts(c->item_len[f.item])) {
		nmm_audit_node(d->s, &c->n, "act-malformed", CKR_DATA_INVALID, "peer=%s; reason=fetch", c->peer);
		d->stats.refused++;
		return NMM_ACT_CLOSE;
	}
	size_t off = (size_t)f.part * AKM_PROTO_ITEM_PART, left = c->item_len[f.item] - off;
	akm_proto_part it = {f.item, f.part, akm_proto_item_parts(c->item_len[f.item]), c->items[f.item] + off,
	                     left < AKM_PROTO_ITEM_PART ? left : AKM_PROTO_ITEM_PART};
	uint8_t body[AKM_PROTO_BODY_MAX];
	size_t blen;
	if (akm_proto_item_encode(&it, body, sizeof body, &blen) != AKM_FMT_OK ||
	    akm_proto_record_seal(c->hs, false, AKM_REC_ITEM, body, blen, out, AKM_PROTO_FRAME_MAX, out_len) != AKM_FMT_OK)
		return NMM_ACT_CLOSE;
	bool last = f.item + 1u == c->nitems && f.part + 1u == it.parts;
	return last ? NMM_ACT_REPLY_CLOSE : NMM_ACT_REPLY;
}

nmm_act_next nmm_act_frame(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                           size_t *out_len)
{
	uint8_t type = frame[3];
	if (c->hs == NULL) {
		if (type == AKM_PROTO_HELLO)
			return on_hello(d, c, frame, len, out, out_len);
		if (type == AKM_PROTO_PROOF)
			return on_proof(d, c, frame, len, out, out_len);
	} else if (type == AKM_PROTO_RECORD) {
		return c->delivering ? on_fetch(d, c, frame, len, out, out_len) : on_record(d, c, frame, len, out, out_len);
	}
	return nmm_act_malformed(d, c, AKM_FMT_BAD_FIELD, out, out_len);
}

/* ---- verify over the network (akm-nmm verify --nmm) ---- */

/* Among the node's records h[0..n), in order of their sequence numbers,
 * the first one after `after` that settles the question: 1 verified, -1
 * failed (*v names it), 0 neither yet, -2 a record could not be read.
 * Read from the newest back, so only the records since `after` (and one
 * more) are read at each look.  *newest gets the highest sequence number. */
static int verdict_in(nmm_station *s, const CK_OBJECT_HANDLE *h, size_t n, uint64_t after, nmm_net_verdict *v,
                      uint64_t *newest)
{
	int result = 0;
	for (size_t i = n; i-- > 0;) {
		nmm_audit_rec r;
		if (nmm_audit_read(s, h[i], &r) != 0)
			return -2;
		if (i == n - 1)
			*newest = r.seq;
		if (r.seq <= after)
			break;
		/* Only the station's own records count (signed by its key): a
		 * record another application appended proves nothing. */
		if (nmm_audit_check_sig(s, &r) != NMM_AUDIT_SIG_VALID)
			continue;
		bool exchange = strcmp(r.action, "activate") == 0 || strcmp(r.action, "checkin") == 0 ||
		                strcmp(r.action, "report") == 0;
		bool failed = strcmp(r.action, "node-verify-failed") == 0 || strcmp(r.action, "act-bad-proof") == 0 ||
		              strcmp(r.action, "clone-signal") == 0;
		if ((exchange && strstr(r.detail, "; verified") != NULL) || failed) {
			result = failed ? -1 : 1; /* going back: the earliest such record is kept */
			v->seq = r.seq;
			v->time = r.time;
			snprintf(v->action, sizeof v->action, "%.63s", r.action);
			const char *peer = strstr(r.detail, "peer=");
			size_t len = peer ? strcspn(peer + 5, ";") : 0;
			snprintf(v->peer, sizeof v->peer, "%.*s", (int)(len < sizeof v->peer ? len : sizeof v->peer - 1),
			         peer ? peer + 5 : "");
		}
	}
	return result;
}

int nmm_verify_net(nmm_station *s, const nmm_node *n, const char *nmm, unsigned wait_s, nmm_net_verdict *v)
{
	memset(v, 0, sizeof *v);
	char err[256];
	int fd = akm_net_connect(nmm, akm_net_now_ms() + 5000, err, sizeof err);
	if (fd < 0)
		return akm_report(AKM_RC_NETWORK, n->name, "the station service: %s", err);
	close(fd); /* reachable: a connection closed before a word is not an exchange */
	uint64_t start = 0, newest = 0;
	uint64_t deadline = akm_net_now_ms() + (uint64_t)wait_s * 1000u;
	for (bool first = true;; first = false) {
		CK_OBJECT_HANDLE *h = NULL;
		size_t count = 0;
		if (nmm_audit_find(s, n, &h, &count) != 0)
			return akm_report(AKM_RC_TOKEN, n->name, "reading its audit records: %s", s->p.err);
		/* The first look reads only the newest record: where the wait starts. */
		int r = verdict_in(s, h, count, first ? UINT64_MAX : start, v, &newest);
		free(h);
		if (r == -2)
			return akm_report(AKM_RC_TOKEN, n->name, "reading its audit records: %s", s->p.err);
		if (first)
			start = newest; /* what the trail held when the command began */
		if (r == 1)
			return AKM_RC_OK;
		if (r == -1)
			return akm_report(AKM_RC_VERIFY, n->name, "verification failed at the node's exchange from %s (%s)",
			                  v->peer, v->action);
		if (akm_net_now_ms() >= deadline)
			return akm_report(AKM_RC_NETWORK, n->name,
			                  "no exchange with the node within %u s (the node proves itself when it runs "
			                  "akm-node checkin or activate)", wait_s);
		usleep(200000);
	}
}

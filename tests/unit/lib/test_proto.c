/* The activation protocol AKM-ACT-1 (src/lib/proto.c, docs/protocol.md):
 * the test vectors of section 8 (tests/vectors/proto_vectors.h, computed
 * independently by tests/vectors/proto_vectors.py) from both sides, a
 * full exchange node <-> station, every single-byte change of each message
 * refused by the function that receives it, replayed and reordered
 * records, the frame header against a model of the page, every message at
 * its exact minimum and maximum size, the events of a report, and every
 * truncation. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/fmt-verify.h"
#include "lib/keyed.h"
#include "lib/proto.h"
#include "proto_vectors.h"

#define HDR AKM_PROTO_HDR_LEN

/* ---- helpers ---- */

static void eq_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len, const char *what)
{
	if (got_len == want_len && memcmp(got, want, want_len) == 0)
		return;
	fprintf(stderr, "%s: got %zu bytes ", what, got_len);
	for (size_t i = 0; i < got_len; i++)
		fprintf(stderr, "%02x", got[i]);
	fprintf(stderr, "\n%s: want %zu bytes ", what, want_len);
	for (size_t i = 0; i < want_len; i++)
		fprintf(stderr, "%02x", want[i]);
	fprintf(stderr, "\n");
	ck_abort_msg("%s differs from the vector", what);
}
#define EQ(got, got_len, vec) eq_bytes((got), (got_len), (vec), sizeof(vec), #vec)
#define EQ32(got, vec) eq_bytes((got), 32, (vec), sizeof(vec), #vec)

static akm_proto_hs *hs_new(void)
{
	akm_proto_hs *hs = akm_proto_hs_new();
	ck_assert_ptr_nonnull(hs);
	return hs;
}

static void vector_id(akm_proto_id *id)
{
	memset(id, 0, sizeof *id);
	id->op = PV_OP;
	memcpy(id->pr_id, PV_pr_id, sizeof PV_pr_id);
	id->pr_id_len = sizeof PV_pr_id;
	memcpy(id->node_id, PV_node_id, sizeof PV_node_id);
	id->node_id_len = sizeof PV_node_id;
	memcpy(id->hw, PV_hw, sizeof PV_hw);
	id->hw_len = sizeof PV_hw;
}

static void vector_events(akm_proto_node_rec *r)
{
	memset(r, 0, sizeof *r);
	memcpy(r->proof, PV_proof, 32);
	r->nevents = PV_NEVENTS;
	r->events[0].kind = PV_EVENT0_KIND;
	r->events[0].count = PV_EVENT0_COUNT;
	r->events[0].time = PV_EVENT0_TIME;
	strcpy(r->events[0].detail, PV_EVENT0_DETAIL);
	r->events[1].kind = PV_EVENT1_KIND;
	r->events[1].count = PV_EVENT1_COUNT;
	r->events[1].time = PV_EVENT1_TIME;
	strcpy(r->events[1].detail, PV_EVENT1_DETAIL);
}

/* The vectors' check-in VERIFY with its report (record 2). */
static void vector_checkin(akm_proto_node_rec *r)
{
	memset(r, 0, sizeof *r);
	memcpy(r->proof, PV_proof, 32);
	r->nheld = PV_NHELD;
	memcpy(r->held[0].asr_id, PV_HELD0_ASR, r->held[0].asr_id_len = strlen(PV_HELD0_ASR));
	r->held[0].gen = PV_HELD0_GEN;
	r->has_report = true;
	r->sealed[0] = PV_HELD0_SEALED;
	r->through = PV_THROUGH;
	r->ncevents = PV_NCEVENTS;
	akm_proto_cevent *e = r->cevents;
	e[0] = (akm_proto_cevent){PV_CEVENT0_KIND, PV_CEVENT0_COUNT, PV_CEVENT0_TIME, PV_CEVENT0_SENDER, PV_CEVENT0_GEN,
	                          {0}, strlen(PV_CEVENT0_ASR)};
	memcpy(e[0].asr_id, PV_CEVENT0_ASR, e[0].asr_id_len);
	e[1] = (akm_proto_cevent){PV_CEVENT1_KIND, PV_CEVENT1_COUNT, PV_CEVENT1_TIME, PV_CEVENT1_SENDER, PV_CEVENT1_GEN,
	                          {0}, strlen(PV_CEVENT1_ASR)};
	memcpy(e[1].asr_id, PV_CEVENT1_ASR, e[1].asr_id_len);
}

/* PRK_3 as the token computes it: HMAC(K_PR_mac, "AKM-ACT-1 psk" || PRK_2e). */
static void prk3_of(const akm_proto_hs *hs, const uint8_t k_pr_mac[32], uint8_t prk3[32])
{
	uint8_t m[AKM_PROTO_PSK_MSG_LEN];
	akm_proto_psk_message(hs, m);
	akm_hmac_sha256(k_pr_mac, m, sizeof m, prk3);
}

/* The node's proof of a VERIFY record (docs/akm-nmm.md "verify"). */
static void proof_of(const uint8_t k_pr_mac[32], const akm_proto_id *id, const uint8_t challenge[32],
                     uint8_t proof[32])
{
	uint8_t m[AKM_VERIFY_MSG_MAX];
	size_t n;
	ck_assert_int_eq(akm_verify_message(id->node_id, id->node_id_len, id->pr_id, id->pr_id_len, challenge, m,
	                                    sizeof m, &n), AKM_FMT_OK);
	akm_hmac_sha256(k_pr_mac, m, n, proof);
}

/* The frame header as docs/protocol.md §2 describes it, written from the
 * page (not from proto.c). */
static akm_fmt_rc model_header(const uint8_t h[HDR])
{
	if (h[0] != 0x41 || h[1] != 0x4b)
		return AKM_FMT_BAD_MAGIC;
	if (h[2] != 1)
		return AKM_FMT_BAD_VERSION;
	size_t n = (size_t)h[4] << 8 | h[5];
	if (n > 1024)
		return AKM_FMT_TOO_BIG;
	bool ok;
	switch (h[3]) {
	case 1: ok = n == 81; break;
	case 2: ok = n == 193; break;
	case 3: ok = n >= 167 && n <= 292; break;
	case 4: ok = n >= 51 && n <= 83; break;
	case 5: ok = n >= 17 && n <= 1024; break;
	case 6: ok = n == 1; break;
	default: ok = false;
	}
	return ok ? AKM_FMT_OK : AKM_FMT_BAD_FIELD;
}

/* What a receiver that expects a frame of type `want` makes of the n bytes
 * at f: the header's answer (checked against the model), BAD_FIELD for
 * another type, TRUNCATED when the header announces more bytes than came
 * (the frame never completes), TRAILING when fewer (the peer sent more than
 * the step allows). */
static akm_fmt_rc rx(const uint8_t *f, size_t n, uint8_t want, size_t *body_len)
{
	uint8_t type = 0;
	size_t len = 0;
	akm_fmt_rc rc = akm_proto_header(f, &type, &len);
	ck_assert_int_eq(rc, model_header(f));
	if (rc != AKM_FMT_OK)
		return rc;
	if (type != want)
		return AKM_FMT_BAD_FIELD;
	if (len > n - HDR)
		return AKM_FMT_TRUNCATED;
	if (len < n - HDR)
		return AKM_FMT_TRAILING;
	*body_len = len;
	return AKM_FMT_OK;
}

/* A frame's header changed at byte pos: the receiver refuses it, with the
 * answer the page gives. */
static void check_header_refused(const uint8_t *f, size_t n, uint8_t want, size_t pos)
{
	size_t len;
	akm_fmt_rc rc = rx(f, n, want, &len);
	ck_assert_msg(rc != AKM_FMT_OK, "header byte %zu changed (%02x) and accepted", pos, f[pos]);
	if (pos < 2)
		ck_assert_int_eq(rc, AKM_FMT_BAD_MAGIC);
	else if (pos == 2)
		ck_assert_int_eq(rc, AKM_FMT_BAD_VERSION);
	else if (pos == 3)
		ck_assert_int_eq(rc, AKM_FMT_BAD_FIELD);
	else if (((size_t)f[4] << 8 | f[5]) > AKM_PROTO_BODY_MAX)
		ck_assert_int_eq(rc, AKM_FMT_TOO_BIG);
}

/* ---- a whole exchange ---- */

typedef struct exchange {
	akm_proto_hs *node, *station;
	akm_proto_id id;
	akm_proto_result result;
	uint8_t k_cookie[32], k_pr_mac[32], z[32], n_c[24];
	uint64_t t_issue;
	uint8_t msg1[AKM_PROTO_FRAME_MAX], msg2[AKM_PROTO_FRAME_MAX], msg3[AKM_PROTO_FRAME_MAX],
		msg4[AKM_PROTO_FRAME_MAX];
	size_t msg1_len, msg2_len, msg3_len, msg4_len;
} exchange;

/* The vectors' inputs. */
static void exchange_vectors(exchange *x)
{
	memset(x, 0, sizeof *x);
	memcpy(x->k_cookie, PV_k_cookie, 32);
	memcpy(x->k_pr_mac, PV_k_pr_mac, 32);
	memcpy(x->z, PV_Z, 32);
	memcpy(x->n_c, PV_n_c, 24);
	x->t_issue = PV_T_ISSUE;
	vector_id(&x->id);
	x->result.result = PV_RESULT;
	x->result.status = PV_STATUS;
	memcpy(x->result.station_id, PV_station_id, sizeof PV_station_id);
	x->result.station_id_len = sizeof PV_station_id;
	memcpy(x->result.challenge, PV_challenge, 32);
}

/* Random inputs with IDs, hardware value and station ID of the given
 * lengths. */
static void exchange_random(exchange *x, size_t pr_len, size_t node_len, size_t hw_len, size_t station_len)
{
	memset(x, 0, sizeof *x);
	randombytes_buf(x->k_cookie, 32);
	randombytes_buf(x->k_pr_mac, 32);
	randombytes_buf(x->z, 32);
	randombytes_buf(x->n_c, 24);
	x->t_issue = 1700000000000ULL + randombytes_uniform(1000000);
	x->id.op = (uint8_t)(1 + randombytes_uniform(3));
	randombytes_buf(x->id.pr_id, x->id.pr_id_len = pr_len);
	randombytes_buf(x->id.node_id, x->id.node_id_len = node_len);
	randombytes_buf(x->id.hw, x->id.hw_len = hw_len);
	x->result.result = AKM_PRES_OK;
	x->result.status = 4;
	randombytes_buf(x->result.station_id, x->result.station_id_len = station_len);
	randombytes_buf(x->result.challenge, 32);
	x->result.challenge[0] |= 1; /* never all zero */
}

/* Runs the handshake through proto.h on both sides, as the node and the
 * station do (the station keeps nothing between messages 2 and 3), and
 * checks each step. */
static void exchange_run(exchange *x, const uint8_t n_i[16], const uint8_t g_x[65], const uint8_t n_r[16],
                         const uint8_t g_y[65])
{
	uint8_t body[AKM_PROTO_BODY_MAX], a[65], b[65];
	size_t blen, len;
	x->node = hs_new();
	/* message 1 */
	ck_assert_int_eq(akm_proto_hello(n_i, g_x, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_HELLO, body, blen, x->msg1, sizeof x->msg1, &x->msg1_len),
	                 AKM_FMT_OK);
	/* message 2, by a station that forgets everything afterwards */
	akm_proto_hs *st = hs_new();
	ck_assert_int_eq(rx(x->msg1, x->msg1_len, AKM_PROTO_HELLO, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_hello_parse(x->msg1 + HDR, len, a, b), AKM_FMT_OK);
	ck_assert(memcmp(a, n_i, 16) == 0 && memcmp(b, g_x, 65) == 0);
	akm_proto_after_ecdh(st, x->msg1, x->msg1_len, n_r, g_y, x->z);
	akm_proto_cookie_seal(st, x->k_cookie, x->n_c, x->t_issue);
	ck_assert_int_eq(akm_proto_challenge(st, n_r, g_y, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_CHALLENGE, body, blen, x->msg2, sizeof x->msg2, &x->msg2_len),
	                 AKM_FMT_OK);
	akm_proto_hs_free(st);
	/* message 3 */
	ck_assert_int_eq(rx(x->msg2, x->msg2_len, AKM_PROTO_CHALLENGE, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_challenge_parse(x->node, x->msg2 + HDR, len, a, b), AKM_FMT_OK);
	ck_assert(memcmp(a, n_r, 16) == 0 && memcmp(b, g_y, 65) == 0);
	akm_proto_after_ecdh(x->node, x->msg1, x->msg1_len, a, b, x->z);
	uint8_t prk3[32];
	prk3_of(x->node, x->k_pr_mac, prk3);
	akm_proto_after_psk(x->node, &x->id, prk3);
	ck_assert_int_eq(akm_proto_proof(x->node, &x->id, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_PROOF, body, blen, x->msg3, sizeof x->msg3, &x->msg3_len),
	                 AKM_FMT_OK);
	/* the station, from the cookie */
	x->station = hs_new();
	ck_assert_int_eq(rx(x->msg3, x->msg3_len, AKM_PROTO_PROOF, &len), AKM_FMT_OK);
	const uint8_t *cookie = NULL;
	ck_assert_int_eq(akm_proto_proof_cookie(x->msg3 + HDR, len, &cookie), AKM_FMT_OK);
	ck_assert_ptr_eq(cookie, x->msg3 + HDR);
	uint64_t t = 0;
	ck_assert(akm_proto_cookie_open(x->station, x->k_cookie, cookie, &t));
	ck_assert_uint_eq(t, x->t_issue);
	akm_proto_id id;
	uint8_t mac3[32];
	ck_assert_int_eq(akm_proto_proof_open(x->station, x->msg3 + HDR, len, &id, mac3), AKM_FMT_OK);
	ck_assert_uint_eq(id.op, x->id.op);
	ck_assert_uint_eq(id.pr_id_len, x->id.pr_id_len);
	ck_assert_uint_eq(id.node_id_len, x->id.node_id_len);
	ck_assert_uint_eq(id.hw_len, x->id.hw_len);
	ck_assert(memcmp(id.pr_id, x->id.pr_id, id.pr_id_len) == 0);
	ck_assert(memcmp(id.node_id, x->id.node_id, id.node_id_len) == 0);
	ck_assert(memcmp(id.hw, x->id.hw, id.hw_len) == 0);
	uint8_t prk3_st[32];
	prk3_of(x->station, x->k_pr_mac, prk3_st);
	akm_proto_after_psk(x->station, &id, prk3_st);
	ck_assert(akm_proto_mac3_ok(x->station, mac3));
	/* message 4 */
	ck_assert_int_eq(akm_proto_result_seal(x->station, &x->result, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_RESULT, body, blen, x->msg4, sizeof x->msg4, &x->msg4_len),
	                 AKM_FMT_OK);
	ck_assert_int_eq(rx(x->msg4, x->msg4_len, AKM_PROTO_RESULT, &len), AKM_FMT_OK);
	akm_proto_result r;
	ck_assert_int_eq(akm_proto_result_open(x->node, x->msg4 + HDR, len, &r), AKM_FMT_OK);
	ck_assert_uint_eq(r.result, x->result.result);
	ck_assert_uint_eq(r.status, x->result.status);
	ck_assert_uint_eq(r.station_id_len, x->result.station_id_len);
	ck_assert(memcmp(r.station_id, x->result.station_id, r.station_id_len) == 0);
	ck_assert(memcmp(r.challenge, x->result.challenge, 32) == 0);
	/* Both sides hold the same secrets. */
	const akm_proto_hs *n = x->node, *s = x->station;
	ck_assert(memcmp(n->th2, s->th2, 32) == 0 && memcmp(n->prk2e, s->prk2e, 32) == 0);
	ck_assert(memcmp(n->th3, s->th3, 32) == 0 && memcmp(n->k3, s->k3, 32) == 0);
	ck_assert(memcmp(n->th3m, s->th3m, 32) == 0 && memcmp(n->prk3, s->prk3, 32) == 0);
	ck_assert(memcmp(n->mac3, s->mac3, 32) == 0 && memcmp(n->th4, s->th4, 32) == 0);
	ck_assert(memcmp(n->k4, s->k4, 32) == 0);
	ck_assert(memcmp(n->k_n2s, s->k_n2s, 32) == 0 && memcmp(n->k_s2n, s->k_s2n, 32) == 0);
	ck_assert(memcmp(n->cookie, s->cookie, AKM_PROTO_COOKIE_LEN) == 0);
	ck_assert(memcmp(n->k_n2s, n->k_s2n, 32) != 0);
	ck_assert(n->sent == 0 && n->received == 0 && s->sent == 0 && s->received == 0);
}

static void exchange_run_vectors(exchange *x)
{
	exchange_vectors(x);
	exchange_run(x, PV_n_i, PV_G_X, PV_n_r, PV_G_Y);
}

static void exchange_run_random(exchange *x, size_t pr_len, size_t node_len, size_t hw_len, size_t station_len)
{
	uint8_t n_i[16], n_r[16], g_x[65], g_y[65];
	exchange_random(x, pr_len, node_len, hw_len, station_len);
	randombytes_buf(n_i, 16);
	randombytes_buf(n_r, 16);
	randombytes_buf(g_x, 65);
	randombytes_buf(g_y, 65);
	g_x[0] = g_y[0] = 0x04;
	exchange_run(x, n_i, g_x, n_r, g_y);
}

static void exchange_free(exchange *x)
{
	akm_proto_hs_free(x->node);
	akm_proto_hs_free(x->station);
}

/* ---- the vectors ---- */

START_TEST(vectors_node_side)
{
	akm_proto_hs *hs = hs_new();
	uint8_t body[AKM_PROTO_BODY_MAX], frame[AKM_PROTO_FRAME_MAX], payload[AKM_PROTO_BODY_MAX];
	size_t blen, flen, len;
	/* message 1 */
	ck_assert_int_eq(akm_proto_hello(PV_n_i, PV_G_X, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_HELLO, body, blen, frame, sizeof frame, &flen), AKM_FMT_OK);
	EQ(frame, flen, PV_msg1);
	/* message 2 */
	uint8_t n_r[16], g_y[65];
	ck_assert_int_eq(rx(PV_msg2, sizeof PV_msg2, AKM_PROTO_CHALLENGE, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_challenge_parse(hs, PV_msg2 + HDR, len, n_r, g_y), AKM_FMT_OK);
	EQ(n_r, 16, PV_n_r);
	EQ(g_y, 65, PV_G_Y);
	EQ(hs->cookie, AKM_PROTO_COOKIE_LEN, PV_cookie);
	akm_proto_after_ecdh(hs, PV_msg1, sizeof PV_msg1, n_r, g_y, PV_Z);
	EQ32(hs->th2, PV_TH_2);
	EQ32(hs->prk2e, PV_PRK_2e);
	EQ32(hs->th3, PV_TH_3);
	EQ32(hs->k3, PV_K_3);
	/* message 3 */
	uint8_t psk[AKM_PROTO_PSK_MSG_LEN], prk3[32];
	akm_proto_psk_message(hs, psk);
	EQ(psk, sizeof psk, PV_psk_msg);
	akm_hmac_sha256(PV_k_pr_mac, psk, sizeof psk, prk3);
	EQ32(prk3, PV_PRK_3);
	akm_proto_id id;
	vector_id(&id);
	akm_proto_after_psk(hs, &id, prk3);
	EQ32(hs->prk3, PV_PRK_3);
	EQ32(hs->th3m, PV_TH_3m);
	EQ32(hs->mac3, PV_MAC_3);
	EQ32(hs->th4, PV_TH_4);
	EQ32(hs->k4, PV_K_4);
	EQ32(hs->k_n2s, PV_K_n2s);
	EQ32(hs->k_s2n, PV_K_s2n);
	ck_assert_int_eq(akm_proto_proof(hs, &id, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_PROOF, body, blen, frame, sizeof frame, &flen), AKM_FMT_OK);
	EQ(frame, flen, PV_msg3);
	/* message 4 */
	akm_proto_result r;
	ck_assert_int_eq(rx(PV_msg4, sizeof PV_msg4, AKM_PROTO_RESULT, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_result_open(hs, PV_msg4 + HDR, len, &r), AKM_FMT_OK);
	ck_assert_uint_eq(r.result, PV_RESULT);
	ck_assert_uint_eq(r.status, PV_STATUS);
	EQ(r.station_id, r.station_id_len, PV_station_id);
	EQ(r.challenge, 32, PV_challenge);
	/* the node's records: VERIFY (0), REPORT (1) */
	uint8_t proof[32];
	proof_of(PV_k_pr_mac, &id, r.challenge, proof);
	EQ32(proof, PV_proof);
	akm_proto_node_rec nr;
	memset(&nr, 0, sizeof nr);
	memcpy(nr.proof, proof, 32);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &nr, payload, sizeof payload, &len), AKM_FMT_OK);
	EQ(payload, len, PV_proof);
	ck_assert_int_eq(akm_proto_record_seal(hs, true, AKM_REC_VERIFY, payload, len, frame, sizeof frame, &flen),
	                 AKM_FMT_OK);
	EQ(frame, flen, PV_rec_n2s_0);
	ck_assert_uint_eq(hs->sent, 1);
	vector_events(&nr);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &nr, payload, sizeof payload, &len), AKM_FMT_OK);
	EQ(payload, len, PV_report_payload);
	ck_assert_int_eq(akm_proto_record_seal(hs, true, AKM_REC_REPORT, payload, len, frame, sizeof frame, &flen),
	                 AKM_FMT_OK);
	EQ(frame, flen, PV_rec_n2s_1);
	ck_assert_uint_eq(hs->sent, 2);
	vector_checkin(&nr);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &nr, payload, sizeof payload, &len), AKM_FMT_OK);
	EQ(payload, len, PV_checkin_report);
	ck_assert_int_eq(akm_proto_record_seal(hs, true, AKM_REC_VERIFY, payload, len, frame, sizeof frame, &flen),
	                 AKM_FMT_OK);
	EQ(frame, flen, PV_rec_n2s_2);
	/* the station's DONE */
	uint8_t type = 0;
	ck_assert_int_eq(rx(PV_rec_s2n_0, sizeof PV_rec_s2n_0, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_record_open(hs, false, PV_rec_s2n_0, PV_rec_s2n_0 + HDR, len, &type, payload, &len),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(type, AKM_REC_DONE);
	EQ(payload, len, PV_done_payload);
	ck_assert_uint_eq(hs->received, 1);
	akm_proto_done d;
	ck_assert_int_eq(akm_proto_done_parse(payload, len, &d), AKM_FMT_OK);
	ck_assert_uint_eq(d.result, PV_DONE_RESULT);
	ck_assert_uint_eq(d.status, PV_DONE_STATUS);
	ck_assert_uint_eq(d.n, PV_DONE_N);
	akm_proto_hs_free(hs);
}
END_TEST

START_TEST(vectors_station_side)
{
	uint8_t body[AKM_PROTO_BODY_MAX], frame[AKM_PROTO_FRAME_MAX], payload[AKM_PROTO_BODY_MAX];
	size_t blen, flen, len;
	/* message 1 -> message 2 */
	akm_proto_hs *hs = hs_new();
	uint8_t n_i[16], g_x[65];
	ck_assert_int_eq(rx(PV_msg1, sizeof PV_msg1, AKM_PROTO_HELLO, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_hello_parse(PV_msg1 + HDR, len, n_i, g_x), AKM_FMT_OK);
	EQ(n_i, 16, PV_n_i);
	EQ(g_x, 65, PV_G_X);
	akm_proto_after_ecdh(hs, PV_msg1, sizeof PV_msg1, PV_n_r, PV_G_Y, PV_Z);
	EQ32(hs->th2, PV_TH_2);
	EQ32(hs->prk2e, PV_PRK_2e);
	akm_proto_cookie_seal(hs, PV_k_cookie, PV_n_c, PV_T_ISSUE);
	EQ(hs->cookie, AKM_PROTO_COOKIE_LEN, PV_cookie);
	EQ32(hs->th3, PV_TH_3);
	EQ32(hs->k3, PV_K_3);
	ck_assert_int_eq(akm_proto_challenge(hs, PV_n_r, PV_G_Y, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_CHALLENGE, body, blen, frame, sizeof frame, &flen), AKM_FMT_OK);
	EQ(frame, flen, PV_msg2);
	akm_proto_hs_free(hs);
	/* message 3, with nothing kept */
	hs = hs_new();
	ck_assert_int_eq(rx(PV_msg3, sizeof PV_msg3, AKM_PROTO_PROOF, &len), AKM_FMT_OK);
	const uint8_t *cookie;
	ck_assert_int_eq(akm_proto_proof_cookie(PV_msg3 + HDR, len, &cookie), AKM_FMT_OK);
	uint64_t t = 0;
	ck_assert(akm_proto_cookie_open(hs, PV_k_cookie, cookie, &t));
	ck_assert_uint_eq(t, PV_T_ISSUE);
	EQ32(hs->th2, PV_TH_2);
	EQ32(hs->prk2e, PV_PRK_2e);
	EQ32(hs->th3, PV_TH_3);
	EQ32(hs->k3, PV_K_3);
	akm_proto_id id, want;
	uint8_t mac3[32], prk3[32];
	ck_assert_int_eq(akm_proto_proof_open(hs, PV_msg3 + HDR, len, &id, mac3), AKM_FMT_OK);
	vector_id(&want);
	ck_assert(memcmp(&id, &want, sizeof id) == 0);
	EQ32(mac3, PV_MAC_3);
	prk3_of(hs, PV_k_pr_mac, prk3);
	EQ32(prk3, PV_PRK_3);
	akm_proto_after_psk(hs, &id, prk3);
	EQ32(hs->th3m, PV_TH_3m);
	ck_assert(akm_proto_mac3_ok(hs, mac3));
	EQ32(hs->th4, PV_TH_4);
	EQ32(hs->k4, PV_K_4);
	EQ32(hs->k_n2s, PV_K_n2s);
	EQ32(hs->k_s2n, PV_K_s2n);
	/* message 4 */
	akm_proto_result r;
	memset(&r, 0, sizeof r);
	r.result = PV_RESULT;
	r.status = PV_STATUS;
	memcpy(r.station_id, PV_station_id, r.station_id_len = sizeof PV_station_id);
	memcpy(r.challenge, PV_challenge, 32);
	ck_assert_int_eq(akm_proto_result_seal(hs, &r, body, sizeof body, &blen), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_RESULT, body, blen, frame, sizeof frame, &flen), AKM_FMT_OK);
	EQ(frame, flen, PV_msg4);
	/* the node's records */
	uint8_t type = 0;
	akm_proto_node_rec nr, want_nr;
	ck_assert_int_eq(rx(PV_rec_n2s_0, sizeof PV_rec_n2s_0, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_record_open(hs, true, PV_rec_n2s_0, PV_rec_n2s_0 + HDR, len, &type, payload, &len),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(type, AKM_REC_VERIFY);
	ck_assert_int_eq(akm_proto_node_rec_parse(type, payload, len, &nr), AKM_FMT_OK);
	EQ32(nr.proof, PV_proof);
	ck_assert_uint_eq(nr.nevents, 0);
	uint8_t proof[32];
	proof_of(PV_k_pr_mac, &id, PV_challenge, proof);
	ck_assert(memcmp(proof, nr.proof, 32) == 0);
	ck_assert_int_eq(rx(PV_rec_n2s_1, sizeof PV_rec_n2s_1, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_record_open(hs, true, PV_rec_n2s_1, PV_rec_n2s_1 + HDR, len, &type, payload, &len),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(type, AKM_REC_REPORT);
	EQ(payload, len, PV_report_payload);
	ck_assert_int_eq(akm_proto_node_rec_parse(type, payload, len, &nr), AKM_FMT_OK);
	vector_events(&want_nr);
	ck_assert(memcmp(&nr, &want_nr, sizeof nr) == 0);
	ck_assert_uint_eq(hs->received, 2);
	ck_assert_int_eq(rx(PV_rec_n2s_2, sizeof PV_rec_n2s_2, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_record_open(hs, true, PV_rec_n2s_2, PV_rec_n2s_2 + HDR, len, &type, payload, &len),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(type, AKM_REC_VERIFY);
	EQ(payload, len, PV_checkin_report);
	ck_assert_int_eq(akm_proto_node_rec_parse(type, payload, len, &nr), AKM_FMT_OK);
	vector_checkin(&want_nr);
	ck_assert(memcmp(&nr, &want_nr, sizeof nr) == 0);
	/* DONE */
	akm_proto_done d = { PV_DONE_RESULT, PV_DONE_STATUS, PV_DONE_N };
	ck_assert_int_eq(akm_proto_done_encode(&d, payload, sizeof payload, &len), AKM_FMT_OK);
	EQ(payload, len, PV_done_payload);
	ck_assert_int_eq(akm_proto_record_seal(hs, false, AKM_REC_DONE, payload, len, frame, sizeof frame, &flen),
	                 AKM_FMT_OK);
	EQ(frame, flen, PV_rec_s2n_0);
	ck_assert_uint_eq(hs->sent, 1);
	akm_proto_hs_free(hs);
}
END_TEST

/* ---- a full exchange ---- */

/* n records each way, of growing payloads; counters advance on both sides. */
static void records_both_ways(exchange *x, int n, size_t max_payload)
{
	uint8_t payload[AKM_PROTO_BODY_MAX], got[AKM_PROTO_BODY_MAX], frame[AKM_PROTO_FRAME_MAX];
	for (int dir = 0; dir < 2; dir++) {
		bool from_node = dir == 0;
		akm_proto_hs *tx = from_node ? x->node : x->station, *rxs = from_node ? x->station : x->node;
		for (int i = 0; i < n; i++) {
			size_t plen = n == 1 ? max_payload : max_payload * (size_t)i / (size_t)(n - 1);
			randombytes_buf(payload, plen);
			size_t flen, len, glen;
			uint8_t type = 0;
			ck_assert_int_eq(akm_proto_record_seal(tx, from_node, (uint8_t)(0x10 + i), payload, plen, frame,
			                                       sizeof frame, &flen), AKM_FMT_OK);
			ck_assert_uint_eq(flen, HDR + 1 + plen + AKM_PROTO_TAG_LEN);
			ck_assert_uint_eq(tx->sent, (uint64_t)i + 1);
			ck_assert_int_eq(rx(frame, flen, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
			ck_assert_int_eq(akm_proto_record_open(rxs, from_node, frame, frame + HDR, len, &type, got, &glen),
			                 AKM_FMT_OK);
			ck_assert_uint_eq(type, 0x10 + i);
			ck_assert_uint_eq(glen, plen);
			ck_assert(memcmp(got, payload, plen) == 0);
			ck_assert_uint_eq(rxs->received, (uint64_t)i + 1);
		}
	}
}

START_TEST(round_trip)
{
	/* Shortest, typical and longest fields. */
	static const size_t sizes[][4] = { { 1, 1, 1, 0 }, { 16, 16, 11, 16 }, { 32, 32, 64, 32 }, { 32, 1, 64, 1 } };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		exchange x;
		exchange_run_random(&x, sizes[k][0], sizes[k][1], sizes[k][2], sizes[k][3]);
		size_t proof_len = x.msg3_len - HDR;
		ck_assert_uint_eq(proof_len, AKM_PROTO_COOKIE_LEN + 4 + sizes[k][0] + sizes[k][1] + sizes[k][2] + 32 +
		                             AKM_PROTO_TAG_LEN);
		ck_assert_uint_eq(x.msg4_len - HDR, 32 + 3 + sizes[k][3] + AKM_PROTO_TAG_LEN);
		records_both_ways(&x, 4, AKM_PROTO_BODY_MAX - AKM_PROTO_RECORD_MIN);
		exchange_free(&x);
	}
	/* The vectors' inputs too, and then a VERIFY and its DONE. */
	exchange x;
	exchange_run_vectors(&x);
	ck_assert_uint_eq(x.msg1_len, sizeof PV_msg1);
	ck_assert(memcmp(x.msg1, PV_msg1, x.msg1_len) == 0);
	ck_assert(memcmp(x.msg2, PV_msg2, x.msg2_len) == 0 && x.msg2_len == sizeof PV_msg2);
	ck_assert(memcmp(x.msg3, PV_msg3, x.msg3_len) == 0 && x.msg3_len == sizeof PV_msg3);
	ck_assert(memcmp(x.msg4, PV_msg4, x.msg4_len) == 0 && x.msg4_len == sizeof PV_msg4);
	records_both_ways(&x, 3, 40);
	exchange_free(&x);
}
END_TEST

START_TEST(wrong_relationship_key)
{
	/* The station computes PRK_3 with another MAC key: MAC_3 does not
	 * match, and a node with the wrong key cannot open message 4. */
	exchange x;
	exchange_run_vectors(&x);
	uint8_t other[32], prk3[32], mac3[32], body[AKM_PROTO_BODY_MAX];
	memcpy(other, PV_k_pr_mac, 32);
	other[31] ^= 1;
	akm_proto_hs *st = hs_new();
	uint64_t t;
	akm_proto_id id;
	ck_assert(akm_proto_cookie_open(st, x.k_cookie, x.msg3 + HDR, &t));
	ck_assert_int_eq(akm_proto_proof_open(st, x.msg3 + HDR, x.msg3_len - HDR, &id, mac3), AKM_FMT_OK);
	prk3_of(st, other, prk3);
	akm_proto_after_psk(st, &id, prk3);
	ck_assert(!akm_proto_mac3_ok(st, mac3));
	size_t blen;
	ck_assert_int_eq(akm_proto_result_seal(st, &x.result, body, sizeof body, &blen), AKM_FMT_OK);
	akm_proto_result r;
	ck_assert_int_eq(akm_proto_result_open(x.node, body, blen, &r), AKM_FMT_BAD_FIELD);
	/* Other IDs with the right key: another MAC_3 too. */
	prk3_of(st, PV_k_pr_mac, prk3);
	id.hw[0] ^= 1;
	akm_proto_after_psk(st, &id, prk3);
	ck_assert(!akm_proto_mac3_ok(st, mac3));
	akm_proto_hs_free(st);
	exchange_free(&x);
}
END_TEST

/* ---- every single-byte change ---- */

/* The node takes a message 2 and answers; the station takes the answer.
 * Returns where it was refused. */
enum { AT_FRAME = 1, AT_PARSE, AT_COOKIE, AT_PROOF, ACCEPTED };
static int msg2_path(const exchange *x, akm_proto_hs *nd, akm_proto_hs *st, const uint8_t *msg2, size_t n,
                     akm_fmt_rc *rc)
{
	size_t len, blen;
	uint8_t n_r[16], g_y[65], body[AKM_PROTO_BODY_MAX], prk3[32], mac3[32];
	memset(nd, 0, sizeof *nd);
	memset(st, 0, sizeof *st);
	if ((*rc = rx(msg2, n, AKM_PROTO_CHALLENGE, &len)) != AKM_FMT_OK)
		return AT_FRAME;
	if ((*rc = akm_proto_challenge_parse(nd, msg2 + HDR, len, n_r, g_y)) != AKM_FMT_OK)
		return AT_PARSE;
	akm_proto_after_ecdh(nd, x->msg1, x->msg1_len, n_r, g_y, x->z);
	prk3_of(nd, x->k_pr_mac, prk3);
	akm_proto_after_psk(nd, &x->id, prk3);
	ck_assert_int_eq(akm_proto_proof(nd, &x->id, body, sizeof body, &blen), AKM_FMT_OK);
	uint64_t t;
	if (!akm_proto_cookie_open(st, x->k_cookie, body, &t))
		return AT_COOKIE;
	akm_proto_id id;
	if ((*rc = akm_proto_proof_open(st, body, blen, &id, mac3)) != AKM_FMT_OK)
		return AT_PROOF;
	return ACCEPTED;
}

START_TEST(msg2_every_byte_changed)
{
	exchange x;
	exchange_run_vectors(&x);
	akm_fmt_rc rc;
	akm_proto_hs *nd = hs_new(), *st = hs_new();
	ck_assert_int_eq(msg2_path(&x, nd, st, x.msg2, x.msg2_len, &rc), ACCEPTED);
	uint8_t m[AKM_PROTO_FRAME_MAX];
	const size_t g_y = HDR + 16, cookie = g_y + 65;
	for (size_t pos = 0; pos < x.msg2_len; pos++) {
		for (unsigned delta = 1; delta < 256; delta++) {
			memcpy(m, x.msg2, x.msg2_len);
			m[pos] ^= (uint8_t)delta;
			int at = msg2_path(&x, nd, st, m, x.msg2_len, &rc);
			if (pos < HDR) {
				ck_assert_int_eq(at, AT_FRAME);
				check_header_refused(m, x.msg2_len, AKM_PROTO_CHALLENGE, pos);
			} else if (pos == g_y) { /* not an uncompressed point */
				ck_assert_int_eq(at, AT_PARSE);
				ck_assert_int_eq(rc, AKM_FMT_BAD_FIELD);
			} else if (pos >= cookie) {
				ck_assert_msg(at == AT_COOKIE, "msg2 byte %zu ^ %02x: refused at %d", pos, delta, at);
			} else { /* N_R, G_Y: another TH_2, so another K_3 */
				ck_assert_msg(at == AT_PROOF, "msg2 byte %zu ^ %02x: refused at %d", pos, delta, at);
				ck_assert_int_eq(rc, AKM_FMT_BAD_FIELD);
			}
		}
	}
	akm_proto_hs_free(nd);
	akm_proto_hs_free(st);
	exchange_free(&x);
}
END_TEST

START_TEST(msg3_every_byte_changed)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t m[AKM_PROTO_FRAME_MAX], mac3[32];
	akm_proto_hs *st = hs_new();
	for (size_t pos = 0; pos < x.msg3_len; pos++) {
		for (unsigned delta = 1; delta < 256; delta++) {
			memcpy(m, x.msg3, x.msg3_len);
			m[pos] ^= (uint8_t)delta;
			size_t len;
			akm_fmt_rc rc = rx(m, x.msg3_len, AKM_PROTO_PROOF, &len);
			if (pos < HDR) {
				check_header_refused(m, x.msg3_len, AKM_PROTO_PROOF, pos);
				continue;
			}
			ck_assert_int_eq(rc, AKM_FMT_OK);
			const uint8_t *cookie;
			ck_assert_int_eq(akm_proto_proof_cookie(m + HDR, len, &cookie), AKM_FMT_OK);
			memset(st, 0, sizeof *st);
			uint64_t t;
			bool opened = akm_proto_cookie_open(st, x.k_cookie, cookie, &t);
			if (pos < HDR + AKM_PROTO_COOKIE_LEN) {
				ck_assert_msg(!opened, "msg3 byte %zu ^ %02x: the cookie opened", pos, delta);
				continue;
			}
			ck_assert(opened);
			akm_proto_id id;
			ck_assert_int_eq(akm_proto_proof_open(st, m + HDR, len, &id, mac3), AKM_FMT_BAD_FIELD);
		}
	}
	akm_proto_hs_free(st);
	exchange_free(&x);
}
END_TEST

START_TEST(msg4_every_byte_changed)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t m[AKM_PROTO_FRAME_MAX];
	for (size_t pos = 0; pos < x.msg4_len; pos++) {
		for (unsigned delta = 1; delta < 256; delta++) {
			memcpy(m, x.msg4, x.msg4_len);
			m[pos] ^= (uint8_t)delta;
			size_t len;
			akm_fmt_rc rc = rx(m, x.msg4_len, AKM_PROTO_RESULT, &len);
			if (pos < HDR) {
				check_header_refused(m, x.msg4_len, AKM_PROTO_RESULT, pos);
				continue;
			}
			ck_assert_int_eq(rc, AKM_FMT_OK);
			akm_proto_result r;
			ck_assert_int_eq(akm_proto_result_open(x.node, m + HDR, len, &r), AKM_FMT_BAD_FIELD);
		}
	}
	exchange_free(&x);
}
END_TEST

/* A record changed anywhere does not open, and the counter stays; the
 * header is the AEAD's associated data, so a changed header passed to
 * record_open with the original body does not open either. */
static void record_every_byte_changed(akm_proto_hs *receiver, bool from_node, const uint8_t *rec, size_t n)
{
	uint8_t m[AKM_PROTO_FRAME_MAX], type, payload[AKM_PROTO_BODY_MAX];
	size_t plen, len;
	uint64_t before = receiver->received;
	for (size_t pos = 0; pos < n; pos++) {
		for (unsigned delta = 1; delta < 256; delta++) {
			memcpy(m, rec, n);
			m[pos] ^= (uint8_t)delta;
			if (pos < HDR) {
				check_header_refused(m, n, AKM_PROTO_RECORD, pos);
				ck_assert_int_eq(akm_proto_record_open(receiver, from_node, m, rec + HDR, n - HDR, &type,
				                                       payload, &plen), AKM_FMT_BAD_FIELD);
			} else {
				ck_assert_int_eq(rx(m, n, AKM_PROTO_RECORD, &len), AKM_FMT_OK);
				ck_assert_int_eq(akm_proto_record_open(receiver, from_node, m, m + HDR, len, &type, payload,
				                                       &plen), AKM_FMT_BAD_FIELD);
			}
			ck_assert_uint_eq(receiver->received, before);
		}
	}
	/* The record as sent still opens. */
	ck_assert_int_eq(akm_proto_record_open(receiver, from_node, rec, rec + HDR, n - HDR, &type, payload, &plen),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(receiver->received, before + 1);
}

START_TEST(records_every_byte_changed)
{
	exchange x;
	exchange_run_vectors(&x);
	record_every_byte_changed(x.station, true, PV_rec_n2s_0, sizeof PV_rec_n2s_0);
	record_every_byte_changed(x.station, true, PV_rec_n2s_1, sizeof PV_rec_n2s_1);
	record_every_byte_changed(x.node, false, PV_rec_s2n_0, sizeof PV_rec_s2n_0);
	exchange_free(&x);
}
END_TEST

START_TEST(records_replayed_reordered_reflected)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t rec[3][AKM_PROTO_FRAME_MAX], type, payload[AKM_PROTO_BODY_MAX];
	size_t len[3], plen;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(akm_proto_record_seal(x.node, true, AKM_REC_VERIFY, (const uint8_t *)"abc", 3, rec[i],
		                                       sizeof rec[i], &len[i]), AKM_FMT_OK);
	/* same payload, another counter: other bytes */
	ck_assert(memcmp(rec[0], rec[1], len[0]) != 0);
	akm_proto_hs *st = x.station;
#define OPEN(i) akm_proto_record_open(st, true, rec[i], rec[i] + HDR, len[i] - HDR, &type, payload, &plen)
	ck_assert_int_eq(OPEN(1), AKM_FMT_BAD_FIELD); /* ahead of its turn */
	ck_assert_uint_eq(st->received, 0);
	ck_assert_int_eq(OPEN(0), AKM_FMT_OK);
	ck_assert_int_eq(OPEN(0), AKM_FMT_BAD_FIELD); /* replayed */
	ck_assert_int_eq(OPEN(2), AKM_FMT_BAD_FIELD); /* one skipped */
	ck_assert_uint_eq(st->received, 1);
	ck_assert_int_eq(OPEN(1), AKM_FMT_OK);
	ck_assert_int_eq(OPEN(0), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(OPEN(1), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(OPEN(2), AKM_FMT_OK);
	ck_assert_int_eq(OPEN(2), AKM_FMT_BAD_FIELD);
	ck_assert_uint_eq(st->received, 3);
#undef OPEN
	/* Reflected: the node's record back to the node, in either direction's
	 * keys at the node's counter 0. */
	ck_assert_int_eq(akm_proto_record_open(x.node, false, rec[0], rec[0] + HDR, len[0] - HDR, &type, payload,
	                                       &plen), AKM_FMT_BAD_FIELD);
	/* The station's record opened as the node's. */
	ck_assert_int_eq(akm_proto_record_open(x.station, true, PV_rec_s2n_0, PV_rec_s2n_0 + HDR,
	                                       sizeof PV_rec_s2n_0 - HDR, &type, payload, &plen), AKM_FMT_BAD_FIELD);
	ck_assert_uint_eq(x.node->received, 0);
	exchange_free(&x);
}
END_TEST

START_TEST(cookie_keys)
{
	akm_proto_hs *hs = hs_new(), *before = hs_new();
	uint8_t key[32];
	uint64_t t = 7;
	/* The wrong key, every bit of it: nothing changes. */
	for (size_t bit = 0; bit < 256; bit++) {
		memcpy(key, PV_k_cookie, 32);
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(hs, 0x5a, sizeof *hs);
		memcpy(before, hs, sizeof *hs);
		ck_assert(!akm_proto_cookie_open(hs, key, PV_cookie, &t));
		ck_assert(memcmp(hs, before, sizeof *hs) == 0);
		ck_assert_uint_eq(t, 7);
	}
	/* A cookie sealed under another key is not this one's. */
	akm_proto_hs *other = hs_new();
	memcpy(other->prk2e, PV_PRK_2e, 32);
	memcpy(other->th2, PV_TH_2, 32);
	akm_proto_cookie_seal(other, key, PV_n_c, PV_T_ISSUE);
	ck_assert(memcmp(other->cookie, PV_cookie, AKM_PROTO_COOKIE_LEN) != 0);
	ck_assert(!akm_proto_cookie_open(hs, PV_k_cookie, other->cookie, &t));
	ck_assert(akm_proto_cookie_open(hs, key, other->cookie, &t));
	ck_assert_uint_eq(t, PV_T_ISSUE);
	/* The right key. */
	ck_assert(akm_proto_cookie_open(hs, PV_k_cookie, PV_cookie, &t));
	ck_assert_uint_eq(t, PV_T_ISSUE);
	EQ32(hs->prk2e, PV_PRK_2e);
	EQ32(hs->th2, PV_TH_2);
	akm_proto_hs_free(other);
	akm_proto_hs_free(before);
	akm_proto_hs_free(hs);
}
END_TEST

/* ---- frames ---- */

START_TEST(header_against_the_page)
{
	uint8_t h[HDR] = { 0x41, 0x4b, 0x01, 0, 0, 0 }, type;
	size_t len;
	/* Every type, every length up to past the maximum, and the largest. */
	for (unsigned t = 0; t < 256; t++) {
		for (unsigned n = 0; n <= 0xffff; n = n == 1100 ? 0xfffe : n + 1) {
			h[3] = (uint8_t)t;
			h[4] = (uint8_t)(n >> 8);
			h[5] = (uint8_t)n;
			type = 0xee;
			len = 0xeeee;
			akm_fmt_rc rc = akm_proto_header(h, &type, &len);
			ck_assert_msg(rc == model_header(h), "type %u length %u: %d", t, n, rc);
			if (rc == AKM_FMT_OK) {
				ck_assert_uint_eq(type, t);
				ck_assert_uint_eq(len, n);
			}
		}
	}
	/* The cases by name. */
	static const struct { uint8_t type; size_t min, max; } types[] = {
		{ AKM_PROTO_HELLO, 81, 81 }, { AKM_PROTO_CHALLENGE, 193, 193 }, { AKM_PROTO_PROOF, 167, 292 },
		{ AKM_PROTO_RESULT, 51, 83 }, { AKM_PROTO_RECORD, 17, 1024 }, { AKM_PROTO_ERROR, 1, 1 },
	};
	ck_assert_uint_eq(AKM_PROTO_HELLO_LEN, 81);
	ck_assert_uint_eq(AKM_PROTO_CHALLENGE_BODY_LEN, 193);
	ck_assert_uint_eq(AKM_PROTO_PROOF_MIN, 167);
	ck_assert_uint_eq(AKM_PROTO_PROOF_MAX, 292);
	ck_assert_uint_eq(AKM_PROTO_RESULT_MIN, 51);
	ck_assert_uint_eq(AKM_PROTO_RESULT_MAX, 83);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		h[3] = types[i].type;
		size_t cases[] = { types[i].min - 1, types[i].min, types[i].max, types[i].max + 1, 1025 };
		akm_fmt_rc want[] = { AKM_FMT_BAD_FIELD, AKM_FMT_OK, AKM_FMT_OK,
		                      types[i].max + 1 > 1024 ? AKM_FMT_TOO_BIG : AKM_FMT_BAD_FIELD, AKM_FMT_TOO_BIG };
		for (size_t k = 0; k < 5; k++) {
			h[4] = (uint8_t)(cases[k] >> 8);
			h[5] = (uint8_t)cases[k];
			ck_assert_msg(akm_proto_header(h, &type, &len) == want[k], "type %u length %zu", types[i].type,
			              cases[k]);
		}
	}
	h[3] = AKM_PROTO_HELLO;
	h[4] = 0;
	h[5] = 81;
	ck_assert_int_eq(akm_proto_header(h, &type, &len), AKM_FMT_OK);
	for (unsigned t = 0; t < 256; t += 7) { /* unknown types 0 and 7 (and 14, ...) */
		h[3] = (uint8_t)t;
		ck_assert_int_eq(akm_proto_header(h, &type, &len), AKM_FMT_BAD_FIELD);
	}
	h[3] = AKM_PROTO_HELLO;
	h[0] = 0x42;
	ck_assert_int_eq(akm_proto_header(h, &type, &len), AKM_FMT_BAD_MAGIC);
	h[0] = 0x41;
	h[1] = 0x4c;
	ck_assert_int_eq(akm_proto_header(h, &type, &len), AKM_FMT_BAD_MAGIC);
	h[1] = 0x4b;
	static const uint8_t versions[] = { 0, 2, 0x81, 0xff };
	for (size_t i = 0; i < sizeof versions; i++) {
		h[2] = versions[i];
		ck_assert_int_eq(akm_proto_header(h, &type, &len), AKM_FMT_BAD_VERSION);
	}
	/* Bad magic comes first, then the version, then the length. */
	uint8_t all_bad[HDR] = { 0, 0, 2, 0, 0xff, 0xff };
	ck_assert_int_eq(akm_proto_header(all_bad, &type, &len), AKM_FMT_BAD_MAGIC);
	all_bad[0] = 0x41;
	all_bad[1] = 0x4b;
	ck_assert_int_eq(akm_proto_header(all_bad, &type, &len), AKM_FMT_BAD_VERSION);
	all_bad[2] = 1;
	ck_assert_int_eq(akm_proto_header(all_bad, &type, &len), AKM_FMT_TOO_BIG);
}
END_TEST

START_TEST(frame_encoder)
{
	uint8_t body[1025] = { 0 }, out[AKM_PROTO_FRAME_MAX + 8];
	size_t len = 0;
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_ERROR, body, 1, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 7);
	static const uint8_t err[] = { 0x41, 0x4b, 0x01, 0x06, 0x00, 0x01, 0x00 };
	ck_assert(memcmp(out, err, sizeof err) == 0);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_ERROR, body, 2, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_HELLO, body, 80, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_frame(0, body, 1, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_frame(7, body, 1, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_RECORD, body, 1025, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_RECORD, body, 1024, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, AKM_PROTO_FRAME_MAX);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_RECORD, body, 1024, out, AKM_PROTO_FRAME_MAX - 1, &len),
	                 AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_proto_frame(AKM_PROTO_ERROR, body, 1, out, 6, &len), AKM_FMT_TOO_BIG);
}
END_TEST

/* ---- exact sizes ---- */

START_TEST(hello_and_challenge_sizes)
{
	uint8_t body[256] = { 0 }, n[16], p[65];
	size_t len;
	akm_proto_hs *hs = hs_new();
	ck_assert_int_eq(akm_proto_hello(PV_n_i, PV_G_X, body, 81, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 81);
	ck_assert_int_eq(akm_proto_hello(PV_n_i, PV_G_X, body, 80, &len), AKM_FMT_TOO_BIG);
	memcpy(body, PV_msg1 + HDR, 81);
	ck_assert_int_eq(akm_proto_hello_parse(body, 81, n, p), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_hello_parse(body, 82, n, p), AKM_FMT_TRAILING);
	for (size_t k = 0; k < 81; k++)
		ck_assert_int_eq(akm_proto_hello_parse(body, k, n, p), AKM_FMT_TRUNCATED);
	static const uint8_t not_uncompressed[] = { 0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xff };
	for (size_t k = 0; k < sizeof not_uncompressed; k++) {
		body[16] = not_uncompressed[k];
		ck_assert_int_eq(akm_proto_hello_parse(body, 81, n, p), AKM_FMT_BAD_FIELD);
	}
	memcpy(body, PV_msg2 + HDR, 193);
	body[193] = 0;
	ck_assert_int_eq(akm_proto_challenge_parse(hs, body, 193, n, p), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_challenge_parse(hs, body, 194, n, p), AKM_FMT_TRAILING);
	for (size_t k = 0; k < 193; k++)
		ck_assert_int_eq(akm_proto_challenge_parse(hs, body, k, n, p), AKM_FMT_TRUNCATED);
	body[16] = 0x02;
	ck_assert_int_eq(akm_proto_challenge_parse(hs, body, 193, n, p), AKM_FMT_BAD_FIELD);
	memcpy(hs->cookie, PV_cookie, AKM_PROTO_COOKIE_LEN);
	ck_assert_int_eq(akm_proto_challenge(hs, PV_n_r, PV_G_Y, body, 193, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 193);
	ck_assert_int_eq(akm_proto_challenge(hs, PV_n_r, PV_G_Y, body, 192, &len), AKM_FMT_TOO_BIG);
	akm_proto_hs_free(hs);
}
END_TEST

START_TEST(proof_sizes)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t body[AKM_PROTO_BODY_MAX], mac3[32];
	size_t len;
	akm_proto_id id = x.id, got;
	/* Shortest and longest IDs: 167 and 292 bytes, and the station reads
	 * them back. */
	static const size_t lens[][3] = { { 1, 1, 1 }, { 32, 32, 64 } };
	for (size_t k = 0; k < 2; k++) {
		id.pr_id_len = lens[k][0];
		id.node_id_len = lens[k][1];
		id.hw_len = lens[k][2];
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_OK);
		ck_assert_uint_eq(len, k == 0 ? AKM_PROTO_PROOF_MIN : AKM_PROTO_PROOF_MAX);
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, len - 1, &len), AKM_FMT_TOO_BIG);
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_OK);
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, len, &got, mac3), AKM_FMT_OK);
		ck_assert_uint_eq(got.pr_id_len, lens[k][0]);
		ck_assert_uint_eq(got.node_id_len, lens[k][1]);
		ck_assert_uint_eq(got.hw_len, lens[k][2]);
		ck_assert(memcmp(got.hw, id.hw, got.hw_len) == 0);
		ck_assert(memcmp(mac3, x.node->mac3, 32) == 0);
	}
	/* The encoder refuses what the station would. */
	id = x.id;
	size_t *fields[] = { &id.pr_id_len, &id.node_id_len, &id.hw_len };
	size_t too_long[] = { 33, 33, 65 };
	for (size_t f = 0; f < 3; f++) {
		size_t keep = *fields[f];
		*fields[f] = 0;
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_BAD_FIELD);
		*fields[f] = too_long[f];
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_BAD_FIELD);
		*fields[f] = keep;
	}
	static const uint8_t ops[] = { 0, 4, 0xff };
	for (size_t k = 0; k < sizeof ops; k++) {
		id.op = ops[k];
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_BAD_FIELD);
	}
	for (uint8_t op = AKM_OP_ACTIVATE; op <= AKM_OP_REPORT; op++) {
		id.op = op;
		ck_assert_int_eq(akm_proto_proof(x.node, &id, body, sizeof body, &len), AKM_FMT_OK);
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, len, &got, mac3), AKM_FMT_OK);
		ck_assert_uint_eq(got.op, op);
	}
	/* The station's bounds. */
	const uint8_t *cookie;
	memset(body, 0, sizeof body);
	ck_assert_int_eq(akm_proto_proof_cookie(body, 166, &cookie), AKM_FMT_TRUNCATED);
	ck_assert_int_eq(akm_proto_proof_cookie(body, 167, &cookie), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_proof_cookie(body, 292, &cookie), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_proof_cookie(body, 293, &cookie), AKM_FMT_TRAILING);
	ck_assert_int_eq(akm_proto_proof_open(x.station, body, 166, &got, mac3), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_proof_open(x.station, body, 293, &got, mac3), AKM_FMT_BAD_FIELD);
	exchange_free(&x);
}
END_TEST

/* A message 3 whose sealed part is `plain`, as a node that does not follow
 * the encoder could send. */
static size_t craft_proof(const akm_proto_hs *node, const uint8_t *plain, size_t pn, uint8_t *body)
{
	static const uint8_t zero[24];
	unsigned long long cn;
	memcpy(body, node->cookie, AKM_PROTO_COOKIE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(body + AKM_PROTO_COOKIE_LEN, &cn, plain, pn, node->th3, 32, NULL,
	                                           zero, node->k3);
	return AKM_PROTO_COOKIE_LEN + (size_t)cn;
}

START_TEST(proof_plaintext_refused)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t plain[200], body[AKM_PROTO_BODY_MAX], mac3[32];
	akm_proto_id got;
	/* op || lv8(pr 16) || lv8(node 16) || lv8(hw 11) || mac3: the vector */
	const size_t good = 1 + 17 + 17 + 12 + 32;
	memcpy(plain, PV_ID, sizeof PV_ID);
	memcpy(plain + sizeof PV_ID, PV_MAC_3, 32);
	ck_assert_uint_eq(sizeof PV_ID + 32, good);
	size_t n = craft_proof(x.node, plain, good, body);
	ck_assert(n == sizeof PV_msg3 - HDR && memcmp(body, PV_msg3 + HDR, n) == 0);
	ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_OK);
	/* op 0, 4 */
	static const uint8_t ops[] = { 0, 4, 0x80 };
	for (size_t k = 0; k < sizeof ops; k++) {
		plain[0] = ops[k];
		n = craft_proof(x.node, plain, good, body);
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_BAD_FIELD);
	}
	plain[0] = PV_OP;
	/* an ID of length 0 or 33, a hardware value of 65 */
	uint8_t p2[200];
	size_t at_len[] = { 1, 1 + 17, 1 + 17 + 17 };
	for (size_t f = 0; f < 3; f++) {
		memcpy(p2, plain, good);
		p2[at_len[f]] = 0;
		n = craft_proof(x.node, p2, good, body);
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_BAD_FIELD);
		/* over the maximum: the length alone is refused */
		p2[at_len[f]] = f == 2 ? 65 : 33;
		n = craft_proof(x.node, p2, good, body);
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_BAD_FIELD);
	}
	/* MAC_3 one byte short; one byte after it */
	n = craft_proof(x.node, plain, good - 1, body);
	ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_TRUNCATED);
	plain[good] = 0;
	n = craft_proof(x.node, plain, good + 1, body);
	ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &got, mac3), AKM_FMT_TRAILING);
	exchange_free(&x);
}
END_TEST

START_TEST(proof_carries_its_cookie)
{
	/* The station's hs is that of the cookie it opened; a message 3 with
	 * another cookie in front of an AEAD under that hs's K_3 is refused,
	 * whichever cookie byte differs. */
	exchange x;
	exchange_run_vectors(&x);
	uint8_t body[AKM_PROTO_BODY_MAX], mac3[32];
	akm_proto_id id;
	size_t n = x.msg3_len - HDR;
	for (size_t pos = 0; pos < AKM_PROTO_COOKIE_LEN; pos++) {
		memcpy(body, x.msg3 + HDR, n);
		body[pos] ^= 0x01;
		ck_assert_int_eq(akm_proto_proof_open(x.station, body, n, &id, mac3), AKM_FMT_BAD_FIELD);
	}
	ck_assert_int_eq(akm_proto_proof_open(x.station, x.msg3 + HDR, n, &id, mac3), AKM_FMT_OK);
	exchange_free(&x);
}
END_TEST

static size_t craft_result(const akm_proto_hs *node, const uint8_t challenge[32], const uint8_t *plain, size_t pn,
                           uint8_t *body)
{
	uint8_t ad[64];
	unsigned long long cn;
	memcpy(ad, node->th4, 32);
	memcpy(ad + 32, challenge, 32);
	memcpy(body, challenge, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(body + 32, &cn, plain, pn, ad, sizeof ad, NULL, challenge,
	                                           node->k4);
	return 32 + (size_t)cn;
}

START_TEST(result_sizes)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t body[AKM_PROTO_BODY_MAX];
	size_t len;
	akm_proto_result r = x.result, got;
	for (size_t sid = 0; sid <= 32; sid += 32) {
		r.station_id_len = sid;
		ck_assert_int_eq(akm_proto_result_seal(x.station, &r, body, sizeof body, &len), AKM_FMT_OK);
		ck_assert_uint_eq(len, sid == 0 ? AKM_PROTO_RESULT_MIN : AKM_PROTO_RESULT_MAX);
		ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_OK);
		ck_assert_uint_eq(got.station_id_len, sid);
		ck_assert_int_eq(akm_proto_result_seal(x.station, &r, body, len - 1, &len), AKM_FMT_TOO_BIG);
	}
	r.station_id_len = 33;
	ck_assert_int_eq(akm_proto_result_seal(x.station, &r, body, sizeof body, &len), AKM_FMT_BAD_FIELD);
	/* A zeroed challenge would repeat the nonce: refused both ways. */
	r.station_id_len = 3;
	memset(r.challenge, 0, 32);
	ck_assert_int_eq(akm_proto_result_seal(x.station, &r, body, sizeof body, &len), AKM_FMT_BAD_FIELD);
	uint8_t plain[40] = { 0x00, 0x04, 0x01, 0xaa };
	len = craft_result(x.node, r.challenge, plain, 4, body);
	ck_assert_uint_eq(len, 52);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_BAD_FIELD);
	/* Any other single bit of challenge suffices. */
	r.challenge[31] = 0x80;
	ck_assert_int_eq(akm_proto_result_seal(x.station, &r, body, sizeof body, &len), AKM_FMT_OK);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_OK);
	/* Crafted plaintexts: the station ID's length over what is there, a
	 * trailing byte. */
	plain[2] = 0;
	len = craft_result(x.node, PV_challenge, plain, 3, body);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_OK);
	ck_assert_uint_eq(got.station_id_len, 0);
	plain[2] = 5;
	len = craft_result(x.node, PV_challenge, plain, 4, body);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_TRUNCATED);
	plain[2] = 1;
	len = craft_result(x.node, PV_challenge, plain, 5, body);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, len, &got), AKM_FMT_TRAILING);
	/* Two answers to one message 3 (a replay refused with 12) never share a
	 * keystream: another challenge, another nonce. */
	uint8_t a[AKM_PROTO_BODY_MAX], b[AKM_PROTO_BODY_MAX];
	size_t alen, blen;
	r = x.result;
	ck_assert_int_eq(akm_proto_result_seal(x.station, &r, a, sizeof a, &alen), AKM_FMT_OK);
	r.result = AKM_PRES_REPLAY;
	r.challenge[0] ^= 0xff;
	ck_assert_int_eq(akm_proto_result_seal(x.station, &r, b, sizeof b, &blen), AKM_FMT_OK);
	ck_assert_uint_eq(alen, blen);
	/* same R but for the first byte: with one keystream, bytes 1.. would be equal */
	ck_assert(memcmp(a + 33, b + 33, alen - 33 - AKM_PROTO_TAG_LEN) != 0);
	/* the node's bounds */
	memset(body, 0, sizeof body);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, 50, &got), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_result_open(x.node, body, 84, &got), AKM_FMT_BAD_FIELD);
	exchange_free(&x);
}
END_TEST

START_TEST(record_sizes)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t payload[AKM_PROTO_BODY_MAX] = { 0 }, frame[AKM_PROTO_FRAME_MAX + 16], got[AKM_PROTO_BODY_MAX], type;
	size_t len, glen;
	const size_t max = AKM_PROTO_BODY_MAX - AKM_PROTO_RECORD_MIN; /* 1007 */
	ck_assert_int_eq(akm_proto_record_seal(x.node, true, 1, payload, max + 1, frame, sizeof frame, &len),
	                 AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_proto_record_seal(x.node, true, 1, payload, 0, frame, HDR + 16, &len), AKM_FMT_TOO_BIG);
	ck_assert_uint_eq(x.node->sent, 0);
	ck_assert_int_eq(akm_proto_record_seal(x.node, true, 1, NULL, 0, frame, HDR + 17, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, HDR + AKM_PROTO_RECORD_MIN);
	ck_assert_int_eq(akm_proto_record_open(x.station, true, frame, frame + HDR, len - HDR, &type, got, &glen),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(glen, 0);
	ck_assert_int_eq(akm_proto_record_seal(x.node, true, 1, payload, max, frame, AKM_PROTO_FRAME_MAX - 1, &len),
	                 AKM_FMT_TOO_BIG);
	ck_assert_int_eq(akm_proto_record_seal(x.node, true, 1, payload, max, frame, AKM_PROTO_FRAME_MAX, &len),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(len, AKM_PROTO_FRAME_MAX);
	ck_assert_int_eq(akm_proto_record_open(x.station, true, frame, frame + HDR, len - HDR, &type, got, &glen),
	                 AKM_FMT_OK);
	ck_assert_uint_eq(glen, max);
	ck_assert_uint_eq(x.node->sent, 2);
	ck_assert_uint_eq(x.station->received, 2);
	memset(frame, 0, sizeof frame);
	ck_assert_int_eq(akm_proto_record_open(x.station, true, frame, frame + HDR, 16, &type, got, &glen),
	                 AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_record_open(x.station, true, frame, frame + HDR, 1025, &type, got, &glen),
	                 AKM_FMT_BAD_FIELD);
	ck_assert_uint_eq(x.station->received, 2);
	exchange_free(&x);
}
END_TEST

/* ---- record payloads ---- */

static akm_fmt_rc parse_report(const uint8_t *p, size_t n)
{
	akm_proto_node_rec r;
	return akm_proto_node_rec_parse(AKM_REC_REPORT, p, n, &r);
}

/* A report payload of `count` events (header says `count`), each with the
 * given kind and detail. */
static size_t report_of(uint8_t *p, size_t count, uint16_t kind, const char *detail, size_t dn)
{
	size_t n = 0;
	memcpy(p, PV_proof, 32);
	n = 32;
	p[n++] = (uint8_t)(count >> 8);
	p[n++] = (uint8_t)count;
	for (size_t i = 0; i < count; i++) {
		p[n++] = (uint8_t)(kind >> 8);
		p[n++] = (uint8_t)kind;
		memcpy(p + n, "\0\0\0\1\0\0\0\0\x65\x53\xf1\x64", 12);
		n += 12;
		p[n++] = (uint8_t)dn;
		memcpy(p + n, detail, dn);
		n += dn;
	}
	return n;
}

START_TEST(events)
{
	static uint8_t p[8192], out[8192];
	char longest[AKM_PROTO_DETAIL_MAX + 2];
	memset(longest, 'x', sizeof longest);
	size_t n, len;
	akm_proto_node_rec r;
	/* 1 and 32 events, details of 0 and 64 characters: parse and encode
	 * back to the same bytes. */
	static const size_t counts[] = { 1, 32 };
	static const size_t dns[] = { 0, 64 };
	for (size_t c = 0; c < 2; c++) {
		for (size_t d = 0; d < 2; d++) {
			n = report_of(p, counts[c], AKM_EVENT_TAMPER, longest, dns[d]);
			ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_REPORT, p, n, &r), AKM_FMT_OK);
			ck_assert_uint_eq(r.nevents, counts[c]);
			ck_assert_uint_eq(strlen(r.events[counts[c] - 1].detail), dns[d]);
			ck_assert_uint_eq(r.events[0].count, 1);
			ck_assert_uint_eq(r.events[0].time, 1700000100);
			ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_OK);
			ck_assert(len == n && memcmp(out, p, n) == 0);
			ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, n - 1, &len), AKM_FMT_TOO_BIG);
		}
	}
	/* 0 and 33 events; every kind from 0 to 7 */
	n = report_of(p, 0, 1, "", 0);
	ck_assert_int_eq(parse_report(p, n), AKM_FMT_BAD_FIELD);
	n = report_of(p, 33, 1, "", 0);
	ck_assert_int_eq(parse_report(p, n), AKM_FMT_BAD_FIELD);
	for (uint16_t kind = 0; kind <= AKM_EVENT_KIND_MAX + 1; kind++) {
		n = report_of(p, 2, kind, "a", 1);
		ck_assert_int_eq(parse_report(p, n), kind >= 1 && kind <= AKM_EVENT_KIND_MAX ? AKM_FMT_OK : AKM_FMT_BAD_FIELD);
	}
	n = report_of(p, 1, 0x0101, "a", 1);
	ck_assert_int_eq(parse_report(p, n), AKM_FMT_BAD_FIELD);
	/* details: control characters, DEL, bytes over 0x7e, 65 characters */
	static const char bad[] = { 0x00, 0x09, 0x0a, 0x1f, 0x7f, (char)0x80, (char)0xff };
	for (size_t k = 0; k < sizeof bad; k++) {
		char d[3] = { 'a', bad[k], 'b' };
		n = report_of(p, 1, 1, d, 3);
		ck_assert_msg(parse_report(p, n) == AKM_FMT_BAD_FIELD, "detail byte %02x accepted", (uint8_t)bad[k]);
	}
	n = report_of(p, 1, 1, " ~", 2);
	ck_assert_int_eq(parse_report(p, n), AKM_FMT_OK);
	n = report_of(p, 1, 1, longest, 65);
	ck_assert_int_eq(parse_report(p, n), AKM_FMT_BAD_FIELD);
	/* the encoder refuses the same */
	vector_events(&r);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_OK);
	r.nevents = 0;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	r.nevents = 33;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	vector_events(&r);
	r.events[1].kind = AKM_EVENT_KIND_MAX + 1;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	r.events[1].kind = 0;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	vector_events(&r);
	r.events[0].detail[3] = '\t';
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	vector_events(&r);
	memset(r.events[0].detail, 'x', sizeof r.events[0].detail); /* no terminator: 65 characters */
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	/* VERIFY: the proof alone */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32);
	r.nevents = 1;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	r.nevents = 0;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_DONE, &r, out, sizeof out, &len), AKM_FMT_BAD_FIELD);
	/* One byte more is a check-in's held list, of count 0 here (refused). */
	ck_assert_int_eq(PV_report_payload[32], 0);
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, PV_report_payload, 33, &r), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_DONE, PV_proof, 32, &r), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_node_rec_parse(0x03, PV_proof, 32, &r), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_node_rec_parse(0x00, PV_proof, 32, &r), AKM_FMT_BAD_FIELD);
	/* DONE */
	akm_proto_done d;
	ck_assert_int_eq(akm_proto_done_parse(PV_done_payload, 4, &d), AKM_FMT_OK);
	akm_proto_done dd = { 0x14, 0x04, 0xffff };
	ck_assert_int_eq(akm_proto_done_encode(&dd, out, sizeof out, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(akm_proto_done_parse(out, 4, &d), AKM_FMT_OK);
	ck_assert(d.result == 0x14 && d.status == 0x04 && d.n == 0xffff);
	ck_assert_int_eq(akm_proto_done_encode(&dd, out, 3, &len), AKM_FMT_TOO_BIG);
}
END_TEST

/* ---- truncations of every kind ---- */

START_TEST(every_truncation)
{
	exchange x;
	exchange_run_vectors(&x);
	uint8_t buf[AKM_PROTO_FRAME_MAX + 1], mac3[32], type, payload[AKM_PROTO_BODY_MAX], n[16], p[65];
	akm_proto_id id;
	akm_proto_result r;
	akm_proto_node_rec nr;
	akm_proto_done d;
	size_t plen;
	const uint8_t *cookie;
	akm_proto_hs *hs = hs_new();
	/* frames shorter than their header: never read (the caller waits for 6 bytes) */
	/* HELLO, CHALLENGE */
	for (size_t k = 0; k < sizeof PV_msg1 - HDR; k++)
		ck_assert_int_eq(akm_proto_hello_parse(PV_msg1 + HDR, k, n, p), AKM_FMT_TRUNCATED);
	for (size_t k = 0; k < sizeof PV_msg2 - HDR; k++)
		ck_assert_int_eq(akm_proto_challenge_parse(hs, PV_msg2 + HDR, k, n, p), AKM_FMT_TRUNCATED);
	/* PROOF: the station's first step says TRUNCATED below the minimum;
	 * any shorter body does not open */
	for (size_t k = 0; k < sizeof PV_msg3 - HDR; k++) {
		ck_assert_int_eq(akm_proto_proof_cookie(PV_msg3 + HDR, k, &cookie),
		                 k < AKM_PROTO_PROOF_MIN ? AKM_FMT_TRUNCATED : AKM_FMT_OK);
		ck_assert_int_eq(akm_proto_proof_open(x.station, PV_msg3 + HDR, k, &id, mac3), AKM_FMT_BAD_FIELD);
	}
	/* RESULT, RECORD */
	for (size_t k = 0; k < sizeof PV_msg4 - HDR; k++)
		ck_assert_int_eq(akm_proto_result_open(x.node, PV_msg4 + HDR, k, &r), AKM_FMT_BAD_FIELD);
	for (size_t k = 0; k < sizeof PV_rec_n2s_1 - HDR; k++) {
		ck_assert_int_eq(akm_proto_record_open(x.station, true, PV_rec_n2s_1, PV_rec_n2s_1 + HDR, k, &type, payload,
		                                       &plen), AKM_FMT_BAD_FIELD);
		ck_assert_uint_eq(x.station->received, 0);
	}
	/* payloads: VERIFY, REPORT, DONE */
	for (size_t k = 0; k < 32; k++)
		ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, PV_proof, k, &nr), AKM_FMT_TRUNCATED);
	for (size_t k = 0; k < sizeof PV_report_payload; k++)
		ck_assert_msg(akm_proto_node_rec_parse(AKM_REC_REPORT, PV_report_payload, k, &nr) == AKM_FMT_TRUNCATED,
		              "report cut at %zu", k);
	for (size_t k = 0; k < 4; k++)
		ck_assert_int_eq(akm_proto_done_parse(PV_done_payload, k, &d), AKM_FMT_TRUNCATED);
	/* one byte more begins the node's report (be64 through, u8 n): cut
	 * short; the whole of an empty one parses */
	memset(buf, 0, sizeof buf);
	memcpy(buf, PV_report_payload, sizeof PV_report_payload);
	for (size_t k = 1; k < 9; k++)
		ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_REPORT, buf, sizeof PV_report_payload + k, &nr),
		                 AKM_FMT_TRUNCATED);
	buf[sizeof PV_report_payload + 7] = 42;
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_REPORT, buf, sizeof PV_report_payload + 9, &nr), AKM_FMT_OK);
	ck_assert(nr.has_report);
	ck_assert_uint_eq(nr.through, 42);
	ck_assert_uint_eq(nr.nevents, PV_NEVENTS);
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_REPORT, buf, sizeof PV_report_payload + 10, &nr),
	                 AKM_FMT_TRAILING);
	memcpy(buf, PV_done_payload, 4);
	buf[4] = 0;
	ck_assert_int_eq(akm_proto_done_parse(buf, 5, &d), AKM_FMT_TRAILING);
	akm_proto_hs_free(hs);
	exchange_free(&x);
}
END_TEST


/* Check-in delivery: the held list of a VERIFY (optional: a VERIFY
 * without it is the proof alone, as before), FETCH and ITEM. */
START_TEST(checkin_delivery_records)
{
	akm_proto_node_rec r = {0}, back;
	uint8_t buf[AKM_PROTO_BODY_MAX];
	size_t len;
	memset(r.proof, 0x11, 32);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32);
	r.nheld = 2;
	memcpy(r.held[0].asr_id, "asr-one", 7);
	r.held[0].asr_id_len = 7;
	r.held[0].gen = 3;
	memset(r.held[1].asr_id, 0xab, 32);
	r.held[1].asr_id_len = 32;
	r.held[1].gen = 0xfffffffe;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32 + 1 + (1 + 7 + 4) + (1 + 32 + 4));
	ck_assert_uint_eq(buf[32], 2);
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, len, &back), AKM_FMT_OK);
	ck_assert_uint_eq(back.nheld, 2);
	ck_assert_uint_eq(back.held[1].gen, 0xfffffffe);
	ck_assert_mem_eq(back.held[0].asr_id, "asr-one", 7);
	for (size_t n = 33; n < len; n++)
		ck_assert_int_ne(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, n, &back), AKM_FMT_OK);
	/* A count of 0 or 17, an empty ID; a held list on a REPORT. */
	buf[32] = 0;
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, 33, &back), AKM_FMT_BAD_FIELD);
	buf[32] = 17;
	ck_assert_int_ne(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, len, &back), AKM_FMT_OK);
	r.held[0].asr_id_len = 0;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r.held[0].asr_id_len = 7;
	r.nheld = 17;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r.nheld = 1;
	r.nevents = 1;
	r.events[0].kind = AKM_EVENT_OTHER;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);

	/* The check-in report: with no held ASR the count 0 is written; every
	 * truncation refused; a kind or count of 0, 17 events, refused. */
	memset(&r, 0, sizeof r);
	r.has_report = true;
	r.through = 77;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32 + 1 + 8 + 1);
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, len, &back), AKM_FMT_OK);
	ck_assert(back.has_report);
	ck_assert_uint_eq(back.through, 77);
	ck_assert_uint_eq(back.nheld, 0);
	r.ncevents = AKM_PROTO_CEVENTS_MAX;
	for (size_t i = 0; i < r.ncevents; i++)
		r.cevents[i] = (akm_proto_cevent){AKM_EVENT_FORGED, 1, 5, (uint32_t)i, 2, {'a'}, 1};
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32 + 1 + 8 + 1 + AKM_PROTO_CEVENTS_MAX * akm_proto_cevent_len(&r.cevents[0]));
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, len, &back), AKM_FMT_OK);
	ck_assert_uint_eq(back.ncevents, AKM_PROTO_CEVENTS_MAX);
	ck_assert_uint_eq(back.cevents[15].sender, 15);
	for (size_t n = 33; n < len; n++)
		ck_assert_int_ne(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, n, &back), AKM_FMT_OK);
	buf[41] = AKM_PROTO_CEVENTS_MAX + 1;
	ck_assert_int_ne(akm_proto_node_rec_parse(AKM_REC_VERIFY, buf, len, &back), AKM_FMT_OK);
	r.ncevents = AKM_PROTO_CEVENTS_MAX + 1;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r.ncevents = 1;
	r.cevents[0].count = 0;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	r.cevents[0].count = 1;
	r.cevents[0].kind = AKM_EVENT_KIND_MAX + 1;
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_VERIFY, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	/* a REPORT carries it after its events (no held ASR, no sealed counts) */
	r.cevents[0].kind = AKM_EVENT_FORGED;
	r.nevents = 1;
	r.events[0] = (akm_proto_event){AKM_EVENT_OTHER, 1, 7, "x"};
	ck_assert_int_eq(akm_proto_node_rec_encode(AKM_REC_REPORT, &r, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 32 + 2 + (2 + 4 + 8 + 1 + 1) + 8 + 1 + akm_proto_cevent_len(&r.cevents[0]));
	ck_assert_int_eq(akm_proto_node_rec_parse(AKM_REC_REPORT, buf, len, &back), AKM_FMT_OK);
	ck_assert(back.has_report && back.ncevents == 1 && back.nevents == 1 && back.nheld == 0);
	ck_assert_uint_eq(back.cevents[0].kind, AKM_EVENT_FORGED);
	ck_assert_uint_eq(back.through, 77);

	akm_proto_part f, it;
	ck_assert_int_eq(akm_proto_fetch_encode(3, 1, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(akm_proto_fetch_parse(buf, 2, &f), AKM_FMT_OK);
	ck_assert_uint_eq(f.item, 3);
	ck_assert_uint_eq(f.part, 1);
	ck_assert_int_eq(akm_proto_fetch_parse(buf, 1, &f), AKM_FMT_TRUNCATED);
	ck_assert_int_eq(akm_proto_fetch_parse(buf, 3, &f), AKM_FMT_TRAILING);

	ck_assert_uint_eq(akm_proto_item_parts(1), 1);
	ck_assert_uint_eq(akm_proto_item_parts(AKM_PROTO_ITEM_PART), 1);
	ck_assert_uint_eq(akm_proto_item_parts(AKM_PROTO_ITEM_PART + 1), 2);
	ck_assert_uint_eq(akm_proto_item_parts(AKM_PROTO_ITEM_MAX), 5);
	uint8_t data[AKM_PROTO_ITEM_PART + 1];
	memset(data, 0x5c, sizeof data);
	it = (akm_proto_part){.item = 1, .part = 1, .parts = 2, .data = data, .len = AKM_PROTO_ITEM_PART};
	ck_assert_int_eq(akm_proto_item_encode(&it, buf, sizeof buf, &len), AKM_FMT_OK);
	ck_assert_uint_eq(len, 3 + AKM_PROTO_ITEM_PART);
	ck_assert_int_eq(akm_proto_item_parse(buf, len, &f), AKM_FMT_OK);
	ck_assert(f.item == 1 && f.part == 1 && f.parts == 2 && f.len == AKM_PROTO_ITEM_PART && f.data == buf + 3);
	ck_assert_int_eq(akm_proto_item_parse(buf, 3, &f), AKM_FMT_TRUNCATED);
	ck_assert_int_eq(akm_proto_item_parse(buf, 2, &f), AKM_FMT_TRUNCATED);
	/* Too much data, a part past the parts, 0 or 6 parts. */
	it.len = AKM_PROTO_ITEM_PART + 1;
	ck_assert_int_eq(akm_proto_item_encode(&it, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	it.len = 10;
	it.part = 2;
	ck_assert_int_eq(akm_proto_item_encode(&it, buf, sizeof buf, &len), AKM_FMT_BAD_FIELD);
	for (int parts = 0; parts <= 6; parts += 6) {
		uint8_t bad[13] = {0, 0, (uint8_t)parts};
		ck_assert_int_eq(akm_proto_item_parse(bad, sizeof bad, &f), AKM_FMT_BAD_FIELD);
	}
	uint8_t big[4 + AKM_PROTO_ITEM_PART] = {0, 0, 1};
	ck_assert_int_ne(akm_proto_item_parse(big, sizeof big, &f), AKM_FMT_OK);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(akm_proto_op_name(AKM_OP_ACTIVATE), "activate");
	ck_assert_str_eq(akm_proto_op_name(AKM_OP_CHECKIN), "checkin");
	ck_assert_str_eq(akm_proto_op_name(AKM_OP_REPORT), "report");
	ck_assert_str_eq(akm_proto_op_name(0), "?");
	ck_assert_str_eq(akm_proto_error_name(AKM_PERR_REFUSED), "refused");
	ck_assert_str_eq(akm_proto_error_name(0), "unknown error");
	ck_assert_str_eq(akm_proto_result_name(AKM_PRES_REPLAY), "replayed exchange");
	ck_assert_str_eq(akm_proto_result_name(0x15), "unknown result");
	ck_assert_str_eq(akm_proto_event_name(AKM_EVENT_TAMPER), "tamper");
	ck_assert_str_eq(akm_proto_event_name(AKM_EVENT_FORGED), "forged");
	ck_assert_str_eq(akm_proto_event_name(AKM_EVENT_KIND_MAX + 1), "?");
}
END_TEST

int main(void)
{
	if (sodium_init() < 0)
		return EXIT_FAILURE;
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("proto");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, vectors_node_side);
	tcase_add_test(tc, vectors_station_side);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, wrong_relationship_key);
	tcase_add_test(tc, msg2_every_byte_changed);
	tcase_add_test(tc, msg3_every_byte_changed);
	tcase_add_test(tc, msg4_every_byte_changed);
	tcase_add_test(tc, records_every_byte_changed);
	tcase_add_test(tc, records_replayed_reordered_reflected);
	tcase_add_test(tc, cookie_keys);
	tcase_add_test(tc, header_against_the_page);
	tcase_add_test(tc, frame_encoder);
	tcase_add_test(tc, hello_and_challenge_sizes);
	tcase_add_test(tc, proof_sizes);
	tcase_add_test(tc, proof_plaintext_refused);
	tcase_add_test(tc, proof_carries_its_cookie);
	tcase_add_test(tc, result_sizes);
	tcase_add_test(tc, record_sizes);
	tcase_add_test(tc, events);
	tcase_add_test(tc, every_truncation);
	tcase_add_test(tc, checkin_delivery_records);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

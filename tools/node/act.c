/*
 * The node's side of the activation protocol (node.h, docs/protocol.md):
 * its ephemeral ECDH and its HMACs with the PR's MAC key run in the node's
 * token; the handshake's secrets live in locked memory (akm_proto_hs) and
 * are wiped before return.
 */
#include "node/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/hex.h"
#include "lib/keyed.h"
#include "shared/net.h"

typedef struct exchange {
	akm_p11 *node;
	const akm_node_state *st;
	akm_node_act *a;
	const char *what;
	akm_proto_hs *hs;
	CK_OBJECT_HANDLE mac, eph_pub, eph_priv;
	int fd;
	uint64_t deadline;
	uint8_t frame[AKM_PROTO_FRAME_MAX];
	size_t len;
	uint8_t type;
	char err[256];
} exchange;

static int net_fail(exchange *x, const char *step)
{
	return akm_report(AKM_RC_NETWORK, x->what, "%s: %s", step, x->err);
}

/* Sends a frame of `type` with `body`. */
static int send_frame(exchange *x, uint8_t type, const uint8_t *body, size_t len, const char *step)
{
	uint8_t f[AKM_PROTO_FRAME_MAX];
	size_t n;
	if (akm_proto_frame(type, body, len, f, sizeof f, &n) != AKM_FMT_OK)
		return akm_report(AKM_RC_TOKEN, x->what, "%s: cannot frame the message", step);
	if (akm_net_send(x->fd, f, n, x->deadline, x->err, sizeof x->err) != 0)
		return net_fail(x, step);
	return AKM_RC_OK;
}

/* Receives the next frame, which must be of type `want` (an ERROR is the
 * station's refusal, reported). */
static int recv_frame(exchange *x, uint8_t want, const char *step)
{
	if (akm_net_recv_frame(x->fd, x->frame, &x->len, &x->type, x->deadline, x->err, sizeof x->err) != 0)
		return net_fail(x, step);
	if (x->type == AKM_PROTO_ERROR) {
		x->a->error = x->frame[AKM_PROTO_HDR_LEN];
		return akm_report(x->a->error == AKM_PERR_BUSY || x->a->error == AKM_PERR_TIMEOUT ? AKM_RC_NETWORK
		                                                                                   : AKM_RC_REFUSED,
		                  x->what, "the station refused: %s", akm_proto_error_name(x->a->error));
	}
	if (x->type != want)
		return akm_report(AKM_RC_REFUSED, x->what, "%s: the station sent a frame of type %u, not %u", step,
		                  x->type, want);
	return AKM_RC_OK;
}

static int token_fail(exchange *x, const char *step)
{
	return akm_report(AKM_RC_TOKEN, x->what, "%s: %s", step, x->node->err);
}

/* Messages 1-3: up to the proof sent. */
static int handshake(exchange *x)
{
	int rc;
	uint8_t n_i[AKM_PROTO_NONCE_LEN], g_x[AKM_PROTO_POINT_LEN], body[AKM_PROTO_BODY_MAX];
	size_t blen;
	if (akm_p11_ec_generate(x->node, false, NULL, NULL, 0, &x->eph_pub, &x->eph_priv) != 0 ||
	    akm_p11_ec_point(x->node, x->eph_pub, g_x) != 0)
		return token_fail(x, "ephemeral key");
	randombytes_buf(n_i, sizeof n_i);
	akm_proto_hello(n_i, g_x, body, sizeof body, &blen);
	uint8_t msg1[AKM_PROTO_HDR_LEN + AKM_PROTO_HELLO_LEN];
	size_t m1;
	akm_proto_frame(AKM_PROTO_HELLO, body, blen, msg1, sizeof msg1, &m1);
	if (akm_net_send(x->fd, msg1, m1, x->deadline, x->err, sizeof x->err) != 0)
		return net_fail(x, "message 1");

	if ((rc = recv_frame(x, AKM_PROTO_CHALLENGE, "message 2")) != AKM_RC_OK)
		return rc;
	uint8_t n_r[AKM_PROTO_NONCE_LEN], g_y[AKM_PROTO_POINT_LEN];
	if (akm_proto_challenge_parse(x->hs, x->frame + AKM_PROTO_HDR_LEN, x->len - AKM_PROTO_HDR_LEN, n_r, g_y) !=
	    AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "message 2 is malformed");
	int e = akm_p11_ecdh_secret(x->node, x->eph_priv, g_y, x->hs->z);
	akm_p11_destroy(x->node, &x->eph_priv);
	akm_p11_destroy(x->node, &x->eph_pub);
	if (e > 0)
		return akm_report(AKM_RC_REFUSED, x->what, "message 2: the station's point is not on the curve");
	if (e < 0)
		return token_fail(x, "ECDH");
	akm_proto_after_ecdh(x->hs, msg1, m1, n_r, g_y, x->hs->z);
	akm_wipe(x->hs->z, sizeof x->hs->z);

	uint8_t psk[AKM_PROTO_PSK_MSG_LEN];
	akm_proto_psk_message(x->hs, psk);
	e = akm_p11_hmac(x->node, x->mac, psk, sizeof psk, x->hs->prk3);
	akm_wipe(psk, sizeof psk);
	if (e != 0)
		return token_fail(x, "the relationship's MAC key");
	akm_proto_id id = { .op = x->a->op };
	memcpy(id.pr_id, x->st->pr_id, id.pr_id_len = x->st->pr_id_len);
	memcpy(id.node_id, x->st->node_id, id.node_id_len = x->st->node_id_len);
	id.hw_len = strlen(x->a->hw);
	if (id.hw_len < 1 || id.hw_len > AKM_FMT_HW_MAX)
		return akm_report(AKM_RC_USAGE, x->what, "the hardware value must have 1-64 characters");
	memcpy(id.hw, x->a->hw, id.hw_len);
	akm_proto_after_psk(x->hs, &id, x->hs->prk3);
	if (akm_proto_proof(x->hs, &id, body, sizeof body, &blen) != AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "the node's IDs do not fit message 3");
	return send_frame(x, AKM_PROTO_PROOF, body, blen, "message 3");
}

/* After a check-in's DONE: each of the n items the station has for the
 * node, part by part (FETCH, then the ITEM the station answers). */
static int fetch_items(exchange *x, size_t n)
{
	akm_node_act *a = x->a;
	if (n > AKM_PROTO_ITEMS_MAX)
		return akm_report(AKM_RC_REFUSED, x->what, "the station offers %zu items (at most %d)", n,
		                  AKM_PROTO_ITEMS_MAX);
	for (size_t i = 0; i < n; i++) {
		uint8_t *item = malloc(AKM_PROTO_ITEM_MAX);
		if (item == NULL)
			return akm_report(AKM_RC_TOKEN, x->what, "out of memory");
		a->items[a->nitems] = item;
		a->item_len[a->nitems] = 0;
		a->nitems++;
		uint8_t parts = 1;
		for (uint8_t part = 0; part < parts; part++) {
			uint8_t payload[AKM_PROTO_BODY_MAX], f[AKM_PROTO_FRAME_MAX], fb[2], rtype;
			size_t plen, flen, fblen;
			if (akm_proto_fetch_encode((uint8_t)i, part, fb, sizeof fb, &fblen) != AKM_FMT_OK ||
			    akm_proto_record_seal(x->hs, true, AKM_REC_FETCH, fb, fblen, f, sizeof f, &flen) != AKM_FMT_OK)
				return akm_report(AKM_RC_TOKEN, x->what, "a fetch record");
			if (akm_net_send(x->fd, f, flen, x->deadline, x->err, sizeof x->err) != 0)
				return net_fail(x, "fetching an item");
			int rc = recv_frame(x, AKM_PROTO_RECORD, "an item");
			if (rc != AKM_RC_OK)
				return rc;
			akm_proto_part it;
			if (akm_proto_record_open(x->hs, false, x->frame, x->frame + AKM_PROTO_HDR_LEN,
			                          x->len - AKM_PROTO_HDR_LEN, &rtype, payload, &plen) != AKM_FMT_OK ||
			    rtype != AKM_REC_ITEM || akm_proto_item_parse(payload, plen, &it) != AKM_FMT_OK || it.item != i ||
			    it.part != part || (part > 0 && it.parts != parts) ||
			    a->item_len[i] + it.len > AKM_PROTO_ITEM_MAX)
				return akm_report(AKM_RC_REFUSED, x->what, "the station's item %zu is malformed", i);
			parts = it.parts;
			memcpy(item + a->item_len[i], it.data, it.len);
			a->item_len[i] += it.len;
		}
	}
	return AKM_RC_OK;
}

/* Message 4, the node's record, the station's DONE. */
static int finish(exchange *x)
{
	int rc = recv_frame(x, AKM_PROTO_RESULT, "message 4");
	if (rc != AKM_RC_OK)
		return rc;
	akm_proto_result r;
	if (akm_proto_result_open(x->hs, x->frame + AKM_PROTO_HDR_LEN, x->len - AKM_PROTO_HDR_LEN, &r) != AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, x->what,
		                  "the station could not prove the relationship (message 4 does not open)");
	akm_node_act *a = x->a;
	a->proven = true;
	a->result = r.result;
	a->status = r.status;
	memcpy(a->station_id, r.station_id, a->station_id_len = r.station_id_len);
	if (r.result != AKM_PRES_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "the station refused: %s", akm_proto_result_name(r.result));

	akm_proto_node_rec nr = {0};
	if (akm_node_prove_with(x->node, x->mac, x->st, r.challenge, nr.proof) != 0)
		return token_fail(x, "the verification proof");
	uint8_t type = AKM_REC_VERIFY;
	if (a->op == AKM_OP_REPORT) {
		type = AKM_REC_REPORT;
		if (a->report != NULL) {
			nr.has_report = true;
			nr.through = a->report->through;
			nr.ncevents = a->report->ncevents;
			memcpy(nr.cevents, a->report->cevents, nr.ncevents * sizeof *nr.cevents);
		}
		nr.nevents = a->nevents;
		memcpy(nr.events, a->events, a->nevents * sizeof *a->events);
	} else if (a->op == AKM_OP_CHECKIN && a->report != NULL) {
		uint8_t proof[32];
		memcpy(proof, nr.proof, 32);
		nr = *a->report; /* the held list and the report */
		memcpy(nr.proof, proof, 32);
	} else if (a->op == AKM_OP_CHECKIN) {
		nr.nheld = a->nheld < AKM_PROTO_HELD_MAX ? a->nheld : AKM_PROTO_HELD_MAX;
		if (nr.nheld > 0)
			memcpy(nr.held, a->held, nr.nheld * sizeof *a->held);
	}
	uint8_t payload[AKM_PROTO_BODY_MAX], f[AKM_PROTO_FRAME_MAX];
	size_t plen, flen;
	if (akm_proto_node_rec_encode(type, &nr, payload, sizeof payload, &plen) != AKM_FMT_OK ||
	    akm_proto_record_seal(x->hs, true, type, payload, plen, f, sizeof f, &flen) != AKM_FMT_OK)
		return akm_report(AKM_RC_USAGE, x->what, "the events do not make a report (1-%d events, details of "
		                  "at most %d printable characters)", AKM_PROTO_EVENTS_MAX, AKM_PROTO_DETAIL_MAX);
	if (akm_net_send(x->fd, f, flen, x->deadline, x->err, sizeof x->err) != 0)
		return net_fail(x, "the node's record");
	if ((rc = recv_frame(x, AKM_PROTO_RECORD, "the station's answer")) != AKM_RC_OK)
		return rc;
	uint8_t rtype;
	if (akm_proto_record_open(x->hs, false, x->frame, x->frame + AKM_PROTO_HDR_LEN, x->len - AKM_PROTO_HDR_LEN,
	                          &rtype, payload, &plen) != AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "the station's answer does not open");
	akm_proto_done d;
	if (rtype != AKM_REC_DONE || akm_proto_done_parse(payload, plen, &d) != AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "the station's answer is malformed");
	a->done = true;
	a->done_result = d.result;
	a->done_status = d.status;
	a->done_n = d.n;
	if (d.result == AKM_PRES_VERIFY_FAILED)
		return akm_report(AKM_RC_VERIFY, x->what, "the station did not accept the verification proof");
	if (d.result != AKM_PRES_OK)
		return akm_report(AKM_RC_REFUSED, x->what, "the station refused: %s", akm_proto_result_name(d.result));
	if (a->op == AKM_OP_CHECKIN && d.n > 0)
		return fetch_items(x, d.n);
	return AKM_RC_OK;
}

void akm_node_act_free(akm_node_act *a)
{
	for (size_t i = 0; i < a->nitems; i++)
		free(a->items[i]);
	a->nitems = 0;
}

int akm_node_exchange(akm_p11 *node, const akm_node_state *state, akm_node_act *a, const char *what)
{
	a->error = 0;
	a->proven = a->done = false;
	a->nitems = 0;
	exchange x = {
		.node = node, .st = state, .a = a, .what = what, .fd = -1,
		.eph_pub = CK_INVALID_HANDLE, .eph_priv = CK_INVALID_HANDLE,
	};
	if (a->op < AKM_OP_ACTIVATE || a->op > AKM_OP_REPORT || a->hw == NULL || a->nmm == NULL)
		return akm_report(AKM_RC_USAGE, what, "an exchange needs an operation, a hardware value and a station");
	if (a->op == AKM_OP_REPORT && (a->nevents < 1 || a->nevents > AKM_PROTO_EVENTS_MAX))
		return akm_report(AKM_RC_USAGE, what, "a report carries 1-%d events", AKM_PROTO_EVENTS_MAX);
	if (akm_node_mac_key(node, state, &x.mac) != 0)
		return token_fail(&x, "the provisioning relationship");
	x.hs = akm_proto_hs_new();
	if (x.hs == NULL)
		return akm_report(AKM_RC_TOKEN, what, "no locked memory for the exchange's keys");
	x.deadline = akm_net_now_ms() + (a->timeout_ms ? a->timeout_ms : 30000u);
	int rc;
	x.fd = akm_net_connect(a->nmm, x.deadline, x.err, sizeof x.err);
	if (x.fd < 0)
		rc = akm_report(AKM_RC_NETWORK, what, "%s", x.err);
	else if ((rc = handshake(&x)) == AKM_RC_OK)
		rc = finish(&x);
	if (x.fd >= 0)
		close(x.fd);
	akm_p11_destroy(node, &x.eph_priv);
	akm_p11_destroy(node, &x.eph_pub);
	akm_proto_hs_free(x.hs);
	return rc;
}

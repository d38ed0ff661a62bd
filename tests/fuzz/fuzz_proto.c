/* Fuzz target: the activation protocol's parsers (lib/proto.h,
 * docs/protocol.md).  The input is a frame: its 6-byte header goes to
 * akm_proto_header, the bytes after it to every message parser, with the
 * handshake state of the test vectors (docs/protocol.md §8) where one is
 * needed.  Sealed messages cannot be forged, so the same bytes are also
 * sealed as the plaintext of message 3, of message 4 and of a record, and
 * opened again: the parsers behind the AEADs see any input too.  Whatever a
 * parser accepts must be what its encoder writes, byte for byte. */
#include <sodium.h>

#include "lib/proto.h"
#include "fuzz.h"
#include "proto_vectors.h"

#define HDR AKM_PROTO_HDR_LEN

static akm_proto_hs *tmpl, *hs;

/* The handshake of the vectors, as the station holds it after message 3
 * (the node's holds the same). */
static void init(void)
{
	if (tmpl != NULL)
		return;
	tmpl = akm_proto_hs_new();
	hs = akm_proto_hs_new();
	FUZZ_CHECK(tmpl != NULL && hs != NULL);
	uint64_t t;
	FUZZ_CHECK(akm_proto_cookie_open(tmpl, PV_k_cookie, PV_cookie, &t));
	akm_proto_id id;
	memset(&id, 0, sizeof id);
	id.op = PV_OP;
	memcpy(id.pr_id, PV_pr_id, id.pr_id_len = sizeof PV_pr_id);
	memcpy(id.node_id, PV_node_id, id.node_id_len = sizeof PV_node_id);
	memcpy(id.hw, PV_hw, id.hw_len = sizeof PV_hw);
	akm_proto_after_psk(tmpl, &id, PV_PRK_3);
	FUZZ_CHECK(memcmp(tmpl->k4, PV_K_4, 32) == 0);
}

static void fresh(void)
{
	memcpy(hs, tmpl, sizeof *hs);
}

static uint8_t out[AKM_PROTO_FRAME_MAX + 64];

/* ---- checks, per parser ---- */

static void check_proof(const uint8_t *b, size_t n)
{
	akm_proto_id id;
	uint8_t mac3[32];
	size_t len = 0;
	fresh();
	if (akm_proto_proof_open(hs, b, n, &id, mac3) != AKM_FMT_OK)
		return;
	/* a node with this MAC_3 writes the same bytes */
	memcpy(hs->mac3, mac3, 32);
	FUZZ_CHECK(akm_proto_proof(hs, &id, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0);
	FUZZ_CHECK(akm_proto_proof_open(hs, b, n - 1, &id, mac3) != AKM_FMT_OK);
}

static void check_result(const uint8_t *b, size_t n)
{
	akm_proto_result r;
	size_t len = 0;
	fresh();
	if (akm_proto_result_open(hs, b, n, &r) != AKM_FMT_OK)
		return;
	FUZZ_CHECK(r.station_id_len <= AKM_FMT_ID_MAX);
	FUZZ_CHECK(akm_proto_result_seal(hs, &r, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0);
}

static void check_payload(uint8_t type, const uint8_t *p, size_t n)
{
	size_t len = 0;
	akm_proto_node_rec r;
	if (akm_proto_node_rec_parse(type, p, n, &r) == AKM_FMT_OK) {
		FUZZ_CHECK(type == AKM_REC_VERIFY || type == AKM_REC_REPORT);
		FUZZ_CHECK(r.nevents <= AKM_PROTO_EVENTS_MAX && r.nheld <= AKM_PROTO_HELD_MAX);
		FUZZ_CHECK(type == AKM_REC_VERIFY || r.nheld == 0);
		FUZZ_CHECK(akm_proto_node_rec_encode(type, &r, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, p, n) == 0);
		FUZZ_CHECK(akm_proto_node_rec_parse(type, p, n - 1, &r) != AKM_FMT_OK);
	}
	akm_proto_done d;
	if (akm_proto_done_parse(p, n, &d) == AKM_FMT_OK) {
		FUZZ_CHECK(n == 4);
		FUZZ_CHECK(akm_proto_done_encode(&d, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, p, n) == 0);
	}
	akm_proto_part f;
	if (akm_proto_fetch_parse(p, n, &f) == AKM_FMT_OK) {
		FUZZ_CHECK(n == 2);
		FUZZ_CHECK(akm_proto_fetch_encode(f.item, f.part, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, p, n) == 0);
	}
	if (akm_proto_item_parse(p, n, &f) == AKM_FMT_OK) {
		FUZZ_CHECK(f.len >= 1 && f.len <= AKM_PROTO_ITEM_PART && f.part < f.parts && f.data == p + 3);
		FUZZ_CHECK(akm_proto_item_encode(&f, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, p, n) == 0);
	}
}

/* A record (header hdr, body b) received by the side that reads
 * from_node's records, at counter 0; whether it opened. */
static bool check_record(bool from_node, const uint8_t hdr[HDR], const uint8_t *b, size_t n)
{
	static uint8_t payload[AKM_PROTO_BODY_MAX];
	uint8_t type = 0;
	size_t plen = 0, len = 0;
	fresh();
	if (akm_proto_record_open(hs, from_node, hdr, b, n, &type, payload, &plen) != AKM_FMT_OK) {
		FUZZ_CHECK(hs->received == 0);
		return false;
	}
	FUZZ_CHECK(hs->received == 1 && plen + AKM_PROTO_RECORD_MIN == n);
	/* the sender at counter 0 writes the same frame */
	fresh();
	FUZZ_CHECK(akm_proto_record_seal(hs, from_node, type, payload, plen, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == HDR + n && memcmp(out, hdr, HDR) == 0 && memcmp(out + HDR, b, n) == 0);
	check_payload(type, payload, plen);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sealed[AKM_PROTO_FRAME_MAX + 64];
	init();
	if (size < HDR)
		return 0; /* a receiver waits for the whole header */
	const uint8_t *body = data + HDR;
	size_t n = size - HDR, len = 0;

	/* the header, and the frame it announces */
	uint8_t type = 0;
	size_t blen = 0;
	if (akm_proto_header(data, &type, &blen) == AKM_FMT_OK) {
		FUZZ_CHECK(type >= AKM_PROTO_HELLO && type <= AKM_PROTO_ERROR && blen <= AKM_PROTO_BODY_MAX);
		if (blen <= n) {
			FUZZ_CHECK(akm_proto_frame(type, body, blen, out, sizeof out, &len) == AKM_FMT_OK);
			FUZZ_CHECK(len == HDR + blen && memcmp(out, data, len) == 0);
		}
	}

	/* message 1 */
	uint8_t nonce[AKM_PROTO_NONCE_LEN], point[AKM_PROTO_POINT_LEN];
	if (akm_proto_hello_parse(body, n, nonce, point) == AKM_FMT_OK) {
		FUZZ_CHECK(n == AKM_PROTO_HELLO_LEN && point[0] == 0x04);
		FUZZ_CHECK(akm_proto_hello(nonce, point, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, body, n) == 0);
		FUZZ_CHECK(akm_proto_hello_parse(body, n - 1, nonce, point) != AKM_FMT_OK);
	}

	/* message 2 */
	fresh();
	if (akm_proto_challenge_parse(hs, body, n, nonce, point) == AKM_FMT_OK) {
		FUZZ_CHECK(n == AKM_PROTO_CHALLENGE_BODY_LEN && point[0] == 0x04);
		FUZZ_CHECK(akm_proto_challenge(hs, nonce, point, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == n && memcmp(out, body, n) == 0);
		FUZZ_CHECK(akm_proto_challenge_parse(hs, body, n - 1, nonce, point) != AKM_FMT_OK);
	}

	/* message 3: the cookie, then the rest with the vectors' state; then
	 * the bytes as its plaintext */
	const uint8_t *cookie = NULL;
	if (akm_proto_proof_cookie(body, n, &cookie) == AKM_FMT_OK) {
		FUZZ_CHECK(cookie == body && n >= AKM_PROTO_PROOF_MIN && n <= AKM_PROTO_PROOF_MAX);
		uint64_t t = 0;
		fresh();
		if (akm_proto_cookie_open(hs, PV_k_cookie, cookie, &t)) {
			FUZZ_CHECK(t == PV_T_ISSUE && memcmp(cookie, PV_cookie, AKM_PROTO_COOKIE_LEN) == 0);
			FUZZ_CHECK(memcmp(hs->k3, tmpl->k3, 32) == 0 && memcmp(hs->th3, tmpl->th3, 32) == 0);
		}
	} else {
		FUZZ_CHECK(n < AKM_PROTO_PROOF_MIN || n > AKM_PROTO_PROOF_MAX);
	}
	check_proof(body, n);
	if (AKM_PROTO_COOKIE_LEN + n + AKM_PROTO_TAG_LEN <= AKM_PROTO_PROOF_MAX) {
		static const uint8_t zero[24];
		unsigned long long cn;
		memcpy(sealed, tmpl->cookie, AKM_PROTO_COOKIE_LEN);
		crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + AKM_PROTO_COOKIE_LEN, &cn, body, n, tmpl->th3, 32,
		                                           NULL, zero, tmpl->k3);
		check_proof(sealed, AKM_PROTO_COOKIE_LEN + (size_t)cn);
	}

	/* message 4, and the bytes as its R */
	check_result(body, n);
	if (AKM_PROTO_CHALLENGE_LEN + n + AKM_PROTO_TAG_LEN <= AKM_PROTO_RESULT_MAX) {
		uint8_t ad[64];
		unsigned long long cn;
		memcpy(ad, tmpl->th4, 32);
		memcpy(ad + 32, PV_challenge, 32);
		memcpy(sealed, PV_challenge, 32);
		crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 32, &cn, body, n, ad, sizeof ad, NULL, PV_challenge,
		                                           tmpl->k4);
		check_result(sealed, 32 + (size_t)cn);
	}

	/* records: the frame as either side receives it, and the bytes as a
	 * record's plaintext (type || payload) */
	check_record(true, data, body, n);
	check_record(false, data, body, n);
	if (n >= 1 && n + AKM_PROTO_TAG_LEN <= AKM_PROTO_BODY_MAX) {
		for (int dir = 0; dir < 2; dir++) {
			fresh();
			FUZZ_CHECK(akm_proto_record_seal(hs, dir == 0, body[0], body + 1, n - 1, sealed, sizeof sealed, &len) ==
			           AKM_FMT_OK);
			FUZZ_CHECK(check_record(dir == 0, sealed, sealed + HDR, len - HDR));
		}
	}

	/* the record payloads, as they are */
	check_payload(AKM_REC_VERIFY, body, n);
	check_payload(AKM_REC_REPORT, body, n);
	return 0;
}

/*
 * Writes the fuzz targets' seed corpus (tests/fuzz/corpus/<target>/) with the
 * real encoders: valid files of each kind with fields at their shortest,
 * typical and longest, both bundle protections, and a few refused edge cases
 * (truncated, trailing byte, other version, other kind); for the protocol
 * (target proto), the frames of an exchange with the inputs of the test
 * vectors (docs/protocol.md §8) and the plaintexts its AEADs carry; for
 * the ASR formats (target asr), each of the four at its shortest, typical
 * and longest, and the test vectors of docs/asr.md §3.6; for the policy
 * file (target policy), the shipped conf/policy.conf and a few accepted and
 * refused policies.  Deterministic: a
 * rerun writes the same bytes.  Run from the source root:
 *
 *   ninja -C build tests/fuzz/fuzz-make-corpus
 *   build/tests/fuzz/fuzz-make-corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fmt-anchor.h"
#include "lib/fmt-asr.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-login.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/keyed.h"
#include "lib/proto.h"
#include "asr_vectors.h"
#include "proto_vectors.h"

static const char *root;

static void fill(uint8_t *p, size_t n, unsigned start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + 7 * i);
}

static void put_file(const char *target, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void check(akm_fmt_rc rc, const char *what)
{
	if (rc != AKM_FMT_OK) {
		fprintf(stderr, "make-corpus: %s: %s\n", what, akm_fmt_strerror(rc));
		exit(1);
	}
}

/* The valid file plus its edge cases: first half, one byte short, a
 * trailing byte, the next version. */
static void put_with_edges(const char *target, const char *name, const uint8_t *buf, size_t len)
{
	char edge[256];
	uint8_t tmp[4096];
	put_file(target, name, buf, len);
	if (len + 1 > sizeof tmp)
		exit(1);
	if (strstr(name, "typical") == NULL)
		return;
	snprintf(edge, sizeof edge, "edge-half-%s", name);
	put_file(target, edge, buf, len / 2);
	snprintf(edge, sizeof edge, "edge-short-%s", name);
	put_file(target, edge, buf, len - 1);
	memcpy(tmp, buf, len);
	tmp[len] = 0;
	snprintf(edge, sizeof edge, "edge-trailing-%s", name);
	put_file(target, edge, tmp, len + 1);
	tmp[4] = (uint8_t)(buf[4] + 1); /* the next version: 2, or 3 for an ASR member state */
	snprintf(edge, sizeof edge, "edge-version%u-%s", (unsigned)tmp[4], name);
	put_file(target, edge, tmp, len);
}

/* size 0 = shortest fields, 1 = typical, 2 = longest */
static size_t id_len(int size) { return size == 0 ? 1 : size == 1 ? 16 : AKM_FMT_ID_MAX; }
static size_t hw_len(int size) { return size == 0 ? 1 : size == 1 ? 12 : AKM_FMT_HW_MAX; }
static void set_name(char *name, int size)
{
	static const char longest[] = "node.0123456789_abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTU";
	strcpy(name, size == 0 ? "n" : size == 1 ? "node-000042" : longest);
}
static const char *size_name(int size) { return size == 0 ? "shortest" : size == 1 ? "typical" : "longest"; }

static void bundles(void)
{
	for (int protection = 1; protection <= 2; protection++) {
		for (int size = 0; size <= 2; size++) {
			akm_bundle b;
			uint8_t buf[AKM_FMT_BUNDLE_MAX];
			size_t len;
			char name[64];
			memset(&b, 0, sizeof b);
			b.protection = (uint8_t)protection;
			b.station_id_len = b.node_id_len = b.pr_id_len = id_len(size);
			fill(b.station_id, b.station_id_len, 1);
			fill(b.node_id, b.node_id_len, 2);
			fill(b.pr_id, b.pr_id_len, 3);
			b.hw_len = hw_len(size);
			fill(b.hw, b.hw_len, 'a');
			set_name(b.name, size);
			b.seq = size == 2 ? UINT64_MAX : (uint64_t)size + 1;
			b.created = 1700000000 + (uint64_t)size;
			fill(b.node_key_hash, 32, 4);
			fill(b.eph_point, 65, 5);
			b.eph_point[0] = 0x04;
			b.opslimit = size == 2 ? UINT32_MAX : 3;
			b.memlimit_kib = size == 0 ? 8 : 262144;
			fill(b.salt, 16, 6);
			fill(b.nonce, 24, 7);
			size_t wrapped = size == 0 ? 16 : size == 1 ? 40 : AKM_FMT_WRAPPED_MAX;
			b.enc_wrapped_len = b.mac_wrapped_len = wrapped;
			fill(b.enc_wrapped, wrapped, 8);
			fill(b.mac_wrapped, wrapped, 9);
			b.sealed_len = 2 + 2 * wrapped + AKM_FMT_TAG_LEN;
			fill(b.sealed, b.sealed_len, 10);
			fill(b.sig, 64, 11);
			check(akm_bundle_finish(&b, buf, sizeof buf, &len), "bundle");
			snprintf(name, sizeof name, "p%d-%s.akmb", protection, size_name(size));
			put_with_edges("bundle", name, buf, len);
			if (protection == 2 && size == 1) {
				/* the inner plaintext too (the target parses it as well) */
				check(akm_bundle_inner_encode(&b, buf, sizeof buf, &len), "inner");
				put_file("bundle", "inner-typical.bin", buf, len);
			}
		}
	}
}

static void requests(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_request r;
		uint8_t buf[512];
		size_t len;
		char name[64];
		memset(&r, 0, sizeof r);
		set_name(r.name, size);
		r.hw_len = hw_len(size);
		fill(r.hw, r.hw_len, 'a');
		fill(r.node_point, 65, 12);
		r.node_point[0] = 0x04;
		fill(r.nonce, 16, 13);
		r.created = size == 2 ? UINT64_MAX : 1700000000;
		fill(r.sig, 64, 14);
		check(akm_request_finish(&r, buf, sizeof buf, &len), "request");
		snprintf(name, sizeof name, "%s.akmr", size_name(size));
		put_with_edges("request", name, buf, len);
		if (size == 1) {
			put_file("anchor", "edge-kind-request.akmr", buf, len);
			put_file("node_state", "edge-kind-request.akmr", buf, len);
		}
	}
}

static void anchors(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_anchor a;
		uint8_t buf[256];
		size_t len;
		char name[64];
		memset(&a, 0, sizeof a);
		a.station_id_len = id_len(size);
		fill(a.station_id, a.station_id_len, 15);
		fill(a.point, 65, 16);
		a.point[0] = 0x04;
		check(akm_anchor_encode(&a, buf, sizeof buf, &len), "anchor");
		snprintf(name, sizeof name, "%s.akmp", size_name(size));
		put_with_edges("anchor", name, buf, len);
		if (size == 1) { /* another kind of file */
			put_file("bundle", "edge-kind-anchor.akmp", buf, len);
			put_file("request", "edge-kind-anchor.akmp", buf, len);
		}
	}
}

static void node_states(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_node_state s;
		uint8_t buf[512];
		size_t len;
		char name[64];
		memset(&s, 0, sizeof s);
		s.station_id_len = s.node_id_len = s.pr_id_len = id_len(size);
		fill(s.station_id, s.station_id_len, 1);
		fill(s.node_id, s.node_id_len, 2);
		fill(s.pr_id, s.pr_id_len, 3);
		s.hw_len = hw_len(size);
		fill(s.hw, s.hw_len, 'a');
		set_name(s.name, size);
		s.seq = size == 2 ? UINT64_MAX : (uint64_t)size + 1;
		s.imported = 1700000000;
		fill(s.bundle_hash, 32, 17);
		check(akm_node_state_encode(&s, buf, sizeof buf, &len), "node state");
		snprintf(name, sizeof name, "%s.akmn", size_name(size));
		put_with_edges("node_state", name, buf, len);
	}
}

static void login_states(void)
{
	/* Fresh (a count of one), typical (back-off running, refusal audited),
	 * longest values (locked out, counts at their maximum). */
	for (int size = 0; size <= 2; size++) {
		akm_login_state st;
		uint8_t buf[AKM_LOGIN_STATE_LEN];
		size_t len;
		char name[64];
		memset(&st, 0, sizeof st);
		st.who[AKM_LOGIN_USER].failures = size == 0 ? 1 : size == 1 ? 5 : UINT32_MAX;
		st.who[AKM_LOGIN_USER].flags = size == 0 ? 0 : size == 1 ? AKM_LOGIN_AUDITED : AKM_LOGIN_LOCKED | AKM_LOGIN_AUDITED;
		st.who[AKM_LOGIN_USER].not_before = size == 0 ? 0 : size == 1 ? 1700000004000ULL : UINT64_MAX;
		st.who[AKM_LOGIN_SO].failures = size == 2 ? UINT32_MAX : (uint32_t)size;
		st.who[AKM_LOGIN_SO].flags = size == 2 ? AKM_LOGIN_AUDITED : 0;
		st.who[AKM_LOGIN_SO].not_before = size == 2 ? UINT64_MAX : 0;
		check(akm_login_state_encode(&st, buf, sizeof buf, &len), "login state");
		snprintf(name, sizeof name, "%s.akml", size_name(size));
		put_with_edges("login", name, buf, len);
	}
}

/* ---- the protocol (docs/protocol.md) ---- */

static void put_frame(const char *name, uint8_t type, const uint8_t *body, size_t n)
{
	uint8_t f[AKM_PROTO_FRAME_MAX + 8];
	size_t len;
	check(akm_proto_frame(type, body, n, f, sizeof f, &len), name);
	put_file("proto", name, f, len);
}

/* Plaintext behind an AEAD, after a record header of its length (the
 * harness also seals the bytes after any header itself). */
static void put_plain(const char *name, const uint8_t *p, size_t n)
{
	uint8_t f[AKM_PROTO_FRAME_MAX + 8] = { 0x41, 0x4b, 0x01, AKM_PROTO_RECORD, (uint8_t)(n >> 8), (uint8_t)n };
	memcpy(f + AKM_PROTO_HDR_LEN, p, n);
	put_file("proto", name, f, AKM_PROTO_HDR_LEN + n);
}

static void set_id(akm_proto_id *id, int size)
{
	memset(id, 0, sizeof *id);
	id->op = size == 1 ? PV_OP : size == 0 ? AKM_OP_CHECKIN : AKM_OP_REPORT;
	id->pr_id_len = size == 1 ? sizeof PV_pr_id : id_len(size);
	id->node_id_len = size == 1 ? sizeof PV_node_id : id_len(size);
	id->hw_len = size == 1 ? sizeof PV_hw : hw_len(size);
	fill(id->pr_id, id->pr_id_len, 0x80);
	fill(id->node_id, id->node_id_len, 0x90);
	fill(id->hw, id->hw_len, 'a');
	if (size == 1) {
		memcpy(id->pr_id, PV_pr_id, sizeof PV_pr_id);
		memcpy(id->node_id, PV_node_id, sizeof PV_node_id);
		memcpy(id->hw, PV_hw, sizeof PV_hw);
	}
}

static void protos(void)
{
	uint8_t body[AKM_PROTO_BODY_MAX], f[AKM_PROTO_FRAME_MAX + 8], msg1[AKM_PROTO_FRAME_MAX];
	size_t blen, len, msg1_len;
	char name[64];
	akm_proto_hs *hs = akm_proto_hs_new();
	if (hs == NULL) {
		fprintf(stderr, "make-corpus: no locked memory\n");
		exit(1);
	}
	/* message 1, 2 */
	check(akm_proto_hello(PV_n_i, PV_G_X, body, sizeof body, &blen), "hello");
	check(akm_proto_frame(AKM_PROTO_HELLO, body, blen, msg1, sizeof msg1, &msg1_len), "hello frame");
	put_file("proto", "msg1-hello", msg1, msg1_len);
	akm_proto_after_ecdh(hs, msg1, msg1_len, PV_n_r, PV_G_Y, PV_Z);
	akm_proto_cookie_seal(hs, PV_k_cookie, PV_n_c, PV_T_ISSUE);
	check(akm_proto_challenge(hs, PV_n_r, PV_G_Y, body, sizeof body, &blen), "challenge");
	put_frame("msg2-challenge", AKM_PROTO_CHALLENGE, body, blen);
	/* message 3: the vectors' IDs (typical), the shortest and the longest */
	uint8_t psk[AKM_PROTO_PSK_MSG_LEN], prk3[32];
	akm_proto_psk_message(hs, psk);
	akm_hmac_sha256(PV_k_pr_mac, psk, sizeof psk, prk3);
	akm_proto_id id;
	for (int size = 0; size <= 2; size++) {
		set_id(&id, size);
		akm_proto_after_psk(hs, &id, prk3);
		check(akm_proto_proof(hs, &id, body, sizeof body, &blen), "proof");
		snprintf(name, sizeof name, "msg3-proof-%s", size_name(size));
		put_frame(name, AKM_PROTO_PROOF, body, blen);
		/* its plaintext: ID || MAC_3 */
		uint8_t p[256];
		size_t n = 0;
		p[n++] = id.op;
		p[n++] = (uint8_t)id.pr_id_len;
		memcpy(p + n, id.pr_id, id.pr_id_len);
		n += id.pr_id_len;
		p[n++] = (uint8_t)id.node_id_len;
		memcpy(p + n, id.node_id, id.node_id_len);
		n += id.node_id_len;
		p[n++] = (uint8_t)id.hw_len;
		memcpy(p + n, id.hw, id.hw_len);
		n += id.hw_len;
		memcpy(p + n, hs->mac3, 32);
		n += 32;
		snprintf(name, sizeof name, "plain-proof-%s", size_name(size));
		put_plain(name, p, n);
		if (size == 1) { /* the edges of the typical one */
			memcpy(f, "\x41\x4b\x01\x03", 4);
			f[4] = (uint8_t)(blen >> 8);
			f[5] = (uint8_t)blen;
			memcpy(f + AKM_PROTO_HDR_LEN, body, blen);
			put_file("proto", "edge-short-msg3", f, AKM_PROTO_HDR_LEN + blen - 1);
			f[AKM_PROTO_HDR_LEN + blen] = 0;
			put_file("proto", "edge-trailing-msg3", f, AKM_PROTO_HDR_LEN + blen + 1);
			put_file("proto", "edge-header-only", f, AKM_PROTO_HDR_LEN);
			f[6] ^= 1; /* another cookie */
			put_file("proto", "edge-cookie-msg3", f, AKM_PROTO_HDR_LEN + blen);
		}
	}
	set_id(&id, 1); /* the rest with the vectors' keys */
	akm_proto_after_psk(hs, &id, prk3);
	/* message 4: station IDs of 0, 16 and 32 bytes */
	akm_proto_result r;
	memset(&r, 0, sizeof r);
	r.result = PV_RESULT;
	r.status = PV_STATUS;
	memcpy(r.challenge, PV_challenge, 32);
	for (int size = 0; size <= 2; size++) {
		r.station_id_len = size == 0 ? 0 : size == 1 ? sizeof PV_station_id : AKM_FMT_ID_MAX;
		fill(r.station_id, r.station_id_len, 0xa0);
		if (size == 1)
			memcpy(r.station_id, PV_station_id, sizeof PV_station_id);
		check(akm_proto_result_seal(hs, &r, body, sizeof body, &blen), "result");
		snprintf(name, sizeof name, "msg4-result-%s", size_name(size));
		put_frame(name, AKM_PROTO_RESULT, body, blen);
		uint8_t p[3 + AKM_FMT_ID_MAX] = { r.result, r.status, (uint8_t)r.station_id_len };
		memcpy(p + 3, r.station_id, r.station_id_len);
		snprintf(name, sizeof name, "plain-result-%s", size_name(size));
		put_plain(name, p, 3 + r.station_id_len);
	}
	/* records, each at counter 0: VERIFY and REPORT from the node, DONE
	 * from the station */
	akm_proto_node_rec nr;
	memset(&nr, 0, sizeof nr);
	memcpy(nr.proof, PV_proof, 32);
	uint8_t p[AKM_PROTO_BODY_MAX];
	p[0] = AKM_REC_VERIFY;
	check(akm_proto_node_rec_encode(AKM_REC_VERIFY, &nr, p + 1, sizeof p - 1, &len), "verify");
	put_plain("plain-verify", p, 1 + len);
	hs->sent = 0;
	check(akm_proto_record_seal(hs, true, AKM_REC_VERIFY, p + 1, len, f, sizeof f, &len), "verify record");
	put_file("proto", "rec-verify", f, len);
	/* a check-in's VERIFY with its report: the vectors' (one held ASR,
	 * two events), and the longest (16 held with 32-byte IDs, as many
	 * 32-byte-ID events as fit) */
	for (int size = 1; size <= 2; size++) {
		akm_proto_node_rec cr;
		memset(&cr, 0, sizeof cr);
		memcpy(cr.proof, PV_proof, 32);
		cr.has_report = true;
		cr.through = PV_THROUGH;
		cr.nheld = size == 1 ? 1 : AKM_PROTO_HELD_MAX;
		for (size_t i = 0; i < cr.nheld; i++) {
			memset(cr.held[i].asr_id, 'a' + (int)i, cr.held[i].asr_id_len = size == 1 ? 7 : AKM_FMT_ID_MAX);
			cr.held[i].gen = (uint32_t)i + 1;
			cr.sealed[i] = 1000u * (uint32_t)i;
		}
		cr.ncevents = size == 1 ? PV_NCEVENTS : 5;
		for (size_t i = 0; i < cr.ncevents; i++) {
			akm_proto_cevent *e = &cr.cevents[i];
			*e = (akm_proto_cevent){(uint8_t)(1 + i % AKM_EVENT_KIND_MAX), (uint32_t)i + 1, 1700000000 + i,
			                        (uint32_t)i, 3, {0}, size == 1 ? (i == 0 ? 7 : 0) : AKM_FMT_ID_MAX};
			memset(e->asr_id, 'a', e->asr_id_len);
		}
		p[0] = AKM_REC_VERIFY;
		check(akm_proto_node_rec_encode(AKM_REC_VERIFY, &cr, p + 1, sizeof p - 1, &len), "check-in report");
		snprintf(name, sizeof name, "plain-checkin-%s", size_name(size));
		put_plain(name, p, 1 + len);
		hs->sent = 0;
		check(akm_proto_record_seal(hs, true, AKM_REC_VERIFY, p + 1, len, f, sizeof f, &len), "check-in record");
		snprintf(name, sizeof name, "rec-checkin-%s", size_name(size));
		put_file("proto", name, f, len);
	}
	for (int size = 1; size <= 2; size++) {
		/* the vectors' two events; 32 events with the longest details
		 * that fit in one record (15 characters) */
		nr.nevents = size == 1 ? PV_NEVENTS : AKM_PROTO_EVENTS_MAX;
		for (size_t i = 0; i < nr.nevents; i++) {
			nr.events[i].kind = (uint16_t)(1 + i % AKM_EVENT_KIND_MAX);
			nr.events[i].count = (uint32_t)i * 1000u;
			nr.events[i].time = 1700000000 + i;
			snprintf(nr.events[i].detail, sizeof nr.events[i].detail, "%s", size == 1 ? "" : "0123456789ABCDE");
		}
		if (size == 1) {
			snprintf(nr.events[0].detail, sizeof nr.events[0].detail, "%s", PV_EVENT0_DETAIL);
			nr.events[0].kind = PV_EVENT0_KIND;
		}
		p[0] = AKM_REC_REPORT;
		check(akm_proto_node_rec_encode(AKM_REC_REPORT, &nr, p + 1, sizeof p - 1, &len), "report");
		snprintf(name, sizeof name, "plain-report-%s", size_name(size));
		put_plain(name, p, 1 + len);
		if (size == 1) {
			/* the same with the node's registry report after it */
			akm_proto_node_rec wr = nr;
			wr.has_report = true;
			wr.through = PV_THROUGH;
			wr.ncevents = 1;
			wr.cevents[0] = (akm_proto_cevent){AKM_EVENT_FORGED, 2, 1700000000, 3, 1, {'a', 'b'}, 2};
			size_t wlen;
			p[0] = AKM_REC_REPORT;
			check(akm_proto_node_rec_encode(AKM_REC_REPORT, &wr, p + 1, sizeof p - 1, &wlen), "report with report");
			put_plain("plain-report-registry", p, 1 + wlen);
			p[0] = AKM_REC_REPORT;
			check(akm_proto_node_rec_encode(AKM_REC_REPORT, &nr, p + 1, sizeof p - 1, &len), "report");
		}
		hs->sent = 0;
		check(akm_proto_record_seal(hs, true, AKM_REC_REPORT, p + 1, len, f, sizeof f, &len), "report record");
		snprintf(name, sizeof name, "rec-report-%s", size_name(size));
		put_file("proto", name, f, len);
	}
	akm_proto_done d = { PV_DONE_RESULT, PV_DONE_STATUS, PV_DONE_N };
	p[0] = AKM_REC_DONE;
	check(akm_proto_done_encode(&d, p + 1, sizeof p - 1, &len), "done");
	put_plain("plain-done", p, 1 + len);
	hs->sent = 0;
	check(akm_proto_record_seal(hs, false, AKM_REC_DONE, p + 1, len, f, sizeof f, &len), "done record");
	put_file("proto", "rec-done", f, len);
	/* ERROR, and headers refused */
	const uint8_t refused = AKM_PERR_REFUSED;
	put_frame("error-refused", AKM_PROTO_ERROR, &refused, 1);
	memcpy(f, msg1, msg1_len);
	f[2] = 2;
	put_file("proto", "edge-version2-msg1", f, msg1_len);
	f[2] = 1;
	f[1] = 'L';
	put_file("proto", "edge-magic-msg1", f, msg1_len);
	f[1] = 'K';
	f[3] = 7;
	put_file("proto", "edge-type7", f, msg1_len);
	f[3] = AKM_PROTO_RECORD;
	f[4] = 0x04;
	f[5] = 0x01;
	put_file("proto", "edge-length1025", f, msg1_len);
	akm_proto_hs_free(hs);
}


/* The ASR formats (target asr): package, rekey message, message and member
 * state at their shortest, typical and longest, and docs/asr.md §3.6's
 * vectors. */
static void asr_head(akm_asr_head *h, int size, uint32_t gen)
{
	memset(h, 0, sizeof *h);
	h->station_id_len = id_len(size);
	fill(h->station_id, h->station_id_len, 1);
	h->asr_id_len = id_len(size);
	fill(h->asr_id, h->asr_id_len, 2);
	size_t ll = size == 0 ? 0 : size == 1 ? 10 : AKM_ASR_LABEL_MAX;
	for (size_t i = 0; i < ll; i++)
		h->label[i] = (char)(0x20 + (i * 7) % 95);
	h->gen = gen;
	h->step = size == 2 ? 0xFFFFFFFFu : (uint32_t)size;
	h->gen_start = 1700000000;
	h->policy = (akm_asr_policy){ .period = size == 0 ? 0 : 3600, .grace = size == 2 ? AKM_ASR_GRACE_MAX : 60,
	                              .msg_limit = size == 0 ? 1 : (uint32_t)AKM_ASR_MSG_LIMIT_MAX,
	                              .fail_limit = size == 0 ? 1 : (uint32_t)AKM_ASR_FAIL_LIMIT_DEFAULT,
	                              .join_rekeys = size == 1 };
	h->depth = size == 0 ? AKM_ASR_DEPTH_MIN : size == 1 ? 4 : AKM_ASR_DEPTH_MAX;
	h->members = size == 0 ? 1 : size == 1 ? 11 : 1u << AKM_ASR_DEPTH_MAX;
	fill(h->member_hash, sizeof h->member_hash, 3);
	h->created = 1700000100;
}

static void asrs(void)
{
	static uint8_t buf[AKM_ASR_PLAIN_MAX + 256];
	char name[64];
	size_t len;
	for (int size = 0; size < 3; size++) {
		akm_asr_package p;
		memset(&p, 0, sizeof p);
		asr_head(&p.head, size, 1);
		p.member_id_len = id_len(size);
		fill(p.member_id, p.member_id_len, 4);
		p.pr_id_len = id_len(size);
		fill(p.pr_id, p.pr_id_len, 5);
		p.leaf = size == 0 ? 0 : size == 1 ? 10 : (1u << AKM_ASR_DEPTH_MAX) - 1;
		for (int i = 0; i < p.head.depth; i++)
			fill(p.edges[i].wrapped, AKM_ASR_EDGE_LEN, (unsigned)(6 + i));
		check(akm_asr_package_encode(&p, buf, sizeof buf, &len), "asr package");
		fill(buf + len, AKM_FMT_SIG_LEN, 9);
		snprintf(name, sizeof name, "package-%s.akma", size_name(size));
		put_with_edges("asr", name, buf, len + AKM_FMT_SIG_LEN);

		akm_asr_rekey r;
		memset(&r, 0, sizeof r);
		asr_head(&r.head, size, 2 + (uint32_t)size);
		r.from_gen = r.head.gen - 1;
		r.nremoved = size == 0 ? 0 : size == 1 ? 2 : AKM_ASR_REMOVED_MAX;
		for (unsigned i = 0; i < r.nremoved; i++)
			r.removed[i] = i * 5;
		r.nedges = size == 0 ? 1 : size == 1 ? 7 : AKM_ASR_EDGES_MAX;
		uint32_t top = 2u << r.head.depth;
		for (unsigned i = 0; i < r.nedges; i++) {
			r.edges[i].child = size == 0 ? 2 : top - 1 - 3 * i;
			fill(r.edges[i].wrapped, AKM_ASR_EDGE_LEN, 10 + i);
		}
		check(akm_asr_rekey_encode(&r, buf, sizeof buf, &len), "asr rekey");
		fill(buf + len, AKM_FMT_SIG_LEN, 11);
		snprintf(name, sizeof name, "rekey-%s.akma", size_name(size));
		put_with_edges("asr", name, buf, len + AKM_FMT_SIG_LEN);

		akm_asr_message m = { .asr_id_len = id_len(size), .gen = 1 + (uint32_t)size, .step = (uint32_t)size,
		                      .sender = (uint32_t)size * 100, .seq = size == 2 ? UINT64_MAX : 1 };
		fill(m.asr_id, m.asr_id_len, 2);
		size_t plain = size == 0 ? 0 : size == 1 ? 100 : 3000;
		check(akm_asr_message_header(&m, plain, buf, sizeof buf, &len), "asr message");
		fill(buf + len, plain + AKM_ASR_TAG_LEN, 12);
		snprintf(name, sizeof name, "message-%s.akma", size_name(size));
		put_with_edges("asr", name, buf, len + plain + AKM_ASR_TAG_LEN);

		static akm_asr_sender senders[40];
		akm_asr_state s;
		memset(&s, 0, sizeof s);
		s.station_id_len = id_len(size);
		fill(s.station_id, s.station_id_len, 1);
		s.depth = size == 0 ? AKM_ASR_DEPTH_MIN : size == 1 ? 4 : AKM_ASR_DEPTH_MAX;
		s.leaf = (uint32_t)size;
		s.members = size == 0 ? 1 : 11;
		fill(s.member_hash, sizeof s.member_hash, 3);
		s.policy = (akm_asr_policy){ .period = 60, .grace = 10, .msg_limit = 1000, .fail_limit = 100 };
		s.gen = 1;
		s.step = (uint32_t)size * 3;
		s.gen_start = 1700000000;
		s.step_since = 1700000100;
		s.previous_until = size == 0 ? 0 : 1700000110;
		s.sealed = (uint32_t)size;
		s.failed = (uint32_t)size;
		s.dirty = size == 0 ? 0 : size == 1 ? UINT64_C(0x0123456789abcdef) : UINT64_MAX;
		s.nsenders = size == 0 ? 0 : size == 1 ? 3 : 40;
		for (uint32_t i = 0; i < s.nsenders; i++)
			senders[i] = (akm_asr_sender){ .leaf = i * 2, .high = 100 + i, .bitmap = 0x5555u + i };
		s.senders = senders;
		check(akm_asr_state_encode(&s, buf, sizeof buf, &len), "asr state");
		snprintf(name, sizeof name, "state-%s.akma", size_name(size));
		put_with_edges("asr", name, buf, len);
	}
	put_file("asr", "vector-package.akma", AV_package, sizeof AV_package);
	put_file("asr", "vector-rekey.akma", AV_rekey, sizeof AV_rekey);
	put_file("asr", "vector-message.akma", AV_message, sizeof AV_message);
	put_file("asr", "vector-state.akma", AV_state, sizeof AV_state);
	put_file("asr", "vector-state-v1.akma", AV_state_v1, sizeof AV_state_v1);
}

/* Policy files (docs/policy.md): the shipped conf/policy.conf (read from
 * the source root), every setting and form, and refused ones. */
static void policies(void)
{
	FILE *f = fopen("conf/policy.conf", "rb");
	if (f == NULL) {
		fprintf(stderr, "make-corpus: conf/policy.conf: %s (run from the source root)\n", strerror(errno));
		exit(1);
	}
	static uint8_t shipped[65536];
	size_t n = fread(shipped, 1, sizeof shipped, f);
	fclose(f);
	put_file("policy", "shipped.conf", shipped, n);
	static const struct {
		const char *name, *text;
	} texts[] = {
		{"every-setting.conf", "# comment\nrule a-1   # trailing\n  scope node\n\tmetric bad-proof\n"
		                       "  threshold >=5\r\n  window 90\n  datapoints-to-alarm 2\n  datapoints-to-clear 3\n"
		                       "  actions alert,quarantine , evict\n  cool-down 2h\n"},
		{"gauges.conf", "rule b\nactions rekey\nthreshold > 1d\nmetric asr-age\nscope asr\n"
		                "rule m\nscope asr\nmetric asr-messages\nthreshold >= 1000\nactions rekey alert\n"
		                "rule s\nscope node\nmetric node-silence\nthreshold > 3d\nactions stale\ncool-down 1d\n"},
		{"station.conf", "rule c\nscope station\nmetric breaches\nthreshold == 7\nwindow 7d\nactions alert\n"
		                 "rule d\nscope asr\nmetric forged\nthreshold > 2\nwindow 1s\nactions alert rekey\n"
		                 "cool-down 10s\n"},
		{"bad-metric.conf", "rule r\nscope node\nmetric forgd\n"},
		{"bad-outside.conf", "scope node\n"},
		{"bad-twice.conf", "rule r\nscope node\nscope asr\n"},
		{"unsafe-station.conf", "rule r\nscope station\nmetric tamper\nthreshold > 0\nwindow 1h\nactions quarantine\n"},
		{"unsafe-zero.conf", "rule r\nscope node\nmetric forged\nthreshold < 3\nwindow 5m\nactions revoke\n"},
		{"unsafe-storm.conf", "rule r\nscope asr\nmetric asr-age\nthreshold > 5s\nactions rekey\n"},
		{"unsafe-duplicate.conf", "rule r\nscope node\nmetric clone\nthreshold >= 1\nwindow 1h\nactions alert\nrule r\n"},
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		put_file("policy", texts[i].name, (const uint8_t *)texts[i].text, strlen(texts[i].text));
}

/* The status page's requests (lib/http.h): a browser's, a scraper's, and
 * the refusals' shapes (one each of what the parser names). */
static void http_requests(void)
{
	static const struct {
		const char *name, *text;
	} seeds[] = {
		{"typical-get", "GET /?token=abc HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: x\r\n"
		                "Cookie: a=b; akm_status=abc\r\n\r\n"},
		{"typical-metrics", "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\r\n"
		                    "Accept: text/plain\r\n\r\n"},
		{"head-http10", "HEAD /status.json HTTP/1.0\r\n\r\n"},
		{"pipelined", "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"post", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"},
		{"bare-lf", "GET / HTTP/1.1\nHost: h\n\n"},
		{"fold", "GET / HTTP/1.1\r\nHost: h\r\n x\r\n\r\n"},
		{"version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"},
	};
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
		put_file("http", seeds[i].name, (const uint8_t *)seeds[i].text, strlen(seeds[i].text));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR (tests/fuzz/corpus)\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make-corpus: %s: %s\n", root, strerror(errno));
		return 1;
	}
	bundles();
	requests();
	anchors();
	node_states();
	login_states();
	protos();
	asrs();
	policies();
	http_requests();
	/* every target also gets an empty input */
	static const char *const targets[] = { "bundle", "request", "anchor", "node_state", "login", "proto", "asr",
	                                       "policy", "http" };
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
		put_file(targets[i], "edge-empty", (const uint8_t *)"", 0);
	return 0;
}

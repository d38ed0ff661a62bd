/*
 * The activation protocol AKM-ACT-1 (docs/protocol.md): its frames, its
 * messages and its key schedule, as pure functions.  The PKCS#11 parts
 * (ephemeral ECDH, the HMAC with the relationship's MAC key) are the
 * caller's: this code gets their results (Z, PRK_3) and gives what they
 * take as input.  No I/O, no clock, no randomness: nonces, cookie nonces
 * and times are arguments, so the test vectors are reproducible.
 *
 * Secrets (Z, PRK_2e, PRK_3, the keys) live in an akm_proto_hs, which the
 * caller allocates in locked memory (akm_proto_hs_new) and frees wiped.
 * Every parser reads exactly what the encoder writes; every length is
 * checked before anything is read.
 */
#ifndef AKM_LIB_PROTO_H
#define AKM_LIB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/fmt.h"

#define AKM_PROTO_VERSION 1
#define AKM_PROTO_HDR_LEN 6
#define AKM_PROTO_BODY_MAX 1024
#define AKM_PROTO_FRAME_MAX (AKM_PROTO_HDR_LEN + AKM_PROTO_BODY_MAX)
#define AKM_PROTO_NONCE_LEN 16           /* N_I, N_R */
#define AKM_PROTO_POINT_LEN 65           /* G_X, G_Y */
#define AKM_PROTO_KEY_LEN 32
#define AKM_PROTO_COOKIE_NONCE_LEN 24
#define AKM_PROTO_COOKIE_LEN 112         /* nonce 24 + (8 + 32 + 32) + tag 16 */
#define AKM_PROTO_TAG_LEN 16
#define AKM_PROTO_CHALLENGE_LEN 32
#define AKM_PROTO_COOKIE_LIFETIME_MS 30000
#define AKM_PROTO_HELLO_LEN (AKM_PROTO_NONCE_LEN + AKM_PROTO_POINT_LEN)                        /* 81 */
#define AKM_PROTO_CHALLENGE_BODY_LEN (AKM_PROTO_NONCE_LEN + AKM_PROTO_POINT_LEN + AKM_PROTO_COOKIE_LEN) /* 193 */
#define AKM_PROTO_PROOF_MIN (AKM_PROTO_COOKIE_LEN + 4 + 1 + 1 + 1 + 32 + AKM_PROTO_TAG_LEN)       /* 167 */
#define AKM_PROTO_PROOF_MAX (AKM_PROTO_COOKIE_LEN + 4 + 32 + 32 + 64 + 32 + AKM_PROTO_TAG_LEN)    /* 292 */
#define AKM_PROTO_RESULT_MIN (3 + AKM_PROTO_CHALLENGE_LEN + AKM_PROTO_TAG_LEN)                    /* 51 */
#define AKM_PROTO_RESULT_MAX (AKM_PROTO_RESULT_MIN + AKM_FMT_ID_MAX)                              /* 83 */
#define AKM_PROTO_RECORD_MIN (1 + AKM_PROTO_TAG_LEN)                                               /* 17 */
#define AKM_PROTO_PSK_MSG_LEN (13 + AKM_PROTO_KEY_LEN) /* "AKM-ACT-1 psk" || PRK_2e */
#define AKM_PROTO_EVENTS_MAX 32
#define AKM_PROTO_DETAIL_MAX 64

/* Frame types. */
enum {
	AKM_PROTO_HELLO = 1,
	AKM_PROTO_CHALLENGE = 2,
	AKM_PROTO_PROOF = 3,
	AKM_PROTO_RESULT = 4,
	AKM_PROTO_RECORD = 5,
	AKM_PROTO_ERROR = 6,
};

/* Operations (message 3). */
enum { AKM_OP_ACTIVATE = 1, AKM_OP_CHECKIN = 2, AKM_OP_REPORT = 3 };

/* ERROR codes. */
enum {
	AKM_PERR_MALFORMED = 1,
	AKM_PERR_VERSION = 2,
	AKM_PERR_BUSY = 3,
	AKM_PERR_LOCKED = 4,
	AKM_PERR_REFUSED = 5,
	AKM_PERR_TIMEOUT = 6,
};

/* Results (message 4 and the DONE record). */
enum {
	AKM_PRES_OK = 0x00,
	AKM_PRES_NOT_ACTIVE = 0x10,
	AKM_PRES_WRONG_NODE = 0x11,
	AKM_PRES_REPLAY = 0x12,
	AKM_PRES_STATION_FAILURE = 0x13,
	AKM_PRES_VERIFY_FAILED = 0x14,
};

/* Record types. */
enum { AKM_REC_VERIFY = 0x01, AKM_REC_REPORT = 0x02, AKM_REC_FETCH = 0x03, AKM_REC_DONE = 0x81, AKM_REC_ITEM = 0x82 };

/* Check-in delivery (docs/protocol.md §4): the ASR generations a node
 * holds (in its VERIFY record), the items the station has for it (DONE's
 * n), fetched one part at a time (FETCH -> ITEM). */
#define AKM_PROTO_HELD_MAX 16      /* generations a check-in names */
#define AKM_PROTO_ITEMS_MAX 16     /* items one check-in delivers */
#define AKM_PROTO_ITEM_PART 960    /* bytes of an item per ITEM record */
#define AKM_PROTO_ITEM_MAX 4096    /* bytes of one item (a signed ASR package) */

/* Event kinds of a REPORT and of a check-in's events (7-10: what a node's
 * own registry records about ASR messages and rollbacks, docs/protocol.md
 * §4 "Events at check-in"). */
enum {
	AKM_EVENT_WRONG_PIN = 1,
	AKM_EVENT_BUNDLE_REFUSED = 2,
	AKM_EVENT_KEY_FAILURE = 3,
	AKM_EVENT_REPLAY = 4,
	AKM_EVENT_TAMPER = 5,
	AKM_EVENT_OTHER = 6,
	AKM_EVENT_FORGED = 7,       /* an ASR message whose tag did not verify */
	AKM_EVENT_NOT_MEMBER = 8,   /* an ASR message naming a sender out of range, or the receiver itself */
	AKM_EVENT_STALE = 9,        /* an ASR message of another generation or an unusable step */
	AKM_EVENT_ROLLBACK = 10,    /* the node's registry was rolled back */
};
#define AKM_EVENT_KIND_MAX 10
/* Check-in events: at most this many aggregates in one VERIFY. */
#define AKM_PROTO_CEVENTS_MAX 16
#define AKM_PROTO_NO_SENDER 0xFFFFFFFFu

/* ---- frames ---- */

/* Checks a 6-byte header: AKM_FMT_BAD_MAGIC, AKM_FMT_BAD_VERSION,
 * AKM_FMT_BAD_FIELD (unknown type, or a length the type never has),
 * AKM_FMT_TOO_BIG (over AKM_PROTO_BODY_MAX) or AKM_FMT_OK with *type and
 * *body_len set. */
akm_fmt_rc akm_proto_header(const uint8_t hdr[AKM_PROTO_HDR_LEN], uint8_t *type, size_t *body_len);
/* Writes header || body into out (room: cap); *len gets the frame length. */
akm_fmt_rc akm_proto_frame(uint8_t type, const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                           size_t *len);

/* ---- the handshake's secrets ---- */

typedef struct akm_proto_hs {
	uint8_t z[32];           /* the ECDH secret, as the token gives it (the caller's to fill) */
	uint8_t th2[32], prk2e[32], th3[32], k3[32];
	uint8_t th3m[32], prk3[32], mac3[32], th4[32], k4[32];
	uint8_t k_n2s[32], k_s2n[32];
	uint8_t cookie[AKM_PROTO_COOKIE_LEN];
	uint64_t sent, received; /* record counters */
} akm_proto_hs;

/* In locked memory, zeroed; NULL when it cannot be had.  Freed wiped. */
akm_proto_hs *akm_proto_hs_new(void);
void akm_proto_hs_free(akm_proto_hs *hs);

/* What message 3 carries in its encrypted part. */
typedef struct akm_proto_id {
	uint8_t op;
	uint8_t pr_id[AKM_FMT_ID_MAX]; size_t pr_id_len;
	uint8_t node_id[AKM_FMT_ID_MAX]; size_t node_id_len;
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;
} akm_proto_id;

/* Expand(PRK, label, ctx) of docs/protocol.md §3. */
void akm_proto_expand(const uint8_t prk[32], const char *label, const uint8_t *ctx, size_t ctx_len,
                      uint8_t out[32]);

/* Message 1's body; its parse checks only the lengths and the point's
 * leading 04 (the token checks the curve). */
akm_fmt_rc akm_proto_hello(const uint8_t n_i[AKM_PROTO_NONCE_LEN], const uint8_t g_x[AKM_PROTO_POINT_LEN],
                           uint8_t *out, size_t cap, size_t *len);
akm_fmt_rc akm_proto_hello_parse(const uint8_t *body, size_t len, uint8_t n_i[AKM_PROTO_NONCE_LEN],
                                 uint8_t g_x[AKM_PROTO_POINT_LEN]);

/* Both sides, after message 2's N_R and G_Y and the ECDH secret z:
 * TH_2 and PRK_2e from msg1 (the whole frame).  The node calls it after
 * akm_proto_challenge_parse, and it also gives TH_3 and K_3 from the
 * cookie; the station seals the cookie next (akm_proto_cookie_seal). */
void akm_proto_after_ecdh(akm_proto_hs *hs, const uint8_t *msg1, size_t msg1_len,
                          const uint8_t n_r[AKM_PROTO_NONCE_LEN], const uint8_t g_y[AKM_PROTO_POINT_LEN],
                          const uint8_t z[32]);

/* The station's cookie (hs->cookie) over t_issue, PRK_2e and TH_2. */
void akm_proto_cookie_seal(akm_proto_hs *hs, const uint8_t k_cookie[32],
                           const uint8_t nonce[AKM_PROTO_COOKIE_NONCE_LEN], uint64_t t_issue);
/* Opens a cookie into hs (cookie, PRK_2e, TH_2) and *t_issue: false when it
 * does not open (hs unchanged). */
bool akm_proto_cookie_open(akm_proto_hs *hs, const uint8_t k_cookie[32],
                           const uint8_t cookie[AKM_PROTO_COOKIE_LEN], uint64_t *t_issue);

/* Message 2's body, and its parse into N_R, G_Y and hs->cookie. */
akm_fmt_rc akm_proto_challenge(const akm_proto_hs *hs, const uint8_t n_r[AKM_PROTO_NONCE_LEN],
                               const uint8_t g_y[AKM_PROTO_POINT_LEN], uint8_t *out, size_t cap, size_t *len);
akm_fmt_rc akm_proto_challenge_parse(akm_proto_hs *hs, const uint8_t *body, size_t len,
                                     uint8_t n_r[AKM_PROTO_NONCE_LEN], uint8_t g_y[AKM_PROTO_POINT_LEN]);

/* The message the token HMACs with the PR's MAC key to give PRK_3:
 * "AKM-ACT-1 psk" || PRK_2e (secret: wipe it). */
void akm_proto_psk_message(const akm_proto_hs *hs, uint8_t out[AKM_PROTO_PSK_MSG_LEN]);

/* Both sides, with PRK_3 from the token and the IDs of message 3: TH_3m,
 * MAC_3, TH_4, K_4 and the session keys.  Needs TH_3 (after the cookie).
 * prk3 may be hs->prk3 itself (the token's HMAC written there directly). */
void akm_proto_after_psk(akm_proto_hs *hs, const akm_proto_id *id, const uint8_t prk3[32]);

/* The node: message 3's body (hs has the cookie from message 2 and PRK_3
 * from akm_proto_after_psk).  BAD_FIELD for an unknown op or IDs out of
 * range (what the station's akm_proto_proof_open would refuse). */
akm_fmt_rc akm_proto_proof(akm_proto_hs *hs, const akm_proto_id *id, uint8_t *out, size_t cap, size_t *len);

/* The station, message 3 in two steps.  First the cookie, which the caller
 * opens with akm_proto_cookie_open: */
akm_fmt_rc akm_proto_proof_cookie(const uint8_t *body, size_t len, const uint8_t **cookie);
/* Then, with hs holding the opened cookie, K_3 and the identities: opens
 * the AEAD into *id and mac3 (the MAC as received).  AKM_FMT_BAD_FIELD
 * when it does not open or carries another cookie than hs's, other codes
 * when its plaintext does not parse. */
akm_fmt_rc akm_proto_proof_open(akm_proto_hs *hs, const uint8_t *body, size_t len, akm_proto_id *id,
                                uint8_t mac3[32]);
/* Whether the MAC_3 received equals hs->mac3 (constant time). */
bool akm_proto_mac3_ok(const akm_proto_hs *hs, const uint8_t mac3[32]);

/* Message 4's body: the challenge in the clear, then result, status and
 * station ID sealed under K_4 with the challenge as the nonce. */
typedef struct akm_proto_result {
	uint8_t result, status;
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len; /* 0..32 */
	uint8_t challenge[AKM_PROTO_CHALLENGE_LEN]; /* fresh random for EVERY message 4, refusals too */
} akm_proto_result;
/* AKM_FMT_BAD_FIELD for a station ID over 32 bytes or an all-zero
 * challenge (a zeroed struct: the nonce would repeat). */
akm_fmt_rc akm_proto_result_seal(const akm_proto_hs *hs, const akm_proto_result *r, uint8_t *out, size_t cap,
                                 size_t *len);
/* AKM_FMT_BAD_FIELD when it does not open (the station did not prove the
 * relationship) or its challenge is all zero. */
akm_fmt_rc akm_proto_result_open(const akm_proto_hs *hs, const uint8_t *body, size_t len, akm_proto_result *r);

/* Records: a whole frame sealed under K_n2s (node) or K_s2n (station) with
 * the next counter of hs, and opened with the other side's. */
akm_fmt_rc akm_proto_record_seal(akm_proto_hs *hs, bool from_node, uint8_t type, const uint8_t *payload,
                                 size_t payload_len, uint8_t *out, size_t cap, size_t *len);
/* hdr: the record's 6-byte header; payload gets at most AKM_PROTO_BODY_MAX
 * bytes.  AKM_FMT_BAD_FIELD when it does not open. */
akm_fmt_rc akm_proto_record_open(akm_proto_hs *hs, bool from_node, const uint8_t hdr[AKM_PROTO_HDR_LEN],
                                 const uint8_t *body, size_t len, uint8_t *type, uint8_t *payload,
                                 size_t *payload_len);

/* ---- record payloads ---- */

typedef struct akm_proto_event {
	uint16_t kind;        /* AKM_EVENT_* */
	uint32_t count;
	uint64_t time;        /* seconds since 1970 */
	char detail[AKM_PROTO_DETAIL_MAX + 1]; /* printable ASCII, NUL-terminated */
} akm_proto_event;

/* An ASR generation a node holds. */
typedef struct akm_proto_held {
	uint8_t asr_id[AKM_FMT_ID_MAX]; size_t asr_id_len;
	uint32_t gen;
} akm_proto_held;

/* A check-in's event: one aggregate of the node's own breach records
 * (docs/protocol.md §4). */
typedef struct akm_proto_cevent {
	uint8_t kind;         /* AKM_EVENT_* */
	uint32_t count;       /* records aggregated, >= 1 */
	uint64_t time;        /* the last one's, seconds since 1970 */
	uint32_t sender;      /* the ASR message's sender leaf, or AKM_PROTO_NO_SENDER */
	uint32_t gen;         /* the ASR message's generation (0: none) */
	uint8_t asr_id[AKM_FMT_ID_MAX]; size_t asr_id_len; /* 0: not about an ASR */
} akm_proto_cevent;

/* The node's record: the proof; for a report its events; for a check-in
 * the ASR generations the node holds (an empty list is not written, so a
 * VERIFY without one is the proof alone), and optionally (has_report) the
 * node's report: per held ASR the messages the node sealed in that
 * generation, the node's audit sequence number the events cover, and the
 * events aggregated (a VERIFY then writes its held count even when 0; a
 * REPORT carries it after its events, with no held ASR). */
typedef struct akm_proto_node_rec {
	uint8_t proof[32];
	size_t nevents;       /* REPORT: 1..AKM_PROTO_EVENTS_MAX; VERIFY: 0 */
	akm_proto_event events[AKM_PROTO_EVENTS_MAX];
	size_t nheld;         /* VERIFY: 0..AKM_PROTO_HELD_MAX; REPORT: 0 */
	akm_proto_held held[AKM_PROTO_HELD_MAX];
	bool has_report;
	uint32_t sealed[AKM_PROTO_HELD_MAX]; /* per held[i] */
	uint64_t through;     /* the node's audit records up to this sequence number are reported */
	size_t ncevents;      /* 0..AKM_PROTO_CEVENTS_MAX */
	akm_proto_cevent cevents[AKM_PROTO_CEVENTS_MAX];
} akm_proto_node_rec;
/* The bytes a check-in's event takes (for a node filling a record). */
size_t akm_proto_cevent_len(const akm_proto_cevent *e);
akm_fmt_rc akm_proto_node_rec_encode(uint8_t type, const akm_proto_node_rec *r, uint8_t *out, size_t cap,
                                     size_t *len);
akm_fmt_rc akm_proto_node_rec_parse(uint8_t type, const uint8_t *p, size_t len, akm_proto_node_rec *r);

/* The station's DONE record. */
typedef struct akm_proto_done {
	uint8_t result, status;
	uint16_t n;
} akm_proto_done;
akm_fmt_rc akm_proto_done_encode(const akm_proto_done *d, uint8_t *out, size_t cap, size_t *len);
akm_fmt_rc akm_proto_done_parse(const uint8_t *p, size_t len, akm_proto_done *d);

/* FETCH (node): which part of which item; ITEM (station): that part. */
typedef struct akm_proto_part {
	uint8_t item, part, parts;        /* item < DONE's n; part < parts; parts 1..5 (FETCH: parts unused) */
	const uint8_t *data;              /* ITEM: into the payload, 1..AKM_PROTO_ITEM_PART bytes */
	size_t len;
} akm_proto_part;
akm_fmt_rc akm_proto_fetch_encode(uint8_t item, uint8_t part, uint8_t *out, size_t cap, size_t *len);
akm_fmt_rc akm_proto_fetch_parse(const uint8_t *p, size_t len, akm_proto_part *f);
akm_fmt_rc akm_proto_item_encode(const akm_proto_part *it, uint8_t *out, size_t cap, size_t *len);
akm_fmt_rc akm_proto_item_parse(const uint8_t *p, size_t len, akm_proto_part *it);
/* How many ITEM parts an item of `len` bytes (1..AKM_PROTO_ITEM_MAX) takes. */
uint8_t akm_proto_item_parts(size_t len);

/* Names for logs and audit details. */
const char *akm_proto_op_name(uint8_t op);      /* "activate", "checkin", "report", "?" */
const char *akm_proto_error_name(uint8_t code); /* ERROR codes */
const char *akm_proto_result_name(uint8_t r);   /* results */
const char *akm_proto_event_name(uint16_t kind);

#endif

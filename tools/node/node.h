/*
 * The node library: what a node does with its own token (its secure
 * element, a TPM's or a software token), through PKCS#11 only.  akm-node is
 * its command line; the station's write-se and verify use it on a node's
 * secure element attached to the station.  No argument parsing, no usage
 * text: functions take typed requests and report failures through
 * shared/report.h (the ones that run on a station's behalf put their
 * sentence in an err buffer instead, for the station to report).
 *
 * Node-side objects (docs/formats.md, "Node token"):
 *   identity key pair  label "akm-node identity", CKA_ID "akm-node"
 *   station anchor     CKO_PUBLIC_KEY, label "akm-station", CKA_ID = station ID
 *   PR keys            CKA_ID = PR ID || purpose byte, label "<name>/enc", "/mac"
 *   state              CKO_DATA, CKA_APPLICATION "akm-node", label "akm-node state",
 *                      CKA_VALUE an akm_node_state record
 */
#ifndef AKM_TOOLS_NODE_H
#define AKM_TOOLS_NODE_H

#include <stdbool.h>

#include "shared/p11.h"
#include "shared/report.h"
#include "shared/secret.h"
#include "lib/fmt-anchor.h"
#include "lib/fmt-node-state.h"
#include "lib/proto.h"
#include "lib/fmt-asr.h"
#include "akm/pkcs11-akm.h"

#define AKM_NODE_IDENTITY_LABEL "akm-node identity"
#define AKM_NODE_IDENTITY_ID "akm-node"
#define AKM_NODE_ANCHOR_LABEL "akm-station"
#define AKM_NODE_STATE_LABEL "akm-node state"
#define AKM_NODE_APPLICATION "akm-node"

#define AKM_NODE_FILE_MAX 4096 /* no anchor, request or bundle is larger */

/* ---- the token (token.c) ---- */

/* The identity key pair, generated on first use when `create`.  Returns 0,
 * 1 when there is none and !create, -1 on error (p->err says why). */
int akm_node_identity(akm_p11 *node, bool create, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv,
                      uint8_t point[65]);
/* Whether a station anchor is pinned, and its handle.  0 or -1. */
int akm_node_anchor_find(akm_p11 *node, bool *found, CK_OBJECT_HANDLE *h);
/* The pinned anchor, if any: handle, station ID and point.  0 or -1. */
int akm_node_anchor_read(akm_p11 *node, bool *found, CK_OBJECT_HANDLE *h, uint8_t id[AKM_FMT_ID_MAX],
                         size_t *id_len, uint8_t point[65]);
/* Pins the station anchor: 0 pinned (or the same one already was), -1
 * refused (a different one is pinned), -2 token failure; err says why. */
int akm_node_trust(akm_p11 *node, const akm_anchor *anchor, char *err, size_t errlen);
/* Reads the node state; returns 1 when there is none yet, 0 when read, -1
 * on error.  *obj (if not NULL) gets its object. */
int akm_node_state_read(akm_p11 *node, akm_node_state *state, CK_OBJECT_HANDLE *obj);
/* The proof of possession a verifier asks for: HMAC-SHA256 with the node's
 * PR MAC key over the verification message (lib/fmt-verify.h), C_Sign in
 * the node token. */
int akm_node_prove(akm_p11 *node, const akm_node_state *state, const uint8_t challenge[32],
                   uint8_t mac[32]);
/* The same in two steps: the PR's MAC key, then the proof with it. */
int akm_node_mac_key(akm_p11 *node, const akm_node_state *state, CK_OBJECT_HANDLE *key);
int akm_node_prove_with(akm_p11 *node, CK_OBJECT_HANDLE key, const akm_node_state *state,
                        const uint8_t challenge[32], uint8_t mac[32]);

/* ---- a bundle into the token (import.c) ---- */

/* Refusal reasons of akm_node_import, each with a sentence in err. */
typedef enum {
	AKM_IMPORT_OK = 0,
	AKM_IMPORT_MALFORMED,     /* not a bundle / damaged / truncated */
	AKM_IMPORT_UNTRUSTED,     /* no anchor, other station, or bad signature */
	AKM_IMPORT_WRONG_NODE,    /* for another node (hardware value, node key or name) */
	AKM_IMPORT_REPLAY,        /* sequence not newer than the last accepted */
	AKM_IMPORT_BAD_PASSPHRASE,/* passphrase does not open it */
	AKM_IMPORT_WEAK,          /* its Argon2id cost is below the floor (secret.h) */
	AKM_IMPORT_POLICY,        /* refused by this node's policy (a sequence jump too large,
	                           * a passphrase bundle on a node with an identity key) */
	AKM_IMPORT_TOKEN_ERROR    /* the token failed */
} akm_import_rc;

typedef struct akm_import_args {
	const char *hw;                  /* the node's hardware value (text) */
	const akm_secret *passphrase;    /* for protection 2, else NULL */
	const uint8_t *file_hash;        /* SHA-256 of the bundle file (recorded) */
	uint64_t max_seq_jump;           /* 0: AKM_NODE_SEQ_JUMP_MAX */
	bool allow_passphrase;           /* a passphrase bundle on a node with an identity key */
} akm_import_args;

/* A bundle whose sequence is more than this above the last accepted is
 * refused (AKM_IMPORT_POLICY); a node with no state yet takes any. */
#define AKM_NODE_SEQ_JUMP_MAX 1000U
/* Set to 1: a node with an identity key accepts passphrase bundles too. */
#define AKM_NODE_ALLOW_PASSPHRASE_ENV "AKM_NODE_ALLOW_PASSPHRASE"

/* Checks one bundle against the node (its station anchor and signature,
 * hardware value, node key, sequence) and unwraps its keys into the node
 * token `node` (logged in); the plaintext keys never reach this host.
 * Nothing is changed unless every check passes.  On success *state (if not
 * NULL) is the node's new state. */
akm_import_rc akm_node_import(akm_p11 *node, const uint8_t *buf, size_t len, const akm_import_args *args,
                              akm_node_state *state, char *err, size_t errlen);

/* Checks 1-3 of akm_node_import only (station and signature, hardware
 * value and AKM ID, sequence and the node's policy), changing nothing and
 * deriving nothing: what import --dir asks of each candidate before it
 * chooses.  *seq (if not NULL) gets the bundle's sequence when it parsed. */
akm_import_rc akm_node_import_check(akm_p11 *node, const uint8_t *buf, size_t len, const akm_import_args *args,
                                    uint64_t *seq, char *err, size_t errlen);

/* ---- akm-node's tasks (tasks.c): failures reported, AKM_RC_* returned ---- */

/* The node's hardware value: `given` when not NULL (checked: 1-64
 * printable characters, no spaces; p may be NULL), else the token serial. */
int akm_node_hw(const akm_p11 *p, const char *given, char out[AKM_FMT_HW_MAX + 1]);
/* Reads and parses a station anchor file; fingerprint = SHA-256 of it. */
int akm_node_load_anchor(const char *path, akm_anchor *a, uint8_t fingerprint[32]);

/* import (FILE | --dir DIR) [--anchor FILE], in two steps around the
 * passphrase, which only a passphrase bundle needs. */
typedef struct akm_node_import_job {
	const char *file, *dir;        /* one of them */
	const char *hw;                /* the node's hardware value */
	const akm_anchor *anchor;      /* pinned first when none is (NULL: none given) */
	char path[4096];               /* out: the bundle file */
	uint8_t *bundle;               /* out: its bytes (malloc'd) */
	size_t len;
	bool wants_passphrase;         /* out */
	bool anchor_vouched;           /* the anchor may be pinned: its fingerprint was given and
	                                * matched, or trust on first use was chosen */
	bool pinned_now;               /* the anchor was pinned by this job */
	bool allow_passphrase;         /* a passphrase bundle on a node with an identity key
	                                * (also: AKM_NODE_ALLOW_PASSPHRASE=1) */
	CK_OBJECT_HANDLE anchor_obj;
} akm_node_import_job;
/* Finds and reads the bundle, makes sure a station is trusted. */
int akm_node_import_prepare(akm_p11 *node, akm_node_import_job *job);
/* Imports it; what is refused is reported under the bundle's path. */
int akm_node_import_finish(akm_p11 *node, akm_node_import_job *job, const akm_secret *passphrase,
                           akm_node_state *state);
/* Frees the job; an anchor it pinned for a bundle that was not accepted is
 * removed again (a refusal changes nothing). */
void akm_node_import_end(akm_p11 *node, akm_node_import_job *job);

/* request: an enrollment request for `name`, signed by the identity key
 * (made on first use), written to out_path; key_fp = SHA-256 of the node's
 * public point. */
int akm_node_request(akm_p11 *node, const char *name, const char *hw, const char *out_path,
                     uint8_t key_fp[32]);

/* ---- the station service over the network (act.c, docs/protocol.md) ---- */

/* One exchange with akm-nmmd: activate, check in or report. */
typedef struct akm_node_act {
	uint8_t op;                      /* AKM_OP_* */
	const char *nmm;                 /* HOST:PORT, [IPv6]:PORT or unix:PATH */
	const char *hw;                  /* this node's hardware value (text) */
	unsigned timeout_ms;             /* the whole exchange (0: 30 s) */
	const akm_proto_event *events;   /* report: 1..AKM_PROTO_EVENTS_MAX */
	size_t nevents;
	/* results */
	uint8_t error;                   /* the station's ERROR code, 0 if none */
	bool proven;                     /* message 4 opened: the station proved the PR */
	uint8_t result, status;          /* message 4's */
	uint8_t station_id[AKM_FMT_ID_MAX];
	size_t station_id_len;
	bool done;                       /* the DONE record arrived */
	uint8_t done_result, done_status;
	uint16_t done_n;
	/* check-in: the ASR generations the node holds (sent), and the items
	 * the station delivered (signed ASR packages, malloc'd: free with
	 * akm_node_act_free, also after a failure) */
	const akm_proto_held *held;
	size_t nheld;
	const akm_proto_node_rec *report; /* check-in, report: the node's report (its held list for a
	                                   * check-in; NULL: none) */
	uint8_t *items[AKM_PROTO_ITEMS_MAX];
	size_t item_len[AKM_PROTO_ITEMS_MAX];
	size_t nitems;
} akm_node_act;

void akm_node_act_free(akm_node_act *a);

/* Runs the exchange with the PR of `state` (its MAC key in `node`, logged
 * in).  AKM_RC_OK when the station accepted and verified; otherwise the
 * failure is reported under `what` and the code says its kind:
 * AKM_RC_REFUSED (the station refused, or could not prove the relationship),
 * AKM_RC_VERIFY (the proof did not match), AKM_RC_TOKEN, AKM_RC_NETWORK. */
int akm_node_exchange(akm_p11 *node, const akm_node_state *state, akm_node_act *a, const char *what);

/* ---- the check-in report (report.c, docs/protocol.md §4) ---- */

/* Audit records read at most per check-in (the rest at the next one). */
#define AKM_NODE_REPORT_SCAN 10000u

/* Fills r's report (a check-in's, or a REPORT's after its events
 * r->events[0..nevents), given: room is left for them): has_report, per
 * held ASR (r->held[0..nheld), given) the messages this node sealed in
 * that generation (an upper
 * bound: the sealing reserve's growth since the node first saw the
 * generation), and the node's breach records after the cursor aggregated
 * by (kind, ASR, sender, generation) into r->cevents as far as they fit
 * (r->through: the last record covered).  Through akm-pkcs11 only.
 * AKM_RC_OK, or a code with the sentence in err. */
int akm_node_report_build(akm_p11 *node, akm_proto_node_rec *r, char *err, size_t errlen);
/* After the station's DONE: the cursor moves to r->through, and each
 * membership's generation is remembered with the reserve at its start. */
int akm_node_report_done(akm_p11 *node, const akm_proto_node_rec *r, char *err, size_t errlen);

/* ---- operational ASRs (asr.c, docs/asr.md) ----
 * Through akm-pkcs11.so over the node's token (the module keeps the ASR's
 * keys, epochs, counter and windows).  The AKM_RC_* functions put their
 * sentence in err. */

/* A membership, as the node's key of the ASR shows it. */
typedef struct akm_node_asr {
	char name[AKM_ASR_LABEL_MAX + 1];
	CK_OBJECT_HANDLE key;
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len;
	CK_ULONG epoch, leaf, capacity, members;
	CK_AKM_ASR_POLICY policy;
} akm_node_asr;

/* 0 when the token is presented by akm-pkcs11, else -1 with why in err. */
int akm_node_asr_check_module(const akm_p11 *node, char *err, size_t errlen);
/* Every membership (*out malloc'd): 0 or -1 (node->err). */
int akm_node_asr_list(akm_p11 *node, akm_node_asr **out, size_t *count);
/* The membership by name (or, name NULL, by ASR ID): 1, 0 absent, -1 error. */
int akm_node_asr_find(akm_p11 *node, const char *name, const uint8_t *id, size_t id_len, akm_node_asr *a);
/* Whether the token holds the PR pr_id (its encryption key into *enc, if
 * not NULL): 1, 0, or -1 (node->err). */
int akm_node_holds_pr(akm_p11 *node, const uint8_t *pr_id, size_t pr_len, CK_OBJECT_HANDLE *enc);
/* A signed package (CKM_AKM_ASR_ENROLL with the PR it names and the pinned anchor). */
int akm_node_enroll(akm_p11 *node, const uint8_t *buf, size_t len, akm_node_asr *out, char *err, size_t errlen);
/* A signed rekey message (CKM_AKM_ASR_REKEY). */
int akm_node_rekey(akm_p11 *node, const uint8_t *buf, size_t len, akm_node_asr *out, char *err, size_t errlen);
/* Seals in[0..len) (at most AKM_ASR_PLAIN_MAX) into a malloc'd message. */
int akm_node_seal(akm_p11 *node, const akm_node_asr *a, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *out_len, char *err, size_t errlen);
/* Opens a message of one of the node's ASRs: its header, the membership
 * (looked up by the message's ASR ID, its epoch read after the opening),
 * and the malloc'd plaintext. */
int akm_node_open(akm_p11 *node, const uint8_t *msg, size_t len, akm_asr_message *hdr, akm_node_asr *a,
                  uint8_t **plain, size_t *plain_len, char *err, size_t errlen);
/* The same for a membership the caller holds (as akm_node_seal takes
 * it): no look-up, and a->epoch is not read again; a message of another
 * ASR is refused by the token (CKR_AKM_UNKNOWN_ASR). */
int akm_node_open_in(akm_p11 *node, const akm_node_asr *a, const uint8_t *msg, size_t len, akm_asr_message *hdr,
                     uint8_t **plain, size_t *plain_len, char *err, size_t errlen);
/* Moves the member to `epoch` (a later step of its generation). */
int akm_node_asr_step(akm_p11 *node, akm_node_asr *a, CK_ULONG epoch, char *err, size_t errlen);

#endif

/*
 * The operational ASR's formats ("AKMA", version 1; docs/asr.md §3): the
 * enrollment package (one member's path of the key tree, wrapped, signed by
 * the station), the rekey message (the changed edges of one generation,
 * signed by the station), the protected message (AES-256-GCM under a step
 * key, header authenticated), and a member's state record (kept sealed in
 * the node's registry).  Pure encoding and strict parsing on buf.h (fmt.h's
 * rules): no PKCS#11, no I/O, no key material in the clear (edges are
 * AES-KWP wrappings).
 */
#ifndef AKM_LIB_FMT_ASR_H
#define AKM_LIB_FMT_ASR_H

#include "lib/fmt.h"

#define AKM_ASR_MAGIC "AKMA"
enum { AKM_ASR_PACKAGE = 1, AKM_ASR_REKEY = 2, AKM_ASR_MESSAGE = 3, AKM_ASR_STATE = 4 };

#define AKM_ASR_DEPTH_MAX 17          /* capacity at most 2^17 leaves */
#define AKM_ASR_DEPTH_MIN 2           /* capacity at least 4 */
#define AKM_ASR_LABEL_MAX 64
#define AKM_ASR_EDGE_LEN 40           /* AES-KWP of a 32-byte key */
#define AKM_ASR_REMOVED_MAX 16        /* leaves one rekey message may name as removed */
#define AKM_ASR_EDGES_MAX (2 * AKM_ASR_DEPTH_MAX + 2)
#define AKM_ASR_PLAIN_MAX 65536       /* largest message plaintext */
#define AKM_ASR_TAG_LEN 16
#define AKM_ASR_NONCE_LEN 12          /* sender index u32 || sequence number u64 */
#define AKM_ASR_WINDOW 64             /* replay window per sender */
#define AKM_ASR_SENDERS_MAX 4096      /* senders a member's state remembers */
#define AKM_ASR_MSG_LIMIT_MAX (1UL << 20)
#define AKM_ASR_FAIL_LIMIT_DEFAULT (1UL << 14)
#define AKM_ASR_GRACE_MAX 86400

/* The policy as the formats carry it (CK_AKM_ASR_POLICY's values, with the
 * defaults already applied: every limit 1 .. 2^20). */
typedef struct akm_asr_policy {
	uint32_t period;       /* seconds per step, 0: none by time */
	uint32_t grace;        /* seconds, 0 .. 86400 */
	uint32_t msg_limit;    /* 1 .. 2^20 */
	uint32_t fail_limit;   /* 1 .. 2^20 */
	uint8_t join_rekeys;   /* 0 or 1 */
} akm_asr_policy;

#define AKM_ASR_POLICY_LEN 17         /* its encoding: 4 x u32, u8 */
/* Whether a policy keeps the rules above (the parsers' check). */
bool akm_asr_policy_ok(const akm_asr_policy *p);

/* What a package and a rekey message both say about the ASR. */
typedef struct akm_asr_head {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t asr_id[AKM_FMT_ID_MAX]; size_t asr_id_len;
	char label[AKM_ASR_LABEL_MAX + 1];      /* printable ASCII, NUL-terminated, may be empty */
	uint32_t gen;                           /* >= 1 */
	uint32_t step;                          /* the step the station counts now (a hint) */
	uint64_t gen_start;                     /* Unix seconds the generation began (step 0) */
	akm_asr_policy policy;
	uint8_t depth;                          /* AKM_ASR_DEPTH_MIN .. _MAX: capacity = 1 << depth */
	uint32_t members;                       /* member count, 1 .. capacity */
	uint8_t member_hash[AKM_FMT_HASH_LEN];  /* akm_asr_member_hash of the member set */
	uint64_t created;                       /* Unix seconds the station wrote it */
} akm_asr_head;

/* One edge: the key of tree node child/2 wrapped (AES-KWP) under the key of
 * tree node `child` (heap numbering: root 1, leaf i is capacity + i; a
 * leaf's key is its member's PR encryption key). */
typedef struct akm_asr_edge {
	uint32_t child;
	uint8_t wrapped[AKM_ASR_EDGE_LEN];
} akm_asr_edge;

/* The enrollment package (type 1): the member, its leaf, and the `depth`
 * edges of its path from its leaf up (edges[0].child = capacity + leaf,
 * edges[i].child = edges[i-1].child / 2, the last one's parent the root). */
typedef struct akm_asr_package {
	akm_asr_head head;
	uint8_t member_id[AKM_FMT_ID_MAX]; size_t member_id_len;   /* the member's AKM ID */
	uint8_t pr_id[AKM_FMT_ID_MAX]; size_t pr_id_len;           /* its PR, whose enc key opens edges[0] */
	uint32_t leaf;                                             /* < capacity */
	akm_asr_edge edges[AKM_ASR_DEPTH_MAX];                     /* exactly head.depth of them */
	uint8_t sig[AKM_FMT_SIG_LEN];
} akm_asr_package;

/* The rekey message (type 2): from generation from_gen to head.gen; the
 * leaves it removes; the new edges, children in descending order (so a
 * member meets its own path bottom-up), every child < 2 x capacity and
 * > 1, no child twice. */
typedef struct akm_asr_rekey {
	akm_asr_head head;
	uint32_t from_gen;                                         /* head.gen - 1 */
	uint8_t nremoved;
	uint32_t removed[AKM_ASR_REMOVED_MAX];                     /* leaf indexes, ascending */
	uint16_t nedges;                                           /* 1 .. AKM_ASR_EDGES_MAX */
	akm_asr_edge edges[AKM_ASR_EDGES_MAX];
	uint8_t sig[AKM_FMT_SIG_LEN];
} akm_asr_rekey;

/* The protected message (type 3).  Header = everything before the
 * ciphertext (its length included): the AEAD's authenticated data.  The
 * parser points into the caller's buffer. */
typedef struct akm_asr_message {
	uint8_t asr_id[AKM_FMT_ID_MAX]; size_t asr_id_len;
	uint32_t gen, step;
	uint32_t sender;           /* the sender's leaf index */
	uint64_t seq;              /* the sender's own sequence number, from 1 */
	const uint8_t *header;     /* the authenticated data */
	size_t header_len;
	const uint8_t *ct;         /* ciphertext || 16-byte tag */
	size_t ct_len;             /* plaintext length + 16 */
} akm_asr_message;

/* ---- package and rekey: the signed part, then the signature ---- */
/* Writes the signed part (everything but the signature) into buf. */
akm_fmt_rc akm_asr_package_encode(const akm_asr_package *p, uint8_t *buf, size_t cap, size_t *len);
/* Parses a whole package (signed part || 64-byte signature); *signed_len
 * is the signed part's length. */
akm_fmt_rc akm_asr_package_parse(const uint8_t *buf, size_t len, akm_asr_package *p, size_t *signed_len);
/* The largest package or rekey message (bytes, signature included). */
size_t akm_asr_package_max(void);
size_t akm_asr_rekey_max(void);
akm_fmt_rc akm_asr_rekey_encode(const akm_asr_rekey *r, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_asr_rekey_parse(const uint8_t *buf, size_t len, akm_asr_rekey *r, size_t *signed_len);

/* The member-set hash: SHA-256("AKM-ASR-1 members" || for each member in
 * ascending leaf order: u32 leaf || u8 len || AKM ID).  Incremental: init,
 * add members in ascending leaf order, final. */
typedef struct akm_asr_member_hash_ctx { uint8_t state[256]; } akm_asr_member_hash_ctx;
void akm_asr_member_hash_init(akm_asr_member_hash_ctx *c);
void akm_asr_member_hash_add(akm_asr_member_hash_ctx *c, uint32_t leaf, const uint8_t *id, size_t len);
void akm_asr_member_hash_final(akm_asr_member_hash_ctx *c, uint8_t out[AKM_FMT_HASH_LEN]);

/* SHA-256 of a package's or rekey message's signed part: what the
 * station's ECDSA signature signs (CKM_ECDSA over this digest). */
void akm_asr_digest(const uint8_t *p, size_t n, uint8_t out[AKM_FMT_HASH_LEN]);

/* ---- message ---- */
/* Header length for an ASR ID of id_len bytes (31 + id_len); a whole
 * message is that + plaintext + 16. */
size_t akm_asr_message_header_len(size_t id_len);
/* Writes the header (its ct_len field = plain_len + 16) into buf. */
akm_fmt_rc akm_asr_message_header(const akm_asr_message *m, size_t plain_len, uint8_t *buf, size_t cap,
                                  size_t *len);
/* The 12-byte nonce: sender u32 || seq u64. */
void akm_asr_nonce(uint32_t sender, uint64_t seq, uint8_t nonce[AKM_ASR_NONCE_LEN]);
akm_fmt_rc akm_asr_message_parse(const uint8_t *buf, size_t len, akm_asr_message *m);

/* The 32 bytes a step key is "encrypted" with (CKM_AES_ECB_ENCRYPT_DATA) to
 * give the next step's key: "AKM-ASR-1 next 1" || "AKM-ASR-1 next 2". */
extern const uint8_t akm_asr_ratchet_data[32];

/* ---- a member's state record (node registry, sealed there) ---- */
typedef struct akm_asr_sender {
	uint32_t leaf;
	uint64_t high;             /* highest sequence number opened */
	uint64_t bitmap;           /* bit i: high - i was opened */
} akm_asr_sender;

typedef struct akm_asr_state {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint32_t leaf;
	uint8_t depth;
	uint32_t members;
	uint8_t member_hash[AKM_FMT_HASH_LEN];
	akm_asr_policy policy;
	uint32_t gen, step;
	uint64_t gen_start;        /* Unix seconds */
	uint64_t step_since;       /* Unix seconds the member reached this step */
	uint64_t previous_until;   /* Unix seconds the previous step's key goes (0: none kept) */
	uint32_t sealed;           /* messages sealed under this step's key */
	uint32_t failed;           /* failed opens under this step's key */
	/* 0 (clean): every message opened is in the windows; else the mark
	 * of the process that may have opened messages since the record was
	 * written (docs/asr.md §5): a reader raises every window by
	 * AKM_ASR_WINDOW.  Version 2 of the record; a version-1 record (no
	 * such field) parses as clean. */
	uint64_t dirty;
	uint32_t nsenders;         /* <= AKM_ASR_SENDERS_MAX */
	akm_asr_sender *senders;   /* ascending leaf; the caller's array (encode) or malloc'd (parse) */
} akm_asr_state;

/* The record's version (the other formats are version 1): 2 adds `dirty`. */
#define AKM_ASR_STATE_VERSION 2
/* Encodes version 2. */
akm_fmt_rc akm_asr_state_encode(const akm_asr_state *s, uint8_t *buf, size_t cap, size_t *len);
size_t akm_asr_state_len(const akm_asr_state *s);
/* Parses version 2, or version 1 (dirty 0); s->senders is malloc'd (free
 * with akm_asr_state_clear). */
akm_fmt_rc akm_asr_state_parse(const uint8_t *buf, size_t len, akm_asr_state *s);
void akm_asr_state_clear(akm_asr_state *s);

/* The replay window: whether `seq` from sender `w` is new (true) and, with
 * `accept`, records it.  seq 0 is never new. */
bool akm_asr_window_check(akm_asr_sender *w, uint64_t seq, bool accept);

#endif

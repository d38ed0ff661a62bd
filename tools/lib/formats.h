/*
 * The station's and the node's file formats (docs/formats.md): the USB
 * bundle, the enrollment request, the station's public trust anchor and the
 * node's state record.  Pure encoding and strict parsing: no PKCS#11, no I/O,
 * no key material (the payload of a bundle is already wrapped or sealed).
 * Every parser accepts exactly what the matching encoder writes: fixed magic
 * and version, every length checked, no trailing bytes.  Parsers are fuzzed
 * (tests/fuzz/).  Multi-byte integers are big-endian.
 */
#ifndef AKM_FORMATS_H
#define AKM_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#define AKM_FMT_ID_MAX 32       /* station, node and relationship IDs */
#define AKM_FMT_HW_MAX 64       /* hardware value */
#define AKM_FMT_NAME_MAX 64     /* node name (printable ASCII, no spaces) */
#define AKM_FMT_POINT_LEN 65    /* uncompressed P-256 point 04||X||Y */
#define AKM_FMT_SIG_LEN 64      /* ECDSA P-256 r||s */
#define AKM_FMT_WRAPPED_MAX 48  /* AES-KWP of a 32-byte key is 40 bytes */
#define AKM_FMT_SALT_LEN 16
#define AKM_FMT_NONCE_LEN 24    /* XChaCha20-Poly1305 */
#define AKM_FMT_TAG_LEN 16
#define AKM_FMT_BUNDLE_MAX 1024 /* no valid bundle is larger */

/* Result codes of the parsers; akm_fmt_strerror names each in a sentence. */
typedef enum {
	AKM_FMT_OK = 0,
	AKM_FMT_TRUNCATED,      /* shorter than its fields say */
	AKM_FMT_TRAILING,       /* bytes after the last field */
	AKM_FMT_BAD_MAGIC,      /* not this kind of file */
	AKM_FMT_BAD_VERSION,    /* a version this program does not read */
	AKM_FMT_BAD_FIELD,      /* a field with a length or value out of range */
	AKM_FMT_TOO_BIG         /* over AKM_FMT_BUNDLE_MAX / output buffer too small */
} akm_fmt_rc;
const char *akm_fmt_strerror(akm_fmt_rc rc);

/* ---- USB bundle ("AKMB", version 1) ---- */
enum { AKM_BUNDLE_NODE_KEY = 1, AKM_BUNDLE_PASSPHRASE = 2 };

typedef struct akm_bundle {
	uint8_t protection;                          /* AKM_BUNDLE_* */
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t node_id[AKM_FMT_ID_MAX]; size_t node_id_len;   /* node AKM ID */
	uint8_t pr_id[AKM_FMT_ID_MAX]; size_t pr_id_len;       /* relationship ID */
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;             /* hardware binding */
	char name[AKM_FMT_NAME_MAX + 1];                       /* node name, NUL-terminated */
	uint64_t seq;                                          /* per-node, from 1 */
	uint64_t created;                                      /* Unix seconds */
	/* protection 1: ECDH P-256 with the node's key */
	uint8_t node_key_hash[32];           /* SHA-256 of the node's 65-byte point */
	uint8_t eph_point[AKM_FMT_POINT_LEN];/* the station's one-time public point */
	/* protection 2: passphrase */
	uint32_t opslimit;                   /* Argon2id passes */
	uint32_t memlimit_kib;               /* Argon2id memory in KiB */
	uint8_t salt[AKM_FMT_SALT_LEN];      /* shared by a batch */
	uint8_t nonce[AKM_FMT_NONCE_LEN];
	/* payload: protection 1: the two AES-KWP blobs in the clear (they are
	 * wrapped); protection 2: XChaCha20-Poly1305 ciphertext of
	 * u8 len || enc_wrapped || u8 len || mac_wrapped, tag included. */
	uint8_t enc_wrapped[AKM_FMT_WRAPPED_MAX]; size_t enc_wrapped_len;
	uint8_t mac_wrapped[AKM_FMT_WRAPPED_MAX]; size_t mac_wrapped_len;
	uint8_t sealed[2 + 2 * AKM_FMT_WRAPPED_MAX + AKM_FMT_TAG_LEN]; size_t sealed_len;
	uint8_t sig[AKM_FMT_SIG_LEN];        /* station ECDSA over SHA-256(signed part) */
} akm_bundle;

/* Writes everything up to the signature (the signed part) into buf; *len
 * gets its length.  The caller signs SHA-256 of it, fills b->sig, then calls
 * akm_bundle_finish to append the signature. */
akm_fmt_rc akm_bundle_encode_signed(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_bundle_finish(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
/* Parses a whole bundle; *signed_len is the length of the signed part
 * (the signature covers buf[0 .. signed_len)).  The authenticated data of the
 * passphrase payload is the signed part up to (not including) the payload's
 * length field: akm_bundle_ad_len gives its length. */
akm_fmt_rc akm_bundle_parse(const uint8_t *buf, size_t len, akm_bundle *b, size_t *signed_len);
size_t akm_bundle_ad_len(const akm_bundle *b);
/* The inner plaintext of protection 2 (u8 len || enc || u8 len || mac). */
akm_fmt_rc akm_bundle_inner_encode(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_bundle_inner_parse(const uint8_t *buf, size_t len, akm_bundle *b);
/* The file name a bundle is exported under: "<name>.akmb". */

/* ---- Enrollment request ("AKMR", version 1): a node asking to be provisioned ---- */
typedef struct akm_request {
	char name[AKM_FMT_NAME_MAX + 1];
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;
	uint8_t node_point[AKM_FMT_POINT_LEN];   /* the node's identity public key */
	uint8_t nonce[16];
	uint64_t created;
	uint8_t sig[AKM_FMT_SIG_LEN];            /* by the node's identity key */
} akm_request;
akm_fmt_rc akm_request_encode_signed(const akm_request *r, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_request_finish(const akm_request *r, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_request_parse(const uint8_t *buf, size_t len, akm_request *r, size_t *signed_len);

/* ---- Station trust anchor ("AKMP", version 1): station ID and its public
 * signing key.  Its fingerprint is SHA-256 of the whole file. ---- */
typedef struct akm_anchor {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t point[AKM_FMT_POINT_LEN];
} akm_anchor;
akm_fmt_rc akm_anchor_encode(const akm_anchor *a, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_anchor_parse(const uint8_t *buf, size_t len, akm_anchor *a);

/* ---- Node state ("AKMN", version 1): what a node has accepted; kept in the
 * node's token as the CKA_VALUE of a data object. ---- */
typedef struct akm_node_state {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t node_id[AKM_FMT_ID_MAX]; size_t node_id_len;
	uint8_t pr_id[AKM_FMT_ID_MAX]; size_t pr_id_len;
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;
	char name[AKM_FMT_NAME_MAX + 1];
	uint64_t seq;                 /* last bundle accepted */
	uint64_t imported;            /* Unix seconds */
	uint8_t bundle_hash[32];      /* SHA-256 of that bundle file */
} akm_node_state;
akm_fmt_rc akm_node_state_encode(const akm_node_state *s, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_node_state_parse(const uint8_t *buf, size_t len, akm_node_state *s);

#include "lib/hex.h"

#endif

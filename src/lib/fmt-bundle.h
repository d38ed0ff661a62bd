/*
 * The USB bundle ("AKMB", version 1; docs/formats.md §5): one node's
 * provisioning relationship, its two keys wrapped (protection 1, to the
 * node's key) or sealed (protection 2, under a passphrase), signed by the
 * station.
 */
#ifndef AKM_LIB_FMT_BUNDLE_H
#define AKM_LIB_FMT_BUNDLE_H

#include "lib/fmt.h"

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
	uint8_t node_key_hash[AKM_FMT_HASH_LEN]; /* SHA-256 of the node's 65-byte point */
	uint8_t eph_point[AKM_FMT_POINT_LEN];    /* the station's one-time public point */
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
 * akm_bundle_finish to write the whole bundle. */
akm_fmt_rc akm_bundle_encode_signed(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_bundle_finish(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
/* Parses a whole bundle; *signed_len is the length of the signed part
 * (the signature covers buf[0 .. signed_len)).  The authenticated data of the
 * passphrase payload is the signed part up to (not including) the payload's
 * length field: akm_bundle_ad_len gives its length (0 for a bundle that
 * does not encode). */
akm_fmt_rc akm_bundle_parse(const uint8_t *buf, size_t len, akm_bundle *b, size_t *signed_len);
size_t akm_bundle_ad_len(const akm_bundle *b);
/* The inner plaintext of protection 2 (u8 len || enc || u8 len || mac). */
akm_fmt_rc akm_bundle_inner_encode(const akm_bundle *b, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_bundle_inner_parse(const uint8_t *buf, size_t len, akm_bundle *b);

#endif

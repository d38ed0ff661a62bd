/*
 * Moving a provisioning relationship's two keys from the station's token to
 * a node's token, wrapped all the way (docs/formats.md, "USB bundle"):
 *
 *   station: akm_transfer_seal  — bumps CKA_AKM_SEQUENCE, wraps the PR's
 *            encryption and MAC keys with CKM_AKM_EXPORT_WRAP under a transport
 *            key (ECDH with the node's public key, or a passphrase-derived
 *            key), fills and signs an akm_bundle, returns its bytes;
 *   node:    akm_transfer_open  — checks the bundle against the node (its
 *            station anchor, hardware value, node key, sequence), unwraps the
 *            keys into the node's token and records the new node state.
 *
 * The station side runs against akm-pkcs11.so; the node side against any
 * PKCS#11 token.  The plaintext keys never appear in host memory.
 */
#ifndef AKM_TRANSFER_H
#define AKM_TRANSFER_H

#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/hex.h"
#include "p11.h"
#include "secret.h"

/* What the station knows to make one bundle. */
typedef struct akm_seal_args {
	CK_OBJECT_HANDLE enc_key, mac_key;   /* the PR's keys in the station token */
	CK_OBJECT_HANDLE station_priv;       /* the station's signing key */
	const uint8_t *station_id; size_t station_id_len;
	uint8_t protection;                  /* AKM_BUNDLE_NODE_KEY or _PASSPHRASE */
	const uint8_t *node_point;           /* protection 1: the node's 65-byte point */
	const akm_secret *master;            /* protection 2: akm_pass_master result */
	const uint8_t *salt;                 /* protection 2: the batch salt */
	uint32_t opslimit, memlimit_kib;     /* protection 2: recorded in the bundle */
} akm_seal_args;

/* Makes one bundle for the relationship of args->enc_key (its IDs, hardware
 * binding, name and next sequence number are read from the key's CKA_AKM_*
 * attributes).  buf must hold AKM_FMT_BUNDLE_MAX.  Returns 0 or -1 with a
 * sentence in err. */
int akm_transfer_seal(akm_p11 *station, const akm_seal_args *args, uint8_t *buf, size_t *len,
                      char *err, size_t errlen);

/* Node-side objects (docs/formats.md, "Node token"):
 *   identity key pair  label "akm-node identity", CKA_ID "akm-node"
 *   station anchor     CKO_PUBLIC_KEY, label "akm-station", CKA_ID = station ID
 *   PR keys            CKA_ID = PR ID || purpose byte, label "<name>/enc", "/mac"
 *   state              CKO_DATA, CKA_APPLICATION "akm-node", label "akm-node state",
 *                      CKA_VALUE an akm_node_state record */
#define AKM_NODE_IDENTITY_LABEL "akm-node identity"
#define AKM_NODE_IDENTITY_ID "akm-node"
#define AKM_NODE_ANCHOR_LABEL "akm-station"
#define AKM_NODE_STATE_LABEL "akm-node state"
#define AKM_NODE_APPLICATION "akm-node"

/* Refusal reasons of akm_transfer_open, each with a sentence in err. */
typedef enum {
	AKM_OPEN_OK = 0,
	AKM_OPEN_MALFORMED,     /* not a bundle / damaged / truncated */
	AKM_OPEN_UNTRUSTED,     /* no anchor, other station, or bad signature */
	AKM_OPEN_WRONG_NODE,    /* for another node (hardware value, node key or name) */
	AKM_OPEN_REPLAY,        /* sequence not newer than the last accepted */
	AKM_OPEN_BAD_PASSPHRASE,/* passphrase does not open it */
	AKM_OPEN_TOKEN_ERROR    /* the token failed */
} akm_open_rc;

typedef struct akm_open_args {
	const char *hw;                  /* the node's hardware value (text) */
	const akm_secret *passphrase;    /* for protection 2, else NULL */
	const uint8_t *file_hash;        /* SHA-256 of the bundle file (recorded) */
} akm_open_args;

/* Checks and imports one bundle into the node token `node` (logged in).
 * Nothing is changed unless every check passes.  On success *state is the
 * node's new state. */
akm_open_rc akm_transfer_open(akm_p11 *node, const uint8_t *buf, size_t len,
                              const akm_open_args *args, akm_node_state *state,
                              char *err, size_t errlen);

/* Node token helpers shared by akm-node and akm-nmm (write-se, verify). */
/* The identity key pair, generated on first use when `create`.  Returns 0,
 * 1 when there is none and !create, -1 on error (p->err says why). */
int akm_node_identity(akm_p11 *node, bool create, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv,
                      uint8_t point[65]);
/* Pins the station anchor: 0 pinned (or the same one already was), -1
 * refused (a different one is pinned), -2 token failure; err says why. */
int akm_node_trust(akm_p11 *node, const akm_anchor *anchor, char *err, size_t errlen);
/* Reads the node state; returns 1 when there is none yet, 0 when read, -1 on error. */
int akm_node_state_read(akm_p11 *node, akm_node_state *state, CK_OBJECT_HANDLE *obj);
/* The proof of possession a verifier asks for: HMAC-SHA256 with the node's
 * PR MAC key over "AKM-VERIFY-1" || u8 len || node_id || u8 len || pr_id ||
 * 32-byte challenge (CKM_SHA256_HMAC, C_Sign in the node token). */
int akm_node_prove(akm_p11 *node, const akm_node_state *state, const uint8_t challenge[32],
                   uint8_t mac[32]);

#endif

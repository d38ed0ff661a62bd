/*
 * akm-pkcs11: the public contract for applications (docs/object-model.md).
 *
 * AKM security relationships (ASRs, also called ATRs) are token objects of
 * akm-pkcs11.so.  A relationship is an ID, a kind, a set of members and a
 * credential set; each credential is a CKO_SECRET_KEY object carrying the
 * CKA_AKM_* attributes below, usable with standard mechanisms, never
 * extractable in plaintext.  Relationships are created with C_GenerateKey and
 * CKM_AKM_RELATIONSHIP_GEN.
 *
 * Every value here lives in the vendor range, under one prefix, 0x8A4B4D00:
 * "A" as a hex digit, then the letters "KM" (0x4B 0x4D).  It stays clear of
 * other vendors' usual choices (CK*_VENDOR_DEFINED + small numbers, or
 * four-letter prefixes such as NSS's 0xCE534350), and of bit 30, which
 * PKCS#11 reserves for attribute arrays (CKF_ARRAY_ATTRIBUTE).
 */
#ifndef AKM_PKCS11_AKM_H
#define AKM_PKCS11_AKM_H

/* Uses the PKCS#11 header already included (any that defines
 * CRYPTOKI_VERSION_MAJOR, such as OASIS's pkcs11.h), else p11-kit's. */
#ifndef CRYPTOKI_VERSION_MAJOR
#include <p11-kit/pkcs11.h>
#endif

/* CK_INFO.manufacturerID, CK_SLOT_INFO.manufacturerID,
 * CK_TOKEN_INFO.manufacturerID and CK_TOKEN_INFO.model of the module (blank
 * padded in those fields, as PKCS#11 has it). */
#define AKM_PKCS11_MANUFACTURER "akm-pkcs11"

/* The environment variable naming the module's configuration file
 * (docs/configuration.md). */
#define AKM_PKCS11_CONF_ENV "AKM_PKCS11_CONF"

#define AKM_VENDOR_PREFIX 0x0A4B4D00UL

/* ---- attributes -------------------------------------------------------- */

#define CKA_AKM_BASE (CKA_VENDOR_DEFINED | AKM_VENDOR_PREFIX) /* 0x8A4B4D00 */

/* Byte array, 1–32 bytes: the relationship's ID.  Generated (16 random
 * bytes) when the creating template does not give one.  Unique. */
#define CKA_AKM_RELATIONSHIP_ID (CKA_AKM_BASE + 0x01)
/* CK_ULONG, CKV_AKM_KIND_*: provisioning (NMM–node) or operational (nodes). */
#define CKA_AKM_KIND (CKA_AKM_BASE + 0x02)
/* CK_ULONG: the credential epoch, 0 at creation. */
#define CKA_AKM_EPOCH (CKA_AKM_BASE + 0x03)
/* CK_ULONG, CKV_AKM_STATE_*. */
#define CKA_AKM_STATE (CKA_AKM_BASE + 0x04)
/* Byte array, 1–32 bytes: the AKM ID of the station (NMM) that made it. */
#define CKA_AKM_STATION_ID (CKA_AKM_BASE + 0x05)
/* Byte array, 1–32 bytes: the node's AKM ID (provisioning relationships). */
#define CKA_AKM_PEER_NODE (CKA_AKM_BASE + 0x06)
/* Byte array: the member nodes of an operational relationship, each as one
 * length byte (1–32) followed by that many bytes of AKM ID; 2–1024 members,
 * no duplicates. */
#define CKA_AKM_MEMBERS (CKA_AKM_BASE + 0x07)
/* Byte array, 1–64 bytes: the node's unique hardware value the relationship
 * is bound to (e.g. a secure element serial or a TPM EK hash). */
#define CKA_AKM_HW_BINDING (CKA_AKM_BASE + 0x08)
/* CK_ULONG, CKV_AKM_PURPOSE_*: what this credential of the set is for. */
#define CKA_AKM_KEY_PURPOSE (CKA_AKM_BASE + 0x09)
/* CK_ULONG: seconds since 1970-01-01 UTC of creation and of the last change. */
#define CKA_AKM_CREATED (CKA_AKM_BASE + 0x0A)
#define CKA_AKM_CHANGED (CKA_AKM_BASE + 0x0B)

/* CKA_AKM_KIND values. */
/* Station-side provisioning state of a relationship (docs/object-model.md,
 * "Provisioning").  CKA_AKM_STATUS is how far the credential has got:
 * CKV_AKM_STATUS_*; C_SetAttributeValue may only move it forward, and each
 * change is an audit record.  Revocation is CKA_AKM_STATE. */
#define CKA_AKM_STATUS (CKA_AKM_BASE + 0x0C)
/* CK_ULONG: the relationship's export sequence number, 0 when never
 * exported.  C_SetAttributeValue accepts only the current value plus one, so
 * every bundle gets a fresh, increasing number (anti-rollback on the node). */
#define CKA_AKM_SEQUENCE (CKA_AKM_BASE + 0x0D)
/* Byte string, up to 256 bytes of UTF-8: the site / location metadata the
 * station recorded when it created the relationship.  Read-only. */
#define CKA_AKM_SITE (CKA_AKM_BASE + 0x0E)
/* Byte string: the node's public key as a raw uncompressed P-256 point
 * (65 bytes, 0x04 || X || Y), or empty.  Given at creation or set once while
 * empty; read-only once set. */
#define CKA_AKM_NODE_KEY (CKA_AKM_BASE + 0x0F)

/* Audit records (class CKO_AKM_AUDIT_RECORD): read-only token objects, one
 * per record of the hash-chained trail, found in sequence order. */
#define CKA_AKM_AUDIT_SEQ (CKA_AKM_BASE + 0x10)    /* CK_ULONG, from 1 */
#define CKA_AKM_AUDIT_TIME (CKA_AKM_BASE + 0x11)   /* CK_ULONG, Unix seconds */
#define CKA_AKM_AUDIT_ACTOR (CKA_AKM_BASE + 0x12)  /* string: user, so, public, module, app */
#define CKA_AKM_AUDIT_ACTION (CKA_AKM_BASE + 0x13) /* string */
#define CKA_AKM_AUDIT_RESULT (CKA_AKM_BASE + 0x14) /* CK_ULONG: a CK_RV */
#define CKA_AKM_AUDIT_DETAIL (CKA_AKM_BASE + 0x15) /* string, may be empty */
#define CKA_AKM_AUDIT_PREV (CKA_AKM_BASE + 0x16)   /* 32 bytes: previous record's hash */
#define CKA_AKM_AUDIT_HASH (CKA_AKM_BASE + 0x17)   /* 32 bytes: this record's hash */
/* 40 bytes: the chain head the token itself keeps, u64 big-endian sequence
 * number then its 32-byte hash; an audit verifier checks the chain reaches
 * it (docs/formats.md).  Readable on every audit record. */
#define CKA_AKM_AUDIT_TOKEN_HEAD (CKA_AKM_BASE + 0x18)

/* CK_ULONG, CKV_AKM_DELIVERY_*: how a provisioning relationship's keys may
 * leave the token, fixed when it is created (CKR_ATTRIBUTE_READ_ONLY
 * afterwards).  Given only in the creating template of a provisioning
 * relationship (an operational one has no such attribute); the default is
 * CKV_AKM_DELIVERY_NODE_KEY.  CKM_AKM_EXPORT_WRAP exports it only in the
 * matching mode. */
#define CKA_AKM_DELIVERY (CKA_AKM_BASE + 0x19)
/* CK_ULONG, provisioning relationships only (an operational relationship's
 * key has no such attribute: CKR_ATTRIBUTE_TYPE_INVALID): the activation
 * service's replay counter for the node, the issue time (milliseconds since
 * 1970-01-01 UTC) of the last handshake cookie the station accepted for this
 * relationship (docs/protocol.md, message 3 step 5).  0 at creation, and not
 * given there (CKR_ATTRIBUTE_READ_ONLY).  C_SetAttributeValue on either key
 * accepts only a value strictly higher than the stored one; an equal or lower
 * one is CKR_ATTRIBUTE_VALUE_INVALID and changes nothing.  The comparison and
 * the write are one registry transaction, so of several processes raising it
 * to the same value exactly one succeeds: a message accepted once is never
 * accepted again, also across processes and restarts.  It may be set in one
 * template with CKA_AKM_STATUS (both change, or neither).  Each raise is an
 * audit record ("set-checkin"); it does not move CKA_AKM_CHANGED. */
#define CKA_AKM_CHECKIN (CKA_AKM_BASE + 0x1A)

#define CKV_AKM_KIND_PROVISIONING 1UL
#define CKV_AKM_KIND_OPERATIONAL 2UL

/* CKA_AKM_STATE values.  Changes allowed by C_SetAttributeValue:
 * pending -> active | revoked; active -> suspended | revoked;
 * suspended -> active | revoked; revoked is final.  Keys of a suspended or
 * revoked relationship refuse every operation (CKR_KEY_FUNCTION_NOT_PERMITTED). */
#define CKV_AKM_STATE_PENDING 1UL
#define CKV_AKM_STATE_ACTIVE 2UL
#define CKV_AKM_STATE_SUSPENDED 3UL
#define CKV_AKM_STATE_REVOKED 4UL

/* CKA_AKM_KEY_PURPOSE values.  The encryption key is an AES-256 key for
 * CKM_AES_GCM and CKM_AES_KEY_WRAP_PAD; the MAC key a 256-bit
 * CKK_GENERIC_SECRET for CKM_SHA256_HMAC.  Their CKA_ID is the relationship
 * ID followed by one byte, the purpose value; their CKA_LABEL the
 * relationship's label followed by "/enc" or "/mac". */
#define CKV_AKM_PURPOSE_ENCRYPT 1UL
#define CKV_AKM_PURPOSE_MAC 2UL

/* CKA_AKM_DELIVERY values.  NODE_KEY: the keys leave only wrapped to the
 * node's own P-256 key recorded in CKA_AKM_NODE_KEY (ECDH inside the token);
 * the safe default.  PASSPHRASE: the keys may also leave wrapped under a key
 * the caller derived from a bundle passphrase — for nodes without a key
 * pair; it must be asked for at creation. */
#define CKV_AKM_DELIVERY_NODE_KEY 1UL
#define CKV_AKM_DELIVERY_PASSPHRASE 2UL

/* ---- mechanisms -------------------------------------------------------- */

/* CKA_AKM_STATUS values, in the order a credential reaches them. */
#define CKV_AKM_STATUS_CREATED 1UL
#define CKV_AKM_STATUS_EXPORTED 2UL
#define CKV_AKM_STATUS_IMPORTED 3UL
#define CKV_AKM_STATUS_ACTIVATED 4UL
#define CKV_AKM_STATUS_VERIFIED 5UL

/* The audit record object class.  C_CreateObject with this class appends an
 * application record: CKA_AKM_AUDIT_ACTION required (1-32 characters of
 * a-z, 0-9, '-' and '.'), CKA_AKM_RELATIONSHIP_ID, CKA_AKM_AUDIT_DETAIL (up to
 * 512 bytes, no secrets) and CKA_AKM_AUDIT_RESULT optional, CKA_TOKEN may be
 * given as CK_TRUE; its actor is "app".  Records are never modified or
 * destroyed (CKR_ACTION_PROHIBITED). */
#define CKO_AKM_AUDIT_RECORD (CKO_VENDOR_DEFINED | AKM_VENDOR_PREFIX | 0x01) /* 0x8A4B4D01 */

#define CKM_AKM_BASE (CKM_VENDOR_DEFINED | AKM_VENDOR_PREFIX) /* 0x8A4B4D00 */

/* C_GenerateKey: creates a relationship and its credential set in the
 * token, in one transaction, and returns the handle of its encryption key.
 * No parameter.  The template takes CKA_AKM_KIND (required),
 * CKA_AKM_RELATIONSHIP_ID, CKA_AKM_STATION_ID, CKA_AKM_STATE (pending or
 * active; default active), CKA_LABEL, and per kind: provisioning requires
 * CKA_AKM_PEER_NODE and CKA_AKM_HW_BINDING; operational requires
 * CKA_AKM_MEMBERS.  CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE may be given as
 * CK_TRUE, CKA_EXTRACTABLE as CK_FALSE, CKA_CLASS as CKO_SECRET_KEY;
 * anything else is refused (see docs/object-model.md for the codes). */
#define CKM_AKM_RELATIONSHIP_GEN (CKM_AKM_BASE + 0x01)

/* C_GenerateKey: creates many relationships in one transaction — all of
 * them or, on any refusal, none — which is how a station provisions a batch
 * quickly.  The parameter is a CK_AKM_BATCH_GEN_PARAMS; C_GenerateKey's own
 * template must be empty (NULL, 0), and *phKey receives the first
 * relationship's encryption key.  Each template follows the rules of
 * CKM_AKM_RELATIONSHIP_GEN; IDs must differ. */
#define CKM_AKM_RELATIONSHIP_BATCH_GEN (CKM_AKM_BASE + 0x02)
#define AKM_BATCH_MAX 10000UL

/* C_WrapKey mechanism that exports the credential set of an active
 * provisioning relationship for delivery to its node, in one call: both keys
 * (hKey names either of them), each wrapped with AES key wrap with padding
 * (RFC 5649) under a transport key the module makes and destroys inside the
 * backend token, so that no plaintext key ever reaches the host.  The
 * parameter is a CK_AKM_EXPORT_WRAP_PARAMS; hWrappingKey must be
 * CK_INVALID_HANDLE (any other handle: CKR_WRAPPING_KEY_HANDLE_INVALID; the
 * caller never chooses the wrapping key).  The output is the encryption key's
 * wrapping followed by the MAC key's, 40 + 40 = 80 bytes; pWrappedKey NULL
 * asks for that length and does nothing else (no key pair, no audit record),
 * as does CKR_BUFFER_TOO_SMALL.  The mode must be the relationship's
 * CKA_AKM_DELIVERY; a pending, suspended or revoked relationship, another
 * mode, or node-key mode without a recorded node key give
 * CKR_KEY_FUNCTION_NOT_PERMITTED (audited "export-refused"); operational
 * relationships CKR_KEY_NOT_WRAPPABLE.  Every export is an audit record
 * ("export", detail "node-key" or "passphrase"); docs/object-model.md §4b. */
#define CKM_AKM_EXPORT_WRAP (CKM_AKM_BASE + 0x03)

/* CK_AKM_EXPORT_WRAP_PARAMS.ulMode. */
/* The transport key is the x-coordinate (32 bytes, an AES-256 key) of
 * CKM_ECDH1_DERIVE (CKD_NULL, no shared data) between a fresh P-256 key pair
 * the module generates in the backend token and the relationship's own
 * CKA_AKM_NODE_KEY; the ephemeral public point is returned in pPublicData,
 * and both ephemeral keys and the transport key are destroyed before the
 * call returns.  The node derives the same key in its token with its private
 * key and that point (docs/formats.md §5.2). */
#define CKV_AKM_EXPORT_NODE_KEY 1UL
/* The transport key is the 32 bytes in pKey, which the caller derived from
 * the bundle passphrase (docs/formats.md §9: the kwp_key subkey).  Only for
 * relationships created with CKA_AKM_DELIVERY = CKV_AKM_DELIVERY_PASSPHRASE. */
#define CKV_AKM_EXPORT_PASSPHRASE 2UL

#define AKM_EXPORT_POINT_LEN 65UL   /* an uncompressed P-256 point, 04 || X || Y */
#define AKM_EXPORT_KEY_LEN 32UL     /* the passphrase mode's key-wrap key */
#define AKM_EXPORT_WRAPPED_LEN 80UL /* the output: enc key's then MAC key's RFC 5649 wrapping */

/* The parameter of CKM_AKM_EXPORT_WRAP (ulParameterLen = its size).  A
 * field that the mode does not use must be NULL / 0; anything else is
 * CKR_MECHANISM_PARAM_INVALID. */
typedef struct CK_AKM_EXPORT_WRAP_PARAMS {
	CK_ULONG ulMode;           /* CKV_AKM_EXPORT_NODE_KEY or CKV_AKM_EXPORT_PASSPHRASE */
	CK_BYTE_PTR pKey;          /* passphrase mode: the 32-byte key-wrap key; node-key mode: NULL */
	CK_ULONG ulKeyLen;         /* 32 (passphrase mode) or 0 */
	CK_BYTE_PTR pPublicData;   /* node-key mode, out: the ephemeral public point (65 bytes,
	                            * written on success only); passphrase mode: NULL */
	CK_ULONG ulPublicDataLen;  /* node-key mode: in, the room at pPublicData (at least 65);
	                            * out, 65 on success.  Passphrase mode: 0 */
} CK_AKM_EXPORT_WRAP_PARAMS;

typedef struct CK_AKM_BATCH_GEN_PARAMS {
	CK_ULONG ulCount;                  /* 1 .. AKM_BATCH_MAX relationships */
	CK_ATTRIBUTE_PTR *ppTemplates;     /* ulCount creating templates */
	CK_ULONG_PTR pulTemplateCounts;    /* their attribute counts */
	CK_OBJECT_HANDLE_PTR phKeys;       /* out: ulCount encryption-key handles */
} CK_AKM_BATCH_GEN_PARAMS;

#endif

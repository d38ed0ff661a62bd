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


/* ---- operational ASRs with a key tree (docs/asr.md) -------------------- */

/* CK_ULONG: an ASR's leaf capacity, a power of two (4 .. 2^17): the key
 * tree's leaves.  Station and member.  Read-only. */
#define CKA_AKM_ASR_CAPACITY (CKA_AKM_BASE + 0x1B)
/* CK_ULONG: how many members the ASR has now.  Read-only. */
#define CKA_AKM_ASR_MEMBER_COUNT (CKA_AKM_BASE + 0x1C)
/* CK_AKM_ASR_POLICY (the structure below): the ASR's refresh and limit
 * policy.  Read-only. */
#define CKA_AKM_ASR_POLICY (CKA_AKM_BASE + 0x1D)
/* CK_ULONG, a member's key only: this member's leaf index (0 ..
 * capacity-1), also its sender index in every message it seals.
 * Read-only. */
#define CKA_AKM_MEMBER_INDEX (CKA_AKM_BASE + 0x1E)
/* For an ASR key CKA_AKM_EPOCH is generation << 32 | step: the generation
 * is the station's (1 at creation, +1 at every rekey, removal, and join
 * that rekeys), the step the members' own one-way refreshes within it.  On
 * a member's key C_SetAttributeValue(CKA_AKM_EPOCH) to a higher step of the
 * same generation moves the member there (a one-way derivation inside the
 * token); anything else is CKR_ATTRIBUTE_VALUE_INVALID. */

/* The policy of an ASR, fixed at creation (CKM_AKM_ASR_GEN), carried in
 * every package and rekey message. */
typedef struct CK_AKM_ASR_POLICY {
	CK_ULONG ulPeriod;       /* seconds per step (autonomous refresh by time); 0: none by time */
	CK_ULONG ulGrace;        /* seconds the previous step's key stays after a step (0 .. 86400) */
	CK_ULONG ulMessageLimit; /* messages a member seals under one step's key before it steps
	                          * (1 .. 2^20; 0 means 2^20) */
	CK_ULONG ulFailureLimit; /* failed opens under one step's key before the member steps
	                          * (1 .. 2^20; 0 means 2^14) */
	CK_ULONG ulCapacity;     /* leaves: a power of two >= the members, 4 .. 2^17; 0: the
	                          * smallest one >= 2 x the members */
	CK_BBOOL bJoinRekeys;    /* whether adding a member makes a new generation */
} CK_AKM_ASR_POLICY;

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
/* A member's key of its ASR's previous step, kept for the grace period
 * (CKA_ID = ASR ID || 0x04); usable only by CKM_AKM_ASR_OPEN. */
#define CKV_AKM_PURPOSE_PREVIOUS 4UL

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

/* ---- operational ASRs (docs/asr.md) ------------------------------------ */

/* Station, C_GenerateKey: creates an operational ASR among members that
 * each have one active provisioning relationship in this token (found by
 * CKA_AKM_PEER_NODE), with its key tree: member i at leaf i, every
 * interior key generated in the backend and kept wrapped under the KEK, and
 * the wrapped key of every tree edge (a parent's key under its child's,
 * the leaves' keys being the members' PR encryption keys) computed inside
 * the backend.  The parameter is a CK_AKM_ASR_GEN_PARAMS.  The template
 * takes CKA_AKM_KIND (CKV_AKM_KIND_OPERATIONAL), CKA_AKM_RELATIONSHIP_ID,
 * CKA_AKM_STATION_ID, CKA_LABEL and the usual CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE (true), CKA_EXTRACTABLE (false), CKA_CLASS.  *phKey gets
 * the ASR's key (its group key, generation 1 step 0), which refuses every
 * use but the mechanisms below.  Audited "asr-create". */
#define CKM_AKM_ASR_GEN (CKM_AKM_BASE + 0x04)
/* Station, C_WrapKey: one member's enrollment package, without its
 * signature (docs/asr.md §3.2: the caller appends the station's ECDSA
 * signature over its SHA-256).  hKey is the ASR's key, hWrappingKey
 * CK_INVALID_HANDLE, the parameter a CK_AKM_ASR_MEMBER_PARAMS naming the
 * member.  Reads only; wraps nothing new (the edges were made when the
 * keys were). */
#define CKM_AKM_ASR_PACKAGE (CKM_AKM_BASE + 0x05)
/* Station, C_DeriveKey: changes an ASR, in one transaction: hBaseKey is
 * the ASR's key, the template empty, the parameter a
 * CK_AKM_ASR_UPDATE_PARAMS.  ADD puts a member (with an active PR) at the
 * first free leaf; REMOVE frees its leaf and gives every key on its path a
 * fresh one; REKEY gives the group a fresh key.  REMOVE, REKEY and (with
 * bJoinRekeys) ADD make a new generation.  *phKey gets the ASR's key (the
 * same object, its CKA_AKM_EPOCH moved).  Audited "asr-add", "asr-remove",
 * "asr-rekey". */
#define CKM_AKM_ASR_UPDATE (CKM_AKM_BASE + 0x06)
/* Station, C_WrapKey: the rekey message of the ASR's current generation,
 * without its signature (docs/asr.md §3.3): hKey the ASR's key,
 * hWrappingKey CK_INVALID_HANDLE, no parameter.  CKR_KEY_FUNCTION_NOT_PERMITTED
 * at generation 1 or after an ADD that did not rekey (no message). */
#define CKM_AKM_ASR_REKEY_MESSAGE (CKM_AKM_BASE + 0x07)
/* Member, C_UnwrapKey: enrolls the node in an ASR from a signed package:
 * hUnwrappingKey is the node's PR encryption key (the pass-through backend
 * object whose CKA_ID is the package's PR ID followed by 0x01),
 * pWrappedKey the whole package, the parameter a CK_AKM_ASR_ENROLL_PARAMS,
 * the template empty.  *phKey gets the node's key of the ASR.  Refusals
 * change nothing and are audited ("asr-refused"). */
#define CKM_AKM_ASR_ENROLL (CKM_AKM_BASE + 0x08)
/* Member, C_UnwrapKey: applies a signed rekey message: hUnwrappingKey is
 * the node's key of the ASR, pWrappedKey the message, the parameter a
 * CK_AKM_ASR_ENROLL_PARAMS.  A member the message removes forgets the ASR
 * (every key of it destroyed) and gets CKR_AKM_REMOVED. */
#define CKM_AKM_ASR_REKEY (CKM_AKM_BASE + 0x09)
/* Member, C_EncryptInit / C_Encrypt (single part only): seals a message
 * with the node's key of an ASR (docs/asr.md §3.4): AES-256-GCM under the
 * current step's key, the nonce the sender index and the sender's own
 * sequence number, the header authenticated.  No parameter.  The output is
 * the whole message, 31 + ID length + plaintext length + 16 bytes. */
#define CKM_AKM_ASR_SEAL (CKM_AKM_BASE + 0x0A)
/* Member, C_DecryptInit / C_Decrypt (single part only): opens a message
 * sealed by another member, checking its ASR, generation, step, sender and
 * replay window.  No parameter. */
#define CKM_AKM_ASR_OPEN (CKM_AKM_BASE + 0x0B)

typedef struct CK_AKM_ASR_GEN_PARAMS {
	CK_AKM_ASR_POLICY policy;
	CK_ULONG ulMemberCount;      /* 2 .. the capacity */
	CK_BYTE_PTR *ppMembers;      /* the members' AKM IDs, 1-32 bytes each, no duplicates */
	CK_ULONG_PTR pulMemberLens;
} CK_AKM_ASR_GEN_PARAMS;

typedef struct CK_AKM_ASR_MEMBER_PARAMS {
	CK_BYTE_PTR pMember;         /* the member's AKM ID */
	CK_ULONG ulMemberLen;
} CK_AKM_ASR_MEMBER_PARAMS;

#define CKV_AKM_ASR_ADD 1UL
#define CKV_AKM_ASR_REMOVE 2UL
#define CKV_AKM_ASR_REKEY 3UL

typedef struct CK_AKM_ASR_UPDATE_PARAMS {
	CK_ULONG ulOperation;        /* CKV_AKM_ASR_ADD, _REMOVE or _REKEY */
	CK_BYTE_PTR pMember;         /* ADD, REMOVE: the member's AKM ID; REKEY: NULL */
	CK_ULONG ulMemberLen;
} CK_AKM_ASR_UPDATE_PARAMS;

typedef struct CK_AKM_ASR_ENROLL_PARAMS {
	CK_OBJECT_HANDLE hAnchor;    /* the station's public key (CKO_PUBLIC_KEY, P-256), whose
	                              * CKA_ID is the station ID the package names */
} CK_AKM_ASR_ENROLL_PARAMS;

/* Return values of the ASR mechanisms (vendor-defined; each refusal is
 * also an audit record naming it). */
#define CKR_AKM_BASE (CKR_VENDOR_DEFINED | AKM_VENDOR_PREFIX) /* 0x8A4B4D00 */
#define CKR_AKM_OTHER_MEMBER (CKR_AKM_BASE + 0x01)  /* a package or message for another member or PR */
#define CKR_AKM_OLD_EPOCH (CKR_AKM_BASE + 0x02)     /* a generation not newer than the held one, or a
                                                     * message of a step whose key is destroyed */
#define CKR_AKM_UNKNOWN_EPOCH (CKR_AKM_BASE + 0x03) /* a generation this member does not hold yet
                                                     * (a rekey message or package is missing) */
#define CKR_AKM_REPLAY (CKR_AKM_BASE + 0x04)        /* a message already opened, or too old for the window */
#define CKR_AKM_UNKNOWN_ASR (CKR_AKM_BASE + 0x05)   /* a message for an ASR this key is not */
#define CKR_AKM_REMOVED (CKR_AKM_BASE + 0x06)       /* the rekey message removes this member */
#define CKR_AKM_NOT_MEMBER (CKR_AKM_BASE + 0x07)    /* a sender index that is no member's (out of range, or ours) */

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

/*
 * The backend PKCS#11 module (SoftHSM2 by default, any HSM by
 * configuration) and the only code that holds its function list:
 *
 *   loader.c   loading, C_Initialize/C_Finalize, fork (never unloaded:
 *              unloading a module that registered exit handlers is a
 *              classic crash);
 *   forward.c  the calls the module passes through, on the application's
 *              backend sessions;
 *   quirks.c   where a backend's answers are smoothed: NULL input for zero
 *              bytes, the code of a forged AEAD tag, operations that linger
 *              after an error;
 *   service.c  the module's own backend session on a token: random bytes,
 *              the data objects of the rollback counter;
 *   kek.c      the key-encryption key and every use of it: making a
 *              relationship key and wrapping it, unwrapping one for use
 *              or for export;
 *   export.c   a relationship's keys wrapped for its node under a transport
 *              key the module makes in the token (ECDH with the node's
 *              key, or from a passphrase-derived key).
 *
 * Tests that need the backend to fail configure a fault-injecting wrapper
 * module as the backend (tests/support/): it plugs in here, through the
 * same loader, and nothing above this layer can tell.
 */
#ifndef AKM_BACKEND_H
#define AKM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

/* The operations a session can have active (PKCS#11 v2.40 §5.8–5.13), as
 * bits. */
enum akm_op {
	AKM_OP_FIND = 1u << 0,
	AKM_OP_ENCRYPT = 1u << 1,
	AKM_OP_DECRYPT = 1u << 2,
	AKM_OP_DIGEST = 1u << 3,
	AKM_OP_SIGN = 1u << 4,
	AKM_OP_VERIFY = 1u << 5,
	AKM_OP_SIGN_RECOVER = 1u << 6,
	AKM_OP_VERIFY_RECOVER = 1u << 7,
};

typedef struct akm_backend akm_backend;

/* ---- life cycle (loader.c) ----------------------------------------------- */

/* Loads `path` (or reuses it when loaded before) and initialises it.
 * On failure writes a sentence into err. */
CK_RV akm_backend_open(akm_backend **out, const char *path, char *err, size_t errlen);
/* Calls the backend's C_Finalize when we initialised it; frees b. */
void akm_backend_close(akm_backend *b);
/* True when another user in this process had initialised the backend: it
 * stays up for them, and only our own sessions are ours to close. */
bool akm_backend_shared(const akm_backend *b);
/* Forgets the backend after fork(): the parent's initialisation is not ours
 * to finalise or reuse; the next akm_backend_open finalises the copy the
 * child inherited and initialises afresh.  Frees b (memory only). */
void akm_backend_forget_after_fork(akm_backend *b);

/* ---- pass-through calls (forward.c): the backend's own answers ---------- */

/* The backend's slots with a token, in its order; *ids is malloc'd. */
CK_RV akm_backend_slots(akm_backend *b, CK_SLOT_ID **ids, CK_ULONG *n);
CK_RV akm_backend_slot_info(akm_backend *b, CK_SLOT_ID slot, CK_SLOT_INFO *info);
CK_RV akm_backend_token_info(akm_backend *b, CK_SLOT_ID slot, CK_TOKEN_INFO *info);
CK_RV akm_backend_mechanism_list(akm_backend *b, CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count);
CK_RV akm_backend_mechanism_info(akm_backend *b, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                 CK_MECHANISM_INFO *info);
CK_RV akm_backend_init_token(akm_backend *b, CK_SLOT_ID slot, CK_UTF8CHAR *pin, CK_ULONG pin_len,
                             CK_UTF8CHAR *label);
CK_RV akm_backend_wait_for_slot_event(akm_backend *b, CK_FLAGS flags, CK_SLOT_ID *slot);

/* The application's backend sessions, opened without its callback (the
 * backend's session handle is not the one the application knows). */
CK_RV akm_backend_open_session(akm_backend *b, CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE *out);
CK_RV akm_backend_close_session(akm_backend *b, CK_SESSION_HANDLE s);
CK_RV akm_backend_session_info(akm_backend *b, CK_SESSION_HANDLE s, CK_SESSION_INFO *info);
CK_RV akm_backend_get_operation_state(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *state, CK_ULONG *len);
CK_RV akm_backend_set_operation_state(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *state, CK_ULONG len,
                                      CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key);
CK_RV akm_backend_login(akm_backend *b, CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR *pin,
                        CK_ULONG pin_len);
CK_RV akm_backend_logout(akm_backend *b, CK_SESSION_HANDLE s);
CK_RV akm_backend_init_pin(akm_backend *b, CK_SESSION_HANDLE s, CK_UTF8CHAR *pin, CK_ULONG len);
CK_RV akm_backend_set_pin(akm_backend *b, CK_SESSION_HANDLE s, CK_UTF8CHAR *old_pin, CK_ULONG old_len,
                          CK_UTF8CHAR *new_pin, CK_ULONG new_len);

CK_RV akm_backend_create_object(akm_backend *b, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                CK_OBJECT_HANDLE *out);
CK_RV akm_backend_copy_object(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                              CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_backend_destroy_object(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h);
CK_RV akm_backend_object_size(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ULONG *size);
CK_RV akm_backend_get_attributes(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count);
CK_RV akm_backend_set_attributes(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count);
CK_RV akm_backend_find_init(akm_backend *b, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV akm_backend_find(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
CK_RV akm_backend_find_final(akm_backend *b, CK_SESSION_HANDLE s);

/* Cryptographic operations, by the function of CK_FUNCTION_LIST they call:
 * `fn` is AKM_BACKEND_FN(C_EncryptInit), AKM_BACKEND_FN(C_Encrypt), ...
 * Input pointers may be NULL for zero bytes (quirks.c). */
#define AKM_BACKEND_FN(name) offsetof(CK_FUNCTION_LIST, name)
/* C_EncryptInit, C_DecryptInit, C_DigestInit (key 0), C_SignInit, ... */
CK_RV akm_backend_op_init(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key);
/* C_Encrypt, C_EncryptUpdate, C_Decrypt..., C_Digest, C_Sign, C_SignRecover,
 * C_VerifyRecover and the dual-function updates: input, then output. */
CK_RV akm_backend_op_inout(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *in, CK_ULONG in_len,
                           CK_BYTE *out, CK_ULONG *out_len);
/* C_DigestUpdate, C_SignUpdate, C_VerifyUpdate, C_VerifyFinal: input only. */
CK_RV akm_backend_op_in(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *in, CK_ULONG in_len);
/* C_EncryptFinal, C_DecryptFinal, C_DigestFinal, C_SignFinal: output only. */
CK_RV akm_backend_op_out(akm_backend *b, size_t fn, CK_SESSION_HANDLE s, CK_BYTE *out, CK_ULONG *out_len);
CK_RV akm_backend_verify(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *data, CK_ULONG data_len, CK_BYTE *sig,
                         CK_ULONG sig_len);
CK_RV akm_backend_digest_key(akm_backend *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key);

CK_RV akm_backend_generate_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl,
                               CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_backend_generate_key_pair(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *pub_tmpl,
                                    CK_ULONG pub_count, CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
                                    CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
CK_RV akm_backend_wrap_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                           CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len);
CK_RV akm_backend_unwrap_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping,
                             CK_BYTE *wrapped, CK_ULONG wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             CK_OBJECT_HANDLE *out);
CK_RV akm_backend_derive_key(akm_backend *b, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE base,
                             CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
CK_RV akm_backend_seed_random(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *seed, CK_ULONG len);
CK_RV akm_backend_generate_random(akm_backend *b, CK_SESSION_HANDLE s, CK_BYTE *out, CK_ULONG len);

/* ---- quirks (quirks.c) ---------------------------------------------------- */

/* A decryption whose tag does not verify (AES-GCM/CCM) or whose padding is
 * wrong (*_CBC_PAD) is CKR_ENCRYPTED_DATA_INVALID (PKCS#11 v2.40
 * mechanisms); SoftHSM2 says CKR_GENERAL_ERROR, which would hide a forgery. */
CK_RV akm_backend_decrypt_result(CK_MECHANISM_TYPE m, CK_RV rv);
/* Ends, in the backend session, the operations `ops` (enum akm_op bits)
 * that we already ended but the backend may still consider active (ended
 * by an error, or arguments we refused before calling it). */
void akm_backend_end_operations(akm_backend *b, CK_SESSION_HANDLE s, unsigned ops);

/* ---- the module's own backend session (service.c, kek.c) ----------------- */

typedef struct akm_backend_service akm_backend_service;

/* A R/W session of the module's own on the token in `slot`; it shares the
 * application's login state, as every session of one application does. */
CK_RV akm_backend_service_open(akm_backend *b, CK_SLOT_ID slot, akm_backend_service **out);
/* Closes the session (its session objects go with it) and frees s. */
void akm_backend_service_close(akm_backend_service *s);
/* After the application's logout (or before, while the token's private
 * objects are still in reach): forgets the KEK, destroys only the session
 * copy made of it, and logs the token out. */
void akm_backend_service_logout(akm_backend_service *s);

/* Whether a backend answer means the session itself is gone. */
bool akm_backend_session_lost(CK_RV rv);
/* Opens the session again when it was closed behind the module's back (its
 * objects went with it); CKR_OK when it is usable. */
CK_RV akm_backend_service_revive(akm_backend_service *s);

CK_RV akm_backend_random(akm_backend_service *s, uint8_t *out, size_t len);
CK_RV akm_backend_destroy(akm_backend_service *s, CK_OBJECT_HANDLE h);
/* Private token data objects with CKA_APPLICATION `application`: up to
 * `max` of them. */
CK_RV akm_backend_data_find(akm_backend_service *s, const char *application, CK_OBJECT_HANDLE *out, size_t max,
                            size_t *n);
/* A new private, modifiable token data object with that application and
 * CKA_LABEL `label`. */
CK_RV akm_backend_data_create(akm_backend_service *s, const char *application, const char *label, size_t len,
                              CK_OBJECT_HANDLE *out);
/* CKA_LABEL of an object, exactly `len` bytes long (else CKR_DEVICE_ERROR). */
CK_RV akm_backend_label_read(akm_backend_service *s, CK_OBJECT_HANDLE h, char *label, size_t len);
CK_RV akm_backend_label_write(akm_backend_service *s, CK_OBJECT_HANDLE h, const char *label, size_t len);

/* The key-encryption key: a non-extractable AES-256 token object labelled
 * AKM_BACKEND_KEK_LABEL that only wraps and unwraps. */
#define AKM_BACKEND_KEK_LABEL "akm-pkcs11 KEK"
/* Finds the token's KEK: *found tells whether there is one. */
CK_RV akm_backend_kek_find(akm_backend_service *s, bool *found);
CK_RV akm_backend_kek_create(akm_backend_service *s);
/* Wrapping and unwrapping with a session copy of the KEK (inside the
 * backend, like the KEK itself) spares a soft token from re-reading its
 * token object on every use; a backend that does not copy keeps using the
 * token KEK. */
void akm_backend_kek_session_copy(akm_backend_service *s);
/* Whether h is the KEK or its copy (hidden from applications' searches). */
bool akm_backend_kek_is(const akm_backend_service *s, CK_OBJECT_HANDLE h);

/* The registry's MAC key: a non-extractable HMAC key (generic secret,
 * sign only) in the token, labelled AKM_BACKEND_MAC_LABEL (seal.c).  The
 * keys that authenticate the registry's rows are derived from it at login:
 * HMAC-SHA-256 over a purpose string, computed inside the token. */
#define AKM_BACKEND_MAC_LABEL "akm-pkcs11 registry MAC key"
CK_RV akm_backend_mac_find(akm_backend_service *s, bool *found);
CK_RV akm_backend_mac_create(akm_backend_service *s);
/* HMAC-SHA-256(MAC key, purpose) into out. */
CK_RV akm_backend_mac_derive(akm_backend_service *s, const char *purpose, uint8_t out[32]);
/* Whether h is the MAC key (hidden from applications' searches). */
bool akm_backend_mac_is(const akm_backend_service *s, CK_OBJECT_HANDLE h);

/* What a relationship key does: a cipher key (AES: encrypt, decrypt, wrap,
 * unwrap) or a MAC key (generic secret: sign, verify). */
typedef enum akm_backend_key_kind {
	AKM_BACKEND_KEY_CIPHER,
	AKM_BACKEND_KEY_MAC,
} akm_backend_key_kind;

#define AKM_BACKEND_KEY_BYTES 32
/* Generates a 32-byte key in the backend and wraps it under the KEK
 * (CKM_AES_KEY_WRAP_PAD) into wrapped (*wrapped_len: capacity in, length
 * out).  With `keep` the backend copy is made non-extractable and returned
 * in *kept; otherwise it is destroyed at once and *kept is 0. */
CK_RV akm_backend_key_generate(akm_backend_service *s, akm_backend_key_kind kind, bool keep, uint8_t *wrapped,
                               size_t *wrapped_len, CK_OBJECT_HANDLE *kept);
/* A non-extractable session object of the key wrapped in `wrapped`. */
CK_RV akm_backend_key_unwrap(akm_backend_service *s, akm_backend_key_kind kind, const uint8_t *wrapped,
                             size_t wrapped_len, CK_OBJECT_HANDLE *out);

/* ==== ASR key trees (kek.c) ==============================================
 *
 * The station's key tree of an operational ASR (docs/asr.md §2): each
 * interior node's key is generated in the backend and kept wrapped under
 * the KEK; each edge is the parent's key wrapped (CKM_AES_KEY_WRAP_PAD)
 * under the child's, computed here from session objects that exist only
 * for the operation (the caller destroys them with akm_backend_destroy).
 * A leaf's key is its member's PR encryption key (akm_backend_key_unwrap,
 * AKM_BACKEND_KEY_CIPHER: it wraps).  No key is ever in the host's memory. */

/* A fresh node key: a session object that wraps and may be wrapped (under
 * the KEK here, under its children's keys by akm_backend_edge_wrap), and
 * its KEK blob in wrapped (*wrapped_len: capacity in, length out). */
CK_RV akm_backend_node_generate(akm_backend_service *s, uint8_t *wrapped, size_t *wrapped_len, CK_OBJECT_HANDLE *out);
/* The node key of a KEK blob, as such a session object. */
CK_RV akm_backend_node_unwrap(akm_backend_service *s, const uint8_t *wrapped, size_t wrapped_len,
                              CK_OBJECT_HANDLE *out);
/* The edge: `parent` (a node key) wrapped under `child` (a node key or a
 * leaf's PR key) into out (*len: capacity in, length out: 40). */
CK_RV akm_backend_edge_wrap(akm_backend_service *s, CK_OBJECT_HANDLE child, CK_OBJECT_HANDLE parent, uint8_t *out,
                            size_t *len);

/* ==== Export: a relationship's keys to its node (export.c) ================
 *
 * CKM_AKM_EXPORT_WRAP's work in the backend.  The transport key is made
 * inside the token by the module itself -- ECDH with the node's recorded
 * key, or from the passphrase-derived key it is given -- never a key of the
 * caller's, and it is destroyed, with every other object the export made,
 * before the call returns.  Each key travels as an extractable short-lived
 * copy unwrapped under the KEK, wrapped once under the transport key
 * (CKM_AES_KEY_WRAP_PAD) and destroyed at once: the values never leave the
 * backend in plaintext. */

/* One relationship key as the registry holds it. */
typedef struct akm_backend_blob {
	akm_backend_key_kind kind;
	const uint8_t *wrapped;
	size_t wrapped_len;
} akm_backend_blob;

#define AKM_BACKEND_POINT_LEN 65 /* an uncompressed P-256 point */

/* How the transport key is made. */
typedef struct akm_backend_transport {
	/* Node key: CKM_ECDH1_DERIVE (CKD_NULL) between a fresh P-256 key pair
	 * and node_point; the AES-256 transport key is the shared secret's
	 * x-coordinate; eph_point receives the pair's public point. */
	const uint8_t *node_point;            /* AKM_BACKEND_POINT_LEN bytes, or NULL */
	uint8_t eph_point[AKM_BACKEND_POINT_LEN];
	/* Passphrase: an AES-256 key object of these 32 bytes. */
	const uint8_t *key;                   /* AKM_BACKEND_KEY_BYTES bytes, or NULL */
} akm_backend_transport;

/* Where an export failed. */
typedef enum akm_backend_export_step {
	AKM_BACKEND_EXPORT_DONE,      /* it did not */
	AKM_BACKEND_EXPORT_TRANSPORT, /* making the transport key (key pair, point, ECDH, or the key object) */
	AKM_BACKEND_EXPORT_UNWRAP,    /* a blob under the KEK */
	AKM_BACKEND_EXPORT_WRAP,      /* a key under the transport key */
} akm_backend_export_step;

/* The n blobs, each wrapped under one transport key made as `t` says, one
 * after another into out (*out_len: the room in, the length out).  On a
 * failure *step says where, and the result is the backend's answer there.
 * Nothing the export made is left in the backend, whatever the result. */
CK_RV akm_backend_export(akm_backend_service *s, akm_backend_transport *t, const akm_backend_blob *keys, size_t n,
                         CK_BYTE *out, CK_ULONG *out_len, akm_backend_export_step *step);

/* ==== Operational ASRs, a member's side (asr.c; docs/asr.md §5) ==========
 *
 * Path keys (the member's interior nodes of the key tree) are kept wrapped
 * under the KEK like relationship keys.  Step keys must derive the next
 * step (CKM_AES_ECB_ENCRYPT_DATA), which the KEK's unwrap template forbids
 * (CKA_DERIVE false, fixed): they are kept wrapped under a second key, the
 * ratchet KEK (AKM_BACKEND_RATCHET_KEK_LABEL), whose unwrap template gives
 * a session object that is sensitive, not copyable, not modifiable, not a
 * token object, and only encrypts, decrypts and derives (no wrap, no
 * unwrap, no sign).  docs/asr.md §5 and docs/threat-model.md say why. */
#define AKM_BACKEND_RATCHET_KEK_LABEL "akm-pkcs11 ASR ratchet KEK"
/* Finds or (`create`) makes the ratchet KEK. */
CK_RV akm_backend_ratchet_kek(akm_backend_service *s, bool create);
bool akm_backend_ratchet_kek_is(const akm_backend_service *s, CK_OBJECT_HANDLE h);
/* An edge (AES-KWP, 40 bytes) unwrapped under the key `under` (the PR's
 * encryption key or a path key) into an extractable AES-256 session key:
 * a path key (unwrap only) or, with `step`, the root as step 0's key
 * (encrypt, decrypt, derive).  The caller stores it (akm_backend_asr_keep)
 * or destroys it. */
CK_RV akm_backend_asr_edge(akm_backend_service *s, CK_OBJECT_HANDLE under, const uint8_t *edge, size_t len,
                           bool step, CK_OBJECT_HANDLE *out);
/* Wraps an extractable key from akm_backend_asr_edge or _ratchet under the
 * KEK (a path key) or the ratchet KEK (`step`), then makes it
 * non-extractable.  *wrapped_len: room in, length out. */
CK_RV akm_backend_asr_keep(akm_backend_service *s, CK_OBJECT_HANDLE h, bool step, uint8_t *wrapped,
                           size_t *wrapped_len);
/* A stored step key unwrapped (ratchet KEK) for use: not extractable. */
CK_RV akm_backend_asr_step_unwrap(akm_backend_service *s, const uint8_t *wrapped, size_t len, CK_OBJECT_HANDLE *out);
/* The next step's key: CKM_AES_ECB_ENCRYPT_DATA of `h` over `data` (32
 * bytes), an AES-256 session key that encrypts, decrypts and derives;
 * extractable only with `keep` (to be stored, akm_backend_asr_keep). */
CK_RV akm_backend_asr_ratchet(akm_backend_service *s, CK_OBJECT_HANDLE h, const uint8_t data[32], bool keep,
                              CK_OBJECT_HANDLE *out);
/* AES-256-GCM, 12-byte nonce, 16-byte tag, in the module's own session:
 * seal (in -> out || tag) or open (in || tag -> out;
 * CKR_ENCRYPTED_DATA_INVALID for a tag that does not verify). */
CK_RV akm_backend_asr_gcm(akm_backend_service *s, CK_OBJECT_HANDLE h, bool seal, const uint8_t nonce[12],
                          const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t *out_len);
/* ECDSA (CKM_ECDSA) with the public key `anchor` over a 32-byte digest,
 * signature r || s: CKR_OK or CKR_SIGNATURE_INVALID. */
CK_RV akm_backend_asr_verify(akm_backend_service *s, CK_OBJECT_HANDLE anchor, const uint8_t digest[32],
                             const uint8_t sig[64]);
/* CKA_ID of an object (up to *len bytes; *len gets its length). */
CK_RV akm_backend_object_id(akm_backend_service *s, CK_OBJECT_HANDLE h, uint8_t *id, size_t *len);
/* Whether object h is of class `cls` (and, for keys, type `type`; 0: any). */
bool akm_backend_object_is(akm_backend_service *s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, CK_KEY_TYPE type);
/* The token's secret key with CKA_ID `id` (the PR's encryption key):
 * CKR_KEY_HANDLE_INVALID when there is not exactly one. */
CK_RV akm_backend_key_by_id(akm_backend_service *s, const uint8_t *id, size_t len, CK_OBJECT_HANDLE *out);

/* Whether the token's KEK has an unwrap template (a KEK made before there
 * was one has none, and no backend lets it be added afterwards). */
bool akm_backend_kek_has_unwrap_template(akm_backend_service *s);

#endif

/*
 * The tools' one PKCS#11 loader and a small client on top of it.  Every
 * program in tools/ loads its modules here: akm-nmm and akm-node (the
 * station token through akm-pkcs11.so, a node's token directly), akm-mkrel
 * and the benchmarks (akm-pkcs11.so and SoftHSM2, each in its own
 * measuring process).  All state is in the akm_p11 a caller owns, so any
 * number of modules can be loaded at once.  Tokens are found by PKCS#11
 * URI (RFC 7512, matched by p11-kit) or by label, never by slot number.
 *
 * Calls go straight through the module's function list (p->f): the loader
 * adds nothing to an operation, which is what the benchmarks measure.
 *
 * Every failure leaves one sentence in p->err naming the call and the
 * CK_RV (akm_rv_name), and the CK_RV in p->rv (CKR_OK when the failure was
 * not a call's, e.g. a module that does not load).
 */
#ifndef AKM_TOOLS_P11_H
#define AKM_TOOLS_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

typedef struct akm_p11 {
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_TOKEN_INFO token;
	bool initialized, logged_in;
	CK_RV rv;
	char err[512];
} akm_p11;

/* ---- loading, step by step (the benchmarks time each step) ---- */

/* dlopen and C_GetFunctionList.  p is reset first. */
int akm_p11_load(akm_p11 *p, const char *module);
/* C_Initialize with CKF_OS_LOCKING_OK.  A module already initialised in
 * this process (one that also serves as another module's backend) is
 * shared, and its C_Finalize left to whoever initialised it. */
int akm_p11_initialize(akm_p11 *p);
/* Picks the slot of `token`: a PKCS#11 URI ("pkcs11:token=...;serial=..."),
 * a plain label, or NULL for the only initialised token.  Exactly one
 * token must match; none is CKR_TOKEN_NOT_PRESENT in p->rv.  When none or
 * several match, p->err lists the tokens there are ("no token matches X;
 * the module has: "a" (serial 1), "b" (serial 2)"). */
int akm_p11_select(akm_p11 *p, const char *token);
/* The tokens present in the module (C_GetSlotList(CK_TRUE)), their slots
 * and CK_TOKEN_INFO, malloc'd (the caller frees both).  0 or -1. */
int akm_p11_tokens(akm_p11 *p, CK_SLOT_ID **slots, CK_TOKEN_INFO **infos, size_t *n);
/* A blank-padded CK_TOKEN_INFO text field, escaped (akm_escape) and
 * without its padding, into out (AKM_ESCAPED(size) bytes). */
const char *akm_p11_text(const CK_UTF8CHAR *field, size_t size, char *out, size_t cap);
/* What a PKCS#11 URI given as a token says besides the token (RFC 7512
 * query attributes): module-path into module (empty when absent) and
 * pin-source into pin_file (a path; a "file:" URI becomes its path;
 * empty when absent).  Not a URI: both empty.  0, or -1 with a sentence
 * in err (a URI that does not parse, a pin-source that is not a file). */
int akm_p11_uri_extras(const char *token, char *module, size_t module_cap, char *pin_file, size_t pin_cap,
                       char *err, size_t errlen);
/* What a tool opens: the module (--module, else the token URI's
 * module-path, else $env_module), the token (--token, else $env_token) and
 * the PIN file (--pin-file, else the token URI's pin-source, else NULL: the
 * caller's variable or prompt).  --module and a module-path that differ,
 * or --pin-file and a pin-source, are refused: 0, or -1 with a sentence
 * in err (a usage error). */
typedef struct akm_p11_target {
	const char *module, *token, *pin_file;
	char module_buf[4096], pin_buf[4096];
} akm_p11_target;
int akm_p11_resolve(akm_p11_target *t, const char *opt_module, const char *opt_token, const char *opt_pin,
                   const char *env_module, const char *env_token, char *err, size_t errlen);
/* A R/W session on the selected slot. */
int akm_p11_open_session(akm_p11 *p);
/* All four.  Returns 0 or -1 (p is safe to close either way). */
int akm_p11_open(akm_p11 *p, const char *module, const char *token);
/* C_Login as CKU_USER unless already logged in (CKR_USER_ALREADY_LOGGED_IN
 * is success). */
int akm_p11_login(akm_p11 *p, const char *pin, size_t pin_len);
/* Closes the session, C_Finalize when initialised here, and dlclose when
 * `unload` (a program about to exit leaves a module loaded: some keep
 * threads or exit handlers).  0, or -1 with the first call that failed. */
int akm_p11_end(akm_p11 *p, bool unload);
/* The module finalised and initialised again in place (still loaded): the
 * session closed, C_Finalize, C_Initialize, `token` selected, a new session
 * and, when it was logged in, C_Login with `pin`.  A module that keeps what
 * a long run accumulated until C_Finalize (SoftHSM2 2.6.1 keeps destroyed
 * session objects) gives it back.  0, or -1 with the call that failed. */
int akm_p11_reinit(akm_p11 *p, const char *token, const char *pin, size_t pin_len);
/* akm_p11_end(p, true), for the station and node tools. */
void akm_p11_close(akm_p11 *p);
/* The token's hardware value: its serial number (CK_TOKEN_INFO.serialNumber,
 * space padding removed). */
void akm_p11_serial(const akm_p11 *p, char out[17]);

/* Records a failure: "<call>: <CKR_NAME>" (or "<call> (<context>): ...")
 * into p->err, rv into p->rv; returns -1 for `return akm_p11_fail(...)`. */
int akm_p11_fail(akm_p11 *p, const char *call, CK_RV rv, const char *context);
/* A failure that is not a call's: `text` into p->err; returns -1. */
int akm_p11_fail_text(akm_p11 *p, const char *text);

/* ---- objects ---- */

/* Finds up to `max` objects matching tmpl; *n gets how many.  Returns 0/-1. */
int akm_p11_find(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                 size_t max, size_t *n);
/* Every object matching tmpl, into a malloc'd array. */
int akm_p11_find_all(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE **out,
                     size_t *n);
/* Reads one attribute of variable length into a malloc'd buffer. */
int akm_p11_get_bytes(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                      uint8_t **val, size_t *len);
int akm_p11_get_ulong(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *val);
/* HMAC-SHA-256 (CKM_SHA256_HMAC, C_Sign) with a secret key of the token. */
int akm_p11_hmac(akm_p11 *p, CK_OBJECT_HANDLE key, const void *msg, size_t len, uint8_t out[32]);
/* A relationship's name from one of its keys' CKA_LABEL (len bytes, not
 * NUL-terminated): the label without the purpose suffix "/enc" or "/mac"
 * the module gives each key, cut to cap - 1 bytes, NUL-terminated. */
void akm_p11_key_name(const char *label, size_t len, char *out, size_t cap);
/* C_DestroyObject of *h unless it is CK_INVALID_HANDLE; *h becomes that. */
void akm_p11_destroy(akm_p11 *p, CK_OBJECT_HANDLE *h);

/* ---- EC P-256 and transport keys (p11-ec.c) ----
 * CKA_EC_POINT values are DER OCTET STRINGs on most tokens and raw on some:
 * akm_p11_ec_point reads either into the raw 65-byte point.
 * akm_p11_p256_params is the DER OID of prime256v1 (CKA_EC_PARAMS). */
extern const uint8_t akm_p11_p256_params[10];
int akm_p11_ec_point(akm_p11 *p, CK_OBJECT_HANDLE pub, uint8_t point[65]);
/* Generates a P-256 pair: token objects with `label` and `id` when `token`,
 * else session objects; the private key non-extractable and sensitive, with
 * CKA_DERIVE and CKA_SIGN. */
int akm_p11_ec_generate(akm_p11 *p, bool token, const char *label, const uint8_t *id, size_t id_len,
                        CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
/* The CKA_EC_POINT value PKCS#11 v2.40 asks for: the point as a DER OCTET
 * STRING (04 41 || point). */
void akm_p11_ec_point_der(const uint8_t point[65], uint8_t der[67]);
/* ECDSA (CKM_ECDSA) over the 32-byte digest: signature r||s (64 bytes). */
int akm_p11_sign_digest(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t digest[32], uint8_t sig[64]);
/* Verifies r||s over digest with a raw public point (a session public-key
 * object is created and destroyed).  Returns 0 valid, 1 invalid, -1 error. */
int akm_p11_verify_digest(akm_p11 *p, const uint8_t point[65], const uint8_t digest[32],
                          const uint8_t sig[64]);
/* ECDH (CKM_ECDH1_DERIVE, CKD_NULL) with the peer's raw point: a session AES
 * key of 32 bytes with CKA_WRAP and CKA_UNWRAP (the transport key). */
int akm_p11_ecdh_aes(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], CK_OBJECT_HANDLE *key);
/* ECDH (CKM_ECDH1_DERIVE, CKD_NULL) read out: the 32-byte x-coordinate
 * into z, through a session secret key made for it and destroyed at once
 * (the activation protocol's Z, docs/protocol.md).  0, 1 when the token
 * refuses the peer point (p->rv says how), -1 on another failure. */
int akm_p11_ecdh_secret(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], uint8_t z[32]);
/* A session AES-256 key with CKA_WRAP/CKA_UNWRAP from 32 bytes of value
 * (a passphrase-derived key). */
int akm_p11_aes_from_value(akm_p11 *p, const uint8_t value[32], CK_OBJECT_HANDLE *key);

#endif

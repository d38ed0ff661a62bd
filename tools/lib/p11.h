/*
 * A small PKCS#11 client for the tools: loads a module (dlopen), finds a
 * token by PKCS#11 URI or label (never by slot number), opens a session and
 * logs in with a PIN held in locked memory.  Works with any PKCS#11 module:
 * akm-pkcs11.so for the station, any token (a secure element, SoftHSM2) for a
 * node.  Errors become one sentence in p->err naming the call and the CK_RV
 * (akm_rv_name).
 */
#ifndef AKM_P11_H
#define AKM_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>
#include "secret.h"

typedef struct akm_p11 {
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_TOKEN_INFO token;
	bool initialized, logged_in;
	char err[512];
} akm_p11;

/* Loads `module`, C_Initialize (CKF_OS_LOCKING_OK), finds the token:
 * `token` is a PKCS#11 URI ("pkcs11:token=...;serial=...") or a plain label;
 * NULL picks the only token present (error when several).  Opens a R/W
 * session.  Returns 0 or -1 (p->err says why; p is safe to close). */
int akm_p11_open(akm_p11 *p, const char *module, const char *token);
/* C_Login as CKU_USER unless already logged in (CKR_USER_ALREADY_LOGGED_IN
 * is success). */
int akm_p11_login(akm_p11 *p, const akm_secret *pin);
/* Closes the session, C_Finalize, dlclose. */
void akm_p11_close(akm_p11 *p);
/* The token's hardware value: its serial number (CK_TOKEN_INFO.serialNumber,
 * space padding removed). */
void akm_p11_serial(const akm_p11 *p, char out[17]);

/* Records a failure: "<call>: <CKR_NAME>" (plus context) into p->err;
 * returns -1 for `return akm_p11_fail(...)`. */
int akm_p11_fail(akm_p11 *p, const char *call, CK_RV rv, const char *context);

/* Finds up to `max` objects matching tmpl; *n gets how many.  Returns 0/-1. */
int akm_p11_find(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                 size_t max, size_t *n);
/* Reads one attribute of variable length into a malloc'd buffer. */
int akm_p11_get_bytes(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                      uint8_t **val, size_t *len);
int akm_p11_get_ulong(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *val);

/* EC P-256 helpers.  CKA_EC_POINT values are DER OCTET STRINGs on most
 * tokens and raw on some: akm_p11_ec_point reads either into the raw 65-byte
 * point.  akm_p11_p256_params is the DER OID of prime256v1 (CKA_EC_PARAMS). */
extern const uint8_t akm_p11_p256_params[10];
int akm_p11_ec_point(akm_p11 *p, CK_OBJECT_HANDLE pub, uint8_t point[65]);
/* Generates a P-256 pair: token objects with `label` and `id` when `token`,
 * else session objects; the private key non-extractable and sensitive, with
 * CKA_DERIVE and CKA_SIGN. */
int akm_p11_ec_generate(akm_p11 *p, bool token, const char *label, const uint8_t *id, size_t id_len,
                        CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
/* ECDSA (CKM_ECDSA) over the 32-byte digest: signature r||s (64 bytes). */
int akm_p11_sign_digest(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t digest[32], uint8_t sig[64]);
/* Verifies r||s over digest with a raw public point (a session public-key
 * object is created and destroyed).  Returns 0 valid, 1 invalid, -1 error. */
int akm_p11_verify_digest(akm_p11 *p, const uint8_t point[65], const uint8_t digest[32],
                          const uint8_t sig[64]);
/* ECDH (CKM_ECDH1_DERIVE, CKD_NULL) with the peer's raw point: a session AES
 * key of 32 bytes with CKA_WRAP and CKA_UNWRAP (the transport key). */
int akm_p11_ecdh_aes(akm_p11 *p, CK_OBJECT_HANDLE priv, const uint8_t peer[65], CK_OBJECT_HANDLE *key);
/* A session AES-256 key with CKA_WRAP/CKA_UNWRAP from 32 bytes of value
 * (a passphrase-derived key). */
int akm_p11_aes_from_value(akm_p11 *p, const uint8_t value[32], CK_OBJECT_HANDLE *key);

#endif

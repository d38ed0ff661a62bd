/*
 * Shared by the entry-point files (one per function group, as in OpenSC's
 * src/pkcs11/): every C_* is thin — check initialisation, arguments and the
 * session, resolve handles, call the backend once, record state, map errors.
 */
#ifndef AKM_ENTRY_H
#define AKM_ENTRY_H

#include <stddef.h>
#include <p11-kit/pkcs11.h>

#include "core/core.h"
#include "core/template.h"

#define AKM_EXPORT __attribute__((visibility("default")))

/* The backend function at byte offset `off` of CK_FUNCTION_LIST, typed. */
#define AKM_BACKEND_FN(call, type, off) (*(type *)((char *)(call)->be + (off)))
#define AKM_FN_OFFSET(name) offsetof(CK_FUNCTION_LIST, name)

/* Copies `src` into a blank-padded, unterminated PKCS#11 text field. */
void akm_pad_field(CK_UTF8CHAR *dst, size_t len, const char *src);

/* Ends the backend's copies of operations we already ended (an error, or
 * arguments we refused) when the backend still believes they are active.
 * Returns true when there was anything to end, so the caller retries. */
int akm_drain_stale_ops(const akm_call *c);

/* Whether a creating template makes a token object (CKA_TOKEN, default false). */
int akm_template_is_token(const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* Records a new backend object under our handle; destroys it in the backend
 * when that fails, so nothing is left that the caller cannot name. */
CK_RV akm_adopt_object(const akm_call *c, CK_OBJECT_HANDLE backend, int token_object,
                       CK_OBJECT_HANDLE *out);

/* Our key handle (pass-through or relationship key) to the backend's, for a
 * use (CKA_ENCRYPT, CKA_SIGN, ...): CKR_KEY_HANDLE_INVALID when it names
 * nothing here; a relationship key may also refuse the use
 * (CKR_KEY_FUNCTION_NOT_PERMITTED). */
CK_RV akm_resolve_key(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE usage,
                      CK_OBJECT_HANDLE *backend);

/* A relationship key asked to do what it never does (be wrapped out,
 * derived from, digested): `refusal` when it exists here,
 * CKR_KEY_HANDLE_INVALID when it names nothing. */
CK_RV akm_registry_key_refused(const akm_call *c, CK_OBJECT_HANDLE h, CK_RV refusal);

#endif

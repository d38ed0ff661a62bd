/*
 * AKM relationships as token objects (include/akm/pkcs11-akm.h,
 * docs/object-model.md).
 *
 * A relationship's keys live in the registry only as blobs wrapped by a
 * key-encryption key (KEK) that is a non-extractable object of the backend
 * token and never leaves it.  On use a key is unwrapped into a backend
 * session object and cached (bounded), so repeated use costs nothing more
 * than the operation itself.  The backend's object count stays constant
 * however many relationships there are.
 *
 * Rollback of the registry file is detected with a counter object kept in
 * the backend token; every change and every suspicious failure is written to
 * the hash-chained audit trail in the same transaction.
 *
 * Thread-safe: one lock inside serialises the registry and the cache.
 */
#ifndef AKM_RELATIONSHIPS_H
#define AKM_RELATIONSHIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "store/store.h"

/* Our object handles for registry keys: this base plus the key's row id,
 * so a handle is the same in every session and process and costs no table
 * entry.  Pass-through handles are counted from 1 and stay below it. */
#define AKM_REGISTRY_HANDLE_BASE 0x40000000UL
#define AKM_IS_REGISTRY_HANDLE(h) ((h) > AKM_REGISTRY_HANDLE_BASE)
/* Audit records (CKO_AKM_AUDIT_RECORD): this base plus the sequence number. */
#define AKM_AUDIT_HANDLE_BASE 0x20000000UL
#define AKM_IS_AUDIT_HANDLE(h) ((h) > AKM_AUDIT_HANDLE_BASE && (h) <= AKM_REGISTRY_HANDLE_BASE)

typedef struct akm_relationships akm_relationships;

/* Opens the registry at `path` for the backend token in `bslot`.  Keys
 * become usable after akm_relationships_login. */
CK_RV akm_relationships_open(akm_relationships **out, const char *path, CK_FUNCTION_LIST *be,
                             CK_SLOT_ID bslot, char *err, size_t errlen);
void akm_relationships_close(akm_relationships *r);

/* After the user logged in: finds (or, for an empty registry, creates) the
 * KEK and the counter object, and checks the registry against the counter.
 * A failure is logged and makes every later call fail with its code. */
CK_RV akm_relationships_login(akm_relationships *r);
/* After logout: the cache and the KEK handle are dropped (the backend
 * forgets private session objects at logout anyway). */
void akm_relationships_logout(akm_relationships *r);

/* Backend objects the module keeps for itself (KEK, counter): hidden from
 * C_FindObjects. */
bool akm_relationships_hides(akm_relationships *r, CK_OBJECT_HANDLE backend);

/* C_GenerateKey with CKM_AKM_RELATIONSHIP_GEN (n == 1) or
 * CKM_AKM_RELATIONSHIP_BATCH_GEN: n relationships in one transaction, all
 * or none; handles[i] receives the i-th one's encryption key. */
CK_RV akm_relationships_create(akm_relationships *r, CK_ATTRIBUTE *const *tmpls, const CK_ULONG *counts,
                               CK_ULONG n, CK_OBJECT_HANDLE *handles);

/* Attributes of a registry key. */
CK_RV akm_relationships_get_attributes(akm_relationships *r, CK_OBJECT_HANDLE h,
                                       CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV akm_relationships_set_attributes(akm_relationships *r, CK_OBJECT_HANDLE h,
                                       const CK_ATTRIBUTE *tmpl, CK_ULONG count);
/* CKR_OK when the handle names a key of the registry (logged in), else
 * CKR_OBJECT_HANDLE_INVALID. */
CK_RV akm_relationships_exists(akm_relationships *r, CK_OBJECT_HANDLE h);
CK_RV akm_relationships_object_size(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ULONG *size);
/* Destroys the whole relationship the key belongs to (its credential set
 * goes together), wiping its blobs, with an audit record. */
CK_RV akm_relationships_destroy(akm_relationships *r, CK_OBJECT_HANDLE h);

/* What an operation wants to do with a key (CKA_ENCRYPT ... CKA_UNWRAP). */
CK_RV akm_relationships_use(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE usage,
                            CK_OBJECT_HANDLE *backend);

/* Search.  A template naming nothing but AKM attributes never matches
 * backend objects; see akm_template_has_akm. */
bool akm_template_has_akm(const CK_ATTRIBUTE *tmpl, CK_ULONG count);
/* Handles of registry keys matching `tmpl` with ids above *cursor (updated),
 * at most max. */
CK_RV akm_relationships_find(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                             int64_t *cursor, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);

/* Audit records for failures that could be attacks. */
void akm_relationships_audit_failure(akm_relationships *r, const char *action, CK_OBJECT_HANDLE h,
                                     CK_RV rv, const char *detail);
/* Verifies the audit chain and that it contains the head last recorded in
 * the token.  CKR_OK or CKR_GENERAL_ERROR with the reason in err. */
CK_RV akm_relationships_verify_audit(akm_relationships *r, int64_t *records, char *err, size_t errlen);

/* CKM_AKM_EXPORT_WRAP: the value of provisioning-relationship key h,
 * wrapped with AES-KWP under the backend key `wrapping` without leaving the
 * backend; out NULL asks for the length.  Audited. */
CK_RV akm_relationships_export(akm_relationships *r, CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE wrapping,
                               CK_BYTE *out, CK_ULONG *out_len);

/* Audit records as read-only token objects (docs/object-model.md). */
bool akm_template_is_audit(const CK_ATTRIBUTE *tmpl, CK_ULONG count);
/* Appends an application record from a C_CreateObject template. */
CK_RV akm_relationships_audit_create(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                     CK_OBJECT_HANDLE *h);
CK_RV akm_relationships_audit_get(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count);
CK_RV akm_relationships_audit_size(akm_relationships *r, CK_OBJECT_HANDLE h, CK_ULONG *size);
/* Like akm_relationships_find, over the audit records (cursor: last seq). */
CK_RV akm_relationships_audit_find(akm_relationships *r, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                   int64_t *cursor, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);

#endif

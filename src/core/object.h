/*
 * Object classes: each kind of object the token shows brings its own
 * operations (OpenSC's sc_pkcs11_object_ops is the model), so that no entry
 * point tests what kind of object a handle names.
 *
 *   class_backend.c       the backend token's objects, passed through
 *   class_relationship.c  relationship keys (docs/object-model.md §4): the
 *                         attribute table, templates into typed specs,
 *                         changes and queries for the akm layer
 *   class_audit.c         audit records (CKO_AKM_AUDIT_RECORD)
 *
 * Handles say the class: the module's own objects have handles of their own
 * that need no table entry and are the same in every session and process.
 */
#ifndef AKM_CORE_OBJECT_H
#define AKM_CORE_OBJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "akm/pkcs11-akm.h"
#include "akm/relationships.h" /* AKM_LABEL_MAX */
#include "core/core.h"

/* Where a search of the module's objects stands: the last row id handed
 * out (audit records, in the trail's order), or the last label
 * (relationship keys, in label order; label_len SIZE_MAX before the
 * first). */
typedef struct akm_find_cursor {
	int64_t at;
	uint8_t label[AKM_LABEL_MAX];
	size_t label_len;
} akm_find_cursor;

/* Relationship keys: this base plus the key's id.  Pass-through handles are
 * counted from 1 and stay below both bases. */
#define AKM_REGISTRY_HANDLE_BASE 0x40000000UL
#define AKM_IS_REGISTRY_HANDLE(h) ((h) > AKM_REGISTRY_HANDLE_BASE)
/* Audit records: this base plus the sequence number. */
#define AKM_AUDIT_HANDLE_BASE 0x20000000UL
#define AKM_IS_AUDIT_HANDLE(h) ((h) > AKM_AUDIT_HANDLE_BASE && (h) <= AKM_REGISTRY_HANDLE_BASE)

/* What a key is asked to do. */
typedef enum akm_use {
	AKM_USE_ENCRYPT,
	AKM_USE_DECRYPT,
	AKM_USE_SIGN,
	AKM_USE_VERIFY,
	AKM_USE_SIGN_RECOVER,
	AKM_USE_VERIFY_RECOVER,
	AKM_USE_WRAP,      /* the wrapping key of C_WrapKey */
	AKM_USE_UNWRAP,    /* the unwrapping key of C_UnwrapKey */
	AKM_USE_EXTRACT,   /* the key C_WrapKey wraps */
	AKM_USE_DIGEST,    /* C_DigestKey */
	AKM_USE_DERIVE,    /* the base key of C_DeriveKey */
	AKM_USE_PLAIN,     /* a key as the backend has it (operation state, mechanism parameters) */
} akm_use;

typedef struct akm_object_class {
	const char *name;
	CK_RV (*get_attributes)(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count);
	CK_RV (*set_attributes)(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count);
	CK_RV (*size)(const akm_call *c, CK_OBJECT_HANDLE h, CK_ULONG *size);
	CK_RV (*destroy)(const akm_call *c, CK_OBJECT_HANDLE h);
	CK_RV (*copy)(const akm_call *c, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG count,
	              CK_OBJECT_HANDLE *out);
	/* The backend object h stands for, for `use`: CKR_KEY_HANDLE_INVALID
	 * when h names nothing here, the refusal when it may not be used so. */
	CK_RV (*use)(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend);
	/* The backend no longer knows the object `use` gave for h (the module's
	 * own session went away): forget it.  NULL for the backend's objects. */
	void (*lost)(const akm_call *c, CK_OBJECT_HANDLE h);
	/* A check with key h failed (a forged message or MAC): a breach signal. */
	void (*check_failed)(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_RV rv);

	/* The module's own objects (NULL for the backend's). */
	/* Whether a template is about this class only (C_CreateObject, searches). */
	bool (*claims)(const CK_ATTRIBUTE *tmpl, CK_ULONG count);
	CK_RV (*create)(const akm_call *c, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);
	/* Handles of objects matching tmpl after *cursor (updated), at most max,
	 * in the class's order. */
	CK_RV (*find)(const akm_call *c, const CK_ATTRIBUTE *tmpl, CK_ULONG count, akm_find_cursor *cursor,
	              CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
	/* CKM_AKM_EXPORT_WRAP: the credential set h belongs to, wrapped under a
	 * transport key the module makes as p says (checked by the caller:
	 * the mode and its fields); p->pPublicData receives the ephemeral
	 * point in node-key mode. */
	CK_RV (*export)(const akm_call *c, CK_OBJECT_HANDLE h, CK_AKM_EXPORT_WRAP_PARAMS *p, CK_BYTE *out,
	                CK_ULONG *out_len);
} akm_object_class;

extern const akm_object_class akm_class_backend;
extern const akm_object_class akm_class_relationship;
extern const akm_object_class akm_class_audit;

/* The akm layer's answer for an object of the module's own: one that is
 * not there, or a registry not open (no login), is an invalid handle. */
static inline CK_RV akm_held_answer(CK_RV rv)
{
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OBJECT_HANDLE_INVALID : rv;
}

/* The class of handle h. */
const akm_object_class *akm_object_class_of(CK_OBJECT_HANDLE h);

/* The backend object of key h for `use`, whatever its class. */
CK_RV akm_core_use_key(const akm_call *c, CK_OBJECT_HANDLE h, akm_use use, CK_OBJECT_HANDLE *backend);
/* The backend's answer `rv` to a call with the object `use` gave for key h:
 * when the backend says it does not know an object of the module's own,
 * the object was lost with the module's session: the class forgets it, and
 * the answer is CKR_DEVICE_ERROR (the key itself is fine). */
CK_RV akm_core_key_answer(const akm_call *c, CK_OBJECT_HANDLE h, CK_RV rv);

/* The module's own classes that templates can claim, in the order they
 * are asked, and the one a search without a claim covers. */
extern const akm_object_class *const akm_held_classes[];
extern const size_t akm_held_class_count;

/* Relationship keys for the vendor mechanisms (class_relationship.c):
 * CKM_AKM_RELATIONSHIP_GEN and _BATCH_GEN create n relationships from n
 * templates, all or none; handles[i] gets the i-th one's encryption key. */
CK_RV akm_relationship_generate(const akm_call *c, CK_ATTRIBUTE *const *tmpls, const CK_ULONG *counts,
                                CK_ULONG n, CK_OBJECT_HANDLE *handles);
/* CKM_AKM_ASR_GEN's template (the relationship's own attributes; its
 * members are in the mechanism's parameter) into a spec. */
struct akm_relationship_spec;
CK_RV akm_relationship_asr_spec(const CK_ATTRIBUTE *tmpl, CK_ULONG count, struct akm_relationship_spec *spec);

#endif

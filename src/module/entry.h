/*
 * Shared by the entry-point files (one per function group, as in OpenSC's
 * src/pkcs11/).  Every C_* is thin: it names the state it requires once, at
 * its top (tpm2-pkcs11's entry macros are the model), checks its
 * arguments, and calls one function of the core (src/core/core.h).
 */
#ifndef AKM_ENTRY_H
#define AKM_ENTRY_H

#include <p11-kit/pkcs11.h>

#include "core/core.h"
#include "core/template.h"

#define AKM_EXPORT __attribute__((visibility("default")))

/* The module is initialised. */
#define ENTRY_INITIALIZED()                               \
	do {                                                  \
		if (!akm_core_initialized())                      \
			return CKR_CRYPTOKI_NOT_INITIALIZED;          \
	} while (0)

/* `c` is the call on slot `id` (initialised, the slot exists). */
#define ENTRY_SLOT(c, id)                                 \
	akm_call c;                                           \
	do {                                                  \
		CK_RV entry_rv_ = akm_core_slot((id), &c);        \
		if (entry_rv_ != CKR_OK)                          \
			return entry_rv_;                             \
	} while (0)

/* `c` is the call on session `h` (initialised, the session exists). */
#define ENTRY_SESSION(c, h)                               \
	akm_call c;                                           \
	do {                                                  \
		CK_RV entry_rv_ = akm_core_session((h), &c);      \
		if (entry_rv_ != CKR_OK)                          \
			return entry_rv_;                             \
	} while (0)

/* An argument the caller got wrong. */
#define ENTRY_ARGUMENT(ok)                                \
	do {                                                  \
		if (!(ok))                                        \
			return CKR_ARGUMENTS_BAD;                     \
	} while (0)

/* A template checked (NULL with a count, NULL values with a length, nesting
 * deeper than AKM_TEMPLATE_MAX_DEPTH). */
#define ENTRY_TEMPLATE(tmpl, count)                                   \
	do {                                                              \
		CK_RV entry_rv_ = akm_template_check((tmpl), (count));        \
		if (entry_rv_ != CKR_OK)                                      \
			return entry_rv_;                                         \
	} while (0)

#endif

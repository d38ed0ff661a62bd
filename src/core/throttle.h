/*
 * PIN throttling on the registry's token (docs/configuration.md, "PIN
 * throttling"; the state file: docs/formats.md §1.2).  Wrong PINs are
 * counted per PIN (user, SO) in `<registry path>-login`, shared by every
 * process under an fcntl lock; after `login.backoff.after` of them each try
 * waits for a back-off that doubles, and with `login.lockout` the user PIN
 * locks until the SO sets it.  A refused try never reaches the backend.
 */
#ifndef AKM_CORE_THROTTLE_H
#define AKM_CORE_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "lib/fmt-login.h"

/* One PIN try between akm_throttle_begin and akm_throttle_end. */
typedef struct akm_throttle {
	int fd;             /* the state file, locked; -1: this try is not throttled */
	akm_login_who who;
	akm_login_state st; /* as read */
} akm_throttle;

/*
 * Before a PIN of `who` is tried on `slot`.  CKR_OK: try it, then call
 * akm_throttle_end with the backend's answer (the state stays locked in
 * between, so concurrent tries from any process take turns).  Otherwise the
 * try is refused and must not reach the backend:
 *   CKR_FUNCTION_FAILED  a back-off is running (or the state file is
 *                        unusable: refused, unreadable, not this format)
 *   CKR_PIN_LOCKED       the user PIN is locked out until the SO sets it
 * The refusal is logged, and the first one after each wrong PIN audited
 * (login-refused).
 */
CK_RV akm_throttle_begin(uint32_t slot, akm_login_who who, akm_throttle *t);
/* Records the backend's answer: CKR_PIN_INCORRECT counts, CKR_OK (or
 * CKR_USER_ALREADY_LOGGED_IN) starts the count again; anything else changes
 * nothing.  Unlocks. */
void akm_throttle_end(akm_throttle *t, CK_RV backend_rv);
/* The SO set the user PIN (C_InitPIN: user) or re-initialised the token
 * (C_InitToken: both): those records start again, a lockout included. */
void akm_throttle_reset(uint32_t slot, bool user, bool so);
/* C_GetTokenInfo: CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY,
 * CKF_USER_PIN_LOCKED and CKF_SO_PIN_COUNT_LOW as the state says (added to
 * the backend's flags, never removed). */
void akm_throttle_token_flags(uint32_t slot, CK_FLAGS *flags);

#endif

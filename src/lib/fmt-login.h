/*
 * The login state beside the registry ("AKML", version 1; docs/formats.md
 * §1.2): for the user PIN and for the SO PIN, the count of consecutive wrong
 * PINs and the time before which no PIN is tried; and the rules that move
 * it (docs/configuration.md, `login.*`).  Pure: the file's I/O and locking
 * are the caller's (src/core/throttle.c).
 */
#ifndef AKM_LIB_FMT_LOGIN_H
#define AKM_LIB_FMT_LOGIN_H

#include "lib/fmt.h"

#define AKM_LOGIN_STATE_LEN 31 /* magic 4, version 1, two records of 13 */

/* Record flags. */
#define AKM_LOGIN_LOCKED 0x01  /* locked out until the SO sets the user PIN (user record only) */
#define AKM_LOGIN_AUDITED 0x02 /* the refusal since the last failure is in the audit trail */

typedef enum { AKM_LOGIN_USER = 0, AKM_LOGIN_SO = 1 } akm_login_who;

typedef struct akm_login_record {
	uint32_t failures;   /* consecutive wrong PINs */
	uint8_t flags;       /* AKM_LOGIN_* */
	uint64_t not_before; /* ms since 1970-01-01 UTC; 0: none */
} akm_login_record;

typedef struct akm_login_state {
	akm_login_record who[2]; /* [AKM_LOGIN_USER], [AKM_LOGIN_SO] */
} akm_login_state;

/* Exactly AKM_LOGIN_STATE_LEN bytes into buf (cap at least that). */
akm_fmt_rc akm_login_state_encode(const akm_login_state *s, uint8_t *buf, size_t cap, size_t *len);
/* Strict: the length, magic, version, only known flags, no lockout on the SO
 * record.  An empty file (len 0) is the fresh state, all zero. */
akm_fmt_rc akm_login_state_parse(const uint8_t *buf, size_t len, akm_login_state *s);

/* ---- the rules ---------------------------------------------------------- */

typedef struct akm_login_policy {
	bool backoff;        /* login.backoff */
	uint32_t after;      /* login.backoff.after: wrong PINs before any wait */
	uint64_t initial_ms; /* login.backoff.initial_ms: the first wait */
	uint64_t max_ms;     /* login.backoff.max_ms: no wait is longer */
	uint32_t lockout;    /* login.lockout: wrong user PINs that lock it; 0 never */
} akm_login_policy;

/* The defaults: back-off on, after 3, 1 s doubling up to 15 min, no lockout. */
void akm_login_policy_default(akm_login_policy *p);
/* Whether the policy does anything (the state is kept at all). */
bool akm_login_policy_active(const akm_login_policy *p);

/* The wait after `failures` consecutive wrong PINs: 0 up to `after`, then
 * initial_ms doubling with each one, at most max_ms; 0 with back-off off. */
uint64_t akm_login_backoff_ms(const akm_login_policy *p, uint32_t failures);

typedef enum {
	AKM_LOGIN_GO = 0,   /* try the PIN */
	AKM_LOGIN_WAIT,     /* refused: back-off running (*wait_ms left) */
	AKM_LOGIN_LOCKED_OUT /* refused: locked until the SO sets the user PIN */
} akm_login_verdict;

/* Whether a PIN may be tried now (`now` ms since 1970).  A not_before
 * further ahead than max_ms (the clock was set back, or the file says so)
 * counts as max_ms from now. */
akm_login_verdict akm_login_check(const akm_login_policy *p, const akm_login_record *r, uint64_t now,
                                  uint64_t *wait_ms);
/* A wrong PIN at `now`: one more failure, the next wait, the lockout. */
void akm_login_failed(const akm_login_policy *p, akm_login_who who, akm_login_record *r, uint64_t now);
/* A right PIN (or the SO set the user PIN): the record starts again. */
void akm_login_reset(akm_login_record *r);

#endif

/* Diagnostics: one line per event, to syslog (ident "akm-pkcs11", facility
 * LOG_USER) by default, or to stderr prefixed "akm-pkcs11: <level>: ", or
 * both (log.target, docs/configuration.md).  Never pass secrets (PINs, key
 * bytes, data) to these functions. */
#ifndef AKM_LOG_H
#define AKM_LOG_H

#include <stdbool.h>
#include <p11-kit/pkcs11.h>

#include "lib/rv.h"

typedef enum akm_log_level {
	AKM_LOG_ERROR = 0,
	AKM_LOG_WARNING = 1,
	AKM_LOG_INFO = 2,
	AKM_LOG_DEBUG = 3,
} akm_log_level;

/* Where lines go: a set of these bits. */
typedef enum akm_log_target {
	AKM_LOG_TO_SYSLOG = 1,
	AKM_LOG_TO_STDERR = 2,
	AKM_LOG_TO_BOTH = 3,
} akm_log_target;

#define AKM_LOG_TARGET_DEFAULT AKM_LOG_TO_SYSLOG

/* The level in force (read without a lock: set in C_Initialize). */
extern int akm_log_level_now;

void akm_log_set_level(akm_log_level level);
void akm_log_set_target(akm_log_target target);

/* Whether a line at `level` would be written: test it before formatting
 * anything costly (the per-call trace does). */
static inline bool akm_log_enabled(akm_log_level level)
{
	return (int)level <= __atomic_load_n(&akm_log_level_now, __ATOMIC_RELAXED);
}

void akm_log(akm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

/* Diagnostics: one line per event on stderr, prefixed "akm-pkcs11: ".
 * Never pass secrets (PINs, key bytes) to these functions. */
#ifndef AKM_LOG_H
#define AKM_LOG_H

#include <p11-kit/pkcs11.h>

#include "lib/rv.h"

typedef enum akm_log_level {
	AKM_LOG_ERROR = 0,
	AKM_LOG_WARNING = 1,
	AKM_LOG_INFO = 2,
	AKM_LOG_DEBUG = 3,
} akm_log_level;

void akm_log_set_level(akm_log_level level);
void akm_log(akm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));


#endif

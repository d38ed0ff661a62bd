#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

int akm_log_level_now = AKM_LOG_WARNING;
static int current_target = AKM_LOG_TARGET_DEFAULT;

/* syslog(3) without openlog: a module must not change the application's own
 * identity, options or facility (openlog is process-wide: after SoftHSM2's,
 * an application's later lines carry SoftHSM2's name).  Our lines are the
 * application's, marked "akm-pkcs11:" and sent as LOG_USER; the socket
 * opens with the first line, and is the application's to close. */
void akm_log_set_level(akm_log_level level) { __atomic_store_n(&akm_log_level_now, (int)level, __ATOMIC_RELAXED); }

void akm_log_set_target(akm_log_target target)
{
	__atomic_store_n(&current_target, (int)target, __ATOMIC_RELAXED);
}

void akm_log(akm_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char line[1024];
	va_list ap;

	if (!akm_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	int target = __atomic_load_n(&current_target, __ATOMIC_RELAXED);
	if (target & AKM_LOG_TO_SYSLOG)
		syslog(LOG_USER | priorities[level], "akm-pkcs11: %s: %s", names[level], line);
	/* One fprintf per line so concurrent threads do not interleave. */
	if (target & AKM_LOG_TO_STDERR)
		fprintf(stderr, "akm-pkcs11: %s: %s\n", names[level], line);
}

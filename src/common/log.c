#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <syslog.h>

int akm_log_level_now = AKM_LOG_WARNING;
static int current_target = AKM_LOG_TARGET_DEFAULT;
static pthread_once_t syslog_once = PTHREAD_ONCE_INIT;

/* As SoftHSM2 does: our own ident; no LOG_CONS (never the console), no
 * LOG_NDELAY (the socket opens with the first line).  Never closed: closelog
 * would close the application's own syslog connection. */
static void open_syslog(void) { openlog("akm-pkcs11", LOG_PID, LOG_USER); }

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
	if (target & AKM_LOG_TO_SYSLOG) {
		pthread_once(&syslog_once, open_syslog);
		syslog(priorities[level], "%s: %s", names[level], line);
	}
	/* One fprintf per line so concurrent threads do not interleave. */
	if (target & AKM_LOG_TO_STDERR)
		fprintf(stderr, "akm-pkcs11: %s: %s\n", names[level], line);
}

#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static akm_log_level current_level = AKM_LOG_WARNING;

void akm_log_set_level(akm_log_level level) { current_level = level; }

void akm_log(akm_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent threads do not interleave. */
	fprintf(stderr, "akm-pkcs11: %s: %s\n", names[level], line);
}

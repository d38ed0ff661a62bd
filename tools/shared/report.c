/* Messages of the tools' libraries (report.h). */
#include "shared/report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static akm_report_fn sink;
static void *sink_ctx;
static const char *program = "akm";
static int verbosity = AKM_VERBOSITY_NORMAL;

void akm_report_verbosity(int level)
{
	verbosity = level;
}

int akm_report_level(void)
{
	return verbosity;
}

void akm_report_to(akm_report_fn fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

void akm_report_program(const char *name)
{
	program = name;
}

static void deliver(const char *what, const char *message)
{
	if (sink != NULL) {
		sink(sink_ctx, what, message);
		return;
	}
	if (message != NULL)
		fprintf(stderr, "%s: %s: %s\n", program, what, message);
	else
		fprintf(stderr, "%s: %s\n", program, what);
}

static void vreport(const char *what, const char *fmt, va_list ap0)
{
	va_list ap;
	va_copy(ap, ap0);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char small[512], *text = small;
	if (n >= (int)sizeof small && (text = malloc((size_t)n + 1)) == NULL) {
		text = small; /* out of memory: the message cut, not lost */
		n = (int)sizeof small - 1;
	}
	va_copy(ap, ap0);
	vsnprintf(text, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';
	deliver(what, text);
	if (text != small)
		free(text);
}

int akm_report(int code, const char *what, const char *fmt, ...)
{
	/* -q: a warning (a report that is not a failure) is not printed by the
	 * default sink; a service's sink gets everything. */
	if (code == AKM_RC_OK && sink == NULL && verbosity < AKM_VERBOSITY_NORMAL)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vreport(what, fmt, ap);
	va_end(ap);
	return code;
}

void akm_note(const char *what, const char *fmt, ...)
{
	if (sink == NULL && verbosity < AKM_VERBOSITY_DETAIL)
		return;
	if (sink != NULL)
		return; /* details are for the terminal, not a service's log */
	va_list ap;
	va_start(ap, fmt);
	vreport(what, fmt, ap);
	va_end(ap);
}

int akm_report_why(int code, const char *what, const char *why)
{
	if (code == AKM_RC_OK && sink == NULL && verbosity < AKM_VERBOSITY_NORMAL)
		return code;
	deliver(what, why != NULL && why[0] != '\0' ? why : NULL);
	return code;
}

static bool stdout_failed;

int akm_stdout_check(void)
{
	if (stdout_failed)
		return AKM_RC_FILES;
	errno = 0;
	int flushed = fflush(stdout);
	int e = errno;
	if (flushed == 0 && !ferror(stdout))
		return AKM_RC_OK;
	stdout_failed = true;
	/* The reason is known when this flush failed; an earlier write's
	 * (stdio's own, its buffer full) is only known to have failed. */
	if (flushed != 0 && e != 0)
		return akm_report(AKM_RC_FILES, "stdout", "write failed: %s", strerror(e));
	return akm_report(AKM_RC_FILES, "stdout", "write failed");
}

int akm_stdout_finish(int code)
{
	int out = akm_stdout_check();
	return code == AKM_RC_OK ? out : code;
}

int akm_report_bad_option(const struct option *longs, const char *arg, int opt)
{
	int n = (int)strcspn(arg, "=");
	char msg[256];
	snprintf(msg, sizeof msg, "unknown option %.*s (see --help)", n, arg);
	if (opt == ':')
		snprintf(msg, sizeof msg, "option %.*s needs a value", n, arg);
	else if (arg[0] == '-' && arg[1] == '-' && arg[n] == '=')
		for (size_t i = 0; longs[i].name != NULL; i++)
			if (longs[i].has_arg == no_argument && strlen(longs[i].name) == (size_t)n - 2 &&
			    strncmp(longs[i].name, arg + 2, (size_t)n - 2) == 0)
				snprintf(msg, sizeof msg, "option %.*s takes no value", n, arg);
	return akm_report_why(AKM_RC_USAGE, msg, NULL);
}

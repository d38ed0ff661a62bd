/*
 * How the tools' libraries tell their user what went wrong, and the result
 * codes they share.  A library function that fails reports one message,
 * "<what>: <why>", and returns one of the codes below; akm-nmm and akm-node
 * print the message as "<program>: <what>: <why>" on stderr and exit with
 * the code (docs/akm-nmm.md, docs/akm-node.md).  A service linking the
 * libraries sends the messages to its log instead (akm_report_to).
 */
#ifndef AKM_TOOLS_REPORT_H
#define AKM_TOOLS_REPORT_H

#include <stddef.h>

/* Results, and the tools' exit codes. */
enum {
	AKM_RC_OK = 0,
	AKM_RC_USAGE = 1,     /* a bad command line or request */
	AKM_RC_REFUSED = 2,   /* bad or untrusted input, or a state that does not allow it */
	AKM_RC_NOT_FOUND = 3,
	AKM_RC_TOKEN = 4,     /* the token or the module failed */
	AKM_RC_FILES = 5,     /* a file-system error */
	AKM_RC_VERIFY = 6,    /* a verification failed */
	AKM_RC_NETWORK = 7,   /* the station service could not be reached, or the connection failed */
	AKM_RC_INTERRUPTED = 130, /* stopped by SIGINT after the node in hand (shared/interrupt.h) */
	AKM_RC_TERMINATED = 143   /* stopped by SIGTERM after the node in hand */
};

/* Where messages go: `message` is NULL for one without a why. */
typedef void (*akm_report_fn)(void *ctx, const char *what, const char *message);
/* The sink (NULL: the default, stderr with the program's name). */
void akm_report_to(akm_report_fn fn, void *ctx);
/* The program name of the default sink ("akm" until set). */
void akm_report_program(const char *name);

/* How much the default sink prints: AKM_VERBOSITY_QUIET (-q) only errors
 * (a report with a code other than AKM_RC_OK), AKM_VERBOSITY_NORMAL also
 * warnings (a report with AKM_RC_OK) and progress bars, AKM_VERBOSITY_DETAIL
 * (-v) also akm_note()'s progress and details. */
enum { AKM_VERBOSITY_QUIET = -1, AKM_VERBOSITY_NORMAL = 0, AKM_VERBOSITY_DETAIL = 1 };
void akm_report_verbosity(int level);
int akm_report_level(void);
/* A detail shown only with -v: "<program>: <what>: <message>". */
void akm_note(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports "<what>: <message>"; returns code, for `return akm_report(...)`. */
int akm_report(int code, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Reports "<what>: <why>", or "<what>" alone when why is NULL or empty. */
int akm_report_why(int code, const char *what, const char *why);
/* getopt_long's complaint about `arg` (argv[optind - 1]), for the options
 * `longs` (ended by a zero entry): "unknown option --x (see --help)",
 * "option --x needs a value" (opt ':'), "option --x takes no value"; the
 * option is named as written, up to its '='.  Returns AKM_RC_USAGE. */
struct option;
int akm_report_bad_option(const struct option *longs, const char *arg, int opt);

/* ---- text from records, for a terminal ----
 * Stored text (labels, names, sites, audit details) may hold anything: it
 * is printed through akm_escape, so no control character or terminal
 * escape reaches the operator's terminal.  Bytes below 0x20, 0x7F, the C1
 * controls (U+0080-U+009F) and bytes that are not UTF-8 become \xNN, a
 * backslash \\; other UTF-8 passes.  len bytes of s ((size_t)-1: up to
 * its NUL).  The result is cut (whole escapes) to fit cap; returns
 * out.  AKM_ESCAPED(n): the room n bytes may need. */
#define AKM_ESCAPED(n) (4 * (n) + 1)
const char *akm_escape(char *out, size_t cap, const void *s, size_t len);

/* ---- stdout: every write checked ----
 * A command's output is its result (the shown-once passphrase among it):
 * when stdout cannot take it, the command fails with AKM_RC_FILES and
 * "stdout: write failed: <why>" on stderr, reported once however often it
 * is checked. */

/* Flushes stdout: AKM_RC_OK when everything written to it so far reached
 * it, else AKM_RC_FILES (reported).  A command that must not change
 * anything unless its output was shown calls it before the change. */
int akm_stdout_check(void);
/* At the end of a command (the mains call it with the command's code):
 * code, or AKM_RC_FILES when the command succeeded but stdout failed. */
int akm_stdout_finish(int code);

#endif

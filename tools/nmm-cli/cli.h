/*
 * akm-nmm's command line (docs/akm-nmm.md): akm-nmm.c holds the command
 * table, the option parser and the usage text; each cmd-*.c file holds one
 * group of commands, each with its own option struct, turning options into
 * a call of the station library (tools/station/) and its result into text
 * or --json on stdout.
 *
 *   cmd-station.c    init, anchor
 *   cmd-provision.c  provision, enroll, approve, reject
 *   cmd-deliver.c    export, write-se, verify
 *   cmd-report.c     list, show, audit, status
 *   cmd-asr.c        asr (operational ASRs)
 *   cmd-policy.c     policy test (the breach policy, a dry run)
 */
#ifndef AKM_NMM_CLI_H
#define AKM_NMM_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/json.h"
#include "station/station.h"

/* What every command gets: its name, the common options, its arguments. */
typedef struct nmm_cli {
	const char *cmd;
	const char *module, *token, *pin_file;
	bool json;
	char **args;
	int nargs;
} nmm_cli;

/* An option a command takes: its name ("--name"), its kind (from the type
 * of its field: a flag is a bool, a text a const char *, a number an
 * unsigned long, which also sets the bool at set_off) and where its value
 * goes in the command's option struct.  Adding an option to a command is one
 * line in its table: the parser (akm-nmm.c) learns the option from the
 * tables.  Two commands' options of the same name must be of the same kind.
 * Every option may be given once (a second is refused). */
enum { NMM_KIND_FLAG, NMM_KIND_TEXT, NMM_KIND_NUMBER };
typedef struct nmm_cli_opt {
	const char *name;
	int kind;
	size_t off, set_off;
} nmm_cli_opt;

#define NMM_KIND_OF(type, field)                                                                 \
	_Generic(((type *)0)->field, bool: NMM_KIND_FLAG, const char *: NMM_KIND_TEXT, char *: NMM_KIND_TEXT, \
	         unsigned long: NMM_KIND_NUMBER)
#define NMM_OPT(type, field, name) {name, NMM_KIND_OF(type, field), offsetof(type, field), (size_t)-1}
#define NMM_NUM_OPT(type, field, set_field, name) \
	{name, NMM_KIND_NUMBER, offsetof(type, field), offsetof(type, set_field)}

typedef struct nmm_cli_cmd {
	const char *name;
	int (*run)(const nmm_cli *c, const void *opts);
	int min_args, max_args;
	const char *usage;
	const nmm_cli_opt *opts;
	size_t nopts;
	size_t opts_size; /* of its option struct (at least 1) */
} nmm_cli_cmd;

#define NMM_OPTS(table) table, sizeof table / sizeof table[0]
/* The option struct of a command without options of its own. */
typedef struct nmm_cli_none {
	char unused;
} nmm_cli_none;
#define NMM_NO_OPTS NULL, 0, sizeof(nmm_cli_none)

extern const nmm_cli_cmd nmm_cmd_init, nmm_cmd_anchor, nmm_cmd_tokens;
extern const nmm_cli_cmd nmm_cmd_provision, nmm_cmd_enroll, nmm_cmd_approve, nmm_cmd_reject, nmm_cmd_revoke,
    nmm_cmd_reinstate;
extern const nmm_cli_cmd nmm_cmd_export, nmm_cmd_write_se, nmm_cmd_verify;
extern const nmm_cli_cmd nmm_cmd_list, nmm_cmd_show, nmm_cmd_audit, nmm_cmd_status;
extern const nmm_cli_cmd nmm_cmd_asr, nmm_cmd_policy;

/* ---- what the command files share (akm-nmm.c) ---- */

/* Opens the token of --module/--token (or AKM_MODULE/AKM_TOKEN) and logs in
 * with --pin-file / AKM_PIN / a prompt.  Returns an AKM_RC_* code. */
int nmm_cli_token_open(const nmm_cli *c, akm_p11 *p);
/* The token, then the station in it (AKM_RC_NOT_FOUND when it is not
 * initialised). */
int nmm_cli_station_open(const nmm_cli *c, nmm_station *s);
/* The station opened so that it can be opened again in the same run
 * (nmm_plan.reopen: a long provisioning run finalises the token now and
 * then, for a backend that gives back what it accumulated only at
 * C_Finalize): the PIN is kept, in locked memory (shared/secret.h), until
 * nmm_cli_reopen_end.  Set r->c first. */
typedef struct nmm_cli_reopen {
	const nmm_cli *c;
	akm_secret pin;
	char token[4096];
	bool any_token;
} nmm_cli_reopen;
int nmm_cli_station_open_reopenable(nmm_cli_reopen *r, nmm_station *s);
/* nmm_plan.reopen, ctx an nmm_cli_reopen. */
int nmm_cli_station_reopen(nmm_station *s, void *ctx);
void nmm_cli_reopen_end(nmm_cli_reopen *r);
/* A node's secure element: --se-module, --se-token, --se-pin-file (or
 * AKM_SE_PIN, or a prompt). */
int nmm_cli_se_open(const nmm_cli *c, const char *module, const char *token, const char *pin_file, akm_p11 *se);
/* Text given on the command line for the records: at most max bytes of
 * printable UTF-8, no control characters. */
bool nmm_cli_valid_text(const char *t, size_t max);

#endif

/*
 * akm-node's command line (docs/akm-node.md): akm-node.c holds the command
 * table, the option parser (getopt_long) and the usage text; each cmd-*.c
 * file holds one group of commands, each with its own option struct,
 * turning options into calls of the node library (tools/node/) and its
 * results into text or --json on stdout.
 *
 *   cmd-identity.c  hw-id, id, request
 *   cmd-import.c    trust, import
 *   cmd-net.c       activate, checkin, report (the station service)
 *   cmd-asr.c       enroll, rekey, seal, open, asr, refresh (operational ASRs)
 */
#ifndef AKM_NODE_CLI_H
#define AKM_NODE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/json.h"
#include "node/node.h"

/* The options every command takes. */
typedef struct node_cli {
	const char *module, *token, *pin_file;
	bool json;
} node_cli;

/* An option a command takes (all take a value): its long name and where
 * the value goes in the command's option struct (a const char *). */
typedef struct node_cli_opt {
	const char *name;
	size_t off;
} node_cli_opt;

#define NODE_OPT(type, field, name) {name, offsetof(type, field)}

typedef struct node_cli_cmd {
	const char *name;
	const char *summary;   /* one line for the command list */
	const char *help;      /* its usage text */
	const node_cli_opt *opts;
	size_t nopts;
	size_t opts_size;      /* of its option struct (at least 1) */
	/* pos[0..npos): the arguments after the options */
	int (*run)(const node_cli *c, const void *opts, int npos, char **pos);
} node_cli_cmd;

#define NODE_OPTS(table) table, sizeof table / sizeof table[0]

extern const node_cli_cmd node_cmd_tokens, node_cmd_hw_id, node_cmd_trust, node_cmd_import, node_cmd_id, node_cmd_request;
extern const node_cli_cmd node_cmd_activate, node_cmd_checkin, node_cmd_report;
extern const node_cli_cmd node_cmd_enroll, node_cmd_rekey, node_cmd_seal, node_cmd_open, node_cmd_asr,
	node_cmd_refresh;

/* ---- what the command files share (akm-node.c) ---- */

/* "akm-node: <cmd>: missing argument" (or too many) and the command's
 * usage, unless npos == want. */
int node_cli_args(const node_cli_cmd *cmd, int npos, int want);
/* The command's usage text and the common options, on `to`. */
void node_cli_usage(const node_cli_cmd *cmd, FILE *to);
/* Opens the token of --module/--token (or AKM_MODULE/AKM_TOKEN), and logs
 * in (--pin-file, AKM_PIN or a prompt) when `login`.  An AKM_RC_* code. */
int node_cli_token_open(const node_cli *c, akm_p11 *p, bool login);

#endif

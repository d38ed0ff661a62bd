/*
 * akm-nmm: the AKM provisioning station (docs/akm-nmm.md), the command line
 * of the station library (tools/station/).  This file: the command table,
 * the options akm-nmm knows, the parser that puts each command's options
 * into its own option struct, the usage text, and opening the tokens.
 * Options may come before or after the command word.
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The commands, in the order of the usage text. */
static const nmm_cli_cmd *const commands[] = {
	&nmm_cmd_init, &nmm_cmd_anchor, &nmm_cmd_provision, &nmm_cmd_enroll, &nmm_cmd_approve, &nmm_cmd_reject,
	&nmm_cmd_revoke,
	&nmm_cmd_export, &nmm_cmd_write_se, &nmm_cmd_verify, &nmm_cmd_list, &nmm_cmd_show, &nmm_cmd_audit,
	&nmm_cmd_asr,
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

/* Every option akm-nmm knows and its kind; the first four are common to
 * all commands.  When several given options do not apply to a command, the
 * first of them in this order is named. */
enum { O_FLAG, O_TEXT, O_NUMBER };
typedef struct optdef {
	const char *name;
	int kind;
} optdef;
static const optdef options[] = {
	{"--module", O_TEXT}, {"--token", O_TEXT}, {"--pin-file", O_TEXT}, {"--json", O_FLAG},
	{"--station-id", O_TEXT}, {"--site", O_TEXT}, {"--location", O_TEXT}, {"--anchor-out", O_TEXT},
	{"--out", O_TEXT}, {"--node", O_TEXT}, {"--hw-id", O_TEXT}, {"--batch", O_TEXT},
	{"--count", O_NUMBER}, {"--prefix", O_TEXT}, {"--nodes", O_TEXT}, {"--all", O_FLAG},
	{"--protection", O_TEXT}, {"--passphrase-file", O_TEXT}, {"--generate-passphrase", O_FLAG},
	{"--qr-png", O_TEXT}, {"--argon2-ops", O_NUMBER}, {"--argon2-mem-kib", O_NUMBER},
	{"--se-module", O_TEXT}, {"--se-token", O_TEXT}, {"--se-pin-file", O_TEXT}, {"--pending", O_FLAG},
	{"--reason", O_TEXT}, {"--verify", O_FLAG}, {"--delivery", O_TEXT}, {"--nmm", O_TEXT}, {"--wait", O_TEXT},
	{"--members", O_TEXT}, {"--join-rekeys", O_TEXT}, {"--capacity", O_NUMBER}, {"--period", O_NUMBER},
	{"--grace", O_NUMBER}, {"--message-limit", O_NUMBER}, {"--failure-limit", O_NUMBER},
};
enum { NOPTIONS = sizeof options / sizeof options[0], NCOMMON = 4 };

static const char common_usage[] =
	"Common options: --module PATH (or AKM_MODULE), --token URI|LABEL (or AKM_TOKEN),\n"
	"  --pin-file FILE (or AKM_PIN, or a prompt), --json, -h/--help.\n"
	"Exit: 0 ok, 1 usage, 2 refused, 3 not found, 4 token/module failure,\n"
	"  5 file-system error, 6 verification failed, 7 the station service could not be\n"
	"  reached or the node did not answer in time.\n";

static void usage_all(FILE *f)
{
	fputs("usage: akm-nmm COMMAND [OPTIONS]   (akm-nmm COMMAND --help for one)\n"
	      "The AKM provisioning station: provisioning relationships with nodes, their\n"
	      "delivery on USB or into a secure element, verification, operational ASRs\n"
	      "among nodes, and the audit trail.\n\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  akm-nmm %.*s\n", (int)strcspn(commands[i]->usage, "\n"), commands[i]->usage);
	fputc('\n', f);
	fputs(common_usage, f);
}

static void usage_one(FILE *f, const nmm_cli_cmd *c)
{
	fprintf(f, "usage: akm-nmm %s", c->usage);
	fputs(common_usage, f);
}

static int parse_number(const char *text, unsigned long *out)
{
	char *end;
	errno = 0;
	if (*text < '0' || *text > '9')
		return -1;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > 0xFFFFFFFFULL)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* An option as given: which, and its value (text or number). */
typedef struct given {
	const optdef *d;
	const char *text;
	unsigned long number;
} given;

static const nmm_cli_opt *cmd_option(const nmm_cli_cmd *c, const char *name)
{
	for (size_t k = 0; k < c->nopts; k++)
		if (strcmp(c->opts[k].name, name) == 0)
			return &c->opts[k];
	return NULL;
}

/* Puts one given option into the common options or the command's struct. */
static void apply(nmm_cli *cli, const nmm_cli_cmd *c, void *opts, const given *g)
{
	size_t index = (size_t)(g->d - options);
	if (index < NCOMMON) {
		const char **text[] = {&cli->module, &cli->token, &cli->pin_file};
		if (g->d->kind == O_FLAG)
			cli->json = true;
		else
			*text[index] = g->text;
		return;
	}
	const nmm_cli_opt *o = cmd_option(c, g->d->name);
	char *base = opts;
	if (g->d->kind == O_FLAG) {
		*(bool *)(base + o->off) = true;
	} else if (g->d->kind == O_TEXT) {
		*(const char **)(base + o->off) = g->text;
	} else {
		*(unsigned long *)(base + o->off) = g->number;
		*(bool *)(base + o->set_off) = true;
	}
}

/* Parses the command line into cli and the command's option struct.
 * Returns -1 to go on, or the exit code. */
static int parse(int argc, char **argv, nmm_cli *cli, const nmm_cli_cmd **cmdp, void **optsp, given *seen,
                 char **args)
{
	const nmm_cli_cmd *cmd = NULL;
	bool help = false;
	size_t nseen = 0;
	int nargs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = true;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				args[nargs++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (cmd == NULL) {
				for (size_t k = 0; k < NCOMMANDS; k++)
					if (strcmp(a, commands[k]->name) == 0)
						cmd = commands[k];
				if (cmd == NULL) {
					fprintf(stderr, "akm-nmm: %s: no such command\n", a);
					usage_all(stderr);
					return AKM_RC_USAGE;
				}
			} else {
				args[nargs++] = argv[i];
			}
			continue;
		}
		const char *what = cmd ? cmd->name : "akm-nmm";
		size_t nlen = strcspn(a, "=");
		const optdef *d = NULL;
		for (size_t k = 0; k < NOPTIONS; k++)
			if (strlen(options[k].name) == nlen && strncmp(a, options[k].name, nlen) == 0)
				d = &options[k];
		if (d == NULL)
			return akm_report(AKM_RC_USAGE, what, "unknown option %.*s (see --help)", (int)nlen, a);
		given *g = &seen[nseen++];
		*g = (given){d, NULL, 0};
		if (d->kind == O_FLAG) {
			if (a[nlen] == '=')
				return akm_report(AKM_RC_USAGE, what, "%s takes no value", d->name);
			continue;
		}
		if (a[nlen] == '=')
			g->text = a + nlen + 1;
		else if (i + 1 < argc)
			g->text = argv[++i];
		else
			return akm_report(AKM_RC_USAGE, what, "%s needs a value", d->name);
		if (d->kind == O_NUMBER && parse_number(g->text, &g->number) != 0)
			return akm_report(AKM_RC_USAGE, what, "%s needs a whole number, not \"%s\"", d->name, g->text);
	}
	if (cmd == NULL) {
		usage_all(help ? stdout : stderr);
		return help ? AKM_RC_OK : AKM_RC_USAGE;
	}
	if (help) {
		usage_one(stdout, cmd);
		return AKM_RC_OK;
	}
	/* Options that do not apply to this command. */
	for (size_t k = NCOMMON; k < NOPTIONS; k++) {
		if (cmd_option(cmd, options[k].name) != NULL)
			continue;
		for (size_t s = 0; s < nseen; s++)
			if (seen[s].d == &options[k])
				return akm_report(AKM_RC_USAGE, cmd->name, "option %s does not apply to this command (see --help)",
				                  options[k].name);
	}
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		if (nargs < cmd->min_args)
			akm_report(AKM_RC_USAGE, cmd->name, "missing argument");
		else
			akm_report(AKM_RC_USAGE, cmd->name, "unexpected argument \"%s\"", args[cmd->max_args]);
		usage_one(stderr, cmd);
		return AKM_RC_USAGE;
	}
	void *opts = calloc(1, cmd->opts_size);
	if (opts == NULL)
		return akm_report(AKM_RC_USAGE, "akm-nmm", "out of memory");
	for (size_t s = 0; s < nseen; s++)
		apply(cli, cmd, opts, &seen[s]);
	cli->cmd = cmd->name;
	cli->args = args;
	cli->nargs = nargs;
	*cmdp = cmd;
	*optsp = opts;
	return -1;
}

/* The command line, the command: its exit code. */
static int run(int argc, char **argv)
{
	akm_secret_init();
	akm_report_program("akm-nmm");
	nmm_cli cli;
	memset(&cli, 0, sizeof cli);
	char **args = calloc((size_t)argc + 1, sizeof *args);
	given *seen = calloc((size_t)argc + 1, sizeof *seen);
	if (args == NULL || seen == NULL) {
		free(args);
		free(seen);
		return akm_report(AKM_RC_USAGE, "akm-nmm", "out of memory");
	}
	const nmm_cli_cmd *cmd = NULL;
	void *opts = NULL;
	int code = parse(argc, argv, &cli, &cmd, &opts, seen, args);
	if (code < 0)
		code = cmd->run(&cli, opts);
	free(opts);
	free(seen);
	free(args);
	return code;
}

/* Whatever the command printed (text, --json, --help) must have reached
 * stdout: a success whose output was lost is exit 5. */
int main(int argc, char **argv)
{
	return akm_stdout_finish(run(argc, argv));
}

/* ---- what the command files share ---- */

bool nmm_cli_valid_text(const char *t, size_t max)
{
	size_t n = strlen(t);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7F)
			return false;
	return true;
}

/* Opens module/token and logs in with the PIN from pin_file, the variable
 * pin_env or a prompt; failures are "<cmd>: <prefix><why>".  The station
 * token's module must be akm-pkcs11 (checked before logging in). */
static int open_logged_in(const nmm_cli *c, akm_p11 *p, const char *module, const char *token,
                          const char *pin_file, const char *pin_env, const char *prompt, const char *pin_what,
                          const char *prefix, bool station)
{
	akm_secret pin = {0};
	char err[256];
	if (akm_secret_read(&pin, pin_file, pin_env, prompt, pin_what, err, sizeof err) != 0)
		return akm_report(AKM_RC_USAGE, c->cmd, "%s", err);
	int code = AKM_RC_OK;
	if (akm_p11_open(p, module, token) != 0)
		code = akm_report(AKM_RC_TOKEN, c->cmd, "%s%s", prefix, p->err);
	else if (station)
		code = nmm_station_check_module(p, c->cmd, module);
	if (code == AKM_RC_OK && akm_p11_login(p, pin.data, pin.len) != 0)
		code = akm_report(AKM_RC_TOKEN, c->cmd, "%s%s", prefix, p->err);
	akm_secret_free(&pin);
	if (code != AKM_RC_OK)
		akm_p11_close(p);
	return code;
}

int nmm_cli_token_open(const nmm_cli *c, akm_p11 *p)
{
	memset(p, 0, sizeof *p);
	const char *module = c->module ? c->module : getenv("AKM_MODULE");
	const char *token = c->token ? c->token : getenv("AKM_TOKEN");
	if (module == NULL || *module == '\0')
		return akm_report(AKM_RC_USAGE, c->cmd, "no PKCS#11 module: give --module or set AKM_MODULE");
	if (token != NULL && *token == '\0')
		token = NULL;
	return open_logged_in(c, p, module, token, c->pin_file, "AKM_PIN", "Station token PIN: ", "PIN", "", true);
}

int nmm_cli_station_open(const nmm_cli *c, nmm_station *s)
{
	memset(s, 0, sizeof *s);
	int code = nmm_cli_token_open(c, &s->p);
	if (code != AKM_RC_OK)
		return code;
	s->open = true;
	code = nmm_station_read(s);
	if (code == AKM_RC_NOT_FOUND)
		akm_report(code, c->cmd, "station not initialised in this token: run akm-nmm init first");
	if (code != AKM_RC_OK)
		nmm_station_close(s);
	return code;
}

int nmm_cli_se_open(const nmm_cli *c, const char *module, const char *token, const char *pin_file, akm_p11 *se)
{
	memset(se, 0, sizeof *se);
	if (module == NULL || token == NULL)
		return akm_report(AKM_RC_USAGE, c->cmd, "--se-module PATH and --se-token URI|LABEL are required");
	return open_logged_in(c, se, module, token, pin_file, "AKM_SE_PIN", "Secure element PIN: ", "SE PIN",
	                      "secure element: ", false);
}

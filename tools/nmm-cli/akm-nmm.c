/*
 * akm-nmm: the AKM provisioning station (docs/akm-nmm.md), the command line
 * of the station library (tools/station/).  This file: the command table,
 * the options akm-nmm knows, the parser that puts each command's options
 * into its own option struct, the usage text, and opening the tokens.
 * Options may come before or after the command word.
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include "akm-config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The commands, in the order of the usage text. */
static const nmm_cli_cmd *const commands[] = {
	&nmm_cmd_init, &nmm_cmd_anchor, &nmm_cmd_provision, &nmm_cmd_enroll, &nmm_cmd_approve, &nmm_cmd_reject,
	&nmm_cmd_revoke, &nmm_cmd_reinstate,
	&nmm_cmd_export, &nmm_cmd_write_se, &nmm_cmd_verify, &nmm_cmd_list, &nmm_cmd_show, &nmm_cmd_audit, &nmm_cmd_status,
	&nmm_cmd_asr, &nmm_cmd_policy, &nmm_cmd_tokens,
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static const char common_usage[] =
	"Common options: --module PATH (or AKM_MODULE), --token URI|LABEL (or AKM_TOKEN),\n"
	"  --pin-file FILE|- (or AKM_PIN, or a prompt), --json, -v/--verbose, -q/--quiet,\n"
	"  -h/--help, --version.  Each option may be given once.\n"
	"Exit: 0 ok, 1 usage, 2 refused (a wrong PIN among them), 3 not found, 4 token/module\n"
	"  failure, 5 file-system error, 6 verification failed, 7 the station service could\n"
	"  not be reached or the node did not answer in time (docs/exit-codes.md).\n";

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

/* ---- options: getopt_long over the common options and every command's ---- */

enum { OPT_MODULE = 256, OPT_TOKEN, OPT_PIN_FILE, OPT_JSON, OPT_VERSION, OPT_FIRST_OWN = 512 };
static const struct option common_longs[] = {
	{"module", required_argument, NULL, OPT_MODULE}, {"token", required_argument, NULL, OPT_TOKEN},
	{"pin-file", required_argument, NULL, OPT_PIN_FILE}, {"json", no_argument, NULL, OPT_JSON},
	{"version", no_argument, NULL, OPT_VERSION}, {"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
};
enum { NCOMMON_LONGS = sizeof common_longs / sizeof common_longs[0] };

/* The options of every command, each name once: own[i] is the first
 * command option of that name (its kind), getopt's value OPT_FIRST_OWN + i. */
typedef struct opt_table {
	struct option *longs;
	const nmm_cli_opt **own;
	size_t nown;
} opt_table;

static int build_table(opt_table *t)
{
	size_t max = 0;
	for (size_t c = 0; c < NCOMMANDS; c++)
		max += commands[c]->nopts;
	t->longs = calloc(NCOMMON_LONGS + max + 1, sizeof *t->longs);
	t->own = calloc(max + 1, sizeof *t->own);
	t->nown = 0;
	if (t->longs == NULL || t->own == NULL)
		return -1;
	memcpy(t->longs, common_longs, sizeof common_longs);
	size_t n = NCOMMON_LONGS;
	for (size_t c = 0; c < NCOMMANDS; c++)
		for (size_t k = 0; k < commands[c]->nopts; k++) {
			const nmm_cli_opt *o = &commands[c]->opts[k];
			size_t i = 0;
			while (i < t->nown && strcmp(t->own[i]->name, o->name) != 0)
				i++;
			if (i < t->nown) {
				if (t->own[i]->kind != o->kind) { /* a programming error, caught by any test */
					fprintf(stderr, "akm-nmm: option %s: two kinds\n", o->name);
					abort();
				}
				continue;
			}
			t->own[t->nown] = o;
			t->longs[n++] = (struct option){o->name + 2, o->kind == NMM_KIND_FLAG ? no_argument : required_argument,
			                                NULL, OPT_FIRST_OWN + (int)t->nown};
			t->nown++;
		}
	return 0;
}

static const nmm_cli_opt *cmd_option(const nmm_cli_cmd *c, const char *name)
{
	for (size_t k = 0; k < c->nopts; k++)
		if (strcmp(c->opts[k].name, name) == 0)
			return &c->opts[k];
	return NULL;
}

/* An option as given: getopt's value, and its value. */
typedef struct given {
	int opt;
	const char *text;
} given;

/* The name of getopt's value opt, "--name" (or "-v"...). */
static const char *opt_name(const opt_table *t, int opt, char buf[64])
{
	if (opt >= OPT_FIRST_OWN)
		return t->own[opt - OPT_FIRST_OWN]->name;
	for (size_t i = 0; i < NCOMMON_LONGS; i++)
		if (common_longs[i].val == opt) {
			snprintf(buf, 64, "--%s", common_longs[i].name);
			return buf;
		}
	return "?";
}

/* Parses the command line into cli and the command's option struct.
 * Options may come before or after the command word.  Returns -1 to go on,
 * or the exit code. */
static int parse(int argc, char **argv, nmm_cli *cli, const nmm_cli_cmd **cmdp, void **optsp, given *seen,
                 char **args)
{
	opt_table t;
	if (build_table(&t) != 0) {
		free(t.longs);
		free(t.own);
		return akm_report(AKM_RC_USAGE, "akm-nmm", "out of memory");
	}
	const nmm_cli_cmd *cmd = NULL;
	const char *unknown_cmd = NULL;
	bool help = false, version = false;
	size_t nseen = 0;
	int nargs = 0, code = -1;
	opterr = 0;
	optind = 1;
	int opt;
	/* "-": arguments in order, as value 1; "--" ends the options. */
	while (code < 0 && (opt = getopt_long(argc, argv, "-:hvq", t.longs, NULL)) != -1) {
		if (opt == 1) {
			if (cmd == NULL && unknown_cmd == NULL) {
				for (size_t k = 0; k < NCOMMANDS; k++)
					if (strcmp(optarg, commands[k]->name) == 0)
						cmd = commands[k];
				if (cmd == NULL)
					unknown_cmd = optarg;
			} else {
				args[nargs++] = optarg;
			}
			continue;
		}
		if (opt == '?' || opt == ':') {
			code = akm_report_bad_option(t.longs, argv[optind - 1], opt);
			break;
		}
		if (opt == 'h') {
			help = true;
			continue;
		}
		char buf[64];
		for (size_t s = 0; s < nseen; s++)
			if (seen[s].opt == opt)
			{
				char msg[128];
				snprintf(msg, sizeof msg, "%s given twice", opt_name(&t, opt, buf));
				code = akm_report_why(AKM_RC_USAGE, cmd ? cmd->name : msg, cmd ? msg : NULL);
			}
		seen[nseen++] = (given){opt, optarg};
	}
	for (; optind < argc; optind++) { /* after "--" */
		if (cmd == NULL && unknown_cmd == NULL) {
			for (size_t k = 0; k < NCOMMANDS; k++)
				if (strcmp(argv[optind], commands[k]->name) == 0)
					cmd = commands[k];
			if (cmd == NULL)
				unknown_cmd = argv[optind];
		} else {
			args[nargs++] = argv[optind];
		}
	}
	for (size_t s = 0; s < nseen; s++) {
		version = version || seen[s].opt == OPT_VERSION;
		if (seen[s].opt == 'v')
			akm_report_verbosity(AKM_VERBOSITY_DETAIL);
		if (seen[s].opt == 'q')
			akm_report_verbosity(AKM_VERBOSITY_QUIET);
	}
	if (code >= 0)
		goto done;
	if (version) {
		printf("akm-nmm (akm-pkcs11) %s\n", AKM_VERSION);
		code = AKM_RC_OK;
		goto done;
	}
	if (unknown_cmd != NULL) {
		fprintf(stderr, "akm-nmm: %s: no such command\n", unknown_cmd);
		usage_all(stderr);
		code = AKM_RC_USAGE;
		goto done;
	}
	if (cmd == NULL) {
		usage_all(help ? stdout : stderr);
		code = help ? AKM_RC_OK : AKM_RC_USAGE;
		goto done;
	}
	if (help) {
		usage_one(stdout, cmd);
		code = AKM_RC_OK;
		goto done;
	}
	void *opts = calloc(1, cmd->opts_size);
	if (opts == NULL) {
		code = akm_report(AKM_RC_USAGE, "akm-nmm", "out of memory");
		goto done;
	}
	for (size_t s = 0; s < nseen && code < 0; s++) {
		given *g = &seen[s];
		switch (g->opt) {
		case OPT_MODULE: cli->module = g->text; continue;
		case OPT_TOKEN: cli->token = g->text; continue;
		case OPT_PIN_FILE: cli->pin_file = g->text; continue;
		case OPT_JSON: cli->json = true; continue;
		case OPT_VERSION: case 'v': case 'q': continue;
		default: break;
		}
		const nmm_cli_opt *o = cmd_option(cmd, t.own[g->opt - OPT_FIRST_OWN]->name);
		if (o == NULL) {
			code = akm_report(AKM_RC_USAGE, cmd->name, "option %s does not apply to %s (see --help)",
			                  t.own[g->opt - OPT_FIRST_OWN]->name, cmd->name);
			break;
		}
		char *base = opts;
		if (o->kind == NMM_KIND_FLAG) {
			*(bool *)(base + o->off) = true;
		} else if (o->kind == NMM_KIND_TEXT) {
			*(const char **)(base + o->off) = g->text;
		} else {
			unsigned long number;
			if (parse_number(g->text, &number) != 0) {
				code = akm_report(AKM_RC_USAGE, cmd->name, "%s: needs a whole number, not \"%s\"", o->name,
				                  g->text);
				break;
			}
			*(unsigned long *)(base + o->off) = number;
			*(bool *)(base + o->set_off) = true;
		}
	}
	if (code < 0 && (nargs < cmd->min_args || nargs > cmd->max_args)) {
		if (nargs < cmd->min_args)
			akm_report(AKM_RC_USAGE, cmd->name, "missing argument");
		else
			akm_report(AKM_RC_USAGE, cmd->name, "unexpected argument \"%s\"", args[cmd->max_args]);
		usage_one(stderr, cmd);
		code = AKM_RC_USAGE;
	}
	if (code >= 0) {
		free(opts);
		goto done;
	}
	cli->cmd = cmd->name;
	cli->args = args;
	cli->nargs = nargs;
	*cmdp = cmd;
	*optsp = opts;
done:
	free(t.longs);
	free(t.own);
	return code;
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
/* `keep` (when not NULL) gets the PIN, for nmm_cli_station_reopen. */
static int open_logged_in(const nmm_cli *c, akm_p11 *p, const char *module, const char *token,
                          const char *pin_file, const char *pin_env, const char *prompt, const char *pin_what,
                          const char *prefix, bool station, akm_secret *keep)
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
	if (code == AKM_RC_OK) {
		char label[AKM_ESCAPED(32)], serial[AKM_ESCAPED(16)];
		akm_note(c->cmd, "%smodule %s, token \"%s\" (serial %s), logging in", prefix, module,
		         akm_p11_text(p->token.label, sizeof p->token.label, label, sizeof label),
		         akm_p11_text(p->token.serialNumber, sizeof p->token.serialNumber, serial, sizeof serial));
	}
	/* A wrong or locked PIN is refused input: one code in every tool
	 * (docs/exit-codes.md). */
	if (code == AKM_RC_OK && akm_p11_login(p, pin.data, pin.len) != 0)
		code = akm_report(strstr(p->err, "CKR_PIN_") ? AKM_RC_REFUSED : AKM_RC_TOKEN, c->cmd, "%s%s", prefix,
		                  p->err);
	if (code == AKM_RC_OK && keep != NULL)
		*keep = pin;
	else
		akm_secret_free(&pin);
	if (code != AKM_RC_OK)
		akm_p11_close(p);
	return code;
}

static int token_open(const nmm_cli *c, akm_p11 *p, akm_secret *keep)
{
	memset(p, 0, sizeof *p);
	akm_p11_target t;
	char err[2200];
	if (akm_p11_resolve(&t, c->module, c->token, c->pin_file, "AKM_MODULE", "AKM_TOKEN", err, sizeof err) != 0)
		return akm_report(AKM_RC_USAGE, c->cmd, "%s", err);
	if (t.module == NULL || *t.module == '\0')
		return akm_report(AKM_RC_USAGE, c->cmd, "no PKCS#11 module: give --module or set AKM_MODULE");
	return open_logged_in(c, p, t.module, t.token, t.pin_file, "AKM_PIN", "Station token PIN: ", "PIN", "", true,
	                      keep);
}

int nmm_cli_token_open(const nmm_cli *c, akm_p11 *p)
{
	return token_open(c, p, NULL);
}

static int station_open(const nmm_cli *c, nmm_station *s, akm_secret *keep)
{
	memset(s, 0, sizeof *s);
	int code = token_open(c, &s->p, keep);
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

int nmm_cli_station_open(const nmm_cli *c, nmm_station *s)
{
	return station_open(c, s, NULL);
}

int nmm_cli_station_open_reopenable(nmm_cli_reopen *r, nmm_station *s)
{
	r->pin = (akm_secret){0};
	int code = station_open(r->c, s, &r->pin);
	if (code != AKM_RC_OK)
		return code;
	akm_p11_target t;
	char err[2200];
	if (akm_p11_resolve(&t, r->c->module, r->c->token, r->c->pin_file, "AKM_MODULE", "AKM_TOKEN", err,
	                    sizeof err) != 0) {
		nmm_cli_reopen_end(r);
		nmm_station_close(s);
		return akm_report(AKM_RC_USAGE, r->c->cmd, "%s", err);
	}
	snprintf(r->token, sizeof r->token, "%s", t.token ? t.token : "");
	r->any_token = t.token == NULL;
	return AKM_RC_OK;
}

int nmm_cli_station_reopen(nmm_station *s, void *ctx)
{
	nmm_cli_reopen *r = ctx;
	if (nmm_station_reopen(s, r->any_token ? NULL : r->token, r->pin.data, r->pin.len) != AKM_RC_OK)
		return akm_report(AKM_RC_TOKEN, r->c->cmd, "opening the token again: %s", s->p.err);
	return AKM_RC_OK;
}

void nmm_cli_reopen_end(nmm_cli_reopen *r)
{
	akm_secret_free(&r->pin);
}

int nmm_cli_se_open(const nmm_cli *c, const char *module, const char *token, const char *pin_file, akm_p11 *se)
{
	memset(se, 0, sizeof *se);
	akm_p11_target t;
	char err[2200];
	if (akm_p11_resolve(&t, module, token, pin_file, NULL, NULL, err, sizeof err) != 0)
		return akm_report(AKM_RC_USAGE, c->cmd, "secure element: %s", err);
	if (t.module == NULL || t.token == NULL)
		return akm_report(AKM_RC_USAGE, c->cmd, "--se-module PATH and --se-token URI|LABEL are required");
	return open_logged_in(c, se, t.module, t.token, t.pin_file, "AKM_SE_PIN", "Secure element PIN: ", "SE PIN",
	                      "secure element: ", false, NULL);
}

/*
 * akm-node: the node side of provisioning (docs/akm-node.md), the command
 * line of the node library (tools/node/).  A thin PKCS#11 client of the
 * node's own token (its secure element, or any PKCS#11 token).  This file:
 * the command table, the options (common ones before the command, the
 * command's own after it), the usage text, and opening the token.
 *
 *   akm-node [--module PATH] [--token URI|LABEL] [--pin-file FILE] [--json]
 *            (hw-id | trust | import | id | request | activate | checkin | report |
 *             enroll | rekey | seal | open | asr | refresh)
 *            [options]
 *
 * Exit status: the tools' one table (tools/shared/report.h,
 * docs/exit-codes.md).
 */
#include "node-cli/cli.h"

#include "akm-config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const node_cli_cmd *const commands[] = {
	&node_cmd_hw_id, &node_cmd_trust, &node_cmd_import, &node_cmd_id, &node_cmd_request,
	&node_cmd_activate, &node_cmd_checkin, &node_cmd_report, &node_cmd_enroll, &node_cmd_rekey, &node_cmd_seal,
	&node_cmd_open, &node_cmd_asr, &node_cmd_refresh, &node_cmd_tokens,
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static const char common_help[] =
	"Common options:\n"
	"  --module PATH       the token's PKCS#11 module (else $AKM_MODULE)\n"
	"  --token URI|LABEL   the token: a PKCS#11 URI or its label (else $AKM_TOKEN,\n"
	"                      else the only token of the module)\n"
	"  --pin-file FILE|-   the user PIN, first line of FILE or of stdin (else $AKM_PIN,\n"
	"                      else a prompt)\n"
	"  --json              machine-readable output on stdout\n"
	"  -v, --verbose       progress and details on stderr\n"
	"  -q, --quiet         only errors on stderr\n"
	"  -h, --help          this help; --version: the version\n"
	"Each option may be given once.\n";

static void usage_all(FILE *to)
{
	fputs("usage: akm-node [common options] COMMAND [options]\n"
	      "Commands:\n",
	      to);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(to, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	fputs("'akm-node COMMAND --help' describes each.\n", to);
	fputs(common_help, to);
	fputs("Exit status: 0 ok, 1 usage, 2 refused (a wrong PIN among them), 3 not found,\n"
	      "4 token or module failure, 5 file-system error, 6 verification failed,\n"
	      "7 station unreachable (docs/exit-codes.md).\n", to);
}

void node_cli_usage(const node_cli_cmd *cmd, FILE *to)
{
	fputs(cmd->help, to);
	fputs(common_help, to);
}

int node_cli_args(const node_cli_cmd *cmd, int npos, int want)
{
	if (npos == want)
		return 0;
	fprintf(stderr, "akm-node: %s: %s\n", cmd->name, npos < want ? "missing argument" : "too many arguments");
	node_cli_usage(cmd, stderr);
	return AKM_RC_USAGE;
}

/* ---- options ---- */

enum { OPT_MODULE = 256, OPT_TOKEN, OPT_PIN_FILE, OPT_JSON, OPT_VERSION, OPT_FIRST_OWN };
enum { OWN_MAX = 32 };

/* getopt_long's table: the common options, then every command's own
 * (each name once), in command order. */
static const struct option common_longs[] = {
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
};
enum { NCOMMON_LONGS = sizeof common_longs / sizeof common_longs[0] };

typedef struct opt_table {
	struct option longs[NCOMMON_LONGS + OWN_MAX + 1];
	const char *own[OWN_MAX]; /* the name of OPT_FIRST_OWN + i */
	size_t nown;
	int seen[NCOMMON_LONGS + OWN_MAX]; /* getopt values given so far */
	size_t nseen;
	bool version;
} opt_table;

static void build_table(opt_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i < NCOMMON_LONGS; i++)
		t->longs[n++] = common_longs[i];
	t->nown = 0;
	t->nseen = 0;
	t->version = false;
	for (size_t c = 0; c < NCOMMANDS; c++)
		for (size_t k = 0; k < commands[c]->nopts; k++) {
			const char *name = commands[c]->opts[k].name;
			bool flag = commands[c]->opts[k].flag;
			bool known = false;
			for (size_t i = 0; i < t->nown; i++)
				known = known || strcmp(t->own[i], name) == 0;
			if (known)
				continue;
			if (t->nown == OWN_MAX) { /* a programming error, caught by any test */
				fprintf(stderr, "akm-node: more than %d options: raise OWN_MAX\n", OWN_MAX);
				abort();
			}
			t->own[t->nown] = name;
			t->longs[n++] = (struct option){ name, flag ? no_argument : required_argument, NULL,
			                                 OPT_FIRST_OWN + (int)t->nown };
			t->nown++;
		}
	t->longs[n] = (struct option){ NULL, 0, NULL, 0 };
}

static const node_cli_opt *own_option(const node_cli_cmd *cmd, const char *name)
{
	for (size_t k = 0; cmd != NULL && k < cmd->nopts; k++)
		if (strcmp(cmd->opts[k].name, name) == 0)
			return &cmd->opts[k];
	return NULL;
}

/* The name of getopt's value opt: "--name" (or "-v"). */
static const char *opt_name(const opt_table *t, int opt, char buf[64])
{
	const char *name = opt >= OPT_FIRST_OWN ? t->own[opt - OPT_FIRST_OWN] : NULL;
	for (size_t i = 0; name == NULL && i < NCOMMON_LONGS; i++)
		if (common_longs[i].val == opt)
			name = common_longs[i].name;
	snprintf(buf, 64, "--%s", name ? name : "?");
	return buf;
}

/* Parses options: the common ones before the command (cmd NULL), then the
 * command's (the common ones also there).  Each option once.  Returns 0 or
 * AKM_RC_USAGE. */
static int parse(opt_table *t, int argc, char **argv, const node_cli_cmd *cmd, node_cli *c, void *opts,
                 bool *help)
{
	opterr = 0;
	int opt;
	char buf[64];
	while ((opt = getopt_long(argc, argv, cmd ? ":hvq" : "+:hvq", t->longs, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return akm_report_bad_option(t->longs, argv[optind - 1], opt);
		if (opt == 'h') {
			*help = true;
			continue;
		}
		for (size_t i = 0; i < t->nseen; i++)
			if (t->seen[i] == opt)
			{
				char msg[128];
				snprintf(msg, sizeof msg, "%s given twice", opt_name(t, opt, buf));
				return akm_report_why(AKM_RC_USAGE, cmd ? cmd->name : msg, cmd ? msg : NULL);
			}
		t->seen[t->nseen++] = opt;
		const node_cli_opt *own = opt >= OPT_FIRST_OWN ? own_option(cmd, t->own[opt - OPT_FIRST_OWN]) : NULL;
		if (opt >= OPT_FIRST_OWN && own == NULL) {
			if (cmd == NULL) {
				char msg[128];
				snprintf(msg, sizeof msg, "option %s goes after the command", opt_name(t, opt, buf));
				return akm_report_why(AKM_RC_USAGE, msg, NULL);
			}
			return akm_report(AKM_RC_USAGE, cmd->name, "option %s does not apply to %s (see --help)",
			                  opt_name(t, opt, buf), cmd->name);
		}
		switch (opt) {
		case OPT_MODULE: c->module = optarg; break;
		case OPT_TOKEN: c->token = optarg; break;
		case OPT_PIN_FILE: c->pin_file = optarg; break;
		case OPT_JSON: c->json = true; break;
		case OPT_VERSION: t->version = true; break;
		case 'v': akm_report_verbosity(AKM_VERBOSITY_DETAIL); break;
		case 'q': akm_report_verbosity(AKM_VERBOSITY_QUIET); break;
		default:
			if (own->flag)
				*(bool *)((char *)opts + own->off) = true;
			else
				*(const char **)((char *)opts + own->off) = optarg;
			break;
		}
	}
	return 0;
}

/* The command line, the command: its exit code. */
static int run(int argc, char **argv)
{
	akm_secret_init();
	akm_report_program("akm-node");
	opt_table t;
	build_table(&t);
	node_cli c;
	memset(&c, 0, sizeof c);
	bool help = false;
	if (parse(&t, argc, argv, NULL, &c, NULL, &help) != 0)
		return AKM_RC_USAGE;
	if (t.version) {
		printf("akm-node (akm-pkcs11) %s\n", AKM_VERSION);
		return AKM_RC_OK;
	}
	if (optind >= argc) {
		usage_all(help ? stdout : stderr);
		return help ? AKM_RC_OK : AKM_RC_USAGE;
	}
	const char *name = argv[optind];
	const node_cli_cmd *cmd = NULL;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			cmd = commands[i];
	if (cmd == NULL) {
		fprintf(stderr, "akm-node: unknown command %s\n", name);
		usage_all(stderr);
		return AKM_RC_USAGE;
	}
	void *opts = calloc(1, cmd->opts_size);
	if (opts == NULL)
		return akm_report_why(AKM_RC_USAGE, "out of memory", NULL);
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; /* glibc: start over, on the command's arguments */
	int code;
	if (parse(&t, sub_argc, sub_argv, cmd, &c, opts, &help) != 0) {
		node_cli_usage(cmd, stderr);
		code = AKM_RC_USAGE;
	} else if (t.version) {
		printf("akm-node (akm-pkcs11) %s\n", AKM_VERSION);
		code = AKM_RC_OK;
	} else if (help) {
		node_cli_usage(cmd, stdout);
		code = AKM_RC_OK;
	} else {
		code = cmd->run(&c, opts, sub_argc - optind, sub_argv + optind);
	}
	free(opts);
	return code;
}

/* Whatever the command printed (text, --json, --help) must have reached
 * stdout: a success whose output was lost is exit 5. */
int main(int argc, char **argv)
{
	return akm_stdout_finish(run(argc, argv));
}

/* ---- the token ---- */

int node_cli_token_open(const node_cli *c, akm_p11 *p, bool login)
{
	akm_p11_target t;
	char err[2200];
	memset(p, 0, sizeof *p);
	if (akm_p11_resolve(&t, c->module, c->token, c->pin_file, "AKM_MODULE", "AKM_TOKEN", err, sizeof err) != 0)
		return akm_report_why(AKM_RC_USAGE, "the token", err);
	if (t.module == NULL || t.module[0] == '\0')
		return akm_report_why(AKM_RC_USAGE, "no PKCS#11 module", "give --module PATH or set AKM_MODULE");
	if (akm_p11_open(p, t.module, t.token) != 0)
		return akm_report_why(AKM_RC_TOKEN, "opening the token", p->err);
	char label[AKM_ESCAPED(32)], serial[AKM_ESCAPED(16)];
	akm_note("the token", "module %s, token \"%s\" (serial %s)%s", t.module,
	         akm_p11_text(p->token.label, sizeof p->token.label, label, sizeof label),
	         akm_p11_text(p->token.serialNumber, sizeof p->token.serialNumber, serial, sizeof serial),
	         login ? ", logging in" : "");
	if (!login)
		return 0;
	akm_secret pin = { 0 };
	if (akm_secret_read(&pin, t.pin_file, "AKM_PIN", "User PIN: ", "PIN", err, sizeof err) != 0)
		return akm_report_why(AKM_RC_USAGE, "logging in", err);
	int rc = akm_p11_login(p, pin.data, pin.len);
	akm_secret_free(&pin);
	if (rc != 0)
		return akm_report_why(strstr(p->err, "CKR_PIN_") ? AKM_RC_REFUSED : AKM_RC_TOKEN, "logging in", p->err);
	return 0;
}

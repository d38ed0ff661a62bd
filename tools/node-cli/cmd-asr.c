/* akm-node enroll, rekey, seal, open, asr, refresh (docs/akm-node.md,
 * docs/asr.md): the node as a member of operational ASRs, through
 * akm-pkcs11.so over its token. */
#define _POSIX_C_SOURCE 200809L
#include "node-cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hex.h"
#include "shared/files.h"

typedef struct asr_opts {
	const char *dir, *asr, *in, *out, *step;
} asr_opts;

/* The token, logged in, which must be akm-pkcs11's. */
static int open_member(const node_cli *c, akm_p11 *p, const char *what)
{
	int rc = node_cli_token_open(c, p, true);
	if (rc != 0)
		return rc;
	char err[512];
	if (akm_node_asr_check_module(p, err, sizeof err) != 0)
		return akm_report_why(AKM_RC_TOKEN, what, err);
	return 0;
}

/* A file, or standard input for NULL or "-", of at most max bytes. */
static int read_input(const char *path, size_t max, uint8_t **data, size_t *len)
{
	if (path != NULL && strcmp(path, "-") != 0) {
		akm_read_rc r = akm_read_file(path, max, data, len);
		if (r == AKM_READ_OK)
			return 0;
		if (r == AKM_READ_TOO_BIG)
			return akm_report_why(AKM_RC_REFUSED, path, "larger than an ASR message may be");
		return akm_report_why(AKM_RC_FILES, path, r == AKM_READ_OPEN ? strerror(errno) : "cannot be read");
	}
	uint8_t *buf = malloc(max + 1);
	size_t n = 0;
	if (buf == NULL)
		return akm_report_why(AKM_RC_FILES, "standard input", "out of memory");
	for (;;) {
		size_t got = fread(buf + n, 1, max + 1 - n, stdin);
		n += got;
		if (got == 0 || n > max)
			break;
	}
	if (ferror(stdin) || n > max) {
		free(buf);
		return akm_report_why(n > max ? AKM_RC_REFUSED : AKM_RC_FILES, "standard input",
		                      n > max ? "larger than an ASR message may be" : "read error");
	}
	*data = buf;
	*len = n;
	return 0;
}

/* To a file (atomically) or to standard output for NULL or "-". */
static int write_output(const char *path, const uint8_t *data, size_t len)
{
	if (path != NULL && strcmp(path, "-") != 0) {
		char err[512];
		if (akm_write_atomic(NULL, path, data, len, 0600, err, sizeof err) != 0)
			return akm_report_why(AKM_RC_FILES, path, err);
		return 0;
	}
	if (fwrite(data, 1, len, stdout) != len)
		return akm_report_why(AKM_RC_FILES, "standard output", strerror(errno));
	return 0;
}

static void json_asr(akm_json *j, const akm_node_asr *a)
{
	akm_json_kv_string(j, "name", a->name);
	akm_json_kv_hex(j, "asr_id", a->id, a->id_len);
	akm_json_kv_uint(j, "generation", a->epoch >> 32);
	akm_json_kv_uint(j, "step", a->epoch & 0xFFFFFFFFUL);
	akm_json_kv_uint(j, "member_index", a->leaf);
	akm_json_kv_uint(j, "members", a->members);
	akm_json_kv_uint(j, "capacity", a->capacity);
}

static int print_asr(const node_cli *c, const char *verb, const akm_node_asr *a)
{
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		json_asr(&j, a);
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	printf("%s %s: generation %lu, step %lu; this node is member index %lu; %lu members (capacity %lu)\n", verb,
	       a->name, (unsigned long)(a->epoch >> 32), (unsigned long)(a->epoch & 0xFFFFFFFFUL), (unsigned long)a->leaf,
	       (unsigned long)a->members, (unsigned long)a->capacity);
	return 0;
}

/* ---- enroll ---- */

static int enroll_file(akm_p11 *p, const char *path, akm_node_asr *a)
{
	uint8_t *buf;
	size_t len;
	int rc = read_input(path, akm_asr_package_max(), &buf, &len);
	if (rc != 0)
		return rc;
	char err[512];
	rc = akm_node_enroll(p, buf, len, a, err, sizeof err);
	free(buf);
	return rc == AKM_RC_OK ? 0 : akm_report_why(rc, path, err);
}

/* --dir: every *.akma whose PR this token holds (the others are for other
 * nodes and are left alone). */
static int enroll_dir(const node_cli *c, akm_p11 *p, const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return akm_report_why(AKM_RC_FILES, dir, strerror(errno));
	int rc = 0;
	size_t done = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".akma") != 0 || e->d_name[0] == '.')
			continue;
		char path[4096];
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		uint8_t *buf;
		size_t len;
		akm_asr_package pkg;
		size_t signed_len;
		if (akm_read_file(path, akm_asr_package_max(), &buf, &len) != AKM_READ_OK)
			continue;
		bool mine = false;
		if (akm_asr_package_parse(buf, len, &pkg, &signed_len) == AKM_FMT_OK)
			mine = akm_node_holds_pr(p, pkg.pr_id, pkg.pr_id_len, NULL) == 1;
		free(buf);
		if (!mine)
			continue;
		akm_node_asr a;
		if ((rc = enroll_file(p, path, &a)) == 0 && (rc = print_asr(c, "enrolled in", &a)) == 0)
			done++;
	}
	closedir(d);
	if (rc == 0 && done == 0)
		return akm_report_why(AKM_RC_NOT_FOUND, dir, "no ASR package for this node");
	return rc;
}

static int run_enroll(const node_cli *c, const void *opts, int npos, char **pos)
{
	const asr_opts *o = opts;
	if (o->dir == NULL && npos != 1)
		return node_cli_args(&node_cmd_enroll, npos, 1);
	if (o->dir != NULL && npos != 0)
		return node_cli_args(&node_cmd_enroll, npos, 0);
	akm_p11 p;
	int rc = open_member(c, &p, "enroll");
	if (rc == 0 && o->dir != NULL) {
		rc = enroll_dir(c, &p, o->dir);
	} else if (rc == 0) {
		akm_node_asr a;
		if ((rc = enroll_file(&p, pos[0], &a)) == 0)
			rc = print_asr(c, "enrolled in", &a);
	}
	akm_p11_close(&p);
	return rc;
}

/* ---- rekey ---- */

static int run_rekey(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)opts;
	int rc = node_cli_args(&node_cmd_rekey, npos, 1);
	if (rc != 0)
		return rc;
	uint8_t *buf;
	size_t len;
	if ((rc = read_input(pos[0], akm_asr_rekey_max(), &buf, &len)) != 0)
		return rc;
	akm_p11 p;
	if ((rc = open_member(c, &p, "rekey")) == 0) {
		akm_node_asr a;
		char err[512];
		rc = akm_node_rekey(&p, buf, len, &a, err, sizeof err);
		rc = rc == AKM_RC_OK ? print_asr(c, "rekeyed", &a) : akm_report_why(rc, pos[0], err);
	}
	free(buf);
	akm_p11_close(&p);
	return rc;
}

/* ---- seal, open ---- */

static int find_asr(akm_p11 *p, const char *name, akm_node_asr *a)
{
	int f = akm_node_asr_find(p, name, NULL, 0, a);
	if (f < 0)
		return akm_report_why(AKM_RC_TOKEN, "--asr", p->err);
	if (f == 0)
		return akm_report_why(AKM_RC_NOT_FOUND, name, "this node is not a member of an ASR of that name "
		                      "(akm-node asr lists them)");
	return 0;
}

static int run_seal(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	const asr_opts *o = opts;
	int rc = node_cli_args(&node_cmd_seal, npos, 0);
	if (rc != 0)
		return rc;
	if (o->asr == NULL)
		return akm_report_why(AKM_RC_USAGE, "seal", "--asr NAME is required");
	uint8_t *in;
	size_t len;
	if ((rc = read_input(o->in, AKM_ASR_PLAIN_MAX, &in, &len)) != 0)
		return rc;
	akm_p11 p;
	akm_node_asr a;
	uint8_t *msg = NULL;
	size_t mlen = 0;
	if ((rc = open_member(c, &p, "seal")) == 0 && (rc = find_asr(&p, o->asr, &a)) == 0) {
		char err[512];
		rc = akm_node_seal(&p, &a, in, len, &msg, &mlen, err, sizeof err);
		if (rc != AKM_RC_OK)
			rc = akm_report_why(rc, "seal", err);
	}
	akm_p11_close(&p);
	free(in);
	if (rc == 0) {
		akm_asr_message h;
		if (akm_asr_message_parse(msg, mlen, &h) != AKM_FMT_OK)
			rc = akm_report_why(AKM_RC_TOKEN, "seal", "the module's message does not parse");
		else if (c->json && o->out == NULL)
			rc = akm_report_why(AKM_RC_USAGE, "seal", "--json needs --out FILE (the message is binary)");
		else if ((rc = write_output(o->out, msg, mlen)) == 0 && c->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "asr", a.name);
			akm_json_kv_uint(&j, "generation", h.gen);
			akm_json_kv_uint(&j, "step", h.step);
			akm_json_kv_uint(&j, "sender", h.sender);
			akm_json_kv_uint(&j, "seq", h.seq);
			akm_json_kv_uint(&j, "bytes", mlen);
			akm_json_object_end(&j);
			rc = akm_json_finish(&j);
		}
	}
	free(msg);
	return rc;
}

static int run_open(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	const asr_opts *o = opts;
	int rc = node_cli_args(&node_cmd_open, npos, 0);
	if (rc != 0)
		return rc;
	uint8_t *msg;
	size_t len;
	if ((rc = read_input(o->in, akm_asr_message_header_len(AKM_FMT_ID_MAX) + AKM_ASR_PLAIN_MAX + AKM_ASR_TAG_LEN,
	                     &msg, &len)) != 0)
		return rc;
	akm_p11 p;
	akm_node_asr a;
	akm_asr_message h;
	uint8_t *plain = NULL;
	size_t plen = 0;
	if ((rc = open_member(c, &p, "open")) == 0) {
		char err[512];
		rc = akm_node_open(&p, msg, len, &h, &a, &plain, &plen, err, sizeof err);
		if (rc != AKM_RC_OK)
			rc = akm_report_why(rc, o->in ? o->in : "the message", err);
	}
	akm_p11_close(&p);
	if (rc == 0) {
		if (c->json) {
			if (o->out != NULL)
				rc = write_output(o->out, plain, plen);
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "asr", a.name);
			akm_json_kv_uint(&j, "generation", h.gen);
			akm_json_kv_uint(&j, "step", h.step);
			akm_json_kv_uint(&j, "sender", h.sender);
			akm_json_kv_uint(&j, "seq", h.seq);
			akm_json_kv_uint(&j, "bytes", plen);
			if (o->out == NULL)
				akm_json_kv_hex(&j, "plaintext", plain, plen);
			akm_json_object_end(&j);
			if (rc == 0)
				rc = akm_json_finish(&j);
		} else {
			rc = write_output(o->out, plain, plen);
		}
	}
	if (plain != NULL)
		explicit_bzero(plain, plen);
	free(plain);
	free(msg);
	return rc;
}

/* ---- asr, refresh ---- */

static int run_asr(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)opts;
	(void)pos;
	int rc = node_cli_args(&node_cmd_asr, npos, 0);
	if (rc != 0)
		return rc;
	akm_p11 p;
	akm_node_asr *v = NULL;
	size_t n = 0;
	if ((rc = open_member(c, &p, "asr")) == 0 && akm_node_asr_list(&p, &v, &n) != 0)
		rc = akm_report_why(AKM_RC_TOKEN, "asr", p.err);
	akm_p11_close(&p);
	if (rc != 0)
		return rc;
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "asrs");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < n; i++) {
			akm_json_object_begin(&j);
			json_asr(&j, &v[i]);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		rc = akm_json_finish(&j);
	} else {
		printf("%-24s %5s %5s %6s %8s\n", "ASR", "GEN", "STEP", "INDEX", "MEMBERS");
		for (size_t i = 0; i < n; i++)
			printf("%-24s %5lu %5lu %6lu %8lu\n", v[i].name, (unsigned long)(v[i].epoch >> 32),
			       (unsigned long)(v[i].epoch & 0xFFFFFFFFUL), (unsigned long)v[i].leaf, (unsigned long)v[i].members);
		printf("%zu ASR%s\n", n, n == 1 ? "" : "s");
	}
	free(v);
	return rc;
}

static int run_refresh(const node_cli *c, const void *opts, int npos, char **pos)
{
	(void)pos;
	const asr_opts *o = opts;
	int rc = node_cli_args(&node_cmd_refresh, npos, 0);
	if (rc != 0)
		return rc;
	if (o->asr == NULL)
		return akm_report_why(AKM_RC_USAGE, "refresh", "--asr NAME is required");
	unsigned long step = 0;
	if (o->step != NULL) {
		char *end;
		errno = 0;
		step = strtoul(o->step, &end, 10);
		if (*o->step < '0' || *o->step > '9' || *end != '\0' || errno != 0 || step > 0xFFFFFFFFUL)
			return akm_report_why(AKM_RC_USAGE, "--step", "a whole number of 0-4294967295");
	}
	akm_p11 p;
	akm_node_asr a;
	if ((rc = open_member(c, &p, "refresh")) == 0 && (rc = find_asr(&p, o->asr, &a)) == 0) {
		CK_ULONG cur = a.epoch & 0xFFFFFFFFUL;
		CK_ULONG to = (a.epoch & ~0xFFFFFFFFUL) | (o->step ? step : cur + 1);
		char err[512];
		rc = akm_node_asr_step(&p, &a, to, err, sizeof err);
		if (rc != AKM_RC_OK)
			rc = akm_report_why(rc, "refresh", err);
	}
	akm_p11_close(&p);
	return rc == 0 ? print_asr(c, "stepped", &a) : rc;
}

static const node_cli_opt enroll_opts[] = {NODE_OPT(asr_opts, dir, "dir")};
static const node_cli_opt seal_opts[] = {
	NODE_OPT(asr_opts, asr, "asr"),
	NODE_OPT(asr_opts, in, "in"),
	NODE_OPT(asr_opts, out, "out"),
};
static const node_cli_opt open_opts[] = {
	NODE_OPT(asr_opts, in, "in"),
	NODE_OPT(asr_opts, out, "out"),
};
static const node_cli_opt refresh_opts[] = {
	NODE_OPT(asr_opts, asr, "asr"),
	NODE_OPT(asr_opts, step, "step"),
};
const node_cli_cmd node_cmd_enroll = {
	"enroll", "join an ASR from the station's signed package",
	"usage: akm-node enroll (PACKAGE | --dir DIR)\n"
	"  Checks the package (the trusted station's signature, this node's PR, a newer\n"
	"  generation) and unwraps its keys inside the token; --dir takes every package\n"
	"  for this node in DIR (*.akma).\n",
	NODE_OPTS(enroll_opts), sizeof(asr_opts), run_enroll,
};
const node_cli_cmd node_cmd_rekey = {
	"rekey", "apply the station's signed rekey message of an ASR",
	"usage: akm-node rekey MESSAGE\n"
	"  The ASR's next generation (after a member was added or removed, or a rekey).\n"
	"  A message that removes this node makes it forget the ASR.\n",
	NULL, 0, sizeof(asr_opts), run_rekey,
};
const node_cli_cmd node_cmd_seal = {
	"seal", "protect a message for the other members of an ASR",
	"usage: akm-node seal --asr NAME [--in FILE] [--out FILE]\n"
	"  Seals FILE (or standard input, at most 65536 bytes) with the ASR's current key\n"
	"  into a message on FILE (or standard output).\n",
	NODE_OPTS(seal_opts), sizeof(asr_opts), run_seal,
};
const node_cli_cmd node_cmd_open = {
	"open", "check and open a message from another member",
	"usage: akm-node open [--in FILE] [--out FILE]\n"
	"  Opens a message of one of this node's ASRs (its sender, epoch and replay\n"
	"  window checked); the plaintext goes to FILE or standard output (--json: its\n"
	"  details, the plaintext in hex unless --out).\n",
	NODE_OPTS(open_opts), sizeof(asr_opts), run_open,
};
const node_cli_cmd node_cmd_asr = {
	"asr", "list the ASRs this node is a member of",
	"usage: akm-node asr\n",
	NULL, 0, sizeof(asr_opts), run_asr,
};
const node_cli_cmd node_cmd_refresh = {
	"refresh", "move an ASR to its next step now",
	"usage: akm-node refresh --asr NAME [--step N]\n"
	"  Derives the next step's key (or step N's, later in this generation) inside the\n"
	"  token and destroys the older ones (the previous one after the grace period).\n",
	NODE_OPTS(refresh_opts), sizeof(asr_opts), run_refresh,
};

/* What the ASR tests share (asr-test.h). */
#include "asr-test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


char service_log[8192];

const char *const nodes[NNODES] = {"node-A", "node-B", "node-C", "node-D", "node-E", "node-F"};
char usb[PATH_MAX + 16], anchor[PATH_MAX + 16];

/* akm-node through akm-pkcs11.so over node i's token (its own
 * configuration and registry). */
int member(char **out, int i, const char *sub, ...)
{
	char conf[PATH_MAX + 64];
	snprintf(conf, sizeof conf, "%s/member-%s.conf", env.dir, nodes[i]);
	struct stat st;
	if (stat(conf, &st) != 0) {
		char text[3 * PATH_MAX];
		int n = snprintf(text, sizeof text,
		                 "backend.module = %s\nbackend.token = pkcs11:token=%s\nregistry.path = %s/member-%s.db\n",
		                 env.softhsm_path, nodes[i], env.dir, nodes[i]);
		write_file(conf, text, (size_t)n);
	}
	const char *argv[NMM_MAX_ARGS];
	size_t n = 0;
	const char *head[] = {node_path, "--module", env.module_path, "--token", nodes[i], "--pin-file", pin_file, sub};
	for (size_t k = 0; k < sizeof head / sizeof head[0]; k++)
		argv[n++] = head[k];
	va_list ap;
	va_start(ap, sub);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL) {
		ck_assert_uint_lt(n, NMM_MAX_ARGS - 1);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	setenv("AKM_PKCS11_CONF", conf, 1);
	int rc = run_argv(argv, out);
	setenv("AKM_PKCS11_CONF", env.akm_conf, 1);
	return rc;
}

/* The station and nodes 0..count-1 provisioned by USB (passphrase bundles)
 * and imported into their tokens. */
void provision(int first, int count)
{
	char *out = NULL, batch[PATH_MAX + 16], pass[PATH_MAX + 16], list[256] = "", text[1024] = "";
	path_in(batch, sizeof batch, "batch.txt");
	path_in(pass, sizeof pass, "pass");
	path_in(usb, sizeof usb, "usb");
	path_in(anchor, sizeof anchor, "station.akmp");
	if (first == 0) {
		write_file(pass, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
		EXPECT_RC(nmm(&out, "init", "--anchor-out", anchor, NULL), 0, out, "init");
		free(out);
		ck_assert_int_eq(mkdir(usb, 0700), 0);
	}
	for (int i = first; i < first + count; i++) {
		char hw[80];
		ck_assert_int_eq(akm_testenv_add_token(&env, nodes[i]), 0);
		node_hw(nodes[i], hw, sizeof hw);
		size_t n = strlen(text);
		snprintf(text + n, sizeof text - n, "%s %s\n", nodes[i], hw);
		n = strlen(list);
		snprintf(list + n, sizeof list - n, "%s%s", n ? "," : "", nodes[i]);
	}
	write_file(batch, text, strlen(text));
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, "--delivery", "passphrase", NULL), 0, out, "provision");
	free(out);
	EXPECT_RC(nmm(&out, "export", "--nodes", list, "--out", usb, "--protection", "passphrase", "--passphrase-file",
	              pass, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL),
	          0, out, "export");
	free(out);
	for (int i = first; i < first + count; i++) {
		EXPECT_RC(node(&out, nodes[i], "import", "--dir", usb, "--passphrase-file", pass, "--anchor", anchor, "--trust-on-first-use", NULL),
		          0, out, "import");
		free(out);
	}
}

void file_in(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "%s/%s", usb, name);
	ck_assert(n > 0 && (size_t)n < size);
}

char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: cannot open", path);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* Member i seals `text` into usb/<name>. */
void seal(int i, const char *text, const char *name)
{
	char in[PATH_MAX + 64], msg[PATH_MAX + 64], *out = NULL;
	snprintf(in, sizeof in, "%s/plain-%d", env.dir, i);
	write_file(in, text, strlen(text));
	file_in(msg, sizeof msg, name);
	EXPECT_RC(member(&out, i, "seal", "--asr", "asr1", "--in", in, "--out", msg, NULL), 0, out, "seal");
	free(out);
}

/* Member i opens usb/<name>: its exit status; on success the plaintext
 * must be `text`. */
int open_msg(int i, const char *name, const char *text, char **outp)
{
	char msg[PATH_MAX + 64], plain[PATH_MAX + 64], *out = NULL;
	file_in(msg, sizeof msg, name);
	snprintf(plain, sizeof plain, "%s/opened-%d", env.dir, i);
	unlink(plain);
	int rc = member(&out, i, "open", "--in", msg, "--out", plain, NULL);
	if (rc == 0) {
		size_t len;
		char *got = read_all(plain, &len);
		ck_assert_msg(len == strlen(text) && memcmp(got, text, len) == 0, "%s opened %s: wrong plaintext",
		              nodes[i], name);
		free(got);
	}
	if (outp)
		*outp = out;
	else
		free(out);
	return rc;
}

void expect_open(int i, const char *name, const char *text)
{
	char *out = NULL;
	int rc = open_msg(i, name, text, &out);
	ck_assert_msg(rc == 0, "%s cannot open %s (exit %d):\n%s", nodes[i], name, rc, out);
	free(out);
}

void expect_refused(int i, const char *name, int want, const char *why)
{
	char *out = NULL;
	int rc = open_msg(i, name, "", &out);
	ck_assert_msg(rc == want && strstr(out, why) != NULL, "%s opening %s: exit %d (want %d, \"%s\"):\n%s",
	              nodes[i], name, rc, want, why, out);
	free(out);
}

/* Member i's generation and step (akm-node asr --json), -1 when it is in
 * no ASR. */
long member_epoch(int i, long *step)
{
	char *out = NULL, v[64];
	EXPECT_RC(member(&out, i, "asr", "--json", NULL), 0, out, "asr --json");
	const char *obj = strstr(out, "{\"name\"");
	long gen = -1;
	if (obj && json_member(obj, "generation", v, sizeof v)) {
		gen = atol(v);
		ck_assert(json_member(obj, "step", v, sizeof v));
		*step = atol(v);
	}
	free(out);
	return gen;
}

/* Every member of `set` seals one message that every other member opens. */
void all_talk(const int *set, int n, const char *tag)
{
	for (int a = 0; a < n; a++) {
		char text[128], name[64];
		snprintf(text, sizeof text, "%s: hello from %s", tag, nodes[set[a]]);
		snprintf(name, sizeof name, "%s-%d.msg", tag, set[a]);
		seal(set[a], text, name);
		for (int b = 0; b < n; b++)
			if (b != a)
				expect_open(set[b], name, text);
	}
}

/* Member i checks in with the service at addr: its --json output. */
char *checkin(int i, const char *addr, int want)
{
	char *out = NULL;
	int rc = member(&out, i, "checkin", "--nmm", addr, "--json", NULL);
	if (rc != want) {
		read_service_log();
		char *trail = NULL;
		nmm(&trail, "audit", NULL);
		size_t tl = trail ? strlen(trail) : 0;
		ck_abort_msg("%s checkin: exit %d, expected %d; output:\n%s\nakm-nmmd's log:\n%s\nthe trail's end:\n%s", nodes[i],
		             rc, want, out, service_log, trail ? trail + (tl > 3000 ? tl - 3000 : 0) : "");
	}
	return out;
}

/* The service's log (for failure messages). */

void read_service_log(void)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/nmmd.log", env.dir);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(service_log, 1, sizeof service_log - 1, f) : 0;
	service_log[n] = '\0';
	if (f)
		fclose(f);
}

void expect_json(const char *text, const char *key, const char *value)
{
	char v[64];
	if (!json_member(text, key, v, sizeof v) || strcmp(v, value) != 0) {
		read_service_log();
		ck_abort_msg("%s is not %s in:\n%s\nakm-nmmd's log:\n%s", key, value, text, service_log);
	}
}


/*
 * Helpers the akm-nmm tests share (nmm-test.h): the per-test station, the
 * tools run as processes, a minimal JSON reader, the scratch folder, main().
 */
#include "nmm-test.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

akm_testenv env;
const char *nmm_path, *node_path;
char pin_file[PATH_MAX + 16];
int nmm_test_timeout = 300;

/* ---- small helpers ------------------------------------------------------ */

void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_msg(fp != NULL, "cannot write %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

void path_in(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "%s/%s", env.dir, name);
	ck_assert(n > 0 && (size_t)n < size);
}


double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `list --json` and `audit --json`: the station's whole visible state. */
char *nmm_station_state(void)
{
	char *list = NULL, *audit = NULL;
	EXPECT_RC(nmm(&list, "list", "--json", NULL), 0, list, "list --json");
	EXPECT_RC(nmm(&audit, "audit", "--json", NULL), 0, audit, "audit --json");
	size_t n = strlen(list) + strlen(audit) + 2;
	char *both = malloc(n);
	ck_assert_ptr_nonnull(both);
	snprintf(both, n, "%s\n%s", list, audit);
	free(list);
	free(audit);
	return both;
}

/* ---- running the tools ---------------------------------------------------- */

int run_argv(const char *const *argv, char **out)
{
	char *text = NULL;
	int rc = akm_run(argv, NULL, &text, nmm_test_timeout);
	if (out)
		*out = text ? text : strdup("");
	else
		free(text);
	return rc;
}

int run_argv_full(const char *const *argv, char **out)
{
	const char *full[NMM_MAX_ARGS + 4] = {"/bin/sh", "-c", "exec \"$@\" >/dev/full", "sh"};
	size_t n = 4;
	for (size_t i = 0; argv[i] != NULL; i++) {
		ck_assert_uint_lt(n, NMM_MAX_ARGS + 3);
		full[n++] = argv[i];
	}
	full[n] = NULL;
	return run_argv(full, out);
}

/* Where tool_v's programs write their stdout: the pipe, or /dev/full. */
static bool stdout_full;

/* prog sub [common options] args... NULL */
static int tool_v(char **out, const char *prog, const char *sub, const char *const *common, va_list ap)
{
	const char *argv[NMM_MAX_ARGS];
	size_t n = 0;
	argv[n++] = prog;
	argv[n++] = sub;
	for (size_t i = 0; common && common[i]; i++)
		argv[n++] = common[i];
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL) {
		ck_assert_uint_lt(n, NMM_MAX_ARGS - 1);
		argv[n++] = a;
	}
	argv[n] = NULL;
	return stdout_full ? run_argv_full(argv, out) : run_argv(argv, out);
}

/* akm-nmm (the station token through akm-pkcs11.so) or akm-node (a node's
 * token through SoftHSM2), with stdout on /dev/full when `full`. */
static int station_v(char **out, bool full, const char *sub, va_list ap)
{
	const char *common[] = {"--module", env.module_path, "--token", STATION, "--pin-file", pin_file, NULL};
	stdout_full = full;
	int rc = tool_v(out, nmm_path, sub, common, ap);
	stdout_full = false;
	return rc;
}

static int node_v(char **out, bool full, const char *label, const char *sub, va_list ap)
{
	const char *common[] = {"--module", env.softhsm_path, "--token", label, "--pin-file", pin_file, NULL};
	stdout_full = full;
	int rc = tool_v(out, node_path, sub, common, ap);
	stdout_full = false;
	return rc;
}

int nmm(char **out, const char *sub, ...)
{
	va_list ap;
	va_start(ap, sub);
	int rc = station_v(out, false, sub, ap);
	va_end(ap);
	return rc;
}

int nmm_full(char **out, const char *sub, ...)
{
	va_list ap;
	va_start(ap, sub);
	int rc = station_v(out, true, sub, ap);
	va_end(ap);
	return rc;
}

int node(char **out, const char *label, const char *sub, ...)
{
	va_list ap;
	va_start(ap, sub);
	int rc = node_v(out, false, label, sub, ap);
	va_end(ap);
	return rc;
}

int node_full(char **out, const char *label, const char *sub, ...)
{
	va_list ap;
	va_start(ap, sub);
	int rc = node_v(out, true, label, sub, ap);
	va_end(ap);
	return rc;
}

void node_hw(const char *label, char *hw, size_t size)
{
	char *out;
	EXPECT_RC(node(&out, label, "hw-id", NULL), 0, out, "akm-node hw-id");
	size_t n = strcspn(out, "\r\n");
	/* "serial: X" or just "X": take the last word of the first line. */
	const char *w = out;
	for (size_t i = 0; i < n; i++)
		if (out[i] == ' ' || out[i] == '\t')
			w = out + i + 1;
	size_t wl = (size_t)(out + n - w);
	ck_assert_msg(wl > 0 && wl < size, "akm-node hw-id printed \"%s\"", out);
	memcpy(hw, w, wl);
	hw[wl] = '\0';
	free(out);
}

CK_FUNCTION_LIST *node_token_open(const char *label, CK_SLOT_ID *slot)
{
	void *dl = NULL;
	CK_FUNCTION_LIST *f = akm_test_load_module(env.softhsm_path, &dl);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->C_Initialize(NULL), CKR_OK);
	ck_assert_int_eq(akm_test_find_slot(f, label, slot), CKR_OK);
	return f;
}

/* ---- a minimal JSON reader: enough for the tools' --json output ---------- */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Skips one JSON value; returns the character after it, or NULL. */
static const char *json_skip(const char *p)
{
	p = json_ws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p == '"' ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		for (; *p; p++) {
			if (*p == '"') {
				p = json_skip(p);
				if (!p)
					return NULL;
				p--;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return NULL;
	}
	while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
		p++;
	return p;
}

bool json_member(const char *obj, const char *key, char *out, size_t size)
{
	const char *p = json_ws(obj);
	if (*p != '{')
		return false;
	p++;
	size_t klen = strlen(key);
	for (;;) {
		p = json_ws(p);
		if (*p != '"')
			return false;
		const char *k = p + 1;
		const char *kend = json_skip(p);
		if (!kend)
			return false;
		bool match = (size_t)(kend - 1 - k) == klen && memcmp(k, key, klen) == 0;
		p = json_ws(kend);
		if (*p != ':')
			return false;
		p = json_ws(p + 1);
		const char *vend = json_skip(p);
		if (!vend)
			return false;
		if (match) {
			const char *v = p;
			size_t vlen = (size_t)(vend - p);
			if (*v == '"') {
				v++;
				vlen -= 2;
			}
			if (vlen >= size)
				vlen = size - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = json_ws(vend);
		if (*p == ',')
			p++;
		else
			return false;
	}
}

bool json_member_any(const char *obj, const char *const *keys, char *out, size_t size)
{
	for (size_t i = 0; keys[i]; i++)
		if (json_member(obj, keys[i], out, size))
			return true;
	return false;
}

const char *const name_keys[] = {"name", "node", NULL};
const char *const status_keys[] = {"status", NULL};

const char *json_find_node(const char *text, const char *name)
{
	for (const char *p = strchr(text, '{'); p; p = strchr(p + 1, '{')) {
		char v[128];
		if (json_member_any(p, name_keys, v, sizeof v) && strcmp(v, name) == 0)
			return p;
	}
	return NULL;
}

/* ---- fixtures and main ------------------------------------------------------ */

void nmm_test_setup(void)
{
	ck_assert_int_eq(akm_testenv_create(&env, STATION), 0);
	snprintf(pin_file, sizeof pin_file, "%s/pin", env.dir);
	write_file(pin_file, AKM_TEST_USER_PIN "\n", strlen(AKM_TEST_USER_PIN) + 1);
}

void nmm_test_teardown(void)
{
	akm_testenv_destroy(&env);
}

/* Every test environment of this process lives in one scratch folder that
 * the main process removes when it exits: check ends a forked test with
 * _exit() when an assertion fails, so the teardown does not run then. */
static char scratch_root[PATH_MAX];
static pid_t scratch_owner;

static int remove_scratch_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void remove_scratch_root(void)
{
	if (getpid() == scratch_owner && scratch_root[0])
		nftw(scratch_root, remove_scratch_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_scratch_root(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch_root, sizeof scratch_root, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (!mkdtemp(scratch_root)) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", name, scratch_root, strerror(errno));
		exit(1);
	}
	scratch_owner = getpid();
	atexit(remove_scratch_root);
	setenv("TMPDIR", scratch_root, 1);
}

int nmm_test_main(const char *name, const char *tcase_name, int timeout, bool need_node,
                  void (*add_tests)(TCase *tc))
{
	nmm_path = getenv("AKM_TEST_NMM");
	node_path = getenv("AKM_TEST_NODE");
	if (!nmm_path || access(nmm_path, X_OK) != 0 ||
	    (need_node && (!node_path || access(node_path, X_OK) != 0))) {
		fprintf(stderr, "SKIP: %s not set or not executable\n",
		        need_node ? "AKM_TEST_NMM / AKM_TEST_NODE" : "AKM_TEST_NMM");
		return AKM_TEST_SKIP;
	}
	make_scratch_root(name);
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(tcase_name);
	tcase_set_timeout(tc, timeout);
	tcase_add_checked_fixture(tc, nmm_test_setup, nmm_test_teardown);
	add_tests(tc);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

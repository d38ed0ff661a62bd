/*
 * p11-kit finds akm-pkcs11 through a module file (akm-pkcs11.module, made
 * from conf/akm-pkcs11.module.in) in a private per-user configuration:
 * `p11-kit list-modules` names the module and shows the token as akm-pkcs11's,
 * and the p11-kit proxy module offers the token to pkcs11-tool.
 *
 * p11-kit ignores per-user module files when run as root, and CI runs as
 * root: then the programs run as user "nobody" on a copy of the module, with
 * the test folder handed over to that user.
 */
#include "interop.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AKM_P11KIT_PROXY
#define AKM_P11KIT_PROXY ""
#endif

#define TOKEN_LABEL "akm-p11kit"

static uid_t nobody_uid;
static gid_t nobody_gid;

static bool running_as_root(void)
{
	return geteuid() == 0;
}

static int chown_to_nobody(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (lchown(path, nobody_uid, nobody_gid) < 0)
		fprintf(stderr, "chown %s: %s\n", path, strerror(errno));
	return 0;
}

static void mkdir_or_fail(const char *path)
{
	ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
}

/* The folder layout and files one run needs, all inside the env folder. */
typedef struct p11kit_fixture {
	akm_testenv env;
	char home[PATH_MAX];
	char module_copy[PATH_MAX];
	char module_file[PATH_MAX];
} p11kit_fixture;

static void write_module_file(const char *path, const char *module_path)
{
	/* The project's module file, pointed at this module. */
	char *template_text = NULL;
	const char *srcdir = getenv("AKM_TEST_SRCDIR");
	if (srcdir) {
		char template_path[PATH_MAX];
		snprintf(template_path, sizeof template_path, "%s/conf/akm-pkcs11.module.in", srcdir);
		template_text = (char *)akm_interop_read_file(template_path, NULL);
	}
	FILE *file = fopen(path, "w");
	ck_assert_msg(file != NULL, "cannot write %s", path);
	bool wrote_module_line = false;
	for (const char *line = template_text ? template_text : ""; *line;) {
		size_t len = strcspn(line, "\n");
		if (strncmp(line, "module:", strlen("module:")) == 0) {
			fprintf(file, "module: %s\n", module_path);
			wrote_module_line = true;
		} else {
			fprintf(file, "%.*s\n", (int)len, line);
		}
		line += len + (line[len] == '\n');
	}
	if (!wrote_module_line)
		fprintf(file, "module: %s\n", module_path);
	ck_assert_int_eq(fclose(file), 0);
	free(template_text);
}

static void copy_file(const char *from, const char *to)
{
	size_t len = 0;
	unsigned char *data = akm_interop_read_file(from, &len);
	ck_assert_msg(data != NULL, "cannot read %s", from);
	ck_assert_int_eq(akm_interop_write_file(to, data, len), 0);
	free(data);
	ck_assert_int_eq(chmod(to, 0755), 0);
}

static void p11kit_fixture_create(p11kit_fixture *fx, bool with_module_file)
{
	akm_interop_env_create(&fx->env, TOKEN_LABEL);
	akm_interop_path(fx->home, &fx->env, "home");
	akm_interop_path(fx->module_copy, &fx->env, "akm-pkcs11.so");
	char dir[PATH_MAX];
	mkdir_or_fail(fx->home);
	akm_interop_path(dir, &fx->env, "home/.config");
	mkdir_or_fail(dir);
	akm_interop_path(dir, &fx->env, "home/.config/pkcs11");
	mkdir_or_fail(dir);
	akm_interop_path(dir, &fx->env, "home/.config/pkcs11/modules");
	mkdir_or_fail(dir);
	akm_interop_path(fx->module_file, &fx->env, "home/.config/pkcs11/modules/akm-pkcs11.module");

	/* A copy, so that "nobody" can read it wherever the build tree is. */
	copy_file(fx->env.module_path, fx->module_copy);
	if (with_module_file)
		write_module_file(fx->module_file, fx->module_copy);

	if (running_as_root()) {
		/* Hand the whole folder (token, configurations, registry) over. */
		nftw(fx->env.dir, chown_to_nobody, 16, FTW_PHYS);
		ck_assert_int_eq(chmod(fx->env.dir, 0755), 0);
	}
}

/* Runs `program args...` with HOME=<fixture home>; as "nobody" when root,
 * passing on only the environment the programs need. */
static int run_as_user(const p11kit_fixture *fx, const char *const program_args[], char **output)
{
	char home[PATH_MAX + 8], softhsm_conf[PATH_MAX + 16], akm_conf[PATH_MAX + 16];
	char uid_option[32], gid_option[32], preload[PATH_MAX + 16], asan_options[1100];
	snprintf(home, sizeof home, "HOME=%s", fx->home);
	const char *argv[48];
	size_t n = 0;
	if (running_as_root()) {
		snprintf(uid_option, sizeof uid_option, "--reuid=%u", (unsigned)nobody_uid);
		snprintf(gid_option, sizeof gid_option, "--regid=%u", (unsigned)nobody_gid);
		snprintf(softhsm_conf, sizeof softhsm_conf, "SOFTHSM2_CONF=%s", fx->env.softhsm_conf);
		snprintf(akm_conf, sizeof akm_conf, "AKM_PKCS11_CONF=%s", fx->env.akm_conf);
		argv[n++] = "setpriv";
		argv[n++] = uid_option;
		argv[n++] = gid_option;
		argv[n++] = "--clear-groups";
		argv[n++] = "env";
		argv[n++] = "-i";
		argv[n++] = home;
		argv[n++] = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
		argv[n++] = softhsm_conf;
		argv[n++] = akm_conf;
		/* An ASan build of the module needs its runtime preloaded. */
		if (getenv("LD_PRELOAD")) {
			snprintf(preload, sizeof preload, "LD_PRELOAD=%s", getenv("LD_PRELOAD"));
			argv[n++] = preload;
		}
		if (getenv("ASAN_OPTIONS")) {
			snprintf(asan_options, sizeof asan_options, "ASAN_OPTIONS=%s", getenv("ASAN_OPTIONS"));
			argv[n++] = asan_options;
		}
	} else {
		argv[n++] = "env";
		argv[n++] = home;
	}
	for (size_t i = 0; program_args[i]; i++)
		argv[n++] = program_args[i];
	argv[n] = NULL;
	return akm_interop_run(argv, NULL, output);
}

/* The lines of `p11-kit list-modules` about module `name`, malloc'd. */
static char *module_section(const char *listing, const char *name)
{
	char heading[128];
	snprintf(heading, sizeof heading, "%s: ", name);
	const char *start = NULL;
	for (const char *line = listing; *line;) {
		if (strncmp(line, heading, strlen(heading)) == 0) {
			start = line;
			break;
		}
		line += strcspn(line, "\n");
		line += (*line == '\n');
	}
	if (!start)
		return NULL;
	/* Up to the next line that does not start with blank (the next module). */
	const char *end = start + strcspn(start, "\n");
	while (*end == '\n' && (end[1] == ' ' || end[1] == '\t'))
		end += 1 + strcspn(end + 1, "\n");
	return strndup(start, (size_t)(end - start));
}

/* Under an ASan preload the p11-kit program itself deadlocks (its
 * destructors and p11-kit-trust's constructor wait forever on glibc's
 * setlocale lock), with or without akm-pkcs11: only the library, through
 * the proxy module below, can be checked there. */
static bool p11kit_program_usable(void)
{
	if (!akm_interop_sanitizer_preloaded())
		return true;
	fprintf(stderr, "note: not running the p11-kit program in a sanitizer build (it deadlocks under an "
	                "ASan preload); checked in the normal build and through the proxy module\n");
	return false;
}

START_TEST(list_modules_shows_akm_through_module_file)
{
	if (!p11kit_program_usable())
		return;
	p11kit_fixture fx;
	p11kit_fixture_create(&fx, true);
	char *out = NULL;
	int status = run_as_user(&fx, (const char *const[]){"p11-kit", "list-modules", NULL}, &out);
	ck_assert_int_eq(status, 0);

	char *section = module_section(out, "akm-pkcs11");
	ck_assert_msg(section != NULL, "p11-kit list-modules does not list akm-pkcs11");
	fprintf(stderr, "--- akm-pkcs11 in p11-kit list-modules ---\n%s\n", section);
	char module_line[PATH_MAX + 32];
	snprintf(module_line, sizeof module_line, "akm-pkcs11: %s\n", fx.module_copy);
	ck_assert_msg(strncmp(section, module_line, strlen(module_line) - 1) == 0, "module path not shown");
	ck_assert_msg(strstr(section, "    token: " TOKEN_LABEL "\n"), "token label not shown");
	ck_assert_msg(strstr(section, "        manufacturer: akm-pkcs11\n"), "token manufacturer is not akm-pkcs11");
	ck_assert_msg(strstr(section, "        model: akm-pkcs11\n"), "token model is not akm-pkcs11");
	ck_assert_msg(strstr(section, "token-initialized"), "token flags not shown");
	ck_assert_uint_eq(akm_interop_count(section, "    token: "), 1);
	free(section);
	free(out);
	akm_testenv_destroy(&fx.env);
}
END_TEST

START_TEST(list_modules_without_module_file_has_no_akm)
{
	/* The control: the same set-up without the module file. */
	if (!p11kit_program_usable())
		return;
	p11kit_fixture fx;
	p11kit_fixture_create(&fx, false);
	char *out = NULL;
	ck_assert_int_eq(run_as_user(&fx, (const char *const[]){"p11-kit", "list-modules", NULL}, &out), 0);
	char *section = module_section(out, "akm-pkcs11");
	ck_assert_msg(section == NULL, "akm-pkcs11 listed without a module file");
	free(out);
	akm_testenv_destroy(&fx.env);
}
END_TEST

START_TEST(proxy_module_offers_the_akm_token)
{
	if (!AKM_P11KIT_PROXY[0] || access(AKM_P11KIT_PROXY, R_OK) != 0) {
		fprintf(stderr, "note: p11-kit-proxy.so not found, nothing to check\n");
		return;
	}
	p11kit_fixture fx;
	p11kit_fixture_create(&fx, true);
	char *out = NULL;
	int status = run_as_user(&fx, (const char *const[]){"pkcs11-tool", "--module", AKM_P11KIT_PROXY, "-L", NULL},
	                         &out);
	ck_assert_int_eq(status, 0);
	ck_assert_msg(strstr(out, "token manufacturer : akm-pkcs11\n"), "akm-pkcs11 token not offered by the proxy");
	ck_assert_msg(strstr(out, "token label        : " TOKEN_LABEL "\n"), "token label not shown by the proxy");
	free(out);
	akm_testenv_destroy(&fx.env);
}
END_TEST

/* True when user "nobody" can reach `dir`. */
static bool nobody_can_traverse(const char *dir)
{
	char uid_option[32], gid_option[32];
	snprintf(uid_option, sizeof uid_option, "--reuid=%u", (unsigned)nobody_uid);
	snprintf(gid_option, sizeof gid_option, "--regid=%u", (unsigned)nobody_gid);
	const char *const argv[] = {"setpriv", uid_option, gid_option, "--clear-groups", "test", "-x", dir, NULL};
	return akm_run(argv, NULL, NULL, 30) == 0;
}

static Suite *p11kit_suite(void)
{
	Suite *suite = suite_create("p11-kit");
	TCase *modules = tcase_create("module file");
	tcase_set_timeout(modules, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(modules, list_modules_shows_akm_through_module_file);
	tcase_add_test(modules, list_modules_without_module_file_has_no_akm);
	tcase_add_test(modules, proxy_module_offers_the_akm_token);
	suite_add_tcase(suite, modules);
	return suite;
}

int main(void)
{
	if (running_as_root()) {
		akm_require_programs((const char *const[]){"setpriv", NULL});
		struct passwd *nobody = getpwnam("nobody");
		if (!nobody) {
			fprintf(stderr, "SKIP: running as root and there is no user 'nobody'\n");
			return AKM_TEST_SKIP;
		}
		nobody_uid = nobody->pw_uid;
		nobody_gid = nobody->pw_gid;
		/* The test folders go under $TMPDIR: if "nobody" cannot reach it,
		 * fall back to /tmp. */
		const char *tmp = getenv("TMPDIR");
		if (tmp && *tmp && !nobody_can_traverse(tmp)) {
			fprintf(stderr, "note: user nobody cannot reach TMPDIR=%s, using /tmp\n", tmp);
			setenv("TMPDIR", "/tmp", 1);
		}
	}
	akm_interop_prepare((const char *const[]){"p11-kit", "pkcs11-tool", "env", NULL});
	return akm_interop_run_suite(p11kit_suite());
}

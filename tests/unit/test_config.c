/* The configuration file: good files, and every kind of bad one names the
 * file, the line and what is wrong. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config/config.h"

static char dir[] = "/tmp/akm-config-test-XXXXXX";
static char module[512];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(module, sizeof module, "%s/backend.so", dir);
	FILE *f = fopen(module, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
}

static void teardown(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes `text` (with %s replaced by the module path) and loads it. */
static CK_RV load(const char *text, akm_config *cfg, char *err, size_t errlen)
{
	char path[600];
	snprintf(path, sizeof path, "%s/akm.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	fprintf(f, text, module, module); /* the table's texts hold %s */
#pragma GCC diagnostic pop
	fclose(f);
	err[0] = '\0';
	return akm_config_load(cfg, path, err, errlen);
}

START_TEST(test_good_file)
{
	akm_config cfg;
	char err[1024];
	CK_RV rv = load("# comment\n\n"
	                "backend.module = %s   # trailing comment\n"
	                "backend.token = pkcs11:token=akm-station\n"
	                "  backend.token=pkcs11:manufacturer=SoftHSM%%20project\n"
	                "registry.path = state/registry.db\n"
	                "log.level = debug\n", &cfg, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "%s", err);
	ck_assert_str_eq(cfg.backend_module, module);
	ck_assert_uint_eq(cfg.ntokens, 2);
	ck_assert_int_eq(cfg.log_level, AKM_LOG_DEBUG);
	char expect[600];
	snprintf(expect, sizeof expect, "%s/state/registry.db", dir); /* relative to the file */
	ck_assert_str_eq(cfg.registry_path, expect);

	CK_TOKEN_INFO info;
	memset(&info, ' ', sizeof info);
	memcpy(info.label, "akm-station", 11);
	ck_assert(akm_config_selects_token(&cfg, &info));
	memcpy(info.label, "other-token", 11);
	ck_assert(!akm_config_selects_token(&cfg, &info));
	memcpy(info.manufacturerID, "SoftHSM project", 15);
	ck_assert(akm_config_selects_token(&cfg, &info));
	akm_config_free(&cfg);
}
END_TEST

START_TEST(test_defaults)
{
	akm_config cfg;
	char err[1024], expect[600];
	ck_assert_int_eq(load("backend.module = %s\n", &cfg, err, sizeof err), CKR_OK);
	ck_assert_uint_eq(cfg.ntokens, 0);
	CK_TOKEN_INFO info;
	memset(&info, ' ', sizeof info);
	ck_assert(akm_config_selects_token(&cfg, &info)); /* no URI: every token */
	ck_assert_int_eq(cfg.log_level, AKM_LOG_WARNING);
	ck_assert_int_eq(cfg.log_target, AKM_LOG_TO_SYSLOG); /* never the application's stderr by default */
	snprintf(expect, sizeof expect, "%s/registry.db", dir);
	ck_assert_str_eq(cfg.registry_path, expect);
	/* PIN throttling: on, after 3, 1 s doubling up to 15 min, no lockout. */
	ck_assert(cfg.login.backoff);
	ck_assert_uint_eq(cfg.login.after, 3);
	ck_assert_uint_eq(cfg.login.initial_ms, 1000);
	ck_assert_uint_eq(cfg.login.max_ms, 900000);
	ck_assert_uint_eq(cfg.login.lockout, 0);
	akm_config_free(&cfg);
}
END_TEST

START_TEST(test_login_keys)
{
	akm_config cfg;
	char err[1024];
	ck_assert_int_eq(load("backend.module = %s\nlogin.backoff = off\nlogin.backoff.after = 0\n"
	                      "login.backoff.initial_ms = 250\nlogin.backoff.max_ms = 86400000\nlogin.lockout = 10\n",
	                      &cfg, err, sizeof err), CKR_OK);
	ck_assert(!cfg.login.backoff);
	ck_assert_uint_eq(cfg.login.after, 0);
	ck_assert_uint_eq(cfg.login.initial_ms, 250);
	ck_assert_uint_eq(cfg.login.max_ms, 86400000);
	ck_assert_uint_eq(cfg.login.lockout, 10);
	akm_config_free(&cfg);
	/* A first wait longer than the default cap raises the cap with it. */
	ck_assert_int_eq(load("backend.module = %s\nlogin.backoff.initial_ms = 3600000\n", &cfg, err, sizeof err),
	                 CKR_OK);
	ck_assert_uint_eq(cfg.login.max_ms, 3600000);
	akm_config_free(&cfg);
}
END_TEST

/* Each bad file, and what the message must contain. */
static const struct { const char *text, *expect; } bad_files[] = {
	{"backend.module = %s\nnonsense\n", "akm.conf:2: expected 'key = value'"},
	{"backend.module = %s\nbackend.colour = red\n", "akm.conf:2: unknown key 'backend.colour'"},
	{"backend.module = %s\nlog.level = loud\n", "akm.conf:2: log.level: 'loud' is not one of"},
	{"backend.module = %s\nlog.target = console\n", "akm.conf:2: log.target: 'console' is not one of syslog, stderr, both"},
	{"backend.module = %s\nlog.target = stderr\nlog.target = syslog\n", "akm.conf:3: log.target given twice"},
	{"backend.module = %s\nbackend.token = https://example\n", "akm.conf:2: backend.token: 'https://example' is not a PKCS#11 token URI"},
	{"backend.module = %s\nbackend.module = %s\n", "akm.conf:2: backend.module given twice"},
	{"backend.module = /nonexistent/lib.so\n", "akm.conf:1: backend.module: /nonexistent/lib.so: No such file"},
	{"log.level = error\n", "akm.conf: backend.module is missing"},
	{"backend.module =\n", "akm.conf:1: 'backend.module' has no value"},
	{"backend.module = %s\nregistry.path = a\nregistry.path = b\n", "akm.conf:3: registry.path given twice"},
	{"backend.module = %s\nlogin.backoff = yes\n", "akm.conf:2: login.backoff: 'yes' is not on or off"},
	{"backend.module = %s\nlogin.backoff = on\nlogin.backoff = off\n", "akm.conf:3: login.backoff given twice"},
	{"backend.module = %s\nlogin.backoff.after = -1\n", "akm.conf:2: login.backoff.after: '-1' is not a whole number from 0 to 1000"},
	{"backend.module = %s\nlogin.backoff.after = 1001\n", "akm.conf:2: login.backoff.after: '1001' is not a whole number from 0 to 1000"},
	{"backend.module = %s\nlogin.backoff.after = 3x\n", "akm.conf:2: login.backoff.after: '3x' is not a whole number"},
	{"backend.module = %s\nlogin.backoff.initial_ms = 0\n", "akm.conf:2: login.backoff.initial_ms: '0' is not a whole number from 1 to 86400000"},
	{"backend.module = %s\nlogin.backoff.max_ms = 86400001\n", "akm.conf:2: login.backoff.max_ms: '86400001' is not a whole number from 1 to 86400000"},
	{"backend.module = %s\nlogin.backoff.max_ms = 99999999999999999999999\n", "akm.conf:2: login.backoff.max_ms: '99999999999999999999999' is not"},
	{"backend.module = %s\nlogin.backoff.initial_ms = 5000\nlogin.backoff.max_ms = 4000\n", "akm.conf: login.backoff.max_ms (4000) is less than login.backoff.initial_ms (5000)"},
	{"backend.module = %s\nlogin.lockout = 1000001\n", "akm.conf:2: login.lockout: '1000001' is not a whole number from 0 to 1000000"},
	{"backend.module = %s\nlogin.lockout = 3\nlogin.lockout = 4\n", "akm.conf:3: login.lockout given twice"},
	{"backend.module = %s\nlogin.lockouts = 3\n", "akm.conf:2: unknown key 'login.lockouts'"},
	{"backend.module = %s\nregistry.path = a\nregistry.uri = sqlite:b\n", "akm.conf:3: registry.uri and registry.path both given"},
	{"backend.module = %s\nregistry.uri = sqlite:b\nregistry.path = a\n", "akm.conf:3: registry.uri and registry.path both given"},
	{"backend.module = %s\nregistry.uri = registry.db\n", "akm.conf:2: registry.uri: 'registry.db' is not a store URI"},
	{"backend.module = %s\nregistry.uri = sqlite:\n", "akm.conf:2: registry.uri: 'sqlite:' is not a store URI"},
	{"backend.module = %s\nregistry.uri = a b:x\n", "akm.conf:2: registry.uri: 'a b:x' is not a store URI"},
	{"backend.module = %s\nregistry.token = token=x\n", "akm.conf:2: registry.token: 'token=x' is not a PKCS#11 token URI"},
	{"backend.module = %s\nregistry.token = pkcs11:token=a\nregistry.token = pkcs11:token=b\n", "akm.conf:3: registry.token given twice"},
};

START_TEST(test_bad_files)
{
	akm_config cfg;
	char err[1024];
	CK_RV rv = load(bad_files[_i].text, &cfg, err, sizeof err);
	ck_assert_int_eq(rv, CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, bad_files[_i].expect) != NULL, "got '%s', want '%s'", err,
	              bad_files[_i].expect);
	ck_assert_uint_eq(cfg.ntokens, 0); /* nothing half-loaded */
}
END_TEST

/* log.target: each value; a refused file still says where its error goes
 * when log.target came before the bad line. */
START_TEST(test_log_target)
{
	akm_config cfg;
	char err[1024];
	static const struct { const char *value; akm_log_target target; } values[] = {
		{"syslog", AKM_LOG_TO_SYSLOG}, {"stderr", AKM_LOG_TO_STDERR}, {"both", AKM_LOG_TO_BOTH}};
	for (size_t i = 0; i < 3; i++) {
		char text[128];
		snprintf(text, sizeof text, "backend.module = %%s\nlog.target = %s\n", values[i].value);
		ck_assert_msg(load(text, &cfg, err, sizeof err) == CKR_OK, "%s", err);
		ck_assert_int_eq(cfg.log_target, values[i].target);
		akm_config_free(&cfg);
	}
	ck_assert_int_eq(load("log.target = stderr\nbogus = 1\n", &cfg, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_int_eq(cfg.log_target, AKM_LOG_TO_STDERR);
	/* Not said before the error: 0, the module keeps its target. */
	ck_assert_int_eq(load("bogus = 1\nlog.target = stderr\n", &cfg, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_int_eq(cfg.log_target, 0);
	ck_assert_int_eq(load("log.target = loud\n", &cfg, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_int_eq(cfg.log_target, 0);
}
END_TEST

START_TEST(test_registry_uri_and_token)
{
	akm_config cfg;
	char err[1024], expect[700];
	/* registry.path is a SQLite file: the store URI says so. */
	ck_assert_int_eq(load("backend.module = %s\nregistry.path = r.db\n", &cfg, err, sizeof err), CKR_OK);
	snprintf(expect, sizeof expect, "sqlite:%s/r.db", dir);
	ck_assert_str_eq(cfg.registry_uri, expect);
	ck_assert_ptr_null(cfg.registry_token);
	CK_TOKEN_INFO info;
	memset(&info, ' ', sizeof info);
	ck_assert(akm_config_is_registry_token(&cfg, &info)); /* none named: any */
	akm_config_free(&cfg);

	/* A SQLite location relative to the file, like every path here. */
	ck_assert_int_eq(load("backend.module = %s\nregistry.uri = sqlite:state/r.db\n"
	                      "registry.token = pkcs11:token=akm-station\n", &cfg, err, sizeof err), CKR_OK);
	snprintf(expect, sizeof expect, "%s/state/r.db", dir);
	ck_assert_str_eq(cfg.registry_path, expect);
	snprintf(expect, sizeof expect, "sqlite:%s/state/r.db", dir);
	ck_assert_str_eq(cfg.registry_uri, expect);
	memcpy(info.label, "akm-station", 11);
	ck_assert(akm_config_is_registry_token(&cfg, &info));
	memcpy(info.label, "other-token", 11);
	ck_assert(!akm_config_is_registry_token(&cfg, &info));
	akm_config_free(&cfg);
	ck_assert_ptr_null(cfg.registry_token);

	/* Another store's URI is kept as it is, for the store to judge. */
	ck_assert_int_eq(load("backend.module = %s\nregistry.uri = postgresql://station@db/akm\n", &cfg, err,
	                      sizeof err), CKR_OK);
	ck_assert_str_eq(cfg.registry_uri, "postgresql://station@db/akm");
	ck_assert_str_eq(cfg.registry_path, "");
	akm_config_free(&cfg);
}
END_TEST

START_TEST(test_long_line_and_missing_file)
{
	akm_config cfg;
	char err[1024];
	char *text = malloc(AKM_CONFIG_MAX_LINE + 100);
	memset(text, 'x', AKM_CONFIG_MAX_LINE + 50);
	strcpy(text + AKM_CONFIG_MAX_LINE + 50, "\n");
	ck_assert_int_eq(load(text, &cfg, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, "akm.conf:1: line longer than") != NULL, "%s", err);
	free(text);

	ck_assert_int_eq(akm_config_load(&cfg, "/nonexistent/akm.conf", err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, "/nonexistent/akm.conf: cannot open configuration file") != NULL, "%s", err);
	ck_assert_msg(strstr(err, AKM_CONFIG_ENV) != NULL, "%s", err);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads `path` and expects a quick refusal naming the path and `why`. */
static void expect_refused(const char *path, const char *why)
{
	akm_config cfg;
	char err[1024] = "";
	double t0 = now_s();
	ck_assert_int_eq(akm_config_load(&cfg, path, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(now_s() - t0 < 2.0, "%s took %.1f s", path, now_s() - t0);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, why) != NULL,
	              "got '%s', want '%s' and '%s'", err, path, why);
	ck_assert_uint_eq(cfg.ntokens, 0);
	ck_assert_str_eq(cfg.backend_module, "");
}

/* What is not a regular file is refused before it is read: /dev/zero once
 * made C_Initialize loop forever, a FIFO without a writer would block it. */
START_TEST(test_not_a_regular_file)
{
	expect_refused("/dev/zero", "a character device, not a regular file");
	expect_refused("/dev/null", "a character device, not a regular file");
	expect_refused(dir, "a directory, not a regular file");
	char fifo[600];
	snprintf(fifo, sizeof fifo, "%s/fifo.conf", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_refused(fifo, "a FIFO, not a regular file");
	/* Through a symbolic link (followed: a link to a regular file is fine). */
	char link[600];
	snprintf(link, sizeof link, "%s/link.conf", dir);
	ck_assert_int_eq(symlink("/dev/zero", link), 0);
	expect_refused(link, "a character device, not a regular file");
}
END_TEST

/* The size bound: AKM_CONFIG_MAX_SIZE bytes are read, one more is refused. */
START_TEST(test_size_limit)
{
	char path[600], line[128];
	snprintf(path, sizeof path, "%s/big.conf", dir);
	int n = snprintf(line, sizeof line, "backend.module = %s\n", module);
	ck_assert_int_lt(n, 100);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(line, f);
	/* Comment lines of 64 bytes up to exactly the limit. */
	long size = n;
	while (size + 64 <= AKM_CONFIG_MAX_SIZE) {
		fprintf(f, "#%62s\n", "padding");
		size += 64;
	}
	while (size < AKM_CONFIG_MAX_SIZE) {
		fputc('\n', f);
		size++;
	}
	fclose(f);
	akm_config cfg;
	char err[1024] = "";
	ck_assert_msg(akm_config_load(&cfg, path, err, sizeof err) == CKR_OK, "%s", err);
	ck_assert_str_eq(cfg.backend_module, module);
	akm_config_free(&cfg);

	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputc('\n', f);
	fclose(f);
	expect_refused(path, "65537 bytes, more than the 65536 a configuration file may have");

	/* A sparse file of a gigabyte: refused by its size, never read. */
	ck_assert_int_eq(truncate(path, 1L << 30), 0);
	expect_refused(path, "1073741824 bytes, more than the 65536");
}
END_TEST

/* A NUL byte is not text (an earlier reader stopped the line there). */
START_TEST(test_nul_byte)
{
	char path[600];
	snprintf(path, sizeof path, "%s/nul.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "backend.module = %s\nlog.level = debug", module);
	fputc('\0', f);
	fputs("junk\n", f);
	fclose(f);
	expect_refused(path, ":2: a NUL byte");
}
END_TEST

START_TEST(test_env_selects_file)
{
	setenv(AKM_CONFIG_ENV, "/some/where.conf", 1);
	ck_assert_str_eq(akm_config_default_path(), "/some/where.conf");
	unsetenv(AKM_CONFIG_ENV);
	ck_assert_str_ne(akm_config_default_path(), "/some/where.conf");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_login_keys);
	tcase_add_loop_test(tc, test_bad_files, 0, sizeof bad_files / sizeof bad_files[0]);
	tcase_add_test(tc, test_log_target);
	tcase_add_test(tc, test_registry_uri_and_token);
	tcase_add_test(tc, test_long_line_and_missing_file);
	tcase_add_test(tc, test_not_a_regular_file);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_env_selects_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

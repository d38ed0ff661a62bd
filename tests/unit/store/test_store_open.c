/* Opening a store by URI (src/store/store.c): "sqlite:PATH", a bare path,
 * an unknown scheme (named, without the rest of the URI, and nothing
 * created), and SQLite locations that cannot be a registry.  Schema,
 * migrations and damaged files are test_registry.c's. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "testenv.h"

static char dir[64];
static char old_cwd[4096];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	chmod(path, 0700); /* a folder made read-only by a test */
	return remove(path);
}

/* Each test in a fresh folder, which is also the current directory, so
 * that "nothing created" covers relative paths. */
static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/akm-store-open-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(getcwd(old_cwd, sizeof old_cwd));
	ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
	ck_assert_int_eq(chdir(old_cwd), 0);
	/* Children first, then the folder (FTW_DEPTH); fix modes on the way. */
	chmod(dir, 0700);
	ck_assert_int_eq(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void assert_folder_empty(const char *path)
{
	char names[1024];
	size_t n = akm_test_dir_entries(path, names, sizeof names);
	ck_assert_msg(n == 0, "%s holds %zu entries: %s", path, n, names);
}

static akm_store *open_ok(const char *uri)
{
	akm_store *s = NULL;
	char err[512] = "";
	CK_RV rv = akm_store_open(uri, &s, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "open %s: 0x%lx: %s", uri, rv, err);
	ck_assert_ptr_nonnull(s);
	static const uint8_t key[AKM_STORE_KEY_LEN] = {7}; /* as at login */
	ck_assert_int_eq(akm_store_seal(s, key), CKR_OK);
	return s;
}

/* ---- tests ---- */

START_TEST(test_sqlite_uri)
{
	char path[128], uri[160];
	snprintf(path, sizeof path, "%s/registry.db", dir);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	akm_store *s = open_ok(uri);
	ck_assert_str_eq(akm_store_location(s), path); /* the file, not the URI */
	ck_assert(exists(path));
	ck_assert_int_eq(akm_store_set_int(s, "probe", 42), CKR_OK);
	akm_store_close(s);
	/* The same file through its bare path. */
	s = open_ok(path);
	ck_assert_str_eq(akm_store_location(s), path);
	int64_t v = 0;
	bool present = false;
	ck_assert_int_eq(akm_store_get_int(s, "probe", &v, &present), CKR_OK);
	ck_assert(present);
	ck_assert_int_eq(v, 42);
	akm_store_close(s);
}
END_TEST

START_TEST(test_bare_paths)
{
	char path[128];
	/* Absolute. */
	snprintf(path, sizeof path, "%s/bare.db", dir);
	akm_store *s = open_ok(path);
	ck_assert_str_eq(akm_store_location(s), path);
	akm_store_close(s);
	ck_assert(exists(path));
	/* Relative: to the current directory, as SQLite has it. */
	s = open_ok("relative.db");
	ck_assert_str_eq(akm_store_location(s), "relative.db");
	akm_store_close(s);
	ck_assert(exists("relative.db"));
	s = open_ok("sqlite:relative2.db");
	ck_assert_str_eq(akm_store_location(s), "relative2.db");
	akm_store_close(s);
	ck_assert(exists("relative2.db"));
	/* A colon after a slash is part of a path, not a scheme. */
	snprintf(path, sizeof path, "%s/odd:name.db", dir);
	s = open_ok(path);
	ck_assert_str_eq(akm_store_location(s), path);
	akm_store_close(s);
	ck_assert(exists(path));
	s = open_ok("./odd:name2.db");
	akm_store_close(s);
	ck_assert(exists("odd:name2.db"));
	/* And "sqlite:" in front of such a path. */
	snprintf(path, sizeof path, "sqlite:%s/odd:name3.db", dir);
	s = open_ok(path);
	akm_store_close(s);
	ck_assert(exists("odd:name3.db"));
}
END_TEST

/* An unknown scheme: CKR_GENERAL_ERROR, a sentence naming the scheme and
 * what there is, nothing of the rest of the URI, nothing created. */
static void assert_unknown(const char *uri, const char *scheme, const char *secret)
{
	akm_store *s = NULL;
	char err[512] = "";
	ck_assert_int_eq(akm_store_open(uri, &s, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_ptr_null(s);
	char quoted[64];
	snprintf(quoted, sizeof quoted, "\"%s\"", scheme);
	ck_assert_msg(strstr(err, "unknown store type") != NULL, "%s: \"%s\"", uri, err);
	ck_assert_msg(strstr(err, quoted) != NULL, "%s: the scheme is not named in \"%s\"", uri, err);
	ck_assert_msg(strstr(err, "sqlite") != NULL, "%s: what there is is not said in \"%s\"", uri, err);
	if (secret != NULL)
		ck_assert_msg(strstr(err, secret) == NULL, "%s: \"%s\" shows the rest of the URI", uri, err);
	assert_folder_empty(dir);
}

START_TEST(test_unknown_scheme)
{
	assert_unknown("postgresql://akm:s3cret@db.example/akm", "postgresql", "s3cret");
	assert_unknown("postgresql:dbname=akm password=s3cret", "postgresql", "s3cret");
	assert_unknown("SQLITE:registry.db", "SQLITE", "registry.db"); /* schemes are exact */
	assert_unknown("sqlite3:registry.db", "sqlite3", "registry.db");
	assert_unknown("nosuch:registry.db", "nosuch", "registry.db");
	assert_unknown(":registry.db", "", "registry.db"); /* an empty scheme */
	char uri[160];
	snprintf(uri, sizeof uri, "nosuch:%s/registry.db", dir);
	assert_unknown(uri, "nosuch", "registry.db");
	/* A short error buffer gets a terminated prefix of the sentence. */
	akm_store *s = NULL;
	char err[12];
	memset(err, 'X', sizeof err);
	ck_assert_int_eq(akm_store_open("nosuch:x", &s, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_uint_eq(strlen(err), sizeof err - 1);
	assert_folder_empty(dir);
}
END_TEST

START_TEST(test_missing_folder)
{
	char path[160], uri[192];
	snprintf(path, sizeof path, "%s/no/such/folder/registry.db", dir);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	akm_store *s = NULL;
	char err[512] = "";
	ck_assert_int_eq(akm_store_open(uri, &s, err, sizeof err), CKR_DEVICE_ERROR);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, path) != NULL, "the path is not named in \"%s\"", err);
	assert_folder_empty(dir);
}
END_TEST

START_TEST(test_unwritable_folder)
{
	/* A folder the process may read but not write.  Root writes anywhere,
	 * so the open is made in a child running as nobody. */
	char ro[128], path[160], uri[192];
	snprintf(ro, sizeof ro, "%s/read-only", dir);
	snprintf(path, sizeof path, "%s/registry.db", ro);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	ck_assert_int_eq(mkdir(ro, 0555), 0);
	ck_assert_int_eq(chmod(ro, 0555), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0); /* nobody may reach it */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
			_exit(2);
		akm_store *s = NULL;
		char err[512] = "";
		CK_RV rv = akm_store_open(uri, &s, err, sizeof err);
		if (s != NULL)
			akm_store_close(s);
		char msg[600];
		int n = snprintf(msg, sizeof msg, "%lx %s", rv, err);
		if (write(fds[1], msg, (size_t)n) != n)
			_exit(3);
		_exit(s == NULL ? 0 : 4);
	}
	close(fds[1]);
	char msg[600] = "";
	ssize_t got = 0, r;
	while ((r = read(fds[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0)
		got += r;
	close(fds[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x (%s)", status, msg);
	unsigned long rv = strtoul(msg, NULL, 16);
	ck_assert_msg(rv == CKR_DEVICE_ERROR, "open in a read-only folder: %s", msg);
	ck_assert_msg(strstr(msg, path) != NULL, "the path is not named in \"%s\"", msg);
	assert_folder_empty(ro);
}
END_TEST

START_TEST(test_sqlite_without_path)
{
	/* "sqlite:" names no file.  SQLite would open a private temporary
	 * database for an empty name, deleted at close: a registry that loses
	 * every relationship. */
	akm_store *s = NULL;
	char err[512] = "";
	CK_RV rv = akm_store_open("sqlite:", &s, err, sizeof err);
	bool opened = s != NULL;
	char location[128] = "";
	if (opened) {
		snprintf(location, sizeof location, "%s", akm_store_location(s));
		akm_store_close(s);
	}
	ck_assert_msg(rv != CKR_OK && !opened, "\"sqlite:\" opened a store: 0x%lx, location \"%s\"", rv, location);
	ck_assert_msg(err[0] != '\0', "no reason given");
	assert_folder_empty(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-open");
	TCase *tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sqlite_uri);
	tcase_add_test(tc, test_bare_paths);
	tcase_add_test(tc, test_unknown_scheme);
	tcase_add_test(tc, test_missing_folder);
	tcase_add_test(tc, test_unwritable_folder);
	tcase_add_test(tc, test_sqlite_without_path);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

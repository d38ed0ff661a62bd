/*
 * The registry's files through the module: the database, its -wal and -shm
 * and the -changes and -login side files are made 0600 whatever the umask; a -changes
 * that is a planted symbolic link, a directory or a FIFO is refused (named
 * in the log) and left as it is, and the registry still works without it; a
 * registry path that is a symbolic link is refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common.h"
#include "akm/pkcs11-akm.h"

static it_ctx t;
static char registry[PATH_MAX + 32], changes[PATH_MAX + 48], victim[PATH_MAX + 32], logfile[PATH_MAX + 32];

static void setup(void)
{
	it_setup_env(&t, "akm-side");
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	snprintf(changes, sizeof changes, "%s-changes", registry);
	snprintf(victim, sizeof victim, "%s/victim", t.env.dir);
	snprintf(logfile, sizeof logfile, "%s/stderr.log", t.env.dir);
}
static void teardown(void) { it_close(&t); }

static int saved_stderr = -1;

/* The module's log (stderr) into logfile, until log_end. */
static void log_begin(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);
}

static char *log_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	static char text[8192];
	memset(text, 0, sizeof text);
	FILE *f = fopen(logfile, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	(void)n;
	fclose(f);
	return text;
}

static CK_RV make_pr(const char *node)
{
	static CK_MECHANISM gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_PEER_NODE, (void *)node, strlen(node)},
		{CKA_AKM_HW_BINDING, "hw", 2},
		{CKA_AKM_STATION_ID, "nmm-1", 5},
		{CKA_LABEL, (void *)node, strlen(node)},
	};
	CK_OBJECT_HANDLE h;
	return t.f->C_GenerateKey(t.s, &gen, tmpl, 5, &h);
}

static CK_ULONG count_relationship_keys(void)
{
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE q = {CKA_AKM_KIND, &kind, sizeof kind};
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &q, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 16, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	ck_assert_msg(lstat(path, &st) == 0, "%s is missing", path);
	return st.st_mode;
}

START_TEST(test_registry_files_0600)
{
	/* A umask that would leave them world-writable. */
	mode_t old = umask(0);
	it_open(&t);
	ck_assert_int_eq(make_pr("node-modes"), CKR_OK);
	umask(old);
	const char *suffixes[] = {"", "-wal", "-shm", "-changes", "-login"};
	for (size_t i = 0; i < 5; i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof path, "%s%s", registry, suffixes[i]);
		mode_t m = mode_of(path);
		ck_assert_msg(S_ISREG(m) && (m & 07777) == 0600, "%s has mode %o", path, (unsigned)(m & 07777));
	}
}
END_TEST

static void write_victim(void)
{
	FILE *f = fopen(victim, "w");
	ck_assert_ptr_nonnull(f);
	fputs("victim: not the registry's", f);
	fclose(f);
	ck_assert_int_eq(chmod(victim, 0644), 0);
}

/* A -changes planted as a link to another file: not followed, the victim
 * keeps its bytes and mode, the refusal is named, and the registry works. */
START_TEST(test_changes_symlink_refused)
{
	write_victim();
	ck_assert_int_eq(symlink(victim, changes), 0);
	log_begin();
	it_open(&t);
	CK_RV rv = make_pr("node-link");
	CK_ULONG n = count_relationship_keys();
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	char *log = log_end();
	ck_assert_int_eq(rv, CKR_OK);
	ck_assert_uint_eq(n, 2); /* its two keys */
	ck_assert_msg(strstr(log, changes) != NULL && strstr(log, "a symbolic link, not a regular file") != NULL,
	              "log: %s", log);
	FILE *f = fopen(victim, "r");
	char buf[64] = {0};
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(buf, 1, sizeof buf - 1, f), 26);
	fclose(f);
	ck_assert_str_eq(buf, "victim: not the registry's");
	ck_assert_uint_eq(mode_of(victim) & 07777, 0644);
	ck_assert(S_ISLNK(mode_of(changes)));

	/* A second process sees the first's change without the side file
	 * (the change mark falls back to SQLite's own). */
	log_begin();
	it_open(&t);
	ck_assert_int_eq(make_pr("node-link-2"), CKR_OK);
	ck_assert_uint_eq(count_relationship_keys(), 4);
	log_end();
}
END_TEST

START_TEST(test_changes_directory_or_fifo_refused)
{
	const char *what[] = {"a directory, not a regular file", "a FIFO, not a regular file"};
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			ck_assert_int_eq(mkdir(changes, 0700), 0);
		else
			ck_assert_int_eq(mkfifo(changes, 0600), 0);
		log_begin();
		alarm(60); /* a FIFO must not block C_Initialize */
		it_open(&t);
		char node[32];
		snprintf(node, sizeof node, "node-%d", i);
		CK_RV rv = make_pr(node);
		ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
		alarm(0);
		char *log = log_end();
		ck_assert_int_eq(rv, CKR_OK);
		ck_assert_msg(strstr(log, changes) != NULL && strstr(log, what[i]) != NULL, "log: %s", log);
		mode_t m = mode_of(changes);
		ck_assert(i == 0 ? S_ISDIR(m) : S_ISFIFO(m));
		ck_assert_int_eq(i == 0 ? rmdir(changes) : unlink(changes), 0);
	}
}
END_TEST

/* The registry itself as a symbolic link: refused, C_Initialize fails and
 * names it; the target is left alone. */
START_TEST(test_registry_symlink_refused)
{
	write_victim();
	ck_assert_int_eq(symlink(victim, registry), 0);
	log_begin();
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = t.f->C_Initialize(&args);
	char *log = log_end();
	ck_assert_int_ne(rv, CKR_OK);
	ck_assert_msg(strstr(log, registry) != NULL && strstr(log, "a symbolic link") != NULL, "log: %s", log);
	ck_assert_uint_eq(mode_of(victim) & 07777, 0644);
	struct stat st;
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 26);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sidefiles");
	TCase *tc = tcase_create("sidefiles");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_registry_files_0600);
	tcase_add_test(tc, test_changes_symlink_refused);
	tcase_add_test(tc, test_changes_directory_or_fifo_refused);
	tcase_add_test(tc, test_registry_symlink_refused);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

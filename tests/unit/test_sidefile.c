/* Side files beside the registry (src/common/sidefile.c): made 0600, and
 * anything that is not a regular file of ours is refused, named, and left
 * as it was. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/sidefile.h"

static char dir[] = "/tmp/akm-sidefile-test-XXXXXX";
static char path[600], victim[600];

static void setup(void)
{
	strcpy(dir, "/tmp/akm-sidefile-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/registry.db-side", dir);
	snprintf(victim, sizeof victim, "%s/victim", dir);
}

static void teardown(void)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_victim(void)
{
	FILE *f = fopen(victim, "w");
	ck_assert_ptr_nonnull(f);
	fputs("victim contents", f);
	fclose(f);
	ck_assert_int_eq(chmod(victim, 0644), 0);
}

static void assert_victim_unchanged(void)
{
	char buf[64] = {0};
	FILE *f = fopen(victim, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	ck_assert_uint_eq(n, 15);
	ck_assert_str_eq(buf, "victim contents");
	struct stat st;
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
}

/* Opens `path` and expects a refusal naming it and saying `why`. */
static void expect_refused(int flags, const char *why)
{
	char err[1024] = "";
	int fd = akm_sidefile_open(path, flags, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, why) != NULL,
	              "got '%s', want '%s'", err, why);
}

START_TEST(test_created_0600_whatever_the_umask)
{
	mode_t old = umask(0);
	char err[256] = "";
	int fd = akm_sidefile_open(path, AKM_SIDEFILE_CREATE, err, sizeof err);
	umask(old);
	ck_assert_msg(fd >= 0, "%s", err);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	/* Blocking again (fcntl locks wait), close-on-exec. */
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* Opened again, existing: fine; missing without CREATE: ENOENT. */
	fd = akm_sidefile_open(path, 0, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
	fd = akm_sidefile_open(path, AKM_SIDEFILE_READONLY, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(write(fd, "x", 1), -1);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(akm_sidefile_open(path, 0, err, sizeof err), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
}
END_TEST

START_TEST(test_symlink_refused_victim_unchanged)
{
	write_victim();
	ck_assert_int_eq(symlink(victim, path), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "a symbolic link, not a regular file");
	expect_refused(0, "a symbolic link");
	assert_victim_unchanged();
	/* A dangling link is not followed to create its target either. */
	ck_assert_int_eq(unlink(path), 0);
	char nowhere[700];
	snprintf(nowhere, sizeof nowhere, "%s/created-through-link", dir);
	ck_assert_int_eq(symlink(nowhere, path), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "a symbolic link");
	ck_assert_int_eq(access(nowhere, F_OK), -1);
}
END_TEST

START_TEST(test_directory_fifo_socket_refused)
{
	ck_assert_int_eq(mkdir(path, 0700), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "a directory, not a regular file");
	ck_assert_int_eq(rmdir(path), 0);

	/* A FIFO with no one at the other end: refused at once, not waited on. */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	alarm(5);
	expect_refused(AKM_SIDEFILE_CREATE, "a FIFO, not a regular file");
	expect_refused(AKM_SIDEFILE_READONLY, "a FIFO, not a regular file");
	alarm(0);
	ck_assert_int_eq(unlink(path), 0);

	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "a socket, not a regular file");
	close(s);
}
END_TEST

START_TEST(test_hard_link_refused)
{
	write_victim();
	ck_assert_int_eq(link(victim, path), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "2 hard links");
	expect_refused(AKM_SIDEFILE_CREATE | AKM_SIDEFILE_ANY_OWNER, "2 hard links");
	assert_victim_unchanged();
}
END_TEST

/* Another uid's file: refused (unless the caller says any owner will do).
 * Needs root to make such a file; skipped otherwise. */
START_TEST(test_other_owner_refused)
{
	if (geteuid() != 0)
		return;
	char err[256];
	int fd = akm_sidefile_open(path, AKM_SIDEFILE_CREATE, err, sizeof err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	expect_refused(AKM_SIDEFILE_CREATE, "owned by uid 65534, not by this process's uid 0");
	fd = akm_sidefile_open(path, AKM_SIDEFILE_ANY_OWNER, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sidefile");
	TCase *tc = tcase_create("sidefile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_created_0600_whatever_the_umask);
	tcase_add_test(tc, test_symlink_refused_victim_unchanged);
	tcase_add_test(tc, test_directory_fifo_socket_refused);
	tcase_add_test(tc, test_hard_link_refused);
	tcase_add_test(tc, test_other_owner_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Interrupted commands (issue 10, "Tools check what they talk to"): SIGINT
 * or SIGTERM during `akm-nmm provision` and `export` finishes the node in
 * hand, prints what was done, and exits 130 (SIGINT) or 143 (SIGTERM), with
 * files and records consistent:
 *
 *   - provision --count N, interrupted midway: exit 130 with "interrupted by
 *     SIGINT"; the nodes the station holds under the run's prefix are
 *     exactly the number it printed as provisioned (whole batch
 *     transactions), the rest "not started"; a rerun completes the batch.
 *   - export --all (passphrase) into a fresh folder, interrupted midway
 *     (SIGTERM, exit 143): the folder holds the anchor and exactly the
 *     bundles it printed as written (each renamed into place whole) and
 *     nothing else (no temporary file), and the trail has one station export
 *     record per bundle written.
 *
 * The signal is sent after half the time an uninterrupted run takes
 * (measured first); runs that finish before it (exit 0) or are stopped
 * before the first node are consistent too and are retried with another
 * delay, up to 6 times: one interrupted midway is required.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nmm-test.h"

#define PASSPHRASE "Interrupt-Test-Passphrase-1"
#define COUNT "25000"
#define COUNT_N 25000

/* Runs akm-nmm SUB ... (NULL-terminated) with stdout and stderr into *out;
 * sends `sig` after delay_s seconds (if still running).  Returns the exit
 * status (WEXITSTATUS), or 1000 + the signal that killed it. */
static int nmm_signalled(char **out, double delay_s, int sig, const char *sub, ...)
{
	const char *argv[NMM_MAX_ARGS];
	size_t n = 0;
	argv[n++] = nmm_path;
	argv[n++] = sub;
	const char *common[] = {"--module", env.module_path, "--token", STATION, "--pin-file", pin_file, NULL};
	for (size_t i = 0; common[i]; i++)
		argv[n++] = common[i];
	va_list ap;
	va_start(ap, sub);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < NMM_MAX_ARGS - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	char log[PATH_MAX + 32];
	path_in(log, sizeof log, "signalled.log");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(120);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(121);
	}
	struct timespec ts = {(time_t)delay_s, (long)((delay_s - (double)(time_t)delay_s) * 1e9)};
	nanosleep(&ts, NULL);
	kill(pid, sig);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	FILE *f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	char *text = calloc(1, 1 << 20);
	size_t got = fread(text, 1, (1 << 20) - 1, f);
	text[got] = '\0';
	fclose(f);
	*out = text;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* Nodes of the station whose name starts with prefix. */
static size_t count_nodes(const char *prefix)
{
	char *out;
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	size_t n = 0;
	char key[128];
	snprintf(key, sizeof key, "\"name\":\"%s", prefix);
	for (const char *p = out; (p = strstr(p, key)) != NULL; p++)
		n++;
	free(out);
	return n;
}

static size_t count_in(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_interrupted_provision)
{
	char *out;
	EXPECT_RC(nmm(&out, "init", "--site", "Interrupt", "--location", "Lab", NULL), 0, out, "init");
	free(out);
	double t0 = now_s();
	EXPECT_RC(nmm(&out, "provision", "--count", COUNT, "--prefix", "m-", NULL), 0, out, "uninterrupted provision");
	free(out);
	double full = now_s() - t0;
	fprintf(stderr, "nmm-interrupt: provision --count %s takes %.2f s\n", COUNT, full);
	bool midway = false;
	for (int attempt = 0; attempt < 6 && !midway; attempt++) {
		char prefix[16];
		snprintf(prefix, sizeof prefix, "i%d-", attempt);
		double delay = full * (0.3 + 0.1 * attempt);
		int rc = nmm_signalled(&out, delay, SIGINT, "provision", "--count", COUNT, "--prefix", prefix, NULL);
		size_t have = count_nodes(prefix);
		fprintf(stderr, "nmm-interrupt: SIGINT after %.2f s: exit %d, %zu nodes\n", delay, rc, have);
		ck_assert_msg(rc == 130 || rc == 0, "provision: exit %d, expected 130 (or 0 when it finished first):\n%s", rc,
		              out);
		if (rc == 0) {
			ck_assert_uint_eq(have, COUNT_N);
		} else {
			ck_assert_msg(strstr(out, "interrupted by SIGINT") != NULL, "no summary:\n%s", out);
			const char *p = strstr(out, "provisioned ");
			size_t made = 0, not_started = 0;
			ck_assert_msg(p && sscanf(p, "provisioned %zu", &made) == 1, "no count:\n%s", out);
			p = strstr(out, "interrupted by SIGINT: ");
			ck_assert_msg(p && sscanf(p, "interrupted by SIGINT: %zu not started", &not_started) == 1, "%s", out);
			ck_assert_msg(made == have, "printed %zu provisioned, the station holds %zu", made, have);
			ck_assert_uint_eq(made + not_started, COUNT_N);
			midway = made > 0 && made < COUNT_N;
		}
		free(out);
		/* A rerun completes the batch. */
		EXPECT_RC(nmm(&out, "provision", "--count", COUNT, "--prefix", prefix, NULL), 0, out, "rerun");
		free(out);
		ck_assert_uint_eq(count_nodes(prefix), COUNT_N);
	}
	ck_assert_msg(midway, "no run was interrupted midway");
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
}
END_TEST

START_TEST(test_interrupted_export)
{
	char *out, pass[PATH_MAX + 32];
	EXPECT_RC(nmm(&out, "init", "--site", "Interrupt", "--location", "Lab", NULL), 0, out, "init");
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--count", "400", "--prefix", "e-", "--delivery", "passphrase", NULL), 0, out,
	          "provision");
	free(out);
	path_in(pass, sizeof pass, "passphrase");
	write_file(pass, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
	char dir0[PATH_MAX + 32];
	path_in(dir0, sizeof dir0, "usb-full");
	mkdir(dir0, 0700);
	double t0 = now_s();
	EXPECT_RC(nmm(&out, "export", "--all", "--out", dir0, "--protection", "passphrase", "--passphrase-file", pass,
	              "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL), 0, out, "uninterrupted export");
	free(out);
	double full = now_s() - t0;
	fprintf(stderr, "nmm-interrupt: export of 400 bundles takes %.2f s\n", full);
	bool midway = false;
	for (int attempt = 0; attempt < 6 && !midway; attempt++) {
		char dir[PATH_MAX + 32], name[32];
		snprintf(name, sizeof name, "usb-%d", attempt);
		path_in(dir, sizeof dir, name);
		mkdir(dir, 0700);
		EXPECT_RC(nmm(&out, "audit", "--json", NULL), 0, out, "audit --json");
		size_t records_before = count_in(out, "\"actor\":\"app\",\"action\":\"export\"");
		free(out);
		double delay = full * (0.3 + 0.1 * attempt);
		int rc = nmm_signalled(&out, delay, SIGTERM, "export", "--all", "--out", dir, "--protection", "passphrase",
		                       "--passphrase-file", pass, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL);
		/* The folder: the anchor and whole bundles only. */
		size_t files = 0, others = 0;
		DIR *d = opendir(dir);
		ck_assert_ptr_nonnull(d);
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			size_t n = strlen(e->d_name);
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "station.akmp") == 0)
				continue;
			if (n > 5 && strcmp(e->d_name + n - 5, ".akmb") == 0)
				files++;
			else
				others++;
		}
		closedir(d);
		char *audit;
		EXPECT_RC(nmm(&audit, "audit", "--json", NULL), 0, audit, "audit --json");
		size_t records = count_in(audit, "\"actor\":\"app\",\"action\":\"export\"") - records_before;
		free(audit);
		fprintf(stderr, "nmm-interrupt: SIGTERM after %.2f s: exit %d, %zu bundles, %zu records\n", delay, rc, files,
		        records);
		ck_assert_msg(rc == 143 || rc == 0, "export: exit %d, expected 143 (or 0):\n%s", rc, out);
		ck_assert_msg(others == 0, "%zu other files left in %s", others, dir);
		ck_assert_msg(records == files, "%zu bundles written, %zu export records", files, records);
		if (rc == 0) {
			ck_assert_uint_eq(files, 400);
		} else {
			size_t written = 0, total = 0;
			const char *p = strstr(out, "interrupted by SIGTERM: ");
			ck_assert_msg(p && sscanf(p, "interrupted by SIGTERM: %zu of %zu", &written, &total) == 2, "%s", out);
			ck_assert_uint_eq(total, 400);
			ck_assert_msg(written == files, "printed %zu written, %zu in the folder", written, files);
			midway = written > 0 && written < 400;
		}
		free(out);
	}
	ck_assert_msg(midway, "no export was interrupted midway");
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_interrupted_provision);
	tcase_add_test(tc, test_interrupted_export);
}

int main(void)
{
	return nmm_test_main("nmm-interrupt", "interrupt", 600, false, add_tests);
}

/*
 * Durability of the registry, through the real module in separate
 * processes (durability-worker, whose path is argv[1]):
 *
 *   - relationships made by one process are found and used by the next;
 *   - two processes creating relationships at once lose nothing;
 *   - a process SIGKILLed at random moments while it creates relationships
 *     leaves a registry that opens, holds every relationship it reported,
 *     none half-written, with an audit chain that verifies.
 *
 * This process never loads the module: every use of it is a fresh worker
 * (fork + exec), as an application restarted after a crash would be.  The
 * registry file is opened here only with the store API, to verify the audit
 * chain and count rows, while no worker runs.
 *
 * AKM_DURABILITY_ROUNDS sets the number of kills (default 25);
 * AKM_DURABILITY_SEED the random seed (default: time and pid, printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "store/store.h"

static const char *worker_path;
static akm_testenv env;
static char worker_err[PATH_MAX + 16]; /* the workers' stderr, module log included */

static void setup(void)
{
	ck_assert_int_eq(akm_testenv_create(&env, "akm-dur"), 0);
	snprintf(worker_err, sizeof worker_err, "%s/worker.err", env.dir);
}
static void teardown(void) { akm_testenv_destroy(&env); }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Splits text into complete lines ("\n"-terminated); lines starting with
 * '#' (the worker's control lines) are counted, not kept.  Returns the
 * length consumed (an unterminated tail stays for the next call). */
static size_t lines_parse(akm_strlist *l, const char *text, size_t len, int *controls)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		if (i > start && text[start] == '#') {
			if (controls != NULL)
				(*controls)++;
		} else if (i > start) {
			akm_strlist_add(l, text + start, i - start);
		}
		start = i + 1;
	}
	return start;
}

static void lines_write_file(const akm_strlist *l, const char *path)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < l->n; i++)
		fprintf(fp, "%s\n", l->v[i]);
	ck_assert_int_eq(fclose(fp), 0);
}

/* ---- workers ------------------------------------------------------------ */

/* The end of what the workers wrote on stderr since the last
 * worker_log_flush (for failure messages). */
static const char *worker_log(void)
{
	static char text[4096];
	text[0] = '\0';
	FILE *fp = fopen(worker_err, "r");
	if (fp == NULL)
		return text;
	if (fseek(fp, -(long)(sizeof text - 1), SEEK_END) != 0)
		rewind(fp);
	size_t n = fread(text, 1, sizeof text - 1, fp);
	text[n] = '\0';
	fclose(fp);
	return text;
}

/* Passes the workers' stderr on to ours (shown by meson test -v), then
 * empties it. */
static void worker_log_flush(const char *when)
{
	const char *log = worker_log();
	if (*log != '\0')
		fprintf(stderr, "durability: %s: workers said:\n%s", when, log);
	if (truncate(worker_err, 0) != 0 && errno != ENOENT)
		fprintf(stderr, "durability: truncate %s: %s\n", worker_err, strerror(errno));
}

/* Starts the worker with stdin from `stdin_fd` (or /dev/null when -1),
 * stdout to `stdout_fd` and stderr appended to worker_err.  Our pipes are
 * O_CLOEXEC, so a worker holds no other worker's pipe open. */
static pid_t spawn_worker(const char *mode, const char *prefix, unsigned long count, int stdin_fd,
                          int stdout_fd)
{
	char count_s[32];
	snprintf(count_s, sizeof count_s, "%lu", count);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
		int err = open(worker_err, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (in < 0 || err < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(stdout_fd, STDOUT_FILENO) < 0 ||
		    dup2(err, STDERR_FILENO) < 0)
			_exit(126);
		char *const argv[] = {(char *)worker_path, env.module_path, env.token_label, (char *)mode,
		                      (char *)prefix, count_s, NULL};
		execv(worker_path, argv);
		fprintf(stderr, "exec %s: %s\n", worker_path, strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return status;
}

/* Runs a worker to its end; its ID akm_strlist go to *out (may be NULL).
 * Returns its exit code (or 128 + signal). */
static int run_worker(const char *mode, const char *prefix, unsigned long count, const char *stdin_path,
                      akm_strlist *out)
{
	int p[2], in = -1;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	if (stdin_path != NULL)
		ck_assert_int_ge(in = open(stdin_path, O_RDONLY | O_CLOEXEC), 0);
	pid_t pid = spawn_worker(mode, prefix, count, in, p[1]);
	close(p[1]);
	if (in >= 0)
		close(in);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		ssize_t n = read(p[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	if (out != NULL)
		lines_parse(out, buf, len, NULL);
	free(buf);
	int status = wait_status(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs a worker that must succeed; its stderr is in the failure message. */
#define RUN_OK(...)                                                                  \
	do {                                                                          \
		int rc_ = run_worker(__VA_ARGS__);                                    \
		ck_assert_msg(rc_ == 0, "worker (%s) exited %d:\n%s", #__VA_ARGS__, rc_, \
		              worker_log());                                          \
	} while (0)

/* ---- the registry, read with the store API -------------------------------- */

static void registry_file(char *path, size_t len)
{
	snprintf(path, len, "%s/registry.db", env.dir);
}

/* The registry opens, its audit chain verifies, and it holds exactly
 * `relationships` relationships with two keys each. */
static void check_registry(int64_t relationships, const char *when)
{
	char path[PATH_MAX + 16], err[512] = "";
	registry_file(path, sizeof path);
	akm_store *reg = NULL;
	CK_RV rv = akm_store_open(path, &reg, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "%s: the registry does not open (0x%lx): %s", when, rv, err);
	int64_t records = 0, rels = -1, keys = -1, audit = -1;
	rv = akm_store_audit_verify(reg, &records, err, sizeof err);
	ck_assert_msg(rv == CKR_OK, "%s: the audit chain does not verify (0x%lx): %s", when, rv, err);
	ck_assert_int_eq(akm_store_count(reg, AKM_STORE_RELATIONSHIPS, &rels), CKR_OK);
	ck_assert_int_eq(akm_store_count(reg, AKM_STORE_KEYS, &keys), CKR_OK);
	ck_assert_int_eq(akm_store_count(reg, AKM_STORE_AUDIT, &audit), CKR_OK);
	akm_store_close(reg);
	ck_assert_msg(rels == relationships, "%s: %lld relationships in the registry, expected %lld", when,
	              (long long)rels, (long long)relationships);
	ck_assert_msg(keys == 2 * relationships, "%s: %lld keys for %lld relationships", when,
	              (long long)keys, (long long)relationships);
	/* Every creation left its audit record. */
	ck_assert_msg(audit == records && audit >= relationships, "%s: %lld audit records (%lld verified) for %lld relationships",
	              when, (long long)audit, (long long)records, (long long)relationships);
}

static int env_int(const char *name, int fallback)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? atoi(v) : fallback;
}

/* Reads whatever the worker wrote within `ms` milliseconds (all of it when
 * ms < 0: until EOF); returns false at EOF. */
static bool drain(int fd, char **buf, size_t *len, size_t *cap, int ms)
{
	double deadline = now_s() + ms / 1000.0;
	for (;;) {
		int wait_ms = -1;
		if (ms >= 0) {
			double left = deadline - now_s();
			if (left <= 0)
				return true;
			wait_ms = (int)(left * 1000.0) + 1;
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(r, 0);
		if (r == 0)
			continue; /* the deadline is checked above */
		if (*len + 4096 > *cap) {
			*cap = *cap ? 2 * *cap : 65536;
			*buf = realloc(*buf, *cap);
			ck_assert_ptr_nonnull(*buf);
		}
		ssize_t n = read(fd, *buf + *len, *cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(n, 0);
		if (n == 0)
			return false;
		*len += (size_t)n;
	}
}

/* ---- the tests ------------------------------------------------------------- */

START_TEST(test_persistence_across_processes)
{
	enum { N = 50 };
	akm_strlist made = {0}, found = {0};
	/* Process A creates them and exits. */
	RUN_OK("create", "persist-", N, NULL, &made);
	ck_assert_uint_eq(made.n, N);
	/* Process B finds each by ID and uses both keys. */
	RUN_OK("check", "persist-", N, NULL, NULL);
	/* Listing by kind shows exactly those, each complete. */
	RUN_OK("scan", "", 0, NULL, &found);
	ck_assert_uint_eq(found.n, N);
	akm_strlist_sort(&found);
	for (size_t i = 0; i < made.n; i++)
		ck_assert_msg(akm_strlist_has(&found, made.v[i]), "%s is gone", made.v[i]);
	/* And a process that never created anything can still add to them. */
	RUN_OK("create", "later-", 2, NULL, NULL);
	RUN_OK("check", "persist-", N, NULL, NULL);
	check_registry(N + 2, "after two processes");
	worker_log_flush("persistence");
	akm_strlist_free(&made);
	akm_strlist_free(&found);
}
END_TEST

START_TEST(test_two_processes_create_at_once)
{
	enum { N = 300 };
	/* The first login creates the KEK and the counter; done before the race
	 * so the race is about relationships. */
	RUN_OK("check", "none-", 0, NULL, NULL);

	/* Each creator logs in first and waits for "go" on stdin: the two
	 * logins are kept apart because SoftHSM2's file store rewrites
	 * token.object in place at every C_Login, and another process reading
	 * it meanwhile sees no token; the creations then run at once. */
	const char *prefixes[2] = {"a-", "b-"};
	pid_t pids[2];
	int go[2], out[2];
	char *buf[2] = {NULL, NULL};
	size_t len[2] = {0, 0}, cap[2] = {0, 0};
	akm_strlist made[2] = {{0}, {0}};
	int ready[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		int in_pipe[2], out_pipe[2];
		ck_assert_int_eq(pipe2(in_pipe, O_CLOEXEC), 0);
		ck_assert_int_eq(pipe2(out_pipe, O_CLOEXEC), 0);
		pids[k] = spawn_worker("create-on-go", prefixes[k], N, in_pipe[0], out_pipe[1]);
		close(in_pipe[0]);
		close(out_pipe[1]);
		go[k] = in_pipe[1];
		out[k] = out_pipe[0];
		bool open = true;
		double give_up = now_s() + 30;
		while (ready[k] == 0 && open && now_s() < give_up) {
			open = drain(out[k], &buf[k], &len[k], &cap[k], 10);
			size_t used = lines_parse(&made[k], buf[k], len[k], &ready[k]);
			if (used > 0) { /* buf may still be NULL: memmove must not see it */
				memmove(buf[k], buf[k] + used, len[k] - used);
				len[k] -= used;
			}
		}
		if (ready[k] != 1)
			for (int j = 0; j <= k; j++)
				kill(pids[j], SIGKILL); /* leave nothing running behind a failure */
		ck_assert_msg(ready[k] == 1, "creator %s never got ready:\n%s", prefixes[k], worker_log());
	}
	double t0 = now_s();
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(write(go[k], "go\n", 3), 3);
		close(go[k]);
	}
	for (int k = 0; k < 2; k++) {
		drain(out[k], &buf[k], &len[k], &cap[k], -1);
		close(out[k]);
		lines_parse(&made[k], buf[k], len[k], NULL);
		free(buf[k]);
		int status = wait_status(pids[k]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "creator %s failed (status 0x%x):\n%s",
		              prefixes[k], status, worker_log());
		/* It reported all of its own. */
		ck_assert_uint_eq(made[k].n, N);
		akm_strlist_free(&made[k]);
	}
	fprintf(stderr, "durability: two processes created %d relationships in %.2f s\n", 2 * N, now_s() - t0);

	/* Every one is there exactly once, with both keys, and works. */
	RUN_OK("check", "a-", N, NULL, NULL);
	RUN_OK("check", "b-", N, NULL, NULL);
	akm_strlist found = {0};
	RUN_OK("scan", "", 0, NULL, &found);
	ck_assert_uint_eq(found.n, 2 * N);
	akm_strlist_sort(&found);
	for (size_t i = 1; i < found.n; i++)
		ck_assert_str_ne(found.v[i - 1], found.v[i]);
	akm_strlist_free(&found);
	check_registry(2 * N, "after two concurrent creators");
	worker_log_flush("two creators");
}
END_TEST

START_TEST(test_crash_safety)
{
	int rounds = env_int("AKM_DURABILITY_ROUNDS", 25);
	unsigned seed = (unsigned)env_int("AKM_DURABILITY_SEED", 0);
	if (seed == 0)
		seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
	fprintf(stderr, "durability: %d rounds, AKM_DURABILITY_SEED=%u\n", rounds, seed);
	srand(seed);

	akm_strlist known = {0}; /* every relationship found after the last round, sorted */
	size_t reported_total = 0, unreported_total = 0;
	double t0 = now_s(), check_time = 0;
	double first_latency_sum = 0; /* "#ready" to the first ID line, seconds */
	int first_latency_n = 0;
	char stdin_path[PATH_MAX + 16];
	snprintf(stdin_path, sizeof stdin_path, "%s/reported", env.dir);

	for (int round = 0; round < rounds; round++) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "crash-%d-", round);
		int p[2];
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		pid_t pid = spawn_worker("create", prefix, 100000000UL, -1, p[1]);
		close(p[1]);

		/* The delay counts from the worker's "#ready" (after C_Login), not
		 * from its start: SoftHSM2's file store rewrites token.object in
		 * place at every C_Login (truncate, unlock, write), so a kill there
		 * can wipe the whole backend token, whoever the caller is. */
		char *buf = NULL;
		size_t len = 0, cap = 0;
		akm_strlist reported = {0};
		int controls = 0;
		bool open = true;
		double give_up = now_s() + 20;
		while (controls == 0 && open && now_s() < give_up) {
			open = drain(p[0], &buf, &len, &cap, 10);
			size_t used = lines_parse(&reported, buf, len, &controls);
			if (used > 0) {
				memmove(buf, buf + used, len - used);
				len -= used;
			}
		}
		if (controls != 1)
			kill(pid, SIGKILL); /* leave nothing running behind a failure */
		ck_assert_msg(controls == 1, "round %d: the worker never got ready:\n%s", round, worker_log());
		double ready_at = now_s();
		/* Two rounds in five aim at the first creation after login: its
		 * commit is followed by the write of the token's counter object
		 * (later commits write it at most once a second), the moment a
		 * kill must not turn into a refused registry.  The other rounds
		 * measure how long that first creation takes. */
		bool aimed = (round % 5 == 1 || round % 5 == 3) && first_latency_n > 0;
		int delay_us = aimed ? (int)(first_latency_sum / first_latency_n * 1e6 * (0.2 + 0.9 * (rand() / (RAND_MAX + 1.0))))
		                     : 1000 * (5 + rand() % 196);
		if (aimed) {
			usleep((useconds_t)delay_us);
		} else {
			double kill_at = ready_at + delay_us / 1e6;
			bool first_seen = false;
			while (open && now_s() < kill_at) {
				int slice_ms = first_seen ? (int)((kill_at - now_s()) * 1000) + 1 : 1;
				if (slice_ms < 0)
					slice_ms = 0; /* drain() takes a negative time as "until EOF" */
				open = drain(p[0], &buf, &len, &cap, slice_ms);
				size_t used = lines_parse(&reported, buf, len, &controls);
				if (used > 0) {
					memmove(buf, buf + used, len - used);
					len -= used;
				}
				if (!first_seen && reported.n > 0) {
					first_seen = true;
					first_latency_sum += now_s() - ready_at;
					first_latency_n++;
				}
			}
		}
		ck_assert_msg(open, "round %d: the worker ended before the kill:\n%s", round, worker_log());
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		drain(p[0], &buf, &len, &cap, -1);
		close(p[0]);
		int status = wait_status(pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		              "round %d: the worker ended by itself (status 0x%x)", round, status);
		lines_parse(&reported, buf, len, &controls);
		free(buf);
		reported_total += reported.n;

		/* Reopen in a fresh process: every reported one is there and
		 * works, every listed one is complete; this round's are used. */
		double c0 = now_s();
		lines_write_file(&reported, stdin_path);
		akm_strlist found = {0};
		int rc = run_worker("scan", prefix, 0, stdin_path, &found);
		ck_assert_msg(rc == 0, "round %d (killed %d us after ready, %zu reported): the check after the kill "
		              "failed (exit %d):\n%s", round, delay_us, reported.n, rc, worker_log());
		akm_strlist_sort(&found);
		akm_strlist_sort(&reported);
		for (size_t i = 0; i < reported.n; i++)
			ck_assert_msg(akm_strlist_has(&found, reported.v[i]), "round %d: reported %s is gone:\n%s", round, reported.v[i],
			              worker_log());
		/* A refused registry (status not OK after login) lists as empty. */
		ck_assert_msg(known.n == 0 || found.n > 0, "round %d (killed %d us after ready): every relationship is "
		              "gone (%zu known): the module refuses the registry after the kill:\n%s", round, delay_us,
		              known.n, worker_log());
		for (size_t i = 0; i < known.n; i++)
			ck_assert_msg(akm_strlist_has(&found, known.v[i]), "round %d: %s of an earlier round is gone "
			              "(%zu relationships listed, %zu known):\n%s", round, known.v[i], found.n, known.n,
			              worker_log());
		/* Creation is sequential, so the only one that may exist unreported
		 * is the next ID after the last reported (killed between its
		 * commit and its line). */
		char next[64];
		snprintf(next, sizeof next, "%s%zu", prefix, reported.n);
		size_t unreported = 0;
		for (size_t i = 0; i < found.n; i++) {
			if (akm_strlist_has(&known, found.v[i]) || akm_strlist_has(&reported, found.v[i]))
				continue;
			ck_assert_msg(strcmp(found.v[i], next) == 0, "round %d: %s appeared from nowhere (expected at most %s)",
			              round, found.v[i], next);
			unreported++;
		}
		ck_assert_uint_le(unreported, 1);
		unreported_total += unreported;
		ck_assert_uint_eq(found.n, known.n + reported.n + unreported);

		char when[64];
		snprintf(when, sizeof when, "round %d", round);
		check_registry((int64_t)found.n, when);
		check_time += now_s() - c0;
		worker_log_flush(when);

		akm_strlist_free(&known);
		known = found;
		akm_strlist_free(&reported);
	}

	/* After all that, the registry still takes new relationships. */
	RUN_OK("create", "final-", 4, NULL, NULL);
	RUN_OK("check", "final-", 4, NULL, NULL);
	check_registry((int64_t)known.n + 4, "at the end");
	fprintf(stderr, "durability: %d kills, %zu relationships reported, "
	        "%zu unreported but complete, first creation after login %.1f ms, %.1f s (%.1f s checking)\n",
	        rounds, reported_total, unreported_total,
	        first_latency_n ? first_latency_sum / first_latency_n * 1000 : 0.0, now_s() - t0, check_time);
	akm_strlist_free(&known);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-durability PATH-OF-durability-worker\n");
		return 2;
	}
	worker_path = argv[1];
	/* A worker that died early makes a write to its stdin fail, not kill
	 * us (workers inherit this and get EPIPE, which they report). */
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("durability");
	TCase *tc = tcase_create("durability");
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_persistence_across_processes);
	tcase_add_test(tc, test_two_processes_create_at_once);
	tcase_add_test(tc, test_crash_safety);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

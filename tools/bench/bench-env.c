#include "bench/bench-env.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int write_text_file(const char *program, const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (!file) {
		fprintf(stderr, "%s: %s: %s\n", program, path, strerror(errno));
		return -1;
	}
	fputs(text, file);
	if (fclose(file) != 0) {
		fprintf(stderr, "%s: %s: %s\n", program, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path); /* best effort: keep going */
	return 0;
}

void bench_env_destroy(bench_env *env)
{
	if (env->dir[0] != '\0')
		nftw(env->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	env->dir[0] = '\0';
}

static void print_file(const char *path)
{
	FILE *file = fopen(path, "r");
	if (!file)
		return;
	char line[512];
	while (fgets(line, sizeof line, file))
		fprintf(stderr, "  %s", line);
	fclose(file);
}

/* softhsm2-util --module: the token is initialised by the very library
 * being measured. */
static int init_token(const bench_env *env, const char *program, const char *softhsm_path, const char *label,
                      const char *so_pin, const char *user_pin)
{
	char *const argv[] = {
		"softhsm2-util", "--module", (char *)softhsm_path, "--init-token", "--free",
		"--label", (char *)label, "--so-pin", (char *)so_pin, "--pin", (char *)user_pin, NULL
	};
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, env->init_log,
	                                 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
	pid_t pid;
	int spawn_error = posix_spawnp(&pid, "softhsm2-util", &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (spawn_error != 0) {
		fprintf(stderr, "%s: cannot run softhsm2-util: %s\n", program, strerror(spawn_error));
		return -1;
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: softhsm2-util --init-token failed:\n", program);
		print_file(env->init_log);
		return -1;
	}
	return 0;
}

int bench_env_create(bench_env *env, const char *program, const char *tag, const char *softhsm_path,
                     const char *label, const char *so_pin, const char *user_pin)
{
	memset(env, 0, sizeof *env);
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char template_path[sizeof env->dir];
	if (strlen(tmp) + strlen(program) + strlen(tag) + sizeof "/-.XXXXXX" > sizeof template_path) {
		fprintf(stderr, "%s: TMPDIR is too long\n", program);
		return -1;
	}
	snprintf(template_path, sizeof template_path, "%s/%s-%s.XXXXXX", tmp, program, tag);
	if (!mkdtemp(template_path)) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", program, template_path, strerror(errno));
		return -1;
	}
	snprintf(env->dir, sizeof env->dir, "%s", template_path);
	snprintf(env->token_dir, sizeof env->token_dir, "%s/tokens", env->dir);
	snprintf(env->softhsm_conf, sizeof env->softhsm_conf, "%s/softhsm2.conf", env->dir);
	snprintf(env->akm_conf, sizeof env->akm_conf, "%s/akm-pkcs11.conf", env->dir);
	snprintf(env->registry, sizeof env->registry, "%s/registry.db", env->dir);
	snprintf(env->init_log, sizeof env->init_log, "%s/softhsm2-util.log", env->dir);
	if (mkdir(env->token_dir, 0700) != 0) {
		fprintf(stderr, "%s: mkdir %s: %s\n", program, env->token_dir, strerror(errno));
		return -1;
	}
	char text[3 * PATH_MAX];
	snprintf(text, sizeof text,
	         "# SoftHSM2 configuration written by %s\n"
	         "directories.tokendir = %s\n"
	         "objectstore.backend = file\n"
	         "log.level = ERROR\n"
	         "slots.removable = false\n",
	         program, env->token_dir);
	if (write_text_file(program, env->softhsm_conf, text) != 0)
		return -1;
	snprintf(text, sizeof text,
	         "# akm-pkcs11 configuration written by %s\n"
	         "backend.module = %s\n"
	         "backend.token = pkcs11:token=%s\n"
	         "registry.path = registry.db\n"
	         "log.level = error\n",
	         program, softhsm_path, label);
	if (write_text_file(program, env->akm_conf, text) != 0)
		return -1;
	setenv("SOFTHSM2_CONF", env->softhsm_conf, 1);
	setenv("AKM_PKCS11_CONF", env->akm_conf, 1);
	return init_token(env, program, softhsm_path, label, so_pin, user_pin);
}


static bool write_all(int fd, const void *buffer, size_t size)
{
	const char *p = buffer;
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		size -= (size_t)n;
	}
	return true;
}

bool bench_run_in_child(bool (*fn)(void *out, const void *arg), const void *arg, void *out, size_t size,
                        unsigned alarm_s, volatile sig_atomic_t *running,
                        const volatile sig_atomic_t *interrupted, char *error, size_t errlen)
{
	int pipe_fds[2];
	memset(out, 0, size);
	if (pipe(pipe_fds) != 0) {
		snprintf(error, errlen, "pipe: %s", strerror(errno));
		return false;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(error, errlen, "fork: %s", strerror(errno));
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return false;
	}
	if (pid == 0) {
		close(pipe_fds[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		alarm(alarm_s); /* a module that hangs must not hang the benchmark */
		bool ok = fn(out, arg);
		bool sent = write_all(pipe_fds[1], out, size);
		/* _exit: the parent's stdio buffers and atexit handlers are not ours. */
		_exit(sent && ok ? 0 : 1);
	}
	close(pipe_fds[1]);
	if (running != NULL)
		*running = pid;
	if (interrupted != NULL && *interrupted) /* the signal came before the line above */
		kill(pid, SIGTERM);
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(pipe_fds[0], (char *)out + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pipe_fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (running != NULL)
		*running = 0;
	if (got == size)
		return true;
	memset(out, 0, size);
	if (WIFSIGNALED(status))
		snprintf(error, errlen, "measuring process killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(error, errlen, "measuring process exited with status %d without a result",
		         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return false;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(const double *values, int n)
{
	if (n <= 0)
		return 0.0;
	double *sorted = malloc((size_t)n * sizeof *sorted);
	if (sorted == NULL)
		return 0.0;
	memcpy(sorted, values, (size_t)n * sizeof *values);
	qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
	double m = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
	free(sorted);
	return m;
}

volatile sig_atomic_t bench_interrupted = 0, bench_running_child = 0;

static void on_interrupt(int signal_number)
{
	(void)signal_number;
	bench_interrupted = 1;
	if (bench_running_child > 0)
		kill((pid_t)bench_running_child, SIGTERM);
}

void bench_catch_interrupts(void)
{
	struct sigaction action = {0};
	action.sa_handler = on_interrupt;
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
}

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_parse_count(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < min || value > max)
		return -1;
	*out = (unsigned long)value;
	return 0;
}

int bench_parse_seconds(const char *text, double max, double *out)
{
	char *end;
	double value = strtod(text, &end);
	if (end == text || *end != '\0' || !(value > 0.0) || value > max)
		return -1;
	*out = value;
	return 0;
}

void bench_json_string(const char *text)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

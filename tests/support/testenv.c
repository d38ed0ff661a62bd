/*
 * Test support: throwaway SoftHSM2 tokens, akm-pkcs11 configurations, module
 * loading and running real programs.  See testenv.h for the contract.
 */
#include "testenv.h"

#include <check.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AKM_RUN_DEFAULT_TIMEOUT_S 120

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int join_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "testenv: path too long: %s/%s\n", dir, name);
		return -1;
	}
	return 0;
}

static int copy_string(char *out, size_t size, const char *value)
{
	size_t len = strlen(value);
	if (len >= size)
		return -1;
	memcpy(out, value, len + 1);
	return 0;
}

static int write_text_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (!file) {
		fprintf(stderr, "testenv: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	int ok = fwrite(text, 1, len, file) == len;
	if (fclose(file) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "testenv: error writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static bool is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* ------------------------------------------------------------------ */
/* Running programs                                                    */
/* ------------------------------------------------------------------ */

bool akm_have_program(const char *name)
{
	if (!name || !*name)
		return false;
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 && is_regular_file(name);

	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	char candidate[PATH_MAX];
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dir_len = colon ? (size_t)(colon - path) : strlen(path);
		/* An empty PATH entry means the current directory. */
		int n = dir_len == 0
		        ? snprintf(candidate, sizeof candidate, "./%s", name)
		        : snprintf(candidate, sizeof candidate, "%.*s/%s", (int)dir_len, path, name);
		if (n > 0 && (size_t)n < sizeof candidate &&
		    access(candidate, X_OK) == 0 && is_regular_file(candidate))
			return true;
		if (!colon)
			break;
		path = colon + 1;
	}
	return false;
}

void akm_require_programs(const char *const names[])
{
	for (size_t i = 0; names && names[i]; i++) {
		if (!akm_have_program(names[i])) {
			fprintf(stderr, "SKIP: program '%s' not found in PATH\n", names[i]);
			exit(AKM_TEST_SKIP);
		}
	}
}

struct output_buffer {
	char *data;
	size_t len;
	size_t cap;
};

static int output_append(struct output_buffer *buf, const char *bytes, size_t n)
{
	if (buf->len + n + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 4096;
		while (buf->len + n + 1 > cap)
			cap *= 2;
		char *grown = realloc(buf->data, cap);
		if (!grown)
			return -1;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, bytes, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return 0;
}

/* The child: its own process group (so a timeout kills helpers it forks too),
 * stdin from the input pipe or /dev/null, stdout and stderr into one pipe.
 * exec errors go back through a close-on-exec pipe as an errno. */
static void run_child(const char *const argv[], int stdin_fd, int out_fd, int errno_fd)
{
	setpgid(0, 0);
	int null_fd = -1;
	if (stdin_fd < 0) {
		null_fd = open("/dev/null", O_RDONLY);
		stdin_fd = null_fd;
	}
	if (stdin_fd < 0 || dup2(stdin_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0) {
		int err = errno;
		(void)!write(errno_fd, &err, sizeof err);
		_exit(127);
	}
	/* Restore default signal dispositions the test process may have changed. */
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	int err = errno;
	(void)!write(errno_fd, &err, sizeof err);
	_exit(127);
}

int akm_run(const char *const argv[], const char *input, char **output, int timeout_s)
{
	if (output)
		*output = NULL;
	if (!argv || !argv[0])
		return -1;
	if (timeout_s <= 0)
		timeout_s = AKM_RUN_DEFAULT_TIMEOUT_S;

	int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1}, errno_pipe[2] = {-1, -1};
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(errno_pipe, O_CLOEXEC) < 0 ||
	    (input && pipe2(in_pipe, O_CLOEXEC) < 0)) {
		fprintf(stderr, "testenv: pipe: %s\n", strerror(errno));
		goto fail_pipes;
	}

	/* A child that exits without reading all its input must not kill us. */
	struct sigaction ignore_pipe = {.sa_handler = SIG_IGN}, old_pipe;
	sigemptyset(&ignore_pipe.sa_mask);
	sigaction(SIGPIPE, &ignore_pipe, &old_pipe);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "testenv: fork: %s\n", strerror(errno));
		sigaction(SIGPIPE, &old_pipe, NULL);
		goto fail_pipes;
	}
	if (pid == 0)
		run_child(argv, input ? in_pipe[0] : -1, out_pipe[1], errno_pipe[1]);
	/* Also in the parent, so the group exists before we might kill it. */
	setpgid(pid, pid);

	close(out_pipe[1]);
	close(errno_pipe[1]);
	if (input)
		close(in_pipe[0]);
	int out_fd = out_pipe[0];
	int in_fd = input ? in_pipe[1] : -1;
	size_t input_len = input ? strlen(input) : 0, input_done = 0;
	if (in_fd >= 0) {
		fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
		if (input_len == 0) {
			close(in_fd);
			in_fd = -1;
		}
	}

	struct output_buffer buf = {0};
	output_append(&buf, "", 0);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	bool timed_out = false;
	int status = 0;
	bool reaped = false;

	/* Read until the output pipe closes (every holder of it exited). */
	while (out_fd >= 0) {
		long left_ms = (long)timeout_s * 1000 - elapsed_ms(&start);
		if (left_ms <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd fds[2];
		nfds_t nfds = 0;
		fds[nfds++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		if (in_fd >= 0)
			fds[nfds++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
		int ready = poll(fds, nfds, left_ms > 1000 ? 1000 : (int)left_ms);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (nfds > 1 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in_fd, input + input_done, input_len - input_done);
			if (w > 0)
				input_done += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || input_done == input_len) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			char chunk[8192];
			ssize_t r = read(out_fd, chunk, sizeof chunk);
			if (r > 0) {
				output_append(&buf, chunk, (size_t)r);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(out_fd);
				out_fd = -1;
			}
		}
		/* A background grandchild may keep the pipe open after the child
		 * exited: stop reading once the child itself is gone. */
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = true;
			/* Drain what is already buffered, without blocking. */
			fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
			for (;;) {
				char chunk[8192];
				ssize_t r = read(out_fd, chunk, sizeof chunk);
				if (r <= 0)
					break;
				output_append(&buf, chunk, (size_t)r);
			}
			close(out_fd);
			out_fd = -1;
		}
	}
	if (out_fd >= 0)
		close(out_fd);
	if (in_fd >= 0)
		close(in_fd);

	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		char note[128];
		snprintf(note, sizeof note, "\n[testenv: '%s' killed after %d s]\n", argv[0], timeout_s);
		output_append(&buf, note, strlen(note));
		fprintf(stderr, "testenv: '%s' timed out after %d s, killed\n", argv[0], timeout_s);
	}
	if (!reaped) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	sigaction(SIGPIPE, &old_pipe, NULL);

	int exec_errno = 0;
	ssize_t got = read(errno_pipe[0], &exec_errno, sizeof exec_errno);
	close(errno_pipe[0]);

	if (output)
		*output = buf.data;
	else
		free(buf.data);

	if (got == (ssize_t)sizeof exec_errno) {
		fprintf(stderr, "testenv: cannot run '%s': %s\n", argv[0], strerror(exec_errno));
		return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;

fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (errno_pipe[i] >= 0)
			close(errno_pipe[i]);
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Test environments                                                   */
/* ------------------------------------------------------------------ */

static int init_softhsm_token(akm_testenv *env, const char *label)
{
	if (strlen(label) == 0 || strlen(label) > 32) {
		fprintf(stderr, "testenv: token label must be 1..32 characters: '%s'\n", label);
		return -1;
	}
	const char *argv[] = {"softhsm2-util", "--init-token", "--free", "--label", label,
	                      "--so-pin", AKM_TEST_SO_PIN, "--pin", AKM_TEST_USER_PIN, NULL};
	char *output = NULL;
	/* softhsm2-util reads SOFTHSM2_CONF from the environment we exported. */
	int status = akm_run(argv, NULL, &output, 60);
	if (status != 0) {
		fprintf(stderr, "testenv: softhsm2-util --init-token '%s' failed (status %d):\n%s\n",
		        label, status, output ? output : "");
		free(output);
		return -1;
	}
	free(output);
	return 0;
}

static int write_akm_conf(akm_testenv *env)
{
	char text[4 * PATH_MAX];
	int n = snprintf(text, sizeof text,
	                 "# akm-pkcs11 configuration written by the test support library\n"
	                 "backend.module = %s\n"
	                 "backend.token = pkcs11:token=%s\n"
	                 "registry.path = %s/registry.db\n"
	                 "log.level = warning\n"
	                 "log.target = stderr\n", /* tests read the module's messages there */
	                 env->softhsm_path, env->token_label, env->dir);
	if (n < 0 || (size_t)n >= sizeof text)
		return -1;
	return write_text_file(env->akm_conf, text);
}

static void skip_unless_file(const char *what, const char *path)
{
	if (!path || !*path) {
		fprintf(stderr, "SKIP: %s is not set\n", what);
		exit(AKM_TEST_SKIP);
	}
	if (!is_regular_file(path)) {
		fprintf(stderr, "SKIP: %s: %s does not exist\n", what, path);
		exit(AKM_TEST_SKIP);
	}
}

int akm_testenv_create(akm_testenv *env, const char *token_label)
{
	memset(env, 0, sizeof *env);
	if (!token_label)
		token_label = "akm-test";

	const char *module = getenv("AKM_TEST_MODULE");
	const char *softhsm = getenv("AKM_TEST_SOFTHSM");
	skip_unless_file("AKM_TEST_MODULE", module);
	skip_unless_file("AKM_TEST_SOFTHSM", softhsm);
	if (!akm_have_program("softhsm2-util")) {
		fprintf(stderr, "SKIP: softhsm2-util not found in PATH\n");
		exit(AKM_TEST_SKIP);
	}
	if (copy_string(env->module_path, sizeof env->module_path, module) < 0 ||
	    copy_string(env->softhsm_path, sizeof env->softhsm_path, softhsm) < 0 ||
	    copy_string(env->token_label, sizeof env->token_label, token_label) < 0) {
		fprintf(stderr, "testenv: module path or token label too long\n");
		return -1;
	}
	if (strlen(token_label) == 0) {
		fprintf(stderr, "testenv: empty token label\n");
		return -1;
	}

	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (join_path(env->dir, sizeof env->dir, tmp, "akm-test-XXXXXX") < 0)
		return -1;
	if (!mkdtemp(env->dir)) {
		fprintf(stderr, "testenv: mkdtemp %s: %s\n", env->dir, strerror(errno));
		env->dir[0] = '\0';
		return -1;
	}
	if (join_path(env->token_dir, sizeof env->token_dir, env->dir, "tokens") < 0 ||
	    join_path(env->softhsm_conf, sizeof env->softhsm_conf, env->dir, "softhsm2.conf") < 0 ||
	    join_path(env->akm_conf, sizeof env->akm_conf, env->dir, "akm-pkcs11.conf") < 0)
		goto fail;
	if (mkdir(env->token_dir, 0700) < 0) {
		fprintf(stderr, "testenv: mkdir %s: %s\n", env->token_dir, strerror(errno));
		goto fail;
	}

	char softhsm_text[PATH_MAX + 256];
	snprintf(softhsm_text, sizeof softhsm_text,
	         "directories.tokendir = %s\n"
	         "objectstore.backend = file\n"
	         "log.level = ERROR\n"
	         "slots.removable = false\n",
	         env->token_dir);
	if (write_text_file(env->softhsm_conf, softhsm_text) < 0 || write_akm_conf(env) < 0)
		goto fail;
	if (setenv("SOFTHSM2_CONF", env->softhsm_conf, 1) < 0 ||
	    setenv("AKM_PKCS11_CONF", env->akm_conf, 1) < 0) {
		fprintf(stderr, "testenv: setenv: %s\n", strerror(errno));
		goto fail;
	}
	if (init_softhsm_token(env, token_label) < 0)
		goto fail;
	return 0;

fail:
	akm_testenv_destroy(env);
	return -1;
}

int akm_testenv_add_token(akm_testenv *env, const char *label)
{
	if (!env || !env->dir[0] || !label)
		return -1;
	return init_softhsm_token(env, label);
}

int akm_testenv_write_conf(akm_testenv *env, const char *text)
{
	if (!env || !env->akm_conf[0] || !text)
		return -1;
	return write_text_file(env->akm_conf, text);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = (type == FTW_DP) ? rmdir(path) : unlink(path);
	if (rc < 0 && errno != ENOENT)
		fprintf(stderr, "testenv: cannot remove %s: %s\n", path, strerror(errno));
	return 0; /* keep going: remove as much as possible */
}

void akm_testenv_destroy(akm_testenv *env)
{
	if (!env || !env->dir[0])
		return;
	/* FTW_DEPTH: children before their folder; FTW_PHYS: never follow links. */
	nftw(env->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	env->dir[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Modules                                                             */
/* ------------------------------------------------------------------ */

CK_FUNCTION_LIST *akm_test_load_module(const char *path, void **dl_handle)
{
	if (dl_handle)
		*dl_handle = NULL;
	if (!path)
		return NULL;
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "testenv: dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	CK_C_GetFunctionList get_function_list;
	*(void **)&get_function_list = dlsym(handle, "C_GetFunctionList");
	CK_FUNCTION_LIST *functions = NULL;
	if (!get_function_list) {
		fprintf(stderr, "testenv: %s has no C_GetFunctionList\n", path);
	} else {
		CK_RV rv = get_function_list(&functions);
		if (rv != CKR_OK || !functions) {
			fprintf(stderr, "testenv: C_GetFunctionList of %s returned 0x%lx\n",
			        path, (unsigned long)rv);
			functions = NULL;
		}
	}
	if (!functions) {
		dlclose(handle);
		return NULL;
	}
	if (dl_handle)
		*dl_handle = handle;
	return functions;
}

CK_RV akm_test_find_slot(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot)
{
	if (!f || !label || !slot)
		return CKR_ARGUMENTS_BAD;

	/* The token label is 32 bytes, blank padded, not NUL terminated. */
	char padded[32];
	size_t label_len = strlen(label);
	if (label_len > sizeof padded)
		return CKR_TOKEN_NOT_PRESENT;
	memset(padded, ' ', sizeof padded);
	memcpy(padded, label, label_len);

	CK_ULONG count = 0;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &count);
	if (rv != CKR_OK)
		return rv;
	if (count == 0)
		return CKR_TOKEN_NOT_PRESENT;
	CK_SLOT_ID *slots = calloc(count, sizeof *slots);
	if (!slots)
		return CKR_HOST_MEMORY;
	rv = f->C_GetSlotList(CK_TRUE, slots, &count);
	if (rv != CKR_OK) {
		free(slots);
		return rv;
	}
	rv = CKR_TOKEN_NOT_PRESENT;
	for (CK_ULONG i = 0; i < count; i++) {
		CK_TOKEN_INFO info;
		if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		if (memcmp(info.label, padded, sizeof padded) == 0) {
			*slot = slots[i];
			rv = CKR_OK;
			break;
		}
	}
	free(slots);
	return rv;
}

/* ---- string lists ---------------------------------------------------------- */

void akm_strlist_add(akm_strlist *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		ck_assert_ptr_nonnull(l->v);
	}
	l->v[l->n] = strndup(s, len);
	ck_assert_ptr_nonnull(l->v[l->n]);
	l->n++;
}

void akm_strlist_free(akm_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int strlist_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void akm_strlist_sort(akm_strlist *l)
{
	if (l->n > 0)
		qsort(l->v, l->n, sizeof *l->v, strlist_cmp);
}

bool akm_strlist_has(const akm_strlist *l, const char *s)
{
	return l->n > 0 && bsearch(&s, l->v, l->n, sizeof *l->v, strlist_cmp) != NULL;
}

size_t akm_test_dir_entries(const char *dir, char *names, size_t size)
{
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	size_t n = 0;
	names[0] = '\0';
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		size_t used = strlen(names);
		snprintf(names + used, size - used, "%s%s", used ? " " : "", e->d_name);
	}
	closedir(d);
	return n;
}

char *akm_test_read_source(const char *rel)
{
	const char *src = getenv("AKM_TEST_SRCDIR");
	if (src == NULL)
		return NULL;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", src, rel);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 256 * 1024, len;
	char *text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	len = fread(text, 1, cap - 1, f);
	fclose(f);
	text[len] = '\0';
	return text;
}

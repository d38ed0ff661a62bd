/*
 * Shared helpers of the interoperability tests (see interop.h).
 */
#include "interop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void skip_unless_module(const char *variable)
{
	const char *path = getenv(variable);
	struct stat st;
	if (!path || !*path) {
		fprintf(stderr, "SKIP: %s is not set\n", variable);
		exit(AKM_TEST_SKIP);
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "SKIP: %s: %s does not exist\n", variable, path);
		exit(AKM_TEST_SKIP);
	}
}

/*
 * In an ASan build the module needs the ASan runtime loaded before anything
 * else, which pkcs11-tool, p11-kit and openssl do not do: preload the runtime
 * this test program itself uses into every program it starts, and keep leak
 * detection off there (those programs' own leaks are not ours; the unit and
 * integration tests check ours).
 */
static bool sanitizer_preloaded;

bool akm_interop_sanitizer_preloaded(void)
{
	return sanitizer_preloaded;
}

static void preload_sanitizer_runtime(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	if (!maps)
		return;
	char line[PATH_MAX + 256];
	char asan_path[PATH_MAX] = "";
	while (fgets(line, sizeof line, maps)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		const char *base = strrchr(path, '/') + 1;
		if (strncmp(base, "libasan.so", strlen("libasan.so")) == 0) {
			snprintf(asan_path, sizeof asan_path, "%s", path);
			break;
		}
	}
	fclose(maps);
	if (!asan_path[0])
		return;

	const char *old_preload = getenv("LD_PRELOAD");
	if (!old_preload || !strstr(old_preload, asan_path)) {
		char preload[2 * PATH_MAX];
		snprintf(preload, sizeof preload, "%s%s%s", asan_path,
		         old_preload && *old_preload ? ":" : "", old_preload ? old_preload : "");
		setenv("LD_PRELOAD", preload, 1);
	}
	const char *old_options = getenv("ASAN_OPTIONS");
	char options[1024];
	snprintf(options, sizeof options, "%s%sdetect_leaks=0:verify_asan_link_order=0",
	         old_options ? old_options : "", old_options && *old_options ? ":" : "");
	setenv("ASAN_OPTIONS", options, 1);
	sanitizer_preloaded = true;
}

/*
 * Every test environment of this process lives in one folder that the main
 * process removes when it exits: check ends a forked test with _exit() when
 * an assertion fails, so the test's own akm_testenv_destroy never runs.
 */
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
	/* Only the process that made it: forked tests inherit this handler. */
	if (scratch_root[0] && getpid() == scratch_owner)
		nftw(scratch_root, remove_scratch_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_scratch_root(void)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(scratch_root, sizeof scratch_root, "%s/akm-interop-XXXXXX", tmp);
	if (!mkdtemp(scratch_root)) {
		fprintf(stderr, "interop: mkdtemp %s: %s\n", scratch_root, strerror(errno));
		exit(EXIT_FAILURE);
	}
	/* Traversable by others, so that a test may run a program as another
	 * user on a folder inside; each environment inside is still 0700. */
	chmod(scratch_root, 0711);
	scratch_owner = getpid();
	atexit(remove_scratch_root);
	setenv("TMPDIR", scratch_root, 1);
}

const char *akm_interop_scratch_root(void)
{
	return scratch_root;
}

void akm_interop_prepare(const char *const programs[])
{
	skip_unless_module("AKM_TEST_MODULE");
	skip_unless_module("AKM_TEST_SOFTHSM");
	static const char *const always[] = {"softhsm2-util", NULL};
	akm_require_programs(always);
	akm_require_programs(programs);
	preload_sanitizer_runtime();
	make_scratch_root();
}

void akm_interop_env_create(akm_testenv *env, const char *token_label)
{
	ck_assert_msg(akm_testenv_create(env, token_label) == 0,
	              "cannot create the test environment for token '%s'", token_label);
}

int akm_interop_run_suite(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int akm_interop_run(const char *const argv[], const char *input, char **output)
{
	char *text = NULL;
	int status = akm_run(argv, input, &text, AKM_INTEROP_RUN_TIMEOUT_S);
	if (!text)
		text = strdup("");

	fprintf(stderr, "$");
	for (size_t i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n%s%s[exit status %d]\n", text,
	        text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "", status);

	if (output)
		*output = text;
	else
		free(text);
	return status;
}

int akm_interop_pkcs11_tool(const char *module, const char *const args[], char **output)
{
	const char *argv[64];
	size_t n = 0;
	argv[n++] = "pkcs11-tool";
	argv[n++] = "--module";
	argv[n++] = module;
	for (size_t i = 0; args && args[i]; i++) {
		ck_assert_msg(n < sizeof argv / sizeof argv[0] - 1, "too many pkcs11-tool arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return akm_interop_run(argv, NULL, output);
}

void akm_interop_path(char *out, const akm_testenv *env, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", env->dir, name);
	ck_assert_msg(n > 0 && n < PATH_MAX, "path too long: %s/%s", env->dir, name);
}

unsigned char *akm_interop_read_file(const char *path, size_t *len)
{
	FILE *file = fopen(path, "rb");
	if (!file)
		return NULL;
	size_t cap = 4096, used = 0;
	unsigned char *data = malloc(cap + 1);
	while (data) {
		size_t got = fread(data + used, 1, cap - used, file);
		used += got;
		if (got == 0)
			break;
		if (used == cap) {
			unsigned char *grown = realloc(data, 2 * cap + 1);
			if (!grown) {
				free(data);
				data = NULL;
				break;
			}
			data = grown;
			cap *= 2;
		}
	}
	bool failed = ferror(file);
	fclose(file);
	if (!data || failed) {
		free(data);
		return NULL;
	}
	data[used] = '\0';
	if (len)
		*len = used;
	return data;
}

int akm_interop_write_file(const char *path, const void *data, size_t len)
{
	FILE *file = fopen(path, "wb");
	if (!file)
		return -1;
	bool ok = fwrite(data, 1, len, file) == len;
	if (fclose(file) != 0)
		ok = false;
	return ok ? 0 : -1;
}

int akm_interop_write_random_file(const char *path, size_t len)
{
	unsigned char *data = malloc(len ? len : 1);
	FILE *urandom = fopen("/dev/urandom", "rb");
	int rc = -1;
	if (data && urandom && fread(data, 1, len, urandom) == len)
		rc = akm_interop_write_file(path, data, len);
	if (urandom)
		fclose(urandom);
	free(data);
	return rc;
}

bool akm_interop_files_equal(const char *path_a, const char *path_b)
{
	size_t len_a = 0, len_b = 0;
	unsigned char *a = akm_interop_read_file(path_a, &len_a);
	unsigned char *b = akm_interop_read_file(path_b, &len_b);
	bool equal = a && b && len_a == len_b && memcmp(a, b, len_a) == 0;
	free(a);
	free(b);
	return equal;
}

size_t akm_interop_count(const char *haystack, const char *needle)
{
	size_t count = 0, needle_len = strlen(needle);
	if (!haystack || needle_len == 0)
		return 0;
	for (const char *at = strstr(haystack, needle); at; at = strstr(at + needle_len, needle))
		count++;
	return count;
}

const char *akm_interop_pkcs11_engine_path(void)
{
	static char found[PATH_MAX];
	if (found[0])
		return found;

	/* Ask OpenSSL where its engines live; fall back to Debian's folder. */
	const char *argv[] = {"openssl", "version", "-e", NULL};
	char *output = NULL;
	char dir[PATH_MAX] = "/usr/lib/x86_64-linux-gnu/engines-3";
	if (akm_run(argv, NULL, &output, 30) == 0 && output) {
		const char *open_quote = strchr(output, '"');
		const char *close_quote = open_quote ? strchr(open_quote + 1, '"') : NULL;
		if (close_quote && close_quote > open_quote + 1)
			snprintf(dir, sizeof dir, "%.*s", (int)(close_quote - open_quote - 1), open_quote + 1);
	}
	free(output);

	const char *candidates[] = {dir, "/usr/lib/x86_64-linux-gnu/engines-3", "/usr/lib64/engines-3",
	                            "/usr/lib/engines-3"};
	for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/pkcs11.so", candidates[i]);
		if (access(path, R_OK) == 0) {
			snprintf(found, sizeof found, "%s", path);
			return found;
		}
	}
	return NULL;
}

/* Replaces every "@NAME@" of the template with its value; malloc'd. */
static char *fill_template(const char *template_text, const char *const names[],
                           const char *const values[])
{
	size_t cap = strlen(template_text) + 1;
	for (size_t i = 0; names[i]; i++)
		cap += akm_interop_count(template_text, names[i]) * strlen(values[i]);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	char *w = out;
	for (const char *r = template_text; *r;) {
		size_t i;
		for (i = 0; names[i]; i++) {
			size_t name_len = strlen(names[i]);
			if (strncmp(r, names[i], name_len) == 0) {
				size_t value_len = strlen(values[i]);
				memcpy(w, values[i], value_len);
				w += value_len;
				r += name_len;
				break;
			}
		}
		if (!names[i])
			*w++ = *r++;
	}
	*w = '\0';
	return out;
}

int akm_interop_write_openssl_conf(const char *path, const char *module_path)
{
	const char *engine = akm_interop_pkcs11_engine_path();
	if (!engine)
		return -1;

	static const char fallback[] =
		"openssl_conf = openssl_init\n"
		"[openssl_init]\n"
		"engines = engine_section\n"
		"[engine_section]\n"
		"pkcs11 = pkcs11_section\n"
		"[pkcs11_section]\n"
		"engine_id = pkcs11\n"
		"dynamic_path = @ENGINE_PATH@\n"
		"MODULE_PATH = @MODULE_PATH@\n"
		"init = 0\n";
	char *template_text = NULL;
	const char *srcdir = getenv("AKM_TEST_SRCDIR");
	if (srcdir) {
		char template_path[PATH_MAX];
		snprintf(template_path, sizeof template_path, "%s/conf/openssl-akm.cnf.in", srcdir);
		template_text = (char *)akm_interop_read_file(template_path, NULL);
	}
	const char *const names[] = {"@ENGINE_PATH@", "@MODULE_PATH@", NULL};
	const char *const values[] = {engine, module_path, NULL};
	char *text = fill_template(template_text ? template_text : fallback, names, values);
	free(template_text);
	if (!text)
		return -1;
	int rc = akm_interop_write_file(path, text, strlen(text));
	free(text);
	return rc;
}

/* The hex digits following `key` on its line, into out (at most out_size-1). */
static bool hex_field(const char *text, const char *key, char *out, size_t out_size)
{
	const char *at = strstr(text, key);
	if (!at)
		return false;
	at += strlen(key);
	at += strspn(at, " \t");
	size_t len = strspn(at, "0123456789abcdefABCDEF");
	if (len == 0 || len >= out_size)
		return false;
	memcpy(out, at, len);
	out[len] = '\0';
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

void akm_interop_export_ec_public_key(const akm_testenv *env, const char *module, const char *id,
                                      const char *pub_pem_path)
{
	char *out = NULL;
	const char *const list[] = {"--token-label", env->token_label, "-O", "--type", "pubkey", "--id", id, NULL};
	ck_assert_int_eq(akm_interop_pkcs11_tool(module, list, &out), 0);
	char params[64], point[256];
	ck_assert_msg(hex_field(out, "EC_PARAMS:", params, sizeof params), "no EC_PARAMS for key %s", id);
	ck_assert_msg(hex_field(out, "EC_POINT:", point, sizeof point), "no EC_POINT for key %s", id);
	free(out);

	/* CKA_EC_PARAMS: the P-256 OID; CKA_EC_POINT: DER OCTET STRING (04 41)
	 * holding the uncompressed point 04 || X || Y (PKCS#11 v2.40 §2.3.3). */
	ck_assert_str_eq(params, "06082a8648ce3d030107");
	ck_assert_uint_eq(strlen(point), 2 * 67);
	ck_assert_msg(strncmp(point, "044104", 6) == 0, "EC_POINT is not a DER uncompressed P-256 point: %s", point);

	static const unsigned char spki_prefix[] = {
		0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, /* id-ecPublicKey */
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,                   /* prime256v1 */
		0x03, 0x42, 0x00,                                                             /* BIT STRING */
	};
	unsigned char spki[sizeof spki_prefix + 65];
	memcpy(spki, spki_prefix, sizeof spki_prefix);
	for (size_t i = 0; i < 65; i++)
		spki[sizeof spki_prefix + i] =
			(unsigned char)(hex_value(point[4 + 2 * i]) << 4 | hex_value(point[5 + 2 * i]));

	char der_path[PATH_MAX];
	int n = snprintf(der_path, sizeof der_path, "%s.der", pub_pem_path);
	ck_assert(n > 0 && (size_t)n < sizeof der_path);
	ck_assert_int_eq(akm_interop_write_file(der_path, spki, sizeof spki), 0);
	/* openssl checks the point is on the curve. */
	const char *const to_pem[] = {"openssl", "pkey", "-pubin", "-inform", "DER", "-in", der_path,
	                              "-out", pub_pem_path, NULL};
	ck_assert_int_eq(akm_interop_run(to_pem, NULL, &out), 0);
	free(out);
}

void akm_interop_make_engine_ec_key(const akm_testenv *env, const char *label, const char *id,
                                    const char *pub_pem_path, const char *openssl_conf_path)
{
	char *out = NULL;
	const char *const keygen[] = {"--token-label", env->token_label, "--login", "--pin", AKM_TEST_USER_PIN,
	                              "--keypairgen", "--key-type", "EC:prime256v1", "--label", label,
	                              "--id", id, NULL};
	ck_assert_int_eq(akm_interop_pkcs11_tool(env->module_path, keygen, &out), 0);
	free(out);

	akm_interop_export_ec_public_key(env, env->module_path, id, pub_pem_path);

	ck_assert_msg(akm_interop_write_openssl_conf(openssl_conf_path, env->module_path) == 0,
	              "cannot write the OpenSSL configuration %s", openssl_conf_path);
}

void akm_interop_private_key_uri(char *out, const akm_testenv *env, const char *label, const char *pin)
{
	int n = snprintf(out, PATH_MAX, "pkcs11:token=%s;object=%s;type=private;pin-value=%s",
	                 env->token_label, label, pin);
	ck_assert(n > 0 && n < PATH_MAX);
}

int akm_interop_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t addr_len = sizeof addr;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0)
		port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

int akm_interop_engine_main(Suite *(*make_suite)(void))
{
	akm_interop_prepare((const char *const[]){"pkcs11-tool", "openssl", "env", NULL});
	if (!akm_interop_pkcs11_engine_path()) {
		fprintf(stderr, "SKIP: the OpenSSL pkcs11 engine (libengine-pkcs11-openssl) is not installed\n");
		return AKM_TEST_SKIP;
	}
	return akm_interop_run_suite(make_suite());
}

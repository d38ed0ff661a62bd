/*
 * Secrets in locked, guarded memory (secret.h).  A secret is read straight
 * into sodium_malloc'd memory (no stdio buffers, no copies on the heap) and
 * wiped by sodium_free.  The passphrase protection of bundles:
 * docs/formats.md, "Passphrase keys".
 */
#include "shared/secret.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/buf.h"

#define SECRET_MAX 4096 /* the longest line read as a secret */

void akm_secret_init(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "akm: libsodium could not be initialised\n");
		exit(4);
	}
}

static int secret_alloc(akm_secret *s, size_t cap)
{
	s->data = sodium_malloc(cap + 1);
	s->len = 0;
	if (!s->data)
		return -1;
	memset(s->data, 0, cap + 1);
	return 0;
}

int akm_secret_from(akm_secret *s, const void *data, size_t len)
{
	if (secret_alloc(s, len) != 0)
		return -1;
	if (len)
		memcpy(s->data, data, len);
	s->data[len] = '\0';
	s->len = len;
	return 0;
}

void akm_secret_free(akm_secret *s)
{
	if (!s)
		return;
	if (s->data)
		sodium_free(s->data); /* wipes, then unlocks and frees */
	s->data = NULL;
	s->len = 0;
}

/* The option that names a file holding `what`: "PIN" -> "--pin-file",
 * "SE PIN" -> "--se-pin-file", "passphrase" -> "--passphrase-file". */
static void option_name(const char *what, char *out, size_t outlen)
{
	size_t n = 0;
	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	out[n++] = '-';
	out[n++] = '-';
	for (const char *p = what; *p && n + 6 < outlen; p++)
		out[n++] = *p == ' ' ? '-' : (char)tolower((unsigned char)*p);
	memcpy(out + n, "-file", 6);
}

/* Reads one line (up to '\n' or end of input) from fd into s; the line end
 * ("\n" or "\r\n") is dropped.  Returns 0, -1 on a read error (errno),
 * -2 when the line is longer than SECRET_MAX. */
static int read_line(int fd, akm_secret *s)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0 || c == '\n')
			break;
		if (n == SECRET_MAX)
			return -2;
		s->data[n++] = c;
	}
	if (n > 0 && s->data[n - 1] == '\r')
		n--;
	s->data[n] = '\0';
	s->len = n;
	return 0;
}

static int read_file(akm_secret *s, const char *path, const char *what, const char *opt,
                     char *err, size_t errlen)
{
	/* "-": the first line of stdin (read a byte at a time, so nothing after
	 * it is taken from whoever reads stdin next). */
	bool std_in = strcmp(path, "-") == 0;
	if (std_in)
		path = "stdin";
	int fd = std_in ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the %s file %s (%s): %s", what, path, opt,
		         strerror(errno));
		return -1;
	}
	if (secret_alloc(s, SECRET_MAX) != 0) {
		close(fd);
		snprintf(err, errlen, "no locked memory for the %s", what);
		return -1;
	}
	int rc = read_line(fd, s);
	int saved = errno;
	close(fd);
	if (rc == -1)
		snprintf(err, errlen, "cannot read the %s file %s (%s): %s", what, path, opt,
		         strerror(saved));
	else if (rc == -2)
		snprintf(err, errlen, "the %s file %s (%s) has a first line longer than %d bytes",
		         what, path, opt, SECRET_MAX);
	else if (s->len == 0)
		snprintf(err, errlen, "the %s file %s (%s) has an empty first line", what, path, opt);
	if (rc != 0 || s->len == 0) {
		akm_secret_free(s);
		return -1;
	}
	return 0;
}

static int read_tty(akm_secret *s, const char *prompt, const char *what, char *err,
                    size_t errlen)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) != 0) {
		snprintf(err, errlen, "cannot prompt for the %s: %s", what, strerror(errno));
		return -1;
	}
	if (secret_alloc(s, SECRET_MAX) != 0) {
		snprintf(err, errlen, "no locked memory for the %s", what);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	/* Echo off first, then the prompt: what is typed after the prompt
	 * is never shown (and not discarded by TCSAFLUSH). */
	int changed = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	fputs(prompt ? prompt : "Secret: ", stderr);
	fflush(stderr);
	int rc = read_line(STDIN_FILENO, s);
	int saved = errno;
	if (changed)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	if (rc == -1)
		snprintf(err, errlen, "cannot read the %s from the terminal: %s", what, strerror(saved));
	else if (rc == -2)
		snprintf(err, errlen, "the %s typed is longer than %d bytes", what, SECRET_MAX);
	else if (s->len == 0)
		snprintf(err, errlen, "no %s typed", what);
	if (rc != 0 || s->len == 0) {
		akm_secret_free(s);
		return -1;
	}
	return 0;
}

int akm_secret_read(akm_secret *s, const char *path, const char *env, const char *prompt,
                    const char *what, char *err, size_t errlen)
{
	char opt[80];
	const char *value;
	s->data = NULL;
	s->len = 0;
	if (!what)
		what = "secret";
	option_name(what, opt, sizeof opt);
	if (path)
		return read_file(s, path, what, opt, err, errlen);
	if (env && (value = getenv(env)) != NULL) {
		size_t n = strlen(value);
		if (n == 0) {
			snprintf(err, errlen, "the %s in %s is empty: set it or give %s", what, env, opt);
			return -1;
		}
		if (akm_secret_from(s, value, n) != 0) {
			snprintf(err, errlen, "no locked memory for the %s", what);
			return -1;
		}
		return 0;
	}
	if (isatty(STDIN_FILENO))
		return read_tty(s, prompt, what, err, errlen);
	if (env)
		snprintf(err, errlen, "no %s: give %s or set %s", what, opt, env);
	else
		snprintf(err, errlen, "no %s: give %s", what, opt);
	return -1;
}

/* ---- passphrase keys ---- */

int akm_pass_master(akm_secret *master, const akm_secret *passphrase, const uint8_t salt[16],
                    uint32_t opslimit, uint32_t memlimit_kib)
{
	master->data = NULL;
	master->len = 0;
	/* memlimit_kib * 1024 fits a 64-bit size_t and is below
	 * crypto_pwhash_MEMLIMIT_MAX (4 TiB) for every 32-bit memlimit_kib. */
	if (opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    (uint64_t)memlimit_kib * 1024U < crypto_pwhash_MEMLIMIT_MIN ||
	    (uint64_t)memlimit_kib * 1024U > SIZE_MAX)
		return -1;
	if (secret_alloc(master, 32) != 0)
		return -1;
	if (crypto_pwhash((unsigned char *)master->data, 32, passphrase->data, passphrase->len, salt,
	                  opslimit, (size_t)memlimit_kib * 1024U, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		akm_secret_free(master);
		return -1;
	}
	master->len = 32;
	return 0;
}

int akm_pass_subkeys(akm_secret *out64, const akm_secret *master, const uint8_t *pr_id,
                     size_t pr_id_len, uint64_t seq)
{
	out64->data = NULL;
	out64->len = 0;
	if (master->len < crypto_generichash_KEYBYTES_MIN || master->len > crypto_generichash_KEYBYTES_MAX ||
	    pr_id_len < 1 || pr_id_len > 32)
		return -1;
	/* "AKM-BUNDLE-1" || u8 len || pr_id || u64 seq */
	uint8_t info[12 + 1 + 32 + 8];
	size_t info_len = 0;
	akm_buf_writer w;
	akm_buf_writer_init(&w, info, sizeof info);
	akm_buf_put_bytes(&w, "AKM-BUNDLE-1", 12);
	akm_buf_put_lv8(&w, pr_id, pr_id_len);
	akm_buf_put_u64(&w, seq);
	if (akm_buf_writer_done(&w, &info_len) != AKM_BUF_OK || secret_alloc(out64, 64) != 0)
		return -1;
	if (crypto_generichash((unsigned char *)out64->data, 64, info, info_len,
	                       (const unsigned char *)master->data, master->len) != 0) {
		akm_secret_free(out64);
		return -1;
	}
	out64->len = 64;
	return 0;
}

int akm_pass_generate(akm_secret *out)
{
	static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; /* 32 characters */
	const size_t groups = 6, group_len = 5, len = groups * group_len + groups - 1;
	size_t n = 0;
	if (secret_alloc(out, len) != 0)
		return -1;
	for (size_t g = 0; g < groups; g++) {
		if (g)
			out->data[n++] = '-';
		for (size_t i = 0; i < group_len; i++)
			out->data[n++] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	}
	out->data[n] = '\0';
	out->len = n;
	return 0;
}

/*
 * Secrets in the tools: PINs, passphrases and passphrase-derived keys live
 * in libsodium's guarded, locked (mlock) memory and are wiped when freed.
 * Comparisons of secrets are constant-time (sodium_memcmp).
 */
#ifndef AKM_SECRET_H
#define AKM_SECRET_H

#include <stddef.h>
#include <stdint.h>

typedef struct akm_secret {
	char *data;     /* sodium_malloc'd, NUL-terminated for text */
	size_t len;
} akm_secret;

/* sodium_init(); exits with a message if it fails.  Call first. */
void akm_secret_init(void);
/* Reads a secret: from the file `path` (first line, without the newline) if
 * given; "-" is stdin), else from the environment variable `env` if set, else — when stdin
 * is a terminal — from a prompt without echo.  Returns 0, or -1 with a
 * sentence in err (e.g. "no PIN: give --pin-file or set AKM_PIN"). */
int akm_secret_read(akm_secret *s, const char *path, const char *env, const char *prompt,
                    const char *what, char *err, size_t errlen);
/* Copies `len` bytes into a new secret. */
int akm_secret_from(akm_secret *s, const void *data, size_t len);
void akm_secret_free(akm_secret *s);

/* The passphrase protection of bundles (docs/formats.md): Argon2id13 once per
 * batch (master key), then BLAKE2b-keyed per bundle subkeys. */
#define AKM_PASS_OPSLIMIT 3U            /* crypto_pwhash_OPSLIMIT_MODERATE */
#define AKM_PASS_MEMLIMIT_KIB (256U * 1024U)  /* 256 MiB */
/* master = Argon2id13(passphrase, salt, ops, mem), 32 bytes, in locked memory. */
int akm_pass_master(akm_secret *master, const akm_secret *passphrase, const uint8_t salt[16],
                    uint32_t opslimit, uint32_t memlimit_kib);
/* kwp_key (32) || aead_key (32) = BLAKE2b-512(key = master,
 * "AKM-BUNDLE-1" || u8 len || pr_id || u64 seq), in locked memory. */
int akm_pass_subkeys(akm_secret *out64, const akm_secret *master, const uint8_t *pr_id,
                     size_t pr_id_len, uint64_t seq);
/* A batch passphrase for people: 6 groups of 5 characters from an
 * unambiguous alphabet (about 150 bits), e.g. "K7QXM-..."; locked memory. */
int akm_pass_generate(akm_secret *out);

#endif

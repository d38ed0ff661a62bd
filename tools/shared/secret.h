/*
 * Secrets in the tools: PINs, passphrases and passphrase-derived keys live
 * in libsodium's guarded, locked (mlock) memory and are wiped when freed.
 * Comparisons of secrets are constant-time (sodium_memcmp).
 */
#ifndef AKM_SECRET_H
#define AKM_SECRET_H

#include <stdbool.h>
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
/* The floors, enforced by the station (export refuses to write below
 * them) and by the node (import refuses a bundle whose recorded cost is
 * below them, before deriving anything): docs/formats.md, "Passphrase
 * keys".  An operator passphrase has at least 16 characters (the generated
 * ones have 35); Argon2id runs at least 2 passes over at least 64 MiB. */
#define AKM_PASS_MIN_LEN 16U
#define AKM_PASS_MIN_OPS 2U
#define AKM_PASS_MIN_MEM_KIB (64U * 1024U)  /* 64 MiB */
/* Tests only: with AKM_INSECURE_TEST_KDF=1 in the environment, both sides
 * accept any cost libsodium takes (1 pass, 8 KiB), and say so on stderr
 * (once per process).  Never set it on a station or a node in service. */
#define AKM_INSECURE_TEST_KDF_ENV "AKM_INSECURE_TEST_KDF"
/* Whether the test-only floor is in force (the warning printed, by `who`). */
bool akm_pass_insecure_test_kdf(const char *who);
/* The cost is at or above the floor: 0, else -1 with a sentence in err. */
int akm_pass_check_cost(uint32_t opslimit, uint32_t memlimit_kib, const char *who, char *err, size_t errlen);
/* The passphrase is strong enough: 0, else -1 with a sentence in err. */
int akm_pass_check_strength(const akm_secret *passphrase, char *err, size_t errlen);

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

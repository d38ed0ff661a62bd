/*
 * What the benchmarks share: a throwaway folder with a SoftHSM2 token, a
 * SoftHSM2 configuration and an akm-pkcs11 configuration selecting that
 * token, exported through SOFTHSM2_CONF and AKM_PKCS11_CONF for the child
 * processes that do the measuring.
 */
#ifndef AKM_BENCH_ENV_H
#define AKM_BENCH_ENV_H

#include <limits.h>

typedef struct bench_env {
	char dir[PATH_MAX - 64]; /* shorter, so the file paths under it always fit */
	char token_dir[PATH_MAX];
	char softhsm_conf[PATH_MAX];
	char akm_conf[PATH_MAX];
	char registry[PATH_MAX];
	char init_log[PATH_MAX];
} bench_env;

/* `program` names the caller in messages; the folder is
 * $TMPDIR/<program>-<tag>.XXXXXX; the token is initialised with the very
 * SoftHSM2 library being measured.  0, or -1 with a message on stderr. */
int bench_env_create(bench_env *env, const char *program, const char *tag, const char *softhsm_path,
                     const char *label, const char *so_pin, const char *user_pin);
void bench_env_destroy(bench_env *env);

#endif

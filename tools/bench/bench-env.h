/*
 * What the benchmarks share: a throwaway folder with a SoftHSM2 token, a
 * SoftHSM2 configuration and an akm-pkcs11 configuration selecting that
 * token, exported through SOFTHSM2_CONF and AKM_PKCS11_CONF for the child
 * processes that do the measuring.
 */
#ifndef AKM_BENCH_ENV_H
#define AKM_BENCH_ENV_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

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

/* Runs fn(out, arg) in a forked child — where the measured module is
 * loaded, never in the caller — and copies its `size`-byte result back
 * through a pipe.  The child leaves with _exit, status 0 when fn returned
 * true; SIGALRM ends it after alarm_s seconds.  While it runs its pid is in
 * *running and a set *interrupted sends it SIGTERM (either may be NULL).
 * True when a whole result came back, else `out` is zeroed and `error` says
 * how the child ended. */
bool bench_run_in_child(bool (*fn)(void *out, const void *arg), const void *arg, void *out, size_t size,
                        unsigned alarm_s, volatile sig_atomic_t *running,
                        const volatile sig_atomic_t *interrupted, char *error, size_t errlen);

/* Interrupts: after bench_catch_interrupts, SIGINT and SIGTERM set
 * bench_interrupted and send SIGTERM to the measuring child whose pid is in
 * bench_running_child (pass both to bench_run_in_child). */
extern volatile sig_atomic_t bench_interrupted, bench_running_child;
void bench_catch_interrupts(void);

/* Command-line numbers: 0, or -1 when `text` is not a whole decimal count
 * in [min, max] / a number of seconds in (0, max]. */
int bench_parse_count(const char *text, unsigned long min, unsigned long max, unsigned long *out);
int bench_parse_seconds(const char *text, double max, double *out);

/* A monotonic clock in seconds. */
double bench_now(void);

/* A text as a JSON string on stdout (for the benchmarks' --json lines). */
void bench_json_string(const char *text);

/* The median of n values (0 when n is 0); the values are not changed. */
double bench_median(const double *values, int n);

#endif

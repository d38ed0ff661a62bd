/*
 * Shared helpers of the interoperability tests: real programs (pkcs11-tool,
 * p11-kit, openssl) driven against akm-pkcs11.so and against SoftHSM2
 * directly, on throwaway tokens made by tests/support/testenv.c.
 */
#ifndef AKM_INTEROP_H
#define AKM_INTEROP_H

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "testenv.h"

/* Seconds a single external program may run before it is killed. */
#define AKM_INTEROP_RUN_TIMEOUT_S 120
/* Seconds a check test case may take (several programs each). */
#define AKM_INTEROP_CASE_TIMEOUT_S 600

/* To be called first in main(): exits with AKM_TEST_SKIP when a program in
 * `programs` (NULL-terminated, may be NULL) or the modules named by
 * AKM_TEST_MODULE / AKM_TEST_SOFTHSM are missing, and prepares the
 * environment so that an ASan-instrumented module can be loaded into the
 * uninstrumented programs (see interop.c), and makes the scratch root. */
void akm_interop_prepare(const char *const programs[]);

/* The folder all this process's test environments are made in ($TMPDIR is
 * pointed at it); removed when the main process exits. */
const char *akm_interop_scratch_root(void);

/* akm_testenv_create, asserting success.  The folder is inside the scratch
 * root, so it goes even when a failed assertion ends the test early. */
void akm_interop_env_create(akm_testenv *env, const char *token_label);

/* True when this is a sanitizer (ASan) build whose runtime is preloaded into
 * the programs the tests start. */
bool akm_interop_sanitizer_preloaded(void);

/* Runs the suite with check and returns the process exit status. */
int akm_interop_run_suite(Suite *suite);

/* main() of a test that goes through OpenSSL's libp11 engine: prepares
 * (pkcs11-tool, openssl and env are needed), skips with AKM_TEST_SKIP when
 * the engine is not installed, else runs the suite. */
int akm_interop_engine_main(Suite *(*make_suite)(void));

/* akm_run, but logs the command line, its exit status and its output on
 * stderr (the test log), so that a failure shows what the program said.
 * *output is always set (to "" at worst); free it. */
int akm_interop_run(const char *const argv[], const char *input, char **output);

/* pkcs11-tool --module <module> <args...>; args is NULL-terminated. */
int akm_interop_pkcs11_tool(const char *module, const char *const args[], char **output);

/* <env->dir>/<name> into out (PATH_MAX). */
void akm_interop_path(char *out, const akm_testenv *env, const char *name);

/* Whole-file helpers.  read_file returns a malloc'd buffer (NUL-terminated
 * for convenience) or NULL. */
unsigned char *akm_interop_read_file(const char *path, size_t *len);
int akm_interop_write_file(const char *path, const void *data, size_t len);
int akm_interop_write_random_file(const char *path, size_t len);
/* True when both files exist and have the same bytes. */
bool akm_interop_files_equal(const char *path_a, const char *path_b);

/* Number of non-overlapping occurrences of needle in haystack. */
size_t akm_interop_count(const char *haystack, const char *needle);

/* The libp11 "pkcs11" OpenSSL engine, or NULL when it is not installed. */
const char *akm_interop_pkcs11_engine_path(void);

/* Writes an OpenSSL configuration that loads the pkcs11 engine with
 * MODULE_PATH = module_path (from conf/openssl-akm.cnf.in when the source
 * tree has it, else the same text written here). */
int akm_interop_write_openssl_conf(const char *path, const char *module_path);

/* Exports the EC P-256 public key with CKA_ID `id` from the env's token
 * through `module` as PEM: reads CKA_EC_PARAMS and CKA_EC_POINT with
 * `pkcs11-tool -O` and wraps the point in a SubjectPublicKeyInfo.  (Not
 * `pkcs11-tool --read-object`: OpenSC 0.23 reads freed memory there, which
 * an ASan run reports.)  Asserts. */
void akm_interop_export_ec_public_key(const akm_testenv *env, const char *module, const char *id,
                                      const char *pub_pem_path);

/* Generates an EC P-256 key pair in the env's token through akm-pkcs11 with
 * pkcs11-tool (label, id in hex), exports its public key to `pub_pem_path`
 * (akm_interop_export_ec_public_key) and writes an OpenSSL configuration loading
 * the pkcs11 engine with akm-pkcs11 to `openssl_conf_path`.  Asserts. */
void akm_interop_make_engine_ec_key(const akm_testenv *env, const char *label, const char *id,
                                    const char *pub_pem_path, const char *openssl_conf_path);

/* "pkcs11:token=<token>;object=<label>;type=private;pin-value=<pin>" into out (PATH_MAX). */
void akm_interop_private_key_uri(char *out, const akm_testenv *env, const char *label, const char *pin);

/* An unused TCP port on 127.0.0.1 (bound, then released), or -1. */
int akm_interop_free_port(void);

#endif

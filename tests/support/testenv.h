/*
 * Test support: throwaway SoftHSM2 tokens and akm-pkcs11 configurations in a
 * temporary folder, the real module loaded with dlopen, and real programs run
 * with their output captured.  Nothing here mocks the backend.
 *
 * Environment set by tests/meson.build for every test:
 *   AKM_TEST_MODULE   path of the built akm-pkcs11.so
 *   AKM_TEST_SOFTHSM  path of libsofthsm2.so (the backend)
 *   AKM_TEST_SRCDIR   source root, AKM_TEST_BUILDDIR build root
 */
#ifndef AKM_TESTENV_H
#define AKM_TESTENV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <p11-kit/pkcs11.h>

#define AKM_TEST_USER_PIN "1234"
#define AKM_TEST_SO_PIN "12345678"
#define AKM_TEST_SKIP 77

typedef struct akm_testenv {
	char dir[PATH_MAX];          /* temporary root; removed by akm_testenv_destroy */
	char token_dir[PATH_MAX];    /* SoftHSM2 token directory (inside dir) */
	char softhsm_conf[PATH_MAX]; /* SOFTHSM2_CONF file written for this env */
	char akm_conf[PATH_MAX];     /* AKM_PKCS11_CONF file written for this env */
	char module_path[PATH_MAX];  /* built akm-pkcs11.so (from AKM_TEST_MODULE) */
	char softhsm_path[PATH_MAX]; /* backend libsofthsm2.so (from AKM_TEST_SOFTHSM) */
	char token_label[33];        /* label of the first token */
} akm_testenv;

/* SQL that takes a registry of this module's schema (version 7) back to
 * schema version 6 exactly as version 6 made it (docs/formats.md §2): the
 * audit records' `rel` column and its two indexes go, audit_rid comes back
 * whole.  Alone only for a registry none of whose records names a
 * relationship row (rel NULL everywhere: their MACs do not cover it); for
 * any other, akm_test_back_to_v6 (registry-back.h) seals those records
 * again first. */
#define AKM_TEST_SQL_BACK_TO_V6                                                            \
	"DROP INDEX audit_rel;"                                                               \
	"DROP INDEX audit_rid;"                                                               \
	"ALTER TABLE audit DROP COLUMN rel;"                                                  \
	"CREATE INDEX audit_rid ON audit(rid);"                                               \
	"PRAGMA user_version = 6;"

/* The same, on to schema version 5 (the two indexes version 6 dropped): a
 * registry as the code before issue 14 leaves it, or, with more SQL after
 * it, an older one.  After akm_test_back_to_v6, AKM_TEST_SQL_BACK_TO_V5_FROM_6. */
#define AKM_TEST_SQL_BACK_TO_V5_FROM_6                                                     \
	"CREATE INDEX key_ckid ON key(ckid);"                                                 \
	"CREATE INDEX audit_row_change ON audit(rid, seq) WHERE row_change = 1;"              \
	"PRAGMA user_version = 5;"
#define AKM_TEST_SQL_BACK_TO_V5 AKM_TEST_SQL_BACK_TO_V6 AKM_TEST_SQL_BACK_TO_V5_FROM_6

/* Creates the folder, a SoftHSM2 configuration, one token initialised with
 * softhsm2-util (label, SO PIN AKM_TEST_SO_PIN, user PIN AKM_TEST_USER_PIN),
 * and an akm-pkcs11 configuration selecting "pkcs11:token=<label>"; exports
 * SOFTHSM2_CONF and AKM_PKCS11_CONF into this process's environment.
 * Exits with AKM_TEST_SKIP when softhsm2-util or the modules are missing.
 * Returns 0, or -1 with a message on stderr. */
int akm_testenv_create(akm_testenv *env, const char *token_label);

/* Initialises one more token in the same SoftHSM2 token directory. */
int akm_testenv_add_token(akm_testenv *env, const char *label);

/* Rewrites the akm-pkcs11 configuration file with the given text. */
int akm_testenv_write_conf(akm_testenv *env, const char *text);

/* Removes the folder and everything in it. */
void akm_testenv_destroy(akm_testenv *env);

/* Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null (or from
 * `input` when not NULL), capturing stdout and stderr together into a
 * malloc'd NUL-terminated *output (may be NULL).  Returns the exit status,
 * 128+signal if killed, or -1 if it could not run.  Kills it after
 * `timeout_s` seconds (0 = 120 s). */
int akm_run(const char *const argv[], const char *input, char **output, int timeout_s);

/* True when `name` is an executable in PATH. */
bool akm_have_program(const char *name);

/* Exits with AKM_TEST_SKIP, naming the missing program, unless every program
 * in the NULL-terminated list is present. */
void akm_require_programs(const char *const names[]);

/* dlopens `path` and returns its function list (C_GetFunctionList), or NULL. */
CK_FUNCTION_LIST *akm_test_load_module(const char *path, void **dl_handle);

/* Finds the slot whose token label is `label` (space padding ignored); returns
 * CKR_OK and sets *slot, or CKR_TOKEN_NOT_PRESENT. */
CK_RV akm_test_find_slot(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot);

/* A growable list of strings (test bookkeeping: IDs, names).  Allocation
 * failures fail the test (check's ck_assert). */
typedef struct akm_strlist {
	char **v;
	size_t n, cap;
} akm_strlist;

/* Appends a copy of s[0..len). */
void akm_strlist_add(akm_strlist *l, const char *s, size_t len);
void akm_strlist_free(akm_strlist *l);
void akm_strlist_sort(akm_strlist *l);
/* Whether s is in the list (sorted first with akm_strlist_sort). */
bool akm_strlist_has(const akm_strlist *l, const char *s);

/* The names in folder `dir` ("." and ".." aside), space-separated into
 * names (at most size bytes): how many there are.  Fails the test when the
 * folder cannot be read. */
size_t akm_test_dir_entries(const char *dir, char *names, size_t size);

/* A file of the source tree (relative to AKM_TEST_SRCDIR; at most 256 KiB),
 * malloc'd and NUL-terminated; NULL when the test runs outside meson test.
 * Fails the test when the file cannot be read. */
char *akm_test_read_source(const char *rel);

#endif

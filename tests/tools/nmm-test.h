/*
 * What the akm-nmm tests (test_nmm_flow.c, test_nmm_refusals.c,
 * test_nmm_kill.c) share: a station token and a PIN file per test, akm-nmm
 * and akm-node run as processes, a minimal JSON reader for their --json
 * output, a scratch folder per test program, and its main().
 */
#ifndef AKM_NMM_TEST_H
#define AKM_NMM_TEST_H

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "testenv.h"

/* The label of the station token every test environment starts with. */
#define STATION "nmm-station"

/* The test environment (a fresh one per test, see nmm_test_setup), the
 * programs under test, and the file holding the tokens' user PIN. */
extern akm_testenv env;
extern const char *nmm_path, *node_path;
extern char pin_file[PATH_MAX + 16];
/* How long one run of a program may take, in seconds (default 300). */
extern int nmm_test_timeout;

#define NMM_MAX_ARGS 48

#define EXPECT_RC(rc_expr, want, out, what)                                                   \
	do {                                                                                  \
		int rc_ = (rc_expr);                                                          \
		ck_assert_msg(rc_ == (want), "%s: exit %d, expected %d; output:\n%s", (what), \
		              rc_, (want), (out) ? (out) : "");                              \
	} while (0)

/* ---- small helpers ------------------------------------------------------ */

void write_file(const char *path, const void *data, size_t len);
/* NAME in the test environment's folder. */
void path_in(char *out, size_t size, const char *name);
double now_s(void);
/* `list --json` and `audit --json` of the station (malloc'd): its whole
 * visible state, to compare before and after a command that must change
 * nothing. */
char *nmm_station_state(void);

/* ---- running the tools ---------------------------------------------------- */

/* Runs argv; returns the exit status; *out gets stdout+stderr (caller frees). */
int run_argv(const char *const *argv, char **out);
/* akm-nmm SUB --module akm-pkcs11.so --token STATION --pin-file PIN args... NULL */
int nmm(char **out, const char *sub, ...);
/* akm-node SUB --module libsofthsm2.so --token LABEL --pin-file PIN args... NULL */
int node(char **out, const char *label, const char *sub, ...);
/* The same with the program's stdout on /dev/full (every write to it fails
 * with ENOSPC); *out gets its stderr. */
int run_argv_full(const char *const *argv, char **out);
int nmm_full(char **out, const char *sub, ...);
int node_full(char **out, const char *label, const char *sub, ...);
/* The node's hardware value as akm-node reports it (its token serial). */
void node_hw(const char *label, char *hw, size_t size);
/* Token `label` through libsofthsm2.so directly (a node's secure element):
 * the module loaded and initialized (the caller finalizes it; it stays
 * loaded, so SoftHSM2's atexit handlers stay valid), *slot its slot. */
CK_FUNCTION_LIST *node_token_open(const char *label, CK_SLOT_ID *slot);

/* ---- a minimal JSON reader: enough for the tools' --json output ---------- */

/* In the object starting at obj ('{'), the raw text of member `key` at its
 * top level (strings without quotes, unescaped simply); false if absent. */
bool json_member(const char *obj, const char *key, char *out, size_t size);
/* The first of several possible member names (NULL-terminated) present. */
bool json_member_any(const char *obj, const char *const *keys, char *out, size_t size);
/* Finds, anywhere in text, the object describing node `name` (an object with
 * a top-level name/node member equal to it).  Returns its start or NULL. */
const char *json_find_node(const char *text, const char *name);
extern const char *const name_keys[];   /* "name", "node" */
extern const char *const status_keys[]; /* "status" */

/* ---- fixtures and main ------------------------------------------------------ */

/* A station token STATION in a fresh environment, and pin_file. */
void nmm_test_setup(void);
void nmm_test_teardown(void);

/* Runs the suite `name` (one test case `tcase_name`, with the fixtures
 * above, its tests added by add_tests) in a scratch folder of its own;
 * skips unless AKM_TEST_NMM (and, with need_node, AKM_TEST_NODE) names an
 * executable.  Returns the exit status for main(). */
int nmm_test_main(const char *name, const char *tcase_name, int timeout, bool need_node,
                  void (*add_tests)(TCase *tc));

#endif

/*
 * akm-nmm's parts (akm-nmm.c: command line, station and node lookup, audit;
 * nmm-provision.c: init, anchor, provision, enroll, approve, reject;
 * nmm-deliver.c: export, write-se, verify; nmm-report.c: list, show, audit).
 * docs/akm-nmm.md is the manual.
 */
#ifndef AKM_NMM_H
#define AKM_NMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p11.h"
#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/hex.h"
#include "akm/pkcs11-akm.h"

/* Exit codes (docs/akm-nmm.md). */
enum {
	NMM_OK = 0,
	NMM_USAGE = 1,
	NMM_REFUSED = 2,
	NMM_NOT_FOUND = 3,
	NMM_TOKEN = 4,
	NMM_FILES = 5,
	NMM_VERIFY = 6
};

/* The station's objects in its token. */
#define NMM_STATION_LABEL "akm-nmm station"
#define NMM_STATION_KEY_ID "akm-nmm-station"
#define NMM_APPLICATION "akm-nmm"
#define NMM_ANCHOR_FILE "station.akmp"
#define NMM_SITE_MAX 120 /* --site and --location, each */

/* Every option of every sub-command; which apply where is in akm-nmm.c. */
typedef struct nmm_opts {
	const char *cmd;
	const char *module, *token, *pin_file;
	bool json;
	const char *station_id, *site, *location, *anchor_out, *out;
	const char *node, *hw_id, *batch, *prefix, *nodes;
	unsigned long count;
	bool count_set, all, generate_passphrase, pending, verify;
	const char *protection, *passphrase_file, *qr_png, *reason;
	unsigned long argon2_ops, argon2_mem_kib;
	bool argon2_ops_set, argon2_mem_set;
	const char *se_module, *se_token, *se_pin_file;
	char **args;
	int nargs;
} nmm_opts;

typedef struct nmm_station {
	akm_p11 p;
	bool open;
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len;
	char site[NMM_SITE_MAX + 1], location[NMM_SITE_MAX + 1];
	uint64_t created;
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point[AKM_FMT_POINT_LEN];
} nmm_station;

/* A provisioning relationship as its encryption key shows it.  Values the
 * module does not give are left 0 / empty. */
typedef struct nmm_node {
	char name[AKM_FMT_NAME_MAX + 1];
	CK_OBJECT_HANDLE enc, mac; /* mac: CK_INVALID_HANDLE until nmm_node_mac */
	uint8_t node_id[AKM_FMT_ID_MAX];
	size_t node_id_len;
	uint8_t pr_id[AKM_FMT_ID_MAX];
	size_t pr_id_len;
	uint8_t hw[AKM_FMT_HW_MAX];
	size_t hw_len;
	uint8_t station_id[AKM_FMT_ID_MAX];
	size_t station_id_len;
	char site[257];
	uint8_t node_key[AKM_FMT_POINT_LEN];
	bool has_node_key;
	CK_ULONG state, status, sequence, created, changed;
} nmm_node;

/* "akm-nmm: <what>: <why>" on stderr; returns code. */
int nmm_fail(int code, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Opens the token of --module/--token (or AKM_MODULE/AKM_TOKEN) and logs in
 * with --pin-file / AKM_PIN / a prompt.  Returns an exit code. */
int nmm_token_open(const nmm_opts *o, akm_p11 *p);
/* Opens the station token and reads the station (exit 3 when it is not
 * initialised). */
int nmm_station_open(const nmm_opts *o, nmm_station *s);
/* Reads the station objects of an open token: 0, NMM_NOT_FOUND or NMM_TOKEN. */
int nmm_station_read(nmm_station *s);
void nmm_station_close(nmm_station *s);
/* The station's trust anchor file bytes; *len gets the length. */
int nmm_station_anchor(const nmm_station *s, uint8_t *buf, size_t cap, size_t *len);
/* "site=<s>; location=<l>" */
void nmm_station_site(const nmm_station *s, char *out, size_t cap);

/* The PR of node `name` of this station: 0, NMM_NOT_FOUND or NMM_TOKEN (with a
 * message printed). */
int nmm_node_find(nmm_station *s, const char *name, nmm_node *n);
/* Looks the name up without messages: 1 found, 0 absent, -1 token error. */
int nmm_node_lookup(nmm_station *s, const char *name, nmm_node *n);
/* Reads the PR's attributes from its encryption key. */
int nmm_node_read(nmm_station *s, CK_OBJECT_HANDLE enc, nmm_node *n);
/* Finds the MAC key of the PR into n->mac. */
int nmm_node_mac(nmm_station *s, nmm_node *n);
/* All PRs of this station (encryption keys), optionally in one state (0: any).
 * *keys is malloc'd. */
int nmm_node_all(nmm_station *s, CK_ULONG state, CK_OBJECT_HANDLE **keys, size_t *n);
/* Every object matching t (malloc'd handles). */
int nmm_find_all(nmm_station *s, CK_ATTRIBUTE *t, CK_ULONG nt, CK_OBJECT_HANDLE **out, size_t *count);
/* The folder the file `path` goes in takes a new file now: NMM_OK, or
 * NMM_FILES with a message. */
int nmm_check_target(const char *what, const char *path);
/* Sets a CK_ULONG attribute of the PR (through its encryption key). */
CK_RV nmm_node_set(nmm_station *s, const nmm_node *n, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
/* Moves CKA_AKM_STATUS forward to `status` (no change when it is there or
 * beyond).  0 or -1 (message printed). */
int nmm_node_raise_status(nmm_station *s, nmm_node *n, CK_ULONG status);

/* Appends an application audit record; the detail starts with the site
 * metadata.  Returns the CK_RV. */
CK_RV nmm_audit(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
CK_RV nmm_audit_node(nmm_station *s, const nmm_node *n, const char *action, CK_RV result,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *nmm_state_name(CK_ULONG state);
const char *nmm_status_name(CK_ULONG status);
/* Node names: 1-64 of [A-Za-z0-9._-]; hw-ids: 1-64 printable bytes, no space. */
bool nmm_valid_name(const char *name);
bool nmm_valid_hw(const char *hw, size_t len);
/* Reads a whole file (at most max bytes): 0, or an exit code with a message. */
int nmm_read_file(const char *what, const char *path, size_t max, uint8_t **data, size_t *len);
/* The exit code for a failed file operation with errno e. */
int nmm_files_code(int e);
/* Lower-case hex of bytes into a static-size buffer (2*len+1). */
void nmm_hex(const uint8_t *b, size_t len, char *out);

int nmm_cmd_init(nmm_opts *o);
int nmm_cmd_anchor(nmm_opts *o);
int nmm_cmd_provision(nmm_opts *o);
int nmm_cmd_enroll(nmm_opts *o);
int nmm_cmd_approve(nmm_opts *o);
int nmm_cmd_reject(nmm_opts *o);
int nmm_cmd_export(nmm_opts *o);
int nmm_cmd_write_se(nmm_opts *o);
int nmm_cmd_verify(nmm_opts *o);
int nmm_cmd_list(nmm_opts *o);
int nmm_cmd_show(nmm_opts *o);
int nmm_cmd_audit(nmm_opts *o);

#endif

/*
 * The station library: the NMM provisioning station's logic, as a PKCS#11
 * client of akm-pkcs11.so (docs/akm-nmm.md).  akm-nmm is its command line;
 * the station service (akm-nmmd) links it too.  No argument parsing, no
 * usage text, no prompts, nothing printed on stdout: functions take an open,
 * logged-in station token and typed requests, report failures through
 * shared/report.h ("<what>: <why>") and return AKM_RC_* codes; what they
 * produce comes back in structs for the caller to show.  Long runs
 * (provisioning, export) draw shared/progress.h's bar on stderr, and only
 * when it is a terminal.
 *
 *   station.c    the station's record and key pair in the token, its anchor
 *   nodes.c      nodes (provisioning relationships): find, read, list, change
 *   audit.c      the audit records the station appends, reads and verifies
 *   provision.c  provisioning plans (one node, a batch file, a count), enrollment
 *   seal.c       one node's bundle (its keys wrapped, the bundle signed)
 *   export.c     bundles onto a drive (USB)
 *   se.c         a node's secure element attached to the station: write, verify
 *   act.c        the activation service's side of the protocol (akm-nmmd)
 *   policy.c     the breach policy: its file, the audit records' events (docs/policy.md)
 *   status.c     the station at a glance (akm-nmm status, akm-nmmd's status page)
 */
#ifndef AKM_TOOLS_STATION_H
#define AKM_TOOLS_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "akm/pkcs11-akm.h"
#include "shared/p11.h"
#include "shared/report.h"
#include "shared/secret.h"
#include "shared/trail.h"
#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/monitor.h"
#include "lib/proto.h"

/* The station's objects in its token. */
#define NMM_STATION_LABEL "akm-nmm station"
#define NMM_STATION_KEY_ID "akm-nmm-station"
#define NMM_APPLICATION "akm-nmm"
#define NMM_ANCHOR_FILE "station.akmp"
#define NMM_SITE_MAX 120 /* site and location, each */

/* ---- the station (station.c) ---- */

#define NMM_AUDIT_OWN 512

typedef struct nmm_station {
	akm_p11 p;               /* the station token, open and logged in */
	bool open;
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len;
	char site[NMM_SITE_MAX + 1], location[NMM_SITE_MAX + 1];
	uint64_t created;
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point[AKM_FMT_POINT_LEN];
	/* The records this process signed and appended lately (slot seq %
	 * NMM_AUDIT_OWN): nmm_audit_check_sig accepts one of them, unchanged,
	 * without verifying its signature in the token again (akm-nmmd
	 * follows its own records: one ECDSA verify each otherwise). */
	struct nmm_audit_own {
		CK_ULONG seq; /* 0: none (records start at 1) */
		uint8_t digest[32];
	} own[NMM_AUDIT_OWN];
} nmm_station;

/* The station keeps its relationships only through akm-pkcs11: the token p
 * selected (in the module at path `module`) must be presented by it, as its
 * CK_TOKEN_INFO.manufacturerID says (so p11-kit-proxy leading to akm-pkcs11
 * passes, and the raw backend token does not).  AKM_RC_OK, or AKM_RC_TOKEN
 * reported as "<what>: <module> is not akm-pkcs11 (the token's
 * CK_TOKEN_INFO.manufacturerID is "..."): ...".  akm-nmm and akm-nmmd call
 * it before logging in; a node's own token (akm-node) and a secure element
 * may be any module. */
int nmm_station_check_module(akm_p11 *p, const char *what, const char *module);
/* Reads the station objects of the open token s->p: AKM_RC_OK,
 * AKM_RC_NOT_FOUND (silently: no station in this token) or AKM_RC_TOKEN. */
int nmm_station_read(nmm_station *s);
/* The station's token finalised and opened again in place (akm_p11_reinit:
 * a backend that keeps what a long run accumulated until C_Finalize gives
 * it back), logged in with `pin`, and the station's objects found again.
 * AKM_RC_OK, or AKM_RC_TOKEN with s->p.err. */
int nmm_station_reopen(nmm_station *s, const char *token, const char *pin, size_t pin_len);
/* Creates the station in the open token s->p: its signing key pair and its
 * record (id, site, location: checked by the caller); writes the anchor to
 * anchor_out when not NULL; fp gets the anchor's fingerprint (hex). */
int nmm_station_init(nmm_station *s, const uint8_t *id, size_t id_len, const char *site,
                     const char *location, const char *anchor_out, char fp[65]);
void nmm_station_close(nmm_station *s);
/* The station's trust anchor file bytes; 0 or -1. */
int nmm_station_anchor(const nmm_station *s, uint8_t *buf, size_t cap, size_t *len);
/* Writes the anchor to path (NULL: only the fingerprint) atomically. */
int nmm_station_write_anchor(const nmm_station *s, const char *what, const char *path, char fp[65]);
/* "site=<s>; location=<l>" */
void nmm_station_site(const nmm_station *s, char *out, size_t cap);
/* The two fields of such a text (a node's CKA_AKM_SITE): each empty when
 * absent; text in another form is all site. */
void nmm_site_fields(const char *text, char *site, size_t site_cap, char *location, size_t location_cap);
/* The folder the file `path` goes in takes a new file now: AKM_RC_OK, or
 * AKM_RC_FILES reported under `what`. */
int nmm_check_target(const char *what, const char *path);
/* Reads a whole file of at most max bytes (NUL after it): 0, or a code
 * reported under `what`. */
int nmm_read_file(const char *what, const char *path, size_t max, uint8_t **data, size_t *len);

/* ---- nodes (nodes.c) ---- */

/* A provisioning relationship as its encryption key shows it.  Values the
 * module does not give are left 0 / empty. */
typedef struct nmm_node {
	char name[AKM_FMT_NAME_MAX + 1];
	CK_OBJECT_HANDLE enc, mac; /* mac: CK_INVALID_HANDLE until nmm_node_mac (or nmm_node_by_pr) */
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
	CK_ULONG delivery;         /* CKA_AKM_DELIVERY: CKV_AKM_DELIVERY_NODE_KEY or _PASSPHRASE */
	CK_ULONG checkin;          /* CKA_AKM_CHECKIN: the last check-in (ms since 1970), 0 for none */
} nmm_node;

/* "node-key" or "passphrase". */
const char *nmm_delivery_name(CK_ULONG delivery);
/* The bundle protection of a delivery (AKM_BUNDLE_*). */
uint8_t nmm_delivery_protection(CK_ULONG delivery);

const char *nmm_state_name(CK_ULONG state);
const char *nmm_status_name(CK_ULONG status);
/* A name the station gives a node: a format name (1-64 of A-Z a-z 0-9 . _
 * -) that does not start with '.' or '-' (it names files on the drive and
 * arguments on command lines). */
bool nmm_valid_name(const char *name);
#define NMM_NAME_RULE "1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -"
/* hw-ids: 1-64 printable bytes, no space. */
bool nmm_valid_hw(const char *hw, size_t len);

/* The PR of node `name`: AKM_RC_OK, AKM_RC_NOT_FOUND or AKM_RC_TOKEN (reported). */
int nmm_node_find(nmm_station *s, const char *name, nmm_node *n);
/* The same without reports: 1 found, 0 absent, -1 token error (s->p.err). */
int nmm_node_lookup(nmm_station *s, const char *name, nmm_node *n);
/* The PR of this station with ID pr_id: 1 found, 0 absent, -1 token error
 * (s->p.err); no reports.  Read through its MAC key in one search: n->enc
 * and n->mac are both that key (changes made through either key apply to
 * the relationship). */
int nmm_node_by_pr(nmm_station *s, const uint8_t *pr_id, size_t pr_len, nmm_node *n);
/* Reads the PR's attributes from its encryption key: 0 or -1 (s->p.err). */
int nmm_node_read(nmm_station *s, CK_OBJECT_HANDLE enc, nmm_node *n);
/* Finds the MAC key of the PR into n->mac: 0 or -1 (s->p.err). */
int nmm_node_mac(nmm_station *s, nmm_node *n);
/* All PRs of this station (encryption keys), optionally in one state (0:
 * any); *keys is malloc'd.  0 or -1 (s->p.err). */
int nmm_node_all(nmm_station *s, CK_ULONG state, CK_OBJECT_HANDLE **keys, size_t *n);
/* Every node (or the pending ones), sorted by name; *nodes is malloc'd.
 * Failures reported under `what`. */
int nmm_node_list(nmm_station *s, bool pending_only, const char *what, nmm_node **nodes, size_t *count);
/* The station's nodes one at a time in name order (strcmp, as nmm_node_list
 * sorts them), without holding them: the module's search of relationship
 * keys runs in label order ("<name>/enc", docs/object-model.md), which is
 * name order but for a name X and the names that continue it with '-' or
 * '.' (those labels sort before "X/enc"): X is looked up and given first
 * when the first of them comes, and skipped when its own label comes.
 * Lookups (and nmm_node_stream_verification) go through a second session,
 * the search holding the first.  Memory does not grow with the station. */
struct nmm_last_verify;
typedef struct nmm_node_stream {
	nmm_station *s;
	CK_SESSION_HANDLE search, side;
	CK_OBJECT_HANDLE found[64];
	size_t nfound, pos;
	bool searching;
	char prev[AKM_FMT_NAME_MAX + 1]; /* the last name the search gave */
	nmm_node queue[AKM_FMT_NAME_MAX + 1]; /* to give, in order: the prefixes looked up, then that name */
	size_t nqueue, qpos;
} nmm_node_stream;
/* 0, or -1 (s->p.err). */
int nmm_node_stream_open(nmm_station *s, nmm_node_stream *st);
/* 1 with the next node in *n, 0 at the end, -1 (s->p.err). */
int nmm_node_stream_next(nmm_node_stream *st, nmm_node *n);
/* nmm_last_verification of a node given, through the second session. */
int nmm_node_stream_verification(nmm_node_stream *st, const nmm_node *n, struct nmm_last_verify *v);
void nmm_node_stream_close(nmm_node_stream *st);
/* Node `name`, which must be active, with its MAC key found (for a
 * delivery).  Failures reported. */
int nmm_node_open_active(nmm_station *s, const char *name, nmm_node *n);
/* Sets a CK_ULONG attribute of the PR (through its encryption key). */
CK_RV nmm_node_set(nmm_station *s, const nmm_node *n, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
/* Moves CKA_AKM_STATUS forward to `status` (no change when it is there or
 * beyond).  0 or -1 (reported). */
int nmm_node_raise_status(nmm_station *s, nmm_node *n, CK_ULONG status);
/* approve (to CKV_AKM_STATE_ACTIVE, from pending), reinstate (to
 * CKV_AKM_STATE_ACTIVE, from suspended) or reject/revoke (to
 * CKV_AKM_STATE_REVOKED), audited as `action` with the reason if any;
 * *from gets the state before. */
int nmm_node_change_state(nmm_station *s, const char *name, CK_ULONG to, const char *action,
                          const char *reason, CK_ULONG *from);

/* What the operator sees before approving a pending node (approve): its
 * node key's fingerprint (SHA-256 of the point, hex, as akm-node request
 * printed it; empty without a node key), and the other nodes, not revoked,
 * whose PR is bound to the same hardware value (a second PR for one
 * device: a clone, or a request squatting another node's value). */
typedef struct nmm_approval {
	char key_fingerprint[65];
	size_t reused;                       /* other nodes with this hardware value */
	char reused_names[4][AKM_FMT_NAME_MAX + 1]; /* the first of them */
} nmm_approval;
/* AKM_RC_OK with *a filled, or a code (reported under `what`). */
int nmm_node_approval(nmm_station *s, const nmm_node *n, const char *what, nmm_approval *a);

/* ---- the audit trail (audit.c) ---- */

/* Appends an application audit record; the detail starts with the site
 * metadata.  Returns the CK_RV (a failure is reported). */
CK_RV nmm_audit(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same for one node: its site metadata and name. */
CK_RV nmm_audit_node(nmm_station *s, const nmm_node *n, const char *action, CK_RV result,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same with the caller's text first and the site metadata (and the
 * node's name, n not NULL: then its PR is the relationship) after it: a
 * detail that must begin with its own fields (the breach response's
 * "rule=..."). */
CK_RV nmm_audit_first(nmm_station *s, const nmm_node *n, const char *action, const uint8_t *rid, size_t rid_len,
                      CK_RV result, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

typedef struct nmm_audit_rec {
	CK_ULONG seq, time, result;
	char actor[64], action[128], detail[2048];
	CK_ULONG actor_len, action_len, detail_len;
	uint8_t rid[AKM_FMT_ID_MAX];
	CK_ULONG rid_len;
	uint8_t prev[32], hash[32];
} nmm_audit_rec;

/* The station's own records are signed: akm-nmm and akm-nmmd end the
 * detail of every record they append with "; t=<unix time>; station-sig=
 * <hex r||s>", an ECDSA signature by the station key over
 * SHA-256("AKM-NMM-AUDIT-1" || action || relationship ID || result ||
 * the detail before "; station-sig=") (docs/akm-nmm.md, "Audit trail").
 * Any application holding the PIN can append records with the actor "app";
 * only the station can sign them. */
#define NMM_AUDIT_SIG_CONTEXT "AKM-NMM-AUDIT-1"
#define NMM_AUDIT_SIG_FIELD "; station-sig="
#define NMM_AUDIT_SIG_ROOM 200   /* "; t=..." and the field */
#define NMM_AUDIT_SIG_SKEW 300   /* seconds between the signed time and the record's */
typedef enum {
	NMM_AUDIT_SIG_MODULE = 0,  /* the module's own record (not an application's) */
	NMM_AUDIT_SIG_VALID,       /* the station's */
	NMM_AUDIT_SIG_MISSING,     /* an application record without a signature: not the station's */
	NMM_AUDIT_SIG_INVALID,     /* a signature that does not verify: not the station's */
	NMM_AUDIT_SIG_TIME,        /* signed, but at another time (a copied detail): not the station's */
} nmm_audit_sig;
/* Checks record r's station signature with the station's public key. */
nmm_audit_sig nmm_audit_check_sig(nmm_station *s, const nmm_audit_rec *r);
const char *nmm_audit_sig_name(nmm_audit_sig v);
/* The length of r's detail without the time and signature fields' tail
 * ("; station-sig=..."), for display. */
size_t nmm_audit_detail_shown(const nmm_audit_rec *r);

/* The records of one node (n) or of all (NULL), in order (malloc'd
 * handles).  0 or -1 (s->p.err). */
int nmm_audit_find(nmm_station *s, const nmm_node *n, CK_OBJECT_HANDLE **h, size_t *count);
/* One record: 0 or -1 (s->p.err). */
int nmm_audit_read(nmm_station *s, CK_OBJECT_HANDLE h, nmm_audit_rec *r);

/* A node's last verification as its audit records tell it: akm-nmm verify
 * (action "verify": verified when its result is CKR_OK), the station
 * service's exchanges (activate, checkin, report: verified when the record
 * says "verified") and its failures (node-verify-failed, act-bad-proof,
 * clone-signal: failed).  Other records say nothing about it. */
typedef struct nmm_last_verify {
	bool known;            /* a record says something */
	bool ok;               /* verified (else failed) */
	CK_ULONG time, seq;
	char action[32];
	char reason[160];      /* the record's detail after its site metadata and node name */
} nmm_last_verify;
/* What record r says (r->rid is the node's PR ID): 1 verified, -1 failed,
 * 0 nothing (*v untouched then). */
int nmm_audit_verification(const nmm_audit_rec *r, nmm_last_verify *v);
/* The last verification of each node of nodes[0..count) (sorted by name or
 * not), into last[0..count), from one read of the whole trail.  0 or -1
 * (s->p.err). */
int nmm_last_verifications(nmm_station *s, const nmm_node *nodes, size_t count, nmm_last_verify *last);
/* The same for one node, from its PR's records only (a search by its PR
 * ID): what a listing that does not hold every node asks.  0 or -1. */
int nmm_last_verification(nmm_station *s, const nmm_node *n, nmm_last_verify *v);

typedef struct nmm_audit_check {
	bool valid;
	uint64_t head_seq;     /* the token's head (CKA_AKM_AUDIT_TOKEN_HEAD) */
	uint64_t bad;          /* the first record that fails */
	char why[200];         /* what is wrong, when not valid */
} nmm_audit_check;
/* Recomputes the AKM-AUDIT-1 chain (lib/audit.h) over records h[0..count)
 * and checks it reaches the token's head.  AKM_RC_OK with the verdict in
 * *c (a broken chain is a verdict, not an error), or AKM_RC_TOKEN
 * (reported). */
int nmm_audit_verify(nmm_station *s, const CK_OBJECT_HANDLE *h, size_t count, nmm_audit_check *c);

/* ---- the breach policy (policy.c; docs/policy.md) ---- */

#define NMM_POLICY_FILE_MAX (256u * 1024u)
/* Reads and parses the policy file at path into *p: AKM_RC_OK, or the code
 * reported under `what` (a malformed or unsafe policy: AKM_RC_REFUSED,
 * "<path>:<line>: <what is wrong>"). */
int nmm_policy_read(const char *what, const char *path, akm_policy *p);
/* The same without the report: the sentence in err (akm-nmmd logs it and
 * records it, policy-refused). */
int nmm_policy_load(const char *path, akm_policy *p, char *err, size_t errlen);
/* The monitor's events of audit record r (lib/monitor.h,
 * akm_mon_from_audit) when the station trusts it: the module's own
 * records, and application records with the station's valid signature
 * (checked only for records that map to events); 0 for any other, with
 * *untrusted (may be NULL) set when r would have mapped to events but is an
 * application record without the station's signature. */
size_t nmm_policy_events(nmm_station *s, const nmm_audit_rec *r, akm_mon_event *ev, size_t max, bool *untrusted);

/* ---- provisioning (provision.c) ---- */

typedef struct nmm_plan_entry {
	const char *name, *hw;
	size_t line;
	char *error;       /* malloc'd: why it failed */
	char *own_name;    /* malloc'd copy `name` points to (a generated node kept for the report), or NULL */
	bool skip;         /* present already, or failed */
	bool present;      /* present already, with the same hw-id */
	bool meanwhile;    /* ... made by another run while this one was creating it */
	uint8_t pr_id[16], node_id[16];
} nmm_plan_entry;

/* The nodes one provisioning run creates: listed (a node, a batch file:
 * e[0..n)), or generated (--count: n nodes <prefix>000001.., made a window
 * of e[0..nwin) at a time, so memory does not grow with n; the generated
 * nodes with something to report are kept in `kept`). */
typedef struct nmm_plan {
	nmm_plan_entry *e;
	size_t n, cap;
	char *arena;       /* the batch file or the generated names */
	size_t provisioned, present, failed;
	int interrupted;   /* the signal that stopped the run (shared/interrupt.h), or 0 */
	CK_ULONG delivery; /* CKA_AKM_DELIVERY of every node made (0: the module's default, node-key) */
	/* generated */
	const char *prefix; /* non-NULL: a generated plan */
	size_t base, nwin;  /* e[0..nwin) are nodes base.. of the plan */
	nmm_plan_entry *kept;
	size_t nkept, capkept;
	/* Called after every reopen_every nodes made, when set: the
	 * station token finalised and opened again (nmm_cli_station_reopen),
	 * for a backend that gives back only at C_Finalize what a long run
	 * accumulates.  AKM_RC_OK or a reported code. */
	int (*reopen)(nmm_station *s, void *ctx);
	void *reopen_ctx;
	size_t reopen_every; /* 0: NMM_REOPEN_EVERY */
} nmm_plan;
#define NMM_REOPEN_EVERY 20000
/* Relationships per batch transaction (CKM_AKM_RELATIONSHIP_BATCH_GEN; at
 * most AKM_BATCH_MAX): the size measured best on a station of a million
 * nodes, where each transaction's scattered index pages are fewer per node
 * the more nodes share them (docs/performance.md). */
#define NMM_PROVISION_BATCH 10000

/* One node (the strings are kept, not copied). */
int nmm_plan_add(nmm_plan *p, const char *name, const char *hw, size_t line);
/* "NAME HWID" lines; blank lines and #-lines ignored. */
int nmm_plan_from_file(nmm_plan *p, const char *path);
/* <prefix>000001.. with hw-id "hw-<name>": generated while the run goes
 * (each name checked as it is made), not held all at once. */
int nmm_plan_from_count(nmm_plan *p, unsigned long count, const char *prefix);
/* The entries a report names (failed, present, made meanwhile): every
 * entry of a listed plan, the kept ones of a generated plan. */
const nmm_plan_entry *nmm_plan_reported(const nmm_plan *p, size_t *n);
/* Names and hw-ids checked; the second of two equal names fails. */
int nmm_plan_check(nmm_plan *p);
/* Creates the relationships, skipping nodes present with the same hw-id
 * and delivery (present with another delivery: that node fails), in batch
 * transactions of NMM_PROVISION_BATCH (one by one when a batch is refused;
 * docs/performance.md says how the size was chosen).  A node another
 * run creates at the same time (the token refuses a second relationship key
 * of that label) is counted as present the same way (entry marked
 * `meanwhile`), and fails, named, otherwise. */
int nmm_provision(nmm_station *s, nmm_plan *p);
/* Interrupted (SIGINT/SIGTERM with shared/interrupt.h's handler installed):
 * nmm_provision finishes the batch transaction (or, one by one, the node)
 * in hand, with its audit record, and returns AKM_RC_INTERRUPTED or
 * AKM_RC_TERMINATED with p->interrupted set; the counts say what was done,
 * and the nodes neither made, present nor failed were not started.
 * nmm_export_run likewise finishes the bundle in hand (file, status, export
 * record) and stops. */
void nmm_plan_free(nmm_plan *p);

/* An enrollment request read and checked (before the station is opened). */
typedef struct nmm_enrollment {
	const char *path;
	akm_request r;
	uint8_t digest[32];     /* SHA-256 of the signed part */
	uint8_t file_hash[32];
} nmm_enrollment;
int nmm_enroll_read(const char *path, nmm_enrollment *e);
/* The node as enrolled: pending, with its node key. */
typedef struct nmm_enrolled {
	char hw[AKM_FMT_HW_MAX + 1];
	uint8_t pr_id[16], node_id[16];
	char key_fingerprint[65];
} nmm_enrolled;
int nmm_enroll(nmm_station *s, const nmm_enrollment *e, nmm_enrolled *out);

/* ---- bundles (seal.c, export.c) ---- */

/* What the station knows to make one bundle. */
typedef struct nmm_seal_args {
	CK_OBJECT_HANDLE enc_key;            /* the PR's encryption key in the station token */
	CK_OBJECT_HANDLE station_priv;       /* the station's signing key */
	const uint8_t *station_id; size_t station_id_len;
	uint8_t protection;                  /* AKM_BUNDLE_NODE_KEY or _PASSPHRASE: the PR's delivery */
	const uint8_t *node_point;           /* protection 1: the 65-byte point the caller expects
	                                      * recorded (checked), or NULL */
	const akm_secret *master;            /* protection 2: akm_pass_master result */
	const uint8_t *salt;                 /* protection 2: the batch salt */
	uint32_t opslimit, memlimit_kib;     /* protection 2: recorded in the bundle */
} nmm_seal_args;

/* Makes one bundle for the relationship of args->enc_key (its IDs,
 * hardware binding, name, node key and next sequence number are read from
 * the key's CKA_AKM_* attributes; the sequence number is taken first, so it
 * is never used twice).  The keys leave the token only wrapped, in one
 * CKM_AKM_EXPORT_WRAP to the recorded node key (protection 1) or under the
 * bundle's passphrase-derived key-wrap key (protection 2); the module
 * refuses the protection the relationship was not made for.
 * buf must hold AKM_FMT_BUNDLE_MAX.  Returns 0 or -1 with a sentence in err. */
int nmm_seal(akm_p11 *station, const nmm_seal_args *args, uint8_t *buf, size_t *len, char *err,
             size_t errlen);

typedef struct nmm_export_item {
	nmm_node n;
	uint8_t protection;
	uint64_t seq;
	bool written;
} nmm_export_item;

/* One export to a drive. */
typedef struct nmm_export {
	/* what: one of node, nodes ("A,B,C") or all */
	const char *node, *nodes;
	bool all;
	int protection;              /* AKM_BUNDLE_*, or 0: each node's delivery (a node of the
	                              * other delivery is refused) */
	const char *dir;
	uint32_t opslimit, memlimit_kib;
	/* results */
	nmm_export_item *items;
	size_t count;
	size_t npass;                /* bundles that need the passphrase */
	uint8_t salt[AKM_FMT_SALT_LEN];
	size_t written, pass_written;
	int interrupted;             /* the signal that stopped the run, or 0 */
} nmm_export;

/* Whether the drive (and the folder of qr_png, if not NULL) takes files:
 * checked before anything changes. */
int nmm_export_check(const nmm_export *x, const char *qr_png);
/* Picks the nodes and their protection; x->npass tells whether a
 * passphrase is needed. */
int nmm_export_select(nmm_station *s, nmm_export *x);
/* Writes the anchor and one bundle per node (passphrase: NULL when
 * x->npass is 0); a failed export leaves no new file behind. */
int nmm_export_run(nmm_station *s, nmm_export *x, const akm_secret *passphrase);
void nmm_export_free(nmm_export *x);

/* ---- a node's secure element attached to the station (se.c) ---- */

/* write-se: the node's relationship written into its secure element `se`
 * (open, logged in), wrapped to the element's own key. */
typedef struct nmm_se_result {
	char serial[17];             /* the element's hardware value */
	akm_node_state state;        /* what the element holds now */
	bool have_state;             /* verify: it holds one */
	const char *differs;         /* verify: why it failed, NULL when verified */
} nmm_se_result;
int nmm_write_se(nmm_station *s, nmm_node *n, akm_p11 *se, nmm_se_result *out);
/* verify: the element's record against the station's, and its proof of
 * holding the relationship's MAC key; AKM_RC_VERIFY (reported) when it
 * differs. */
int nmm_verify(nmm_station *s, nmm_node *n, akm_p11 *se, nmm_se_result *out);


/* ---- operational ASRs (asr.c, docs/asr.md) ---- */

/* An ASR as its key in the station token shows it. */
typedef struct nmm_asr {
	char name[65];                 /* its label */
	CK_OBJECT_HANDLE key;
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len;
	CK_ULONG epoch;                /* generation << 32 | step */
	CK_ULONG state, capacity, members, created, changed;
	CK_AKM_ASR_POLICY policy;
} nmm_asr;

/* Every ASR of the station (*out malloc'd); failures reported under what. */
int nmm_asr_list(nmm_station *s, const char *what, nmm_asr **out, size_t *count);
/* The ASR named `name`: AKM_RC_OK, AKM_RC_NOT_FOUND or AKM_RC_TOKEN (reported). */
int nmm_asr_find(nmm_station *s, const char *name, const char *what, nmm_asr *a);
/* Its CKA_AKM_MEMBERS (length-prefixed AKM IDs in leaf order), malloc'd: 0 or -1. */
int nmm_asr_members(nmm_station *s, const nmm_asr *a, uint8_t **members, size_t *len);
/* The active nodes of "A,B,C", each named once, at least two (*nodes malloc'd). */
int nmm_asr_resolve(nmm_station *s, const char *list, const char *what, nmm_node **nodes, size_t *count);
/* The files: "<asr>.<member>.akma" and "<asr>.g<gen>.akmr". */
void nmm_asr_package_name(const nmm_asr *a, const char *member, char *out, size_t cap);
void nmm_asr_rekey_name(const nmm_asr *a, uint32_t gen, char *out, size_t cap);

typedef struct nmm_asr_create_req {
	const char *name;              /* checked by the caller (akm_fmt_name_ok) */
	const nmm_node *nodes;         /* the members, active */
	size_t count;
	CK_AKM_ASR_POLICY policy;
	const char *dir;               /* where the packages go (writable: checked first) */
} nmm_asr_create_req;
/* Creates the ASR in the module and writes every member's signed package
 * into r->dir (each audited "asr-package"). */
int nmm_asr_create(nmm_station *s, const nmm_asr_create_req *r, nmm_asr *a);
/* One member's signed package into dir. */
int nmm_asr_write_package(nmm_station *s, const nmm_asr *a, const nmm_node *n, const char *dir, const char *what);

typedef struct nmm_asr_change {
	uint32_t from_gen, gen;
	bool has_rekey, has_package;
	char rekey_file[128], package_file[160];
	unsigned edges;                /* wrapped keys in the rekey message */
	size_t bytes;                  /* its size */
} nmm_asr_change;
/* The current generation's signed rekey message into dir. */
int nmm_asr_write_rekey(nmm_station *s, const nmm_asr *a, const char *dir, const char *what, nmm_asr_change *out);
/* Check-in delivery: a signed package (malloc'd, into items[]) for every
 * active ASR of list[0..count) that node n is a member of and does not
 * hold at its current generation (held: what the node says it holds), at
 * most max; each audited "asr-package" (via=checkin).  Failures are
 * reported, and the ASRs that failed are left out. */
size_t nmm_asr_pending(nmm_station *s, const nmm_asr *list, size_t count, const nmm_node *n,
                       const akm_proto_held *held, size_t nheld, uint8_t **items, size_t *lens, size_t max);

/* The member at `leaf` of ASR a (the sender index its messages carry):
 * 1 found (its PR into *n), 0 none (an empty leaf or beyond the
 * capacity), -1 token failure (s->p.err).  Through CKA_AKM_MEMBERS (leaf
 * order, removed leaves skipped) and the leaf field of CKM_AKM_ASR_PACKAGE
 * (not signed, not kept, not audited): log2(members) packages. */
int nmm_asr_member_at(nmm_station *s, const nmm_asr *a, uint32_t leaf, nmm_node *n);

/* CKV_AKM_ASR_ADD (n joins; its package is written, and the rekey message
 * when the policy rekeys on joins), _REMOVE (n leaves; the rekey message),
 * _REKEY (n NULL; the rekey message).  *a is read again after. */
int nmm_asr_update(nmm_station *s, nmm_asr *a, CK_ULONG op, const nmm_node *n, const char *dir, const char *what,
                   nmm_asr_change *out);

/* Delivery as the trail records it (asr show, status): the generation
 * each member's last package was written for, and the generations rekey
 * messages were written for; a member is current when its package's
 * generation and the rekey messages after it reach the ASR's generation. */
typedef struct nmm_asr_delivery {
	uint32_t *pkg_gen;             /* per member, 0: none */
	uint8_t *rekey_written;        /* by generation, 1 when written */
	uint32_t max_gen;
} nmm_asr_delivery;
/* A member's AKM ID as the module's records name it: as text when every
 * byte is printable, else in hex. */
void nmm_asr_member_text(const uint8_t *id, size_t len, char out[2 * AKM_FMT_ID_MAX + 1]);
/* From the ASR's own records (one indexed search): names[k] and ids[k]
 * (nmm_asr_member_text) of its n members in leaf order. */
void nmm_asr_delivery_read(nmm_station *s, const nmm_asr *a, char (*names)[AKM_FMT_NAME_MAX + 1],
                           char (*ids)[2 * AKM_FMT_ID_MAX + 1], size_t n, nmm_asr_delivery *d);
/* Member k: "current" or "behind", and in buf what was written ("package
 * g1, rekeys to g3", "no package written"). */
const char *nmm_asr_delivery_state(const nmm_asr_delivery *d, size_t k, char *buf, size_t cap);
void nmm_asr_delivery_free(nmm_asr_delivery *d);

/* ---- the automatic response (respond.c, docs/akm-nmmd.md) ---- */

/* One fired rule's action for one subject. */
typedef struct nmm_response {
	akm_policy_action action;
	akm_policy_scope scope;
	const uint8_t *subject;        /* the node's PR ID or the ASR ID */
	size_t subject_len;
	const char *rule;
	const char *detail;            /* "rule=<name> metric=<m> value=<v> threshold=<t> events=<seq,...>" */
} nmm_response;
/* Carries out r through the station token and writes its one record
 * ("policy-<action>", the detail then the outcome): alert (the record),
 * quarantine (PR -> suspended), evict (the node removed from every ASR it
 * is a member of), revoke (PR -> revoked, and evict), reactivate (the
 * record, which akm-nmmd follows: the node must activate again), rekey
 * (the ASR's new generation), stale (the record).  Idempotent: a state
 * already reached, or an eviction from no ASR, changes nothing (and says
 * so).  `said` gets a line for the log.  AKM_RC_OK, or a code (reported;
 * the record says "failed"). */
int nmm_respond(nmm_station *s, const nmm_response *r, char *said, size_t cap);
/* Removes node n from every active ASR it is a member of (the module's
 * remove; each ASR's new generation reaches the remaining members at
 * their next check-in).  outcome names them. */
int nmm_evict(nmm_station *s, const nmm_node *n, char *outcome, size_t cap);

/* ---- the activation service (act.c, docs/protocol.md) ---- */

/* Lockouts and clone signals (akm-nmmd's options). */
typedef struct nmm_act_policy {
	unsigned fail_limit;        /* failures that lock an address or a PR out (5) */
	uint64_t fail_window_ms;    /* ... within this time (60 s) */
	uint64_t lockout_ms;        /* for this long (300 s) */
	uint64_t clone_window_ms;   /* one PR from two addresses within this time: a clone signal (60 s) */
} nmm_act_policy;

/* What the service counts (its status and benchmark figures). */
typedef struct nmm_act_stats {
	uint64_t hellos, completed, refused, bad_proofs, replays, clones, timeouts, lockouts, locked, failures;
	uint64_t reported;          /* check-in events recorded (aggregates) */
	uint64_t report_dups;       /* check-in reports whose events were recorded already */
} nmm_act_stats;

typedef struct nmm_act nmm_act;

/* One connection.  hs is NULL until a node has proven its PR (message 3):
 * before that the station keeps nothing but the peer's address. */
typedef struct nmm_act_conn {
	char peer[64];
	akm_proto_hs *hs;
	nmm_node n;                 /* the PR, after the proof */
	uint8_t op;
	uint8_t challenge[AKM_PROTO_CHALLENGE_LEN];
	/* Check-in delivery: the signed packages waiting for the node (after
	 * DONE, fetched part by part); malloc'd, freed by nmm_act_conn_end. */
	uint8_t *items[AKM_PROTO_ITEMS_MAX];
	size_t item_len[AKM_PROTO_ITEMS_MAX];
	size_t nitems;
	bool delivering;
} nmm_act_conn;

/* What to do after a frame: send `out` and wait for the next frame, send
 * it and close, or close without a word. */
typedef enum { NMM_ACT_REPLY, NMM_ACT_REPLY_CLOSE, NMM_ACT_CLOSE } nmm_act_next;

/* The service's state over the open, logged-in station `s` (kept, not
 * copied): a fresh cookie key in locked memory, the lockout and clone
 * tables.  policy NULL: the defaults.  NULL when memory is short. */
nmm_act *nmm_act_new(nmm_station *s, const nmm_act_policy *policy);
void nmm_act_free(nmm_act *d);
void nmm_act_set_policy(nmm_act *d, const nmm_act_policy *policy);
const nmm_act_stats *nmm_act_stats_of(const nmm_act *d);
/* Ephemeral keys made in the token since the last reset.  A token may keep
 * what it destroyed until it is finalised (SoftHSM2 does): the service
 * re-opens the station after a number of them, and then resets the count
 * (the ephemeral session went with the module's sessions). */
uint64_t nmm_act_token_uses(const nmm_act *d);
void nmm_act_token_reset(nmm_act *d);
/* Whether a new connection from c->peer may proceed (not locked out). */
bool nmm_act_admit(nmm_act *d, nmm_act_conn *c);
/* A whole frame whose header akm_proto_header accepted: the answer into
 * out (room: AKM_PROTO_FRAME_MAX). */
nmm_act_next nmm_act_frame(nmm_act *d, nmm_act_conn *c, const uint8_t *frame, size_t len, uint8_t *out,
                           size_t *out_len);
/* A header that akm_proto_header refused (why): audited, ERROR in out. */
nmm_act_next nmm_act_malformed(nmm_act *d, nmm_act_conn *c, akm_fmt_rc why, uint8_t *out, size_t *out_len);
/* A silent or slow peer: audited, ERROR in out. */
nmm_act_next nmm_act_timeout(nmm_act *d, nmm_act_conn *c, uint8_t *out, size_t *out_len);
/* Forgets the connection's keys (wiped). */
void nmm_act_conn_end(nmm_act *d, nmm_act_conn *c);

/* The trail follower: every audit record after `from` - 1 (from 0: after
 * the trail's head now) is read, in order, by nmm_act_follow (and by the
 * check-in delivery, which needs to know of new ASRs) and handed to
 * on_record (NULL: none).  The follower itself acts on two station-signed
 * records: "policy-reactivate" (the node's check-ins and reports are
 * answered RESULT 10 until it activates again) and "activate ... verified"
 * (which lifts that).  nmm_act_follow reads at most max records and returns
 * how many it read. */
void nmm_act_set_follower(nmm_act *d, uint64_t from, void (*on_record)(void *ctx, const nmm_audit_rec *r),
                          void *ctx);
size_t nmm_act_follow(nmm_act *d, size_t max);
/* The last record followed. */
uint64_t nmm_act_trail_seq(const nmm_act *d);

/* ---- the breach monitor (watch.c, docs/akm-nmmd.md "Automatic response") ---- */

typedef struct nmm_watch nmm_watch;
/* Log lines: level as syslog's (3 error, 5 notice). */
typedef void (*nmm_watch_log)(void *ctx, int level, const char *line);
typedef struct nmm_watch_stats {
	uint64_t records, unsigned_records, events, replayed, replayed_actions;
	uint64_t actions, failed_actions, loads, refused;
	uint64_t last_action_ms;    /* how long the last action took */
} nmm_watch_stats;

nmm_watch *nmm_watch_new(nmm_station *s, nmm_act *act, nmm_watch_log log, void *ctx);
void nmm_watch_free(nmm_watch *w);
/* Reads and parses the policy file: AKM_RC_OK in force (a "policy-load"
 * record), or AKM_RC_REFUSED: the file's line named in the log and in a
 * "policy-refused" record, and the previous policy (if any) stays. */
int nmm_watch_load(nmm_watch *w, const char *path);
/* The start: the monitor seeded from the token (ASR generations, the
 * nodes' last check-ins, the suspended nodes) and the trail replayed from
 * the first record of the policy's longest look-back (a rule's window
 * times its datapoints, at most 7 days) without acting again; from then
 * on every record is followed. */
int nmm_watch_start(nmm_watch *w);
/* Often (akm-nmmd: every 100 ms): new records followed, the engine ticked
 * once a second, fired actions carried out (respond.c). */
void nmm_watch_poll(nmm_watch *w);
const nmm_watch_stats *nmm_watch_stats_of(const nmm_watch *w);

/* verify --nmm: the station service asks every node that activates,
 * checks in or reports for its AKM ID and PR ID and a proof over a fresh
 * challenge (docs/protocol.md §4).  This waits, up to wait_s seconds, for
 * the next such answer from node n recorded in the trail after the call
 * began (the service at `nmm` must be reachable).  AKM_RC_OK verified,
 * AKM_RC_VERIFY a failed proof or a clone signal, AKM_RC_NETWORK no answer
 * in time or no service; reported. */
typedef struct nmm_net_verdict {
	uint64_t seq, time;
	char action[64], peer[64];
} nmm_net_verdict;
int nmm_verify_net(nmm_station *s, const nmm_node *n, const char *nmm, unsigned wait_s, nmm_net_verdict *v);

/* ---- the station at a glance (status.c) ---- */

/* One gathering of the figures akm-nmm status prints and akm-nmmd's status
 * page and /metrics serve (docs/akm-nmm.md "status"): nodes by state and
 * status, stale nodes, ASRs with generation and delivery, and the tail of
 * the audit trail (breach signals and automatic actions).  Cheap at scale:
 * one search for the PRs and one batched attribute read per PR, at most
 * NMM_STATUS_NODES_MAX nodes kept (problems first), the trail read
 * backwards by handle from its last record, at most `tail_max` records. */
#define NMM_STATUS_NODES_MAX 500      /* nodes kept for the tables */
#define NMM_STATUS_RECENT 25          /* recent events, and recent actions, kept */
#define NMM_STATUS_KINDS 48           /* distinct event kinds and action names counted */
#define NMM_STATUS_BUCKETS 60         /* the chart: events per bucket */
#define NMM_STATUS_ASR_DELIVERY 64    /* ASRs whose delivery is read from the trail */
#define NMM_STATUS_TAIL_MAX 5000      /* records read from the trail's end, by default */
#define NMM_STATUS_TRUST_CACHE 8192   /* signature verdicts remembered across gatherings */

/* A node's place in the tables: the lower, the earlier. */
typedef enum {
	NMM_STATUS_QUARANTINED = 0,  /* suspended */
	NMM_STATUS_STALE,            /* active, silent longer than stale_after */
	NMM_STATUS_PENDING,          /* waiting for approval */
	NMM_STATUS_REVOKED,
	NMM_STATUS_UNHEARD,          /* active, never checked in */
	NMM_STATUS_OK,
} nmm_status_rank;

typedef struct nmm_status_node {
	char name[AKM_FMT_NAME_MAX + 1];
	CK_ULONG state, status;
	uint64_t checkin;            /* seconds since 1970 of the last check-in, 0: never */
	nmm_status_rank rank;
} nmm_status_node;

typedef struct nmm_status_asr {
	char name[65];
	CK_ULONG state, members, capacity;
	uint32_t generation, step;
	bool delivery_known;         /* read (the first NMM_STATUS_ASR_DELIVERY ASRs) */
	size_t current;              /* members current (delivery), when known */
} nmm_status_asr;

/* An audit record as the page shows it. */
typedef struct nmm_status_record {
	uint64_t seq, time;
	CK_ULONG result;
	char action[33];
	char kind[48];               /* breach kind, or the action name */
	char node[AKM_FMT_NAME_MAX + 1]; /* from "node=" in the detail, else "" */
	char detail[200];            /* the detail without the site, time and signature fields */
} nmm_status_record;

typedef struct nmm_status_count {
	char name[48];
	uint64_t n;
} nmm_status_count;

/* Counts kept across gatherings (akm-nmmd's /metrics counters): every
 * record after seen_seq that a gathering reads is counted once. */
typedef struct nmm_status_totals {
	uint64_t seen_seq;           /* 0: nothing yet (the first gathering counts the records it reads) */
	uint64_t skipped;            /* records never read (more new ones than tail_max at once) */
	nmm_status_count events[NMM_STATUS_KINDS];
	size_t nevents;
	nmm_status_count actions[NMM_STATUS_KINDS];
	size_t nactions;
	uint64_t trust[NMM_STATUS_TRUST_CACHE];  /* seq << 1 | trusted, by seq modulo the size */
} nmm_status_totals;

typedef struct nmm_status_opts {
	uint64_t now;                /* seconds since 1970 (0: time(NULL)) */
	uint64_t stale_after;        /* seconds (0: NMM_STATUS_STALE_AFTER) */
	size_t tail_max;             /* 0: NMM_STATUS_TAIL_MAX */
	uint64_t chart_seconds;      /* the chart's span (0: 3600, in minutes) */
	nmm_status_totals *totals;   /* NULL: none (akm-nmm status) */
} nmm_status_opts;
#define NMM_STATUS_STALE_AFTER 86400

typedef struct nmm_status {
	uint64_t now, stale_after;
	char station_id[2 * AKM_FMT_ID_MAX + 1], site[2 * NMM_SITE_MAX + 32];
	/* nodes */
	uint64_t nodes_total;
	uint64_t by_state[5];        /* pending, active, suspended, revoked, other */
	uint64_t by_status[6];       /* created, exported, imported, activated, verified, other */
	uint64_t stale, unheard;     /* active nodes silent too long, or never heard */
	nmm_status_node *nodes;      /* at most NMM_STATUS_NODES_MAX: by rank, then name */
	size_t nnodes;
	/* ASRs */
	nmm_status_asr *asrs;        /* all, by name */
	size_t nasrs;
	/* the trail's tail: records from_seq..to_seq read (newest first) */
	uint64_t audit_last, from_seq, oldest_time;
	size_t records_read;
	bool tail_truncated;         /* tail_max reached before the chart's span */
	uint64_t untrusted;          /* records claiming a breach without a valid station signature */
	nmm_status_count events[NMM_STATUS_KINDS];   /* breach signals by kind (the policy's metric names), in the span */
	size_t nevents;
	uint64_t events_total;
	nmm_status_count actions[NMM_STATUS_KINDS];  /* policy-* and reinstate records by action */
	size_t nactions;
	uint64_t actions_total;
	nmm_status_record recent_events[NMM_STATUS_RECENT];  /* newest first */
	size_t nrecent_events;
	nmm_status_record recent_actions[NMM_STATUS_RECENT];
	size_t nrecent_actions;
	uint64_t chart_start, bucket_seconds;
	uint32_t chart[NMM_STATUS_BUCKETS];          /* breach signals per bucket, oldest first */
	bool have_totals;
	nmm_status_totals totals;    /* a copy of opts->totals after this gathering */
} nmm_status;

/* Whether the action is an automatic action (policy-alert, -quarantine,
 * -evict, -revoke, -reactivate, -rekey, -stale) or an operator's answer to
 * one (reinstate); policy-load and policy-refused are not. */
bool nmm_is_policy_action(const char *action);
/* Whether record r counts: the module's own, or the station's with a valid
 * signature (nmm_audit_check_sig), remembered in cache when not NULL. */
bool nmm_status_trusted(nmm_station *s, const nmm_audit_rec *r, nmm_status_totals *cache);

/* Gathers the figures: AKM_RC_OK, or a code reported under `what`. */
int nmm_status_gather(nmm_station *s, const nmm_status_opts *o, const char *what, nmm_status *st);
/* The same in steps, for a service that must not stop for long (akm-nmmd):
 * begin (the ASRs, the search for the PRs), then steps of at most
 * max_nodes PR reads each (1 when all are read, 0 when more remain, a
 * negated code on a failure), then finish (the ASRs' delivery and the
 * trail's tail: the rest into *st, the run freed) or abort.  Nothing of the
 * token is held between steps but object handles: a run must be aborted
 * if the station is opened again meanwhile. */
typedef struct nmm_status_run nmm_status_run;
int nmm_status_begin(nmm_station *s, const nmm_status_opts *o, const char *what, nmm_status_run **run);
int nmm_status_step(nmm_status_run *run, size_t max_nodes);
int nmm_status_finish(nmm_status_run *run, nmm_status *st);
void nmm_status_abort(nmm_status_run *run);
void nmm_status_free(nmm_status *st);

/* The figures as Prometheus text exposition format 0.0.4 (docs/akm-nmmd.md
 * "Status page", metric names there), as JSON (docs/json.md "status"),
 * and as akm-nmm status prints them. */
void nmm_status_metrics(const nmm_status *st, FILE *f);
int nmm_status_json(const nmm_status *st, FILE *f); /* akm_json_finish's code */
void nmm_status_text(const nmm_status *st, FILE *f);

#endif

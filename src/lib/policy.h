/*
 * The station's breach-response policy (docs/policy.md, akm-policy.conf(5)):
 * the metrics the monitor counts, the rules' shape (AWS IoT Device
 * Defender's: scope, metric, operator, threshold, window, datapoints to
 * alarm and to clear, actions, cool-down) and the parser of conf/policy.conf.
 *
 * Pure: no I/O (the caller reads the file), no allocation.  A policy that is
 * malformed or unsafe (docs/policy.md, "Unsafe policies") is refused with a
 * message naming the file and line, e.g.
 *   policy.conf:12: unknown metric "forgd"
 */
#ifndef AKM_LIB_POLICY_H
#define AKM_LIB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AKM_POLICY_RULES_MAX 64        /* rules in one policy */
#define AKM_POLICY_NAME_MAX 32         /* a rule's name: [a-z0-9-], 1..32 */
#define AKM_POLICY_ACTIONS_MAX 4       /* actions of one rule */
#define AKM_POLICY_WINDOW_MIN 1        /* seconds */
#define AKM_POLICY_WINDOW_MAX (7u * 86400u)
#define AKM_POLICY_COOLDOWN_MAX (30u * 86400u)
#define AKM_POLICY_DATAPOINTS_MAX 100
#define AKM_POLICY_COUNT_MAX 1000000000u  /* a count threshold */
#define AKM_POLICY_GAUGE_MAX (3650ull * 86400u) /* a duration threshold (10 years) */
/* Floors that keep the scheduled actions from storming (unsafe below). */
#define AKM_POLICY_REKEY_AGE_MIN 10       /* seconds: asr-age threshold of a rekey rule */
#define AKM_POLICY_REKEY_MESSAGES_MIN 10  /* asr-messages threshold of a rekey rule */
#define AKM_POLICY_STALE_MIN 10           /* seconds: node-silence threshold of a stale rule */

/* Metrics.  The counted ones (AKM_MON_WRONG_PIN .. AKM_MON_ASR_SENT) are
 * also the kinds of the monitor's events (monitor.h); AKM_MON_BREACHES
 * counts every breach kind; the gauges are computed from the facts
 * (check-ins, ASR generations, messages) and evaluated at each tick.
 * Names are those of the policy file; docs/policy.md has the table of which
 * audit records and node reports feed each. */
typedef enum akm_mon_metric {
	AKM_MON_NONE = 0,
	/* breach signals, counted over a sliding window */
	AKM_MON_WRONG_PIN,        /* "wrong-pin" */
	AKM_MON_LOGIN_REFUSED,    /* "login-refused": back-off running or PIN locked */
	AKM_MON_LOCKOUT,          /* "lockout": the station service locked an address or PR out */
	AKM_MON_KEY_FAILURE,      /* "key-failure": MAC or decryption failure with a relationship key */
	AKM_MON_BAD_PROOF,        /* "bad-proof": act-bad-proof, node-verify-failed */
	AKM_MON_FORGED,           /* "forged": a forged ASR message (attributed to its sender) */
	AKM_MON_REPLAY,           /* "replay": a replayed handshake or message */
	AKM_MON_CLONE,            /* "clone": a PR proven with another hardware value or node ID */
	AKM_MON_CLONE_ADDRESS,    /* "clone-address": one PR from two addresses within 60 s (weaker) */
	AKM_MON_UNKNOWN_REL,      /* "unknown-relationship" */
	AKM_MON_REFUSED_STATE,    /* "refused-state": a suspended or revoked relationship used */
	AKM_MON_TAMPER,           /* "tamper": a tampered bundle, package, row or trail */
	AKM_MON_MALFORMED,        /* "malformed": malformed traffic, a timed-out exchange */
	AKM_MON_OTHER,            /* "other": a node's report of kind 6 */
	/* facts (not breaches) */
	AKM_MON_CHECKIN,          /* "checkins": a verified exchange with a node (its last-seen time) */
	AKM_MON_ASR_CREATED,      /* "asr-created": an ASR created (generation 1; its generation time) */
	AKM_MON_ASR_REKEYED,      /* "asr-rekeys": an ASR's new generation (rekey, member added or removed) */
	AKM_MON_ASR_SENT,         /* "asr-sent": messages sent under an ASR, as a node reports them */
	/* metrics only */
	AKM_MON_BREACHES,         /* "breaches": every breach kind above together */
	AKM_MON_ASR_AGE,          /* "asr-age": seconds since the ASR's current generation (gauge) */
	AKM_MON_ASR_MESSAGES,     /* "asr-messages": messages reported at its current generation (gauge) */
	AKM_MON_NODE_SILENCE,     /* "node-silence": seconds since the node's last check-in (gauge) */
	AKM_MON_METRIC_COUNT
} akm_mon_metric;

#define AKM_MON_FIRST_BREACH AKM_MON_WRONG_PIN
#define AKM_MON_LAST_BREACH AKM_MON_OTHER
#define AKM_MON_EVENT_KINDS AKM_MON_BREACHES   /* kinds 1..AKM_MON_EVENT_KINDS-1 are events */

typedef enum akm_policy_scope {
	AKM_SCOPE_NODE = 0,       /* per node (its PR ID) */
	AKM_SCOPE_ASR,            /* per ASR (its ID) */
	AKM_SCOPE_STATION,        /* the whole station: one subject */
	AKM_SCOPE_COUNT
} akm_policy_scope;

typedef enum akm_policy_op {
	AKM_OP_GT = 0, AKM_OP_GE, AKM_OP_LT, AKM_OP_LE, AKM_OP_EQ
} akm_policy_op;

typedef enum akm_policy_action {
	AKM_ACT_ALERT = 0,        /* an audit record and a log line */
	AKM_ACT_QUARANTINE,       /* suspend the node's relationships (destructive) */
	AKM_ACT_EVICT,            /* remove the node from its ASRs and rekey them (destructive) */
	AKM_ACT_REVOKE,           /* revoke the node's PR (destructive) */
	AKM_ACT_REACTIVATE,       /* require the node to activate again (destructive) */
	AKM_ACT_REKEY,            /* rekey the ASR */
	AKM_ACT_STALE,            /* mark the node stale */
	AKM_ACT_COUNT
} akm_policy_action;

typedef struct akm_policy_rule {
	char name[AKM_POLICY_NAME_MAX + 1];
	unsigned line;                     /* where "rule NAME" is, for messages */
	akm_policy_scope scope;
	akm_mon_metric metric;
	akm_policy_op op;
	uint64_t threshold;                /* a count, or seconds for asr-age/node-silence */
	uint32_t window;                   /* seconds; counted metrics only (0 for gauges) */
	uint32_t to_alarm, to_clear;       /* consecutive datapoints; default 1 and 1 */
	uint32_t cooldown;                 /* seconds; default 0 */
	akm_policy_action actions[AKM_POLICY_ACTIONS_MAX];
	size_t nactions;
} akm_policy_rule;

typedef struct akm_policy {
	akm_policy_rule rules[AKM_POLICY_RULES_MAX];
	size_t nrules;
} akm_policy;

typedef enum akm_policy_rc {
	AKM_POLICY_OK = 0,
	AKM_POLICY_MALFORMED,     /* a syntax error, an unknown word, a value out of range */
	AKM_POLICY_UNSAFE,        /* well-formed, but refused: docs/policy.md, "Unsafe policies" */
} akm_policy_rc;

/* Parses text[0..len) (need not be NUL-terminated) into *out.  `file` names
 * it in messages (e.g. "policy.conf").  On a refusal, err gets one line
 * "<file>:<line>: <what>" (no newline) and *out is left zeroed. */
akm_policy_rc akm_policy_parse(const char *text, size_t len, const char *file, akm_policy *out, char *err,
                               size_t err_len);

/* Names (the policy file's words), NULL/"?" for a value out of range;
 * lookups by name return -1 (AKM_MON_NONE for metrics) when unknown. */
const char *akm_mon_metric_name(akm_mon_metric m);
akm_mon_metric akm_mon_metric_by_name(const char *name, size_t len);
const char *akm_policy_scope_name(akm_policy_scope s);
const char *akm_policy_op_name(akm_policy_op op);     /* ">", ">=", ... */
const char *akm_policy_action_name(akm_policy_action a);

/* Kinds of metrics and actions. */
bool akm_mon_metric_is_breach(akm_mon_metric m);      /* wrong-pin .. other, breaches */
bool akm_mon_metric_is_gauge(akm_mon_metric m);       /* asr-age, asr-messages, node-silence */
bool akm_policy_action_is_destructive(akm_policy_action a); /* quarantine, evict, revoke, reactivate */
/* Whether op holds for value against threshold. */
bool akm_policy_holds(akm_policy_op op, uint64_t value, uint64_t threshold);

#endif

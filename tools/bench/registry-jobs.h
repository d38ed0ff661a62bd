/*
 * What akm-bench-registry measures (registry-jobs.c): each job runs in a
 * forked child that loads its module (tools/shared/p11.h), so a cold start
 * is a real one and SoftHSM2 and akm-pkcs11 never share a process.
 */
#ifndef AKM_BENCH_REGISTRY_JOBS_H
#define AKM_BENCH_REGISTRY_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#define RB_TOKEN_LABEL "akm-rbench"
#define RB_USER_PIN "1234"
#define RB_SO_PIN "12345678"
#define RB_SINGLE_CREATIONS 1000

/* What a child sends back. */
typedef struct figures {
	int ok;
	char error[320];
	/* creation */
	double batch_per_s;
	double batch_seconds;
	double single_per_s;
	double batch_tail_per_s; /* over the last tenth of the batches */
	/* cold start, and its parts: dlopen, C_Initialize, finding the slot,
	 * C_OpenSession, C_Login */
	double cold_ms;
	double cold_phase_ms[5];
	/* find */
	double finds_per_s;
	uint64_t finds;
	/* AES-GCM */
	double gcm_per_s;
	/* memory */
	double rss_mb;
	double hwm_mb;
} figures;

typedef enum job_kind {
	JOB_CREATE,          /* akm: batches, then single calls */
	JOB_COLD_START,      /* either module */
	JOB_AKM_USE,         /* akm: find-by-ID, AES-GCM, memory */
	JOB_SOFTHSM_GCM,     /* SoftHSM2: AES-GCM on a session key */
	JOB_SOFTHSM_POPULATE, /* SoftHSM2: token AES keys */
	JOB_SOFTHSM_FIND,    /* SoftHSM2: find-by-CKA_ID */
} job_kind;

typedef struct job {
	job_kind kind;
	const char *module_path;
	unsigned long n;     /* relationships (akm) or token objects (SoftHSM2) */
	unsigned long batch;
	double seconds;
	uint64_t seed;
	bool sequential_ids; /* IDs "akm-rel-%010lu" (a labelled comparison), not 16 random-looking bytes */
	const char *what;    /* for progress lines */
} job;

/* Runs the job in a forked child; its figures (ok == 0 and error on a
 * failure). */
figures rb_run_in_child(const job *jb);

#endif

/*
 * What akm-bench measures (bench-ops.c): each operation's set-up (the keys
 * it needs, made in the worker's session) and one run of it, through the
 * module's function list as any application calls it.
 */
#ifndef AKM_BENCH_OPS_H
#define AKM_BENCH_OPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#define BENCH_DATA_SIZE 1024

/* One worker: a session of its own, running one operation in a timed loop. */
typedef struct bench_worker {
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE secret_key;   /* AES or generic secret, per operation */
	CK_OBJECT_HANDLE wrapping_key; /* AES KEK (aes-kwp-wrap-unwrap) */
	CK_OBJECT_HANDLE private_key;  /* EC P-256 (ecdsa-p256-sign) */
	CK_OBJECT_HANDLE public_key;
	unsigned char data[BENCH_DATA_SIZE];
	unsigned char output[BENCH_DATA_SIZE + 256];
	uint64_t iv_counter;
	double seconds;
	pthread_barrier_t *start_line;
	bool passed_start_line;
	uint64_t ops;
	double elapsed;     /* wall-clock seconds of the timed loop */
	double cpu_elapsed; /* CPU seconds this thread used in the timed loop */
	char error[256]; /* empty unless something failed */
} bench_worker;

typedef struct bench_op {
	const char *name;
	const char *what;
	unsigned threads;
	int (*setup)(bench_worker *worker);
	int (*run_once)(bench_worker *worker);
} bench_op;

/* Records "<function> failed: CKR_..." as the worker's error (the first
 * one stays); returns -1. */
int bench_worker_fail(bench_worker *worker, const char *function, CK_RV rv);

/* The operations, in the order of --list (at most BENCH_MAX_OPS). */
#define BENCH_MAX_OPS 16
extern const bench_op bench_ops[];
extern const size_t bench_op_count;

#endif

/*
 * A fleet of nodes for the activation service (akm-bench-activate and the
 * load test, tests/tools/test_activation_load.c): n real SoftHSM2 tokens,
 * one per node, each holding its provisioning relationship written by the
 * station as write-se does; the real akm-nmmd as a child process; and n
 * exchanges run from many threads at once, each node from its own
 * session, timed one by one.
 */
#ifndef AKM_BENCH_ACT_FLEET_H
#define AKM_BENCH_ACT_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "node/node.h"
#include "station/station.h"

typedef struct act_fleet {
	const char *softhsm;      /* the nodes' module (libsofthsm2.so) */
	const char *pin;          /* every token's user PIN */
	size_t n;
	char (*label)[33];        /* node i's token */
	char (*hw)[AKM_FMT_HW_MAX + 1];
	akm_node_state *states;
	/* For the load test: SIGKILL to kill_pid once kill_at exchanges have
	 * succeeded in a run (0: never). */
	pid_t kill_pid;
	size_t kill_at;
} act_fleet;

/* Makes n node tokens (labels "<prefix>-<i>") in the SoftHSM2 token folder
 * of $SOFTHSM2_CONF, provisions n nodes on the station (station_module =
 * akm-pkcs11.so, station token label, the same PIN; the station is
 * initialised first when it has none) and writes each node's relationship
 * into its token.  0, or -1 with a sentence in err. */
int act_fleet_create(act_fleet *f, const char *station_module, const char *station_token, const char *softhsm,
                     const char *prefix, const char *pin, size_t n, char *err, size_t errlen);
void act_fleet_free(act_fleet *f);

/* The service as a child process, listening on 127.0.0.1 (a port the
 * system picks). */
typedef struct act_service {
	pid_t pid;
	char addr[128];
	char dir[4096];           /* where its port file and log go */
} act_service;

/* Starts nmmd_path with --module, --token, --pin-file and extra (NULL-
 * terminated, may be NULL) and waits until it listens.  0 or -1 with err. */
int act_service_start(act_service *sv, const char *nmmd_path, const char *module, const char *token,
                      const char *pin_file, const char *const *extra, char *err, size_t errlen);
/* Sends sig and waits for the exit; returns the wait status. */
int act_service_stop(act_service *sv, int sig);

/* One run: exchanges of `op` by `threads` threads, each taking the next
 * node in turn (round robin over the fleet), until `count` exchanges were
 * made or `seconds` passed (0: no limit).  Latencies in ms, in the order
 * they finished. */
typedef struct act_run {
	size_t ok, failed;
	double seconds;
	double *lat_ms;           /* malloc'd, ok + failed of them */
	size_t nlat;
	int *rc;                  /* per node: the last exchange's AKM_RC_* (malloc'd, f->n) */
	char first_error[256];    /* the first failure's message */
} act_run;
int act_fleet_run(act_fleet *f, const char *addr, unsigned threads, uint8_t op, size_t count, double seconds,
                  act_run *out, char *err, size_t errlen);
void act_run_free(act_run *r);

/* A "<field>: N kB" line of /proc/<pid>/status (e.g. "VmRSS:"), in KiB;
 * -1 when it cannot be read. */
long act_proc_kib(pid_t pid, const char *field);

#endif

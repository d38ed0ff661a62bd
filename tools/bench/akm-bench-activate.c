/*
 * akm-bench-activate: the activation service's throughput and latency
 * (docs/performance.md, "Activation"), with the station token's own cost
 * in the same run.
 *
 *   (a) activations per second through the real akm-nmmd (a child process
 *       on 127.0.0.1) with 1, 16 and 128 (--concurrency) nodes at once,
 *       each node a real SoftHSM2 token of its own holding its PR, run from
 *       one thread per concurrent node; p50 and p99 latency of one whole
 *       exchange (connect, four messages, verification, answer);
 *   (b) the station token alone, in a forked child: the token operations
 *       one activation makes at the station through akm-pkcs11.so
 *       (ephemeral P-256 key pair, ECDH read out, HMAC for PRK_3, HMAC for
 *       the verification), timed in a loop: the token-bound limit, and
 *       the ratio service / limit;
 *   (c) the CPU time per activation (user + system, from /proc) of the
 *       service and of the nodes (this process: their threads and their
 *       tokens), which together bound the rate on a machine they share;
 *       the service's peak memory (VmHWM) after the runs.
 *
 * With --policy FILE the service runs its breach monitor on that policy
 * (akm-nmmd --policy): every audit record it appends is followed, its
 * station signature checked and mapped to events; without it, no policy.
 *
 * Output: one line per measurement, "name key=value ...", on stdout;
 * progress on stderr.  Exit status: 0 whatever the figures say, 1 when a
 * step failed, 2 on a bad command line.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/act-fleet.h"
#include "bench/bench-env.h"
#include "lib/keyed.h"
#include "shared/net.h"

#define AB_LABEL "akm-abench"
#define AB_PIN "1234"
#define AB_SO_PIN "12345678"
#define AB_LEVELS_MAX 8

typedef struct ab_options {
	const char *module, *softhsm, *nmmd;
	const char *policy; /* akm-nmmd --policy: its breach monitor on (each record followed and mapped) */
	unsigned long nodes;
	unsigned long levels[AB_LEVELS_MAX];
	size_t nlevels;
	double seconds;
	unsigned long token_ops;
} ab_options;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* ---- (b) the station token alone ---- */

typedef struct token_result {
	double us_per_activation;
	unsigned long ops;
} token_result;

static bool token_alone(void *out, const void *arg)
{
	const ab_options *o = arg;
	token_result *r = out;
	nmm_station s = {0};
	nmm_node n;
	if (akm_p11_open(&s.p, o->module, AB_LABEL) != 0 || akm_p11_login(&s.p, AB_PIN, strlen(AB_PIN)) != 0) {
		fprintf(stderr, "akm-bench-activate: station: %s\n", s.p.err);
		return false;
	}
	s.open = true;
	if (nmm_station_read(&s) != 0 || nmm_node_find(&s, "node-0", &n) != 0 || nmm_node_mac(&s, &n) != 0)
		return false;
	/* A peer point: an ephemeral key of the node's kind. */
	CK_OBJECT_HANDLE ppub, ppriv;
	uint8_t peer[65], point[65], z[32], mac[32], msg[64] = "AKM-ACT-1 psk";
	if (akm_p11_ec_generate(&s.p, false, NULL, NULL, 0, &ppub, &ppriv) != 0 || akm_p11_ec_point(&s.p, ppub, peer) != 0)
		return false;
	double t0 = bench_now();
	for (unsigned long i = 0; i < o->token_ops; i++) {
		CK_OBJECT_HANDLE pub, priv;
		if (akm_p11_ec_generate(&s.p, false, NULL, NULL, 0, &pub, &priv) != 0 ||
		    akm_p11_ec_point(&s.p, pub, point) != 0 || akm_p11_ecdh_secret(&s.p, priv, peer, z) != 0)
			return false;
		akm_p11_destroy(&s.p, &priv);
		akm_p11_destroy(&s.p, &pub);
		if (akm_p11_hmac(&s.p, n.mac, msg, 45, mac) != 0 || akm_p11_hmac(&s.p, n.mac, msg, 58, mac) != 0)
			return false;
	}
	double t = bench_now() - t0;
	akm_wipe(z, sizeof z);
	r->us_per_activation = t * 1e6 / (double)o->token_ops;
	r->ops = o->token_ops;
	nmm_station_close(&s);
	return true;
}

/* The CPU time pid has used (user + system), in seconds. */
static double cpu_s(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* after the command name */
	unsigned long long ut = 0, st = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int usage(int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: akm-bench-activate --module akm-pkcs11.so --softhsm libsofthsm2.so --nmmd akm-nmmd\n"
	        "                          [--nodes N] [--concurrency 1,16,128] [--seconds S] [--token-ops N]\n"
	        "                          [--policy FILE]\n");
	return code;
}

int main(int argc, char **argv)
{
	ab_options o = {.nodes = 0, .seconds = 5, .token_ops = 2000};
	const char *levels = "1,16,128";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return usage(0);
		if (v == NULL)
			return usage(2);
		i++;
		int bad = 0;
		if (strcmp(a, "--module") == 0)
			o.module = v;
		else if (strcmp(a, "--softhsm") == 0)
			o.softhsm = v;
		else if (strcmp(a, "--nmmd") == 0)
			o.nmmd = v;
		else if (strcmp(a, "--concurrency") == 0)
			levels = v;
		else if (strcmp(a, "--policy") == 0)
			o.policy = v;
		else if (strcmp(a, "--nodes") == 0)
			bad = bench_parse_count(v, 1, 100000, &o.nodes);
		else if (strcmp(a, "--seconds") == 0)
			bad = bench_parse_seconds(v, 3600, &o.seconds);
		else if (strcmp(a, "--token-ops") == 0)
			bad = bench_parse_count(v, 1, 10000000, &o.token_ops);
		else
			bad = -1;
		if (bad != 0)
			return usage(2);
	}
	if (!o.module || !o.softhsm || !o.nmmd)
		return usage(2);
	char lv[128];
	snprintf(lv, sizeof lv, "%s", levels);
	unsigned long maxc = 0;
	for (char *t = strtok(lv, ","); t; t = strtok(NULL, ",")) {
		if (o.nlevels == AB_LEVELS_MAX || bench_parse_count(t, 1, 10000, &o.levels[o.nlevels]) != 0)
			return usage(2);
		if (o.levels[o.nlevels] > maxc)
			maxc = o.levels[o.nlevels];
		o.nlevels++;
	}
	if (o.nodes == 0)
		o.nodes = maxc;
	if (o.nodes < maxc) {
		fprintf(stderr, "akm-bench-activate: --nodes must be at least the highest concurrency (%lu)\n", maxc);
		return 2;
	}
	bench_catch_interrupts();
	bench_env env;
	if (bench_env_create(&env, "akm-bench-activate", "act", o.softhsm, AB_LABEL, AB_SO_PIN, AB_PIN) != 0)
		return 1;
	int rc = 1;
	char err[512], pin_file[PATH_MAX + 16];
	snprintf(pin_file, sizeof pin_file, "%s/user.pin", env.dir);
	FILE *pf = fopen(pin_file, "w");
	if (pf == NULL || fputs(AB_PIN "\n", pf) < 0 || fclose(pf) != 0) {
		fprintf(stderr, "akm-bench-activate: %s: cannot write\n", pin_file);
		bench_env_destroy(&env);
		return 1;
	}
	act_fleet fleet;
	act_service sv = {0};
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	fprintf(stderr, "akm-bench-activate: %lu node tokens, provisioned and written...\n", o.nodes);
	double t0 = bench_now();
	if (act_fleet_create(&fleet, o.module, AB_LABEL, o.softhsm, "node", AB_PIN, o.nodes, err, sizeof err) != 0) {
		fprintf(stderr, "akm-bench-activate: %s\n", err);
		goto out;
	}
	printf("setup nodes=%lu seconds=%.2f\n", o.nodes, bench_now() - t0);
	token_result tr;
	if (!bench_run_in_child(token_alone, &o, &tr, sizeof tr, 600, &bench_running_child, &bench_interrupted, err,
	                        sizeof err)) {
		fprintf(stderr, "akm-bench-activate: the token-alone run failed: %s\n", err);
		goto out;
	}
	double limit = 1e6 / tr.us_per_activation;
	printf("token-alone ops=%lu us_per_activation=%.1f limit_per_s=%.0f\n", tr.ops, tr.us_per_activation, limit);
	const char *policy_args[] = {"--policy", o.policy, NULL};
	printf("service policy=%s\n", o.policy ? o.policy : "none");
	if (act_service_start(&sv, o.nmmd, o.module, AB_LABEL, pin_file, o.policy ? policy_args : NULL, err,
	                      sizeof err) != 0) {
		fprintf(stderr, "akm-bench-activate: %s\n", err);
		goto out;
	}
	/* The first exchange of each node raises its status twice; the runs
	 * measure what follows, as a station sees it day to day. */
	act_run warm;
	if (act_fleet_run(&fleet, sv.addr, (unsigned)(maxc < 16 ? maxc : 16), AKM_OP_ACTIVATE, o.nodes, 0, &warm, err,
	                  sizeof err) != 0 || warm.failed != 0) {
		fprintf(stderr, "akm-bench-activate: warm-up: %s (%zu failed)\n", err, warm.failed);
		act_run_free(&warm);
		goto out;
	}
	act_run_free(&warm);
	rc = 0;
	for (size_t l = 0; l < o.nlevels && !bench_interrupted; l++) {
		act_run r;
		double cpu0 = cpu_s(sv.pid), node_cpu0 = cpu_s(getpid());
		if (act_fleet_run(&fleet, sv.addr, (unsigned)o.levels[l], AKM_OP_ACTIVATE, 0, o.seconds, &r, err,
		                  sizeof err) != 0) {
			fprintf(stderr, "akm-bench-activate: %s\n", err);
			rc = 1;
			break;
		}
		double rate = (double)r.ok / r.seconds;
		double svc_us = r.ok ? (cpu_s(sv.pid) - cpu0) * 1e6 / (double)r.ok : 0;
		double node_us = r.ok ? (cpu_s(getpid()) - node_cpu0) * 1e6 / (double)r.ok : 0;
		double p50 = percentile(r.lat_ms, r.nlat, 0.50), p99 = percentile(r.lat_ms, r.nlat, 0.99);
		printf("activate concurrency=%lu ok=%zu failed=%zu seconds=%.2f per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
		       "service_cpu_us=%.0f nodes_cpu_us=%.0f ratio_to_token_limit=%.2f\n",
		       o.levels[l], r.ok, r.failed, r.seconds, rate, p50, p99, svc_us, node_us, rate / limit);
		fflush(stdout);
		if (r.failed) {
			fprintf(stderr, "akm-bench-activate: %zu failed, the first: %s; the service's log ends:\n", r.failed,
			        r.first_error);
			char cmd[PATH_MAX + 64];
			snprintf(cmd, sizeof cmd, "tail -n 5 '%s/nmmd.log' >&2", sv.dir);
			if (system(cmd) != 0)
				fprintf(stderr, "(no log)\n");
			rc = 1;
		}
		act_run_free(&r);
	}
	printf("service vm_hwm_kib=%ld\n", act_proc_kib(sv.pid, "VmHWM:"));
out:
	act_service_stop(&sv, SIGTERM);
	act_fleet_free(&fleet);
	bench_env_destroy(&env);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = 1;
	return rc;
}

/*
 * akm-bench: the same PKCS#11 operations through akm-pkcs11.so and through
 * the backend (SoftHSM2) directly, in one run, with ops/s for each and the
 * ratio akm/softhsm.
 *
 * SoftHSM2 keeps one global state per process, so the two modules are never
 * loaded in the same process: every measurement runs in a forked child that
 * dlopens its module, initialises it, finds the token by label, logs in,
 * creates the session-object keys it needs, runs the operation in a loop for
 * the time budget and sends its figure back through a pipe.  The parent
 * process never loads a PKCS#11 module.
 *
 * Noise: each round measures every operation through both targets, the order
 * of the two targets alternating from round to round.  The figure for each
 * target is the median over the rounds (--statistic best: the best round,
 * steadier on a busy machine, since other work only ever slows a round
 * down); the ratio of the other statistic is shown beside it, and the JSON
 * lines carry every round's figure.
 *
 * Exit status: 0 whatever the ratios (this is a measurement); 1 when a C_*
 * call failed or the set-up failed; 2 on a bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "bench/bench-env.h"
#include "bench/bench-ops.h"
#include "shared/p11.h"
#include "lib/rv.h"

extern char **environ;

#define BENCH_TOKEN_LABEL "akm-bench"
#define BENCH_USER_PIN "1234"
#define BENCH_SO_PIN "12345678"
#define BENCH_TARGET_RATIO 0.95
/* The clock is read once every this many operations; the cheapest operation
 * here takes a few microseconds, so the clock read costs well under 1%. */
#define BENCH_OPS_PER_CLOCK_CHECK 4
#define BENCH_MAX_THREADS 2
#define BENCH_MAX_ROUNDS 99

static double clock_seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs op->run_once for `seconds`, after a short warm-up; the clock is read
 * every BENCH_OPS_PER_CLOCK_CHECK operations. */
static int worker_timed_loop(bench_worker *worker, const bench_op *op)
{
	double warm_up_end = bench_now() + worker->seconds / 10.0;
	do {
		if (op->run_once(worker) != 0)
			return -1;
	} while (bench_now() < warm_up_end);

	if (worker->start_line)
		pthread_barrier_wait(worker->start_line);
	worker->passed_start_line = true;

	double cpu_start = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
	double start = bench_now();
	double deadline = start + worker->seconds;
	double now;
	uint64_t ops = 0;
	do {
		for (int i = 0; i < BENCH_OPS_PER_CLOCK_CHECK; i++)
			if (op->run_once(worker) != 0)
				return -1;
		ops += BENCH_OPS_PER_CLOCK_CHECK;
		now = bench_now();
	} while (now < deadline);
	worker->cpu_elapsed = clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
	worker->ops = ops;
	worker->elapsed = now - start;
	return 0;
}

typedef struct worker_thread_arg {
	bench_worker *worker;
	const bench_op *op;
} worker_thread_arg;

/* Opens the worker's session, creates its keys and runs the timed loop.
 * A worker that fails before the start line still waits there once, so the
 * other threads are not left waiting for it. */
static void *worker_thread(void *opaque)
{
	worker_thread_arg *arg = opaque;
	bench_worker *worker = arg->worker;
	CK_RV rv = worker->p11->C_OpenSession(worker->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	                                      NULL, NULL, &worker->session);
	if (rv != CKR_OK) {
		bench_worker_fail(worker, "C_OpenSession", rv);
		worker->session = CK_INVALID_HANDLE;
	} else if (arg->op->setup(worker) == 0 && worker_timed_loop(worker, arg->op) == 0) {
		return NULL;
	}
	if (worker->start_line && !worker->passed_start_line)
		pthread_barrier_wait(worker->start_line);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* One measurement, in a forked child                                      */

typedef struct measurement {
	int ok;
	double ops_per_second;     /* wall clock, all threads together */
	double ops_per_cpu_second; /* per CPU-second the measuring threads used */
	char error[320];
} measurement;

#define RECORD_CKR(result, fn, rv)                                                      \
	snprintf((result)->error, sizeof (result)->error, "%s failed: %s (0x%lx)", fn,   \
	         akm_rv_name(rv), (unsigned long)(rv))

/* Everything a child does: load, initialise, log in, measure, tear down. */
static measurement measure_in_this_process(const bench_op *op, const char *module_path, double seconds)
{
	measurement result = { 0 };
	bench_worker workers[BENCH_MAX_THREADS];
	memset(workers, 0, sizeof workers);

	/* The one loader (tools/shared/p11.h); the operations below call the
	 * module's function list directly, as any application does. */
	akm_p11 p;
	if (akm_p11_open(&p, module_path, BENCH_TOKEN_LABEL) != 0) {
		snprintf(result.error, sizeof result.error, "%.300s", p.err);
		return result;
	}
	CK_FUNCTION_LIST *p11 = p.f;
	CK_SLOT_ID slot = p.slot;
	CK_SESSION_HANDLE login_session = p.session;
	CK_RV rv;
	/* Login state is per token and application: one login covers every
	 * session the workers open. */
	if (akm_p11_login(&p, BENCH_USER_PIN, strlen(BENCH_USER_PIN)) != 0) {
		snprintf(result.error, sizeof result.error, "%.300s", p.err);
		goto close_login_session;
	}

	unsigned threads = op->threads;
	pthread_barrier_t start_line;
	bool use_barrier = threads > 1;
	if (use_barrier)
		pthread_barrier_init(&start_line, NULL, threads);
	for (unsigned t = 0; t < threads; t++) {
		bench_worker *worker = &workers[t];
		worker->p11 = p11;
		worker->slot = slot;
		worker->seconds = seconds;
		worker->start_line = use_barrier ? &start_line : NULL;
		for (size_t i = 0; i < sizeof worker->data; i++)
			worker->data[i] = (unsigned char)(i * 7 + t);
	}
	worker_thread_arg args[BENCH_MAX_THREADS];
	pthread_t thread_ids[BENCH_MAX_THREADS];
	bool started[BENCH_MAX_THREADS] = { false };
	for (unsigned t = 0; t < threads; t++) {
		args[t] = (worker_thread_arg){ .worker = &workers[t], .op = op };
		if (threads == 1) {
			worker_thread(&args[t]);
		} else if (pthread_create(&thread_ids[t], NULL, worker_thread, &args[t]) != 0) {
			/* The barrier would never fill; give up before starting more. */
			snprintf(workers[t].error, sizeof workers[t].error, "pthread_create failed");
			fprintf(stderr, "akm-bench: pthread_create failed\n");
			_exit(1);
		} else {
			started[t] = true;
		}
	}
	double total_ops_per_second = 0.0;
	double total_ops = 0.0, total_cpu_seconds = 0.0;
	for (unsigned t = 0; t < threads; t++) {
		if (started[t])
			pthread_join(thread_ids[t], NULL);
		if (workers[t].error[0] != '\0' && result.error[0] == '\0')
			snprintf(result.error, sizeof result.error, "%s", workers[t].error);
		if (workers[t].elapsed > 0)
			total_ops_per_second += (double)workers[t].ops / workers[t].elapsed;
		total_ops += (double)workers[t].ops;
		total_cpu_seconds += workers[t].cpu_elapsed;
	}
	if (use_barrier)
		pthread_barrier_destroy(&start_line);

	/* Closing a session destroys its session objects (PKCS#11 v2.40 §4.4). */
	for (unsigned t = 0; t < threads; t++) {
		if (workers[t].session == CK_INVALID_HANDLE)
			continue;
		rv = p11->C_CloseSession(workers[t].session);
		if (rv != CKR_OK && result.error[0] == '\0')
			RECORD_CKR(&result, "C_CloseSession", rv);
	}
	rv = p11->C_Logout(login_session);
	if (rv != CKR_OK && result.error[0] == '\0')
		RECORD_CKR(&result, "C_Logout", rv);
	if (result.error[0] == '\0') {
		result.ok = 1;
		result.ops_per_second = total_ops_per_second;
		result.ops_per_cpu_second = total_cpu_seconds > 0 ? total_ops / total_cpu_seconds : 0.0;
	}

close_login_session:
	/* The login session, C_Finalize; no dlclose: the child exits right
	 * away, and some modules register handlers that must not outlive
	 * their code. */
	if (akm_p11_end(&p, false) != 0 && result.error[0] == '\0') {
		snprintf(result.error, sizeof result.error, "%.300s", p.err);
		result.ok = 0;
	}
	return result;
}

typedef struct child_args {
	const bench_op *op;
	const char *module_path;
	double seconds;
} child_args;

static bool measure_child(void *out, const void *arg)
{
	const child_args *ca = arg;
	measurement *m = out;
	*m = measure_in_this_process(ca->op, ca->module_path, ca->seconds);
	return m->ok;
}

/* Forks a child that loads `module_path` and measures `op`; the parent never
 * loads a module. */
static measurement measure_in_child(const bench_op *op, const char *module_path, double seconds)
{
	measurement result;
	child_args ca = {op, module_path, seconds};
	char error[sizeof result.error];
	if (!bench_run_in_child(measure_child, &ca, &result, sizeof result, (unsigned)(seconds * 3) + 120, &bench_running_child,
	                        &bench_interrupted, error, sizeof error))
		snprintf(result.error, sizeof result.error, "%s", error);
	result.error[sizeof result.error - 1] = '\0';
	return result;
}

/* ---------------------------------------------------------------------- */
/* The throwaway token                                                     */

/* ---------------------------------------------------------------------- */
/* Command line, statistics, output                                        */

typedef struct bench_options {
	const char *module_path;
	const char *softhsm_path;
	double seconds;
	int rounds;
	bool json;
	bool use_best; /* --statistic best: the best round decides, not the median */
	const char *only;
} bench_options;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: akm-bench --module PATH --softhsm PATH [options]\n"
	        "\n"
	        "Runs the same PKCS#11 operations through akm-pkcs11.so (--module) and\n"
	        "through SoftHSM2 directly (--softhsm) on a throwaway token, and prints\n"
	        "ops/s for each and the ratio akm/softhsm (target %.2f).\n"
	        "\n"
	        "Options:\n"
	        "  --module PATH    akm-pkcs11.so\n"
	        "  --softhsm PATH   libsofthsm2.so (also the backend akm-pkcs11 is configured with)\n"
	        "  --seconds S      timed run per measurement (default 1.0)\n"
	        "  --rounds R       rounds (default 3); each round measures both targets, in\n"
	        "                   alternating order\n"
	        "  --statistic median|best\n"
	        "                   which figure over the rounds gives ops/s, the ratio and\n"
	        "                   pass/fail (default median); the other ratio is shown too.\n"
	        "                   best (the fastest round of each target) is steadier when\n"
	        "                   the machine is busy with other work\n"
	        "  --only NAME      run one operation only\n"
	        "  --list           list the operations and exit\n"
	        "  --json           one JSON object per line instead of a table\n"
	        "  --help           this text\n"
	        "\n"
	        "Each measurement runs in its own forked process (SoftHSM2 has one global\n"
	        "state per process). Exit status: 0 whatever the ratios, 1 on any error.\n",
	        BENCH_TARGET_RATIO);
}

static int parse_options(int argc, char **argv, bench_options *options)
{
	*options = (bench_options){ .seconds = 1.0, .rounds = 3 };
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes_value = true;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(arg, "--list") == 0) {
			for (size_t k = 0; k < bench_op_count; k++)
				printf("%-28s %s\n", bench_ops[k].name, bench_ops[k].what);
			exit(0);
		} else if (strcmp(arg, "--json") == 0) {
			options->json = true;
			takes_value = false;
		} else if (!value) {
			fprintf(stderr, "akm-bench: %s needs a value (or is unknown); see --help\n", arg);
			return -1;
		} else if (strcmp(arg, "--module") == 0) {
			options->module_path = value;
		} else if (strcmp(arg, "--softhsm") == 0) {
			options->softhsm_path = value;
		} else if (strcmp(arg, "--only") == 0) {
			options->only = value;
		} else if (strcmp(arg, "--statistic") == 0) {
			if (strcmp(value, "median") != 0 && strcmp(value, "best") != 0) {
				fprintf(stderr, "akm-bench: --statistic: expected median or best\n");
				return -1;
			}
			options->use_best = strcmp(value, "best") == 0;
		} else if (strcmp(arg, "--seconds") == 0) {
			if (bench_parse_seconds(value, 3600.0, &options->seconds) != 0) {
				fprintf(stderr, "akm-bench: --seconds: expected a number in (0, 3600]\n");
				return -1;
			}
		} else if (strcmp(arg, "--rounds") == 0) {
			unsigned long rounds;
			if (bench_parse_count(value, 1, BENCH_MAX_ROUNDS, &rounds) != 0) {
				fprintf(stderr, "akm-bench: --rounds: expected an integer in [1, %d]\n",
				        BENCH_MAX_ROUNDS);
				return -1;
			}
			options->rounds = (int)rounds;
		} else {
			fprintf(stderr, "akm-bench: unknown option %s; see --help\n", arg);
			return -1;
		}
		if (takes_value)
			i++;
	}
	if (!options->module_path || !options->softhsm_path) {
		fprintf(stderr, "akm-bench: --module and --softhsm are required; see --help\n");
		return -1;
	}
	if (options->only) {
		bool known = false;
		for (size_t k = 0; k < bench_op_count; k++)
			known = known || strcmp(bench_ops[k].name, options->only) == 0;
		if (!known) {
			fprintf(stderr, "akm-bench: unknown operation \"%s\"; see --list\n", options->only);
			return -1;
		}
	}
	return 0;
}

static double best(const double *values, int n)
{
	double top = 0.0;
	for (int i = 0; i < n; i++)
		if (values[i] > top)
			top = values[i];
	return top;
}

static void print_json_rounds(const char *key, const double *values, int n)
{
	printf("%s[", key);
	for (int i = 0; i < n; i++)
		printf("%s%.1f", i ? "," : "", values[i]);
	printf("]");
}

typedef struct op_result {
	const bench_op *op;
	double softhsm[BENCH_MAX_ROUNDS]; /* wall-clock ops/s per round */
	double akm[BENCH_MAX_ROUNDS];
	double softhsm_cpu[BENCH_MAX_ROUNDS]; /* ops per CPU-second per round */
	double akm_cpu[BENCH_MAX_ROUNDS];
	int rounds_done;
	char error[400];
} op_result;

int main(int argc, char **argv)
{
	bench_options options;
	if (parse_options(argc, argv, &options) != 0)
		return 2;

	bench_catch_interrupts();

	bench_env env;
	if (bench_env_create(&env, "akm-bench", "run", options.softhsm_path, BENCH_TOKEN_LABEL, BENCH_SO_PIN, BENCH_USER_PIN) != 0) {
		bench_env_destroy(&env);
		return 1;
	}

	op_result results[BENCH_MAX_OPS];
	size_t result_count = 0;
	memset(results, 0, sizeof results);
	for (size_t k = 0; k < bench_op_count; k++)
		if (!options.only || strcmp(options.only, bench_ops[k].name) == 0)
			results[result_count++].op = &bench_ops[k];

	bool progress = !options.json && isatty(STDERR_FILENO);
	/* Rounds outermost, so a burst of noise from elsewhere on the machine
	 * lands in one round of several operations, which the median discards,
	 * rather than in every round of one operation. */
	for (int round = 0; round < options.rounds && !bench_interrupted; round++) {
		for (size_t k = 0; k < result_count && !bench_interrupted; k++) {
			op_result *r = &results[k];
			if (r->error[0] != '\0')
				continue;
			/* Alternate which target goes first from round to round. */
			bool akm_first = round % 2 == 1;
			for (int leg = 0; leg < 2 && r->error[0] == '\0' && !bench_interrupted; leg++) {
				bool via_akm = akm_first == (leg == 0);
				const char *path = via_akm ? options.module_path : options.softhsm_path;
				if (progress)
					fprintf(stderr, "\rakm-bench: round %d/%d %-28s %-7s   ", round + 1,
					        options.rounds, r->op->name, via_akm ? "akm" : "softhsm");
				measurement m = measure_in_child(r->op, path, options.seconds);
				if (!m.ok) {
					snprintf(r->error, sizeof r->error, "via %s (%s): %s",
					         via_akm ? "akm" : "softhsm", path,
					         m.error[0] ? m.error : "failed");
					break;
				}
				(via_akm ? r->akm : r->softhsm)[round] = m.ops_per_second;
				(via_akm ? r->akm_cpu : r->softhsm_cpu)[round] = m.ops_per_cpu_second;
			}
			if (r->error[0] == '\0' && !bench_interrupted)
				r->rounds_done = round + 1;
		}
	}
	if (progress)
		fprintf(stderr, "\r%70s\r", "");
	bench_env_destroy(&env);
	if (bench_interrupted) {
		fprintf(stderr, "akm-bench: interrupted\n");
		return 1;
	}

	int passed = 0, missed = 0, errors = 0;
	double worst_ratio = INFINITY;
	const char *worst_op = NULL;
	const char *statistic = options.use_best ? "best" : "median";
	const char *other_statistic = options.use_best ? "median" : "best";
	if (!options.json) {
		printf("# akm-bench: %d rounds of %.2f s per target, the two targets alternating\n"
		       "# ops/s, ratio (akm/softhsm) and result: %s over the rounds; %s-ratio: for comparison\n",
		       options.rounds, options.seconds,
		       options.use_best ? "best round of each target" : "median", other_statistic);
		printf("# akm:     %s\n# softhsm: %s\n", options.module_path, options.softhsm_path);
		char other_header[32];
		snprintf(other_header, sizeof other_header, "%s-ratio", other_statistic);
		printf("%-28s %14s %14s %7s %12s %7s  %s\n", "op", "softhsm ops/s", "akm ops/s",
		       "ratio", other_header, "target", "result");
	}
	for (size_t k = 0; k < result_count; k++) {
		op_result *r = &results[k];
		if (r->error[0] != '\0') {
			errors++;
			fprintf(stderr, "akm-bench: %s: %s\n", r->op->name, r->error);
			if (options.json) {
				printf("{\"op\":");
				bench_json_string(r->op->name);
				printf(",\"error\":");
				bench_json_string(r->error);
				printf("}\n");
			} else {
				printf("%-28s %14s %14s %7s %12s %7.2f  %s\n", r->op->name, "-", "-", "-",
				       "-", BENCH_TARGET_RATIO, "ERROR");
			}
			continue;
		}
		double softhsm_median = bench_median(r->softhsm, r->rounds_done);
		double akm_median = bench_median(r->akm, r->rounds_done);
		double median_ratio = softhsm_median > 0 ? akm_median / softhsm_median : 0.0;
		/* The best round of each: the one least disturbed by the rest of
		 * the machine, which only ever slows a measurement down. */
		double softhsm_best = best(r->softhsm, r->rounds_done);
		double akm_best = best(r->akm, r->rounds_done);
		double best_ratio = softhsm_best > 0 ? akm_best / softhsm_best : 0.0;
		double softhsm = options.use_best ? softhsm_best : softhsm_median;
		double akm = options.use_best ? akm_best : akm_median;
		double ratio = options.use_best ? best_ratio : median_ratio;
		double other_ratio = options.use_best ? median_ratio : best_ratio;
		/* Per CPU-second of the measuring threads (JSON only): time the
		 * process spent descheduled by other processes does not count; nor
		 * does time asleep waiting for a lock, so the wall-clock ratio stays
		 * the figure of record.  It does not help against a busy host under
		 * a VM, whose stolen time still counts as ours. */
		double softhsm_cpu = bench_median(r->softhsm_cpu, r->rounds_done);
		double akm_cpu = bench_median(r->akm_cpu, r->rounds_done);
		double cpu_ratio = softhsm_cpu > 0 ? akm_cpu / softhsm_cpu : 0.0;
		bool pass = ratio >= BENCH_TARGET_RATIO;
		pass ? passed++ : missed++;
		if (ratio < worst_ratio) {
			worst_ratio = ratio;
			worst_op = r->op->name;
		}
		if (options.json) {
			printf("{\"op\":");
			bench_json_string(r->op->name);
			printf(",\"softhsm_ops_per_s\":%.1f,\"akm_ops_per_s\":%.1f,\"ratio\":%.4f,"
			       "\"rounds\":%d,\"seconds\":%.3f,\"threads\":%u,\"statistic\":\"%s\","
			       "\"median_ratio\":%.4f,\"best_ratio\":%.4f,"
			       "\"softhsm_ops_per_cpu_s\":%.1f,\"akm_ops_per_cpu_s\":%.1f,\"cpu_ratio\":%.4f,"
			       "\"target\":%.2f,\"pass\":%s",
			       softhsm, akm, ratio, r->rounds_done, options.seconds, r->op->threads,
			       statistic, median_ratio, best_ratio, softhsm_cpu, akm_cpu, cpu_ratio,
			       BENCH_TARGET_RATIO, pass ? "true" : "false");
			print_json_rounds(",\"softhsm_rounds\":", r->softhsm, r->rounds_done);
			print_json_rounds(",\"akm_rounds\":", r->akm, r->rounds_done);
			printf("}\n");
		} else {
			printf("%-28s %14.1f %14.1f %7.3f %12.3f %7.2f  %s\n", r->op->name, softhsm, akm,
			       ratio, other_ratio, BENCH_TARGET_RATIO, pass ? "pass" : "FAIL");
		}
	}
	if (options.json) {
		printf("{\"summary\":true,\"ops\":%zu,\"passed\":%d,\"below_target\":%d,\"errors\":%d,"
		       "\"target\":%.2f,\"statistic\":\"%s\",\"worst_op\":",
		       result_count, passed, missed, errors, BENCH_TARGET_RATIO, statistic);
		if (worst_op)
			bench_json_string(worst_op);
		else
			printf("null");
		printf(",\"worst_ratio\":");
		if (worst_op)
			printf("%.4f", worst_ratio);
		else
			printf("null");
		printf("}\n");
	} else {
		printf("summary: %d of %zu ops at or above %.2f, %d below, %d errors", passed,
		       result_count, BENCH_TARGET_RATIO, missed, errors);
		if (worst_op)
			printf("; lowest ratio %.3f (%s)", worst_ratio, worst_op);
		printf("\n");
	}
	return errors ? 1 : 0;
}

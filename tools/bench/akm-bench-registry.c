/*
 * akm-bench-registry: akm-pkcs11 relationships at scale, compared with
 * SoftHSM2 directly in the same run (issue 3, item 5; docs/performance.md).
 *
 * For each size N (--sizes), in a fresh throwaway SoftHSM2 token and a fresh
 * registry of its own:
 *   1. creation: N provisioning relationships through
 *      CKM_AKM_RELATIONSHIP_BATCH_GEN in batches of --batch, then 1,000 more
 *      one call each through CKM_AKM_RELATIONSHIP_GEN;
 *   2. cold start: dlopen + C_Initialize + finding the slot by label +
 *      C_OpenSession + C_Login in a fresh process, median of 5;
 *   3. find-by-ID: C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal on a
 *      random existing CKA_AKM_RELATIONSHIP_ID, which must give 2 objects
 *      (the relationship's encryption and MAC keys);
 *   4. AES-256-GCM encrypt of 1 KiB with one relationship's encryption key,
 *      and the same operation on a plain AES-256 session key in SoftHSM2
 *      directly, with the ratio;
 *   5. VmRSS of the process that ran 3 and 4;
 *   6. the size of the registry file (and its WAL) on disk.
 * Then, once, SoftHSM2 alone with --softhsm-objects token AES keys: its cold
 * start and its find-by-CKA_ID rate, the figures the issue compares with.
 *
 * IDs (--ids): by default every relationship ID and peer node ID is 16
 * random-looking bytes, shaped like the ones akm-nmm draws, so the registry's
 * indexes on them see scattered inserts as a station's do; --ids sequential
 * gives the ascending text IDs of earlier versions, a best case kept only as
 * a labelled comparison (issue 14).
 *
 * Every measurement runs in a forked child that dlopens its module, so a
 * cold start is a real one and SoftHSM2 (one global state per process) and
 * akm-pkcs11 never share a process; the parent never loads a module.  Steps
 * 3–4 run --rounds times, akm and SoftHSM2 alternating which goes first; the
 * figures of record are the medians.
 *
 * "Cold" means a new process; the operating system's page cache still holds
 * the registry and the libraries (this tool cannot drop it without root).
 *
 * Exit status: 0 whatever the targets say (this is a measurement); 1 when a
 * C_* call or the set-up failed; 2 on a bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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
#include "bench/registry-jobs.h"

#include "akm/pkcs11-akm.h"

extern char **environ;

#define RB_COLD_RUNS 5
#define RB_SOFTHSM_COLD_RUNS 3
#define RB_MAX_SIZES 16
#define RB_MAX_ROUNDS 15

/* The targets. */
#define RB_TARGET_FIND_PER_S 50000.0
#define RB_TARGET_COLD_MS 20.0
#define RB_TARGET_CREATE_PER_S 5000.0
#define RB_TARGET_GCM_RATIO 0.9
/* "Flat in N": from the smallest to the largest N, resident memory may grow
 * by this fraction of the smallest figure, plus a fixed allowance for
 * SQLite's page cache (bounded: 16 MiB per connection, store/sqlite/sqlite.c),
 * which a small registry does not fill and a large one does.  Anything that
 * grew with the number of relationships would pass this only below ~18
 * bytes per relationship at 1,000,000. */
#define RB_RSS_FLAT_FRACTION 0.10
#define RB_RSS_FLAT_ALLOWANCE_MB 17.0

/* ---------------------------------------------------------------------- */
/* Throwaway folders: a SoftHSM2 token and an akm-pkcs11 configuration      */


static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

typedef struct rb_options {
	const char *module_path;
	const char *softhsm_path;
	unsigned long sizes[RB_MAX_SIZES];
	int size_count;
	unsigned long batch;
	double seconds;
	int rounds;
	unsigned long softhsm_objects;
	bool json;
	bool sequential_ids;
} rb_options;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: akm-bench-registry --module PATH --softhsm PATH [options]\n"
	        "\n"
	        "Measures akm-pkcs11 relationships at scale (creation, cold start, find-by-ID,\n"
	        "AES-GCM with a relationship key, memory, registry size) for several numbers of\n"
	        "relationships, each in a fresh throwaway token and registry, and compares with\n"
	        "SoftHSM2 directly in the same run; prints the issue's targets with pass/fail.\n"
	        "\n"
	        "Options:\n"
	        "  --module PATH          akm-pkcs11.so\n"
	        "  --softhsm PATH         libsofthsm2.so (also akm-pkcs11's backend)\n"
	        "  --sizes N,N,...        numbers of relationships (default 1000,100000,1000000)\n"
	        "  --batch B              relationships per CKM_AKM_RELATIONSHIP_BATCH_GEN call\n"
	        "                         (default 1000, at most %lu)\n"
	        "  --seconds S            timed run per operation (default 2)\n"
	        "  --rounds R             rounds of find-by-ID and AES-GCM (default 3), akm and\n"
	        "                         SoftHSM2 alternating; the figures are the medians\n"
	        "  --softhsm-objects K    token keys in the SoftHSM2 comparison token\n"
	        "                         (default 10000; 0 skips the comparison)\n"
	        "  --ids random|sequential  relationship and node IDs: 16 random-looking bytes\n"
	        "                         each, as akm-nmm makes them (default), or ascending\n"
	        "                         text \"akm-rel-0000000001\" (the best case: every insert\n"
	        "                         at the end of its index; a labelled comparison only)\n"
	        "  --json                 one JSON object per line instead of a table\n"
	        "  --help                 this text\n"
	        "\n"
	        "Every measurement runs in its own forked process that loads its module.\n"
	        "Exit status: 0 whatever the targets say, 1 on any error, 2 on a bad command line.\n",
	        (unsigned long)AKM_BATCH_MAX);
}

static int parse_sizes(const char *text, rb_options *options)
{
	char copy[512];
	if (strlen(text) >= sizeof copy)
		return -1;
	snprintf(copy, sizeof copy, "%s", text);
	options->size_count = 0;
	char *saveptr = NULL;
	for (char *item = strtok_r(copy, ",", &saveptr); item; item = strtok_r(NULL, ",", &saveptr)) {
		if (options->size_count == RB_MAX_SIZES ||
		    bench_parse_count(item, 1, 100000000UL, &options->sizes[options->size_count]) != 0)
			return -1;
		options->size_count++;
	}
	return options->size_count > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, rb_options *options)
{
	*options = (rb_options){
		.sizes = { 1000, 100000, 1000000 }, .size_count = 3, .batch = 1000,
		.seconds = 2.0, .rounds = 3, .softhsm_objects = 10000,
	};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes_value = true;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(arg, "--json") == 0) {
			options->json = true;
			takes_value = false;
		} else if (!value) {
			fprintf(stderr, "akm-bench-registry: %s needs a value (or is unknown); see --help\n", arg);
			return -1;
		} else if (strcmp(arg, "--module") == 0) {
			options->module_path = value;
		} else if (strcmp(arg, "--softhsm") == 0) {
			options->softhsm_path = value;
		} else if (strcmp(arg, "--sizes") == 0) {
			if (parse_sizes(value, options) != 0) {
				fprintf(stderr, "akm-bench-registry: --sizes: expected up to %d comma-separated "
				        "counts in [1, 100000000]\n", RB_MAX_SIZES);
				return -1;
			}
		} else if (strcmp(arg, "--batch") == 0) {
			if (bench_parse_count(value, 1, AKM_BATCH_MAX, &options->batch) != 0) {
				fprintf(stderr, "akm-bench-registry: --batch: expected a count in [1, %lu]\n",
				        (unsigned long)AKM_BATCH_MAX);
				return -1;
			}
		} else if (strcmp(arg, "--ids") == 0) {
			if (strcmp(value, "random") != 0 && strcmp(value, "sequential") != 0) {
				fprintf(stderr, "akm-bench-registry: --ids: expected random or sequential\n");
				return -1;
			}
			options->sequential_ids = strcmp(value, "sequential") == 0;
		} else if (strcmp(arg, "--softhsm-objects") == 0) {
			if (bench_parse_count(value, 0, 1000000UL, &options->softhsm_objects) != 0) {
				fprintf(stderr, "akm-bench-registry: --softhsm-objects: expected a count in [0, 1000000]\n");
				return -1;
			}
		} else if (strcmp(arg, "--rounds") == 0) {
			unsigned long rounds;
			if (bench_parse_count(value, 1, RB_MAX_ROUNDS, &rounds) != 0) {
				fprintf(stderr, "akm-bench-registry: --rounds: expected a count in [1, %d]\n",
				        RB_MAX_ROUNDS);
				return -1;
			}
			options->rounds = (int)rounds;
		} else if (strcmp(arg, "--seconds") == 0) {
			if (bench_parse_seconds(value, 3600.0, &options->seconds) != 0) {
				fprintf(stderr, "akm-bench-registry: --seconds: expected a number in (0, 3600]\n");
				return -1;
			}
		} else {
			fprintf(stderr, "akm-bench-registry: unknown option %s; see --help\n", arg);
			return -1;
		}
		if (takes_value)
			i++;
	}
	if (!options->module_path || !options->softhsm_path) {
		fprintf(stderr, "akm-bench-registry: --module and --softhsm are required; see --help\n");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Statistics and output                                                   */

static void print_json_list(const char *key, const double *values, int n, int decimals)
{
	printf(",\"%s\":[", key);
	for (int i = 0; i < n; i++)
		printf("%s%.*f", i ? "," : "", decimals, values[i]);
	printf("]");
}

/* The medians of the cold start's parts (they need not add up to the
 * median of the whole). */
static void print_json_phases(const double *phase_ms)
{
	printf(",\"cold_start_phases_ms\":{\"dlopen\":%.2f,\"C_Initialize\":%.2f,\"find_slot\":%.2f,"
	       "\"C_OpenSession\":%.2f,\"C_Login\":%.2f}",
	       phase_ms[0], phase_ms[1], phase_ms[2], phase_ms[3], phase_ms[4]);
}

typedef struct size_result {
	unsigned long n;
	bool ok;
	char error[400];
	double batch_per_s, batch_seconds, batch_tail_per_s, single_per_s;
	double create_rss_mb;
	double cold_ms_runs[RB_COLD_RUNS];
	double cold_phase_runs[5][RB_COLD_RUNS];
	double cold_ms, cold_phase_ms[5];
	double find_rounds[RB_MAX_ROUNDS];
	double gcm_akm_rounds[RB_MAX_ROUNDS];
	double gcm_softhsm_rounds[RB_MAX_ROUNDS];
	double rss_rounds[RB_MAX_ROUNDS];
	double hwm_rounds[RB_MAX_ROUNDS];
	int rounds_done;
	double finds_per_s, gcm_akm, gcm_softhsm, gcm_ratio, rss_mb, hwm_mb;
	long long registry_bytes, wal_bytes;
} size_result;

typedef struct softhsm_result {
	bool ran, ok;
	char error[400];
	unsigned long objects;
	double create_per_s, create_seconds;
	double cold_ms_runs[RB_SOFTHSM_COLD_RUNS];
	double cold_phase_runs[5][RB_SOFTHSM_COLD_RUNS];
	double cold_ms, cold_phase_ms[5];
	double finds_per_s;
	uint64_t finds;
} softhsm_result;

static figures run_reported(const job *jb, const char *step, char *error, size_t error_size)
{
	figures f = rb_run_in_child(jb);
	if (!f.ok && error[0] == '\0')
		snprintf(error, error_size, "%s: %s", step, f.error[0] ? f.error : "failed");
	return f;
}

/* Steps 1–6 for one size, in a folder of its own. */
static void measure_size(const rb_options *o, unsigned long n, size_result *r)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	char tag[32];
	snprintf(tag, sizeof tag, "%lu", n);
	bench_env env;
	if (bench_env_create(&env, "akm-bench-registry", tag, o->softhsm_path, RB_TOKEN_LABEL, RB_SO_PIN, RB_USER_PIN) != 0) {
		snprintf(r->error, sizeof r->error, "setting up the token failed");
		bench_env_destroy(&env);
		return;
	}
	char what[64];
	snprintf(what, sizeof what, "N=%lu", n);

	fprintf(stderr, "akm-bench-registry: %s: creating relationships in batches of %lu\n", what, o->batch);
	job create = { .kind = JOB_CREATE, .module_path = o->module_path, .n = n, .batch = o->batch,
	               .sequential_ids = o->sequential_ids,
	               .seconds = o->seconds, .what = what };
	figures f = run_reported(&create, "creation", r->error, sizeof r->error);
	if (!f.ok)
		goto done;
	r->batch_per_s = f.batch_per_s;
	r->batch_seconds = f.batch_seconds;
	r->batch_tail_per_s = f.batch_tail_per_s;
	r->single_per_s = f.single_per_s;
	r->create_rss_mb = f.rss_mb;

	fprintf(stderr, "akm-bench-registry: %s: cold starts\n", what);
	for (int i = 0; i < RB_COLD_RUNS && !bench_interrupted; i++) {
		job cold = { .kind = JOB_COLD_START, .module_path = o->module_path, .seconds = o->seconds };
		f = run_reported(&cold, "cold start", r->error, sizeof r->error);
		if (!f.ok)
			goto done;
		r->cold_ms_runs[i] = f.cold_ms;
		for (int p = 0; p < 5; p++)
			r->cold_phase_runs[p][i] = f.cold_phase_ms[p];
	}
	r->cold_ms = bench_median(r->cold_ms_runs, RB_COLD_RUNS);
	for (int p = 0; p < 5; p++)
		r->cold_phase_ms[p] = bench_median(r->cold_phase_runs[p], RB_COLD_RUNS);

	for (int round = 0; round < o->rounds && !bench_interrupted; round++) {
		fprintf(stderr, "akm-bench-registry: %s: find-by-ID and AES-GCM, round %d of %d\n", what,
		        round + 1, o->rounds);
		/* Alternate which target goes first from round to round. */
		bool akm_first = round % 2 == 0;
		for (int leg = 0; leg < 2; leg++) {
			if (akm_first == (leg == 0)) {
				job use = { .kind = JOB_AKM_USE, .module_path = o->module_path, .n = n,
				            .sequential_ids = o->sequential_ids,
				            .seconds = o->seconds, .seed = 0x9E3779B97F4A7C15ULL + (uint64_t)round };
				f = run_reported(&use, "find-by-ID / AES-GCM via akm", r->error, sizeof r->error);
				if (!f.ok)
					goto done;
				r->find_rounds[round] = f.finds_per_s;
				r->gcm_akm_rounds[round] = f.gcm_per_s;
				r->rss_rounds[round] = f.rss_mb;
				r->hwm_rounds[round] = f.hwm_mb;
			} else {
				job gcm = { .kind = JOB_SOFTHSM_GCM, .module_path = o->softhsm_path,
				            .seconds = o->seconds };
				f = run_reported(&gcm, "AES-GCM via SoftHSM2", r->error, sizeof r->error);
				if (!f.ok)
					goto done;
				r->gcm_softhsm_rounds[round] = f.gcm_per_s;
			}
		}
		r->rounds_done = round + 1;
	}
	if (bench_interrupted)
		goto done;
	r->finds_per_s = bench_median(r->find_rounds, r->rounds_done);
	r->gcm_akm = bench_median(r->gcm_akm_rounds, r->rounds_done);
	r->gcm_softhsm = bench_median(r->gcm_softhsm_rounds, r->rounds_done);
	r->gcm_ratio = r->gcm_softhsm > 0 ? r->gcm_akm / r->gcm_softhsm : 0.0;
	r->rss_mb = bench_median(r->rss_rounds, r->rounds_done);
	r->hwm_mb = bench_median(r->hwm_rounds, r->rounds_done);

	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", env.registry);
	r->registry_bytes = file_size(env.registry);
	r->wal_bytes = file_size(wal);
	r->ok = true;
done:
	bench_env_destroy(&env);
}

static void measure_softhsm(const rb_options *o, softhsm_result *s)
{
	memset(s, 0, sizeof *s);
	s->ran = true;
	s->objects = o->softhsm_objects;
	bench_env env;
	if (bench_env_create(&env, "akm-bench-registry", "softhsm", o->softhsm_path, RB_TOKEN_LABEL, RB_SO_PIN, RB_USER_PIN) != 0) {
		snprintf(s->error, sizeof s->error, "setting up the token failed");
		bench_env_destroy(&env);
		return;
	}
	char what[64];
	snprintf(what, sizeof what, "SoftHSM2 with %lu token keys", s->objects);
	fprintf(stderr, "akm-bench-registry: %s: creating them (slow)\n", what);
	job populate = { .kind = JOB_SOFTHSM_POPULATE, .module_path = o->softhsm_path,
	                 .n = s->objects, .seconds = o->seconds, .what = what };
	figures f = run_reported(&populate, "SoftHSM2 token keys", s->error, sizeof s->error);
	if (!f.ok)
		goto done;
	s->create_per_s = f.batch_per_s;
	s->create_seconds = f.batch_seconds;
	fprintf(stderr, "akm-bench-registry: %s: cold starts\n", what);
	for (int i = 0; i < RB_SOFTHSM_COLD_RUNS && !bench_interrupted; i++) {
		job cold = { .kind = JOB_COLD_START, .module_path = o->softhsm_path, .seconds = o->seconds };
		f = run_reported(&cold, "SoftHSM2 cold start", s->error, sizeof s->error);
		if (!f.ok)
			goto done;
		s->cold_ms_runs[i] = f.cold_ms;
		for (int p = 0; p < 5; p++)
			s->cold_phase_runs[p][i] = f.cold_phase_ms[p];
	}
	s->cold_ms = bench_median(s->cold_ms_runs, RB_SOFTHSM_COLD_RUNS);
	for (int p = 0; p < 5; p++)
		s->cold_phase_ms[p] = bench_median(s->cold_phase_runs[p], RB_SOFTHSM_COLD_RUNS);
	if (bench_interrupted)
		goto done;
	fprintf(stderr, "akm-bench-registry: %s: find-by-CKA_ID\n", what);
	job find = { .kind = JOB_SOFTHSM_FIND, .module_path = o->softhsm_path, .n = s->objects,
	             .seconds = o->seconds, .seed = 0x9E3779B97F4A7C15ULL };
	f = run_reported(&find, "SoftHSM2 find-by-CKA_ID", s->error, sizeof s->error);
	if (!f.ok)
		goto done;
	s->finds_per_s = f.finds_per_s;
	s->finds = f.finds;
	s->ok = true;
done:
	bench_env_destroy(&env);
}

typedef struct target_line {
	const char *name;
	const char *what;
	double value;
	double threshold;
	bool at_least; /* value >= threshold passes, else value <= threshold */
	bool measured;
	bool pass;
	char detail[160];
} target_line;

static void judge(target_line *t)
{
	t->pass = t->measured && (t->at_least ? t->value >= t->threshold : t->value <= t->threshold);
}

int main(int argc, char **argv)
{
	rb_options options;
	if (parse_options(argc, argv, &options) != 0)
		return 2;

	bench_catch_interrupts();

	size_result *results = calloc((size_t)options.size_count, sizeof *results);
	if (!results) {
		fprintf(stderr, "akm-bench-registry: out of memory\n");
		return 1;
	}
	int errors = 0;
	for (int k = 0; k < options.size_count && !bench_interrupted; k++) {
		measure_size(&options, options.sizes[k], &results[k]);
		if (!results[k].ok && !bench_interrupted) {
			errors++;
			fprintf(stderr, "akm-bench-registry: N=%lu: %s\n", results[k].n, results[k].error);
		}
	}
	softhsm_result softhsm = { 0 };
	if (options.softhsm_objects > 0 && !bench_interrupted) {
		measure_softhsm(&options, &softhsm);
		if (!softhsm.ok && !bench_interrupted) {
			errors++;
			fprintf(stderr, "akm-bench-registry: SoftHSM2 comparison: %s\n", softhsm.error);
		}
	}
	if (bench_interrupted) {
		fprintf(stderr, "akm-bench-registry: interrupted\n");
		return 1;
	}

	/* The targets, judged on the largest N measured where the issue says
	 * "at 1,000,000", and on every N otherwise. */
	const size_result *largest = NULL, *smallest = NULL;
	for (int k = 0; k < options.size_count; k++) {
		const size_result *r = &results[k];
		if (!r->ok)
			continue;
		if (!largest || r->n > largest->n)
			largest = r;
		if (!smallest || r->n < smallest->n)
			smallest = r;
	}
	target_line targets[5] = {
		{ .name = "find_by_id", .what = "find-by-ID/s at the largest N",
		  .threshold = RB_TARGET_FIND_PER_S, .at_least = true },
		{ .name = "cold_start", .what = "cold start ms at the largest N",
		  .threshold = RB_TARGET_COLD_MS, .at_least = false },
		{ .name = "creation", .what = "batch creation/s, lowest over N",
		  .threshold = RB_TARGET_CREATE_PER_S, .at_least = true },
		{ .name = "aes_gcm_ratio", .what = "AES-GCM akm/SoftHSM2, lowest over N",
		  .threshold = RB_TARGET_GCM_RATIO, .at_least = true },
		{ .name = "memory_flat", .what = "RSS growth MB, smallest to largest N",
		  .threshold = 0, .at_least = false },
	};
	const size_result *lowest_create = NULL, *lowest_ratio = NULL;
	for (int k = 0; k < options.size_count; k++) {
		const size_result *r = &results[k];
		if (!r->ok)
			continue;
		if (!lowest_create || r->batch_per_s < lowest_create->batch_per_s)
			lowest_create = r;
		if (!lowest_ratio || r->gcm_ratio < lowest_ratio->gcm_ratio)
			lowest_ratio = r;
	}
	if (largest) {
		const char *note = largest->n < 1000000 ? " (the issue says at 1000000)" : "";
		targets[0].value = largest->finds_per_s;
		targets[0].measured = true;
		snprintf(targets[0].detail, sizeof targets[0].detail, "N=%lu%s", largest->n, note);
		targets[1].value = largest->cold_ms;
		targets[1].measured = true;
		snprintf(targets[1].detail, sizeof targets[1].detail, "N=%lu%s", largest->n, note);
		targets[2].value = lowest_create->batch_per_s;
		targets[2].measured = true;
		snprintf(targets[2].detail, sizeof targets[2].detail, "N=%lu, batches of %lu",
		         lowest_create->n, options.batch);
		targets[3].value = lowest_ratio->gcm_ratio;
		targets[3].measured = true;
		snprintf(targets[3].detail, sizeof targets[3].detail, "N=%lu", lowest_ratio->n);
		targets[4].value = largest->rss_mb - smallest->rss_mb;
		targets[4].threshold = RB_RSS_FLAT_FRACTION * smallest->rss_mb + RB_RSS_FLAT_ALLOWANCE_MB;
		targets[4].measured = largest != smallest;
		snprintf(targets[4].detail, sizeof targets[4].detail,
		         "%.1f MB at N=%lu, %.1f MB at N=%lu; allowed %.0f%% + %.0f MB", smallest->rss_mb,
		         smallest->n, largest->rss_mb, largest->n, 100.0 * RB_RSS_FLAT_FRACTION,
		         RB_RSS_FLAT_ALLOWANCE_MB);
		if (!targets[4].measured)
			snprintf(targets[4].detail, sizeof targets[4].detail, "needs two sizes");
	}
	size_t target_count = sizeof targets / sizeof targets[0];
	for (size_t i = 0; i < target_count; i++)
		judge(&targets[i]);

	if (options.json) {
		for (int k = 0; k < options.size_count; k++) {
			const size_result *r = &results[k];
			printf("{\"n\":%lu,\"ids\":\"%s\"", r->n, options.sequential_ids ? "sequential" : "random");
			if (!r->ok) {
				printf(",\"error\":");
				bench_json_string(r->error);
				printf("}\n");
				continue;
			}
			printf(",\"batch\":%lu,\"batch_create_per_s\":%.1f,\"batch_create_seconds\":%.2f,"
			       "\"batch_create_last_tenth_per_s\":%.1f,\"single_create_per_s\":%.1f,\"single_creations\":%d,\"create_rss_mb\":%.1f,"
			       "\"cold_start_ms\":%.2f",
			       options.batch, r->batch_per_s, r->batch_seconds, r->batch_tail_per_s, r->single_per_s,
			       RB_SINGLE_CREATIONS, r->create_rss_mb, r->cold_ms);
			print_json_list("cold_start_ms_runs", r->cold_ms_runs, RB_COLD_RUNS, 2);
			print_json_phases(r->cold_phase_ms);
			printf(",\"rounds\":%d,\"seconds\":%.3f,\"statistic\":\"median\","
			       "\"find_by_id_per_s\":%.1f,\"aes_gcm_akm_per_s\":%.1f,"
			       "\"aes_gcm_softhsm_per_s\":%.1f,\"aes_gcm_ratio\":%.4f,\"rss_mb\":%.2f,"
			       "\"hwm_mb\":%.2f,\"registry_bytes\":%lld,\"wal_bytes\":%lld,"
			       "\"registry_bytes_per_relationship\":%.1f",
			       r->rounds_done, options.seconds, r->finds_per_s, r->gcm_akm, r->gcm_softhsm,
			       r->gcm_ratio, r->rss_mb, r->hwm_mb, r->registry_bytes, r->wal_bytes,
			       (double)(r->registry_bytes + r->wal_bytes) / (double)(r->n + RB_SINGLE_CREATIONS));
			print_json_list("find_by_id_rounds", r->find_rounds, r->rounds_done, 1);
			print_json_list("aes_gcm_akm_rounds", r->gcm_akm_rounds, r->rounds_done, 1);
			print_json_list("aes_gcm_softhsm_rounds", r->gcm_softhsm_rounds, r->rounds_done, 1);
			print_json_list("rss_mb_rounds", r->rss_rounds, r->rounds_done, 2);
			printf("}\n");
		}
		if (softhsm.ran) {
			printf("{\"softhsm_comparison\":true,\"token_objects\":%lu", softhsm.objects);
			if (!softhsm.ok) {
				printf(",\"error\":");
				bench_json_string(softhsm.error);
			} else {
				printf(",\"create_per_s\":%.1f,\"create_seconds\":%.1f,\"cold_start_ms\":%.2f",
				       softhsm.create_per_s, softhsm.create_seconds, softhsm.cold_ms);
				print_json_list("cold_start_ms_runs", softhsm.cold_ms_runs, RB_SOFTHSM_COLD_RUNS, 2);
				print_json_phases(softhsm.cold_phase_ms);
				printf(",\"find_by_cka_id_per_s\":%.2f,\"finds\":%llu", softhsm.finds_per_s,
				       (unsigned long long)softhsm.finds);
			}
			printf("}\n");
		}
		for (size_t i = 0; i < target_count; i++) {
			const target_line *t = &targets[i];
			printf("{\"target\":\"%s\",\"what\":", t->name);
			bench_json_string(t->what);
			if (t->measured)
				printf(",\"value\":%.4f", t->value);
			else
				printf(",\"value\":null");
			printf(",\"%s\":%.4f,\"pass\":%s,\"detail\":", t->at_least ? "min" : "max",
			       t->threshold, t->pass ? "true" : "false");
			bench_json_string(t->detail);
			printf("}\n");
		}
	} else {
		printf("# akm-bench-registry: %s IDs, batches of %lu, %d rounds of %.2f s per timed op (medians),"
		       " cold start median of %d\n",
		       options.sequential_ids ? "sequential" : "random", options.batch, options.rounds, options.seconds,
		       RB_COLD_RUNS);
		printf("# akm:     %s\n# softhsm: %s\n", options.module_path, options.softhsm_path);
		printf("%10s %10s %10s %8s %10s %10s %10s %6s %7s %10s\n", "N", "create/s", "single/s",
		       "cold ms", "find/s", "gcm akm/s", "gcm shsm/s", "ratio", "RSS MB", "registry MB");
		for (int k = 0; k < options.size_count; k++) {
			const size_result *r = &results[k];
			if (!r->ok) {
				printf("%10lu ERROR: %s\n", r->n, r->error);
				continue;
			}
			printf("%10lu %10.0f %10.0f %8.2f %10.0f %10.0f %10.0f %6.3f %7.1f %10.1f\n", r->n,
			       r->batch_per_s, r->single_per_s, r->cold_ms, r->finds_per_s, r->gcm_akm,
			       r->gcm_softhsm, r->gcm_ratio, r->rss_mb,
			       (double)(r->registry_bytes + r->wal_bytes) / (1024.0 * 1024.0));
		}
		if (softhsm.ran) {
			if (softhsm.ok)
				printf("SoftHSM2 directly, %lu token AES keys: created %.0f/s, cold start %.1f ms,"
				       " find-by-CKA_ID %.2f/s (%llu finds)\n",
				       softhsm.objects, softhsm.create_per_s, softhsm.cold_ms, softhsm.finds_per_s,
				       (unsigned long long)softhsm.finds);
			else
				printf("SoftHSM2 directly, %lu token AES keys: ERROR: %s\n", softhsm.objects,
				       softhsm.error);
		}
		printf("targets:\n");
		for (size_t i = 0; i < target_count; i++) {
			const target_line *t = &targets[i];
			if (t->measured)
				printf("  %-40s %12.3f %s %-10.3f %-5s %s\n", t->what, t->value,
				       t->at_least ? ">=" : "<=", t->threshold, t->pass ? "pass" : "FAIL",
				       t->detail);
			else
				printf("  %-40s %12s %s %-10.3f %-5s %s\n", t->what, "-", t->at_least ? ">=" : "<=",
				       t->threshold, "n/a", t->detail);
		}
	}
	free(results);
	return errors ? 1 : 0;
}

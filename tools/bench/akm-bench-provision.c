/*
 * akm-bench-provision: the provisioning station's throughput (issue 4,
 * item 5; docs/performance.md), with SoftHSM2 alone in the same run.
 *
 *   (a) PRs created per second in a batch of --count (default 10,000):
 *       the real `akm-nmm provision --count N` run as a child process and
 *       timed from its start to its exit (process start, module load,
 *       login and the output included), on a fresh station token;
 *   (b) bundles exported per second by `akm-nmm export --nodes ...`
 *       (a child process, timed the same way) for --export-count nodes,
 *       node-key protection and passphrase protection separately.  The
 *       passphrase run states its Argon2id cost (ops, memory), and the one
 *       derivation a batch costs is timed on its own (in this process, the
 *       tools' akm_pass_master, same cost), next to what one derivation per
 *       bundle would cost and to how many derivations the export's time
 *       leaves room for;
 *   (c) SoftHSM2 directly, in a forked child: the same number of PRs, each
 *       stored as two token secret keys (C_GenerateKey of an AES-256 key and
 *       a 256-bit CKK_GENERIC_SECRET, both token objects), per second, and
 *       the ratio akm / SoftHSM2.  SoftHSM2's file store slows down as
 *       objects accumulate: the run stops after --seconds and reports how
 *       many PRs it made (the rate over those flatters SoftHSM2).
 *
 * Also measured: a do-nothing akm-nmm command (list --pending), the fixed
 * cost of one command that (a) and (b) include.
 *
 * --station N,N,... measures instead a station at each size (issue 14,
 * docs/performance.md "A station of a million nodes"), each on a fresh
 * token, side by side with SoftHSM2 in the same run:
 *   - `akm-nmm provision --count N` (a child process): µs per PR, bytes it
 *     wrote to storage per PR (the child's ru_oublock from wait4, which
 *     Linux counts as write_bytes / 512) and its peak RSS (ru_maxrss);
 *   - `akm-nmm list` and `akm-nmm list --json` at N: seconds, peak RSS;
 *   - `pkcs11-tool -O` (logged in) over the station token: µs per object
 *     listed (skipped when pkcs11-tool is not installed);
 *   - SoftHSM2 directly: the same PRs as two token keys each for at most
 *     --seconds (its file store slows as objects accumulate), µs per PR,
 *     bytes written per PR, peak RSS, and `pkcs11-tool -O` over what it
 *     made.
 * The node IDs and PR IDs are akm-nmm's own: 16 random bytes each.
 *
 * Output: one line per measurement, "name key=value ...", on stdout;
 * progress on stderr.  Exit status: 0 whatever the figures say, 1 when a
 * step failed, 2 on a bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/bench-env.h"
#include "shared/p11.h"
#include "shared/secret.h"

#include "akm/pkcs11-akm.h"

extern char **environ;

#define BP_TOKEN_LABEL "akm-pbench"
#define BP_USER_PIN "1234"
#define BP_SO_PIN "12345678"
#define BP_TARGET_PRS_PER_S 2000.0
#define BP_PASSPHRASE "bench-passphrase-not-a-secret"

typedef struct bp_options {
	const char *module_path, *softhsm_path, *nmm_path;
	unsigned long count, export_count;
	double seconds;
	unsigned long argon2_ops, argon2_mem_kib;
	unsigned long station[8];
	int station_count;
} bp_options;




/* ---------------------------------------------------------------------- */
/* akm-nmm as a child process                                               */

static void print_tail(const char *path)
{
	FILE *file = fopen(path, "r");
	if (!file)
		return;
	char text[2048];
	if (fseek(file, -(long)(sizeof text - 1), SEEK_END) != 0)
		rewind(file);
	size_t n = fread(text, 1, sizeof text - 1, file);
	text[n] = '\0';
	fclose(file);
	fprintf(stderr, "%s", text);
}

/* What a child process cost: wall time, peak RSS, bytes written. */
typedef struct child_cost {
	double seconds;
	double peak_rss_mb;   /* ru_maxrss */
	double written_bytes; /* ru_oublock * 512: Linux counts write_bytes / 512 */
} child_cost;

/* Runs argv (argv[0] a path, or a name looked up in PATH when `search`),
 * stdin from /dev/null, stdout to `log` and stderr there too or, when
 * `errlog` is not NULL, to errlog; 0 with *cost, or -1 (with its output on
 * stderr) when it could not run or did not exit 0. */
static int run_child(const char *const *argv, bool search, const char *log, const char *errlog, child_cost *cost)
{
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (errlog != NULL)
		posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	else
		posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
	pid_t pid;
	double start = bench_now();
	int spawn_error = (search ? posix_spawnp : posix_spawn)(&pid, argv[0], &actions, NULL, (char *const *)argv,
	                                                       environ);
	posix_spawn_file_actions_destroy(&actions);
	if (spawn_error != 0) {
		fprintf(stderr, "akm-bench-provision: cannot run %s: %s\n", argv[0], strerror(spawn_error));
		return -1;
	}
	bench_running_child = pid;
	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	bench_running_child = 0;
	cost->seconds = bench_now() - start;
	cost->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
	cost->written_bytes = (double)ru.ru_oublock * 512.0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "akm-bench-provision: %s %s failed (status 0x%x):\n", argv[0], argv[1] ? argv[1] : "",
		        status);
		print_tail(errlog != NULL ? errlog : log);
		return -1;
	}
	return 0;
}

/* Runs akm-nmm SUB --module --token --pin-file ARGS..., output to `log`;
 * returns its wall time in seconds, or -1 (with its output on stderr);
 * *cost (when not NULL) gets what it cost. */
static double run_nmm_cost(const bp_options *o, const char *pin_file, const char *log, const char *const *args,
                           child_cost *cost)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = o->nmm_path;
	argv[n++] = args[0];
	argv[n++] = "--module";
	argv[n++] = o->module_path;
	argv[n++] = "--token";
	argv[n++] = BP_TOKEN_LABEL;
	argv[n++] = "--pin-file";
	argv[n++] = pin_file;
	for (size_t i = 1; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	child_cost own;
	if (cost == NULL)
		cost = &own;
	return run_child(argv, false, log, NULL, cost) == 0 ? cost->seconds : -1;
}

static double run_nmm(const bp_options *o, const bench_env *env, const char *pin_file, const char *log,
                      const char *const *args)
{
	(void)env;
	return run_nmm_cost(o, pin_file, log, args, NULL);
}

/* ---------------------------------------------------------------------- */
/* Node keys for the node-key exports: a P-256 point set on each PR        */

typedef struct node_key_job {
	const char *module_path;
	const char *prefix;
	unsigned long count;
} node_key_job;

typedef struct node_key_result {
	int ok;
	char error[sizeof ((akm_p11 *)0)->err];
} node_key_result;

/* In a measuring child: the bench token of `module`, logged in.  Returns 0,
 * or -1 with the reason in error. */
static int open_bench_token(akm_p11 *p, const char *module, char *error, size_t errlen)
{
	/* The bench token's PIN is not a secret (bench-env made the token). */
	int rc = akm_p11_open(p, module, BP_TOKEN_LABEL) != 0 || akm_p11_login(p, BP_USER_PIN, strlen(BP_USER_PIN)) != 0
	                 ? -1
	                 : 0;
	if (rc != 0)
		snprintf(error, errlen, "%s", p->err);
	return rc;
}

static bool set_node_keys(void *out, const void *arg)
{
	node_key_result *r = out;
	const node_key_job *jb = arg;
	akm_p11 p;
	if (open_bench_token(&p, jb->module_path, r->error, sizeof r->error) != 0)
		return false;
	for (unsigned long i = 1; i <= jb->count; i++) {
		CK_OBJECT_HANDLE pub, priv;
		uint8_t point[65];
		if (akm_p11_ec_generate(&p, false, "bench node", NULL, 0, &pub, &priv) != 0 ||
		    akm_p11_ec_point(&p, pub, point) != 0) {
			snprintf(r->error, sizeof r->error, "%s", p.err);
			return false;
		}
		char label[96];
		snprintf(label, sizeof label, "%s%06lu/enc", jb->prefix, i);
		CK_ATTRIBUTE find[] = {{CKA_LABEL, label, strlen(label)}};
		CK_OBJECT_HANDLE key;
		size_t n = 0;
		if (akm_p11_find(&p, find, 1, &key, 1, &n) != 0 || n != 1) {
			snprintf(r->error, sizeof r->error, "the PR key \"%s\" is not found", label);
			return false;
		}
		CK_ATTRIBUTE set[] = {{CKA_AKM_NODE_KEY, point, sizeof point}};
		CK_RV rv = p.f->C_SetAttributeValue(p.session, key, set, 1);
		if (rv != CKR_OK) {
			snprintf(r->error, sizeof r->error, "C_SetAttributeValue(CKA_AKM_NODE_KEY) of %s: 0x%lx", label,
			         (unsigned long)rv);
			return false;
		}
		p.f->C_DestroyObject(p.session, pub);
		p.f->C_DestroyObject(p.session, priv);
	}
	akm_p11_close(&p);
	r->ok = 1;
	return true;
}

/* ---------------------------------------------------------------------- */
/* (c) SoftHSM2 directly                                                    */

typedef struct softhsm_job {
	const char *softhsm_path;
	unsigned long count;
	double seconds;
} softhsm_job;

typedef struct softhsm_result {
	int ok;
	char error[sizeof ((akm_p11 *)0)->err];
	unsigned long prs;
	double seconds;
	double peak_rss_mb, written_bytes; /* the child's own, from getrusage */
} softhsm_result;

static bool softhsm_prs(void *out, const void *arg)
{
	softhsm_result *r = out;
	const softhsm_job *jb = arg;
	akm_p11 p;
	if (open_bench_token(&p, jb->softhsm_path, r->error, sizeof r->error) != 0)
		return false;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	double start = bench_now(), report = start + 10;
	unsigned long i;
	for (i = 0; i < jb->count; i++) {
		double now = bench_now();
		if (now - start >= jb->seconds)
			break;
		if (now >= report) {
			fprintf(stderr, "akm-bench-provision: SoftHSM2: %lu PRs (%lu token keys), %.0f PRs/s so far\n", i,
			        2 * i, i / (now - start));
			report = now + 10;
		}
		/* The PR ID as akm-nmm makes it (16 random bytes) and a purpose
		 * byte, like a relationship key's CKA_ID. */
		char id[17], label[48];
		int id_len = (int)sizeof id;
		randombytes_buf(id, 16);
		id[16] = 'e';
		int label_len = snprintf(label, sizeof label, "node-%06lu/enc", i + 1);
		CK_MECHANISM aes = {CKM_AES_KEY_GEN, NULL, 0};
		CK_ATTRIBUTE enc[] = {
			{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1},
			{CKA_EXTRACTABLE, &no, 1}, {CKA_VALUE_LEN, &len, sizeof len}, {CKA_ENCRYPT, &yes, 1},
			{CKA_DECRYPT, &yes, 1}, {CKA_ID, id, (CK_ULONG)id_len}, {CKA_LABEL, label, (CK_ULONG)label_len},
		};
		CK_OBJECT_HANDLE k;
		CK_RV rv = p.f->C_GenerateKey(p.session, &aes, enc, sizeof enc / sizeof enc[0], &k);
		if (rv != CKR_OK) {
			snprintf(r->error, sizeof r->error, "C_GenerateKey (AES-256 token key): 0x%lx", (unsigned long)rv);
			return false;
		}
		id[id_len - 1] = 'm';
		label[label_len - 3] = 'm';
		label[label_len - 2] = 'a';
		label[label_len - 1] = 'c';
		CK_MECHANISM gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
		CK_ATTRIBUTE mac[] = {
			{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1},
			{CKA_EXTRACTABLE, &no, 1}, {CKA_VALUE_LEN, &len, sizeof len}, {CKA_SIGN, &yes, 1},
			{CKA_VERIFY, &yes, 1}, {CKA_ID, id, (CK_ULONG)id_len}, {CKA_LABEL, label, (CK_ULONG)label_len},
		};
		rv = p.f->C_GenerateKey(p.session, &gen, mac, sizeof mac / sizeof mac[0], &k);
		if (rv != CKR_OK) {
			snprintf(r->error, sizeof r->error, "C_GenerateKey (generic secret token key): 0x%lx",
			         (unsigned long)rv);
			return false;
		}
	}
	r->seconds = bench_now() - start;
	r->prs = i;
	akm_p11_close(&p);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		r->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
		r->written_bytes = (double)ru.ru_oublock * 512.0;
	}
	r->ok = 1;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: akm-bench-provision --module PATH --softhsm PATH [options]\n"
	        "\n"
	        "Measures the provisioning station: PRs created per second by `akm-nmm provision\n"
	        "--count N`, bundles exported per second by `akm-nmm export` (node-key and\n"
	        "passphrase protection, with the Argon2id cost), and SoftHSM2 storing the same\n"
	        "PRs as two token keys each, in the same run.\n"
	        "\n"
	        "Options:\n"
	        "  --module PATH          akm-pkcs11.so\n"
	        "  --softhsm PATH         libsofthsm2.so (also akm-pkcs11's backend)\n"
	        "  --nmm PATH             akm-nmm (default: next to this program)\n"
	        "  --count N              PRs in the creation batch (default 10000)\n"
	        "  --export-count N       bundles per protection kind (default 1000)\n"
	        "  --seconds S            at most this long for SoftHSM2's PRs (default 120)\n"
	        "  --argon2-ops N         Argon2id passes for the passphrase exports (default %u)\n"
	        "  --argon2-mem-kib N     Argon2id memory in KiB (default %u)\n"
	        "  --station N,N,...      instead: a station of each size (fresh token each):\n"
	        "                         provision --count N (us per PR, bytes written per\n"
	        "                         PR, peak RSS), list and list --json at N (peak RSS),\n"
	        "                         pkcs11-tool -O (us per object), and SoftHSM2's PRs\n"
	        "                         for at most --seconds alongside\n"
	        "  --help                 this text\n"
	        "\n"
	        "Output: one line per measurement, \"name key=value ...\".\n"
	        "Exit status: 0 whatever the figures say, 1 on any error, 2 on a bad command line.\n",
	        AKM_PASS_OPSLIMIT, AKM_PASS_MEMLIMIT_KIB);
}

static char default_nmm[PATH_MAX];

static int parse_options(int argc, char **argv, bp_options *o)
{
	*o = (bp_options){.count = 10000, .export_count = 1000, .seconds = 120.0,
	                  .argon2_ops = AKM_PASS_OPSLIMIT, .argon2_mem_kib = AKM_PASS_MEMLIMIT_KIB};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (!value) {
			fprintf(stderr, "akm-bench-provision: %s needs a value (or is unknown); see --help\n", arg);
			return -1;
		}
		i++;
		if (strcmp(arg, "--module") == 0) {
			o->module_path = value;
		} else if (strcmp(arg, "--softhsm") == 0) {
			o->softhsm_path = value;
		} else if (strcmp(arg, "--nmm") == 0) {
			o->nmm_path = value;
		} else if (strcmp(arg, "--count") == 0) {
			if (bench_parse_count(value, 1, 10000000UL, &o->count) != 0) {
				fprintf(stderr, "akm-bench-provision: --count: expected a count in [1, 10000000]\n");
				return -1;
			}
		} else if (strcmp(arg, "--export-count") == 0) {
			if (bench_parse_count(value, 1, 100000UL, &o->export_count) != 0) {
				fprintf(stderr, "akm-bench-provision: --export-count: expected a count in [1, 100000]\n");
				return -1;
			}
		} else if (strcmp(arg, "--argon2-ops") == 0) {
			if (bench_parse_count(value, 1, 100UL, &o->argon2_ops) != 0) {
				fprintf(stderr, "akm-bench-provision: --argon2-ops: expected a count in [1, 100]\n");
				return -1;
			}
		} else if (strcmp(arg, "--argon2-mem-kib") == 0) {
			if (bench_parse_count(value, 8, 4UL * 1024 * 1024, &o->argon2_mem_kib) != 0) {
				fprintf(stderr, "akm-bench-provision: --argon2-mem-kib: expected a size in [8, 4194304]\n");
				return -1;
			}
		} else if (strcmp(arg, "--station") == 0) {
			char copy[256];
			snprintf(copy, sizeof copy, "%s", value);
			o->station_count = 0;
			char *save = NULL;
			for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
				if (o->station_count == 8 ||
				    bench_parse_count(item, 1, 10000000UL, &o->station[o->station_count]) != 0) {
					fprintf(stderr, "akm-bench-provision: --station: expected up to 8 comma-separated counts"
					        " in [1, 10000000]\n");
					return -1;
				}
				o->station_count++;
			}
			if (o->station_count == 0) {
				fprintf(stderr, "akm-bench-provision: --station: expected a count\n");
				return -1;
			}
		} else if (strcmp(arg, "--seconds") == 0) {
			if (bench_parse_seconds(value, 36000.0, &o->seconds) != 0) {
				fprintf(stderr, "akm-bench-provision: --seconds: expected a number in (0, 36000]\n");
				return -1;
			}
		} else {
			fprintf(stderr, "akm-bench-provision: unknown option %s; see --help\n", arg);
			return -1;
		}
	}
	if (!o->module_path || !o->softhsm_path) {
		fprintf(stderr, "akm-bench-provision: --module and --softhsm are required; see --help\n");
		return -1;
	}
	if (!o->nmm_path) {
		ssize_t n = readlink("/proc/self/exe", default_nmm, sizeof default_nmm - 16);
		if (n <= 0) {
			fprintf(stderr, "akm-bench-provision: give --nmm (cannot find this program's folder)\n");
			return -1;
		}
		default_nmm[n] = '\0';
		char *slash = strrchr(default_nmm, '/');
		snprintf(slash + 1, sizeof default_nmm - (size_t)(slash + 1 - default_nmm), "akm-nmm");
		o->nmm_path = default_nmm;
	}
	if (access(o->nmm_path, X_OK) != 0) {
		fprintf(stderr, "akm-bench-provision: %s: %s\n", o->nmm_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* "P000001,P000002,..." for n nodes (malloc'd). */
static char *node_list(const char *prefix, unsigned long n)
{
	size_t cap = n * (strlen(prefix) + 8) + 1;
	char *list = malloc(cap);
	if (!list)
		return NULL;
	size_t used = 0;
	list[0] = '\0';
	for (unsigned long i = 1; i <= n; i++)
		used += (size_t)snprintf(list + used, cap - used, "%s%s%06lu", i > 1 ? "," : "", prefix, i);
	return list;
}

/* ---------------------------------------------------------------------- */
/* --station: a station of N nodes, side by side with SoftHSM2              */

/* pkcs11-tool -O over `module`'s bench token, logged in: 0 with its cost
 * and the number of objects it printed, -1 on a failure, 1 when
 * pkcs11-tool is not installed. */
static int list_objects(const char *module, const char *dir, child_cost *cost, unsigned long *objects)
{
	char log[PATH_MAX], errlog[PATH_MAX];
	snprintf(log, sizeof log, "%s/pkcs11-tool.log", dir);
	snprintf(errlog, sizeof errlog, "%s/pkcs11-tool.err", dir);
	const char *argv[] = {"pkcs11-tool", "--module", module, "--token-label", BP_TOKEN_LABEL, "--login",
	                      "--pin", BP_USER_PIN, "-O", NULL};
	if (system("command -v pkcs11-tool >/dev/null 2>&1") != 0)
		return 1;
	if (run_child(argv, true, log, errlog, cost) != 0)
		return -1;
	/* A line per object ("Secret Key Object; AES length 32", "Data
	 * object 3", ...), its attributes indented below it (its warnings
	 * apart, on stderr). */
	FILE *f = fopen(log, "r");
	char line[512];
	*objects = 0;
	while (f && fgets(line, sizeof line, f))
		*objects += strstr(line, "Object;") != NULL || strstr(line, "Data object") != NULL;
	if (f)
		fclose(f);
	return 0;
}

typedef struct station_figures {
	unsigned long n;
	child_cost provision, list, list_json, tool;
	unsigned long tool_objects;
	bool have_tool;
	long long registry_bytes;
	softhsm_result shsm;
	child_cost shsm_tool;
	unsigned long shsm_tool_objects;
} station_figures;

static long long file_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static int station_run(const bp_options *o, unsigned long n, station_figures *fig)
{
	bench_env env;
	char tag[32], pin_file[PATH_MAX], log[PATH_MAX], count_text[32], wal[PATH_MAX + 8];
	memset(fig, 0, sizeof *fig);
	fig->n = n;
	snprintf(tag, sizeof tag, "station-%lu", n);
	snprintf(count_text, sizeof count_text, "%lu", n);
	if (bench_env_create(&env, "akm-bench-provision", tag, o->softhsm_path, BP_TOKEN_LABEL, BP_SO_PIN,
	                     BP_USER_PIN) != 0) {
		bench_env_destroy(&env);
		return -1;
	}
	snprintf(pin_file, sizeof pin_file, "%s/pin", env.dir);
	snprintf(log, sizeof log, "%s/akm-nmm.log", env.dir);
	snprintf(wal, sizeof wal, "%s-wal", env.registry);
	const char *init[] = {"init", "--site", "bench", "--location", "bench", NULL};
	const char *prov[] = {"provision", "--count", count_text, NULL};
	const char *list[] = {"list", NULL};
	const char *list_json[] = {"list", "--json", NULL};
	int rc = -1;
	if (write_text(pin_file, BP_USER_PIN "\n") != 0 || run_nmm_cost(o, pin_file, log, init, NULL) < 0)
		goto out;
	fprintf(stderr, "akm-bench-provision: station of %lu: akm-nmm provision --count %lu\n", n, n);
	if (run_nmm_cost(o, pin_file, log, prov, &fig->provision) < 0)
		goto out;
	fig->registry_bytes = file_bytes(env.registry) + file_bytes(wal);
	fprintf(stderr, "akm-bench-provision: station of %lu: akm-nmm list, list --json\n", n);
	if (run_nmm_cost(o, pin_file, log, list, &fig->list) < 0 ||
	    run_nmm_cost(o, pin_file, log, list_json, &fig->list_json) < 0)
		goto out;
	fprintf(stderr, "akm-bench-provision: station of %lu: pkcs11-tool -O\n", n);
	int t = list_objects(o->module_path, env.dir, &fig->tool, &fig->tool_objects);
	if (t < 0)
		goto out;
	fig->have_tool = t == 0;
	bench_env_destroy(&env);
	if (bench_interrupted)
		return -1;

	/* SoftHSM2 alongside: the same PRs for at most --seconds. */
	if (bench_env_create(&env, "akm-bench-provision", "station-softhsm", o->softhsm_path, BP_TOKEN_LABEL, BP_SO_PIN,
	                     BP_USER_PIN) != 0) {
		bench_env_destroy(&env);
		return -1;
	}
	fprintf(stderr, "akm-bench-provision: SoftHSM2: %lu PRs as two token keys each (at most %.0f s)\n", n,
	        o->seconds);
	softhsm_job sj = {.softhsm_path = o->softhsm_path, .count = n, .seconds = o->seconds};
	char error[256];
	if (!bench_run_in_child(softhsm_prs, &sj, &fig->shsm, sizeof fig->shsm, (unsigned)(o->seconds + 300),
	                        &bench_running_child, &bench_interrupted, error, sizeof error) ||
	    !fig->shsm.ok) {
		fprintf(stderr, "akm-bench-provision: SoftHSM2: %s\n", fig->shsm.error[0] ? fig->shsm.error : error);
		goto out;
	}
	if (fig->have_tool && list_objects(o->softhsm_path, env.dir, &fig->shsm_tool, &fig->shsm_tool_objects) < 0)
		goto out;
	rc = 0;
out:
	bench_env_destroy(&env);
	return rc;
}

static void station_print(const station_figures *f)
{
	double n = (double)f->n;
	printf("station n=%lu ids=random provision_seconds=%.3f provision_us_per_pr=%.1f "
	       "provision_written_bytes_per_pr=%.0f provision_peak_rss_mb=%.1f registry_bytes_per_pr=%.0f "
	       "list_seconds=%.3f list_peak_rss_mb=%.1f list_json_seconds=%.3f list_json_peak_rss_mb=%.1f",
	       f->n, f->provision.seconds, f->provision.seconds * 1e6 / n, f->provision.written_bytes / n,
	       f->provision.peak_rss_mb, (double)f->registry_bytes / n, f->list.seconds, f->list.peak_rss_mb,
	       f->list_json.seconds, f->list_json.peak_rss_mb);
	if (f->have_tool)
		printf(" pkcs11_tool_objects=%lu pkcs11_tool_seconds=%.3f pkcs11_tool_us_per_object=%.2f"
		       " pkcs11_tool_peak_rss_mb=%.1f",
		       f->tool_objects, f->tool.seconds, f->tool_objects ? f->tool.seconds * 1e6 / (double)f->tool_objects : 0.0,
		       f->tool.peak_rss_mb);
	printf("\n");
	const softhsm_result *s = &f->shsm;
	printf("station_softhsm n=%lu prs=%lu complete=%s seconds=%.3f us_per_pr=%.1f written_bytes_per_pr=%.0f "
	       "peak_rss_mb=%.1f",
	       f->n, s->prs, s->prs == f->n ? "true" : "false", s->seconds, s->prs ? s->seconds * 1e6 / (double)s->prs : 0.0,
	       s->prs ? s->written_bytes / (double)s->prs : 0.0, s->peak_rss_mb);
	if (f->have_tool)
		printf(" pkcs11_tool_objects=%lu pkcs11_tool_us_per_object=%.2f", f->shsm_tool_objects,
		       f->shsm_tool_objects ? f->shsm_tool.seconds * 1e6 / (double)f->shsm_tool_objects : 0.0);
	printf("\n");
	fflush(stdout);
}

/* The targets over the sizes measured. */
#define BP_TARGET_US_RATIO 1.3
#define BP_TARGET_WRITTEN_PER_PR 10240.0
#define BP_TARGET_PEAK_RSS_MB 64.0
#define BP_TARGET_TOOL_US 20.0

static void station_targets(const station_figures *f, int count)
{
	const station_figures *lo = &f[0], *hi = &f[0];
	double written = 0, rss = 0;
	for (int i = 0; i < count; i++) {
		if (f[i].n < lo->n)
			lo = &f[i];
		if (f[i].n > hi->n)
			hi = &f[i];
		if (f[i].provision.written_bytes / (double)f[i].n > written)
			written = f[i].provision.written_bytes / (double)f[i].n;
	}
	rss = hi->provision.peak_rss_mb;
	if (hi->list.peak_rss_mb > rss)
		rss = hi->list.peak_rss_mb;
	if (hi->list_json.peak_rss_mb > rss)
		rss = hi->list_json.peak_rss_mb;
	double ratio = (hi->provision.seconds / (double)hi->n) / (lo->provision.seconds / (double)lo->n);
	printf("target what=us_per_pr_largest_over_smallest n=%lu/%lu value=%.3f max=%.1f pass=%s\n", hi->n, lo->n,
	       ratio, BP_TARGET_US_RATIO, ratio <= BP_TARGET_US_RATIO ? "true" : "false");
	printf("target what=written_bytes_per_pr_any_n value=%.0f max=%.0f pass=%s\n", written,
	       BP_TARGET_WRITTEN_PER_PR, written <= BP_TARGET_WRITTEN_PER_PR ? "true" : "false");
	printf("target what=peak_rss_mb_provision_and_list_at_largest n=%lu value=%.1f max=%.0f pass=%s\n", hi->n, rss,
	       BP_TARGET_PEAK_RSS_MB, rss < BP_TARGET_PEAK_RSS_MB ? "true" : "false");
	if (hi->have_tool) {
		double us = hi->tool_objects ? hi->tool.seconds * 1e6 / (double)hi->tool_objects : 0.0;
		printf("target what=pkcs11_tool_us_per_object_at_largest n=%lu value=%.2f max=%.0f pass=%s\n", hi->n, us,
		       BP_TARGET_TOOL_US, us <= BP_TARGET_TOOL_US ? "true" : "false");
	}
}

static int station_main(const bp_options *o)
{
	station_figures fig[8];
	printf("config mode=station module=%s softhsm=%s nmm=%s softhsm_seconds=%.1f\n", o->module_path,
	       o->softhsm_path, o->nmm_path, o->seconds);
	fflush(stdout);
	for (int i = 0; i < o->station_count; i++) {
		if (station_run(o, o->station[i], &fig[i]) != 0)
			return 1;
		station_print(&fig[i]);
	}
	station_targets(fig, o->station_count);
	return 0;
}

int main(int argc, char **argv)
{
	bp_options o;
	if (parse_options(argc, argv, &o) != 0)
		return 2;
	bench_catch_interrupts();
	akm_secret_init();
	if (o.station_count > 0)
		return station_main(&o);

	int errors = 0;
	bench_env env;
	char pin_file[PATH_MAX], log[PATH_MAX], pass_file[PATH_MAX], usb_pass[PATH_MAX], usb_key[PATH_MAX];
	char count_text[32], ops_text[32], mem_text[32];
	snprintf(count_text, sizeof count_text, "%lu", o.count);
	snprintf(ops_text, sizeof ops_text, "%lu", o.argon2_ops);
	snprintf(mem_text, sizeof mem_text, "%lu", o.argon2_mem_kib);

	printf("config module=%s softhsm=%s nmm=%s count=%lu export_count=%lu softhsm_seconds=%.1f\n", o.module_path,
	       o.softhsm_path, o.nmm_path, o.count, o.export_count, o.seconds);
	fflush(stdout);

	/* ---- (a) creation ---- */
	if (bench_env_create(&env, "akm-bench-provision", "akm", o.softhsm_path, BP_TOKEN_LABEL, BP_SO_PIN,
	                     BP_USER_PIN) != 0) {
		bench_env_destroy(&env);
		return 1;
	}
	snprintf(pin_file, sizeof pin_file, "%s/pin", env.dir);
	snprintf(log, sizeof log, "%s/akm-nmm.log", env.dir);
	snprintf(pass_file, sizeof pass_file, "%s/passphrase", env.dir);
	snprintf(usb_pass, sizeof usb_pass, "%s/usb-passphrase", env.dir);
	snprintf(usb_key, sizeof usb_key, "%s/usb-node-key", env.dir);
	if (write_text(pin_file, BP_USER_PIN "\n") != 0 || write_text(pass_file, BP_PASSPHRASE "\n") != 0 ||
	    mkdir(usb_pass, 0700) != 0 || mkdir(usb_key, 0700) != 0) {
		fprintf(stderr, "akm-bench-provision: cannot write in %s: %s\n", env.dir, strerror(errno));
		bench_env_destroy(&env);
		return 1;
	}
	double t;
	{
		const char *init[] = {"init", "--site", "bench", "--location", "bench", NULL};
		if (run_nmm(&o, &env, pin_file, log, init) < 0)
			goto fail;
	}
	/* The fixed cost of one command (process, module, login, station). */
	double overhead = 0;
	{
		const char *noop[] = {"list", "--pending", "--json", NULL};
		double runs[3];
		for (int i = 0; i < 3; i++)
			if ((runs[i] = run_nmm(&o, &env, pin_file, log, noop)) < 0)
				goto fail;
		overhead = bench_median(runs, 3);
		printf("command_overhead method=child-process command=\"akm-nmm list --pending --json\" ms=%.1f\n",
		       overhead * 1e3);
		fflush(stdout);
	}
	fprintf(stderr, "akm-bench-provision: akm-nmm provision --count %lu\n", o.count);
	{
		const char *prov[] = {"provision", "--count", count_text, NULL};
		if ((t = run_nmm(&o, &env, pin_file, log, prov)) < 0)
			goto fail;
	}
	double akm_prs_per_s = o.count / t;
	printf("create method=child-process command=\"akm-nmm provision --count %lu\" count=%lu seconds=%.3f "
	       "prs_per_s=%.1f prs_per_s_excl_command_overhead=%.1f target_prs_per_s=%.0f pass=%s\n",
	       o.count, o.count, t, akm_prs_per_s, t > overhead ? o.count / (t - overhead) : 0.0, BP_TARGET_PRS_PER_S,
	       akm_prs_per_s >= BP_TARGET_PRS_PER_S ? "true" : "false");
	fflush(stdout);
	if (bench_interrupted)
		goto fail;

	/* ---- (b) exports ---- */
	{
		char export_text[32];
		snprintf(export_text, sizeof export_text, "%lu", o.export_count);
		const char *pp[] = {"provision", "--count", export_text, "--prefix", "pp-", "--delivery", "passphrase", NULL};
		const char *nk[] = {"provision", "--count", export_text, "--prefix", "nk-", NULL};
		if (run_nmm(&o, &env, pin_file, log, pp) < 0 || run_nmm(&o, &env, pin_file, log, nk) < 0)
			goto fail;
		node_key_job job = {.module_path = o.module_path, .prefix = "nk-", .count = o.export_count};
		node_key_result res;
		char error[256];
		fprintf(stderr, "akm-bench-provision: node keys for %lu PRs\n", o.export_count);
		if (!bench_run_in_child(set_node_keys, &job, &res, sizeof res, 600, &bench_running_child, &bench_interrupted, error,
		                        sizeof error) || !res.ok) {
			fprintf(stderr, "akm-bench-provision: setting node keys: %s\n", res.error[0] ? res.error : error);
			goto fail;
		}
		char *pp_list = node_list("pp-", o.export_count), *nk_list = node_list("nk-", o.export_count);
		if (!pp_list || !nk_list) {
			free(pp_list);
			free(nk_list);
			goto fail;
		}
		fprintf(stderr, "akm-bench-provision: export of %lu bundles, node-key protection\n", o.export_count);
		const char *ex_nk[] = {"export", "--nodes", nk_list, "--out", usb_key, "--protection", "node-key", NULL};
		double t_nk = run_nmm(&o, &env, pin_file, log, ex_nk);
		fprintf(stderr, "akm-bench-provision: export of %lu bundles, passphrase protection (Argon2id ops=%lu "
		        "mem=%lu KiB)\n", o.export_count, o.argon2_ops, o.argon2_mem_kib);
		const char *ex_pp[] = {"export", "--nodes", pp_list, "--out", usb_pass, "--protection", "passphrase",
		                       "--passphrase-file", pass_file, "--argon2-ops", ops_text, "--argon2-mem-kib",
		                       mem_text, NULL};
		double t_pp = run_nmm(&o, &env, pin_file, log, ex_pp);
		free(pp_list);
		free(nk_list);
		if (t_nk < 0 || t_pp < 0)
			goto fail;
		printf("export_node_key method=child-process count=%lu seconds=%.3f bundles_per_s=%.1f "
		       "bundles_per_s_excl_command_overhead=%.1f\n",
		       o.export_count, t_nk, o.export_count / t_nk,
		       t_nk > overhead ? o.export_count / (t_nk - overhead) : 0.0);
		/* One derivation at the same cost, timed alone (median of 3).
		 * The whole export's time over it bounds how many derivations
		 * the export can have made (derivations_at_most): below 2 when
		 * the batch costs one, not one per bundle. */
		akm_secret pass, master;
		uint8_t salt[16];
		randombytes_buf(salt, sizeof salt);
		double runs[3];
		if (akm_secret_from(&pass, BP_PASSPHRASE, strlen(BP_PASSPHRASE)) != 0)
			goto fail;
		for (int i = 0; i < 3; i++) {
			double s = bench_now();
			if (akm_pass_master(&master, &pass, salt, (uint32_t)o.argon2_ops, (uint32_t)o.argon2_mem_kib) != 0) {
				fprintf(stderr, "akm-bench-provision: Argon2id failed (out of memory?)\n");
				akm_secret_free(&pass);
				goto fail;
			}
			runs[i] = bench_now() - s;
			akm_secret_free(&master);
		}
		akm_secret_free(&pass);
		double argon2 = bench_median(runs, 3);
		printf("export_passphrase method=child-process count=%lu seconds=%.3f bundles_per_s=%.1f "
		       "bundles_per_s_excl_command_overhead=%.1f argon2id_ops=%lu argon2id_mem_kib=%lu "
		       "argon2id_derivation_ms=%.1f derivations_at_most=%d "
		       "bundles_per_s_excl_derivation_and_overhead=%.1f one_derivation_per_bundle_would_take_s=%.1f\n",
		       o.export_count, t_pp, o.export_count / t_pp,
		       t_pp > overhead ? o.export_count / (t_pp - overhead) : 0.0, o.argon2_ops, o.argon2_mem_kib,
		       argon2 * 1e3, argon2 > 0 ? (int)(t_pp / argon2) : -1, t_pp > overhead + argon2 ? o.export_count / (t_pp - overhead - argon2) : 0.0,
		       argon2 * (double)o.export_count);
		fflush(stdout);
	}
	bench_env_destroy(&env);
	if (bench_interrupted)
		return 1;

	/* ---- (c) SoftHSM2 directly ---- */
	if (bench_env_create(&env, "akm-bench-provision", "softhsm", o.softhsm_path, BP_TOKEN_LABEL, BP_SO_PIN,
	                     BP_USER_PIN) != 0) {
		bench_env_destroy(&env);
		return 1;
	}
	fprintf(stderr, "akm-bench-provision: SoftHSM2: %lu PRs as two token keys each (at most %.0f s)\n", o.count,
	        o.seconds);
	softhsm_job sj = {.softhsm_path = o.softhsm_path, .count = o.count, .seconds = o.seconds};
	softhsm_result sr;
	char error[256];
	if (!bench_run_in_child(softhsm_prs, &sj, &sr, sizeof sr, (unsigned)(o.seconds + 300), &bench_running_child,
	                        &bench_interrupted, error, sizeof error) || !sr.ok) {
		fprintf(stderr, "akm-bench-provision: SoftHSM2: %s\n", sr.error[0] ? sr.error : error);
		errors++;
	} else {
		double shsm = sr.prs / sr.seconds;
		printf("softhsm_create method=in-process-child keys_per_pr=2 token_objects=true prs=%lu of=%lu "
		       "complete=%s seconds=%.3f prs_per_s=%.1f\n",
		       sr.prs, o.count, sr.prs == o.count ? "true" : "false", sr.seconds, shsm);
		printf("ratio create_akm_over_softhsm=%.2f\n", shsm > 0 ? akm_prs_per_s / shsm : 0.0);
	}
	bench_env_destroy(&env);
	return errors ? 1 : 0;

fail:
	bench_env_destroy(&env);
	return 1;
}

/* The jobs akm-bench-registry's children run (registry-jobs.h). */
#include "bench/registry-jobs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "akm/pkcs11-akm.h"
#include "bench/bench-env.h"
#include "shared/p11.h"
#include "lib/rv.h"

#define RB_DATA_SIZE 1024
/* SoftHSM2's find-by-CKA_ID takes a third of a second with 10,000 token
 * objects: time at least this long, and at least this many finds. */
#define RB_SOFTHSM_FIND_MIN_SECONDS 3.0
#define RB_SOFTHSM_FIND_MIN_OPS 3

/* ---------------------------------------------------------------------- */
/* Random numbers, names                                                   */

/* xorshift64*: cheap enough that picking an ID costs nothing next to a
 * find; seeded per round so every run picks the same IDs. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The job's choice of IDs (job.sequential_ids; one job per child). */
static bool sequential_ids;

/* splitmix64's output function: a bijection of 64-bit values. */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* 16 bytes that look random and are distinct per i (two bijections of i),
 * shaped like the tools' IDs (akm-nmm draws 16 random bytes), so that
 * every index keyed on an ID sees inserts scattered over it as a station
 * does; the same i always gives the same bytes, for the finds. */
static CK_ULONG random_id(unsigned long i, uint64_t salt, char *out, size_t size)
{
	uint64_t a = mix64((uint64_t)i ^ salt), b = mix64((uint64_t)i + salt * 0x9E3779B97F4A7C15ULL);
	if (size < 16)
		return 0;
	for (int k = 0; k < 8; k++) {
		out[k] = (char)(a >> (8 * k));
		out[8 + k] = (char)(b >> (8 * k));
	}
	return 16;
}

/* The i-th relationship's ID, peer node and hardware binding: distinct per
 * relationship, so every index of the registry sees realistic data.  With
 * --ids sequential, the IDs of earlier versions of this benchmark (ascending
 * text: every insert at the end of its index, the best case). */
static CK_ULONG relationship_id(unsigned long i, char *out, size_t size)
{
	if (!sequential_ids)
		return random_id(i, 0x5EED0001ULL, out, size);
	return (CK_ULONG)snprintf(out, size, "akm-rel-%010lu", i);
}

static CK_ULONG peer_node(unsigned long i, char *out, size_t size)
{
	if (!sequential_ids)
		return random_id(i, 0x5EED0002ULL, out, size);
	return (CK_ULONG)snprintf(out, size, "node-%010lu", i);
}

static CK_ULONG hw_binding(unsigned long i, char *out, size_t size)
{
	return (CK_ULONG)snprintf(out, size, "se-serial-%010lu", i);
}

/* VmRSS or VmHWM of this process, in MiB; -1 when unreadable. */
static double proc_status_mb(const char *field)
{
	FILE *file = fopen("/proc/self/status", "r");
	if (!file)
		return -1.0;
	char line[256];
	size_t field_len = strlen(field);
	double mb = -1.0;
	while (fgets(line, sizeof line, file)) {
		if (strncmp(line, field, field_len) == 0 && line[field_len] == ':') {
			mb = strtod(line + field_len + 1, NULL) / 1024.0; /* the kernel says kB */
			break;
		}
	}
	fclose(file);
	return mb;
}

/* One loaded, initialised, logged-in module in a child (tools/shared/p11.h:
 * operations call its function list, t->f, directly). */
typedef akm_p11 p11_target;

static int fail_ckr(figures *f, const char *function, CK_RV rv)
{
	if (f->error[0] == '\0')
		snprintf(f->error, sizeof f->error, "%s failed: %s (0x%lx)", function, akm_rv_name(rv),
		         (unsigned long)rv);
	return -1;
}

static int fail_text(figures *f, const char *text)
{
	if (f->error[0] == '\0')
		snprintf(f->error, sizeof f->error, "%.300s", text);
	return -1;
}

/* Calls t->f->fn(...) and returns -1 from the caller, with the function's
 * name and CK_RV recorded in f, when it does not return CKR_OK. */
#define P11_CALL(f, t, fn, ...)                                                \
	do {                                                                   \
		CK_RV call_rv_ = (t)->f->fn(__VA_ARGS__);                    \
		if (call_rv_ != CKR_OK)                                        \
			return fail_ckr((f), #fn, call_rv_);                   \
	} while (0)

/* Loading, initialising, finding the slot by label, a R/W session and the
 * user login: exactly what the cold-start figure times.  With `phase_ends`,
 * the clock is read after each of those five steps. */
static int target_open_timed(figures *f, p11_target *t, const char *module_path, double *phase_ends)
{
	double ends[5];
	if (akm_p11_load(t, module_path) != 0)
		return fail_text(f, t->err);
	ends[0] = bench_now();
	if (akm_p11_initialize(t) != 0)
		return fail_text(f, t->err);
	ends[1] = bench_now();
	if (akm_p11_select(t, RB_TOKEN_LABEL) != 0)
		return fail_text(f, t->err);
	ends[2] = bench_now();
	if (akm_p11_open_session(t) != 0)
		return fail_text(f, t->err);
	ends[3] = bench_now();
	if (akm_p11_login(t, RB_USER_PIN, strlen(RB_USER_PIN)) != 0)
		return fail_text(f, t->err);
	ends[4] = bench_now();
	if (phase_ends)
		memcpy(phase_ends, ends, sizeof ends);
	return 0;
}

static int target_open(figures *f, p11_target *t, const char *module_path)
{
	return target_open_timed(f, t, module_path, NULL);
}

static int target_close(figures *f, p11_target *t)
{
	P11_CALL(f, t, C_Logout, t->session);
	/* No dlclose: the child exits right away. */
	if (akm_p11_end(t, false) != 0)
		return fail_text(f, t->err);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The jobs children run                                                   */

static CK_BBOOL ck_true = CK_TRUE;
static CK_BBOOL ck_false = CK_FALSE;

typedef struct relationship_template {
	char id[40], node[40], hw[40];
	CK_ATTRIBUTE attrs[4];
} relationship_template;

static CK_ULONG kind_provisioning = CKV_AKM_KIND_PROVISIONING;

static void fill_relationship_template(relationship_template *rt, unsigned long i)
{
	CK_ULONG id_len = relationship_id(i, rt->id, sizeof rt->id);
	CK_ULONG node_len = peer_node(i, rt->node, sizeof rt->node);
	CK_ULONG hw_len = hw_binding(i, rt->hw, sizeof rt->hw);
	rt->attrs[0] = (CK_ATTRIBUTE){ CKA_AKM_KIND, &kind_provisioning, sizeof kind_provisioning };
	rt->attrs[1] = (CK_ATTRIBUTE){ CKA_AKM_RELATIONSHIP_ID, rt->id, id_len };
	rt->attrs[2] = (CK_ATTRIBUTE){ CKA_AKM_PEER_NODE, rt->node, node_len };
	rt->attrs[3] = (CK_ATTRIBUTE){ CKA_AKM_HW_BINDING, rt->hw, hw_len };
}

/* Step 1.  Relationships 0..n-1 in batches, then n..n+999 one call each. */
static int job_create(figures *f, const job *jb)
{
	p11_target t;
	if (target_open(f, &t, jb->module_path) != 0)
		return -1;
	unsigned long batch = jb->batch;
	relationship_template *templates = calloc(batch, sizeof *templates);
	CK_ATTRIBUTE_PTR *template_ptrs = calloc(batch, sizeof *template_ptrs);
	CK_ULONG *template_counts = calloc(batch, sizeof *template_counts);
	CK_OBJECT_HANDLE *keys = calloc(batch, sizeof *keys);
	if (!templates || !template_ptrs || !template_counts || !keys)
		return fail_text(f, "out of memory");

	unsigned long report_every = jb->n / 10 > batch ? jb->n / 10 : jb->n + 1;
	unsigned long next_report = report_every;
	/* Where the last tenth of the batches starts: does creation slow down
	 * as the registry grows? */
	unsigned long tail_from = jb->n - jb->n / 10;
	double tail_start = 0.0;
	unsigned long tail_created = 0;
	double start = bench_now();
	for (unsigned long first = 0; first < jb->n; first += batch) {
		unsigned long count = jb->n - first < batch ? jb->n - first : batch;
		if (first >= tail_from && tail_start == 0.0)
			tail_start = bench_now();
		if (tail_start != 0.0)
			tail_created += count;
		for (unsigned long j = 0; j < count; j++) {
			fill_relationship_template(&templates[j], first + j);
			template_ptrs[j] = templates[j].attrs;
			template_counts[j] = 4;
		}
		CK_AKM_BATCH_GEN_PARAMS params = {
			.ulCount = count, .ppTemplates = template_ptrs,
			.pulTemplateCounts = template_counts, .phKeys = keys,
		};
		CK_MECHANISM mechanism = { CKM_AKM_RELATIONSHIP_BATCH_GEN, &params, sizeof params };
		CK_OBJECT_HANDLE first_key = CK_INVALID_HANDLE;
		P11_CALL(f, &t, C_GenerateKey, t.session, &mechanism, NULL, 0, &first_key);
		if (first_key != keys[0] || first_key == CK_INVALID_HANDLE)
			return fail_text(f, "batch creation: *phKey is not phKeys[0]");
		if (first + count >= next_report) {
			double elapsed = bench_now() - start;
			fprintf(stderr, "akm-bench-registry: %s: %lu of %lu created, %.0f/s so far\n",
			        jb->what, first + count, jb->n, (double)(first + count) / elapsed);
			next_report += report_every;
		}
	}
	double end = bench_now();
	f->batch_seconds = end - start;
	f->batch_per_s = (double)jb->n / f->batch_seconds;
	f->batch_tail_per_s = tail_start != 0.0 && end > tail_start ? (double)tail_created / (end - tail_start)
	                                                             : f->batch_per_s;

	CK_MECHANISM single = { CKM_AKM_RELATIONSHIP_GEN, NULL, 0 };
	start = bench_now();
	for (unsigned long i = 0; i < RB_SINGLE_CREATIONS; i++) {
		fill_relationship_template(&templates[0], jb->n + i);
		CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
		P11_CALL(f, &t, C_GenerateKey, t.session, &single, templates[0].attrs, 4, &key);
	}
	f->single_per_s = RB_SINGLE_CREATIONS / (bench_now() - start);
	f->rss_mb = proc_status_mb("VmRSS");
	f->hwm_mb = proc_status_mb("VmHWM");
	free(templates);
	free(template_ptrs);
	free(template_counts);
	free(keys);
	return target_close(f, &t);
}

/* Step 2 (and SoftHSM2's cold start): the clock starts before dlopen. */
static int job_cold_start(figures *f, const job *jb)
{
	p11_target t;
	double phase_ends[5];
	double start = bench_now();
	if (target_open_timed(f, &t, jb->module_path, phase_ends) != 0)
		return -1;
	f->cold_ms = (phase_ends[4] - start) * 1e3;
	for (int i = 0; i < 5; i++)
		f->cold_phase_ms[i] = (phase_ends[i] - (i ? phase_ends[i - 1] : start)) * 1e3;
	return target_close(f, &t);
}

/* Finds by one attribute (a byte string); the number of objects found. */
static int find_count(figures *f, p11_target *t, CK_ATTRIBUTE_TYPE type, const void *value,
                      CK_ULONG len, CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count)
{
	CK_ATTRIBUTE tmpl[] = { { type, (void *)value, len } };
	P11_CALL(f, t, C_FindObjectsInit, t->session, tmpl, 1);
	P11_CALL(f, t, C_FindObjects, t->session, found, max, count);
	P11_CALL(f, t, C_FindObjectsFinal, t->session);
	return 0;
}

/* Finds a random one of objects 0..n-1 by `type` in a timed loop, insisting
 * on `expected` results.  Warm-up: a tenth of the time; with `min_ops` (for
 * SoftHSM2, whose finds take a third of a second each) one find only, and
 * the loop runs until both `seconds` and `min_ops` are reached. */
static int timed_finds(figures *f, p11_target *t, CK_ATTRIBUTE_TYPE type, bool is_softhsm_key,
                       unsigned long n, CK_ULONG expected, double seconds, uint64_t min_ops,
                       uint64_t seed)
{
	uint64_t state = seed | 1;
	CK_OBJECT_HANDLE found[4];
	char value[40];
	double warm_up_end = bench_now() + seconds / 10.0;
	double start = 0.0, now = 0.0;
	uint64_t ops = 0;
	bool timing = false;
	for (;;) {
		unsigned long i = (unsigned long)(next_random(&state) % n);
		CK_ULONG len = is_softhsm_key ? (CK_ULONG)snprintf(value, sizeof value, "obj-%08lu", i)
		                              : relationship_id(i, value, sizeof value);
		CK_ULONG count = 0;
		if (find_count(f, t, type, value, len, found, 4, &count) != 0)
			return -1;
		if (count != expected) {
			snprintf(f->error, sizeof f->error, "find of ID %lu gave %lu objects, expected %lu", i,
			         (unsigned long)count, (unsigned long)expected);
			return -1;
		}
		now = bench_now();
		if (!timing) {
			if (now >= warm_up_end || min_ops > 0) {
				timing = true;
				start = now;
			}
			continue;
		}
		ops++;
		if (now - start >= seconds && ops >= min_ops)
			break;
	}
	f->finds = ops;
	f->finds_per_s = (double)ops / (now - start);
	return 0;
}

/* AES-256-GCM, 12-byte IV (a fresh one each time), no AAD, 16-byte tag,
 * over 1 KiB: C_EncryptInit + C_Encrypt, timed after a warm-up. */
static int timed_gcm(figures *f, p11_target *t, CK_OBJECT_HANDLE key, double seconds)
{
	unsigned char data[RB_DATA_SIZE], out[RB_DATA_SIZE + 64];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7);
	uint64_t counter = 0;
	double warm_up_end = bench_now() + seconds / 10.0;
	double start = 0.0, now = 0.0;
	uint64_t ops = 0;
	bool timing = false;
	for (;;) {
		unsigned char iv[12] = { 0 };
		counter++;
		memcpy(iv + 4, &counter, sizeof counter);
		CK_GCM_PARAMS gcm = {
			.pIv = iv, .ulIvLen = sizeof iv, .ulIvBits = 8 * sizeof iv,
			.pAAD = NULL, .ulAADLen = 0, .ulTagBits = 128,
		};
		CK_MECHANISM mechanism = { CKM_AES_GCM, &gcm, sizeof gcm };
		CK_ULONG out_len = sizeof out;
		P11_CALL(f, t, C_EncryptInit, t->session, &mechanism, key);
		P11_CALL(f, t, C_Encrypt, t->session, data, sizeof data, out, &out_len);
		if (out_len != sizeof data + 16)
			return fail_text(f, "C_Encrypt (AES-GCM) returned a wrong length");
		/* Reading the clock costs ~1% of one operation here. */
		now = bench_now();
		if (!timing) {
			if (now >= warm_up_end) {
				timing = true;
				start = now;
			}
			continue;
		}
		ops++;
		if (now - start >= seconds)
			break;
	}
	f->gcm_per_s = (double)ops / (now - start);
	return 0;
}

/* Steps 3, 4 and 5 through akm-pkcs11. */
static int job_akm_use(figures *f, const job *jb)
{
	p11_target t;
	if (target_open(f, &t, jb->module_path) != 0)
		return -1;
	if (timed_finds(f, &t, CKA_AKM_RELATIONSHIP_ID, false, jb->n, 2, jb->seconds, 0, jb->seed) != 0)
		return -1;
	/* One fixed relationship's encryption key, selected the way standard
	 * tools do: CKA_ID = relationship ID || CKV_AKM_PURPOSE_ENCRYPT. */
	unsigned char ckid[48];
	CK_ULONG id_len = relationship_id(jb->n / 2, (char *)ckid, sizeof ckid - 1);
	ckid[id_len] = (unsigned char)CKV_AKM_PURPOSE_ENCRYPT;
	CK_OBJECT_HANDLE found[2];
	CK_ULONG count = 0;
	if (find_count(f, &t, CKA_ID, ckid, id_len + 1, found, 2, &count) != 0)
		return -1;
	if (count != 1)
		return fail_text(f, "the relationship's encryption key is not found by CKA_ID");
	if (timed_gcm(f, &t, found[0], jb->seconds) != 0)
		return -1;
	f->rss_mb = proc_status_mb("VmRSS");
	f->hwm_mb = proc_status_mb("VmHWM");
	return target_close(f, &t);
}

/* Step 4's reference: the same operation on a plain AES-256 session key
 * (sensitive, not extractable) in SoftHSM2 directly. */
static int job_softhsm_gcm(figures *f, const job *jb)
{
	p11_target t;
	if (target_open(f, &t, jb->module_path) != 0)
		return -1;
	CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG key_len = 32;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_VALUE_LEN, &key_len, sizeof key_len },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
		{ CKA_ENCRYPT, &ck_true, sizeof ck_true },
		{ CKA_DECRYPT, &ck_true, sizeof ck_true },
	};
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	P11_CALL(f, &t, C_GenerateKey, t.session, &mechanism, tmpl, sizeof tmpl / sizeof tmpl[0], &key);
	if (timed_gcm(f, &t, key, jb->seconds) != 0)
		return -1;
	f->rss_mb = proc_status_mb("VmRSS");
	f->hwm_mb = proc_status_mb("VmHWM");
	return target_close(f, &t);
}

/* The SoftHSM2 comparison token: n AES-256 token keys, CKA_ID "obj-%08lu". */
static int job_softhsm_populate(figures *f, const job *jb)
{
	p11_target t;
	if (target_open(f, &t, jb->module_path) != 0)
		return -1;
	CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG key_len = 32;
	unsigned long report_every = jb->n / 20 > 0 ? jb->n / 20 : 1;
	double start = bench_now();
	for (unsigned long i = 0; i < jb->n; i++) {
		char id[40], label[40];
		CK_ULONG id_len = (CK_ULONG)snprintf(id, sizeof id, "obj-%08lu", i);
		CK_ULONG label_len = (CK_ULONG)snprintf(label, sizeof label, "key %lu", i);
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_TOKEN, &ck_true, sizeof ck_true },
			{ CKA_PRIVATE, &ck_true, sizeof ck_true },
			{ CKA_VALUE_LEN, &key_len, sizeof key_len },
			{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
			{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
			{ CKA_ENCRYPT, &ck_true, sizeof ck_true },
			{ CKA_DECRYPT, &ck_true, sizeof ck_true },
			{ CKA_ID, id, id_len },
			{ CKA_LABEL, label, label_len },
		};
		CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
		P11_CALL(f, &t, C_GenerateKey, t.session, &mechanism, tmpl, sizeof tmpl / sizeof tmpl[0], &key);
		if ((i + 1) % report_every == 0 || i + 1 == jb->n)
			fprintf(stderr, "akm-bench-registry: %s: %lu of %lu token keys, %.0f/s so far\n",
			        jb->what, i + 1, jb->n, (double)(i + 1) / (bench_now() - start));
	}
	f->batch_seconds = bench_now() - start;
	f->batch_per_s = (double)jb->n / f->batch_seconds;
	return target_close(f, &t);
}

static int job_softhsm_find(figures *f, const job *jb)
{
	p11_target t;
	if (target_open(f, &t, jb->module_path) != 0)
		return -1;
	double seconds = jb->seconds > RB_SOFTHSM_FIND_MIN_SECONDS ? jb->seconds : RB_SOFTHSM_FIND_MIN_SECONDS;
	if (timed_finds(f, &t, CKA_ID, true, jb->n, 1, seconds, RB_SOFTHSM_FIND_MIN_OPS, jb->seed) != 0)
		return -1;
	f->rss_mb = proc_status_mb("VmRSS");
	f->hwm_mb = proc_status_mb("VmHWM");
	return target_close(f, &t);
}

static int run_job(figures *f, const job *jb)
{
	switch (jb->kind) {
	case JOB_CREATE: return job_create(f, jb);
	case JOB_COLD_START: return job_cold_start(f, jb);
	case JOB_AKM_USE: return job_akm_use(f, jb);
	case JOB_SOFTHSM_GCM: return job_softhsm_gcm(f, jb);
	case JOB_SOFTHSM_POPULATE: return job_softhsm_populate(f, jb);
	case JOB_SOFTHSM_FIND: return job_softhsm_find(f, jb);
	}
	return fail_text(f, "unknown job");
}

/* ---------------------------------------------------------------------- */
/* Forked children                                                         */


static unsigned job_alarm(const job *jb)
{
	double limit = 120.0 + 20.0 * jb->seconds;
	if (jb->kind == JOB_CREATE)
		limit += (double)jb->n / 200.0;
	else if (jb->kind == JOB_SOFTHSM_POPULATE)
		limit += (double)jb->n / 2.0;
	return (unsigned)limit;
}

static bool job_child(void *out, const void *arg)
{
	figures *f = out;
	sequential_ids = ((const job *)arg)->sequential_ids;
	f->ok = run_job(f, arg) == 0 && f->error[0] == '\0';
	return f->ok;
}

figures rb_run_in_child(const job *jb)
{
	figures result;
	char error[sizeof result.error];
	if (!bench_run_in_child(job_child, jb, &result, sizeof result, job_alarm(jb), &bench_running_child, &bench_interrupted,
	                        error, sizeof error))
		snprintf(result.error, sizeof result.error, "%s", error);
	result.error[sizeof result.error - 1] = '\0';
	return result;
}

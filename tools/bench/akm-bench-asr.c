/*
 * akm-bench-asr: the station's side of operational ASRs (docs/asr.md §2;
 * docs/performance.md), for n = 1,000 and 10,000 members (and 100,000 with
 * --large or AKM_BENCH_ASR_LARGE=1), each n on a fresh token:
 *
 *   (a) n PRs provisioned through the module (CKM_AKM_RELATIONSHIP_BATCH_GEN,
 *       batches of AKM_BATCH_MAX), timed for the record;
 *   (b) "created with every package": CKM_AKM_ASR_GEN, then each member's
 *       package (CKM_AKM_ASR_PACKAGE) signed with an EC key in the token
 *       (C_Sign CKM_ECDSA over its SHA-256); the three parts timed apart;
 *   (c) one removal (CKM_AKM_ASR_UPDATE REMOVE, the middle member) and its
 *       rekey message (CKM_AKM_ASR_REKEY_MESSAGE): station time, bytes,
 *       wrapped keys, against the bound 2 x ceil(log2 n) + 2;
 *   (d) the naive scheme in the same run, on SoftHSM2 directly: after a
 *       removal a fresh group key wrapped under each of the n - 1 remaining
 *       members' PR-like AES keys (n - 1 C_WrapKey, CKM_AES_KEY_WRAP_PAD).
 *
 * Output: one line per measurement, "name key=value ...", on stdout;
 * progress on stderr.  Exit status: 0 whatever the figures say, 1 when a
 * step failed, 2 on a bad command line.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench/bench-env.h"
#include "shared/p11.h"

#include "akm/pkcs11-akm.h"
#include "lib/fmt-asr.h"

#define BA_TOKEN_LABEL "akm-abench"
#define BA_USER_PIN "1234"
#define BA_SO_PIN "12345678"
#define BA_STATION "bench-station"

typedef struct ba_job {
	const char *module_path;
	unsigned long n;
} ba_job;

typedef struct ba_result {
	int ok;
	char error[512];
	double provision_s, gen_s, packages_s, sign_s, remove_s, message_s;
	unsigned long capacity, package_bytes, message_bytes, edges;
} ba_result;

static int open_token(akm_p11 *p, const char *module, char *error, size_t errlen)
{
	/* The bench token's PIN is not a secret (bench-env made the token). */
	int rc = akm_p11_open(p, module, BA_TOKEN_LABEL) != 0 || akm_p11_login(p, BA_USER_PIN, strlen(BA_USER_PIN)) != 0
	                 ? -1
	                 : 0;
	if (rc != 0)
		snprintf(error, errlen, "%s", p->err);
	return rc;
}

static void member_id(unsigned long i, char out[24])
{
	snprintf(out, 24, "m%07lu", i);
}

#define FAIL(...)                                               \
	do {                                                    \
		snprintf(r->error, sizeof r->error, __VA_ARGS__); \
		goto out;                                       \
	} while (0)

static bool station_job(void *out, const void *arg)
{
	ba_result *r = out;
	const ba_job *jb = arg;
	unsigned long n = jb->n;
	akm_p11 p;
	char (*ids)[24] = calloc(n, sizeof *ids);
	char (*labels)[24] = calloc(AKM_BATCH_MAX, sizeof *labels);
	CK_ATTRIBUTE (*tmpls)[4] = calloc(AKM_BATCH_MAX, sizeof *tmpls);
	CK_ATTRIBUTE_PTR *tp = calloc(AKM_BATCH_MAX, sizeof *tp);
	CK_ULONG *counts = calloc(AKM_BATCH_MAX, sizeof *counts);
	CK_OBJECT_HANDLE *handles = calloc(AKM_BATCH_MAX, sizeof *handles);
	CK_BYTE_PTR *mids = calloc(n, sizeof *mids);
	CK_ULONG *mlens = calloc(n, sizeof *mlens);
	bool ok = false;
	if (!ids || !labels || !tmpls || !tp || !counts || !handles || !mids || !mlens) {
		snprintf(r->error, sizeof r->error, "out of memory");
		goto done;
	}
	if (open_token(&p, jb->module_path, r->error, sizeof r->error) != 0)
		goto done;
	CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING;
	for (unsigned long i = 0; i < n; i++) {
		member_id(i, ids[i]);
		mids[i] = (CK_BYTE_PTR)ids[i];
		mlens[i] = strlen(ids[i]);
	}
	/* (a) the PRs, in batches. */
	double t0 = bench_now();
	for (unsigned long base = 0; base < n; base += AKM_BATCH_MAX) {
		unsigned long k = n - base < AKM_BATCH_MAX ? n - base : AKM_BATCH_MAX;
		for (unsigned long j = 0; j < k; j++) {
			snprintf(labels[j], sizeof labels[j], "pr-%s", ids[base + j]);
			tmpls[j][0] = (CK_ATTRIBUTE){CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
			tmpls[j][1] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, ids[base + j], strlen(ids[base + j])};
			tmpls[j][2] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, "bench-hw", 8};
			tmpls[j][3] = (CK_ATTRIBUTE){CKA_LABEL, labels[j], strlen(labels[j])};
			tp[j] = tmpls[j];
			counts[j] = 4;
		}
		CK_AKM_BATCH_GEN_PARAMS bp = {k, tp, counts, handles};
		CK_MECHANISM bm = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &bp, sizeof bp};
		CK_OBJECT_HANDLE first;
		CK_RV rv = p.f->C_GenerateKey(p.session, &bm, NULL, 0, &first);
		if (rv != CKR_OK)
			FAIL("C_GenerateKey(CKM_AKM_RELATIONSHIP_BATCH_GEN): 0x%lx", (unsigned long)rv);
	}
	r->provision_s = bench_now() - t0;
	/* The station's signing key, in the token. */
	CK_OBJECT_HANDLE pub, priv;
	if (akm_p11_ec_generate(&p, false, "bench station", NULL, 0, &pub, &priv) != 0)
		FAIL("%s", p.err);
	/* (b) creation, packages, signatures. */
	CK_AKM_ASR_GEN_PARAMS gp;
	memset(&gp, 0, sizeof gp);
	gp.ulMemberCount = n;
	gp.ppMembers = mids;
	gp.pulMemberLens = mlens;
	CK_MECHANISM gm = {CKM_AKM_ASR_GEN, &gp, sizeof gp};
	CK_ATTRIBUTE tmpl[] = {{CKA_AKM_STATION_ID, BA_STATION, strlen(BA_STATION)}, {CKA_LABEL, "bench-asr", 9}};
	CK_OBJECT_HANDLE asr;
	t0 = bench_now();
	CK_RV rv = p.f->C_GenerateKey(p.session, &gm, tmpl, 2, &asr);
	if (rv != CKR_OK)
		FAIL("C_GenerateKey(CKM_AKM_ASR_GEN): 0x%lx", (unsigned long)rv);
	r->gen_s = bench_now() - t0;
	if (akm_p11_get_ulong(&p, asr, CKA_AKM_ASR_CAPACITY, &r->capacity) != 0)
		FAIL("%s", p.err);
	double pack = 0, sign = 0;
	for (unsigned long i = 0; i < n; i++) {
		uint8_t buf[2048], digest[32], sig[64];
		CK_ULONG len = sizeof buf;
		CK_AKM_ASR_MEMBER_PARAMS mp = {mids[i], mlens[i]};
		CK_MECHANISM pm = {CKM_AKM_ASR_PACKAGE, &mp, sizeof mp};
		double a = bench_now();
		if ((rv = p.f->C_WrapKey(p.session, &pm, CK_INVALID_HANDLE, asr, buf, &len)) != CKR_OK)
			FAIL("C_WrapKey(CKM_AKM_ASR_PACKAGE, %s): 0x%lx", ids[i], (unsigned long)rv);
		double b = bench_now();
		crypto_hash_sha256(digest, buf, len);
		if (akm_p11_sign_digest(&p, priv, digest, sig) != 0)
			FAIL("%s", p.err);
		sign += bench_now() - b;
		pack += b - a;
		r->package_bytes = len + 64;
	}
	r->packages_s = pack;
	r->sign_s = sign;
	/* (c) one removal and its message. */
	CK_AKM_ASR_UPDATE_PARAMS up = {CKV_AKM_ASR_REMOVE, mids[n / 2], mlens[n / 2]};
	CK_MECHANISM um = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
	CK_OBJECT_HANDLE same;
	t0 = bench_now();
	if ((rv = p.f->C_DeriveKey(p.session, &um, asr, NULL, 0, &same)) != CKR_OK)
		FAIL("C_DeriveKey(CKM_AKM_ASR_UPDATE REMOVE): 0x%lx", (unsigned long)rv);
	double t1 = bench_now();
	uint8_t msg[4096];
	CK_ULONG mlen = sizeof msg;
	CK_MECHANISM rm = {CKM_AKM_ASR_REKEY_MESSAGE, NULL, 0};
	if ((rv = p.f->C_WrapKey(p.session, &rm, CK_INVALID_HANDLE, asr, msg, &mlen)) != CKR_OK)
		FAIL("C_WrapKey(CKM_AKM_ASR_REKEY_MESSAGE): 0x%lx", (unsigned long)rv);
	r->remove_s = t1 - t0;
	r->message_s = bench_now() - t1;
	/* The message as a member gets it: signed part and signature. */
	memset(msg + mlen, 0, 64);
	static akm_asr_rekey parsed;
	size_t signed_len;
	if (akm_asr_rekey_parse(msg, mlen + 64, &parsed, &signed_len) != AKM_FMT_OK)
		FAIL("the rekey message does not parse");
	r->message_bytes = mlen + 64;
	r->edges = parsed.nedges;
	ok = true;
	r->ok = 1;
out:
	akm_p11_close(&p);
done:
	free(ids);
	free(labels);
	free(tmpls);
	free(tp);
	free(counts);
	free(handles);
	free(mids);
	free(mlens);
	return ok;
}

/* (d) the naive scheme, on SoftHSM2 directly. */
typedef struct naive_result {
	int ok;
	char error[512];
	double keys_s, wrap_s;
	unsigned long wraps;
} naive_result;

static bool naive_job(void *out, const void *arg)
{
	naive_result *r = out;
	const ba_job *jb = arg;
	akm_p11 p;
	bool ok = false;
	unsigned long n = jb->n - 1;
	CK_OBJECT_HANDLE *keys = calloc(n, sizeof *keys);
	if (keys == NULL || open_token(&p, jb->module_path, r->error, sizeof r->error) != 0) {
		free(keys);
		return false;
	}
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE pr[] = {{CKA_TOKEN, &no, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1},
	                     {CKA_VALUE_LEN, &len, sizeof len}, {CKA_WRAP, &yes, 1}};
	CK_ATTRIBUTE grp[] = {{CKA_TOKEN, &no, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &yes, 1},
	                      {CKA_VALUE_LEN, &len, sizeof len}};
	double t0 = bench_now();
	for (unsigned long i = 0; i < n; i++) {
		CK_RV rv = p.f->C_GenerateKey(p.session, &gen, pr, 5, &keys[i]);
		if (rv != CKR_OK)
			FAIL("C_GenerateKey (PR-like key): 0x%lx", (unsigned long)rv);
	}
	r->keys_s = bench_now() - t0;
	CK_OBJECT_HANDLE group;
	CK_RV rv = p.f->C_GenerateKey(p.session, &gen, grp, 4, &group);
	if (rv != CKR_OK)
		FAIL("C_GenerateKey (group key): 0x%lx", (unsigned long)rv);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	t0 = bench_now();
	for (unsigned long i = 0; i < n; i++) {
		uint8_t w[64];
		CK_ULONG wl = sizeof w;
		if ((rv = p.f->C_WrapKey(p.session, &kwp, keys[i], group, w, &wl)) != CKR_OK)
			FAIL("C_WrapKey: 0x%lx", (unsigned long)rv);
	}
	r->wrap_s = bench_now() - t0;
	r->wraps = n;
	r->ok = 1;
	ok = true;
out:
	akm_p11_close(&p);
	free(keys);
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: akm-bench-asr --module PATH --softhsm PATH [--counts N[,N...]] [--large]\n"
	           "  --module PATH    akm-pkcs11.so\n"
	           "  --softhsm PATH   libsofthsm2.so (also akm-pkcs11's backend)\n"
	           "  --counts LIST    member counts, 2 .. 131072 (default 1000,10000)\n"
	           "  --large          add 100000 (also AKM_BENCH_ASR_LARGE=1)\n");
}

int main(int argc, char **argv)
{
	const char *module = NULL, *softhsm = NULL, *counts = "1000,10000";
	bool large = getenv("AKM_BENCH_ASR_LARGE") != NULL && strcmp(getenv("AKM_BENCH_ASR_LARGE"), "1") == 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--module") == 0 && i + 1 < argc)
			module = argv[++i];
		else if (strcmp(argv[i], "--softhsm") == 0 && i + 1 < argc)
			softhsm = argv[++i];
		else if (strcmp(argv[i], "--counts") == 0 && i + 1 < argc)
			counts = argv[++i];
		else if (strcmp(argv[i], "--large") == 0)
			large = true;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (module == NULL || softhsm == NULL) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	unsigned long ns[16];
	int nn = 0;
	char list[256];
	snprintf(list, sizeof list, "%s%s", counts, large ? ",100000" : "");
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && nn < 16; tok = strtok_r(NULL, ",", &save)) {
		if (bench_parse_count(tok, 2, 1UL << 17, &ns[nn]) != 0) {
			fprintf(stderr, "akm-bench-asr: --counts: %s is not a count in 2 .. 131072\n", tok);
			return 2;
		}
		nn++;
	}
	bench_catch_interrupts();
	int status = 0;
	for (int k = 0; k < nn && !bench_interrupted; k++) {
		unsigned long n = ns[k];
		char tag[32], error[512];
		bench_env env;
		snprintf(tag, sizeof tag, "akm-%lu", n);
		fprintf(stderr, "akm-bench-asr: %lu members: provisioning, creating, packaging...\n", n);
		if (bench_env_create(&env, "akm-bench-asr", tag, softhsm, BA_TOKEN_LABEL, BA_SO_PIN, BA_USER_PIN) != 0)
			return 1;
		ba_job jb = {module, n};
		ba_result r;
		bool ok = bench_run_in_child(station_job, &jb, &r, sizeof r, 3600, &bench_running_child, &bench_interrupted,
		                             error, sizeof error);
		bench_env_destroy(&env);
		if (!ok || !r.ok) {
			fprintf(stderr, "akm-bench-asr: %lu members: %s\n", n, r.ok ? error : r.error[0] ? r.error : error);
			status = 1;
			continue;
		}
		unsigned long bound = 2 * (unsigned long)ceil(log2((double)n)) + 2;
		printf("asr-provision members=%lu prs=%lu seconds=%.3f prs_per_s=%.0f\n", n, n, r.provision_s,
		       n / r.provision_s);
		printf("asr-create members=%lu capacity=%lu gen_s=%.3f packages_s=%.3f sign_s=%.3f "
		       "created_with_packages_s=%.3f per_package_us=%.1f package_bytes=%lu target_s=%s\n",
		       n, r.capacity, r.gen_s, r.packages_s, r.sign_s, r.gen_s + r.packages_s + r.sign_s,
		       1e6 * r.packages_s / n, r.package_bytes, n == 10000 ? "2" : "-");
		printf("asr-remove members=%lu remove_s=%.4f message_s=%.4f station_s=%.4f message_bytes=%lu "
		       "wrapped_keys=%lu bound=%lu target_s=%s\n",
		       n, r.remove_s, r.message_s, r.remove_s + r.message_s, r.message_bytes, r.edges, bound,
		       n == 100000 ? "0.5" : "-");
		fflush(stdout);
		/* (d) on SoftHSM2 alone. */
		snprintf(tag, sizeof tag, "softhsm-%lu", n);
		if (bench_env_create(&env, "akm-bench-asr", tag, softhsm, BA_TOKEN_LABEL, BA_SO_PIN, BA_USER_PIN) != 0)
			return 1;
		ba_job nj = {softhsm, n};
		naive_result nr;
		ok = bench_run_in_child(naive_job, &nj, &nr, sizeof nr, 3600, &bench_running_child, &bench_interrupted, error,
		                        sizeof error);
		bench_env_destroy(&env);
		if (!ok || !nr.ok) {
			fprintf(stderr, "akm-bench-asr: naive, %lu members: %s\n", n, nr.ok ? error : nr.error[0] ? nr.error : error);
			status = 1;
			continue;
		}
		printf("naive-rewrap members=%lu wraps=%lu wrap_s=%.4f bytes=%lu tree_over_naive_keys=%.4f "
		       "tree_over_naive_time=%.4f\n",
		       n, nr.wraps, nr.wrap_s, nr.wraps * 40, (double)r.edges / nr.wraps,
		       (r.remove_s + r.message_s) / nr.wrap_s);
		fflush(stdout);
	}
	return status;
}

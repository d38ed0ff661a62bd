/*
 * akm-bench-asr: operational ASRs (docs/performance.md, "Operational
 * ASRs"), against the alternatives in the same run.
 *
 *   (a) creation at the station, for each --sizes n: n provisioning
 *       relationships made first (not timed), then CKM_AKM_ASR_GEN over all
 *       of them and every member's package (CKM_AKM_ASR_PACKAGE, SHA-256,
 *       the station's ECDSA signature in the token): "created with every
 *       package";
 *   (b) one removal from those n: CKM_AKM_ASR_UPDATE (remove), the rekey
 *       message (CKM_AKM_ASR_REKEY_MESSAGE) and its signature: station
 *       time, bytes, wrapped keys; beside it the scheme without a key tree,
 *       per-member rewrap, measured on SoftHSM2 directly as a station with
 *       KEK-wrapped PR keys would do it: for each of the n-1 remaining
 *       members, its PR key unwrapped from its blob, the new group key
 *       wrapped under it, the PR key destroyed;
 *   (c) protected messages of --bytes (256) between two members, each a
 *       SoftHSM2 token of its own reached through akm-pkcs11.so (enrolled
 *       from real packages): seals per second by one, opens per second by
 *       the other (akm_node_seal, akm_node_open_in: C_EncryptInit/C_Encrypt,
 *       C_DecryptInit/C_Decrypt on the membership held), and the pair rate;
 *       beside it raw AES-256-GCM through SoftHSM2 (C_EncryptInit/C_Encrypt
 *       then C_DecryptInit/C_Decrypt, a fresh IV and the same
 *       authenticated-data length), and the ratio; then what akm_node_open
 *       (akm-node open) adds per message, looking the membership up by the
 *       message's ASR ID and reading its epoch, and the pair rate and ratio
 *       with it.
 *
 * Every measurement runs in a forked child that loads its module.  Output:
 * one line per measurement, "name key=value ...", on stdout; progress on
 * stderr.  Exit status: 0 whatever the figures say, 1 when a step failed,
 * 2 on a bad command line.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/act-fleet.h"
#include "bench/bench-env.h"
#include "lib/fmt-asr.h"
#include "shared/files.h"

#define AB_LABEL "akm-asrbench"
#define AB_PIN "1234"
#define AB_SO_PIN "12345678"
#define AB_SIZES_MAX 8

typedef struct ab_options {
	const char *module, *softhsm;
	unsigned long sizes[AB_SIZES_MAX];
	size_t nsizes;
	unsigned long messages, bytes;
	const char *dir;              /* the bench folder (set in main) */
	const char *akm_conf;
	unsigned long n;              /* the size a child works on */
} ab_options;

/* ---- (a), (b): the station ---- */

typedef struct station_result {
	double setup_s, gen_s, packages_s, remove_s;
	unsigned long package_bytes, rekey_bytes, rekey_edges, depth;
} station_result;

static bool fail(akm_p11 *p, const char *what)
{
	fprintf(stderr, "akm-bench-asr: %s: %s\n", what, p->err);
	return false;
}

#define CALL(p, what, expr)                                     \
	do {                                                    \
		CK_RV rv_ = (expr);                             \
		if (rv_ != CKR_OK) {                            \
			akm_p11_fail((p), what, rv_, NULL);     \
			return fail((p), what);                 \
		}                                               \
	} while (0)

/* n PRs with random node IDs (as akm-nmm makes them), in batches. */
static bool make_prs(akm_p11 *p, unsigned long n, uint8_t (*ids)[16], const uint8_t *station, size_t station_len)
{
	static const CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	enum { B = 5000 };
	CK_ATTRIBUTE(*t)[4] = calloc(B, sizeof *t);
	CK_ATTRIBUTE_PTR *tp = calloc(B, sizeof *tp);
	CK_ULONG *tc = calloc(B, sizeof *tc);
	CK_OBJECT_HANDLE *keys = calloc(B, sizeof *keys);
	char (*hw)[24] = calloc(B, sizeof *hw);
	if (!t || !tp || !tc || !keys || !hw)
		return false;
	randombytes_buf(ids, n * 16);
	for (unsigned long first = 0; first < n; first += B) {
		unsigned long count = n - first < B ? n - first : B;
		for (unsigned long j = 0; j < count; j++) {
			int len = snprintf(hw[j], sizeof hw[j], "hw-%lu", first + j);
			t[j][0] = (CK_ATTRIBUTE){CKA_AKM_KIND, (void *)&kind, sizeof kind};
			t[j][1] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, ids[first + j], 16};
			t[j][2] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, hw[j], (CK_ULONG)len};
			t[j][3] = (CK_ATTRIBUTE){CKA_AKM_STATION_ID, (void *)station, station_len};
			tp[j] = t[j];
			tc[j] = 4;
		}
		CK_AKM_BATCH_GEN_PARAMS bp = {count, tp, tc, keys};
		CK_MECHANISM m = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &bp, sizeof bp};
		CK_OBJECT_HANDLE first_key;
		CALL(p, "C_GenerateKey (PR batch)", p->f->C_GenerateKey(p->session, &m, NULL, 0, &first_key));
	}
	free(t);
	free(tp);
	free(tc);
	free(keys);
	free(hw);
	return true;
}

static bool sign(akm_p11 *p, CK_OBJECT_HANDLE priv, uint8_t *buf, size_t len)
{
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, len);
	return akm_p11_sign_digest(p, priv, digest, buf + len) == 0;
}

static bool station_job(void *out, const void *arg)
{
	const ab_options *o = arg;
	station_result *r = out;
	akm_p11 p;
	if (akm_p11_open(&p, o->module, AB_LABEL) != 0 || akm_p11_login(&p, AB_PIN, strlen(AB_PIN)) != 0)
		return fail(&p, "the station token");
	unsigned long n = o->n;
	uint8_t station[16];
	randombytes_buf(station, sizeof station);
	uint8_t(*ids)[16] = calloc(n, sizeof *ids);
	CK_BYTE_PTR *members = calloc(n, sizeof *members);
	CK_ULONG *lens = calloc(n, sizeof *lens);
	if (!ids || !members || !lens)
		return false;
	double t0 = bench_now();
	if (!make_prs(&p, n, ids, station, sizeof station))
		return false;
	CK_OBJECT_HANDLE pub, priv;
	if (akm_p11_ec_generate(&p, false, NULL, NULL, 0, &pub, &priv) != 0)
		return fail(&p, "the station's key pair");
	r->setup_s = bench_now() - t0;
	fprintf(stderr, "akm-bench-asr: %lu PRs made in %.1f s\n", n, r->setup_s);

	for (unsigned long i = 0; i < n; i++) {
		members[i] = ids[i];
		lens[i] = 16;
	}
	CK_AKM_ASR_GEN_PARAMS gp = {.policy = {0}, .ulMemberCount = n, .ppMembers = members, .pulMemberLens = lens};
	CK_MECHANISM gen = {CKM_AKM_ASR_GEN, &gp, sizeof gp};
	static const CK_ULONG operational = CKV_AKM_KIND_OPERATIONAL;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_KIND, (void *)&operational, sizeof operational},
		{CKA_LABEL, "bench", 5},
		{CKA_AKM_STATION_ID, station, sizeof station},
	};
	size_t cap = akm_asr_package_max() > akm_asr_rekey_max() ? akm_asr_package_max() : akm_asr_rekey_max();
	uint8_t *buf = malloc(cap);
	CK_OBJECT_HANDLE asr;
	double t1 = bench_now();
	CALL(&p, "C_GenerateKey (CKM_AKM_ASR_GEN)", p.f->C_GenerateKey(p.session, &gen, t, 3, &asr));
	double t2 = bench_now();
	for (unsigned long i = 0; i < n; i++) {
		CK_AKM_ASR_MEMBER_PARAMS mp = {ids[i], 16};
		CK_MECHANISM pm = {CKM_AKM_ASR_PACKAGE, &mp, sizeof mp};
		CK_ULONG len = (CK_ULONG)(cap - AKM_FMT_SIG_LEN);
		CALL(&p, "C_WrapKey (CKM_AKM_ASR_PACKAGE)", p.f->C_WrapKey(p.session, &pm, CK_INVALID_HANDLE, asr, buf, &len));
		if (!sign(&p, priv, buf, len))
			return fail(&p, "signing a package");
		r->package_bytes = len + AKM_FMT_SIG_LEN;
	}
	double t3 = bench_now();
	r->gen_s = t2 - t1;
	r->packages_s = t3 - t2;

	/* One removal, from the middle of the tree. */
	CK_AKM_ASR_UPDATE_PARAMS up = {CKV_AKM_ASR_REMOVE, ids[n / 2], 16};
	CK_MECHANISM um = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
	CK_MECHANISM rm = {CKM_AKM_ASR_REKEY_MESSAGE, NULL, 0};
	CK_OBJECT_HANDLE h;
	CK_ULONG len = (CK_ULONG)(cap - AKM_FMT_SIG_LEN);
	double t4 = bench_now();
	CALL(&p, "C_DeriveKey (remove)", p.f->C_DeriveKey(p.session, &um, asr, NULL, 0, &h));
	CALL(&p, "C_WrapKey (rekey message)", p.f->C_WrapKey(p.session, &rm, CK_INVALID_HANDLE, asr, buf, &len));
	if (!sign(&p, priv, buf, len))
		return fail(&p, "signing the rekey message");
	r->remove_s = bench_now() - t4;
	akm_asr_rekey rk;
	size_t signed_len;
	if (akm_asr_rekey_parse(buf, len + AKM_FMT_SIG_LEN, &rk, &signed_len) != AKM_FMT_OK)
		return false;
	r->rekey_bytes = len + AKM_FMT_SIG_LEN;
	r->rekey_edges = rk.nedges;
	r->depth = rk.head.depth;
	free(buf);
	free(ids);
	free(members);
	free(lens);
	akm_p11_close(&p);
	return true;
}

/* A session AES-256 key in SoftHSM2 for wrapping (extractable, so that
 * it can also be wrapped) or for AES-GCM. */
static bool aes_key(akm_p11 *p, bool wrapping, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG vlen = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, w = wrapping ? CK_TRUE : CK_FALSE, c = wrapping ? CK_FALSE : CK_TRUE;
	CK_ATTRIBUTE kt[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_VALUE_LEN, &vlen, sizeof vlen},
		{CKA_TOKEN, &no, 1}, {CKA_WRAP, &w, 1}, {CKA_UNWRAP, &w, 1}, {CKA_EXTRACTABLE, &w, 1},
		{CKA_ENCRYPT, &c, 1}, {CKA_DECRYPT, &c, 1}, {CKA_SENSITIVE, &yes, 1},
	};
	CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};
	CALL(p, "C_GenerateKey", p->f->C_GenerateKey(p->session, &kg, kt, sizeof kt / sizeof kt[0], h));
	return true;
}

/* Per-member rewrap on SoftHSM2 directly: n-1 x (unwrap the PR key from
 * its blob under the KEK, wrap the new group key under it, destroy it). */
typedef struct rewrap_result {
	double seconds;
	unsigned long wraps;
} rewrap_result;

static bool rewrap_job(void *out, const void *arg)
{
	const ab_options *o = arg;
	rewrap_result *r = out;
	akm_p11 p;
	if (akm_p11_open(&p, o->softhsm, AB_LABEL) != 0 || akm_p11_login(&p, AB_PIN, strlen(AB_PIN)) != 0)
		return fail(&p, "SoftHSM2");
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE kek, pr, group;
	if (!aes_key(&p, true, &kek) || !aes_key(&p, true, &pr) || !aes_key(&p, true, &group))
		return false;
	uint8_t blob[64], wrapped[64];
	CK_ULONG blen = sizeof blob;
	CALL(&p, "C_WrapKey", p.f->C_WrapKey(p.session, &kwp, kek, pr, blob, &blen));
	CK_ATTRIBUTE ut[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
		{CKA_WRAP, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1},
	};
	unsigned long wraps = o->n - 1;
	double t0 = bench_now();
	for (unsigned long i = 0; i < wraps; i++) {
		CK_OBJECT_HANDLE k;
		CK_ULONG wlen = sizeof wrapped;
		CALL(&p, "C_UnwrapKey", p.f->C_UnwrapKey(p.session, &kwp, kek, blob, blen, ut, 6, &k));
		CALL(&p, "C_WrapKey", p.f->C_WrapKey(p.session, &kwp, k, group, wrapped, &wlen));
		CALL(&p, "C_DestroyObject", p.f->C_DestroyObject(p.session, k));
	}
	r->seconds = bench_now() - t0;
	r->wraps = wraps;
	akm_p11_close(&p);
	return true;
}

/* ---- (c) messages ---- */

typedef struct msg_result {
	double seconds;
	unsigned long count;
	double lookup_s;              /* opener: what akm_node_open adds, for as many messages */
} msg_result;

static void member_conf(const ab_options *o, size_t i, char *path, size_t cap)
{
	snprintf(path, cap, "%s/member-%zu.conf", o->dir, i);
}

/* The ASR "bench" among the fleet's two nodes, packages into the folder. */
static bool create_job(void *out, const void *arg)
{
	const ab_options *o = arg;
	(void)out;
	nmm_station s = {0};
	if (akm_p11_open(&s.p, o->module, AB_LABEL) != 0 || akm_p11_login(&s.p, AB_PIN, strlen(AB_PIN)) != 0)
		return fail(&s.p, "the station");
	s.open = true;
	nmm_node nodes[2];
	if (nmm_station_read(&s) != 0 || nmm_node_find(&s, "asrb-0", &nodes[0]) != 0 ||
	    nmm_node_find(&s, "asrb-1", &nodes[1]) != 0)
		return false;
	nmm_asr_create_req req = {.name = "bench", .nodes = nodes, .count = 2, .dir = o->dir};
	nmm_asr a;
	bool ok = nmm_asr_create(&s, &req, &a) == AKM_RC_OK;
	nmm_station_close(&s);
	return ok;
}

/* Member o->n enrolls, then seals (member 0) or opens (member 1)
 * o->messages messages through its file. */
static bool member_job(void *out, const void *arg)
{
	const ab_options *o = arg;
	msg_result *r = out;
	char conf[4096], label[33], pkg[4096], msgs[4096], err[512];
	member_conf(o, o->n, conf, sizeof conf);
	setenv("AKM_PKCS11_CONF", conf, 1);
	snprintf(label, sizeof label, "asrb-%lu", o->n);
	snprintf(pkg, sizeof pkg, "%s/bench.asrb-%lu.akma", o->dir, o->n);
	snprintf(msgs, sizeof msgs, "%s/messages", o->dir);
	akm_p11 p;
	if (akm_p11_open(&p, o->module, label) != 0 || akm_p11_login(&p, AB_PIN, strlen(AB_PIN)) != 0)
		return fail(&p, label);
	uint8_t *buf;
	size_t len;
	akm_node_asr a;
	if (akm_read_file(pkg, akm_asr_package_max(), &buf, &len) != AKM_READ_OK ||
	    akm_node_enroll(&p, buf, len, &a, err, sizeof err) != AKM_RC_OK) {
		fprintf(stderr, "akm-bench-asr: %s enrolls: %s\n", label, err);
		return false;
	}
	free(buf);
	size_t mlen = akm_asr_message_header_len(a.id_len) + o->bytes + AKM_ASR_TAG_LEN;
	uint8_t *all = malloc(mlen * o->messages);
	uint8_t *plain = calloc(1, o->bytes);
	if (all == NULL || plain == NULL)
		return false;
	double t0;
	if (o->n == 0) {
		t0 = bench_now();
		for (unsigned long i = 0; i < o->messages; i++) {
			uint8_t *m;
			size_t ml;
			if (akm_node_seal(&p, &a, plain, o->bytes, &m, &ml, err, sizeof err) != AKM_RC_OK || ml != mlen) {
				fprintf(stderr, "akm-bench-asr: seal: %s\n", err);
				return false;
			}
			memcpy(all + i * mlen, m, mlen);
			free(m);
		}
		r->seconds = bench_now() - t0;
		if (akm_write_atomic(NULL, msgs, all, mlen * o->messages, 0600, err, sizeof err) != 0)
			return false;
	} else {
		size_t got;
		uint8_t *in;
		if (akm_read_file(msgs, mlen * o->messages, &in, &got) != AKM_READ_OK || got != mlen * o->messages)
			return false;
		t0 = bench_now();
		for (unsigned long i = 0; i < o->messages; i++) {
			akm_asr_message h;
			uint8_t *pt;
			size_t pl;
			if (akm_node_open_in(&p, &a, in + i * mlen, mlen, &h, &pt, &pl, err, sizeof err) != AKM_RC_OK) {
				fprintf(stderr, "akm-bench-asr: open: %s\n", err);
				return false;
			}
			free(pt);
		}
		r->seconds = bench_now() - t0;
		/* What akm_node_open (akm-node open) adds per message: the
		 * membership looked up by the message's ASR ID, its epoch read. */
		t0 = bench_now();
		for (unsigned long i = 0; i < o->messages; i++) {
			akm_node_asr b;
			CK_ULONG epoch;
			if (akm_node_asr_find(&p, NULL, a.id, a.id_len, &b) != 1 ||
			    akm_p11_get_ulong(&p, b.key, CKA_AKM_EPOCH, &epoch) != 0)
				return false;
		}
		r->lookup_s = bench_now() - t0;
		free(in);
	}
	r->count = o->messages;
	free(all);
	free(plain);
	akm_p11_close(&p);
	return true;
}

/* Raw AES-256-GCM on SoftHSM2: encrypt then decrypt, o->messages times. */
static bool raw_job(void *out, const void *arg)
{
	const ab_options *o = arg;
	msg_result *r = out;
	akm_p11 p;
	if (akm_p11_open(&p, o->softhsm, AB_LABEL) != 0 || akm_p11_login(&p, AB_PIN, strlen(AB_PIN)) != 0)
		return fail(&p, "SoftHSM2");
	CK_OBJECT_HANDLE key;
	if (!aes_key(&p, false, &key))
		return false;
	uint8_t iv[12] = {0}, aad[64] = {0};
	size_t aad_len = akm_asr_message_header_len(16);
	uint8_t *plain = calloc(1, o->bytes), *ct = malloc(o->bytes + 16), *back = malloc(o->bytes + 16);
	double t0 = bench_now();
	for (unsigned long i = 0; i < o->messages; i++) {
		memcpy(iv + 4, &i, sizeof i);
		CK_GCM_PARAMS gp = {iv, sizeof iv, 96, aad, aad_len, 128};
		CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof gp};
		CK_ULONG cl = o->bytes + 16, pl = o->bytes + 16;
		CALL(&p, "C_EncryptInit", p.f->C_EncryptInit(p.session, &m, key));
		CALL(&p, "C_Encrypt", p.f->C_Encrypt(p.session, plain, o->bytes, ct, &cl));
		CALL(&p, "C_DecryptInit", p.f->C_DecryptInit(p.session, &m, key));
		CALL(&p, "C_Decrypt", p.f->C_Decrypt(p.session, ct, cl, back, &pl));
	}
	r->seconds = bench_now() - t0;
	r->count = o->messages;
	free(plain);
	free(ct);
	free(back);
	akm_p11_close(&p);
	return true;
}

static bool in_child(bool (*fn)(void *, const void *), const ab_options *o, void *out, size_t size,
                     const char *what)
{
	char err[256];
	if (bench_run_in_child(fn, o, out, size, 3600, &bench_running_child, &bench_interrupted, err, sizeof err))
		return true;
	fprintf(stderr, "akm-bench-asr: %s failed: %s\n", what, err);
	return false;
}

static int usage(int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: akm-bench-asr --module akm-pkcs11.so --softhsm libsofthsm2.so [--sizes 1000,10000]\n"
	        "                     [--messages N] [--bytes B]\n");
	return code;
}

int main(int argc, char **argv)
{
	ab_options o = {.messages = 5000, .bytes = 256};
	const char *sizes = "1000,10000";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return usage(0);
		if (v == NULL)
			return usage(2);
		i++;
		if (strcmp(a, "--module") == 0)
			o.module = v;
		else if (strcmp(a, "--softhsm") == 0)
			o.softhsm = v;
		else if (strcmp(a, "--sizes") == 0)
			sizes = v;
		else if (strcmp(a, "--messages") == 0) {
			if (bench_parse_count(v, 1, 10000000, &o.messages) != 0)
				return usage(2);
		} else if (strcmp(a, "--bytes") == 0) {
			if (bench_parse_count(v, 1, AKM_ASR_PLAIN_MAX, &o.bytes) != 0)
				return usage(2);
		} else
			return usage(2);
	}
	if (o.module == NULL || o.softhsm == NULL)
		return usage(2);
	char *copy = strdup(sizes), *save = NULL;
	for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (o.nsizes == AB_SIZES_MAX || bench_parse_count(s, 2, 1UL << AKM_ASR_DEPTH_MAX, &o.sizes[o.nsizes]) != 0)
			return usage(2);
		o.nsizes++;
	}
	free(copy);
	if (sodium_init() < 0)
		return 1;
	bench_catch_interrupts();

	int status = 0;
	for (size_t k = 0; k < o.nsizes && status == 0; k++) {
		bench_env env;
		if (bench_env_create(&env, "akm-bench-asr", "station", o.softhsm, AB_LABEL, AB_SO_PIN, AB_PIN) != 0)
			return 1;
		o.n = o.sizes[k];
		station_result sr = {0};
		rewrap_result rr = {0};
		if (!in_child(station_job, &o, &sr, sizeof sr, "the station") ||
		    !in_child(rewrap_job, &o, &rr, sizeof rr, "per-member rewrap")) {
			status = 1;
		} else {
			double created = sr.gen_s + sr.packages_s;
			unsigned long bound = 2 * (unsigned long)ceil(log2((double)o.n)) + 2;
			printf("asr_create members=%lu depth=%lu seconds=%.3f gen_s=%.3f packages_s=%.3f us_per_member=%.1f "
			       "package_bytes=%lu target_s=%s\n",
			       o.n, sr.depth, created, sr.gen_s, sr.packages_s, created * 1e6 / (double)o.n, sr.package_bytes,
			       o.n == 10000 ? "2" : "-");
			printf("asr_remove members=%lu station_s=%.4f wrapped_keys=%lu bound=%lu bytes=%lu\n", o.n, sr.remove_s,
			       sr.rekey_edges, bound, sr.rekey_bytes);
			printf("rewrap_remove members=%lu station_s=%.4f wrapped_keys=%lu bytes=%lu ratio_tree_vs_rewrap=%.1f\n",
			       o.n, rr.seconds, rr.wraps, rr.wraps * (unsigned long)AKM_ASR_EDGE_LEN,
			       sr.remove_s > 0 ? rr.seconds / sr.remove_s : 0);
			fflush(stdout);
		}
		bench_env_destroy(&env);
	}

	if (status == 0) {
		bench_env env;
		if (bench_env_create(&env, "akm-bench-asr", "messages", o.softhsm, AB_LABEL, AB_SO_PIN, AB_PIN) != 0)
			return 1;
		o.dir = env.dir;
		act_fleet fleet = {0};
		char err[512];
		if (act_fleet_create(&fleet, o.module, AB_LABEL, o.softhsm, "asrb", AB_PIN, 2, err, sizeof err) != 0) {
			fprintf(stderr, "akm-bench-asr: %s\n", err);
			status = 1;
		}
		for (size_t i = 0; status == 0 && i < 2; i++) {
			char conf[4096], text[8192];
			member_conf(&o, i, conf, sizeof conf);
			int n = snprintf(text, sizeof text,
			                 "backend.module = %s\nbackend.token = pkcs11:token=asrb-%zu\nregistry.path = member-%zu.db\n",
			                 o.softhsm, i, i);
			if (akm_write_atomic(NULL, conf, text, (size_t)n, 0600, err, sizeof err) != 0)
				status = 1;
		}
		msg_result seal = {0}, open = {0}, raw = {0};
		if (status == 0) {
			o.n = 0;
			char dummy[1];
			if (!in_child(create_job, &o, dummy, sizeof dummy, "creating the ASR") ||
			    !in_child(member_job, &o, &seal, sizeof seal, "sealing"))
				status = 1;
			o.n = 1;
			if (status == 0 && !in_child(member_job, &o, &open, sizeof open, "opening"))
				status = 1;
			if (status == 0 && !in_child(raw_job, &o, &raw, sizeof raw, "raw AES-GCM"))
				status = 1;
		}
		if (status == 0) {
			double seal_s = seal.seconds / (double)seal.count, open_s = open.seconds / (double)open.count;
			double pair = 1.0 / (seal_s + open_s), raw_pair = (double)raw.count / raw.seconds;
			printf("asr_messages bytes=%lu count=%lu seal_per_s=%.0f open_per_s=%.0f pair_per_s=%.0f\n", o.bytes,
			       seal.count, 1.0 / seal_s, 1.0 / open_s, pair);
			printf("raw_gcm bytes=%lu count=%lu pair_per_s=%.0f\n", o.bytes, raw.count, raw_pair);
			printf("asr_messages_ratio ratio_to_raw=%.2f target=0.8\n", pair / raw_pair);
			double lookup = open.lookup_s / (double)open.count;
			printf("asr_open_lookup count=%lu us_per_open=%.1f pair_per_s=%.0f ratio_to_raw=%.2f\n", open.count,
			       lookup * 1e6, 1.0 / (seal_s + open_s + lookup), 1.0 / (seal_s + open_s + lookup) / raw_pair);
		}
		act_fleet_free(&fleet);
		bench_env_destroy(&env);
	}
	return status;
}

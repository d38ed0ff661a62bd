/*
 * The member side of operational ASRs (docs/asr.md §4–5) through the
 * module: three members, each akm-pkcs11 over its own SoftHSM2 token with
 * its own registry (one copy of the module per member, dlopen'd from its
 * own file so that each has its own state), and a station played by the
 * test on a fourth token through SoftHSM2 directly: its key tree made of
 * extractable AES keys, the edges computed with C_WrapKey
 * (CKM_AES_KEY_WRAP_PAD), packages and rekey messages encoded with
 * src/lib/fmt-asr.c and signed with a P-256 key whose public half each
 * member holds as its anchor.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "akm/pkcs11-akm.h"
#include "common.h"
#include "lib/fmt-asr.h"

#define NMEM 3
#define DEPTH 2
#define CAP (1u << DEPTH)

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const uint8_t ec_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

typedef struct member {
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pr, anchor, asr;
	char label[16], conf[PATH_MAX + 32];
	uint8_t pr_value[32];
} member;

typedef struct world {
	akm_testenv env;
	CK_FUNCTION_LIST *hsm; /* SoftHSM2 directly: the station */
	CK_SESSION_HANDLE st;
	CK_OBJECT_HANDLE sign_key, pub_key;
	CK_OBJECT_HANDLE node[2 * CAP]; /* the station's tree: 1..3 interior, 4..7 the PR keys */
	member m[NMEM];
	uint32_t gen;
	uint64_t gen_start; /* of the current generation: one for every package */
} world;

static world W;

/* ---- the station (SoftHSM2 directly) ---------------------------------------- */

static CK_OBJECT_HANDLE station_aes(const uint8_t *value)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_OBJECT_HANDLE h = 0;
	if (value != NULL) {
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
		                    {CKA_VALUE, (void *)value, 32}, {CKA_TOKEN, (void *)&no, 1},
		                    {CKA_WRAP, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&yes, 1}};
		ck_assert_int_eq(W.hsm->C_CreateObject(W.st, t, 6, &h), CKR_OK);
		return h;
	}
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, (void *)&no, 1},
	                    {CKA_WRAP, (void *)&yes, 1}, {CKA_EXTRACTABLE, (void *)&yes, 1}};
	ck_assert_int_eq(W.hsm->C_GenerateKey(W.st, &gen, t, 4, &h), CKR_OK);
	return h;
}

/* The key of node child/2 wrapped under node child's. */
static void edge(uint32_t child, uint8_t out[AKM_ASR_EDGE_LEN])
{
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ULONG len = AKM_ASR_EDGE_LEN;
	ck_assert_int_eq(W.hsm->C_WrapKey(W.st, &m, W.node[child], W.node[child / 2], out, &len), CKR_OK);
	ck_assert_uint_eq(len, AKM_ASR_EDGE_LEN);
}

static void sign(const uint8_t *p, size_t n, uint8_t sig[64])
{
	uint8_t d[32];
	akm_asr_digest(p, n, d);
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_ULONG len = 64;
	ck_assert_int_eq(W.hsm->C_SignInit(W.st, &m, W.sign_key), CKR_OK);
	ck_assert_int_eq(W.hsm->C_Sign(W.st, d, 32, sig, &len), CKR_OK);
	ck_assert_uint_eq(len, 64);
}

static char member_id(int i) { return (char)('a' + i); }

static void head(akm_asr_head *h, uint32_t gen, uint32_t members, const akm_asr_policy *pol)
{
	memset(h, 0, sizeof *h);
	memcpy(h->station_id, "station-1", 9);
	h->station_id_len = 9;
	memcpy(h->asr_id, "asr-7", 5);
	h->asr_id_len = 5;
	strcpy(h->label, "pumps");
	h->gen = gen;
	h->gen_start = W.gen_start;
	h->policy = *pol;
	h->depth = DEPTH;
	h->members = members;
	akm_asr_member_hash_ctx c;
	akm_asr_member_hash_init(&c);
	for (uint32_t i = 0; i < members; i++) {
		char id[8];
		snprintf(id, sizeof id, "node-%c", member_id((int)i));
		akm_asr_member_hash_add(&c, i, (const uint8_t *)id, strlen(id));
	}
	akm_asr_member_hash_final(&c, h->member_hash);
	h->created = (uint64_t)time(NULL);
}

static size_t package(int i, uint32_t gen, const akm_asr_policy *pol, const char *pr_id, uint8_t *out)
{
	akm_asr_package p;
	memset(&p, 0, sizeof p);
	head(&p.head, gen, NMEM, pol);
	snprintf((char *)p.member_id, sizeof p.member_id, "node-%c", member_id(i));
	p.member_id_len = 6;
	strcpy((char *)p.pr_id, pr_id);
	p.pr_id_len = strlen(pr_id);
	p.leaf = (uint32_t)i;
	uint32_t child = CAP + (uint32_t)i;
	for (int k = 0; k < DEPTH; k++, child /= 2)
		edge(child, p.edges[k].wrapped);
	size_t len = 0;
	ck_assert_int_eq(akm_asr_package_encode(&p, out, 2048, &len), AKM_FMT_OK);
	sign(out, len, out + len);
	return len + 64;
}

static const akm_asr_policy default_policy = {.period = 0, .grace = 60, .msg_limit = 1000, .fail_limit = 16384};

/* ---- members (one module copy each) ------------------------------------------ */

static void member_open(int i)
{
	member *m = &W.m[i];
	char so[PATH_MAX + 32], cmd[2 * PATH_MAX + 96];
	snprintf(so, sizeof so, "%s/akm-%c.so", W.env.dir, member_id(i));
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", W.env.module_path, so);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(m->conf, sizeof m->conf, "%s/akm-%c.conf", W.env.dir, member_id(i));
	FILE *f = fopen(m->conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "backend.module = %s\nbackend.token = pkcs11:token=%s\nregistry.path = %s/reg-%c.db\nlog.level = error\n",
	        W.env.softhsm_path, m->label, W.env.dir, member_id(i));
	fclose(f);
	void *dl;
	m->f = akm_test_load_module(so, &dl);
	ck_assert_ptr_nonnull(m->f);
	setenv("AKM_PKCS11_CONF", m->conf, 1);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	ck_assert_int_eq(m->f->C_Initialize(&args), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(m->f, m->label, &slot), CKR_OK);
	ck_assert_int_eq(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &m->s), CKR_OK);
	ck_assert_int_eq(m->f->C_Login(m->s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)),
	                 CKR_OK);
	/* Its PR's encryption key (tools/node/import.c's template) and the
	 * station's anchor, both pass-through objects of its token. */
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY, pk = CKO_PUBLIC_KEY;
	CK_KEY_TYPE aes = CKK_AES, ec = CKK_EC;
	char prid[8];
	snprintf(prid, sizeof prid, "pr-%c\x01", member_id(i));
	for (int k = 0; k < 32; k++)
		m->pr_value[k] = (uint8_t)(rand() & 0xff);
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes},
	                    {CKA_VALUE, m->pr_value, 32}, {CKA_TOKEN, (void *)&yes, 1},
	                    {CKA_PRIVATE, (void *)&yes, 1}, {CKA_SENSITIVE, (void *)&yes, 1},
	                    {CKA_EXTRACTABLE, (void *)&no, 1}, {CKA_WRAP, (void *)&yes, 1},
	                    {CKA_UNWRAP, (void *)&yes, 1}, {CKA_ENCRYPT, (void *)&yes, 1},
	                    {CKA_DECRYPT, (void *)&yes, 1}, {CKA_ID, prid, 5}};
	ck_assert_int_eq(m->f->C_CreateObject(m->s, t, sizeof t / sizeof t[0], &m->pr), CKR_OK);
	uint8_t point[80];
	CK_ATTRIBUTE pa = {CKA_EC_POINT, point, sizeof point};
	ck_assert_int_eq(W.hsm->C_GetAttributeValue(W.st, W.pub_key, &pa, 1), CKR_OK);
	CK_ATTRIBUTE a[] = {{CKA_CLASS, &pk, sizeof pk}, {CKA_KEY_TYPE, &ec, sizeof ec},
	                    {CKA_EC_PARAMS, (void *)ec_p256, sizeof ec_p256}, {CKA_EC_POINT, point, pa.ulValueLen},
	                    {CKA_TOKEN, (void *)&yes, 1}, {CKA_VERIFY, (void *)&yes, 1},
	                    {CKA_ID, "station-1", 9}, {CKA_LABEL, "akm-station", 11}};
	ck_assert_int_eq(m->f->C_CreateObject(m->s, a, sizeof a / sizeof a[0], &m->anchor), CKR_OK);
	/* The station's copy of the leaf key. */
	W.node[CAP + (uint32_t)i] = station_aes(m->pr_value);
}

static CK_RV enroll(int i, const uint8_t *pkg, size_t len, CK_OBJECT_HANDLE *out)
{
	member *m = &W.m[i];
	CK_AKM_ASR_ENROLL_PARAMS p = {m->anchor};
	CK_MECHANISM mech = {CKM_AKM_ASR_ENROLL, &p, sizeof p};
	return m->f->C_UnwrapKey(m->s, &mech, m->pr, (CK_BYTE *)pkg, (CK_ULONG)len, NULL, 0, out);
}

static CK_RV seal(int i, const void *plain, size_t n, uint8_t *out, CK_ULONG *out_len)
{
	member *m = &W.m[i];
	CK_MECHANISM mech = {CKM_AKM_ASR_SEAL, NULL, 0};
	CK_RV rv = m->f->C_EncryptInit(m->s, &mech, m->asr);
	if (rv != CKR_OK)
		return rv;
	return m->f->C_Encrypt(m->s, (CK_BYTE *)plain, (CK_ULONG)n, out, out_len);
}

static CK_RV open_(int i, const uint8_t *msg, size_t n, uint8_t *out, CK_ULONG *out_len)
{
	member *m = &W.m[i];
	CK_MECHANISM mech = {CKM_AKM_ASR_OPEN, NULL, 0};
	CK_RV rv = m->f->C_DecryptInit(m->s, &mech, m->asr);
	if (rv != CKR_OK)
		return rv;
	return m->f->C_Decrypt(m->s, (CK_BYTE *)msg, (CK_ULONG)n, out, out_len);
}

/* The number of audit records member i's registry has. */
static CK_ULONG audit_count(int i, const char *action)
{
	member *m = &W.m[i];
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
	                    {CKA_AKM_AUDIT_ACTION, (void *)action, action ? strlen(action) : 0}};
	CK_OBJECT_HANDLE h[512];
	CK_ULONG n = 0, total = 0;
	ck_assert_int_eq(m->f->C_FindObjectsInit(m->s, t, action ? 2 : 1), CKR_OK);
	do {
		ck_assert_int_eq(m->f->C_FindObjects(m->s, h, 512, &n), CKR_OK);
		total += n;
	} while (n > 0);
	ck_assert_int_eq(m->f->C_FindObjectsFinal(m->s), CKR_OK);
	return total;
}

static CK_ULONG epoch_of(int i)
{
	CK_ULONG e = 0;
	CK_ATTRIBUTE a = {CKA_AKM_EPOCH, &e, sizeof e};
	ck_assert_int_eq(W.m[i].f->C_GetAttributeValue(W.m[i].s, W.m[i].asr, &a, 1), CKR_OK);
	return e;
}


/* ---- more processes of one member ----------------------------------------- */

/* The store's change mark of member i's registry (the counter beside it,
 * store/sqlite: one more for every commit of any process). */
static uint64_t change_mark(int i)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/reg-%c.db-changes", W.env.dir, member_id(i));
	uint64_t v = 0;
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, &v, sizeof v), (ssize_t)sizeof v);
	close(fd);
	return v;
}

/* The sequence number of a message (asr-7's header: byte 24 on). */
static uint64_t seq_of(const uint8_t *msg)
{
	uint64_t seq = 0;
	for (int k = 24; k < 32; k++)
		seq = seq << 8 | msg[k];
	return seq;
}

#define NMSG 100
typedef struct batch {
	uint8_t m[NMSG][96];
	CK_ULONG len[NMSG];
} batch;

/* A seals n messages ("m0", "m1", ...): consecutive sequence numbers. */
static void seal_batch(batch *b, int n)
{
	for (int k = 0; k < n; k++) {
		char text[8];
		snprintf(text, sizeof text, "m%d", k);
		b->len[k] = sizeof b->m[k];
		ck_assert_int_eq(seal(0, text, strlen(text), b->m[k], &b->len[k]), CKR_OK);
		if (k > 0)
			ck_assert_uint_eq(seq_of(b->m[k]), seq_of(b->m[k - 1]) + 1);
	}
}

static CK_RV open_msg(int i, const batch *b, int k)
{
	uint8_t plain[96];
	CK_ULONG pn = sizeof plain;
	return open_(i, b->m[k], b->len[k], plain, &pn);
}

/* A new process of member i (forked; the module initialised afresh, as
 * the fork rules want, logged in): runs fn there, whose answer is the
 * exit status.  In the child, checks answer a number (the line) rather
 * than fail. */
typedef int (*child_fn)(int i, void *arg);
static pid_t member_fork(int i, child_fn fn, void *arg)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid != 0)
		return pid;
	W.hsm->C_Finalize(NULL);
	member *m = &W.m[i];
	setenv("AKM_PKCS11_CONF", m->conf, 1);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_SLOT_ID slot;
	if (m->f->C_Initialize(&args) != CKR_OK || akm_test_find_slot(m->f, m->label, &slot) != CKR_OK ||
	    m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &m->s) != CKR_OK ||
	    m->f->C_Login(m->s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)) != CKR_OK)
		_exit(2);
	_exit(fn(i, arg));
}

#define CHILD_CHECK(cond)                                                          \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "child: %s (line %d)\n", #cond, __LINE__); \
			return __LINE__ % 200 + 50;                                \
		}                                                                  \
	} while (0)

static int child_status(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

static void world_setup(const akm_asr_policy *pol)
{
	memset(&W, 0, sizeof W);
	srand(42);
	ck_assert_int_eq(akm_testenv_create(&W.env, "asr-station"), 0);
	for (int i = 0; i < NMEM; i++) {
		snprintf(W.m[i].label, sizeof W.m[i].label, "asr-%c", member_id(i));
		ck_assert_int_eq(akm_testenv_add_token(&W.env, W.m[i].label), 0);
	}
	void *dl = dlopen(W.env.softhsm_path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_ptr_nonnull(dl);
	CK_C_GetFunctionList gfl;
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	ck_assert_int_eq(gfl(&W.hsm), CKR_OK);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	ck_assert_int_eq(W.hsm->C_Initialize(&args), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(W.hsm, "asr-station", &slot), CKR_OK);
	ck_assert_int_eq(W.hsm->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &W.st), CKR_OK);
	ck_assert_int_eq(W.hsm->C_Login(W.st, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)),
	                 CKR_OK);
	CK_MECHANISM kp = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)ec_p256, sizeof ec_p256}, {CKA_VERIFY, (void *)&yes, 1},
	                      {CKA_TOKEN, (void *)&no, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_SIGN, (void *)&yes, 1}, {CKA_TOKEN, (void *)&no, 1}};
	ck_assert_int_eq(W.hsm->C_GenerateKeyPair(W.st, &kp, pub, 3, priv, 2, &W.pub_key, &W.sign_key), CKR_OK);
	for (uint32_t n = 1; n < CAP; n++)
		W.node[n] = station_aes(NULL);
	for (int i = 0; i < NMEM; i++)
		member_open(i);
	W.gen = 1;
	W.gen_start = (uint64_t)time(NULL);
	uint8_t pkg[2048];
	for (int i = 0; i < NMEM; i++) {
		char prid[8];
		snprintf(prid, sizeof prid, "pr-%c", member_id(i));
		size_t len = package(i, 1, pol, prid, pkg);
		ck_assert_int_eq(enroll(i, pkg, len, &W.m[i].asr), CKR_OK);
	}
}

static void world_teardown(void)
{
	for (int i = 0; i < NMEM; i++)
		if (W.m[i].f != NULL)
			W.m[i].f->C_Finalize(NULL);
	W.hsm->C_Finalize(NULL);
	akm_testenv_destroy(&W.env);
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(enroll_seal_open)
{
	world_setup(&default_policy);
	uint8_t msg[256], plain[256];
	CK_ULONG n = 0, pn;
	/* The attributes of a member's key. */
	CK_ULONG kind = 0, leaf = 9, cap = 0, members = 0;
	CK_AKM_ASR_POLICY pol;
	uint8_t id[40];
	CK_ATTRIBUTE a[] = {{CKA_AKM_KIND, &kind, sizeof kind}, {CKA_AKM_MEMBER_INDEX, &leaf, sizeof leaf},
	                    {CKA_AKM_ASR_CAPACITY, &cap, sizeof cap}, {CKA_AKM_ASR_MEMBER_COUNT, &members, sizeof members},
	                    {CKA_AKM_ASR_POLICY, &pol, sizeof pol}, {CKA_ID, id, sizeof id}};
	ck_assert_int_eq(W.m[1].f->C_GetAttributeValue(W.m[1].s, W.m[1].asr, a, 6), CKR_OK);
	ck_assert_uint_eq(kind, CKV_AKM_KIND_OPERATIONAL);
	ck_assert_uint_eq(leaf, 1);
	ck_assert_uint_eq(cap, CAP);
	ck_assert_uint_eq(members, NMEM);
	ck_assert_uint_eq(pol.ulGrace, 60);
	ck_assert_uint_eq(a[5].ulValueLen, 6);
	ck_assert_mem_eq(id, "asr-7\x01", 6);
	ck_assert_uint_eq(epoch_of(0), 1UL << 32);
	ck_assert_uint_eq(audit_count(0, "asr-enroll"), 1);
	/* Length query, then A seals; B and C open; A cannot (its own). */
	CK_MECHANISM sm = {CKM_AKM_ASR_SEAL, NULL, 0};
	ck_assert_int_eq(W.m[0].f->C_EncryptInit(W.m[0].s, &sm, W.m[0].asr), CKR_OK);
	ck_assert_int_eq(W.m[0].f->C_Encrypt(W.m[0].s, (CK_BYTE *)"hello", 5, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 36 + 5 + 16);
	CK_ULONG small = 10;
	ck_assert_int_eq(W.m[0].f->C_Encrypt(W.m[0].s, (CK_BYTE *)"hello", 5, msg, &small), CKR_BUFFER_TOO_SMALL);
	n = sizeof msg;
	ck_assert_int_eq(W.m[0].f->C_Encrypt(W.m[0].s, (CK_BYTE *)"hello", 5, msg, &n), CKR_OK);
	ck_assert_uint_eq(n, 57);
	/* Multi-part refused. */
	ck_assert_int_eq(W.m[0].f->C_EncryptInit(W.m[0].s, &sm, W.m[0].asr), CKR_OK);
	CK_ULONG un = sizeof plain;
	ck_assert_int_eq(W.m[0].f->C_EncryptUpdate(W.m[0].s, (CK_BYTE *)"x", 1, plain, &un), CKR_FUNCTION_NOT_SUPPORTED);
	un = sizeof plain;
	ck_assert_int_eq(W.m[0].f->C_Encrypt(W.m[0].s, (CK_BYTE *)"x", 1, plain, &un), CKR_OK);
	for (int i = 1; i < NMEM; i++) {
		pn = sizeof plain;
		ck_assert_int_eq(open_(i, msg, n, plain, &pn), CKR_OK);
		ck_assert_uint_eq(pn, 5);
		ck_assert_mem_eq(plain, "hello", 5);
	}
	pn = sizeof plain;
	ck_assert_int_eq(open_(0, msg, n, plain, &pn), CKR_AKM_NOT_MEMBER);
	/* A replay. */
	CK_ULONG refused = audit_count(1, "asr-refused");
	pn = sizeof plain;
	ck_assert_int_eq(open_(1, msg, n, plain, &pn), CKR_AKM_REPLAY);
	ck_assert_uint_eq(audit_count(1, "asr-refused"), refused + 1);
	/* B seals to A. */
	uint8_t msg2[256];
	CK_ULONG n2 = sizeof msg2;
	ck_assert_int_eq(seal(1, "from b", 6, msg2, &n2), CKR_OK);
	pn = sizeof plain;
	ck_assert_int_eq(open_(0, msg2, n2, plain, &pn), CKR_OK);
	ck_assert_mem_eq(plain, "from b", 6);
	/* Every byte of a message changed: refused by C, nothing accepted. */
	uint8_t msg3[256];
	CK_ULONG n3 = sizeof msg3;
	ck_assert_int_eq(seal(1, "bytes", 5, msg3, &n3), CKR_OK);
	for (CK_ULONG k = 0; k < n3; k++) {
		msg3[k] ^= 0x01;
		pn = sizeof plain;
		CK_RV rv = open_(2, msg3, n3, plain, &pn);
		ck_assert_msg(rv != CKR_OK, "byte %lu changed was accepted", k);
		msg3[k] ^= 0x01;
	}
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, msg3, n3, plain, &pn), CKR_OK);
	/* A sender out of range. */
	msg3[20] = 0x7f;
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, msg3, n3, plain, &pn), CKR_AKM_NOT_MEMBER);
	/* The key refuses plain AES-GCM. */
	uint8_t iv[12] = {0};
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gm = {CKM_AES_GCM, &gp, sizeof gp};
	ck_assert_int_eq(W.m[0].f->C_EncryptInit(W.m[0].s, &gm, W.m[0].asr), CKR_KEY_FUNCTION_NOT_PERMITTED);
	world_teardown();
}
END_TEST

START_TEST(enroll_refusals)
{
	world_setup(&default_policy);
	uint8_t pkg[2048];
	CK_OBJECT_HANDLE h;
	/* The same generation again, and every byte of a package changed. */
	size_t len = package(1, 1, &default_policy, "pr-b", pkg);
	ck_assert_int_eq(enroll(1, pkg, len, &h), CKR_AKM_OLD_EPOCH);
	CK_ULONG before = audit_count(1, "asr-refused");
	len = package(1, 2, &default_policy, "pr-b", pkg);
	for (size_t k = 0; k < len; k++) {
		pkg[k] ^= 0x20;
		ck_assert_msg(enroll(1, pkg, len, &h) != CKR_OK, "package byte %zu changed was accepted", k);
		pkg[k] ^= 0x20;
	}
	ck_assert_uint_eq(audit_count(1, "asr-refused"), before + len);
	ck_assert_uint_eq(epoch_of(1), 1UL << 32);
	/* A package for another PR. */
	len = package(1, 2, &default_policy, "pr-x", pkg);
	ck_assert_int_eq(enroll(1, pkg, len, &h), CKR_AKM_OTHER_MEMBER);
	/* Signed by another key. */
	len = package(1, 2, &default_policy, "pr-b", pkg);
	CK_OBJECT_HANDLE real = W.sign_key, pub;
	CK_MECHANISM kp = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)ec_p256, sizeof ec_p256}, {CKA_TOKEN, (void *)&no, 1}};
	CK_ATTRIBUTE st[] = {{CKA_SIGN, (void *)&yes, 1}, {CKA_TOKEN, (void *)&no, 1}};
	ck_assert_int_eq(W.hsm->C_GenerateKeyPair(W.st, &kp, pt, 2, st, 2, &pub, &W.sign_key), CKR_OK);
	len = package(1, 2, &default_policy, "pr-b", pkg);
	ck_assert_int_eq(enroll(1, pkg, len, &h), CKR_SIGNATURE_INVALID);
	W.sign_key = real;
	/* A newer generation is accepted (and replaces the old one). */
	len = package(1, 2, &default_policy, "pr-b", pkg);
	ck_assert_int_eq(enroll(1, pkg, len, &h), CKR_OK);
	W.m[1].asr = h;
	ck_assert_uint_eq(epoch_of(1), 2UL << 32);
	world_teardown();
}
END_TEST

static bool on_path_of(uint32_t node, uint32_t leaf_node)
{
	while (leaf_node > node)
		leaf_node /= 2;
	return leaf_node == node;
}

/* The station removes member `gone`: new keys for its path, the rekey
 * message of the new generation. */
static size_t rekey_message(uint32_t gone, uint8_t *out)
{
	akm_asr_rekey r;
	memset(&r, 0, sizeof r);
	W.gen++;
	W.gen_start = (uint64_t)time(NULL);
	head(&r.head, W.gen, NMEM - 1, &default_policy);
	r.from_gen = W.gen - 1;
	r.nremoved = 1;
	r.removed[0] = gone;
	/* Fresh keys for every interior node on gone's path (the root included). */
	for (uint32_t n = (CAP + gone) / 2; n >= 1; n /= 2)
		W.node[n] = station_aes(NULL);
	W.node[CAP + gone] = 0;
	/* Edges: each new node's key under each child that still has a key, descending. */
	for (uint32_t child = 2 * CAP - 1; child >= 2; child--) {
		uint32_t parent = child / 2;
		bool changed = on_path_of(parent, CAP + gone);
		if (!changed || W.node[child] == 0 || (child >= CAP && child - CAP >= NMEM))
			continue;
		r.edges[r.nedges].child = child;
		edge(child, r.edges[r.nedges].wrapped);
		r.nedges++;
	}
	size_t len = 0;
	ck_assert_int_eq(akm_asr_rekey_encode(&r, out, 4096, &len), AKM_FMT_OK);
	sign(out, len, out + len);
	return len + 64;
}

static CK_RV rekey(int i, const uint8_t *msg, size_t len)
{
	member *m = &W.m[i];
	CK_AKM_ASR_ENROLL_PARAMS p = {m->anchor};
	CK_MECHANISM mech = {CKM_AKM_ASR_REKEY, &p, sizeof p};
	CK_OBJECT_HANDLE out = 0;
	CK_RV rv = m->f->C_UnwrapKey(m->s, &mech, m->asr, (CK_BYTE *)msg, (CK_ULONG)len, NULL, 0, &out);
	if (rv == CKR_OK)
		ck_assert_uint_eq(out, m->asr);
	return rv;
}

START_TEST(rekey_removes)
{
	world_setup(&default_policy);
	uint8_t old_msg[128], msg[4096], plain[128];
	CK_ULONG on = sizeof old_msg, pn;
	ck_assert_int_eq(seal(1, "before", 6, old_msg, &on), CKR_OK);
	size_t len = rekey_message(2, msg);
	/* Any byte changed: refused, nothing changed. */
	for (size_t k = 0; k < len; k++) {
		msg[k] ^= 0x04;
		ck_assert_msg(rekey(0, msg, len) != CKR_OK, "rekey byte %zu changed was accepted", k);
		msg[k] ^= 0x04;
	}
	ck_assert_uint_eq(epoch_of(0), 1UL << 32);
	ck_assert_int_eq(rekey(0, msg, len), CKR_OK);
	ck_assert_uint_eq(epoch_of(0), 2UL << 32);
	ck_assert_int_eq(rekey(0, msg, len), CKR_AKM_OLD_EPOCH); /* the same generation again */
	ck_assert_int_eq(rekey(1, msg, len), CKR_OK);
	ck_assert_int_eq(rekey(2, msg, len), CKR_AKM_REMOVED);
	/* C forgot it: its key is gone. */
	CK_ULONG e;
	CK_ATTRIBUTE a = {CKA_AKM_EPOCH, &e, sizeof e};
	ck_assert_int_eq(W.m[2].f->C_GetAttributeValue(W.m[2].s, W.m[2].asr, &a, 1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(audit_count(2, "asr-removed"), 1);
	/* A message of the old generation is refused; new ones open at B only. */
	pn = sizeof plain;
	ck_assert_int_eq(open_(0, old_msg, on, plain, &pn), CKR_AKM_OLD_EPOCH);
	uint8_t m2[128];
	CK_ULONG n2 = sizeof m2;
	ck_assert_int_eq(seal(0, "after", 5, m2, &n2), CKR_OK);
	pn = sizeof plain;
	ck_assert_int_eq(open_(1, m2, n2, plain, &pn), CKR_OK);
	ck_assert_mem_eq(plain, "after", 5);
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, m2, n2, plain, &pn), CKR_KEY_HANDLE_INVALID);
	/* A message skipped: the next generation is unknown until then. */
	uint8_t m3[4096];
	size_t l3 = rekey_message(1, m3);
	W.gen++;
	uint8_t m4[4096];
	akm_asr_rekey r;
	size_t sl;
	ck_assert_int_eq(akm_asr_rekey_parse(m3, l3, &r, &sl), AKM_FMT_OK);
	r.head.gen = W.gen;
	r.from_gen = W.gen - 1;
	size_t l4 = 0;
	ck_assert_int_eq(akm_asr_rekey_encode(&r, m4, sizeof m4, &l4), AKM_FMT_OK);
	sign(m4, l4, m4 + l4);
	ck_assert_int_eq(rekey(0, m4, l4 + 64), CKR_AKM_UNKNOWN_EPOCH);
	ck_assert_int_eq(rekey(0, m3, l3), CKR_OK);
	world_teardown();
}
END_TEST

static CK_ULONG key_rows(int i, CK_ULONG purpose)
{
	member *m = &W.m[i];
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;
	CK_ATTRIBUTE t[] = {{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose}};
	ck_assert_int_eq(m->f->C_FindObjectsInit(m->s, t, 1), CKR_OK);
	ck_assert_int_eq(m->f->C_FindObjects(m->s, h, 8, &n), CKR_OK);
	ck_assert_int_eq(m->f->C_FindObjectsFinal(m->s), CKR_OK);
	return n;
}

START_TEST(steps_and_limits)
{
	akm_asr_policy pol = {.period = 0, .grace = 2, .msg_limit = 3, .fail_limit = 2};
	world_setup(&pol);
	uint8_t msg[128], plain[128];
	CK_ULONG n, pn;
	/* SetAttribute: forward only, same generation only. */
	CK_ULONG e = (1UL << 32) | 2;
	CK_ATTRIBUTE a = {CKA_AKM_EPOCH, &e, sizeof e};
	ck_assert_int_eq(W.m[0].f->C_SetAttributeValue(W.m[0].s, W.m[0].asr, &a, 1), CKR_OK);
	ck_assert_uint_eq(epoch_of(0), (1UL << 32) | 2);
	e = (1UL << 32) | 1;
	ck_assert_int_eq(W.m[0].f->C_SetAttributeValue(W.m[0].s, W.m[0].asr, &a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	e = (2UL << 32) | 3;
	ck_assert_int_eq(W.m[0].f->C_SetAttributeValue(W.m[0].s, W.m[0].asr, &a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(key_rows(0, CKV_AKM_PURPOSE_PREVIOUS), 1);
	/* A's step-2 message opens at B (step 0) by deriving ahead; B moves. */
	n = sizeof msg;
	ck_assert_int_eq(seal(0, "s2", 2, msg, &n), CKR_OK);
	pn = sizeof plain;
	ck_assert_int_eq(open_(1, msg, n, plain, &pn), CKR_OK);
	ck_assert_uint_eq(epoch_of(1), (1UL << 32) | 2);
	/* The message limit (3, counting "s2"): the 4th seal is under the next step. */
	for (int k = 0; k < 2; k++) {
		n = sizeof msg;
		ck_assert_int_eq(seal(0, "m", 1, msg, &n), CKR_OK);
	}
	ck_assert_uint_eq(epoch_of(0), (1UL << 32) | 2);
	n = sizeof msg;
	ck_assert_int_eq(seal(0, "m", 1, msg, &n), CKR_OK);
	ck_assert_uint_eq(epoch_of(0), (1UL << 32) | 3);
	/* The failure limit: two bad tags at C move C one step. */
	ck_assert_uint_eq(epoch_of(2), 1UL << 32);
	uint8_t bad[128];
	CK_ULONG bn = sizeof bad;
	ck_assert_int_eq(seal(1, "x", 1, bad, &bn), CKR_OK); /* B at step 2 */
	bad[bn - 1] ^= 1;
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, bad, bn, plain, &pn), CKR_ENCRYPTED_DATA_INVALID);
	bad[bn - 1] ^= 1;
	bad[bn - 2] ^= 1;
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, bad, bn, plain, &pn), CKR_ENCRYPTED_DATA_INVALID);
	ck_assert_uint_eq(epoch_of(2), (1UL << 32) | 1);
	/* A message of a destroyed step: C at step 1, a step-0 message. */
	/* (B's seal at step 2 opens at C by deriving ahead) */
	bad[bn - 2] ^= 1;
	pn = sizeof plain;
	ck_assert_int_eq(open_(2, bad, bn, plain, &pn), CKR_OK);
	ck_assert_uint_eq(epoch_of(2), (1UL << 32) | 2);
	/* The grace period: the previous key goes (no key row left). */
	ck_assert_uint_eq(key_rows(2, CKV_AKM_PURPOSE_PREVIOUS), 1);
	sleep(3);
	n = sizeof msg;
	ck_assert_int_eq(seal(2, "late", 4, msg, &n), CKR_OK);
	ck_assert_uint_eq(key_rows(2, CKV_AKM_PURPOSE_PREVIOUS), 0);
	world_teardown();
}
END_TEST

START_TEST(step_by_time)
{
	akm_asr_policy pol = {.period = 1, .grace = 0, .msg_limit = 1000, .fail_limit = 100};
	world_setup(&pol);
	uint8_t msg[128], plain[128];
	CK_ULONG n = sizeof msg, pn = sizeof plain;
	sleep(2);
	/* With a 1 s period and no grace, a step boundary that passes between
	 * the seal and the open makes the message one step old for B
	 * (CKR_AKM_OLD_EPOCH, rightly): seal again then, a few times at most. */
	CK_RV rv = CKR_AKM_OLD_EPOCH;
	for (int attempt = 0; attempt < 5 && rv == CKR_AKM_OLD_EPOCH; attempt++) {
		n = sizeof msg;
		pn = sizeof plain;
		ck_assert_int_eq(seal(0, "t", 1, msg, &n), CKR_OK);
		ck_assert_uint_ge(epoch_of(0) & 0xffffffffUL, 2);
		rv = open_(1, msg, n, plain, &pn);
	}
	ck_assert_int_eq(rv, CKR_OK);
	ck_assert_uint_eq(key_rows(0, CKV_AKM_PURPOSE_PREVIOUS), 0); /* no grace: none kept */
	world_teardown();
}
END_TEST

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Power loss while sealing: a child seals in a loop writing every nonce
 * (sender || seq) to a pipe and is killed at a random moment; no nonce
 * ever repeats, and B opens the restarted sender's new messages. */
START_TEST(power_loss)
{
	/* A limit the children never reach: they seal fast enough to leave
	 * B more than 16 steps behind otherwise. */
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	world_setup(&pol);
	int rounds = getenv("AKM_ASR_KILL_ROUNDS") ? atoi(getenv("AKM_ASR_KILL_ROUNDS")) : 4;
	uint64_t *seen = NULL;
	size_t nseen = 0;
	srand((unsigned)time(NULL));
	for (int round = 0; round < rounds; round++) {
		int fds[2];
		ck_assert_int_eq(pipe(fds), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			/* A new process: the backend and the module initialised
			 * afresh (fork rules). */
			W.hsm->C_Finalize(NULL);
			member *m = &W.m[0];
			setenv("AKM_PKCS11_CONF", m->conf, 1);
			CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
			if (m->f->C_Initialize(&args) != CKR_OK)
				_exit(2);
			CK_SLOT_ID slot;
			CK_RV crv;
			if ((crv = akm_test_find_slot(m->f, m->label, &slot)) != CKR_OK ||
			    (crv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &m->s)) != CKR_OK ||
			    (crv = m->f->C_Login(m->s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN))) != CKR_OK) {
				fprintf(stderr, "child: 0x%lx\n", crv);
				_exit(3);
			}
			for (;;) {
				uint8_t out[128];
				CK_ULONG on = sizeof out;
				if (seal(0, "p", 1, out, &on) != CKR_OK)
					_exit(4);
				if (write(fds[1], out + 20, 12) != 12) /* sender u32 || seq u64 */
					_exit(5);
			}
		}
		close(fds[1]);
		/* The pipe read while the child seals (a full pipe would stop
		 * it in write() rather than in a seal), until the moment to kill. */
		size_t nbytes = 0, cap = 0;
		uint8_t *bytes = NULL;
		double until = now_us() + 20000 + rand() % 200000;
		bool killed = false;
		for (;;) {
			if (!killed && now_us() >= until) {
				kill(pid, SIGKILL);
				killed = true;
			}
			struct pollfd pfd = {fds[0], POLLIN, 0};
			if (poll(&pfd, 1, killed ? 1000 : 5) <= 0) {
				if (killed)
					break;
				continue;
			}
			if (cap - nbytes < 4096) {
				cap = cap * 2 + 65536;
				bytes = realloc(bytes, cap);
				ck_assert_ptr_nonnull(bytes);
			}
			ssize_t got = read(fds[0], bytes + nbytes, cap - nbytes);
			if (got <= 0)
				break; /* the child is gone and the pipe empty */
			nbytes += (size_t)got;
		}
		int status;
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status), "child exited %d", WEXITSTATUS(status));
		seen = realloc(seen, (nseen + nbytes / 12 + 1) * sizeof *seen);
		for (size_t at = 0; at + 12 <= nbytes; at += 12) {
			uint64_t seq = 0;
			for (int k = 4; k < 12; k++)
				seq = seq << 8 | bytes[at + k];
			seen[nseen++] = seq;
		}
		free(bytes);
		close(fds[0]);
	}
	ck_assert_uint_gt(nseen, 0);
	qsort(seen, nseen, sizeof *seen, cmp_u64);
	for (size_t i = 1; i < nseen; i++)
		if (seen[i] == seen[i - 1])
			ck_abort_msg("sequence number %llu used twice", (unsigned long long)seen[i]);
	/* The parent's A (its own reserve) still seals, and B opens it. */
	uint8_t msg[128], plain[128];
	CK_ULONG n = sizeof msg, pn = sizeof plain;
	ck_assert_int_eq(seal(0, "again", 5, msg, &n), CKR_OK);
	uint64_t seq = 0;
	for (int k = 24; k < 32; k++)
		seq = seq << 8 | msg[k];
	ck_assert_ptr_null(bsearch(&seq, seen, nseen, sizeof *seen, cmp_u64));
	ck_assert_int_eq(open_(1, msg, n, plain, &pn), CKR_OK);
	free(seen);
	world_teardown();
}
END_TEST


static double elapsed_s(double since_us)
{
	return (now_us() - since_us) / 1e6;
}

/* Seals and opens write the registry rarely: a seal only for a new
 * reserve (one per 1,024 numbers), an open only to mark the state dirty
 * after a flush and to flush after 64 openings (and after 1 s: allowed
 * for, should the machine be that slow). */
START_TEST(writes_per_message)
{
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	world_setup(&pol);
	static batch b;
	uint8_t msg[96];
	CK_ULONG n = sizeof msg;
	/* The first seal reserves a block: one write, one asr-reserve record. */
	uint64_t mark = change_mark(0);
	ck_assert_int_eq(seal(0, "first", 5, msg, &n), CKR_OK);
	ck_assert_uint_eq(change_mark(0), mark + 1);
	ck_assert_uint_eq(audit_count(0, "asr-reserve"), 1);
	CK_ULONG records = audit_count(0, NULL);
	/* 100 seals: nothing written. */
	mark = change_mark(0);
	double t0 = now_us();
	seal_batch(&b, NMSG);
	ck_assert_uint_le(change_mark(0) - mark, (uint64_t)elapsed_s(t0));
	ck_assert_uint_eq(audit_count(0, NULL), records);
	/* Up to the end of the block and past it: the next reserve's write. */
	t0 = now_us();
	for (int k = 1 + NMSG; k < 1100; k++) {
		n = sizeof msg;
		ck_assert_int_eq(seal(0, "more", 4, msg, &n), CKR_OK);
	}
	ck_assert_uint_eq(audit_count(0, "asr-reserve"), 2);
	ck_assert_uint_le(change_mark(0) - mark, 1 + (uint64_t)elapsed_s(t0));
	ck_assert_uint_ge(change_mark(0) - mark, 1);
	/* B opens the 100: the mark with the first (1), the flush at the
	 * 64th opening since (2), the mark again with the next (3); no
	 * record. */
	mark = change_mark(1);
	records = audit_count(1, NULL);
	t0 = now_us();
	for (int k = 0; k < NMSG; k++)
		ck_assert_int_eq(open_msg(1, &b, k), CKR_OK);
	ck_assert_uint_le(change_mark(1) - mark, 3 + (uint64_t)elapsed_s(t0));
	ck_assert_uint_ge(change_mark(1) - mark, 1);
	ck_assert_uint_eq(audit_count(1, NULL), records);
	/* Every one of them is a replay now, in this process. */
	for (int k = 0; k < NMSG; k += 9)
		ck_assert_int_eq(open_msg(1, &b, k), CKR_AKM_REPLAY);
	world_teardown();
}
END_TEST

/* Two processes of one member open the same ASR's messages.  P1 (this
 * process) opens m0..m4: m0 written with its dirty mark, m1..m4 only in
 * its memory.  P2, a new process, refuses every one of them before P1
 * wrote anything more, and every number P1 could have opened without
 * writing (up to m0 + 64: the price), and opens m70, which P1 then
 * refuses, with m71 (P2's mark is on the state).  Once P2 has exited
 * (its exit handler writes its state, mark cleared), P1 opens what
 * nobody opened. */
typedef struct two_arg {
	batch *b;
	int ready[2], go[2];
} two_arg;

static int p2_opens(int i, void *arg)
{
	two_arg *a = arg;
	close(a->ready[0]);
	close(a->go[1]);
	for (int k = 0; k < 5; k++)
		CHILD_CHECK(open_msg(i, a->b, k) == CKR_AKM_REPLAY);
	CHILD_CHECK(open_msg(i, a->b, 10) == CKR_AKM_REPLAY);
	CHILD_CHECK(open_msg(i, a->b, 64) == CKR_AKM_REPLAY);
	CHILD_CHECK(open_msg(i, a->b, 70) == CKR_OK);
	CHILD_CHECK(open_msg(i, a->b, 70) == CKR_AKM_REPLAY);
	char c = 'r';
	CHILD_CHECK(write(a->ready[1], &c, 1) == 1);
	CHILD_CHECK(read(a->go[0], &c, 1) == 1);
	exit(0); /* the exit handlers: the module's flushes */
}

START_TEST(replay_two_processes)
{
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	world_setup(&pol);
	static batch b;
	seal_batch(&b, NMSG);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(open_msg(1, &b, k), CKR_OK);
	two_arg a = {.b = &b};
	ck_assert_int_eq(pipe(a.ready), 0);
	ck_assert_int_eq(pipe(a.go), 0);
	pid_t pid = member_fork(1, p2_opens, &a);
	close(a.ready[1]);
	close(a.go[0]);
	char c;
	if (read(a.ready[0], &c, 1) != 1) {
		ck_abort_msg("P2 failed: status %d", child_status(pid));
	}
	/* P2 is still running, its opening of m70 written with its mark. */
	ck_assert_int_eq(open_msg(1, &b, 70), CKR_AKM_REPLAY);
	ck_assert_int_eq(open_msg(1, &b, 71), CKR_AKM_REPLAY);
	ck_assert_int_eq(open_msg(1, &b, 2), CKR_AKM_REPLAY);
	ck_assert_int_eq(write(a.go[1], &c, 1), 1);
	ck_assert_int_eq(child_status(pid), 0);
	close(a.ready[0]);
	close(a.go[1]);
	/* P2's state is written, its mark gone: what nobody opened opens
	 * (m65..m69 below P2's m70, m71 and after above it); what P2's
	 * window passed stays refused. */
	ck_assert_int_eq(open_msg(1, &b, 65), CKR_OK);
	ck_assert_int_eq(open_msg(1, &b, 71), CKR_OK);
	ck_assert_int_eq(open_msg(1, &b, 99), CKR_OK);
	ck_assert_int_eq(open_msg(1, &b, 70), CKR_AKM_REPLAY);
	ck_assert_int_eq(open_msg(1, &b, 10), CKR_AKM_REPLAY);
	world_teardown();
}
END_TEST

/* A receiver killed (SIGKILL) after opening m0..m9 without a flush: the
 * restarted receiver refuses every one of them, and every number up to
 * m0 + 64 (the window it could have opened without writing), and opens
 * the sender's next messages beyond that floor. */
static int opens_then_waits(int i, void *arg)
{
	two_arg *a = arg;
	close(a->ready[0]);
	for (int k = 0; k < 10; k++)
		CHILD_CHECK(open_msg(i, a->b, k) == CKR_OK);
	char c = 'r';
	CHILD_CHECK(write(a->ready[1], &c, 1) == 1);
	for (;;)
		pause();
}

START_TEST(receiver_killed)
{
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	world_setup(&pol);
	static batch b;
	seal_batch(&b, NMSG);
	two_arg a = {.b = &b};
	ck_assert_int_eq(pipe(a.ready), 0);
	pid_t pid = member_fork(1, opens_then_waits, &a);
	close(a.ready[1]);
	char c;
	if (read(a.ready[0], &c, 1) != 1)
		ck_abort_msg("the receiver failed: status %d", child_status(pid));
	close(a.ready[0]);
	kill(pid, SIGKILL);
	ck_assert_int_eq(child_status(pid), -SIGKILL);
	/* The restarted receiver (this process's B: it has opened nothing). */
	CK_ULONG refused = audit_count(1, "asr-refused");
	for (int k = 0; k < NMSG; k++) {
		CK_RV rv = open_msg(1, &b, k);
		if (k <= 64)
			ck_assert_msg(rv == CKR_AKM_REPLAY, "m%d: 0x%lx, not refused", k, rv);
		else
			ck_assert_msg(rv == CKR_OK, "m%d: 0x%lx, not opened", k, rv);
	}
	ck_assert_uint_eq(audit_count(1, "asr-refused"), refused + 65);
	world_teardown();
}
END_TEST

/* A clean end writes what a process opened and clears its mark: the
 * next process opens the sender's next message right after the last one
 * opened, nothing refused.  Through exit() (the module's exit handler),
 * then through C_CloseSession of the last session. */
typedef struct range_arg {
	batch *b;
	int from, to;
	bool close_session;
} range_arg;

static int opens_range(int i, void *arg)
{
	range_arg *a = arg;
	for (int k = a->from; k < a->to; k++)
		CHILD_CHECK(open_msg(i, a->b, k) == CKR_OK);
	if (!a->close_session)
		exit(0); /* the exit handlers, the module's among them */
	CHILD_CHECK(W.m[i].f->C_CloseSession(W.m[i].s) == CKR_OK);
	_exit(0); /* no exit handler */
}

START_TEST(clean_end_flushes)
{
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	world_setup(&pol);
	static batch b;
	seal_batch(&b, 30);
	range_arg a1 = {.b = &b, .from = 0, .to = 10};
	ck_assert_int_eq(child_status(member_fork(1, opens_range, &a1)), 0);
	range_arg a2 = {.b = &b, .from = 10, .to = 20, .close_session = true};
	ck_assert_int_eq(child_status(member_fork(1, opens_range, &a2)), 0);
	CK_ULONG refused = audit_count(1, "asr-refused");
	for (int k = 20; k < 30; k++)
		ck_assert_int_eq(open_msg(1, &b, k), CKR_OK);
	ck_assert_uint_eq(audit_count(1, "asr-refused"), refused);
	for (int k = 0; k < 20; k++)
		ck_assert_int_eq(open_msg(1, &b, k), CKR_AKM_REPLAY);
	world_teardown();
}
END_TEST

/* Failures are counted and step the member at the limit while openings
 * are kept in memory; the step writes them (m1 stays a replay). */
START_TEST(failures_in_memory)
{
	akm_asr_policy pol = default_policy;
	pol.msg_limit = AKM_ASR_MSG_LIMIT_MAX;
	pol.fail_limit = 3;
	world_setup(&pol);
	static batch b;
	seal_batch(&b, 5);
	ck_assert_int_eq(open_msg(1, &b, 0), CKR_OK); /* written, with the mark */
	ck_assert_int_eq(open_msg(1, &b, 1), CKR_OK); /* in memory */
	uint8_t forged[96], plain[96];
	memcpy(forged, b.m[2], b.len[2]);
	forged[b.len[2] - 1] ^= 1;
	for (int k = 0; k < 3; k++) {
		ck_assert_uint_eq(epoch_of(1), 1UL << 32);
		CK_ULONG pn = sizeof plain;
		ck_assert_int_eq(open_(1, forged, b.len[2], plain, &pn), CKR_ENCRYPTED_DATA_INVALID);
	}
	ck_assert_uint_eq(epoch_of(1), (1UL << 32) | 1);
	ck_assert_uint_eq(audit_count(1, "asr-step"), 1);
	ck_assert_int_eq(open_msg(1, &b, 1), CKR_AKM_REPLAY);
	ck_assert_int_eq(open_msg(1, &b, 2), CKR_OK); /* the previous step's key, in its grace */
	world_teardown();
}
END_TEST

/* The cost of a seal and an open through the module against AES-GCM on
 * SoftHSM2 directly: only with AKM_ASR_COST=<messages> (not a benchmark;
 * docs/asr.md §5 quotes it). */
START_TEST(cost)
{
	const char *env = getenv("AKM_ASR_COST");
	int count = env ? atoi(env) : 0;
	if (count <= 0)
		return;
	world_setup(&default_policy);
	static uint8_t msgs[2000][128];
	static CK_ULONG lens[2000];
	if (count > 2000)
		count = 2000;
	uint8_t plain[128];
	double t0 = now_us();
	for (int k = 0; k < count; k++) {
		lens[k] = sizeof msgs[k];
		ck_assert_int_eq(seal(0, "sixty-four bytes of plaintext, give or take a few.............", 64, msgs[k],
		                      &lens[k]), CKR_OK);
	}
	double t1 = now_us();
	for (int k = 0; k < count; k++) {
		CK_ULONG pn = sizeof plain;
		ck_assert_int_eq(open_(1, msgs[k], lens[k], plain, &pn), CKR_OK);
	}
	double t2 = now_us();
	CK_OBJECT_HANDLE key = station_aes(NULL);
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE enc[] = {{CKA_ENCRYPT, &t, 1}};
	(void)enc;
	uint8_t iv[12] = {0}, out[128];
	CK_GCM_PARAMS gp = {iv, 12, 96, msgs[0], 36, 128};
	CK_MECHANISM gm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_OBJECT_HANDLE gk;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len32 = 32;
	CK_ATTRIBUTE gt[] = {{CKA_VALUE_LEN, &len32, sizeof len32}, {CKA_TOKEN, (void *)&no, 1},
	                     {CKA_ENCRYPT, (void *)&yes, 1}, {CKA_DECRYPT, (void *)&yes, 1}};
	ck_assert_int_eq(W.hsm->C_GenerateKey(W.st, &gen, gt, 4, &gk), CKR_OK);
	(void)key;
	double t3 = now_us();
	for (int k = 0; k < count; k++) {
		iv[11] = (uint8_t)k;
		iv[10] = (uint8_t)(k >> 8);
		CK_ULONG on = sizeof out;
		ck_assert_int_eq(W.hsm->C_EncryptInit(W.st, &gm, gk), CKR_OK);
		ck_assert_int_eq(W.hsm->C_Encrypt(W.st, plain, 64, out, &on), CKR_OK);
	}
	double t4 = now_us();
	fprintf(stderr, "cost per message (%d messages, 64 bytes): seal %.0f us, open %.0f us through the module; "
	        "AES-GCM on SoftHSM2 directly %.0f us\n", count, (t1 - t0) / count, (t2 - t1) / count, (t4 - t3) / count);
	world_teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("asr-member");
	TCase *tc = tcase_create("member");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, enroll_seal_open);
	tcase_add_test(tc, enroll_refusals);
	tcase_add_test(tc, rekey_removes);
	tcase_add_test(tc, steps_and_limits);
	tcase_add_test(tc, step_by_time);
	tcase_add_test(tc, power_loss);
	tcase_add_test(tc, writes_per_message);
	tcase_add_test(tc, replay_two_processes);
	tcase_add_test(tc, receiver_killed);
	tcase_add_test(tc, clean_end_flushes);
	tcase_add_test(tc, failures_in_memory);
	tcase_add_test(tc, cost);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

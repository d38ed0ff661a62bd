/*
 * Killing `akm-nmm provision --count 1000` (issue 4, "Must show"): SIGKILL at
 * random moments never leaves a half-provisioned node, and a rerun completes
 * the batch.
 *
 * Each round runs a batch of 1000 under its own prefix and kills it after a
 * random delay.  The delay counts from the first write to the registry
 * (after the process has logged in: SoftHSM2 2.6.1's file store rewrites
 * token.object in place during C_Login, and a kill there can wipe the
 * backend token whoever the caller is; see tests/integration/
 * test_durability.c), and is drawn from 0 to 1.1 times the time an
 * uninterrupted batch takes (measured first), so the kills land all over the
 * batch, and some after it.  After each kill, a fresh process loads
 * akm-pkcs11.so and checks every provisioning relationship: both keys there
 * and usable (AES-GCM with the encryption key, HMAC with the MAC key), the
 * station's records complete (name, hw-id, station ID, site, state), its
 * creation in the audit trail, no name
 * twice, and each round's nodes a prefix of its batch; `akm-nmm list --json`
 * names exactly the same nodes.  At the end every batch is rerun without a
 * kill: each completes to exactly 1000 nodes, and `audit --verify` passes.
 *
 * AKM_KILL_ROUNDS sets the number of kills (default 10); AKM_KILL_COUNT the
 * batch size (default 1000, the issue's; akm-nmm creates chunks of 250 in
 * one transaction each, so a kill can land between chunks);
 * AKM_KILL_SEED the random seed (default: time and pid, printed).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nmm-test.h"
#include "akm/pkcs11-akm.h"
#include "lib/hex.h"

#define STATION_ID "5a5a0123456789abcdef0123456789ab"
#define BATCH_DEFAULT 1000
static int batch_size = BATCH_DEFAULT; /* AKM_KILL_COUNT */

/* ---- small helpers ------------------------------------------------------ */

static int env_int(const char *name, int fallback)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? atoi(v) : fallback;
}

/* ---- name sets ---------------------------------------------------------------- */

static size_t names_with_prefix(const akm_strlist *l, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);
	for (size_t i = 0; i < l->n; i++)
		n += strncmp(l->v[i], prefix, pl) == 0;
	return n;
}

/* Every "name" (or "node") string member in list --json output. */
static void names_from_list_json(akm_strlist *l, const char *text)
{
	const char *keys[] = {"\"name\"", "\"node\""};
	for (size_t k = 0; k < 2; k++) {
		for (const char *p = strstr(text, keys[k]); p; p = strstr(p + 1, keys[k])) {
			const char *q = p + strlen(keys[k]);
			while (*q == ' ')
				q++;
			if (*q != ':')
				continue;
			q++;
			while (*q == ' ')
				q++;
			if (*q != '"')
				continue;
			q++;
			size_t len = strcspn(q, "\"");
			akm_strlist_add(l, q, len);
		}
		if (l->n > 0)
			return; /* one of the two spellings */
	}
}

/* ---- the station's relationships, checked through the module ----------------- */

typedef struct key_info {
	CK_OBJECT_HANDLE h;
	char label[80];
	unsigned char rid[32];
	CK_ULONG rid_len;
	CK_ULONG purpose, state;
} key_info;

static int cmp_key(const void *a, const void *b)
{
	const key_info *x = a, *y = b;
	if (x->rid_len != y->rid_len)
		return x->rid_len < y->rid_len ? -1 : 1;
	int c = memcmp(x->rid, y->rid, x->rid_len);
	if (c != 0)
		return c;
	return (x->purpose > y->purpose) - (x->purpose < y->purpose);
}

#define CHILD_FAIL(...)                                   \
	do {                                              \
		fprintf(stderr, "nmm-kill: check: " __VA_ARGS__); \
		fputc('\n', stderr);                      \
		_exit(1);                                 \
	} while (0)

static CK_RV get_bytes(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t,
                       void *buf, CK_ULONG *len)
{
	CK_ATTRIBUTE a = {t, buf, *len};
	CK_RV rv = f->C_GetAttributeValue(s, h, &a, 1);
	*len = a.ulValueLen;
	return rv;
}

/* In a fresh process: every provisioning relationship of the station is
 * whole and usable; writes the node names, one per line, to `names_path`. */
static void child_check(const char *names_path)
{
	void *dl;
	CK_FUNCTION_LIST *f = akm_test_load_module(env.module_path, &dl);
	if (!f)
		CHILD_FAIL("the module does not load");
	CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = f->C_Initialize(&init);
	if (rv != CKR_OK)
		CHILD_FAIL("C_Initialize: 0x%lx", rv);
	CK_SLOT_ID slot;
	if ((rv = akm_test_find_slot(f, STATION, &slot)) != CKR_OK)
		CHILD_FAIL("no station token: 0x%lx", rv);
	CK_SESSION_HANDLE s;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
		CHILD_FAIL("C_OpenSession: 0x%lx", rv);
	if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN))) != CKR_OK)
		CHILD_FAIL("C_Login: 0x%lx", rv);

	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE tmpl[] = {{CKA_AKM_KIND, &kind, sizeof kind}};
	size_t cap = 4096, n = 0;
	CK_OBJECT_HANDLE *hs = malloc(cap * sizeof *hs);
	if ((rv = f->C_FindObjectsInit(s, tmpl, 1)) != CKR_OK)
		CHILD_FAIL("C_FindObjectsInit: 0x%lx", rv);
	for (;;) {
		if (n + 1024 > cap)
			hs = realloc(hs, (cap *= 2) * sizeof *hs);
		CK_ULONG got = 0;
		if ((rv = f->C_FindObjects(s, hs + n, 1024, &got)) != CKR_OK)
			CHILD_FAIL("C_FindObjects: 0x%lx", rv);
		if (got == 0)
			break;
		n += got;
	}
	f->C_FindObjectsFinal(s);
	if (n % 2 != 0)
		CHILD_FAIL("%zu provisioning keys: an odd number", n);

	key_info *keys = calloc(n + 1, sizeof *keys);
	for (size_t i = 0; i < n; i++) {
		key_info *k = &keys[i];
		k->h = hs[i];
		CK_ULONG len = sizeof k->label - 1;
		if (get_bytes(f, s, hs[i], CKA_LABEL, k->label, &len) != CKR_OK || len >= sizeof k->label)
			CHILD_FAIL("a provisioning key without a label");
		k->label[len] = '\0';
		k->rid_len = sizeof k->rid;
		if (get_bytes(f, s, hs[i], CKA_AKM_RELATIONSHIP_ID, k->rid, &k->rid_len) != CKR_OK)
			CHILD_FAIL("%s: no relationship ID", k->label);
		len = sizeof k->purpose;
		if (get_bytes(f, s, hs[i], CKA_AKM_KEY_PURPOSE, &k->purpose, &len) != CKR_OK)
			CHILD_FAIL("%s: no purpose", k->label);
		len = sizeof k->state;
		if (get_bytes(f, s, hs[i], CKA_AKM_STATE, &k->state, &len) != CKR_OK)
			CHILD_FAIL("%s: no state", k->label);
	}
	qsort(keys, n, sizeof *keys, cmp_key);

	FILE *out = fopen(names_path, "w");
	if (!out)
		CHILD_FAIL("cannot write %s", names_path);
	unsigned char station_id[32];
	size_t station_id_len = 0;
	if (akm_hex_decode(STATION_ID, station_id, sizeof station_id, &station_id_len) != 0)
		CHILD_FAIL("STATION_ID is not hex");
	for (size_t i = 0; i < n; i += 2) {
		key_info *e = &keys[i], *m = &keys[i + 1];
		if (e->rid_len != m->rid_len || memcmp(e->rid, m->rid, e->rid_len) != 0)
			CHILD_FAIL("%s: its relationship has one key only", e->label);
		if (e->purpose != CKV_AKM_PURPOSE_ENCRYPT || m->purpose != CKV_AKM_PURPOSE_MAC)
			CHILD_FAIL("%s, %s: purposes %lu, %lu", e->label, m->label, e->purpose, m->purpose);
		size_t ll = strlen(e->label);
		if (ll < 5 || strcmp(e->label + ll - 4, "/enc") != 0 || strlen(m->label) != ll ||
		    strncmp(e->label, m->label, ll - 4) != 0 || strcmp(m->label + ll - 4, "/mac") != 0)
			CHILD_FAIL("labels \"%s\" and \"%s\" are not NAME/enc and NAME/mac", e->label, m->label);
		char name[80];
		snprintf(name, sizeof name, "%.*s", (int)(ll - 4), e->label);
		if (e->state != CKV_AKM_STATE_ACTIVE)
			CHILD_FAIL("%s: state %lu, not active", name, e->state);
		/* The station's records of the node. */
		char hw[80], want_hw[96];
		CK_ULONG len = sizeof hw - 1;
		if (get_bytes(f, s, e->h, CKA_AKM_HW_BINDING, hw, &len) != CKR_OK || len >= sizeof hw)
			CHILD_FAIL("%s: no hardware binding", name);
		hw[len] = '\0';
		snprintf(want_hw, sizeof want_hw, "hw-%s", name);
		if (strcmp(hw, want_hw) != 0)
			CHILD_FAIL("%s: hardware binding \"%s\", expected \"%s\"", name, hw, want_hw);
		unsigned char sid[64];
		len = sizeof sid;
		if (get_bytes(f, s, e->h, CKA_AKM_STATION_ID, sid, &len) != CKR_OK || len != station_id_len ||
		    memcmp(sid, station_id, len) != 0)
			CHILD_FAIL("%s: not this station's ID", name);
		unsigned char node_id[64];
		len = sizeof node_id;
		if (get_bytes(f, s, e->h, CKA_AKM_PEER_NODE, node_id, &len) != CKR_OK || len != 16)
			CHILD_FAIL("%s: node AKM ID of %lu bytes, expected 16", name, len);
		char site[300];
		len = sizeof site;
		if (get_bytes(f, s, e->h, CKA_AKM_SITE, site, &len) != CKR_OK || len == 0 || len == CK_UNAVAILABLE_INFORMATION)
			CHILD_FAIL("%s: no site metadata", name);
		/* Both keys work. */
		unsigned char iv[12] = {1, 2, 3}, data[32] = "a provisioned node's first word", ct[64];
		CK_GCM_PARAMS gcm = {.pIv = iv, .ulIvLen = 12, .ulIvBits = 96, .ulTagBits = 128};
		CK_MECHANISM mg = {CKM_AES_GCM, &gcm, sizeof gcm};
		CK_ULONG ct_len = sizeof ct;
		if ((rv = f->C_EncryptInit(s, &mg, e->h)) != CKR_OK ||
		    (rv = f->C_Encrypt(s, data, sizeof data, ct, &ct_len)) != CKR_OK || ct_len != sizeof data + 16)
			CHILD_FAIL("%s: AES-GCM with its encryption key: 0x%lx", name, rv);
		CK_MECHANISM mh = {CKM_SHA256_HMAC, NULL, 0};
		unsigned char mac[32];
		CK_ULONG mac_len = sizeof mac;
		if ((rv = f->C_SignInit(s, &mh, m->h)) != CKR_OK || (rv = f->C_Sign(s, data, sizeof data, mac, &mac_len)) != CKR_OK ||
		    mac_len != 32)
			CHILD_FAIL("%s: HMAC with its MAC key: 0x%lx", name, rv);
		/* Its creation is in the audit trail (same transaction). */
		CK_OBJECT_CLASS audit_class = CKO_AKM_AUDIT_RECORD;
		CK_ATTRIBUTE by_rid[] = {{CKA_CLASS, &audit_class, sizeof audit_class},
		                         {CKA_AKM_RELATIONSHIP_ID, e->rid, e->rid_len}};
		CK_OBJECT_HANDLE records[16];
		CK_ULONG nrec = 0;
		if ((rv = f->C_FindObjectsInit(s, by_rid, 2)) != CKR_OK ||
		    (rv = f->C_FindObjects(s, records, 16, &nrec)) != CKR_OK)
			CHILD_FAIL("%s: finding its audit records: 0x%lx", name, rv);
		f->C_FindObjectsFinal(s);
		bool created = false;
		for (CK_ULONG r = 0; r < nrec && !created; r++) {
			char action[40];
			CK_ULONG alen = sizeof action - 1;
			if (get_bytes(f, s, records[r], CKA_AKM_AUDIT_ACTION, action, &alen) == CKR_OK && alen < sizeof action) {
				action[alen] = '\0';
				created = strcmp(action, "create") == 0;
			}
		}
		if (!created)
			CHILD_FAIL("%s: no \"create\" audit record among its %lu", name, nrec);
		fprintf(out, "%s\n", name);
	}
	if (fclose(out) != 0)
		CHILD_FAIL("cannot write %s", names_path);
	f->C_Logout(s);
	f->C_Finalize(NULL);
	_exit(0);
}

/* Runs child_check in a fresh process; the names of the whole relationships. */
static void check_station(akm_strlist *found, const char *when)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/names.txt", env.dir);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_check(path);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the station's relationships are not all "
	              "whole (status 0x%x; see above)", when, status);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	char line[256];
	while (fgets(line, sizeof line, fp))
		akm_strlist_add(found, line, strcspn(line, "\n"));
	fclose(fp);
	akm_strlist_sort(found);
	for (size_t i = 1; i < found->n; i++)
		ck_assert_msg(strcmp(found->v[i - 1], found->v[i]) != 0, "%s: node %s twice", when, found->v[i]);

	/* akm-nmm lists exactly these. */
	char *out;
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	akm_strlist listed = {0};
	names_from_list_json(&listed, out);
	akm_strlist_sort(&listed);
	ck_assert_msg(listed.n == found->n, "%s: list --json names %zu nodes, the module holds %zu", when, listed.n,
	              found->n);
	for (size_t i = 0; i < listed.n; i++)
		ck_assert_msg(strcmp(listed.v[i], found->v[i]) == 0, "%s: list --json names %s where the module has %s",
		              when, listed.v[i], found->v[i]);
	akm_strlist_free(&listed);
	free(out);
}

/* The nodes of batch `prefix` present form a prefix of the batch: P000001 ..
 * P00000k for k = how many there are (chunks are created in order). */
static size_t check_batch_prefix(const akm_strlist *found, const char *prefix, const char *when)
{
	size_t k = names_with_prefix(found, prefix);
	for (size_t i = 1; i <= k; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s%06zu", prefix, i);
		ck_assert_msg(akm_strlist_has(found, name),
		              "%s: %zu nodes of batch %s, but %s is missing", when, k, prefix, name);
	}
	return k;
}

/* ---- registry writes: when the station starts provisioning ---------------------- */

typedef struct file_mark {
	long long size[2];
	long long mtime_ns[2];
} file_mark;

static void registry_mark(file_mark *m)
{
	const char *suffix[2] = {"", "-wal"};
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/registry.db%s", env.dir, suffix[i]);
		struct stat st;
		if (stat(path, &st) == 0) {
			m->size[i] = (long long)st.st_size;
			m->mtime_ns[i] = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		} else {
			m->size[i] = -1;
			m->mtime_ns[i] = -1;
		}
	}
}

static bool registry_changed(const file_mark *before)
{
	file_mark now;
	registry_mark(&now);
	return memcmp(&now, before, sizeof now) != 0;
}

/* Starts `akm-nmm provision --count batch_size --prefix prefix`, output to a file. */
static pid_t start_provision(const char *prefix, const char *log_path)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *log = freopen(log_path, "w", stdout);
		if (!log || dup2(STDOUT_FILENO, STDERR_FILENO) < 0 || !freopen("/dev/null", "r", stdin))
			_exit(126);
		char count[16];
		snprintf(count, sizeof count, "%d", batch_size);
		execl(nmm_path, nmm_path, "provision", "--module", env.module_path, "--token", STATION, "--pin-file",
		      pin_file, "--count", count, "--prefix", prefix, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static const char *log_text(const char *path)
{
	static char text[4096];
	text[0] = '\0';
	FILE *fp = fopen(path, "r");
	if (fp) {
		size_t n = fread(text, 1, sizeof text - 1, fp);
		text[n] = '\0';
		fclose(fp);
	}
	return text;
}

/* ---- the test -------------------------------------------------------------------- */

START_TEST(test_kill_provision)
{
	int rounds = env_int("AKM_KILL_ROUNDS", 10);
	batch_size = env_int("AKM_KILL_COUNT", BATCH_DEFAULT);
	ck_assert_int_gt(batch_size, 0);
	unsigned seed = (unsigned)env_int("AKM_KILL_SEED", 0);
	if (seed == 0)
		seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
	fprintf(stderr, "nmm-kill: %d rounds of %d nodes, AKM_KILL_SEED=%u\n", rounds, batch_size, seed);
	srand(seed);
	char *out;
	EXPECT_RC(nmm(&out, "init", "--station-id", STATION_ID, "--site", "Kill test", "--location", "Rack 9", NULL),
	          0, out, "init");
	free(out);
	char log_path[PATH_MAX + 16];
	snprintf(log_path, sizeof log_path, "%s/provision.log", env.dir);

	/* An uninterrupted batch: how long from the first registry write to the end. */
	file_mark mark;
	registry_mark(&mark);
	double t0 = now_s(), first_write = -1;
	pid_t pid = start_provision("cal-", log_path);
	int status;
	for (;;) {
		if (first_write < 0 && registry_changed(&mark))
			first_write = now_s();
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		ck_assert_int_eq(r, 0);
		usleep(200);
	}
	double t_end = now_s();
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the uninterrupted batch failed (0x%x):\n%s",
	              status, log_text(log_path));
	if (first_write < 0)
		first_write = t0;
	double span = t_end - first_write;
	fprintf(stderr, "nmm-kill: an uninterrupted batch of %d: %.0f ms to the first registry write, %.0f ms of "
	        "provisioning\n", batch_size, (first_write - t0) * 1e3, span * 1e3);
	if (span < 0.02)
		span = 0.02;

	akm_strlist found = {0};
	check_station(&found, "after the uninterrupted batch");
	ck_assert_uint_eq(check_batch_prefix(&found, "cal-", "after the uninterrupted batch"), batch_size);
	akm_strlist_free(&found);

	double est_end = span, lo = 0, hi = -1; /* where the commit seems to be */
	int killed_before = 0, killed_mid = 0, killed_after = 0, finished = 0;
	size_t total_partial = 0;
	for (int round = 0; round < rounds; round++) {
		char prefix[32], when[64];
		snprintf(prefix, sizeof prefix, "k%02d-", round);
		snprintf(when, sizeof when, "round %d", round);
		registry_mark(&mark);
		/* Even rounds: anywhere in the batch.  Odd rounds aim at the
		 * moment its last chunk commits (a batch of 1000 is four chunks,
		 * four transactions), narrowing the window between the latest kill
		 * that found none of the batch and the earliest that found it
		 * all; until one has found it all, the window grows. */
		double u = rand() / (RAND_MAX + 1.0), delay;
		if (round % 2 == 0)
			delay = (hi > 0 ? hi : est_end) * 1.1 * u;
		else if (hi > 0)
			delay = lo + (hi - lo) * u;
		else
			delay = (lo > est_end ? lo : est_end) * (1.0 + 0.6 * u);
		double start = now_s(), fw = -1;
		pid = start_provision(prefix, log_path);
		bool exited = false;
		for (;;) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid) {
				exited = true;
				break;
			}
			double now = now_s();
			if (fw < 0 && registry_changed(&mark))
				fw = now;
			if (fw >= 0 && now >= fw + delay)
				break;
			if (now - start > 60)
				break;
			usleep(200);
		}
		if (!exited) {
			ck_assert_int_eq(kill(pid, SIGKILL), 0);
			while (waitpid(pid, &status, 0) < 0)
				ck_assert_int_eq(errno, EINTR);
		}
		ck_assert_msg(fw >= 0 || exited, "%s: the station never wrote its registry:\n%s", when,
		              log_text(log_path));
		bool was_killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		ck_assert_msg(was_killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		              "%s: the batch ended with status 0x%x:\n%s", when, status, log_text(log_path));

		check_station(&found, when);
		size_t k = check_batch_prefix(&found, prefix, when);
		ck_assert_msg(was_killed || k == (size_t)batch_size, "%s: the batch finished with %zu nodes", when, k);
		ck_assert_uint_eq(names_with_prefix(&found, "cal-"), batch_size);
		if (was_killed && k == 0 && delay > lo)
			lo = delay;
		if ((!was_killed || k == (size_t)batch_size) && (hi <= 0 || delay < hi))
			hi = delay;
		if (hi <= 0 && lo >= est_end * 0.8)
			est_end = lo * 1.5;
		if (!was_killed)
			finished++;
		else if (k == 0)
			killed_before++;
		else if (k < (size_t)batch_size)
			killed_mid++;
		else
			killed_after++;
		total_partial += k;
		fprintf(stderr, "nmm-kill: %s: %s %.0f ms after the first registry write: %zu of %d nodes there, all "
		        "whole\n", when, was_killed ? "killed" : "finished before the kill", delay * 1e3, k, batch_size);
		akm_strlist_free(&found);
	}

	/* Every batch rerun without a kill: each completes to exactly batch_size. */
	for (int round = 0; round < rounds; round++) {
		char prefix[32], count[16];
		snprintf(prefix, sizeof prefix, "k%02d-", round);
		snprintf(count, sizeof count, "%d", batch_size);
		EXPECT_RC(nmm(&out, "provision", "--count", count, "--prefix", prefix, NULL), 0, out, "a rerun");
		ck_assert_msg(strstr(out, "failed 0") != NULL, "a rerun printed:\n%s", out);
		free(out);
	}
	check_station(&found, "after the reruns");
	ck_assert_uint_eq(check_batch_prefix(&found, "cal-", "after the reruns"), batch_size);
	for (int round = 0; round < rounds; round++) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "k%02d-", round);
		ck_assert_uint_eq(check_batch_prefix(&found, prefix, "after the reruns"), batch_size);
	}
	ck_assert_uint_eq(found.n, (size_t)batch_size * (size_t)(rounds + 1));
	akm_strlist_free(&found);
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
	fprintf(stderr, "nmm-kill: killed with none of the batch there %d times, with part of it %d, with all of it "
	        "%d; %d batches finished before the kill; %zu nodes there after the kills; every batch completed by "
	        "its rerun\n", killed_before, killed_mid, killed_after, finished, total_partial);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_kill_provision);
}

int main(void)
{
	nmm_test_timeout = 600; /* a batch of 1000 and more */
	signal(SIGPIPE, SIG_IGN);
	return nmm_test_main("nmm-kill", "kill", 840, false, add_tests);
}

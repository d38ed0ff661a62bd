/*
 * Robustness: repeated C_Initialize/C_Finalize, many threads, fork, and the
 * ways real applications unload a module at exit.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "common.h"

static it_ctx t;

static void setup(void) { it_setup_env(&t, "akm-robust"); }
static void teardown(void) { it_close(&t); }

START_TEST(test_init_finalize_cycles)
{
	CK_FUNCTION_LIST *f = t.f;
	for (int i = 0; i < 1000; i++) {
		CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
		ck_assert_int_eq(f->C_Initialize(i % 2 ? &args : NULL), CKR_OK);
		CK_SLOT_ID slot;
		ck_assert_int_eq(akm_test_find_slot(f, t.env.token_label, &slot), CKR_OK);
		CK_SESSION_HANDLE s;
		ck_assert_int_eq(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
		if (i % 10 == 0) {
			/* Leave a session, a login and a session object behind. */
			ck_assert_int_eq(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
			it_aes_key(&t, s, CK_FALSE);
		} else {
			CK_BYTE r[8];
			ck_assert_int_eq(f->C_GenerateRandom(s, r, sizeof r), CKR_OK);
		}
		ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);
	}
	CK_INFO info;
	ck_assert_int_eq(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	t.f = NULL; /* already finalised */
}
END_TEST

/* ---- threads ---- */

enum { THREADS = 8, ROUNDS = 150 };

typedef struct worker {
	int id;
	int failures;
	char where[160];
} worker;

#define EXPECT(w, call, want)                                                        \
	do {                                                                         \
		CK_RV rv_ = (call);                                                  \
		if (rv_ != (want)) {                                                 \
			(w)->failures++;                                             \
			snprintf((w)->where, sizeof (w)->where, "%s: 0x%lx", #call, rv_); \
			goto out;                                                    \
		}                                                                    \
	} while (0)

static void *work(void *arg)
{
	worker *w = arg;
	CK_FUNCTION_LIST *f = t.f;
	CK_SESSION_HANDLE s = 0;
	char label[32];
	snprintf(label, sizeof label, "thread-%d", w->id);
	EXPECT(w, f->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	for (int i = 0; i < ROUNDS; i++) {
		/* A key of our own, found again by its label. */
		CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
		CK_ULONG klen = 32;
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE kt[] = {{CKA_VALUE_LEN, &klen, sizeof klen}, {CKA_ENCRYPT, &yes, 1},
		                     {CKA_DECRYPT, &yes, 1}, {CKA_LABEL, label, strlen(label)}};
		CK_OBJECT_HANDLE key, found = 0;
		EXPECT(w, f->C_GenerateKey(s, &gen, kt, 4, &key), CKR_OK);
		CK_ATTRIBUTE ft[] = {{CKA_LABEL, label, strlen(label)}};
		CK_ULONG n = 0;
		EXPECT(w, f->C_FindObjectsInit(s, ft, 1), CKR_OK);
		EXPECT(w, f->C_FindObjects(s, &found, 1, &n), CKR_OK);
		EXPECT(w, f->C_FindObjectsFinal(s), CKR_OK);
		if (n != 1 || found != key) {
			w->failures++;
			snprintf(w->where, sizeof w->where, "found %lu objects, handle %lu for %lu", n, found, key);
			goto out;
		}
		/* AES-GCM round trip. */
		CK_BYTE iv[12] = {(CK_BYTE)w->id, (CK_BYTE)i}, msg[256], ct[300], pt[300];
		memset(msg, w->id, sizeof msg);
		CK_GCM_PARAMS p = {iv, 12, 96, NULL, 0, 128};
		CK_MECHANISM gcm = {CKM_AES_GCM, &p, sizeof p};
		CK_ULONG ctlen = sizeof ct, ptlen = sizeof pt;
		EXPECT(w, f->C_EncryptInit(s, &gcm, key), CKR_OK);
		EXPECT(w, f->C_Encrypt(s, msg, sizeof msg, ct, &ctlen), CKR_OK);
		EXPECT(w, f->C_DecryptInit(s, &gcm, key), CKR_OK);
		EXPECT(w, f->C_Decrypt(s, ct, ctlen, pt, &ptlen), CKR_OK);
		if (ptlen != sizeof msg || memcmp(pt, msg, sizeof msg) != 0) {
			w->failures++;
			snprintf(w->where, sizeof w->where, "GCM round trip differs");
			goto out;
		}
		/* A digest, multi-part. */
		CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
		CK_BYTE d[32];
		CK_ULONG dlen = sizeof d;
		EXPECT(w, f->C_DigestInit(s, &sha), CKR_OK);
		EXPECT(w, f->C_DigestUpdate(s, msg, 100), CKR_OK);
		EXPECT(w, f->C_DigestUpdate(s, msg + 100, 156), CKR_OK);
		EXPECT(w, f->C_DigestFinal(s, d, &dlen), CKR_OK);
		EXPECT(w, f->C_DestroyObject(s, key), CKR_OK);
		/* Sessions come and go while others work. */
		if (i % 25 == 0) {
			CK_SESSION_HANDLE extra;
			EXPECT(w, f->C_OpenSession(t.slot, CKF_SERIAL_SESSION, NULL, NULL, &extra), CKR_OK);
			EXPECT(w, f->C_CloseSession(extra), CKR_OK);
		}
	}
out:
	if (s != 0)
		f->C_CloseSession(s);
	return NULL;
}

START_TEST(test_threads)
{
	it_open(&t); /* logged in: the state is per application, shared by all sessions */
	pthread_t th[THREADS];
	worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){.id = i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++)
		ck_assert_msg(w[i].failures == 0, "thread %d: %s", i, w[i].where);
}
END_TEST

/* ---- fork ---- */

START_TEST(test_fork_child_must_initialize)
{
	CK_FUNCTION_LIST *f = t.f;
	it_open(&t);
	CK_OBJECT_HANDLE key = it_aes_key(&t, t.s, CK_FALSE);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Every failed expectation sets its own bit in the exit status. */
		int bad = 0;
		CK_INFO info;
		CK_SESSION_HANDLE s;
		CK_ULONG n;
		CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
		if (f->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 1;
		if (f->C_OpenSession(t.slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 2;
		if (f->C_EncryptInit(t.s, &ecb, key) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 4;
		if (f->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 8;
		if (f->C_Initialize(NULL) != CKR_OK) _exit(bad | 16);
		CK_SLOT_ID slot;
		if (akm_test_find_slot(f, t.env.token_label, &slot) != CKR_OK) _exit(bad | 32);
		/* The parent's session is not ours. */
		if (f->C_EncryptInit(t.s, &ecb, key) != CKR_SESSION_HANDLE_INVALID) bad |= 64;
		if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK) _exit(bad | 128);
		if (f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4) != CKR_OK) bad |= 256;
		CK_BYTE r[16];
		if (f->C_GenerateRandom(s, r, sizeof r) != CKR_OK) bad |= 512;
		if (f->C_Finalize(NULL) != CKR_OK) bad |= 1024;
		_exit(bad ? (bad & 0x7f) | 0x80 : 0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failures 0x%x", WEXITSTATUS(status));
	/* The parent goes on with its session and key. */
	CK_BYTE block[16] = {0}, out[16];
	CK_ULONG olen = sizeof out;
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	ck_assert_int_eq(f->C_EncryptInit(t.s, &ecb, key), CKR_OK);
	ck_assert_int_eq(f->C_Encrypt(t.s, block, 16, out, &olen), CKR_OK);
}
END_TEST

/* ---- the ways applications leave at exit ---- */

static CK_FUNCTION_LIST *exiting_f;
static int finalize_in_destructor;

static void finalize_at_exit(void)
{
	CK_RV rv = exiting_f->C_Finalize(NULL);
	if (rv != CKR_OK)
		_exit(3);
}

__attribute__((destructor)) static void finalize_from_destructor(void)
{
	if (finalize_in_destructor && exiting_f->C_Finalize(NULL) != CKR_OK)
		_exit(4);
}

/* Opens a session, logs in, makes a key and returns, leaving it all open. */
static int use_module(void)
{
	CK_FUNCTION_LIST *f = exiting_f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	if (f->C_Initialize(NULL) != CKR_OK ||
	    akm_test_find_slot(f, t.env.token_label, &slot) != CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4) != CKR_OK)
		return -1;
	it_aes_key(&t, s, CK_FALSE);
	return 0;
}

enum exit_style {
	EXIT_NO_FINALIZE,             /* C_Finalize never called */
	EXIT_ATEXIT_BEFORE_INIT,      /* atexit(C_Finalize) registered before C_Initialize */
	EXIT_ATEXIT_AFTER_INIT,       /* ... after it */
	EXIT_AFTER_OPENSSL_CLEANUP,   /* after OpenSSL tore itself down (pkcs11-provider's order) */
	EXIT_DESTRUCTOR,              /* from a library destructor */
	EXIT_STYLES
};

START_TEST(test_exit_teardown)
{
	exiting_f = t.f;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		switch ((enum exit_style)_i) {
		case EXIT_NO_FINALIZE:
			break;
		case EXIT_ATEXIT_BEFORE_INIT:
			atexit(finalize_at_exit);
			break;
		case EXIT_AFTER_OPENSSL_CLEANUP:
			/* Registered first, so it runs after OPENSSL_cleanup, which
			 * OpenSSL registers on its first initialisation. */
			atexit(finalize_at_exit);
			OPENSSL_init_crypto(0, NULL);
			break;
		case EXIT_DESTRUCTOR:
			finalize_in_destructor = 1;
			break;
		default:
			break;
		}
		if (use_module() != 0)
			_exit(2);
		if (_i == EXIT_ATEXIT_AFTER_INIT)
			atexit(finalize_at_exit);
		exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "style %d: killed by signal %d", _i, WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "style %d: exit status %d", _i, WEXITSTATUS(status));
	exiting_f = NULL;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("robustness");
	TCase *tc = tcase_create("robustness");
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_finalize_cycles);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fork_child_must_initialize);
	tcase_add_loop_test(tc, test_exit_teardown, 0, EXIT_STYLES);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

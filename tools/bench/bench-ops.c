/* The operations akm-bench measures (bench-ops.h). */
#include "bench/bench-ops.h"

#include <stdio.h>
#include <string.h>

#include "lib/rv.h"

int bench_worker_fail(bench_worker *worker, const char *function, CK_RV rv)
{
	if (worker->error[0] == '\0')
		snprintf(worker->error, sizeof worker->error, "%s failed: %s (0x%lx)",
		         function, akm_rv_name(rv), (unsigned long)rv);
	return -1;
}

static int worker_fail_text(bench_worker *worker, const char *text)
{
	if (worker->error[0] == '\0')
		snprintf(worker->error, sizeof worker->error, "%s", text);
	return -1;
}

/* Calls worker->p11->fn(...) and returns -1 from the caller, with the
 * function's name and CK_RV recorded, when it does not return CKR_OK. */
#define P11_CALL(worker, fn, ...)                                              \
	do {                                                                   \
		CK_RV call_rv_ = (worker)->p11->fn(__VA_ARGS__);               \
		if (call_rv_ != CKR_OK)                                        \
			return bench_worker_fail((worker), #fn, call_rv_);           \
	} while (0)

static CK_BBOOL ck_true = CK_TRUE;
static CK_BBOOL ck_false = CK_FALSE;

static int generate_aes_key(bench_worker *worker, CK_OBJECT_HANDLE *key, bool extractable)
{
	CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG key_len = 32;
	CK_ATTRIBUTE template[] = {
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_VALUE_LEN, &key_len, sizeof key_len },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, extractable ? &ck_true : &ck_false, sizeof ck_true },
		{ CKA_ENCRYPT, &ck_true, sizeof ck_true },
		{ CKA_DECRYPT, &ck_true, sizeof ck_true },
		{ CKA_WRAP, &ck_true, sizeof ck_true },
		{ CKA_UNWRAP, &ck_true, sizeof ck_true },
	};
	P11_CALL(worker, C_GenerateKey, worker->session, &mechanism, template,
	         sizeof template / sizeof template[0], key);
	return 0;
}

/* aes-gcm-encrypt-1k: AES-256-GCM, 12-byte IV (a fresh one per operation),
 * no AAD, 16-byte tag, over 1 KiB; C_EncryptInit + C_Encrypt per operation. */
static int setup_aes_gcm(bench_worker *worker)
{
	return generate_aes_key(worker, &worker->secret_key, false);
}

static int run_aes_gcm_encrypt(bench_worker *worker)
{
	unsigned char iv[12] = { 0 };
	uint64_t counter = ++worker->iv_counter;
	memcpy(iv + 4, &counter, sizeof counter);
	CK_GCM_PARAMS gcm = {
		.pIv = iv, .ulIvLen = sizeof iv, .ulIvBits = 8 * sizeof iv,
		.pAAD = NULL, .ulAADLen = 0, .ulTagBits = 128,
	};
	CK_MECHANISM mechanism = { CKM_AES_GCM, &gcm, sizeof gcm };
	CK_ULONG out_len = sizeof worker->output;
	P11_CALL(worker, C_EncryptInit, worker->session, &mechanism, worker->secret_key);
	P11_CALL(worker, C_Encrypt, worker->session, worker->data, sizeof worker->data,
	         worker->output, &out_len);
	if (out_len != sizeof worker->data + 16)
		return worker_fail_text(worker, "C_Encrypt (AES-GCM) returned a wrong length");
	return 0;
}

/* hmac-sha256-sign: CKM_SHA256_HMAC with a 256-bit generic secret key over
 * 1 KiB; C_SignInit + C_Sign per operation. */
static int setup_hmac(bench_worker *worker)
{
	CK_MECHANISM mechanism = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG key_len = 32;
	CK_ATTRIBUTE template[] = {
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_VALUE_LEN, &key_len, sizeof key_len },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_SIGN, &ck_true, sizeof ck_true },
		{ CKA_VERIFY, &ck_true, sizeof ck_true },
	};
	P11_CALL(worker, C_GenerateKey, worker->session, &mechanism, template,
	         sizeof template / sizeof template[0], &worker->secret_key);
	return 0;
}

static int run_hmac_sign(bench_worker *worker)
{
	CK_MECHANISM mechanism = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG mac_len = sizeof worker->output;
	P11_CALL(worker, C_SignInit, worker->session, &mechanism, worker->secret_key);
	P11_CALL(worker, C_Sign, worker->session, worker->data, sizeof worker->data,
	         worker->output, &mac_len);
	if (mac_len != 32)
		return worker_fail_text(worker, "C_Sign (HMAC-SHA256) returned a wrong length");
	return 0;
}

/* ecdsa-p256-sign: CKM_ECDSA (raw, the caller hashes) over a 32-byte hash. */
static int setup_ecdsa(bench_worker *worker)
{
	/* DER of OID 1.2.840.10045.3.1.7 (prime256v1). */
	static const unsigned char p256_params[] = {
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
	};
	CK_MECHANISM mechanism = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE public_template[] = {
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_VERIFY, &ck_true, sizeof ck_true },
		{ CKA_EC_PARAMS, (void *)p256_params, sizeof p256_params },
	};
	CK_ATTRIBUTE private_template[] = {
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_PRIVATE, &ck_true, sizeof ck_true },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_SIGN, &ck_true, sizeof ck_true },
	};
	P11_CALL(worker, C_GenerateKeyPair, worker->session, &mechanism,
	         public_template, sizeof public_template / sizeof public_template[0],
	         private_template, sizeof private_template / sizeof private_template[0],
	         &worker->public_key, &worker->private_key);
	return 0;
}

static int run_ecdsa_sign(bench_worker *worker)
{
	CK_MECHANISM mechanism = { CKM_ECDSA, NULL, 0 };
	CK_ULONG signature_len = sizeof worker->output;
	P11_CALL(worker, C_SignInit, worker->session, &mechanism, worker->private_key);
	P11_CALL(worker, C_Sign, worker->session, worker->data, 32,
	         worker->output, &signature_len);
	if (signature_len != 64)
		return worker_fail_text(worker, "C_Sign (ECDSA P-256) returned a wrong length");
	return 0;
}

/* aes-kwp-wrap-unwrap: CKM_AES_KEY_WRAP_PAD (RFC 5649); wrap an extractable
 * AES-256 key with an AES-256 KEK, unwrap it as a new session object and
 * destroy that; one operation = wrap + unwrap + destroy. */
static int setup_kwp(bench_worker *worker)
{
	if (generate_aes_key(worker, &worker->wrapping_key, false) != 0)
		return -1;
	return generate_aes_key(worker, &worker->secret_key, true);
}

static int run_kwp_wrap_unwrap(bench_worker *worker)
{
	CK_MECHANISM mechanism = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
	CK_KEY_TYPE aes_type = CKK_AES;
	CK_ATTRIBUTE unwrap_template[] = {
		{ CKA_CLASS, &secret_class, sizeof secret_class },
		{ CKA_KEY_TYPE, &aes_type, sizeof aes_type },
		{ CKA_TOKEN, &ck_false, sizeof ck_false },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_true, sizeof ck_true },
		{ CKA_ENCRYPT, &ck_true, sizeof ck_true },
		{ CKA_DECRYPT, &ck_true, sizeof ck_true },
	};
	CK_ULONG wrapped_len = sizeof worker->output;
	CK_OBJECT_HANDLE unwrapped = CK_INVALID_HANDLE;
	P11_CALL(worker, C_WrapKey, worker->session, &mechanism, worker->wrapping_key,
	         worker->secret_key, worker->output, &wrapped_len);
	if (wrapped_len != 40)
		return worker_fail_text(worker, "C_WrapKey (AES-KWP) returned a wrong length");
	P11_CALL(worker, C_UnwrapKey, worker->session, &mechanism, worker->wrapping_key,
	         worker->output, wrapped_len, unwrap_template,
	         sizeof unwrap_template / sizeof unwrap_template[0], &unwrapped);
	P11_CALL(worker, C_DestroyObject, worker->session, unwrapped);
	return 0;
}

/* aes-keygen: C_GenerateKey of an AES-256 session object, then destroy it. */
static int setup_nothing(bench_worker *worker)
{
	(void)worker;
	return 0;
}

static int run_aes_keygen(bench_worker *worker)
{
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	if (generate_aes_key(worker, &key, false) != 0)
		return -1;
	P11_CALL(worker, C_DestroyObject, worker->session, key);
	return 0;
}

/* sha256-digest-1k: C_DigestInit + C_Digest of 1 KiB. */
static int run_sha256_digest(bench_worker *worker)
{
	CK_MECHANISM mechanism = { CKM_SHA256, NULL, 0 };
	CK_ULONG digest_len = sizeof worker->output;
	P11_CALL(worker, C_DigestInit, worker->session, &mechanism);
	P11_CALL(worker, C_Digest, worker->session, worker->data, sizeof worker->data,
	         worker->output, &digest_len);
	if (digest_len != 32)
		return worker_fail_text(worker, "C_Digest (SHA-256) returned a wrong length");
	return 0;
}

const bench_op bench_ops[] = {
	{ "aes-gcm-encrypt-1k", "AES-256-GCM encrypt 1 KiB, 12-byte IV, 16-byte tag (EncryptInit+Encrypt)",
	  1, setup_aes_gcm, run_aes_gcm_encrypt },
	{ "hmac-sha256-sign", "CKM_SHA256_HMAC over 1 KiB, 256-bit generic secret key (SignInit+Sign)",
	  1, setup_hmac, run_hmac_sign },
	{ "ecdsa-p256-sign", "CKM_ECDSA P-256 over a 32-byte hash (SignInit+Sign)",
	  1, setup_ecdsa, run_ecdsa_sign },
	{ "aes-kwp-wrap-unwrap", "CKM_AES_KEY_WRAP_PAD: wrap AES-256 with AES-256 KEK, unwrap, destroy",
	  1, setup_kwp, run_kwp_wrap_unwrap },
	{ "aes-keygen", "C_GenerateKey AES-256 session object, then C_DestroyObject",
	  1, setup_nothing, run_aes_keygen },
	{ "sha256-digest-1k", "CKM_SHA256 of 1 KiB (DigestInit+Digest)",
	  1, setup_nothing, run_sha256_digest },
	{ "aes-gcm-encrypt-1k-2threads", "aes-gcm-encrypt-1k in 2 threads, own session and key each; total ops/s",
	  2, setup_aes_gcm, run_aes_gcm_encrypt },
};
const size_t bench_op_count = sizeof bench_ops / sizeof bench_ops[0];
_Static_assert(sizeof bench_ops / sizeof bench_ops[0] <= BENCH_MAX_OPS, "akm-bench keeps a result per operation");

/*
 * AKM relationships seen by a standard tool: relationships are created with
 * tools/akm-mkrel (plain PKCS#11 and the vendor header), then OpenSC's
 * pkcs11-tool, which knows nothing of AKM, lists them by label and ID and
 * uses their keys, selected by --id, for AES encryption and HMAC-SHA256.
 * Also checks the registry formats docs/formats.md states: the audit hash
 * chain (with its test vector, against the registry code itself) and the
 * counter object's label in the backend token.
 *
 * Usage: interop-relationships-tool <path of akm-mkrel>   (tests/interop/meson.build)
 */
#include "interop.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "akm/pkcs11-akm.h"
#include "store/store.h"
#include "store/sqlite/sqlite.h"

#define PIN_ARGS "--login", "--pin", AKM_TEST_USER_PIN
#define CBC_IV "000102030405060708090a0b0c0d0e0f"
#define GCM_IV "000102030405060708090a0b"

/* pkcs11-tool through `module` on the env's token: TOOL(env, module, &out, args...) */
#define TOOL(env, module, out, ...)                                                     \
	akm_interop_pkcs11_tool((module),                                               \
	                        (const char *const[]){"--token-label", (env)->token_label, \
	                                              __VA_ARGS__, NULL},               \
	                        (out))

static const char *mkrel_path;

/* akm-mkrel on the env's token; args NULL-terminated.  Returns its exit
 * status; *out is its output. */
static int mkrel(const akm_testenv *env, const char *pin, const char *const args[], char **out)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = mkrel_path;
	argv[n++] = "--module";
	argv[n++] = env->module_path;
	argv[n++] = "--token";
	argv[n++] = env->token_label;
	for (size_t i = 0; args[i]; i++) {
		ck_assert(n < sizeof argv / sizeof argv[0] - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	/* The PIN as the other tools take it: $AKM_PIN here (--pin-file below). */
	if (pin != NULL)
		ck_assert_int_eq(setenv("AKM_PIN", pin, 1), 0);
	int rc = akm_interop_run(argv, NULL, out);
	unsetenv("AKM_PIN");
	return rc;
}

/* Creates a relationship with akm-mkrel, asserting success, and returns its
 * ID in hex (rid_hex, 65 bytes) as akm-mkrel printed it; checks the keys'
 * IDs and labels it printed follow the scheme of pkcs11-akm.h. */
static void mkrel_ok(const akm_testenv *env, const char *const args[], const char *label, char rid_hex[65])
{
	char *out = NULL;
	ck_assert_int_eq(mkrel(env, AKM_TEST_USER_PIN, args, &out), 0);
	const char *at = strstr(out, "relationship id: ");
	ck_assert_ptr_nonnull(at);
	at += strlen("relationship id: ");
	size_t len = strspn(at, "0123456789abcdef");
	ck_assert(len >= 2 && len <= 64 && len % 2 == 0 && at[len] == '\n');
	memcpy(rid_hex, at, len);
	rid_hex[len] = '\0';
	char expect[256];
	snprintf(expect, sizeof expect, "encryption key:  id %s01 label %s/enc\nmac key:         id %s02 label %s/mac\n",
	         rid_hex, label, rid_hex, label);
	ck_assert_msg(strstr(out, expect), "akm-mkrel printed:\n%s\nexpected:\n%s", out, expect);
	free(out);
}

static void make_pr(const akm_testenv *env, const char *rid, const char *label, char rid_hex[65])
{
	mkrel_ok(env, (const char *const[]){"--pr", "node-7", "--hw", "se-serial-0042", "--id", rid,
	                                    "--label", label, NULL},
	         label, rid_hex);
	ck_assert_str_eq(rid_hex, rid);
}

static void make_asr(const akm_testenv *env, const char *label, char rid_hex[65])
{
	mkrel_ok(env, (const char *const[]){"--asr", "node-1,node-2,node-3", "--label", label, NULL}, label, rid_hex);
	ck_assert_uint_eq(strlen(rid_hex), 32); /* generated: 16 random bytes */
}

/* The block pkcs11-tool 0.23 prints for one relationship key. */
static void key_block(char *out, size_t size, bool enc, const char *label, const char *rid_hex)
{
	snprintf(out, size,
	         "Secret Key Object; %s length 32\n"
	         "  label:      %s/%s\n"
	         "  ID:         %s%s\n"
	         "  Usage:      %s\n"
	         "  Access:     sensitive, always sensitive, never extractable, local\n",
	         enc ? "AES" : "Generic secret", label, enc ? "enc" : "mac", rid_hex, enc ? "01" : "02",
	         /* pkcs11-tool 0.23 shows "verify" but not "sign" for any secret key */
	         enc ? "encrypt, decrypt, wrap, unwrap" : "verify");
}

static void assert_lists_relationship(const char *listing, const char *label, const char *rid_hex)
{
	char block[512];
	key_block(block, sizeof block, true, label, rid_hex);
	ck_assert_msg(akm_interop_count(listing, block) == 1, "not listed once:\n%s", block);
	key_block(block, sizeof block, false, label, rid_hex);
	ck_assert_msg(akm_interop_count(listing, block) == 1, "not listed once:\n%s", block);
}

START_TEST(pkcs11_tool_lists_relationship_keys_by_label_and_id)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-rel-list");
	char pr[65], asr[65], *out = NULL;
	make_pr(&env, "00112233", "pr-1", pr);
	make_asr(&env, "asr-1", asr);

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "-O"), 0);
	assert_lists_relationship(out, "pr-1", pr);
	assert_lists_relationship(out, "asr-1", asr);
	ck_assert_uint_eq(akm_interop_count(out, " Object; "), 4); /* nothing else: no KEK, no counter */
	ck_assert_uint_eq(akm_interop_count(out, "akm-pkcs11 KEK"), 0);
	ck_assert_uint_eq(akm_interop_count(out, "akm-pkcs11 registry counter"), 0);
	ck_assert_uint_eq(akm_interop_count(out, "Data object"), 0);
	free(out);

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--list-objects", "--type", "secrkey"), 0);
	assert_lists_relationship(out, "pr-1", pr);
	assert_lists_relationship(out, "asr-1", asr);
	ck_assert_uint_eq(akm_interop_count(out, " Object; "), 4);
	ck_assert_uint_eq(akm_interop_count(out, "akm-pkcs11 KEK"), 0);
	free(out);

	/* Private objects: without login none shows. */
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, "-O"), 0);
	ck_assert_uint_eq(akm_interop_count(out, " Object; "), 0);
	free(out);

	/* The backend token itself holds the KEK, the MAC key and the counter's
	 * two objects, and none of the relationship keys: they live, wrapped,
	 * in the registry. */
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &out, PIN_ARGS, "-O"), 0);
	ck_assert_uint_eq(akm_interop_count(out, "Secret Key Object; AES length 32\n  label:      akm-pkcs11 KEK\n"), 1);
	ck_assert_uint_eq(akm_interop_count(out, "label:      akm-pkcs11 registry MAC key\n"), 1);
	ck_assert_uint_eq(akm_interop_count(out, "  application:    'akm-pkcs11 registry counter'\n"), 2);
	ck_assert_uint_eq(akm_interop_count(out, " Object; "), 2);
	ck_assert_uint_eq(akm_interop_count(out, "Data object"), 2);
	ck_assert_uint_eq(akm_interop_count(out, "/enc"), 0);
	ck_assert_uint_eq(akm_interop_count(out, "/mac"), 0);
	free(out);
	akm_testenv_destroy(&env);
}
END_TEST

START_TEST(akm_mkrel_reports_refusals)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-rel-mkrel");
	char pr[65], *out = NULL;
	make_pr(&env, "0a0b", "first", pr);

	/* PKCS#11 refusals: exit status 2 and the CKR_* name. */
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN,
	                       (const char *const[]){"--pr", "n", "--hw", "h", "--id", "0a0b", NULL}, &out), 2);
	ck_assert_msg(strstr(out, "C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN): CKR_ATTRIBUTE_VALUE_INVALID"),
	              "a duplicate relationship ID is not CKR_ATTRIBUTE_VALUE_INVALID");
	free(out);
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN, (const char *const[]){"--asr", "A,A", NULL}, &out), 2);
	ck_assert_msg(strstr(out, "CKR_ATTRIBUTE_VALUE_INVALID"), "duplicate members accepted");
	free(out);
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN, (const char *const[]){"--asr", "A", NULL}, &out), 2);
	ck_assert_msg(strstr(out, "CKR_ATTRIBUTE_VALUE_INVALID"), "a one-member ASR accepted");
	free(out);
	ck_assert_int_eq(mkrel(&env, "0000", (const char *const[]){"--asr", "A,B", NULL}, &out), 2);
	ck_assert_msg(strstr(out, "C_Login: CKR_PIN_INCORRECT"), "a wrong PIN is not CKR_PIN_INCORRECT");
	free(out);

	/* Command-line mistakes: exit status 1, nothing created. */
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN, (const char *const[]){"--pr", "n", NULL}, &out), 1);
	free(out);
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN, (const char *const[]){"--asr", "A,B", "--id", "abc", NULL}, &out), 1);
	free(out);
	ck_assert_int_eq(mkrel(&env, AKM_TEST_USER_PIN, (const char *const[]){"--asr", "A,B", "--pr", "n", "--hw", "h", NULL}, &out), 1);
	free(out);

	/* The PIN is never taken from the command line (--pin is no option);
	 * without --pin-file, $AKM_PIN or a terminal there is none (exit 1);
	 * --pin-file works. */
	ck_assert_int_eq(mkrel(&env, NULL, (const char *const[]){"--pin", AKM_TEST_USER_PIN, "--asr", "A,B", NULL}, &out), 1);
	ck_assert_msg(strstr(out, "unknown option --pin"), "--pin accepted:\n%s", out);
	free(out);
	ck_assert_int_eq(mkrel(&env, NULL, (const char *const[]){"--asr", "A,B", NULL}, &out), 1);
	ck_assert_msg(strstr(out, "no PIN"), "no PIN source:\n%s", out);
	free(out);
	char pin_path[PATH_MAX + 16];
	snprintf(pin_path, sizeof pin_path, "%s/mkrel-pin", env.dir);
	FILE *pf = fopen(pin_path, "w");
	ck_assert_ptr_nonnull(pf);
	fprintf(pf, "%s\n", AKM_TEST_USER_PIN);
	fclose(pf);
	/* Logged in with it: the module's refusal of a duplicate ID is reached. */
	ck_assert_int_eq(mkrel(&env, NULL, (const char *const[]){"--pin-file", pin_path, "--pr", "n", "--hw", "h", "--id",
	                                                         "0a0b", NULL}, &out), 2);
	ck_assert_msg(strstr(out, "CKR_ATTRIBUTE_VALUE_INVALID"), "--pin-file:\n%s", out);
	free(out);

	/* Only the first relationship is there. */
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "-O"), 0);
	ck_assert_uint_eq(akm_interop_count(out, " Object; "), 2);
	assert_lists_relationship(out, "first", "0a0b");
	free(out);
	akm_testenv_destroy(&env);
}
END_TEST

/* Whether this pkcs11-tool can do AES-GCM (OpenSC 0.24 added --aad and
 * --tag-bits-len; 0.23 refuses the mechanism for --encrypt). */
static bool pkcs11_tool_has_gcm(void)
{
	char *out = NULL;
	akm_interop_run((const char *const[]){"pkcs11-tool", "--help", NULL}, NULL, &out);
	bool has = strstr(out, "--aad") != NULL && strstr(out, "--tag-bits-len") != NULL;
	free(out);
	return has;
}

/* Encrypts and decrypts with the relationship's encryption key selected by
 * --id <rid>01, and checks the MAC key refuses to encrypt. */
static void check_encryption(const akm_testenv *env, const char *rid_hex, const char *name)
{
	char plain[PATH_MAX], cipher[PATH_MAX], decrypted[PATH_MAX], refused[PATH_MAX], file[64], enc_id[80],
		mac_id[80], *out = NULL;
	snprintf(enc_id, sizeof enc_id, "%s01", rid_hex);
	snprintf(mac_id, sizeof mac_id, "%s02", rid_hex);
	snprintf(file, sizeof file, "%s.plain", name);
	akm_interop_path(plain, env, file);
	snprintf(file, sizeof file, "%s.cbc", name);
	akm_interop_path(cipher, env, file);
	snprintf(file, sizeof file, "%s.cbc.dec", name);
	akm_interop_path(decrypted, env, file);
	snprintf(file, sizeof file, "%s.refused", name);
	akm_interop_path(refused, env, file);
	ck_assert_int_eq(akm_interop_write_random_file(plain, 1000), 0);

	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--encrypt", "-m", "AES-CBC-PAD", "--id", enc_id,
	                      "--iv", CBC_IV, "-i", plain, "-o", cipher), 0);
	free(out);
	size_t cipher_len = 0;
	free(akm_interop_read_file(cipher, &cipher_len));
	ck_assert_uint_eq(cipher_len, 1008); /* PKCS#7 padding to whole blocks */
	ck_assert(!akm_interop_files_equal(cipher, plain));
	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--decrypt", "-m", "AES-CBC-PAD", "--id", enc_id,
	                      "--iv", CBC_IV, "-i", cipher, "-o", decrypted), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(decrypted, plain), "%s: AES-CBC-PAD round trip differs", name);

	if (pkcs11_tool_has_gcm()) {
		snprintf(file, sizeof file, "%s.gcm", name);
		akm_interop_path(cipher, env, file);
		snprintf(file, sizeof file, "%s.gcm.dec", name);
		akm_interop_path(decrypted, env, file);
		ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--encrypt", "-m", "AES-GCM", "--id", enc_id,
		                      "--iv", GCM_IV, "--aad", "0102", "--tag-bits-len", "128", "-i", plain, "-o", cipher), 0);
		free(out);
		free(akm_interop_read_file(cipher, &cipher_len));
		ck_assert_uint_eq(cipher_len, 1000 + 16);
		ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--decrypt", "-m", "AES-GCM", "--id", enc_id,
		                      "--iv", GCM_IV, "--aad", "0102", "--tag-bits-len", "128", "-i", cipher, "-o", decrypted), 0);
		free(out);
		ck_assert_msg(akm_interop_files_equal(decrypted, plain), "%s: AES-GCM round trip differs", name);
	} else {
		/* OpenSC 0.23 refuses AES-GCM itself, before calling the module
		 * (the integration tests use it through C_Encrypt). */
		ck_assert_int_ne(TOOL(env, env->module_path, &out, PIN_ARGS, "--encrypt", "-m", "AES-GCM", "--id", enc_id,
		                      "--iv", GCM_IV, "-i", plain, "-o", refused), 0);
		ck_assert_msg(strstr(out, "Mechanism AES-GCM illegal or not supported"), "unexpected AES-GCM failure");
		free(out);
	}

	/* Purposes are separate: the MAC key does not encrypt. */
	ck_assert_int_ne(TOOL(env, env->module_path, &out, PIN_ARGS, "--encrypt", "-m", "AES-CBC-PAD", "--id", mac_id,
	                      "--iv", CBC_IV, "-i", plain, "-o", refused), 0);
	ck_assert_msg(strstr(out, "C_EncryptInit failed: rv = CKR_KEY_FUNCTION_NOT_PERMITTED"),
	              "the MAC key encrypts, or fails otherwise");
	free(out);
}

/* HMAC-SHA256 with the MAC key selected by --id <rid>02; a modified input
 * fails verification; the encryption key refuses to sign. */
static void check_mac(const akm_testenv *env, const char *rid_hex, const char *name)
{
	char data[PATH_MAX], changed[PATH_MAX], mac[PATH_MAX], mac_again[PATH_MAX], file[64], enc_id[80], mac_id[80];
	char *out = NULL;
	snprintf(enc_id, sizeof enc_id, "%s01", rid_hex);
	snprintf(mac_id, sizeof mac_id, "%s02", rid_hex);
	snprintf(file, sizeof file, "%s.data", name);
	akm_interop_path(data, env, file);
	snprintf(file, sizeof file, "%s.changed", name);
	akm_interop_path(changed, env, file);
	snprintf(file, sizeof file, "%s.mac", name);
	akm_interop_path(mac, env, file);
	snprintf(file, sizeof file, "%s.mac2", name);
	akm_interop_path(mac_again, env, file);
	ck_assert_int_eq(akm_interop_write_random_file(data, 4096), 0);
	size_t len = 0;
	unsigned char *bytes = akm_interop_read_file(data, &len);
	ck_assert_ptr_nonnull(bytes);
	bytes[1234] ^= 0x01; /* one bit */
	ck_assert_int_eq(akm_interop_write_file(changed, bytes, len), 0);
	free(bytes);

	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--sign", "-m", "SHA256-HMAC", "--id", mac_id,
	                      "-i", data, "-o", mac), 0);
	free(out);
	size_t mac_len = 0;
	free(akm_interop_read_file(mac, &mac_len));
	ck_assert_uint_eq(mac_len, 32);
	/* The same key and data give the same MAC (in a new process: the key
	 * is unwrapped from the registry again). */
	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--sign", "-m", "SHA256-HMAC", "--id", mac_id,
	                      "-i", data, "-o", mac_again), 0);
	free(out);
	ck_assert(akm_interop_files_equal(mac, mac_again));

	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--verify", "-m", "SHA256-HMAC", "--id", mac_id,
	                      "-i", data, "--signature-file", mac), 0);
	ck_assert_msg(strstr(out, "Signature is valid"), "%s: HMAC does not verify", name);
	free(out);
	/* pkcs11-tool 0.23 exits 0 after an invalid signature; it says so. */
	TOOL(env, env->module_path, &out, PIN_ARGS, "--verify", "-m", "SHA256-HMAC", "--id", mac_id, "-i", changed,
	     "--signature-file", mac);
	ck_assert_msg(strstr(out, "Invalid signature") && !strstr(out, "Signature is valid"),
	              "%s: HMAC of modified data accepted", name);
	free(out);

	ck_assert_int_ne(TOOL(env, env->module_path, &out, PIN_ARGS, "--sign", "-m", "SHA256-HMAC", "--id", enc_id,
	                      "-i", data, "-o", mac_again), 0);
	ck_assert_msg(strstr(out, "C_SignInit failed: rv = CKR_KEY_FUNCTION_NOT_PERMITTED"),
	              "the encryption key signs, or fails otherwise");
	free(out);
}

START_TEST(pkcs11_tool_uses_provisioning_relationship_keys_by_id)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-rel-pr");
	char pr[65], other[65];
	make_pr(&env, "00112233", "pr-1", pr);
	make_asr(&env, "bystander", other); /* a second relationship, so --id has to choose */
	check_encryption(&env, pr, "pr");
	check_mac(&env, pr, "pr");
	akm_testenv_destroy(&env);
}
END_TEST

START_TEST(pkcs11_tool_uses_operational_relationship_keys_by_id)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-rel-asr");
	char asr[65], other[65];
	make_asr(&env, "asr-1", asr);
	make_pr(&env, "ff", "bystander", other);
	check_encryption(&env, asr, "asr");
	check_mac(&env, asr, "asr");

	/* Another relationship's key does not decrypt this one's data. */
	char plain[PATH_MAX], cipher[PATH_MAX], wrong[PATH_MAX], *out = NULL;
	akm_interop_path(plain, &env, "asr.plain");
	akm_interop_path(cipher, &env, "asr.cbc");
	akm_interop_path(wrong, &env, "asr.cbc.wrong");
	int status = TOOL(&env, env.module_path, &out, PIN_ARGS, "--decrypt", "-m", "AES-CBC-PAD", "--id", "ff01",
	                  "--iv", CBC_IV, "-i", cipher, "-o", wrong);
	free(out);
	ck_assert(status != 0 || !akm_interop_files_equal(wrong, plain));
	akm_testenv_destroy(&env);
}
END_TEST

/* ---- docs/formats.md: the audit chain and the counter ------------------- */

/* The record hash exactly as docs/formats.md states it, written from the
 * document, not from the module's code. */
static void put_u64be(EVP_MD_CTX *md, uint64_t v)
{
	uint8_t b[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	ck_assert(EVP_DigestUpdate(md, b, 8));
}

static void put_field(EVP_MD_CTX *md, const void *p, size_t n)
{
	put_u64be(md, n);
	if (n > 0)
		ck_assert(EVP_DigestUpdate(md, p, n));
}

static void documented_audit_hash(const uint8_t prev[32], uint64_t seq, uint64_t time, const char *actor,
                                  const char *action, const uint8_t *rid, size_t rid_len, uint64_t result,
                                  const char *detail, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	ck_assert(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL));
	ck_assert(EVP_DigestUpdate(md, "AKM-AUDIT-1", 11));
	ck_assert(EVP_DigestUpdate(md, prev, 32));
	put_u64be(md, seq);
	put_u64be(md, time);
	put_field(md, actor, strlen(actor));
	put_field(md, action, strlen(action));
	put_field(md, rid, rid ? rid_len : 0);
	put_u64be(md, result);
	put_field(md, detail, detail ? strlen(detail) : 0);
	ck_assert(EVP_DigestFinal_ex(md, out, &len) && len == 32);
	EVP_MD_CTX_free(md);
}

static void to_hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void from_hex(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

/* The test vectors of docs/formats.md. */
#define VECTOR1_HASH "c293faa147522223cb677528b76fd7ba5c657044a60d9378f198e9fcded05ef3"
#define VECTOR2_HASH "d08d2af2a1924df812b5477287b1f4e11561541e541ce12d8632b8e3c43ef799"
static const uint8_t vector_rid[] = {0x00, 0x11, 0x22, 0x33};

static void sql_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

START_TEST(audit_test_vector_matches_the_registry_code)
{
	/* 1. The documented layout gives the documented hashes. */
	uint8_t zero[32] = {0}, h1[32], h2[32];
	char hex[65];
	documented_audit_hash(zero, 1, 1700000000, "user", "create", vector_rid, sizeof vector_rid, 0,
	                      "provisioning", h1);
	to_hex(hex, h1, 32);
	ck_assert_str_eq(hex, VECTOR1_HASH);
	documented_audit_hash(h1, 2, 1700000060, "user", "login", NULL, 0, CKR_PIN_INCORRECT, "user", h2);
	to_hex(hex, h2, 32);
	ck_assert_str_eq(hex, VECTOR2_HASH);

	/* 2. The registry code's verifier accepts a trail holding exactly
	 * these two records, and rejects it when a field changes. */
	char path[PATH_MAX], err[256];
	snprintf(path, sizeof path, "%s/vector-XXXXXX", akm_interop_scratch_root());
	ck_assert_ptr_nonnull(mkdtemp(path));
	strcat(path, "/registry.db");
	akm_store *reg = NULL;
	ck_assert_int_eq(akm_store_open(path, &reg, err, sizeof err), CKR_OK); /* schema v1 */
	akm_store_close(reg);

	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "INSERT INTO audit (seq, time, actor, action, rid, result, detail, prev, hash) VALUES"
	         " (1, 1700000000, 'user', 'create', x'00112233', 0, 'provisioning', zeroblob(32), x'%s'),"
	         " (2, 1700000060, 'user', 'login', NULL, 160, 'user', x'%s', x'%s');"
	         "INSERT OR REPLACE INTO meta (name, value) VALUES ('audit_seq', 2), ('audit_hash', x'%s');",
	         VECTOR1_HASH, VECTOR1_HASH, VECTOR2_HASH, VECTOR2_HASH);
	sql_ok(db, sql);
	sqlite3_close(db);

	int64_t records = 0, seq = 0;
	uint8_t head[32];
	ck_assert_int_eq(akm_store_open(path, &reg, err, sizeof err), CKR_OK);
	ck_assert_msg(akm_store_audit_verify(reg, &records, err, sizeof err) == CKR_OK, "%s", err);
	ck_assert_int_eq(records, 2);
	ck_assert_int_eq(akm_store_audit_head(reg, &seq, head), CKR_OK);
	ck_assert_int_eq(seq, 2);
	ck_assert(memcmp(head, h2, 32) == 0);

	/* 3. The code's own append chains onto them with the same layout (once
	 * the rows written by hand are sealed, as a first login would). */
	static const uint8_t seal_key[AKM_STORE_KEY_LEN] = {9};
	ck_assert_int_eq(akm_store_seal(reg, seal_key), CKR_OK);
	ck_assert_int_eq(akm_store_begin(reg), CKR_OK);
	ck_assert_msg(akm_store_check(reg, true) == CKR_OK, "%s", akm_store_tamper_reason(reg));
	ck_assert_int_eq(akm_store_commit(reg), CKR_OK);
	akm_audit_event ev = {"module", "vector-check", vector_rid, sizeof vector_rid, CKR_OK, NULL};
	ck_assert_int_eq(akm_store_audit_append(reg, &ev), CKR_OK);
	akm_store_close(reg);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT time, prev, hash FROM audit WHERE seq = 3", -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	uint8_t h3[32];
	documented_audit_hash(h2, 3, (uint64_t)sqlite3_column_int64(st, 0), "module", "vector-check", vector_rid,
	                      sizeof vector_rid, 0, NULL, h3);
	ck_assert_int_eq(sqlite3_column_bytes(st, 1), 32);
	ck_assert(memcmp(sqlite3_column_blob(st, 1), h2, 32) == 0);
	ck_assert_int_eq(sqlite3_column_bytes(st, 2), 32);
	ck_assert(memcmp(sqlite3_column_blob(st, 2), h3, 32) == 0);
	sqlite3_finalize(st);

	/* 4. One second later in record 1 breaks the chain. */
	sql_ok(db, "UPDATE audit SET time = 1700000001 WHERE seq = 1");
	sqlite3_close(db);
	ck_assert_int_eq(akm_store_open(path, &reg, err, sizeof err), CKR_OK);
	ck_assert_int_eq(akm_store_audit_verify(reg, &records, err, sizeof err), CKR_GENERAL_ERROR);
	ck_assert_msg(strstr(err, "audit record 1 was altered"), "%s", err);
	akm_store_close(reg);
}
END_TEST

/* The counter's label as the backend token shows it (pkcs11-tool -O
 * directly on SoftHSM2): generation, audit sequence, audit hash. */
/* The counter's value: the newer (higher generation) of its two objects. */
static void read_counter(const akm_testenv *env, uint64_t *generation, uint64_t *seq, uint8_t hash[32])
{
	char *out = NULL;
	ck_assert_int_eq(TOOL(env, env->softhsm_path, &out, PIN_ARGS, "-O", "--type", "data"), 0);
	static const char prefix[] = "  label:          'akm-pkcs11 registry counter ";
	int objects = 0;
	*generation = *seq = 0;
	for (const char *at = strstr(out, prefix); at != NULL; at = strstr(at, prefix)) {
		at += strlen(prefix);
		ck_assert_uint_eq(strspn(at, "0123456789abcdef"), 2 * (8 + 8 + 32));
		ck_assert_int_eq(at[2 * (8 + 8 + 32)], '\'');
		uint8_t value[48];
		from_hex(value, at, sizeof value);
		uint64_t g = 0, q = 0;
		for (int i = 0; i < 8; i++) {
			g = g << 8 | value[i];
			q = q << 8 | value[8 + i];
		}
		if (objects++ == 0 || g > *generation || (g == *generation && q > *seq)) {
			*generation = g;
			*seq = q;
			memcpy(hash, value + 16, 32);
		}
	}
	ck_assert_int_eq(objects, 2);
	free(out);
}

START_TEST(registry_audit_chain_and_counter_follow_the_documented_formats)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-rel-audit");
	char pr[65], asr[65], data[PATH_MAX], mac[PATH_MAX], *out = NULL;
	make_pr(&env, "00112233", "pr-1", pr);
	make_asr(&env, "asr-1", asr);
	/* Two breach signals: a MAC that does not verify, a wrong PIN. */
	akm_interop_path(data, &env, "data");
	akm_interop_path(mac, &env, "bad.mac");
	ck_assert_int_eq(akm_interop_write_random_file(data, 100), 0);
	ck_assert_int_eq(akm_interop_write_random_file(mac, 32), 0);
	TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "SHA256-HMAC", "--id", "0011223302", "-i", data,
	     "--signature-file", mac);
	ck_assert_msg(strstr(out, "Invalid signature"), "a random MAC verifies");
	free(out);
	ck_assert_int_ne(TOOL(&env, env.module_path, &out, "--login", "--pin", "9999", "-O"), 0);
	free(out);
	/* The wrong PIN was seen before any login: it joins the trail at the
	 * next one (rows are sealed with a key the token gives after login). */
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "-O"), 0);
	free(out);

	/* Every record, recomputed from the documented layout. */
	char path[PATH_MAX];
	akm_interop_path(path, &env, "registry.db");
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT seq, time, actor, action, rid, result, detail, prev, hash"
	                                        " FROM audit ORDER BY seq", -1, &st, NULL), SQLITE_OK);
	struct { const char *action; const char *rid_hex; CK_RV result; const char *detail; } expected[] = {
		{"create", pr, CKR_OK, "provisioning"},
		{"create", asr, CKR_OK, "operational"},
		{"verify-failed", pr, CKR_SIGNATURE_INVALID, NULL},
		{"login", NULL, CKR_PIN_INCORRECT, "user; before login, at "},
	};
	uint8_t prev[32] = {0}, hash[32], counted_hash[32] = {0};
	int64_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ck_assert_int_lt(n, 4);
		const char *actor = (const char *)sqlite3_column_text(st, 2);
		const char *action = (const char *)sqlite3_column_text(st, 3);
		const uint8_t *rid = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(st, 4);
		size_t rid_len = (size_t)sqlite3_column_bytes(st, 4);
		const char *detail = (const char *)sqlite3_column_text(st, 6);
		char rid_hex[65] = "";
		if (rid)
			to_hex(rid_hex, rid, rid_len);
		ck_assert_int_eq(sqlite3_column_int64(st, 0), n + 1);
		ck_assert_str_eq(actor, "user");
		ck_assert_str_eq(action, expected[n].action);
		ck_assert_msg((rid == NULL) == (expected[n].rid_hex == NULL), "record %lld: rid", (long long)n + 1);
		if (rid)
			ck_assert_str_eq(rid_hex, expected[n].rid_hex);
		ck_assert_int_eq(sqlite3_column_int64(st, 5), (int64_t)expected[n].result);
		ck_assert_msg((detail == NULL) == (expected[n].detail == NULL), "record %lld: detail", (long long)n + 1);
		if (detail)
			ck_assert_msg(strncmp(detail, expected[n].detail, strlen(expected[n].detail)) == 0,
			              "record %lld: detail \"%s\"", (long long)n + 1, detail);
		ck_assert_int_eq(sqlite3_column_bytes(st, 7), 32);
		ck_assert(memcmp(sqlite3_column_blob(st, 7), prev, 32) == 0);
		documented_audit_hash(prev, (uint64_t)(n + 1), (uint64_t)sqlite3_column_int64(st, 1), actor, action, rid,
		                      rid_len, (uint64_t)sqlite3_column_int64(st, 5), detail, hash);
		ck_assert_int_eq(sqlite3_column_bytes(st, 8), 32);
		ck_assert_msg(memcmp(sqlite3_column_blob(st, 8), hash, 32) == 0, "record %lld: hash differs from the "
		              "documented layout", (long long)n + 1);
		memcpy(prev, hash, 32);
		if (n == 2)
			memcpy(counted_hash, hash, 32); /* the MAC failure, the last record while logged in */
		n++;
	}
	sqlite3_finalize(st);
	ck_assert_int_eq(n, 4);

	/* meta: the head is the last record; the generation counts changes. */
	int64_t audit_seq = -1, generation = -1;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT (SELECT value FROM meta WHERE name = 'audit_seq'),"
	                                        " (SELECT value FROM meta WHERE name = 'generation'),"
	                                        " (SELECT value FROM meta WHERE name = 'audit_hash')", -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	audit_seq = sqlite3_column_int64(st, 0);
	generation = sqlite3_column_int64(st, 1);
	ck_assert_int_eq(sqlite3_column_bytes(st, 2), 32);
	ck_assert(memcmp(sqlite3_column_blob(st, 2), prev, 32) == 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(audit_seq, 4);
	ck_assert_int_eq(generation, 2);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), AKM_SQLITE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* The counter holds the head as it was at the last moment the token's
	 * private objects were within reach (logout or finalisation): record 3,
	 * the failed MAC check; the wrong PIN came after, while logged out. */
	uint64_t counter_gen, counter_seq;
	uint8_t counter_hash[32];
	read_counter(&env, &counter_gen, &counter_seq, counter_hash);
	ck_assert_uint_eq(counter_gen, 2);
	ck_assert_uint_eq(counter_seq, 3);
	ck_assert(memcmp(counter_hash, counted_hash, 32) == 0);
	akm_testenv_destroy(&env);
}
END_TEST

static Suite *relationships_tool_suite(void)
{
	Suite *suite = suite_create("relationships-tool");
	TCase *tool = tcase_create("pkcs11-tool");
	tcase_set_timeout(tool, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(tool, pkcs11_tool_lists_relationship_keys_by_label_and_id);
	tcase_add_test(tool, akm_mkrel_reports_refusals);
	tcase_add_test(tool, pkcs11_tool_uses_provisioning_relationship_keys_by_id);
	tcase_add_test(tool, pkcs11_tool_uses_operational_relationship_keys_by_id);
	suite_add_tcase(suite, tool);

	TCase *formats = tcase_create("formats");
	tcase_set_timeout(formats, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(formats, audit_test_vector_matches_the_registry_code);
	tcase_add_test(formats, registry_audit_chain_and_counter_follow_the_documented_formats);
	suite_add_tcase(suite, formats);
	return suite;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <path of akm-mkrel>\n", argv[0]);
		return EXIT_FAILURE;
	}
	mkrel_path = argv[1];
	akm_interop_prepare((const char *const[]){"pkcs11-tool", NULL});
	return akm_interop_run_suite(relationships_tool_suite());
}

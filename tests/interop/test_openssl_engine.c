/*
 * OpenSSL through the libp11 "pkcs11" engine loading akm-pkcs11.so: sign with
 * an EC P-256 key in the token named by a PKCS#11 URI, and verify with plain
 * OpenSSL (no engine) using the public key exported from the token.
 */
#include "interop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LABEL "engine-ec"
#define KEY_ID "e1"

/* `env OPENSSL_CONF=<conf> openssl <args...>`: the engine configuration only
 * for the commands that use the token; plain openssl otherwise. */
#define OPENSSL_WITH_ENGINE(out, conf_assignment, ...)                                        \
	akm_interop_run((const char *const[]){"env", (conf_assignment), "openssl", __VA_ARGS__, NULL}, \
	                NULL, (out))
#define OPENSSL_PLAIN(out, ...) akm_interop_run((const char *const[]){"openssl", __VA_ARGS__, NULL}, NULL, (out))

typedef struct engine_fixture {
	akm_testenv env;
	char conf_assignment[PATH_MAX + 16];
	char pub_pem[PATH_MAX];
	char data[PATH_MAX];
	char other_data[PATH_MAX];
	char uri[PATH_MAX];
} engine_fixture;

static void engine_fixture_create(engine_fixture *fx, const char *token_label)
{
	/* Plain openssl must not pick up an engine configuration by accident. */
	unsetenv("OPENSSL_CONF");
	akm_interop_env_create(&fx->env, token_label);
	char conf[PATH_MAX];
	akm_interop_path(conf, &fx->env, "openssl-akm.cnf");
	akm_interop_path(fx->pub_pem, &fx->env, "pub.pem");
	akm_interop_path(fx->data, &fx->env, "data.bin");
	akm_interop_path(fx->other_data, &fx->env, "other.bin");
	akm_interop_make_engine_ec_key(&fx->env, KEY_LABEL, KEY_ID, fx->pub_pem, conf);
	snprintf(fx->conf_assignment, sizeof fx->conf_assignment, "OPENSSL_CONF=%s", conf);
	akm_interop_private_key_uri(fx->uri, &fx->env, KEY_LABEL, AKM_TEST_USER_PIN);
	ck_assert_int_eq(akm_interop_write_random_file(fx->data, 2000), 0);
	ck_assert_int_eq(akm_interop_write_random_file(fx->other_data, 2000), 0);
}

START_TEST(dgst_sign_through_engine_verifies_with_exported_key)
{
	engine_fixture fx;
	engine_fixture_create(&fx, "akm-engine-dgst");
	char sig[PATH_MAX];
	akm_interop_path(sig, &fx.env, "data.sig");
	char *out = NULL;

	ck_assert_int_eq(OPENSSL_WITH_ENGINE(&out, fx.conf_assignment, "dgst", "-sha256", "-engine", "pkcs11",
	                                     "-keyform", "engine", "-sign", fx.uri, "-out", sig, fx.data), 0);
	free(out);
	size_t sig_len = 0;
	unsigned char *sig_bytes = akm_interop_read_file(sig, &sig_len);
	ck_assert_ptr_nonnull(sig_bytes);
	ck_assert_msg(sig_len >= 8 && sig_bytes[0] == 0x30, "signature is not a DER ECDSA-Sig-Value");
	free(sig_bytes);

	ck_assert_int_eq(OPENSSL_PLAIN(&out, "dgst", "-sha256", "-verify", fx.pub_pem, "-signature", sig, fx.data), 0);
	ck_assert_msg(strstr(out, "Verified OK"), "plain OpenSSL does not verify the engine's signature");
	free(out);
	ck_assert_int_ne(OPENSSL_PLAIN(&out, "dgst", "-sha256", "-verify", fx.pub_pem, "-signature", sig,
	                               fx.other_data), 0);
	ck_assert_msg(strstr(out, "Verification failure"), "signature accepted for other data");
	free(out);
	akm_testenv_destroy(&fx.env);
}
END_TEST

START_TEST(pkeyutl_sign_through_engine_verifies_with_exported_key)
{
	engine_fixture fx;
	engine_fixture_create(&fx, "akm-engine-pkeyutl");
	char hash[PATH_MAX], sig[PATH_MAX];
	akm_interop_path(hash, &fx.env, "data.sha256");
	akm_interop_path(sig, &fx.env, "hash.sig");
	char *out = NULL;

	ck_assert_int_eq(OPENSSL_PLAIN(&out, "dgst", "-sha256", "-binary", "-out", hash, fx.data), 0);
	free(out);
	ck_assert_int_eq(OPENSSL_WITH_ENGINE(&out, fx.conf_assignment, "pkeyutl", "-engine", "pkcs11", "-keyform",
	                                     "engine", "-inkey", fx.uri, "-sign", "-in", hash, "-out", sig), 0);
	free(out);
	ck_assert_int_eq(OPENSSL_PLAIN(&out, "pkeyutl", "-verify", "-pubin", "-inkey", fx.pub_pem, "-in", hash,
	                               "-sigfile", sig), 0);
	ck_assert_msg(strstr(out, "Signature Verified Successfully"), "plain OpenSSL does not verify the signature");
	free(out);

	/* The engine also reads the public key from the token: same key as exported. */
	char public_uri[PATH_MAX], engine_pub[PATH_MAX];
	snprintf(public_uri, sizeof public_uri, "pkcs11:token=%s;object=%s;type=public", fx.env.token_label,
	         KEY_LABEL);
	akm_interop_path(engine_pub, &fx.env, "engine-pub.pem");
	ck_assert_int_eq(OPENSSL_WITH_ENGINE(&out, fx.conf_assignment, "pkey", "-engine", "pkcs11", "-inform",
	                                     "engine", "-pubin", "-in", public_uri, "-pubout", "-out", engine_pub), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(engine_pub, fx.pub_pem),
	              "public key read by the engine differs from the exported one");
	akm_testenv_destroy(&fx.env);
}
END_TEST

/* Signs with `uri`, expecting failure with `expected_error` in the output,
 * through akm-pkcs11 and through SoftHSM2 directly.  libp11 0.4.12 with
 * OpenSSL 3 can crash on its way out after such a failure even with SoftHSM2
 * directly: the module must do no worse. */
static void check_sign_fails(const engine_fixture *fx, const char *direct_conf_assignment, const char *uri,
                             const char *expected_error)
{
	char sig[PATH_MAX];
	akm_interop_path(sig, &fx->env, "fail.sig");
	char *out = NULL;
	int direct_status = OPENSSL_WITH_ENGINE(&out, direct_conf_assignment, "dgst", "-sha256", "-engine",
	                                        "pkcs11", "-keyform", "engine", "-sign", uri, "-out", sig, fx->data);
	free(out);
	int akm_status = OPENSSL_WITH_ENGINE(&out, fx->conf_assignment, "dgst", "-sha256", "-engine", "pkcs11",
	                                     "-keyform", "engine", "-sign", uri, "-out", sig, fx->data);
	ck_assert_int_ne(akm_status, 0);
	ck_assert_msg(strstr(out, expected_error), "failure not reported as '%s'", expected_error);
	ck_assert_msg(akm_status < 128 || direct_status >= 128,
	              "openssl died of signal %d through akm-pkcs11, but exited with %d through SoftHSM2",
	              akm_status - 128, direct_status);
	free(out);
}

START_TEST(engine_sign_fails_with_wrong_pin_or_missing_key)
{
	engine_fixture fx;
	engine_fixture_create(&fx, "akm-engine-fail");
	char direct_conf[PATH_MAX], direct_conf_assignment[PATH_MAX + 16], sig[PATH_MAX], bad_uri[PATH_MAX];
	akm_interop_path(direct_conf, &fx.env, "openssl-softhsm.cnf");
	ck_assert_int_eq(akm_interop_write_openssl_conf(direct_conf, fx.env.softhsm_path), 0);
	snprintf(direct_conf_assignment, sizeof direct_conf_assignment, "OPENSSL_CONF=%s", direct_conf);
	akm_interop_path(sig, &fx.env, "data.sig");
	char *out = NULL;

	akm_interop_private_key_uri(bad_uri, &fx.env, KEY_LABEL, "9999");
	check_sign_fails(&fx, direct_conf_assignment, bad_uri, "PIN incorrect");
	akm_interop_private_key_uri(bad_uri, &fx.env, "no-such-key", AKM_TEST_USER_PIN);
	check_sign_fails(&fx, direct_conf_assignment, bad_uri, "not found");

	/* And the right PIN still works afterwards. */
	ck_assert_int_eq(OPENSSL_WITH_ENGINE(&out, fx.conf_assignment, "dgst", "-sha256", "-engine", "pkcs11",
	                                     "-keyform", "engine", "-sign", fx.uri, "-out", sig, fx.data), 0);
	free(out);
	ck_assert_int_eq(OPENSSL_PLAIN(&out, "dgst", "-sha256", "-verify", fx.pub_pem, "-signature", sig, fx.data), 0);
	ck_assert_msg(strstr(out, "Verified OK"), "signature after failed attempts does not verify");
	free(out);
	akm_testenv_destroy(&fx.env);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *suite = suite_create("openssl pkcs11 engine");
	TCase *sign = tcase_create("sign");
	tcase_set_timeout(sign, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(sign, dgst_sign_through_engine_verifies_with_exported_key);
	tcase_add_test(sign, pkeyutl_sign_through_engine_verifies_with_exported_key);
	tcase_add_test(sign, engine_sign_fails_with_wrong_pin_or_missing_key);
	suite_add_tcase(suite, sign);
	return suite;
}

int main(void)
{
	return akm_interop_engine_main(engine_suite);
}

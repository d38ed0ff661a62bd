/*
 * pkcs11-tool (OpenSC) through akm-pkcs11.so: listing slots, mechanisms and
 * objects; key generation, ECDSA sign/verify, AES encrypt/decrypt and HMAC,
 * each cross-checked against SoftHSM2 used directly on the same token.
 */
#include "interop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIN_ARGS "--login", "--pin", AKM_TEST_USER_PIN

/* pkcs11-tool through `module` on the env's token: TOOL(env, module, &out, args...) */
#define TOOL(env, module, out, ...)                                                     \
	akm_interop_pkcs11_tool((module),                                               \
	                        (const char *const[]){"--token-label", (env)->token_label, \
	                                              __VA_ARGS__, NULL},               \
	                        (out))

#define RUN(out, ...) akm_interop_run((const char *const[]){__VA_ARGS__, NULL}, NULL, (out))

/* The value after "<key> : " on the line following the line naming the
 * token's label in `pkcs11-tool -L` output; copied into out. */
static bool slot_field(const char *listing, const char *label, const char *key, char *out,
                       size_t out_size)
{
	char label_line[96];
	snprintf(label_line, sizeof label_line, "token label        : %s\n", label);
	const char *block = strstr(listing, label_line);
	if (!block)
		return false;
	const char *end = strstr(block + 1, "\nSlot ");
	const char *field = strstr(block, key);
	if (!field || (end && field > end))
		return false;
	field = strstr(field, ": ");
	if (!field)
		return false;
	field += 2;
	size_t len = strcspn(field, "\n");
	snprintf(out, out_size, "%.*s", (int)len, field);
	return true;
}

START_TEST(list_slots_shows_only_the_selected_token_as_akm)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-list");
	/* A second backend token the configuration does not select. */
	ck_assert_int_eq(akm_testenv_add_token(&env, "akm-unselected"), 0);

	char *akm_out = NULL, *direct_out = NULL;
	int status = akm_interop_pkcs11_tool(env.module_path, (const char *const[]){"-L", NULL}, &akm_out);
	ck_assert_int_eq(status, 0);
	ck_assert_msg(strstr(akm_out, "token label        : akm-list\n"), "token label missing");
	ck_assert_msg(strstr(akm_out, "token manufacturer : akm-pkcs11\n"), "manufacturer is not akm-pkcs11");
	ck_assert_msg(strstr(akm_out, "token model        : akm-pkcs11\n"), "model is not akm-pkcs11");
	ck_assert_msg(!strstr(akm_out, "akm-unselected"), "a token the configuration does not select is listed");
	ck_assert_msg(!strstr(akm_out, "token manufacturer : SoftHSM"), "the backend's manufacturer shows through");
	ck_assert_uint_eq(akm_interop_count(akm_out, "token label "), 1);

	status = akm_interop_pkcs11_tool(env.softhsm_path, (const char *const[]){"-L", NULL}, &direct_out);
	ck_assert_int_eq(status, 0);
	ck_assert_msg(strstr(direct_out, "akm-unselected"), "SoftHSM2 does not have the second token");

	/* Serial number and flags come from the backend token. */
	char akm_serial[64], direct_serial[64], akm_flags[256], direct_flags[256];
	ck_assert(slot_field(akm_out, "akm-list", "serial num", akm_serial, sizeof akm_serial));
	ck_assert(slot_field(direct_out, "akm-list", "serial num", direct_serial, sizeof direct_serial));
	ck_assert_str_eq(akm_serial, direct_serial);
	ck_assert(slot_field(akm_out, "akm-list", "token flags", akm_flags, sizeof akm_flags));
	ck_assert(slot_field(direct_out, "akm-list", "token flags", direct_flags, sizeof direct_flags));
	ck_assert_str_eq(akm_flags, direct_flags);

	free(akm_out);
	free(direct_out);

	/* Library and token information through the module. */
	char *info_out = NULL;
	ck_assert_int_eq(akm_interop_pkcs11_tool(env.module_path, (const char *const[]){"-I", NULL}, &info_out), 0);
	ck_assert_msg(strstr(info_out, "Cryptoki version"), "no library information");
	free(info_out);
	akm_testenv_destroy(&env);
}
END_TEST

/* The mechanism lines ("  NAME, keySize=..., flags") of `pkcs11-tool -M`. */
static bool is_mechanism_line(const char *line, size_t len)
{
	return len > 2 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ';
}

START_TEST(list_mechanisms_matches_the_backend)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-mechs");
	char *akm_out = NULL, *direct_out = NULL;
	ck_assert_int_eq(TOOL(&env, env.module_path, &akm_out, "-M"), 0);
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &direct_out, "-M"), 0);

	static const char *const expected[] = {
		"\n  AES-GCM,", "\n  AES-CBC-PAD,", "\n  AES-KEY-GEN,", "\n  ECDSA,",
		"\n  ECDSA-KEY-PAIR-GEN,", "\n  SHA256-HMAC,", "\n  SHA256,", "\n  RSA-PKCS,",
	};
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
		ck_assert_msg(strstr(akm_out, expected[i]), "mechanism%s not listed through akm-pkcs11",
		              expected[i] + 1);

	/* Every mechanism (with its sizes and flags) shown through the module is
	 * what the backend itself shows, nothing altered; the one addition is
	 * the AKM relationship mechanisms of the registry's token. */
	ck_assert_msg(strstr(akm_out, "\n  mechtype-0x8A4B4D01, keySize={32,32}, generate\n"),
	              "CKM_AKM_RELATIONSHIP_GEN not listed");
	ck_assert_msg(strstr(akm_out, "\n  mechtype-0x8A4B4D02, keySize={32,32}, generate\n"),
	              "CKM_AKM_RELATIONSHIP_BATCH_GEN not listed");
	size_t akm_count = 0, direct_count = 0;
	for (const char *line = akm_out; *line;) {
		size_t len = strcspn(line, "\n");
		if (is_mechanism_line(line, len) && strncmp(line, "  mechtype-0x8A4B4D0", 20) != 0) {
			akm_count++;
			char needle[512];
			snprintf(needle, sizeof needle, "\n%.*s\n", (int)len, line);
			ck_assert_msg(strstr(direct_out, needle), "akm-pkcs11 lists a mechanism differently from SoftHSM2: %.*s",
			              (int)len, line);
		}
		line += len + (line[len] == '\n');
	}
	for (const char *line = direct_out; *line;) {
		size_t len = strcspn(line, "\n");
		if (is_mechanism_line(line, len)) {
			direct_count++;
			char needle[512];
			snprintf(needle, sizeof needle, "\n%.*s\n", (int)len, line);
			if (!strstr(akm_out, needle))
				fprintf(stderr, "note: SoftHSM2 mechanism not offered through akm-pkcs11: %.*s\n",
				        (int)len, line);
		}
		line += len + (line[len] == '\n');
	}
	fprintf(stderr, "mechanisms: %zu through akm-pkcs11, %zu from SoftHSM2 directly\n", akm_count,
	        direct_count);
	ck_assert_uint_gt(akm_count, 0);

	free(akm_out);
	free(direct_out);
	akm_testenv_destroy(&env);
}
END_TEST

START_TEST(generated_keys_appear_in_object_listing)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-objects");
	char *out = NULL;

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--keygen", "--key-type", "AES:32",
	                      "--label", "interop-aes", "--id", "a1"), 0);
	ck_assert_msg(strstr(out, "Secret Key Object; AES length 32"), "AES key not reported");
	free(out);
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--keypairgen", "--key-type",
	                      "EC:prime256v1", "--label", "interop-ec", "--id", "e1"), 0);
	ck_assert_msg(strstr(out, "Private Key Object; EC"), "EC private key not reported");
	ck_assert_msg(strstr(out, "EC_PARAMS:  06082a8648ce3d030107"), "EC key is not on P-256");
	free(out);

	char *akm_out = NULL, *direct_out = NULL;
	ck_assert_int_eq(TOOL(&env, env.module_path, &akm_out, PIN_ARGS, "-O"), 0);
	ck_assert_msg(strstr(akm_out, "Secret Key Object; AES length 32"), "AES key not listed");
	ck_assert_msg(strstr(akm_out, "Private Key Object; EC"), "EC private key not listed");
	ck_assert_msg(strstr(akm_out, "Public Key Object; EC"), "EC public key not listed");
	ck_assert_uint_eq(akm_interop_count(akm_out, "label:      interop-aes\n"), 1);
	ck_assert_uint_eq(akm_interop_count(akm_out, "label:      interop-ec\n"), 2);

	/* The same objects, seen from SoftHSM2 directly, where the module's
	 * own key-encryption key and MAC key show too: the module hides them. */
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &direct_out, PIN_ARGS, "-O"), 0);
	ck_assert_uint_eq(akm_interop_count(direct_out, "label:      akm-pkcs11 KEK\n"), 1);
	ck_assert_uint_eq(akm_interop_count(akm_out, "akm-pkcs11 KEK"), 0);
	ck_assert_uint_eq(akm_interop_count(akm_out, "akm-pkcs11 registry counter"), 0);
	ck_assert_uint_eq(akm_interop_count(direct_out, "label:      akm-pkcs11 registry MAC key\n"), 1);
	ck_assert_uint_eq(akm_interop_count(akm_out, "akm-pkcs11 registry MAC key"), 0);
	ck_assert_uint_eq(akm_interop_count(direct_out, " Object; ") - 2, akm_interop_count(akm_out, " Object; "));
	ck_assert_uint_eq(akm_interop_count(direct_out, "label:      interop-ec\n"), 2);
	free(akm_out);
	free(direct_out);

	/* Without login only public objects show, as with the backend. */
	ck_assert_int_eq(TOOL(&env, env.module_path, &akm_out, "-O"), 0);
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &direct_out, "-O"), 0);
	ck_assert_uint_eq(akm_interop_count(akm_out, " Object; "), akm_interop_count(direct_out, " Object; "));
	ck_assert_msg(!strstr(akm_out, "Private Key Object"), "private key visible without login");
	free(akm_out);
	free(direct_out);

	/* A wrong PIN is refused, with the backend's error. */
	ck_assert_int_ne(TOOL(&env, env.module_path, &out, "--login", "--pin", "9999", "-O"), 0);
	ck_assert_msg(strstr(out, "CKR_PIN_INCORRECT"), "wrong PIN not reported as CKR_PIN_INCORRECT");
	free(out);

	/* Deleting through the module removes the object from the backend. */
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--delete-object", "--type", "secrkey",
	                      "--id", "a1"), 0);
	free(out);
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &direct_out, PIN_ARGS, "-O"), 0);
	ck_assert_msg(!strstr(direct_out, "interop-aes"), "deleted key still in the backend");
	free(direct_out);
	akm_testenv_destroy(&env);
}
END_TEST

START_TEST(ecdsa_sign_verify_round_trip)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-ecdsa");
	char data[PATH_MAX], hash[PATH_MAX], sig[PATH_MAX], bad_sig[PATH_MAX], pub_der[PATH_MAX],
		pub_pem[PATH_MAX], other_data[PATH_MAX], direct_sig[PATH_MAX], direct_pub_pem[PATH_MAX],
		read_pub_pem[PATH_MAX];
	akm_interop_path(data, &env, "data.bin");
	akm_interop_path(hash, &env, "data.sha256");
	akm_interop_path(sig, &env, "data.sig");
	akm_interop_path(bad_sig, &env, "bad.sig");
	akm_interop_path(pub_der, &env, "pub.der");
	akm_interop_path(pub_pem, &env, "pub.pem");
	akm_interop_path(other_data, &env, "other.bin");
	akm_interop_path(direct_sig, &env, "direct.sig");
	akm_interop_path(direct_pub_pem, &env, "direct-pub.pem");
	akm_interop_path(read_pub_pem, &env, "read-pub.pem");
	ck_assert_int_eq(akm_interop_write_random_file(data, 1000), 0);
	ck_assert_int_eq(akm_interop_write_random_file(other_data, 1000), 0);
	char *out = NULL;

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--keypairgen", "--key-type",
	                      "EC:prime256v1", "--label", "sign-key", "--id", "51"), 0);
	free(out);

	/* CKM_ECDSA signs a digest: hash with openssl first. */
	ck_assert_int_eq(RUN(&out, "openssl", "dgst", "-sha256", "-binary", "-out", hash, data), 0);
	free(out);
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--sign", "-m", "ECDSA", "--id", "51",
	                      "--signature-format", "openssl", "-i", hash, "-o", sig), 0);
	free(out);
	size_t sig_len = 0;
	unsigned char *sig_bytes = akm_interop_read_file(sig, &sig_len);
	ck_assert_ptr_nonnull(sig_bytes);
	ck_assert_msg(sig_len >= 8 && sig_bytes[0] == 0x30, "signature is not a DER SEQUENCE");

	/* Verify through the module, and through SoftHSM2 directly. */
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "ECDSA", "--id", "51",
	                      "--signature-format", "openssl", "-i", hash, "--signature-file", sig), 0);
	ck_assert_msg(strstr(out, "Signature is valid"), "signature not valid through akm-pkcs11");
	free(out);
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &out, PIN_ARGS, "--verify", "-m", "ECDSA", "--id", "51",
	                      "--signature-format", "openssl", "-i", hash, "--signature-file", sig), 0);
	ck_assert_msg(strstr(out, "Signature is valid"), "signature not valid through SoftHSM2");
	free(out);

	/* A signature made by SoftHSM2 directly verifies through the module. */
	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &out, PIN_ARGS, "--sign", "-m", "ECDSA", "--id", "51",
	                      "--signature-format", "openssl", "-i", hash, "-o", direct_sig), 0);
	free(out);
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "ECDSA", "--id", "51",
	                      "--signature-format", "openssl", "-i", hash, "--signature-file", direct_sig), 0);
	ck_assert_msg(strstr(out, "Signature is valid"), "SoftHSM2 signature not valid through akm-pkcs11");
	free(out);

	/* A corrupted signature is rejected. */
	sig_bytes[sig_len - 3] ^= 0x01;
	ck_assert_int_eq(akm_interop_write_file(bad_sig, sig_bytes, sig_len), 0);
	free(sig_bytes);
	TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "ECDSA", "--id", "51",
	     "--signature-format", "openssl", "-i", hash, "--signature-file", bad_sig);
	ck_assert_msg(!strstr(out, "Signature is valid"), "corrupted signature accepted");
	ck_assert_msg(strstr(out, "Invalid signature") || strstr(out, "CKR_SIGNATURE_INVALID"),
	              "corrupted signature not reported as invalid");
	free(out);

	/* Export the public key and verify with plain OpenSSL. */
	akm_interop_export_ec_public_key(&env, env.module_path, "51", pub_pem);
	akm_interop_export_ec_public_key(&env, env.softhsm_path, "51", direct_pub_pem);
	ck_assert_msg(akm_interop_files_equal(pub_pem, direct_pub_pem),
	              "public key through akm-pkcs11 differs from SoftHSM2's");
	if (!akm_interop_sanitizer_preloaded()) {
		/* pkcs11-tool's own export gives the same key (skipped under ASan:
		 * OpenSC 0.23 reads freed memory in --read-object of EC keys). */
		ck_assert_int_eq(TOOL(&env, env.module_path, &out, "--read-object", "--type", "pubkey", "--id", "51",
		                      "-o", pub_der), 0);
		free(out);
		ck_assert_int_eq(RUN(&out, "openssl", "pkey", "-pubin", "-inform", "DER", "-in", pub_der, "-out",
		                     read_pub_pem), 0);
		free(out);
		ck_assert_msg(akm_interop_files_equal(pub_pem, read_pub_pem), "--read-object gives another key");
	}
	ck_assert_int_eq(RUN(&out, "openssl", "dgst", "-sha256", "-verify", pub_pem, "-signature", sig, data), 0);
	ck_assert_msg(strstr(out, "Verified OK"), "OpenSSL does not verify the signature");
	free(out);
	ck_assert_int_ne(RUN(&out, "openssl", "dgst", "-sha256", "-verify", pub_pem, "-signature", sig, other_data), 0);
	ck_assert_msg(strstr(out, "Verification failure"), "OpenSSL accepts the signature for other data");
	free(out);

	/* A mechanism the backend lacks is refused as such. */
	ck_assert_int_ne(TOOL(&env, env.softhsm_path, &out, PIN_ARGS, "--sign", "-m", "ECDSA-SHA256", "--id", "51",
	                      "-i", data, "-o", sig), 0);
	bool backend_lacks_ecdsa_sha256 = strstr(out, "CKR_MECHANISM_INVALID") != NULL;
	free(out);
	if (backend_lacks_ecdsa_sha256) {
		ck_assert_int_ne(TOOL(&env, env.module_path, &out, PIN_ARGS, "--sign", "-m", "ECDSA-SHA256", "--id",
		                      "51", "-i", data, "-o", sig), 0);
		ck_assert_msg(strstr(out, "CKR_MECHANISM_INVALID"), "unsupported mechanism not CKR_MECHANISM_INVALID");
		free(out);
	}
	akm_testenv_destroy(&env);
}
END_TEST

#define IV "000102030405060708090a0b0c0d0e0f"

/* Encrypts `plain` with `mechanism` through the module, checks the
 * ciphertext is what SoftHSM2 directly produces for the same key, then
 * decrypts it through the module and through SoftHSM2. */
static void check_cipher_round_trip(const akm_testenv *env, const char *mechanism, const char *plain,
                                    size_t expected_cipher_len)
{
	char cipher[PATH_MAX], direct_cipher[PATH_MAX], decrypted[PATH_MAX], direct_decrypted[PATH_MAX];
	char name[64];
	snprintf(name, sizeof name, "%s.enc", mechanism);
	akm_interop_path(cipher, env, name);
	snprintf(name, sizeof name, "%s.direct.enc", mechanism);
	akm_interop_path(direct_cipher, env, name);
	snprintf(name, sizeof name, "%s.dec", mechanism);
	akm_interop_path(decrypted, env, name);
	snprintf(name, sizeof name, "%s.direct.dec", mechanism);
	akm_interop_path(direct_decrypted, env, name);
	char *out = NULL;

	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--encrypt", "-m", mechanism, "--id", "c1",
	                      "--iv", IV, "-i", plain, "-o", cipher), 0);
	free(out);
	size_t cipher_len = 0;
	free(akm_interop_read_file(cipher, &cipher_len));
	ck_assert_uint_eq(cipher_len, expected_cipher_len);
	ck_assert_msg(!akm_interop_files_equal(cipher, plain), "%s: ciphertext equals plaintext", mechanism);

	ck_assert_int_eq(TOOL(env, env->softhsm_path, &out, PIN_ARGS, "--encrypt", "-m", mechanism, "--id", "c1",
	                      "--iv", IV, "-i", plain, "-o", direct_cipher), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(cipher, direct_cipher),
	              "%s: ciphertext through akm-pkcs11 differs from SoftHSM2's", mechanism);

	ck_assert_int_eq(TOOL(env, env->module_path, &out, PIN_ARGS, "--decrypt", "-m", mechanism, "--id", "c1",
	                      "--iv", IV, "-i", cipher, "-o", decrypted), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(decrypted, plain), "%s: decryption through akm-pkcs11 differs",
	              mechanism);
	ck_assert_int_eq(TOOL(env, env->softhsm_path, &out, PIN_ARGS, "--decrypt", "-m", mechanism, "--id", "c1",
	                      "--iv", IV, "-i", cipher, "-o", direct_decrypted), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(direct_decrypted, plain), "%s: SoftHSM2 decryption differs",
	              mechanism);
}

START_TEST(aes_encrypt_decrypt_round_trip)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-aes");
	char plain_1000[PATH_MAX], plain_1024[PATH_MAX], cipher[PATH_MAX];
	akm_interop_path(plain_1000, &env, "plain1000.bin");
	akm_interop_path(plain_1024, &env, "plain1024.bin");
	akm_interop_path(cipher, &env, "unaligned.enc");
	ck_assert_int_eq(akm_interop_write_random_file(plain_1000, 1000), 0);
	ck_assert_int_eq(akm_interop_write_random_file(plain_1024, 1024), 0);
	char *out = NULL;

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--keygen", "--key-type", "AES:32",
	                      "--label", "cipher-key", "--id", "c1", "--usage-decrypt"), 0);
	free(out);

	check_cipher_round_trip(&env, "AES-CBC-PAD", plain_1000, 1008);
	check_cipher_round_trip(&env, "AES-CBC", plain_1024, 1024);
	check_cipher_round_trip(&env, "AES-ECB", plain_1024, 1024);

	/* Unpadded CBC of a length that is not a multiple of the block size. */
	ck_assert_int_ne(TOOL(&env, env.module_path, &out, PIN_ARGS, "--encrypt", "-m", "AES-CBC", "--id", "c1",
	                      "--iv", IV, "-i", plain_1000, "-o", cipher), 0);
	ck_assert_msg(strstr(out, "CKR_DATA_LEN_RANGE"), "unaligned AES-CBC not CKR_DATA_LEN_RANGE");
	free(out);
	akm_testenv_destroy(&env);
}
END_TEST

START_TEST(hmac_sign_verify_round_trip)
{
	akm_testenv env;
	akm_interop_env_create(&env, "akm-hmac");
	char data[PATH_MAX], other[PATH_MAX], mac[PATH_MAX], direct_mac[PATH_MAX];
	akm_interop_path(data, &env, "data.bin");
	akm_interop_path(other, &env, "other.bin");
	akm_interop_path(mac, &env, "data.mac");
	akm_interop_path(direct_mac, &env, "data.direct.mac");
	ck_assert_int_eq(akm_interop_write_random_file(data, 4096), 0);
	ck_assert_int_eq(akm_interop_write_random_file(other, 4096), 0);
	char *out = NULL;

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--keygen", "--key-type", "GENERIC:32",
	                      "--label", "mac-key", "--id", "d1"), 0);
	free(out);
	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--sign", "-m", "SHA256-HMAC", "--id", "d1",
	                      "-i", data, "-o", mac), 0);
	free(out);
	size_t mac_len = 0;
	free(akm_interop_read_file(mac, &mac_len));
	ck_assert_uint_eq(mac_len, 32);

	ck_assert_int_eq(TOOL(&env, env.softhsm_path, &out, PIN_ARGS, "--sign", "-m", "SHA256-HMAC", "--id", "d1",
	                      "-i", data, "-o", direct_mac), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(mac, direct_mac), "HMAC through akm-pkcs11 differs from SoftHSM2's");

	ck_assert_int_eq(TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "SHA256-HMAC", "--id", "d1",
	                      "-i", data, "--signature-file", mac), 0);
	ck_assert_msg(strstr(out, "Signature is valid"), "HMAC not valid through akm-pkcs11");
	free(out);
	TOOL(&env, env.module_path, &out, PIN_ARGS, "--verify", "-m", "SHA256-HMAC", "--id", "d1", "-i", other,
	     "--signature-file", mac);
	ck_assert_msg(!strstr(out, "Signature is valid"), "HMAC of other data accepted");
	free(out);
	akm_testenv_destroy(&env);
}
END_TEST

static Suite *pkcs11_tool_suite(void)
{
	Suite *suite = suite_create("pkcs11-tool");
	TCase *listing = tcase_create("listing");
	tcase_set_timeout(listing, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(listing, list_slots_shows_only_the_selected_token_as_akm);
	tcase_add_test(listing, list_mechanisms_matches_the_backend);
	tcase_add_test(listing, generated_keys_appear_in_object_listing);
	suite_add_tcase(suite, listing);

	TCase *crypto = tcase_create("crypto");
	tcase_set_timeout(crypto, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(crypto, ecdsa_sign_verify_round_trip);
	tcase_add_test(crypto, aes_encrypt_decrypt_round_trip);
	tcase_add_test(crypto, hmac_sign_verify_round_trip);
	suite_add_tcase(suite, crypto);
	return suite;
}

int main(void)
{
	akm_interop_prepare((const char *const[]){"pkcs11-tool", "openssl", NULL});
	return akm_interop_run_suite(pkcs11_tool_suite());
}

/*
 * akm-node and the key transfer (tools/station/seal.c, tools/node/import.c)
 * against real tokens: SoftHSM2 tokens as the nodes' secure elements,
 * akm-pkcs11.so on another SoftHSM2 token as the station.  The akm-node
 * program runs as a process; the station side of the transfer is called
 * through the station library (nmm_seal), so these tests do not need akm-nmm.
 *
 * Environment: AKM_TEST_NODE (akm-node), AKM_TEST_MODULE, AKM_TEST_SOFTHSM.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "akm/pkcs11-akm.h"
#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"
#include "lib/hex.h"
#include "shared/p11.h"
#include "shared/secret.h"
#include "node/node.h"
#include "station/station.h"
#include "testenv.h"

#define STATION "station"
#define NODE_A "node-a"
#define NODE_B "node-b"

static akm_testenv env;
static const char *node_tool;
static char pin_file[PATH_MAX];

static const uint8_t station_id[16] = { 0x5a, 0x71, 0x0e, 0x01, 0x02, 0x03, 0x04, 0x05,
                                        0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d };

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot read %s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void path_in(char *out, size_t cap, const char *name)
{
	ck_assert_int_lt(snprintf(out, cap, "%s/%s", env.dir, name), (int)cap);
}

static void setup(void)
{
	akm_secret_init();
	ck_assert_int_eq(akm_testenv_create(&env, STATION), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, NODE_A), 0);
	ck_assert_int_eq(akm_testenv_add_token(&env, NODE_B), 0);
	path_in(pin_file, sizeof pin_file, "pin");
	write_file(pin_file, AKM_TEST_USER_PIN "\n", strlen(AKM_TEST_USER_PIN) + 1);
}

static void teardown(void)
{
	akm_testenv_destroy(&env);
}

/* Runs akm-node on a SoftHSM2 token; returns its exit status, output in *out. */
static int run_node(const char *token, const char *const extra[], char **out)
{
	const char *argv[32] = { node_tool, "--module", env.softhsm_path, "--token", token,
	                         "--pin-file", pin_file };
	size_t n = 7;
	for (size_t i = 0; extra[i] != NULL && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return akm_run(argv, NULL, out, 120);
}

static void open_node(akm_p11 *p, const char *label)
{
	ck_assert_msg(akm_p11_open(p, env.softhsm_path, label) == 0, "%s", p->err);
	akm_secret pin;
	ck_assert_int_eq(akm_secret_from(&pin, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)), 0);
	ck_assert_msg(akm_p11_login(p, pin.data, pin.len) == 0, "%s", p->err);
	akm_secret_free(&pin);
}

static void open_station(akm_p11 *p)
{
	ck_assert_msg(akm_p11_open(p, env.module_path, NULL) == 0, "%s", p->err);
	akm_secret pin;
	ck_assert_int_eq(akm_secret_from(&pin, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)), 0);
	ck_assert_msg(akm_p11_login(p, pin.data, pin.len) == 0, "%s", p->err);
	akm_secret_free(&pin);
}

static void token_serial(const char *label, char out[17])
{
	akm_p11 p;
	ck_assert_msg(akm_p11_open(&p, env.softhsm_path, label) == 0, "%s", p.err);
	akm_p11_serial(&p, out);
	akm_p11_close(&p);
}

/* Every object the logged-in session sees: their number, and in `digest`
 * the SHA-256 of their classes, labels and (data objects) values, so a
 * refusal is seen to change nothing. */
static size_t count_objects(akm_p11 *p, uint8_t digest[32])
{
	CK_OBJECT_HANDLE hs[256];
	size_t n;
	ck_assert_msg(akm_p11_find(p, NULL, 0, hs, 256, &n) == 0, "%s", p->err);
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	for (size_t i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls;
		CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof cls };
		ck_assert_int_eq(p->f->C_GetAttributeValue(p->session, hs[i], &a, 1), CKR_OK);
		uint8_t *v;
		size_t len;
		ck_assert_int_eq(akm_p11_get_bytes(p, hs[i], CKA_LABEL, &v, &len), 0);
		/* SoftHSM2 lists objects in a stable order */
		crypto_hash_sha256_update(&st, (const uint8_t *)&cls, sizeof cls);
		crypto_hash_sha256_update(&st, v, len);
		free(v);
		if (cls == CKO_DATA) {
			ck_assert_int_eq(akm_p11_get_bytes(p, hs[i], CKA_VALUE, &v, &len), 0);
			crypto_hash_sha256_update(&st, v, len);
			free(v);
		}
	}
	crypto_hash_sha256_final(&st, digest);
	return n;
}

/* ---------------------------------------------------------------------- */
/* The station: a signing key and provisioning relationships in akm-pkcs11 */

typedef struct station {
	akm_p11 p;
	CK_OBJECT_HANDLE pub, priv;
	akm_anchor anchor;
} station;

static void station_open(station *s)
{
	open_station(&s->p);
	ck_assert_msg(akm_p11_ec_generate(&s->p, true, "test station", (const uint8_t *)"st", 2, &s->pub,
	                                  &s->priv) == 0, "%s", s->p.err);
	memcpy(s->anchor.station_id, station_id, sizeof station_id);
	s->anchor.station_id_len = sizeof station_id;
	ck_assert_msg(akm_p11_ec_point(&s->p, s->pub, s->anchor.point) == 0, "%s", s->p.err);
}

/* A PR for node `name` bound to hw, for delivery to the node key `point`
 * (recorded) or, when point is NULL, with a passphrase; its enc and mac key
 * handles. */
static void station_pr(station *s, const char *name, const char *hw, const uint8_t *point, uint8_t pr_id[16],
                       CK_OBJECT_HANDLE *enc, CK_OBJECT_HANDLE *mac)
{
	CK_ULONG delivery = point != NULL ? CKV_AKM_DELIVERY_NODE_KEY : CKV_AKM_DELIVERY_PASSPHRASE;
	uint8_t node_id[16];
	randombytes_buf(pr_id, 16);
	randombytes_buf(node_id, sizeof node_id);
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_AKM_KIND, &kind, sizeof kind },
		{ CKA_AKM_RELATIONSHIP_ID, pr_id, 16 },
		{ CKA_AKM_STATION_ID, (void *)station_id, sizeof station_id },
		{ CKA_AKM_PEER_NODE, node_id, sizeof node_id },
		{ CKA_AKM_HW_BINDING, (void *)hw, (CK_ULONG)strlen(hw) },
		{ CKA_LABEL, (void *)name, (CK_ULONG)strlen(name) },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_AKM_DELIVERY, &delivery, sizeof delivery },
		{ CKA_AKM_NODE_KEY, (void *)point, 65 },
	};
	CK_MECHANISM gen = { CKM_AKM_RELATIONSHIP_GEN, NULL, 0 };
	CK_ULONG n_attrs = sizeof t / sizeof t[0] - (point == NULL);
	ck_assert_int_eq(s->p.f->C_GenerateKey(s->p.session, &gen, t, n_attrs, enc), CKR_OK);
	CK_ULONG purpose = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE ft[] = {
		{ CKA_AKM_RELATIONSHIP_ID, pr_id, 16 },
		{ CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose },
	};
	size_t n;
	ck_assert_msg(akm_p11_find(&s->p, ft, 2, mac, 1, &n) == 0, "%s", s->p.err);
	ck_assert_uint_eq(n, 1);
}

static size_t seal(station *s, CK_OBJECT_HANDLE enc, uint8_t protection, const uint8_t *node_point,
                   const akm_secret *master, const uint8_t *salt, uint8_t buf[AKM_FMT_BUNDLE_MAX])
{
	nmm_seal_args a = {
		.enc_key = enc, .station_priv = s->priv,
		.station_id = station_id, .station_id_len = sizeof station_id,
		.protection = protection, .node_point = node_point, .master = master, .salt = salt,
		.opslimit = 1, .memlimit_kib = 8192,
	};
	size_t len = 0;
	char err[512];
	ck_assert_msg(nmm_seal(&s->p, &a, buf, &len, err, sizeof err) == 0, "seal: %s", err);
	return len;
}

/* The node proves it holds the PR MAC key; the station checks it with its own. */
static void check_proof(station *s, akm_p11 *node, const akm_node_state *state, CK_OBJECT_HANDLE mac)
{
	uint8_t challenge[32], proof[32];
	randombytes_buf(challenge, sizeof challenge);
	ck_assert_msg(akm_node_prove(node, state, challenge, proof) == 0, "%s", node->err);
	uint8_t msg[12 + 1 + 32 + 1 + 32 + 32];
	size_t m = 0;
	memcpy(msg, "AKM-VERIFY-1", 12);
	m = 12;
	msg[m++] = (uint8_t)state->node_id_len;
	memcpy(msg + m, state->node_id, state->node_id_len);
	m += state->node_id_len;
	msg[m++] = (uint8_t)state->pr_id_len;
	memcpy(msg + m, state->pr_id, state->pr_id_len);
	m += state->pr_id_len;
	memcpy(msg + m, challenge, 32);
	m += 32;
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	ck_assert_int_eq(s->p.f->C_VerifyInit(s->p.session, &mech, mac), CKR_OK);
	ck_assert_int_eq(s->p.f->C_Verify(s->p.session, msg, (CK_ULONG)m, proof, 32), CKR_OK);
	proof[0] ^= 1;
	ck_assert_int_eq(s->p.f->C_VerifyInit(s->p.session, &mech, mac), CKR_OK);
	ck_assert_int_eq(s->p.f->C_Verify(s->p.session, msg, (CK_ULONG)m, proof, 32), CKR_SIGNATURE_INVALID);
}

static akm_import_rc node_open(akm_p11 *node, const uint8_t *buf, size_t len, const char *hw,
                             const akm_secret *pass, akm_node_state *st)
{
	akm_import_args a = { .hw = hw, .passphrase = pass, .file_hash = NULL };
	char err[512] = "";
	akm_import_rc rc = akm_node_import(node, buf, len, &a, st, err, sizeof err);
	if (rc != AKM_IMPORT_OK)
		ck_assert_msg(err[0] != '\0', "a refusal without a reason");
	if (getenv("AKM_TEST_VERBOSE") != NULL && rc != AKM_IMPORT_OK)
		fprintf(stderr, "refused (%d): %s\n", (int)rc, err);
	return rc;
}

/* Opening must be refused with `want` and leave the node token as it was. */
static void refused(akm_p11 *node, const uint8_t *buf, size_t len, const char *hw,
                    const akm_secret *pass, akm_import_rc want)
{
	uint8_t before[32], after[32];
	size_t n_before = count_objects(node, before);
	akm_node_state st;
	akm_import_rc rc = node_open(node, buf, len, hw, pass, &st);
	ck_assert_int_eq(rc, want);
	ck_assert_uint_eq(count_objects(node, after), n_before);
	ck_assert(memcmp(before, after, 32) == 0);
}

/* ---------------------------------------------------------------------- */
/* akm-node as a program                                                   */

START_TEST(hw_id_is_token_serial)
{
	char serial[17], *out = NULL;
	token_serial(NODE_A, serial);
	ck_assert_int_gt(strlen(serial), 0);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "hw-id", NULL }, &out), 0);
	char want[32];
	snprintf(want, sizeof want, "%s\n", serial);
	ck_assert_str_eq(out, want);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "hw-id", "--json", NULL }, &out), 0);
	snprintf(want, sizeof want, "\"%s\"", serial);
	ck_assert_ptr_nonnull(strstr(out, want));
	free(out);
	/* the token by URI */
	char uri[64];
	snprintf(uri, sizeof uri, "pkcs11:token=%s", NODE_B);
	token_serial(NODE_B, serial);
	ck_assert_int_eq(run_node(uri, (const char *[]){ "hw-id", NULL }, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, serial));
	free(out);
	/* no such token */
	ck_assert_int_eq(run_node("no-such-token", (const char *[]){ "hw-id", NULL }, &out), 4);
	free(out);
}
END_TEST

START_TEST(help_and_usage)
{
	char *out = NULL;
	const char *cmds[] = { "hw-id", "trust", "import", "id", "request" };
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(run_node(NODE_A, (const char *[]){ cmds[i], "--help", NULL }, &out), 0);
		ck_assert_ptr_nonnull(strstr(out, cmds[i]));
		free(out);
	}
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "frobnicate", NULL }, &out), 1);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", NULL }, &out), 1);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "request", "--name", "bad name", "--out", "/tmp/x", NULL }, &out), 1);
	free(out);
}
END_TEST

START_TEST(request_verifies)
{
	char path[PATH_MAX], serial[17], *out = NULL;
	path_in(path, sizeof path, "a.akmr");
	token_serial(NODE_A, serial);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "request", "--name", "node-A", "--out", path, NULL }, &out), 0);
	free(out);
	uint8_t buf[4096];
	size_t len = read_file(path, buf, sizeof buf), signed_len;
	akm_request r;
	ck_assert_int_eq(akm_request_parse(buf, len, &r, &signed_len), AKM_FMT_OK);
	ck_assert_str_eq(r.name, "node-A");
	ck_assert_uint_eq(r.hw_len, strlen(serial));
	ck_assert(memcmp(r.hw, serial, r.hw_len) == 0);

	akm_p11 p;
	open_node(&p, NODE_A);
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, signed_len);
	ck_assert_int_eq(akm_p11_verify_digest(&p, r.node_point, digest, r.sig), 0);
	r.sig[10] ^= 0x40;
	ck_assert_int_eq(akm_p11_verify_digest(&p, r.node_point, digest, r.sig), 1);
	/* the request carries the token's identity key */
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point[65];
	ck_assert_int_eq(akm_node_identity(&p, false, &pub, &priv, point), 0);
	ck_assert(memcmp(point, r.node_point, 65) == 0);
	akm_p11_close(&p);

	/* a second request reuses the identity key; --hw-id overrides */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "request", "--name", "node-A", "--hw-id", "hw-x", "--out", path, "--json", NULL }, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"hw-x\""));
	free(out);
	len = read_file(path, buf, sizeof buf);
	akm_request r2;
	ck_assert_int_eq(akm_request_parse(buf, len, &r2, &signed_len), AKM_FMT_OK);
	ck_assert(memcmp(r2.node_point, point, 65) == 0);
	ck_assert_uint_eq(r2.hw_len, 4);

	/* an unwritable place: exit 5 */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "request", "--name", "n", "--out", "/proc/no/such/dir/r.akmr", NULL }, &out), 5);
	free(out);
}
END_TEST

START_TEST(id_before_provisioning)
{
	char *out = NULL;
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "id", NULL }, &out), 3);
	ck_assert_ptr_nonnull(strstr(out, "not provisioned"));
	free(out);
}
END_TEST

/* An anchor made from an EC key in a SoftHSM2 token (no station needed). */
static void make_anchor(const char *token, uint8_t id_byte, const char *path, akm_anchor *a)
{
	akm_p11 p;
	open_node(&p, token);
	CK_OBJECT_HANDLE pub, priv;
	ck_assert_int_eq(akm_p11_ec_generate(&p, false, NULL, NULL, 0, &pub, &priv), 0);
	memset(a, 0, sizeof *a);
	memset(a->station_id, id_byte, 16);
	a->station_id_len = 16;
	ck_assert_int_eq(akm_p11_ec_point(&p, pub, a->point), 0);
	akm_p11_close(&p);
	uint8_t buf[256];
	size_t len;
	ck_assert_int_eq(akm_anchor_encode(a, buf, sizeof buf, &len), AKM_FMT_OK);
	write_file(path, buf, len);
}

START_TEST(trust_pins_one_station)
{
	char a1[PATH_MAX], a2[PATH_MAX], *out = NULL;
	akm_anchor x, y;
	path_in(a1, sizeof a1, "one.akmp");
	path_in(a2, sizeof a2, "two.akmp");
	make_anchor(NODE_B, 0x11, a1, &x);
	make_anchor(NODE_B, 0x22, a2, &y);
	uint8_t buf[256], fp[32];
	char fph[65], bad[65];
	crypto_hash_sha256(fp, buf, read_file(a1, buf, sizeof buf));
	akm_hex_encode(fp, 32, fph);
	memcpy(bad, fph, sizeof bad);
	bad[0] = bad[0] == '0' ? '1' : '0';

	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", a1, "--fingerprint", bad, NULL }, &out), 2);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", a1, "--fingerprint", fph, NULL }, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, fph));
	free(out);
	/* the same again: fine; a different one: refused, the first stays */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", a1, NULL }, &out), 0);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", a2, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "another station"));
	free(out);
	/* not an anchor / missing file */
	char req[PATH_MAX];
	path_in(req, sizeof req, "pin");
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", req, NULL }, &out), 2);
	free(out);
	path_in(req, sizeof req, "missing.akmp");
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "trust", req, NULL }, &out), 3);
	free(out);

	akm_p11 p;
	open_node(&p, NODE_A);
	char err[256];
	ck_assert_int_eq(akm_node_trust(&p, &x, err, sizeof err), 0);
	ck_assert_int_eq(akm_node_trust(&p, &y, err, sizeof err), -1);
	/* The pinned anchor only verifies, and cannot be changed in place. */
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE find[] = { { CKA_CLASS, &pub_cls, sizeof pub_cls },
	                        { CKA_LABEL, (void *)AKM_NODE_ANCHOR_LABEL, sizeof AKM_NODE_ANCHOR_LABEL - 1 } };
	CK_OBJECT_HANDLE anchor;
	size_t n = 0;
	ck_assert_int_eq(akm_p11_find(&p, find, 2, &anchor, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	CK_BBOOL verify = CK_FALSE, encrypt = CK_TRUE, wrap = CK_TRUE, modifiable = CK_TRUE;
	CK_ATTRIBUTE flags[] = { { CKA_VERIFY, &verify, 1 }, { CKA_ENCRYPT, &encrypt, 1 }, { CKA_WRAP, &wrap, 1 },
	                         { CKA_MODIFIABLE, &modifiable, 1 } };
	ck_assert_int_eq(p.f->C_GetAttributeValue(p.session, anchor, flags, 4), CKR_OK);
	ck_assert(verify && !encrypt && !wrap && !modifiable);
	akm_p11_close(&p);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Station -> node transfer                                                */

START_TEST(transfer_node_key)
{
	station s;
	station_open(&s);
	char hw_a[17], hw_b[17];
	token_serial(NODE_A, hw_a);
	token_serial(NODE_B, hw_b);
	akm_p11 a, b;
	open_node(&a, NODE_A);
	open_node(&b, NODE_B);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point_a[65], point_b[65];
	ck_assert_int_eq(akm_node_identity(&a, true, &pub, &priv, point_a), 0);
	ck_assert_int_eq(akm_node_identity(&b, true, &pub, &priv, point_b), 0);
	char err[512];

	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-A", hw_a, point_a, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], b2[AKM_FMT_BUNDLE_MAX], other[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b1);

	/* untrusted before the anchor is pinned */
	refused(&a, b1, l1, hw_a, NULL, AKM_IMPORT_UNTRUSTED);
	ck_assert_int_eq(akm_node_trust(&a, &s.anchor, err, sizeof err), 0);

	/* every single bit flip of the bundle is refused (a few bits per byte) */
	for (size_t i = 0; i < l1; i++) {
		uint8_t bad[AKM_FMT_BUNDLE_MAX];
		memcpy(bad, b1, l1);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		akm_node_state st;
		akm_import_rc rc = node_open(&a, bad, l1, hw_a, NULL, &st);
		ck_assert_msg(rc == AKM_IMPORT_MALFORMED || rc == AKM_IMPORT_UNTRUSTED,
		              "byte %zu flipped: %d", i, (int)rc);
	}
	refused(&a, b1, l1 - 1, hw_a, NULL, AKM_IMPORT_MALFORMED);
	refused(&a, b1, l1, "other-hw", NULL, AKM_IMPORT_WRONG_NODE);

	akm_node_state st;
	ck_assert_int_eq(node_open(&a, b1, l1, hw_a, NULL, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 1);
	ck_assert_str_eq(st.name, "node-A");
	ck_assert(st.pr_id_len == 16 && memcmp(st.pr_id, pr, 16) == 0);
	check_proof(&s, &a, &st, mac);

	/* the keys are in the token, sensitive and not extractable */
	uint8_t kid[17];
	memcpy(kid, pr, 16);
	for (uint8_t purpose = 1; purpose <= 2; purpose++) {
		kid[16] = purpose;
		CK_ATTRIBUTE ft[] = { { CKA_ID, kid, 17 } };
		CK_OBJECT_HANDLE h[2];
		size_t n;
		ck_assert_int_eq(akm_p11_find(&a, ft, 1, h, 2, &n), 0);
		ck_assert_uint_eq(n, 1);
		CK_BBOOL tok, sens, ext;
		CK_ATTRIBUTE at[] = { { CKA_TOKEN, &tok, 1 }, { CKA_SENSITIVE, &sens, 1 }, { CKA_EXTRACTABLE, &ext, 1 } };
		ck_assert_int_eq(a.f->C_GetAttributeValue(a.session, h[0], at, 3), CKR_OK);
		ck_assert(tok && sens && !ext);
	}

	/* the same bundle twice: replay */
	refused(&a, b1, l1, hw_a, NULL, AKM_IMPORT_REPLAY);
	/* a newer one is taken; then the older one is refused */
	size_t l2 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b2);
	ck_assert_int_eq(node_open(&a, b2, l2, hw_a, NULL, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 2);
	check_proof(&s, &a, &st, mac);
	refused(&a, b1, l1, hw_a, NULL, AKM_IMPORT_REPLAY);
	refused(&a, b2, l2, hw_a, NULL, AKM_IMPORT_REPLAY);
	/* exactly one state object and one key of each purpose */
	uint8_t dg[32];
	size_t objects = count_objects(&a, dg);
	ck_assert_uint_eq(objects, 2 /* identity */ + 1 /* anchor */ + 2 /* keys */ + 1 /* state */);

	/* the station seals only to the node key it recorded */
	nmm_seal_args to_b = {
		.enc_key = enc, .station_priv = s.priv, .station_id = station_id, .station_id_len = sizeof station_id,
		.protection = AKM_BUNDLE_NODE_KEY, .node_point = point_b,
	};
	size_t lo = 0;
	ck_assert_int_eq(nmm_seal(&s.p, &to_b, other, &lo, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not the one recorded"));
	/* a PR sealed to node B's key, for A's hardware value: refused by A */
	uint8_t pr_b_key[16];
	CK_OBJECT_HANDLE enc_b_key, mac_b_key;
	station_pr(&s, "node-A-b-key", hw_a, point_b, pr_b_key, &enc_b_key, &mac_b_key);
	lo = seal(&s, enc_b_key, AKM_BUNDLE_NODE_KEY, point_b, NULL, NULL, other);
	refused(&a, other, lo, hw_a, NULL, AKM_IMPORT_WRONG_NODE);

	/* a bundle of another PR (another node AKM ID) for the same hardware */
	uint8_t pr2[16];
	CK_OBJECT_HANDLE enc2, mac2;
	station_pr(&s, "node-A2", hw_a, point_a, pr2, &enc2, &mac2);
	lo = seal(&s, enc2, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, other);
	refused(&a, other, lo, hw_a, NULL, AKM_IMPORT_WRONG_NODE); /* another node AKM ID */

	/* node B: trusts another station -> untrusted */
	akm_anchor fake = s.anchor;
	fake.station_id[0] ^= 0xff;
	ck_assert_int_eq(akm_node_trust(&b, &fake, err, sizeof err), 0);
	uint8_t pr3[16];
	CK_OBJECT_HANDLE enc3, mac3;
	station_pr(&s, "node-B", hw_b, point_b, pr3, &enc3, &mac3);
	lo = seal(&s, enc3, AKM_BUNDLE_NODE_KEY, point_b, NULL, NULL, other);
	refused(&b, other, lo, hw_b, NULL, AKM_IMPORT_UNTRUSTED);

	akm_p11_close(&b);
	akm_p11_close(&a);
	akm_p11_close(&s.p);
}
END_TEST

START_TEST(transfer_passphrase)
{
	station s;
	station_open(&s);
	char hw_b[17];
	token_serial(NODE_B, hw_b);
	akm_p11 b;
	open_node(&b, NODE_B);
	char err[512];
	ck_assert_int_eq(akm_node_trust(&b, &s.anchor, err, sizeof err), 0);

	akm_secret pass, wrong, master;
	ck_assert_int_eq(akm_secret_from(&pass, "K7QXM-ABCDE-FGHJK", 17), 0);
	ck_assert_int_eq(akm_secret_from(&wrong, "K7QXM-ABCDF-FGHJK", 17), 0);
	uint8_t salt[16];
	randombytes_buf(salt, sizeof salt);
	ck_assert_int_eq(akm_pass_master(&master, &pass, salt, 1, 8192), 0);

	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-B", hw_b, NULL, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], b2[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_PASSPHRASE, NULL, &master, salt, b1);

	refused(&b, b1, l1, hw_b, &wrong, AKM_IMPORT_BAD_PASSPHRASE);
	refused(&b, b1, l1, hw_b, NULL, AKM_IMPORT_BAD_PASSPHRASE);
	refused(&b, b1, l1, "not-b", &pass, AKM_IMPORT_WRONG_NODE);
	for (size_t i = 0; i < l1; i += 7) {
		uint8_t bad[AKM_FMT_BUNDLE_MAX];
		memcpy(bad, b1, l1);
		bad[i] ^= 0x80;
		akm_node_state st;
		akm_import_rc rc = node_open(&b, bad, l1, hw_b, &pass, &st);
		ck_assert_msg(rc == AKM_IMPORT_MALFORMED || rc == AKM_IMPORT_UNTRUSTED, "byte %zu: %d", i, (int)rc);
	}

	akm_node_state st;
	ck_assert_int_eq(node_open(&b, b1, l1, hw_b, &pass, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 1);
	check_proof(&s, &b, &st, mac);
	refused(&b, b1, l1, hw_b, &pass, AKM_IMPORT_REPLAY);
	size_t l2 = seal(&s, enc, AKM_BUNDLE_PASSPHRASE, NULL, &master, salt, b2);
	ck_assert_int_eq(node_open(&b, b2, l2, hw_b, &pass, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 2);
	refused(&b, b1, l1, hw_b, &pass, AKM_IMPORT_REPLAY);

	akm_secret_free(&master);
	akm_secret_free(&wrong);
	akm_secret_free(&pass);
	akm_p11_close(&b);
	akm_p11_close(&s.p);
}
END_TEST

/* akm-node import / id as a program, with bundles the station sealed. */
START_TEST(import_program)
{
	station s;
	station_open(&s);
	char hw_a[17];
	token_serial(NODE_A, hw_a);
	akm_p11 a;
	open_node(&a, NODE_A);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point_a[65];
	ck_assert_int_eq(akm_node_identity(&a, true, &pub, &priv, point_a), 0);
	akm_p11_close(&a);

	char dir[PATH_MAX], anchor[PATH_MAX], file[PATH_MAX + 32], decoy[PATH_MAX + 32], *out = NULL;
	path_in(dir, sizeof dir, "usb");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	path_in(anchor, sizeof anchor, "usb/station.akmp");
	uint8_t abuf[256];
	size_t alen;
	ck_assert_int_eq(akm_anchor_encode(&s.anchor, abuf, sizeof abuf, &alen), AKM_FMT_OK);
	write_file(anchor, abuf, alen);

	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-A", hw_a, point_a, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], b2[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b1);
	snprintf(file, sizeof file, "%s/node-A.akmb", dir);
	write_file(file, b1, l1);
	/* a decoy for another hardware value */
	uint8_t prx[16];
	CK_OBJECT_HANDLE encx, macx;
	station_pr(&s, "node-X", "hw-x", point_a, prx, &encx, &macx);
	size_t lx = seal(&s, encx, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b2);
	snprintf(decoy, sizeof decoy, "%s/node-X.akmb", dir);
	write_file(decoy, b2, lx);

	/* without a trusted station: refused, nothing pinned */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "no trusted station"));
	free(out);
	/* the decoy with --anchor: refused (other hardware); the anchor is not left pinned */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", decoy, "--anchor", anchor, "--trust-on-first-use", NULL }, &out), 2);
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "no trusted station"));
	free(out);
	/* no bundle for this node in a folder */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", env.token_dir, "--anchor", anchor, "--trust-on-first-use", NULL }, &out), 3);
	free(out);

	/* An anchor from the drive is pinned only with its fingerprint (or an
	 * explicit --trust-on-first-use): --anchor alone, or with another
	 * fingerprint, is refused and pins nothing. */
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "--fingerprint"));
	free(out);
	uint8_t fpb[32];
	char fph[65], wrong_fp[65];
	crypto_hash_sha256(fpb, abuf, alen);
	akm_hex_encode(fpb, 32, fph);
	memcpy(wrong_fp, fph, sizeof fph);
	wrong_fp[0] = wrong_fp[0] == '0' ? '1' : '0';
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, "--fingerprint", wrong_fp, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "fingerprint differs"));
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "no trusted station"));
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, "--fingerprint", fph, NULL }, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "node-A"));
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", file, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "already imported"));
	free(out);

	char prh[33], want[64];
	akm_hex_encode(pr, 16, prh);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "id", NULL }, &out), 0);
	snprintf(want, sizeof want, "PR ID: %s\n", prh);
	ck_assert_ptr_nonnull(strstr(out, want));
	ck_assert_ptr_nonnull(strstr(out, "sequence: 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "name: node-A\n"));
	free(out);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "id", "--json", NULL }, &out), 0);
	snprintf(want, sizeof want, "\"pr_id\":\"%s\"", prh);
	ck_assert_ptr_nonnull(strstr(out, want));
	free(out);

	/* node B: a passphrase bundle, from a file or the environment */
	char hw_b[17], pass_file[PATH_MAX], bad_file[PATH_MAX], fb[PATH_MAX + 32];
	token_serial(NODE_B, hw_b);
	path_in(pass_file, sizeof pass_file, "pass");
	path_in(bad_file, sizeof bad_file, "bad-pass");
	write_file(pass_file, "K7QXM-ABCDE-FGHJK\n", 18);
	write_file(bad_file, "K7QXM-ABCDX-FGHJK\n", 18);
	akm_secret pass, master;
	ck_assert_int_eq(akm_secret_from(&pass, "K7QXM-ABCDE-FGHJK", 17), 0);
	uint8_t salt[16];
	randombytes_buf(salt, sizeof salt);
	ck_assert_int_eq(akm_pass_master(&master, &pass, salt, 1, 8192), 0);
	uint8_t prb[16];
	CK_OBJECT_HANDLE encb, macb;
	station_pr(&s, "node-B", hw_b, NULL, prb, &encb, &macb);
	size_t lb = seal(&s, encb, AKM_BUNDLE_PASSPHRASE, NULL, &master, salt, b2);
	snprintf(fb, sizeof fb, "%s/node-B.akmb", dir);
	write_file(fb, b2, lb);
	ck_assert_int_eq(run_node(NODE_B, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, "--trust-on-first-use", "--passphrase-file", bad_file, NULL }, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "passphrase"));
	free(out);
	ck_assert_int_eq(run_node(NODE_B, (const char *[]){ "id", NULL }, &out), 3);
	free(out);
	setenv("AKM_PASSPHRASE", "K7QXM-ABCDE-FGHJK", 1);
	ck_assert_int_eq(run_node(NODE_B, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, "--trust-on-first-use", "--json", NULL }, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"name\":\"node-B\""));
	free(out);
	unsetenv("AKM_PASSPHRASE");
	akm_secret_free(&master);
	akm_secret_free(&pass);
	akm_p11_close(&s.p);
}
END_TEST


/* ---------------------------------------------------------------------- */
/* Field safety (issue 10, item 7)                                         */

/* buf (a bundle the station sealed) with its sequence set to `seq` and
 * signed again with the station key: what a station in error, or a stolen
 * station key, could make. */
static size_t resign_seq(station *s, const uint8_t *buf, size_t len, uint64_t seq, uint8_t out[AKM_FMT_BUNDLE_MAX])
{
	akm_bundle *b = calloc(1, sizeof *b);
	ck_assert_ptr_nonnull(b);
	size_t signed_len, n = 0;
	ck_assert_int_eq(akm_bundle_parse(buf, len, b, &signed_len), AKM_FMT_OK);
	b->seq = seq;
	ck_assert_int_eq(akm_bundle_encode_signed(b, out, AKM_FMT_BUNDLE_MAX, &signed_len), AKM_FMT_OK);
	uint8_t digest[32];
	crypto_hash_sha256(digest, out, signed_len);
	ck_assert_msg(akm_p11_sign_digest(&s->p, s->priv, digest, b->sig) == 0, "%s", s->p.err);
	ck_assert_int_eq(akm_bundle_finish(b, out, AKM_FMT_BUNDLE_MAX, &n), AKM_FMT_OK);
	free(b);
	return n;
}

static akm_import_rc check_only(akm_p11 *node, const uint8_t *buf, size_t len, const char *hw)
{
	akm_import_args a = { .hw = hw };
	char err[512] = "";
	akm_import_rc rc = akm_node_import_check(node, buf, len, &a, NULL, err, sizeof err);
	if (getenv("AKM_TEST_VERBOSE") != NULL && rc != AKM_IMPORT_OK)
		fprintf(stderr, "refused (%d): %s\n", (int)rc, err);
	return rc;
}

/* The floors on the node's side (secret.h): a bundle whose recorded
 * Argon2id cost is below 2 passes / 64 MiB is refused before anything is
 * derived, unless AKM_INSECURE_TEST_KDF=1; one at the floor is accepted.  A
 * passphrase shorter than 16 characters is refused before Argon2id. */
START_TEST(passphrase_floor_node)
{
	station s;
	station_open(&s);
	char hw_b[17];
	token_serial(NODE_B, hw_b);
	akm_p11 b;
	open_node(&b, NODE_B);
	char err[512];
	ck_assert_int_eq(akm_node_trust(&b, &s.anchor, err, sizeof err), 0);
	akm_secret pass, shortp, weak_master, master;
	ck_assert_int_eq(akm_secret_from(&pass, "K7QXM-ABCDE-FGHJK", 17), 0);
	ck_assert_int_eq(akm_secret_from(&shortp, "K7QXM", 5), 0);
	uint8_t salt[16];
	randombytes_buf(salt, sizeof salt);
	ck_assert_int_eq(akm_pass_master(&weak_master, &pass, salt, 1, 8192), 0);
	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-B", hw_b, NULL, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], b2[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_PASSPHRASE, NULL, &weak_master, salt, b1);

	const char *saved = getenv("AKM_INSECURE_TEST_KDF");
	unsetenv("AKM_INSECURE_TEST_KDF");
	refused(&b, b1, l1, hw_b, &pass, AKM_IMPORT_WEAK);
	/* At the floor: 2 passes over 64 MiB. */
	ck_assert_int_eq(akm_pass_master(&master, &pass, salt, AKM_PASS_MIN_OPS, AKM_PASS_MIN_MEM_KIB), 0);
	nmm_seal_args a = {
		.enc_key = enc, .station_priv = s.priv,
		.station_id = station_id, .station_id_len = sizeof station_id,
		.protection = AKM_BUNDLE_PASSPHRASE, .master = &master, .salt = salt,
		.opslimit = AKM_PASS_MIN_OPS, .memlimit_kib = AKM_PASS_MIN_MEM_KIB,
	};
	size_t l2 = 0;
	ck_assert_msg(nmm_seal(&s.p, &a, b2, &l2, err, sizeof err) == 0, "seal: %s", err);
	refused(&b, b2, l2, hw_b, &shortp, AKM_IMPORT_BAD_PASSPHRASE);
	akm_node_state st;
	ck_assert_int_eq(node_open(&b, b2, l2, hw_b, &pass, &st), AKM_IMPORT_OK);
	/* The test-only variable lowers the floor (in this process). */
	setenv("AKM_INSECURE_TEST_KDF", "1", 1);
	size_t l3 = seal(&s, enc, AKM_BUNDLE_PASSPHRASE, NULL, &weak_master, salt, b1);
	ck_assert_int_eq(node_open(&b, b1, l3, hw_b, &pass, &st), AKM_IMPORT_OK);
	if (saved == NULL)
		unsetenv("AKM_INSECURE_TEST_KDF");

	akm_secret_free(&master);
	akm_secret_free(&weak_master);
	akm_secret_free(&shortp);
	akm_secret_free(&pass);
	akm_p11_close(&b);
	akm_p11_close(&s.p);
}
END_TEST

/* A bounded sequence jump: after sequence 1, a bundle the station key
 * signed with 2^64-1 (or 1 + 1001) is refused and changes nothing; 1 + 1000
 * passes the checks; the genuine sequence 2 is then accepted.  A node with
 * no state yet takes any sequence. */
START_TEST(sequence_jump_bounded)
{
	station s;
	station_open(&s);
	char hw_a[17];
	token_serial(NODE_A, hw_a);
	akm_p11 a;
	open_node(&a, NODE_A);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point_a[65];
	ck_assert_int_eq(akm_node_identity(&a, true, &pub, &priv, point_a), 0);
	char err[512];
	ck_assert_int_eq(akm_node_trust(&a, &s.anchor, err, sizeof err), 0);
	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-A", hw_a, point_a, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], b2[AKM_FMT_BUNDLE_MAX], big[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b1);
	size_t lbig = resign_seq(&s, b1, l1, UINT64_MAX, big);
	ck_assert_int_eq(check_only(&a, big, lbig, hw_a), AKM_IMPORT_OK); /* no state yet */
	akm_node_state st;
	ck_assert_int_eq(node_open(&a, b1, l1, hw_a, NULL, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 1);
	refused(&a, big, lbig, hw_a, NULL, AKM_IMPORT_POLICY);
	lbig = resign_seq(&s, b1, l1, 1 + AKM_NODE_SEQ_JUMP_MAX + 1, big);
	refused(&a, big, lbig, hw_a, NULL, AKM_IMPORT_POLICY);
	lbig = resign_seq(&s, b1, l1, 1 + AKM_NODE_SEQ_JUMP_MAX, big);
	ck_assert_int_eq(check_only(&a, big, lbig, hw_a), AKM_IMPORT_OK);
	size_t l2 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b2);
	ck_assert_int_eq(node_open(&a, b2, l2, hw_a, NULL, &st), AKM_IMPORT_OK);
	ck_assert_uint_eq(st.seq, 2);
	akm_p11_close(&a);
	akm_p11_close(&s.p);
}
END_TEST

/* import --dir verifies every candidate before it chooses: an unsigned
 * decoy with a higher sequence (the genuine bundle with its sequence
 * raised, the signature left as it was), a symbolic link to it and a FIFO
 * named *.akmb do not hide the genuine bundle, and the FIFO does not hang
 * the import (nor does it as FILE: refused at once).  With only the decoy
 * left: exit 2 with its reason.  A node with an identity key refuses a
 * passphrase bundle unless AKM_NODE_ALLOW_PASSPHRASE=1. */
START_TEST(import_dir_verifies_candidates)
{
	station s;
	station_open(&s);
	char hw_a[17];
	token_serial(NODE_A, hw_a);
	akm_p11 a;
	open_node(&a, NODE_A);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t point_a[65];
	ck_assert_int_eq(akm_node_identity(&a, true, &pub, &priv, point_a), 0);
	akm_p11_close(&a);

	char dir[PATH_MAX], anchor[PATH_MAX], file[PATH_MAX + 32], *out = NULL;
	path_in(dir, sizeof dir, "usb");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	path_in(anchor, sizeof anchor, "usb/station.akmp");
	uint8_t abuf[256];
	size_t alen;
	ck_assert_int_eq(akm_anchor_encode(&s.anchor, abuf, sizeof abuf, &alen), AKM_FMT_OK);
	write_file(anchor, abuf, alen);

	uint8_t pr[16];
	CK_OBJECT_HANDLE enc, mac;
	station_pr(&s, "node-A", hw_a, point_a, pr, &enc, &mac);
	uint8_t b1[AKM_FMT_BUNDLE_MAX], decoy[AKM_FMT_BUNDLE_MAX];
	size_t l1 = seal(&s, enc, AKM_BUNDLE_NODE_KEY, point_a, NULL, NULL, b1);
	snprintf(file, sizeof file, "%s/node-A.akmb", dir);
	write_file(file, b1, l1);
	/* The decoy: sequence 900, not signed again (its signature fails). */
	akm_bundle *b = calloc(1, sizeof *b);
	size_t signed_len, ld = 0;
	ck_assert_int_eq(akm_bundle_parse(b1, l1, b, &signed_len), AKM_FMT_OK);
	b->seq = 900;
	ck_assert_int_eq(akm_bundle_encode_signed(b, decoy, sizeof decoy, &signed_len), AKM_FMT_OK);
	ck_assert_int_eq(akm_bundle_finish(b, decoy, sizeof decoy, &ld), AKM_FMT_OK);
	free(b);
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/zz-decoy.akmb", dir);
	write_file(p, decoy, ld);
	snprintf(p, sizeof p, "%s/zz-link.akmb", dir);
	ck_assert_int_eq(symlink("zz-decoy.akmb", p), 0);
	snprintf(p, sizeof p, "%s/zz-fifo.akmb", dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);

	time_t t0 = time(NULL);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, "--anchor", anchor, "--trust-on-first-use", NULL }, &out), 0);
	ck_assert_msg(strstr(out, "node-A.akmb") != NULL && strstr(out, "sequence 1") != NULL, "%s", out);
	free(out);
	ck_assert_msg(time(NULL) - t0 < 60, "import --dir took too long (the FIFO?)");
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", p, NULL }, &out), 2);
	ck_assert_msg(strstr(out, "not a regular file") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(run_node(NODE_A, (const char *[]){ "import", "--dir", dir, NULL }, &out), 2);
	ck_assert_msg(strstr(out, "signature") != NULL, "%s", out);
	free(out);

	/* A passphrase bundle for node A, which has an identity key. */
	char pass_file[PATH_MAX], dir2[PATH_MAX];
	path_in(pass_file, sizeof pass_file, "pass");
	write_file(pass_file, "K7QXM-ABCDE-FGHJK\n", 18);
	path_in(dir2, sizeof dir2, "usb2");
	ck_assert_int_eq(mkdir(dir2, 0700), 0);
	akm_secret pass, master;
	ck_assert_int_eq(akm_secret_from(&pass, "K7QXM-ABCDE-FGHJK", 17), 0);
	uint8_t salt[16];
	randombytes_buf(salt, sizeof salt);
	ck_assert_int_eq(akm_pass_master(&master, &pass, salt, 1, 8192), 0);
	char hw_b[17];
	token_serial(NODE_B, hw_b);
	akm_p11 bn;
	open_node(&bn, NODE_B);
	uint8_t point_b[65];
	ck_assert_int_eq(akm_node_identity(&bn, true, &pub, &priv, point_b), 0);
	akm_p11_close(&bn);
	uint8_t pr2[16];
	CK_OBJECT_HANDLE enc2, mac2;
	station_pr(&s, "node-B", hw_b, NULL, pr2, &enc2, &mac2);
	size_t l2 = seal(&s, enc2, AKM_BUNDLE_PASSPHRASE, NULL, &master, salt, decoy);
	snprintf(p, sizeof p, "%s/node-B.akmb", dir2);
	write_file(p, decoy, l2);
	ck_assert_int_eq(run_node(NODE_B, (const char *[]){ "import", p, "--anchor", anchor, "--trust-on-first-use", "--passphrase-file", pass_file, NULL }, &out), 2);
	ck_assert_msg(strstr(out, "identity key") != NULL, "%s", out);
	free(out);
	setenv("AKM_NODE_ALLOW_PASSPHRASE", "1", 1);
	int rc = run_node(NODE_B, (const char *[]){ "import", p, "--anchor", anchor, "--trust-on-first-use", "--passphrase-file", pass_file, NULL }, &out);
	unsetenv("AKM_NODE_ALLOW_PASSPHRASE");
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	free(out);
	/* The option does the same (a newer bundle). */
	l2 = seal(&s, enc2, AKM_BUNDLE_PASSPHRASE, NULL, &master, salt, decoy);
	write_file(p, decoy, l2);
	rc = run_node(NODE_B, (const char *[]){ "import", p, "--passphrase-file", pass_file, NULL }, &out);
	ck_assert_msg(rc == 2 && strstr(out, "identity key") != NULL, "exit %d: %s", rc, out);
	free(out);
	rc = run_node(NODE_B, (const char *[]){ "import", p, "--allow-passphrase", "--passphrase-file", pass_file, NULL }, &out);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	free(out);
	akm_secret_free(&master);
	akm_secret_free(&pass);
	akm_p11_close(&s.p);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("akm-node");
	TCase *tc = tcase_create("node");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, hw_id_is_token_serial);
	tcase_add_test(tc, help_and_usage);
	tcase_add_test(tc, request_verifies);
	tcase_add_test(tc, id_before_provisioning);
	tcase_add_test(tc, trust_pins_one_station);
	tcase_add_test(tc, transfer_node_key);
	tcase_add_test(tc, transfer_passphrase);
	tcase_add_test(tc, import_program);
	tcase_add_test(tc, passphrase_floor_node);
	tcase_add_test(tc, sequence_jump_bounded);
	tcase_add_test(tc, import_dir_verifies_candidates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	node_tool = getenv("AKM_TEST_NODE");
	if (node_tool == NULL || access(node_tool, X_OK) != 0) {
		fprintf(stderr, "test-node: AKM_TEST_NODE (akm-node) is not set or not executable\n");
		return AKM_TEST_SKIP;
	}
	SRunner *sr = srunner_create(node_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * The module's provisioning interface (docs/object-model.md, "Provisioning"):
 * the station's attributes of a relationship (status, sequence, site, node
 * key, delivery) and their rules, CKM_AKM_EXPORT_WRAP in both modes (checked
 * by deriving the transport key and unwrapping the result with OpenSSL, and
 * using the keys on both sides) and its refusals, and the audit trail
 * as CKO_AKM_AUDIT_RECORD objects (read, searched, appended, recomputed,
 * never changed).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "openssl-check.h"
#include "akm/pkcs11-akm.h"

static it_ctx t;

static void setup(void) { it_setup_env(&t, "akm-prov"); it_open(&t); }
static void teardown(void) { it_close(&t); }

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
static CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING;

static void point_of(CK_BYTE point[65], CK_BYTE fill)
{
	point[0] = 0x04;
	memset(point + 1, fill, 64);
}

/* A PR; `state` 0 for the default (active), `site`/`point` optional. */
static CK_RV make_pr(const char *name, CK_ULONG state, const char *site, const CK_BYTE *point,
                     CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE tmpl[8] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
		{CKA_AKM_PEER_NODE, (void *)name, strlen(name)},
		{CKA_AKM_HW_BINDING, "hw-1", 4},
		{CKA_LABEL, (void *)name, strlen(name)},
	};
	CK_ULONG n = 4;
	if (state != 0)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_STATE, &state, sizeof state};
	if (site != NULL)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_SITE, (void *)site, strlen(site)};
	if (point != NULL)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_NODE_KEY, (void *)point, 65};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, n, h);
}

static CK_ULONG get_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	return v;
}

static CK_RV set_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	return t.f->C_SetAttributeValue(t.s, h, &a, 1);
}

/* The relationship's MAC key, found by its CKA_ID (rid || 2). */
static CK_OBJECT_HANDLE mac_of(CK_OBJECT_HANDLE enc)
{
	CK_BYTE id[33];
	CK_ATTRIBUTE a = {CKA_ID, id, sizeof id};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, enc, &a, 1), CKR_OK);
	id[a.ulValueLen - 1] = CKV_AKM_PURPOSE_MAC;
	CK_OBJECT_HANDLE mac;
	CK_ULONG n = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, &a, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, &mac, 1, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 1);
	return mac;
}

/* Audit records, all or of one relationship, in order. */
static CK_ULONG audit_records(const CK_BYTE *rid, CK_ULONG rid_len, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_AKM_RELATIONSHIP_ID, (void *)rid, rid_len}};
	CK_ULONG n = 0, got;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, tmpl, rid ? 2 : 1), CKR_OK);
	do {
		ck_assert_int_eq(t.f->C_FindObjects(t.s, out + n, max - n < 7 ? max - n : 7, &got), CKR_OK);
		n += got;
	} while (got > 0 && n < max);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	return n;
}

static void audit_action(CK_OBJECT_HANDLE h, char *action, size_t cap)
{
	CK_ATTRIBUTE a = {CKA_AKM_AUDIT_ACTION, action, cap - 1};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	action[a.ulValueLen] = '\0';
}

/* Whether the relationship's audit records include `action` (with `detail`
 * when not NULL). */
static bool has_record(const CK_BYTE *rid, CK_ULONG rid_len, const char *action, const char *detail)
{
	CK_OBJECT_HANDLE recs[256];
	CK_ULONG n = audit_records(rid, rid_len, recs, 256);
	for (CK_ULONG i = 0; i < n; i++) {
		char act[64], det[600];
		audit_action(recs[i], act, sizeof act);
		CK_ATTRIBUTE d = {CKA_AKM_AUDIT_DETAIL, det, sizeof det - 1};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, recs[i], &d, 1), CKR_OK);
		det[d.ulValueLen] = '\0';
		if (strcmp(act, action) == 0 && (detail == NULL || strcmp(det, detail) == 0))
			return true;
	}
	return false;
}

START_TEST(test_station_attributes)
{
	CK_BYTE point[65], other[65], got[300];
	point_of(point, 0x11);
	point_of(other, 0x22);
	CK_OBJECT_HANDLE a, b;
	ck_assert_int_eq(make_pr("node-a", 0, "site=plant 7; location=bay 2", point, &a), CKR_OK);
	ck_assert_int_eq(make_pr("node-b", 0, NULL, NULL, &b), CKR_OK);
	CK_OBJECT_HANDLE a_mac = mac_of(a);

	/* Defaults and what creation gave. */
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_CREATED);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_SEQUENCE), 0);
	CK_ATTRIBUTE site = {CKA_AKM_SITE, got, sizeof got};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a_mac, &site, 1), CKR_OK);
	ck_assert(site.ulValueLen == 28 && memcmp(got, "site=plant 7; location=bay 2", 28) == 0);
	CK_ATTRIBUTE key = {CKA_AKM_NODE_KEY, got, sizeof got};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a, &key, 1), CKR_OK);
	ck_assert(key.ulValueLen == 65 && memcmp(got, point, 65) == 0);
	key.ulValueLen = sizeof got;
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, b, &key, 1), CKR_OK);
	ck_assert_uint_eq(key.ulValueLen, 0);

	/* Status: forward only, through either key, seen on both. */
	ck_assert_int_eq(set_ulong(a_mac, CKA_AKM_STATUS, CKV_AKM_STATUS_EXPORTED), CKR_OK);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_EXPORTED);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_STATUS, CKV_AKM_STATUS_CREATED), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_STATUS, CKV_AKM_STATUS_VERIFIED + 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_STATUS, CKV_AKM_STATUS_VERIFIED), CKR_OK);
	ck_assert_uint_eq(get_ulong(a_mac, CKA_AKM_STATUS), CKV_AKM_STATUS_VERIFIED);

	/* Sequence: only the next number. */
	ck_assert_int_eq(set_ulong(a, CKA_AKM_SEQUENCE, 2), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_SEQUENCE, 1), CKR_OK);
	ck_assert_int_eq(set_ulong(a, CKA_AKM_SEQUENCE, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(set_ulong(a_mac, CKA_AKM_SEQUENCE, 2), CKR_OK);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_SEQUENCE), 2);

	/* Node key: once; the same value again is no change. */
	CK_ATTRIBUTE set_key = {CKA_AKM_NODE_KEY, other, 65};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, a, &set_key, 1), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, b, &set_key, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, b, &set_key, 1), CKR_OK);
	set_key.pValue = point;
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, b, &set_key, 1), CKR_ATTRIBUTE_READ_ONLY);
	CK_BYTE bad_point[65];
	point_of(bad_point, 0x33);
	bad_point[0] = 0x02;
	set_key.pValue = bad_point;
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, b, &set_key, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	set_key.ulValueLen = 33;
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, b, &set_key, 1), CKR_ATTRIBUTE_VALUE_INVALID);

	/* Site is fixed at creation; status and sequence are not given there. */
	CK_ATTRIBUTE set_site = {CKA_AKM_SITE, "x", 1};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, a, &set_site, 1), CKR_ATTRIBUTE_READ_ONLY);
	CK_OBJECT_HANDLE c;
	CK_ULONG status = CKV_AKM_STATUS_EXPORTED, seq = 4;
	CK_ATTRIBUTE with_status[] = {{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "c", 1},
	                              {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_STATUS, &status, sizeof status}};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, with_status, 4, &c), CKR_ATTRIBUTE_READ_ONLY);
	with_status[3] = (CK_ATTRIBUTE){CKA_AKM_SEQUENCE, &seq, sizeof seq};
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, with_status, 4, &c), CKR_ATTRIBUTE_READ_ONLY);
	char long_site[300];
	memset(long_site, 's', sizeof long_site - 1);
	long_site[sizeof long_site - 1] = '\0';
	ck_assert_int_eq(make_pr("node-c", 0, long_site, NULL, &c), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(make_pr("node-c", 0, NULL, bad_point, &c), CKR_ATTRIBUTE_VALUE_INVALID);

	/* Every change is in the trail. */
	CK_BYTE rid[32];
	CK_ATTRIBUTE r = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a, &r, 1), CKR_OK);
	ck_assert(has_record(rid, r.ulValueLen, "set-status", "status created -> exported"));
	ck_assert(has_record(rid, r.ulValueLen, "set-status", "status exported -> verified"));
	ck_assert(has_record(rid, r.ulValueLen, "set-sequence", "sequence 2"));
	r.ulValueLen = sizeof rid;
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, b, &r, 1), CKR_OK);
	ck_assert(has_record(rid, r.ulValueLen, "set-node-key", NULL));

	/* The new attributes persist (another process's view: a new login). */
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_STATUS), CKV_AKM_STATUS_VERIFIED);
	ck_assert_uint_eq(get_ulong(a, CKA_AKM_SEQUENCE), 2);
}
END_TEST

/* The audit trail's length. */
static CK_ULONG audit_count(void)
{
	static CK_OBJECT_HANDLE all[4096];
	return audit_records(NULL, 0, all, 4096);
}

static void rid_of(CK_OBJECT_HANDLE h, CK_BYTE rid[32], CK_ULONG *len)
{
	CK_ATTRIBUTE r = {CKA_AKM_RELATIONSHIP_ID, rid, 32};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &r, 1), CKR_OK);
	*len = r.ulValueLen;
}

/* How many of the relationship's records are `action` with `detail`. */
static CK_ULONG count_records(CK_OBJECT_HANDLE h, const char *action, const char *detail)
{
	CK_BYTE rid[32];
	CK_ULONG rid_len, n = 0;
	CK_OBJECT_HANDLE recs[256];
	rid_of(h, rid, &rid_len);
	CK_ULONG total = audit_records(rid, rid_len, recs, 256);
	for (CK_ULONG i = 0; i < total; i++) {
		char act[64], det[600];
		audit_action(recs[i], act, sizeof act);
		CK_ATTRIBUTE d = {CKA_AKM_AUDIT_DETAIL, det, sizeof det - 1};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, recs[i], &d, 1), CKR_OK);
		det[d.ulValueLen] = '\0';
		n += strcmp(act, action) == 0 && strcmp(det, detail) == 0;
	}
	return n;
}

/* `enc` and `mac` are the values of the relationship's keys: a GCM
 * ciphertext made through the module opens with enc in OpenSSL, and
 * HMAC-SHA256 through the module equals OpenSSL's under mac. */
static void assert_values(CK_OBJECT_HANDLE enc_key, const CK_BYTE enc[32], const CK_BYTE mac[32])
{
	CK_BYTE iv[12] = {1, 2, 3}, ct[64], msg[16] = "exported key ok";
	CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, NULL, 0, 128};
	CK_MECHANISM gm = {CKM_AES_GCM, &gcm, sizeof gcm};
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gm, enc_key), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_uint_eq(ctlen, 32);
	it_assert_gcm_opens(enc, iv, ct, msg);
	CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
	CK_BYTE tag[32], expect[32];
	CK_ULONG taglen = sizeof tag;
	unsigned int elen = 0;
	ck_assert_int_eq(t.f->C_SignInit(t.s, &hm, mac_of(enc_key)), CKR_OK);
	ck_assert_int_eq(t.f->C_Sign(t.s, msg, sizeof msg, tag, &taglen), CKR_OK);
	HMAC(EVP_sha256(), mac, 32, msg, sizeof msg, expect, &elen);
	ck_assert(taglen == 32 && elen == 32 && memcmp(tag, expect, 32) == 0);
}

/* A PR made for passphrase delivery. */
static CK_RV make_pass_pr(const char *name, CK_OBJECT_HANDLE *h)
{
	CK_ULONG delivery = CKV_AKM_DELIVERY_PASSPHRASE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, (void *)name, strlen(name)},
		{CKA_AKM_HW_BINDING, "hw-2", 4}, {CKA_LABEL, (void *)name, strlen(name)},
		{CKA_AKM_DELIVERY, &delivery, sizeof delivery},
	};
	return t.f->C_GenerateKey(t.s, &rel_gen, tmpl, 5, h);
}

/* The node-key export: ECDH inside the station's token with the recorded
 * node key; the node (here OpenSSL with the node's private key) derives
 * the same transport key from the ephemeral point and opens both keys. */
START_TEST(test_export_wrap)
{
	/* The mechanism is listed on the registry's slot. */
	CK_MECHANISM_INFO info;
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_EXPORT_WRAP, &info), CKR_OK);
	ck_assert(info.flags & CKF_WRAP);

	CK_BYTE node_point[65];
	EVP_PKEY *node = it_ec_generate(node_point);
	CK_OBJECT_HANDLE enc;
	ck_assert_int_eq(make_pr("node-x", 0, NULL, node_point, &enc), CKR_OK);
	/* Node-key delivery is the default. */
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_DELIVERY), CKV_AKM_DELIVERY_NODE_KEY);
	ck_assert_uint_eq(get_ulong(mac_of(enc), CKA_AKM_DELIVERY), CKV_AKM_DELIVERY_NODE_KEY);

	CK_BYTE eph[70], wrapped[128];
	memset(eph, 0xa5, sizeof eph);
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};

	/* A length query and a buffer too small: the length, and nothing else
	 * (no record, no point, no object left in the backend). */
	CK_ULONG records = audit_count(), wlen = 0;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, NULL, &wlen), CKR_OK);
	ck_assert_uint_eq(wlen, 80);
	wlen = 79;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(wlen, 80);
	ck_assert_uint_eq(audit_count(), records);
	ck_assert_uint_eq(p.ulPublicDataLen, sizeof eph);
	for (size_t i = 0; i < sizeof eph; i++)
		ck_assert_uint_eq(eph[i], 0xa5);

	/* The export, through the MAC key's handle as well as the encryption
	 * key's: the same credential set, encryption key first. */
	CK_BYTE x[32], enc_value[32], mac_value[32];
	for (int round = 0; round < 2; round++) {
		p.ulPublicDataLen = sizeof eph;
		wlen = sizeof wrapped;
		ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, round ? mac_of(enc) : enc, wrapped, &wlen),
		                 CKR_OK);
		ck_assert_uint_eq(wlen, 80);
		ck_assert_uint_eq(p.ulPublicDataLen, 65);
		ck_assert_uint_eq(eph[0], 0x04);
		ck_assert_uint_eq(eph[65], 0xa5); /* nothing written past the point */
		it_ecdh_x(node, eph, x);
		it_open_export(x, wrapped, enc_value, mac_value);
		assert_values(enc, enc_value, mac_value);
	}
	/* One record per export, saying how the keys left. */
	ck_assert_uint_eq(count_records(enc, "export", "node-key"), 2);
	EVP_PKEY_free(node);
}
END_TEST

/* Two exports use two ephemeral keys (and so two transport keys). */
START_TEST(test_export_ephemeral_fresh)
{
	CK_BYTE node_point[65], eph1[65], eph2[65], w1[80], w2[80];
	EVP_PKEY *node = it_ec_generate(node_point);
	CK_OBJECT_HANDLE enc;
	ck_assert_int_eq(make_pr("node-e", 0, NULL, node_point, &enc), CKR_OK);
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph1, 65};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	CK_ULONG wlen = sizeof w1;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, w1, &wlen), CKR_OK);
	p.pPublicData = eph2;
	wlen = sizeof w2;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, w2, &wlen), CKR_OK);
	ck_assert(memcmp(eph1, eph2, 65) != 0);
	ck_assert(memcmp(w1, w2, 80) != 0);
	CK_BYTE x[32], e1[32], m1[32], e2[32], m2[32];
	it_ecdh_x(node, eph1, x);
	it_open_export(x, w1, e1, m1);
	it_ecdh_x(node, eph2, x);
	it_open_export(x, w2, e2, m2);
	ck_assert(memcmp(e1, e2, 32) == 0 && memcmp(m1, m2, 32) == 0);
	EVP_PKEY_free(node);
}
END_TEST

START_TEST(test_export_refusals)
{
	CK_BYTE node_point[65];
	EVP_PKEY *node = it_ec_generate(node_point);
	EVP_PKEY_free(node);
	CK_OBJECT_HANDLE enc, bare, pending;
	ck_assert_int_eq(make_pr("node-r", 0, NULL, node_point, &enc), CKR_OK);
	ck_assert_int_eq(make_pr("node-bare", 0, NULL, NULL, &bare), CKR_OK);
	ck_assert_int_eq(make_pr("node-p", CKV_AKM_STATE_PENDING, NULL, node_point, &pending), CKR_OK);
	CK_OBJECT_HANDLE mac = mac_of(enc);

	/* An AES key whose value the caller knows, as the wrapping key: the
	 * attack this mechanism used to allow.  Refused whatever the
	 * parameter, before anything is looked at: no record at all. */
	CK_BYTE known[32];
	for (int i = 0; i < 32; i++)
		known[i] = (CK_BYTE)(i * 7 + 1);
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE kt[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
	                     {CKA_WRAP, &yes, 1}, {CKA_VALUE, known, 32}};
	CK_OBJECT_HANDLE mine;
	ck_assert_int_eq(t.f->C_CreateObject(t.s, kt, 5, &mine), CKR_OK);
	CK_BYTE eph[65], wrapped[128];
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_AKM_EXPORT_WRAP_PARAMS pp = {CKV_AKM_EXPORT_PASSPHRASE, known, 32, NULL, 0};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	CK_MECHANISM exp_pass = {CKM_AKM_EXPORT_WRAP, &pp, sizeof pp};
	CK_MECHANISM old_form = {CKM_AKM_EXPORT_WRAP, NULL, 0};
	CK_ULONG records = audit_count(), wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &old_form, mine, enc, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, mine, enc, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_pass, mine, mac, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, mine, enc, NULL, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, enc, mac, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, 0x7777, enc, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_uint_eq(wlen, sizeof wrapped);
	ck_assert_uint_eq(audit_count(), records);
	/* Nor does any other mechanism wrap a relationship key. */
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &kwp, mine, enc, wrapped, &wlen), CKR_KEY_UNEXTRACTABLE);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &kwp, mine, mac, wrapped, &wlen), CKR_KEY_UNEXTRACTABLE);

	/* A parameter missing, of the wrong size, or not right for its mode. */
	CK_AKM_EXPORT_WRAP_PARAMS bad;
	CK_MECHANISM bad_m = {CKM_AKM_EXPORT_WRAP, &bad, sizeof bad};
	CK_MECHANISM short_m = {CKM_AKM_EXPORT_WRAP, &p, sizeof p - 1};
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &old_form, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &short_m, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_MECHANISM_PARAM_INVALID);
	const CK_AKM_EXPORT_WRAP_PARAMS bads[] = {
		{0, NULL, 0, eph, 65},
		{3, NULL, 0, eph, 65},
		{CKV_AKM_EXPORT_NODE_KEY, known, 32, eph, 65},  /* a key of the caller's: never */
		{CKV_AKM_EXPORT_NODE_KEY, NULL, 0, NULL, 65},
		{CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, 64},
		{CKV_AKM_EXPORT_PASSPHRASE, NULL, 32, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, known, 31, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, known, 33, NULL, 0},
		{CKV_AKM_EXPORT_PASSPHRASE, known, 32, eph, 65},
	};
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		bad = bads[i];
		ck_assert_msg(t.f->C_WrapKey(t.s, &bad_m, CK_INVALID_HANDLE, enc, wrapped, &wlen) ==
		              CKR_MECHANISM_PARAM_INVALID, "parameter %zu", i);
		ck_assert_msg(t.f->C_WrapKey(t.s, &bad_m, CK_INVALID_HANDLE, enc, NULL, &wlen) ==
		              CKR_MECHANISM_PARAM_INVALID, "parameter %zu (length query)", i);
	}
	ck_assert_uint_eq(audit_count(), records);

	/* Passphrase mode on a relationship made for node-key delivery: the
	 * caller would choose the transport key.  Refused and recorded; a
	 * length query is refused and leaves no record. */
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_pass, CK_INVALID_HANDLE, enc, NULL, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(audit_count(), records);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_pass, CK_INVALID_HANDLE, enc, wrapped, &wlen),
	                 CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(count_records(enc, "export-refused", "delivery node-key"), 1);
	/* Node-key mode with no node key recorded. */
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, bare, wrapped, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(count_records(bare, "export-refused", "no node key"), 1);
	/* Pending. */
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, pending, wrapped, &wlen),
	                 CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(count_records(pending, "export-refused", "pending"), 1);
	/* Not a provisioning relationship's key, or no such key. */
	CK_ULONG kind_op = CKV_AKM_KIND_OPERATIONAL;
	static const CK_BYTE members[] = {1, 'A', 1, 'B'};
	CK_ATTRIBUTE op_t[] = {{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, (void *)members, 4}};
	CK_OBJECT_HANDLE op;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, op_t, 2, &op), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, op, wrapped, &wlen), CKR_KEY_NOT_WRAPPABLE);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, mine, wrapped, &wlen), CKR_KEY_NOT_WRAPPABLE);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, 0x40777777UL, wrapped, &wlen), CKR_KEY_HANDLE_INVALID);
	/* A recorded node key that is not a point on P-256 (only a station
	 * that skipped its checks records one): the ECDH fails in the token,
	 * which is the device's failure, on record. */
	CK_BYTE off_curve[65];
	CK_OBJECT_HANDLE oc;
	point_of(off_curve, 0x11);
	ck_assert_int_eq(make_pr("node-off-curve", 0, NULL, off_curve, &oc), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, oc, wrapped, &wlen), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(count_records(oc, "export", "node-key"), 1);
	/* Nothing was exported. */
	ck_assert_uint_eq(count_records(enc, "export", "node-key") + count_records(enc, "export", "passphrase"), 0);
	/* Revoked: refused, and the refusal is a record. */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(count_records(enc, "export-refused", "revoked"), 1);
	/* Without a login there is no relationship key to export. */
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, mac, wrapped, &wlen), CKR_KEY_HANDLE_INVALID);
}
END_TEST

/* A relationship made for passphrase delivery: CKA_AKM_DELIVERY fixed at
 * creation, exported under the key the caller derived from the passphrase,
 * and never in node-key mode. */
START_TEST(test_export_passphrase)
{
	CK_OBJECT_HANDLE enc;
	ck_assert_int_eq(make_pass_pr("node-pass", &enc), CKR_OK);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_DELIVERY), CKV_AKM_DELIVERY_PASSPHRASE);
	/* Fixed: not changed afterwards, not given to an operational
	 * relationship, only the two values. */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_DELIVERY, CKV_AKM_DELIVERY_NODE_KEY), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_DELIVERY, CKV_AKM_DELIVERY_PASSPHRASE), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_DELIVERY), CKV_AKM_DELIVERY_PASSPHRASE);
	CK_ULONG kind_op = CKV_AKM_KIND_OPERATIONAL, delivery = CKV_AKM_DELIVERY_NODE_KEY, bad_delivery = 3;
	static const CK_BYTE members[] = {1, 'A', 1, 'B'};
	CK_ATTRIBUTE op_t[] = {{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, (void *)members, 4},
	                       {CKA_AKM_DELIVERY, &delivery, sizeof delivery}};
	CK_OBJECT_HANDLE op;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, op_t, 3, &op), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, op_t, 2, &op), CKR_OK);
	ck_assert_int_eq(set_ulong(op, CKA_AKM_DELIVERY, CKV_AKM_DELIVERY_NODE_KEY), CKR_ATTRIBUTE_TYPE_INVALID);
	CK_ATTRIBUTE bad_t[] = {{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1},
	                        {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_DELIVERY, &bad_delivery, sizeof bad_delivery}};
	CK_OBJECT_HANDLE h;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, bad_t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	bad_t[3].ulValueLen = 1;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, bad_t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	/* Found by its delivery. */
	CK_ULONG pass = CKV_AKM_DELIVERY_PASSPHRASE, n = 0;
	CK_ATTRIBUTE by[] = {{CKA_AKM_DELIVERY, &pass, sizeof pass}};
	CK_OBJECT_HANDLE found[4];
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, by, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 4, &n), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n, 2);

	/* The export, under the key the caller derived. */
	CK_BYTE kwp_key[32], wrapped[80], enc_value[32], mac_value[32];
	for (int i = 0; i < 32; i++)
		kwp_key[i] = (CK_BYTE)(0x40 + i);
	CK_AKM_EXPORT_WRAP_PARAMS pp = {CKV_AKM_EXPORT_PASSPHRASE, kwp_key, 32, NULL, 0};
	CK_MECHANISM exp_pass = {CKM_AKM_EXPORT_WRAP, &pp, sizeof pp};
	CK_ULONG wlen = 0, records = audit_count();
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_pass, CK_INVALID_HANDLE, enc, NULL, &wlen), CKR_OK);
	ck_assert_uint_eq(wlen, 80);
	ck_assert_uint_eq(audit_count(), records);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_pass, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_OK);
	ck_assert_uint_eq(wlen, 80);
	it_open_export(kwp_key, wrapped, enc_value, mac_value);
	assert_values(enc, enc_value, mac_value);
	ck_assert_uint_eq(count_records(enc, "export", "passphrase"), 1);

	/* Node-key mode on it, even with a node key recorded: refused. */
	CK_BYTE node_point[65], eph[65];
	EVP_PKEY_free(it_ec_generate(node_point));
	CK_ATTRIBUTE set_key = {CKA_AKM_NODE_KEY, node_point, 65};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, enc, &set_key, 1), CKR_OK);
	CK_AKM_EXPORT_WRAP_PARAMS p = {CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, sizeof eph};
	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, CK_INVALID_HANDLE, enc, wrapped, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(count_records(enc, "export-refused", "delivery passphrase"), 1);

	/* The delivery persists (another process's view: a new login). */
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	ck_assert_uint_eq(get_ulong(enc, CKA_AKM_DELIVERY), CKV_AKM_DELIVERY_PASSPHRASE);
}
END_TEST

static void put64(EVP_MD_CTX *md, uint64_t v)
{
	CK_BYTE b[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (CK_BYTE)v;
	EVP_DigestUpdate(md, b, 8);
}

static void field(EVP_MD_CTX *md, const void *p, CK_ULONG len)
{
	put64(md, len);
	EVP_DigestUpdate(md, p, len);
}

START_TEST(test_audit_records)
{
	CK_OBJECT_HANDLE a, b;
	ck_assert_int_eq(make_pr("node-1", 0, NULL, NULL, &a), CKR_OK);
	ck_assert_int_eq(make_pr("node-2", 0, NULL, NULL, &b), CKR_OK);
	ck_assert_int_eq(set_ulong(b, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);

	/* An application's record. */
	CK_BYTE rid[32];
	CK_ATTRIBUTE r = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, a, &r, 1), CKR_OK);
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG result = CKR_OK;
	CK_ATTRIBUTE rec[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &yes, 1},
	                      {CKA_AKM_AUDIT_ACTION, "verify", 6}, {CKA_AKM_RELATIONSHIP_ID, rid, r.ulValueLen},
	                      {CKA_AKM_AUDIT_DETAIL, "site=lab; node verified", 23},
	                      {CKA_AKM_AUDIT_RESULT, &result, sizeof result}};
	CK_OBJECT_HANDLE h;
	ck_assert_int_eq(t.f->C_CreateObject(t.s, rec, 6, &h), CKR_OK);
	char text[64];
	CK_ATTRIBUTE actor = {CKA_AKM_AUDIT_ACTOR, text, sizeof text};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &actor, 1), CKR_OK);
	ck_assert(actor.ulValueLen == 3 && memcmp(text, "app", 3) == 0);
	ck_assert(has_record(rid, r.ulValueLen, "verify", "site=lab; node verified"));
	ck_assert(has_record(rid, r.ulValueLen, "create", "provisioning"));

	/* Refusals of a bad record, in the documented order. */
	CK_ATTRIBUTE bad[3] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_AKM_AUDIT_DETAIL, "d", 1}};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 2, &h), CKR_TEMPLATE_INCOMPLETE);
	bad[1] = (CK_ATTRIBUTE){CKA_AKM_AUDIT_ACTION, "Bad Action", 10};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	bad[1] = (CK_ATTRIBUTE){CKA_AKM_AUDIT_ACTION, "ok", 2};
	bad[2] = (CK_ATTRIBUTE){CKA_AKM_AUDIT_DETAIL, "line\nbreak", 10};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 3, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	bad[2] = (CK_ATTRIBUTE){CKA_TOKEN, &no, 1};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 3, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ULONG seq = 1;
	bad[2] = (CK_ATTRIBUTE){CKA_AKM_AUDIT_SEQ, &seq, sizeof seq};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 3, &h), CKR_ATTRIBUTE_READ_ONLY);
	bad[2] = (CK_ATTRIBUTE){CKA_VALUE, "v", 1};
	ck_assert_int_eq(t.f->C_CreateObject(t.s, bad, 3, &h), CKR_ATTRIBUTE_TYPE_INVALID);

	/* Every record: linked, and each hash recomputes (AKM-AUDIT-1). */
	CK_OBJECT_HANDLE all[512];
	CK_ULONG n = audit_records(NULL, 0, all, 512);
	ck_assert_uint_ge(n, 4);
	CK_BYTE prev[32] = {0};
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG s_, time_, res;
		char act[64], act_or[16], det[600];
		CK_BYTE rprev[32], rhash[32], rrid[32], calc[32];
		CK_ATTRIBUTE q[] = {
			{CKA_AKM_AUDIT_SEQ, &s_, sizeof s_}, {CKA_AKM_AUDIT_TIME, &time_, sizeof time_},
			{CKA_AKM_AUDIT_ACTOR, act_or, sizeof act_or}, {CKA_AKM_AUDIT_ACTION, act, sizeof act},
			{CKA_AKM_RELATIONSHIP_ID, rrid, sizeof rrid}, {CKA_AKM_AUDIT_RESULT, &res, sizeof res},
			{CKA_AKM_AUDIT_DETAIL, det, sizeof det}, {CKA_AKM_AUDIT_PREV, rprev, 32},
			{CKA_AKM_AUDIT_HASH, rhash, 32},
		};
		ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, all[i], q, 9), CKR_OK);
		ck_assert_uint_eq(s_, i + 1);
		ck_assert(memcmp(rprev, prev, 32) == 0);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		EVP_DigestUpdate(md, "AKM-AUDIT-1", 11);
		EVP_DigestUpdate(md, rprev, 32);
		put64(md, s_);
		put64(md, time_);
		field(md, act_or, q[2].ulValueLen);
		field(md, act, q[3].ulValueLen);
		field(md, rrid, q[4].ulValueLen);
		put64(md, res);
		field(md, det, q[6].ulValueLen);
		unsigned int len = 0;
		EVP_DigestFinal_ex(md, calc, &len);
		EVP_MD_CTX_free(md);
		ck_assert(memcmp(calc, rhash, 32) == 0);
		memcpy(prev, rhash, 32);
	}
	/* The token's head is a record of the chain. */
	CK_BYTE head[40];
	CK_ATTRIBUTE hd = {CKA_AKM_AUDIT_TOKEN_HEAD, head, sizeof head};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, all[0], &hd, 1), CKR_OK);
	ck_assert_uint_eq(hd.ulValueLen, 40);
	uint64_t head_seq = 0;
	for (int i = 0; i < 8; i++)
		head_seq = head_seq << 8 | head[i];
	ck_assert(head_seq >= 1 && head_seq <= n);
	CK_BYTE at[32];
	CK_ATTRIBUTE ha = {CKA_AKM_AUDIT_HASH, at, 32};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, all[head_seq - 1], &ha, 1), CKR_OK);
	ck_assert(memcmp(at, head + 8, 32) == 0);

	/* A search by another attribute than the relationship. */
	CK_ATTRIBUTE by_action[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_AKM_AUDIT_ACTION, "set-state", 9}};
	CK_OBJECT_HANDLE found[8];
	CK_ULONG got = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, by_action, 2), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 8, &got), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(got, 1);

	/* Append-only. */
	ck_assert_int_eq(t.f->C_DestroyObject(t.s, all[0]), CKR_ACTION_PROHIBITED);
	CK_ATTRIBUTE change = {CKA_AKM_AUDIT_DETAIL, "x", 1};
	ck_assert_int_eq(t.f->C_SetAttributeValue(t.s, all[0], &change, 1), CKR_ACTION_PROHIBITED);
	ck_assert_int_eq(t.f->C_CopyObject(t.s, all[0], NULL, 0, &h), CKR_ACTION_PROHIBITED);
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, 0x20000000UL + 999999UL, &change, 1),
	                 CKR_OBJECT_HANDLE_INVALID);

	/* A read-only session appends nothing; without a login nothing is found. */
	CK_SESSION_HANDLE ro;
	ck_assert_int_eq(t.f->C_OpenSession(t.slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	ck_assert_int_eq(t.f->C_CreateObject(ro, rec, 6, &h), CKR_SESSION_READ_ONLY);
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(t.f->C_CreateObject(t.s, rec, 6, &h), CKR_USER_NOT_LOGGED_IN);
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, all[0], &change, 1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, rec, 1), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjects(t.s, found, 8, &got), CKR_OK);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(got, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("provisioning");
	TCase *tc = tcase_create("provisioning");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_station_attributes);
	tcase_add_test(tc, test_export_wrap);
	tcase_add_test(tc, test_export_ephemeral_fresh);
	tcase_add_test(tc, test_export_refusals);
	tcase_add_test(tc, test_export_passphrase);
	tcase_add_test(tc, test_audit_records);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

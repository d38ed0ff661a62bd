/*
 * The module's provisioning interface (docs/object-model.md, "Provisioning"):
 * the station's attributes of a relationship (status, sequence, site, node
 * key) and their rules, CKM_AKM_EXPORT_WRAP (checked by unwrapping the
 * result with OpenSSL and using the key on both sides), and the audit trail
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

START_TEST(test_export_wrap)
{
	/* The mechanism is listed on the registry's slot. */
	CK_MECHANISM_INFO info;
	ck_assert_int_eq(t.f->C_GetMechanismInfo(t.slot, CKM_AKM_EXPORT_WRAP, &info), CKR_OK);
	ck_assert(info.flags & CKF_WRAP);

	CK_OBJECT_HANDLE enc, pending;
	ck_assert_int_eq(make_pr("node-x", 0, NULL, NULL, &enc), CKR_OK);
	CK_OBJECT_HANDLE mac = mac_of(enc);
	ck_assert_int_eq(make_pr("node-p", CKV_AKM_STATE_PENDING, NULL, NULL, &pending), CKR_OK);

	/* A transport key whose value the test knows. */
	CK_BYTE kek[32];
	for (int i = 0; i < 32; i++)
		kek[i] = (CK_BYTE)(i * 7 + 1);
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE kt[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
	                     {CKA_WRAP, &yes, 1}, {CKA_VALUE, kek, 32}};
	CK_OBJECT_HANDLE transport;
	ck_assert_int_eq(t.f->C_CreateObject(t.s, kt, 5, &transport), CKR_OK);

	CK_MECHANISM exp = {CKM_AKM_EXPORT_WRAP, NULL, 0};
	CK_BYTE wrapped[64], value[64];
	CK_ULONG wlen = 0;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, enc, NULL, &wlen), CKR_OK);
	ck_assert_uint_eq(wlen, 40);
	wlen = 8;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, enc, wrapped, &wlen), CKR_BUFFER_TOO_SMALL);
	wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, enc, wrapped, &wlen), CKR_OK);
	ck_assert_uint_eq(wlen, 40);
	ck_assert_int_eq(it_unwrap_kwp(kek, wrapped, wlen, value), 32);

	/* It is the relationship's key: a GCM ciphertext made through the
	 * module opens with it in OpenSSL. */
	CK_BYTE iv[12] = {1, 2, 3}, ct[64], msg[16] = "exported key ok";
	CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, NULL, 0, 128};
	CK_MECHANISM gm = {CKM_AES_GCM, &gcm, sizeof gcm};
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(t.f->C_EncryptInit(t.s, &gm, enc), CKR_OK);
	ck_assert_int_eq(t.f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_uint_eq(ctlen, 32);
	it_assert_gcm_opens(value, iv, ct, msg);

	/* And the MAC key: HMAC-SHA256 through the module equals OpenSSL's. */
	wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, mac, wrapped, &wlen), CKR_OK);
	ck_assert_int_eq(it_unwrap_kwp(kek, wrapped, wlen, value), 32);
	CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
	CK_BYTE tag[32], expect[32];
	CK_ULONG taglen = sizeof tag;
	unsigned int elen = 0;
	ck_assert_int_eq(t.f->C_SignInit(t.s, &hm, mac), CKR_OK);
	ck_assert_int_eq(t.f->C_Sign(t.s, msg, sizeof msg, tag, &taglen), CKR_OK);
	HMAC(EVP_sha256(), value, 32, msg, sizeof msg, expect, &elen);
	ck_assert(taglen == 32 && elen == 32 && memcmp(tag, expect, 32) == 0);

	/* Refusals. */
	wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, pending, wrapped, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_ULONG kind_op = CKV_AKM_KIND_OPERATIONAL;
	static const CK_BYTE members[] = {1, 'A', 1, 'B'};
	CK_ATTRIBUTE op_t[] = {{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, (void *)members, 4}};
	CK_OBJECT_HANDLE op;
	ck_assert_int_eq(t.f->C_GenerateKey(t.s, &rel_gen, op_t, 2, &op), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, op, wrapped, &wlen), CKR_KEY_NOT_WRAPPABLE);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, transport, wrapped, &wlen), CKR_KEY_NOT_WRAPPABLE);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, enc, mac, wrapped, &wlen), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, 0x7777, enc, wrapped, &wlen), CKR_WRAPPING_KEY_HANDLE_INVALID);
	CK_MECHANISM exp_param = {CKM_AKM_EXPORT_WRAP, wrapped, 4};
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp_param, transport, enc, wrapped, &wlen), CKR_MECHANISM_PARAM_INVALID);
	/* Any other wrapping of a relationship key is still refused. */
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &kwp, transport, enc, wrapped, &wlen), CKR_KEY_UNEXTRACTABLE);
	/* Revoked: refused, and the refusal is a record. */
	ck_assert_int_eq(set_ulong(enc, CKA_AKM_STATE, CKV_AKM_STATE_REVOKED), CKR_OK);
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, enc, wrapped, &wlen), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_BYTE rid[32];
	CK_ATTRIBUTE r = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, enc, &r, 1), CKR_OK);
	ck_assert(has_record(rid, r.ulValueLen, "export", "enc key"));
	ck_assert(has_record(rid, r.ulValueLen, "export", "mac key"));
	ck_assert(has_record(rid, r.ulValueLen, "export-refused", "revoked"));
	/* Without a login there is no relationship key to export. */
	ck_assert_int_eq(t.f->C_Logout(t.s), CKR_OK);
	wlen = sizeof wrapped;
	ck_assert_int_eq(t.f->C_WrapKey(t.s, &exp, transport, mac, wrapped, &wlen), CKR_KEY_HANDLE_INVALID);
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
	tcase_add_test(tc, test_audit_records);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

/*
 * AKM relationships through the vendor header only: creation of both kinds,
 * search by every AKM attribute, attributes read and changed, every policy
 * refusal with the spec's code, use with standard mechanisms, persistence,
 * the audit trail, and what the registry file holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "openssl-check.h"
#include "akm/pkcs11-akm.h"

/* A relationship-key handle that names nothing: the base plus an id far
 * beyond any created here. */
#define AKM_REGISTRY_HANDLE_FOR_TESTS (0x40000000UL + 999999UL)

static it_ctx t;

static void setup(void) { it_setup_env(&t, "akm-rel"); it_open(&t); }
static void teardown(void) { it_close(&t); }

static CK_MECHANISM rel_gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
static CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING, kind_op = CKV_AKM_KIND_OPERATIONAL;

/* A provisioning relationship for node `node` bound to `hw`. */
static CK_RV make_pr(CK_SESSION_HANDLE s, const char *node, const char *hw, const char *label,
                     CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
		{CKA_AKM_PEER_NODE, (void *)node, strlen(node)},
		{CKA_AKM_HW_BINDING, (void *)hw, strlen(hw)},
		{CKA_AKM_STATION_ID, "nmm-1", 5},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	return t.f->C_GenerateKey(s, &rel_gen, tmpl, 5, h);
}

/* Members A..E as the header encodes them. */
static const CK_BYTE members_ae[] = {1, 'A', 1, 'B', 1, 'C', 1, 'D', 1, 'E'};

static CK_ULONG find_all(CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ULONG got = 0, total = 0;
	ck_assert_int_eq(t.f->C_FindObjectsInit(t.s, tmpl, n), CKR_OK);
	do {
		ck_assert_int_eq(t.f->C_FindObjects(t.s, out + total, 1, &got), CKR_OK); /* one at a time: paging */
		total += got;
	} while (got > 0 && total < max);
	ck_assert_int_eq(t.f->C_FindObjectsFinal(t.s), CKR_OK);
	return total;
}

static CK_ULONG get_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	ck_assert_int_eq(t.f->C_GetAttributeValue(t.s, h, &a, 1), CKR_OK);
	return v;
}

START_TEST(test_create_both_kinds_and_find)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE pr, op;
	ck_assert_int_eq(make_pr(t.s, "node-A", "hw-serial-A", "pr-A", &pr), CKR_OK);
	CK_BYTE rid[] = {0xa5, 1, 2, 3};
	CK_ATTRIBUTE op_t[] = {
		{CKA_AKM_KIND, &kind_op, sizeof kind_op},
		{CKA_AKM_MEMBERS, (void *)members_ae, sizeof members_ae},
		{CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid},
		{CKA_LABEL, "asr-1", 5},
	};
	ck_assert_int_eq(f->C_GenerateKey(t.s, &rel_gen, op_t, 4, &op), CKR_OK);

	/* The encryption key came back; it carries everything. */
	CK_BYTE got_rid[32], id[33], label[64], peer[32], hw[64], members[64];
	CK_ULONG cls, kt, purpose, kind, state, epoch;
	CK_BBOOL sensitive, extractable, encrypt, sign, token, priv;
	CK_ATTRIBUTE read[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose}, {CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_STATE, &state, sizeof state}, {CKA_AKM_EPOCH, &epoch, sizeof epoch},
		{CKA_SENSITIVE, &sensitive, 1}, {CKA_EXTRACTABLE, &extractable, 1},
		{CKA_ENCRYPT, &encrypt, 1}, {CKA_SIGN, &sign, 1}, {CKA_TOKEN, &token, 1},
		{CKA_PRIVATE, &priv, 1}, {CKA_AKM_RELATIONSHIP_ID, got_rid, sizeof got_rid},
		{CKA_ID, id, sizeof id}, {CKA_LABEL, label, sizeof label},
		{CKA_AKM_PEER_NODE, peer, sizeof peer}, {CKA_AKM_HW_BINDING, hw, sizeof hw},
	};
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, pr, read, 17), CKR_OK);
	ck_assert_uint_eq(cls, CKO_SECRET_KEY);
	ck_assert_uint_eq(kt, CKK_AES);
	ck_assert_uint_eq(purpose, CKV_AKM_PURPOSE_ENCRYPT);
	ck_assert_uint_eq(kind, CKV_AKM_KIND_PROVISIONING);
	ck_assert_uint_eq(state, CKV_AKM_STATE_ACTIVE);
	ck_assert_uint_eq(epoch, 0);
	ck_assert(sensitive && !extractable && encrypt && !sign && token && priv);
	ck_assert_uint_eq(read[12].ulValueLen, 16); /* generated ID */
	ck_assert_uint_eq(read[13].ulValueLen, 17);
	ck_assert(memcmp(id, got_rid, 16) == 0 && id[16] == CKV_AKM_PURPOSE_ENCRYPT);
	ck_assert_uint_eq(read[14].ulValueLen, 8);
	ck_assert(memcmp(label, "pr-A/enc", 8) == 0);
	ck_assert(read[15].ulValueLen == 6 && memcmp(peer, "node-A", 6) == 0);
	ck_assert(read[16].ulValueLen == 11 && memcmp(hw, "hw-serial-A", 11) == 0);

	/* Members of the operational one; a PR attribute is not there. */
	CK_ATTRIBUTE m = {CKA_AKM_MEMBERS, members, sizeof members};
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, op, &m, 1), CKR_OK);
	ck_assert(m.ulValueLen == sizeof members_ae && memcmp(members, members_ae, sizeof members_ae) == 0);
	CK_ATTRIBUTE p = {CKA_AKM_PEER_NODE, peer, sizeof peer};
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, op, &p, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	CK_ATTRIBUTE v = {CKA_VALUE, hw, sizeof hw};
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, op, &v, 1), CKR_ATTRIBUTE_SENSITIVE);

	/* Search by each AKM attribute, alone and mixed with standard ones. */
	CK_OBJECT_HANDLE found[8];
	CK_ATTRIBUTE by_rid = {CKA_AKM_RELATIONSHIP_ID, rid, sizeof rid};
	ck_assert_uint_eq(find_all(&by_rid, 1, found, 8), 2); /* its encryption and MAC keys */
	CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
	ck_assert_uint_eq(find_all(&by_kind, 1, found, 8), 2);
	ck_assert(found[0] == pr || found[1] == pr);
	CK_ULONG mac = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE by_purpose[] = {{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_KEY_PURPOSE, &mac, sizeof mac}};
	ck_assert_uint_eq(find_all(by_purpose, 2, found, 8), 1);
	ck_assert_uint_eq(get_ulong(found[0], CKA_KEY_TYPE), CKK_GENERIC_SECRET);
	CK_ATTRIBUTE by_peer = {CKA_AKM_PEER_NODE, "node-A", 6};
	ck_assert_uint_eq(find_all(&by_peer, 1, found, 8), 2);
	CK_ATTRIBUTE by_hw = {CKA_AKM_HW_BINDING, "hw-serial-A", 11};
	ck_assert_uint_eq(find_all(&by_hw, 1, found, 8), 2);
	CK_ATTRIBUTE by_station = {CKA_AKM_STATION_ID, "nmm-1", 5};
	ck_assert_uint_eq(find_all(&by_station, 1, found, 8), 2);
	CK_ATTRIBUTE by_members = {CKA_AKM_MEMBERS, (void *)members_ae, sizeof members_ae};
	ck_assert_uint_eq(find_all(&by_members, 1, found, 8), 2);
	CK_ULONG active = CKV_AKM_STATE_ACTIVE;
	CK_ATTRIBUTE by_state = {CKA_AKM_STATE, &active, sizeof active};
	ck_assert_uint_eq(find_all(&by_state, 1, found, 8), 4);
	CK_ULONG zero = 0;
	CK_ATTRIBUTE by_epoch = {CKA_AKM_EPOCH, &zero, sizeof zero};
	ck_assert_uint_eq(find_all(&by_epoch, 1, found, 8), 4);
	CK_ATTRIBUTE by_label = {CKA_LABEL, "asr-1/mac", 9};
	ck_assert_uint_eq(find_all(&by_label, 1, found, 8), 1);
	CK_BYTE mac_id[5] = {0xa5, 1, 2, 3, CKV_AKM_PURPOSE_MAC};
	CK_ATTRIBUTE by_id = {CKA_ID, mac_id, sizeof mac_id};
	ck_assert_uint_eq(find_all(&by_id, 1, found, 8), 1);
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE mixed[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_SIGN, &yes, 1},
	                        {CKA_AKM_PEER_NODE, "node-A", 6}};
	ck_assert_uint_eq(find_all(mixed, 3, found, 8), 1);
	CK_ATTRIBUTE nobody = {CKA_AKM_PEER_NODE, "node-Z", 6};
	ck_assert_uint_eq(find_all(&nobody, 1, found, 8), 0);
	/* Standard searches see relationship keys beside the backend's objects,
	 * but never the module's own KEK. */
	it_aes_key(&t, t.s, CK_TRUE);
	CK_ATTRIBUTE all_secret = {CKA_CLASS, &secret, sizeof secret};
	ck_assert_uint_eq(find_all(&all_secret, 1, found, 8), 5);
	CK_ATTRIBUTE kek = {CKA_LABEL, "akm-pkcs11 KEK", 14};
	ck_assert_uint_eq(find_all(&kek, 1, found, 8), 0);
}
END_TEST

/* An attribute named twice in a search: an object has one value, so two
 * different values match nothing, on the indexed path and off it alike;
 * the same value twice is the value once. */
START_TEST(test_search_with_an_attribute_twice)
{
	CK_OBJECT_HANDLE a, b, found[8];
	ck_assert_int_eq(make_pr(t.s, "node-a", "hw-a", "twice-a", &a), CKR_OK);
	ck_assert_int_eq(make_pr(t.s, "node-b", "hw-b", "twice-b", &b), CKR_OK);
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG enc = CKV_AKM_PURPOSE_ENCRYPT, mac = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE two_peers[] = {{CKA_AKM_PEER_NODE, "node-a", 6}, {CKA_AKM_PEER_NODE, "node-b", 6}};
	CK_ATTRIBUTE two_peers_slow[] = {{CKA_AKM_PEER_NODE, "node-a", 6}, {CKA_AKM_PEER_NODE, "node-b", 6},
	                                 {CKA_TOKEN, &yes, 1}};
	CK_ATTRIBUTE two_purposes[] = {{CKA_AKM_PEER_NODE, "node-a", 6}, {CKA_AKM_KEY_PURPOSE, &enc, sizeof enc},
	                               {CKA_AKM_KEY_PURPOSE, &mac, sizeof mac}};
	CK_ATTRIBUTE same_twice[] = {{CKA_AKM_PEER_NODE, "node-b", 6}, {CKA_AKM_PEER_NODE, "node-b", 6},
	                             {CKA_AKM_KEY_PURPOSE, &enc, sizeof enc}};
	ck_assert_uint_eq(find_all(two_peers, 2, found, 8), 0);
	ck_assert_uint_eq(find_all(two_peers_slow, 3, found, 8), 0);
	ck_assert_uint_eq(find_all(two_purposes, 3, found, 8), 0);
	ck_assert_uint_eq(find_all(same_twice, 3, found, 8), 1);
	ck_assert_uint_eq(found[0], b);
}
END_TEST

START_TEST(test_policy_refusals)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE h;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bad_kind = 9, revoked = CKV_AKM_STATE_REVOKED, one = 1;
	CK_BYTE big[80] = {0};
	CK_BYTE dup_members[] = {1, 'A', 1, 'A'}, one_member[] = {1, 'A'}, broken[] = {5, 'A'};
	struct { CK_ATTRIBUTE t[4]; CK_ULONG n; CK_RV want; const char *why; } cases[] = {
		{{{CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}}, 2, CKR_TEMPLATE_INCOMPLETE, "no kind"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}}, 2, CKR_TEMPLATE_INCOMPLETE, "PR without hardware binding"},
		{{{CKA_AKM_KIND, &kind_op, sizeof kind_op}}, 1, CKR_TEMPLATE_INCOMPLETE, "ASR without members"},
		{{{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, (void *)members_ae, sizeof members_ae}, {CKA_AKM_PEER_NODE, "n", 1}}, 3, CKR_TEMPLATE_INCONSISTENT, "ASR with a peer node"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_MEMBERS, (void *)members_ae, sizeof members_ae}}, 4, CKR_TEMPLATE_INCONSISTENT, "PR with members"},
		{{{CKA_AKM_KIND, &bad_kind, sizeof bad_kind}}, 1, CKR_ATTRIBUTE_VALUE_INVALID, "unknown kind"},
		{{{CKA_AKM_KIND, &kind_pr, 2}}, 1, CKR_ATTRIBUTE_VALUE_INVALID, "kind of the wrong size"},
		{{{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, dup_members, sizeof dup_members}}, 2, CKR_ATTRIBUTE_VALUE_INVALID, "duplicate member"},
		{{{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, one_member, sizeof one_member}}, 2, CKR_ATTRIBUTE_VALUE_INVALID, "one member"},
		{{{CKA_AKM_KIND, &kind_op, sizeof kind_op}, {CKA_AKM_MEMBERS, broken, sizeof broken}}, 2, CKR_ATTRIBUTE_VALUE_INVALID, "truncated member"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, big, 33}, {CKA_AKM_HW_BINDING, "h", 1}}, 3, CKR_ATTRIBUTE_VALUE_INVALID, "peer ID too long"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, big, 65}}, 3, CKR_ATTRIBUTE_VALUE_INVALID, "hardware value too long"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_STATE, &revoked, sizeof revoked}}, 4, CKR_ATTRIBUTE_VALUE_INVALID, "created revoked"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_SENSITIVE, &no, 1}}, 4, CKR_ATTRIBUTE_VALUE_INVALID, "not sensitive"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_EXTRACTABLE, &yes, 1}}, 4, CKR_ATTRIBUTE_VALUE_INVALID, "extractable"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_EPOCH, &one, sizeof one}}, 4, CKR_ATTRIBUTE_READ_ONLY, "epoch given"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_VALUE, big, 32}}, 4, CKR_ATTRIBUTE_READ_ONLY, "key value given"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_MODULUS, big, 32}}, 4, CKR_ATTRIBUTE_TYPE_INVALID, "foreign attribute"},
		{{{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1}, {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_BASE + 0x7f, big, 1}}, 4, CKR_ATTRIBUTE_TYPE_INVALID, "unknown AKM attribute"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(f->C_GenerateKey(t.s, &rel_gen, cases[i].t, cases[i].n, &h) == cases[i].want,
		              "%s: got 0x%lx", cases[i].why, f->C_GenerateKey(t.s, &rel_gen, cases[i].t, cases[i].n, &h));
	CK_OBJECT_HANDLE none[2];
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE any = {CKA_CLASS, &secret, sizeof secret};
	ck_assert_uint_eq(find_all(&any, 1, none, 2), 0); /* nothing half-made */

	/* A parameter, a read-only session, a duplicate ID. */
	CK_BYTE param = 0;
	CK_MECHANISM with_param = {CKM_AKM_RELATIONSHIP_GEN, &param, 1};
	CK_BYTE rid[] = "rid-dup";
	CK_ATTRIBUTE ok[] = {{CKA_AKM_KIND, &kind_pr, sizeof kind_pr}, {CKA_AKM_PEER_NODE, "n", 1},
	                     {CKA_AKM_HW_BINDING, "h", 1}, {CKA_AKM_RELATIONSHIP_ID, rid, 7}};
	ck_assert_int_eq(f->C_GenerateKey(t.s, &with_param, ok, 4, &h), CKR_MECHANISM_PARAM_INVALID);
	CK_SESSION_HANDLE ro;
	ck_assert_int_eq(f->C_OpenSession(t.slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	ck_assert_int_eq(f->C_GenerateKey(ro, &rel_gen, ok, 4, &h), CKR_SESSION_READ_ONLY);
	ck_assert_int_eq(f->C_GenerateKey(t.s, &rel_gen, ok, 4, &h), CKR_OK);
	ck_assert_int_eq(f->C_GenerateKey(t.s, &rel_gen, ok, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID);

	/* Changes: label and state may change, along the allowed transitions. */
	ck_assert_int_eq(f->C_SetAttributeValue(ro, h, &ok[0], 1), CKR_SESSION_READ_ONLY);
	CK_ATTRIBUTE kind_change = {CKA_AKM_KIND, &kind_op, sizeof kind_op};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &kind_change, 1), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE value = {CKA_VALUE, big, 32};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &value, 1), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE foreign = {CKA_MODULUS, big, 32};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &foreign, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	CK_ULONG pending = CKV_AKM_STATE_PENDING, suspended = CKV_AKM_STATE_SUSPENDED, active = CKV_AKM_STATE_ACTIVE;
	CK_ATTRIBUTE to_pending = {CKA_AKM_STATE, &pending, sizeof pending};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &to_pending, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	/* Nothing changes when one entry of the template is refused. */
	CK_ATTRIBUTE relabel_and_bad[] = {{CKA_LABEL, "new", 3}, {CKA_AKM_STATE, &bad_kind, sizeof bad_kind}};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, relabel_and_bad, 2), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_BYTE label[64];
	CK_ATTRIBUTE l = {CKA_LABEL, label, sizeof label};
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, h, &l, 1), CKR_OK);
	ck_assert(l.ulValueLen > 3 && memcmp(label, "new", 3) != 0);
	CK_ATTRIBUTE suspend[] = {{CKA_AKM_STATE, &suspended, sizeof suspended}, {CKA_LABEL, "renamed", 7}};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, suspend, 2), CKR_OK);
	ck_assert_uint_eq(get_ulong(h, CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	l.ulValueLen = sizeof label;
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, h, &l, 1), CKR_OK);
	ck_assert(l.ulValueLen == 7 && memcmp(label, "renamed", 7) == 0);
	/* A suspended relationship's keys refuse to work until it is active again. */
	CK_BYTE iv[12] = {0};
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, h), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_ATTRIBUTE resume = {CKA_AKM_STATE, &active, sizeof active};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &resume, 1), CKR_OK);
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, h), CKR_OK);
	CK_BYTE out[64];
	CK_ULONG outlen = sizeof out;
	ck_assert_int_eq(f->C_Encrypt(t.s, (CK_BYTE_PTR) "x", 1, out, &outlen), CKR_OK);
	CK_ATTRIBUTE revoke = {CKA_AKM_STATE, &revoked, sizeof revoked};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &revoke, 1), CKR_OK);
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, h), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, h, &resume, 1), CKR_ATTRIBUTE_VALUE_INVALID); /* final */

	/* Keys never leave in plaintext, are not copied, derived or digested. */
	CK_OBJECT_HANDLE pr, other = it_aes_key(&t, t.s, CK_FALSE), copy;
	ck_assert_int_eq(make_pr(t.s, "node-B", "hw-B", "pr-B", &pr), CKR_OK);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_BYTE wrapped[128];
	CK_ULONG wlen = sizeof wrapped;
	ck_assert_int_eq(f->C_WrapKey(t.s, &kwp, other, pr, wrapped, &wlen), CKR_KEY_UNEXTRACTABLE);
	ck_assert_int_eq(f->C_CopyObject(t.s, pr, NULL, 0, &copy), CKR_ACTION_PROHIBITED);
	ck_assert_int_eq(f->C_DeriveKey(t.s, &kwp, pr, NULL, 0, &copy), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	ck_assert_int_eq(f->C_DigestInit(t.s, &sha), CKR_OK);
	ck_assert_int_eq(f->C_DigestKey(t.s, pr), CKR_KEY_INDIGESTIBLE);
	/* Purposes are separate: the encryption key does not MAC. */
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	ck_assert_int_eq(f->C_SignInit(t.s, &hmac, pr), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* A handle that names no relationship. */
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, AKM_REGISTRY_HANDLE_FOR_TESTS), CKR_KEY_HANDLE_INVALID);
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, AKM_REGISTRY_HANDLE_FOR_TESTS, &l, 1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(f->C_CopyObject(t.s, AKM_REGISTRY_HANDLE_FOR_TESTS, NULL, 0, &copy), CKR_OBJECT_HANDLE_INVALID);
}
END_TEST

START_TEST(test_use_with_standard_mechanisms)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE enc, macs[2];
	ck_assert_int_eq(make_pr(t.s, "node-C", "hw-C", "pr-C", &enc), CKR_OK);
	CK_ULONG mac_purpose = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE q[] = {{CKA_AKM_PEER_NODE, "node-C", 6}, {CKA_AKM_KEY_PURPOSE, &mac_purpose, sizeof mac_purpose}};
	ck_assert_uint_eq(find_all(q, 2, macs, 2), 1);

	/* AES-GCM round trip; a forged message fails with the spec's code. */
	CK_BYTE iv[12] = {9}, msg[1024], ct[1100], pt[1100];
	memset(msg, 0x42, sizeof msg);
	CK_GCM_PARAMS gp = {iv, 12, 96, (CK_BYTE_PTR) "hdr", 3, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_ULONG ctlen = sizeof ct, ptlen = sizeof pt;
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
	ck_assert_int_eq(f->C_DecryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(f->C_Decrypt(t.s, ct, ctlen, pt, &ptlen), CKR_OK);
	ck_assert(ptlen == sizeof msg && memcmp(pt, msg, sizeof msg) == 0);
	ct[10] ^= 0x80;
	ptlen = sizeof pt;
	ck_assert_int_eq(f->C_DecryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(f->C_Decrypt(t.s, ct, ctlen, pt, &ptlen), CKR_ENCRYPTED_DATA_INVALID);

	/* HMAC-SHA256 with the MAC key; a wrong MAC fails. */
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	CK_BYTE tag[32];
	CK_ULONG taglen = sizeof tag;
	ck_assert_int_eq(f->C_SignInit(t.s, &hmac, macs[0]), CKR_OK);
	ck_assert_int_eq(f->C_Sign(t.s, msg, sizeof msg, tag, &taglen), CKR_OK);
	ck_assert_int_eq(f->C_VerifyInit(t.s, &hmac, macs[0]), CKR_OK);
	ck_assert_int_eq(f->C_Verify(t.s, msg, sizeof msg, tag, taglen), CKR_OK);
	tag[0] ^= 1;
	ck_assert_int_eq(f->C_VerifyInit(t.s, &hmac, macs[0]), CKR_OK);
	ck_assert_int_eq(f->C_Verify(t.s, msg, sizeof msg, tag, taglen), CKR_SIGNATURE_INVALID);

	/* AES key wrap with padding: the relationship key wraps another key. */
	CK_OBJECT_HANDLE other = it_hmac_key(&t, t.s), back;
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_BYTE wrapped[128];
	CK_ULONG wlen = sizeof wrapped;
	ck_assert_int_eq(f->C_WrapKey(t.s, &kwp, enc, other, wrapped, &wlen), CKR_OK);
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &generic, sizeof generic}, {CKA_SIGN, &yes, 1}};
	ck_assert_int_eq(f->C_UnwrapKey(t.s, &kwp, enc, wrapped, wlen, ut, 3, &back), CKR_OK);

	/* After logout the keys are not there; after login they work again
	 * (unwrapped anew from the registry). */
	ck_assert_int_eq(f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, enc), CKR_KEY_HANDLE_INVALID);
	CK_OBJECT_HANDLE none[2];
	CK_ATTRIBUTE by_peer = {CKA_AKM_PEER_NODE, "node-C", 6};
	ck_assert_uint_eq(find_all(&by_peer, 1, none, 2), 0);
	ck_assert_int_eq(f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	ctlen = sizeof ct;
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, enc), CKR_OK);
	ck_assert_int_eq(f->C_Encrypt(t.s, msg, sizeof msg, ct, &ctlen), CKR_OK);
}
END_TEST

START_TEST(test_persistence_destroy_and_audit)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE h, keep;
	ck_assert_int_eq(make_pr(t.s, "node-D", "hw-D", "pr-D", &h), CKR_OK);
	ck_assert_int_eq(make_pr(t.s, "node-E", "hw-E", "pr-E", &keep), CKR_OK);
	CK_BYTE iv[12] = {1}, ct[64];
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_ULONG ctlen = sizeof ct;
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, keep), CKR_OK);
	ck_assert_int_eq(f->C_Encrypt(t.s, (CK_BYTE_PTR) "persist", 7, ct, &ctlen), CKR_OK);

	/* Across C_Finalize/C_Initialize the same handles name the same keys. */
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);
	it_open(&t);
	CK_BYTE pt[64];
	CK_ULONG ptlen = sizeof pt;
	ck_assert_int_eq(f->C_DecryptInit(t.s, &gcm, keep), CKR_OK);
	ck_assert_int_eq(f->C_Decrypt(t.s, ct, ctlen, pt, &ptlen), CKR_OK);
	ck_assert(ptlen == 7 && memcmp(pt, "persist", 7) == 0);

	/* Destroying a key destroys its relationship's whole credential set. */
	ck_assert_int_eq(f->C_DestroyObject(t.s, h), CKR_OK);
	CK_OBJECT_HANDLE found[4];
	CK_ATTRIBUTE by_peer = {CKA_AKM_PEER_NODE, "node-D", 6};
	ck_assert_uint_eq(find_all(&by_peer, 1, found, 4), 0);
	ck_assert_int_eq(f->C_DestroyObject(t.s, h), CKR_OBJECT_HANDLE_INVALID);
	CK_ATTRIBUTE all = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
	ck_assert_uint_eq(find_all(&all, 1, found, 4), 2);

	/* Breach signals: a wrong PIN, an unknown relationship ID. */
	ck_assert_int_eq(f->C_Logout(t.s), CKR_OK);
	ck_assert_int_eq(f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4), CKR_PIN_INCORRECT);
	ck_assert_int_eq(f->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	CK_ATTRIBUTE unknown = {CKA_AKM_RELATIONSHIP_ID, "no-such-id", 10};
	ck_assert_uint_eq(find_all(&unknown, 1, found, 4), 0);
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);

	/* The audit trail, read with sqlite3: every event in order, chained. */
	char registry[PATH_MAX + 16], *out = NULL;
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	const char *argv[] = {"sqlite3", registry, "SELECT action || ':' || result FROM audit ORDER BY seq", NULL};
	if (!akm_have_program("sqlite3"))
		return; /* the chain itself is checked in tests/unit/test_registry.c */
	ck_assert_int_eq(akm_run(argv, NULL, &out, 30), 0);
	ck_assert_msg(strstr(out, "create:0\ncreate:0\ndestroy:0\nlogin:160\nunknown-relationship:130\n") != NULL,
	              "audit trail:\n%s", out);
	free(out);

	/* No plaintext key material in the file: the keys are only there
	 * wrapped, and a destroyed relationship's blobs are zeroed. */
	const char *wal[] = {"sqlite3", registry, "PRAGMA wal_checkpoint(TRUNCATE)", NULL};
	ck_assert_int_eq(akm_run(wal, NULL, NULL, 30), 0);
	const char *blobs[] = {"sqlite3", registry, "SELECT count(*), min(length(wrapped)) FROM key", NULL};
	ck_assert_int_eq(akm_run(blobs, NULL, &out, 30), 0);
	ck_assert_msg(strncmp(out, "2|40", 4) == 0, "keys: %s", out); /* AES-KWP of 32 bytes */
	free(out);
}
END_TEST

START_TEST(test_registry_damage_and_rollback)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE h;
	char registry[PATH_MAX + 16], copy[PATH_MAX + 32], cmd[5 * PATH_MAX];
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	snprintf(copy, sizeof copy, "%s/registry-old.db", t.env.dir);
	ck_assert_int_eq(make_pr(t.s, "node-F", "hw-F", "pr-F", &h), CKR_OK);
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);
	/* Keep an old copy, then make another change. */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", registry, copy);
	ck_assert_int_eq(system(cmd), 0);
	it_open(&t);
	ck_assert_int_eq(make_pr(t.s, "node-G", "hw-G", "pr-G", &h), CKR_OK);
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);

	/* Restoring the old copy is detected at login, which is refused: the
	 * token is left logged out, relationships refuse. */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s-wal' '%s-shm'", copy, registry, registry, registry);
	ck_assert_int_eq(system(cmd), 0);
	it_open_login(&t, CKR_DEVICE_ERROR);
	ck_assert_int_eq(make_pr(t.s, "node-H", "hw-H", "pr-H", &h), CKR_DEVICE_ERROR);
	/* A search for relationships says so too, rather than finding none. */
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;
	CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
	ck_assert_int_eq(f->C_FindObjectsInit(t.s, &by_kind, 1), CKR_OK);
	ck_assert_int_eq(f->C_FindObjects(t.s, found, 4, &n), CKR_DEVICE_ERROR);
	ck_assert_int_eq(f->C_FindObjectsFinal(t.s), CKR_OK);
	CK_SESSION_INFO si;
	ck_assert_int_eq(f->C_GetSessionInfo(t.s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RW_PUBLIC_SESSION);
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);

	/* A deleted registry is detected the same way. */
	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", registry, registry, registry);
	ck_assert_int_eq(system(cmd), 0);
	it_open_login(&t, CKR_DEVICE_ERROR);
	ck_assert_int_eq(make_pr(t.s, "node-H", "hw-H", "pr-H", &h), CKR_DEVICE_ERROR);
	ck_assert_int_eq(f->C_Finalize(NULL), CKR_OK);

	/* A corrupted one: C_Initialize fails with a message, no crash. */
	FILE *fp = fopen(registry, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("this is not a registry, it is garbage garbage garbage garbage", fp);
	fclose(fp);
	ck_assert_int_eq(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	CK_INFO info;
	ck_assert_int_eq(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	t.f = NULL;
}
END_TEST

START_TEST(test_batch_all_or_nothing)
{
	CK_FUNCTION_LIST *f = t.f;
	enum { N = 100 };
	static char ids[N][16];
	static CK_ATTRIBUTE tmpls[N][4];
	CK_ATTRIBUTE_PTR ptrs[N];
	CK_ULONG counts[N];
	CK_OBJECT_HANDLE keys[N], first = 0;
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "batch-%03d", i);
		tmpls[i][0] = (CK_ATTRIBUTE){CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
		tmpls[i][1] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, ids[i], strlen(ids[i])};
		tmpls[i][2] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, "hw", 2};
		tmpls[i][3] = (CK_ATTRIBUTE){CKA_AKM_RELATIONSHIP_ID, ids[i], strlen(ids[i])};
		ptrs[i] = tmpls[i];
		counts[i] = 4;
	}
	CK_AKM_BATCH_GEN_PARAMS bp = {N, ptrs, counts, keys};
	CK_MECHANISM batch = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &bp, sizeof bp};
	CK_OBJECT_HANDLE found[2 * N + 1];

	/* One bad template refuses the whole batch: nothing is created. */
	tmpls[57][2].ulValueLen = 0;
	ck_assert_int_eq(f->C_GenerateKey(t.s, &batch, NULL, 0, &first), CKR_ATTRIBUTE_VALUE_INVALID);
	tmpls[57][2].ulValueLen = 2;
	/* So does an ID used twice. */
	tmpls[80][3] = tmpls[20][3];
	ck_assert_int_eq(f->C_GenerateKey(t.s, &batch, NULL, 0, &first), CKR_ATTRIBUTE_VALUE_INVALID);
	tmpls[80][3] = (CK_ATTRIBUTE){CKA_AKM_RELATIONSHIP_ID, ids[80], strlen(ids[80])};
	CK_ATTRIBUTE any = {CKA_AKM_KIND, &kind_pr, sizeof kind_pr};
	ck_assert_uint_eq(find_all(&any, 1, found, 2 * N + 1), 0);

	/* Malformed parameters. */
	CK_AKM_BATCH_GEN_PARAMS empty = {0, ptrs, counts, keys}, huge = {AKM_BATCH_MAX + 1, ptrs, counts, keys};
	CK_MECHANISM bad = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &empty, sizeof empty};
	ck_assert_int_eq(f->C_GenerateKey(t.s, &bad, NULL, 0, &first), CKR_MECHANISM_PARAM_INVALID);
	bad.pParameter = &huge;
	ck_assert_int_eq(f->C_GenerateKey(t.s, &bad, NULL, 0, &first), CKR_MECHANISM_PARAM_INVALID);
	bad.pParameter = NULL;
	ck_assert_int_eq(f->C_GenerateKey(t.s, &bad, NULL, 0, &first), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_int_eq(f->C_GenerateKey(t.s, &batch, &any, 1, &first), CKR_TEMPLATE_INCONSISTENT);

	/* The whole batch, then every relationship is there and works. */
	ck_assert_int_eq(f->C_GenerateKey(t.s, &batch, NULL, 0, &first), CKR_OK);
	ck_assert_uint_eq(first, keys[0]);
	ck_assert_uint_eq(find_all(&any, 1, found, 2 * N + 1), 2 * N);
	for (int i = 0; i < N; i += 33) {
		CK_ATTRIBUTE by_id = {CKA_AKM_RELATIONSHIP_ID, ids[i], strlen(ids[i])};
		ck_assert_uint_eq(find_all(&by_id, 1, found, 4), 2);
		ck_assert(found[0] == keys[i] || found[1] == keys[i]);
		CK_BYTE iv[12] = {0}, ct[64];
		CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
		CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
		CK_ULONG ctlen = sizeof ct;
		ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, keys[i]), CKR_OK);
		ck_assert_int_eq(f->C_Encrypt(t.s, (CK_BYTE_PTR) "batch", 5, ct, &ctlen), CKR_OK);
	}
}
END_TEST

START_TEST(test_revocation_by_another_process)
{
	CK_FUNCTION_LIST *f = t.f;
	CK_OBJECT_HANDLE h;
	ck_assert_int_eq(make_pr(t.s, "node-R", "hw-R", "pr-R", &h), CKR_OK);
	CK_BYTE iv[12] = {0}, ct[64];
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_ULONG ctlen = sizeof ct;
	/* Used here, so its key and state are cached in this process. */
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, h), CKR_OK);
	ck_assert_int_eq(f->C_Encrypt(t.s, (CK_BYTE_PTR) "x", 1, ct, &ctlen), CKR_OK);

	/* Another process revokes it. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_SLOT_ID slot;
		CK_SESSION_HANDLE s;
		CK_ULONG revoked = CKV_AKM_STATE_REVOKED;
		CK_ATTRIBUTE revoke = {CKA_AKM_STATE, &revoked, sizeof revoked};
		if (f->C_Initialize(NULL) != CKR_OK || akm_test_find_slot(f, t.env.token_label, &slot) != CKR_OK ||
		    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
		    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4) != CKR_OK)
			_exit(2);
		_exit(f->C_SetAttributeValue(s, h, &revoke, 1) == CKR_OK && f->C_Finalize(NULL) == CKR_OK ? 0 : 3);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Here it stops working at once, though its state was cached. */
	ck_assert_int_eq(f->C_EncryptInit(t.s, &gcm, h), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(get_ulong(h, CKA_AKM_STATE), CKV_AKM_STATE_REVOKED);
}
END_TEST

/* A search read ahead (the module reads a page of results and their rows in
 * one snapshot, and C_GetAttributeValue answers from them): taken one
 * handle per C_FindObjects it gives what one call gives, in the same order;
 * a change another process commits in the middle of it is seen at the next
 * C_GetAttributeValue, and a key that process destroyed is gone; a change
 * this session makes is seen at once. */
START_TEST(test_search_read_ahead_sees_other_processes)
{
	CK_FUNCTION_LIST *f = t.f;
	enum { N = 150 }; /* more than a page read ahead (64) */
	CK_OBJECT_HANDLE made[N];
	for (int i = 0; i < N; i++) {
		char node[16], label[16];
		snprintf(node, sizeof node, "node-%03d", i);
		snprintf(label, sizeof label, "pr-%03d", i);
		ck_assert_int_eq(make_pr(t.s, node, "hw", label, &made[i]), CKR_OK);
	}
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kind, sizeof kind};
	CK_OBJECT_HANDLE all[2 * N + 1], one[2 * N + 1];
	CK_ULONG n_all = 0, n_one = find_all(&by_kind, 1, one, 2 * N + 1);
	ck_assert_int_eq(f->C_FindObjectsInit(t.s, &by_kind, 1), CKR_OK);
	ck_assert_int_eq(f->C_FindObjects(t.s, all, 2 * N + 1, &n_all), CKR_OK);
	ck_assert_int_eq(f->C_FindObjectsFinal(t.s), CKR_OK);
	ck_assert_uint_eq(n_all, 2 * N);
	ck_assert_uint_eq(n_one, n_all);
	for (CK_ULONG i = 0; i < n_all; i++)
		ck_assert_uint_eq(one[i], all[i]);

	/* Iterating one at a time (a relationship's two keys come one after
	 * the other); after the first key, another process suspends the first
	 * and third relationships and destroys the second. */
	CK_OBJECT_HANDLE h[5];
	CK_ULONG got;
	ck_assert_int_eq(f->C_FindObjectsInit(t.s, &by_kind, 1), CKR_OK);
	ck_assert_int_eq(f->C_FindObjects(t.s, &h[0], 1, &got), CKR_OK);
	ck_assert_uint_eq(got, 1);
	ck_assert_uint_eq(get_ulong(h[0], CKA_AKM_STATE), CKV_AKM_STATE_ACTIVE); /* read ahead */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_SLOT_ID slot;
		CK_SESSION_HANDLE s;
		CK_ULONG suspended = CKV_AKM_STATE_SUSPENDED;
		CK_ATTRIBUTE suspend = {CKA_AKM_STATE, &suspended, sizeof suspended};
		if (f->C_Initialize(NULL) != CKR_OK || akm_test_find_slot(f, t.env.token_label, &slot) != CKR_OK ||
		    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
		    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4) != CKR_OK)
			_exit(2);
		_exit(f->C_SetAttributeValue(s, all[1], &suspend, 1) == CKR_OK &&
		      f->C_SetAttributeValue(s, all[4], &suspend, 1) == CKR_OK &&
		      f->C_DestroyObject(s, all[2]) == CKR_OK && f->C_Finalize(NULL) == CKR_OK ? 0 : 3);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(f->C_FindObjects(t.s, &h[1], 4, &got), CKR_OK);
	ck_assert_uint_eq(got, 4);
	ck_assert_uint_eq(h[1], all[1]);
	ck_assert_uint_eq(get_ulong(h[1], CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	CK_ULONG state = 0;
	CK_ATTRIBUTE a = {CKA_AKM_STATE, &state, sizeof state};
	/* Destroyed meanwhile: the handles found ahead name nothing now. */
	ck_assert_uint_eq(h[2], all[2]);
	ck_assert_uint_eq(h[3], all[3]);
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, h[2], &a, 1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_int_eq(f->C_GetAttributeValue(t.s, h[3], &a, 1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(h[4], all[4]);
	ck_assert_uint_eq(get_ulong(h[4], CKA_AKM_STATE), CKV_AKM_STATE_SUSPENDED);
	/* This session's own change, in the middle of the search (the fourth
	 * relationship's first key). */
	CK_OBJECT_HANDLE next[2];
	ck_assert_int_eq(f->C_FindObjects(t.s, next, 2, &got), CKR_OK);
	ck_assert_uint_eq(got, 2);
	ck_assert_uint_eq(next[1], all[6]);
	ck_assert_uint_eq(get_ulong(next[1], CKA_AKM_STATE), CKV_AKM_STATE_ACTIVE);
	CK_ULONG revoked = CKV_AKM_STATE_REVOKED;
	CK_ATTRIBUTE revoke = {CKA_AKM_STATE, &revoked, sizeof revoked};
	ck_assert_int_eq(f->C_SetAttributeValue(t.s, next[1], &revoke, 1), CKR_OK);
	ck_assert_uint_eq(get_ulong(next[1], CKA_AKM_STATE), CKV_AKM_STATE_REVOKED);
	ck_assert_int_eq(f->C_FindObjectsFinal(t.s), CKR_OK);
}
END_TEST

/* Reads a whole file; *len gets its size. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		*len = 0;
		return NULL;
	}
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
	*len = fread(buf, 1, n > 0 ? (size_t)n : 0, fp);
	fclose(fp);
	return buf;
}

static bool contains(const unsigned char *hay, size_t n, const unsigned char *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

/* The backend token as a PIN-holder can reach it without this module
 * (through p11-kit-proxy, say): SoftHSM2 itself, the user logged in, and
 * the registry's KEK found by its label.  The module is finalised first
 * (one SoftHSM2 per process). */
typedef struct raw_backend {
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE kek;
} raw_backend;

static void raw_open(raw_backend *b)
{
	ck_assert_int_eq(t.f->C_Finalize(NULL), CKR_OK);
	t.f = NULL;
	b->f = akm_test_load_module(t.env.softhsm_path, &b->dl);
	ck_assert_ptr_nonnull(b->f);
	ck_assert_int_eq(b->f->C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID slot;
	ck_assert_int_eq(akm_test_find_slot(b->f, t.env.token_label, &slot), CKR_OK);
	ck_assert_int_eq(b->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &b->s), CKR_OK);
	ck_assert_int_eq(b->f->C_Login(b->s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, 4), CKR_OK);
	CK_ULONG n = 0;
	CK_ATTRIBUTE by_label = {CKA_LABEL, "akm-pkcs11 KEK", 14};
	ck_assert_int_eq(b->f->C_FindObjectsInit(b->s, &by_label, 1), CKR_OK);
	ck_assert_int_eq(b->f->C_FindObjects(b->s, &b->kek, 1, &n), CKR_OK);
	b->f->C_FindObjectsFinal(b->s);
	ck_assert_uint_eq(n, 1);
}

/* The wrapped blobs of the registry, read from its file with sqlite3, as
 * hex lines (malloc'd). */
static char *registry_blobs(void)
{
	akm_require_programs((const char *const[]){"sqlite3", NULL});
	char registry[PATH_MAX + 16], *out = NULL;
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	const char *argv[] = {"sqlite3", registry, "SELECT hex(wrapped) FROM key ORDER BY id", NULL};
	ck_assert_int_eq(akm_run(argv, NULL, &out, 30), 0);
	return out;
}

static size_t unhex_line(const char *line, CK_BYTE *blob, size_t cap)
{
	size_t blen = strlen(line) / 2;
	ck_assert_uint_le(blen, cap);
	for (size_t i = 0; i < blen; i++)
		sscanf(line + 2 * i, "%2hhx", &blob[i]);
	return blen;
}

static CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

START_TEST(test_registry_holds_no_plaintext_keys)
{
	CK_OBJECT_HANDLE h;
	ck_assert_int_eq(make_pr(t.s, "node-K", "hw-K", "pr-K", &h), CKR_OK);
	char *out = registry_blobs();
	raw_backend b;
	raw_open(&b);

	/* Recover the real key values the way only a PIN-holder at the token
	 * can (see test_kek_unwrap_template): each stored blob unwrapped with
	 * the KEK into an extractable, sensitive session object, wrapped under
	 * a key whose value the test knows, opened with OpenSSL.  Then none of
	 * those values may appear in the registry files. */
	CK_BYTE known[32];
	for (int i = 0; i < 32; i++)
		known[i] = (CK_BYTE)(5 * i + 3);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES, kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE mine_t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes},
	                         {CKA_TOKEN, &no, 1}, {CKA_WRAP, &yes, 1}, {CKA_VALUE, known, 32}};
	CK_OBJECT_HANDLE mine;
	ck_assert_int_eq(b.f->C_CreateObject(b.s, mine_t, 5, &mine), CKR_OK);

	char registry[PATH_MAX + 16];
	snprintf(registry, sizeof registry, "%s/registry.db", t.env.dir);
	size_t db_len, wal_len;
	char wal[PATH_MAX + 32];
	snprintf(wal, sizeof wal, "%s-wal", registry);
	unsigned char *db = slurp(registry, &db_len), *walbuf = slurp(wal, &wal_len);
	ck_assert_uint_gt(db_len, 0);
	int keys = 0;
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		CK_BYTE blob[128], value[64], rewrapped[64];
		size_t blen = unhex_line(line, blob, sizeof blob);
		CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
		                     {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_TOKEN, &no, 1},
		                     {CKA_COPYABLE, &no, 1}, {CKA_DERIVE, &no, 1}, {CKA_MODIFIABLE, &no, 1}};
		CK_OBJECT_HANDLE plain;
		ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, ut, 8, &plain), CKR_OK);
		CK_ULONG rlen = sizeof rewrapped;
		ck_assert_int_eq(b.f->C_WrapKey(b.s, &kwp, mine, plain, rewrapped, &rlen), CKR_OK);
		ck_assert_int_eq(it_unwrap_kwp(known, rewrapped, rlen, value), 32);
		ck_assert_msg(!contains(db, db_len, value, 32), "a key's plaintext is in the registry file");
		ck_assert_msg(walbuf == NULL || !contains(walbuf, wal_len, value, 32), "a key's plaintext is in the WAL");
		/* The scan can find what is there: the wrapped blob itself is. */
		ck_assert(contains(db, db_len, blob, blen) || (walbuf != NULL && contains(walbuf, wal_len, blob, blen)));
		keys++;
	}
	ck_assert_int_eq(keys, 2);
	free(db);
	free(walbuf);
	free(out);
	b.f->C_Finalize(NULL);
}
END_TEST

/* Issue 9, item 9a: the KEK carries an unwrap template, so that a
 * PIN-holder who reaches the backend token directly and unwraps a blob of
 * the registry file with it gets no readable CKA_VALUE, no token object, no
 * copy; and the KEK itself wraps and unwraps only, for good.  (What such a
 * PIN-holder can still do is in docs/threat-model.md, and
 * test_registry_holds_no_plaintext_keys does it.) */
START_TEST(test_kek_unwrap_template)
{
	CK_OBJECT_HANDLE h;
	ck_assert_int_eq(make_pr(t.s, "node-T", "hw-T", "pr-T", &h), CKR_OK);
	char *out = registry_blobs();
	raw_backend b;
	raw_open(&b);
	CK_BYTE blob[128];
	size_t blen = unhex_line(strtok(out, "\n"), blob, sizeof blob); /* the encryption key's */

	/* The KEK: wrap and unwrap only, not extractable, with an unwrap
	 * template (modifiable, so that the module can keep a session copy). */
	CK_BBOOL flags[10];
	CK_ATTRIBUTE_TYPE types[10] = {CKA_WRAP, CKA_UNWRAP, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY,
	                               CKA_DERIVE, CKA_MODIFIABLE, CKA_EXTRACTABLE, CKA_SENSITIVE};
	const CK_BBOOL want[10] = {CK_TRUE, CK_TRUE, CK_FALSE, CK_FALSE, CK_FALSE, CK_FALSE,
	                           CK_FALSE, CK_TRUE, CK_FALSE, CK_TRUE};
	CK_ATTRIBUTE ka[10];
	for (int i = 0; i < 10; i++)
		ka[i] = (CK_ATTRIBUTE){types[i], &flags[i], 1};
	ck_assert_int_eq(b.f->C_GetAttributeValue(b.s, b.kek, ka, 10), CKR_OK);
	for (int i = 0; i < 10; i++)
		ck_assert_msg(flags[i] == want[i], "KEK attribute 0x%lx is %d", types[i], flags[i]);
	CK_ATTRIBUTE tmpl_len = {CKA_UNWRAP_TEMPLATE, NULL, 0};
	ck_assert_int_eq(b.f->C_GetAttributeValue(b.s, b.kek, &tmpl_len, 1), CKR_OK);
	ck_assert_uint_eq(tmpl_len.ulValueLen, 7 * sizeof(CK_ATTRIBUTE));
	/* Its unwrap template cannot be changed, nor the KEK made extractable. */
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE none = {CKA_UNWRAP_TEMPLATE, NULL, 0};
	ck_assert_int_ne(b.f->C_SetAttributeValue(b.s, b.kek, &none, 1), CKR_OK);
	CK_ATTRIBUTE extractable = {CKA_EXTRACTABLE, &yes, 1};
	ck_assert_int_ne(b.f->C_SetAttributeValue(b.s, b.kek, &extractable, 1), CKR_OK);
	ck_assert_int_eq(b.f->C_GetAttributeValue(b.s, b.kek, &tmpl_len, 1), CKR_OK);
	ck_assert_uint_eq(tmpl_len.ulValueLen, 7 * sizeof(CK_ATTRIBUTE));
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	ck_assert_int_eq(b.f->C_DecryptInit(b.s, &ecb, b.kek), CKR_KEY_FUNCTION_NOT_PERMITTED);

	/* Unwrapping a blob into a readable key, as the module's KEK allowed
	 * before: refused, and so is a token object, or a template that does
	 * not say what the KEK's says. */
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_OBJECT_HANDLE plain;
	CK_ATTRIBUTE readable[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes},
	                           {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_TOKEN, &no, 1}};
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, readable, 5, &plain), CKR_TEMPLATE_INCONSISTENT);
	CK_ATTRIBUTE defaults[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes}};
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, defaults, 2, &plain), CKR_TEMPLATE_INCONSISTENT);
	CK_ATTRIBUTE full[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes},
	                       {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1}, {CKA_TOKEN, &no, 1},
	                       {CKA_COPYABLE, &no, 1}, {CKA_DERIVE, &no, 1}, {CKA_MODIFIABLE, &no, 1}};
	full[4].pValue = &yes; /* a token object */
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, full, 8, &plain), CKR_TEMPLATE_INCONSISTENT);
	full[4].pValue = &no;
	full[5].pValue = &yes; /* copyable */
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, full, 8, &plain), CKR_TEMPLATE_INCONSISTENT);
	full[5].pValue = &no;
	full[6].pValue = &yes; /* a base for derivation */
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, full, 8, &plain), CKR_TEMPLATE_INCONSISTENT);
	full[6].pValue = &no;
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, full, 7, &plain), CKR_TEMPLATE_INCONSISTENT);

	/* What the template lets through has no readable value, and stays a
	 * sensitive session object. */
	ck_assert_int_eq(b.f->C_UnwrapKey(b.s, &kwp, b.kek, blob, blen, full, 8, &plain), CKR_OK);
	CK_BYTE value[64];
	CK_ATTRIBUTE v = {CKA_VALUE, value, sizeof value};
	ck_assert_int_eq(b.f->C_GetAttributeValue(b.s, plain, &v, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(v.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	CK_ATTRIBUTE to_token = {CKA_TOKEN, &yes, 1}, unsensitive = {CKA_SENSITIVE, &no, 1};
	CK_OBJECT_HANDLE copy;
	ck_assert_int_eq(b.f->C_CopyObject(b.s, plain, &to_token, 1, &copy), CKR_ACTION_PROHIBITED);
	ck_assert_int_ne(b.f->C_SetAttributeValue(b.s, plain, &unsensitive, 1), CKR_OK);
	v.ulValueLen = sizeof value;
	ck_assert_int_eq(b.f->C_GetAttributeValue(b.s, plain, &v, 1), CKR_ATTRIBUTE_SENSITIVE);
	free(out);
	b.f->C_Finalize(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relationships");
	TCase *tc = tcase_create("relationships");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_both_kinds_and_find);
	tcase_add_test(tc, test_policy_refusals);
	tcase_add_test(tc, test_use_with_standard_mechanisms);
	tcase_add_test(tc, test_persistence_destroy_and_audit);
	tcase_add_test(tc, test_registry_damage_and_rollback);
	tcase_add_test(tc, test_batch_all_or_nothing);
	tcase_add_test(tc, test_registry_holds_no_plaintext_keys);
	tcase_add_test(tc, test_kek_unwrap_template);
	tcase_add_test(tc, test_revocation_by_another_process);
	tcase_add_test(tc, test_search_with_an_attribute_twice);
	tcase_add_test(tc, test_search_read_ahead_sees_other_processes);
	suite_add_tcase(s, tc);
	IT_RUN_SUITE(s);
}

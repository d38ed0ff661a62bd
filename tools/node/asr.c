/*
 * A member's operational ASRs (node.h, docs/asr.md): enrollment packages
 * and rekey messages into the node's token, protected messages sealed and
 * opened.  The node's token is reached through akm-pkcs11.so configured
 * over it: the module keeps the ASR's keys, epochs, the sender's counter
 * and the replay windows; everything here is CKM_AKM_ASR_* calls and
 * sentences for what the module refuses.
 */
#define _POSIX_C_SOURCE 200809L
#include "node/node-keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "lib/rv.h"

static const CK_ULONG operational = CKV_AKM_KIND_OPERATIONAL;
static const CK_ULONG purpose_enc = CKV_AKM_PURPOSE_ENCRYPT;

int akm_node_asr_check_module(const akm_p11 *node, char *err, size_t errlen)
{
	const char *m = AKM_PKCS11_MANUFACTURER;
	size_t n = strlen(m);
	const unsigned char *id = node->token.manufacturerID;
	bool ok = memcmp(id, m, n) == 0;
	for (size_t i = n; ok && i < sizeof node->token.manufacturerID; i++)
		ok = id[i] == ' ';
	if (!ok)
		snprintf(err, errlen, "the node's token is not presented by akm-pkcs11 (its manufacturer is \"%.32s\"): "
		         "ASRs live in akm-pkcs11.so configured over the node's token (AKM_PKCS11_CONF)",
		         (const char *)id);
	return ok ? 0 : -1;
}

static int asr_read(akm_p11 *node, CK_OBJECT_HANDLE key, akm_node_asr *a)
{
	memset(a, 0, sizeof *a);
	a->key = key;
	char label[AKM_ASR_LABEL_MAX + 8] = {0};
	CK_ATTRIBUTE t[] = {
		{CKA_LABEL, label, sizeof label - 1},
		{CKA_AKM_RELATIONSHIP_ID, a->id, sizeof a->id},
		{CKA_AKM_EPOCH, &a->epoch, sizeof a->epoch},
		{CKA_AKM_MEMBER_INDEX, &a->leaf, sizeof a->leaf},
		{CKA_AKM_ASR_CAPACITY, &a->capacity, sizeof a->capacity},
		{CKA_AKM_ASR_MEMBER_COUNT, &a->members, sizeof a->members},
		{CKA_AKM_ASR_POLICY, &a->policy, sizeof a->policy},
	};
	CK_RV rv = node->f->C_GetAttributeValue(node->session, key, t, sizeof t / sizeof t[0]);
	if (rv != CKR_OK)
		return akm_p11_fail(node, "C_GetAttributeValue", rv, "the ASR's key");
	a->id_len = t[1].ulValueLen;
	akm_p11_key_name(label, t[0].ulValueLen, a->name, sizeof a->name);
	return 0;
}

int akm_node_asr_list(akm_p11 *node, akm_node_asr **out, size_t *count)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_KIND, (void *)&operational, sizeof operational},
		{CKA_AKM_KEY_PURPOSE, (void *)&purpose_enc, sizeof purpose_enc},
	};
	CK_OBJECT_HANDLE *h = NULL;
	size_t n = 0, k = 0;
	*out = NULL;
	*count = 0;
	if (akm_p11_find_all(node, t, sizeof t / sizeof t[0], &h, &n) != 0)
		return -1;
	akm_node_asr *v = calloc(n ? n : 1, sizeof *v);
	if (v == NULL) {
		free(h);
		return akm_p11_fail_text(node, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		CK_ULONG leaf;
		/* Only the keys of ASRs this node is a member of. */
		if (akm_p11_get_ulong(node, h[i], CKA_AKM_MEMBER_INDEX, &leaf) != 0)
			continue;
		if (asr_read(node, h[i], &v[k]) != 0) {
			free(h);
			free(v);
			return -1;
		}
		k++;
	}
	free(h);
	*out = v;
	*count = k;
	return 0;
}

int akm_node_asr_find(akm_p11 *node, const char *name, const uint8_t *id, size_t id_len, akm_node_asr *a)
{
	akm_node_asr *v;
	size_t n;
	if (akm_node_asr_list(node, &v, &n) != 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < n && !found; i++)
		if ((name != NULL && strcmp(v[i].name, name) == 0) ||
		    (id != NULL && v[i].id_len == id_len && memcmp(v[i].id, id, id_len) == 0)) {
			*a = v[i];
			found = 1;
		}
	free(v);
	return found;
}

/* The sentence for a refusal of the module's ASR mechanisms. */
static int refusal(CK_RV rv, const char *what, char *err, size_t errlen)
{
	const char *why = NULL;
	int code = AKM_RC_REFUSED;
	switch (rv) {
	case CKR_SIGNATURE_INVALID: why = "it is not signed by the trusted station (altered, or another station's)"; break;
	case CKR_WRAPPED_KEY_INVALID: why = "it is damaged: a field or a wrapped key does not check"; break;
	case CKR_ENCRYPTED_DATA_INVALID: why = "it does not open: altered, or not sealed by a member of this ASR"; break;
	case CKR_ENCRYPTED_DATA_LEN_RANGE: why = "it is not a whole message"; break;
	case CKR_AKM_OTHER_MEMBER: why = "it is for another member"; break;
	case CKR_AKM_OLD_EPOCH: why = "its generation or step is older than this member's (its key is destroyed)"; break;
	case CKR_AKM_UNKNOWN_EPOCH: why = "its generation is newer than this member's: a rekey message or a new package is missing"; break;
	case CKR_AKM_REPLAY: why = "it was opened before (a replay)"; break;
	case CKR_AKM_UNKNOWN_ASR: why = "this node is not a member of its ASR"; code = AKM_RC_NOT_FOUND; break;
	case CKR_AKM_REMOVED: why = "it removes this node from the ASR: the ASR's keys are gone from this token"; break;
	case CKR_AKM_NOT_MEMBER: why = "its sender is not another member of the ASR"; break;
	default:
		snprintf(err, errlen, "%s: the token failed: %s", what, akm_rv_name(rv));
		return AKM_RC_TOKEN;
	}
	snprintf(err, errlen, "%s: %s (%s)", what, why, akm_rv_name(rv));
	return code;
}

/* The anchor handle and CK_AKM_ASR_ENROLL_PARAMS for enroll and rekey. */
static int anchor_params(akm_p11 *node, CK_AKM_ASR_ENROLL_PARAMS *ep, char *err, size_t errlen)
{
	bool found = false;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	if (akm_node_anchor_find(node, &found, &h) != 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	if (!found) {
		snprintf(err, errlen, "no station is trusted yet (akm-node trust ANCHOR, or import a bundle first)");
		return AKM_RC_REFUSED;
	}
	ep->hAnchor = h;
	return AKM_RC_OK;
}

int akm_node_holds_pr(akm_p11 *node, const uint8_t *pr_id, size_t pr_len, CK_OBJECT_HANDLE *enc)
{
	CK_OBJECT_HANDLE keys[AKM_NODE_KEYS_MAX];
	size_t n = 0;
	if (akm_node_find_keys(node, pr_id, pr_len, CKV_AKM_PURPOSE_ENCRYPT, keys, AKM_NODE_KEYS_MAX, &n) != 0)
		return -1;
	if (n == 1 && enc != NULL)
		*enc = keys[0];
	return n == 1;
}

int akm_node_enroll(akm_p11 *node, const uint8_t *buf, size_t len, akm_node_asr *out, char *err, size_t errlen)
{
	akm_asr_package pkg;
	size_t signed_len;
	akm_fmt_rc frc = akm_asr_package_parse(buf, len, &pkg, &signed_len);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "not an ASR package: %s", akm_fmt_strerror(frc));
		return AKM_RC_REFUSED;
	}
	CK_OBJECT_HANDLE pr_key = CK_INVALID_HANDLE;
	int held = akm_node_holds_pr(node, pkg.pr_id, pkg.pr_id_len, &pr_key);
	if (held < 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	if (held == 0) {
		snprintf(err, errlen, "it is for another node: this token holds no provisioning relationship with "
		         "the package's PR ID (CKR_AKM_OTHER_MEMBER)");
		return AKM_RC_REFUSED;
	}
	CK_AKM_ASR_ENROLL_PARAMS ep;
	int rc = anchor_params(node, &ep, err, errlen);
	if (rc != AKM_RC_OK)
		return rc;
	CK_MECHANISM m = {CKM_AKM_ASR_ENROLL, &ep, sizeof ep};
	CK_OBJECT_HANDLE key;
	CK_RV rv = node->f->C_UnwrapKey(node->session, &m, pr_key, (CK_BYTE_PTR)buf, len, NULL, 0, &key);
	if (rv != CKR_OK)
		return refusal(rv, "refused", err, errlen);
	if (asr_read(node, key, out) != 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	return AKM_RC_OK;
}

int akm_node_rekey(akm_p11 *node, const uint8_t *buf, size_t len, akm_node_asr *out, char *err, size_t errlen)
{
	akm_asr_rekey r;
	size_t signed_len;
	akm_fmt_rc frc = akm_asr_rekey_parse(buf, len, &r, &signed_len);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "not an ASR rekey message: %s", akm_fmt_strerror(frc));
		return AKM_RC_REFUSED;
	}
	int found = akm_node_asr_find(node, NULL, r.head.asr_id, r.head.asr_id_len, out);
	if (found < 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	if (found == 0) {
		snprintf(err, errlen, "this node is not a member of its ASR (CKR_AKM_UNKNOWN_ASR)");
		return AKM_RC_NOT_FOUND;
	}
	CK_AKM_ASR_ENROLL_PARAMS ep;
	int rc = anchor_params(node, &ep, err, errlen);
	if (rc != AKM_RC_OK)
		return rc;
	CK_MECHANISM m = {CKM_AKM_ASR_REKEY, &ep, sizeof ep};
	CK_OBJECT_HANDLE key;
	CK_RV rv = node->f->C_UnwrapKey(node->session, &m, out->key, (CK_BYTE_PTR)buf, len, NULL, 0, &key);
	if (rv != CKR_OK)
		return refusal(rv, "refused", err, errlen);
	if (asr_read(node, key, out) != 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	return AKM_RC_OK;
}

/* A single-part C_Encrypt (CKM_AKM_ASR_SEAL) or C_Decrypt (_OPEN) with the
 * ASR's key into a malloc'd buffer of cap bytes. */
static int one_shot(akm_p11 *node, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, const uint8_t *in, size_t len,
                    size_t cap, uint8_t **out, size_t *out_len, const char *what, char *err, size_t errlen)
{
	uint8_t *buf = malloc(cap ? cap : 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return AKM_RC_FILES;
	}
	CK_MECHANISM m = {mech, NULL, 0};
	bool seal = mech == CKM_AKM_ASR_SEAL;
	CK_RV rv = seal ? node->f->C_EncryptInit(node->session, &m, key) : node->f->C_DecryptInit(node->session, &m, key);
	CK_ULONG n = (CK_ULONG)cap;
	if (rv == CKR_OK)
		rv = seal ? node->f->C_Encrypt(node->session, (CK_BYTE_PTR)in, len, buf, &n)
		          : node->f->C_Decrypt(node->session, (CK_BYTE_PTR)in, len, buf, &n);
	if (rv != CKR_OK) {
		free(buf);
		return refusal(rv, seal ? what : "refused", err, errlen);
	}
	*out = buf;
	*out_len = n;
	return AKM_RC_OK;
}

int akm_node_seal(akm_p11 *node, const akm_node_asr *a, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *out_len, char *err, size_t errlen)
{
	return one_shot(node, CKM_AKM_ASR_SEAL, a->key, in, len, akm_asr_message_header_len(a->id_len) + len + AKM_ASR_TAG_LEN,
	                out, out_len, "sealing", err, errlen);
}

int akm_node_open_in(akm_p11 *node, const akm_node_asr *a, const uint8_t *msg, size_t len, akm_asr_message *hdr,
                     uint8_t **plain, size_t *plain_len, char *err, size_t errlen)
{
	akm_fmt_rc frc = akm_asr_message_parse(msg, len, hdr);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "not an ASR message: %s", akm_fmt_strerror(frc));
		return AKM_RC_REFUSED;
	}
	/* The parser checked ct_len >= 16. */
	return one_shot(node, CKM_AKM_ASR_OPEN, a->key, msg, len, hdr->ct_len - AKM_ASR_TAG_LEN, plain, plain_len,
	                "opening", err, errlen);
}

int akm_node_open(akm_p11 *node, const uint8_t *msg, size_t len, akm_asr_message *hdr, akm_node_asr *a,
                  uint8_t **plain, size_t *plain_len, char *err, size_t errlen)
{
	akm_fmt_rc frc = akm_asr_message_parse(msg, len, hdr);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "not an ASR message: %s", akm_fmt_strerror(frc));
		return AKM_RC_REFUSED;
	}
	int found = akm_node_asr_find(node, NULL, hdr->asr_id, hdr->asr_id_len, a);
	if (found < 0) {
		snprintf(err, errlen, "%s", node->err);
		return AKM_RC_TOKEN;
	}
	if (found == 0) {
		snprintf(err, errlen, "this node is not a member of the message's ASR (CKR_AKM_UNKNOWN_ASR)");
		return AKM_RC_NOT_FOUND;
	}
	int rc = akm_node_open_in(node, a, msg, len, hdr, plain, plain_len, err, errlen);
	if (rc != AKM_RC_OK)
		return rc;
	/* The epoch the member is at now (a message may have moved it). */
	CK_ULONG epoch;
	if (akm_p11_get_ulong(node, a->key, CKA_AKM_EPOCH, &epoch) == 0)
		a->epoch = epoch;
	return AKM_RC_OK;
}

int akm_node_asr_step(akm_p11 *node, akm_node_asr *a, CK_ULONG epoch, char *err, size_t errlen)
{
	CK_ATTRIBUTE t = {CKA_AKM_EPOCH, &epoch, sizeof epoch};
	CK_RV rv = node->f->C_SetAttributeValue(node->session, a->key, &t, 1);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
		snprintf(err, errlen, "the member can only move forward within its generation (CKR_ATTRIBUTE_VALUE_INVALID)");
		return AKM_RC_REFUSED;
	}
	if (rv != CKR_OK)
		return refusal(rv, "refresh", err, errlen);
	a->epoch = epoch;
	return AKM_RC_OK;
}

/*
 * The station -> node key transfer (transfer.h, docs/formats.md "USB
 * bundle" and "Node token").  The PR's keys leave the station's token only
 * wrapped (CKM_AKM_EXPORT_WRAP) and enter the node's token only through
 * C_UnwrapKey, so their plaintext never exists on either host.
 */
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "akm/pkcs11-akm.h"

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

#define SAY(...) snprintf(err, errlen, __VA_ARGS__)

static void hex_short(const uint8_t *in, size_t len, char out[2 * AKM_FMT_ID_MAX + 1])
{
	if (len > AKM_FMT_ID_MAX)
		len = AKM_FMT_ID_MAX;
	akm_hex_encode(in, len, out);
}

static bool same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Reads a byte attribute of at most `cap` bytes into out. */
static int read_field(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, const char *what,
                      uint8_t *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	uint8_t *v;
	size_t n;
	if (akm_p11_get_bytes(p, h, type, &v, &n) != 0) {
		SAY("reading the relationship's %s: %s", what, p->err);
		return -1;
	}
	if (n > cap) {
		free(v);
		SAY("the relationship's %s is %zu bytes, more than a bundle holds (%zu)", what, n, cap);
		return -1;
	}
	if (n > 0)
		memcpy(out, v, n);
	*len = n;
	free(v);
	return 0;
}

static void destroy(akm_p11 *p, CK_OBJECT_HANDLE *h)
{
	if (*h != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(p->session, *h);
	*h = CK_INVALID_HANDLE;
}

/* ------------------------------------------------------------------ */
/* Station side                                                        */

/* The relationship's metadata from its encryption key, into b. */
static int seal_read_relationship(akm_p11 *st, const akm_seal_args *a, akm_bundle *b, CK_ULONG *seq,
                                  uint8_t node_key[65], size_t *node_key_len, char *err, size_t errlen)
{
	uint8_t station[AKM_FMT_ID_MAX];
	size_t station_len;
	if (read_field(st, a->enc_key, CKA_AKM_RELATIONSHIP_ID, "relationship ID", b->pr_id,
	               sizeof b->pr_id, &b->pr_id_len, err, errlen) != 0 ||
	    read_field(st, a->enc_key, CKA_AKM_PEER_NODE, "node AKM ID", b->node_id, sizeof b->node_id,
	               &b->node_id_len, err, errlen) != 0 ||
	    read_field(st, a->enc_key, CKA_AKM_STATION_ID, "station ID", station, sizeof station,
	               &station_len, err, errlen) != 0 ||
	    read_field(st, a->enc_key, CKA_AKM_HW_BINDING, "hardware binding", b->hw, sizeof b->hw,
	               &b->hw_len, err, errlen) != 0 ||
	    read_field(st, a->enc_key, CKA_AKM_NODE_KEY, "node key", node_key, 65, node_key_len, err,
	               errlen) != 0)
		return -1;
	if (b->pr_id_len == 0 || b->node_id_len == 0 || b->hw_len == 0) {
		SAY("the key is not a provisioning relationship's (no relationship ID, node ID or hardware binding)");
		return -1;
	}
	if (a->station_id_len == 0 || a->station_id_len > sizeof b->station_id) {
		SAY("the station ID must have 1 to %d bytes", AKM_FMT_ID_MAX);
		return -1;
	}
	if (station_len != 0 && !same_bytes(station, station_len, a->station_id, a->station_id_len)) {
		SAY("the relationship was made by another station");
		return -1;
	}
	memcpy(b->station_id, a->station_id, a->station_id_len);
	b->station_id_len = a->station_id_len;

	if (akm_p11_get_ulong(st, a->enc_key, CKA_AKM_SEQUENCE, seq) != 0) {
		SAY("reading the relationship's sequence number: %s", st->err);
		return -1;
	}

	uint8_t *label;
	size_t label_len;
	if (akm_p11_get_bytes(st, a->enc_key, CKA_LABEL, &label, &label_len) != 0) {
		SAY("reading the relationship's label: %s", st->err);
		return -1;
	}
	int rc = 0;
	if (label_len < 5 || memcmp(label + label_len - 4, "/enc", 4) != 0 ||
	    label_len - 4 > AKM_FMT_NAME_MAX) {
		SAY("the key's label is not \"<node name>/enc\"");
		rc = -1;
	} else {
		memcpy(b->name, label, label_len - 4);
		b->name[label_len - 4] = '\0';
	}
	free(label);
	return rc;
}

static int wrap_one(akm_p11 *st, CK_OBJECT_HANDLE tkey, CK_OBJECT_HANDLE key, const char *what,
                    uint8_t *out, size_t *out_len, char *err, size_t errlen)
{
	CK_MECHANISM mech = { CKM_AKM_EXPORT_WRAP, NULL, 0 };
	CK_ULONG len = AKM_FMT_WRAPPED_MAX;
	CK_RV rv = st->f->C_WrapKey(st->session, &mech, tkey, key, out, &len);
	if (rv != CKR_OK) {
		akm_p11_fail(st, "C_WrapKey", rv, what);
		if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
			SAY("%s (the relationship is not active)", st->err);
		else
			SAY("%s", st->err);
		return -1;
	}
	*out_len = len;
	return 0;
}

int akm_transfer_seal(akm_p11 *station, const akm_seal_args *a, uint8_t *buf, size_t *len,
                      char *err, size_t errlen)
{
	akm_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		SAY("out of memory");
		return -1;
	}
	CK_OBJECT_HANDLE eph_pub = CK_INVALID_HANDLE, eph_priv = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE tkey = CK_INVALID_HANDLE;
	akm_secret sub = { 0 };
	int rc = -1;
	CK_ULONG seq = 0;
	uint8_t node_key[65];
	size_t node_key_len = 0;

	if (a->protection != AKM_BUNDLE_NODE_KEY && a->protection != AKM_BUNDLE_PASSPHRASE) {
		SAY("unknown bundle protection %u", a->protection);
		goto out;
	}
	if (a->protection == AKM_BUNDLE_NODE_KEY && a->node_point == NULL) {
		SAY("node-key protection needs the node's public key");
		goto out;
	}
	if (a->protection == AKM_BUNDLE_PASSPHRASE && (a->master == NULL || a->salt == NULL)) {
		SAY("passphrase protection needs the batch key and salt");
		goto out;
	}
	b->protection = a->protection;
	if (seal_read_relationship(station, a, b, &seq, node_key, &node_key_len, err, errlen) != 0)
		goto out;
	if (a->protection == AKM_BUNDLE_NODE_KEY && node_key_len != 0 &&
	    (node_key_len != 65 || memcmp(node_key, a->node_point, 65) != 0)) {
		SAY("the node key given is not the one recorded for node %s", b->name);
		goto out;
	}

	/* A fresh sequence number for every bundle, taken before anything is
	 * wrapped: a number is never used twice, even if this export fails. */
	CK_ULONG next = seq + 1;
	CK_ATTRIBUTE set = { CKA_AKM_SEQUENCE, &next, sizeof next };
	CK_RV rv = station->f->C_SetAttributeValue(station->session, a->enc_key, &set, 1);
	if (rv != CKR_OK) {
		akm_p11_fail(station, "C_SetAttributeValue", rv, "CKA_AKM_SEQUENCE");
		SAY("%s", station->err);
		goto out;
	}
	b->seq = next;
	b->created = (uint64_t)time(NULL);

	if (a->protection == AKM_BUNDLE_NODE_KEY) {
		crypto_hash_sha256(b->node_key_hash, a->node_point, 65);
		if (akm_p11_ec_generate(station, false, NULL, NULL, 0, &eph_pub, &eph_priv) != 0 ||
		    akm_p11_ec_point(station, eph_pub, b->eph_point) != 0 ||
		    akm_p11_ecdh_aes(station, eph_priv, a->node_point, &tkey) != 0) {
			SAY("making the transport key: %s", station->err);
			goto out;
		}
	} else {
		b->opslimit = a->opslimit;
		b->memlimit_kib = a->memlimit_kib;
		memcpy(b->salt, a->salt, AKM_FMT_SALT_LEN);
		randombytes_buf(b->nonce, sizeof b->nonce);
		if (akm_pass_subkeys(&sub, a->master, b->pr_id, b->pr_id_len, b->seq) != 0) {
			SAY("deriving the bundle keys failed");
			goto out;
		}
		if (akm_p11_aes_from_value(station, (const uint8_t *)sub.data, &tkey) != 0) {
			SAY("making the transport key: %s", station->err);
			goto out;
		}
	}

	if (wrap_one(station, tkey, a->enc_key, "encryption key", b->enc_wrapped, &b->enc_wrapped_len,
	             err, errlen) != 0 ||
	    wrap_one(station, tkey, a->mac_key, "MAC key", b->mac_wrapped, &b->mac_wrapped_len, err,
	             errlen) != 0)
		goto out;

	akm_fmt_rc frc;
	size_t signed_len;
	if (a->protection == AKM_BUNDLE_PASSPHRASE) {
		uint8_t inner[2 + 2 * AKM_FMT_WRAPPED_MAX];
		size_t inner_len;
		if ((frc = akm_bundle_inner_encode(b, inner, sizeof inner, &inner_len)) != AKM_FMT_OK) {
			SAY("encoding the bundle payload: %s", akm_fmt_strerror(frc));
			goto out;
		}
		/* The authenticated data is a prefix of the signed part that ends
		 * before the payload: encode once with a placeholder payload of the
		 * right length to get those bytes. */
		b->sealed_len = inner_len + AKM_FMT_TAG_LEN;
		if ((frc = akm_bundle_encode_signed(b, buf, AKM_FMT_BUNDLE_MAX, &signed_len)) != AKM_FMT_OK) {
			SAY("encoding the bundle: %s", akm_fmt_strerror(frc));
			goto out;
		}
		size_t ad_len = akm_bundle_ad_len(b);
		unsigned long long clen = 0;
		crypto_aead_xchacha20poly1305_ietf_encrypt(b->sealed, &clen, inner, inner_len, buf, ad_len,
		                                           NULL, b->nonce,
		                                           (const unsigned char *)sub.data + 32);
		b->sealed_len = (size_t)clen;
	}
	if ((frc = akm_bundle_encode_signed(b, buf, AKM_FMT_BUNDLE_MAX, &signed_len)) != AKM_FMT_OK) {
		SAY("encoding the bundle: %s", akm_fmt_strerror(frc));
		goto out;
	}
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, signed_len);
	if (akm_p11_sign_digest(station, a->station_priv, digest, b->sig) != 0) {
		SAY("signing the bundle: %s", station->err);
		goto out;
	}
	if ((frc = akm_bundle_finish(b, buf, AKM_FMT_BUNDLE_MAX, len)) != AKM_FMT_OK) {
		SAY("encoding the bundle: %s", akm_fmt_strerror(frc));
		goto out;
	}
	rc = 0;
out:
	destroy(station, &tkey);
	destroy(station, &eph_priv);
	destroy(station, &eph_pub);
	akm_secret_free(&sub);
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Node side                                                           */

static int find_one(akm_p11 *p, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *h, bool *found)
{
	CK_OBJECT_HANDLE hs[2];
	size_t count;
	if (akm_p11_find(p, t, n, hs, 2, &count) != 0)
		return -1;
	*found = count > 0;
	if (count > 0)
		*h = hs[0];
	return 0;
}

int akm_node_identity(akm_p11 *node, bool create, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv,
                      uint8_t point[65])
{
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE pt[] = {
		{ CKA_CLASS, &pub_cls, sizeof pub_cls },
		{ CKA_ID, (void *)AKM_NODE_IDENTITY_ID, sizeof AKM_NODE_IDENTITY_ID - 1 },
	};
	CK_ATTRIBUTE vt[] = {
		{ CKA_CLASS, &priv_cls, sizeof priv_cls },
		{ CKA_ID, (void *)AKM_NODE_IDENTITY_ID, sizeof AKM_NODE_IDENTITY_ID - 1 },
	};
	bool have_pub, have_priv;
	if (find_one(node, pt, 2, pub, &have_pub) != 0 || find_one(node, vt, 2, priv, &have_priv) != 0)
		return -1;
	if (have_pub != have_priv) {
		snprintf(node->err, sizeof node->err,
		         "the node identity key pair is incomplete (only its %s key is in the token)",
		         have_pub ? "public" : "private");
		return -1;
	}
	if (!have_pub) {
		if (!create) {
			snprintf(node->err, sizeof node->err, "this node has no identity key yet");
			return 1;
		}
		if (akm_p11_ec_generate(node, true, AKM_NODE_IDENTITY_LABEL,
		                        (const uint8_t *)AKM_NODE_IDENTITY_ID,
		                        sizeof AKM_NODE_IDENTITY_ID - 1, pub, priv) != 0)
			return -1;
	}
	return akm_p11_ec_point(node, *pub, point);
}

/* The pinned anchor, if any: handle, station ID and point. */
static int anchor_read(akm_p11 *node, bool *found, CK_OBJECT_HANDLE *h, uint8_t *id, size_t *id_len,
                       uint8_t point[65])
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)AKM_NODE_ANCHOR_LABEL, sizeof AKM_NODE_ANCHOR_LABEL - 1 },
	};
	if (find_one(node, t, 2, h, found) != 0)
		return -1;
	if (!*found)
		return 0;
	uint8_t *v;
	size_t n;
	if (akm_p11_get_bytes(node, *h, CKA_ID, &v, &n) != 0)
		return -1;
	if (n == 0 || n > AKM_FMT_ID_MAX) {
		free(v);
		snprintf(node->err, sizeof node->err, "the pinned station anchor has no valid station ID");
		return -1;
	}
	memcpy(id, v, n);
	*id_len = n;
	free(v);
	return akm_p11_ec_point(node, *h, point);
}

int akm_node_trust(akm_p11 *node, const akm_anchor *anchor, char *err, size_t errlen)
{
	bool found;
	CK_OBJECT_HANDLE h;
	uint8_t id[AKM_FMT_ID_MAX], point[65];
	size_t id_len = 0;
	if (anchor_read(node, &found, &h, id, &id_len, point) != 0) {
		SAY("reading the pinned station anchor: %s", node->err);
		return -2;
	}
	if (found) {
		if (same_bytes(id, id_len, anchor->station_id, anchor->station_id_len) &&
		    memcmp(point, anchor->point, 65) == 0)
			return 0;
		char hex[2 * AKM_FMT_ID_MAX + 1];
		hex_short(id, id_len, hex);
		SAY("this node already trusts another station (%s); it does not replace a pinned anchor", hex);
		return -1;
	}
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	uint8_t der[67] = { 0x04, 65 };
	memcpy(der + 2, anchor->point, 65);
	/* Private, so only the PIN holder can replace or remove it. */
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &ck_true, sizeof ck_true },
		{ CKA_PRIVATE, &ck_true, sizeof ck_true },
		{ CKA_VERIFY, &ck_true, sizeof ck_true },
		{ CKA_ENCRYPT, &ck_false, sizeof ck_false },
		{ CKA_WRAP, &ck_false, sizeof ck_false },
		{ CKA_MODIFIABLE, &ck_false, sizeof ck_false },
		{ CKA_LABEL, (void *)AKM_NODE_ANCHOR_LABEL, sizeof AKM_NODE_ANCHOR_LABEL - 1 },
		{ CKA_ID, (void *)anchor->station_id, (CK_ULONG)anchor->station_id_len },
		{ CKA_EC_PARAMS, (void *)akm_p11_p256_params, sizeof akm_p11_p256_params },
		{ CKA_EC_POINT, der, sizeof der },
	};
	CK_RV rv = node->f->C_CreateObject(node->session, t, sizeof t / sizeof t[0], &h);
	if (rv != CKR_OK) {
		akm_p11_fail(node, "C_CreateObject", rv, "station anchor");
		SAY("pinning the station anchor: %s", node->err);
		return -2;
	}
	return 0;
}

/* Every node state object (CKO_DATA of application "akm-node"). */
static int state_objects(akm_p11 *node, CK_OBJECT_HANDLE *hs, size_t max, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_APPLICATION, (void *)AKM_NODE_APPLICATION, sizeof AKM_NODE_APPLICATION - 1 },
		{ CKA_LABEL, (void *)AKM_NODE_STATE_LABEL, sizeof AKM_NODE_STATE_LABEL - 1 },
	};
	return akm_p11_find(node, t, 3, hs, max, n);
}

#define STATE_OBJECTS_MAX 8

int akm_node_state_read(akm_p11 *node, akm_node_state *state, CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_HANDLE hs[STATE_OBJECTS_MAX];
	size_t n;
	if (state_objects(node, hs, STATE_OBJECTS_MAX, &n) != 0)
		return -1;
	if (n == 0)
		return 1;
	/* Two exist only after a crash between writing the new one and
	 * removing the old one: the newer (higher sequence) is the state. */
	bool have = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t *v;
		size_t len;
		if (akm_p11_get_bytes(node, hs[i], CKA_VALUE, &v, &len) != 0)
			return -1;
		akm_node_state s;
		akm_fmt_rc frc = akm_node_state_parse(v, len, &s);
		free(v);
		if (frc != AKM_FMT_OK)
			continue;
		if (!have || s.seq > state->seq) {
			*state = s;
			if (obj != NULL)
				*obj = hs[i];
			have = true;
		}
	}
	if (!have) {
		snprintf(node->err, sizeof node->err, "the node state in the token is damaged");
		return -1;
	}
	return 0;
}

/* CKA_ID of a PR key in the node: PR ID || purpose byte. */
static size_t key_id(const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose, uint8_t out[AKM_FMT_ID_MAX + 1])
{
	memcpy(out, pr_id, pr_len);
	out[pr_len] = (uint8_t)purpose;
	return pr_len + 1;
}

static int find_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose,
                     CK_OBJECT_HANDLE *hs, size_t max, size_t *n)
{
	uint8_t id[AKM_FMT_ID_MAX + 1];
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_ID, id, (CK_ULONG)key_id(pr_id, pr_len, purpose, id) },
	};
	return akm_p11_find(node, t, 2, hs, max, n);
}

#define KEYS_MAX 8

static void destroy_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len)
{
	for (CK_ULONG purpose = CKV_AKM_PURPOSE_ENCRYPT; purpose <= CKV_AKM_PURPOSE_MAC; purpose++) {
		CK_OBJECT_HANDLE hs[KEYS_MAX];
		size_t n;
		if (find_keys(node, pr_id, pr_len, purpose, hs, KEYS_MAX, &n) == 0)
			for (size_t i = 0; i < n; i++)
				node->f->C_DestroyObject(node->session, hs[i]);
	}
}

static CK_RV unwrap_one(akm_p11 *node, CK_OBJECT_HANDLE tkey, const akm_bundle *b, CK_ULONG purpose,
                        CK_OBJECT_HANDLE *out)
{
	uint8_t id[AKM_FMT_ID_MAX + 1];
	size_t id_len = key_id(b->pr_id, b->pr_id_len, purpose, id);
	char label[AKM_FMT_NAME_MAX + 5];
	snprintf(label, sizeof label, "%s/%s", b->name, purpose == CKV_AKM_PURPOSE_ENCRYPT ? "enc" : "mac");
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = purpose == CKV_AKM_PURPOSE_ENCRYPT ? CKK_AES : CKK_GENERIC_SECRET;
	bool enc = purpose == CKV_AKM_PURPOSE_ENCRYPT;
	CK_BBOOL *e = enc ? &ck_true : &ck_false, *m = enc ? &ck_false : &ck_true;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &ck_true, sizeof ck_true },
		{ CKA_PRIVATE, &ck_true, sizeof ck_true },
		{ CKA_SENSITIVE, &ck_true, sizeof ck_true },
		{ CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
		{ CKA_ENCRYPT, e, sizeof ck_true },
		{ CKA_DECRYPT, e, sizeof ck_true },
		{ CKA_WRAP, e, sizeof ck_true },
		{ CKA_UNWRAP, e, sizeof ck_true },
		{ CKA_SIGN, m, sizeof ck_true },
		{ CKA_VERIFY, m, sizeof ck_true },
		{ CKA_ID, id, (CK_ULONG)id_len },
		{ CKA_LABEL, label, (CK_ULONG)strlen(label) },
	};
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	const uint8_t *blob = enc ? b->enc_wrapped : b->mac_wrapped;
	size_t blob_len = enc ? b->enc_wrapped_len : b->mac_wrapped_len;
	CK_RV rv = node->f->C_UnwrapKey(node->session, &mech, tkey, (CK_BYTE_PTR)blob, (CK_ULONG)blob_len,
	                                t, sizeof t / sizeof t[0], out);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG value_len = 0;
	CK_ATTRIBUTE vl = { CKA_VALUE_LEN, &value_len, sizeof value_len };
	/* 0: not known (SoftHSM2 does not set it on unwrapped keys). */
	if (node->f->C_GetAttributeValue(node->session, *out, &vl, 1) == CKR_OK && value_len != 0 &&
	    value_len != 32) {
		node->f->C_DestroyObject(node->session, *out);
		*out = CK_INVALID_HANDLE;
		return CKR_WRAPPED_KEY_LEN_RANGE;
	}
	return CKR_OK;
}

static int write_state(akm_p11 *node, const akm_node_state *s, CK_OBJECT_HANDLE *h)
{
	uint8_t buf[512];
	size_t len;
	if (akm_node_state_encode(s, buf, sizeof buf, &len) != AKM_FMT_OK) {
		snprintf(node->err, sizeof node->err, "the node state does not encode");
		return -1;
	}
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_TOKEN, &ck_true, sizeof ck_true },
		{ CKA_PRIVATE, &ck_true, sizeof ck_true },
		{ CKA_APPLICATION, (void *)AKM_NODE_APPLICATION, sizeof AKM_NODE_APPLICATION - 1 },
		{ CKA_LABEL, (void *)AKM_NODE_STATE_LABEL, sizeof AKM_NODE_STATE_LABEL - 1 },
		{ CKA_VALUE, buf, (CK_ULONG)len },
	};
	CK_RV rv = node->f->C_CreateObject(node->session, t, sizeof t / sizeof t[0], h);
	if (rv != CKR_OK)
		return akm_p11_fail(node, "C_CreateObject", rv, "node state");
	return 0;
}

/* The transport key on the node side: ECDH with the identity key, or the
 * passphrase (which also opens the sealed payload into b). */
static akm_open_rc open_transport(akm_p11 *node, const uint8_t *buf, akm_bundle *b,
                                  const akm_open_args *args, CK_OBJECT_HANDLE *tkey, char *err,
                                  size_t errlen)
{
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		CK_OBJECT_HANDLE pub, priv;
		uint8_t point[65], hash[32];
		int irc = akm_node_identity(node, false, &pub, &priv, point);
		if (irc == 1) {
			SAY("the bundle is sealed to a node key, and this node has none");
			return AKM_OPEN_WRONG_NODE;
		}
		if (irc != 0) {
			SAY("reading the node identity key: %s", node->err);
			return AKM_OPEN_TOKEN_ERROR;
		}
		crypto_hash_sha256(hash, point, 65);
		if (sodium_memcmp(hash, b->node_key_hash, 32) != 0) {
			SAY("the bundle is sealed to another node's key");
			return AKM_OPEN_WRONG_NODE;
		}
		if (akm_p11_ecdh_aes(node, priv, b->eph_point, tkey) != 0) {
			SAY("deriving the transport key: %s", node->err);
			return AKM_OPEN_TOKEN_ERROR;
		}
		return AKM_OPEN_OK;
	}

	if (args->passphrase == NULL) {
		SAY("the bundle is protected by a passphrase, and none was given");
		return AKM_OPEN_BAD_PASSPHRASE;
	}
	akm_secret master = { 0 }, sub = { 0 };
	akm_open_rc rc = AKM_OPEN_TOKEN_ERROR;
	if (akm_pass_master(&master, args->passphrase, b->salt, b->opslimit, b->memlimit_kib) != 0 ||
	    akm_pass_subkeys(&sub, &master, b->pr_id, b->pr_id_len, b->seq) != 0) {
		SAY("deriving the key from the passphrase failed (out of memory for Argon2id?)");
		goto out;
	}
	uint8_t inner[sizeof b->sealed];
	unsigned long long inner_len = 0;
	if (b->sealed_len < AKM_FMT_TAG_LEN ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &inner_len, NULL, b->sealed, b->sealed_len,
	                                               buf, akm_bundle_ad_len(b), b->nonce,
	                                               (const unsigned char *)sub.data + 32) != 0) {
		SAY("the passphrase does not open this bundle");
		rc = AKM_OPEN_BAD_PASSPHRASE;
		goto out;
	}
	akm_fmt_rc frc = akm_bundle_inner_parse(inner, (size_t)inner_len, b);
	if (frc != AKM_FMT_OK) {
		SAY("the bundle's sealed payload is malformed: %s", akm_fmt_strerror(frc));
		rc = AKM_OPEN_MALFORMED;
		goto out;
	}
	if (akm_p11_aes_from_value(node, (const uint8_t *)sub.data, tkey) != 0) {
		SAY("making the transport key: %s", node->err);
		goto out;
	}
	rc = AKM_OPEN_OK;
out:
	akm_secret_free(&sub);
	akm_secret_free(&master);
	return rc;
}

akm_open_rc akm_transfer_open(akm_p11 *node, const uint8_t *buf, size_t len,
                              const akm_open_args *args, akm_node_state *state,
                              char *err, size_t errlen)
{
	akm_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		SAY("out of memory");
		return AKM_OPEN_TOKEN_ERROR;
	}
	akm_open_rc rc = AKM_OPEN_TOKEN_ERROR;
	CK_OBJECT_HANDLE tkey = CK_INVALID_HANDLE, enc = CK_INVALID_HANDLE, mac = CK_INVALID_HANDLE;
	char hex[2 * AKM_FMT_ID_MAX + 1];

	size_t signed_len;
	akm_fmt_rc frc = akm_bundle_parse(buf, len, b, &signed_len);
	if (frc != AKM_FMT_OK) {
		SAY("not a valid bundle: %s", akm_fmt_strerror(frc));
		rc = AKM_OPEN_MALFORMED;
		goto out;
	}

	/* 1. Who made it: the pinned station, and its signature (checked
	 *    before anything costly, such as Argon2id). */
	bool found;
	CK_OBJECT_HANDLE anchor;
	uint8_t station_id[AKM_FMT_ID_MAX], station_point[65];
	size_t station_id_len = 0;
	if (anchor_read(node, &found, &anchor, station_id, &station_id_len, station_point) != 0) {
		SAY("reading the pinned station anchor: %s", node->err);
		goto out;
	}
	if (!found) {
		SAY("no trusted station: pin the station's anchor first (akm-node trust)");
		rc = AKM_OPEN_UNTRUSTED;
		goto out;
	}
	if (!same_bytes(station_id, station_id_len, b->station_id, b->station_id_len)) {
		hex_short(b->station_id, b->station_id_len, hex);
		SAY("the bundle comes from station %s, which this node does not trust", hex);
		rc = AKM_OPEN_UNTRUSTED;
		goto out;
	}
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, signed_len);
	int vrc = akm_p11_verify_digest(node, station_point, digest, b->sig);
	if (vrc < 0) {
		SAY("checking the station's signature: %s", node->err);
		goto out;
	}
	if (vrc != 0) {
		SAY("the station's signature does not verify (forged or damaged bundle)");
		rc = AKM_OPEN_UNTRUSTED;
		goto out;
	}

	/* 2. For whom: this node's hardware value. */
	if (args->hw == NULL || !same_bytes((const uint8_t *)args->hw, strlen(args->hw), b->hw, b->hw_len)) {
		SAY("the bundle is bound to another node's hardware value (node %s)", b->name);
		rc = AKM_OPEN_WRONG_NODE;
		goto out;
	}

	/* 3. Fresh: newer than what this node accepted. */
	akm_node_state old;
	CK_OBJECT_HANDLE old_obj = CK_INVALID_HANDLE;
	int src = akm_node_state_read(node, &old, &old_obj);
	if (src < 0) {
		SAY("reading the node state: %s", node->err);
		goto out;
	}
	bool have_old = src == 0;
	if (have_old) {
		if (!same_bytes(old.station_id, old.station_id_len, b->station_id, b->station_id_len)) {
			SAY("this node was provisioned by another station");
			rc = AKM_OPEN_UNTRUSTED;
			goto out;
		}
		if (!same_bytes(old.node_id, old.node_id_len, b->node_id, b->node_id_len)) {
			hex_short(b->node_id, b->node_id_len, hex);
			SAY("the bundle is for node AKM ID %s, not this node's", hex);
			rc = AKM_OPEN_WRONG_NODE;
			goto out;
		}
		if (b->seq == old.seq) {
			SAY("this bundle (sequence %llu) was already imported", (unsigned long long)b->seq);
			rc = AKM_OPEN_REPLAY;
			goto out;
		}
		if (b->seq < old.seq) {
			SAY("the bundle (sequence %llu) is older than the one imported last (sequence %llu)",
			    (unsigned long long)b->seq, (unsigned long long)old.seq);
			rc = AKM_OPEN_REPLAY;
			goto out;
		}
	}

	/* 4. The transport key (ECDH or passphrase). */
	rc = open_transport(node, buf, b, args, &tkey, err, errlen);
	if (rc != AKM_OPEN_OK)
		goto out;
	rc = AKM_OPEN_TOKEN_ERROR;

	/* 5. Into the token, crash-safe: both new keys, then the new state, and
	 *    only then what they replace (keys with the same IDs, the old state,
	 *    the previous PR's keys).  Until the new state exists, a failure
	 *    removes the new keys and leaves the token as it was. */
	CK_OBJECT_HANDLE left_enc[KEYS_MAX], left_mac[KEYS_MAX];
	size_t n_enc = 0, n_mac = 0;
	if (find_keys(node, b->pr_id, b->pr_id_len, CKV_AKM_PURPOSE_ENCRYPT, left_enc, KEYS_MAX, &n_enc) != 0 ||
	    find_keys(node, b->pr_id, b->pr_id_len, CKV_AKM_PURPOSE_MAC, left_mac, KEYS_MAX, &n_mac) != 0) {
		SAY("looking for earlier keys: %s", node->err);
		goto out;
	}
	CK_RV rv = unwrap_one(node, tkey, b, CKV_AKM_PURPOSE_ENCRYPT, &enc);
	if (rv == CKR_OK)
		rv = unwrap_one(node, tkey, b, CKV_AKM_PURPOSE_MAC, &mac);
	if (rv != CKR_OK) {
		akm_p11_fail(node, "C_UnwrapKey", rv, "CKM_AES_KEY_WRAP_PAD");
		if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
			SAY("the keys in the bundle do not unwrap with this node's transport key (%s)", node->err);
			rc = AKM_OPEN_WRONG_NODE;
		} else {
			SAY("%s", node->err);
		}
		goto out;
	}
	akm_node_state s;
	memset(&s, 0, sizeof s);
	memcpy(s.station_id, b->station_id, b->station_id_len);
	s.station_id_len = b->station_id_len;
	memcpy(s.node_id, b->node_id, b->node_id_len);
	s.node_id_len = b->node_id_len;
	memcpy(s.pr_id, b->pr_id, b->pr_id_len);
	s.pr_id_len = b->pr_id_len;
	memcpy(s.hw, b->hw, b->hw_len);
	s.hw_len = b->hw_len;
	memcpy(s.name, b->name, sizeof s.name);
	s.seq = b->seq;
	s.imported = (uint64_t)time(NULL);
	if (args->file_hash != NULL)
		memcpy(s.bundle_hash, args->file_hash, 32);
	else
		crypto_hash_sha256(s.bundle_hash, buf, len);
	CK_OBJECT_HANDLE new_state;
	if (write_state(node, &s, &new_state) != 0) {
		SAY("recording the node state: %s", node->err);
		goto out; /* the new keys go again; the old ones are untouched */
	}
	enc = mac = CK_INVALID_HANDLE; /* kept */
	/* Keys with the same IDs from before (this PR imported earlier, or an
	 * interrupted import): the same relationship's keys, now replaced. */
	for (size_t i = 0; i < n_enc; i++)
		node->f->C_DestroyObject(node->session, left_enc[i]);
	for (size_t i = 0; i < n_mac; i++)
		node->f->C_DestroyObject(node->session, left_mac[i]);

	/* Every older state object (normally one). */
	CK_OBJECT_HANDLE states[STATE_OBJECTS_MAX];
	size_t n_states = 0;
	if (state_objects(node, states, STATE_OBJECTS_MAX, &n_states) == 0)
		for (size_t i = 0; i < n_states; i++)
			if (states[i] != new_state)
				node->f->C_DestroyObject(node->session, states[i]);
	if (have_old && !same_bytes(old.pr_id, old.pr_id_len, b->pr_id, b->pr_id_len))
		destroy_keys(node, old.pr_id, old.pr_id_len);
	if (state != NULL)
		*state = s;
	rc = AKM_OPEN_OK;
out:
	destroy(node, &mac);
	destroy(node, &enc);
	destroy(node, &tkey);
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

int akm_node_prove(akm_p11 *node, const akm_node_state *state, const uint8_t challenge[32],
                   uint8_t mac[32])
{
	CK_OBJECT_HANDLE hs[2];
	size_t n;
	if (find_keys(node, state->pr_id, state->pr_id_len, CKV_AKM_PURPOSE_MAC, hs, 2, &n) != 0)
		return -1;
	if (n == 0) {
		snprintf(node->err, sizeof node->err, "the node has no MAC key for its PR");
		return -1;
	}
	static const char tag[] = "AKM-VERIFY-1";
	uint8_t msg[sizeof tag - 1 + 1 + AKM_FMT_ID_MAX + 1 + AKM_FMT_ID_MAX + 32];
	size_t m = 0;
	memcpy(msg, tag, sizeof tag - 1);
	m += sizeof tag - 1;
	msg[m++] = (uint8_t)state->node_id_len;
	memcpy(msg + m, state->node_id, state->node_id_len);
	m += state->node_id_len;
	msg[m++] = (uint8_t)state->pr_id_len;
	memcpy(msg + m, state->pr_id, state->pr_id_len);
	m += state->pr_id_len;
	memcpy(msg + m, challenge, 32);
	m += 32;
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv = node->f->C_SignInit(node->session, &mech, hs[0]);
	if (rv != CKR_OK)
		return akm_p11_fail(node, "C_SignInit", rv, "CKM_SHA256_HMAC");
	CK_ULONG len = 32;
	rv = node->f->C_Sign(node->session, msg, (CK_ULONG)m, mac, &len);
	if (rv != CKR_OK)
		return akm_p11_fail(node, "C_Sign", rv, "CKM_SHA256_HMAC");
	if (len != 32) {
		snprintf(node->err, sizeof node->err, "C_Sign (CKM_SHA256_HMAC): the MAC is not 32 bytes");
		return -1;
	}
	return 0;
}

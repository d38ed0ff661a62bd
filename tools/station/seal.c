/*
 * One node's bundle (station.h, nmm_seal; docs/formats.md "USB bundle"):
 * the PR's keys leave the station's token only wrapped, by one
 * CKM_AKM_EXPORT_WRAP under a transport key the module makes in the token
 * (ECDH with the node key it has recorded, or from the passphrase-derived
 * key-wrap key), so their plaintext never exists on this host; the bundle
 * is signed by the station's key.
 */
#include "station/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "shared/bytes.h"

static int read_field(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, const char *what,
                      uint8_t *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	uint8_t *v;
	size_t n;
	if (akm_p11_get_bytes(p, h, type, &v, &n) != 0) {
		snprintf(err, errlen, "reading the relationship's %s: %s", what, p->err);
		return -1;
	}
	if (n > cap) {
		free(v);
		snprintf(err, errlen, "the relationship's %s is %zu bytes, more than a bundle holds (%zu)", what, n, cap);
		return -1;
	}
	if (n > 0)
		memcpy(out, v, n);
	*len = n;
	free(v);
	return 0;
}

/* The relationship's metadata from its encryption key, into b. */
static int seal_read_relationship(akm_p11 *st, const nmm_seal_args *a, akm_bundle *b, CK_ULONG *seq,
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
		snprintf(err, errlen, "the key is not a provisioning relationship's (no relationship ID, node ID or hardware binding)");
		return -1;
	}
	if (a->station_id_len == 0 || a->station_id_len > sizeof b->station_id) {
		snprintf(err, errlen, "the station ID must have 1 to %d bytes", AKM_FMT_ID_MAX);
		return -1;
	}
	if (station_len != 0 && !akm_bytes_equal(station, station_len, a->station_id, a->station_id_len)) {
		snprintf(err, errlen, "the relationship was made by another station");
		return -1;
	}
	memcpy(b->station_id, a->station_id, a->station_id_len);
	b->station_id_len = a->station_id_len;

	if (akm_p11_get_ulong(st, a->enc_key, CKA_AKM_SEQUENCE, seq) != 0) {
		snprintf(err, errlen, "reading the relationship's sequence number: %s", st->err);
		return -1;
	}

	uint8_t *label;
	size_t label_len;
	if (akm_p11_get_bytes(st, a->enc_key, CKA_LABEL, &label, &label_len) != 0) {
		snprintf(err, errlen, "reading the relationship's label: %s", st->err);
		return -1;
	}
	int rc = 0;
	if (label_len < 5 || memcmp(label + label_len - 4, "/enc", 4) != 0 ||
	    label_len - 4 > AKM_FMT_NAME_MAX) {
		snprintf(err, errlen, "the key's label is not \"<node name>/enc\"");
		rc = -1;
	} else {
		memcpy(b->name, label, label_len - 4);
		b->name[label_len - 4] = '\0';
	}
	free(label);
	return rc;
}

/* Both keys of the relationship in one CKM_AKM_EXPORT_WRAP: the module
 * makes the transport key in its token (ECDH with the node key it has
 * recorded, or from the passphrase-derived key-wrap key in `kwp_key`); the
 * encryption key's wrapping comes first, then the MAC key's.  In node-key
 * mode eph receives the module's ephemeral point. */
static int export_keys(akm_p11 *st, CK_OBJECT_HANDLE enc_key, const uint8_t *kwp_key, uint8_t eph[65],
                       akm_bundle *b, char *err, size_t errlen)
{
	CK_AKM_EXPORT_WRAP_PARAMS p;
	if (kwp_key != NULL)
		p = (CK_AKM_EXPORT_WRAP_PARAMS){CKV_AKM_EXPORT_PASSPHRASE, (CK_BYTE_PTR)kwp_key, AKM_EXPORT_KEY_LEN, NULL, 0};
	else
		p = (CK_AKM_EXPORT_WRAP_PARAMS){CKV_AKM_EXPORT_NODE_KEY, NULL, 0, eph, AKM_EXPORT_POINT_LEN};
	CK_MECHANISM mech = {CKM_AKM_EXPORT_WRAP, &p, sizeof p};
	uint8_t out[AKM_EXPORT_WRAPPED_LEN];
	CK_ULONG len = sizeof out;
	CK_RV rv = st->f->C_WrapKey(st->session, &mech, CK_INVALID_HANDLE, enc_key, out, &len);
	if (rv != CKR_OK) {
		akm_p11_fail(st, "C_WrapKey", rv, "CKM_AKM_EXPORT_WRAP");
		if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
			snprintf(err, errlen, "%s (the relationship is not active, or not made for this delivery)", st->err);
		else
			snprintf(err, errlen, "%s", st->err);
		return -1;
	}
	if (len != AKM_EXPORT_WRAPPED_LEN || (kwp_key == NULL && (p.ulPublicDataLen != 65 || eph[0] != 0x04))) {
		snprintf(err, errlen, "C_WrapKey (CKM_AKM_EXPORT_WRAP): an answer of %lu bytes is not two wrapped keys",
		         (unsigned long)len);
		return -1;
	}
	memcpy(b->enc_wrapped, out, len / 2);
	b->enc_wrapped_len = len / 2;
	memcpy(b->mac_wrapped, out + len / 2, len / 2);
	b->mac_wrapped_len = len / 2;
	return 0;
}

int nmm_seal(akm_p11 *station, const nmm_seal_args *a, uint8_t *buf, size_t *len,
                      char *err, size_t errlen)
{
	akm_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	akm_secret sub = { 0 };
	int rc = -1;
	CK_ULONG seq = 0;
	uint8_t node_key[65];
	size_t node_key_len = 0;

	if (a->protection != AKM_BUNDLE_NODE_KEY && a->protection != AKM_BUNDLE_PASSPHRASE) {
		snprintf(err, errlen, "unknown bundle protection %u", a->protection);
		goto out;
	}
	if (a->protection == AKM_BUNDLE_PASSPHRASE && (a->master == NULL || a->salt == NULL)) {
		snprintf(err, errlen, "passphrase protection needs the batch key and salt");
		goto out;
	}
	b->protection = a->protection;
	if (seal_read_relationship(station, a, b, &seq, node_key, &node_key_len, err, errlen) != 0)
		goto out;
	/* The module wraps to the node key it has recorded, never to one given
	 * here: it must be there, and be the one the caller expects. */
	if (a->protection == AKM_BUNDLE_NODE_KEY && node_key_len != 65) {
		snprintf(err, errlen, "no node key is recorded for node %s", b->name);
		goto out;
	}
	if (a->protection == AKM_BUNDLE_NODE_KEY && a->node_point != NULL && memcmp(node_key, a->node_point, 65) != 0) {
		snprintf(err, errlen, "the node key given is not the one recorded for node %s", b->name);
		goto out;
	}

	/* A fresh sequence number for every bundle, taken before anything is
	 * wrapped: a number is never used twice, even if this export fails. */
	CK_ULONG next = seq + 1;
	CK_ATTRIBUTE set = { CKA_AKM_SEQUENCE, &next, sizeof next };
	CK_RV rv = station->f->C_SetAttributeValue(station->session, a->enc_key, &set, 1);
	if (rv != CKR_OK) {
		akm_p11_fail(station, "C_SetAttributeValue", rv, "CKA_AKM_SEQUENCE");
		snprintf(err, errlen, "%s", station->err);
		goto out;
	}
	b->seq = next;
	b->created = (uint64_t)time(NULL);

	if (a->protection == AKM_BUNDLE_NODE_KEY) {
		crypto_hash_sha256(b->node_key_hash, node_key, 65);
		if (export_keys(station, a->enc_key, NULL, b->eph_point, b, err, errlen) != 0)
			goto out;
	} else {
		b->opslimit = a->opslimit;
		b->memlimit_kib = a->memlimit_kib;
		memcpy(b->salt, a->salt, AKM_FMT_SALT_LEN);
		randombytes_buf(b->nonce, sizeof b->nonce);
		if (akm_pass_subkeys(&sub, a->master, b->pr_id, b->pr_id_len, b->seq) != 0) {
			snprintf(err, errlen, "deriving the bundle keys failed");
			goto out;
		}
		if (export_keys(station, a->enc_key, (const uint8_t *)sub.data, NULL, b, err, errlen) != 0)
			goto out;
	}

	akm_fmt_rc frc;
	size_t signed_len;
	if (a->protection == AKM_BUNDLE_PASSPHRASE) {
		uint8_t inner[2 + 2 * AKM_FMT_WRAPPED_MAX];
		size_t inner_len;
		if ((frc = akm_bundle_inner_encode(b, inner, sizeof inner, &inner_len)) != AKM_FMT_OK) {
			snprintf(err, errlen, "encoding the bundle payload: %s", akm_fmt_strerror(frc));
			goto out;
		}
		/* The authenticated data is a prefix of the signed part that ends
		 * before the payload: encode once with a placeholder payload of the
		 * right length to get those bytes. */
		b->sealed_len = inner_len + AKM_FMT_TAG_LEN;
		if ((frc = akm_bundle_encode_signed(b, buf, AKM_FMT_BUNDLE_MAX, &signed_len)) != AKM_FMT_OK) {
			snprintf(err, errlen, "encoding the bundle: %s", akm_fmt_strerror(frc));
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
		snprintf(err, errlen, "encoding the bundle: %s", akm_fmt_strerror(frc));
		goto out;
	}
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, signed_len);
	if (akm_p11_sign_digest(station, a->station_priv, digest, b->sig) != 0) {
		snprintf(err, errlen, "signing the bundle: %s", station->err);
		goto out;
	}
	if ((frc = akm_bundle_finish(b, buf, AKM_FMT_BUNDLE_MAX, len)) != AKM_FMT_OK) {
		snprintf(err, errlen, "encoding the bundle: %s", akm_fmt_strerror(frc));
		goto out;
	}
	rc = 0;
out:
	akm_secret_free(&sub);
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

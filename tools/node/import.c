/*
 * A bundle into the node's token (node.h, akm_node_import; docs/formats.md
 * "USB bundle" and "Node token").  The PR's keys enter the token only
 * through C_UnwrapKey, under a transport key made in the token (ECDH with
 * the identity key) or from the passphrase (in locked memory): their
 * plaintext never exists on this host.
 */
#include "node/node-keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "akm/pkcs11-akm.h"
#include "shared/bytes.h"
#include "lib/fmt-bundle.h"
#include "lib/hex.h"

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

static CK_RV unwrap_one(akm_p11 *node, CK_OBJECT_HANDLE tkey, const akm_bundle *b, CK_ULONG purpose,
                        CK_OBJECT_HANDLE *out)
{
	uint8_t id[AKM_FMT_ID_MAX + 1];
	size_t id_len = akm_node_key_id(b->pr_id, b->pr_id_len, purpose, id);
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


static akm_import_rc open_transport(akm_p11 *node, const uint8_t *buf, akm_bundle *b,
                                  const akm_import_args *args, CK_OBJECT_HANDLE *tkey, char *err,
                                  size_t errlen)
{
	if (b->protection == AKM_BUNDLE_NODE_KEY) {
		CK_OBJECT_HANDLE pub, priv;
		uint8_t point[65], hash[32];
		int irc = akm_node_identity(node, false, &pub, &priv, point);
		if (irc == 1) {
			snprintf(err, errlen, "the bundle is sealed to a node key, and this node has none");
			return AKM_IMPORT_WRONG_NODE;
		}
		if (irc != 0) {
			snprintf(err, errlen, "reading the node identity key: %s", node->err);
			return AKM_IMPORT_TOKEN_ERROR;
		}
		crypto_hash_sha256(hash, point, 65);
		if (sodium_memcmp(hash, b->node_key_hash, 32) != 0) {
			snprintf(err, errlen, "the bundle is sealed to another node's key");
			return AKM_IMPORT_WRONG_NODE;
		}
		if (akm_p11_ecdh_aes(node, priv, b->eph_point, tkey) != 0) {
			snprintf(err, errlen, "deriving the transport key: %s", node->err);
			return AKM_IMPORT_TOKEN_ERROR;
		}
		return AKM_IMPORT_OK;
	}

	if (args->passphrase == NULL) {
		snprintf(err, errlen, "the bundle is protected by a passphrase, and none was given");
		return AKM_IMPORT_BAD_PASSPHRASE;
	}
	akm_secret master = { 0 }, sub = { 0 };
	akm_import_rc rc = AKM_IMPORT_TOKEN_ERROR;
	/* The floors (secret.h): a bundle below them was not made by a
	 * station in service; nothing is derived from it. */
	if (akm_pass_check_cost(b->opslimit, b->memlimit_kib, "akm-node", err, errlen) != 0) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, ": the bundle is refused");
		return AKM_IMPORT_WEAK;
	}
	if (akm_pass_check_strength(args->passphrase, err, errlen) != 0)
		return AKM_IMPORT_BAD_PASSPHRASE;
	if (akm_pass_master(&master, args->passphrase, b->salt, b->opslimit, b->memlimit_kib) != 0 ||
	    akm_pass_subkeys(&sub, &master, b->pr_id, b->pr_id_len, b->seq) != 0) {
		snprintf(err, errlen, "deriving the key from the passphrase failed (out of memory for Argon2id?)");
		goto out;
	}
	uint8_t inner[sizeof b->sealed];
	unsigned long long inner_len = 0;
	if (b->sealed_len < AKM_FMT_TAG_LEN ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &inner_len, NULL, b->sealed, b->sealed_len,
	                                               buf, akm_bundle_ad_len(b), b->nonce,
	                                               (const unsigned char *)sub.data + 32) != 0) {
		snprintf(err, errlen, "the passphrase does not open this bundle");
		rc = AKM_IMPORT_BAD_PASSPHRASE;
		goto out;
	}
	akm_fmt_rc frc = akm_bundle_inner_parse(inner, (size_t)inner_len, b);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "the bundle's sealed payload is malformed: %s", akm_fmt_strerror(frc));
		rc = AKM_IMPORT_MALFORMED;
		goto out;
	}
	if (akm_p11_aes_from_value(node, (const uint8_t *)sub.data, tkey) != 0) {
		snprintf(err, errlen, "making the transport key: %s", node->err);
		goto out;
	}
	rc = AKM_IMPORT_OK;
out:
	akm_secret_free(&sub);
	akm_secret_free(&master);
	return rc;
}

/* Checks 1-3 of akm_node_import, without changing anything and before
 * anything costly: who made the bundle (the pinned station's signature),
 * for whom (the hardware value, the node's AKM ID), whether it is fresh
 * (sequence above the last accepted, by at most the bounded jump), and the
 * node's policy.  *b is the parsed bundle, *old the node's state when
 * *have_old. */
static akm_import_rc import_checks(akm_p11 *node, const uint8_t *buf, size_t len, const akm_import_args *args,
                                   akm_bundle *b, akm_node_state *old, bool *have_old, char *err, size_t errlen)
{
	akm_import_rc rc = AKM_IMPORT_TOKEN_ERROR;
	char hex[2 * AKM_FMT_ID_MAX + 1];
	*have_old = false;
	size_t signed_len;
	akm_fmt_rc frc = akm_bundle_parse(buf, len, b, &signed_len);
	if (frc != AKM_FMT_OK) {
		snprintf(err, errlen, "not a valid bundle: %s", akm_fmt_strerror(frc));
		rc = AKM_IMPORT_MALFORMED;
		return rc;
	}

	/* 1. Who made it: the pinned station, and its signature (checked
	 *    before anything costly, such as Argon2id). */
	bool found;
	CK_OBJECT_HANDLE anchor;
	uint8_t station_id[AKM_FMT_ID_MAX], station_point[65];
	size_t station_id_len = 0;
	if (akm_node_anchor_read(node, &found, &anchor, station_id, &station_id_len, station_point) != 0) {
		snprintf(err, errlen, "reading the pinned station anchor: %s", node->err);
		return rc;
	}
	if (!found) {
		snprintf(err, errlen, "no trusted station: pin the station's anchor first (akm-node trust)");
		rc = AKM_IMPORT_UNTRUSTED;
		return rc;
	}
	if (!akm_bytes_equal(station_id, station_id_len, b->station_id, b->station_id_len)) {
		akm_hex_encode(b->station_id, b->station_id_len, hex);
		snprintf(err, errlen, "the bundle comes from station %s, which this node does not trust", hex);
		rc = AKM_IMPORT_UNTRUSTED;
		return rc;
	}
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, signed_len);
	int vrc = akm_p11_verify_digest(node, station_point, digest, b->sig);
	if (vrc < 0) {
		snprintf(err, errlen, "checking the station's signature: %s", node->err);
		return rc;
	}
	if (vrc != 0) {
		snprintf(err, errlen, "the station's signature does not verify (forged or damaged bundle)");
		rc = AKM_IMPORT_UNTRUSTED;
		return rc;
	}

	/* 2. For whom: this node's hardware value. */
	if (args->hw == NULL || !akm_bytes_equal((const uint8_t *)args->hw, strlen(args->hw), b->hw, b->hw_len)) {
		snprintf(err, errlen, "the bundle is bound to another node's hardware value (node %s)", b->name);
		rc = AKM_IMPORT_WRONG_NODE;
		return rc;
	}

	/* 3. Fresh: newer than what this node accepted. */
	CK_OBJECT_HANDLE old_obj = CK_INVALID_HANDLE;
	int src = akm_node_state_read(node, old, &old_obj);
	if (src < 0) {
		snprintf(err, errlen, "reading the node state: %s", node->err);
		return rc;
	}
	*have_old = src == 0;
	if (*have_old) {
		if (!akm_bytes_equal(old->station_id, old->station_id_len, b->station_id, b->station_id_len)) {
			snprintf(err, errlen, "this node was provisioned by another station");
			rc = AKM_IMPORT_UNTRUSTED;
			return rc;
		}
		if (!akm_bytes_equal(old->node_id, old->node_id_len, b->node_id, b->node_id_len)) {
			akm_hex_encode(b->node_id, b->node_id_len, hex);
			snprintf(err, errlen, "the bundle is for node AKM ID %s, not this node's", hex);
			rc = AKM_IMPORT_WRONG_NODE;
			return rc;
		}
		if (b->seq == old->seq) {
			snprintf(err, errlen, "this bundle (sequence %llu) was already imported", (unsigned long long)b->seq);
			rc = AKM_IMPORT_REPLAY;
			return rc;
		}
		if (b->seq < old->seq) {
			snprintf(err, errlen, "the bundle (sequence %llu) is older than the one imported last (sequence %llu)",
			    (unsigned long long)b->seq, (unsigned long long)old->seq);
			rc = AKM_IMPORT_REPLAY;
			return rc;
		}
		/* A bounded jump: a bundle far ahead (say 2^64-1, signed by a
		 * station in error or by a stolen key) would refuse every later
		 * genuine one. */
		uint64_t max_jump = args->max_seq_jump ? args->max_seq_jump : AKM_NODE_SEQ_JUMP_MAX;
		if (b->seq - old->seq > max_jump) {
			snprintf(err, errlen,
			         "the bundle's sequence %llu is more than %llu above the one imported last (%llu): refused, "
			         "so that it cannot shut out later bundles",
			         (unsigned long long)b->seq, (unsigned long long)max_jump, (unsigned long long)old->seq);
			rc = AKM_IMPORT_POLICY;
			return rc;
		}
	}

	/* 3b. A node with its own identity key gets its keys sealed to it;
	 *     a passphrase bundle (which anyone with the batch passphrase
	 *     could have opened and copied) only when allowed. */
	if (b->protection == AKM_BUNDLE_PASSPHRASE && !args->allow_passphrase) {
		CK_OBJECT_HANDLE ipub, ipriv;
		uint8_t ipoint[65];
		int irc = akm_node_identity(node, false, &ipub, &ipriv, ipoint);
		if (irc < 0) {
			snprintf(err, errlen, "reading the node identity key: %s", node->err);
			return rc;
		}
		if (irc == 0) {
			snprintf(err, errlen,
			         "this node has an identity key, and the bundle is protected by a passphrase only: refused "
			         "(give --allow-passphrase or set %s=1 to accept it)", AKM_NODE_ALLOW_PASSPHRASE_ENV);
			rc = AKM_IMPORT_POLICY;
			return rc;
		}
	}
	return AKM_IMPORT_OK;
}

akm_import_rc akm_node_import_check(akm_p11 *node, const uint8_t *buf, size_t len, const akm_import_args *args,
                                    uint64_t *seq, char *err, size_t errlen)
{
	akm_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return AKM_IMPORT_TOKEN_ERROR;
	}
	akm_node_state old;
	bool have_old;
	akm_import_rc rc = import_checks(node, buf, len, args, b, &old, &have_old, err, errlen);
	if (seq != NULL)
		*seq = b->seq;
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

akm_import_rc akm_node_import(akm_p11 *node, const uint8_t *buf, size_t len,
                              const akm_import_args *args, akm_node_state *state,
                              char *err, size_t errlen)
{
	akm_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return AKM_IMPORT_TOKEN_ERROR;
	}
	akm_import_rc rc = AKM_IMPORT_TOKEN_ERROR;
	CK_OBJECT_HANDLE tkey = CK_INVALID_HANDLE, enc = CK_INVALID_HANDLE, mac = CK_INVALID_HANDLE;

	akm_node_state old;
	bool have_old;
	rc = import_checks(node, buf, len, args, b, &old, &have_old, err, errlen);
	if (rc != AKM_IMPORT_OK)
		goto out;

	/* 4. The transport key (ECDH or passphrase). */
	rc = open_transport(node, buf, b, args, &tkey, err, errlen);
	if (rc != AKM_IMPORT_OK)
		goto out;
	rc = AKM_IMPORT_TOKEN_ERROR;

	/* 5. Into the token, crash-safe: both new keys, then the new state, and
	 *    only then what they replace (keys with the same IDs, the old state,
	 *    the previous PR's keys).  Until the new state exists, a failure
	 *    removes the new keys and leaves the token as it was. */
	CK_OBJECT_HANDLE left_enc[AKM_NODE_KEYS_MAX], left_mac[AKM_NODE_KEYS_MAX];
	size_t n_enc = 0, n_mac = 0;
	if (akm_node_find_keys(node, b->pr_id, b->pr_id_len, CKV_AKM_PURPOSE_ENCRYPT, left_enc, AKM_NODE_KEYS_MAX, &n_enc) != 0 ||
	    akm_node_find_keys(node, b->pr_id, b->pr_id_len, CKV_AKM_PURPOSE_MAC, left_mac, AKM_NODE_KEYS_MAX, &n_mac) != 0) {
		snprintf(err, errlen, "looking for earlier keys: %s", node->err);
		goto out;
	}
	CK_RV rv = unwrap_one(node, tkey, b, CKV_AKM_PURPOSE_ENCRYPT, &enc);
	if (rv == CKR_OK)
		rv = unwrap_one(node, tkey, b, CKV_AKM_PURPOSE_MAC, &mac);
	if (rv != CKR_OK) {
		akm_p11_fail(node, "C_UnwrapKey", rv, "CKM_AES_KEY_WRAP_PAD");
		if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
			snprintf(err, errlen, "the keys in the bundle do not unwrap with this node's transport key (%s)", node->err);
			rc = AKM_IMPORT_WRONG_NODE;
		} else {
			snprintf(err, errlen, "%s", node->err);
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
	if (akm_node_state_write(node, &s, &new_state) != 0) {
		snprintf(err, errlen, "recording the node state: %s", node->err);
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
	CK_OBJECT_HANDLE states[AKM_NODE_STATES_MAX];
	size_t n_states = 0;
	if (akm_node_state_objects(node, states, AKM_NODE_STATES_MAX, &n_states) == 0)
		for (size_t i = 0; i < n_states; i++)
			if (states[i] != new_state)
				node->f->C_DestroyObject(node->session, states[i]);
	if (have_old && !akm_bytes_equal(old.pr_id, old.pr_id_len, b->pr_id, b->pr_id_len))
		akm_node_destroy_keys(node, old.pr_id, old.pr_id_len);
	if (state != NULL)
		*state = s;
	rc = AKM_IMPORT_OK;
out:
	akm_p11_destroy(node, &mac);
	akm_p11_destroy(node, &enc);
	akm_p11_destroy(node, &tkey);
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

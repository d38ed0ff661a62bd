/*
 * The node's own objects in its token (node.h): identity key pair, pinned
 * station anchor, PR keys, state record, and the proof of possession.
 */
#include "node/node-keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm/pkcs11-akm.h"
#include "shared/bytes.h"
#include "lib/buf.h"
#include "lib/fmt-verify.h"
#include "lib/hex.h"

static CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

/* The first object matching t, if any. */
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

/* ---- identity ---- */

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

/* ---- the station anchor ---- */

int akm_node_anchor_find(akm_p11 *node, bool *found, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)AKM_NODE_ANCHOR_LABEL, sizeof AKM_NODE_ANCHOR_LABEL - 1 },
	};
	return find_one(node, t, 2, h, found);
}

int akm_node_anchor_read(akm_p11 *node, bool *found, CK_OBJECT_HANDLE *h, uint8_t id[AKM_FMT_ID_MAX],
                         size_t *id_len, uint8_t point[65])
{
	if (akm_node_anchor_find(node, found, h) != 0)
		return -1;
	if (!*found)
		return 0;
	uint8_t *v;
	size_t n;
	if (akm_p11_get_bytes(node, *h, CKA_ID, &v, &n) != 0)
		return -1;
	if (n == 0 || n > AKM_FMT_ID_MAX) {
		free(v);
		return akm_p11_fail_text(node, "the pinned station anchor has no valid station ID");
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
	if (akm_node_anchor_read(node, &found, &h, id, &id_len, point) != 0) {
		snprintf(err, errlen, "reading the pinned station anchor: %s", node->err);
		return -2;
	}
	if (found) {
		if (akm_bytes_equal(id, id_len, anchor->station_id, anchor->station_id_len) &&
		    memcmp(point, anchor->point, 65) == 0)
			return 0;
		char hex[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(id, id_len, hex);
		snprintf(err, errlen, "this node already trusts another station (%s); it does not replace a pinned anchor",
		         hex);
		return -1;
	}
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	uint8_t der[67];
	akm_p11_ec_point_der(anchor->point, der);
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
		snprintf(err, errlen, "pinning the station anchor: %s", node->err);
		return -2;
	}
	return 0;
}

/* ---- the state record ---- */

int akm_node_state_objects(akm_p11 *node, CK_OBJECT_HANDLE *hs, size_t max, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_APPLICATION, (void *)AKM_NODE_APPLICATION, sizeof AKM_NODE_APPLICATION - 1 },
		{ CKA_LABEL, (void *)AKM_NODE_STATE_LABEL, sizeof AKM_NODE_STATE_LABEL - 1 },
	};
	return akm_p11_find(node, t, 3, hs, max, n);
}

int akm_node_state_read(akm_p11 *node, akm_node_state *state, CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_HANDLE hs[AKM_NODE_STATES_MAX];
	size_t n;
	if (akm_node_state_objects(node, hs, AKM_NODE_STATES_MAX, &n) != 0)
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
	if (!have)
		return akm_p11_fail_text(node, "the node state in the token is damaged");
	return 0;
}

int akm_node_state_write(akm_p11 *node, const akm_node_state *s, CK_OBJECT_HANDLE *h)
{
	uint8_t buf[512];
	size_t len;
	if (akm_node_state_encode(s, buf, sizeof buf, &len) != AKM_FMT_OK)
		return akm_p11_fail_text(node, "the node state does not encode");
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

/* ---- PR keys ---- */

size_t akm_node_key_id(const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose,
                       uint8_t out[AKM_FMT_ID_MAX + 1])
{
	akm_buf_writer w;
	size_t len = 0;
	akm_buf_writer_init(&w, out, AKM_FMT_ID_MAX + 1);
	akm_buf_put_bytes(&w, pr_id, pr_len);
	akm_buf_put_u8(&w, (uint8_t)purpose);
	akm_buf_writer_done(&w, &len);
	return len;
}

int akm_node_find_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose,
                       CK_OBJECT_HANDLE *hs, size_t max, size_t *n)
{
	uint8_t id[AKM_FMT_ID_MAX + 1];
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_ID, id, (CK_ULONG)akm_node_key_id(pr_id, pr_len, purpose, id) },
	};
	return akm_p11_find(node, t, 2, hs, max, n);
}

void akm_node_destroy_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len)
{
	for (CK_ULONG purpose = CKV_AKM_PURPOSE_ENCRYPT; purpose <= CKV_AKM_PURPOSE_MAC; purpose++) {
		CK_OBJECT_HANDLE hs[AKM_NODE_KEYS_MAX];
		size_t n;
		if (akm_node_find_keys(node, pr_id, pr_len, purpose, hs, AKM_NODE_KEYS_MAX, &n) == 0)
			for (size_t i = 0; i < n; i++)
				node->f->C_DestroyObject(node->session, hs[i]);
	}
}

/* ---- the proof of possession ---- */

int akm_node_mac_key(akm_p11 *node, const akm_node_state *state, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_HANDLE hs[2];
	size_t n;
	if (akm_node_find_keys(node, state->pr_id, state->pr_id_len, CKV_AKM_PURPOSE_MAC, hs, 2, &n) != 0)
		return -1;
	if (n == 0)
		return akm_p11_fail_text(node, "the node has no MAC key for its PR");
	*key = hs[0];
	return 0;
}

int akm_node_prove_with(akm_p11 *node, CK_OBJECT_HANDLE key, const akm_node_state *state,
                        const uint8_t challenge[32], uint8_t mac[32])
{
	uint8_t msg[AKM_VERIFY_MSG_MAX];
	size_t m = 0;
	if (akm_verify_message(state->node_id, state->node_id_len, state->pr_id, state->pr_id_len, challenge, msg,
	                       sizeof msg, &m) != AKM_FMT_OK)
		return akm_p11_fail_text(node, "the node state's IDs do not make a verification message");
	return akm_p11_hmac(node, key, msg, m, mac);
}

int akm_node_prove(akm_p11 *node, const akm_node_state *state, const uint8_t challenge[32],
                   uint8_t mac[32])
{
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	if (akm_node_mac_key(node, state, &key) != 0)
		return -1;
	return akm_node_prove_with(node, key, state, challenge, mac);
}

/*
 * A node's secure element attached to the station (station.h): write-se
 * puts the node's relationship into it (the keys wrapped to the element's
 * own identity key, imported there as by akm-node), verify checks what it
 * holds against the station's record and has it prove it holds the MAC
 * key.  A wrong element is a breach signal: it goes on the audit record.
 */
#include "station/station.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "shared/bytes.h"
#include "lib/fmt-verify.h"
#include "lib/rv.h"
#include "node/node.h"

int nmm_write_se(nmm_station *s, nmm_node *n, akm_p11 *se, nmm_se_result *out)
{
	char err[512];
	memset(out, 0, sizeof *out);
	akm_p11_serial(se, out->serial);
	const char *serial = out->serial;
	/* Written to the element's own key: a node made for passphrase
	 * delivery cannot leave that way (the module would refuse it). */
	if (n->delivery != CKV_AKM_DELIVERY_NODE_KEY)
		return akm_report(AKM_RC_REFUSED, n->name,
		                  "provisioned for %s delivery: export its bundle with a passphrase instead",
		                  nmm_delivery_name(n->delivery));
	if (strlen(serial) != n->hw_len || memcmp(serial, n->hw, n->hw_len) != 0) {
		nmm_audit_node(s, n, "write-se", CKR_FUNCTION_REJECTED, "se=%s; error=wrong hardware value", serial);
		return akm_report(AKM_RC_REFUSED, n->name,
		                  "the secure element's hardware value \"%s\" is not the node's hw-id \"%.*s\"", serial,
		                  (int)n->hw_len, (const char *)n->hw);
	}
	uint8_t point[AKM_FMT_POINT_LEN];
	CK_OBJECT_HANDLE pub, priv;
	if (akm_node_identity(se, true, &pub, &priv, point) != 0)
		return akm_report(AKM_RC_TOKEN, n->name, "secure element identity key: %s", se->err);
	if (n->has_node_key && memcmp(n->node_key, point, sizeof point) != 0) {
		nmm_audit_node(s, n, "write-se", CKR_FUNCTION_REJECTED, "se=%s; error=another node key", serial);
		return akm_report(AKM_RC_REFUSED, n->name,
		                  "the secure element's key is not the node key recorded for this node");
	}
	akm_anchor a;
	memset(&a, 0, sizeof a);
	memcpy(a.station_id, s->id, s->id_len);
	a.station_id_len = s->id_len;
	memcpy(a.point, s->point, sizeof a.point);
	int trc = akm_node_trust(se, &a, err, sizeof err);
	if (trc != 0)
		return akm_report(trc == -1 ? AKM_RC_REFUSED : AKM_RC_TOKEN, n->name, "secure element: %s", err);
	if (!n->has_node_key) {
		CK_ATTRIBUTE t[] = {{CKA_AKM_NODE_KEY, point, sizeof point}};
		CK_RV rv = s->p.f->C_SetAttributeValue(s->p.session, n->enc, t, 1);
		if (rv != CKR_OK)
			return akm_report(AKM_RC_TOKEN, n->name,
			                  "recording the node key: C_SetAttributeValue(CKA_AKM_NODE_KEY): %s", akm_rv_name(rv));
		memcpy(n->node_key, point, sizeof point);
		n->has_node_key = true;
	}
	nmm_seal_args sa = {
		.enc_key = n->enc, .station_priv = s->priv, .station_id = s->id,
		.station_id_len = s->id_len, .protection = AKM_BUNDLE_NODE_KEY, .node_point = point,
	};
	uint8_t buf[AKM_FMT_BUNDLE_MAX];
	size_t len = 0;
	if (nmm_seal(&s->p, &sa, buf, &len, err, sizeof err) != 0)
		return akm_report(AKM_RC_TOKEN, n->name, "%s", err);
	uint8_t file_hash[32];
	crypto_hash_sha256(file_hash, buf, len);
	akm_import_args ia = {.hw = serial, .passphrase = NULL, .file_hash = file_hash};
	akm_import_rc irc = akm_node_import(se, buf, len, &ia, &out->state, err, sizeof err);
	if (irc != AKM_IMPORT_OK) {
		nmm_audit_node(s, n, "write-se", CKR_FUNCTION_FAILED, "se=%s; error=%s", serial, err);
		return akm_report(irc == AKM_IMPORT_TOKEN_ERROR ? AKM_RC_TOKEN : AKM_RC_REFUSED, n->name,
		                  "secure element refused: %s", err);
	}
	out->have_state = true;
	if (nmm_node_raise_status(s, n, CKV_AKM_STATUS_IMPORTED) != 0)
		return AKM_RC_TOKEN;
	if (nmm_audit_node(s, n, "write-se", CKR_OK, "se=%s; seq=%llu", serial, (unsigned long long)out->state.seq) !=
	    CKR_OK)
		return AKM_RC_TOKEN;
	return AKM_RC_OK;
}

/* The element's record against the station's: NULL when they agree, else
 * what differs. */
static const char *compare(const nmm_station *s, const nmm_node *n, const akm_node_state *st)
{
	if (!akm_bytes_equal(st->station_id, st->station_id_len, s->id, s->id_len))
		return "station ID differs (the node belongs to another station)";
	if (!akm_bytes_equal(st->node_id, st->node_id_len, n->node_id, n->node_id_len))
		return "node AKM ID differs";
	if (!akm_bytes_equal(st->pr_id, st->pr_id_len, n->pr_id, n->pr_id_len))
		return "PR ID differs";
	if (!akm_bytes_equal(st->hw, st->hw_len, n->hw, n->hw_len))
		return "hardware value differs";
	return NULL;
}

int nmm_verify(nmm_station *s, nmm_node *n, akm_p11 *se, nmm_se_result *out)
{
	memset(out, 0, sizeof *out);
	akm_p11_serial(se, out->serial);
	akm_node_state *st = &out->state;
	CK_OBJECT_HANDLE obj;
	CK_RV result = CKR_OK;
	int r = akm_node_state_read(se, st, &obj);
	if (r < 0)
		return akm_report(AKM_RC_TOKEN, n->name, "secure element: %s", se->err);
	out->have_state = r == 0;
	if (r > 0)
		out->differs = "the secure element holds no provisioning relationship";
	else
		out->differs = compare(s, n, st);
	/* The element itself: its serial is the node's hardware binding.  A
	 * clone (another element that imported a copy of the node's bundle,
	 * e.g. with the batch passphrase) holds the same record and keys, but
	 * not the same serial. */
	if (out->differs == NULL && !akm_bytes_equal((const uint8_t *)out->serial, strlen(out->serial), n->hw, n->hw_len))
		out->differs = "the secure element's serial is not the node's hardware binding (a copy in another element?)";
	if (out->differs)
		result = CKR_DATA_INVALID;
	if (out->differs == NULL) {
		uint8_t challenge[AKM_VERIFY_CHALLENGE_LEN], mac[32], msg[AKM_VERIFY_MSG_MAX];
		size_t m = 0;
		randombytes_buf(challenge, sizeof challenge);
		if (akm_node_prove(se, st, challenge, mac) != 0) {
			out->differs = "the node could not prove it holds the relationship's MAC key";
			result = CKR_KEY_HANDLE_INVALID;
		} else if (akm_verify_message(st->node_id, st->node_id_len, st->pr_id, st->pr_id_len, challenge, msg,
		                              sizeof msg, &m) != AKM_FMT_OK) {
			return akm_report(AKM_RC_TOKEN, n->name, "the secure element's IDs do not make a verification message");
		} else {
			CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
			CK_RV rv = s->p.f->C_VerifyInit(s->p.session, &mech, n->mac);
			if (rv == CKR_OK)
				rv = s->p.f->C_Verify(s->p.session, msg, (CK_ULONG)m, mac, sizeof mac);
			if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
				out->differs = "the node's proof does not verify (it holds another key)";
				result = rv;
			} else if (rv != CKR_OK) {
				return akm_report(AKM_RC_TOKEN, n->name, "checking the proof: C_Verify: %s", akm_rv_name(rv));
			}
		}
	}
	if (out->differs) {
		nmm_audit_node(s, n, "verify", result, "se=%s; failed=%s", out->serial, out->differs);
		return akm_report(AKM_RC_VERIFY, n->name, "verification failed: %s", out->differs);
	}
	if (nmm_node_raise_status(s, n, CKV_AKM_STATUS_VERIFIED) != 0)
		return AKM_RC_TOKEN;
	if (nmm_audit_node(s, n, "verify", CKR_OK, "se=%s; seq=%llu", out->serial, (unsigned long long)st->seq) !=
	    CKR_OK)
		return AKM_RC_TOKEN;
	return AKM_RC_OK;
}

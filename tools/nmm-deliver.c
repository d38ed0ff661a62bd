/*
 * akm-nmm export, write-se, verify (docs/akm-nmm.md): delivering a node's
 * provisioning relationship on a USB drive or into its secure element, and
 * checking that the node holds it.
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/rv.h"
#include "out.h"
#include "secret.h"
#include "transfer.h"

/* ---- export ---- */

typedef struct export_item {
	nmm_node n;
	uint8_t protection;
	uint64_t seq;
	bool written;
} export_item;

static int export_select(nmm_opts *o, nmm_station *s, export_item **items, size_t *count)
{
	*items = NULL;
	*count = 0;
	if (o->all) {
		CK_OBJECT_HANDLE *keys;
		size_t n;
		if (nmm_node_all(s, CKV_AKM_STATE_ACTIVE, &keys, &n) != 0)
			return nmm_fail(NMM_TOKEN, "export", "%s", s->p.err);
		if (n == 0) {
			free(keys);
			return nmm_fail(NMM_NOT_FOUND, "export", "the station has no active nodes to export");
		}
		*items = calloc(n, sizeof **items);
		if (*items == NULL) {
			free(keys);
			return nmm_fail(NMM_FILES, "export", "out of memory");
		}
		for (size_t i = 0; i < n; i++)
			if (nmm_node_read(s, keys[i], &(*items)[i].n) != 0) {
				free(keys);
				return nmm_fail(NMM_TOKEN, "export", "%s", s->p.err);
			}
		free(keys);
		*count = n;
		return NMM_OK;
	}
	const char *list = o->node ? o->node : o->nodes;
	size_t cap = 1;
	for (const char *c = list; *c; c++)
		cap += *c == ',';
	*items = calloc(cap, sizeof **items);
	if (*items == NULL)
		return nmm_fail(NMM_FILES, "export", "out of memory");
	for (const char *item = list;;) {
		size_t len = o->node ? strlen(item) : strcspn(item, ",");
		char name[AKM_FMT_NAME_MAX + 2];
		if (len == 0 || len > AKM_FMT_NAME_MAX)
			return nmm_fail(NMM_REFUSED, "export", "\"%.*s\" is not a node name", (int)(len > 80 ? 80 : len), item);
		memcpy(name, item, len);
		name[len] = '\0';
		for (size_t k = 0; k < *count; k++)
			if (strcmp((*items)[k].n.name, name) == 0)
				return nmm_fail(NMM_USAGE, "export", "node %s is named twice", name);
		int code = nmm_node_find(s, name, &(*items)[*count].n);
		if (code != NMM_OK)
			return code;
		nmm_node *n = &(*items)[*count].n;
		if (n->state == CKV_AKM_STATE_PENDING)
			return nmm_fail(NMM_REFUSED, name, "pending approval: run akm-nmm approve %s first", name);
		if (n->state != CKV_AKM_STATE_ACTIVE)
			return nmm_fail(NMM_REFUSED, name, "the relationship is %s, not active", nmm_state_name(n->state));
		(*count)++;
		if (o->node || item[len] == '\0')
			break;
		item += len + 1;
	}
	return NMM_OK;
}

static void print_passphrase(const nmm_opts *o, const akm_secret *pass)
{
	if (o->json) {
		if (isatty(STDERR_FILENO) == 1) {
			fprintf(stderr, "batch passphrase (shown once):\n");
			akm_qr_print(stderr, pass->data);
		}
		return;
	}
	printf("batch passphrase (shown once): %s\n", pass->data);
	akm_qr_print(stdout, pass->data);
	fflush(stdout);
}

int nmm_cmd_export(nmm_opts *o)
{
	int sel = (o->node != NULL) + (o->nodes != NULL) + (o->all ? 1 : 0);
	if (sel != 1)
		return nmm_fail(NMM_USAGE, "export", "give one of --node NAME, --nodes A,B,C, --all");
	if (o->out == NULL)
		return nmm_fail(NMM_USAGE, "export", "--out DIR is required");
	int forced = 0;
	if (o->protection) {
		if (strcmp(o->protection, "node-key") == 0)
			forced = AKM_BUNDLE_NODE_KEY;
		else if (strcmp(o->protection, "passphrase") == 0)
			forced = AKM_BUNDLE_PASSPHRASE;
		else
			return nmm_fail(NMM_USAGE, "export", "--protection is node-key or passphrase, not \"%s\"", o->protection);
	}
	if (o->generate_passphrase && o->passphrase_file)
		return nmm_fail(NMM_USAGE, "export", "--generate-passphrase and --passphrase-file exclude each other");
	if (o->qr_png && !o->generate_passphrase)
		return nmm_fail(NMM_USAGE, "export", "--qr-png goes with --generate-passphrase");
	uint32_t ops = o->argon2_ops_set ? (uint32_t)o->argon2_ops : AKM_PASS_OPSLIMIT;
	uint32_t mem = o->argon2_mem_set ? (uint32_t)o->argon2_mem_kib : AKM_PASS_MEMLIMIT_KIB;
	if (ops < 1)
		return nmm_fail(NMM_USAGE, "export", "--argon2-ops must be at least 1");
	if (mem < 8 || mem > 4u * 1024 * 1024)
		return nmm_fail(NMM_USAGE, "export", "--argon2-mem-kib must be 8 to 4194304");

	char err[512];
	/* Nothing is changed when the folder cannot take a file. */
	if (akm_dir_writable(o->out, err, sizeof err) != 0)
		return nmm_fail(nmm_files_code(errno), "export", "%s", err);
	if (o->qr_png) {
		int c = nmm_check_target("export", o->qr_png);
		if (c != NMM_OK)
			return c;
	}

	nmm_station s;
	int code = nmm_station_open(o, &s);
	if (code != NMM_OK)
		return code;
	export_item *items = NULL;
	size_t count = 0, npass = 0;
	akm_secret pass = {0}, master = {0};
	uint8_t salt[AKM_FMT_SALT_LEN];
	if ((code = export_select(o, &s, &items, &count)) != NMM_OK)
		goto out;
	for (size_t i = 0; i < count; i++) {
		export_item *it = &items[i];
		it->protection = (uint8_t)(forced ? forced : it->n.has_node_key ? AKM_BUNDLE_NODE_KEY : AKM_BUNDLE_PASSPHRASE);
		if (it->protection == AKM_BUNDLE_NODE_KEY && !it->n.has_node_key) {
			code = nmm_fail(NMM_REFUSED, it->n.name,
			                "no node key recorded (enroll the node or use write-se): use --protection passphrase");
			goto out;
		}
		if (it->protection == AKM_BUNDLE_PASSPHRASE)
			npass++;
	}
	if (npass > 0) {
		int rc = o->generate_passphrase
		                 ? akm_pass_generate(&pass)
		                 : akm_secret_read(&pass, o->passphrase_file, "AKM_PASSPHRASE", "Bundle passphrase: ",
		                                   "passphrase", err, sizeof err);
		if (rc != 0) {
			code = o->generate_passphrase ? nmm_fail(NMM_TOKEN, "export", "cannot generate a passphrase")
			                              : nmm_fail(NMM_USAGE, "export", "%s", err);
			goto out;
		}
		if (pass.len == 0) {
			code = nmm_fail(NMM_USAGE, "export", "the passphrase is empty");
			goto out;
		}
		/* One Argon2id for the whole batch; each bundle gets its own
		 * subkeys from it. */
		randombytes_buf(salt, sizeof salt);
		if (akm_pass_master(&master, &pass, salt, ops, mem) != 0) {
			code = nmm_fail(NMM_TOKEN, "export", "Argon2id failed (out of memory for %u KiB?)", mem);
			goto out;
		}
	}

	uint8_t anchor[256];
	size_t alen = 0;
	if (nmm_station_anchor(&s, anchor, sizeof anchor, &alen) != 0) {
		code = nmm_fail(NMM_TOKEN, "export", "cannot encode the station anchor");
		goto out;
	}
	char anchor_path[4096];
	snprintf(anchor_path, sizeof anchor_path, "%s/%s", o->out, NMM_ANCHOR_FILE);
	bool anchor_new = access(anchor_path, F_OK) != 0;
	if (akm_write_atomic(o->out, NMM_ANCHOR_FILE, anchor, alen, 0644, err, sizeof err) != 0) {
		code = nmm_fail(nmm_files_code(errno), "export", "%s", err);
		goto out;
	}
	akm_progress bar;
	akm_progress_start(&bar, "exporting", count);
	for (size_t i = 0; i < count; i++) {
		export_item *it = &items[i];
		if (nmm_node_mac(&s, &it->n) != 0) {
			code = nmm_fail(NMM_TOKEN, it->n.name, "%s", s.p.err);
			break;
		}
		akm_seal_args a = {
			.enc_key = it->n.enc, .mac_key = it->n.mac, .station_priv = s.priv,
			.station_id = s.id, .station_id_len = s.id_len, .protection = it->protection,
			.node_point = it->protection == AKM_BUNDLE_NODE_KEY ? it->n.node_key : NULL,
			.master = it->protection == AKM_BUNDLE_PASSPHRASE ? &master : NULL,
			.salt = salt, .opslimit = ops, .memlimit_kib = mem,
		};
		uint8_t buf[AKM_FMT_BUNDLE_MAX];
		size_t len = 0;
		if (akm_transfer_seal(&s.p, &a, buf, &len, err, sizeof err) != 0) {
			code = nmm_fail(NMM_TOKEN, it->n.name, "%s", err);
			break;
		}
		akm_bundle b;
		size_t signed_len;
		if (akm_bundle_parse(buf, len, &b, &signed_len) == AKM_FMT_OK)
			it->seq = b.seq;
		char file[AKM_FMT_NAME_MAX + 8];
		snprintf(file, sizeof file, "%s.akmb", it->n.name);
		if (akm_write_atomic(o->out, file, buf, len, 0644, err, sizeof err) != 0) {
			int e = errno;
			code = nmm_fail(nmm_files_code(e), it->n.name, "%s", err);
			nmm_audit_node(&s, &it->n, "export", CKR_FUNCTION_FAILED, "file=%s; error=%s", file, strerror(e));
			break;
		}
		it->written = true;
		if (nmm_node_raise_status(&s, &it->n, CKV_AKM_STATUS_EXPORTED) != 0) {
			code = NMM_TOKEN;
			break;
		}
		if (nmm_audit_node(&s, &it->n, "export", CKR_OK, "file=%s; protection=%s; seq=%llu", file,
		                   it->protection == AKM_BUNDLE_NODE_KEY ? "node-key" : "passphrase",
		                   (unsigned long long)it->seq) != CKR_OK) {
			code = NMM_TOKEN;
			break;
		}
		akm_progress_update(&bar, i + 1);
	}
	akm_progress_end(&bar);
	size_t written = 0, pass_written = 0;
	for (size_t i = 0; i < count; i++) {
		written += items[i].written;
		pass_written += items[i].written && items[i].protection == AKM_BUNDLE_PASSPHRASE;
	}
	/* A failed export leaves no new file behind. */
	if (written == 0 && code != NMM_OK && anchor_new)
		unlink(anchor_path);
	if (o->generate_passphrase && pass_written > 0) {
		print_passphrase(o, &pass);
		if (o->qr_png && akm_qr_png(o->qr_png, pass.data, 8, err, sizeof err) != 0) {
			int e = errno;
			if (code == NMM_OK)
				code = nmm_fail(nmm_files_code(e), "export", "--qr-png: %s", err);
		}
	}
	if (code == NMM_OK && o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "exported");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < count; i++) {
			char file[AKM_FMT_NAME_MAX + 8];
			snprintf(file, sizeof file, "%s.akmb", items[i].n.name);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "node", items[i].n.name);
			akm_json_kv_string(&j, "file", file);
			akm_json_kv_string(&j, "protection",
			                   items[i].protection == AKM_BUNDLE_NODE_KEY ? "node-key" : "passphrase");
			akm_json_kv_uint(&j, "sequence", items[i].seq);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_kv_string(&j, "dir", o->out);
		akm_json_kv_string(&j, "anchor_file", NMM_ANCHOR_FILE);
		if (npass > 0) {
			akm_json_key(&j, "argon2id");
			akm_json_object_begin(&j);
			akm_json_kv_uint(&j, "opslimit", ops);
			akm_json_kv_uint(&j, "memlimit_kib", mem);
			akm_json_kv_hex(&j, "salt", salt, sizeof salt);
			akm_json_object_end(&j);
		}
		if (o->generate_passphrase && pass_written > 0)
			akm_json_kv_string(&j, "passphrase", pass.data);
		if (o->qr_png)
			akm_json_kv_string(&j, "qr_png", o->qr_png);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else if (code == NMM_OK) {
		printf("exported %zu bundle%s to %s (%zu with a passphrase, %zu to the node key)\n", written,
		       written == 1 ? "" : "s", o->out, pass_written, written - pass_written);
		if (o->qr_png)
			printf("passphrase QR code written to %s\n", o->qr_png);
	}
out:
	akm_secret_free(&master);
	akm_secret_free(&pass);
	free(items);
	nmm_station_close(&s);
	return code;
}

/* ---- the secure element ---- */

static int se_open(const nmm_opts *o, akm_p11 *se)
{
	memset(se, 0, sizeof *se);
	if (o->se_module == NULL || o->se_token == NULL)
		return nmm_fail(NMM_USAGE, o->cmd, "--se-module PATH and --se-token URI|LABEL are required");
	char err[256];
	akm_secret pin = {0};
	if (akm_secret_read(&pin, o->se_pin_file, "AKM_SE_PIN", "Secure element PIN: ", "SE PIN", err, sizeof err) != 0)
		return nmm_fail(NMM_USAGE, o->cmd, "%s", err);
	int code = NMM_OK;
	if (akm_p11_open(se, o->se_module, o->se_token) != 0)
		code = nmm_fail(NMM_TOKEN, o->cmd, "secure element: %s", se->err);
	else if (akm_p11_login(se, &pin) != 0)
		code = nmm_fail(NMM_TOKEN, o->cmd, "secure element: %s", se->err);
	akm_secret_free(&pin);
	if (code != NMM_OK)
		akm_p11_close(se);
	return code;
}

/* The station and the node's PR, which must be active. */
static int open_node(nmm_opts *o, nmm_station *s, nmm_node *n)
{
	if (o->node == NULL)
		return nmm_fail(NMM_USAGE, o->cmd, "--node NAME is required");
	if (o->se_module == NULL || o->se_token == NULL)
		return nmm_fail(NMM_USAGE, o->cmd, "--se-module PATH and --se-token URI|LABEL are required");
	int code = nmm_station_open(o, s);
	if (code != NMM_OK)
		return code;
	if ((code = nmm_node_find(s, o->node, n)) == NMM_OK) {
		if (n->state == CKV_AKM_STATE_PENDING)
			code = nmm_fail(NMM_REFUSED, n->name, "pending approval: run akm-nmm approve %s first", n->name);
		else if (n->state != CKV_AKM_STATE_ACTIVE)
			code = nmm_fail(NMM_REFUSED, n->name, "the relationship is %s, not active", nmm_state_name(n->state));
		else if (nmm_node_mac(s, n) != 0)
			code = nmm_fail(NMM_TOKEN, n->name, "%s", s->p.err);
	}
	if (code != NMM_OK)
		nmm_station_close(s);
	return code;
}

int nmm_cmd_write_se(nmm_opts *o)
{
	nmm_station s;
	nmm_node n;
	int code = open_node(o, &s, &n);
	if (code != NMM_OK)
		return code;
	akm_p11 se;
	if ((code = se_open(o, &se)) != NMM_OK) {
		nmm_station_close(&s);
		return code;
	}
	char serial[17], err[512];
	akm_p11_serial(&se, serial);
	uint8_t point[AKM_FMT_POINT_LEN];
	CK_OBJECT_HANDLE pub, priv;
	uint8_t buf[AKM_FMT_BUNDLE_MAX];
	size_t len = 0;
	akm_node_state st;
	if (strlen(serial) != n.hw_len || memcmp(serial, n.hw, n.hw_len) != 0) {
		/* A wrong hardware value is a breach signal: on the record. */
		nmm_audit_node(&s, &n, "write-se", CKR_FUNCTION_REJECTED, "se=%s; error=wrong hardware value", serial);
		code = nmm_fail(NMM_REFUSED, n.name, "the secure element's hardware value \"%s\" is not the node's hw-id \"%.*s\"",
		                serial, (int)n.hw_len, (const char *)n.hw);
		goto out;
	}
	if (akm_node_identity(&se, true, &pub, &priv, point) != 0) {
		code = nmm_fail(NMM_TOKEN, n.name, "secure element identity key: %s", se.err);
		goto out;
	}
	if (n.has_node_key && memcmp(n.node_key, point, sizeof point) != 0) {
		nmm_audit_node(&s, &n, "write-se", CKR_FUNCTION_REJECTED, "se=%s; error=another node key", serial);
		code = nmm_fail(NMM_REFUSED, n.name, "the secure element's key is not the node key recorded for this node");
		goto out;
	}
	akm_anchor a;
	memset(&a, 0, sizeof a);
	memcpy(a.station_id, s.id, s.id_len);
	a.station_id_len = s.id_len;
	memcpy(a.point, s.point, sizeof a.point);
	int trc = akm_node_trust(&se, &a, err, sizeof err);
	if (trc != 0) {
		code = nmm_fail(trc == -1 ? NMM_REFUSED : NMM_TOKEN, n.name, "secure element: %s", err);
		goto out;
	}
	if (!n.has_node_key) {
		CK_ATTRIBUTE t[] = {{CKA_AKM_NODE_KEY, point, sizeof point}};
		CK_RV rv = s.p.f->C_SetAttributeValue(s.p.session, n.enc, t, 1);
		if (rv != CKR_OK) {
			code = nmm_fail(NMM_TOKEN, n.name, "recording the node key: C_SetAttributeValue(CKA_AKM_NODE_KEY): %s",
			                akm_rv_name(rv));
			goto out;
		}
		memcpy(n.node_key, point, sizeof point);
		n.has_node_key = true;
	}
	akm_seal_args sa = {
		.enc_key = n.enc, .mac_key = n.mac, .station_priv = s.priv, .station_id = s.id,
		.station_id_len = s.id_len, .protection = AKM_BUNDLE_NODE_KEY, .node_point = point,
	};
	if (akm_transfer_seal(&s.p, &sa, buf, &len, err, sizeof err) != 0) {
		code = nmm_fail(NMM_TOKEN, n.name, "%s", err);
		goto out;
	}
	uint8_t file_hash[32];
	crypto_hash_sha256(file_hash, buf, len);
	akm_open_args oa = {.hw = serial, .passphrase = NULL, .file_hash = file_hash};
	akm_open_rc orc = akm_transfer_open(&se, buf, len, &oa, &st, err, sizeof err);
	if (orc != AKM_OPEN_OK) {
		nmm_audit_node(&s, &n, "write-se", CKR_FUNCTION_FAILED, "se=%s; error=%s", serial, err);
		code = nmm_fail(orc == AKM_OPEN_TOKEN_ERROR ? NMM_TOKEN : NMM_REFUSED, n.name, "secure element refused: %s", err);
		goto out;
	}
	if (nmm_node_raise_status(&s, &n, CKV_AKM_STATUS_IMPORTED) != 0) {
		code = NMM_TOKEN;
		goto out;
	}
	if (nmm_audit_node(&s, &n, "write-se", CKR_OK, "se=%s; seq=%llu", serial, (unsigned long long)st.seq) != CKR_OK) {
		code = NMM_TOKEN;
		goto out;
	}
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", n.name);
		akm_json_kv_string(&j, "se_serial", serial);
		akm_json_kv_hex(&j, "node_id", n.node_id, n.node_id_len);
		akm_json_kv_hex(&j, "pr_id", n.pr_id, n.pr_id_len);
		akm_json_kv_uint(&j, "sequence", st.seq);
		akm_json_kv_string(&j, "status", nmm_status_name(n.status));
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("%s: written into secure element %s (sequence %llu)\n", n.name, serial, (unsigned long long)st.seq);
	}
	code = NMM_OK;
out:
	akm_p11_close(&se);
	nmm_station_close(&s);
	return code;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int nmm_cmd_verify(nmm_opts *o)
{
	nmm_station s;
	nmm_node n;
	int code = open_node(o, &s, &n);
	if (code != NMM_OK)
		return code;
	akm_p11 se;
	if ((code = se_open(o, &se)) != NMM_OK) {
		nmm_station_close(&s);
		return code;
	}
	char serial[17];
	akm_p11_serial(&se, serial);
	akm_node_state st;
	CK_OBJECT_HANDLE obj;
	const char *differs = NULL;
	CK_RV result = CKR_OK;
	int r = akm_node_state_read(&se, &st, &obj);
	if (r < 0) {
		code = nmm_fail(NMM_TOKEN, n.name, "secure element: %s", se.err);
		goto out;
	}
	if (r > 0)
		differs = "the secure element holds no provisioning relationship";
	else if (!same(st.station_id, st.station_id_len, s.id, s.id_len))
		differs = "station ID differs (the node belongs to another station)";
	else if (!same(st.node_id, st.node_id_len, n.node_id, n.node_id_len))
		differs = "node AKM ID differs";
	else if (!same(st.pr_id, st.pr_id_len, n.pr_id, n.pr_id_len))
		differs = "PR ID differs";
	else if (!same(st.hw, st.hw_len, n.hw, n.hw_len))
		differs = "hardware value differs";
	if (differs)
		result = CKR_DATA_INVALID;
	if (differs == NULL) {
		uint8_t challenge[32], mac[32];
		randombytes_buf(challenge, sizeof challenge);
		if (akm_node_prove(&se, &st, challenge, mac) != 0) {
			differs = "the node could not prove it holds the relationship's MAC key";
			result = CKR_KEY_HANDLE_INVALID;
		} else {
			static const char label[] = "AKM-VERIFY-1";
			uint8_t msg[sizeof label - 1 + 2 + 2 * AKM_FMT_ID_MAX + 32];
			size_t m = 0;
			memcpy(msg, label, sizeof label - 1);
			m += sizeof label - 1;
			msg[m++] = (uint8_t)st.node_id_len;
			memcpy(msg + m, st.node_id, st.node_id_len);
			m += st.node_id_len;
			msg[m++] = (uint8_t)st.pr_id_len;
			memcpy(msg + m, st.pr_id, st.pr_id_len);
			m += st.pr_id_len;
			memcpy(msg + m, challenge, 32);
			m += 32;
			CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
			CK_RV rv = s.p.f->C_VerifyInit(s.p.session, &mech, n.mac);
			if (rv == CKR_OK)
				rv = s.p.f->C_Verify(s.p.session, msg, (CK_ULONG)m, mac, sizeof mac);
			if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
				differs = "the node's proof does not verify (it holds another key)";
				result = rv;
			} else if (rv != CKR_OK) {
				code = nmm_fail(NMM_TOKEN, n.name, "checking the proof: C_Verify: %s", akm_rv_name(rv));
				goto out;
			}
		}
	}
	if (differs) {
		nmm_audit_node(&s, &n, "verify", result, "se=%s; failed=%s", serial, differs);
		code = nmm_fail(NMM_VERIFY, n.name, "verification failed: %s", differs);
	} else {
		if (nmm_node_raise_status(&s, &n, CKV_AKM_STATUS_VERIFIED) != 0) {
			code = NMM_TOKEN;
			goto out;
		}
		if (nmm_audit_node(&s, &n, "verify", CKR_OK, "se=%s; seq=%llu", serial, (unsigned long long)st.seq) != CKR_OK) {
			code = NMM_TOKEN;
			goto out;
		}
		code = NMM_OK;
	}
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", n.name);
		akm_json_kv_bool(&j, "verified", differs == NULL);
		if (differs)
			akm_json_kv_string(&j, "error", differs);
		akm_json_kv_string(&j, "se_serial", serial);
		if (r == 0) {
			akm_json_kv_hex(&j, "node_id", st.node_id, st.node_id_len);
			akm_json_kv_hex(&j, "pr_id", st.pr_id, st.pr_id_len);
			akm_json_kv_uint(&j, "sequence", st.seq);
		}
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else if (differs == NULL) {
		char nid[2 * AKM_FMT_ID_MAX + 1], pid[2 * AKM_FMT_ID_MAX + 1];
		nmm_hex(st.node_id, st.node_id_len, nid);
		nmm_hex(st.pr_id, st.pr_id_len, pid);
		printf("%s: verified (AKM ID %s, PR ID %s, sequence %llu)\n", n.name, nid, pid, (unsigned long long)st.seq);
	}
out:
	akm_p11_close(&se);
	nmm_station_close(&s);
	return code;
}

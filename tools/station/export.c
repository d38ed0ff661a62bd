/*
 * Bundles onto a drive (station.h): each chosen node's bundle, and the
 * station's anchor beside them, written atomically into one folder; the
 * passphrase-protected ones share one Argon2id derivation per batch.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/station.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "shared/files.h"
#include "shared/interrupt.h"
#include "shared/progress.h"

int nmm_export_check(const nmm_export *x, const char *qr_png)
{
	char err[512];
	/* Nothing is changed when the folder cannot take a file. */
	if (akm_dir_writable(x->dir, err, sizeof err) != 0)
		return akm_report(AKM_RC_FILES, "export", "%s", err);
	if (qr_png)
		return nmm_check_target("export", qr_png);
	return AKM_RC_OK;
}

/* --all: every active node. */
static int select_all(nmm_station *s, nmm_export *x)
{
	CK_OBJECT_HANDLE *keys;
	size_t n;
	if (nmm_node_all(s, CKV_AKM_STATE_ACTIVE, &keys, &n) != 0)
		return akm_report(AKM_RC_TOKEN, "export", "%s", s->p.err);
	if (n == 0) {
		free(keys);
		return akm_report(AKM_RC_NOT_FOUND, "export", "the station has no active nodes to export");
	}
	x->items = calloc(n, sizeof *x->items);
	if (x->items == NULL) {
		free(keys);
		return akm_report(AKM_RC_FILES, "export", "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (nmm_node_read(s, keys[i], &x->items[i].n) != 0) {
			free(keys);
			return akm_report(AKM_RC_TOKEN, "export", "%s", s->p.err);
		}
	free(keys);
	x->count = n;
	return AKM_RC_OK;
}

/* --node NAME or --nodes A,B,C: each must be active, none named twice. */
static int select_named(nmm_station *s, nmm_export *x)
{
	const char *list = x->node ? x->node : x->nodes;
	size_t cap = 1;
	for (const char *c = list; *c; c++)
		cap += *c == ',';
	x->items = calloc(cap, sizeof *x->items);
	if (x->items == NULL)
		return akm_report(AKM_RC_FILES, "export", "out of memory");
	for (const char *item = list;;) {
		size_t len = x->node ? strlen(item) : strcspn(item, ",");
		char name[AKM_FMT_NAME_MAX + 2];
		if (len == 0 || len > AKM_FMT_NAME_MAX)
			return akm_report(AKM_RC_REFUSED, "export", "\"%.*s\" is not a node name", (int)(len > 80 ? 80 : len),
			                  item);
		memcpy(name, item, len);
		name[len] = '\0';
		for (size_t k = 0; k < x->count; k++)
			if (strcmp(x->items[k].n.name, name) == 0)
				return akm_report(AKM_RC_USAGE, "export", "node %s is named twice", name);
		nmm_node *n = &x->items[x->count].n;
		int code = nmm_node_find(s, name, n);
		if (code != AKM_RC_OK)
			return code;
		if (n->state == CKV_AKM_STATE_PENDING)
			return akm_report(AKM_RC_REFUSED, name, "pending approval: run akm-nmm approve %s first", name);
		if (n->state != CKV_AKM_STATE_ACTIVE)
			return akm_report(AKM_RC_REFUSED, name, "the relationship is %s, not active", nmm_state_name(n->state));
		x->count++;
		if (x->node || item[len] == '\0')
			break;
		item += len + 1;
	}
	return AKM_RC_OK;
}

int nmm_export_select(nmm_station *s, nmm_export *x)
{
	x->items = NULL;
	x->count = x->npass = 0;
	int code = x->all ? select_all(s, x) : select_named(s, x);
	if (code != AKM_RC_OK)
		return code;
	/* A node's keys leave the way its relationship was made for (the
	 * module refuses any other); checked for every node before anything
	 * is written.  --all takes the nodes that can leave so: those of the
	 * --protection asked for, node-key ones only with a node key recorded
	 * (the others wait for write-se). */
	if (x->all) {
		size_t kept = 0;
		for (size_t i = 0; i < x->count; i++) {
			const nmm_node *n = &x->items[i].n;
			uint8_t protection = nmm_delivery_protection(n->delivery);
			if ((x->protection == 0 || x->protection == protection) &&
			    (protection != AKM_BUNDLE_NODE_KEY || n->has_node_key))
				x->items[kept++] = x->items[i];
		}
		x->count = kept;
		if (kept == 0)
			return akm_report(AKM_RC_NOT_FOUND, "export",
			                  "no active node can be exported%s (node-key nodes need a recorded node key)",
			                  x->protection == AKM_BUNDLE_NODE_KEY   ? " to its node key"
			                  : x->protection == AKM_BUNDLE_PASSPHRASE ? " with a passphrase"
			                                                           : "");
	}
	for (size_t i = 0; i < x->count; i++) {
		nmm_export_item *it = &x->items[i];
		it->protection = nmm_delivery_protection(it->n.delivery);
		if (x->protection && x->protection != it->protection)
			return akm_report(AKM_RC_REFUSED, it->n.name, "provisioned for %s delivery: its keys leave only %s",
			                  nmm_delivery_name(it->n.delivery),
			                  it->protection == AKM_BUNDLE_NODE_KEY ? "to its node key" : "under a passphrase");
		if (it->protection == AKM_BUNDLE_NODE_KEY && !it->n.has_node_key)
			return akm_report(AKM_RC_REFUSED, it->n.name,
			                  "no node key recorded: enroll the node, or write its secure element (write-se)");
		if (it->protection == AKM_BUNDLE_PASSPHRASE)
			x->npass++;
	}
	return AKM_RC_OK;
}

/* One node's bundle into the folder, its status raised and audited. */
static int export_one(nmm_station *s, nmm_export *x, nmm_export_item *it, const akm_secret *master)
{
	char err[512];
	nmm_seal_args a = {
		.enc_key = it->n.enc, .station_priv = s->priv,
		.station_id = s->id, .station_id_len = s->id_len, .protection = it->protection,
		.node_point = it->protection == AKM_BUNDLE_NODE_KEY ? it->n.node_key : NULL,
		.master = it->protection == AKM_BUNDLE_PASSPHRASE ? master : NULL,
		.salt = x->salt, .opslimit = x->opslimit, .memlimit_kib = x->memlimit_kib,
	};
	uint8_t buf[AKM_FMT_BUNDLE_MAX];
	size_t len = 0;
	if (nmm_seal(&s->p, &a, buf, &len, err, sizeof err) != 0)
		return akm_report(AKM_RC_TOKEN, it->n.name, "%s", err);
	akm_bundle b;
	size_t signed_len;
	if (akm_bundle_parse(buf, len, &b, &signed_len) == AKM_FMT_OK)
		it->seq = b.seq;
	char file[AKM_FMT_NAME_MAX + 8];
	snprintf(file, sizeof file, "%s.akmb", it->n.name);
	if (akm_write_atomic(x->dir, file, buf, len, 0644, err, sizeof err) != 0) {
		int e = errno;
		int code = akm_report(AKM_RC_FILES, it->n.name, "%s", err);
		nmm_audit_node(s, &it->n, "export", CKR_FUNCTION_FAILED, "file=%s; error=%s", file, strerror(e));
		return code;
	}
	it->written = true;
	if (nmm_node_raise_status(s, &it->n, CKV_AKM_STATUS_EXPORTED) != 0)
		return AKM_RC_TOKEN;
	if (nmm_audit_node(s, &it->n, "export", CKR_OK, "file=%s; protection=%s; seq=%llu", file,
	                   it->protection == AKM_BUNDLE_NODE_KEY ? "node-key" : "passphrase",
	                   (unsigned long long)it->seq) != CKR_OK)
		return AKM_RC_TOKEN;
	return AKM_RC_OK;
}

int nmm_export_run(nmm_station *s, nmm_export *x, const akm_secret *passphrase)
{
	akm_secret master = {0};
	char err[512];
	int code = AKM_RC_OK;
	if (x->npass > 0) {
		/* The floors (secret.h), before anything is written. */
		if (akm_pass_check_cost(x->opslimit, x->memlimit_kib, "akm-nmm", err, sizeof err) != 0)
			return akm_report(AKM_RC_REFUSED, "export", "%s", err);
		if (passphrase == NULL || akm_pass_check_strength(passphrase, err, sizeof err) != 0)
			return akm_report(AKM_RC_REFUSED, "export", "%s", passphrase ? err : "no passphrase");
		/* One Argon2id for the whole batch; each bundle gets its own
		 * subkeys from it. */
		randombytes_buf(x->salt, sizeof x->salt);
		if (akm_pass_master(&master, passphrase, x->salt, x->opslimit, x->memlimit_kib) != 0)
			return akm_report(AKM_RC_TOKEN, "export", "Argon2id failed (out of memory for %u KiB?)",
			                  x->memlimit_kib);
	}
	uint8_t anchor[256];
	size_t alen = 0;
	if (nmm_station_anchor(s, anchor, sizeof anchor, &alen) != 0) {
		code = akm_report(AKM_RC_TOKEN, "export", "cannot encode the station anchor");
		goto out;
	}
	char anchor_path[4096];
	snprintf(anchor_path, sizeof anchor_path, "%s/%s", x->dir, NMM_ANCHOR_FILE);
	bool anchor_new = access(anchor_path, F_OK) != 0;
	if (akm_write_atomic(x->dir, NMM_ANCHOR_FILE, anchor, alen, 0644, err, sizeof err) != 0) {
		code = akm_report(AKM_RC_FILES, "export", "%s", err);
		goto out;
	}
	akm_progress bar;
	akm_progress_start(&bar, "exporting", x->count);
	for (size_t i = 0; i < x->count && code == AKM_RC_OK; i++) {
		/* Interrupted: the bundle in hand was finished (file, status,
		 * record); the next is not started. */
		if ((x->interrupted = akm_interrupted()) != 0) {
			code = x->interrupted == SIGTERM ? AKM_RC_TERMINATED : AKM_RC_INTERRUPTED;
			break;
		}
		code = export_one(s, x, &x->items[i], &master);
		if (code == AKM_RC_OK)
			akm_progress_update(&bar, i + 1);
	}
	akm_progress_end(&bar);
	x->written = x->pass_written = 0;
	for (size_t i = 0; i < x->count; i++) {
		x->written += x->items[i].written;
		x->pass_written += x->items[i].written && x->items[i].protection == AKM_BUNDLE_PASSPHRASE;
	}
	/* A failed export leaves no new file behind. */
	if (x->written == 0 && code != AKM_RC_OK && anchor_new)
		unlink(anchor_path);
out:
	akm_secret_free(&master);
	return code;
}

void nmm_export_free(nmm_export *x)
{
	free(x->items);
	x->items = NULL;
	x->count = 0;
}

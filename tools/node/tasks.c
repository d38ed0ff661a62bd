/*
 * akm-node's tasks (node.h): the node's hardware value, a station anchor
 * file, a bundle from a file or a drive into the token, an enrollment
 * request.  Failures are reported (shared/report.h) and returned as
 * AKM_RC_* codes.
 */
#include "node/node.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "shared/files.h"
#include "shared/report.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-request.h"

int akm_node_hw(const akm_p11 *p, const char *given, char out[AKM_FMT_HW_MAX + 1])
{
	if (given != NULL) {
		size_t n = strlen(given);
		bool printable = true;
		for (size_t i = 0; i < n; i++)
			printable = printable && given[i] > ' ' && given[i] < 0x7f;
		if (n == 0 || n > AKM_FMT_HW_MAX || !printable)
			return akm_report_why(AKM_RC_USAGE, "--hw-id",
			                      "the hardware value must have 1 to 64 printable characters, no spaces");
		memcpy(out, given, n + 1);
		return AKM_RC_OK;
	}
	char serial[17];
	akm_p11_serial(p, serial);
	if (serial[0] == '\0')
		return akm_report_why(AKM_RC_TOKEN, "hardware value", "the token has no serial number: give --hw-id");
	memcpy(out, serial, strlen(serial) + 1);
	return AKM_RC_OK;
}

/* A small file into a malloc'd buffer: 0, or the code with the message
 * "<what> <path>: <why>". */
static int read_small(const char *path, const char *what, uint8_t **buf, size_t *len)
{
	akm_read_rc rc = akm_read_file(path, AKM_NODE_FILE_MAX, buf, len);
	if (rc == AKM_READ_OK)
		return AKM_RC_OK;
	int e = errno;
	char m[600];
	snprintf(m, sizeof m, "%s %s", what, path);
	switch (rc) {
	case AKM_READ_OPEN: return akm_report_why(e == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES, m, strerror(e));
	case AKM_READ_TOO_BIG: return akm_report_why(AKM_RC_REFUSED, m, "too large");
	case AKM_READ_NOMEM: return akm_report_why(AKM_RC_FILES, m, "out of memory");
	default: return akm_report_why(AKM_RC_FILES, m, "read error");
	}
}

int akm_node_load_anchor(const char *path, akm_anchor *a, uint8_t fingerprint[32])
{
	uint8_t *buf;
	size_t len;
	int rc = read_small(path, "anchor", &buf, &len);
	if (rc != AKM_RC_OK)
		return rc;
	akm_fmt_rc frc = akm_anchor_parse(buf, len, a);
	if (frc == AKM_FMT_OK)
		crypto_hash_sha256(fingerprint, buf, len);
	free(buf);
	if (frc != AKM_FMT_OK) {
		char m[600];
		snprintf(m, sizeof m, "%s is not a station anchor", path);
		return akm_report_why(AKM_RC_REFUSED, m, akm_fmt_strerror(frc));
	}
	return AKM_RC_OK;
}

/* The newest bundle in dir bound to hw; AKM_RC_NOT_FOUND when there is none. */
static int pick_bundle(const char *dir, const char *hw, char *path, size_t path_cap, uint8_t **buf,
                       size_t *len)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return akm_report_why(errno == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES, dir, strerror(errno));
	struct dirent *e;
	bool found = false;
	uint64_t best_seq = 0;
	akm_bundle *b = malloc(sizeof *b);
	while (b != NULL && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".akmb") != 0 || e->d_name[0] == '.')
			continue;
		char p[4096];
		if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p)
			continue;
		uint8_t *cand;
		size_t got;
		if (akm_read_file(p, AKM_NODE_FILE_MAX, &cand, &got) != AKM_READ_OK)
			continue;
		size_t signed_len;
		if (akm_bundle_parse(cand, got, b, &signed_len) == AKM_FMT_OK && b->hw_len == strlen(hw) &&
		    memcmp(b->hw, hw, b->hw_len) == 0 && (!found || b->seq > best_seq)) {
			found = true;
			best_seq = b->seq;
			free(*buf);
			*buf = cand;
			*len = got;
			snprintf(path, path_cap, "%s", p);
		} else {
			free(cand);
		}
	}
	free(b);
	closedir(d);
	if (!found) {
		char m[600];
		snprintf(m, sizeof m, "no bundle for this node (hardware value %s) in %s", hw, dir);
		return akm_report_why(AKM_RC_NOT_FOUND, m, NULL);
	}
	return AKM_RC_OK;
}

int akm_node_import_prepare(akm_p11 *p, akm_node_import_job *job)
{
	int rc;
	char err[512];
	job->bundle = NULL;
	job->len = 0;
	job->pinned_now = false;
	job->wants_passphrase = false;
	job->anchor_obj = CK_INVALID_HANDLE;
	if (job->file != NULL) {
		snprintf(job->path, sizeof job->path, "%s", job->file);
		if ((rc = read_small(job->file, "bundle", &job->bundle, &job->len)) != AKM_RC_OK)
			return rc;
	} else if ((rc = pick_bundle(job->dir, job->hw, job->path, sizeof job->path, &job->bundle, &job->len)) !=
	           AKM_RC_OK) {
		return rc;
	}

	bool pinned;
	if (akm_node_anchor_find(p, &pinned, &job->anchor_obj) != 0)
		return akm_report_why(AKM_RC_TOKEN, "reading the pinned station anchor", p->err);
	if (job->anchor != NULL) {
		int t = akm_node_trust(p, job->anchor, err, sizeof err);
		if (t != 0)
			return akm_report_why(t == -1 ? AKM_RC_REFUSED : AKM_RC_TOKEN, "--anchor", err);
		if (!pinned) {
			job->pinned_now = true;
			if (akm_node_anchor_find(p, &pinned, &job->anchor_obj) != 0 || !pinned)
				return akm_report_why(AKM_RC_TOKEN, "pinning the station anchor", p->err);
		}
	} else if (!pinned) {
		return akm_report_why(AKM_RC_REFUSED, "no trusted station",
		                      "pin the station's anchor with 'akm-node trust FILE' or give --anchor FILE");
	}

	/* A passphrase only for a bundle that asks for one. */
	akm_bundle *peek = malloc(sizeof *peek);
	size_t signed_len;
	job->wants_passphrase = peek != NULL && akm_bundle_parse(job->bundle, job->len, peek, &signed_len) == AKM_FMT_OK &&
	                        peek->protection == AKM_BUNDLE_PASSPHRASE;
	free(peek);
	return AKM_RC_OK;
}

int akm_node_import_finish(akm_p11 *p, akm_node_import_job *job, const akm_secret *passphrase,
                           akm_node_state *state)
{
	char err[512];
	uint8_t file_hash[32];
	crypto_hash_sha256(file_hash, job->bundle, job->len);
	akm_import_args args = { .hw = job->hw, .passphrase = passphrase, .file_hash = file_hash };
	akm_import_rc irc = akm_node_import(p, job->bundle, job->len, &args, state, err, sizeof err);
	if (irc != AKM_IMPORT_OK)
		return akm_report_why(irc == AKM_IMPORT_TOKEN_ERROR ? AKM_RC_TOKEN : AKM_RC_REFUSED, job->path, err);
	job->pinned_now = false; /* the anchor stays with the accepted bundle */
	return AKM_RC_OK;
}

void akm_node_import_end(akm_p11 *p, akm_node_import_job *job)
{
	if (job->pinned_now && job->anchor_obj != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(p->session, job->anchor_obj); /* a refusal changes nothing */
	job->pinned_now = false;
	free(job->bundle);
	job->bundle = NULL;
}

int akm_node_request(akm_p11 *p, const char *name, const char *hw, const char *out_path,
                     uint8_t key_fp[32])
{
	akm_request r;
	memset(&r, 0, sizeof r);
	CK_OBJECT_HANDLE pub, priv;
	uint8_t buf[AKM_NODE_FILE_MAX];
	size_t len, signed_len;
	uint8_t digest[32];
	char err[512];
	if (akm_node_identity(p, true, &pub, &priv, r.node_point) != 0)
		return akm_report_why(AKM_RC_TOKEN, "the node identity key", p->err);
	snprintf(r.name, sizeof r.name, "%s", name);
	r.hw_len = strlen(hw);
	memcpy(r.hw, hw, r.hw_len);
	randombytes_buf(r.nonce, sizeof r.nonce);
	r.created = (uint64_t)time(NULL);
	akm_fmt_rc frc = akm_request_encode_signed(&r, buf, sizeof buf, &signed_len);
	if (frc != AKM_FMT_OK)
		return akm_report_why(AKM_RC_USAGE, "request", akm_fmt_strerror(frc));
	crypto_hash_sha256(digest, buf, signed_len);
	if (akm_p11_sign_digest(p, priv, digest, r.sig) != 0)
		return akm_report_why(AKM_RC_TOKEN, "signing the request", p->err);
	if ((frc = akm_request_finish(&r, buf, sizeof buf, &len)) != AKM_FMT_OK)
		return akm_report_why(AKM_RC_TOKEN, "request", akm_fmt_strerror(frc));
	if (akm_write_atomic(NULL, out_path, buf, len, 0644, err, sizeof err) != 0)
		return akm_report_why(AKM_RC_FILES, "writing the request", err);
	crypto_hash_sha256(key_fp, r.node_point, sizeof r.node_point);
	return AKM_RC_OK;
}

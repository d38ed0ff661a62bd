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
	akm_read_rc rc = akm_read_regular(path, AKM_NODE_FILE_MAX, false, buf, len);
	if (rc == AKM_READ_OK)
		return AKM_RC_OK;
	int e = errno;
	char m[600];
	snprintf(m, sizeof m, "%s %s", what, path);
	switch (rc) {
	case AKM_READ_OPEN: return akm_report_why(e == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES, m, strerror(e));
	case AKM_READ_TOO_BIG: return akm_report_why(AKM_RC_REFUSED, m, "too large");
	case AKM_READ_NOMEM: return akm_report_why(AKM_RC_FILES, m, "out of memory");
	case AKM_READ_NOT_REGULAR: return akm_report_why(AKM_RC_REFUSED, m, "not a regular file");
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

static bool allow_passphrase(const akm_node_import_job *job)
{
	const char *v = getenv(AKM_NODE_ALLOW_PASSPHRASE_ENV);
	return job->allow_passphrase || (v != NULL && strcmp(v, "1") == 0);
}

/* The bundle to import from dir: of the *.akmb regular files there, each
 * is checked as import would (station signature, hardware value and AKM
 * ID, sequence, policy: akm_node_import_check) before any is chosen, and
 * the newest that passes is taken; a decoy (unsigned, another node's, a
 * sequence out of bounds) cannot hide the genuine one.  Files are opened
 * without following links or blocking (a FIFO is skipped).  When none
 * passes: the refusal of the newest bundle bound to this node, exit 2, or
 * AKM_RC_NOT_FOUND when none is. */
static int pick_bundle(akm_p11 *p, akm_node_import_job *job)
{
	const char *dir = job->dir, *hw = job->hw;
	DIR *d = opendir(dir);
	if (d == NULL)
		return akm_report_why(errno == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES, dir, strerror(errno));
	struct dirent *e;
	bool found = false, refused = false;
	uint64_t best_seq = 0, refused_seq = 0;
	char refused_path[4096] = "", refused_why[512] = "";
	int token_failed = 0;
	akm_import_args args = { .hw = hw, .allow_passphrase = allow_passphrase(job) };
	akm_bundle *b = malloc(sizeof *b);
	while (b != NULL && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".akmb") != 0 || e->d_name[0] == '.')
			continue;
		char path[4096];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
			continue;
		uint8_t *cand;
		size_t got;
		if (akm_read_regular(path, AKM_NODE_FILE_MAX, true, &cand, &got) != AKM_READ_OK)
			continue;
		size_t signed_len;
		if (akm_bundle_parse(cand, got, b, &signed_len) != AKM_FMT_OK || b->hw_len != strlen(hw) ||
		    memcmp(b->hw, hw, b->hw_len) != 0) {
			free(cand);
			continue;
		}
		char why[512];
		uint64_t seq = 0;
		akm_import_rc irc = akm_node_import_check(p, cand, got, &args, &seq, why, sizeof why);
		if (irc == AKM_IMPORT_TOKEN_ERROR) {
			free(cand);
			token_failed = akm_report_why(AKM_RC_TOKEN, path, why);
			break;
		}
		if (irc != AKM_IMPORT_OK) {
			/* Kept to say why, when nothing passes: the newest refused. */
			if (!refused || seq > refused_seq) {
				refused = true;
				refused_seq = seq;
				snprintf(refused_path, sizeof refused_path, "%s", path);
				snprintf(refused_why, sizeof refused_why, "%s", why);
			}
			free(cand);
			continue;
		}
		if (!found || seq > best_seq) {
			found = true;
			best_seq = seq;
			free(job->bundle);
			job->bundle = cand;
			job->len = got;
			snprintf(job->path, sizeof job->path, "%s", path);
		} else {
			free(cand);
		}
	}
	free(b);
	closedir(d);
	if (token_failed)
		return token_failed;
	if (found)
		return AKM_RC_OK;
	if (refused) {
		snprintf(job->path, sizeof job->path, "%s", refused_path);
		return akm_report_why(AKM_RC_REFUSED, refused_path, refused_why);
	}
	char m[600];
	snprintf(m, sizeof m, "no bundle for this node (hardware value %s) in %s", hw, dir);
	return akm_report_why(AKM_RC_NOT_FOUND, m, NULL);
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
	}

	bool pinned;
	if (akm_node_anchor_find(p, &pinned, &job->anchor_obj) != 0)
		return akm_report_why(AKM_RC_TOKEN, "reading the pinned station anchor", p->err);
	if (job->anchor != NULL) {
		/* An anchor read from the drive the bundles came on vouches for
		 * nothing by itself: it is pinned only with its fingerprint from
		 * the operator, or by an explicit choice. */
		if (!pinned && !job->anchor_vouched)
			return akm_report_why(AKM_RC_REFUSED, "--anchor",
			                      "no station is trusted yet, and an anchor from the drive is pinned only with "
			                      "--fingerprint HEX (from the operator: akm-nmm anchor) or --trust-on-first-use");
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
	/* --dir: chosen among the candidates that pass the checks, which
	 * need the anchor pinned (it is removed again if nothing is
	 * accepted). */
	if (job->file == NULL && (rc = pick_bundle(p, job)) != AKM_RC_OK)
		return rc;

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
	akm_import_args args = { .hw = job->hw, .passphrase = passphrase, .file_hash = file_hash,
	                         .allow_passphrase = allow_passphrase(job) };
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

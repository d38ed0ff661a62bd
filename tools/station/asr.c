/*
 * Operational ASRs at the station (station.h, docs/asr.md): create one
 * among provisioned nodes, add and remove members, rekey, and write what
 * the members need — one signed enrollment package per member, one signed
 * rekey message per new generation — into a folder (a USB drive).  The key
 * tree lives in the module; everything here is CKM_AKM_ASR_* calls, the
 * station's signature, and files.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/fmt-asr.h"
#include "lib/hex.h"
#include "shared/bytes.h"
#include "shared/files.h"
#include "shared/progress.h"

static const CK_ULONG operational = CKV_AKM_KIND_OPERATIONAL;
static const CK_ULONG purpose_enc = CKV_AKM_PURPOSE_ENCRYPT;

/* Reads an ASR's attributes from its key. */
static int asr_read(nmm_station *s, CK_OBJECT_HANDLE key, nmm_asr *a)
{
	memset(a, 0, sizeof *a);
	a->key = key;
	char label[AKM_ASR_LABEL_MAX + 8] = {0};
	CK_ATTRIBUTE t[] = {
		{CKA_LABEL, label, sizeof label - 1},
		{CKA_AKM_RELATIONSHIP_ID, a->id, sizeof a->id},
		{CKA_AKM_EPOCH, &a->epoch, sizeof a->epoch},
		{CKA_AKM_STATE, &a->state, sizeof a->state},
		{CKA_AKM_ASR_CAPACITY, &a->capacity, sizeof a->capacity},
		{CKA_AKM_ASR_MEMBER_COUNT, &a->members, sizeof a->members},
		{CKA_AKM_ASR_POLICY, &a->policy, sizeof a->policy},
		{CKA_AKM_CREATED, &a->created, sizeof a->created},
		{CKA_AKM_CHANGED, &a->changed, sizeof a->changed},
	};
	CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, key, t, sizeof t / sizeof t[0]);
	if (rv != CKR_OK)
		return akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "ASR key");
	a->id_len = t[1].ulValueLen;
	akm_p11_key_name(label, t[0].ulValueLen, a->name, sizeof a->name);
	return 0;
}

/* Every ASR key of the token (operational, with a key tree). */
static int asr_keys(nmm_station *s, CK_OBJECT_HANDLE **keys, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_KIND, (void *)&operational, sizeof operational},
		{CKA_AKM_KEY_PURPOSE, (void *)&purpose_enc, sizeof purpose_enc},
	};
	return akm_p11_find_all(&s->p, t, sizeof t / sizeof t[0], keys, n);
}

int nmm_asr_list(nmm_station *s, const char *what, nmm_asr **out, size_t *count)
{
	CK_OBJECT_HANDLE *keys = NULL;
	size_t n = 0, k = 0;
	*out = NULL;
	*count = 0;
	if (asr_keys(s, &keys, &n) != 0)
		return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	nmm_asr *list = calloc(n ? n : 1, sizeof *list);
	if (list == NULL) {
		free(keys);
		return akm_report(AKM_RC_FILES, what, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		CK_ULONG cap = 0;
		/* An operational relationship without a key tree (akm-mkrel's) is
		 * not an ASR these commands manage. */
		if (akm_p11_get_ulong(&s->p, keys[i], CKA_AKM_ASR_CAPACITY, &cap) != 0)
			continue;
		if (asr_read(s, keys[i], &list[k]) != 0) {
			free(keys);
			free(list);
			return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
		}
		k++;
	}
	free(keys);
	*out = list;
	*count = k;
	return AKM_RC_OK;
}

int nmm_asr_find(nmm_station *s, const char *name, const char *what, nmm_asr *a)
{
	nmm_asr *list;
	size_t n;
	int rc = nmm_asr_list(s, what, &list, &n);
	if (rc != AKM_RC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0) {
			*a = list[i];
			free(list);
			return AKM_RC_OK;
		}
	free(list);
	return akm_report(AKM_RC_NOT_FOUND, what, "no ASR named \"%s\" (akm-nmm asr list shows them)", name);
}

int nmm_asr_members(nmm_station *s, const nmm_asr *a, uint8_t **members, size_t *len)
{
	return akm_p11_get_bytes(&s->p, a->key, CKA_AKM_MEMBERS, members, len);
}

/* ---- files ---- */

/* Signs the signed part buf[0..len) with the station key, appends the
 * signature, and writes the whole to dir/name.  0, or a code (reported). */
static int sign_and_write(nmm_station *s, const char *what, uint8_t *buf, size_t len, const char *dir,
                          const char *name)
{
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, len);
	if (akm_p11_sign_digest(&s->p, s->priv, digest, buf + len) != 0)
		return akm_report(AKM_RC_TOKEN, what, "signing %s: %s", name, s->p.err);
	char err[512];
	if (akm_write_atomic(dir, name, buf, len + AKM_FMT_SIG_LEN, 0644, err, sizeof err) != 0)
		return akm_report(AKM_RC_FILES, what, "%s", err);
	return AKM_RC_OK;
}

void nmm_asr_package_name(const nmm_asr *a, const char *member, char *out, size_t cap)
{
	snprintf(out, cap, "%s.%s.akma", a->name, member);
}

void nmm_asr_rekey_name(const nmm_asr *a, uint32_t gen, char *out, size_t cap)
{
	snprintf(out, cap, "%s.g%u.akmr", a->name, gen);
}

/* Member n's package of ASR a: *buf (malloc'd, room for the signature
 * after it) and *len (the signed part).  CKR_OK, CKR_AKM_OTHER_MEMBER, or
 * another CK_RV (s->p.err says it). */
static CK_RV package(nmm_station *s, const nmm_asr *a, const uint8_t *node_id, size_t node_id_len, uint8_t **out,
                     CK_ULONG *out_len)
{
	CK_AKM_ASR_MEMBER_PARAMS mp = {(CK_BYTE_PTR)node_id, node_id_len};
	CK_MECHANISM m = {CKM_AKM_ASR_PACKAGE, &mp, sizeof mp};
	size_t cap = akm_asr_package_max();
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	CK_ULONG len = cap - AKM_FMT_SIG_LEN;
	CK_RV rv = s->p.f->C_WrapKey(s->p.session, &m, CK_INVALID_HANDLE, a->key, buf, &len);
	if (rv != CKR_OK) {
		if (rv != CKR_AKM_OTHER_MEMBER)
			akm_p11_fail(&s->p, "C_WrapKey (CKM_AKM_ASR_PACKAGE)", rv, NULL);
		free(buf);
		return rv;
	}
	*out = buf;
	*out_len = len;
	return CKR_OK;
}

/* Member n's package of ASR a, signed: *buf (malloc'd, signature
 * appended) and *len.  CKR_OK, CKR_AKM_OTHER_MEMBER,
 * CKR_KEY_FUNCTION_NOT_PERMITTED (n's PR is not active now: a suspended or
 * revoked node never gets a package), or another CK_RV (s->p.err says
 * it). */
static CK_RV signed_package(nmm_station *s, const nmm_asr *a, const nmm_node *n, uint8_t **out, size_t *out_len)
{
	CK_ULONG state = 0;
	if (akm_p11_get_ulong(&s->p, n->enc, CKA_AKM_STATE, &state) != 0)
		return s->p.rv != CKR_OK ? s->p.rv : CKR_GENERAL_ERROR;
	if (state != CKV_AKM_STATE_ACTIVE)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	uint8_t *buf;
	CK_ULONG len;
	CK_RV rv = package(s, a, n->node_id, n->node_id_len, &buf, &len);
	if (rv != CKR_OK)
		return rv;
	uint8_t digest[32];
	crypto_hash_sha256(digest, buf, len);
	if (akm_p11_sign_digest(&s->p, s->priv, digest, buf + len) != 0) {
		free(buf);
		return s->p.rv != CKR_OK ? s->p.rv : CKR_GENERAL_ERROR;
	}
	*out = buf;
	*out_len = len + AKM_FMT_SIG_LEN;
	return CKR_OK;
}

/* The leaf and PR of the member with list index i (its ID at members[off[i]]). */
static int leaf_of(nmm_station *s, const nmm_asr *a, const uint8_t *id, size_t id_len, akm_asr_package *pk)
{
	uint8_t *buf;
	CK_ULONG len;
	if (package(s, a, id, id_len, &buf, &len) != CKR_OK)
		return -1;
	memset(buf + len, 0, AKM_FMT_SIG_LEN); /* parsed with a zero signature: only the fields are read */
	size_t signed_len;
	int rc = akm_asr_package_parse(buf, len + AKM_FMT_SIG_LEN, pk, &signed_len) == AKM_FMT_OK ? 0 : -1;
	free(buf);
	return rc;
}

int nmm_asr_member_at(nmm_station *s, const nmm_asr *a, uint32_t leaf, nmm_node *n)
{
	uint8_t *members;
	size_t mlen;
	if (leaf >= a->capacity || nmm_asr_members(s, a, &members, &mlen) != 0)
		return leaf >= a->capacity ? 0 : -1;
	/* The members' offsets, in leaf order. */
	size_t count = 0, *off = malloc((mlen + 1) * sizeof *off);
	if (off == NULL) {
		free(members);
		return akm_p11_fail_text(&s->p, "out of memory");
	}
	for (size_t p = 0; p < mlen && members[p] > 0 && p + 1 + members[p] <= mlen; p += 1 + (size_t)members[p])
		off[count++] = p;
	/* The list skips removed leaves, so member i has leaf >= i: a binary
	 * search over i <= leaf by the leaf its package names. */
	size_t lo = 0, hi = count < (size_t)leaf + 1 ? count : (size_t)leaf + 1;
	int found = 0;
	akm_asr_package pk;
	while (lo < hi && found == 0) {
		size_t mid = lo + (hi - lo) / 2;
		if (leaf_of(s, a, members + off[mid] + 1, members[off[mid]], &pk) != 0) {
			/* a member the module gives no package for (its PR not
			 * usable): the rest of the range one by one */
			for (size_t i = lo; i < hi && found == 0; i++)
				if (leaf_of(s, a, members + off[i] + 1, members[off[i]], &pk) == 0 && pk.leaf == leaf)
					found = 1;
			break;
		}
		if (pk.leaf == leaf)
			found = 1;
		else if (pk.leaf < leaf)
			lo = mid + 1;
		else
			hi = mid;
	}
	free(off);
	free(members);
	if (found != 1)
		return found;
	found = nmm_node_by_pr(s, pk.pr_id, pk.pr_id_len, n);
	return found;
}

/* One member's signed package into dir; audited "asr-package" when `audit`. */
static int write_package(nmm_station *s, const nmm_asr *a, const nmm_node *n, const char *dir, const char *what,
                         bool audit)
{
	uint8_t *buf;
	size_t len;
	CK_RV rv = signed_package(s, a, n, &buf, &len);
	if (rv == CKR_AKM_OTHER_MEMBER)
		return akm_report(AKM_RC_REFUSED, what, "%s is not a member of %s", n->name, a->name);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return akm_report(AKM_RC_REFUSED, what, "%s is not active: a suspended or revoked node gets no package "
		                  "(akm-nmm reinstate brings a quarantined one back)", n->name);
	if (rv == CKR_HOST_MEMORY)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	if (rv != CKR_OK)
		return akm_report(AKM_RC_TOKEN, what, "%s's package: %s", n->name, s->p.err);
	char name[AKM_ASR_LABEL_MAX + AKM_FMT_NAME_MAX + 16];
	nmm_asr_package_name(a, n->name, name, sizeof name);
	char err[512];
	int rc = AKM_RC_OK;
	if (akm_write_atomic(dir, name, buf, len, 0644, err, sizeof err) != 0)
		rc = akm_report(AKM_RC_FILES, what, "%s", err);
	free(buf);
	if (rc == AKM_RC_OK && audit)
		nmm_audit(s, "asr-package", a->id, a->id_len, CKR_OK, "member=%s gen=%lu file=%s", n->name,
		          (unsigned long)(a->epoch >> 32), name);
	return rc;
}

int nmm_asr_write_package(nmm_station *s, const nmm_asr *a, const nmm_node *n, const char *dir, const char *what)
{
	return write_package(s, a, n, dir, what, true);
}

size_t nmm_asr_pending(nmm_station *s, const nmm_asr *list, size_t count, const nmm_node *n,
                       const akm_proto_held *held, size_t nheld, uint8_t **items, size_t *lens, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < count && k < max; i++) {
		const nmm_asr *a = &list[i];
		/* The list may be a little old (the service keeps it a while):
		 * its generation and state are read now. */
		CK_ULONG epoch, state;
		if (akm_p11_get_ulong(&s->p, a->key, CKA_AKM_EPOCH, &epoch) != 0 ||
		    akm_p11_get_ulong(&s->p, a->key, CKA_AKM_STATE, &state) != 0)
			continue; /* gone since */
		uint32_t gen = (uint32_t)(epoch >> 32);
		bool current = false;
		for (size_t h = 0; h < nheld; h++)
			current |= akm_bytes_equal(held[h].asr_id, held[h].asr_id_len, a->id, a->id_len) && held[h].gen >= gen;
		if (current || state != CKV_AKM_STATE_ACTIVE)
			continue;
		CK_RV rv = signed_package(s, a, n, &items[k], &lens[k]);
		if (rv == CKR_AKM_OTHER_MEMBER || rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
			continue;
		if (rv != CKR_OK) {
			akm_report(0, n->name, "ASR %s's package for check-in: %s", a->name,
			           rv == CKR_HOST_MEMORY ? "out of memory" : s->p.err);
			continue;
		}
		nmm_audit(s, "asr-package", a->id, a->id_len, CKR_OK, "member=%s gen=%u via=checkin", n->name, gen);
		k++;
	}
	return k;
}

int nmm_asr_write_rekey(nmm_station *s, const nmm_asr *a, const char *dir, const char *what, nmm_asr_change *out)
{
	CK_MECHANISM m = {CKM_AKM_ASR_REKEY_MESSAGE, NULL, 0};
	size_t cap = akm_asr_rekey_max();
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return akm_report(AKM_RC_FILES, what, "out of memory");
	CK_ULONG len = cap - AKM_FMT_SIG_LEN;
	CK_RV rv = s->p.f->C_WrapKey(s->p.session, &m, CK_INVALID_HANDLE, a->key, buf, &len);
	if (rv != CKR_OK) {
		free(buf);
		akm_p11_fail(&s->p, "C_WrapKey (rekey message)", rv, NULL);
		return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	}
	akm_asr_rekey r;
	size_t signed_len;
	/* Parsed back (with a zero signature) for what the caller shows. */
	memset(buf + len, 0, AKM_FMT_SIG_LEN);
	if (akm_asr_rekey_parse(buf, len + AKM_FMT_SIG_LEN, &r, &signed_len) != AKM_FMT_OK || signed_len != len) {
		free(buf);
		return akm_report(AKM_RC_TOKEN, what, "the module's rekey message does not parse");
	}
	uint32_t gen = (uint32_t)(a->epoch >> 32);
	nmm_asr_rekey_name(a, gen, out->rekey_file, sizeof out->rekey_file);
	int rc = sign_and_write(s, what, buf, len, dir, out->rekey_file);
	free(buf);
	if (rc != AKM_RC_OK)
		return rc;
	out->edges = r.nedges;
	out->bytes = len + AKM_FMT_SIG_LEN;
	out->has_rekey = true;
	nmm_audit(s, "asr-rekey-written", a->id, a->id_len, CKR_OK, "gen=%u edges=%u file=%s", gen, r.nedges,
	          out->rekey_file);
	return AKM_RC_OK;
}

/* ---- create ---- */

/* The active nodes named in "A,B,C" (each once). */
int nmm_asr_resolve(nmm_station *s, const char *list, const char *what, nmm_node **nodes, size_t *count)
{
	size_t cap = 1;
	for (const char *p = list; *p; p++)
		cap += *p == ',';
	nmm_node *v = calloc(cap, sizeof *v);
	char *copy = strdup(list);
	if (v == NULL || copy == NULL) {
		free(v);
		free(copy);
		return akm_report(AKM_RC_FILES, what, "out of memory");
	}
	size_t n = 0;
	int rc = AKM_RC_OK;
	char *save = NULL;
	for (char *name = strtok_r(copy, ",", &save); name && rc == AKM_RC_OK; name = strtok_r(NULL, ",", &save)) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, name) == 0)
				rc = akm_report(AKM_RC_USAGE, what, "node %s is named twice", name);
		if (rc == AKM_RC_OK)
			rc = nmm_node_find(s, name, &v[n]);
		if (rc == AKM_RC_OK && v[n].state != CKV_AKM_STATE_ACTIVE)
			rc = akm_report(AKM_RC_REFUSED, what, "node %s is %s, not active: only active nodes join an ASR",
			                name, nmm_state_name(v[n].state));
		n++;
	}
	free(copy);
	if (rc == AKM_RC_OK && n < 2)
		rc = akm_report(AKM_RC_USAGE, what, "an ASR needs at least two members (--members A,B,...)");
	if (rc != AKM_RC_OK) {
		free(v);
		return rc;
	}
	*nodes = v;
	*count = n;
	return AKM_RC_OK;
}

int nmm_asr_create(nmm_station *s, const nmm_asr_create_req *r, nmm_asr *a)
{
	const char *what = "asr create";
	nmm_asr *list;
	size_t nlist;
	int rc = nmm_asr_list(s, what, &list, &nlist);
	if (rc != AKM_RC_OK)
		return rc;
	bool taken = false;
	for (size_t i = 0; i < nlist; i++)
		taken |= strcmp(list[i].name, r->name) == 0;
	free(list);
	if (taken)
		return akm_report(AKM_RC_REFUSED, what, "an ASR named \"%s\" exists already", r->name);

	CK_BYTE_PTR *ids = calloc(r->count, sizeof *ids);
	CK_ULONG *lens = calloc(r->count, sizeof *lens);
	if (ids == NULL || lens == NULL) {
		free(ids);
		free(lens);
		return akm_report(AKM_RC_FILES, what, "out of memory");
	}
	for (size_t i = 0; i < r->count; i++) {
		ids[i] = (CK_BYTE_PTR)r->nodes[i].node_id;
		lens[i] = r->nodes[i].node_id_len;
	}
	CK_AKM_ASR_GEN_PARAMS gp = {r->policy, r->count, ids, lens};
	CK_MECHANISM m = {CKM_AKM_ASR_GEN, &gp, sizeof gp};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_KIND, (void *)&operational, sizeof operational},
		{CKA_LABEL, (void *)r->name, strlen(r->name)},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
		{CKA_TOKEN, &yes, sizeof yes},
	};
	CK_OBJECT_HANDLE key;
	CK_RV rv = s->p.f->C_GenerateKey(s->p.session, &m, t, sizeof t / sizeof t[0], &key);
	free(ids);
	free(lens);
	if (rv != CKR_OK) {
		akm_p11_fail(&s->p, "C_GenerateKey (CKM_AKM_ASR_GEN)", rv, NULL);
		return akm_report(rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ? AKM_RC_REFUSED
		                                                                                        : AKM_RC_TOKEN,
		                  what, "the module refused the ASR: %s", s->p.err);
	}
	if (asr_read(s, key, a) != 0)
		return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	akm_progress bar;
	akm_progress_start(&bar, "packages", r->count);
	/* Every member's package, then one record of them all (a record per
	 * package would be a commit each: thousands for a large ASR). */
	size_t written = 0;
	for (size_t i = 0; i < r->count; i++) {
		if ((rc = write_package(s, a, &r->nodes[i], r->dir, what, false)) != AKM_RC_OK)
			break;
		written++;
		akm_progress_update(&bar, i + 1);
	}
	akm_progress_end(&bar);
	if (written > 0)
		nmm_audit(s, "asr-packages", a->id, a->id_len, rc == AKM_RC_OK ? CKR_OK : CKR_FUNCTION_FAILED,
		          "gen=%lu count=%zu of %zu; every member's in leaf order%s; dir=%s", (unsigned long)(a->epoch >> 32),
		          written, r->count, rc == AKM_RC_OK ? "" : " until the failure", r->dir);
	return rc;
}

/* ---- changes ---- */

int nmm_asr_update(nmm_station *s, nmm_asr *a, CK_ULONG op, const nmm_node *n, const char *dir, const char *what,
                   nmm_asr_change *out)
{
	memset(out, 0, sizeof *out);
	out->from_gen = (uint32_t)(a->epoch >> 32);
	CK_AKM_ASR_UPDATE_PARAMS up = {op, n ? (CK_BYTE_PTR)n->node_id : NULL, n ? n->node_id_len : 0};
	CK_MECHANISM m = {CKM_AKM_ASR_UPDATE, &up, sizeof up};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->p.f->C_DeriveKey(s->p.session, &m, a->key, NULL, 0, &h);
	if (rv != CKR_OK) {
		akm_p11_fail(&s->p, "C_DeriveKey (CKM_AKM_ASR_UPDATE)", rv, NULL);
		if (rv == CKR_AKM_OTHER_MEMBER)
			return akm_report(AKM_RC_REFUSED, what, "%s is not a member of %s", n ? n->name : "?", a->name);
		return akm_report(rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_KEY_FUNCTION_NOT_PERMITTED
		                          ? AKM_RC_REFUSED : AKM_RC_TOKEN,
		                  what, "the module refused the change: %s", s->p.err);
	}
	if (asr_read(s, h, a) != 0)
		return akm_report(AKM_RC_TOKEN, what, "%s", s->p.err);
	out->gen = (uint32_t)(a->epoch >> 32);
	int rc = AKM_RC_OK;
	if (out->gen != out->from_gen)
		rc = nmm_asr_write_rekey(s, a, dir, what, out);
	if (rc == AKM_RC_OK && op == CKV_AKM_ASR_ADD) {
		rc = nmm_asr_write_package(s, a, n, dir, what);
		if (rc == AKM_RC_OK) {
			nmm_asr_package_name(a, n->name, out->package_file, sizeof out->package_file);
			out->has_package = true;
		}
	}
	return rc;
}

/* ---- delivery as the trail records it ---- */

void nmm_asr_member_text(const uint8_t *id, size_t len, char out[2 * AKM_FMT_ID_MAX + 1])
{
	bool printable = len > 0 && len <= AKM_FMT_ID_MAX;
	for (size_t b = 0; printable && b < len; b++)
		printable = id[b] > 0x20 && id[b] < 0x7f;
	if (printable) {
		memcpy(out, id, len);
		out[len] = '\0';
	} else {
		akm_hex_encode(id, len <= AKM_FMT_ID_MAX ? len : AKM_FMT_ID_MAX, out);
	}
}

void nmm_asr_delivery_read(nmm_station *s, const nmm_asr *a, char (*names)[AKM_FMT_NAME_MAX + 1],
                           char (*ids)[2 * AKM_FMT_ID_MAX + 1], size_t n, nmm_asr_delivery *d)
{
	d->max_gen = (uint32_t)(a->epoch >> 32);
	d->pkg_gen = calloc(n ? n : 1, sizeof *d->pkg_gen);
	d->rekey_written = calloc((size_t)d->max_gen + 2, 1);
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_RELATIONSHIP_ID, (void *)a->id, a->id_len},
	};
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	if (d->pkg_gen == NULL || d->rekey_written == NULL || akm_p11_find_all(&s->p, t, 2, &h, &count) != 0)
		count = 0;
	nmm_audit_rec *r = count ? malloc(sizeof *r) : NULL;
	for (size_t i = 0; r != NULL && i < count; i++) {
		if (nmm_audit_read(s, h[i], r) != 0)
			continue;
		unsigned long gen = 0;
		const char *g = strstr(r->detail, "gen=");
		if (g != NULL)
			gen = strtoul(g + 4, NULL, 10);
		bool add = strcmp(r->action, "asr-add") == 0;
		if (!add && (gen == 0 || gen > d->max_gen))
			continue;
		if (strcmp(r->action, "asr-rekey-written") == 0) {
			d->rekey_written[gen] = 1;
		} else if (add) {
			/* A member joining now: no package written before counts. */
			const char *m = strstr(r->detail, "member ");
			for (size_t k = 0; m != NULL && k < n; k++)
				if (strncmp(m + 7, ids[k], strlen(ids[k])) == 0 && m[7 + strlen(ids[k])] == ' ')
					d->pkg_gen[k] = 0;
		} else if (strcmp(r->action, "asr-packages") == 0 && r->result == CKR_OK) {
			/* create: every member of then (a member added later has its own) */
			for (size_t k = 0; k < n; k++)
				if (d->pkg_gen[k] < gen)
					d->pkg_gen[k] = (uint32_t)gen;
		} else if (strcmp(r->action, "asr-package") == 0) {
			const char *m = strstr(r->detail, "member=");
			if (m == NULL)
				continue;
			m += 7;
			size_t len = strcspn(m, " ;");
			for (size_t k = 0; k < n; k++)
				if (strlen(names[k]) == len && memcmp(names[k], m, len) == 0)
					d->pkg_gen[k] = (uint32_t)gen;
		}
	}
	free(r);
	free(h);
}

const char *nmm_asr_delivery_state(const nmm_asr_delivery *d, size_t k, char *buf, size_t cap)
{
	uint32_t g = d->pkg_gen ? d->pkg_gen[k] : 0;
	if (g == 0) {
		snprintf(buf, cap, "no package written");
		return "behind";
	}
	uint32_t reach = g;
	while (reach < d->max_gen && d->rekey_written[reach + 1])
		reach++;
	if (reach == g)
		snprintf(buf, cap, "package g%u", g);
	else
		snprintf(buf, cap, "package g%u, rekeys to g%u", g, reach);
	return reach == d->max_gen ? "current" : "behind";
}

void nmm_asr_delivery_free(nmm_asr_delivery *d)
{
	free(d->pkg_gen);
	free(d->rekey_written);
	d->pkg_gen = NULL;
	d->rekey_written = NULL;
}

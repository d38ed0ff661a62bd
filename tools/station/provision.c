/*
 * Provisioning (station.h): a provisioning relationship per node, bound to
 * its hardware value, created in batch transactions through
 * CKM_AKM_RELATIONSHIP_BATCH_GEN; and enrollment, a node asking for one with
 * a signed request (lib/fmt-request.h) and waiting for approval.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/station.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "shared/interrupt.h"
#include "shared/progress.h"
#include "lib/hex.h"
#include "lib/rv.h"

/* ---- the plan ---- */

_Static_assert(NMM_PROVISION_BATCH <= AKM_BATCH_MAX, "a batch the module takes in one call");

int nmm_plan_add(nmm_plan *p, const char *name, const char *hw, size_t line)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 1024;
		nmm_plan_entry *bigger = realloc(p->e, cap * sizeof *bigger);
		if (bigger == NULL)
			return -1;
		p->e = bigger;
		p->cap = cap;
	}
	nmm_plan_entry *e = &p->e[p->n++];
	memset(e, 0, sizeof *e);
	e->name = name;
	e->hw = hw;
	e->line = line;
	return 0;
}

static void entry_fail(nmm_plan *p, nmm_plan_entry *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void entry_fail(nmm_plan *p, nmm_plan_entry *e, const char *fmt, ...)
{
	char buf[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	free(e->error);
	e->error = strdup(buf);
	e->skip = true;
	p->failed++;
}

/* "NAME HWID" lines; the names and hw-ids point into the file's bytes. */
int nmm_plan_from_file(nmm_plan *p, const char *path)
{
	uint8_t *data;
	size_t len;
	int code = nmm_read_file("provision", path, 256u << 20, &data, &len);
	if (code != 0)
		return code;
	data[len] = '\0';
	p->arena = (char *)data;
	char *s = p->arena;
	size_t line = 0;
	while (s < p->arena + len) {
		line++;
		char *nl = strchr(s, '\n');
		char *next = nl ? nl + 1 : p->arena + len;
		if (nl)
			*nl = '\0';
		char *fields[3] = {NULL, NULL, NULL};
		int nf = 0;
		for (char *t = s; *t != '\0';) {
			while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\v' || *t == '\f')
				*t++ = '\0';
			if (*t == '\0')
				break;
			if (nf < 3)
				fields[nf] = t;
			nf++;
			while (*t != '\0' && *t != ' ' && *t != '\t' && *t != '\r' && *t != '\v' && *t != '\f')
				t++;
		}
		if (nf > 0 && fields[0][0] != '#') {
			if (nmm_plan_add(p, fields[0], nf >= 2 ? fields[1] : "", line) != 0)
				return akm_report(AKM_RC_FILES, "provision", "out of memory");
			if (nf != 2)
				entry_fail(p, &p->e[p->n - 1], "%s line %zu: expected \"NAME HWID\", found %d field%s", path,
				           line, nf, nf == 1 ? "" : "s");
		}
		s = next;
	}
	return AKM_RC_OK;
}

/* The room one generated name and its hw-id take in the window's arena. */
static size_t generated_size(const nmm_plan *p)
{
	return 2 * (strlen(p->prefix) + 24 + 4);
}

int nmm_plan_from_count(nmm_plan *p, unsigned long count, const char *prefix)
{
	p->prefix = prefix;
	p->n = count;
	p->cap = count < NMM_PROVISION_BATCH ? count : NMM_PROVISION_BATCH;
	p->e = calloc(p->cap ? p->cap : 1, sizeof *p->e);
	p->arena = malloc(generated_size(p) * (p->cap ? p->cap : 1));
	if (p->e == NULL || p->arena == NULL)
		return akm_report(AKM_RC_FILES, "provision", "out of memory for %lu nodes", count);
	return AKM_RC_OK;
}

const nmm_plan_entry *nmm_plan_reported(const nmm_plan *p, size_t *n)
{
	*n = p->prefix != NULL ? p->nkept : p->n;
	return p->prefix != NULL ? p->kept : p->e;
}

/* A generated plan: the entries of the window with something to report
 * kept (their names copied), the others forgotten. */
static int plan_keep(nmm_plan *p)
{
	for (size_t i = 0; i < p->nwin; i++) {
		nmm_plan_entry *e = &p->e[i];
		if (e->error == NULL && !e->present && !e->meanwhile)
			continue;
		if (p->nkept == p->capkept) {
			size_t cap = p->capkept ? 2 * p->capkept : 64;
			nmm_plan_entry *bigger = realloc(p->kept, cap * sizeof *bigger);
			if (bigger == NULL)
				return akm_report(AKM_RC_FILES, "provision", "out of memory");
			p->kept = bigger;
			p->capkept = cap;
		}
		nmm_plan_entry *k = &p->kept[p->nkept];
		*k = *e;
		if ((k->own_name = strdup(e->name)) == NULL)
			return akm_report(AKM_RC_FILES, "provision", "out of memory");
		k->name = k->own_name;
		k->hw = "";
		p->nkept++;
		e->error = NULL; /* now the kept entry's */
	}
	p->nwin = 0;
	return AKM_RC_OK;
}

/* A generated plan: the window of nodes first.. (at most p->cap), each
 * name and hw-id checked as the listed ones are. */
static int plan_window(nmm_plan *p, size_t first)
{
	int code = plan_keep(p);
	if (code != AKM_RC_OK)
		return code;
	size_t per = generated_size(p);
	p->base = first;
	p->nwin = p->n - first < p->cap ? p->n - first : p->cap;
	for (size_t i = 0; i < p->nwin; i++) {
		char *name = p->arena + per * i, *hw = name + per / 2;
		unsigned long number = (unsigned long)(first + i + 1);
		snprintf(name, per / 2, "%s%06lu", p->prefix, number);
		snprintf(hw, per / 2, "hw-%s%06lu", p->prefix, number);
		nmm_plan_entry *e = &p->e[i];
		memset(e, 0, sizeof *e);
		e->name = name;
		e->hw = hw;
		e->line = number;
		if (!nmm_valid_name(e->name))
			entry_fail(p, e, "not a node name (" NMM_NAME_RULE ")");
		else if (!nmm_valid_hw(e->hw, strlen(e->hw)))
			entry_fail(p, e, "hw-id \"%.80s\" is not 1-64 printable characters without spaces", e->hw);
	}
	return AKM_RC_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
	const nmm_plan_entry *x = *(nmm_plan_entry *const *)a, *y = *(nmm_plan_entry *const *)b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/* Names and hw-ids checked; the second of two equal names fails.  A
 * generated plan's names differ and are checked as they are made. */
int nmm_plan_check(nmm_plan *p)
{
	if (p->prefix != NULL)
		return AKM_RC_OK;
	nmm_plan_entry **sorted = malloc((p->n ? p->n : 1) * sizeof *sorted);
	if (sorted == NULL)
		return akm_report(AKM_RC_FILES, "provision", "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		nmm_plan_entry *e = &p->e[i];
		sorted[i] = e;
		if (e->skip)
			continue;
		if (!nmm_valid_name(e->name))
			entry_fail(p, e, "not a node name (" NMM_NAME_RULE ")");
		else if (!nmm_valid_hw(e->hw, strlen(e->hw)))
			entry_fail(p, e, "hw-id \"%.80s\" is not 1-64 printable characters without spaces", e->hw);
	}
	qsort(sorted, p->n, sizeof *sorted, cmp_entry_name);
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0 && !sorted[i]->skip)
			entry_fail(p, sorted[i], "given twice (line %zu and line %zu)", sorted[i - 1]->line, sorted[i]->line);
	free(sorted);
	return AKM_RC_OK;
}

/* A failure of the token itself, not of one node's values. */
static bool fatal_rv(CK_RV rv)
{
	switch (rv) {
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_READ_ONLY:
	case CKR_TEMPLATE_INCOMPLETE:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_KEY_SIZE_RANGE:
	case CKR_ARGUMENTS_BAD:
	case CKR_FUNCTION_FAILED:
		return false;
	default:
		return true;
	}
}

enum { NATTR = 10 };

typedef struct pr_template {
	CK_ULONG kind, state, delivery;
	CK_ATTRIBUTE a[NATTR + 1];
	CK_ULONG n;
} pr_template;

static void template_fill(pr_template *t, nmm_station *s, const char *site, const char *name, const uint8_t *hw,
                          size_t hw_len, const uint8_t *pr_id, const uint8_t *node_id, CK_ULONG state,
                          const uint8_t *node_key, CK_ULONG delivery)
{
	t->kind = CKV_AKM_KIND_PROVISIONING;
	t->state = state;
	t->delivery = delivery;
	CK_ULONG n = 0;
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_KIND, &t->kind, sizeof t->kind};
	t->a[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)name, strlen(name)};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, (void *)node_id, 16};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_RELATIONSHIP_ID, (void *)pr_id, 16};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, (void *)hw, hw_len};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_STATION_ID, s->id, s->id_len};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_SITE, (void *)site, strlen(site)};
	t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_STATE, &t->state, sizeof t->state};
	if (node_key != NULL)
		t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_NODE_KEY, (void *)node_key, AKM_FMT_POINT_LEN};
	if (delivery != 0) /* else the module's default, node-key */
		t->a[n++] = (CK_ATTRIBUTE){CKA_AKM_DELIVERY, &t->delivery, sizeof t->delivery};
	t->n = n;
}

/* Node e is in the station already (`have`), found before creating it or,
 * `meanwhile`, made by another run while this one was creating it: with
 * the same hw-id and delivery it is counted as present, not created by
 * this run; otherwise it fails, named. */
static void found_present(nmm_plan *p, nmm_plan_entry *e, const nmm_node *have, bool meanwhile)
{
	size_t hl = strlen(e->hw);
	bool same_hw = have->hw_len == hl && memcmp(have->hw, e->hw, hl) == 0;
	CK_ULONG want = p->delivery ? p->delivery : CKV_AKM_DELIVERY_NODE_KEY;
	const char *when = meanwhile ? " (by another run meanwhile)" : "";
	if (have->state == CKV_AKM_STATE_PENDING) {
		/* A self-enrollment holds the name: say so, not "present". */
		char fp[65] = "none";
		if (have->has_node_key) {
			uint8_t d[32];
			crypto_hash_sha256(d, have->node_key, sizeof have->node_key);
			akm_hex_encode(d, sizeof d, fp);
		}
		entry_fail(p, e,
		           "a pending enrollment request%s holds this name (hw-id %.*s, node key fingerprint %s): "
		           "approve it (akm-nmm approve %s) if it is this node, or reject it (akm-nmm reject %s) and "
		           "provision the node under another name",
		           when, (int)have->hw_len, (const char *)have->hw, fp, e->name, e->name);
	} else if (same_hw && have->delivery == want) {
		e->skip = true;
		e->present = true;
		e->meanwhile = meanwhile;
		p->present++;
	} else if (same_hw) {
		entry_fail(p, e, "already provisioned%s for %s delivery", when, nmm_delivery_name(have->delivery));
	} else {
		entry_fail(p, e, "already provisioned%s with another hw-id (%.*s)", when, (int)have->hw_len,
		           (const char *)have->hw);
	}
}

/* The token refused to create node e with `rv`.  Another run may have made
 * it in the meantime: the store's unique relationship-key labels
 * ("<name>/enc", "/mac") refuse a second one inside the creating
 * transaction with CKR_ATTRIBUTE_VALUE_INVALID.  Present: as
 * found_present says; absent: the token's refusal.  Returns 0, or
 * AKM_RC_TOKEN (reported). */
static int creation_refused(nmm_station *s, nmm_plan *p, nmm_plan_entry *e, CK_RV rv)
{
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
		nmm_node have;
		int r = nmm_node_lookup(s, e->name, &have);
		if (r < 0)
			return akm_report(AKM_RC_TOKEN, e->name, "%s", s->p.err);
		if (r > 0) {
			found_present(p, e, &have, true);
			return AKM_RC_OK;
		}
	}
	entry_fail(p, e, "refused by the token: C_GenerateKey: %s", akm_rv_name(rv));
	return AKM_RC_OK;
}

/* Creates the relationships of chunk[0..n): one batch transaction, or one
 * by one when the batch is refused.  Returns 0, or AKM_RC_TOKEN. */
static int create_chunk(nmm_station *s, nmm_plan *p, nmm_plan_entry **chunk, size_t n, pr_template *t, CK_ATTRIBUTE **tmpls,
                        CK_ULONG *counts, CK_OBJECT_HANDLE *keys, const char *site)
{
	for (size_t i = 0; i < n; i++) {
		randombytes_buf(chunk[i]->pr_id, sizeof chunk[i]->pr_id);
		randombytes_buf(chunk[i]->node_id, sizeof chunk[i]->node_id);
		template_fill(&t[i], s, site, chunk[i]->name, (const uint8_t *)chunk[i]->hw, strlen(chunk[i]->hw),
		              chunk[i]->pr_id, chunk[i]->node_id, CKV_AKM_STATE_ACTIVE, NULL, p->delivery);
		tmpls[i] = t[i].a;
		counts[i] = t[i].n;
	}
	bool done = false;
	if (n > 1) {
		CK_AKM_BATCH_GEN_PARAMS batch = {(CK_ULONG)n, tmpls, counts, keys};
		CK_MECHANISM mech = {CKM_AKM_RELATIONSHIP_BATCH_GEN, &batch, sizeof batch};
		CK_OBJECT_HANDLE first;
		CK_RV rv = s->p.f->C_GenerateKey(s->p.session, &mech, NULL, 0, &first);
		if (rv == CKR_OK)
			done = true;
		else if (rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_REMOVED ||
		         rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_CRYPTOKI_NOT_INITIALIZED)
			return akm_report(AKM_RC_TOKEN, "provision", "C_GenerateKey(CKM_AKM_RELATIONSHIP_BATCH_GEN): %s",
			                akm_rv_name(rv));
	}
	for (size_t i = 0; i < n; i++) {
		if (!done && akm_interrupted())
			break; /* one by one: the node in hand was finished */
		if (!done) {
			CK_MECHANISM mech = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
			CK_RV rv = s->p.f->C_GenerateKey(s->p.session, &mech, tmpls[i], counts[i], &keys[i]);
			if (rv != CKR_OK) {
				if (fatal_rv(rv))
					return akm_report(AKM_RC_TOKEN, chunk[i]->name, "C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN): %s",
					                akm_rv_name(rv));
				if (creation_refused(s, p, chunk[i], rv) != AKM_RC_OK)
					return AKM_RC_TOKEN;
				continue;
			}
		}
		p->provisioned++;
		/* The module recorded "create" for each relationship (bound to its
		 * hardware value, in the station's set); the station adds where and
		 * for whom: one record per node made one by one, one per batch
		 * transaction otherwise (a record is a transaction of its own). */
		if (!done && nmm_audit(s, "provision", chunk[i]->pr_id, 16, CKR_OK, "node=%s; hw=%s", chunk[i]->name,
		                       chunk[i]->hw) != CKR_OK)
			return AKM_RC_TOKEN;
	}
	if (done && nmm_audit(s, "provision", NULL, 0, CKR_OK, "nodes=%zu; first=%s; last=%s", n, chunk[0]->name,
	                      chunk[n - 1]->name) != CKR_OK)
		return AKM_RC_TOKEN;
	return AKM_RC_OK;
}

int nmm_provision(nmm_station *s, nmm_plan *p)
{
	char site[2 * NMM_SITE_MAX + 32];
	nmm_station_site(s, site, sizeof site);
	pr_template *t = malloc(NMM_PROVISION_BATCH * sizeof *t);
	CK_ATTRIBUTE **tmpls = malloc(NMM_PROVISION_BATCH * sizeof *tmpls);
	CK_ULONG *counts = malloc(NMM_PROVISION_BATCH * sizeof *counts);
	CK_OBJECT_HANDLE *keys = malloc(NMM_PROVISION_BATCH * sizeof *keys);
	nmm_plan_entry **chunk = malloc(NMM_PROVISION_BATCH * sizeof *chunk);
	int code = AKM_RC_OK;
	if (!t || !tmpls || !counts || !keys || !chunk) {
		code = akm_report(AKM_RC_FILES, "provision", "out of memory");
		goto out;
	}
	akm_progress bar;
	akm_progress_start(&bar, "provisioning", p->n);
	size_t nchunk = 0, made = 0;
	for (size_t i = 0; i <= p->n && code == AKM_RC_OK; i++) {
		if (akm_interrupted())
			break; /* the batch gathered so far is not started */
		/* A generated plan: the batch gathered in the window made, then
		 * the next window. */
		if (p->prefix != NULL && i < p->n && i == p->base + p->nwin) {
			if (nchunk > 0) {
				size_t before = p->provisioned;
				code = create_chunk(s, p, chunk, nchunk, t, tmpls, counts, keys, site);
				made += p->provisioned - before;
				nchunk = 0;
			}
			if (code != AKM_RC_OK || (code = plan_window(p, i)) != AKM_RC_OK)
				break;
		}
		if (p->reopen != NULL && made >= (p->reopen_every ? p->reopen_every : NMM_REOPEN_EVERY)) {
			akm_note("provision", "%zu nodes made: finalising the token and opening it again (the backend frees "
			         "what the run accumulated only then)", p->provisioned);
			if ((code = p->reopen(s, p->reopen_ctx)) != AKM_RC_OK)
				break;
			made = 0;
		}
		if (i < p->n) {
			nmm_plan_entry *e = &p->e[p->prefix != NULL ? i - p->base : i];
			if (e->skip)
				continue;
			nmm_node have;
			int r = nmm_node_lookup(s, e->name, &have);
			if (r < 0) {
				code = akm_report(AKM_RC_TOKEN, e->name, "%s", s->p.err);
				break;
			}
			if (r > 0) {
				found_present(p, e, &have, false);
				continue;
			}
			chunk[nchunk++] = e;
			if (nchunk < NMM_PROVISION_BATCH)
				continue;
		}
		if (nchunk > 0) {
			size_t before = p->provisioned;
			code = create_chunk(s, p, chunk, nchunk, t, tmpls, counts, keys, site);
			made += p->provisioned - before;
			nchunk = 0;
		}
		akm_progress_update(&bar, i);
	}
	akm_progress_end(&bar);
	if (p->prefix != NULL && plan_keep(p) != AKM_RC_OK && code == AKM_RC_OK)
		code = AKM_RC_FILES;
	/* Stopped before every node was settled: interrupted. */
	if (code == AKM_RC_OK && akm_interrupted() && p->provisioned + p->present + p->failed < p->n) {
		p->interrupted = akm_interrupted();
		code = p->interrupted == SIGTERM ? AKM_RC_TERMINATED : AKM_RC_INTERRUPTED;
	}
out:
	free(t);
	free(tmpls);
	free(counts);
	free(keys);
	free(chunk);
	return code;
}


void nmm_plan_free(nmm_plan *p)
{
	for (size_t i = 0; i < (p->prefix != NULL ? p->nwin : p->n); i++)
		free(p->e[i].error);
	for (size_t i = 0; i < p->nkept; i++) {
		free(p->kept[i].error);
		free(p->kept[i].own_name);
	}
	free(p->kept);
	free(p->e);
	free(p->arena);
	memset(p, 0, sizeof *p);
}

/* ---- enrollment ---- */

int nmm_enroll_read(const char *path, nmm_enrollment *e)
{
	memset(e, 0, sizeof *e);
	e->path = path;
	uint8_t *buf;
	size_t len;
	int code = nmm_read_file("enroll", path, 4096, &buf, &len);
	if (code != 0)
		return code;
	size_t signed_len = 0;
	akm_fmt_rc frc = akm_request_parse(buf, len, &e->r, &signed_len);
	crypto_hash_sha256(e->file_hash, buf, len);
	if (frc == AKM_FMT_OK)
		crypto_hash_sha256(e->digest, buf, signed_len);
	free(buf);
	if (frc != AKM_FMT_OK)
		return akm_report(AKM_RC_REFUSED, "enroll", "%s is not a valid enrollment request: %s", path,
		                  akm_fmt_strerror(frc));
	if (!nmm_valid_name(e->r.name))
		return akm_report(AKM_RC_REFUSED, "enroll", "%s: the node name is not " NMM_NAME_RULE, path);
	if (!nmm_valid_hw((const char *)e->r.hw, e->r.hw_len))
		return akm_report(AKM_RC_REFUSED, "enroll", "%s: the hw-id is not 1-64 printable characters without spaces",
		                  path);
	return AKM_RC_OK;
}

int nmm_enroll(nmm_station *s, const nmm_enrollment *e, nmm_enrolled *out)
{
	const akm_request *r = &e->r;
	int v = akm_p11_verify_digest(&s->p, r->node_point, e->digest, r->sig);
	if (v < 0)
		return akm_report(AKM_RC_TOKEN, "enroll", "%s", s->p.err);
	if (v > 0)
		return akm_report(AKM_RC_REFUSED, "enroll", "%s: the request's self-signature does not verify", e->path);
	nmm_node have;
	int found = nmm_node_lookup(s, r->name, &have);
	if (found < 0)
		return akm_report(AKM_RC_TOKEN, "enroll", "%s", s->p.err);
	if (found > 0)
		return akm_report(AKM_RC_REFUSED, r->name, "a node of this name is already %s in this station",
		                  have.state == CKV_AKM_STATE_PENDING ? "enrolled" : "provisioned");
	char site[2 * NMM_SITE_MAX + 32];
	nmm_station_site(s, site, sizeof site);
	memcpy(out->hw, r->hw, r->hw_len);
	out->hw[r->hw_len] = '\0';
	randombytes_buf(out->pr_id, sizeof out->pr_id);
	randombytes_buf(out->node_id, sizeof out->node_id);
	pr_template t;
	/* The node proved it holds its key: its keys go to that key only. */
	template_fill(&t, s, site, r->name, r->hw, r->hw_len, out->pr_id, out->node_id, CKV_AKM_STATE_PENDING,
	              r->node_point, CKV_AKM_DELIVERY_NODE_KEY);
	CK_MECHANISM mech = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_OBJECT_HANDLE key;
	CK_RV rv = s->p.f->C_GenerateKey(s->p.session, &mech, t.a, t.n, &key);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
		/* Another run enrolled or provisioned this name meanwhile (the
		 * token refuses a second key of that label): the answer of the
		 * check above, given now. */
		found = nmm_node_lookup(s, r->name, &have);
		if (found < 0)
			return akm_report(AKM_RC_TOKEN, "enroll", "%s", s->p.err);
		if (found > 0)
			return akm_report(AKM_RC_REFUSED, r->name, "a node of this name is already %s in this station",
			                  have.state == CKV_AKM_STATE_PENDING ? "enrolled" : "provisioned");
	}
	if (rv != CKR_OK)
		return akm_report(fatal_rv(rv) ? AKM_RC_TOKEN : AKM_RC_REFUSED, r->name,
		                  "C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN): %s", akm_rv_name(rv));
	char fh[65];
	akm_hex_encode(e->file_hash, sizeof e->file_hash, fh);
	uint8_t kd[32];
	crypto_hash_sha256(kd, r->node_point, sizeof r->node_point);
	akm_hex_encode(kd, sizeof kd, out->key_fingerprint);
	if (nmm_audit(s, "enroll", out->pr_id, sizeof out->pr_id, CKR_OK, "node=%s; hw=%s; request=%s", r->name,
	              out->hw, fh) != CKR_OK)
		return AKM_RC_TOKEN;
	return AKM_RC_OK;
}

/*
 * akm-nmm init, anchor, provision, enroll, approve, reject (docs/akm-nmm.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/rv.h"
#include "out.h"

/* Text given on the command line for the records: printable UTF-8, no
 * control characters. */
static bool valid_text(const char *t, size_t max)
{
	size_t n = strlen(t);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7F)
			return false;
	return true;
}

static void fingerprint(const uint8_t *data, size_t len, char out[65])
{
	uint8_t h[32];
	crypto_hash_sha256(h, data, len);
	nmm_hex(h, sizeof h, out);
}

static int write_anchor(const char *what, const nmm_station *s, const char *path, char fp[65])
{
	uint8_t buf[256];
	size_t len = 0;
	if (nmm_station_anchor(s, buf, sizeof buf, &len) != 0)
		return nmm_fail(NMM_TOKEN, what, "cannot encode the station anchor");
	fingerprint(buf, len, fp);
	if (path == NULL)
		return NMM_OK;
	char err[512];
	if (akm_write_atomic(NULL, path, buf, len, 0644, err, sizeof err) != 0)
		return nmm_fail(nmm_files_code(errno), what, "%s", err);
	return NMM_OK;
}

/* ---- init ---- */

int nmm_cmd_init(nmm_opts *o)
{
	nmm_station s;
	memset(&s, 0, sizeof s);
	if (o->station_id) {
		if (akm_hex_decode(o->station_id, s.id, sizeof s.id, &s.id_len) != 0 || s.id_len == 0)
			return nmm_fail(NMM_USAGE, "init", "--station-id must be 1 to %d bytes in hex", AKM_FMT_ID_MAX);
	} else {
		s.id_len = 16;
		randombytes_buf(s.id, s.id_len);
	}
	const char *site = o->site ? o->site : "", *location = o->location ? o->location : "";
	if (!valid_text(site, NMM_SITE_MAX))
		return nmm_fail(NMM_USAGE, "init", "--site must be at most %d bytes of text without control characters",
		                NMM_SITE_MAX);
	if (!valid_text(location, NMM_SITE_MAX))
		return nmm_fail(NMM_USAGE, "init",
		                "--location must be at most %d bytes of text without control characters", NMM_SITE_MAX);
	snprintf(s.site, sizeof s.site, "%s", site);
	snprintf(s.location, sizeof s.location, "%s", location);
	int code;
	if (o->anchor_out && (code = nmm_check_target("init", o->anchor_out)) != NMM_OK)
		return code;

	if ((code = nmm_token_open(o, &s.p)) != NMM_OK)
		return code;
	s.open = true;
	nmm_station existing;
	memset(&existing, 0, sizeof existing);
	existing.p = s.p;
	code = nmm_station_read(&existing);
	if (code == NMM_OK) {
		char hex[2 * AKM_FMT_ID_MAX + 1];
		nmm_hex(existing.id, existing.id_len, hex);
		code = nmm_fail(NMM_REFUSED, "init", "this token already holds station %s", hex);
		goto out;
	}
	if (code != NMM_NOT_FOUND)
		goto out;
	/* A key pair left by an init that was interrupted is replaced. */
	CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	for (size_t i = 0; i < 2; i++) {
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &classes[i], sizeof classes[i]},
			{CKA_ID, (void *)NMM_STATION_KEY_ID, strlen(NMM_STATION_KEY_ID)},
		};
		CK_OBJECT_HANDLE h[4];
		size_t n = 0;
		if (akm_p11_find(&s.p, t, 2, h, 4, &n) == 0)
			for (size_t k = 0; k < n; k++)
				s.p.f->C_DestroyObject(s.p.session, h[k]);
	}
	if (akm_p11_ec_generate(&s.p, true, NMM_STATION_LABEL, (const uint8_t *)NMM_STATION_KEY_ID,
	                        strlen(NMM_STATION_KEY_ID), &s.pub, &s.priv) != 0 ||
	    akm_p11_ec_point(&s.p, s.pub, s.point) != 0) {
		code = nmm_fail(NMM_TOKEN, "init", "%s", s.p.err);
		goto out;
	}
	char hex[2 * AKM_FMT_ID_MAX + 1];
	nmm_hex(s.id, s.id_len, hex);
	s.created = (uint64_t)time(NULL);
	char value[2 * NMM_SITE_MAX + 200];
	int vlen = snprintf(value, sizeof value, "station-id=%s\nsite=%s\nlocation=%s\ncreated=%llu\n", hex, s.site,
	                    s.location, (unsigned long long)s.created);
	CK_OBJECT_CLASS data_class = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &data_class, sizeof data_class},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_PRIVATE, &yes, sizeof yes},
		{CKA_APPLICATION, (void *)NMM_APPLICATION, strlen(NMM_APPLICATION)},
		{CKA_LABEL, (void *)NMM_STATION_LABEL, strlen(NMM_STATION_LABEL)},
		{CKA_VALUE, value, (CK_ULONG)vlen},
	};
	CK_OBJECT_HANDLE data;
	CK_RV rv = s.p.f->C_CreateObject(s.p.session, t, 6, &data);
	if (rv != CKR_OK) {
		s.p.f->C_DestroyObject(s.p.session, s.priv);
		s.p.f->C_DestroyObject(s.p.session, s.pub);
		code = nmm_fail(NMM_TOKEN, "init", "C_CreateObject (station record): %s", akm_rv_name(rv));
		goto out;
	}
	char fp[65];
	if ((code = write_anchor("init", &s, o->anchor_out, fp)) != NMM_OK)
		goto out;
	nmm_audit(&s, "init", NULL, 0, CKR_OK, "station-id=%s", hex);
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_kv_string(&j, "site", s.site);
		akm_json_kv_string(&j, "location", s.location);
		akm_json_kv_uint(&j, "created", s.created);
		akm_json_kv_string(&j, "anchor_fingerprint", fp);
		akm_json_kv_string(&j, "anchor_file", o->anchor_out);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("station ID: %s\nanchor fingerprint: %s\n", hex, fp);
		if (o->anchor_out)
			printf("anchor written to %s\n", o->anchor_out);
	}
	code = NMM_OK;
out:
	nmm_station_close(&s);
	return code;
}

/* ---- anchor ---- */

int nmm_cmd_anchor(nmm_opts *o)
{
	if (o->out == NULL)
		return nmm_fail(NMM_USAGE, "anchor", "--out FILE is required");
	int code = nmm_check_target("anchor", o->out);
	if (code != NMM_OK)
		return code;
	nmm_station s;
	if ((code = nmm_station_open(o, &s)) != NMM_OK)
		return code;
	char fp[65];
	code = write_anchor("anchor", &s, o->out, fp);
	if (code == NMM_OK) {
		if (o->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
			akm_json_kv_string(&j, "anchor_fingerprint", fp);
			akm_json_kv_string(&j, "anchor_file", o->out);
			akm_json_object_end(&j);
			akm_json_finish(&j);
		} else {
			printf("anchor fingerprint: %s\nanchor written to %s\n", fp, o->out);
		}
	}
	nmm_station_close(&s);
	return code;
}

/* ---- provision ---- */

typedef struct entry {
	const char *name, *hw;
	size_t line;
	char *error;       /* malloc'd: why it failed */
	bool skip;         /* present already, or failed */
	uint8_t pr_id[16], node_id[16];
} entry;

typedef struct plan {
	entry *e;
	size_t n, cap;
	char *arena;       /* the batch file or the generated names */
	size_t provisioned, present, failed;
} plan;

static int plan_add(plan *p, const char *name, const char *hw, size_t line)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 1024;
		entry *bigger = realloc(p->e, cap * sizeof *bigger);
		if (bigger == NULL)
			return -1;
		p->e = bigger;
		p->cap = cap;
	}
	entry *e = &p->e[p->n++];
	memset(e, 0, sizeof *e);
	e->name = name;
	e->hw = hw;
	e->line = line;
	return 0;
}

static void entry_fail(plan *p, entry *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void entry_fail(plan *p, entry *e, const char *fmt, ...)
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
static int plan_from_file(plan *p, const char *path)
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
			if (plan_add(p, fields[0], nf >= 2 ? fields[1] : "", line) != 0)
				return nmm_fail(NMM_FILES, "provision", "out of memory");
			if (nf != 2)
				entry_fail(p, &p->e[p->n - 1], "%s line %zu: expected \"NAME HWID\", found %d field%s", path,
				           line, nf, nf == 1 ? "" : "s");
		}
		s = next;
	}
	return NMM_OK;
}

static int plan_from_count(plan *p, unsigned long count, const char *prefix)
{
	size_t plen = strlen(prefix);
	size_t per = 2 * (plen + 24 + 4);
	p->arena = malloc(per * count + 1);
	if (p->arena == NULL)
		return nmm_fail(NMM_FILES, "provision", "out of memory for %lu nodes", count);
	for (unsigned long i = 1; i <= count; i++) {
		char *name = p->arena + per * (i - 1), *hw = name + per / 2;
		snprintf(name, per / 2, "%s%06lu", prefix, i);
		snprintf(hw, per / 2, "hw-%s%06lu", prefix, i);
		if (plan_add(p, name, hw, i) != 0)
			return nmm_fail(NMM_FILES, "provision", "out of memory");
	}
	return NMM_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
	const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/* Names and hw-ids checked; the second of two equal names fails. */
static int plan_check(plan *p)
{
	entry **sorted = malloc((p->n ? p->n : 1) * sizeof *sorted);
	if (sorted == NULL)
		return nmm_fail(NMM_FILES, "provision", "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		entry *e = &p->e[i];
		sorted[i] = e;
		if (e->skip)
			continue;
		if (!nmm_valid_name(e->name))
			entry_fail(p, e, "not a node name (1-64 characters of A-Z a-z 0-9 . _ -)");
		else if (!nmm_valid_hw(e->hw, strlen(e->hw)))
			entry_fail(p, e, "hw-id \"%.80s\" is not 1-64 printable characters without spaces", e->hw);
	}
	qsort(sorted, p->n, sizeof *sorted, cmp_entry_name);
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0 && !sorted[i]->skip)
			entry_fail(p, sorted[i], "given twice (line %zu and line %zu)", sorted[i - 1]->line, sorted[i]->line);
	free(sorted);
	return NMM_OK;
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

enum { NATTR = 9 };

typedef struct pr_template {
	CK_ULONG kind, state;
	CK_ATTRIBUTE a[NATTR + 1];
	CK_ULONG n;
} pr_template;

static void template_fill(pr_template *t, nmm_station *s, const char *site, const char *name, const uint8_t *hw,
                          size_t hw_len, const uint8_t *pr_id, const uint8_t *node_id, CK_ULONG state,
                          const uint8_t *node_key)
{
	t->kind = CKV_AKM_KIND_PROVISIONING;
	t->state = state;
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
	t->n = n;
}

#define CHUNK 250

/* Creates the relationships of chunk[0..n): one batch transaction, or one
 * by one when the batch is refused.  Returns 0, or NMM_TOKEN. */
static int create_chunk(nmm_station *s, plan *p, entry **chunk, size_t n, pr_template *t, CK_ATTRIBUTE **tmpls,
                        CK_ULONG *counts, CK_OBJECT_HANDLE *keys, const char *site)
{
	for (size_t i = 0; i < n; i++) {
		randombytes_buf(chunk[i]->pr_id, sizeof chunk[i]->pr_id);
		randombytes_buf(chunk[i]->node_id, sizeof chunk[i]->node_id);
		template_fill(&t[i], s, site, chunk[i]->name, (const uint8_t *)chunk[i]->hw, strlen(chunk[i]->hw),
		              chunk[i]->pr_id, chunk[i]->node_id, CKV_AKM_STATE_ACTIVE, NULL);
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
			return nmm_fail(NMM_TOKEN, "provision", "C_GenerateKey(CKM_AKM_RELATIONSHIP_BATCH_GEN): %s",
			                akm_rv_name(rv));
	}
	for (size_t i = 0; i < n; i++) {
		if (!done) {
			CK_MECHANISM mech = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
			CK_RV rv = s->p.f->C_GenerateKey(s->p.session, &mech, tmpls[i], counts[i], &keys[i]);
			if (rv != CKR_OK) {
				if (fatal_rv(rv))
					return nmm_fail(NMM_TOKEN, chunk[i]->name, "C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN): %s",
					                akm_rv_name(rv));
				entry_fail(p, chunk[i], "refused by the token: C_GenerateKey: %s", akm_rv_name(rv));
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
			return NMM_TOKEN;
	}
	if (done && nmm_audit(s, "provision", NULL, 0, CKR_OK, "nodes=%zu; first=%s; last=%s", n, chunk[0]->name,
	                      chunk[n - 1]->name) != CKR_OK)
		return NMM_TOKEN;
	return NMM_OK;
}

static int provision_run(nmm_station *s, plan *p)
{
	char site[2 * NMM_SITE_MAX + 32];
	nmm_station_site(s, site, sizeof site);
	pr_template *t = malloc(CHUNK * sizeof *t);
	CK_ATTRIBUTE **tmpls = malloc(CHUNK * sizeof *tmpls);
	CK_ULONG *counts = malloc(CHUNK * sizeof *counts);
	CK_OBJECT_HANDLE *keys = malloc(CHUNK * sizeof *keys);
	entry **chunk = malloc(CHUNK * sizeof *chunk);
	int code = NMM_OK;
	if (!t || !tmpls || !counts || !keys || !chunk) {
		code = nmm_fail(NMM_FILES, "provision", "out of memory");
		goto out;
	}
	akm_progress bar;
	akm_progress_start(&bar, "provisioning", p->n);
	size_t nchunk = 0;
	for (size_t i = 0; i <= p->n && code == NMM_OK; i++) {
		if (i < p->n) {
			entry *e = &p->e[i];
			if (e->skip)
				continue;
			nmm_node have;
			int r = nmm_node_lookup(s, e->name, &have);
			if (r < 0) {
				code = nmm_fail(NMM_TOKEN, e->name, "%s", s->p.err);
				break;
			}
			if (r > 0) {
				size_t hl = strlen(e->hw);
				if (have.hw_len == hl && memcmp(have.hw, e->hw, hl) == 0) {
					e->skip = true;
					p->present++;
				} else {
					entry_fail(p, e, "already provisioned with another hw-id (%.*s)", (int)have.hw_len,
					           (const char *)have.hw);
				}
				continue;
			}
			chunk[nchunk++] = e;
			if (nchunk < CHUNK)
				continue;
		}
		if (nchunk > 0) {
			code = create_chunk(s, p, chunk, nchunk, t, tmpls, counts, keys, site);
			nchunk = 0;
		}
		akm_progress_update(&bar, i);
	}
	akm_progress_end(&bar);
out:
	free(t);
	free(tmpls);
	free(counts);
	free(keys);
	free(chunk);
	return code;
}

int nmm_cmd_provision(nmm_opts *o)
{
	int modes = (o->node != NULL) + (o->batch != NULL) + (o->count_set ? 1 : 0);
	if (modes != 1)
		return nmm_fail(NMM_USAGE, "provision", "give one of --node NAME --hw-id VALUE, --batch FILE, --count N");
	if ((o->node != NULL) != (o->hw_id != NULL))
		return nmm_fail(NMM_USAGE, "provision", "--node and --hw-id go together");
	if (o->prefix && !o->count_set)
		return nmm_fail(NMM_USAGE, "provision", "--prefix goes with --count");
	if (o->count_set && (o->count < 1 || o->count > 10000000UL))
		return nmm_fail(NMM_USAGE, "provision", "--count must be 1 to 10000000");
	plan p;
	memset(&p, 0, sizeof p);
	int code = NMM_OK;
	if (o->node)
		code = plan_add(&p, o->node, o->hw_id, 0) == 0 ? NMM_OK : nmm_fail(NMM_FILES, "provision", "out of memory");
	else if (o->batch)
		code = plan_from_file(&p, o->batch);
	else
		code = plan_from_count(&p, o->count, o->prefix ? o->prefix : "node-");
	if (code == NMM_OK)
		code = plan_check(&p);
	nmm_station s;
	if (code == NMM_OK && (code = nmm_station_open(o, &s)) == NMM_OK) {
		code = provision_run(&s, &p);
		nmm_station_close(&s);
	}
	if (code == NMM_OK) {
		for (size_t i = 0; i < p.n; i++)
			if (p.e[i].error)
				nmm_fail(0, p.e[i].name, "%s", p.e[i].error);
		if (o->json) {
			akm_json j;
			akm_json_init(&j, stdout);
			akm_json_object_begin(&j);
			akm_json_kv_uint(&j, "provisioned", p.provisioned);
			akm_json_kv_uint(&j, "present", p.present);
			akm_json_key(&j, "failed");
			akm_json_array_begin(&j);
			for (size_t i = 0; i < p.n; i++) {
				if (!p.e[i].error)
					continue;
				akm_json_object_begin(&j);
				akm_json_kv_string(&j, "node", p.e[i].name);
				akm_json_kv_string(&j, "error", p.e[i].error);
				akm_json_object_end(&j);
			}
			akm_json_array_end(&j);
			akm_json_object_end(&j);
			akm_json_finish(&j);
		} else {
			printf("provisioned %zu, already present %zu, failed %zu\n", p.provisioned, p.present, p.failed);
		}
		code = p.failed ? NMM_REFUSED : NMM_OK;
	}
	for (size_t i = 0; i < p.n; i++)
		free(p.e[i].error);
	free(p.e);
	free(p.arena);
	return code;
}

/* ---- enroll, approve, reject ---- */

int nmm_cmd_enroll(nmm_opts *o)
{
	const char *path = o->args[0];
	uint8_t *buf;
	size_t len;
	int code = nmm_read_file("enroll", path, 4096, &buf, &len);
	if (code != 0)
		return code;
	akm_request r;
	size_t signed_len = 0;
	akm_fmt_rc frc = akm_request_parse(buf, len, &r, &signed_len);
	uint8_t digest[32], file_hash[32];
	crypto_hash_sha256(file_hash, buf, len);
	if (frc == AKM_FMT_OK)
		crypto_hash_sha256(digest, buf, signed_len);
	free(buf);
	if (frc != AKM_FMT_OK)
		return nmm_fail(NMM_REFUSED, "enroll", "%s is not a valid enrollment request: %s", path,
		                akm_fmt_strerror(frc));
	if (!nmm_valid_name(r.name))
		return nmm_fail(NMM_REFUSED, "enroll", "%s: the node name is not 1-64 characters of A-Z a-z 0-9 . _ -", path);
	if (!nmm_valid_hw((const char *)r.hw, r.hw_len))
		return nmm_fail(NMM_REFUSED, "enroll", "%s: the hw-id is not 1-64 printable characters without spaces", path);
	nmm_station s;
	if ((code = nmm_station_open(o, &s)) != NMM_OK)
		return code;
	int v = akm_p11_verify_digest(&s.p, r.node_point, digest, r.sig);
	if (v < 0) {
		code = nmm_fail(NMM_TOKEN, "enroll", "%s", s.p.err);
		goto out;
	}
	if (v > 0) {
		code = nmm_fail(NMM_REFUSED, "enroll", "%s: the request's self-signature does not verify", path);
		goto out;
	}
	nmm_node have;
	int r2 = nmm_node_lookup(&s, r.name, &have);
	if (r2 < 0) {
		code = nmm_fail(NMM_TOKEN, "enroll", "%s", s.p.err);
		goto out;
	}
	if (r2 > 0) {
		code = nmm_fail(NMM_REFUSED, r.name, "a node of this name is already %s in this station",
		                have.state == CKV_AKM_STATE_PENDING ? "enrolled" : "provisioned");
		goto out;
	}
	char site[2 * NMM_SITE_MAX + 32], hw[AKM_FMT_HW_MAX + 1];
	nmm_station_site(&s, site, sizeof site);
	memcpy(hw, r.hw, r.hw_len);
	hw[r.hw_len] = '\0';
	uint8_t pr_id[16], node_id[16];
	randombytes_buf(pr_id, sizeof pr_id);
	randombytes_buf(node_id, sizeof node_id);
	pr_template t;
	template_fill(&t, &s, site, r.name, r.hw, r.hw_len, pr_id, node_id, CKV_AKM_STATE_PENDING, r.node_point);
	CK_MECHANISM mech = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_OBJECT_HANDLE key;
	CK_RV rv = s.p.f->C_GenerateKey(s.p.session, &mech, t.a, t.n, &key);
	if (rv != CKR_OK) {
		code = nmm_fail(fatal_rv(rv) ? NMM_TOKEN : NMM_REFUSED, r.name,
		                "C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN): %s", akm_rv_name(rv));
		goto out;
	}
	char fh[65], kh[65];
	nmm_hex(file_hash, sizeof file_hash, fh);
	uint8_t kd[32];
	crypto_hash_sha256(kd, r.node_point, sizeof r.node_point);
	nmm_hex(kd, sizeof kd, kh);
	if (nmm_audit(&s, "enroll", pr_id, sizeof pr_id, CKR_OK, "node=%s; hw=%s; request=%s", r.name, hw, fh) != CKR_OK) {
		code = NMM_TOKEN;
		goto out;
	}
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", r.name);
		akm_json_kv_string(&j, "state", "pending");
		akm_json_kv_string(&j, "hw_id", hw);
		akm_json_kv_hex(&j, "node_id", node_id, sizeof node_id);
		akm_json_kv_hex(&j, "pr_id", pr_id, sizeof pr_id);
		akm_json_kv_string(&j, "node_key_fingerprint", kh);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("enrolled %s (hw-id %s), pending approval\nnode key fingerprint: %s\n", r.name, hw, kh);
	}
	code = NMM_OK;
out:
	nmm_station_close(&s);
	return code;
}

static int change_state(nmm_opts *o, CK_ULONG to, const char *action)
{
	const char *name = o->args[0];
	if (o->reason && !valid_text(o->reason, 200))
		return nmm_fail(NMM_USAGE, action, "--reason must be at most 200 bytes of text without control characters");
	nmm_station s;
	int code = nmm_station_open(o, &s);
	if (code != NMM_OK)
		return code;
	nmm_node n;
	if ((code = nmm_node_find(&s, name, &n)) != NMM_OK)
		goto out;
	if (to == CKV_AKM_STATE_ACTIVE && n.state != CKV_AKM_STATE_PENDING) {
		code = nmm_fail(NMM_REFUSED, name, "not pending approval (it is %s)", nmm_state_name(n.state));
		goto out;
	}
	if (to == CKV_AKM_STATE_REVOKED && n.state == CKV_AKM_STATE_REVOKED) {
		code = nmm_fail(NMM_REFUSED, name, "already revoked");
		goto out;
	}
	CK_RV rv = nmm_node_set(&s, &n, CKA_AKM_STATE, to);
	if (rv != CKR_OK) {
		code = nmm_fail(rv == CKR_ATTRIBUTE_VALUE_INVALID ? NMM_REFUSED : NMM_TOKEN, name,
		                "C_SetAttributeValue(CKA_AKM_STATE): %s", akm_rv_name(rv));
		goto out;
	}
	if (o->reason)
		rv = nmm_audit_node(&s, &n, action, CKR_OK, "from=%s; reason=%s", nmm_state_name(n.state), o->reason);
	else
		rv = nmm_audit_node(&s, &n, action, CKR_OK, "from=%s", nmm_state_name(n.state));
	if (rv != CKR_OK) {
		code = NMM_TOKEN;
		goto out;
	}
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "node", name);
		akm_json_kv_string(&j, "state", nmm_state_name(to));
		akm_json_kv_string(&j, "previous_state", nmm_state_name(n.state));
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		printf("%s: %s\n", name, to == CKV_AKM_STATE_ACTIVE ? "approved (active)" : "rejected (revoked)");
	}
out:
	nmm_station_close(&s);
	return code;
}

int nmm_cmd_approve(nmm_opts *o)
{
	return change_state(o, CKV_AKM_STATE_ACTIVE, "approve");
}

int nmm_cmd_reject(nmm_opts *o)
{
	return change_state(o, CKV_AKM_STATE_REVOKED, "reject");
}

/*
 * akm-nmm list, show, audit (docs/akm-nmm.md): the station's nodes and the
 * audit trail, read through the module; audit --verify recomputes the
 * AKM-AUDIT-1 hash chain (docs/formats.md) from the audit record objects.
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/audit.h"
#include "lib/rv.h"
#include "out.h"

static void iso_time(CK_ULONG t, char out[32])
{
	if (t == 0) {
		snprintf(out, 32, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lu", (unsigned long)t);
}

static void json_node(akm_json *j, const nmm_node *n)
{
	akm_json_object_begin(j);
	akm_json_kv_string(j, "name", n->name);
	akm_json_kv_string(j, "state", nmm_state_name(n->state));
	akm_json_kv_string(j, "status", nmm_status_name(n->status));
	akm_json_kv_uint(j, "sequence", n->sequence);
	akm_json_key(j, "hw_id");
	akm_json_string_n(j, (const char *)n->hw, n->hw_len);
	akm_json_kv_hex(j, "node_id", n->node_id, n->node_id_len);
	akm_json_kv_hex(j, "pr_id", n->pr_id, n->pr_id_len);
	akm_json_kv_hex(j, "station_id", n->station_id, n->station_id_len);
	akm_json_kv_string(j, "site", n->site);
	akm_json_key(j, "node_key");
	if (n->has_node_key)
		akm_json_hex(j, n->node_key, sizeof n->node_key);
	else
		akm_json_null(j);
	akm_json_kv_uint(j, "created", n->created);
	akm_json_kv_uint(j, "changed", n->changed);
	akm_json_object_end(j);
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const nmm_node *)a)->name, ((const nmm_node *)b)->name);
}

int nmm_cmd_list(nmm_opts *o)
{
	nmm_station s;
	int code = nmm_station_open(o, &s);
	if (code != NMM_OK)
		return code;
	CK_OBJECT_HANDLE *keys = NULL;
	size_t count = 0;
	nmm_node *nodes = NULL;
	if (nmm_node_all(&s, o->pending ? CKV_AKM_STATE_PENDING : 0, &keys, &count) != 0) {
		code = nmm_fail(NMM_TOKEN, "list", "%s", s.p.err);
		goto out;
	}
	nodes = calloc(count ? count : 1, sizeof *nodes);
	if (nodes == NULL) {
		code = nmm_fail(NMM_FILES, "list", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		if (nmm_node_read(&s, keys[i], &nodes[i]) != 0) {
			code = nmm_fail(NMM_TOKEN, "list", "%s", s.p.err);
			goto out;
		}
	qsort(nodes, count, sizeof *nodes, cmp_node);
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_key(&j, "nodes");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < count; i++)
			json_node(&j, &nodes[i]);
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		akm_json_finish(&j);
	} else {
		size_t pending = 0;
		printf("%-24s %-9s %-9s %4s %-24s %-20s %s\n", "NAME", "STATE", "STATUS", "SEQ", "HW-ID", "CREATED", "SITE");
		for (size_t i = 0; i < count; i++) {
			const nmm_node *n = &nodes[i];
			char created[32];
			iso_time(n->created, created);
			printf("%-24s %-9s %-9s %4lu %-24.*s %-20s %s\n", n->name, nmm_state_name(n->state),
			       nmm_status_name(n->status), (unsigned long)n->sequence, (int)n->hw_len, (const char *)n->hw,
			       created, n->site);
			pending += n->state == CKV_AKM_STATE_PENDING;
		}
		printf("%zu node%s, %zu pending\n", count, count == 1 ? "" : "s", pending);
	}
out:
	free(keys);
	free(nodes);
	nmm_station_close(&s);
	return code;
}

/* ---- audit records ---- */

typedef struct audit_rec {
	CK_ULONG seq, time, result;
	char actor[64], action[128], detail[2048];
	CK_ULONG actor_len, action_len, detail_len;
	uint8_t rid[AKM_FMT_ID_MAX];
	CK_ULONG rid_len;
	uint8_t prev[32], hash[32];
} audit_rec;

static int audit_read(nmm_station *s, CK_OBJECT_HANDLE h, audit_rec *r)
{
	memset(r, 0, sizeof *r);
	CK_ATTRIBUTE a[] = {
		{CKA_AKM_AUDIT_SEQ, &r->seq, sizeof r->seq},
		{CKA_AKM_AUDIT_TIME, &r->time, sizeof r->time},
		{CKA_AKM_AUDIT_RESULT, &r->result, sizeof r->result},
		{CKA_AKM_AUDIT_ACTOR, r->actor, sizeof r->actor - 1},
		{CKA_AKM_AUDIT_ACTION, r->action, sizeof r->action - 1},
		{CKA_AKM_AUDIT_DETAIL, r->detail, sizeof r->detail - 1},
		{CKA_AKM_RELATIONSHIP_ID, r->rid, sizeof r->rid},
		{CKA_AKM_AUDIT_PREV, r->prev, sizeof r->prev},
		{CKA_AKM_AUDIT_HASH, r->hash, sizeof r->hash},
	};
	CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, h, a, sizeof a / sizeof a[0]);
	if (rv != CKR_OK)
		return akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "reading an audit record");
	r->actor_len = a[3].ulValueLen;
	r->action_len = a[4].ulValueLen;
	r->detail_len = a[5].ulValueLen;
	r->rid_len = a[6].ulValueLen;
	r->actor[r->actor_len] = r->action[r->action_len] = r->detail[r->detail_len] = '\0';
	return 0;
}

static int audit_find(nmm_station *s, const nmm_node *n, CK_OBJECT_HANDLE **h, size_t *count)
{
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_AKM_RELATIONSHIP_ID, n ? (void *)n->pr_id : NULL, n ? n->pr_id_len : 0},
	};
	return nmm_find_all(s, t, n ? 2 : 1, h, count);
}

static void json_record(akm_json *j, const audit_rec *r)
{
	akm_json_object_begin(j);
	akm_json_kv_uint(j, "seq", r->seq);
	akm_json_kv_uint(j, "time", r->time);
	akm_json_key(j, "actor");
	akm_json_string_n(j, r->actor, r->actor_len);
	akm_json_key(j, "action");
	akm_json_string_n(j, r->action, r->action_len);
	akm_json_kv_string(j, "result", akm_rv_name(r->result));
	akm_json_key(j, "pr_id");
	if (r->rid_len)
		akm_json_hex(j, r->rid, r->rid_len);
	else
		akm_json_null(j);
	akm_json_key(j, "detail");
	akm_json_string_n(j, r->detail, r->detail_len);
	akm_json_object_end(j);
}

static void print_record(const audit_rec *r, bool with_rid)
{
	char when[32], rid[2 * AKM_FMT_ID_MAX + 1];
	iso_time(r->time, when);
	nmm_hex(r->rid, r->rid_len, rid);
	if (with_rid)
		printf("%6lu %s %-6s %-20s %-28s %-32s %s\n", (unsigned long)r->seq, when, r->actor, r->action,
		       akm_rv_name(r->result), r->rid_len ? rid : "-", r->detail);
	else
		printf("  %6lu %s %-6s %-20s %-28s %s\n", (unsigned long)r->seq, when, r->actor, r->action,
		       akm_rv_name(r->result), r->detail);
}

/* Prints records h[0..count) (JSON into the open array of j, or lines with
 * or without the PR ID), then closes the JSON document; the exit code. */
static int emit_records(nmm_opts *o, nmm_station *s, const CK_OBJECT_HANDLE *h, size_t count, akm_json *j,
                        bool with_rid, const char *cmd)
{
	int code = 0;
	for (size_t i = 0; i < count; i++) {
		audit_rec r;
		if (audit_read(s, h[i], &r) != 0) {
			code = nmm_fail(NMM_TOKEN, cmd, "%s", s->p.err);
			break;
		}
		if (o->json)
			json_record(j, &r);
		else
			print_record(&r, with_rid);
	}
	if (o->json) {
		akm_json_array_end(j);
		akm_json_object_end(j);
		akm_json_finish(j);
	}
	return code;
}

int nmm_cmd_show(nmm_opts *o)
{
	nmm_station s;
	int code = nmm_station_open(o, &s);
	if (code != NMM_OK)
		return code;
	nmm_node n;
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	if ((code = nmm_node_find(&s, o->args[0], &n)) != NMM_OK)
		goto out;
	if (audit_find(&s, &n, &h, &count) != 0) {
		code = nmm_fail(NMM_TOKEN, "show", "%s", s.p.err);
		goto out;
	}
	akm_json j;
	if (o->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "node");
		json_node(&j, &n);
		akm_json_key(&j, "history");
		akm_json_array_begin(&j);
	} else {
		char nid[2 * AKM_FMT_ID_MAX + 1], pid[2 * AKM_FMT_ID_MAX + 1], sid[2 * AKM_FMT_ID_MAX + 1];
		char created[32], changed[32], key[65];
		nmm_hex(n.node_id, n.node_id_len, nid);
		nmm_hex(n.pr_id, n.pr_id_len, pid);
		nmm_hex(n.station_id, n.station_id_len, sid);
		iso_time(n.created, created);
		iso_time(n.changed, changed);
		if (n.has_node_key) {
			uint8_t d[32];
			crypto_hash_sha256(d, n.node_key, sizeof n.node_key);
			nmm_hex(d, sizeof d, key);
		}
		printf("node:        %s\nstate:       %s\nstatus:      %s\nsequence:    %lu\nhw-id:       %.*s\n"
		       "AKM ID:      %s\nPR ID:       %s\nstation:     %s\nsite:        %s\nnode key:    %s\n"
		       "created:     %s\nchanged:     %s\nhistory:\n",
		       n.name, nmm_state_name(n.state), nmm_status_name(n.status), (unsigned long)n.sequence,
		       (int)n.hw_len, (const char *)n.hw, nid, pid, sid, n.site,
		       n.has_node_key ? key : "(none)", created, changed);
	}
	code = emit_records(o, &s, h, count, &j, false, "show");
out:
	free(h);
	nmm_station_close(&s);
	return code;
}

/* audit --verify: 0 when the chain holds, else the exit code (message printed). */
static int audit_verify(nmm_opts *o, nmm_station *s, CK_OBJECT_HANDLE *h, size_t count)
{
	uint8_t head[40] = {0};
	akm_audit_chain chain;
	akm_audit_chain_init(&chain);
	uint64_t head_seq = 0, last_seq = 0;
	bool have_head = false, head_found = false;
	char why[200] = "";
	uint64_t bad = 0;
	for (size_t i = 0; i < count && why[0] == '\0'; i++) {
		audit_rec r;
		if (audit_read(s, h[i], &r) != 0)
			return nmm_fail(NMM_TOKEN, "audit", "%s", s->p.err);
		if (!have_head) {
			CK_ATTRIBUTE a = {CKA_AKM_AUDIT_TOKEN_HEAD, head, sizeof head};
			CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, h[i], &a, 1);
			if (rv != CKR_OK || a.ulValueLen != sizeof head)
				return nmm_fail(NMM_TOKEN, "audit", "cannot read the token's audit head (CKA_AKM_AUDIT_TOKEN_HEAD): %s",
				                akm_rv_name(rv));
			have_head = true;
			for (int k = 0; k < 8; k++)
				head_seq = head_seq << 8 | head[k];
		}
		akm_audit_entry e = {(int64_t)r.seq, (int64_t)r.time, r.actor, r.actor_len, r.action, r.action_len,
		                     r.rid, r.rid_len, r.result, r.detail, r.detail_len};
		if (akm_audit_chain_next(&chain, &e, r.prev, sizeof r.prev, r.hash, sizeof r.hash, why, sizeof why) != 0) {
			bad = chain.records + 1;
			break;
		}
		if (r.seq == head_seq) {
			if (sodium_memcmp(head + 8, r.hash, 32) != 0) {
				bad = r.seq;
				snprintf(why, sizeof why, "the token's audit head does not match record %llu",
				         (unsigned long long)r.seq);
				break;
			}
			head_found = true;
		}
		last_seq = r.seq;
	}
	if (why[0] == '\0' && head_seq != 0 && !head_found) {
		bad = last_seq + 1;
		snprintf(why, sizeof why, "records removed at the end: the token's head is record %llu, the chain ends at %llu",
		         (unsigned long long)head_seq, (unsigned long long)last_seq);
	}
	if (o->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_bool(&j, "valid", why[0] == '\0');
		akm_json_kv_uint(&j, "records", why[0] ? 0 : count);
		akm_json_kv_uint(&j, "head_seq", head_seq);
		if (why[0]) {
			akm_json_kv_uint(&j, "record", bad);
			akm_json_kv_string(&j, "error", why);
		}
		akm_json_object_end(&j);
		akm_json_finish(&j);
	}
	if (why[0])
		return nmm_fail(NMM_VERIFY, "audit", "%s", why);
	if (!o->json)
		printf("audit trail intact: %zu records, reaching the token's head (record %llu)\n", count,
		       (unsigned long long)head_seq);
	return NMM_OK;
}

int nmm_cmd_audit(nmm_opts *o)
{
	if (o->verify && o->node)
		return nmm_fail(NMM_USAGE, "audit", "--verify checks the whole trail: it does not go with --node");
	nmm_station s;
	int code = nmm_station_open(o, &s);
	if (code != NMM_OK)
		return code;
	nmm_node n;
	CK_OBJECT_HANDLE *h = NULL;
	size_t count = 0;
	if (o->node && (code = nmm_node_find(&s, o->node, &n)) != NMM_OK)
		goto out;
	if (audit_find(&s, o->node ? &n : NULL, &h, &count) != 0) {
		code = nmm_fail(NMM_TOKEN, "audit", "%s", s.p.err);
		goto out;
	}
	if (o->verify) {
		code = audit_verify(o, &s, h, count);
		goto out;
	}
	akm_json j;
	if (o->json) {
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "records");
		akm_json_array_begin(&j);
	} else {
		printf("%6s %-20s %-6s %-20s %-28s %-32s %s\n", "SEQ", "TIME", "ACTOR", "ACTION", "RESULT", "PR-ID", "DETAIL");
	}
	code = emit_records(o, &s, h, count, &j, true, "audit");
out:
	free(h);
	nmm_station_close(&s);
	return code;
}

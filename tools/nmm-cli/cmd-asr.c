/* akm-nmm asr (docs/akm-nmm.md, docs/asr.md): operational ASRs among the
 * station's nodes — create, add-member, remove-member, rekey, package,
 * list, show — each a call of the station library (tools/station/asr.c). */
#define _POSIX_C_SOURCE 200809L
#include "nmm-cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt-asr.h"
#include "lib/hex.h"
#include "shared/files.h"

typedef struct asr_opts {
	const char *members, *node, *out, *join_rekeys;
	unsigned long capacity, period, grace, message_limit, failure_limit;
	bool has_capacity, has_period, has_grace, has_message_limit, has_failure_limit;
} asr_opts;

enum { SUB_CREATE, SUB_ADD, SUB_REMOVE, SUB_REKEY, SUB_PACKAGE, SUB_LIST, SUB_SHOW };
static const struct {
	const char *name;
	bool needs_asr, needs_node, needs_out;
} subs[] = {
	[SUB_CREATE] = {"create", true, false, true},
	[SUB_ADD] = {"add-member", true, true, true},
	[SUB_REMOVE] = {"remove-member", true, true, true},
	[SUB_REKEY] = {"rekey", true, false, true},
	[SUB_PACKAGE] = {"package", true, true, true},
	[SUB_LIST] = {"list", false, false, false},
	[SUB_SHOW] = {"show", true, false, false},
};
enum { NSUBS = sizeof subs / sizeof subs[0] };

/* The policy of asr create's options; unsupplied values are 0 (the
 * module's defaults).  A usage code when one is out of range. */
static int read_policy(const asr_opts *o, CK_AKM_ASR_POLICY *p)
{
	memset(p, 0, sizeof *p);
	p->ulCapacity = o->has_capacity ? o->capacity : 0;
	p->ulPeriod = o->has_period ? o->period : 0;
	p->ulGrace = o->has_grace ? o->grace : 60;
	p->ulMessageLimit = o->has_message_limit ? o->message_limit : 0;
	p->ulFailureLimit = o->has_failure_limit ? o->failure_limit : 0;
	p->bJoinRekeys = CK_TRUE;
	if (o->join_rekeys != NULL) {
		if (strcmp(o->join_rekeys, "yes") == 0)
			p->bJoinRekeys = CK_TRUE;
		else if (strcmp(o->join_rekeys, "no") == 0)
			p->bJoinRekeys = CK_FALSE;
		else
			return akm_report(AKM_RC_USAGE, "asr create", "--join-rekeys takes yes or no, not \"%s\"", o->join_rekeys);
	}
	if (p->ulCapacity != 0 && (p->ulCapacity < 4 || p->ulCapacity > (1UL << AKM_ASR_DEPTH_MAX) ||
	                           (p->ulCapacity & (p->ulCapacity - 1)) != 0))
		return akm_report(AKM_RC_USAGE, "asr create", "--capacity must be a power of two from 4 to %lu",
		                  1UL << AKM_ASR_DEPTH_MAX);
	if (p->ulGrace > AKM_ASR_GRACE_MAX)
		return akm_report(AKM_RC_USAGE, "asr create", "--grace is at most %d seconds", AKM_ASR_GRACE_MAX);
	if (p->ulMessageLimit > AKM_ASR_MSG_LIMIT_MAX || p->ulFailureLimit > AKM_ASR_MSG_LIMIT_MAX)
		return akm_report(AKM_RC_USAGE, "asr create", "--message-limit and --failure-limit are at most %lu",
		                  AKM_ASR_MSG_LIMIT_MAX);
	return AKM_RC_OK;
}

static unsigned depth_of(CK_ULONG capacity)
{
	unsigned d = 0;
	while ((1UL << d) < capacity)
		d++;
	return d;
}

static void json_asr_fields(akm_json *j, const nmm_asr *a)
{
	akm_json_kv_string(j, "name", a->name);
	akm_json_kv_hex(j, "asr_id", a->id, a->id_len);
	akm_json_kv_uint(j, "generation", a->epoch >> 32);
	akm_json_kv_uint(j, "step", a->epoch & 0xFFFFFFFFUL);
	akm_json_kv_uint(j, "members", a->members);
	akm_json_kv_uint(j, "capacity", a->capacity);
	akm_json_kv_uint(j, "depth", depth_of(a->capacity));
	akm_json_kv_string(j, "state", nmm_state_name(a->state));
}

/* What a change wrote, as text or JSON. */
static int print_change(const nmm_cli *c, const char *verb, const nmm_asr *a, const nmm_asr_change *ch,
                        const char *dir)
{
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		json_asr_fields(&j, a);
		akm_json_kv_uint(&j, "from_generation", ch->from_gen);
		akm_json_kv_string(&j, "out", dir);
		akm_json_key(&j, "rekey_file");
		if (ch->has_rekey)
			akm_json_string(&j, ch->rekey_file);
		else
			akm_json_null(&j);
		akm_json_kv_uint(&j, "rekey_wrapped_keys", ch->edges);
		akm_json_kv_uint(&j, "rekey_bytes", ch->bytes);
		akm_json_key(&j, "package_file");
		if (ch->has_package)
			akm_json_string(&j, ch->package_file);
		else
			akm_json_null(&j);
		akm_json_object_end(&j);
		return akm_json_finish(&j);
	}
	printf("%s %s: generation %u -> %u\n", verb, a->name, ch->from_gen, ch->gen);
	if (ch->has_rekey)
		printf("rekey message %s/%s: %u wrapped keys, %zu bytes (for every remaining member)\n", dir,
		       ch->rekey_file, ch->edges, ch->bytes);
	if (ch->has_package)
		printf("package %s/%s\n", dir, ch->package_file);
	return AKM_RC_OK;
}

static int do_create(const nmm_cli *c, nmm_station *s, const asr_opts *o, const char *name)
{
	CK_AKM_ASR_POLICY policy;
	int code = read_policy(o, &policy);
	if (code != AKM_RC_OK)
		return code;
	if (o->members == NULL)
		return akm_report(AKM_RC_USAGE, "asr create", "--members A,B,... is required");
	nmm_node *nodes = NULL;
	size_t count = 0;
	if ((code = nmm_asr_resolve(s, o->members, "asr create", &nodes, &count)) != AKM_RC_OK)
		return code;
	nmm_asr_create_req r = {name, nodes, count, policy, o->out};
	nmm_asr a;
	code = nmm_asr_create(s, &r, &a);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		json_asr_fields(&j, &a);
		akm_json_kv_string(&j, "out", o->out);
		akm_json_key(&j, "packages");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < count; i++) {
			char file[256];
			nmm_asr_package_name(&a, nodes[i].name, file, sizeof file);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "member", nodes[i].name);
			akm_json_kv_string(&j, "file", file);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		char hex[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(a.id, a.id_len, hex);
		printf("created ASR %s (%s): %zu members, capacity %lu (key tree depth %u), generation 1\n", a.name, hex,
		       count, (unsigned long)a.capacity, depth_of(a.capacity));
		printf("%zu packages written to %s (%s.<member>.akma)\n", count, o->out, a.name);
	}
	free(nodes);
	return code;
}

static int do_show(const nmm_cli *c, nmm_station *s, const char *name)
{
	nmm_asr a;
	int code = nmm_asr_find(s, name, "asr show", &a);
	if (code != AKM_RC_OK)
		return code;
	uint8_t *m = NULL;
	size_t mlen = 0;
	if (nmm_asr_members(s, &a, &m, &mlen) != 0)
		return akm_report(AKM_RC_TOKEN, "asr show", "%s", s->p.err);
	nmm_node *nodes = NULL;
	size_t nnodes = 0;
	if ((code = nmm_node_list(s, false, "asr show", &nodes, &nnodes)) != AKM_RC_OK) {
		free(m);
		return code;
	}
	/* Members by name (the node with that AKM ID), in leaf order. */
	size_t nm = 0;
	for (size_t i = 0; i < mlen; i += 1 + (size_t)m[i])
		nm++;
	char(*names)[AKM_FMT_NAME_MAX + 1] = calloc(nm ? nm : 1, sizeof *names);
	char(*ids)[2 * AKM_FMT_ID_MAX + 1] = calloc(nm ? nm : 1, sizeof *ids);
	if (names == NULL || ids == NULL) {
		free(names);
		free(ids);
		free(m);
		free(nodes);
		return akm_report(AKM_RC_FILES, "asr show", "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; k < nm && i < mlen && i + 1 + m[i] <= mlen; i += 1 + (size_t)m[i], k++) {
		const uint8_t *id = m + i + 1;
		size_t len = m[i];
		snprintf(names[k], sizeof names[k], "?");
		nmm_asr_member_text(id, len, ids[k]);
		for (size_t j = 0; j < nnodes; j++)
			if (nodes[j].node_id_len == len && memcmp(nodes[j].node_id, id, len) == 0)
				snprintf(names[k], sizeof names[k], "%s", nodes[j].name);
	}
	nmm_asr_delivery d = {0};
	nmm_asr_delivery_read(s, &a, names, ids, nm, &d);
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		json_asr_fields(&j, &a);
		akm_json_key(&j, "policy");
		akm_json_object_begin(&j);
		akm_json_kv_uint(&j, "period", a.policy.ulPeriod);
		akm_json_kv_uint(&j, "grace", a.policy.ulGrace);
		akm_json_kv_uint(&j, "message_limit", a.policy.ulMessageLimit);
		akm_json_kv_uint(&j, "failure_limit", a.policy.ulFailureLimit);
		akm_json_kv_bool(&j, "join_rekeys", a.policy.bJoinRekeys == CK_TRUE);
		akm_json_object_end(&j);
		akm_json_kv_uint(&j, "created", a.created);
		akm_json_kv_uint(&j, "changed", a.changed);
		akm_json_key(&j, "member_list");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < nm; i++) {
			char words[64];
			const char *st = nmm_asr_delivery_state(&d, i, words, sizeof words);
			akm_json_object_begin(&j);
			akm_json_kv_string(&j, "name", names[i]);
			akm_json_kv_string(&j, "delivery", st);
			akm_json_kv_string(&j, "written", words);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else {
		char hex[2 * AKM_FMT_ID_MAX + 1], ename[AKM_ESCAPED(sizeof a.name)];
		akm_hex_encode(a.id, a.id_len, hex);
		printf("ASR %s (%s), %s\n", akm_escape(ename, sizeof ename, a.name, (size_t)-1), hex,
		       nmm_state_name(a.state));
		printf("generation %lu, step %lu; %lu members, capacity %lu, key tree depth %u\n",
		       (unsigned long)(a.epoch >> 32), (unsigned long)(a.epoch & 0xFFFFFFFFUL), (unsigned long)a.members,
		       (unsigned long)a.capacity, depth_of(a.capacity));
		printf("policy: step every %lu s%s, grace %lu s, message limit %lu, failure limit %lu, joins %s\n",
		       (unsigned long)a.policy.ulPeriod, a.policy.ulPeriod ? "" : " (none by time)",
		       (unsigned long)a.policy.ulGrace, (unsigned long)a.policy.ulMessageLimit,
		       (unsigned long)a.policy.ulFailureLimit, a.policy.bJoinRekeys ? "rekey" : "do not rekey");
		printf("%-24s %-8s %s\n", "MEMBER", "DELIVERY", "WRITTEN");
		for (size_t i = 0; i < nm; i++) {
			char words[64];
			const char *st = nmm_asr_delivery_state(&d, i, words, sizeof words);
			printf("%-24s %-8s %s\n", names[i], st, words);
		}
	}
	nmm_asr_delivery_free(&d);
	free(names);
	free(ids);
	free(m);
	free(nodes);
	return code;
}

static int do_list(const nmm_cli *c, nmm_station *s)
{
	nmm_asr *list;
	size_t n;
	int code = nmm_asr_list(s, "asr list", &list, &n);
	if (code != AKM_RC_OK)
		return code;
	if (c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "asrs");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < n; i++) {
			akm_json_object_begin(&j);
			json_asr_fields(&j, &list[i]);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else {
		printf("%-24s %5s %5s %8s %5s %s\n", "NAME", "GEN", "STEP", "MEMBERS", "DEPTH", "STATE");
		char ename[AKM_ESCAPED(sizeof list[0].name)];
		for (size_t i = 0; i < n; i++)
			printf("%-24s %5lu %5lu %8lu %5u %s\n", akm_escape(ename, sizeof ename, list[i].name, (size_t)-1),
			       (unsigned long)(list[i].epoch >> 32),
			       (unsigned long)(list[i].epoch & 0xFFFFFFFFUL), (unsigned long)list[i].members,
			       depth_of(list[i].capacity), nmm_state_name(list[i].state));
		printf("%zu ASR%s\n", n, n == 1 ? "" : "s");
	}
	free(list);
	return code;
}

static int run_asr(const nmm_cli *c, const void *opts)
{
	const asr_opts *o = opts;
	int sub = -1;
	for (int i = 0; i < NSUBS; i++)
		if (strcmp(c->args[0], subs[i].name) == 0)
			sub = i;
	if (sub < 0)
		return akm_report(AKM_RC_USAGE, "asr", "no such subcommand \"%s\" (create, add-member, remove-member, "
		                  "rekey, package, list, show)", c->args[0]);
	const char *name = c->nargs > 1 ? c->args[1] : NULL;
	if (subs[sub].needs_asr && name == NULL)
		return akm_report(AKM_RC_USAGE, "asr", "%s needs the ASR's name", subs[sub].name);
	if (!subs[sub].needs_asr && name != NULL)
		return akm_report(AKM_RC_USAGE, "asr", "unexpected argument \"%s\"", name);
	if (name != NULL && !akm_fmt_name_ok(name))
		return akm_report(AKM_RC_USAGE, "asr", "an ASR name is 1-64 characters of A-Z a-z 0-9 . _ -, not \"%s\"",
		                  name);
	if (name != NULL && name[0] == '.')
		return akm_report(AKM_RC_USAGE, "asr", "an ASR name may not start with \".\" (its files would be hidden)");
	if (subs[sub].needs_node && o->node == NULL)
		return akm_report(AKM_RC_USAGE, "asr", "%s needs --node NAME", subs[sub].name);
	if (!subs[sub].needs_node && o->node != NULL)
		return akm_report(AKM_RC_USAGE, "asr", "--node does not apply to %s", subs[sub].name);
	if (subs[sub].needs_out && o->out == NULL)
		return akm_report(AKM_RC_USAGE, "asr", "%s needs --out DIR (where the files for the members go)",
		                  subs[sub].name);
	if (!subs[sub].needs_out && o->out != NULL)
		return akm_report(AKM_RC_USAGE, "asr", "--out does not apply to %s", subs[sub].name);
	bool policy_given = o->members || o->join_rekeys || o->has_capacity || o->has_period || o->has_grace ||
	                    o->has_message_limit || o->has_failure_limit;
	if (sub != SUB_CREATE && policy_given)
		return akm_report(AKM_RC_USAGE, "asr", "--members and the policy options apply only to create");
	char err[512];
	if (o->out != NULL && akm_dir_writable(o->out, err, sizeof err) != 0)
		return akm_report(AKM_RC_FILES, "asr", "%s", err);

	nmm_station s;
	int code = nmm_cli_station_open(c, &s);
	if (code != AKM_RC_OK)
		return code;
	if (sub == SUB_CREATE) {
		code = do_create(c, &s, o, name);
	} else if (sub == SUB_LIST) {
		code = do_list(c, &s);
	} else if (sub == SUB_SHOW) {
		code = do_show(c, &s, name);
	} else {
		nmm_asr a;
		nmm_node n;
		code = nmm_asr_find(&s, name, "asr", &a);
		if (code == AKM_RC_OK && o->node != NULL)
			code = nmm_node_find(&s, o->node, &n);
		if (code == AKM_RC_OK && sub == SUB_PACKAGE) {
			code = nmm_asr_write_package(&s, &a, &n, o->out, "asr package");
			if (code == AKM_RC_OK) {
				nmm_asr_change ch = {.from_gen = (uint32_t)(a.epoch >> 32), .gen = (uint32_t)(a.epoch >> 32),
				                     .has_package = true};
				nmm_asr_package_name(&a, n.name, ch.package_file, sizeof ch.package_file);
				code = print_change(c, "package for", &a, &ch, o->out);
			}
		} else if (code == AKM_RC_OK) {
			static const CK_ULONG ops[] = {[SUB_ADD] = CKV_AKM_ASR_ADD, [SUB_REMOVE] = CKV_AKM_ASR_REMOVE,
			                               [SUB_REKEY] = CKV_AKM_ASR_REKEY};
			static const char *const verbs[] = {[SUB_ADD] = "added to", [SUB_REMOVE] = "removed from",
			                                    [SUB_REKEY] = "rekeyed"};
			nmm_asr_change ch;
			if (sub == SUB_ADD && n.state != CKV_AKM_STATE_ACTIVE)
				code = akm_report(AKM_RC_REFUSED, "asr add-member", "node %s is %s, not active", n.name,
				                  nmm_state_name(n.state));
			if (code == AKM_RC_OK)
				code = nmm_asr_update(&s, &a, ops[sub], sub == SUB_REKEY ? NULL : &n, o->out, subs[sub].name, &ch);
			if (code == AKM_RC_OK) {
				char verb[96];
				if (sub == SUB_REKEY)
					snprintf(verb, sizeof verb, "rekeyed");
				else
					snprintf(verb, sizeof verb, "%s %s", n.name, verbs[sub]);
				code = print_change(c, verb, &a, &ch, o->out);
			}
		}
	}
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt asr_options[] = {
	NMM_OPT(asr_opts, members, "--members"),
	NMM_OPT(asr_opts, node, "--node"),
	NMM_OPT(asr_opts, out, "--out"),
	NMM_OPT(asr_opts, join_rekeys, "--join-rekeys"),
	NMM_NUM_OPT(asr_opts, capacity, has_capacity, "--capacity"),
	NMM_NUM_OPT(asr_opts, period, has_period, "--period"),
	NMM_NUM_OPT(asr_opts, grace, has_grace, "--grace"),
	NMM_NUM_OPT(asr_opts, message_limit, has_message_limit, "--message-limit"),
	NMM_NUM_OPT(asr_opts, failure_limit, has_failure_limit, "--failure-limit"),
};

const nmm_cli_cmd nmm_cmd_asr = {
	"asr", run_asr, 1, 2,
	"asr (create|add-member|remove-member|rekey|package|list|show) [NAME] [options]\n"
	"  Operational ASRs among the station's nodes (docs/asr.md):\n"
	"    asr create NAME --members A,B,... --out DIR [--capacity N] [--period S] [--grace S]\n"
	"        [--message-limit N] [--failure-limit N] [--join-rekeys yes|no]\n"
	"        makes the ASR and writes one signed package per member (NAME.MEMBER.akma)\n"
	"    asr add-member NAME --node N --out DIR      N's package (and a rekey message when\n"
	"                                                joins rekey, the default)\n"
	"    asr remove-member NAME --node N --out DIR   a new generation: the rekey message\n"
	"                                                (NAME.gG.akmr) for the remaining members\n"
	"    asr rekey NAME --out DIR                    a fresh group key: the rekey message\n"
	"    asr package NAME --node N --out DIR         a member's package again (current keys)\n"
	"    asr list | asr show NAME                    generations, members, delivery written\n",
	NMM_OPTS(asr_options), sizeof(asr_opts),
};

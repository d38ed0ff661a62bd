/*
 * akm-nmm: the AKM provisioning station (docs/akm-nmm.md).  A PKCS#11
 * client of akm-pkcs11.so: provisioning relationships are created, read,
 * changed and exported with C_* calls and the vendor mechanisms of
 * include/akm/pkcs11-akm.h.
 *
 * This file: the command line, the station's objects, finding nodes, the
 * audit records the station appends.
 */
#define _POSIX_C_SOURCE 200809L
#include "nmm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/rv.h"
#include "out.h"
#include "secret.h"

/* ---- messages ---- */

int nmm_fail(int code, const char *what, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "akm-nmm: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int nmm_files_code(int e)
{
	(void)e;
	return NMM_FILES;
}

void nmm_hex(const uint8_t *b, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

const char *nmm_state_name(CK_ULONG state)
{
	switch (state) {
	case CKV_AKM_STATE_PENDING: return "pending";
	case CKV_AKM_STATE_ACTIVE: return "active";
	case CKV_AKM_STATE_SUSPENDED: return "suspended";
	case CKV_AKM_STATE_REVOKED: return "revoked";
	default: return "unknown";
	}
}

const char *nmm_status_name(CK_ULONG status)
{
	switch (status) {
	case CKV_AKM_STATUS_CREATED: return "created";
	case CKV_AKM_STATUS_EXPORTED: return "exported";
	case CKV_AKM_STATUS_IMPORTED: return "imported";
	case CKV_AKM_STATUS_ACTIVATED: return "activated";
	case CKV_AKM_STATUS_VERIFIED: return "verified";
	default: return "unknown";
	}
}

bool nmm_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > AKM_FMT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool nmm_valid_hw(const char *hw, size_t len)
{
	if (len < 1 || len > AKM_FMT_HW_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)hw[i] <= 0x20 || (unsigned char)hw[i] >= 0x7F)
			return false;
	return true;
}

int nmm_read_file(const char *what, const char *path, size_t max, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return nmm_fail(errno == ENOENT ? NMM_NOT_FOUND : NMM_FILES, what, "cannot open %s: %s", path,
		                strerror(errno));
	uint8_t *buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return nmm_fail(NMM_FILES, what, "out of memory reading %s", path);
	}
	size_t n = fread(buf, 1, max + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return nmm_fail(NMM_FILES, what, "cannot read %s", path);
	}
	if (n > max) {
		free(buf);
		return nmm_fail(NMM_REFUSED, what, "%s is larger than %zu bytes", path, max);
	}
	*data = buf;
	*len = n;
	return 0;
}

/* ---- tokens and the station ---- */

int nmm_token_open(const nmm_opts *o, akm_p11 *p)
{
	memset(p, 0, sizeof *p);
	const char *module = o->module ? o->module : getenv("AKM_MODULE");
	const char *token = o->token ? o->token : getenv("AKM_TOKEN");
	if (module == NULL || *module == '\0')
		return nmm_fail(NMM_USAGE, o->cmd, "no PKCS#11 module: give --module or set AKM_MODULE");
	if (token != NULL && *token == '\0')
		token = NULL;
	akm_secret pin = {0};
	char err[256];
	if (akm_secret_read(&pin, o->pin_file, "AKM_PIN", "Station token PIN: ", "PIN", err, sizeof err) != 0)
		return nmm_fail(NMM_USAGE, o->cmd, "%s", err);
	int code = NMM_OK;
	if (akm_p11_open(p, module, token) != 0)
		code = nmm_fail(NMM_TOKEN, o->cmd, "%s", p->err);
	else if (akm_p11_login(p, &pin) != 0)
		code = nmm_fail(NMM_TOKEN, o->cmd, "%s", p->err);
	akm_secret_free(&pin);
	if (code != NMM_OK)
		akm_p11_close(p);
	return code;
}

/* The station's data object: "station-id=..\nsite=..\nlocation=..\ncreated=..\n". */
static int parse_station_value(nmm_station *s, const char *v, size_t len)
{
	const char *end = v + len;
	bool have_id = false;
	while (v < end) {
		const char *nl = memchr(v, '\n', (size_t)(end - v));
		size_t n = nl ? (size_t)(nl - v) : (size_t)(end - v);
		const char *eq = memchr(v, '=', n);
		if (eq != NULL) {
			size_t klen = (size_t)(eq - v), vlen = n - klen - 1;
			const char *val = eq + 1;
			char tmp[2 * AKM_FMT_ID_MAX + 1];
			if (klen == 10 && memcmp(v, "station-id", 10) == 0 && vlen < sizeof tmp) {
				memcpy(tmp, val, vlen);
				tmp[vlen] = '\0';
				have_id = akm_hex_decode(tmp, s->id, sizeof s->id, &s->id_len) == 0 && s->id_len > 0;
			} else if (klen == 4 && memcmp(v, "site", 4) == 0 && vlen <= NMM_SITE_MAX) {
				memcpy(s->site, val, vlen);
				s->site[vlen] = '\0';
			} else if (klen == 8 && memcmp(v, "location", 8) == 0 && vlen <= NMM_SITE_MAX) {
				memcpy(s->location, val, vlen);
				s->location[vlen] = '\0';
			} else if (klen == 7 && memcmp(v, "created", 7) == 0 && vlen < 24) {
				memcpy(tmp, val, vlen);
				tmp[vlen] = '\0';
				s->created = strtoull(tmp, NULL, 10);
			}
		}
		v += n + (nl ? 1 : 0);
	}
	return have_id ? 0 : -1;
}

int nmm_station_read(nmm_station *s)
{
	CK_OBJECT_CLASS data_class = CKO_DATA, priv_class = CKO_PRIVATE_KEY, pub_class = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE find_data[] = {
		{CKA_CLASS, &data_class, sizeof data_class},
		{CKA_APPLICATION, (void *)NMM_APPLICATION, strlen(NMM_APPLICATION)},
		{CKA_LABEL, (void *)NMM_STATION_LABEL, strlen(NMM_STATION_LABEL)},
	};
	CK_OBJECT_HANDLE h;
	size_t n = 0;
	if (akm_p11_find(&s->p, find_data, 3, &h, 1, &n) != 0)
		return nmm_fail(NMM_TOKEN, "station", "%s", s->p.err);
	if (n == 0)
		return NMM_NOT_FOUND;
	uint8_t *val = NULL;
	size_t len = 0;
	if (akm_p11_get_bytes(&s->p, h, CKA_VALUE, &val, &len) != 0)
		return nmm_fail(NMM_TOKEN, "station", "%s", s->p.err);
	int bad = parse_station_value(s, (const char *)val, len);
	free(val);
	if (bad)
		return nmm_fail(NMM_TOKEN, "station", "the station record in the token is damaged (no station-id)");
	CK_ATTRIBUTE find_priv[] = {
		{CKA_CLASS, &priv_class, sizeof priv_class},
		{CKA_ID, (void *)NMM_STATION_KEY_ID, strlen(NMM_STATION_KEY_ID)},
	};
	CK_ATTRIBUTE find_pub[] = {
		{CKA_CLASS, &pub_class, sizeof pub_class},
		{CKA_ID, (void *)NMM_STATION_KEY_ID, strlen(NMM_STATION_KEY_ID)},
	};
	size_t np = 0, nq = 0;
	if (akm_p11_find(&s->p, find_priv, 2, &s->priv, 1, &np) != 0 ||
	    akm_p11_find(&s->p, find_pub, 2, &s->pub, 1, &nq) != 0)
		return nmm_fail(NMM_TOKEN, "station", "%s", s->p.err);
	if (np == 0 || nq == 0)
		return nmm_fail(NMM_TOKEN, "station", "the station's signing key pair is missing from the token");
	if (akm_p11_ec_point(&s->p, s->pub, s->point) != 0)
		return nmm_fail(NMM_TOKEN, "station", "%s", s->p.err);
	return NMM_OK;
}

int nmm_station_open(const nmm_opts *o, nmm_station *s)
{
	memset(s, 0, sizeof *s);
	int code = nmm_token_open(o, &s->p);
	if (code != NMM_OK)
		return code;
	s->open = true;
	code = nmm_station_read(s);
	if (code == NMM_NOT_FOUND)
		nmm_fail(code, o->cmd, "station not initialised in this token: run akm-nmm init first");
	if (code != NMM_OK)
		nmm_station_close(s);
	return code;
}

void nmm_station_close(nmm_station *s)
{
	if (s->open)
		akm_p11_close(&s->p);
	s->open = false;
}

int nmm_station_anchor(const nmm_station *s, uint8_t *buf, size_t cap, size_t *len)
{
	akm_anchor a;
	memset(&a, 0, sizeof a);
	memcpy(a.station_id, s->id, s->id_len);
	a.station_id_len = s->id_len;
	memcpy(a.point, s->point, sizeof a.point);
	return akm_anchor_encode(&a, buf, cap, len) == AKM_FMT_OK ? 0 : -1;
}

void nmm_station_site(const nmm_station *s, char *out, size_t cap)
{
	snprintf(out, cap, "site=%s; location=%s", s->site, s->location);
}

/* ---- nodes ---- */

int nmm_node_read(nmm_station *s, CK_OBJECT_HANDLE enc, nmm_node *n)
{
	memset(n, 0, sizeof *n);
	n->enc = enc;
	n->mac = CK_INVALID_HANDLE;
	char label[AKM_FMT_NAME_MAX + 8];
	CK_ATTRIBUTE a[] = {
		{CKA_LABEL, label, sizeof label},
		{CKA_AKM_PEER_NODE, n->node_id, sizeof n->node_id},
		{CKA_AKM_RELATIONSHIP_ID, n->pr_id, sizeof n->pr_id},
		{CKA_AKM_HW_BINDING, n->hw, sizeof n->hw},
		{CKA_AKM_STATION_ID, n->station_id, sizeof n->station_id},
		{CKA_AKM_SITE, n->site, sizeof n->site - 1},
		{CKA_AKM_NODE_KEY, n->node_key, sizeof n->node_key},
		{CKA_AKM_STATE, &n->state, sizeof n->state},
		{CKA_AKM_STATUS, &n->status, sizeof n->status},
		{CKA_AKM_SEQUENCE, &n->sequence, sizeof n->sequence},
		{CKA_AKM_CREATED, &n->created, sizeof n->created},
		{CKA_AKM_CHANGED, &n->changed, sizeof n->changed},
	};
	enum { NA = sizeof a / sizeof a[0] };
	CK_RV rv = s->p.f->C_GetAttributeValue(s->p.session, enc, a, NA);
	/* A module without some of the attributes still gives the others. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
		return akm_p11_fail(&s->p, "C_GetAttributeValue", rv, "reading a provisioning relationship");
	size_t *lens[] = {NULL, &n->node_id_len, &n->pr_id_len, &n->hw_len, &n->station_id_len};
	for (size_t i = 0; i < NA; i++) {
		bool missing = a[i].ulValueLen == CK_UNAVAILABLE_INFORMATION;
		if (i >= 1 && i <= 4)
			*lens[i] = missing ? 0 : a[i].ulValueLen;
		else if (i == 0) {
			size_t len = missing ? 0 : a[i].ulValueLen;
			if (len >= 4 && memcmp(label + len - 4, "/enc", 4) == 0)
				len -= 4;
			if (len > AKM_FMT_NAME_MAX)
				len = AKM_FMT_NAME_MAX;
			memcpy(n->name, label, len);
			n->name[len] = '\0';
		} else if (i == 5)
			n->site[missing ? 0 : a[i].ulValueLen] = '\0';
		else if (i == 6)
			n->has_node_key = !missing && a[i].ulValueLen == AKM_FMT_POINT_LEN;
		else if (missing)
			*(CK_ULONG *)a[i].pValue = 0;
	}
	return 0;
}

int nmm_node_lookup(nmm_station *s, const char *name, nmm_node *n)
{
	char label[AKM_FMT_NAME_MAX + 8];
	int len = snprintf(label, sizeof label, "%s/enc", name);
	if (len < 0 || (size_t)len >= sizeof label)
		return 0;
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING;
	CK_ATTRIBUTE t[] = {
		{CKA_LABEL, label, (CK_ULONG)len},
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
	};
	CK_OBJECT_HANDLE h[8];
	size_t found = 0;
	if (akm_p11_find(&s->p, t, 3, h, 8, &found) != 0)
		return -1;
	if (found == 0)
		return 0;
	/* More than one (a revoked node provisioned again): the one not revoked. */
	for (size_t i = 0; i < found; i++) {
		if (nmm_node_read(s, h[i], n) != 0)
			return -1;
		if (n->state != CKV_AKM_STATE_REVOKED)
			break;
	}
	return 1;
}

int nmm_node_find(nmm_station *s, const char *name, nmm_node *n)
{
	if (!nmm_valid_name(name))
		return nmm_fail(NMM_REFUSED, name, "not a node name (1-64 characters of A-Z a-z 0-9 . _ -)");
	int r = nmm_node_lookup(s, name, n);
	if (r < 0)
		return nmm_fail(NMM_TOKEN, name, "%s", s->p.err);
	if (r == 0)
		return nmm_fail(NMM_NOT_FOUND, name, "no such node in this station");
	return NMM_OK;
}

int nmm_node_mac(nmm_station *s, nmm_node *n)
{
	CK_ULONG purpose = CKV_AKM_PURPOSE_MAC;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_RELATIONSHIP_ID, n->pr_id, n->pr_id_len},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
	};
	size_t found = 0;
	if (akm_p11_find(&s->p, t, 2, &n->mac, 1, &found) != 0)
		return -1;
	if (found == 0) {
		snprintf(s->p.err, sizeof s->p.err, "the MAC key of node %s is missing", n->name);
		return -1;
	}
	return 0;
}

int nmm_find_all(nmm_station *s, CK_ATTRIBUTE *t, CK_ULONG nt, CK_OBJECT_HANDLE **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	CK_RV rv = s->p.f->C_FindObjectsInit(s->p.session, t, nt);
	if (rv != CKR_OK)
		return akm_p11_fail(&s->p, "C_FindObjectsInit", rv, NULL);
	size_t cap = 256, n = 0;
	CK_OBJECT_HANDLE *h = malloc(cap * sizeof *h);
	for (;;) {
		if (h == NULL) {
			s->p.f->C_FindObjectsFinal(s->p.session);
			snprintf(s->p.err, sizeof s->p.err, "out of memory searching the token");
			return -1;
		}
		CK_ULONG got = 0;
		rv = s->p.f->C_FindObjects(s->p.session, h + n, (CK_ULONG)(cap - n), &got);
		if (rv != CKR_OK) {
			free(h);
			s->p.f->C_FindObjectsFinal(s->p.session);
			return akm_p11_fail(&s->p, "C_FindObjects", rv, NULL);
		}
		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			cap *= 2;
			CK_OBJECT_HANDLE *bigger = realloc(h, cap * sizeof *h);
			if (bigger == NULL)
				free(h);
			h = bigger;
		}
	}
	s->p.f->C_FindObjectsFinal(s->p.session);
	*out = h;
	*count = n;
	return 0;
}

int nmm_node_all(nmm_station *s, CK_ULONG state, CK_OBJECT_HANDLE **keys, size_t *count)
{
	CK_ULONG kind = CKV_AKM_KIND_PROVISIONING, purpose = CKV_AKM_PURPOSE_ENCRYPT;
	CK_ATTRIBUTE t[] = {
		{CKA_AKM_KIND, &kind, sizeof kind},
		{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
		{CKA_AKM_STATION_ID, s->id, s->id_len},
		{CKA_AKM_STATE, &state, sizeof state},
	};
	return nmm_find_all(s, t, state ? 4 : 3, keys, count);
}

int nmm_check_target(const char *what, const char *path)
{
	char folder[4096];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(folder, sizeof folder, ".");
	else if (slash == path)
		snprintf(folder, sizeof folder, "/");
	else
		snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
	char err[512];
	if (akm_dir_writable(folder, err, sizeof err) != 0)
		return nmm_fail(nmm_files_code(errno), what, "%s", err);
	return NMM_OK;
}

CK_RV nmm_node_set(nmm_station *s, const nmm_node *n, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
	CK_ATTRIBUTE t[] = {{type, &value, sizeof value}};
	return s->p.f->C_SetAttributeValue(s->p.session, n->enc, t, 1);
}

int nmm_node_raise_status(nmm_station *s, nmm_node *n, CK_ULONG status)
{
	if (n->status >= status)
		return 0;
	CK_RV rv = nmm_node_set(s, n, CKA_AKM_STATUS, status);
	if (rv != CKR_OK) {
		akm_p11_fail(&s->p, "C_SetAttributeValue(CKA_AKM_STATUS)", rv, n->name);
		return nmm_fail(-1, n->name, "%s", s->p.err);
	}
	n->status = status;
	return 0;
}

static CK_RV audit_v(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                     const char *site, const char *fmt, va_list ap)
{
	char detail[512];
	int used = snprintf(detail, sizeof detail, "%s", site);
	if (used < 0)
		used = 0;
	if ((size_t)used < sizeof detail && fmt != NULL && *fmt != '\0') {
		int more = snprintf(detail + used, sizeof detail - (size_t)used, "; ");
		if (more > 0 && (size_t)(used + more) < sizeof detail) {
			used += more;
			vsnprintf(detail + used, sizeof detail - (size_t)used, fmt, ap);
		}
	}
	CK_OBJECT_CLASS cls = CKO_AKM_AUDIT_RECORD;
	CK_ULONG res = result;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_AKM_AUDIT_ACTION, (void *)action, strlen(action)},
		{CKA_AKM_AUDIT_DETAIL, detail, strlen(detail)},
		{CKA_AKM_AUDIT_RESULT, &res, sizeof res},
		{CKA_AKM_RELATIONSHIP_ID, (void *)rid, rid_len},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = s->p.f->C_CreateObject(s->p.session, t, rid_len ? 6 : 5, &h);
	if (rv != CKR_OK)
		fprintf(stderr, "akm-nmm: audit: cannot append the \"%s\" record: %s\n", action, akm_rv_name(rv));
	return rv;
}

CK_RV nmm_audit(nmm_station *s, const char *action, const uint8_t *rid, size_t rid_len, CK_RV result,
                const char *fmt, ...)
{
	char site[2 * NMM_SITE_MAX + 32];
	nmm_station_site(s, site, sizeof site);
	va_list ap;
	va_start(ap, fmt);
	CK_RV rv = audit_v(s, action, rid, rid_len, result, site, fmt, ap);
	va_end(ap);
	return rv;
}

CK_RV nmm_audit_node(nmm_station *s, const nmm_node *n, const char *action, CK_RV result, const char *fmt, ...)
{
	char site[sizeof n->site + 2 * NMM_SITE_MAX + AKM_FMT_NAME_MAX + 64];
	if (n->site[0] != '\0')
		snprintf(site, sizeof site, "%s; node=%s", n->site, n->name);
	else {
		char st[2 * NMM_SITE_MAX + 32];
		nmm_station_site(s, st, sizeof st);
		snprintf(site, sizeof site, "%s; node=%s", st, n->name);
	}
	va_list ap;
	va_start(ap, fmt);
	CK_RV rv = audit_v(s, action, n->pr_id, n->pr_id_len, result, site, fmt, ap);
	va_end(ap);
	return rv;
}

/* ---- the command line ---- */

enum {
	C_INIT = 1 << 0, C_ANCHOR = 1 << 1, C_PROVISION = 1 << 2, C_ENROLL = 1 << 3, C_APPROVE = 1 << 4,
	C_REJECT = 1 << 5, C_EXPORT = 1 << 6, C_WRITESE = 1 << 7, C_VERIFY = 1 << 8, C_LIST = 1 << 9,
	C_SHOW = 1 << 10, C_AUDIT = 1 << 11, C_ALL = (1 << 12) - 1
};

typedef struct command {
	const char *name;
	int (*run)(nmm_opts *);
	unsigned bit;
	int min_args, max_args;
	const char *usage;
} command;

static const command commands[] = {
	{"init", nmm_cmd_init, C_INIT, 0, 0,
	 "init [--station-id HEX] [--site TEXT] [--location TEXT] [--anchor-out FILE]\n"
	 "  Creates the station in the token: its signing key pair and its record\n"
	 "  (station ID, site, location).  Prints the station ID and the anchor fingerprint.\n"},
	{"anchor", nmm_cmd_anchor, C_ANCHOR, 0, 0,
	 "anchor --out FILE\n"
	 "  Writes the station's trust anchor (station ID and public key) for nodes to pin.\n"},
	{"provision", nmm_cmd_provision, C_PROVISION, 0, 0,
	 "provision (--node NAME --hw-id VALUE | --batch FILE | --count N [--prefix P])\n"
	 "  Creates a provisioning relationship per node, bound to its hardware value.\n"
	 "  Batch file: lines \"NAME HWID\"; blank lines and #-lines are ignored.\n"
	 "  --count N: nodes P000001.. (P default \"node-\") with hw-id \"hw-<name>\".\n"
	 "  A rerun skips nodes already present with the same hw-id.\n"},
	{"enroll", nmm_cmd_enroll, C_ENROLL, 1, 1,
	 "enroll FILE\n"
	 "  Checks a node's enrollment request (AKMR) and records the node as pending.\n"},
	{"approve", nmm_cmd_approve, C_APPROVE, 1, 1,
	 "approve NAME\n"
	 "  Makes a pending node active.\n"},
	{"reject", nmm_cmd_reject, C_REJECT, 1, 1,
	 "reject NAME [--reason TEXT]\n"
	 "  Revokes a node's provisioning relationship (a pending one, typically).\n"},
	{"export", nmm_cmd_export, C_EXPORT, 0, 0,
	 "export (--node NAME | --nodes A,B,C | --all) --out DIR\n"
	 "       [--protection node-key|passphrase]\n"
	 "       [--passphrase-file FILE | --generate-passphrase [--qr-png FILE]]\n"
	 "       [--argon2-ops N] [--argon2-mem-kib N]\n"
	 "  Writes DIR/<name>.akmb for each node and DIR/station.akmp, atomically.\n"
	 "  The passphrase may also come from AKM_PASSPHRASE.\n"},
	{"write-se", nmm_cmd_write_se, C_WRITESE, 0, 0,
	 "write-se --node NAME --se-module PATH --se-token URI|LABEL [--se-pin-file FILE]\n"
	 "  Writes the node's relationship into its secure element (a second PKCS#11\n"
	 "  token), wrapped to the element's own key.  The SE PIN may come from AKM_SE_PIN.\n"},
	{"verify", nmm_cmd_verify, C_VERIFY, 0, 0,
	 "verify --node NAME --se-module PATH --se-token URI|LABEL [--se-pin-file FILE]\n"
	 "  Compares the node's record in its secure element with the station's and\n"
	 "  checks its proof of holding the relationship's MAC key.\n"},
	{"list", nmm_cmd_list, C_LIST, 0, 0,
	 "list [--pending]\n"
	 "  Lists the station's nodes: state, credential status, sequence, hw-id, site.\n"},
	{"show", nmm_cmd_show, C_SHOW, 1, 1,
	 "show NAME\n"
	 "  One node's relationship and its history from the audit trail.\n"},
	{"audit", nmm_cmd_audit, C_AUDIT, 0, 0,
	 "audit [--node NAME] [--verify]\n"
	 "  Prints the audit trail (of one node with --node); --verify recomputes the\n"
	 "  hash chain and checks it against the token's head.\n"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

enum { O_FLAG, O_TEXT, O_NUMBER };
typedef struct optdef {
	const char *name;
	int kind;
	size_t off, set_off;
	unsigned cmds;
} optdef;

#define OPT(name, kind, field, cmds) {name, kind, offsetof(nmm_opts, field), (size_t)-1, cmds}
#define NUMOPT(name, field, setf, cmds) {name, O_NUMBER, offsetof(nmm_opts, field), offsetof(nmm_opts, setf), cmds}
static const optdef options[] = {
	OPT("--module", O_TEXT, module, C_ALL),
	OPT("--token", O_TEXT, token, C_ALL),
	OPT("--pin-file", O_TEXT, pin_file, C_ALL),
	OPT("--json", O_FLAG, json, C_ALL),
	OPT("--station-id", O_TEXT, station_id, C_INIT),
	OPT("--site", O_TEXT, site, C_INIT),
	OPT("--location", O_TEXT, location, C_INIT),
	OPT("--anchor-out", O_TEXT, anchor_out, C_INIT),
	OPT("--out", O_TEXT, out, C_ANCHOR | C_EXPORT),
	OPT("--node", O_TEXT, node, C_PROVISION | C_EXPORT | C_WRITESE | C_VERIFY | C_AUDIT),
	OPT("--hw-id", O_TEXT, hw_id, C_PROVISION),
	OPT("--batch", O_TEXT, batch, C_PROVISION),
	NUMOPT("--count", count, count_set, C_PROVISION),
	OPT("--prefix", O_TEXT, prefix, C_PROVISION),
	OPT("--nodes", O_TEXT, nodes, C_EXPORT),
	OPT("--all", O_FLAG, all, C_EXPORT),
	OPT("--protection", O_TEXT, protection, C_EXPORT),
	OPT("--passphrase-file", O_TEXT, passphrase_file, C_EXPORT),
	OPT("--generate-passphrase", O_FLAG, generate_passphrase, C_EXPORT),
	OPT("--qr-png", O_TEXT, qr_png, C_EXPORT),
	NUMOPT("--argon2-ops", argon2_ops, argon2_ops_set, C_EXPORT),
	NUMOPT("--argon2-mem-kib", argon2_mem_kib, argon2_mem_set, C_EXPORT),
	OPT("--se-module", O_TEXT, se_module, C_WRITESE | C_VERIFY),
	OPT("--se-token", O_TEXT, se_token, C_WRITESE | C_VERIFY),
	OPT("--se-pin-file", O_TEXT, se_pin_file, C_WRITESE | C_VERIFY),
	OPT("--pending", O_FLAG, pending, C_LIST),
	OPT("--reason", O_TEXT, reason, C_REJECT),
	OPT("--verify", O_FLAG, verify, C_AUDIT),
};
enum { NOPTIONS = sizeof options / sizeof options[0] };

static const char common_usage[] =
	"Common options: --module PATH (or AKM_MODULE), --token URI|LABEL (or AKM_TOKEN),\n"
	"  --pin-file FILE (or AKM_PIN, or a prompt), --json, -h/--help.\n"
	"Exit: 0 ok, 1 usage, 2 refused, 3 not found, 4 token/module failure,\n"
	"  5 file-system error, 6 verification failed.\n";

static void usage_all(FILE *f)
{
	fputs("usage: akm-nmm COMMAND [OPTIONS]   (akm-nmm COMMAND --help for one)\n"
	      "The AKM provisioning station: provisioning relationships with nodes, their\n"
	      "delivery on USB or into a secure element, verification and the audit trail.\n\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  akm-nmm %.*s\n", (int)strcspn(commands[i].usage, "\n"), commands[i].usage);
	fputc('\n', f);
	fputs(common_usage, f);
}

static void usage_one(FILE *f, const command *c)
{
	fprintf(f, "usage: akm-nmm %s", c->usage);
	fputs(common_usage, f);
}

static int parse_number(const char *name, const char *text, unsigned long *out)
{
	char *end;
	errno = 0;
	if (*text < '0' || *text > '9')
		return -1;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > 0xFFFFFFFFULL) {
		(void)name;
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

int main(int argc, char **argv)
{
	akm_secret_init();
	nmm_opts o;
	memset(&o, 0, sizeof o);
	const command *cmd = NULL;
	bool help = false;
	char **args = calloc((size_t)argc + 1, sizeof *args);
	if (args == NULL)
		return nmm_fail(NMM_USAGE, "akm-nmm", "out of memory");
	int nargs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = true;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				args[nargs++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (cmd == NULL) {
				for (size_t k = 0; k < NCOMMANDS; k++)
					if (strcmp(a, commands[k].name) == 0)
						cmd = &commands[k];
				if (cmd == NULL) {
					free(args);
					fprintf(stderr, "akm-nmm: %s: no such command\n", a);
					usage_all(stderr);
					return NMM_USAGE;
				}
			} else {
				args[nargs++] = argv[i];
			}
			continue;
		}
		size_t nlen = strcspn(a, "=");
		const optdef *d = NULL;
		for (size_t k = 0; k < NOPTIONS; k++)
			if (strlen(options[k].name) == nlen && strncmp(a, options[k].name, nlen) == 0)
				d = &options[k];
		if (d == NULL) {
			free(args);
			return nmm_fail(NMM_USAGE, cmd ? cmd->name : "akm-nmm", "unknown option %.*s (see --help)",
			                (int)nlen, a);
		}
		const char *value = NULL;
		if (d->kind == O_FLAG) {
			if (a[nlen] == '=') {
				free(args);
				return nmm_fail(NMM_USAGE, cmd ? cmd->name : "akm-nmm", "%s takes no value", d->name);
			}
			*(bool *)((char *)&o + d->off) = true;
		} else {
			if (a[nlen] == '=')
				value = a + nlen + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else {
				free(args);
				return nmm_fail(NMM_USAGE, cmd ? cmd->name : "akm-nmm", "%s needs a value", d->name);
			}
			if (d->kind == O_TEXT) {
				*(const char **)((char *)&o + d->off) = value;
			} else {
				if (parse_number(d->name, value, (unsigned long *)((char *)&o + d->off)) != 0) {
					free(args);
					return nmm_fail(NMM_USAGE, cmd ? cmd->name : "akm-nmm",
					                "%s needs a whole number, not \"%s\"", d->name, value);
				}
				*(bool *)((char *)&o + d->set_off) = true;
			}
		}
	}
	if (cmd == NULL) {
		free(args);
		if (help) {
			usage_all(stdout);
			return NMM_OK;
		}
		usage_all(stderr);
		return NMM_USAGE;
	}
	if (help) {
		free(args);
		usage_one(stdout, cmd);
		return NMM_OK;
	}
	/* Options that do not apply to this command. */
	for (size_t k = 0; k < NOPTIONS; k++) {
		if (options[k].cmds & cmd->bit)
			continue;
		const char *p = (const char *)&o + options[k].off;
		bool given = options[k].kind == O_FLAG     ? *(const bool *)p
		             : options[k].kind == O_TEXT   ? *(const char *const *)p != NULL
		                                           : *(const bool *)((const char *)&o + options[k].set_off);
		if (given) {
			free(args);
			return nmm_fail(NMM_USAGE, cmd->name, "option %s does not apply to this command (see --help)",
			                options[k].name);
		}
	}
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		if (nargs < cmd->min_args)
			nmm_fail(NMM_USAGE, cmd->name, "missing argument");
		else
			nmm_fail(NMM_USAGE, cmd->name, "unexpected argument \"%s\"", args[cmd->max_args]);
		free(args);
		usage_one(stderr, cmd);
		return NMM_USAGE;
	}
	o.cmd = cmd->name;
	o.args = args;
	o.nargs = nargs;
	int code = cmd->run(&o);
	free(args);
	return code;
}

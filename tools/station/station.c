/*
 * The station's own objects in its token (station.h): a data object with
 * its record ("station-id=..\nsite=..\nlocation=..\ncreated=..\n") and its
 * ECDSA P-256 signing key pair; the anchor nodes pin.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/station.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "shared/files.h"
#include "lib/hex.h"
#include "lib/rv.h"

int nmm_station_check_module(akm_p11 *p, const char *what, const char *module)
{
	/* The token, not the module: through p11-kit-proxy (whose own CK_INFO
	 * names p11-kit) the station token still says who presents it, and a
	 * raw backend token beside it says something else. */
	const CK_UTF8CHAR *m = p->token.manufacturerID;
	size_t n = sizeof p->token.manufacturerID;
	while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '\0'))
		n--;
	size_t want = sizeof AKM_PKCS11_MANUFACTURER - 1;
	if (n == want && memcmp(m, AKM_PKCS11_MANUFACTURER, want) == 0)
		return AKM_RC_OK;
	char id[sizeof p->token.manufacturerID * 4 + 1];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = m[i];
		if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
			id[k++] = (char)c;
		else
			k += (size_t)snprintf(id + k, sizeof id - k, "\\x%02x", c);
	}
	id[k] = '\0';
	return akm_report(AKM_RC_TOKEN, what,
	                  "%s is not akm-pkcs11 (the token's CK_TOKEN_INFO.manufacturerID is \"%s\"): the station keeps "
	                  "its relationships only through akm-pkcs11.so",
	                  module, id);
}

/* One "key=value" line of the record into s. */
static void record_field(nmm_station *s, const char *key, size_t klen, const char *val, size_t vlen,
                         bool *have_id)
{
	char tmp[2 * AKM_FMT_ID_MAX + 1];
	if (klen == 10 && memcmp(key, "station-id", 10) == 0 && vlen < sizeof tmp) {
		*have_id = akm_hex_decode_n(val, vlen, s->id, sizeof s->id, &s->id_len) == 0 && s->id_len > 0;
	} else if (klen == 4 && memcmp(key, "site", 4) == 0 && vlen <= NMM_SITE_MAX) {
		memcpy(s->site, val, vlen);
		s->site[vlen] = '\0';
	} else if (klen == 8 && memcmp(key, "location", 8) == 0 && vlen <= NMM_SITE_MAX) {
		memcpy(s->location, val, vlen);
		s->location[vlen] = '\0';
	} else if (klen == 7 && memcmp(key, "created", 7) == 0 && vlen < 24) {
		memcpy(tmp, val, vlen);
		tmp[vlen] = '\0';
		s->created = strtoull(tmp, NULL, 10);
	}
}

static int parse_record(nmm_station *s, const char *v, size_t len)
{
	bool have_id = false;
	for (size_t at = 0; at < len;) {
		const char *line = v + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		const char *eq = memchr(line, '=', n);
		if (eq != NULL) {
			size_t klen = (size_t)(eq - line);
			record_field(s, line, klen, eq + 1, n - klen - 1, &have_id);
		}
		at += n + (nl ? 1 : 0);
	}
	return have_id ? 0 : -1;
}

static int find_key(nmm_station *s, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *h, size_t *n)
{
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_ID, (void *)NMM_STATION_KEY_ID, strlen(NMM_STATION_KEY_ID)},
	};
	return akm_p11_find(&s->p, t, 2, h, 1, n);
}

int nmm_station_read(nmm_station *s)
{
	memset(s->own, 0, sizeof s->own);
	CK_OBJECT_CLASS data_class = CKO_DATA;
	CK_ATTRIBUTE find_data[] = {
		{CKA_CLASS, &data_class, sizeof data_class},
		{CKA_APPLICATION, (void *)NMM_APPLICATION, strlen(NMM_APPLICATION)},
		{CKA_LABEL, (void *)NMM_STATION_LABEL, strlen(NMM_STATION_LABEL)},
	};
	CK_OBJECT_HANDLE h;
	size_t n = 0;
	if (akm_p11_find(&s->p, find_data, 3, &h, 1, &n) != 0)
		return akm_report(AKM_RC_TOKEN, "station", "%s", s->p.err);
	if (n == 0)
		return AKM_RC_NOT_FOUND;
	uint8_t *val = NULL;
	size_t len = 0;
	if (akm_p11_get_bytes(&s->p, h, CKA_VALUE, &val, &len) != 0)
		return akm_report(AKM_RC_TOKEN, "station", "%s", s->p.err);
	int bad = parse_record(s, (const char *)val, len);
	free(val);
	if (bad)
		return akm_report(AKM_RC_TOKEN, "station", "the station record in the token is damaged (no station-id)");
	size_t np = 0, nq = 0;
	if (find_key(s, CKO_PRIVATE_KEY, &s->priv, &np) != 0 || find_key(s, CKO_PUBLIC_KEY, &s->pub, &nq) != 0)
		return akm_report(AKM_RC_TOKEN, "station", "%s", s->p.err);
	if (np == 0 || nq == 0)
		return akm_report(AKM_RC_TOKEN, "station", "the station's signing key pair is missing from the token");
	if (akm_p11_ec_point(&s->p, s->pub, s->point) != 0)
		return akm_report(AKM_RC_TOKEN, "station", "%s", s->p.err);
	return AKM_RC_OK;
}

int nmm_station_reopen(nmm_station *s, const char *token, const char *pin, size_t pin_len)
{
	if (akm_p11_reinit(&s->p, token, pin, pin_len) != 0)
		return AKM_RC_TOKEN;
	/* Handles are the session's: the station's keys are found again. */
	return nmm_station_read(s) == AKM_RC_OK ? AKM_RC_OK : AKM_RC_TOKEN;
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

int nmm_station_write_anchor(const nmm_station *s, const char *what, const char *path, char fp[65])
{
	uint8_t buf[256];
	size_t len = 0;
	if (nmm_station_anchor(s, buf, sizeof buf, &len) != 0)
		return akm_report(AKM_RC_TOKEN, what, "cannot encode the station anchor");
	uint8_t h[32];
	crypto_hash_sha256(h, buf, len);
	akm_hex_encode(h, sizeof h, fp);
	if (path == NULL)
		return AKM_RC_OK;
	char err[512];
	if (akm_write_atomic(NULL, path, buf, len, 0644, err, sizeof err) != 0)
		return akm_report(AKM_RC_FILES, what, "%s", err);
	return AKM_RC_OK;
}

void nmm_station_site(const nmm_station *s, char *out, size_t cap)
{
	snprintf(out, cap, "site=%s; location=%s", s->site, s->location);
}

void nmm_site_fields(const char *text, char *site, size_t site_cap, char *location, size_t location_cap)
{
	snprintf(location, location_cap, "%s", "");
	if (strncmp(text, "site=", 5) != 0) {
		snprintf(site, site_cap, "%s", text);
		return;
	}
	text += 5;
	const char *loc = strstr(text, "; location=");
	for (const char *next = loc; next != NULL; next = strstr(next + 1, "; location="))
		loc = next; /* the last: a site may contain the words */
	if (loc == NULL) {
		snprintf(site, site_cap, "%s", text);
		return;
	}
	snprintf(site, site_cap, "%.*s", (int)(loc - text), text);
	snprintf(location, location_cap, "%s", loc + 11);
}

int nmm_station_init(nmm_station *s, const uint8_t *id, size_t id_len, const char *site,
                     const char *location, const char *anchor_out, char fp[65])
{
	memcpy(s->id, id, id_len);
	s->id_len = id_len;
	memset(s->own, 0, sizeof s->own);
	snprintf(s->site, sizeof s->site, "%s", site);
	snprintf(s->location, sizeof s->location, "%s", location);
	nmm_station existing;
	memset(&existing, 0, sizeof existing);
	existing.p = s->p;
	int code = nmm_station_read(&existing);
	if (code == AKM_RC_OK) {
		char hex[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(existing.id, existing.id_len, hex);
		return akm_report(AKM_RC_REFUSED, "init", "this token already holds station %s", hex);
	}
	if (code != AKM_RC_NOT_FOUND)
		return code;
	/* A key pair left by an init that was interrupted is replaced. */
	CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	for (size_t i = 0; i < 2; i++) {
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &classes[i], sizeof classes[i]},
			{CKA_ID, (void *)NMM_STATION_KEY_ID, strlen(NMM_STATION_KEY_ID)},
		};
		CK_OBJECT_HANDLE h[4];
		size_t n = 0;
		if (akm_p11_find(&s->p, t, 2, h, 4, &n) == 0)
			for (size_t k = 0; k < n; k++)
				s->p.f->C_DestroyObject(s->p.session, h[k]);
	}
	if (akm_p11_ec_generate(&s->p, true, NMM_STATION_LABEL, (const uint8_t *)NMM_STATION_KEY_ID,
	                        strlen(NMM_STATION_KEY_ID), &s->pub, &s->priv) != 0 ||
	    akm_p11_ec_point(&s->p, s->pub, s->point) != 0)
		return akm_report(AKM_RC_TOKEN, "init", "%s", s->p.err);
	char hex[2 * AKM_FMT_ID_MAX + 1];
	akm_hex_encode(s->id, s->id_len, hex);
	s->created = (uint64_t)time(NULL);
	char value[2 * NMM_SITE_MAX + 200];
	int vlen = snprintf(value, sizeof value, "station-id=%s\nsite=%s\nlocation=%s\ncreated=%llu\n", hex, s->site,
	                    s->location, (unsigned long long)s->created);
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
	CK_RV rv = s->p.f->C_CreateObject(s->p.session, t, 6, &data);
	if (rv != CKR_OK) {
		s->p.f->C_DestroyObject(s->p.session, s->priv);
		s->p.f->C_DestroyObject(s->p.session, s->pub);
		return akm_report(AKM_RC_TOKEN, "init", "C_CreateObject (station record): %s", akm_rv_name(rv));
	}
	if ((code = nmm_station_write_anchor(s, "init", anchor_out, fp)) != AKM_RC_OK)
		return code;
	nmm_audit(s, "init", NULL, 0, CKR_OK, "station-id=%s", hex);
	return AKM_RC_OK;
}

/* ---- files ---- */

int nmm_check_target(const char *what, const char *path)
{
	char err[512];
	if (akm_target_writable(path, err, sizeof err) != 0)
		return akm_report(AKM_RC_FILES, what, "%s", err);
	return AKM_RC_OK;
}

int nmm_read_file(const char *what, const char *path, size_t max, uint8_t **data, size_t *len)
{
	switch (akm_read_file(path, max, data, len)) {
	case AKM_READ_OK:
		return AKM_RC_OK;
	case AKM_READ_OPEN:
		return akm_report(errno == ENOENT ? AKM_RC_NOT_FOUND : AKM_RC_FILES, what, "cannot open %s: %s", path,
		                  strerror(errno));
	case AKM_READ_NOMEM:
		return akm_report(AKM_RC_FILES, what, "out of memory reading %s", path);
	case AKM_READ_TOO_BIG:
		return akm_report(AKM_RC_REFUSED, what, "%s is larger than %zu bytes", path, max);
	default:
		return akm_report(AKM_RC_FILES, what, "cannot read %s", path);
	}
}
